"""The machine listener: can a classifier tell the model's audio from real clips, and from which cues?

One listener, used by ``vae-audio evaluate``, the report and the benchmarks, and frozen (its settings
are :data:`SETTINGS`, recorded in ``docs/listener.md``) so that the targets judged by it cannot be met
by making it weaker.

What it hears (:func:`listener_features`, per clip, level-free): the clip is peak-normalized, its
32 ms power spectrogram (75 % overlap) floored :data:`FLOOR_DB` below its loudest bin (what is quieter
than that is not heard at a comfortable listening level) and only its audible frames (within
:data:`AUDIBLE_DB` of the loudest frame) are summarized, in cue groups (:data:`CUES`):

- ``mfcc``: 20 MFCCs, their mean and spread and those of their frame-to-frame change;
- ``mel``: 40 log-mel bands relative to the clip's loudest, mean and spread, and the mean change of
  ten groups of four bands (the spectral envelope and its motion);
- ``shape``: spectral centroid, bandwidth, 85 % and 95 % roll-off, flatness (linear and log), zero
  crossings: mean, spread and mean frame-to-frame change;
- ``contrast``: spectral contrast (peaks against valleys) per octave band, mean and spread;
- ``voicing``: periodicity of each frame (the normalized autocorrelation's highest peak at lags of
  60-400 Hz): mean, spread, 90th percentile, share of voiced frames;
- ``envelope``: the frame energy's change and spread and the audible share of the clip;
- ``texture``: the dB spectrogram's frame-to-frame and bin-to-bin variation in three bands, and its
  difference to a 9-bin moving average (how sharp harmonics and noise grain are);
- ``bands``: the energy above 1, 2 and 3 kHz relative to the whole.

How it decides: two classifiers, logistic regression (standardized, C = 0.1) and gradient-boosted trees
(scikit-learn's ``HistGradientBoostingClassifier``), each cross-validated over :data:`FOLDS` folds; the
better accuracy is the listener's. Each clip is judged alone (as a person judges a clip in a quiz
without the other one of the pair in mind: the paired comparison is :func:`side_by_side`).

- :func:`paired_test` (reconstructions against their originals): folds group a clip with its
  reconstruction, so the classifier never meets the original of a clip it is tested on;
- :func:`unpaired_test` (samples, or other real takes, against real held-out clips): with labels the
  two sets are compared label by label (as many clips of a label on each side) and the accuracy is
  also reported per label.

Both return the accuracy (0.5: cannot tell; 1.0: tells every clip), the accuracy of each classifier
and which cues it keyed on (the drop in accuracy when a cue group's columns are shuffled across the
held-out clips). A listener must be able to say "bad": ``vae-audio evaluate`` reads it against real vs
real (other takes), the phase ceiling and a known-bad generator, and ``benchmarks/listener.py`` adds
known-bad inputs (blurred spectra, noise).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ParameterError

__all__ = ["SETTINGS", "FLOOR_DB", "AUDIBLE_DB", "FOLDS", "CUES", "listener_features", "paired_test",
           "unpaired_test", "side_by_side", "label_matched", "format_rows"]

#: floor of the power spectrogram, dB below the clip's loudest bin
FLOOR_DB = 60.0
#: frames within this many dB of the loudest frame are summarized
AUDIBLE_DB = 40.0
#: cross-validation folds
FOLDS = 5
#: the frozen settings (``docs/listener.md`` records them and the numbers measured with them)
SETTINGS: dict[str, Any] = {"version": 1, "floor_db": FLOOR_DB, "audible_db": AUDIBLE_DB, "folds": FOLDS,
                            "window_s": 0.032, "overlap": 0.75, "n_mfcc": 20, "n_mels": 40,
                            "logistic_regression": {"C": 0.1},
                            "boosted_trees": {"max_iter": 200, "learning_rate": 0.05, "max_leaf_nodes": 15,
                                              "l2_regularization": 1.0}}
#: the cue groups, in the order of the feature columns
CUES = ("mfcc", "mel", "shape", "contrast", "voicing", "envelope", "texture", "bands")


# ----------------------------------------------------------------------------- features
def _stats(v: np.ndarray) -> list[float]:
    """Mean, spread and mean absolute frame-to-frame change of a per-frame series."""
    return [float(v.mean()), float(v.std()), float(np.abs(np.diff(v)).mean()) if len(v) > 1 else 0.0]


def _clip_features(y: np.ndarray, sr: int) -> dict[str, list[float]]:
    """The cue groups of one clip (see the module docstring)."""
    import librosa

    peak = float(np.max(np.abs(y)))
    y = (y / peak if peak > 0 else y).astype(np.float32)
    n_fft = 1 << int(np.ceil(np.log2(SETTINGS["window_s"] * sr)))
    hop = n_fft // 4
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True)).astype(np.float64) ** 2 + 1e-20
    power = np.maximum(power, power.max() * 10.0 ** (-FLOOR_DB / 10.0))
    frame_db = 10.0 * np.log10(power.sum(axis=0))
    audible = frame_db >= frame_db.max() - AUDIBLE_DB
    if audible.sum() < 2:
        audible[:] = True
    mag = np.sqrt(power)
    mel_db = 10.0 * np.log10(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=40) + 1e-20)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=20)[:, audible]
    d_mfcc = np.diff(mfcc, axis=1) if mfcc.shape[1] > 1 else np.zeros((20, 1))
    mel = mel_db[:, audible] - mel_db.max()
    d_mel = np.diff(mel, axis=1) if mel.shape[1] > 1 else np.zeros((40, 1))
    cues: dict[str, list[float]] = {
        "mfcc": [*mfcc.mean(1), *mfcc.std(1), *np.abs(d_mfcc).mean(1), *d_mfcc.std(1)],
        "mel": [*mel.mean(1), *mel.std(1), *(np.abs(d_mel[i:i + 4]).mean() for i in range(0, 40, 4))],
    }
    flat = librosa.feature.spectral_flatness(S=mag)[0][audible]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)[0][:power.shape[1]][audible]
    series = [librosa.feature.spectral_centroid(S=mag, sr=sr)[0][audible] / sr,
              librosa.feature.spectral_bandwidth(S=mag, sr=sr)[0][audible] / sr,
              librosa.feature.spectral_rolloff(S=mag, sr=sr, roll_percent=0.85)[0][audible] / sr,
              librosa.feature.spectral_rolloff(S=mag, sr=sr, roll_percent=0.95)[0][audible] / sr,
              flat, np.log(flat + 1e-10), zcr]
    cues["shape"] = [x for v in series for x in _stats(v)]
    n_bands = max(1, min(6, int(np.log2(sr / 2 / 200))))
    contrast = librosa.feature.spectral_contrast(S=mag, sr=sr, n_bands=n_bands)[:, audible]
    cues["contrast"] = [*contrast.mean(1), *contrast.std(1)]
    cues["voicing"] = _voicing(y, sr, n_fft, hop, power.shape[1], audible)
    d = np.diff(frame_db)
    cues["envelope"] = [float(np.abs(d).mean()), float(d.std()), float(audible.mean()), float(frame_db[audible].std())]
    cues["texture"] = _texture(10.0 * np.log10(power[:, audible]))
    freqs = np.linspace(0.0, sr / 2.0, power.shape[0])
    total = power[:, audible].sum()
    cues["bands"] = [10.0 * np.log10(power[freqs >= cut][:, audible].sum() / total + 1e-12) if cut < sr / 2 else 0.0
                     for cut in (1000, 2000, 3000)]
    return cues


def _voicing(y: np.ndarray, sr: int, n_fft: int, hop: int, n_frames: int, audible: np.ndarray) -> list[float]:
    """Per-frame periodicity (the normalized autocorrelation's highest peak at 60-400 Hz lags), summarized."""
    import librosa

    frames = librosa.util.frame(np.pad(y, n_fft // 2), frame_length=n_fft, hop_length=hop)[:, :n_frames]
    frames = frames * np.hanning(n_fft)[:, None]
    spectrum = np.fft.rfft(frames, n=2 * n_fft, axis=0)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, axis=0)[:n_fft]
    ac = ac / np.maximum(ac[:1], 1e-12)
    lo, hi = max(1, int(sr / 400)), min(int(sr / 60), n_fft - 1)
    v = ac[lo:hi].max(axis=0)[audible[:ac.shape[1]]]
    return [float(v.mean()), float(v.std()), float(np.quantile(v, 0.9)), float((v > 0.5).mean())]


def _texture(db: np.ndarray) -> list[float]:
    """Frame-to-frame and bin-to-bin variation of a dB spectrogram ``(freq, frames)`` in its active cells
    (within 50 dB of its maximum), and its difference to a 9-bin moving average, in three bands."""
    active = db >= db.max() - 50.0
    dt, df = np.abs(np.diff(db, axis=1)), np.abs(np.diff(db, axis=0))
    at, af = active[:, 1:] & active[:, :-1], active[1:] & active[:-1]
    kernel = np.ones(9) / 9.0
    smooth = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), 0, db)
    n = db.shape[0]
    out: list[float] = []
    for a, b in ((0, n // 4), (n // 4, n // 2), (n // 2, n)):
        out.append(float(dt[a:b][at[a:b]].mean()) if at[a:b].any() else 0.0)
        out.append(float(df[a:b - 1][af[a:b - 1]].mean()) if af[a:b - 1].any() else 0.0)
        out.append(float(np.abs(db[a:b] - smooth[a:b]).mean()))
    return out


def listener_features(audio: Any, sr: int) -> tuple[np.ndarray, list[str]]:
    """What the listener hears of clips ``(n, samples)`` at ``sr`` Hz: float64 ``(n, n_features)`` and the
    cue group of each column (:data:`CUES`). Silent clips give a row of the floor's values."""
    x = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    if x.ndim != 2 or x.shape[1] < 64 or not np.all(np.isfinite(x)):
        raise ParameterError(f"audio: expected finite clips (n, samples >= 64), got shape {np.shape(audio)}")
    rows, groups = [], []
    for y in x:
        cues = _clip_features(y, int(sr))
        rows.append([v for cue in CUES for v in cues[cue]])
        groups = [cue for cue in CUES for _ in cues[cue]]
    return np.asarray(rows, dtype=np.float64), groups


# ----------------------------------------------------------------------------- classifiers
def _classifiers(seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {"logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(
                max_iter=5000, **SETTINGS["logistic_regression"])),
            "boosted_trees": HistGradientBoostingClassifier(random_state=seed, **SETTINGS["boosted_trees"])}


def _cross_validate(x: np.ndarray, target: np.ndarray, groups: np.ndarray, cue_of: Sequence[str],
                    seed: int) -> dict[str, Any]:
    """Grouped cross-validation of both classifiers; the better one's held-out predictions and cue importances."""
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold

    folds = list(GroupKFold(n_splits=FOLDS).split(x, target, groups))
    results: dict[str, Any] = {}
    for name, model in _classifiers(seed).items():
        predicted = np.zeros(len(target), dtype=np.int64)
        fitted = []
        for train, test in folds:
            m = clone(model).fit(x[train], target[train])
            predicted[test] = m.predict(x[test])
            fitted.append(m)
        results[name] = {"accuracy": float(np.mean(predicted == target)), "predicted": predicted, "fitted": fitted}
    best = max(results, key=lambda k: results[k]["accuracy"])
    importances = _cue_importances(results[best]["fitted"], folds, x, target, cue_of, seed)
    return {"accuracy": results[best]["accuracy"], "classifier": best,
            "by_classifier": {k: round(v["accuracy"], 4) for k, v in results.items()},
            "predicted": results[best]["predicted"], "cues": importances}


def _cue_importances(fitted: list, folds: list, x: np.ndarray, target: np.ndarray, cue_of: Sequence[str],
                     seed: int) -> dict[str, float]:
    """The held-out accuracy lost when one cue group's columns are shuffled across the held-out clips
    (mean over folds; larger = the listener keyed on it more)."""
    rng = np.random.default_rng(seed)
    cue_of = np.asarray(cue_of)
    drops = {cue: [] for cue in CUES}
    for model, (_, test) in zip(fitted, folds):
        base = np.mean(model.predict(x[test]) == target[test])
        for cue in CUES:
            shuffled = x[test].copy()
            cols = np.flatnonzero(cue_of == cue)
            shuffled[:, cols] = shuffled[rng.permutation(len(test))][:, cols]
            drops[cue].append(base - np.mean(model.predict(shuffled) == target[test]))
    return {cue: round(float(np.mean(v)), 4) for cue, v in sorted(drops.items(), key=lambda kv: -np.mean(kv[1]))}


def _features_of(clips: Any, sr: int) -> tuple[np.ndarray, list[str]]:
    if isinstance(clips, tuple) and len(clips) == 2 and isinstance(clips[1], list):
        return clips  # already features
    return listener_features(clips, sr)


def paired_test(real: Any, other: Any, sr: int, *, seed: int = 0) -> dict[str, Any]:
    """How often the listener tells ``other`` (e.g. reconstructions) from ``real`` clips ``(n, samples)``,
    row ``i`` of one made from row ``i`` of the other: folds keep a clip and its counterpart together.

    Returns ``{"accuracy", "classifier", "by_classifier", "cues", "n"}``. Either set may also be given as
    ``listener_features``' ``(features, cues)`` pair (to reuse them across rows).
    """
    (fa, cue_of), (fb, _) = _features_of(real, sr), _features_of(other, sr)
    n = len(fa)
    if fb.shape != fa.shape or n < 2 * FOLDS:
        raise ParameterError(f"real/other: expected two sets of the same size, at least {2 * FOLDS} clips each; "
                             f"got {len(fa)} and {len(fb)}")
    order = np.random.default_rng(seed).permutation(n)
    result = _cross_validate(np.concatenate([fa, fb]), np.r_[np.zeros(n), np.ones(n)].astype(np.int64),
                             np.r_[order, order], cue_of, seed)
    result.pop("predicted")
    return {**result, "n": int(n)}


def label_matched(labels_real: np.ndarray, labels_other: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices into two labelled sets with as many clips of each label on both sides (seeded choice)."""
    rng = np.random.default_rng(seed)
    keep_a, keep_b = [], []
    for lab in np.unique(labels_real):
        a, b = np.flatnonzero(labels_real == lab), np.flatnonzero(labels_other == lab)
        k = min(len(a), len(b))
        keep_a += list(rng.choice(a, k, replace=False))
        keep_b += list(rng.choice(b, k, replace=False))
    return np.sort(np.asarray(keep_a, dtype=np.int64)), np.sort(np.asarray(keep_b, dtype=np.int64))


def unpaired_test(real: Any, other: Any, sr: int, *, labels_real: Any = None, labels_other: Any = None,
                  label_names: Sequence[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """How often the listener tells ``other`` clips (samples, or other real takes) from ``real`` held-out
    clips, with no pairing. With labels the two sets are first matched label by label
    (:func:`label_matched`) and the accuracy is also given per label (``"per_label"``).

    Returns ``{"accuracy", "classifier", "by_classifier", "cues", "n", "per_label"}``.
    """
    (fa, cue_of), (fb, _) = _features_of(real, sr), _features_of(other, sr)
    per_label = None
    if labels_real is not None and labels_other is not None:
        la, lb = np.asarray(labels_real), np.asarray(labels_other)
        ia, ib = label_matched(la, lb, seed)
        fa, fb, la, lb = fa[ia], fb[ib], la[ia], lb[ib]
    else:
        k = min(len(fa), len(fb))
        fa, fb, la, lb = fa[:k], fb[:k], None, None
    n = len(fa)
    if n < 2 * FOLDS:
        raise ParameterError(f"real/other: {n} clips per side after matching; need at least {2 * FOLDS}")
    groups = np.random.default_rng(seed).permutation(2 * n)  # every clip its own group: folds stratify by nothing
    target = np.r_[np.zeros(n), np.ones(n)].astype(np.int64)
    result = _cross_validate(np.concatenate([fa, fb]), target, groups, cue_of, seed)
    predicted = result.pop("predicted")
    if la is not None:
        both = np.r_[la, lb]
        per_label = {}
        for lab in np.unique(both):
            name = str(label_names[int(lab)]) if label_names is not None else str(int(lab))
            per_label[name] = round(float(np.mean(predicted[both == lab] == target[both == lab])), 4)
    return {**result, "n": int(n), "per_label": per_label}


def side_by_side(real: Any, other: Any, sr: int, *, seed: int = 0) -> float:
    """A stricter, diagnostic judge of paired sets: the classifier sees both clips of a pair (their feature
    difference, in a random order) and says which is real. It hears consistent differences far below what
    a listener notices in one clip (on FSDD it tells even the phase ceiling from the originals in most
    pairs); reported beside :func:`paired_test`, never as the target."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    (fa, _), (fb, _) = _features_of(real, sr), _features_of(other, sr)
    flip = np.random.default_rng(seed).random(len(fa)) < 0.5
    d = np.where(flip[:, None], fb - fa, fa - fb)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, **SETTINGS["logistic_regression"]))
    scores = cross_val_score(clf, d, flip.astype(int), groups=np.arange(len(d)), cv=GroupKFold(n_splits=FOLDS))
    return float(scores.mean())


def format_rows(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """A listener's rows (name -> result of :func:`paired_test` / :func:`unpaired_test`) as a plain table:
    accuracy, each classifier's, and the top three cues."""
    lines = [f"  {'':34s} {'told':>6s} {'LR':>6s} {'GBT':>6s}  keyed on"]
    for name, r in rows.items():
        if r is None:
            continue
        cues = ", ".join(f"{k} {v:+.2f}" for k, v in list(r["cues"].items())[:3])
        by = r["by_classifier"]
        lines.append(f"  {name:34s} {r['accuracy']:6.3f} {by['logistic_regression']:6.3f} "
                     f"{by['boosted_trees']:6.3f}  {cues}")
    return "\n".join(lines)
