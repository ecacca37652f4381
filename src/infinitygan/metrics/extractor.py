"""The feature network of the evaluation: the TF-FID Inception, or one installed by a hook.

Tests and experiments replace the network with :func:`set_feature_extractor_factory`;
``infinitygan eval`` and :func:`make_feature_extractor` then use theirs.
"""

from __future__ import annotations

from collections.abc import Callable

from infinitygan.metrics.inception import FeatureExtractor, InceptionFeatureExtractor

ExtractorFactory = Callable[[str | None, str], FeatureExtractor]
"""``factory(inception_path_or_None, device) -> feature extractor``."""

_extractor_factory: ExtractorFactory | None = None


def set_feature_extractor_factory(factory: ExtractorFactory | None) -> ExtractorFactory | None:
    """Replace the feature network used by :func:`make_feature_extractor` (and the CLI).

    The factory is called as ``factory(inception_path, device)`` and must return a callable
    ``[B, 3, H, W] -> [B, D]`` (float ``[-1, 1]`` or uint8 input). Give it a ``cache_id`` string
    attribute so that its real-image statistics never share a cache entry with Inception's. Tests
    use this to inject a small random network; ``None`` restores the Inception network.

    Returns:
        The previous factory (``None`` for the default).
    """
    global _extractor_factory
    previous = _extractor_factory
    _extractor_factory = factory
    return previous


def make_feature_extractor(inception: str | None = None, device: str = "cpu") -> FeatureExtractor:
    """The feature network: the installed hook, else the TF-FID Inception.

    Raises:
        FileNotFoundError: the Inception weights are not installed (the message says how).
    """
    if _extractor_factory is not None:
        return _extractor_factory(inception, device)
    return InceptionFeatureExtractor(inception, device=device)


def extractor_id(extractor: FeatureExtractor) -> str:
    """What identifies the extractor in records and cache keys."""
    return str(getattr(extractor, "cache_id", type(extractor).__name__))
