"""The shared validators of vae_audio.checks: values in their canonical type, one-line messages naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

from vae_audio import checks
from vae_audio.errors import ConfigError, ParameterError


def test_whole_number_returns_an_int_and_names_the_bound():
    assert checks.whole_number(np.int64(3), "n", 1) == 3 and type(checks.whole_number(np.int64(3), "n", 1)) is int
    assert checks.whole_number(7, "n", 1, 7) == 7
    for bad in (0, True, np.bool_(True), 2.0, "3", None):
        with pytest.raises(ParameterError, match=r"^n=.*: expected a whole number >= 1$"):
            checks.whole_number(bad, "n", 1)
    with pytest.raises(ParameterError, match=r"^n=8: expected a whole number from 1 to 7$"):
        checks.whole_number(8, "n", 1, 7)


def test_whole_number_error_class_wording_and_note():
    with pytest.raises(ConfigError, match=r"^sr=5: expected a whole number of Hz from 1000 to 9000 or None$"):
        checks.whole_number(5, "sr", 1000, 9000, error=ConfigError, what="a whole number of Hz", note=" or None")


@pytest.mark.parametrize("kwargs, good, bad, message", [
    ({}, -1e9, float("nan"), r"expected a finite number$"),
    ({"lo": 0}, 0, -0.1, r"expected a finite number >= 0$"),
    ({"lo": 0, "lo_open": True}, 1e-9, 0, r"expected a finite number > 0$"),
    ({"hi": 5}, 5, 5.5, r"expected a finite number <= 5$"),
    ({"lo": 0, "hi": 1, "hi_open": True}, 0.0, 1.0, r"expected a finite number in \[0, 1\)$"),
    ({"lo": 0, "hi": 600, "lo_open": True}, 600, float("inf"), r"expected a finite number in \(0, 600\]$"),
])
def test_number_bounds(kwargs, good, bad, message):
    assert checks.number(good, "x", **kwargs) == float(good)
    assert type(checks.number(np.float32(good), "x", **kwargs)) is float
    with pytest.raises(ParameterError, match=r"^x=.*: " + message):
        checks.number(bad, "x", **kwargs)


def test_number_refuses_bools_and_strings():
    for bad in (True, np.bool_(False), "1", None, [1.0]):
        with pytest.raises(ParameterError, match=r"^t=.*: expected a finite number >= 0$"):
            checks.number(bad, "t", 0)
    with pytest.raises(ConfigError, match=r"^duration=-1: expected a number of seconds in \(0, 600\]$"):
        checks.number(-1, "duration", 0, 600, lo_open=True, error=ConfigError, what="a number of seconds")


def test_seed_and_byte_size():
    assert checks.seed(0) == 0 and checks.seed(None, allow_none=True) is None
    with pytest.raises(ParameterError, match=r"^seed=-1: expected a whole number >= 0$"):
        checks.seed(-1)
    assert checks.byte_size("512MB", "limit") == 512 * 2 ** 20 and checks.byte_size("2 GB", "limit") == 2 * 2 ** 30
    with pytest.raises(ParameterError, match=r"^limit='lots': expected a size"):
        checks.byte_size("lots", "limit")
