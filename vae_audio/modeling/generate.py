"""Generation with a trained model: prior and conditional samples, reconstructions, interpolation.

Everything here takes a loaded bundle (:func:`vae_audio.modeling.bundle.load_model`) and returns
waveforms ``(n, n_samples)`` float32 at ``model.config.sr``; the ``write_*`` functions put
them in ``.wav`` files after checking that they are real audio (finite, not silent).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import checks
from ..dsp.audio import encode_wav, load_audio, pad_or_truncate
from ..errors import AudioWriteError, ParameterError
from ..fileio import atomic_write_files

__all__ = [
    "MAX_GENERATE",
    "MAX_SECONDS",
    "check_seconds",
    "prepare_clips",
    "generate_audio",
    "reconstruct_audio",
    "interpolate",
    "interpolate_prior",
    "check_audio",
    "write_clips",
    "generate_to_files",
    "reconstruct_files",
    "write_training_samples",
]

#: The most clips one call generates (protects against ``--n 10**9`` typos).
MAX_GENERATE = 10_000
#: Generated audio whose peak exceeds this is scaled down to it before writing.
PEAK_LIMIT = 0.99


def _check_count(n: Any, name: str = "n") -> int:
    return checks.whole_number(n, name, 1, MAX_GENERATE)


def prepare_clips(model, waveforms: np.ndarray | Sequence[np.ndarray], *,
                  names: Sequence[str] | None = None, length: int | None = None,
                  prepared: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Clips at ``model.recipe.sr`` -> the model's input waveforms and the level gains to undo.

    ``waveforms`` is ``(n, samples)`` or a sequence of 1-D clips of any lengths. Each goes through
    :meth:`vae_audio.dsp.recipe.Recipe.prepare` (trim, pad/truncate to ``length``, default the window,
    level). Returns ``(prepared (n, length), gain (n, 1))``; divide by ``gain`` to get back to a
    clip's own level: the per-clip level's gain (``"peak"``, ``"rms"``), else 1 (``"folder"``: the
    folder gain is not undone, a clip stays at the folder's level, quiet where it was quiet).
    ``prepared=True``: the clips already went through the recipe (``features.audio``); they are only
    padded/truncated to ``length`` and the gain is 1 (preparing them again would apply a folder gain
    twice). A clip that is silent after preparation is refused, named by ``names[i]`` (or its index).
    """
    recipe = model.recipe
    if prepared:
        clips = [np.asarray(w, dtype=np.float32) for w in waveforms]
        if not clips:
            raise ParameterError("waveforms: no clips given")
        out = np.stack([pad_or_truncate(w, recipe.n_samples if length is None else int(length)) for w in clips])
        return _refuse_silent(out, names, recipe), np.ones((len(out), 1), dtype=np.float32)
    if isinstance(waveforms, np.ndarray):
        prepared, gain = recipe.prepare(np.atleast_2d(waveforms), length=length, return_gain=True)
    else:
        pairs = [recipe.prepare(np.asarray(w, dtype=np.float32), length=length, return_gain=True) for w in waveforms]
        if not pairs:
            raise ParameterError("waveforms: no clips given")
        prepared, gain = np.stack([p for p, _ in pairs]), np.stack([g for _, g in pairs])
    if not recipe.per_clip_level:
        gain = np.ones_like(gain)
    return _refuse_silent(prepared, names, recipe), gain


def _refuse_silent(prepared: np.ndarray, names: Sequence[str] | None, recipe) -> np.ndarray:
    for i in np.flatnonzero(~np.any(prepared != 0, axis=1)):
        what = names[i] if names is not None else f"waveforms[{i}]"
        raise ParameterError(f"{what}: the audio is silent (all zeros) over the model's clip length of "
                             f"{prepared.shape[1] / recipe.sr:.3f} s; nothing to reconstruct")
    return prepared


def check_audio(y: np.ndarray, what: str) -> np.ndarray:
    """Refuse generated audio that is not real sound: NaN/inf samples or all zeros.

    ``y`` is ``(n_samples,)``; returns it scaled down to a peak of ``PEAK_LIMIT`` if it is louder.
    Raises :class:`AudioWriteError` naming ``what``.
    """
    y = np.asarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise AudioWriteError(f"{what}: generated audio contains NaN or infinite samples; not written")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak == 0.0:
        raise AudioWriteError(f"{what}: generated audio is all zeros (silence); not written")
    if peak > PEAK_LIMIT:
        y = y * (PEAK_LIMIT / peak)
    return y


#: The longest clip ``seconds`` asks for (a grid model's latent grows with it; 10 min of audio is plenty).
MAX_SECONDS = 600.0


def check_seconds(seconds: Any, model) -> int | None:
    """``seconds`` (``None``: the training window) as a number of spectrogram frames of ``model``."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)) \
            or not np.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
        raise ParameterError(f"--seconds {seconds!r}: expected a length in seconds, more than 0 and at most "
                             f"{MAX_SECONDS:g}")
    if not model.fully_convolutional:
        raise ParameterError(f"--seconds {seconds!r}: this model makes only clips of its training window "
                             f"({model.config.duration:.3f} s); a grid model generates any length")
    return model.frames_for(float(seconds))


def generate_audio(model, n: int, *, label: int | str | None = None, seed: int = 0, prior: str = "auto",
                   temperature: float | None = None, guidance: float | None = None, seconds: float | None = None,
                   **phase_kwargs: Any) -> np.ndarray:
    """Sample ``n`` clips from the prior (of class ``label`` for a conditional model).

    ``prior``, ``temperature`` and ``guidance`` choose the latent distribution (see
    :meth:`vae_audio.modeling.inference.TrainedModel.sample_latents`: by default the latent prior fitted
    to the training codes when the model has one, else ``N(0, I)``). ``seconds`` (grid models)
    asks for clips of another length than the training window.
    Returns waveforms ``(n, samples)`` float32 (``config.n_samples`` by default).
    """
    n = _check_count(n)
    frames = check_seconds(seconds, model)
    labels = None
    if label is not None:
        labels = np.full(n, model.label_index(label), dtype=np.int32)
    elif model.label_names:
        labels = np.random.default_rng(seed).integers(0, len(model.label_names), size=n).astype(np.int32)
    spec = model.generate(n, labels=labels, seed=seed, prior=prior, temperature=temperature, guidance=guidance,
                          frames=frames)
    return model.to_audio(spec, **phase_kwargs)


def reconstruct_audio(model, waveforms: np.ndarray | Sequence[np.ndarray], *, labels: Sequence[int] | None = None,
                      names: Sequence[str] | None = None, whole: bool = False, prepared: bool = False,
                      **phase_kwargs: Any) -> dict[str, np.ndarray | list[np.ndarray]]:
    """Encode and decode clips, returning audio for comparison, at each input clip's own level
    (a model with ``level="folder"``: at the folder's level).

    Parameters
    ----------
    waveforms : ``(n, samples)`` or a sequence of 1-D clips at ``model.recipe.sr``; each is prepared
        by the model's recipe (trim, pad/truncate, level normalization) as in training.
    prepared : the clips already went through the model's recipe (``features.audio`` of data
        featurized with it): they are used as they are (see :func:`prepare_clips`).
    labels : class indices for a conditional model.
    names : what to call each clip in error messages (default: its index).
    whole : keep each clip's full length instead of the training window (a fully convolutional
        model only, see :attr:`TrainedModel.fully_convolutional`); shorter clips are padded to
        the window. The results are then lists of 1-D arrays, one per clip.

    Returns
    -------
    dict of ``(n, n_samples)`` arrays (``whole``: lists): ``"original"`` (the input,
    padded/truncated), ``"ceiling"`` (the ground-truth magnitude through the same phase method:
    the best any model can sound), ``"reconstruction"`` (the model's magnitude through the phase
    method). The model works on level-normalized clips; with a per-clip level all three are
    scaled back by the inverse gain. The folder gain (``level="folder"``) is not undone: the three
    are at the folder's level, like the model's samples, so a file recorded 20 dB under the
    folder's clips comes back 20 dB under them.
    """
    lab = None if labels is None else np.asarray(labels, dtype=np.int32)
    if not whole:
        clips, gain = prepare_clips(model, waveforms, names=names, prepared=prepared)
        return _reconstruct_prepared(model, clips, gain, lab, phase_kwargs)
    if not model.fully_convolutional:
        raise ParameterError("whole=True: this model takes only its training window "
                             f"({model.recipe.spectrogram.duration:.3f} s); a grid model reconstructs any length")
    out: dict[str, list[np.ndarray]] = {"original": [], "ceiling": [], "reconstruction": []}
    for i, w in enumerate(waveforms):
        w = np.asarray(w, dtype=np.float32)
        clips, gain = prepare_clips(model, w[None], names=None if names is None else [names[i]],
                                    length=max(model.recipe.n_samples, w.shape[-1]), prepared=prepared)
        one = _reconstruct_prepared(model, clips, gain, None if lab is None else lab[i:i + 1], phase_kwargs)
        for kind in out:
            out[kind].append(one[kind][0])
    return out


def _reconstruct_prepared(model, prepared: np.ndarray, gain: np.ndarray, labels, phase_kwargs) -> dict[str, np.ndarray]:
    """The three versions of prepared clips ``(n, samples)`` (any length for a grid model), at the inputs' level:
    the ceiling (their own spectrograms through the phase step) and the reconstruction (through the model's
    :meth:`~vae_audio.modeling.inference.TrainedModel.render`, its noise texture included)."""
    from ..dsp.phase import db_to_audio

    recipe = model.recipe
    config = recipe.spectrogram
    if prepared.shape[1] != config.n_samples:
        config = config.replace(n_samples=prepared.shape[1])
    x, stats = recipe.featurize(prepared, prepared=True, return_stats=True)
    recon = model.reconstruct(x, labels=labels)
    return {
        "original": prepared / gain,
        "ceiling": db_to_audio(recipe.to_db(x, stats), config, **phase_kwargs) / gain,
        "reconstruction": model.render(recipe.to_db(recon, stats), n_samples=prepared.shape[1], **phase_kwargs) / gain,
    }


def interpolate(model, clip_a: np.ndarray, clip_b: np.ndarray, *, steps: int = 8,
                label: int | str | None = None, prepared: bool = False, **phase_kwargs: Any) -> np.ndarray:
    """Decode ``steps`` points on the straight line between the latent means of two clips.

    ``clip_a``/``clip_b`` are waveforms at ``model.recipe.sr`` (prepared by the model's recipe, unless
    ``prepared``: they already were, e.g. rows of ``features.audio``).
    Returns ``(steps, n_samples)``; the first and last rows are the reconstructions of the two clips.
    """
    steps = _check_count(steps, "steps")
    if steps < 2:
        raise ParameterError(f"steps={steps}: an interpolation needs at least 2 points")
    clips, _ = prepare_clips(model, [clip_a, clip_b], names=["clip_a", "clip_b"], prepared=prepared)
    x = model.recipe.featurize(clips, prepared=True)
    labels = None
    if model.label_names:
        idx = model.label_index(label) if label is not None else 0
        labels = np.full(2, idx, dtype=np.int32)
    z_mean, _ = model.encode(x, labels=labels)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape((steps,) + (1,) * (z_mean.ndim - 1))
    z = (1.0 - t) * z_mean[0] + t * z_mean[1]  # a vector latent (steps, d) or a grid (steps, F', T', C)
    spec = model.decode(z, labels=None if labels is None else np.full(steps, labels[0], dtype=np.int32))
    return model.to_audio(spec, **phase_kwargs)


def interpolate_prior(model, *, steps: int = 8, label: int | str | None = None, seeds: tuple[int, int] = (0, 1),
                      frames: int | None = None, temperature: float | None = None, **phase_kwargs: Any) -> np.ndarray:
    """Decode ``steps`` samples of a grid model's learned prior along a path in the prior's own latent.

    The prior turns standard-normal draws into codes deterministically (see
    :meth:`vae_audio.modeling.grid_prior.GridPrior.sample`); the two ends are the draws of ``seeds`` and the
    points between lie on the great circle joining them (:func:`vae_audio.modeling.grid_prior.slerp`), so
    every point is itself a typical draw and decodes to a sample of the requested ``label``. A
    prior that draws each sample's start (clip summary, onset) moves it on the straight line
    between the two ends' starts.
    (Mixing two grid codes directly, as :func:`interpolate` does, blends two spectrograms rather
    than morphing one sound into another.) ``frames``: spectrogram frames per sample (default:
    the training window). Returns waveforms ``(steps, n_samples)``.
    """
    from .grid_prior import prior_noise, slerp

    steps = _check_count(steps, "steps")
    if steps < 2:
        raise ParameterError(f"steps={steps}: an interpolation needs at least 2 points")
    if not (model.fully_convolutional and getattr(model.prior, "kind", None) is not None):
        raise ParameterError("interpolate_prior: needs a grid model with a learned prior; use interpolate() "
                             "between two clips instead")
    if not (isinstance(seeds, (tuple, list)) and len(seeds) == 2):
        raise ParameterError(f"seeds={seeds!r}: expected two seeds, one per end")
    if frames is not None:
        checks.whole_number(frames, "frames", 1)
    if temperature is not None:
        checks.number(temperature, "temperature", 0)
    prior, columns = model.prior, model.latent_shape(frames)[1]
    a, b = (prior_noise(1, columns, prior.dim, checks.seed(s))[0] for s in seeds)
    lab = None
    if model.label_names:
        lab = np.full(steps, model.label_index(label) if label is not None else 0, dtype=np.int32)
    summaries = None
    if prior.start is not None:  # the two ends' starts (onset, clip summary), and the straight line between them
        ends = [prior.sample_summaries(1, None if lab is None else lab[:1], seed=s) for s in seeds]
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        summaries = (1.0 - t) * ends[0] + t * ends[1]
    z = prior.sample(steps, lab, frames=columns, temperature=temperature, noise=slerp(a, b, steps),
                     summaries=summaries)
    return model.to_audio(model.decode(z, lab, frames=frames), **phase_kwargs)


def write_clips(waveforms: np.ndarray | Sequence[np.ndarray], names: Sequence[str], out_dir: str | os.PathLike,
                sr: int, *, overwrite: bool = False) -> list[Path]:
    """Check and write clips ``(n, samples)`` (or a list of 1-D clips of any lengths) as
    ``out_dir/<name>.wav``; return the paths.

    Every clip is checked first (:func:`check_audio`), and existing files are refused unless
    ``overwrite``. All files are written under temporary names and renamed into place only once
    every one of them is complete, so a failure (bad clip, full disk) leaves none of the batch.
    """
    out = Path(out_dir)
    waves = np.atleast_2d(np.asarray(waveforms)) if isinstance(waveforms, np.ndarray) else list(waveforms)
    if len(names) != len(waves):
        raise ParameterError(f"names: {len(names)} names for {len(waves)} clips")
    paths = [out / f"{name}.wav" for name in names]
    checked = [check_audio(y, str(p)) for y, p in zip(waves, paths)]
    if not overwrite:
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            raise AudioWriteError(f"{existing[0]}: already exists ({len(existing)} of {len(paths)} files); "
                                  f"pass --overwrite or choose another --out")
    seen: set[Path] = set()
    dup = next((p for p in paths if p in seen or seen.add(p)), None)
    if dup is not None:
        raise ParameterError(f"{dup}: two clips would be written to this same file (inputs with the same name?)")
    encoded = [(p, encode_wav(y, sr, name=str(p))) for y, p in zip(checked, paths)]
    try:
        atomic_write_files(encoded)
    except OSError as exc:
        raise AudioWriteError(f"{exc.filename}: cannot write WAV ({exc.strerror or exc})") from None
    return paths


def generate_to_files(model, out_dir: str | os.PathLike, *, n: int = 8, label: int | str | None = None,
                      all_labels: bool = False, seed: int = 0, prior: str = "auto", temperature: float | None = None,
                      guidance: float | None = None, seconds: float | None = None, phase: str = "quality",
                      overwrite: bool = False) -> list[Path]:
    """``vae-audio generate``: write ``n`` prior samples (per label with ``all_labels``).

    File names: ``sample_000.wav`` for an unconditional model, ``<label>_000.wav`` otherwise.
    ``prior`` / ``temperature`` / ``guidance`` / ``seconds``: as in :func:`generate_audio`.
    ``phase``: a named phase setting, ``"quality"`` (default) or ``"fast"`` for bulk generation
    (:data:`vae_audio.dsp.phase.PHASE_SETTINGS`).
    """
    from ..dsp.phase import PHASE_SETTINGS

    if phase not in PHASE_SETTINGS:
        raise ParameterError(f"phase={phase!r}: expected one of {', '.join(map(repr, PHASE_SETTINGS))}")
    n = _check_count(n)
    check_seconds(seconds, model)
    if all_labels and not model.label_names:
        raise ParameterError("--all-labels: this model is not conditional (it has no labels)")
    if label is not None and not model.label_names:
        raise ParameterError(f"--label {label}: this model is not conditional (it has no labels)")
    targets = list(model.label_names) if all_labels else [label]
    waves, names = [], []
    for k, target in enumerate(targets):
        audio = generate_audio(model, n, label=target, seed=seed + k, prior=prior, temperature=temperature,
                               guidance=guidance, seconds=seconds, **PHASE_SETTINGS[phase])
        prefix = "sample" if target is None else str(model.label_names[model.label_index(target)])
        waves.append(audio)
        names += [f"{prefix}_{i:03d}" for i in range(n)]
    return write_clips(np.concatenate(waves), names, out_dir, model.config.sr, overwrite=overwrite)


def reconstruct_files(model, files: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                      label: int | str | None = None, overwrite: bool = False) -> list[Path]:
    """``vae-audio reconstruct``: for each file write ``<stem>_original``, ``<stem>_ceiling``
    (true magnitude through the phase method) and ``<stem>_reconstruction`` WAVs.

    A conditional model needs the files' class as ``label`` (name or index). A fully
    convolutional (grid) model reconstructs each file whole, however long; other models take
    the first ``config.duration`` seconds. Files that are silent over that length are refused
    (there is nothing to reconstruct).
    """
    if not files:
        raise ParameterError("files: give at least one audio file to reconstruct")
    labels = None
    if model.label_names:
        if label is None:
            raise ParameterError(f"--label: this model is conditional on {list(model.label_names)}; "
                                 f"say which class the files are with --label")
        labels = np.full(len(files), model.label_index(label), dtype=np.int32)
    elif label is not None:
        raise ParameterError(f"--label {label}: this model is not conditional (it has no labels)")
    waves = [load_audio(f, sr=model.recipe.sr)[0] for f in files]
    result = reconstruct_audio(model, waves, labels=labels, names=[str(f) for f in files],
                               whole=model.fully_convolutional)
    clips, names = [], []
    for i, f in enumerate(files):
        stem = Path(f).stem
        for kind in ("original", "ceiling", "reconstruction"):
            clips.append(result[kind][i])
            names.append(f"{stem}_{kind}")
    return write_clips(clips, names, out_dir, model.config.sr, overwrite=overwrite)


def write_training_samples(model, features, out_dir: str | os.PathLike, *, n: int = 8, seed: int = 0) -> list[Path]:
    """After training: ``n`` prior samples plus ``n`` test clips with their reconstructions and ceilings."""
    from .inference import check_compatible

    check_compatible(model.config, features.config, data_name=f"the data {features.name!r}")
    test = features.subset("test") if np.any(features.split == "test") else features.subset("train")
    audible = np.flatnonzero(np.any(test.audio != 0, axis=1))  # a silent clip has nothing to reconstruct
    k = min(n, len(audible))
    idx = np.random.default_rng(seed).choice(audible, size=k, replace=False)
    labels = test.labels[idx] if model.label_names else None
    prior = generate_audio(model, n, seed=seed)
    clips = [prior]
    if k:
        rec = reconstruct_audio(model, test.audio[idx], labels=labels, prepared=True)
        clips += [rec[kind] for kind in ("original", "ceiling", "reconstruction")]
    names = [f"prior_{i:03d}" for i in range(n)]
    for kind in ("original", "ceiling", "reconstruction"):
        names += [f"test{j:03d}_{kind}" for j in range(k)]
    return write_clips(np.concatenate(clips), names, out_dir, model.config.sr, overwrite=True)
