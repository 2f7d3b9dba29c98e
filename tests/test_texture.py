"""vae_audio.dsp.texture: noise grain restores the roughness a decoder smooths away, and only there."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vae_audio.dsp.texture import NoiseTexture, fit_noise_texture, noise_grain, noisiness, texture_roughness
from vae_audio.errors import ConfigError

N_FFT, HOP, FLOOR = 64, 16, -80.0


def spec_config(frames: int = 60):
    from vae_audio.dsp.features import SpectrogramConfig

    return SpectrogramConfig(sr=8000, n_fft=N_FFT, hop_length=HOP, n_samples=(frames - 1) * HOP, db_floor=FLOOR)


def noise_db(n: int, frames: int = 60, seed: int = 0) -> np.ndarray:
    """(n, 33, frames) dB spectrograms of decaying white noise: what a snare or a hat looks like."""
    from vae_audio.dsp.features import stft_magnitude

    rng = np.random.default_rng(seed)
    t = np.arange((frames - 1) * HOP) / 8000.0
    y = rng.standard_normal((n, t.size)) * np.exp(-t / 0.05)
    return 20 * np.log10(np.maximum(stft_magnitude(y.astype(np.float32), n_fft=N_FFT, hop_length=HOP), 1e-4))


def smoothed(db: np.ndarray) -> np.ndarray:
    """What a decoder renders of noise: its envelope (a 5 x 5 moving average of the power)."""
    from scipy.ndimage import uniform_filter

    return 10 * np.log10(uniform_filter(10 ** (db / 10), size=(1, 5, 5), mode="nearest"))


def test_the_grain_is_a_noise_stft_in_db():
    g = noise_grain((4, 33, 200), n_fft=N_FFT, hop_length=HOP, seed=3)
    assert g.shape == (4, 33, 200) and g.dtype == np.float32
    inner = g[:, 2:-2]
    assert -3.5 < inner.mean() < -1.5  # a Rayleigh magnitude in dB: mean -2.5 dB at unit power
    assert 5.0 < inner.std() < 6.3  # and a spread of 5.6 dB
    assert abs(np.mean(10 ** (inner / 10)) - 1.0) < 0.05  # the energy is unchanged
    np.testing.assert_array_equal(g, noise_grain((4, 33, 200), n_fft=N_FFT, hop_length=HOP, seed=3))
    assert not np.allclose(g, noise_grain((4, 33, 200), n_fft=N_FFT, hop_length=HOP, seed=4))
    with pytest.raises(ConfigError, match="do not match n_fft"):
        noise_grain((2, 30, 10), n_fft=N_FFT, hop_length=HOP, seed=0)


def test_noisiness_separates_a_smooth_envelope_from_harmonics():
    f = np.arange(33)[:, None]
    envelope = np.repeat(-20.0 - 0.5 * f, 10, axis=1)
    harmonics = envelope + np.where(f % 6 == 0, 0.0, -30.0)
    assert noisiness(envelope[None])[0, 5:-5].min() > 0.9
    assert noisiness(harmonics[None])[0, 5:-5].max() < 0.3


def test_roughness_tells_noise_from_its_envelope():
    real = noise_db(8)
    r_real, r_smooth = texture_roughness(real, 4), texture_roughness(smoothed(real), 4)
    assert r_real.shape == (4, 2)
    assert np.all(r_real > 4.0) and np.all(r_smooth < 0.6 * r_real)
    silent = np.full((2, 33, 20), FLOOR)
    silent[:, :8] = -10.0  # only the lowest band has sound
    r = texture_roughness(silent, 4)
    assert np.all(r[0] == 0.0) and np.all(np.isnan(r[1:]))


def test_fit_restores_the_roughness_of_smoothed_noise_and_leaves_exact_reconstructions_alone():
    real = noise_db(16)
    recon = smoothed(real)
    tex = fit_noise_texture(recon, real, spec_config(), bands=4, render_clips=0)
    assert len(tex.amounts) == 4 and all(0.4 <= a <= 1.5 for a in tex.amounts)
    restored = texture_roughness(tex(recon, seed=1), 4).sum(1)
    np.testing.assert_allclose(restored, texture_roughness(real, 4).sum(1), rtol=0.1)
    assert fit_noise_texture(real, real, spec_config(), bands=4).amounts == (0.0,) * 4
    assert not fit_noise_texture(real, real, spec_config()).active
    for bad in (real[:, :, :30], real[:, :20]):
        with pytest.raises(ConfigError, match="one shape"):
            fit_noise_texture(recon, bad, spec_config())


@pytest.mark.slow
def test_fit_aims_higher_by_what_the_phase_step_smooths_away():
    """Rendered through the phase step, the textured reconstructions are as rough as the clips rendered so."""
    from vae_audio.dsp.texture import rendered_roughness

    real = noise_db(16)
    recon = smoothed(real)
    plain = fit_noise_texture(recon, real, spec_config(), bands=2, render_clips=0)
    tex = fit_noise_texture(recon, real, spec_config(), bands=2, render_clips=16)
    assert all(a >= p > 0.5 for a, p in zip(tex.amounts, plain.amounts))
    ceiling = rendered_roughness(real, spec_config(), 2).sum(1)
    np.testing.assert_allclose(rendered_roughness(tex(recon, seed=2), spec_config(), 2).sum(1), ceiling, rtol=0.1)
    assert np.all(rendered_roughness(recon, spec_config(), 2).sum(1) < 0.8 * ceiling)


def test_it_is_seeded_keeps_silence_and_does_nothing_without_amounts():
    tex = NoiseTexture(n_fft=N_FFT, hop_length=HOP, db_floor=FLOOR, amounts=(1.0, 0.0))
    db = smoothed(noise_db(2))
    db[:, :, :5] = FLOOR  # silent frames
    out = tex(db, seed=7)
    assert out.shape == db.shape and out.dtype == np.float32 and out.min() >= FLOOR
    np.testing.assert_array_equal(out[:, :, :5], FLOOR)
    np.testing.assert_array_equal(out, tex(db, seed=7))
    assert not np.allclose(out, tex(db, seed=8))
    # each spectrogram's grain follows the spectrogram, not its place in the batch
    np.testing.assert_array_equal(tex(db[::-1], seed=7), out[::-1])
    np.testing.assert_array_equal(tex(db[1:], seed=7)[0], out[1])
    twice = tex(np.stack([db[0], db[0]]), seed=7)
    np.testing.assert_array_equal(twice[0], twice[1])
    np.testing.assert_allclose(out[:, 17:], db[:, 17:].astype(np.float32))  # the upper band's amount is 0
    assert np.abs(out[:, :17, 5:] - db[:, :17, 5:]).mean() > 1.0
    off = NoiseTexture(n_fft=N_FFT, hop_length=HOP, db_floor=FLOOR, amounts=(0.0,))
    np.testing.assert_array_equal(off(db), db.astype(np.float32))


def test_round_trip_and_bad_settings():
    tex = NoiseTexture(n_fft=N_FFT, hop_length=HOP, db_floor=FLOOR, amounts=(0.5, 1.25))
    assert NoiseTexture.from_dict(json.loads(json.dumps(tex.to_dict()))) == tex
    assert tex.n_freq == 33 and tex.describe() == "noise texture, amounts 0.50-1.25 in 2 bands"
    np.testing.assert_allclose(tex.amount_per_bin(), [0.5] * 17 + [1.25] * 16)
    for bad in ({"amounts": (2.5,)}, {"amounts": (-0.1,)}, {"amounts": ()}, {"hop_length": 0},
                {"db_floor": float("nan")}, {"amounts": (float("nan"),)}):
        with pytest.raises(ConfigError, match="NoiseTexture"):
            NoiseTexture(**{"n_fft": N_FFT, "hop_length": HOP, "db_floor": FLOOR, "amounts": (1.0,), **bad})
    for bad in ({"kind": "valley"}, {**tex.to_dict(), "extra": 1}, {**tex.to_dict(), "amounts": "1"}, [1]):
        with pytest.raises(ConfigError, match="texture"):
            NoiseTexture.from_dict(bad)


keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def textured_bundle(tmp_path_factory):
    from vae_audio import bundle

    from helpers import tiny_conv_vae

    vae, recipe = tiny_conv_vae()  # 17 bins x 26 frames
    tex = NoiseTexture(n_fft=32, hop_length=16, db_floor=-80.0, amounts=(1.0, 0.5))
    root = tmp_path_factory.mktemp("tex")
    plain = bundle.save_model(vae, root / "plain", recipe=recipe)
    textured = bundle.save_model(vae, root / "textured", recipe=recipe, texture=tex)
    with pytest.raises(ConfigError, match="texture: a NoiseTexture of n_fft 64 / hop 16 does not fit n_fft 32 / hop"):
        bundle.save_model(vae, root / "bad", recipe=recipe,
                          texture=NoiseTexture(n_fft=64, hop_length=16, db_floor=-80.0, amounts=(1.0,)))
    assert not (root / "bad").exists()
    return plain, textured, tex


def test_the_bundle_keeps_the_texture_and_render_draws_it_seeded(textured_bundle, tmp_path):
    from vae_audio import bundle
    from vae_audio.errors import ParameterError

    from helpers import edited_bundle

    plain_dir, textured_dir, tex = textured_bundle
    plain, textured = bundle.load_model(plain_dir), bundle.load_model(textured_dir)
    assert plain.texture is None and json.loads((plain_dir / "config.json").read_text())["texture"] is None
    assert textured.texture == tex
    spec = plain.decode(np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32))
    db = plain.to_db(spec)
    # without a texture, render is the phase step alone; with one, the grain is drawn first, seeded by `seed`
    np.testing.assert_allclose(plain.render(db), plain.to_audio(spec), atol=1e-6)
    from vae_audio.dsp.phase import db_to_audio

    np.testing.assert_allclose(textured.render(db, seed=3), db_to_audio(tex(db, seed=3), plain.config, seed=3),
                               atol=1e-6)
    np.testing.assert_allclose(textured.to_audio(spec, seed=3), textured.render(db, seed=3), atol=1e-6)
    assert not np.allclose(textured.render(db, seed=3), textured.render(db, seed=4))
    assert textured.render(db[0]).shape == (1, 400)
    with pytest.raises(ParameterError, match="seed"):
        textured.render(db, seed=-1)
    with pytest.raises(ParameterError, match="texture: expected None or a NoiseTexture"):
        plain.texture = "grain"
    # a bundle written before the texture existed (no key at all) loads without one
    old = edited_bundle(plain_dir, tmp_path / "old", lambda info: info.pop("texture"))
    assert bundle.load_model(old).texture is None


@pytest.mark.parametrize("edit, match", [
    (lambda t: {**t, "amounts": [3.0]}, "corrupt"),
    (lambda t: {**t, "hop_length": 8}, "does not fit"),
    (lambda t: "grain", "corrupt"),
])
def test_a_tampered_texture_is_refused_naming_config_json(textured_bundle, tmp_path, edit, match):
    from vae_audio import bundle
    from vae_audio.errors import BundleError

    from helpers import edited_bundle

    path = edited_bundle(textured_bundle[1], tmp_path / "m",
                         lambda info: info.update(texture=edit(info["texture"])))
    with pytest.raises(BundleError, match=rf"config\.json: .*{match}"):
        bundle.load_model(path)


def test_training_fits_none_for_a_mel_model():
    from types import SimpleNamespace

    from vae_audio.training import fit_training_texture

    assert fit_training_texture(SimpleNamespace(config=SimpleNamespace(n_mels=64)), features=None) is None
