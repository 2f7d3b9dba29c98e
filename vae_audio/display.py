"""Notebook helpers: inline audio players, spectrogram plots, side-by-side and blind A/B comparisons.

These only draw and play; they compute nothing the package does not already offer. Plots use
matplotlib and return the figure so a notebook shows it; players are IPython ``Audio`` objects.
Waveforms are ``(n_samples,)`` float arrays at ``sr`` Hz; spectrograms ``(freq, frames)`` in dB.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .errors import ParameterError
from .features import SpectrogramConfig

__all__ = ["player", "players", "plot_spectrogram", "plot_spectrograms", "show", "compare", "plot_history",
           "plot_latent", "BlindTest", "blind_test", "show_table", "Progress", "training_progress"]


def player(y: np.ndarray, sr: int, *, normalize: bool = False):
    """An inline audio player for one waveform (``IPython.display.Audio``).

    ``normalize=False`` keeps the true level, so quiet and loud clips can be compared by ear.
    """
    from IPython.display import Audio

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"y: expected a mono waveform (n_samples,), got shape {y.shape}")
    y = np.nan_to_num(y)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if not normalize and peak > 1.0:
        y = y / peak
    return Audio(y, rate=int(sr), normalize=normalize)


def players(clips: Mapping[str, np.ndarray], sr: int):
    """Several labelled players in one HTML block: ``{"ground truth": y1, "generated": y2}``."""
    from IPython.display import HTML

    rows = []
    for name, y in clips.items():
        html = player(y, sr)._repr_html_()
        rows.append(f"<tr><td style='padding-right:1em'><b>{name}</b></td><td>{html}</td></tr>")
    return HTML("<table>" + "".join(rows) + "</table>")


def plot_spectrogram(s_db: np.ndarray, config: SpectrogramConfig, *, title: str = "", ax=None,
                     vmin: float | None = None, vmax: float | None = None, colorbar: bool = True,
                     figsize: tuple[float, float] = (6, 3)):
    """Plot a dB spectrogram ``(freq, frames)`` with time (s) and frequency (Hz) axes and a dB colour bar.

    Draws into ``ax`` if given, else into a new figure of ``figsize`` inches; returns the figure.
    """
    import librosa.display
    import matplotlib.pyplot as plt

    s_db = np.asarray(s_db)
    if s_db.ndim == 3 and s_db.shape[-1] == 1:
        s_db = s_db[..., 0]
    if s_db.ndim != 2:
        raise ParameterError(f"s_db: expected a spectrogram (freq, frames), got shape {s_db.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    y_axis = "mel" if config.n_mels else "linear"
    img = librosa.display.specshow(s_db, sr=config.sr, hop_length=config.hop_length, n_fft=config.n_fft,
                                   x_axis="time", y_axis=y_axis, ax=ax, vmin=vmin, vmax=vmax, cmap="magma")
    ax.set_title(title)
    if colorbar:
        fig.colorbar(img, ax=ax, format="%+.0f dB")
    return fig


def plot_spectrograms(spectrograms: Mapping[str, np.ndarray], config: SpectrogramConfig, *, ncols: int = 3):
    """Plot several dB spectrograms on one shared colour scale, titled by their keys."""
    import matplotlib.pyplot as plt

    items = list(spectrograms.items())
    if not items:
        raise ParameterError("spectrograms: nothing to plot")
    ncols = min(ncols, len(items))
    nrows = int(np.ceil(len(items) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 0.8, 2.6 * nrows), squeeze=False,
                             layout="constrained")
    vmax = max(float(np.max(s)) for _, s in items)
    vmin = max(min(float(np.min(s)) for _, s in items), vmax - 90.0)
    for k, (ax, (name, s)) in enumerate(zip(axes.flat, items)):
        plot_spectrogram(s, config, title=name, ax=ax, vmin=vmin, vmax=vmax, colorbar=False)
        if k % ncols:
            ax.set_ylabel("")
        if k < len(items) - ncols:
            ax.set_xlabel("")
    for ax in list(axes.flat)[len(items):]:
        ax.axis("off")
    fig.colorbar(axes.flat[0].collections[0], ax=axes, format="%+.0f dB", shrink=0.8)
    return fig


def show(fig) -> None:
    """Show a figure now and close it, so that it appears once and in order with other outputs.

    (A notebook's inline backend otherwise draws every open figure at the end of the cell,
    after any players displayed in it.)
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def compare(clips: Mapping[str, np.ndarray], config: SpectrogramConfig, *, ncols: int | None = None) -> None:
    """Side by side: the spectrogram of each waveform (one figure, shared colour scale), then a player each.

    Both are shown at once, in that order; ``ncols`` spectrograms per row (default: all in one
    row, at most 4).
    """
    from IPython.display import display

    if not clips:
        raise ParameterError("clips: nothing to compare")
    specs = {name: config.spectrogram_db(np.asarray(y, dtype=np.float32)) for name, y in clips.items()}
    show(plot_spectrograms(specs, config, ncols=ncols or min(len(specs), 4)))
    display(players(clips, config.sr))


def plot_history(history: Mapping[str, Sequence[float]], *, keys: Sequence[str] | None = None):
    """Loss curves per epoch from a training history (``history.json`` or ``TrainResult.history``)."""
    import matplotlib.pyplot as plt

    keys = keys or [k for k in ("loss", "reconstruction_loss", "kl_loss") if k in history]
    if not keys:
        raise ParameterError(f"history: none of the loss keys found (have {sorted(history)})")
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_latent(z: np.ndarray, labels: np.ndarray | None = None, label_names: Sequence[str] | None = None,
                *, title: str = "latent space (first two principal components)"):
    """Scatter latent means ``(n, latent_dim)`` projected to 2-D by PCA, coloured by label.

    A grid model's codes ``(n, F', T', C)`` are averaged over their time axis first, giving one
    ``F' * C`` vector per clip (what the clip holds, wherever in the window it happens).
    """
    import matplotlib.pyplot as plt

    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 4 and z.shape[0] >= 2:
        z = z.mean(axis=2).reshape(len(z), -1)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ParameterError(f"z: expected latent vectors (n >= 2, latent_dim) or grid codes (n, F', T', C), "
                             f"got shape {z.shape}")
    centred = z - z.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centred[:, 0], np.zeros(len(z))]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=8)
    else:
        labels = np.asarray(labels)
        for k in np.unique(labels):
            name = label_names[k] if label_names is not None and 0 <= k < len(label_names) else str(k)
            m = labels == k
            ax.scatter(xy[m, 0], xy[m, 1], s=8, label=name)
        ax.legend(markerscale=2, fontsize="small", ncols=2)
    ax.set_title(title)
    return fig


@dataclass
class BlindTest:
    """A shuffled pair of clips for a listening test; :meth:`answer` reveals which was which."""

    a: np.ndarray
    b: np.ndarray
    sr: int
    a_is: str
    b_is: str

    def play(self):
        """Players labelled only "A" and "B"."""
        return players({"A": self.a, "B": self.b}, self.sr)

    def answer(self) -> str:
        return f"A was the {self.a_is}, B was the {self.b_is}."


def blind_test(first: np.ndarray, second: np.ndarray, sr: int, *, names: tuple[str, str] = ("ground truth", "generated"),
               seed: int | None = None) -> BlindTest:
    """Shuffle two clips into "A" and "B" (order decided by ``seed``; ``None`` = random each time)."""
    swap = bool(np.random.default_rng(seed).integers(2))
    if swap:
        return BlindTest(a=second, b=first, sr=sr, a_is=names[1], b_is=names[0])
    return BlindTest(a=first, b=second, sr=sr, a_is=names[0], b_is=names[1])


def show_table(rows: Sequence[Mapping[str, object]], *, floatfmt: str = "{:.2f}"):
    """Render a list of dicts as an HTML table (metrics tables in notebooks)."""
    from IPython.display import HTML

    if not rows:
        raise ParameterError("rows: empty table")
    cols = list(rows[0])
    def fmt(v: object) -> str:
        return floatfmt.format(v) if isinstance(v, float) else str(v)
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


class Progress:
    """A progress bar drawn in a notebook output and updated in place (text and HTML).

    ``update(done, note)`` redraws it at most every ``min_interval`` seconds (always when
    ``done == total``), so a saved notebook keeps a single line, not one per step. Outside a
    notebook it prints the line instead (once per ``min_interval``).
    """

    def __init__(self, total: int, *, title: str = "", width: int = 30, min_interval: float = 0.5):
        if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
            raise ParameterError(f"total={total!r}: expected a whole number >= 1")
        self.total, self.title, self.width, self.min_interval = int(total), title, int(width), float(min_interval)
        self.done, self.note = 0, ""
        self.t0 = time.perf_counter()
        self._last = -np.inf
        self._handle = None
        try:
            from IPython import get_ipython
            from IPython.display import display

            if get_ipython() is not None and hasattr(get_ipython(), "kernel"):
                self._handle = display(self, display_id=True)
        except ImportError:  # pragma: no cover - IPython is a dependency
            pass

    def _line(self) -> str:
        filled = int(round(self.width * self.done / self.total))
        bar = "#" * filled + "." * (self.width - filled)
        head = f"{self.title} " if self.title else ""
        tail = f"  {self.note}" if self.note else ""
        return f"{head}[{bar}] {self.done}/{self.total}  {time.perf_counter() - self.t0:.0f} s{tail}"

    def __repr__(self) -> str:
        return self._line()

    def _repr_html_(self) -> str:
        head = f"<b>{html.escape(self.title)}</b> " if self.title else ""
        note = f" &nbsp; {html.escape(self.note)}" if self.note else ""
        return (f"<div>{head}<progress value='{self.done}' max='{self.total}' style='width:16em'></progress> "
                f"<code>{self.done}/{self.total} &nbsp; {time.perf_counter() - self.t0:.0f} s{note}</code></div>")

    def update(self, done: int, note: str = "") -> None:
        """Set the progress to ``done`` of ``total`` with an optional note (losses, ...)."""
        self.done, self.note = min(max(int(done), 0), self.total), note
        now = time.perf_counter()
        if now - self._last < self.min_interval and self.done < self.total:
            return
        self._last = now
        if self._handle is not None:
            self._handle.update(self)
        else:
            print(self._line(), flush=True)


def training_progress(epochs: int, *, title: str = "training", keys: Sequence[str] = ("loss", "val_loss")):
    """A Keras callback showing a :class:`Progress` bar over all training steps, with the losses.

    Pass it to ``model.fit(..., epochs=epochs, verbose=0, callbacks=[training_progress(epochs)])``:
    the bar advances every batch and its note shows the epoch and the last epoch's ``keys``.
    """
    import keras

    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ParameterError(f"epochs={epochs!r}: expected a whole number >= 1")

    class TrainingProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bar: Progress | None = None
            self.steps = 1
            self.epoch = 0
            self.last = ""

        def on_train_begin(self, logs=None):
            self.steps = int(self.params.get("steps") or 1)
            self.bar = Progress(int(epochs) * self.steps, title=title)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def _note(self) -> str:
            return f"epoch {self.epoch + 1}/{epochs}" + (f"  {self.last}" if self.last else "")

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(self.epoch * self.steps + batch + 1, self._note())

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.last = "  ".join(f"{k} {float(logs[k]):.4g}" for k in keys if k in logs)
            self.bar.update((epoch + 1) * self.steps, self._note())

    return TrainingProgress()
