"""Explorer tile logic without a server: descriptions, pyramid, caches and the job scheduler."""

from __future__ import annotations

import base64
import json
import threading
import time

import numpy as np
import pytest
import torch

from infinitygan.applications.description import Anchor, CanvasDescription, Edit
from infinitygan.applications.scene import render_region
from infinitygan.canvas import generate_region
from infinitygan.imageio import to_uint8
from infinitygan.web.description import (
    COORD_LIMIT,
    MAX_DESC_CHARS,
    MAX_DESC_DEPTH,
    MAX_EDITS,
    SEED_LIMIT,
    DescriptionError,
    check_seed,
    encode_extras,
    extras,
    extras_id,
    json_depth,
    parse_description,
)
from infinitygan.web.scheduler import QueueFull, Scheduler
from infinitygan.web.tiles import (
    TILE_SIZE,
    Cancelled,
    DiskCache,
    MemoryCache,
    TileKey,
    TileStore,
    decode_png,
    downsample2x,
    encode_png,
    tile_index_limit,
)


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


# --------------------------------------------------------------------------------------------
# Descriptions


def test_plain_description_round_trip():
    d = parse_description(7, None)
    assert d == CanvasDescription(seed=7) and d.is_plain
    assert parse_description(7, "") == d
    assert encode_extras(d) == "" and extras_id(d) == "plain"


def test_description_with_anchors_and_edits_round_trips():
    d = CanvasDescription(
        seed=-3,
        anchors=(Anchor(y=0, x=500, seed=9), Anchor(y=-20, x=-4000, seed=1)),
        edits=(Edit(top=-10, left=30, height=64, width=128, what="style", seed=5),),
        blend=31,
        blend_kernel="gaussian",
    )
    text = encode_extras(d)
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    back = parse_description(-3, text)
    assert back == d
    assert extras_id(back) == extras_id(d) != "plain"
    assert len(extras_id(d)) == 16 and extras_id(d).isalnum()
    assert extras_id(CanvasDescription(seed=-3, anchors=d.anchors[:1])) != extras_id(d)
    # Defaults are left out of the wire format; key order does not matter.
    assert extras(CanvasDescription(seed=0, anchors=d.anchors)) == {
        "anchors": [{"y": 0, "x": 500, "seed": 9}, {"y": -20, "x": -4000, "seed": 1}]
    }
    edit = dict(reversed(list(extras(d)["edits"][0].items())))
    shuffled = {"blend_kernel": "gaussian", "edits": [edit], "blend": 31}
    shuffled["anchors"] = extras(d)["anchors"]
    assert parse_description(-3, _b64(shuffled)) == d


def test_plain_specs():
    assert CanvasDescription(seed=4, anchors=(Anchor(10, 10, 4),)).is_plain  # own style only
    assert CanvasDescription(seed=4, blend=3).is_plain
    assert extras_id(CanvasDescription(seed=4, anchors=(Anchor(10, 10, 4),), blend=3)) == "plain"
    assert not CanvasDescription(seed=4, anchors=(Anchor(10, 10, 5),)).is_plain
    assert not CanvasDescription(seed=4, edits=(Edit(0, 0, 8, 8, "noise", 4),)).is_plain


def _edit(**kw: object) -> dict[str, object]:
    return {"top": 0, "left": 0, "height": 1, "width": 1, "what": "noise", "seed": 0, **kw}


@pytest.mark.parametrize(
    ("desc", "message"),
    [
        ("a" * (MAX_DESC_CHARS + 1), "at most"),
        ("ab!c", "URL-safe base64"),
        ("abc", "not base64 of JSON"),
        (_b64([1, 2]), "must be a JSON object"),
        (_b64({"anchors": [], "colour": 1}), "unknown field"),
        (_b64({"anchors": {"y": 1}}), "must be lists"),
        (_b64({"anchors": [{"y": 0, "x": 0}]}), "missing field 'seed'"),
        (_b64({"anchors": [{"y": 0.5, "x": 0, "seed": 1}]}), "must be an integer"),
        (_b64({"anchors": [{"y": True, "x": 0, "seed": 1}]}), "must be an integer"),
        (_b64({"anchors": [{"y": COORD_LIMIT, "x": 0, "seed": 1}]}), "must lie in"),
        (_b64({"anchors": [{"y": 0, "x": 0, "seed": SEED_LIMIT + 1}]}), "must lie in"),
        (_b64({"edits": [_edit(what="paint")]}), "'what' must be one of"),
        (_b64({"edits": [_edit(op="noise")]}), "unknown field"),
        (_b64({"edits": [_edit(height=0)]}), "'height' must lie in"),
        (_b64({"edits": [_edit(top=COORD_LIMIT - 1, height=2)]}), "past the canvas limit"),
        (_b64({"edits": [_edit()] * (MAX_EDITS + 1)}), "at most"),
        (_b64({"blend": -1}), "'blend' must lie in"),
        (_b64({"blend": 2.5}), "'blend' must be an integer"),
        (_b64({"blend_kernel": "median"}), "'blend_kernel' must be one of"),
        (_b64({"placements": []}), "unknown field"),
    ],
)
def test_malformed_descriptions_are_rejected(desc, message):
    with pytest.raises(DescriptionError, match=message):
        parse_description(0, desc)


def test_deeply_nested_descriptions_are_refused_before_parsing():
    # 1,000 brackets: 1,334 characters of base64, under the length limit, but json.loads
    # would raise RecursionError (a 500 from the server) on them.
    nested = base64.urlsafe_b64encode(b"[" * 1000).decode().rstrip("=")
    assert len(nested) <= MAX_DESC_CHARS
    with pytest.raises(DescriptionError, match=f"1000 deep; at most {MAX_DESC_DEPTH}"):
        parse_description(0, nested)
    objects = base64.urlsafe_b64encode(b'{"a":' * 500).decode().rstrip("=")
    with pytest.raises(DescriptionError, match="500 deep"):
        parse_description(0, objects)
    # The deepest valid description (description > edits > edit) is well within the bound.
    text = encode_extras(CanvasDescription(seed=0, edits=(Edit(0, 0, 8, 8, "noise", 4),)))
    assert parse_description(0, text).edits[0].what == "noise"


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth("") == 0 and json_depth("1") == 0
    assert json_depth('{"a": [[1], {"b": []}]}') == 4
    assert json_depth('["[[[[", "\\"[[", "x\\\\"]') == 1  # escaped quotes and backslashes
    assert json_depth('"' + "[" * 50) == 0  # an unterminated string: parsing reports it


def test_seed_range_is_checked():
    with pytest.raises(DescriptionError, match="seed must lie within"):
        parse_description(SEED_LIMIT + 1, None)
    with pytest.raises(DescriptionError, match="seed must be an integer"):
        check_seed(1.5)
    with pytest.raises(ValueError, match="seed must be an integer"):
        CanvasDescription(seed=1.5)  # type: ignore[arg-type]
    assert parse_description(-SEED_LIMIT, None).seed == -SEED_LIMIT


def test_render_plain_equals_generate_region(tiny_generator):
    d = parse_description(4, None)
    got = render_region(tiny_generator, d, -40, 1000, 48, 64)
    want = generate_region(tiny_generator, 4, -40, 1000, 48, 64)
    assert torch.equal(got, want)


def test_anchors_and_edits_render_through_the_library(tiny_generator):
    lib = CanvasDescription(
        seed=1,
        anchors=(Anchor(0, 0, 1), Anchor(0, 300, 2)),
        edits=(Edit(-20, 100, 40, 40, "noise", 5),),
        blend=15,
    )
    spec = parse_description(1, encode_extras(lib))  # what a tile URL says
    assert spec == lib
    got = render_region(tiny_generator, spec, -32, 96, 48, 64)
    assert torch.equal(got, render_region(tiny_generator, lib, -32, 96, 48, 64))
    assert not torch.equal(got, generate_region(tiny_generator, 1, -32, 96, 48, 64))


def test_placements_and_wrap_cannot_be_written_in_a_url():
    wrapped = CanvasDescription(seed=0, anchors=(Anchor(0, 0, 1),), wrap=True)
    with pytest.raises(DescriptionError, match="cannot be written in a URL"):
        encode_extras(wrapped)


# --------------------------------------------------------------------------------------------
# Pixels and the pyramid


def test_downsample2x_is_a_rounded_box_filter():
    image = np.array([[[0], [1]], [[1], [1]]], dtype=np.uint8).repeat(3, axis=2)  # mean 0.75
    assert downsample2x(image)[0, 0, 0] == 1
    image = np.array([[[0], [0]], [[1], [1]]], dtype=np.uint8).repeat(3, axis=2)  # 0.5 -> up
    assert downsample2x(image)[0, 0, 0] == 1
    image = np.array([[[255], [255]], [[255], [254]]], dtype=np.uint8).repeat(3, axis=2)
    assert downsample2x(image)[0, 0, 0] == 255
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, size=(8, 6, 3), dtype=np.uint8)
    want = np.rint(big.reshape(4, 2, 3, 2, 3).astype(np.float64).mean(axis=(1, 3)) + 1e-9)
    assert np.array_equal(downsample2x(big), want.astype(np.uint8))
    # One contract with the writers' pyramid: an odd last row is replicated, not refused.
    odd = downsample2x(big[:5])
    assert odd.shape == (3, 3, 3) and np.array_equal(odd[:2], want[:2].astype(np.uint8))
    pairs = big[4].astype(np.uint16).reshape(3, 2, 3).sum(axis=1)
    assert np.array_equal(odd[2], ((2 * pairs + 2) >> 2).astype(np.uint8))
    with pytest.raises(ValueError, match="uint8 image"):
        downsample2x(big[..., 0])
    with pytest.raises(ValueError, match="uint8 image"):
        downsample2x(big.astype(np.float32))


def test_png_round_trip():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(TILE_SIZE, TILE_SIZE, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(pixels)), pixels)


def test_tile_index_limits_cover_the_coordinate_range():
    assert tile_index_limit(0) * TILE_SIZE == COORD_LIMIT
    assert tile_index_limit(4) * (TILE_SIZE << 4) == COORD_LIMIT


def coord_render(d: CanvasDescription, top: int, left: int, h: int, w: int) -> torch.Tensor:
    """A cheap stand-in for the model: a smooth image that is a pure function of position."""
    y = torch.arange(top, top + h, dtype=torch.float64).view(1, -1, 1)
    x = torch.arange(left, left + w, dtype=torch.float64).view(1, 1, -1)
    c = torch.arange(1, 4, dtype=torch.float64).view(-1, 1, 1)
    return torch.sin(0.05 * y + 0.031 * c * x + d.seed).float()


def test_level0_tile_is_exactly_generate_region(tiny_generator):
    def fn(d, top, left, h, w):
        return render_region(tiny_generator, d, top, left, h, w)

    store = TileStore(fn, MemoryCache(64 << 20))
    d = CanvasDescription(seed=11)
    for row, col in [(-1, -2)]:
        tile = store.pixels(d, TileKey("plain", 11, 0, row, col))
        want = to_uint8(generate_region(tiny_generator, 11, row * 256, col * 256, 256, 256))
        assert tile.dtype == np.uint8 and tile.shape == (256, 256, 3)
        assert np.array_equal(tile, want)


def test_level2_tile_is_the_box_filter_of_its_children():
    calls = []

    def fn(d, top, left, h, w):
        calls.append((top, left, h, w))
        return coord_render(d, top, left, h, w)

    store = TileStore(fn, MemoryCache(64 << 20))
    d = CanvasDescription(seed=2)
    key = TileKey("plain", 2, 2, -1, 0)  # canvas rows [-1024, 0), cols [0, 1024)
    tile = store.pixels(d, key)
    assert len(calls) == 16 and all(c[2:] == (256, 256) for c in calls)
    assert {(c[0], c[1]) for c in calls} == {
        (-1024 + 256 * i, 256 * j) for i in range(4) for j in range(4)
    }
    level0 = np.empty((1024, 1024, 3), np.uint8)
    for i in range(4):
        for j in range(4):
            level0[256 * i : 256 * (i + 1), 256 * j : 256 * (j + 1)] = store.pixels(
                d, TileKey("plain", 2, 0, -4 + i, j)
            )
    assert np.array_equal(tile, downsample2x(downsample2x(level0)))
    assert len(calls) == 16  # the level 0 tiles came from the cache
    # The same tile composed again from cached level 1 tiles is identical.
    fresh = TileStore(fn, MemoryCache(64 << 20))
    for child in key.children():
        fresh.memory.put(("px", child), store.pixels(d, child))
    assert np.array_equal(fresh.pixels(d, key), tile)
    assert len(calls) == 16


def test_block_render_makes_a_level1_tile_in_one_call(tiny_generator):
    calls = []

    def fn(d, top, left, h, w):
        calls.append((top, left, h, w))
        return render_region(tiny_generator, d, top, left, h, w)

    store = TileStore(fn, MemoryCache(64 << 20), block_render=True)
    d = CanvasDescription(seed=3)
    key = TileKey("plain", 3, 1, -1, 2)  # canvas rows [-512, 0), cols [1024, 1536)
    assert store.renders_needed(key) == 4
    tile = store.pixels(d, key)
    assert calls == [(-512, 1024, 512, 512)] and store.tiles_made == 5
    assert store.renders_needed(key) == 0 and store.seconds_per_tile() > 0
    block_speed = store.seconds_per_zoom_tile()
    assert block_speed == store.seconds_per_tile()
    store.pixels(d, TileKey("plain", 3, 0, 5, 5))  # a single tile: not what zooming out renders
    assert store.seconds_per_zoom_tile() == block_speed
    calls.clear()
    quarters = [store.pixels(d, c) for c in key.children()]  # cached by the block render
    assert calls == []
    mosaic = np.concatenate(
        [np.concatenate(quarters[:2], axis=1), np.concatenate(quarters[2:], axis=1)], axis=0
    )
    assert np.array_equal(tile, downsample2x(mosaic))
    for child, pixels in zip(key.children(), quarters):
        alone = generate_region(tiny_generator, 3, child.row * 256, child.col * 256, 256, 256)
        diff = np.abs(pixels.astype(int) - to_uint8(alone).astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # float rounding only
    # With a quarter cached already, only the missing ones are rendered, one by one.
    fresh = TileStore(fn, MemoryCache(64 << 20), block_render=True)
    fresh.memory.put(("px", key.children()[0]), quarters[0])
    assert fresh.renders_needed(key) == 3
    calls.clear()
    fresh.pixels(d, key)
    assert sorted(calls) == sorted((c.row * 256, c.col * 256, 256, 256) for c in key.children()[1:])


def test_small_tiles_and_work_estimates():
    store = TileStore(coord_render, MemoryCache(64 << 20))
    d = CanvasDescription(seed=1)
    key = TileKey("plain", 1, 2, 0, -1)
    assert store.renders_needed(key) == 16
    assert store.renders_needed(TileKey("plain", 1, 7, 0, 0)) == 4**7  # not counted one by one
    store.pixels(d, TileKey("plain", 1, 0, 1, -4))
    assert store.renders_needed(key) == 15
    whole = store.pixels(d, key)
    for shrink in (1, 2):
        part = decode_png(store.shrunk_png(d, key, shrink))
        want = whole
        for _ in range(shrink):
            want = downsample2x(want)
        assert np.array_equal(part, want)
    assert tile_index_limit(2, 2) == tile_index_limit(0)


def test_region_download_matches_tiles():
    store = TileStore(coord_render, MemoryCache(64 << 20))
    d = CanvasDescription(seed=5)
    region0 = store.region(d, 0, -100, 200, 120, 90)
    assert np.array_equal(region0, to_uint8(coord_render(d, -100, 200, 120, 90)))
    assert np.array_equal(
        store.region(d, 0, 0, 256, 256, 256), store.pixels(d, TileKey("plain", 5, 0, 0, 1))
    )
    # Level 1: a region cut across four tiles equals the same crop of the tile mosaic.
    region1 = store.region(d, 1, -30, 250, 60, 20)
    mosaic = np.concatenate(
        [
            np.concatenate([store.pixels(d, TileKey("plain", 5, 1, r, c)) for c in (0, 1)], 1)
            for r in (-1, 0)
        ],
        0,
    )
    assert np.array_equal(region1, mosaic[256 - 30 : 256 + 30, 250:270])


def test_should_stop_interrupts_a_composite_tile():
    calls = []

    def fn(d, top, left, h, w):
        calls.append((top, left))
        return torch.zeros(3, h, w)

    store = TileStore(fn, MemoryCache(64 << 20))
    d = CanvasDescription(seed=0)
    with pytest.raises(Cancelled):
        store.pixels(d, TileKey("plain", 0, 1, 0, 0), should_stop=lambda: len(calls) >= 2)
    assert len(calls) == 2  # two children rendered (and cached), then stopped
    store.pixels(d, TileKey("plain", 0, 1, 0, 0))
    assert len(calls) == 4


# --------------------------------------------------------------------------------------------
# Caches


def test_memory_cache_is_bounded_and_lru():
    cache = MemoryCache(max_bytes=1000)
    for i in range(5):
        cache.put(i, b"x" * 300)
    assert cache.nbytes == 900 and len(cache) == 3
    assert cache.get(0) is None and cache.get(1) is None
    assert cache.get(2) == b"x" * 300  # now most recent
    cache.put(5, b"y" * 300)
    assert cache.get(3) is None and cache.get(2) is not None
    cache.put("big", b"z" * 2000)  # larger than the budget: not stored
    assert cache.get("big") is None and cache.nbytes <= 1000
    arr = np.zeros((10, 10, 3), np.uint8)
    cache.put("arr", arr)
    assert cache.nbytes <= 1000 and not cache.get("arr").flags.writeable


def test_disk_cache_paths_and_round_trip(tmp_path):
    disk = DiskCache(tmp_path, "0123abcd")
    key = TileKey("plain", -5, 2, -3, 7)
    assert disk.get(key) is None and key not in disk
    disk.put(key, b"png-bytes")
    path = tmp_path / "0123abcd" / "plain" / "s-5" / "l2" / "-3_7.png"
    assert path.read_bytes() == b"png-bytes" and disk.get(key) == b"png-bytes"
    assert [p.name for p in path.parent.iterdir()] == ["-3_7.png"]  # no temporary left
    with pytest.raises(ValueError, match="alphanumeric"):
        DiskCache(tmp_path, "../x")
    with pytest.raises(ValueError, match="extras"):
        disk.path(TileKey("../../etc", 0, 0, 0, 0))


def test_store_reads_the_disk_cache(tmp_path):
    def fail(*args):
        raise AssertionError("must not render")

    disk = DiskCache(tmp_path, "ab")
    key = TileKey("plain", 1, 0, 0, 0)
    pixels = np.full((256, 256, 3), 17, np.uint8)
    disk.put(key, encode_png(pixels))
    store = TileStore(fail, MemoryCache(1 << 20), disk)
    assert np.array_equal(store.pixels(CanvasDescription(seed=1), key), pixels)
    assert store.png(CanvasDescription(seed=1), key) == disk.get(key)


# --------------------------------------------------------------------------------------------
# Scheduler


def _blocked_scheduler(max_queue: int = 8) -> tuple[Scheduler, threading.Event, list]:
    gate = threading.Event()
    order: list = []
    s = Scheduler(workers=1, max_queue=max_queue)
    s.submit("gate", lambda stop: gate.wait(10))
    deadline = time.monotonic() + 5
    while s.running == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    return s, gate, order


def test_scheduler_runs_by_priority_then_arrival():
    s, gate, order = _blocked_scheduler()
    jobs = [
        s.submit(name, (lambda n: lambda stop: order.append(n))(name), priority)
        for name, priority in [("far", 5.0), ("near", 1.0), ("mid", 3.0), ("near2", 1.0)]
    ]
    gate.set()
    for job in jobs:
        job.future.result(5)
    assert order == ["near", "near2", "mid", "far"]
    s.close()


def test_scheduler_coalesces_and_drops_abandoned_jobs():
    s, gate, order = _blocked_scheduler()
    a1 = s.submit("a", lambda stop: order.append("a") or "A")
    a2 = s.submit("a", lambda stop: order.append("a-dup"))
    assert a1 is a2 and s.stats.coalesced == 1 and s.pending == 1
    b = s.submit("b", lambda stop: order.append("b"))
    s.release(b)  # the only waiter went away before b started
    s.release(a1)  # one of two waiters went away: a still runs
    assert s.stats.cancelled == 1 and s.pending == 1 and b.future.cancelled()
    gate.set()
    assert a1.future.result(5) == "A"
    assert order == ["a"]
    s.close()


def test_scheduler_queue_is_bounded():
    s, gate, _ = _blocked_scheduler(max_queue=2)
    s.submit("x", lambda stop: 1)
    s.submit("y", lambda stop: 2)
    with pytest.raises(QueueFull, match="2 tiles are waiting"):
        s.submit("z", lambda stop: 3)
    assert s.stats.rejected == 1
    s.submit("x", lambda stop: 1)  # joining a queued job needs no new slot
    gate.set()
    s.close()


def test_scheduler_asks_abandoned_running_jobs_to_stop():
    s = Scheduler(workers=1, max_queue=4)
    started = threading.Event()

    def long_job(stop):
        started.set()
        deadline = time.monotonic() + 5
        while not stop():
            if time.monotonic() > deadline:
                return "ran to the end"
            time.sleep(0.005)
        raise Cancelled("stopped")

    job = s.submit("long", long_job)
    assert started.wait(5)
    s.release(job)
    with pytest.raises(Cancelled):
        job.future.result(5)
    assert s.stats.stopped == 1 and s.stats.failed == 0
    s.close()


def test_scheduler_survives_failing_jobs():
    s = Scheduler(workers=1, max_queue=4)
    bad = s.submit("bad", lambda stop: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        bad.future.result(5)
    assert s.submit("good", lambda stop: 42).future.result(5) == 42
    assert s.stats.failed == 1 and s.stats.completed == 1
    s.close()
