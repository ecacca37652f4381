"""ScaleInv FID preprocessing (InfinityGAN, Lin et al. 2022; reference-spec section 9.2).

ScaleInv FID at scale ``s`` asks the generator for ``s`` times the training field of view, shrinks
the result back to the real-image resolution and computes FID against real images at that
resolution. The geometry, for the paper model (``real_res`` 128, ``full_size`` 197):

* field-of-view factor ``f = full_size / real_res`` (197 / 128): a 197-px generated image covers
  the field of view of a 128-px real image (the training images were LANCZOS-downsampled to 128
  and upsampled again to 197);
* ``eval_res = real_res * s``; request ``ceil(eval_res * f)`` px (``s = 2``: 394 px).

Two preprocessing modes:

``paper``
    The official protocol: bilinear rescale by ``1 / f`` (``align_corners=True``), centre crop
    ``eval_res``, bilinear resize to ``real_res`` (``align_corners=True``, no anti-aliasing); reals
    are LANCZOS-resized to ``real_res`` through PIL. The fake path aliases increasingly with ``s``
    while the real path does not, which biases the curve upwards at large ``s``.
``clean``
    The same field of view, with one anti-aliased resize applied identically to reals and fakes:
    fakes are centre-cropped to ``round(s * full_size)`` px (``= eval_res * f``) and both are
    resized to ``real_res`` with :func:`~infinitygan.metrics.images.resize_antialiased`.
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import torch
import torch.nn.functional as F

from infinitygan.metrics.images import (
    center_crop,
    resize_antialiased,
    resize_lanczos_pil,
    to_float_images,
)

logger = logging.getLogger(__name__)

ScaleInvMode = Literal["paper", "clean"]
SCALEINV_MODES: tuple[str, ...] = ("paper", "clean")


def _check_geometry(scale: float, real_res: int, full_size: int) -> None:
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if real_res <= 0 or full_size <= 0:
        raise ValueError(f"real_res and full_size must be positive, got {real_res}, {full_size}")
    if full_size < real_res:
        raise ValueError(
            f"full_size ({full_size}) must be at least real_res ({real_res}): the generated image "
            "covers the field of view of a real_res real image with full_size pixels"
        )


def _check_mode(mode: str) -> None:
    if mode not in SCALEINV_MODES:
        raise ValueError(f"mode must be one of {SCALEINV_MODES}, got {mode!r}")


def scaleinv_eval_res(scale: float, real_res: int) -> int:
    """``eval_res = real_res * scale`` as an integer.

    Raises:
        ValueError: if ``real_res * scale`` is not a whole number of pixels.
    """
    eval_res = real_res * scale
    if abs(eval_res - round(eval_res)) > 1e-9:
        raise ValueError(f"real_res * scale = {eval_res} must be a whole number of pixels")
    return int(round(eval_res))


def scaleinv_request_size(
    scale: float,
    real_res: int = 128,
    full_size: int = 197,
    patch_size: int | None = None,
) -> int:
    """Side of the square image to request from the generator for ScaleInv FID at ``scale``.

    ``ceil(real_res * scale * full_size / real_res)``, i.e. ``ceil(scale * full_size)``: 197, 394,
    788, 1576, 3152 px for ``scale`` 1, 2, 4, 8, 16 with the paper model.

    Args:
        scale: field-of-view multiple ``s`` of the training image.
        real_res: resolution of the real images compared against (128 for the paper model).
        full_size: generated size that covers the field of view of one real image (197).
        patch_size: if given, round the request up to a whole number of patches of this side, for
            generators that only produce whole patches; the preprocessing centre-crops, so a larger
            image keeps the field of view.

    Returns:
        Requested side in pixels.

    Raises:
        ValueError: for non-positive sizes or a ``full_size`` smaller than ``real_res``.
    """
    _check_geometry(scale, real_res, full_size)
    eval_res = scaleinv_eval_res(scale, real_res)
    # Integer arithmetic: ceil(eval_res * full_size / real_res) without float round-off.
    size = -(-eval_res * full_size // real_res)
    if patch_size is not None:
        if patch_size <= 0:
            raise ValueError(f"patch_size must be positive, got {patch_size}")
        size = math.ceil(size / patch_size) * patch_size
    return size


def scaleinv_prepare(
    images: torch.Tensor,
    scale: float,
    real_res: int = 128,
    full_size: int = 197,
    mode: ScaleInvMode = "paper",
) -> torch.Tensor:
    """Shrink generated images of ``scale`` times the training field of view to ``real_res``.

    Args:
        images: ``[N, 3, H, W]`` uint8 or float in ``[-1, 1]``, at least
            :func:`scaleinv_request_size` on each side (larger images are centre-cropped, which
            keeps the field of view).
        scale: field-of-view multiple ``s``.
        real_res: output resolution (that of the real images).
        full_size: generated size covering one real image's field of view.
        mode: ``"paper"`` (official protocol) or ``"clean"`` (anti-aliased; see module docstring).

    Returns:
        ``[N, 3, real_res, real_res]`` float32 in ``[-1, 1]``.

    Raises:
        ValueError: for an unknown mode, bad geometry, or images smaller than the request.
    """
    _check_mode(mode)
    _check_geometry(scale, real_res, full_size)
    x = to_float_images(images)
    height, width = x.shape[-2:]
    request = scaleinv_request_size(scale, real_res, full_size)
    if height < request or width < request:
        raise ValueError(
            f"ScaleInv at scale {scale} needs generated images of at least {request}x{request} px "
            f"(ceil(real_res * scale * full_size / real_res)), got {height}x{width}"
        )
    eval_res = scaleinv_eval_res(scale, real_res)
    if mode == "paper":
        # Rescale by 1/f = real_res / full_size. The sizes are computed exactly with integers; the
        # float product loses a pixel at exact request sizes (394 * (128 / 197) = 255.99...).
        size = (height * real_res // full_size, width * real_res // full_size)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        x = center_crop(x, eval_res)
        if eval_res != real_res:
            x = F.interpolate(x, size=(real_res, real_res), mode="bilinear", align_corners=True)
        return x
    field_of_view = int(round(scale * full_size))
    return resize_antialiased(center_crop(x, field_of_view), real_res)


def scaleinv_prepare_real(
    images: torch.Tensor, real_res: int = 128, mode: ScaleInvMode = "paper"
) -> torch.Tensor:
    """Resize real images (whole, no crop) to ``real_res`` as the given ScaleInv mode does.

    Args:
        images: ``[N, 3, H, W]`` uint8 or float in ``[-1, 1]``.
        real_res: output resolution.
        mode: ``"paper"`` (PIL LANCZOS on 8-bit images, as the official code) or ``"clean"``
            (the same anti-aliased resize as the clean fake path).

    Returns:
        ``[N, 3, real_res, real_res]`` float32 in ``[-1, 1]``.
    """
    _check_mode(mode)
    if mode == "paper":
        return resize_lanczos_pil(images, real_res)
    return resize_antialiased(images, real_res)
