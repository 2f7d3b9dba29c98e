"""``vae-audio train`` as stages, composed here: resolve the configuration, featurize, resolve the time budget,
fit the autoencoder, fit the prior, fit the postfilter, save the bundle, write the samples, write the report.

Each stage is a function of its own (:mod:`vae_audio.training` holds the fitting ones); :func:`train` runs
them in order and is the only place that knows the order. The resolved configuration is written to the
run folder before training starts (``OUT/config.json``), with the step counts the time budget resolved
to (:mod:`vae_audio.budget`), and into the bundle at the end, so ``vae-audio train --config OUT/config.json``
repeats the run without measuring again and ``--resume`` continues it.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .config import SHORTHANDS, RunConfig, flatten
from .resolve import Resolution, given_keys, resolve_config

__all__ = ["TrainResult", "CONFIG_FILE", "plan", "train", "budget_split"]

#: the resolved configuration in a run folder
CONFIG_FILE = "config.json"


@dataclass
class TrainResult:
    """What :func:`train` produced: the run folder, the bundle, the per-epoch history, the epochs run,
    the wall time (s), the written samples, the resolved configuration, the epoch whose weights the
    model holds, why the autoencoder stopped (``"ceiling"``, ``"early stopping"``, ``"time budget"``) and
    the time budget's split (``None`` when the step counts were given)."""

    out_dir: Path
    model_dir: Path
    history: dict[str, list[float]]
    epochs_run: int
    seconds: float
    samples: list[Path] = field(default_factory=list)
    config: RunConfig | None = None
    best_epoch: int | None = None
    stopped: str = "ceiling"
    split: Any = None


def _explicit(config: RunConfig | Mapping[str, Any] | None, shorthands: Mapping[str, Any]) -> dict[str, Any]:
    """The keys the caller set: all of a configuration's set keys, or just those of a mapping."""
    if isinstance(config, RunConfig):
        given = given_keys(config)
    else:
        given = {SHORTHANDS.get(k, k): v for k, v in flatten(config or {}).items()}
    return {**given, **{SHORTHANDS.get(k, k): v for k, v in shorthands.items()}}


def plan(config: RunConfig | Mapping[str, Any] | None = None, /, *, resume: bool = False, features=None,
         **shorthands: Any) -> Resolution:
    """Stage 1: the run's resolved configuration and data, without training (``vae-audio train --dry-run``).

    A resumed run starts from the configuration saved in its newest checkpoint, with the keys given here
    put in (:func:`vae_audio.training.resumed_config`), so the step counts it resolved to continue.
    ``features`` (already featurized data) stand in for listing the data. Step counts not given are left
    pending (``Resolution.pending``): :func:`train` resolves them from measured step times, and
    :func:`budget_split` shows the split from estimated ones.
    """
    from .training import latest_checkpoint, read_checkpoint_config, resumed_config

    resolution = resolve_config(config, dataset=features, **shorthands)
    out = Path(resolution.config.outputs.out)
    if resume and latest_checkpoint(out) is not None:
        saved = read_checkpoint_config(out)
        merged = resumed_config(saved, _explicit(config, shorthands), out)
        resolution = resolve_config(merged, dataset=features)
    return resolution


def train(config: RunConfig | Mapping[str, Any] | None = None, /, *, resume: bool = False, overwrite: bool = False,
          features=None, verbose: int = 1, started: float | None = None, **shorthands: Any) -> TrainResult:
    """Train a VAE as ``config`` says; save checkpoints, the bundle, history, samples and the report.

    Parameters
    ----------
    config : a :class:`~vae_audio.config.RunConfig` (partial: the rest is derived from the data and the
        package's defaults; resolved: the run is repeated as it was), or a mapping of keys (dotted,
        nested or shorthand names); ``shorthands`` (``data="fsdd"``, ``epochs=3``, ... see
        :data:`vae_audio.config.SHORTHANDS`) go on top. Default: the grid model on the built-in
        synthetic instruments.
    resume : continue the run in ``outputs.out`` from its last completed epoch.
    overwrite : start over even if ``outputs.out`` already holds a run.
    features : pre-built :class:`vae_audio.data.featurize.Features` (skips listing and featurizing).
    verbose : 0 silent, 1 progress bars, 2 one line per epoch.
    started : when the run started, a ``time.perf_counter()`` value (default: now); the time budget counts
        from it (the command line passes its own start, so importing TensorFlow counts too).

    Raises
    ------
    TrainingError if the loss becomes NaN/inf (the last good checkpoint is kept);
    ConfigError / DatasetError for bad settings or data.
    """
    from .budget import apply_split, measured_split
    from .training import configure_determinism, fit_autoencoder, is_chief, make_strategy, prepare_out_dir

    t_start = time.perf_counter() if started is None else started
    resolution = plan(config, resume=resume, features=features, **shorthands)
    cfg = resolution.config
    out = prepare_out_dir(Path(cfg.outputs.out), resume, overwrite)
    # a multi-worker strategy configures TensorFlow's collective ops, which must happen before
    # TensorFlow runs its first op (featurizing, seeding, tf.data): create the strategy first
    strategy = make_strategy(cfg.training.strategy)
    configure_determinism(cfg.seed, deterministic_ops=not cfg.training.xla)
    if verbose:  # what the data holds, then what was chosen from it (--dry-run shows every key)
        summary = resolution.summary
        print(f"{resolution.dataset.describe() if summary is None else summary.describe(short=True)}\n"
              f"settings derived from the data and the defaults, by reason:\n"
              f"{resolution.describe(derived_only=True, grouped=True)}")
    features = featurize(resolution, features, check=not resume, verbose=verbose)
    stages = {"before training": time.perf_counter() - t_start}
    split = None
    if resolution.pending:  # stage 1c: the time budget, from step times measured now
        split = measured_split(resolution, features, strategy, elapsed_since=t_start)
        resolution = apply_split(resolution, split)
        cfg = resolution.config
        if verbose:
            print(split.describe())
    if is_chief(strategy):
        write_config(cfg)
    deadline = planned = None
    if split is not None and split.deadline is not None:
        deadline, planned = t_start + split.deadline, (split.epoch_seconds, split.after_seconds)
    t0 = time.perf_counter()
    autoencoder = fit_autoencoder(cfg, features, out, strategy=strategy, resume=resume, overwrite=overwrite,
                                  verbose=verbose, deadline=deadline, planned=planned)
    stages["autoencoder"] = time.perf_counter() - t0
    model_dir = out / "model"
    if not autoencoder.chief:  # the prior, the bundle and the samples are the chief's
        return TrainResult(out, model_dir, autoencoder.history, autoencoder.epochs_run,
                           time.perf_counter() - t_start, [], cfg, autoencoder.best_epoch, autoencoder.stopped, split)
    t0 = time.perf_counter()
    trained, prior_seconds, cfg = fit_prior_and_postfilter(cfg, autoencoder, features, verbose=verbose)
    write_config(cfg)  # again, with the keys chosen on the validation split after training
    stages["prior and postfilter"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    save_bundle(cfg, autoencoder, trained, model_dir, prior_seconds, split=split)
    samples = write_outputs(cfg, trained, features, model_dir, autoencoder.history, verbose=verbose)
    stages["bundle and outputs"] = time.perf_counter() - t0
    if verbose:  # where the time went (what the time budget's fixed costs estimate)
        print("stage seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))
    return TrainResult(out, model_dir, autoencoder.history, autoencoder.epochs_run, time.perf_counter() - t_start,
                       samples, cfg, autoencoder.best_epoch, autoencoder.stopped, split)


def budget_split(resolution: Resolution):
    """The time budget's split of a planned run from *estimated* step times (:func:`vae_audio.budget.estimate`,
    no TensorFlow: what ``--dry-run`` prints), or ``None`` when both step counts are given."""
    from .budget import estimate

    return estimate(resolution) if resolution.pending else None


def featurize(resolution: Resolution, features=None, *, check: bool = True, verbose: int = 1):
    """Stage 1b: the run's data as normalized spectrograms (``features`` when given: checked against the
    recipe unless ``check`` is off, as for a resumed run, whose checkpoint check names what differs)."""
    from .data.featurize import build_features
    from .resolve import check_featurized

    cfg = resolution.config
    if features is None:
        features = build_features(resolution.dataset, memory_limit=cfg.training.memory_limit,
                                  max_duration=cfg.recipe.max_duration, verbose=bool(verbose))
    elif check:
        check_featurized(features, cfg)
    return features


def write_config(cfg: RunConfig) -> Path:
    """The resolved configuration written to the run folder (by the process that writes the run's files):
    before any training, so even a run that crashes can be repeated; after the data loaded and the time
    budget resolved the step counts, so bad data leaves no folder behind and a replay does not measure."""
    from .fileio import atomic_write_json

    out = Path(cfg.outputs.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / CONFIG_FILE, cfg.to_dict())
    return out / CONFIG_FILE



def fit_prior_and_postfilter(cfg: RunConfig, autoencoder, features, *, verbose: int = 1):
    """Stages 3 and 4: the latent prior, its sampling settings, the valley postfilter and the noise texture;
    returns the :class:`~vae_audio.modeling.inference.TrainedModel` holding them, the prior's fit time (s) and the
    configuration with the keys decided here (:data:`vae_audio.resolve.DEFERRED`: measured on the
    validation split by :mod:`vae_audio.tuning` unless given) set."""
    from .modeling.inference import TrainedModel
    from .training import fit_training_postfilter, fit_training_prior, fit_training_texture

    names = list(features.label_names) if cfg.model.conditional else None
    t0 = time.perf_counter()
    prior = fit_training_prior(autoencoder.vae, features, cfg.prior, conditional=cfg.model.conditional,
                               seed=cfg.seed, verbose=verbose)
    prior_seconds = time.perf_counter() - t0
    trained = TrainedModel.from_vae(autoencoder.vae, recipe=features.recipe, label_names=names, prior=prior)
    decided: dict[str, Any] = {}
    if "prior.temperature" in cfg.unset() or "prior.onset_noise" in cfg.unset():
        decided.update(_choose_sampling(cfg, trained, features, verbose))
    if cfg.postfilter.enabled is not False:
        postfilter = fit_training_postfilter(trained, features, cfg.postfilter)
        keep = True
        if cfg.postfilter.enabled is None:
            from .tuning import choose_postfilter

            keep, reason, _ = choose_postfilter(trained, features, postfilter, seed=cfg.seed)
            decided["postfilter.enabled"] = keep
            if verbose:
                print(f"  postfilter.enabled = {str(keep).lower()}  ({reason})")
        trained.postfilter = postfilter if keep else None
    if cfg.postfilter.texture is not False:
        fit = functools.partial(fit_training_texture, trained, features, cfg.postfilter, seed=cfg.seed)
        if cfg.postfilter.texture is None:  # measured first: fitted only when the reconstructions need it
            from .tuning import choose_texture

            texture, reason, _ = choose_texture(trained, features, fit, seed=cfg.seed)
            decided["postfilter.texture"] = texture is not None
            if verbose:
                print(f"  postfilter.texture = {str(texture is not None).lower()}  ({reason})")
        else:
            texture = fit()
        trained.texture = texture
    return trained, prior_seconds, cfg.updated(decided)


def _choose_sampling(cfg: RunConfig, trained, features, verbose: int) -> dict[str, Any]:
    """The prior's temperature and onset noise measured on the validation split (only the unset ones),
    put into the prior itself."""
    from .tuning import choose_sampling

    if trained.prior is None or not trained.fully_convolutional:  # N(0, I), or a mixture: sampled as fitted
        return {"prior.temperature": 1.0, "prior.onset_noise": cfg.prior.onset_noise or 0.0}
    chosen, reason, _ = choose_sampling(trained, features, seed=cfg.seed)
    out = {f"prior.{k}": v for k, v in chosen.items() if f"prior.{k}" in cfg.unset()}
    trained.prior.set_sampling(**{k.split(".")[1]: v for k, v in out.items()})
    if verbose:
        print("".join(f"  {k} = {v:g}  ({reason})\n" for k, v in out.items()), end="")
    return out


def save_bundle(cfg: RunConfig, autoencoder, trained, model_dir: Path, prior_seconds: float, *, split=None) -> Path:
    """Stage 5: the bundle, with the resolved configuration and the training's outcome in ``config.json``:
    ``training.epochs_run`` (``training.epochs`` of the configuration is the ceiling), ``best_epoch`` (whose
    weights it holds), ``stopped`` (why), the last epoch's losses, the prior's fit time (s) and the time
    budget's split (``budget``, when it resolved a count)."""
    from .budget import split_summary
    from .modeling.bundle import save_model

    history = autoencoder.history
    settings = {"epochs_run": autoencoder.epochs_run, "best_epoch": autoencoder.best_epoch,
                "stopped": autoencoder.stopped, "final": {k: v[-1] for k, v in history.items() if v},
                "prior_seconds": round(prior_seconds, 1)}
    if split is not None:
        settings["budget"] = dict(split_summary(split))
    return save_model(autoencoder.vae, model_dir, recipe=trained.recipe, label_names=trained.label_names or None,
                      config=cfg.to_dict(), settings=settings, prior=trained.prior, postfilter=trained.postfilter,
                      texture=trained.texture)


def write_outputs(cfg: RunConfig, trained, features, model_dir: Path, history: dict[str, list[float]], *,
                  verbose: int = 1) -> list[Path]:
    """Stages 6 and 7: prior samples in TensorBoard, ``outputs.n_samples`` samples and test clips with
    their ceilings and reconstructions in ``outputs.samples_dir``, and the run's ``report.html``."""
    from .evaluation.report import write_report
    from .modeling.generate import write_training_samples
    from .training import write_audio_summary

    write_audio_summary(model_dir.parent, trained)
    n = cfg.outputs.n_samples
    if not n:
        return []
    samples = write_training_samples(trained, features, Path(cfg.outputs.samples_dir), n=n, seed=cfg.seed)
    report = write_report(model_dir, model=trained, features=features, history=history, n_clips=min(4, n),
                          seed=cfg.seed)
    if verbose:
        print(f"wrote {report}")
    return samples
