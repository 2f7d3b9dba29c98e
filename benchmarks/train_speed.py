"""Quality at equal training time on FSDD: the default grid model, the earlier conv VAE and the blog recipe.

The three models train on the FSDD training split for the same wall-clock budget, one after the
other, and at each time mark (``--marks`` minutes, default 1 3 10 15) their reconstructions of the
300 test clips (takes 0-4) are scored; the training clock is paused while they are (a Keras
callback checks the clock after every batch and stops after the last mark):

* **grid**: what ``vae-audio train --data fsdd`` trains: FSDD features (8 kHz, n_fft 256, hop
  64, 0.75 s -> 129 x 94, peak-normalized clips, global dB normalizer), ``architecture="grid"``
  with the dataset's default options, conditional on the digit (reconstructions get the clip's
  label), the ``spectral`` likelihood, KL warm-up over 5 epochs, Adam 1e-3, the grid model's
  default batch of 16 (docs/experiments/architectures.md has a row at each); only the
  autoencoder: the prior it fits afterwards does not change reconstructions.
* **conv**: the earlier default, the same features, ``architecture="conv"``, unconditional,
  calibrated Gaussian likelihood, batch 32, otherwise the same settings.
* **blog**: the "sound generation with VAE" recipe with its own features, implemented here:
  clips loaded at 22.05 kHz, 0.74 s (16317 samples, right-padded with zeros), STFT n_fft 512,
  hop 256 (257 x 64), Nyquist bin dropped (256 x 64), ``librosa.amplitude_to_db`` (floor at
  1e-5, i.e. -100 dB, and at each clip's maximum - 80 dB), per-clip min/max normalization to
  [0, 1] (:class:`vae_audio.dsp.features.Normalizer` ``mode="per_clip"``); ``architecture="blog"``,
  ``likelihood="mse_scaled"`` (1,000,000 x MSE + KL), latent 128, Adam 5e-4, batch 64, no KL
  warm-up.

Common domain: each model's test reconstructions are un-normalized (the blog's with each clip's
own min/max, as in the recipe), turned into audio with the same phase method
(:func:`vae_audio.dsp.phase.db_to_audio`, default settings; the blog's dropped Nyquist row is put
back as silence), resampled to 8 kHz, and compared with the clip the model was given, also at
8 kHz (the raw FSDD file for the blog, our peak-normalized clip for ours: the same sound up to a
gain), over the first 0.74 s (5920 samples), at n_fft 256, hop 64. The metrics are the
log-spectral distance (dB, lower is better) with both spectra divided by the reference's
largest magnitude and ``eps = 1e-4`` (bins more than 80 dB below each clip's spectral peak do
not count, the same for every pipeline) and the spectral convergence (dB, lower is better), both
medians over the test clips. A *ceiling* per pipeline puts the true features through the same
phase method.

Usage (from the repository root)::

    python benchmarks/train_speed.py                                   # 3 x 15 minutes + scoring
    python benchmarks/train_speed.py --marks 0.5 1 --max-clips 600 --models grid conv   # quick check
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_FSDD = REPO.parent / "shared" / "data" / "fsdd" / "recordings"

from vae_audio.dsp.features import Normalizer, SpectrogramConfig, stft_magnitude  # noqa: E402
from vae_audio.dsp.metrics import log_spectral_distance_db  # noqa: E402

#: the blog's features: 22.05 kHz, 0.74 s, n_fft 512, hop 256 -> 257 x 64 (256 x 64 without Nyquist)
BLOG_CONFIG = SpectrogramConfig(sr=22050, n_fft=512, hop_length=256, n_samples=16317, db_floor=-100.0)
BLOG_TOP_DB = 80.0
#: the common comparison domain
COMMON_SR, COMMON_N_FFT, COMMON_HOP = 8000, 256, 64
COMMON_SAMPLES = int(round(0.74 * COMMON_SR))  # 5920
LSD_FLOOR_DB = -80.0


# ----------------------------------------------------------------------------- data
def our_features(max_clips: int | None):
    from vae_audio.data.datasets import load_dataset
    from vae_audio.data.featurize import build_features

    ds = load_dataset("fsdd", max_clips=max_clips)
    return ds, build_features(ds, verbose=True)


def blog_features(dataset, features):
    """The blog's (256, 64) per-clip-normalized spectrograms of the same clips, their stats and raw 8 kHz audio."""
    from concurrent.futures import ThreadPoolExecutor

    from vae_audio.dsp.audio import load_audio, pad_or_truncate

    paths = [c.source for c in dataset.clips]
    by_path = {p: i for i, p in enumerate(paths)}
    order = [by_path[m["file"] if os.path.isabs(m["file"]) else str(Path(dataset.root) / m["file"])]
             for m in features.metadata]  # features rows may skip unreadable files
    cfg = BLOG_CONFIG

    def load(i: int):
        y22, _ = load_audio(paths[i], sr=cfg.sr, duration=cfg.n_samples / cfg.sr)
        y8, _ = load_audio(paths[i], sr=COMMON_SR, duration=COMMON_SAMPLES / COMMON_SR)
        return pad_or_truncate(y22, cfg.n_samples), pad_or_truncate(y8, COMMON_SAMPLES)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        loaded = list(pool.map(load, order))
    audio22 = np.stack([a for a, _ in loaded])
    raw8 = np.stack([b for _, b in loaded])
    s_db = cfg.spectrogram_db(audio22)                                             # (n, 257, 64), floor -100 dB
    s_db = np.maximum(s_db, s_db.max(axis=(1, 2), keepdims=True) - BLOG_TOP_DB)   # librosa's top_db=80
    s_db = s_db[:, :-1, :]                                                        # drop Nyquist: (n, 256, 64)
    x, stats = Normalizer(mode="per_clip").normalize(s_db, return_stats=True)
    print(f"blog features: {x.shape} in {time.perf_counter() - t0:.1f} s", flush=True)
    return x, stats, raw8


# ----------------------------------------------------------------------------- training
def marks_callback(marks_s: list[float], steps_per_epoch: int, score):
    """After the first batch that ends past each mark (seconds of training), ``score(index of the mark)``
    runs with the clock stopped; training stops after the last mark. Records epoch times."""
    import keras

    class Marks(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.epoch_times, self.elapsed, self.paused, self.next = 0, [], 0.0, 0.0, 0
            self.at: list[tuple[float, float]] = []  # (training seconds, epochs) at each mark

        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.te, self.pe = time.perf_counter(), self.paused

        def on_epoch_end(self, epoch, logs=None):
            if self.batches % steps_per_epoch == 0:  # a complete epoch, scoring time left out
                self.epoch_times.append(time.perf_counter() - self.te - (self.paused - self.pe))

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            self.elapsed = time.perf_counter() - self.t0 - self.paused
            while self.next < len(marks_s) and self.elapsed >= marks_s[self.next]:
                t = time.perf_counter()
                self.at.append((self.elapsed, self.batches / steps_per_epoch))
                score(self.next)
                self.paused += time.perf_counter() - t
                self.next += 1
            if self.next == len(marks_s):
                self.model.stop_training = True

    return Marks()


def build(kind: str, shape: tuple[int, int], steps: int, features, seed: int = 0):
    """The compiled model, as ``vae-audio train`` (grid, conv) or the blog sets it up."""
    import keras

    from vae_audio.config import RunConfig
    from vae_audio.data.rules import grid_options
    from vae_audio.modeling import models

    defaults = RunConfig()
    if kind == "blog":
        enc, dec = models.build_encoder(shape, architecture="blog"), models.build_decoder(shape, architecture="blog")
        vae = models.VAE(enc, dec, seed=seed, likelihood="mse_scaled", reconstruction_weight=1e6)
        lr = 5e-4
    else:
        kw = {"architecture": kind, **(grid_options(shape[0])[0] if kind == "grid" else {})}
        extra = {}
        if kind == "grid":
            kw["num_classes"] = len(features.label_names)
            extra = {"likelihood": "spectral", "db_range": (features.normalizer.low_db, features.normalizer.high_db)}
        enc, dec = models.build_encoder(shape, **kw), models.build_decoder(shape, **kw)
        vae = models.VAE(enc, dec, seed=seed, beta=defaults.model.beta,
                         kl_warmup_steps=defaults.model.kl_warmup_epochs * steps, **extra)
        lr = defaults.training.learning_rate
    vae.compile(optimizer=keras.optimizers.Adam(lr))
    return vae


def train(kind: str, x_train: np.ndarray, labels: np.ndarray, features, marks_min: list[float], score, seed: int = 0):
    """Train ``kind`` until the last mark, calling ``score(encoder, decoder, mark)`` at each."""
    import tensorflow as tf

    from vae_audio.choices import DEFAULT_BATCH_SIZES
    from vae_audio.training import configure_determinism

    configure_determinism(seed)
    batch = 64 if kind == "blog" else DEFAULT_BATCH_SIZES[kind]  # what `vae-audio train` uses
    steps = int(np.ceil(len(x_train) / batch))
    vae = build(kind, x_train.shape[1:], steps, features, seed)
    items = {"spectrogram": x_train[..., None].astype(np.float32)}
    if kind == "grid":
        items["label"] = labels.astype(np.int32)
    data = (tf.data.Dataset.from_tensor_slices(items)
            .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True).batch(batch).prefetch(2))
    marks = marks_callback([m * 60.0 for m in marks_min], steps,
                           lambda i: score(vae.encoder, vae.decoder, marks_min[i]))
    vae.fit(data, epochs=100_000, callbacks=[marks], verbose=0, shuffle=False)  # shuffled by tf.data
    params = vae.encoder.count_params() + vae.decoder.count_params()
    return {"epochs": marks.batches / steps, "seconds": marks.elapsed, "epoch_times": marks.epoch_times,
            "params": params, "at": marks.at}


# ----------------------------------------------------------------------------- evaluation
def common_lsd(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Per-clip LSD (dB) of 8 kHz waveforms ``(n, COMMON_SAMPLES)``, spectra scaled by the reference's peak."""
    ref = stft_magnitude(reference, n_fft=COMMON_N_FFT, hop_length=COMMON_HOP).astype(np.float64)
    est = stft_magnitude(estimate, n_fft=COMMON_N_FFT, hop_length=COMMON_HOP).astype(np.float64)
    scale = np.maximum(ref.max(axis=(1, 2), keepdims=True), 1e-12)
    return np.asarray(log_spectral_distance_db(ref / scale, est / scale, eps=10 ** (LSD_FLOOR_DB / 20)))


def ours_audio(normalized: np.ndarray, features) -> np.ndarray:
    from vae_audio.dsp.phase import db_to_audio

    y = db_to_audio(features.normalizer.unnormalize(normalized), features.config)   # 8 kHz, 6000 samples
    return y[:, :COMMON_SAMPLES]


def blog_audio(normalized: np.ndarray, stats: dict) -> np.ndarray:
    from vae_audio.dsp.audio import pad_or_truncate, resample
    from vae_audio.dsp.phase import db_to_audio

    s_db = Normalizer(mode="per_clip").unnormalize(normalized, stats)                # (n, 256, 64)
    nyquist = np.full((s_db.shape[0], 1, s_db.shape[2]), BLOG_CONFIG.db_floor, np.float32)
    y22 = db_to_audio(np.concatenate([s_db, nyquist], axis=1), BLOG_CONFIG)          # 22.05 kHz, 16317 samples
    return pad_or_truncate(resample(y22, BLOG_CONFIG.sr, COMMON_SR), COMMON_SAMPLES)


def reconstruct(encoder, decoder, x: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    from vae_audio.modeling.models import decode_array, encode_array

    z_mean, _ = encode_array(encoder, x, labels)
    return decode_array(decoder, z_mean, labels)[..., :x.shape[-1]]


def common_sc(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Per-clip spectral convergence (dB) of 8 kHz waveforms ``(n, COMMON_SAMPLES)``."""
    from vae_audio.dsp.metrics import spectral_convergence_db

    return np.asarray(spectral_convergence_db(stft_magnitude(reference, n_fft=COMMON_N_FFT, hop_length=COMMON_HOP),
                                              estimate, n_fft=COMMON_N_FFT, hop_length=COMMON_HOP))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--marks", type=float, nargs="+", default=[1.0, 3.0, 10.0, 15.0],
                   help="minutes of training at which reconstructions are scored (default 1 3 10 15)")
    p.add_argument("--max-clips", type=int, help="quick runs: at most this many FSDD clips")
    p.add_argument("--models", nargs="+", default=["grid", "conv", "blog"], choices=["grid", "conv", "blog"])
    args = p.parse_args(argv)
    marks = sorted(args.marks)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    dataset, feats = our_features(args.max_clips)
    train_rows, test_rows = feats.split == "train", feats.split == "test"
    bx, bstats, raw8 = blog_features(dataset, feats)
    test_feats = feats.subset("test")
    ref_ours = test_feats.audio[:, :COMMON_SAMPLES]
    ref_blog = raw8[test_rows]
    blog_test_stats = {k: v[test_rows] for k, v in bstats.items()}

    t0 = time.perf_counter()
    ceiling = {"ours": float(np.median(common_lsd(ref_ours, ours_audio(test_feats.x, feats)))),
               "blog": float(np.median(common_lsd(ref_blog, blog_audio(bx[test_rows], blog_test_stats))))}
    print(f"ceilings in {time.perf_counter() - t0:.0f} s: {ceiling}", flush=True)
    rows = []
    for kind in args.models:
        x_train = bx[train_rows] if kind == "blog" else feats.x[train_rows]
        scores: dict[float, tuple[float, float]] = {}

        def score(encoder, decoder, mark, kind=kind, scores=scores):
            if kind == "blog":
                est = blog_audio(reconstruct(encoder, decoder, bx[test_rows], None), blog_test_stats)
                ref = ref_blog
            else:
                labels = test_feats.labels.astype(np.int32) if kind == "grid" else None
                est = ours_audio(reconstruct(encoder, decoder, test_feats.x, labels), feats)
                ref = ref_ours
            scores[mark] = (float(np.median(common_lsd(ref, est))), float(np.median(common_sc(ref, est))))
            print(f"  {kind} at {mark:g} min: LSD {scores[mark][0]:.2f} dB, SC {scores[mark][1]:.2f} dB", flush=True)

        print(f"training {kind} on {x_train.shape} until {marks[-1]:g} min ...", flush=True)
        info = train(kind, x_train, feats.labels[train_rows], feats, marks, score)
        info.update(kind=kind, scores=scores, n_train=len(x_train))
        print(f"  {kind}: {info['epochs']:.2f} epochs in {info['seconds']:.0f} s of training, "
              f"epoch times {[round(t, 1) for t in info['epoch_times']]}", flush=True)
        rows.append(info)

    print(f"\nFSDD, {rows[0]['n_train']} training clips, {int(test_rows.sum())} test clips; median LSD / SC of "
          f"the test reconstructions' audio at 8 kHz, n_fft 256, hop 64, dB, after each minute mark of training\n")
    print("| model | params | median epoch | " + " | ".join(f"{m:g} min" for m in marks)
          + " | epochs done | ceiling LSD |")
    print("|---|---:|---:|" + "---:|" * len(marks) + "---:|---:|")
    names = {"grid": "grid (default; conditional, spectral)", "conv": "conv (calibrated)", "blog": "blog (mse_scaled)"}
    for r in rows:
        med = f"{statistics.median(r['epoch_times']):.1f} s" if r["epoch_times"] else "– (< 1 epoch)"
        cells = " | ".join(f"{r['scores'][m][0]:.2f} / {r['scores'][m][1]:.1f}" if m in r["scores"] else "–"
                           for m in marks)
        print(f"| {names[r['kind']]} | {r['params'] / 1e6:.2f} M | {med} | {cells} | {r['epochs']:.2f} | "
              f"{ceiling['blog' if r['kind'] == 'blog' else 'ours']:.2f} dB |")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
