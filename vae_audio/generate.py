"""Generation with a trained model: prior and conditional samples, reconstructions, interpolation.

Everything here takes a loaded bundle (:func:`vae_audio.bundle.load_model`) and returns
waveforms ``(n, n_samples)`` float32 at ``model.config.sr``; the ``write_*`` functions put
them in ``.wav`` files after checking that they are real audio (finite, not silent).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .audio import load_audio, pad_or_truncate, write_wav
from .errors import AudioWriteError, BundleError, ParameterError
from .fileio import atomic_path

__all__ = [
    "MAX_GENERATE",
    "featurize_waveforms",
    "generate_audio",
    "reconstruct_audio",
    "interpolate",
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
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= MAX_GENERATE:
        raise ParameterError(f"{name}={n!r}: expected a whole number from 1 to {MAX_GENERATE}")
    return int(n)


def featurize_waveforms(model, waveforms: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Waveforms ``(n, samples)`` at ``model.config.sr`` -> normalized spectrograms and their stats.

    Pads/truncates to ``config.n_samples``, takes the dB spectrogram and normalizes with the
    model's own normalizer. Returns ``(x, stats)``: ``x`` is ``(n, freq, frames)`` in [0, 1],
    ``stats`` the per-clip dB ranges that :meth:`Normalizer.unnormalize` needs.
    """
    cfg = model.config
    y = pad_or_truncate(np.atleast_2d(np.asarray(waveforms, dtype=np.float32)), cfg.n_samples)
    return model.normalizer.normalize(cfg.spectrogram_db(y), return_stats=True)


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


def _check_decoded(model, spec: np.ndarray) -> np.ndarray:
    """Refuse decoder output that is not a spectrogram (NaN/inf: corrupt weights or a diverged run)."""
    if not np.all(np.isfinite(spec)):
        where = model.directory if getattr(model, "directory", None) is not None else "the model (in memory)"
        raise BundleError(f"{where}: the decoder output contains NaN or infinite values (corrupt weights or a "
                          f"diverged training run); no audio made")
    return spec


def generate_audio(model, n: int, *, label: int | str | None = None, seed: int = 0, prior: str = "auto",
                   temperature: float = 1.0, **phase_kwargs: Any) -> np.ndarray:
    """Sample ``n`` clips from the prior (of class ``label`` for a conditional model).

    ``prior`` and ``temperature`` choose the latent distribution (see
    :meth:`vae_audio.bundle.TrainedModel.sample_latents`: by default the latent prior fitted
    to the training codes when the model has one, else ``N(0, I)``).
    Returns waveforms ``(n, config.n_samples)`` float32.
    """
    n = _check_count(n)
    labels = None
    if label is not None:
        labels = np.full(n, model.label_index(label), dtype=np.int32)
    elif model.label_names:
        labels = np.random.default_rng(seed).integers(0, len(model.label_names), size=n).astype(np.int32)
    spec = _check_decoded(model, model.generate(n, labels=labels, seed=seed, prior=prior, temperature=temperature))
    return model.to_audio(spec, **phase_kwargs)


def reconstruct_audio(model, waveforms: np.ndarray, *, labels: Sequence[int] | None = None,
                      **phase_kwargs: Any) -> dict[str, np.ndarray]:
    """Encode and decode clips, returning audio for comparison.

    Parameters
    ----------
    waveforms : ``(n, samples)`` at ``model.config.sr`` (padded/truncated here).
    labels : class indices for a conditional model.

    Returns
    -------
    dict of ``(n, n_samples)`` arrays: ``"original"`` (padded input), ``"ceiling"`` (the
    ground-truth magnitude through the same phase method: the best any model can sound),
    ``"reconstruction"`` (the model's magnitude through the phase method).
    """
    cfg = model.config
    original = pad_or_truncate(np.atleast_2d(np.asarray(waveforms, dtype=np.float32)), cfg.n_samples)
    x, stats = featurize_waveforms(model, original)
    lab = None if labels is None else np.asarray(labels, dtype=np.int32)
    recon = _check_decoded(model, model.reconstruct(x, labels=lab))
    ceiling_db = model.normalizer.unnormalize(x, stats)
    from .phase import db_to_audio

    return {
        "original": original,
        "ceiling": db_to_audio(ceiling_db, cfg, **phase_kwargs),
        "reconstruction": db_to_audio(model.normalizer.unnormalize(recon, stats), cfg, **phase_kwargs),
    }


def interpolate(model, clip_a: np.ndarray, clip_b: np.ndarray, *, steps: int = 8,
                label: int | str | None = None, **phase_kwargs: Any) -> np.ndarray:
    """Decode ``steps`` points on the straight line between the latent means of two clips.

    ``clip_a``/``clip_b`` are waveforms at ``model.config.sr``. Returns ``(steps, n_samples)``;
    the first and last rows are the reconstructions of the two clips.
    """
    steps = _check_count(steps, "steps")
    if steps < 2:
        raise ParameterError(f"steps={steps}: an interpolation needs at least 2 points")
    x, _ = featurize_waveforms(model, np.stack([pad_or_truncate(np.asarray(c, np.float32), model.config.n_samples)
                                                for c in (clip_a, clip_b)]))
    labels = None
    if model.label_names:
        idx = model.label_index(label) if label is not None else 0
        labels = np.full(2, idx, dtype=np.int32)
    z_mean, _ = model.encode(x, labels=labels)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    z = (1.0 - t) * z_mean[0] + t * z_mean[1]
    spec = model.decode(z, labels=None if labels is None else np.full(steps, labels[0], dtype=np.int32))
    return model.to_audio(spec, **phase_kwargs)


def write_clips(waveforms: np.ndarray, names: Sequence[str], out_dir: str | os.PathLike, sr: int, *,
                overwrite: bool = False) -> list[Path]:
    """Check and write clips ``(n, samples)`` as ``out_dir/<name>.wav``; return the paths.

    Every clip is checked first (:func:`check_audio`), and existing files are refused unless
    ``overwrite``. All files are written under temporary names and renamed into place only once
    every one of them is complete, so a failure (bad clip, full disk) leaves none of the batch.
    """
    out = Path(out_dir)
    waves = np.atleast_2d(np.asarray(waveforms))
    if len(names) != len(waves):
        raise ParameterError(f"names: {len(names)} names for {len(waves)} clips")
    paths = [out / f"{name}.wav" for name in names]
    checked = [check_audio(y, str(p)) for y, p in zip(waves, paths)]
    if not overwrite:
        existing = [str(p) for p in paths if p.exists()]
        if existing:
            raise AudioWriteError(f"{existing[0]}: already exists ({len(existing)} of {len(paths)} files); "
                                  f"pass --overwrite or choose another --out")
    dup = next((p for i, p in enumerate(paths) if p in paths[:i]), None)
    if dup is not None:
        raise ParameterError(f"{dup}: two clips would be written to this same file (inputs with the same name?)")
    with contextlib.ExitStack() as stack:
        for y, p in zip(checked, paths):
            tmp = stack.enter_context(atomic_path(p))  # renamed onto p when the stack closes without error
            try:
                write_wav(tmp, y, sr)
            except AudioWriteError as exc:
                raise AudioWriteError(str(exc).replace(str(tmp), str(p))) from None
    return paths


def generate_to_files(model, out_dir: str | os.PathLike, *, n: int = 8, label: int | str | None = None,
                      all_labels: bool = False, seed: int = 0, prior: str = "auto", temperature: float = 1.0,
                      overwrite: bool = False) -> list[Path]:
    """``vae-audio generate``: write ``n`` prior samples (per label with ``all_labels``).

    File names: ``sample_000.wav`` for an unconditional model, ``<label>_000.wav`` otherwise.
    ``prior`` / ``temperature``: as in :func:`generate_audio`.
    """
    n = _check_count(n)
    if all_labels and not model.label_names:
        raise ParameterError("--all-labels: this model is not conditional (it has no labels)")
    if label is not None and not model.label_names:
        raise ParameterError(f"--label {label}: this model is not conditional (it has no labels)")
    targets = list(model.label_names) if all_labels else [label]
    waves, names = [], []
    for k, target in enumerate(targets):
        audio = generate_audio(model, n, label=target, seed=seed + k, prior=prior, temperature=temperature)
        prefix = "sample" if target is None else str(model.label_names[model.label_index(target)])
        waves.append(audio)
        names += [f"{prefix}_{i:03d}" for i in range(n)]
    return write_clips(np.concatenate(waves), names, out_dir, model.config.sr, overwrite=overwrite)


def reconstruct_files(model, files: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                      label: int | str | None = None, overwrite: bool = False) -> list[Path]:
    """``vae-audio reconstruct``: for each file write ``<stem>_original``, ``<stem>_ceiling``
    (true magnitude through the phase method) and ``<stem>_reconstruction`` WAVs.

    A conditional model needs the files' class as ``label`` (name or index). Files that are
    silent over the model's clip length are refused (there is nothing to reconstruct).
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
    waves = [pad_or_truncate(load_audio(f, sr=model.config.sr)[0], model.config.n_samples) for f in files]
    for f, w in zip(files, waves):
        if not np.any(w):
            raise ParameterError(f"{f}: the audio is silent (all zeros) over the model's clip length of "
                                 f"{model.config.duration:.3f} s; nothing to reconstruct")
    result = reconstruct_audio(model, np.stack(waves), labels=labels)
    clips, names = [], []
    for i, f in enumerate(files):
        stem = Path(f).stem
        for kind in ("original", "ceiling", "reconstruction"):
            clips.append(result[kind][i])
            names.append(f"{stem}_{kind}")
    return write_clips(np.stack(clips), names, out_dir, model.config.sr, overwrite=overwrite)


def write_training_samples(model, features, out_dir: str | os.PathLike, *, n: int = 8, seed: int = 0) -> list[Path]:
    """After training: ``n`` prior samples plus ``n`` test clips with their reconstructions and ceilings."""
    from .bundle import check_compatible

    check_compatible(model.config, features.config, data_name=f"the data {features.name!r}")
    test = features.subset("test") if np.any(features.split == "test") else features.subset("train")
    audible = np.flatnonzero(np.any(test.audio != 0, axis=1))  # a silent clip has nothing to reconstruct
    k = min(n, len(audible))
    idx = np.random.default_rng(seed).choice(audible, size=k, replace=False)
    labels = test.labels[idx] if model.label_names else None
    prior = generate_audio(model, n, seed=seed)
    clips = [prior]
    if k:
        rec = reconstruct_audio(model, test.audio[idx], labels=labels)
        clips += [rec[kind] for kind in ("original", "ceiling", "reconstruction")]
    names = [f"prior_{i:03d}" for i in range(n)]
    for kind in ("original", "ceiling", "reconstruction"):
        names += [f"test{j:03d}_{kind}" for j in range(k)]
    return write_clips(np.concatenate(clips), names, out_dir, model.config.sr, overwrite=True)
