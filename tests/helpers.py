"""Plain helpers shared by several test modules (the shared pytest fixtures are in ``conftest.py``).

Test modules import them with ``from helpers import ...`` (pytest puts ``tests/`` on ``sys.path``).
Only numpy and light parts of ``vae_audio`` are imported here: TensorFlow, soundfile, Playwright
and PIL are imported inside the functions that use them.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vae_audio.dsp.features import Normalizer, SpectrogramConfig
from vae_audio.dsp.recipe import Recipe


# ----------------------------------------------------------------------------- bundles
def edited_bundle(src: Path, dst: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    """A copy of the bundle folder ``src`` at ``dst`` whose ``config.json`` went through ``edit`` (which
    changes the dict in place); returns ``dst``."""
    shutil.copytree(src, dst)
    info = json.loads((dst / "config.json").read_text())
    edit(info)
    (dst / "config.json").write_text(json.dumps(info))
    return dst


# ----------------------------------------------------------------------------- synthetic audio
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


def save_wav(path: Path, y: np.ndarray, sr: int = 8000) -> Path:
    """Write ``y`` with soundfile to ``path`` (parent folders created); returns ``path``."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr)
    return path


# ----------------------------------------------------------------------------- small fake datasets
#: the spectrograms of the small fake datasets (tests/test_datasets.py, test_featurize.py, test_shards.py)
DATASET_CONFIG = SpectrogramConfig(sr=8000, n_fft=128, hop_length=64, n_samples=2000)


def fake_fsdd(root: Path, digits=(0, 1, 2), speakers=("ann", "bob"), takes=range(10)) -> Path:
    """FSDD-named 8 kHz tones: digit d sounds at 300 + 100 d Hz, speaker 'bob' 20 dB quieter."""
    rec = root / "recordings"
    for d in digits:
        for s in speakers:
            for t in takes:
                amp = 0.5 if s == "ann" else 0.05
                save_wav(rec / f"{d}_{s}_{t}.wav", sine(300 + 100 * d, 8000, 0.15 + 0.01 * t, amplitude=amp))
    return rec


# ----------------------------------------------------------------------------- small grid models
#: for test runs that measure neither the prior nor the noise texture: a small prior network (its fit and
#: sampling cost a third of the default network's, width 128, 8 blocks; the default is trained by
#: tests/test_grid_prior.py) and no texture stage (tests/test_tuning.py runs it, tests/test_texture.py tests it)
LIGHT_RUN = {"prior.width": 16, "prior.dilations": [1, 2], "postfilter.texture": False}

#: a small grid model's layers (tests/test_grid.py, test_grid_prior.py, test_generate.py)
GRID_SMALL = {"filters": (4, 8)}
GRID_CFG = SpectrogramConfig(sr=8000, n_fft=64, hop_length=32, n_samples=2000)  # 33 x 63 spectrograms
GRID_RECIPE = Recipe(GRID_CFG, level="peak", normalizer=Normalizer.fixed(-80.0, 0.0))


def harmonic(f0: float, seconds: float, sr: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 4))).astype(np.float32)


def toy(n: int = 32, frames: int = 63, seed: int = 0):
    """Normalized spectrograms of the recipe: two classes of harmonic tones (150 / 450 Hz)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n).astype(np.int32)
    y = np.stack([harmonic(150.0 * (1 + 2 * c) * (1 + 0.05 * rng.random()), GRID_CFG.duration) for c in labels])
    return GRID_RECIPE.featurize(y), labels


# ----------------------------------------------------------------------------- judges
TONES_SR = 8000  # the sample rate of tones()


def tones(n: int, seed: int):
    """Three classes: a low buzz (harmonic series at ~150 Hz), a high whistle (~1.2 kHz), a hiss."""
    rng = np.random.default_rng(seed)
    t = np.arange(4000) / TONES_SR
    labels = np.arange(n) % 3
    clips = []
    for c in labels:
        level = rng.uniform(0.05, 0.9)  # the judge must not care about the level
        if c == 0:
            f0 = 150 * rng.uniform(0.9, 1.1)
            y = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))
        elif c == 1:
            y = np.sin(2 * np.pi * 1200 * rng.uniform(0.9, 1.1) * t)
        else:
            y = rng.standard_normal(len(t))
        clips.append(level * y / np.max(np.abs(y)))
    return np.asarray(clips, np.float32), labels


# ----------------------------------------------------------------------------- a real browser
def chromium_executable() -> str | None:
    """``VAE_AUDIO_CHROMIUM``, else the first of chromium, chromium-browser, google-chrome on the PATH."""
    import os
    import shutil

    return os.environ.get("VAE_AUDIO_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


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
        external: Array.from(document.querySelectorAll('[src],[href]'))
            .map(e => e.getAttribute('src') || e.getAttribute('href'))
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


def tiny_conv_vae(seed: int = 0):
    """A small untrained conv VAE (latent 3) and its fitted recipe for 8 kHz clips of 400 samples, STFT 32 / 16
    (17 bins x 26 frames): what bundle tests save and load. Imports Keras."""
    import keras

    from vae_audio import models

    config = SpectrogramConfig(sr=8000, n_fft=32, hop_length=16, n_samples=400)
    keras.utils.set_random_seed(seed)
    kw = {"architecture": "conv", "latent_dim": 3, "filters": (4, 8)}
    vae = models.VAE(models.build_encoder(config.shape, **kw), models.build_decoder(config.shape, **kw))
    return vae, Recipe(config, normalizer=Normalizer.fixed(-80.0, 10.0))
