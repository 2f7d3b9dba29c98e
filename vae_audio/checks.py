"""Shared validators for the public entry points: one check, one message, everywhere.

Each returns the value in its canonical type or raises :class:`~vae_audio.errors.ParameterError`
naming the argument (``name=value: expected ...``). Inner functions trust their callers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = ["whole_number", "seed", "number", "byte_size"]

_NUMBER_TYPES = (int, float, np.integer, np.floating)


def whole_number(value: Any, name: str, lo: int = 0, hi: int | None = None, *,
                 error: type[Exception] = ParameterError, what: str = "a whole number", note: str = "") -> int:
    """``value`` as an ``int`` in ``[lo, hi]`` (a Python or NumPy integer, not a bool).

    The message is ``"{name}={value!r}: expected {what} >= lo{note}"`` (or ``from lo to hi``);
    ``error`` is the class raised (:class:`~vae_audio.errors.ConfigError` for settings), ``note``
    e.g. ``" or None"`` when the caller also accepts None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < lo \
            or (hi is not None and value > hi):
        expected = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise error(f"{name}={value!r}: expected {what} {expected}{note}")
    return int(value)


def seed(value: Any, *, allow_none: bool = False) -> int | None:
    """A random seed: a whole number >= 0 (or ``None`` when ``allow_none``)."""
    if value is None and allow_none:
        return None
    return whole_number(value, "seed", 0)


def number(value: Any, name: str, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False, error: type[Exception] = ParameterError, what: str = "a finite number",
           note: str = "") -> float:
    """``value`` as a finite ``float`` (an int or float, not a bool) within ``lo`` and ``hi`` (each
    bound included unless ``lo_open`` / ``hi_open``; None: no bound). ``error``, ``what``, ``note``:
    as :func:`whole_number`; the message says the range: ``>= 0``, ``> 0``, ``in (0, 1)``, ..."""
    ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, _NUMBER_TYPES) and bool(np.isfinite(value))
    if ok and lo is not None:
        ok = value > lo if lo_open else value >= lo
    if ok and hi is not None:
        ok = value < hi if hi_open else value <= hi
    if not ok:
        if lo is not None and hi is not None:
            expected = f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        elif lo is not None:
            expected = f" {'>' if lo_open else '>='} {lo:g}"
        elif hi is not None:
            expected = f" {'<' if hi_open else '<='} {hi:g}"
        else:
            expected = ""
        raise error(f"{name}={value!r}: expected {what}{expected}{note}")
    return float(value)


_UNITS = {"": 1, "b": 1, "kb": 2**10, "k": 2**10, "mb": 2**20, "m": 2**20, "gb": 2**30, "g": 2**30,
          "tb": 2**40, "t": 2**40}


def byte_size(value: Any, name: str) -> int:
    """A size in bytes: a whole number, or a string such as ``"512MB"`` / ``"2 GB"`` (binary units)."""
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        number = text.rstrip("kmgtb")
        unit = text[len(number):]
        try:
            size = float(number) * _UNITS[unit]
        except (ValueError, KeyError):
            raise ParameterError(f"{name}={value!r}: expected a size such as 512MB, 2GB or a number of bytes") from None
        if not np.isfinite(size) or size < 1:
            raise ParameterError(f"{name}={value!r}: expected a size of at least 1 byte")
        return int(size)
    return whole_number(value, name, 1)
