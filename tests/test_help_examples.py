"""Every example command line in every command's --help works.

The examples are read from the help text itself (lines starting with ``infinitygan``, joined
over trailing backslashes) and run in-process in an empty folder, made cheap: the model becomes
``random:tiny``, sizes, extensions, widths and counts shrink (fusion points with them), inversions
take one step, and the input images and latents files they name are made first. Each run must
exit with status 0 and write its outputs.

Examples that cannot run here are parsed only (every option and value must be accepted): `serve`
(a server that runs until stopped), `eval` (Inception features of thousands of images), `convert`
(an official checkpoint) and `train` on photos / paper presets; the `train` examples on the
synthetic data and `plot` of their run folder run in the slow test. Lines starting with
``torchrun`` need several processes (``tests/test_generate_outputs.py`` runs one).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from infinitygan.cli import main

RUN = ("generate", "fuse", "invert", "outpaint", "inbetween", "prepare")
SLOW = ("train", "plot")
MODELS = {"landscapes", "model.safetensors", "my.safetensors"}
MAX_SIDE = 128
IMAGE_SIZE = (48, 64)  # height, width of the photos the examples name


def commands(group=main, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        yield (*prefix, name), cmd
        if hasattr(cmd, "commands"):
            yield from commands(cmd, (*prefix, name))


def help_examples() -> list[list[str]]:
    """The example command lines (argument lists after ``infinitygan``) of every --help."""
    examples = []
    for path, _ in commands():
        result = CliRunner().invoke(main, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            while line.endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line[:-1].rstrip() + " " + lines[i].strip()
            if line.startswith("infinitygan "):
                examples.append(shlex.split(line)[1:])
            i += 1
    return examples


EXAMPLES = help_examples()


def example_id(argv: list[str]) -> str:
    return " ".join(argv)[:80]


def test_every_command_with_examples_is_covered():
    shown = {argv[0] for argv in EXAMPLES}
    assert {"generate", "fuse", "invert", "outpaint", "inbetween", "prepare", "train"} <= shown
    assert all(argv[0] in RUN + SLOW + ("serve", "eval", "convert") for argv in EXAMPLES)


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def cheap(argv: list[str], period: int) -> list[str]:
    """The example made small (see the module docstring); ``period``: random:tiny's period."""
    args = list(argv)
    command = args[0]
    if command in ("generate", "fuse", "invert", "outpaint", "inbetween") and args[1] in MODELS:
        args[1] = "random:tiny"
    factor = 1.0
    if "--size" in args:
        i = args.index("--size") + 1
        width, height = (int(v) for v in args[i].split("x"))
        factor = min(1.0, MAX_SIDE / max(width, height))
        small = max(8, round(width * factor)), max(8, round(height * factor))
        args[i] = f"{period if '--wrap' in args else small[0]}x{small[1]}"
    if "--layout" in args and args[args.index("--layout") + 1].startswith("points:"):
        i = args.index("--layout") + 1
        args[i] = re.sub(r"\d+", lambda m: str(round(int(m.group()) * factor)), args[i])
    if "--extend" in args:
        i = args.index("--extend") + 1
        args[i] = re.sub(r"\d+", lambda m: str(min(int(m.group()), 32)), args[i])
    if command == "inbetween":
        args[args.index("--width") + 1] = str(2 * IMAGE_SIZE[1] + 48)
    if "--count" in args:
        i = args.index("--count") + 1
        args[i] = str(min(int(args[i]), 2))
    if command in ("invert", "outpaint", "inbetween") and "--steps" not in args:
        args += ["--steps", "1"]
    if command == "train":
        args[args.index("--steps") + 1] = "2"
        args += ["--device", "cpu", "--outdir", "runs", "--snapshot-every", "2"]
    return args


def written(argv: list[str]) -> list[Path]:
    """What the example must have written (in the working folder)."""
    out = _option(argv, "--out")
    if out is None:
        return []
    seeds = _option(argv, "--seeds") or ""
    if argv[0] in ("generate", "outpaint", "inbetween") and ("-" in seeds or "," in seeds):
        stem, dot, ext = out.partition(".")
        return [Path(f"{stem}-seed{s:04d}.{ext}") for s in _seed_list(seeds)]
    if argv[0] == "prepare":
        count = int(_option(argv, "--count"))
        return [Path(out) / f"{i:06d}.png" for i in range(count)]
    return [Path(out)]


def _seed_list(text: str) -> list[int]:
    from infinitygan.cli._options import SEEDS

    return SEEDS.convert(text, None, None)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with the photos the examples name and a latents file of p.png."""
    from infinitygan.applications.inversion import InversionConfig, invert
    from infinitygan.checkpoint import load_generator
    from infinitygan.imageio import load_image

    d = tmp_path_factory.mktemp("examples")
    rng = np.random.default_rng(0)
    for name in ("photo.png", "a.png", "b.png", "p.png"):
        pixels = rng.integers(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(d / name)
    G = load_generator("random:tiny")
    image = load_image(d / "p.png")
    latents = invert(G, image, top=-16, left=0, config=InversionConfig(steps=1))
    latents.save(d / "p.safetensors")
    return d


@pytest.fixture(scope="module")
def period():
    from infinitygan.canvas import period_pixels
    from infinitygan.checkpoint import load_generator

    return period_pixels(load_generator("random:tiny"))


def run_in(folder: Path, args: list[str]):
    old = os.getcwd()
    os.chdir(folder)
    try:
        return CliRunner().invoke(main, args)
    finally:
        os.chdir(old)


@pytest.mark.parametrize("argv", [a for a in EXAMPLES if a[0] in RUN], ids=lambda a: example_id(a))
def test_help_example_runs(argv, workdir, period, tmp_path):
    for name in ("photo.png", "a.png", "b.png", "p.png", "p.safetensors"):
        if name in argv and name != _option(argv, "--out"):
            (tmp_path / name).symlink_to(workdir / name)
    args = cheap(argv, period)
    result = run_in(tmp_path, args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    for path in written(args):
        assert (tmp_path / path).exists(), (args, path, sorted(os.listdir(tmp_path)))


@pytest.mark.parametrize(
    "argv",
    [a for a in EXAMPLES if a[0] not in RUN and a[0] not in SLOW]
    + [a for a in EXAMPLES if a[0] == "train"],
    ids=lambda a: example_id(a),
)
def test_help_example_parses(argv, tmp_path, monkeypatch):
    """The examples that do not run here: every option and value is accepted (the command's
    body is replaced by one that does nothing)."""
    for token in argv[1:]:
        if token.endswith((".safetensors", ".pth.tar", ".zip")):
            (tmp_path / token).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / token).write_bytes(b"")
    command = dict(commands())[tuple(argv[:1])]
    called = []
    monkeypatch.setattr(command, "callback", lambda **kwargs: called.append(kwargs))
    result = run_in(tmp_path, argv)
    assert result.exit_code == 0 and len(called) == 1, (argv, result.output, result.exception)


@pytest.mark.slow
def test_train_and_plot_help_examples_run(period, tmp_path):
    """``train --data synthetic`` (2 steps), ``train --resume`` of its run, ``plot`` of it."""
    first = next(a for a in EXAMPLES if a[0] == "train" and "synthetic" in a)
    result = run_in(tmp_path, cheap(first, period))
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    resume = next(a for a in EXAMPLES if a[0] == "train" and "--resume" in a)
    args = cheap(resume, period)
    args[args.index("--resume") + 1] = str(run)
    args[args.index("--steps") + 1] = "4"
    result = run_in(tmp_path, args)
    assert result.exit_code == 0, result.output
    for argv in (a for a in EXAMPLES if a[0] == "plot"):
        args = [str(run) if a.startswith("runs/") else a for a in argv]
        result = run_in(tmp_path, args)
        assert result.exit_code == 0, result.output
