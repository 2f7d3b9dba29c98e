"""The listening judges: PESQ, STOI and the machine listener say "good" and "bad" where they should."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from vae_audio.errors import ParameterError
from vae_audio.evaluation.listener import (
    CUES,
    label_matched,
    listener_features,
    paired_test,
    side_by_side,
    unpaired_test,
)
from vae_audio.evaluation.listening import pesq_nb, spectral_flatness, stoi_concat

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


def test_the_listener_hears_no_level_and_names_a_cue_for_every_column(clips):
    a, cues = listener_features(clips[:4], SR)
    b, _ = listener_features(0.03 * clips[:4], SR)
    assert a.shape == b.shape and a.shape[0] == 4 and a.shape[1] == len(cues) > 200
    assert set(cues) == set(CUES) and cues == sorted(cues, key=CUES.index)  # columns grouped in cue order
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)  # each clip is heard at its own peak
    # what is quieter than the floor is not heard: a hum 70 dB under the peak changes (almost) nothing
    hum = 0.5 * 10 ** (-70 / 20) * np.sin(2 * np.pi * 50 * np.arange(clips.shape[1]) / SR)
    c, _ = listener_features(clips[:4] + hum.astype(np.float32), SR)
    loud, _ = listener_features(clips[:4] + 300 * hum.astype(np.float32), SR)
    assert np.abs(c - a).mean() < 0.2 * np.abs(loud - a).mean()


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


def test_the_listener_says_same_for_the_same_and_bad_for_blurred_and_noise(clips):
    other = vowels(40, seed=2)  # new clips of the same kind
    null = unpaired_test(clips, other, SR)
    assert null["n"] == 40 and null["accuracy"] <= 0.7 and set(null["by_classifier"]) == {"logistic_regression",
                                                                                          "boosted_trees"}
    assert null["accuracy"] == max(null["by_classifier"].values()) and null["per_label"] is None
    bad = paired_test(clips, blurred(clips), SR)
    assert bad["accuracy"] >= 0.9 and bad["n"] == 40
    # it says which cues it keyed on: every group, sorted, and the top one costs it accuracy when shuffled
    assert list(bad["cues"]) != [] and set(bad["cues"]) == set(CUES) and list(bad["cues"].values())[0] > 0
    noise = paired_test(clips, np.random.default_rng(3).standard_normal(clips.shape).astype(np.float32), SR)
    assert noise["accuracy"] >= 0.95
    assert side_by_side(clips, blurred(clips), SR) >= 0.9


def test_unpaired_sets_are_compared_label_by_label(clips):
    labels = np.arange(40) % 2
    other, other_labels = vowels(30, seed=4), np.r_[np.zeros(25), np.ones(5)].astype(int)
    ia, ib = label_matched(labels, other_labels, seed=0)
    assert np.bincount(labels[ia]).tolist() == np.bincount(other_labels[ib]).tolist() == [20, 5]
    r = unpaired_test(clips, other, SR, labels_real=labels, labels_other=other_labels, label_names=["low", "high"])
    assert r["n"] == 25 and set(r["per_label"]) == {"low", "high"}


def test_bad_arguments():
    with pytest.raises(ParameterError, match="one shape"):
        pesq_nb(np.zeros((2, 100)), np.zeros((3, 100)), SR)
    with pytest.raises(ParameterError, match="NaN"):
        stoi_concat(np.full((1, 8000), np.nan), np.zeros((1, 8000)), SR)
    with pytest.raises(ParameterError, match="at least 10 clips each"):
        paired_test(np.zeros((4, 800)), np.zeros((4, 800)), SR)
    with pytest.raises(ParameterError, match="finite clips"):
        listener_features(np.full((2, 800), np.nan), SR)
