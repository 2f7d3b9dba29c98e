"""Running a trained model: :class:`TrainedModel`, the one inference API.

Training (:func:`vae_audio.training.train`), ``generate``, ``reconstruct``, ``evaluate`` and the
notebooks all use a trained VAE through it: it owns the encoder, the decoder, the preprocessing
:class:`~vae_audio.dsp.recipe.Recipe` and the latent prior, and turns waveforms into codes and codes
into spectrograms and audio. :func:`vae_audio.modeling.bundle.load_model` returns one from files;
:meth:`TrainedModel.from_vae` wraps a VAE in memory. (:class:`vae_audio.modeling.models.VAE` is only the
training graph.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import checks
from ..choices import PRIOR_CHOICES
from ..config import PriorConfig
from ..data.shards import ShardedArray
from ..dsp.features import Normalizer, SpectrogramConfig
from ..dsp.recipe import Recipe
from ..errors import BundleError, ConfigError, ParameterError

__all__ = ["TrainedModel", "check_prior_choice", "check_compatible", "check_label_names", "PRIOR_CHOICES"]


def check_label_names(label_names: Any, num_classes: int | None) -> list[str] | None:
    """The label names of a model conditional on ``num_classes`` classes (``None``: unconditional), checked."""
    if label_names is None or (num_classes is None and len(label_names) == 0):
        if num_classes is not None:
            raise ConfigError(f"label_names: the model is conditional on {num_classes} classes; "
                              f"pass their {num_classes} names")
        return None
    if num_classes is None:
        raise ConfigError("label_names: the model is not conditional (no label input); pass label_names=None")
    if isinstance(label_names, (str, bytes)) or not isinstance(label_names, Sequence):
        raise ConfigError(f"label_names: expected a list of {num_classes} names, got {type(label_names).__name__}")
    names = [str(n) for n in label_names]
    if len(names) != num_classes:
        raise ConfigError(f"label_names: {len(names)} names for a model conditional on {num_classes} classes")
    if len(set(names)) != len(names):
        raise ConfigError(f"label_names: names must be unique, got {names}")
    return names


def check_prior_choice(prior: Any, model: "TrainedModel | None" = None) -> None:
    """Refuse a ``prior`` not in :data:`PRIOR_CHOICES`, or ``"fitted"`` for a ``model`` without one."""
    if prior not in PRIOR_CHOICES:
        raise ParameterError(f"prior={prior!r}: expected one of {', '.join(map(repr, PRIOR_CHOICES))}")
    if prior == "fitted" and model is not None and model.prior is None:
        raise ParameterError("prior='fitted': this model has no fitted latent prior (bundles trained by an older "
                             "vae_audio have none); use 'auto' or 'standard', or call fit_prior(...) first")


def check_compatible(model_config: SpectrogramConfig, data_config: SpectrogramConfig, *,
                     model_name: str = "the model", data_name: str = "the data") -> None:
    """Refuse to apply a model to data featurized with another spectrogram config.

    A model only understands spectrograms made exactly as its training set's were (sample rate,
    clip length, FFT size, hop, mel bands, dB floor/ceiling): anything else gives garbage, or a
    shape error deep inside Keras. Raises :class:`ConfigError` naming the fields that differ and
    showing both configs; returns ``None`` when they are equal.
    """
    for name, cfg in (("model_config", model_config), ("data_config", data_config)):
        if not isinstance(cfg, SpectrogramConfig):
            raise ParameterError(f"{name}: expected a SpectrogramConfig, got {type(cfg).__name__}")
    if model_config == data_config:
        return
    a, b = model_config.to_dict(), data_config.to_dict()
    diff = ", ".join(f"{k} {a[k]!r} vs {b[k]!r}" for k in a if a[k] != b[k])
    raise ConfigError(f"{model_name} was trained on another spectrogram config than {data_name} ({diff}): "
                      f"model: {model_config.describe()}; data: {data_config.describe()}")


_ENCODE_CHUNK = 1024  # clips read from shards per encoder call


def _count(x: Any) -> int:
    """Number of spectrograms in ``x``: ``(freq, frames)`` is one, ``(n, freq, frames)`` is n."""
    arr = x if isinstance(x, ShardedArray) else np.asarray(x)
    return 1 if arr.ndim == 2 else (len(arr) if arr.ndim else 0)


class TrainedModel:
    """A trained VAE with its spectrogram config and normalizer: everything to make audio.

    Obtained from :func:`load_model` (or :meth:`from_vae` in memory). All arrays are NumPy:
    normalized spectrograms are ``(n, freq, frames)`` float32 in [0, 1], latent vectors
    ``(n, latent_dim)``, waveforms ``(n, n_samples)`` at ``config.sr``. Labels (conditional
    models) may be given as indices or names, one per item or one for all. ``prior`` is the
    model's latent prior (or ``None``): the :class:`~vae_audio.modeling.latent_prior.LatentPrior` fitted to
    a vector latent's training codes, or the :class:`~vae_audio.modeling.grid_prior.GridPrior` trained on
    a grid latent's.
    """

    def __init__(self, encoder, decoder, *, recipe: Recipe,
                 label_names: Sequence[str] | None = None, info: Mapping[str, Any] | None = None,
                 directory: str | os.PathLike | None = None, prior=None, postfilter=None, texture=None):
        from .models import LATENT_KEY, num_classes_of

        if not isinstance(recipe, Recipe) or not recipe.is_fitted:
            raise ParameterError("recipe: expected a fitted Recipe (features.recipe)")
        self._encoder, self._decoder = encoder, decoder
        self._recipe = recipe
        self._config, self._normalizer = recipe.spectrogram, recipe.normalizer
        self._num_classes = num_classes_of(encoder)
        self._label_names = tuple(check_label_names(label_names, self._num_classes) or ())
        from .models import is_grid, latent_shape, time_stride

        self._latent_dim = int(decoder.input[LATENT_KEY].shape[-1])
        self._latent_shape = latent_shape(decoder)
        self._grid = is_grid(decoder)
        self._time_stride = time_stride(decoder) if self._grid else None
        self._info = dict(info or {})
        self._directory = Path(directory) if directory is not None else None
        self._prior = None
        if prior is not None:
            self.prior = prior
        self._postfilter = None
        if postfilter is not None:
            self.postfilter = postfilter
        self._texture = None
        if texture is not None:
            self.texture = texture

    @classmethod
    def from_vae(cls, vae, *, recipe: Recipe, label_names: Sequence[str] | None = None,
                 prior=None, postfilter=None, texture=None) -> "TrainedModel":
        """Wrap an in-memory :class:`~vae_audio.modeling.models.VAE` (no files involved)."""
        return cls(vae.encoder, vae.decoder, recipe=recipe, label_names=label_names,
                   info={"vae": vae.settings()}, prior=prior, postfilter=postfilter, texture=texture)

    # ------------------------------------------------------------------ properties
    @property
    def recipe(self) -> Recipe:
        """The preprocessing the model was trained with: waveform -> model input and back."""
        return self._recipe

    @property
    def config(self) -> SpectrogramConfig:
        """The spectrogram settings of :attr:`recipe`."""
        return self._config

    @property
    def normalizer(self) -> Normalizer:
        """The fitted normalizer of :attr:`recipe`."""
        return self._normalizer

    @property
    def label_names(self) -> tuple[str, ...]:
        """Class names by label index; empty for an unconditional model."""
        return self._label_names

    @property
    def num_classes(self) -> int | None:
        return self._num_classes

    @property
    def latent_dim(self) -> int:
        return self._latent_dim

    @property
    def fully_convolutional(self) -> bool:
        """Whether the model takes and makes spectrograms of any number of frames (a grid latent)."""
        return self._grid

    def latent_shape(self, frames: int | None = None) -> tuple[int, ...]:
        """Shape of one latent code: ``(latent_dim,)``, or ``(F', T', C)`` for a grid model, whose
        ``T' = ceil(frames / time stride)`` columns cover ``frames`` (default: the training window's)."""
        if not self._grid:
            return self._latent_shape
        frames = self._config.n_frames if frames is None else int(frames)
        return (self._latent_shape[0], -(-frames // self._time_stride), self._latent_shape[2])

    def frames_for(self, seconds: float) -> int:
        """Spectrogram frames of a clip of ``seconds`` at the model's sample rate and hop."""
        from ..dsp.features import n_stft_frames

        return n_stft_frames(int(round(seconds * self._config.sr)), n_fft=self._config.n_fft,
                             hop_length=self._config.hop_length)

    @property
    def shape(self) -> tuple[int, int]:
        """``(freq, frames)`` of the model's spectrograms."""
        return self._config.shape

    @property
    def prior(self):
        """The latent prior :meth:`generate` samples from (a ``LatentPrior`` or ``GridPrior``), or None."""
        return self._prior

    @prior.setter
    def prior(self, prior) -> None:
        from .grid_prior import GridPrior
        from .latent_prior import LatentPrior

        if prior is not None:
            wanted = GridPrior if self._grid else LatentPrior
            if not isinstance(prior, wanted):
                raise ParameterError(f"prior: expected a {wanted.__name__} (this model's latent is "
                                     f"{'a grid' if self._grid else 'a vector'}) or None, got {type(prior).__name__}")
            reason = prior.mismatch(self._latent_shape if self._grid else self._latent_dim, self._num_classes)
            if reason:
                raise ParameterError(f"prior: {reason}")
        self._prior = prior

    def fit_prior(self, x_normalized: np.ndarray, labels: Any = None, *, n_components: int | None = None,
                  settings: PriorConfig | None = None, seed: int = 0, verbose: int = 0):
        """Fit (and use from now on) a latent prior to the codes of training spectrograms ``(n, freq, frames)``.

        A vector-latent model gets a Gaussian mixture (:class:`~vae_audio.modeling.latent_prior.LatentPrior`,
        ``n_components`` per class); a grid model a learned prior network
        (:class:`~vae_audio.modeling.grid_prior.GridPrior` with ``settings``, a
        :class:`~vae_audio.config.PriorConfig` whose unset settings take the defaults, e.g.
        ``PriorConfig(steps=900)``). For a conditional model pass the training labels; the prior is then
        per class. Returns the new prior (also set as :attr:`prior`).
        """
        from .grid_prior import GridPrior
        from .latent_prior import LatentPrior

        n = _count(x_normalized)
        lab = self._labels(labels, n) if self._label_names else None
        if self._label_names and lab is None:
            raise ParameterError("labels: this model is conditional; pass the training labels to fit its prior")
        z_mean, z_log_var = self.encode(x_normalized, lab)
        if self._grid:
            self.prior = GridPrior.fit(z_mean, z_log_var, lab, settings, num_classes=self._num_classes, seed=seed,
                                       verbose=verbose)
        else:
            if settings is not None:
                raise ParameterError("settings: the settings of a learned grid prior; this model's latent is a "
                                     "vector (it gets a Gaussian mixture)")
            self.prior = LatentPrior.fit(z_mean, z_log_var, lab, num_classes=self._num_classes,
                                         n_components=n_components, seed=seed)
        return self._prior

    @property
    def postfilter(self):
        """The :class:`~vae_audio.dsp.postfilter.ValleyPostfilter` every decoded spectrogram goes through,
        or ``None``."""
        return self._postfilter

    @postfilter.setter
    def postfilter(self, postfilter) -> None:
        from ..dsp.postfilter import postfilter_mismatch

        reason = postfilter_mismatch(postfilter, self._config.n_freq)
        if reason:
            raise ParameterError(f"postfilter: {reason}")
        self._postfilter = postfilter

    @property
    def texture(self):
        """The :class:`~vae_audio.dsp.texture.NoiseTexture` every decoded spectrogram gets before the phase
        step (:meth:`render`), or ``None``."""
        return self._texture

    @texture.setter
    def texture(self, texture) -> None:
        from ..dsp.texture import texture_mismatch

        reason = texture_mismatch(texture, self._config)
        if reason:
            raise ParameterError(f"texture: {reason}")
        self._texture = texture

    @property
    def encoder(self):
        return self._encoder

    @property
    def decoder(self):
        return self._decoder

    @property
    def info(self) -> dict[str, Any]:
        """A copy of the bundle's config.json contents."""
        return json.loads(json.dumps(self._info))

    @property
    def run_config(self):
        """The :class:`~vae_audio.config.RunConfig` the bundle was trained with (``config.json["config"]``;
        partial for a migrated older bundle), or ``None`` for a model trained outside a run."""
        from ..config import RunConfig
        from ..errors import VaeAudioError

        data = self.info.get("config") if isinstance(self.info, Mapping) else None
        if not isinstance(data, Mapping):
            return None
        try:
            return RunConfig.from_dict(data)
        except VaeAudioError:
            return None

    @property
    def directory(self) -> Path | None:
        return self._directory

    def __repr__(self) -> str:
        arch = self._info.get("model", {}).get("architecture")
        cond = f", {self._num_classes} classes" if self._num_classes else ""
        where = f" from {self._directory}" if self._directory else ""
        return f"<TrainedModel {arch} latent={self._latent_dim}{cond}, {self._recipe.describe()}{where}>"

    # ------------------------------------------------------------------ labels
    def label_index(self, label: int | str) -> int:
        """Index of a label given by name (exact) or by index (int, or a string of digits).

        Raises :class:`ConfigError` for an unconditional model or an unknown label.
        """
        if not self._label_names:
            raise ConfigError(f"label {label!r}: this model is not conditional (it has no labels)")
        if isinstance(label, str):
            if label in self._label_names:
                return self._label_names.index(label)
            if label.strip().isdigit():
                label = int(label.strip())
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            if 0 <= int(label) < len(self._label_names):
                return int(label)
        raise ConfigError(f"label {label!r}: unknown; this model's labels are {list(self._label_names)} "
                          f"(or their indices 0..{len(self._label_names) - 1})")

    def _labels(self, labels: Any, n: int) -> np.ndarray | None:
        if labels is None:
            return None
        if not self._label_names:
            raise ParameterError("labels: this model is not conditional; pass labels=None")
        if isinstance(labels, (str, int, np.integer)):
            return np.full(n, self.label_index(labels), dtype=np.int32)
        seq = list(np.asarray(labels).tolist()) if isinstance(labels, np.ndarray) else list(labels)
        if len(seq) != n:
            raise ParameterError(f"labels: {len(seq)} labels for {n} items")
        return np.array([self.label_index(v) for v in seq], dtype=np.int32)

    # ------------------------------------------------------------------ model use
    def encode(self, x_normalized: np.ndarray, labels: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Normalized spectrograms ``(n, freq, frames)`` -> ``(z_mean, z_log_var)``, each ``(n, latent_dim)``
        (a grid model: ``(n, F', T', C)``, from any number of frames)."""
        from .models import encode_array

        n = _count(x_normalized)
        lab = self._labels(labels, n)
        if isinstance(x_normalized, ShardedArray):  # larger than memory: encode it a chunk at a time
            parts = [encode_array(self._encoder, chunk,
                                  None if lab is None else lab[i * _ENCODE_CHUNK:(i + 1) * _ENCODE_CHUNK])
                     for i, chunk in enumerate(x_normalized.iter_chunks(_ENCODE_CHUNK))]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        return encode_array(self._encoder, x_normalized, lab)

    def decode(self, z: np.ndarray, labels: Any = None, *, frames: int | None = None) -> np.ndarray:
        """Latent codes ``(n, *latent_shape)`` -> normalized spectrograms ``(n, freq, frames)`` in [0, 1].

        The decoder's output goes through the model's :attr:`postfilter` when it has one. A grid
        model's ``T'`` columns decode to ``T' * stride`` frames, cut to ``frames`` (default: the
        training window's frames when ``T'`` is the window's, else all of them).
        """
        from .models import decode_array

        arr = np.asarray(z)
        n = 1 if arr.ndim == len(self._latent_shape) else (len(arr) if arr.ndim else 0)
        spec = decode_array(self._decoder, z, self._labels(labels, n))
        if self._grid:
            if frames is None and spec.shape[-1] >= self._config.n_frames and \
                    -(-self._config.n_frames // self._time_stride) * self._time_stride == spec.shape[-1]:
                frames = self._config.n_frames
            if frames is not None:
                spec = spec[..., :int(frames)]
        if not np.all(np.isfinite(spec)):  # corrupt weights or a diverged run: not a spectrogram
            where = self._directory if self._directory is not None else "the model (in memory)"
            raise BundleError(f"{where}: the decoder output contains NaN or infinite values (corrupt weights or a "
                              f"diverged training run); no audio made")
        return spec if self._postfilter is None else self._postfilter(spec)

    def reconstruct(self, x_normalized: np.ndarray, labels: Any = None) -> np.ndarray:
        """Encode to the latent mean and decode again: ``(n, freq, frames)`` -> same shape."""
        z_mean, _ = self.encode(x_normalized, labels)
        return self.decode(z_mean, labels, frames=np.shape(x_normalized)[-1] if self._grid else None)

    def sample_latents(self, n: int, *, labels: Any = None, seed: int = 0, prior: str = "auto",
                       temperature: float | None = None, guidance: float | None = None,
                       frames: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Draw ``n`` latent codes ``(n, *latent_shape)`` and the labels they go with (or None).

        ``prior``: ``"fitted"`` samples the model's :attr:`prior` (a Gaussian mixture fitted to the
        training codes, or for a grid model the learned prior network; per class for a
        conditional model), ``"standard"`` samples ``N(0, I)``, ``"auto"`` (default) the fitted
        prior when the model has one. A grid model's codes ``(n, F', T', C)`` cover ``frames``
        spectrogram frames (default: the training window; any number for a learned prior).
        ``temperature`` scales the fitted prior's noise (1 = as learned, < 1 more typical, less
        varied; ``"fitted"`` only; default the prior's ``default_temperature``: 1 for a Gaussian
        mixture, :data:`vae_audio.modeling.grid_prior.DEFAULT_TEMPERATURE` for a learned grid prior);
        ``guidance`` is the classifier-free guidance scale of a conditional diffusion prior (default
        :data:`vae_audio.modeling.grid_prior.DEFAULT_GUIDANCE`, 1 = none).
        For a conditional model without ``labels`` each item gets a random class (uniform, drawn
        from ``seed``). Deterministic for a given ``seed``.
        """
        from .models import prior_latents

        check_prior_choice(prior, self)
        checks.whole_number(n, "n", 1)
        checks.seed(seed)
        if temperature is not None:
            checks.number(temperature, "temperature", 0)
        if guidance is not None:
            checks.number(guidance, "guidance", 0)
            if not (self._grid and self._prior is not None and self._prior.guidable and prior != "standard"):
                samples = self._prior.describe() if self._prior else "N(0, I)"
                raise ParameterError(f"guidance={guidance!r}: only a conditional diffusion prior is "
                                     f"guided; this model samples {samples}")
        if frames is not None:
            checks.whole_number(frames, "frames", 1)
        if labels is None and self._label_names:
            labels = np.random.default_rng([int(seed), 1]).integers(0, len(self._label_names), size=n)
        lab = self._labels(labels, int(n))
        if prior == "standard" or self._prior is None:
            return prior_latents(n, self.latent_shape(frames), seed), lab
        if temperature is None:
            temperature = self._prior.default_temperature
        if self._grid:
            z = self._prior.sample(int(n), lab, frames=self.latent_shape(frames)[1], seed=int(seed),
                                   temperature=float(temperature), guidance=guidance)
            return z, lab
        use = lab if self._prior.conditional else None
        return self._prior.sample(int(n), use, seed=int(seed), temperature=temperature), lab

    def generate(self, n: int, *, labels: Any = None, seed: int = 0, prior: str = "auto",
                 temperature: float | None = None, guidance: float | None = None,
                 frames: int | None = None) -> np.ndarray:
        """Decode ``n`` latent draws: normalized spectrograms ``(n, freq, frames)`` in [0, 1].

        The draws come from :meth:`sample_latents` (the model's prior when it has one, else
        ``N(0, I)``; see there for ``prior``, ``temperature`` and ``guidance``). Deterministic for
        a given ``seed``. For a conditional model without ``labels`` each item gets a random class.
        """
        z, lab = self.sample_latents(n, labels=labels, seed=seed, prior=prior, temperature=temperature,
                                     guidance=guidance, frames=frames)
        return self.decode(z, lab, frames=frames)

    def to_db(self, normalized: np.ndarray) -> np.ndarray:
        """Normalized ``(n, freq, frames)`` (or with a channel axis) -> dB with the training set's range."""
        arr = np.asarray(normalized)
        if arr.ndim == 4 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        frames_ok = arr.ndim in (2, 3) and (arr.shape[-1] == self.shape[1] or (self._grid and arr.shape[-1] >= 1))
        if not frames_ok or arr.shape[-2] != self.shape[0]:
            raise ParameterError(f"normalized: expected spectrograms (n, {self.shape[0]}, "
                                 f"{'frames' if self._grid else self.shape[1]}), got shape {np.shape(normalized)}")
        return self._recipe.to_db(arr)

    def to_audio(self, normalized: np.ndarray, **phase_kwargs: Any) -> np.ndarray:
        """Normalized spectrograms -> waveforms ``(n, n_samples)`` float32 at ``config.sr``: :meth:`to_db`, then
        :meth:`render`. Spectrograms of another number of frames (grid models) give ``(frames - 1) * hop``
        samples."""
        return self.render(self.to_db(normalized), **phase_kwargs)

    def render(self, s_db: np.ndarray, *, n_samples: int | None = None, **phase_kwargs: Any) -> np.ndarray:
        """dB spectrograms ``(freq, frames)`` or ``(n, freq, frames)`` of the model's bins -> waveforms
        ``(n, n_samples)`` float32 at ``config.sr``; ``n_samples`` defaults to ``config.n_samples`` at the
        window's frames and ``(frames - 1) * hop`` otherwise (it must give ``frames`` STFT frames).

        The model's :attr:`texture` draws its grain first (seeded by ``phase_kwargs["seed"]``, default 0, and
        by each spectrogram itself: the same spectrogram gets the same grain in any batch), then the phase is
        reconstructed by :func:`vae_audio.dsp.phase.db_to_audio` (``phase_kwargs`` go there).
        """
        from ..dsp.phase import db_to_audio

        s_db = np.asarray(s_db)
        s_db = s_db[None] if s_db.ndim == 2 else s_db
        if self._texture is not None:
            s_db = self._texture(s_db, seed=checks.seed(phase_kwargs.get("seed", 0), allow_none=True))
        config = self._config
        if n_samples is not None:
            config = config.replace(n_samples=checks.whole_number(n_samples, "n_samples", 1))
        elif s_db.shape[-1] != config.n_frames:
            config = config.replace(n_samples=(s_db.shape[-1] - 1) * config.hop_length)
        return db_to_audio(s_db, config, **phase_kwargs)
