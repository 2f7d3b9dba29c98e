"""The learned priors over grid latents (:mod:`vae_audio.modeling.grid_prior`): fitting, sampling at any
length, determinism, storage in the bundle, and what a long sample sounds like."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from vae_audio import bundle, cli, generate, models  # noqa: E402
from vae_audio.config import PriorConfig  # noqa: E402
from vae_audio.data.synth import FAMILIES  # noqa: E402
from vae_audio.errors import BundleError, ConfigError, ParameterError  # noqa: E402
from vae_audio.modeling.grid_prior import GridPrior, codes_to_sequences, sequences_to_codes  # noqa: E402

from helpers import GRID_CFG as CFG  # noqa: E402
from helpers import GRID_RECIPE as RECIPE  # noqa: E402
from helpers import GRID_SMALL as SMALL  # noqa: E402
from helpers import harmonic, toy  # noqa: E402

TINY = dict(width=16, dilations=(1, 2), batch_size=8)


def fit(z, lv, labels=None, *, num_classes=None, seed=0, **settings) -> GridPrior:
    """:meth:`GridPrior.fit` with the settings of its :class:`PriorConfig` as keywords (no onset unless asked)."""
    settings.setdefault("onset_columns", 0)
    return GridPrior.fit(z, lv, labels, PriorConfig(**settings), num_classes=num_classes, seed=seed)


def codes(n: int = 24, frames: int = 6, seed: int = 0):
    """Two classes of codes ``(n, 3, frames, 2)``: class 0 around -1, class 1 around +1."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.int32)
    z = rng.normal(0.0, 0.1, (n, 3, frames, 2)).astype(np.float32) + (2.0 * labels - 1.0)[:, None, None, None]
    return z, np.full_like(z, -4.0), labels


def test_sequence_layout_round_trips():
    z = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    seq = codes_to_sequences(z)
    assert seq.shape == (2, 4, 15)
    np.testing.assert_array_equal(seq[1, 2], z[1, :, 2, :].ravel())  # one vector per latent column
    np.testing.assert_array_equal(sequences_to_codes(seq, 3), z)


@pytest.mark.parametrize("kind", ["diffusion", "autoregressive"])
def test_prior_learns_the_classes_samples_any_length_and_is_deterministic(kind):
    z, lv, labels = codes()
    prior = fit(z, lv, labels, num_classes=2, kind=kind, steps=1000, learning_rate=3e-3, **TINY)
    assert prior.steps_trained == 1000 and prior.conditional and prior.dim == 6
    for frames in (6, 1, 17):
        out = prior.sample(40, np.array([0, 1] * 20), frames=frames, seed=3)
        assert out.shape == (40, 3, frames, 2) and out.dtype == np.float32 and np.all(np.isfinite(out))
    out = prior.sample(40, np.array([0, 1] * 20), frames=6, seed=3, guidance=1.0)
    means = out.mean(axis=(1, 2, 3))
    # the requested class decides the side: class 0 codes sit near -1, class 1 near +1
    assert np.mean(means[0::2] < 0) >= 0.9 and np.mean(means[1::2] > 0) >= 0.9, means
    assert abs(np.median(means[1::2]) - 1.0) < 0.5 and abs(np.median(means[0::2]) + 1.0) < 0.5
    np.testing.assert_array_equal(out, prior.sample(40, np.array([0, 1] * 20), frames=6, seed=3, guidance=1.0))
    assert not np.array_equal(out, prior.sample(40, np.array([0, 1] * 20), frames=6, seed=4, guidance=1.0))
    cold = prior.sample(40, np.array([0, 1] * 20), frames=6, seed=3, temperature=0.0, guidance=1.0)
    assert cold.std(axis=0).mean() < out.std(axis=0).mean()  # temperature 0: less variety
    # classifier-free guidance: conditional diffusion priors only (trained with 10 % "no label")
    assert prior.guidable == (kind == "diffusion") and prior.label_dropout == (0.1 if kind == "diffusion" else 0.0)
    if kind == "autoregressive":
        with pytest.raises(ParameterError, match="guidance=2.0: only a conditional diffusion prior"):
            prior.sample(2, np.array([0, 1]), frames=6, guidance=2.0)


@pytest.mark.parametrize("summary_dim, onset", [(0, 0), (2, 0), (2, 3), (0, 2)])
def test_autoregressive_sampling_with_cached_activations_matches_the_whole_network(summary_dim, onset):
    """Sampling keeps each causal convolution's recent inputs instead of re-running the network
    over the context: the drawn sequence must be exactly what the whole network, run over that
    sequence with teacher forcing, predicts for every frame (longer than the receptive field);
    with an onset, the first frames are the drawn start's columns instead."""
    from vae_audio.modeling.grid_prior import _MIN_LOG_SIGMA

    z, lv, labels = codes()
    prior = fit(z, lv, labels, num_classes=2, kind="autoregressive", steps=2, summary_dim=summary_dim,
                          width=16, dilations=(1, 2, 4), batch_size=8, onset_columns=onset)
    assert (prior.onset_columns, prior.onset_dim) == (onset, onset * prior.dim)
    rng = np.random.default_rng(0)
    for w in prior.network.weights:  # trained weights are near their (partly zero) initial values
        w.assign(rng.normal(0.0, 0.3, w.shape).astype(np.float32))
    n, frames, temperature = 5, 20, 0.8  # receptive field 1 + 2 * 7 = 15 frames
    asked = np.array([0, 1, 0, 1, 1])
    noise = rng.standard_normal((n, frames, prior.dim)).astype(np.float32)
    summaries = prior.sample_summaries(n, asked, seed=1) if summary_dim or onset else None
    seq = codes_to_sequences(prior.sample(n, asked, frames=frames, noise=noise, summaries=summaries,
                                          temperature=temperature))
    seq = (seq - prior.mean) / prior.std
    shifted = np.concatenate([np.zeros_like(seq[:, :1]), seq[:, :-1]], axis=1)

    inputs = {"z": shifted, "label": asked}
    if summary_dim:
        inputs["summary"] = summaries[:, prior.onset_dim:]
    params = np.asarray(prior.network(inputs, training=False))
    mu, log_sigma = params[..., :prior.dim], params[..., prior.dim:]
    sigma = np.exp(_MIN_LOG_SIGMA + np.logaddexp(0.0, log_sigma - _MIN_LOG_SIGMA))
    expected = mu + temperature * sigma * noise
    if onset:
        expected[:, :onset] = summaries[:, :prior.onset_dim].reshape(n, onset, prior.dim)
    np.testing.assert_allclose(seq, expected, rtol=1e-3, atol=1e-3)
    assert np.abs(seq).mean() > 0.1  # a non-trivial network


def test_prior_refuses_bad_arguments():
    z, lv, labels = codes(4)
    with pytest.raises(ConfigError, match="kind='gan'"):
        fit(z, lv, labels, kind="gan", steps=1)
    with pytest.raises(ConfigError, match="steps=0"):
        fit(z, lv, labels, steps=0)
    with pytest.raises(ParameterError, match=r"\(n, F', T', C\)"):
        fit(z[:, 0], lv[:, 0], labels, steps=1)
    with pytest.raises(ParameterError, match="labels"):
        fit(z, lv, labels + 5, num_classes=2, steps=1)
    with pytest.raises(ConfigError, match="width=0"):
        fit(z, lv, labels, steps=1, width=0)
    with pytest.raises(ConfigError, match="learning_rate=2"):
        fit(z, lv, labels, steps=1, learning_rate=2)
    for bad in (0, -0.5, float("nan"), True):
        with pytest.raises(ConfigError, match="temperature="):
            fit(z, lv, labels, steps=1, temperature=bad)


def test_a_prior_keeps_the_sampling_temperature_chosen_at_training(grid_with_prior, tmp_path):
    import shutil

    loaded, _ = grid_with_prior
    z, lv, labels = codes(8)
    warm = fit(z, lv, labels, num_classes=2, steps=1, temperature=0.6, **TINY)
    assert warm.default_temperature == 0.6 and warm.to_dict()["temperature"] == 0.6
    assert warm.describe() == "learned autoregressive prior (1 steps, sampled at temperature 0.6)"
    path = tmp_path / "p.keras"
    warm.save(path)
    again = GridPrior.load(path, warm.to_dict())
    assert again.default_temperature == 0.6
    np.testing.assert_array_equal(again.sample(2, labels[:2], frames=3, seed=1),
                                  again.sample(2, labels[:2], frames=3, seed=1, temperature=0.6))
    assert not np.array_equal(again.sample(2, labels[:2], frames=3, seed=1),
                              again.sample(2, labels[:2], frames=3, seed=1, temperature=1.0))
    # a bundle saved before the key existed samples at the family's default; a bad value is refused
    old = tmp_path / "old"
    shutil.copytree(loaded.directory, old)
    cfg = json.loads((old / bundle.CONFIG_FILE).read_text())
    assert cfg["latent_prior"].pop("temperature") == 0.7  # a fitted prior saves the temperature it samples at
    (old / bundle.CONFIG_FILE).write_text(json.dumps(cfg))
    assert bundle.load_model(old).prior.default_temperature == 0.7
    cfg["latent_prior"]["temperature"] = -1
    (old / bundle.CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="temperature=-1"):
        bundle.load_model(old)


@pytest.fixture(scope="module")
def grid_with_prior(tmp_path_factory):
    """A small conditional grid model on sustained harmonic tones, with its (default, autoregressive)
    prior, saved and reloaded."""
    keras.utils.set_random_seed(0)
    x, labels = toy(48)
    kw = dict(architecture="grid", latent_dim=4, num_classes=2, **SMALL)
    vae = models.VAE(models.build_encoder(CFG.shape, **kw), models.build_decoder(CFG.shape, **kw), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    vae.fit(tf.data.Dataset.from_tensor_slices({"spectrogram": x[..., None], "label": labels}).batch(8),
            epochs=15, verbose=0)
    from vae_audio.modeling.inference import TrainedModel

    trained = TrainedModel.from_vae(vae, recipe=RECIPE, label_names=["low", "high"])
    z_mean, z_log_var = trained.encode(x, labels)
    trained.prior = fit(z_mean, z_log_var, labels, num_classes=2, steps=400,
                                  learning_rate=3e-3, width=32, dilations=(1, 2, 4), batch_size=16)
    path = bundle.save_model(vae, tmp_path_factory.mktemp("gp") / "m", recipe=RECIPE, label_names=["low", "high"],
                             prior=trained.prior)
    return bundle.load_model(path), trained


def test_bundle_stores_the_prior_and_samples_the_same_bytes(grid_with_prior):
    loaded, trained = grid_with_prior
    assert isinstance(loaded.prior, GridPrior) and loaded.prior.kind == "autoregressive"
    info = loaded.info
    assert info["latent_prior"]["file"] == bundle.GRID_PRIOR_FILE and info["latent_prior"]["version"] == 1
    assert bundle.GRID_PRIOR_FILE in info["files"] and len(info["files"][bundle.GRID_PRIOR_FILE]["sha256"]) == 64
    a = loaded.generate(3, labels="high", seed=5)
    np.testing.assert_array_equal(a, trained.generate(3, labels="high", seed=5))
    np.testing.assert_array_equal(a, loaded.generate(3, labels="high", seed=5))
    assert not np.array_equal(a, loaded.generate(3, labels="high", seed=6))
    assert "learned autoregressive prior (400 steps, sampled at temperature 0.7)" == loaded.prior.describe()
    assert loaded.prior.default_temperature == 0.7
    np.testing.assert_array_equal(a, loaded.generate(3, labels="high", seed=5, temperature=0.7))
    with pytest.raises(ParameterError, match="guidance"):
        loaded.generate(1, guidance=2.0)  # only a conditional diffusion prior is guided


def test_a_tampered_or_missing_prior_file_is_refused(grid_with_prior, tmp_path):
    import shutil

    src = grid_with_prior[0].directory
    tampered = tmp_path / "tampered"
    shutil.copytree(src, tampered)
    with open(tampered / bundle.GRID_PRIOR_FILE, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(BundleError, match="prior.keras: corrupt"):
        bundle.load_model(tampered)
    missing = tmp_path / "missing"
    shutil.copytree(src, missing)
    (missing / bundle.GRID_PRIOR_FILE).unlink()
    with pytest.raises(BundleError, match="prior.keras: missing"):
        bundle.load_model(missing)
    wrong = tmp_path / "wrong"
    shutil.copytree(src, wrong)
    cfg = json.loads((wrong / bundle.CONFIG_FILE).read_text())
    cfg["latent_prior"]["version"] = 99
    (wrong / bundle.CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="prior format version 99"):
        bundle.load_model(wrong)


def test_the_model_refuses_a_prior_of_the_wrong_kind(grid_with_prior):
    from vae_audio.modeling.latent_prior import LatentPrior

    loaded, _ = grid_with_prior
    mixture = LatentPrior(np.ones(1), np.zeros((1, 4)), np.eye(4)[None])
    with pytest.raises(ParameterError, match="expected a GridPrior"):
        loaded.prior = mixture
    z, lv, labels = codes()
    other = fit(z, lv, labels, num_classes=2, steps=1, **TINY)  # 3 x 2 latent, the model's is 9 x 4
    with pytest.raises(ParameterError, match="do not match"):
        loaded.prior = other


def _flux(audio: np.ndarray) -> np.ndarray:
    """Per-frame spectral flux: mean |change of log magnitude| (dB) between consecutive frames."""
    s_db = CFG.spectrogram_db(audio)
    return np.mean(np.abs(np.diff(s_db, axis=-1)), axis=0)


def test_a_long_sample_stays_audible_and_has_no_seams(grid_with_prior, tmp_path):
    model, _ = grid_with_prior
    seconds = 4 * CFG.duration  # four training windows
    audio = generate.generate_audio(model, 2, label="low", seed=0, seconds=seconds)
    assert abs(audio.shape[1] - seconds * CFG.sr) <= CFG.hop_length
    # a sustained tone stays audible for the whole clip: every eighth has at least a fifth of the loudest's RMS
    for y in audio:
        eighths = np.sqrt(np.mean(y[: len(y) // 8 * 8].reshape(8, -1) ** 2, axis=1))
        assert eighths.min() > 0.2 * eighths.max(), eighths
    # no seam where one training window would end: the flux there is within what real tones show
    real = np.concatenate([harmonic(150.0 * (1 + 0.05 * k), CFG.duration) for k in range(4)])  # real joins
    real_flux = _flux(real)
    window = CFG.n_frames - 1
    for y in audio:
        flux = _flux(y)
        edges = [k * window for k in range(1, 4) if k * window < len(flux)]
        assert np.max(flux[edges]) <= max(np.percentile(real_flux, 99), np.percentile(flux, 99)), (flux[edges],)
    paths = generate.generate_to_files(model, tmp_path / "long", n=1, label="high", seconds=seconds)
    assert abs(sf.info(paths[0]).frames - seconds * CFG.sr) <= CFG.hop_length


def test_cli_generate_with_temperature_is_seeded(grid_with_prior, tmp_path, capsys):
    model, _ = grid_with_prior
    out = tmp_path / "cli"
    args = ["generate", "--model", str(model.directory), "--label", "low", "--n", "2", "--out", str(out)]
    assert cli.main(args + ["--temperature", "0.5", "--seed", "2"]) == 0
    first = (out / "low_000.wav").read_bytes()
    assert cli.main(args + ["--temperature", "0.5", "--seed", "2", "--overwrite"]) == 0
    assert (out / "low_000.wav").read_bytes() == first  # same seed, same bytes
    assert cli.main(args + ["--temperature", "1.0", "--seed", "2", "--overwrite"]) == 0
    assert (out / "low_000.wav").read_bytes() != first
    # --phase fast: the same samples through the cheaper phase setting: other bytes, the same sound
    assert cli.main(args + ["--temperature", "0.5", "--seed", "2", "--overwrite", "--phase", "fast"]) == 0
    fast = (out / "low_000.wav").read_bytes()
    assert fast != first and len(fast) == len(first)
    # ... and nearly as close to the model's magnitudes as the default (here -20.3 vs -23.7 dB SC)
    from vae_audio.dsp.features import db_to_magnitude
    from vae_audio.dsp.metrics import spectral_convergence_db
    from vae_audio.dsp.phase import PHASE_SETTINGS

    labels = np.zeros(2, np.int32)
    spec = model.generate(2, labels=labels, seed=2, temperature=0.5)
    target = db_to_magnitude(model.to_db(spec), model.config)
    sc = {name: np.median(spectral_convergence_db(target, model.to_audio(spec, **kw), config=model.config))
          for name, kw in PHASE_SETTINGS.items()}
    assert sc["fast"] < sc["quality"] + 5.0 and sc["fast"] < -15.0, sc
    with pytest.raises(SystemExit):
        cli.main(args + ["--phase", "instant"])
    assert "--phase" in capsys.readouterr().err
    assert cli.main(args + ["--guidance", "2", "--overwrite"]) == 2  # an autoregressive prior has no guidance
    assert "guidance" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(args + ["--guidance", "-1"])
    assert "--guidance" in capsys.readouterr().err


def test_training_settings_refuse_an_unknown_prior():
    from vae_audio.config import RunConfig

    with pytest.raises(ConfigError, match="prior.kind='gan'"):
        RunConfig.of(prior_model="gan")
    with pytest.raises(ConfigError, match="prior.steps=0"):
        RunConfig.of(prior_steps=0)


def test_train_fits_the_prior_into_the_bundle_and_none_leaves_it_out(tmp_path, capsys):
    # the defaults: the grid model, conditional on the labels, the spectral likelihood, the dataset's grid options
    small = ["train", "--max-clips", "24", "--epochs", "1", "--sr", "8000",
             "--duration", "0.5", "--n-fft", "256", "--hop-length", "128", "--n-samples", "0", "--quiet",
             "--set", "prior.width=16", "--set", "prior.dilations=[1, 2]", "--no-texture"]  # a small network
    assert cli.main(small + ["--prior-steps", "3", "--out", str(tmp_path / "ar")]) == 0
    model = bundle.load_model(tmp_path / "ar" / "model")
    info = model.info
    assert info["model"]["architecture"] == "grid" and list(model.label_names) == list(FAMILIES)
    assert info["vae"]["likelihood"] == "spectral"
    assert info["model"]["options"] == {"filters": [32, 64], "strides": [[2, 2], [2, 2]], "res_blocks": 0,
                                        "activation": "relu", "output": "snap"}  # every option, resolved
    assert model.latent_shape() == (33, 8, 8)  # 129 bins / 4 rows (vae_audio.data.rules), 32 frames / 4, 8 channels
    assert info["config"]["model"]["conditional"] is True
    assert isinstance(model.prior, GridPrior) and model.prior.kind == "autoregressive"
    assert model.prior.steps_trained == 3 and (tmp_path / "ar" / "model" / bundle.GRID_PRIOR_FILE).is_file()
    assert model.info["training"]["prior_seconds"] > 0
    # the synth defaults (clip summary, onset) are the autoregressive family's: a diffusion prior trains without them
    assert cli.main(small + ["--prior-model", "diffusion", "--prior-steps", "2", "--out", str(tmp_path / "diff")]) == 0
    diffusion = bundle.load_model(tmp_path / "diff" / "model").prior
    assert diffusion.kind == "diffusion" and diffusion.summary is None and diffusion.default_temperature == 1.0
    assert cli.main(small + ["--prior-model", "none", "--out", str(tmp_path / "none")]) == 0
    bare = bundle.load_model(tmp_path / "none" / "model")
    assert bare.prior is None and not (tmp_path / "none" / "model" / bundle.GRID_PRIOR_FILE).exists()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(small + ["--prior-model", "gan", "--out", str(tmp_path / "x")])
    assert "--prior-model" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_interpolation_works_on_the_grid_latent(grid_with_prior):
    model, _ = grid_with_prior
    a, b = harmonic(150.0, CFG.duration), harmonic(450.0, CFG.duration)
    path = generate.interpolate(model, a, b, steps=4, label="low")
    assert path.shape == (4, CFG.n_samples) and np.all(np.isfinite(path))
    ends = generate.reconstruct_audio(model, np.stack([a, b]), labels=[0, 0])["reconstruction"]
    for got, want in zip(path[[0, -1]], ends):  # the ends are the two reconstructions (up to the level)
        assert np.corrcoef(got, want)[0, 1] > 0.999
    assert np.corrcoef(path[1], ends[0])[0, 1] < 0.999  # and the middle is neither


def test_slerp_keeps_the_norm_of_two_draws_and_ends_on_them():
    from vae_audio.modeling.grid_prior import prior_noise, slerp

    a, b = prior_noise(2, 50, 40, seed=1)
    path = slerp(a, b, 5)
    assert path.shape == (5, 50, 40)
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    norms = np.linalg.norm(path.reshape(5, -1), axis=1)
    assert norms.min() > 0.97 * min(np.linalg.norm(a), np.linalg.norm(b))  # a straight line dips to 0.71x
    straight = 0.5 * (a + b)
    assert np.linalg.norm(straight) < 0.8 * np.linalg.norm(a)


def test_interpolation_in_the_priors_latent_ends_on_its_samples(grid_with_prior):
    model, _ = grid_with_prior
    walk = generate.interpolate_prior(model, steps=5, label="high", seeds=(3, 4))
    assert walk.shape == (5, CFG.n_samples) and np.all(np.isfinite(walk))
    for got, seed in ((walk[0], 3), (walk[-1], 4)):  # the ends are the prior's own samples of those seeds
        want = generate.generate_audio(model, 1, label="high", seed=seed)[0]
        # (the same code; only float rounding differs: 5 clips go through the phase step as one batch)
        assert np.corrcoef(got, want)[0, 1] > 0.9999 and np.max(np.abs(got - want)) < 5e-3
    # neighbours along the path are closer to each other than the two ends are
    spec = np.stack([CFG.spectrogram_db(y) for y in walk])
    step = np.mean(np.abs(np.diff(spec, axis=0)), axis=(1, 2))
    assert step.max() < np.mean(np.abs(spec[-1] - spec[0])), step
    with pytest.raises(ParameterError, match="steps=1"):
        generate.interpolate_prior(model, steps=1)


def test_interpolation_in_the_prior_needs_a_learned_prior(tmp_path):
    from vae_audio.modeling.inference import TrainedModel

    kw = dict(architecture="grid", latent_dim=4, num_classes=2, **SMALL)
    vae = models.VAE(models.build_encoder(CFG.shape, **kw), models.build_decoder(CFG.shape, **kw), seed=0)
    vae.build_for(CFG.shape)
    bare = TrainedModel.from_vae(vae, recipe=RECIPE, label_names=["low", "high"])
    with pytest.raises(ParameterError, match="learned prior"):
        generate.interpolate_prior(bare, steps=3)


def test_a_summary_conditioned_prior_picks_a_mode_per_clip_and_travels_in_the_bundle(grid_with_prior, tmp_path):
    """Class 1 has two modes (+1 and +3). Conditioned on a clip summary drawn from a Gaussian
    mixture, each sample commits to one of them; and the summary file is saved, checked and reloaded."""
    import shutil

    z, lv, labels = codes(48)
    z[1::4] += 2.0
    prior = fit(z, lv, labels, num_classes=2, steps=600, learning_rate=3e-3, summary_dim=4, **TINY)
    assert prior.to_dict()["summary_dim"] == 4 and prior.summary[1].shape == (6, 4)
    out = prior.sample(200, np.array([0, 1] * 100), frames=6, seed=3)
    means = out[1::2].mean(axis=(1, 2, 3))
    assert np.mean(np.abs(means - 2.0) > 0.5) > 0.7, means  # few samples sit between the two modes
    np.testing.assert_array_equal(out, prior.sample(200, np.array([0, 1] * 100), frames=6, seed=3))
    with pytest.raises(ConfigError, match="summary_dim=-1"):
        fit(z, lv, labels, steps=1, summary_dim=-1)

    # in a bundle: the grid model of the fixture with a summary-conditioned prior over its codes
    loaded, trained = grid_with_prior
    x, lab = toy(24)
    z_mean, z_log_var = trained.encode(x, lab)
    summary_prior = fit(z_mean, z_log_var, lab, num_classes=2, steps=20, summary_dim=3, **TINY)
    from vae_audio.modeling.inference import TrainedModel

    model = TrainedModel.from_vae(models.VAE(trained.encoder, trained.decoder), recipe=RECIPE,
                                  label_names=["low", "high"], prior=summary_prior)
    path = bundle.save_model(models.VAE(trained.encoder, trained.decoder), tmp_path / "m", recipe=RECIPE,
                             label_names=["low", "high"], prior=summary_prior)
    assert (path / bundle.GRID_PRIOR_SUMMARY_FILE).is_file()
    again = bundle.load_model(path)
    assert again.prior.summary is not None and again.info["latent_prior"]["summary_dim"] == 3
    np.testing.assert_array_equal(again.generate(2, labels="low", seed=1), model.generate(2, labels="low", seed=1))
    walk = generate.interpolate_prior(again, steps=3, label="low", seeds=(1, 2))
    assert walk.shape == (3, CFG.n_samples) and np.all(np.isfinite(walk))
    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    (broken / bundle.GRID_PRIOR_SUMMARY_FILE).write_bytes(b"not an npz")
    with pytest.raises(BundleError, match="prior_summary.npz"):
        bundle.load_model(broken)


def test_a_prior_with_a_drawn_onset_starts_each_sample_from_a_training_onset_and_travels_in_the_bundle(
        grid_with_prior, tmp_path):
    """Class 1 starts either 2 above or 2 below its level (the first two of six columns). A
    network drawing the first column from nothing has one Gaussian for both starts; drawn from
    the kernel density over the training clips' onsets, each sample starts from one training
    clip's onset (plus the kernel's noise), with that clip's summary; the density is saved in
    the summary file, checked and reloaded."""
    import shutil

    z, lv, labels = codes(48)
    z[1::4, :, :2] += 2.0
    z[3::4, :, :2] -= 2.0
    prior = fit(z, lv, labels, num_classes=2, steps=300, learning_rate=3e-3, summary_dim=2,
                          onset_columns=2, **TINY)
    assert prior.to_dict()["onset_kind"] == "kernel" and prior.onset_dim == 2 * 6 and prior.start.latent_dim == 14
    assert "first 2 columns drawn from the training clips'" in prior.describe()
    out = prior.sample(200, np.array([0, 1] * 100), frames=6, seed=3)
    start = out[1::2, :, :2].mean(axis=(1, 2, 3)) - 1.0  # class 1's onsets relative to its level
    assert np.mean(np.abs(np.abs(start) - 2.0) < 0.5) > 0.9, start  # at +2 or -2, not between
    assert 0.25 < np.mean(start > 0) < 0.75  # both starts are drawn
    np.testing.assert_array_equal(out, prior.sample(200, np.array([0, 1] * 100), frames=6, seed=3))
    assert prior.sample(3, np.array([1, 1, 0]), frames=1, seed=3).shape == (3, 3, 1, 2)  # shorter than the onset
    assert fit(z, lv, labels, steps=1, summary_dim=2, onset_columns=7, **TINY).onset_columns == 6  # capped
    with pytest.raises(ConfigError, match="onset_noise=-0.1"):
        fit(z, lv, labels, steps=1, onset_columns=2, onset_noise=-0.1, **TINY)
    # without noise and without a summary, a sample's onset is exactly one training clip's of its class
    exact = fit(z, lv, labels, num_classes=2, steps=1, onset_columns=2, onset_noise=0.0, **TINY)
    assert exact.summary is None and exact.start.latent_dim == 12
    drawn = exact.sample(20, np.array([1] * 20), frames=4, seed=5)[:, :, :2]
    gap = np.abs(drawn[:, None] - z[labels == 1][None, :, :, :2]).max(axis=(2, 3, 4)).min(axis=1)
    assert np.all(gap < 2e-2), gap  # float16 storage

    loaded, trained = grid_with_prior
    x, lab = toy(24)
    z_mean, z_log_var = trained.encode(x, lab)
    onset_prior = fit(z_mean, z_log_var, lab, num_classes=2, steps=20, summary_dim=3, onset_columns=2,
                                **TINY)
    path = bundle.save_model(models.VAE(trained.encoder, trained.decoder), tmp_path / "m", recipe=RECIPE,
                             label_names=["low", "high"], prior=onset_prior)
    again = bundle.load_model(path)
    assert (again.prior.onset_columns, again.prior.onset_dim) == (2, 2 * onset_prior.dim)
    np.testing.assert_array_equal(again.prior.sample(4, np.array([0, 1, 0, 1]), frames=5, seed=2),
                                  onset_prior.sample(4, np.array([0, 1, 0, 1]), frames=5, seed=2))
    walk = generate.interpolate_prior(again, steps=3, label="low", seeds=(1, 2))
    assert walk.shape == (3, CFG.n_samples) and np.all(np.isfinite(walk))
    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    cfg = json.loads((broken / "config.json").read_text())
    cfg["latent_prior"]["onset_columns"] = 3
    (broken / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="prior_summary.npz: the starts' density is over"):
        bundle.load_model(broken)
    cfg["latent_prior"].update(onset_columns=2, onset_kind="beam")
    (broken / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="corrupt prior settings.*onset 'beam'"):
        bundle.load_model(broken)


def test_a_bundle_saved_with_a_mixture_onset_still_loads_and_samples_the_same(grid_with_prior, tmp_path):
    """Priors saved before the kernel onset drew their first columns from a Gaussian mixture over
    (principal coefficients of the onset, summary) and wrote no ``onset_kind``; such a bundle
    loads, and its samples start from ``mean + coefficients @ basis``."""
    from vae_audio.modeling.latent_prior import LatentPrior

    loaded, trained = grid_with_prior
    x, lab = toy(24)
    z_mean, z_log_var = trained.encode(x, lab)
    fitted = fit(z_mean, z_log_var, lab, num_classes=2, steps=5, summary_dim=3, **TINY)
    rng = np.random.default_rng(4)
    basis = rng.normal(0.0, 0.5, (4, 2 * fitted.dim)).astype(np.float32)
    mean = rng.normal(0.0, 1.0, 2 * fitted.dim).astype(np.float32)
    rows = rng.normal(0.0, 1.0, (len(lab), 4 + 3))
    layout = {k: fitted.to_dict()[k] for k in ("n_freq", "channels", "num_classes", "mean", "std", "train_frames")}
    legacy = GridPrior(fitted.network, dataclasses.replace(fitted.settings, onset_columns=2), **layout,
                       summary=fitted.summary, start=LatentPrior.fit(rows, np.full_like(rows, -20.0), lab,
                                                                     num_classes=2, n_components=1),
                       onset=(mean, basis))
    path = bundle.save_model(models.VAE(trained.encoder, trained.decoder), tmp_path / "m", recipe=RECIPE,
                             label_names=["low", "high"], prior=legacy)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["latent_prior"].pop("onset_kind") == "mixture" and cfg["latent_prior"]["onset_dim"] == 4
    (path / "config.json").write_text(json.dumps(cfg))  # as the landed main wrote it
    again = bundle.load_model(path).prior
    assert again.onset is not None and again.onset_dim == 4 and "from a mixture" in again.describe()
    drawn = again.sample(3, np.array([0, 1, 1]), frames=4, seed=6, temperature=0.0)
    starts = again.sample_summaries(3, np.array([0, 1, 1]), seed=6)
    expected = (mean + starts[:, :4] @ basis).reshape(3, 2, -1) * again.std + again.mean
    np.testing.assert_allclose(codes_to_sequences(drawn)[:, :2], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(drawn, legacy.sample(3, np.array([0, 1, 1]), frames=4, seed=6, temperature=0.0))
