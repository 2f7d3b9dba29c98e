"""Random pitch, tempo and delay changes of normalized spectrograms, drawn anew for every training batch.

Works on what the training pipeline feeds the autoencoder: normalized spectrograms ``(batch, freq,
frames, 1)`` in [0, 1], linear frequency bins, 0 the floor (silence). Each clip of a batch gets its own
draw:

- pitch: the frequency axis scaled by ``2 ** (s / 12)``, ``s`` uniform in ``+-pitch_semitones``
  (bin ``k`` of the result reads bin ``k / 2 ** (s / 12)`` of the clip);
- tempo: the time axis scaled by ``1 + u``, ``u`` uniform in ``+-tempo`` (a faster or slower decay);
- delay: the clip starts ``d`` frames later, ``d`` uniform in ``0 .. delay_frames``, the floor before it.

Cells are read by the nearest source cell, not interpolated: interpolating would smooth the
spectrogram's grain, the noise texture the model is meant to keep (:mod:`vae_audio.dsp.texture`).
Cells that read from outside the clip are the floor. The level of every cell is kept: no gain change,
so the folder's relative levels (``recipe.level``) stay what the model learns.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Augmentation", "augment_batch"]


@dataclass(frozen=True)
class Augmentation:
    """The ranges of :func:`augment_batch` (0: that change is off)."""

    pitch_semitones: float = 0.0
    tempo: float = 0.0
    delay_frames: int = 0

    @property
    def active(self) -> bool:
        return self.pitch_semitones > 0 or self.tempo > 0 or self.delay_frames > 0


def _source_index(n: int, scale, shift=None):
    """For each of ``n`` output positions and each clip, the nearest source position ``round((i - shift) /
    scale)`` (``(batch, n)`` int32) and whether it lies inside ``0 .. n - 1`` (bool, the same shape)."""
    import tensorflow as tf

    i = tf.range(n, dtype=tf.float32)[None, :]
    if shift is not None:
        i = i - shift[:, None]
    src = tf.round(i / scale[:, None])
    inside = (src >= 0) & (src <= n - 1)
    return tf.cast(tf.clip_by_value(src, 0, n - 1), tf.int32), inside


def augment_batch(spectrogram, seed, augmentation: Augmentation):
    """``spectrogram`` (batch, freq, frames, 1) float32 with each clip pitch-, tempo- and delay-changed by
    its own draw from ``augmentation``'s ranges; ``seed``: a stateless seed, int32/int64 ``(2,)`` (the same
    seed, the same draws)."""
    import tensorflow as tf

    batch = tf.shape(spectrogram)[0]
    freq, frames = spectrogram.shape[1], spectrogram.shape[2]
    u = tf.random.stateless_uniform((3, batch), seed=seed, minval=-1.0, maxval=1.0)
    pitch = tf.pow(2.0, u[0] * augmentation.pitch_semitones / 12.0)
    tempo = 1.0 + u[1] * augmentation.tempo
    delay = tf.floor((u[2] + 1.0) / 2.0 * (augmentation.delay_frames + 1 - 1e-6))
    x = spectrogram[..., 0]
    f_src, f_in = _source_index(freq, pitch)
    x = tf.gather(x, f_src, axis=1, batch_dims=1) * tf.cast(f_in, x.dtype)[:, :, None]
    t_src, t_in = _source_index(frames, 1.0 / tempo, delay)
    x = tf.gather(x, t_src, axis=2, batch_dims=1) * tf.cast(t_in, x.dtype)[:, None, :]
    return x[..., None]
