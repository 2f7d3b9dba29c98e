"""Generation throughput of a trained model: the whole path, prior -> decoder -> unnormalize -> phase -> WAV.

For batches of 1, 32 and 256 clips (``--batches``) it times each stage of
``TrainedModel.sample_latents`` (the learned prior), ``TrainedModel.decode``, ``to_db``
(unnormalize), the phase step (``db_to_audio`` with a named phase setting) and
``write_clips`` (16-bit WAV files, checked and written atomically), and reports the median over
``--repeats`` runs after one warm-up run per batch size (tracing). The real-time factor is
seconds of audio made per second of wall time; the single-clip latency is the batch-of-1 total.
Each named phase setting of ``--phases`` (``quality``, the default, and ``fast``, for bulk
generation; ``vae_audio.dsp.phase.PHASE_SETTINGS``) gets its rows, measured in the same run.

    python benchmarks/generate_speed.py --model outputs/runs/fsdd-grid-cond/model
    python benchmarks/generate_speed.py --model outputs/runs/fsdd-grid-cond/model \
        --batches 1 32 --repeats 5 --phases fast

Prints a markdown table. Conditional models get labels cycling over the classes. The machine's
other load matters: run it alone, and compare rows of one invocation.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

STAGES = ("prior", "decoder", "unnormalize", "phase", "wav")


def time_batch(model, n: int, seed: int, out_dir: str, phase: str = "quality") -> dict[str, float]:
    """Seconds per stage for one batch of ``n`` generated clips."""
    from vae_audio.dsp.phase import PHASE_SETTINGS, db_to_audio
    from vae_audio.modeling.generate import write_clips

    labels = (np.arange(n) % len(model.label_names)).astype(np.int32) if model.label_names else None
    t = {}
    t0 = time.perf_counter()
    z, lab = model.sample_latents(n, labels=labels, seed=seed)
    t["prior"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    spec = model.decode(z, lab)
    t["decoder"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    s_db = model.to_db(spec)
    t["unnormalize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    audio = db_to_audio(s_db, model.config, **PHASE_SETTINGS[phase])
    t["phase"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_clips(audio, [f"s{i:04d}" for i in range(n)], out_dir, model.config.sr, overwrite=True)
    t["wav"] = time.perf_counter() - t0
    t["total"] = sum(t[s] for s in STAGES)
    return t


def main() -> None:
    from vae_audio.choices import PHASES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a bundle folder (a run's model/)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 256], help="batch sizes (default 1 32 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per batch size after a warm-up (default 3)")
    parser.add_argument("--phases", nargs="+", default=list(PHASES), choices=PHASES,
                        help="named phase settings to time (default both)")
    args = parser.parse_args()

    from vae_audio.modeling.bundle import load_model

    model = load_model(args.model)
    seconds = model.config.n_samples / model.config.sr
    print(f"model: {args.model} ({model.prior.describe() if model.prior else 'N(0, I)'}); "
          f"clips of {seconds:.2f} s at {model.config.sr} Hz; {os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.batches:
            for phase in args.phases:
                time_batch(model, n, seed=0, out_dir=tmp, phase=phase)  # warm-up: traces the graphs for this shape
                runs = [time_batch(model, n, seed=1 + r, out_dir=tmp, phase=phase) for r in range(args.repeats)]
                med = {k: statistics.median(r[k] for r in runs) for k in (*STAGES, "total")}
                rows.append((phase, n, med))
    print()
    print("| phase | batch | " + " | ".join(f"{s} s" for s in STAGES) + " | total s | clips/s | real-time factor |")
    print("|---|---:|" + "---:|" * (len(STAGES) + 3))
    for phase, n, med in rows:
        cells = " | ".join(f"{med[s]:.3f}" for s in STAGES)
        print(f"| {phase} | {n} | {cells} | {med['total']:.3f} | {n / med['total']:.1f} | "
              f"{n * seconds / med['total']:.0f}x |")
    for phase, n, med in rows:
        if n == 1:
            print(f"single-clip latency (median, {phase}): {med['total'] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
