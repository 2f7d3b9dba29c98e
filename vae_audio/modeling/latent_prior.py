"""A density fitted to the training set's latent codes, to sample from instead of ``N(0, I)``.

Why
---
A VAE's decoder only learned to decode the codes its encoder produces. With a well-fitted
decoder (the calibrated likelihood gives posterior variances around 0.004 on FSDD) those codes
fill only part of the ``N(0, I)`` ball: the *aggregate posterior* ``q(z) = mean_x q(z | x)``
has holes, and draws from ``N(0, I)`` that land in them decode to blobs. Fitting a Gaussian
mixture to the codes of the training set after training ("ex-post density estimation",
Ghosh et al. 2020, "From Variational to Deterministic Autoencoders"; also Dai & Wipf 2019,
"Diagnosing and Enhancing VAE Models") and sampling from it instead fixes that at the cost of
a few seconds. What it buys (conditional samples heard as the requested digit, against ``N(0, I)``
and one Gaussian per class) is measured in ``docs/experiments/priors.md``.

The mixture
-----------
``K`` Gaussian components with weights ``(K,)``, means ``(K, latent_dim)`` and full
covariances ``(K, latent_dim, latent_dim)``, each optionally tied to a class label
(``component_labels`` ``(K,)``, -1 = any class). For a conditional model every class gets its
own components, fitted on that class's codes only, so ``sample(labels=...)`` draws from the
requested class. Each covariance is the covariance of the posterior *means* plus the average
posterior variance ``exp(z_log_var)`` of its points (the aggregate posterior is a mixture of
the per-clip posteriors, not of their means), plus a small ridge so it stays positive definite.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import checks
from ..errors import BundleError, ParameterError

__all__ = ["LatentPrior", "KernelDensity", "DEFAULT_COMPONENTS", "DEFAULT_COMPONENTS_PER_CLASS"]

#: mixture size for an unconditional model (all training codes)
DEFAULT_COMPONENTS = 24
#: mixture size per class for a conditional model
DEFAULT_COMPONENTS_PER_CLASS = 4
_RIDGE = 1e-4
_ARRAYS = ("weights", "means", "covariances", "component_labels")


def _fit_mixture(points: np.ndarray, variances: np.ndarray, k: int, seed: int):
    """Weights ``(k,)``, means ``(k, d)``, covariances ``(k, d, d)`` of ``points`` ``(n, d)``."""
    n, d = points.shape
    k = max(1, min(k, n // max(2, d // 4)))  # each component needs enough points for its covariance
    if k == 1:
        means = points.mean(axis=0, keepdims=True)
        cov = np.cov(points, rowvar=False, bias=True).reshape(d, d) if n > 1 else np.zeros((d, d))
        resp = np.ones((n, 1))
        covs = cov[None]
        weights = np.ones(1)
    else:
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=_RIDGE, random_state=seed,
                             n_init=1, max_iter=200)
        gm.fit(points)
        weights, means, covs = gm.weights_, gm.means_, gm.covariances_
        resp = gm.predict_proba(points)
    # add each component's average posterior variance (responsibility-weighted) and a ridge
    mass = resp.sum(axis=0)[:, None] + 1e-12
    avg_var = (resp.T @ variances) / mass
    covs = covs + np.stack([np.diag(v) for v in avg_var]) + _RIDGE * np.eye(d)[None]
    return np.asarray(weights, np.float64), np.asarray(means, np.float64), np.asarray(covs, np.float64)


def _class_labels(labels: Any, n: int, classes: tuple[int, ...], what: str, owner: str) -> np.ndarray:
    """``labels`` (one class index or ``n`` indices) as an ``(n,)`` array, each a class in ``classes``
    (:class:`ParameterError` naming ``what`` the ``owner`` lacks otherwise)."""
    lab = np.asarray(labels)
    lab = np.full(n, lab) if lab.ndim == 0 else lab
    if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
        raise ParameterError(f"labels: expected one class index or {n} indices, got shape {lab.shape}")
    missing = sorted(set(lab.tolist()) - set(classes))
    if missing:
        raise ParameterError(f"labels: no {what} for class(es) {missing}; this {owner} knows classes {list(classes)}")
    return lab


class LatentPrior:
    """A Gaussian mixture over latent vectors, optionally one set of components per class.

    Build it with :meth:`fit` (from encoder outputs), draw with :meth:`sample`, store with
    :meth:`to_bytes` / :meth:`save` and read with :meth:`from_bytes` / :meth:`load` (a NumPy
    ``.npz`` archive, no pickles).

    Attributes
    ----------
    weights : float64 ``(K,)``, summing to 1 over all components (per class: in proportion to
        the class's share of the training set).
    means : float64 ``(K, latent_dim)``.
    covariances : float64 ``(K, latent_dim, latent_dim)``, symmetric positive definite.
    component_labels : int64 ``(K,)``: the class of each component, or -1 for an unconditional prior.
    """

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                 component_labels: np.ndarray | None = None):
        weights = np.asarray(weights, np.float64)
        means = np.asarray(means, np.float64)
        covariances = np.asarray(covariances, np.float64)
        k = len(weights)
        if weights.ndim != 1 or k < 1 or means.ndim != 2 or len(means) != k:
            raise ParameterError(f"LatentPrior: expected weights (K,) and means (K, latent_dim), got "
                                 f"{weights.shape} and {means.shape}")
        d = means.shape[1]
        if covariances.shape != (k, d, d):
            raise ParameterError(f"LatentPrior: covariances must be ({k}, {d}, {d}), got {covariances.shape}")
        labels = np.full(k, -1, np.int64) if component_labels is None else np.asarray(component_labels)
        if labels.shape != (k,) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < -1:
            raise ParameterError(f"LatentPrior: component_labels must be {k} whole numbers >= -1")
        if (labels >= 0).any() and (labels < 0).any():
            raise ParameterError("LatentPrior: component_labels mixes class components and -1 (any class)")
        if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(means)) and np.all(np.isfinite(covariances))):
            raise ParameterError("LatentPrior: contains NaN or infinite values")
        if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0, atol=1e-6):
            raise ParameterError(f"LatentPrior: weights must be >= 0 and sum to 1 (sum {weights.sum():.6g})")
        try:
            self._chol = np.linalg.cholesky(covariances)
        except np.linalg.LinAlgError:
            raise ParameterError("LatentPrior: a covariance is not positive definite") from None
        self.weights, self.means, self.covariances = weights, means, covariances
        self.component_labels = labels.astype(np.int64)

    # ------------------------------------------------------------------ properties
    @property
    def latent_dim(self) -> int:
        return int(self.means.shape[1])

    @property
    def n_components(self) -> int:
        return int(len(self.weights))

    @property
    def conditional(self) -> bool:
        """True when every component belongs to a class (samples can be drawn per class)."""
        return bool((self.component_labels >= 0).all())

    @property
    def classes(self) -> tuple[int, ...]:
        """The class labels that have components (empty for an unconditional prior)."""
        return tuple(int(c) for c in np.unique(self.component_labels) if c >= 0)

    def mismatch(self, latent_dim: int, num_classes: int | None) -> str | None:
        """Why this prior cannot serve a model with ``latent_dim`` and ``num_classes``, or None if it can."""
        if self.latent_dim != latent_dim:
            return f"latent size {self.latent_dim} does not match the model's {latent_dim}"
        if self.conditional and (not num_classes or max(self.classes) >= num_classes):
            kind = "unconditional" if not num_classes else f"conditional on {num_classes} classes"
            return f"has components for classes {list(self.classes)} but the model is {kind}"
        return None

    #: the temperature :meth:`vae_audio.modeling.inference.TrainedModel.sample_latents` uses by default
    default_temperature = 1.0

    def describe(self) -> str:
        """One line for reports, e.g. ``"fitted (40 Gaussian components)"``."""
        return f"fitted ({self.n_components} Gaussian components)"

    def __repr__(self) -> str:
        kind = f"{len(self.classes)} classes" if self.conditional else "unconditional"
        return f"<LatentPrior {self.n_components} components, latent {self.latent_dim}, {kind}>"

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, z_mean: Any, z_log_var: Any, labels: Any = None, *, num_classes: int | None = None,
            n_components: int | None = None, seed: int = 0) -> "LatentPrior":
        """Fit the mixture to encoder outputs of the training set.

        Parameters
        ----------
        z_mean, z_log_var : ``(n, latent_dim)`` posterior means and log-variances (encoder outputs).
        labels : ``(n,)`` class indices for a conditional prior (one mixture per class), or None.
        num_classes : number of classes of a conditional model (default ``labels.max() + 1``);
            a class with no training code gets one ``N(0, I)`` component.
        n_components : components per class (conditional; default
            :data:`DEFAULT_COMPONENTS_PER_CLASS`) or in total (unconditional; default
            :data:`DEFAULT_COMPONENTS`); capped so every component has enough points.
        seed : seed of the EM initialisation (only used with more than one component).
        """
        z_mean = np.asarray(z_mean, np.float64)
        z_log_var = np.asarray(z_log_var, np.float64)
        if z_mean.ndim != 2 or z_mean.shape != z_log_var.shape or len(z_mean) < 1:
            raise ParameterError(f"z_mean, z_log_var: expected two arrays (n >= 1, latent_dim) of the same shape, "
                                 f"got {z_mean.shape} and {z_log_var.shape}")
        if not (np.all(np.isfinite(z_mean)) and np.all(np.isfinite(z_log_var))):
            raise ParameterError("z_mean, z_log_var: contain NaN or infinite values")
        seed = checks.seed(seed)
        variances = np.exp(np.clip(z_log_var, -30.0, 30.0))
        if labels is None:
            k = DEFAULT_COMPONENTS if n_components is None else checks.whole_number(n_components, "n_components", 1)
            w, m, c = _fit_mixture(z_mean, variances, k, seed)
            return cls(w, m, c)
        labels = np.asarray(labels)
        if labels.shape != (len(z_mean),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise ParameterError(f"labels: expected {len(z_mean)} class indices >= 0, got shape {labels.shape}")
        k = (DEFAULT_COMPONENTS_PER_CLASS if n_components is None
             else checks.whole_number(n_components, "n_components", 1))
        n_classes = int(labels.max()) + 1 if num_classes is None else checks.whole_number(num_classes, "num_classes", 1)
        if labels.max() >= n_classes:
            raise ParameterError(f"labels: values must be below num_classes={n_classes}, got {int(labels.max())}")
        d = z_mean.shape[1]
        parts = []
        for c in range(n_classes):
            idx = labels == c
            if not idx.any():  # a class with no training code: fall back to N(0, I), with a small weight
                parts.append((np.full(1, 0.5 / len(labels)), np.zeros((1, d)), np.eye(d)[None], np.full(1, c)))
                continue
            w, m, cov = _fit_mixture(z_mean[idx], variances[idx], k, seed)
            parts.append((w * idx.mean(), m, cov, np.full(len(w), c)))
        w, m, cov, lab = (np.concatenate(p) for p in zip(*parts))
        return cls(w / w.sum(), m, cov, lab)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, labels: Any = None, *, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """Draw ``n`` latent vectors ``(n, latent_dim)`` float32 (deterministic for a ``seed``).

        ``labels`` (conditional prior only): one class index for all, or ``(n,)`` indices; each
        draw then comes from its class's components. Without labels, components are chosen by
        their weights (so classes in training-set proportion). ``temperature`` scales the
        standard deviation of every component (1 = the fitted density; < 1 trades variety for
        typicality, as in Glow's sampling temperature).
        """
        n = checks.whole_number(n, "n", 1)
        seed = checks.seed(seed)
        checks.number(temperature, "temperature", 0)
        rng = np.random.default_rng([seed, 7])
        if labels is None:
            comps = rng.choice(self.n_components, size=n, p=self.weights)
        else:
            if not self.conditional:
                raise ParameterError("labels: this latent prior is unconditional; pass labels=None")
            lab = _class_labels(labels, n, self.classes, "prior components", "prior")
            comps = np.empty(n, np.int64)
            for c in np.unique(lab):
                pool = np.flatnonzero(self.component_labels == c)
                p = self.weights[pool] / self.weights[pool].sum()
                idx = np.flatnonzero(lab == c)
                comps[idx] = rng.choice(pool, size=len(idx), p=p)
        eps = rng.standard_normal((n, self.latent_dim))
        z = self.means[comps] + float(temperature) * np.einsum("nij,nj->ni", self._chol[comps], eps)
        return z.astype(np.float32)

    # ------------------------------------------------------------------ storage
    def to_bytes(self) -> bytes:
        """The prior as an ``.npz`` archive (arrays ``weights``, ``means``, ``covariances``, ``component_labels``)."""
        buf = io.BytesIO()
        np.savez(buf, weights=self.weights, means=self.means, covariances=self.covariances,
                 component_labels=self.component_labels)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "prior") -> "LatentPrior":
        """Read :meth:`to_bytes` output; :class:`BundleError` naming ``name`` if it is not a valid prior."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in _ARRAYS}
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise BundleError(f"{name}: corrupt latent prior ({type(exc).__name__}: {exc})") from None
        try:
            return cls(**arrays)
        except ParameterError as exc:
            raise BundleError(f"{name}: corrupt latent prior ({exc})") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_bytes` to ``path`` atomically."""
        from ..fileio import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            Path(tmp).write_bytes(self.to_bytes())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatentPrior":
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BundleError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        return cls.from_bytes(data, name=str(path))


class KernelDensity:
    """A Gaussian kernel density over training vectors, optionally per class: a draw is one training
    vector of the requested class, chosen uniformly, plus ``bandwidth`` times standard-normal noise.

    Where a parametric density blurs (a Gaussian mixture over the attacks of a class averages
    attacks of different pitches and speakers into one), the kernel keeps each training vector
    whole and adds only its noise; the bandwidth sets how far a draw strays from the vector it
    starts from. Stored like :class:`LatentPrior` (:meth:`to_bytes`, an ``.npz`` archive); the
    points are kept at float16 precision (a relative 5e-4, far finer than any bandwidth worth
    using), half the size of float32.

    Attributes
    ----------
    points : float32 ``(n, d)`` (float16 values; finite, so at most 65504 in magnitude).
    bandwidth : float32 ``(d,)``, >= 0, the noise's standard deviation per number.
    labels : int64 ``(n,)``, the class of each point, or None for an unconditional density.
    """

    def __init__(self, points: np.ndarray, bandwidth: Any, labels: np.ndarray | None = None):
        points = np.asarray(points, np.float16).astype(np.float32)  # the precision it is stored at
        if points.ndim != 2 or len(points) < 1 or not np.all(np.isfinite(points)):
            raise ParameterError(f"KernelDensity: expected finite points (n >= 1, d), got shape {points.shape}")
        bandwidth = np.broadcast_to(np.asarray(bandwidth, np.float32), points.shape[1:]).copy()
        if not (np.all(np.isfinite(bandwidth)) and np.all(bandwidth >= 0)):
            raise ParameterError("KernelDensity: the bandwidth must be finite numbers >= 0")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(points),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
                raise ParameterError(f"KernelDensity: labels must be {len(points)} class indices >= 0")
            labels = labels.astype(np.int64)
        self.points, self.bandwidth, self.labels = points, bandwidth, labels

    @property
    def latent_dim(self) -> int:
        return int(self.points.shape[1])

    @property
    def conditional(self) -> bool:
        return self.labels is not None

    @property
    def classes(self) -> tuple[int, ...]:
        """The class labels that have points (empty for an unconditional density)."""
        return () if self.labels is None else tuple(int(c) for c in np.unique(self.labels))

    def sample(self, n: int, labels: Any = None, *, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """Draw ``n`` vectors ``(n, d)`` float32 (deterministic for a ``seed``); ``labels`` ``(n,)``
        class indices of a conditional density (each draw starts from a point of its class);
        ``temperature`` scales the bandwidth."""
        n = checks.whole_number(n, "n", 1)
        rng = np.random.default_rng([checks.seed(seed), 7])
        checks.number(temperature, "temperature", 0)
        if labels is None or self.labels is None:
            idx = rng.integers(0, len(self.points), size=n)
        else:
            lab = _class_labels(labels, n, self.classes, "training vectors", "density")
            idx = np.empty(n, np.int64)
            for c in np.unique(lab):
                where = np.flatnonzero(lab == c)
                idx[where] = rng.choice(np.flatnonzero(self.labels == c), size=len(where))
        noise = rng.standard_normal((n, self.latent_dim)).astype(np.float32)
        return self.points[idx] + float(temperature) * self.bandwidth * noise

    def to_bytes(self) -> bytes:
        """The density as an ``.npz`` archive (``points`` float16, ``bandwidth``, and ``labels`` if conditional)."""
        buf = io.BytesIO()
        labels = {} if self.labels is None else {"labels": self.labels}
        np.savez(buf, points=self.points.astype(np.float16), bandwidth=self.bandwidth, **labels)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "kernel density") -> "KernelDensity":
        """Read :meth:`to_bytes` output; :class:`BundleError` naming ``name`` if it is not a valid density."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                points, bandwidth = archive["points"], archive["bandwidth"]
                labels = archive["labels"] if "labels" in archive.files else None
            return cls(points, bandwidth, labels)
        except (OSError, ValueError, KeyError, EOFError, ParameterError) as exc:
            raise BundleError(f"{name}: corrupt kernel density ({type(exc).__name__}: {exc})") from None
