"""vae_audio.training and vae_audio.pipeline: what a run folder holds, the resolved configuration saved
with it, a run repeated from it, checkpoints found or refused.

(The configuration itself: tests/test_config.py; killing a run and resuming it: tests/test_crash_resume.py;
same seed, same bytes: tests/test_determinism.py; the command line: tests/test_cli.py.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vae_audio.config import RunConfig
from vae_audio.errors import ConfigError
from vae_audio.pipeline import train
from vae_audio.training import latest_checkpoint

from helpers import LIGHT_RUN

#: a quick grid run: 8 kHz, 0.5 s, 129 bins, two epochs, a 5-step prior
#: (no batch size: the grid model's default, 16, is resolved and recorded)
QUICK = dict(data="synth", epochs=2, max_clips=40, sr=8000, n_fft=256, hop_length=128, duration=0.5, prior_steps=5)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    config = RunConfig.of(LIGHT_RUN, out=str(root / "run"), samples_dir=str(root / "samples"), n_samples=2,
                          postfilter=True,
                          **QUICK)
    return config, train(config, verbose=0)


def test_a_run_folder_holds_checkpoints_bundle_history_report_and_samples(run):
    config, result = run
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
    assert info["training"]["epochs_run"] == 2 and info["training"]["prior_seconds"] > 0
    assert (out / "report.html").is_file()
    # the valley postfilter (asked for; synth's default is none) is fitted to the reconstructions and saved
    assert info["postfilter"]["kind"] == "valley" and info["postfilter"]["n_freq"] == 129
    assert len(info["postfilter"]["gains"]) == 8 and all(g >= 1.0 for g in info["postfilter"]["gains"])
    # 2 prior samples + 2 test clips x (original, ceiling, reconstruction)
    assert len(result.samples) == 8 and all(str(p.parent) == config.outputs.samples_dir and p.is_file()
                                            for p in result.samples)
    assert sorted(p.name for p in result.samples)[0] == "prior_000.wav"


def test_the_resolved_configuration_is_saved_in_the_run_folder_and_the_bundle(run):
    _, result = run
    saved = json.loads((result.out_dir / "config.json").read_text())
    bundled = json.loads((result.model_dir / "config.json").read_text())["config"]
    assert saved == bundled == result.config.to_dict()
    config = RunConfig.from_dict(saved)
    assert config.resolved and config == result.config
    # every value the run used, null only where "none" is the setting
    nulls = {f"{section}.{k}" for section, values in saved.items() if isinstance(values, dict)
             for k, v in values.items() if v is None}
    assert nulls == {"recipe.n_mels", "recipe.trim_db"}  # synth: no mel bands, no trim
    assert config.recipe.level == "folder"  # synth's notes keep their levels relative to each other
    assert config.model.conditional is True and config.training.batch_size == 16  # synth is labelled; grid's batch
    assert config.model.options["filters"] == (32, 64)  # 129 bins: two frequency halvings (vae_audio.data.rules)
    # the prior's settings are there too, those measured after training included (4 validation clips are too
    # few to measure: the prior's own temperature)
    assert config.prior.onset_columns == 6 and config.prior.temperature == 0.7 and config.prior.onset_noise > 0
    assert config.postfilter.enabled is True and config.training.memory_limit > 0


def test_a_run_repeated_from_its_config_file_has_the_same_weights(run, tmp_path):
    import keras

    import vae_audio.modeling.models  # noqa: F401  (registers the custom layers)

    _, first = run
    config = RunConfig.from_dict(json.loads((first.out_dir / "config.json").read_text()))
    again = train(config.updated({"outputs.out": str(tmp_path / "again"), "outputs.samples_dir": str(tmp_path / "s")}),
                  verbose=0)
    outputs = {"outputs.out": first.config.outputs.out, "outputs.samples_dir": first.config.outputs.samples_dir}
    assert again.config.updated(outputs) == first.config
    for name in ("encoder.keras", "decoder.keras"):
        a = keras.saving.load_model(first.model_dir / name, compile=False).get_weights()
        b = keras.saving.load_model(again.model_dir / name, compile=False).get_weights()
        assert len(a) == len(b) > 0 and all(np.array_equal(x, y) for x, y in zip(a, b))
    same = [p.read_bytes() == (tmp_path / "s" / p.name).read_bytes() for p in first.samples]
    assert len(same) == 8 and all(same)  # the prior too: its samples are the same bytes


def test_a_folder_with_a_run_is_not_reused_silently(run, tmp_path):
    config, _ = run
    with pytest.raises(ConfigError, match="already holds a training run; pass --resume"):
        train(config, verbose=0)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(config.updated(out=str(tmp_path / "empty")), resume=True, verbose=0)
    with pytest.raises(ConfigError, match=r"cannot resume with different \['training.batch_size'\]"):
        train(config.updated(batch_size=8, epochs=3), resume=True, verbose=0)
    assert not (tmp_path / "empty").exists()


def test_a_resumed_run_keeps_its_saved_configuration_and_takes_new_epochs(tmp_path):
    common = {**QUICK, "epochs": 1, "max_clips": 24, "prior_model": "none", "out": str(tmp_path / "run"),
              "n_samples": 0}
    train({**common, "batch_size": 8}, verbose=0)  # not the default (16)
    result = train({"epochs": 2, "out": str(tmp_path / "run")}, resume=True, verbose=0)  # only what changes
    info = json.loads((result.model_dir / "config.json").read_text())
    assert result.epochs_run == 2 and info["config"]["training"]["batch_size"] == 8
    assert info["config"]["training"]["epochs"] == 2 and info["config"]["data"]["max_clips"] == 24


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


def test_a_grid_model_trains_on_crops_of_longer_clips_end_to_end(tmp_path):
    import soundfile as sf

    from vae_audio import cli
    from vae_audio.pipeline import featurize, plan

    from helpers import harmonic, save_wav

    root = tmp_path / "notes"
    for i in range(12):  # two labels of 8 kHz notes: a third are 3 windows long (0.75 s), the rest 0.2 s
        for label, f0 in (("low", 150.0), ("high", 450.0)):
            save_wav(root / label / f"{label}{i:02d}.wav", harmonic(f0 * (1 + 0.02 * i), 0.75 if i % 3 == 0 else 0.2))
    config = RunConfig.of(LIGHT_RUN, data=str(root), epochs=2, sr=8000, n_fft=128, hop_length=64, duration=0.25,
                          prior_steps=5, batch_size=8, model_options={"filters": [4, 8]}, out=str(tmp_path / "run"),
                          n_samples=0)
    resolution = plan(config)
    assert resolution.config.recipe.max_duration == 1.0 and resolution.config.model.architecture == "grid"
    features = featurize(resolution, verbose=0)
    assert features.long.n_long == 8 and set(features.long.length[features.long.start >= 0]) == {1 + 6000 // 64}
    result = train(config, features=features, verbose=0)
    assert result.epochs_run == 2 and all(np.isfinite(v) for v in result.history["loss"] + result.history["val_loss"])
    assert result.config.recipe.max_duration == 1.0
    # the grid model takes any length: a long file is reconstructed whole, samples of any length are made
    long_file = save_wav(tmp_path / "long.wav", harmonic(160.0, 1.3))
    assert cli.main(["reconstruct", "--model", str(result.model_dir), "--label", "low", "--out",
                     str(tmp_path / "rec"), str(long_file)]) == 0
    for kind in ("original", "ceiling", "reconstruction"):
        assert len(sf.read(tmp_path / "rec" / f"long_{kind}.wav")[0]) == int(1.3 * 8000)
    assert cli.main(["generate", "--model", str(result.model_dir), "--label", "high", "--n", "2", "--seconds", "1.5",
                     "--out", str(tmp_path / "gen")]) == 0
    lengths = {len(sf.read(p)[0]) for p in (tmp_path / "gen").glob("*.wav")}
    assert len(lengths) == 1 and abs(lengths.pop() - 1.5 * 8000) <= 64
