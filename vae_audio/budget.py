"""The time budget of a run: ``training.minutes`` turned into epochs and prior steps from measured step times.

A run is given a ceiling of wall time, ``training.minutes`` (15 by default, ``vae-audio train --minutes``)
instead of step counts. When ``training.epochs`` or ``prior.steps`` is not given, :func:`vae_audio.pipeline.train`
measures, once the data is featurized, how long one optimizer step takes on this machine now
(:func:`measure`), and :func:`split_budget` resolves the counts that fit:

1. **Measure** (a few seconds on a quiet machine, most of it tracing): the autoencoder is built as
   training builds it and runs :data:`WARMUP_STEPS` steps on real batches (the first traces the step
   function), then :data:`TIMED_STEPS` more; the median of those (from one step's end to the next's, so
   the input pipeline and Keras' loop are in it) is its seconds per step (a validation
   batch is taken as :data:`EVAL_RATIO` of it: timing it would trace the test step too). The grid
   model's prior network is built with the shapes the codes will have (the built decoder tells the
   latent grid's rows and channels, the frames its columns) and trained for as many steps on random
   codes. The throwaway models are dropped and the seeds reset, so a run that measured trains exactly
   as its replay, which does not measure.
2. **Fixed costs** (seconds, estimated from the measured steps and the data size): the time already
   spent (featurizing, measuring), tracing the training step again, the prior's encoding pass and
   setup, the postfilter's reconstructions, and the bundle, samples and report
   (:data:`OUTPUT_SECONDS` plus :data:`AUDIO_COST` per second of audio written).
3. **Split** what is left of :data:`SAFETY` x the ceiling: the prior gets the steps of
   :data:`PRIOR_PASSES` passes over the training codes (where its validation NLL stops improving,
   docs/experiments/budget.md), at most :data:`PRIOR_SHARE` of the training time; the autoencoder gets
   the rest as its epoch ceiling. Early stopping on the validation split
   (:func:`vae_audio.training.early_stopping`) ends it sooner when the validation loss stops
   improving: the budget is a ceiling, not a target.

A given count wins (its part of the budget is not used, its reason says so): with ``--epochs`` the prior
gets what the epochs leave; with ``--prior-steps`` the autoencoder does. The resolved counts are written
into the configuration with their reasons (``OUT/config.json``, the bundle), so ``--config
OUT/config.json`` repeats the run without measuring and ``--resume`` continues the saved counts.

Floors: at least :data:`MIN_EPOCHS` epoch and :data:`MIN_PRIOR_STEPS` prior steps, whatever the budget
(a tiny budget is exceeded rather than training nothing). A machine that is busy when measured measures
slower steps and so gets fewer of them; if it slows down after measuring, the autoencoder stops at its
deadline (the ceiling minus the planned prior and fixed costs, :attr:`Split.deadline`), moved earlier
by as much as its epochs run slower than planned (what comes after will likely be slower too). The
prior's steps are fixed before training (a replay must train the same), so a machine that slows down
further during the prior can still end a run past its ceiling (docs/experiments/budget.md).

``vae-audio train --dry-run`` cannot measure without featurizing and building the model, so it shows
the split from *estimated* step times (:func:`estimate`: per-pixel rates calibrated on this project's
2-core machine), marked as such; training replaces them by measured ones.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from .config import RunConfig
from .errors import ConfigError
from .resolve import BUDGET_KEYS, Resolution

__all__ = ["StepTimes", "Split", "split_budget", "estimate", "measure", "apply_split", "epoch_seconds",
           "SAFETY", "PRIOR_PASSES", "PRIOR_SHARE", "MIN_EPOCHS", "MIN_PRIOR_STEPS", "WARMUP_STEPS", "TIMED_STEPS"]

#: the share of ``training.minutes`` the split plans for (the rest absorbs noise in the step times)
SAFETY = 0.9
#: passes over the training codes the learned prior gets at most (steps = passes x clips / prior batch)
PRIOR_PASSES = 40
#: ... and at least this many steps when the time allows (a small folder's 40 passes are too few steps for the
#: network: body percussion's 158 clips give 99, where its loss was 0.29 against synth's 0.02 after 495)
PRIOR_STEPS_WANTED = 500
#: the largest share of the training time (what the fixed costs leave) the prior may take
PRIOR_SHARE = 0.35
#: the floors of a tiny budget
MIN_EPOCHS = 1
MIN_PRIOR_STEPS = 50
#: steps run before timing (the first traces the step function) and steps timed, per network
WARMUP_STEPS = 3
TIMED_STEPS = 6
#: a validation batch's time over a training step's (no gradients; measured on synth and FSDD)
EVAL_RATIO = 0.35
#: seconds per epoch besides its steps: the checkpoint, history.json, TensorBoard, Keras' epoch loop
EPOCH_OVERHEAD = 0.5
#: seconds of the last stages besides their audio: the bundle, TensorBoard's samples, the report's page
OUTPUT_SECONDS = 8.0
#: seconds of computing per second of audio written at the end (phase reconstruction dominates)
AUDIO_COST = 0.25
#: the settings chosen after training (vae_audio.tuning): seconds per set of validation clips besides its audio
#: (generating or reconstructing, fitting the judge), and per second of audio of a set: samples with the fast
#: phase step and their statistics; reconstructions with the default phase step and the listener's cues
#: (measured on synth, 104 validation clips of 1 s: 9.8 s for 8 sampling sets, 10.9 s for the postfilter's 2)
TUNING_SET_SECONDS = 1.0
SAMPLING_AUDIO_COST = 0.015
POSTFILTER_AUDIO_COST = 0.05
#: the noise texture: seconds per second of audio rendered with the default phase step (the choice renders 2 sets
#: of the validation clips, and when the texture is needed the fit up to 4 of a few training clips and the choice a
#: third; counted at most; measured:
#: 0.066 on body percussion, 22.05 kHz, STFT 512 / 128; about 0.09 on noise bursts, 22.05 kHz, 256 / 64)
TEXTURE_AUDIO_COST = 0.1
#: the dry run's estimates: seconds per (clip x spectrogram pixel) of a training step of each architecture
#: and per (code x latent column) of a prior step (measured on synth and FSDD, docs/experiments/budget.md)
_AE_RATE = {"grid": 2.5e-7, "conv": 1.5e-7, "simple": 0.5e-7, "blog": 3e-7}
_PRIOR_RATE = 6e-5


@dataclass(frozen=True)
class StepTimes:
    """What one step of each network costs (s), measured (:func:`measure`) or estimated (:func:`estimate`).

    ``ae_step``: an autoencoder training step of one batch; ``ae_eval``: a validation batch;
    ``ae_trace``: what the first training step costs beyond a step (tracing, paid once more by
    training); ``prior_step``: a prior training step (0: no learned prior); ``prior_setup``: the prior's
    fit beyond its steps (building, tracing, its data pipeline); ``latent``: the latent grid
    ``(rows, columns, channels)`` or ``None`` for a vector latent; ``seconds``: what measuring took.
    """

    ae_step: float
    ae_eval: float
    ae_trace: float
    prior_step: float
    prior_setup: float
    latent: tuple[int, int, int] | None
    measured: bool
    seconds: float = 0.0


@dataclass(frozen=True)
class Split:
    """The resolved budget: the counts, their reasons and the arithmetic behind them (seconds).

    ``deadline``: seconds after the run's start by which the autoencoder stops even if its epochs are
    not done (``None`` when its epochs were given).
    """

    minutes: float
    times: StepTimes
    elapsed: float
    fixed: dict[str, float]
    steps_per_epoch: int
    val_batches: int
    epoch_seconds: float
    epochs: int
    prior_steps: int
    reasons: dict[str, str]
    deadline: float | None
    prior_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def after_seconds(self) -> float:
        """Seconds planned after the autoencoder: the prior and the fixed costs but the tracing."""
        return self.prior_seconds + sum(v for k, v in self.fixed.items() if k != "tracing")

    @property
    def planned_seconds(self) -> float:
        """The whole run as planned: what was spent, the fixed costs, the epochs and the prior."""
        return self.elapsed + sum(self.fixed.values()) + self.epochs * self.epoch_seconds + self.prior_seconds

    def describe(self) -> str:
        """Lines for ``vae-audio train`` and ``--dry-run``: the step times (marked measured or estimated),
        the fixed costs, the counts and the planned total against the ceiling."""
        t = self.times
        how = "measured" if t.measured else "estimated (training measures them after featurizing)"
        lines = [f"time budget: {self.minutes:g} min ceiling (planning for {SAFETY:.0%} of it); step times {how}:",
                 f"  autoencoder {t.ae_step:.3f} s/step x {self.steps_per_epoch} steps + validation "
                 f"{t.ae_eval:.3f} s x {self.val_batches} batches + {EPOCH_OVERHEAD:g} s = {self.epoch_seconds:.1f} "
                 f"s/epoch -> {self.epochs} epochs ({self.epochs * self.epoch_seconds / 60:.1f} min, a ceiling: "
                 f"early stopping may end it sooner)"]
        if t.prior_step:
            lines.append(f"  prior {t.prior_step:.3f} s/step -> {self.prior_steps} steps "
                         f"({self.prior_seconds / 60:.1f} min)")
        fixed = ", ".join(f"{k} {v:.0f} s" for k, v in self.fixed.items())
        took = f" (measuring took {t.seconds:.0f} s)" if t.measured else ""
        lines.append(f"  spent {self.elapsed:.0f} s{took}; fixed costs {sum(self.fixed.values()):.0f} s ({fixed})")
        lines.append(f"  planned {self.planned_seconds / 60:.1f} min of {self.minutes:g}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what the bundle keeps under ``training.budget``)."""
        out = asdict(self)
        out["planned_seconds"] = self.planned_seconds
        return out


def epoch_seconds(times: StepTimes, steps_per_epoch: int, val_batches: int) -> float:
    """Seconds of one autoencoder epoch: its steps, its validation pass and :data:`EPOCH_OVERHEAD`."""
    return steps_per_epoch * times.ae_step + val_batches * times.ae_eval + EPOCH_OVERHEAD


def fixed_costs(config: RunConfig, times: StepTimes, *, n_train: int, n_test: int, n_val: int = 0
                ) -> dict[str, float]:
    """The costs (s) that do not scale with the counts, by stage: tracing the training step, the prior's
    encoding pass and setup, the postfilter's reconstructions, the settings chosen on the ``n_val`` validation
    clips after training (:mod:`vae_audio.tuning`), and the outputs (bundle, samples,
    report: :data:`OUTPUT_SECONDS` + :data:`AUDIO_COST` x seconds of audio written)."""
    batches = math.ceil(n_train / config.training.batch_size)
    costs = {"tracing": times.ae_trace}
    if times.prior_step:
        costs["prior setup"] = batches * times.ae_eval + times.prior_setup  # encoding pass, build and trace
    if config.postfilter.enabled is not False and not config.recipe.n_mels:
        costs["postfilter"] = math.ceil(min(1000, n_train) / config.training.batch_size) * times.ae_eval + 1.0
    if config.postfilter.texture is not False and not config.recipe.n_mels:
        from .dsp.texture import FIT_CLIPS, RENDER_CLIPS, RENDER_ROUNDS

        renders = (1 + RENDER_ROUNDS) * min(RENDER_CLIPS, n_train) * config.recipe.duration  # s of audio, at most
        costs["texture"] = (math.ceil(min(FIT_CLIPS, n_train) / config.training.batch_size) * times.ae_eval
                            + TUNING_SET_SECONDS + TEXTURE_AUDIO_COST * renders)
    # the settings measured on the validation split after training (vae_audio.tuning)
    from .tuning import ONSET_NOISES, SAMPLING_CLIPS, TEMPERATURES

    audio = min(SAMPLING_CLIPS, n_val) * config.recipe.duration  # seconds of audio per rendered set
    if times.prior_step and (config.prior.temperature is None or config.prior.onset_noise is None):
        sets = len(TEMPERATURES) + len(ONSET_NOISES)
        costs["sampling choice"] = (1 + sets) * TUNING_SET_SECONDS + sets * SAMPLING_AUDIO_COST * audio
    if config.postfilter.enabled is None and not config.recipe.n_mels:
        costs["postfilter choice"] = 2 * (TUNING_SET_SECONDS + POSTFILTER_AUDIO_COST * audio)
    if config.postfilter.texture is None and not config.recipe.n_mels:
        from .tuning import TEXTURE_CHOICE_CLIPS

        costs["texture choice"] = (TUNING_SET_SECONDS
                                   + 3 * TEXTURE_AUDIO_COST * min(TEXTURE_CHOICE_CLIPS, n_val) * config.recipe.duration)
    n = config.outputs.n_samples
    if n:
        # TensorBoard's 4 samples, n samples, min(n, test) test clips x (ceiling, reconstruction), and the
        # report's 4 clips x (original, ceiling, reconstruction, sample)
        clips = 4 + n + 2 * min(n, n_test) + 4 * min(4, n)
        costs["outputs"] = OUTPUT_SECONDS + AUDIO_COST * clips * config.recipe.duration
    else:
        costs["outputs"] = OUTPUT_SECONDS / 2
    return costs


def split_budget(config: RunConfig, times: StepTimes, *, elapsed: float, n_train: int, n_val: int, n_test: int,
                 pending: tuple[str, ...] | list[str] = BUDGET_KEYS) -> Split:
    """The counts that fit ``config.training.minutes`` at the step ``times``, for the ``pending`` keys.

    Parameters
    ----------
    config : the run's configuration; the ``pending`` keys of :data:`~vae_audio.resolve.BUDGET_KEYS` are
        resolved, the others (given) are kept and only their time is accounted for.
    times : the step times (:func:`measure` or :func:`estimate`).
    elapsed : seconds the run has spent so far (featurizing, measuring).
    n_train, n_val, n_test : clips per split.

    The rule (the module docstring): ``plan = SAFETY x 60 x minutes - elapsed - fixed costs``; the prior's
    steps are ``PRIOR_PASSES`` passes over the training codes, at most ``PRIOR_SHARE`` of ``plan`` (when
    the epochs are given: at most what they leave); the epochs are what the prior leaves, whole epochs;
    floors :data:`MIN_EPOCHS` and :data:`MIN_PRIOR_STEPS`.
    """
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if not isinstance(value, int) or value < (1 if name == "n_train" else 0):
            raise ConfigError(f"time budget: {name}={value!r}: expected a whole number of clips")
    if not math.isfinite(elapsed) or elapsed < 0:
        raise ConfigError(f"time budget: elapsed={elapsed!r}: expected seconds >= 0")
    unknown = set(pending) - set(BUDGET_KEYS)
    if unknown:
        raise ConfigError(f"time budget: cannot resolve {sorted(unknown)} (only {', '.join(BUDGET_KEYS)})")
    minutes = config.training.minutes
    batch = config.training.batch_size
    steps_per_epoch = math.ceil(n_train / batch)
    val_batches = math.ceil(n_val / batch)
    per_epoch = epoch_seconds(times, steps_per_epoch, val_batches)
    fixed = fixed_costs(config, times, n_train=n_train, n_test=n_test, n_val=n_val)
    plan = SAFETY * 60.0 * minutes - elapsed - sum(fixed.values())
    head = f"{minutes:g}-minute budget"
    reasons: dict[str, str] = {}
    notes: list[str] = []

    # the prior first: its need is known from the data size, the autoencoder's from early stopping
    given_epochs = "training.epochs" not in pending
    if not times.prior_step:
        prior_steps = config.prior.steps if "prior.steps" not in pending else _default_prior_steps()
        prior_seconds = 0.0
        if "prior.steps" in pending:
            reasons["prior.steps"] = "not used: no learned prior (a vector latent or prior.kind none)"
    elif "prior.steps" not in pending:
        prior_steps = config.prior.steps
        prior_seconds = prior_steps * times.prior_step
    else:
        by_passes = math.ceil(PRIOR_PASSES * n_train / config.prior.batch_size)
        cap = max(PRIOR_STEPS_WANTED, by_passes)
        room = plan - config.training.epochs * per_epoch if given_epochs else PRIOR_SHARE * plan
        fit = math.floor(max(room, 0.0) / times.prior_step)
        prior_steps = max(MIN_PRIOR_STEPS, min(cap, fit))
        prior_seconds = prior_steps * times.prior_step
        passes = f"{PRIOR_PASSES} passes over {n_train} codes at batch {config.prior.batch_size}"
        if by_passes < PRIOR_STEPS_WANTED:
            passes = f"at least {PRIOR_STEPS_WANTED} steps (more than {passes})"
        why = (passes if cap <= fit else
               f"what {'the given epochs leave' if given_epochs else f'{PRIOR_SHARE:.0%} of the time'} allows at "
               f"{times.prior_step:.3f} s/step")
        if prior_steps == MIN_PRIOR_STEPS and fit < MIN_PRIOR_STEPS:
            why = f"the floor: the budget allows {fit}"
        reasons["prior.steps"] = f"{head}: {why} -> {prior_steps} steps ({prior_seconds / 60:.1f} min)"

    if given_epochs:
        epochs = config.training.epochs
        deadline = None
    else:
        fit = math.floor(max(plan - prior_seconds, 0.0) / per_epoch)
        epochs = max(MIN_EPOCHS, fit)
        spent = f"{elapsed + sum(fixed.values()) + prior_seconds:.0f} s" + (" with the prior" if prior_seconds else "")
        reasons["training.epochs"] = (
            f"{head}: {times.ae_step:.3f} s/step x {steps_per_epoch} steps/epoch + validation = {per_epoch:.1f} "
            f"s/epoch; {SAFETY:.0%} of {60 * minutes:.0f} s less {spent} -> {epochs} epochs (a ceiling; "
            f"early stopping may end sooner)" + (" (the floor)" if fit < MIN_EPOCHS else ""))
        # the autoencoder stops when going on would put the run past the ceiling at the planned rates
        deadline = max(60.0 * minutes - sum(fixed.values()) - prior_seconds, elapsed + per_epoch)
    if given_epochs and "prior.steps" in pending and times.prior_step:
        reasons["prior.steps"] += " (training.epochs given: the budget is not used for the autoencoder)"
    if "prior.steps" not in pending and not given_epochs and times.prior_step:
        reasons["training.epochs"] += " (prior.steps given: its time is taken first)"
    total = elapsed + sum(fixed.values()) + epochs * per_epoch + prior_seconds
    if total > 60.0 * minutes:
        notes.append(f"the plan ({total / 60:.1f} min) exceeds the {minutes:g}-minute ceiling: "
                     + ("the given counts take longer" if not pending else "the floors take longer than the budget"))
    return Split(minutes, times, float(elapsed), fixed, steps_per_epoch, val_batches, per_epoch, int(epochs),
                 int(prior_steps), reasons, deadline, prior_seconds, notes)


def _default_prior_steps() -> int:
    from .choices import PRIOR_DEFAULTS

    return int(PRIOR_DEFAULTS["steps"])


def apply_split(resolution: Resolution, split: Split) -> Resolution:
    """The resolution with its pending keys set to the split's counts, each with the split's reason."""
    changes, reasons = {}, dict(resolution.reasons)
    for key in resolution.pending:
        changes[key] = split.epochs if key == "training.epochs" else split.prior_steps
        reasons[key] = split.reasons[key]
    return replace(resolution, config=resolution.config.updated(changes), reasons=reasons)


def _splits(resolution: Resolution, features=None) -> tuple[int, int, int]:
    """Clips in the training, validation and test splits (of ``features``, else of the listed data)."""
    counts = (features if features is not None else resolution.dataset).split_counts()
    return counts.get("train", 0), counts.get("val", 0), counts.get("test", 0)


def _learned_prior(config: RunConfig, grid: bool) -> bool:
    return grid and config.prior.kind != "none"


def estimate(resolution: Resolution, *, elapsed: float = 0.0) -> Split:
    """The split of a resolution from estimated step times, without TensorFlow (``--dry-run``).

    The autoencoder's step is ``rate x batch x spectrogram pixels`` with a rate per architecture, the
    prior's ``rate x batch x latent columns x width / 128``, the grid latent's shape from the strides
    (docs/experiments/budget.md for the rates; expect a factor of 2 either way, and more on a busy
    machine). Training measures instead.
    """
    from .resolve import spectrogram_config

    config = resolution.config
    n_freq, frames = spectrogram_config(config).shape
    arch = config.model.architecture
    ae_step = _AE_RATE.get(arch, max(_AE_RATE.values())) * config.training.batch_size * n_freq * frames
    latent = None
    prior_step = 0.0
    if arch == "grid":
        strides = config.model.options.get("strides") or ((2, 2), (2, 2))
        rows, cols = n_freq, frames
        for s in strides:
            rows, cols = math.ceil(rows / s[0]), math.ceil(cols / s[1])
        latent = (rows, cols, config.model.latent_dim)
        if _learned_prior(config, True):
            prior_step = _PRIOR_RATE * config.prior.batch_size * cols * config.prior.width / 128 \
                * len(config.prior.dilations) / 8 * max(1.0, rows * config.model.latent_dim / 264)
    times = StepTimes(ae_step=ae_step, ae_eval=EVAL_RATIO * ae_step, ae_trace=15 * ae_step + 3.0, prior_step=prior_step,
                      prior_setup=5.0 if prior_step else 0.0, latent=latent, measured=False)
    n_train, n_val, n_test = _splits(resolution)
    return split_budget(config, times, elapsed=elapsed, n_train=max(1, n_train), n_val=n_val, n_test=n_test,
                        pending=resolution.pending)


# ----------------------------------------------------------------------------- measuring (TensorFlow)
def _batch_timer():
    import keras

    class BatchTimer(keras.callbacks.Callback):
        """Seconds from the end of one training batch to the end of the next (the loss read back, so
        the step has finished): a step with everything around it (the input pipeline, Keras' loop),
        as a long fit sees it. ``train[0]``: the first batch from its start (tracing included)."""

        def __init__(self):
            super().__init__()
            self.train: list[float] = []
            self._t = 0.0

        def on_train_batch_begin(self, batch, logs=None):
            if not self.train and not self._t:
                self._t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float((logs or {}).get("loss", 0.0))
            now = time.perf_counter()
            self.train.append(now - self._t)
            self._t = now

    return BatchTimer()


def measure(config: RunConfig, features, strategy, *, warmup: int = WARMUP_STEPS, timed: int = TIMED_STEPS
            ) -> StepTimes:
    """Time the run's networks on this machine now (a few seconds; see the module docstring).

    ``config`` is the run's configuration (its pending counts may be unset), ``features`` its featurized
    data, ``strategy`` the ``tf.distribute`` strategy training will use. The models built here are
    thrown away and the seeds reset (:func:`vae_audio.training.configure_determinism`), so training
    starts as it would have without measuring.
    """
    import keras

    from .modeling.models import is_grid, latent_shape, time_stride
    from .training import _build_vae, _tf_datasets, configure_determinism

    if config.training.strategy == "multiworker":
        raise ConfigError("--strategy multiworker: give --epochs and --prior-steps (the time budget measures one "
                          "process, and every worker must train the same counts)")
    t0 = time.perf_counter()
    probe = config.updated({"training.epochs": config.training.epochs or 1, "prior.steps": config.prior.steps or 1})
    train_ds, val_ds = _tf_datasets(probe, features)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.training.precision)
    try:
        vae, _, _ = _build_vae(probe, features, strategy, train_ds)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    timer = _batch_timer()
    vae.fit(train_ds.repeat().take(warmup + timed), epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    ae_step = statistics.median(timer.train[warmup:])
    ae_trace = max(0.0, timer.train[0] - ae_step)
    ae_eval = EVAL_RATIO * ae_step  # timing it would trace the test step too: seconds more for a small share
    shape = latent_shape(vae.decoder)  # (F', None, C) for a grid model: its columns from the frames
    frames = features.config.shape[1]
    latent = (shape[0], -(-frames // time_stride(vae.decoder)), shape[2]) if is_grid(vae.decoder) else None
    prior_step = prior_setup = 0.0
    if latent is not None and _learned_prior(config, True):
        prior_step, prior_setup = _measure_prior(config, features, latent, warmup, timed)
    del vae
    keras.backend.clear_session()  # the throwaway models' layer names and graphs: training starts afresh
    configure_determinism(config.seed, deterministic_ops=not config.training.xla)
    return StepTimes(ae_step=float(ae_step), ae_eval=float(ae_eval), ae_trace=float(ae_trace),
                     prior_step=float(prior_step), prior_setup=float(prior_setup),
                     latent=None if latent is None else (latent[0], latent[1], latent[2]), measured=True,
                     seconds=time.perf_counter() - t0)


def _measure_prior(config: RunConfig, features, latent: tuple[int, ...], warmup: int, timed: int
                   ) -> tuple[float, float]:
    """(seconds per step, seconds of the fit beyond its steps) of the run's prior on random codes."""
    import numpy as np

    from .modeling.grid_prior import GridPrior

    n = int(min(np.sum(features.split == "train"), 256))
    rng = np.random.default_rng(config.seed)
    z_mean = rng.standard_normal((n, *latent)).astype(np.float32)
    z_log_var = np.full_like(z_mean, -2.0)
    labels, classes = None, None
    if config.model.conditional and features.label_names:
        classes = len(features.label_names)
        labels = rng.integers(0, classes, n).astype(np.int32)
    timer = _batch_timer()
    settings = replace(config.prior, steps=warmup + timed)
    t0 = time.perf_counter()
    GridPrior.fit(z_mean, z_log_var, labels, settings, num_classes=classes, seed=config.seed, callbacks=[timer])
    total = time.perf_counter() - t0
    step = statistics.median(timer.train[warmup:])
    return step, max(0.0, total - step * (warmup + timed))


def measured_split(resolution: Resolution, features, strategy, *, elapsed_since: float,
                   measure_fn=None) -> Split:
    """Measure (``measure_fn``, default :func:`measure`) and split: what :func:`vae_audio.pipeline.train` calls
    when the resolution has pending counts. ``elapsed_since``: the run's start (``time.perf_counter()``).
    Only ``prior.steps`` pending for a model without a learned prior: nothing is measured (it is unused)."""
    config = resolution.config
    if "training.epochs" not in resolution.pending and not _learned_prior(config, config.model.architecture == "grid"):
        times = StepTimes(0.0, 0.0, 0.0, 0.0, 0.0, None, measured=False)  # nothing to split: prior.steps is unused
    else:
        times = (measure_fn or measure)(config, features, strategy)
    n_train, n_val, n_test = _splits(resolution, features)
    return split_budget(resolution.config, times, elapsed=time.perf_counter() - elapsed_since, n_train=n_train,
                        n_val=n_val, n_test=n_test, pending=resolution.pending)


def split_summary(split: Split) -> Mapping[str, Any]:
    """The few numbers of a split worth keeping with the model (``config.json["training"]["budget"]``)."""
    t = split.times
    return {"minutes": split.minutes, "measured": t.measured, "ae_seconds_per_step": round(t.ae_step, 4),
            "ae_seconds_per_epoch": round(split.epoch_seconds, 2), "prior_seconds_per_step": round(t.prior_step, 4),
            "fixed_seconds": {k: round(v, 1) for k, v in split.fixed.items()},
            "elapsed_seconds": round(split.elapsed, 1),
            "measure_seconds": round(t.seconds, 1), "epochs": split.epochs, "prior_steps": split.prior_steps,
            "planned_seconds": round(split.planned_seconds, 1), "deadline_seconds":
                None if split.deadline is None else round(split.deadline, 1)}
