"""Evaluation of a trained model on the test split: reconstruction, audio, ceilings, generation.

What is measured (all on the test split of the model's dataset, with the model's own
spectrogram config and normalizer):

``reconstruction``
    The model's reconstructions (encode to the latent mean, decode) as magnitudes, against the
    ground-truth magnitude: spectral convergence (SC) and log-spectral distance (LSD), dB.
``audio``
    The same after phase reconstruction: the STFT of the audio the model produces, against the
    ground truth. This is what a listener hears.
``ceiling``
    ``truth_through_phase``: the ground-truth spectrogram (as the model sees it: floored,
    normalized and back) through the same phase method, the best any model can do with it;
    ``model_with_true_phase``: the model's magnitude with the true phase of the clip, which
    separates the model's magnitude error from the phase method's error.
``generation``
    Scores of a classifier trained on the real training split
    (:func:`vae_audio.evaluation.classifier.generation_scores`), computed from audio, so the
    phase method is part of what is scored.
``diversity``
    Diversity and copying (:mod:`vae_audio.evaluation.diversity`), on the same samples: how alike
    two samples of a label are against two real test clips of that label, and how close each
    sample sits to its nearest training clip against each real test clip's nearest; calibrated by
    known-bad rows (one sample repeated; training clips replayed as the model renders them).
``levels``
    Levels per label (:mod:`vae_audio.evaluation.levels`): the median peak and active RMS of each
    label's real clips (every split), of its test clips' reconstructions and of the samples drawn for
    it (at least 8 a label: more are drawn when the listener's samples have fewer), and how many labels keep
    their median peak within 3 dB.

The *ground truth* is the linear STFT magnitude (the mel magnitude for mel configs) of the
test clips exactly as featurized (resampled, level-normalized, padded/truncated). LSD uses
``eps`` = the model's dB floor as a linear magnitude (``10 ** (db_floor / 20)``, 1e-4 for the
default -80 dB), so differences below what the model can represent are not counted. Each
metric is reported as the median and mean over the test clips.

:func:`evaluate_model` computes everything from a model and features already in memory (no
files); :func:`evaluate` is ``vae-audio evaluate``: it loads the bundle and the data, gets the
classifier from its cache (training it once) and writes the results as JSON;
:func:`format_table` prints them.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import checks, progress
from ..errors import ConfigError, DatasetError, ParameterError

__all__ = ["EVALUATION_VERSION", "evaluate_model", "evaluate", "format_table", "table_sections", "TableSection",
           "default_data"]

#: Version of the results layout (``results["version"]``).
EVALUATION_VERSION = 1
_FORMAT = "vae_audio.evaluation"
#: The real-vs-real floor of the Frechet distances is the median over up to this many disjoint
#: training subsets of the test set's size (one subset makes a noisy floor).
REFERENCE_SETS = 8
#: levels per label read at most this many real clips (a seeded subset beyond)
MAX_LEVEL_CLIPS = 4000
#: levels per label compare at least this many conditional samples a label with the real clips (more are
#: drawn when the samples made for the listener have fewer)
LEVEL_SAMPLES = 8


# ----------------------------------------------------------------------------- helpers
def _summary(values: np.ndarray) -> dict[str, float]:
    """``{"median", "mean"}`` of per-clip values (finite floats)."""
    v = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(v)), "mean": float(np.mean(v))}


def _pair_scores(reference: np.ndarray, estimate: np.ndarray, config, eps: float) -> dict[str, Any]:
    """SC and LSD summaries of magnitudes or audio ``estimate`` against ``reference`` magnitudes."""
    from ..dsp.metrics import log_spectral_distance_db, spectral_convergence_db

    kwargs = {"config": config} if estimate.ndim == reference.ndim - 1 else {}
    sc = np.atleast_1d(spectral_convergence_db(reference, estimate, **kwargs))
    lsd = np.atleast_1d(log_spectral_distance_db(reference, estimate, eps=eps, **kwargs))
    return {"sc_db": _summary(sc), "lsd_db": _summary(lsd)}


def _reference_magnitude(audio: np.ndarray, config) -> np.ndarray:
    """Ground truth: linear STFT magnitude ``(n, n_freq, n_frames)`` of ``audio`` (mel magnitude for mel configs)."""
    from ..dsp.features import mel_filterbank, stft_magnitude

    mag = stft_magnitude(audio, n_fft=config.n_fft, hop_length=config.hop_length)
    if config.n_mels is not None:
        fb = mel_filterbank(sr=config.sr, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin,
                            fmax=config.fmax)
        mag = np.matmul(fb, mag)
    return mag.astype(np.float64)


def _with_true_phase(magnitude: np.ndarray, audio: np.ndarray, config) -> np.ndarray:
    """Audio ``(n, n_samples)`` from ``magnitude`` (linear or mel) and the true phase of ``audio``."""
    import librosa

    from ..dsp.phase import mel_to_stft_magnitude

    mag = mel_to_stft_magnitude(magnitude, config=config) if config.n_mels is not None else magnitude
    spec = librosa.stft(np.asarray(audio, np.float32), n_fft=config.n_fft, hop_length=config.hop_length,
                        window="hann", center=True)
    phasors = np.exp(1j * np.angle(spec))
    y = librosa.istft(mag * phasors, n_fft=config.n_fft, hop_length=config.hop_length, window="hann",
                      center=True, length=config.n_samples)
    return y.astype(np.float32)


def _check_n_generate(n: Any) -> int | None:
    from ..modeling.generate import MAX_GENERATE

    if n is None:
        return None
    return checks.whole_number(n, "n_generate", 2, MAX_GENERATE, note=" (a Frechet distance needs at least 2 clips)")


def _resolved_phase_kwargs(phase_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    from ..dsp.phase import DEFAULT_N_ITER

    if phase_kwargs is None:
        return {}
    if not isinstance(phase_kwargs, Mapping):
        raise ParameterError(f"phase_kwargs: expected a dict of griffin_lim options, got {type(phase_kwargs).__name__}")
    allowed = {"n_iter", "init", "momentum", "seed", "batch_size", "jit_compile"}
    unknown = sorted(set(phase_kwargs) - allowed)
    if unknown:
        raise ParameterError(f"phase_kwargs: unknown options {unknown}; expected some of {sorted(allowed)} "
                             f"(n_iter defaults to {DEFAULT_N_ITER})")
    return dict(phase_kwargs)


def _phase_description(phase_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    from ..dsp.phase import DEFAULT_N_ITER

    return {"method": "griffin_lim", "n_iter": DEFAULT_N_ITER, "init": "pghi", "momentum": 0.99,
            **{k: v for k, v in phase_kwargs.items() if k != "batch_size"}}


# ----------------------------------------------------------------------------- core
def evaluate_model(model, features, *, classifier=None, n_generate: int | None = None, seed: int = 0,
                   phase_kwargs: Mapping[str, Any] | None = None, prior: str = "auto",
                   verbose: bool = False) -> dict[str, Any]:
    """Score a trained model on the test split of ``features`` (no files read or written).

    Parameters
    ----------
    model : a :class:`vae_audio.modeling.inference.TrainedModel` (from :func:`~vae_audio.modeling.bundle.load_model`).
    features : :class:`vae_audio.data.featurize.Features` built with the model's spectrogram config
        recipe (``build_features(dataset, recipe=model.recipe)``); its ``"test"``
        split is evaluated. A different config raises :class:`ConfigError` showing both.
    classifier : a fitted :class:`vae_audio.evaluation.classifier.AudioClassifier` trained on the real
        training split (see :func:`~vae_audio.evaluation.classifier.get_or_train_classifier`), or ``None``
        to skip the ``generation`` scores (then ``results["generation"]`` is ``None``).
    n_generate : clips generated per kind of sample (prior, and conditional for a conditional
        model); default: the number of test clips (at least 2).
    seed : seed of the generated samples (the same seed gives the same results on CPU).
    prior : latent distribution of the generated samples: ``"auto"`` (the model's fitted latent
        prior when it has one, else ``N(0, I)``), ``"fitted"`` or ``"standard"`` (``N(0, I)``);
        see :meth:`vae_audio.modeling.inference.TrainedModel.sample_latents`. Recorded as
        ``generation["latent_prior"]``.
    phase_kwargs : options of :func:`vae_audio.dsp.phase.griffin_lim` used for every spectrogram ->
        audio conversion (``n_iter``, ``init``, ``momentum``, ``seed``, ``batch_size``).
    verbose : print one line per stage.

    Returns
    -------
    JSON-ready dict with keys ``format``, ``version``, ``n_test`` (test clips scored),
    ``n_test_silent_skipped`` (all-zero test clips left out: SC/LSD against silence are
    meaningless), ``phase``, ``lsd_eps``, ``reconstruction``, ``audio``, ``ceiling``
    (``truth_through_phase``, ``model_with_true_phase``), ``generation`` (the dict of
    :func:`~vae_audio.evaluation.classifier.generation_scores` plus ``n_generate``, or ``None``),
    ``diversity`` (:func:`~vae_audio.evaluation.diversity.diversity_section` plus ``reference``, or
    ``None`` when the data has no training clips), ``summary`` (the headline numbers) and ``seconds``
    (per stage). Every SC/LSD entry is ``{"sc_db": {"median", "mean"}, "lsd_db": {"median", "mean"}}``
    in dB, lower is better.
    """
    from ..modeling.inference import check_prior_choice

    seed = checks.seed(seed)
    n_generate = _check_n_generate(n_generate)
    pk = _resolved_phase_kwargs(phase_kwargs)
    check_prior_choice(prior, model)
    return _evaluate_checked(model, features, classifier=classifier, n_generate=n_generate, seed=seed, pk=pk,
                             prior=prior, verbose=verbose)


def _evaluate_checked(model, features, *, classifier, n_generate: int | None, seed: int, pk: dict[str, Any],
                      prior: str, verbose: bool) -> dict[str, Any]:
    """:func:`evaluate_model` once its arguments are checked (``pk``: the resolved phase options)."""
    from ..dsp.features import db_to_magnitude
    from ..dsp.phase import db_to_audio
    from ..modeling.inference import check_compatible

    cfg = model.config
    check_compatible(cfg, features.config, data_name=f"the data {features.name!r}")
    if features.recipe != model.recipe:
        raise ConfigError(f"the data {features.name!r} was featurized with another recipe "
                          f"({features.recipe.describe()}) than the model's ({model.recipe.describe()}); "
                          f"build the features with build_features(dataset, recipe=model.recipe)")
    test = features.subset("test")
    if len(test) == 0:
        raise DatasetError(f"{features.name}: the test split has no clips; nothing to evaluate")
    silent = ~np.any(test.audio != 0, axis=1)  # SC/LSD against silence are meaningless (+200 dB)
    if np.all(silent):
        raise DatasetError(f"{features.name}: every test clip is silent; nothing to evaluate")
    test = test.select(~silent)
    conditional = bool(model.label_names)
    if conditional and tuple(model.label_names) != tuple(features.label_names):
        raise ConfigError(f"the model is conditional on labels {list(model.label_names)} but the data "
                          f"{features.name!r} has labels {list(features.label_names)}")
    labels = test.labels.astype(np.int32) if conditional else None
    seconds: dict[str, float] = {}

    # diversity and copying need training clips to search for each clip's nearest, and two test clips
    diversity = bool(np.any(features.split == "train")) and len(test) >= 2
    # one line per stage in a log; on a terminal or in a notebook also a bar over the stages
    stages = progress.bar(3 + (classifier is not None) + diversity, "evaluating", unit="stage", delay=0.0,
                          enabled=verbose)

    def log(msg: str, next_stage: str | None = None) -> None:
        if verbose:
            print(msg, flush=True)
        stages.update(1)
        if next_stage:
            stages.set_postfix_str(next_stage)

    # ---------------------------------------------------------------- reconstruction and ceilings
    stages.set_postfix_str("reconstruction and ceilings")
    t0 = time.perf_counter()
    eps = float(10.0 ** (cfg.db_floor / 20.0))
    stats = test.stats if test.stats else None
    reference = _reference_magnitude(test.audio, cfg)
    recon = model.reconstruct(test.x, labels=labels)
    recon_db = model.normalizer.unnormalize(recon, stats)
    truth_db = model.normalizer.unnormalize(test.x, stats)
    recon_mag = db_to_magnitude(recon_db, cfg)
    recon_audio = model.render(recon_db, **pk)  # the model's noise texture, when it has one, then the phase step
    truth_audio = db_to_audio(truth_db, cfg, **pk)
    true_phase_audio = _with_true_phase(recon_mag, test.audio, cfg)
    results: dict[str, Any] = {
        "format": _FORMAT, "version": EVALUATION_VERSION, "n_test": int(len(test)),
        "n_test_silent_skipped": int(silent.sum()),
        "phase": _phase_description(pk), "lsd_eps": eps,
        "postfilter": None if model.postfilter is None else model.postfilter.to_dict(),
        "texture_model": None if model.texture is None else model.texture.to_dict(),
        "reconstruction": _pair_scores(reference, recon_mag, cfg, eps),
        "audio": _pair_scores(reference, recon_audio, cfg, eps),
        "ceiling": {
            "truth_through_phase": _pair_scores(reference, truth_audio, cfg, eps),
            "model_with_true_phase": _pair_scores(reference, true_phase_audio, cfg, eps),
        },
    }
    seconds["reconstruction"] = time.perf_counter() - t0
    log(f"reconstruction of {len(test)} test clips scored in {seconds['reconstruction']:.1f} s", "listening tests")

    # ---------------------------------------------------------------- can a listener tell?
    t0 = time.perf_counter()
    results["listening"] = {"reconstruction": _listening(test.audio, recon_audio, cfg.sr),
                            "ceiling": _listening(test.audio, truth_audio, cfg.sr)}
    results["flatness"] = {"real_test": _median_flatness(test.audio, cfg.sr),
                           "ceiling": _median_flatness(truth_audio, cfg.sr),
                           "reconstruction": _median_flatness(recon_audio, cfg.sr)}
    results["texture"] = {"real_test": _roughness(test.audio, cfg), "ceiling": _roughness(truth_audio, cfg),
                          "reconstruction": _roughness(recon_audio, cfg)}
    seconds["listening"] = time.perf_counter() - t0
    log(f"PESQ, STOI, spectral flatness and texture scored in {seconds['listening']:.1f} s", "the machine listener")

    # ---------------------------------------------------------------- samples and the machine listener
    from .listener import FOLDS

    t0 = time.perf_counter()
    listen = len(test) >= 2 * FOLDS and bool(np.any(features.split != "test"))
    n = n_generate if n_generate is not None else max(2, len(test))
    prior_audio = cond_audio = cond_labels = None
    if listen or classifier is not None or diversity:
        prior_audio = model.to_audio(model.generate(n, seed=seed, prior=prior), **pk)
        if conditional:
            k = len(model.label_names)
            cond_labels = np.random.default_rng([seed, 2]).permutation(np.arange(n) % k).astype(np.int32)
            cond_audio = model.to_audio(model.generate(n, labels=cond_labels, seed=seed + 1, prior=prior), **pk)
    if prior_audio is not None:
        results["texture"]["prior"] = _roughness(prior_audio, cfg)
    if cond_audio is not None:
        results["texture"]["conditional"] = _roughness(cond_audio, cfg)
    results["listener"] = None
    if listen:
        # a known-bad generator: the same decoder fed codes from N(0, I) instead of its prior
        standard = model.to_audio(model.generate(n, labels=cond_labels, seed=seed + 2, prior="standard"), **pk)
        results["listener"] = _listener_rows(features, test, recon_audio, truth_audio, prior_audio, cond_audio,
                                             cond_labels, standard, seed)
    seconds["listener"] = time.perf_counter() - t0
    log(f"the machine listener run in {seconds['listener']:.1f} s" if listen else
        f"the machine listener skipped ({len(test)} test clips; it needs {2 * FOLDS})",
        "diversity and copying" if diversity else "generation" if classifier is not None else None)

    # ---------------------------------------------------------------- diversity and copying
    results["diversity"] = None
    if diversity:
        t0 = time.perf_counter()
        results["diversity"] = _diversity(model, features, test, prior_audio, cond_audio, cond_labels, seed, pk)
        seconds["diversity"] = time.perf_counter() - t0
        log(f"diversity and copying measured in {seconds['diversity']:.1f} s",
            "generation" if classifier is not None else None)

    # ---------------------------------------------------------------- levels per label
    from .levels import level_section

    t0 = time.perf_counter()
    samples = cond_audio if cond_audio is not None else prior_audio
    sample_labels = cond_labels if cond_audio is not None else None
    if sample_labels is not None:  # at least LEVEL_SAMPLES a label: one or two samples make a noisy median
        counts = np.bincount(sample_labels, minlength=len(model.label_names))
        extra = np.repeat(np.arange(len(counts)), np.maximum(LEVEL_SAMPLES - counts, 0)).astype(np.int32)
        if len(extra):
            more = model.to_audio(model.generate(len(extra), labels=extra, seed=seed + 4, prior=prior), **pk)
            samples, sample_labels = np.concatenate([samples, more]), np.concatenate([sample_labels, extra])
    real_rows = np.arange(len(features))
    if len(real_rows) > MAX_LEVEL_CLIPS:  # a seeded subset (sharded features are read only there)
        real_rows = np.sort(np.random.default_rng([seed, 37]).choice(len(real_rows), MAX_LEVEL_CLIPS, replace=False))
    results["levels"] = level_section(
        real=np.asarray(features.audio[real_rows]), real_labels=features.labels[real_rows] if conditional else None,
        test=test.audio, test_labels=labels, reconstructions=recon_audio, ceiling=truth_audio, samples=samples,
        sample_labels=sample_labels, sr=cfg.sr, label_names=list(features.label_names) if conditional else None)
    seconds["levels"] = time.perf_counter() - t0

    # ---------------------------------------------------------------- generation
    generation = None
    if classifier is not None:
        from .classifier import AudioClassifier, generation_scores

        if not isinstance(classifier, AudioClassifier):
            raise ParameterError(f"classifier: expected an AudioClassifier, got {type(classifier).__name__}")
        if list(classifier.label_names) != list(features.label_names):
            raise ConfigError(f"classifier: trained on labels {list(classifier.label_names)}, but the data "
                              f"{features.name!r} has labels {list(features.label_names)}")
        if len(test) < 2:
            raise DatasetError(f"{features.name}: generation scores need at least 2 test clips, got {len(test)}")
        t0 = time.perf_counter()
        kwargs: dict[str, Any] = {"prior_samples": prior_audio}
        if conditional:
            kwargs.update(conditional_samples=cond_audio, conditional_labels=cond_labels)
        train = features.subset("train")
        if len(train) >= 2:
            size = min(len(train), len(test))
            sets = max(1, min(REFERENCE_SETS, len(train) // size))
            pick = np.random.default_rng([seed, 3]).choice(len(train), size=sets * size, replace=False)
            kwargs.update(real_reference=train.audio[pick], reference_sets=sets)
        kwargs["reconstructions"] = recon_audio
        generation = generation_scores(classifier, real_test=test.audio, real_test_labels=test.labels,
                                       real_test_phase=truth_audio, sr=cfg.sr, **kwargs)
        # the second judge: other features (cepstral statistics), another model family (linear)
        from .cepstral_judge import CepstralJudge

        second = CepstralJudge().fit(train.audio, train.labels, sr=cfg.sr, label_names=list(features.label_names))
        second_scores = generation_scores(second, real_test=test.audio, real_test_labels=test.labels,
                                          real_test_phase=truth_audio, sr=cfg.sr, **kwargs)
        generation["second_judge"] = {"name": "cepstral statistics + logistic regression", **second_scores}
        generation["n_generate"] = int(n)
        flat = results["flatness"]
        flat["prior"] = _median_flatness(prior_audio, cfg.sr)
        if conditional:
            flat["conditional"] = _median_flatness(kwargs["conditional_samples"], cfg.sr)
        generation["prior_labels"] = "random (seeded) for a conditional model" if conditional else None
        fitted = model.prior is not None and prior != "standard"
        generation["latent_prior"] = model.prior.describe() if fitted else "standard N(0, I)"
        info = getattr(classifier, "info", {}) or {}
        generation["classifier"] = {
            "train_accuracy": info.get("train_accuracy"), "validation_accuracy": info.get("validation_accuracy"),
            "n_train": info.get("n_train"), "epochs": info.get("epochs"),
            "cache_path": str(classifier.cache_path) if getattr(classifier, "cache_path", None) else None,
            "from_cache": bool(getattr(classifier, "from_cache", False)),
        }
        seconds["generation"] = time.perf_counter() - t0
        log(f"generation scored ({n} samples per kind) in {seconds['generation']:.1f} s")
    stages.close()
    results["generation"] = generation
    results["summary"] = _headline(results)
    results["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
    return _json_ready(results)


def _listening(real: np.ndarray, other: np.ndarray, sr: int) -> dict[str, Any]:
    """PESQ (narrow band) and STOI (test set end to end) of ``other`` against ``real``
    (see :mod:`vae_audio.evaluation.listening`)."""
    from .listening import pesq_nb, stoi_concat

    pesq = pesq_nb(real, other, sr)
    scored = np.isfinite(pesq)
    return {
        "pesq_nb": {"median": float(np.median(pesq[scored])) if scored.any() else None,
                    "mean": float(np.mean(pesq[scored])) if scored.any() else None, "n_scored": int(scored.sum())},
        "stoi": stoi_concat(real, other, sr),
    }


def other_takes(features, test, seed: int = 0) -> np.ndarray:
    """For each clip of ``test`` (a subset of ``features``), the index in ``features`` of another real clip
    outside the test split with the same label, and the same speaker when the clips' metadata names one
    (FSDD): the real-vs-real row of the machine listener. Seeded; may repeat a clip."""
    rng = np.random.default_rng([seed, 5])
    pool = np.flatnonzero(features.split != "test")
    speakers = np.array([str(m.get("speaker", "")) for m in features.metadata])
    picks = []
    for label, meta in zip(test.labels, test.metadata):
        same = pool[features.labels[pool] == label]
        by_speaker = same[speakers[same] == str(meta.get("speaker", ""))]
        choice = by_speaker if len(by_speaker) else (same if len(same) else pool)
        picks.append(rng.choice(choice))
    return np.asarray(picks, dtype=np.int64)


def _listener_rows(features, test, recon_audio: np.ndarray, truth_audio: np.ndarray, prior_audio: np.ndarray,
                   cond_audio: np.ndarray | None, cond_labels: np.ndarray | None, standard_audio: np.ndarray,
                   seed: int) -> dict[str, Any] | None:
    """The machine listener (:mod:`vae_audio.evaluation.listener`) on the test clips against: other real
    takes, the phase ceiling, the reconstructions, the samples (conditional ones label by label) and a
    known-bad generator (``N(0, I)`` codes)."""
    from .listener import SETTINGS, listener_features, paired_test, side_by_side, unpaired_test

    sr = features.config.sr
    real = listener_features(test.audio, sr)
    labels = test.labels if features.label_names else None
    other = other_takes(features, test, seed)
    sample_labels = cond_labels if cond_audio is not None else None
    rows = {
        "real_vs_real": unpaired_test(real, features.audio[other], sr, labels_real=labels,
                                      labels_other=None if labels is None else features.labels[other], seed=seed),
        "ceiling": paired_test(real, truth_audio, sr, seed=seed),
        "reconstruction": paired_test(real, recon_audio, sr, seed=seed),
        "prior": unpaired_test(real, prior_audio, sr, seed=seed),
        "known_bad": unpaired_test(real, standard_audio, sr, labels_real=labels if sample_labels is not None else None,
                                   labels_other=sample_labels, seed=seed),
    }
    if cond_audio is not None:
        rows["conditional"] = unpaired_test(real, cond_audio, sr, labels_real=labels, labels_other=cond_labels,
                                            label_names=features.label_names, seed=seed)
    side = {"ceiling": side_by_side(real, truth_audio, sr, seed=seed),
            "reconstruction": side_by_side(real, recon_audio, sr, seed=seed)}
    return {"settings": SETTINGS, "rows": rows, "side_by_side": side}


def _diversity(model, features, test, prior_audio: np.ndarray, cond_audio: np.ndarray | None,
               cond_labels: np.ndarray | None, seed: int, pk: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`vae_audio.evaluation.diversity.diversity_section` on the samples already made (conditional ones
    label by label, else the prior's), the test clips, and the training clips (at most
    :data:`~vae_audio.evaluation.diversity.MAX_REFERENCE`, a seeded subset) as the reference. The known-bad
    copier replays as many training clips as there are samples, as the model renders them: its
    reconstructions through the same phase step."""
    from .diversity import MAX_REFERENCE, diversity_section, embed

    cfg = model.config
    conditional = cond_audio is not None
    train = features.subset("train")
    n_train = len(train)
    if n_train > MAX_REFERENCE:
        train = train.select(np.sort(np.random.default_rng([seed, 23]).choice(n_train, MAX_REFERENCE, replace=False)))
    samples = cond_audio if conditional else prior_audio
    copies = train.select(np.sort(np.random.default_rng([seed, 29]).choice(len(train), min(len(samples), len(train)),
                                                                           replace=False)))
    copy_labels = copies.labels.astype(np.int32) if conditional else None
    recon = model.reconstruct(copies.x, labels=copy_labels)
    replayed = model.render(model.normalizer.unnormalize(recon, copies.stats if copies.stats else None), **pk)
    section = diversity_section(real=test.audio, real_labels=test.labels if conditional else None, samples=samples,
                                sample_labels=cond_labels if conditional else None,
                                reference=embed(train.audio, cfg.sr),
                                reference_labels=train.labels if conditional else None, replayed=replayed,
                                replayed_labels=copy_labels,
                                sr=cfg.sr, label_names=list(features.label_names) or None,
                                samples_kind="conditional" if conditional else "prior", seed=seed)
    section["reference"] = "train split" + (f" (a seeded {len(train)} of its {n_train} clips)"
                                             if n_train > len(train) else "")
    return section


def _median_flatness(audio: np.ndarray, sr: int) -> float | None:
    """Median over clips of :func:`~vae_audio.evaluation.listening.spectral_flatness` (silent clips left out)."""
    from .listening import spectral_flatness

    flat = spectral_flatness(audio, sr)
    flat = flat[np.isfinite(flat)]
    return float(np.median(flat)) if flat.size else None


def _roughness(audio: np.ndarray, config) -> float | None:
    """How rough the clips' dB spectrograms (``config``'s analysis) are: the mean over bands of
    :func:`~vae_audio.dsp.texture.audio_roughness` (frame-to-frame plus bin-to-bin change, dB), pooled over
    the clips; ``None`` when no clip has sound."""
    from ..dsp.texture import audio_roughness

    rough = audio_roughness(audio, config).sum(axis=1)
    return float(np.nanmean(rough)) if np.isfinite(rough).any() else None


def _texture_ratio(results: Mapping[str, Any], key: str) -> float | None:
    """``results["texture"][key]`` over the phase ceiling's roughness (1.0 = as rough)."""
    tex = results.get("texture") or {}
    value, ceiling = tex.get(key), tex.get("ceiling")
    return None if value is None or not ceiling else value / ceiling


def _flatness_ratio(results: Mapping[str, Any], key: str) -> float | None:
    """Median spectral flatness of ``results["flatness"][key]`` over the real test clips' (1.0 = as flat)."""
    flat = results.get("flatness") or {}
    value, real = flat.get(key), flat.get("real_test")
    return None if value is None or not real else value / real


def _headline(results: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers the targets are stated in (None when not measured)."""
    from .diversity import headline as diversity_headline
    from .levels import headline as levels_headline

    audio_sc = results["audio"]["sc_db"]["median"]
    ceiling_sc = results["ceiling"]["truth_through_phase"]["sc_db"]["median"]
    gen = results.get("generation") or {}
    rec = results["listening"]["reconstruction"]
    return {
        "audio_sc_db": audio_sc,
        "audio_lsd_db": results["audio"]["lsd_db"]["median"],
        "ceiling_sc_db": ceiling_sc,
        "audio_sc_gap_to_ceiling_db": audio_sc - ceiling_sc,
        "pesq_nb": rec["pesq_nb"]["median"],
        "stoi": rec["stoi"],
        **{f"listener_{name}": _listener_accuracy(results, name)
           for name in ("real_vs_real", "ceiling", "reconstruction", "conditional", "prior", "known_bad")},
        "reconstruction_accuracy_ratio": gen.get("reconstruction_accuracy_ratio"),
        "conditional_accuracy_ratio": gen.get("conditional_accuracy_ratio"),
        "prior_inception_score_ratio": gen.get("prior_inception_score_ratio"),
        "conditional_frechet_distance": gen.get("conditional_frechet_distance"),
        "reference_frechet_distance": gen.get("reference_frechet_distance"),
        "conditional_frechet_ratio": gen.get("conditional_frechet_ratio"),
        "prior_flatness_ratio": _flatness_ratio(results, "prior"),
        **{f"{key}_texture_ratio": _texture_ratio(results, key) for key in ("reconstruction", "conditional", "prior")},
        "second_judge_conditional_accuracy_ratio": (gen.get("second_judge") or {}).get("conditional_accuracy_ratio"),
        "second_judge_prior_inception_score_ratio": (gen.get("second_judge") or {}).get("prior_inception_score_ratio"),
        "second_judge_conditional_frechet_ratio": (gen.get("second_judge") or {}).get("conditional_frechet_ratio"),
        **diversity_headline(results.get("diversity")),
        **levels_headline(results.get("levels")),
    }


def _listener_accuracy(results: Mapping[str, Any], row: str) -> float | None:
    rows = (results.get("listener") or {}).get("rows") or {}
    return (rows.get(row) or {}).get("accuracy")


def _json_ready(value: Any) -> Any:
    """Plain Python types; NaN/inf -> None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


# ----------------------------------------------------------------------------- files
def default_data(model) -> str:
    """The dataset a bundle was trained on (``config.json["config"]["data"]["source"]``), else ``"synth"``."""
    config = getattr(model, "run_config", None)
    return config.data.source if config is not None else "synth"


def load_features(model, data: str | os.PathLike | None = None, *, max_clips: int | None = None, seed: int = 0,
                  cache_dir: str | os.PathLike | None = "data/cache", verbose: bool = False):
    """The clips a trained model is scored on, featurized with its own recipe.

    ``data`` defaults to what the model was trained on (:func:`default_data`); when it is the
    training dataset, the training run's ``seed`` and ``max_clips`` list it, so the test split
    is the one held out in training. ``max_clips`` then draws at most that many clips in
    proportion to every (split, label) group (seeded by ``seed``). Returns ``(features,
    data_spec, data_seed)``; raises :class:`DatasetError` when no test (or training) clip is left.
    """
    from ..config import RunConfig
    from ..data import datasets
    from ..data.featurize import build_features

    data_spec = default_data(model) if data is None else data
    run = getattr(model, "run_config", None)
    same = run is not None and str(data_spec) == str(run.data.source)
    listed = run if same else RunConfig()  # another dataset: its own default split
    data_seed = listed.seed
    # the clips are featurized with the model's own recipe (its spectrogram settings included)
    dataset = datasets.load_dataset(data_spec, max_clips=listed.data.max_clips, seed=data_seed, config=model.config,
                                    val_fraction=listed.data.val_fraction, test_fraction=listed.data.test_fraction)
    if max_clips is not None:
        dataset.clips = datasets.subsample_clips(dataset.clips, int(max_clips), seed)
        if not any(c.split == "train" for c in dataset.clips):
            raise DatasetError(f"--max-clips {max_clips}: no training clip left; use more clips")
    if not any(c.split == "test" for c in dataset.clips):
        raise DatasetError(f"{data_spec}: no clip in the test split"
                           f"{f' with --max-clips {max_clips}' if max_clips else ''}; nothing to evaluate")
    features = build_features(dataset, recipe=model.recipe, cache_dir=cache_dir,
                              use_cache=cache_dir is not None, verbose=verbose)
    return features, data_spec, data_seed


def evaluate(model_dir: str | os.PathLike, *, data: str | os.PathLike | None = None,
             json_path: str | os.PathLike | None = None, max_clips: int | None = None,
             n_generate: int | None = None, seed: int = 0, cache_dir: str | os.PathLike | None = "data/cache",
             classifier_config=None, classifier_seed: int = 0, phase_kwargs: Mapping[str, Any] | None = None,
             prior: str = "auto", report: bool = False, verbose: bool = False) -> dict[str, Any]:
    """``vae-audio evaluate``: load a bundle and its data, score the model, optionally write JSON.

    Parameters
    ----------
    model_dir : the bundle folder (a run's ``model/``).
    data : dataset name or folder; default :func:`default_data` (what the model was trained on),
        listed and featurized as :func:`load_features` does (the test split held out in training).
    json_path : write the results here (atomically); ``None`` writes nothing.
    max_clips : evaluate on (and train the classifier on) at most this many clips, drawn in
        proportion to every (split, label) group (quick runs).
    n_generate : samples per kind (default: the test-set size).
    seed : seed of the generated samples and of the ``max_clips`` draw.
    cache_dir : feature cache (``data/cache``); classifiers are cached in ``<cache_dir>/classifiers``
        (trained once per training set and settings). ``None``: no caches, the classifier is
        trained in memory.
    classifier_config : a :class:`vae_audio.evaluation.classifier.ClassifierConfig` (default settings if None).
    classifier_seed : seed of the classifier's training (part of its cache key).
    phase_kwargs : :func:`vae_audio.dsp.phase.griffin_lim` options for every spectrogram -> audio step.
    prior : latent distribution of the generated samples (see :func:`evaluate_model`).
    report : also save the results as ``evaluation.json`` in the run folder and rebuild its
        ``report.html`` (:mod:`vae_audio.evaluation.report`; what ``vae-audio evaluate`` does).

    Returns
    -------
    The dict of :func:`evaluate_model` plus ``model`` and ``data`` descriptions. Generation
    scores are computed when the dataset has labels (else ``results["generation"]`` is None).
    """
    from ..fileio import atomic_write_json
    from ..modeling.bundle import load_model
    from ..modeling.inference import check_prior_choice

    seed = checks.seed(seed)
    n_generate = _check_n_generate(n_generate)
    pk = _resolved_phase_kwargs(phase_kwargs)
    check_prior_choice(prior)  # the name now; whether the model has that prior once it is loaded
    if max_clips is not None:
        checks.whole_number(max_clips, "max_clips", 1, note=" or None")
    t_start = time.perf_counter()
    if report:
        from .report import EVALUATION_FILE, locate_run

        run = locate_run(model_dir)[1]
        if not os.access(run, os.W_OK):  # say so now, not after minutes of scoring
            raise ParameterError(f"{run}: cannot write {EVALUATION_FILE} and the report here "
                                 "(the folder is not writable)")
    model = load_model(model_dir)
    check_prior_choice(prior, model)
    features, data_spec, data_seed = load_features(model, data, max_clips=max_clips, seed=seed,
                                                   cache_dir=cache_dir, verbose=verbose)

    classifier = None
    classifier_seconds = 0.0
    if features.label_names and np.all(features.labels >= 0):
        from .classifier import AudioClassifier, get_or_train_classifier

        t0 = time.perf_counter()
        train = features.subset("train")
        if len(np.unique(train.labels)) >= 2:
            val = features.subset("val")
            common = dict(sr=features.config.sr, label_names=list(features.label_names), seed=classifier_seed,
                          validation=(val.audio, val.labels) if len(val) else None, verbose=verbose)
            if cache_dir is not None:
                classifier = get_or_train_classifier(train.audio, train.labels, config=classifier_config,
                                                     cache_dir=Path(cache_dir) / "classifiers",
                                                     key_extra={"data": features.name}, **common)
            else:
                classifier = AudioClassifier(classifier_config).fit(train.audio, train.labels, **common)
        classifier_seconds = time.perf_counter() - t0
    results = _evaluate_checked(model, features, classifier=classifier, n_generate=n_generate, seed=seed, pk=pk,
                                prior=prior, verbose=verbose)
    vae = model.info.get("vae", {}) if isinstance(model.info.get("vae"), dict) else {}
    arch = model.info.get("model", {}) if isinstance(model.info.get("model"), dict) else {}
    results = {
        **results,
        "model": {"directory": str(Path(model_dir)), "architecture": arch.get("architecture"),
                  "latent_dim": model.latent_dim, "conditional": bool(model.label_names),
                  "likelihood": vae.get("likelihood"),
                  "epochs_run": (model.info.get("training") or {}).get("epochs_run")},
        "data": {"name": features.name, "spec": str(data_spec), "split_counts": features.split_counts(),
                 "config": features.config.to_dict(), "max_clips": max_clips, "seed": data_seed},
    }
    results["seconds"] = {**results["seconds"], "classifier": round(classifier_seconds, 2),
                          "total": round(time.perf_counter() - t_start, 2)}
    results = _json_ready(results)
    for path in ([json_path] if json_path is not None else []) + ([run / EVALUATION_FILE] if report else []):
        try:
            atomic_write_json(path, results)
        except OSError as exc:
            raise ParameterError(f"{path}: cannot write the results ({exc.strerror or exc})") from None
    if report:
        from .report import write_report

        write_report(model_dir, model=model, features=features, evaluation=results, seed=seed)
    return results


# ----------------------------------------------------------------------------- table
def _fmt(value: Any, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


@dataclass(frozen=True)
class TableSection:
    """One table of the evaluation results: a title, column headers and rows of formatted cells.

    ``rows`` are ``(name, cells)`` pairs with one cell per column (``"-"`` where there is no
    value); ``legend`` lines explain the columns (shown above the rows), ``notes`` follow the rows. The plain-text table
    (:func:`format_table`) and the run report (:mod:`vae_audio.evaluation.report`) render the same sections.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    notes: tuple[str, ...] = ()
    legend: tuple[str, ...] = ()


def table_sections(results: Mapping[str, Any]) -> list[TableSection]:
    """The results of :func:`evaluate` / :func:`evaluate_model` as titled tables (see :class:`TableSection`)."""
    sections = []
    n = results.get("n_test")
    phase = results.get("phase", {})
    rows = [
        ("model magnitude vs truth (no phase)", results["reconstruction"]),
        ("model audio (phase method)", results["audio"]),
        ("ceiling: true magnitude + phase method", results["ceiling"]["truth_through_phase"]),
        ("ceiling: model magnitude + true phase", results["ceiling"]["model_with_true_phase"]),
    ]
    summary = results.get("summary", {})
    pf = results.get("postfilter")
    pf_note = (f"; valley postfilter, gains {min(pf['gains']):.2f}-{max(pf['gains']):.2f}" if pf else "")
    sections.append(TableSection(
        f"Reconstruction of {n} test clips (median over clips; lower is better; "
        f"phase: {phase.get('init')} + {phase.get('n_iter')} FGLA iterations{pf_note})",
        ("SC dB", "LSD dB"),
        tuple((name, (f"{e['sc_db']['median']:.2f}", f"{e['lsd_db']['median']:.2f}")) for name, e in rows),
        (f"audio SC gap to the phase ceiling: {_fmt(summary.get('audio_sc_gap_to_ceiling_db'), '.2f')} dB",)))
    listening = results.get("listening")
    if listening:
        lrows = [("model audio (phase method)", listening["reconstruction"]),
                 ("ceiling: true magnitude + phase method", listening["ceiling"])]
        sections.append(TableSection(
            "Speech quality: PESQ narrow band (median; 4.5 = transparent), STOI (test set end to end)",
            ("PESQ", "STOI"),
            tuple((name, (_fmt(e["pesq_nb"]["median"]), _fmt(e["stoi"], ".3f"))) for name, e in lrows)))
    listener = results.get("listener")
    if listener:
        names = [("real test vs other real takes", "real_vs_real"), ("ceiling: true magnitude + phase", "ceiling"),
                 ("reconstructions", "reconstruction"), ("conditional samples (label by label)", "conditional"),
                 ("prior samples", "prior"), ("known bad: N(0, I) codes", "known_bad")]
        rows = listener["rows"]

        def cells(r: Mapping[str, Any]) -> tuple[str, ...]:
            by = r["by_classifier"]
            cues = ", ".join(f"{k} {v:+.2f}" for k, v in list(r["cues"].items())[:3])
            return (f"{r['accuracy']:.3f}", f"{by['logistic_regression']:.3f}", f"{by['boosted_trees']:.3f}", cues)

        side = listener.get("side_by_side") or {}
        sections.append(TableSection(
            "The machine listener: how often it tells the clips from real test clips (0.5 = cannot tell, "
            "1.0 = every clip), judging one clip at a time",
            ("told", "LR", "GBT", "keyed on (accuracy lost without the cue)"),
            tuple((name, cells(rows[key])) for name, key in names if rows.get(key)),
            notes=(f"side by side (both clips of a pair seen together, a stricter diagnostic): ceiling "
                   f"{_fmt(side.get('ceiling'), '.3f')}, reconstructions {_fmt(side.get('reconstruction'), '.3f')}",)))
    flat = results.get("flatness")
    if flat:
        frows = [("real test clips", "real_test"), ("ceiling: true magnitude + phase method", "ceiling"),
                 ("model audio (phase method)", "reconstruction"), ("prior samples", "prior"),
                 ("conditional samples", "conditional")]
        sections.append(TableSection(
            "Spectral flatness of the audible frames (median over clips; ~0.56 = white noise, near 0 = sharp "
            "harmonics)",
            ("flatness", "ratio to real"),
            tuple((name, (_fmt(flat[key], ".4f"), _fmt(_flatness_ratio(results, key), ".2f")))
                  for name, key in frows if key in flat)))
    tex = results.get("texture")
    if tex:
        trows = [("real test clips", "real_test"), ("ceiling: true magnitude + phase method", "ceiling"),
                 ("model audio (phase method)", "reconstruction"), ("prior samples", "prior"),
                 ("conditional samples", "conditional")]
        tm = results.get("texture_model")
        sections.append(TableSection(
            "Noise texture: the dB spectrogram's frame-to-frame plus bin-to-bin change in active cells (mean over "
            "8 bands; smoother = lower)" + (f"; the model draws a noise texture, amounts {min(tm['amounts']):.2f}-"
                                            f"{max(tm['amounts']):.2f}" if tm else ""),
            ("dB", "ratio to ceiling"),
            tuple((name, (_fmt(tex[key], ".2f"), _fmt(_texture_ratio(results, key), ".2f")))
                  for name, key in trows if key in tex)))
    gen = results.get("generation")
    if gen:
        second = gen.get("second_judge") or {}
        grows = [
            ("real test accuracy", "real_test_accuracy", ".3f"),
            ("real test through phase method: accuracy", "real_phase_accuracy", ".3f"),
            ("reconstructions: accuracy", "reconstruction_accuracy", ".3f"),
            ("  ratio to real test", "reconstruction_accuracy_ratio", ".3f"),
        ]
        if "conditional_accuracy" in gen:
            grows += [("conditional samples: accuracy", "conditional_accuracy", ".3f"),
                      ("  ratio to real through phase", "conditional_accuracy_ratio", ".3f")]
        grows += [
            ("inception score: real test", "real_test_inception_score", ".2f"),
            ("inception score: real through phase", "real_phase_inception_score", ".2f"),
            ("inception score: prior samples", "prior_inception_score", ".2f"),
            ("  ratio to real test", "prior_inception_score_ratio", ".3f"),
            ("Frechet distance to real test: prior samples", "prior_frechet_distance", ".2f"),
        ]
        if "conditional_frechet_distance" in gen:
            grows.append(("Frechet distance: conditional samples", "conditional_frechet_distance", ".2f"))
        grows.append(("Frechet distance: reconstructions (prior's ceiling)", "reconstruction_frechet_distance", ".2f"))
        grows.append(("Frechet distance: real through phase", "real_phase_frechet_distance", ".2f"))
        if "reference_frechet_distance" in gen:
            grows.append(("Frechet distance: real train clips (floor, median of sets)", "reference_frechet_distance",
                          ".2f"))
            if "conditional_frechet_ratio" in gen:
                grows.append(("  conditional samples / floor", "conditional_frechet_ratio", ".2f"))
        sections.append(TableSection(
            f"Generation, judged from audio by a classifier trained on the real training split "
            f"({gen.get('n_generate')} samples per kind; latent prior: {gen.get('latent_prior')})",
            ("judge 1", "judge 2"),
            tuple((name, (_fmt(gen.get(key), spec), _fmt(second.get(key), spec))) for name, key, spec in grows),
            legend=("(judge 1: the CNN on log-mel spectrograms; judge 2: cepstral statistics + logistic regression)",)))
    elif gen is None:
        sections.append(TableSection(
            "Generation: not scored (the data has no labels for a classifier, or no classifier was given)", (), ()))
    sections.extend(_diversity_tables(results.get("diversity")))
    sections.extend(_level_tables(results.get("levels")))
    return sections


def _level_tables(levels: Mapping[str, Any] | None) -> list[TableSection]:
    """The levels section as one table: per label, the real clips' median peak / active RMS and each model
    row's gaps (paired with the test clips for the ceiling and the reconstructions)."""
    if not levels:
        return []
    from .levels import ROWS

    def real(group: Mapping[str, Any] | None) -> str:
        return "-" if group is None else f"{group['peak_db']:.1f} / {group['rms_db']:.1f}"

    def gaps(group: Mapping[str, Any] | None) -> str:
        return "-" if group is None or "peak_gap_db" not in group else \
            f"{group['peak_gap_db']:+.1f} / {group['rms_gap_db']:+.1f}"

    rows = tuple((name, (real(v["real"]), *(gaps(v[row]) for row in ROWS))) for name, v in levels["per_label"].items())
    notes = []
    for row in ROWS:
        part = levels.get(row)
        if part and part["peak"]["labels"]:
            p, r = part["peak"], part["rms"]
            notes.append(f"{row}: median |gap| peak {p['median_abs_gap_db']:.1f} dB ({p['labels_within']} of "
                         f"{p['labels']} labels within {levels['tolerance_db']:g} dB), active RMS "
                         f"{r['median_abs_gap_db']:.1f} dB ({r['labels_within']} of {r['labels']})")
    return [TableSection("Levels per label: peak / active RMS, dBFS (median over clips; real: every split)",
                         ("real", "ceiling gap", "reconstruction gap", "samples gap"), rows, tuple(notes),
                         legend=("(ceiling and reconstruction: each test clip's level minus its original's, median "
                                 "per label; ceiling: the true magnitude through the phase step, what the phase step "
                                 "alone does to a level. Samples: their median minus the real clips' median)",))]


def _share(rows: Mapping[str, Any], row: str) -> float | None:
    """``row``'s median distance to its nearest training clip (1 - similarity) over the real test clips'."""
    value, real = (rows.get(row) or {}).get("nearest_train"), rows["real_test"]["nearest_train"]
    return None if not value or real["median"] >= 1.0 else (1.0 - value["median"]) / (1.0 - real["median"])


def _diversity_tables(div: Mapping[str, Any] | None) -> list[TableSection]:
    """The diversity section of the results as two tables: the rows, and the same per label."""
    if not div:
        return []
    rows = div["rows"]
    kind = div.get("samples_kind", "samples")
    by_label = (rows["samples"]["nearest_train"] or {}).get("per_label") is not None

    def median(row: str, part: str) -> float | None:
        return ((rows.get(row) or {}).get(part) or {}).get("median")

    names = [("real test clips", "real_test"), ("real training clips (nearest: another one)", "real_train"),
             (f"{kind} samples", "samples"),
             ("known bad: one sample repeated", "repeated"),
             ("known bad: training clips replayed through the model", "replayed")]
    real_nn, samples_nn = rows["real_test"]["nearest_train"], rows["samples"]["nearest_train"]
    tables = [TableSection(
        "Diversity and copying: log-mel similarity (median; 1.0 = the same clip)"
        + ("" if by_label else "; within: all pairs, the samples have no labels"),
        ("within label" if by_label else "between clips", "nearest train"),
        tuple((name, (_fmt(median(key, "within_label"), ".3f"), _fmt(median(key, "nearest_train"), ".3f")))
              for name, key in names if key in rows),
        legend=("(within: how alike two clips are, higher = less varied; nearest train: how close each clip is to "
                "its most similar training clip, higher = nearer a copy. Samples should sit by the real test "
                "clips, far from the known-bad rows)",),
        notes=(f"distance to the nearest training clip (1 - similarity) as a share of the real test clips': "
               f"samples {_fmt(_share(rows, 'samples'), '.2f')}, replayed training clips "
               f"{_fmt(_share(rows, 'replayed'), '.2f')}",
               f"nearest train, 10th-90th percentile: real test {real_nn['p10']:.3f}-{real_nn['p90']:.3f}, samples "
               f"{samples_nn['p10']:.3f}-{samples_nn['p90']:.3f}; searched among {div.get('n_reference')} clips of the "
               f"{div.get('reference', 'train split')}"))]
    if by_label:
        per = {key: (rows[key]["within_label"]["per_label"], rows[key]["nearest_train"]["per_label"])
               for key in ("real_test", "samples")}
        labels = list(dict.fromkeys([*per["samples"][0], *per["real_test"][0]]))
        gaps = any(per[key][0].get(label) is None for key in per for label in labels)
        tables.append(TableSection(
            "Diversity and copying per label (median log-mel similarity)",
            ("real within", "samples within", "samples nearest train", "real nearest train"),
            tuple((str(label), (_fmt(per["real_test"][0].get(label), ".3f"), _fmt(per["samples"][0].get(label), ".3f"),
                                _fmt(per["samples"][1].get(label), ".3f"), _fmt(per["real_test"][1].get(label), ".3f")))
                  for label in labels),
            notes=("-: fewer than two clips of the label, no pair to compare",) if gaps else ()))
    return tables


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell == "-"
    return True


def format_table(results: Mapping[str, Any]) -> str:
    """The results of :func:`evaluate` / :func:`evaluate_model` as a plain-text table."""
    lines: list[str] = []
    for section in table_sections(results):
        if lines:
            lines.append("")
        lines.append(section.title)
        if not section.rows:
            continue
        lines.extend(f"  {note}" for note in section.legend)
        width = max(len(name) for name, _ in section.rows)
        # each column as wide as its widest cell (at least 5); numbers right-aligned, text left-aligned
        table = [("", section.columns), *section.rows]  # the header, then the rows
        cell = [max(7 if len(section.columns) < 3 else 5, *(len(r[1][j]) for r in table))
                for j in range(len(section.columns))]
        numeric = [all(_numeric(r[1][j]) for r in section.rows) for j in range(len(section.columns))]
        for name, cells in table:
            text = "  ".join(f"{c:>{w}}" if right else f"{c:<{w}}" for c, w, right in zip(cells, cell, numeric))
            lines.append(f"  {name:{width}}  " + text.rstrip())
        lines.extend(f"  {note}" for note in section.notes)
    return "\n".join(lines)
