"""An optional patch discriminator for the VAE: adversarial + feature-matching loss, switched on late.

Blur is what a likelihood on spectrogram bins gives (the mean of what the latent does not
decide); a discriminator that judges small time-frequency patches can ask for texture instead
(MelGAN / HiFi-GAN feature matching, the late adversarial loss of AudioLDM's and Stable
Audio's VAEs, RAVE's second phase). :class:`AdversarialVAE` is :class:`~vae_audio.modeling.models.VAE`
with one more network trained alongside:

- the discriminator (:func:`build_patch_discriminator`): strided 3x3 convolutions over the
  normalized spectrogram ``(batch, freq, frames, 1)``, LeakyReLU, a 1-channel map of patch logits;
  fully convolutional like the grid model, unconditional;
- its loss: hinge, ``mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat)))``;
- the autoencoder's extra term: ``-mean(D(x_hat))`` plus feature matching (per layer, the mean
  ``|f(x) - f(x_hat)|`` over the mean ``|f(x)|``), weighted by ``lambda``, chosen every step as
  VQGAN does (Esser et al. 2021), with no hand-set constant: ``lambda = ||dL/dx_hat|| /
  ||dG/dx_hat||``, the ratio of the gradient norms of the likelihood term ``L`` and of the
  adversarial term ``G`` at the decoder's output, so both pull on the reconstruction equally hard;
- from the first epoch that begins at or after training step ``adversarial_start_step``
  (:class:`AdversarialPhase`, added by ``fit``); before it the training step is the plain VAE's,
  at its cost, and the discriminator is not updated: a late adversarial phase on a trained
  autoencoder.

The discriminator is training-only: bundles hold the encoder and decoder as before. Training
with it (``vae-audio train --adversarial-from EPOCH``) is measured against the plain model at
equal CPU time in the README.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import layers, ops

from .. import checks
from ..errors import ConfigError
from .models import SPECTROGRAM_KEY, VAE

__all__ = ["build_patch_discriminator", "AdversarialVAE", "AdversarialPhase", "DISCRIMINATOR_FILTERS"]

#: channels of the discriminator's strided convolutions (each halves frequency and time)
DISCRIMINATOR_FILTERS = (32, 64, 128)


def build_patch_discriminator(n_freq: int, *, filters: Sequence[int] = DISCRIMINATOR_FILTERS,
                              name: str = "patch_discriminator") -> keras.Model:
    """A patch discriminator on normalized spectrograms ``(batch, n_freq, frames, 1)`` (any frames).

    Returns a model whose outputs are the feature map after each strided block (for feature
    matching) and, last, the logits ``(batch, ceil(n_freq / 2^k), ceil(frames / 2^k), 1)``: one
    real/fake score per patch (each sees about ``2^k * 3`` bins and frames).
    """
    x_in = keras.Input((int(n_freq), None, 1), name=SPECTROGRAM_KEY)
    h = x_in
    features = []
    for i, f in enumerate(filters):
        h = layers.Conv2D(int(f), 3, strides=2, padding="same", name=f"d_conv{i}")(h)
        h = layers.LeakyReLU(0.2, name=f"d_act{i}")(h)
        features.append(h)
    logits = layers.Conv2D(1, 3, padding="same", name="d_logits")(h)
    return keras.Model(x_in, [*features, logits], name=name)


@keras.saving.register_keras_serializable(package="vae_audio")
class AdversarialVAE(VAE):
    """:class:`~vae_audio.modeling.models.VAE` plus a patch discriminator (see the module docstring).

    Parameters (besides the VAE's)
    ------------------------------
    discriminator : from :func:`build_patch_discriminator`.
    adversarial_start_step : the training step from which the adversarial terms are on.
    discriminator_learning_rate : Adam step size of the discriminator (betas 0.5, 0.9, as in
        the GAN vocoders).
    weight_scale : factor on the adaptive weight (1: the adversarial term pulls on the
        reconstruction as hard as the likelihood).
    critic_warmup_steps : after the start, the discriminator first trains alone for this many
        steps, then its pull on the autoencoder ramps in linearly over as many steps.

    Logged metrics add ``adversarial_loss`` (``-mean D(x_hat)``), ``feature_matching``,
    ``discriminator_loss`` and ``adversarial_weight`` (lambda; 0 before the start). Training
    runs under the TensorFlow backend with the default distribution strategy.
    """

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *, discriminator: keras.Model,
                 adversarial_start_step: int = 0, discriminator_learning_rate: float = 2e-4,
                 weight_scale: float = 1.0, critic_warmup_steps: int = 0, **kwargs: Any):
        super().__init__(encoder, decoder, **kwargs)
        for name, value in (("adversarial_start_step", adversarial_start_step),
                            ("critic_warmup_steps", critic_warmup_steps)):
            checks.whole_number(value, name, 0, error=ConfigError)
        for name, value in (("weight_scale", weight_scale), ("discriminator_learning_rate", discriminator_learning_rate)):
            checks.number(value, name, 0, 1e6, lo_open=True, hi_open=True, error=ConfigError)
        self.discriminator = discriminator
        self.adversarial_start_step = int(adversarial_start_step)
        self.discriminator_learning_rate = float(discriminator_learning_rate)
        self.weight_scale = float(weight_scale)
        self.critic_warmup_steps = int(critic_warmup_steps)
        self.discriminator_optimizer = keras.optimizers.Adam(self.discriminator_learning_rate, beta_1=0.5,
                                                             beta_2=0.9, name="discriminator_adam")
        self.adversarial_tracker = keras.metrics.Mean(name="adversarial_loss")
        self.feature_matching_tracker = keras.metrics.Mean(name="feature_matching")
        self.discriminator_tracker = keras.metrics.Mean(name="discriminator_loss")
        self.weight_tracker = keras.metrics.Mean(name="adversarial_weight")
        self.adversarial_on = False

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "adversarial_start_step": self.adversarial_start_step,
                "discriminator_learning_rate": self.discriminator_learning_rate,
                "weight_scale": self.weight_scale, "critic_warmup_steps": self.critic_warmup_steps}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "AdversarialVAE":
        config = dict(config)
        config["discriminator"] = keras.saving.deserialize_keras_object(config["discriminator"])
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "adversarial_start_step": self.adversarial_start_step,
                "discriminator_learning_rate": self.discriminator_learning_rate,
                "weight_scale": self.weight_scale, "critic_warmup_steps": self.critic_warmup_steps}

    @property
    def generator_variables(self) -> list:
        """The autoencoder's trainable variables (everything but the discriminator's)."""
        skip = {id(v) for v in self.discriminator.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in skip]

    def build_optimizers(self) -> None:
        """Create both optimizers' slots for the variables they update (before restoring a checkpoint)."""
        self.optimizer.build(self.generator_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def fit(self, *args, callbacks=None, **kwargs):
        """Keras ``fit`` with :class:`AdversarialPhase` added (it switches the discriminator on)."""
        return super().fit(*args, callbacks=[*(callbacks or []), AdversarialPhase()], **kwargs)

    def _likelihood_step(self, x):
        """Before the start: the plain VAE step (no discriminator work), on the autoencoder's variables."""
        import tensorflow as tf

        generator = self.generator_variables
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            likelihood = self.compute_loss(x=x, y_pred=y_pred, training=True)
        grads = tape.gradient(likelihood, generator)
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, generator) if g is not None])
        if hasattr(self, "_loss_tracker") and self._loss_tracker is not None:
            self._loss_tracker.update_state(likelihood)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not self.adversarial_on:  # a Python flag read when the step is traced (see AdversarialPhase)
            return self._likelihood_step(x)
        generator = self.generator_variables
        critic = self.discriminator.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            y_pred = self(x, training=True)
            likelihood = self.compute_loss(x=x, y_pred=y_pred, training=True)  # negative ELBO, counts the step
            recon = y_pred["reconstruction"]
            target, _ = self._split(x)
            real = self.discriminator(target, training=True)
            fake = self.discriminator(recon, training=True)
            adversarial = -ops.mean(fake[-1])
            matching = 0.0
            for f_real, f_fake in zip(real[:-1], fake[:-1]):
                f_real = ops.stop_gradient(f_real)
                matching = matching + ops.mean(ops.abs(f_real - f_fake)) / (ops.mean(ops.abs(f_real)) + 1e-6)
            matching = matching / float(len(real) - 1)
            gan = adversarial + matching
            critic_loss = ops.mean(ops.relu(1.0 - real[-1])) + ops.mean(ops.relu(1.0 + fake[-1]))
        # VQGAN's adaptive weight, measured at the decoder's output (cheaper than at its last layer)
        pull_likelihood = tape.gradient(likelihood, recon)
        pull_gan = tape.gradient(gan, recon)
        weight = ops.clip(ops.sqrt(ops.sum(ops.square(pull_likelihood)))
                          / (ops.sqrt(ops.sum(ops.square(pull_gan))) + 1e-8), 0.0, 1e8)
        # the critic learns alone for critic_warmup_steps, then its pull ramps in linearly over as many
        ramp = 1.0 if self.critic_warmup_steps == 0 else ops.clip(
            (self.step - float(self.adversarial_start_step + self.critic_warmup_steps)) / float(self.critic_warmup_steps),
            0.0, 1.0)
        weight = ops.stop_gradient(weight) * self.weight_scale * ramp
        grads = tape.gradient([likelihood, gan], generator, output_gradients=[ops.ones_like(likelihood), weight])
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, generator) if g is not None])
        critic_grads = tape.gradient(critic_loss, critic)
        self.discriminator_optimizer.apply_gradients(zip(critic_grads, critic))
        del tape
        if hasattr(self, "_loss_tracker") and self._loss_tracker is not None:
            self._loss_tracker.update_state(likelihood)
        self.adversarial_tracker.update_state(adversarial)
        self.feature_matching_tracker.update_state(matching)
        self.discriminator_tracker.update_state(critic_loss)
        self.weight_tracker.update_state(weight)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        """Validation: the VAE's own metrics (the adversarial ones exist only for training steps)."""
        logs = super().test_step(data)
        adversarial = {m.name for m in (self.adversarial_tracker, self.feature_matching_tracker,
                                        self.discriminator_tracker, self.weight_tracker)}
        return {k: v for k, v in logs.items() if k not in adversarial}


class AdversarialPhase(keras.callbacks.Callback):
    """Switches an :class:`AdversarialVAE` into its adversarial phase at the first epoch that begins
    at or after ``adversarial_start_step`` (and re-traces the training step once then), so the
    epochs before it cost what a plain VAE's do."""

    def _sync(self) -> None:
        model = self.model
        on = float(ops.convert_to_numpy(model.step)) >= model.adversarial_start_step
        if on != model.adversarial_on:
            model.adversarial_on = on
            model.make_train_function(force=True)

    def on_train_begin(self, logs=None):
        self._sync()

    def on_epoch_begin(self, epoch, logs=None):
        self._sync()
