"""Image conventions, batching and resampling shared by the metrics.

Every metric takes images as ``[N, 3, H, W]`` tensors, either ``float`` in ``[-1, 1]`` (the
generator output convention) or ``uint8`` in ``[0, 255]``, or as an iterable of such batches. This
module converts between the two, re-batches image streams and holds the resizing and cropping
helpers used by the ScaleInv and patch protocols.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

logger = logging.getLogger(__name__)

ImageBatches = torch.Tensor | Iterable[torch.Tensor] | Callable[[], Iterable[torch.Tensor]]
"""A tensor ``[N, 3, H, W]``, an iterable of such batches, or a zero-argument callable that returns
a fresh iterable (needed where a source is read twice, e.g. hashing then feature extraction).
Not to be confused with :class:`infinitygan.data.sources.ImageSource`, a folder or archive of
image files."""


def check_images(images: torch.Tensor, name: str = "images") -> None:
    """Check that ``images`` is a ``[N, 3, H, W]`` uint8 or floating tensor.

    Raises:
        ValueError: naming the problem (type, rank, channel count or dtype).
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor [N, 3, H, W], got {type(images).__name__}; "
            "convert numpy arrays with torch.from_numpy(...).permute(0, 3, 1, 2)"
        )
    if images.ndim != 4:
        raise ValueError(
            f"{name} must have shape [N, 3, H, W], got {list(images.shape)}; "
            "add a batch axis with images[None] for a single image"
        )
    if images.shape[1] != 3:
        raise ValueError(
            f"{name} must have 3 (RGB) channels in dim 1, got shape {list(images.shape)}; "
            "channels-last arrays need .permute(0, 3, 1, 2)"
        )
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(
            f"{name} must be uint8 in [0, 255] or float in [-1, 1], got dtype {images.dtype}"
        )


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """Convert images to float32 in ``[-1, 1]``.

    Args:
        images: ``[N, 3, H, W]`` uint8 in ``[0, 255]`` or float in ``[-1, 1]``.

    Returns:
        ``[N, 3, H, W]`` float32; uint8 value ``v`` maps to ``v / 127.5 - 1``.
    """
    check_images(images)
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 127.5 - 1.0
    return images.to(torch.float32)


def to_pixel_values(images: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """Convert images to float32 pixel values in ``[0, 255]``.

    Args:
        images: ``[N, 3, H, W]`` uint8, or float in ``[-1, 1]``.
        quantize: round float images to whole pixel values, as saving them to an 8-bit file
            would. uint8 images are exact either way.

    Returns:
        ``[N, 3, H, W]`` float32 in ``[0, 255]``; float input is clamped to that range.
    """
    check_images(images)
    if images.dtype == torch.uint8:
        return images.to(torch.float32)
    pixels = ((images.to(torch.float32) + 1.0) * 127.5).clamp(0.0, 255.0)
    return torch.round(pixels) if quantize else pixels


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Quantise images to uint8 ``[N, 3, H, W]`` (round to nearest, clamp to ``[0, 255]``)."""
    return to_pixel_values(images, quantize=True).to(torch.uint8)


def iter_batches(source: ImageBatches, batch_size: int) -> Iterator[torch.Tensor]:
    """Yield ``[B, 3, H, W]`` batches of at most ``batch_size`` images from ``source``.

    Args:
        source: a tensor ``[N, 3, H, W]``, an iterable of such tensors, or a zero-argument callable
            returning such an iterable.
        batch_size: largest batch yielded; bigger incoming batches are split, smaller ones are
            passed through unchanged.

    Raises:
        ValueError: for a non-positive ``batch_size`` or a batch that is not ``[B, 3, H, W]``.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if callable(source) and not isinstance(source, torch.Tensor):
        source = source()
    if isinstance(source, torch.Tensor):
        source = (source,)
    for index, batch in enumerate(source):
        check_images(batch, name=f"batch {index}")
        yield from torch.split(batch, batch_size, dim=0)


def center_crop(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Crop the centre ``size`` region (offset ``(H - h) // 2``, ``(W - w) // 2``).

    Args:
        images: ``[N, C, H, W]``.
        size: side or ``(height, width)`` of the crop.

    Returns:
        ``[N, C, h, w]`` view of ``images``.

    Raises:
        ValueError: if the crop is larger than the images.
    """
    h, w = (size, size) if isinstance(size, int) else size
    height, width = images.shape[-2:]
    if h > height or w > width or h <= 0 or w <= 0:
        raise ValueError(f"cannot centre-crop {h}x{w} (HxW) from images of {height}x{width}")
    top, left = (height - h) // 2, (width - w) // 2
    return images[..., top : top + h, left : left + w]


def random_patches(
    images: torch.Tensor,
    patch_size: int | tuple[int, int],
    patches_per_image: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Cut random training-size patches for patch FID.

    Args:
        images: ``[N, C, H, W]``.
        patch_size: side or ``(height, width)`` of each patch.
        patches_per_image: patches drawn (independently, uniformly) from every image.
        generator: source of the patch offsets (pass a seeded one for reproducible results).

    Returns:
        ``[N * patches_per_image, C, h, w]``, the patches of image ``i`` at rows
        ``i * patches_per_image ...``.

    Raises:
        ValueError: if the patch does not fit or ``patches_per_image`` is not positive.
    """
    h, w = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    n, _, height, width = images.shape
    if h > height or w > width or h <= 0 or w <= 0:
        raise ValueError(f"patch {h}x{w} (HxW) does not fit in images of {height}x{width}")
    if patches_per_image <= 0:
        raise ValueError(f"patches_per_image must be positive, got {patches_per_image}")
    count = n * patches_per_image
    tops = torch.randint(0, height - h + 1, (count,), generator=generator).tolist()
    lefts = torch.randint(0, width - w + 1, (count,), generator=generator).tolist()
    patches = [
        images[k // patches_per_image, :, top : top + h, left : left + w]
        for k, (top, left) in enumerate(zip(tops, lefts))
    ]
    return torch.stack(patches)


def resize_antialiased(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Anti-aliased bilinear (triangle-filter) resize, as PIL's ``BILINEAR`` resize.

    The filter support grows with the downscale factor, so shrinking by 16x averages each output
    pixel over its whole footprint instead of sampling 4 input pixels (which aliases).

    Args:
        images: ``[N, 3, H, W]`` uint8 or float in ``[-1, 1]``.
        size: output side or ``(height, width)``.

    Returns:
        ``[N, 3, h, w]`` float32 in ``[-1, 1]``.
    """
    h, w = (size, size) if isinstance(size, int) else size
    x = to_float_images(images)
    if x.shape[-2:] == (h, w):
        return x
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)


def resize_lanczos_pil(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize through PIL ``LANCZOS`` on 8-bit images (the official real-image preprocessing).

    Args:
        images: ``[N, 3, H, W]`` uint8, or float in ``[-1, 1]`` (quantised to uint8 first).
        size: output side or ``(height, width)``.

    Returns:
        ``[N, 3, h, w]`` float32 in ``[-1, 1]`` holding exact 8-bit values.
    """
    h, w = (size, size) if isinstance(size, int) else size
    pixels = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack(
        [
            np.asarray(Image.fromarray(img).resize((w, h), resample=Image.Resampling.LANCZOS))
            for img in pixels
        ]
    )
    return to_float_images(torch.from_numpy(out).permute(0, 3, 1, 2).contiguous())
