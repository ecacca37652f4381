"""Conversions between generator tensors and 8-bit images, and atomic image writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from infinitygan._files import atomic_write


def to_uint8(image: Tensor) -> np.ndarray:
    """[3, H, W] float in about [-1, 1] -> [H, W, 3] uint8 via round(clamp((x+1)*127.5, 0, 255))."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image [3, H, W], got {tuple(image.shape)}")
    x = ((image.detach().float().cpu() + 1.0) * 127.5).clamp_(0, 255).round_()
    return x.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def from_uint8(array: np.ndarray) -> Tensor:
    """[H, W, 3] uint8 -> [3, H, W] float32 in [-1, 1]."""
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB array [H, W, 3], got {array.shape}")
    # a copy: arrays from PIL are read-only, which torch.from_numpy warns about
    return torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1).float() / 127.5 - 1.0


def load_image(path: str | Path) -> Tensor:
    """Read an image file as [3, H, W] float32 in [-1, 1].

    Decoded exactly as training decodes its images
    (:func:`infinitygan.data.sources.decode_image`): EXIF orientation applied, 16-bit samples
    scaled as ``round(v / 257)``, transparency composited on white; decompression bombs refused.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file cannot be decoded (the message names the reason).
    """
    from infinitygan.data.sources import ImageDecodeError, decode_image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image at {path}")
    try:
        image = decode_image(path.read_bytes(), str(path))
    except ImageDecodeError as err:
        raise ValueError(f"cannot read {err}") from None
    return from_uint8(np.asarray(image))


def save_image(image: Tensor | np.ndarray, path: str | Path, **save_kwargs) -> Path:
    """Save [3, H, W] float (or [H, W, 3] uint8) atomically; the format follows the extension."""
    from PIL import Image

    path = Path(path)
    fmt = save_kwargs.pop("format", None) or image_format(path)
    array = to_uint8(image) if isinstance(image, Tensor) else image
    return atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, fmt, **save_kwargs))


def image_format(path: str | Path) -> str:
    """Pillow's format name for the extension of ``path`` (``"PNG"`` for ``x.png``).

    Raises:
        ValueError: Pillow knows no format for that extension.
    """
    from PIL import Image

    Image.init()
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise ValueError(
            f"cannot tell the image format of {path} from its extension {suffix or '(none)'}: "
            "use .png, .jpg or .webp"
        )
    return fmt


def downsample2x(image: np.ndarray) -> np.ndarray:
    """Halve an 8-bit image with a 2x2 box filter, rounding half up: ``(a + b + c + d + 2) >> 2``.

    An odd last row or column is replicated, so an edge pixel of the result averages the pixels
    that exist. Applied block by block with even block sizes (canvas chunks, web tile mosaics), it
    gives exactly the result on the whole image. The one downsampler of the output pyramids
    (:mod:`infinitygan.writers`) and of the web explorer's tile levels (:mod:`infinitygan.web`).

    Args:
        image: uint8 array [h, w, C].

    Returns:
        uint8 array [ceil(h / 2), ceil(w / 2), C].

    Raises:
        ValueError: ``image`` is not a uint8 array [h, w, C].
    """
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"downsample2x needs a uint8 image [h, w, C], got {image.dtype} {tuple(image.shape)}"
        )
    if image.shape[0] % 2:
        image = np.concatenate([image, image[-1:]], axis=0)
    if image.shape[1] % 2:
        image = np.concatenate([image, image[:, -1:]], axis=1)
    s = image.astype(np.uint16)
    total = s[0::2, 0::2] + s[1::2, 0::2] + s[0::2, 1::2] + s[1::2, 1::2]
    return ((total + 2) >> 2).astype(np.uint8)


def make_grid(images: Tensor, nrow: int = 8, padding: int = 2, value: float = -1.0) -> Tensor:
    """Tile images [N, 3, H, W] into one [3, H', W'] grid (rows of ``nrow``)."""
    n, c, h, w = images.shape
    ncol = min(nrow, n)
    nrows = (n + ncol - 1) // ncol
    grid = torch.full(
        (c, nrows * (h + padding) + padding, ncol * (w + padding) + padding),
        value,
        dtype=images.dtype,
    )
    for i in range(n):
        r, k = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + k * (w + padding)
        grid[:, y : y + h, x : x + w] = images[i]
    return grid
