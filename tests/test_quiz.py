"""The listening quiz: pair matching, the Wilson interval, the hidden key, pooling, bad input, a real browser."""

from __future__ import annotations

import base64
import io
import json
import math
import re

import numpy as np
import pytest
import soundfile as sf

from vae_audio import cli
from vae_audio.errors import DatasetError, ParameterError
from vae_audio.evaluation import quiz
from vae_audio.ui import quiz as quiz_ui

from helpers import LIGHT_RUN, open_page, sine, wav_seconds

#: a small grid model (8 kHz, 0.5 s windows) whose test split holds 8 synth notes; trains in seconds
SETTINGS = dict(data="synth", epochs=1, max_clips=48, batch_size=16, sr=8000, n_fft=256, hop_length=128,
                duration=0.5, prior_steps=5, n_samples=0)
PHASE = {"n_iter": 8}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A trained conditional grid run: (run folder, loaded model, its features)."""
    from vae_audio.evaluation.evaluate import load_features
    from vae_audio.modeling.bundle import load_model
    from vae_audio.pipeline import train

    root = tmp_path_factory.mktemp("quiz")
    result = train({**LIGHT_RUN, "out": str(root / "run"), "samples_dir": str(root / "samples"), **SETTINGS},
                   verbose=0)
    model = load_model(result.model_dir)
    features, _, _ = load_features(model, cache_dir=None)
    return root / "run", model, features


@pytest.fixture(scope="module")
def written(run, tmp_path_factory):
    """``vae-audio quiz`` on the run, 7 questions, into a folder that does not exist yet: (page, key dict)."""
    folder, _, _ = run
    out = tmp_path_factory.mktemp("written") / "new" / "folder" / "quiz.html"
    assert cli.main(["quiz", "--model", str(folder), "--pairs", "7", "--seed", "3", "--out", str(out),
                     "--quiet"]) == 0
    return out, json.loads(quiz.key_path(out).read_text())


def _cli(*argv) -> int:
    """``vae-audio`` with ``argv``; its exit status (argparse's own errors exit via SystemExit)."""
    try:
        return cli.main([str(a) for a in argv])
    except SystemExit as exc:
        return int(exc.code)


def _decode(uri: str) -> tuple[np.ndarray, int, str]:
    """A WAV data URI -> (samples as float, sample rate, subtype)."""
    data = io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))
    info = sf.info(data)
    data.seek(0)
    y, sr = sf.read(data, dtype="float64")
    return y, sr, info.subtype


def _question_sources(page: str) -> list[list[str]]:
    """Per question, the two WAV data URIs of its players (A then B)."""
    blocks = re.findall(r"<li data-quiz-question='\d+'.*?</li>", page, flags=re.S)
    return [re.findall(r"<audio [^>]*src='([^']*)'", block) for block in blocks]


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


def test_make_quiz_leaves_out_clips_already_heard_while_others_remain(run):
    _, model, features = run
    rows = np.flatnonzero(features.split == "test")
    ids = [f"synth:#{features.metadata[r]['index']}" for r in rows]
    few = quiz.make_quiz(model, features, pairs=5, seed=0, avoid=rows[:3], phase_kwargs=PHASE)
    assert sorted(q.source for q in few.questions) == sorted(ids[3:])  # the 5 others
    every = quiz.make_quiz(model, features, pairs=8, seed=0, avoid=rows[:3], phase_kwargs=PHASE)
    assert sorted(q.source for q in every.questions) == sorted(ids)  # all 8 needed: the heard ones too
    assert set(q.source for q in every.questions[5:]) == set(ids[:3])  # asked last


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


# ----------------------------------------------------------------------------- the command and its page
def test_quiz_command_writes_the_page_and_its_key(written):
    out, key = written
    page = out.read_text()
    assert key["format"] == "vae_audio.quiz.key" and key["quiz_file"] == "quiz.html" and len(key["questions"]) == 7
    assert f"data-quiz-id='{key['quiz_id']}'" in page and "id='quiz'" in page and "id='quiz-score'" in page
    sources = _question_sources(page)
    assert len(sources) == 7 and all(len(pair) == 2 for pair in sources)
    for pair, q in zip(sources, key["questions"]):
        (a, sr_a, sub_a), (b, sr_b, sub_b) = map(_decode, pair)
        assert sr_a == sr_b == 8000 and sub_a == sub_b == "PCM_16"
        assert len(a) == len(b) == round(q["seconds"] * 8000)
        assert _db(quiz.active_rms(a, 8000), quiz.active_rms(b, 8000)) < 0.1
        assert max(np.max(np.abs(a)), np.max(np.abs(b))) < 1.0
    assert {q["kind"] for q in key["questions"]} == {"reconstruction", "sample"}
    assert {q["real"] for q in key["questions"]} == {"a", "b"}
    assert not re.search(r"""(src|href)=['"](https?:)?//""", page)  # nothing from the network


def test_the_key_is_not_in_the_page(written):
    out, key = written
    page = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", out.read_text())  # the audio is not text
    sides = [q["real"] for q in key["questions"]]
    bits = [int(s == "b") for s in sides]
    plain = ["".join(sides), "".join(sides).upper(), "".join(map(str, bits)), json.dumps(bits),
             json.dumps(bits, separators=(",", ":")), json.dumps(sides), json.dumps(sides, separators=(",", ":"))]
    for form in plain:
        assert form not in page, form
    assert not re.search(r"""real['"]?\s*[:=]\s*['"]?[ab]\b""", page, flags=re.I)  # no real: a, "real":"b", ...
    assert '"real"' not in page and "data-real" not in page and "data-answer" not in page
    # every literal of the embedded data: none is the key, none is a list of sides or bits
    data = json.loads(re.search(r"<script type='application/json' class='vae-quiz-data'>(.*?)</script>", page,
                                flags=re.S).group(1))
    values = [v for v in data.values()]
    assert sides not in values and bits not in values and "".join(sides) not in values
    assert len(data["w"]) == 7 and all(w > 1 for w in data["w"])  # masked words, not bits
    # the masked words give the key back only through the stream (what the page does at the end)
    stream = quiz_ui.mulberry32(data["s"], 7)
    assert ["b" if (w ^ r) & 1 else "a" for w, r in zip(data["w"], stream)] == sides


def test_quiz_command_bad_input_one_line_and_nothing_written(run, tmp_path, capsys):
    folder, _, _ = run
    few = tmp_path / "few"  # two clips of a folder dataset: both land in the training split
    few.mkdir()
    for i in range(2):
        sf.write(few / f"clip{i}.wav", sine(300 + 100 * i, 8000, 0.5), 8000)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["--model", str(tmp_path / "missing")], "no such folder"),
        (["--model", str(folder), "--pairs", "0"], "--pairs: 0 must be at least 1"),
        (["--model", str(folder), "--pairs", "9"], "pairs=9: the test split of synth has only 8 audible clips"),
        (["--model", str(folder), "--seed", "-2"], "seed=-2"),
        (["--model", str(folder), "--data", str(few)], "no clip in the test split"),
        (["--model", str(folder), "--out", str(tmp_path)], "is a folder"),
        (["--model", str(folder), "--out", str(a_file / "quiz.html")], "cannot create its folder"),
    ]
    for args, message in cases:
        out = ["--out", str(tmp_path / "q" / "quiz.html")] if "--out" not in args else []
        code = _cli("quiz", *args, *out, "--quiet")
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("vae-audio: error: ") and err.count("\n") == 1, (args, err)
        assert message in err, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["few", "file"]  # not even the folder of --out


# ----------------------------------------------------------------------------- pooling listeners
def _answers(key: dict, choices: list[str | None], *, listener: str | None, quiz_file: str | None = "quiz.html",
             quiz_id: str | None = None) -> dict:
    return {"format": "vae_audio.quiz.answers", "version": 1, "quiz_id": quiz_id or key["quiz_id"],
            "quiz_file": quiz_file, "listener": listener, "questions": len(choices),
            "answers": [{"question": i, "choice": c, "time": None} for i, c in enumerate(choices)]}


def _flip(side: str) -> str:
    return "b" if side == "a" else "a"


def test_quiz_score_pools_two_listeners(written, capsys):
    out, key = written
    truth = [q["real"] for q in key["questions"]]
    alice = truth[:5] + [_flip(s) for s in truth[5:]]  # 5 of 7 right
    bob = [_flip(truth[0])] + truth[1:3] + [None] * 4  # 2 of 3 answered right
    for name, choices in (("alice", alice), ("bob", bob)):
        (out.parent / f"{name}.json").write_text(json.dumps(_answers(key, choices, listener=name)))
    scores = quiz.score_answers([out.parent / "alice.json", out.parent / "bob.json"])  # the key found beside
    assert scores.key_file == quiz.key_path(out) and scores.quiz_id == key["quiz_id"]
    assert [(s.total.k, s.total.n, s.unanswered) for s in scores.listeners] == [(5, 7, 0), (2, 3, 4)]
    assert (scores.pooled.k, scores.pooled.n) == (7, 10)
    kinds = [q["kind"] for q in key["questions"]]
    want = {kind: sum(c == t for c, t, k in zip(alice + bob, truth + truth, kinds + kinds) if k == kind and c)
            for kind in ("reconstruction", "sample")}
    assert {kind: t.k for kind, t in scores.by_kind.items()} == want
    assert sum(t.n for t in scores.by_kind.values()) == 10

    code = cli.main(["quiz-score", str(out.parent / "alice.json"), str(out.parent / "bob.json"),
                     "--key", str(quiz.key_path(out))])
    text = capsys.readouterr().out
    assert code == 0
    low, high = quiz.wilson_interval(7, 10)
    assert re.search(rf"alice \(alice\.json\)\s+5 / 7\s+0\.714\s+{quiz.wilson_interval(5, 7)[0]:.3f}-", text)
    assert re.search(r"bob \(bob\.json\)\s+2 / 3\s+0\.667\s+\S+\s+\(4 unanswered\)", text)
    assert re.search(rf"pooled, 2 listeners\s+7 / 10\s+0\.700\s+{low:.3f}-{high:.3f}", text)
    assert text.rstrip().endswith("verdict, pooled (every answer counted as an independent trial):\n  "
                                  + quiz.verdict(low, high, "the listeners"))


def test_quiz_score_bad_input(written, tmp_path, capsys):
    out, key = written
    truth = [q["real"] for q in key["questions"]]
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_answers(key, truth, listener="x", quiz_file=str(out))))
    other = tmp_path / "other.json"
    other.write_text(json.dumps(_answers(key, truth, listener="y", quiz_file=str(out), quiz_id="0123456789ab")))
    lost = tmp_path / "lost.json"
    lost.write_text(json.dumps(_answers(key, truth, listener="z", quiz_file=str(tmp_path / "elsewhere.html"))))
    notebook = tmp_path / "notebook.json"
    notebook.write_text(json.dumps(_answers(key, truth, listener="n", quiz_file=None)))
    not_json = tmp_path / "not.json"
    not_json.write_text("{answers")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "something else"}))
    bad_question = tmp_path / "badq.json"
    data = _answers(key, truth, listener="q", quiz_file=str(out))
    data["answers"][0]["question"] = 99
    bad_question.write_text(json.dumps(data))
    cases = [
        ([str(tmp_path / "missing.json")], f"{tmp_path / 'missing.json'}: no such file"),
        ([str(not_json)], f"{not_json}: not JSON"),
        ([str(wrong)], f"{wrong}: not vae_audio quiz answers"),
        ([str(bad_question)], f"{bad_question}: answer "),
        ([str(good), str(other)], f"{other}: answers to quiz 0123456789ab, but {quiz.key_path(out)} is the key of "
                                  f"quiz {key['quiz_id']}"),
        ([str(lost)], f"{lost}: no key beside the quiz it names"),
        ([str(notebook)], f"{notebook}: the answers name no quiz file"),
        ([str(good), "--key", str(good)], f"{good}: not a vae_audio quiz key"),
        ([str(good), "--key", str(tmp_path / "nokey.json")], "nokey.json: no such file"),
    ]
    for args, message in cases:
        code = _cli("quiz-score", *args)
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, (args, err)
    assert cli.main(["quiz-score", str(notebook), "--key", str(quiz.key_path(out))]) == 0  # a key given: fine
    assert "7 / 7" in capsys.readouterr().out


# ----------------------------------------------------------------------------- in a real browser
def _network_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url[:80]) if not r.url.startswith(("data:", "file:", "blob:"))
            else None)
    return seen


@pytest.mark.slow
def test_the_quiz_page_scores_itself_in_headless_chromium(written, browser, tmp_path):
    out, key = written
    truth = [q["real"] for q in key["questions"]]
    kinds = [q["kind"] for q in key["questions"]]
    n = len(truth)
    page, problems = open_page(browser, out)
    requests = _network_requests(page)
    questions = page.locator("#quiz [data-quiz-question]")
    assert questions.count() == n
    for i in range(n):
        question = page.locator(f"#quiz [data-quiz-question='{i}']")
        srcs = question.locator("audio").evaluate_all("els => els.map(a => a.currentSrc || a.src)")
        durations = question.locator("audio").evaluate_all("els => els.map(a => a.duration)")
        assert len(srcs) == 2 and wav_seconds(srcs[0]) == wav_seconds(srcs[1]) == pytest.approx(durations[0], abs=0.01)
        assert durations[0] == pytest.approx(durations[1], abs=1e-6)
        assert question.locator("[data-choice='a']").count() == 1 and question.locator("[data-choice='b']").count() == 1
    # the first question is focused: keys answer it (right), N goes on, a key answers the second (wrong)
    assert page.evaluate("document.activeElement.getAttribute('data-quiz-question')") == "0"
    page.keyboard.press(truth[0].upper())
    page.keyboard.press("n")
    page.keyboard.press(_flip(truth[1]))
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.getAttribute('data-quiz-question')") == "2"
    choices = [truth[0], _flip(truth[1])]
    for i in range(2, n):  # then clicks: right, wrong, right, ...
        choice = truth[i] if i % 2 == 0 else _flip(truth[i])
        page.click(f"#quiz [data-quiz-question='{i}'] [data-choice='{choice}']")
        choices.append(choice)
        if i < n - 1:
            assert not page.locator("#quiz-score").is_visible()  # no score before the last answer
    k = sum(c == t for c, t in zip(choices, truth))
    low, high = quiz.wilson_interval(k, n)
    score = page.locator("#quiz-score")
    assert score.is_visible()
    text = score.inner_text()
    assert f"{k} / {n} right" in text
    shown = [float(x) for x in re.search(r"interval \(Wilson\) (\d\.\d{3}) \u2013 (\d\.\d{3})", text).groups()]
    assert shown == pytest.approx([low, high], abs=6e-4)
    assert float(score.get_attribute("data-low")) == pytest.approx(low, abs=1e-12)
    assert float(score.get_attribute("data-high")) == pytest.approx(high, abs=1e-12)
    verdict = quiz.verdict(low, high)
    assert verdict[0].upper() + verdict[1:] in text
    by_kind = {kind: (sum(c == t for c, t, kd in zip(choices, truth, kinds) if kd == kind), kinds.count(kind))
               for kind in ("reconstruction", "sample")}
    assert (f"By kind: reconstructions {by_kind['reconstruction'][0]} / {by_kind['reconstruction'][1]}, "
            f"samples {by_kind['sample'][0]} / {by_kind['sample'][1]}.") in text
    # each question now says which was real
    for i, real in enumerate(truth):
        result = page.locator(f"#quiz [data-quiz-question='{i}'] .vae-quiz-result").inner_text()
        assert result.startswith(("Right: " if choices[i] == real else "Wrong: ") + f"{real.upper()} was the real clip")
    # the answers download as JSON naming the quiz file; quiz-score finds the key beside it
    page.fill("#quiz .vae-quiz-name", "alice")
    with page.expect_download() as download:
        page.click("#quiz .vae-quiz-download")
    saved = tmp_path / "answers.json"
    download.value.save_as(saved)
    answers = json.loads(saved.read_text())
    assert answers["quiz_id"] == key["quiz_id"] and answers["listener"] == "alice"
    assert answers["quiz_file"] == str(out.resolve())
    assert [a["choice"] for a in answers["answers"]] == choices and all(a["time"] for a in answers["answers"])
    scores = quiz.score_answers([saved])
    assert (scores.pooled.k, scores.pooled.n) == (k, n)
    assert problems == [] and requests == []
    page.close()


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
