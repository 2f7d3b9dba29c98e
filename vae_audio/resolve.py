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
    resolved = partial
    for key, derive in _DERIVATIONS:
        if key == "model.options" and key in reasons:  # the user's options go over the defaults
            value, reason = derive(resolved, dataset)
            resolved = resolved.updated({key: {**value, **partial.model.options}})
            reasons[key] = f"given, over {reason}"
            continue
        if key in reasons:
            continue
        if key in BUDGET_KEYS:  # left for the time budget
            reasons[key] = PENDING
            continue
        value, reason = derive(resolved, dataset)
        resolved = resolved.updated({key: value})
        reasons[key] = reason
    if set(resolved.unset()) - set(BUDGET_KEYS):  # a derivation forgot a key: a bug, said plainly
        raise ConfigError(f"configuration: {resolved.unset()} left unresolved")
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
def _kind(dataset) -> str:
    return dataset.name


def _featurized(dataset) -> bool:
    return getattr(getattr(dataset, "recipe", None), "is_fitted", False)


def _table_config(dataset):
    from .data.datasets import default_config

    return dataset.config if _featurized(dataset) else default_config(_kind(dataset))


def _sr(config: RunConfig, dataset) -> tuple[Any, str]:
    return _table_config(dataset).sr, f"the {_kind(dataset)} default"


def _duration(config: RunConfig, dataset) -> tuple[Any, str]:
    table = _table_config(dataset)
    return table.n_samples / table.sr, f"the {_kind(dataset)} default"


def _n_fft(config: RunConfig, dataset) -> tuple[Any, str]:
    return _table_config(dataset).n_fft, f"the {_kind(dataset)} default"


def _hop(config: RunConfig, dataset) -> tuple[Any, str]:
    return _table_config(dataset).hop_length, f"the {_kind(dataset)} default"


def _db_floor(config: RunConfig, dataset) -> tuple[Any, str]:
    if _featurized(dataset):
        return dataset.config.db_floor, "the featurized data's"
    return _table_config(dataset).db_floor, DEFAULT


def _level(config: RunConfig, dataset) -> tuple[Any, str]:
    from .data.datasets import default_level

    if _featurized(dataset):
        return dataset.recipe.level, "the featurized data's"
    return default_level(_kind(dataset)), f"the {_kind(dataset)} default"


def _max_duration(config: RunConfig, dataset) -> tuple[Any, str]:
    duration, arch = config.recipe.duration, config.model.architecture
    if _featurized(dataset):
        kept = dataset.max_frames
        if kept <= dataset.config.n_frames:
            return duration, "the featurized data's (the window only)"
        return (kept - 1) * dataset.config.hop_length / dataset.config.sr, "the featurized data's"
    if arch != "grid":
        return duration, f"the {arch} architecture takes only its window"
    return (min(MAX_DURATION_WINDOWS * duration, 600.0),  # recipe.max_duration's limit
            f"{MAX_DURATION_WINDOWS} windows: a grid model trains on window-long crops of longer clips")


def _options(config: RunConfig, dataset) -> tuple[Any, str]:
    from .data.datasets import default_model_options

    arch = config.model.architecture
    return ({**ARCH_DEFAULTS[arch], **default_model_options(_kind(dataset), arch)},
            f"the {arch} architecture's defaults with the {_kind(dataset)} ones")


def _latent_dim(config: RunConfig, dataset) -> tuple[Any, str]:
    return DEFAULT_LATENT_DIM[config.model.architecture], f"the {config.model.architecture} default"


def _conditional(config: RunConfig, dataset) -> tuple[Any, str]:
    n = len(dataset.label_names)
    return (n > 0, f"the data has {n} labels" if n else "the data has no labels")


def _likelihood(config: RunConfig, dataset) -> tuple[Any, str]:
    return DEFAULT_LIKELIHOODS[config.model.architecture], f"the {config.model.architecture} default"


#: the default time budget: 15 minutes for FSDD's 2400 training clips or more, proportionally less for fewer
#: (synth's 800: 5), at least 2 (docs/experiments/budget.md)
BUDGET_MINUTES, BUDGET_CLIPS, MIN_BUDGET_MINUTES = 15.0, 2400, 2.0


def _minutes(config: RunConfig, dataset) -> tuple[Any, str]:
    n = dataset.split_counts().get("train", 0)  # listed or featurized data alike
    minutes = round(max(MIN_BUDGET_MINUTES, BUDGET_MINUTES * min(1.0, n / BUDGET_CLIPS)), 2)
    return minutes, (f"{BUDGET_MINUTES:g} min for {BUDGET_CLIPS} training clips or more, {n} here"
                     + (f" (at least {MIN_BUDGET_MINUTES:g})" if minutes == MIN_BUDGET_MINUTES else ""))


def _batch_size(config: RunConfig, dataset) -> tuple[Any, str]:
    return DEFAULT_BATCH_SIZES[config.model.architecture], f"the {config.model.architecture} default"


def _memory_limit(config: RunConfig, dataset) -> tuple[Any, str]:
    from .data.featurize import MEMORY_LIMIT_ENV, resolve_memory_limit

    env = os.environ.get(MEMORY_LIMIT_ENV)
    return resolve_memory_limit(None), (f"${MEMORY_LIMIT_ENV}" if env else "an eighth of the RAM, at most 512 MB")


def _prior_table(config: RunConfig, dataset) -> dict[str, Any]:
    from .data.datasets import default_prior_options

    table = default_prior_options(_kind(dataset))
    if config.prior.kind != "autoregressive":  # the table's network and sampling settings are that family's
        table = {k: v for k, v in table.items() if k == "steps"}
    return table


def _prior_key(name: str) -> Callable[[RunConfig, Any], tuple[Any, str]]:
    def derive(config: RunConfig, dataset) -> tuple[Any, str]:
        table = _prior_table(config, dataset)
        if name in table:
            return table[name], f"the {_kind(dataset)} default"
        if name == "temperature":
            return DEFAULT_PRIOR_TEMPERATURE[config.prior.kind], f"the {config.prior.kind} prior's default"
        return PRIOR_DEFAULTS[name], DEFAULT

    return derive


def _postfilter(config: RunConfig, dataset) -> tuple[Any, str]:
    from .data.datasets import default_postfilter

    if config.recipe.n_mels:
        return False, "mel bands do not resolve the harmonics it deepens the valleys between"
    return default_postfilter(_kind(dataset)), f"the {_kind(dataset)} default"


def _out(config: RunConfig, dataset) -> tuple[Any, str]:
    return str(Path("outputs") / "runs" / run_name(config)), "outputs/runs/<run name>"


def _samples_dir(config: RunConfig, dataset) -> tuple[Any, str]:
    return str(Path("outputs") / "samples" / run_name(config)), "outputs/samples/<run name>"


#: the derivable keys in the order they are resolved (a later one may read an earlier one; the
#: :data:`BUDGET_KEYS` are left to the time budget)
_DERIVATIONS: list[tuple[str, Callable[[RunConfig, Any], tuple[Any, str]] | None]] = [
    ("recipe.sr", _sr), ("recipe.duration", _duration), ("recipe.n_fft", _n_fft), ("recipe.hop_length", _hop),
    ("recipe.db_floor", _db_floor), ("recipe.level", _level), ("recipe.max_duration", _max_duration),
    ("model.options", _options), ("model.latent_dim", _latent_dim), ("model.conditional", _conditional),
    ("model.likelihood", _likelihood),
    ("training.minutes", _minutes), ("training.epochs", None), ("training.batch_size", _batch_size),
    ("training.memory_limit", _memory_limit),
    *[(f"prior.{name}", _prior_key(name)) for name in (*PRIOR_DEFAULTS, "temperature")],
    ("postfilter.enabled", _postfilter),
    ("outputs.out", _out), ("outputs.samples_dir", _samples_dir),
]
