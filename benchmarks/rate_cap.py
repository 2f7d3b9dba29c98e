"""What a sample-rate cap loses and saves, on a folder recorded at a high rate.

For each candidate rate, side by side in one process:

- **loss**: how often the machine listener (:mod:`vae_audio.evaluation.listener`, paired, folds grouped
  by clip) tells the folder's clips at their own rate from the same clips band-limited to the candidate
  (resampled down and back up with soxr): 0.5 = the rate loses nothing it hears;
- **ceiling**: the listener on the clips at the candidate rate against their phase ceiling with the
  32 ms STFT (what the model could reach at best at that rate);
- **cost**: the grid autoencoder's seconds per training step (batch 16, the layers the rules choose for
  that rate's spectrogram, median of timed steps after warm-up, the rates measured in interleaved rounds)
  and the per-clip spectrogram size; the prior's and the phase step's costs grow with the same numbers.

    python benchmarks/rate_cap.py --data ../shared/data/body_percussion [--clips 100] \\
        [--rates 11025 16000 22050 32000 44100] [--steps 20]

Prints a markdown table. The clips are cut or padded to the folder's training window (the rules' 97.5th
percentile of the lengths).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def load_clips(folder: Path, n: int, seed: int = 0) -> tuple[np.ndarray, int, float]:
    """``(clips (n, samples) at the folder's highest rate, that rate, the window in seconds)``."""
    import soundfile as sf

    from vae_audio.data.rules import window_of
    from vae_audio.dsp.audio import load_audio, pad_or_truncate

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg", ".aiff", ".mp3"))
    rng = np.random.default_rng(seed)
    files = [files[i] for i in np.sort(rng.permutation(len(files))[:n])]
    infos = [sf.info(str(f)) for f in files]
    sr = max(i.samplerate for i in infos)
    seconds, _ = window_of([i.duration for i in infos])
    length = int(round(seconds * sr))
    clips = np.stack([pad_or_truncate(load_audio(f, sr)[0], length) for f in files])
    return clips.astype(np.float32), sr, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="a folder of recordings at a high rate")
    p.add_argument("--clips", type=int, default=100)
    p.add_argument("--rates", type=int, nargs="+", default=[11025, 16000, 22050, 32000, 44100])
    p.add_argument("--steps", type=int, default=20, help="timed autoencoder steps per rate")
    args = p.parse_args(argv)

    from model_speed import step_times

    from vae_audio.data.rules import default_stft, grid_options
    from vae_audio.dsp.audio import resample
    from vae_audio.evaluation.listener import listener_features, paired_test
    from vae_audio.tuning import ceiling_accuracy

    clips, native, seconds = load_clips(args.data, args.clips)
    print(f"{args.data}: {len(clips)} clips at {native} Hz, a {seconds:g} s window", flush=True)
    real = listener_features(clips, native)
    rows = {}
    for rate in args.rates:
        t0 = time.perf_counter()
        down = resample(clips, native, rate)
        loss = paired_test(real, resample(down, rate, native)[:, :clips.shape[1]], native)["accuracy"]
        n_fft, hop = default_stft(rate)
        ceiling = ceiling_accuracy(down, rate, n_fft, hop)["accuracy"]
        n_freq, frames = n_fft // 2 + 1, 1 + down.shape[1] // hop
        rows[rate] = {"loss": loss, "ceiling": ceiling, "stft": f"{n_fft}/{hop}", "shape": (n_freq, frames),
                      "options": grid_options(n_freq)[0], "steps": []}
        print(f"{rate} Hz: listener {loss:.3f} band-limited, {ceiling:.3f} ceiling "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    timers = {rate: step_times("grid", row["shape"], batch=16, steps=args.steps, warmup=3,
                               arch_kwargs=row["options"]) for rate, row in rows.items()}
    for rate, timer in timers.items():
        rows[rate]["params"] = next(timer)
    for _ in range(args.steps):  # interleaved rounds: machine noise hits every rate alike
        for rate, timer in timers.items():
            rows[rate]["steps"].append(next(timer))
    base = statistics.median(rows[args.rates[0]]["steps"])
    print("\n| rate (Hz) | listener: band-limited vs own rate | listener: phase ceiling (32 ms STFT) | STFT | "
          "spectrogram | AE step (s) | x lowest |")
    print("|--:|--:|--:|--|--|--:|--:|")
    for rate, row in rows.items():
        step = statistics.median(row["steps"])
        f, t = row["shape"]
        print(f"| {rate} | {row['loss']:.3f} | {row['ceiling']:.3f} | {row['stft']} | {f} x {t} | {step:.3f} | "
              f"{step / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
