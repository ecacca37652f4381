"""The official preprocessing, labels, determinism, the resumable and rank-sharded loader."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infinitygan.data import (
    DataConfig,
    PatchDraw,
    StreamBatchSampler,
    center_square,
    crop_patch,
    draw_patch,
    label_per_px,
    make_loader,
    open_dataset,
    stream_keys,
    to_full_image,
    to_tensor,
    vertical_label,
)

PAPER = DataConfig()
SMALL = DataConfig(patch_size=24, full_size=40, pre_resize=32)


def test_config_defaults_and_validation() -> None:
    assert (PAPER.patch_size, PAPER.full_size, PAPER.pre_resize) == (101, 197, 128)
    assert PAPER.max_offset == 96
    with pytest.raises(ValueError, match="full_size"):
        DataConfig(patch_size=64, full_size=32)
    with pytest.raises(ValueError, match="patch_size"):
        DataConfig(patch_size=0)
    with pytest.raises(ValueError, match="pre_resize"):
        DataConfig(pre_resize=0)


def test_labels_span_minus_one_to_plus_one() -> None:
    assert vertical_label(0, PAPER) == -1.0
    assert vertical_label(96, PAPER) == 1.0
    assert vertical_label(48, PAPER) == 0.0
    assert vertical_label(24, PAPER) == -0.5
    with pytest.raises(ValueError, match="outside"):
        vertical_label(97, PAPER)
    assert vertical_label(0, DataConfig(patch_size=64, full_size=64, pre_resize=None)) == 0.0


def test_offsets_cover_every_valid_position_including_the_last() -> None:
    config = DataConfig(patch_size=11, full_size=20, pre_resize=None)  # offsets 0..9
    draws = [draw_patch(0, 0, i, config) for i in range(600)]
    assert {d.y for d in draws} == set(range(10))
    assert {d.x for d in draws} == set(range(10))
    flips = sum(d.flip for d in draws)
    assert 240 < flips < 360
    assert draw_patch(7, 3, 11, config) == draw_patch(7, 3, 11, config)
    assert not any(draw_patch(0, 0, i, DataConfig(use_hflip=False)).flip for i in range(50))


def test_full_image_is_centre_square_then_lanczos_resizes() -> None:
    rng = np.random.default_rng(0)
    wide = Image.fromarray(rng.integers(0, 256, (150, 230, 3), dtype=np.uint8))
    square = center_square(wide)
    assert square.size == (150, 150)
    assert np.array_equal(np.asarray(square), np.asarray(wide)[:, 40:190])
    tall = Image.fromarray(rng.integers(0, 256, (231, 100, 3), dtype=np.uint8))
    assert np.array_equal(np.asarray(center_square(tall)), np.asarray(tall)[65:165])

    full = to_full_image(wide, PAPER)
    expected = square.resize((128, 128), Image.Resampling.LANCZOS).resize(
        (197, 197), Image.Resampling.LANCZOS
    )
    assert full.shape == (197, 197, 3) and full.dtype == np.uint8
    assert np.array_equal(full, np.asarray(expected))
    direct = to_full_image(wide, DataConfig(pre_resize=None))
    assert np.array_equal(direct, np.asarray(square.resize((197, 197), Image.Resampling.LANCZOS)))


def test_crop_flip_and_tensor_range() -> None:
    full = np.arange(40 * 40 * 3, dtype=np.int64).reshape(40, 40, 3).astype(np.uint8)
    patch = crop_patch(full, PatchDraw(flip=False, y=3, x=5), SMALL)
    assert np.array_equal(patch, full[3:27, 5:29])
    flipped = crop_patch(full, PatchDraw(flip=True, y=3, x=5), SMALL)
    assert np.array_equal(flipped, full[:, ::-1][3:27, 5:29])
    tensor = to_tensor(np.array([[[0, 255, 127]]], np.uint8))
    assert tensor.shape == (3, 1, 1) and tensor.dtype == torch.float32
    assert tensor.flatten().tolist() == pytest.approx([-1.0, 1.0, 127 / 127.5 - 1])


def test_label_matches_the_crop_position(tmp_path: Path) -> None:
    """Rows of a known vertical gradient reveal where each patch was cut."""
    config = DataConfig(patch_size=33, full_size=64, pre_resize=None)
    rows = np.arange(64, dtype=np.uint8) * 4  # row r has value 4 r
    image = np.repeat(np.repeat(rows[:, None, None], 64, axis=1), 3, axis=2)
    image[..., 1] = np.arange(64, dtype=np.uint8)[None, :] * 4  # green encodes the column
    (tmp_path / "g").mkdir()
    Image.fromarray(image).save(tmp_path / "g" / "gradient.png")
    dataset = open_dataset(str(tmp_path / "g"), config, seed=1)
    seen = set()
    for epoch in range(40):
        patch, label = dataset[(epoch, 0)]
        pixels = np.round((patch.numpy() + 1) * 127.5).astype(int)
        y = pixels[0, 0, 0] // 4
        assert np.array_equal(pixels[0, :, 0] // 4, np.arange(y, y + 33))
        assert float(label) == pytest.approx(2 * y / 31 - 1)
        draw = draw_patch(1, epoch, 0, config)
        assert y == draw.y
        cols = pixels[1, 0] // 4
        step = -1 if draw.flip else 1
        assert np.array_equal(np.diff(cols), np.full(32, step))
        seen.add(y)
    assert len(seen) > 10


# ------------------------------------------------------------------------------------------
# loader


@pytest.fixture(scope="module")
def zip_dataset_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("loader")
    rng = np.random.default_rng(2)
    target = base / "seven.zip"
    with zipfile.ZipFile(target, "w") as zf:
        for i in range(7):
            image = Image.fromarray(rng.integers(0, 256, (50 + i, 60, 3), dtype=np.uint8))
            path = base / f"{i}.png"
            image.save(path)
            zf.write(path, f"img/{i}.png")
    return target


def _batches(stream, n: int) -> list[tuple[torch.Tensor, ...]]:
    return [tuple(next(stream)) for _ in range(n)]


def test_batches_have_the_contract_shapes(zip_dataset_path: Path) -> None:
    dataset = open_dataset(str(zip_dataset_path), SMALL, seed=0)
    stream = make_loader(dataset, 3, seed=0)
    patches, labels, slopes = next(stream)
    assert torch.equal(slopes, torch.full((3,), label_per_px(SMALL)))
    assert patches.shape == (3, 3, 24, 24) and patches.dtype == torch.float32
    assert labels.shape == (3,) and labels.dtype == torch.float32
    assert patches.min() >= -1 and patches.max() <= 1
    assert labels.abs().max() <= 1
    assert stream.step == 1
    assert dataset.full_image(2).shape == (3, 40, 40)
    assert torch.equal(dataset.center_patch(2), dataset.full_image(2)[:, 8:32, 8:32])


def test_workers_do_not_change_the_stream(zip_dataset_path: Path) -> None:
    dataset = open_dataset(str(zip_dataset_path), SMALL, seed=4)
    rng_state = torch.get_rng_state()
    serial = _batches(make_loader(dataset, 4, seed=9, num_workers=0), 5)
    stream = make_loader(dataset, 4, seed=9, num_workers=2)
    try:
        parallel = _batches(stream, 5)
    finally:
        stream.close()
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global RNG is left alone
    for (p0, l0, s0), (p1, l1, s1) in zip(serial, parallel, strict=True):
        assert torch.equal(p0, p1) and torch.equal(l0, l1) and torch.equal(s0, s1)


def test_restart_at_step_k_continues_the_same_sequence(zip_dataset_path: Path) -> None:
    dataset = open_dataset(str(zip_dataset_path), SMALL, seed=4)
    full = _batches(make_loader(dataset, 3, seed=1), 8)  # 24 samples: crosses 3 epochs of 7
    resumed_stream = make_loader(dataset, 3, seed=1, start_step=5)
    resumed = _batches(resumed_stream, 3)
    assert resumed_stream.step == 8
    for (p0, l0, s0), (p1, l1, s1) in zip(full[5:], resumed, strict=True):
        assert torch.equal(p0, p1) and torch.equal(l0, l1) and torch.equal(s0, s1)
    other_seed = _batches(make_loader(dataset, 3, seed=2), 1)
    assert not torch.equal(other_seed[0][0], full[0][0])


def test_stream_visits_every_image_once_per_epoch() -> None:
    keys = stream_keys(7, seed=3, start=0, count=21)
    for epoch in range(3):
        chunk = keys[7 * epoch : 7 * epoch + 7]
        assert {e for e, _ in chunk} == {epoch}
        assert sorted(i for _, i in chunk) == list(range(7))
    assert [i for _, i in keys[:7]] != [i for _, i in keys[7:14]]  # reshuffled per epoch


def test_ranks_are_disjoint_and_cover_the_single_process_batch(zip_dataset_path: Path) -> None:
    n, batch, world = 50, 4, 3
    samplers = [
        StreamBatchSampler(n, batch, seed=0, rank=r, world_size=world) for r in range(world)
    ]
    single = StreamBatchSampler(n, batch * world, seed=0)
    seen: list[tuple[int, int]] = []
    for step in range(4):  # 48 samples: all within epoch 0
        per_rank = [s.keys_for_step(step) for s in samplers]
        assert sum(per_rank, []) == single.keys_for_step(step)
        seen.extend(sum(per_rank, []))
    assert len(set(seen)) == len(seen) == 48

    dataset = open_dataset(str(zip_dataset_path), SMALL, seed=0)
    parts = [
        next(make_loader(dataset, 2, seed=5, rank=r, world_size=2, start_step=1)) for r in range(2)
    ]
    whole = next(make_loader(dataset, 4, seed=5, start_step=1))
    assert torch.equal(torch.cat([p.patches for p in parts]), whole.patches)
    assert torch.equal(torch.cat([p.labels for p in parts]), whole.labels)


def test_loader_rejects_bad_arguments(zip_dataset_path: Path) -> None:
    dataset = open_dataset(str(zip_dataset_path), SMALL, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(dataset, 0, seed=0)
    with pytest.raises(ValueError, match="rank"):
        make_loader(dataset, 2, seed=0, rank=2, world_size=2)
    with pytest.raises(ValueError, match="start_step"):
        make_loader(dataset, 2, seed=0, start_step=-1)


def test_cache_returns_the_same_full_images(zip_dataset_path: Path) -> None:
    cached = open_dataset(str(zip_dataset_path), SMALL, seed=0)
    uncached = open_dataset(str(zip_dataset_path), SMALL, seed=0, cache_bytes=0)
    assert cached.use_cache and not uncached.use_cache
    for key in [(0, 3), (1, 3), (0, 6)]:
        assert torch.equal(cached[key][0], uncached[key][0])
    assert len(cached._cache) == 2


def test_jpeg_draft_decoding_stays_close(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    photo = Image.fromarray(coarse).resize((1200, 900), Image.Resampling.BICUBIC)
    (tmp_path / "p").mkdir()
    photo.save(tmp_path / "p" / "big.jpg", quality=95)
    exact = open_dataset(str(tmp_path / "p"), PAPER, seed=0)
    fast = open_dataset(str(tmp_path / "p"), PAPER, seed=0, use_jpeg_draft=True)
    diff = (exact.full_image(0) - fast.full_image(0)).abs() * 127.5
    assert float(diff.mean()) < 1.5
