"""Generation with a trained model: prior and conditional samples, reconstructions, interpolation.

Everything here takes a loaded bundle (:func:`vae_audio.bundle.load_model`) and returns
waveforms ``(n, n_samples)`` float32 at ``model.config.sr``; the ``write_*`` functions put
them in ``.wav`` files after checking that they are real audio (finite, not silent).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .audio import load_audio, pad_or_truncate, write_wav
from .errors import AudioWriteError, ParameterError

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


def generate_audio(model, n: int, *, label: int | str | None = None, seed: int = 0,
                   **phase_kwargs: Any) -> np.ndarray:
    """Sample ``n`` clips from the prior (of class ``label`` for a conditional model).

    Returns waveforms ``(n, config.n_samples)`` float32.
    """
    n = _check_count(n)
    labels = None
    if label is not None:
        labels = np.full(n, model.label_index(label), dtype=np.int32)
    elif model.label_names:
        labels = np.random.default_rng(seed).integers(0, len(model.label_names), size=n).astype(np.int32)
    spec = model.generate(n, labels=labels, seed=seed)
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
    recon = model.reconstruct(x, labels=lab)
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
    ``overwrite``, so a failure never leaves some files of the batch written and others not.
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
    for y, p in zip(checked, paths):
        write_wav(p, y, sr)
    return paths


def generate_to_files(model, out_dir: str | os.PathLike, *, n: int = 8, label: int | str | None = None,
                      all_labels: bool = False, seed: int = 0, overwrite: bool = False) -> list[Path]:
    """``vae-audio generate``: write ``n`` prior samples (per label with ``all_labels``).

    File names: ``sample_000.wav`` for an unconditional model, ``<label>_000.wav`` otherwise.
    """
    n = _check_count(n)
    if all_labels and not model.label_names:
        raise ParameterError("--all-labels: this model is not conditional (it has no labels)")
    if label is not None and not model.label_names:
        raise ParameterError(f"--label {label}: this model is not conditional (it has no labels)")
    targets = list(model.label_names) if all_labels else [label]
    waves, names = [], []
    for k, target in enumerate(targets):
        audio = generate_audio(model, n, label=target, seed=seed + k)
        prefix = "sample" if target is None else str(model.label_names[model.label_index(target)])
        waves.append(audio)
        names += [f"{prefix}_{i:03d}" for i in range(n)]
    return write_clips(np.concatenate(waves), names, out_dir, model.config.sr, overwrite=overwrite)


def reconstruct_files(model, files: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
                      overwrite: bool = False) -> list[Path]:
    """``vae-audio reconstruct``: for each file write ``<stem>_original``, ``<stem>_ceiling``
    (true magnitude through the phase method) and ``<stem>_reconstruction`` WAVs."""
    if not files:
        raise ParameterError("files: give at least one audio file to reconstruct")
    waves = [load_audio(f, sr=model.config.sr)[0] for f in files]
    result = reconstruct_audio(model, np.stack([pad_or_truncate(w, model.config.n_samples) for w in waves]))
    clips, names = [], []
    for i, f in enumerate(files):
        stem = Path(f).stem
        for kind in ("original", "ceiling", "reconstruction"):
            clips.append(result[kind][i])
            names.append(f"{stem}_{kind}")
    return write_clips(np.stack(clips), names, out_dir, model.config.sr, overwrite=overwrite)


def write_training_samples(model, features, out_dir: str | os.PathLike, *, n: int = 8, seed: int = 0) -> list[Path]:
    """After training: ``n`` prior samples plus ``n`` test clips with their reconstructions and ceilings."""
    test = features.subset("test") if np.any(features.split == "test") else features.subset("train")
    k = min(n, len(test.labels))
    idx = np.random.default_rng(seed).choice(len(test.labels), size=k, replace=False)
    labels = test.labels[idx] if model.label_names else None
    rec = reconstruct_audio(model, test.audio[idx], labels=labels)
    prior = generate_audio(model, n, seed=seed)
    clips = [prior] + [rec[kind] for kind in ("original", "ceiling", "reconstruction")]
    names = [f"prior_{i:03d}" for i in range(n)]
    for kind in ("original", "ceiling", "reconstruction"):
        names += [f"test{j:03d}_{kind}" for j in range(k)]
    return write_clips(np.concatenate(clips), names, out_dir, model.config.sr, overwrite=True)
