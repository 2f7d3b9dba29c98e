"""The evaluation judge: an audio classifier trained on easy synthetic classes, its cache and scores."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vae_audio.dsp.features import spectrogram_db
from vae_audio.errors import BundleError, ConfigError, ParameterError
from vae_audio.evaluation.classifier import (
    CLASSIFIER_VERSION,
    AudioClassifier,
    ClassifierConfig,
    _augment,
    classifier_cache_key,
    generation_scores,
    get_or_train_classifier,
    log_mel_features,
    mel_magnitude,
    mel_to_db,
)

SR = 8000
N_SAMPLES = 2000  # 0.25 s
NAMES = ["low", "mid", "high", "noise"]
#: small and fast, still easily enough for these classes
FAST = ClassifierConfig(conv_filters=(8, 16), embedding_dim=32, epochs=3, batch_size=16)


def make_clips(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four easy classes: tones near 300, 1000 and 2500 Hz (random pitch +-8 %, phase, level,
    onset, light noise) and white noise; returns ``(4 * n, N_SAMPLES)`` float32 and labels."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_SAMPLES) / SR
    clips, labels = [], []
    for label, freq in enumerate([300.0, 1000.0, 2500.0, None]):
        for _ in range(n_per_class):
            if freq is None:
                y = rng.normal(0.0, 0.3, N_SAMPLES)
            else:
                f = freq * rng.uniform(0.92, 1.08)
                y = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) + rng.normal(0, 0.02, N_SAMPLES)
            y = y * (t >= rng.uniform(0.0, 0.05))  # random onset
            y = y / np.max(np.abs(y)) * rng.uniform(0.1, 0.9)
            clips.append(y)
            labels.append(label)
    return np.asarray(clips, dtype=np.float32), np.asarray(labels)


@pytest.fixture(scope="module")
def data():
    x_train, y_train = make_clips(60, seed=1)
    x_test, y_test = make_clips(20, seed=2)
    return x_train, y_train, x_test, y_test


@pytest.fixture(scope="module")
def trained(data):
    x_train, y_train, x_test, y_test = data
    return AudioClassifier(FAST).fit(x_train, y_train, sr=SR, label_names=NAMES, seed=0,
                                     validation=(x_test, y_test))


# ----------------------------------------------------------------------------- learning
def test_classifier_reaches_stated_accuracy_on_easy_classes(trained, data):
    _, _, x_test, y_test = data
    assert trained.evaluate(x_test, y_test) >= 0.9
    assert trained.info["validation_accuracy"] >= 0.9
    assert trained.info["train_accuracy"] >= 0.9
    assert len(trained.info["history"]["loss"]) == FAST.epochs
    assert trained.info["history"]["loss"][-1] < trained.info["history"]["loss"][0]


def test_outputs_shapes_and_ranges(trained, data):
    _, _, x_test, _ = data
    probs = trained.predict_proba(x_test)
    assert probs.shape == (len(x_test), 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    emb = trained.embed(x_test)
    assert emb.shape == (len(x_test), FAST.embedding_dim)
    assert np.all(emb >= 0) and np.any(emb > 0)  # ReLU units, not all dead
    np.testing.assert_array_equal(trained.predict(x_test), np.argmax(probs, axis=1))
    assert trained.features(x_test).shape == (len(x_test), 64, trained.spectrogram_config.n_frames, 1)


def test_other_lengths_lists_and_rates_are_accepted(trained, data):
    _, _, x_test, y_test = data
    longer = np.pad(x_test[:8], ((0, 0), (0, 500)))            # trailing silence is cut back off
    np.testing.assert_allclose(trained.predict_proba(longer), trained.predict_proba(x_test[:8]), atol=1e-6)
    ragged = [x_test[0][:1500], x_test[1]]                       # list of 1-D clips of any length
    assert trained.predict_proba(ragged).shape == (2, 4)
    from vae_audio.dsp.audio import resample
    up = resample(x_test[:40], SR, 16000)                          # judged at its own rate
    assert trained.evaluate(up, y_test[:40], sr=16000) >= 0.9


def test_same_seed_same_classifier(data):
    x_train, y_train, x_test, _ = data
    cfg = ClassifierConfig(conv_filters=(4,), embedding_dim=8, epochs=1)
    a = AudioClassifier(cfg).fit(x_train, y_train, sr=SR, label_names=NAMES, seed=3)
    b = AudioClassifier(cfg).fit(x_train, y_train, sr=SR, label_names=NAMES, seed=3)
    c = AudioClassifier(cfg).fit(x_train, y_train, sr=SR, label_names=NAMES, seed=4)
    np.testing.assert_array_equal(a.predict_proba(x_test), b.predict_proba(x_test))
    assert not np.allclose(a.predict_proba(x_test), c.predict_proba(x_test))


def test_features_are_the_package_log_mel(trained, data):
    _, _, x_test, _ = data
    spec = trained.spectrogram_config
    assert (spec.sr, spec.n_fft, spec.hop_length, spec.n_mels, spec.n_samples) == (SR, 512, 128, 64, N_SAMPLES)
    ours = log_mel_features(x_test[:5], spec, level=None, top_db=300.0)
    np.testing.assert_allclose(ours, spectrogram_db(x_test[:5], spec), atol=1e-3)
    floored = log_mel_features(x_test[:5], spec, level=None, top_db=40.0)
    np.testing.assert_allclose(floored.max(axis=(1, 2)) - floored.min(axis=(1, 2)), 40.0, atol=1e-3)


# ----------------------------------------------------------------------------- save / load
def test_save_load_gives_identical_predictions(trained, data, tmp_path):
    _, _, x_test, _ = data
    folder = trained.save(tmp_path / "judge")
    assert sorted(p.name for p in folder.iterdir()) == ["classifier.json", "classifier.keras"]
    meta = json.loads((folder / "classifier.json").read_text())
    assert meta["version"] == CLASSIFIER_VERSION and meta["label_names"] == NAMES and meta["sr"] == SR
    assert len(meta["normalization"]["mean_db"]) == 64 and meta["info"]["train_accuracy"] >= 0.9
    loaded = AudioClassifier.load(folder)
    assert loaded.label_names == NAMES and loaded.config == FAST and loaded.n_samples == N_SAMPLES
    np.testing.assert_array_equal(loaded.predict_proba(x_test), trained.predict_proba(x_test))
    np.testing.assert_array_equal(loaded.embed(x_test), trained.embed(x_test))
    trained.save(folder)  # re-saving over a classifier folder is fine


def test_save_refuses_a_folder_with_other_files(trained, tmp_path):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "model.keras").write_text("not mine")
    with pytest.raises(ParameterError, match="other files"):
        trained.save(tmp_path / "bundle")
    assert (tmp_path / "bundle" / "model.keras").read_text() == "not mine"


def test_load_errors_are_bundle_errors(trained, tmp_path):
    with pytest.raises(BundleError, match="missing"):
        AudioClassifier.load(tmp_path / "nothing")
    folder = trained.save(tmp_path / "judge")
    meta = json.loads((folder / "classifier.json").read_text())
    (folder / "classifier.json").write_text(json.dumps({**meta, "version": CLASSIFIER_VERSION + 1}))
    with pytest.raises(BundleError, match="version"):
        AudioClassifier.load(folder)
    (folder / "classifier.json").write_text("{ truncated")
    with pytest.raises(BundleError, match="unreadable"):
        AudioClassifier.load(folder)
    (folder / "classifier.json").write_text(json.dumps(meta))
    (folder / "classifier.keras").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(BundleError, match="cannot load"):
        AudioClassifier.load(folder)


# ----------------------------------------------------------------------------- cache
def test_cache_trains_once_then_reloads(data, tmp_path):
    x_train, y_train, x_test, _ = data
    cfg = ClassifierConfig(conv_filters=(4,), embedding_dim=8, epochs=1)
    kwargs = dict(sr=SR, label_names=NAMES, cache_dir=tmp_path, key_extra={"dataset": "synthetic"}, config=cfg)
    first = get_or_train_classifier(x_train, y_train, **kwargs)
    assert first.from_cache is False and first.cache_path.parent == tmp_path
    second = get_or_train_classifier(x_train, y_train, **kwargs)
    assert second.from_cache is True and second.cache_path == first.cache_path
    np.testing.assert_array_equal(second.predict_proba(x_test), first.predict_proba(x_test))
    assert [p.name for p in tmp_path.iterdir()] == [first.cache_path.name]
    meta = json.loads((first.cache_path / "classifier.json").read_text())
    assert meta["extra"]["cache_key"].startswith(first.cache_path.name.removeprefix("classifier-"))
    assert meta["extra"]["key_extra"] == {"dataset": "synthetic"}


def test_corrupt_cache_is_retrained(data, tmp_path):
    x_train, y_train, _, _ = data
    cfg = ClassifierConfig(conv_filters=(4,), embedding_dim=8, epochs=1)
    kwargs = dict(sr=SR, label_names=NAMES, cache_dir=tmp_path, config=cfg)
    first = get_or_train_classifier(x_train, y_train, **kwargs)
    (first.cache_path / "classifier.keras").write_bytes(b"corrupt")
    with pytest.warns(RuntimeWarning, match="retraining"):
        again = get_or_train_classifier(x_train, y_train, **kwargs)
    assert again.from_cache is False
    assert get_or_train_classifier(x_train, y_train, **kwargs).from_cache is True  # repaired


def test_cache_key_depends_on_everything(data):
    x, y, _, _ = data
    base = dict(sr=SR, label_names=NAMES, config=FAST, seed=0)
    key = classifier_cache_key(x, y, **base)
    assert len(key) == 64 and key == classifier_cache_key(x.copy(), y.copy(), **base)
    x2 = x.copy()
    x2[0, 0] += 1e-3
    y2 = y.copy()
    y2[[0, -1]] = y2[[-1, 0]]
    variants = [classifier_cache_key(x2, y, **base), classifier_cache_key(x, y2, **base),
                classifier_cache_key(x, y, **{**base, "sr": 16000}),
                classifier_cache_key(x, y, **{**base, "seed": 1}),
                classifier_cache_key(x, y, **{**base, "config": ClassifierConfig()}),
                classifier_cache_key(x, y, **{**base, "label_names": NAMES[::-1]}),
                classifier_cache_key(x, y, **base, key_extra="v2")]
    assert len({key, *variants}) == len(variants) + 1
    with pytest.raises(ParameterError, match="key_extra"):
        classifier_cache_key(x, y, **base, key_extra=object())


# ----------------------------------------------------------------------------- generation scores
def test_generation_scores_keys_and_ranges(trained, data):
    x_train, _, x_test, y_test = data
    rng = np.random.default_rng(5)
    phase = x_test + rng.normal(0, 0.01, x_test.shape).astype(np.float32)
    prior = x_test[rng.permutation(len(x_test))]
    collapsed = np.repeat(x_test[:1], 20, axis=0)  # every prior sample the same clip
    result = generation_scores(trained, real_test=x_test, real_test_labels=y_test, real_test_phase=phase,
                               prior_samples=prior, conditional_samples=x_test, conditional_labels=y_test,
                               real_reference=x_train[::3])
    expected = {"num_classes", "real_test_count", "real_test_accuracy", "real_test_inception_score",
                "real_phase_accuracy", "real_phase_inception_score", "real_phase_frechet_distance",
                "conditional_count", "conditional_accuracy", "conditional_accuracy_ratio",
                "conditional_inception_score", "conditional_frechet_distance", "prior_count",
                "prior_inception_score", "prior_inception_score_ratio", "prior_frechet_distance",
                "reference_count", "reference_frechet_distance", "reference_frechet_distances",
                "conditional_frechet_ratio", "prior_frechet_ratio"}
    assert set(result) == expected
    json.dumps(result, allow_nan=False)  # JSON-friendly
    assert result["num_classes"] == 4 and result["real_test_count"] == 80 and result["prior_count"] == 80
    assert result["real_test_accuracy"] >= 0.9 and result["real_phase_accuracy"] >= 0.9
    assert 3.0 <= result["real_test_inception_score"] <= 4.0 + 1e-9
    assert result["prior_inception_score"] == pytest.approx(result["real_test_inception_score"], rel=1e-6)
    assert result["prior_inception_score_ratio"] == pytest.approx(1.0, rel=1e-6)
    assert result["prior_frechet_distance"] == pytest.approx(0.0, abs=1e-6)  # same clips, other order
    assert result["conditional_accuracy"] == result["real_test_accuracy"]
    assert result["conditional_accuracy_ratio"] == pytest.approx(
        result["conditional_accuracy"] / result["real_phase_accuracy"])
    assert result["real_phase_frechet_distance"] >= 0 and result["reference_frechet_distance"] > 0
    assert result["reference_frechet_distances"] == [result["reference_frechet_distance"]]
    assert result["conditional_frechet_ratio"] == pytest.approx(
        result["conditional_frechet_distance"] / result["reference_frechet_distance"])
    # the floor over disjoint reference sets is the median of each set's own distance
    half = len(x_train[::3]) // 2
    split = generation_scores(trained, real_test=x_test, real_test_labels=y_test, real_reference=x_train[::3],
                              reference_sets=2)
    each = [generation_scores(trained, real_test=x_test, real_test_labels=y_test,
                              real_reference=x_train[::3][i * half:(i + 1) * half])["reference_frechet_distance"]
            for i in range(2)]
    assert split["reference_count"] == half and split["reference_frechet_distances"] == pytest.approx(each)
    assert split["reference_frechet_distance"] == pytest.approx(np.mean(each))
    with pytest.raises(ParameterError, match="reference_sets=0"):
        generation_scores(trained, real_test=x_test, real_test_labels=y_test, real_reference=x_train, reference_sets=0)
    # a collapsed generator: inception score near 1, far from the real test set
    bad = generation_scores(trained, real_test=x_test, real_test_labels=y_test, prior_samples=collapsed,
                            conditional_samples=x_test, conditional_labels=(y_test + 1) % 4)
    assert "real_phase_accuracy" not in bad and "reference_frechet_distance" not in bad
    assert bad["prior_inception_score"] == pytest.approx(1.0, abs=1e-6)
    assert bad["prior_inception_score_ratio"] < 0.5
    assert bad["prior_frechet_distance"] > result["reference_frechet_distance"]
    assert bad["conditional_accuracy"] <= 0.1
    assert bad["conditional_accuracy_ratio"] == pytest.approx(bad["conditional_accuracy"] / bad["real_test_accuracy"])


# ----------------------------------------------------------------------------- bad input
def test_bad_training_input_raises_parameter_error(data):
    x, y, _, _ = data
    clf = AudioClassifier(FAST)
    bad_nan = x.copy()
    bad_nan[3, 10] = np.nan
    cases = [
        (dict(waveforms=x[0], labels=y[:1]), "y\\[None\\]"),                   # wrong rank
        (dict(waveforms=np.zeros((0, 100)), labels=y[:0]), "no clips"),      # empty
        (dict(waveforms=bad_nan, labels=y), "NaN"),
        (dict(waveforms=x, labels=y[:-1]), "labels for"),                   # count mismatch
        (dict(waveforms=x, labels=y + 1), "0..3"),                          # out of range
        (dict(waveforms=x, labels=np.zeros_like(y)), "2 different classes"),
        (dict(waveforms=x.astype(complex), labels=y), "real-valued"),
        (dict(waveforms=(x * 32767).astype(np.int16), labels=y), "integer"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ParameterError, match=message):
            clf.fit(sr=SR, label_names=NAMES, **kwargs)
    for kwargs in (dict(label_names=["a", "a", "b", "c"]), dict(label_names=["only"]), dict(sr=0),
                   dict(seed=-1), dict(epochs=0)):
        with pytest.raises(ParameterError):
            clf.fit(x, y, **{"sr": SR, "label_names": NAMES, **kwargs})
    assert not clf.is_fitted
    with pytest.raises(ParameterError, match="not trained"):
        clf.predict_proba(x)


def test_bad_scoring_input_raises_parameter_error(trained, data):
    _, _, x_test, y_test = data
    with pytest.raises(ParameterError, match="labels for"):
        generation_scores(trained, real_test=x_test, real_test_labels=y_test[:-1])
    with pytest.raises(ParameterError, match="same clips"):
        generation_scores(trained, real_test=x_test, real_test_labels=y_test, real_test_phase=x_test[:-1])
    with pytest.raises(ParameterError, match="together"):
        generation_scores(trained, real_test=x_test, real_test_labels=y_test, conditional_samples=x_test)
    with pytest.raises(ParameterError, match="at least 2"):
        generation_scores(trained, real_test=x_test, real_test_labels=y_test, prior_samples=x_test[:1])
    with pytest.raises(ParameterError, match="NaN"):
        generation_scores(trained, real_test=x_test, real_test_labels=y_test,
                          prior_samples=np.full((4, N_SAMPLES), np.nan, dtype=np.float32))
    with pytest.raises(ParameterError, match="AudioClassifier"):
        generation_scores("judge", real_test=x_test, real_test_labels=y_test)
    with pytest.raises(ParameterError, match="n_clips, n_samples"):
        trained.embed(x_test[..., None])


def test_config_round_trip_and_validation():
    cfg = ClassifierConfig(conv_filters=[8, 16], level=None, noise_dbfs=[-50, -30])
    assert cfg.conv_filters == (8, 16) and cfg.noise_dbfs == (-50.0, -30.0)
    assert ClassifierConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    for bad in (dict(n_mels=0), dict(level="rms"), dict(dropout=1.5), dict(conv_filters=()),
                dict(learning_rate=math.nan), dict(epochs=True), dict(noise_dbfs=(-20, -40)),
                dict(noise_probability=2.0)):
        with pytest.raises(ConfigError):
            ClassifierConfig(**bad)
    with pytest.raises(ConfigError, match="unknown"):
        ClassifierConfig.from_dict({"n_mel": 64})


def test_augmentation_shift_noise_and_gain(data):
    _, _, x_test, _ = data
    spec = ClassifierConfig().spectrogram_config(SR, N_SAMPLES)
    mel = mel_magnitude(x_test[:6], spec, level="peak")
    bank = mel_magnitude(np.random.default_rng(0).standard_normal((4, N_SAMPLES)).astype(np.float32), spec, level=None)
    clean = mel_to_db(mel, spec, top_db=80.0)
    off = ClassifierConfig(max_shift_seconds=0.0, noise_probability=0.0, max_gain_db=0.0)
    np.testing.assert_array_equal(_augment(mel, np.random.default_rng(1), off, spec, bank), clean)
    # noise on every clip: a power sum never lowers a bin, and raises the quiet ones
    noisy = _augment(mel, np.random.default_rng(1), ClassifierConfig(max_shift_seconds=0.0, noise_probability=1.0,
                     noise_dbfs=(-30.0, -30.0), max_gain_db=0.0), spec, bank)
    assert np.all(noisy >= clean - 1e-3) and np.mean(noisy - clean) > 1.0
    # gain only: one constant offset per clip, within +-3 dB
    gained = _augment(mel, np.random.default_rng(1), ClassifierConfig(max_shift_seconds=0.0, noise_probability=0.0,
                      max_gain_db=3.0), spec, bank)
    offsets = (gained - clean).reshape(6, -1)
    np.testing.assert_allclose(offsets, offsets[:, :1].repeat(offsets.shape[1], 1), atol=1e-4)
    assert np.all(np.abs(offsets) <= 3.0) and np.ptp(offsets[:, 0]) > 0
    # shift only: every clip is its own frames moved by a whole number of frames
    shifted = _augment(mel, np.random.default_rng(1), ClassifierConfig(max_shift_seconds=0.05, noise_probability=0.0,
                       max_gain_db=0.0), spec, bank)
    for i in range(6):
        matches = [k for k in range(-3, 4) if np.allclose(shifted[i, :, max(k, 0):clean.shape[2] + min(k, 0)],
                                                           clean[i, :, max(-k, 0):clean.shape[2] - max(k, 0)])]
        assert matches, f"clip {i} is not a time shift of the original"
