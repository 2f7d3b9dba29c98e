"""The names users choose from (architectures, likelihoods, priors, strategies), defined once.

A dependency-free module, so the command line can offer the choices without importing
TensorFlow; :mod:`vae_audio.modeling.models`, :mod:`vae_audio.training` and :mod:`vae_audio.modeling.bundle`
re-export what concerns them.
"""

from __future__ import annotations

__all__ = ["ARCHITECTURES", "DEFAULT_ARCHITECTURE", "ARCH_DEFAULTS", "DEFAULT_LATENT_DIM", "LIKELIHOODS",
           "DEFAULT_LIKELIHOODS", "DEFAULT_BATCH_SIZES", "PRIOR_CHOICES", "GRID_PRIOR_CHOICES", "DEFAULT_GRID_PRIOR",
           "PRIOR_DEFAULTS", "DEFAULT_PRIOR_TEMPERATURE", "DEFAULT_EPOCHS", "STRATEGIES", "PRECISIONS", "PHASES"]

#: encoder/decoder architectures (see :mod:`vae_audio.modeling.models`)
ARCHITECTURES = ("conv", "simple", "blog", "grid")
#: what ``vae-audio train`` and the builders use unless told otherwise: the latent laid out over
#: frequency and time, with a learned prior (chosen by measurement: docs/experiments/architectures.md)
DEFAULT_ARCHITECTURE = "grid"
#: defaults of each architecture's options (the builders' ``**arch_kwargs``, see
#: :func:`vae_audio.modeling.models.build_encoder`)
ARCH_DEFAULTS: dict[str, dict] = {
    "conv": {"filters": (16, 32, 64, 128), "kernel_size": 3, "transpose_kernel_size": 3, "norm": None},
    "simple": {"hidden": (512, 256)},
    "blog": {"filters": (512, 256, 128, 64, 32), "kernel_size": 3,
             "strides": ((2, 2), (2, 2), (2, 2), (2, 2), (2, 1))},
    "grid": {"filters": (32, 64), "strides": ((2, 2), (2, 2)), "res_blocks": 0, "activation": "relu",
             "output": "snap"},
}
#: latent size of each architecture when none is given (``grid``: channels per grid position)
DEFAULT_LATENT_DIM = {"conv": 64, "simple": 32, "blog": 128, "grid": 8}
#: decoder likelihoods, i.e. reconstruction terms (see :class:`vae_audio.modeling.models.VAE`)
LIKELIHOODS = ("calibrated", "gaussian", "mse_scaled", "spectral")
#: each architecture's default likelihood in training (the grid model was measured with ``spectral``)
DEFAULT_LIKELIHOODS = {"conv": "calibrated", "simple": "calibrated", "blog": "calibrated", "grid": "spectral"}
#: each architecture's default batch size in training (clips per step). The grid model takes 16:
#: twice the optimizer steps of batch 32 for about the same epoch time on 2 CPU cores, measured
#: better on both data sets at the default epochs (docs/experiments/training.md); 32 beat 64 for ``conv`` on FSDD
DEFAULT_BATCH_SIZES = {"conv": 32, "simple": 32, "blog": 32, "grid": 16}
#: what generation samples z from: the fitted prior if the model has one, it, or N(0, I)
PRIOR_CHOICES = ("auto", "fitted", "standard")
#: the learned prior a grid model gets after training (see :mod:`vae_audio.modeling.grid_prior`), or none
GRID_PRIOR_CHOICES = ("autoregressive", "diffusion", "none")
#: the default of those (chosen by ``benchmarks/grid_prior.py``: docs/experiments/priors.md)
DEFAULT_GRID_PRIOR = "autoregressive"
#: settings of a learned grid prior when none are given (:meth:`vae_audio.modeling.grid_prior.GridPrior.fit`):
#: optimizer steps, batch and learning rate, the network's width and dilations, the size of the clip
#: summary it is conditioned on (0: none), the training-clip columns each sample starts from (0: none)
#: and the noise (standardized latent units) added to them
PRIOR_DEFAULTS: dict = {"steps": 1500, "batch_size": 64, "learning_rate": 1e-3, "width": 128,
                        "dilations": (1, 2, 4, 8, 1, 2, 4, 8), "summary_dim": 0, "onset_columns": 6,
                        "onset_noise": 0.3}
#: epochs of a run's autoencoder when neither the user nor the time budget says
DEFAULT_EPOCHS = 30
#: sampling temperature of each prior family when none is given: the autoregressive prior's per-frame
#: Gaussians are wider than the data's conditional spread (they also cover the choices a unimodal
#: Gaussian cannot separate); 1.0 draws as learned (a mixture, a diffusion prior)
DEFAULT_PRIOR_TEMPERATURE = {"autoregressive": 0.7, "diffusion": 1.0, "none": 1.0}
#: ``tf.distribute`` strategies of ``vae-audio train``
STRATEGIES = ("default", "mirrored", "multiworker")
#: Keras dtype policies training can run under (``--precision``); bundles are always float32
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
#: named phase-reconstruction settings for model outputs (see :data:`vae_audio.dsp.phase.PHASE_SETTINGS`)
PHASES = ("quality", "fast")
