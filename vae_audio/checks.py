"""Shared validators for the public entry points: one check, one message, everywhere.

Each returns the value in its canonical type or raises :class:`~vae_audio.errors.ParameterError`
naming the argument (``name=value: expected ...``). Inner functions trust their callers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = ["whole_number", "seed", "non_negative_number", "byte_size"]


def whole_number(value: Any, name: str, lo: int = 0, hi: int | None = None) -> int:
    """``value`` as an ``int`` in ``[lo, hi]`` (a Python or NumPy integer, not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < lo \
            or (hi is not None and value > hi):
        expected = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
        raise ParameterError(f"{name}={value!r}: expected a whole number {expected}")
    return int(value)


def seed(value: Any, *, allow_none: bool = False) -> int | None:
    """A random seed: a whole number >= 0 (or ``None`` when ``allow_none``)."""
    if value is None and allow_none:
        return None
    return whole_number(value, "seed", 0)


def non_negative_number(value: Any, name: str) -> float:
    """``value`` as a finite ``float`` >= 0 (an int or float, not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(value) or value < 0:
        raise ParameterError(f"{name}={value!r}: expected a finite number >= 0")
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
