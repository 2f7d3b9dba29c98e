"""Saved model bundles: a folder holding everything needed to generate audio.

Layout of a bundle folder::

    MODEL/
      encoder.keras    the encoder (Keras 3 format)
      decoder.keras    the decoder (Keras 3 format)
      config.json      the preprocessing recipe (spectrogram config, level normalization, silence
                       trim, normalizer statistics), the run's resolved configuration
                       (:class:`vae_audio.config.RunConfig`, under ``"config"``), architecture and VAE
                       settings, the training's outcome, label names, format/package/library versions
                       and the SHA-256 of every other file
      prior.npz        (optional, vector latents) the Gaussian mixture fitted to the training
                       codes (:class:`~vae_audio.modeling.latent_prior.LatentPrior`)
      prior.keras      (optional, grid latents) the learned prior network
                       (:class:`~vae_audio.modeling.grid_prior.GridPrior`); its family, version, latent
                       layout and standardization are in ``config.json["latent_prior"]``
      prior_summary.npz  (a grid prior with a clip summary or an onset) the summary's projection
                       and the density each sample's start (onset, summary) is drawn from

Generation samples from the prior instead of N(0, I) when the bundle has one.

:func:`save_model` writes the folder atomically (a crash never leaves a half-written bundle,
and a previous bundle stays intact until the new one is complete). :func:`load_model` checks
every file and returns a :class:`~vae_audio.modeling.inference.TrainedModel` that encodes, decodes,
generates and turns spectrograms into audio with nothing else supplied. A bundle with a missing or corrupt file,
or from an unknown format version, raises :class:`~vae_audio.errors.BundleError` naming the file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..dsp.recipe import Recipe
from ..errors import BundleError, ConfigError, ParameterError, VaeAudioError
from ..fileio import atomic_directory, atomic_write_json, read_json
from .inference import TrainedModel, check_label_names

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ENCODER_FILE",
    "DECODER_FILE",
    "CONFIG_FILE",
    "PRIOR_FILE",
    "GRID_PRIOR_FILE",
    "GRID_PRIOR_SUMMARY_FILE",
    "save_model",
    "load_model",
    "read_bundle_config",
]

FORMAT_NAME = "vae_audio.bundle"
#: the bundle layout version written by this package; load_model reads versions 1..FORMAT_VERSION.
#: 2: the whole preprocessing recipe (``config.json["recipe"]``) instead of separate
#: ``spectrogram`` / ``normalizer`` sections; version-1 bundles are migrated on reading
#: (their level normalization is the default of the dataset they were trained on).
#: 3: the run's resolved configuration (``config.json["config"]``); ``"training"`` keeps only the
#: outcome (epochs run, final losses, the prior's fit time). Version-2 bundles are migrated on
#: reading: their flat training settings become a (partial) configuration.
FORMAT_VERSION = 3
ENCODER_FILE = "encoder.keras"
DECODER_FILE = "decoder.keras"
CONFIG_FILE = "config.json"
PRIOR_FILE = "prior.npz"
GRID_PRIOR_FILE = "prior.keras"
GRID_PRIOR_SUMMARY_FILE = "prior_summary.npz"
_MODEL_FILES = (ENCODER_FILE, DECODER_FILE)


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "librosa", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_model(vae, directory: str | os.PathLike, *, recipe: Recipe,
               label_names: Sequence[str] | None = None, settings: Mapping[str, Any] | None = None,
               config: Mapping[str, Any] | None = None, prior=None, postfilter=None, texture=None,
               overwrite: bool = True) -> Path:
    """Write ``vae`` (a :class:`vae_audio.modeling.models.VAE`) as a bundle folder ``directory``.

    Parameters
    ----------
    recipe : the preprocessing the model was trained with (``features.recipe``): spectrogram
        settings (their shape must match the model), level, trim and the fitted normalizer.
    label_names : class names, one per label index, for a conditional model (else ``None``).
    settings : extra JSON-serializable information, stored as ``config.json["training"]``
        (epochs run, final losses, ...).
    config : the run's resolved configuration (:meth:`vae_audio.config.RunConfig.to_dict`), stored as
        ``config.json["config"]`` (``None`` for a model trained outside a run).
    prior : the model's latent prior: a :class:`~vae_audio.modeling.latent_prior.LatentPrior` (vector
        latent, written as ``prior.npz``) or a :class:`~vae_audio.modeling.grid_prior.GridPrior` (grid
        latent, ``prior.keras``), or ``None`` (generation then samples ``z ~ N(0, I)``).
    postfilter : the :class:`~vae_audio.dsp.postfilter.ValleyPostfilter` applied to every decoded
        spectrogram (``config.json["postfilter"]``), or ``None``.
    texture : the :class:`~vae_audio.dsp.texture.NoiseTexture` every decoded spectrogram gets before the
        phase step (``config.json["texture"]``), or ``None``.
    overwrite : replace an existing bundle (atomically). A folder that exists but is not a
        bundle is never replaced.

    Returns the bundle folder. Raises :class:`ConfigError` for mismatched arguments and
    :class:`BundleError` when the folder cannot be written.
    """
    from .. import __version__
    from .models import LATENT_KEY, SPECTROGRAM_KEY, model_spec

    run_config = config
    encoder, decoder = getattr(vae, "encoder", None), getattr(vae, "decoder", None)
    if encoder is None or decoder is None:
        raise ParameterError("vae: expected a vae_audio.modeling.models.VAE (with .encoder and .decoder), "
                             f"got {type(vae).__name__}")
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"recipe: expected a Recipe (features.recipe), got {type(recipe).__name__}")
    if not recipe.is_fitted:
        raise ConfigError("recipe: its normalizer is not fitted; a bundle needs the training set's dB range to "
                          "unnormalize outputs")
    config = recipe.spectrogram
    from .models import is_grid

    shape = tuple(None if d is None else int(d) for d in encoder.input[SPECTROGRAM_KEY].shape[1:3])
    if shape != config.shape and not (is_grid(encoder) and shape[0] == config.n_freq):
        raise ConfigError(f"recipe: spectrogram shape {config.shape} does not match the model's input {shape}")
    vae_settings = vae.settings() if hasattr(vae, "settings") else {}
    num_classes = vae_settings.get("num_classes")
    names = check_label_names(label_names, num_classes)
    spec = model_spec(encoder) or {}
    latent_dim = int(decoder.input[LATENT_KEY].shape[-1])
    prior_info = None
    if prior is not None:
        from .grid_prior import GridPrior
        from .latent_prior import LatentPrior

        wanted = GridPrior if is_grid(decoder) else LatentPrior
        if not isinstance(prior, wanted):
            raise ConfigError(f"prior: expected a {wanted.__name__} or None, got {type(prior).__name__}")
        if isinstance(prior, GridPrior):
            reason = prior.mismatch(tuple(decoder.input[LATENT_KEY].shape[1:]), num_classes)
            prior_info = {"file": GRID_PRIOR_FILE, **prior.to_dict()}
        else:
            reason = prior.mismatch(latent_dim, num_classes)
            prior_info = {"file": PRIOR_FILE, "n_components": prior.n_components, "conditional": prior.conditional}
        if reason:
            raise ConfigError(f"prior: {reason}")
    from ..dsp.postfilter import postfilter_mismatch

    reason = postfilter_mismatch(postfilter, config.n_freq)
    if reason:
        raise ConfigError(f"postfilter: {reason}")
    from ..dsp.texture import texture_mismatch

    reason = texture_mismatch(texture, config)
    if reason:
        raise ConfigError(f"texture: {reason}")
    info: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "libraries": _library_versions(),
        "recipe": recipe.to_dict(),
        "label_names": names,
        "model": {
            "architecture": spec.get("architecture"),
            "input_shape": list(shape),
            "latent_shape": [None if d is None else int(d) for d in decoder.input[LATENT_KEY].shape[1:]],
            "latent_dim": latent_dim,
            "num_classes": num_classes,
            "options": spec.get("options", {}),
        },
        "vae": vae_settings,
        "config": dict(run_config) if run_config is not None else None,
        "training": dict(settings) if settings is not None else {},
        "latent_prior": prior_info,
        "postfilter": None if postfilter is None else postfilter.to_dict(),
        "texture": None if texture is None else texture.to_dict(),
    }
    try:
        json.dumps(info, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"settings: not JSON-serializable ({exc})") from None

    target = Path(directory)
    if target.exists():
        if not target.is_dir():
            raise BundleError(f"{target}: exists and is not a folder; choose another model directory")
        if not overwrite:
            raise BundleError(f"{target}: already exists (pass overwrite=True to replace it)")
        if any(target.iterdir()) and not (target / CONFIG_FILE).is_file():
            raise BundleError(f"{target}: exists and is not a model bundle (no {CONFIG_FILE}); refusing to replace "
                              f"its contents")
    try:
        with atomic_directory(target, overwrite=True) as tmp:
            files = {}
            for name, model in ((ENCODER_FILE, encoder), (DECODER_FILE, decoder)):
                model.save(tmp / name)
                files[name] = _file_entry(tmp / name)
            if prior is not None:
                name = prior_info["file"]
                if name == GRID_PRIOR_FILE:
                    prior.save(tmp / name)
                    if prior.start is not None:
                        (tmp / GRID_PRIOR_SUMMARY_FILE).write_bytes(prior.summary_bytes())
                        files[GRID_PRIOR_SUMMARY_FILE] = _file_entry(tmp / GRID_PRIOR_SUMMARY_FILE)
                else:
                    (tmp / name).write_bytes(prior.to_bytes())
                files[name] = _file_entry(tmp / name)
            atomic_write_json(tmp / CONFIG_FILE, {**info, "files": files})
    except OSError as exc:
        raise BundleError(f"{target}: cannot write the model bundle ({exc})") from None
    return target


def _file_entry(path: Path) -> dict[str, Any]:
    """The ``config.json["files"]`` entry of a written file: its SHA-256 and size."""
    return {"sha256": _sha256(path), "bytes": path.stat().st_size}


def read_bundle_config(directory: str | os.PathLike) -> dict[str, Any]:
    """Read and check a bundle's ``config.json`` (without loading the Keras models).

    Raises :class:`BundleError` naming the file if the folder or file is missing, the JSON is
    corrupt, or the format is unknown or newer than this package reads.
    """
    root = Path(directory)
    if not root.is_dir():
        raise BundleError(f"{root}: no model bundle here ({'not a folder' if root.exists() else 'folder not found'})")
    path = root / CONFIG_FILE
    if not path.is_file():
        raise BundleError(f"{path}: missing; {root} is not a complete model bundle")
    try:
        info = read_json(path)
    except OSError as exc:
        raise BundleError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{path}: corrupt, not valid JSON ({exc})") from None
    if isinstance(info, dict) and info.get("format") == "vae_audio.config" and (root / "model" / CONFIG_FILE).is_file():
        raise BundleError(f"{path}: a training run's configuration, not a bundle; the run's model is {root / 'model'}")
    if not isinstance(info, dict) or info.get("format") != FORMAT_NAME:
        raise BundleError(f"{path}: not a vae_audio model bundle config (format is not {FORMAT_NAME!r})")
    version = info.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise BundleError(f"{path}: unknown bundle format version {version!r}")
    if version > FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format version {version} was written by a newer vae_audio "
                          f"(package {info.get('package_version')}); this version reads formats 1..{FORMAT_VERSION}. "
                          f"Upgrade vae_audio")
    if version < 1:
        raise BundleError(f"{path}: unknown bundle format version {version}")
    if version == 1:
        info = _migrate_v1(info, path)
    if version <= 2:
        info = _migrate_v2(info)
    for key in ("recipe", "model", "vae", "files"):
        if not isinstance(info.get(key), dict):
            raise BundleError(f"{path}: corrupt, the {key!r} section is missing or not an object")
    return info


#: the per-dataset level normalization format-1 bundles were trained with (the tables of those versions)
_V1_LEVELS = {"synth": None, "nsynth": None, "fsdd": "peak"}


def _migrate_v1(info: dict[str, Any], path: Path) -> dict[str, Any]:
    """Format 1 -> 2: build the ``recipe`` section from ``spectrogram`` and ``normalizer``.

    Format 1 did not record the per-clip level normalization; it was always the default of the
    dataset the model was trained on (``"peak"`` for FSDD and folders, none for synth and NSynth),
    which ``training.training.data`` names.
    """
    for key in ("spectrogram", "normalizer"):
        if not isinstance(info.get(key), dict):
            raise BundleError(f"{path}: corrupt, the {key!r} section is missing or not an object")
    training = info.get("training", {}).get("training", {}) if isinstance(info.get("training"), dict) else {}
    data = training.get("data", "synth") if isinstance(training, dict) else "synth"
    level = _V1_LEVELS.get(str(data).lower(), "peak")  # any other name was a folder: peak normalization
    out = {k: v for k, v in info.items() if k not in ("spectrogram", "normalizer")}
    out["recipe"] = {"spectrogram": info["spectrogram"], "level": level, "trim_db": None,
                     "normalizer": info["normalizer"]}
    out["migrated_from"] = 1
    return out


def _migrate_v2(info: dict[str, Any]) -> dict[str, Any]:
    """Format 2 -> 3: the flat training settings (``training.training``) and the recipe become the
    ``config`` section (a partial :class:`~vae_audio.config.RunConfig`: what those bundles did not
    record stays unset); the outcome stays in ``training``."""
    from ..config import from_settings

    training = info.get("training") if isinstance(info.get("training"), dict) else {}
    settings = training.get("training")
    out = dict(info)
    try:
        out["config"] = from_settings(settings, info.get("recipe")).to_dict() if isinstance(settings, dict) else None
    except VaeAudioError:  # settings this version cannot read: the bundle still loads and generates
        out["config"] = None
    out["training"] = {k: v for k, v in training.items() if k != "training"}
    out.setdefault("migrated_from", 2)
    return out


def load_model(directory: str | os.PathLike) -> TrainedModel:
    """Load a bundle written by :func:`save_model`; returns a :class:`TrainedModel`.

    Every file is checked: ``config.json`` must parse and have a known format version, and each
    ``.keras`` file must exist, match the SHA-256 recorded at save time, load, and fit the
    spectrogram shape. Any failure raises :class:`BundleError` naming the file.
    """
    import keras

    from . import models  # registers the custom Keras objects

    root = Path(directory)
    info = read_bundle_config(root)
    cfg_path = root / CONFIG_FILE
    try:
        recipe = Recipe.from_dict(info["recipe"])
    except VaeAudioError as exc:
        raise BundleError(f"{cfg_path}: corrupt ({exc})") from None
    if not recipe.is_fitted:
        raise BundleError(f"{cfg_path}: corrupt, the normalizer has no dB range")
    config = recipe.spectrogram
    loaded = {}
    for name in _MODEL_FILES:
        path = _checked_file(root, info, name)
        try:
            loaded[name] = keras.saving.load_model(path, compile=False)
        except Exception as exc:  # keras raises many types for bad archives
            raise BundleError(f"{path}: cannot be loaded as a Keras model ({type(exc).__name__}: {exc})") from None
    encoder, decoder = loaded[ENCODER_FILE], loaded[DECODER_FILE]
    try:
        shape = tuple(None if d is None else int(d) for d in encoder.input[models.SPECTROGRAM_KEY].shape[1:3])
        latent_enc = int(encoder.outputs[0].shape[-1])
        latent_dec = int(decoder.input[models.LATENT_KEY].shape[-1])
        out_shape = tuple(None if d is None else int(d) for d in decoder.outputs[0].shape[1:3])
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise BundleError(f"{root / ENCODER_FILE}: not a vae_audio encoder/decoder pair ({exc})") from None
    if models.is_grid(encoder) != models.is_grid(decoder):
        raise BundleError(f"{root / DECODER_FILE}: one of the encoder and decoder has a grid latent, the other not")
    if models.is_grid(encoder):  # any number of frames: only the frequency axis is fixed
        shape, out_shape = (shape[0], config.n_frames), (out_shape[0], config.n_frames)
    if shape != config.shape or out_shape != config.shape:
        raise BundleError(f"{cfg_path}: spectrogram shape {config.shape} does not match the models "
                          f"(encoder input {shape}, decoder output {out_shape})")
    if latent_enc != latent_dec:
        raise BundleError(f"{root / DECODER_FILE}: latent size {latent_dec} does not match the encoder's {latent_enc}")
    num_classes = models.num_classes_of(encoder)
    names = info.get("label_names")
    if (num_classes is None) != (not names) or (names and len(names) != num_classes) \
            or models.num_classes_of(decoder) != num_classes:
        raise BundleError(f"{cfg_path}: label names {names} do not match the models "
                          f"({'unconditional' if num_classes is None else f'{num_classes} classes'})")
    prior = None
    prior_info = info.get("latent_prior")
    if prior_info is not None:
        if not isinstance(prior_info, dict):
            raise BundleError(f"{cfg_path}: corrupt, the 'latent_prior' section is not an object")
        if models.is_grid(decoder):
            from .grid_prior import GridPrior

            path = _checked_file(root, info, GRID_PRIOR_FILE)
            summary = (_checked_file(root, info, GRID_PRIOR_SUMMARY_FILE)
                       if prior_info.get("summary_dim") or prior_info.get("onset_columns") else None)
            prior = GridPrior.load(path, prior_info, summary_path=summary)
            reason = prior.mismatch(tuple(decoder.input[models.LATENT_KEY].shape[1:]), num_classes)
        else:
            from .latent_prior import LatentPrior

            path = _checked_file(root, info, PRIOR_FILE)
            prior = LatentPrior.load(path)
            reason = prior.mismatch(latent_dec, num_classes)
        if reason:
            raise BundleError(f"{path}: the latent prior does not fit the models ({reason})")
    postfilter = None
    if info.get("postfilter") is not None:  # bundles before the postfilter have none
        from ..dsp.postfilter import ValleyPostfilter, postfilter_mismatch

        try:
            postfilter = ValleyPostfilter.from_dict(info["postfilter"])
        except VaeAudioError as exc:
            raise BundleError(f"{cfg_path}: corrupt ({exc})") from None
        reason = postfilter_mismatch(postfilter, config.n_freq)
        if reason:
            raise BundleError(f"{cfg_path}: corrupt, {reason}")
    texture = None
    if info.get("texture") is not None:  # bundles before the noise texture have none
        from ..dsp.texture import NoiseTexture, texture_mismatch

        try:
            texture = NoiseTexture.from_dict(info["texture"])
        except VaeAudioError as exc:
            raise BundleError(f"{cfg_path}: corrupt ({exc})") from None
        reason = texture_mismatch(texture, config)
        if reason:
            raise BundleError(f"{cfg_path}: corrupt, {reason}")
    return TrainedModel(encoder, decoder, recipe=recipe, label_names=names, info=info, directory=root, prior=prior,
                        postfilter=postfilter, texture=texture)


def _checked_file(root: Path, info: Mapping[str, Any], name: str) -> Path:
    """``root / name`` after checking it exists and matches the SHA-256 recorded in config.json."""
    path = root / name
    if not path.is_file():
        raise BundleError(f"{path}: missing; {root} is not a complete model bundle")
    entry = info["files"].get(name)
    recorded = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(recorded, str):
        raise BundleError(f"{root / CONFIG_FILE}: corrupt, no checksum recorded for {name}")
    try:
        digest = _sha256(path)
    except OSError as exc:
        raise BundleError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if digest != recorded:
        raise BundleError(f"{path}: corrupt (its SHA-256 does not match the one recorded in {CONFIG_FILE})")
    return path
