"""Which log-mel similarity separates known-bad clips from real ones? (the choice in docs/diversity.md)

For a trained bundle and its data (the model's recipe; the test split held out in training), the
same log-mel dB images (vae_audio.evaluation.diversity: 64 bands, 32 ms, dB relative to the clip's
loudest cell, floored 80 dB under it) are compared four ways:

- ``raw``: the cosine of the dB vectors (zero at the clip's peak, the floor at -80);
- ``above floor``: the cosine of dB above the floor (zero where nothing is heard);
- ``data mean``: the cosine after subtracting the training clips' mean image;
- ``own mean`` (the package's): the cosine after subtracting each clip's own mean (Pearson).

Rows: real test clips within a label and between labels (and the AUC of within over between:
does the number know the label?), each test clip's nearest training clip (is it the same label,
the same speaker?), the model's conditional samples (as ``vae-audio evaluate`` draws them), known
copies (training clips through the phase step; the model's reconstructions of them through the
phase step), and known-bad sounds that are no speech at all (silence, a click, white noise, pure
tones) and a real test clip shifted by 50 ms, each as its distance to the nearest training clip
(1 - similarity) in multiples of the real test clips' (a copy should be near 0, a non-speech
sound far above 1).

Then the RMS check of the old ``benchmarks/novelty.py`` (normalized model spectrograms, each to the
nearest training *reconstruction*; known copies decoded from a fresh posterior draw) beside the
package's measure, with their rank correlation over the samples: does it add anything?

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/diversity_definitions.py --model /work/runs/fsdd-7afcaef/model
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
WAYS = ("raw", "above floor", "data mean", "own mean")


def images(audio: np.ndarray, sr: int) -> np.ndarray:
    """The dB images of the package's embedding, flattened, before any centring: float64 ``(n, d)``."""
    from vae_audio.evaluation.diversity import _log_mel

    return np.concatenate([_log_mel(audio[i:i + 256], sr).reshape(len(audio[i:i + 256]), -1)
                           for i in range(0, len(audio), 256)])


def unit(v: np.ndarray, way: str, mean: np.ndarray) -> np.ndarray:
    v = {"raw": v, "above floor": v + 80.0, "data mean": v - mean,
         "own mean": v - v.mean(axis=1, keepdims=True)}[way]
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.where(norm > 1e-6, v / np.maximum(norm, 1e-6), 0.0)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))


def nearest_rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS distance ``(len(a),)`` from each spectrogram in ``a`` to its nearest one in ``b`` (novelty.py's)."""
    a2, b2 = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    d2 = (a2 ** 2).sum(1)[:, None] + (b2 ** 2).sum(1)[None] - 2.0 * a2 @ b2.T
    return np.sqrt(np.maximum(d2, 0.0).min(axis=1) / a2.shape[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a bundle folder (a conditional model)")
    p.add_argument("--data", help="dataset (default: the one the model was trained on)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples, as vae-audio evaluate's (default 0)")
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)
    from scipy.stats import spearmanr

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from vae_audio.dsp.phase import db_to_audio
    from vae_audio.evaluation.evaluate import load_features
    from vae_audio.modeling.bundle import load_model

    model = load_model(args.model)
    features, _, _ = load_features(model, args.data, cache_dir=REPO / "data" / "cache")
    train, test = features.subset("train"), features.subset("test")
    sr, n, k = model.config.sr, len(test), len(model.label_names)
    if not k:
        raise SystemExit("this benchmark compares labels: give a conditional model")
    labels = np.random.default_rng([args.seed, 2]).permutation(np.arange(n) % k).astype(np.int32)
    generated = model.generate(n, labels=labels, seed=args.seed + 1)  # what evaluate draws
    pick = np.sort(np.random.default_rng([args.seed, 7]).choice(len(train), size=min(n, len(train)), replace=False))
    copies = train.select(pick)
    stats = copies.stats if copies.stats else None
    recon = model.reconstruct(copies.x, copies.labels.astype(np.int32))
    rng = np.random.default_rng(args.seed)
    t = np.arange(test.audio.shape[1]) / sr
    m = 100
    click = np.zeros((m, len(t)), np.float32)
    click[:, 100] = 1.0
    sets = {"train": train.audio, "test": test.audio, "samples": model.to_audio(generated),
            "replayed": db_to_audio(model.normalizer.unnormalize(copies.x, stats), model.config),
            "rendered": db_to_audio(model.normalizer.unnormalize(recon, stats), model.config),
            "silence": np.zeros((m, len(t)), np.float32), "click": click,
            "white noise": rng.standard_normal((m, len(t))).astype(np.float32),
            "pure tones": np.stack([np.sin(2 * np.pi * (200 + 10 * i) * t) * (t < 0.3) for i in range(m)]),
            "test shifted 50 ms": np.roll(test.audio[:m], int(0.05 * sr), axis=1)}
    img = {key: images(np.asarray(a, np.float32), sr) for key, a in sets.items()}
    mean = img["train"].mean(axis=0)
    tl, trl = test.labels, train.labels
    speakers = np.array([str(x.get("speaker", "")) for x in train.metadata])
    test_speakers = np.array([str(x.get("speaker", "")) for x in test.metadata])
    iu = np.triu_indices(n, 1)
    same = (tl[:, None] == tl[None])[iu]
    same_samples = (labels[:, None] == labels[None])[iu]
    print(f"{args.model}: {n} test clips, {len(train)} training clips, {n} conditional samples (seed {args.seed})\n")
    print("| similarity | real within label | real between labels | AUC within > between | samples within label "
          "| real nearest train | nearest is same label / speaker | samples nearest train | replayed | rendered "
          "| silence | click | white noise | pure tones | test shifted 50 ms |")
    print("|---|" + "--:|" * 15)
    own_samples = own_test = None
    for way in WAYS:
        u = {key: unit(v, way, mean) for key, v in img.items()}
        within_test = (u["test"] @ u["test"].T)[iu]
        within_samples = (u["samples"] @ u["samples"].T)[iu][same_samples]
        near = u["test"] @ u["train"].T
        real = near.max(axis=1)
        where = near.argmax(axis=1)
        nearest = {key: (u[key] @ u["train"].T).max(axis=1) for key in sets if key not in ("train", "test")}
        far = 1.0 - np.median(real)
        bad = " | ".join(f"{np.median(nearest[key]):.3f} ({(1 - np.median(nearest[key])) / far:.2f}x)"
                         for key in ("silence", "click", "white noise", "pure tones", "test shifted 50 ms"))
        print(f"| {way} | {np.median(within_test[same]):.3f} | {np.median(within_test[~same]):.3f} | "
              f"{auc(within_test[same], within_test[~same]):.3f} | {np.median(within_samples):.3f} | "
              f"{np.median(real):.3f} | {np.mean(trl[where] == tl):.3f} / "
              f"{np.mean(speakers[where] == test_speakers):.3f} | {np.median(nearest['samples']):.3f} | "
              f"{np.median(nearest['replayed']):.3f} | "
              f"{np.median(nearest['rendered']):.3f} | {bad} |")
        if way == "own mean":
            own_samples, own_test = nearest["samples"], real

    # novelty.py's RMS check, like with like: model spectrograms to the nearest training reconstruction
    train_rec = model.reconstruct(train.x, train.labels.astype(np.int32))
    test_rec = model.reconstruct(test.x, test.labels.astype(np.int32))
    z_mean, z_log_var = model.encode(copies.x, copies.labels.astype(np.int32))
    eps = np.random.default_rng(1).standard_normal(z_mean.shape).astype(np.float32)
    posterior = model.decode(z_mean + np.exp(0.5 * z_log_var) * eps, copies.labels.astype(np.int32))
    rms = {"test reconstructions": nearest_rms(test_rec, train_rec), "samples": nearest_rms(generated, train_rec),
           "known copies (posterior draws)": nearest_rms(posterior, train_rec)}
    print("\nnovelty.py's RMS distance to the nearest training reconstruction (normalized units; median, 10th pct):")
    for key, d in rms.items():
        ratio = np.median(d) / np.median(rms["test reconstructions"])
        print(f"  {key:32s} {np.median(d):.4f} ({np.percentile(d, 10):.4f}), {ratio:.2f}x the test reconstructions'")
    print(f"  log-mel (own mean): samples {(1 - np.median(own_samples)) / (1 - np.median(own_test)):.2f}x the real "
          f"test clips' distance")
    print(f"  rank correlation over the samples, RMS distance vs 1 - log-mel similarity: "
          f"{spearmanr(rms['samples'], 1 - own_samples).statistic:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
