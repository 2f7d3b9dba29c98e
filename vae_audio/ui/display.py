"""Notebook helpers: inline audio players, spectrogram plots, side-by-side comparisons.

These only draw and play; they compute nothing the package does not already offer. Plots use
matplotlib and return the figure so a notebook shows it; players are IPython ``Audio`` objects.
Waveforms are ``(n_samples,)`` float arrays at ``sr`` Hz; spectrograms ``(freq, frames)`` in dB.
"""

from __future__ import annotations

import html
from typing import Mapping, Sequence

import numpy as np

from .. import checks
from ..dsp.features import SpectrogramConfig
from ..errors import ParameterError

__all__ = ["player", "players", "plot_spectrogram", "plot_spectrograms", "show", "compare", "comparison_html",
           "audio_html", "image_html", "figure_png", "wav_bytes", "plot_history",
           "plot_latent", "show_table", "training_progress"]


def player(y: np.ndarray, sr: int, *, normalize: bool = False):
    """An inline audio player for one waveform (``IPython.display.Audio``).

    ``normalize=False`` keeps the true level, so quiet and loud clips can be compared by ear.
    """
    from IPython.display import Audio

    return Audio(_mono(y, true_level=not normalize), rate=int(sr), normalize=normalize)


def _mono(y: np.ndarray, *, true_level: bool = True) -> np.ndarray:
    """A mono waveform ``(n_samples,)`` as float32 with NaN/inf as finite numbers; with ``true_level``
    a clip louder than full scale is scaled down to its peak (quieter ones keep their level)."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float32))
    if y.ndim != 1:
        raise ParameterError(f"y: expected a mono waveform (n_samples,), got shape {y.shape}")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return y / peak if true_level and peak > 1.0 else y


def players(clips: Mapping[str, np.ndarray], sr: int):
    """Several labelled players in one HTML block: ``{"ground truth": y1, "generated": y2}``."""
    from IPython.display import HTML

    rows = []
    for name, y in clips.items():
        audio = player(y, sr)._repr_html_()
        rows.append(f"<tr><td style='padding-right:1em'><b>{name}</b></td><td>{audio}</td></tr>")
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
    fig, ax = plt.subplots(figsize=figsize) if ax is None else (ax.figure, ax)
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
    vmin, vmax = _shared_scale([s for _, s in items])
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


def _shared_scale(spectrograms) -> tuple[float, float]:
    """``(vmin, vmax)`` in dB: one colour scale for several spectrograms, at most 90 dB deep."""
    vmax = max(float(np.max(s)) for s in spectrograms)
    return max(min(float(np.min(s)) for s in spectrograms), vmax - 90.0), vmax


def show(fig) -> None:
    """Show a figure now and close it, so that it appears once and in order with other outputs.

    (A notebook's inline backend otherwise draws every open figure at the end of the cell,
    after any players displayed in it.)
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """A mono waveform ``(n_samples,)`` as the bytes of a 16-bit PCM WAV file at ``sr`` Hz.

    The true level is kept (a clip louder than full scale is scaled down to its peak), so quiet
    and loud clips can be compared by ear, as with :func:`player`.
    """
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, _mono(y), int(sr), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _data_uri(mime: str, data: bytes) -> str:
    import base64

    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def audio_html(y: np.ndarray, sr: int) -> str:
    """An ``<audio>`` player with the clip embedded (16-bit WAV data URI): works offline, from ``file://``."""
    return (f"<audio controls preload='metadata' data-seconds='{len(y) / sr:.4f}' "
            f"src='{_data_uri('audio/wav', wav_bytes(y, sr))}'></audio>")


def figure_png(fig, *, dpi: int = 80) -> bytes:
    """A matplotlib figure as PNG bytes (the figure is closed)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def image_html(png: bytes, alt: str) -> str:
    """An ``<img>`` with the PNG embedded (data URI)."""
    return f"<img alt='{html.escape(alt, quote=True)}' src='{_data_uri('image/png', png)}'>"


def comparison_html(clips: Mapping[str, np.ndarray], config: SpectrogramConfig, *, title: str = "",
                    spectrograms: bool = True) -> str:
    """One row of clips side by side as self-contained HTML: per clip its name, spectrogram and player.

    ``clips`` maps a name to a waveform ``(n_samples,)`` at ``config.sr``. The spectrograms
    (``config``'s dB, on one colour scale shared by the row, at most 90 dB deep) and the audio
    are embedded, so the row plays from a saved notebook, an exported HTML page or
    ``report.html`` alike: the notebooks (:func:`compare`) and the run report
    (:mod:`vae_audio.evaluation.report`) both draw their comparisons with this function.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not clips:
        raise ParameterError("clips: nothing to compare")
    waves = {name: np.asarray(y, dtype=np.float32) for name, y in clips.items()}
    cells = []
    if spectrograms:
        specs = {name: config.spectrogram_db(y) for name, y in waves.items()}
        vmin, vmax = _shared_scale(specs.values())
    for name, y in waves.items():
        image = ""
        if spectrograms:
            seconds = len(y) / config.sr
            fig, ax = plt.subplots(figsize=(min(3.2 * max(seconds, 1.0), 12.0), 2.2), layout="constrained")
            plot_spectrogram(specs[name], config, ax=ax, vmin=vmin, vmax=vmax, colorbar=False)
            ax.xaxis.set_major_locator(MaxNLocator(5))  # a small plot: few time ticks
            ax.set_xlabel("")
            ax.set_ylabel("")
            image = image_html(figure_png(fig), f"spectrogram of {name}")
        cells.append(f"<figure class='clip'>{image}<figcaption>{html.escape(name)}</figcaption>"
                     f"{audio_html(y, config.sr)}</figure>")
    head = f"<h4>{html.escape(title)}</h4>" if title else ""
    return (f"<div class='comparison'>{head}<div style='display:flex;flex-wrap:wrap;gap:0.8em'>"
            + "".join(cells) + "</div></div>")


def compare(clips: Mapping[str, np.ndarray], config: SpectrogramConfig, *, title: str = "") -> None:
    """Show clips side by side (:func:`comparison_html`): name, spectrogram on a shared colour scale, player."""
    from IPython.display import HTML, display

    display(HTML(comparison_html(clips, config, title=title)))


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


def training_progress(epochs: int, *, title: str = "training", keys: Sequence[str] = ("loss", "val_loss")):
    """A Keras callback showing a progress bar over all training steps, with the losses.

    Pass it to ``model.fit(..., epochs=epochs, verbose=0, callbacks=[training_progress(epochs)])``:
    the bar (:func:`vae_audio.progress.bar`: one line in a notebook, tqdm on a terminal) advances
    every batch and its note shows the epoch and the last epoch's ``keys``.
    """
    import keras

    from .. import progress

    checks.whole_number(epochs, "epochs", 1)

    class TrainingProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.bar = None
            self.epoch = 0
            self.last = ""

        def on_train_begin(self, logs=None):
            steps = int(self.params.get("steps") or 1)
            self.bar = progress.bar(int(epochs) * steps, title, unit="step", delay=0.0)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self.bar.set_postfix_str(self._note(), refresh=False)

        def _note(self) -> str:
            return f"epoch {self.epoch + 1}/{epochs}" + (f"  {self.last}" if self.last else "")

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.last = "  ".join(f"{k} {float(logs[k]):.4g}" for k in keys if k in logs)
            self.bar.set_postfix_str(self._note())

        def on_train_end(self, logs=None):
            self.bar.close()

    return TrainingProgress()
