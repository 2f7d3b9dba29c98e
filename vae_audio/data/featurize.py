"""Dataset -> normalized spectrograms (with an on-disk cache) -> ``tf.data`` pipelines.

:func:`build_features` turns an :class:`~vae_audio.data.datasets.AudioDataset` into a
:class:`Features` object: every clip loaded (resampled, mono, optional loudness
normalization), padded/truncated to ``config.n_samples``, turned into a dB spectrogram and
normalized to [0, 1] with a :class:`~vae_audio.dsp.features.Normalizer` fitted on the training
split only. Loading streams into preallocated arrays in chunks processed by a small thread
pool (soundfile, soxr and the FFT release the GIL), so no waveform is held twice.

``level="folder"`` (:mod:`vae_audio.dsp.recipe`): one gain for the whole dataset, fitted on the
training clips' window peaks (:func:`~vae_audio.dsp.recipe.fit_folder_gain`; every training clip, or a
seeded sample of :data:`FOLDER_GAIN_CLIPS` of a larger split) before any spectrogram is made, then
applied to every clip of every split and stored in the recipe. In memory the files are then all read
before the spectrograms are made (the reading no longer overlaps the FFTs); a sharded dataset reads
the sampled training clips' windows once more first.

Clips longer than the training window (``max_duration``, :class:`LongClips`): besides the window
(``x``, exactly as before), the whole spectrogram of each clip longer than the window is kept, up to
``max_duration`` seconds, so :func:`make_tf_dataset` can train a grid model on window-long crops at
random offsets. Memory: ``frames x n_freq x 4`` bytes per such clip, at most
``n_long_clips x n_freq x max_frames x 4`` in all and never more than what the memory limit leaves
beside the window arrays (the clips beyond that train on their window, with a warning). Sharded
datasets keep the window only: they train on each clip's start window.

The result is cached in ``data/cache/`` as ``<name>-<key>.npz`` (arrays, no pickle) plus
``<name>-<key>.json`` (recipe, labels, metadata), both written atomically. The
key hashes the settings and every file's path, size and modification time, so editing,
adding or removing a file, or changing any setting, builds a new entry; the stale entry of
the same dataset and settings is then deleted.

A dataset whose spectrograms and waveforms would take more than the memory limit
(:func:`resolve_memory_limit`) is featurized a shard at a time into ``<name>-<key>.shards/``
(``x-*.npy`` and ``audio-*.npy``, each written atomically, checked against their ``.npy`` header
on every cache hit) beside the entry's ``.npz`` of small arrays; ``features.x`` and ``features.audio`` are then
:class:`~vae_audio.data.shards.ShardedArray` views read on demand.

:func:`make_tf_dataset` feeds a split to Keras.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import checks, progress
from ..dsp.audio import load_audio, pad_or_truncate, trim_silence
from ..dsp.features import Normalizer, SpectrogramConfig
from ..dsp.recipe import Recipe, fit_folder_gain, level_gain
from ..errors import AudioLoadError, ConfigError, DatasetError, ParameterError
from ..fileio import atomic_path, atomic_write_json, read_json
from .datasets import SPLITS, AudioDataset, SkippedFile, skipped_summary
from .shards import ShardedArray, check_shard, shard_rows_for, stream

__all__ = ["Features", "LongClips", "build_features", "make_tf_dataset", "resolve_memory_limit", "CACHE_FORMAT",
           "FOLDER_GAIN_CLIPS", "MAX_SECONDS"]

#: Version of the cache layout and of the featurization recipe (part of every cache key).
CACHE_FORMAT = 2
_CHUNK = 128  # clips per work item (load + STFT)
#: ``level="folder"``: the most training clips whose peaks fit the folder gain (a seeded sample of a larger split).
FOLDER_GAIN_CLIPS = 4000
#: The longest ``max_duration`` (s) featurizing keeps of a clip.
MAX_SECONDS = 600.0


@dataclass
class LongClips:
    """The normalized spectrograms of the clips longer than the training window, kept up to ``max_frames``.

    A grid model (fully convolutional in time) trains on window-long crops of them at random offsets
    (:func:`make_tf_dataset`); every other use of the features reads the window, ``Features.x``.

    Attributes
    ----------
    frames : float32 ``(total, freq)``: the frames of every kept clip, one clip after the other
        (frame-major: clip ``i`` is ``frames[start[i]:start[i] + length[i]].T``, ``(freq, length[i])``),
        normalized like ``Features.x``.
    start : int64 ``(n,)``: the first row of clip ``i`` in ``frames``; -1 for a clip that fits the
        window (or that the memory limit left at the window): its only crop is ``Features.x[i]``.
    length : int64 ``(n,)``: the frames of clip ``i`` that hold its audio (``1 + samples // hop``), at most
        ``max_frames``; for a clip kept at the window, at most the window's frames.
    max_frames : the most frames kept of one clip (``1 + round(max_duration * sr) // hop``).

    Memory: ``frames.nbytes = sum(length[start >= 0]) * freq * 4`` bytes, at most
    ``n_clips * freq * max_frames * 4``.
    """

    frames: np.ndarray
    start: np.ndarray
    length: np.ndarray
    max_frames: int

    def select(self, rows: np.ndarray) -> "LongClips":
        """The clips ``rows`` (an index array); the frames are shared, not copied."""
        return LongClips(self.frames, self.start[rows], self.length[rows], self.max_frames)

    @property
    def n_long(self) -> int:
        """Number of clips kept beyond the window."""
        return int(np.sum(self.start >= 0))

    def clip(self, i: int) -> np.ndarray | None:
        """Clip ``i``'s kept spectrogram ``(freq, length[i])`` (a view), or ``None`` when it is kept at the window."""
        s = int(self.start[i])
        return None if s < 0 else self.frames[s:s + int(self.length[i])].T


# ----------------------------------------------------------------------------- features
@dataclass
class Features:
    """Arrays for a whole dataset, row ``i`` = clip ``i``.

    Attributes
    ----------
    x : float32 ``(n, freq, frames)`` normalized spectrograms in [0, 1].
    audio : float32 ``(n, n_samples)`` the waveforms the spectrograms were made from (resampled,
        level-normalized, padded/truncated): the ground truth for listening and evaluation.
    labels : int64 ``(n,)`` label index, -1 when unlabelled.
    label_names : class names (empty when unlabelled).
    split : ``(n,)`` str array of ``"train"`` / ``"val"`` / ``"test"``.
    metadata : one JSON-serializable dict per clip (file, speaker, pitch, family, ...).
    recipe : the :class:`~vae_audio.dsp.recipe.Recipe` used (spectrogram config, level, trim and
        the normalizer fitted on the training split only); ``config`` and ``normalizer`` are
        shortcuts to its parts.
    stats : per-clip ``{"low_db": (n,), "high_db": (n,)}`` ranges for ``normalizer.unnormalize``
        (equal to the global range in global mode).
    name : dataset name; ``skipped``: files left out; ``cache_path``: the cache entry (if any).
    long : the spectrograms of the clips longer than the window, up to ``max_duration``
        (:class:`LongClips`; what a grid model's training crops are cut from), or ``None``: the
        window only (``max_duration`` at the window, or sharded features).
    """

    x: np.ndarray
    audio: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    split: np.ndarray
    metadata: list[dict]
    recipe: Recipe
    stats: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = ""
    skipped: list[SkippedFile] = field(default_factory=list)
    cache_path: Path | None = None
    long: LongClips | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def config(self) -> SpectrogramConfig:
        """The spectrogram settings of :attr:`recipe`."""
        return self.recipe.spectrogram

    @property
    def normalizer(self) -> Normalizer:
        """The fitted normalizer of :attr:`recipe`."""
        return self.recipe.normalizer

    def subset(self, split: str) -> "Features":
        """The clips of one split (``"train"``, ``"val"`` or ``"test"``), as a new :class:`Features`."""
        if split not in SPLITS:
            raise ParameterError(f"split={split!r}: expected 'train', 'val' or 'test'")
        return self.select(self.split == split)

    def select(self, index: np.ndarray) -> "Features":
        """The clips picked by a boolean mask or an index array, as a new :class:`Features`."""
        idx = np.asarray(index)
        rows = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64)
        return Features(self.x[rows], self.audio[rows], self.labels[rows], self.label_names, self.split[rows],
                        [self.metadata[i] for i in rows], self.recipe,
                        {k: v[rows] for k, v in self.stats.items()}, self.name, self.skipped, self.cache_path,
                        None if self.long is None else self.long.select(rows))

    skipped_report = AudioDataset.skipped_report  # the same text: it reads only ``self.skipped``

    def split_counts(self) -> dict[str, int]:
        """Number of clips per split."""
        return {s: int(np.sum(self.split == s)) for s in SPLITS}

    @property
    def max_frames(self) -> int:
        """The most frames kept of one clip: :attr:`LongClips.max_frames`, else the window's."""
        return self.config.n_frames if self.long is None else self.long.max_frames

    def describe(self) -> str:
        """One line: size, shape, splits, labels, normalizer range, clips kept beyond the window."""
        c = self.split_counts()
        norm = self.normalizer
        rng = f"{norm.low_db:.1f}..{norm.high_db:.1f} dB" if norm.is_fitted else "unfitted"
        long = ""
        if self.long is not None:
            long = (f"; {self.long.n_long} clips kept beyond the window, up to {self.long.max_frames} frames "
                    f"({self.long.frames.nbytes / 2**20:.1f} MB)")
        return (f"{self.name}: {len(self)} clips of {self.config.shape} (train {c['train']} / val {c['val']} / "
                f"test {c['test']}), {len(self.label_names) or 'no'} labels, {norm.mode} normalizer {rng}{long}")


# ----------------------------------------------------------------------------- cache key
def _new_normalizer(normalizer: str | Normalizer) -> Normalizer:
    """A fitted Normalizer as given; else a new, unfitted one of the requested mode."""
    if isinstance(normalizer, Normalizer):
        return normalizer if normalizer.is_fitted else Normalizer(mode=normalizer.mode)
    return Normalizer(mode=normalizer)


def _settings(dataset: AudioDataset, recipe: Recipe, normalizer: str | Normalizer, sharded: bool,
              long: tuple[int, int] | None = None) -> dict[str, Any]:
    norm = _new_normalizer(normalizer)
    fitted = norm.to_dict() if norm.is_fitted else None
    settings: dict[str, Any] = {
        "sharded": sharded, "format": CACHE_FORMAT, "name": dataset.name, "root": dataset.root,
        "config": recipe.spectrogram.to_dict(),
        "level": recipe.level, "trim_db": recipe.trim_db, "normalizer": norm.mode, "fitted_normalizer": fitted,
        "label_names": list(dataset.label_names),
    }
    if recipe.folder_gain is not None:  # a given (fitted) folder gain; else it is fitted on the training split
        settings["folder_gain"] = recipe.folder_gain
    if long is not None:  # (max_frames, the bytes the memory limit leaves for them, when it could bite)
        settings["long"] = list(long)
    if dataset.name == "synth":
        from .synth import SYNTH_VERSION

        settings.update(seed=dataset.seed, synth_version=SYNTH_VERSION)
    return settings


def _file_stamp(source: str) -> list:
    if source.startswith("synth:"):
        return [source]
    try:
        st = os.stat(source)
        return [source, st.st_size, st.st_mtime_ns]
    except OSError:
        return [source, -1, -1]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def dataset_digest(dataset: AudioDataset, settings: Any) -> str:
    """A hex digest of JSON-able ``settings`` and every clip of ``dataset`` (source, size, mtime, label,
    split): the key of anything computed from those clips with those settings."""
    clips = [_file_stamp(c.source) + [c.label, c.split] for c in dataset.clips]
    return _digest({"settings": settings, "clips": clips})


def _cache_key(dataset: AudioDataset, recipe: Recipe, normalizer: str | Normalizer,
               sharded: bool, long: tuple[int, int] | None = None) -> tuple[str, str]:
    """(key, settings_key): the key covers settings + every clip's (source, size, mtime, label, split)."""
    settings = _settings(dataset, recipe, normalizer, sharded, long)
    return dataset_digest(dataset, settings), _digest(settings)


# ----------------------------------------------------------------------------- cache I/O
_ARRAYS = ("x", "audio", "labels", "split", "low_db", "high_db", "long_frames", "long_start", "long_length")


def _cache_paths(cache_dir: Path, name: str, key: str) -> tuple[Path, Path]:
    stem = f"{name}-{key[:20]}"
    return cache_dir / f"{stem}.npz", cache_dir / f"{stem}.json"


def _shard_folder(npz: Path) -> Path:
    """Where a sharded entry keeps its ``x-*.npy`` / ``audio-*.npy`` shards."""
    return npz.with_suffix(".shards")


def _load_cache(cache_dir: Path, dataset: AudioDataset, key: str) -> Features | None:
    npz, meta_path = _cache_paths(cache_dir, dataset.name, key)
    if not (npz.is_file() and meta_path.is_file()):
        return None
    try:
        meta = read_json(meta_path)
        if meta.get("key") != key or meta.get("format") != CACHE_FORMAT:
            return None
        recipe = Recipe.from_dict(meta["recipe"])
        cfg = recipe.spectrogram
        n = len(meta["metadata"])
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in _ARRAYS if k in z}
        if "shards" in meta:  # the big arrays live in .npy shards beside the entry
            rows, folder = [int(r) for r in meta["shards"]], _shard_folder(npz)
            if sum(rows) != n:
                raise ValueError("the shards' rows do not add up to the clips")
            for k, r in enumerate(rows):
                for part, shape in (("x", cfg.shape), ("audio", (cfg.n_samples,))):
                    problem = check_shard(folder / f"{part}-{k:05d}.npy", r, shape, np.float32)
                    if problem:
                        raise ValueError(f"shard {problem}")
            arrays["x"], arrays["audio"] = _sharded_arrays(folder, rows, cfg)
        ok = (arrays["x"].shape == (n, *cfg.shape) and arrays["audio"].shape == (n, cfg.n_samples)
              and all(arrays[k].shape == (n,) for k in ("labels", "split", "low_db", "high_db"))
              and arrays["x"].dtype == np.float32)
        if not ok:
            raise ValueError("array shapes do not match the metadata")
        long = None
        if meta.get("max_frames") is not None:
            long = LongClips(arrays["long_frames"], arrays["long_start"].astype(np.int64),
                             arrays["long_length"].astype(np.int64), int(meta["max_frames"]))
            kept = long.start >= 0
            ok = (long.frames.ndim == 2 and long.frames.shape[1] == cfg.n_freq and long.frames.dtype == np.float32
                  and long.start.shape == (n,) and long.length.shape == (n,)
                  and int(long.length[kept].sum()) == len(long.frames)
                  and np.all(long.start[kept] + long.length[kept] <= len(long.frames)))
            if not ok:
                raise ValueError("the long clips' arrays do not match the metadata")
        return Features(arrays["x"], arrays["audio"], arrays["labels"].astype(np.int64), tuple(meta["label_names"]),
                        arrays["split"].astype(str), list(meta["metadata"]), recipe,
                        {"low_db": arrays["low_db"], "high_db": arrays["high_db"]}, meta["name"],
                        [SkippedFile(**s) for s in meta["skipped"]], npz, long)
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        warnings.warn(f"{npz}: ignoring a damaged feature cache entry ({exc}); rebuilding it", stacklevel=3)
        return None


def _save_cache(cache_dir: Path, features: Features, key: str, settings_key: str,
                shard_rows: list[int] | None = None) -> Path | None:
    """Write the entry (``.npz``, then its ``.json`` last). With ``shard_rows`` the spectrograms and
    waveforms are already in the entry's shard folder and the ``.npz`` holds only the small arrays."""
    npz, meta_path = _cache_paths(cache_dir, features.name, key)
    npz_existed = npz.exists()
    big = {} if shard_rows is not None else {"x": features.x, "audio": features.audio}
    if features.long is not None:
        big.update(long_frames=features.long.frames, long_start=features.long.start,
                   long_length=features.long.length)
    try:
        with atomic_path(npz) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **big, labels=features.labels,
                         split=features.split.astype("<U5"), low_db=features.stats["low_db"],
                         high_db=features.stats["high_db"])
        sharded = {} if shard_rows is None else {"shards": shard_rows}
        if features.long is not None:
            sharded["max_frames"] = features.long.max_frames
        atomic_write_json(meta_path, {**sharded,
            "format": CACHE_FORMAT, "key": key, "settings_key": settings_key, "name": features.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "recipe": features.recipe.to_dict(),
            "label_names": list(features.label_names),
            "skipped": [{"path": s.path, "reason": s.reason} for s in features.skipped],
            "metadata": features.metadata,
        }, indent=None)
    except (OSError, ValueError, TypeError) as exc:
        if not npz_existed:  # an entry is the .npz *and* its .json: do not leave half of one behind
            npz.unlink(missing_ok=True)
        warnings.warn(f"{cache_dir}: cannot write the feature cache ({exc}); continuing without it", stacklevel=3)
        return None
    # delete stale entries of the same dataset and settings (files changed since)
    for other in cache_dir.glob(f"{features.name}-*.json"):
        if other == meta_path:
            continue
        try:
            if read_json(other).get("settings_key") == settings_key:
                other.with_suffix(".npz").unlink(missing_ok=True)
                shutil.rmtree(_shard_folder(other.with_suffix(".npz")), ignore_errors=True)
                other.unlink(missing_ok=True)
        except (OSError, ValueError, AttributeError):
            continue
    return npz


# ----------------------------------------------------------------------------- building
MEMORY_LIMIT_ENV = "VAE_AUDIO_MEMORY_LIMIT"
#: Cap of the default memory limit: training from memory peaks at about 1 GB + 3x the data, from
#: shards near 1 GB (``benchmarks/scale.py``, docs/experiments/scaling.md).
DEFAULT_MEMORY_LIMIT_CAP = 512 * 2**20


def resolve_memory_limit(memory_limit: int | str | None) -> int:
    """The memory limit in bytes: ``memory_limit``, else ``$VAE_AUDIO_MEMORY_LIMIT``, else the
    default: an eighth of the physical memory, at most :data:`DEFAULT_MEMORY_LIMIT_CAP` (512 MB)."""
    if memory_limit is None:
        memory_limit = os.environ.get(MEMORY_LIMIT_ENV) or None
        if memory_limit is not None:
            return checks.byte_size(memory_limit, MEMORY_LIMIT_ENV)
        try:
            eighth = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 8
        except (ValueError, OSError, AttributeError):
            eighth = DEFAULT_MEMORY_LIMIT_CAP
        return min(eighth, DEFAULT_MEMORY_LIMIT_CAP)
    return checks.byte_size(memory_limit, "memory_limit")


@dataclass
class _Long:
    """What featurizing keeps beyond the window: ``max_samples`` of a clip (``0``: the window only) and
    the bytes still free for their spectrograms (``budget``, counted down as clips are read, in order)."""

    max_samples: int = 0
    max_frames: int = 0
    budget: int = 0
    capped: int = 0  # clips longer than the window that the budget left at the window

    def take(self, n_samples: int, cfg: SpectrogramConfig) -> bool:
        """Whether a clip of ``n_samples`` (up to :attr:`max_samples`) is kept beyond the window (and counted)."""
        frames = 1 + min(n_samples, self.max_samples) // cfg.hop_length
        if not self.max_samples or frames <= cfg.n_frames:
            return False
        cost = frames * cfg.n_freq * 4
        if cost > self.budget:
            self.capped += 1
            return False
        self.budget -= cost
        return True


def _read_clip(path: str, cfg: SpectrogramConfig, trim_db: float | None, max_samples: int) -> np.ndarray:
    """One file as featurizing reads it: mono at ``cfg.sr``, silence trimmed (``trim_db``), at most
    ``max(cfg.n_samples, max_samples)`` samples (only what is needed is read, plus a margin for the resampler)."""
    keep = max(cfg.n_samples, max_samples)
    if trim_db is not None:
        return trim_silence(load_audio(path, sr=cfg.sr)[0], top_db=trim_db)[:keep]
    y, _ = load_audio(path, sr=cfg.sr, duration=keep / cfg.sr + 0.05)
    return y[:keep]


def build_features(dataset: AudioDataset, *, normalizer: str | Normalizer = "global", recipe: Recipe | None = None,
                   cache_dir: str | os.PathLike | None = "data/cache", use_cache: bool = True,
                   workers: int | None = None, memory_limit: int | str | None = None,
                   max_duration: float | None = None, verbose: bool = False) -> Features:
    """Load, featurize and normalize every clip of ``dataset`` (cached on disk).

    Parameters
    ----------
    dataset : from :func:`vae_audio.data.datasets.load_dataset`.
    normalizer : ``"global"`` (default: one dB range, fitted on the training split),
        ``"per_clip"``, or a fitted :class:`Normalizer` to apply as is.
    recipe : a trained model's :class:`~vae_audio.dsp.recipe.Recipe` (``model.recipe``): featurize
        exactly as that model was trained (its level, folder gain, trim and fitted normalizer replace
        the dataset's and ``normalizer``). Its spectrogram config must be the dataset's.
    cache_dir : folder of the feature cache (default ``data/cache``, relative to the current
        folder); ``None`` disables it.
    use_cache : read and write the cache (``False``: always recompute, write nothing).
    workers : threads loading and transforming chunks of clips (default: the number of CPUs).
    memory_limit : bytes (or a string such as ``"2GB"``) the spectrograms and waveforms may take
        in memory; a larger dataset is featurized into ``.npy`` shards in the cache and its
        ``x`` / ``audio`` are :class:`~vae_audio.data.shards.ShardedArray` views read on demand
        (:func:`make_tf_dataset` then streams them). Default: :func:`resolve_memory_limit`
        (not enforced without a cache folder: the data then stays in memory).
    max_duration : seconds of each clip to keep for training (at least the window,
        ``dataset.config.duration``; at most :data:`MAX_SECONDS`): the clips longer than the window
        also keep their spectrogram up to this length in ``features.long`` (:class:`LongClips`), what a
        grid model's random training crops are cut from. ``None`` (default) or the window: the window
        only. Needs the global normalizer; ignored for sharded features (they keep the window only).
    verbose : print one line saying what was done and how long it took.

    Returns
    -------
    Features (see its attributes). Clips whose file fails to load are dropped and added to
    ``features.skipped`` (with ``dataset.strict``: :class:`DatasetError` instead).
    """
    if not isinstance(dataset, AudioDataset):
        raise ParameterError(f"dataset: expected an AudioDataset (from load_dataset), got {type(dataset).__name__}")
    t0 = time.perf_counter()
    workers = checks.whole_number(max(1, os.cpu_count() or 1) if workers is None else workers, "workers", 1,
                                  note=" or None")
    if recipe is not None:
        if not isinstance(recipe, Recipe) or not recipe.is_fitted:
            raise ParameterError("recipe: expected a fitted Recipe (a trained model's model.recipe)")
        if recipe.spectrogram != dataset.config:
            raise ConfigError(f"recipe: its spectrogram config ({recipe.spectrogram.describe()}) is not the "
                              f"dataset's ({dataset.config.describe()}); load the dataset with "
                              "config=recipe.spectrogram")
        normalizer = recipe.normalizer
    else:
        if not isinstance(normalizer, Normalizer) and normalizer not in Normalizer.MODES:
            raise ParameterError(f"normalizer={normalizer!r}: expected one of {Normalizer.MODES} or a Normalizer")
        recipe = dataset.recipe
    mode = normalizer.mode if isinstance(normalizer, Normalizer) else normalizer
    if recipe.level == "folder" and mode != "global":
        raise ParameterError("normalizer='per_clip' with level='folder': a per-clip dB range would undo the "
                             "clips' relative levels that the folder level keeps; use the global normalizer")
    limit = resolve_memory_limit(memory_limit)
    cfg = recipe.spectrogram
    window_bytes = len(dataset.clips) * (int(np.prod(cfg.shape)) + cfg.n_samples) * 4
    sharded = window_bytes > limit
    cache = Path(cache_dir) if (cache_dir is not None and use_cache) else None
    if sharded and cache is None and memory_limit is None and not os.environ.get(MEMORY_LIMIT_ENV):
        sharded = False  # the default limit is a preference: without a cache folder, stay in memory
    if sharded and cache is None:
        raise ConfigError(f"{dataset.root or dataset.name}: {len(dataset.clips)} clips need more than the memory limit "
                          f"of {limit / 2**30:.2f} GB; featurizing them into shards needs a cache folder "
                          "(cache_dir, use_cache=True) or a higher memory_limit")
    long = _long_settings(max_duration, cfg, mode, len(dataset.clips), max(0, limit - window_bytes), sharded)
    long_key = None if not long.max_samples else (long.max_frames, long.budget)
    if cache is not None:
        key, settings_key = _cache_key(dataset, recipe, normalizer, sharded, long_key)
        hit = _load_cache(cache, dataset, key)
        if hit is not None:
            if verbose:
                print(f"{hit.describe()} (from cache {hit.cache_path}, {time.perf_counter() - t0:.2f} s)")
            return hit
    if sharded:
        npz, _ = _cache_paths(cache, dataset.name, key)
        features, rows = _compute_sharded(dataset, recipe, normalizer, workers, _shard_folder(npz))
        features.cache_path = _save_cache(cache, features, key, settings_key, rows)
        if features.cache_path is None:
            raise DatasetError(f"{cache}: cannot write the feature cache, and {dataset.name} is too large for memory")
    else:
        features = _compute(dataset, recipe, normalizer, workers, long)
        if cache is not None:
            features.cache_path = _save_cache(cache, features, key, settings_key)
    if long.capped:
        warnings.warn(f"{dataset.root or dataset.name}: {long.capped} clip(s) longer than the window are kept at the "
                      f"window only (a grid model trains on their start): their spectrograms up to "
                      f"{long.max_samples / cfg.sr:g} s would pass the memory limit of {limit / 2**20:.0f} MB",
                      stacklevel=2)
    if verbose:
        print(f"{features.describe()} (built in {time.perf_counter() - t0:.1f} s)")
        if features.skipped:
            print(features.skipped_report())
        if sharded and max_duration is not None and long.max_frames == 0 and \
                int(round(max_duration * cfg.sr)) // cfg.hop_length > cfg.n_samples // cfg.hop_length:
            print(f"{dataset.name}: sharded features keep each clip's window only; training uses its start")
    return features


def _long_settings(max_duration: Any, cfg: SpectrogramConfig, mode: str, n_clips: int, free: int,
                   sharded: bool) -> _Long:
    """Check ``max_duration`` and say what is kept beyond the window (nothing when sharded or at the window).

    The budget is what the memory limit leaves beside the window arrays (``free`` bytes), at most what
    every clip at ``max_frames`` would need (so a higher limit does not change the cache key)."""
    if max_duration is None:
        return _Long()
    checks.number(max_duration, "max_duration", 0, MAX_SECONDS, lo_open=True, what="a number of seconds")
    max_samples = int(round(max_duration * cfg.sr))
    if max_samples < cfg.n_samples - 1:  # a rounding of the window is the window
        raise ParameterError(f"max_duration={max_duration!r}: expected at least the window, {cfg.duration:g} s")
    max_frames = 1 + max_samples // cfg.hop_length
    if max_frames <= cfg.n_frames or sharded:
        return _Long()
    if mode != "global":
        raise ParameterError(f"max_duration={max_duration!r} with normalizer='per_clip': the random crops of clips "
                             "longer than the window need the global normalizer (one dB range for every frame)")
    return _Long(max_samples, max_frames, min(free, n_clips * cfg.n_freq * max_frames * 4))


def _gain_rows(dataset: AudioDataset) -> np.ndarray:
    """The clips whose window peaks fit the folder gain: every training clip, or a seeded sample of
    :data:`FOLDER_GAIN_CLIPS` of them (sorted), the same whichever way the dataset is featurized."""
    train = np.flatnonzero(np.array([c.split == "train" for c in dataset.clips], dtype=bool))
    if len(train) <= FOLDER_GAIN_CLIPS:
        return train
    rng = np.random.default_rng([int(dataset.seed), 31])
    return np.sort(rng.choice(train, size=FOLDER_GAIN_CLIPS, replace=False))


def _fit_gain(recipe: Recipe, audio: np.ndarray, rows: np.ndarray) -> Recipe:
    """``recipe`` with the folder gain fitted on the window peaks of ``audio[rows]`` (waveforms as read)."""
    peaks = np.abs(audio[rows]).max(axis=1) if len(rows) else np.zeros(0)
    return recipe.with_folder_gain(fit_folder_gain(peaks))


@dataclass
class _Block:
    """What :func:`_featurize_block` makes of ``m`` clips.

    ``audio`` ``(m, n_samples)`` and ``x`` ``(m, freq, frames)`` dB: the windows; ``long_db``: the row of
    each clip kept beyond the window -> its dB spectrogram ``(frames, freq)`` (frame-major), at the
    window's level gain; ``valid`` ``(m,)``: each clip's frames that hold audio (``1 + samples // hop`` of
    what was kept); ``failed``: the row of each clip that could not be loaded -> the reason (its row
    is left as silence); ``recipe``: the recipe used (with the folder gain when it was fitted here).
    """

    audio: np.ndarray
    x: np.ndarray
    long_db: dict[int, np.ndarray]
    valid: np.ndarray
    failed: dict[int, str]
    recipe: Recipe


def _featurize_block(dataset: AudioDataset, recipe: Recipe, lo: int, hi: int, workers: int, shown: Any, *,
                     long: _Long | None = None,
                     fit_gain: Callable[[np.ndarray, dict[int, str]], Recipe] | None = None) -> _Block:
    """Clips ``lo..hi`` of ``dataset`` -> their :class:`_Block`.

    ``long`` (see :class:`_Long`) says which clips are kept beyond the window. With ``fit_gain``
    (``level="folder"`` not fitted yet) every clip is read before any spectrogram is made, and
    ``fit_gain(audio, failed)`` gives the recipe with its folder gain. Counts every clip on the
    progress bar ``shown``.
    """
    cfg, n = recipe.spectrogram, hi - lo
    long = long or _Long()
    clips = dataset.clips[lo:hi]
    synth = dataset.name == "synth"
    if synth:
        from .synth import generate_synth

        indices = [int(c.source.split(":", 1)[1]) for c in clips]
        audio, _ = generate_synth(sr=cfg.sr, n_samples=cfg.n_samples, seed=dataset.seed, indices=indices)
    else:
        audio = np.zeros((n, cfg.n_samples), dtype=np.float32)  # filled row by row as files are read
    x = np.empty((n, *cfg.shape), dtype=np.float32)
    failed: dict[int, str] = {}
    tails: dict[int, np.ndarray] = {}  # the waveforms of the clips kept beyond the window, until transformed
    long_db: dict[int, np.ndarray] = {}
    valid = np.full(n, cfg.n_frames, dtype=np.int64)

    def read(start: int) -> None:
        """Python-heavy part: read, resample, pad the files of one chunk into ``audio``."""
        sl = slice(start, min(start + _CHUNK, n))
        if synth:
            if recipe.trim_db is not None:
                audio[sl] = pad_or_truncate(audio[sl], cfg.n_samples, trim_db=recipe.trim_db)
            return
        for i in range(sl.start, sl.stop):
            try:
                y = _read_clip(clips[i].source, cfg, recipe.trim_db, long.max_samples)
            except (AudioLoadError, ValueError) as exc:  # ValueError: any other per-file problem
                msg = " ".join(str(exc).split())  # one line, without the path repeated in front
                failed[i] = msg.removeprefix(f"{clips[i].source}: ")
                continue
            m = min(y.shape[-1], cfg.n_samples)
            audio[i, :m] = y[:m]
            valid[i] = 1 + y.shape[-1] // cfg.hop_length
            if long.take(y.shape[-1], cfg):
                tails[i] = y.copy()  # not a view of the whole file

    def transform(start: int, use: Recipe) -> None:
        """NumPy-heavy part (releases the GIL): level, spectrogram, dB of one chunk into ``x``."""
        sl = slice(start, min(start + _CHUNK, n))
        if use.level is not None:
            gain = level_gain(audio[sl], use.level, use.folder_gain)
            for i in [i for i in tails if sl.start <= i < sl.stop]:
                tails[i] = tails[i] * gain[i - sl.start]
            audio[sl] = (audio[sl] * gain).astype(np.float32)
        x[sl] = use.spectrogram_db(audio[sl])
        for i in [i for i in tails if sl.start <= i < sl.stop]:
            long_db[i] = np.ascontiguousarray(use.spectrogram_db(tails.pop(i)).T)

    starts = range(0, n, _CHUNK)
    if fit_gain is not None:  # the folder gain needs every training clip's peak before any spectrogram
        for s in starts:
            read(s)
            shown.update(min(_CHUNK, n - s))
        recipe = fit_gain(audio, failed)
        if workers == 1 or n <= _CHUNK:
            for s in starts:
                transform(s, recipe)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for job in [pool.submit(transform, s, recipe) for s in starts]:
                    job.result()
    elif workers == 1 or n <= _CHUNK:
        for s in starts:
            read(s)
            transform(s, recipe)
            shown.update(min(_CHUNK, n - s))
    else:
        # this thread reads chunk k while the pool transforms the chunks already read: the GIL-bound
        # file reading overlaps the FFTs instead of competing with them
        with ThreadPoolExecutor(max_workers=workers - 1) as pool:
            jobs = []
            for s in starts:
                read(s)
                jobs.append((s, pool.submit(transform, s, recipe)))
                if not synth:  # reading is the slow part: count chunks as they are read
                    shown.update(min(_CHUNK, n - s))
            for s, job in jobs:
                job.result()
                if synth:
                    shown.update(min(_CHUNK, n - s))
    return _Block(audio, x, long_db, valid, failed, recipe)


def _check_loaded(dataset: AudioDataset, failed: dict[int, str], split: np.ndarray) -> list[SkippedFile]:
    """The skipped files (the dataset's + those that failed); refuse a strict dataset with failures
    or a dataset left without a training clip. ``split`` holds the splits of the clips kept."""
    skipped = list(dataset.skipped) + [SkippedFile(dataset.clips[i].source, msg) for i, msg in sorted(failed.items())]
    if failed and dataset.strict:
        raise DatasetError(f"{dataset.root or dataset.name}: strict=True and {len(failed)} file(s) failed to load "
                           f"({skipped_summary(skipped[len(dataset.skipped):])})")
    if not np.any(split == "train"):
        raise DatasetError(f"{dataset.root or dataset.name}: no training clip could be loaded "
                           f"({skipped_summary(skipped)})")
    return skipped


def _check_not_silent(dataset: AudioDataset, normalizer: str | Normalizer, norm: Normalizer) -> None:
    # nothing to learn, and every generated clip would be silence
    if norm is not normalizer and norm.high_db - norm.low_db < 1e-3:
        raise DatasetError(f"{dataset.root or dataset.name}: every training clip is silent (all spectrogram values "
                           f"are {norm.low_db:g} dB); add audio that is not silence")


def _compute(dataset: AudioDataset, recipe: Recipe, normalizer: str | Normalizer, workers: int,
             long: _Long) -> Features:
    n = len(dataset.clips)
    fit_gain = None
    if recipe.level == "folder" and recipe.folder_gain is None:
        rows = _gain_rows(dataset)

        def fit_gain(audio: np.ndarray, failed: dict[int, str]) -> Recipe:
            return _fit_gain(recipe, audio, rows[~np.isin(rows, list(failed))])

    with progress.bar(n, f"featurizing {dataset.name}") as shown:
        block = _featurize_block(dataset, recipe, 0, n, workers, shown, long=long, fit_gain=fit_gain)
    audio, x, long_db, valid, failed, recipe = (block.audio, block.x, block.long_db, block.valid, block.failed,
                                                block.recipe)
    del block
    metadata = [dict(c.metadata) for c in dataset.clips]
    labels = np.array([c.label for c in dataset.clips], dtype=np.int64)
    split = np.array([c.split for c in dataset.clips], dtype="<U5")
    keep = np.ones(n, dtype=bool)
    keep[list(failed)] = False
    skipped = _check_loaded(dataset, failed, split[keep])
    if failed:
        x, audio, labels, split, valid = x[keep], audio[keep], labels[keep], split[keep], valid[keep]
        metadata = [m for i, m in enumerate(metadata) if keep[i]]
        new_row = np.cumsum(keep) - 1
        long_db = {int(new_row[i]): v for i, v in long_db.items()}

    norm = _new_normalizer(normalizer)
    if norm is not normalizer:  # fit it on the training rows (and their frames beyond the window)
        _partial_fit(norm, x, split)
        for i in sorted(long_db):
            if split[i] == "train":
                norm.partial_fit(long_db[i].T)
    _check_not_silent(dataset, normalizer, norm)
    low = np.empty(len(x), dtype=np.float64)
    high = np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), _CHUNK):
        sl = slice(start, start + _CHUNK)
        x[sl], stats = norm.normalize(x[sl], return_stats=True)
        low[sl], high[sl] = stats["low_db"], stats["high_db"]
    kept = None
    if long.max_samples:
        kept = _pack_long(long_db, valid, long.max_frames, recipe.spectrogram, norm)
    return Features(x, audio, labels, tuple(dataset.label_names), split, metadata,
                    recipe.with_normalizer(norm), {"low_db": low, "high_db": high}, dataset.name, skipped, long=kept)


def _pack_long(long_db: dict[int, np.ndarray], valid: np.ndarray, max_frames: int, cfg: SpectrogramConfig,
               norm: Normalizer) -> LongClips:
    """The dB spectrograms ``(frames, freq)`` of the clips kept beyond the window as one normalized
    :class:`LongClips` (emptied from ``long_db`` as they are copied, so they are not held twice).
    ``valid`` ``(n,)``: every clip's frames that hold audio (those kept at the window count up to it)."""
    n, freq = len(valid), cfg.n_freq
    start = np.full(n, -1, dtype=np.int64)
    rows = sorted(long_db)
    length = np.minimum(valid, cfg.n_frames).astype(np.int64)
    for i in rows:
        length[i] = len(long_db[i])
    frames = np.empty((int(length[rows].sum()) if rows else 0, freq), dtype=np.float32)
    pos = 0
    for i in rows:
        clip = long_db.pop(i)
        start[i] = pos
        frames[pos:pos + len(clip)] = clip
        pos += len(clip)
    for a in range(0, len(frames), 4096):  # the global normalizer is the same function of every value
        frames[a:a + 4096] = norm.normalize(frames[a:a + 4096].T).T
    return LongClips(frames, start, length, int(max_frames))


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)


def _sharded_folder_gain(dataset: AudioDataset, recipe: Recipe) -> Recipe:
    """``level="folder"`` of a sharded dataset: the folder gain fitted on the window peaks of the clips of
    :func:`_gain_rows`, read once more here exactly as :func:`_featurize_block` reads them."""
    cfg, rows = recipe.spectrogram, _gain_rows(dataset)
    peaks = np.zeros(len(rows), dtype=np.float32)
    with progress.bar(len(rows), f"measuring {dataset.name}'s level") as shown:
        if dataset.name == "synth":
            from .synth import generate_synth

            for a in range(0, len(rows), _CHUNK):
                idx = [int(dataset.clips[i].source.split(":", 1)[1]) for i in rows[a:a + _CHUNK]]
                audio, _ = generate_synth(sr=cfg.sr, n_samples=cfg.n_samples, seed=dataset.seed, indices=idx)
                if recipe.trim_db is not None:
                    audio = pad_or_truncate(audio, cfg.n_samples, trim_db=recipe.trim_db)
                peaks[a:a + len(idx)] = np.abs(audio).max(axis=1)
                shown.update(len(idx))
        else:
            for k, i in enumerate(rows):
                try:
                    peaks[k] = np.abs(_read_clip(dataset.clips[i].source, cfg, recipe.trim_db, 0)[:cfg.n_samples]).max()
                except (AudioLoadError, ValueError):  # skipped when featurized too
                    pass
                shown.update(1)
    return recipe.with_folder_gain(fit_folder_gain(peaks))


def _compute_sharded(dataset: AudioDataset, recipe: Recipe, normalizer: str | Normalizer, workers: int,
                     folder: Path) -> tuple[Features, list[int]]:
    """Featurize ``dataset`` block by block into ``.npy`` shards in ``folder`` (memory: one block).

    Two passes: the first writes each shard's waveforms and dB spectrograms and fits the
    normalizer on the training rows; the second normalizes each spectrogram shard in place
    (atomically). ``level="folder"`` first fits the folder gain (:func:`_sharded_folder_gain`).
    Returns the features (``x`` and ``audio`` are :class:`ShardedArray` views) and the rows of
    each shard. Only the window of each clip is kept (a grid model trains on its start).
    """
    if recipe.level == "folder" and recipe.folder_gain is None:
        recipe = _sharded_folder_gain(dataset, recipe)
    cfg, n = recipe.spectrogram, len(dataset.clips)
    step = shard_rows_for(int(np.prod(cfg.shape)) * 4)
    folder.mkdir(parents=True, exist_ok=True)
    norm = _new_normalizer(normalizer)
    keep = np.ones(n, dtype=bool)
    failed: dict[int, str] = {}
    rows: list[int] = []
    split_all = np.array([c.split for c in dataset.clips], dtype="<U5")
    with progress.bar(n, f"featurizing {dataset.name} into shards") as shown:
        for k, lo in enumerate(range(0, n, step)):
            hi = min(lo + step, n)
            block = _featurize_block(dataset, recipe, lo, hi, workers, shown)
            audio, x_db, bad = block.audio, block.x, block.failed
            del block
            ok = np.ones(hi - lo, dtype=bool)
            ok[list(bad)] = False
            failed.update({lo + i: msg for i, msg in bad.items()})
            keep[lo:hi] = ok
            audio, x_db = audio[ok], x_db[ok]
            if norm is not normalizer:
                _partial_fit(norm, x_db, split_all[lo:hi][ok])
            _save_npy(folder / f"audio-{k:05d}.npy", audio)
            _save_npy(folder / f"x-{k:05d}.npy", x_db)
            rows.append(int(ok.sum()))
            del audio, x_db
    split = split_all[keep]
    skipped = _check_loaded(dataset, failed, split)
    _check_not_silent(dataset, normalizer, norm)
    low, high = [], []
    for k in range(len(rows)):
        x_db = np.load(folder / f"x-{k:05d}.npy", allow_pickle=False)
        x_norm, stats = norm.normalize(x_db, return_stats=True)
        _save_npy(folder / f"x-{k:05d}.npy", x_norm.astype(np.float32))
        low.append(stats["low_db"])
        high.append(stats["high_db"])
        del x_db, x_norm
    labels = np.array([c.label for c in dataset.clips], dtype=np.int64)[keep]
    metadata = [c.metadata for i, c in enumerate(dataset.clips) if keep[i]]  # shared, not copied: 100,000 dicts
    features = Features(*_sharded_arrays(folder, rows, cfg), labels, tuple(dataset.label_names), split, metadata,
                        recipe.with_normalizer(norm), {"low_db": np.concatenate(low), "high_db": np.concatenate(high)},
                        dataset.name, skipped)
    return features, rows


def _sharded_arrays(folder: Path, rows: list[int], cfg: SpectrogramConfig) -> tuple[ShardedArray, ShardedArray]:
    k = range(len(rows))
    return (ShardedArray([folder / f"x-{i:05d}.npy" for i in k], rows, cfg.shape, np.float32),
            ShardedArray([folder / f"audio-{i:05d}.npy" for i in k], rows, (cfg.n_samples,), np.float32))


def _partial_fit(norm: Normalizer, x_db: np.ndarray, split: np.ndarray) -> None:
    """Fit ``norm`` further on the training rows of ``x_db``, chunk by chunk."""
    train = np.flatnonzero(split == "train")
    for start in range(0, len(train), _CHUNK):
        norm.partial_fit(x_db[train[start:start + _CHUNK]])


# ----------------------------------------------------------------------------- tf.data
def make_tf_dataset(features: Features, *, split: str | None = "train", batch_size: int = 64,
                    shuffle: bool = True, seed: int = 0, with_labels: bool = False,
                    drop_remainder: bool = False, crops: bool | None = None):
    """A ``tf.data.Dataset`` of one split (``split=None``: every clip) for Keras ``fit``/``evaluate``.

    Elements are dicts: ``{"spectrogram": float32 (batch, freq, frames, 1)}``, plus
    ``"label": int32 (batch,)`` when ``with_labels``. The split's spectrograms are held once in
    memory as one tensor, or, for sharded features, read batch by batch from the shards
    (:func:`vae_audio.data.shards.stream`, the same order). With ``shuffle`` the clips are
    reshuffled every epoch from ``seed`` (the same seed, the same epochs); batches are prefetched.

    ``crops`` (default: ``shuffle``, i.e. a training pipeline): when the features keep clips longer
    than the window (``features.long``, :class:`LongClips`), each such clip is given as a window-long
    crop ``(freq, frames)`` at a random offset within its kept frames, drawn anew every epoch from
    ``seed`` (the same seed, the same crops); the other clips are their window ``x`` as always. Without
    crops (validation, test) every clip is its window ``x``, the start of the clip. Only a fully
    convolutional (grid) model should be trained on crops of a longer clip: the others are too, since
    a crop has the window's shape, but they are meant to learn the clip's start (the vector-latent
    architectures' runs keep the window only, ``recipe.max_duration == recipe.duration``).
    """
    import tensorflow as tf

    checks.whole_number(batch_size, "batch_size", 1)
    if split is not None and split not in SPLITS:
        raise ParameterError(f"split={split!r}: expected 'train', 'val' or 'test'")
    rows = np.arange(len(features)) if split is None else np.flatnonzero(features.split == split)
    if len(rows) == 0:
        raise DatasetError(f"{features.name}: the {split!r} split has no clips")
    sub_labels = features.labels[rows]
    if with_labels and (not features.label_names or np.any(sub_labels < 0)):
        raise DatasetError(f"{features.name}: with_labels=True but the clips have no labels")
    if isinstance(features.x, ShardedArray):  # larger than memory: read batch by batch
        return stream(features.x[rows], sub_labels if with_labels else None, batch_size=int(batch_size),
                      shuffle=shuffle, seed=int(seed), drop_remainder=drop_remainder)
    labels = tf.constant(sub_labels.astype(np.int32)) if with_labels else None
    order = tf.data.Dataset.range(len(rows))
    if shuffle:
        order = order.shuffle(len(rows), seed=int(seed), reshuffle_each_iteration=True)
    long = features.long.select(rows) if features.long is not None else None
    if (shuffle if crops is None else crops) and long is not None and long.n_long:
        return _cropped(features, rows, long, order, labels, int(seed), int(batch_size), drop_remainder)
    # one copy of the split's spectrograms, made by TensorFlow (not the waveforms, not a NumPy copy first)
    spectrograms = tf.constant(features.x[..., None] if split is None else features.x[rows][..., None])
    order = order.batch(int(batch_size), drop_remainder=drop_remainder)

    def gather(idx):
        element = {"spectrogram": tf.gather(spectrograms, idx)}
        if labels is not None:
            element["label"] = tf.gather(labels, idx)
        return element

    return order.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def _crop_pool(x: np.ndarray, rows: np.ndarray, long: LongClips) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every frame a crop of the clips ``rows`` may take, as one array: ``(pool (total, freq), first (m,),
    offsets (m,))``: clip ``j``'s crops start at ``pool[first[j] + o]`` for ``o`` in ``0 .. offsets[j] - 1``
    (its window's frames for a clip kept at the window: one offset; its kept frames for the others)."""
    m, (freq, window) = len(rows), x.shape[1:]
    at_window = long.start < 0
    pool = np.empty((int(at_window.sum()) * window + int(long.length[~at_window].sum()), freq), dtype=np.float32)
    first = np.empty(m, dtype=np.int64)
    offsets = np.ones(m, dtype=np.int64)
    short = np.flatnonzero(at_window)
    for a in range(0, len(short), 512):  # the windows, transposed to frame-major a block at a time
        part = short[a:a + 512]
        pool[a * window:(a + len(part)) * window] = x[rows[part]].transpose(0, 2, 1).reshape(-1, freq)
    first[short] = np.arange(len(short)) * window
    pos = len(short) * window
    for j in np.flatnonzero(~at_window):
        s, n = int(long.start[j]), int(long.length[j])
        pool[pos:pos + n] = long.frames[s:s + n]
        first[j], offsets[j] = pos, n - window + 1
        pos += n
    return pool, first, offsets


def _cropped(features: Features, rows: np.ndarray, long: LongClips, order, labels, seed: int, batch_size: int,
             drop_remainder: bool):
    """The training pipeline of :func:`make_tf_dataset` with random crops (see there)."""
    import tensorflow as tf

    window = features.config.n_frames
    pool, first, offsets = _crop_pool(features.x, rows, long)
    pool_t = tf.constant(pool)
    del pool
    first_t, offsets_t = tf.constant(first), tf.constant(offsets)
    draws = tf.data.Dataset.random(seed=int(np.random.default_rng([seed, 29]).integers(2**31)),
                                   rerandomize_each_iteration=True)
    batches = tf.data.Dataset.zip((order, draws)).batch(batch_size, drop_remainder=drop_remainder)
    steps = tf.range(window, dtype=tf.int64)

    def gather(idx, draw):
        offset = tf.math.floormod(draw, tf.gather(offsets_t, idx))  # uniform in 0 .. offsets - 1
        frames = (tf.gather(first_t, idx) + offset)[:, None] + steps[None, :]  # (batch, window)
        element = {"spectrogram": tf.transpose(tf.gather(pool_t, frames), [0, 2, 1])[..., None]}
        if labels is not None:
            element["label"] = tf.gather(labels, idx)
        return element

    return batches.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
