# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A first VAE on audio spectrograms
#
# The whole pipeline once, with the smallest model that works:
#
# 1. **a tour of the data**: a clip, its spectrogram, and the same clip after
#    spectrogram -> phase reconstruction -> audio (the best any spectrogram model can sound);
# 2. **preparation** on a real clip: a fixed length, then dB values mapped to [0, 1];
# 3. **a small dense VAE**, trained briefly;
# 4. **generation**: decode, unnormalize, reconstruct a phase, listen, write `.wav` files;
# 5. **the classic mistake**, and what it sounds like;
# 6. **the package's default model** on the same data, in one call, for comparison;
# 7. **a listening quiz**: which is real, a test clip or the dense VAE's clip?
#
# Every cell calls the `vae_audio` package; the notebook only strings the steps together.
# The committed outputs come from a full run on the built-in synthetic instruments
# (`VAE_AUDIO_DATA=synth`, 30 epochs, 3 minutes on a shared 2-core CPU).
#
# **Running it.** `VAE_AUDIO_DATA=synth|fsdd|PATH` picks the data (default: FSDD when `data/fsdd`
# or `$FSDD_DIR` holds it, otherwise the built-in synthetic instruments); `VAE_AUDIO_QUICK=1`
# shrinks data and epochs to a smoke test (what `tests/test_notebooks.py` runs);
# `VAE_AUDIO_OUTPUTS=DIR` sends the written files to `DIR/samples` instead of `outputs/samples`.
# The first cell prints what it uses.

# %%
from vae_audio import notebook

settings = notebook.notebook_settings(epochs=30)  # data, mode, outputs (and a quiet TensorFlow import)

import keras
import numpy as np

import vae_audio as va
from vae_audio import (
                       datasets,
                       display,
                       featurize,
                       generate,
                       listening,
                       metrics,
                       models,
                       phase,
                       pipeline,
                       quiz,
                       training,
)

# %% [markdown]
# ## 1. A tour of the data
#
# `load_dataset` lists the clips (labels, train/val/test split); `build_features` loads them,
# cuts them to one length, and turns each into a normalized dB spectrogram (cached in `data/cache`).
# A dense model learns every (frequency, time) position on its own, so it gets a compact input:
# 64 mel bands instead of every STFT bin (the phase step inverts the mel filterbank).

# %%
listed = datasets.load_dataset(settings.data, max_clips=settings.max_clips)  # settings from the files' headers
mel = listed.config.replace(n_mels=64)  # ... with 64 mel bands
dataset = datasets.load_dataset(settings.data, max_clips=settings.max_clips, config=mel)
features = featurize.build_features(dataset, cache_dir=settings.cache_dir, verbose=True)
cfg = features.config
print(cfg.describe())
print("labels:", ", ".join(features.label_names) or "none")

# %% [markdown]
# One clip as it comes, before any preparation. (The synthetic notes can be made at any length:
# this one is rendered longer than the model's window.)

# %%
index = int(np.flatnonzero(features.split == "train")[0])
label = features.label_names[features.labels[index]] if features.label_names else "no label"
y_raw, sr = notebook.raw_clip(dataset, index)
print(f"clip {index} (label {label}): {len(y_raw)} samples = {len(y_raw) / sr:.2f} s at {sr} Hz, "
      f"peak {np.abs(y_raw).max():.2f}")
display.player(y_raw, sr)

# %% [markdown]
# ## 2. Preparation: one length, then [0, 1]
#
# A model takes inputs of one shape, so every clip is cut or zero-padded to `n_samples`
# (`pad_or_truncate` keeps the start). Here on this clip, and on a short piece of it:

# %%
y = va.pad_or_truncate(y_raw, cfg.n_samples)
print(f"this clip: {len(y_raw)} -> {len(y)} samples ({cfg.duration:.2f} s): " + (
    f"kept the first {len(y)}, dropped {len(y_raw) - len(y)}" if len(y_raw) > len(y) else "zeros appended"))
short = y_raw[: cfg.n_samples // 2]
padded = va.pad_or_truncate(short, cfg.n_samples)
print(f"a {len(short)}-sample clip: -> {len(padded)} samples; the {len(padded) - len(short)} added samples "
      f"are all zero: {not padded[len(short):].any()}")
recipe = features.recipe  # every preprocessing step, saved with the model
y = va.normalize_level(y, recipe.level)  # per-clip loudness (FSDD: peak 0.9; synth: unchanged)
print(f"level normalization {recipe.level!r}: peak {np.abs(y).max():.2f}")

# %% [markdown]
# Its spectrogram: the STFT magnitude summed into 64 mel bands, in dB, floored at `db_floor`.
# This is what the model sees and generates.

# %%
s_db = cfg.spectrogram_db(y)
print(f"spectrogram {s_db.shape} (frequency bins x frames): {s_db.min():.1f} .. {s_db.max():.1f} dB")
display.plot_spectrogram(s_db, cfg, title="the clip, dB spectrogram");

# %% [markdown]
# **The ceiling.** A spectrogram keeps only magnitudes; the phase is thrown away and has to be
# invented again to get sound back (`phase.db_to_audio`: a phase-gradient estimate refined by
# Fast Griffin-Lim; with mel bands it first has to guess the fine frequency detail the bands
# summed away). Listen to both: whatever the second one lacks, no model that generates these
# spectrograms can give back.

# %%
y_ceiling = phase.db_to_audio(s_db, cfg)
true_mag = va.stft_magnitude(y, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
sc = metrics.spectral_convergence_db(true_mag, y_ceiling, config=cfg)
print(f"spectral convergence of the round trip: {sc:.1f} dB (lower is better; 0 dB = as far off as silence)")
display.players({"original": y, "spectrogram -> phase reconstruction (the ceiling)": y_ceiling}, sr)

# %% [markdown]
# **Normalization.** Networks train best on inputs in a small fixed range, so dB values are
# mapped to [0, 1] with one range fitted on the training split (`features.normalizer`). The same
# range turns the decoder's outputs back into dB later, so it is saved with every model.

# %%
norm = features.normalizer
x = norm.normalize(s_db)
print(f"normalizer ({norm.mode}), fitted on the training split: {norm.low_db:.1f} dB -> 0, {norm.high_db:.1f} dB -> 1")
print(f"this clip: {s_db.min():.1f} .. {s_db.max():.1f} dB  ->  {x.min():.3f} .. {x.max():.3f}")
print(f"unnormalize(normalize(s)) differs from s by at most {np.abs(norm.unnormalize(x) - s_db).max():.1e} dB")
print(f"the whole dataset: x {features.x.shape}, {features.x.min():.2f} .. {features.x.max():.2f}, "
      f"splits {features.split_counts()}")

# %% [markdown]
# ## 3. A small dense VAE
#
# The encoder flattens the spectrogram and maps it through two dense layers to the mean and
# log-variance of a small latent vector; the decoder mirrors it and ends in a sigmoid, so its
# output is a normalized spectrogram in [0, 1].

# %%
training.configure_determinism(seed=0)
encoder = models.build_encoder(cfg.shape, architecture="simple")
decoder = models.build_decoder(cfg.shape, architecture="simple")
vae = models.VAE(encoder, decoder, seed=0, likelihood="spectral", db_range=(norm.low_db, norm.high_db))
print(f"encoder {encoder.count_params():,} parameters, decoder {decoder.count_params():,}; "
      f"latent size {vae.latent_dim}; input {cfg.shape}")

# %% [markdown]
# Training minimizes the negative ELBO: a reconstruction term plus the KL divergence of the
# latent code from N(0, I). The reconstruction term is the `"spectral"` likelihood: a Gaussian on
# the normalized spectrogram whose variance is set from the batch's error, plus the same kind of
# self-scaled terms on the linear magnitude (spectral convergence, log-magnitude distance), so
# the loud bins a listener hears count as much as the quiet background. No weights to tune.

# %%
train_data = featurize.make_tf_dataset(features, split="train", batch_size=64, seed=0)
val_data = featurize.make_tf_dataset(features, split="val", batch_size=64, shuffle=False)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
history = vae.fit(train_data, validation_data=val_data, epochs=settings.epochs, shuffle=False, verbose=0,
                  callbacks=[display.training_progress(settings.epochs)])
display.plot_history(history.history);

# %% [markdown]
# ## 4. Generation: decode, unnormalize, reconstruct a phase
#
# Where should latent vectors come from? The KL term pulls the codes towards N(0, I), but a
# short training leaves them far from filling it: most draws from N(0, I) land between the codes
# of real clips, where the decoder has learned nothing but an average. So the package fits a
# prior to the training codes (`fit_prior`: a Gaussian mixture for this vector latent) and
# samples that. First the steps by hand, with one draw from N(0, I) for contrast.

# %%
model = va.TrainedModel.from_vae(vae, recipe=features.recipe)  # the trained model, ready to use
train = features.subset("train")
model.fit_prior(train.x, seed=0)            # a Gaussian mixture fitted to the training codes
print(model.prior.describe())
z, _ = model.sample_latents(4, seed=1)      # (4, latent size) draws from the fitted prior
z_standard = models.prior_latents(1, vae.latent_dim, seed=1)  # one draw from N(0, I)
x_gen = model.decode(np.concatenate([z, z_standard]))  # (5, freq, frames), normalized, in [0, 1]
s_gen = norm.unnormalize(x_gen)             # back to dB
y_gen = phase.db_to_audio(s_gen, cfg)       # invent a phase: (5, n_samples) waveforms
titles = [f"prior sample {i}" for i in range(4)] + ["N(0, I) draw"]
display.show(display.plot_spectrograms(dict(zip(titles, s_gen)), cfg, ncols=5))
display.players(dict(zip(titles, y_gen)), cfg.sr)

# %% [markdown]
# Spectral flatness says how noise-like a sound is (about 0.56 for white noise, near 0 for a
# few clean harmonics). Samples that sound like the data should be about as flat as real clips:

# %%
flat_real = np.median(listening.spectral_flatness(train.audio[:64], cfg.sr))
flat = listening.spectral_flatness(y_gen, cfg.sr)
print(f"spectral flatness: real training clips {flat_real:.4f} (median); fitted-prior samples "
      f"{np.median(flat[:4]):.4f} ({np.median(flat[:4]) / flat_real:.1f}x real); N(0, I) draw {flat[4]:.4f} "
      f"({flat[4] / flat_real:.1f}x)")

# %% [markdown]
# And a reconstruction: a test clip the model never saw, encoded to its latent mean and decoded.

# %%
test = features.subset("test")
x_rec = model.reconstruct(test.x[:1])
y_rec = phase.db_to_audio(norm.unnormalize(x_rec), cfg)[0]
display.compare({"test clip": test.audio[0], "its reconstruction": y_rec}, cfg)

# %%
names = [f"simple_vae_prior_{i}" for i in range(4)] + ["simple_vae_test_original", "simple_vae_test_reconstruction"]
paths = generate.write_clips(np.concatenate([y_gen[:4], test.audio[:1], y_rec[None]]), names,
                             settings.samples_dir, cfg.sr, overwrite=True)
print("\n".join(p.name for p in paths))

# %% [markdown]
# ## 5. The classic mistake: forgetting to unnormalize
#
# The decoder speaks in [0, 1], not dB. Read as dB, every value lies within 1 dB of 0 dB,
# i.e. every bin of every frame is near full scale: the quiet background (0, which meant the dB
# floor) becomes the loudest part, the spectrum is flat and the result is a wall of noise.
# (Turn your volume down before playing the second player.)

# %%
wrong = phase.db_to_audio(x_gen[0], cfg)    # skipped norm.unnormalize
print(f"read as dB the decoder output spans {x_gen[0].min():.2f} .. {x_gen[0].max():.2f} dB; "
      f"the real range is {norm.low_db:.0f} .. {norm.high_db:.0f} dB")
display.players({"right: unnormalize, then phase": y_gen[0], "wrong: normalized values read as dB": wrong}, cfg.sr)

# %% [markdown]
# ## 6. The default model, in one call
#
# `pipeline.train` is what `vae-audio train` runs: it featurizes the data with the dataset's
# own recipe (all STFT bins here, no mel bands), trains the package's default model (a VAE whose
# latent is laid out over frequency and time, conditional on the label; see
# `improved_vae.ipynb`), then a learned prior over its codes, and saves the bundle. The same test
# clip through both models:

# %%
default_features = featurize.build_features(datasets.load_dataset(settings.data, max_clips=settings.max_clips),
                                           cache_dir=settings.cache_dir)  # the dataset's own recipe
run = pipeline.train({"data": settings.data, "max_clips": settings.max_clips,
                      "epochs": settings.epochs if settings.quick else None,  # None: derived from the data
                      "prior_steps": settings.prior_steps, "out": str(settings.models_dir / "simple_vae_default"),
                      "n_samples": 0}, features=default_features, overwrite=True, verbose=0)
print(f"{run.epochs_run} epochs and the prior in {run.seconds / 60:.1f} min")
default_model = va.load_model(run.model_dir)
print(default_model)
y_default = generate.reconstruct_audio(default_model, test.audio[:1], labels=test.labels[:1])["reconstruction"][0]
display.compare({"test clip": test.audio[0], "dense VAE (section 3)": y_rec, "default model": y_default},
                default_model.config)

# %% [markdown]
# ## 7. Which is real? A listening quiz
#
# Eight questions on the dense VAE of sections 3-4: each pairs a test clip with a clip the model
# made, either its reconstruction of that clip or a sample of its fitted prior (this model has no
# labels, so a sample may be of any instrument), leaving out the test clip reconstructed above.
# Which side is real is drawn at random; both are cut to the same length and matched in loudness
# (equal RMS over their active frames), so only how they sound can tell them apart. Answer with
# the buttons (or click the quiz and press A or B, N for the next); after the last answer it shows
# your score with a 95 % interval and whether that beats guessing. In Jupyter the quiz runs once
# the notebook is trusted.

# %%
heard = np.flatnonzero(features.split == "test")[:1]  # the test clip reconstructed above: not asked
quiz.show_quiz(quiz.make_quiz(model, features, pairs=min(8, quiz.max_pairs(features)), seed=7, avoid=heard))
