"""The ``vae-audio`` command: argument parsing only; every command calls into the package.

Errors raised on purpose by the package (:class:`vae_audio.errors.VaeAudioError`) are printed
as one line, ``vae-audio: error: <message>``, and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from typing import Callable, Sequence

from . import progress
from .choices import (
    ARCHITECTURES,
    DEFAULT_ARCHITECTURE,
    DEFAULT_GRID_PRIOR,
    GRID_PRIOR_CHOICES,
    LIKELIHOODS,
    PHASES,
    PRECISIONS,
    PRIOR_CHOICES,
    STRATEGIES,
)
from .errors import VaeAudioError

__all__ = ["main", "build_parser"]


def _cmd_features(args: argparse.Namespace) -> int:
    from .dsp.audio import load_audio, pad_or_truncate
    from .dsp.features import Normalizer, SpectrogramConfig

    cfg = SpectrogramConfig(sr=args.sr, n_fft=args.n_fft, hop_length=args.hop_length,
                            n_samples=int(round(args.duration * args.sr)))
    print(cfg.describe())
    for path in args.files:
        y, sr = load_audio(path, sr=cfg.sr)
        s_db = cfg.spectrogram_db(pad_or_truncate(y, cfg.n_samples))
        x, stats = Normalizer(mode="per_clip").normalize(s_db, return_stats=True)
        print(f"{path}: {y.size / sr:.3f} s -> spectrogram {s_db.shape}, "
              f"{float(stats['low_db']):.1f}..{float(stats['high_db']):.1f} dB -> [0, 1]")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    import time

    from .data.inspection import inspect_dataset
    from .errors import ParameterError
    from .fileio import atomic_write_json

    t0 = time.perf_counter()
    summary = inspect_dataset(args.data)
    print(summary.describe())
    print(f"inspected in {time.perf_counter() - t0:.1f} s")
    if args.json:
        try:
            atomic_write_json(args.json, summary.to_dict())
        except OSError as exc:
            raise ParameterError(f"--json {args.json}: cannot write the summary ({exc.strerror or exc})") from None
        print(f"wrote {args.json}")
    return 0


#: ``vae-audio train`` flags that are shorthands for configuration keys (:data:`vae_audio.config.SHORTHANDS`)
_TRAIN_FLAGS = ("data", "model", "model_options", "conditional", "minutes", "epochs", "patience", "batch_size",
                "learning_rate", "latent_dim", "likelihood", "sr", "duration", "n_fft", "hop_length", "n_mels",
                "prior_model", "prior_steps",
                "postfilter", "texture", "precision", "memory_limit", "out", "samples_dir", "n_samples", "max_clips",
                "strategy", "seed")


def _train_overrides(args: argparse.Namespace) -> dict:
    """The configuration keys the command line gave: ``--config FILE``, then the flags, then ``--set``."""
    from .config import SHORTHANDS, flatten, parse_assignment, read_config_file

    given: dict = {}
    if args.config:
        given.update(flatten(read_config_file(args.config)))
    given.update({SHORTHANDS[name]: getattr(args, name) for name in _TRAIN_FLAGS if getattr(args, name) is not None})
    if args.xla:
        given["training.xla"] = True
    given.update(parse_assignment(text) for text in args.set)
    return given


def _cmd_train(args: argparse.Namespace) -> int:
    from .pipeline import budget_split, plan, train

    overrides = _train_overrides(args)
    if args.dry_run:
        resolution = plan(overrides, resume=args.resume)
        print(f"{resolution.summary.describe()}\nsettings, each with where it came from:\n{resolution.describe()}")
        split = budget_split(resolution)
        print(split.describe() if split is not None else
              "time budget: not used (training.epochs and prior.steps are given)")
        return 0
    # a progress bar on a terminal, one line per epoch in a log file (Keras' verbose=2)
    verbose = 0 if args.quiet else (1 if sys.stdout.isatty() else 2)
    result = train(overrides, resume=args.resume, overwrite=args.overwrite, verbose=verbose,
                   started=getattr(args, "started", None))
    best = f"; the weights of epoch {result.best_epoch}" if result.best_epoch not in (None, result.epochs_run) else ""
    stopped = "" if result.stopped == "ceiling" else f"{result.stopped}, "
    print(f"trained {result.epochs_run} epochs ({stopped}ceiling {result.config.training.epochs}{best}) in "
          f"{result.seconds:.0f} s; model saved to {result.model_dir}")
    if result.samples:
        print(f"wrote {len(result.samples)} samples to {result.samples[0].parent}")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from .modeling.bundle import load_model
    from .modeling.generate import generate_to_files

    model = load_model(args.model)
    out = args.out or f"outputs/samples/{_model_name(args.model)}"
    paths = generate_to_files(model, out, n=args.n, label=args.label, all_labels=args.all_labels,
                              seed=args.seed, prior=args.prior, temperature=args.temperature,
                              guidance=args.guidance, seconds=args.seconds, phase=args.phase,
                              overwrite=args.overwrite)
    print(f"wrote {len(paths)} files to {out}")
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from .modeling.bundle import load_model
    from .modeling.generate import reconstruct_files

    model = load_model(args.model)
    out = args.out or f"outputs/samples/{_model_name(args.model)}-reconstructions"
    paths = reconstruct_files(model, args.files, out, label=args.label, overwrite=args.overwrite)
    print(f"wrote {len(paths)} files to {out} (original, ceiling and reconstruction per input)")
    return 0


def _phase_kwargs(phase: str, n_iter: int | None) -> dict:
    """``--phase`` (a named setting) with ``--n-iter`` on top."""
    from .dsp.phase import PHASE_SETTINGS

    return {**PHASE_SETTINGS[phase], **({} if n_iter is None else {"n_iter": n_iter})}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.evaluate import evaluate, format_table

    results = evaluate(args.model, data=args.data, json_path=args.json, max_clips=args.max_clips,
                       n_generate=args.n_generate, seed=args.seed, prior=args.prior,
                       phase_kwargs=_phase_kwargs(args.phase, args.n_iter),
                       report=not args.no_report, verbose=not args.quiet)
    print(format_table(results))
    if args.json:
        print(f"wrote {args.json}")
    if not args.no_report:
        from .evaluation.report import REPORT_FILE, locate_run

        print(f"wrote {locate_run(args.model)[1] / REPORT_FILE}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .evaluation.report import write_report

    path = write_report(args.model, data=args.data, n_clips=args.n_clips, seed=args.seed, verbose=not args.quiet)
    print(f"wrote {path}")
    return 0


def _cmd_quiz(args: argparse.Namespace) -> int:
    from .evaluation.quiz import write_quiz

    page, key = write_quiz(args.model, args.out, data=args.data, pairs=args.pairs, seed=args.seed,
                           verbose=not args.quiet)
    print(f"wrote {page} ({args.pairs} questions) and its key {key}")
    return 0


def _cmd_quiz_score(args: argparse.Namespace) -> int:
    from .evaluation.quiz import format_scores, score_answers

    print(format_scores(score_answers(args.answers, key=args.key)))
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .data.download import download_fsdd

    path = download_fsdd(to=args.to, overwrite=args.overwrite)
    print(f"FSDD is ready in {path}")
    return 0


def _model_name(model_dir: str) -> str:
    from pathlib import Path

    p = Path(model_dir).resolve()
    return p.parent.name if p.name == "model" else p.name


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _json_object(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid JSON ({err.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a JSON object such as '{{\"filters\": [32, 64]}}'")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``vae-audio: error: <what> (see vae-audio <cmd> --help)``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog.split()[0]}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``vae-audio`` (one sub-command per job)."""
    parser = _Parser(prog="vae-audio", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("train", help="train a VAE, save the model and write samples (the main job)",
                       description="Train a VAE. Settings not given are derived from the data and the package's "
                                   "defaults; every flag below is a shorthand for a configuration key (--dry-run "
                                   "lists them all with their values and where each came from).")
    p.add_argument("--config", metavar="FILE",
                   help="a configuration (JSON), e.g. a run's config.json to repeat it; the flags and --set go over it")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set one key, the value as JSON (or a plain string), e.g. --set prior.steps=900 "
                        "--set model.options='{\"filters\": [32, 64]}'; repeatable")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved configuration, each value with its reason, and stop")
    p.add_argument("--data", help="synth (built-in, default), fsdd, or a folder of audio  [data.source]")
    p.add_argument("--model", choices=ARCHITECTURES,
                   help=f"architecture (default {DEFAULT_ARCHITECTURE}: a latent laid out over frequency and time)  "
                        "[model.architecture]")
    p.add_argument("--model-options", type=_json_object, metavar="JSON",
                   help='architecture options over the defaults, e.g. \'{"filters": [32, 64]}\'  [model.options]')
    p.add_argument("--conditional", action=argparse.BooleanOptionalAction, default=None,
                   help="condition on the dataset's labels (default: when it has labels)  [model.conditional]")
    p.add_argument("--minutes", type=_positive_float,
                   help="the whole run's ceiling in minutes of wall time (default 15): the epochs and prior steps "
                        "not given are what fits, from step times measured after featurizing  [training.minutes]")
    p.add_argument("--epochs", type=_positive_int,
                   help="the autoencoder's epoch ceiling (default: what the time budget allows)  [training.epochs]")
    p.add_argument("--patience", type=int,
                   help="stop the autoencoder when the validation loss has not improved by 1 %% for this many epochs "
                        "(default 8; 0: never)  [training.patience]")
    p.add_argument("--batch-size", type=_positive_int,
                   help="batch size (default: per architecture; grid 16, the others 32)  [training.batch_size]")
    p.add_argument("--learning-rate", type=float, help="Adam learning rate (default 1e-3)  [training.learning_rate]")
    p.add_argument("--latent-dim", type=_positive_int,
                   help="latent size (default: per architecture)  [model.latent_dim]")
    p.add_argument("--likelihood", choices=LIKELIHOODS,
                   help="decoder likelihood (default: spectral for grid, else calibrated)  [model.likelihood]")
    p.add_argument("--sr", type=_positive_int, help="sample rate in Hz (default: from the data)  [recipe.sr]")
    p.add_argument("--duration", type=float, help="training window in seconds (default: from the data)  "
                                                  "[recipe.duration]")
    p.add_argument("--n-fft", type=_positive_int, help="FFT size in samples (default: from the data)  [recipe.n_fft]")
    p.add_argument("--hop-length", type=_positive_int, help="STFT hop in samples (default: from the data)  "
                                                           "[recipe.hop_length]")
    p.add_argument("--n-mels", type=_positive_int, help="mel bands instead of linear bins (default: none)  "
                                                       "[recipe.n_mels]")
    p.add_argument("--prior-model", choices=GRID_PRIOR_CHOICES,
                   help=f"learned prior trained on a grid model's codes after it (default {DEFAULT_GRID_PRIOR})  "
                        "[prior.kind]")
    p.add_argument("--prior-steps", type=_positive_int,
                   help="optimizer steps of that prior (default: what the time budget allows)  [prior.steps]")
    p.add_argument("--postfilter", action=argparse.BooleanOptionalAction, default=None,
                   help="fit a valley postfilter to the training reconstructions and save it with the model "
                        "(default: from the data)  [postfilter.enabled]")
    p.add_argument("--texture", action=argparse.BooleanOptionalAction, default=None,
                   help="fit a noise texture to the training reconstructions and draw it in every decoded "
                        "spectrogram (default: when they come out smoother than the clips)  [postfilter.texture]")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="dtype policy of training (default float32; mixed_* for accelerators; bundles stay float32)  "
                        "[training.precision]")
    p.add_argument("--xla", action="store_true",
                   help="compile the training step with XLA (not bit-reproducible; slower on 2 CPU cores)  "
                        "[training.xla]")
    p.add_argument("--memory-limit", metavar="SIZE",
                   help="featurize a dataset larger than this (e.g. 2GB) into shards on disk and stream them "
                        "(default: $VAE_AUDIO_MEMORY_LIMIT, else an eighth of the RAM, at most 512MB)  "
                        "[training.memory_limit]")
    p.add_argument("--out", help="run folder (default outputs/runs/<data>-<model>)  [outputs.out]")
    p.add_argument("--samples-dir", help="where to write samples (default outputs/samples/<run name>)  "
                                         "[outputs.samples_dir]")
    p.add_argument("--n-samples", type=int, help="samples to write at the end (default 8)  [outputs.n_samples]")
    p.add_argument("--max-clips", type=_positive_int, help="use at most this many clips (quick runs)  [data.max_clips]")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--strategy", choices=STRATEGIES, help="tf.distribute strategy (default: none)  [training.strategy]")
    p.add_argument("--seed", type=int, help="random seed (default 0)  [seed]")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("inspect", help="what a dataset holds: rates, channels, formats, lengths, levels per label, "
                                       "the files it will skip (and why)",
                       description="Summarize a dataset before training on it: sample rates, channels, formats, the "
                                   "clip-length distribution, peak and active RMS levels per label, label counts and "
                                   "the files that will be skipped, with the reason (docs/data.md). Reads no model "
                                   "and imports no TensorFlow.")
    p.add_argument("data", metavar="DATA", help="synth, fsdd, nsynth or a folder of audio (as train --data)")
    p.add_argument("--json", metavar="FILE", help="also write the whole summary, every clip's facts included, as JSON")
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("generate", help="write samples from a trained model")
    p.add_argument("--model", required=True, help="model folder (the run's model/ folder)")
    p.add_argument("--n", type=_positive_int, default=8, help="how many samples (per label; default 8)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--label", help="class to generate (conditional models)")
    group.add_argument("--all-labels", action="store_true", help="generate --n samples of every class")
    p.add_argument("--out", help="output folder (default outputs/samples/<run name>)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--prior", choices=PRIOR_CHOICES, default="auto",
                   help="latent distribution: the prior fitted to the training codes (fitted), N(0, I) "
                        "(standard), or fitted when the model has one (auto, default)")
    p.add_argument("--temperature", type=_non_negative_float,
                   help="spread of the prior (1 = as learned, lower = more typical, less varied; default: "
                        "the one chosen when the model was trained, saved with its prior)")
    p.add_argument("--guidance", type=_non_negative_float,
                   help="classifier-free guidance of a conditional diffusion prior (default 2; 1 = none)")
    p.add_argument("--seconds", type=float,
                   help="length of each sample (grid models; default: the training window)")
    p.add_argument("--phase", choices=PHASES, default="quality",
                   help="phase reconstruction: quality (default; PGHI + 100 iterations) or fast (bulk generation: "
                        "a peak-locked start + 10 iterations, about 6x less work; docs/experiments/phase.md)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("reconstruct", help="encode/decode audio files; writes original, ceiling, reconstruction")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--label", help="class of the files (conditional models)")
    p.add_argument("--out", help="output folder (default outputs/samples/<run name>-reconstructions)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(func=_cmd_reconstruct)

    p = sub.add_parser("evaluate", help="score a model on its test split: reconstruction, audio, generation, diversity")
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--data", help="dataset (default: the one the model was trained on, else synth)")
    p.add_argument("--json", help="write the results to this JSON file")
    p.add_argument("--max-clips", type=_positive_int, help="use at most this many clips (quick runs)")
    p.add_argument("--n-generate", type=_positive_int, help="samples per kind (default: the test-set size)")
    p.add_argument("--prior", choices=PRIOR_CHOICES, default="auto",
                   help="latent distribution of the generated samples (default auto: the fitted prior if any)")
    p.add_argument("--phase", choices=PHASES, default="quality",
                   help="phase reconstruction setting, as in generate (default quality)")
    p.add_argument("--n-iter", type=int, help="phase reconstruction iterations (default: the --phase setting's)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the samples (default 0)")
    p.add_argument("--quiet", action="store_true", help="print only the table")
    p.add_argument("--no-report", action="store_true",
                   help="do not save evaluation.json in the run folder nor rebuild its report.html")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("report", help="(re)build report.html, the listening page of a run")
    p.add_argument("--model", required=True, help="model folder (the run's model/ folder) or the run folder")
    p.add_argument("--data", help="dataset of the test clips (default: the one the model was trained on)")
    p.add_argument("--n-clips", type=_positive_int, default=4, help="test clips to show (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the clips and samples (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("quiz", help="write a listening quiz: which of two clips is real? (an offline page that "
                                    "scores itself, and its key)")
    p.add_argument("--model", required=True, help="model folder (the run's model/ folder) or the run folder")
    p.add_argument("--data", help="dataset of the real clips, its test split (default: the model's training data)")
    p.add_argument("--pairs", type=_positive_int, default=20,
                   help="questions, one test clip each, half with its reconstruction, half with a sample (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the clips, kinds, sides and samples (default 0)")
    p.add_argument("--out", required=True, help="the quiz page to write, e.g. quiz.html (its key: quiz.key.json)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_quiz)

    p = sub.add_parser("quiz-score", help="score listeners' quiz answers against the key, each and pooled")
    p.add_argument("answers", nargs="+", help="answers files (the JSON the quiz page downloads), one per listener")
    p.add_argument("--key", help="the quiz's key (default: FILE.key.json beside the quiz page the answers name)")
    p.set_defaults(func=_cmd_quiz_score)

    p = sub.add_parser("download", help="download a dataset (fsdd)")
    p.add_argument("dataset", choices=["fsdd"], help="which dataset")
    p.add_argument("--to", help="target folder (default data/fsdd)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing copy")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("features", help="print the spectrogram of audio files (a preprocessing check)")
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--sr", type=int, default=8000, help="sample rate in Hz (default 8000)")
    p.add_argument("--n-fft", type=int, default=256, help="FFT size in samples (default 256)")
    p.add_argument("--hop-length", type=int, default=64, help="hop in samples (default 64)")
    p.add_argument("--duration", type=float, default=0.75, help="clip length in seconds (default 0.75)")
    p.set_defaults(func=_cmd_features)
    return parser


#: TensorFlow's C++ start-up lines that say nothing useful on a CPU-only machine (printed by absl
#: before logging is configured, so TF_CPP_MIN_LOG_LEVEL cannot silence them).
_NEEDS_TF = {"train", "generate", "reconstruct", "evaluate", "report", "quiz"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vae-audio`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    started = time.perf_counter()  # the time budget of train counts the TensorFlow import too
    parser = build_parser()
    args = parser.parse_args(argv)
    args.started = started
    func: Callable[[argparse.Namespace], int] = args.func
    if args.command in _NEEDS_TF:
        from .tfquiet import import_tensorflow_quietly

        import_tensorflow_quietly()
    try:
        with (progress.quiet() if getattr(args, "quiet", False) else contextlib.nullcontext()):
            return int(func(args) or 0)
    except VaeAudioError as exc:
        print(f"vae-audio: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vae-audio: interrupted", file=sys.stderr)
        return 130
