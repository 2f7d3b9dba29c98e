"""The preprocessing recipe: every step from a waveform to a model input, and back, in one object.

A model only understands inputs made exactly as its training set's were. :class:`Recipe`
owns all of it, is saved in every model bundle (``config.json["recipe"]``) and is what training,
``reconstruct``, ``generate``, ``evaluate`` and the notebooks call:

1. silence trim (``trim_db``, optional) and pad/truncate to ``spectrogram.n_samples``;
2. level normalization (``level``): per clip (``"peak"``, ``"rms"``), one gain for the whole dataset
   (``"folder"``: :attr:`Recipe.folder_gain`, fitted on the training split by :func:`fit_folder_gain`,
   so the clips keep their levels relative to each other) or none (``None``);
3. the dB spectrogram of :class:`~vae_audio.dsp.features.SpectrogramConfig` (sample rate, STFT,
   optional mel bands, dB floor/ceiling);
4. the fitted :class:`~vae_audio.dsp.features.Normalizer` to [0, 1].

The way back (:meth:`Recipe.to_db`, then :func:`vae_audio.dsp.phase.db_to_audio`) undoes 4 and
3; :meth:`Recipe.prepare` returns the gain of step 2 so a reconstruction can be given back at
the level of the clip it came from (per-clip levels only: :attr:`Recipe.per_clip_level`). The
folder gain is undone nowhere: a model's outputs are at the folder's level, where a clip recorded
25 dB under the others stays 25 dB under them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .. import checks
from ..errors import ConfigError, ParameterError
from .audio import load_audio, pad_or_truncate
from .features import Normalizer, SpectrogramConfig, check_json_object

__all__ = ["Recipe", "LEVEL_MODES", "PEAK_TARGET", "RMS_TARGET_DB", "FOLDER_PERCENTILE", "normalize_level",
           "level_gain", "fit_folder_gain", "check_level", "check_trim", "check_folder_gain"]

#: Loudness normalization modes: per clip (``"peak"``, ``"rms"``), one gain for the dataset (``"folder"``)
#: or none (``None``, the level as recorded).
LEVEL_MODES: tuple[str | None, ...] = ("peak", "rms", "folder", None)
#: ``level="peak"`` scales each clip to this peak; ``level="folder"`` brings the training clips'
#: :data:`FOLDER_PERCENTILE` th percentile peak to it.
PEAK_TARGET = 0.9
#: ``level="folder"``: the percentile of the training clips' peaks that the folder gain brings to
#: :data:`PEAK_TARGET` (NumPy's ``method="lower"``: always one clip's own peak, below the loudest one's
#: as soon as there are two clips, so one stray loud file never sets the level).
FOLDER_PERCENTILE = 99.0
#: ``level="rms"`` scales each clip to this RMS level (dBFS), unless that would push the peak past 0.99.
RMS_TARGET_DB = -20.0
_PEAK_LIMIT = 0.99
_TINY = 1e-12


def level_gain(y: np.ndarray, mode: str | None, folder_gain: float | None = None) -> np.ndarray:
    """The gain ``(..., 1)`` float32 that :func:`normalize_level` applies to ``y`` ``(..., n_samples)``.

    ``"peak"``: to a peak of :data:`PEAK_TARGET`; ``"rms"``: to :data:`RMS_TARGET_DB` RMS, but never
    beyond a peak of 0.99; ``"folder"``: ``folder_gain`` (linear, the same for every clip; required);
    ``None``: 1. Silent clips get a gain of 1.
    """
    y = np.asarray(y, dtype=np.float32)
    if mode is None:
        return np.ones((*y.shape[:-1], 1), dtype=np.float32)
    if mode == "folder":
        if folder_gain is None:
            raise ConfigError("level='folder': no folder gain yet; fit it on the training split (fit_folder_gain)")
        return np.full((*y.shape[:-1], 1), check_folder_gain(folder_gain), dtype=np.float32)
    peak = np.max(np.abs(y), axis=-1, keepdims=True)
    if mode == "peak":
        gain = PEAK_TARGET / np.maximum(peak, _TINY)
    else:
        rms = np.sqrt(np.mean(np.square(y, dtype=np.float64), axis=-1, keepdims=True))
        gain = np.minimum(10.0 ** (RMS_TARGET_DB / 20.0) / np.maximum(rms, _TINY),
                          _PEAK_LIMIT / np.maximum(peak, _TINY))
    return np.where(peak > 0, gain, 1.0).astype(np.float32)


def normalize_level(y: np.ndarray, mode: str | None, folder_gain: float | None = None) -> np.ndarray:
    """Loudness normalization of waveforms ``(..., n_samples)`` (float32, a new array).

    ``mode`` is one of :data:`LEVEL_MODES` (``"folder"`` with its ``folder_gain``); see
    :func:`level_gain`. Silent clips stay silent.
    """
    y = np.asarray(y, dtype=np.float32)
    return (y * level_gain(y, check_level(mode), folder_gain)).astype(np.float32)


def fit_folder_gain(peaks: np.ndarray) -> float:
    """The ``level="folder"`` gain (linear) of a dataset from its training clips' peaks ``(n,)`` (linear, >= 0).

    The gain brings the :data:`FOLDER_PERCENTILE` th percentile of the peaks (``method="lower"``: a
    clip's own peak, the second loudest of up to 100 clips, the 4th loudest of 202) to
    :data:`PEAK_TARGET` (0.9). Silent clips (peak 0) are left out; with none left the gain is 1.
    The clips louder than that percentile end above 0.9, possibly beyond full scale: the arrays
    are float32, and written files are scaled down to 0.99 like every generated clip.
    """
    p = np.asarray(peaks, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ParameterError("peaks: expected finite peak levels >= 0")
    p = p[p > 0]
    if p.size == 0:
        return 1.0
    return float(PEAK_TARGET / np.percentile(p, FOLDER_PERCENTILE, method="lower"))


def check_level(level: Any) -> str | None:
    """``level`` if it is one of :data:`LEVEL_MODES`, else :class:`ParameterError`."""
    if level not in LEVEL_MODES:
        raise ParameterError(f"level={level!r}: expected 'peak', 'rms', 'folder' or None")
    return level


def check_folder_gain(gain: Any) -> float:
    """``gain`` as a finite float > 0 (a linear factor), else :class:`ConfigError`."""
    return checks.number(gain, "folder_gain", 0, lo_open=True, what="a linear gain", error=ConfigError)


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
    level : loudness normalization, per clip ``"peak"`` (to 0.9) or ``"rms"`` (to -20 dBFS), one gain
        for the dataset ``"folder"`` (:attr:`folder_gain`), or ``None`` (as recorded).
    trim_db : strip leading/trailing silence quieter than this many dB below the clip's peak
        before padding (``None``: off).
    normalizer : the :class:`Normalizer` fitted on the training split (``None`` until fitted;
        :meth:`featurize` and :meth:`to_db` need it).
    folder_gain : ``level="folder"`` only: the linear gain every clip is multiplied by, fitted on
        the training split (:func:`fit_folder_gain`; ``None`` until fitted, :meth:`prepare` needs it).
    """

    spectrogram: SpectrogramConfig
    level: str | None = None
    trim_db: float | None = None
    normalizer: Normalizer | None = None
    folder_gain: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.spectrogram, SpectrogramConfig):
            raise ConfigError("Recipe.spectrogram: expected a SpectrogramConfig, "
                              f"got {type(self.spectrogram).__name__}")
        check_level(self.level)
        object.__setattr__(self, "trim_db", check_trim(self.trim_db))
        if self.normalizer is not None and not isinstance(self.normalizer, Normalizer):
            raise ConfigError(f"Recipe.normalizer: expected a Normalizer or None, got {type(self.normalizer).__name__}")
        if self.folder_gain is not None:
            if self.level != "folder":
                raise ConfigError(f"Recipe.folder_gain={self.folder_gain!r}: only level='folder' has a folder gain "
                                  f"(level={self.level!r})")
            object.__setattr__(self, "folder_gain", check_folder_gain(self.folder_gain))

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
        """Whether the fitted parameters are there: the normalizer (needed to featurize and to
        unnormalize) and, for ``level="folder"``, the folder gain."""
        return self.normalizer is not None and self.normalizer.is_fitted and \
            (self.level != "folder" or self.folder_gain is not None)

    @property
    def per_clip_level(self) -> bool:
        """Whether the level step scales each clip by its own gain (``"peak"``, ``"rms"``): the gain a
        reconstruction is divided by to give it back at its input's level. ``"folder"`` and ``None``
        leave the clips' relative levels as they are, and outputs stay at the folder's level."""
        return self.level in ("peak", "rms")

    def with_normalizer(self, normalizer: Normalizer) -> "Recipe":
        """A copy with another (fitted) normalizer."""
        return dataclasses.replace(self, normalizer=normalizer)

    def with_folder_gain(self, gain: float) -> "Recipe":
        """A copy with the (fitted) folder gain of ``level="folder"``."""
        if self.level != "folder":
            raise ConfigError(f"Recipe.with_folder_gain: level={self.level!r} has no folder gain")
        return dataclasses.replace(self, folder_gain=gain)

    def describe(self) -> str:
        """One line for logs."""
        level = f"level {self.level}" if self.level else "level as recorded"
        if self.folder_gain is not None:
            level += f" (gain {20 * np.log10(self.folder_gain):+.1f} dB)"
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
        gain ``(..., 1)`` that was applied (divide by it to get back to the input's level; a
        per-clip level's gain only, :attr:`per_clip_level`). ``level="folder"`` needs the fitted
        :attr:`folder_gain` (else :class:`ConfigError`).
        """
        y = np.asarray(waveforms, dtype=np.float32)
        if self.level == "folder" and self.folder_gain is None:
            raise ConfigError("Recipe: level='folder' and its folder gain is not fitted; fit it on the training split "
                              "first (build_features)")
        y = pad_or_truncate(y, self.n_samples if length is None else int(length), trim_db=self.trim_db)
        gain = level_gain(y, self.level, self.folder_gain)
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
            what = "normalizer" if self.normalizer is None or not self.normalizer.is_fitted else "folder gain"
            raise ConfigError(f"Recipe: its {what} is not fitted; fit it on the training split first")

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict (the ``recipe`` section of a bundle's config.json).

        ``"folder_gain"`` is there only once fitted (recipes without it read as before)."""
        out = {"spectrogram": self.spectrogram.to_dict(), "level": self.level, "trim_db": self.trim_db,
               "normalizer": None if self.normalizer is None else self.normalizer.to_dict()}
        if self.folder_gain is not None:
            out["folder_gain"] = self.folder_gain
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Recipe":
        """Inverse of :meth:`to_dict`; unknown keys or bad values raise :class:`ConfigError`."""
        check_json_object(data, "recipe", {"spectrogram", "level", "trim_db", "normalizer", "folder_gain"})
        if "spectrogram" not in data:
            raise ConfigError("recipe: no 'spectrogram' settings")
        norm = data.get("normalizer")
        return cls(SpectrogramConfig.from_dict(data["spectrogram"]), data.get("level"), data.get("trim_db"),
                   None if norm is None else Normalizer.from_dict(norm), data.get("folder_gain"))
