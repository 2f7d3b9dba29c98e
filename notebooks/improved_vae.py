# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The convolutional VAE: save, reload, listen, measure
#
# The model the package trains by default, built from its pieces:
#
# 1. a convolutional **encoder** and **decoder**, built separately and composed into a `VAE`,
#    conditional on the label so that we can ask for a given class;
# 2. trained with a progress bar and loss curves;
# 3. **saved** as two `.keras` files plus a `config.json` (the bundle) and the latent prior fitted
#    to the training codes, **loaded** back into fresh objects, and checked to give identical outputs;
# 4. ground truth against reconstruction, by eye and by ear, and a **blind test**;
# 5. samples from N(0, I) against samples from the **fitted latent prior**, **per label**, a
#    **latent interpolation**, and the **latent space**;
# 6. a small **metrics table** with the phase-reconstruction ceiling.
#
# The committed outputs come from a full run on the built-in synthetic instruments
# (`VAE_AUDIO_DATA=synth`, 40 epochs, 4 minutes on a shared 2-core CPU,
# most of it training).
#
# **Running it.** `VAE_AUDIO_DATA=synth|fsdd|PATH` picks the data (default: FSDD when `data/fsdd`
# or `$FSDD_DIR` holds it, otherwise the built-in synthetic instruments); `VAE_AUDIO_QUICK=1`
# shrinks data and epochs to a smoke test (what `tests/test_notebooks.py` runs);
# `VAE_AUDIO_OUTPUTS=DIR` sends the written files to `DIR/samples` instead of `outputs/samples`.
# The first cell prints what it uses.

# %%
from vae_audio import notebook
settings = notebook.notebook_settings(epochs=40)  # data, mode, outputs (and a quiet TensorFlow import)

import numpy as np
import keras
from vae_audio import bundle, datasets, display, evaluate, featurize, generate, models, training

dataset = datasets.load_dataset(settings.data, max_clips=settings.max_clips)
features = featurize.build_features(dataset, cache_dir=settings.cache_dir, verbose=True)
cfg, names = features.config, list(features.label_names)
print(cfg.describe())
print("labels:", ", ".join(names))

# %% [markdown]
# ## 1. Encoder and decoder, then the VAE
#
# The encoder: four stride-2 convolutions, then a dense layer to the latent mean and
# log-variance; the one-hot label joins the flattened features. The decoder mirrors it with
# transposed convolutions and a sigmoid. Each is a plain Keras model with named inputs.

# %%
training.configure_determinism(seed=0)
encoder = models.build_encoder(cfg.shape, architecture="conv", num_classes=len(names))
decoder = models.build_decoder(cfg.shape, architecture="conv", num_classes=len(names))
for m in (encoder, decoder):
    print(f"{m.name}: inputs {[tuple(t.shape) for t in m.inputs]} -> outputs {[tuple(t.shape) for t in m.outputs]}, "
          f"{m.count_params():,} parameters")

# %% [markdown]
# The `VAE` wraps the two with the sampling step and the loss (negative ELBO). The KL weight
# ramps up over the first 5 epochs so the decoder learns to reconstruct before the latent code
# is pulled towards the prior.

# %%
train_data = featurize.make_tf_dataset(features, split="train", batch_size=32, seed=0, with_labels=True)
val_data = featurize.make_tf_dataset(features, split="val", batch_size=32, shuffle=False, with_labels=True)
vae = models.VAE(encoder, decoder, kl_warmup_steps=5 * len(train_data), seed=0)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
history = vae.fit(train_data, validation_data=val_data, epochs=settings.epochs, shuffle=False, verbose=0,
                  callbacks=[display.training_progress(settings.epochs)])
display.plot_history(history.history);

# %% [markdown]
# ## 2. Save and load
#
# `save_model` writes the encoder and the decoder as separate `.keras` files and, in
# `config.json`, everything else needed to make sound: the preprocessing recipe (spectrogram
# settings, level normalization, the normalizer's dB range), the label names, checksums. It also stores `prior.npz`, a Gaussian mixture fitted to
# the latent codes of the training clips, one per label (section 4 shows why). `load_model`
# checks it all and returns fresh objects.

# %%
latent_prior = training.fit_training_prior(vae, features, conditional=True)
print(latent_prior)
model_dir = bundle.save_model(vae, settings.models_dir / "improved_vae", recipe=features.recipe,
                              label_names=names,
                              settings={"epochs": settings.epochs, "data": settings.data}, prior=latent_prior)
print(model_dir, sorted(p.name for p in model_dir.iterdir()))
model = bundle.load_model(model_dir)
print(model)

# %%
test = features.subset("test")
in_memory = bundle.TrainedModel.from_vae(vae, recipe=features.recipe, label_names=names, prior=latent_prior)
z_before, _ = in_memory.encode(test.x, test.labels)
z_after, _ = model.encode(test.x, test.labels)
print("fresh objects:", model.encoder is not vae.encoder and model.decoder is not vae.decoder)
print("encoder outputs identical:", np.array_equal(z_before, z_after))
print("decoder outputs identical:",
      np.array_equal(in_memory.decode(z_before, test.labels), model.decode(z_before, test.labels)))

# %% [markdown]
# ## 3. Ground truth against reconstruction
#
# Two test clips (never seen in training): the original, the *ceiling* (its true spectrogram
# through the same phase reconstruction), and the model's reconstruction.

# %%
picks = [int(np.flatnonzero(test.labels == k)[0]) for k in np.unique(test.labels)[:3]]
rec = generate.reconstruct_audio(model, test.audio[picks], labels=test.labels[picks])
for j, i in enumerate(picks[:2]):
    display.compare({f"ground truth ({names[test.labels[i]]})": rec["original"][j],
                     "ceiling": rec["ceiling"][j], "reconstruction": rec["reconstruction"][j]}, cfg)

# %% [markdown]
# **Blind test.** A third clip: one of A and B is the ground truth, the other the model's
# reconstruction, in random order. Decide before running the next cell.

# %%
blind = display.blind_test(rec["original"][2], rec["reconstruction"][2], cfg.sr,
                           names=("ground truth", "reconstruction"))
blind.play()

# %%
print(blind.answer())

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
# The decoder only learned to decode the codes its encoder makes, and those fill just part of
# the N(0, I) ball (the posterior variances are tiny: the model is confident). Draws that land
# between the training codes decode to vague sounds. **Samples from the fitted prior** instead
# come from the Gaussian mixture of the training codes of the requested label
# (`model.generate` uses it by default; on spoken digits this takes the judge classifier's
# recognition of conditional samples from 15 % to 96 %, see the README):

# %%
x_prior = model.generate(4, labels=prior_labels, seed=1)
y_prior = model.to_audio(x_prior)
titles = [f"fitted prior {i}: {names[k]}" for i, k in enumerate(prior_labels)]
display.show(display.plot_spectrograms(dict(zip(titles, model.to_db(x_prior))), cfg, ncols=4))
display.players(dict(zip(titles, y_prior)), cfg.sr)

# %% [markdown]
# **Per label**: one sample of every label from the fitted prior. (Decoding one and the same z
# with every label changes little: the codes already tell the classes apart, see the latent
# space below, so the decoder leans on z more than on the label. The per-label prior is what
# makes a requested label come out.)

# %%
x_label = model.generate(len(names), labels=np.arange(len(names)), seed=2)
y_label = model.to_audio(x_label)
display.show(display.plot_spectrograms(dict(zip(names, model.to_db(x_label))), cfg, ncols=4))
display.players(dict(zip(names, y_label)), cfg.sr)

# %% [markdown]
# **Interpolation**: the straight line between the latent means of two test clips of the same
# class, decoded at 6 points (the ends are the two reconstructions), played one after another.

# %%
same = np.flatnonzero(test.labels == test.labels[picks[0]])
a, b = int(same[0]), int(same[-1])
steps = generate.interpolate(model, test.audio[a], test.audio[b], steps=6, label=int(test.labels[a]))
display.show(display.plot_spectrogram(cfg.spectrogram_db(steps.reshape(-1)), cfg, title="A -> B in 6 steps",
                                      figsize=(12, 3)))
display.players({"A": test.audio[a], "A -> B in 6 steps": steps.reshape(-1), "B": test.audio[b]}, cfg.sr)

# %% [markdown]
# **The latent space**: every clip's latent mean, projected to 2-D (PCA), coloured by label.
# Clips that sound alike lie close together. The model is also given the label, so z does not
# have to separate the classes: classes that sound alike may overlap.

# %%
z_all, _ = model.encode(features.x, features.labels)
display.plot_latent(z_all, features.labels, names);

# %% [markdown]
# ## 5. How close? Spectral metrics on the test set
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
# ## 6. Write the samples
#
# Generated clips and the matching ground truth, as 16-bit WAV files.

# %%
clips = {f"improved_vae_test{j}_ground_truth": rec["original"][j] for j in range(2)}
clips |= {f"improved_vae_test{j}_reconstruction": rec["reconstruction"][j] for j in range(2)}
clips |= {f"improved_vae_prior{i}_{names[k]}": y for i, (k, y) in enumerate(zip(prior_labels, y_prior))}
clips |= {f"improved_vae_standard_normal{i}_{names[k]}": y for i, (k, y) in enumerate(zip(prior_labels, y_standard))}
clips |= {f"improved_vae_label_{name}": y for name, y in zip(names, y_label)}
paths = generate.write_clips(np.stack(list(clips.values())), list(clips), settings.samples_dir, cfg.sr, overwrite=True)
paths += generate.write_clips(steps.reshape(1, -1), ["improved_vae_interpolation"], settings.samples_dir, cfg.sr,
                              overwrite=True)
print("\n".join(p.name for p in paths))
