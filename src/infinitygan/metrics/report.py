"""Reporting of evaluation records: one line per record, and the per-model ScaleInv plot."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infinitygan.metrics.metric_requests import format_scale
from infinitygan.metrics.plots import plot_scaleinv
from infinitygan.metrics.registry import read_metric_jsonl

PLOT_FILE = "scaleinv.png"
"""The ScaleInv plot beside the records."""


def plot_model_scaleinv(out_dir: str | os.PathLike[str], hash: str) -> Path | None:
    """Redraw ``<out_dir>/scaleinv.png`` from the ScaleInv records of the model ``hash``.

    The latest record per (data, mode, N, scale) is plotted, one line per (data, mode, N).

    Returns:
        The PNG path, or ``None`` when there are no records to plot.
    """
    path = Path(out_dir) / "metric-scaleinv_fid.jsonl"
    if not path.is_file():
        return None
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in read_metric_jsonl(path):
        if record.get("model_hash") != hash or record.get("fid") is None:
            continue
        key = (record.get("data"), record.get("mode"), record.get("num"), record.get("scale"))
        latest[key] = record
    if not latest:
        return None
    datas = {k[0] for k in latest}
    points = []
    for (data, mode, num, _), record in latest.items():
        label = f"{mode}, N={num}" + (f", {data}" if len(datas) > 1 else "")
        points.append({"scale": record["scale"], "fid": record["fid"], "label": label})
    name = next(iter(latest.values())).get("model_name", "model")
    return plot_scaleinv(points, Path(out_dir) / PLOT_FILE, title=f"ScaleInv FID: {name}")


def format_record(record: Mapping[str, Any]) -> str:
    """One human-readable line per record, with N beside every number."""
    metric = record.get("metric", "?")
    if "skipped" in record:
        return f"{metric}: skipped ({record['skipped']})"
    if metric == "fid":
        return (
            f"fid: {record['fid']:.2f}  (N={record['num_fakes']} fakes vs "
            f"{record['num_reals']} reals, {record['size']} px)"
        )
    if metric == "kid":
        return (
            f"kid: {record['kid_mean']:.5f} +- {record['kid_std']:.5f}  (N={record['num_fakes']} "
            f"fakes vs {record['num_reals']} reals, subsets of {record['subset_size']})"
        )
    if metric == "patch_fid":
        return (
            f"patch-fid: {record['fid']:.2f}  (N={record['num_fakes']} patches of "
            f"{record['patch_size']} px vs {record['num_reals']} real patches)"
        )
    if metric == "scaleinv_fid":
        return (
            f"scaleinv-fid@{format_scale(record['scale'])} [{record['mode']}]: "
            f"{record['fid']:.2f}  (N={record['num_fakes']} fakes of "
            f"{record['generated_size']} px -> {record['real_res']} px vs "
            f"{record['num_reals']} reals)"
        )
    if metric == "swd":
        levels = ", ".join(f"{v:.1f}" for v in record["swd_per_level"])
        return (
            f"swd: {record['swd_mean']:.2f} x1e-3 (levels {levels})  (N={record['num_fakes']} "
            f"fakes vs {record['num_reals']} reals)"
        )
    if metric == "diversity":
        return (
            f"diversity: {record['diversity']:.3f}  (mean pairwise L2 of features, "
            f"N={record['num_fakes']} seeds)"
        )
    if metric == "infinite_fid":
        parts = []
        for b in record["bins"]:
            fid = "n/a" if b["fid"] is None or not math.isfinite(b["fid"]) else f"{b['fid']:.2f}"
            parts.append(f"{b['start']}-{b['stop']} px: {fid} (N={b['num_frames']})")
        return f"infinite-fid: {'; '.join(parts)}  (vs {record['num_reals']} reals)"
    if metric == "seams":
        return (
            f"seams: max |tiled - one-shot| = {record['max_abs_diff']:.2e}, PSNR >= "
            f"{record['min_psnr']:.1f} dB, seam energy ratio {record['seam_energy_ratio']:.3f} "
            f"(one-shot {record['seam_energy_ratio_one_shot']:.3f})  (N={record['num_fakes']} "
            f"canvases of {record['canvas_size']} px, tiles of {record['tile_size']} px)"
        )
    return json.dumps(dict(record))
