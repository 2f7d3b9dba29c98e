"""Write a labelled folder of synthetic noise bursts: pure texture, no pitch (issue 40 item 6).

Four labels of filtered white noise with an attack and an exponential decay, each clip drawn with its
own length, level, decay and filter edges (seeded), written as 16-bit WAV at 22.05 kHz:

- ``hiss``: broadband noise, 0.4-1.0 s, slow decay (breath, a cymbal's wash);
- ``snare``: noise band-passed around 1-4 kHz, 0.2-0.5 s, fast decay;
- ``hat``: noise high-passed above 6-8 kHz, 0.08-0.3 s, very fast decay, 12-20 dB quieter;
- ``rumble``: noise low-passed below 300-800 Hz, 0.5-1.2 s.

Usage (from the repository root)::

    python benchmarks/make_noise_bursts.py OUT_DIR [--per-label 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

SR = 22050
KINDS = {  # label: (length range s, decay time constant range s, band range Hz, level range dB)
    "hiss": ((0.4, 1.0), (0.15, 0.4), (None, None), (-6.0, -2.0)),
    "snare": ((0.2, 0.5), (0.04, 0.1), ((800.0, 1500.0), (3000.0, 5000.0)), (-4.0, -1.0)),
    "hat": ((0.08, 0.3), (0.015, 0.05), ((6000.0, 8000.0), None), (-20.0, -12.0)),
    "rumble": ((0.5, 1.2), (0.2, 0.5), (None, (300.0, 800.0)), (-8.0, -3.0)),
}


def burst(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One burst of ``kind`` (:data:`KINDS`), float32 at :data:`SR` Hz, peak at its drawn level."""
    from scipy.signal import butter, sosfilt

    (l0, l1), (d0, d1), (low, high), (g0, g1) = KINDS[kind]
    n = int(rng.uniform(l0, l1) * SR)
    t = np.arange(n) / SR
    envelope = np.minimum(t / 0.003, 1.0) * np.exp(-t / rng.uniform(d0, d1))
    y = rng.standard_normal(n)
    edges = [None if e is None else rng.uniform(*e) for e in (low, high)]
    if edges[0] is not None and edges[1] is not None:
        y = sosfilt(butter(4, edges, btype="bandpass", fs=SR, output="sos"), y)
    elif edges[0] is not None:
        y = sosfilt(butter(4, edges[0], btype="highpass", fs=SR, output="sos"), y)
    elif edges[1] is not None:
        y = sosfilt(butter(4, edges[1], btype="lowpass", fs=SR, output="sos"), y)
    y = y * envelope
    return (y / np.abs(y).max() * 10.0 ** (rng.uniform(g0, g1) / 20.0)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    import soundfile as sf

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--per-label", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    for kind in KINDS:
        folder = args.out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(args.per_label):
            sf.write(folder / f"{kind}_{i:03d}.wav", burst(kind, rng), SR, subtype="PCM_16")
    print(f"{len(KINDS) * args.per_label} bursts in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
