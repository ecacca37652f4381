"""`infinitygan prepare synthetic`: files written, help, clear errors for bad options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from infinitygan.cli import main
from infinitygan.data import render_landscape


def test_prepare_synthetic_writes_the_files(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    result = CliRunner().invoke(
        main,
        [
            "prepare",
            "synthetic",
            "--count",
            "3",
            "--size",
            "40x24",
            "--out",
            str(out),
            "--seed",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 3 images of 40x24" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["000000.png", "000001.png", "000002.png"]
    with Image.open(out / "000002.png") as image:
        assert image.size == (40, 24)
        assert np.array_equal(np.asarray(image), render_landscape(2, 2, 24, 40))


def test_prepare_help() -> None:
    runner = CliRunner()
    group = runner.invoke(main, ["prepare", "--help"])
    assert group.exit_code == 0 and "synthetic" in group.output
    sub = runner.invoke(main, ["prepare", "synthetic", "--help"])
    assert sub.exit_code == 0
    for option in ("--count", "--size", "--out", "--seed", "Examples"):
        assert option in sub.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "2", "--size", "big"], "is not a size"),
        (["--count", "2", "--size", "0x10"], "must be positive"),
        (["--count", "2", "--size", "4x64"], "at least 8 px"),
        (["--count", "2", "--size", "20000x20000"], "the limit is"),
        (["--count", "0"], "--count"),
        (["--count", "abc"], "--count"),
        (["--count", "1", "--seed", "-3"], "--seed"),
    ],
)
def test_prepare_synthetic_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "never"
    result = CliRunner().invoke(main, ["prepare", "synthetic", "--out", str(out), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_prepare_synthetic_unwritable_output(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(
        main,
        ["prepare", "synthetic", "--count", "1", "--size", "16x16", "--out", str(blocker / "sub")],
    )
    assert result.exit_code == 1
    assert "cannot write" in result.output
