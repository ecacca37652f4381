"""Loss curves of a run, drawn from its ``stats.jsonl`` on a matplotlib Agg canvas (no pyplot)."""

from __future__ import annotations

import math
from pathlib import Path

from infinitygan._files import atomic_write
from infinitygan.train.runs import STATS_FILE, read_stats

PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("adversarial", ("D/adv", "G/adv")),
    ("D logits", ("D/real_logit", "D/fake_logit")),
    ("coordinate L1 (vertical)", ("D/coord_real", "D/coord_fake", "G/coord")),
    ("diversity", ("G/diversity",)),
    ("R1 penalty", ("D/r1",)),
    ("path length", ("G/path_length", "G/pl_length", "G/pl_mean")),
)


def plot_stats(run_dir: str | Path, out: str | Path | None = None, *, smooth: int = 1) -> Path:
    """Draw the loss terms of ``run_dir/stats.jsonl`` against kimg into one PNG.

    Args:
        run_dir: a run folder (or a stats.jsonl path).
        out: the PNG to write (default ``run_dir/loss-curves.png``).
        smooth: moving-average window in ticks (1: raw).

    Returns:
        The written path.

    Raises:
        FileNotFoundError: no stats.jsonl; ValueError: it has no records yet.
    """
    # Imported here: matplotlib costs ~0.3 s and only this function needs it. No pyplot: a
    # library must not change matplotlib's global backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    run_dir = Path(run_dir)
    # Records without a numeric kimg (hand-edited, or nulls) cannot be placed; values that are
    # not finite numbers are left out of their curve.
    records = [r for r in read_stats(run_dir) if isinstance(r, dict) and _is_number(r.get("kimg"))]
    if not records:
        raise ValueError(f"{run_dir} has no stats records yet (the first tick has not ended)")
    base = run_dir if run_dir.is_dir() else run_dir.parent
    out = Path(out) if out is not None else base / "loss-curves.png"
    if smooth < 1:
        raise ValueError(f"smooth must be >= 1, got {smooth}")

    panels = [
        (t, [k for k in keys if any(_is_number(r.get(k)) for r in records)]) for t, keys in PANELS
    ]
    panels = [(t, keys) for t, keys in panels if keys]
    cols = 3
    rows = max(1, math.ceil(len(panels) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (title, keys) in zip(axes.flat, panels):
        for key in keys:
            pts = [(r["kimg"], r[key]) for r in records if _is_number(r.get(key))]
            if not pts:
                continue
            xs, ys = zip(*pts)
            ys = _moving_average(list(ys), smooth)
            ax.plot(xs, ys, label=key, linewidth=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("kimg", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{base.name} ({STATS_FILE}, {len(records)} ticks)", fontsize=10)
    fig.tight_layout()
    fmt = out.suffix[1:].lower() or "png"
    return atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt, dpi=110))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _moving_average(values: list[float], window: int) -> list[float]:
    if window <= 1:
        return values
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out
