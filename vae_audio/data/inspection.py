"""What a dataset holds, measured before anything is trained on it ("the folder speaks first").

:func:`inspect_dataset` looks at a listed dataset (:func:`~vae_audio.data.datasets.load_dataset`'s
:class:`~vae_audio.data.datasets.AudioDataset`, or the spec itself: ``"synth"``, ``"fsdd"``, a folder) and
returns a :class:`DataSummary`: per clip its file's sample rate, channels, format, duration, levels,
label and split, and the aggregates a person (``vae-audio inspect``) or a rule choosing a run's settings
(:func:`vae_audio.resolve.resolve_config`) reads: counts per rate, channels and format, the length
distribution, the levels per label, the label counts, the files that will be skipped and why.

What is measured, and how
-------------------------
rate (Hz), channels, format, duration (s)
    From every file's header (libsndfile, without decoding the audio): duration = frames / rate.
    ``format`` is libsndfile's container and sample encoding, e.g. ``"FLAC PCM_16"``, ``"WAV FLOAT"``.
peak level (dBFS)
    ``20 log10 max |y|`` of the mono mix ``y`` (the mean of the channels, what
    :func:`~vae_audio.dsp.audio.load_audio` returns and training sees; a stereo file whose channels
    cancel is quieter mixed than either channel). 0 dBFS is full scale (1.0). Levels are floored at
    :data:`FLOOR_DB` (-120 dBFS): a clip at the floor is digital silence.
active RMS level (dBFS)
    The level of the sound itself, not of the silence around it: the mono mix is cut into frames of
    :data:`FRAME_S` (20 ms) every :data:`HOP_S` (10 ms); the *active* frames are those whose mean square
    is within :data:`GATE_DB` (40 dB) of the loudest frame's, and the active RMS is ``10 log10`` of the
    mean of their mean squares. A full-scale sine is -3 dBFS; a 0.1 s hit in a 2 s file has the
    level of the hit (its plain RMS over the file would be 13 dB lower). A clip shorter than a frame
    is one frame.
active length (s)
    From the start of the first active frame to the end of the last one: how long the sound lasts.
rolloff (Hz)
    The frequency below which :data:`ROLLOFF` (99 %) of the clip's energy lies (power spectrum of the
    whole mono mix): a 44.1 kHz file whose rolloff is 5 kHz holds nothing a 16 kHz rate would lose.

Aggregates: percentiles are NumPy's (linear interpolation); a level *spread* is the standard deviation
across clips in dB; silent clips are counted (``n_silent``) but left out of the level statistics.

Cost: headers are read for every file (FSDD's 3000: about 0.2 s). Levels need the audio: every clip is
read when the dataset has at most ``max_level_clips`` (default 4000) clips, else a seeded sample of that
many, drawn in proportion to every (split, label) group, and the summary says so; a file longer than
``max_read_s`` (default 60 s) is measured on its first ``max_read_s`` seconds. The built-in synthetic
notes are made in memory (at the dataset's rate and length) and measured the same way. Data given
already featurized (:class:`~vae_audio.data.featurize.Features`) is summarized from its metadata only:
its audio is resampled, level-normalized and cut to the window, so its levels would not be the data's,
and the summary has none (``level_scope == "none"``).

Clips whose header or audio cannot be read are moved to :attr:`DataSummary.skipped` with the reason,
as featurizing would skip them.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from .. import checks, progress
from ..dsp.audio import MAX_SR, MIN_SR, describe_unreadable, load_audio
from ..errors import AudioLoadError, DatasetError, ParameterError
from .datasets import SPLITS, AudioDataset, SkippedFile, load_dataset, skipped_summary, subsample_clips

if TYPE_CHECKING:
    from .featurize import Features

__all__ = [
    "FLOOR_DB", "GATE_DB", "FRAME_S", "HOP_S", "ROLLOFF", "FULL_SCALE_DB", "LONGER_THAN_S", "SUMMARY_FORMAT",
    "ClipFacts", "LengthStats", "LevelStats", "DataSummary", "inspect_dataset", "clip_levels",
]

#: Levels are floored here (dBFS); a clip whose peak is at the floor is digital silence.
FLOOR_DB = -120.0
#: Frames within this many dB of a clip's loudest frame are its active part (the active RMS gate).
GATE_DB = 40.0
#: Frame length and hop of the active-RMS gate (s).
FRAME_S = 0.020
HOP_S = 0.010
#: Fraction of a clip's energy below its rolloff frequency.
ROLLOFF = 0.99
#: A clip whose peak reaches this level (dBFS) is counted as at full scale (possibly clipped).
FULL_SCALE_DB = -0.1
#: Lengths (s) whose share of longer clips the summary gives.
LONGER_THAN_S: tuple[float, ...] = (1.0, 2.0, 4.0)
#: ``format`` of :meth:`DataSummary.to_dict`.
SUMMARY_FORMAT = "vae_audio.data_summary/1"

_MAX_LEVEL_CLIPS = 4000
_MAX_READ_S = 60.0
_LEVEL_SCOPES = ("all", "sample", "none")


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class ClipFacts:
    """What was measured of one clip.

    Attributes
    ----------
    source : the file's absolute path (``"synth:<index>"`` for a synthetic note).
    label : its label name, ``None`` when the dataset is unlabelled.
    split : ``"train"``, ``"val"`` or ``"test"``.
    sr : the file's sample rate (Hz), before any resampling.
    channels : the file's channel count (levels are of the mono mix).
    format : container and encoding, e.g. ``"WAV PCM_16"``, ``"FLAC PCM_24"``; ``"synth float32"`` for
        notes made in memory, ``"featurized"`` when only featurized data was seen.
    duration_s : length (s) from the header.
    peak_db, rms_db : peak and active RMS level of the mono mix (dBFS, floored at :data:`FLOOR_DB`);
        ``None`` when the audio was not read (sampled out, or featurized data).
    active_s : how long the sound lasts (s): first to last frame within :data:`GATE_DB` of the loudest.
    rolloff_hz : frequency (Hz) below which :data:`ROLLOFF` of the energy lies.
    """

    source: str
    label: str | None
    split: str
    sr: int
    channels: int
    format: str
    duration_s: float
    peak_db: float | None = None
    rms_db: float | None = None
    active_s: float | None = None
    rolloff_hz: float | None = None

    @property
    def measured(self) -> bool:
        """Whether the clip's audio was read (its levels are known)."""
        return self.peak_db is not None

    @property
    def silent(self) -> bool:
        """Whether the clip was read and is digital silence (peak at :data:`FLOOR_DB`)."""
        return self.peak_db is not None and self.peak_db <= FLOOR_DB


@dataclass(frozen=True)
class LengthStats:
    """The distribution of clip lengths (s): min, 10th / 50th / 90th percentile, max, mean, the total, and
    ``longer_than``: the share (0-1) of clips longer than each of :data:`LONGER_THAN_S`."""

    min_s: float
    p10_s: float
    p50_s: float
    p90_s: float
    max_s: float
    mean_s: float
    total_s: float
    longer_than: dict[float, float]

    @classmethod
    def of(cls, durations: Sequence[float]) -> "LengthStats":
        d = np.asarray(durations, dtype=np.float64)
        p10, p50, p90 = np.percentile(d, [10, 50, 90])
        return cls(_r(d.min(), 6), _r(p10, 6), _r(p50, 6), _r(p90, 6), _r(d.max(), 6), _r(d.mean(), 6),
                   _r(d.sum(), 3), {t: _r(np.mean(d > t), 4) for t in LONGER_THAN_S})


@dataclass(frozen=True)
class LevelStats:
    """Levels of a group of clips (all of them, or one label's), over the clips whose audio was read.

    Attributes
    ----------
    n : clips measured (silent ones included).
    n_silent : of those, digital silence (left out of everything below).
    n_full_scale : clips whose peak reaches :data:`FULL_SCALE_DB` (at full scale, possibly clipped).
    peak_db, rms_db : median peak and median active RMS (dBFS); ``None`` when every clip is silent.
    peak_spread_db, rms_spread_db : their standard deviation across clips (dB).
    active_s : median active length (s).
    rolloff_hz, rolloff_p90_hz : median and 90th percentile of the clips' rolloff (Hz).
    """

    n: int
    n_silent: int
    n_full_scale: int
    peak_db: float | None
    peak_spread_db: float | None
    rms_db: float | None
    rms_spread_db: float | None
    active_s: float | None
    rolloff_hz: float | None
    rolloff_p90_hz: float | None

    @classmethod
    def of(cls, clips: Iterable[ClipFacts]) -> "LevelStats | None":
        """The statistics of ``clips``' measured ones; ``None`` when none was measured."""
        measured = [c for c in clips if c.measured]
        if not measured:
            return None
        sound = [c for c in measured if not c.silent]
        full = sum(c.peak_db >= FULL_SCALE_DB for c in sound)
        if not sound:
            return cls(len(measured), len(measured), 0, None, None, None, None, None, None, None)
        peak, rms, active, rolloff = (np.array([getattr(c, k) for c in sound], dtype=np.float64)
                                      for k in ("peak_db", "rms_db", "active_s", "rolloff_hz"))
        return cls(len(measured), len(measured) - len(sound), int(full),
                   _r(np.median(peak), 3), _r(peak.std(), 3), _r(np.median(rms), 3), _r(rms.std(), 3),
                   _r(np.median(active), 6), _r(np.median(rolloff), 1), _r(np.percentile(rolloff, 90), 1))


def _r(value: Any, digits: int) -> float:
    return round(float(value), digits)


# ----------------------------------------------------------------------------- the summary
@dataclass(frozen=True)
class DataSummary:
    """The measured properties of a dataset, per clip and aggregated (what :func:`inspect_dataset` returns).

    Build one with :func:`inspect_dataset` (or :meth:`from_dict`); the aggregates are computed from
    ``clips`` when it is built. Units: Hz, s, dBFS (levels of the mono mix, see the module docstring).

    Attributes
    ----------
    name : the dataset's kind: ``"synth"``, ``"fsdd"``, ``"nsynth"`` or ``"folder"``.
    root : the folder the files came from (``None`` for synth).
    label_names : the dataset's label names (empty: unlabelled).
    clips : one :class:`ClipFacts` per usable clip, in the dataset's order.
    skipped : files that will not be used, with the reason: the dataset's own list (unreadable
        headers, bad names) plus clips whose header or audio failed here.
    n_ignored : other (non-audio) files found under a folder and ignored.
    level_scope : ``"all"`` (every clip's audio read), ``"sample"`` (a seeded sample, see
        ``n_measured``) or ``"none"`` (levels not measured: featurized data).
    read_s : the longest stretch (s) read of any file (longer files are measured on their start).
    seed : the seed of the level sample.
    rates, channels, formats : clips per file sample rate (Hz), per channel count, per format.
    splits : clips per split; ``label_counts``: clips per label (label order; empty when unlabelled).
    lengths : :class:`LengthStats` of the clip durations (``lengths.total_s``: all the audio, s).
    levels : :class:`LevelStats` of every measured clip (``None`` when none was measured).
    label_levels : :class:`LevelStats` per label (label order; ``None`` for a label without measurements).
    """

    name: str
    root: str | None
    label_names: tuple[str, ...]
    clips: tuple[ClipFacts, ...]
    skipped: tuple[SkippedFile, ...] = ()
    n_ignored: int = 0
    level_scope: str = "all"
    read_s: float = _MAX_READ_S
    seed: int = 0
    rates: dict[int, int] = field(default_factory=dict)
    channels: dict[int, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    lengths: LengthStats | None = None
    levels: LevelStats | None = None
    label_levels: dict[str, LevelStats | None] = field(default_factory=dict)

    @classmethod
    def build(cls, name: str, root: str | None, label_names: Sequence[str], clips: Sequence[ClipFacts],
              skipped: Sequence[SkippedFile] = (), *, n_ignored: int = 0, level_scope: str = "all",
              read_s: float = _MAX_READ_S, seed: int = 0) -> "DataSummary":
        """A summary of ``clips`` with its aggregates computed (raises :class:`DatasetError` for no clips)."""
        if level_scope not in _LEVEL_SCOPES:
            raise ParameterError(f"level_scope={level_scope!r}: expected one of {_LEVEL_SCOPES}")
        clips, names = tuple(clips), tuple(label_names)
        if not clips:
            raise DatasetError(f"{root or name}: no clip could be read"
                               + (f" ({skipped_summary(list(skipped))})" if skipped else ""))
        by_label = {n: [c for c in clips if c.label == n] for n in names}
        return cls(name, root, names, clips, tuple(skipped), int(n_ignored), level_scope, float(read_s), int(seed),
                   rates=dict(sorted(Counter(c.sr for c in clips).items())),
                   channels=dict(sorted(Counter(c.channels for c in clips).items())),
                   formats=dict(Counter(c.format for c in clips).most_common()),
                   splits={s: sum(c.split == s for c in clips) for s in SPLITS},
                   label_counts={n: len(v) for n, v in by_label.items()},
                   lengths=LengthStats.of([c.duration_s for c in clips]),
                   levels=LevelStats.of(clips),
                   label_levels={n: LevelStats.of(v) for n, v in by_label.items()})

    # ------------------------------------------------------------------ views
    @property
    def n_clips(self) -> int:
        """Number of usable clips."""
        return len(self.clips)

    @property
    def n_measured(self) -> int:
        """Number of clips whose audio was read (levels known)."""
        return sum(c.measured for c in self.clips)

    def column(self, key: str) -> np.ndarray:
        """One per-clip fact as an array ``(n_clips,)`` (``"sr"``, ``"duration_s"``, ``"rms_db"``, ...); levels
        of clips not measured are NaN."""
        if key not in ClipFacts.__dataclass_fields__:
            raise ParameterError(f"key={key!r}: expected one of {', '.join(ClipFacts.__dataclass_fields__)}")
        values = [getattr(c, key) for c in self.clips]
        if key in ("source", "label", "split", "format"):
            return np.array(values, dtype=object)
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    # ------------------------------------------------------------------ text
    def describe(self, *, short: bool = False, max_labels: int = 16) -> str:
        """A compact human-readable summary (about 10-20 lines; ``short``: the key lines only, about 6).

        The per-label table lists every label when there are at most ``max_labels``, else the quietest
        and loudest ``max_labels // 2`` each (by median active RMS).
        """
        lines = [self._headline()]
        what = "notes made in memory" if self.name == "synth" else "files"
        formats = {k.removeprefix("synth "): v for k, v in self.formats.items()}
        lines.append(f"  {what}: {_counts(formats)}; {_counts(self.rates, ' Hz')}; "
                     f"{_counts({_channels(k): v for k, v in self.channels.items()})}"
                     + (f"; {_plural(self.n_ignored, 'other file')} ignored" if self.n_ignored else ""))
        lines.append(self._lengths_line())
        lines += self._level_lines(short, max_labels)
        lines += self._skipped_lines(1 if short else 3)
        return "\n".join(lines)

    def _headline(self) -> str:
        s = self.splits
        labels = _plural(len(self.label_names), "label") if self.label_names else "no labels"
        where = f" from {self.root}" if self.root else ""
        return (f"{self.name}: {self.n_clips} clips (train {s.get('train', 0)} / val {s.get('val', 0)} / "
                f"test {s.get('test', 0)}), {labels}{where}")

    def _lengths_line(self) -> str:
        g = self.lengths
        longer = ", ".join(f"{t:g} s: {100 * share:.0f} %" for t, share in g.longer_than.items())
        if g.min_s == g.max_s:
            return f"  lengths: all {_s(g.min_s)}; longer than {longer}; {_total(g.total_s)} in all"
        return (f"  lengths: min {_s(g.min_s)}, median {_s(g.p50_s)} (10-90 %: {_s(g.p10_s, False)}-{_s(g.p90_s)}), "
                f"max {_s(g.max_s)}; longer than {longer}; {_total(g.total_s)} in all")

    def _level_lines(self, short: bool, max_labels: int) -> list[str]:
        if self.level_scope == "none" or self.levels is None:
            why = ("the data came featurized" if set(self.formats) == {"featurized"} else
                   "no audio read" if self.level_scope == "none" else "no clip could be read")
            return [f"  levels: not measured ({why})"]
        v = self.levels
        scope = "every clip" if self.level_scope == "all" else \
            f"a seeded sample of {self.n_measured} of {self.n_clips} clips"
        if any(c.duration_s > self.read_s for c in self.clips if c.measured):
            scope += f", the first {self.read_s:g} s of longer files"
        lines = [f"  levels of {scope} (mono mix, median dBFS): peak {_db(v.peak_db)} (sd {_db(v.peak_spread_db)}), "
                 f"active RMS {_db(v.rms_db)} (sd {_db(v.rms_spread_db)})" + _flags(v)]
        if v.active_s is not None:
            lines.append(f"  sound: lasts {_s(v.active_s)} (median; frames within {GATE_DB:g} dB of the loudest); "
                         f"{100 * ROLLOFF:g} % of the energy below {_khz(v.rolloff_hz)} (median; "
                         f"{_khz(v.rolloff_p90_hz)} for 90 % of clips)")
        measured = {n: lv for n, lv in self.label_levels.items() if lv is not None and lv.rms_db is not None}
        if not measured:
            return lines
        if short:
            lo = min(measured, key=lambda n: measured[n].rms_db)
            hi = max(measured, key=lambda n: measured[n].rms_db)
            lines.append(f"  per label: median active RMS from {_db(measured[lo].rms_db)} dBFS ({lo}) to "
                         f"{_db(measured[hi].rms_db)} dBFS ({hi}), peak from "
                         f"{_db(min(lv.peak_db for lv in measured.values()))} to "
                         f"{_db(max(lv.peak_db for lv in measured.values()))} dBFS")
            return lines
        names = list(self.label_names)
        hidden = 0
        if len(names) > max_labels:
            order = sorted(measured, key=lambda n: measured[n].rms_db)
            keep = set(order[:max_labels // 2] + order[-(max_labels - max_labels // 2):])
            hidden = len(names) - len(keep)
            names = [n for n in names if n in keep]
        width = max(5, *(len(n) for n in names))
        sampled = self.level_scope == "sample"
        clips = "read/clips" if sampled else "clips"
        lines.append(f"  {'label':<{width}}  {clips}  {'peak (sd)':>12}  {'active RMS (sd)':>15}  {'lasts':>6}")
        for n in names:
            lv = self.label_levels[n]
            count = f"{0 if lv is None else lv.n}/{self.label_counts[n]}" if sampled else self.label_counts[n]
            head = f"  {n:<{width}}  {count:>{len(clips)}}  "
            if lv is None or lv.rms_db is None:
                lines.append(head + ("not read" if lv is None else "silent"))
                continue
            peak, rms = f"{_db(lv.peak_db)} ({_db(lv.peak_spread_db)})", f"{_db(lv.rms_db)} ({_db(lv.rms_spread_db)})"
            lines.append(head + f"{peak:>12}  {rms:>15}  {_s(lv.active_s):>6}")
        if hidden:
            lines.append(f"  ... and {hidden} labels between them (to_dict() has every one)")
        return lines

    def _skipped_lines(self, limit: int) -> list[str]:
        if not self.skipped:
            return ["  skipped: none"]
        lines = [f"  skipped: {_plural(len(self.skipped), 'file')}"
                 + (f", the first {limit}:" if len(self.skipped) > limit else ":")]
        for s in self.skipped[:limit]:
            text = f"{self._relative(s.path)}: {s.reason}"
            lines.append(f"    {text[:140] + '...' if len(text) > 143 else text}")
        return lines

    def _relative(self, path: str) -> str:
        if self.root:
            try:
                return str(Path(path).relative_to(self.root))
            except ValueError:
                pass
        return path

    # ------------------------------------------------------------------ JSON
    def to_dict(self, *, clips: bool = True) -> dict[str, Any]:
        """Plain JSON types: the identity, the aggregates and (``clips``) every clip's facts. Integer and
        float keys (rates, channels, ``longer_than``) become strings, as JSON wants."""
        out = {"format": SUMMARY_FORMAT, "name": self.name, "root": self.root, "label_names": list(self.label_names),
               "n_clips": self.n_clips, "n_measured": self.n_measured, "level_scope": self.level_scope,
               "read_s": self.read_s, "seed": self.seed, "n_ignored": self.n_ignored,
               "rates": {str(k): v for k, v in self.rates.items()},
               "channels": {str(k): v for k, v in self.channels.items()},
               "formats": dict(self.formats), "splits": dict(self.splits), "label_counts": dict(self.label_counts),
               "lengths": _lengths_dict(self.lengths),
               "levels": None if self.levels is None else asdict(self.levels),
               "label_levels": {n: None if lv is None else asdict(lv) for n, lv in self.label_levels.items()},
               "skipped": [asdict(s) for s in self.skipped]}
        if clips:
            out["clips"] = [asdict(c) for c in self.clips]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DataSummary":
        """The summary :meth:`to_dict` (with its clips) describes; the aggregates are recomputed from the clips."""
        if not isinstance(data, Mapping) or data.get("format") != SUMMARY_FORMAT:
            raise ParameterError(f"data: expected the dict of DataSummary.to_dict() (format {SUMMARY_FORMAT!r})")
        if "clips" not in data:
            raise ParameterError("data: has no 'clips' (written with to_dict(clips=False)); cannot rebuild the summary")
        try:
            clips = [ClipFacts(**c) for c in data["clips"]]
            skipped = [SkippedFile(**s) for s in data["skipped"]]
            return cls.build(data["name"], data["root"], data["label_names"], clips, skipped,
                             n_ignored=data["n_ignored"], level_scope=data["level_scope"], read_s=data["read_s"],
                             seed=data["seed"])
        except (KeyError, TypeError) as exc:
            raise ParameterError(f"data: not a DataSummary dict ({type(exc).__name__}: {exc})") from None


def _lengths_dict(g: LengthStats | None) -> dict[str, Any] | None:
    if g is None:
        return None
    d = asdict(g)
    d["longer_than"] = {f"{k:g}": v for k, v in g.longer_than.items()}
    return d


# ----------------------------------------------------------------------------- text helpers
def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _counts(counts: Mapping[Any, int], unit: str = "") -> str:
    return ", ".join(f"{k}{unit} ({v})" for k, v in counts.items())


def _channels(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, f"{n} channels")


def _s(seconds: float, unit: bool = True) -> str:
    text = f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
    return f"{text} s" if unit else text


def _total(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _db(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _khz(hz: float | None) -> str:
    return "-" if hz is None else f"{hz / 1000:.1f} kHz"


def _flags(v: LevelStats) -> str:
    parts = []
    if v.n_full_scale:
        parts.append(f"{v.n_full_scale} at full scale")
    if v.n_silent:
        parts.append(f"{v.n_silent} silent")
    return "; " + ", ".join(parts) if parts else ""


# ----------------------------------------------------------------------------- measuring
def clip_levels(y: np.ndarray, sr: int) -> dict[str, float]:
    """Peak (dBFS), active RMS (dBFS), active length (s) and rolloff (Hz) of a mono waveform.

    ``y`` is float ``(n_samples,)`` in [-1, 1] at ``sr`` Hz; see the module docstring for the
    definitions (20 ms frames every 10 ms, gate :data:`GATE_DB` below the loudest frame, levels floored
    at :data:`FLOOR_DB`). Returns ``{"peak_db", "rms_db", "active_s", "rolloff_hz"}``; a silent clip has
    both levels at the floor, ``active_s`` 0 and ``rolloff_hz`` 0.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or y.size == 0:
        raise ParameterError(f"y: expected a non-empty mono waveform (n_samples,), got shape {y.shape}")
    n = y.size
    peak = float(np.max(np.abs(y)))
    if peak <= 10 ** (FLOOR_DB / 20):
        return {"peak_db": FLOOR_DB, "rms_db": FLOOR_DB, "active_s": 0.0, "rolloff_hz": 0.0}
    length, hop = max(1, round(FRAME_S * sr)), max(1, round(HOP_S * sr))
    if n <= length:
        starts, length = np.zeros(1, dtype=np.int64), n
    else:
        starts = np.arange(0, n - length + 1, hop)
        if starts[-1] + length < n:  # the tail gets a frame of its own
            starts = np.append(starts, n - length)
    energy = np.concatenate([[0.0], np.cumsum(y * y)])
    mean_square = np.maximum((energy[starts + length] - energy[starts]) / length, 0.0)
    active = mean_square >= mean_square.max() * 10 ** (-GATE_DB / 10)
    first, last = np.flatnonzero(active)[[0, -1]]
    rms_db = 10 * math.log10(max(float(mean_square[active].mean()), 10 ** (FLOOR_DB / 10)))
    power = np.abs(np.fft.rfft(y, n=1 << (n - 1).bit_length())) ** 2  # zero-padded to a power of two
    cumulative = np.cumsum(power)
    k = int(np.searchsorted(cumulative, ROLLOFF * cumulative[-1]))
    rolloff = k * sr / (2 * (power.size - 1)) if power.size > 1 else 0.0
    return {"peak_db": max(FLOOR_DB, 20 * math.log10(peak)), "rms_db": max(FLOOR_DB, rms_db),
            "active_s": (starts[last] + length - starts[first]) / sr, "rolloff_hz": float(rolloff)}


def _rounded(levels: Mapping[str, float]) -> dict[str, float]:
    return {"peak_db": _r(levels["peak_db"], 3), "rms_db": _r(levels["rms_db"], 3),
            "active_s": _r(levels["active_s"], 6), "rolloff_hz": _r(levels["rolloff_hz"], 1)}


def _header(path: str) -> tuple[int, int, str, float]:
    """``(rate Hz, channels, "FORMAT SUBTYPE", duration s)`` from a file's header, or :class:`AudioLoadError`
    whose message is the reason alone (one line, without the path)."""
    import soundfile as sf

    p = Path(path)
    try:
        if p.stat().st_size == 0:
            raise AudioLoadError("file is empty (0 bytes)")
        with sf.SoundFile(str(p)) as f:
            sr, channels, kind, frames = int(f.samplerate), int(f.channels), f"{f.format} {f.subtype}", f.frames
    except FileNotFoundError:
        raise AudioLoadError("no such file") from None
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        try:
            why = describe_unreadable(p, str(exc)).split(": ", 1)[1]
        except OSError:
            why = f"cannot read audio ({' '.join(str(exc).split())})"
        raise AudioLoadError(why) from None
    except OSError as exc:
        raise AudioLoadError(f"cannot open the file ({' '.join(str(exc.strerror or exc).split())})") from None
    if frames <= 0:
        raise AudioLoadError("contains no samples (zero-length audio)")
    if not MIN_SR <= sr <= MAX_SR:
        raise AudioLoadError(f"sample rate {sr} Hz is outside {MIN_SR}..{MAX_SR} Hz")
    return sr, channels, kind, frames / sr


def _is_featurized(data: Any) -> bool:
    return bool(getattr(getattr(data, "recipe", None), "is_fitted", False)) and hasattr(data, "metadata")


def inspect_dataset(data: AudioDataset | Features | str | os.PathLike, *, max_level_clips: int = _MAX_LEVEL_CLIPS,
                    max_read_s: float = _MAX_READ_S) -> DataSummary:
    """Measure a dataset: per clip its rate, channels, format, length and levels; aggregated per label.

    Parameters
    ----------
    data : a listed :class:`~vae_audio.data.datasets.AudioDataset`, or a spec :func:`load_dataset` takes
        (``"synth"``, ``"fsdd"``, ``"nsynth"`` or a folder; listed with its defaults), or data already
        featurized (:class:`~vae_audio.data.featurize.Features`: summarized from its metadata, no levels).
    max_level_clips : read the audio of every clip when there are at most this many, else of a seeded
        sample of this many (seed: the dataset's), drawn in proportion to every (split, label) group; 0
        reads no audio (headers only, no levels).
    max_read_s : measure the levels of a longer file on its first ``max_read_s`` seconds.

    Returns
    -------
    :class:`DataSummary`. Clips whose header or audio cannot be read are in its ``skipped`` (with the
    reason), not in its ``clips``.

    Raises
    ------
    DatasetError : the spec names no dataset, the folder has no audio, or no clip could be read.
    ParameterError : a bad argument.
    """
    max_level_clips = checks.whole_number(max_level_clips, "max_level_clips", 0)
    max_read_s = checks.number(max_read_s, "max_read_s", 0, lo_open=True, what="a number of seconds")
    if isinstance(data, (str, os.PathLike)):
        data = load_dataset(data)
    if _is_featurized(data):
        return _from_features(data)
    if not isinstance(data, AudioDataset):
        raise ParameterError(f"data: expected an AudioDataset, Features or a dataset spec, got {type(data).__name__}")
    names = data.label_names

    def label_of(clip) -> str | None:
        return names[clip.label] if names and clip.label >= 0 else None

    chosen = subsample_clips(data.clips, max_level_clips, data.seed) if max_level_clips else []
    to_read = {c.source for c in chosen}
    scope = "none" if not to_read else "all" if len(to_read) == len(data.clips) else "sample"
    skipped = list(data.skipped)
    facts: list[ClipFacts] = []
    if data.name == "synth":
        facts = _synth_facts(data, to_read, label_of)
    else:
        with progress.bar(len(data.clips), f"inspecting {data.name}") as shown:
            for clip in data.clips:
                try:
                    sr, channels, kind, seconds = _header(clip.source)
                    levels: dict[str, float] = {}
                    if clip.source in to_read:
                        y, _ = _load(clip.source, seconds, max_read_s)
                        levels = _rounded(clip_levels(y, sr))
                except AudioLoadError as exc:
                    skipped.append(SkippedFile(clip.source, str(exc)))
                else:
                    facts.append(ClipFacts(clip.source, label_of(clip), clip.split, sr, channels, kind,
                                           _r(seconds, 6), **levels))
                shown.update(1)
    return DataSummary.build(data.name, data.root, names, facts, skipped, n_ignored=_ignored(data), level_scope=scope,
                             read_s=max_read_s, seed=data.seed)


def _load(path: str, seconds: float, max_read_s: float) -> tuple[np.ndarray, int]:
    """The mono mix as :func:`load_audio` reads it (at most ``max_read_s``), its errors without the path."""
    try:
        return load_audio(path, duration=max_read_s if seconds > max_read_s else None)
    except AudioLoadError as exc:
        raise AudioLoadError(" ".join(str(exc).split()).removeprefix(f"{path}: ")) from None


def _synth_facts(data: AudioDataset, to_read: set[str], label_of) -> list[ClipFacts]:
    """The built-in notes at the dataset's rate and length; those in ``to_read`` made and measured."""
    from .synth import generate_synth

    cfg = data.config
    made = [c for c in data.clips if c.source in to_read]
    levels: dict[str, dict[str, float]] = {}
    for lo in range(0, len(made), 256):  # a block at a time: a few MB of audio, never the whole set
        block = made[lo:lo + 256]
        audio, _ = generate_synth(sr=cfg.sr, n_samples=cfg.n_samples, seed=data.seed,
                                  indices=[int(c.source.split(":", 1)[1]) for c in block])
        for c, y in zip(block, audio):
            levels[c.source] = _rounded(clip_levels(y, cfg.sr))
    return [ClipFacts(c.source, label_of(c), c.split, cfg.sr, 1, "synth float32", _r(cfg.n_samples / cfg.sr, 6),
                      **levels.get(c.source, {})) for c in data.clips]


def _ignored(data: AudioDataset) -> int:
    """Other (non-audio) files under a folder dataset's root, as :func:`load_folder` ignored them."""
    if data.name != "folder" or not data.root:
        return 0
    from .datasets import _walk_audio

    return _walk_audio(Path(data.root))[1]


def _from_features(features: Any) -> DataSummary:
    """A summary of featurized data from its metadata (a folder's clips carry their file's rate, channels and
    length; other clips get the featurized rate and window); no levels (see the module docstring)."""
    cfg = features.recipe.spectrogram
    names = tuple(features.label_names)
    facts = []
    for i, meta in enumerate(features.metadata):
        label = int(features.labels[i])
        facts.append(ClipFacts(str(meta.get("file", f"clip {i}")), names[label] if names and label >= 0 else None,
                               str(features.split[i]), int(meta.get("file_sr", cfg.sr)), int(meta.get("channels", 1)),
                               "featurized", _r(meta.get("duration_s", cfg.n_samples / cfg.sr), 6)))
    return DataSummary.build(features.name or "features", None, names, facts, list(features.skipped),
                             level_scope="none")
