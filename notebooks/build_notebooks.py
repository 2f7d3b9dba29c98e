"""Write notebooks/simple_vae.ipynb and notebooks/improved_vae.ipynb from the cell sources below.

The notebooks are generated so that their code is reviewable here (and in diffs) and can be
regenerated after a change; every cell only calls the ``vae_audio`` package. Writing them
clears their outputs; execute them afterwards to fill the outputs in:

    python notebooks/build_notebooks.py                  # write both (no outputs)
    cd /path/to/repo && VAE_AUDIO_DATA=synth python -m jupyter nbconvert --to notebook \\
        --execute --inplace notebooks/simple_vae.ipynb     # and the same for improved_vae.ipynb

``--check`` exits with status 1 if a notebook's cell sources differ from this script's
(outputs are ignored), so CI or a reviewer can tell the committed notebooks are current.
``--markdown-only`` updates only the Markdown cells of the existing notebooks, keeping the code
cells and their outputs (for prose fixes that need no re-run; refused if any code cell differs).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

#: Full-run epochs (quick mode, VAE_AUDIO_QUICK=1, uses 2) and the measured duration of the
#: committed full run on the synthetic data (2 CPU cores); keep these in step with the outputs.
SIMPLE_EPOCHS = 30
IMPROVED_EPOCHS = 40
SIMPLE_MINUTES = "3"
IMPROVED_MINUTES = "4"


def md(*parts: str):
    """A Markdown cell; each part is dedented separately and the parts are joined by blank lines."""
    return new_markdown_cell("\n\n".join(textwrap.dedent(p).strip() for p in parts))


def code(text: str):
    return new_code_cell(textwrap.dedent(text).strip())


RUNNING = """
**Running it.** `VAE_AUDIO_DATA=synth|fsdd|PATH` picks the data (default: FSDD when `data/fsdd`
or `$FSDD_DIR` holds it, otherwise the built-in synthetic instruments); `VAE_AUDIO_QUICK=1`
shrinks data and epochs to a smoke test (what `tests/test_notebooks.py` runs);
`VAE_AUDIO_OUTPUTS=DIR` sends the written files to `DIR/samples` instead of `outputs/samples`.
The first cell prints what it uses.
"""

# ----------------------------------------------------------------------------- simple_vae
SIMPLE = [
    md(f"""
    # A first VAE on audio spectrograms

    The whole pipeline once, with the smallest model that works:

    1. **a tour of the data**: a clip, its spectrogram, and the same clip after
       spectrogram -> phase reconstruction -> audio (the best any spectrogram model can sound);
    2. **preparation** on a real clip: a fixed length, then dB values mapped to [0, 1];
    3. **a small dense VAE**, trained briefly;
    4. **generation**: decode, unnormalize, reconstruct a phase, listen, write `.wav` files;
    5. **the classic mistake**, and what it sounds like.

    Every cell calls the `vae_audio` package; the notebook only strings the steps together.
    The committed outputs come from a full run on the built-in synthetic instruments
    (`VAE_AUDIO_DATA=synth`, {SIMPLE_EPOCHS} epochs, {SIMPLE_MINUTES} minutes on a shared 2-core CPU).
    """, RUNNING),
    code(f"""
    from vae_audio import notebook
    settings = notebook.notebook_settings(epochs={SIMPLE_EPOCHS})  # data, mode, outputs (and a quiet TensorFlow import)

    import numpy as np
    import keras
    import vae_audio as va
    from vae_audio import datasets, display, featurize, generate, metrics, models, phase, training
    """),
    md("""
    ## 1. A tour of the data

    `load_dataset` lists the clips (labels, train/val/test split); `build_features` loads them,
    cuts them to one length, and turns each into a normalized dB spectrogram (cached in `data/cache`).
    """),
    code("""
    dataset = datasets.load_dataset(settings.data, max_clips=settings.max_clips)
    features = featurize.build_features(dataset, cache_dir=settings.cache_dir, verbose=True)
    cfg = features.config
    print(cfg.describe())
    print("labels:", ", ".join(features.label_names) or "none")
    """),
    md("""
    One clip as it comes, before any preparation. (The synthetic notes can be made at any length:
    this one is rendered longer than the model's window.)
    """),
    code("""
    index = int(np.flatnonzero(features.split == "train")[0])
    label = features.label_names[features.labels[index]] if features.label_names else "no label"
    y_raw, sr = notebook.raw_clip(dataset, index)
    print(f"clip {index} (label {label}): {len(y_raw)} samples = {len(y_raw) / sr:.2f} s at {sr} Hz, "
          f"peak {np.abs(y_raw).max():.2f}")
    display.player(y_raw, sr)
    """),
    md("""
    ## 2. Preparation: one length, then [0, 1]

    A model takes inputs of one shape, so every clip is cut or zero-padded to `n_samples`
    (`pad_or_truncate` keeps the start). Here on this clip, and on a short piece of it:
    """),
    code("""
    y = va.pad_or_truncate(y_raw, cfg.n_samples)
    print(f"this clip: {len(y_raw)} -> {len(y)} samples ({cfg.duration:.2f} s): " + (
        f"kept the first {len(y)}, dropped {len(y_raw) - len(y)}" if len(y_raw) > len(y) else "zeros appended"))
    short = y_raw[: cfg.n_samples // 2]
    padded = va.pad_or_truncate(short, cfg.n_samples)
    print(f"a {len(short)}-sample clip: -> {len(padded)} samples; the {len(padded) - len(short)} added samples "
          f"are all zero: {not padded[len(short):].any()}")
    y = featurize.normalize_level(y, dataset.level)  # per-clip loudness (FSDD: peak 0.9; synth: unchanged)
    print(f"level normalization {dataset.level!r}: peak {np.abs(y).max():.2f}")
    """),
    md("""
    Its spectrogram: STFT magnitude in dB (0 dB = a full-scale sinusoid's bin), floored at
    `db_floor`. This is what the model sees and generates.
    """),
    code("""
    s_db = cfg.spectrogram_db(y)
    print(f"spectrogram {s_db.shape} (frequency bins x frames): {s_db.min():.1f} .. {s_db.max():.1f} dB")
    display.plot_spectrogram(s_db, cfg, title="the clip, dB spectrogram");
    """),
    md("""
    **The ceiling.** A spectrogram keeps only magnitudes; the phase is thrown away and has to be
    invented again to get sound back (`phase.db_to_audio`: a phase-gradient estimate refined by
    Fast Griffin-Lim). Listen to both: whatever the second one lacks, no model that generates
    spectrograms can give back.
    """),
    code("""
    y_ceiling = phase.db_to_audio(s_db, cfg)
    true_mag = va.stft_magnitude(y, n_fft=cfg.n_fft, hop_length=cfg.hop_length)
    sc = metrics.spectral_convergence_db(true_mag, y_ceiling, config=cfg)
    print(f"spectral convergence of the round trip: {sc:.1f} dB (lower is better; 0 dB = as far off as silence)")
    display.players({"original": y, "spectrogram -> phase reconstruction (the ceiling)": y_ceiling}, sr)
    """),
    md("""
    **Normalization.** Networks train best on inputs in a small fixed range, so dB values are
    mapped to [0, 1] with one range fitted on the training split (`features.normalizer`). The same
    range turns the decoder's outputs back into dB later, so it is saved with every model.
    """),
    code("""
    norm = features.normalizer
    x = norm.normalize(s_db)
    print(f"normalizer ({norm.mode}), fitted on the training split: {norm.low_db:.1f} dB -> 0, {norm.high_db:.1f} dB -> 1")
    print(f"this clip: {s_db.min():.1f} .. {s_db.max():.1f} dB  ->  {x.min():.3f} .. {x.max():.3f}")
    print(f"unnormalize(normalize(s)) differs from s by at most {np.abs(norm.unnormalize(x) - s_db).max():.1e} dB")
    print(f"the whole dataset: x {features.x.shape}, {features.x.min():.2f} .. {features.x.max():.2f}, "
          f"splits {features.split_counts()}")
    """),
    md("""
    ## 3. A small dense VAE

    The encoder flattens the spectrogram and maps it through two dense layers to the mean and
    log-variance of a small latent vector; the decoder mirrors it and ends in a sigmoid, so its
    output is a normalized spectrogram in [0, 1].
    """),
    code("""
    training.configure_determinism(seed=0)
    encoder = models.build_encoder(cfg.shape, architecture="simple")
    decoder = models.build_decoder(cfg.shape, architecture="simple")
    vae = models.VAE(encoder, decoder, seed=0)
    print(f"encoder {encoder.count_params():,} parameters, decoder {decoder.count_params():,}; "
          f"latent size {vae.latent_dim}; input {cfg.shape}")
    """),
    md("""
    Training minimizes the negative ELBO: a reconstruction term (a Gaussian likelihood whose
    variance is set from the batch's error) plus the KL divergence of the latent code from N(0, I).
    """),
    code("""
    train_data = featurize.make_tf_dataset(features, split="train", batch_size=64, seed=0)
    val_data = featurize.make_tf_dataset(features, split="val", batch_size=64, shuffle=False)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = vae.fit(train_data, validation_data=val_data, epochs=settings.epochs, shuffle=False, verbose=0,
                      callbacks=[display.training_progress(settings.epochs)])
    display.plot_history(history.history);
    """),
    md("""
    ## 4. Generation: decode, unnormalize, reconstruct a phase

    Draw latent vectors from the prior N(0, I) and run the steps by hand. Expect rough sounds:
    a dense layer learns every (frequency, time) position separately; the convolutional model of
    `improved_vae.ipynb` shares its filters across the spectrogram and does better.
    """),
    code("""
    z = models.prior_latents(4, vae.latent_dim, seed=1)
    x_gen = vae.decode(z)                       # (4, freq, frames), normalized, in [0, 1]
    s_gen = norm.unnormalize(x_gen)             # back to dB
    y_gen = phase.db_to_audio(s_gen, cfg)       # invent a phase: (4, n_samples) waveforms
    display.show(display.plot_spectrograms({f"prior sample {i}": s for i, s in enumerate(s_gen)}, cfg, ncols=4))
    display.players({f"prior sample {i}": yi for i, yi in enumerate(y_gen)}, cfg.sr)
    """),
    md("""
    And a reconstruction: a test clip the model never saw, encoded to its latent mean and decoded.
    """),
    code("""
    test = features.subset("test")
    x_rec = vae.reconstruct(test.x[:1])
    y_rec = phase.db_to_audio(norm.unnormalize(x_rec), cfg)[0]
    display.compare({"test clip": test.audio[0], "its reconstruction": y_rec}, cfg)
    """),
    code("""
    names = [f"simple_vae_prior_{i}" for i in range(len(y_gen))] + ["simple_vae_test_original", "simple_vae_test_reconstruction"]
    paths = generate.write_clips(np.concatenate([y_gen, test.audio[:1], y_rec[None]]), names,
                                 settings.samples_dir, cfg.sr, overwrite=True)
    print("\\n".join(p.name for p in paths))
    """),
    md("""
    ## 5. The classic mistake: forgetting to unnormalize

    The decoder speaks in [0, 1], not dB. Read as dB, every value lies within 1 dB of 0 dB,
    i.e. every bin of every frame is near full scale: the quiet background (0, which meant the dB
    floor) becomes the loudest part, the spectrum is flat and the result is a wall of noise.
    (Turn your volume down before playing the second player.)
    """),
    code("""
    wrong = phase.db_to_audio(x_gen[0], cfg)    # skipped norm.unnormalize
    print(f"read as dB the decoder output spans {x_gen[0].min():.2f} .. {x_gen[0].max():.2f} dB; "
          f"the real range is {norm.low_db:.0f} .. {norm.high_db:.0f} dB")
    display.players({"right: unnormalize, then phase": y_gen[0], "wrong: normalized values read as dB": wrong}, cfg.sr)
    """),
]

# ----------------------------------------------------------------------------- improved_vae
IMPROVED = [
    md(f"""
    # The convolutional VAE: save, reload, listen, measure

    The model the package trains by default, built from its pieces:

    1. a convolutional **encoder** and **decoder**, built separately and composed into a `VAE`,
       conditional on the label so that we can ask for a given class;
    2. trained with a progress bar and loss curves;
    3. **saved** as two `.keras` files plus a `config.json` (the bundle) and the latent prior fitted
       to the training codes, **loaded** back into fresh objects, and checked to give identical outputs;
    4. ground truth against reconstruction, by eye and by ear, and a **blind test**;
    5. samples from N(0, I) against samples from the **fitted latent prior**, **per label**, a
       **latent interpolation**, and the **latent space**;
    6. a small **metrics table** with the phase-reconstruction ceiling.

    The committed outputs come from a full run on the built-in synthetic instruments
    (`VAE_AUDIO_DATA=synth`, {IMPROVED_EPOCHS} epochs, {IMPROVED_MINUTES} minutes on a shared 2-core CPU,
    most of it training).
    """, RUNNING),
    code(f"""
    from vae_audio import notebook
    settings = notebook.notebook_settings(epochs={IMPROVED_EPOCHS})  # data, mode, outputs (and a quiet TensorFlow import)

    import numpy as np
    import keras
    from vae_audio import bundle, datasets, display, evaluate, featurize, generate, models, training

    dataset = datasets.load_dataset(settings.data, max_clips=settings.max_clips)
    features = featurize.build_features(dataset, cache_dir=settings.cache_dir, verbose=True)
    cfg, names = features.config, list(features.label_names)
    print(cfg.describe())
    print("labels:", ", ".join(names))
    """),
    md("""
    ## 1. Encoder and decoder, then the VAE

    The encoder: four stride-2 convolutions, then a dense layer to the latent mean and
    log-variance; the one-hot label joins the flattened features. The decoder mirrors it with
    transposed convolutions and a sigmoid. Each is a plain Keras model with named inputs.
    """),
    code("""
    training.configure_determinism(seed=0)
    encoder = models.build_encoder(cfg.shape, architecture="conv", num_classes=len(names))
    decoder = models.build_decoder(cfg.shape, architecture="conv", num_classes=len(names))
    for m in (encoder, decoder):
        print(f"{m.name}: inputs {[tuple(t.shape) for t in m.inputs]} -> outputs {[tuple(t.shape) for t in m.outputs]}, "
              f"{m.count_params():,} parameters")
    """),
    md("""
    The `VAE` wraps the two with the sampling step and the loss (negative ELBO). The KL weight
    ramps up over the first 5 epochs so the decoder learns to reconstruct before the latent code
    is pulled towards the prior.
    """),
    code("""
    train_data = featurize.make_tf_dataset(features, split="train", batch_size=32, seed=0, with_labels=True)
    val_data = featurize.make_tf_dataset(features, split="val", batch_size=32, shuffle=False, with_labels=True)
    vae = models.VAE(encoder, decoder, kl_warmup_steps=5 * len(train_data), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = vae.fit(train_data, validation_data=val_data, epochs=settings.epochs, shuffle=False, verbose=0,
                      callbacks=[display.training_progress(settings.epochs)])
    display.plot_history(history.history);
    """),
    md("""
    ## 2. Save and load

    `save_model` writes the encoder and the decoder as separate `.keras` files and, in
    `config.json`, everything else needed to make sound: the spectrogram settings, the normalizer's
    dB range, the label names, checksums. It also stores `prior.npz`, a Gaussian mixture fitted to
    the latent codes of the training clips, one per label (section 4 shows why). `load_model`
    checks it all and returns fresh objects.
    """),
    code("""
    latent_prior = training.fit_training_prior(vae, features, conditional=True)
    print(latent_prior)
    model_dir = bundle.save_model(vae, settings.models_dir / "improved_vae", config=cfg,
                                  normalizer=features.normalizer, label_names=names,
                                  settings={"epochs": settings.epochs, "data": settings.data}, prior=latent_prior)
    print(model_dir, sorted(p.name for p in model_dir.iterdir()))
    model = bundle.load_model(model_dir)
    print(model)
    """),
    code("""
    test = features.subset("test")
    z_before, _ = vae.encode(test.x, test.labels)
    z_after, _ = model.encode(test.x, test.labels)
    print("fresh objects:", model.encoder is not vae.encoder and model.decoder is not vae.decoder)
    print("encoder outputs identical:", np.array_equal(z_before, z_after))
    print("decoder outputs identical:", np.array_equal(vae.decode(z_before, test.labels), model.decode(z_before, test.labels)))
    """),
    md("""
    ## 3. Ground truth against reconstruction

    Two test clips (never seen in training): the original, the *ceiling* (its true spectrogram
    through the same phase reconstruction), and the model's reconstruction.
    """),
    code("""
    picks = [int(np.flatnonzero(test.labels == k)[0]) for k in np.unique(test.labels)[:3]]
    rec = generate.reconstruct_audio(model, test.audio[picks], labels=test.labels[picks])
    for j, i in enumerate(picks[:2]):
        display.compare({f"ground truth ({names[test.labels[i]]})": rec["original"][j],
                         "ceiling": rec["ceiling"][j], "reconstruction": rec["reconstruction"][j]}, cfg)
    """),
    md("""
    **Blind test.** A third clip: one of A and B is the ground truth, the other the model's
    reconstruction, in random order. Decide before running the next cell.
    """),
    code("""
    blind = display.blind_test(rec["original"][2], rec["reconstruction"][2], cfg.sr,
                               names=("ground truth", "reconstruction"))
    blind.play()
    """),
    code("""
    print(blind.answer())
    """),
    md("""
    ## 4. Generation

    **Samples from the textbook prior**: z ~ N(0, I), each with a label drawn at random.
    """),
    code("""
    rng = np.random.default_rng(1)
    prior_labels = rng.integers(0, len(names), size=4)
    x_standard = model.generate(4, labels=prior_labels, seed=1, prior="standard")
    y_standard = model.to_audio(x_standard)
    titles = [f"N(0, I) {i}: {names[k]}" for i, k in enumerate(prior_labels)]
    display.show(display.plot_spectrograms(dict(zip(titles, model.to_db(x_standard))), cfg, ncols=4))
    display.players(dict(zip(titles, y_standard)), cfg.sr)
    """),
    md("""
    The decoder only learned to decode the codes its encoder makes, and those fill just part of
    the N(0, I) ball (the posterior variances are tiny: the model is confident). Draws that land
    between the training codes decode to vague sounds. **Samples from the fitted prior** instead
    come from the Gaussian mixture of the training codes of the requested label
    (`model.generate` uses it by default; on spoken digits this takes the judge classifier's
    recognition of conditional samples from 15 % to 96 %, see the README):
    """),
    code("""
    x_prior = model.generate(4, labels=prior_labels, seed=1)
    y_prior = model.to_audio(x_prior)
    titles = [f"fitted prior {i}: {names[k]}" for i, k in enumerate(prior_labels)]
    display.show(display.plot_spectrograms(dict(zip(titles, model.to_db(x_prior))), cfg, ncols=4))
    display.players(dict(zip(titles, y_prior)), cfg.sr)
    """),
    md("""
    **Per label**: one sample of every label from the fitted prior. (Decoding one and the same z
    with every label changes little: the codes already tell the classes apart, see the latent
    space below, so the decoder leans on z more than on the label. The per-label prior is what
    makes a requested label come out.)
    """),
    code("""
    x_label = model.generate(len(names), labels=np.arange(len(names)), seed=2)
    y_label = model.to_audio(x_label)
    display.show(display.plot_spectrograms(dict(zip(names, model.to_db(x_label))), cfg, ncols=4))
    display.players(dict(zip(names, y_label)), cfg.sr)
    """),
    md("""
    **Interpolation**: the straight line between the latent means of two test clips of the same
    class, decoded at 6 points (the ends are the two reconstructions), played one after another.
    """),
    code("""
    same = np.flatnonzero(test.labels == test.labels[picks[0]])
    a, b = int(same[0]), int(same[-1])
    steps = generate.interpolate(model, test.audio[a], test.audio[b], steps=6, label=int(test.labels[a]))
    display.show(display.plot_spectrogram(cfg.spectrogram_db(steps.reshape(-1)), cfg, title="A -> B in 6 steps",
                                          figsize=(12, 3)))
    display.players({"A": test.audio[a], "A -> B in 6 steps": steps.reshape(-1), "B": test.audio[b]}, cfg.sr)
    """),
    md("""
    **The latent space**: every clip's latent mean, projected to 2-D (PCA), coloured by label.
    Clips that sound alike lie close together. The model is also given the label, so z does not
    have to separate the classes: classes that sound alike may overlap.
    """),
    code("""
    z_all, _ = model.encode(features.x, features.labels)
    display.plot_latent(z_all, features.labels, names);
    """),
    md("""
    ## 5. How close? Spectral metrics on the test set

    `evaluate.evaluate_model` compares the STFT magnitude of every test clip with: the clip's own
    spectrogram through the phase reconstruction (the **ceiling**: phase error only); the model's
    reconstruction through the phase reconstruction (**what you hear**); the model's magnitude with
    the clip's true phase, and the model's magnitude alone (**model error only**). Spectral
    convergence (SC) and log-spectral distance (LSD), medians over the test clips, lower is better.
    """),
    code("""
    results = evaluate.evaluate_model(model, features)
    rows = {"ceiling: true spectrogram -> phase": results["ceiling"]["truth_through_phase"],
            "model reconstruction -> phase (what you hear)": results["audio"],
            "model magnitude + true phase": results["ceiling"]["model_with_true_phase"],
            "model magnitude, no phase step": results["reconstruction"]}
    display.show_table([{f"{results['n_test']} test clips": name, "SC (dB)": r["sc_db"]["median"],
                         "LSD (dB)": r["lsd_db"]["median"]} for name, r in rows.items()], floatfmt="{:.1f}")
    """),
    md("""
    ## 6. Write the samples

    Generated clips and the matching ground truth, as 16-bit WAV files.
    """),
    code("""
    clips = {f"improved_vae_test{j}_ground_truth": rec["original"][j] for j in range(2)}
    clips |= {f"improved_vae_test{j}_reconstruction": rec["reconstruction"][j] for j in range(2)}
    clips |= {f"improved_vae_prior{i}_{names[k]}": y for i, (k, y) in enumerate(zip(prior_labels, y_prior))}
    clips |= {f"improved_vae_standard_normal{i}_{names[k]}": y for i, (k, y) in enumerate(zip(prior_labels, y_standard))}
    clips |= {f"improved_vae_label_{name}": y for name, y in zip(names, y_label)}
    paths = generate.write_clips(np.stack(list(clips.values())), list(clips), settings.samples_dir, cfg.sr, overwrite=True)
    paths += generate.write_clips(steps.reshape(1, -1), ["improved_vae_interpolation"], settings.samples_dir, cfg.sr,
                                  overwrite=True)
    print("\\n".join(p.name for p in paths))
    """),
]


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nb


NOTEBOOKS = {"simple_vae.ipynb": SIMPLE, "improved_vae.ipynb": IMPROVED}


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the notebooks match this script")
    parser.add_argument("--markdown-only", action="store_true",
                        help="update only the Markdown cells, keeping code cells and outputs")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the notebooks to")
    args = parser.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOKS.items():
        nb = build(cells)
        path = args.out / name
        if args.check:
            if not path.is_file() or _sources(nbformat.read(path, as_version=4)) != _sources(nb):
                stale.append(name)
            continue
        if args.markdown_only:
            old = nbformat.read(path, as_version=4)
            code_old = [c.source for c in old.cells if c.cell_type == "code"]
            code_new = [c.source for c in nb.cells if c.cell_type == "code"]
            if [c.cell_type for c in old.cells] != [c.cell_type for c in nb.cells] or code_old != code_new:
                print(f"{path}: code cells changed; rebuild and re-execute it instead")
                return 1
            for cell, new_cell in zip(old.cells, nb.cells):
                if cell.cell_type == "markdown":
                    cell.source = new_cell.source
            nb = old
        nbformat.write(nb, path)
        print(f"wrote {path}")
    if stale:
        print(f"out of date (run python notebooks/build_notebooks.py and re-execute): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
