"""``open_dataset``: one entry point for folders, archives and named sources.

Named sources live in ``DATASETS``; adding one is one line::

    DATASETS["landscapes"] = open_bundled_landscapes  # (config, *, seed) -> PatchDataset

A spec that is a registered name opens that source; anything else is a path (folder, .zip, .tar,
.tar.gz, .tgz). To open a folder that happens to be called like a source, write ``./synthetic``.
"""

from __future__ import annotations

import os
from typing import Protocol

from infinitygan.data.bundled import (
    open_bundled_landscapes,
    open_landscapes_holdout,
    open_landscapes_sky,
    open_landscapes_train,
)
from infinitygan.data.pipeline import DataConfig, PatchDataset, open_image_collection
from infinitygan.data.synthetic import SyntheticLandscapeDataset


class DatasetFactory(Protocol):
    """Builds a named dataset: ``factory(config, seed=seed) -> PatchDataset``."""

    def __call__(self, config: DataConfig, *, seed: int) -> PatchDataset: ...


def _open_synthetic(config: DataConfig, *, seed: int) -> PatchDataset:
    return SyntheticLandscapeDataset(config, seed=seed)


DATASETS: dict[str, DatasetFactory] = {
    "synthetic": _open_synthetic,
    "landscapes": open_bundled_landscapes,
    "landscapes-train": open_landscapes_train,
    "landscapes-holdout": open_landscapes_holdout,
    "landscapes-sky": open_landscapes_sky,
}
"""Named training sources, looked up before paths."""


def open_dataset(
    spec: str | os.PathLike[str], config: DataConfig, *, seed: int, **kwargs: object
) -> PatchDataset:
    """Open a training dataset by name or path.

    Args:
        spec: a name from ``DATASETS`` (e.g. "synthetic") or a path to a folder (scanned
            recursively), .zip, .tar, .tar.gz or .tgz of JPEG/PNG/WebP images.
        config: the sizes (patch, full, pre-resize).
        seed: seeds the per-sample flips and crops (and the content of procedural sources).
        **kwargs: passed to ``open_image_collection`` for paths (``cache_bytes``,
            ``use_jpeg_draft``, ``full_check``); not accepted for named sources.

    Returns:
        A PatchDataset yielding ``(patch [3, P, P] in [-1, 1], vertical label)``. Path datasets
        carry their scan as ``dataset.scan`` (write it with ``dataset.scan.write(run_dir)``).

    Raises:
        FileNotFoundError: neither a registered name nor an existing path.
        DataError: a path with nothing usable (see ``scan_images``).
    """
    text = os.fspath(spec)
    factory = DATASETS.get(text)
    if factory is not None:
        if kwargs:
            raise TypeError(f"dataset {text!r} takes no options, got {sorted(kwargs)}")
        return factory(config, seed=seed)
    if not os.path.exists(os.path.expanduser(text)):
        names = ", ".join(sorted(DATASETS))
        raise FileNotFoundError(
            f"dataset {text!r} is neither a known name ({names}) nor an existing path; give a "
            "folder, .zip or .tar of images"
        )
    return open_image_collection(text, config, seed=seed, **kwargs)  # type: ignore[arg-type]
