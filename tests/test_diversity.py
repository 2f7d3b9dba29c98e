"""Diversity and copying measures (vae_audio.evaluation.diversity) on synthetic clips with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from vae_audio.errors import ParameterError
from vae_audio.evaluation import diversity as dv

SR = 8000
N = 4000  # 0.5 s


def note(freq: float, onset: float = 0.05, decay: float = 6.0, harmonics: int = 3) -> np.ndarray:
    """A decaying harmonic note of ``freq`` Hz starting at ``onset`` s, peak about 0.5."""
    t = np.arange(N) / SR
    env = np.where(t >= onset, np.exp(-decay * np.maximum(t - onset, 0.0)), 0.0)
    y = sum(np.sin(2 * np.pi * freq * (h + 1) * t) / (h + 1) for h in range(harmonics))
    return (0.5 * env * y / np.max(np.abs(y))).astype(np.float32)


def random_notes(n: int, seed: int) -> np.ndarray:
    """``n`` notes of random pitch (150-1500 Hz), onset and decay."""
    rng = np.random.default_rng(seed)
    return np.stack([note(rng.uniform(150, 1500), rng.uniform(0.0, 0.25), rng.uniform(2, 15)) for _ in range(n)])


def test_the_same_clip_scores_one_at_any_level_and_other_clips_less():
    a, b = note(440.0), note(660.0, onset=0.2)
    s = dv.similarity(np.stack([a, a, b]), np.stack([0.01 * a, b]), SR)
    assert s.shape == (3, 2)
    assert s[0, 0] == pytest.approx(1.0, abs=1e-5) and s[1, 0] == pytest.approx(1.0, abs=1e-5)  # level-invariant
    assert s[2, 1] == pytest.approx(1.0, abs=1e-5)
    assert s[0, 1] < 0.5  # another pitch at another time shares little of the pattern
    # one clip as a 1-D array; an Embedding is accepted in place of audio
    emb = dv.embed(a, SR)
    assert emb.vectors.shape == (1, dv.N_MELS * (N // 64 + 1)) and emb.n_samples == N
    assert dv.similarity(emb, 3.0 * a, SR)[0, 0] == pytest.approx(1.0, abs=1e-5)
    # the vectors are centred on their own mean and of unit length
    assert abs(float(emb.vectors.mean())) < 1e-6 and np.linalg.norm(emb.vectors) == pytest.approx(1.0, abs=1e-5)


def test_silence_has_no_pattern_and_the_floor_bounds_what_counts():
    silent = np.zeros((2, N), np.float32)
    s = dv.similarity(np.concatenate([silent, note(440.0)[None]]), note(440.0)[None], SR)
    assert s[0, 0] == 0.0 and s[1, 0] == 0.0 and s[2, 0] == pytest.approx(1.0, abs=1e-5)
    assert np.all(dv.embed(silent, SR).vectors == 0.0)
    # detail more than FLOOR_DB under the clip's peak is not seen: a -100 dB hum changes nothing
    hum = 1e-5 * np.sin(2 * np.pi * 3000 * np.arange(N) / SR).astype(np.float32)
    assert dv.similarity(note(440.0), note(440.0) + hum, SR)[0, 0] == pytest.approx(1.0, abs=1e-4)


def test_within_label_similarity_groups_by_label_and_a_repeated_clip_scores_one():
    distinct = random_notes(6, seed=1)
    repeated = np.repeat(note(500.0)[None], 4, axis=0) * np.array([[1.0], [0.5], [0.1], [0.9]], np.float32)
    audio = np.concatenate([distinct, repeated])
    labels = np.array([0] * 6 + [1] * 4)
    out = dv.within_label_similarity(audio, labels, SR, label_names=["varied", "one note"])
    assert out["per_label"]["one note"] == pytest.approx(1.0, abs=1e-5)
    pairs = dv.similarity(distinct, distinct, SR)[np.triu_indices(6, 1)]
    assert out["per_label"]["varied"] == pytest.approx(float(np.median(pairs)), abs=1e-6)
    assert out["per_label"]["varied"] < 0.6
    assert out["n_pairs"] == 15 + 6
    pooled = np.concatenate([pairs, np.ones(6)])
    assert out["median"] == pytest.approx(float(np.median(pooled)), abs=1e-5)
    # no labels: one group over all pairs; a label with one clip has no pairs
    whole = dv.within_label_similarity(audio, None, SR)
    assert set(whole["per_label"]) == {"all"} and whole["n_pairs"] == 45
    lone = dv.within_label_similarity(audio[:3], np.array([0, 0, 2]), SR)
    assert lone["per_label"]["2"] is None and lone["n_pairs"] == 1
    # a large label is judged on a seeded subset of clips: all pairs of MAX_GROUP clips
    from unittest import mock

    with mock.patch.object(dv, "MAX_GROUP", 4):
        sub = dv.within_label_similarity(distinct, None, SR, seed=3)
        assert sub["n_pairs"] == 6 and sub == dv.within_label_similarity(distinct, None, SR, seed=3)


def test_nearest_similarity_finds_a_replayed_clip_and_new_clips_sit_lower():
    train = random_notes(40, seed=2)
    new = random_notes(20, seed=3)
    replayed = 0.3 * train[[5, 17, 33]]
    sims, where = dv.nearest_similarity(replayed, train, SR, return_index=True)
    assert np.allclose(sims, 1.0, atol=1e-4) and list(where) == [5, 17, 33]  # float32 STFT near the floor
    fresh = dv.nearest_similarity(new, train, SR)
    assert fresh.shape == (20,) and np.all(fresh < 0.999) and np.median(fresh) < 0.95
    # the nearest of each query is the most similar reference clip, block by block
    full = dv.similarity(new, train, SR)
    assert np.allclose(fresh, full.max(axis=1), atol=1e-6)
    # training clips against each other: each one's nearest *other* clip
    among = dv.similarity(train, train, SR)
    np.fill_diagonal(among, -np.inf)
    others, index = dv.nearest_similarity(train, train, SR, exclude_self=True, return_index=True)
    assert np.allclose(others, among.max(axis=1), atol=1e-6) and np.all(index != np.arange(40))
    assert np.all(dv.nearest_similarity(train, train, SR) > 0.9999)  # without it, each finds itself
    from unittest import mock

    with mock.patch.object(dv, "_CHUNK", 7):
        assert np.allclose(dv.nearest_similarity(new, train, SR), fresh, atol=1e-6)
        assert np.allclose(dv.nearest_similarity(train, train, SR, exclude_self=True), others, atol=1e-6)


def test_diversity_section_puts_the_known_bad_rows_at_their_values():
    train = random_notes(30, seed=4)
    train_labels = np.arange(30) % 3
    real = random_notes(12, seed=5)
    real_labels = np.arange(12) % 3
    samples = random_notes(12, seed=6)
    sample_labels = np.arange(12) % 3
    section = dv.diversity_section(real=real, real_labels=real_labels, samples=samples, sample_labels=sample_labels,
                                   reference=train, reference_labels=train_labels, replayed=train[:9],
                                   replayed_labels=train_labels[:9], sr=SR, label_names=["a", "b", "c"],
                                   samples_kind="conditional")
    rows = section["rows"]
    assert set(rows) == {"real_test", "real_train", "samples", "repeated", "replayed"}
    # the training clips among themselves: within a label, and each to its nearest other training clip
    assert rows["real_train"]["n"] == 30
    assert rows["real_train"]["within_label"] == dv.within_label_similarity(train, train_labels, SR,
                                                                            label_names=["a", "b", "c"])
    others = dv.nearest_similarity(train, train, SR, exclude_self=True)
    assert rows["real_train"]["nearest_train"]["median"] == pytest.approx(float(np.median(others)))
    assert rows["real_train"]["nearest_train"]["median"] < 0.99
    assert section["n_reference"] == 30 and section["samples_kind"] == "conditional"
    assert section["embedding"] == dv.SETTINGS
    assert rows["repeated"]["within_label"]["median"] == pytest.approx(1.0, abs=1e-5)
    assert rows["repeated"]["nearest_train"] is None and rows["repeated"]["n"] == 12
    assert set(rows["repeated"]["within_label"]["per_label"]) == {"a", "b", "c"}
    assert rows["replayed"]["nearest_train"]["median"] == pytest.approx(1.0, abs=1e-5)
    for key in ("real_test", "samples"):
        assert rows[key]["within_label"]["median"] < 0.9 and rows[key]["nearest_train"]["median"] < 0.99
        assert set(rows[key]["nearest_train"]["per_label"]) == {"a", "b", "c"}
        nn = rows[key]["nearest_train"]
        assert nn["p10"] <= nn["median"] <= nn["p90"]
    expected = dv.within_label_similarity(samples, sample_labels, SR, label_names=["a", "b", "c"])
    assert rows["samples"]["within_label"] == expected
    head = dv.headline(section)
    assert head["repeated_within_label_similarity"] == rows["repeated"]["within_label"]["median"]
    assert head["samples_nearest_train_similarity"] == rows["samples"]["nearest_train"]["median"]
    assert dv.headline(None)["real_within_label_similarity"] is None
    # unlabelled samples: every row over all pairs, no per-label nearest values
    plain = dv.diversity_section(real=real, real_labels=real_labels, samples=samples, sample_labels=None,
                                 reference=train, reference_labels=train_labels, replayed=train[:9],
                                 replayed_labels=None, sr=SR)
    assert set(plain["rows"]["real_test"]["within_label"]["per_label"]) == {"all"}
    assert plain["rows"]["samples"]["nearest_train"]["per_label"] is None
    assert set(plain["rows"]["real_train"]["within_label"]["per_label"]) == {"all"}
    assert plain["rows"]["repeated"]["within_label"]["median"] == pytest.approx(1.0, abs=1e-5)


def test_bad_arguments_are_refused_with_their_names():
    a = random_notes(3, seed=7)
    with pytest.raises(ParameterError, match="sr="):
        dv.embed(a, 0)
    with pytest.raises(ParameterError, match="audio: expected finite clips"):
        dv.embed(np.full((2, N), np.nan), SR)
    with pytest.raises(ParameterError, match="queries/reference: clips of 2000 and 4000 samples"):
        dv.nearest_similarity(a[:, :2000], a, SR)
    with pytest.raises(ParameterError, match="exclude_self: the queries must be the reference itself"):
        dv.nearest_similarity(a[:2], a, SR, exclude_self=True)
    with pytest.raises(ParameterError, match="reference: no clips"):
        dv.nearest_similarity(a, np.zeros((0, N), np.float32), SR)
    with pytest.raises(ParameterError, match="labels: expected 3 whole-number labels"):
        dv.within_label_similarity(a, [0, 1], SR)
    with pytest.raises(ParameterError, match="labels: expected 3 whole-number labels"):
        dv.within_label_similarity(a, np.array([0.5, 1, 2]), SR)
    with pytest.raises(ParameterError, match="reference: embedded at 8000 Hz, but sr=16000"):
        dv.nearest_similarity(a, dv.embed(a, SR), 16000)
    with pytest.raises(ParameterError, match="seed"):
        dv.within_label_similarity(a, None, SR, seed=-1)
