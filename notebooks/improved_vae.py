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
# # A VAE whose latent is laid out over time, and a learned prior to sample it
#
# The model the package trains by default (`vae-audio train`), built from its pieces:
#
# 1. a fully convolutional **encoder** and **decoder**, built separately and composed into a
#    `VAE`, conditional on the label; the latent is a grid over frequency and time, so one model
#    takes clips of any length;
# 2. trained with a progress bar and loss curves;
# 3. a **learned prior** (a small autoregressive network over the latent's columns) trained on
#    the codes of the training clips; encoder, decoder and prior **saved** as three `.keras`
#    files plus a `config.json` (the bundle), **loaded** back into fresh objects and checked to
#    give identical outputs;
# 4. ground truth against reconstruction, by eye and by ear, and a **listening quiz** (which is real?);
# 5. samples from N(0, I) against samples from the **learned prior**, **per label**, at another
#    **temperature**, and **longer** than the training window;
# 6. **interpolations** (between two clips' codes, and in the prior's own latent) and the
#    **latent space**;
# 7. a small **metrics table** with the phase-reconstruction ceiling.
#
# The committed outputs come from a full run on the built-in synthetic instruments
# (`VAE_AUDIO_DATA=synth`).
#
# **Running it.** `VAE_AUDIO_DATA=synth|fsdd|PATH` picks the data (default: FSDD when `data/fsdd`
# or `$FSDD_DIR` holds it, otherwise the built-in synthetic instruments); `VAE_AUDIO_QUICK=1`
# shrinks data, epochs and prior steps to a smoke test (what `tests/test_notebooks.py` runs);
# `VAE_AUDIO_OUTPUTS=DIR` sends the written files to `DIR/samples` instead of `outputs/samples`.
# The first cell prints what it uses.

# %%
from vae_audio import notebook

# data, mode (the data's epochs, the model's batch size), outputs; quiet TensorFlow
settings = notebook.notebook_settings()

import keras
import numpy as np

from vae_audio import (
    bundle,
    display,
    evaluate,
    featurize,
    generate,
    inference,
    models,
    quiz,
    resolve,
    training,
)

# what `vae-audio train` would use: the recipe and the grid's layers derived from the data
run = resolve.resolve_config(data=settings.data, max_clips=settings.max_clips, prior_steps=settings.prior_steps)
features = featurize.build_features(run.dataset, cache_dir=settings.cache_dir, verbose=True)
cfg, names = features.config, list(features.label_names)
options = {k: v for k, v in run.config.model.options.items() if k in ("filters", "strides")}
print(cfg.describe())
print("labels:", ", ".join(names))
print("grid layers:", options, "--", run.reasons["model.options"])

# %% [markdown]
# ## 1. Encoder and decoder, then the VAE
#
# The encoder: stride-2 convolutions (over frequency and time, then frequency only), each
# modulated by the label (FiLM: a per-channel scale and shift), and 1x1 convolutions to the
# latent mean and log-variance. Its output keeps a time axis: one latent *column* per few
# frames, a few numbers per frequency row. The decoder mirrors it with transposed convolutions.
# `None` in the shapes is the number of frames: any length works.

# %%
training.configure_determinism(seed=0)
encoder = models.build_encoder(cfg.shape, num_classes=len(names), **options)  # architecture="grid", the default
decoder = models.build_decoder(cfg.shape, num_classes=len(names), **options)
for m in (encoder, decoder):
    print(f"{m.name}: inputs {[tuple(t.shape) for t in m.inputs]} -> outputs {[tuple(t.shape) for t in m.outputs]}, "
          f"{m.count_params():,} parameters")
rows, _, channels = encoder.outputs[0].shape[1:]
columns = -(-cfg.n_frames // models.time_stride(decoder))
print(f"a {cfg.duration:g} s clip ({cfg.shape[0]} x {cfg.n_frames} values) -> a latent of {rows} rows x {columns} "
      f"columns x {channels} channels = {rows * columns * channels} numbers")

# %% [markdown]
# The `VAE` wraps the two with the sampling step and the loss (negative ELBO). The
# reconstruction term is the `spectral` likelihood: a Gaussian on the normalized dB values with
# its variance set to the current error, plus the spectral convergence of the linear magnitudes
# and the L1 distance of their logs, each with its scale set the same way (no weights to tune).
# The KL weight ramps up over the first 5 epochs.

# %%
train_data = featurize.make_tf_dataset(features, split="train", batch_size=settings.batch_size, seed=0,
                                       with_labels=True)
val_data = featurize.make_tf_dataset(features, split="val", batch_size=settings.batch_size, shuffle=False,
                                     with_labels=True)
vae = models.VAE(encoder, decoder, likelihood="spectral", kl_warmup_steps=5 * len(train_data), seed=0,
                 db_range=(features.normalizer.low_db, features.normalizer.high_db))
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
history = vae.fit(train_data, validation_data=val_data, epochs=settings.epochs, shuffle=False, verbose=0,
                  callbacks=[display.training_progress(settings.epochs)])
display.plot_history(history.history);

# %% [markdown]
# ## 2. A learned prior, then save and load
#
# A latent of thousands of numbers per clip cannot be sampled from N(0, I) (section 4 shows
# what that sounds like). `fit_training_prior` encodes every training clip and trains a second,
# small network on the codes: it reads the latent column by column and predicts a Gaussian for
# the next one from the columns before it and the label (dilated causal convolutions).
# Sampling runs it one column at a time, for as many columns as asked. On the synthetic notes
# it is also conditioned on a clip summary, and a sample's first columns (its attack) are not
# drawn by the network: they are the attack of a training note of the label, chosen at random,
# with noise added (a kernel density), with that note's summary, also noised; the network
# continues from there, as the printed line says.

# %%
prior = training.fit_training_prior(vae, features, run.config.prior, conditional=True, verbose=1)
print(prior.describe())

# %% [markdown]
# `save_model` writes the encoder, the decoder and the prior as separate `.keras` files and, in
# `config.json`, everything else needed to make sound: the preprocessing recipe (spectrogram
# settings, level normalization, the normalizer's dB range), the label names, the prior's
# settings, checksums. `load_model` checks it all and returns fresh objects.

# %%
model_dir = bundle.save_model(vae, settings.models_dir / "improved_vae", recipe=features.recipe,
                              label_names=names, prior=prior,
                              settings={"epochs": settings.epochs, "data": settings.data})
print(model_dir, sorted(p.name for p in model_dir.iterdir()))
model = bundle.load_model(model_dir)
print(model)

# %%
test = features.subset("test")
in_memory = inference.TrainedModel.from_vae(vae, recipe=features.recipe, label_names=names, prior=prior)
z_before, _ = in_memory.encode(test.x, test.labels)
z_after, _ = model.encode(test.x, test.labels)
print("fresh objects:", model.encoder is not vae.encoder and model.decoder is not vae.decoder)
print("encoder outputs identical:", np.array_equal(z_before, z_after))
print("decoder outputs identical:",
      np.array_equal(in_memory.decode(z_before, test.labels), model.decode(z_before, test.labels)))
print("prior samples identical:", np.array_equal(in_memory.sample_latents(2, labels=[0, 1], seed=3)[0],
                                                 model.sample_latents(2, labels=[0, 1], seed=3)[0]))

# %% [markdown]
# ## 3. Ground truth against reconstruction
#
# Two test clips (never seen in training): the original, the *ceiling* (its true spectrogram
# through the same phase reconstruction), and the model's reconstruction.

# %%
picks = [int(np.flatnonzero(test.labels == k)[0]) for k in np.unique(test.labels)[:2]]
rec = generate.reconstruct_audio(model, test.audio[picks], labels=test.labels[picks])
for j, i in enumerate(picks):
    display.compare({f"ground truth ({names[test.labels[i]]})": rec["original"][j],
                     "ceiling": rec["ceiling"][j], "reconstruction": rec["reconstruction"][j]}, cfg)

# %% [markdown]
# **Which is real? A listening quiz.** Eight questions, each a test clip and a clip the model
# made: its reconstruction of that clip (about half of them) or a sample of the learned prior with
# the clip's label; the two clips above are left out. Which side is real is drawn at random. The
# two are cut to the same length and matched in loudness (equal RMS over their active frames), so
# only how they sound can tell them apart. Answer with the buttons, or click the quiz and use the
# keys A and B (N for the next question); after the last answer it shows your score with a 95 %
# interval and whether that beats guessing. The quiz scores itself without showing the answers; in
# Jupyter it runs once the notebook is trusted. `vae-audio quiz --model DIR --out quiz.html`
# writes the same kind of quiz as a page of its own, and `vae-audio quiz-score` pools the answers
# of several listeners.

# %%
heard = np.flatnonzero(features.split == "test")[picks]  # played above with their reconstructions: not asked
listening_quiz = quiz.make_quiz(model, features, pairs=min(8, quiz.max_pairs(features)), seed=7, avoid=heard)
quiz.show_quiz(listening_quiz)

# %% [markdown]
# ## 4. Generation
#
# **Samples from the textbook prior**: z ~ N(0, I), each with a label drawn at random.

# %%
rng = np.random.default_rng(1)
prior_labels = rng.integers(0, len(names), size=4)
x_standard = model.generate(4, labels=prior_labels, seed=1, prior="standard")
y_standard = model.to_audio(x_standard)
titles = [f"N(0, I) {i}: {names[k]}" for i, k in enumerate(prior_labels)]
display.show(display.plot_spectrograms(dict(zip(titles, model.to_db(x_standard))), cfg, ncols=4))
display.players(dict(zip(titles, y_standard)), cfg.sr)

# %% [markdown]
# The decoder only learned to decode codes like its encoder's, whose columns are far from
# independent standard-normal numbers. **Samples from the learned prior** with the same labels
# (`model.generate` uses it by default, at the prior's default temperature):

# %%
x_prior = model.generate(4, labels=prior_labels, seed=1)
y_prior = model.to_audio(x_prior)
titles = [f"learned prior {i}: {names[k]}" for i, k in enumerate(prior_labels)]
display.show(display.plot_spectrograms(dict(zip(titles, model.to_db(x_prior))), cfg, ncols=4))
display.players(dict(zip(titles, y_prior)), cfg.sr)

# %% [markdown]
# **Per label**: one learned-prior sample of every label.

# %%
x_label = model.generate(len(names), labels=np.arange(len(names)), seed=2)
y_label = model.to_audio(x_label)
display.show(display.plot_spectrograms(dict(zip(names, model.to_db(x_label))), cfg, ncols=4))
display.players(dict(zip(names, y_label)), cfg.sr)

# %% [markdown]
# **Temperature** scales the prior's noise: lower is more typical and less varied, 1 is the
# density as learned. One label, one seed, three temperatures:

# %%
temps = {f"{names[0]}, temperature {t}": model.generate(1, labels=[0], seed=4, temperature=t)[0]
         for t in (0.4, prior.default_temperature, 1.0)}
display.show(display.plot_spectrograms({k: model.to_db(v) for k, v in temps.items()}, cfg, ncols=3))
display.players({k: model.to_audio(v[None])[0] for k, v in temps.items()}, cfg.sr)

# %% [markdown]
# **Any length**: the prior generates as many latent columns as asked and the decoder is
# convolutional along time, so a model trained on short windows makes longer clips. What fills
# them is what the training windows held: one note and its release, so on the synthetic notes a
# long sample tends to be a note, a pause and another note.

# %%
long_seconds = 3 * cfg.duration
y_long = generate.generate_audio(model, 1, label=names[-1], seed=5, seconds=long_seconds)
display.show(display.plot_spectrogram(cfg.spectrogram_db(y_long[0]), cfg,
                                      title=f"{names[-1]}, {long_seconds:g} s", figsize=(12, 3)))
display.player(y_long[0], cfg.sr)

# %% [markdown]
# ## 5. Interpolation and the latent space
#
# **Between two clips.** The straight line between the latent codes of two test clips of the
# same class, decoded at 6 points (the ends are the two reconstructions). With a latent laid out
# over time, a point half way mixes two spectrograms column by column: it is a blend, closer to
# a cross-fade than to a third sound.

# %%
same = np.flatnonzero(test.labels == test.labels[picks[0]])
a, b = int(same[0]), int(same[-1])
steps = generate.interpolate(model, test.audio[a], test.audio[b], steps=6, label=int(test.labels[a]))
display.show(display.plot_spectrogram(cfg.spectrogram_db(steps.reshape(-1)), cfg, title="A -> B in 6 steps",
                                      figsize=(12, 3)))
display.players({"A": test.audio[a], "A -> B in 6 steps": steps.reshape(-1), "B": test.audio[b]}, cfg.sr)

# %% [markdown]
# **In the prior's own latent.** The prior turns standard-normal numbers into codes
# deterministically, so those numbers are its latent: 6 points on the great circle between the
# draws of two seeds each decode to a sample of the label. Each sample's start (attack and
# summary) moves on the straight line between the two ends' starts.

# %%
walk = generate.interpolate_prior(model, steps=6, label=int(test.labels[a]), seeds=(11, 12))
display.show(display.plot_spectrogram(cfg.spectrogram_db(walk.reshape(-1)), cfg,
                                      title="prior sample 11 -> prior sample 12 in 6 steps", figsize=(12, 3)))
display.player(walk.reshape(-1), cfg.sr)

# %% [markdown]
# **The latent space**: every clip's code averaged over its time axis (one vector of rows x
# channels per clip), projected to 2-D (PCA), coloured by label. The model is also given the
# label, so the codes do not have to separate the classes.

# %%
z_all, _ = model.encode(features.x, features.labels)
display.plot_latent(z_all, features.labels, names);

# %% [markdown]
# ## 6. How close? Spectral metrics on the test set
#
# `evaluate.evaluate_model` compares the STFT magnitude of every test clip with: the clip's own
# spectrogram through the phase reconstruction (the **ceiling**: phase error only); the model's
# reconstruction through the phase reconstruction (**what you hear**); the model's magnitude with
# the clip's true phase, and the model's magnitude alone (**model error only**). Spectral
# convergence (SC) and log-spectral distance (LSD), medians over the test clips, lower is better.

# %%
results = evaluate.evaluate_model(model, features)
rows = {"ceiling: true spectrogram -> phase": results["ceiling"]["truth_through_phase"],
        "model reconstruction -> phase (what you hear)": results["audio"],
        "model magnitude + true phase": results["ceiling"]["model_with_true_phase"],
        "model magnitude, no phase step": results["reconstruction"]}
display.show_table([{f"{results['n_test']} test clips": name, "SC (dB)": r["sc_db"]["median"],
                     "LSD (dB)": r["lsd_db"]["median"]} for name, r in rows.items()], floatfmt="{:.1f}")

# %% [markdown]
# ## 7. Write the samples
#
# Generated clips and the matching ground truth, as 16-bit WAV files.

# %%
clips = {f"improved_vae_test{j}_ground_truth": rec["original"][j] for j in range(2)}
clips |= {f"improved_vae_test{j}_reconstruction": rec["reconstruction"][j] for j in range(2)}
clips |= {f"improved_vae_prior{i}_{names[k]}": y for i, (k, y) in enumerate(zip(prior_labels, y_prior))}
clips |= {f"improved_vae_standard_normal{i}_{names[k]}": y for i, (k, y) in enumerate(zip(prior_labels, y_standard))}
clips |= {f"improved_vae_label_{name}": y for name, y in zip(names, y_label)}
paths = generate.write_clips(np.stack(list(clips.values())), list(clips), settings.samples_dir, cfg.sr, overwrite=True)
paths += generate.write_clips([steps.reshape(-1), walk.reshape(-1), y_long[0]],
                              ["improved_vae_interpolation", "improved_vae_prior_walk", "improved_vae_long"],
                              settings.samples_dir, cfg.sr, overwrite=True)
print("\n".join(p.name for p in paths))
