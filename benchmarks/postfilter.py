"""The valley postfilter measured: reconstructions of one bundle with postfilters of several strengths.

For a trained bundle, the postfilter (:mod:`vae_audio.dsp.postfilter`) is fitted to the model's
reconstructions of (up to 1000) training clips at each ``--strengths`` value (0 = none) and the
test split's reconstructions are scored through the default phase method: audio SC and LSD
(`vae-audio evaluate`'s definitions), PESQ (narrow band), STOI, the package's blind two-sample
test, and two blind tests the postfilter was not fitted against: harmonic contrast over a
5- and a 25-bin moving average instead of the package test's 9 bins, and MFCC statistics
(20 coefficients: mean, spread and frame-to-frame change) with the same classifier. The real
clips through the phase method (the ceiling) are the calibration row.

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/postfilter.py --model outputs/runs/fsdd-grid-cond/model [--strengths 0 1 1.5 2 3]
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


def _contrast(audio: np.ndarray, sr: int, width: int) -> np.ndarray:
    """Per clip: mean |dB - moving average of ``width`` bins| in 8 bands and its spread, audible frames only."""
    import librosa
    from scipy.ndimage import uniform_filter1d

    n_fft = int(2 ** round(np.log2(0.032 * sr)))
    power = np.abs(librosa.stft(np.asarray(audio, np.float32), n_fft=n_fft, hop_length=n_fft // 4)) ** 2
    power = power / np.maximum(power.max(axis=(1, 2), keepdims=True), 1e-30) + 1e-12
    db = 10 * np.log10(power)
    c = db - uniform_filter1d(db, width, axis=1, mode="nearest")
    bands = np.array_split(np.arange(power.shape[1]), 8)
    rows = []
    for i in range(len(power)):
        energy = 10 * np.log10(power[i].sum(axis=0))
        ci = c[i][:, energy >= energy.max() - 50.0]  # the audible frames
        rows.append([np.abs(ci[b]).mean() for b in bands] + [ci.std()])
    return np.asarray(rows)


def _mfcc(audio: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    n_fft = int(2 ** np.ceil(np.log2(0.032 * sr)))
    rows = []
    for y in audio:
        m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, n_fft=n_fft, hop_length=n_fft // 4)
        rows.append(np.r_[m.mean(1), m.std(1), np.abs(np.diff(m, axis=1)).mean(1)])
    return np.asarray(rows)


def _as_cue(features: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Features of one kind in the form the machine listener takes (all columns one cue group)."""
    return features, ["texture"] * features.shape[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a trained bundle")
    p.add_argument("--data", default=None, help="its data (default: the data it was trained on)")
    p.add_argument("--strengths", type=float, nargs="+", default=[0.0, 1.0, 1.5, 2.0, 3.0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from vae_audio.dsp.features import stft_magnitude
    from vae_audio.dsp.metrics import log_spectral_distance_db, spectral_convergence_db
    from vae_audio.evaluation.evaluate import load_features
    from vae_audio.evaluation.listener import paired_test
    from vae_audio.evaluation.listening import pesq_nb, stoi_concat
    from vae_audio.modeling.bundle import load_model
    from vae_audio.training import fit_training_postfilter

    model = load_model(args.model)
    model.postfilter = None
    features = load_features(model, args.data)[0]
    test = features.subset("test")
    test = test.select(np.any(test.audio != 0, axis=1))
    labels = test.labels.astype(np.int32) if model.label_names else None
    cfg, sr = model.config, model.config.sr
    eps = 10.0 ** (cfg.db_floor / 20.0)
    reference = stft_magnitude(test.audio, n_fft=cfg.n_fft, hop_length=cfg.hop_length).astype(np.float64)
    base = fit_training_postfilter(model, features, strength=1.0)  # its gains give every other strength
    ratio = np.array(base.gains) - 1.0
    real_f = {w: _contrast(test.audio, sr, w) for w in (5, 25)}
    real_m = _mfcc(test.audio, sr)

    rows = [("ceiling: true magnitude + phase method", model.to_audio(test.x))]
    recon = model.reconstruct(test.x, labels)
    for k in args.strengths:
        if k == 0:
            rows.append(("reconstructions, no postfilter", model.to_audio(recon)))
            continue
        pf = type(base)(n_freq=base.n_freq, width=base.width, gains=tuple(np.maximum(1.0, 1.0 + k * ratio)))
        rows.append((f"postfilter, strength {k:g} (gains {min(pf.gains):.2f}-{max(pf.gains):.2f})",
                     model.to_audio(pf(recon))))
    print(f"{args.model}: {len(test)} test clips, {sr} Hz; postfilter fitted on the training split\n")
    print("| reconstructions | audio SC (dB) | audio LSD (dB) | PESQ nb | STOI | listener | contrast 5 bins | "
          "contrast 25 bins | MFCC |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, audio in rows:
        sc = np.median(spectral_convergence_db(reference, audio, config=cfg))
        lsd = np.median(log_spectral_distance_db(reference, audio, config=cfg, eps=eps))
        pesq = np.nanmedian(pesq_nb(test.audio, audio, sr))
        stoi = stoi_concat(test.audio, audio, sr)
        blind = paired_test(test.audio, audio, sr, seed=args.seed)["accuracy"]
        c5, c25 = (paired_test(_as_cue(real_f[w]), _as_cue(_contrast(audio, sr, w)), sr, seed=args.seed)["accuracy"]
                   for w in (5, 25))
        mf = paired_test(_as_cue(real_m), _as_cue(_mfcc(audio, sr)), sr, seed=args.seed)["accuracy"]
        print(f"| {name} | {sc:.2f} | {lsd:.2f} | {pesq:.2f} | {stoi:.3f} | {blind:.3f} | {c5:.3f} | {c25:.3f} "
              f"| {mf:.3f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
