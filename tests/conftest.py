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


# ----------------------------------------------------------------------------- a real browser
def _chromium() -> str | None:
    import os
    import shutil

    return os.environ.get("VAE_AUDIO_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright (Debian's ``chromium`` package; see the README's
    development notes). Missing: the test is skipped saying what to install, and fails under CI
    (``CI`` set), which must have it."""
    import os

    executable = _chromium()
    problem = None
    if executable is None:
        problem = ("no Chromium found: install Debian's package (apt-get install chromium) or set "
                   "VAE_AUDIO_CHROMIUM to a Chromium/Chrome executable")
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            problem = "the playwright package is missing: pip install -e . installs it (requirements.txt)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests: {problem}")
        pytest.skip(f"browser tests: {problem}")
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_page(browser, path: Path, *, timeout_ms: int = 60_000):
    """Open a local HTML file; returns ``(page, problems)`` once every ``<audio>`` has its metadata
    (or an error). ``problems`` collects console errors, page errors and failed requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:120]}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_function("Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1 || a.error)",
                           timeout=timeout_ms)
    return page, problems


def wav_seconds(src: str) -> float | None:
    """The length in seconds of the WAV in a ``data:audio/wav;base64,...`` URI (what a player should
    report), or ``None`` for another kind of source."""
    import base64
    import io

    import soundfile as sf

    if not src.startswith("data:audio/wav;base64,") and not src.startswith("data:audio/x-wav;base64,"):
        return None
    info = sf.info(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    return info.frames / info.samplerate


def page_media(page) -> dict:
    """Every audio element's duration, error, declared length and the length of the WAV it embeds
    (``expected``); every image's load state; any source on another host."""
    media = page.evaluate("""() => ({
        audio: Array.from(document.querySelectorAll('audio')).map(a => ({
            duration: a.duration, error: a.error ? a.error.code : null,
            src: a.currentSrc || a.src || (a.querySelector('source') || {}).src || '',
            declared: a.dataset.seconds ? parseFloat(a.dataset.seconds) : null})),
        images: Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth})),
        external: Array.from(document.querySelectorAll('[src],[href]')).map(e => e.getAttribute('src') || e.getAttribute('href'))
            .filter(u => /^(https?:)?\\/\\//.test(u)),
    })""")
    for a in media["audio"]:
        a["expected"] = wav_seconds(a.pop("src"))
    return media


def screenshot_is_not_blank(page, path: Path) -> float:
    """Save a screenshot; returns the standard deviation of its grey levels (0 for a blank page)."""
    from PIL import Image

    page.screenshot(path=str(path), full_page=False)
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    return float(grey.std())
