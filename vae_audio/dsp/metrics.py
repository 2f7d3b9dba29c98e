"""Quality metrics for reconstructed or generated audio (NumPy/librosa only, no TensorFlow).

Spectral metrics compare a *reference* linear STFT magnitude ``|S_ref|`` with the magnitude
``|S|`` of an estimate, given either as a magnitude of the same shape or as audio whose STFT
is taken here (librosa's ``center=True`` STFT, :func:`vae_audio.dsp.features.stft_magnitude`).
Shapes follow the package: ``(freq, frames)`` for one clip, ``(batch, freq, frames)`` for a
batch; audio is ``(n_samples,)`` or ``(batch, n_samples)``. Every metric returns one value per
clip: a Python ``float`` for a single clip, a float64 ``(batch,)`` array for a batch.

To add a metric, write a function of ``(reference, estimate)`` magnitudes ``(batch, freq,
frames)`` returning ``(batch,)`` and wrap it like the ones below with :func:`_pair` and
:func:`_per_clip` (they do the argument checking, the STFT of audio, and the batch/single
return convention).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import checks
from ..errors import ParameterError
from .features import SpectrogramConfig, mel_filterbank, stft_magnitude

__all__ = ["spectral_convergence_db", "log_spectral_distance_db"]

#: Added to norms / magnitudes so silent clips give finite numbers.
EPS_NORM = 1e-12
#: Default ``eps`` of :func:`log_spectral_distance_db` (librosa.amplitude_to_db's ``amin``, -100 dB).
LSD_EPS = 1e-5


def _real_array(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name}: cannot be read as an array ({exc})") from None
    if np.iscomplexobj(arr):
        raise ParameterError(f"{name}: got complex values; pass a magnitude (np.abs of the STFT) or real audio")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ParameterError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name}: contains NaN or infinite values")
    return arr.astype(np.float64, copy=False)


def _pair(reference_mag: Any, audio_or_mag: Any, *, n_fft: int | None, hop_length: int | None,
          config: SpectrogramConfig | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Check the arguments and return ``(ref, est, single)`` as float64 ``(batch, freq, frames)``.

    ``audio_or_mag`` is a magnitude when it has the reference's rank and audio when it has one
    axis fewer; audio is transformed with ``n_fft``/``hop_length`` (or ``config``; with
    ``config.n_mels`` set and a reference of ``n_mels`` rows, the audio's mel magnitude is used).
    """
    ref = _real_array(reference_mag, "reference_mag")
    if ref.ndim not in (2, 3) or ref.size == 0:
        raise ParameterError("reference_mag: expected a magnitude (freq, frames) or (batch, freq, frames), "
                             f"got shape {ref.shape}")
    if ref.min() < 0:
        raise ParameterError("reference_mag: contains negative values; expected a linear magnitude >= 0 (not dB)")
    est = _real_array(audio_or_mag, "audio_or_mag")
    if est.ndim == ref.ndim:  # a magnitude
        if est.shape != ref.shape:
            raise ParameterError(f"audio_or_mag: magnitude shape {est.shape} differs from "
                                 f"reference_mag shape {ref.shape}")
        if est.min() < 0:
            raise ParameterError("audio_or_mag: magnitude contains negative values; expected >= 0 (not dB)")
    elif est.ndim == ref.ndim - 1:  # audio
        if ref.ndim == 3 and est.shape[0] != ref.shape[0]:
            raise ParameterError(f"audio_or_mag: {est.shape[0]} waveforms for {ref.shape[0]} reference spectrograms")
        if est.shape[-1] == 0:
            raise ParameterError("audio_or_mag: empty waveform")
        est = _audio_magnitude(est, ref, n_fft=n_fft, hop_length=hop_length, config=config)
    else:
        raise ParameterError(
            f"audio_or_mag: shape {est.shape} is neither a magnitude shaped like reference_mag {ref.shape} "
            f"nor audio with one axis fewer ({'(batch, n_samples)' if ref.ndim == 3 else '(n_samples,)'})"
        )
    single = ref.ndim == 2
    if single:
        ref, est = ref[None], est[None]
    return ref, est, single


def _audio_magnitude(y: np.ndarray, ref: np.ndarray, *, n_fft: int | None, hop_length: int | None,
                     config: SpectrogramConfig | None) -> np.ndarray:
    mel = None
    if config is not None:
        if not isinstance(config, SpectrogramConfig):
            raise ParameterError(f"config: expected a SpectrogramConfig, got {type(config).__name__}")
        for name, value in (("n_fft", n_fft), ("hop_length", hop_length)):
            if value is not None and value != getattr(config, name):
                raise ParameterError(f"{name}={value!r} disagrees with config.{name}={getattr(config, name)}")
        n_fft, hop_length = config.n_fft, config.hop_length
        if config.n_mels is not None and ref.shape[-2] == config.n_mels:
            mel = mel_filterbank(sr=config.sr, n_fft=n_fft, n_mels=config.n_mels, fmin=config.fmin,
                                 fmax=config.fmax).astype(np.float64)
    if n_fft is None or hop_length is None:
        raise ParameterError("audio_or_mag is audio: pass n_fft= and hop_length= (or config=) to take its STFT")
    n_fft, hop_length = checks.whole_number(n_fft, "n_fft", 2), checks.whole_number(hop_length, "hop_length", 1)
    mag = stft_magnitude(y.astype(np.float32), n_fft=n_fft, hop_length=hop_length).astype(np.float64)
    if mel is not None:
        mag = np.matmul(mel, mag)
    if mag.shape[-2:] != ref.shape[-2:]:
        raise ParameterError(
            f"audio_or_mag: the STFT of {y.shape[-1]} samples (n_fft={n_fft}, hop_length={hop_length}) has shape "
            f"{mag.shape[-2:]} but reference_mag has (freq, frames) = {ref.shape[-2:]}; "
            f"expected audio of {hop_length * (ref.shape[-1] - 1)}..{hop_length * ref.shape[-1] - 1} samples "
            f"and n_fft = {2 * (ref.shape[-2] - 1)} (or config.n_mels = {ref.shape[-2]})"
        )
    return mag


def _per_clip(values: np.ndarray, single: bool) -> float | np.ndarray:
    return float(values[0]) if single else values.astype(np.float64)


def spectral_convergence_db(
    reference_mag: np.ndarray,
    audio_or_mag: np.ndarray,
    *,
    n_fft: int | None = None,
    hop_length: int | None = None,
    config: SpectrogramConfig | None = None,
) -> float | np.ndarray:
    """Spectral convergence in dB, per clip (lower is better; 0 dB = as far off as silence).

    ``SC = 20 * log10(|| |S_ref| - |S| ||_F / || |S_ref| ||_F)``, the Frobenius norms taken over
    each clip's ``(freq, frames)`` (``EPS_NORM`` = 1e-12 is added to both norms so silent clips
    give finite values). Zero phase typically scores about -1 dB, librosa's 32-iteration
    Griffin-Lim about -24 dB on speech.

    Parameters
    ----------
    reference_mag : linear magnitude ``(freq, frames)`` or ``(batch, freq, frames)``, >= 0.
    audio_or_mag : a magnitude of the same shape, or audio ``(n_samples,)`` / ``(batch, n_samples)``
        whose STFT magnitude (``n_fft``, ``hop_length``, ``center=True``) must have the reference's shape.
    n_fft, hop_length, config : STFT parameters for audio (keywords, or a
        :class:`~vae_audio.dsp.features.SpectrogramConfig`; with ``config.n_mels`` and a mel reference
        the audio's mel magnitude is compared).

    Returns
    -------
    ``float`` for one clip, float64 ``(batch,)`` for a batch.
    """
    ref, est, single = _pair(reference_mag, audio_or_mag, n_fft=n_fft, hop_length=hop_length, config=config)
    num = np.sqrt(np.sum((ref - est) ** 2, axis=(-2, -1)))
    den = np.sqrt(np.sum(ref ** 2, axis=(-2, -1)))
    return _per_clip(20.0 * np.log10((num + EPS_NORM) / (den + EPS_NORM)), single)


def log_spectral_distance_db(
    reference_mag: np.ndarray,
    audio_or_mag: np.ndarray,
    *,
    n_fft: int | None = None,
    hop_length: int | None = None,
    config: SpectrogramConfig | None = None,
    eps: float = LSD_EPS,
) -> float | np.ndarray:
    """Log-spectral distance in dB, per clip (lower is better; 0 = identical magnitudes).

    Amplitude variant: ``LSD = mean over frames of sqrt(mean over freq of
    (20 * log10((|S_ref| + eps) / (|S| + eps)))^2)``, with ``eps`` = 1e-5 (-100 dB re 1.0, librosa's
    ``amplitude_to_db`` floor) by default so silent bins do not dominate. (The power-spectrum
    form ``10 log10(P_ref / P)`` gives the same number up to where ``eps`` is added.)

    Arguments as for :func:`spectral_convergence_db`; ``eps`` > 0 is in linear magnitude units.
    """
    checks.number(eps, "eps", 0, lo_open=True, note=" (linear magnitude)")
    ref, est, single = _pair(reference_mag, audio_or_mag, n_fft=n_fft, hop_length=hop_length, config=config)
    diff_db = 20.0 * np.log10((ref + eps) / (est + eps))
    per_frame = np.sqrt(np.mean(diff_db ** 2, axis=-2))
    return _per_clip(per_frame.mean(axis=-1), single)
