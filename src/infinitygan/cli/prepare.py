"""`infinitygan prepare SOURCE ...`: write training images to a folder.

`prepare` is a group so that more sources can be added as subcommands next to `synthetic`.
"""

from __future__ import annotations

import click

from infinitygan.cli._group import main
from infinitygan.cli._options import SizeType, force_option
from infinitygan.data.synthetic import MAX_PIXELS, MIN_SIDE


@main.group("prepare")
def prepare() -> None:
    """Write a training image collection to a folder.

    \b
    Sources:
      synthetic   procedural landscapes (deterministic, any size, no download)
    """


@prepare.command("synthetic")
@click.option(
    "--count", type=click.IntRange(min=1), required=True, help="Number of images to write."
)
@click.option(
    "--size",
    "size",
    default="256x256",
    type=SizeType(min_side=MIN_SIDE, max_pixels=MAX_PIXELS),
    help="Image size, width x height (e.g. 1024x512).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, writable=True),
    required=True,
    help="Output folder (created if missing; files 000000.png, 000001.png, ...).",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=0,
    help="Collection seed (same seed, same images).",
)
@force_option
def synthetic(count: int, size: tuple[int, int], out_dir: str, seed: int, force: bool) -> None:
    """Render COUNT procedural landscapes (sky, sun, clouds, mountains, lake or meadows).

    Image i of a seed is always the same picture, on any machine, so a collection can be
    re-created instead of stored.

    \b
    Examples:
      infinitygan prepare synthetic --count 1000 --size 256x256 --out data/synthetic
      infinitygan prepare synthetic --count 16 --size 1024x512 --out previews --seed 3

    The folder must be new or empty; with --force the numbered images of an earlier collection
    in it are replaced and the ones beyond --count deleted, so it holds exactly this collection.
    """
    import re
    from pathlib import Path

    from tqdm import tqdm

    from infinitygan.data.synthetic import prepare_synthetic

    height, width = size
    folder = Path(out_dir)
    try:
        earlier = sorted(folder.iterdir()) if folder.is_dir() else []
    except OSError as err:
        raise click.ClickException(f"cannot read the folder {out_dir}: {err}") from None
    if earlier and not force:
        raise click.ClickException(
            f"--out {out_dir} is not empty ({len(earlier)} entries); training would read "
            "its other images too. Choose a new folder, or pass --force to replace the "
            "collection in it"
        )
    with tqdm(total=count, unit="img", desc="landscapes", disable=count < 2) as bar:
        try:
            paths = prepare_synthetic(
                out_dir, count, height, width, seed, progress=lambda n: bar.update(n - bar.n)
            )
        except OSError as err:
            raise click.ClickException(f"cannot write to {out_dir}: {err}") from err
    written = set(paths)
    stale = [p for p in earlier if p not in written and re.fullmatch(r"\d{6,}\.png", p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    others = [p for p in earlier if p not in written and p not in stale]
    click.echo(
        f"wrote {len(paths)} images of {width}x{height} to {out_dir}"
        + (f", deleted {len(stale)} images of the earlier collection" if stale else "")
    )
    if others:
        click.echo(
            f"note: {len(others)} other entries in {out_dir} were left alone "
            f"(e.g. {others[0].name}); training reads every image in the folder"
        )
