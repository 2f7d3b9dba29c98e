"""Tests of vae_audio.dsp.metrics: spectral convergence and log-spectral distance."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from vae_audio.dsp.features import SpectrogramConfig, mel_filterbank, stft_magnitude
from vae_audio.dsp.metrics import log_spectral_distance_db, spectral_convergence_db
from vae_audio.errors import ParameterError

SR, N_FFT, HOP, N = 8000, 256, 64, 2000
KW = dict(n_fft=N_FFT, hop_length=HOP)


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(N) / SR
    tones = np.stack([0.4 * np.sin(2 * np.pi * f * t) for f in (300.0, 900.0)])
    return (tones + 0.01 * rng.standard_normal(tones.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def mag(audio) -> np.ndarray:
    return stft_magnitude(audio, **KW)


def test_spectral_convergence_formula(mag):
    assert spectral_convergence_db(mag[0], 0.5 * mag[0]) == pytest.approx(20 * np.log10(0.5), abs=1e-9)
    assert spectral_convergence_db(mag[0], np.zeros_like(mag[0])) == pytest.approx(0.0, abs=1e-9)
    assert spectral_convergence_db(mag[0], mag[0]) < -200
    rng = np.random.default_rng(1)
    noisy = mag * (1 + 0.1 * rng.standard_normal(mag.shape)) ** 2
    expected = [20 * np.log10(np.linalg.norm(r - e) / np.linalg.norm(r)) for r, e in zip(mag, noisy)]
    np.testing.assert_allclose(spectral_convergence_db(mag, noisy), expected, rtol=1e-6)


def test_log_spectral_distance_formula(mag):
    assert log_spectral_distance_db(mag[0], mag[0]) == 0.0
    eps = 1e-5
    est = 0.5 * mag
    diff = 20 * np.log10((mag.astype(np.float64) + eps) / (est.astype(np.float64) + eps))
    expected = np.sqrt(np.mean(diff ** 2, axis=-2)).mean(axis=-1)
    np.testing.assert_allclose(log_spectral_distance_db(mag, est), expected, rtol=1e-9)
    # a uniform factor of 2 is ~6.02 dB wherever the magnitudes are far above eps
    loud = np.full((129, 4), 10.0)
    assert log_spectral_distance_db(loud, loud / 2) == pytest.approx(20 * np.log10(2), abs=1e-5)
    # eps only matters near silence
    assert log_spectral_distance_db(loud * 0, loud * 1e-9, eps=1e-3) < 1e-4


def test_audio_input_is_transformed_with_the_given_stft(audio, mag):
    values = spectral_convergence_db(mag, audio, **KW)
    assert isinstance(values, np.ndarray) and values.shape == (2,) and values.dtype == np.float64
    assert np.all(values < -100)  # the audio is exactly the reference's source
    single = spectral_convergence_db(mag[0], audio[0], **KW)
    assert isinstance(single, float) and single < -100
    cfg = SpectrogramConfig(sr=SR, n_fft=N_FFT, hop_length=HOP, n_samples=N)
    assert spectral_convergence_db(mag, -audio, config=cfg).shape == (2,)  # the sign is invisible
    assert np.all(log_spectral_distance_db(mag, audio[::-1], config=cfg) > 5)  # clips swapped
    lsd = log_spectral_distance_db(mag, audio, **KW)
    assert lsd.shape == (2,) and np.all(lsd < 1e-3)


def test_mel_reference_with_a_mel_config(audio, mag):
    cfg = SpectrogramConfig(sr=SR, n_fft=N_FFT, hop_length=HOP, n_samples=N, n_mels=40)
    fb = mel_filterbank(sr=SR, n_fft=N_FFT, n_mels=40)
    mel = fb @ mag
    assert np.all(spectral_convergence_db(mel, audio, config=cfg) < -100)
    assert spectral_convergence_db(mel, 2 * audio, config=cfg) == pytest.approx([0.0, 0.0], abs=1e-4)


def test_metrics_module_does_not_import_tensorflow():
    code = "import sys, vae_audio.dsp.metrics; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    "ref, est, kwargs, words",
    [
        ("mag", "mag3", {}, ["audio_or_mag", "(3, 129, 32)"]),
        ("neg", "mag", {}, ["reference_mag", "negative"]),
        ("mag", "negest", {}, ["audio_or_mag", "negative"]),
        ("mag", "nan", {}, ["audio_or_mag", "NaN"]),
        ("mag", "audio", {}, ["n_fft=", "hop_length="]),
        ("mag", "short", KW, ["1000 samples", "1984..2047 samples"]),
        ("mag", "audio", dict(n_fft=512, hop_length=HOP), ["n_fft = 256"]),
        ("mag", "audio3", KW, ["3 waveforms", "2 reference"]),
        ("vec", "vec", {}, ["reference_mag", "(freq, frames)"]),
        ("mag", "scalar", {}, ["audio_or_mag", "neither"]),
        ("mag", "complex", {}, ["complex"]),
        ("mag", "audio", dict(config="cfg"), ["config", "SpectrogramConfig"]),
    ],
)
def test_bad_input_raises_parameter_error(audio, mag, ref, est, kwargs, words):
    arrays = {
        "mag": mag, "mag3": np.ones((3, 129, 32)), "neg": -mag, "negest": -mag, "nan": mag * np.nan,
        "audio": audio, "short": audio[:, :1000], "audio3": np.ones((3, N)), "vec": np.ones(10),
        "scalar": np.float64(1.0), "complex": mag.astype(np.complex64),
    }
    for fn in (spectral_convergence_db, log_spectral_distance_db):
        with pytest.raises(ParameterError) as info:
            fn(arrays[ref], arrays[est], **kwargs)
        for word in words:
            assert word in str(info.value), str(info.value)


def test_bad_eps(mag):
    for eps in (0, -1.0, float("nan"), "x"):
        with pytest.raises(ParameterError, match="eps="):
            log_spectral_distance_db(mag, mag, eps=eps)
