"""Progress bars: tqdm on a terminal, one HTML line in a notebook, nothing in a log."""

from __future__ import annotations

import io

import numpy as np
import pytest

from vae_audio import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_shown_when_output_is_not_a_terminal(capsys):
    bar = progress.bar(10, "work")
    bar.update(4)
    bar.close()
    out = capsys.readouterr()
    assert isinstance(bar, progress._NoBar) and bar.n == 4
    assert out.out == "" and out.err == ""


def test_a_terminal_gets_tqdm_with_rate_and_total(monkeypatch):
    from tqdm import tqdm

    term = _Terminal()
    monkeypatch.setattr("sys.stderr", term)
    with progress.bar(16_000, "downloading", unit="B", unit_scale=True, delay=0.0) as bar:
        assert isinstance(bar, tqdm)
        bar.update(8_000)
        bar.refresh()
        shown = term.getvalue()
    assert "downloading" in shown and "8.00k/16.0k" in shown and "B/s" in shown


def test_quiet_and_enabled_false_silence_every_bar(monkeypatch):
    monkeypatch.setattr("sys.stderr", _Terminal())
    with progress.quiet():
        assert isinstance(progress.bar(3, "x"), progress._NoBar)
    assert isinstance(progress.bar(3, "x", enabled=False), progress._NoBar)
    assert not isinstance(progress.bar(3, "x"), progress._NoBar)


def test_notebook_bar_line_counts_eta_and_html():
    bar = progress.NotebookBar(4, "work", unit="clip", width=8)
    bar.n = 2
    bar.note = "half"
    line = bar.line()
    assert line.startswith("work [####....] 2/4 clip") and "ETA" in line and line.endswith("half")
    bar.n = 4
    assert "[########] 4/4" in bar.line() and "ETA" not in bar.line()
    assert "<progress value='4' max='4'" in bar._repr_html_()
    sized = progress.NotebookBar(2_000_000, "download", unit="B", unit_scale=True)
    sized.n = 1_000_000
    assert "1.00MB/2.00MB" in sized.line() and "B/s" in sized.line()


def test_notebook_bar_waits_for_its_delay_then_draws_once_per_interval(monkeypatch, capsys):
    bar = progress.NotebookBar(3, "slow", delay=60.0)
    bar.update(1)
    assert bar._handle is None and capsys.readouterr().out == ""  # not shown before the delay
    quick = progress.NotebookBar(3, "quick", delay=0.0, min_interval=0.0)
    quick.update(3)
    assert capsys.readouterr().out.startswith("quick [")  # outside a kernel display() prints the line


def test_training_progress_follows_fit(monkeypatch, capsys):
    import keras

    from vae_audio import display

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((10, 3), np.float32)
    callback = display.training_progress(3, title="fit")
    model.fit(x, np.ones((10, 1), np.float32), batch_size=5, epochs=3, verbose=0, callbacks=[callback])
    assert isinstance(callback.bar, progress.NotebookBar)
    assert (callback.bar.n, callback.bar.total) == (6, 6)
    assert callback.bar.note.startswith("epoch 3/3  loss ")
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("fit [")
    with pytest.raises(display.ParameterError):
        display.training_progress(0)


def test_featurizing_and_phase_reconstruction_show_bars_where_someone_watches(monkeypatch, capsys):
    """In a notebook the long loops draw a bar that ends at its total; in a log they print nothing extra."""
    from vae_audio import datasets
    from vae_audio.data.featurize import build_features
    from vae_audio.dsp.features import SpectrogramConfig
    from vae_audio.dsp.phase import griffin_lim

    made: list[progress.NotebookBar] = []
    real = progress.NotebookBar

    def record(*args, **kwargs):
        made.append(real(*args, **{**kwargs, "delay": 0.0, "min_interval": 0.0}))
        return made[-1]

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "NotebookBar", record)
    ds = datasets.load_dataset("synth", max_clips=40, config=SpectrogramConfig(sr=8000, n_fft=256, hop_length=128,
                                                                               n_samples=2000))
    build_features(ds, cache_dir=None, workers=1)
    cfg = ds.config
    griffin_lim(np.ones((5, cfg.n_freq, cfg.n_frames), np.float32), config=cfg, n_iter=1, batch_size=2)
    griffin_lim(np.ones((2, cfg.n_freq, cfg.n_frames), np.float32), config=cfg, n_iter=1)  # one chunk: no bar
    assert [(b.desc, b.n, b.total) for b in made] == [("featurizing synth", 40, 40), ("phase reconstruction", 5, 5)]
    assert "featurizing synth [" in capsys.readouterr().out
