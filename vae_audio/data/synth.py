"""Built-in synthetic instruments: labelled notes made procedurally with NumPy (no download).

In the spirit of NSynth: every clip is one note of one instrument family at one pitch, starting
at sample 0, held until a note-off and then released. Eight families, each made by a different
synthesis method so that both a listener and a classifier can tell them apart:

============  ================================================================  ============
family        how it is made                                                     MIDI pitches
============  ================================================================  ============
``flute``     near-sine (weak 2nd/3rd harmonics), breath noise, slow attack,     60-96
              delayed vibrato
``clarinet``  odd harmonics (1/k), faint even ones, quick attack, steady         50-86
``brass``     sawtooth whose brightness follows the loudness, pitch scoop at     40-77
              the attack
``plucked``   Karplus-Strong string (vectorized over clips), damped at note-off  40-76
``bell``      FM synthesis with an inharmonic ratio, decaying index, beating     55-84
``organ``     drawbar additive partials (incl. sub-octave), key click,           36-84
              tremolo, rectangular envelope
``mallet``    marimba-like partials (1, ~3.9, ~9.5 x f0), strike noise,          57-96
              exponential decay
``bowed``     sawtooth through body resonances, slow attack, wide vibrato,      43-84
              bow noise
============  ================================================================  ============

Each clip varies in pitch, envelope (attack/decay/release, note-off time), brightness,
vibrato rate and depth, noise level and peak level (0.3-0.9, never clipped). Parameters and
noise of clip ``i`` come only from ``(seed, i)``, so ``generate_synth(100)`` is the first
100 clips of ``generate_synth(1000)`` and every call is deterministic.

Waveforms are float32 ``(n_clips, n_samples)`` at any sample rate ``sr`` (harmonics above
0.45 * sr are left out, so nothing aliases).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from .. import checks
from ..errors import ParameterError

__all__ = ["FAMILIES", "PITCH_RANGES", "SYNTH_VERSION", "synth_params", "generate_synth", "synth_note"]

#: Instrument families; the position in this tuple is the label index.
FAMILIES: tuple[str, ...] = ("flute", "clarinet", "brass", "plucked", "bell", "organ", "mallet", "bowed")

#: Inclusive MIDI pitch range of each family.
PITCH_RANGES: dict[str, tuple[int, int]] = {
    "flute": (60, 96), "clarinet": (50, 86), "brass": (40, 77), "plucked": (40, 76),
    "bell": (55, 84), "organ": (36, 84), "mallet": (57, 96), "bowed": (43, 84),
}

#: Bumped whenever the sound of any clip changes (part of the feature-cache key).
SYNTH_VERSION = 1
#: the rate (Hz) and length (s) the notes are made at unless a recipe asks for others: what a folder of
#: these notes would hold (:mod:`vae_audio.data.rules` reads them like a folder's file headers)
NATIVE_SR = 16000
NATIVE_SECONDS = 1.0

_TABLE = 2048  # wavetable length (samples per period)
_NYQUIST_FRACTION = 0.45  # partials above this fraction of sr are dropped
_MAX_CLIPS = 1_000_000


def midi_to_hz(pitch: Any) -> np.ndarray:
    """MIDI note number(s) -> frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


# ----------------------------------------------------------------------------- parameters
def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _draw(family: str, rng: np.random.Generator, duration: float) -> dict[str, Any]:
    """Random parameters of one note of ``family`` (times in seconds, levels linear)."""
    lo, hi = PITCH_RANGES[family]
    p: dict[str, Any] = {
        "pitch": int(rng.integers(lo, hi + 1)),
        "peak": _u(rng, 0.3, 0.9),
        "brightness": _u(rng, 0.0, 1.0),
        "note_off_s": duration * _u(rng, 0.55, 0.85),
        "vibrato_rate_hz": 0.0, "vibrato_cents": 0.0, "noise": 0.0,
        "attack_s": 0.0, "release_s": 0.0, "decay_s": 0.0,
    }
    if family == "flute":
        p.update(attack_s=_u(rng, 0.05, 0.15), release_s=_u(rng, 0.05, 0.15), vibrato_rate_hz=_u(rng, 4.5, 5.5),
                 vibrato_cents=_u(rng, 8, 25), noise=_u(rng, 0.03, 0.10))
    elif family == "clarinet":
        p.update(attack_s=_u(rng, 0.02, 0.05), release_s=_u(rng, 0.03, 0.08), vibrato_rate_hz=_u(rng, 4.0, 6.0),
                 vibrato_cents=_u(rng, 0, 4), noise=_u(rng, 0.0, 0.02))
    elif family == "brass":
        p.update(attack_s=_u(rng, 0.03, 0.09), release_s=_u(rng, 0.05, 0.12), vibrato_rate_hz=_u(rng, 5.0, 6.0),
                 vibrato_cents=_u(rng, 0, 6), noise=_u(rng, 0.0, 0.01), scoop_cents=_u(rng, 20, 60))
    elif family == "plucked":
        p.update(decay_s=_u(rng, 0.8, 3.0), release_s=_u(rng, 0.05, 0.2))
    elif family == "bell":
        p.update(attack_s=_u(rng, 0.001, 0.004), decay_s=_u(rng, 0.6, 2.0), fm_ratio=_u(rng, 1.3, 3.6),
                 fm_index=_u(rng, 1.5, 5.0), beat_hz=_u(rng, 0.5, 3.0))
    elif family == "organ":
        p.update(attack_s=_u(rng, 0.005, 0.015), release_s=_u(rng, 0.01, 0.04), noise=_u(rng, 0.02, 0.08),
                 tremolo_hz=_u(rng, 5.5, 7.0), tremolo_depth=_u(rng, 0.0, 0.25),
                 drawbars=[round(float(v), 4) for v in rng.uniform(0.0, 1.0, 8)])
    elif family == "mallet":
        p.update(attack_s=0.001, decay_s=_u(rng, 0.3, 1.2), noise=_u(rng, 0.05, 0.2),
                 partial_ratios=[1.0, _u(rng, 3.85, 4.05), _u(rng, 9.2, 10.0)])
    elif family == "bowed":
        p.update(attack_s=_u(rng, 0.10, 0.25), release_s=_u(rng, 0.10, 0.20), vibrato_rate_hz=_u(rng, 5.0, 7.0),
                 vibrato_cents=_u(rng, 15, 40), noise=_u(rng, 0.01, 0.04), body_shift=_u(rng, 0.85, 1.15))
    p["f0_hz"] = float(midi_to_hz(p["pitch"]))
    return p


def _clip_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index)])


def synth_params(index: int, *, seed: int = 0, duration: float = 1.0) -> dict[str, Any]:
    """Metadata of clip ``index`` of the synthetic dataset for ``seed`` (no audio is made).

    Keys: ``index``, ``family``, ``pitch`` (MIDI number), ``f0_hz``, ``peak`` (target peak
    level), ``brightness`` (0-1), ``attack_s``, ``decay_s``, ``release_s``, ``note_off_s``,
    ``vibrato_rate_hz``, ``vibrato_cents``, ``noise`` (relative noise level) and a few
    family-specific ones. Clip ``i`` is of family ``FAMILIES[i % 8]``.
    """
    index = checks.whole_number(index, "index", 0, _MAX_CLIPS)
    family = FAMILIES[index % len(FAMILIES)]
    params = _draw(family, _clip_rng(seed, index), float(duration))
    out = {"index": index, "family": family}
    for key, value in params.items():
        out[key] = round(value, 5) if isinstance(value, float) else value
    return out


# ----------------------------------------------------------------------------- building blocks
def _col(params: list[dict], key: str, default: float = 0.0) -> np.ndarray:
    """Column ``key`` of a batch of parameter dicts, shaped (B, 1) for broadcasting over time."""
    return np.array([p.get(key, default) for p in params], dtype=np.float32)[:, None]


def _adsr(t: np.ndarray, attack: np.ndarray, decay: np.ndarray, sustain: np.ndarray,
          note_off: np.ndarray, release: np.ndarray) -> np.ndarray:
    """Sustained-note envelope (B, T): raised-cosine attack, decay to ``sustain``, exponential release.

    ``release`` is the time (s) to fall 60 dB after the note-off.
    """
    attack = np.maximum(attack, 1e-4)
    rise = np.where(t < attack, 0.5 - 0.5 * np.cos(np.pi * np.minimum(t / attack, 1.0)), 1.0)
    held = sustain + (1.0 - sustain) * np.exp(-np.maximum(t - attack, 0.0) / np.maximum(decay, 1e-4))
    env = rise * held
    at_off = np.where(note_off < attack, 0.5 - 0.5 * np.cos(np.pi * note_off / attack), 1.0) * (
        sustain + (1.0 - sustain) * np.exp(-np.maximum(note_off - attack, 0.0) / np.maximum(decay, 1e-4)))
    tail = at_off * np.exp(-6.9 * np.maximum(t - note_off, 0.0) / np.maximum(release, 1e-4))
    return np.where(t < note_off, env, tail)


def _phase_cycles(f0: np.ndarray, t: np.ndarray, sr: int, *, rate: np.ndarray | None = None,
                  cents: np.ndarray | None = None, onset: float | np.ndarray = 0.0,
                  offset: np.ndarray | None = None, scoop: np.ndarray | None = None,
                  scoop_time: np.ndarray | None = None) -> np.ndarray:
    """Running phase in cycles (B, T) of a tone at ``f0`` with vibrato and an optional pitch scoop.

    Vibrato: ``cents`` deep at ``rate`` Hz, faded in over 0.2 s after ``onset`` seconds.
    Scoop: starts ``scoop`` cents flat and glides up to pitch over ``scoop_time`` seconds.
    The sum runs in float64 so the phase stays exact over long clips.
    """
    dev = np.zeros((f0.shape[0], t.shape[-1]), dtype=np.float32)
    if rate is not None and cents is not None:
        fade = np.clip((t - onset) / 0.2, 0.0, 1.0)
        dev = dev + cents * fade * np.sin(2 * np.pi * rate * t + (0.0 if offset is None else offset))
    if scoop is not None and scoop_time is not None:
        dev = dev - scoop * np.clip(1.0 - t / np.maximum(scoop_time, 1e-4), 0.0, 1.0) ** 2
    freq = f0 * np.exp2(dev / np.float32(1200.0))
    cycles = np.cumsum(freq, axis=-1, dtype=np.float64)
    cycles /= sr
    return cycles


def _osc(freq: np.ndarray, n: int, sr: int) -> np.ndarray:
    """Phase in radians (B, n) of steady tones at ``freq`` Hz (B, 1), wrapped to [0, 2 pi) in float64 first."""
    cycles = np.asarray(freq, dtype=np.float64) / sr * np.arange(n, dtype=np.float64)[None, :]
    np.mod(cycles, 1.0, out=cycles)
    return (cycles * (2.0 * np.pi)).astype(np.float32)


def _wavetables(amps: np.ndarray) -> np.ndarray:
    """One period (B, _TABLE) of ``sum_k amps[:, k-1] * sin(2 pi k n / _TABLE)`` (k = 1..K)."""
    b, k = amps.shape
    spec = np.zeros((b, _TABLE // 2 + 1), dtype=np.complex128)
    spec[:, 1:k + 1] = -0.5j * _TABLE * amps
    return np.fft.irfft(spec, n=_TABLE, axis=-1)


def _lookup(tables: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    """Read wavetables (B, L) at phases ``cycles`` (B, T) with linear interpolation."""
    b, length = tables.shape
    pos = np.mod(cycles, 1.0)
    pos *= length
    i0 = pos.astype(np.int32)
    frac = (pos - i0).astype(np.float32)
    i0 += (np.arange(b, dtype=np.int32) * (length + 1))[:, None]
    ext = np.concatenate([tables, tables[:, :1]], axis=1).astype(np.float32).ravel()  # wrap-around appended
    y0 = ext[i0]
    y1 = ext[i0 + 1]
    y1 -= y0
    y1 *= frac
    y1 += y0
    return y1


def _harmonic_limit(f0: np.ndarray, sr: int, headroom_cents: float = 100.0) -> np.ndarray:
    """Highest harmonic number (B,) below 0.45 * sr, allowing for pitch going ``headroom_cents`` up."""
    top = f0.ravel() * 2.0 ** (headroom_cents / 1200.0)
    return np.clip(np.floor(_NYQUIST_FRACTION * sr / top), 1, _TABLE // 2 - 1).astype(np.int64)


def _harmonic_amps(kmax: np.ndarray, weights) -> np.ndarray:
    """(B, max(kmax)) amplitudes ``weights(k)`` (k broadcast as (1, K)), zero above each clip's ``kmax``."""
    k = np.arange(1, int(kmax.max()) + 1, dtype=np.float64)[None, :]
    amps = np.asarray(weights(k), dtype=np.float64) * np.ones((len(kmax), 1))
    amps[k > kmax[:, None]] = 0.0
    return amps


def _band_noise(noise: np.ndarray, sr: int, lo_hz: np.ndarray | float, hi_hz: np.ndarray | float) -> np.ndarray:
    """White noise (B, T) band-limited to [lo_hz, hi_hz] by a smooth mask in the frequency domain."""
    t = noise.shape[-1]
    spec = np.fft.rfft(noise, axis=-1)
    f = np.fft.rfftfreq(t, 1.0 / sr)[None, :]
    lo = np.broadcast_to(np.asarray(lo_hz, dtype=np.float64).reshape(-1, 1), (noise.shape[0], 1))
    hi = np.broadcast_to(np.asarray(hi_hz, dtype=np.float64).reshape(-1, 1), (noise.shape[0], 1))
    mask = 1.0 / (1.0 + (lo / np.maximum(f, 1.0)) ** 4) / (1.0 + (f / hi) ** 4)
    out = np.fft.irfft(spec * mask, n=t, axis=-1)
    return out / (out.std(axis=-1, keepdims=True) + 1e-12)


# ----------------------------------------------------------------------------- families
def _flute(p, t, sr, noise):
    f0, b = _col(p, "f0_hz"), _col(p, "brightness")
    kmax = _harmonic_limit(f0, sr)
    amps = _harmonic_amps(kmax, lambda k: np.where(k == 1, 1.0, 0.0) + np.where(k == 2, 0.08 + 0.25 * b, 0.0)
                          + np.where(k == 3, 0.03 + 0.15 * b, 0.0) + np.where(k == 4, 0.05 * b, 0.0))
    cyc = _phase_cycles(f0, t, sr, rate=_col(p, "vibrato_rate_hz"), cents=_col(p, "vibrato_cents"), onset=0.25)
    env = _adsr(t, _col(p, "attack_s"), 0.3, 0.85, _col(p, "note_off_s"), _col(p, "release_s"))
    breath = _band_noise(noise, sr, f0, np.minimum(4.0 * f0, 0.45 * sr))
    tone = _lookup(_wavetables(amps), cyc)
    swell = 1.0 + 0.04 * np.sin(2 * np.pi * _col(p, "vibrato_rate_hz") * t)  # flutes vibrate in level too
    return env * (tone * swell + 0.6 * _col(p, "noise") * breath * (0.5 + 0.5 * env))


def _clarinet(p, t, sr, noise):
    f0, b = _col(p, "f0_hz"), _col(p, "brightness")
    kmax = _harmonic_limit(f0, sr)
    roll = 2.0 + 10.0 * b  # harmonics fade out around k ~ roll
    amps = _harmonic_amps(kmax, lambda k: np.where(k % 2 == 1, 1.0 / k, 0.03 / k) * np.exp(-(k - 1) / roll))
    cyc = _phase_cycles(f0, t, sr, rate=_col(p, "vibrato_rate_hz"), cents=_col(p, "vibrato_cents"), onset=0.3)
    env = _adsr(t, _col(p, "attack_s"), 0.2, 0.9, _col(p, "note_off_s"), _col(p, "release_s"))
    reed = _band_noise(noise, sr, 2.0 * f0, np.minimum(10.0 * f0, 0.45 * sr))
    return env * (_lookup(_wavetables(amps), cyc) + 0.5 * _col(p, "noise") * reed)


def _brass(p, t, sr, noise):
    f0, b = _col(p, "f0_hz"), _col(p, "brightness")
    kmax = _harmonic_limit(f0, sr)
    dark = _harmonic_amps(kmax, lambda k: (1.0 / k) * np.exp(-(k - 1) / 1.5))
    bright = _harmonic_amps(kmax, lambda k: (1.0 / k) * np.exp(-(k - 1) / (4.0 + 20.0 * b)))
    attack = _col(p, "attack_s")
    cyc = _phase_cycles(f0, t, sr, rate=_col(p, "vibrato_rate_hz"), cents=_col(p, "vibrato_cents"), onset=0.3,
                        scoop=_col(p, "scoop_cents"), scoop_time=1.5 * attack)
    env = _adsr(t, attack, 0.15, 0.8, _col(p, "note_off_s"), _col(p, "release_s"))
    mix = np.clip(env, 0.0, 1.0) ** 1.5  # louder is brighter
    tone = (1.0 - mix) * _lookup(_wavetables(dark), cyc) + mix * _lookup(_wavetables(bright), cyc)
    return env * (tone + _col(p, "noise") * noise)


def _plucked(p, t, sr, noise):
    """Karplus-Strong, vectorized over clips: the loop is over blocks of the shortest period."""
    n_clips, n = len(p), t.shape[-1]
    f0, b = _col(p, "f0_hz").ravel(), _col(p, "brightness").ravel()
    period = sr / f0  # total loop delay in samples
    lag = np.maximum(np.floor(period - 0.5).astype(np.int64), 1)
    d = np.clip(period - 0.5 - lag, 0.0, 1.0)  # fractional part handled by a 3-tap loop filter
    taps = np.stack([(1.0 - d) / 2.0, np.full_like(d, 0.5), d / 2.0], axis=1)  # lags lag, lag+1, lag+2
    gain = 10.0 ** (-3.0 * (period / sr) / _col(p, "decay_s").ravel())  # 60 dB over decay_s
    pad = int(lag.max()) + 2
    width = pad + n
    y = np.zeros((n_clips, width))
    # excitation: one period of noise, smoothed more for darker plucks (one-pole lowpass)
    exc_len = min(int(np.ceil(period.max())) + 2, n)
    exc = noise[:, :exc_len].astype(np.float64).copy()
    coef = 0.85 - 0.8 * b  # 0.05 (bright) .. 0.85 (dark)
    for i in range(1, exc_len):
        exc[:, i] = (1.0 - coef) * exc[:, i] + coef * exc[:, i - 1]
    active = np.arange(exc_len)[None, :] < np.ceil(period)[:, None]  # one period of excitation
    exc[~active] = 0.0
    exc -= active * (exc.sum(axis=1, keepdims=True) / active.sum(axis=1, keepdims=True))  # no DC in the loop
    y[:, pad:pad + exc_len] = exc
    flat = y.ravel()
    base = (np.arange(n_clips) * width)[:, None]
    step = int(lag.min())
    for start in range(pad, width, step):
        cols = np.arange(start, min(start + step, width))[None, :]
        src = base + cols - lag[:, None]
        fb = taps[:, :1] * flat[src] + taps[:, 1:2] * flat[src - 1] + taps[:, 2:] * flat[src - 2]
        flat[base + cols] += gain[:, None] * fb
    out = y[:, pad:]
    # note-off: the player damps the string
    off, rel = _col(p, "note_off_s"), _col(p, "release_s")
    damp = np.exp(-6.9 * np.maximum(t - off, 0.0) / rel)
    return out * damp


def _bell(p, t, sr, noise):
    f0, ratio, index = _col(p, "f0_hz"), _col(p, "fm_ratio"), _col(p, "fm_index")
    # keep the strongest sidebands (about index + 1 of them) below 0.45 * sr
    max_index = np.maximum((_NYQUIST_FRACTION * sr / f0 - 1.0) / ratio - 1.0, 0.3)
    index = np.minimum(index * (0.6 + 0.8 * _col(p, "brightness")), max_index)
    decay = _col(p, "decay_s")
    env = np.minimum(t / _col(p, "attack_s"), 1.0) * np.exp(-6.9 * t / decay)
    idx_env = index * np.exp(-t / (0.35 * decay))
    n = t.shape[-1]
    mod = np.sin(_osc(ratio * f0, n, sr))
    tone = (np.sin(_osc(f0, n, sr) + idx_env * mod)
            + 0.3 * np.sin(_osc(f0 + _col(p, "beat_hz"), n, sr) + 0.5 * idx_env * mod))
    return env * tone


def _organ(p, t, sr, noise):
    f0 = _col(p, "f0_hz")
    draw = np.array([q["drawbars"] for q in p], dtype=np.float64)  # levels of ratios below
    ratios = np.array([0.5, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0])  # plus the fundamental at 1.0
    b = _col(p, "brightness")
    levels = draw * np.where(ratios[None, :] > 2.0, 0.3 + 0.7 * b, 1.0) ** 2 * 0.7
    # table at f0 / 2 so the sub-octave and the 1.5 x partial are whole harmonics
    harmonic = np.concatenate([[2], (2 * ratios).astype(np.int64)])
    amps = np.zeros((len(p), int(harmonic.max())))
    amps[:, harmonic - 1] = np.concatenate([np.ones((len(p), 1)), levels], axis=1)
    amps[:, harmonic - 1] *= harmonic[None, :] * f0 / 2.0 < _NYQUIST_FRACTION * sr
    cyc = _phase_cycles(f0 / 2.0, t, sr)
    env = _adsr(t, _col(p, "attack_s"), 1.0, 1.0, _col(p, "note_off_s"), _col(p, "release_s"))
    trem = 1.0 + _col(p, "tremolo_depth") * np.sin(2 * np.pi * _col(p, "tremolo_hz") * t)
    click = _band_noise(noise, sr, 1000.0, 0.45 * sr) * np.exp(-t / 0.004) * _col(p, "noise") * 10.0
    return env * trem * _lookup(_wavetables(amps), cyc) + click


def _mallet(p, t, sr, noise):
    f0, b, decay = _col(p, "f0_hz"), _col(p, "brightness"), _col(p, "decay_s")
    ratios = np.array([q["partial_ratios"] for q in p], dtype=np.float64)
    weights = np.stack([np.ones(len(p)), 0.2 + 0.5 * b.ravel(), 0.05 + 0.3 * b.ravel()], axis=1)
    out = np.float32(0.0)
    for j in range(3):
        freq = ratios[:, j:j + 1] * f0
        alive = freq < _NYQUIST_FRACTION * sr
        tau = decay / (1.0 + 2.5 * j)  # upper partials die sooner
        out = out + alive * weights[:, j:j + 1] * np.sin(_osc(freq, t.shape[-1], sr)) * np.exp(-6.9 * t / tau)
    strike = _band_noise(noise, sr, 200.0, np.minimum(2000.0 + 4000.0 * b, 0.45 * sr)) * np.exp(-t / 0.003)
    return np.minimum(t / 0.001, 1.0) * out + _col(p, "noise") * strike


_BODY_HZ = np.array([280.0, 1000.0, 2600.0])


def _bowed(p, t, sr, noise):
    f0, b = _col(p, "f0_hz"), _col(p, "brightness")
    kmax = _harmonic_limit(f0, sr, headroom_cents=150.0)
    body = _BODY_HZ[None, :] * _col(p, "body_shift")  # (B, 3) resonance centres

    def weights(k):
        f = k * f0  # (B, K)
        res = sum(np.exp(-0.5 * (np.log(f / body[:, j:j + 1]) / 0.25) ** 2) for j in range(3))
        return (1.0 / k) * (0.25 + res) * np.exp(-(k - 1) / (6.0 + 30.0 * b))

    amps = _harmonic_amps(kmax, weights)
    cyc = _phase_cycles(f0, t, sr, rate=_col(p, "vibrato_rate_hz"), cents=_col(p, "vibrato_cents"), onset=0.15)
    env = _adsr(t, _col(p, "attack_s"), 0.3, 0.9, _col(p, "note_off_s"), _col(p, "release_s"))
    bow = _band_noise(noise, sr, 1500.0, 0.45 * sr)
    return env * (_lookup(_wavetables(amps), cyc) + 0.5 * _col(p, "noise") * bow)


_MAKERS = {"flute": _flute, "clarinet": _clarinet, "brass": _brass, "plucked": _plucked, "bell": _bell,
           "organ": _organ, "mallet": _mallet, "bowed": _bowed}


def _render(params: list[dict], family: str, sr: int, n_samples: int, noise: np.ndarray) -> np.ndarray:
    """Audio (B, n_samples) float32 of notes of one family, each scaled to its ``peak``."""
    t = (np.arange(n_samples, dtype=np.float64) / sr).astype(np.float32)[None, :]  # (1, T), broadcast over clips
    y = _MAKERS[family](params, t, sr, noise)
    fade = min(n_samples, max(1, int(0.005 * sr)))
    y[:, -fade:] *= np.linspace(1.0, 0.0, fade)  # no click where the clip is cut
    peak = np.max(np.abs(y), axis=-1, keepdims=True)
    y = y * (_col(params, "peak") / np.maximum(peak, 1e-12))
    return y.astype(np.float32)


# ----------------------------------------------------------------------------- public API
def generate_synth(n_clips: int = 1000, *, sr: int = 16000, n_samples: int = 16000, seed: int = 0,
                   indices: Sequence[int] | None = None,
                   noise_seed: int | None = None) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Make the synthetic dataset: ``n_clips`` notes, or the clips numbered ``indices``.

    Parameters
    ----------
    n_clips : number of clips (clip ``i`` is of family ``FAMILIES[i % 8]``, so families are balanced).
    sr : sample rate in Hz (partials above 0.45 * sr are left out).
    n_samples : clip length in samples (default 1 s at 16 kHz).
    seed : dataset seed; clip ``i`` depends only on ``(seed, i)``.
    indices : explicit clip numbers to make instead of ``range(n_clips)``.
    noise_seed : None (default): each clip's own noise (breath, bow, strike, the string's excitation).
        A whole number: the same notes (same parameters) played with another noise draw, one per
        ``noise_seed``: what a model that knows every parameter but not the noise would face
        (``benchmarks/synth_noise_bound.py``).

    Returns
    -------
    (audio, metadata) : ``audio`` float32 ``(n, n_samples)``, each clip's peak in 0.3-0.9;
        ``metadata[j]`` is :func:`synth_params` of clip ``j`` (family, pitch, ...).
    """
    from ..dsp.audio import MAX_SR, MIN_SR

    checks.whole_number(sr, "sr", MIN_SR, MAX_SR, what="a whole number of Hz")
    n_samples = checks.whole_number(n_samples, "n_samples", 1, 100 * int(sr))
    checks.seed(seed)
    if noise_seed is not None:
        checks.whole_number(noise_seed, "noise_seed", 0)
    if indices is None:
        indices = range(checks.whole_number(n_clips, "n_clips", 1, _MAX_CLIPS))
    idx = [checks.whole_number(i, "indices[...]", 0, _MAX_CLIPS) for i in indices]
    duration = n_samples / sr
    meta = [synth_params(i, seed=seed, duration=duration) for i in idx]
    audio = np.empty((len(idx), n_samples), dtype=np.float32)
    by_family: dict[str, list[int]] = {}
    for row, m in enumerate(meta):
        by_family.setdefault(m["family"], []).append(row)

    def render(family: str) -> None:
        rows = by_family[family]
        # noise comes from each clip's own generator, after its parameters (or, with noise_seed, another stream)
        noise = np.empty((len(rows), n_samples), dtype=np.float32)
        for j, row in enumerate(rows):
            if noise_seed is None:
                rng = _clip_rng(seed, idx[row])
                _draw(family, rng, duration)
            else:  # no clip's own generator gives this stream (its entropy is longer)
                rng = np.random.default_rng([int(seed), idx[row], 1, int(noise_seed)])
            noise[j] = rng.standard_normal(n_samples, dtype=np.float32)
        audio[rows] = _render([meta[r] for r in rows], family, int(sr), n_samples, noise)

    # NumPy releases the GIL in its array loops, so families render in parallel threads
    workers = max(1, min(len(by_family), os.cpu_count() or 1))
    if workers == 1 or len(idx) < 64:
        for family in by_family:
            render(family)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(render, list(by_family)))
    return audio, meta


def synth_note(family: str, pitch: int | None = None, *, sr: int = 16000, n_samples: int = 16000,
               seed: int = 0, **overrides: Any) -> np.ndarray:
    """One note of ``family`` (float32 ``(n_samples,)``) for notebooks and listening tests.

    Random parameters come from ``seed``; ``pitch`` (MIDI number) and any key of
    :func:`synth_params` (``peak``, ``brightness``, ``vibrato_cents``, ...) can be fixed.

    Example: ``synth_note("plucked", 45, brightness=1.0)`` is a bright low E string.
    """
    if family not in FAMILIES:
        raise ParameterError(f"family={family!r}: expected one of {FAMILIES}")
    rng = np.random.default_rng([int(seed), 10**9 + FAMILIES.index(family)])
    params = _draw(family, rng, n_samples / sr)
    noise = rng.standard_normal((1, n_samples), dtype=np.float32)
    if pitch is not None:
        params["pitch"] = checks.whole_number(pitch, "pitch", 0, 127, what="a MIDI note number")
        params["f0_hz"] = float(midi_to_hz(pitch))
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ParameterError(f"synth_note: unknown parameters {unknown}; known: {sorted(params)}")
    params.update(overrides)
    if not 0.0 < float(params["peak"]) <= 1.0:
        raise ParameterError(f"peak={params['peak']!r}: expected a level in (0, 1]")
    if params["f0_hz"] * 1.0 >= _NYQUIST_FRACTION * sr:
        raise ParameterError(f"pitch={params['pitch']}: {params['f0_hz']:.0f} Hz is too high for sr={sr}")
    return _render([params], family, int(sr), int(n_samples), noise)[0]
