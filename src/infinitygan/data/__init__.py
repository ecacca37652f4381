"""Training data: image collections, the official preprocessing, procedural landscapes.

Typical use::

    from infinitygan.data import DataConfig, make_loader, open_dataset

    dataset = open_dataset("photos.zip", DataConfig(), seed=0)   # or "synthetic"
    dataset.scan.write(run_dir)                                   # path datasets only
    stream = make_loader(dataset, 16, seed=0, start_step=step, num_workers=2)
    patches, labels, _ = next(stream)   # [16, 3, 101, 101] in [-1, 1], [16] in [-1, 1]
"""

from __future__ import annotations

from infinitygan.data.pipeline import (
    BatchStream,
    DataConfig,
    ImageCollectionDataset,
    PatchBatch,
    PatchDataset,
    PatchDraw,
    StreamBatchSampler,
    center_square,
    crop_patch,
    draw_patch,
    epoch_of_step,
    label_per_px,
    make_loader,
    open_image_collection,
    stream_keys,
    to_full_image,
    to_tensor,
    vertical_label,
    zoomed_label_band,
    zoomed_vertical_label,
)
from infinitygan.data.registry import DATASETS, open_dataset
from infinitygan.data.sources import (
    IMAGE_EXTENSIONS,
    SCAN_FILENAME,
    SKIP_REASONS,
    DataError,
    ImageDecodeError,
    ImageEntry,
    ImageSource,
    ScanReport,
    SkippedEntry,
    decode_image,
    open_source,
    scan_images,
    to_rgb,
)
from infinitygan.data.synthetic import (
    SyntheticLandscapeDataset,
    prepare_synthetic,
    render_landscape,
)

__all__ = [
    "DATASETS",
    "IMAGE_EXTENSIONS",
    "SCAN_FILENAME",
    "SKIP_REASONS",
    "BatchStream",
    "DataConfig",
    "DataError",
    "ImageCollectionDataset",
    "ImageDecodeError",
    "ImageEntry",
    "ImageSource",
    "PatchBatch",
    "PatchDataset",
    "PatchDraw",
    "ScanReport",
    "SkippedEntry",
    "StreamBatchSampler",
    "SyntheticLandscapeDataset",
    "center_square",
    "crop_patch",
    "decode_image",
    "draw_patch",
    "epoch_of_step",
    "make_loader",
    "open_dataset",
    "open_image_collection",
    "open_source",
    "prepare_synthetic",
    "render_landscape",
    "scan_images",
    "stream_keys",
    "to_full_image",
    "to_rgb",
    "to_tensor",
    "vertical_label",
    "zoomed_label_band",
    "zoomed_vertical_label",
    "label_per_px",
]
