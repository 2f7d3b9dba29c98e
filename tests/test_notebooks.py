"""The example notebooks run top to bottom (quick mode, synthetic data) and produce players, plots and WAVs.

Each notebook is copied to a temporary folder and executed there with nbclient in a
``python3`` kernel of this interpreter, with ``VAE_AUDIO_DATA=synth``, ``VAE_AUDIO_QUICK=1``
and ``VAE_AUDIO_OUTPUTS`` pointing into the temporary folder, so the committed notebooks and
``outputs/samples`` are never touched. Also checked: the notebooks' cells match their reviewed
sources, the jupytext percent scripts ``notebooks/*.py``; the committed outputs hold no FSDD
audio; the files stay small; and :func:`vae_audio.ui.notebook.notebook_settings` reads the environment as documented.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_audio.errors import ConfigError, DatasetError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SR = 16000  # the synthetic dataset's sample rate

#: name -> the .wav files it must write (quick mode on synth: 8 labels)
EXPECTED_WAVS = {
    "simple_vae.ipynb": [f"simple_vae_prior_{i}.wav" for i in range(4)]
    + ["simple_vae_test_original.wav", "simple_vae_test_reconstruction.wav"],
    "improved_vae.ipynb": [f"improved_vae_test{j}_{k}.wav"
                           for j in range(2) for k in ("ground_truth", "reconstruction")]
    + [f"improved_vae_label_{f}.wav"
       for f in ("flute", "clarinet", "brass", "plucked", "bell", "organ", "mallet", "bowed")]
    + ["improved_vae_interpolation.wav", "improved_vae_prior_walk.wav", "improved_vae_long.wav"],
}


# ----------------------------------------------------------------------------- helpers
def _kernel_env(tmp_path: Path) -> dict[str, str]:
    """Environment for the kernel: quick mode on synth, outputs in tmp, inline plots, this venv's kernel."""
    env = dict(os.environ)
    env.update(VAE_AUDIO_DATA="synth", VAE_AUDIO_QUICK="1", VAE_AUDIO_OUTPUTS=str(tmp_path / "outputs"),
               MPLBACKEND="module://matplotlib_inline.backend_inline", JUPYTER_PLATFORM_DIRS="1",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore::DeprecationWarning")
    env.pop("FSDD_DIR", None)
    # the kernel must be this interpreter: jupyter_client runs sys.executable for a spec whose
    # argv[0] is "python"; otherwise (or with no python3 spec at all) install one into tmp
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
        ok = argv0 in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}") or \
            Path(argv0).resolve() == Path(sys.executable).resolve()
    except NoSuchKernel:
        ok = False
    if not ok:
        prefix = tmp_path / "kernel"
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "python3"],
                       check=True, capture_output=True)
        env["JUPYTER_PATH"] = str(prefix / "share" / "jupyter") + os.pathsep + env.get("JUPYTER_PATH", "")
    return env


def _execute(name: str, tmp_path: Path, env: dict[str, str]):
    """Run a copy of notebooks/<name> in tmp_path/notebooks; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    work = tmp_path / "notebooks"
    work.mkdir(exist_ok=True)
    shutil.copy(NOTEBOOKS / name, work / name)
    nb = nbformat.read(work / name, as_version=4)
    old_env = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel process inherits this environment
    try:
        NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(work)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    nbformat.write(nb, work / name)  # kept for inspection when a test fails
    return nb


def _outputs(nb, cell_type: str = "code"):
    for cell in nb.cells:
        if cell.cell_type == cell_type:
            yield from cell.get("outputs", [])


def _html(output) -> str:
    return output.get("data", {}).get("text/html", "") if "data" in output else ""


def _count(nb, predicate) -> int:
    return sum(1 for o in _outputs(nb) if predicate(o))


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Both notebooks executed once in quick mode: {name: notebook}, plus the outputs folder."""
    tmp = tmp_path_factory.mktemp("nb")
    env = _kernel_env(tmp)
    return {name: _execute(name, tmp, env) for name in EXPECTED_WAVS}, tmp / "outputs"


# ----------------------------------------------------------------------------- execution
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_WAVS))
def test_notebook_runs_and_shows_players_and_plots(executed, name):
    notebooks, _ = executed
    nb = notebooks[name]
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors
    players = sum(_html(o).count("<audio") for o in _outputs(nb))
    # figures, and the spectrograms embedded in comparison rows (display.compare)
    plots = _count(nb, lambda o: "image/png" in o.get("data", {})) + sum(_html(o).count("<img ") for o in _outputs(nb))
    assert players >= (11 if name == "simple_vae.ipynb" else 23), players
    assert plots >= (4 if name == "simple_vae.ipynb" else 7), plots
    text = "".join(o.get("text", "") for o in _outputs(nb) if o.get("output_type") == "stream")
    assert "built-in synthetic instruments (VAE_AUDIO_DATA=synth)" in text  # says which data it uses
    assert "quick mode" in text
    # the progress bar finished: its display shows every step done
    # the training progress bar finished: its display shows every step done (long stages such as
    # featurizing may show their own bar, one line each)
    bars = [o for o in _outputs(nb) if "<progress" in _html(o) and "epoch" in _html(o)]
    assert len(bars) == 1 and "epoch 2/2" in _html(bars[0])
    for bar in [o for o in _outputs(nb) if "<progress" in _html(o)]:
        value, maximum = (_html(bar).split(f"{k}='")[1].split("'")[0] for k in ("value", "max"))
        assert value == maximum, _html(bar)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_WAVS))
def test_notebook_writes_valid_wavs(executed, name):
    from vae_audio.dsp.audio import load_audio

    _, outputs = executed
    samples = outputs / "samples"
    prefix = name.split(".")[0] + "_"
    written = sorted(p.name for p in samples.glob(prefix + "*.wav"))
    for expected in EXPECTED_WAVS[name]:
        assert expected in written
    for fname in written:
        y, sr = load_audio(samples / fname)
        assert sr == SR
        assert y.ndim == 1 and len(y) >= SR
        assert np.all(np.isfinite(y)) and 0.001 < np.max(np.abs(y)) <= 1.0, fname
        assert np.sqrt(np.mean(y ** 2)) > 1e-4, f"{fname} is (nearly) silent"
    if name == "improved_vae.ipynb":
        assert (outputs / "models" / "improved_vae" / "config.json").is_file()
        interpolation, _ = load_audio(samples / "improved_vae_interpolation.wav")
        assert len(interpolation) == 6 * SR


@pytest.mark.slow
def test_improved_notebook_reports_identical_reload(executed):
    notebooks, _ = executed
    text = "".join(o.get("text", "") for o in _outputs(notebooks["improved_vae.ipynb"])
                   if o.get("output_type") == "stream")
    assert "encoder outputs identical: True" in text
    assert "decoder outputs identical: True" in text
    assert "fresh objects: True" in text
    tables = [_html(o) for o in _outputs(notebooks["improved_vae.ipynb"]) if "<table><thead>" in _html(o)]
    assert len(tables) == 1 and "ceiling" in tables[0] and "SC (dB)" in tables[0] and "true phase" in tables[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_WAVS))
def test_notebook_shows_one_listening_quiz(executed, name):
    """Each notebook shows the quiz once, scoped by its own element id, with its key nowhere in the output."""
    notebooks, _ = executed
    quizzes = [_html(o) for o in _outputs(notebooks[name]) if "class='vae-quiz'" in _html(o)]
    assert len(quizzes) == 1
    fragment = quizzes[0]
    n = fragment.count("data-quiz-question=")
    assert 4 <= n <= 8 and fragment.count("<audio") == 2 * n
    assert re.search(r"id='quiz-[0-9a-f]{12}-[0-9a-f]{8}'", fragment)  # not the bare #quiz: two displays never clash
    assert "data-choice='a'" in fragment and "real:" not in fragment


# ----------------------------------------------------------------------------- committed files
@pytest.mark.parametrize("name", sorted(EXPECTED_WAVS))
def test_committed_notebook_is_current_small_and_free_of_fsdd(name):
    import jupytext
    import nbformat

    path = NOTEBOOKS / name
    assert path.stat().st_size < 5 * 2 ** 20
    nb = nbformat.read(path, as_version=4)
    expected = jupytext.read(path.with_suffix(".py"))  # the reviewed source (percent format)
    assert [(c.cell_type, c.source) for c in nb.cells] == [(c.cell_type, c.source) for c in expected.cells], \
        f"{path} is stale: run jupytext --to ipynb --execute {path.with_suffix('.py')}"
    outputs = list(_outputs(nb))
    if any("<audio" in _html(o) for o in outputs):  # executed: must be the synthetic data, never FSDD audio
        # the words of the outputs, without embedded base64 (audio, images), where any 4 letters occur by chance
        words = [o.get("text", "") for o in outputs] + [
            re.sub(r"base64,[A-Za-z0-9+/=]+", "", o["data"].get(kind, ""))
            for o in outputs if "data" in o for kind in ("text/plain", "text/html")]
        text = "\n".join(words)
        assert "Data: built-in synthetic instruments (VAE_AUDIO_DATA=synth)" in text
        assert "fsdd" not in text.lower()


# ----------------------------------------------------------------------------- settings
def test_settings_data_choice_and_quick_mode(tmp_path, monkeypatch, capsys):
    from vae_audio import notebook

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FSDD_DIR", raising=False)
    monkeypatch.setattr(notebook, "_find_root", lambda start: tmp_path)
    monkeypatch.setattr("vae_audio.data.datasets._REPO_ROOT", tmp_path)
    s = notebook.notebook_settings(epochs=30, env={"VAE_AUDIO_DATA": "synth"}, quiet_tensorflow=False)
    assert (s.data, s.quick, s.max_clips, s.epochs) == ("synth", False, None, 30)
    assert s.samples_dir == tmp_path / "outputs" / "samples" and s.cache_dir == tmp_path / "data" / "cache"
    assert "built-in synthetic instruments (VAE_AUDIO_DATA=synth)" in capsys.readouterr().out

    s = notebook.notebook_settings(epochs=30, env={"VAE_AUDIO_DATA": "SYNTH", "VAE_AUDIO_QUICK": "1",
                                                   "VAE_AUDIO_OUTPUTS": str(tmp_path / "o")}, verbose=False,
                                   quiet_tensorflow=False)
    assert (s.quick, s.max_clips, s.epochs) == (True, notebook.QUICK_CLIPS["synth"], 2)
    assert s.samples_dir == tmp_path / "o" / "samples" and s.models_dir == tmp_path / "o" / "models"

    # unset: FSDD when it can be found, else synth (and it says why)
    s = notebook.notebook_settings(epochs=3, env={}, quiet_tensorflow=False)
    assert s.data == "synth" and "FSDD not found" in capsys.readouterr().out
    fsdd = tmp_path / "elsewhere" / "recordings"
    fsdd.mkdir(parents=True)
    for name in ("0_alice_0.wav", "1_bob_7.wav"):
        (fsdd / name).write_bytes(b"")
    monkeypatch.setenv("FSDD_DIR", str(fsdd.parent))  # find_fsdd reads FSDD_DIR from the process environment
    s = notebook.notebook_settings(epochs=3, env={}, verbose=False, quiet_tensorflow=False)
    assert s.data == "fsdd" and "FSDD found" in s.description and str(fsdd) in s.description
    monkeypatch.delenv("FSDD_DIR")
    (tmp_path / "data").mkdir()
    fsdd.parent.rename(tmp_path / "data" / "fsdd")  # data/fsdd under the current folder
    assert notebook.notebook_settings(epochs=3, env={}, verbose=False, quiet_tensorflow=False).data == "fsdd"
    assert notebook.notebook_settings(epochs=3, env={"VAE_AUDIO_DATA": "synth"}, verbose=False,
                                      quiet_tensorflow=False).data == "synth"

    folder = tmp_path / "my_audio"
    folder.mkdir()
    s = notebook.notebook_settings(epochs=3, env={"VAE_AUDIO_DATA": str(folder), "VAE_AUDIO_QUICK": "1"}, verbose=False,
                                   quiet_tensorflow=False)
    assert s.data == str(folder) and s.max_clips == notebook.QUICK_CLIPS["folder"]


@pytest.mark.parametrize("env, error", [
    ({"VAE_AUDIO_DATA": "nowhere/at/all"}, ConfigError),
    ({"VAE_AUDIO_QUICK": "maybe"}, ConfigError),
    ({"VAE_AUDIO_DATA": "fsdd"}, DatasetError),
])
def test_settings_refuse_bad_environment(tmp_path, monkeypatch, env, error):
    from vae_audio import notebook

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FSDD_DIR", raising=False)
    monkeypatch.setattr(notebook, "_find_root", lambda start: tmp_path)
    monkeypatch.setattr("vae_audio.data.datasets._REPO_ROOT", tmp_path)
    with pytest.raises(error, match="VAE_AUDIO|FSDD"):
        notebook.notebook_settings(epochs=3, env=env, verbose=False, quiet_tensorflow=False)


def test_raw_clip_is_longer_than_the_window_for_synth():
    from vae_audio import datasets, notebook

    ds = datasets.load_dataset("synth", max_clips=8)
    y, sr = notebook.raw_clip(ds, 3, synth_seconds=1.5)
    assert sr == ds.config.sr and y.shape == (int(1.5 * sr),) and np.max(np.abs(y)) > 0.1


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_WAVS))
def test_exported_notebook_works_in_headless_chromium(executed, name, browser, tmp_path):
    """The executed notebook as one HTML page (notebook.export_html): it plays and shows everything offline."""
    from vae_audio import notebook

    from helpers import open_page, page_media, screenshot_is_not_blank

    notebooks, _ = executed
    path = notebook.export_html(notebooks[name], tmp_path / name.replace(".ipynb", ".html"))
    page, problems = open_page(browser, path)
    media = page_media(page)
    assert len(media["audio"]) >= (11 if name == "simple_vae.ipynb" else 23)
    for a in media["audio"]:  # every player loads and knows the length of the clip it embeds
        assert a["error"] is None and a["expected"] is not None and a["expected"] > 0.2, a
        assert abs(a["duration"] - a["expected"]) < 0.01, a
        if a["declared"] is not None:  # the comparison rows also state it
            assert abs(a["duration"] - a["declared"]) < 0.01, a
    assert media["images"] and all(i["complete"] and i["width"] > 100 for i in media["images"])
    assert media["external"] == [] and problems == []
    # the quiz's script runs in the exported page: every question answered, the score is shown
    questions = page.locator(".vae-quiz [data-quiz-question]")
    for i in range(questions.count()):
        questions.nth(i).locator("[data-choice='a']").click()
    score = page.locator(".vae-quiz-score")
    assert score.is_visible() and f"/ {questions.count()} right" in score.inner_text()
    assert problems == []
    assert screenshot_is_not_blank(page, tmp_path / "notebook.png") > 20.0
    page.close()
