"""Datasets: find them, list their clips with labels, metadata and train/val/test splits.

Four kinds of data, all described the same way (an :class:`AudioDataset`: a list of
:class:`Clip` descriptors plus label names and the :class:`SpectrogramConfig` to use):

``"synth"`` (default)
    The built-in synthetic instruments (:mod:`vae_audio.data.synth`): 1000 one-second notes of 8
    families, made on the fly, no download. Labels are the families.
``"fsdd"``
    The Free Spoken Digit Dataset (3000 clips, 8 kHz), found by :func:`find_fsdd`
    (``vae-audio download fsdd`` fetches it). Labels are the digits; split: :func:`load_fsdd`.
a folder in the NSynth layout
    ``audio/*.wav`` plus ``examples.json``, or a folder of ``nsynth-train``/``-valid``/``-test``
    folders of that layout (:func:`load_nsynth`). Labels are the instrument families.
any other folder
    Every audio file under it that soundfile reads (:func:`load_folder`), resampled to the
    configured rate and mixed to mono. Labels are the first-level sub-folder names, if any.
    Files that cannot be read are skipped and listed (``strict=True`` makes that an error).

Turning a dataset into spectrograms (with an on-disk cache) is :func:`vae_audio.data.featurize.build_features`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import checks
from ..dsp.audio import MAX_SR, MIN_SR, describe_unreadable
from ..dsp.features import SpectrogramConfig
from ..dsp.recipe import LEVEL_MODES, Recipe, check_trim
from ..errors import DatasetError, ParameterError

__all__ = [
    "AUDIO_EXTENSIONS",
    "LEVEL_MODES",
    "Clip",
    "SkippedFile",
    "AudioDataset",
    "load_dataset",
    "subsample_clips",
    "load_synth",
    "find_fsdd",
    "load_fsdd",
    "find_nsynth",
    "load_nsynth",
    "load_folder",
    "is_nsynth_folder",
]

#: File name endings (lower case) that are treated as audio in folders.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                                     ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64")

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: FSDD's file names, ``{digit}_{speaker}_{take}.wav``.
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
_FSDD_TEST_TAKES = range(0, 5)
_REPO_ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- descriptors
@dataclass(frozen=True)
class Clip:
    """One clip of a dataset.

    Attributes
    ----------
    source : absolute path of the audio file, or ``"synth:<index>"`` for a synthetic note.
    label : index into the dataset's ``label_names``, or -1 when the dataset has no labels.
    split : ``"train"``, ``"val"`` or ``"test"``.
    metadata : JSON-serializable facts about the clip (file, speaker, pitch, family, ...).
    """

    source: str
    label: int = -1
    split: str = "train"
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of a dataset and why (``reason`` is a one-line message)."""

    path: str
    reason: str


@dataclass
class AudioDataset:
    """A list of clips with their labels and splits, plus everything needed to featurize them.

    Nothing is loaded yet: :func:`vae_audio.data.featurize.build_features` reads the audio.

    Attributes
    ----------
    name : ``"synth"``, ``"fsdd"``, ``"nsynth"`` or ``"folder"``.
    clips : the clips, in a fixed order (sorted by file name; synth by index).
    label_names : class names; ``clips[i].label`` indexes them. Empty when unlabelled.
    config : spectrogram settings (sample rate and clip length included).
    root : the folder the clips came from (``None`` for synth).
    seed : seed of the split (and of the synthetic notes).
    level : loudness normalization applied when featurizing: per clip ``"peak"`` or ``"rms"``, one gain for the
        whole dataset ``"folder"`` (fitted on the training split), or ``None``.
    trim_db : strip leading/trailing silence quieter than this many dB below the peak (``None``: off).
    skipped : files left out, with reasons (see :meth:`skipped_report`).
    strict : featurizing raises instead of skipping files that fail to load.
    """

    name: str
    clips: list[Clip]
    label_names: tuple[str, ...]
    config: SpectrogramConfig
    root: str | None = None
    seed: int = 0
    level: str | None = None
    trim_db: float | None = None
    skipped: list[SkippedFile] = field(default_factory=list)
    strict: bool = False

    @property
    def recipe(self) -> Recipe:
        """The preprocessing of these clips (config, level, trim) as a :class:`~vae_audio.dsp.recipe.Recipe`,
        without a normalizer (``build_features`` fits one on the training split)."""
        return Recipe(self.config, self.level, self.trim_db)

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def labelled(self) -> bool:
        """Whether the clips carry labels."""
        return bool(self.label_names)

    def split_counts(self) -> dict[str, int]:
        """Number of clips per split, e.g. ``{"train": 2400, "val": 300, "test": 300}``."""
        counts = {s: 0 for s in SPLITS}
        for clip in self.clips:
            counts[clip.split] += 1
        return counts

    def skipped_report(self) -> str:
        """Human-readable list of skipped files ("" when none were skipped)."""
        if not self.skipped:
            return ""
        lines = [f"skipped {len(self.skipped)} file(s) that could not be used:"]
        lines += [f"  {s.path}: {s.reason}" for s in self.skipped]
        return "\n".join(lines)

    def describe(self) -> str:
        """One line: name, size, splits, labels and where the data came from."""
        counts = self.split_counts()
        labels = f"{len(self.label_names)} labels" if self.label_names else "no labels"
        where = f" from {self.root}" if self.root else ""
        skipped = f"; {len(self.skipped)} file(s) skipped" if self.skipped else ""
        return (f"{self.name}: {len(self.clips)} clips (train {counts['train']} / val {counts['val']} / "
                f"test {counts['test']}), {labels}{where}{skipped}")


# ----------------------------------------------------------------------------- helpers
def _check_fraction(name: str, value: Any) -> float:
    return checks.number(value, name, 0, 1, hi_open=True, what="a fraction")


def _check_level(level: Any) -> str | None:
    if level not in LEVEL_MODES:
        raise ParameterError(f"level={level!r}: expected one of {', '.join(map(repr, LEVEL_MODES))}")
    return level


def _check_config(config: Any, rates: Sequence[int] = (), durations: Sequence[float] = ()) -> SpectrogramConfig:
    """``config`` checked; ``None``: the provisional settings of the files' rates (Hz) and lengths (s)
    (:func:`vae_audio.data.rules.provisional_config`; a run's configuration resolves the real ones)."""
    if config is None:
        from .rules import provisional_config

        return provisional_config(rates, durations)
    if isinstance(config, Mapping):
        return SpectrogramConfig.from_dict(config)
    if not isinstance(config, SpectrogramConfig):
        raise ParameterError(f"config: expected a SpectrogramConfig (or its dict), got {type(config).__name__}")
    return config


def _headers(paths: Sequence[str]) -> tuple[list[int], list[float]]:
    """The sample rates (Hz) and lengths (s) of readable audio files (their headers only)."""
    import soundfile as sf

    rates, lengths = [], []
    for path in paths:
        with contextlib.suppress(Exception):  # an unreadable file is skipped when it is loaded, with its reason
            info = sf.info(path)
            rates.append(int(info.samplerate))
            lengths.append(info.frames / info.samplerate)
    return rates or [MIN_SR], lengths or [1.0]


def _n_held_out(n: int, fraction: float) -> int:
    return int(np.floor(n * fraction + 0.5))


def _assign_splits(groups: Sequence[Any], seed: int, val_fraction: float, test_fraction: float,
                   salt: int = 0) -> list[str]:
    """Seeded random split stratified by ``groups`` (one key per clip); every group keeps >= 1 train clip."""
    rng = np.random.default_rng([seed, salt])
    split = ["train"] * len(groups)
    members: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    for key in sorted(members, key=repr):
        idx = members[key]
        order = [idx[j] for j in rng.permutation(len(idx))]
        n_test = _n_held_out(len(idx), test_fraction)
        n_val = _n_held_out(len(idx), val_fraction)
        while n_test + n_val >= len(idx) and n_test + n_val > 0:  # keep at least one clip for training
            if n_val >= n_test and n_val > 0:
                n_val -= 1
            else:
                n_test -= 1
        for i in order[:n_test]:
            split[i] = "test"
        for i in order[n_test:n_test + n_val]:
            split[i] = "val"
    return split


def subsample_clips(clips: list[Clip], max_clips: int | None, seed: int) -> list[Clip]:
    """At most ``max_clips`` clips, drawn at random (seeded) in proportion to each (split, label) group."""
    if max_clips is None or max_clips >= len(clips):
        return clips
    rng = np.random.default_rng([seed, 7])
    members: dict[tuple[str, int], list[int]] = {}
    for i, c in enumerate(clips):
        members.setdefault((c.split, c.label), []).append(i)
    rank = np.empty(len(clips))
    for key in sorted(members):
        idx = members[key]
        perm = rng.permutation(len(idx))
        rank[np.asarray(idx)[perm]] = (np.arange(len(idx)) + rng.uniform(0, 1)) / len(idx)
    keep = np.sort(np.argsort(rank, kind="stable")[:max_clips])
    return [clips[i] for i in keep]


def skipped_summary(skipped: Sequence[SkippedFile], limit: int = 3) -> str:
    """The first ``limit`` skipped files and their reasons on one line (for one-line error messages)."""
    parts = [f"{s.path}: {s.reason}" for s in skipped[:limit]]
    if len(skipped) > limit:
        parts.append(f"and {len(skipped) - limit} more")
    return " ".join("; ".join(parts).split())


def _finish(dataset: AudioDataset) -> AudioDataset:
    if not dataset.clips:
        raise DatasetError(f"{dataset.root or dataset.name}: the dataset has no usable clips"
                           + (f" ({skipped_summary(dataset.skipped)})" if dataset.skipped else ""))
    if dataset.strict and dataset.skipped:
        raise DatasetError(f"{dataset.root or dataset.name}: strict=True and {len(dataset.skipped)} file(s) "
                           f"cannot be used ({skipped_summary(dataset.skipped)})")
    if not any(c.split == "train" for c in dataset.clips):
        raise DatasetError(f"{dataset.root or dataset.name}: no clip is in the training split")
    return dataset


def _data_dir_candidates(sub: str) -> list[Path]:
    """``data/<sub>`` under the current folder, then under the repository root (deduplicated)."""
    out: list[Path] = []
    for base in (Path.cwd(), _REPO_ROOT):
        p = (base / "data" / sub).resolve()
        if p not in out:
            out.append(p)
    return out


# ----------------------------------------------------------------------------- synth
def load_synth(*, n_clips: int = 1000, config: SpectrogramConfig | Mapping | None = None, seed: int = 0,
               val_fraction: float = 0.1, test_fraction: float = 0.1, level: str | None = None,
               trim_db: float | None = None) -> AudioDataset:
    """The built-in synthetic instruments: ``n_clips`` notes (families balanced), split 80/10/10 by family.

    Only parameters are computed here (clip ``i`` is ``synth_params(i, seed=seed)``); the audio
    is made by :func:`vae_audio.data.featurize.build_features` at ``config.sr``.
    """
    from .synth import FAMILIES, NATIVE_SECONDS, NATIVE_SR, synth_params

    seed = checks.seed(seed)
    checks.whole_number(n_clips, "n_clips", 1)
    cfg = _check_config(config, [NATIVE_SR], [NATIVE_SECONDS])
    meta = [synth_params(i, seed=seed, duration=cfg.duration) for i in range(int(n_clips))]
    labels = [FAMILIES.index(m["family"]) for m in meta]
    splits = _assign_splits(labels, seed, _check_fraction("val_fraction", val_fraction),
                            _check_fraction("test_fraction", test_fraction))
    clips = [Clip(f"synth:{m['index']}", lab, s, m) for m, lab, s in zip(meta, labels, splits)]
    return _finish(AudioDataset("synth", clips, tuple(FAMILIES), cfg, None, seed, _check_level(level),
                                check_trim(trim_db)))


# ----------------------------------------------------------------------------- FSDD
def _fsdd_recordings(folder: Path) -> Path | None:
    """The folder holding FSDD's WAVs inside ``folder`` (itself, ``recordings/``, or an extracted archive)."""
    if not folder.is_dir():
        return None
    for cand in (folder, folder / "recordings", *sorted(folder.glob("free-spoken-digit-dataset*/recordings"))):
        if cand.is_dir() and any(FSDD_NAME.match(p.name) for p in cand.glob("*.wav")):
            return cand
    return None


def find_fsdd(path: str | os.PathLike | None = None) -> Path:
    """Locate the FSDD recordings folder.

    Order: ``path`` if given; else ``$FSDD_DIR`` if set; else ``data/fsdd`` under the current
    folder, then under the repository root. Each may be the folder holding the WAVs or one
    containing ``recordings/``. Raises :class:`DatasetError` saying where it looked and how to
    get the data when nothing is found.
    """
    if path is not None:
        found = _fsdd_recordings(Path(path))
        if found is None:
            raise DatasetError(f"{path}: no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) in this folder "
                               "or its recordings/ sub-folder")
        return found.resolve()
    env = os.environ.get("FSDD_DIR")
    if env:
        found = _fsdd_recordings(Path(env))
        if found is None:
            raise DatasetError(f"FSDD_DIR={env}: no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav) there or in "
                               "its recordings/ sub-folder; fix FSDD_DIR or unset it to use data/fsdd")
        return found.resolve()
    looked = _data_dir_candidates("fsdd")
    for cand in looked:
        found = _fsdd_recordings(cand)
        if found is not None:
            return found.resolve()
    raise DatasetError("FSDD not found (looked in " + ", ".join(str(p) for p in looked) + "). "
                       "Run 'vae-audio download fsdd', or set FSDD_DIR to a folder holding the FSDD WAVs")


def load_fsdd(path: str | os.PathLike | None = None, *, config: SpectrogramConfig | Mapping | None = None,
              seed: int = 0, val_fraction: float = 0.1, level: str | None = None,
              trim_db: float | None = None, strict: bool = False) -> AudioDataset:
    """The Free Spoken Digit Dataset: labels are the digits ``"0"``..``"9"``.

    Split: takes 0-4 are the test set (the dataset's standard split); of takes 5-49, a seeded
    ``val_fraction`` of every (speaker, digit) group is validation, the rest training. WAVs not
    named ``{digit}_{speaker}_{take}.wav`` are skipped. Metadata: ``file``, ``speaker``,
    ``digit``, ``take``.
    """
    seed = checks.seed(seed)
    root = find_fsdd(path)
    clips: list[Clip] = []
    skipped: list[SkippedFile] = []
    for p in sorted(root.glob("*.wav")):
        m = FSDD_NAME.match(p.name)
        if m is None:
            skipped.append(SkippedFile(str(p), "name does not match {digit}_{speaker}_{take}.wav"))
            continue
        digit, speaker, take = int(m.group(1)), m.group(2), int(m.group(3))
        split = "test" if take in _FSDD_TEST_TAKES else "train"
        clips.append(Clip(str(p), digit, split, {"file": p.name, "speaker": speaker, "digit": digit, "take": take}))
    train = [i for i, c in enumerate(clips) if c.split == "train"]
    val_split = _assign_splits([(clips[i].metadata["speaker"], clips[i].label) for i in train], seed,
                               _check_fraction("val_fraction", val_fraction), 0.0, salt=1)
    for i, s in zip(train, val_split):
        clips[i] = Clip(clips[i].source, clips[i].label, s, clips[i].metadata)
    cfg = _check_config(config, *_headers([c.source for c in clips])) if config is None else _check_config(config)
    return _finish(AudioDataset("fsdd", clips, tuple(str(d) for d in range(10)), cfg,
                                str(root), seed, _check_level(level), check_trim(trim_db), skipped,
                                bool(strict)))


# ----------------------------------------------------------------------------- NSynth
_NSYNTH_SPLITS = {"train": "train", "valid": "val", "val": "val", "test": "test"}


def is_nsynth_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is in the NSynth layout (``examples.json`` + ``audio/``) or holds such split folders."""
    p = Path(path)
    if (p / "examples.json").is_file() and (p / "audio").is_dir():
        return True
    return bool(_nsynth_split_dirs(p))


def _nsynth_split_dirs(p: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if not p.is_dir():
        return out
    for child in sorted(p.iterdir()):
        if child.is_dir() and (child / "examples.json").is_file() and (child / "audio").is_dir():
            for word, split in _NSYNTH_SPLITS.items():
                if re.search(rf"(^|[-_.]){word}($|[-_.])", child.name.lower()):
                    out.setdefault(split, child)
                    break
    return out


def find_nsynth() -> Path:
    """``$NSYNTH_DIR`` if set, else ``data/nsynth`` under the current folder or the repository root."""
    env = os.environ.get("NSYNTH_DIR")
    looked = [Path(env)] if env else _data_dir_candidates("nsynth")
    for cand in looked:
        if cand.is_dir() and is_nsynth_folder(cand):
            return cand.resolve()
    raise DatasetError("NSynth not found (looked in " + ", ".join(str(p) for p in looked) + "). Download it from "
                       "https://magenta.tensorflow.org/datasets/nsynth (json/wav version), extract it to data/nsynth "
                       "or set NSYNTH_DIR, or pass the folder itself as the dataset")


def _read_examples(folder: Path) -> dict[str, Any]:
    path = folder / "examples.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read NSynth examples ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object mapping note names to their attributes")
    return data


def load_nsynth(path: str | os.PathLike | None = None, *, config: SpectrogramConfig | Mapping | None = None,
                seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1,
                level: str | None = None, trim_db: float | None = None, strict: bool = False) -> AudioDataset:
    """A folder in the NSynth layout: labels are ``instrument_family_str`` (sorted names).

    With ``nsynth-train``/``-valid``/``-test`` sub-folders their names give the split;
    a single folder is split at random (seeded, stratified by family). Entries without a WAV
    or without a family are skipped. Metadata: ``file``, ``note_str`` and NSynth's scalar
    fields (``pitch``, ``velocity``, ``instrument_family_str``, ``instrument_source_str``, ...)
    plus ``qualities_str``.
    """
    seed = checks.seed(seed)
    root = Path(path) if path is not None else find_nsynth()
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    split_dirs = _nsynth_split_dirs(root)
    if (root / "examples.json").is_file() and (root / "audio").is_dir():
        parts = [(root, None)]
    elif split_dirs:
        parts = [(d, s) for s, d in sorted(split_dirs.items(), key=lambda kv: SPLITS.index(kv[0]))]
    else:
        raise DatasetError(f"{root}: not an NSynth folder (expected examples.json and audio/)")
    entries: list[tuple[Path, str, str | None, dict]] = []
    skipped: list[SkippedFile] = []
    for folder, split in parts:
        examples = _read_examples(folder)
        for note in sorted(examples):
            info = examples[note]
            wav = folder / "audio" / f"{note}.wav"
            family = info.get("instrument_family_str") if isinstance(info, dict) else None
            if not isinstance(family, str) or not family:
                skipped.append(SkippedFile(str(wav), "examples.json gives no instrument_family_str"))
                continue
            if not wav.is_file():
                skipped.append(SkippedFile(str(wav), "listed in examples.json but the WAV is missing"))
                continue
            meta = {"file": str(wav.relative_to(root)), "note_str": note}
            meta.update({k: v for k, v in info.items()
                         if isinstance(v, (str, int, float, bool)) or k == "qualities_str"})
            entries.append((wav, family, split, meta))
    names = tuple(sorted({e[1] for e in entries}))
    labels = [names.index(e[1]) for e in entries]
    if parts[0][1] is None:
        splits = _assign_splits(labels, seed, _check_fraction("val_fraction", val_fraction),
                                _check_fraction("test_fraction", test_fraction))
    else:
        splits = [e[2] for e in entries]
    clips = [Clip(str(e[0].resolve()), lab, s, e[3]) for e, lab, s in zip(entries, labels, splits)]
    cfg = _check_config(config, *_headers([c.source for c in clips])) if config is None else _check_config(config)
    return _finish(AudioDataset("nsynth", clips, names, cfg, str(root.resolve()), seed,
                                _check_level(level), check_trim(trim_db), skipped, bool(strict)))


# ----------------------------------------------------------------------------- any folder
def _walk_audio(root: Path) -> tuple[list[Path], int]:
    """Audio files under ``root`` (sorted, hidden entries skipped) and the count of other files ignored."""
    found: list[Path] = []
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if name.lower().endswith(AUDIO_EXTENSIONS):
                found.append(Path(dirpath) / name)
            else:
                ignored += 1
    return found, ignored


def load_folder(path: str | os.PathLike, *, config: SpectrogramConfig | Mapping | None = None, seed: int = 0,
                val_fraction: float = 0.1, test_fraction: float = 0.1, level: str | None = None,
                trim_db: float | None = None, strict: bool = False) -> AudioDataset:
    """Every audio file under ``path`` that soundfile can open, labelled by first-level sub-folder.

    Files are found recursively by extension (:data:`AUDIO_EXTENSIONS`; other files are ignored);
    each is opened to check its header, and those that fail are skipped and listed in
    ``dataset.skipped`` (``strict=True``: :class:`DatasetError` instead). Labels are the
    first-level sub-folder names when every file lies in one; otherwise the clips are unlabelled
    (label -1). Split: seeded random, stratified by label. Metadata: ``file`` (relative path),
    ``file_sr``, ``channels``, ``duration_s``.

    Raises :class:`DatasetError` for a missing or empty folder, or one with no readable audio.
    """
    import soundfile as sf

    seed = checks.seed(seed)
    root = Path(path)
    if not root.exists():
        raise DatasetError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetError(f"{root}: is a file; pass the folder that holds the audio files")
    files, ignored = _walk_audio(root)
    if not files:
        extra = f" ({ignored} other file(s) ignored)" if ignored else " (the folder is empty)"
        raise DatasetError(f"{root}: no audio files found{extra}; looked for {', '.join(AUDIO_EXTENSIONS[:8])}, ...")
    readable: list[tuple[Path, dict]] = []
    skipped: list[SkippedFile] = []
    for p in files:
        try:
            if p.stat().st_size == 0:
                raise RuntimeError("file is empty (0 bytes)")
            info = sf.info(str(p))
            if info.frames <= 0:
                raise RuntimeError("contains no samples")
            if not MIN_SR <= info.samplerate <= MAX_SR:
                raise RuntimeError(f"sample rate {info.samplerate} Hz is outside {MIN_SR}..{MAX_SR} Hz")
            meta = {"file": str(p.relative_to(root)), "file_sr": int(info.samplerate),
                    "channels": int(info.channels), "duration_s": round(info.frames / info.samplerate, 4)}
            readable.append((p, meta))
        except Exception as exc:  # soundfile raises several types for unreadable files
            reason = " ".join(str(exc).split()) or type(exc).__name__
            if isinstance(exc, sf.LibsndfileError):  # say why: text file, truncated header, unknown format
                with contextlib.suppress(OSError):
                    reason = describe_unreadable(p, reason).split(": ", 1)[1].removeprefix("cannot read audio (")[:-1]
            skipped.append(SkippedFile(str(p), f"cannot read audio ({reason})"))
    if not readable:
        raise DatasetError(f"{root}: none of the {len(files)} audio file(s) could be read ({skipped_summary(skipped)})")
    in_sub = [len(p.relative_to(root).parts) > 1 for p, _ in readable]
    if all(in_sub):
        tops = [p.relative_to(root).parts[0] for p, _ in readable]
        names = tuple(sorted(set(tops)))
        labels = [names.index(t) for t in tops]
    else:
        names, labels = (), [-1] * len(readable)
    splits = _assign_splits(labels, seed, _check_fraction("val_fraction", val_fraction),
                            _check_fraction("test_fraction", test_fraction))
    clips = [Clip(str(p.resolve()), lab, s, m) for (p, m), lab, s in zip(readable, labels, splits)]
    cfg = _check_config(config, [m["file_sr"] for _, m in readable], [m["duration_s"] for _, m in readable])
    return _finish(AudioDataset("folder", clips, names, cfg, str(root.resolve()), seed,
                                _check_level(level), check_trim(trim_db), skipped, bool(strict)))


# ----------------------------------------------------------------------------- entry point
def load_dataset(spec: str | os.PathLike = "synth", *, config: SpectrogramConfig | Mapping | None = None,
                 max_clips: int | None = None, seed: int = 0, strict: bool = False,
                 level: str | None = None, trim_db: float | None = None,
                 val_fraction: float = 0.1, test_fraction: float = 0.1) -> AudioDataset:
    """Describe a dataset: ``"synth"`` (default), ``"fsdd"``, ``"nsynth"`` or a folder path.

    Parameters
    ----------
    spec : dataset name or folder (a folder in the NSynth layout is detected).
    config : spectrogram settings; default: provisional ones from the files' headers
        (:func:`vae_audio.data.rules.provisional_config`); a run's configuration
        (:func:`vae_audio.resolve.resolve_config`) resolves the real ones from the measured data.
    max_clips : keep at most this many clips, drawn at random (seeded) in proportion to every
        (split, label) group. For ``"synth"`` it is the number of notes made (default 1000).
    seed : seed of the splits, the sub-sample and the synthetic notes.
    strict : raise :class:`DatasetError` instead of skipping files that cannot be read.
    level : loudness normalization when featurizing: ``"peak"`` (each clip to peak 0.9), ``"rms"`` (to
        -20 dBFS RMS, peak kept below 0.99), ``"folder"`` (one gain for every clip, fitted on the training
        split: the 99th-percentile peak to 0.9, relative levels kept) or ``None`` (as recorded, the default;
        a run's configuration chooses from the measured levels, :func:`vae_audio.data.rules.level`).
    trim_db : strip leading/trailing silence quieter than this (dB below each clip's peak)
        before padding; default ``None`` (off; see data/README.md for why).
    val_fraction, test_fraction : held-out fractions for random splits (FSDD's test split is fixed).

    Returns
    -------
    AudioDataset (no audio loaded yet; see :func:`vae_audio.data.featurize.build_features`).
    """
    if max_clips is not None:
        max_clips = checks.whole_number(max_clips, "max_clips", 1, note=" or None")
    common = dict(config=config, seed=seed, level=level, trim_db=trim_db, val_fraction=val_fraction)
    if isinstance(spec, str) and spec.lower() == "synth":
        return load_synth(n_clips=max_clips or 1000, test_fraction=test_fraction, **common)
    if isinstance(spec, str) and spec.lower() == "fsdd":
        ds = load_fsdd(strict=strict, **common)
    elif isinstance(spec, str) and spec.lower() == "nsynth":
        ds = load_nsynth(strict=strict, test_fraction=test_fraction, **common)
    elif isinstance(spec, (str, os.PathLike)) and str(spec):
        p = Path(spec)
        if not p.exists():
            raise DatasetError(f"{spec}: not a dataset name ('synth', 'fsdd', 'nsynth') nor an existing folder")
        loader = load_nsynth if p.is_dir() and is_nsynth_folder(p) else load_folder
        ds = loader(p, strict=strict, test_fraction=test_fraction, **common)
    else:
        raise ParameterError(f"spec={spec!r}: expected 'synth', 'fsdd', 'nsynth' or a folder path")
    ds.clips = subsample_clips(ds.clips, max_clips, ds.seed)
    return _finish(ds)
