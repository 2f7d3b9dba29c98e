"""The ``vae-audio`` command line: the choices it offers and the one-line errors of its new options.

(The end-to-end CLI paths are exercised by tests/test_reliability.py and test_recipe.py; here the
parser and the spectrogram / length options.)
"""

from __future__ import annotations

import re

import pytest

from vae_audio import cli
from vae_audio.choices import ARCHITECTURES, LIKELIHOODS, PRIOR_CHOICES, STRATEGIES


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, pattern: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vae-audio: error: "), err
    assert re.search(pattern, lines[0]), lines[0]


def test_the_parser_offers_the_defined_choices():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    train = sub.choices["train"]
    choices = {a.dest: a.choices for a in train._actions if a.choices}
    assert tuple(choices["model"]) == ARCHITECTURES and tuple(choices["strategy"]) == STRATEGIES
    assert tuple({a.dest: a.choices for a in sub.choices["generate"]._actions if a.choices}["prior"]) == PRIOR_CHOICES
    assert "grid" in ARCHITECTURES and "spectral" in LIKELIHOODS
    dests = {a.dest for a in train._actions}
    assert {"sr", "duration", "n_fft", "hop_length", "n_mels"} <= dests
    assert "seconds" in {a.dest for a in sub.choices["generate"]._actions}


@pytest.mark.parametrize("argv, pattern", [
    (["--hop-length", "2048"], r"hop_length=2048 exceeds n_fft=512"),  # synth's 32 ms window (unmeasured here)
    (["--n-mels", "600"], r"n_mels=600 exceeds the 257 STFT bins"),
    (["--duration", "-1"], r"duration=-1.0: expected a number of seconds"),
    (["--sr", "1"], r"recipe.sr=1: expected a whole number from 1000 to 384000"),
    (["--n-fft", "0"], r"--n-fft"),
])
def test_impossible_spectrogram_settings_are_refused_in_one_line(argv, pattern, capsys, tmp_path):
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", *argv)
    one_line_error(code, err, pattern)
    assert not (tmp_path / "run").exists()  # nothing written


def test_generate_seconds_needs_a_bundle_first(capsys, tmp_path):
    # (--seconds on a window-only model and bad lengths: tests/test_grid.py::test_generate_any_length)
    code, _, err = run(capsys, "generate", "--model", tmp_path / "nothing", "--seconds", "2")
    one_line_error(code, err, r"nothing: no model bundle here")


def test_train_defaults_are_the_grid_model_conditional_when_labelled():
    from vae_audio.choices import DEFAULT_ARCHITECTURE, DEFAULT_LIKELIHOODS
    from vae_audio.config import RunConfig
    from vae_audio.data.rules import grid_options

    args = cli.build_parser().parse_args(["train"])  # flags not given stay None: the configuration decides
    assert args.model is None and args.conditional is None and args.likelihood is None
    assert RunConfig().model.architecture == DEFAULT_ARCHITECTURE == "grid"
    assert DEFAULT_LIKELIHOODS["grid"] == "spectral"
    assert cli.build_parser().parse_args(["train", "--no-conditional"]).conditional is False
    # 513-bin spectra get a third frequency halving; FSDD's 129 bins keep the architecture's two
    assert grid_options(513)[0] == {"filters": [16, 32, 64], "strides": [[2, 2], [2, 2], [2, 1]]}
    assert grid_options(129)[0] == {"filters": [32, 64], "strides": [[2, 2], [2, 2]]}
    # the batch size: per architecture (the grid model takes twice the steps of batch 32)
    from vae_audio.choices import ARCHITECTURES, DEFAULT_BATCH_SIZES

    assert args.batch_size is None and set(DEFAULT_BATCH_SIZES) == set(ARCHITECTURES)
    assert DEFAULT_BATCH_SIZES["grid"] == 16 and DEFAULT_BATCH_SIZES["conv"] == 32


@pytest.mark.parametrize("value, pattern", [
    ("{x", r"--model-options: '\{x' is not valid JSON"),
    ("[1, 2]", r"--model-options: '\[1, 2\]': expected a JSON object"),
])
def test_bad_model_options_are_refused_in_one_line(value, pattern, capsys, tmp_path):
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--model-options", value)
    one_line_error(code, err, pattern)
    assert not (tmp_path / "run").exists()


def test_train_dry_run_prints_every_key_with_its_reason_and_trains_nothing(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--out", tmp_path / "run", "--max-clips", "16", "--epochs", "3",
                         "--set", "prior.steps=9", "--set", 'model.options={"filters": [8, 16, 32]}', "--dry-run")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("synth: 16 clips")
    assert "  training.epochs = 3  (given)" in lines and "  prior.steps = 9  (given)" in lines
    assert "  model.conditional = true  (the data has 8 labels)" in lines
    assert any(line.startswith('  model.options = {"filters": [8, 16, 32], "strides"') for line in lines)
    assert len([line for line in lines if " = " in line]) == len(__import__("vae_audio.config").config.known_keys())
    assert not (tmp_path / "run").exists()


def test_train_takes_a_config_file_under_the_flags_and_set(capsys, tmp_path):
    import json

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"training": {"epochs": 4}, "prior": {"steps": 7}, "seed": 2}))
    code, out, _ = run(capsys, "train", "--config", config, "--epochs", "5", "--set", "prior.steps=8", "--max-clips",
                       "16", "--no-texture", "--out", tmp_path / "run", "--dry-run")
    assert code == 0
    for line in ("  training.epochs = 5  (given)", "  prior.steps = 8  (given)", "  seed = 2  (given)",
                 "  postfilter.texture = false  (given)"):
        assert line in out.splitlines()


@pytest.mark.parametrize("argv, pattern", [
    (["--set", "prior.stepz=3"], r"unknown setting 'prior.stepz'"),
    (["--set", "steps=3"], r"unknown setting 'steps'; did you mean 'prior.steps'\?"),
    (["--set", "prior.steps"], r"--set 'prior.steps': expected KEY=VALUE"),
    (["--set", "prior.steps=-2"], r"prior.steps=-2: expected a whole number >= 1"),
    (["--config", "missing.json"], r"missing.json: no such configuration file"),
])
def test_bad_configuration_keys_are_refused_in_one_line(argv, pattern, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", *argv)
    one_line_error(code, err, pattern)
    assert not (tmp_path / "run").exists()


def test_training_settings_check_conditional_and_model_options():
    from vae_audio.config import RunConfig
    from vae_audio.errors import ConfigError

    with pytest.raises(ConfigError, match="conditional='yes'"):
        RunConfig.of(conditional="yes")
    with pytest.raises(ConfigError, match="model.options=3"):
        RunConfig.of(model_options=3)
