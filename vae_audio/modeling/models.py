"""Encoder/decoder builders and the variational autoencoder (Keras 3, backend-agnostic ops).

Architectures (``architecture=``)
---------------------------------
``"conv"``
    A small strided convolutional VAE sized for a laptop CPU: four 3x3 convolutions with
    stride 2 (filters 16, 32, 64, 128 by default, ReLU, no normalization layers), a flatten
    of the small grid (``freq/16 x frames/16 x 128``) and one Dense layer to the latent
    mean and log-variance (latent 64); the decoder mirrors it with a Dense layer back to the
    grid and 3x3 transposed convolutions with stride 2. ``norm=`` adds BatchNorm or GroupNorm
    (off by default: it triples the step time; ``benchmarks/model_speed.py``,
    ``docs/experiments/architectures.md``).
``"simple"``
    Dense layers on the flattened spectrogram (512, 256 units; the first notebook's model).
``"grid"`` (default)
    A fully convolutional VAE whose latent is a *grid* laid out over frequency and time
    (``(F', T', C)`` with ``F' = ceil(freq / sF)``, ``T' = ceil(frames / sT)``, ``C = latent_dim``
    channels): 3x3 convolutions with the (freq, time) ``strides`` (default two of 2x2, filters 32
    and 64, so a 129 x 94 FSDD spectrogram becomes a 33 x 24 x 8 code), optional residual blocks
    at the coarsest scale, 1x1 convolutions to the latent mean and log-variance, and a mirror
    decoder of 3x3 transposed convolutions. Every layer works on any number of frames, so one
    model encodes and decodes clips of any length. A conditional model modulates every
    convolution with FiLM (per-channel scale and shift from the label; starts as the identity).
    The output is a "snapping" sigmoid that reaches exact 0 and 1 (:class:`SnapSigmoid`):
    digital silence (about 40 % of FSDD's bins, the zero padding after a word) normalizes to
    exactly 0, and anything above it is heard as noise.
``"blog"``
    The convolutional recipe of the "sound generation with VAE" blog series, kept faithful
    for comparisons: Conv2D filters 512, 256, 128, 64, 32, kernels 3, strides 2, 2, 2, 2,
    (2, 1), each followed by ReLU and BatchNorm, latent 128, a mirror decoder of
    Conv2DTranspose layers and a sigmoid output. Train it with ``likelihood="mse_scaled"``
    (loss = 1,000,000 x MSE + KL), Adam 5e-4 and batch 64 to reproduce the recipe.

Any spectrogram size works: the encoder zero-pads its input (at the high-frequency end
and at the end in time) to a multiple of the total stride, and the decoder crops its output
back to ``(freq, frames)`` (the ``grid`` decoder crops frequency; it returns ``T' * sT`` frames,
which :class:`VAE` and :class:`~vae_audio.modeling.inference.TrainedModel` crop to the clip's frames).

Model inputs and outputs (names are the dict keys)
--------------------------------------------------
encoder: ``{"spectrogram": (batch, freq, frames, 1) float32 in [0, 1]}`` plus
``"label": (batch,) int32`` for a conditional model -> ``[z_mean, z_log_var]``, each
``(batch, latent_dim)`` (``grid``: ``(batch, F', T', latent_dim)``; ``frames`` is ``None``).
decoder: ``{"z": (batch, latent_dim)}`` (``grid``: ``(batch, F', T', latent_dim)``) plus
``"label"`` -> ``(batch, freq, frames, 1)`` in [0, 1] (sigmoid).
A conditional model (``num_classes=K``) one-hot encodes the label and concatenates it to the
flattened features before the encoder's latent layer and to ``z`` before the decoder's
first Dense layer.

The ``conv``, ``simple`` and ``blog`` encoders and decoders contain only built-in Keras layers;
``grid`` adds three small registered layers (:class:`PadTime`, :class:`FiLM`,
:class:`SnapSigmoid`), so its ``.keras`` files load once ``vae_audio.modeling.models`` is imported (as
:func:`~vae_audio.modeling.bundle.load_model` does).
"""

from __future__ import annotations

import functools
import json
import math
import weakref
from typing import Any, Mapping, Sequence

import keras
import numpy as np
from keras import layers, ops

from .. import checks
from ..choices import ARCH_DEFAULTS, ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_LATENT_DIM, LIKELIHOODS
from ..errors import ConfigError, ParameterError

__all__ = [
    "ARCHITECTURES",
    "LIKELIHOODS",
    "DEFAULT_ARCHITECTURE",
    "DEFAULT_LIKELIHOOD",
    "DEFAULT_LATENT_DIM",
    "SPECTROGRAM_KEY",
    "LABEL_KEY",
    "LATENT_KEY",
    "compiled_inference",
    "build_encoder",
    "build_decoder",
    "model_spec",
    "Sampling",
    "VAE",
    "encode_array",
    "decode_array",
    "latent_shape",
    "num_classes_of",
    "is_grid",
    "time_stride",
    "PadTime",
    "FiLM",
    "SnapSigmoid",
]

DEFAULT_LIKELIHOOD = "calibrated"
#: architectures whose latent is a grid over (freq, time) and that take any number of frames
GRID_ARCHITECTURES = ("grid",)

SPECTROGRAM_KEY = "spectrogram"
LABEL_KEY = "label"
LATENT_KEY = "z"

NORMS = (None, "batch", "group")
ACTIVATIONS = ("relu", "silu")
OUTPUTS = ("snap", "sigmoid")
#: how far below 0 / above 1 the snapping sigmoid clips (see :class:`SnapSigmoid`)
SNAP_MARGIN = 0.02

_SPEC_ATTR = "_vae_audio_spec"
_LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------- validation
def _check_shape(shape: Any, name: str) -> tuple[int, int]:
    try:
        dims = tuple(int(d) for d in shape)
        ok = len(dims) == 2 and all(d >= 1 and d == float(s) for d, s in zip(dims, shape))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"{name}={shape!r}: expected (freq, frames), two whole numbers >= 1")
    return dims  # type: ignore[return-value]


def _builder_args(shape: Any, name: str, architecture: Any, latent_dim: Any, num_classes: Any,
                  arch_kwargs: Mapping[str, Any]):
    """The checked arguments of :func:`build_encoder` / :func:`build_decoder`: ``(shape, architecture,
    latent_dim, num_classes, settings)``, defaults filled in."""
    shape = _check_shape(shape, name)
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"architecture={architecture!r}: expected one of {ARCHITECTURES}")
    latent_dim = (DEFAULT_LATENT_DIM[architecture] if latent_dim is None
                  else checks.whole_number(latent_dim, "latent_dim", 1, error=ConfigError))
    if num_classes is not None:
        num_classes = checks.whole_number(num_classes, "num_classes", 2, error=ConfigError,
                                          note=" or None (unconditional)")
    return shape, architecture, latent_dim, num_classes, _arch_settings(architecture, arch_kwargs)


def _arch_settings(architecture: str, arch_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    defaults = ARCH_DEFAULTS[architecture]
    unknown = sorted(set(arch_kwargs) - set(defaults))
    if unknown:
        raise ConfigError(f"architecture {architecture!r}: unknown options {unknown}; known options are "
                          f"{sorted(defaults)}")
    settings = {**defaults, **arch_kwargs}

    def positive_ints(name: str) -> tuple[int, ...]:
        value = settings[name]
        try:
            out = tuple(int(v) for v in value)
            ok = len(out) >= 1 and all(v >= 1 and not isinstance(v, bool) for v in out)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"{name}={value!r}: expected a non-empty sequence of whole numbers >= 1")
        return out

    if "filters" in settings:
        settings["filters"] = positive_ints("filters")
    if "hidden" in settings:
        settings["hidden"] = positive_ints("hidden")
    for name in ("kernel_size", "transpose_kernel_size"):
        if name in settings:
            settings[name] = checks.whole_number(settings[name], name, 1, error=ConfigError)
    if "norm" in settings and settings["norm"] not in NORMS:
        raise ConfigError(f"norm={settings['norm']!r}: expected one of {NORMS}")
    if "activation" in settings and settings["activation"] not in ACTIVATIONS:
        raise ConfigError(f"activation={settings['activation']!r}: expected one of {ACTIVATIONS}")
    if "output" in settings and settings["output"] not in OUTPUTS:
        raise ConfigError(f"output={settings['output']!r}: expected one of {OUTPUTS}")
    if "res_blocks" in settings:
        settings["res_blocks"] = checks.whole_number(settings["res_blocks"], "res_blocks", 0, 16, error=ConfigError)
    if "strides" in settings:
        strides = tuple(tuple(int(s) for s in (st if isinstance(st, (list, tuple)) else (st, st)))
                        for st in settings["strides"])
        if len(strides) != len(settings["filters"]) or any(len(s) != 2 or min(s) < 1 for s in strides):
            raise ConfigError(f"strides={settings['strides']!r}: expected one (freq, time) stride >= 1 per filter")
        settings["strides"] = strides
    return settings


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def model_spec(model: keras.Model) -> dict[str, Any] | None:
    """The build settings recorded on a model by :func:`build_encoder`/:func:`build_decoder`.

    A dict ``{"architecture", "shape", "latent_dim", "num_classes", "options"}``, or ``None``
    for a model not built here (for example one loaded from a ``.keras`` file).
    """
    text = getattr(model, _SPEC_ATTR, None)
    return json.loads(text) if isinstance(text, str) else None


def _total_stride(architecture: str, settings: Mapping[str, Any]) -> tuple[int, int]:
    if architecture == "conv":
        n = 2 ** len(settings["filters"])
        return n, n
    if architecture in ("blog", "grid"):
        return (int(np.prod([s[0] for s in settings["strides"]])), int(np.prod([s[1] for s in settings["strides"]])))
    return 1, 1


def _pad_amount(shape: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    return (-shape[0]) % stride[0], (-shape[1]) % stride[1]


# ----------------------------------------------------------------------------- grid layers
@keras.saving.register_keras_serializable(package="vae_audio")
class PadTime(layers.Layer):
    """Zero-pad the frames axis at the end to a multiple of ``multiple``; works for any (``None``) frames.

    ``(batch, freq, frames, ch) -> (batch, freq, ceil(frames / multiple) * multiple, ch)``.
    """

    def __init__(self, multiple: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, x):
        if self.multiple == 1:
            return x
        pad = (-ops.shape(x)[2]) % self.multiple
        tail = ops.zeros_like(x[:, :, :self.multiple - 1])[:, :, :pad]  # (batch, freq, pad, ch)
        return ops.concatenate([x, tail], axis=2)

    def compute_output_shape(self, input_shape):
        b, f, t, c = input_shape
        return (b, f, None if t is None else -(-t // self.multiple) * self.multiple, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="vae_audio")
class FiLM(layers.Layer):
    """Label-conditioned feature-wise affine map: ``[x (b, f, t, ch), label (b,)] -> x * (1 + gamma) + beta``.

    ``gamma, beta`` (``ch`` each) are rows of a zero-initialized table ``(num_classes, 2 ch)``, so the
    layer starts as the identity (Perez et al. 2018, "FiLM").
    """

    def __init__(self, num_classes: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def build(self, input_shape):
        channels = int(input_shape[0][-1])
        self.table = self.add_weight(name="table", shape=(self.num_classes, 2 * channels), initializer="zeros")

    def call(self, inputs):
        x, label = inputs
        gb = ops.take(self.table, ops.cast(label, "int32"), axis=0)[:, None, None, :]  # (b, 1, 1, 2 ch)
        gamma, beta = ops.split(gb, 2, axis=-1)
        return x * (1.0 + gamma) + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="vae_audio")
class SnapSigmoid(layers.Layer):
    """A sigmoid that reaches exact 0 and 1: forward ``clip((s - m) / (1 - 2 m), 0, 1)`` of
    ``s = sigmoid(logits)``, backward the gradient of ``s`` (straight-through), so a bin snapped to
    0 or 1 still learns when the target disagrees. Shape-preserving.

    Why: the normalized floor (0) is digital silence, and ``db_to_magnitude`` maps only values
    within 1e-3 dB of it to silence. A plain sigmoid never gets there; raising FSDD's silent bins
    by 0.56 dB (x = 0.005) turns the phase ceiling's audio LSD from 1.1 dB into 9.6 dB.
    """

    def __init__(self, margin: float = SNAP_MARGIN, **kwargs: Any):
        super().__init__(**kwargs)
        self.margin = float(margin)

    def call(self, logits):
        s = ops.sigmoid(logits)
        snapped = ops.clip((s - self.margin) / (1.0 - 2.0 * self.margin), 0.0, 1.0)
        return s + ops.stop_gradient(snapped - s)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "margin": self.margin}


def _film(x, label, num_classes: int | None, name: str):
    return x if num_classes is None else FiLM(num_classes, name=name)([x, label])


def _res_block(x, label, channels: int, act: str, num_classes: int | None, name: str):
    h = layers.Activation(act, name=f"{name}_act")(x)
    h = layers.Conv2D(channels, 3, padding="same", activation=act, name=f"{name}_a")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_b")(h)
    return _film(layers.Add(name=f"{name}_add")([x, h]), label, num_classes, f"{name}_film")


def _grid_encoder(n_freq: int, latent_dim: int, num_classes: int | None, settings: Mapping[str, Any]):
    sf, st = _total_stride("grid", settings)
    inputs = {SPECTROGRAM_KEY: keras.Input((n_freq, None, 1), name=SPECTROGRAM_KEY, dtype="float32")}
    label = None
    if num_classes is not None:
        label = inputs[LABEL_KEY] = keras.Input((), name=LABEL_KEY, dtype="int32")
    x = layers.ZeroPadding2D(((0, (-n_freq) % sf), (0, 0)), name="pad_freq")(inputs[SPECTROGRAM_KEY])
    x = PadTime(st, name="pad_time")(x)
    act = settings["activation"]
    for i, (f, stride) in enumerate(zip(settings["filters"], settings["strides"])):
        x = layers.Conv2D(f, 3, strides=stride, padding="same", activation=act, name=f"conv_{i}")(x)
        x = _film(x, label, num_classes, f"film_{i}")
    for j in range(settings["res_blocks"]):
        x = _res_block(x, label, settings["filters"][-1], act, num_classes, f"res_{j}")
    z_mean = layers.Conv2D(latent_dim, 1, name="z_mean")(x)
    z_log_var = layers.Conv2D(latent_dim, 1, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def _grid_decoder(n_freq: int, latent_dim: int, num_classes: int | None, settings: Mapping[str, Any]):
    sf, _ = _total_stride("grid", settings)
    inputs = {LATENT_KEY: keras.Input((-(-n_freq // sf), None, latent_dim), name=LATENT_KEY, dtype="float32")}
    label = None
    if num_classes is not None:
        label = inputs[LABEL_KEY] = keras.Input((), name=LABEL_KEY, dtype="int32")
    act, filters, strides = settings["activation"], settings["filters"], list(settings["strides"])
    x = layers.Conv2D(filters[-1], 3, padding="same", activation=act, name="conv_in")(inputs[LATENT_KEY])
    x = _film(x, label, num_classes, "film_in")
    for j in range(settings["res_blocks"]):
        x = _res_block(x, label, filters[-1], act, num_classes, f"res_{j}")
    up = strides[::-1]
    for i, (f, stride) in enumerate(zip(list(filters[:-1])[::-1], up[:-1])):
        x = layers.Conv2DTranspose(f, 3, strides=stride, padding="same", activation=act, name=f"deconv_{i}")(x)
        x = _film(x, label, num_classes, f"film_up_{i}")
    x = layers.Conv2DTranspose(1, 3, strides=up[-1], padding="same", name="logits")(x)
    x = layers.Cropping2D(((0, (-n_freq) % sf), (0, 0)), name="crop_freq")(x)
    out = (SnapSigmoid(name="reconstruction") if settings["output"] == "snap"
           else layers.Activation("sigmoid", name="reconstruction"))(x)
    return keras.Model(inputs, out, name="decoder")


def _record_spec(model: keras.Model, architecture: str, shape, latent_dim: int, num_classes: int | None,
                 arch_kwargs: Mapping[str, Any]) -> keras.Model:
    setattr(model, _SPEC_ATTR, json.dumps(_json_ready({
        "architecture": architecture, "shape": list(shape), "latent_dim": latent_dim,
        "num_classes": num_classes, "options": dict(arch_kwargs)})))
    return model


def _inputs(shape: tuple[int, int] | None, latent_dim: int | None, num_classes: int | None):
    inputs: dict[str, keras.KerasTensor] = {}
    if shape is not None:
        inputs[SPECTROGRAM_KEY] = keras.Input(shape=(*shape, 1), name=SPECTROGRAM_KEY, dtype="float32")
    else:
        inputs[LATENT_KEY] = keras.Input(shape=(latent_dim,), name=LATENT_KEY, dtype="float32")
    label_vec = None
    if num_classes is not None:
        inputs[LABEL_KEY] = keras.Input(shape=(), name=LABEL_KEY, dtype="int32")
        label_vec = layers.CategoryEncoding(num_tokens=num_classes, output_mode="one_hot",
                                            name="label_one_hot")(inputs[LABEL_KEY])
    return inputs, label_vec


def _norm_layer(norm: str | None, channels: int, name: str):
    if norm == "batch":
        return layers.BatchNormalization(name=name)
    if norm == "group":
        return layers.GroupNormalization(groups=min(8, channels), name=name)
    return None


# ----------------------------------------------------------------------------- builders
def build_encoder(input_shape: Sequence[int], *, architecture: str = DEFAULT_ARCHITECTURE,
                  latent_dim: int | None = None, num_classes: int | None = None,
                  **arch_kwargs: Any) -> keras.Model:
    """Build a standalone encoder ``keras.Model`` named ``"encoder"``.

    Parameters
    ----------
    input_shape : ``(freq, frames)`` of one spectrogram (any size; padded internally).
    architecture : ``"grid"`` (default), ``"conv"``, ``"simple"`` or ``"blog"`` (see the module docstring).
    latent_dim : latent size; default :data:`DEFAULT_LATENT_DIM` of the architecture.
    num_classes : number of classes for a conditional model (adds the ``"label"`` input), or None.
    arch_kwargs : architecture options, defaults in :data:`ARCH_DEFAULTS`:
        conv: ``filters`` (one stride-2 conv per entry), ``kernel_size``, ``transpose_kernel_size``,
        ``norm`` (None, "batch", "group"); simple: ``hidden``; blog: ``filters``, ``kernel_size``,
        ``strides``; grid: ``filters``, ``strides`` (one (freq, time) stride per filter),
        ``res_blocks``, ``activation`` ("relu", "silu"), ``output`` ("snap", "sigmoid").

    Returns
    -------
    ``keras.Model``: inputs ``{"spectrogram": (batch, freq, frames, 1)}`` (+ ``"label"`` (batch,)
    int32) -> ``[z_mean, z_log_var]``, each ``(batch, latent_dim)`` float32.
    """
    shape, architecture, latent_dim, num_classes, settings = _builder_args(
        input_shape, "input_shape", architecture, latent_dim, num_classes, arch_kwargs)
    if architecture in GRID_ARCHITECTURES:
        return _record_spec(_grid_encoder(shape[0], latent_dim, num_classes, settings), architecture, shape,
                            latent_dim, num_classes, arch_kwargs)
    inputs, label_vec = _inputs(shape, None, num_classes)
    x = inputs[SPECTROGRAM_KEY]

    if architecture == "simple":
        h = layers.Flatten(name="flatten")(x)
        for i, units in enumerate(settings["hidden"]):
            h = layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
    else:
        pad = _pad_amount(shape, _total_stride(architecture, settings))
        if any(pad):
            x = layers.ZeroPadding2D(((0, pad[0]), (0, pad[1])), name="pad")(x)
        if architecture == "conv":
            norm = settings["norm"]
            for i, f in enumerate(settings["filters"]):
                act = "relu" if norm is None else None
                x = layers.Conv2D(f, settings["kernel_size"], strides=2, padding="same", activation=act,
                                  use_bias=norm is None, name=f"conv_{i}")(x)
                nl = _norm_layer(norm, f, f"norm_{i}")
                if nl is not None:
                    x = layers.ReLU(name=f"relu_{i}")(nl(x))
        else:  # blog: Conv -> ReLU -> BatchNorm
            for i, (f, s) in enumerate(zip(settings["filters"], settings["strides"])):
                x = layers.Conv2D(f, settings["kernel_size"], strides=s, padding="same",
                                  name=f"encoder_conv_layer_{i + 1}")(x)
                x = layers.ReLU(name=f"encoder_relu_{i + 1}")(x)
                x = layers.BatchNormalization(name=f"encoder_bn_{i + 1}")(x)
        h = layers.Flatten(name="flatten")(x)
    if label_vec is not None:
        h = layers.Concatenate(name="with_label")([h, label_vec])
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    model = keras.Model(inputs, [z_mean, z_log_var], name="encoder")
    return _record_spec(model, architecture, shape, latent_dim, num_classes, arch_kwargs)


def build_decoder(output_shape: Sequence[int], *, architecture: str = DEFAULT_ARCHITECTURE,
                  latent_dim: int | None = None, num_classes: int | None = None,
                  **arch_kwargs: Any) -> keras.Model:
    """Build a standalone decoder ``keras.Model`` named ``"decoder"`` (the mirror of the encoder).

    Takes the same arguments as :func:`build_encoder` (``output_shape`` is ``(freq, frames)``).

    Returns
    -------
    ``keras.Model``: inputs ``{"z": (batch, latent_dim)}`` (+ ``"label"`` (batch,) int32) ->
    ``(batch, freq, frames, 1)`` float32 in [0, 1] (sigmoid).
    """
    shape, architecture, latent_dim, num_classes, settings = _builder_args(
        output_shape, "output_shape", architecture, latent_dim, num_classes, arch_kwargs)
    if architecture in GRID_ARCHITECTURES:
        return _record_spec(_grid_decoder(shape[0], latent_dim, num_classes, settings), architecture, shape,
                            latent_dim, num_classes, arch_kwargs)
    inputs, label_vec = _inputs(None, latent_dim, num_classes)
    h = inputs[LATENT_KEY]
    if label_vec is not None:
        h = layers.Concatenate(name="with_label")([h, label_vec])

    if architecture == "simple":
        for i, units in enumerate(reversed(settings["hidden"])):
            h = layers.Dense(units, activation="relu", name=f"dense_{i}")(h)
        h = layers.Dense(shape[0] * shape[1], name="dense_out")(h)
        x = layers.Reshape((*shape, 1), name="reshape")(h)
    else:
        stride = _total_stride(architecture, settings)
        pad = _pad_amount(shape, stride)
        padded = (shape[0] + pad[0], shape[1] + pad[1])
        filters = settings["filters"]
        grid = (padded[0] // stride[0], padded[1] // stride[1], filters[-1])
        if architecture == "conv":
            norm = settings["norm"]
            h = layers.Dense(int(np.prod(grid)), activation="relu", name="dense")(h)
            x = layers.Reshape(grid, name="reshape")(h)
            for i, f in enumerate(reversed(filters[:-1])):
                act = "relu" if norm is None else None
                x = layers.Conv2DTranspose(f, settings["transpose_kernel_size"], strides=2, padding="same",
                                           activation=act, use_bias=norm is None, name=f"deconv_{i}")(x)
                nl = _norm_layer(norm, f, f"norm_{i}")
                if nl is not None:
                    x = layers.ReLU(name=f"relu_{i}")(nl(x))
            x = layers.Conv2DTranspose(1, settings["transpose_kernel_size"], strides=2, padding="same",
                                       name="deconv_out")(x)
        else:  # blog: Dense -> reshape -> mirrored Conv2DTranspose -> ReLU -> BatchNorm; last layer 1 filter
            h = layers.Dense(int(np.prod(grid)), name="decoder_dense")(h)
            x = layers.Reshape(grid, name="decoder_reshape")(h)
            strides = settings["strides"]
            for j, i in enumerate(reversed(range(1, len(filters)))):
                x = layers.Conv2DTranspose(filters[i], settings["kernel_size"], strides=strides[i], padding="same",
                                           name=f"decoder_conv_transpose_layer_{j + 1}")(x)
                x = layers.ReLU(name=f"decoder_relu_{j + 1}")(x)
                x = layers.BatchNormalization(name=f"decoder_bn_{j + 1}")(x)
            x = layers.Conv2DTranspose(1, settings["kernel_size"], strides=strides[0], padding="same",
                                       name="decoder_conv_transpose_out")(x)
        if any(pad):
            x = layers.Cropping2D(((0, pad[0]), (0, pad[1])), name="crop")(x)
    out = layers.Activation("sigmoid", name="reconstruction")(x)
    model = keras.Model(inputs, out, name="decoder")
    return _record_spec(model, architecture, shape, latent_dim, num_classes, arch_kwargs)


# ----------------------------------------------------------------------------- numpy helpers
def num_classes_of(model: keras.Model) -> int | None:
    """The number of classes an encoder or decoder is conditional on, or ``None`` (unconditional)."""
    names = _input_names(model)
    if LABEL_KEY not in names:
        return None
    try:
        return int(model.get_layer("label_one_hot").num_tokens)
    except ValueError:
        films = [layer for layer in model.layers if isinstance(layer, FiLM)]
        return films[0].num_classes if films else None


def latent_shape(decoder: keras.Model) -> tuple[int | None, ...]:
    """The shape of one latent code: ``(latent_dim,)``, or ``(F', None, C)`` for a grid model."""
    return tuple(None if d is None else int(d) for d in decoder.input[LATENT_KEY].shape[1:])


def is_grid(model: keras.Model) -> bool:
    """Whether an encoder or decoder has a grid latent (and takes any number of frames)."""
    key = LATENT_KEY if LATENT_KEY in _input_names(model) else None
    if key is not None:
        return len(model.input[LATENT_KEY].shape) == 4
    return model.input[SPECTROGRAM_KEY].shape[2] is None


def time_stride(decoder: keras.Model) -> int:
    """Frames per latent column of a grid decoder (the product of its transposed convolutions' time strides)."""
    return int(np.prod([layer.strides[1] for layer in decoder.layers if isinstance(layer, layers.Conv2DTranspose)]))


def _input_names(model: keras.Model) -> list[str]:
    inputs = model.inputs if isinstance(model.inputs, (list, tuple)) else [model.inputs]
    return [getattr(t, "name", "").split(":")[0] for t in inputs]


def _check_labels(labels: Any, n: int, num_classes: int | None) -> np.ndarray | None:
    if num_classes is None:
        if labels is not None:
            raise ParameterError("labels: this model is not conditional; pass labels=None")
        return None
    if labels is None:
        raise ParameterError(f"labels: this model is conditional on {num_classes} classes; pass one int label "
                             f"per item (0..{num_classes - 1})")
    arr = np.asarray(labels)
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if not np.issubdtype(arr.dtype, np.integer) or arr.shape != (n,):
        raise ParameterError(f"labels: expected {n} whole-number labels, got shape {arr.shape} dtype {arr.dtype}")
    if n and (arr.min() < 0 or arr.max() >= num_classes):
        raise ParameterError(f"labels: values must be in 0..{num_classes - 1}, got {arr.min()}..{arr.max()}")
    return arr.astype(np.int32)


def _as_spectrograms(x: Any, shape: tuple[int, int | None]) -> np.ndarray:
    arr = np.asarray(x)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ParameterError(f"x: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 or arr.shape[1] != shape[0] or (shape[1] is not None and arr.shape[2] != shape[1]) \
            or arr.shape[2] < 1:
        frames = "frames" if shape[1] is None else shape[1]
        raise ParameterError(f"x: expected normalized spectrograms (n, {shape[0]}, {frames}) "
                             f"(or with a trailing channel axis), got shape {np.shape(x)}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError("x: contains NaN or infinite values")
    return arr.astype(np.float32, copy=False)[..., None]


_INFERENCE: "weakref.WeakKeyDictionary[keras.Model, Any]" = weakref.WeakKeyDictionary()


def compiled_inference(model: keras.Model):
    """``model(inputs, training=False)`` compiled as a TensorFlow graph, once per model.

    An eager call of a Keras model dispatches every layer from Python: a batch of 256 FSDD codes
    decodes in 0.20 s eagerly and in 0.10 s as a graph (tracing costs about 60 ms, the same as an
    eager first call); ``reduce_retracing`` keeps one graph for all batch sizes and lengths."""
    fn = _INFERENCE.get(model)
    if fn is None:
        import tensorflow as tf

        # a partial, not a lambda: TensorFlow counts traces per code object, and one lambda shared by
        # every model would make a few models' first traces look like "excessive retracing"
        fn = _INFERENCE[model] = tf.function(functools.partial(_infer, model), reduce_retracing=True)
    return fn


def _infer(model: keras.Model, inputs):
    return model(inputs, training=False)


def _run(model: keras.Model, inputs: dict[str, np.ndarray], batch_size: int) -> list[np.ndarray]:
    n = len(next(iter(inputs.values())))
    chunks: list[list[np.ndarray]] = []
    call = compiled_inference(model)
    for start in range(0, n, batch_size):
        part = {k: v[start:start + batch_size] for k, v in inputs.items()}
        out = call(part)
        out = out if isinstance(out, (list, tuple)) else [out]
        chunks.append([np.asarray(keras.ops.convert_to_numpy(o)) for o in out])
    if not chunks:
        raise ParameterError("x: empty batch (n = 0)")
    return [np.concatenate(parts) for parts in zip(*chunks)]


def encode_array(encoder: keras.Model, x: Any, labels: Any = None, *,
                 batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Run an encoder on NumPy spectrograms ``(n, freq, frames)`` (or ``(n, freq, frames, 1)``).

    Returns ``(z_mean, z_log_var)``, each ``(n, latent_dim)`` float32 (inference mode); for a grid
    encoder each is ``(n, F', T', latent_dim)`` and ``x`` may have any number of frames.
    """
    shape = tuple(None if d is None else int(d) for d in encoder.input[SPECTROGRAM_KEY].shape[1:3])
    xs = _as_spectrograms(x, shape)
    lab = _check_labels(labels, len(xs), num_classes_of(encoder))
    inputs = {SPECTROGRAM_KEY: xs}
    if lab is not None:
        inputs[LABEL_KEY] = lab
    z_mean, z_log_var = _run(encoder, inputs, batch_size)
    return z_mean, z_log_var


def decode_array(decoder: keras.Model, z: Any, labels: Any = None, *, batch_size: int = 64) -> np.ndarray:
    """Run a decoder on latent vectors ``(n, latent_dim)``; returns ``(n, freq, frames)`` float32 in [0, 1].

    A grid decoder takes codes ``(n, F', T', C)`` (any ``T'``) and returns ``T' * sT`` frames.
    """
    shape = latent_shape(decoder)
    arr = np.asarray(z)
    if arr.ndim == len(shape):
        arr = arr[None]
    ok = arr.ndim == len(shape) + 1 and all(d is None or a == d for a, d in zip(arr.shape[1:], shape)) \
        and np.issubdtype(arr.dtype, np.number) and arr.size > 0
    if not ok:
        want = ", ".join("T'" if d is None else str(d) for d in shape)
        raise ParameterError(f"z: expected latent codes (n, {want}), got shape {np.shape(z)}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError("z: contains NaN or infinite values")
    lab = _check_labels(labels, len(arr), num_classes_of(decoder))
    inputs = {LATENT_KEY: arr.astype(np.float32)}
    if lab is not None:
        inputs[LABEL_KEY] = lab
    (out,) = _run(decoder, inputs, batch_size)
    return out[..., 0]


def prior_latents(n: int, latent_dim: int | tuple[int, ...], seed: int = 0) -> np.ndarray:
    """``n`` standard-normal latent codes ``(n, latent_dim)`` (or ``(n, *shape)``) float32 from NumPy's
    generator ``seed``."""
    checks.whole_number(n, "n", 1)
    checks.seed(seed)
    shape = tuple(latent_dim) if isinstance(latent_dim, tuple) else (int(latent_dim),)
    return np.random.default_rng(int(seed)).standard_normal((int(n), *shape)).astype(np.float32)


# ----------------------------------------------------------------------------- VAE
@keras.saving.register_keras_serializable(package="vae_audio")
class Sampling(layers.Layer):
    """Reparameterization trick: ``z = z_mean + exp(z_log_var / 2) * eps``, ``eps ~ N(0, I)``.

    Draws come from a :class:`keras.random.SeedGenerator` (its state is a layer variable,
    so a given ``seed`` gives the same sequence of draws on CPU).
    """

    def __init__(self, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


def _scale_for_replicas(value):
    """Divide a per-replica mean loss by the replica count (what Keras' own losses do under tf.distribute)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        n = tf.distribute.get_strategy().num_replicas_in_sync
        if n > 1:
            value = value * (1.0 / n)
    return value


def _softclip_min(x, low: float):
    """A smooth ``max(x, low)``: ``low + softplus(x - low)``."""
    return low + ops.softplus(x - low)


@keras.saving.register_keras_serializable(package="vae_audio")
class VAE(keras.Model):
    """Variational autoencoder around a standalone encoder and decoder.

    Parameters
    ----------
    encoder, decoder : models from :func:`build_encoder` / :func:`build_decoder` (or any models
        with the same inputs and outputs).
    likelihood : the decoder's likelihood, i.e. the reconstruction term:
        ``"calibrated"`` (default): Gaussian with one shared variance set per batch to its
        maximum-likelihood value, ``sigma^2 = mean squared error`` (the sigma-VAE of Rybkin et
        al. 2021, "Simple and Effective VAE Training with Calibrated Decoders"); the loss is the
        true Gaussian negative log-likelihood summed over pixels, so reconstruction and KL are
        balanced with no hand-set weight.
        ``"gaussian"``: the same Gaussian NLL with a learned shared ``log_sigma`` variable.
        ``"mse_scaled"``: ``reconstruction_weight * MSE`` (the blog's 1,000,000 x MSE).
        ``"spectral"``: ``"calibrated"`` plus two terms on the linear magnitude
        ``M = 10 ** ((low + x (high - low)) / 20)`` (``db_range = (low, high)``, the normalizer's):
        ``(N / 2) log mean(SC^2)`` with ``SC = ||M - M_hat||_F / ||M||_F`` per clip, and
        ``N log mean |log10 M - log10 M_hat|`` (``N`` bins per clip). Each is the negative
        log-likelihood of a likelihood whose scale is set to its current error (a Gaussian on
        ``M`` scaled by ``||M||``, a Laplace on ``log10 M``), as the calibrated term is for the
        MSE: no weights to tune, the units of ``M`` drop out, and all terms are nats like the KL.
    beta : weight of the KL term once warmed up (set later with :meth:`set_beta`).
    kl_warmup_steps : beta ramps linearly from 0 to ``beta`` over this many training steps
        (0 = no warm-up). The step count is a non-trainable variable, saved with the weights.
    reconstruction_weight : the MSE factor of ``"mse_scaled"``.
    min_log_sigma : lower bound (soft-clipped) of the decoder's log standard deviation.
    initial_log_sigma : starting value of the learned ``log_sigma`` (``"gaussian"`` only).
    seed : seed of the sampling noise.
    db_range : ``(low_db, high_db)`` of the global normalizer; needed by ``"spectral"``.

    Inputs are dicts ``{"spectrogram": (batch, freq, frames, 1)}`` (plus ``"label"`` for a
    conditional model) or a bare spectrogram tensor; ``model.fit`` takes a ``tf.data.Dataset``
    of such dicts with no target. ``call`` returns ``{"reconstruction", "z_mean", "z_log_var"}``
    (with a *sampled* z). Logged metrics: ``loss`` (total, per example), ``reconstruction_loss``,
    ``kl_loss`` (unweighted KL per example) and ``mse`` (mean squared error per pixel, in
    normalized units; comparable between likelihoods).

    This is the training graph only; a trained model is used through
    :class:`vae_audio.modeling.inference.TrainedModel` (``TrainedModel.from_vae(vae, recipe=...)`` in memory,
    :func:`~vae_audio.modeling.bundle.load_model` from files).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *, likelihood: str = DEFAULT_LIKELIHOOD,
                 beta: float = 1.0, kl_warmup_steps: int = 0, reconstruction_weight: float = 1e6,
                 min_log_sigma: float = -6.0, initial_log_sigma: float = -2.0, seed: int | None = None,
                 db_range: Sequence[float] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"likelihood={likelihood!r}: expected one of {LIKELIHOODS}")
        if db_range is not None:
            db_range = tuple(float(v) for v in db_range)
            if len(db_range) != 2 or not all(math.isfinite(v) for v in db_range) or db_range[1] <= db_range[0]:
                raise ConfigError(f"db_range={db_range!r}: expected (low_db, high_db) with low < high")
        if likelihood == "spectral" and db_range is None:
            raise ConfigError("likelihood='spectral' needs db_range=(low_db, high_db), the normalizer's dB range")
        self.db_range = db_range
        for name, value in (("beta", beta), ("reconstruction_weight", reconstruction_weight),
                            ("min_log_sigma", min_log_sigma), ("initial_log_sigma", initial_log_sigma)):
            checks.number(value, name, error=ConfigError)
        checks.number(beta, "beta", 0, error=ConfigError)
        checks.number(reconstruction_weight, "reconstruction_weight", 0, lo_open=True, error=ConfigError)
        checks.whole_number(kl_warmup_steps, "kl_warmup_steps", 0, error=ConfigError)
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.reconstruction_weight = float(reconstruction_weight)
        self.min_log_sigma = float(min_log_sigma)
        self.initial_log_sigma = float(initial_log_sigma)
        self.seed = seed
        self.num_classes = num_classes_of(encoder)
        self.latent_dim = int(encoder.outputs[0].shape[-1])
        self.sampler = Sampling(seed=seed, name="sampling")
        self.beta = self.add_weight(name="beta", shape=(), initializer=keras.initializers.Constant(float(beta)),
                                    trainable=False, aggregation="only_first_replica")
        self.step = self.add_weight(name="step", shape=(), initializer="zeros", trainable=False,
                                    aggregation="only_first_replica")
        self.log_sigma = None
        if likelihood == "gaussian":
            self.log_sigma = self.add_weight(name="log_sigma", shape=(),
                                             initializer=keras.initializers.Constant(self.initial_log_sigma),
                                             trainable=True)
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        self.mse_tracker = keras.metrics.Mean(name="mse")

    # ------------------------------------------------------------------ configuration
    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "likelihood": self.likelihood, "beta": float(ops.convert_to_numpy(self.beta)),
            "kl_warmup_steps": self.kl_warmup_steps, "reconstruction_weight": self.reconstruction_weight,
            "min_log_sigma": self.min_log_sigma, "initial_log_sigma": self.initial_log_sigma, "seed": self.seed,
            "db_range": None if self.db_range is None else list(self.db_range),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "VAE":
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)

    def settings(self) -> dict[str, Any]:
        """JSON-ready VAE settings (saved in a bundle's config.json)."""
        return {
            "likelihood": self.likelihood, "beta": float(ops.convert_to_numpy(self.beta)),
            "kl_warmup_steps": self.kl_warmup_steps, "reconstruction_weight": self.reconstruction_weight,
            "min_log_sigma": self.min_log_sigma, "log_sigma": self.current_log_sigma(),
            "steps_trained": int(ops.convert_to_numpy(self.step)), "latent_dim": self.latent_dim,
            "num_classes": self.num_classes, "seed": self.seed,
            "db_range": None if self.db_range is None else list(self.db_range),
        }

    # ------------------------------------------------------------------ beta
    def set_beta(self, value: float) -> None:
        """Set the KL weight reached after warm-up (callbacks may call this every epoch)."""
        self.beta.assign(checks.number(value, "beta", 0))

    def _warmup_factor(self):
        if self.kl_warmup_steps <= 0:
            return ops.convert_to_tensor(1.0)
        return ops.minimum(1.0, ops.cast(self.step, "float32") / float(self.kl_warmup_steps))

    @property
    def current_beta(self) -> float:
        """The KL weight the next training step uses: ``beta * min(1, step / kl_warmup_steps)``."""
        return float(ops.convert_to_numpy(self.beta * self._warmup_factor()))

    def current_log_sigma(self) -> float | None:
        """The learned decoder log standard deviation (``"gaussian"``), else ``None``."""
        if self.log_sigma is None:
            return None
        return float(ops.convert_to_numpy(_softclip_min(self.log_sigma, self.min_log_sigma)))

    # ------------------------------------------------------------------ forward pass and loss
    def _split(self, inputs):
        if isinstance(inputs, Mapping):
            if SPECTROGRAM_KEY not in inputs:
                raise ParameterError(f"inputs: expected a dict with key {SPECTROGRAM_KEY!r}, got keys {sorted(inputs)}")
            x, labels = inputs[SPECTROGRAM_KEY], inputs.get(LABEL_KEY)
        else:
            x, labels = inputs, None
        if (labels is None) != (self.num_classes is None):
            want = "a 'label' entry" if self.num_classes is not None else "no 'label' entry"
            raise ParameterError(f"inputs: this VAE is {'' if self.num_classes else 'not '}conditional; "
                                 f"the input dict needs {want}")
        if len(x.shape) == 3:
            x = ops.expand_dims(x, -1)
        return ops.cast(x, "float32"), labels

    def call(self, inputs, training=None):
        x, labels = self._split(inputs)
        enc_in = {SPECTROGRAM_KEY: x}
        if labels is not None:
            enc_in[LABEL_KEY] = labels
        z_mean, z_log_var = self.encoder(enc_in, training=training)
        z = self.sampler([z_mean, z_log_var])
        dec_in = {LATENT_KEY: z}
        if labels is not None:
            dec_in[LABEL_KEY] = labels
        reconstruction = self.decoder(dec_in, training=training)
        if reconstruction.shape[2] is None or reconstruction.shape[2] != x.shape[2]:
            reconstruction = reconstruction[:, :, :ops.shape(x)[2]]  # a grid decoder's T' * sT frames
        return {"reconstruction": reconstruction, "z_mean": z_mean, "z_log_var": z_log_var}

    def _gaussian_nll(self, sse, n_pixels, log_sigma):
        """Per-example NLL of a Gaussian with shared std ``exp(log_sigma)``; ``sse`` per example."""
        return 0.5 * sse * ops.exp(-2.0 * log_sigma) + n_pixels * (log_sigma + 0.5 * _LOG_2PI)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Negative ELBO per example (batch mean): reconstruction term + warmed-up beta x KL."""
        target, _ = self._split(x)
        recon = ops.cast(y_pred["reconstruction"], "float32")
        z_mean = ops.cast(y_pred["z_mean"], "float32")  # float32 even under a mixed precision policy
        z_log_var = ops.cast(y_pred["z_log_var"], "float32")
        sq = ops.square(target - recon)
        batch = ops.shape(sq)[0]
        n_pixels = ops.cast(ops.shape(sq)[1] * ops.shape(sq)[2], "float32")  # bins per clip (any frames)
        sse = ops.sum(ops.reshape(sq, (batch, -1)), axis=1)
        mse = ops.mean(sse) / n_pixels
        if self.likelihood == "mse_scaled":
            rec_loss = self.reconstruction_weight * mse
        else:
            if self.likelihood in ("calibrated", "spectral"):
                log_sigma = 0.5 * ops.log(mse + 1e-12)
            else:
                log_sigma = self.log_sigma
            log_sigma = _softclip_min(log_sigma, self.min_log_sigma)
            rec_loss = ops.mean(self._gaussian_nll(sse, n_pixels, log_sigma))
            if self.likelihood == "spectral":
                rec_loss = rec_loss + self._spectral_terms(target, recon, n_pixels)
        kl_terms = -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl = ops.mean(ops.sum(ops.reshape(kl_terms, (batch, -1)), axis=1))  # summed over every latent number
        total = rec_loss + self.beta * self._warmup_factor() * kl
        if self.losses:
            total = total + ops.sum(self.losses)
        if training:
            self.step.assign_add(1.0)
        self.reconstruction_loss_tracker.update_state(rec_loss)
        self.kl_loss_tracker.update_state(kl)
        self.mse_tracker.update_state(mse)
        return _scale_for_replicas(total)

    def _spectral_terms(self, target, recon, n_pixels):
        """The ``"spectral"`` likelihood's magnitude terms (see the class docstring), per example."""
        low, high = self.db_range
        scale = (high - low) * math.log(10.0) / 20.0
        m = ops.exp(low * math.log(10.0) / 20.0 + target * scale)
        m_hat = ops.exp(low * math.log(10.0) / 20.0 + recon * scale)
        batch = ops.shape(m)[0]
        num = ops.sum(ops.reshape(ops.square(m - m_hat), (batch, -1)), axis=1)
        den = ops.sum(ops.reshape(ops.square(m), (batch, -1)), axis=1) + 1e-12
        sc_term = 0.5 * n_pixels * ops.log(ops.mean(num / den) + 1e-12)
        l1_log10 = ops.mean(ops.abs(target - recon)) * ((high - low) / 20.0)  # mean |log10 M - log10 M_hat|
        return sc_term + n_pixels * ops.log(l1_log10 + 1e-12)

    #: a local (not distributed) batch for Keras' symbolic build under a multi-worker strategy
    symbolic_batch = None

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.x builds the optimizer and metrics from the first distributed batch, reduced with
        # strategy.reduce("MEAN", batch); MultiWorkerMirroredStrategy cannot reduce a dict of
        # tensors ("Attempt to convert a value ({'spectrogram': PerReplica...}) to a Tensor"). Under
        # that strategy training hands over one local batch to build from instead.
        if iterator is not None and self.symbolic_batch is not None:
            return super()._maybe_symbolic_build(data_batch=self.symbolic_batch)
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def _per_replica_logs(self, logs):
        # ... and it reduces each step's logs with strategy.reduce("MEAN", v, axis=0), which needs an
        # axis: under that strategy the scalars are returned as (1,) tensors (the mean is the same)
        if self.symbolic_batch is None:
            return logs
        return {k: ops.reshape(v, (1,)) for k, v in logs.items()}

    def train_step(self, data):
        return self._per_replica_logs(super().train_step(data))

    def test_step(self, data):
        return self._per_replica_logs(super().test_step(data))

    # ------------------------------------------------------------------ convenience (NumPy in, NumPy out)
    def build_for(self, input_shape: Sequence[int] | None = None) -> "VAE":
        """Create every variable by running one zero batch (needed before ``load_weights``)."""
        shape = tuple(self.encoder.input[SPECTROGRAM_KEY].shape[1:3]) if input_shape is None else \
            _check_shape(input_shape, "input_shape")
        if shape[1] is None:
            raise ParameterError("input_shape: a grid VAE takes any number of frames; say how many, e.g. (freq, 94)")
        inputs = {SPECTROGRAM_KEY: np.zeros((1, *shape, 1), np.float32)}
        if self.num_classes is not None:
            inputs[LABEL_KEY] = np.zeros((1,), np.int32)
        self(inputs, training=False)
        return self
