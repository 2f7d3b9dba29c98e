"""The grid architecture: a latent laid out over frequency and time, any number of frames."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from vae_audio import bundle, generate, inference, models  # noqa: E402
from vae_audio.config import PriorConfig  # noqa: E402
from vae_audio.errors import ConfigError, ParameterError  # noqa: E402

from helpers import GRID_CFG as CFG  # noqa: E402
from helpers import GRID_RECIPE as RECIPE  # noqa: E402
from helpers import GRID_SMALL as SMALL  # noqa: E402
from helpers import harmonic, toy  # noqa: E402


@pytest.mark.parametrize("num_classes", [None, 3])
@pytest.mark.parametrize("frames", [5, 63, 200])
def test_builders_take_any_number_of_frames(num_classes, frames):
    enc = models.build_encoder((33, 63), architecture="grid", latent_dim=3, num_classes=num_classes, **SMALL)
    dec = models.build_decoder((33, 63), architecture="grid", latent_dim=3, num_classes=num_classes, **SMALL)
    assert tuple(enc.input["spectrogram"].shape) == (None, 33, None, 1)
    assert models.latent_shape(dec) == (9, None, 3) and models.time_stride(dec) == 4
    assert models.is_grid(enc) and models.is_grid(dec) and models.model_spec(enc)["architecture"] == "grid"
    feed = {"spectrogram": np.random.default_rng(0).random((2, 33, frames, 1), dtype=np.float32)}
    if num_classes:
        feed["label"] = np.array([0, 2], np.int32)
    z_mean, z_log_var = enc(feed)
    assert z_mean.shape == z_log_var.shape == (2, 9, -(-frames // 4), 3)
    out = np.asarray(dec({"z": np.asarray(z_mean), **({"label": feed["label"]} if num_classes else {})}))
    assert out.shape == (2, 33, -(-frames // 4) * 4, 1) and out.min() >= 0.0 and out.max() <= 1.0


def test_snap_sigmoid_reaches_exact_zero_and_passes_gradients():
    layer = models.SnapSigmoid()
    logits = tf.constant([-10.0, 0.0, 10.0])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        out = layer(logits)
    np.testing.assert_allclose(out.numpy(), [0.0, 0.5, 1.0], atol=1e-6)
    grad = tape.gradient(out, logits).numpy()
    assert np.all(grad > 0)  # straight-through: the clipped ends still learn


def test_film_starts_as_identity_and_then_depends_on_the_label():
    dec = models.build_decoder((33, 63), architecture="grid", latent_dim=3, num_classes=2, **SMALL)
    z = np.random.default_rng(1).standard_normal((2, 9, 16, 3)).astype(np.float32)
    a = models.decode_array(dec, z, labels=[0, 0])
    b = models.decode_array(dec, z, labels=[1, 1])
    np.testing.assert_array_equal(a, b)
    film = dec.get_layer("film_in")
    table = film.table.numpy()
    table[1] += 0.5
    film.table.assign(table)
    assert not np.allclose(models.decode_array(dec, z, labels=[1, 1]), a)


@pytest.mark.parametrize("likelihood", ["calibrated", "spectral"])
def test_grid_vae_learns_and_reloads_bit_identically(likelihood, tmp_path):
    keras.utils.set_random_seed(0)
    x, labels = toy()
    kw = dict(architecture="grid", latent_dim=4, num_classes=2, **SMALL)
    vae = models.VAE(models.build_encoder(CFG.shape, **kw), models.build_decoder(CFG.shape, **kw), seed=0,
                     likelihood=likelihood, db_range=(-80.0, 0.0))
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    ds = tf.data.Dataset.from_tensor_slices({"spectrogram": x[..., None], "label": labels}).batch(8)
    hist = vae.fit(ds, epochs=20, verbose=0).history
    assert hist["mse"][-1] < 0.5 * hist["mse"][0] and np.isfinite(hist["loss"]).all()
    out = vae({"spectrogram": x[:2, ..., None], "label": labels[:2]})
    assert out["reconstruction"].shape == (2, 33, 63, 1)  # the decoder's 64 frames cut to the input's
    assert out["z_mean"].shape == (2, 9, 16, 4)
    path = bundle.save_model(vae, tmp_path / "m", recipe=RECIPE, label_names=["low", "high"])
    model = bundle.load_model(path)
    assert model.fully_convolutional and model.prior is None and model.latent_shape() == (9, 16, 4)
    rec = model.reconstruct(x[:4], labels=labels[:4])
    assert rec.shape == (4, 33, 63)
    np.testing.assert_array_equal(rec, models.decode_array(vae.decoder, models.encode_array(
        vae.encoder, x[:4], labels[:4])[0], labels[:4])[..., :63])
    assert np.mean((rec - x[:4]) ** 2) < hist["mse"][0]
    assert model.info["model"]["latent_shape"] == [9, None, 4]


def test_spectral_likelihood_needs_the_db_range():
    kw = dict(architecture="grid", latent_dim=4, **SMALL)
    enc, dec = models.build_encoder(CFG.shape, **kw), models.build_decoder(CFG.shape, **kw)
    with pytest.raises(ConfigError, match="db_range"):
        models.VAE(enc, dec, likelihood="spectral")
    with pytest.raises(ConfigError, match="db_range"):
        models.VAE(enc, dec, likelihood="spectral", db_range=(0.0, -80.0))


@pytest.fixture(scope="module")
def grid_model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    x, labels = toy()
    kw = dict(architecture="grid", latent_dim=4, num_classes=2, **SMALL)
    vae = models.VAE(models.build_encoder(CFG.shape, **kw), models.build_decoder(CFG.shape, **kw), seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    vae.fit(tf.data.Dataset.from_tensor_slices({"spectrogram": x[..., None], "label": labels}).batch(8),
            epochs=10, verbose=0)
    return bundle.load_model(bundle.save_model(vae, tmp_path_factory.mktemp("g") / "m", recipe=RECIPE,
                                               label_names=["low", "high"]))


def test_reconstruct_files_keeps_a_clip_three_times_the_window(grid_model, tmp_path):
    long = np.concatenate([harmonic(150, CFG.duration), harmonic(160, CFG.duration), harmonic(170, CFG.duration)])
    assert len(long) == 3 * CFG.n_samples
    path = tmp_path / "long.wav"
    sf.write(path, long, 8000, subtype="FLOAT")
    files = generate.reconstruct_files(grid_model, [path], tmp_path / "out", label="low")
    for f in files:
        y, sr = sf.read(f)
        assert sr == 8000 and len(y) == 3 * CFG.n_samples, f
    rec, _ = sf.read(tmp_path / "out" / "long_reconstruction.wav")
    thirds = np.sqrt(np.mean(rec.reshape(3, -1) ** 2, axis=1))
    assert thirds.min() > 0.2 * thirds.max()  # the last third is reconstructed, not padding or silence
    with pytest.raises(ParameterError, match="grid model"):
        generate.reconstruct_audio(_vector_model(), [long], whole=True)


def _vector_model():
    kw = dict(architecture="conv", latent_dim=4, filters=(4, 8))
    vae = models.VAE(models.build_encoder(CFG.shape, **kw), models.build_decoder(CFG.shape, **kw), seed=0)
    return inference.TrainedModel.from_vae(vae, recipe=RECIPE)


def test_generate_any_length(grid_model, tmp_path):
    audio = generate.generate_audio(grid_model, 2, label="high", seed=0, seconds=0.75)
    assert audio.shape == (2, (grid_model.frames_for(0.75) - 1) * CFG.hop_length)  # 0.75 s to within a hop
    assert abs(audio.shape[1] - 6000) <= CFG.hop_length and np.all(np.isfinite(audio))
    again = generate.generate_audio(grid_model, 2, label="high", seed=0, seconds=0.75)
    np.testing.assert_array_equal(audio, again)
    paths = generate.generate_to_files(grid_model, tmp_path / "g", n=1, all_labels=True, seconds=1.0)
    assert sorted(p.name for p in paths) == ["high_000.wav", "low_000.wav"]
    assert abs(sf.info(paths[0]).frames - 8000) <= CFG.hop_length
    for bad in (0, -1.0, float("nan"), 1e9, "two"):
        with pytest.raises(ParameterError, match="--seconds"):
            generate.generate_audio(grid_model, 1, seconds=bad)
    with pytest.raises(ParameterError, match="training window"):
        generate.generate_audio(_vector_model(), 1, seconds=1.0)
    with pytest.raises(ParameterError, match="kind='none'"):  # "no learned prior" is no prior to fit
        grid_model.fit_prior(toy(4)[0], [0, 1, 0, 1], settings=PriorConfig(kind="none", steps=1))
