#!/usr/bin/env python
"""The project's GPU check: the CUDA paths in one command, one JSON object on stdout.

Usage (from the repository root, on a machine with one NVIDIA GPU; about 8 minutes on an H200):

    python benchmarks/gpu_check.py [--budget 470] [--only s3,s5] [--out check.json]
    python benchmarks/gpu_check.py --smoke-cpu      # the harness on the CPU, tiny sizes

Each check is a record ``{"section", "check", "status", ...numbers}`` with status PASS, FAIL,
INFO (a measurement), SKIP or ERROR; the JSON object lists them with ``"passed"`` (no FAIL or
ERROR) and the exit status is 0 exactly when it passed. Progress lines go to stderr.

Sections: s0 environment; s1 the device-parameterised tests on CUDA (``pytest -m gpu``:
containment, float64 parity, a training step, exact resume); s2 official-model parity in float64
on the device; s3 CPU-vs-device agreement of ``generate_region`` in strict fp32 (< 1e-4, also
with tile batching) and the same with TF32 (INFO); s4 tf32/bf16/fp16 PSNR against strict fp32
and an fp16 overflow probe; s5 generation Mpx/s of ``paper-101`` (fp32, tf32, bf16, fp16, with
tile batching); s6 training img/s of ``paper-101`` at batch 16; s7 tiny train + exact resume on
the device; s8 ``torch.compile``.

``--smoke-cpu`` runs every section that makes sense without a GPU on the CPU with tiny models
and sizes (the harness, not the GPU); it is what tests/test_gpu_check.py runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS: list[dict] = []
T0 = time.perf_counter()


class Context:
    """Run-wide settings (set once in main)."""

    device = torch.device("cpu")
    smoke = False
    budget = 470.0
    only: list[str] = []


C = Context()


# ------------------------------------------------------------------------------------ helpers
def elapsed() -> float:
    return time.perf_counter() - T0


def left() -> float:
    return C.budget - elapsed()


def record(section: str, name: str, status: str, **data) -> None:
    RESULTS.append({"section": section, "check": name, "status": status, **data})
    short = {k: v for k, v in data.items() if len(str(v)) < 160}
    print(f"[{elapsed():6.1f}s] {status:5s} {section}/{name} {short}", file=sys.stderr, flush=True)


def S(gpu, cpu):
    """A size for the GPU run, or its tiny stand-in for --smoke-cpu."""
    return cpu if C.smoke else gpu


def sync() -> None:
    if C.device.type == "cuda":
        torch.cuda.synchronize(C.device)


def timed(fn: Callable, reps: int = 1):
    """(best wall time of ``reps`` synchronised calls, last result)."""
    best, out = float("inf"), None
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best, out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of ``b`` against ``a`` over the [-1, 1] range (both clamped)."""
    mse = (a.double().clamp(-1, 1) - b.double().clamp(-1, 1)).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(4.0 / mse)


def maxabs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def peak_gib() -> float | None:
    if C.device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(C.device) / 2**30, 2)


def generator(preset: str, noise: float | None = 0.1):
    """A fresh generator: the bundled ``landscapes`` model, or a preset at seed 0 with noise
    strengths set (an untrained model has zero noise strengths)."""
    from infinitygan import build_generator, load_generator

    if preset == "landscapes":
        return load_generator("landscapes")
    G = build_generator(preset, seed=0)
    if noise is not None:
        with torch.no_grad():
            for i, conv in enumerate(G.texture_synthesizer.convs):
                conv.noise.strength.fill_(noise + 0.05 * i if preset == "tiny" else noise)
    return G


def has_landscapes() -> bool:
    from infinitygan.checkpoint import BUNDLED_DIR

    return (BUNDLED_DIR / "landscapes.safetensors").is_file()


def find_fixtures() -> Path | None:
    """The folder of the official parity fixture (``$INFINITYGAN_FIXTURES`` or ``shared/``)."""
    for c in (
        os.environ.get("INFINITYGAN_FIXTURES"),
        ROOT / "shared" / "fixtures",
        ROOT.parent / "shared" / "fixtures",
    ):
        if c and (Path(c) / "paper101_parity.npz").is_file():
            return Path(c)
    return None


def section(fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        name = fn.__name__
        if C.only and name.split("_")[0] not in C.only:
            return
        if left() < 10:
            record(name, "section", "SKIP", reason="time budget spent")
            return
        t = time.perf_counter()
        try:
            fn()
        except Exception as err:  # one section's failure never stops the others
            record(
                name,
                "section",
                "ERROR",
                error=f"{type(err).__name__}: {err}",
                trace=traceback.format_exc()[-2000:],
            )
        finally:
            if C.device.type == "cuda":
                torch.cuda.empty_cache()
            print(f"--- {name}: {time.perf_counter() - t:.1f}s", file=sys.stderr, flush=True)

    run.__name__ = fn.__name__
    return run


# ------------------------------------------------------------------------------------ s0
@section
def s0_environment() -> None:
    import numpy

    info = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "matmul_fp32_precision": torch.backends.cuda.matmul.fp32_precision,
        "cudnn_conv_fp32_precision": torch.backends.cudnn.conv.fp32_precision,
    }
    if C.device.type == "cuda":
        p = torch.cuda.get_device_properties(C.device)
        info.update(
            gpu=p.name,
            capability=f"{p.major}.{p.minor}",
            memory_gib=round(p.total_memory / 2**30, 1),
            cudnn=torch.backends.cudnn.version(),
        )
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    record("s0", "environment", "INFO", **info)


# ------------------------------------------------------------------------------------ s1
@section
def s1_device_tests() -> None:
    """The tests that take the ``device`` fixture, on CUDA (their cuda variants: ``-m gpu``)."""
    if C.smoke:
        record("s1", "device_tests", "SKIP", reason="the CPU variants run in the test suite")
        return
    args = [
        "-m",
        "gpu",
        "tests/test_canvas.py",
        "tests/test_parity.py",
        "tests/test_train_phases.py",
        "tests/test_train_loop.py",
    ]
    env = dict(os.environ)
    fixtures = find_fixtures()
    if fixtures is None:  # the parity test needs the fixture: leave it out rather than fail
        args += ["--deselect", "tests/test_parity.py"]
    else:
        env["INFINITYGAN_FIXTURES"] = str(fixtures)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    t = time.perf_counter()
    p = subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=max(30, min(300, left() - 30)),
    )
    tail = (p.stdout + p.stderr).strip().splitlines()[-8:]
    record(
        "s1",
        "device_tests",
        "PASS" if p.returncode == 0 else "FAIL",
        rc=p.returncode,
        seconds=round(time.perf_counter() - t, 1),
        summary=tail[-1] if tail else "",
        tail=tail,
    )


# ------------------------------------------------------------------------------------ s2
@section
def s2_parity_float64() -> None:
    """The official-model parity fixture through the device's kernels in float64."""
    if C.smoke:
        record("s2", "parity_float64", "SKIP", reason="CPU parity is tests/test_parity.py")
        return
    import importlib.util

    import numpy as np

    from infinitygan.convert import from_official

    fixtures = find_fixtures()
    if fixtures is None:
        record("s2", "parity_float64", "SKIP", reason="paper101_parity.npz not found")
        return
    spec = importlib.util.spec_from_file_location("tp", ROOT / "tests" / "test_parity.py")
    tp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tp)
    keys = json.loads((fixtures / "paper101_state_dict_keys.json").read_text())
    G, D = from_official(
        tp._official_state(keys["generator"], "g_ema."),
        tp._official_state(keys["discriminator"], "d."),
        preset="paper-101",
    )
    data = dict(np.load(fixtures / "paper101_parity.npz"))
    G, D = G.to(C.device, torch.float64), D.to(C.device, torch.float64)

    def t(k):
        return torch.from_numpy(data[k]).to(C.device, torch.float64)

    with torch.no_grad():
        img = G(t("zg"), t("zl"), t("coords"), [t(f"noise{i}") for i in range(8)])
        logit, _ = D(t("image"))
    ref = data["image"]
    err = (img.cpu() - torch.from_numpy(ref)).abs().max().item() / float(ref.std())
    derr = abs(logit.item() - float(data["d_logit"][0, 0]))
    record(
        "s2",
        "parity_float64",
        "PASS" if err < 1e-6 and derr < 1e-6 else "FAIL",
        image_err_rel_std=err,
        d_logit_abs_err=derr,
    )


# ------------------------------------------------------------------------------------ s3
@section
def s3_cpu_vs_device() -> None:
    """generate_region on the CPU and on the device: strict fp32 agrees < 1e-4 (tf32: INFO);
    containment on the device with tile batching."""
    from infinitygan import generate_region

    cases = {
        "tiny": [(-40, 7, 61, 83), (-333, -1000, 90, 45)],
        S("paper-101", "landscapes-cpu"): [(-128, 1000, S(256, 48), S(384, 64))],
    }
    if not C.smoke and has_landscapes():
        cases["landscapes"] = [(-64, 100, 96, 160)]
    for preset, regions in cases.items():
        G = generator(preset)  # stays on the CPU: generate_region uses a device copy
        for top, lft, h, w in regions:
            region = (top, lft, h, w)
            t_cpu, ref = timed(lambda G=G, r=region: generate_region(G, 7, *r, device="cpu"))
            for precision in ("fp32", "tf32"):
                t_dev, out = timed(
                    lambda G=G, r=region, p=precision: generate_region(
                        G, 7, *r, device=C.device, precision=p
                    )
                )
                d = maxabs(ref, out)
                strict = precision == "fp32"
                record(
                    "s3",
                    f"{preset}_{h}x{w}_{precision}",
                    ("PASS" if d < 1e-4 else "FAIL") if strict else "INFO",
                    max_abs=d,
                    psnr_db=round(psnr(ref, out), 1),
                    cpu_s=round(t_cpu, 2),
                    device_s=round(t_dev, 3),
                )
        assert next(G.parameters()).device.type == "cpu", "generate_region moved the model"
    preset = S("paper-101", "tiny")
    G = generator(preset)
    H = S(1024, 96)
    oy, ox = H // 4 - 3, H // 4 + 5  # off the cell grid on purpose
    big = generate_region(G, 3, -H // 2, 500, H, H, device=C.device, tile=S(1024, 64))
    small = generate_region(
        G, 3, -H // 2 + oy, 500 + ox, H // 2, H // 2, device=C.device, tile=S(256, 32), tile_batch=4
    )
    d = maxabs(small, big[:, oy : oy + H // 2, ox : ox + H // 2])
    record("s3", f"{preset}_containment_tile_batch4", "PASS" if d < 1e-4 else "FAIL", max_abs=d)


# ------------------------------------------------------------------------------------ s4
@section
def s4_precision_psnr() -> None:
    """PSNR of tf32/bf16/fp16 renders against strict fp32 (thresholds on the trained model)."""
    from infinitygan import generate_region

    presets = [("paper-101", S(1024, 48))] if not C.smoke else [("tiny", 64)]
    if has_landscapes():
        presets.insert(0, ("landscapes", S(1024, 64)))
    limits = {"tf32": 45.0, "bf16": 30.0, "fp16": 40.0}
    for preset, side in presets:
        G = generator(preset)
        kw = dict(device=C.device, tile=S(1024, 32))
        ref = generate_region(G, 5, -side // 2, 0, side, side, **kw)
        for precision in S(("tf32", "bf16", "fp16"), ("tf32", "bf16")):
            out = generate_region(G, 5, -side // 2, 0, side, side, precision=precision, **kw)
            finite = bool(torch.isfinite(out).all())
            p = psnr(ref, out)
            trained = preset == "landscapes"  # random models (std ~2): numbers only
            status = ("PASS" if p >= limits[precision] else "FAIL") if trained else "INFO"
            record(
                "s4",
                f"{preset}_{precision}_vs_fp32",
                status if finite else "FAIL",
                psnr_db=round(p, 2),
                max_abs=maxabs(ref, out),
                finite=finite,
                limit_db=limits[precision] if trained else None,
            )
    # fp16 overflow probe of the per-sample-style path used in training: styles x50.
    G = generator(S("paper-101", "tiny")).to(C.device)
    cells = 11
    x = torch.randn(2, G.config.structure.channels, cells, cells, device=C.device) * 4
    w = torch.randn(2, G.num_styles, G.config.mapping.w_dim, device=C.device)
    with torch.no_grad():
        for conv in G.texture_synthesizer.convs:
            conv.conv.affine.bias.mul_(50)
        ref = G.texture(x, w)
        for precision in S(("bf16", "fp16"), ("bf16",)):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float16
            with torch.autocast(C.device.type, dtype=dtype):
                out = G.texture(x, w)
            finite = bool(torch.isfinite(out).all())
            record(
                "s4",
                f"per_sample_styles_x50_{precision}",
                "PASS" if finite else "FAIL",
                finite=finite,
                psnr_db=round(psnr(ref, out.float()), 2),
            )


# ------------------------------------------------------------------------------------ s5
@section
def s5_generation_speed() -> None:
    """End-to-end generate_region Mpx/s (structure, latents, texture tiles, copy back)."""
    import infinitygan.canvas as canvas

    preset = S("paper-101", "tiny")
    G = generator(preset).to(C.device)
    side = S(2048, 128)
    spent = {"rng": 0.0}

    def counting(fn):
        def inner(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent["rng"] += time.perf_counter() - t

        return inner

    hooks = [n for n in ("local_latent", "noise_map") if hasattr(canvas, n)]
    originals = {n: getattr(canvas, n) for n in hooks}
    for n in hooks:
        setattr(canvas, n, counting(originals[n]))
    configs = [
        ("fp32", None, 1),
        ("tf32", None, 1),
        ("bf16", None, 1),
        ("fp32", S(1024, 64), 4),
        ("bf16", S(1024, 64), 4),
        ("fp16", S(1024, 64), 4),
    ]
    try:
        for precision, tile, batch in configs:
            if left() < 40 or (C.smoke and precision == "fp16"):
                continue
            kw = dict(precision=precision, tile=tile, tile_batch=batch)
            canvas.generate_region(G, 2, -side // 2, 0, S(512, 64), S(512, 64), **kw)  # warm-up
            spent["rng"] = 0.0
            if C.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(C.device)
            sec, out = timed(
                lambda kw=kw: canvas.generate_region(G, 2, -side // 2, 0, side, side, **kw)
            )
            record(
                "s5",
                f"{preset}_{side}px_{precision}_tile{tile or 'auto'}_x{batch}",
                "INFO",
                mpx_per_s=round(side * side / 1e6 / sec, 3),
                seconds=round(sec, 2),
                host_latent_share=round(spent["rng"] / sec, 2) if hooks else None,
                finite=bool(torch.isfinite(out).all()),
                peak_gib=peak_gib(),
            )
    finally:
        for n, fn in originals.items():
            setattr(canvas, n, fn)


# ------------------------------------------------------------------------------------ s6
@section
def s6_training_speed() -> None:
    """Training img/s (one step = D + G + EMA, with R1 / 16 and path length / 4 amortised)."""
    from infinitygan.presets import get_preset
    from infinitygan.train import RunConfig, TrainConfig, Trainer

    preset, batch = S("paper-101", "tiny"), S(16, 2)
    model = get_preset(preset)
    p = model.patch_size
    g = torch.Generator().manual_seed(0)
    reals = (
        torch.rand(batch, 3, p, p, generator=g) * 2 - 1,
        torch.rand(batch, generator=g) * 2 - 1,
    )
    for precision in S(("bf16", "tf32", "fp32", "fp16"), ("fp32",)):
        if left() < 60:
            break
        run = RunConfig(
            model=model,
            train=TrainConfig(batch=batch),
            device=str(C.device),
            precision=precision,
            channels_last=C.device.type == "cuda",
            sample_seeds=(),
        )
        tr = Trainer(run, C.device)
        chunks = tr.real_rounds(reals)
        if C.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(C.device)
        t_first, stats0 = timed(lambda tr=tr: tr.train_step(reals))  # R1 + path length too

        def plain(s, tr=tr, chunks=chunks):
            tr.d_step(s, chunks)
            tr.g_step(s)
            tr.update_ema()
            return tr.check_finite(s)

        t_plain = min(timed(lambda s=s: plain(s))[0] for s in range(1, S(4, 2)))
        t_r1 = timed(lambda tr=tr, c=chunks: (tr.r1_step(5, c), tr.check_finite(5)))[0]
        t_pl = timed(lambda tr=tr: (tr.pl_step(5), tr.check_finite(5)))[0]
        per_step = t_plain + t_r1 / 16 + t_pl / 4
        finite = all(math.isfinite(v) for v in stats0.values())
        record(
            "s6",
            f"{preset}_batch{batch}_{precision}",
            "PASS" if finite else "FAIL",
            img_per_s=round(batch / per_step, 1),
            plain_ms=round(t_plain * 1e3, 1),
            r1_ms=round(t_r1 * 1e3, 1),
            pl_ms=round(t_pl * 1e3, 1),
            first_step_s=round(t_first, 2),
            peak_gib=peak_gib(),
            finite=finite,
            fp16_scale=tr.scaler_G.get_scale() if precision == "fp16" else None,
        )
        del tr


# ------------------------------------------------------------------------------------ s7
@section
def s7_train_resume() -> None:
    """A tiny deterministic run on the device, straight and resumed: identical weights."""
    from safetensors.torch import load_file

    from infinitygan import generate_region, load_generator
    from infinitygan.data import DataConfig, SyntheticLandscapeDataset
    from infinitygan.presets import get_preset
    from infinitygan.train import RunConfig, TrainConfig, training_loop

    model = get_preset("tiny")
    data = SyntheticLandscapeDataset(
        DataConfig(model.patch_size, model.full_size, model.pre_resize), seed=0, num_images=16
    )
    steps = S(8, 2)

    def run(n):
        return RunConfig(
            model=model,
            train=TrainConfig(batch=S(8, 2), r1_interval=4, pl_interval=2),
            total_steps=n,
            tick_every=2,
            snapshot_every=steps // 2,
            deterministic=True,
            device=str(C.device),
            precision=S("bf16", "fp32"),
            sample_seeds=(),
        )

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        a = training_loop(run(steps), tmp / "a", data)
        training_loop(run(steps // 2), tmp / "b", data)
        b = training_loop(run(steps), tmp / "b", data, resume=True)
        seconds = time.perf_counter() - t
        diffs = {}
        for f in (
            "generator.safetensors",
            "generator_ema.safetensors",
            "discriminator.safetensors",
        ):
            wa, wb = load_file(str(a.snapshot / f)), load_file(str(b.snapshot / f))
            diffs[f] = max((wa[k].double() - wb[k].double()).abs().max().item() for k in wa)
        exact = b.start_step == steps // 2 and all(v == 0 for v in diffs.values())
        record(
            "s7",
            "resume_equals_straight",
            "PASS" if exact else "FAIL",
            max_abs=diffs,
            seconds=round(seconds, 1),
            gpu_peak_gb=a.last_stats.get("mem/gpu_peak_gb"),
        )
        G = load_generator(a.snapshot / "generator_ema.safetensors")
        img = generate_region(
            G,
            1,
            -64,
            0,
            128,
            S(512, 128),
            device=C.device,
            precision=S("bf16", "fp32"),
            tile=64,
            tile_batch=4,
        )
        ok = bool(torch.isfinite(img).all()) and next(G.parameters()).device.type == "cpu"
        record("s7", "generate_from_snapshot", "PASS" if ok else "FAIL", shape=list(img.shape))


# ------------------------------------------------------------------------------------ s8
@section
def s8_torch_compile() -> None:
    if C.smoke:
        record("s8", "compile", "SKIP", reason="compilation takes minutes on this CPU")
        return
    from infinitygan import generate_region

    G = generator("tiny")
    t_c, a = timed(lambda: generate_region(G, 6, -20, 0, 64, 64, device=C.device, compile=True))
    b = generate_region(G, 6, -20, 0, 64, 64, device=C.device)
    d = maxabs(a, b)
    record(
        "s8",
        "tiny_compiled_vs_eager",
        "PASS" if d < 1e-4 else "FAIL",
        max_abs=d,
        first_call_s=round(t_c, 1),
    )
    if left() < 150:
        return
    G = generator("paper-101").to(C.device)
    kw = dict(precision="bf16", tile=1024, tile_batch=4)
    t_first, _ = timed(lambda: generate_region(G, 2, -1024, 0, 2048, 2048, compile=True, **kw))
    t_comp, a = timed(lambda: generate_region(G, 2, -1024, 0, 2048, 2048, compile=True, **kw))
    t_eager, b = timed(lambda: generate_region(G, 2, -1024, 0, 2048, 2048, **kw))
    record(
        "s8",
        "paper101_bf16_compiled",
        "INFO",
        compile_first_s=round(t_first, 1),
        speedup=round(t_eager / t_comp, 2),
        mpx_per_s=round(2048 * 2048 / 1e6 / t_comp, 2),
        psnr_vs_eager=round(psnr(b, a), 1),
    )


SECTIONS = (
    s0_environment,
    s1_device_tests,
    s2_parity_float64,
    s3_cpu_vs_device,
    s4_precision_psnr,
    s5_generation_speed,
    s6_training_speed,
    s7_train_resume,
    s8_torch_compile,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=470.0, help="seconds for the whole run")
    ap.add_argument("--only", default="", help="comma list of sections, e.g. s3,s5")
    ap.add_argument("--smoke-cpu", action="store_true", help="tiny sizes on the CPU")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()
    C.smoke, C.budget = args.smoke_cpu, args.budget
    C.only = [s for s in args.only.split(",") if s]
    if C.smoke:
        C.device = torch.device("cpu")
    elif not torch.cuda.is_available():
        print("gpu_check: PyTorch sees no CUDA device; use --smoke-cpu on a CPU", file=sys.stderr)
        return 2
    else:
        C.device = torch.device("cuda", torch.cuda.current_device())
    for run in SECTIONS:
        run()
    bad = [r for r in RESULTS if r["status"] in ("FAIL", "ERROR")]
    report = {
        "benchmark": "gpu_check",
        "device": str(C.device),
        "smoke_cpu": C.smoke,
        "passed": not bad,
        "failed": [f"{r['section']}/{r['check']}" for r in bad],
        "seconds": round(elapsed(), 1),
        "checks": RESULTS,
    }
    text = json.dumps(report, default=str)
    if args.out is not None:
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, args.out)
    print(text)
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
