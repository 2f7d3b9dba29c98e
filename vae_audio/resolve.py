"""A run's configuration resolved: the package's defaults, the choices derived from the data, the user's settings.

:func:`resolve_config` takes what the user gave (a partial :class:`~vae_audio.config.RunConfig`, a
mapping of keys, or shorthand keywords), lists the data, and fills every unset key: first from the
data (its sample rate, clip lengths, labels, ...), then from the package's defaults. It returns a
:class:`Resolution`: the resolved configuration, the listed dataset with the resolved recipe put in,
and one reason per key (``"given"``, ``"package default"`` or what the data said), which
``vae-audio train`` prints and ``--dry-run`` shows without training.

The step counts ``training.epochs`` and ``prior.steps`` are the exception: when not given they are left
unset here (:attr:`Resolution.pending`) and resolved by the time budget (:mod:`vae_audio.budget`), which
measures the step times once the data is featurized; the run then saves them like every other key.

A resolved configuration resolves to itself: ``vae-audio train --config RUN/config.json`` derives
nothing and repeats the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from .choices import (
    ARCH_DEFAULTS,
    DEFAULT_BATCH_SIZES,
    DEFAULT_LATENT_DIM,
    DEFAULT_LIKELIHOODS,
    DEFAULT_PRIOR_TEMPERATURE,
    PRIOR_DEFAULTS,
)
from .config import SHORTHANDS, RunConfig, flatten, known_keys
from .errors import ConfigError

if TYPE_CHECKING:
    from .data.inspection import DataSummary

__all__ = ["Resolution", "resolve_config", "spectrogram_config", "check_featurized", "check_max_duration", "max_frames",
           "run_name", "given_keys", "MAX_DURATION_WINDOWS", "BUDGET_KEYS"]

GIVEN = "given"
DEFAULT = "package default"
#: ``recipe.max_duration`` of a grid model by default: this many training windows (a clip longer than the
#: window trains on window-long crops at random offsets within its first 4 windows)
MAX_DURATION_WINDOWS = 4
#: the keys the time budget (:mod:`vae_audio.budget`) resolves after featurizing when they are not given
BUDGET_KEYS = ("training.epochs", "prior.steps")
#: their reason until then
PENDING = "the time budget (measured after featurizing)"
#: keys measured after the autoencoder and the prior are trained, on the validation split
#: (:mod:`vae_audio.tuning`); a resolution leaves them unset unless given, and :mod:`vae_audio.pipeline` sets them
DEFERRED = ("prior.temperature", "prior.onset_noise", "postfilter.enabled", "postfilter.texture")
AFTER_TRAINING = "chosen on the validation split after training"


@dataclass(frozen=True)
class Resolution:
    """What :func:`resolve_config` returns.

    Attributes
    ----------
    config : the resolved :class:`~vae_audio.config.RunConfig` (``config.resolved`` is true).
    dataset : the :class:`~vae_audio.data.datasets.AudioDataset` the run trains on, listed with
        ``config.data`` and carrying the resolved recipe (spectrogram settings, level, trim).
    reasons : one line per key: ``"given"``, ``"package default"`` or the data-derived reason.
    summary : the :class:`~vae_audio.data.inspection.DataSummary` of the data (rates, lengths, levels per
        label, skipped files), measured once before any key is derived, for the rules that derive them;
        ``vae-audio train`` prints it (of data given featurized: from its metadata, without levels).
    """

    config: RunConfig
    dataset: Any
    reasons: dict[str, str]
    summary: DataSummary | None = None

    @property
    def pending(self) -> list[str]:
        """The :data:`BUDGET_KEYS` still unset, for :mod:`vae_audio.budget` to resolve."""
        return [key for key in BUDGET_KEYS if self.config.get(key) is None]

    def describe(self, *, derived_only: bool = False, grouped: bool = False, width: int = 120) -> str:
        """The settings as ``key = value  (reason)`` lines (only the derived ones with ``derived_only``).

        ``grouped``: one entry per reason instead, ``reason: key = value, key = value, ...``, wrapped
        between settings at ``width`` columns (what ``vae-audio train`` prints: a few lines).
        """
        rows = []
        for key in known_keys():
            reason = self.reasons.get(key, DEFAULT)
            if derived_only and reason in (GIVEN, DEFAULT) or key in _QUIET and reason == DEFAULT:
                continue
            rows.append((key, _show(self.config.get(key)), reason))
        if not grouped:
            return "\n".join(f"  {key} = {value}  ({reason})" for key, value, reason in rows)
        by_reason: dict[str, list[str]] = {}
        for key, value, reason in rows:
            by_reason.setdefault(reason, []).append(f"{key} = {value}")
        lines = []
        for reason, items in by_reason.items():
            line = f"  {reason}: {items[0]}"
            for item in items[1:]:
                if len(line) + 2 + len(item) > width:
                    lines.append(line + ",")
                    line = f"    {item}"
                else:
                    line += f", {item}"
            lines.append(line)
        return "\n".join(lines)


#: keys not worth a line of their own when they only take the package default
_QUIET: frozenset = frozenset()


def _show(value: Any) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value


def given_keys(config: RunConfig) -> dict[str, Any]:
    """The keys of a partial configuration that are set (everything :meth:`RunConfig.unset` does not list)."""
    unset = set(config.unset())
    return {k: config.get(k) for k in known_keys() if k not in unset}


def resolve_config(config: RunConfig | Mapping[str, Any] | None = None, /, *, dataset=None,
                   **shorthands: Any) -> Resolution:
    """Resolve a run's configuration against its data.

    Parameters
    ----------
    config : a partial or resolved :class:`~vae_audio.config.RunConfig`, or a mapping of keys (dotted,
        nested or shorthand names, see :meth:`RunConfig.updated`); ``shorthands`` are applied on top.
    dataset : the listed data when the caller already has it (else ``config.data`` is listed), or data
        already featurized (:class:`~vae_audio.data.featurize.Features`): the recipe is then read from it.

    The data is measured once (:func:`~vae_audio.data.inspection.inspect_dataset`: headers of every file,
    levels of every clip or of a seeded sample of a large dataset; a few seconds for FSDD's 3000 clips) and
    the :class:`~vae_audio.data.inspection.DataSummary` is kept in the resolution. Featurized data is
    summarized from its metadata alone (no audio is read), so resolving it stays cheap.

    Returns
    -------
    :class:`Resolution`. Raises :class:`~vae_audio.errors.ConfigError` for impossible settings (e.g. an
    STFT larger than the training window) and :class:`~vae_audio.errors.DatasetError` for missing data.
    """
    from .data import datasets
    from .data.inspection import inspect_dataset

    partial = config if isinstance(config, RunConfig) else RunConfig.of(config or {})
    partial = partial.updated({}, **shorthands)
    explicit = {SHORTHANDS.get(k, k) for k in (*flatten(config if isinstance(config, Mapping) else {}), *shorthands)}
    defaults = RunConfig()
    reasons = {k: GIVEN if k in explicit or v != defaults.get(k) else DEFAULT for k, v in given_keys(partial).items()}
    if dataset is None:
        data = partial.data
        dataset = datasets.load_dataset(data.source, max_clips=data.max_clips, seed=partial.seed,
                                        val_fraction=data.val_fraction, test_fraction=data.test_fraction)
    summary = inspect_dataset(dataset)  # measured once, before any rule reads the data
    data = _Data(dataset, summary)
    resolved = partial
    for key, derive in _DERIVATIONS:
        if key == "model.options" and key in reasons:  # the user's options go over the defaults
            value, reason = derive(resolved, data)
            resolved = resolved.updated({key: {**value, **partial.model.options}})
            reasons[key] = f"given, over {reason}"
            continue
        if key in reasons:
            continue
        if key in BUDGET_KEYS:  # left for the time budget
            reasons[key] = PENDING
            continue
        value, reason = derive(resolved, data)
        resolved = resolved.updated({key: value})
        reasons[key] = reason
    left = [k for k in resolved.unset() if k not in DEFERRED and k not in BUDGET_KEYS]
    if left:  # a derivation forgot a key: a bug, said plainly
        raise ConfigError(f"configuration: {left} left unresolved")
    check_max_duration(resolved)
    _apply_recipe(dataset, resolved)
    return Resolution(resolved, dataset, reasons, summary)


def spectrogram_config(config: RunConfig):
    """The :class:`~vae_audio.dsp.features.SpectrogramConfig` of a resolved configuration's recipe
    (impossible combinations raise :class:`~vae_audio.errors.ConfigError` naming the field)."""
    from .dsp.features import SpectrogramConfig

    r = config.recipe
    try:
        return SpectrogramConfig(sr=r.sr, n_fft=r.n_fft, hop_length=r.hop_length,
                                 n_samples=int(round(r.duration * r.sr)), n_mels=r.n_mels, db_floor=r.db_floor)
    except ConfigError as exc:  # name the configuration's keys, not the class's fields
        raise ConfigError(str(exc).replace("SpectrogramConfig.", "recipe.")) from None


def check_max_duration(config: RunConfig) -> None:
    """Refuse ``recipe.max_duration`` beyond the window for an architecture that takes only its window."""
    r = config.recipe
    if config.model.architecture != "grid" and r.max_duration is not None and r.duration is not None \
            and max_frames(config) > spectrogram_config(config).n_frames:
        raise ConfigError(f"recipe.max_duration={r.max_duration:g}: the {config.model.architecture} architecture "
                          f"takes only its {r.duration:g} s window (only a grid model trains on crops of longer "
                          f"clips); set it to {r.duration:g} or use model.architecture=grid")


def max_frames(config: RunConfig) -> int:
    """The most spectrogram frames featurizing keeps of a clip for a resolved configuration (at least the
    window's): ``1 + round(max_duration * sr) // hop_length``."""
    r = config.recipe
    return max(spectrogram_config(config).n_frames, 1 + int(round(r.max_duration * r.sr)) // r.hop_length)


def check_featurized(features, config: RunConfig) -> None:
    """Refuse data featurized with another recipe than the configuration's (one line, both shown)."""
    r = features.recipe
    if r.spectrogram != spectrogram_config(config) or r.level != config.recipe.level \
            or r.trim_db != config.recipe.trim_db:
        raise ConfigError(f"features: featurized with {r.describe()}, but the configuration's recipe is "
                          f"{config.recipe.to_dict()}")
    from .data.shards import ShardedArray

    if features.max_frames != max_frames(config) and not isinstance(features.x, ShardedArray):
        raise ConfigError(f"features: keep up to {features.max_frames} frames of a clip, but the configuration's "
                          f"recipe.max_duration={config.recipe.max_duration:g} keeps {max_frames(config)}; featurize "
                          "with build_features(..., max_duration=...) of the configuration")


def _apply_recipe(dataset, config: RunConfig) -> None:
    """Put the resolved recipe into the listed dataset (what featurizing reads; already featurized data
    is checked by the caller, :func:`check_featurized`)."""
    from .dsp.recipe import check_trim

    if _featurized(dataset):
        return
    dataset.config = spectrogram_config(config)
    dataset.level = config.recipe.level
    dataset.trim_db = check_trim(config.recipe.trim_db)


def run_name(config: RunConfig) -> str:
    """A short name for a run: ``<data>-<architecture>[-cond]`` (a folder's own name for a folder)."""
    source = config.data.source
    data = Path(source).name if source not in ("synth", "fsdd", "nsynth") else source
    return f"{data}-{config.model.architecture}" + ("-cond" if config.model.conditional else "")


# ----------------------------------------------------------------------------- derivations
@dataclass
class _Data:
    """What the derivations read: the listed (or featurized) data, its summary, and measurements made once."""

    dataset: Any
    summary: Any
    stft: tuple[int, int] | None = None
    stft_reason: str = ""


def _kind(dataset) -> str:
    return dataset.name


def _featurized(dataset) -> bool:
    return getattr(getattr(dataset, "recipe", None), "is_fitted", False)


def _sr(config: RunConfig, data: _Data) -> tuple[Any, str]:
    from .data import rules

    if _featurized(data.dataset):
        return data.dataset.config.sr, "the featurized data's"
    return rules.sample_rate(data.summary)


def _duration(config: RunConfig, data: _Data) -> tuple[Any, str]:
    from .data import rules

    if _featurized(data.dataset):
        return data.dataset.config.duration, "the featurized data's"
    return rules.window(data.summary)


#: where the STFT choice of a set of clips is kept (a JSON file per clips and settings)
STFT_CACHE_DIR = Path("data") / "cache"


def stft_cache(subset, seed: int) -> Path:
    """The file holding the STFT choice measured on ``subset``'s clips (its spectrogram config gives the rate and
    window they are measured at) with ``seed``."""
    from .data.featurize import dataset_digest
    from .data.rules import STFT_WINDOWS_S
    from .evaluation.listener import SETTINGS
    from .tuning import STFT_TIE

    settings = {"name": subset.name, "data_seed": subset.seed, "sr": subset.config.sr,
                "n_samples": subset.config.n_samples, "seed": seed, "windows": STFT_WINDOWS_S,
                "clips": len(subset.clips), "tie": STFT_TIE, "listener": SETTINGS["version"]}
    return STFT_CACHE_DIR / f"stft-{dataset_digest(subset, settings)[:16]}.json"


def _measure_stft(config: RunConfig, data: _Data) -> tuple[tuple[int, int], str]:
    """The STFT chosen by :func:`vae_audio.tuning.choose_stft` on clips outside the test split (once per
    resolution; kept in :data:`STFT_CACHE_DIR` for the next run on the same clips)."""
    import copy

    from .data.featurize import build_features
    from .data.rules import default_stft
    from .fileio import atomic_write_json, read_json
    from .tuning import STFT_CLIPS_ENV, choose_stft, stft_clips

    if data.stft is not None:
        return data.stft, data.stft_reason
    sr, duration = config.recipe.sr, config.recipe.duration
    if stft_clips() == 0:
        data.stft, data.stft_reason = default_stft(sr), f"${STFT_CLIPS_ENV}=0: the 32 ms window, unmeasured"
        return data.stft, data.stft_reason
    pool = [i for i, c in enumerate(data.dataset.clips) if c.split != "test"]
    pick = np.sort(np.random.default_rng([config.seed, 7]).permutation(pool)[:stft_clips()])
    subset = copy.copy(data.dataset)  # the clips measured, peak-normalized (the listener hears no level)
    subset.clips, subset.level = [data.dataset.clips[i] for i in pick], "peak"
    subset.config = _spectrogram(sr, duration, *default_stft(sr), None)
    cached = stft_cache(subset, config.seed)
    if cached.exists():  # measured before on the same clips: the same choice, without the minute it takes
        saved = read_json(cached)
        data.stft, data.stft_reason = tuple(saved["stft"]), saved["reason"]
        return data.stft, data.stft_reason
    audio = build_features(subset, cache_dir=None, verbose=False).audio
    data.stft, data.stft_reason, scores = choose_stft(np.asarray(audio), sr, seed=config.seed)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cached, {"stft": list(data.stft), "reason": data.stft_reason, "scores": scores})
    except OSError:  # a read-only working folder: measured again next time
        pass
    return data.stft, data.stft_reason


def _n_fft(config: RunConfig, data: _Data) -> tuple[Any, str]:
    if _featurized(data.dataset):
        return data.dataset.config.n_fft, "the featurized data's"
    (n_fft, _), reason = _measure_stft(config, data)
    return n_fft, reason


def _hop(config: RunConfig, data: _Data) -> tuple[Any, str]:
    if _featurized(data.dataset):
        return data.dataset.config.hop_length, "the featurized data's"
    if data.stft is None or data.stft[0] != config.recipe.n_fft:  # n_fft given: a quarter of it
        return config.recipe.n_fft // 4, "a quarter of n_fft"
    return data.stft[1], "a quarter of the chosen window"


def _spectrogram(sr: int, duration: float, n_fft: int, hop: int, n_mels: int | None):
    from .dsp.features import SpectrogramConfig

    return SpectrogramConfig(sr=sr, n_fft=n_fft, hop_length=hop, n_samples=int(round(duration * sr)), n_mels=n_mels)


def _db_floor(config: RunConfig, data: _Data) -> tuple[Any, str]:
    from .dsp.features import SpectrogramConfig

    if _featurized(data.dataset):
        return data.dataset.config.db_floor, "the featurized data's"
    return SpectrogramConfig.db_floor, DEFAULT


def _level(config: RunConfig, data: _Data) -> tuple[Any, str]:
    from .data import rules

    if _featurized(data.dataset):
        return data.dataset.recipe.level, "the featurized data's"
    return rules.level(data.summary)


def _max_duration(config: RunConfig, data: _Data) -> tuple[Any, str]:
    duration, arch, dataset = config.recipe.duration, config.model.architecture, data.dataset
    if _featurized(dataset):
        kept = dataset.max_frames
        if kept <= dataset.config.n_frames:
            return duration, "the featurized data's (the window only)"
        return (kept - 1) * dataset.config.hop_length / dataset.config.sr, "the featurized data's"
    if arch != "grid":
        return duration, f"the {arch} architecture takes only its window"
    return (min(MAX_DURATION_WINDOWS * duration, 600.0),  # recipe.max_duration's limit
            f"{MAX_DURATION_WINDOWS} windows: a grid model trains on window-long crops of longer clips")


def _options(config: RunConfig, data: _Data) -> tuple[Any, str]:
    from .data import rules

    arch = config.model.architecture
    if arch != "grid":
        return dict(ARCH_DEFAULTS[arch]), f"the {arch} architecture's defaults"
    n_freq = config.recipe.n_mels or config.recipe.n_fft // 2 + 1
    options, reason = rules.grid_options(n_freq)
    return {**ARCH_DEFAULTS[arch], **options}, reason


def _latent_dim(config: RunConfig, data: _Data) -> tuple[Any, str]:
    return DEFAULT_LATENT_DIM[config.model.architecture], f"the {config.model.architecture} default"


def _conditional(config: RunConfig, data: _Data) -> tuple[Any, str]:
    n = len(data.dataset.label_names)
    return (n > 0, f"the data has {n} labels" if n else "the data has no labels")


def _likelihood(config: RunConfig, data: _Data) -> tuple[Any, str]:
    return DEFAULT_LIKELIHOODS[config.model.architecture], f"the {config.model.architecture} default"


#: the default time budget: 15 minutes for FSDD's 2400 training clips or more, proportionally less for fewer
#: (synth's 792: 4.95), at least 5 (a small folder) (docs/experiments/budget.md)
BUDGET_MINUTES, BUDGET_CLIPS, MIN_BUDGET_MINUTES = 15.0, 2400, 5.0


def _minutes(config: RunConfig, data: _Data) -> tuple[Any, str]:
    n = data.dataset.split_counts().get("train", 0)  # listed or featurized data alike
    minutes = round(max(MIN_BUDGET_MINUTES, BUDGET_MINUTES * min(1.0, n / BUDGET_CLIPS)), 2)
    return minutes, (f"{BUDGET_MINUTES:g} min for {BUDGET_CLIPS} training clips or more, {n} here"
                     + (f" (at least {MIN_BUDGET_MINUTES:g})" if minutes == MIN_BUDGET_MINUTES else ""))


def _batch_size(config: RunConfig, data: _Data) -> tuple[Any, str]:
    return DEFAULT_BATCH_SIZES[config.model.architecture], f"the {config.model.architecture} default"


def _memory_limit(config: RunConfig, data: _Data) -> tuple[Any, str]:
    from .data.featurize import MEMORY_LIMIT_ENV, resolve_memory_limit

    env = os.environ.get(MEMORY_LIMIT_ENV)
    return resolve_memory_limit(None), (f"${MEMORY_LIMIT_ENV}" if env else "an eighth of the RAM, at most 512 MB")


def _prior_key(name: str) -> Callable[[RunConfig, _Data], tuple[Any, str]]:
    def derive(config: RunConfig, data: _Data) -> tuple[Any, str]:
        if f"prior.{name}" in DEFERRED and config.prior.kind != "none":
            return None, AFTER_TRAINING
        if name == "temperature":
            return DEFAULT_PRIOR_TEMPERATURE[config.prior.kind], f"the {config.prior.kind} prior's default"
        return PRIOR_DEFAULTS[name], DEFAULT

    return derive


def _postfilter(config: RunConfig, data: _Data) -> tuple[Any, str]:
    if config.recipe.n_mels:
        return False, "mel bands do not resolve the harmonics it deepens the valleys between"
    return None, AFTER_TRAINING


def _texture(config: RunConfig, data: _Data) -> tuple[Any, str]:
    if config.recipe.n_mels:
        return False, "the grain is drawn in linear STFT bins"
    return None, AFTER_TRAINING


def _out(config: RunConfig, data: _Data) -> tuple[Any, str]:
    return str(Path("outputs") / "runs" / run_name(config)), "outputs/runs/<run name>"


def _samples_dir(config: RunConfig, data: _Data) -> tuple[Any, str]:
    return str(Path("outputs") / "samples" / run_name(config)), "outputs/samples/<run name>"


#: the derivable keys in the order they are resolved (a later one may read an earlier one; the
#: :data:`BUDGET_KEYS` are left to the time budget)
_DERIVATIONS: list[tuple[str, Callable[[RunConfig, _Data], tuple[Any, str]] | None]] = [
    ("recipe.sr", _sr), ("recipe.duration", _duration), ("recipe.n_fft", _n_fft), ("recipe.hop_length", _hop),
    ("recipe.db_floor", _db_floor), ("recipe.level", _level), ("recipe.max_duration", _max_duration),
    ("model.options", _options), ("model.latent_dim", _latent_dim), ("model.conditional", _conditional),
    ("model.likelihood", _likelihood),
    ("training.minutes", _minutes), ("training.epochs", None), ("training.batch_size", _batch_size),
    ("training.memory_limit", _memory_limit),
    *[(f"prior.{name}", _prior_key(name)) for name in (*PRIOR_DEFAULTS, "temperature")],
    ("postfilter.enabled", _postfilter), ("postfilter.texture", _texture),
    ("outputs.out", _out), ("outputs.samples_dir", _samples_dir),
]
