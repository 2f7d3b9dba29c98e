"""vae_audio: variational autoencoders on audio spectrograms, and phase reconstruction back to sound.

Public names are importable from the top level for notebook use::

    import vae_audio as va
    y, sr = va.load_audio("clip.wav", sr=8000)

Names are resolved lazily, so ``import vae_audio`` is fast and TensorFlow is only imported
by the parts that need it (models, training, phase reconstruction).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of notebooks

__version__ = "0.1.0"

#: public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "VaeAudioError": "errors", "ParameterError": "errors", "AudioLoadError": "errors",
    "AudioWriteError": "errors", "ConfigError": "errors", "DatasetError": "errors",
    "BundleError": "errors", "TrainingError": "errors",
    # audio
    "load_audio": "audio", "write_wav": "audio", "pad_or_truncate": "audio", "trim_silence": "audio",
    "resample": "audio",
    # features
    "SpectrogramConfig": "features", "Normalizer": "features", "stft_magnitude": "features",
    "mel_filterbank": "features", "amplitude_to_db": "features", "db_to_amplitude": "features",
    "spectrogram_db": "features", "db_to_magnitude": "features",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vae_audio' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
