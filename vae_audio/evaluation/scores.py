"""Scores of generated audio computed from a classifier's outputs (NumPy/SciPy only, no TensorFlow).

These are the in-domain generation metrics of WaveGAN (Donahue et al., 2019) and DiffWave
(Kong et al., 2021) for SC09 digits, applied to the outputs of
:class:`vae_audio.evaluation.classifier.AudioClassifier` (or any classifier):

* :func:`accuracy`: how often predicted labels equal the requested/true labels.
* :func:`inception_score`: high when every clip is classified confidently *and* the classes are
  balanced over the set; in ``[1, K]`` for ``K`` classes.
* :func:`frechet_distance`: between Gaussians fitted to two sets of embeddings; lower is closer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import checks
from ..errors import ParameterError

__all__ = ["accuracy", "inception_score", "frechet_distance", "frechet_distance_from_stats", "gaussian_stats"]


def _real_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a float64 array; non-numeric, complex, NaN or inf raise ParameterError."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise ParameterError(f"{name}: expected a numeric array ({' '.join(str(exc).split())})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
                                   or np.issubdtype(arr.dtype, np.bool_)):
        raise ParameterError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name}: contains NaN or infinite values")
    return arr


def _label_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a 1-D int64 array of whole numbers (whole floats accepted)."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ParameterError(f"{name}: expected a 1-D array of class labels (n,), got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) and not np.issubdtype(arr.dtype, np.bool_)):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ParameterError(f"{name}: expected whole-number class labels, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def accuracy(pred_labels: Any, true_labels: Any) -> float:
    """Fraction of positions where ``pred_labels[i] == true_labels[i]``, in [0, 1].

    Parameters
    ----------
    pred_labels, true_labels : 1-D arrays of integer class labels, both ``(n,)`` with ``n >= 1``.

    Raises
    ------
    ParameterError
        Not 1-D, different lengths, empty, or not whole numbers.
    """
    pred = _label_array(pred_labels, "pred_labels")
    true = _label_array(true_labels, "true_labels")
    if pred.shape != true.shape:
        raise ParameterError(f"pred_labels has {pred.shape[0]} labels but true_labels has {true.shape[0]}")
    if pred.size == 0:
        raise ParameterError("pred_labels: empty; accuracy needs at least one clip")
    return float(np.mean(pred == true))


def _check_probs(probs: Any, name: str = "probs") -> np.ndarray:
    p = _real_array(probs, name)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ParameterError(f"{name}: expected class probabilities shaped (n_clips, n_classes) with n >= 1, "
                             f"got shape {p.shape}")
    if np.any(p < 0):
        raise ParameterError(f"{name}: probabilities must be >= 0 (softmax outputs), got a minimum of {p.min():.3g}")
    sums = p.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > 1e-3:
        raise ParameterError(f"{name}: each row must sum to 1 (softmax outputs); a row sums to "
                             f"{sums[np.argmax(np.abs(sums - 1.0))]:.4g}")
    return p / sums[:, None]  # remove float32 rounding


def inception_score(probs: Any, *, splits: int = 1, eps: float = 1e-12) -> float:
    """Inception score ``exp(E_x[KL(p(y|x) || p(y))])`` of class probabilities.

    With ``p(y) = mean_x p(y|x)`` (the marginal over the clips of a split)::

        IS = exp( (1/n) * sum_i sum_k p_ik * (log p_ik - log p_k) )

    Equivalently ``exp(H(p(y)) - mean_i H(p(y|x_i)))``. Uniform predictions give 1; confident
    one-hot predictions spread evenly over ``K`` classes give ``K``; all clips confidently in one
    class give 1 again.

    Parameters
    ----------
    probs : ``(n_clips, n_classes)`` softmax outputs (rows >= 0 summing to 1 within 1e-3).
    splits : split the clips into this many consecutive, nearly equal parts, score each part
        with its own marginal, and return the mean (the original protocol uses 10 splits of
        5000 images; 1, the default, scores the whole set at once).
    eps : added inside the logarithms so that zero probabilities contribute ``0 * log 0 = 0``.

    Returns
    -------
    float in ``[1, n_classes]`` (up to rounding).
    """
    p = _check_probs(probs)
    checks.whole_number(splits, "splits", 1, p.shape[0], note=" (the number of clips)")
    checks.number(eps, "eps", 0, 1e-3, lo_open=True, hi_open=True, note=" (e.g. 1e-12)")
    scores = []
    for part in np.array_split(p, int(splits)):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part + eps) - np.log(marginal + eps)), axis=1)
        scores.append(math.exp(float(np.mean(kl))))
    return float(np.mean(scores))


def gaussian_stats(embeddings: Any, *, name: str = "embeddings") -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` (``ddof=1``) of embeddings ``(n, d)``, ``n >= 2``."""
    x = _real_array(embeddings, name)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ParameterError(f"{name}: expected embeddings shaped (n_clips, n_dims), got shape {x.shape}")
    if x.shape[0] < 2:
        raise ParameterError(f"{name}: a covariance needs at least 2 clips, got {x.shape[0]}")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False, ddof=1))


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative rounding -> 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(emb_a: Any, emb_b: Any, *, eps: float = 1e-6) -> float:
    """Frechet distance between Gaussians fitted to two sets of embeddings (FID/FAD formula)::

        FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))

    with ``mu`` the means and ``S`` the unbiased covariances (``ddof=1``) of the rows. It is
    the squared 2-Wasserstein distance between ``N(mu_a, S_a)`` and ``N(mu_b, S_b)``: 0 for
    identical statistics, ``||shift||^2`` for two sets that differ by a constant shift.

    ``Tr((S_a S_b)^(1/2))`` is computed as ``Tr((A S_b A)^(1/2))`` with ``A = S_a^(1/2)`` (similar
    matrices, but symmetric): real, non-negative eigenvalues even when ``S_a S_b`` is singular, no
    complex round-off as from ``scipy.linalg.sqrtm``. If the eigendecomposition fails, ``eps * I``
    is added to both covariances and it is tried again.

    Parameters
    ----------
    emb_a, emb_b : ``(n_a, d)`` and ``(n_b, d)`` embeddings, ``n >= 2`` rows each, same ``d``.
    eps : diagonal offset used only when the plain computation fails.

    Returns
    -------
    float >= 0 (in squared embedding units).

    Raises
    ------
    ParameterError
        Not 2-D, fewer than 2 rows, different ``d``, or NaN/inf values.
    """
    mu_a, s_a = gaussian_stats(emb_a, name="emb_a")
    mu_b, s_b = gaussian_stats(emb_b, name="emb_b")
    if mu_a.shape != mu_b.shape:
        raise ParameterError(f"emb_a has {mu_a.shape[0]} dimensions but emb_b has {mu_b.shape[0]}; "
                             "they must come from the same embedding")
    return frechet_distance_from_stats(mu_a, s_a, mu_b, s_b, eps=eps)


def frechet_distance_from_stats(mu_a: np.ndarray, s_a: np.ndarray, mu_b: np.ndarray, s_b: np.ndarray, *,
                                eps: float = 1e-6) -> float:
    """:func:`frechet_distance` from precomputed means ``(d,)`` and covariances ``(d, d)``."""
    diff = np.asarray(mu_a, np.float64) - np.asarray(mu_b, np.float64)
    s_a, s_b = np.asarray(s_a, np.float64), np.asarray(s_b, np.float64)
    try:
        trace_sqrt = _trace_sqrt_product(s_a, s_b)
    except np.linalg.LinAlgError:
        offset = eps * np.eye(s_a.shape[0])
        trace_sqrt = _trace_sqrt_product(s_a + offset, s_b + offset)
    fd = float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * trace_sqrt)
    return max(fd, 0.0)  # tiny negative values are round-off


def _trace_sqrt_product(s_a: np.ndarray, s_b: np.ndarray) -> float:
    """``Tr((S_a S_b)^(1/2))`` via the symmetric ``S_a^(1/2) S_b S_a^(1/2)``."""
    root_a = _psd_sqrt(s_a)
    m = root_a @ s_b @ root_a
    w = np.linalg.eigvalsh((m + m.T) / 2)
    if not np.all(np.isfinite(w)):
        raise np.linalg.LinAlgError("non-finite eigenvalues")
    return float(np.sum(np.sqrt(np.clip(w, 0.0, None))))
