"""Make tests/fixtures/official_configs/stylegan2_nci_small_parity.npz from the official code.

Runs the official ``TextureSynthesizer`` in its StyleGAN2_NCI layout (``styleGAN2_baseline``,
``ts_no_zero_pad: False``, ``ts_input_size: 4``, patch 128: five (upsampling, plain) conv pairs, a
ToRGB after every plain conv, no input conv) with the pair widths shrunk to 16, 16, 12, 12, 8
(the official construction loop, run on the shrunk ``convs_specs``), on CPU in float64, with
random weights (float32 values, seed 0), nonzero noise strengths, explicit styles (one per slot,
so the slot each layer reads is tested) and explicit noise maps. Saves the weights (official
names), the inputs and the output image.

Usage (the official repository checked out at a9b45dd in OFFICIAL)::

    python scripts/make_nci_parity_fixture.py OFFICIAL \
        tests/fixtures/official_configs/stylegan2_nci_small_parity.npz

The official CUDA extensions are not built: ``torch.utils.cpp_extension.load`` is replaced by a
no-op and ``torch.cuda.get_device_name`` answers "cpu", so the official ops take their CPU
branches (``upfirdn2d_native``, ``leaky_relu(x + b, 0.2) * sqrt(2)``); modules the generator file
imports but this run does not use (lmdb, tensorboardX, torchvision, easydict) are stubs.
"""

from __future__ import annotations

import argparse
import sys
import types

import numpy as np
import torch
from torch import nn

STYLE_DIM = 6
LOCAL_DIM = 8
PAIR_WIDTHS = (16, 16, 12, 12, 8)
CELLS = (2, 3)  # input latent height, width (the zero-padded layers take any size)


class _Stub(types.ModuleType):
    def __getattr__(self, name: str) -> _Stub:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub(name)

    def __call__(self, *args: object, **kwargs: object) -> _Stub:
        return _Stub("call")

    def __mro_entries__(self, bases: tuple) -> tuple:
        return (object,)


def _import_official(root: str) -> tuple[type, type, type]:
    import torch.utils.cpp_extension as cpp_extension

    torch.cuda.get_device_name = lambda *a, **k: "cpu"
    cpp_extension.load = lambda *a, **k: None
    for name in ("lmdb", "tensorboardX", "torchvision", "torchvision.transforms", "easydict"):
        sys.modules.setdefault(name, _Stub(name))
    sys.path.insert(0, root)
    from models.infinitygan_generator import TextureSynthesizer
    from models.ops import StyledConv, ToRGB

    return TextureSynthesizer, StyledConv, ToRGB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official", help="checkout of hubert0527/infinityGAN")
    parser.add_argument("out", help="output .npz")
    args = parser.parse_args()
    TextureSynthesizer, StyledConv, ToRGB = _import_official(args.official)

    params = types.SimpleNamespace(
        styleGAN2_baseline=True,
        training_modality="patch",
        patch_size=128,
        full_size=128,
        global_latent_dim=STYLE_DIM,
        local_latent_dim=LOCAL_DIM,
        n_mlp=1,
        channel_multiplier=2,
        ts_no_zero_pad=False,
        ts_input_size=4,
    )
    config = types.SimpleNamespace(train_params=params)
    ts = TextureSynthesizer(config)
    for i, spec in enumerate(ts.convs_specs):
        spec["out_ch"] = PAIR_WIDTHS[i // 2]
    # The official construction loop (TextureSynthesizer.__init__), at the shrunk widths.
    ts.convs, ts.to_rgbs = nn.ModuleList(), nn.ModuleList()
    in_ch = ts.local_latent_dim
    for spec in ts.convs_specs:
        ts.convs.append(
            StyledConv(
                in_ch,
                spec["out_ch"],
                3,
                ts.global_latent_dim,
                upsample=spec["upsample"],
                blur_kernel=[1, 3, 3, 1],
                no_zero_pad=False,
                config=config,
                side="ts",
            )
        )
        in_ch = spec["out_ch"]
    for spec in ts.to_rgbs_specs:
        ts.to_rgbs.append(
            ToRGB(
                ts.convs_specs[spec["src"]]["out_ch"],
                ts.global_latent_dim,
                upsample=spec["upsample"],
                no_zero_pad=False,
                blur_kernel=[1, 3, 3, 1],
                config=config,
                side="ts",
            )
        )
    ts = ts.double().eval()

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in ts.named_parameters():
            if not name.startswith(("mapping", "const_z")):
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 if "bias" in name else 1.0))
    h, w = CELLS
    zl = torch.randn(1, LOCAL_DIM, h, w, generator=g).double()
    styles = torch.randn(1, ts.n_latent, STYLE_DIM, generator=g).double()
    noises = [
        torch.randn(1, 1, h * 2 ** (i // 2 + 1), w * 2 ** (i // 2 + 1), generator=g).double()
        for i in range(len(ts.convs))
    ]
    with torch.no_grad():
        image = ts(structure_latent=zl, styles=styles, noises=noises)["gen"]

    # Inputs and weights hold float32 values (exact in float32); the float64 image is stored as
    # float32 (6e-8 relative rounding, far below the test's tolerance).
    arrays = {"zl": zl, "styles": styles, "image": image}
    arrays.update({f"noise{i}": n for i, n in enumerate(noises)})
    for key, value in ts.state_dict().items():
        if not key.startswith(("mapping", "const_z", "noises")):
            arrays[f"texture_synthesizer.{key}"] = value
    np.savez_compressed(args.out, **{k: v.float().numpy() for k, v in arrays.items()})
    print(f"wrote {args.out}: image {tuple(image.shape)}, std {float(image.std()):.4f}")


if __name__ == "__main__":
    main()
