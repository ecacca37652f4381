"""The real side of the evaluation: the first N images of a dataset in the training view.

:func:`open_real_images` gives them as a re-iterable batch source with a content hash, the
dataset identity under which their feature statistics are cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from infinitygan.metrics.cache import hash_image_batches


@dataclass(frozen=True)
class RealImages:
    """The first ``count`` images of a dataset in one view, with their content hash.

    Attributes:
        spec: dataset name or path.
        size: side of the images (the view: centre square, optional pre-resize, resize).
        count: number of images.
        hash: SHA-256 of the images' dtype, shape and bytes.
        source: zero-argument callable returning a fresh iterator of ``[B, 3, size, size]``
            float batches in ``[-1, 1]`` (exact 8-bit values).
    """

    spec: str
    size: int
    count: int
    hash: str
    source: Callable[[], Iterator[Tensor]] = field(repr=False, compare=False)


def open_real_images(
    data: str,
    size: int,
    count: int,
    *,
    pre_resize: int | None,
    patch_size: int,
    data_seed: int = 0,
    batch: int = 32,
) -> RealImages:
    """The first ``count`` full images of ``data`` at ``size`` px (fewer if the dataset is
    smaller), hashed by content.

    Args:
        data: a dataset name (``synthetic``, ``landscapes``) or a folder/.zip/.tar path.
        size: output side (the ``full_size`` of the training view, or the ScaleInv real
            resolution with ``pre_resize=None``).
        count: images wanted.
        pre_resize: LANCZOS resize of the centre square before ``size`` (as in training).
        patch_size: the model's patch size (only validates the data config).
        data_seed: content seed of procedural sources (the training ``--seed``).
        batch: images per yielded batch.

    Raises:
        FileNotFoundError, DataError: the dataset cannot be opened.
    """
    from infinitygan.data import DataConfig, open_dataset

    config = DataConfig(
        patch_size=min(patch_size, size), full_size=size, pre_resize=pre_resize, use_hflip=False
    )
    dataset = open_dataset(data, config, seed=data_seed)
    count = min(count, len(dataset))

    def source() -> Iterator[Tensor]:
        for start in range(0, count, batch):
            stop = min(count, start + batch)
            yield torch.stack([dataset.full_image(i) for i in range(start, stop)])

    return RealImages(data, size, count, hash_image_batches(source), source)


def require_reals(reals: RealImages) -> None:
    """Refuse a dataset with fewer than two images (no covariance, hence no FID).

    Raises:
        ValueError: naming the dataset and its image count.
    """
    if reals.count < 2:
        raise ValueError(f"dataset {reals.spec!r} has {reals.count} image(s); FID needs at least 2")
