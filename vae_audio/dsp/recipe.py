"""The preprocessing recipe: every step from a waveform to a model input, and back, in one object.

A model only understands inputs made exactly as its training set's were. :class:`Recipe`
owns all of it, is saved in every model bundle (``config.json["recipe"]``) and is what training,
``reconstruct``, ``generate``, ``evaluate`` and the notebooks call:

1. silence trim (``trim_db``, optional) and pad/truncate to ``spectrogram.n_samples``;
2. per-clip level normalization (``level``: ``"peak"``, ``"rms"`` or ``None``);
3. the dB spectrogram of :class:`~vae_audio.dsp.features.SpectrogramConfig` (sample rate, STFT,
   optional mel bands, dB floor/ceiling);
4. the fitted :class:`~vae_audio.dsp.features.Normalizer` to [0, 1].

The way back (:meth:`Recipe.to_db`, then :func:`vae_audio.dsp.phase.db_to_audio`) undoes 4 and
3; :meth:`Recipe.prepare` returns the gain of step 2 so a reconstruction can be given back at
the level of the clip it came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .. import checks
from ..errors import ConfigError, ParameterError
from .audio import load_audio, pad_or_truncate
from .features import Normalizer, SpectrogramConfig, check_json_object

__all__ = ["Recipe", "LEVEL_MODES", "PEAK_TARGET", "RMS_TARGET_DB", "normalize_level", "level_gain", "check_level",
           "check_trim"]

#: Per-clip loudness normalization modes.
LEVEL_MODES: tuple[str | None, ...] = ("peak", "rms", None)
#: ``level="peak"`` scales each clip to this peak.
PEAK_TARGET = 0.9
#: ``level="rms"`` scales each clip to this RMS level (dBFS), unless that would push the peak past 0.99.
RMS_TARGET_DB = -20.0
_PEAK_LIMIT = 0.99
_TINY = 1e-12


def level_gain(y: np.ndarray, mode: str | None) -> np.ndarray:
    """The per-clip gain ``(..., 1)`` float32 that :func:`normalize_level` applies to ``y`` ``(..., n_samples)``.

    ``"peak"``: to a peak of :data:`PEAK_TARGET`; ``"rms"``: to :data:`RMS_TARGET_DB` RMS, but never
    beyond a peak of 0.99; ``None``: 1. Silent clips get a gain of 1.
    """
    y = np.asarray(y, dtype=np.float32)
    if mode is None:
        return np.ones((*y.shape[:-1], 1), dtype=np.float32)
    peak = np.max(np.abs(y), axis=-1, keepdims=True)
    if mode == "peak":
        gain = PEAK_TARGET / np.maximum(peak, _TINY)
    else:
        rms = np.sqrt(np.mean(np.square(y, dtype=np.float64), axis=-1, keepdims=True))
        gain = np.minimum(10.0 ** (RMS_TARGET_DB / 20.0) / np.maximum(rms, _TINY),
                          _PEAK_LIMIT / np.maximum(peak, _TINY))
    return np.where(peak > 0, gain, 1.0).astype(np.float32)


def normalize_level(y: np.ndarray, mode: str | None) -> np.ndarray:
    """Per-clip loudness normalization of waveforms ``(..., n_samples)`` (float32, a new array).

    ``mode`` is one of :data:`LEVEL_MODES`; see :func:`level_gain`. Silent clips stay silent.
    """
    y = np.asarray(y, dtype=np.float32)
    return (y * level_gain(y, check_level(mode))).astype(np.float32)


def check_level(level: Any) -> str | None:
    """``level`` if it is one of :data:`LEVEL_MODES`, else :class:`ParameterError`."""
    if level not in LEVEL_MODES:
        raise ParameterError(f"level={level!r}: expected 'peak', 'rms' or None")
    return level


def check_trim(trim_db: Any) -> float | None:
    """``trim_db`` as a float in (0, 200) dB, or ``None``; else :class:`ParameterError`."""
    if trim_db is None:
        return None
    return checks.number(trim_db, "trim_db", 0, 200, lo_open=True, hi_open=True, what="a number of dB",
                         note=" (e.g. 40) or None")


@dataclass(frozen=True)
class Recipe:
    """Waveform -> normalized spectrogram and back, exactly as a model was trained.

    Attributes
    ----------
    spectrogram : sample rate, clip length (``n_samples``), STFT / mel settings and dB floor.
    level : per-clip loudness normalization, ``"peak"`` (to 0.9), ``"rms"`` (to -20 dBFS) or ``None``.
    trim_db : strip leading/trailing silence quieter than this many dB below the clip's peak
        before padding (``None``: off).
    normalizer : the :class:`Normalizer` fitted on the training split (``None`` until fitted;
        :meth:`featurize` and :meth:`to_db` need it).
    """

    spectrogram: SpectrogramConfig
    level: str | None = None
    trim_db: float | None = None
    normalizer: Normalizer | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.spectrogram, SpectrogramConfig):
            raise ConfigError("Recipe.spectrogram: expected a SpectrogramConfig, "
                              f"got {type(self.spectrogram).__name__}")
        check_level(self.level)
        object.__setattr__(self, "trim_db", check_trim(self.trim_db))
        if self.normalizer is not None and not isinstance(self.normalizer, Normalizer):
            raise ConfigError(f"Recipe.normalizer: expected a Normalizer or None, got {type(self.normalizer).__name__}")

    # ----------------------------------------------------------------- sizes
    @property
    def sr(self) -> int:
        """Sample rate in Hz."""
        return self.spectrogram.sr

    @property
    def n_samples(self) -> int:
        """Clip length in samples."""
        return self.spectrogram.n_samples

    @property
    def shape(self) -> tuple[int, int]:
        """``(freq, frames)`` of one clip's spectrogram."""
        return self.spectrogram.shape

    @property
    def is_fitted(self) -> bool:
        """Whether the normalizer is there and fitted (needed to featurize and to unnormalize)."""
        return self.normalizer is not None and self.normalizer.is_fitted

    def with_normalizer(self, normalizer: Normalizer) -> "Recipe":
        """A copy with another (fitted) normalizer."""
        return Recipe(self.spectrogram, self.level, self.trim_db, normalizer)

    def describe(self) -> str:
        """One line for logs."""
        level = f"level {self.level}" if self.level else "level as recorded"
        trim = f", trim {self.trim_db:g} dB" if self.trim_db is not None else ""
        norm = self.normalizer
        rng = f", {norm.mode} {norm.low_db:.1f}..{norm.high_db:.1f} dB" if self.is_fitted else ""
        return f"{self.spectrogram.describe()}; {level}{trim}{rng}"

    # ----------------------------------------------------------------- the steps
    def prepare(self, waveforms: np.ndarray, *, length: int | None = None,
                return_gain: bool = False):
        """Steps 1-2: waveforms ``(n, samples)`` or ``(samples,)`` at :attr:`sr` -> ``(..., length)`` float32.

        ``length`` defaults to ``spectrogram.n_samples`` (the model's window); a fully
        convolutional model may take longer clips. With ``return_gain`` also returns the level
        gain ``(..., 1)`` that was applied (divide by it to get back to the input's level).
        """
        y = np.asarray(waveforms, dtype=np.float32)
        y = pad_or_truncate(y, self.n_samples if length is None else int(length), trim_db=self.trim_db)
        gain = level_gain(y, self.level)
        y = (y * gain).astype(np.float32)
        return (y, gain) if return_gain else y

    def load(self, path: str | os.PathLike, *, whole: bool = False) -> np.ndarray:
        """Read a file (mono, resampled to :attr:`sr`) and :meth:`prepare` it: ``(n_samples,)`` float32.

        ``whole=True`` keeps the file's full length (rounded up to at least the window) instead of
        padding/truncating to the window. Unreadable files raise
        :class:`~vae_audio.errors.AudioLoadError` naming the file.
        """
        y, _ = load_audio(path, sr=self.sr)
        return self.prepare(y, length=max(self.n_samples, y.shape[-1]) if whole else None)

    def spectrogram_db(self, prepared: np.ndarray) -> np.ndarray:
        """Step 3: prepared waveforms ``(..., samples)`` -> dB ``(..., freq, frames)``."""
        return self.spectrogram.spectrogram_db(prepared)

    def featurize(self, waveforms: np.ndarray, *, prepared: bool = False, return_stats: bool = False):
        """Steps 1-4: waveforms ``(n, samples)`` -> normalized spectrograms ``(n, freq, frames)`` in [0, 1].

        ``prepared=True``: the waveforms already went through :meth:`prepare` (any length).
        With ``return_stats`` returns ``(x, stats)``, the per-clip dB ranges :meth:`to_db` takes.
        """
        self._require_fit()
        y = np.atleast_2d(np.asarray(waveforms, dtype=np.float32))
        if not prepared:
            y = self.prepare(y)
        return self.normalizer.normalize(self.spectrogram_db(y), return_stats=return_stats)

    def to_db(self, normalized: np.ndarray, stats: Mapping[str, Any] | None = None) -> np.ndarray:
        """Undo step 4: ``[0, 1]`` ``(..., freq, frames)`` -> dB (the fitted range, or ``stats``)."""
        self._require_fit()
        return self.normalizer.unnormalize(normalized, stats)

    def _require_fit(self) -> None:
        if not self.is_fitted:
            raise ConfigError("Recipe: its normalizer is not fitted; fit it on the training split first")

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict (the ``recipe`` section of a bundle's config.json)."""
        return {"spectrogram": self.spectrogram.to_dict(), "level": self.level, "trim_db": self.trim_db,
                "normalizer": None if self.normalizer is None else self.normalizer.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Recipe":
        """Inverse of :meth:`to_dict`; unknown keys or bad values raise :class:`ConfigError`."""
        check_json_object(data, "recipe", {"spectrogram", "level", "trim_db", "normalizer"})
        if "spectrogram" not in data:
            raise ConfigError("recipe: no 'spectrogram' settings")
        norm = data.get("normalizer")
        return cls(SpectrogramConfig.from_dict(data["spectrogram"]), data.get("level"), data.get("trim_db"),
                   None if norm is None else Normalizer.from_dict(norm))
