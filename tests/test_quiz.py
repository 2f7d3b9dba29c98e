"""The listening quiz: pair matching, the Wilson interval, making a quiz, its page in a real browser."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
import soundfile as sf
from conftest import open_page, sine

from vae_audio.errors import DatasetError, ParameterError
from vae_audio.evaluation import quiz
from vae_audio.ui import quiz as quiz_ui

#: a small grid model (8 kHz, 0.5 s windows) whose test split holds 8 synth notes; trains in seconds
SETTINGS = dict(data="synth", epochs=1, max_clips=48, batch_size=16, sr=8000, n_fft=256, hop_length=128,
                duration=0.5, prior_steps=5, n_samples_out=0, verbose=0)
PHASE = {"n_iter": 8}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A trained conditional grid run: (run folder, loaded model, its features)."""
    from vae_audio.evaluation.evaluate import load_features
    from vae_audio.modeling.bundle import load_model
    from vae_audio.training import TrainSettings, train

    root = tmp_path_factory.mktemp("quiz")
    result = train(TrainSettings(out=str(root / "run"), samples_dir=str(root / "samples"), **SETTINGS))
    model = load_model(result.model_dir)
    features, _, _ = load_features(model, cache_dir=None)
    return root / "run", model, features


# ----------------------------------------------------------------------------- statistics
@pytest.mark.parametrize("k, n, low, high", [
    (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (8, 10, 0.4902, 0.9433), (20, 20, 0.8389, 1.0),
    (14, 20, 0.4810, 0.8545), (1, 1, 0.2065, 1.0),
])
def test_wilson_interval_against_known_values(k, n, low, high):
    got = quiz.wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)
    # the interval's ends are the roots of (p_hat - p)^2 = z^2 p (1 - p) / n
    z2, p_hat = quiz_ui.Z95 ** 2, k / n
    roots = np.roots([1 + z2 / n, -(2 * p_hat + z2 / n), p_hat ** 2])
    assert sorted(np.clip(roots.real, 0, 1)) == pytest.approx(list(got), abs=1e-9)


def test_wilson_interval_refuses_impossible_counts():
    for k, n in ((3, 2), (-1, 5), (0, 0), (1.5, 3), (True, 2)):
        with pytest.raises(ParameterError, match="0 <= k <= n"):
            quiz.wilson_interval(k, n)


def test_verdicts_against_chance():
    assert quiz.verdict(0.51, 0.9).startswith("better than chance") and "you told them apart" in \
        quiz.verdict(0.51, 0.9)
    assert quiz.verdict(0.49, 0.9).startswith("no better than chance")
    assert quiz.verdict(0.5, 0.9).startswith("no better than chance")  # the bound must be above 0.5
    assert quiz.verdict(0.1, 0.49).startswith("worse than chance")
    assert "the listeners" in quiz.verdict(0.6, 0.9, who="the listeners")


def test_mulberry32_is_the_stream_the_page_uses():
    # reference values printed by the page's generator in Node.js (the same code as in the page)
    assert quiz_ui.mulberry32(123456789, 5) == [1107202814, 4169434471, 3372958138, 885470128, 1301683845]
    assert quiz_ui.mulberry32(0xFFFFFFFF, 3) == [3850105811, 813802916, 3073704848]


# ----------------------------------------------------------------------------- matching a pair
def _wav_roundtrip(y: np.ndarray, sr: int) -> np.ndarray:
    from vae_audio.ui.display import wav_bytes

    out, _ = sf.read(io.BytesIO(wav_bytes(y, sr)), dtype="float64")
    return out


def _db(a: float, b: float) -> float:
    return abs(20 * math.log10(a / b))


def test_match_pair_gives_equal_length_and_loudness_without_clipping():
    sr = 8000
    rng = np.random.default_rng(0)
    real = np.concatenate([sine(440, sr, 0.3, amplitude=0.3) * np.exp(-np.arange(2400) / 2000),
                           np.zeros(1600, np.float32)])  # 0.3 s of note, 0.2 s of zero padding
    fake = (0.02 * rng.standard_normal(4000) + sine(440, sr, 0.5, amplitude=0.05)).astype(np.float32)
    a, b = quiz.match_pair(real, fake, sr)
    assert a.shape == b.shape == (2400,)  # both cut to the real clip's span without its padding
    a, b = _wav_roundtrip(a, sr), _wav_roundtrip(b, sr)  # as the page plays them: 16-bit PCM
    assert _db(quiz.active_rms(a, sr), quiz.active_rms(b, sr)) < 0.1
    assert max(np.max(np.abs(a)), np.max(np.abs(b))) <= quiz.PEAK_LIMIT + 1e-4
    assert np.allclose(a[:2000], real[:2000], atol=1e-4)  # the real clip keeps its level (no peak limit hit)

    # a model clip that would clip at the real clip's level: both are scaled down together
    spiky = fake.copy()
    spiky[1000] = 0.9
    a, b = (_wav_roundtrip(y, sr) for y in quiz.match_pair(real, spiky, sr))
    assert _db(quiz.active_rms(a, sr), quiz.active_rms(b, sr)) < 0.1
    assert max(np.max(np.abs(a)), np.max(np.abs(b))) == pytest.approx(quiz.PEAK_LIMIT, abs=1e-4)
    assert np.max(np.abs(a)) < 0.2  # the real clip (peak 0.3) was scaled down with it


def test_active_rms_scales_with_the_clip_and_skips_silence():
    sr = 8000
    note = sine(300, sr, 0.24, amplitude=0.4)  # 12 whole frames of 20 ms
    padded = np.concatenate([note, np.zeros(6000, np.float32)])
    assert quiz.active_rms(padded, sr) == pytest.approx(0.4 / math.sqrt(2), rel=1e-3)  # the silence is not counted
    assert quiz.active_rms(3 * padded, sr) == pytest.approx(3 * quiz.active_rms(padded, sr), rel=1e-6)
    assert quiz.active_rms(np.zeros(100), sr) == 0.0


def test_match_pair_keeps_a_clip_whose_last_samples_happen_to_be_zero_and_refuses_silence():
    sr = 8000
    real = sine(300, sr, 0.5, amplitude=0.4)
    real[-3:] = 0.0  # a few zero samples are not padding
    a, b = quiz.match_pair(real, sine(500, sr, 0.5, amplitude=0.1), sr)
    assert a.shape == b.shape == (4000,)
    with pytest.raises(ParameterError, match="question 3: the model's clip is silent"):
        quiz.match_pair(real, np.zeros(4000), sr, what="question 3")
    with pytest.raises(ParameterError, match="the real clip is silent"):
        quiz.match_pair(np.zeros(4000), real, sr)


# ----------------------------------------------------------------------------- making a quiz
def test_make_quiz_pairs_kinds_sides_and_determinism(run):
    _, model, features = run
    first = quiz.make_quiz(model, features, pairs=7, seed=5, phase_kwargs=PHASE)
    again = quiz.make_quiz(model, features, pairs=7, seed=5, phase_kwargs=PHASE)
    other = quiz.make_quiz(model, features, pairs=7, seed=6, phase_kwargs=PHASE)
    assert len(first) == 7 and re.fullmatch(r"[0-9a-f]{12}", first.quiz_id)
    # the same seed: the same key and the same page, byte for byte
    assert first.key() == again.key() and first.quiz_id == again.quiz_id
    assert quiz_ui.quiz_page(first, file_name="q.html") == quiz_ui.quiz_page(again, file_name="q.html")
    assert other.quiz_id != first.quiz_id
    kinds = [q.kind for q in first.questions]
    assert abs(kinds.count("reconstruction") - kinds.count("sample")) == 1  # about half each
    sources = [q.source for q in first.questions]
    assert len(set(sources)) == 7 and all(s.startswith("synth:#") for s in sources)  # distinct held-out clips
    test_ids = {f"synth:#{m['index']}" for m, s in zip(features.metadata, features.split) if s == "test"}
    assert set(sources) <= test_ids
    for q in first.questions:
        assert q.a.shape == q.b.shape and q.a.dtype == np.float32
        assert q.label in model.label_names
        assert _db(quiz.active_rms(q.a, 8000), quiz.active_rms(q.b, 8000)) < 0.01
        assert max(np.max(np.abs(q.a)), np.max(np.abs(q.b))) <= quiz.PEAK_LIMIT + 1e-6
    # the real clip is the test clip itself (trimmed and faded only)
    row = [i for i, m in enumerate(features.metadata) if f"synth:#{m['index']}" == first.questions[0].source][0]
    real = getattr(first.questions[0], first.questions[0].real)[200:-200].astype(np.float64)
    truth = features.audio[row][200:200 + len(real)].astype(np.float64)
    gain = real @ truth / (truth @ truth)  # 1, or less when the pair had to be scaled below a peak of 0.99
    assert 0.1 < gain <= 1 + 1e-6 and np.allclose(real, gain * truth, atol=1e-5)


def test_make_quiz_refuses_what_it_cannot_do(run):
    _, model, features = run
    n_test = quiz.max_pairs(features)
    assert n_test == 8
    with pytest.raises(ParameterError, match=rf"pairs=9: the test split of synth has only {n_test} audible clips"):
        quiz.make_quiz(model, features, pairs=n_test + 1)
    with pytest.raises(ParameterError, match="pairs=0"):
        quiz.make_quiz(model, features, pairs=0)
    with pytest.raises(ParameterError, match="seed=-1"):
        quiz.make_quiz(model, features, pairs=2, seed=-1)
    no_test = features.select(features.split != "test")
    with pytest.raises(DatasetError, match="no audible clip in the test split"):
        quiz.make_quiz(model, no_test, pairs=1)


# ----------------------------------------------------------------------------- in a real browser
@pytest.mark.slow
def test_two_quizzes_on_one_page_do_not_share_state(run, browser, tmp_path):
    """What a notebook does when it shows a quiz twice: each keeps its own answers and score."""
    _, model, features = run
    one = quiz.make_quiz(model, features, pairs=2, seed=1, phase_kwargs=PHASE)
    fragments = [quiz_ui.quiz_html(one, element_id=f"quiz-{one.quiz_id}-{i}") for i in range(2)]
    path = tmp_path / "twice.html"
    path.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + "".join(fragments)
                    + "</body></html>")
    page, problems = open_page(browser, path)
    second = f"#quiz-{one.quiz_id}-1"
    for i in range(2):
        page.click(f"{second} [data-quiz-question='{i}'] [data-choice='a']")
    assert page.locator(f"{second}-score").is_visible()
    assert not page.locator(f"#quiz-{one.quiz_id}-0-score").is_visible()
    # keys go to the quiz that has the focus
    page.click(f"#quiz-{one.quiz_id}-0 [data-quiz-question='0'] h4")
    page.keyboard.press("b")
    pressed = page.locator(f"#quiz-{one.quiz_id}-0 [data-quiz-question='0'] [data-choice='b']")
    assert pressed.get_attribute("aria-pressed") == "true"
    assert problems == []
    page.close()


def test_show_quiz_gives_each_display_its_own_id(run, monkeypatch):
    _, model, features = run
    one = quiz.make_quiz(model, features, pairs=1, seed=2, phase_kwargs=PHASE)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    quiz.show_quiz(one)
    quiz.show_quiz(one)
    ids = [re.search(r"<div class='vae-quiz' id='([^']+)'", html).group(1) for html in shown]
    assert ids[0] != ids[1] and all(i.startswith(f"quiz-{one.quiz_id}-") for i in ids)
    assert all("file\":null" in html for html in shown)  # a notebook's quiz names no file
