"""Noise texture for decoded spectrograms: the grain a decoder averages away, drawn again.

A decoder trained on a likelihood predicts the mean of what it cannot know, and the exact values of
a noise-like sound's spectrogram (a snare, a hat, breath, a fricative) are such a thing: each cell of
a noise's STFT magnitude scatters around the spectral envelope (Rayleigh-distributed, about 5.6 dB of
spread in dB), while the decoded spectrogram is the envelope alone, smooth from frame to frame and bin
to bin. Perceptual audio coders answer the same loss with noise substitution (AAC's PNS): they send a
band's envelope and let the decoder draw the noise.

:class:`NoiseTexture` does that on dB spectrograms ``(..., freq, frames)``: to every cell above the
floor it adds ``amount[band] * noisiness * 20 log10(|STFT(w)| / rms)`` of a seeded white noise ``w``
(:func:`noise_grain`: the STFT of the model's own ``n_fft`` / ``hop_length``, so the grain has a real
STFT's correlation across bins and frames), where ``noisiness`` (:func:`noisiness`, in [0, 1]) is high
on a smooth envelope and low between resolved harmonics, which keep their shape.
:func:`fit_noise_texture` sets one amount per frequency band so that the textured reconstructions of
training clips are as rough (:func:`texture_roughness`) as the clips themselves after the phase step,
which smooths part of the grain again; a band the decoder already renders as rough gets 0.
Measurements: ``docs/experiments/rules.md`` (Noise texture).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError

__all__ = ["NoiseTexture", "fit_noise_texture", "texture_mismatch", "texture_roughness", "audio_roughness",
           "rendered_roughness", "noise_grain", "noisiness", "DEFAULT_BANDS", "ACTIVE_DB", "MAX_AMOUNT", "FIT_CLIPS",
           "RENDER_CLIPS"]

#: frequency bands with their own amount (equal numbers of bins)
DEFAULT_BANDS = 8
#: cells within this many dB of a spectrogram's loudest count as active in :func:`texture_roughness`
ACTIVE_DB = 50.0
#: the largest amount :func:`fit_noise_texture` tries (1.0: a full noise's grain)
MAX_AMOUNT = 2.0
#: training clips :func:`fit_noise_texture` renders through the phase step to measure what it smooths, at most
#: how many times, and the shortfall it accepts (0.03: within 3 % of the rendered clips' roughness)
RENDER_CLIPS = 16
RENDER_ROUNDS = 3
RENDER_TOLERANCE = 0.03
#: training reconstructions the amounts are fitted on (the training stage's choice)
FIT_CLIPS = 128
#: the amounts' grid
_STEP = 0.05
#: :func:`noisiness`: the neighbourhood along frequency whose flatness says how noise-like a cell is, in bins,
#: and the power the flatness is raised to (2: a half-flat neighbourhood gets a quarter of the grain)
FLATNESS_WIDTH = 9
FLATNESS_POWER = 2.0


def noise_grain(shape: tuple[int, ...], *, n_fft: int, hop_length: int, seed: int | None,
                keys: list[int] | None = None) -> np.ndarray:
    """The dB grain of white noise: ``20 log10(|STFT| / rms(|STFT|))`` of seeded white noise, float32
    ``shape == (..., 1 + n_fft // 2, frames)``; mean about -2.5 dB, so the added energy is unchanged.
    Spectrogram ``i`` (in C order over the leading axes) draws its own noise from ``[seed, keys[i]]``
    (``keys`` default: ``i``); ``seed=None`` draws fresh entropy."""
    from .features import stft_magnitude

    *lead, n_freq, frames = shape
    if n_freq != 1 + n_fft // 2:
        raise ConfigError(f"noise_grain: {n_freq} bins do not match n_fft {n_fft} ({1 + n_fft // 2} bins)")
    count, n = int(np.prod(lead, dtype=np.int64)), max(1, frames - 1) * hop_length
    keys = list(range(count)) if keys is None else keys
    w = np.stack([np.random.default_rng(None if seed is None else [seed, k]).standard_normal(n, np.float32)
                  for k in keys]).reshape(*lead, n)
    mag = stft_magnitude(w, n_fft=n_fft, hop_length=hop_length)[..., :frames].astype(np.float64)
    mag /= np.sqrt(np.mean(mag[..., 2:-2, :] ** 2, axis=(-2, -1), keepdims=True))  # edge bins are not Rayleigh
    return (20.0 * np.log10(np.maximum(mag, 1e-6))).astype(np.float32)


def noisiness(s_db: np.ndarray) -> np.ndarray:
    """How noise-like each cell of dB spectrograms ``(..., freq, frames)`` is, in [0, 1]: the spectral
    flatness (geometric over arithmetic mean of the power) of its :data:`FLATNESS_WIDTH`-bin
    neighbourhood, raised to :data:`FLATNESS_POWER`. A smooth envelope (what a decoder renders for noise)
    is near 1; resolved harmonics, with valleys between them, are near 0. float32, the input's shape."""
    from scipy.ndimage import uniform_filter1d

    db = np.asarray(s_db, np.float64)
    log_mean = uniform_filter1d(db, FLATNESS_WIDTH, axis=-2, mode="nearest")  # dB of the geometric mean
    peak = db.max(axis=(-2, -1), keepdims=True)
    mean = uniform_filter1d(10.0 ** ((db - peak) / 10.0), FLATNESS_WIDTH, axis=-2, mode="nearest")
    flat = 10.0 ** ((log_mean - peak) / 10.0) / np.maximum(mean, 1e-30)
    return (np.clip(flat, 0.0, 1.0) ** FLATNESS_POWER).astype(np.float32)


def texture_roughness(s_db: np.ndarray, bands: int = DEFAULT_BANDS, *, active: np.ndarray | None = None) -> np.ndarray:
    """How rough dB spectrograms ``(n, freq, frames)`` are: per band, the mean absolute change from frame to
    frame and from bin to bin (dB), over the active cells (default: within :data:`ACTIVE_DB` of each clip's
    loudest) pooled over the clips. Returns float64 ``(bands, 2)`` (frame change, bin change); NaN where a
    band has no active cells."""
    db = np.asarray(s_db, np.float64)
    if active is None:
        active = db >= db.max(axis=(-2, -1), keepdims=True) - ACTIVE_DB
    dt, df = np.abs(np.diff(db, axis=-1)), np.abs(np.diff(db, axis=-2))
    at, af = active[..., 1:] & active[..., :-1], active[..., 1:, :] & active[..., :-1, :]
    out = np.full((bands, 2), np.nan)
    for b, idx in enumerate(np.array_split(np.arange(db.shape[-2]), bands)):
        lo, hi = idx[0], idx[-1] + 1
        if at[:, lo:hi].any():
            out[b, 0] = dt[:, lo:hi][at[:, lo:hi]].mean()
        hi_f = min(hi, db.shape[-2] - 1)
        if af[:, lo:hi_f].any():
            out[b, 1] = df[:, lo:hi_f][af[:, lo:hi_f]].mean()
    return out


@dataclasses.dataclass(frozen=True)
class NoiseTexture:
    """Add a seeded noise's grain to dB spectrograms ``(..., n_freq, frames)``; see the module docstring.

    ``amounts``: one amount in [0, :data:`MAX_AMOUNT`] per band, the bands splitting the ``n_freq`` bins
    into equal parts (``numpy.array_split``); ``db_floor``: cells at or below it are silence and stay so.
    """

    n_fft: int
    hop_length: int
    db_floor: float
    amounts: tuple[float, ...]

    def __post_init__(self) -> None:
        n_freq = 1 + self.n_fft // 2 if isinstance(self.n_fft, int) else 0
        ok = (isinstance(self.hop_length, int) and self.hop_length >= 1 and n_freq >= 2
              and isinstance(self.db_floor, (int, float)) and np.isfinite(self.db_floor)
              and 1 <= len(self.amounts) <= n_freq
              and all(np.isfinite(a) and 0.0 <= a <= MAX_AMOUNT for a in self.amounts))
        if not ok:
            raise ConfigError(f"NoiseTexture(n_fft={self.n_fft!r}, hop_length={self.hop_length!r}, "
                              f"db_floor={self.db_floor!r}, amounts={self.amounts!r}): expected n_fft >= 2, "
                              f"hop_length >= 1, a finite floor and between 1 and 1 + n_fft // 2 amounts "
                              f"in [0, {MAX_AMOUNT}]")

    @property
    def n_freq(self) -> int:
        return 1 + self.n_fft // 2

    @property
    def active(self) -> bool:
        """Whether any band gets grain."""
        return any(a > 0 for a in self.amounts)

    def amount_per_bin(self) -> np.ndarray:
        """``(n_freq,)`` float32: each bin's amount."""
        out = np.empty(self.n_freq, np.float32)
        for a, idx in zip(self.amounts, np.array_split(np.arange(self.n_freq), len(self.amounts))):
            out[idx] = a
        return out

    def __call__(self, s_db: np.ndarray, *, seed: int | None = 0) -> np.ndarray:
        """dB spectrograms ``(..., n_freq, frames)`` -> the same with grain (:func:`noise_grain`) where the
        decoded spectrum is noise-like (:func:`noisiness`), float32, at least the floor. Each spectrogram's
        grain is drawn from ``seed`` and its loudness contour (:func:`_content_key`): the same spectrogram gets
        the same grain wherever it sits in a batch, and so does one that differs by float rounding (the same
        clip at another level through a level-free recipe); different sounds get different grain."""
        db = np.asarray(s_db, np.float32)
        if not self.active:
            return db
        keys = [_content_key(one) for one in db.reshape(-1, *db.shape[-2:])]
        grain = noise_grain(db.shape, n_fft=self.n_fft, hop_length=self.hop_length, seed=seed, keys=keys)
        grain = grain * noisiness(db)
        return self._add(db, grain)

    def _add(self, db: np.ndarray, weighted_grain: np.ndarray) -> np.ndarray:
        """``db`` plus each bin's amount times the grain (already weighted by :func:`noisiness`), silence kept."""
        out = np.maximum(db + self.amount_per_bin()[:, None] * weighted_grain, self.db_floor)
        return np.where(db > self.db_floor, out, db).astype(np.float32)

    def describe(self) -> str:
        """One line for reports: ``"noise texture, amounts 0.00-0.85 in 8 bands"``."""
        return f"noise texture, amounts {min(self.amounts):.2f}-{max(self.amounts):.2f} in {len(self.amounts)} bands"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "noise_texture", "n_fft": self.n_fft, "hop_length": self.hop_length,
                "db_floor": float(self.db_floor), "amounts": [float(a) for a in self.amounts]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NoiseTexture":
        """Inverse of :meth:`to_dict`; :class:`ConfigError` for anything else."""
        keys = {"kind", "n_fft", "hop_length", "db_floor", "amounts"}
        if not isinstance(data, Mapping) or data.get("kind") != "noise_texture" or set(data) != keys:
            raise ConfigError(f"texture: expected {{'kind': 'noise_texture', 'n_fft', 'hop_length', 'db_floor', "
                              f"'amounts'}}, got {data!r}")
        amounts = data["amounts"]
        if not isinstance(amounts, list) or not all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                                    for a in amounts):
            raise ConfigError(f"texture: 'amounts' must be a list of numbers, got {amounts!r}")
        return cls(n_fft=data["n_fft"], hop_length=data["hop_length"], db_floor=float(data["db_floor"]),
                   amounts=tuple(float(a) for a in amounts))


def _content_key(s_db: np.ndarray) -> int:
    """A 64-bit key of one dB spectrogram ``(freq, frames)``: a hash of its frame loudness in whole dB, which
    rounding noise of 1e-4 dB moves with a chance of about 1e-4 per frame."""
    power = np.sum(10.0 ** (np.asarray(s_db, np.float64) / 10.0), axis=0)
    contour = np.round(10.0 * np.log10(np.maximum(power, 1e-30))).astype(np.int16)
    return int.from_bytes(hashlib.blake2b(contour.tobytes(), digest_size=8).digest(), "little")


def texture_mismatch(texture: Any, config) -> str | None:
    """Why ``texture`` cannot go with spectrograms of ``config`` (a
    :class:`~vae_audio.dsp.features.SpectrogramConfig`), or ``None`` when it can (``None`` always can)."""
    if texture is None:
        return None
    if not isinstance(texture, NoiseTexture):
        return f"expected None or a NoiseTexture, got {type(texture).__name__}"
    if config.n_mels or (texture.n_fft, texture.hop_length) != (config.n_fft, config.hop_length):
        return (f"a NoiseTexture of n_fft {texture.n_fft} / hop {texture.hop_length} does not fit "
                f"{'mel bands' if config.n_mels else f'n_fft {config.n_fft} / hop {config.hop_length}'}")
    return None


def _fit_amounts(recon: np.ndarray, want: np.ndarray, grain: np.ndarray, db_floor: float) -> list[float]:
    """Per band, the amount (on the 0.05 grid) whose textured ``recon`` is as rough as ``want`` says."""
    have = texture_roughness(recon, len(want)).sum(axis=1)
    live = recon > db_floor
    active = recon >= recon.max(axis=(-2, -1), keepdims=True) - ACTIVE_DB
    amounts = []
    for b, idx in enumerate(np.array_split(np.arange(recon.shape[1]), len(want))):
        smoother = np.isfinite(want[b]) and np.isfinite(have[b]) and have[b] < want[b]
        amounts.append(_band_amount(recon[:, idx], grain[:, idx], live[:, idx], active[:, idx], float(want[b]),
                                    db_floor) if smoother else 0.0)
    return amounts


def _band_amount(recon: np.ndarray, grain: np.ndarray, live: np.ndarray, active: np.ndarray, want: float,
                 db_floor: float) -> float:
    """One band's amount: roughness grows with it, so bisect to the 0.05 grid."""
    def roughness(a: float) -> float:
        textured = np.where(live, np.maximum(recon + a * grain, db_floor), recon)
        return float(texture_roughness(textured, 1, active=active).sum())

    lo, hi = 0.0, MAX_AMOUNT
    if roughness(hi) <= want:
        return MAX_AMOUNT
    while hi - lo > _STEP / 2:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if roughness(mid) < want else (lo, mid)
    return float(min(MAX_AMOUNT, round(round(0.5 * (lo + hi) / _STEP) * _STEP, 2)))


def audio_roughness(audio: np.ndarray, config, bands: int = DEFAULT_BANDS) -> np.ndarray:
    """:func:`texture_roughness` ``(bands, 2)`` of waveforms ``(n, samples)``: their own dB spectrograms with
    ``config``'s analysis (:func:`~vae_audio.dsp.features.spectrogram_db`)."""
    from .features import spectrogram_db

    return texture_roughness(spectrogram_db(np.asarray(audio, np.float32), config), bands)


def rendered_roughness(s_db: np.ndarray, config, bands: int = DEFAULT_BANDS, **phase_kwargs: Any) -> np.ndarray:
    """:func:`audio_roughness` of dB spectrograms ``(n, freq, frames)`` after the phase step (``config``: a linear
    :class:`~vae_audio.dsp.features.SpectrogramConfig`; ``phase_kwargs`` go to the phase step)."""
    from .phase import db_to_audio

    db = np.asarray(s_db, np.float32)
    if db.shape[-1] != config.n_frames:
        config = config.replace(n_samples=(db.shape[-1] - 1) * config.hop_length)
    return audio_roughness(db_to_audio(db, config, **phase_kwargs), config, bands)


def fit_noise_texture(reconstructions_db: np.ndarray, targets_db: np.ndarray, config, *,
                      bands: int = DEFAULT_BANDS, seed: int = 0, render_clips: int = RENDER_CLIPS) -> NoiseTexture:
    """Fit one amount per band on a model's reconstructions of training clips and the clips themselves.

    Both are dB spectrograms ``(n, config.n_freq, frames)``, row for row; ``config`` is the model's linear
    :class:`~vae_audio.dsp.features.SpectrogramConfig`. Per band, the amount (a multiple of 0.05 in
    [0, :data:`MAX_AMOUNT`]) whose textured reconstructions' roughness (:func:`texture_roughness`, frame
    and bin change summed) is closest to the targets'; 0 where the reconstructions are already as rough.
    The phase step smooths part of the grain again (a textured spectrogram is not a consistent STFT), so
    the first ``render_clips`` clips are then rendered both ways and each band aims higher by the share
    the phase step took (the ceiling's roughness over the textured one's, both rendered), up to
    :data:`RENDER_ROUNDS` times, until every band is within :data:`RENDER_TOLERANCE`.
    """
    recon = np.asarray(reconstructions_db, np.float32)
    target = np.asarray(targets_db, np.float32)
    if recon.shape != target.shape or recon.ndim != 3 or recon.shape[1] != config.n_freq or config.n_mels:
        raise ConfigError(f"reconstructions {recon.shape} / targets {target.shape}: expected two "
                          f"(n, {config.n_freq}, frames) linear spectrograms of one shape")
    grain = noise_grain(recon.shape, n_fft=config.n_fft, hop_length=config.hop_length, seed=seed) * noisiness(recon)
    want = texture_roughness(target, bands).sum(axis=1)
    amounts = _fit_amounts(recon, want, grain, config.db_floor)
    texture = NoiseTexture(n_fft=config.n_fft, hop_length=config.hop_length, db_floor=float(config.db_floor),
                           amounts=tuple(amounts))
    if not render_clips:
        return texture
    ceiling = rendered_roughness(target[:render_clips], config, bands).sum(axis=1)
    for _ in range(RENDER_ROUNDS):
        got = rendered_roughness(texture._add(recon[:render_clips], grain[:render_clips]), config, bands).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            lost = np.where(np.isfinite(ceiling / got), ceiling / got, 1.0)
        if np.all(lost <= 1.0 + RENDER_TOLERANCE):
            break
        want = want * np.maximum(lost, 1.0)
        texture = dataclasses.replace(texture, amounts=tuple(_fit_amounts(recon, want, grain, config.db_floor)))
    return texture
