"""Streaming feature statistics, Frechet distance (FID) and kernel inception distance (KID).

FID (Heusel et al. 2017): ``|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` with unbiased
(``N - 1``) covariances, as pytorch-fid, StyleGAN and torchmetrics compute it. KID (Binkowski et al.
2018): the unbiased MMD^2 estimate with the cubic polynomial kernel ``(x.y / d + 1)^3``, averaged
over random subsets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.linalg

logger = logging.getLogger(__name__)


class FeatureStats:
    """Running float64 mean and covariance of feature vectors, mergeable across workers.

    Batches are combined with the pairwise update of Chan et al. (1979), so the result equals the
    statistics of all features stacked together (up to float64 rounding) whatever the batching.

    Args:
        dim: feature dimension ``D``.
        keep_features: also keep the raw features (needed by KID); costs ``8 N D`` bytes.
    """

    def __init__(self, dim: int, keep_features: bool = False) -> None:
        if dim <= 0:
            raise ValueError(f"feature dimension must be positive, got {dim}")
        self.dim = dim
        self.keep_features = keep_features
        self.count = 0
        self._mean = np.zeros(dim, dtype=np.float64)
        self._scatter = np.zeros((dim, dim), dtype=np.float64)  # sum of centred outer products
        self._batches: list[np.ndarray] = []

    @classmethod
    def from_features(cls, features: np.ndarray, keep_features: bool = False) -> FeatureStats:
        """Statistics of a ``[N, D]`` feature array."""
        features = np.asarray(features)
        if features.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {features.shape}")
        stats = cls(features.shape[1], keep_features=keep_features)
        stats.update(features)
        return stats

    @classmethod
    def from_moments(
        cls,
        mean: np.ndarray,
        cov: np.ndarray,
        count: int,
        features: np.ndarray | None = None,
    ) -> FeatureStats:
        """Rebuild statistics from a mean ``[D]``, an unbiased covariance ``[D, D]`` and ``N``.

        ``features`` ``[N, D]``, if given, are kept as the raw features (they are not re-added to
        the moments).
        """
        mean = np.asarray(mean, dtype=np.float64)
        cov = np.asarray(cov, dtype=np.float64)
        if mean.ndim != 1 or cov.shape != (mean.shape[0], mean.shape[0]):
            raise ValueError(f"mean [D] and cov [D, D] expected, got {mean.shape} and {cov.shape}")
        stats = cls(mean.shape[0], keep_features=features is not None)
        stats.count = int(count)
        stats._mean = mean.copy()
        stats._scatter = cov * max(int(count) - 1, 0)
        if features is not None:
            features = np.asarray(features, dtype=np.float64)
            if features.shape != (stats.count, stats.dim):
                raise ValueError(
                    f"features must be [{stats.count}, {stats.dim}], got {features.shape}"
                )
            stats._batches = [features]
        return stats

    def update(self, features: np.ndarray) -> None:
        """Add a batch of features ``[B, D]`` (any float dtype; accumulated in float64)."""
        batch = np.asarray(features, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[1] != self.dim:
            raise ValueError(f"features must be [B, {self.dim}], got shape {batch.shape}")
        if batch.shape[0] == 0:
            return
        if not np.all(np.isfinite(batch)):
            raise ValueError("features contain NaN or infinity; check the images and extractor")
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        self._combine(batch.shape[0], batch_mean, centred.T @ centred)
        if self.keep_features:
            self._batches.append(batch)

    def merge(self, other: FeatureStats) -> None:
        """Add the statistics (and kept features) of ``other`` to these."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge {other.dim}-d statistics into {self.dim}-d ones")
        if other.count == 0:
            return
        self._combine(other.count, other._mean, other._scatter)
        if self.keep_features:
            if not other.keep_features:
                raise ValueError("cannot merge statistics without kept features into ones with")
            self._batches.extend(other._batches)

    def _combine(self, count: int, mean: np.ndarray, scatter: np.ndarray) -> None:
        total = self.count + count
        delta = mean - self._mean
        self._scatter += scatter + np.outer(delta, delta) * (self.count * count / total)
        self._mean += delta * (count / total)
        self.count = total

    @property
    def mean(self) -> np.ndarray:
        """Mean ``[D]`` float64."""
        self._require(1)
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance ``[D, D]`` float64 (divides by ``N - 1``)."""
        self._require(2)
        return self._scatter / (self.count - 1)

    @property
    def features(self) -> np.ndarray:
        """All features seen, ``[N, D]`` float64 (only with ``keep_features=True``)."""
        if not self.keep_features:
            raise ValueError("features were not kept; create FeatureStats(dim, keep_features=True)")
        if len(self._batches) > 1:
            self._batches = [np.concatenate(self._batches, axis=0)]
        return self._batches[0] if self._batches else np.zeros((0, self.dim))

    def _require(self, minimum: int) -> None:
        if self.count < minimum:
            raise ValueError(
                f"statistics need at least {minimum} feature vectors, have {self.count}"
            )


def accumulate_stats(
    batches: Iterable[np.ndarray], dim: int | None = None, keep_features: bool = False
) -> FeatureStats:
    """Build :class:`FeatureStats` from an iterable of ``[B, D]`` feature batches.

    Raises:
        ValueError: if there are no batches and ``dim`` is not given.
    """
    stats: FeatureStats | None = FeatureStats(dim, keep_features) if dim is not None else None
    for batch in batches:
        if stats is None:
            stats = FeatureStats(np.asarray(batch).shape[1], keep_features)
        stats.update(batch)
    if stats is None:
        raise ValueError("no feature batches given")
    return stats


@dataclass(frozen=True)
class FrechetResult:
    """Frechet distance with its parts: ``value = mean_term + trace_term``."""

    value: float
    mean_term: float
    trace_term: float
    eps_used: float


def frechet_distance_terms(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
    imag_atol: float = 1e-3,
    method: str = "eigh",
) -> FrechetResult:
    """Frechet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``, with its parts.

    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))``. The last trace is
    computed one of two ways, which agree to about 1e-7 relative on Inception statistics:

    * ``"eigh"`` (default): with ``S = sigma1^(1/2)`` from a symmetric eigendecomposition,
      ``sigma1 sigma2`` is similar to the symmetric ``S sigma2 S``, so the trace is the sum of
      the square roots of its eigenvalues (clipped at 0). About 5x faster than ``"sqrtm"`` for
      2048-D features (8 s against 40 s on one thread of the 2-core EPYC machine) and well defined
      for singular covariances (fewer samples than dimensions).
    * ``"sqrtm"``: ``scipy.linalg.sqrtm(sigma1 @ sigma2)``, as pytorch-fid and the official
      code do. If that square root is not finite (singular product, e.g. fewer samples than
      dimensions), ``eps * I`` is added to both covariances and it is retried. A complex result
      is accepted only if its diagonal imaginary part is below ``imag_atol``, and then the real
      part is used.

    Args:
        mu1: mean ``[D]``.
        sigma1: covariance ``[D, D]``.
        mu2: mean ``[D]``.
        sigma2: covariance ``[D, D]``.
        eps: diagonal offset for the ``"sqrtm"`` retry.
        imag_atol: largest tolerated imaginary component on the diagonal of the square root
            (``"sqrtm"``).
        method: ``"eigh"`` or ``"sqrtm"``.

    Raises:
        ValueError: on shape mismatch, an unknown method, a covariance that is not positive
            semi-definite (``"eigh"``) or a significant imaginary component (``"sqrtm"``).
    """
    if method not in ("eigh", "sqrtm"):
        raise ValueError(f"method must be 'eigh' or 'sqrtm', not {method!r}")
    mu1, mu2 = (
        np.atleast_1d(np.asarray(mu1, np.float64)),
        np.atleast_1d(np.asarray(mu2, np.float64)),
    )
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            "mismatched statistics: "
            f"mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, sigma2 {sigma2.shape}"
        )
    diff = mu1 - mu2
    if method == "eigh":
        trace_sqrt, eps_used = _trace_sqrt_product_eigh(sigma1, sigma2), 0.0
    else:
        trace_sqrt, eps_used = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps, imag_atol)
    mean_term = float(diff @ diff)
    trace_term = float(np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return FrechetResult(mean_term + trace_term, mean_term, trace_term, eps_used)


def _check_psd(eigenvalues: np.ndarray, what: str, rtol: float = 1e-6) -> None:
    scale = max(float(np.max(np.abs(eigenvalues))), np.finfo(np.float64).tiny)
    lowest = float(np.min(eigenvalues))
    if lowest < -rtol * scale:
        raise ValueError(
            f"{what} is not positive semi-definite (eigenvalue {lowest:.3g}, largest "
            f"{scale:.3g}); pass covariance matrices of features"
        )


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((sigma1 sigma2)^(1/2))`` via ``eigvalsh(S sigma2 S)`` with ``S = sigma1^(1/2)``."""
    w, v = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    _check_psd(w, "sigma1")
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    product = root @ sigma2 @ root
    lam = np.linalg.eigvalsh((product + product.T) / 2)
    _check_psd(lam, "sigma2 (on the span of sigma1)")
    return float(np.sqrt(np.clip(lam, 0.0, None)).sum())


def _trace_sqrt_product_sqrtm(
    sigma1: np.ndarray, sigma2: np.ndarray, eps: float, imag_atol: float
) -> tuple[float, float]:
    """``tr(sqrtm(sigma1 @ sigma2))`` as pytorch-fid computes it, and the offset it needed."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    eps_used = 0.0
    if not np.all(np.isfinite(covmean)):
        logger.warning("sqrtm(sigma1 @ sigma2) is singular; adding %g to the diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
        eps_used = eps
    if np.iscomplexobj(covmean):
        largest = float(np.max(np.abs(np.diagonal(covmean).imag)))
        if largest > imag_atol:
            raise ValueError(
                f"matrix square root has an imaginary component of {largest:.3g} on the diagonal; "
                "the covariances are badly conditioned (use more samples)"
            )
        covmean = covmean.real
    return float(np.trace(covmean)), eps_used


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
    method: str = "eigh",
) -> float:
    """Frechet distance between two Gaussians (FID when given Inception statistics).

    See :func:`frechet_distance_terms` for the numerics and ``method``.
    """
    return frechet_distance_terms(mu1, sigma1, mu2, sigma2, eps=eps, method=method).value


def fid_from_stats(real: FeatureStats, fake: FeatureStats) -> float:
    """FID between two :class:`FeatureStats`."""
    return frechet_distance(real.mean, real.cov, fake.mean, fake.cov)


@dataclass(frozen=True)
class KIDResult:
    """KID over subsets: mean and (population) standard deviation of the per-subset MMD^2."""

    mean: float
    std: float
    subset_size: int
    num_subsets: int


def polynomial_mmd2(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> float:
    """Unbiased MMD^2 with kernel ``(x.y / d + coef)^degree`` between equal-size sets ``[m, d]``."""
    m, d = x.shape
    if y.shape != (m, d):
        raise ValueError(f"sets must have equal shapes, got {x.shape} and {y.shape}")
    if m < 2:
        raise ValueError("the unbiased MMD needs at least 2 samples per set")
    k_xx = (x @ x.T / d + coef) ** degree
    k_yy = (y @ y.T / d + coef) ** degree
    k_xy = (x @ y.T / d + coef) ** degree
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KIDResult:
    """KID: unbiased polynomial-kernel MMD^2, mean and std over random subsets.

    Each subset draws ``m = min(subset_size, N_real, N_fake)`` rows without replacement from each
    set, using ``numpy.random.default_rng(seed)``.

    Args:
        real_features: ``[N_real, D]``.
        fake_features: ``[N_fake, D]``.
        num_subsets: number of subsets averaged.
        subset_size: rows per subset (capped by the set sizes).
        seed: seed of the subset draws.

    Raises:
        ValueError: on mismatched dimensions, fewer than 2 rows, or non-positive ``num_subsets``.
    """
    real = np.asarray(real_features, np.float64)
    fake = np.asarray(fake_features, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be [N, D] with equal D, got {real.shape}, {fake.shape}")
    if num_subsets <= 0:
        raise ValueError(f"num_subsets must be positive, got {num_subsets}")
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 feature vectors per set, got subset size {m}")
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            polynomial_mmd2(
                real[rng.choice(real.shape[0], m, replace=False)],
                fake[rng.choice(fake.shape[0], m, replace=False)],
            )
            for _ in range(num_subsets)
        ]
    )
    return KIDResult(float(values.mean()), float(values.std()), m, num_subsets)
