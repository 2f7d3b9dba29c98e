"""The top-level API: ``import vae_audio as va`` is light, and every public name resolves (lazy_loader)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_is_light_and_names_load_on_first_use():
    code = ("import sys, vae_audio as va; heavy = [m for m in ('tensorflow', 'keras', 'librosa') if m in sys.modules];"
            "print(heavy, 'vae_audio.audio' in sys.modules); va.load_audio;"
            "print('vae_audio.audio' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[] False"  # nothing heavy, no submodule at import time
    assert out[1] == "True False"  # the first use loads its module, and audio I/O does not need TensorFlow


def test_every_public_name_and_submodule_resolves():
    import vae_audio as va

    for name in va.__all__:
        assert getattr(va, name) is not None, name
    assert va.write_report is va.report.write_report and va.TrainedModel.__module__ == "vae_audio.inference"
    assert {"display", "report", "progress", "load_audio"} <= set(dir(va))
    with pytest.raises(AttributeError, match="nothing_here"):
        va.nothing_here
