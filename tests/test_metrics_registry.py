"""Metric registry, JSONL records, the ScaleInv plot and the built-in metrics on toy inputs."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infinitygan.metrics.plots import plot_scaleinv
from infinitygan.metrics.registry import (
    append_metric_jsonl,
    compute_metric,
    list_metrics,
    read_metric_jsonl,
    register_metric,
)
from infinitygan.metrics.stats import FeatureStats


class ToyExtractor:
    """Features [B, 12]: per-channel mean, std and two fixed random projections of a 4x4 pool."""

    cache_id = "toy/v1"

    def __init__(self) -> None:
        self.calls = 0
        self.proj = torch.randn(48, 6, generator=torch.Generator().manual_seed(0))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), pooled @ self.proj], dim=1)


def _reals(n: int = 40, size: int = 24, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=gen) * 1.6 - 0.8


def _replay(images: torch.Tensor):
    def make_fakes(n: int, batch: int) -> Iterator[torch.Tensor]:
        for start in range(0, n, batch):
            yield images[start : min(start + batch, n)]

    return make_fakes


def test_registry_lists_builtins_and_rejects_duplicates_and_unknowns() -> None:
    assert {"fid", "kid", "patch_fid", "scaleinv_fid", "swd", "diversity", "infinite_fid"} <= set(
        list_metrics()
    )
    with pytest.raises(ValueError, match="already registered"):
        register_metric("fid")(lambda: {})
    with pytest.raises(ValueError, match="unknown metric 'nope'.*scaleinv_fid"):
        compute_metric("nope")


def test_custom_metric_result_gets_name_and_timing() -> None:
    @register_metric("test_constant_metric")
    def constant(value: float) -> dict[str, float]:
        return {"value": value}

    result = compute_metric("test_constant_metric", value=2.5)
    assert result["metric"] == "test_constant_metric"
    assert result["value"] == 2.5
    assert result["seconds"] >= 0 and "T" in result["time"]


def test_jsonl_appends_lines_and_round_trips(tmp_path: Path) -> None:
    first = {"metric": "fid", "fid": 12.5, "scale": 2}
    second = {"metric": "fid", "fid": float("nan"), "per_level": np.array([1.0, 2.0]).tolist()}
    path = append_metric_jsonl(tmp_path / "run", first)
    assert append_metric_jsonl(tmp_path / "run", second) == path
    assert path.name == "metric-fid.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == first
    assert read_metric_jsonl(path)[1] == {"metric": "fid", "fid": None, "per_level": [1.0, 2.0]}
    with pytest.raises(ValueError, match="'metric' name"):
        append_metric_jsonl(tmp_path, {"fid": 1.0})


def test_plot_scaleinv_writes_a_png(tmp_path: Path) -> None:
    records = [
        {"metric": "scaleinv_fid", "scale": s, "fid": f, "mode": mode}
        for mode, fids in (("paper", [20, 40, 70]), ("clean", [18, 30, 45]))
        for s, f in zip((1, 2, 4), fids)
    ]
    out = plot_scaleinv(records + [{"scale": 8, "fid": None}], tmp_path / "plots" / "si.png")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 300
    assert [p.name for p in out.parent.iterdir()] == ["si.png"]
    with pytest.raises(ValueError, match="no records"):
        plot_scaleinv([{"scale": 1}], tmp_path / "x.png")


def test_fid_metric_is_zero_when_fakes_replay_the_reals(tmp_path: Path) -> None:
    reals, extractor = _reals(), ToyExtractor()
    result = compute_metric(
        "fid", make_fakes=_replay(reals), real=reals, extractor=extractor, num_fakes=40, batch=16
    )
    assert abs(result["fid"]) < 1e-8
    assert (result["num_fakes"], result["num_reals"]) == (40, 40)
    shifted = compute_metric(
        "fid", make_fakes=_replay(reals * 0.5), real=reals, extractor=extractor, num_fakes=40
    )
    assert shifted["fid"] > 0.1


def test_metrics_reuse_cached_real_statistics(tmp_path: Path) -> None:
    reals, extractor = _reals(), ToyExtractor()
    kwargs = dict(real=reals, extractor=extractor, num_fakes=20, batch=20, cache_dir=tmp_path)
    first = compute_metric("fid", make_fakes=_replay(reals * 0.9), **kwargs)
    calls = extractor.calls
    second = compute_metric("fid", make_fakes=_replay(reals * 0.9), **kwargs)
    assert extractor.calls - calls == 1  # only the 20 fakes, one batch
    assert second["fid"] == first["fid"]


def test_metric_reports_too_few_fakes() -> None:
    reals = _reals()
    with pytest.raises(ValueError, match="produced only 40 images"):
        compute_metric(
            "fid", make_fakes=_replay(reals), real=reals, extractor=ToyExtractor(), num_fakes=50
        )


def test_scaleinv_clean_at_scale_one_with_fakes_equal_to_reals_is_zero() -> None:
    # real_res 16, full_size 24: a 24-px fake covers the field of view of one 24-px real image
    # shrunk to 16 px; in clean mode both go through the same resize.
    reals = _reals(size=24)
    common = dict(
        make_fakes=_replay(reals),
        real=reals,
        extractor=ToyExtractor(),
        num_fakes=40,
        scale=1,
        real_res=16,
        full_size=24,
    )
    clean = compute_metric("scaleinv_fid", mode="clean", **common)
    assert abs(clean["fid"]) < 1e-8
    assert clean["request_size"] == 24
    paper = compute_metric("scaleinv_fid", mode="paper", **common)
    assert paper["fid"] > 1e-4  # LANCZOS reals vs bilinear fakes: the paper protocol's asymmetry


def test_fid_kid_and_infinite_fid_share_one_cache_entry(tmp_path: Path) -> None:
    reals, extractor = _reals(), ToyExtractor()
    common = dict(real=reals, extractor=extractor, num_fakes=20, batch=40, cache_dir=tmp_path)
    compute_metric("kid", make_fakes=_replay(reals), num_subsets=2, subset_size=10, **common)
    calls = extractor.calls
    compute_metric("fid", make_fakes=_replay(reals), **common)
    assert extractor.calls - calls == 1  # the fakes only; the reals came from kid's entry
    assert len(list(tmp_path.glob("real-stats-*.npz"))) == 1


def test_kid_patch_fid_swd_diversity_and_infinite_fid_run_on_toy_inputs() -> None:
    reals, extractor = _reals(), ToyExtractor()
    kid = compute_metric(
        "kid",
        make_fakes=_replay(reals.flip(-1) * 0.5),
        real=reals,
        extractor=extractor,
        num_fakes=40,
        num_subsets=10,
        subset_size=20,
    )
    assert kid["kid_mean"] > 0 and kid["subset_size"] == 20
    patch = compute_metric(
        "patch_fid",
        make_fakes=_replay(reals),
        real=reals,
        extractor=extractor,
        num_fakes=40,
        patch_size=12,
        patches_per_image=2,
    )
    assert patch["num_fake_patches"] == patch["num_real_patches"] == 80
    assert math.isfinite(patch["fid"]) and patch["fid"] >= -1e-9
    swd = compute_metric(
        "swd", make_fakes=_replay(reals), real=reals, num_fakes=40, nhoods_per_image=8
    )
    assert swd["swd_per_level"] == [0.0] and swd["resolutions"] == [[24, 24]]
    diversity = compute_metric(
        "diversity", make_fakes=_replay(reals), extractor=extractor, num_fakes=10
    )
    assert diversity["diversity"] > 0
    canvases = torch.rand(3, 3, 24, 24 * 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    infinite = compute_metric(
        "infinite_fid",
        make_fakes=_replay(canvases),
        real=FeatureStats.from_features(extractor(reals).double().numpy()),
        extractor=extractor,
        num_canvases=3,
        frame=24,
        bins=[0, 96, 192],
    )
    assert [b["num_frames"] for b in infinite["bins"]] == [12, 12]
