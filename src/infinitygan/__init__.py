"""InfinityGAN: infinite-pixel image synthesis (Lin et al., ICLR 2022)."""

from __future__ import annotations

__version__ = "0.1.0"

from infinitygan.canvas import generate_image, generate_region, period_pixels  # noqa: E402
from infinitygan.checkpoint import build_generator, load_generator, save_generator  # noqa: E402
from infinitygan.config import ModelConfig  # noqa: E402
from infinitygan.models import Discriminator, Generator  # noqa: E402
from infinitygan.presets import get_preset  # noqa: E402

__all__ = [
    "Discriminator",
    "Generator",
    "ModelConfig",
    "__version__",
    "build_generator",
    "generate_image",
    "generate_region",
    "get_preset",
    "load_generator",
    "period_pixels",
    "save_generator",
]
