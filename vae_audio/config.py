"""One configuration per training run: every setting, grouped by stage, saved with the run.

A run's settings are one nested, typed object, :class:`RunConfig`:

==============  ======================================================================================
section         holds
==============  ======================================================================================
``seed``        seeds the split, the weights, the shuffling and the samples
``data``        which clips: ``source`` (``synth``, ``fsdd``, ``nsynth`` or a folder), a cap, the
                held-out fractions
``recipe``      how a waveform becomes a model input: sample rate (Hz), training window (s), STFT
                size and hop (samples), mel bands, level handling, silence trim (dB)
``model``       the autoencoder: architecture and its options, latent size, conditioning, likelihood,
                KL weight and warm-up
``training``    the autoencoder's optimization: the run's time budget (minutes), epochs, early stopping,
                batch, learning rate, distribution, precision
``prior``       the learned prior over a grid model's codes (steps, network, sampling start)
``postfilter``  whether a valley postfilter and a noise texture are fitted, and their options
``outputs``     where the run folder, the samples and the report go
==============  ======================================================================================

A configuration is built in three layers (:func:`vae_audio.resolve.resolve_config`): the package's
defaults, the choices derived from the data, then the user's overrides (``vae-audio train --config
FILE``, ``--set key=value`` and the command's flags, which are shorthands for keys, :data:`SHORTHANDS`).
Before resolution a setting the user did not give is *unset*: ``None`` (``"auto"`` for
``recipe.level``, where ``None`` is a setting). The resolved object holds every value the run used;
``None`` is left only where "none" is itself the setting (:data:`NONE_IS_A_SETTING`: no mel bands, no
trim, every clip, the level as recorded). It is saved
in the bundle (``config.json["config"]``) and in the run folder (``OUT/config.json``), and
``vae-audio train --config OUT/config.json`` repeats the run: a resolved configuration has nothing
left to derive.

This module is dependency-free (no TensorFlow, no NumPy needed to build one), so the command line can
resolve and print a configuration (``train --dry-run``) without loading a model.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import checks
from .choices import (
    ARCHITECTURES,
    DEFAULT_ARCHITECTURE,
    DEFAULT_GRID_PRIOR,
    DEFAULT_PRIOR_TEMPERATURE,
    GRID_PRIOR_CHOICES,
    LIKELIHOODS,
    PRECISIONS,
    PRIOR_DEFAULTS,
    STRATEGIES,
)
from .errors import ConfigError, ParameterError

__all__ = ["RunConfig", "DataConfig", "RecipeConfig", "ModelConfig", "TrainingConfig", "PriorConfig",
           "PostfilterConfig", "OutputsConfig", "SECTIONS", "SHORTHANDS", "LEVELS", "parse_assignment",
           "flatten", "known_keys", "CONFIG_FORMAT", "CONFIG_VERSION",
           "AUTO", "NONE_IS_A_SETTING", "from_settings", "read_config_file"]

#: the ``"format"`` / ``"version"`` of a saved configuration
CONFIG_FORMAT = "vae_audio.config"
CONFIG_VERSION = 1
#: the unset value of settings where ``None`` is itself a setting
AUTO = "auto"
#: level handling of :class:`RecipeConfig`: per-clip ``"peak"`` (0.9) or ``"rms"`` (-20 dBFS), ``"folder"`` (one
#: gain for the whole dataset, fitted on the training split: the clips keep their relative levels), ``None``
#: (as recorded) or ``"auto"`` (unset: derived from the data)
LEVELS = ("peak", "rms", "folder", None, AUTO)
#: keys whose resolved value may be ``None`` because "none" is the setting
NONE_IS_A_SETTING = frozenset({"data.max_clips", "recipe.n_mels", "recipe.trim_db", "recipe.level"})


def _whole(value: Any, key: str, lo: int = 0, hi: int | None = None) -> int:
    return checks.whole_number(value, key, lo, hi, error=ConfigError)


def _number(value: Any, key: str, lo: float | None = None, hi: float | None = None, **kwargs: Any) -> float:
    return checks.number(value, key, lo, hi, error=ConfigError, **kwargs)


def _optional(value: Any, check, *args: Any, **kwargs: Any):
    return None if value is None else check(value, *args, **kwargs)


def _choice(value: Any, key: str, choices: Iterable[Any]) -> Any:
    choices = tuple(choices)
    if value not in choices:
        raise ConfigError(f"{key}={value!r}: expected one of {', '.join(map(repr, choices))}")
    return value


def _flag(value: Any, key: str, *, allow_none: bool = False) -> bool | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: expected true or false{' or null' if allow_none else ''}")
    return value


def _ints(value: Any, key: str, lo: int = 1) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{key}={value!r}: expected a non-empty list of whole numbers >= {lo}")
    return tuple(_whole(v, key, lo) for v in value)


def _frozen(value: Any) -> Any:
    """JSON-like ``value`` with lists as tuples (so a configuration compares equal after a JSON round trip)."""
    if isinstance(value, Mapping):
        return {str(k): _frozen(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """The JSON form of a configuration value (tuples as lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Section:
    """Shared behaviour of the sections: checked on creation, ``to_dict``, ``from_dict`` refusing unknown keys."""

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Any, prefix: str = ""):
        if not isinstance(data, Mapping):
            raise ConfigError(f"{prefix or cls.__name__}: expected an object of settings, got {data!r}")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in data if k not in names]
        if unknown:
            section = prefix.rstrip(".") or "this section"
            raise ConfigError(f"unknown setting {prefix + str(unknown[0])!r} (known in {section}: {', '.join(names)})")
        return cls(**{k: _frozen(v) for k, v in data.items()})


@dataclass(frozen=True)
class DataConfig(_Section):
    """Which clips: ``source`` is ``"synth"`` (built in), ``"fsdd"``, ``"nsynth"`` or a folder of audio;
    ``max_clips`` caps their number (``None``: all); ``val_fraction`` / ``test_fraction`` are the held-out
    shares of a random split (FSDD's test split is its standard one)."""

    source: str = "synth"
    max_clips: int | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ConfigError(f"data.source={self.source!r}: expected 'synth', 'fsdd', 'nsynth' or a folder path")
        self._set("max_clips", _optional(self.max_clips, _whole, "data.max_clips", 1))
        for name in ("val_fraction", "test_fraction"):
            self._set(name, _number(getattr(self, name), f"data.{name}", 0, 1, hi_open=True, what="a fraction"))


@dataclass(frozen=True)
class RecipeConfig(_Section):
    """How a waveform becomes a model input (see :class:`vae_audio.dsp.recipe.Recipe`).

    ``sr`` (Hz) the rate clips are resampled to; ``duration`` (s) the training window; ``n_fft`` /
    ``hop_length`` (samples) the STFT; ``n_mels`` mel bands (``None``: linear bins); ``db_floor`` the
    lowest level a spectrogram keeps (dB); ``level`` one of :data:`LEVELS`; ``trim_db`` strip
    leading/trailing silence this many dB below the peak (``None``: off).

    ``max_duration`` (s, at least ``duration``): how much of each clip featurizing keeps for training.
    A grid model (fully convolutional in time) trains on a ``duration``-long crop at a random offset
    within the first ``max_duration`` seconds of each training clip, drawn anew every epoch
    (:func:`vae_audio.data.featurize.make_tf_dataset`); ``max_duration == duration``: the start window
    only, what the vector-latent architectures always take. Memory: up to ``max_duration / duration``
    times the window's spectrograms for the clips that are longer than the window.
    """

    sr: int | None = None
    duration: float | None = None
    n_fft: int | None = None
    hop_length: int | None = None
    n_mels: int | None = None
    db_floor: float | None = None
    level: str | None = AUTO
    trim_db: float | None = None
    max_duration: float | None = None

    def __post_init__(self) -> None:
        self._set("sr", _optional(self.sr, _whole, "recipe.sr", 1000, 384000))
        self._set("duration", _optional(self.duration, _number, "recipe.duration", 0, 600, lo_open=True,
                                        what="a number of seconds"))
        self._set("max_duration", _optional(self.max_duration, _number, "recipe.max_duration", 0, 600, lo_open=True,
                                            what="a number of seconds"))
        if self.max_duration is not None and self.duration is not None and self.max_duration < self.duration:
            raise ConfigError(f"recipe.max_duration={self.max_duration:g}: expected at least recipe.duration="
                              f"{self.duration:g} (the clips are kept for training up to this many seconds)")
        self._set("n_fft", _optional(self.n_fft, _whole, "recipe.n_fft", 16))
        self._set("hop_length", _optional(self.hop_length, _whole, "recipe.hop_length", 1))
        self._set("n_mels", _optional(self.n_mels, _whole, "recipe.n_mels", 1))
        self._set("db_floor", _optional(self.db_floor, _number, "recipe.db_floor", -300, 0, hi_open=True))
        _choice(self.level, "recipe.level", LEVELS)
        self._set("trim_db", _optional(self.trim_db, _number, "recipe.trim_db", 0, lo_open=True))



@dataclass(frozen=True)
class ModelConfig(_Section):
    """The autoencoder: ``architecture`` (:data:`vae_audio.choices.ARCHITECTURES`) and its ``options``
    (the builders' keyword arguments, e.g. ``filters``, ``strides``), ``latent_dim``, ``conditional``
    (on the data's labels), ``likelihood`` (:data:`vae_audio.choices.LIKELIHOODS`), ``beta`` (the KL
    weight after warm-up) and ``kl_warmup_epochs`` (epochs over which it ramps up from 0)."""

    architecture: str = DEFAULT_ARCHITECTURE
    options: Mapping[str, Any] | None = None
    latent_dim: int | None = None
    conditional: bool | None = None
    likelihood: str | None = None
    beta: float = 1.0
    kl_warmup_epochs: int = 5

    def __post_init__(self) -> None:
        _choice(self.architecture, "model.architecture", ARCHITECTURES)
        if self.options is not None and not isinstance(self.options, Mapping):
            raise ConfigError(f"model.options={self.options!r}: expected an object of architecture options")
        self._set("options", _optional(self.options, lambda v: _frozen(dict(v))))
        self._set("latent_dim", _optional(self.latent_dim, _whole, "model.latent_dim", 1))
        _flag(self.conditional, "model.conditional", allow_none=True)
        if self.likelihood is not None:
            _choice(self.likelihood, "model.likelihood", LIKELIHOODS)
        self._set("beta", _number(self.beta, "model.beta", 0))
        self._set("kl_warmup_epochs", _whole(self.kl_warmup_epochs, "model.kl_warmup_epochs", 0))


@dataclass(frozen=True)
class TrainingConfig(_Section):
    """The autoencoder's optimization.

    ``minutes`` is the whole run's ceiling in minutes of wall time (featurizing to the report; unset: 15
    for 2400 training clips or more, proportionally less for fewer, at least 5): when ``epochs`` /
    ``prior.steps`` are not given, :mod:`vae_audio.budget` measures the
    step times after featurizing and resolves them to what fits (a ceiling, not a target). ``epochs``
    is then the autoencoder's ceiling: it stops earlier when the validation loss has not improved by
    a relative ``min_delta`` (0.01: 1 %) for ``patience`` epochs after the KL warm-up (0: never) and
    keeps the best epoch's weights. ``batch_size`` (clips per step, the global batch under a
    distribution strategy), Adam's ``learning_rate``, ``strategy`` (:data:`vae_audio.choices.STRATEGIES`),
    ``precision`` (:data:`vae_audio.choices.PRECISIONS`; bundles are float32 whatever it is), ``xla``
    (compile the step; not bit-reproducible) and ``memory_limit`` (bytes, or a size such as ``"2GB"``:
    a dataset larger than this is featurized into shards on disk)."""

    minutes: float | None = None
    epochs: int | None = None
    patience: int = 8
    min_delta: float = 0.01
    batch_size: int | None = None
    learning_rate: float = 1e-3
    strategy: str = "default"
    precision: str = "float32"
    xla: bool = False
    memory_limit: int | str | None = None

    def __post_init__(self) -> None:
        self._set("minutes", _optional(self.minutes, _number, "training.minutes", 0, 10080, lo_open=True,
                                       what="a number of minutes"))
        self._set("epochs", _optional(self.epochs, _whole, "training.epochs", 1))
        self._set("patience", _whole(self.patience, "training.patience", 0))
        self._set("min_delta", _number(self.min_delta, "training.min_delta", 0, 1, hi_open=True,
                                       what="a relative improvement"))
        self._set("batch_size", _optional(self.batch_size, _whole, "training.batch_size", 1))
        self._set("learning_rate", _number(self.learning_rate, "training.learning_rate", 0, 1, lo_open=True,
                                           hi_open=True))
        _choice(self.strategy, "training.strategy", STRATEGIES)
        _choice(self.precision, "training.precision", PRECISIONS)
        _flag(self.xla, "training.xla")
        if self.memory_limit is not None:
            try:
                checks.byte_size(self.memory_limit, "training.memory_limit")
            except ParameterError as exc:
                raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class PriorConfig(_Section):
    """The learned prior of a grid model (:class:`vae_audio.modeling.grid_prior.GridPrior`; a vector-latent
    model always gets a Gaussian mixture and reads only ``kind`` = anything but ``"none"``).

    ``kind``: ``"autoregressive"``, ``"diffusion"`` or ``"none"``; ``steps``, ``batch_size`` and
    ``learning_rate`` of its optimizer; ``width`` (channels) and ``dilations`` (one residual block each) of
    its network; ``summary_dim`` (a clip summary it is conditioned on, 0: none); ``onset_columns`` /
    ``onset_noise`` (each sample starts from a training clip's first columns plus this much noise, 0:
    drawn by the network); ``temperature`` (the default sampling temperature saved with it).
    """

    kind: str = DEFAULT_GRID_PRIOR
    steps: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    width: int | None = None
    dilations: tuple[int, ...] | None = None
    summary_dim: int | None = None
    onset_columns: int | None = None
    onset_noise: float | None = None
    temperature: float | None = None

    def __post_init__(self) -> None:
        _choice(self.kind, "prior.kind", GRID_PRIOR_CHOICES)
        self._set("steps", _optional(self.steps, _whole, "prior.steps", 1))
        self._set("batch_size", _optional(self.batch_size, _whole, "prior.batch_size", 1))
        self._set("learning_rate", _optional(self.learning_rate, _number, "prior.learning_rate", 0, 1, lo_open=True,
                                             hi_open=True))
        self._set("width", _optional(self.width, _whole, "prior.width", 1))
        self._set("dilations", _optional(self.dilations, _ints, "prior.dilations"))
        self._set("summary_dim", _optional(self.summary_dim, _whole, "prior.summary_dim", 0))
        self._set("onset_columns", _optional(self.onset_columns, _whole, "prior.onset_columns", 0))
        self._set("onset_noise", _optional(self.onset_noise, _number, "prior.onset_noise", 0))
        self._set("temperature", _optional(self.temperature, _number, "prior.temperature", 0, lo_open=True))

    def with_defaults(self) -> "PriorConfig":
        """This configuration with every unset setting at the package's default
        (:data:`vae_audio.choices.PRIOR_DEFAULTS`; the temperature: the family's
        :data:`~vae_audio.choices.DEFAULT_PRIOR_TEMPERATURE`)."""
        unset = {k: PRIOR_DEFAULTS[k] for k in PRIOR_DEFAULTS if getattr(self, k) is None}
        if self.temperature is None:
            unset["temperature"] = DEFAULT_PRIOR_TEMPERATURE[self.kind]
        return dataclasses.replace(self, **unset) if unset else self


@dataclass(frozen=True)
class PostfilterConfig(_Section):
    """What decoded spectrograms go through before the phase step. The valley postfilter
    (:mod:`vae_audio.dsp.postfilter`): ``enabled`` (fitted to the training reconstructions and saved with
    the model; linear spectrograms only) and its ``width`` (bins of the envelope), ``bands`` and
    ``strength``. ``texture``: whether a noise texture (:mod:`vae_audio.dsp.texture`, one amount per band
    of the valley postfilter's ``bands``) is fitted and saved with the model (linear spectrograms only)."""

    enabled: bool | None = None
    width: int = 9
    bands: int = 8
    strength: float = 2.0
    texture: bool | None = None

    def __post_init__(self) -> None:
        _flag(self.enabled, "postfilter.enabled", allow_none=True)
        _flag(self.texture, "postfilter.texture", allow_none=True)
        self._set("width", _whole(self.width, "postfilter.width", 1))
        self._set("bands", _whole(self.bands, "postfilter.bands", 1))
        self._set("strength", _number(self.strength, "postfilter.strength", 0))


@dataclass(frozen=True)
class OutputsConfig(_Section):
    """Where things go: ``out`` the run folder (checkpoints, bundle ``model/``, history, report;
    default ``outputs/runs/<run name>``), ``samples_dir`` the clips written at the end (default
    ``outputs/samples/<run name>``), ``n_samples`` how many (0: neither samples nor report)."""

    out: str | None = None
    samples_dir: str | None = None
    n_samples: int = 8

    def __post_init__(self) -> None:
        for name in ("out", "samples_dir"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"outputs.{name}={value!r}: expected a folder path or null")
        self._set("n_samples", _whole(self.n_samples, "outputs.n_samples", 0))


#: the sections of :class:`RunConfig` and their classes
SECTIONS: dict[str, type] = {"data": DataConfig, "recipe": RecipeConfig, "model": ModelConfig,
                             "training": TrainingConfig, "prior": PriorConfig, "postfilter": PostfilterConfig,
                             "outputs": OutputsConfig}

#: flat names (the ``vae-audio train`` flags and :meth:`RunConfig.of`'s keywords) and the keys they set
SHORTHANDS: dict[str, str] = {
    "data": "data.source", "max_clips": "data.max_clips",
    "sr": "recipe.sr", "duration": "recipe.duration", "n_fft": "recipe.n_fft", "hop_length": "recipe.hop_length",
    "n_mels": "recipe.n_mels", "level": "recipe.level", "trim_db": "recipe.trim_db",
    "max_duration": "recipe.max_duration",
    "model": "model.architecture", "model_options": "model.options", "latent_dim": "model.latent_dim",
    "conditional": "model.conditional", "likelihood": "model.likelihood", "beta": "model.beta",
    "kl_warmup_epochs": "model.kl_warmup_epochs",
    "minutes": "training.minutes", "epochs": "training.epochs", "patience": "training.patience",
    "min_delta": "training.min_delta", "batch_size": "training.batch_size", "learning_rate": "training.learning_rate",
    "strategy": "training.strategy", "precision": "training.precision", "xla": "training.xla",
    "memory_limit": "training.memory_limit",
    "prior_model": "prior.kind", "prior_steps": "prior.steps", "postfilter": "postfilter.enabled",
    "texture": "postfilter.texture",
    "out": "outputs.out", "samples_dir": "outputs.samples_dir", "n_samples": "outputs.n_samples",
    "seed": "seed",
}


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a training run (see the module docstring); build one with
    :func:`vae_audio.resolve.resolve_config`, change keys with :meth:`updated`."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    postfilter: PostfilterConfig = field(default_factory=PostfilterConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", _whole(self.seed, "seed", 0))
        for name, cls in SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ConfigError(f"{name}: expected a {cls.__name__}, got {type(getattr(self, name)).__name__}")

    # ------------------------------------------------------------------ dicts and files
    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON types, with its format and version."""
        return {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, **_plain(self)}

    @classmethod
    def from_dict(cls, data: Any) -> "RunConfig":
        """A configuration from :meth:`to_dict`'s form (missing keys take the defaults; an unknown key,
        or a wrong type or range, raises :class:`ConfigError` naming the key)."""
        return cls().updated(_strip_format(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    # ------------------------------------------------------------------ changing keys
    def get(self, key: str) -> Any:
        """The value of a dotted ``key`` such as ``"prior.steps"``."""
        section, _, name = _split(key)
        value = getattr(self, section)
        return value if not name else getattr(value, name)

    def updated(self, changes: Mapping[str, Any] | None = None, /, **shorthands: Any) -> "RunConfig":
        """A copy with ``changes`` applied: dotted keys (``{"prior.steps": 900}``), nested objects
        (``{"prior": {"steps": 900}}``) or shorthand names (``epochs=3``, :data:`SHORTHANDS`). Values are
        checked; an unknown key raises :class:`ConfigError` naming it."""
        flat = {**flatten(changes or {}), **{_shorthand(k): v for k, v in shorthands.items()}}
        by_section: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for key, value in flat.items():
            section, _, name = _split(key)
            if name:
                by_section.setdefault(section, {})[name] = value
            else:
                top[section] = value
        replaced: dict[str, Any] = dict(top)
        for section, values in by_section.items():
            current = getattr(self, section).to_dict()
            replaced[section] = SECTIONS[section].from_dict({**current, **values}, prefix=f"{section}.")
        return dataclasses.replace(self, **replaced) if replaced else self

    def unset(self) -> list[str]:
        """The keys still to be resolved (``None``, or ``"auto"`` where ``None`` is a setting)."""
        out = []
        for key in known_keys():
            value = self.get(key)
            if value == AUTO or (value is None and key not in NONE_IS_A_SETTING):
                out.append(key)
        return out

    @property
    def resolved(self) -> bool:
        """Whether every setting has its value (nothing left to derive)."""
        return not self.unset()

    @classmethod
    def of(cls, changes: Mapping[str, Any] | None = None, /, **shorthands: Any) -> "RunConfig":
        """The package defaults with ``changes`` and ``shorthands`` applied (see :meth:`updated`)."""
        return cls().updated(changes, **shorthands)


def _strip_format(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"configuration: expected a JSON object of settings, got {type(data).__name__}")
    fmt, version = data.get("format", CONFIG_FORMAT), data.get("version", CONFIG_VERSION)
    if fmt != CONFIG_FORMAT:
        raise ConfigError(f"configuration: format {fmt!r} is not {CONFIG_FORMAT!r}")
    if version != CONFIG_VERSION:
        raise ConfigError(f"configuration: version {version!r} is not one this vae_audio reads ({CONFIG_VERSION})")
    return {k: v for k, v in data.items() if k not in ("format", "version")}


#: flat training settings of earlier versions (checkpoints, bundles) that are not :data:`SHORTHANDS`
_OLD_NAMES = {"n_samples_out": "outputs.n_samples", "verbose": None}


def from_settings(settings: Mapping[str, Any], recipe: Mapping[str, Any] | None = None) -> RunConfig:
    """A (partial) configuration from the flat training settings that checkpoints and bundles of earlier
    versions saved (``{"data": "fsdd", "epochs": 50, "sr": null, ...}``), with the spectrogram settings,
    level and trim of their saved ``recipe`` put in (what those runs resolved them to)."""
    if not isinstance(settings, Mapping):
        raise ConfigError(f"saved settings: expected an object, got {type(settings).__name__}")
    changes: dict[str, Any] = {}
    for name, value in settings.items():
        key = _OLD_NAMES[name] if name in _OLD_NAMES else SHORTHANDS.get(name)
        if key is not None and value is not None:
            changes[key] = value
    if isinstance(recipe, Mapping) and isinstance(recipe.get("spectrogram"), Mapping):
        spec = recipe["spectrogram"]
        changes.update({"recipe.sr": spec["sr"], "recipe.duration": spec["n_samples"] / spec["sr"],
                        "recipe.max_duration": spec["n_samples"] / spec["sr"],  # those runs trained on the window
                        "recipe.n_fft": spec["n_fft"], "recipe.hop_length": spec["hop_length"],
                        "recipe.n_mels": spec.get("n_mels"), "recipe.level": recipe.get("level"),
                        "recipe.trim_db": recipe.get("trim_db")})
    return RunConfig.of(changes)


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The settings of a configuration file (JSON; a run's ``config.json`` or any subset of its keys),
    as a nested mapping without its format line. One-line :class:`ConfigError` naming the file when it is
    missing, not JSON or not a configuration; the keys themselves are checked when they are applied."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the configuration ({getattr(exc, 'strerror', None) or exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return _strip_format(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def known_keys() -> list[str]:
    """Every dotted key of a configuration, in order (``seed``, ``data.source``, ...)."""
    keys = ["seed"]
    for section, cls in SECTIONS.items():
        keys += [f"{section}.{f.name}" for f in fields(cls)]
    return keys


def _split(key: Any) -> tuple[str, str, str]:
    """``"prior.steps"`` -> ``("prior", ".", "steps")``, checked against the known keys."""
    if not isinstance(key, str) or key not in _KNOWN:
        near = [k for k in _KNOWN if isinstance(key, str) and key.split(".")[-1] == k.split(".")[-1]]
        hint = f"; did you mean {near[0]!r}?" if near else " (see vae-audio train --dry-run for every key)"
        raise ConfigError(f"unknown setting {key!r}{hint}")
    return key.partition(".")


def _shorthand(name: str) -> str:
    if name not in SHORTHANDS:
        raise ConfigError(f"unknown setting {name!r}: expected one of {', '.join(SHORTHANDS)} or a dotted key")
    return SHORTHANDS[name]


def flatten(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys of ``changes``: ``{"prior": {"steps": 9}, "epochs": 3}`` -> ``{"prior.steps": 9,
    "training.epochs": 3}``.

    A section given as an object is opened (``model.options`` stays one value), a shorthand name
    (:data:`SHORTHANDS`) becomes its key; keys are not checked here.
    """
    if not isinstance(changes, Mapping):
        raise ConfigError(f"configuration changes: expected an object, got {type(changes).__name__}")
    flat: dict[str, Any] = {}
    for key, value in changes.items():
        if key in SECTIONS and isinstance(value, Mapping):
            for name, inner in value.items():
                flat[f"{key}.{name}"] = inner
        else:
            flat[SHORTHANDS.get(key, key) if key not in _KNOWN else key] = value
    return flat


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"prior.steps=900"`` -> ``("prior.steps", 900)``: the value is parsed as JSON (``[32, 64]``,
    ``true``, ``null``, ``"x"``), or kept as a plain string when it is not JSON (``data.source=fsdd``).
    The key is checked; raises :class:`ConfigError` naming it."""
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. prior.steps=900")
    key, _, raw = text.partition("=")
    key = key.strip()
    _split(key)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


_KNOWN = set(known_keys())
