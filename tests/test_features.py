"""Spectrogram features (vae_audio.dsp.features): config, STFT, dB, mel, normalization."""

from __future__ import annotations

import dataclasses
import json
import warnings

import librosa
import numpy as np
import pytest

from vae_audio.dsp.features import (
    Normalizer,
    SpectrogramConfig,
    amplitude_to_db,
    db_to_amplitude,
    db_to_magnitude,
    mel_filterbank,
    n_stft_frames,
    spectrogram_db,
    stft_magnitude,
)
from vae_audio.errors import ConfigError, ParameterError, VaeAudioError

from helpers import sine

SMALL = dict(sr=8000, n_fft=256, hop_length=64, n_samples=4000)


def one_line_error(excinfo, *names):
    msg = str(excinfo.value)
    assert isinstance(excinfo.value, VaeAudioError) and isinstance(excinfo.value, ValueError)
    assert "\n" not in msg
    for name in names:
        assert name in msg, (name, msg)


@pytest.fixture
def strict():
    """Any warning or floating-point error (divide by zero, invalid) becomes an exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            yield


def noisy_batch(shape, seed=0, amplitude=0.3):
    return (amplitude * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


# ====================================================================== SpectrogramConfig
def test_config_derived_sizes():
    cfg = SpectrogramConfig(**SMALL)
    assert cfg.n_stft_bins == cfg.n_freq == 129
    assert cfg.n_frames == 1 + 4000 // 64 == 63
    assert cfg.shape == (129, 63)
    assert cfg.duration == 0.5
    mel = cfg.replace(n_mels=40)
    assert mel.n_freq == 40 and mel.n_stft_bins == 129 and mel.shape == (40, 63)
    for c in (cfg, mel):  # the sizes are what the transform really produces
        assert spectrogram_db(np.zeros(c.n_samples, np.float32), c).shape == c.shape
    assert "sr=8000" in cfg.describe() and "\n" not in cfg.describe()


@pytest.mark.parametrize("n_fft, hop, n", [(255, 100, 1000), (257, 64, 4000), (17, 4, 99), (512, 128, 22050)])
def test_config_n_frames_is_exact_for_odd_n_fft(n_fft, hop, n):
    cfg = SpectrogramConfig(sr=8000, n_fft=n_fft, hop_length=hop, n_samples=n)
    assert spectrogram_db(np.zeros(n, np.float32), cfg).shape == cfg.shape
    assert cfg.n_frames == n_stft_frames(n, n_fft=n_fft, hop_length=hop)


def test_config_is_frozen_and_hashable():
    cfg = SpectrogramConfig(**SMALL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.sr = 16000
    assert hash(cfg) == hash(SpectrogramConfig(**SMALL))
    assert cfg.replace(hop_length=32) != cfg and cfg.hop_length == 64


@pytest.mark.parametrize("kwargs", [
    {},
    SMALL,
    dict(SMALL, n_mels=40, fmin=50.0, fmax=3800, db_floor=-100, db_ceiling=10.0),
    dict(sr=np.int64(16000), n_fft=np.int32(512), hop_length=np.int64(128), n_samples=np.int64(16000),
         n_mels=np.int64(64), fmax=np.float32(7000.0), db_floor=np.float32(-90.0), db_ceiling=np.float64(0.0)),
])
def test_config_json_round_trip(kwargs):
    cfg = SpectrogramConfig(**kwargs)
    text = json.dumps(cfg.to_dict())
    back = SpectrogramConfig.from_dict(json.loads(text))
    assert back == cfg
    assert back.to_dict() == cfg.to_dict()
    assert set(cfg.to_dict()) == {f.name for f in dataclasses.fields(SpectrogramConfig)}


def test_config_from_dict_errors():
    with pytest.raises(ConfigError) as excinfo:
        SpectrogramConfig.from_dict({"sr": 8000, "nfft": 256})
    one_line_error(excinfo, "nfft")
    with pytest.raises(ConfigError):
        SpectrogramConfig.from_dict([("sr", 8000)])
    assert SpectrogramConfig.from_dict({"sr": 8000}) == SpectrogramConfig(sr=8000)


@pytest.mark.parametrize("kwargs, field", [
    ({"sr": 0}, "sr"), ({"sr": 500}, "sr"), ({"sr": "abc"}, "sr"), ({"sr": 8000.5}, "sr"), ({"sr": True}, "sr"),
    ({"sr": 10 ** 9}, "sr"),
    ({"n_fft": 8}, "n_fft"), ({"n_fft": 512.0}, "n_fft"), ({"n_fft": None}, "n_fft"),
    ({"hop_length": 0}, "hop_length"), ({"hop_length": 1024}, "hop_length"),
    ({"n_samples": 0}, "n_samples"), ({"n_samples": -1}, "n_samples"),
    ({"n_mels": 0}, "n_mels"), ({"n_mels": 300}, "n_mels"), ({"n_mels": 40.5}, "n_mels"),
    ({"db_floor": float("nan")}, "db_floor"), ({"db_floor": "abc"}, "db_floor"), ({"db_floor": None}, "db_floor"),
    ({"db_ceiling": -90.0}, "db_ceiling"), ({"db_ceiling": "x"}, "db_ceiling"),
    ({"db_ceiling": float("inf")}, "db_ceiling"),
    ({"n_mels": 40, "fmin": -10.0}, "fmin"), ({"n_mels": 40, "fmin": 20000.0}, "fmin"),
    ({"fmin": "low"}, "fmin"),
    ({"fmax": 20000.0}, "fmax"), ({"fmax": "x"}, "fmax"), ({"fmin": 1000.0, "fmax": 500.0}, "fmax"),
])
def test_config_invalid_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as excinfo:
        SpectrogramConfig(**kwargs)
    one_line_error(excinfo, f"{field}=")
    with pytest.raises(ConfigError):  # also through from_dict and replace
        SpectrogramConfig.from_dict(kwargs)
    with pytest.raises(ConfigError):
        SpectrogramConfig().replace(**kwargs)


def test_config_from_duration():
    cfg = SpectrogramConfig.from_duration(0.75, sr=8000, n_fft=256, hop_length=64)
    assert cfg.n_samples == 6000 and cfg.sr == 8000
    assert SpectrogramConfig.from_duration(1.0).n_samples == SpectrogramConfig().sr
    for bad in (0, -1.0, float("nan"), "1s", True):
        with pytest.raises(ConfigError) as excinfo:
            SpectrogramConfig.from_duration(bad, sr=8000)
        one_line_error(excinfo, "duration=")


# ====================================================================== STFT / dB / mel
@pytest.mark.parametrize("n_fft, hop, n", [(256, 64, 4000), (512, 128, 3001), (64, 16, 100), (255, 100, 1000)])
def test_stft_matches_librosa(n_fft, hop, n):
    y = noisy_batch(n, seed=n) + sine(440, 8000, n / 8000)
    mag = stft_magnitude(y, n_fft=n_fft, hop_length=hop)
    ref = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, window="hann", center=True))
    assert mag.shape == ref.shape == (1 + n_fft // 2, n_stft_frames(n, n_fft=n_fft, hop_length=hop))
    if n_fft % 2 == 0:
        assert mag.shape[1] == 1 + n // hop
    assert mag.dtype == np.float32
    np.testing.assert_allclose(mag, ref, rtol=1e-5, atol=1e-5 * ref.max())


def test_stft_batches_match_single_clips():
    batch = noisy_batch((2, 3, 1000), seed=3)
    mag = stft_magnitude(batch, n_fft=128, hop_length=32)
    assert mag.shape == (2, 3, 65, 1 + 1000 // 32)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(mag[i, j], stft_magnitude(batch[i, j], n_fft=128, hop_length=32),
                                       rtol=1e-6, atol=1e-6)


def test_stft_of_a_tone_peaks_at_its_bin():
    mag = stft_magnitude(sine(1000, 8000, 0.5), n_fft=256, hop_length=64)
    assert np.all(np.argmax(mag[:, 4:-4], axis=0) == round(1000 * 256 / 8000))


@pytest.mark.parametrize("kwargs, name", [
    (dict(y=np.array([0.0, np.nan, 0.0] * 100), n_fft=64, hop_length=16), "NaN"),
    (dict(y=np.zeros(0), n_fft=64, hop_length=16), "y"),
    (dict(y=np.array(1.0), n_fft=64, hop_length=16), "y"),
    (dict(y=np.array(["a", "b"]), n_fft=64, hop_length=16), "y"),
    (dict(y=np.zeros(1000), n_fft=0, hop_length=16), "n_fft="),
    (dict(y=np.zeros(1000), n_fft=64.5, hop_length=16), "n_fft="),
    (dict(y=np.zeros(1000), n_fft=64, hop_length=0), "hop_length="),
    (dict(y=np.zeros(1000), n_fft=64, hop_length="16"), "hop_length="),
])
def test_stft_bad_input(kwargs, name):
    with pytest.raises(ParameterError) as excinfo:
        stft_magnitude(kwargs.pop("y"), **kwargs)
    one_line_error(excinfo, name)


def test_db_conversion_and_exact_inverse():
    rng = np.random.default_rng(0)
    mag = 10 ** rng.uniform(-3.9, 1.5, size=(3, 20, 30))  # all above the -80 dB floor
    s_db = amplitude_to_db(mag, db_floor=-80)
    assert s_db.dtype == np.float32 and s_db.shape == mag.shape
    np.testing.assert_allclose(s_db, 20 * np.log10(mag), atol=1e-4)
    np.testing.assert_allclose(db_to_amplitude(s_db), mag, rtol=2e-5)
    d = np.linspace(-80, 30, 1001)
    np.testing.assert_allclose(amplitude_to_db(db_to_amplitude(d), db_floor=-80), d, atol=1e-4)
    # below the floor (and zero, and negative junk) everything sits exactly at the floor
    np.testing.assert_array_equal(amplitude_to_db(np.array([0.0, 1e-9, 1e-4, -1.0]), db_floor=-80), -80.0)
    np.testing.assert_array_equal(amplitude_to_db(np.array([0.0, 1e-3]), db_floor=-60), [-60.0, -60.0])


def test_db_conversion_bad_floor():
    for bad in (float("nan"), float("inf"), "abc", None):
        with pytest.raises(ParameterError) as excinfo:
            amplitude_to_db(np.ones(3), db_floor=bad)
        one_line_error(excinfo, "db_floor=")


def test_spectrogram_db_linear_matches_definition_and_clips():
    cfg = SpectrogramConfig(**SMALL, db_floor=-70, db_ceiling=-5)
    y = sine(440, 8000, 0.5, amplitude=0.9)
    s_db = cfg.spectrogram_db(y)
    ref = 20 * np.log10(np.maximum(np.abs(librosa.stft(y, n_fft=256, hop_length=64)), 10 ** (-70 / 20)))
    assert s_db.shape == cfg.shape and s_db.dtype == np.float32
    np.testing.assert_allclose(s_db, np.minimum(ref, -5), atol=1e-3)
    assert s_db.min() == -70 and s_db.max() == -5


def test_spectrogram_db_mel():
    cfg = SpectrogramConfig(**SMALL, n_mels=40, fmin=30.0, fmax=3900.0)
    batch = noisy_batch((2, cfg.n_samples), seed=1)
    s_db = spectrogram_db(batch, cfg)
    assert s_db.shape == (2, 40, cfg.n_frames)
    ref_mel = librosa.feature.melspectrogram(y=batch[1], sr=8000, n_fft=256, hop_length=64, power=1.0,
                                             n_mels=40, fmin=30.0, fmax=3900.0)
    np.testing.assert_allclose(s_db[1], amplitude_to_db(ref_mel, db_floor=cfg.db_floor), atol=2e-3)
    fb = mel_filterbank(sr=8000, n_fft=256, n_mels=40, fmin=30.0, fmax=3900.0)
    assert fb.shape == (40, 129) and fb.dtype == np.float32
    np.testing.assert_allclose(fb, librosa.filters.mel(sr=8000, n_fft=256, n_mels=40, fmin=30.0, fmax=3900.0))


def test_db_to_magnitude_inverse_and_floor_is_silence():
    cfg = SpectrogramConfig(**SMALL)
    y = sine(440, 8000, 0.5) * np.linspace(0, 1, 4000, dtype=np.float32)
    mag = stft_magnitude(y, n_fft=256, hop_length=64)
    back = cfg.db_to_magnitude(cfg.spectrogram_db(y))
    assert back.shape == mag.shape and back.dtype == np.float32
    amin = 10 ** (cfg.db_floor / 20)
    above = mag > amin * 1.001
    assert above.any() and (~above).any()
    np.testing.assert_allclose(back[above], mag[above], rtol=2e-5)
    assert not np.any(back[mag < amin])  # at the floor -> exactly 0, not a 1e-4 hiss
    # scalars and lists work too
    assert db_to_magnitude(np.float32(-80.0), cfg) == 0.0
    assert db_to_magnitude(-20.0, cfg) == pytest.approx(0.1)
    np.testing.assert_allclose(db_to_magnitude([-80.0, -79.0, 0.0], cfg), [0.0, 10 ** (-79 / 20), 1.0], rtol=1e-6)


def test_db_to_magnitude_refuses_nan():
    with pytest.raises(ParameterError) as excinfo:
        db_to_magnitude(np.array([[0.0, np.nan]]), SpectrogramConfig())
    one_line_error(excinfo, "s_db")


# ====================================================================== Normalizer
def training_spectrograms(cfg, n=6, seed=0):
    rng = np.random.default_rng(seed)
    clips = [sine(rng.uniform(200, 2000), cfg.sr, cfg.duration, amplitude=rng.uniform(0.01, 0.9))
             + noisy_batch(cfg.n_samples, seed=seed + i, amplitude=0.01) for i in range(n)]
    return spectrogram_db(np.stack(clips), cfg)


def test_normalizer_global_fit_round_trip(strict):
    cfg = SpectrogramConfig(**SMALL)
    train = training_spectrograms(cfg)
    norm = Normalizer().fit(train)
    assert norm.low_db == pytest.approx(float(train.min())) and norm.high_db == pytest.approx(float(train.max()))
    x = norm.normalize(train)
    assert x.dtype == np.float32 and x.shape == train.shape
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(norm.unnormalize(x), train, rtol=0, atol=1e-4)
    assert np.max(np.abs(norm.unnormalize(x) - train)) < 1e-4


def test_normalizer_fixed_range():
    norm = Normalizer.fixed(-80.0, 0.0)
    s = np.array([[-80.0, -40.0, 0.0], [-60.0, -20.0, -10.0]])
    x = norm.normalize(s)
    np.testing.assert_allclose(x, [[0.0, 0.5, 1.0], [0.25, 0.75, 0.875]], atol=1e-7)
    np.testing.assert_allclose(norm.unnormalize(x), s, atol=1e-4)
    # outside the range: clipped by default, exact with clip=False
    wide = np.array([[-100.0, 10.0]])
    np.testing.assert_array_equal(norm.normalize(wide), [[0.0, 1.0]])
    loose = Normalizer(low_db=-80.0, high_db=0.0, clip=False)
    np.testing.assert_allclose(loose.unnormalize(loose.normalize(wide)), wide, atol=1e-4)


def test_normalizer_per_clip_round_trip(strict):
    cfg = SpectrogramConfig(**SMALL, n_mels=32)
    train = training_spectrograms(cfg, n=5, seed=2)
    norm = Normalizer(mode="per_clip")
    x, stats = norm.normalize(train, return_stats=True)
    assert x.shape == train.shape and x.dtype == np.float32
    np.testing.assert_array_equal(x.min(axis=(-2, -1)), 0.0)
    np.testing.assert_array_equal(x.max(axis=(-2, -1)), 1.0)
    assert stats["low_db"].shape == stats["high_db"].shape == (5,)
    back = norm.unnormalize(x, stats)
    assert np.max(np.abs(back - train)) < 1e-4
    # stats survive JSON (e.g. saved next to a reconstruction) and still invert exactly
    stats_json = json.loads(json.dumps({k: v.tolist() for k, v in stats.items()}))
    assert np.max(np.abs(norm.unnormalize(x, stats_json) - train)) < 1e-4
    # one clip at a time gives the same as the batch
    x0, s0 = norm.normalize(train[0], return_stats=True)
    np.testing.assert_array_equal(x0, x[0])
    assert np.max(np.abs(norm.unnormalize(x0, s0) - train[0])) < 1e-4


def test_normalizer_per_clip_fit_is_mean_clip_range_and_streams():
    rng = np.random.default_rng(5)
    data = rng.uniform(-80, 0, size=(10, 8, 9))
    full = Normalizer(mode="per_clip").fit(data)
    assert full.low_db == pytest.approx(data.min(axis=(1, 2)).mean())
    assert full.high_db == pytest.approx(data.max(axis=(1, 2)).mean())
    streamed = Normalizer(mode="per_clip")
    for chunk in (data[:3], data[3:4], data[4:]):
        streamed.partial_fit(chunk)
    assert streamed.low_db == pytest.approx(full.low_db) and streamed.high_db == pytest.approx(full.high_db)
    one_by_one = Normalizer(mode="per_clip")
    for clip in data:  # single (freq, frames) spectrograms count as one clip each
        one_by_one.partial_fit(clip)
    assert one_by_one.low_db == pytest.approx(full.low_db) and one_by_one.high_db == pytest.approx(full.high_db)
    # fit() starts over
    refit = Normalizer(mode="per_clip").fit(data[:5]).fit(data)
    assert refit.low_db == pytest.approx(full.low_db)
    # without stats, per-clip unnormalize falls back to the fitted mean range (prior samples)
    np.testing.assert_allclose(full.unnormalize(np.zeros((1, 2, 2))), full.low_db, atol=1e-4)
    np.testing.assert_allclose(full.unnormalize(np.ones((1, 2, 2))), full.high_db, atol=1e-4)


def test_normalizer_global_partial_fit_equals_fit():
    rng = np.random.default_rng(6)
    data = rng.uniform(-80, 0, size=(10, 8, 9))
    streamed = Normalizer()
    for chunk in np.array_split(data, 4):
        streamed.partial_fit(chunk)
    full = Normalizer().fit(data)
    assert (streamed.low_db, streamed.high_db) == (full.low_db, full.high_db) == (data.min(), data.max())


def test_normalizer_failed_fit_keeps_previous_state():
    norm = Normalizer().fit(np.array([[-50.0, -10.0]]))
    with pytest.raises(ParameterError):
        norm.fit(np.array([[np.nan, 0.0]]))
    assert (norm.low_db, norm.high_db) == (-50.0, -10.0)
    per = Normalizer(mode="per_clip").fit(np.array([[[-50.0, -10.0]]]))
    with pytest.raises(ParameterError):
        per.fit(np.zeros(5))
    assert (per.low_db, per.high_db) == (-50.0, -10.0)


@pytest.mark.parametrize("mode", ["global", "per_clip"])
def test_normalizer_silent_clips_never_divide_by_zero(strict, mode):
    silent = np.full((3, 16, 20), -80.0, dtype=np.float32)  # spectrograms of digital silence
    norm = Normalizer(mode=mode).fit(silent)
    assert norm.low_db == norm.high_db == -80.0
    x, stats = norm.normalize(silent, return_stats=True)
    assert np.all(np.isfinite(x)) and np.all(x == 0.0)
    np.testing.assert_array_equal(norm.unnormalize(x, stats), silent)
    np.testing.assert_array_equal(norm.unnormalize(x), silent)
    # a constant clip mixed with real ones in per-clip mode, and a degenerate global range
    mixed = np.concatenate([silent[:1], np.random.default_rng(0).uniform(-80, 0, (1, 16, 20))]).astype(np.float32)
    y, s = Normalizer(mode="per_clip").normalize(mixed, return_stats=True)
    assert np.all(np.isfinite(y)) and np.all(y[0] == 0.0)
    assert np.max(np.abs(Normalizer(mode="per_clip").unnormalize(y, s) - mixed)) < 1e-4
    z = Normalizer.fixed(-30.0, -30.0).normalize(mixed)
    assert np.all(np.isfinite(z)) and z.min() >= 0 and z.max() <= 1


@pytest.mark.parametrize("norm", [
    Normalizer.fixed(-80, 0),
    Normalizer(mode="per_clip", low_db=-75.5, high_db=-3.25, clip=False),
    Normalizer(mode="per_clip"),
    Normalizer(),
])
def test_normalizer_json_round_trip(norm):
    data = json.loads(json.dumps(norm.to_dict()))
    back = Normalizer.from_dict(data)
    assert back == norm and back.to_dict() == norm.to_dict()
    if norm.is_fitted:
        x = np.linspace(0, 1, 12).reshape(3, 4)
        np.testing.assert_array_equal(back.unnormalize(x), norm.unnormalize(x))


def test_normalizer_fitted_state_is_plain_json():
    norm = Normalizer().fit(np.float32([[-61.5, -2.25]]))
    text = json.dumps(norm.to_dict())
    assert json.loads(text) == {"mode": "global", "low_db": -61.5, "high_db": -2.25, "clip": True}


@pytest.mark.parametrize("kwargs, name", [
    ({"mode": "minmax"}, "mode="), ({"low_db": "x", "high_db": 0.0}, "low_db="),
    ({"low_db": 0.0, "high_db": float("nan")}, "high_db="), ({"low_db": 0.0, "high_db": -10.0}, "high_db="),
    ({"clip": "yes"}, "clip="),
])
def test_normalizer_invalid_config(kwargs, name):
    with pytest.raises(ConfigError) as excinfo:
        Normalizer(**kwargs)
    one_line_error(excinfo, name)
    with pytest.raises(ConfigError):
        Normalizer.from_dict(kwargs)


def test_normalizer_bad_use():
    with pytest.raises(ConfigError) as excinfo:
        Normalizer().normalize(np.zeros((2, 3)))
    one_line_error(excinfo, "fit")
    with pytest.raises(ConfigError):
        Normalizer.from_dict({"mode": "global", "scale": 2})
    norm = Normalizer.fixed(-80, 0)
    for bad in (np.zeros(5), np.array([[np.nan, 0.0]])):
        with pytest.raises(ParameterError) as excinfo:
            norm.normalize(bad)
        one_line_error(excinfo, "spectrograms_db")
    per = Normalizer(mode="per_clip")
    x, stats = per.normalize(np.zeros((3, 4, 5)), return_stats=True)
    with pytest.raises(ParameterError) as excinfo:
        per.unnormalize(x, {"low_db": [0.0, 1.0]})
    one_line_error(excinfo, "stats")
    with pytest.raises(ParameterError) as excinfo:
        per.unnormalize(x, {"low_db": [0.0, 1.0], "high_db": [1.0, 2.0]})
    one_line_error(excinfo, "stats")
    with pytest.raises(ParameterError) as excinfo:  # stats of 3 clips for a single clip
        per.unnormalize(x[0], stats)
    one_line_error(excinfo, "stats")
    assert per.unnormalize(x[0], {"low_db": stats["low_db"][0], "high_db": stats["high_db"][0]}).shape == (4, 5)
