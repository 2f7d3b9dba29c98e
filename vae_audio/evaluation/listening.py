"""Can a listener tell? Standard speech-quality scores and a blind two-sample classifier test.

Three judges of reconstructed (or generated) audio against the real clips, all on the CPU with
no downloads:

- :func:`pesq_nb`: PESQ (ITU-T P.862, narrow band) of each clip pair at 8 kHz, the ``pesq``
  package; 1.0 (bad) .. 4.5 (transparent). Clips are resampled to 8 kHz first.
- :func:`stoi_concat`: STOI (Taal et al. 2011, the ``pystoi`` package) of the clips put end to
  end (STOI needs seconds of speech; one 0.75 s digit is too short); 0 .. 1.
- :func:`two_sample_accuracy`: a classifier cross-validated to tell real clips from the others,
  on level-invariant features of the audible frames (:func:`blind_features`). 0.5 means it
  cannot tell them apart; 1.0 means it tells every clip. A clip and its reconstruction always
  fall in the same fold, so the classifier can never match a pair it has seen.

The classifier test must be able to say "bad": the evaluation reports it for the phase
ceiling (true magnitude through the phase step) and the README for known-bad inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError

__all__ = ["PESQ_SR", "pesq_nb", "stoi_concat", "spectral_flatness", "blind_features", "two_sample_accuracy",
           "paired_feature_accuracy"]

#: PESQ narrow band works at 8 kHz.
PESQ_SR = 8000

#: Power floor of :func:`spectral_flatness`, relative to each clip's loudest bin (-80 dB).
FLATNESS_FLOOR = 1e-8


def _pairs(reference: Any, estimate: Any) -> tuple[np.ndarray, np.ndarray]:
    ref = np.atleast_2d(np.asarray(reference, dtype=np.float32))
    est = np.atleast_2d(np.asarray(estimate, dtype=np.float32))
    if ref.shape != est.shape or ref.ndim != 2 or ref.shape[1] == 0:
        raise ParameterError(f"reference/estimate: expected two (n, samples) arrays of one shape, "
                             f"got {ref.shape} and {est.shape}")
    if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(est))):
        raise ParameterError("reference/estimate: contain NaN or infinite samples")
    return ref, est


def _at(y: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return y
    import soxr

    return np.stack([soxr.resample(row, sr, target, quality="HQ") for row in y]).astype(np.float32)


def pesq_nb(reference: np.ndarray, estimate: np.ndarray, sr: int) -> np.ndarray:
    """PESQ narrow band of each clip pair ``(n, samples)`` at ``sr`` Hz: float64 ``(n,)``.

    Clips PESQ cannot score (no speech detected, e.g. silence) are NaN; summarize with
    ``np.nanmedian`` and report how many were scored.
    """
    from pesq import PesqError, pesq

    ref, est = _pairs(reference, estimate)
    ref, est = _at(ref, sr, PESQ_SR), _at(est, sr, PESQ_SR)
    out = np.full(len(ref), np.nan)
    for i, (r, e) in enumerate(zip(ref, est)):
        if not (np.any(r) and np.any(e)):
            continue  # silence: nothing to score
        try:
            out[i] = pesq(PESQ_SR, r.astype(np.float64), e.astype(np.float64), "nb")
        except PesqError:
            continue
    return out


def stoi_concat(reference: np.ndarray, estimate: np.ndarray, sr: int) -> float:
    """STOI of all clip pairs ``(n, samples)`` at ``sr`` Hz put end to end (one number in [0, 1])."""
    from pystoi import stoi

    ref, est = _pairs(reference, estimate)
    return float(stoi(ref.reshape(-1).astype(np.float64), est.reshape(-1).astype(np.float64), sr, extended=False))


def _relative_power(audio: Any, sr: int) -> tuple[np.ndarray, int]:
    """Power spectrograms ``(n, freq, frames)`` of clips ``(n, samples)`` from a 32 ms STFT (75 %
    overlap), each relative to its own loudest bin (level-free) with a floor 120 dB below it;
    and the ``n_fft`` used."""
    import librosa

    y = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    n_fft = int(2 ** round(np.log2(0.032 * sr)))
    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 4, center=True)).astype(np.float64)
    power = mag ** 2
    power /= np.maximum(power.max(axis=(1, 2), keepdims=True), 1e-30)
    power += 1e-12
    return power, n_fft


def _frame_flatness(power: np.ndarray) -> np.ndarray:
    """Spectral flatness of each frame of ``power`` ``(..., freq, frames)``: geometric over
    arithmetic mean along frequency, ``(..., frames)`` in (0, 1]."""
    return np.exp(np.mean(np.log(power), axis=-2)) / np.mean(power, axis=-2)


def _audible_frames(power: np.ndarray, top_db: float) -> np.ndarray:
    """Boolean ``(frames,)``: frames of one clip's ``power`` ``(freq, frames)`` whose energy is
    within ``top_db`` dB of its loudest frame."""
    energy = 10 * np.log10(power.sum(axis=0))
    return energy >= energy.max() - top_db


def spectral_flatness(audio: np.ndarray, sr: int, *, top_db: float = 50.0) -> np.ndarray:
    """Mean spectral flatness of each clip's audible frames: float64 ``(n,)`` for clips ``(n, samples)``.

    Flatness is the geometric over the arithmetic mean of a frame's power spectrum (32 ms STFT,
    75 % overlap): about 0.56 for white noise, near 0 for a few sharp harmonics. It is averaged
    over the frames within ``top_db`` dB of the clip's loudest frame; an all-silent clip gives NaN.
    Bins more than 80 dB below the clip's loudest count as -80 dB (the recipes' dB floor), so a
    pure tone's -200 dB valleys do not decide the geometric mean.
    """
    power, _ = _relative_power(audio, sr)
    flat = _frame_flatness(np.maximum(power, FLATNESS_FLOOR))
    out = np.full(len(power), np.nan)
    for i in range(len(power)):
        if power[i].max() > 0.5:  # not silent (a silent clip is the 1e-12 floor everywhere)
            out[i] = flat[i][_audible_frames(power[i], top_db)].mean()
    return out


def blind_features(audio: np.ndarray, sr: int, *, top_db: float = 50.0) -> np.ndarray:
    """Level-invariant features of clips ``(n, samples)`` at ``sr``: float64 ``(n, n_features)``.

    A 32 ms STFT (75 % overlap); each clip's dB spectrogram is taken relative to its own maximum
    (so loudness does not count) and only its audible frames are used (frame energy within
    ``top_db`` of the loudest frame). Per clip:

    - 40 log-mel bands: the mean and standard deviation over the audible frames, and of the
      frame-to-frame change (temporal modulation);
    - harmonic contrast: the dB spectrum minus its own 9-bin moving average along frequency
      (what sharp harmonics have and a blurred spectrum lacks), its mean absolute value in 8
      frequency bands and its standard deviation;
    - spectral flatness (mean, std) and the audible fraction of the clip.
    """
    import librosa

    power, n_fft = _relative_power(audio, sr)
    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=40)
    mel_db = 10 * np.log10(np.einsum("mf,nft->nmt", fb, power))
    lin_db = 10 * np.log10(power)
    kernel = np.ones(9) / 9.0
    smooth = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), 1, lin_db)
    contrast = lin_db - smooth
    flat = _frame_flatness(power)  # (n, frames)
    bands = np.array_split(np.arange(power.shape[1]), 8)
    rows = []
    for i in range(len(power)):
        audible = _audible_frames(power[i], top_db)
        m = mel_db[i][:, audible] - mel_db[i].max()
        d = np.diff(m, axis=1) if m.shape[1] > 1 else np.zeros((m.shape[0], 1))
        c = contrast[i][:, audible]
        rows.append(np.concatenate([
            m.mean(axis=1), m.std(axis=1), np.abs(d).mean(axis=1), d.std(axis=1),
            [np.abs(c[b]).mean() for b in bands], [c.std()],
            [flat[i][audible].mean(), flat[i][audible].std(), audible.mean()],
        ]))
    return np.asarray(rows, dtype=np.float64)


def two_sample_accuracy(real: np.ndarray, other: np.ndarray, sr: int, *, folds: int = 5,
                        seed: int = 0) -> dict[str, Any]:
    """How well a classifier tells ``real`` clips from ``other`` clips ``(n, samples)`` (paired by row).

    Logistic regression on standardized :func:`blind_features`, cross-validated over ``folds``
    folds that keep row ``i`` of both sets together (a clip and its reconstruction are never
    split between training and testing). Returns ``{"accuracy", "std" (over folds), "n_pairs",
    "folds"}``; ``accuracy`` is 0.5 when the two sets cannot be told apart and 1.0 when every
    clip is classified right.
    """
    ref, est = _pairs(real, other)
    if len(ref) < 2 * folds:
        raise ParameterError(f"real/other: {len(ref)} pairs are too few for {folds}-fold cross-validation "
                             f"(need at least {2 * folds})")
    return paired_feature_accuracy(blind_features(ref, sr), blind_features(est, sr), folds=folds, seed=seed)


def paired_feature_accuracy(real_features: np.ndarray, other_features: np.ndarray, *, folds: int = 5,
                            seed: int = 0) -> dict[str, Any]:
    """The classifier of :func:`two_sample_accuracy` on given features ``(n, n_features)`` of each set
    (row ``i`` of both in one fold), for blind tests on other features; the same dict."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = len(real_features)
    x = np.concatenate([real_features, other_features])
    target = np.r_[np.zeros(n), np.ones(len(other_features))]
    order = np.random.default_rng(seed).permutation(n)  # which pairs share a fold
    groups = order[np.r_[np.arange(n), np.arange(len(other_features))]]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=5000))
    scores = cross_val_score(clf, x, target, groups=groups, cv=GroupKFold(n_splits=folds))
    return {"accuracy": float(scores.mean()), "std": float(scores.std()), "n_pairs": int(n), "folds": int(folds)}
