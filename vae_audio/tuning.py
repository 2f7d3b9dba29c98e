"""Settings chosen by measuring on the data: the same measurement for every dataset.

- :func:`choose_stft`: of the analyses in :func:`vae_audio.data.rules.stft_candidates`, the one whose phase
  ceiling (the clips' true magnitude through the package's phase step) the machine listener
  (:mod:`vae_audio.evaluation.listener`) tells from the clips least often, measured on up to
  :data:`STFT_CLIPS` clips outside the test split (ties, within :data:`STFT_TIE`, go to the shorter window:
  finer in time, a cheaper phase step). The ceiling bounds every model with that analysis.

:func:`vae_audio.resolve.resolve_config` calls these for the keys the user did not give; each returns
``(value, reason)`` like the rules of :mod:`vae_audio.data.rules`.

- :func:`choose_sampling`: after the prior is fitted, its sampling temperature and onset noise whose samples
  are heard as their label most often while as varied as the real validation clips.
- :func:`choose_postfilter`: after the autoencoder, whether the valley postfilter makes the validation
  reconstructions harder for the listener to tell.
- :func:`choose_texture`: whether the validation reconstructions, through the phase step, are smoother
  than :data:`TEXTURE_BAR` of the phase ceiling's roughness, so that the noise texture is drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["STFT_CLIPS", "STFT_MIN_CLIPS", "STFT_CLIPS_ENV", "stft_clips", "STFT_TIE", "TEMPERATURES", "ONSET_NOISES",
           "SAMPLING_CLIPS", "SIMILARITY_MARGIN", "choose_stft",
           "ceiling_accuracy", "choose_sampling", "choose_postfilter", "choose_texture", "TEXTURE_BAR",
           "TEXTURE_CHOICE_CLIPS"]

#: the noise texture is drawn when the reconstructions keep less than this share of the phase ceiling's
#: roughness (issue 40's bar: within 10 % of the ceiling's)
TEXTURE_BAR = 0.9
#: at most this many validation clips (seeded) measure it: the roughness is pooled over every active cell
TEXTURE_CHOICE_CLIPS = 64
#: at most this many clips (outside the test split, seeded) measure the phase ceilings; with fewer than
#: STFT_MIN_CLIPS (a listener's accuracy on 10 pairs is +-0.11) the 32 ms window is taken unmeasured
STFT_CLIPS = 100
STFT_MIN_CLIPS = 20
#: environment variable overriding STFT_CLIPS; 0 takes the 32 ms window unmeasured (quick runs, the test suite)
STFT_CLIPS_ENV = "VAE_AUDIO_STFT_CLIPS"
#: accuracies closer than this count as a tie
STFT_TIE = 0.01


def stft_clips() -> int:
    """How many clips measure the STFT choice: ``$VAE_AUDIO_STFT_CLIPS`` when set, else :data:`STFT_CLIPS`."""
    import os

    from .errors import ConfigError

    value = os.environ.get(STFT_CLIPS_ENV, "").strip()
    if not value:
        return STFT_CLIPS
    if not value.isdigit():
        raise ConfigError(f"${STFT_CLIPS_ENV}={value!r}: expected a whole number of clips (0: do not measure)")
    return int(value)


def ceiling_accuracy(audio: np.ndarray, sr: int, n_fft: int, hop_length: int, *, real_features=None,
                     seed: int = 0) -> dict[str, Any]:
    """The listener's paired accuracy on ``audio`` ``(n, samples)`` against its phase ceiling with this STFT
    (the dB spectrogram as a recipe makes it, floor included, then the default phase step)."""
    from .dsp.features import SpectrogramConfig
    from .dsp.phase import db_to_audio
    from .evaluation.listener import paired_test

    cfg = SpectrogramConfig(sr=sr, n_fft=n_fft, hop_length=hop_length, n_samples=audio.shape[1])
    ceiling = db_to_audio(cfg.spectrogram_db(audio), cfg)
    return paired_test(audio if real_features is None else real_features, ceiling, sr, seed=seed)


def choose_stft(audio: np.ndarray, sr: int, *, seed: int = 0) -> tuple[tuple[int, int], str, dict]:
    """``((n_fft, hop_length), reason, {"n_fft/hop": accuracy, ...})``: the analysis whose phase ceiling the
    listener hears least on ``audio`` ``(n, samples)`` at ``sr`` (see the module docstring)."""
    from .data.rules import default_stft, stft_candidates
    from .evaluation.listener import FOLDS, listener_features

    if len(audio) < max(STFT_MIN_CLIPS, 2 * FOLDS):
        n_fft, hop = default_stft(sr)
        return (n_fft, hop), f"{len(audio)} clips are too few to measure phase ceilings: the 32 ms window", {}
    real = listener_features(audio, sr)
    scores = {}
    for n_fft, hop in stft_candidates(sr):
        scores[(n_fft, hop)] = ceiling_accuracy(audio, sr, n_fft, hop, real_features=real, seed=seed)["accuracy"]
    best = min(scores.values())
    chosen = min((k for k, v in scores.items() if v <= best + STFT_TIE), key=lambda k: k[0])
    table = ", ".join(f"{n}/{h}: {v:.2f}" for (n, h), v in scores.items())
    reason = f"its phase ceiling is heard least on {len(audio)} clips (listener accuracy {table})"
    return chosen, reason, {f"{n}/{h}": round(v, 4) for (n, h), v in scores.items()}


# ----------------------------------------------------------------------------- the prior's sampling settings
#: the temperatures and onset noises (standardized latent units) the validation split chooses from
TEMPERATURES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
ONSET_NOISES = (0.2, 0.4, 0.6)
#: at most this many validation clips (and as many samples with their labels) score each candidate
SAMPLING_CLIPS = 200


#: a candidate's samples may be alike (median same-label similarity) at most this much more than the real
#: validation clips are
SIMILARITY_MARGIN = 0.03


def choose_sampling(model, features, *, seed: int = 0) -> tuple[dict[str, float], str, dict]:
    """The prior's sampling temperature (and onset noise, for a prior that starts from a training clip's
    onset) whose samples are heard as their label most often while as varied as the real validation clips.

    For each candidate, as many samples as validation clips (up to :data:`SAMPLING_CLIPS`, with their
    labels; rendered with the fast phase step) are scored by (1) the median log-mel similarity of two
    samples of the same label (:func:`vae_audio.evaluation.diversity.within_label_similarity`) against the
    validation clips' own, and (2) for a labelled model, how often a cepstral judge fitted on the training
    split hears their label. Of the candidates whose samples are at most :data:`SIMILARITY_MARGIN` more
    alike than the validation clips (or, when none is, than the most varied candidate), the one heard as
    its label most often wins (ties: the more varied). Temperatures first (at the prior's onset noise),
    then onset noises at the chosen temperature.

    Returns ``({"temperature": t, "onset_noise": s}, reason, scores)``; with fewer than 10 validation clips
    nothing is measured and the prior's own settings are returned.
    """
    from .dsp.phase import PHASE_SETTINGS
    from .evaluation.cepstral_judge import CepstralJudge
    from .evaluation.diversity import within_label_similarity

    prior = model.prior
    current = {"temperature": float(prior.default_temperature),
               "onset_noise": float(prior.start.bandwidth.flat[0]) if prior.draws_onset else 0.0}
    val = features.subset("val")
    if len(val) < 10:
        return current, f"{len(val)} validation clips are too few to measure: the prior's own", {}
    val = val.select(np.sort(np.random.default_rng([seed, 11]).permutation(len(val))[:SAMPLING_CLIPS]))
    sr = model.config.sr
    labels = val.labels.astype(np.int32) if model.label_names else None
    groups = labels  # the labels the similarity is taken within: none when no label has two validation clips
    real_similar = within_label_similarity(val.audio, groups, sr)["median"]
    if real_similar is None:
        groups = None
        real_similar = within_label_similarity(val.audio, None, sr)["median"]
    judge, real_heard = None, 1.0
    if labels is not None:
        train = features.subset("train")
        keep = np.sort(np.random.default_rng([seed, 12]).permutation(len(train))[:2000])
        judge = CepstralJudge().fit(train.audio[keep], train.labels[keep], sr=sr, label_names=model.label_names)
        real_heard = float(np.mean(judge.predict(val.audio, sr=sr) == labels))
    scores: dict[str, dict[str, float]] = {}

    def score(temperature: float, noise: float) -> dict[str, float]:
        key = f"t={temperature:g}, onset noise={noise:g}"
        if key not in scores:
            prior.set_sampling(onset_noise=noise)
            spec = model.generate(len(val), labels=labels, seed=seed + 21, temperature=temperature)
            audio = model.to_audio(spec, **PHASE_SETTINGS["fast"])
            heard = 1.0 if judge is None else float(np.mean(judge.predict(audio, sr=sr) == labels))
            scores[key] = {"similarity": round(float(within_label_similarity(audio, groups, sr)["median"]), 4),
                           "heard": round(heard, 4)}
        return scores[key]

    def best(candidates):
        rows = {c: score(*c) for c in candidates}
        # as varied as the clips, or as the model gets when no setting is: within the margin of that
        bound = max(real_similar, min(r["similarity"] for r in rows.values())) + SIMILARITY_MARGIN
        varied = [c for c, r in rows.items() if r["similarity"] <= bound]
        return max(varied, key=lambda c: (rows[c]["heard"], -rows[c]["similarity"]))

    try:
        t, _ = best([(t, current["onset_noise"]) for t in TEMPERATURES])
        s = best([(t, s) for s in ONSET_NOISES])[1] if prior.draws_onset else 0.0
    finally:
        prior.set_sampling(onset_noise=current["onset_noise"])
    chosen = scores[f"t={t:g}, onset noise={s:g}"] if prior.draws_onset else score(t, current["onset_noise"])
    reason = (f"of {len(scores)} settings, heard best while as varied as {len(val)} validation clips "
              f"(same-label similarity {chosen['similarity']:.2f}, clips {real_similar:.2f})"
              + (f" and heard as their label {chosen['heard']:.2f} of the time (clips {real_heard:.2f})"
                 if judge is not None else ""))
    return {"temperature": float(t), "onset_noise": float(s)}, reason, {
        "validation": {"similarity": round(float(real_similar), 4), "heard": round(real_heard, 4)}, **scores}


# ----------------------------------------------------------------------------- the postfilter
def choose_postfilter(model, features, postfilter, *, seed: int = 0) -> tuple[bool, str, dict]:
    """Whether the valley postfilter ``postfilter`` (fitted to ``model``'s training reconstructions) pays: the
    machine listener's paired accuracy on validation reconstructions with it against without it (lower is
    better; kept only when it is lower). Fewer than 10 validation clips: not kept."""
    from .evaluation.listener import FOLDS, listener_features, paired_test

    val = features.subset("val")
    if postfilter is None or len(val) < 2 * FOLDS:
        return False, f"{len(val)} validation clips are too few to measure it: none", {}
    val = val.select(np.sort(np.random.default_rng([seed, 13]).permutation(len(val))[:SAMPLING_CLIPS]))
    labels = val.labels.astype(np.int32) if model.label_names else None
    sr = model.config.sr
    real = listener_features(val.audio, sr)
    saved = model.postfilter
    try:
        model.postfilter = None
        without = paired_test(real, model.to_audio(model.reconstruct(val.x, labels)), sr, seed=seed)["accuracy"]
        model.postfilter = postfilter
        with_it = paired_test(real, model.to_audio(model.reconstruct(val.x, labels)), sr, seed=seed)["accuracy"]
    finally:
        model.postfilter = saved
    keep = with_it < without
    reason = (f"the listener tells {len(val)} validation reconstructions {with_it:.2f} of the time with it, "
              f"{without:.2f} without: {'kept' if keep else 'left out'}")
    return keep, reason, {"with": with_it, "without": without}


# ----------------------------------------------------------------------------- the noise texture
def choose_texture(model, features, fit, *, seed: int = 0) -> tuple[Any, str, dict]:
    """The noise texture to draw, or ``None``: the roughness (:func:`~vae_audio.dsp.texture.rendered_roughness`,
    summed over bands) of up to :data:`TEXTURE_CHOICE_CLIPS` validation reconstructions through the default phase
    step, as a share of the phase ceiling's (the clips' own spectrograms through it). Only when that share is
    below :data:`TEXTURE_BAR` is the texture fitted (``fit()``, e.g. :func:`vae_audio.training.fit_training_texture`)
    and measured again; it is drawn when it brings the share closer to 1. Fewer than 2 validation clips: none.
    Returns ``(texture or None, reason, {"without": share[, "with": share]})``."""
    from .dsp.texture import rendered_roughness

    val = features.subset("val")
    if len(val) < 2:
        return None, f"{len(val)} validation clips are too few to measure it: none", {}
    val = val.select(np.sort(np.random.default_rng([seed, 14]).permutation(len(val))[:TEXTURE_CHOICE_CLIPS]))
    labels = val.labels.astype(np.int32) if model.label_names else None
    recon = model.to_db(model.reconstruct(val.x, labels))
    ceiling = float(np.nansum(rendered_roughness(model.to_db(val.x), model.config)))
    without = float(np.nansum(rendered_roughness(recon, model.config))) / ceiling
    head = f"{len(val)} validation reconstructions keep {without:.2f} of the phase ceiling's roughness"
    if without >= TEXTURE_BAR:
        return None, f"{head}: none needed", {"without": without}
    texture = fit()
    if texture is None or not texture.active:
        return None, f"{head}, and no band of the training reconstructions is smoother: none", {"without": without}
    with_it = float(np.nansum(rendered_roughness(texture(recon, seed=seed), model.config))) / ceiling
    keep = abs(1.0 - with_it) < abs(1.0 - without)
    reason = f"{head} without it, {with_it:.2f} with it: {'drawn' if keep else 'left out'}"
    return (texture if keep else None), reason, {"without": without, "with": with_it}
