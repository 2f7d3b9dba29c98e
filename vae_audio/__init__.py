"""vae_audio: variational autoencoders on audio spectrograms, and phase reconstruction back to sound.

Public names are importable from the top level for notebook use::

    import vae_audio as va
    y, sr = va.load_audio("clip.wav", sr=8000)

Names are resolved lazily (``lazy_loader``), so ``import vae_audio`` is fast and TensorFlow is
only imported by the parts that need it (models, training, phase reconstruction).
"""

from __future__ import annotations

import os

import lazy_loader

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
    "spectrogram_db": "features", "db_to_magnitude": "features", "n_stft_frames": "features",
    "Recipe": "recipe", "normalize_level": "recipe",
    # phase reconstruction and spectral metrics
    "griffin_lim": "phase", "pghi_phase": "phase", "mel_to_stft_magnitude": "phase",
    "magnitude_to_audio": "phase", "db_to_audio": "phase",
    "spectral_convergence_db": "metrics", "log_spectral_distance_db": "metrics",
    # datasets and features of whole datasets
    "load_dataset": "datasets", "default_config": "datasets", "find_fsdd": "datasets",
    "AudioDataset": "datasets", "generate_synth": "synth", "download_fsdd": "download",
    "Features": "featurize", "build_features": "featurize", "make_tf_dataset": "featurize",
    "ShardedArray": "shards",
    # models, bundles, training, generation
    "build_encoder": "models", "build_decoder": "models", "VAE": "models",
    "save_model": "bundle", "load_model": "bundle", "TrainedModel": "inference", "check_compatible": "inference",
    "LatentPrior": "latent_prior", "GridPrior": "grid_prior",
    "TrainSettings": "training", "train": "training", "fit_training_prior": "training",
    "generate_audio": "generate", "reconstruct_audio": "generate", "interpolate": "generate",
    "write_clips": "generate",
    # evaluation
    "AudioClassifier": "classifier", "get_or_train_classifier": "classifier",
    "generation_scores": "classifier", "CepstralJudge": "cepstral_judge",
    "inception_score": "scores", "frechet_distance": "scores", "accuracy": "scores",
    "write_report": "report",
}

#: submodules reachable as attributes (``va.display.player``) without an explicit import
_SUBMODULES = [
    "errors", "fileio", "checks", "choices", "audio", "features", "recipe", "phase", "metrics", "scores", "synth",
    "datasets", "download", "featurize", "shards", "models", "latent_prior", "grid_prior", "inference", "bundle", "training",
    "generate", "classifier", "cepstral_judge", "listening", "evaluate", "display", "notebook", "progress",
    "report", "tfquiet", "cli",
]

# lazy_loader (what librosa and scikit-image use): module attributes resolve on first access
__getattr__, __dir__, _lazy_all = lazy_loader.attach(
    __name__, submodules=_SUBMODULES,
    submod_attrs={module: sorted(n for n, m in _EXPORTS.items() if m == module) for module in set(_EXPORTS.values())})
__all__ = sorted(_EXPORTS) + ["__version__"]
