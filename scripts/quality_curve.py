"""Quality against training CPU time: patch FID and SWD of a run's snapshots, as JSON and a PNG.

Reads the ``metric-patch_fid.jsonl`` and ``metric-swd.jsonl`` records that ``infinitygan eval
SNAPSHOT/generator_ema.safetensors --metrics patch-fid,swd --out EVAL_DIR`` wrote, and each
evaluated snapshot's own metadata (step, kimg, ``cpu_hours``: the run's CPU time up to it).
Records of the same model file (by hash) are joined into one point; a model file without
``cpu_hours`` (e.g. a bundled model given by name) is skipped with a note.

Usage:
    python scripts/quality_curve.py OUT.json OUT.png EVAL_DIR [EVAL_DIR ...] \
        [--title TEXT] [--label TEXT] [--offset-hours H] [--ref "LABEL=FID,SWD" ...] \
        [--earlier "LABEL=CURVE.json" ...]

``--offset-hours`` adds the CPU time of whatever the run started from (``--init``), so that the
x axis counts the model's whole training. Each ``--ref`` draws a dashed line at a patch FID and
an SWD (e.g. the starting model, the untrained model, a quality bar). Each ``--earlier`` draws
the points of a curve this script wrote before (e.g. the run that this one continued, whose
snapshot files may be gone) as a series of its own, at that curve's own offset; the output JSON
names each under ``earlier`` (label, source file, offset), without copying its points.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infinitygan._files import atomic_write, atomic_write_json
from infinitygan.checkpoint import CheckpointError, read_metadata
from infinitygan.metrics.registry import read_metric_jsonl

METRICS = {"patch_fid": "fid", "swd": "swd_mean"}


def collect(eval_dirs: list[Path]) -> list[dict]:
    """One point per evaluated model file: its snapshot metadata and its metric values."""
    points: dict[str, dict] = {}
    for folder in eval_dirs:
        for metric, key in METRICS.items():
            path = folder / f"metric-{metric}.jsonl"
            if not path.is_file():
                continue
            for record in read_metric_jsonl(path):
                point = points.setdefault(record["model_hash"], {"model": record["model"]})
                point[metric] = record[key]
                point["num"] = record["num"]
                point["num_reals"] = record["num_reals"]
                point["data"] = record["data"]
    out = []
    for point in points.values():
        try:
            extra = json.loads(read_metadata(point["model"]).get("extra", "{}"))
        except CheckpointError as err:
            print(f"skipped {point['model']}: {err}")
            continue
        if "cpu_hours" not in extra:
            print(f"skipped {point['model']}: its metadata has no cpu_hours")
            continue
        point.update({k: extra[k] for k in ("step", "kimg", "cpu_hours") if k in extra})
        out.append(point)
    return sorted(out, key=lambda p: p["cpu_hours"])


def parse_ref(text: str) -> tuple[str, float, float]:
    """``"LABEL=FID,SWD"`` -> (label, fid, swd)."""
    label, sep, values = text.rpartition("=")
    try:
        fid, swd = (float(v) for v in values.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ref {text!r}: expected LABEL=FID,SWD") from None
    if not sep or not label:
        raise argparse.ArgumentTypeError(f"--ref {text!r}: expected LABEL=FID,SWD")
    return label, fid, swd


def parse_earlier(text: str) -> tuple[str, Path]:
    """``"LABEL=CURVE.json"`` -> (label, path)."""
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"--earlier {text!r}: expected LABEL=CURVE.json")
    return label, Path(path)


def read_earlier(label: str, path: Path) -> dict:
    """An earlier curve's points and offset, as a series: {label, offset_cpu_hours, points}."""
    try:
        curve = json.loads(path.read_text())
        return {
            "label": label,
            "source": str(path),
            "offset_cpu_hours": float(curve.get("offset_cpu_hours", 0.0)),
            "points": list(curve["points"]),
        }
    except (OSError, ValueError, KeyError, TypeError) as err:
        message = f"error: --earlier {path}: not a curve this script wrote ({err})"
        raise SystemExit(message) from None


def plot(
    series: list[dict],
    out: Path,
    title: str,
    refs: list[tuple[str, float, float]],
) -> None:
    """``series``: [{label, offset_cpu_hours, points}], drawn in order, one colour each."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), dpi=110)
    FigureCanvasAgg(fig)
    for i, (metric, label) in enumerate((("patch_fid", "patch FID"), ("swd", "SWD"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for k, one in enumerate(series):
            shown = [p for p in one["points"] if metric in p]
            xs = [p["cpu_hours"] + one["offset_cpu_hours"] for p in shown]
            ys = [p[metric] for p in shown]
            ax.plot(xs, ys, marker="o", markersize=3, color=f"C{k}", label=one["label"])
        for j, (ref_label, *values) in enumerate(refs):
            color = f"C{len(series) + j}"
            ax.axhline(values[i], linestyle="--", linewidth=1, color=color, label=ref_label)
        ax.legend(fontsize=6, loc="upper right")
        offset = series[-1]["offset_cpu_hours"] if len(series) == 1 else 0.0
        ax.set_xlabel("training CPU-hours" + (f" (+{offset:g} before)" if offset else ""))
        ax.set_ylabel(f"{label} (lower is better)")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_json", type=Path)
    parser.add_argument("out_png", type=Path)
    parser.add_argument("eval_dirs", type=Path, nargs="+")
    parser.add_argument("--title", default="quality against training CPU time")
    parser.add_argument("--label", default="snapshots", help="legend label of this run's points")
    parser.add_argument("--offset-hours", type=float, default=0.0)
    parser.add_argument("--ref", type=parse_ref, action="append", default=[])
    parser.add_argument("--earlier", type=parse_earlier, action="append", default=[])
    args = parser.parse_args()
    missing = [str(d) for d in args.eval_dirs if not d.is_dir()]
    if missing:
        raise SystemExit(f"error: no such evaluation folder: {', '.join(missing)}")
    points = collect(args.eval_dirs)
    if not points:
        raise SystemExit("error: no patch-fid or swd records of snapshots in those folders")
    earlier = [read_earlier(label, path) for label, path in args.earlier]
    result = {
        "what": args.title,
        "offset_cpu_hours": args.offset_hours,
        "references": [{"label": r[0], "patch_fid": r[1], "swd": r[2]} for r in args.ref],
        "points": points,
    }
    if earlier:  # where the earlier points are, not a second copy of them
        result["earlier"] = [{k: v for k, v in e.items() if k != "points"} for e in earlier]
    atomic_write_json(args.out_json, result)
    series = earlier + [
        {"label": args.label, "offset_cpu_hours": args.offset_hours, "points": points}
    ]
    plot(series, args.out_png, args.title, args.ref)
    print(f"wrote {args.out_json} and {args.out_png} ({len(points)} points)")


if __name__ == "__main__":
    main()
