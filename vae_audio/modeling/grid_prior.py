"""A learned prior over a grid model's latent: a second network trained on the codes.

Why
---
A ``grid`` model's latent is ``(F', T', C)`` per clip (33 x 24 x 8 = 6,336 numbers on FSDD).
Decoding ``N(0, I)`` draws of that size gives noise, and a Gaussian mixture over thousands of
dimensions has nothing to fit. Systems that sample well from such latents train a second model
on the codes (latent diffusion in AudioLDM and Stable Audio, autoregressive priors in VQ-VAE and
RAVE v1). This module has two such families, both fully convolutional along time, so they make
latent sequences of any length ``T'`` (and so clips of any length):

``"diffusion"``
    A denoising diffusion model (v-prediction, cosine noise schedule; Salimans & Ho 2022) whose
    network is a stack of dilated 1-D convolutions over the latent frames, conditioned on the
    label and the noise level by FiLM. Sampling runs deterministic DDIM steps from seeded noise;
    the label is dropped for 10 % of training examples so sampling can use classifier-free
    guidance (Ho & Salimans 2022).
``"autoregressive"``
    A causal dilated convolution stack that predicts a diagonal Gaussian for each latent frame
    from the frames before it (teacher forcing, exact likelihood); sampling draws frame by frame.
    The default: after the same 1500 steps on FSDD it beats the diffusion prior on every score
    (conditional accuracy, inception score, Fréchet distance; ``benchmarks/grid_prior.py``,
    ``docs/experiments/priors.md``).

Codes are laid out as sequences ``(n, T', D)`` with ``D = F' * C`` (the frequency rows and
channels of one latent column) and standardized per dimension with the training codes' mean and
standard deviation (stored with the prior), as latent diffusion models scale their latents.
The prior trains on posterior samples ``z_mean + exp(z_log_var / 2) * eps`` (the aggregate
posterior, which is what the decoder learned to decode).

Storage: the network is a Keras file (``prior.keras`` in a bundle); everything else (family,
latent layout, standardization, sampling defaults) is a JSON-ready dict from :meth:`GridPrior.to_dict`,
and a prior conditioned on a clip summary or drawing its onset adds a ``.npz`` file
(:meth:`GridPrior.summary_bytes`; ``prior_summary.npz`` in a bundle): the summary's projection and
the density its first columns and summary are drawn from (:meth:`GridPrior.fit`, ``onset_columns``).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import numpy as np
from keras import layers, ops

from .. import checks
from ..choices import DEFAULT_PRIOR_TEMPERATURE, GRID_PRIOR_CHOICES
from ..config import PriorConfig
from ..errors import BundleError, ParameterError

__all__ = ["GridPrior", "prior_noise", "slerp", "PRIOR_KINDS", "PRIOR_FORMAT_VERSION",
           "codes_to_sequences", "sequences_to_codes"]

#: the learned-prior families
PRIOR_KINDS = tuple(k for k in GRID_PRIOR_CHOICES if k != "none")
#: version of the prior's stored layout (the dict of :meth:`GridPrior.to_dict` plus its Keras file)
PRIOR_FORMAT_VERSION = 1
#: sampling temperature by family when none is given (:data:`vae_audio.choices.DEFAULT_PRIOR_TEMPERATURE`)
DEFAULT_TEMPERATURE = {k: DEFAULT_PRIOR_TEMPERATURE[k] for k in PRIOR_KINDS}
#: DDIM steps when sampling a diffusion prior
DEFAULT_SAMPLING_STEPS = 40
#: classifier-free guidance scale of a conditional diffusion prior (1 = none)
DEFAULT_GUIDANCE = 2.0
_LABEL_DROPOUT = 0.1


def _default_dropout(kind: str) -> float:
    """Label dropout of a prior trained without the setting (diffusion always had it, autoregressive not)."""
    return _LABEL_DROPOUT if kind == "diffusion" else 0.0
_MIN_LOG_SIGMA = -7.0


def codes_to_sequences(z: np.ndarray) -> np.ndarray:
    """Grid codes ``(n, F', T', C)`` -> sequences ``(n, T', F' * C)`` (one vector per latent column)."""
    n, f, t, c = z.shape
    return np.ascontiguousarray(np.transpose(z, (0, 2, 1, 3)).reshape(n, t, f * c))


def sequences_to_codes(seq: np.ndarray, n_freq: int) -> np.ndarray:
    """Inverse of :func:`codes_to_sequences`: ``(n, T', F' * C)`` -> ``(n, F', T', C)``."""
    n, t, d = seq.shape
    return np.ascontiguousarray(np.transpose(seq.reshape(n, t, n_freq, d // n_freq), (0, 2, 1, 3)))


# ---------------------------------------------------------------------- network pieces
@keras.saving.register_keras_serializable(package="vae_audio")
class SequenceFiLM(layers.Layer):
    """``[x (b, t, ch), cond (b, e)] -> x * (1 + gamma) + beta`` with ``gamma, beta = Dense(cond)``,
    zero-initialized (the layer starts as the identity)."""

    def build(self, input_shape):
        channels, cond = int(input_shape[0][-1]), int(input_shape[1][-1])
        self.kernel = self.add_weight(name="kernel", shape=(cond, 2 * channels), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(2 * channels,), initializer="zeros")

    def call(self, inputs):
        x, cond = inputs
        gamma, beta = ops.split(ops.matmul(cond, self.kernel) + self.bias, 2, axis=-1)
        return x * (1.0 + gamma[:, None, :]) + beta[:, None, :]

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="vae_audio")
class NoiseLevelFeatures(layers.Layer):
    """Diffusion time ``t (b, 1)`` in [0, 1] -> fixed sinusoidal features ``(b, 2 n)``."""

    def __init__(self, n: int = 16, **kwargs: Any):
        super().__init__(**kwargs)
        self.n = int(n)

    def call(self, t):
        freqs = ops.exp(ops.linspace(0.0, math.log(1000.0), self.n))
        angles = 2.0 * math.pi * t * freqs[None, :]
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * self.n)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


def _build_network(kind: str, dim: int, n_labels: int, width: int, dilations: Sequence[int], seed: int,
                   summary_dim: int = 0):
    """The prior network: inputs ``z (b, T', dim)``, ``label (b,)`` and for diffusion ``t (b, 1)``;
    output ``(b, T', dim)`` (diffusion: the velocity ``v``) or, autoregressive, the distribution of
    each frame given the frames before it: ``(b, T', 2 dim)`` mean and log standard deviation of a
    diagonal Gaussian.
    With ``summary_dim > 0`` an input ``summary (b, summary_dim)`` joins the label's conditioning."""
    keras.utils.set_random_seed(seed)
    causal = kind == "autoregressive"
    z_in = keras.Input((None, dim), name="z")
    label_in = keras.Input((), dtype="int32", name="label")
    inputs = {"z": z_in, "label": label_in}
    cond = layers.Embedding(n_labels, width, name="label_embedding")(label_in)
    if summary_dim:
        summary_in = keras.Input((summary_dim,), name="summary")
        inputs["summary"] = summary_in
        cond = layers.Add(name="with_summary")([cond, layers.Dense(width, name="summary_dense")(summary_in)])
    if kind == "diffusion":
        t_in = keras.Input((1,), name="t")
        inputs["t"] = t_in
        t_emb = layers.Dense(width, activation="silu", name="t_dense1")(NoiseLevelFeatures(name="t_features")(t_in))
        cond = layers.Add(name="cond")([cond, layers.Dense(width, name="t_dense2")(t_emb)])
    cond = layers.Activation("silu", name="cond_act")(cond)
    h = layers.Conv1D(width, 1, name="in_proj")(z_in)
    for i, d in enumerate(dilations):
        r = layers.LayerNormalization(name=f"block{i}_norm")(h)
        r = SequenceFiLM(name=f"block{i}_film")([r, cond])
        r = layers.Activation("silu", name=f"block{i}_act1")(r)
        r = layers.Conv1D(width, 3, dilation_rate=int(d), padding="causal" if causal else "same",
                          name=f"block{i}_conv")(r)
        r = layers.Activation("silu", name=f"block{i}_act2")(r)
        r = layers.Conv1D(width, 1, name=f"block{i}_mix")(r)
        h = layers.Add(name=f"block{i}_add")([h, r])
    h = layers.Activation("silu", name="out_act")(layers.LayerNormalization(name="out_norm")(h))
    out = layers.Conv1D(dim * (2 if causal else 1), 1, kernel_initializer="zeros", name="out_proj")(h)
    return keras.Model(inputs, out, name=f"{kind}_prior")


def _training_examples(seq: np.ndarray, sd: np.ndarray, labels: np.ndarray | None, n_labels: int, kind: str,
                       summary, batch_size: int, dropout: float, seed: int):
    """The prior network's endless, shuffled training batches: posterior samples ``seq + sd * eps`` of the
    standardized sequences ``(n, T', dim)``, their labels (``dropout`` of them replaced by "no label",
    index ``n_labels - 1``) and, autoregressive, the frames shifted by one as input (with the clip's
    summary when the prior has one) or, diffusion, the noised codes at a random noise level and the
    velocity to predict."""
    import tensorflow as tf

    n = len(seq)
    lab = labels if labels is not None else np.zeros(n, np.int32)
    null_label = n_labels - 1
    if summary is not None:
        s_mean, s_basis = tf.constant(summary[0]), tf.constant(summary[1])

    def make_example(index, item):
        x_mean, x_sd, y = item
        s = tf.stack([tf.cast(seed, tf.int64), index])
        x = x_mean + x_sd * tf.random.stateless_normal(tf.shape(x_mean), seed=s)
        if dropout > 0:
            drop = tf.random.stateless_uniform(tf.shape(y), seed=s + 3) < dropout
            y = tf.where(drop, tf.fill(tf.shape(y), null_label), y)
        if kind == "autoregressive":
            shifted = tf.concat([tf.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
            inputs = {"z": shifted, "label": y}
            if summary is not None:
                inputs["summary"] = tf.matmul(tf.reduce_mean(x, axis=1) - s_mean, s_basis)
            return inputs, x
        b = tf.shape(x)[0]
        t = tf.random.stateless_uniform((b, 1), seed=s + 1)
        eps = tf.random.stateless_normal(tf.shape(x), seed=s + 2)
        alpha, sigma = tf.cos(0.5 * math.pi * t)[:, :, None], tf.sin(0.5 * math.pi * t)[:, :, None]
        return {"z": alpha * x + sigma * eps, "label": y, "t": t}, alpha * eps - sigma * x

    return (tf.data.Dataset.from_tensor_slices((seq, sd, lab))
            .shuffle(n, seed=seed, reshuffle_each_iteration=True).repeat()
            .batch(batch_size, drop_remainder=n >= batch_size).enumerate().map(make_example).prefetch(2))


# ---------------------------------------------------------------------- the prior
class GridPrior:
    """A learned prior over grid codes ``(F', T', C)`` for any ``T'``, optionally per class.

    Build with :meth:`fit`, draw with :meth:`sample`, store with :meth:`save` / :meth:`load` (a
    Keras file plus the JSON-ready :meth:`to_dict`).
    """

    def __init__(self, network, settings: PriorConfig, *, n_freq: int, channels: int, num_classes: int | None,
                 mean: Sequence[float], std: Sequence[float], train_frames: int, summary=None, start=None,
                 onset=None, label_dropout: float | None = None):
        if settings.kind not in PRIOR_KINDS:
            raise ParameterError(f"kind={settings.kind!r}: expected one of {', '.join(map(repr, PRIOR_KINDS))}")
        self.network = network
        #: the prior's settings (a :class:`~vae_audio.config.PriorConfig`): family, network, optimization and
        #: sampling; ``steps`` is the number of steps trained
        self.settings = settings
        self.n_freq, self.channels = int(n_freq), int(channels)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        dim = self.n_freq * self.channels
        if self.mean.shape != (dim,) or self.std.shape != (dim,) or not np.all(self.std > 0) \
                or not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std))):
            raise ParameterError(f"GridPrior: mean and std must be {dim} finite numbers (std > 0)")
        self.train_frames = int(train_frames)
        #: the clip summary the network is conditioned on, or None: ``(mean (dim,), basis (dim, k))``,
        #: the summary of a clip being ``(its columns' average - mean) @ basis``
        self.summary = summary
        #: the density each sample's start is drawn from, or None: rows ``[onset numbers | summary]``
        #: per class (a :class:`~vae_audio.modeling.latent_prior.KernelDensity` for a prior that
        #: draws its onset, a :class:`~vae_audio.modeling.latent_prior.LatentPrior` for a summary alone)
        self.start = start
        #: for a prior saved with a mixture onset (before the kernel): ``(mean (K * dim,), basis
        #: (k_onset, K * dim))``, the columns being ``mean + numbers @ basis``; else None (the
        #: onset numbers are the standardized columns themselves)
        self.onset = onset
        #: fraction of training examples whose label was replaced by "no label" (what guidance needs)
        self.label_dropout = float(_default_dropout(self.kind) if label_dropout is None else label_dropout)

    @property
    def kind(self) -> str:
        return self.settings.kind

    @property
    def width(self) -> int:
        return self.settings.width

    @property
    def dilations(self) -> tuple[int, ...]:
        return self.settings.dilations

    @property
    def steps_trained(self) -> int:
        return self.settings.steps or 0

    @property
    def onset_columns(self) -> int:
        """How many first columns of a sample come from its start's draw instead of the network (0: none)."""
        return self.settings.onset_columns or 0

    @property
    def temperature(self) -> float | None:
        """The sampling temperature chosen at training time, or None (the family's default)."""
        return self.settings.temperature

    @property
    def draws_onset(self) -> bool:
        """Whether each sample starts from a training clip's first columns plus noise (a kernel density)."""
        from .latent_prior import KernelDensity

        return self.onset_columns > 0 and isinstance(self.start, KernelDensity)

    def set_sampling(self, *, temperature: float | None = None, onset_noise: float | None = None) -> None:
        """Change the default sampling temperature and the onset's noise (``None``: leave that one); the
        onset noise only matters to a prior that starts from a training clip's onset (a kernel density)."""
        changes: dict[str, Any] = {}
        if temperature is not None:
            changes["temperature"] = _saved_temperature(temperature)
        if onset_noise is not None and self.draws_onset:
            changes["onset_noise"] = checks.number(onset_noise, "onset_noise", 0)
            self.start.bandwidth[...] = changes["onset_noise"]
        if changes:
            self.settings = dataclasses.replace(self.settings, **changes)

    @property
    def guidable(self) -> bool:
        """Whether classifier-free guidance works: a conditional diffusion prior trained with label dropout."""
        return self.conditional and self.kind == "diffusion" and self.label_dropout > 0

    @property
    def dim(self) -> int:
        return self.n_freq * self.channels

    @property
    def onset_dim(self) -> int:
        """Numbers of the onset at the start of each :meth:`sample_summaries` row (0: no onset)."""
        return len(self.onset[1]) if self.onset is not None else self.onset_columns * self.dim

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def mismatch(self, latent_shape: Sequence[int | None], num_classes: int | None) -> str | None:
        """Why this prior cannot serve a grid model with ``latent_shape`` ``(F', T', C)`` and
        ``num_classes``, or None if it can."""
        if len(latent_shape) != 3:
            return "it is a prior over grid latents; the model's latent is a vector"
        if (int(latent_shape[0]), int(latent_shape[2])) != (self.n_freq, self.channels):
            return (f"latent rows x channels {self.n_freq} x {self.channels} do not match the model's "
                    f"{latent_shape[0]} x {latent_shape[2]}")
        if self.num_classes != num_classes:
            return f"it is {_kind_of(self.num_classes)} but the model is {_kind_of(num_classes)}"
        return None

    @property
    def default_temperature(self) -> float:
        """The temperature used when none is given: the one chosen at training time (``fit(temperature=)``),
        else :data:`DEFAULT_TEMPERATURE` of the family."""
        return DEFAULT_TEMPERATURE[self.kind] if self.temperature is None else self.temperature

    def describe(self) -> str:
        """One line for reports, e.g. ``"learned autoregressive prior (1500 steps)"``."""
        summary = f", conditioned on a {self.summary[1].shape[1]}-number clip summary" if self.summary else ""
        if self.onset_columns:
            summary += (f", its first {self.onset_columns} columns drawn from "
                        + ("a mixture" if self.onset is not None else "the training clips' (kernel density)"))
        if self.temperature is not None:
            summary += f", sampled at temperature {self.temperature:g}"
        return f"learned {self.kind} prior ({self.steps_trained} steps{summary})"

    def __repr__(self) -> str:
        return (f"<GridPrior {self.kind}, latent {self.n_freq} x T' x {self.channels}, "
                f"{_kind_of(self.num_classes)}, {self.steps_trained} steps>")

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, z_mean: np.ndarray, z_log_var: np.ndarray, labels: np.ndarray | None = None,
            settings: PriorConfig | None = None, *, num_classes: int | None = None, seed: int = 0, verbose: int = 0,
            callbacks: Sequence[Any] | None = None) -> "GridPrior":
        """Train a prior on encoder outputs of the training set.

        Parameters
        ----------
        z_mean, z_log_var : ``(n, F', T', C)`` posterior means and log-variances.
        labels : ``(n,)`` class indices for a conditional prior (then ``num_classes`` too), or None.
        settings : a :class:`~vae_audio.config.PriorConfig` (unset settings at their defaults,
            :meth:`~vae_audio.config.PriorConfig.with_defaults`; ``kind`` one of :data:`PRIOR_KINDS`):

            - ``steps``, ``batch_size``, ``learning_rate``: the optimizer (Adam, cosine-decayed
              learning rate, weights averaged by an exponential moving average);
            - ``width``, ``dilations``: channels and dilation per residual block of the network;
            - ``summary_dim`` (autoregressive): the size of a clip summary the network is
              conditioned on (0: none);
            - ``onset_columns``, ``onset_noise`` (autoregressive): with ``onset_columns = K > 0``
              the first ``K`` columns of a sample are not drawn by the network one by one: the
              sample starts from the first ``K`` columns of a training clip of its class, chosen at
              random, plus Gaussian noise of ``onset_noise`` standard deviations (a kernel density
              over the training clips' onsets, :class:`~vae_audio.modeling.latent_prior.KernelDensity`;
              with a clip summary, the same clip's summary with the same noise, so attack and
              summary agree), and the network continues from it. The network itself trains as
              without; ``K`` is capped at the codes' number of columns. Without an onset a summary
              is drawn from a Gaussian mixture per class;
            - ``temperature``: the prior's default sampling temperature (saved with it).

            The settings of a diffusion prior have ``summary_dim = onset_columns = 0``.
        verbose : Keras ``fit`` verbosity (0 silent, 2 one line per 500 steps).
        callbacks : Keras callbacks of the network's ``fit`` (e.g. the time budget's step timer).
        """
        settings = (PriorConfig() if settings is None else settings).with_defaults()
        kind = settings.kind
        if kind not in PRIOR_KINDS:
            raise ParameterError(f"kind={kind!r}: expected one of {', '.join(map(repr, PRIOR_KINDS))}")
        seed = checks.seed(seed)
        z_mean = np.asarray(z_mean, np.float32)
        z_log_var = np.asarray(z_log_var, np.float32)
        if z_mean.ndim != 4 or z_mean.shape != z_log_var.shape or len(z_mean) < 1:
            raise ParameterError(f"z_mean, z_log_var: expected two arrays (n, F', T', C) of the same shape, got "
                                 f"{z_mean.shape} and {z_log_var.shape}")
        n, n_freq, frames, channels = z_mean.shape
        own = kind == "autoregressive"  # the summary and the onset are that family's; the onset fits the codes
        settings = dataclasses.replace(settings, summary_dim=settings.summary_dim if own else 0,
                                       onset_columns=min(settings.onset_columns, frames) if own else 0)
        if labels is not None:
            labels = np.asarray(labels, np.int32)
            if num_classes is None:
                num_classes = int(labels.max()) + 1
            if labels.shape != (n,) or labels.min() < 0 or labels.max() >= num_classes:
                raise ParameterError(f"labels: expected {n} class indices in 0..{num_classes - 1}")
        seq = codes_to_sequences(z_mean)
        sd = codes_to_sequences(np.exp(0.5 * np.clip(z_log_var, -30.0, 30.0)))
        # the aggregate posterior's mean and spread per dimension
        mean = seq.mean(axis=(0, 1))
        std = np.sqrt(seq.var(axis=(0, 1)) + (sd ** 2).mean(axis=(0, 1))) + 1e-6
        seq, sd = (seq - mean) / std, sd / std
        summary = start = None
        if settings.summary_dim or settings.onset_columns:
            summary, start = _fit_start(seq, labels, num_classes, settings.summary_dim, seed,
                                        settings.onset_columns, settings.onset_noise)
            settings = dataclasses.replace(settings, summary_dim=0 if summary is None else summary[1].shape[1])
        n_labels = (num_classes + 1) if num_classes is not None else 1  # last index: "no label"
        network = _build_network(kind, n_freq * channels, n_labels, settings.width, settings.dilations, seed,
                                 settings.summary_dim)
        dropout = _default_dropout(kind) if num_classes is not None else 0.0  # what guidance needs
        prior = cls(network, settings, n_freq=n_freq, channels=channels, num_classes=num_classes, mean=mean,
                    std=std, train_frames=frames, summary=summary, start=start, label_dropout=dropout)
        steps = settings.steps
        ds = _training_examples(seq, sd, labels, n_labels, kind, summary, settings.batch_size, dropout, seed)
        warmup = min(200, steps // 10)
        schedule = keras.optimizers.schedules.CosineDecay(0.0, max(1, steps - warmup), alpha=0.05,
                                                          warmup_target=float(settings.learning_rate),
                                                          warmup_steps=warmup)
        ema = min(0.995, 1.0 - 10.0 / steps)  # average over at most a tenth of the run (short runs too)
        network.compile(optimizer=keras.optimizers.Adam(schedule, use_ema=ema > 0, ema_momentum=max(ema, 0.0)),
                        loss=_gaussian_nll if kind == "autoregressive" else "mse")
        # the optimizer's slots and averages made now, not while the first step is traced (a trace a third as long)
        network.optimizer.build(network.trainable_variables)
        # one progress line per "epoch" of about 500 steps (a divisor of steps, so exactly steps run)
        per_epoch = next((d for d in range(min(steps, 500), 0, -1) if steps % d == 0 and d >= min(steps, 100)), steps)
        network.fit(ds, epochs=steps // per_epoch, steps_per_epoch=per_epoch, verbose=verbose,
                    shuffle=False, callbacks=list(callbacks or []))  # ends on the EMA weights
        return prior

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, labels: np.ndarray | None = None, *, frames: int, seed: int = 0,
               temperature: float | None = None, guidance: float | None = None,
               sampling_steps: int = DEFAULT_SAMPLING_STEPS, batch_size: int = 256,
               noise: np.ndarray | None = None, summaries: np.ndarray | None = None) -> np.ndarray:
        """Draw ``n`` codes ``(n, F', frames, C)`` float32; ``frames`` latent columns (any number >= 1).

        ``labels`` ``(n,)`` class indices (conditional prior). ``temperature`` scales the noise
        (diffusion: the initial noise; autoregressive: each frame's standard deviation); 1 = the
        learned density, < 1 more typical, less varied; default :attr:`default_temperature`. ``guidance``:
        classifier-free guidance scale of a :attr:`guidable` (conditional diffusion) prior, default
        :data:`DEFAULT_GUIDANCE`. The same arguments give the same codes.

        ``noise`` ``(n, frames, F' * C)``: the standard-normal draws to use instead of ``seed``'s.
        Sampling is a deterministic function of them (autoregressive: each column's innovation;
        diffusion: the starting noise of DDIM), so they are the prior's own latent: see
        :func:`prior_noise` and :func:`slerp` for an interpolation between two samples.
        ``summaries`` ``(n, k)``: the rows of :meth:`sample_summaries` to start from instead of
        drawing them (a prior with a clip summary or an onset: the onset's numbers, then the summary).
        """
        temperature = self.default_temperature if temperature is None else temperature
        if guidance is not None and guidance != 1.0 and not self.guidable:
            raise ParameterError(f"guidance={guidance!r}: only a conditional diffusion prior is guided; "
                                 f"this one is {_kind_of(self.num_classes)} {self.kind}")
        lab = np.zeros(n, np.int32) if labels is None else np.asarray(labels, np.int32)
        if noise is None:
            noise = prior_noise(n, frames, self.dim, seed)
        if self.start is not None and summaries is None:
            summaries = self.sample_summaries(n, lab, seed=seed)
        out = []
        for start in range(0, n, batch_size):
            sl = slice(start, min(n, start + batch_size))
            if self.kind == "diffusion":
                seq = self._ddim(lab[sl], noise[sl], float(temperature),
                                 DEFAULT_GUIDANCE if guidance is None else float(guidance), int(sampling_steps))
            else:
                seq = self._autoregress(lab[sl], noise[sl], float(temperature),
                                        None if summaries is None else summaries[sl])
            out.append(seq)
        seq = np.concatenate(out) * self.std + self.mean
        return sequences_to_codes(seq.astype(np.float32), self.n_freq)

    def sample_summaries(self, n: int, labels: np.ndarray | None = None, *, seed: int = 0) -> np.ndarray:
        """Draw the starts of ``n`` samples ``(n, k)`` (of class ``labels`` for a conditional
        prior) from :attr:`start`: each row is the :attr:`onset_dim` numbers of the onset (the
        first :attr:`onset_columns` standardized columns), then the clip summary the network is
        conditioned on, whichever the prior has."""
        if self.start is None:
            raise ParameterError("this prior draws neither a clip summary nor an onset")
        lab = None if not self.conditional else np.zeros(n, np.int32) if labels is None else labels
        return self.start.sample(int(n), lab, seed=int(seed)).astype(np.float32)

    def _predict(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """One pass of the network as a compiled graph (:func:`~vae_audio.modeling.models.compiled_inference`):
        DDIM sampling calls it once per step, and an eager Keras call costs tens of milliseconds
        of dispatch each time."""
        from .models import compiled_inference

        return np.asarray(compiled_inference(self.network)(dict(inputs)))

    def _ddim(self, lab, noise, temperature, guidance, n_steps) -> np.ndarray:
        x = noise.astype(np.float32) * temperature
        guided = self.conditional and guidance != 1.0
        null = np.full_like(lab, self.num_classes if self.conditional else 0)
        ts = np.linspace(1.0, 0.0, n_steps + 1)
        for t, s in zip(ts[:-1], ts[1:]):
            a_t, s_t = math.cos(0.5 * math.pi * t), math.sin(0.5 * math.pi * t)
            a_s, s_s = math.cos(0.5 * math.pi * s), math.sin(0.5 * math.pi * s)
            tt = np.full((len(lab), 1), t, np.float32)
            if guided:
                both = self._predict({"z": np.concatenate([x, x]), "label": np.concatenate([lab, null]),
                                      "t": np.concatenate([tt, tt])})
                v_c, v_u = both[:len(lab)], both[len(lab):]
                v = v_u + guidance * (v_c - v_u)
            else:
                v = self._predict({"z": x, "label": lab, "t": tt})
            x0 = a_t * x - s_t * v
            eps = s_t * x + a_t * v
            x = (a_s * x0 + s_s * eps).astype(np.float32)
        return x

    def _autoregress(self, lab, noise, temperature, summaries=None) -> np.ndarray:
        """Draw frame by frame; each frame is one call of the compiled step (:meth:`_step_function`)."""
        import tensorflow as tf

        b, frames, dim = noise.shape
        rows = _bucket(b)  # a few batch shapes per process: XLA compiles once for each
        pad = rows - b
        lab = np.concatenate([lab, np.zeros(pad, lab.dtype)])
        noise = np.concatenate([noise, np.zeros((pad, frames, dim), noise.dtype)])
        if summaries is not None:
            summaries = np.concatenate([summaries, np.zeros((pad, summaries.shape[1]), summaries.dtype)])
        onset = None
        if self.onset_columns:  # the first columns, given by the drawn rows
            k = self.onset_dim
            onset = summaries[:, :k] if self.onset is None else self.onset[0] + summaries[:, :k] @ self.onset[1]
            onset = onset.reshape(len(summaries), -1, dim)
            summaries = summaries[:, k:] if self.summary is not None else None
        network = self.network
        cond = network.get_layer("label_embedding")(tf.constant(lab))
        if summaries is not None:
            cond = cond + network.get_layer("summary_dense")(tf.constant(summaries, tf.float32))
        cond = network.get_layer("cond_act")(cond)
        step = self._step_function()
        buffers = tuple(tf.zeros((len(lab), 2 * d, self.width)) for d in self.dilations)
        z = tf.zeros((len(lab), dim))  # frame 0: the start (zeros, as in training)
        noise = tf.constant(noise)
        temperature = tf.constant(float(temperature))
        drawn = []
        for t in range(frames):
            z, buffers = step(z, cond, buffers, noise[:, t], temperature)
            if onset is not None and t < onset.shape[1]:
                z = tf.constant(onset[:, t].astype(np.float32))
            drawn.append(z)
        return tf.stack(drawn, axis=1).numpy()[:b]

    def _step_function(self):
        """One new frame from cached activations, compiled with XLA.

        A causal convolution with kernel 3 and dilation ``d`` needs, at frame ``t``, its input at
        ``t - 2d``, ``t - d`` and ``t``: each block keeps the last ``2d`` inputs of its convolution
        ``(rows, 2d, width)`` (zeros before the start, as the causal padding), so a frame costs one
        column of the network instead of a pass over the whole context (Paine et al. 2016, fast
        WaveNet generation); every other layer acts on one frame at a time and is called as is.
        ``step(z_t (rows, dim), cond (rows, width), buffers, noise_t (rows, dim), temperature)
        -> (drawn (rows, dim), buffers)``.
        The draws equal what the whole network predicts for each frame of the finished sequence
        (``tests/test_grid_prior.py``). Sampling 256 FSDD clips (24 columns) takes 0.20 s (0.38 s
        with a plain graph, 1.14 s re-running the network over the context); XLA compiles about
        0.5 s per batch shape, hence the few shapes of :func:`_bucket`.
        """
        if "_step" not in self.__dict__:
            import tensorflow as tf

            net, dim = self.network, self.dim
            blocks = [(net.get_layer(f"block{i}_norm"), net.get_layer(f"block{i}_film"),
                       net.get_layer(f"block{i}_act1"), net.get_layer(f"block{i}_conv"),
                       net.get_layer(f"block{i}_act2"), net.get_layer(f"block{i}_mix"))
                      for i in range(len(self.dilations))]
            in_proj, out_norm, out_act, out_proj = (net.get_layer(n)
                                                    for n in ("in_proj", "out_norm", "out_act", "out_proj"))

            @tf.function(jit_compile=True, reduce_retracing=True)
            def step(z_t, cond, buffers, noise_t, temperature):
                h = in_proj(z_t[:, None, :])
                kept = []
                for (norm, film, act1, conv, act2, mix), d, buf in zip(blocks, self.dilations, buffers):
                    r = act1(film([norm(h), cond]))
                    taps = tf.concat([buf[:, 0], buf[:, d], r[:, 0]], axis=-1)  # inputs at t - 2d, t - d, t
                    c = taps @ tf.reshape(conv.kernel, (-1, conv.kernel.shape[-1]))
                    if conv.use_bias:
                        c = c + conv.bias
                    h = h + mix(act2(c[:, None, :]))
                    kept.append(tf.concat([buf[:, 1:], r], axis=1))
                params = out_proj(out_act(out_norm(h)))[:, 0]
                mu, log_sigma = params[:, :dim], _MIN_LOG_SIGMA + tf.nn.softplus(params[:, dim:] - _MIN_LOG_SIGMA)
                return mu + temperature * tf.exp(log_sigma) * noise_t, tuple(kept)

            self._step = step
        return self._step

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """Everything but the network's weights, JSON-ready."""
        return {"kind": self.kind, "version": PRIOR_FORMAT_VERSION, "n_freq": self.n_freq,
                "channels": self.channels, "num_classes": self.num_classes, "width": self.width,
                "dilations": list(self.dilations), "train_frames": self.train_frames,
                "steps_trained": self.steps_trained,
                "summary_dim": 0 if self.summary is None else int(self.summary[1].shape[1]),
                "onset_columns": self.onset_columns, "onset_dim": self.onset_dim,
                "onset_kind": None if not self.onset_columns else "mixture" if self.onset is not None else "kernel",
                "label_dropout": self.label_dropout, "temperature": self.temperature,
                "batch_size": self.settings.batch_size, "learning_rate": self.settings.learning_rate,
                "onset_noise": self.settings.onset_noise, "mean": [float(v) for v in self.mean],
                "std": [float(v) for v in self.std]}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the network to ``path`` (a ``.keras`` file); the rest is :meth:`to_dict` and, for
        a summary-conditioned prior, :meth:`summary_bytes`."""
        path = Path(path)
        self.network.save(path)
        return path

    def summary_bytes(self) -> bytes:
        """The clip summary's projection (``mean``, ``basis``), the density of the starts (``kernel``
        or ``mixture``, as bytes) and a mixture onset's map (``onset_mean``, ``onset_basis``),
        whichever the prior has, as ``.npz`` bytes (see :meth:`load`)."""
        from .latent_prior import KernelDensity

        arrays = {} if self.summary is None else {"mean": self.summary[0], "basis": self.summary[1]}
        if self.onset is not None:
            arrays.update(onset_mean=self.onset[0], onset_basis=self.onset[1])
        key = "kernel" if isinstance(self.start, KernelDensity) else "mixture"
        arrays[key] = np.frombuffer(self.start.to_bytes(), np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def load(cls, path: str | os.PathLike, settings: Mapping[str, Any],
             summary_path: str | os.PathLike | None = None) -> "GridPrior":
        """Read a prior saved by :meth:`save` with its :meth:`to_dict` (and the file of its
        :meth:`summary_bytes` when ``settings`` name a summary or an onset); :class:`BundleError`
        naming the file if any is not a valid prior."""
        path = Path(path)
        if not isinstance(settings, Mapping) or settings.get("kind") not in PRIOR_KINDS:
            raise BundleError(f"{path}: the prior's settings are missing or name an unknown family "
                              f"{settings.get('kind') if isinstance(settings, Mapping) else settings!r}")
        version = settings.get("version")
        if version != PRIOR_FORMAT_VERSION:
            raise BundleError(f"{path}: prior format version {version!r}; this vae_audio reads {PRIOR_FORMAT_VERSION}")
        try:
            network = keras.saving.load_model(path, compile=False)
        except Exception as exc:  # keras raises many types for bad archives
            raise BundleError(f"{path}: cannot be loaded as a Keras model ({type(exc).__name__}: {exc})") from None
        try:
            # priors saved before a key existed have none: e.g. no temperature samples at the family's default
            columns = int(settings.get("onset_columns", 0))
            summary_dim = int(settings.get("summary_dim", 0))
            config = PriorConfig(kind=settings["kind"], steps=settings["steps_trained"] or None,
                                 width=settings["width"], dilations=tuple(settings["dilations"]),
                                 summary_dim=summary_dim, onset_columns=columns,
                                 temperature=_saved_temperature(settings.get("temperature")),
                                 **{k: settings.get(k) for k in ("batch_size", "learning_rate", "onset_noise")})
            prior = cls(network, config, **{k: settings[k] for k in ("n_freq", "channels", "num_classes", "mean",
                                                                     "std", "train_frames")},
                        label_dropout=settings.get("label_dropout"))
            # priors saved before the kernel onset drew theirs from a mixture, and had no "onset_kind" key
            onset_kind = settings.get("onset_kind", "mixture" if columns else None)
            if onset_kind not in ((None,) if not columns else ("kernel", "mixture")):
                raise ValueError(f"onset {onset_kind!r} with onset_columns={columns}")
            onset_dim = int(settings.get("onset_dim", 0))
        except (KeyError, TypeError, ValueError) as exc:  # ValueError includes the package's errors
            raise BundleError(f"{path}: corrupt prior settings ({type(exc).__name__}: {exc})") from None
        if summary_dim or prior.onset_columns:
            if summary_path is None:
                raise BundleError(f"{path}: a prior with a clip summary or an onset, but no summary file was given")
            prior.summary, prior.start, prior.onset = _load_start(Path(summary_path), prior.dim, summary_dim,
                                                                  prior.onset_columns, onset_kind, onset_dim)
        expected = prior.dim * (2 if prior.kind == "autoregressive" else 1)
        if int(network.outputs[0].shape[-1]) != expected:
            raise BundleError(f"{path}: the network makes {network.outputs[0].shape[-1]} numbers per frame, "
                              f"its settings say {expected}")
        return prior


def _saved_temperature(value: Any) -> float | None:
    """A prior's default sampling temperature as given to :meth:`GridPrior.fit` or read from its settings:
    None, or a finite number > 0 (:class:`ParameterError` otherwise)."""
    return None if value is None else checks.number(value, "temperature", 0, lo_open=True)


def _load_start(path: Path, dim: int, k: int, onset_columns: int, onset_kind: str | None, onset_dim: int):
    """``(summary or None, start density, mixture onset map or None)`` from a file of
    :meth:`GridPrior.summary_bytes`, checked against the prior's settings."""
    from .latent_prior import KernelDensity, LatentPrior

    kernel = onset_kind == "kernel"
    try:
        with np.load(path, allow_pickle=False) as data:
            summary = (data["mean"], data["basis"]) if k else None
            onset = (data["onset_mean"], data["onset_basis"]) if onset_kind == "mixture" else None
            blob = data["kernel" if kernel else "mixture"].tobytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: not a prior summary file ({type(exc).__name__})") from None
    if summary is not None and (summary[0].shape != (dim,) or summary[1].shape != (dim, k)):
        raise BundleError(f"{path}: summary of shape {summary[1].shape}, the prior's settings say ({dim}, {k})")
    if onset is not None and (onset[0].shape != (onset_columns * dim,)
                              or onset[1].shape != (onset_dim, onset_columns * dim)):
        raise BundleError(f"{path}: onset of shape {onset[1].shape}, the prior's settings say "
                          f"({onset_dim}, {onset_columns * dim})")
    start = (KernelDensity if kernel else LatentPrior).from_bytes(blob, name=str(path))
    width = k + (onset_columns * dim if kernel else onset_dim if onset is not None else 0)
    if start.latent_dim != width:
        raise BundleError(f"{path}: the starts' density is over {start.latent_dim} numbers, expected {width}")
    if summary is not None:
        summary = (summary[0].astype(np.float32), summary[1].astype(np.float32))
    return summary, start, None if onset is None else (onset[0].astype(np.float32), onset[1].astype(np.float32))


def _principal(x: np.ndarray, k: int):
    """Mean ``(d,)``, the top ``k`` (at most the rank) principal directions ``(k, d)`` of the rows
    of ``x`` ``(n, d)``, and each direction's standard deviation ``(k,)``."""
    mean = x.mean(axis=0)
    _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = max(1, min(int(k), len(sv), int(np.sum(sv > 1e-6 * sv[0]))))
    return mean, vt[:k], sv[:k] / math.sqrt(max(1, len(x) - 1))


def _fit_start(seq: np.ndarray, labels: np.ndarray | None, num_classes: int | None, k: int, seed: int,
               onset_columns: int, onset_noise: float):
    """The clip summary of a summary-conditioned prior and the density of each sample's start.

    The summary (``k > 0``) is the top ``k`` principal directions of the clips' time-averaged
    (standardized) columns, scaled to unit variance: ``(mean (dim,), basis (dim, k))``, else None.
    With ``onset_columns = K > 0`` the starts are a kernel density over the training clips' first
    ``K`` columns joined with their summaries, bandwidth ``onset_noise``; otherwise a Gaussian
    mixture (per class) over the summaries. Returns ``(summary, start)``."""
    from .latent_prior import KernelDensity, LatentPrior

    summary = s = None
    if k:
        avg = seq.mean(axis=1).astype(np.float64)
        mean, directions, spread = _principal(avg, k)
        basis = (directions.T / spread).astype(np.float32)
        summary, s = (mean.astype(np.float32), basis), (avg - mean) @ basis
    if not onset_columns:
        return summary, LatentPrior.fit(s, np.full_like(s, -20.0), labels, num_classes=num_classes, seed=seed)
    points = seq[:, :onset_columns].reshape(len(seq), -1)
    points = points if s is None else np.concatenate([points, s], axis=1)
    return summary, KernelDensity(points, onset_noise, labels)


def _bucket(n: int) -> int:
    """The batch size sampling runs at for ``n`` rows: the next power of two, at least 8."""
    return max(8, 1 << (int(n) - 1).bit_length())


def prior_noise(n: int, frames: int, dim: int, seed: int = 0) -> np.ndarray:
    """The standard-normal draws ``(n, frames, dim)`` float32 that :meth:`GridPrior.sample` turns
    into codes for ``seed`` (``dim = F' * C``, the numbers per latent column)."""
    rng = np.random.default_rng([int(seed), 11])
    return rng.standard_normal((int(n), int(frames), int(dim))).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points on the great circle from ``a`` to ``b`` (same shape), stacked on a new first axis.

    Between two standard-normal draws a straight line passes near the origin, where no draw
    lies (a mix of two independent draws has norm ``sqrt(t^2 + (1 - t)^2)`` times theirs,
    0.71 half way); spherical interpolation keeps the norm typical of the prior's noise.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = float(np.sum(a64 * b64) / (np.linalg.norm(a64) * np.linalg.norm(b64) + 1e-12))
    omega = math.acos(min(1.0, max(-1.0, cos)))
    t = np.linspace(0.0, 1.0, int(steps))
    if omega < 1e-6:
        w_a, w_b = 1.0 - t, t
    else:
        w_a, w_b = np.sin((1.0 - t) * omega) / math.sin(omega), np.sin(t * omega) / math.sin(omega)
    shape = (-1,) + (1,) * a64.ndim
    return (w_a.reshape(shape) * a64 + w_b.reshape(shape) * b64).astype(np.float32)


def _kind_of(num_classes: int | None) -> str:
    return "unconditional" if num_classes is None else f"conditional on {num_classes} classes"


def _gaussian_nll(y_true, y_pred):
    """Mean negative log-likelihood (nats per dimension, without the constant) of ``y_true``
    ``(b, t, d)`` under the diagonal Gaussians ``y_pred`` ``(b, t, 2 d)`` = mean, log std."""
    d = ops.shape(y_true)[-1]
    mu, log_sigma = y_pred[..., :d], y_pred[..., d:]
    log_sigma = _MIN_LOG_SIGMA + ops.softplus(log_sigma - _MIN_LOG_SIGMA)
    return ops.mean(0.5 * ops.square((y_true - mu) * ops.exp(-log_sigma)) + log_sigma)
