"""Crash safety (issue 8, item 2): SIGKILL mid-epoch then --resume, and atomic writes everywhere.

* A ``vae-audio train`` process is killed with SIGKILL during an epoch after its first
  checkpoint; the bundle of the previous run in the same ``--out`` still loads, the last
  checkpoint is complete, and ``--resume`` finishes with exactly N epochs of history.
* Every kind of file the package writes (WAV, model bundle, feature cache, JSON, checkpoint)
  is written atomically: a failure in the middle of a write leaves neither the target nor any
  temporary file, and a previous version of the target stays as it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from vae_audio import bundle, models  # noqa: E402
from vae_audio.config import RunConfig  # noqa: E402
from vae_audio.data.datasets import load_dataset  # noqa: E402
from vae_audio.data.featurize import build_features  # noqa: E402
from vae_audio.dsp.audio import write_wav  # noqa: E402
from vae_audio.dsp.features import Normalizer, SpectrogramConfig  # noqa: E402
from vae_audio.dsp.recipe import Recipe  # noqa: E402
from vae_audio.errors import AudioWriteError, BundleError, TrainingError  # noqa: E402
from vae_audio.fileio import atomic_write_json  # noqa: E402
from vae_audio.pipeline import train  # noqa: E402
from vae_audio.training import latest_checkpoint  # noqa: E402

from helpers import sine  # noqa: E402

CONFIG = SpectrogramConfig(sr=8000, n_fft=64, hop_length=32, n_samples=2000)


def entries(folder: Path) -> list[str]:
    """Every name under ``folder`` (hidden temporary names included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def partial_then_fail(write_some):
    """A stand-in for a writer: writes some bytes to its target (a half-written file), then fails."""
    def writer(target, *args, **kwargs):
        write_some(target)
        raise OSError(28, "No space left on device")
    return writer


# ============================================================================= SIGKILL and --resume
EPOCHS = 3


def _read_latest(out: Path) -> int:
    """The epoch of the newest checkpoint written by the run of EPOCHS epochs (0: none yet; the previous
    run's checkpoint stays in place until the new run has loaded its data and built its model)."""
    try:
        latest = json.loads((out / "checkpoints" / "latest.json").read_text())
        state = json.loads((out / "checkpoints" / latest["checkpoint"] / "state.json").read_text())
        return int(latest["epoch"]) if state["config"]["training"]["epochs"] == EPOCHS else 0
    except (OSError, ValueError, KeyError, TypeError):
        return 0


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path):
    out = tmp_path / "run"
    common = ["--data", "synth", "--model", "conv", "--no-conditional", "--max-clips", "48", "--batch-size", "8",
              "--out", str(out), "--quiet", "--n-samples", "0", "--no-texture"]
    # a previous run in the same folder (small clips, to be quick), whose bundle must survive the killed run
    small = build_features(load_dataset("synth", config=CONFIG, max_clips=16), cache_dir=None)
    previous = train(RunConfig.of(data="synth", model="conv", conditional=False, batch_size=8, epochs=1, out=str(out),
                                  n_samples=0),
                     features=small, verbose=0)
    old_config = (previous.model_dir / "config.json").read_bytes()

    # start again over it (--overwrite), and kill -9 during the second (or a later) epoch
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "vae_audio", "train", *common, "--epochs", str(EPOCHS),
                             "--overwrite"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    try:
        while _read_latest(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, f"training ended before it could be killed: {proc.communicate()}"
        assert _read_latest(out) >= 1, "no checkpoint within the deadline"
        time.sleep(0.3)  # into the next epoch (5 steps of about 0.2 s each)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _read_latest(out)
    assert 1 <= killed_at < EPOCHS, f"the run was killed after epoch {killed_at} of {EPOCHS}"

    # the killed run left: the previous bundle untouched and loadable, a complete last checkpoint
    assert (previous.model_dir / "config.json").read_bytes() == old_config
    old = bundle.load_model(previous.model_dir)
    assert old.info["training"]["epochs_run"] == 1 and old.config == CONFIG
    ckpt = latest_checkpoint(out)
    assert ckpt.name == f"epoch_{killed_at:04d}"
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epoch"] == killed_at and len(state["history"]["loss"]) == killed_at
    assert (ckpt / "vae.weights.h5").stat().st_size > 0
    history = json.loads((out / "history.json").read_text())  # valid JSON, one or no epoch behind
    assert len(history["loss"]) in (killed_at - 1, killed_at)

    # --resume continues from the last completed epoch and stops at the same total
    done = subprocess.run([sys.executable, "-m", "vae_audio", "train", *common, "--epochs", str(EPOCHS), "--resume"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"trained {EPOCHS} epochs" in done.stdout
    history = json.loads((out / "history.json").read_text())
    assert {k: len(v) for k, v in history.items()} == {k: EPOCHS for k in history}
    assert history["loss"][:killed_at] == state["history"]["loss"]  # the epochs before the kill are kept
    assert json.loads((out / "checkpoints" / "latest.json").read_text()) == {"checkpoint": f"epoch_{EPOCHS:04d}",
                                                                              "epoch": EPOCHS}
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]  # the kill's litter is gone
    new = bundle.load_model(out / "model")
    assert new.info["training"]["epochs_run"] == EPOCHS
    assert np.all(np.isfinite(new.generate(2, seed=0)))


# ============================================================================= atomic writes
def test_write_wav_failing_mid_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "clip.wav"
    real = Path.write_bytes  # the encoded WAV goes to disk with one write; the disk fills up half way
    monkeypatch.setattr(Path, "write_bytes", partial_then_fail(lambda p: real(p, b"RIFF\x24\x00\x00\x00WAVE")))
    with pytest.raises(AudioWriteError, match="clip.wav: cannot write WAV .*No space left"):
        write_wav(target, sine(440.0, 8000, 0.1), 8000)
    assert entries(tmp_path) == []
    # over an existing file: the old file stays as it was
    monkeypatch.undo()
    write_wav(target, sine(440.0, 8000, 0.1), 8000)
    before = target.read_bytes()
    monkeypatch.setattr(Path, "write_bytes", partial_then_fail(lambda p: real(p, b"RIFF")))
    with pytest.raises(AudioWriteError):
        write_wav(target, sine(220.0, 8000, 0.1), 8000)
    assert entries(tmp_path) == ["clip.wav"] and target.read_bytes() == before


def test_atomic_write_json_failing_mid_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    real = Path.write_text

    def half(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half)
    with pytest.raises(OSError):
        atomic_write_json(target, {"epoch": 3, "loss": [1.0, 2.0]})
    assert entries(tmp_path) == []
    monkeypatch.undo()
    atomic_write_json(target, {"epoch": 3})
    monkeypatch.setattr(Path, "write_text", half)
    with pytest.raises(OSError):
        atomic_write_json(target, {"epoch": 4, "much": "longer content " * 10})
    assert entries(tmp_path) == ["state.json"] and json.loads(target.read_text()) == {"epoch": 3}


def _vae():
    keras.utils.set_random_seed(0)
    kw = {"architecture": "conv", "latent_dim": 3, "filters": (4, 8)}
    return models.VAE(models.build_encoder(CONFIG.shape, **kw), models.build_decoder(CONFIG.shape, **kw))


def test_save_model_failing_mid_write_leaves_nothing(tmp_path, monkeypatch):
    vae, target = _vae(), tmp_path / "model"
    real_save = keras.Model.save

    def save(self, path, *args, **kwargs):
        if Path(path).name == "decoder.keras":  # the encoder is already complete by then
            Path(path).write_bytes(b"PK\x03\x04 half a zip")
            raise OSError(28, "No space left on device")
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save)
    with pytest.raises(BundleError, match="model: cannot write the model bundle .*No space left"):
        bundle.save_model(vae, target, recipe=Recipe(CONFIG, normalizer=Normalizer.fixed(-80.0, 0.0)))
    assert entries(tmp_path) == []
    # over an existing bundle: the old bundle stays complete and loadable
    monkeypatch.undo()
    bundle.save_model(vae, target, recipe=Recipe(CONFIG, normalizer=Normalizer.fixed(-80.0, 0.0)))
    before = {p: (target / p).read_bytes() for p in entries(target)}
    monkeypatch.setattr(keras.Model, "save", save)
    with pytest.raises(BundleError):
        bundle.save_model(vae, target, recipe=Recipe(CONFIG, normalizer=Normalizer.fixed(-70.0, 0.0)))
    assert entries(tmp_path) == ["model"] + [f"model/{p}" for p in sorted(before)]
    assert {p: (target / p).read_bytes() for p in entries(target)} == before
    assert bundle.load_model(target).normalizer.low_db == -80.0


@pytest.mark.parametrize("fail_at", ["npz", "json"])
def test_feature_cache_failing_mid_write_leaves_nothing(fail_at, tmp_path, monkeypatch):
    import vae_audio.data.featurize as featurize

    dataset = load_dataset("synth", config=CONFIG, max_clips=8)
    cache = tmp_path / "cache"
    if fail_at == "npz":
        monkeypatch.setattr(featurize.np, "savez", partial_then_fail(lambda handle: handle.write(b"PK\x03\x04")))
    else:  # the .npz is complete, the .json write fails (atomic_write_json itself leaves no temp file, see above)
        def fail_json(path, data, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(featurize, "atomic_write_json", fail_json)
    with pytest.warns(UserWarning, match="cannot write the feature cache .*No space left"):
        features = build_features(dataset, cache_dir=cache)
    assert len(features) == 8 and features.cache_path is None
    assert entries(cache) == []  # no .npz without its .json, no temporary file
    monkeypatch.undo()
    again = build_features(dataset, cache_dir=cache)  # and the next run builds a complete entry
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".npz"]
    assert np.array_equal(again.x, features.x)


def test_checkpoint_write_failure_stops_training_with_a_message(tmp_path, monkeypatch):
    features = build_features(load_dataset("synth", config=CONFIG, max_clips=16), cache_dir=None)
    out = tmp_path / "run"
    real = models.VAE.save_weights
    calls = []

    def save_weights(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # the checkpoint of epoch 2
            Path(path).write_bytes(b"\x89HDF half")
            raise OSError(28, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(models.VAE, "save_weights", save_weights)
    with pytest.raises(TrainingError) as err:
        train(RunConfig.of(data="synth", model="conv", conditional=False, epochs=3, batch_size=8, out=str(out),
                           n_samples=0),
              features=features, verbose=0)
    msg = str(err.value)
    assert "\n" not in msg and "epoch 2" in msg and "No space left" in msg and "epoch_0001" in msg
    assert latest_checkpoint(out).name == "epoch_0001"
    assert [p for p in entries(out / "checkpoints") if not p.startswith("epoch_0001")] == ["latest.json"]
    assert not (out / "model").exists()
