"""`infinitygan train`: train a model on a folder/zip/tar of images or the synthetic source."""

from __future__ import annotations

import dataclasses
import errno
import logging
import math
import re
from pathlib import Path
from typing import Any

import click

from infinitygan.cli._common import prepare_output
from infinitygan.cli._group import main
from infinitygan.cli._models import warn_slow_precision
from infinitygan.cli._options import SEEDS, resolve_device

logger = logging.getLogger(__name__)

SEED_MAX = 2**63 - 1  # latents.SEED_MAX (seeds are packed as signed 64-bit integers)
MAX_STEPS = 10**12  # steps are packed as 64-bit integers into the random keys; far beyond use

# Settings named in the configs' messages -> what a command-line user sets.
_FLAGS = {
    "TrainConfig.batch_gpu": "--batch-gpu",
    "TrainConfig.batch": "--batch",
    "TrainConfig.seed": "--seed",
    "RunConfig.snapshot_every": "--snapshot-every",
    "RunConfig.tick_every": "--tick-every",
    "RunConfig.keep_snapshots": "--keep",
    "RunConfig.workers": "--workers",
    "RunConfig.precision": "--precision",
    "RunConfig.total_steps": "--steps",
}


def user_message(text: str) -> str:
    """A config error in command-line terms: ``TrainConfig.batch`` -> ``--batch``, other
    ``TrainConfig.FIELD`` -> ``--set train.FIELD``, ``DiscriminatorConfig.FIELD`` -> ``--set
    discriminator.FIELD``."""
    for name, flag in _FLAGS.items():
        text = text.replace(name, flag)
    text = re.sub(r"\bDiscriminatorConfig\.(\w+)", r"--set discriminator.\1", text)
    text = re.sub(r"\bDiscriminatorConfig: ", "--set discriminator.kind: ", text)
    return re.sub(r"\bTrainConfig\.(\w+)", r"--set train.\1", text)


_RESUME_FIXED = ("preset", "init", "data", "batch", "batch_gpu", "seed", "set_items")


def _set_section_classes() -> dict[str, type]:
    """The ``--set SECTION.FIELD=VALUE`` sections and the config class each one overrides (a bare
    FIELD is a train setting). Coordinates are inputs, not weights, so a model can be fine-tuned
    (--init) with other coords settings."""
    from infinitygan.config import CoordConfig, DiscriminatorConfig
    from infinitygan.train.config import TrainConfig

    return {"train": TrainConfig, "discriminator": DiscriminatorConfig, "coords": CoordConfig}


def parse_set(items: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Parse ``--set SECTION.FIELD=VALUE`` overrides (SECTION one of
    :func:`_set_section_classes`; a bare FIELD is ``train.FIELD``), each typed after its config
    field. Returns {section: {field: value}} with every section present."""
    classes = _set_section_classes()
    fields = {name: {f.name for f in dataclasses.fields(cls)} for name, cls in classes.items()}
    defaults = {name: cls() for name, cls in classes.items()}
    out: dict[str, dict[str, Any]] = {name: {} for name in classes}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        section, dot, field = key.partition(".")
        if not dot or section not in classes:
            section, field = "train", key
        if not sep or field not in fields[section]:
            choices = "; ".join(
                f"{name}.FIELD=VALUE with FIELD one of {', '.join(sorted(fields[name]))}"
                for name in classes
            )
            raise click.BadParameter(f"{item!r}: write {choices}", param_hint="--set")
        value = _typed_value(item, field, text.strip(), getattr(defaults[section], field))
        out[section][field] = value
    return out


def _typed_value(item: str, key: str, text: str, default: Any) -> Any:
    try:
        if text.lower() == "none":
            return None
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if isinstance(default, int) or key == "batch_gpu":
            return int(text)
        if isinstance(default, float) or key == "ema_rampup":
            return float(text)
        return text
    except ValueError:
        raise click.BadParameter(
            f"{item!r}: {text!r} is not a valid value for {key} (default {default!r})",
            param_hint="--set",
        ) from None


def steps_for(kimg: float | None, steps: int | None, batch: int, default_kimg: float) -> int:
    """Total steps from ``--steps`` or ``--kimg`` (ceil(kimg * 1000 / batch))."""
    if kimg is not None and steps is not None:
        raise click.UsageError("give --kimg or --steps, not both")
    if steps is not None:
        if not 1 <= steps <= MAX_STEPS:
            raise click.BadParameter(f"--steps must be from 1 to {MAX_STEPS:,}, got {steps}")
        return steps
    kimg = default_kimg if kimg is None else kimg
    if not math.isfinite(kimg) or kimg <= 0:
        raise click.BadParameter(f"--kimg must be a finite number > 0, got {kimg}")
    if kimg * 1000 / batch > MAX_STEPS:
        raise click.BadParameter(
            f"--kimg {kimg:g} at batch {batch} is more than {MAX_STEPS:,} steps; give less"
        )
    return max(1, math.ceil(kimg * 1000 / batch))


class _TqdmHandler(logging.Handler):
    """Log records printed above the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record))
        except Exception:  # pragma: no cover - logging must never kill training
            self.handleError(record)


@main.command("train")
@click.option(
    "--data",
    default=None,
    help="Training images: folder, .zip, .tar(.gz), synthetic, or landscapes (the bundled photos).",
)
@click.option(
    "--preset",
    default=None,
    help="Model preset: paper-101, paper-hr, paper-hr-197, paper-ur, paper-iof, paper-iop, tiny, "
    "landscapes-cpu, stylegan2-nci, stylegan2-nci-fcg, tiny-nci or tiny-nci-fcg "
    "(default paper-101).",
)
@click.option(
    "--init",
    "init",
    default=None,
    help="Fine-tune: start from a trained model (a bundled name such as landscapes, a generator "
    ".safetensors file, or a run / snapshot folder) with its architecture.",
)
@click.option(
    "--outdir", type=click.Path(path_type=Path), default=Path("runs"), help="Run folders."
)
@click.option("--batch", type=int, default=None, help="GLOBAL batch over all GPUs (default 16).")
@click.option("--batch-gpu", type=int, default=None, help="Samples per pass per GPU (accumulate).")
@click.option("--kimg", type=float, default=None, help="Train for this many thousand images.")
@click.option("--steps", type=int, default=None, help="Train for this many steps (global batches).")
@click.option("--snapshot-every", type=int, default=None, help="Steps between snapshots (500).")
@click.option("--tick-every", type=int, default=None, help="Steps between log lines (10).")
@click.option("--keep", type=int, default=None, help="Snapshots to keep (3).")
@click.option(
    "--seed",
    type=click.IntRange(0, SEED_MAX),
    default=None,
    help="Seed of init, latents and data order (0).",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Continue RUN_DIR from its latest snapshot with its own settings.",
)
@click.option(
    "--device", default=None, help="cpu, cuda, cuda:N or auto (default auto: cuda when available)."
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "tf32", "bf16", "fp16"]),
    default=None,
    help="Arithmetic of the D/G steps (default: bf16 on CUDA, fp32 on the CPU).",
)
@click.option("--workers", type=int, default=None, help="Data-loader processes per GPU (0).")
@click.option(
    "--channels-last/--no-channels-last",
    default=None,
    help="NHWC memory format (default: on for CUDA).",
)
@click.option("--compile", "use_compile", is_flag=True, default=None, help="torch.compile D/G.")
@click.option("--tensorboard", is_flag=True, default=None, help="Also write TensorBoard logs.")
@click.option("--deterministic", is_flag=True, default=None, help="Deterministic kernels.")
@click.option(
    "--set",
    "set_items",
    multiple=True,
    help="Override a training, discriminator or coordinate setting, e.g. --set "
    "train.r1_gamma=5 --set discriminator.kind=projected --set coords.vertical_step=0.6.",
)
@click.option(
    "--sample-seeds",
    type=SEEDS,
    default=None,
    help="Seeds of the sample grids, e.g. 0-7 (default 0-7).",
)
@click.option("--dry-run", is_flag=True, help="Print the resolved settings and exit.")
def train_command(
    data: str | None,
    preset: str | None,
    init: str | None,
    outdir: Path,
    batch: int | None,
    batch_gpu: int | None,
    kimg: float | None,
    steps: int | None,
    snapshot_every: int | None,
    tick_every: int | None,
    keep: int | None,
    seed: int | None,
    resume: Path | None,
    device: str | None,
    precision: str | None,
    workers: int | None,
    channels_last: bool | None,
    use_compile: bool | None,
    tensorboard: bool | None,
    deterministic: bool | None,
    set_items: tuple[str, ...],
    sample_seeds: list[int] | None,
    dry_run: bool,
) -> None:
    """Train InfinityGAN; writes a numbered run folder under --outdir.

    \b
    Examples:
      infinitygan train --data synthetic --preset tiny --batch 4 --steps 400
      infinitygan train --data photos.zip --preset paper-101 --batch 16 --kimg 12800
      infinitygan train --data photos/ --init landscapes --batch 4 --steps 2000
      infinitygan train --resume runs/00000-tiny-synthetic-b4 --steps 800
      torchrun --nproc_per_node=4 -m infinitygan train --data photos.zip --batch 16

    --batch is the global batch: with torchrun each of W processes handles batch/W samples.
    A run killed at any moment continues exactly from its last snapshot with --resume.
    """
    from infinitygan.train.distributed import init_distributed, shutdown_distributed

    given = {
        "preset": preset,
        "init": init,
        "data": data,
        "batch": batch,
        "batch_gpu": batch_gpu,
        "seed": seed,
        "set_items": set_items or None,
    }
    settings = {
        "precision": precision,
        "workers": workers,
        "compile": use_compile,
        "tensorboard": tensorboard,
        "deterministic": deterministic,
        "snapshot_every": snapshot_every,
        "tick_every": tick_every,
        "keep_snapshots": keep,
        "channels_last": channels_last,
        "sample_seeds": sample_seeds,
    }
    try:
        if resume is not None:
            run = _resumed_config(resume, given, kimg, steps)
        else:
            run = _new_config(given, kimg, steps)
        run = _with_run_settings(run, device, settings, resumed=resume is not None)
    except ValueError as err:
        raise click.ClickException(user_message(str(err))) from None
    run_dir = resume

    if dry_run:
        click.echo(run.to_json())
        return
    if resume is None:
        prepare_output(outdir, "--outdir", kind="folder")
    warn_slow_precision(run.device, run.precision)
    if run.tensorboard:
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise click.ClickException(
                "--tensorboard needs the tensorboard package: pip install 'infinitygan[tb]'"
            ) from None

    if run.model.discriminator.kind == "projected":
        from infinitygan.models.efficientnet_lite import MissingFeatureNetwork, weights_path

        try:
            weights_path()
        except MissingFeatureNetwork as err:
            raise click.ClickException(str(err)) from None

    import torch

    dist_info = init_distributed(torch.device(run.device).type)
    try:
        _run(run, outdir, run_dir, dist_info)
    except BaseException:
        shutdown_distributed()
        raise
    shutdown_distributed(barrier=True)


def _resumed_config(
    run_dir: Path, given: dict[str, Any], kimg: float | None, steps: int | None
) -> Any:
    """The configuration of the run in ``run_dir``, with a new length from --kimg/--steps."""
    from infinitygan.train.config import RunConfig
    from infinitygan.train.runs import OPTIONS_FILE

    fixed = [k.replace("_items", "").replace("_", "-") for k in _RESUME_FIXED if given[k]]
    if fixed:
        flags = ", ".join("--" + k for k in fixed)
        raise click.UsageError(f"--resume keeps the run's own settings; drop {flags}")
    path = run_dir / OPTIONS_FILE
    if not path.is_file():
        raise click.ClickException(f"{run_dir} is not a training run folder (no {OPTIONS_FILE})")
    try:
        run = RunConfig.from_json(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise click.ClickException(f"{path}: {err}") from None
    if kimg is not None or steps is not None:
        run = dataclasses.replace(
            run, total_steps=steps_for(kimg, steps, run.train.batch, default_kimg=1)
        )
    return run


def _new_config(given: dict[str, Any], kimg: float | None, steps: int | None) -> Any:
    """The configuration of a new run from --data, --preset, --init, --batch, --batch-gpu, --seed
    and --set (``given``) and its length from --kimg/--steps (ValueError for invalid values)."""
    from infinitygan.presets import get_preset
    from infinitygan.train.config import RunConfig, TrainConfig

    if given["data"] is None:
        raise click.UsageError("--data is required (a folder, .zip, .tar, synthetic or landscapes)")
    model = get_preset(given["preset"] or "paper-101")
    sections = parse_set(given["set_items"] or ())
    overrides, disc_overrides = sections["train"], sections["discriminator"]
    for key in ("batch", "batch_gpu", "seed"):
        if key in overrides and given[key] is not None:
            flag = "--" + key.replace("_", "-")
            raise click.UsageError(f"give {flag} or --set train.{key}, not both")
    if disc_overrides:
        model = dataclasses.replace(
            model, discriminator=dataclasses.replace(model.discriminator, **disc_overrides)
        )
    init_source = None
    if given["init"] is not None:
        from infinitygan.train.init import resolve_init

        init_source, model = resolve_init(
            given["init"], preset=given["preset"], discriminator=disc_overrides
        )
    if sections["coords"]:
        model = dataclasses.replace(
            model, coords=dataclasses.replace(model.coords, **sections["coords"])
        )
    batch, seed = given["batch"], given["seed"]
    train_cfg = TrainConfig(
        **{
            "batch": batch if batch is not None else 16,
            "batch_gpu": given["batch_gpu"],
            "seed": seed if seed is not None else 0,
            **overrides,
        }
    )
    return RunConfig(
        model=model,
        train=train_cfg,
        data=given["data"],
        total_steps=steps_for(kimg, steps, train_cfg.batch, default_kimg=12800),
        init=init_source,
    )


def _with_run_settings(
    run: Any, device: str | None, settings: dict[str, Any], *, resumed: bool
) -> Any:
    """``run`` with the device and the run settings given on the command line; a new run gets
    the device's defaults for the others (channels-last and bf16 on CUDA, snapshots every 500
    steps), a resumed one keeps its own."""
    if device is not None:
        device_name = resolve_device(device)
    else:
        device_name = resolve_device(run.device if resumed else "auto")
    updates: dict[str, Any] = {"device": device_name}
    updates.update({key: value for key, value in settings.items() if value is not None})
    if not resumed:
        cuda = device_name.startswith("cuda")
        updates.setdefault("channels_last", cuda)
        updates.setdefault("precision", "bf16" if cuda else "fp32")
        updates.setdefault("snapshot_every", 500)
    return dataclasses.replace(run, **updates)


def _run(run: Any, outdir: Path, run_dir: Path | None, dist_info: Any) -> None:
    from tqdm import tqdm

    from infinitygan.data import DataConfig, DataError, open_dataset
    from infinitygan.train import NonFiniteLossError, training_loop
    from infinitygan.train.runs import allocate_run_dir, data_label

    resume = run_dir is not None
    model = run.model
    data_config = DataConfig(
        patch_size=model.patch_size, full_size=model.full_size, pre_resize=model.pre_resize
    )
    try:
        dataset = open_dataset(run.data, data_config, seed=run.train.seed)
    except (FileNotFoundError, DataError) as err:
        raise click.ClickException(user_message(str(err))) from None
    if run_dir is None:
        path_text = None
        if dist_info.is_main:
            desc = f"{run.model.name}-{data_label(run.data)}-b{run.train.batch}"
            path_text = str(allocate_run_dir(outdir, desc))
        if dist_info.enabled:
            import torch.distributed as dist

            holder = [path_text]
            dist.broadcast_object_list(holder, src=0)
            path_text = holder[0]
        assert path_text is not None
        run_dir = Path(path_text)

    scan = getattr(dataset, "scan", None)
    if scan is not None and dist_info.is_main:
        scan.write(run_dir)

    start = 0
    if resume:
        from infinitygan.train.snapshots import latest_snapshot

        latest = latest_snapshot(run_dir)
        start = latest.step if latest is not None else 0

    pkg_logger = logging.getLogger("infinitygan")
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.INFO if dist_info.is_main else logging.WARNING)
    old_propagate = pkg_logger.propagate
    pkg_logger.addHandler(handler)
    pkg_logger.propagate = False
    bar = None
    if dist_info.is_main:
        bar = tqdm(
            total=run.total_steps,
            initial=min(start, run.total_steps),
            unit="step",
            dynamic_ncols=True,
            desc=run_dir.name,
        )

    def progress(step: int, total: int, stats: dict[str, float]) -> None:
        if bar is None:
            return
        bar.n = step
        bar.set_postfix(
            {k: f"{stats[k]:.3f}" for k in ("D/adv", "G/adv", "D/coord_real") if k in stats},
            refresh=False,
        )
        bar.refresh()

    try:
        result = training_loop(
            run, run_dir, dataset, dist_info=dist_info, resume=resume, progress=progress
        )
    except NonFiniteLossError as err:
        from infinitygan.train.snapshots import latest_snapshot

        latest = latest_snapshot(run_dir)
        where = f"the last good checkpoint is {latest.path}" if latest else "no checkpoint yet"
        raise click.ClickException(
            f"training stopped: {err}; {where}. Lower the learning rate or use --precision fp32, "
            f"then continue with --resume {run_dir}"
        ) from None
    except ValueError as err:
        raise click.ClickException(user_message(str(err))) from None
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        raise click.ClickException(
            f"no space left on the device for {err.filename or run_dir} ({err.strerror}); "
            f"free some space, then continue with --resume {run_dir}"
        ) from None
    finally:
        if bar is not None:
            bar.close()
        pkg_logger.removeHandler(handler)
        pkg_logger.propagate = old_propagate
    if dist_info.is_main:
        click.echo(f"run folder: {run_dir}")
        if result.snapshot is not None:
            click.echo(f"latest snapshot: {result.snapshot}")
            click.echo(
                "generate with: infinitygan generate "
                f"{result.snapshot / 'generator_ema.safetensors'} --size 1024x256 --out out.png"
            )
