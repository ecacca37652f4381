"""`infinitygan convert`: official checkpoint -> our safetensors generator file."""

from __future__ import annotations

from pathlib import Path

import click

from infinitygan.cli._common import check_new_outputs, prepare_output
from infinitygan.cli._group import main
from infinitygan.cli._options import force_option


@main.command("convert")
@click.argument("official", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--preset",
    default=None,
    help="Preset the official model was trained with (default: detected from the state dict). "
    "InfinityGAN-IOF/-IOP share paper-101's architecture: pass paper-iof / paper-iop for their "
    "data settings.",
)
@click.option(
    "--discriminator-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the discriminator weights (safetensors) here.",
)
@force_option
def convert_command(
    official: Path, out: Path, preset: str | None, discriminator_out: Path | None, force: bool
) -> None:
    """Convert an official InfinityGAN checkpoint (.pth.tar) to a generator file.

    The file is read without executing code from it (tensors only). Every official config
    converts (InfinityGAN, -HR, -UR, -IOF, -IOP and the StyleGAN2_NCI / _NCI_FCG baselines); the
    architecture is detected from the weights. Example:

        infinitygan convert InfinityGAN-HR/best_fid.pth.tar hr.safetensors
    """
    from safetensors.torch import save_file

    from infinitygan.checkpoint import save_generator
    from infinitygan.convert import ConversionError, convert_checkpoint

    if out.suffix != ".safetensors":
        raise click.BadParameter("the output must end in .safetensors", param_hint="OUT")
    if discriminator_out is not None and discriminator_out.suffix != ".safetensors":
        raise click.BadParameter(
            "the discriminator file must end in .safetensors", param_hint="--discriminator-out"
        )
    prepare_output(out, "OUT")
    prepare_output(discriminator_out, "--discriminator-out")
    check_new_outputs(
        [("OUT", out), ("--discriminator-out", discriminator_out)],
        [("OFFICIAL", official)],
        force=force,
    )
    try:
        generator, discriminator = convert_checkpoint(official, preset=preset)
    except (FileNotFoundError, ValueError, ConversionError) as err:
        raise click.ClickException(str(err)) from None
    if discriminator_out is not None and discriminator is None:
        raise click.ClickException(
            f"{official} has no discriminator ('d') entry; drop --discriminator-out"
        )
    save_generator(generator, out, extra={"converted_from": str(official)})
    how = "given" if preset is not None else "detected"
    click.echo(f"wrote {out} (preset {generator.config.name}, {how})")
    if discriminator_out is not None:
        from infinitygan._files import atomic_write

        tensors = {k: v.contiguous() for k, v in discriminator.state_dict().items()}
        metadata = {"config": generator.config.to_json()}
        atomic_write(discriminator_out, lambda tmp: save_file(tensors, tmp, metadata=metadata))
        click.echo(f"wrote {discriminator_out}")
