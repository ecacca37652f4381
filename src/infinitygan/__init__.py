"""InfinityGAN: infinite-pixel image synthesis (Lin et al., ICLR 2022)."""

from __future__ import annotations

__version__ = "0.1.0"
