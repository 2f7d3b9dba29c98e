"""How close to the phase ceiling can *any* autoencoder get on FSDD in the training budget?

The evaluation issue asks for reconstruction audio SC within 8 dB of the ceiling (ground-truth
magnitude through our phase method, -36 dB on FSDD), i.e. about -28 dB: a 4 % linear magnitude
error. Our VAE passes a whole clip through a 64-number latent vector and reaches about -4 dB.
This script measures the headroom with a model built to reconstruct, not to generate: a
deterministic, fully convolutional autoencoder whose bottleneck is a *grid* (two stride-2
convolutions, 32 and 64 filters, then a 1x1 convolution to ``--channels`` channels, so the code
keeps a quarter of the time and frequency resolution: 33 x 24 x 8 = 6336 numbers for a
129 x 94 spectrogram, half the input size) and a mirror decoder. It trains for ``--minutes`` of
wall time on the FSDD training split (batch 32, Adam 1e-3) with either plain MSE on the
normalized dB spectrogram or a loss that weights loud bins more (``--loss loud``: weight
``1 + 20 * max(0, x - 0.5)``, since SC is dominated by the loudest bins), and reports the test
split's SC of the magnitude alone and of the audio after our phase method, every few epochs.

Usage (from the repository root; FSDD_DIR defaults to ../shared/data/fsdd/recordings)::

    python benchmarks/sc_headroom.py --minutes 15 --loss loud
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"


def build(shape: tuple[int, int], channels: int):
    import keras
    from keras import layers

    f, t = shape
    pad = ((0, (-f) % 4), (0, (-t) % 4))
    inp = keras.Input((f, t, 1))
    x = layers.ZeroPadding2D(pad)(inp)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    code = layers.Conv2D(channels, 1, name="code")(x)
    y = layers.Conv2D(64, 3, padding="same", activation="relu")(code)
    y = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(y)
    y = layers.Conv2DTranspose(1, 3, strides=2, padding="same")(y)
    out = layers.Activation("sigmoid")(layers.Cropping2D(pad)(y))
    return keras.Model(inp, out), int(np.prod(code.shape[1:]))


def loud_weighted_mse(y_true, y_pred):
    from keras import ops

    weight = 1.0 + 20.0 * ops.relu(y_true - 0.5)
    return ops.mean(weight * ops.square(y_true - y_pred))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15.0, help="training wall-time budget (default 15)")
    p.add_argument("--channels", type=int, default=8, help="channels of the code grid (default 8)")
    p.add_argument("--loss", choices=("mse", "loud"), default="loud", help="training loss (default loud)")
    p.add_argument("--every", type=int, default=10, help="report every N epochs (default 10)")
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    from vae_audio.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from vae_audio import datasets
    from vae_audio.data.featurize import build_features
    from vae_audio.dsp.features import db_to_magnitude, stft_magnitude
    from vae_audio.dsp.metrics import spectral_convergence_db
    from vae_audio.dsp.phase import db_to_audio

    features = build_features(datasets.load_dataset("fsdd"), cache_dir=REPO / "data" / "cache")
    train, test = features.subset("train"), features.subset("test")
    cfg = features.config
    reference = stft_magnitude(test.audio, n_fft=cfg.n_fft, hop_length=cfg.hop_length)

    def scores(pred: np.ndarray, with_audio: bool) -> tuple[float, float | None]:
        s_db = features.normalizer.unnormalize(pred)
        mag = float(np.median(spectral_convergence_db(reference, db_to_magnitude(s_db, cfg))))
        if not with_audio:
            return mag, None
        audio = db_to_audio(s_db, cfg)
        return mag, float(np.median(spectral_convergence_db(reference, audio, config=cfg)))

    keras.utils.set_random_seed(0)
    model, code_size = build(cfg.shape, args.channels)
    model.compile(keras.optimizers.Adam(1e-3), loss=loud_weighted_mse if args.loss == "loud" else "mse")
    print(f"fully convolutional autoencoder, code grid of {code_size} numbers "
          f"(input {cfg.shape[0]} x {cfg.shape[1]} = {cfg.shape[0] * cfg.shape[1]}), loss {args.loss}, "
          f"{args.minutes:g} min on {len(train)} clips", flush=True)
    x = train.x[..., None]
    t0, epoch = time.perf_counter(), 0
    while time.perf_counter() - t0 < args.minutes * 60:
        model.fit(x, x, batch_size=32, epochs=1, verbose=0, shuffle=True)
        epoch += 1
        if epoch % args.every == 0:
            mag, _ = scores(model.predict(test.x[..., None], verbose=0)[..., 0], False)
            print(f"  epoch {epoch:4d}  {time.perf_counter() - t0:6.0f} s  test SC (magnitude) {mag:6.2f} dB",
                  flush=True)
    mag, audio = scores(model.predict(test.x[..., None], verbose=0)[..., 0], True)
    ceiling = float(np.median(spectral_convergence_db(
        reference, db_to_audio(features.normalizer.unnormalize(test.x), cfg), config=cfg)))
    print(f"after {epoch} epochs ({time.perf_counter() - t0:.0f} s): test SC magnitude {mag:.2f} dB, "
          f"audio {audio:.2f} dB; ceiling {ceiling:.2f} dB; gap {audio - ceiling:.1f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
