"""Levels per label: is a quiet label still quiet in the model's reconstructions and samples?

A musician's folder keeps relative levels (a hi-hat far below a stomp); the recipe's ``level="folder"``
keeps them in the features, and the model should give them back. Measured on the audio as rendered, in
the recipe's domain (the real clips after the recipe's level step, the model's output as it comes):

- each clip's peak (``20 log10 max |y|``, dBFS) and active RMS (the mean square of the frames within 40 dB
  of the loudest, dBFS; :func:`vae_audio.data.inspection.clip_levels`);
- per label, the median of each over the real clips of the label (every split), and over its test clips,
  their reconstructions, the same test clips through the phase step alone (the ceiling: true magnitude, the
  model's phase reconstruction) and the samples drawn for the label;
- the *gap*, dB: for the ceiling and the reconstructions the median over the label's test clips of each
  clip's level minus its original's (paired: a test clip quieter than its label is no error); for the
  samples, their median minus the real clips' median (the label's level as a whole);
- in all: the median absolute gap over labels, and how many labels are within :data:`TOLERANCE_DB`
  (3 dB), of the peak and of the active RMS.

The ceiling row is the calibration: a phase reconstruction does not keep a transient's phases aligned, so
it lowers a sharp hit's peak while its RMS stays; a model whose peak gap is the ceiling's has lost no
level of its own.

An unconditional model's samples are compared with every real clip as one group (``"all"``).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["TOLERANCE_DB", "ROWS", "level_section", "headline"]

#: a label's median peak counts as kept when the model's is within this many dB of the real clips'
TOLERANCE_DB = 3.0


def _levels(audio: np.ndarray, sr: int) -> np.ndarray:
    """``(n, 2)`` peak and active RMS in dBFS of each clip of ``audio (n, samples)``."""
    from ..data.inspection import clip_levels

    out = np.empty((len(audio), 2))
    for i, y in enumerate(audio):
        lv = clip_levels(y, sr)
        out[i] = lv["peak_db"], lv["rms_db"]
    return out


def _group(levels: np.ndarray) -> dict[str, Any] | None:
    if len(levels) == 0:
        return None
    return {"n": int(len(levels)), "peak_db": float(np.median(levels[:, 0])), "rms_db": float(np.median(levels[:, 1]))}


#: the rows compared with the real clips, in order
ROWS = ("ceiling", "reconstruction", "samples")


def level_section(*, real: np.ndarray, real_labels: np.ndarray | None, test: np.ndarray,
                  test_labels: np.ndarray | None, reconstructions: np.ndarray, ceiling: np.ndarray,
                  samples: np.ndarray | None, sample_labels: np.ndarray | None, sr: int,
                  label_names: Sequence[str] | None) -> dict[str, Any]:
    """The ``levels`` section of ``vae-audio evaluate``'s results.

    ``real (n, samples)`` with ``real_labels (n,)``: every real clip of the data (after the recipe);
    ``test (m, samples)`` with ``test_labels``: the test clips, ``reconstructions`` and ``ceiling`` ``(m,
    samples)`` the same clips as the model renders them and through the phase step alone; ``samples (k,
    samples)`` with ``sample_labels``: the samples (``None``: not made). Labels are ``None`` for an
    unlabelled model: one group ``"all"``. ``sr`` in Hz.

    Returns ``{"tolerance_db", "per_label": {name: {"real", "test", "ceiling", "reconstruction", "samples"}},
    "ceiling": {...}, "reconstruction": {...}, "samples": {...}}``. Per label each row is ``{"n", "peak_db",
    "rms_db"}`` (medians over its clips) or None, the three model rows also with ``peak_gap_db`` and
    ``rms_gap_db`` (see the module docstring). The three last entries hold, over the labels with a gap,
    ``{"peak": {"median_abs_gap_db", "labels_within", "labels"}, "rms": {...}}`` (``samples``: None when no
    samples were made).
    """
    names = list(label_names) if label_names and real_labels is not None else ["all"]
    grouped = real_labels is not None and label_names

    def members(labels, n: int) -> dict[str, np.ndarray]:
        if not grouped:
            return {"all": np.arange(n)}
        labels = np.asarray(labels)
        return {name: np.flatnonzero(labels == k) for k, name in enumerate(names)}

    def gap(levels: np.ndarray) -> dict[str, float]:
        return {"peak_gap_db": float(levels[0]), "rms_gap_db": float(levels[1])}

    real_lv = _levels(np.asarray(real), sr)
    test_lv = _levels(np.asarray(test), sr)
    paired = {"ceiling": _levels(np.asarray(ceiling), sr), "reconstruction": _levels(np.asarray(reconstructions), sr)}
    sample_lv = None if samples is None else _levels(np.asarray(samples), sr)
    real_of, test_of = members(real_labels, len(real_lv)), members(test_labels, len(test_lv))
    sample_of = members(sample_labels, 0 if sample_lv is None else len(sample_lv))
    per_label: dict[str, Any] = {}
    for name in names:
        r, t = _group(real_lv[real_of[name]]), _group(test_lv[test_of[name]])
        entry: dict[str, Any] = {"real": r, "test": t}
        for row, lv in paired.items():
            g = _group(lv[test_of[name]])
            if g is not None:
                g.update(gap(np.median(lv[test_of[name]] - test_lv[test_of[name]], axis=0)))
            entry[row] = g
        g = None if sample_lv is None else _group(sample_lv[sample_of[name]])
        if g is not None and r is not None:
            g.update(gap(np.array([g["peak_db"] - r["peak_db"], g["rms_db"] - r["rms_db"]])))
        entry["samples"] = g
        per_label[name] = entry

    def overall(row: str) -> dict[str, Any]:
        out = {}
        for level in ("peak", "rms"):
            gaps = np.array([v[row][f"{level}_gap_db"] for v in per_label.values()
                             if v[row] is not None and f"{level}_gap_db" in v[row]])
            out[level] = {"median_abs_gap_db": float(np.median(np.abs(gaps))) if gaps.size else None,
                          "labels_within": int(np.sum(np.abs(gaps) <= TOLERANCE_DB)), "labels": int(gaps.size)}
        return out

    return {"tolerance_db": TOLERANCE_DB, "per_label": per_label,
            **{row: overall(row) if row != "samples" or samples is not None else None for row in ROWS}}


def headline(section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The summary keys of ``section``: per row (ceiling, reconstruction, samples) and level (peak, rms) the
    median absolute gap to the real clips (dB) and the share of labels within :data:`TOLERANCE_DB` (None when
    not measured)."""
    out: dict[str, Any] = {}
    for row in ROWS:
        for level in ("peak", "rms"):
            part = ((section or {}).get(row) or {}).get(level) or {}
            out[f"{row}_{level}_level_gap_db"] = part.get("median_abs_gap_db")
            out[f"{row}_{level}_labels_within"] = (part["labels_within"] / part["labels"] if part.get("labels")
                                                   else None)
    return out
