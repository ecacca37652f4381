"""What the commands write: resumes that must match, locks, existing files, outputs that are
inputs, checks before work, and the smaller output rules (issue 17, items 1, 2, 8 and 9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from infinitygan import build_generator, generate_region, save_generator
from infinitygan.cli import main
from infinitygan.writers import (
    ResumeMismatchError,
    check_output_path,
    lock_output,
    lock_path,
    open_canvas_writer,
    scratch_path,
    sidecar_path,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture()
def model_file(tmp_path, tiny_generator):
    return save_generator(tiny_generator, tmp_path / "tiny.safetensors")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def refused(*args, code: int | None = None):
    """The command fails with one clear line, no traceback, and the exit code when given."""
    result = invoke(*args)
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output


def one_line(text: str) -> str:
    return " ".join(text.split())


def save_png(path: Path, image: torch.Tensor) -> Path:
    Image.fromarray(
        ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    ).save(path)
    return path


def interrupt_after(monkeypatch, chunks: int) -> None:
    """Make the next render stop (like a kill) after ``chunks`` chunks are written."""
    import infinitygan.streaming as render_module

    real = render_module.render_to_writer

    def stopping(render, writer, *args, **kwargs):
        count = {"n": 0}
        real_write = writer.write

        def write(y, x, tile):
            if count["n"] == chunks:
                raise KeyboardInterrupt("simulated kill")
            count["n"] += 1
            real_write(y, x, tile)

        writer.write = write
        return real(render, writer, *args, **kwargs)

    import infinitygan.output as output_module  # the one writing pipeline of every command

    monkeypatch.setattr(render_module, "render_to_writer", stopping)
    monkeypatch.setattr(output_module, "render_to_writer", stopping)


def gen_args(model, out, *extra):
    return ["generate", model, "--size", "128x128", "--chunk", "64", "--out", out, *extra]


def interrupted_generate(monkeypatch, model, out, *extra):
    with monkeypatch.context() as m:
        interrupt_after(m, 1)
        result = invoke(*gen_args(model, out, *extra))
    assert result.exit_code != 0 and scratch_path(out).is_dir() and not out.exists()


# ------------------------------------------------------------------------- 1: resume settings
@pytest.mark.parametrize(
    ("first", "second", "named"),
    [
        (["--seed", "0"], ["--seed", "5"], "seed 0, not 5"),
        (["--offset", "0,0"], ["--offset", "0,16"], "region left 0, not 16"),
        (["--precision", "fp32"], ["--precision", "bf16"], "precision fp32, not bf16"),
    ],
)
def test_resume_with_other_settings_is_refused_naming_them(
    tmp_path, model_file, monkeypatch, first, second, named
):
    out = tmp_path / "big.tif"
    interrupted_generate(monkeypatch, model_file, out, *first)
    message = one_line(refused(*gen_args(model_file, out, *second, "--resume"), code=1))
    assert "cannot resume big.tif" in message and named in message
    assert not out.exists() and scratch_path(out).is_dir()
    # the same settings finish it, equal to an uninterrupted run
    ok(*gen_args(model_file, out, *first, "--resume"))
    (tmp_path / "ref").mkdir()
    ok(*gen_args(model_file, tmp_path / "ref" / "big.tif", *first))
    assert out.read_bytes() == (tmp_path / "ref" / "big.tif").read_bytes()
    settings = json.loads(sidecar_path(out).read_text())["settings"]
    assert {"model_sha256", "seed", "region", "precision", "wrap", "format_options"} <= set(
        settings
    )


def test_resume_with_another_model_is_refused(tmp_path, model_file, monkeypatch):
    out = tmp_path / "a.png"
    interrupted_generate(monkeypatch, model_file, out)
    other = save_generator(build_generator("tiny", seed=1), tmp_path / "other.safetensors")
    assert "model sha256" in one_line(refused(*gen_args(other, out, "--resume")))


def test_resume_with_other_format_options_is_refused(tmp_path):
    target = tmp_path / "a.tif"
    opts = {"compression": "zlib"}
    writer = open_canvas_writer(target, 64, 64, chunk=32, metadata={}, options=opts, settings={})
    writer.write(0, 0, np.zeros((32, 32, 3), np.uint8))
    del writer
    with pytest.raises(ResumeMismatchError, match="format options compression zlib, not lzma"):
        open_canvas_writer(
            target,
            64,
            64,
            chunk=32,
            metadata={},
            resume=True,
            settings={},
            options={"compression": "lzma"},
        )


@pytest.mark.parametrize("name", ["a.png", "a.zarr"])
def test_writer_records_settings_and_names_each_difference(tmp_path, name):
    target = tmp_path / name
    settings = {"seed": 0, "region": {"top": -64, "left": 0}, "precision": "fp32"}
    writer = open_canvas_writer(target, 64, 64, chunk=32, metadata={}, settings=settings)
    writer.write(0, 0, np.zeros((32, 32, 3), np.uint8))
    del writer
    other = {"seed": 5, "region": {"top": -64, "left": 32}, "precision": "fp32"}
    with pytest.raises(ResumeMismatchError) as info:
        open_canvas_writer(target, 64, 64, chunk=32, metadata={}, resume=True, settings=other)
    assert info.value.differences == ["region left 0, not 32", "seed 0, not 5"]
    writer = open_canvas_writer(
        target, 64, 64, chunk=32, metadata={}, resume=True, settings=settings
    )
    assert writer.done(0, 0) and not writer.done(0, 32)


def test_fuse_resume_with_other_seeds_is_refused(tmp_path, model_file, monkeypatch):
    out = tmp_path / "f.png"
    args = ["fuse", model_file, "--size", "128x64", "--chunk", "64", "--out", out]
    with monkeypatch.context() as m:
        interrupt_after(m, 1)
        assert invoke(*args, "--seeds", "3,8").exit_code != 0
    assert scratch_path(out).is_dir()
    message = one_line(refused(*args, "--seeds", "3,9", "--resume"))
    assert "cannot resume f.png" in message and "description anchors" in message
    ok(*args, "--seeds", "3,8", "--resume")
    assert out.is_file() and not scratch_path(out).exists()


def test_resume_keeps_finished_files_of_the_same_settings_only(tmp_path, model_file):
    out = tmp_path / "s.png"
    ok(*gen_args(model_file, out, "--seeds", "0,1"))
    first = tmp_path / "s-seed0000.png"
    before = first.stat().st_mtime_ns
    result = ok(*gen_args(model_file, out, "--seeds", "0,1", "--resume"))
    assert result.output.count("kept") == 2 and first.stat().st_mtime_ns == before
    message = one_line(
        refused(*gen_args(model_file, out, "--seeds", "0,1", "--offset", "8,0", "--resume"))
    )
    assert "s-seed0000.png" in message and "region top" in message
    result = ok(
        *gen_args(model_file, out, "--seeds", "0,1", "--offset", "8,0", "--resume", "--force")
    )
    assert "kept" not in result.output and first.stat().st_mtime_ns != before
    # a file not written by such a run (no settings in its sidecar) is not silently kept
    lone = tmp_path / "lone.png"
    Image.new("RGB", (128, 128)).save(lone)
    assert "does not record the settings" in one_line(
        refused(*gen_args(model_file, lone, "--resume"))
    )


# ----------------------------------------------------------------------------- 1: the lock
_HOLD = (
    "import sys; from infinitygan.writers import lock_output\n"
    "with lock_output(sys.argv[1]):\n"
    "    print('locked', flush=True); sys.stdin.readline()\n"
)


def test_a_second_process_on_the_same_output_is_refused(tmp_path, model_file, monkeypatch):
    out = tmp_path / "big.tif"
    interrupted_generate(monkeypatch, model_file, out)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = one_line(refused(*gen_args(model_file, out, "--resume"), code=1))
        assert f"another infinitygan process (pid {holder.pid}) is writing big.tif" in message
        assert scratch_path(out).is_dir() and not out.exists()
    finally:
        holder.communicate("\n", timeout=60)
    # once the holder is gone, the resume runs, and the lock file is cleaned up
    ok(*gen_args(model_file, out, "--resume"))
    assert out.is_file() and not lock_path(out).exists()


def test_lock_is_exclusive_and_a_leftover_lock_file_does_not_block(tmp_path):
    target = tmp_path / "x.png"
    lock_path(target).write_text("12345\n")  # left by a killed run: not locked by anyone
    with lock_output(target):
        with pytest.raises(ValueError, match="another infinitygan process .* x.png"):
            with lock_output(target):
                pass
    assert not lock_path(target).exists()
    with lock_output(target):
        pass


# --------------------------------------------------------------- 2: existing files and inputs
def test_generate_refuses_an_existing_output_without_force(tmp_path, model_file):
    out = tmp_path / "a.png"
    ok(*gen_args(model_file, out, "--seed", "1"))
    first = out.read_bytes()
    message = one_line(refused(*gen_args(model_file, out, "--seed", "2"), code=1))
    assert "--out" in message and "already exists" in message and "--force" in message
    assert out.read_bytes() == first
    ok(*gen_args(model_file, out, "--seed", "2", "--force"))
    assert out.read_bytes() != first


def test_generate_refuses_to_overwrite_its_model(tmp_path, model_file):
    weights = model_file.read_bytes()
    link = tmp_path / "link.tif"
    os.symlink(model_file, link)
    for out in (model_file, link):
        message = one_line(refused(*gen_args(model_file, out, "--force"), code=2))
        assert "is also the input MODEL" in message
    assert model_file.read_bytes() == weights


@pytest.fixture()
def photo(tmp_path, tiny_generator):
    return save_png(tmp_path / "photo.png", generate_region(tiny_generator, 3, -16, 0, 32, 40))


def test_invert_outputs_may_not_be_its_inputs(tmp_path, model_file, photo):
    pixels = photo.read_bytes()
    weights = model_file.read_bytes()
    base = ["invert", model_file, photo, "--steps", "1"]
    assert "is also the input MODEL" in one_line(refused(*base, "--out", model_file, code=2))
    message = one_line(
        refused(*base, "--out", tmp_path / "l.safetensors", "--preview", photo, "--force")
    )
    assert "--preview" in message and "is also the input IMAGE" in message
    assert photo.read_bytes() == pixels and model_file.read_bytes() == weights


def test_outpaint_and_inbetween_may_not_replace_their_images(tmp_path, model_file, photo):
    pixels = photo.read_bytes()
    message = one_line(
        refused("outpaint", model_file, photo, "--extend", "right:16", "--out", photo, "--force")
    )
    assert "is also the input IMAGE" in message
    message = one_line(
        refused("inbetween", model_file, photo, photo, "--width", "200", "--out", photo)
    )
    assert "is also the input LEFT" in message
    assert photo.read_bytes() == pixels


def test_fuse_description_may_not_be_the_image(tmp_path, model_file):
    out = tmp_path / "f.png"
    args = ["fuse", model_file, "--seeds", "1,2", "--size", "64x64", "--out", out]
    message = one_line(refused(*args, "--save-description", out, code=2))
    assert "same file" in message or "not a .json" in message
    sidecar = one_line(refused(*args, "--save-description", sidecar_path(out), code=2))
    assert "the sidecar of f.png" in sidecar and "same file" in sidecar
    assert not out.exists()


def test_convert_refuses_its_input_and_existing_outputs(tmp_path):
    official = tmp_path / "official.safetensors"
    official.write_bytes(b"not really")
    assert "is also the input OFFICIAL" in one_line(refused("convert", official, official))
    out = tmp_path / "g.safetensors"
    out.write_bytes(b"keep me")
    assert "already exists" in one_line(refused("convert", tmp_path / "x.pth.tar", out))
    assert out.read_bytes() == b"keep me"
    same = one_line(refused("convert", official, out, "--discriminator-out", out, "--force"))
    assert "same file" in same


def test_prepare_synthetic_into_a_used_folder(tmp_path):
    folder = tmp_path / "data"
    ok("prepare", "synthetic", "--count", "3", "--size", "16x16", "--out", folder)
    message = one_line(
        refused("prepare", "synthetic", "--count", "2", "--size", "16x16", "--out", folder)
    )
    assert "not empty" in message and "--force" in message
    (folder / "notes.txt").write_text("mine")
    result = ok(
        "prepare", "synthetic", "--count", "2", "--size", "16x16", "--out", folder, "--force"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["000000.png", "000001.png", "notes.txt"]
    assert "deleted 1 images" in result.output and "notes.txt" in result.output


def test_plot_refuses_an_existing_out_without_force(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "stats.jsonl").write_text('{"kimg": 0.1, "loss/G": 1.0, "loss/D": 2.0}\n')
    out = tmp_path / "curves.png"
    out.write_bytes(b"keep me")
    assert "already exists" in one_line(refused("plot", run, "--out", out))
    assert out.read_bytes() == b"keep me"
    assert "is also the input" in one_line(refused("plot", run, "--out", run / "stats.jsonl"))


# ------------------------------------------------------------------- 8: checks before work
def _no_work(monkeypatch, *targets):
    def fail(*args, **kwargs):
        raise AssertionError("work started before the outputs were checked")

    for module, name in targets:
        monkeypatch.setattr(module, name, fail)


def test_outpaint_checks_its_outputs_before_inverting(tmp_path, model_file, photo, monkeypatch):
    import infinitygan.cli.outpaint as outpaint

    _no_work(monkeypatch, (outpaint, "run_inversion"), (outpaint, "load_model"))
    base = ["outpaint", model_file, photo]
    assert "unsupported output extension '.bmp'" in one_line(
        refused(*base, "--extend", "right:16", "--out", tmp_path / "o.bmp")
    )
    assert "too large for WebP" in one_line(
        refused(*base, "--extend", "right:20000", "--out", tmp_path / "o.webp")
    )
    assert "must end in .safetensors" in one_line(
        refused(
            *base,
            "--extend",
            "right:16",
            "--out",
            tmp_path / "o.png",
            "--save-latents",
            tmp_path / "l.bin",
        )
    )


def test_invert_checks_the_preview_before_inverting(tmp_path, model_file, photo, monkeypatch):
    import infinitygan.cli.invert as invert

    _no_work(monkeypatch, (invert, "run_inversion"), (invert, "load_model"))
    base = ["invert", model_file, photo, "--out", tmp_path / "l.safetensors"]
    assert "--preview" in one_line(refused(*base, "--preview", tmp_path / "p.xyz"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert "is not a folder" in one_line(refused(*base, "--preview", blocker / "p.png"))


def test_fuse_checks_the_description_path_before_work(tmp_path, model_file, monkeypatch):
    import infinitygan.cli.fuse as fuse

    _no_work(monkeypatch, (fuse, "load_model"), (fuse, "write_outputs"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = ["fuse", model_file, "--seeds", "1,2", "--size", "64x64", "--out", tmp_path / "f.png"]
    assert "is not a folder" in one_line(refused(*args, "--save-description", blocker / "d.json"))
    assert "not a .json" in one_line(refused(*args, "--save-description", tmp_path / "d.txt"))


# ------------------------------------------------------------------------------- 9: smaller
def test_latents_of_another_image_warn(tmp_path, model_file, tiny_generator, photo):
    latents = tmp_path / "photo.latents.safetensors"
    ok("invert", model_file, photo, "--steps", "1", "--out", latents)
    from safetensors import safe_open

    with safe_open(str(latents), framework="pt") as f:
        meta = json.loads(f.metadata()["infinitygan"])
    from infinitygan.applications.inverted import image_digest

    assert meta["image_sha256"] == image_digest(np.asarray(Image.open(photo)))
    other = save_png(tmp_path / "other.png", generate_region(tiny_generator, 9, -16, 0, 32, 40))
    args = ["outpaint", model_file, "--latents", latents, "--extend", "right:16"]
    result = ok(*args[:2], other, *args[2:], "--out", tmp_path / "o.png")
    assert "warning" in result.output and "inverted from another image" in result.output
    result = ok(*args[:2], photo, *args[2:], "--out", tmp_path / "p.png")
    assert "warning" not in result.output


def test_resumed_write_needs_only_the_space_left(tmp_path, monkeypatch):
    import shutil

    import infinitygan.writers._formats as formats

    target = tmp_path / "a.tif"
    opts = formats.normalize_options("tiff", None)
    need = formats.estimate_disk_bytes("tiff", 512, 512, opts)
    writer = open_canvas_writer(target, 512, 512, chunk=256, metadata={})
    for y, x in list(writer.chunk_positions())[:3]:
        writer.write(y, x, np.zeros((256, 256, 3), np.uint8))
    del writer
    done = formats.used_bytes(scratch_path(target))
    assert done >= 3 * 256 * 256 * 3
    usage = shutil.disk_usage(tmp_path)
    fake = usage._replace(free=need - done // 2)
    monkeypatch.setattr(formats.shutil, "disk_usage", lambda path: fake)
    check_output_path(target, 512, 512)  # the partial's chunks are credited
    with pytest.raises(ValueError, match="not enough free disk space"):
        check_output_path(tmp_path / "b.tif", 512, 512)


def test_many_outputs_need_yes(tmp_path, model_file):
    message = one_line(refused(*gen_args(model_file, tmp_path / "a.png", "--seeds", "0-100000")))
    assert "100,001 output files" in message and "--yes" in message
    assert list(tmp_path.iterdir()) == [model_file]
    result = ok(*gen_args(model_file, tmp_path / "a.png", "--seeds", "0-150", "--yes", "--dry-run"))
    assert len(json.loads(result.output)["outputs"]) == 151


def test_quality_for_tif_writes_jpeg_tiles_or_says_what_is_missing(
    tmp_path, model_file, monkeypatch
):
    from infinitygan.cli.generate import quality_options

    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    message = one_line(
        refused(*gen_args(model_file, tmp_path / "a.tif", "--quality", "80"), code=2)
    )
    assert "imagecodecs" in message and "--quality" in message
    assert not (tmp_path / "a.tif").exists()
    monkeypatch.setitem(sys.modules, "imagecodecs", type(sys)("imagecodecs"))
    assert quality_options(Path("a.tif"), 80) == {"compression": "jpeg", "quality": 80}
    assert quality_options(Path("a.jpg"), 80) == {"quality": 80}


def test_outpaint_resume_reuses_its_latents_and_checks_the_image(
    tmp_path, model_file, tiny_generator, photo, monkeypatch
):
    import infinitygan.cli.outpaint as outpaint

    out = tmp_path / "o.png"
    tail = ["--extend", "right:96", "--chunk", "64", "--out", out]
    with monkeypatch.context() as m:
        interrupt_after(m, 1)
        assert invoke("outpaint", model_file, photo, "--steps", "1", *tail).exit_code != 0
    latents = tmp_path / "o.latents.safetensors"
    assert latents.is_file() and scratch_path(out).is_dir() and not out.exists()
    other = save_png(tmp_path / "other.png", generate_region(tiny_generator, 9, -16, 0, 32, 40))
    with monkeypatch.context() as m:
        _no_work(m, (outpaint, "run_inversion"))
        message = one_line(refused("outpaint", model_file, other, *tail, "--resume"))
        assert "inverted from another image" in message
        message = one_line(
            refused("outpaint", model_file, photo, "--steps", "2", *tail, "--resume")
        )
        assert "was inverted with inversion steps 1, not 2" in message
        message = one_line(refused("outpaint", model_file, photo, "--at", "0,0", *tail, "--resume"))
        assert "position [-16, 0], not [0, 0]" in message
        result = ok("outpaint", model_file, photo, "--steps", "1", *tail, "--resume")
    assert "reuses" in result.output and out.is_file() and not scratch_path(out).exists()
    (tmp_path / "ref").mkdir()
    ref = tmp_path / "ref" / "o.png"
    ok("outpaint", model_file, photo, "--latents", latents, *tail[:-1], ref)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(ref)))


def test_inbetween_resume_reuses_both_latents(tmp_path, model_file, tiny_generator, monkeypatch):
    import infinitygan.cli.inbetween as inbetween

    images = [
        save_png(tmp_path / f"{n}.png", generate_region(tiny_generator, s, -16, 0, 32, 40))
        for n, s in (("a", 1), ("b", 2))
    ]
    out = tmp_path / "j.png"
    args = ["inbetween", model_file, *images, "--width", "160", "--steps", "1"]
    tail = ["--chunk", "64", "--out", out]
    with monkeypatch.context() as m:
        interrupt_after(m, 1)
        assert invoke(*args, *tail).exit_code != 0
    assert scratch_path(out).is_dir()
    with monkeypatch.context() as m:
        _no_work(m, (inbetween, "run_inversion"))
        result = ok(*args, *tail, "--resume")
    assert result.output.count("note: --resume reuses") == 2 and out.is_file()
    assert "already exists" in one_line(refused(*args, *tail))


def test_outpaint_and_fuse_take_the_lock_of_out(tmp_path, model_file, photo, monkeypatch):
    import infinitygan.cli.outpaint as outpaint

    _no_work(monkeypatch, (outpaint, "run_inversion"))
    out = tmp_path / "o.png"
    with lock_output(out):
        message = one_line(
            refused(
                "outpaint",
                model_file,
                photo,
                "--extend",
                "right:16",
                "--seeds",
                "0,1",
                "--out",
                out,
            )
        )
        assert "is writing o.png right now" in message
        fused = one_line(
            refused("fuse", model_file, "--seeds", "1", "--size", "64x64", "--out", out)
        )
        assert "is writing o.png right now" in fused
    assert not any(tmp_path.glob("o*.png"))


def test_eval_does_not_write_into_its_data(tmp_path):
    ok("prepare", "synthetic", "--count", "2", "--size", "16x16", "--out", tmp_path / "d")
    for out in (tmp_path / "d", tmp_path / "d" / "results"):
        message = one_line(
            refused("eval", "random:tiny", "--data", tmp_path / "d", "--out", out, code=2)
        )
        assert "inside the --data folder" in message
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["000000.png", "000001.png"]


# ------------------------------------------------- one check of an output's place before work
def test_prepare_output_refuses_what_cannot_be_written_and_creates_the_folder(tmp_path):
    import click

    from infinitygan.cli._common import prepare_output

    blocker = tmp_path / "notes.txt"
    blocker.write_text("")
    with pytest.raises(click.BadParameter, match=r"notes.txt is not a folder \(it is a") as err:
        prepare_output(blocker / "deeper" / "x.png", "--out")
    assert err.value.param_hint == "--out"
    with pytest.raises(click.ClickException, match="it is a folder; give a file name"):
        prepare_output(tmp_path, None)
    with pytest.raises(click.BadParameter, match="is a file, not a folder; give a folder"):
        prepare_output(blocker, "--outdir", kind="folder")
    prepare_output(tmp_path, "--out", kind="any")  # a zarr store may be replaced
    prepare_output(tmp_path / "a" / "b" / "x.png", "--out")
    assert (tmp_path / "a" / "b").is_dir() and not (tmp_path / "a" / "b" / "x.png").exists()
    prepare_output(None, "--preview")
    with pytest.raises(ValueError, match="kind must be"):
        prepare_output(tmp_path / "x.png", kind="dir")
