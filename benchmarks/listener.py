"""Calibrate the machine listener (vae_audio.evaluation.listener) and measure a model with it.

Rows, all against the real held-out test clips of the model's dataset (its own recipe):

- real vs real: other real takes (same label, same speaker where the data names one), the null;
- ceiling: each test clip's true magnitude through the package's phase method (the best any
  spectrogram model can reach with it);
- known bad: the true dB spectrogram smoothed over 9 bins along frequency (what a blurry decoder
  makes), the same plus white noise 20 dB under the clip's RMS, white noise at the clip's RMS, and the
  model's decoder fed codes from N(0, I) instead of its prior;
- the model: reconstructions (paired: a clip and its reconstruction never split between folds),
  conditional samples (label by label), prior samples; each seed draws new samples.

Besides the listener's own accuracy (the better of logistic regression and boosted trees, one clip at
a time) each paired row gets the side-by-side diagnostic (both clips of a pair seen together).

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/listener.py --model outputs/runs/fsdd-grid-cond/model [--seeds 0 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"


def known_bad(test, model, rng) -> dict[str, np.ndarray]:
    """Audio of the known-bad rows made from the test clips (see the module docstring)."""
    from scipy.ndimage import uniform_filter1d

    from vae_audio.dsp.phase import db_to_audio

    cfg = model.config
    truth_db = model.normalizer.unnormalize(test.x, test.stats if test.stats else None)
    envelope = db_to_audio(uniform_filter1d(truth_db, size=9, axis=1, mode="nearest"), cfg)
    rms = np.sqrt(np.mean(test.audio.astype(np.float64) ** 2, axis=1, keepdims=True))
    noise = rng.standard_normal(test.audio.shape)
    return {"blurred (9-bin envelope)": envelope,
            "blurred + noise at -20 dB": (envelope + 0.1 * rms * noise).astype(np.float32),
            "white noise": (rms * noise).astype(np.float32)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a bundle folder")
    p.add_argument("--data", help="dataset (default: the one the model was trained on)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the samples (default 0)")
    p.add_argument("--json", help="write every row here")
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from vae_audio.dsp.phase import db_to_audio
    from vae_audio.evaluation.evaluate import load_features, other_takes
    from vae_audio.evaluation.listener import (
        SETTINGS,
        format_rows,
        listener_features,
        paired_test,
        side_by_side,
        unpaired_test,
    )
    from vae_audio.modeling.bundle import load_model

    t0 = time.perf_counter()
    model = load_model(args.model)
    features, spec, _ = load_features(model, args.data)
    test = features.subset("test")
    test = test.select(np.any(test.audio != 0, axis=1))
    sr, cfg = model.config.sr, model.config
    labels = test.labels if model.label_names else None
    real = listener_features(test.audio, sr)
    other = other_takes(features, test, 0)
    truth = db_to_audio(model.normalizer.unnormalize(test.x, test.stats if test.stats else None), cfg)
    recon = model.to_audio(model.reconstruct(test.x, labels))
    other_labels = None if labels is None else features.labels[other]
    rows = {"real vs real (other takes)": unpaired_test(real, features.audio[other], sr, labels_real=labels,
                                                        labels_other=other_labels),
            "ceiling (true magnitude + phase)": paired_test(real, truth, sr)}
    for name, audio in known_bad(test, model, np.random.default_rng(0)).items():
        rows[f"known bad: {name}"] = paired_test(real, audio, sr)
    rows["reconstructions"] = paired_test(real, recon, sr)
    side = {"ceiling": side_by_side(real, truth, sr), "reconstructions": side_by_side(real, recon, sr)}
    for seed in args.seeds:
        n = len(test)
        cond_labels = labels.astype(np.int32) if labels is not None else None
        if cond_labels is not None:
            cond = model.to_audio(model.generate(n, labels=cond_labels, seed=seed + 1))
            rows[f"conditional samples, seed {seed}"] = unpaired_test(
                real, cond, sr, labels_real=labels, labels_other=cond_labels, label_names=model.label_names, seed=seed)
        prior = model.to_audio(model.generate(n, seed=seed))
        rows[f"prior samples, seed {seed}"] = unpaired_test(real, prior, sr, seed=seed)
        standard = model.to_audio(model.generate(n, labels=cond_labels, seed=seed + 2, prior="standard"))
        rows[f"known bad: N(0, I) codes, seed {seed}"] = unpaired_test(
            real, standard, sr, labels_real=labels if cond_labels is not None else None, labels_other=cond_labels,
            seed=seed)
    print(f"model {args.model} on {spec} ({len(test)} test clips, {sr} Hz); listener settings {SETTINGS}")
    print(format_rows(rows))
    print(f"  side by side: ceiling {side['ceiling']:.3f}, reconstructions {side['reconstructions']:.3f}")
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "data": str(spec), "settings": SETTINGS,
                                               "rows": rows, "side_by_side": side}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
