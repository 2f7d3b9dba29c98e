"""Tests of vae_audio.modeling.latent_prior (the Gaussian mixture fitted to training codes) and its bundle file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vae_audio.errors import BundleError, ParameterError
from vae_audio.modeling.latent_prior import KernelDensity, LatentPrior

CENTRES = np.array([[6.0, 0.0, 0.0], [0.0, 6.0, 0.0], [0.0, 0.0, 6.0]])


def clustered(n_per=200, spread=0.5, seed=0):
    """Codes around three well-separated centres: (z_mean (3n, 3), z_log_var (3n, 3), labels (3n,))."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([c + spread * rng.standard_normal((n_per, 3)) for c in CENTRES])
    labels = np.repeat(np.arange(3), n_per)
    return z, np.full_like(z, np.log(0.01)), labels


def nearest_centre(z):
    return np.argmin(((z[:, None, :] - CENTRES[None]) ** 2).sum(-1), axis=1)


def test_conditional_fit_recovers_each_class_and_samples_from_it():
    z, lv, labels = clustered()
    prior = LatentPrior.fit(z, lv, labels, n_components=1)
    assert prior.conditional and prior.classes == (0, 1, 2) and prior.n_components == 3
    assert prior.latent_dim == 3 and np.isclose(prior.weights.sum(), 1.0)
    for c in range(3):
        comp = np.flatnonzero(prior.component_labels == c)
        assert np.allclose(prior.means[comp[0]], z[labels == c].mean(0))
        # covariance = covariance of the means + the average posterior variance (0.01) + ridge
        want = np.cov(z[labels == c], rowvar=False, bias=True) + (0.01 + 1e-4) * np.eye(3)
        assert np.allclose(prior.covariances[comp[0]], want)
    asked = np.array([0, 1, 2, 2, 1, 0] * 50)
    draws = prior.sample(len(asked), asked, seed=3)
    assert draws.shape == (300, 3) and draws.dtype == np.float32
    assert np.array_equal(nearest_centre(draws), asked)
    # the spread of the draws matches the fitted one (std ~ sqrt(0.25 + 0.01))
    assert np.std(draws[asked == 0] - CENTRES[0], axis=0) == pytest.approx([0.51] * 3, rel=0.2)


def test_default_sizes_and_the_cap_on_components():
    from vae_audio import latent_prior

    z, lv, labels = clustered()
    prior = LatentPrior.fit(z, lv, labels)  # 200 codes per class in 3-D: room for the default 4 per class
    assert prior.n_components == 3 * latent_prior.DEFAULT_COMPONENTS_PER_CLASS
    assert np.array_equal(np.bincount(prior.component_labels), [latent_prior.DEFAULT_COMPONENTS_PER_CLASS] * 3)
    assert np.array_equal(nearest_centre(prior.sample(60, np.arange(60) % 3, seed=0)), np.arange(60) % 3)
    # 12 codes in 16-D: each component needs >= latent_dim / 4 codes, so only 3 components fit
    rng = np.random.default_rng(0)
    small = LatentPrior.fit(rng.standard_normal((12, 16)), np.zeros((12, 16)), n_components=10)
    assert small.n_components == 3


def test_unconditional_mixture_finds_the_clusters_and_weights():
    z, lv, _ = clustered()
    z = np.concatenate([z, CENTRES[0] + 0.5 * np.random.default_rng(9).standard_normal((200, 3))])
    lv = np.full_like(z, np.log(0.01))
    prior = LatentPrior.fit(z, lv, n_components=3, seed=0)
    assert not prior.conditional and prior.classes == () and prior.n_components == 3
    order = nearest_centre(prior.means)
    assert sorted(order.tolist()) == [0, 1, 2]
    assert np.allclose(prior.means, CENTRES[order], atol=0.15)
    assert np.allclose(prior.weights[np.argsort(order)], [0.5, 0.25, 0.25], atol=0.03)
    counts = np.bincount(nearest_centre(prior.sample(4000, seed=1)), minlength=3) / 4000
    assert np.allclose(counts, [0.5, 0.25, 0.25], atol=0.04)


def test_sampling_is_seeded_and_temperature_scales_the_spread():
    z, lv, labels = clustered()
    prior = LatentPrior.fit(z, lv, labels, n_components=1)
    a = prior.sample(50, 1, seed=5)
    assert np.array_equal(a, prior.sample(50, 1, seed=5))
    assert not np.array_equal(a, prior.sample(50, 1, seed=6))
    mean1 = prior.means[prior.component_labels == 1][0]
    assert np.allclose(prior.sample(4, 1, seed=5, temperature=0.0), mean1.astype(np.float32))
    half = prior.sample(50, 1, seed=5, temperature=0.5)
    assert np.allclose(half - mean1, 0.5 * (a - mean1), atol=1e-5)


def test_missing_class_gets_a_standard_normal_component():
    z, lv, labels = clustered()
    keep = labels != 1
    prior = LatentPrior.fit(z[keep], lv[keep], labels[keep], num_classes=4)
    assert prior.classes == (0, 1, 2, 3)
    comp1 = np.flatnonzero(prior.component_labels == 1)
    assert np.allclose(prior.means[comp1], 0.0) and np.allclose(prior.covariances[comp1[0]], np.eye(3))
    assert prior.weights[comp1].sum() < 0.01


def test_bytes_and_file_round_trip(tmp_path):
    z, lv, labels = clustered()
    prior = LatentPrior.fit(z, lv, labels)
    back = LatentPrior.from_bytes(prior.to_bytes())
    for name in ("weights", "means", "covariances", "component_labels"):
        assert np.array_equal(getattr(back, name), getattr(prior, name))
    path = prior.save(tmp_path / "prior.npz")
    assert np.array_equal(LatentPrior.load(path).sample(9, 2, seed=1), prior.sample(9, 2, seed=1))
    assert [p.name for p in tmp_path.iterdir()] == ["prior.npz"]  # no temporary litter


@pytest.mark.parametrize("call, match", [
    (lambda p, z, lv: LatentPrior.fit(z[:, :2], lv, None), "same shape"),
    (lambda p, z, lv: LatentPrior.fit(np.full_like(z, np.nan), lv, None), "NaN"),
    (lambda p, z, lv: LatentPrior.fit(z, lv, np.arange(3)), "class indices"),
    (lambda p, z, lv: LatentPrior.fit(z, lv, None, n_components=0), "n_components=0"),
    (lambda p, z, lv: p.sample(0), "n=0"),
    (lambda p, z, lv: p.sample(3, seed=-1), "seed=-1"),
    (lambda p, z, lv: p.sample(3, [0, 1]), "3 indices"),
    (lambda p, z, lv: p.sample(3, 7), r"class\(es\) \[7\]"),
    (lambda p, z, lv: p.sample(3, temperature=-1.0), "temperature"),
    (lambda p, z, lv: LatentPrior(np.array([0.5, 0.6]), np.zeros((2, 3)), np.stack([np.eye(3)] * 2)), "sum to 1"),
    (lambda p, z, lv: LatentPrior(np.ones(1), np.zeros((1, 3)), -np.eye(3)[None]), "positive definite"),
    (lambda p, z, lv: LatentPrior(np.ones(1), np.zeros((1, 3)), np.eye(2)[None]), "covariances must be"),
])
def test_bad_arguments_are_refused(call, match):
    z, lv, labels = clustered(n_per=20)
    prior = LatentPrior.fit(z, lv, labels)
    with pytest.raises(ParameterError, match=match):
        call(prior, z, lv)


def test_unconditional_prior_refuses_labels():
    z, lv, _ = clustered(n_per=20)
    with pytest.raises(ParameterError, match="unconditional"):
        LatentPrior.fit(z, lv, n_components=2).sample(2, [0, 1])


@pytest.mark.parametrize("data", [b"", b"not an npz", None])
def test_corrupt_archive_is_a_bundle_error(tmp_path, data):
    if data is None:  # a valid archive with a missing array
        import io

        buf = io.BytesIO()
        np.savez(buf, weights=np.ones(1))
        data = buf.getvalue()
    with pytest.raises(BundleError, match="prior.npz: corrupt latent prior"):
        LatentPrior.from_bytes(data, name="prior.npz")
    with pytest.raises(BundleError, match="cannot be read"):
        LatentPrior.load(tmp_path / "missing.npz")


# ----------------------------------------------------------------------------- in a bundle
keras = pytest.importorskip("keras")

from vae_audio import bundle, inference, models  # noqa: E402
from vae_audio.dsp.features import Normalizer, SpectrogramConfig  # noqa: E402
from vae_audio.dsp.recipe import Recipe  # noqa: E402

CONFIG = SpectrogramConfig(sr=8000, n_fft=32, hop_length=16, n_samples=400)
NORMALIZER = Normalizer.fixed(-80.0, 10.0)


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    keras.utils.set_random_seed(0)
    kw = {"architecture": "conv", "latent_dim": 3, "num_classes": 3, "filters": (4, 8)}
    vae = models.VAE(models.build_encoder(CONFIG.shape, **kw), models.build_decoder(CONFIG.shape, **kw), seed=0)
    z, lv, labels = clustered(n_per=30)
    prior = LatentPrior.fit(z, lv, labels, n_components=1)
    path = bundle.save_model(vae, tmp_path_factory.mktemp("b") / "model", recipe=Recipe(CONFIG, normalizer=NORMALIZER),
                             label_names=["a", "b", "c"], prior=prior)
    return vae, prior, path


def test_bundle_stores_and_uses_the_prior(conditional):
    vae, prior, path = conditional
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "decoder.keras", "encoder.keras", "prior.npz"]
    info = json.loads((path / "config.json").read_text())
    assert info["latent_prior"] == {"file": "prior.npz", "n_components": 3, "conditional": True}
    assert len(info["files"]["prior.npz"]["sha256"]) == 64
    model = bundle.load_model(path)
    assert np.array_equal(model.prior.means, prior.means)
    z, lab = model.sample_latents(6, labels="b", seed=2)
    assert np.array_equal(lab, [1] * 6) and np.array_equal(z, prior.sample(6, lab, seed=2))
    assert np.array_equal(nearest_centre(z), [1] * 6)
    z_std, _ = model.sample_latents(6, labels="b", seed=2, prior="standard")
    assert np.array_equal(z_std, models.prior_latents(6, 3, 2))
    assert np.array_equal(model.generate(6, labels="b", seed=2), models.decode_array(vae.decoder, z, lab))
    assert np.array_equal(model.generate(6, labels="b", seed=2, prior="standard"),
                          models.decode_array(vae.decoder, z_std, lab))
    # without labels a conditional model draws random classes, and each draw follows its class
    z, lab = model.sample_latents(60, seed=4)
    assert np.array_equal(nearest_centre(z), lab)


def test_tampered_or_missing_prior_is_refused(conditional, tmp_path):
    import shutil

    _, _, path = conditional
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    (copy / "prior.npz").write_bytes((copy / "prior.npz").read_bytes()[:-5] + b"xxxxx")
    with pytest.raises(BundleError, match=r"prior\.npz: corrupt \(its SHA-256"):
        bundle.load_model(copy)
    (copy / "prior.npz").unlink()
    with pytest.raises(BundleError, match=r"prior\.npz: missing"):
        bundle.load_model(copy)


def test_cli_offers_the_bundle_prior_choices():
    from vae_audio import cli

    assert cli.PRIOR_CHOICES is inference.PRIOR_CHOICES  # one definition (vae_audio.choices)


def test_prior_must_fit_the_model(conditional, tmp_path):
    from vae_audio.errors import ConfigError

    vae, prior, _ = conditional
    z, lv, _ = clustered(n_per=10)
    with pytest.raises(ConfigError, match="latent size 2"):
        bundle.save_model(vae, tmp_path / "m", recipe=Recipe(CONFIG, normalizer=NORMALIZER),
                          label_names=["a", "b", "c"], prior=LatentPrior.fit(z[:, :2], lv[:, :2]))
    model = bundle.load_model(conditional[2])
    model.prior = None
    with pytest.raises(ParameterError, match="no fitted latent prior"):
        model.generate(2, prior="fitted")
    with pytest.raises(ParameterError, match="prior='best'"):
        model.generate(2, prior="best")
    fitted = model.fit_prior(np.random.default_rng(0).random((12, *CONFIG.shape), dtype=np.float32),
                             labels=[0, 1, 2] * 4)
    assert model.prior is fitted and fitted.classes == (0, 1, 2)
    with pytest.raises(ParameterError, match="pass the training labels"):
        model.fit_prior(np.zeros((4, *CONFIG.shape), np.float32))


def test_kernel_density_draws_a_training_point_of_the_class_plus_its_noise():
    """Each draw is one point of the requested class (uniformly chosen) plus bandwidth * N(0, I):
    with a small bandwidth every draw sits next to a point of its class, the residuals have the
    bandwidth's spread, every point gets used, and the same seed gives the same draws."""
    rng = np.random.default_rng(0)
    points = rng.normal(0.0, 5.0, (30, 4))
    labels = np.repeat(np.arange(3), 10)
    kernel = KernelDensity(points, [0.1, 0.1, 0.1, 0.3], labels)
    assert kernel.latent_dim == 4 and kernel.conditional and kernel.classes == (0, 1, 2)
    asked = np.array([0, 1, 2] * 400)
    draws = kernel.sample(len(asked), asked, seed=3)
    dist = np.abs(draws[:, None] - kernel.points[None]).max(axis=2)
    nearest = dist.argmin(axis=1)
    np.testing.assert_array_equal(labels[nearest], asked)  # from a point of the asked class
    residual = draws - kernel.points[nearest]
    np.testing.assert_allclose(residual.std(axis=0), [0.1, 0.1, 0.1, 0.3], rtol=0.1)
    assert len(np.unique(nearest)) == 30
    np.testing.assert_array_equal(draws, kernel.sample(len(asked), asked, seed=3))
    assert not np.array_equal(draws, kernel.sample(len(asked), asked, seed=4))
    exact = kernel.sample(50, 1, seed=1, temperature=0.0)  # no noise: the class's points themselves
    assert np.all(np.abs(exact[:, None] - kernel.points[labels == 1][None]).max(axis=2).min(axis=1) == 0)
    unconditional = KernelDensity(points, 0.0)
    assert not unconditional.conditional
    assert np.isin(unconditional.sample(5, seed=2), unconditional.points).all()
    with pytest.raises(ParameterError, match=r"no training vectors for class\(es\) \[3\]"):
        kernel.sample(2, np.array([0, 3]))
    with pytest.raises(ParameterError, match="labels: expected one class index or 2 indices"):
        kernel.sample(2, np.array([0, 1, 2]))
    with pytest.raises(ParameterError, match="n=0"):
        kernel.sample(0)
    with pytest.raises(ParameterError, match="temperature=-1"):
        kernel.sample(2, temperature=-1)


def test_kernel_density_round_trips_its_bytes_and_refuses_bad_ones():
    rng = np.random.default_rng(1)
    kernel = KernelDensity(rng.normal(0.0, 1.0, (6, 3)), 0.25, np.array([0, 0, 1, 1, 2, 2]))
    again = KernelDensity.from_bytes(kernel.to_bytes())
    np.testing.assert_array_equal(again.points, kernel.points)  # float16 values, stored as they are kept
    np.testing.assert_array_equal(again.sample(4, np.array([0, 1, 2, 2]), seed=5),
                                  kernel.sample(4, np.array([0, 1, 2, 2]), seed=5))
    assert KernelDensity.from_bytes(KernelDensity(kernel.points, 0.1).to_bytes()).labels is None
    with pytest.raises(BundleError, match="kernel.npz: corrupt kernel density"):
        KernelDensity.from_bytes(b"not an archive", name="kernel.npz")
    import io
    buf = io.BytesIO()
    np.savez(buf, points=np.ones((3, 2)), bandwidth=np.ones(3))
    with pytest.raises(BundleError, match="corrupt kernel density"):
        KernelDensity.from_bytes(buf.getvalue())
    with pytest.raises(ParameterError, match="bandwidth must be finite numbers >= 0"):
        KernelDensity(np.ones((3, 2)), -1.0)
    with pytest.raises(ParameterError, match="finite points"):
        KernelDensity(np.full((3, 2), np.nan), 0.1)
    with pytest.raises(ParameterError, match="labels must be 3 class indices"):
        KernelDensity(np.ones((3, 2)), 0.1, np.array([0, 1]))
