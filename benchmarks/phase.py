"""Phase reconstruction benchmark: librosa.griffinlim against vae_audio.griffin_lim, side by side.

Ground-truth magnitudes of the 300 FSDD test clips (takes 0-4) at 8 kHz, n_fft 256, hop 64,
every clip zero-padded at the end to the longest clip (9178 samples, 144 frames), are turned
back into audio by each method; the table gives the median spectral convergence (SC, dB, lower
is better) of the result and the wall time for all 300 clips.

Usage (from the repository root)::

    python benchmarks/phase.py [DIR] [--ceiling-iter 1000] [--batch-size 64] [--repeat 3]

``DIR`` defaults to ../shared/data/fsdd/recordings relative to the repository root. Rows:

* zero phase: ``librosa.istft`` of the magnitude (reference point, about -1 dB);
* librosa default: ``librosa.griffinlim`` (random init, momentum 0.99, 32 iterations), one
  clip at a time, ``random_state=i`` for clip i;
* ours, librosa's settings: ``griffin_lim(init="random", momentum=0.99, n_iter=32)``, batched.
  Timed twice: *cold* is the first call in the process (it traces the TensorFlow graph; the
  TensorFlow import itself is timed separately and excluded), *warm* is the same call again;
* the same with ``jit_compile=True`` (XLA element-wise clusters), cold and warm;
* ours, PGHI only (``n_iter=0``); ours default (PGHI + ``DEFAULT_N_ITER`` iterations);
* ours, many iterations (``--ceiling-iter``): the quality ceiling of the method.

Every method runs once per round, rounds repeat ``--repeat`` times (default 3; cold and ceiling
rows run in the first round only), and the table shows median times: on a shared machine,
compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vae_audio.dsp.audio import load_audio, pad_or_truncate  # noqa: E402
from vae_audio.dsp.features import stft_magnitude  # noqa: E402
from vae_audio.dsp.metrics import spectral_convergence_db  # noqa: E402

SR, N_FFT, HOP = 8000, 256, 64
TEST_TAKES = range(0, 5)
NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def load_test_set(folder: Path) -> tuple[np.ndarray, list[str]]:
    files = sorted(p for p in folder.glob("*.wav") if (m := NAME.match(p.name)) and int(m.group(3)) in TEST_TAKES)
    if not files:
        sys.exit(f"{folder}: no FSDD test clips ({{digit}}_{{speaker}}_{{take}}.wav with take 0-4) found")
    clips = [load_audio(p, sr=SR)[0] for p in files]
    longest = max(len(c) for c in clips)
    return np.stack([pad_or_truncate(c, longest) for c in clips]), [p.name for p in files]


def timed(fn, repeat: int):
    """``(result of the last call, median wall time in seconds over repeat calls)``."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", default=str(REPO.parent / "shared" / "data" / "fsdd" / "recordings"),
                        help="folder of FSDD WAVs (default: ../shared/data/fsdd/recordings from the repo root)")
    parser.add_argument("--ceiling-iter", type=int, default=1000, help="iterations of the ceiling row (0 = skip)")
    parser.add_argument("--batch-size", type=int, default=64, help="clips per compiled call")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds; each round times every method once (cold and ceiling rows: first round only)")
    args = parser.parse_args(argv)

    import librosa

    y, _ = load_test_set(Path(args.dir))
    n_clips, length = y.shape
    mag = stft_magnitude(y, n_fft=N_FFT, hop_length=HOP)
    print(f"{n_clips} clips from {args.dir}, {SR} Hz, n_fft {N_FFT}, hop {HOP}; padded at the end to the "
          f"longest clip, {length} samples = {mag.shape[-1]} frames; {os.cpu_count()} CPU cores")

    start = time.perf_counter()
    import tensorflow as tf  # noqa: F401  (timed on its own: a once-per-process cost)

    tf_import = time.perf_counter() - start
    from vae_audio.dsp.phase import DEFAULT_N_ITER, griffin_lim

    def sc(audio: np.ndarray) -> float:
        return float(np.median(spectral_convergence_db(mag, audio, n_fft=N_FFT, hop_length=HOP)))

    def ours(**kw):
        return lambda: griffin_lim(mag, n_fft=N_FFT, hop_length=HOP, length=length, batch_size=args.batch_size, **kw)

    def librosa_loop():
        return np.stack([librosa.griffinlim(mag[i], n_iter=32, hop_length=HOP, n_fft=N_FFT, length=length,
                                            momentum=0.99, init="random", random_state=i) for i in range(n_clips)])

    # (method, init, n_iter, fn, note, timed in every round?)
    methods = [
        ("zero phase (librosa.istft)", "zeros", 0,
         lambda: librosa.istft(mag.astype(np.complex64), n_fft=N_FFT, hop_length=HOP, length=length), "", True),
        ("librosa.griffinlim, one clip at a time", "random", 32, librosa_loop, "", True),
        ("ours, librosa's settings (cold)", "random", 32, ours(init="random", n_iter=32),
         "first call in the process: includes tracing the graph", False),
        ("ours, librosa's settings (warm)", "random", 32, ours(init="random", n_iter=32), "", True),
        ("ours, librosa's settings, XLA (cold)", "random", 32, ours(init="random", n_iter=32, jit_compile=True),
         "jit_compile=True, first call: XLA compiles every chunk shape", False),
        ("ours, librosa's settings, XLA (warm)", "random", 32, ours(init="random", n_iter=32, jit_compile=True),
         "jit_compile=True", True),
        ("ours, PGHI only", "pghi", 0, ours(init="pghi", n_iter=0), "", True),
        ("**ours, default**", "pghi", DEFAULT_N_ITER, ours(), "", True),
    ]
    if args.ceiling_iter:
        methods.append(("ours, ceiling", "pghi", args.ceiling_iter, ours(n_iter=args.ceiling_iter), "", False))

    # every method runs once per round, in the same order, so load changes on a shared machine
    # hit all of them alike; the table shows each method's median time over the rounds
    times: dict[str, list[float]] = {m[0]: [] for m in methods}
    scores: dict[str, float] = {}
    for round_ in range(max(1, args.repeat)):
        for method, _init, _n_iter, fn, note, every_round in methods:
            if round_ and not every_round:
                continue
            audio, seconds = timed(fn, 1)
            times[method].append(seconds)
            scores.setdefault(method, sc(audio))
            print(f"  round {round_ + 1}: {method:<40} {scores[method]:7.2f} dB  {seconds:7.2f} s  {note}", flush=True)
    rows = [(m, init, n_iter, scores[m], statistics.median(times[m]), note)
            for m, init, n_iter, _, note, _ in methods]

    rounds = max(1, args.repeat)
    librosa_time = rows[1][4]
    librosa_sc = rows[1][3]
    print(f"\nTensorFlow import: {tf_import:.1f} s (once per process, not included below); times are medians "
          f"of {rounds} round(s) except cold and ceiling rows (one run)\n")
    print(f"| method | init | iterations | median SC (dB) | wall time, {n_clips} clips (s) | speed vs librosa |")
    print("|---|---|---:|---:|---:|---:|")
    for method, init, n_iter, value, seconds, _ in rows:
        print(f"| {method} | {init} | {n_iter} | {value:.1f} | {seconds:.2f} | {librosa_time / seconds:.1f}x |")
    same = rows[2][4]  # cold, the honest number
    default = next(r for r in rows if r[0] == "**ours, default**")
    print(f"\nsame algorithm as librosa: SC {rows[3][3] - librosa_sc:+.2f} dB vs librosa, "
          f"{librosa_time / same:.1f}x faster cold ({librosa_time / rows[3][4]:.1f}x warm)")
    print(f"default: SC {default[3]:.1f} dB ({default[3] - librosa_sc:+.1f} dB vs librosa) in "
          f"{default[4] / librosa_time:.2f}x librosa's wall time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
