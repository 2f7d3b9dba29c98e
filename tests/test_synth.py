"""The built-in synthetic instruments: deterministic, labelled, realistic levels, tellable apart."""

from __future__ import annotations

import numpy as np
import pytest

from vae_audio.data.synth import FAMILIES, PITCH_RANGES, generate_synth, midi_to_hz, synth_note, synth_params
from vae_audio.errors import ParameterError


@pytest.fixture(scope="module")
def clips():
    return generate_synth(96, seed=5)


def test_shapes_levels_and_metadata(clips):
    audio, meta = clips
    assert audio.shape == (96, 16000) and audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    peaks = np.abs(audio).max(axis=1)
    assert peaks.min() >= 0.3 - 1e-4 and peaks.max() <= 0.9 + 1e-4  # realistic, never clipped
    np.testing.assert_allclose(peaks, [m["peak"] for m in meta], atol=1e-4)
    assert len(FAMILIES) >= 8
    for i, m in enumerate(meta):
        assert m["index"] == i and m["family"] == FAMILIES[i % len(FAMILIES)]
        lo, hi = PITCH_RANGES[m["family"]]
        assert lo <= m["pitch"] <= hi and isinstance(m["pitch"], int)
        assert m["f0_hz"] == pytest.approx(float(midi_to_hz(m["pitch"])), rel=1e-4)
    # every clip really varies: no two clips identical, pitches spread within each family
    assert len({a.tobytes() for a in audio}) == len(audio)
    for fam in FAMILIES:
        assert len({m["pitch"] for m in meta if m["family"] == fam}) >= 5


def test_deterministic_and_prefix_stable(clips):
    audio, meta = clips
    again, meta2 = generate_synth(96, seed=5)
    assert np.array_equal(audio, again) and meta == meta2
    first, _ = generate_synth(20, seed=5)
    assert np.array_equal(first, audio[:20])  # clip i depends only on (seed, i)
    picked, pmeta = generate_synth(seed=5, indices=[3, 77, 50])
    assert np.array_equal(picked, audio[[3, 77, 50]]) and [m["index"] for m in pmeta] == [3, 77, 50]
    other, _ = generate_synth(20, seed=6)
    assert not np.allclose(other, first)
    assert synth_params(77, seed=5) == meta[77]


def _fundamental(y: np.ndarray, sr: int, f0_guess: float) -> float:
    """Strongest spectral peak within a semitone of ``f0_guess`` (parabolic refinement)."""
    n = len(y)
    spec = np.abs(np.fft.rfft(y * np.hanning(n), n=8 * n))
    freqs = np.fft.rfftfreq(8 * n, 1.0 / sr)
    band = np.flatnonzero((freqs > f0_guess / 1.06) & (freqs < f0_guess * 1.06))
    k = band[np.argmax(spec[band])]
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / (8 * n)


@pytest.mark.parametrize("family", ["clarinet", "organ", "plucked", "brass"])
def test_pitch_is_in_tune(family):
    for pitch in (PITCH_RANGES[family][0] + 2, 69):
        y = synth_note(family, pitch, vibrato_cents=0.0) if family != "plucked" else synth_note(family, pitch)
        f0 = float(midi_to_hz(pitch))
        cents = 1200 * np.log2(_fundamental(y[2000:12000], 16000, f0) / f0)
        assert abs(cents) < 15, f"{family} at MIDI {pitch} is {cents:.1f} cents out of tune"


def test_karplus_strong_matches_the_plain_recursion():
    """The block-vectorized string equals y[n] = x[n] + g * (a y[n-L] + b y[n-L-1] + c y[n-L-2])."""
    from vae_audio import synth

    sr, n = 16000, 3000
    params = [synth_params(i, seed=2) for i in (3, 11, 19)]  # three plucked notes, different pitches
    assert {p["family"] for p in params} == {"plucked"}
    for p in params:
        p["note_off_s"] = 10.0  # no damping, pure string
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((3, n)).astype(np.float32)
    t = (np.arange(n) / sr).astype(np.float32)[None, :]
    fast = synth._plucked(params, t, sr, noise)
    for row, p in enumerate(params):
        period = sr / p["f0_hz"]
        lag = int(np.floor(period - 0.5))
        d = period - 0.5 - lag
        a, b, c = (1 - d) / 2, 0.5, d / 2
        g = 10 ** (-3 * (period / sr) / p["decay_s"])
        coef = 0.85 - 0.8 * p["brightness"]
        exc_len = int(np.ceil(max(sr / q["f0_hz"] for q in params))) + 2
        x = noise[row, :exc_len].astype(np.float64).copy()
        for i in range(1, exc_len):
            x[i] = (1 - coef) * x[i] + coef * x[i - 1]
        x[int(np.ceil(period)):] = 0.0
        x[:int(np.ceil(period))] -= x[:int(np.ceil(period))].mean()
        y = np.zeros(n)
        y[:exc_len] = x
        for i in range(n):
            fb = sum(w * y[i - lag - j] for j, w in enumerate((a, b, c)) if i - lag - j >= 0)
            y[i] += g * fb
        np.testing.assert_allclose(fast[row], y, atol=1e-5)  # parameters are float32


def test_families_can_be_told_apart():
    """A linear classifier on generic (pitch-agnostic) features separates the families."""
    import librosa

    audio, meta = generate_synth(320, seed=11)
    y = np.array([FAMILIES.index(m["family"]) for m in meta])
    power = np.abs(librosa.stft(audio, n_fft=1024, hop_length=256)) ** 2
    env = 10 * np.log10(np.maximum(power.max(axis=1), 1e-10))
    env = np.maximum(env - env.max(axis=1, keepdims=True), -80.0)
    flatness = np.log(np.exp(np.mean(np.log(power + 1e-10), axis=1)) / (power.mean(axis=1) + 1e-10) + 1e-10)
    centroid = np.log1p((power * np.arange(power.shape[1])[None, :, None]).sum(1) / (power.sum(1) + 1e-12))
    x = np.concatenate([env, flatness, centroid], axis=1)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    test = np.random.default_rng(0).random(len(y)) < 0.25
    onehot = np.eye(len(FAMILIES))[y]
    w = np.linalg.solve(x[~test].T @ x[~test] + 10 * np.eye(x.shape[1]), x[~test].T @ onehot[~test])
    accuracy = float(np.mean((x[test] @ w).argmax(1) == y[test]))
    assert accuracy >= 0.9, accuracy


def test_other_sample_rates_stay_below_nyquist():
    audio, meta = generate_synth(16, sr=8000, n_samples=4000, seed=1)
    assert audio.shape == (16, 4000) and np.all(np.isfinite(audio))
    spec = np.abs(np.fft.rfft(audio, axis=1)) ** 2
    freqs = np.fft.rfftfreq(4000, 1 / 8000)
    tonal = [i for i, m in enumerate(meta) if m["family"] in ("clarinet", "brass", "organ", "bowed")]
    top = spec[tonal][:, freqs > 3900].sum(1) / spec[tonal].sum(1)
    assert np.all(top < 1e-3)  # harmonics above 0.45 * sr are left out: nothing folds back


def test_synth_note_and_errors():
    y = synth_note("bell", 72, peak=0.5, seed=3)
    assert y.shape == (16000,) and abs(np.abs(y).max() - 0.5) < 1e-4
    assert np.array_equal(y, synth_note("bell", 72, peak=0.5, seed=3))
    with pytest.raises(ParameterError, match="family"):
        synth_note("kazoo")
    with pytest.raises(ParameterError, match="unknown parameters"):
        synth_note("flute", 70, loudness=3)
    with pytest.raises(ParameterError, match="n_clips"):
        generate_synth(0)
    with pytest.raises(ParameterError, match="sr"):
        generate_synth(4, sr=100)
    with pytest.raises(ParameterError, match="seed"):
        generate_synth(4, seed=-1)


def test_noise_seed_replays_the_notes_with_other_noise():
    """``noise_seed`` keeps every parameter and changes only the noise: the deterministic families
    (FM bell, mallet partials) hardly move, the noisy ones (flute breath, bow noise) do."""
    own, meta = generate_synth(16, seed=5)
    other, meta2 = generate_synth(16, seed=5, noise_seed=0)
    again, _ = generate_synth(16, seed=5, noise_seed=0)
    third, _ = generate_synth(16, seed=5, noise_seed=1)
    assert meta2 == meta and np.array_equal(other, again) and not np.array_equal(other, third)
    rel = np.linalg.norm(own - other, axis=1) / np.linalg.norm(own, axis=1)
    by_family = {m["family"]: r for m, r in zip(meta, rel)}
    assert by_family["bell"] < 1e-6  # FM synthesis uses no noise
    assert by_family["flute"] > 0.01 and by_family["bowed"] > 0.01
    with pytest.raises(ParameterError, match="noise_seed"):
        generate_synth(4, noise_seed=-1)
