"""The package's one family of exceptions.

Every error that bad user input can cause is a :class:`VaeAudioError`. It subclasses
:class:`ValueError`, so callers that already catch ``ValueError`` keep working, and its
message names the file or argument at fault and says what was wrong. The command-line
tool prints these as a single line and exits with status 2.
"""

from __future__ import annotations

__all__ = [
    "VaeAudioError",
    "ParameterError",
    "AudioLoadError",
    "AudioWriteError",
    "ConfigError",
    "DatasetError",
    "BundleError",
    "TrainingError",
]


class VaeAudioError(ValueError):
    """Base class of every error raised on purpose by vae_audio."""


class ParameterError(VaeAudioError):
    """A function argument has the wrong type, shape, range or value."""


class AudioLoadError(VaeAudioError):
    """An audio file cannot be read: missing, empty, truncated, not audio, or bad samples."""


class AudioWriteError(VaeAudioError):
    """Audio cannot be written: NaN/inf or out-of-range samples, or an unwritable path."""


class ConfigError(VaeAudioError):
    """A configuration (spectrogram, model, training) is invalid or does not match another."""


class DatasetError(VaeAudioError):
    """A dataset cannot be found, downloaded, verified or read."""


class BundleError(VaeAudioError):
    """A saved model bundle is missing files, corrupt, or from an incompatible version."""


class TrainingError(VaeAudioError):
    """Training cannot go on (for example the loss became NaN)."""
