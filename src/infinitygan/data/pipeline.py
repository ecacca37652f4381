"""The official InfinityGAN real-data preprocessing, training datasets and a resumable loader.

Per image (reference-spec §5.2, checklist item 8):

1. centre square crop (side = shorter side; offsets ``(w - s) // 2`` and ``(h - s) // 2``);
2. optional pre-resize of the square to ``pre_resize`` px with LANCZOS (128 for the paper model:
   it fixes the field of view and the finest detail of the real data);
3. resize to ``full_size`` px (197) with LANCZOS (an *upsampling* when pre-resized to 128);
4. random horizontal flip (probability 1/2, when ``use_hflip``);
5. random ``patch_size`` crop (101) with offsets ``(y, x)`` uniform over **all** valid positions
   ``0 .. full_size - patch_size`` (the official code's ``randrange`` never draws the last offset
   96; we include it, so the label really spans [-1, 1]);
6. pixel values mapped to [-1, 1] as ``v / 127.5 - 1``; vertical label ``2 * y / (full - patch)
   - 1`` (top patch = -1, bottom patch = +1; 0 when ``full_size == patch_size``).

Randomness: every sample draws its flip and offsets from a numpy Generator seeded with
``(seed, epoch, index)``, so a sample never depends on worker count, batch layout or history.

Loader semantics (``make_loader``): one infinite stream of sample positions ``g = 0, 1, 2, ...``;
epoch ``e = g // N`` visits the images in a permutation of ``range(N)`` seeded by
``(seed, e)``. Step ``s`` of the *global* batch covers positions ``[s * B * W, (s + 1) * B * W)``
for batch size ``B`` per rank and ``W`` ranks, and rank ``r`` takes the contiguous slice
``[s * B * W + r * B, s * B * W + (r + 1) * B)``. Hence: ranks never share a sample within an
epoch; the ranks' batches concatenated in rank order equal the batch of a single process with
batch size ``B * W``; and restarting at ``start_step = k`` gives exactly the batches of an
uninterrupted run from step ``k`` on. Batches may straddle an epoch boundary (nothing is dropped).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data._utils.collate import default_collate

from infinitygan.data.sources import (
    DataError,
    ImageDecodeError,
    ImageSource,
    ScanReport,
    decode_image,
    open_source,
    scan_images,
)

logger = logging.getLogger(__name__)

_PERM_TAG = 0x5045524D  # "PERM": keeps the order stream apart from the augmentation stream
_AUG_TAG = 0x41554721  # "AUG!"
_MAX_SUBSTITUTIONS = 64


@dataclass(frozen=True)
class DataConfig:
    """Sizes of the real-data pipeline (defaults: the paper model, reference-spec §0).

    Attributes:
        patch_size: side of the training patch P (101).
        full_size: side of the "full" image F the patch is cropped from (197).
        pre_resize: side the centre square is first resized to, or None to go straight to
            ``full_size`` (128 for the paper model; fixes the field of view).
        use_hflip: random horizontal flip of training patches.
    """

    patch_size: int = 101
    full_size: int = 197
    pre_resize: int | None = 128
    use_hflip: bool = True

    def __post_init__(self) -> None:
        if self.patch_size < 1:
            raise ValueError(f"DataConfig.patch_size must be >= 1, got {self.patch_size}")
        if self.full_size < self.patch_size:
            raise ValueError(
                f"DataConfig.full_size ({self.full_size}) must be >= patch_size ({self.patch_size})"
            )
        if self.pre_resize is not None and self.pre_resize < 1:
            raise ValueError(f"DataConfig.pre_resize must be >= 1 or None, got {self.pre_resize}")

    @property
    def max_offset(self) -> int:
        """Largest patch offset, ``full_size - patch_size`` (96 for the paper model)."""
        return self.full_size - self.patch_size


# --------------------------------------------------------------------------------------------
# Pure preprocessing functions


def center_square(image: Image.Image) -> Image.Image:
    """Crop the centred square whose side is the shorter side of the image."""
    width, height = image.size
    side = min(width, height)
    if width == height:
        return image
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """LANCZOS resize of a square image to ``size`` x ``size`` (no-op when already that size)."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.LANCZOS)


def to_full_image(image: Image.Image, config: DataConfig) -> np.ndarray:
    """The "full image" view: centre square, optional pre-resize, resize to the full size.

    This is also the view the FID reals use (no crop, no flip).

    Args:
        image: an RGB Pillow image of any size and aspect.
        config: the sizes.

    Returns:
        uint8 array [F, F, 3] with F = ``config.full_size``.
    """
    square = center_square(image.convert("RGB") if image.mode != "RGB" else image)
    if config.pre_resize is not None:
        square = resize_square(square, config.pre_resize)
    return np.asarray(resize_square(square, config.full_size), dtype=np.uint8)


@dataclass(frozen=True)
class PatchDraw:
    """The random choices for one training sample: flip, then crop at (y, x)."""

    flip: bool
    y: int
    x: int


def draw_patch(seed: int, epoch: int, index: int, config: DataConfig) -> PatchDraw:
    """Draw the flip and the patch offsets for sample ``index`` of ``epoch``.

    Uses ``numpy.random.default_rng([seed, epoch, index, tag])``; draws, in this order, the
    flip (``random() < 0.5``; skipped when ``use_hflip`` is off), y, then x, each uniform over
    ``0 .. full_size - patch_size`` inclusive.
    """
    rng = np.random.default_rng([_AUG_TAG, seed, epoch, index])
    flip = bool(rng.random() < 0.5) if config.use_hflip else False
    y = int(rng.integers(0, config.max_offset + 1))
    x = int(rng.integers(0, config.max_offset + 1))
    return PatchDraw(flip=flip, y=y, x=x)


def vertical_label(y: int, config: DataConfig) -> float:
    """Vertical position label of a patch at row offset ``y``: ``2 y / (F - P) - 1``.

    Offset 0 (top) gives -1 and the last offset ``F - P`` gives +1. With ``F == P`` there is one
    position only and the label is 0.
    """
    if not 0 <= y <= config.max_offset:
        raise ValueError(f"patch offset y={y} outside 0..{config.max_offset}")
    if config.max_offset == 0:
        return 0.0
    return 2.0 * y / config.max_offset - 1.0


def zoomed_vertical_label(y: int, config: DataConfig, *, top: float, scale: float) -> float:
    """Vertical label of a patch at row offset ``y`` of a *zoomed crop* of a larger frame.

    The frame is the view whose full image plain labels (``vertical_label``) describe, e.g. a
    photo's full-height square window; the crop covers its rows ``[top, top + scale)`` in units
    of the frame's side (``scale < 1`` is a zoom-in by ``1 / scale``). The label is the plain
    label of a frame patch centred on the same row as this patch: the patch centre lies at
    ``top * F + (y + P / 2) * scale`` frame-full-image px, a frame patch there has offset
    ``top * F + (y + P / 2) * scale - P / 2``, and its label ``2 * offset / (F - P) - 1``. So a
    crop moved down by ``k`` frame px has every label larger by ``2 k F / (S (F - P))`` (frame
    side S), and ``top = 0, scale = 1`` gives ``vertical_label(y)`` exactly. Labels stay within
    [-1, 1] when ``top`` lies in ``zoomed_label_band(scale, config)``.
    """
    if not 0 <= y <= config.max_offset:
        raise ValueError(f"patch offset y={y} outside 0..{config.max_offset}")
    if not 0 < scale <= 1 or not -1e-9 <= top <= 1 - scale + 1e-9:
        raise ValueError(f"crop rows [{top}, {top + scale}) are not inside the frame [0, 1)")
    if config.max_offset == 0:
        return 0.0
    half = config.patch_size / 2
    offset = top * config.full_size + (y + half) * scale - half
    return 2.0 * offset / config.max_offset - 1.0


def label_per_px(config: DataConfig, *, scale: float = 1.0) -> float:
    """Change of a patch's vertical label per pixel its content moves down in the full image.

    ``2 / (F - P)`` for plain labels (``vertical_label``); for a zoomed crop of relative side
    ``scale`` (``zoomed_vertical_label``) ``scale`` times that, as one crop pixel covers
    ``scale`` frame pixels. DiffAugment's translation moves real labels by this slope; 0 when
    ``F == P`` (one position).
    """
    if config.max_offset == 0:
        return 0.0
    return 2.0 * scale / config.max_offset


def zoomed_label_band(scale: float, config: DataConfig) -> tuple[float, float]:
    """Range of crop tops (frame sides) for which ``zoomed_vertical_label`` stays in [-1, 1].

    A crop of relative side ``scale`` must keep the centres of its top and bottom patches
    between those of the frame's top and bottom patches: ``top`` in
    ``(1 - scale) * [P / (2 F), 1 - P / (2 F)]`` (the middle of the free range).
    """
    edge = config.patch_size / (2 * config.full_size)
    return (1 - scale) * edge, (1 - scale) * (1 - edge)


def crop_patch(full: np.ndarray, draw: PatchDraw, config: DataConfig) -> np.ndarray:
    """Flip (when drawn) and crop a patch from a full image.

    The flip is applied to the full image before cropping, as the official code does, so x is
    an offset in the flipped image.

    Args:
        full: uint8 [F, F, 3].
        draw: the random choices.
        config: the sizes.

    Returns:
        uint8 [P, P, 3].
    """
    if full.shape[:2] != (config.full_size, config.full_size):
        raise ValueError(f"full image has shape {full.shape}, expected F={config.full_size}")
    if draw.flip:
        full = full[:, ::-1]
    p = config.patch_size
    return np.ascontiguousarray(full[draw.y : draw.y + p, draw.x : draw.x + p])


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float32 [3, H, W] in [-1, 1] (``v / 127.5 - 1``)."""
    chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    return chw.to(torch.float32).div_(127.5).sub_(1.0)


# --------------------------------------------------------------------------------------------
# Datasets


class PatchDataset(Dataset):
    """Base of the training datasets: full images by index -> (patch, vertical label).

    Subclasses implement ``load_full(index) -> uint8 [F, F, 3]``. Indexing accepts an int (epoch
    0) or a tuple ``(epoch, index)``; the sampler of ``make_loader`` passes tuples.

    Full images are kept in an in-memory LRU cache (per process) when the whole collection fits
    into ``cache_bytes``; for bigger collections caching is off (random access would miss anyway).

    Attributes:
        config: the sizes.
        seed: seeds the per-sample flips and offsets (and the content of procedural sources).
    """

    def __init__(self, config: DataConfig, *, seed: int, cache_bytes: int = 256 << 20) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.config = config
        self.seed = int(seed)
        self.cache_bytes = int(cache_bytes)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    # -- to implement ---------------------------------------------------------------------
    def __len__(self) -> int:
        raise NotImplementedError

    def load_full(self, index: int) -> np.ndarray:
        """Full image ``index`` as uint8 [F, F, 3] (uncached). May raise DataError / OSError."""
        raise NotImplementedError

    # -- cache ----------------------------------------------------------------------------
    @property
    def use_cache(self) -> bool:
        """True when every full image of the collection fits into ``cache_bytes``."""
        per_image = 3 * self.config.full_size**2
        return len(self) * per_image <= self.cache_bytes

    def cached_full(self, index: int) -> np.ndarray:
        """``load_full`` through the cache. The returned array must not be modified."""
        if not self.use_cache:
            return self.load_full(index)
        hit = self._cache.get(index)
        if hit is not None:
            self._cache.move_to_end(index)
            return hit
        full = self.load_full(index)
        full.setflags(write=False)
        self._cache[index] = full
        while len(self._cache) * full.nbytes > self.cache_bytes:
            self._cache.popitem(last=False)
        return full

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()  # never ship cached images to spawned workers
        return state

    def patch_label(self, index: int, y: int) -> float:
        """Vertical label of the patch at row offset ``y`` of full image ``index``.

        ``vertical_label(y)`` here; datasets whose images are zoomed crops of a common frame
        override it (see ``zoomed_vertical_label``).
        """
        return vertical_label(y, self.config)

    def label_slope(self, index: int) -> float:
        """Label change per pixel of downward content shift for image ``index``
        (``label_per_px``); datasets of zoomed crops override it with the crop's scale."""
        return label_per_px(self.config)

    # -- samples --------------------------------------------------------------------------
    def _full_or_substitute(self, index: int) -> np.ndarray:
        """The full image of ``index``, or of the next loadable index when that one fails."""
        return self._load_or_substitute(index)[1]

    def _load_or_substitute(self, index: int) -> tuple[int, np.ndarray]:
        """``(index actually loaded, its full image)``: ``index`` or the next loadable one."""
        n = len(self)
        for attempt in range(min(n, _MAX_SUBSTITUTIONS)):
            candidate = (index + attempt) % n
            try:
                return candidate, self.cached_full(candidate)
            except (DataError, OSError) as err:
                self._report_bad(candidate, err)
        raise DataError(
            f"{min(n, _MAX_SUBSTITUTIONS)} images in a row failed to load, starting at index "
            f"{index}; the storage may be gone or the collection broken (see the warnings above)"
        )

    def _report_bad(self, index: int, err: BaseException) -> None:
        logger.warning("image %d failed (%s); substituting the next image", index, err)

    def sample(self, index: int, epoch: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """One training sample.

        Args:
            index: image index in ``range(len(self))``.
            epoch: epoch number (changes the flip and crop, not the image).

        Returns:
            ``(patch, label)``: float32 [3, P, P] in [-1, 1] and a float32 scalar tensor in
            [-1, 1] (the vertical position of the patch).
        """
        patch, label, _ = self.sloped_sample(index, epoch)
        return patch, label

    def sloped_sample(
        self, index: int, epoch: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``sample`` plus the label's ``label_slope`` (float32 scalar) of the image actually
        loaded (a failed image is replaced by the next one, whose zoom may differ)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        draw = draw_patch(self.seed, epoch, index, self.config)
        loaded, full = self._load_or_substitute(index)
        patch = crop_patch(full, draw, self.config)
        label = torch.tensor(self.patch_label(loaded, draw.y), dtype=torch.float32)
        slope = torch.tensor(self.label_slope(loaded), dtype=torch.float32)
        return to_tensor(patch), label, slope

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(key, tuple):
            epoch, index = key
            return self.sample(int(index), int(epoch))
        return self.sample(int(key), 0)

    def full_image(self, index: int) -> torch.Tensor:
        """The FID "full image" view of image ``index``: float32 [3, F, F] in [-1, 1]."""
        return to_tensor(self._full_or_substitute(index))

    def center_patch(self, index: int) -> torch.Tensor:
        """Centre ``patch_size`` crop of the full image (patch-FID reals): float32 [3, P, P]."""
        off = self.config.max_offset // 2
        draw = PatchDraw(flip=False, y=off, x=off)
        return to_tensor(crop_patch(self._full_or_substitute(index), draw, self.config))


class ImageCollectionDataset(PatchDataset):
    """Training patches from a folder / zip / tar of images (the usable entries of a scan).

    Args:
        source: the opened collection.
        report: its scan report; ``report.used`` fixes the images and their order.
        config: the sizes.
        seed: seeds flips and offsets.
        cache_bytes: in-memory cache budget per process for full images.
        use_jpeg_draft: decode JPEGs with DCT scaling down to >= 2x the first resize target
            (faster for big photos; pixels differ slightly from an exact decode).
    """

    def __init__(
        self,
        source: ImageSource,
        report: ScanReport,
        config: DataConfig,
        *,
        seed: int,
        cache_bytes: int = 256 << 20,
        use_jpeg_draft: bool = False,
    ) -> None:
        super().__init__(config, seed=seed, cache_bytes=cache_bytes)
        if not report.used:
            raise DataError(f"the scan of {report.source} lists no usable image", report=report)
        self.source = source
        self.scan = report
        self.names: tuple[str, ...] = tuple(e.name for e in report.used)
        first = config.pre_resize if config.pre_resize is not None else config.full_size
        self.draft_size: int | None = 2 * first if use_jpeg_draft else None
        self._bad: set[str] = set()

    def __len__(self) -> int:
        return len(self.names)

    def load_full(self, index: int) -> np.ndarray:
        name = self.names[index]
        image = decode_image(self.source.read_bytes(name), name, draft_size=self.draft_size)
        return to_full_image(image, self.config)

    def _report_bad(self, index: int, err: BaseException) -> None:
        name = self.names[index]
        if name not in self._bad:  # once per file and process
            self._bad.add(name)
            reason = err.reason if isinstance(err, ImageDecodeError) else type(err).__name__
            logger.warning(
                "%s: %s failed during training (%s: %s); substituting the next image",
                self.source.path,
                name,
                reason,
                err,
            )


def open_image_collection(
    path: str,
    config: DataConfig,
    *,
    seed: int,
    cache_bytes: int = 256 << 20,
    use_jpeg_draft: bool = False,
    full_check: bool = True,
) -> ImageCollectionDataset:
    """Scan a folder/zip/tar (min size = patch size) and build its training dataset.

    ``full_check=False`` scans headers only (see ``scan_images``); the other options are those
    of ``ImageCollectionDataset``.

    Raises:
        FileNotFoundError / DataError: see ``scan_images``.
    """
    source = open_source(path)
    report = scan_images(source, config.patch_size, full_check=full_check)
    return ImageCollectionDataset(
        source,
        report,
        config,
        seed=seed,
        cache_bytes=cache_bytes,
        use_jpeg_draft=use_jpeg_draft,
    )


# --------------------------------------------------------------------------------------------
# Loader


class PatchBatch(NamedTuple):
    """A batch: ``patches`` float32 [B, 3, P, P] in [-1, 1], ``labels`` float32 [B] and
    ``label_slopes`` float32 [B] (each label's change per pixel of downward content shift, for
    augmentations that move the content)."""

    patches: torch.Tensor
    labels: torch.Tensor
    label_slopes: torch.Tensor


def _collate(samples: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> PatchBatch:
    patches, labels, slopes = zip(*samples)
    return PatchBatch(*(default_collate(list(t)) for t in (patches, labels, slopes)))


class _SlopedSamples(Dataset):
    """The loader's view of a PatchDataset: items are ``sloped_sample`` triples."""

    def __init__(self, dataset: PatchDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, index = key
        return self.dataset.sloped_sample(int(index), int(epoch))


def stream_keys(num_images: int, seed: int, start: int, count: int) -> list[tuple[int, int]]:
    """Keys ``(epoch, index)`` of stream positions ``start .. start + count - 1``.

    Epoch ``e`` visits ``range(num_images)`` in the order
    ``numpy.random.default_rng([tag, seed, e]).permutation(num_images)``.
    """
    keys: list[tuple[int, int]] = []
    perm_epoch, perm = -1, np.empty(0, dtype=np.int64)
    for g in range(start, start + count):
        epoch, pos = divmod(g, num_images)
        if epoch != perm_epoch:
            perm = np.random.default_rng([_PERM_TAG, seed, epoch]).permutation(num_images)
            perm_epoch = epoch
        keys.append((epoch, int(perm[pos])))
    return keys


class StreamBatchSampler(Sampler[list[tuple[int, int]]]):
    """Infinite batch sampler implementing the stream semantics of the module docstring."""

    def __init__(
        self,
        num_images: int,
        batch_size: int,
        *,
        seed: int,
        start_step: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.num_images = num_images
        self.batch_size = batch_size
        self.seed = seed
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size

    def keys_for_step(self, step: int) -> list[tuple[int, int]]:
        """The ``(epoch, index)`` keys this rank gets at ``step``."""
        start = (step * self.world_size + self.rank) * self.batch_size
        return stream_keys(self.num_images, self.seed, start, self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            yield self.keys_for_step(step)
            step += 1


class BatchStream(Iterator[PatchBatch]):
    """Infinite iterator of ``PatchBatch``; ``step`` = index of the next batch it returns.

    Restore the data position after N steps with ``make_loader(..., start_step=N)``.
    """

    def __init__(self, loader: DataLoader, start_step: int) -> None:
        self.loader = loader
        self.step = start_step
        self._it: Iterator[PatchBatch] | None = None

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> PatchBatch:
        if self._it is None:
            self._it = iter(self.loader)
        batch = next(self._it)
        self.step += 1
        return batch

    def close(self) -> None:
        """Stop the worker processes (if any). The stream cannot be used afterwards."""
        it, self._it = self._it, None
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def make_loader(
    dataset: PatchDataset,
    batch_size: int,
    *,
    seed: int,
    start_step: int = 0,
    num_workers: int = 0,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
    prefetch_factor: int = 2,
) -> BatchStream:
    """An infinite, resumable, rank-sharded stream of batches (see the module docstring).

    Args:
        dataset: a PatchDataset (indexable by ``(epoch, index)``).
        batch_size: samples per batch *on this rank*.
        seed: seeds the visiting order of every epoch (the dataset's own seed drives the
            flips/crops).
        start_step: number of batches already consumed; the stream continues from there.
        num_workers: DataLoader worker processes (persistent); 0 loads in this process.
        rank, world_size: DDP position; rank r of W gets the r-th slice of each global batch of
            ``batch_size * world_size`` samples.
        pin_memory: pin batches (for CUDA training).
        prefetch_factor: batches prefetched per worker.

    Returns:
        A BatchStream yielding ``PatchBatch(patches [B, 3, P, P], labels [B], label_slopes
        [B])`` forever.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    if len(dataset) == 0:
        raise DataError("the dataset is empty")
    sampler = StreamBatchSampler(
        len(dataset),
        batch_size,
        seed=seed,
        start_step=start_step,
        rank=rank,
        world_size=world_size,
    )
    extra: dict[str, object] = {}
    if num_workers > 0:
        extra = {"persistent_workers": True, "prefetch_factor": prefetch_factor}
    loader = DataLoader(
        _SlopedSamples(dataset),
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=_collate,
        pin_memory=pin_memory,
        # Own generator: creating the iterator must not consume the global torch RNG.
        generator=torch.Generator().manual_seed(seed),
        **extra,  # type: ignore[arg-type]
    )
    return BatchStream(loader, start_step)


def epoch_of_step(step: int, batch_size: int, world_size: int, num_images: int) -> float:
    """Fractional epoch reached after ``step`` global batches (for logging)."""
    return step * batch_size * world_size / max(num_images, 1)


__all__ = [
    "BatchStream",
    "DataConfig",
    "ImageCollectionDataset",
    "PatchBatch",
    "PatchDataset",
    "PatchDraw",
    "StreamBatchSampler",
    "center_square",
    "crop_patch",
    "draw_patch",
    "epoch_of_step",
    "label_per_px",
    "make_loader",
    "open_image_collection",
    "resize_square",
    "stream_keys",
    "to_full_image",
    "to_tensor",
    "vertical_label",
    "zoomed_label_band",
    "zoomed_vertical_label",
]
