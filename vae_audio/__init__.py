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
    "load_audio": "dsp.audio", "write_wav": "dsp.audio", "pad_or_truncate": "dsp.audio", "trim_silence": "dsp.audio",
    "resample": "dsp.audio",
    # features
    "SpectrogramConfig": "dsp.features", "Normalizer": "dsp.features", "stft_magnitude": "dsp.features",
    "mel_filterbank": "dsp.features", "amplitude_to_db": "dsp.features", "db_to_amplitude": "dsp.features",
    "spectrogram_db": "dsp.features", "db_to_magnitude": "dsp.features", "n_stft_frames": "dsp.features",
    "Recipe": "dsp.recipe", "normalize_level": "dsp.recipe",
    # phase reconstruction and spectral metrics
    "griffin_lim": "dsp.phase", "pghi_phase": "dsp.phase", "mel_to_stft_magnitude": "dsp.phase",
    "magnitude_to_audio": "dsp.phase", "db_to_audio": "dsp.phase",
    "spectral_convergence_db": "dsp.metrics", "log_spectral_distance_db": "dsp.metrics",
    "ValleyPostfilter": "dsp.postfilter", "fit_valley_postfilter": "dsp.postfilter",
    "NoiseTexture": "dsp.texture", "fit_noise_texture": "dsp.texture", "texture_roughness": "dsp.texture",
    # datasets and features of whole datasets
    "load_dataset": "data.datasets", "find_fsdd": "data.datasets",
    "AudioDataset": "data.datasets", "generate_synth": "data.synth", "download_fsdd": "data.download",
    "Features": "data.featurize", "build_features": "data.featurize", "make_tf_dataset": "data.featurize",
    "ShardedArray": "data.shards", "inspect_dataset": "data.inspection", "DataSummary": "data.inspection",
    # models, bundles, training, generation
    "build_encoder": "modeling.models", "build_decoder": "modeling.models", "VAE": "modeling.models",
    "save_model": "modeling.bundle", "load_model": "modeling.bundle", "TrainedModel": "modeling.inference",
    "check_compatible": "modeling.inference",
    "LatentPrior": "modeling.latent_prior", "GridPrior": "modeling.grid_prior",
    "RunConfig": "config", "resolve_config": "resolve", "train": "pipeline", "TrainResult": "pipeline",
    "fit_training_prior": "training", "fit_training_postfilter": "training", "fit_training_texture": "training",
    "generate_audio": "modeling.generate", "reconstruct_audio": "modeling.generate", "interpolate": "modeling.generate",
    "write_clips": "modeling.generate",
    # evaluation
    "AudioClassifier": "evaluation.classifier", "get_or_train_classifier": "evaluation.classifier",
    "generation_scores": "evaluation.classifier", "CepstralJudge": "evaluation.cepstral_judge",
    "inception_score": "evaluation.scores", "frechet_distance": "evaluation.scores", "accuracy": "evaluation.scores",
    "write_report": "evaluation.report", "make_quiz": "evaluation.quiz", "write_quiz": "evaluation.quiz",
}

#: submodules reachable as attributes (``va.display.player``) without an explicit import
_SUBMODULES = ["errors", "fileio", "checks", "choices", "config", "progress", "tfquiet", "resolve", "training",
               "pipeline", "cli",
               "dsp", "data", "modeling", "evaluation", "ui"]

#: the modules inside those groups, reachable by their own name too (``va.display``, ``from vae_audio import phase``)
_GROUPED = {
    "audio": "dsp.audio",
    "features": "dsp.features",
    "recipe": "dsp.recipe",
    "phase": "dsp.phase",
    "metrics": "dsp.metrics",
    "postfilter": "dsp.postfilter",
    "texture": "dsp.texture",
    "synth": "data.synth",
    "datasets": "data.datasets",
    "download": "data.download",
    "featurize": "data.featurize",
    "shards": "data.shards",
    "inspection": "data.inspection",
    "models": "modeling.models",
    "latent_prior": "modeling.latent_prior",
    "grid_prior": "modeling.grid_prior",
    "inference": "modeling.inference",
    "bundle": "modeling.bundle",
    "generate": "modeling.generate",
    "scores": "evaluation.scores",
    "listening": "evaluation.listening",
    "classifier": "evaluation.classifier",
    "cepstral_judge": "evaluation.cepstral_judge",
    "diversity": "evaluation.diversity",
    "evaluate": "evaluation.evaluate",
    "display": "ui.display",
    "notebook": "ui.notebook",
    "report": "evaluation.report",
    "quiz": "evaluation.quiz",
}

# lazy_loader (what librosa and scikit-image use): module attributes resolve on first access
_lazy_getattr, _lazy_dir, _lazy_all = lazy_loader.attach(
    __name__, submodules=_SUBMODULES,
    submod_attrs={module: sorted(n for n, m in _EXPORTS.items() if m == module) for module in set(_EXPORTS.values())})


def __getattr__(name: str):
    if name in _GROUPED:
        import importlib

        return importlib.import_module(f"{__name__}.{_GROUPED[name]}")
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return sorted(set(_lazy_dir()) | set(_GROUPED))
__all__ = sorted(_EXPORTS) + ["__version__"]
