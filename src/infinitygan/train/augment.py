"""Differentiable augmentation of the discriminator's inputs (DiffAugment, Zhao et al. 2020).

Small datasets let the discriminator memorise the real images within a few thousand images, after
which its gradients stop helping the generator. DiffAugment applies the same family of random,
differentiable transforms to every image the discriminator sees (reals and fakes, in the D step,
the G step and R1), so D cannot tell reals from fakes by their exact pixels and G still gets
gradients through the transform. Off by default (the paper and the official code train without
it); ``--set train.augment=color,translation,cutout`` turns it on.

Policies (any comma list, applied in this order):

* ``color``: per image, brightness ``x + (u - 0.5)``, saturation ``m + (x - m) * 2u`` (``m`` the
  channel mean per pixel) and contrast ``m + (x - m) * (u + 0.5)`` (``m`` the image mean), each
  with its own ``u ~ U[0, 1)``;
* ``translation``: per image, an integer shift of up to ``translation_ratio`` of the side in each
  axis, with zeros (mid-grey) filling what comes in;
* ``cutout``: per image, a zeroed square of ``cutout_ratio`` of the side at a random centre (it may
  stick out of the image).

A vertical shift moves the content and so changes the vertical position the coordinate head
should predict: :func:`augment` returns the shifts so that the trainer can move the labels with
the content (a horizontal shift changes nothing the head predicts). All draws come from the
``generator`` passed in, so a training step stays a pure function of its key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES: tuple[str, ...] = ("color", "translation", "cutout")


def parse_policy(text: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ``("color", "translation")``; ``""`` or ``"none"`` -> ``()``.

    Raises:
        ValueError: an unknown or repeated name (the message lists the known ones).
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(
            f"unknown augmentation {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(POLICIES)} (comma-separated), or none"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"augmentation {text!r} names a policy twice")
    return tuple(p for p in POLICIES if p in names)


def _uniform(n: int, generator: torch.Generator, like: Tensor) -> Tensor:
    u = torch.rand(n, generator=generator, dtype=torch.float32)
    return u.to(device=like.device, dtype=like.dtype).view(n, 1, 1, 1)


def _color(x: Tensor, generator: torch.Generator) -> Tensor:
    n = x.shape[0]
    x = x + (_uniform(n, generator, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(n, generator, x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(n, generator, x) + 0.5) + mean


def _shifts(n: int, size: int, ratio: float, generator: torch.Generator) -> Tensor:
    limit = int(size * ratio + 0.5)
    return torch.randint(-limit, limit + 1, (n,), generator=generator)


def _translation(x: Tensor, ratio: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    n, _, h, w = x.shape
    dy = _shifts(n, h, ratio, generator)
    dx = _shifts(n, w, ratio, generator)
    py, px = int(dy.abs().max()), int(dx.abs().max())
    padded = F.pad(x, (px, px, py, py))
    out = [
        padded[i, :, py - int(dy[i]) : py - int(dy[i]) + h, px - int(dx[i]) : px - int(dx[i]) + w]
        for i in range(n)
    ]
    return torch.stack(out), dy


def _cutout(x: Tensor, ratio: float, generator: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n,), generator=generator)
    cx = torch.randint(0, w + (1 - cw % 2), (n,), generator=generator)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    top, left = (cy - ch // 2).view(n, 1, 1), (cx - cw // 2).view(n, 1, 1)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    mask = (~inside).to(device=x.device, dtype=x.dtype).unsqueeze(1)
    return x * mask


def augment(
    images: Tensor,
    policy: tuple[str, ...],
    generator: torch.Generator,
    *,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> tuple[Tensor, Tensor]:
    """Apply ``policy`` to a batch [N, C, H, W] (differentiable in ``images``).

    Returns:
        ``(augmented, dy)``: the images and the vertical content shift of each in pixels
        (int64 [N] on the CPU; positive = content moved down; zeros without ``translation``).
    """
    dy = torch.zeros(images.shape[0], dtype=torch.int64)
    x = images
    for name in policy:
        if name == "color":
            x = _color(x, generator)
        elif name == "translation":
            x, dy = _translation(x, translation_ratio, generator)
        elif name == "cutout":
            x = _cutout(x, cutout_ratio, generator)
        else:  # parse_policy keeps this out
            raise ValueError(f"unknown augmentation {name!r}")
    return x, dy
