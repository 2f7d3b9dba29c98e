"""The second judge: cepstral statistics + logistic regression, scored like the first."""

from __future__ import annotations

import numpy as np
import pytest

from vae_audio.errors import ParameterError
from vae_audio.evaluation.cepstral_judge import CepstralJudge, cepstral_features
from vae_audio.evaluation.classifier import generation_scores

from helpers import TONES_SR as SR
from helpers import tones


def test_features_are_level_invariant_and_silence_is_zero():
    x, _ = tones(3, 0)
    f = cepstral_features(np.concatenate([x, 0.1 * x, np.zeros((1, x.shape[1]))]), SR)
    assert f.shape == (7, 80)
    np.testing.assert_allclose(f[:3], f[3:6], rtol=1e-5, atol=1e-4)  # float32 rounding only
    assert np.all(f[6] == 0)
    with pytest.raises(ParameterError, match="waveforms"):
        cepstral_features(np.full((1, 100), np.nan), SR)


def test_judge_names_classes_and_scores_like_the_first_judge():
    x, y = tones(60, 0)
    xt, yt = tones(30, 1)
    judge = CepstralJudge().fit(x, y, sr=SR, label_names=["buzz", "whistle", "hiss"])
    assert np.mean(judge.predict(xt) == yt) >= 0.95
    # it can say "bad": buzzes smeared into noise are not heard as buzzes, and the scores show it
    rng = np.random.default_rng(2)
    buzz = xt[yt == 0]
    smeared = (buzz + 3.0 * np.abs(buzz).max() * rng.standard_normal(buzz.shape)).astype(np.float32)
    good = generation_scores(judge, real_test=xt, real_test_labels=yt, conditional_samples=xt,
                             conditional_labels=yt, prior_samples=xt, real_reference=x[:30], sr=SR)
    bad = generation_scores(judge, real_test=xt, real_test_labels=yt, conditional_samples=smeared,
                            conditional_labels=np.zeros(len(smeared), int), prior_samples=smeared, sr=SR)
    assert good["conditional_accuracy_ratio"] == pytest.approx(1.0)
    assert bad["conditional_accuracy"] <= 0.2
    assert bad["conditional_frechet_distance"] > 4 * good["reference_frechet_distance"]  # 171 vs 28 measured
    with pytest.raises(ParameterError, match="16000"):
        judge.analyze(xt, sr=16000)
    with pytest.raises(ParameterError, match="not trained"):
        CepstralJudge().predict(xt)
