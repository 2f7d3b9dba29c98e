"""vae-audio evaluate: metric wiring checked against hand computations, and the full JSON of a tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vae_audio.data.featurize import Features
from vae_audio.dsp.features import Normalizer, SpectrogramConfig, db_to_magnitude, stft_magnitude
from vae_audio.dsp.metrics import log_spectral_distance_db, spectral_convergence_db
from vae_audio.dsp.phase import db_to_audio
from vae_audio.dsp.recipe import Recipe
from vae_audio.errors import ConfigError, ParameterError
from vae_audio.evaluation.classifier import ClassifierConfig
from vae_audio.evaluation.evaluate import evaluate, evaluate_model, format_table

CFG = SpectrogramConfig(sr=8000, n_fft=256, hop_length=64, n_samples=2000)
PHASE = {"n_iter": 4}
TINY_CLASSIFIER = ClassifierConfig(conv_filters=(4,), embedding_dim=8, epochs=1, batch_size=16)


class StubModel:
    """Duck-typed TrainedModel: reconstructs with a fixed dB offset (0 = perfectly)."""

    def __init__(self, normalizer: Normalizer, offset_db: float = 0.0):
        self.config, self.normalizer, self.label_names, self.offset_db = CFG, normalizer, (), offset_db
        self.directory, self.prior, self.postfilter, self.texture = None, None, None, None
        self.recipe = Recipe(CFG, normalizer=normalizer)

    def reconstruct(self, x, labels=None):
        span = self.normalizer.high_db - self.normalizer.low_db
        return np.clip(np.asarray(x) + self.offset_db / span, 0.0, 1.0).astype(np.float32)

    def to_audio(self, normalized, **kw):
        return self.render(self.normalizer.unnormalize(normalized), **kw)

    def render(self, s_db, **kw):
        return db_to_audio(s_db, self.config, **kw)


def _features(n: int = 6) -> Features:
    """Tones of several pitches with a decaying envelope; all in the test split."""
    t = np.arange(CFG.n_samples) / CFG.sr
    audio = np.stack([0.5 * np.sin(2 * np.pi * (300 + 150 * i) * t) * np.exp(-3 * t) for i in range(n)])
    audio = audio.astype(np.float32)
    s_db = CFG.spectrogram_db(audio)
    norm = Normalizer.fixed(CFG.db_floor, float(s_db.max()) + 20.0)  # headroom: +6 dB is not clipped
    x, stats = norm.normalize(s_db, return_stats=True)
    return Features(x, audio, np.zeros(n, np.int64), (), np.array(["test"] * n), [{}] * n,
                    Recipe(CFG, normalizer=norm), stats, "tones")


def test_perfect_model_scores_equal_the_hand_computed_ceiling():
    feats = _features()
    results = evaluate_model(StubModel(feats.normalizer), feats, phase_kwargs=PHASE)
    ref = stft_magnitude(feats.audio, n_fft=CFG.n_fft, hop_length=CFG.hop_length)
    truth_mag = db_to_magnitude(feats.normalizer.unnormalize(feats.x), CFG)
    eps = 10 ** (CFG.db_floor / 20)
    assert results["lsd_eps"] == pytest.approx(1e-4)
    # magnitude domain: the floored truth itself
    sc = spectral_convergence_db(ref, truth_mag)
    lsd = log_spectral_distance_db(ref, truth_mag, eps=eps)
    assert results["reconstruction"]["sc_db"]["median"] == pytest.approx(float(np.median(sc)), abs=1e-6)
    assert results["reconstruction"]["lsd_db"]["mean"] == pytest.approx(float(np.mean(lsd)), abs=1e-6)
    assert results["reconstruction"]["sc_db"]["median"] < -60  # only the -80 dB floor differs
    # audio: the same magnitude through the same (deterministic) phase method as the ceiling
    audio = db_to_audio(feats.normalizer.unnormalize(feats.x), CFG, **PHASE)
    sc_audio = spectral_convergence_db(ref, audio, config=CFG)
    assert results["audio"]["sc_db"]["median"] == pytest.approx(float(np.median(sc_audio)), abs=1e-4)
    assert results["audio"] == results["ceiling"]["truth_through_phase"]
    # a perfect model is heard like the ceiling; 6 clips are too few for the blind test
    listening = results["listening"]
    assert listening["reconstruction"] == listening["ceiling"]
    assert 0.0 <= listening["reconstruction"]["stoi"] <= 1.0
    assert results["summary"]["stoi"] == listening["reconstruction"]["stoi"]
    # the true phase gives back (almost) the clip itself
    assert results["ceiling"]["model_with_true_phase"]["sc_db"]["median"] < -50
    assert results["ceiling"]["model_with_true_phase"]["lsd_db"]["median"] < 0.5
    s = results["summary"]
    assert s["audio_sc_gap_to_ceiling_db"] == pytest.approx(0.0, abs=1e-9)
    assert results["generation"] is None and results["n_test"] == 6


def test_a_level_error_shows_as_its_size_in_decibels():
    feats = _features()
    results = evaluate_model(StubModel(feats.normalizer, offset_db=6.0), feats, phase_kwargs=PHASE)
    # +6 dB everywhere above the floor: LSD ~ 6 dB (a little more: floor bins rise to -74 dB, where the
    # truth is quieter still), SC = 20 log10(10^(6/20) - 1) ~ -0.03 dB
    assert 6.0 <= results["reconstruction"]["lsd_db"]["median"] <= 8.0
    assert results["reconstruction"]["sc_db"]["median"] == pytest.approx(20 * np.log10(10 ** 0.3 - 1), abs=0.3)
    # the true phase cannot fix a magnitude error (a perfect model scores < 0.5 dB here; quiet bins
    # below eps = -80 dB count less, so the 6 dB error shows as a few dB)
    assert results["ceiling"]["model_with_true_phase"]["lsd_db"]["median"] > 3.0


def test_mismatched_config_or_normalizer_is_refused():
    feats = _features()
    other = SpectrogramConfig(sr=8000, n_fft=512, hop_length=64, n_samples=2000)
    model = StubModel(feats.normalizer)
    model.config = other
    with pytest.raises(ConfigError, match="n_fft 512 vs 256"):
        evaluate_model(model, feats)
    with pytest.raises(ConfigError, match="another recipe.*-80.0..0.0 dB"):
        evaluate_model(StubModel(Normalizer.fixed(-80.0, 0.0)), feats)
    peak_model = StubModel(feats.normalizer)
    peak_model.recipe = Recipe(CFG, level="peak", normalizer=feats.normalizer)  # trained on peak-normalized clips
    with pytest.raises(ConfigError, match="another recipe.*level as recorded.*level peak"):
        evaluate_model(peak_model, feats)
    with pytest.raises(ParameterError, match="n_generate"):
        evaluate_model(StubModel(feats.normalizer), feats, n_generate=1)
    with pytest.raises(ParameterError, match="phase_kwargs"):
        evaluate_model(StubModel(feats.normalizer), feats, phase_kwargs={"hop_length": 3})
    with pytest.raises(ParameterError, match="prior='best'"):
        evaluate_model(StubModel(feats.normalizer), feats, prior="best")
    with pytest.raises(ParameterError, match="no fitted latent prior"):
        evaluate_model(StubModel(feats.normalizer), feats, prior="fitted")


class GeneratingStub(StubModel):
    """A perfect autoencoder whose "generator" is ``make(n)``: normalized spectrograms ``(n, freq, frames)``."""

    def __init__(self, normalizer: Normalizer, make):
        super().__init__(normalizer)
        self.make = make

    def generate(self, n, labels=None, seed=0, prior="auto"):
        return self.make(n)


def _split_features(n: int = 14) -> Features:
    """:func:`_features` tones, every other one in the training split (the rest, other pitches, in the test split)."""
    feats = _features(n)
    return Features(feats.x, feats.audio, feats.labels, (), np.array(["train", "test"] * (n // 2)), feats.metadata,
                    feats.recipe, feats.stats, "tones")


def test_diversity_rows_catch_a_copying_and_a_collapsed_generator():
    """A generator that replays training clips sits as close to them as the known-bad copier; one that makes
    one clip over and over scores 1.0 within; both far from the real test clips' values."""
    feats = _split_features()
    train = feats.subset("train")
    copier = GeneratingStub(feats.normalizer, lambda n: train.x[np.arange(n) % len(train)])
    results = evaluate_model(copier, feats, phase_kwargs=PHASE)
    div, s = results["diversity"], results["summary"]
    assert div["samples_kind"] == "prior" and div["n_reference"] == 7 and div["reference"] == "train split"
    rows = div["rows"]
    assert rows["samples"]["n"] == rows["real_test"]["n"] == 7 and rows["replayed"]["n"] == 7
    # the copies are the training clips through the phase step: (almost) the clips themselves
    assert s["samples_nearest_train_similarity"] == pytest.approx(s["replayed_nearest_train_similarity"], abs=1e-6)
    assert s["replayed_nearest_train_similarity"] > 0.99
    assert s["real_nearest_train_similarity"] < 0.9  # the test tones are other pitches
    assert s["train_nearest_other_train_similarity"] < 0.9  # and so are the other training tones
    assert s["repeated_within_label_similarity"] == pytest.approx(1.0, abs=1e-5)
    assert s["samples_within_label_similarity"] == pytest.approx(rows["replayed"]["within_label"]["median"], abs=1e-6)
    assert set(rows["real_test"]["within_label"]["per_label"]) == {"all"}  # unconditional: all pairs
    assert results["seconds"]["diversity"] >= 0
    table = format_table(results)
    assert "Diversity and copying: log-mel similarity" in table and "within: all pairs" in table
    assert "known bad: one sample repeated" in table and "Diversity and copying per label" not in table
    collapsed = GeneratingStub(feats.normalizer, lambda n: np.repeat(train.x[2:3], n, axis=0))
    s = evaluate_model(collapsed, feats, phase_kwargs=PHASE)["summary"]
    assert s["samples_within_label_similarity"] == pytest.approx(1.0, abs=1e-5)
    assert s["real_within_label_similarity"] < 0.5
    # no training clips: nothing to compare with, no samples made
    assert evaluate_model(StubModel(feats.normalizer), _features(), phase_kwargs=PHASE)["diversity"] is None


# ----------------------------------------------------------------------------- the whole command
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A conditional conv model trained one epoch on 48 synthetic notes."""
    from vae_audio.config import RunConfig
    from vae_audio.pipeline import train

    root = tmp_path_factory.mktemp("evaluate")
    settings = RunConfig.of(data="synth", model="conv", conditional=True, epochs=1, max_clips=48, latent_dim=4,
                            batch_size=16, out=str(root / "run"), n_samples=0)
    result = train(settings, verbose=0)
    return root, result.model_dir


def test_training_fits_the_latent_prior_on_the_training_split(tiny_run):
    from vae_audio import bundle
    from vae_audio.data.datasets import load_dataset
    from vae_audio.data.featurize import build_features

    _, model_dir = tiny_run
    assert (model_dir / "prior.npz").is_file()
    model = bundle.load_model(model_dir)
    assert model.prior.conditional and model.prior.classes == tuple(range(len(model.label_names)))
    # the prior is the one fitted to the training split's codes (refit in memory: identical)
    features = build_features(load_dataset("synth", max_clips=48), recipe=model.recipe, cache_dir=None)
    train = features.subset("train")
    stored = model.prior
    refit = model.fit_prior(train.x, train.labels)
    assert np.allclose(refit.means, stored.means, atol=1e-5) and np.allclose(refit.weights, stored.weights)


def test_evaluate_writes_json_with_every_key(tiny_run, monkeypatch):
    root, model_dir = tiny_run
    monkeypatch.chdir(root)
    out = root / "eval.json"
    results = evaluate(model_dir, json_path=out, n_generate=16, cache_dir=root / "cache",
                       classifier_config=TINY_CLASSIFIER, phase_kwargs=PHASE)
    saved = json.loads(out.read_text())
    assert saved == results
    assert saved["format"] == "vae_audio.evaluation" and saved["data"]["name"] == "synth"
    assert saved["data"]["max_clips"] is None and saved["model"]["conditional"] is True
    n_test = saved["data"]["split_counts"]["test"]
    assert saved["n_test"] == n_test >= 2
    for part in (saved["reconstruction"], saved["audio"], saved["ceiling"]["truth_through_phase"],
                 saved["ceiling"]["model_with_true_phase"]):
        for metric in ("sc_db", "lsd_db"):
            assert set(part[metric]) == {"median", "mean"}
            assert all(isinstance(v, float) and np.isfinite(v) for v in part[metric].values())
        assert part["lsd_db"]["median"] >= 0
    gen = saved["generation"]
    for key in ("real_test_accuracy", "real_phase_accuracy", "conditional_accuracy", "conditional_accuracy_ratio",
                "prior_inception_score", "prior_inception_score_ratio", "real_test_inception_score",
                "prior_frechet_distance", "conditional_frechet_distance", "real_phase_frechet_distance",
                "reference_frechet_distance"):
        assert key in gen, key
    assert gen["n_generate"] == gen["prior_count"] == gen["conditional_count"] == 16
    assert gen["latent_prior"].startswith("fitted (")
    assert 0 <= gen["conditional_accuracy"] <= 1 and 1 <= gen["prior_inception_score"] <= 8 + 1e-9
    assert gen["prior_frechet_distance"] >= 0
    # the floor: the median over disjoint training subsets of the test set's size
    assert len(gen["reference_frechet_distances"]) >= 2
    assert gen["reference_frechet_distance"] == pytest.approx(np.median(gen["reference_frechet_distances"]))
    assert saved["summary"]["conditional_frechet_ratio"] == pytest.approx(
        gen["conditional_frechet_distance"] / gen["reference_frechet_distance"])
    second = gen["second_judge"]  # the cepstral judge scores the same audio
    assert second["name"].startswith("cepstral")
    for key in ("real_test_accuracy", "conditional_accuracy_ratio", "prior_inception_score_ratio",
                "conditional_frechet_distance", "reconstruction_accuracy_ratio", "reconstruction_frechet_distance"):
        assert isinstance(second[key], float) and np.isfinite(second[key]), key
    assert gen["reconstruction_frechet_distance"] >= 0
    assert 0 <= second["conditional_accuracy"] <= 1 and second["conditional_count"] == 16
    assert saved["summary"]["second_judge_conditional_accuracy_ratio"] == second["conditional_accuracy_ratio"]
    assert gen["classifier"]["from_cache"] is False
    assert (root / "cache" / "classifiers").is_dir()
    assert set(saved["summary"]) >= {"audio_sc_gap_to_ceiling_db", "conditional_accuracy_ratio",
                                     "prior_inception_score_ratio"}
    table = format_table(saved)
    assert "conditional samples: accuracy" in table and "ceiling: true magnitude + phase method" in table
    assert "judge 1" in table and "judge 2" in table
    assert "Frechet distance: reconstructions (prior's ceiling)" in table
    assert saved["postfilter"] is None and "postfilter" not in table  # the tiny run has none
    # diversity and copying, on the samples already made (conditional ones, label by label)
    div = saved["diversity"]
    assert div["samples_kind"] == "conditional" and div["n_reference"] == saved["data"]["split_counts"]["train"]
    assert set(div["rows"]) == {"real_test", "real_train", "samples", "repeated", "replayed"}
    assert div["rows"]["real_train"]["n"] == div["n_reference"]
    assert div["rows"]["samples"]["n"] == 16 and div["rows"]["real_test"]["n"] == n_test
    assert div["rows"]["repeated"]["within_label"]["median"] == pytest.approx(1.0, abs=1e-5)
    labels = set(div["rows"]["samples"]["within_label"]["per_label"])
    assert labels <= set(saved["data"]["config"].get("label_names", labels)) and len(labels) >= 2
    assert set(div["rows"]["samples"]["nearest_train"]["per_label"]) == labels
    for key in ("samples_within_label_similarity", "samples_nearest_train_similarity",
                "real_nearest_train_similarity", "repeated_within_label_similarity",
                "replayed_nearest_train_similarity", "train_within_label_similarity",
                "train_nearest_other_train_similarity"):
        assert -1.0 <= saved["summary"][key] <= 1.0, key
    # the 8 test clips are one per label: no pair of real clips shares a label, so no real value (not a made-up one)
    assert n_test == 8 and saved["summary"]["real_within_label_similarity"] is None
    assert set(div["rows"]["real_test"]["within_label"]["per_label"].values()) == {None}
    assert saved["summary"]["real_nearest_train_similarity"] == div["rows"]["real_test"]["nearest_train"]["median"]
    assert "known bad: training clips replayed through the model" in table
    assert "Diversity and copying per label" in table and "-: fewer than two clips of the label" in table
    with_pf = format_table({**saved, "postfilter": {"kind": "valley", "n_freq": 129, "width": 9, "gains": [1.25, 2.0]}})
    assert "valley postfilter, gains 1.25-2.00" in with_pf
    # the noise texture: every row's roughness, and its ratio to the phase ceiling's in the summary
    tex = saved["texture"]
    assert set(tex) == {"real_test", "ceiling", "reconstruction", "prior", "conditional"}
    assert all(0.0 < v < 30.0 for v in tex.values())
    assert saved["summary"]["reconstruction_texture_ratio"] == pytest.approx(tex["reconstruction"] / tex["ceiling"])
    assert saved["summary"]["conditional_texture_ratio"] == pytest.approx(tex["conditional"] / tex["ceiling"])
    assert "Noise texture" in table and ("draws a noise texture" in table) == (saved["texture_model"] is not None)
    with_tex = format_table({**saved, "texture_model": {"kind": "noise_texture", "n_fft": 256, "hop_length": 64,
                                                        "db_floor": -80.0, "amounts": [0.5, 1.25]}})
    assert "draws a noise texture, amounts 0.50-1.25" in with_tex
    # levels per label: every real clip of the label against its reconstructions and samples
    lv = saved["levels"]
    from vae_audio.modeling.bundle import load_model

    assert list(lv["per_label"]) == list(load_model(model_dir).label_names) and lv["tolerance_db"] == 3.0
    assert sum(v["real"]["n"] for v in lv["per_label"].values()) == sum(saved["data"]["split_counts"].values())
    # the 16 samples made for the listener are 2 a label: 6 more a label are drawn for the levels
    assert [v["samples"]["n"] for v in lv["per_label"].values()] == [8] * 8
    assert lv["reconstruction"]["peak"]["labels"] == lv["ceiling"]["rms"]["labels"] == n_test
    assert 0 <= lv["samples"]["peak"]["labels_within"] <= lv["samples"]["peak"]["labels"]
    gaps = [abs(v["samples"]["peak_gap_db"]) for v in lv["per_label"].values() if v["samples"]]
    assert saved["summary"]["samples_peak_level_gap_db"] == pytest.approx(np.median(gaps))
    assert "Levels per label" in table and f"of {lv['samples']['peak']['labels']} labels within 3 dB" in table

    # a second run reloads the classifier from its cache and gives the same numbers
    again = evaluate(model_dir, n_generate=16, cache_dir=root / "cache", classifier_config=TINY_CLASSIFIER,
                     phase_kwargs=PHASE)
    assert again["generation"]["classifier"]["from_cache"] is True
    assert again["generation"]["conditional_accuracy"] == gen["conditional_accuracy"]
    assert again["audio"] == saved["audio"]


def test_cli_evaluate_prints_the_table_and_refuses_other_configs(tiny_run, monkeypatch, capsys):
    from vae_audio.cli import main

    root, model_dir = tiny_run
    monkeypatch.chdir(root)
    out = root / "cli.json"
    code = main(["evaluate", "--model", str(model_dir), "--json", str(out), "--n-generate", "4",
                 "--max-clips", "40", "--n-iter", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "model audio (phase method)" in captured.out and out.is_file()
    assert json.loads(out.read_text())["data"]["max_clips"] == 40
    # other data is featurized with the model's own recipe (8 kHz files resampled to its 16 kHz), so
    # a folder is scored like the training data; this one has too few clips for a test split:
    # one clear error line, exit 2
    tones = root / "folder"
    tones.mkdir()
    import soundfile as sf

    for i in range(3):
        sf.write(str(tones / f"t{i}.wav"), np.zeros(800, np.float32) + 0.1, 8000)
    code = main(["evaluate", "--model", str(model_dir), "--data", str(tones)])
    err = capsys.readouterr().err
    assert code == 2 and "no clip in the test split" in err and str(tones) in err
    assert err.count("\n") == 1


def test_reconstruction_scores_say_good_for_real_clips_and_bad_for_smeared_ones():
    """The reconstructions' Frechet distance (what a prior could reach with the autoencoder) is 0 for
    the real clips themselves and large for clips smeared into noise; accuracy follows."""
    from vae_audio.evaluation.cepstral_judge import CepstralJudge
    from vae_audio.evaluation.classifier import generation_scores

    from helpers import TONES_SR as SR
    from helpers import tones

    x, y = tones(60, 0)
    xt, yt = tones(30, 1)
    judge = CepstralJudge().fit(x, y, sr=SR, label_names=["buzz", "whistle", "hiss"])
    noise = np.random.default_rng(3).standard_normal(xt.shape)
    smeared = (xt + 3.0 * np.abs(xt).max(axis=1, keepdims=True) * noise).astype(np.float32)
    good = generation_scores(judge, real_test=xt, real_test_labels=yt, reconstructions=xt, sr=SR)
    bad = generation_scores(judge, real_test=xt, real_test_labels=yt, reconstructions=smeared, sr=SR)
    assert good["reconstruction_accuracy_ratio"] == pytest.approx(1.0)
    assert good["reconstruction_frechet_distance"] == pytest.approx(0.0, abs=1e-6)
    assert bad["reconstruction_accuracy"] <= 0.5
    assert bad["reconstruction_frechet_distance"] > 20.0
