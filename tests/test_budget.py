"""vae_audio.budget and early stopping: the split arithmetic, the stop rule, the counts saved and replayed.

(The measurement itself runs for real in the end-to-end fixture below; the other runs fake it.)
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vae_audio import budget
from vae_audio.budget import MIN_PRIOR_STEPS, PRIOR_PASSES, SAFETY, StepTimes, split_budget
from vae_audio.config import RunConfig
from vae_audio.errors import ConfigError, TrainingError
from vae_audio.training import early_stopping

from helpers import LIGHT_RUN

#: a configuration with what the split reads set (the pending counts unset)
BASE = RunConfig.of({"training.minutes": 10, "training.batch_size": 16, "prior.batch_size": 64, "recipe.duration": 1.0,
                     "postfilter.enabled": False, "postfilter.texture": False, "prior.temperature": 0.7,
                     "prior.onset_noise": 0.2, "outputs.n_samples": 8})
TIMES = StepTimes(ae_step=0.2, ae_eval=0.05, ae_trace=4.0, prior_step=0.1, prior_setup=6.0, latent=(33, 24, 8),
                  measured=True, seconds=5.0)
#: a tiny run (tests/test_training.py's QUICK without its counts)
TINY = dict(data="synth", max_clips=40, sr=8000, n_fft=256, hop_length=128, duration=0.5, n_samples=2)


# ----------------------------------------------------------------------------- the split
def test_the_split_gives_the_prior_its_passes_and_the_autoencoder_the_rest():
    split = split_budget(BASE, TIMES, elapsed=30.0, n_train=800, n_val=100, n_test=100)
    # fixed: tracing 4 + prior setup (50 encoding batches x 0.05 + 6) + outputs (8 + 0.25 x (4 + 8 + 16 + 16) x 1 s)
    assert split.fixed == pytest.approx({"tracing": 4.0, "prior setup": 8.5, "outputs": 19.0})
    # a texture left to measure: fitted on 128 clips (8 batches x 0.05 + 1 + 4 renders of 16 clips x 0.1 s per s)
    # and chosen on 64 of the validation clips (1 + 3 renders x 0.1 x 64 s)
    textured = split_budget(BASE.updated({"postfilter.texture": None}), TIMES, elapsed=30.0, n_train=800, n_val=100,
                            n_test=100)
    assert {k: v for k, v in textured.fixed.items() if k not in split.fixed} == pytest.approx(
        {"texture": 7.8, "texture choice": 20.2})
    plan = SAFETY * 600 - 30 - 31.5  # 478.5 s to split
    cap = math.ceil(PRIOR_PASSES * 800 / 64)  # 500 steps = 50 s, under the prior's share (35 % of the plan)
    assert split.prior_steps == cap == 500 and split.prior_seconds == pytest.approx(50.0)
    assert split.steps_per_epoch == 50 and split.val_batches == 7
    assert split.epoch_seconds == pytest.approx(50 * 0.2 + 7 * 0.05 + 0.5)  # 10.85 s
    assert split.epochs == math.floor((plan - 50) / 10.85) == 39
    assert split.planned_seconds <= SAFETY * 600 and split.notes == []
    assert split.deadline == pytest.approx(600 - 31.5 - 50)  # the ceiling less what comes after the autoencoder
    assert split.reasons["training.epochs"].startswith("10-minute budget: 0.200 s/step x 50 steps/epoch")
    assert "-> 39 epochs (a ceiling" in split.reasons["training.epochs"]
    assert "40 passes over 800 codes at batch 64 -> 500 steps" in split.reasons["prior.steps"]
    # a small folder: 40 passes are 99 steps, fewer than the network needs; the time allows 500
    small = split_budget(BASE, TIMES, elapsed=30.0, n_train=158, n_val=22, n_test=22)
    assert small.prior_steps == 500
    assert "at least 500 steps (more than 40 passes over 158" in small.reasons["prior.steps"]
    text = split.describe()
    assert "step times measured" in text and "-> 39 epochs" in text and "prior 0.100 s/step -> 500 steps" in text


def test_settings_chosen_after_training_are_fixed_costs():
    from vae_audio.budget import POSTFILTER_AUDIO_COST, SAMPLING_AUDIO_COST, TUNING_SET_SECONDS
    from vae_audio.tuning import ONSET_NOISES, TEMPERATURES

    unset = RunConfig.from_dict({**BASE.to_dict(), "prior": {**BASE.to_dict()["prior"], "temperature": None,
                                                               "onset_noise": None},
                                 "postfilter": {**BASE.to_dict()["postfilter"], "enabled": None}})
    split = split_budget(unset, TIMES, elapsed=30.0, n_train=800, n_val=100, n_test=100)
    sets = len(TEMPERATURES) + len(ONSET_NOISES)  # 100 validation clips of 1 s rendered per setting
    expected = (1 + sets) * TUNING_SET_SECONDS + sets * SAMPLING_AUDIO_COST * 100
    assert split.fixed["sampling choice"] == pytest.approx(expected)
    assert split.fixed["postfilter choice"] == pytest.approx(2 * (TUNING_SET_SECONDS + POSTFILTER_AUDIO_COST * 100))
    assert "postfilter" in split.fixed  # fitted before it is judged
    base = split_budget(BASE, TIMES, elapsed=30.0, n_train=800, n_val=100, n_test=100)
    assert split.epochs < base.epochs


def test_a_slower_machine_gets_fewer_epochs_and_a_short_budget_caps_the_prior_by_its_share():
    fast = split_budget(BASE, TIMES, elapsed=30.0, n_train=800, n_val=100, n_test=100)
    slow_times = StepTimes(**{**TIMES.__dict__, "ae_step": 0.4, "ae_eval": 0.1, "prior_step": 0.2})
    slow = split_budget(BASE, slow_times, elapsed=60.0, n_train=800, n_val=100, n_test=100)
    assert slow.epochs < fast.epochs and slow.planned_seconds <= SAFETY * 600
    short = split_budget(BASE.updated({"training.minutes": 2}), TIMES, elapsed=10.0, n_train=800, n_val=100,
                         n_test=100)
    room = 0.35 * (SAFETY * 120 - 10 - sum(short.fixed.values()))
    assert short.prior_steps == math.floor(room / 0.1) < 500 and "35% of the time" in short.reasons["prior.steps"]


def test_given_counts_win_and_the_budget_fills_only_the_other():
    given_epochs = BASE.updated({"training.epochs": 12})
    split = split_budget(given_epochs, TIMES, elapsed=30.0, n_train=800, n_val=100, n_test=100,
                         pending=["prior.steps"])
    assert split.epochs == 12 and split.deadline is None and "training.epochs" not in split.reasons
    assert split.prior_steps == 500  # 12 epochs leave more than the passes need
    assert "training.epochs given: the budget is not used for the autoencoder" in split.reasons["prior.steps"]
    given_steps = BASE.updated({"prior.steps": 2000})
    split = split_budget(given_steps, TIMES, elapsed=30.0, n_train=800, n_val=100, n_test=100,
                         pending=["training.epochs"])
    assert split.prior_steps == 2000 and split.epochs == math.floor((478.5 - 200) / 10.85) == 25
    assert "prior.steps given: its time is taken first" in split.reasons["training.epochs"]
    both = split_budget(BASE.updated({"training.epochs": 3, "prior.steps": 9}), TIMES, elapsed=1.0, n_train=800,
                        n_val=100, n_test=100, pending=[])
    assert (both.epochs, both.prior_steps, both.reasons) == (3, 9, {})


def test_a_tiny_budget_gives_the_floors_and_says_the_plan_exceeds_it():
    split = split_budget(BASE.updated({"training.minutes": 0.1}), TIMES, elapsed=20.0, n_train=800, n_val=100,
                         n_test=100)
    assert split.epochs == 1 and split.prior_steps == MIN_PRIOR_STEPS
    assert "(the floor)" in split.reasons["training.epochs"] and "the floor" in split.reasons["prior.steps"]
    assert split.notes and "exceeds the 0.1-minute ceiling" in split.notes[0]


def test_without_a_learned_prior_the_autoencoder_gets_everything():
    times = StepTimes(**{**TIMES.__dict__, "prior_step": 0.0, "prior_setup": 0.0, "latent": None})
    split = split_budget(BASE, times, elapsed=30.0, n_train=800, n_val=100, n_test=100)
    assert split.prior_seconds == 0 and "not used" in split.reasons["prior.steps"]
    assert split.epochs == math.floor((SAFETY * 600 - 30 - sum(split.fixed.values())) / 10.85)


def test_the_split_refuses_nonsense_in_one_line():
    with pytest.raises(ConfigError, match=r"^time budget: n_train=0: expected a whole number of clips$"):
        split_budget(BASE, TIMES, elapsed=0.0, n_train=0, n_val=0, n_test=0)
    with pytest.raises(ConfigError, match=r"^time budget: cannot resolve \['model.beta'\]"):
        split_budget(BASE, TIMES, elapsed=0.0, n_train=8, n_val=0, n_test=0, pending=["model.beta"])


def test_the_budget_keys_are_checked_in_one_line():
    for key, value, message in [
            ("training.minutes", 0, r"training.minutes=0: expected a number of minutes in \(0, 10080\]"),
            ("training.patience", -1, r"training.patience=-1: expected a whole number >= 0"),
            ("training.min_delta", 1.0, r"training.min_delta=1.0: expected a relative improvement")]:
        with pytest.raises(ConfigError, match="^" + message):
            RunConfig.of({key: value})
    assert RunConfig.of(minutes=7.5, patience=0).training.minutes == 7.5


# ----------------------------------------------------------------------------- early stopping
def test_early_stopping_waits_out_the_warm_up_and_stops_on_a_plateau():
    # epochs 1-3 are the KL warm-up (not comparable); then a fall, then a plateau within 1 %
    val = [-10.0, -50.0, -80.0, -100.0, -120.0, -121.0, -120.5, -121.1, -120.0]
    assert early_stopping(val[:5], patience=3, min_delta=0.01, first=4) == (5, False)
    assert early_stopping(val[:7], patience=3, min_delta=0.01, first=4) == (6, False)
    # epoch 5 was the last to improve by > 1 %: three epochs later, stop; the best loss is epoch 8's
    assert early_stopping(val[:8], patience=3, min_delta=0.01, first=4) == (8, True)
    assert early_stopping(val, patience=0, min_delta=0.01, first=4) == (8, False)  # patience 0: never
    assert early_stopping(val[:3], patience=1, min_delta=0.0, first=4) == (None, False)  # still warming up
    assert early_stopping([5.0, 4.0, 4.5, 4.6], patience=2, min_delta=0.0, first=1) == (2, True)  # positive losses


class _FakeModel:
    """What the callback touches of a Keras model: stop_training and save_weights."""

    def __init__(self):
        self.stop_training = False
        self.saved: list[str] = []

    def save_weights(self, path):
        with open(path, "w") as f:
            f.write("weights")
        self.saved.append(path)


def test_the_callback_saves_the_best_epoch_and_stops_on_a_synthetic_plateau(tmp_path):
    from vae_audio.training import _callbacks_module

    _, _, EarlyStopping = _callbacks_module()
    history: dict[str, list[float]] = {}
    stopper = EarlyStopping(tmp_path, history, patience=2, min_delta=0.01, first=2)
    model = _FakeModel()
    stopper.set_model(model)
    stopper.params = {"epochs": 50}
    for epoch, val in enumerate([-1.0, -10.0, -20.0, -20.1, -19.0, -20.15, -30.0]):
        history.setdefault("val_loss", []).append(val)
        history.setdefault("epoch_seconds", []).append(1.0)
        stopper.on_epoch_end(epoch, {"val_loss": val})
        if model.stop_training:
            break
    # epoch 3 (-20) was the last > 1 % improvement; epochs 4 and 5 did not improve enough: stop after 5
    assert epoch + 1 == 5 and stopper.stopped == "early stopping" and stopper.best_epoch == 4
    state = json.loads((tmp_path / "checkpoints" / "best" / "state.json").read_text())
    assert state == {"epoch": 4, "val_loss": -20.1} and len(model.saved) == 3  # epochs 2, 3 and 4 were best


def test_the_callback_stops_before_an_epoch_that_would_pass_the_deadline(tmp_path):
    import time

    from vae_audio.training import _callbacks_module

    _, _, EarlyStopping = _callbacks_module()

    def fit(stopper, history, epochs):
        model = _FakeModel()
        stopper.set_model(model)
        stopper.params = {"epochs": 50}
        for epoch in range(epochs):  # what Keras and the history callback do, epoch by epoch
            history["val_loss"].append(-1.0 - epoch)
            history["epoch_seconds"].append(30.0)
            stopper.on_epoch_end(epoch, {})
            if model.stop_training:
                return epoch + 1
        return None

    history = {"val_loss": [], "epoch_seconds": []}
    stopper = EarlyStopping(tmp_path, history, patience=5, min_delta=0.01, first=1, write=False,
                            deadline=time.perf_counter() + 10.0)
    # the first epoch also traces the step function: its time says nothing of the rate; the second's 30 s
    # say a third would pass the deadline
    assert fit(stopper, history, 5) == 2 and stopper.stopped == "time budget"
    # 150 s left: room for 30-second epochs, unless they run 3x slower than the 10 s planned, when the
    # 100 s planned after the autoencoder will likely take 300
    for planned, stopped_after in ((None, None), ((10.0, 100.0), 2)):
        history = {"val_loss": [], "epoch_seconds": []}
        stopper = EarlyStopping(tmp_path, history, patience=5, min_delta=0.01, first=1, write=False,
                                deadline=time.perf_counter() + 150.0, planned=planned)
        assert fit(stopper, history, 4) == stopped_after
    # a resumed run: the epochs of the earlier fit are not this fit's first
    history = {"val_loss": [-1.0, -2.0], "epoch_seconds": [30.0, 30.0]}
    stopper = EarlyStopping(tmp_path, history, patience=5, min_delta=0.01, first=1, write=False,
                            deadline=time.perf_counter() + 10.0)
    assert fit(stopper, history, 5) == 2


def test_the_best_weights_are_restored_and_a_wrong_epoch_is_refused(tmp_path):
    import keras

    from vae_audio.fileio import atomic_directory, atomic_write_json
    from vae_audio.training import _restore_best

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    best = [w.copy() for w in model.get_weights()]
    with atomic_directory(tmp_path / "checkpoints" / "best") as tmp:
        model.save_weights(str(tmp / "vae.weights.h5"))
        atomic_write_json(tmp / "state.json", {"epoch": 4, "val_loss": -2.0})
    model.set_weights([w + 1 for w in best])
    _restore_best(model, tmp_path, 4)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), best))
    with pytest.raises(TrainingError, match=r"checkpoints/best: cannot restore the best epoch's weights \(it holds "
                                            r"epoch 4, not 5\)"):
        _restore_best(model, tmp_path, 5)


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A tiny run whose counts the budget resolved from a real measurement (half a minute)."""
    from vae_audio.pipeline import train

    root = tmp_path_factory.mktemp("budget")
    config = RunConfig.of(LIGHT_RUN, out=str(root / "run"), samples_dir=str(root / "samples"), minutes=0.5,
                          **TINY)
    return root, train(config, verbose=0)


def test_a_tiny_budget_finishes_and_records_the_counts_and_the_epochs_run(measured):
    _, result = measured
    cfg = result.config
    assert cfg.resolved and cfg.training.minutes == 0.5 and cfg.training.epochs >= 1 and cfg.prior.steps >= 1
    assert result.split is not None and result.split.times.measured and result.split.times.ae_step > 0
    assert result.split.times.prior_step > 0 and result.split.times.latent[2] == 8
    saved = json.loads((result.out_dir / "config.json").read_text())
    assert saved == result.config.to_dict()  # the resolved counts, not null: a replay has nothing to measure
    info = json.loads((result.model_dir / "config.json").read_text())
    assert info["config"]["training"]["epochs"] == cfg.training.epochs
    assert info["training"]["epochs_run"] == result.epochs_run == len(result.history["loss"]) <= cfg.training.epochs
    assert info["training"]["stopped"] == result.stopped in ("ceiling", "early stopping", "time budget")
    assert info["training"]["budget"]["epochs"] == cfg.training.epochs and info["training"]["budget"]["measured"]
    assert info["training"]["budget"]["prior_steps"] == cfg.prior.steps


def _no_measuring(*args, **kwargs):
    raise AssertionError("the budget measured again")


def test_a_replay_does_not_measure_and_trains_the_same_weights(measured, monkeypatch):
    import keras

    import vae_audio.modeling.models  # noqa: F401  (registers the custom layers)
    from vae_audio.pipeline import train

    root, first = measured
    monkeypatch.setattr(budget, "measure", _no_measuring)
    config = RunConfig.from_dict(json.loads((first.out_dir / "config.json").read_text()))
    again = train(config.updated({"outputs.out": str(root / "again"), "outputs.samples_dir": str(root / "s2")}),
                  verbose=0)
    assert again.split is None and again.config.training.epochs == first.config.training.epochs
    assert again.config.prior.steps == first.config.prior.steps and again.epochs_run == first.epochs_run
    # measuring built throwaway models; the seeds were reset, so the measured run trained as its replay
    for name in ("encoder.keras", "decoder.keras"):
        a = keras.saving.load_model(first.model_dir / name, compile=False).get_weights()
        b = keras.saving.load_model(again.model_dir / name, compile=False).get_weights()
        assert len(a) == len(b) > 0 and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_resume_continues_the_saved_counts_without_measuring(measured, monkeypatch):
    from vae_audio.pipeline import plan, train

    root, first = measured
    monkeypatch.setattr(budget, "measure", _no_measuring)
    resolution = plan({"out": first.config.outputs.out}, resume=True)
    assert resolution.pending == [] and resolution.config.training.epochs == first.config.training.epochs
    assert resolution.config.prior.steps == first.config.prior.steps
    assert resolution.reasons["training.epochs"] == "given"  # the checkpoint's value
    result = train({"out": first.config.outputs.out, "samples_dir": str(root / "s3")}, resume=True, verbose=0)
    assert result.split is None and result.epochs_run == first.epochs_run


def test_given_counts_are_not_measured_and_a_faked_measurement_fills_the_rest(tmp_path, monkeypatch):
    from vae_audio.pipeline import train

    calls = []

    def fake(config, features, strategy):
        calls.append(config.training.epochs)
        return StepTimes(ae_step=5.0, ae_eval=1.0, ae_trace=0.0, prior_step=1.0, prior_setup=0.0, latent=(17, 2, 8),
                         measured=True)

    monkeypatch.setattr(budget, "measure", fake)
    result = train(RunConfig.of(LIGHT_RUN, out=str(tmp_path / "a"), epochs=1, minutes=1, **{**TINY, "n_samples": 0}),
                   verbose=0)
    assert calls == [1] and result.config.training.epochs == 1  # measured for the prior only
    assert result.config.prior.steps == MIN_PRIOR_STEPS  # a 1-minute budget at 1 s/step: the floor
    assert "training.epochs given" in result.split.reasons["prior.steps"]
    monkeypatch.setattr(budget, "measure", _no_measuring)
    result = train(RunConfig.of(LIGHT_RUN, out=str(tmp_path / "b"), epochs=1, prior_steps=5,
                                **{**TINY, "n_samples": 0}),
                   verbose=0)
    assert result.split is None and result.config.prior.steps == 5


def test_the_dry_run_prints_the_estimated_split_and_what_would_be_measured(capsys, tmp_path):
    from vae_audio import cli

    code = cli.main(["train", "--dry-run", "--max-clips", "40", "--minutes", "3", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0 and not (tmp_path / "run").exists()
    assert "  training.minutes = 3.0  (given)" in out.splitlines()
    assert "  training.epochs = null  (the time budget (measured after featurizing))" in out.splitlines()
    assert "time budget: 3 min ceiling (planning for 90% of it); step times estimated (training measures them " \
           "after featurizing):" in out
    assert " epochs (" in out and "prior " in out and "fixed costs" in out and "planned " in out
    code = cli.main(["train", "--dry-run", "--max-clips", "40", "--epochs", "2", "--prior-steps", "3", "--out",
                     str(tmp_path / "run")])
    assert "time budget: not used (training.epochs and prior.steps are given)" in capsys.readouterr().out


def test_nothing_is_measured_when_only_an_unused_prior_count_is_pending(tmp_path, monkeypatch):
    from vae_audio.pipeline import train

    monkeypatch.setattr(budget, "measure", _no_measuring)
    result = train(RunConfig.of(out=str(tmp_path / "run"), model="conv", conditional=False, epochs=1,
                                **{**TINY, "n_samples": 0}), verbose=0)
    assert result.split is not None and not result.split.times.measured and result.epochs_run == 1
    info = json.loads((result.model_dir / "config.json").read_text())
    assert info["config"]["prior"]["steps"] == 1500  # the package default, saved although a mixture is fitted
    assert "not used: no learned prior" in result.split.reasons["prior.steps"]
