"""Standard scores of reconstructed audio against the real clips, and spectral flatness.

All on the CPU with no downloads:

- :func:`pesq_nb`: PESQ (ITU-T P.862, narrow band) of each clip pair at 8 kHz, the ``pesq``
  package; 1.0 (bad) .. 4.5 (transparent). Clips are resampled to 8 kHz first.
- :func:`stoi_concat`: STOI (Taal et al. 2011, the ``pystoi`` package) of the clips put end to
  end (STOI needs seconds of speech; one 0.75 s digit is too short); 0 .. 1.
- :func:`spectral_flatness`: how noise-like each clip's audible frames are.

Whether a listener can tell the model's audio from real clips is the machine listener's question
(:mod:`vae_audio.evaluation.listener`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ParameterError

__all__ = ["PESQ_SR", "pesq_nb", "stoi_concat", "spectral_flatness"]

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
