"""Quality at equal training time on FSDD: our default conv VAE against the blog recipe.

Both models train unconditionally on the FSDD training split for the same wall-clock budget
(``--minutes`` each, default 10; a Keras callback stops training after the first batch that ends
past the budget), one after the other, then reconstruct the 300 test clips (takes 0-4):

* **ours**: ``vae-audio train --data fsdd`` defaults: FSDD features (8 kHz, n_fft 256, hop 64,
  0.75 s -> 129 x 94, peak-normalized clips, global dB normalizer), ``architecture="conv"``,
  calibrated Gaussian likelihood, KL warm-up over 5 epochs, Adam 1e-3, batch 32 (the default).
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
gain), over the first 0.74 s (5920 samples), at n_fft 256, hop 64. The metric is the
log-spectral distance (dB, lower is better) with both spectra divided by the reference's
largest magnitude and ``eps = 1e-4``: bins more than 80 dB below each clip's spectral peak do
not count, the same for both pipelines. A *ceiling* row per pipeline puts the true features
through the same phase method.

Usage (from the repository root)::

    python benchmarks/train_speed.py                       # 2 x 10 minutes + evaluation
    python benchmarks/train_speed.py --minutes 1 --max-clips 600   # quick check

Targets: ours at least 2x lower median LSD than the blog's after the same 10 minutes; one
epoch of our default conv model (2430 training clips) at most 30 s (median epoch time).
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
def time_budget_callback(seconds: float, steps_per_epoch: int):
    import keras

    class TimeBudget(keras.callbacks.Callback):
        """Stops training after the first batch that ends past ``seconds`` of wall time; records epochs."""

        def __init__(self):
            super().__init__()
            self.batches, self.epoch_times, self.elapsed = 0, [], 0.0

        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()
            self.cpu0 = time.process_time()

        def on_epoch_begin(self, epoch, logs=None):
            self.te = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if self.batches % steps_per_epoch == 0:  # a complete epoch
                self.epoch_times.append(time.perf_counter() - self.te)

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            self.elapsed = time.perf_counter() - self.t0
            if self.elapsed >= seconds:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.elapsed = time.perf_counter() - self.t0
            self.cpu = time.process_time() - self.cpu0

    return TimeBudget()


def train(kind: str, x_train: np.ndarray, minutes: float, seed: int = 0):
    import keras
    import tensorflow as tf

    from vae_audio import models
    from vae_audio.training import TrainSettings, configure_determinism

    configure_determinism(seed)
    shape = x_train.shape[1:]
    batch = TrainSettings().batch_size if kind == "ours" else 64   # ours: the package default (32)
    steps = int(np.ceil(len(x_train) / batch))
    if kind == "ours":
        enc, dec = models.build_encoder(shape, architecture="conv"), models.build_decoder(shape, architecture="conv")
        vae = models.VAE(enc, dec, seed=seed, kl_warmup_steps=5 * steps)   # vae-audio train defaults
        lr = 1e-3
    else:
        enc = models.build_encoder(shape, architecture="blog")
        dec = models.build_decoder(shape, architecture="blog")
        vae = models.VAE(enc, dec, seed=seed, likelihood="mse_scaled", reconstruction_weight=1e6)
        lr = 5e-4
    vae.compile(optimizer=keras.optimizers.Adam(lr))
    data = (tf.data.Dataset.from_tensor_slices({"spectrogram": x_train[..., None].astype(np.float32)})
            .shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True).batch(batch).prefetch(2))
    budget = time_budget_callback(minutes * 60.0, steps)
    vae.fit(data, epochs=100_000, callbacks=[budget], verbose=0, shuffle=False)  # shuffled by tf.data
    params = enc.count_params() + dec.count_params()
    return vae, {"epochs": budget.batches / steps, "steps": budget.batches, "seconds": budget.elapsed,
                 "cpu_seconds": budget.cpu, "epoch_times": budget.epoch_times, "params": params}


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per model (default 10)")
    p.add_argument("--max-clips", type=int, help="quick runs: at most this many FSDD clips")
    p.add_argument("--models", nargs="+", default=["ours", "blog"], choices=["ours", "blog"])
    args = p.parse_args(argv)
    if "FSDD_DIR" not in os.environ and DEFAULT_FSDD.is_dir():
        os.environ["FSDD_DIR"] = str(DEFAULT_FSDD)

    dataset, feats = our_features(args.max_clips)
    train_rows, test_rows = feats.split == "train", feats.split == "test"
    bx, bstats, raw8 = blog_features(dataset, feats)
    test_feats = feats.subset("test")
    ref_ours = test_feats.audio[:, :COMMON_SAMPLES]
    ref_blog = raw8[test_rows]
    blog_test_stats = {k: v[test_rows] for k, v in bstats.items()}

    rows = []
    t0 = time.perf_counter()
    ceiling = {"ours": float(np.median(common_lsd(ref_ours, ours_audio(test_feats.x, feats)))),
               "blog": float(np.median(common_lsd(ref_blog, blog_audio(bx[test_rows], blog_test_stats))))}
    print(f"ceilings in {time.perf_counter() - t0:.0f} s: {ceiling}", flush=True)
    for kind in args.models:
        x_train = feats.x[train_rows] if kind == "ours" else bx[train_rows]
        print(f"training {kind} on {x_train.shape} for {args.minutes:g} min ...", flush=True)
        vae, info = train(kind, x_train, args.minutes)
        if kind == "ours":
            est = ours_audio(vae.reconstruct(test_feats.x), feats)
            lsd = common_lsd(ref_ours, est)
        else:
            est = blog_audio(vae.reconstruct(bx[test_rows]), blog_test_stats)
            lsd = common_lsd(ref_blog, est)
        info.update(kind=kind, lsd=float(np.median(lsd)), shape=tuple(x_train.shape[1:]), n_train=len(x_train))
        print(f"  {kind}: {info['epochs']:.2f} epochs ({info['steps']} steps) in {info['seconds']:.0f} s "
              f"(CPU {info['cpu_seconds']:.0f} s), epoch times {[round(t, 1) for t in info['epoch_times']]}, "
              f"median LSD {info['lsd']:.2f} dB", flush=True)
        rows.append(info)
        del vae

    ours_lsd = next((r["lsd"] for r in rows if r["kind"] == "ours"), None)
    print(f"\nFSDD, {rows[0]['n_train']} training clips, budget {args.minutes:g} min per model, "
          f"{int(test_rows.sum())} test clips; LSD at 8 kHz, n_fft 256, hop 64, median over clips, dB\n")
    print("| model | features | params | epochs done | train time | median epoch | median LSD | ratio to ours | ceiling LSD |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        feat = "8 kHz 129x94, global dB" if r["kind"] == "ours" else "22.05 kHz 256x64, per-clip min/max"
        med = f"{statistics.median(r['epoch_times']):.1f} s" if r["epoch_times"] else "– (< 1 epoch)"
        ratio = f"{r['lsd'] / ours_lsd:.2f}x" if ours_lsd else "–"
        name = "ours (conv, calibrated)" if r["kind"] == "ours" else "blog (blog, mse_scaled)"
        print(f"| {name} | {feat} | {r['params'] / 1e6:.2f} M | {r['epochs']:.2f} | {r['seconds'] / 60:.1f} min "
              f"(CPU {r['cpu_seconds'] / 60:.1f}) | {med} | {r['lsd']:.2f} dB | {ratio} | {ceiling[r['kind']]:.2f} dB |")
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
