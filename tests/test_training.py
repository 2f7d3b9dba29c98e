"""vae_audio.training: what a run folder holds, settings round trips, checkpoints found or refused.

(Killing a run and resuming it: tests/test_crash_resume.py; same seed, same bytes:
tests/test_determinism.py; the command line: tests/test_cli.py.)
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from vae_audio.errors import ConfigError
from vae_audio.training import TrainSettings, latest_checkpoint, train

#: a quick grid run: 8 kHz, 0.5 s, 129 bins, one epoch, a 5-step prior
#: (no batch size: the grid model's default, 16, is resolved and recorded)
QUICK = dict(data="synth", epochs=2, max_clips=40, sr=8000, n_fft=256, hop_length=128, duration=0.5,
             prior_steps=5, verbose=0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    settings = TrainSettings(out=str(root / "run"), samples_dir=str(root / "samples"), n_samples_out=2, postfilter=True,
                             **QUICK)
    return settings, train(settings)


def test_a_run_folder_holds_checkpoints_bundle_history_report_and_samples(run):
    settings, result = run
    out = result.out_dir
    assert result.epochs_run == 2 and result.model_dir == out / "model"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_0001", "epoch_0002", "latest.json"]
    assert latest_checkpoint(out) == out / "checkpoints" / "epoch_0002"
    history = json.loads((out / "history.json").read_text())
    assert history == result.history and len(history["loss"]) == len(history["val_loss"]) == 2
    assert all(np.isfinite(v) for v in history["loss"]) and len(history["epoch_seconds"]) == 2
    assert ({"encoder.keras", "decoder.keras", "config.json", "prior.keras"}
            <= {p.name for p in result.model_dir.iterdir()})
    info = json.loads((result.model_dir / "config.json").read_text())
    assert info["training"]["training"]["conditional"] is True  # synth is labelled: conditional by default
    assert info["training"]["training"]["batch_size"] == 16  # the grid model's default, resolved
    assert info["training"]["epochs_run"] == 2 and info["training"]["prior_seconds"] > 0
    assert (out / "report.html").is_file()
    # the valley postfilter (asked for; synth's default is none) is fitted to the reconstructions and saved
    assert info["postfilter"]["kind"] == "valley" and info["postfilter"]["n_freq"] == 129
    assert len(info["postfilter"]["gains"]) == 8 and all(g >= 1.0 for g in info["postfilter"]["gains"])
    # 2 prior samples + 2 test clips x (original, ceiling, reconstruction)
    assert len(result.samples) == 8
    assert all(str(p.parent) == settings.samples_dir and p.is_file() for p in result.samples)
    assert sorted(p.name for p in result.samples)[0] == "prior_000.wav"


def test_settings_round_trip_and_name_the_run():
    s = TrainSettings(data="fsdd", conditional=True, epochs=3, model_options={"filters": [8, 16]})
    assert TrainSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert s.run_name == "fsdd-grid-cond" and str(s.out_dir) == "outputs/runs/fsdd-grid-cond"
    assert TrainSettings(data="/data/my_sounds", model="conv", conditional=False).run_name == "my_sounds-conv"
    assert TrainSettings.from_dict({"data": "synth", "unknown_field": 1}).data == "synth"  # old keys are ignored
    cfg = TrainSettings(sr=8000).spectrogram_config()
    assert (cfg.sr, cfg.duration) == (8000, 1.0)  # a new rate keeps the clip's length in seconds
    with pytest.raises(ConfigError, match="postfilter='yes': expected True, False or None"):
        TrainSettings(postfilter="yes")


def test_settings_take_numpy_numbers_and_store_plain_ones():
    s = TrainSettings(epochs=np.int32(2), batch_size=np.int64(8), learning_rate=np.float32(1e-3),
                      duration=np.float64(0.5))
    assert (type(s.epochs), type(s.batch_size), type(s.learning_rate), type(s.duration)) == (int, int, float, float)
    assert json.loads(json.dumps(s.to_dict()))["batch_size"] == 8  # the run's settings file stays writable
    with pytest.raises(ConfigError, match=r"^epochs=True: expected a whole number >= 1$"):
        TrainSettings(epochs=True)
    with pytest.raises(ConfigError, match=r"^duration=-1: expected a number of seconds in \(0, 600\]$"):
        TrainSettings(duration=-1)


def test_a_folder_with_a_run_is_not_reused_silently(run, tmp_path):
    settings, _ = run
    with pytest.raises(ConfigError, match="already holds a training run; pass --resume"):
        train(settings)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(dataclasses.replace(settings, out=str(tmp_path / "empty")), resume=True)
    with pytest.raises(ConfigError, match=r"cannot resume with different \['batch_size'\]"):
        train(dataclasses.replace(settings, batch_size=8, epochs=3), resume=True)
    assert not (tmp_path / "empty").exists()


def test_a_resumed_run_without_a_batch_size_keeps_its_own(tmp_path):
    settings = TrainSettings(out=str(tmp_path / "run"), n_samples_out=0, **{**QUICK, "epochs": 1, "max_clips": 24,
                                                                             "prior_model": "none"})
    train(dataclasses.replace(settings, batch_size=8))  # not the default (16)
    result = train(dataclasses.replace(settings, epochs=2), resume=True)  # no batch size given
    info = json.loads((result.model_dir / "config.json").read_text())
    assert result.epochs_run == 2 and info["training"]["training"]["batch_size"] == 8


def test_latest_checkpoint_survives_a_stale_pointer(tmp_path):
    root = tmp_path / "checkpoints"
    assert latest_checkpoint(tmp_path) is None
    for epoch in (1, 2):
        (root / f"epoch_{epoch:04d}").mkdir(parents=True)
        (root / f"epoch_{epoch:04d}" / "state.json").write_text("{}")
    (root / "epoch_0003").mkdir()  # no state.json: incomplete, never chosen
    (root / "latest.json").write_text('{"checkpoint": "epoch_0009"}')  # points at nothing
    assert latest_checkpoint(tmp_path) == root / "epoch_0002"
    (root / "latest.json").write_text("not json")
    assert latest_checkpoint(tmp_path) == root / "epoch_0002"
