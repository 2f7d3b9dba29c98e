"""Are generated samples new sounds or copies of training clips?

For a trained bundle and its dataset, compares how far generated spectrograms lie from the
training set with how far unseen test clips lie from it. Distances are RMS differences of
normalized spectrograms (``(freq, frames)`` in [0, 1]), each clip to its nearest neighbour.
Generated spectrograms are smooth, so they are compared with the model's *reconstructions* of
the training clips (like with like); the test clips' reconstructions give the reference: a
generator that copied training clips would sit much closer than they do. A row of known copies
calibrates the check: each training clip decoded from a fresh draw of its own posterior (what
a generator that memorized the training codes would make).

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/novelty.py --model outputs/benchmarks/evaluate/fsdd-conv/model --data fsdd
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"


def nearest_rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS distance ``(len(a),)`` from each spectrogram in ``a`` to its nearest one in ``b``."""
    a2 = a.reshape(len(a), -1).astype(np.float64)
    b2 = b.reshape(len(b), -1).astype(np.float64)
    d2 = (a2 ** 2).sum(1)[:, None] + (b2 ** 2).sum(1)[None] - 2.0 * a2 @ b2.T
    return np.sqrt(np.maximum(d2, 0.0).min(axis=1) / a2.shape[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="bundle folder")
    p.add_argument("--data", default="fsdd", help="dataset the model was trained on (default fsdd)")
    p.add_argument("--n", type=int, default=300, help="generated samples (default 300)")
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from vae_audio import datasets
    from vae_audio.data.featurize import build_features
    from vae_audio.modeling.bundle import load_model

    model = load_model(args.model)
    features = build_features(datasets.load_dataset(args.data, config=model.config), recipe=model.recipe,
                              cache_dir=REPO / "data" / "cache")
    train, test = features.subset("train"), features.subset("test")
    conditional = bool(model.label_names)
    lab = (lambda f: f.labels.astype(np.int32)) if conditional else (lambda f: None)
    labels = (np.arange(args.n) % len(model.label_names)).astype(np.int32) if conditional else None
    generated = model.generate(args.n, labels=labels, seed=1)
    train_rec = model.reconstruct(train.x, lab(train))
    test_rec = model.reconstruct(test.x, lab(test))
    z_mean, z_log_var = model.encode(train.x, lab(train))
    eps = np.random.default_rng(1).standard_normal(z_mean.shape).astype(np.float32)
    copies = model.decode(z_mean + np.exp(0.5 * z_log_var) * eps, lab(train))
    rows = [("real test clips -> nearest real training clip", nearest_rms(test.x, train.x)),
            ("copies: training clips from a new posterior draw -> nearest", nearest_rms(copies, train_rec)),
            ("test reconstructions -> nearest training reconstruction", nearest_rms(test_rec, train_rec)),
            ("generated samples -> nearest training reconstruction", nearest_rms(generated, train_rec))]
    print(f"{args.model}: median RMS distance to the nearest training spectrogram (normalized units)")
    for name, d in rows:
        print(f"  {name:58s} {np.median(d):.4f}  (10th percentile {np.percentile(d, 10):.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
