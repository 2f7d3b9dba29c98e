"""A valley postfilter for decoded spectrograms: restores the depth between spectral peaks.

A decoder trained on a likelihood predicts the mean of what it cannot pin down, so its spectra
are smoother than real ones: the valleys between harmonics come back filled in. Speech coders
(the adaptive postfilter of CELP codecs, Chen & Gersho 1995) and statistical speech synthesis
(global-variance compensation, Toda & Tokuda 2007) answer the same over-smoothing the same way:
deepen the valleys, leave the peaks alone.

:class:`ValleyPostfilter` works on normalized spectrograms ``(..., freq, frames)`` in [0, 1]
(what a decoder outputs). Each bin's deviation from a moving average of ``width`` bins along
frequency (its local envelope) is multiplied by a per-band ``gain`` >= 1 where it is negative (a
valley); peaks, and therefore the loud bins that decide the spectral convergence, are unchanged.
Bins at 0 (digital silence) stay 0, and the result is clipped to [0, 1].
:func:`fit_valley_postfilter` sets the gains from a model's reconstructions of its training clips:
per band, the ratio of the real spectra's fine-structure spread to the reconstructions' (the
global-variance ratio), raised by ``strength``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError

__all__ = ["ValleyPostfilter", "fit_valley_postfilter", "postfilter_mismatch", "DEFAULT_WIDTH", "DEFAULT_BANDS",
           "DEFAULT_STRENGTH"]

#: moving-average width along frequency, in bins (FSDD: 9 bins of 31 Hz, about two harmonics of a voice)
DEFAULT_WIDTH = 9
#: frequency bands with their own gain (equal numbers of bins)
DEFAULT_BANDS = 8
#: how far past the global-variance ratio the gains go: ``gain = 1 + strength * (ratio - 1)``; the
#: phase step fills valleys in again, so matching the spread of the spectrogram is not enough
#: (measured on FSDD: docs/experiments/postfilter.md)
DEFAULT_STRENGTH = 2.0


def _envelope(x: np.ndarray, width: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(x, width, axis=-2, mode="nearest")


@dataclasses.dataclass(frozen=True)
class ValleyPostfilter:
    """Deepen the valleys of normalized spectrograms ``(..., freq, frames)``; see the module docstring.

    ``width``: moving-average width in bins (odd, >= 3); ``gains``: one gain >= 1 per band, the
    bands splitting the ``n_freq`` bins into equal parts (``numpy.array_split``).
    """

    n_freq: int
    width: int
    gains: tuple[float, ...]

    def __post_init__(self) -> None:
        ok = (isinstance(self.n_freq, int) and isinstance(self.width, int) and self.width >= 3
              and self.width % 2 == 1 and 1 <= len(self.gains) <= self.n_freq
              and all(np.isfinite(g) and g >= 1.0 for g in self.gains))
        if not ok:
            raise ConfigError(f"ValleyPostfilter(n_freq={self.n_freq!r}, width={self.width!r}, gains={self.gains!r}): "
                              f"expected an odd width >= 3 and between 1 and n_freq finite gains >= 1")

    def gain_per_bin(self) -> np.ndarray:
        """``(n_freq,)`` float32: each bin's gain."""
        out = np.empty(self.n_freq, np.float32)
        for g, idx in zip(self.gains, np.array_split(np.arange(self.n_freq), len(self.gains))):
            out[idx] = g
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Normalized spectrograms ``(..., n_freq, frames)`` in [0, 1] -> the same shape, float32."""
        x = np.asarray(x, np.float32)
        dev = np.minimum(x - _envelope(x, self.width), 0.0)
        y = x + (self.gain_per_bin()[:, None] - 1.0) * dev
        return np.where(x > 0.0, np.clip(y, 0.0, 1.0), 0.0).astype(np.float32)

    def describe(self) -> str:
        """One line for reports: ``"valley, 9-bin envelope, gains 1.18-2.05 in 8 bands"``."""
        return (f"valley, {self.width}-bin envelope, gains {min(self.gains):.2f}-{max(self.gains):.2f} "
                f"in {len(self.gains)} bands")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "valley", "n_freq": self.n_freq, "width": self.width, "gains": [float(g) for g in self.gains]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ValleyPostfilter":
        """Inverse of :meth:`to_dict`; :class:`ConfigError` for anything else."""
        if (not isinstance(data, Mapping) or data.get("kind") != "valley"
                or set(data) != {"kind", "n_freq", "width", "gains"}):
            raise ConfigError(f"postfilter: expected {{'kind': 'valley', 'n_freq', 'width', 'gains'}}, got {data!r}")
        gains = data["gains"]
        if not isinstance(gains, list) or not all(isinstance(g, (int, float)) and not isinstance(g, bool)
                                                  for g in gains):
            raise ConfigError(f"postfilter: 'gains' must be a list of numbers, got {gains!r}")
        return cls(n_freq=data["n_freq"], width=data["width"], gains=tuple(float(g) for g in gains))


def postfilter_mismatch(postfilter: Any, n_freq: int) -> str | None:
    """Why ``postfilter`` cannot filter spectrograms of ``n_freq`` bins, or ``None`` when it can
    (``None`` itself, no postfilter, always can)."""
    if postfilter is None or (isinstance(postfilter, ValleyPostfilter) and postfilter.n_freq == n_freq):
        return None
    got = (f"one that covers {postfilter.n_freq} bins" if isinstance(postfilter, ValleyPostfilter)
           else type(postfilter).__name__)
    return f"expected None or a ValleyPostfilter over {n_freq} bins, got {got}"


def fit_valley_postfilter(reconstructions: np.ndarray, targets: np.ndarray, *, width: int = DEFAULT_WIDTH,
                          bands: int = DEFAULT_BANDS, strength: float = DEFAULT_STRENGTH) -> ValleyPostfilter:
    """Fit the gains on a model's reconstructions of training spectrograms and the spectrograms themselves.

    Both are normalized ``(n, n_freq, frames)`` in [0, 1], row for row. Per band, over the bins the
    reconstruction does not leave silent: ``ratio = rms(target - envelope(target)) /
    rms(recon - envelope(recon))``, ``gain = max(1, 1 + strength * (ratio - 1))``.
    """
    recon = np.asarray(reconstructions, np.float64)
    target = np.asarray(targets, np.float64)
    if recon.shape != target.shape or recon.ndim != 3:
        raise ConfigError(f"reconstructions {recon.shape} / targets {target.shape}: expected two "
                          f"(n, freq, frames) arrays of one shape")
    d_hat = recon - _envelope(recon, width)
    d = target - _envelope(target, width)
    audible = recon > 0
    gains = []
    for idx in np.array_split(np.arange(recon.shape[1]), bands):
        sel = audible[:, idx]
        den = float(np.mean(d_hat[:, idx][sel] ** 2)) if sel.any() else 0.0
        ratio = float(np.sqrt(np.mean(d[:, idx][sel] ** 2) / den)) if den > 0 else 1.0
        gains.append(max(1.0, 1.0 + strength * (ratio - 1.0)))
    return ValleyPostfilter(n_freq=int(recon.shape[1]), width=int(width), gains=tuple(gains))
