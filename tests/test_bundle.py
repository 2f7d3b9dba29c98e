"""Tests of vae_audio.modeling.bundle: save/load round trip, integrity checks, atomic replacement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from vae_audio import bundle, inference, models  # noqa: E402
from vae_audio.dsp.features import Normalizer, SpectrogramConfig  # noqa: E402
from vae_audio.dsp.recipe import Recipe  # noqa: E402
from vae_audio.errors import BundleError, ConfigError, ParameterError  # noqa: E402

CONFIG = SpectrogramConfig(sr=8000, n_fft=32, hop_length=16, n_samples=400)  # 17 x 26 spectrograms
NORMALIZER = Normalizer.fixed(-80.0, 10.0)
RECIPE = Recipe(CONFIG, normalizer=NORMALIZER)
LABELS = ["kick", "snare", "hat"]


def make_vae(*, num_classes=None, likelihood="calibrated", seed=0):
    keras.utils.set_random_seed(seed)
    kw = {"architecture": "conv", "latent_dim": 3, "num_classes": num_classes, "filters": (4, 8)}
    enc = models.build_encoder(CONFIG.shape, **kw)
    dec = models.build_decoder(CONFIG.shape, **kw)
    return models.VAE(enc, dec, likelihood=likelihood, beta=0.5, kl_warmup_steps=7, seed=0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    vae = make_vae(likelihood="gaussian")
    path = bundle.save_model(vae, tmp_path_factory.mktemp("b") / "model", recipe=RECIPE,
                             settings={"epochs": 3, "note": "test"})
    return vae, path


@pytest.fixture
def copy_of(saved, tmp_path):
    import shutil

    def make():
        dst = tmp_path / "copy"
        shutil.copytree(saved[1], dst)
        return dst
    return make


def test_round_trip_gives_identical_outputs(saved):
    vae, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "decoder.keras", "encoder.keras"]
    model = bundle.load_model(path)
    z = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    assert np.array_equal(model.decode(z), models.decode_array(vae.decoder, z))
    assert np.array_equal(bundle.load_model(path).decode(z), model.decode(z))
    x = np.random.default_rng(1).random((4, *CONFIG.shape), dtype=np.float32)
    for a, b in zip(model.encode(x), models.encode_array(vae.encoder, x)):
        assert np.array_equal(a, b)
    assert np.array_equal(model.reconstruct(x),
                          models.decode_array(vae.decoder, models.encode_array(vae.encoder, x)[0]))
    assert model.config == CONFIG and model.normalizer.to_dict() == NORMALIZER.to_dict()
    assert model.latent_dim == 3 and model.label_names == () and model.num_classes is None
    assert model.shape == CONFIG.shape and model.directory == path


def test_config_json_contents(saved):
    vae, path = saved
    info = json.loads((path / "config.json").read_text())
    assert info["format"] == bundle.FORMAT_NAME and info["format_version"] == bundle.FORMAT_VERSION
    assert set(info["libraries"]) >= {"tensorflow", "keras", "librosa", "numpy"}
    assert info["libraries"]["keras"] == keras.__version__
    assert info["recipe"] == RECIPE.to_dict() and Recipe.from_dict(info["recipe"]) == RECIPE
    assert info["model"]["architecture"] == "conv" and info["model"]["input_shape"] == list(CONFIG.shape)
    assert info["model"]["options"] == {"filters": [4, 8]}
    assert info["vae"]["likelihood"] == "gaussian" and info["vae"]["latent_dim"] == 3
    assert info["vae"]["log_sigma"] == pytest.approx(vae.current_log_sigma())
    assert info["vae"]["beta"] == 0.5 and info["vae"]["kl_warmup_steps"] == 7
    assert info["training"] == {"epochs": 3, "note": "test"} and info["config"] is None  # saved outside a run
    assert info["label_names"] is None
    for name in ("encoder.keras", "decoder.keras"):
        assert len(info["files"][name]["sha256"]) == 64
        assert info["files"][name]["bytes"] == (path / name).stat().st_size
    assert "package_version" in info and "created" in info


def test_generate_is_seeded_and_to_db_uses_the_normalizer(saved):
    model = bundle.load_model(saved[1])
    a, b, c = model.generate(4, seed=3), model.generate(4, seed=3), model.generate(4, seed=4)
    assert a.shape == (4, *CONFIG.shape) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    db = model.to_db(a)
    assert np.allclose(db, NORMALIZER.unnormalize(a))
    assert np.allclose(model.to_db(a[..., None]), db)
    with pytest.raises(ParameterError, match="normalized"):
        model.to_db(np.zeros((2, 5, 5)))
    with pytest.raises(ParameterError, match="labels"):
        model.generate(2, labels=[0, 1])


def test_to_audio(saved):
    pytest.importorskip("vae_audio.dsp.phase")
    model = bundle.load_model(saved[1])
    audio = model.to_audio(model.generate(2, seed=0))
    assert audio.shape == (2, CONFIG.n_samples) and np.all(np.isfinite(audio))


def test_conditional_bundle_and_label_index(tmp_path):
    vae = make_vae(num_classes=3)
    path = bundle.save_model(vae, tmp_path / "cond", recipe=RECIPE, label_names=LABELS)
    model = bundle.load_model(path)
    assert model.label_names == tuple(LABELS) and model.num_classes == 3
    assert [model.label_index(v) for v in ("kick", "hat", 1, "2", np.int64(0))] == [0, 2, 1, 2, 0]
    for bad in ("tom", 3, -1, "7", True, 1.0):
        with pytest.raises(ConfigError, match="unknown"):
            model.label_index(bad)
    z = np.zeros((3, 3), np.float32)
    by_name = model.decode(z, labels=["kick", "snare", "hat"])
    assert np.array_equal(by_name, models.decode_array(vae.decoder, z, labels=[0, 1, 2]))
    assert np.array_equal(model.decode(z, labels="snare"), models.decode_array(vae.decoder, z, labels=[1, 1, 1]))
    g = model.generate(6, seed=0)  # random classes, drawn from the seed
    assert np.array_equal(g, model.generate(6, seed=0))
    assert model.generate(2, labels="hat", seed=0).shape == (2, *CONFIG.shape)
    with pytest.raises(ParameterError, match="labels"):
        model.decode(z, labels=[0, 1])


def test_label_index_on_unconditional_model(saved):
    model = bundle.load_model(saved[1])
    with pytest.raises(ConfigError, match="not conditional"):
        model.label_index(0)
    with pytest.raises(ParameterError, match="not conditional"):
        model.decode(np.zeros((1, 3), np.float32), labels=[0])


def test_save_checks_its_arguments(tmp_path):
    vae = make_vae()
    with pytest.raises(ConfigError, match="shape"):
        bundle.save_model(vae, tmp_path / "m", recipe=Recipe(CONFIG.replace(n_samples=800), normalizer=NORMALIZER))
    with pytest.raises(ConfigError, match="not fitted"):
        bundle.save_model(vae, tmp_path / "m", recipe=Recipe(CONFIG, normalizer=Normalizer()))
    with pytest.raises(ConfigError, match="not conditional"):
        bundle.save_model(vae, tmp_path / "m", recipe=RECIPE, label_names=LABELS)
    with pytest.raises(ConfigError, match="3 classes"):
        bundle.save_model(make_vae(num_classes=3), tmp_path / "m", recipe=RECIPE,
                          label_names=["a", "b"])
    with pytest.raises(ConfigError, match="JSON"):
        bundle.save_model(vae, tmp_path / "m", recipe=RECIPE, settings={"x": object()})
    assert not (tmp_path / "m").exists()


def test_refuses_to_replace_what_is_not_a_bundle(tmp_path, saved):
    vae = saved[0]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="not a model bundle"):
        bundle.save_model(vae, other, recipe=RECIPE)
    assert (other / "keep.txt").read_text() == "mine"
    path = bundle.save_model(vae, tmp_path / "m", recipe=RECIPE)
    with pytest.raises(BundleError, match="already exists"):
        bundle.save_model(vae, path, recipe=RECIPE, overwrite=False)


def test_failed_save_keeps_the_previous_bundle(tmp_path, monkeypatch):
    old_vae = make_vae(seed=1)
    path = bundle.save_model(old_vae, tmp_path / "m", recipe=RECIPE)
    z = np.ones((2, 3), np.float32)
    before = bundle.load_model(path).decode(z)
    new_vae = make_vae(seed=2)

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(new_vae.decoder, "save", crash)
    with pytest.raises(BundleError, match="disk full"):
        bundle.save_model(new_vae, path, recipe=RECIPE)
    assert np.array_equal(bundle.load_model(path).decode(z), before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folders left behind
    monkeypatch.undo()
    bundle.save_model(new_vae, path, recipe=RECIPE)  # replacing works
    assert np.array_equal(bundle.load_model(path).decode(z), models.decode_array(new_vae.decoder, z))
    assert not np.array_equal(before, models.decode_array(new_vae.decoder, z))


@pytest.mark.parametrize("name", ["encoder.keras", "decoder.keras", "config.json"])
def test_missing_file_is_refused(copy_of, name):
    path = copy_of()
    (path / name).unlink()
    with pytest.raises(BundleError, match=name.replace(".", r"\.") + ": missing"):
        bundle.load_model(path)


@pytest.mark.parametrize("name", ["encoder.keras", "decoder.keras"])
def test_corrupt_model_file_is_refused(copy_of, name):
    path = copy_of()
    data = bytearray((path / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / name).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=name.replace(".", r"\.") + ": corrupt"):
        bundle.load_model(path)


def test_unloadable_model_file_is_refused(copy_of):
    path = copy_of()
    (path / "encoder.keras").write_bytes(b"not a zip archive")
    info = json.loads((path / "config.json").read_text())
    info["files"]["encoder.keras"]["sha256"] = bundle._sha256(path / "encoder.keras")
    (path / "config.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match=r"encoder\.keras: cannot be loaded"):
        bundle.load_model(path)


@pytest.mark.parametrize("edit, match", [
    (lambda text: text[: len(text) // 2], r"config\.json: corrupt"),
    (lambda text: text.replace(f'"format_version": {bundle.FORMAT_VERSION}', '"format_version": 99'),
     "newer vae_audio"),
    (lambda text: text.replace(f'"format_version": {bundle.FORMAT_VERSION}', '"format_version": "one"'),
     "unknown bundle format version"),
    (lambda text: text.replace('"format": "vae_audio.bundle"', '"format": "other"'), "not a vae_audio model bundle"),
    (lambda text: text.replace('"n_fft": 32', '"n_fft": 64'), "does not match"),
    (lambda text: text.replace('"n_fft": 32', '"n_fft": -1'), r"config\.json: corrupt"),
])
def test_bad_config_is_refused(copy_of, edit, match):
    path = copy_of()
    cfg = path / "config.json"
    cfg.write_text(edit(cfg.read_text()))
    with pytest.raises(BundleError, match=match):
        bundle.load_model(path)


def test_missing_folder_is_refused(tmp_path):
    with pytest.raises(BundleError, match="folder not found"):
        bundle.load_model(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="not a folder"):
        bundle.load_model(tmp_path / "file")


def test_from_vae_wraps_a_model_in_memory():
    vae = make_vae(num_classes=3)
    model = inference.TrainedModel.from_vae(vae, recipe=RECIPE, label_names=LABELS)
    assert model.label_index("snare") == 1 and model.latent_dim == 3
    assert "latent=3" in repr(model) and "3 classes" in repr(model)
    assert model.generate(2, labels="kick").shape == (2, *CONFIG.shape)


# ----------------------------------------------------------------------------- bundles of earlier formats
LEGACY = Path(__file__).parent / "data" / "bundle_v2"


def test_a_format_2_bundle_loads_and_generates_what_its_version_wrote(tmp_path):
    """tests/data/bundle_v2 was written by the last format-2 version (see its README): today's code loads it,
    reads its flat training settings as a (partial) run configuration, and generates the same audio."""
    import soundfile as sf

    from vae_audio.modeling.generate import generate_to_files

    info = json.loads((LEGACY / "model" / "config.json").read_text())
    assert info["format_version"] == 2 and "config" not in info and "training" in info["training"]
    model = bundle.load_model(LEGACY / "model")
    assert model.info["migrated_from"] == 2 and model.info["training"]["epochs_run"] == 1
    run = model.run_config
    assert (run.data.source, run.data.max_clips, run.training.epochs, run.recipe.sr, run.recipe.duration) == \
        ("synth", 48, 1, 8000, 0.25)
    assert run.model.options == {"filters": (4, 8), "strides": ((2, 2), (2, 2))} and run.postfilter.enabled is True
    assert model.prior is not None and model.postfilter is not None and len(model.label_names) == 8
    paths = generate_to_files(model, tmp_path, n=1, all_labels=True, seed=0, seconds=0.5)
    expected = sorted((LEGACY / "expected").glob("*.wav"))
    assert sorted(p.name for p in paths) == [p.name for p in expected]
    for path in paths:
        new, old = (sf.read(str(p), dtype="int16")[0].astype(np.int32) for p in (path, LEGACY / "expected" / path.name))
        # the same bytes on the machine that wrote them; other CPUs may round a float differently
        assert path.read_bytes() == (LEGACY / "expected" / path.name).read_bytes() or np.abs(new - old).max() <= 2
