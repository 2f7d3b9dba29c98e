"""The names users choose from (architectures, likelihoods, priors, strategies), defined once.

A dependency-free module, so the command line can offer the choices without importing
TensorFlow; :mod:`vae_audio.modeling.models`, :mod:`vae_audio.training` and :mod:`vae_audio.modeling.bundle`
re-export what concerns them.
"""

from __future__ import annotations

__all__ = ["ARCHITECTURES", "DEFAULT_ARCHITECTURE", "LIKELIHOODS", "DEFAULT_LIKELIHOODS", "DEFAULT_BATCH_SIZES",
           "PRIOR_CHOICES", "GRID_PRIOR_CHOICES", "DEFAULT_GRID_PRIOR", "STRATEGIES", "PRECISIONS", "PHASES"]

#: encoder/decoder architectures (see :mod:`vae_audio.modeling.models`)
ARCHITECTURES = ("conv", "simple", "blog", "grid")
#: what ``vae-audio train`` and the builders use unless told otherwise: the latent laid out over
#: frequency and time, with a learned prior (chosen by measurement, see the README)
DEFAULT_ARCHITECTURE = "grid"
#: decoder likelihoods, i.e. reconstruction terms (see :class:`vae_audio.modeling.models.VAE`)
LIKELIHOODS = ("calibrated", "gaussian", "mse_scaled", "spectral")
#: each architecture's default likelihood in training (the grid model was measured with ``spectral``)
DEFAULT_LIKELIHOODS = {"conv": "calibrated", "simple": "calibrated", "blog": "calibrated", "grid": "spectral"}
#: each architecture's default batch size in training (clips per step). The grid model takes 16:
#: twice the optimizer steps of batch 32 for about the same epoch time on 2 CPU cores, measured
#: better on both data sets at the default epochs (README); 32 beat 64 for ``conv`` on FSDD
DEFAULT_BATCH_SIZES = {"conv": 32, "simple": 32, "blog": 32, "grid": 16}
#: what generation samples z from: the fitted prior if the model has one, it, or N(0, I)
PRIOR_CHOICES = ("auto", "fitted", "standard")
#: the learned prior a grid model gets after training (see :mod:`vae_audio.modeling.grid_prior`), or none
GRID_PRIOR_CHOICES = ("autoregressive", "diffusion", "none")
#: the default of those (chosen by ``benchmarks/grid_prior.py``, see the README)
DEFAULT_GRID_PRIOR = "autoregressive"
#: ``tf.distribute`` strategies of ``vae-audio train``
STRATEGIES = ("default", "mirrored", "multiworker")
#: Keras dtype policies training can run under (``--precision``); bundles are always float32
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
#: named phase-reconstruction settings for model outputs (see :data:`vae_audio.dsp.phase.PHASE_SETTINGS`)
PHASES = ("quality", "fast")
