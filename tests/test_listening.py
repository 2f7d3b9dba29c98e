"""The listening judges: PESQ, STOI and the blind two-sample test say "good" and "bad" where they should."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from vae_audio.errors import ParameterError
from vae_audio.evaluation.listening import blind_features, pesq_nb, spectral_flatness, stoi_concat, two_sample_accuracy

SR = 8000


def vowels(n: int, seconds: float = 0.8, seed: int = 0) -> np.ndarray:
    """Speech-like clips ``(n, samples)``: a gliding glottal pulse train through two formant resonators,
    with an onset and a decay, then silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = []
    for _ in range(n):
        f0 = rng.uniform(90, 220) * (1 + 0.15 * t)
        phase = 2 * np.pi * np.cumsum(f0) / SR
        source = np.maximum(np.sin(phase), 0) ** 8
        y = source
        for formant, bw in ((rng.uniform(300, 800), 80), (rng.uniform(900, 2500), 120)):
            r = np.exp(-np.pi * bw / SR)
            y = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / SR), r * r], y)
        env = np.clip(t / 0.05, 0, 1) * np.clip((0.6 - t) / 0.1, 0, 1)
        y = y * env
        out.append(0.5 * y / np.abs(y).max())
    return np.asarray(out, dtype=np.float32)


def blurred(y: np.ndarray) -> np.ndarray:
    """Each clip with its STFT magnitude smoothed along frequency (harmonics gone), original phase."""
    import librosa

    spec = librosa.stft(y, n_fft=256, hop_length=64)
    mag = uniform_filter1d(np.abs(spec), size=9, axis=-2)
    return librosa.istft(mag * np.exp(1j * np.angle(spec)), n_fft=256, hop_length=64, length=y.shape[-1]).astype(
        np.float32)


@pytest.fixture(scope="module")
def clips():
    return vowels(40, seed=1)


def test_pesq_and_stoi_rank_clean_above_degraded(clips):
    noisy = clips + 0.05 * np.random.default_rng(0).standard_normal(clips.shape).astype(np.float32)
    same = pesq_nb(clips[:6], clips[:6], SR)
    worse = pesq_nb(clips[:6], noisy[:6], SR)
    assert same.shape == (6,) and np.all(same > 4.0) and np.all(worse < same - 1.0)
    assert stoi_concat(clips, clips, SR) > 0.99
    assert stoi_concat(clips, noisy, SR) < stoi_concat(clips, blurred(clips), SR) < 0.99
    assert np.isnan(pesq_nb(np.zeros((1, 6000)), np.zeros((1, 6000)), SR)[0])  # no speech: not scored
    at_16k = pesq_nb(np.repeat(clips[:2], 2, axis=1), np.repeat(clips[:2], 2, axis=1), 16000)
    assert np.all(at_16k > 4.0)  # other rates are resampled to 8 kHz


def test_blind_features_ignore_the_level(clips):
    a, b = blind_features(clips[:4], SR), blind_features(0.03 * clips[:4], SR)
    assert a.shape == b.shape and a.shape[0] == 4 and a.shape[1] > 150
    np.testing.assert_allclose(a, b, atol=0.01)  # dB-scale features: equal to float32 STFT rounding


def test_spectral_flatness_is_low_for_harmonics_high_for_noise_and_level_free(clips):
    real = spectral_flatness(clips, SR)
    assert real.shape == (40,) and np.all(real > 0) and np.median(real) < 0.15
    np.testing.assert_allclose(spectral_flatness(0.01 * clips, SR), real, rtol=1e-3)  # the level does not count
    noise = spectral_flatness(np.random.default_rng(0).standard_normal((4, 6400)), SR)
    assert np.all(np.abs(noise - 0.56) < 0.03)  # white noise: exp(-gamma) of a chi-square-2 spectrum
    noisy = clips + 0.02 * np.random.default_rng(1).standard_normal(clips.shape).astype(np.float32)
    assert np.median(spectral_flatness(noisy, SR)) > 3 * np.median(real)  # a noise floor under the harmonics
    silent = spectral_flatness(np.zeros((2, 6400)), SR)
    assert np.all(np.isnan(silent))  # no audible frame: not scored
    # the silence around a sound does not count: padding a clip with zeros leaves it unchanged
    padded = np.concatenate([clips[:3], np.zeros((3, 8000), np.float32)], axis=1)
    np.testing.assert_allclose(spectral_flatness(padded, SR), real[:3], rtol=0.05)


def test_two_sample_test_says_same_for_the_same_and_bad_for_blurred(clips):
    other = vowels(40, seed=2)  # new clips of the same kind
    null = two_sample_accuracy(clips, other, SR)
    assert null["n_pairs"] == 40 and null["folds"] == 5 and null["accuracy"] <= 0.7
    bad = two_sample_accuracy(clips, blurred(clips), SR)
    assert bad["accuracy"] >= 0.9
    noise = two_sample_accuracy(clips, np.random.default_rng(3).standard_normal(clips.shape).astype(np.float32), SR)
    assert noise["accuracy"] >= 0.95


def test_bad_arguments():
    with pytest.raises(ParameterError, match="one shape"):
        pesq_nb(np.zeros((2, 100)), np.zeros((3, 100)), SR)
    with pytest.raises(ParameterError, match="NaN"):
        stoi_concat(np.full((1, 8000), np.nan), np.zeros((1, 8000)), SR)
    with pytest.raises(ParameterError, match="too few"):
        two_sample_accuracy(np.zeros((4, 800)), np.zeros((4, 800)), SR)
