"""Diversity and copying: are the samples as varied as real clips, and are they new sounds?

Two questions, each answered against real clips and calibrated with known-bad rows
(``docs/diversity.md`` records the definition, why it was chosen and the FSDD numbers):

- **diversity** (:func:`within_label_similarity`): the median similarity of two clips of the same
  label. Samples that sit closer to each other than real clips of that label do are less varied
  (mode collapse); one sample repeated scores 1.0.
- **copying** (:func:`nearest_similarity`): each clip's similarity to its nearest training clip.
  Real held-out clips show what "new but real" looks like (a new take of a digit sits close to some
  training take); samples far closer than that are replays; a training clip replayed scores ~1.0.

The embedding (:func:`embed`, settings :data:`SETTINGS`): the clip's log-mel spectrogram, 64 mel
bands of a 32 ms window (the next power of two in samples) every quarter window, in dB relative to
the clip's loudest cell (so level does not count: the same as peak-normalizing the clip), floored
80 dB below it, flattened to one vector per clip (``64 x frames`` numbers).

The similarity of two clips is the **cosine of their embeddings after each is centred on its own
mean** (the Pearson correlation of the two dB images, "spectrogram correlation"): 1.0 for the same
clip at any level, about 0 for unrelated patterns, -1 for an inverted one. Centring each clip on its
own mean makes the number independent of where the dB scale's zero is put: the raw cosine of the
dB vectors (zero at the peak) is dominated by the floor, and centring on the data's mean makes the
number depend on a reference set (and, measured on FSDD, rates white noise as closer to a
training clip than a real held-out digit is). A clip with no pattern (silence: every cell at the
floor) has similarity 0 to every clip, itself included.

:func:`diversity_section` computes the rows ``vae-audio evaluate`` reports (real test clips, the
training clips among themselves, the model's samples, one sample repeated, training clips replayed
through the model), from audio it is given: it generates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .. import checks
from ..errors import ParameterError

__all__ = ["SETTINGS", "N_MELS", "WINDOW_S", "FLOOR_DB", "MAX_GROUP", "MAX_REFERENCE", "Embedding", "embed",
           "similarity", "within_label_similarity", "nearest_similarity", "diversity_section", "headline"]

#: mel bands of the embedding
N_MELS = 64
#: analysis window, seconds (rounded up to a power of two in samples; hop a quarter of it)
WINDOW_S = 0.032
#: floor of the log-mel spectrogram, dB below the clip's loudest cell
FLOOR_DB = 80.0
#: within-label similarity of a label with more clips uses all pairs of a seeded subset of this many
MAX_GROUP = 1000
#: nearest-training-clip similarity searches at most this many training clips (a seeded subset)
MAX_REFERENCE = 5000
#: the definition, recorded with every result (``results["diversity"]["embedding"]``)
SETTINGS: dict[str, Any] = {"version": 1, "features": "log-mel dB relative to the clip's loudest cell",
                            "n_mels": N_MELS, "window_s": WINDOW_S, "hop": "window / 4", "floor_db": FLOOR_DB,
                            "similarity": "cosine after centring each clip on its own mean (Pearson correlation)"}
_CHUNK = 256


@dataclass(frozen=True)
class Embedding:
    """Clips as unit vectors: ``vectors`` float32 ``(n, N_MELS * frames)``, each centred on its own mean and
    scaled to length 1 (all zeros for a clip with no pattern), so the similarity of two clips is the dot
    product of their rows. ``sr`` and ``n_samples`` are those of the clips it was made from."""

    vectors: np.ndarray
    sr: int
    n_samples: int

    def __len__(self) -> int:
        return len(self.vectors)


def _check_audio(audio: Any, name: str) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] < 64 or not np.all(np.isfinite(x)):
        raise ParameterError(f"{name}: expected finite clips (n, samples >= 64), got shape {np.shape(audio)}")
    return x


def _check_sr(sr: Any) -> int:
    return checks.whole_number(sr, "sr", 1000, 384000, what="a sample rate in Hz")


def _log_mel(x: np.ndarray, sr: int) -> np.ndarray:
    """``(n, samples)`` -> float64 ``(n, N_MELS, frames)`` dB relative to each clip's loudest cell, floored at
    ``-FLOOR_DB``."""
    import librosa

    n_fft = 1 << int(np.ceil(np.log2(WINDOW_S * sr)))
    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=N_MELS).astype(np.float32)
    spec = librosa.stft(x, n_fft=n_fft, hop_length=n_fft // 4, window="hann", center=True)
    mel = np.einsum("mf,nft->nmt", fb, (np.abs(spec) ** 2).astype(np.float32)).astype(np.float64)
    peak = mel.max(axis=(1, 2), keepdims=True)
    rel = np.where(peak > 0, mel / np.where(peak > 0, peak, 1.0), 0.0)
    return 10.0 * np.log10(np.maximum(rel, 10.0 ** (-FLOOR_DB / 10.0)))


def embed(audio: Any, sr: int) -> Embedding:
    """The :class:`Embedding` of clips ``audio`` ``(n, samples)`` (or one clip ``(samples,)``) at ``sr`` Hz.

    Each clip's log-mel spectrogram (see the module docstring) is flattened, centred on its own mean and
    scaled to unit length; a clip whose cells are all equal (silence) gives a row of zeros. Computed
    256 clips at a time (in float64: float32 sums over thousands of cells are off by 1e-5). An
    :class:`Embedding` is returned as it is (after checking its ``sr``).
    """
    sr = _check_sr(sr)
    if isinstance(audio, Embedding):
        return _embedding(audio, sr, "audio")
    x = _check_audio(audio, "audio")
    hop = (1 << int(np.ceil(np.log2(WINDOW_S * sr)))) // 4
    out = np.zeros((len(x), N_MELS * (1 + x.shape[1] // hop)), dtype=np.float32)
    for start in range(0, len(x), _CHUNK):
        mel = _log_mel(x[start:start + _CHUNK], sr)
        v = mel.reshape(len(mel), -1)
        v = v - v.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        out[start:start + len(v)] = np.where(norm > 1e-6, v / np.maximum(norm, 1e-6), 0.0)
    return Embedding(out, sr, int(x.shape[1]))


def _embedding(clips: Any, sr: int, name: str) -> Embedding:
    if isinstance(clips, Embedding):
        if clips.sr != sr:
            raise ParameterError(f"{name}: embedded at {clips.sr} Hz, but sr={sr}")
        return clips
    try:
        return embed(clips, sr)
    except ParameterError as exc:
        raise ParameterError(str(exc).replace("audio:", f"{name}:", 1)) from None


def similarity(a: Any, b: Any, sr: int) -> np.ndarray:
    """Similarities ``(len(a), len(b))`` in [-1, 1] between clips ``a`` and ``b`` (audio ``(n, samples)``
    of one length at ``sr`` Hz, or :class:`Embedding`)."""
    sr = _check_sr(sr)
    ea, eb = _embedding(a, sr, "a"), _embedding(b, sr, "b")
    _same_length(ea, eb, "a", "b")
    return np.clip(ea.vectors @ eb.vectors.T, -1.0, 1.0)


def _same_length(a: Embedding, b: Embedding, name_a: str, name_b: str) -> None:
    if a.n_samples != b.n_samples:
        raise ParameterError(f"{name_a}/{name_b}: clips of {a.n_samples} and {b.n_samples} samples; "
                             "similarity compares clips of one length")


def _labels(labels: Any, n: int, name: str) -> np.ndarray:
    if labels is None:
        return np.zeros(n, dtype=np.int64)
    lab = np.asarray(labels)
    if lab.shape != (n,) or not (np.issubdtype(lab.dtype, np.integer) and not np.issubdtype(lab.dtype, np.bool_)):
        raise ParameterError(f"{name}: expected {n} whole-number labels (one per clip), got shape {lab.shape} "
                             f"and dtype {lab.dtype}")
    return lab.astype(np.int64)


def _name(label: int, label_names: Sequence[str] | None) -> str:
    if label_names is not None and 0 <= label < len(label_names):
        return str(label_names[label])
    return str(label)


def within_label_similarity(audio: Any, labels: Any, sr: int, *, label_names: Sequence[str] | None = None,
                            seed: int = 0) -> dict[str, Any]:
    """How alike clips of the same label are: the median similarity over pairs of distinct clips.

    Parameters
    ----------
    audio : clips ``(n, samples)`` at ``sr`` Hz (or their :class:`Embedding`).
    labels : ``(n,)`` whole-number labels, or ``None`` (all clips one group, reported as ``"all"``).
    sr : sample rate, Hz.
    label_names : names of the labels (keys of ``per_label``); default the label numbers as text.
    seed : seed of the subset drawn from a label with more than :data:`MAX_GROUP` clips (then all
        pairs of that subset are used).

    Returns
    -------
    ``{"median", "per_label", "n_pairs"}``: ``median`` over all same-label pairs pooled (None when no
    label has two clips), ``per_label`` label name -> median over that label's pairs (None for a label
    with one clip), ``n_pairs`` the pairs used. 1.0 when every clip of each label is the same clip.
    """
    sr = _check_sr(sr)
    seed = checks.seed(seed)
    emb = _embedding(audio, sr, "audio")
    lab = _labels(labels, len(emb), "labels")
    rng = np.random.default_rng([seed, 17])
    per_label: dict[str, float | None] = {}
    pooled = []
    for label in np.unique(lab):
        idx = np.flatnonzero(lab == label)
        if len(idx) > MAX_GROUP:
            idx = np.sort(rng.choice(idx, MAX_GROUP, replace=False))
        v = emb.vectors[idx]
        sims = np.clip(v @ v.T, -1.0, 1.0)[np.triu_indices(len(idx), 1)]
        name = "all" if labels is None else _name(int(label), label_names)
        per_label[name] = float(np.median(sims)) if sims.size else None
        pooled.append(sims)
    sims = np.concatenate(pooled) if pooled else np.zeros(0)
    return {"median": float(np.median(sims)) if sims.size else None, "per_label": per_label,
            "n_pairs": int(sims.size)}


def nearest_similarity(queries: Any, reference: Any, sr: int, *, exclude_self: bool = False,
                       return_index: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Each query clip's similarity to its nearest (most similar) reference clip.

    Parameters
    ----------
    queries : clips ``(n, samples)`` at ``sr`` Hz (or their :class:`Embedding`), e.g. samples or test clips.
    reference : clips ``(m, samples)`` of the same length (or their :class:`Embedding`), e.g. the
        training clips; ``m >= 1``.
    sr : sample rate, Hz.
    exclude_self : the queries *are* the reference (the same clips in the same order): each clip's
        nearest *other* clip (how close training clips sit to each other); needs ``m >= 2``.
    return_index : also return the index into ``reference`` of each query's nearest clip.

    Returns
    -------
    float64 ``(n,)`` in [-1, 1] (1.0: the query is a reference clip, at any level), and with
    ``return_index`` the int64 ``(n,)`` indices. Computed a block of queries at a time (a
    ``(256, m)`` matrix product).
    """
    sr = _check_sr(sr)
    q, ref = _embedding(queries, sr, "queries"), _embedding(reference, sr, "reference")
    if len(ref) == 0:
        raise ParameterError("reference: no clips; the nearest clip needs at least one")
    _same_length(q, ref, "queries", "reference")
    if exclude_self and (len(q) != len(ref) or len(ref) < 2):
        raise ParameterError(f"exclude_self: the queries must be the reference itself, at least 2 clips; got "
                             f"{len(q)} queries and {len(ref)} reference clips")
    best = np.zeros(len(q), dtype=np.float64)
    where = np.zeros(len(q), dtype=np.int64)
    for start in range(0, len(q), _CHUNK):
        sims = q.vectors[start:start + _CHUNK] @ ref.vectors.T
        if exclude_self:
            rows = np.arange(len(sims))
            sims[rows, start + rows] = -np.inf
        where[start:start + _CHUNK] = np.argmax(sims, axis=1)
        best[start:start + _CHUNK] = np.take_along_axis(sims, where[start:start + _CHUNK, None], axis=1)[:, 0]
    best = np.clip(best, -1.0, 1.0)
    return (best, where) if return_index else best


def _nearest_summary(sims: np.ndarray, labels: np.ndarray | None, label_names: Sequence[str] | None
                     ) -> dict[str, Any]:
    """``{"median", "p10", "p90", "per_label"}`` of per-clip nearest similarities (per-label medians)."""
    out: dict[str, Any] = {"median": float(np.median(sims)), "p10": float(np.percentile(sims, 10)),
                           "p90": float(np.percentile(sims, 90)), "per_label": None}
    if labels is not None:
        out["per_label"] = {_name(int(k), label_names): float(np.median(sims[labels == k])) for k in np.unique(labels)}
    return out


def diversity_section(*, real: Any, real_labels: Any, samples: Any, sample_labels: Any, reference: Any,
                      reference_labels: Any, replayed: Any, replayed_labels: Any, sr: int,
                      label_names: Sequence[str] | None = None, samples_kind: str = "samples",
                      seed: int = 0) -> dict[str, Any]:
    """The rows ``vae-audio evaluate`` reports (``results["diversity"]``), from clips already made.

    Parameters
    ----------
    real : held-out real clips ``(n, samples)`` (the test split), with ``real_labels`` ``(n,)`` or None.
    samples : the model's samples ``(k, samples)`` with ``sample_labels`` (the labels they were drawn
        for; None for an unconditional model: then every row is compared over all pairs, not per label).
    reference : the training clips ``(m, samples)``, searched for each clip's nearest, with
        ``reference_labels`` ``(m,)`` or None.
    replayed : a known-bad generator that copies: training clips (some of ``reference``) rendered as the
        model renders them (its reconstructions through the phase step), with ``replayed_labels``.
    sr : sample rate, Hz. ``label_names``: names of the labels. ``samples_kind``: what the samples
        are (``"conditional"`` or ``"prior"``), recorded. ``seed``: see :func:`within_label_similarity`.

    Returns
    -------
    ``{"embedding": SETTINGS, "samples_kind", "n_reference", "rows"}``; ``rows`` maps ``real_test``,
    ``real_train`` (the reference itself: within a label, and each clip's nearest *other* training
    clip), ``samples``, ``repeated`` (the first sample of each label repeated as often as that label
    has samples) and ``replayed`` to ``{"n", "within_label", "nearest_train"}``, each the dict of
    :func:`within_label_similarity` / ``{"median", "p10", "p90", "per_label"}`` of
    :func:`nearest_similarity` (``repeated`` has no ``nearest_train``: None; nor has ``real_train``
    with a single training clip).
    """
    sr = _check_sr(sr)
    per_label = sample_labels is not None
    ref = _embedding(reference, sr, "reference")
    rows: dict[str, Any] = {}
    sets = {"real_test": (real, real_labels), "samples": (samples, sample_labels),
            "replayed": (replayed, replayed_labels)}
    embedded: dict[str, tuple[Embedding, np.ndarray | None]] = {}
    for key, (clips, labels) in sets.items():
        emb = _embedding(clips, sr, key)
        _same_length(emb, ref, key, "reference")
        lab = _labels(labels, len(emb), f"{key} labels") if (per_label and labels is not None) else None
        embedded[key] = (emb, lab)
        rows[key] = {"n": len(emb),
                     "within_label": within_label_similarity(emb, lab, sr, label_names=label_names, seed=seed),
                     "nearest_train": _nearest_summary(nearest_similarity(emb, ref, sr), lab, label_names)}
    ref_labels = _labels(reference_labels, len(ref), "reference labels") if (
        per_label and reference_labels is not None) else None
    rows["real_train"] = {"n": len(ref),
                          "within_label": within_label_similarity(ref, ref_labels, sr, label_names=label_names,
                                                                  seed=seed),
                          "nearest_train": _nearest_summary(nearest_similarity(ref, ref, sr, exclude_self=True),
                                                            ref_labels, label_names) if len(ref) >= 2 else None}
    emb, lab = embedded["samples"]
    groups = lab if lab is not None else np.zeros(len(emb), dtype=np.int64)
    first = {int(k): int(np.flatnonzero(groups == k)[0]) for k in np.unique(groups)}
    repeat = np.asarray([first[int(k)] for k in groups], dtype=np.int64)
    repeated = Embedding(emb.vectors[repeat], sr, emb.n_samples)
    rows["repeated"] = {"n": len(repeated), "within_label": within_label_similarity(
        repeated, lab, sr, label_names=label_names, seed=seed), "nearest_train": None}
    return {"embedding": dict(SETTINGS), "samples_kind": samples_kind, "n_reference": len(ref), "rows": rows}


def headline(section: Mapping[str, Any] | None) -> dict[str, float | None]:
    """The summary numbers of a :func:`diversity_section` (None when it was not computed)."""
    rows = (section or {}).get("rows") or {}

    def get(row: str, part: str) -> float | None:
        return ((rows.get(row) or {}).get(part) or {}).get("median")

    return {"samples_within_label_similarity": get("samples", "within_label"),
            "real_within_label_similarity": get("real_test", "within_label"),
            "samples_nearest_train_similarity": get("samples", "nearest_train"),
            "real_nearest_train_similarity": get("real_test", "nearest_train"),
            "train_within_label_similarity": get("real_train", "within_label"),
            "train_nearest_other_train_similarity": get("real_train", "nearest_train"),
            "repeated_within_label_similarity": get("repeated", "within_label"),
            "replayed_nearest_train_similarity": get("replayed", "nearest_train")}
