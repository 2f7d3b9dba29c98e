"""Derive a folder of clips from 0.1 to 5 s from a labelled folder of one-shot hits (issue 40 item 7's
"clips from 0.1 to 5 s" variant; docs/experiments/rules.md, Validation on variants).

Per label (sub-folder), in file-name order: every third hit cut to 0.1-0.3 s (10 ms fade-out), every
third as recorded, every third followed by other hits of its label at random gaps of 0.05-0.4 s up to
3-5 s (a short pattern). Mono, the files' own rate, 16-bit WAV; seeded.

    python benchmarks/make_variant_lengths.py --src ../shared/data/body_percussion --dst /tmp/bp_lengths
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

AUDIO = (".wav", ".flac", ".ogg", ".aiff", ".aif")


def pattern(hits: list[np.ndarray], first: int, samples: int, sr: int, rng) -> np.ndarray:
    """Hit ``first`` then random hits of the list, each after a 0.05-0.4 s gap, cut to ``samples``."""
    out = np.zeros(samples)
    pos, j = 0, first
    while pos < samples:
        end = min(samples, pos + len(hits[j]))
        out[pos:end] += hits[j][: end - pos]
        pos += len(hits[j]) + int(rng.uniform(0.05, 0.4) * sr)
        j = int(rng.integers(len(hits)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", type=Path, required=True, help="a folder of labelled sub-folders of hits")
    p.add_argument("--dst", type=Path, required=True, help="where to write the variant (created)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    lengths = []
    for label in sorted(d for d in args.src.iterdir() if d.is_dir()):
        files = sorted(f for f in label.iterdir() if f.suffix.lower() in AUDIO)
        loaded = [sf.read(str(f), always_2d=True) for f in files]
        hits = [y.mean(axis=1) for y, _ in loaded]
        (args.dst / label.name).mkdir(parents=True, exist_ok=True)
        for i, (f, y, (_, sr)) in enumerate(zip(files, hits, loaded)):
            if i % 3 == 0:
                y = y[: int(rng.uniform(0.1, 0.3) * sr)].copy()
                fade = min(len(y), int(0.01 * sr))
                y[len(y) - fade:] *= np.linspace(1.0, 0.0, fade)
            elif i % 3 == 2:
                y = pattern(hits, i, int(rng.uniform(3.0, 5.0) * sr), sr, rng)
            sf.write(str(args.dst / label.name / f"{f.stem}.wav"), y.astype(np.float32), sr, subtype="PCM_16")
            lengths.append(len(y) / sr)
    print(f"{len(lengths)} files in {args.dst}; lengths (s) min / median / p97.5 / max: "
          f"{' / '.join(f'{v:.2f}' for v in np.percentile(lengths, [0, 50, 97.5, 100]))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
