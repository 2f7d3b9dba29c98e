"""Settings chosen by measuring (vae_audio/tuning.py): the STFT whose phase ceiling the listener hears least,
the prior's sampling settings and the postfilter, measured on the validation split after training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vae_audio.data.rules import stft_candidates

from helpers import LIGHT_RUN, save_wav


def _bursts(n: int, sr: int = 8000, seconds: float = 0.5) -> np.ndarray:
    """Decaying noise bursts and tones, alternately: material whose best analysis is not obvious."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    out = []
    for i in range(n):
        env = np.exp(-t * (6 + i % 7))
        y = rng.standard_normal(len(t)) if i % 2 else np.sin(2 * np.pi * (200 + 37 * i) * t)
        out.append(0.5 * env * y)
    return np.asarray(out, dtype=np.float32)


def test_choose_stft_scores_every_candidate_and_takes_the_least_heard():
    from vae_audio.tuning import choose_stft

    (n_fft, hop), why, scores = choose_stft(_bursts(30), 8000, seed=0)
    assert set(scores) == {f"{n}/{h}" for n, h in stft_candidates(8000)}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert (n_fft, hop) in stft_candidates(8000) and scores[f"{n_fft}/{hop}"] <= min(scores.values()) + 0.01
    assert "heard least on 30 clips" in why
    # too few clips to measure: the 32 ms window, said so
    chosen, why, scores = choose_stft(_bursts(8), 8000)
    assert chosen == (256, 64) and scores == {} and "too few" in why


def test_a_run_measures_the_stft_once_and_keeps_the_choice(tmp_path, monkeypatch):
    import vae_audio.resolve as resolve
    import vae_audio.tuning as tuning

    for i, y in enumerate(_bursts(30)):
        save_wav(tmp_path / "data" / "abc"[i % 3] / f"{i}.wav", y, 8000)
    monkeypatch.setenv("VAE_AUDIO_STFT_CLIPS", "24")
    monkeypatch.setattr(resolve, "STFT_CACHE_DIR", tmp_path / "cache")
    first = resolve.resolve_config(data=str(tmp_path / "data"))
    assert "heard least on 24 clips" in first.reasons["recipe.n_fft"]
    assert first.config.recipe.hop_length == first.config.recipe.n_fft // 4
    (cached,) = (tmp_path / "cache").glob("stft-*.json")
    assert json.loads(cached.read_text())["stft"] == [first.config.recipe.n_fft, first.config.recipe.hop_length]

    def fail(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(tuning, "choose_stft", fail)
    again = resolve.resolve_config(data=str(tmp_path / "data"))
    assert again.config.recipe == first.config.recipe and again.reasons["recipe.n_fft"] == first.reasons["recipe.n_fft"]
    # a given n_fft is not measured; unmeasured (the suite's setting): the 32 ms window, said so
    assert resolve.resolve_config(data=str(tmp_path / "data"), n_fft=512).reasons["recipe.hop_length"] == \
        "a quarter of n_fft"
    monkeypatch.setenv("VAE_AUDIO_STFT_CLIPS", "0")
    plain = resolve.resolve_config(data=str(tmp_path / "data"))
    assert plain.config.recipe.n_fft == 256 and "VAE_AUDIO_STFT_CLIPS=0" in plain.reasons["recipe.n_fft"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A grid model on 120 synth notes, 2 epochs and 40 prior steps, the sampling, postfilter and texture left to
    measure."""
    from vae_audio.pipeline import train

    out = tmp_path_factory.mktemp("tuned") / "run"
    return train({**LIGHT_RUN, "postfilter.texture": None}, data="synth", max_clips=120, epochs=2, prior_steps=40,
                 n_samples=0, out=str(out),
                 verbose=0)


def test_sampling_and_postfilter_are_chosen_on_the_validation_split_and_saved(tiny_run):
    from vae_audio.modeling.bundle import load_model
    from vae_audio.tuning import ONSET_NOISES, TEMPERATURES

    saved = json.loads((tiny_run.out_dir / "config.json").read_text())
    assert saved["prior"]["temperature"] in TEMPERATURES and saved["prior"]["onset_noise"] in ONSET_NOISES
    assert isinstance(saved["postfilter"]["enabled"], bool)
    model = load_model(tiny_run.model_dir)
    bundle = json.loads((tiny_run.model_dir / "config.json").read_text())["config"]
    assert bundle["prior"] == saved["prior"] and bundle["postfilter"] == saved["postfilter"]
    # the prior samples as chosen, and the postfilter is there exactly when it was kept
    assert model.prior.default_temperature == saved["prior"]["temperature"]
    assert np.allclose(model.prior.start.bandwidth, saved["prior"]["onset_noise"])
    assert (model.postfilter is not None) == saved["postfilter"]["enabled"]
    assert isinstance(saved["postfilter"]["texture"], bool)
    assert (model.texture is not None) == saved["postfilter"]["texture"]


def test_choose_postfilter_compares_with_and_without(tiny_run):
    from vae_audio.data.datasets import load_dataset
    from vae_audio.data.featurize import build_features
    from vae_audio.dsp.postfilter import ValleyPostfilter
    from vae_audio.modeling.bundle import load_model
    from vae_audio.tuning import choose_postfilter

    model = load_model(tiny_run.model_dir)
    features = build_features(load_dataset("synth", max_clips=120, config=model.config, level=model.recipe.level),
                              cache_dir=None)
    postfilter = ValleyPostfilter(n_freq=model.config.shape[0], width=5, gains=(2.0, 2.0))
    keep, why, scores = choose_postfilter(model, features, postfilter, seed=0)
    assert set(scores) == {"with", "without"} and all(0.0 <= v <= 1.0 for v in scores.values())
    assert keep == (scores["with"] < scores["without"]) and "validation reconstructions" in why
    keep, why, _ = choose_postfilter(model, features, None)
    assert keep is False and "too few" in why


def test_choose_texture_draws_grain_only_where_the_reconstructions_are_smoother_than_the_ceiling(tiny_run):
    """The tiny run's reconstructions are smoother than the bar: a texture is fitted and drawn when it brings them
    toward the ceiling's roughness; reconstructions as rough as their ceiling need none and fit nothing."""
    from vae_audio.data.datasets import load_dataset
    from vae_audio.data.featurize import build_features
    from vae_audio.dsp.texture import NoiseTexture
    from vae_audio.modeling.bundle import load_model
    from vae_audio.tuning import TEXTURE_BAR, choose_texture

    model = load_model(tiny_run.model_dir)
    features = build_features(load_dataset("synth", max_clips=120, config=model.config, level=model.recipe.level),
                              cache_dir=None)
    cfg = model.config

    def texture(amount: float) -> NoiseTexture:
        return NoiseTexture(n_fft=cfg.n_fft, hop_length=cfg.hop_length, db_floor=cfg.db_floor, amounts=(amount,))

    drawn, why, scores = choose_texture(model, features, lambda: texture(0.3), seed=0)
    assert set(scores) == {"with", "without"} and 0.0 < scores["without"] < TEXTURE_BAR
    assert scores["without"] < scores["with"] and "validation reconstructions keep" in why
    assert (drawn == texture(0.3)) == (abs(1 - scores["with"]) < abs(1 - scores["without"]))
    assert (drawn is None) == why.endswith("left out")
    _, _, strong = choose_texture(model, features, lambda: texture(2.0), seed=0)
    assert strong["without"] == scores["without"] and strong["with"] > scores["with"]
    assert choose_texture(model, features, lambda: texture(0.0))[0] is None
    assert choose_texture(model, features, lambda: None)[0] is None

    class Exact:  # reconstructs every clip exactly: as rough as its ceiling, so nothing is fitted
        label_names, config, to_db = model.label_names, model.config, model.to_db

        def reconstruct(self, x, labels=None):
            return np.asarray(x)

    def never():
        raise AssertionError("fitted although not needed")

    drawn, why, exact = choose_texture(Exact(), features, never, seed=0)
    assert drawn is None and exact == {"without": pytest.approx(1.0, abs=1e-6)} and why.endswith("none needed")
