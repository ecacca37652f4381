"""ScaleInv FID preprocessing: sizes from the spec, exact resize formulas, clean-mode symmetry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from infinitygan.metrics.images import resize_antialiased
from infinitygan.metrics.scaleinv import (
    scaleinv_prepare,
    scaleinv_prepare_real,
    scaleinv_request_size,
)


@pytest.mark.parametrize(
    ("scale", "expected"), [(1, 197), (2, 394), (4, 788), (8, 1576), (16, 3152)]
)
def test_request_sizes_of_the_paper_model(scale: int, expected: int) -> None:
    assert scaleinv_request_size(scale, real_res=128, full_size=197) == expected


def test_request_size_rounds_up_to_whole_patches_and_fractional_scales() -> None:
    assert scaleinv_request_size(2, 128, 197, patch_size=101) == 404
    assert scaleinv_request_size(1.5, 128, 197) == 296  # ceil(192 * 197 / 128) = ceil(295.5)
    assert scaleinv_request_size(1, 128, 128) == 128  # StyleGAN2 baseline: f = 1


def test_request_size_rejects_bad_geometry() -> None:
    with pytest.raises(ValueError, match="whole number of pixels"):
        scaleinv_request_size(1.3, 128, 197)
    with pytest.raises(ValueError, match="full_size"):
        scaleinv_request_size(2, 128, 100)
    with pytest.raises(ValueError, match="scale must be positive"):
        scaleinv_request_size(0, 128, 197)


def _ramp(height: int, width: int) -> torch.Tensor:
    """[1, 3, H, W] linear ramp in x and y (different slopes per channel), inside [-1, 1]."""
    y = torch.linspace(-0.4, 0.4, height, dtype=torch.float64)[:, None]
    x = torch.linspace(-0.5, 0.5, width, dtype=torch.float64)[None, :]
    return torch.stack([x + y, x - y, 0.3 * x + 0.7 * y])[None].float()


def _ramp_at(height: int, width: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Values of _ramp(height, width) at fractional source coordinates (rows ys, cols xs)."""
    y = (-0.4 + 0.8 * ys / (height - 1))[:, None]
    x = (-0.5 + 1.0 * xs / (width - 1))[None, :]
    return np.stack([x + y, x - y, 0.3 * x + 0.7 * y])


@pytest.mark.parametrize("size", [394, 405])
def test_paper_mode_follows_the_resize_formulas_on_a_linear_ramp(size: int) -> None:
    # Bilinear align_corners=True resizing reproduces a linear ramp exactly, so the output equals
    # the ramp sampled at the composed source coordinates:
    #   rescale by 1/f: n1 = floor(size * 128 / 197), output j <- source j * (size - 1) / (n1 - 1)
    #   centre crop 256: offset (n1 - 256) // 2
    #   resize 256 -> 128: output j <- crop j * 255 / 127
    out = scaleinv_prepare(_ramp(size, size), scale=2, real_res=128, full_size=197, mode="paper")
    assert out.shape == (1, 3, 128, 128)
    n1 = size * 128 // 197
    offset = (n1 - 256) // 2
    crop_coord = np.arange(128) * 255 / 127
    source = (crop_coord + offset) * (size - 1) / (n1 - 1)
    expected = _ramp_at(size, size, source, source)
    np.testing.assert_allclose(out[0].numpy(), expected, atol=2e-6)


def test_paper_mode_at_scale_one_keeps_the_field_of_view_of_one_real_image() -> None:
    out = scaleinv_prepare(_ramp(197, 197), scale=1, mode="paper")
    # 197 -> 128 with align_corners=True: corners map to corners.
    expected = _ramp_at(197, 197, np.arange(128) * 196 / 127, np.arange(128) * 196 / 127)
    np.testing.assert_allclose(out[0].numpy(), expected, atol=2e-6)


def test_prepare_rejects_images_smaller_than_the_request() -> None:
    with pytest.raises(ValueError, match="at least 394x394"):
        scaleinv_prepare(torch.zeros(1, 3, 390, 400), scale=2)
    with pytest.raises(ValueError, match="mode must be one of"):
        scaleinv_prepare(torch.zeros(1, 3, 394, 394), scale=2, mode="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize("pad", [0, 6])
def test_clean_mode_is_identical_for_real_and_fake_paths(pad: int) -> None:
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(2, 3, 394, 394, generator=gen) * 2 - 1
    fake = torch.nn.functional.pad(content, (pad, pad, pad, pad), value=0.7)
    from_fake = scaleinv_prepare(fake, scale=2, real_res=128, full_size=197, mode="clean")
    from_real = scaleinv_prepare_real(content, real_res=128, mode="clean")
    assert from_fake.shape == (2, 3, 128, 128)
    assert torch.equal(from_fake, from_real)


def test_clean_mode_antialiases_where_paper_mode_aliases() -> None:
    # A 1-px checkerboard shrunk 394 -> 128: the anti-aliased resize averages it to flat grey,
    # the point-sampling bilinear resizes of the paper protocol keep large spurious patterns.
    yy, xx = torch.meshgrid(torch.arange(394), torch.arange(394), indexing="ij")
    board = (((yy + xx) % 2).float() * 1.6 - 0.8).expand(1, 3, 394, 394)
    clean = scaleinv_prepare(board, scale=2, mode="clean")
    paper = scaleinv_prepare(board, scale=2, mode="paper")
    assert float(clean.abs().max()) < 0.02
    assert float(paper.std()) > 0.1
    assert float(paper.abs().max()) > 0.7
    assert float(clean.mean()) == pytest.approx(0.0, abs=0.02)


def test_clean_resize_equals_pil_bilinear() -> None:
    rng = np.random.default_rng(1)
    image = rng.uniform(-1, 1, (3, 97, 131)).astype(np.float32)
    ours = resize_antialiased(torch.from_numpy(image)[None], (40, 50))[0].numpy()
    pil = np.stack(
        [
            np.asarray(Image.fromarray(ch, mode="F").resize((50, 40), Image.Resampling.BILINEAR))
            for ch in image
        ]
    )
    np.testing.assert_allclose(ours, pil, atol=1e-5)


def test_paper_real_path_is_pil_lanczos_on_8bit_images() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (200, 150, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(image).resize((128, 128), Image.Resampling.LANCZOS))
    out = scaleinv_prepare_real(torch.from_numpy(image).permute(2, 0, 1)[None], 128, "paper")
    back = torch.round((out[0] + 1) * 127.5).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(back, expected)
