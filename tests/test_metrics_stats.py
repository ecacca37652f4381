"""FeatureStats, Frechet distance and KID: closed forms, invariants and torchmetrics agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infinitygan.metrics.stats import (
    FeatureStats,
    accumulate_stats,
    fid_from_stats,
    frechet_distance,
    frechet_distance_terms,
    kernel_inception_distance,
    polynomial_mmd2,
)


def _random_rotation(dim: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_frechet_matches_closed_form_for_diagonal_gaussians(method: str) -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    var1, var2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    value = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2), method=method)
    assert value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_frechet_closed_form_survives_a_common_rotation(method: str) -> None:
    # Rotating both Gaussians by the same orthogonal Q leaves the distance unchanged, and
    # Q diag(v) Q^T are full (commuting) covariances whose distance is still the diagonal formula.
    rng = np.random.default_rng(1)
    q = _random_rotation(8, rng)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    var1, var2 = rng.uniform(0.2, 2.0, 8), rng.uniform(0.2, 2.0, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    value = frechet_distance(
        q @ mu1, q @ np.diag(var1) @ q.T, q @ mu2, q @ np.diag(var2) @ q.T, method=method
    )
    assert value == pytest.approx(expected, rel=1e-8)


def test_frechet_of_identical_statistics_is_zero() -> None:
    rng = np.random.default_rng(2)
    features = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16))
    stats = FeatureStats.from_features(features)
    assert abs(fid_from_stats(stats, stats)) < 1e-8


def test_frechet_terms_split_mean_and_trace() -> None:
    result = frechet_distance_terms(np.zeros(2), np.eye(2), np.array([3.0, 4.0]), 4 * np.eye(2))
    assert result.mean_term == pytest.approx(25.0)
    assert result.trace_term == pytest.approx(2.0)  # 2 * (1 - 2)^2
    assert result.value == pytest.approx(27.0)


def test_frechet_handles_rank_deficient_covariances() -> None:
    rng = np.random.default_rng(3)
    a = FeatureStats.from_features(rng.normal(size=(5, 12)))  # rank 4 covariance in 12-D
    b = FeatureStats.from_features(rng.normal(size=(5, 12)))
    value = fid_from_stats(a, b)
    assert np.isfinite(value) and value > 0


def test_frechet_rejects_a_significant_imaginary_square_root() -> None:
    with pytest.raises(ValueError, match="imaginary component"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([-1.0, 1.0]), method="sqrtm")


@pytest.mark.parametrize("bad", ["sigma1", "sigma2"])
def test_frechet_eigh_rejects_a_covariance_that_is_not_psd(bad: str) -> None:
    good, wrong = np.eye(2), np.diag([-1.0, 1.0])
    sigmas = (wrong, good) if bad == "sigma1" else (good, wrong)
    with pytest.raises(ValueError, match=f"{bad}.* not positive semi-definite"):
        frechet_distance(np.zeros(2), sigmas[0], np.zeros(2), sigmas[1])


def test_frechet_rejects_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="method must be"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="svd")


@pytest.mark.parametrize("count", [20, 200])  # fewer and more samples than dimensions
def test_frechet_eigh_equals_the_sqrtm_reference(count: int) -> None:
    # Non-negative, correlated, offset features like Inception pool3 activations; the two
    # covariances do not commute, so this is not the closed-form case.
    rng = np.random.default_rng(6)
    mix = rng.normal(size=(64, 64))
    a = np.abs(rng.normal(size=(count, 64)) @ mix) + 0.5
    b = np.abs(rng.normal(loc=0.3, size=(count, 64)) @ mix)
    sa, sb = FeatureStats.from_features(a), FeatureStats.from_features(b)
    fast = frechet_distance(sa.mean, sa.cov, sb.mean, sb.cov)
    reference = frechet_distance(sa.mean, sa.cov, sb.mean, sb.cov, method="sqrtm")
    assert fast == pytest.approx(reference, rel=1e-6)
    assert fast != pytest.approx(frechet_distance(sa.mean, sa.cov, sa.mean, sb.cov), rel=1e-3)


def test_frechet_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="mismatched statistics"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def test_streaming_statistics_equal_batch_statistics() -> None:
    rng = np.random.default_rng(4)
    # A large common offset makes naive sum-of-squares accumulation lose precision.
    features = rng.normal(size=(1000, 7)) * rng.uniform(0.1, 5, 7) + 1e4
    stats = FeatureStats(7)
    start = 0
    for size in (1, 2, 97, 400, 500):
        stats.update(features[start : start + size])
        start += size
    assert stats.count == 1000
    np.testing.assert_allclose(stats.mean, features.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(stats.cov, np.cov(features, rowvar=False), rtol=1e-9, atol=1e-9)


def test_merged_statistics_equal_statistics_of_the_union() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(37, 5)), rng.normal(loc=2.0, size=(63, 5))
    left = FeatureStats.from_features(a, keep_features=True)
    left.merge(FeatureStats.from_features(b, keep_features=True))
    union = np.concatenate([a, b])
    np.testing.assert_allclose(left.mean, union.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(left.cov, np.cov(union, rowvar=False), rtol=1e-11)
    np.testing.assert_array_equal(left.features, union)
    np.testing.assert_allclose(
        accumulate_stats([a, b]).cov, np.cov(union, rowvar=False), rtol=1e-11
    )


def test_statistics_reject_bad_input() -> None:
    stats = FeatureStats(3)
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        stats.update(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        stats.update(np.array([[0.0, np.nan, 1.0]]))
    stats.update(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="at least 2 feature vectors"):
        _ = stats.cov
    with pytest.raises(ValueError, match="keep_features=True"):
        _ = stats.features


def test_kid_is_unbiased_for_equal_distributions() -> None:
    # Independent pairs of samples from one distribution: the estimates average to zero within
    # their standard error, while the biased (V-statistic) estimate is clearly positive.
    rng = np.random.default_rng(6)
    trials, m, d = 300, 20, 8
    unbiased, biased = [], []

    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a @ b.T / d + 1) ** 3

    for _ in range(trials):
        x, y = rng.normal(size=(m, d)), rng.normal(size=(m, d))
        unbiased.append(kernel_inception_distance(x, y, num_subsets=1, subset_size=m).mean)
        biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    standard_error = np.std(unbiased) / np.sqrt(trials)
    assert abs(np.mean(unbiased)) < 4 * standard_error
    assert np.mean(biased) > 10 * standard_error


def test_kid_grows_with_a_shift() -> None:
    rng = np.random.default_rng(10)
    real = rng.normal(size=(300, 16))
    results = [
        kernel_inception_distance(real, rng.normal(loc=shift, size=(300, 16)), 20, 100, seed=0)
        for shift in (0.0, 0.3, 1.0)
    ]
    assert results[0].mean < results[1].mean < results[2].mean
    assert results[2].mean > 10 * results[2].std
    assert (results[0].subset_size, results[0].num_subsets) == (100, 20)


def test_kid_is_seeded() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(100, 8)), rng.normal(size=(100, 8))
    first = kernel_inception_distance(a, b, num_subsets=5, subset_size=30, seed=3)
    again = kernel_inception_distance(a, b, num_subsets=5, subset_size=30, seed=3)
    other = kernel_inception_distance(a, b, num_subsets=5, subset_size=30, seed=4)
    assert first == again
    assert first.mean != other.mean


def test_polynomial_mmd_matches_an_explicit_double_loop() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (a @ b / 3 + 1) ** 3

    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert polynomial_mmd2(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


class _FixedFeatures(torch.nn.Module):
    """Returns a fixed feature row per image; the row index is encoded in the image's pixels."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)
        self.num_features = table.shape[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        index = images[:, 0, 0, 0].long() + 256 * images[:, 1, 0, 0].long()
        return self.table[index.clamp(max=self.table.shape[0] - 1)]


def _index_images(indices: range) -> torch.Tensor:
    images = torch.zeros(len(indices), 3, 4, 4, dtype=torch.uint8)
    for row, index in enumerate(indices):
        images[row, 0, 0, 0] = index % 256
        images[row, 1, 0, 0] = index // 256
    return images


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_fid_and_kid_equal_torchmetrics_on_the_same_features() -> None:
    pytest.importorskip(
        "torchmetrics.image.fid",
        reason="torchmetrics is not installed (pip install torchmetrics; needs no torchvision)",
    )
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    rng = np.random.default_rng(9)
    real = rng.normal(size=(120, 10))
    fake = rng.normal(loc=0.3, scale=1.2, size=(90, 10))
    table = torch.from_numpy(np.concatenate([real, fake])).to(torch.float64)
    real_images, fake_images = _index_images(range(120)), _index_images(range(120, 210))

    tm_fid = FrechetInceptionDistance(feature=_FixedFeatures(table), normalize=False)
    tm_fid.update(real_images, real=True)
    tm_fid.update(fake_images, real=False)
    ours = fid_from_stats(FeatureStats.from_features(real), FeatureStats.from_features(fake))
    assert float(tm_fid.compute()) == pytest.approx(ours, rel=1e-6)

    tm_kid = KernelInceptionDistance(
        feature=_FixedFeatures(table), subsets=1, subset_size=90, normalize=False
    )
    tm_kid.update(real_images[:90], real=True)
    tm_kid.update(fake_images, real=False)
    kid_mean, _ = tm_kid.compute()
    # One subset holding every sample: the permutation does not matter, so the values must agree.
    ours_kid = kernel_inception_distance(real[:90], fake, num_subsets=1, subset_size=90)
    assert float(kid_mean) == pytest.approx(ours_kid.mean, rel=1e-6)
