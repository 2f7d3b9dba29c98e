"""Spectrogram features: configuration, STFT magnitude, decibels, mel, normalization.

Conventions (librosa's): STFT with a Hann window, ``win_length = n_fft``, ``center=True``
(zero padding of ``n_fft // 2`` on both sides), magnitudes unscaled, i.e. exactly
``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))``. Spectrograms are shaped
``(..., freq, frames)``; ``freq = 1 + n_fft // 2`` (or ``n_mels``) and
``frames = 1 + n_samples // hop_length`` (even ``n_fft``; see :func:`n_stft_frames`).
Decibels are ``20 * log10(magnitude)`` relative to a magnitude of 1.0, floored at ``db_floor``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .. import checks
from ..errors import ConfigError, ParameterError
from .audio import MAX_SR, MIN_SR

__all__ = [
    "SpectrogramConfig",
    "Normalizer",
    "stft_magnitude",
    "mel_filterbank",
    "amplitude_to_db",
    "db_to_amplitude",
    "spectrogram_db",
    "db_to_magnitude",
    "n_stft_frames",
]


def check_json_object(data: Any, what: str, known: set[str] | frozenset[str]) -> Mapping[str, Any]:
    """``data`` if it is a mapping with no keys outside ``known``; else :class:`ConfigError` naming ``what``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{what}: unknown keys {unknown}; known keys are {sorted(known)}")
    return data


def n_stft_frames(n_samples: int, *, n_fft: int, hop_length: int) -> int:
    """Number of frames of librosa's centred STFT of ``n_samples`` samples.

    ``center=True`` pads ``n_fft // 2`` zeros on both sides, so the count is
    ``1 + (n_samples + 2 * (n_fft // 2) - n_fft) // hop_length``: ``1 + n_samples // hop_length``
    for even ``n_fft``, one less when ``n_fft`` is odd and ``hop_length`` divides ``n_samples``.
    """
    return 1 + (n_samples + 2 * (n_fft // 2) - n_fft) // hop_length


@dataclass(frozen=True)
class SpectrogramConfig:
    """Everything needed to turn a waveform into a model input and back.

    Attributes
    ----------
    sr : sample rate in Hz.
    n_fft : FFT size in samples (also the Hann window length).
    hop_length : hop between frames in samples.
    n_samples : fixed clip length in samples; clips are padded/truncated to it.
    n_mels : number of mel bands, or ``None`` for the linear-frequency magnitude.
    db_floor : lowest level in dB (re magnitude 1.0); quieter bins are raised to it.
    db_ceiling : optional highest level in dB; louder bins are clipped to it.
    fmin, fmax : mel band edges in Hz (``fmax=None`` means ``sr / 2``); only with ``n_mels``.
    """

    sr: int = 22050
    n_fft: int = 512
    hop_length: int = 128
    n_samples: int = 22050
    n_mels: int | None = None
    db_floor: float = -80.0
    db_ceiling: float | None = None
    fmin: float = 0.0
    fmax: float | None = None

    def __post_init__(self) -> None:
        def whole(name: str, lo: int, hi: int | None = None) -> None:
            object.__setattr__(self, name, checks.whole_number(getattr(self, name), f"SpectrogramConfig.{name}", lo, hi,
                                                               error=ConfigError))

        def real(name: str) -> float:
            object.__setattr__(self, name, checks.number(getattr(self, name), f"SpectrogramConfig.{name}",
                                                         error=ConfigError))
            return getattr(self, name)

        whole("sr", MIN_SR, MAX_SR)
        whole("n_fft", 16)
        whole("hop_length", 1)
        whole("n_samples", 1)
        if self.hop_length > self.n_fft:
            raise ConfigError(
                f"SpectrogramConfig.hop_length={self.hop_length} exceeds n_fft={self.n_fft}: frames would leave gaps"
            )
        if self.n_mels is not None:
            whole("n_mels", 1)
            if self.n_mels > self.n_fft // 2 + 1:
                raise ConfigError(
                    f"SpectrogramConfig.n_mels={self.n_mels} exceeds the {self.n_fft // 2 + 1} STFT bins of "
                    f"n_fft={self.n_fft}"
                )
        real("db_floor")
        if self.db_ceiling is not None and real("db_ceiling") <= self.db_floor:
            raise ConfigError(
                f"SpectrogramConfig.db_ceiling={self.db_ceiling!r}: expected a finite number above "
                f"db_floor={self.db_floor}"
            )
        if not 0.0 <= real("fmin") < self.sr / 2:
            raise ConfigError(f"SpectrogramConfig.fmin={self.fmin!r}: expected 0 <= fmin < sr/2 = {self.sr / 2}")
        if self.fmax is not None and not self.fmin < real("fmax") <= self.sr / 2:
            raise ConfigError(f"SpectrogramConfig.fmax={self.fmax!r}: expected fmin < fmax <= sr/2 = {self.sr / 2}")

    # ----------------------------------------------------------------- derived sizes
    @property
    def n_stft_bins(self) -> int:
        """Number of linear STFT bins, ``1 + n_fft // 2``."""
        return self.n_fft // 2 + 1

    @property
    def n_freq(self) -> int:
        """Height of a spectrogram: ``n_mels`` if set, else ``1 + n_fft // 2``."""
        return self.n_mels if self.n_mels is not None else self.n_stft_bins

    @property
    def n_frames(self) -> int:
        """Width of a spectrogram of one clip: ``1 + n_samples // hop_length`` (``center=True``,
        even ``n_fft``; exact for odd ``n_fft`` too, see :func:`n_stft_frames`)."""
        return n_stft_frames(self.n_samples, n_fft=self.n_fft, hop_length=self.hop_length)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_freq, n_frames)`` of one clip's spectrogram."""
        return (self.n_freq, self.n_frames)

    @property
    def duration(self) -> float:
        """Clip length in seconds."""
        return self.n_samples / self.sr

    @classmethod
    def from_duration(cls, duration: float, **kwargs: Any) -> "SpectrogramConfig":
        """Build a config whose ``n_samples`` is ``round(duration * sr)`` (``duration`` in seconds)."""
        sr = kwargs.get("sr", cls.sr)
        checks.number(duration, "duration", 0, lo_open=True, error=ConfigError, what="a number of seconds")
        checks.whole_number(sr, "SpectrogramConfig.sr", MIN_SR, MAX_SR, error=ConfigError)
        return cls(n_samples=int(round(duration * sr)), **kwargs)

    # ----------------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SpectrogramConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        check_json_object(data, "spectrogram config", {f.name for f in dataclasses.fields(cls)})
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise ConfigError(f"spectrogram config: {exc}") from None

    def replace(self, **changes: Any) -> "SpectrogramConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        """One line for logs: rate, sizes and the resulting spectrogram shape."""
        kind = f"{self.n_mels} mel bands" if self.n_mels else f"{self.n_stft_bins} linear bins"
        return (f"sr={self.sr} Hz, {self.duration:.3f} s ({self.n_samples} samples), n_fft={self.n_fft}, "
                f"hop={self.hop_length}, {kind} x {self.n_frames} frames, floor {self.db_floor:g} dB")

    # ----------------------------------------------------------------- shortcuts
    def spectrogram_db(self, y: np.ndarray) -> np.ndarray:
        """``spectrogram_db(y, self)``: waveform ``(..., n_samples)`` -> dB ``(..., n_freq, n_frames)``."""
        return spectrogram_db(y, self)

    def db_to_magnitude(self, s_db: np.ndarray) -> np.ndarray:
        """``db_to_magnitude(s_db, self)``: dB -> linear magnitude (mel magnitude when ``n_mels``)."""
        return db_to_magnitude(s_db, self)


def _as_float_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ParameterError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def stft_magnitude(y: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Magnitude of librosa's STFT: ``np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))``.

    Parameters
    ----------
    y : waveform(s) ``(..., n_samples)``; batches are transformed in one call.

    n_fft, hop_length : FFT/window size and hop, in samples (whole numbers >= 1).

    Returns
    -------
    float32 ``(..., 1 + n_fft // 2, 1 + n_samples // hop_length)`` (even ``n_fft``; see
    :func:`n_stft_frames`), linear magnitude, >= 0.
    """
    import librosa

    for name, value in (("n_fft", n_fft), ("hop_length", hop_length)):
        checks.whole_number(value, name, 1, what="a whole number of samples")
    y = _as_float_array(y, "y").astype(np.float32, copy=False)
    if y.ndim == 0 or y.shape[-1] == 0:
        raise ParameterError(f"y: expected a waveform (..., n_samples) with samples, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ParameterError("y: contains NaN or infinite samples")
    spec = librosa.stft(y, n_fft=n_fft, hop_length=hop_length, window="hann", center=True)
    return np.abs(spec).astype(np.float32, copy=False)


def mel_filterbank(*, sr: int, n_fft: int, n_mels: int, fmin: float = 0.0,
                   fmax: float | None = None) -> np.ndarray:
    """Slaney-normalized mel filterbank ``(n_mels, 1 + n_fft // 2)`` (``librosa.filters.mel``), float32."""
    return _cached_mel_filterbank(sr, n_fft, n_mels, fmin, fmax).copy()


@functools.lru_cache(maxsize=16)
def _cached_mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    import librosa

    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)
    fb.setflags(write=False)  # shared between calls
    return fb


def amplitude_to_db(magnitude: np.ndarray, *, db_floor: float = -80.0) -> np.ndarray:
    """``20 * log10(max(magnitude, 10 ** (db_floor / 20)))``: linear magnitude -> dB (re 1.0).

    The exact inverse of :func:`db_to_amplitude` for every magnitude at or above the floor.
    Returns float32 with the input's shape.
    """
    checks.number(db_floor, "db_floor", what="a finite number of dB")
    mag = _as_float_array(magnitude, "magnitude").astype(np.float64, copy=False)
    amin = 10.0 ** (db_floor / 20.0)
    return (20.0 * np.log10(np.maximum(mag, amin))).astype(np.float32)


def db_to_amplitude(s_db: np.ndarray) -> np.ndarray:
    """``10 ** (s_db / 20)``: dB (re 1.0) -> linear magnitude, float32."""
    s = _as_float_array(s_db, "s_db").astype(np.float64, copy=False)
    return np.asarray(10.0 ** (s / 20.0), dtype=np.float32)


def spectrogram_db(y: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """Waveform(s) ``(..., n_samples)`` -> log-magnitude ``(..., config.n_freq, frames)`` in dB.

    STFT magnitude, then the mel filterbank when ``config.n_mels`` is set, then dB clipped to
    ``[config.db_floor, config.db_ceiling]``. The waveform is *not* padded here: call
    :func:`vae_audio.dsp.audio.pad_or_truncate` first for fixed-size model inputs.
    """
    mag = stft_magnitude(y, n_fft=config.n_fft, hop_length=config.hop_length)
    if config.n_mels is not None:
        fb = _cached_mel_filterbank(config.sr, config.n_fft, config.n_mels, config.fmin, config.fmax)
        mag = np.matmul(fb, mag)
    s_db = amplitude_to_db(mag, db_floor=config.db_floor)
    if config.db_ceiling is not None:
        np.minimum(s_db, config.db_ceiling, out=s_db)
    return s_db


def db_to_magnitude(s_db: np.ndarray, config: SpectrogramConfig) -> np.ndarray:
    """dB spectrogram -> linear magnitude ``(..., config.n_freq, frames)``.

    Values at the floor (``config.db_floor``) are treated as silence and map to 0, so the
    floor does not add a constant hiss to reconstructed audio. For mel configs the result is
    a mel magnitude; :mod:`vae_audio.dsp.phase` inverts the filterbank. Scalars and lists are
    accepted; NaN/inf raise :class:`ParameterError` (a diverged model, not a spectrogram).
    """
    s = _as_float_array(s_db, "s_db")
    if not np.all(np.isfinite(s)):
        raise ParameterError("s_db: contains NaN or infinite values")
    mag = db_to_amplitude(s)
    mag[s <= config.db_floor + 1e-3] = 0.0
    return mag


@dataclass
class Normalizer:
    """Maps dB spectrograms to [0, 1] and back; JSON-serializable, saved with every model.

    Modes
    -----
    ``"global"`` (default): one dB range for the whole dataset, ``[low_db, high_db]``, fitted on
        the training set (:meth:`fit`) or fixed (:meth:`fixed`). Any spectrogram, including
        one sampled from the prior, can be unnormalized with no extra information.
    ``"per_clip"``: each clip is scaled by its own min/max (the original blog recipe).
        :meth:`normalize` can return each clip's stats for an exact inverse; :meth:`fit`
        stores the average clip range, used to unnormalize prior samples that have no stats.

    ``unnormalize(normalize(x))`` returns ``x`` to within float32 rounding (< 1e-4 dB) for
    values inside the range. A constant (silent) spectrogram normalizes to 0 and comes back
    exactly; no division by zero occurs.
    """

    mode: str = "global"
    low_db: float | None = None
    high_db: float | None = None
    clip: bool = True
    _seen: int = field(default=0, init=False, repr=False, compare=False)  # clips behind a per-clip fit

    MODES = ("global", "per_clip")
    EPS_DB = 1e-6

    def __post_init__(self) -> None:
        if self.mode not in self.MODES:
            raise ConfigError(f"Normalizer mode={self.mode!r}: expected one of {self.MODES}")
        if not isinstance(self.clip, (bool, np.bool_)):
            raise ConfigError(f"Normalizer.clip={self.clip!r}: expected True or False")
        self.clip = bool(self.clip)
        for name in ("low_db", "high_db"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name,
                        checks.number(v, f"Normalizer.{name}", error=ConfigError, what="a finite number of dB"))
        if self.is_fitted and self.high_db < self.low_db:
            raise ConfigError(f"Normalizer: high_db={self.high_db} is below low_db={self.low_db}")

    @classmethod
    def fixed(cls, low_db: float, high_db: float) -> "Normalizer":
        """A global normalizer for the fixed range ``[low_db, high_db]`` (no fitting needed)."""
        return cls(mode="global", low_db=low_db, high_db=high_db)

    @property
    def is_fitted(self) -> bool:
        return self.low_db is not None and self.high_db is not None

    def fit(self, spectrograms_db: np.ndarray) -> "Normalizer":
        """Fit on training spectrograms ``(..., freq, frames)`` in dB; returns ``self``.

        Global mode: the overall min and max. Per-clip mode: the mean of the clips' mins and
        maxes (the range used for prior samples). Bad input raises before anything changes.
        """
        fresh = dataclasses.replace(self, low_db=None, high_db=None).partial_fit(spectrograms_db)
        self.low_db, self.high_db, self._seen = fresh.low_db, fresh.high_db, fresh._seen
        return self

    def partial_fit(self, spectrograms_db: np.ndarray) -> "Normalizer":
        """Update the fit with one more chunk of spectrograms (streaming over a dataset).

        Global mode widens the current range (also a fixed or loaded one). Per-clip mode keeps a
        running mean weighted by clip count; a range that was set by hand or loaded with
        :meth:`from_dict` carries no count, so the first chunk replaces it.
        """
        x = self._check_spectrograms(spectrograms_db)
        if self.mode == "global":
            lo, hi, n = float(x.min()), float(x.max()), 1
            if self.is_fitted:
                lo, hi = min(lo, self.low_db), max(hi, self.high_db)
        else:
            clips = x.reshape(-1, x.shape[-2] * x.shape[-1]).astype(np.float64)
            n = clips.shape[0]
            lo, hi = float(clips.min(axis=1).mean()), float(clips.max(axis=1).mean())
            if self.is_fitted and self._seen:
                total = self._seen + n
                lo = (self.low_db * self._seen + lo * n) / total
                hi = (self.high_db * self._seen + hi * n) / total
        self.low_db, self.high_db = lo, hi
        self._seen += n
        return self

    @staticmethod
    def _check_spectrograms(spectrograms_db: Any, name: str = "spectrograms_db") -> np.ndarray:
        x = _as_float_array(spectrograms_db, name)
        if x.ndim < 2 or x.shape[-1] == 0 or x.shape[-2] == 0:
            raise ParameterError(f"{name}: expected (..., freq, frames), got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ParameterError(f"{name}: contains NaN or infinite values")
        return x

    def _require_fit(self) -> None:
        if not self.is_fitted:
            raise ConfigError("Normalizer is not fitted: call fit() on training spectrograms or use Normalizer.fixed()")

    def clip_stats(self, spectrograms_db: np.ndarray) -> dict[str, np.ndarray]:
        """Per-clip ``{"low_db": (...,), "high_db": (...,)}`` of spectrograms ``(..., freq, frames)``."""
        x = _as_float_array(spectrograms_db, "spectrograms_db").astype(np.float64)
        return {"low_db": x.min(axis=(-2, -1)), "high_db": x.max(axis=(-2, -1))}

    def _range(self, stats: Mapping[str, Any] | None, batch_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        if stats is None:
            self._require_fit()
            return np.float64(self.low_db), np.float64(self.high_db)
        try:
            lo = np.asarray(stats["low_db"], dtype=np.float64)
            hi = np.asarray(stats["high_db"], dtype=np.float64)
            if np.broadcast_shapes(lo.shape, hi.shape, batch_shape) != tuple(batch_shape):
                raise ValueError(f"got shapes {lo.shape} and {hi.shape}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(
                f"stats: expected {{'low_db', 'high_db'}} arrays shaped like the batch {batch_shape} "
                f"(from normalize(..., return_stats=True)): {' '.join(str(exc).split())}"
            ) from None
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ParameterError("stats: low_db/high_db contain NaN or infinite values")
        return lo[..., None, None], hi[..., None, None]

    def normalize(self, spectrograms_db: np.ndarray, *, return_stats: bool = False):
        """dB ``(..., freq, frames)`` -> float32 in [0, 1] (clipped when ``self.clip``).

        In per-clip mode each clip uses its own range; with ``return_stats=True`` the result is
        ``(normalized, stats)`` where ``stats`` feeds :meth:`unnormalize`.
        """
        x = self._check_spectrograms(spectrograms_db).astype(np.float64)
        stats = self.clip_stats(x) if self.mode == "per_clip" else None
        lo, hi = self._range(stats, x.shape[:-2])
        out = (x - lo) / np.maximum(hi - lo, self.EPS_DB)
        if self.clip:
            np.clip(out, 0.0, 1.0, out=out)
        out = out.astype(np.float32)
        if return_stats:
            if stats is None:
                stats = {"low_db": np.full(x.shape[:-2], self.low_db), "high_db": np.full(x.shape[:-2], self.high_db)}
            return out, stats
        return out

    def unnormalize(self, normalized: np.ndarray, stats: Mapping[str, Any] | None = None) -> np.ndarray:
        """[0, 1] ``(..., freq, frames)`` -> dB, float32.

        ``stats`` (from ``normalize(..., return_stats=True)``) gives each clip's range; without it
        the fitted range is used (the only option for spectrograms sampled from the prior).
        """
        y = _as_float_array(normalized, "normalized").astype(np.float64)
        if y.ndim < 2:
            raise ParameterError(f"normalized: expected (..., freq, frames), got shape {y.shape}")
        lo, hi = self._range(stats, y.shape[:-2])
        return (lo + y * np.maximum(hi - lo, self.EPS_DB)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable state."""
        return {"mode": self.mode, "low_db": self.low_db, "high_db": self.high_db, "clip": self.clip}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Normalizer":
        """Inverse of :meth:`to_dict`."""
        check_json_object(data, "normalizer", {"mode", "low_db", "high_db", "clip"})
        return cls(mode=data.get("mode", "global"), low_db=data.get("low_db"), high_db=data.get("high_db"),
                   clip=data.get("clip", True))
