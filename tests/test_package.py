"""The top-level API: ``import vae_audio as va`` is light, and every public name resolves (lazy_loader)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_is_light_and_names_load_on_first_use():
    code = ("import sys, vae_audio as va; heavy = [m for m in ('tensorflow', 'keras', 'librosa') if m in sys.modules];"
            "print(heavy, 'vae_audio.dsp.audio' in sys.modules); va.load_audio;"
            "print('vae_audio.dsp.audio' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[] False"  # nothing heavy, no submodule at import time
    assert out[1] == "True False"  # the first use loads its module, and audio I/O does not need TensorFlow


def test_every_public_name_and_submodule_resolves():
    import vae_audio as va

    for name in va.__all__:
        assert getattr(va, name) is not None, name
    assert va.write_report is va.report.write_report and va.TrainedModel.__module__ == "vae_audio.modeling.inference"
    assert {"display", "report", "progress", "load_audio"} <= set(dir(va))
    with pytest.raises(AttributeError, match="nothing_here"):
        _ = va.nothing_here


# the layers of the package, lowest first: a module imports only from its own layer or lower ones
LAYERS = [
    {"errors", "fileio", "checks", "choices", "config", "progress", "tfquiet"},  # shared infrastructure
    {"dsp"},  # signal: audio I/O, spectrograms, the recipe, phase, metrics
    {"data"},  # datasets, downloads, featurizing, shards
    {"modeling"},  # models, priors, bundles, the inference API, generation
    {"ui"},  # notebook players and plots, notebook settings
    {"evaluation"},  # judges, scores, evaluate, the report
    {"tuning"},  # settings chosen by measuring on the data (the STFT, the prior's sampling, the postfilter)
    {"resolve"},  # the run's configuration resolved against its data
    {"training"},  # the fitting stages of a run
    {"budget"},  # the time budget: step times measured, the step counts split from them
    {"pipeline"},  # the stages composed
    {"cli", "__main__"},  # the command line
]


def _unit(module: str) -> str:
    """'vae_audio.dsp.phase' -> 'dsp'; 'vae_audio.cli' -> 'cli'."""
    return module.split(".")[1]


def _relative_imports():
    """Every relative import in the package (function-level ones too): (importing module, imported module)."""
    import ast
    from pathlib import Path

    import vae_audio

    root = Path(vae_audio.__file__).parent
    for path in sorted(root.rglob("*.py")):
        parts = ("vae_audio", *path.relative_to(root).with_suffix("").parts)
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        module = ".".join(p for p in parts if p != "__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[:len(package) - (node.level - 1)]
                if node.module:
                    yield module, ".".join((*base, node.module)), [a.name for a in node.names]
                else:
                    for alias in node.names:
                        yield module, ".".join((*base, alias.name)), None


def test_every_relative_import_resolves_and_no_layer_imports_a_higher_one():
    import importlib.util

    layer = {unit: i for i, units in enumerate(LAYERS) for unit in units}
    upward, missing = [], []
    for importer, target, _ in _relative_imports():
        if target == "vae_audio.__version__":
            continue
        if importlib.util.find_spec(target) is None:
            missing.append(f"{importer}: {target}")
            continue
        if importer == "vae_audio" or target.count(".") < 1:
            continue
        if layer[_unit(target)] > layer[_unit(importer)]:
            upward.append(f"{importer} -> {target}")
    assert not missing, missing
    assert not upward, upward
    # the map covers the tree: every module belongs to a layer
    from pathlib import Path

    import vae_audio

    units = {p.relative_to(Path(vae_audio.__file__).parent).parts[0].removesuffix(".py")
             for p in Path(vae_audio.__file__).parent.rglob("*.py")} - {"__init__"}
    assert units == set(layer)
