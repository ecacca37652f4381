"""The evaluation gets every number from the metric registry, and the registry's numbers are the
metrics' definitions: each record of ``evaluate`` equals the metric computed directly (numpy and
scipy formulas on the same images and features) for a fixed tiny input. Also: the registry's
precomputed-fakes path, its seams metric, and scripts/eval_bundled_model.py on the same path."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

import toy_features
from infinitygan import metrics as ev
from infinitygan.checkpoint import build_generator
from infinitygan.metrics import (
    FeatureStats,
    compute_metric,
    psnr,
    random_patches,
    scaleinv_prepare,
    scaleinv_prepare_real,
    seam_energy_ratio,
    sliced_wasserstein_distance,
    tile_consistency,
    to_uint8,
)

N = 16  # more images than feature dimensions (12): full-rank covariances
SEED = 3
REPO = Path(__file__).resolve().parents[1]


class ToyFeatures(toy_features.ToyFeatures):
    cache_id = "test-toy-features/protocols"


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def model() -> ev.EvalModel:
    """The small landscapes preset (53-px patches, 101-px full images), untrained."""
    return ev.EvalModel(build_generator("landscapes-cpu", seed=0), spec="random:landscapes-cpu")


def _features(images: torch.Tensor) -> np.ndarray:
    return ToyFeatures()(images).double().numpy()


def _fid(a: np.ndarray, b: np.ndarray) -> float:
    """The Frechet distance of the two feature sets' Gaussians, with scipy's matrix root."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def _mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 with KID's kernel (x.y / d + 1)^3 over all rows."""
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    m, n = len(x), len(y)
    within = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (
        n * (n - 1)
    )
    return float(within - 2 * kxy.mean())


def _reals(model: ev.EvalModel, size: int, pre_resize: int | None) -> torch.Tensor:
    reals = ev.open_real_images(
        "landscapes", size, N, pre_resize=pre_resize, patch_size=model.patch_size
    )
    return torch.cat(list(reals.source()))


def _evaluate(model: ev.EvalModel, metrics: str, **options) -> dict[str, dict]:
    records = ev.evaluate(
        model,
        "landscapes",
        ev.parse_metrics(metrics),
        extractor=ToyFeatures(),
        options=ev.EvalOptions(num=N, seed=SEED, **options),
    )
    return {(r["metric"], r.get("mode")): r for r in records}


def test_full_image_records_equal_the_metrics_computed_directly(model):
    records = _evaluate(model, "fid,kid,diversity,swd", batch=5)
    fakes = torch.stack([model.full_image(SEED + i) for i in range(N)])
    reals = _reals(model, model.full_size, model.config.pre_resize)
    fake_f, real_f = _features(fakes), _features(reals)

    assert records["fid", None]["fid"] == pytest.approx(_fid(real_f, fake_f), rel=1e-6)
    # min(1000, N) = N rows per KID subset: every subset is the whole set, so every subset's
    # MMD^2 is the full-set value and their spread is zero.
    kid = records["kid", None]
    assert kid["subset_size"] == N
    assert kid["kid_mean"] == pytest.approx(_mmd2(real_f, fake_f), rel=1e-6, abs=1e-9)
    assert kid["kid_std"] == pytest.approx(0, abs=1e-9)
    pairs = scipy.spatial.distance.pdist(fake_f)
    # float32 features from batches of 5 against one batch: CPU kernels chosen by batch size
    # (seen on AMD EPYC) round differently, ~1e-8 relative.
    assert records["diversity", None]["diversity"] == pytest.approx(pairs.mean(), rel=1e-6)
    swd = sliced_wasserstein_distance(reals, to_uint8(fakes), seed=SEED)
    assert records["swd", None]["swd_mean"] == swd.mean
    assert records["swd", None]["swd_per_level"] == list(swd.per_level)
    for record in records.values():
        assert record["num_fakes"] == N and record["seconds"] >= 0


def test_patch_fid_record_equals_patch_fid_computed_directly(model):
    # One batch of N: the reals' crop offsets are then drawn in one call, as below.
    (record,) = _evaluate(model, "patch-fid", batch=N).values()
    p = model.patch_size
    fakes = torch.stack([model.patch(SEED + i, i) for i in range(N)])
    assert fakes.shape == (N, 3, p, p)
    full = _reals(model, model.full_size, model.config.pre_resize)
    reals = random_patches(full, p, 1, torch.Generator().manual_seed(SEED))
    assert record["fid"] == pytest.approx(_fid(_features(reals), _features(fakes)), rel=1e-6)
    assert (record["patch_size"], record["num_fakes"], record["num_reals"]) == (p, N, N)


def test_scaleinv_records_equal_scaleinv_fid_computed_directly(model):
    records = _evaluate(model, "scaleinv-fid@2", batch=6, modes=("paper", "clean"))
    images = torch.stack([model.scaleinv_image(SEED + i, 2) for i in range(N)])
    full = _reals(model, model.real_res, None)
    for mode in ("paper", "clean"):
        fakes = scaleinv_prepare(images, 2, model.real_res, model.full_size, mode)
        reals = scaleinv_prepare_real(full, model.real_res, mode)
        expected = _fid(_features(reals), _features(fakes))
        assert records["scaleinv_fid", mode]["fid"] == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------- the registry


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, 20, 20, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _replay(images: torch.Tensor):
    def make_fakes(n: int, batch: int):
        for start in range(0, n, batch):
            yield images[start : min(start + batch, n)]

    return make_fakes


def test_precomputed_fake_statistics_give_the_same_numbers():
    reals, fakes, extractor = _images(20, 0), _images(20, 1), ToyFeatures()
    stats = FeatureStats.from_features(_features(fakes), keep_features=True)
    for name, extra in (("fid", {}), ("kid", {"subset_size": 10}), ("diversity", {})):
        if name != "diversity":
            extra = {**extra, "real": reals}
        by_images = compute_metric(
            name, make_fakes=_replay(fakes), num_fakes=20, extractor=extractor, batch=7, **extra
        )
        by_stats = compute_metric(name, make_fakes=stats, extractor=extractor, **extra)
        for key, value in by_images.items():
            if isinstance(value, float) and key != "seconds":
                # float32 features in batches of 7 vs 20: ~1e-8 relative on some CPUs
                assert by_stats[key] == pytest.approx(value, rel=1e-6), (name, key)
            elif key not in ("seconds", "time"):
                assert by_stats[key] == value, (name, key)


def test_precomputed_fake_statistics_are_checked():
    reals, extractor = _images(20, 0), ToyFeatures()
    stats = FeatureStats.from_features(_features(_images(20, 1)))
    with pytest.raises(ValueError, match="num_fakes=19 but the given fake statistics hold 20"):
        compute_metric("fid", make_fakes=stats, num_fakes=19, real=reals, extractor=extractor)
    with pytest.raises(ValueError, match="raw fake features"):
        compute_metric("kid", make_fakes=stats, real=reals, extractor=extractor)
    with pytest.raises(ValueError, match="num_fakes is required"):
        compute_metric("fid", make_fakes=_replay(_images(4, 2)), real=reals, extractor=extractor)


def test_seams_metric_equals_the_seam_functions():
    whole = [_images(1, s)[0] for s in range(3)]
    tiled = [w + 1e-3 * _images(1, 10 + i)[0] for i, w in enumerate(whole)]

    def make_pairs(n: int):
        yield from zip(tiled[:n], whole[:n])

    record = compute_metric("seams", make_pairs=make_pairs, num_canvases=3, tile=8)
    assert record["max_abs_diff"] == max(tile_consistency(t, w) for t, w in zip(tiled, whole))
    assert record["min_psnr"] == min(psnr(t, w) for t, w in zip(tiled, whole))
    ratios = [seam_energy_ratio(t, 8) for t in tiled]
    assert record["seam_energy_ratio"] == pytest.approx(float(np.mean(ratios)), rel=1e-12)
    assert (record["tile_size"], record["num_fakes"]) == (8, 3)
    with pytest.raises(ValueError, match="produced 2 pairs"):
        compute_metric("seams", make_pairs=lambda n: make_pairs(2), num_canvases=3, tile=8)


# ------------------------------------------------------------------------- the bundled script


def test_eval_bundled_model_script_reports_the_eval_numbers(tmp_path):
    path = REPO / "scripts" / "eval_bundled_model.py"
    spec = importlib.util.spec_from_file_location("eval_bundled_model", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    previous = ev.set_feature_extractor_factory(lambda inception, device: ToyFeatures())
    try:
        out = tmp_path / "eval.json"
        argv = ["random:landscapes-cpu:0", "--num", "6", "--seed", "2", "--scales", "1"]
        argv += ["--floor", "--out", str(out), "--records", str(tmp_path)]
        assert script.main(argv) == json.loads(out.read_text())
        assert torch.is_grad_enabled()  # the script leaves the autograd mode as it found it
        model, _ = ev.load_eval_model("random:landscapes-cpu:0")
        records = ev.evaluate(
            model,
            "landscapes",
            ev.parse_metrics("patch-fid,scaleinv-fid@1"),
            extractor=ToyFeatures(),
            options=ev.EvalOptions(num=6, seed=2),
        )
    finally:
        ev.set_feature_extractor_factory(previous)
    results = json.loads(out.read_text())
    summary = results["random:landscapes-cpu:0"]
    assert summary["patch_fid"] == records[0]["fid"]
    assert summary["scaleinv_fid@1"] == records[1]["fid"]
    assert (summary["num_fakes"], summary["num_reals"]) == (6, 6)
    assert 0 <= results["reals"]["patch_fid"] < summary["patch_fid"]
    saved = json.loads((tmp_path / "metric-patch_fid.jsonl").read_text())
    assert saved["fid"] == summary["patch_fid"]
