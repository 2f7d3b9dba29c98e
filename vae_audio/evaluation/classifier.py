"""An audio classifier used as the judge of generated audio, and the generation scores it gives.

The evaluation protocol of WaveGAN and DiffWave for SC09 digits, adapted to any labelled
dataset: a small CNN is trained on the *real training split* of the dataset, then used to
listen to generated clips. Everything is computed from waveforms, so the phase reconstruction
that turned a spectrogram into sound is part of what is scored.

* :class:`AudioClassifier`: its own fixed features (peak-normalized waveform -> 64-band log-mel
  spectrogram -> per-band standardization fitted on the training clips), independent of any VAE's
  spectrogram settings; a small Keras CNN whose penultimate layer (``"embedding"``) gives the
  vectors of the Frechet distance. ``save``/``load`` use ``classifier.keras`` + ``classifier.json``.
* :func:`get_or_train_classifier`: train once per training set and settings, cached under a
  SHA-256 key; later runs reload it (a corrupt cache entry is retrained, not fatal).
* :func:`generation_scores`: accuracy of the classifier on real test clips (plain and through
  phase reconstruction), accuracy of conditional samples, inception score of prior samples and
  of the real test set, Frechet distances to the real test set.

Waveforms are ``(n_clips, n_samples)`` float arrays at the classifier's sample rate (or a list of
1-D clips of any length); clips are padded or truncated to the length seen in training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import checks
from ..dsp.audio import check_sr, pad_or_truncate, resample
from ..dsp.features import SpectrogramConfig, amplitude_to_db, check_json_object, mel_filterbank, stft_magnitude
from ..dsp.recipe import normalize_level
from ..errors import BundleError, ConfigError, ParameterError, TrainingError
from ..fileio import atomic_directory, atomic_write_json, read_json
from . import scores

__all__ = [
    "CLASSIFIER_VERSION",
    "ClassifierConfig",
    "AudioClassifier",
    "get_or_train_classifier",
    "classifier_cache_key",
    "generation_scores",
    "log_mel_features",
    "mel_magnitude",
    "mel_to_db",
]

#: Bumped whenever features, architecture or training change, so cached classifiers are retrained.
CLASSIFIER_VERSION = 1
MODEL_FILE = "classifier.keras"
META_FILE = "classifier.json"
_FORMAT = "vae_audio.classifier"
_FEATURE_CHUNK = 256  # clips per STFT call (bounds memory on long clips)
_NOISE_CLIPS = 32  # white-noise clips behind the noise augmentation


@dataclass(frozen=True)
class ClassifierConfig:
    """Features, architecture and training settings of the judge (all part of the cache key).

    Attributes
    ----------
    n_mels : mel bands of the log-mel input.
    frame_seconds : STFT window length; ``n_fft`` is the power of two nearest ``frame_seconds * sr``
        (512 at 8 kHz, 1024 at 16 and 22.05 kHz), at least ``2 * n_mels``.
    hop_fraction : hop as a fraction of ``n_fft`` (0.25: hop 128 at 8 kHz, 16 ms).
    level : per-clip loudness normalization before the STFT: ``"peak"`` (default; every clip is
        scaled to a 0.9 peak, so the judge ignores overall level) or ``None``.
    top_db : each clip's log-mel spectrogram is floored at its own maximum minus ``top_db`` dB
        (inaudible noise floors and digital silence look alike).
    conv_filters : filters of the 3x3 convolution blocks (each: conv, batch norm, ReLU, 2x2 max pool).
    embedding_dim : width of the penultimate dense layer (ReLU), the Frechet-distance embedding.
    dropout : dropout rate before and after the embedding layer.
    epochs, batch_size, learning_rate : Adam with a cosine-decayed learning rate.
    max_shift_seconds : training augmentation, random time shift of up to +-this many seconds
        (applied to the spectrogram frames, silence shifted in).
    max_gain_db : training augmentation, random level change of up to +-this many dB.
    noise_probability, noise_dbfs : training augmentation, white noise added to this fraction of
        the clips, at an RMS level drawn uniformly in ``noise_dbfs`` (dB re full scale, after peak
        normalization), so that hiss a listener ignores does not flip the judge's decision.
    """

    n_mels: int = 64
    frame_seconds: float = 0.064
    hop_fraction: float = 0.25
    level: str | None = "peak"
    top_db: float = 80.0
    conv_filters: tuple[int, ...] = (8, 16, 32)
    embedding_dim: int = 128
    dropout: float = 0.1
    epochs: int = 15
    batch_size: int = 32
    learning_rate: float = 2e-3
    max_shift_seconds: float = 0.08
    max_gain_db: float = 3.0
    noise_probability: float = 0.5
    noise_dbfs: tuple[float, float] = (-60.0, -25.0)

    def __post_init__(self) -> None:
        def whole(name: str, lo: int) -> None:
            object.__setattr__(self, name, checks.whole_number(getattr(self, name), f"ClassifierConfig.{name}", lo,
                                                               error=ConfigError))

        def real(name: str, lo: float, hi: float, *, lo_open: bool = False) -> None:
            object.__setattr__(self, name, checks.number(getattr(self, name), f"ClassifierConfig.{name}", lo, hi,
                                                         lo_open=lo_open, error=ConfigError))

        for name in ("n_mels", "embedding_dim", "epochs", "batch_size"):
            whole(name, 1)
        real("frame_seconds", 0.0, 1.0, lo_open=True)
        real("hop_fraction", 0.0, 1.0, lo_open=True)
        real("top_db", 0.0, 300.0, lo_open=True)
        real("dropout", 0.0, 0.9)
        real("learning_rate", 0.0, 1.0, lo_open=True)
        real("max_shift_seconds", 0.0, 10.0)
        real("max_gain_db", 0.0, 60.0)
        real("noise_probability", 0.0, 1.0)
        levels = self.noise_dbfs
        if (not isinstance(levels, (list, tuple)) or len(levels) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in levels)
                or not -200.0 <= levels[0] <= levels[1] <= 20.0):
            raise ConfigError(f"ClassifierConfig.noise_dbfs={levels!r}: expected (low, high) dB re full scale, "
                              "low <= high")
        object.__setattr__(self, "noise_dbfs", (float(levels[0]), float(levels[1])))
        if self.level not in ("peak", None):
            raise ConfigError(f"ClassifierConfig.level={self.level!r}: expected 'peak' or None")
        filters = self.conv_filters
        if (not isinstance(filters, (list, tuple)) or not filters
                or not all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) and f >= 1 for f in filters)):
            raise ConfigError(f"ClassifierConfig.conv_filters={filters!r}: expected a non-empty list of "
                              "whole numbers >= 1")
        object.__setattr__(self, "conv_filters", tuple(int(f) for f in filters))

    def spectrogram_config(self, sr: int, n_samples: int) -> SpectrogramConfig:
        """The (fixed) STFT/mel settings of the judge for clips of ``n_samples`` at ``sr`` Hz."""
        n_fft = max(2 ** round(math.log2(self.frame_seconds * sr)), 2 * self.n_mels, 16)
        hop = max(1, int(round(n_fft * self.hop_fraction)))
        return SpectrogramConfig(sr=sr, n_fft=n_fft, hop_length=hop, n_samples=n_samples, n_mels=self.n_mels,
                                 db_floor=-120.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable dict (``conv_filters`` as a list)."""
        data = dataclasses.asdict(self)
        data["conv_filters"] = list(self.conv_filters)
        data["noise_dbfs"] = list(self.noise_dbfs)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ClassifierConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        values = dict(check_json_object(data, "classifier config", {f.name for f in dataclasses.fields(cls)}))
        for key in ("conv_filters", "noise_dbfs"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)


# ----------------------------------------------------------------------------- input checks
def _check_waveforms(waveforms: Any, name: str, n_samples: int | None = None) -> np.ndarray:
    """``(n_clips, n_samples)`` float32, finite, non-empty; a list of 1-D clips is padded/truncated
    to ``n_samples`` (or to the longest clip when ``n_samples`` is None)."""
    if isinstance(waveforms, (list, tuple)):
        if not waveforms:
            raise ParameterError(f"{name}: empty list of clips")
        clips = []
        for i, clip in enumerate(waveforms):
            arr = np.asarray(clip)
            if arr.ndim != 1 or arr.size == 0:
                raise ParameterError(f"{name}[{i}]: expected a mono clip (n_samples,) with samples, "
                                     f"got shape {arr.shape}")
            clips.append(arr)
        length = n_samples if n_samples is not None else max(c.shape[0] for c in clips)
        arr = np.stack([pad_or_truncate(_check_numeric(c, f"{name}[{i}]"), length) for i, c in enumerate(clips)])
    else:
        try:
            arr = np.asarray(waveforms)
        except (TypeError, ValueError):
            raise ParameterError(f"{name}: expected an array of waveforms (n_clips, n_samples)") from None
        if arr.ndim != 2:
            hint = " (for one clip use y[None])" if arr.ndim == 1 else ""
            raise ParameterError(f"{name}: expected waveforms shaped (n_clips, n_samples), got shape {arr.shape}{hint}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ParameterError(f"{name}: no clips or no samples (shape {arr.shape})")
        arr = _check_numeric(arr, name)
    if n_samples is not None and arr.shape[1] != n_samples:
        arr = pad_or_truncate(arr, n_samples)
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_numeric(arr: np.ndarray, name: str) -> np.ndarray:
    if np.issubdtype(arr.dtype, np.integer):
        raise ParameterError(f"{name}: expected float samples in [-1, 1], got integer dtype {arr.dtype} "
                             "(scale PCM first, e.g. y / 32768 for int16)")
    if not np.issubdtype(arr.dtype, np.floating):  # complex, bool, strings, objects
        raise ParameterError(f"{name}: expected real-valued float samples, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name}: contains NaN or infinite samples")
    return arr


def _check_labels(labels: Any, name: str, n_clips: int, n_classes: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ParameterError(f"{name}: expected a 1-D array of class indices (n_clips,), got shape {arr.shape}")
    if arr.shape[0] != n_clips:
        raise ParameterError(f"{name}: {arr.shape[0]} labels for {n_clips} clips")
    if not (np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_)):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise ParameterError(f"{name}: expected whole-number class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ParameterError(f"{name}: class indices must be in 0..{n_classes - 1} "
                             f"(one per label name), got {arr.min()}..{arr.max()}")
    return arr


def _check_label_names(label_names: Any) -> list[str]:
    if isinstance(label_names, str) or not isinstance(label_names, Sequence):
        raise ParameterError(f"label_names={label_names!r}: expected a list of class names")
    names = [str(n) for n in label_names]
    if len(names) < 2:
        raise ParameterError(f"label_names: a classifier needs at least 2 classes, got {len(names)}")
    if len(set(names)) != len(names):
        raise ParameterError(f"label_names: duplicate names in {names}")
    return names


# ----------------------------------------------------------------------------- features
def mel_magnitude(waveforms: np.ndarray, spec: SpectrogramConfig, *, level: str | None) -> np.ndarray:
    """Linear mel magnitude ``(n, n_mels, n_frames)`` float32 of checked waveforms ``(n, n_samples)``.

    Optional peak normalization (``level="peak"``: each clip scaled to a 0.9 peak by
    :func:`vae_audio.dsp.recipe.normalize_level`, the same step as a model's recipe), then
    :func:`~vae_audio.dsp.features.stft_magnitude` and the Slaney mel filterbank
    (:func:`~vae_audio.dsp.features.mel_filterbank`), as in :func:`~vae_audio.dsp.features.spectrogram_db`.
    """
    fb_t = np.ascontiguousarray(mel_filterbank(sr=spec.sr, n_fft=spec.n_fft, n_mels=spec.n_mels).T)
    out = np.empty((waveforms.shape[0], spec.n_mels, spec.n_frames), dtype=np.float32)
    for start in range(0, waveforms.shape[0], _FEATURE_CHUNK):
        y = waveforms[start:start + _FEATURE_CHUNK]
        y = normalize_level(y, level)  # the recipe's level step (peak 0.9 or unchanged)
        mag = stft_magnitude(y, n_fft=spec.n_fft, hop_length=spec.hop_length)  # (b, freq, frames)
        out[start:start + y.shape[0]] = np.matmul(mag.transpose(0, 2, 1), fb_t).transpose(0, 2, 1)  # one GEMM
    return out


def mel_to_db(mel: np.ndarray, spec: SpectrogramConfig, *, top_db: float) -> np.ndarray:
    """Mel magnitude -> dB (:func:`~vae_audio.dsp.features.amplitude_to_db`), floored per clip at its
    maximum minus ``top_db``; float32, same shape."""
    db = amplitude_to_db(mel, db_floor=spec.db_floor)
    return np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - top_db)


def log_mel_features(waveforms: np.ndarray, spec: SpectrogramConfig, *, level: str | None,
                     top_db: float) -> np.ndarray:
    """Judge features: ``(n, n_samples)`` float32 -> log-mel dB ``(n, n_mels, n_frames)`` float32.

    :func:`mel_magnitude` then :func:`mel_to_db`: the same numbers as
    ``spectrogram_db(y, spec)``, floored per clip at its maximum minus ``top_db``.
    """
    return mel_to_db(mel_magnitude(waveforms, spec, level=level), spec, top_db=top_db)


# ----------------------------------------------------------------------------- model
def _build_model(input_shape: tuple[int, int], n_classes: int, config: ClassifierConfig, seed: int):
    """Functional Keras CNN ``(batch, n_mels, n_frames, 1) -> (batch, n_classes)`` softmax, with a
    layer named ``"embedding"`` (the penultimate, ``embedding_dim`` ReLU units). Built-in layers
    only, so the ``.keras`` file loads without custom objects."""
    import keras
    from keras import layers

    seeds = iter(np.random.SeedSequence(seed).generate_state(len(config.conv_filters) + 4).tolist())

    def init():
        return keras.initializers.HeNormal(seed=next(seeds))

    inputs = keras.Input(shape=(*input_shape, 1), name="log_mel")
    x = inputs
    for i, filters in enumerate(config.conv_filters):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=init(), name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(config.dropout, seed=next(seeds), name="dropout0")(x)
    x = layers.Dense(config.embedding_dim, activation="relu", kernel_initializer=init(), name="embedding")(x)
    x = layers.Dropout(config.dropout, seed=next(seeds), name="dropout1")(x)
    outputs = layers.Dense(n_classes, activation="softmax",
                           kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
                           name="probabilities")(x)
    return keras.Model(inputs, outputs, name="audio_classifier")


class AudioClassifier:
    """A small CNN that names the class of a clip from its log-mel spectrogram (the evaluation judge).

    Build with ``AudioClassifier(config)`` then :meth:`fit`, or :meth:`load` a saved one, or use
    :func:`get_or_train_classifier`. After fitting, ``sr``, ``n_samples``, ``label_names``,
    ``spectrogram_config`` and ``info`` (training summary) are set.

    Attributes
    ----------
    from_cache : True when :func:`get_or_train_classifier` reloaded it instead of training.
    cache_path : the cache folder it was loaded from or saved to (or None).
    """

    def __init__(self, config: ClassifierConfig | None = None):
        if config is None:
            config = ClassifierConfig()
        if not isinstance(config, ClassifierConfig):
            raise ParameterError(f"config: expected a ClassifierConfig, got {type(config).__name__}")
        self.config = config
        self.sr: int | None = None
        self.n_samples: int | None = None
        self.label_names: list[str] = []
        self.spectrogram_config: SpectrogramConfig | None = None
        self.mean: np.ndarray | None = None  # (n_mels,) dB, per-band standardization
        self.std: np.ndarray | None = None
        self.info: dict[str, Any] = {}
        self.extra: Any = None  # the ``extra`` dict given to save(), after load()
        self.from_cache = False
        self.cache_path: Path | None = None
        self._model = None
        self._joint = None

    # ------------------------------------------------------------------ properties
    @property
    def is_fitted(self) -> bool:
        return self._model is not None

    @property
    def n_classes(self) -> int:
        return len(self.label_names)

    @property
    def model(self):
        """The Keras model (log-mel input -> class probabilities)."""
        self._require_fitted()
        return self._model

    def _require_fitted(self) -> None:
        if self._model is None:
            raise ParameterError("AudioClassifier is not trained: call fit() or AudioClassifier.load()")

    # ------------------------------------------------------------------ features
    def features(self, waveforms: Any, *, sr: int | None = None) -> np.ndarray:
        """Standardized judge inputs ``(n, n_mels, n_frames, 1)`` float32 of waveforms ``(n, n_samples)``.

        ``sr``: rate of ``waveforms`` in Hz when it differs from the classifier's (resampled).
        Clips are padded/truncated to the training length.
        """
        self._require_fitted()
        return self._standardize(self._log_mel(waveforms, "waveforms", sr))

    def _log_mel(self, waveforms: Any, name: str, sr: int | None) -> np.ndarray:
        if sr is not None and check_sr(sr) != self.sr:
            x = _check_waveforms(waveforms, name)
            x = _check_waveforms(resample(x, sr, self.sr), name, self.n_samples)
        else:
            x = _check_waveforms(waveforms, name, self.n_samples)
        return self._log_mel_checked(x)

    def _log_mel_checked(self, x: np.ndarray) -> np.ndarray:
        return log_mel_features(x, self.spectrogram_config, level=self.config.level, top_db=self.config.top_db)

    def _standardize(self, db: np.ndarray) -> np.ndarray:
        return ((db - self.mean[:, None]) / self.std[:, None]).astype(np.float32)[..., None]

    # ------------------------------------------------------------------ training
    def fit(self, waveforms: Any, labels: Any, *, sr: int, label_names: Sequence[str], epochs: int | None = None,
            seed: int = 0, validation: tuple[Any, Any] | None = None, verbose: bool = False) -> "AudioClassifier":
        """Train on real clips; returns ``self``.

        Parameters
        ----------
        waveforms : ``(n_clips, n_samples)`` float in [-1, 1] at ``sr`` Hz (or a list of 1-D clips,
            padded/truncated to the longest); ``n_samples`` becomes the classifier's clip length.
        labels : ``(n_clips,)`` class indices into ``label_names``.
        sr : sample rate in Hz.
        label_names : one name per class (at least 2).
        epochs : overrides ``config.epochs``.
        seed : seeds weight initialization, dropout, shuffling and augmentation; the same seed
            gives the same classifier on CPU.
        validation : optional ``(waveforms, labels)`` scored after every epoch (``info["history"]``).
        verbose : print one line per epoch.
        """
        import keras

        sr = check_sr(sr)
        names = _check_label_names(label_names)
        seed = checks.seed(seed)
        epochs = checks.whole_number(self.config.epochs if epochs is None else epochs, "epochs", 1)
        x_wave = _check_waveforms(waveforms, "waveforms")
        y = _check_labels(labels, "labels", x_wave.shape[0], len(names))
        if len(np.unique(y)) < 2:
            raise ParameterError("labels: training needs clips of at least 2 different classes")
        val = None
        if validation is not None:
            if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
                raise ParameterError("validation: expected a (waveforms, labels) pair")
            vx = _check_waveforms(validation[0], "validation waveforms", int(x_wave.shape[1]))
            val = (vx, _check_labels(validation[1], "validation labels", vx.shape[0], len(names)))
        t0 = time.perf_counter()
        # train into a fresh object, so that a failure leaves ``self`` as it was
        new = AudioClassifier(self.config)
        new.sr, new.n_samples, new.label_names = sr, int(x_wave.shape[1]), names
        new.spectrogram_config = spec = self.config.spectrogram_config(sr, new.n_samples)
        mel = mel_magnitude(x_wave, spec, level=self.config.level)
        db = mel_to_db(mel, spec, top_db=self.config.top_db)
        new.mean = db.mean(axis=(0, 2)).astype(np.float64)
        new.std = np.maximum(db.std(axis=(0, 2)), 1e-3).astype(np.float64)
        if val is not None:
            val = (new._standardize(new._log_mel_checked(val[0])), val[1])

        layer_seed, data_seed = np.random.SeedSequence(seed).generate_state(2)
        model = _build_model(spec.shape, len(names), self.config, int(layer_seed))
        new._set_model(model)
        steps = epochs * math.ceil(len(y) / self.config.batch_size)
        schedule = keras.optimizers.schedules.CosineDecay(self.config.learning_rate, decay_steps=steps, alpha=0.02)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.optimizer.build(model.trainable_variables)  # its slots made now, not inside the first traced step
        rng = np.random.default_rng(int(data_seed))
        noise = rng.standard_normal((_NOISE_CLIPS, new.n_samples)).astype(np.float32)  # unit RMS
        noise_bank = mel_magnitude(noise, spec, level=None)
        history: dict[str, list[float]] = {"loss": [], "accuracy": []}
        if val is not None:
            history["val_accuracy"] = []
        for epoch in range(epochs):
            order = rng.permutation(len(y))
            xa = new._standardize(_augment(mel[order], rng, self.config, spec, noise_bank))
            h = model.fit(xa, y[order], batch_size=self.config.batch_size, epochs=1, shuffle=False, verbose=0)
            loss, acc = float(h.history["loss"][-1]), float(h.history["accuracy"][-1])
            if not math.isfinite(loss):
                raise TrainingError(f"classifier training diverged at epoch {epoch + 1} (loss {loss})")
            history["loss"].append(loss)
            history["accuracy"].append(acc)
            line = f"classifier epoch {epoch + 1}/{epochs}: loss {loss:.4f}, accuracy {acc:.4f}"
            if val is not None:
                val_acc = scores.accuracy(np.argmax(new._predict_standardized(val[0])[1], axis=1), val[1])
                history["val_accuracy"].append(val_acc)
                line += f", validation accuracy {val_acc:.4f}"
            if verbose:
                print(line, flush=True)
        train_pred = np.argmax(new._predict_standardized(new._standardize(db))[1], axis=1)
        new.info = {
            "epochs": epochs, "seed": seed, "n_train": int(len(y)),
            "class_counts": np.bincount(y, minlength=len(names)).tolist(),
            "train_accuracy": scores.accuracy(train_pred, y),
            "validation_accuracy": history["val_accuracy"][-1] if val is not None else None,
            "seconds": round(time.perf_counter() - t0, 3),
            "history": history, "keras_version": keras.__version__,
        }
        self.__dict__.update(new.__dict__)
        return self

    def _set_model(self, model) -> None:
        import keras

        self._model = model
        self._joint = keras.Model(model.input, [model.get_layer("embedding").output, model.output])

    # ------------------------------------------------------------------ inference
    def _predict_standardized(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        emb, probs = [], []
        for start in range(0, x.shape[0], 256):
            e, p = self._joint(x[start:start + 256], training=False)
            emb.append(np.asarray(e, dtype=np.float64))
            probs.append(np.asarray(p, dtype=np.float64))
        probs_all = np.concatenate(probs)
        return np.concatenate(emb), probs_all / probs_all.sum(axis=1, keepdims=True)

    def analyze(self, waveforms: Any, *, sr: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings (n, embedding_dim), probabilities (n, n_classes))`` in one pass (float64)."""
        return self._predict_standardized(self.features(waveforms, sr=sr))

    def predict_proba(self, waveforms: Any, *, sr: int | None = None) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` (rows sum to 1) of waveforms ``(n, n_samples)``."""
        return self.analyze(waveforms, sr=sr)[1]

    def predict(self, waveforms: Any, *, sr: int | None = None) -> np.ndarray:
        """Most likely class index ``(n,)`` int64 of each clip."""
        return np.argmax(self.predict_proba(waveforms, sr=sr), axis=1).astype(np.int64)

    def embed(self, waveforms: Any, *, sr: int | None = None) -> np.ndarray:
        """Penultimate-layer embeddings ``(n, embedding_dim)`` (>= 0, ReLU) for Frechet distances."""
        return self.analyze(waveforms, sr=sr)[0]

    def evaluate(self, waveforms: Any, labels: Any, *, sr: int | None = None) -> float:
        """Accuracy in [0, 1] on labelled clips."""
        pred = self.predict(waveforms, sr=sr)
        return scores.accuracy(pred, _check_labels(labels, "labels", pred.shape[0], self.n_classes))

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """JSON metadata saved as ``classifier.json``."""
        self._require_fitted()
        return {
            "format": _FORMAT, "version": CLASSIFIER_VERSION, "config": self.config.to_dict(),
            "sr": self.sr, "n_samples": self.n_samples, "label_names": list(self.label_names),
            "features": self.spectrogram_config.to_dict(),
            "normalization": {"mean_db": [float(v) for v in self.mean], "std_db": [float(v) for v in self.std]},
            "info": self.info,
        }

    def save(self, directory: str | os.PathLike, *, extra: Mapping[str, Any] | None = None) -> Path:
        """Write ``directory/classifier.keras`` and ``directory/classifier.json`` atomically.

        The folder is replaced as a whole (see :func:`~vae_audio.fileio.atomic_directory`), so it
        must be a classifier folder or new: a folder holding other files raises ParameterError
        rather than deleting them. ``extra`` is stored in the JSON under ``"extra"``.
        """
        self._require_fitted()
        target = Path(directory)
        if target.exists():
            if not target.is_dir():
                raise ParameterError(f"{target}: exists and is not a folder")
            others = sorted(p.name for p in target.iterdir() if p.name not in (MODEL_FILE, META_FILE))
            if others:
                raise ParameterError(f"{target}: holds other files {others[:5]}; save the classifier to its own folder")
        meta = self.to_dict()
        if extra is not None:
            meta["extra"] = dict(extra)
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"extra: not JSON-serializable ({exc})") from None
        with atomic_directory(target) as tmp:
            self._model.save(tmp / MODEL_FILE)
            atomic_write_json(tmp / META_FILE, meta)
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "AudioClassifier":
        """Load a classifier written by :meth:`save`; anything missing or corrupt raises BundleError."""
        import keras

        folder = Path(directory)
        meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
        for p in (meta_path, model_path):
            if not p.is_file():
                raise BundleError(f"{folder}: not a saved classifier ({p.name} is missing)")
        try:
            meta = read_json(meta_path)
        except (OSError, ValueError) as exc:
            raise BundleError(f"{meta_path}: unreadable classifier metadata ({' '.join(str(exc).split())})") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise BundleError(f"{meta_path}: not a vae_audio classifier file")
        if meta.get("version") != CLASSIFIER_VERSION:
            raise BundleError(f"{meta_path}: classifier version {meta.get('version')!r}, this vae_audio reads "
                              f"version {CLASSIFIER_VERSION}; retrain it")
        try:
            clf = cls(ClassifierConfig.from_dict(meta["config"]))
            clf.sr, clf.n_samples = int(meta["sr"]), int(meta["n_samples"])
            clf.label_names = [str(n) for n in meta["label_names"]]
            clf.spectrogram_config = SpectrogramConfig.from_dict(meta["features"])
            clf.mean = np.asarray(meta["normalization"]["mean_db"], dtype=np.float64)
            clf.std = np.asarray(meta["normalization"]["std_db"], dtype=np.float64)
            clf.info = dict(meta.get("info") or {})
            clf.extra = meta.get("extra")
            spec = clf.spectrogram_config
            if clf.mean.shape != (spec.n_mels,) or clf.std.shape != (spec.n_mels,) or np.any(clf.std <= 0):
                raise ValueError("normalization statistics do not match the mel bands")
        except (KeyError, TypeError, ValueError) as exc:  # ConfigError is a ValueError
            raise BundleError(f"{meta_path}: invalid classifier metadata ({' '.join(str(exc).split())})") from None
        try:
            model = keras.models.load_model(model_path, compile=False)
        except Exception as exc:  # keras raises many types for a damaged zip
            reason = " ".join(str(exc).split())[:300]
            raise BundleError(f"{model_path}: cannot load the Keras model ({reason})") from None
        expected_in = (None, spec.n_mels, spec.n_frames, 1)
        if tuple(model.input_shape) != expected_in or tuple(model.output_shape) != (None, clf.n_classes):
            raise BundleError(f"{model_path}: model shapes {model.input_shape} -> {model.output_shape} do not match "
                              f"{META_FILE} ({expected_in} -> (None, {clf.n_classes}))")
        clf._set_model(model)
        return clf


def _augment(mel: np.ndarray, rng: np.random.Generator, config: ClassifierConfig, spec: SpectrogramConfig,
             noise_bank: np.ndarray) -> np.ndarray:
    """One epoch's training inputs (dB) from clean mel magnitudes ``(n, n_mels, n_frames)``.

    Random time shift (whole frames, silence shifted in), white noise added to a random subset of
    clips (power sum with a random clip of ``noise_bank``, unit-RMS noise, at a random level in
    ``config.noise_dbfs``), conversion to dB with the per-clip floor, random level change.
    """
    n, _, n_frames = mel.shape
    out = mel
    max_shift = int(round(config.max_shift_seconds * spec.sr / spec.hop_length))
    if max_shift > 0:
        shifts = rng.integers(-max_shift, max_shift + 1, size=n)
        src = np.arange(n_frames)[None, :] - shifts[:, None]  # (n, frames): source frame of each output frame
        valid = (src >= 0) & (src < n_frames)
        gathered = np.take_along_axis(mel, np.clip(src, 0, n_frames - 1)[:, None, :], axis=2)
        out = np.where(valid[:, None, :], gathered, np.float32(0.0))
    if config.noise_probability > 0:
        pick = rng.random(n) < config.noise_probability
        which = rng.integers(0, noise_bank.shape[0], size=n)
        level = (10.0 ** (rng.uniform(*config.noise_dbfs, size=n) / 20.0)).astype(np.float32)
        noise = noise_bank[which] * level[:, None, None]
        out = np.where(pick[:, None, None], np.sqrt(np.square(out) + np.square(noise)), out)
    db = mel_to_db(out, spec, top_db=config.top_db)
    if config.max_gain_db > 0:
        db = db + rng.uniform(-config.max_gain_db, config.max_gain_db, size=(n, 1, 1)).astype(np.float32)
    return db.astype(np.float32, copy=False)


# ----------------------------------------------------------------------------- cache
def classifier_cache_key(waveforms: np.ndarray, labels: np.ndarray, *, sr: int, label_names: Sequence[str],
                         config: ClassifierConfig, seed: int, key_extra: Any = None) -> str:
    """SHA-256 hex digest identifying a trained classifier: the training clips' float32 bytes and
    shape, labels, ``sr``, label names, config, seed, :data:`CLASSIFIER_VERSION` and ``key_extra``."""
    h = hashlib.sha256()
    try:
        settings = json.dumps({"version": CLASSIFIER_VERSION, "sr": int(sr), "label_names": list(label_names),
                               "config": config.to_dict(), "seed": int(seed), "extra": key_extra,
                               "shape": list(waveforms.shape)}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"key_extra: must be JSON-serializable ({exc})") from None
    h.update(settings.encode())
    h.update(np.ascontiguousarray(waveforms, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def get_or_train_classifier(train_waveforms: Any, train_labels: Any, *, sr: int, label_names: Sequence[str],
                            cache_dir: str | os.PathLike, key_extra: Any = None, seed: int = 0,
                            config: ClassifierConfig | None = None, validation: tuple[Any, Any] | None = None,
                            verbose: bool = False) -> AudioClassifier:
    """The classifier for this training set: reloaded from ``cache_dir`` if trained before, else trained and cached.

    The cache folder is ``cache_dir/classifier-<first 16 hex digits of the key>`` where the key is
    :func:`classifier_cache_key` (any change of clips, labels, rate, names, settings, seed or
    ``key_extra`` trains a new one). The returned classifier has ``from_cache`` True when it
    was reloaded and ``cache_path`` set. A cache entry that cannot be loaded or whose stored key
    differs is retrained and overwritten (with a warning), never fatal; failing to write the
    cache only warns.
    """
    config = ClassifierConfig() if config is None else config
    if not isinstance(config, ClassifierConfig):
        raise ParameterError(f"config: expected a ClassifierConfig, got {type(config).__name__}")
    sr = check_sr(sr)
    names = _check_label_names(label_names)
    seed = checks.seed(seed)
    x = _check_waveforms(train_waveforms, "train_waveforms")
    y = _check_labels(train_labels, "train_labels", x.shape[0], len(names))
    key = classifier_cache_key(x, y, sr=sr, label_names=names, config=config, seed=seed, key_extra=key_extra)
    folder = Path(cache_dir) / f"classifier-{key[:16]}"
    if folder.exists():
        try:
            clf = AudioClassifier.load(folder)
            stored = (clf.extra or {}).get("cache_key")
            if stored != key:
                raise BundleError(f"{folder}: stored cache key does not match")
            clf.from_cache, clf.cache_path = True, folder
            if verbose:
                print(f"classifier loaded from cache {folder}", flush=True)
            return clf
        except (BundleError, OSError, ValueError, AttributeError, TypeError) as exc:
            warnings.warn(f"classifier cache {folder} is unusable, retraining: {exc}", RuntimeWarning, stacklevel=2)
    clf = AudioClassifier(config).fit(x, y, sr=sr, label_names=names, seed=seed, validation=validation,
                                      verbose=verbose)
    try:
        clf.save(folder, extra={"cache_key": key, "key_extra": key_extra})
        clf.cache_path = folder
    except (OSError, ParameterError) as exc:
        warnings.warn(f"could not write the classifier cache {folder}: {exc}", RuntimeWarning, stacklevel=2)
    return clf


# ----------------------------------------------------------------------------- scores
def generation_scores(classifier, *, real_test: Any, real_test_labels: Any,
                      real_test_phase: Any = None, prior_samples: Any = None, conditional_samples: Any = None,
                      conditional_labels: Any = None, real_reference: Any = None, reconstructions: Any = None,
                      sr: int | None = None, splits: int = 1, reference_sets: int = 1) -> dict[str, float | int]:
    """Classifier-based scores of generated audio against the real test set (JSON-friendly).

    ``classifier`` is a fitted judge: an :class:`AudioClassifier` or a
    :class:`~vae_audio.evaluation.cepstral_judge.CepstralJudge` (anything with ``analyze`` giving
    embeddings and class probabilities).

    All inputs are waveforms ``(n, n_samples)`` (or lists of 1-D clips) at ``sr`` (default: the
    classifier's rate); labels are class indices into ``classifier.label_names``.

    Parameters
    ----------
    real_test, real_test_labels : the real test split and its labels (required).
    real_test_phase : the same test clips after the model's spectrogram -> phase reconstruction
        round trip (same order, so ``real_test_labels`` apply): the ceiling a generator with that
        phase method can reach.
    prior_samples : clips decoded from ``z ~ N(0, I)`` (unconditional samples).
    conditional_samples, conditional_labels : clips generated for requested classes, and those classes.
    real_reference : other real clips (e.g. a subset of the training split) for a real-vs-real
        Frechet distance, the floor a perfect generator would reach with this many clips.
    reference_sets : split ``real_reference`` into this many disjoint sets of equal size (in order)
        and report the median of their distances to the test clips (one set makes a noisy floor).
    reconstructions : the model's reconstructions of the test clips (same order, so
        ``real_test_labels`` apply).
    splits : passed to :func:`~vae_audio.evaluation.scores.inception_score`.

    Returns
    -------
    dict; keys are present only when their inputs were given:

    ``num_classes`` (int), ``real_test_count`` (int)
    ``real_test_accuracy``: classifier accuracy on the real test clips, [0, 1].
    ``real_test_inception_score``: IS of the real test clips, [1, K] (K with balanced classes
        recognized perfectly).
    ``real_phase_accuracy``, ``real_phase_inception_score``: the same for ``real_test_phase``.
    ``real_phase_frechet_distance``: FD between ``real_test_phase`` and ``real_test`` embeddings
        (what the phase reconstruction alone costs), >= 0.
    ``conditional_count`` (int), ``conditional_accuracy``: how often the classifier hears the
        requested class, [0, 1].
    ``conditional_accuracy_ratio``: ``conditional_accuracy / real_phase_accuracy`` when
        ``real_test_phase`` is given, else ``/ real_test_accuracy`` (target for FSDD: >= 0.9).
    ``conditional_inception_score``, ``conditional_frechet_distance``: IS of the conditional
        samples and their FD to the real test clips.
    ``prior_count`` (int), ``prior_inception_score``: IS of the prior samples, [1, K].
    ``prior_inception_score_ratio``: ``prior_inception_score / real_test_inception_score``
        (target for FSDD: >= 0.8).
    ``prior_frechet_distance``: FD between prior-sample and real-test embeddings, >= 0, lower is better.
    ``reference_count`` (int, clips per set), ``reference_frechet_distance``: FD between
        ``real_reference`` and the real test clips (the median over ``reference_sets`` sets);
        ``reference_frechet_distances``: each set's (list).
    ``conditional_frechet_ratio``, ``prior_frechet_ratio``: those FDs over the reference's (the
        FSDD target is <= 2).
    ``reconstruction_accuracy``, ``reconstruction_accuracy_ratio`` (to ``real_test_accuracy``),
        ``reconstruction_frechet_distance``: how often the classifier hears the right class in the
        reconstructions, and their FD to the real test clips: what a prior could reach with this
        autoencoder (a set paired clip by clip with the test set, so below the train-vs-test floor).

    Frechet distances need at least 2 clips on each side. They are biased upwards by roughly
    ``1 / n`` and their scale is that of one judge's embedding: compare FDs only from the same
    classifier and between sets of similar size, against ``reference_frechet_distance``.
    """
    if not (hasattr(classifier, "analyze") and hasattr(classifier, "n_classes")):
        raise ParameterError("classifier: expected an AudioClassifier or CepstralJudge, "
                             f"got {type(classifier).__name__}")
    classifier._require_fitted()
    k = classifier.n_classes

    def run(waveforms: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(classifier, AudioClassifier):  # names the argument in its errors
            return classifier._predict_standardized(classifier._standardize(classifier._log_mel(waveforms, name, sr)))
        return classifier.analyze(waveforms, sr=sr)

    def fd(a: np.ndarray, b: np.ndarray, name: str) -> float:
        if a.shape[0] < 2 or b.shape[0] < 2:
            raise ParameterError(f"{name}: a Frechet distance needs at least 2 clips on each side")
        return scores.frechet_distance(a, b)

    def run_paired(waveforms: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``run`` for a set made from the test clips one by one (same count, same labels)."""
        emb, p = run(waveforms, name)
        if p.shape[0] != p_test.shape[0]:
            raise ParameterError(f"{name}: {p.shape[0]} clips but real_test has {p_test.shape[0]}; "
                                 "it must be made from the same clips, in the same order")
        return emb, p

    emb_test, p_test = run(real_test, "real_test")
    y_test = _check_labels(real_test_labels, "real_test_labels", p_test.shape[0], k)
    out: dict[str, float | int] = {"num_classes": k, "real_test_count": int(p_test.shape[0])}
    out["real_test_accuracy"] = scores.accuracy(np.argmax(p_test, axis=1), y_test)
    out["real_test_inception_score"] = scores.inception_score(p_test, splits=splits)
    reference_accuracy = out["real_test_accuracy"]
    if real_test_phase is not None:
        emb_phase, p_phase = run_paired(real_test_phase, "real_test_phase")
        out["real_phase_accuracy"] = scores.accuracy(np.argmax(p_phase, axis=1), y_test)
        out["real_phase_inception_score"] = scores.inception_score(p_phase, splits=splits)
        out["real_phase_frechet_distance"] = fd(emb_phase, emb_test, "real_test_phase")
        reference_accuracy = out["real_phase_accuracy"]
    if (conditional_samples is None) != (conditional_labels is None):
        raise ParameterError("conditional_samples and conditional_labels must be given together")
    if conditional_samples is not None:
        emb_cond, p_cond = run(conditional_samples, "conditional_samples")
        y_cond = _check_labels(conditional_labels, "conditional_labels", p_cond.shape[0], k)
        out["conditional_count"] = int(p_cond.shape[0])
        out["conditional_accuracy"] = scores.accuracy(np.argmax(p_cond, axis=1), y_cond)
        out["conditional_accuracy_ratio"] = _ratio(out["conditional_accuracy"], reference_accuracy)
        out["conditional_inception_score"] = scores.inception_score(p_cond, splits=min(splits, p_cond.shape[0]))
        out["conditional_frechet_distance"] = fd(emb_cond, emb_test, "conditional_samples")
    if prior_samples is not None:
        emb_prior, p_prior = run(prior_samples, "prior_samples")
        out["prior_count"] = int(p_prior.shape[0])
        out["prior_inception_score"] = scores.inception_score(p_prior, splits=min(splits, p_prior.shape[0]))
        out["prior_inception_score_ratio"] = _ratio(out["prior_inception_score"], out["real_test_inception_score"])
        out["prior_frechet_distance"] = fd(emb_prior, emb_test, "prior_samples")
    if real_reference is not None:
        sets = checks.whole_number(reference_sets, "reference_sets", 1)
        emb_ref, _ = run(real_reference, "real_reference")
        size = emb_ref.shape[0] // sets
        distances = [fd(emb_ref[i * size:(i + 1) * size], emb_test, "real_reference") for i in range(sets)]
        out["reference_count"] = int(size)
        out["reference_frechet_distance"] = float(np.median(distances))
        out["reference_frechet_distances"] = [float(d) for d in distances]
        for kind in ("conditional", "prior"):
            if f"{kind}_frechet_distance" in out:
                out[f"{kind}_frechet_ratio"] = _ratio(out[f"{kind}_frechet_distance"],
                                                      out["reference_frechet_distance"])
    if reconstructions is not None:
        emb_rec, p_rec = run_paired(reconstructions, "reconstructions")
        out["reconstruction_accuracy"] = scores.accuracy(np.argmax(p_rec, axis=1), y_test)
        out["reconstruction_accuracy_ratio"] = out["reconstruction_accuracy"] / max(out["real_test_accuracy"], 1e-12)
        out["reconstruction_frechet_distance"] = fd(emb_rec, emb_test, "reconstructions")
    return out


def _ratio(value: float, reference: float) -> float | None:
    """``value / reference``, or None (JSON null) when the reference is 0."""
    return float(value / reference) if reference > 0 else None
