"""Which grid-latent conditional VAE reconstructs FSDD best for a fixed CPU-time budget?

The package's VAE squeezes a clip through a 64-number latent *vector* and its reconstructions
stay far from the phase ceiling (test audio SC about -4 dB, LSD 5.5 dB, PESQ 2.0, STOI 0.75).
This benchmark trains a VAE whose latent is a *time x frequency grid*, fully convolutional
along time (any number of frames works), conditional on the digit label, and measures it
against the reconstruction targets: audio LSD <= 2.5 dB, audio SC <= -12 dB, PESQ (narrow
band, median over test clips) >= 3.0, STOI (whole test split concatenated) >= 0.9.

Model (``build_encoder`` / ``build_decoder``)
---------------------------------------------
Input: normalized dB spectrogram ``(batch, 129, frames, 1)`` in [0, 1] (FSDD: 8 kHz, n_fft 256,
hop 64, 129 bins; 94 frames for the 0.75 s training clips, but ``frames`` is ``None`` in the
graph) plus the digit ``label`` ``(batch,)`` int32.

* encoder: zero-pad frequency (static) and time (dynamic, :class:`PadTime`) to multiples of the
  total stride; one 3x3 convolution per entry of ``--filters`` with the (freq, time) stride of
  ``--strides`` and ReLU/SiLU, each followed by label conditioning; ``--res-blocks`` residual
  blocks (two 3x3 convolutions) at the coarsest resolution; two 1x1 convolutions give
  ``z_mean`` and ``z_log_var``, each ``(batch, F', T', C)`` with ``F' = ceil(129 / sF)``,
  ``T' = ceil(frames / sT)``, ``C = --latent-channels``.
* decoder (mirror): 3x3 convolution ``C -> filters[-1]``, the same residual blocks, one 3x3
  transposed convolution per stride back to full resolution (filters ``filters[-2] .. filters[0]``,
  each followed by conditioning; the last one, at full resolution, has a single output channel:
  the logits), the output activation, cropped back to 129 bins. (A 32-channel transposed
  convolution plus a 1-channel 3x3 convolution at full resolution instead doubled the step time.)
  Its output has ``T' * sT`` frames; :class:`GridVAE` crops it to the input's frame count.
* conditioning (``--cond``): ``film`` = per-channel ``x * (1 + gamma) + beta`` after every
  convolution, gamma/beta from an ``Embedding(10, 2 * channels)`` of the label (initialized to
  zero, i.e. identity); ``concat`` = a broadcast one-hot plane concatenated to the encoder's
  input and the decoder's latent; ``none``.
* output (``--output``): ``sigmoid``, or ``snap`` (default): ``clip((s - m) / (1 - 2m), 0, 1)``
  of the sigmoid ``s`` with ``m = 0.02`` and a straight-through gradient. About 40 % of FSDD's
  test bins are digital silence (zero padding after the word); they normalize to exactly 0 and
  ``db_to_magnitude`` maps only values within 1e-3 dB of the floor to silence. A sigmoid never
  gets there, and raising the floor by 0.56 dB (x = 0.005) alone turns the ceiling's audio LSD
  from 1.1 dB into 9.6 dB (measured), so the output must be able to produce exact zeros.

Losses (``--loss``), per clip (batch mean), ``N = 129 * frames`` bins
--------------------------------------------------------------------
* ``calibrated``: the sigma-VAE Gaussian NLL of :class:`vae_audio.modeling.models.VAE`:
  ``0.5 * SSE / sigma^2 + N * (log sigma + 0.5 log 2 pi)`` with ``sigma^2`` = the batch MSE on the
  normalized spectrogram (soft-clipped at ``log sigma >= -6``), plus ``beta`` x the KL divergence
  summed over every latent position and channel.
* ``spectral``: ``calibrated`` plus two linear-magnitude terms computed in the graph from
  ``dB = low + x * (high - low)`` and ``M = 10 ** (dB / 20)``:
  ``w_sc * (N / 2) * log(mean_batch SC^2)`` with ``SC = ||M - M_hat||_F / ||M||_F`` per clip, and
  ``w_l1 * N * log(mean |log10 M - log10 M_hat|)``. Why the logs and the ``N/2``, ``N`` factors:
  the calibrated Gaussian term is, up to a constant, ``(N / 2) log MSE``; a Gaussian on ``M``
  with a per-clip scale proportional to ``||M||`` and a calibrated variance gives exactly
  ``(N / 2) log SC^2``, and a calibrated Laplace likelihood on ``log10 M`` gives ``N log L1``. So
  each term is the NLL of a likelihood whose scale is set to its current error, as the
  sigma-VAE does for the MSE: their gradients do not depend on how small each error already is
  (the units of M, 10^-4 .. 45, drop out), they stay comparable throughout training, and they are
  in nats, commensurate with the KL. ``w_sc = w_l1 = 1`` by default.
* ``multires``: ``spectral`` with the SC term averaged over the full-resolution magnitude and
  2x2 and 4x4 average-pooled magnitudes (coarser scales weigh the formant envelope more).

Training and evaluation
-----------------------
Adam (``--lr``, default 1e-3), batch 32, on the FSDD training split (2400 clips), for
``--cpu-minutes`` of *process* CPU time (``time.process_time()``: all threads of this process,
robust to other load on the machine), checked after every batch. The 300 test clips are then
reconstructed from ``z_mean`` and scored: magnitude SC/LSD (model magnitude vs the true STFT of
the clip), audio SC/LSD after :func:`vae_audio.dsp.phase.db_to_audio` (default settings), PESQ nb
(median over clips; clips whose reference PESQ rejects with "no utterances" are left out and
counted), STOI on the concatenated test split, and the KL per clip. Finally the trained model
encodes and decodes spectrograms three times longer (282 frames: three test clips end to end)
and the shapes and SC are checked.

Each run prints one markdown row and writes ``outputs/benchmarks/grid_latent/<tag>.json``.

Measured (one seed each, 6 CPU minutes = 13-15 epochs unless noted; 2 shared cores)
-----------------------------------------------------------------------------------
At 4x4 downsampling and C = 8 (33 x 24 x 8), FiLM, snap output: ``spectral`` reached audio SC
-12.5 dB / LSD 3.49 dB / PESQ 3.89 / STOI 0.95, against -7.5 / 3.64 / 3.35 / 0.93 for
``calibrated`` and -8.1 / 3.75 / 3.40 / 0.93 for ``multires``. One-hot concatenation instead
of FiLM: -8.3 / 3.81 / 3.29 / 0.92. C = 16 (-10.7 / 3.61) and 2x4 downsampling (65 x 24 x 8,
8 epochs only: -11.6 / 3.66, PESQ 4.00) did not beat C = 8; beta 0.3 doubled the KL (9700
nats per clip) for no clear gain (-11.6 / 3.42). The defaults (``spectral``, 2x2,2x2, filters
32,64, C = 8, FiLM, snap, beta 1, Adam 1e-3) after 20 CPU minutes (50 epochs): audio SC
-11.1 dB, LSD 3.09 dB, PESQ 4.23, STOI 0.97 -- PESQ and STOI targets met, SC 0.9 dB and LSD
0.6 dB short.

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/grid_latent.py --cpu-minutes 6 --strides 2x2,2x2 --filters 32,64 \\
        --latent-channels 8 --loss spectral --tag s4x4_c8_spectral
    python benchmarks/grid_latent.py --header      # print the table header only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from keras import layers, ops

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"
OUT_DIR = REPO / "outputs" / "benchmarks" / "grid_latent"

# the package's grid layers (importable once the repository is on sys.path)
from vae_audio.modeling.models import SNAP_MARGIN, FiLM, PadTime, SnapSigmoid  # noqa: E402

SPECTROGRAM_KEY, LABEL_KEY, LATENT_KEY = "spectrogram", "label", "z"
NUM_CLASSES = 10
MIN_LOG_SIGMA = -6.0
_LOG_2PI = math.log(2.0 * math.pi)
_LN10 = math.log(10.0)

COLUMNS = ("tag", "loss", "strides", "latent grid (F'xT'xC = numbers)", "cond", "out", "beta", "lr", "params",
           "epochs", "wall min", "CPU min", "KL/clip nats", "mag SC", "mag LSD", "audio SC", "audio LSD",
           "PESQ nb", "STOI", "282-frame SC")


# ----------------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="grid_latent")
class LabelPlane(layers.Layer):
    """Concatenate a broadcast one-hot label: ``[x (b, f, t, ch), label (b,)] -> (b, f, t, ch + num_classes)``."""

    def __init__(self, num_classes: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)

    def call(self, inputs):
        x, label = inputs
        onehot = ops.one_hot(ops.cast(label, "int32"), self.num_classes, dtype=x.dtype)[:, None, None, :]
        shape = ops.shape(x)
        plane = ops.broadcast_to(onehot, (shape[0], shape[1], shape[2], self.num_classes))
        return ops.concatenate([x, plane], axis=-1)

    def compute_output_shape(self, input_shape):
        b, f, t, c = input_shape[0]
        return (b, f, t, c + self.num_classes)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes}


# ----------------------------------------------------------------------------- builders
def parse_strides(text: str) -> tuple[tuple[int, int], ...]:
    """``"2x2,2x2,2x1"`` -> ``((2, 2), (2, 2), (2, 1))``: one (freq, time) stride per encoder convolution."""
    out = []
    for part in text.split(","):
        f, t = (int(v) for v in part.lower().split("x"))
        if f < 1 or t < 1:
            raise argparse.ArgumentTypeError(f"stride {part!r}: expected FxT with whole numbers >= 1")
        out.append((f, t))
    return tuple(out)


def total_stride(strides: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """Product of the per-layer strides: ``(sF, sT)``."""
    return int(np.prod([s[0] for s in strides])), int(np.prod([s[1] for s in strides]))


def _condition(x, label, cond: str, name: str):
    return FiLM(NUM_CLASSES, name=name)([x, label]) if cond == "film" else x


def _res_block(x, label, channels: int, act: str, cond: str, name: str):
    h = layers.Activation(act)(x)
    h = layers.Conv2D(channels, 3, padding="same", activation=act, name=f"{name}_a")(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_b")(h)
    return _condition(layers.Add(name=f"{name}_add")([x, h]), label, cond, f"{name}_film")


def build_encoder(n_freq: int, *, filters: Sequence[int], strides: Sequence[tuple[int, int]],
                  latent_channels: int, cond: str = "film", act: str = "relu", res_blocks: int = 0) -> keras.Model:
    """Encoder ``{"spectrogram": (b, n_freq, frames, 1), "label": (b,)} -> [z_mean, z_log_var]``,
    each ``(b, ceil(n_freq / sF), ceil(frames / sT), latent_channels)``; ``frames`` may be anything."""
    sf, st = total_stride(strides)
    spec = keras.Input((n_freq, None, 1), name=SPECTROGRAM_KEY)
    label = keras.Input((), dtype="int32", name=LABEL_KEY)
    x = layers.ZeroPadding2D(((0, (-n_freq) % sf), (0, 0)), name="pad_freq")(spec)
    x = PadTime(st, name="pad_time")(x)
    if cond == "concat":
        x = LabelPlane(NUM_CLASSES, name="label_plane")([x, label])
    for i, (f, s) in enumerate(zip(filters, strides)):
        x = layers.Conv2D(f, 3, strides=s, padding="same", activation=act, name=f"conv_{i}")(x)
        x = _condition(x, label, cond, f"film_{i}")
    for j in range(res_blocks):
        x = _res_block(x, label, filters[-1], act, cond, f"res_{j}")
    z_mean = layers.Conv2D(latent_channels, 1, name="z_mean")(x)
    z_log_var = layers.Conv2D(latent_channels, 1, name="z_log_var")(x)
    return keras.Model({SPECTROGRAM_KEY: spec, LABEL_KEY: label}, [z_mean, z_log_var], name="encoder")


def build_decoder(n_freq: int, *, filters: Sequence[int], strides: Sequence[tuple[int, int]],
                  latent_channels: int, cond: str = "film", act: str = "relu", res_blocks: int = 0,
                  output: str = "snap") -> keras.Model:
    """Decoder ``{"z": (b, F', T', C), "label": (b,)} -> (b, n_freq, T' * sT, 1)`` in [0, 1]."""
    sf, _ = total_stride(strides)
    z = keras.Input((-(-n_freq // sf), None, latent_channels), name=LATENT_KEY)
    label = keras.Input((), dtype="int32", name=LABEL_KEY)
    x = LabelPlane(NUM_CLASSES, name="label_plane")([z, label]) if cond == "concat" else z
    x = layers.Conv2D(filters[-1], 3, padding="same", activation=act, name="conv_in")(x)
    x = _condition(x, label, cond, "film_in")
    for j in range(res_blocks):
        x = _res_block(x, label, filters[-1], act, cond, f"res_{j}")
    up_strides = list(strides)[::-1]
    for i, (f, s) in enumerate(zip(list(filters[:-1])[::-1], up_strides[:-1])):
        x = layers.Conv2DTranspose(f, 3, strides=s, padding="same", activation=act, name=f"deconv_{i}")(x)
        x = _condition(x, label, cond, f"film_up_{i}")
    x = layers.Conv2DTranspose(1, 3, strides=up_strides[-1], padding="same", name="logits")(x)
    x = layers.Cropping2D(((0, (-n_freq) % sf), (0, 0)), name="crop_freq")(x)
    out = SnapSigmoid(name="reconstruction")(x) if output == "snap" else layers.Activation(
        "sigmoid", name="reconstruction")(x)
    return keras.Model({LATENT_KEY: z, LABEL_KEY: label}, out, name="decoder")


# ----------------------------------------------------------------------------- VAE
class GridVAE(keras.Model):
    """Conditional VAE with a latent grid; ``compute_loss`` returns the per-clip negative ELBO (batch mean).

    Inputs: dicts ``{"spectrogram": (b, 129, frames, 1), "label": (b,)}``; ``call`` returns
    ``{"reconstruction": (b, 129, frames, 1), "z_mean", "z_log_var": (b, F', T', C)}``.
    ``low_db``/``high_db`` are the global normalizer's range (for the ``spectral`` losses).
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *, loss: str = "calibrated", beta: float = 1.0,
                 kl_warmup_steps: int = 0, low_db: float = -80.0, high_db: float = 33.0, w_sc: float = 1.0,
                 w_l1: float = 1.0, seed: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.loss_kind, self.beta, self.kl_warmup_steps = loss, float(beta), int(kl_warmup_steps)
        self.low_db, self.range_db = float(low_db), float(high_db - low_db)
        self.w_sc, self.w_l1 = float(w_sc), float(w_l1)
        self.sc_scales = (1, 2, 4) if loss == "multires" else (1,)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.step = self.add_weight(name="step", shape=(), initializer="zeros", trainable=False)
        self.trackers = {k: keras.metrics.Mean(name=k) for k in ("reconstruction_loss", "kl_loss", "mse", "sc")}

    @property
    def metrics(self):
        return [*super().metrics, *self.trackers.values()]

    def call(self, inputs, training=None):
        x, label = inputs[SPECTROGRAM_KEY], inputs[LABEL_KEY]
        z_mean, z_log_var = self.encoder({SPECTROGRAM_KEY: x, LABEL_KEY: label}, training=training)
        if training:
            eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
            z = z_mean + ops.exp(0.5 * z_log_var) * eps
        else:
            z = z_mean
        recon = self.decoder({LATENT_KEY: z, LABEL_KEY: label}, training=training)
        recon = recon[:, :, :ops.shape(x)[2]]  # crop the decoder's T' * sT frames to the input's
        return {"reconstruction": recon, "z_mean": z_mean, "z_log_var": z_log_var}

    def _magnitude(self, x):
        """Normalized [0, 1] -> linear magnitude ``10 ** (dB / 20)``, same shape."""
        return ops.exp((self.low_db + x * self.range_db) * (_LN10 / 20.0))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = ops.cast(x[SPECTROGRAM_KEY], "float32")
        recon = ops.cast(y_pred["reconstruction"], "float32")
        z_mean, z_log_var = y_pred["z_mean"], y_pred["z_log_var"]
        batch = ops.shape(target)[0]
        n = ops.cast(ops.shape(target)[1] * ops.shape(target)[2], "float32")  # bins per clip
        sse = ops.sum(ops.reshape(ops.square(target - recon), (batch, -1)), axis=1)
        mse = ops.mean(sse) / n
        log_sigma = MIN_LOG_SIGMA + ops.softplus(0.5 * ops.log(mse + 1e-12) - MIN_LOG_SIGMA)
        rec = ops.mean(0.5 * sse * ops.exp(-2.0 * log_sigma) + n * (log_sigma + 0.5 * _LOG_2PI))
        m, m_hat = self._magnitude(target), self._magnitude(recon)
        sc_full = ops.sqrt(ops.sum(ops.reshape(ops.square(m - m_hat), (batch, -1)), 1)
                           / ops.sum(ops.reshape(ops.square(m), (batch, -1)), 1))
        if self.loss_kind in ("spectral", "multires"):
            sc_terms = []
            for p in self.sc_scales:
                mp = m if p == 1 else ops.average_pool(m, p, p, padding="same")
                mhp = m_hat if p == 1 else ops.average_pool(m_hat, p, p, padding="same")
                num = ops.sum(ops.reshape(ops.square(mp - mhp), (batch, -1)), 1)
                den = ops.sum(ops.reshape(ops.square(mp), (batch, -1)), 1)
                sc_terms.append(0.5 * n * ops.log(ops.mean(num / den) + 1e-12))
            l1_log = ops.mean(ops.abs(target - recon)) * (self.range_db / 20.0)  # mean |log10 M - log10 M_hat|
            rec = rec + self.w_sc * sum(sc_terms) / len(sc_terms) + self.w_l1 * n * ops.log(l1_log + 1e-12)
        kl = ops.mean(ops.sum(ops.reshape(-0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)),
                                          (batch, -1)), axis=1))
        warm = 1.0 if self.kl_warmup_steps <= 0 else ops.minimum(1.0, self.step / float(self.kl_warmup_steps))
        if training:
            self.step.assign_add(1.0)
        for k, v in (("reconstruction_loss", rec), ("kl_loss", kl), ("mse", mse), ("sc", ops.mean(sc_full))):
            self.trackers[k].update_state(v)
        return rec + self.beta * warm * kl


# ----------------------------------------------------------------------------- training
class CpuBudget(keras.callbacks.Callback):
    """Stop after the first batch that ends past ``seconds`` of process CPU time; records epoch times."""

    def __init__(self, seconds: float, steps_per_epoch: int):
        super().__init__()
        self.seconds, self.steps_per_epoch = float(seconds), int(steps_per_epoch)
        self.batches, self.epoch_wall, self.history = 0, [], []

    def on_train_begin(self, logs=None):
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.te = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if time.process_time() - self.cpu0 >= self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.batches % self.steps_per_epoch == 0:
            self.epoch_wall.append(time.perf_counter() - self.te)
        self.history.append({k: float(v) for k, v in (logs or {}).items()})
        if epoch % 10 == 0 or self.model.stop_training:
            print(f"    epoch {epoch + 1:4d} cpu {(time.process_time() - self.cpu0) / 60:5.1f} min  "
                  + "  ".join(f"{k} {v:.4g}" for k, v in self.history[-1].items()), flush=True)

    def on_train_end(self, logs=None):
        self.cpu = time.process_time() - self.cpu0
        self.wall = time.perf_counter() - self.wall0


def _batches(fn, arrays: dict[str, np.ndarray], batch_size: int = 50) -> list[np.ndarray]:
    n = len(next(iter(arrays.values())))
    outs = [fn({k: v[i:i + batch_size] for k, v in arrays.items()}) for i in range(0, n, batch_size)]
    outs = [o if isinstance(o, (list, tuple)) else [o] for o in outs]
    return [np.concatenate([np.asarray(ops.convert_to_numpy(o[j])) for o in outs]) for j in range(len(outs[0]))]


def reconstruct(vae: GridVAE, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 129, frames)`` in [0, 1] -> (reconstruction from z_mean ``(n, 129, frames)``,
    KL per clip ``(n,)`` nats)."""
    def run(batch):
        out = vae(batch, training=False)
        zm, zlv = out["z_mean"], out["z_log_var"]
        kl = ops.sum(ops.reshape(-0.5 * (1.0 + zlv - ops.square(zm) - ops.exp(zlv)), (ops.shape(zm)[0], -1)), 1)
        return [out["reconstruction"][..., 0], kl]
    recon, kl = _batches(run, {SPECTROGRAM_KEY: x[..., None].astype(np.float32), LABEL_KEY: labels.astype(np.int32)})
    return recon, kl


def score(pred: np.ndarray, test, features, reference: np.ndarray) -> dict[str, Any]:
    """Test-split metrics of normalized predictions ``(n, 129, 94)`` (see the module docstring)."""
    from pesq import PesqError, pesq
    from pystoi import stoi

    from vae_audio.dsp.features import db_to_magnitude
    from vae_audio.dsp.metrics import log_spectral_distance_db, spectral_convergence_db
    from vae_audio.dsp.phase import db_to_audio

    cfg = features.config
    s_db = features.normalizer.unnormalize(pred)
    mag = db_to_magnitude(s_db, cfg)
    audio = db_to_audio(s_db, cfg)
    p = np.array([pesq(cfg.sr, r, d, "nb", on_error=PesqError.RETURN_VALUES) for r, d in zip(test.audio, audio)])
    ok = p > -1  # -1: PESQ found no utterance in the reference
    return {
        "mag_sc_db": float(np.median(spectral_convergence_db(reference, mag))),
        "mag_lsd_db": float(np.median(log_spectral_distance_db(reference, mag))),
        "audio_sc_db": float(np.median(spectral_convergence_db(reference, audio, config=cfg))),
        "audio_lsd_db": float(np.median(log_spectral_distance_db(reference, audio, config=cfg))),
        "pesq_nb_median": float(np.median(p[ok])), "pesq_clips": int(ok.sum()),
        "stoi_concat": float(stoi(np.concatenate(test.audio), np.concatenate(audio), cfg.sr)),
        "test_mse": None,
    }


def long_input_check(vae: GridVAE, test, features, n_freq: int, stride: tuple[int, int]) -> dict[str, Any]:
    """Encode/decode three test clips end to end (282 frames); check shapes and report the magnitude SC."""
    from vae_audio.dsp.features import db_to_magnitude
    from vae_audio.dsp.metrics import spectral_convergence_db

    x = np.concatenate(list(test.x[:3]), axis=1)[None]  # (1, 129, 282)
    lab = test.labels[:1].astype(np.int32)
    zm = ops.convert_to_numpy(vae.encoder({SPECTROGRAM_KEY: x[..., None], LABEL_KEY: lab})[0])
    dec = ops.convert_to_numpy(vae.decoder({LATENT_KEY: zm, LABEL_KEY: lab}))
    recon = ops.convert_to_numpy(vae({SPECTROGRAM_KEY: x[..., None], LABEL_KEY: lab}, training=False)["reconstruction"])
    frames = x.shape[2]
    want_z = (1, -(-n_freq // stride[0]), -(-frames // stride[1]))
    ok = tuple(zm.shape[:3]) == want_z and tuple(dec.shape) == (1, n_freq, want_z[2] * stride[1], 1) \
        and recon.shape == (1, n_freq, frames, 1)
    cfg = features.config
    ref = db_to_magnitude(features.normalizer.unnormalize(x[0]), cfg)
    return {"long_frames": frames, "long_z_shape": list(zm.shape), "long_decoder_shape": list(dec.shape),
            "long_recon_shape": list(recon.shape), "long_shapes_ok": bool(ok),
            "long_mag_sc_db": float(spectral_convergence_db(ref, db_to_magnitude(
                features.normalizer.unnormalize(recon[0, ..., 0]), cfg)))}


def markdown_row(r: dict[str, Any]) -> str:
    grid = f"{r['latent_grid'][0]}x{r['latent_grid'][1]}x{r['latent_grid'][2]} = {int(np.prod(r['latent_grid']))}"
    cells = [r["tag"], r["loss"], r["strides"], grid, r["cond"], r["output"], f"{r['beta']:g}", f"{r['lr']:g}",
             f"{r['params'] / 1e3:.0f} k", f"{r['epochs']:.1f}", f"{r['wall_s'] / 60:.1f}", f"{r['cpu_s'] / 60:.1f}",
             f"{r['kl_per_clip']:.0f}", f"{r['mag_sc_db']:.2f}", f"{r['mag_lsd_db']:.2f}", f"{r['audio_sc_db']:.2f}",
             f"{r['audio_lsd_db']:.2f}", f"{r['pesq_nb_median']:.2f}", f"{r['stoi_concat']:.3f}",
             f"{r['long_mag_sc_db']:.2f}" + ("" if r["long_shapes_ok"] else " (SHAPE FAIL)")]
    return "| " + " | ".join(cells) + " |"


def header() -> str:
    return "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu-minutes", type=float, default=6.0, help="training budget in process CPU minutes (default 6)")
    p.add_argument("--filters", default="32,64", help="encoder filters, one stride-s conv each (default 32,64)")
    p.add_argument("--strides", type=parse_strides, default=parse_strides("2x2,2x2"),
                   help="(freq)x(time) stride per encoder conv, comma separated (default 2x2,2x2)")
    p.add_argument("--latent-channels", type=int, default=8, help="channels C of the latent grid (default 8)")
    p.add_argument("--res-blocks", type=int, default=0, help="residual blocks at the coarsest scale (default 0)")
    p.add_argument("--act", choices=("relu", "silu"), default="relu")
    p.add_argument("--cond", choices=("film", "concat", "none"), default="film")
    p.add_argument("--output", choices=("snap", "sigmoid"), default="snap")
    p.add_argument("--loss", choices=("calibrated", "spectral", "multires"), default="spectral")
    p.add_argument("--w-sc", type=float, default=1.0, help="weight of the SC term (spectral losses)")
    p.add_argument("--w-l1", type=float, default=1.0, help="weight of the log-magnitude L1 term (spectral losses)")
    p.add_argument("--beta", type=float, default=1.0, help="KL weight (default 1)")
    p.add_argument("--kl-warmup-epochs", type=float, default=1.0, help="linear KL warm-up (default 1 epoch)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-train-clips", type=int, help="quick checks: use only this many training clips")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", help="run name (JSON file name); default built from the settings")
    p.add_argument("--save-weights", action="store_true", help="also save <tag>.weights.h5")
    p.add_argument("--save-pred", action="store_true", help="also save the test reconstructions <tag>.pred.npz")
    p.add_argument("--header", action="store_true", help="print the markdown table header and exit")
    args = p.parse_args(argv)
    if args.header:
        print(header())
        return 0
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)
    filters = tuple(int(v) for v in args.filters.split(","))
    if len(filters) != len(args.strides):
        p.error(f"--filters has {len(filters)} entries but --strides {len(args.strides)}")
    stride = total_stride(args.strides)
    strides_txt = ",".join(f"{a}x{b}" for a, b in args.strides)
    tag = args.tag or (f"s{stride[0]}x{stride[1]}_c{args.latent_channels}_{args.loss}_{args.cond}_{args.output}"
                       f"_b{args.beta:g}_lr{args.lr:g}")

    import tensorflow as tf

    from vae_audio import datasets
    from vae_audio.data.featurize import build_features
    from vae_audio.dsp.features import stft_magnitude

    features = build_features(datasets.load_dataset("fsdd"), cache_dir=OUT_DIR / "cache")
    train, test = features.subset("train"), features.subset("test")
    if args.max_train_clips:
        train = train.select(np.arange(min(args.max_train_clips, len(train))))
    cfg, norm = features.config, features.normalizer
    n_freq = cfg.shape[0]
    reference = stft_magnitude(test.audio, n_fft=cfg.n_fft, hop_length=cfg.hop_length)

    keras.utils.set_random_seed(args.seed)
    arch: dict[str, Any] = {"filters": filters, "strides": args.strides, "latent_channels": args.latent_channels,
                            "cond": args.cond, "act": args.act, "res_blocks": args.res_blocks}
    enc = build_encoder(n_freq, **arch)
    dec = build_decoder(n_freq, **arch, output=args.output)
    steps = math.ceil(len(train) / args.batch_size)
    vae = GridVAE(enc, dec, loss=args.loss, beta=args.beta, kl_warmup_steps=int(args.kl_warmup_epochs * steps),
                  low_db=norm.low_db, high_db=norm.high_db, w_sc=args.w_sc, w_l1=args.w_l1, seed=args.seed)
    vae.compile(optimizer=keras.optimizers.Adam(args.lr))
    grid = [int(d) for d in enc.compute_output_shape({SPECTROGRAM_KEY: (None, n_freq, cfg.shape[1], 1),
                                                      LABEL_KEY: (None,)})[0][1:]]
    params = enc.count_params() + dec.count_params()
    print(f"[{tag}] latent grid {grid} ({int(np.prod(grid))} numbers), {params} params, loss {args.loss}, "
          f"{args.cpu_minutes:g} CPU min on {len(train)} clips", flush=True)

    data = (tf.data.Dataset.from_tensor_slices({SPECTROGRAM_KEY: train.x[..., None].astype(np.float32),
                                                LABEL_KEY: train.labels.astype(np.int32)})
            .shuffle(len(train), seed=args.seed, reshuffle_each_iteration=True).batch(args.batch_size).prefetch(2))
    budget = CpuBudget(args.cpu_minutes * 60.0, steps)
    vae.fit(data, epochs=1_000_000, callbacks=[budget], verbose=0)
    if not all(math.isfinite(v) for v in budget.history[-1].values()):
        print(f"[{tag}] diverged: {budget.history[-1]}", flush=True)

    t_eval = time.perf_counter()
    pred, kl = reconstruct(vae, test.x, test.labels)
    result: dict[str, Any] = {
        "tag": tag, "loss": args.loss, "strides": strides_txt, "filters": list(filters),
        "latent_grid": grid, "cond": args.cond, "output": args.output, "act": args.act, "res_blocks": args.res_blocks,
        "beta": args.beta, "lr": args.lr, "batch_size": args.batch_size, "w_sc": args.w_sc, "w_l1": args.w_l1,
        "params": int(params), "epochs": budget.batches / steps, "steps": budget.batches,
        "wall_s": budget.wall, "cpu_s": budget.cpu,
        "median_epoch_wall_s": float(np.median(budget.epoch_wall)) if budget.epoch_wall else None,
        "kl_per_clip": float(np.mean(kl)), "kl_per_latent_number": float(np.mean(kl) / np.prod(grid)),
        "train_clips": len(train), "final_train_logs": budget.history[-1],
    }
    result.update(score(pred, test, features, reference))
    result["test_mse"] = float(np.mean((pred - test.x) ** 2))
    if args.output == "sigmoid":  # what snapping near-floor bins after the fact would give
        snapped = score(np.where(pred < SNAP_MARGIN, 0.0, pred).astype(np.float32), test, features, reference)
        result["posthoc_snap"] = {k: v for k, v in snapped.items() if v is not None}
    result.update(long_input_check(vae, test, features, n_freq, stride))
    result["eval_wall_s"] = time.perf_counter() - t_eval
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"{tag}.json").write_text(json.dumps(result, indent=2))
    if args.save_pred:
        np.savez_compressed(OUT_DIR / f"{tag}.pred.npz", pred=pred.astype(np.float16))
    if args.save_weights:
        vae.save_weights(OUT_DIR / f"{tag}.weights.h5")
    print(json.dumps({k: v for k, v in result.items() if k != "final_train_logs"}), flush=True)
    print(markdown_row(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
