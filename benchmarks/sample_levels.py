"""Levels per label of a bundle's conditional samples against its sampling settings.

For a trained conditional bundle with a learned prior, ``--per-label`` samples of every label are drawn
at each ``temperature,onset_noise`` pair given (the bundle's own pair first) with the same seed, rendered
as ``vae-audio generate`` renders them, and compared with every real clip of the label with the
definitions of ``vae-audio evaluate``'s levels table (``vae_audio.evaluation.levels``): per pair, the
median signed gap over labels (samples minus real clips, dB) and how many labels are within 3 dB, of the
peak and of the active RMS.

Usage (from the repository root)::

    python benchmarks/sample_levels.py --model RUN/model [--per-label 8] [--seed 11] \\
        [--settings 0.9,0 0.5,0.6 0.5,0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a trained conditional bundle with a learned prior")
    ap.add_argument("--data", default=None, help="the data (default: the bundle's own)")
    ap.add_argument("--per-label", type=int, default=8, help="samples per label (default 8)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--settings", nargs="*", default=[], help="temperature,onset_noise pairs besides the bundle's")
    args = ap.parse_args(argv)

    from vae_audio.evaluation.evaluate import load_features
    from vae_audio.evaluation.levels import level_section
    from vae_audio.modeling.bundle import load_model

    model = load_model(args.model)
    if not model.label_names or model.prior is None:
        ap.error(f"--model {args.model}: needs a conditional bundle with a learned prior")
    features, _, _ = load_features(model, args.data)
    labels = np.repeat(np.arange(len(model.label_names)), args.per_label).astype(np.int32)
    settings = model.prior.settings
    pairs = [(settings.temperature, settings.onset_noise)]
    pairs += [tuple(float(v) for v in pair.split(",")) for pair in args.settings]
    print(f"{args.model}: {args.per_label} samples a label, seed {args.seed}; the bundle's pair first")
    print("| temperature, onset noise | peak: median signed gap, labels within 3 dB | "
          "active RMS: median signed gap, labels within 3 dB |")
    print("|---|--:|--:|")
    empty = features.subset("test").audio[:0]
    for temperature, noise in pairs:
        model.prior.set_sampling(temperature=temperature, onset_noise=noise)
        audio = model.to_audio(model.generate(len(labels), labels=labels, seed=args.seed))
        section = level_section(real=np.asarray(features.audio), real_labels=features.labels, test=empty,
                                test_labels=np.zeros(0, int), reconstructions=empty, ceiling=empty, samples=audio,
                                sample_labels=labels, sr=model.config.sr, label_names=list(model.label_names))
        cells = []
        for level in ("peak", "rms"):
            gaps = [v["samples"][f"{level}_gap_db"] for v in section["per_label"].values() if v["samples"]]
            part = section["samples"][level]
            cells.append(f"{np.median(gaps):+.1f} dB, {part['labels_within']} of {part['labels']}")
        print(f"| {temperature:g}, {noise:g} | {cells[0]} | {cells[1]} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
