"""Precisions (strict fp32 / tf32 flags), device resolution, model placement, tile budgets."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from infinitygan import generate_region
from infinitygan.runtime import (
    activation_bytes,
    check_precision,
    model_on,
    precision_context,
    resolve_device,
    strict_fp32,
    to_host,
)
from infinitygan.tiling import (
    DEFAULT_MAX_MEMORY,
    default_max_memory,
    plan_tile_size,
    plan_tiles,
    plan_tiling,
    texture_tile_bytes,
)

CUDA = torch.device("cuda")  # a device object only: the flags are set without a GPU


def _flags() -> tuple[str, str]:
    return torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision


@pytest.fixture
def legacy_flags():
    """The user's own settings through the legacy API (restored after the test)."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def test_fp32_is_strict_and_tf32_is_tf32_on_cuda_then_restored(legacy_flags):
    before = _flags()
    with precision_context(CUDA, "fp32"):
        assert _flags() == ("ieee", "ieee")
    assert _flags() == before
    with precision_context(CUDA, "tf32", benchmark=True):
        assert _flags() == ("tf32", "tf32") and torch.backends.cudnn.benchmark
    assert _flags() == before
    # The user's legacy flags read back without the mixed-API RuntimeError.
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    with strict_fp32(CUDA):
        assert _flags() == ("ieee", "ieee")
    assert torch.backends.cudnn.allow_tf32


def test_cpu_and_autocast_precisions_leave_the_flags_alone():
    before = _flags(), torch.backends.cudnn.benchmark
    for precision in ("fp32", "tf32", "bf16"):
        with precision_context(torch.device("cpu"), precision, benchmark=True):
            assert (_flags(), torch.backends.cudnn.benchmark) == before
    with precision_context(torch.device("cpu"), "bf16"):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert torch.is_autocast_enabled("cpu")
    assert not torch.is_autocast_enabled("cpu")


def test_nested_modes_in_one_thread_switch_and_switch_back():
    before = _flags()
    with precision_context(CUDA, "fp32"):
        with precision_context(CUDA, "tf32"):
            assert _flags() == ("tf32", "tf32")
        assert _flags() == ("ieee", "ieee")
    assert _flags() == before


def test_threads_share_a_mode_and_wait_for_a_different_one():
    before = _flags()
    inside, release = threading.Event(), threading.Event()
    seen: dict[str, tuple[str, str]] = {}

    def hold_fp32():
        with precision_context(CUDA, "fp32"):
            inside.set()
            release.wait(10)
            seen["fp32_end"] = _flags()

    def same_mode():
        with precision_context(CUDA, "fp32"):
            seen["same"] = _flags()

    def other_mode():
        with precision_context(CUDA, "tf32"):
            seen["tf32"] = _flags()

    a = threading.Thread(target=hold_fp32)
    a.start()
    assert inside.wait(10)
    b = threading.Thread(target=same_mode)
    b.start()
    b.join(10)
    assert seen["same"] == ("ieee", "ieee")  # joined without waiting
    c = threading.Thread(target=other_mode)
    c.start()
    c.join(0.3)
    assert c.is_alive() and "tf32" not in seen  # waits for the fp32 user
    release.set()
    a.join(10)
    c.join(10)
    assert seen["fp32_end"] == ("ieee", "ieee") and seen["tf32"] == ("tf32", "tf32")
    assert _flags() == before


def test_precision_names_are_checked():
    assert [check_precision(p) for p in ("fp32", "tf32", "bf16", "fp16")]
    assert [activation_bytes(p) for p in ("fp32", "tf32", "bf16", "fp16")] == [4, 4, 2, 2]
    with pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16, fp16"):
        check_precision("fp64")
    with pytest.raises(ValueError, match="precision must be one of"):
        precision_context(torch.device("cpu"), "half").__enter__()


def test_resolve_device_keeps_the_models_gpu(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_device(None, cpu) == cpu
    assert resolve_device("cpu", torch.device("cuda", 1)) == cpu
    with pytest.raises(ValueError, match="not a device"):
        resolve_device("gpu0", cpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="sees no CUDA device; use cpu"):
        resolve_device("cuda", cpu)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert resolve_device("cuda", torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert resolve_device(None, torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert resolve_device("cuda", cpu) == torch.device("cuda", 0)
    assert resolve_device("cuda:0", torch.device("cuda", 1)) == torch.device("cuda", 0)
    with pytest.raises(ValueError, match="only 2 GPU"):
        resolve_device("cuda:2", cpu)


def test_model_on_copies_caches_and_refreshes_without_moving_the_original():
    m = nn.Linear(3, 2)
    assert model_on(m, torch.device("cpu")) is m
    meta = torch.device("meta")  # a second device for the cache logic only
    a = model_on(m, meta)
    assert a is not m and a.weight.device == meta and m.weight.device.type == "cpu"
    assert model_on(m, meta) is a  # cached
    with torch.no_grad():
        m.weight.add_(1.0)  # the original changed: the copy is refreshed
    b = model_on(m, meta)
    assert b is not a and m.weight.device.type == "cpu"


def test_generate_region_leaves_the_callers_model_alone(tiny_generator):
    G = tiny_generator
    state = {k: v.clone() for k, v in G.state_dict().items()}
    generate_region(G, 1, -10, 0, 24, 40, precision="bf16", tile=16, device="cpu")
    for k, v in G.state_dict().items():
        assert v.device.type == "cpu" and v.dtype == state[k].dtype
        # bit for bit, NaN included (an unknown average style w_avg is stored as NaN)
        torch.testing.assert_close(v, state[k], rtol=0, atol=0, equal_nan=True)


def test_tile_batches_stay_inside_the_memory_budget(tiny_generator):
    G = tiny_generator
    budget = 64 << 20
    tile, batch = plan_tiling(G, budget, "fp32", None, 4)
    assert batch == 4 and tile == plan_tile_size(G, budget // 4, 4)
    cells = tile // G.geometry.scale
    assert 4 * texture_tile_bytes(G, cells + 6, 4) <= budget
    # An explicit tile keeps its side; the batch is cut to what fits (never below one).
    per_tile = texture_tile_bytes(G, 256 // G.geometry.scale + 6, 4)
    assert plan_tiling(G, 3 * per_tile + 1, "fp32", 256, 8) == (256, 3)
    assert plan_tiling(G, 1, "bf16", 256, 8) == (256, 1)
    assert plan_tiling(G, budget, "fp32", 64, 2) == (64, 2)
    assert [(t.y, t.x, t.h, t.w) for t in plan_tiles(40, 70, 32)] == [
        (0, 0, 32, 32),
        (0, 32, 32, 32),
        (0, 64, 32, 6),
        (32, 0, 8, 32),
        (32, 32, 8, 32),
        (32, 64, 8, 6),
    ]
    with pytest.raises(ValueError, match="tile must be positive"):
        plan_tiles(40, 70, 0)
    with pytest.raises(ValueError, match="tile_batch must be >= 1"):
        plan_tiling(G, budget, "fp32", None, 0)
    assert default_max_memory(torch.device("cpu")) == DEFAULT_MAX_MEMORY == 2 << 30


def test_to_host_keeps_cpu_tensors():
    t = torch.arange(6.0)
    assert to_host(t) is t


def test_fp16_per_sample_modulation_survives_large_styles():
    """StyleGAN2-ADA's pre-scaling: with styles in the thousands, x * s and the demodulation
    sums overflow float16 unless weight and styles are scaled to a maximum of 1 first."""
    from infinitygan.ops import ModulatedConv2d

    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 64, 3, 32)
    with torch.no_grad():
        conv.affine.bias.mul_(2000)
    x = torch.randn(2, 64, 12, 12) * 4
    w = torch.randn(2, 32)  # two styles: the per-sample path
    ref = conv(x, w)
    with torch.autocast("cpu", dtype=torch.float16):
        out = conv(x, w)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    assert ((out.float() - ref).abs().max() / ref.abs().max()).item() < 5e-3
    # fp32 is untouched by the pre-scaling (the parity path).
    conv2 = ModulatedConv2d(8, 4, 3, 32)
    s = conv2.styles(w)
    expected = F.conv2d(x[:, :8] * s[:, :, None, None], conv2.weight * conv2.scale)
    expected = expected * conv2.demod_factors(s)[:, :, None, None]
    torch.testing.assert_close(conv2(x[:, :8], w), expected, rtol=0, atol=0)


def test_cli_precision_and_memory_defaults_follow_the_device(tmp_path, tiny_generator, monkeypatch):
    import json

    from click.testing import CliRunner

    from infinitygan import save_generator
    from infinitygan.cli import main

    model = save_generator(tiny_generator, tmp_path / "tiny.safetensors")
    gen = ["generate", str(model), "--size", "256x128", "--out", str(tmp_path / "x.png")]
    result = CliRunner().invoke(
        main, [*gen, "--precision", "tf32", "--tile-batch", "4", "--device", "cpu", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["max_memory_bytes"] == 2 << 30  # --max-memory auto on the CPU
    assert plan["tile"] == plan_tiling(tiny_generator, 2 << 30, "tf32", None, 4)[0]
    bad = CliRunner().invoke(main, [*gen, "--precision", "fp64", "--dry-run"])
    assert bad.exit_code != 0 and "fp32" in bad.output and "tf32" in bad.output

    train = [
        "train",
        "--data",
        "synthetic",
        "--preset",
        "tiny",
        "--batch",
        "2",
        "--steps",
        "1",
        "--outdir",
        str(tmp_path),
        "--dry-run",
    ]
    cpu = json.loads(CliRunner().invoke(main, [*train, "--device", "cpu"]).output)
    assert cpu["precision"] == "fp32"
    tf32 = CliRunner().invoke(main, [*train, "--device", "cpu", "--precision", "tf32"])
    assert json.loads(tf32.output)["precision"] == "tf32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cuda = json.loads(CliRunner().invoke(main, [*train, "--device", "cuda"]).output)
    assert cuda["precision"] == "bf16" and cuda["channels_last"] is True
