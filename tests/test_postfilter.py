"""vae_audio.dsp.postfilter: the valley postfilter deepens valleys, keeps peaks and silence, travels in the bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vae_audio.dsp.postfilter import ValleyPostfilter, fit_valley_postfilter
from vae_audio.errors import BundleError, ConfigError

from helpers import edited_bundle


def harmonic_frames(depth: float, n_freq: int = 64, frames: int = 5) -> np.ndarray:
    """(n_freq, frames) normalized spectra: a peak every 8 bins over a flat 0.5 floor, valleys ``depth`` below it."""
    f = np.arange(n_freq)
    col = 0.5 + depth * (np.cos(2 * np.pi * f / 8) - 1) / 2 + 0.3 * (f % 8 == 0)
    return np.repeat(col[:, None], frames, axis=1).astype(np.float32)


def test_it_deepens_valleys_and_leaves_peaks_and_silence_alone():
    x = harmonic_frames(0.1)
    x[:, 0] = 0.0  # a silent frame
    pf = ValleyPostfilter(n_freq=64, width=9, gains=(2.0,))
    y = pf(x)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.all(y[:, 0] == 0.0)
    inner = slice(8, 56)  # away from the envelope's edges
    valleys, peaks = x[inner, 1] < 0.45, x[inner, 1] > 0.75
    assert np.all(y[inner, 1][valleys] < x[inner, 1][valleys] - 0.01)
    np.testing.assert_allclose(y[inner, 1][peaks], x[inner, 1][peaks])
    assert np.all((y >= 0) & (y <= 1))
    # a gain of 1 is the identity
    np.testing.assert_allclose(ValleyPostfilter(n_freq=64, width=9, gains=(1.0, 1.0))(x), x)


def test_fit_gives_gains_above_one_for_blurred_reconstructions_and_one_for_perfect_ones():
    real = np.stack([harmonic_frames(0.3)] * 4)
    blurred = np.stack([harmonic_frames(0.1)] * 4)
    pf = fit_valley_postfilter(blurred, real, bands=4, strength=1.0)
    assert len(pf.gains) == 4 and all(1.3 < g < 3.0 for g in pf.gains)  # the blurred fine structure is too small
    assert fit_valley_postfilter(real, real, bands=4).gains == (1.0,) * 4
    # applied, the blurred valleys move towards the real ones
    inner = slice(8, 56)
    assert (np.abs(pf(blurred)[:, inner] - real[:, inner]).mean()
            < 0.8 * np.abs(blurred[:, inner] - real[:, inner]).mean())
    with pytest.raises(ConfigError, match="one shape"):
        fit_valley_postfilter(blurred, real[:, :32])


def test_round_trip_and_bad_settings():
    pf = ValleyPostfilter(n_freq=64, width=5, gains=(1.0, 1.5))
    assert ValleyPostfilter.from_dict(json.loads(json.dumps(pf.to_dict()))) == pf
    np.testing.assert_allclose(pf.gain_per_bin(), [1.0] * 32 + [1.5] * 32)
    assert pf.describe() == "valley, 5-bin envelope, gains 1.00-1.50 in 2 bands"
    for bad in ({"width": 4}, {"width": 1}, {"gains": (0.5,)}, {"gains": ()}, {"gains": (float("nan"),)}):
        with pytest.raises(ConfigError, match="ValleyPostfilter"):
            ValleyPostfilter(**{"n_freq": 64, "width": 5, "gains": (1.0,), **bad})
    for bad in ({"kind": "other"}, {**pf.to_dict(), "extra": 1}, {**pf.to_dict(), "gains": "1.5"}, [1, 2]):
        with pytest.raises(ConfigError, match="postfilter"):
            ValleyPostfilter.from_dict(bad)


keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def bundle_with_postfilter(tmp_path_factory):
    from vae_audio import bundle

    from helpers import tiny_conv_vae

    vae, recipe = tiny_conv_vae()  # 17 bins x 26 frames
    pf = ValleyPostfilter(n_freq=17, width=3, gains=(3.0,))
    root = tmp_path_factory.mktemp("pf")
    plain = bundle.save_model(vae, root / "plain", recipe=recipe)
    filtered = bundle.save_model(vae, root / "filtered", recipe=recipe, postfilter=pf)
    with pytest.raises(ConfigError, match="postfilter: expected None or a ValleyPostfilter over 17 bins"):
        bundle.save_model(vae, root / "bad", recipe=recipe,
                          postfilter=ValleyPostfilter(n_freq=9, width=3, gains=(2.0,)))
    assert not (root / "bad").exists()
    return plain, filtered, pf


def test_the_bundle_keeps_the_postfilter_and_decode_applies_it(bundle_with_postfilter, tmp_path):
    from vae_audio import bundle

    plain_dir, filtered_dir, pf = bundle_with_postfilter
    plain, filtered = bundle.load_model(plain_dir), bundle.load_model(filtered_dir)
    assert plain.postfilter is None and json.loads((plain_dir / "config.json").read_text())["postfilter"] is None
    assert filtered.postfilter == pf
    z = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    raw = plain.decode(z)
    np.testing.assert_allclose(filtered.decode(z), pf(raw), atol=1e-6)
    assert not np.allclose(filtered.decode(z), raw)
    # a bundle written before the postfilter existed (no key at all) loads without one
    old = edited_bundle(plain_dir, tmp_path / "old", lambda info: info.pop("postfilter"))
    assert bundle.load_model(old).postfilter is None


@pytest.mark.parametrize("edit, match", [
    (lambda pf: {**pf, "gains": [0.2]}, "corrupt"),
    (lambda pf: {**pf, "n_freq": 33}, "covers 33 bins"),
    (lambda pf: "valley", "corrupt"),
])
def test_a_tampered_postfilter_is_refused_naming_config_json(bundle_with_postfilter, tmp_path, edit, match):
    from vae_audio import bundle

    path = edited_bundle(bundle_with_postfilter[1], tmp_path / "m",
                         lambda info: info.update(postfilter=edit(info["postfilter"])))
    with pytest.raises(BundleError, match=rf"config\.json: .*{match}"):
        bundle.load_model(path)


def test_training_fits_none_for_a_mel_model():
    """Mel bands do not resolve harmonics: fit_training_postfilter returns None before touching the data."""
    from types import SimpleNamespace

    from vae_audio.training import fit_training_postfilter

    assert fit_training_postfilter(SimpleNamespace(config=SimpleNamespace(n_mels=64)), features=None) is None
