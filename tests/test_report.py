"""report.html: what the page holds, what it says when parts are missing, bad input, and a real browser."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from vae_audio import cli, report
from vae_audio.errors import BundleError, ParameterError

from helpers import LIGHT_RUN, open_page, page_media, screenshot_is_not_blank

#: a small grid model: 8 kHz, 0.5 s windows, 129 bins, so the run takes seconds
SETTINGS = dict(data="synth", epochs=1, max_clips=48, batch_size=16, sr=8000, n_fft=256, hop_length=128,
                duration=0.5, prior_steps=5, n_samples=3)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One conditional grid run (model + prior) with the report training writes: (run folder, result)."""
    from vae_audio.config import RunConfig
    from vae_audio.pipeline import train

    root = tmp_path_factory.mktemp("report")
    result = train(RunConfig.of(LIGHT_RUN, out=str(root / "run"), samples_dir=str(root / "samples"), **SETTINGS),
                   verbose=0)
    return root / "run", result


def _audio_sources(page: str) -> list[str]:
    return re.findall(r"<audio [^>]*src='([^']*)'", page)


def test_training_writes_a_self_contained_report(run):
    folder, result = run
    page = (folder / report.REPORT_FILE).read_text()
    n_labels = 8
    # 3 test clips x (original, ceiling, reconstruction) + 2 samples per label + 1 walk + the quiz's pairs
    # (all 8 test clips: the split has fewer than quiz.REPORT_PAIRS)
    sources = _audio_sources(page)
    assert len(sources) == 3 * 3 + 2 * n_labels + 1 + 2 * 8
    assert all(s.startswith("data:audio/wav;base64,") for s in sources)
    for k in (1, 2, 3):
        assert f"test clip {k} (" in page
    assert "test clip 4" not in page
    assert page.count("<img ") == 3 * 3 + 2 * n_labels + 1 + 1  # spectrograms + the loss curves
    assert not re.search(r"""(src|href)=['"](https?:)?//""", page)  # nothing from the network
    assert "No evaluation results yet (evaluation.json not found)" in page
    assert f"vae-audio evaluate --model {result.model_dir}" in page
    assert "learned autoregressive prior (5 steps" in page and "great circle" in page
    assert "<dt>postfilter</dt><dd>none</dd>" in page  # synth's default
    # the listening quiz, with its key beside the page (not in it)
    key = json.loads((folder / "report.key.json").read_text())
    assert key["quiz_file"] == report.REPORT_FILE and len(key["questions"]) == 8
    assert f"data-quiz-id='{key['quiz_id']}'" in page and page.count("data-quiz-question=") == 8
    assert "<section id='listening-quiz'>" in page and "id='quiz'" in page and "id='quiz-score'" in page
    assert "".join(q["real"] for q in key["questions"]) not in re.sub(r"base64,[A-Za-z0-9+/=]+", "", page)
    assert (folder / report.REPORT_FILE).stat().st_size < 10 * 2**20


def test_the_report_plays_the_clips_training_wrote(run):
    """The page's test rows are the clips and reconstructions of the model, at the recipe's rate."""
    import io

    import soundfile as sf

    folder, _ = run
    page = (folder / report.REPORT_FILE).read_text()
    import base64

    first = _audio_sources(page)[0]
    y, sr = sf.read(io.BytesIO(base64.b64decode(first.split(",", 1)[1])))
    assert sr == 8000 and len(y) == 4000 and np.max(np.abs(y)) > 0.01  # an audible 0.5 s test clip


def test_report_command_rebuilds_and_says_what_is_missing(run, capsys, tmp_path):
    folder, result = run
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(folder, copy)
    (copy / "history.json").unlink()
    code = cli.main(["report", "--model", str(copy), "--data", str(tmp_path / "nowhere"), "--n-clips", "2",
                     "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == f"wrote {copy / report.REPORT_FILE}"
    page = (copy / report.REPORT_FILE).read_text()
    assert "no loss curves: history.json not found" in page
    assert "no test clips: the data could not be loaded" in page and "nowhere" in page
    assert "no listening quiz: the data could not be loaded" in page
    assert not (copy / "report.key.json").exists()  # the key of the page it replaced is gone with it
    assert len(_audio_sources(page)) == 2 * 8 + 1  # the samples and the prior walk need no data


def test_evaluation_results_fill_the_tables(run, tmp_path):
    import shutil

    from vae_audio.evaluation.evaluate import table_sections

    folder = tmp_path / "run"
    shutil.copytree(run[0], folder)
    evaluation = {
        "n_test": 5, "phase": {"init": "pghi", "n_iter": 4},
        "reconstruction": {"sc_db": {"median": -3.5}, "lsd_db": {"median": 7.25}},
        "audio": {"sc_db": {"median": -3.25}, "lsd_db": {"median": 7.5}},
        "ceiling": {"truth_through_phase": {"sc_db": {"median": -30.0}, "lsd_db": {"median": 0.9}},
                    "model_with_true_phase": {"sc_db": {"median": -4.0}, "lsd_db": {"median": 7.0}}},
        "summary": {"audio_sc_gap_to_ceiling_db": 26.75},
        "listening": {"reconstruction": {"pesq_nb": {"median": 2.5}, "stoi": 0.8},
                      "ceiling": {"pesq_nb": {"median": 4.4}, "stoi": 0.99}},
        "listener": {"rows": {"real_vs_real": {"accuracy": 0.55, "by_classifier": {"logistic_regression": 0.55,
                                                                                  "boosted_trees": 0.5},
                                               "cues": {"mfcc": 0.02, "mel": 0.01, "texture": 0.0}},
                              "reconstruction": {"accuracy": 0.91, "by_classifier": {"logistic_regression": 0.91,
                                                                                     "boosted_trees": 0.88},
                                                 "cues": {"texture": 0.3, "mel": 0.1, "mfcc": 0.05}}},
                     "side_by_side": {"ceiling": 0.9, "reconstruction": 1.0}},
        "generation": None,
        "diversity": {"samples_kind": "conditional", "n_reference": 40, "reference": "train split", "rows": {
            "real_test": {"within_label": {"median": 0.75, "per_label": {"a": 0.7, "b": 0.8}},
                          "nearest_train": {"median": 0.96, "p10": 0.93, "p90": 0.98,
                                            "per_label": {"a": 0.95, "b": 0.97}}},
            "samples": {"within_label": {"median": 0.79, "per_label": {"a": 0.81, "b": 0.77}},
                        "nearest_train": {"median": 0.97, "p10": 0.94, "p90": 0.99,
                                          "per_label": {"a": 0.975, "b": 0.965}}},
            "repeated": {"within_label": {"median": 1.0, "per_label": {"a": 1.0, "b": 1.0}}, "nearest_train": None},
            "replayed": {"within_label": {"median": 0.76, "per_label": {"a": 0.7, "b": 0.82}},
                         "nearest_train": {"median": 0.998, "p10": 0.99, "p90": 1.0,
                                           "per_label": {"a": 1.0, "b": 0.99}}}}},
    }
    (folder / report.EVALUATION_FILE).write_text(json.dumps(evaluation))
    path = report.write_report(folder, data=str(tmp_path / "none"))
    assert path == folder / report.REPORT_FILE
    page = path.read_text()
    assert "No evaluation results yet" not in page
    for section in table_sections(evaluation):
        assert section.title in page
    assert "<td>ceiling: true magnitude + phase method</td><td>-30.00</td><td>0.90</td>" in page
    assert "<td>model audio (phase method)</td><td>2.50</td><td>0.800</td></tr>" in page
    row = "<td>reconstructions</td><td>0.910</td><td>0.910</td><td>0.880</td><td>texture +0.30, mel +0.10, mfcc +0.05"
    assert row in page
    assert "audio SC gap to the phase ceiling: 26.75 dB" in page
    # diversity and copying: the rows with their known-bad calibration, then label by label
    assert "<td>conditional samples</td><td>0.790</td><td>0.970</td>" in page
    assert "<td>known bad: one sample repeated</td><td>1.000</td><td>-</td>" in page
    assert "<td>known bad: training clips replayed through the model</td><td>0.760</td><td>0.998</td>" in page
    assert ("<th>real within</th><th>samples within</th><th>samples nearest train</th><th>real nearest train</th>"
            in page)
    assert "<td>a</td><td>0.700</td><td>0.810</td><td>0.975</td><td>0.950</td>" in page
    assert "as a share of the real test clips&#x27;: samples 0.75, replayed training clips 0.05" in page
    assert "fewer than two clips of the label" not in page  # every label has its values


def test_bad_input_gets_one_line_and_writes_nothing(run, tmp_path, capsys, monkeypatch):
    folder, result = run
    empty = tmp_path / "empty"
    empty.mkdir()
    code = cli.main(["report", "--model", str(empty)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no model bundle here" in err and str(empty) in err
    assert list(empty.iterdir()) == []
    code = cli.main(["report", "--model", str(tmp_path / "missing")])
    assert code == 2 and "no such folder" in capsys.readouterr().err
    with pytest.raises(ParameterError, match="n_clips=0"):
        report.write_report(result.model_dir, n_clips=0)

    # an unwritable run folder is refused before any work; the old page stays as it was
    before = (folder / report.REPORT_FILE).read_bytes()
    monkeypatch.setattr(report.os, "access", lambda path, mode: False)
    with pytest.raises(ParameterError, match=r"cannot write report\.html here"):
        report.write_report(result.model_dir)
    monkeypatch.undo()

    # a failure while the page is written leaves the old page whole, and no temporary file behind
    def broken(*args, **kwargs):
        raise ParameterError("boom")

    monkeypatch.setattr(report, "render_report", broken)
    with pytest.raises(ParameterError, match="boom"):
        report.write_report(result.model_dir, data=str(tmp_path / "none"))
    assert (folder / report.REPORT_FILE).read_bytes() == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".report")]
    assert (folder / "report.key.json").is_file()
    with pytest.raises(BundleError):
        report.locate_run(tmp_path / "missing")


# ----------------------------------------------------------------------------- in a real browser
@pytest.mark.slow
def test_the_report_works_in_headless_chromium(run, browser, tmp_path):
    folder, _ = run
    page, problems = open_page(browser, folder / report.REPORT_FILE)
    media = page_media(page)
    assert media["audio"] and all(a["error"] is None for a in media["audio"]), media["audio"]
    for a in media["audio"]:  # every player knows its clip's length
        assert a["declared"] is not None and abs(a["duration"] - a["declared"]) < 0.01, a
        assert abs(a["duration"] - a["expected"]) < 0.01, a  # the length of the WAV it embeds
    assert media["images"] and all(i["complete"] and i["width"] > 100 for i in media["images"])
    assert media["external"] == []
    # the quiz: no score until the last answer, then the score the key implies
    truth = [q["real"] for q in json.loads((folder / "report.key.json").read_text())["questions"]]
    score = page.locator("#quiz-score")
    for i in range(len(truth)):
        assert not score.is_visible()
        page.click(f"#quiz [data-quiz-question='{i}'] [data-choice='a']")
    assert score.is_visible() and f"{truth.count('a')} / {len(truth)} right" in score.inner_text()
    assert problems == []
    assert screenshot_is_not_blank(page, tmp_path / "report.png") > 20.0
    page.close()
