"""Settings derived from what the data holds: one set of rules for every dataset.

Each rule reads a :class:`~vae_audio.data.inspection.DataSummary` (rates, lengths, levels per label) and
returns ``(value, reason)``; :func:`vae_audio.resolve.resolve_config` puts them into a run's configuration
for every key the user did not give. No rule reads a dataset's name: a renamed copy of a folder gets the
same settings. The constants below are the rules' only numbers; ``docs/experiments/rules.md`` has the
measurements behind them.

Rules that need a measurement (the STFT size whose phase ceiling a listener hears least, the prior's
sampling settings on the validation split, whether a postfilter pays) live in :mod:`vae_audio.tuning`.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .inspection import DataSummary

__all__ = ["SR_CAP", "WINDOW_PERCENTILE", "WINDOW_STEP_S", "WINDOW_MIN_S", "WINDOW_CAP_S", "LEVEL_SPREAD_DB",
           "LEVEL_SHARE", "STFT_WINDOWS_S", "LATENT_ROWS_MAX", "sample_rate", "window", "level", "stft_candidates",
           "default_stft", "grid_options", "rate_of", "window_of", "provisional_config"]

#: the highest sample rate a run resamples to (Hz): files recorded at more are resampled down. Measured
#: against 16 and 44.1 kHz on one-shot hits recorded at 44.1 kHz (docs/experiments/rules.md, Sample rate)
SR_CAP = 22050
#: the training window covers this percentile of the clips' lengths ...
WINDOW_PERCENTILE = 97.5
#: ... rounded to this step (s), and kept within these bounds (s); longer clips are cropped at random
#: offsets each epoch, and reconstruction and generation take any length
WINDOW_STEP_S = 0.05
WINDOW_MIN_S = 0.1
WINDOW_CAP_S = 2.0
#: clips are scaled one by one (to a 0.9 peak) when their peaks spread by more than this within a label (dB)
#: ...
LEVEL_SPREAD_DB = 6.0
#: ... and the labels explain less than this share of the peaks' variance; otherwise one gain for the whole
#: folder keeps every clip's level relative to the others
LEVEL_SHARE = 0.3
#: analysis windows (s) the STFT is chosen from; the hop is a quarter of the window
STFT_WINDOWS_S = (0.016, 0.032, 0.064, 0.128)
#: a grid model halves the frequency axis until its code has at most this many rows
LATENT_ROWS_MAX = 65


def sample_rate(summary: DataSummary) -> tuple[int, str]:
    """The files' own rate (the highest present, so no file loses its top octave), capped at :data:`SR_CAP`."""
    return rate_of(summary.rates)


def rate_of(rates: Iterable[int]) -> tuple[int, str]:
    """:func:`sample_rate` of the files' rates (Hz, one per file or the distinct ones)."""
    rates = sorted(set(int(r) for r in rates))
    native = rates[-1]
    mixed = f" (of {', '.join(str(r) for r in rates)} Hz)" if len(rates) > 1 else ""
    if native > SR_CAP:
        return SR_CAP, f"the files' {native} Hz{mixed}, capped at {SR_CAP} Hz"
    return native, f"the files' own rate{mixed}"


def window(summary: DataSummary) -> tuple[float, str]:
    """The training window (s): the :data:`WINDOW_PERCENTILE` th percentile of the clip lengths, rounded to
    :data:`WINDOW_STEP_S`, within :data:`WINDOW_MIN_S` .. :data:`WINDOW_CAP_S`."""
    return window_of([c.duration_s for c in summary.clips])


def window_of(durations: Iterable[float]) -> tuple[float, str]:
    """:func:`window` of the clips' lengths (s)."""
    lengths = np.asarray(list(durations), dtype=np.float64)
    p = float(np.percentile(lengths, WINDOW_PERCENTILE))
    value = min(max(round(p / WINDOW_STEP_S) * WINDOW_STEP_S, WINDOW_MIN_S), WINDOW_CAP_S)
    value = round(value, 3)
    share = float(np.mean(lengths <= value + 1e-9))
    why = f"{WINDOW_PERCENTILE:g} % of the clips last up to {p:.2f} s; {share:.0%} fit in {value:g} s"
    if p > WINDOW_CAP_S:
        why += " (capped; longer clips are cropped at random offsets each epoch)"
    return value, why


def level(summary: DataSummary) -> tuple[str, str]:
    """``"peak"`` (each clip to a 0.9 peak) when the clips' peaks spread by more than :data:`LEVEL_SPREAD_DB`
    within a label and the labels explain less than :data:`LEVEL_SHARE` of their variance (the recording
    level varies from take to take); else, and always for unlabelled data (nothing tells a sound's own level
    from a take's), ``"folder"`` (one gain for all: a quiet label stays quiet).
    Without measured levels (featurized data): ``"peak"``."""
    peaks = np.array([np.nan if c.peak_db is None or c.silent else c.peak_db for c in summary.clips])
    labels = np.array([c.label or "" for c in summary.clips], dtype=object)
    ok = np.isfinite(peaks)
    if ok.sum() < 2:
        return "peak", "no levels were measured: each clip to a 0.9 peak"
    peaks, labels = peaks[ok], labels[ok]
    groups = [peaks[labels == g] for g in np.unique(labels)]
    within = float(np.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / len(peaks)))
    total = float(((peaks - peaks.mean()) ** 2).sum())
    share = 0.0 if total == 0 or len(groups) < 2 else 1.0 - within ** 2 * len(peaks) / total
    if len(groups) < 2:  # nothing tells a sound's own level from a take's: keep what was recorded
        return "folder", (f"peaks spread {within:.1f} dB and no labels tell a sound's level from a take's: one "
                          f"gain for the folder keeps each clip's level relative to the others")
    facts = f"peaks spread {within:.1f} dB within a label, labels explain {share:.0%}"
    if within > LEVEL_SPREAD_DB and share < LEVEL_SHARE:
        return "peak", f"{facts}: the recording level varies, each clip to a 0.9 peak"
    return "folder", f"{facts}: one gain for the folder keeps each clip's level relative to the others"


def stft_candidates(sr: int) -> list[tuple[int, int]]:
    """``(n_fft, hop_length)`` of each window in :data:`STFT_WINDOWS_S` at ``sr`` Hz (n_fft a power of 2)."""
    out = []
    for seconds in STFT_WINDOWS_S:
        n_fft = int(2 ** round(np.log2(seconds * sr)))
        if (n_fft, n_fft // 4) not in out and n_fft >= 16:
            out.append((n_fft, n_fft // 4))
    return out


def default_stft(sr: int) -> tuple[int, int]:
    """The 32 ms candidate, what a run gets when the choice by measurement is not made."""
    return stft_candidates(sr)[min(1, len(stft_candidates(sr)) - 1)]


def provisional_config(rates: Iterable[int], durations: Iterable[float]):
    """The spectrogram settings of data listed but not yet measured (no run configuration resolved): the
    rate and window of the rules from the files' headers, the 32 ms STFT (:func:`default_stft`)."""
    from ..dsp.features import SpectrogramConfig

    sr, _ = rate_of(rates)
    seconds, _ = window_of(durations)
    n_fft, hop = default_stft(sr)
    return SpectrogramConfig(sr=sr, n_fft=n_fft, hop_length=hop, n_samples=int(round(seconds * sr)))


def grid_options(n_freq: int) -> tuple[dict, str]:
    """A grid model's layers for ``n_freq`` bins: a stride-2x2 layer twice, then stride-2x1 layers until the
    code has at most :data:`LATENT_ROWS_MAX` rows; filters double per layer up to 64."""
    strides = [(2, 2), (2, 2)]
    rows = -(-n_freq // 4)
    while rows > LATENT_ROWS_MAX:
        strides.append((2, 1))
        rows = -(-rows // 2)
    filters = [64 // 2 ** (len(strides) - 1 - i) for i in range(len(strides))]
    options = {"filters": filters, "strides": [list(s) for s in strides]}
    return options, f"{n_freq} bins -> a code of {rows} rows ({len(strides)} frequency halvings)"
