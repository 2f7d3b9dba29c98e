"""Training a VAE on a dataset: checkpoints every epoch, resume, NaN guard, TensorBoard, history.

The output folder of a run (``TrainSettings.out``) holds::

    OUT/
      checkpoints/epoch_0007/      vae.weights.h5 (model + optimizer state) + state.json, one per epoch
      checkpoints/latest.json      which epoch folder is the newest complete one
      model/                       the final bundle: encoder.keras, decoder.keras, config.json
      history.json                 losses per epoch (train and validation)
      report.html                  the listening report (vae_audio.evaluation.report): test clips,
                                   samples, losses, scores
      logs/                        TensorBoard logs (losses, audio examples)

Every file is written atomically: an epoch folder is assembled under a temporary name and
renamed into place, then ``latest.json`` is replaced. Killing the process at any moment leaves
the previous epoch's checkpoint (and any previous bundle) intact, and ``resume=True`` continues
from the last completed epoch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import checks
from .choices import (
    ARCHITECTURES,
    DEFAULT_ARCHITECTURE,
    DEFAULT_BATCH_SIZES,
    DEFAULT_GRID_PRIOR,
    DEFAULT_LIKELIHOODS,
    GRID_PRIOR_CHOICES,
    PRECISIONS,
    STRATEGIES,
)
from .errors import ConfigError, ParameterError, TrainingError
from .fileio import atomic_directory, atomic_write_json, read_json

__all__ = ["TrainSettings", "TrainResult", "train", "latest_checkpoint", "configure_determinism", "fit_training_prior",
           "check_tf_config", "is_chief"]


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a training run (saved in the bundle and in each checkpoint).

    Attributes
    ----------
    data : ``"synth"`` (built-in, default), ``"fsdd"``, or a folder of audio.
    model : architecture, ``"grid"`` (default: a latent laid out over frequency and time),
        ``"conv"``, ``"simple"`` or ``"blog"`` (see :mod:`vae_audio.modeling.models`).
    model_options : the architecture's options (``**arch_kwargs`` of
        :func:`vae_audio.modeling.models.build_encoder`, e.g. ``{"filters": [16, 32, 64]}``) put over the
        dataset's defaults (:func:`vae_audio.data.datasets.default_model_options`); ``None`` keeps them.
    conditional : condition encoder and decoder on the dataset's labels; ``None`` (default):
        when the dataset has labels.
    epochs : total number of epochs (a resumed run stops at the same count).
    batch_size : clips per batch (the global batch under a distribution strategy); ``None``: the
        architecture's default (:data:`vae_audio.choices.DEFAULT_BATCH_SIZES`; a resumed run keeps its own).
    learning_rate : Adam step size.
    latent_dim : size of the latent space; ``None`` uses the architecture's default.
    beta : weight of the KL term after warm-up.
    kl_warmup_epochs : epochs over which beta ramps linearly from 0 (0 disables warm-up).
    likelihood : decoder likelihood, see :class:`vae_audio.modeling.models.VAE`; ``None``: the
        architecture's default (:data:`vae_audio.choices.DEFAULT_LIKELIHOODS`).
    seed : seeds weights, shuffling, sampling (same seed, same weights on CPU).
    out : output folder of the run.
    max_clips : use at most this many clips (quick runs); ``None`` = all.
    strategy : ``"default"``, ``"mirrored"`` (all local devices) or ``"multiworker"``.
    n_samples_out : how many generated and reconstructed clips to write at the end; with 0 neither
        they nor the run's ``report.html`` (:mod:`vae_audio.evaluation.report`) are written.
    samples_dir : where those clips go (``None``: ``outputs/samples/<run name>``).
    sr, duration, n_fft, hop_length, n_mels : spectrogram settings (Hz, seconds, samples, samples,
        bands) that replace the dataset's defaults (:func:`vae_audio.data.datasets.default_config`);
        ``None`` keeps the default. Saved in the bundle's recipe.
    verbose : 0 silent, 1 a progress bar, 2 one line per epoch (Keras' ``fit`` levels).
    prior_model : the learned prior a ``grid`` model gets after the autoencoder
        (:data:`vae_audio.modeling.grid_prior.PRIOR_KINDS`, default ``"autoregressive"``), or ``"none"``;
        vector-latent models always get a Gaussian mixture.
    prior_steps : optimizer steps of that prior (``None``: :data:`vae_audio.modeling.grid_prior.DEFAULT_STEPS`).
    postfilter : fit a valley postfilter (:mod:`vae_audio.dsp.postfilter`) to the training reconstructions
        and save it with the model (linear spectrograms only); ``None``: the dataset's default
        (:func:`vae_audio.data.datasets.default_postfilter`: FSDD yes, synth no).
    precision : the Keras dtype policy of training, ``"float32"`` (default), ``"mixed_float16"``
        (GPUs; the optimizer gets loss scaling) or ``"mixed_bfloat16"`` (TPUs, recent CPUs); the
        loss is computed in float32 and the saved bundle is float32 whatever the policy.
    xla : compile the training step with XLA (``jit_compile``). Turns TensorFlow's op determinism
        off (Keras will not XLA-compile under it), so the run is seeded but not bit-reproducible;
        on 2 CPU cores it measured 1.8x slower per epoch than without (synth, batch 16).
    """

    data: str = "synth"
    model: str = DEFAULT_ARCHITECTURE
    conditional: bool | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float = 1e-3
    latent_dim: int | None = None
    beta: float = 1.0
    kl_warmup_epochs: int = 5
    likelihood: str | None = None
    seed: int = 0
    out: str | None = None
    max_clips: int | None = None
    strategy: str = "default"
    n_samples_out: int = 8
    samples_dir: str | None = None
    verbose: int = 1
    sr: int | None = None
    duration: float | None = None
    n_fft: int | None = None
    hop_length: int | None = None
    n_mels: int | None = None
    prior_model: str = DEFAULT_GRID_PRIOR
    prior_steps: int | None = None
    postfilter: bool | None = None
    model_options: Mapping[str, Any] | None = None
    precision: str = "float32"
    xla: bool = False
    memory_limit: int | str | None = None

    def __post_init__(self) -> None:
        if self.model not in ARCHITECTURES:
            raise ConfigError(f"model={self.model!r}: expected one of {ARCHITECTURES}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision={self.precision!r}: expected one of {PRECISIONS}")
        if not isinstance(self.xla, bool):
            raise ConfigError(f"xla={self.xla!r}: expected True or False")
        if self.postfilter is not None and not isinstance(self.postfilter, bool):
            raise ConfigError(f"postfilter={self.postfilter!r}: expected True, False or None (the dataset's default)")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy={self.strategy!r}: expected one of {STRATEGIES}")
        for name, lo in (("batch_size", 1), ("seed", 0), ("n_samples_out", 0)):
            v = getattr(self, name)
            if name == "batch_size" and v is None:
                continue
            # NumPy ints -> int (JSON)
            object.__setattr__(self, name, checks.whole_number(v, name, lo, error=ConfigError))
        if self.conditional not in (None, True, False):
            raise ConfigError(f"conditional={self.conditional!r}: expected True, False or None (when labelled)")
        if self.model_options is not None and not isinstance(self.model_options, Mapping):
            raise ConfigError(f"model_options={self.model_options!r}: expected a mapping of architecture options")
        if self.prior_model not in GRID_PRIOR_CHOICES:
            raise ConfigError(f"prior_model={self.prior_model!r}: expected one of {GRID_PRIOR_CHOICES}")
        for name in ("epochs", "max_clips", "latent_dim", "prior_steps"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, checks.whole_number(v, name, 1, error=ConfigError))
        object.__setattr__(self, "learning_rate", checks.number(self.learning_rate, "learning_rate", 0, 1, lo_open=True,
                                                                hi_open=True, error=ConfigError))
        object.__setattr__(self, "beta", checks.number(self.beta, "beta", 0, error=ConfigError))
        object.__setattr__(self, "kl_warmup_epochs", checks.whole_number(self.kl_warmup_epochs, "kl_warmup_epochs", 0,
                                                                         error=ConfigError))
        if self.duration is not None:
            object.__setattr__(self, "duration", checks.number(self.duration, "duration", 0, 600, lo_open=True,
                                                               error=ConfigError, what="a number of seconds"))
        if self.memory_limit is not None:
            try:
                checks.byte_size(self.memory_limit, "memory_limit")
            except ParameterError as exc:
                raise ConfigError(str(exc)) from None
        if self._overrides():
            self.spectrogram_config()  # refuse impossible settings now, with the field named

    _SPECTROGRAM_FIELDS = ("sr", "n_fft", "hop_length", "n_mels")

    def _overrides(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (*self._SPECTROGRAM_FIELDS, "duration") if getattr(self, k) is not None}

    def spectrogram_config(self):
        """The run's :class:`~vae_audio.dsp.features.SpectrogramConfig`: the dataset's default with this
        run's ``sr`` / ``duration`` / ``n_fft`` / ``hop_length`` / ``n_mels`` put in."""
        from .data.datasets import default_config

        base = default_config(self.data)
        changes = {k: v for k, v in self._overrides().items() if k != "duration"}
        if self.duration is not None:
            changes["n_samples"] = int(round(self.duration * changes.get("sr", base.sr)))
        elif "sr" in changes:  # keep the clip's length in seconds
            changes["n_samples"] = int(round(base.duration * changes["sr"]))
        return base.replace(**changes) if changes else base

    @property
    def run_name(self) -> str:
        """A short name for the run: ``<data>-<model>[-cond]``."""
        data = Path(self.data).name if self.data not in ("synth", "fsdd") else self.data
        return f"{data}-{self.model}" + ("-cond" if self.conditional else "")

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("outputs") / "runs" / self.run_name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    out_dir: Path
    model_dir: Path
    history: dict[str, list[float]]
    epochs_run: int
    seconds: float
    samples: list[Path] = field(default_factory=list)


def configure_determinism(seed: int, *, deterministic_ops: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow and Keras and (by default) make TF ops deterministic on CPU.

    With the same seed, one epoch gives the same weights on CPU. Determinism ends on GPUs
    (some kernels have no deterministic version) and across TensorFlow versions.
    ``deterministic_ops=False`` turns TensorFlow's op determinism off again (it is process-wide):
    Keras refuses to XLA-compile a model while it is on (``--xla`` needs it off), so such runs
    are seeded but not bit-reproducible.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    else:
        # the public API can only turn it on; Keras reads the same switch (trainer.model_supports_jit)
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()


# ----------------------------------------------------------------------------- checkpoints
def _checkpoint_root(out_dir: Path) -> Path:
    return Path(out_dir) / "checkpoints"


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete epoch folder under ``out_dir/checkpoints``, or ``None``.

    ``latest.json`` names it; if that file is missing or stale, the highest ``epoch_NNNN``
    folder that holds a ``state.json`` is used (folders are complete by construction).
    """
    root = _checkpoint_root(Path(out_dir))
    if not root.is_dir():
        return None
    try:
        name = read_json(root / "latest.json")["checkpoint"]
        if (root / name / "state.json").is_file():
            return root / name
    except (OSError, ValueError, KeyError, TypeError):
        pass
    complete = sorted(p for p in root.glob("epoch_*") if (p / "state.json").is_file())
    return complete[-1] if complete else None


def _save_checkpoint(vae, out_dir: Path, epoch: int, state: dict[str, Any], keep: int = 2) -> Path:
    root = _checkpoint_root(out_dir)
    target = root / f"epoch_{epoch:04d}"
    with atomic_directory(target) as tmp:
        vae.save_weights(str(tmp / "vae.weights.h5"))  # Keras 3 includes the optimizer's state
        atomic_write_json(tmp / "state.json", {**state, "epoch": epoch})
    atomic_write_json(root / "latest.json", {"checkpoint": target.name, "epoch": epoch})
    for old in sorted(root.glob("epoch_*"))[:-keep]:
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def _restore_checkpoint(vae, checkpoint: Path) -> dict[str, Any]:
    try:
        # build the optimizers' slots so load_weights restores Adam's moments and step too
        vae.optimizer.build(vae.trainable_variables)
        vae.load_weights(str(checkpoint / "vae.weights.h5"))
        return read_json(checkpoint / "state.json")
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"{checkpoint}: cannot resume from this checkpoint ({exc})") from None


# ----------------------------------------------------------------------------- callbacks
def _callbacks_module():
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        """Saves a complete checkpoint and history.json after every finished epoch."""

        def __init__(self, out_dir: Path, state: dict[str, Any], history: dict[str, list[float]],
                     write: bool = True):
            super().__init__()
            self.out_dir, self.state, self.history, self.write = out_dir, state, history, write
            self.t0 = time.perf_counter()
            self.nan_seen = False

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            if self.nan_seen or not all(math.isfinite(float(v)) for v in logs.values()):
                return
            for key, value in logs.items():
                self.history.setdefault(key, []).append(float(value))
            self.history.setdefault("epoch_seconds", []).append(time.perf_counter() - self.t0)
            if not self.write:  # a multi-worker run's other workers: the chief writes
                return
            try:
                _save_checkpoint(self.model, self.out_dir, epoch + 1, {**self.state, "history": self.history})
                atomic_write_json(self.out_dir / "history.json", self.history)
            except OSError as exc:  # disk full, folder removed, ...: stop with our error, not a traceback
                last = latest_checkpoint(self.out_dir)
                raise TrainingError(
                    f"{self.out_dir}: cannot write the checkpoint of epoch {epoch + 1} ({exc.strerror or exc}); "
                    f"{f'the last good checkpoint is {last}' if last else 'no checkpoint was written'}"
                ) from None

    class NanGuard(keras.callbacks.Callback):
        """Stops training at the first non-finite loss, remembering where it happened."""

        def __init__(self, checkpointer: EpochCheckpoint):
            super().__init__()
            self.checkpointer = checkpointer
            self.where: tuple[int, int] | None = None
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.where = (self.epoch + 1, batch + 1)
                self.checkpointer.nan_seen = True
                self.model.stop_training = True

    return EpochCheckpoint, NanGuard


def check_tf_config(text: str | None) -> dict[str, Any]:
    """The ``TF_CONFIG`` of a multi-worker run, checked: ``{"cluster": {...}, "task": {...}}``.

    The cluster needs a ``"chief"`` or a ``"worker"`` list of ``host:port`` addresses (worker 0
    acts as the chief when there is no chief), and the task a type of the cluster and an index into
    its list. Raises :class:`ConfigError` in one line otherwise.
    """
    import json

    if not text:
        raise ConfigError("--strategy multiworker: the TF_CONFIG environment variable is not set (it names the "
                          "cluster and this process's task, see the README's multi-worker section)")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TF_CONFIG: not valid JSON ({exc.msg} at character {exc.pos})") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not any(isinstance(cluster.get(k), list) and cluster[k]
                                                for k in ("chief", "worker")):
        raise ConfigError("TF_CONFIG: its cluster names no chief (neither a 'chief' nor a 'worker' list of "
                          "host:port addresses)")
    if not isinstance(task, dict) or task.get("type") not in cluster or isinstance(task.get("index"), bool) \
            or not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(cluster[task["type"]]):
        raise ConfigError(f"TF_CONFIG: task {task!r} is not one of the cluster's tasks {sorted(cluster)} "
                          "(expected {'type': 'worker', 'index': 0} and the like)")
    return config


def is_chief(strategy) -> bool:
    """Whether this process writes the run's files: always, except under a multi-worker strategy,
    where the ``chief`` task does (worker 0 when the cluster has no chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and int(resolver.task_id) == 0 and \
        "chief" not in resolver.cluster_spec().as_dict()


def _make_strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=[d.name for d in tf.config.list_logical_devices("CPU")]
                                              if not tf.config.list_logical_devices("GPU") else None)
    if name == "multiworker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _task_name(strategy) -> str:
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type} {resolver.task_id}"


def _prepare_out_dir(settings: TrainSettings, resume: bool, overwrite: bool) -> Path:
    """Check the output folder; nothing is created or deleted here (see :func:`_clear_previous_run`),
    so a run that fails on bad settings or data leaves the folder exactly as it was."""
    out = settings.out_dir
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another --out")
    has_run = (out / "checkpoints").exists() or (out / "model").exists()
    if has_run and not (resume or overwrite):
        raise ConfigError(
            f"{out}: already holds a training run; pass --resume to continue it, --overwrite to start over, "
            f"or --out to choose another folder"
        )
    if resume and latest_checkpoint(out) is None:
        raise ConfigError(f"{out}: nothing to resume (no completed epoch checkpoint in {out / 'checkpoints'})")
    return out


def _remove_litter(out: Path) -> None:
    """Delete the temporary files and folders a killed run left in ``out/checkpoints``
    (``.epoch_NNNN.*.tmp``, ``.latest.json.*.tmp.json``): never valid checkpoints, only litter."""
    for p in _checkpoint_root(out).glob(".*"):
        if ".tmp" in p.name:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _clear_previous_run(out: Path) -> None:
    """``--overwrite``: drop the old run's checkpoints and history once the new run is ready to train.

    The old bundle (``out/model``) stays until the new one replaces it atomically at the end.
    """
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    (out / "history.json").unlink(missing_ok=True)


def _read_state(checkpoint: Path) -> dict[str, Any]:
    try:
        state = read_json(checkpoint / "state.json")
    except (OSError, ValueError) as exc:
        raise TrainingError(f"{checkpoint / 'state.json'}: cannot resume from this checkpoint ({exc})") from None
    if not isinstance(state, dict):
        raise TrainingError(f"{checkpoint / 'state.json'}: cannot resume from this checkpoint (not a JSON object)")
    return state


def _check_resumable(state: dict[str, Any], checkpoint: Path, features) -> None:
    """The data of a resumed run must be featurized exactly as the checkpoint's was."""
    from .dsp.features import Normalizer, SpectrogramConfig
    from .modeling.inference import check_compatible

    try:
        config = SpectrogramConfig.from_dict(state["config"])
        normalizer = Normalizer.from_dict(state["normalizer"])
    except (KeyError, TypeError, ConfigError) as exc:
        raise TrainingError(f"{checkpoint / 'state.json'}: cannot resume, no valid spectrogram config "
                            f"({exc})") from None
    check_compatible(config, features.config, model_name=f"the checkpoint {checkpoint}",
                     data_name=f"the data {features.name!r}")
    recipe = state.get("recipe")
    if recipe is not None and recipe != features.recipe.to_dict():
        raise ConfigError(f"cannot resume {checkpoint}: the data's preprocessing ({features.recipe.describe()}) "
                          f"differs from the checkpoint's {recipe}")
    if normalizer.to_dict() != features.normalizer.to_dict():
        raise ConfigError(f"cannot resume {checkpoint}: the data's normalizer {features.normalizer.to_dict()} differs "
                          f"from the checkpoint's {normalizer.to_dict()} (did the dataset or --max-clips change?)")


def _build_vae(settings: TrainSettings, features, num_classes: int | None, strategy, train_ds):
    """The run's VAE (compiled, built) under ``strategy``, and the keyword arguments it was made with."""
    import keras

    from .data import datasets
    from .modeling import models

    with strategy.scope():
        model_kwargs = {"architecture": settings.model, "num_classes": num_classes,
                        **datasets.default_model_options(settings.data, settings.model),
                        **(settings.model_options or {})}
        if settings.latent_dim is not None:
            model_kwargs["latent_dim"] = settings.latent_dim
        encoder = models.build_encoder(features.config.shape, **model_kwargs)
        decoder = models.build_decoder(features.config.shape, **model_kwargs)
        steps_per_epoch = int(math.ceil(np.sum(features.split == "train") / settings.batch_size))
        vae_kwargs: dict[str, Any] = {"beta": settings.beta, "seed": settings.seed,
                                      "kl_warmup_steps": settings.kl_warmup_epochs * steps_per_epoch}
        vae_kwargs["likelihood"] = settings.likelihood or DEFAULT_LIKELIHOODS[settings.model]
        if vae_kwargs["likelihood"] == "spectral":
            vae_kwargs["db_range"] = (features.normalizer.low_db, features.normalizer.high_db)
        vae = models.VAE(encoder, decoder, **vae_kwargs)
        vae.compile(optimizer=keras.optimizers.Adam(settings.learning_rate), jit_compile=settings.xla)
        if settings.xla and not vae.jit_compile:  # Keras falls back with only a warning
            raise TrainingError("--xla: Keras cannot XLA-compile this model's training step "
                                "(op determinism on, or a layer without XLA support)")
        vae.build_for(features.config.shape)
        if settings.strategy == "multiworker":
            vae.symbolic_batch = next(iter(train_ds))

    return vae, model_kwargs, vae_kwargs


def _float32_copy(vae, settings: TrainSettings, features, model_kwargs: Mapping[str, Any],
                  vae_kwargs: Mapping[str, Any]):
    """The trained VAE as float32 layers with the same weights (what a mixed-precision run saves)."""
    from .modeling import models

    if settings.precision == "float32":
        return vae
    encoder = models.build_encoder(features.config.shape, **model_kwargs)
    decoder = models.build_decoder(features.config.shape, **model_kwargs)
    encoder.set_weights(vae.encoder.get_weights())
    decoder.set_weights(vae.decoder.get_weights())
    copy = models.VAE(encoder, decoder, **vae_kwargs)
    copy.step.assign(vae.step)
    copy.beta.assign(vae.beta)
    return copy


def train(settings: TrainSettings | None = None, *, resume: bool = False, overwrite: bool = False,
          features=None) -> TrainResult:
    """Train a VAE as ``settings`` say; save checkpoints, the bundle, history and samples.

    Parameters
    ----------
    settings : the run's settings (defaults: the grid model on the built-in synthetic data).
    resume : continue the run in ``settings.out_dir`` from its last completed epoch.
    overwrite : start over even if ``settings.out_dir`` already holds a run.
    features : optional pre-built :class:`vae_audio.data.datasets.Features` (skips loading data).

    Returns
    -------
    TrainResult with the bundle folder, the per-epoch history and the written samples.

    Raises
    ------
    TrainingError if the loss becomes NaN/inf (the last good checkpoint is kept);
    ConfigError / DatasetError for bad settings or data.
    """
    import keras

    from .data import datasets
    from .data.featurize import build_features, make_tf_dataset
    from .modeling.bundle import save_model
    from .modeling.inference import TrainedModel

    settings = settings or TrainSettings()
    # a multi-worker strategy configures TensorFlow's collective ops, which must happen before
    # TensorFlow runs its first op (featurizing, seeding, tf.data): create the strategy first
    strategy = _make_strategy(settings.strategy)

    def list_clips(s: TrainSettings):
        return datasets.load_dataset(s.data, max_clips=s.max_clips, seed=s.seed,
                                     config=s.spectrogram_config() if s._overrides() else None)

    dataset = None
    if settings.conditional is None:  # conditional when the data has labels
        if features is None:
            dataset = list_clips(settings)
        labelled = bool(features.label_names if features is not None else dataset.labelled)
        settings = dataclasses.replace(settings, conditional=labelled)
    out = _prepare_out_dir(settings, resume, overwrite)
    checkpoint = latest_checkpoint(out) if resume else None
    saved = _read_state(checkpoint) if checkpoint is not None else {}
    old = TrainSettings.from_dict(saved.get("settings", {}))
    if settings.batch_size is None:  # a resumed run keeps its batch size; a new one gets the default
        settings = dataclasses.replace(settings, batch_size=old.batch_size or DEFAULT_BATCH_SIZES[settings.model])
    if checkpoint is not None:
        same = {k for k in ("data", "model", "conditional", "latent_dim", "likelihood", "batch_size",
                            "sr", "duration", "n_fft", "hop_length", "n_mels", "model_options", "precision")
                if getattr(old, k) != getattr(settings, k)}
        if same:
            raise ConfigError(f"{out}: cannot resume with different {sorted(same)} "
                              f"(the run was started with {({k: getattr(old, k) for k in sorted(same)})})")

    configure_determinism(settings.seed, deterministic_ops=not settings.xla)
    t_start = time.perf_counter()
    if features is None:
        features = build_features(dataset if dataset is not None else list_clips(settings),
                                  memory_limit=settings.memory_limit, verbose=bool(settings.verbose))
    if settings.conditional and not features.label_names:
        raise ConfigError(f"--conditional needs labels, but dataset {settings.data!r} has none (use --no-conditional)")
    if checkpoint is not None:
        _check_resumable(saved, checkpoint, features)
    epochs = settings.epochs or datasets.default_epochs(settings.data, settings.model)
    num_classes = len(features.label_names) if settings.conditional else None
    train_ds = make_tf_dataset(features, split="train", batch_size=settings.batch_size, shuffle=True,
                                        seed=settings.seed, with_labels=settings.conditional)
    val_ds = None
    if np.any(features.split == "val"):
        val_ds = make_tf_dataset(features, split="val", batch_size=settings.batch_size, shuffle=False,
                                          with_labels=settings.conditional)

    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(settings.precision)  # the layers built now keep it; reset below
    try:
        vae, model_kwargs, vae_kwargs = _build_vae(settings, features, num_classes, strategy, train_ds)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    if checkpoint is not None:
        with strategy.scope():  # the optimizer's slots are created under the strategy, like its variables
            state = _restore_checkpoint(vae, checkpoint)
        initial_epoch = int(state["epoch"])
        history = {k: list(v) for k, v in state.get("history", {}).items()}
        if settings.verbose:
            print(f"Resuming {out} from epoch {initial_epoch} ({checkpoint.name})")

    state = {"settings": settings.to_dict(), "config": features.config.to_dict(),
             "normalizer": features.normalizer.to_dict(), "recipe": features.recipe.to_dict(),
             "label_names": list(features.label_names)}
    chief = is_chief(strategy)
    if chief and overwrite and not resume:
        _clear_previous_run(out)
    elif chief and resume:
        _remove_litter(out)
    EpochCheckpoint, NanGuard = _callbacks_module()
    checkpointer = EpochCheckpoint(out, state, history, write=chief)
    nan_guard = NanGuard(checkpointer)
    callbacks = [nan_guard, checkpointer]
    if chief:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs"), write_graph=False,
                                                     update_freq="epoch", profile_batch=0))
    elif settings.verbose:
        print(f"{_task_name(strategy)}: the chief writes the checkpoints, the bundle and the samples")
    if initial_epoch < epochs:
        if settings.verbose:
            print(f"Training {settings.model} VAE on {settings.data}: {features.config.describe()}; "
                  f"{int(np.sum(features.split == 'train'))} training clips, epochs {initial_epoch + 1}..{epochs}")
        try:
            vae.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                    callbacks=callbacks, verbose=settings.verbose, shuffle=False)
        except Exception as exc:
            import tensorflow as tf

            if settings.strategy != "multiworker" or not isinstance(exc, tf.errors.OpError):
                raise
            # a peer stopped: its all-reduce failed here. TensorFlow's recipe: restart every worker
            last = latest_checkpoint(out)
            raise TrainingError(
                f"{_task_name(strategy)}: the cluster lost a worker ({type(exc).__name__}); restart every worker "
                f"with --resume to continue from {last.name if last else 'the start (no checkpoint yet)'}") from None
    if nan_guard.where is not None:
        last = latest_checkpoint(out)
        kept = f"the last good checkpoint is {last}" if last else "no epoch completed, so no checkpoint exists"
        raise TrainingError(
            f"training stopped: the loss became NaN/inf at epoch {nan_guard.where[0]}, batch {nan_guard.where[1]}; "
            f"{kept}. Try a lower --learning-rate or check the data for silent/corrupt clips"
        )

    model_dir = out / "model"
    if not chief:  # the prior, the bundle and the samples are the chief's
        return TrainResult(out_dir=out, model_dir=model_dir, history=history, epochs_run=len(history.get("loss", [])),
                           seconds=time.perf_counter() - t_start, samples=[])
    names = list(features.label_names) if settings.conditional else None
    vae = _float32_copy(vae, settings, features, model_kwargs, vae_kwargs)  # what is saved and sampled
    t_prior = time.perf_counter()
    prior = fit_training_prior(vae, features, conditional=settings.conditional, seed=settings.seed,
                               kind=settings.prior_model, steps=settings.prior_steps, verbose=settings.verbose)
    t_prior = time.perf_counter() - t_prior
    trained = TrainedModel.from_vae(vae, recipe=features.recipe, label_names=names, prior=prior)
    if settings.postfilter or (settings.postfilter is None and datasets.default_postfilter(features.name)):
        trained.postfilter = fit_training_postfilter(trained, features)
    save_model(vae, model_dir, recipe=features.recipe, label_names=names,
               settings={"training": settings.to_dict(), "epochs_run": len(history.get("loss", [])),
                         "final": {k: v[-1] for k, v in history.items() if v},
                         "prior_seconds": round(t_prior, 1)},
               prior=trained.prior, postfilter=trained.postfilter)
    _write_audio_summary(out, trained)
    samples: list[Path] = []
    if settings.n_samples_out:
        from .modeling.generate import write_training_samples

        samples_dir = (Path(settings.samples_dir) if settings.samples_dir
                       else Path("outputs/samples") / settings.run_name)
        samples = write_training_samples(trained, features, samples_dir, n=settings.n_samples_out, seed=settings.seed)
        from .evaluation.report import write_report

        report = write_report(model_dir, model=trained, features=features, history=history,
                              n_clips=min(4, settings.n_samples_out), seed=settings.seed)
        if settings.verbose:
            print(f"wrote {report}")
    return TrainResult(out_dir=out, model_dir=model_dir, history=history, epochs_run=len(history.get("loss", [])),
                       seconds=time.perf_counter() - t_start, samples=samples)


def fit_training_prior(vae, features, *, conditional: bool, seed: int = 0, kind: str = DEFAULT_GRID_PRIOR,
                       steps: int | None = None, verbose: int = 0, **prior_options: Any):
    """The latent prior of a trained VAE, fitted to its training-split codes.

    Encodes every training clip (posterior means and variances) and fits, with
    :meth:`vae_audio.modeling.inference.TrainedModel.fit_prior`, a Gaussian mixture for a vector latent
    (see :mod:`vae_audio.modeling.latent_prior`) or a learned prior network of family ``kind`` for a grid
    latent (see :mod:`vae_audio.modeling.grid_prior`; ``kind="none"``: no prior, samples come from
    ``N(0, I)``), per class for a conditional model. A grid model's prior gets the data's
    defaults (:func:`vae_audio.data.datasets.default_prior_options`: ``steps`` unless given; network
    and sampling settings for the autoregressive family only), then ``prior_options`` (keyword
    arguments of :meth:`vae_audio.modeling.grid_prior.GridPrior.fit`).
    The bundle stores it; generation samples it.
    """
    from .data.datasets import default_prior_options
    from .modeling.inference import TrainedModel

    names = list(features.label_names) if conditional else None
    model = TrainedModel.from_vae(vae, recipe=features.recipe, label_names=names)
    if model.fully_convolutional and kind == "none":
        return None
    is_train = features.split == "train"  # its spectrograms and labels, not a copy of its waveforms too
    if model.fully_convolutional:
        defaults = default_prior_options(features.name)
        if kind != "autoregressive":  # the network and sampling defaults were chosen for that family
            defaults = {k: v for k, v in defaults.items() if k == "steps"}
        prior_options = {**defaults, **prior_options}
        default_steps = prior_options.pop("steps", None)
        steps = default_steps if steps is None else steps
        if verbose:
            print(f"Training the {kind} prior on the codes of {int(is_train.sum())} training clips")
    return model.fit_prior(features.x[is_train], features.labels[is_train] if conditional else None, seed=seed,
                           kind=kind, steps=steps, verbose=2 if verbose else 0, **prior_options)


def fit_training_postfilter(model, features, *, max_clips: int = 1000, **options: Any):
    """A :class:`~vae_audio.dsp.postfilter.ValleyPostfilter` fitted to ``model``'s reconstructions of (at most
    ``max_clips``) training clips, or ``None`` for a mel model (its bands do not resolve harmonics).
    ``options`` go to :func:`~vae_audio.dsp.postfilter.fit_valley_postfilter` (``width``, ``bands``, ``strength``)."""
    from .dsp.postfilter import fit_valley_postfilter

    if model.config.n_mels:
        return None
    idx = np.flatnonzero(features.split == "train")[:max_clips]
    x = np.asarray(features.x[idx])
    labels = features.labels[idx] if model.label_names else None
    return fit_valley_postfilter(model.reconstruct(x, labels), x, **options)


def _write_audio_summary(out: Path, trained, n: int = 4) -> None:
    """Log a few prior samples of a :class:`~vae_audio.modeling.inference.TrainedModel` as audio to TensorBoard
    (``out/logs/samples``)."""
    import tensorflow as tf

    spec = trained.generate(n, seed=0)
    audio = trained.to_audio(spec)
    writer = tf.summary.create_file_writer(str(out / "logs" / "samples"))
    with writer.as_default():
        tf.summary.audio("prior_samples", audio[..., None].astype(np.float32), trained.config.sr, step=0,
                         max_outputs=n)
    writer.close()
