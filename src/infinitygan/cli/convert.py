"""`infinitygan convert`: official checkpoint -> our safetensors generator file."""

from __future__ import annotations

from pathlib import Path

import click

from infinitygan.cli._common import check_parent_folder
from infinitygan.cli._group import main


@main.command("convert")
@click.argument("official", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--preset", default="paper-101", help="Preset the official model was trained with.")
@click.option(
    "--discriminator-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the discriminator weights (safetensors) here.",
)
def convert_command(official: Path, out: Path, preset: str, discriminator_out: Path | None) -> None:
    """Convert an official InfinityGAN checkpoint (.pth.tar) to a generator file.

    The file is read without executing code from it (tensors only). Example:

        infinitygan convert InfinityGAN/best_fid.pth.tar paper101.safetensors
    """
    from safetensors.torch import save_file

    from infinitygan.checkpoint import save_generator
    from infinitygan.convert import ConversionError, convert_checkpoint

    if out.suffix != ".safetensors":
        raise click.BadParameter("the output must end in .safetensors", param_hint="OUT")
    check_parent_folder(out, "OUT")
    if discriminator_out is not None:
        check_parent_folder(discriminator_out, "--discriminator-out")
    try:
        generator, discriminator = convert_checkpoint(official, preset=preset)
    except (FileNotFoundError, ValueError, ConversionError) as err:
        raise click.ClickException(str(err)) from None
    save_generator(generator, out, extra={"converted_from": str(official)})
    click.echo(f"wrote {out}")
    if discriminator_out is not None:
        if discriminator is None:
            raise click.ClickException(f"{official} has no discriminator ('d') entry")
        save_file(
            {k: v.contiguous() for k, v in discriminator.state_dict().items()},
            str(discriminator_out),
            metadata={"config": generator.config.to_json()},
        )
        click.echo(f"wrote {discriminator_out}")
