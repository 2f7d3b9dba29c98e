"""--precision and --xla: training under mixed precision or XLA matches float32, and bundles stay float32."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vae_audio.errors import ConfigError

from helpers import LIGHT_RUN

QUICK = dict(data="synth", epochs=1, max_clips=40, batch_size=16, sr=8000, n_fft=256, hop_length=128, duration=0.5,
             level=None, max_duration=0.5, prior_model="none", n_samples=0,
             model_options={"filters": [16, 32, 64], "strides": [[2, 2], [2, 2], [2, 1]]})  # as measured


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from vae_audio.config import RunConfig
    from vae_audio.pipeline import train

    root = tmp_path_factory.mktemp("precision")
    out = {}
    for name, extra in (("float32", {}), ("mixed_bfloat16", {"precision": "mixed_bfloat16"}),
                        ("mixed_float16", {"precision": "mixed_float16"}), ("xla", {"xla": True})):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out[name] = train(RunConfig.of(LIGHT_RUN, out=str(root / name), **QUICK, **extra), verbose=0)
        out[name].warnings = [str(w.message) for w in caught]
    # the float32 run turned op determinism on; the XLA run after it really compiled (Keras falls
    # back to no XLA with only a warning while op determinism is on)
    assert not any("jit_compile" in m for m in out["xla"].warnings), out["xla"].warnings
    return out


@pytest.mark.slow
def test_losses_match_float32_within_tolerance(runs):
    """Same seed, same data, one epoch: the loss per example agrees with float32's (XLA within 1 %:
    its fused kernels round differently and the run has no op determinism; bfloat16, which keeps
    8 significant bits, within 2 %; float16 within 5 %: its dynamic loss scale starts high and
    skips the first steps whose scaled gradients overflow)."""
    ref = runs["float32"].history
    for name, tolerance in (("xla", 0.01), ("mixed_bfloat16", 0.02), ("mixed_float16", 0.05)):
        got = runs[name].history
        for key in ("loss", "val_loss", "mse"):
            assert np.isfinite(got[key][0]), (name, key)
            assert abs(got[key][0] - ref[key][0]) <= tolerance * abs(ref[key][0]), (name, key, got[key], ref[key])


@pytest.mark.slow
def test_bundles_are_float32_and_the_policy_is_restored(runs):
    import keras

    from vae_audio.modeling.bundle import load_model
    from vae_audio.modeling.generate import generate_audio

    assert keras.config.dtype_policy().name == "float32"  # training did not leave its policy behind
    for name in ("mixed_bfloat16", "mixed_float16"):
        model = load_model(runs[name].model_dir)
        policies = {layer.dtype_policy.name for layer in (*model.encoder.layers, *model.decoder.layers)}
        assert policies == {"float32"}, (name, policies)
        assert model.info["config"]["training"]["precision"] == name
        audio = generate_audio(model, 1, label=0, seed=0)
        assert audio.dtype == np.float32 and np.all(np.isfinite(audio))


def test_bad_precision_is_refused():
    from vae_audio.config import RunConfig

    with pytest.raises(ConfigError, match="precision='float8'"):
        RunConfig.of(precision="float8")
    with pytest.raises(ConfigError, match="training.xla=1"):
        RunConfig.of(xla=1)
