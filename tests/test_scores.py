"""Generation scores against hand-computed values (no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from vae_audio.errors import ParameterError, VaeAudioError
from vae_audio.evaluation.scores import (
    accuracy,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    inception_score,
)


# ----------------------------------------------------------------------------- accuracy
def test_accuracy_counts_matches():
    assert accuracy([0, 1, 2, 3], [0, 1, 0, 3]) == 0.75
    assert accuracy(np.array([2]), np.array([2.0])) == 1.0
    assert accuracy([1, 1], [0, 0]) == 0.0


@pytest.mark.parametrize("pred, true", [
    ([0, 1], [0, 1, 2]),           # length mismatch
    ([], []),                       # empty
    ([[0, 1]], [[0, 1]]),           # 2-D
    ([0.5, 1], [0, 1]),             # not whole numbers
    (["a", "b"], [0, 1]),           # not numbers
])
def test_accuracy_rejects_bad_labels(pred, true):
    with pytest.raises(ParameterError):
        accuracy(pred, true)


# ----------------------------------------------------------------------------- inception score
def test_inception_score_uniform_is_one():
    assert inception_score(np.full((20, 10), 0.1)) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_inception_score_balanced_one_hot_is_k(k):
    probs = np.eye(k)[np.arange(5 * k) % k]
    assert inception_score(probs) == pytest.approx(k, rel=1e-9)


def test_inception_score_collapsed_one_hot_is_one():
    probs = np.tile([0.0, 1.0, 0.0], (12, 1))
    assert inception_score(probs) == pytest.approx(1.0, abs=1e-9)


def test_inception_score_hand_computed():
    # two clips over two classes: p1 = (0.9, 0.1), p2 = (0.2, 0.8); marginal (0.55, 0.45)
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    kl1 = 0.9 * math.log(0.9 / 0.55) + 0.1 * math.log(0.1 / 0.45)
    kl2 = 0.2 * math.log(0.2 / 0.55) + 0.8 * math.log(0.8 / 0.45)
    assert inception_score(p) == pytest.approx(math.exp((kl1 + kl2) / 2), rel=1e-9)


def test_inception_score_splits_average_per_split_scores():
    # first half all class 0 (IS 1), second half balanced over 2 classes (IS 2)
    first = np.tile([1.0, 0.0], (4, 1))
    second = np.eye(2)[[0, 1, 0, 1]]
    probs = np.concatenate([first, second])
    assert inception_score(probs, splits=2) == pytest.approx(1.5, rel=1e-9)
    # as one set: marginal (0.75, 0.25), every row one-hot -> IS = exp(H(marginal))
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert inception_score(probs) == pytest.approx(math.exp(h), rel=1e-9)


def test_inception_score_accepts_float32_rounding():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(30, 5))
    p = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    score = inception_score(p)
    assert 1.0 <= score <= 5.0


@pytest.mark.parametrize("probs, kwargs", [
    (np.full((3, 2), 0.6), {}),                # rows do not sum to 1
    (np.array([[1.5, -0.5]]), {}),             # negative
    (np.array([[np.nan, 1.0]]), {}),           # NaN
    (np.ones(4) / 4, {}),                      # 1-D
    (np.zeros((0, 3)), {}),                    # empty
    (np.full((4, 2), 0.5), {"splits": 5}),     # more splits than clips
    (np.full((4, 2), 0.5), {"splits": 0}),
    (np.full((4, 2), 0.5), {"eps": -1.0}),
])
def test_inception_score_rejects_bad_input(probs, kwargs):
    with pytest.raises(ParameterError):
        inception_score(probs, **kwargs)


# ----------------------------------------------------------------------------- Frechet distance
def test_frechet_distance_identical_sets_is_zero():
    x = np.random.default_rng(1).normal(size=(200, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_shift_is_squared_norm():
    x = np.random.default_rng(2).normal(size=(100, 5))
    shift = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_distance(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_distance_hand_computed_diagonal():
    # 1-D Gaussians: FD = (m_a - m_b)^2 + (s_a - s_b)^2 (standard deviations)
    a = np.array([[-1.0], [1.0]])          # mean 0, variance 2 (ddof=1)
    b = np.array([[1.0], [5.0]])           # mean 3, variance 8
    expected = 3.0 ** 2 + (math.sqrt(2) - math.sqrt(8)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-12)
    # diagonal covariances: per-dimension sum
    mu = np.zeros(2)
    assert frechet_distance_from_stats(mu, np.diag([4.0, 1.0]), mu, np.diag([1.0, 9.0])) == pytest.approx(
        (2 - 1) ** 2 + (1 - 3) ** 2, rel=1e-12)


def test_frechet_distance_matches_scipy_sqrtm_on_well_conditioned_input():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(250, 6)) @ rng.normal(size=(6, 6)) + 0.3
    mu_a, s_a = gaussian_stats(a)
    mu_b, s_b = gaussian_stats(b)
    root = scipy.linalg.sqrtm(s_a @ s_b).real
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-7)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-7)


def test_frechet_distance_singular_covariances_are_finite():
    rng = np.random.default_rng(4)
    a = np.zeros((10, 32))
    a[:, :3] = rng.normal(size=(10, 3))      # rank 3 in 32 dims, fewer rows than dims
    b = np.zeros((5, 32))                     # one dead unit everywhere, constant rows
    fd = frechet_distance(a, b)
    assert math.isfinite(fd) and fd >= 0
    mu_a, s_a = gaussian_stats(a)
    assert fd == pytest.approx(float(mu_a @ mu_a + np.trace(s_a)), rel=1e-9)  # S_b = 0, mu_b = 0


@pytest.mark.parametrize("a, b", [
    (np.zeros((1, 3)), np.zeros((5, 3))),     # one row
    (np.zeros((5, 3)), np.zeros((5, 4))),     # dims differ
    (np.zeros(5), np.zeros(5)),               # 1-D
    (np.full((4, 2), np.nan), np.zeros((4, 2))),
])
def test_frechet_distance_rejects_bad_input(a, b):
    with pytest.raises(ParameterError) as info:
        frechet_distance(a, b)
    assert isinstance(info.value, VaeAudioError)
