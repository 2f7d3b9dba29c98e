"""Shared fixtures: synthetic audio written to temporary folders (tests never use real datasets).

``sine(freq, sr, duration)`` returns a float32 tone; ``wav_factory(name, y, sr, ...)`` writes
any array with soundfile into ``tmp_path`` and returns the path. Both are generic so every
test module can build the audio it needs in a couple of lines.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable

import numpy as np
import pytest


def sine(freq: float = 440.0, sr: int = 8000, duration: float = 0.5, *, amplitude: float = 0.5,
         phase: float = 0.0) -> np.ndarray:
    """A float32 sine tone ``(round(duration * sr),)`` of ``freq`` Hz at peak ``amplitude``."""
    n = int(round(duration * sr))
    t = np.arange(n, dtype=np.float64) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def dominant_frequency(y: np.ndarray, sr: int) -> float:
    """Frequency (Hz) of the strongest spectral peak of a mono signal, refined by parabolic
    interpolation of the log-magnitude around the peak (accurate to a fraction of a bin)."""
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    spec = np.abs(np.fft.rfft(y * np.hanning(n)))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-30)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * sr / n


def wav_bytes(*, sr: int, channels: int, bits: int, data: bytes, extensible: bool = False,
              format_tag: int = 1, n_data_bytes: int | None = None) -> bytes:
    """Hand-made RIFF/WAVE bytes (integer PCM by default), for headers soundfile won't write.

    ``extensible=True`` writes a WAVE_FORMAT_EXTENSIBLE ``fmt `` chunk (``wFormatTag`` 0xFFFE,
    40 bytes, sub-format GUID of ``format_tag``). ``n_data_bytes`` overrides the size written in
    the ``data`` chunk header (to fake truncation).
    """
    block_align = channels * bits // 8
    byte_rate = sr * block_align
    if extensible:
        guid = struct.pack("<IHH", format_tag, 0x0000, 0x0010) + bytes.fromhex("800000aa00389b71")
        mask = (1 << channels) - 1
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, sr, byte_rate, block_align, bits, 22, bits, mask)
        fmt += guid
    else:
        fmt = struct.pack("<HHIIHH", format_tag, channels, sr, byte_rate, block_align, bits)
    size = len(data) if n_data_bytes is None else n_data_bytes
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture
def wav_factory(tmp_path: Path) -> Callable[..., Path]:
    """Return ``make(name, y, sr=8000, *, subtype=None, format=None) -> Path``.

    ``y`` is ``(n_samples,)`` or ``(n_samples, channels)`` (soundfile's layout); the file is
    written with :func:`soundfile.write` under ``tmp_path`` (sub-folders are created).
    """
    import soundfile as sf

    def make(name: str, y: np.ndarray, sr: int = 8000, *, subtype: str | None = None,
             format: str | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.asarray(y), sr, subtype=subtype, format=format)
        return path

    return make


@pytest.fixture
def sine_wav(wav_factory: Callable[..., Path]) -> Callable[..., Path]:
    """Return ``make(name="tone.wav", freq=440, sr=8000, duration=0.5, **write_kwargs) -> Path``."""

    def make(name: str = "tone.wav", freq: float = 440.0, sr: int = 8000, duration: float = 0.5,
             **kwargs) -> Path:
        return wav_factory(name, sine(freq, sr, duration), sr, **kwargs)

    return make
