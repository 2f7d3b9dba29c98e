"""Progress of long stages: a bar on a terminal (tqdm) or in a notebook, nothing in a log.

:func:`bar` is what every long loop of the package calls (featurizing, phase reconstruction of
many clips, evaluation, the download). What it shows depends on where the output goes:

- a terminal (``sys.stderr`` is a TTY): a ``tqdm`` bar with count, rate and ETA, erased when the
  stage ends;
- a notebook (an IPython kernel): one HTML line updated in place (:class:`NotebookBar`), so a
  saved notebook keeps a single line per stage and needs no widget JavaScript (tqdm's notebook
  bar is an ipywidget: exported to HTML it loads its renderer from a CDN, and GitHub does not
  draw it);
- anything else (a log file, a pipe, a test): nothing; the stage's own one-line message is the
  record (e.g. ``featurized 2400 clips ... in 12 s``).

A bar appears only after ``delay`` seconds (default 1 s), so quick stages stay quiet.
:func:`quiet` silences every bar in its ``with`` block (``vae-audio evaluate --quiet``).
"""

from __future__ import annotations

import contextlib
import contextvars
import html
import sys
import time
from typing import Iterator

__all__ = ["bar", "quiet", "NotebookBar", "in_notebook"]

_QUIET = contextvars.ContextVar("vae_audio_progress_quiet", default=False)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No progress bars inside this block (one-line stage messages are the callers' business)."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where output is HTML, not a terminal)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _size(value: float, unit: str, scale: bool) -> str:
    if not scale:
        return f"{value:.0f}"
    from tqdm import tqdm

    return tqdm.format_sizeof(value, suffix=unit, divisor=1000)


class NotebookBar:
    """A progress line in a notebook output, redrawn in place: ``[####....] 120/300 clips  3 s  ETA 5 s``.

    Same calls as a ``tqdm`` bar (``update(n)``, ``set_postfix_str(note)``, ``close()``, a context
    manager). It is displayed once ``delay`` seconds have passed and redrawn at most every
    ``min_interval`` seconds (always on the last step), so the saved notebook keeps one line.
    """

    def __init__(self, total: int | None, desc: str = "", *, unit: str = "it", unit_scale: bool = False,
                 delay: float = 0.0, min_interval: float = 0.5, width: int = 30):
        self.total = int(total) if total else None
        self.desc, self.unit, self.unit_scale, self.width = desc, unit, bool(unit_scale), int(width)
        self.delay, self.min_interval = float(delay), float(min_interval)
        self.n, self.note = 0, ""
        self.t0 = time.perf_counter()
        self._last = -float("inf")
        self._handle = None

    def _counts(self) -> str:
        counts = _size(self.n, self.unit, self.unit_scale)
        if self.total is not None:
            counts += "/" + _size(self.total, self.unit, self.unit_scale)
        return counts if self.unit_scale else f"{counts} {self.unit}"

    def _timing(self) -> str:
        elapsed = time.perf_counter() - self.t0
        text = f"{elapsed:.0f} s"
        if self.unit_scale and elapsed > 0:
            text += f"  {_size(self.n / elapsed, self.unit, True)}/s"
        if self.total and 0 < self.n < self.total:
            text += f"  ETA {elapsed * (self.total - self.n) / self.n:.0f} s"
        return text

    def line(self) -> str:
        """The bar as one line of text."""
        head = f"{self.desc} " if self.desc else ""
        tail = f"  {self.note}" if self.note else ""
        if self.total:
            filled = int(round(self.width * min(self.n, self.total) / self.total))
            head += "[" + "#" * filled + "." * (self.width - filled) + "] "
        return f"{head}{self._counts()}  {self._timing()}{tail}"

    def __repr__(self) -> str:
        return self.line()

    def _repr_html_(self) -> str:
        head = f"<b>{html.escape(self.desc)}</b> " if self.desc else ""
        meter = (f"<progress value='{min(self.n, self.total)}' max='{self.total}' style='width:16em'></progress> "
                 if self.total else "")
        note = f" &nbsp; {html.escape(self.note)}" if self.note else ""
        return (f"<div>{head}{meter}<code>{html.escape(self._counts())} &nbsp; {html.escape(self._timing())}"
                f"{note}</code></div>")

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if now - self.t0 < self.delay and not (force and self._handle is not None):
            return
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        from IPython.display import display

        if self._handle is None:
            self._handle = display(self, display_id=True)
        else:
            self._handle.update(self)

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps (clips, bytes, ...)."""
        self.n += int(n)
        self._draw(force=self.total is not None and self.n >= self.total)

    def set_postfix_str(self, note: str = "", refresh: bool = True) -> None:
        """A note after the counts (losses, the current stage)."""
        self.note = str(note)
        if refresh:
            self._draw()

    def close(self) -> None:
        self._draw(force=True)

    def __enter__(self) -> "NotebookBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _NoBar:
    """What :func:`bar` returns when nothing is shown: accepts the same calls and does nothing."""

    n = 0

    def update(self, n: int = 1) -> None:
        self.n += int(n)

    def set_postfix_str(self, note: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc) -> None:
        pass


def bar(total: int | None, desc: str, *, unit: str = "clip", unit_scale: bool = False, delay: float = 1.0,
        enabled: bool = True):
    """A progress bar for a stage of ``total`` steps (``None``: unknown), shown where a person watches.

    Returns a ``tqdm`` bar on a terminal, a :class:`NotebookBar` in a notebook, otherwise an
    object that accepts the same calls and shows nothing (see the module docstring). ``unit="B"``
    with ``unit_scale=True`` shows bytes as kB/MB with the transfer rate. ``enabled=False`` (or a
    :func:`quiet` block) shows nothing anywhere.
    """
    if not enabled or _QUIET.get():
        return _NoBar()
    if in_notebook():
        return NotebookBar(total, desc, unit=unit, unit_scale=unit_scale, delay=delay)
    stream = sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit_scale, unit_divisor=1000, delay=delay,
                    leave=False, file=stream, dynamic_ncols=True)
    return _NoBar()
