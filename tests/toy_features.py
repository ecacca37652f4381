"""A cheap stand-in for the Inception feature network in metric tests (imported by tests)."""

from __future__ import annotations

import torch


class ToyFeatures:
    """Features [B, 12]: channel means and stds plus two random projections of a 4x4 pool.
    ``images`` counts the images featurised (cache tests check it)."""

    cache_id = "test-toy-features/v1"

    def __init__(self) -> None:
        self.images = 0
        self.proj = torch.randn(48, 6, generator=torch.Generator().manual_seed(0))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.images += images.shape[0]
        x = images.float() / 127.5 - 1 if images.dtype == torch.uint8 else images.float()
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3)), pooled @ self.proj], dim=1)
