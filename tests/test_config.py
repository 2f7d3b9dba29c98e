"""vae_audio.config and vae_audio.resolve: one configuration per run, resolved against the data.

(Training with it, replaying a run from its config.json and resuming: tests/test_training.py;
the command line's --config / --set / --dry-run: tests/test_cli.py.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vae_audio.config import AUTO, RunConfig, from_settings, known_keys, parse_assignment, read_config_file
from vae_audio.errors import ConfigError
from vae_audio.resolve import resolve_config, run_name, spectrogram_config


def test_a_configuration_round_trips_through_json_and_compares_equal():
    c = RunConfig.of({"prior.steps": 900, "model": {"options": {"filters": [32, 64]}}}, epochs=3, data="fsdd")
    back = RunConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert back == c and back.prior.steps == 900 and back.model.options == {"filters": (32, 64)}
    assert c.to_dict()["format"] == "vae_audio.config" and c.get("training.epochs") == 3
    assert c.get("data.source") == "fsdd" and c.updated({}) is c


def test_unknown_keys_and_bad_values_are_refused_in_one_line_naming_the_key():
    cases = [({"prior.stepz": 3}, r"^unknown setting 'prior.stepz'"),
             ({"steps": 3}, r"^unknown setting 'steps'; did you mean 'prior.steps'\?$"),
             ({"prior": {"stepz": 3}}, r"^unknown setting 'prior.stepz'"),
             ({"prior.steps": -1}, r"^prior.steps=-1: expected a whole number >= 1$"),
             ({"training.epochs": True}, r"^training.epochs=True: expected a whole number >= 1$"),
             ({"recipe.duration": -1}, r"^recipe.duration=-1: expected a number of seconds in \(0, 600\]$"),
             ({"model.options": 3}, r"^model.options=3: expected an object of architecture options$"),
             ({"postfilter.enabled": "yes"}, r"^postfilter.enabled='yes': expected true or false or null$"),
             ({"model.architecture": "rnn"}, r"^model.architecture='rnn': expected one of 'conv', 'simple'"),
             ({"recipe.level": "loud"},
              r"^recipe.level='loud': expected one of 'peak', 'rms', 'folder', None, 'auto'$")]
    for changes, message in cases:
        with pytest.raises(ConfigError, match=message):
            RunConfig.of(changes)
        assert "\n" not in message
    with pytest.raises(ConfigError, match=r"^unknown setting 'epoch': expected one of data, max_clips"):
        RunConfig.of(epoch=3)


def test_numpy_numbers_become_plain_json_ones():
    c = RunConfig.of(epochs=np.int32(2), batch_size=np.int64(8), learning_rate=np.float32(1e-3),
                     duration=np.float64(0.5))
    t = c.training
    types = (type(t.epochs), type(t.batch_size), type(t.learning_rate), type(c.recipe.duration))
    assert types == (int, int, float, float)
    assert json.loads(json.dumps(c.to_dict()))["training"]["batch_size"] == 8


def test_assignments_parse_json_values_and_keep_plain_strings():
    assert parse_assignment("prior.steps=900") == ("prior.steps", 900)
    assert parse_assignment('model.options={"filters": [32, 64]}') == ("model.options", {"filters": [32, 64]})
    assert parse_assignment("data.source=fsdd") == ("data.source", "fsdd")
    assert parse_assignment("recipe.n_mels=null") == ("recipe.n_mels", None)
    assert parse_assignment("postfilter.enabled=true") == ("postfilter.enabled", True)
    with pytest.raises(ConfigError, match=r"^--set 'prior.steps': expected KEY=VALUE"):
        parse_assignment("prior.steps")
    with pytest.raises(ConfigError, match=r"^unknown setting 'prior.stepz'"):
        parse_assignment("prior.stepz=9")


def test_a_partial_configuration_lists_what_is_unset():
    c = RunConfig.of(data="synth")
    assert not c.resolved and {"recipe.sr", "training.epochs", "prior.steps", "model.conditional"} <= set(c.unset())
    assert c.recipe.level == AUTO and "recipe.n_mels" not in c.unset()  # None is a setting there: no mel bands
    assert set(c.unset()) < set(known_keys())


def test_resolution_fills_every_key_from_the_data_and_the_defaults_and_keeps_given_ones():
    r = resolve_config(data="synth", max_clips=40, epochs=3, sr=8000, n_fft=1024,
                       model_options={"filters": [8, 16, 32]})
    c = r.config
    assert r.reasons["training.epochs"] == "given" and c.training.epochs == 3
    # the step counts are left to the time budget (tests/test_budget.py), the sampling settings and the
    # postfilter to measurements after training; everything else is resolved
    assert r.pending == ["prior.steps"] and c.prior.steps is None
    assert sorted(c.unset()) == ["postfilter.enabled", "postfilter.texture", "prior.onset_noise", "prior.steps",
                                 "prior.temperature"]
    assert r.reasons["prior.steps"] == "the time budget (measured after featurizing)"
    assert r.reasons["prior.temperature"] == "chosen on the validation split after training"
    assert c.training.minutes == 5.0 and r.reasons["training.minutes"].endswith("24 here (at least 5)")
    assert c.model.conditional is True and "8 labels" in r.reasons["model.conditional"]
    assert (c.recipe.sr, c.recipe.duration) == (8000, 1.0)  # a new rate keeps the window's length in seconds
    # the user's options go over the architecture's and the data's defaults (the strides stay)
    # (513 bins: three frequency halvings, the last in frequency only)
    assert c.model.options["filters"] == (8, 16, 32) and c.model.options["strides"] == ((2, 2), (2, 2), (2, 1))
    assert c.model.options["activation"] == "relu" and c.model.latent_dim == 8
    assert c.outputs.out == "outputs/runs/synth-grid-cond" and run_name(c) == "synth-grid-cond"
    assert spectrogram_config(c).n_samples == 8000 and r.dataset.config == spectrogram_config(c)
    assert "recipe.sr = 8000  (given)" in r.describe() and "(given)" not in r.describe(derived_only=True)
    # grouped by reason: a few lines, each setting once
    grouped = r.describe(derived_only=True, grouped=True).splitlines()
    assert "  the data has 8 labels: model.conditional = true" in grouped
    assert len(grouped) < len(r.describe(derived_only=True).splitlines()) and all(len(x) <= 120 or x.count(" = ") == 1
                                                                                 for x in grouped)
    # the data was measured once, before the keys were derived (tests/test_inspection.py for what it holds)
    assert r.summary.n_clips == 40 and r.summary.label_counts == {name: 5 for name in r.dataset.label_names}
    # a resolved configuration has nothing left to derive: it resolves to itself
    c = c.updated({"prior.steps": 700, "prior.temperature": 0.8, "prior.onset_noise": 0.1, "postfilter.enabled": False,
                   "postfilter.texture": False})
    again = resolve_config(c)
    assert again.config == c and all(r.startswith("given") or r == "package default" for r in again.reasons.values())


def test_resolution_refuses_impossible_spectrogram_settings():
    with pytest.raises(ConfigError, match=r"^recipe.hop_length=512 exceeds n_fft=256: frames would leave gaps$"):
        resolve_config(data="synth", max_clips=8, sr=8000, n_fft=256, hop_length=512)


def test_flat_settings_of_earlier_versions_become_a_configuration():
    old = {"data": "fsdd", "model": "grid", "conditional": True, "epochs": 50, "batch_size": 16, "sr": None,
           "n_samples_out": 8, "verbose": 2, "prior_model": "autoregressive", "model_options": {"filters": [32, 64]}}
    recipe = {"spectrogram": {"sr": 8000, "n_fft": 256, "hop_length": 64, "n_samples": 6000, "n_mels": None},
              "level": "peak", "trim_db": None}
    c = from_settings(old, recipe)
    assert (c.data.source, c.training.epochs, c.recipe.sr, c.recipe.duration, c.recipe.level) == \
        ("fsdd", 50, 8000, 0.75, "peak")
    assert c.outputs.n_samples == 8 and c.model.options == {"filters": (32, 64)}
    assert c.recipe.max_duration == 0.75  # those runs trained on the window


def test_max_duration_is_checked_and_resolved_per_architecture():
    with pytest.raises(ConfigError, match=r"^recipe.max_duration=0.5: expected at least recipe.duration=1 \(the clips"):
        RunConfig.of(duration=1.0, max_duration=0.5)
    with pytest.raises(ConfigError, match=r"^recipe.max_duration=0: expected a number of seconds in \(0, 600\]$"):
        RunConfig.of(max_duration=0)
    grid = resolve_config(data="synth", max_clips=8, sr=8000)
    assert grid.config.recipe.max_duration == 4.0 and "4 windows" in grid.reasons["recipe.max_duration"]
    conv = resolve_config(data="synth", max_clips=8, sr=8000, model="conv")
    assert conv.config.recipe.max_duration == 1.0 and "takes only its window" in conv.reasons["recipe.max_duration"]
    assert resolve_config(data="synth", max_clips=8, duration=0.5, max_duration=0.8).config.recipe.max_duration == 0.8
    with pytest.raises(ConfigError, match=r"^recipe.max_duration=2: the conv architecture takes only its 1 s window"):
        resolve_config(data="synth", max_clips=8, model="conv", max_duration=2.0)
    folder = resolve_config({"recipe.level": "folder"}, data="synth", max_clips=8)
    assert folder.config.recipe.level == "folder" and folder.dataset.level == "folder"


def test_config_files_are_read_with_one_line_errors(tmp_path):
    good = tmp_path / "c.json"
    good.write_text(json.dumps({"prior": {"steps": 9}, "seed": 3}))
    assert read_config_file(good) == {"prior": {"steps": 9}, "seed": 3}
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something.else"}))
    for name, message in (("missing.json", "no such configuration file"), ("bad.json", "not valid JSON"),
                          ("other.json", "format 'something.else' is not 'vae_audio.config'")):
        with pytest.raises(ConfigError, match=message) as err:
            read_config_file(tmp_path / name)
        assert str(err.value).startswith(str(tmp_path / name)) and "\n" not in str(err.value)
