"""Levels per label (vae_audio.evaluation.levels): the median peak and active RMS of a label's real clips
against the phase ceiling, the reconstructions and the samples."""

from __future__ import annotations

import numpy as np
import pytest

from vae_audio.evaluation.levels import ROWS, TOLERANCE_DB, headline, level_section

from helpers import sine

SR = 8000


def _clips(*amplitudes: float) -> np.ndarray:
    return np.stack([sine(440.0, SR, 0.5, amplitude=a) for a in amplitudes])


def test_a_quiet_label_played_loud_is_a_gap_and_a_kept_label_is_not():
    real = _clips(0.5, 0.5, 0.5, 0.05, 0.05, 0.05)
    labels = np.array([0, 0, 0, 1, 1, 1])
    samples = _clips(0.5 * 10 ** (-1 / 20), 0.05 * 10 ** (6 / 20))  # loud: -1 dB; quiet: 6 dB too loud
    section = level_section(real=real, real_labels=labels, test=real[[0, 3]], test_labels=np.array([0, 1]),
                            reconstructions=real[[0, 3]], ceiling=real[[0, 3]] * 0.5, samples=samples,
                            sample_labels=np.array([0, 1]), sr=SR, label_names=["loud", "quiet"])
    loud, quiet = section["per_label"]["loud"], section["per_label"]["quiet"]
    assert set(loud) == {"real", "test", *ROWS} and loud["test"]["n"] == 1
    assert loud["real"]["n"] == 3 and loud["real"]["peak_db"] == pytest.approx(-6.02, abs=0.01)
    assert quiet["real"]["peak_db"] == pytest.approx(-26.02, abs=0.01)
    assert loud["samples"]["peak_gap_db"] == pytest.approx(-1.0, abs=0.01)
    assert quiet["samples"]["peak_gap_db"] == pytest.approx(6.0, abs=0.01)
    assert quiet["samples"]["rms_gap_db"] == pytest.approx(6.0, abs=0.05)
    assert loud["ceiling"]["peak_gap_db"] == pytest.approx(-6.02, abs=0.01)  # half the amplitude
    assert section["reconstruction"]["peak"] == {"median_abs_gap_db": 0.0, "labels_within": 2, "labels": 2}
    assert section["ceiling"]["rms"]["labels_within"] == 0
    assert section["samples"]["peak"]["labels_within"] == 1
    assert section["samples"]["peak"]["median_abs_gap_db"] == pytest.approx(3.5, abs=0.01)
    summary = headline(section)
    assert summary["samples_peak_labels_within"] == 0.5 and summary["reconstruction_rms_labels_within"] == 1.0
    assert summary["ceiling_peak_level_gap_db"] == pytest.approx(6.02, abs=0.01)
    assert TOLERANCE_DB == 3.0


def test_reconstructions_are_paired_with_their_own_test_clips():
    """A label whose test clip is quieter than the label's median: reconstructing that clip at its own level is
    no gap; the samples are compared with the label as a whole."""
    real = _clips(0.5, 0.5, 0.5, 0.1)
    labels = np.zeros(4, dtype=int)
    section = level_section(real=real, real_labels=labels, test=real[3:], test_labels=labels[3:],
                            reconstructions=real[3:], ceiling=real[3:], samples=real[3:], sample_labels=labels[3:],
                            sr=SR, label_names=["a"])
    entry = section["per_label"]["a"]
    assert entry["reconstruction"]["peak_gap_db"] == pytest.approx(0.0, abs=1e-9)
    assert entry["test"]["peak_db"] - entry["real"]["peak_db"] == pytest.approx(-13.98, abs=0.01)
    assert entry["samples"]["peak_gap_db"] == pytest.approx(-13.98, abs=0.01)


def test_a_label_without_samples_has_no_gap_and_an_unlabelled_model_is_one_group():
    real = _clips(0.5, 0.05)
    section = level_section(real=real, real_labels=np.array([0, 1]), test=real, test_labels=np.array([0, 1]),
                            reconstructions=real, ceiling=real, samples=_clips(0.5), sample_labels=np.array([0]),
                            sr=SR, label_names=["a", "b"])
    assert section["per_label"]["b"]["samples"] is None and section["samples"]["peak"]["labels"] == 1
    one = level_section(real=real, real_labels=None, test=real, test_labels=None, reconstructions=real * 2,
                        ceiling=real, samples=None, sample_labels=None, sr=SR, label_names=None)
    assert list(one["per_label"]) == ["all"] and one["samples"] is None
    assert one["per_label"]["all"]["reconstruction"]["peak_gap_db"] == pytest.approx(20 * np.log10(2), abs=0.01)
    assert headline(one)["samples_peak_level_gap_db"] is None and headline(None)["ceiling_rms_labels_within"] is None
