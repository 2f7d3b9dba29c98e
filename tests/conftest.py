"""Shared fixtures: synthetic audio written to temporary folders (tests never use real datasets), small
fake datasets, and a headless browser. The plain helpers they use are in ``helpers.py``.

``wav_factory(name, y, sr, ...)`` writes any array with soundfile into ``tmp_path`` and returns the
path; ``sine_wav(...)`` writes a tone (:func:`helpers.sine`). Both are generic so every test module
can build the audio it needs in a couple of lines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from helpers import chromium_executable, fake_fsdd, save_wav, sine

# runs take the 32 ms STFT unmeasured (measuring costs a minute or two per dataset); tests/test_tuning.py
# measures on purpose. Set here, so the CLI and notebooks run in subprocesses inherit it.
os.environ.setdefault("VAE_AUDIO_STFT_CLIPS", "0")


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


# ----------------------------------------------------------------------------- small fake datasets
@pytest.fixture
def fsdd_dir(tmp_path):
    """A fake FSDD ``recordings/`` folder (:func:`helpers.fake_fsdd`)."""
    return fake_fsdd(tmp_path / "fsdd")


@pytest.fixture
def labelled_folder(tmp_path):
    root = tmp_path / "sounds"
    for label, freq in (("low", 220.0), ("high", 880.0)):
        for i in range(10):
            sub = root / label / ("deeper" if i % 3 == 0 else "")
            save_wav(sub / f"{label}{i}.wav", sine(freq, 8000, 0.2 + 0.02 * i, amplitude=0.1 + 0.05 * i))
    return root


# ----------------------------------------------------------------------------- a real browser
@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright (Debian's ``chromium`` package; see the README's
    development notes). Missing: the test is skipped saying what to install, and fails under CI
    (``CI`` set), which must have it."""
    executable = chromium_executable()
    problem = None
    if executable is None:
        problem = ("no Chromium found: install Debian's package (apt-get install chromium) or set "
                   "VAE_AUDIO_CHROMIUM to a Chromium/Chrome executable")
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            problem = 'the playwright package is missing: pip install -e ".[dev]" installs it'
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests: {problem}")
        pytest.skip(f"browser tests: {problem}")
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()
