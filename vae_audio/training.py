"""The training stages of a run: the autoencoder (checkpoints every epoch, resume, NaN guard,
TensorBoard, history), the learned prior and the postfilter.

:func:`vae_audio.pipeline.train` composes them with featurizing, the bundle, the samples and the
report. The output folder of a run (``config.outputs.out``) holds::

    OUT/
      config.json                  the resolved configuration (vae_audio.config.RunConfig), written first
      checkpoints/epoch_0007/      vae.weights.h5 (model + optimizer state) + state.json, one per epoch
      checkpoints/latest.json      which epoch folder is the newest complete one
      checkpoints/best/            the weights of the epoch with the lowest validation loss (early stopping)
      model/                       the final bundle: encoder.keras, decoder.keras, config.json
      history.json                 losses per epoch (train and validation)
      report.html                  the listening report (vae_audio.evaluation.report)
      logs/                        TensorBoard logs (losses, audio examples)

Every file is written atomically: an epoch folder is assembled under a temporary name and
renamed into place, then ``latest.json`` is replaced. Killing the process at any moment leaves
the previous epoch's checkpoint (and any previous bundle) intact, and ``resume=True`` continues
from the last completed epoch.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import PostfilterConfig, PriorConfig, RunConfig
from .errors import ConfigError, TrainingError
from .fileio import atomic_directory, atomic_write_json, read_json

__all__ = ["Autoencoder", "fit_autoencoder", "early_stopping", "latest_checkpoint", "configure_determinism",
           "fit_training_prior", "fit_training_postfilter", "fit_training_texture", "make_strategy", "check_tf_config",
           "is_chief", "prepare_out_dir", "read_checkpoint_config", "resumed_config", "RESUME_FIXED"]

#: keys a resumed run must share with its checkpoint (they decide the data, the features and the weights' shapes)
RESUME_FIXED = ("seed", "data.source", "data.max_clips", "data.val_fraction", "data.test_fraction", "recipe.sr",
                "recipe.duration", "recipe.n_fft", "recipe.hop_length", "recipe.n_mels", "recipe.level",
                "recipe.db_floor", "recipe.trim_db", "recipe.max_duration", "model.architecture", "model.options",
                "model.latent_dim", "model.conditional", "model.likelihood", "training.batch_size",
                "training.precision")


@dataclass
class Autoencoder:
    """What :func:`fit_autoencoder` returns: the trained VAE (float32 layers, what is saved and sampled),
    the per-epoch history, whether this process is the chief (the one that writes the run's files),
    the epoch whose weights it holds (1-based; the best one by validation loss when early stopping
    restored it) and why training stopped (``"ceiling"``: ``training.epochs`` ran, ``"early stopping"``,
    ``"time budget"``: the run's deadline)."""

    vae: Any
    history: dict[str, list[float]]
    chief: bool
    best_epoch: int | None = None
    stopped: str = "ceiling"

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("loss", []))


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


# ----------------------------------------------------------------------------- early stopping
def early_stopping(val_loss: list[float], *, patience: int, min_delta: float, first: int = 1
                   ) -> tuple[int | None, bool]:
    """Where a run's validation losses say to stop: ``(best epoch, stop)``.

    ``val_loss``: one value per finished epoch (epoch 1 first); only epochs ``>= first`` count (1-based:
    the KL weight warms up before, so earlier losses are not comparable). An epoch improves when its
    loss is below the best so far by more than ``min_delta`` (relative: ``min_delta x |best|``); ``stop``
    once ``patience`` epochs have passed since the last improvement (``patience`` 0: never). ``best
    epoch``: the counted epoch of lowest loss (the weights to keep), ``None`` before ``first``.
    """
    best_epoch = improved_epoch = None
    best = reference = math.inf
    for epoch, value in enumerate(val_loss, 1):
        if epoch < first or not math.isfinite(value):
            continue
        if value < best:
            best, best_epoch = value, epoch
        if improved_epoch is None or value < reference - min_delta * abs(reference):
            reference, improved_epoch = value, epoch
    stop = patience > 0 and improved_epoch is not None and len(val_loss) - improved_epoch >= patience
    return best_epoch, stop


def _best_weights(out_dir: Path) -> Path:
    return _checkpoint_root(out_dir) / "best"


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

    class EarlyStopping(keras.callbacks.Callback):
        """After the checkpoint of each epoch: saves the weights of the best epoch so far (``checkpoints/best``,
        so a resumed run can restore them) and stops when :func:`early_stopping` says so, or when one more
        epoch would end past the ``deadline`` (a ``time.perf_counter()`` value).

        ``planned``: ``(seconds per epoch, seconds after the autoencoder)`` as the time budget planned them.
        When the epochs run ``r`` times slower than planned (the median of the last three, the first epoch of
        the fit left out: it also traces the step function, a fixed cost of the budget), the machine
        got busier since it was measured: the next epoch is taken as ``r`` x planned, and the deadline is
        moved ``(r - 1)`` x the seconds after it earlier, as what follows will likely be slower too."""

        def __init__(self, out_dir: Path, history: dict[str, list[float]], *, patience: int, min_delta: float,
                     first: int, write: bool = True, deadline: float | None = None,
                     planned: tuple[float, float] | None = None):
            super().__init__()
            self.out_dir, self.history, self.write = out_dir, history, write
            self.patience, self.min_delta, self.first, self.deadline = patience, min_delta, first, deadline
            self.planned = planned
            self.best_epoch, _ = early_stopping(history.get("val_loss", []), patience=patience, min_delta=min_delta,
                                                first=first)
            self.stopped = "ceiling"
            self._before = len(history.get("epoch_seconds", []))  # epochs of an earlier fit (a resumed run)

        def on_epoch_end(self, epoch, logs=None):
            val = self.history.get("val_loss", [])
            if len(val) == epoch + 1:  # else no validation split, or the epoch was not recorded (NaN)
                best, stop = early_stopping(val, patience=self.patience, min_delta=self.min_delta, first=self.first)
                if best == epoch + 1 and best != self.best_epoch and self.write:
                    with atomic_directory(_best_weights(self.out_dir)) as tmp:
                        self.model.save_weights(str(tmp / "vae.weights.h5"))
                        atomic_write_json(tmp / "state.json", {"epoch": best, "val_loss": val[best - 1]})
                self.best_epoch = best
                if stop:
                    self.stopped = "early stopping"
                    self.model.stop_training = True
                    return
            if self.deadline is not None and not self.model.stop_training and epoch + 1 < self.params.get("epochs", 0):
                # the first epoch of this fit also traces the step function (a fixed cost of the budget):
                # the rates are read from the epochs after it
                ran = self.history.get("epoch_seconds", [])[self._before + 1:]
                seconds = ran[-1] if ran else 0.0
                deadline = self.deadline
                if self.planned is not None and self.planned[0] > 0:
                    recent = sorted(ran[-3:])
                    slower = max(1.0, recent[len(recent) // 2] / self.planned[0]) if recent else 1.0
                    seconds = max(seconds, slower * self.planned[0])
                    deadline -= (slower - 1.0) * self.planned[1]
                if time.perf_counter() + seconds > deadline:
                    self.stopped = "time budget"
                    self.model.stop_training = True

    return EpochCheckpoint, NanGuard, EarlyStopping


def check_tf_config(text: str | None) -> dict[str, Any]:
    """The ``TF_CONFIG`` of a multi-worker run, checked: ``{"cluster": {...}, "task": {...}}``.

    The cluster needs a ``"chief"`` or a ``"worker"`` list of ``host:port`` addresses (worker 0
    acts as the chief when there is no chief), and the task a type of the cluster and an index into
    its list. Raises :class:`ConfigError` in one line otherwise.
    """
    import json

    if not text:
        raise ConfigError("--strategy multiworker: the TF_CONFIG environment variable is not set (it names the "
                          "cluster and this process's task, see docs/design.md, training across machines)")
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


def make_strategy(name: str):
    """The ``tf.distribute`` strategy of ``training.strategy``. Create it before TensorFlow runs its first
    op: a multi-worker strategy configures the collective ops."""
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


def prepare_out_dir(out: Path, resume: bool, overwrite: bool) -> Path:
    """Check the run folder ``out``; nothing is created or deleted here, so a run that fails on bad
    settings or data leaves the folder exactly as it was."""
    out = Path(out)
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


def read_checkpoint_config(out: Path) -> RunConfig:
    """The resolved configuration saved in the newest checkpoint of the run folder ``out`` (checkpoints of
    earlier versions, which saved flat settings, are read through :func:`vae_audio.config.from_settings`)."""
    from .config import from_settings

    checkpoint = latest_checkpoint(out)
    state = _read_state(checkpoint)
    try:
        if "config" in state and isinstance(state["config"], dict) and "recipe" in state["config"]:
            saved = state["config"]
            if isinstance(saved["recipe"], dict) and "max_duration" not in saved["recipe"]:
                # checkpoints from before recipe.max_duration trained on the window
                saved = {**saved, "recipe": {**saved["recipe"], "max_duration": saved["recipe"].get("duration")}}
            return RunConfig.from_dict(saved)
        return from_settings(state.get("settings", {}), recipe=state.get("recipe"))
    except ConfigError as exc:
        raise TrainingError(f"{checkpoint / 'state.json'}: cannot resume, its configuration is not valid ({exc})") \
            from None


def resumed_config(saved: RunConfig, given: dict[str, Any], out: Path) -> RunConfig:
    """The checkpoint's configuration with the keys the user gave put in; refuses a change of a key in
    :data:`RESUME_FIXED` (epochs, the prior, the postfilter and the outputs may change)."""
    config = saved.updated(given)
    changed = [k for k in RESUME_FIXED if config.get(k) != saved.get(k)]
    if changed:
        raise ConfigError(f"{out}: cannot resume with different {changed} (the run was started with "
                          f"{ {k: saved.get(k) for k in changed} })")
    return config


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

    try:  # checkpoints before the run configuration kept the spectrogram settings under "config"
        config = SpectrogramConfig.from_dict(state["spectrogram"] if "spectrogram" in state else state["config"])
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


def _build_vae(config: RunConfig, features, strategy, train_ds):
    """The run's VAE (compiled, built) under ``strategy``, and the keyword arguments it was made with."""
    import keras

    from .modeling import models

    m, t = config.model, config.training
    with strategy.scope():
        model_kwargs = {"architecture": m.architecture, "latent_dim": m.latent_dim, **m.options,
                        "num_classes": len(features.label_names) if m.conditional else None}
        encoder = models.build_encoder(features.config.shape, **model_kwargs)
        decoder = models.build_decoder(features.config.shape, **model_kwargs)
        steps_per_epoch = int(math.ceil(np.sum(features.split == "train") / t.batch_size))
        vae_kwargs: dict[str, Any] = {"beta": m.beta, "seed": config.seed, "likelihood": m.likelihood,
                                      "kl_warmup_steps": m.kl_warmup_epochs * steps_per_epoch}
        if m.likelihood == "spectral":
            vae_kwargs["db_range"] = (features.normalizer.low_db, features.normalizer.high_db)
        vae = models.VAE(encoder, decoder, **vae_kwargs)
        vae.compile(optimizer=keras.optimizers.Adam(t.learning_rate), jit_compile=t.xla)
        if t.xla and not vae.jit_compile:  # Keras falls back with only a warning
            raise TrainingError("--xla: Keras cannot XLA-compile this model's training step "
                                "(op determinism on, or a layer without XLA support)")
        vae.build_for(features.config.shape)
        # the optimizer's slots made now, not while the first step is traced (a trace a third as long)
        vae.optimizer.build(vae.trainable_variables)
        if t.strategy == "multiworker":
            vae.symbolic_batch = next(iter(train_ds))
    return vae, model_kwargs, vae_kwargs


def _float32_copy(vae, config: RunConfig, features, model_kwargs: dict[str, Any], vae_kwargs: dict[str, Any]):
    """The trained VAE as float32 layers with the same weights (what a mixed-precision run saves)."""
    from .modeling import models

    if config.training.precision == "float32":
        return vae
    encoder = models.build_encoder(features.config.shape, **model_kwargs)
    decoder = models.build_decoder(features.config.shape, **model_kwargs)
    encoder.set_weights(vae.encoder.get_weights())
    decoder.set_weights(vae.decoder.get_weights())
    copy = models.VAE(encoder, decoder, **vae_kwargs)
    copy.step.assign(vae.step)
    copy.beta.assign(vae.beta)
    return copy


def _tf_datasets(config: RunConfig, features):
    """The training and (when the split has clips) validation ``tf.data`` pipelines: training draws a random
    window-long crop of each clip kept beyond the window every epoch (``features.long``), validation takes
    each clip's start window."""
    from .data.featurize import make_tf_dataset

    batch, labels = config.training.batch_size, config.model.conditional
    train_ds = make_tf_dataset(features, split="train", batch_size=batch, shuffle=True, seed=config.seed,
                               with_labels=labels)
    val_ds = None
    if np.any(features.split == "val"):
        val_ds = make_tf_dataset(features, split="val", batch_size=batch, shuffle=False, with_labels=labels)
    return train_ds, val_ds


def fit_autoencoder(config: RunConfig, features, out: Path, *, strategy, resume: bool = False,
                    overwrite: bool = False, verbose: int = 1, deadline: float | None = None,
                    planned: tuple[float, float] | None = None) -> Autoencoder:
    """Stage 2 of a run: train the autoencoder of ``config`` on ``features`` (a checkpoint every epoch in
    ``out``), continuing from the newest checkpoint with ``resume``.

    ``training.epochs`` is a ceiling: with ``training.patience > 0`` and a validation split, training stops
    once the validation loss has not improved by ``training.min_delta`` (relative) for ``patience`` epochs
    after the KL warm-up (:func:`early_stopping`), and the weights of the epoch with the lowest validation
    loss are restored (saved in ``out/checkpoints/best``, so a resumed run restores them too). ``deadline``
    (a ``time.perf_counter()`` value, from the time budget) stops it before an epoch that would end past it;
    ``planned`` (seconds per epoch, seconds after the autoencoder, as planned) moves the deadline earlier
    when the epochs run slower than planned (the callback of :func:`_callbacks_module`).

    Raises :class:`TrainingError` when the loss becomes NaN/inf (the last good checkpoint is kept) or a
    worker of a multi-worker run is lost, :class:`ConfigError` for a conditional model on unlabelled data.
    """
    import keras

    if config.model.conditional and not features.label_names:
        raise ConfigError(f"--conditional needs labels, but dataset {config.data.source!r} has none "
                          "(use --no-conditional)")
    checkpoint = latest_checkpoint(out) if resume else None
    saved = _read_state(checkpoint) if checkpoint is not None else {}
    if checkpoint is not None:
        _check_resumable(saved, checkpoint, features)
    train_ds, val_ds = _tf_datasets(config, features)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.training.precision)  # the layers built now keep it; reset below
    try:
        vae, model_kwargs, vae_kwargs = _build_vae(config, features, strategy, train_ds)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    if checkpoint is not None:
        with strategy.scope():  # the optimizer's slots are created under the strategy, like its variables
            state = _restore_checkpoint(vae, checkpoint)
        initial_epoch = int(state["epoch"])
        history = {k: list(v) for k, v in state.get("history", {}).items()}
        if verbose:
            print(f"Resuming {out} from epoch {initial_epoch} ({checkpoint.name})")
    chief = is_chief(strategy)
    if chief and overwrite and not resume:
        _clear_previous_run(out)
    elif chief and resume:
        _remove_litter(out)
    state = {"config": config.to_dict(), "spectrogram": features.config.to_dict(),
             "normalizer": features.normalizer.to_dict(), "recipe": features.recipe.to_dict(),
             "label_names": list(features.label_names)}
    best_epoch, stopped = _fit_epochs(vae, config, features, out, state, history, initial_epoch, (train_ds, val_ds),
                                      strategy, chief, verbose, deadline, planned)
    return Autoencoder(_float32_copy(vae, config, features, model_kwargs, vae_kwargs), history, chief, best_epoch,
                       stopped)


def _fit_epochs(vae, config: RunConfig, features, out: Path, state: dict[str, Any], history: dict[str, list[float]],
                initial_epoch: int, data, strategy, chief: bool, verbose: int, deadline: float | None = None,
                planned: tuple[float, float] | None = None) -> tuple[int | None, str]:
    """``vae.fit`` from ``initial_epoch`` to at most ``config.training.epochs`` with the checkpoint, NaN guard,
    early stopping and TensorBoard callbacks (``history`` is filled in place); the best epoch's weights
    restored. Returns ``(the epoch whose weights vae holds, why it stopped)``."""
    import keras

    t = config.training
    epochs = t.epochs
    EpochCheckpoint, NanGuard, EarlyStopping = _callbacks_module()
    checkpointer = EpochCheckpoint(out, state, history, write=chief)
    nan_guard = NanGuard(checkpointer)
    watch = t.patience > 0 and data[1] is not None
    stopper = EarlyStopping(out, history, patience=t.patience if watch else 0, min_delta=t.min_delta,
                            first=max(1, config.model.kl_warmup_epochs), write=chief and watch,
                            deadline=deadline if t.strategy != "multiworker" else None, planned=planned)
    callbacks = [nan_guard, checkpointer, stopper]
    _, already = early_stopping(history.get("val_loss", []), patience=stopper.patience, min_delta=t.min_delta,
                                first=stopper.first)
    if already:  # a resumed run that had stopped early: nothing left to train
        stopper.stopped, epochs = "early stopping", initial_epoch
    if chief:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out / "logs"), write_graph=False,
                                                     update_freq="epoch", profile_batch=0))
    elif verbose:
        print(f"{_task_name(strategy)}: the chief writes the checkpoints, the bundle and the samples")
    if initial_epoch < epochs:
        if verbose:
            print(f"Training {config.model.architecture} VAE on {config.data.source}: {features.config.describe()}; "
                  f"{int(np.sum(features.split == 'train'))} training clips, epochs {initial_epoch + 1}..{epochs}")
        try:
            vae.fit(data[0], validation_data=data[1], epochs=epochs, initial_epoch=initial_epoch,
                    callbacks=callbacks, verbose=verbose, shuffle=False)
        except Exception as exc:
            import tensorflow as tf

            if config.training.strategy != "multiworker" or not isinstance(exc, tf.errors.OpError):
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
    last = len(history.get("loss", []))
    best = stopper.best_epoch
    if not watch or best is None or best == last or not chief:
        return last, stopper.stopped
    _restore_best(vae, out, best)
    if verbose:
        print(f"Stopped after epoch {last} ({stopper.stopped}); restored the weights of epoch {best}, the lowest "
              f"validation loss {history['val_loss'][best - 1]:.6g}")
    return best, stopper.stopped


def _restore_best(vae, out: Path, epoch: int) -> None:
    """Load the weights early stopping saved for ``epoch`` (``out/checkpoints/best``)."""
    folder = _best_weights(out)
    try:
        saved = read_json(folder / "state.json")["epoch"]
        if saved != epoch:
            raise ValueError(f"it holds epoch {saved}, not {epoch}")
        vae.load_weights(str(folder / "vae.weights.h5"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainingError(f"{folder}: cannot restore the best epoch's weights ({exc})") from None


def fit_training_prior(vae, features, prior: PriorConfig, *, conditional: bool, seed: int = 0, verbose: int = 0):
    """Stage 3: the latent prior of a trained VAE, fitted to its training-split codes.

    Encodes every training clip's window (``features.x``: the start of each clip, also for a grid model
    trained on random crops of longer clips; posterior means and variances) and fits, with
    :meth:`vae_audio.modeling.inference.TrainedModel.fit_prior`, a Gaussian mixture for a vector latent
    (see :mod:`vae_audio.modeling.latent_prior`) or a learned prior network for a grid latent with the
    settings of ``prior`` (a resolved :class:`~vae_audio.config.PriorConfig`; ``kind="none"``: no prior,
    samples come from ``N(0, I)``), per class for a conditional model. Returns the prior (or ``None``).
    """
    from .modeling.inference import TrainedModel

    names = list(features.label_names) if conditional else None
    model = TrainedModel.from_vae(vae, recipe=features.recipe, label_names=names)
    if model.fully_convolutional and prior.kind == "none":
        return None
    is_train = features.split == "train"  # its spectrograms and labels, not a copy of its waveforms too
    if model.fully_convolutional and verbose:
        print(f"Training the {prior.kind} prior on the codes of {int(is_train.sum())} training clips")
    return model.fit_prior(features.x[is_train], features.labels[is_train] if conditional else None, seed=seed,
                           settings=prior if model.fully_convolutional else None, verbose=2 if verbose else 0)


def fit_training_postfilter(model, features, postfilter: PostfilterConfig | None = None, *, max_clips: int = 1000):
    """Stage 4: a :class:`~vae_audio.dsp.postfilter.ValleyPostfilter` fitted to ``model``'s reconstructions of
    (at most ``max_clips``) training clips with the options of ``postfilter`` (default options when
    ``None``), or ``None`` for a mel model (its bands do not resolve harmonics)."""
    from .dsp.postfilter import fit_valley_postfilter

    if model.config.n_mels:
        return None
    options = {} if postfilter is None else {"width": postfilter.width, "bands": postfilter.bands,
                                             "strength": postfilter.strength}
    idx = np.flatnonzero(features.split == "train")[:max_clips]
    x = np.asarray(features.x[idx])
    labels = features.labels[idx] if model.label_names else None
    return fit_valley_postfilter(model.reconstruct(x, labels), x, **options)


def fit_training_texture(model, features, postfilter: PostfilterConfig | None = None, *, seed: int = 0):
    """Stage 4: a :class:`~vae_audio.dsp.texture.NoiseTexture` fitted to ``model``'s reconstructions (its
    valley postfilter included) of (at most :data:`~vae_audio.dsp.texture.FIT_CLIPS`) training clips, one
    amount per band of ``postfilter.bands``; ``None`` for a mel model (the grain is drawn in STFT bins)."""
    from .dsp.texture import FIT_CLIPS, fit_noise_texture

    if model.config.n_mels:
        return None
    idx = np.flatnonzero(features.split == "train")[:FIT_CLIPS]
    x = np.asarray(features.x[idx])
    labels = features.labels[idx] if model.label_names else None
    bands = (postfilter or PostfilterConfig()).bands
    return fit_noise_texture(model.to_db(model.reconstruct(x, labels)), model.to_db(x), model.config, bands=bands,
                             seed=seed)


def write_audio_summary(out: Path, trained, n: int = 4) -> None:
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
