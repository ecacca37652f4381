"""The building blocks of ops.py against direct formulas, in float64.

Each reference below is written from the definition (explicit sums over taps and channels in
numpy), not with the torch calls ops.py uses, so a wrong flip, stride, crop, scale or
demodulation shows up here and not only as a parity failure of the whole network.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infinitygan.ops import (
    EqualConv2d,
    EqualLinear,
    ModulatedConv2d,
    NoiseInjection,
    PixelNorm,
    bias_lrelu,
    blur_kernel_2d,
    depthwise_conv,
    upsample_transposed_depthwise,
    upsample_zero_padded,
)

TOL = 1e-12


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy()


def _lrelu(x: np.ndarray, slope: float = 0.2) -> np.ndarray:
    return np.where(x >= 0, x, slope * x)


def _correlate_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """out[n, o, y, x] = sum_{i, a, b} w[o, i, a, b] * x[n, i, y + a, x + b]."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    out = np.zeros((n, o, h - k + 1, wd - k + 1))
    for a in range(k):
        for b in range(k):
            patch = x[:, :, a : a + h - k + 1, b : b + wd - k + 1]
            out += np.einsum("oi,nihw->nohw", w[:, :, a, b], patch)
    return out


def _transposed_stride2(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Full stride-2 transposed conv: out[n, o, 2y + a, 2x + b] += x[n, i, y, x] w[i, o, a, b]."""
    n, c, h, wd = x.shape
    _, o, k, _ = w.shape
    out = np.zeros((n, o, 2 * (h - 1) + k, 2 * (wd - 1) + k))
    for y in range(h):
        for xx in range(wd):
            out[:, :, 2 * y : 2 * y + k, 2 * xx : 2 * xx + k] += np.einsum(
                "ni,ioab->noab", x[:, :, y, xx], w
            )
    return out


def _depthwise_convolve(x: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """True 2-D convolution (kernel flipped) of every channel, no padding."""
    flipped = k2[::-1, ::-1]
    c = x.shape[1]
    w = np.zeros((c, c, *k2.shape))
    for i in range(c):
        w[i, i] = flipped
    return _correlate_valid(x, w)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def test_blur_kernel_is_normalised_outer_product():
    k = blur_kernel_2d((1, 3, 3, 1), gain=4.0).double().numpy()
    taps = np.array([1, 3, 3, 1], dtype=np.float64)
    expected = np.outer(taps, taps) / np.outer(taps, taps).sum() * 4.0
    np.testing.assert_allclose(k, expected, rtol=1e-7)  # stored in float32
    assert k.sum() == pytest.approx(4.0, rel=1e-6)


def test_bias_lrelu_matches_formula(rng):
    x = rng.standard_normal((2, 4, 3, 3))
    b = rng.standard_normal(4)
    out = bias_lrelu(torch.from_numpy(x.copy()), torch.from_numpy(b))
    expected = _lrelu(x + b[None, :, None, None]) * math.sqrt(2.0)
    np.testing.assert_allclose(_np(out), expected, atol=TOL)
    inplace = torch.from_numpy(x.copy())
    bias_lrelu(inplace, torch.from_numpy(b), inplace=True)
    np.testing.assert_allclose(_np(inplace), expected, atol=TOL)


@pytest.mark.parametrize("activate", [False, True])
def test_equal_linear_matches_formula(rng, activate):
    layer = EqualLinear(6, 5, bias_init=0.3, lr_mul=0.01, activate=activate).double()
    x = rng.standard_normal((3, 6))
    W = _np(layer.weight) * 0.01 / math.sqrt(6)
    b = _np(layer.bias) * 0.01
    expected = x @ W.T + b
    if activate:
        expected = _lrelu(expected) * math.sqrt(2.0)
    np.testing.assert_allclose(_np(layer(torch.from_numpy(x))), expected, atol=TOL)


def test_equal_conv_matches_formula(rng):
    torch.manual_seed(0)
    layer = EqualConv2d(3, 4, 3, bias=True).double()
    with torch.no_grad():
        layer.bias.normal_()
    x = rng.standard_normal((2, 3, 7, 6))
    expected = _correlate_valid(x, _np(layer.weight) / math.sqrt(3 * 9))
    expected += _np(layer.bias)[None, :, None, None]
    np.testing.assert_allclose(_np(layer(torch.from_numpy(x))), expected, atol=TOL)


def test_depthwise_conv_is_true_convolution(rng):
    x = rng.standard_normal((1, 3, 6, 7))
    k2 = rng.standard_normal((3, 3))  # asymmetric, so a missing flip would show
    out = depthwise_conv(torch.from_numpy(x), torch.from_numpy(k2))
    np.testing.assert_allclose(_np(out), _depthwise_convolve(x, k2), atol=TOL)


def test_upsample_transposed_depthwise_matches_formula(rng):
    x = rng.standard_normal((1, 2, 4, 5))
    k2 = rng.standard_normal((3, 3))
    out = upsample_transposed_depthwise(torch.from_numpy(x), torch.from_numpy(k2))
    w = np.zeros((2, 2, 3, 3))
    w[0, 0] = w[1, 1] = k2
    full = _transposed_stride2(x, w)  # 2H + 1
    expected = full[:, :, 1:-1, 1:-1]  # one border pixel cropped: 2H - 1
    assert out.shape[-2:] == (7, 9)
    np.testing.assert_allclose(_np(out), expected, atol=TOL)


def test_upsample_zero_padded_matches_upfirdn(rng):
    x = rng.standard_normal((1, 2, 3, 4))
    k2 = blur_kernel_2d((1, 3, 3, 1), gain=4.0).double()
    out = upsample_zero_padded(torch.from_numpy(x), k2)
    up = np.zeros((1, 2, 6, 8))
    up[:, :, ::2, ::2] = x
    up = np.pad(up, ((0, 0), (0, 0), (2, 1), (2, 1)))
    expected = _depthwise_convolve(up, k2.numpy())
    assert out.shape[-2:] == (6, 8)
    np.testing.assert_allclose(_np(out), expected, atol=TOL)
    # A constant image stays constant inside (the kernel's gain 4 undoes the zero insertion).
    flat = upsample_zero_padded(torch.ones(1, 1, 6, 6, dtype=torch.float64), k2)
    np.testing.assert_allclose(_np(flat)[0, 0, 2:-2, 2:-2], 1.0, atol=TOL)


def _modconv_reference(layer: ModulatedConv2d, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """StyleGAN2 modulated convolution, per sample, from the definition."""
    s = w @ (_np(layer.affine.weight) / math.sqrt(w.shape[1])).T + _np(layer.affine.bias)
    base = _np(layer.weight) / math.sqrt(layer.in_ch * layer.kernel_size**2)
    outs = []
    for n in range(x.shape[0]):
        weight = base * s[n][None, :, None, None]  # modulation of the input channels
        if layer.demodulate:
            weight = weight / np.sqrt((weight**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
        xn = x[n : n + 1]
        if not layer.upsample:
            outs.append(_correlate_valid(xn, weight))
            continue
        full = _transposed_stride2(xn, weight.transpose(1, 0, 2, 3))  # H -> 2H + 1
        cropped = full[:, :, 1:-1, 1:-1]  # 2H - 1
        outs.append(_depthwise_convolve(cropped, _np(layer.blur)))  # [1,2,1] blur, gain 4: 2H - 3
    return np.concatenate(outs)


@pytest.mark.parametrize("upsample", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_definition(rng, upsample, demodulate):
    torch.manual_seed(1)
    layer = ModulatedConv2d(3, 4, 3, 5, demodulate=demodulate, upsample=upsample).double()
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((2, 5))
    expected = _modconv_reference(layer, x, w)
    # Per-sample styles: input scaled by the style, output by the demodulation factors.
    out = layer(torch.from_numpy(x), torch.from_numpy(w))
    np.testing.assert_allclose(_np(out), expected, atol=TOL)
    # One style for the batch: the style is folded into the weight.
    out_one = layer(torch.from_numpy(x), torch.from_numpy(w[:1]))
    expected_one = _modconv_reference(layer, x, np.repeat(w[:1], 2, axis=0))
    np.testing.assert_allclose(_np(out_one), expected_one, atol=TOL)
    if upsample:
        assert out.shape[-2:] == (2 * 6 - 3, 2 * 5 - 3)
    else:
        assert out.shape[-2:] == (4, 3)


def test_demodulation_normalises_output_scale():
    """With demodulation, unit-variance inputs give unit-variance outputs whatever the style."""
    torch.manual_seed(2)
    layer = ModulatedConv2d(64, 64, 3, 8).double()
    x = torch.randn(1, 64, 40, 40, dtype=torch.float64)
    for scale in (0.1, 10.0):
        w = torch.randn(1, 8, dtype=torch.float64) * scale
        assert layer(x, w).std().item() == pytest.approx(1.0, rel=0.1)


def test_noise_injection_and_pixel_norm(rng):
    layer = NoiseInjection().double()
    with torch.no_grad():
        layer.strength.fill_(0.7)
    x = rng.standard_normal((1, 3, 4, 4))
    noise = rng.standard_normal((1, 1, 4, 4))
    out = layer(torch.from_numpy(x.copy()), torch.from_numpy(noise))
    np.testing.assert_allclose(_np(out), x + 0.7 * noise, atol=TOL)
    inplace = torch.from_numpy(x.copy())
    layer(inplace, torch.from_numpy(noise), inplace=True)
    np.testing.assert_allclose(_np(inplace), x + 0.7 * noise, atol=TOL)
    xt = torch.from_numpy(x)
    assert layer(xt, None) is xt  # no noise: the input itself, untouched
    z = rng.standard_normal((3, 8))
    expected = z / np.sqrt((z**2).mean(axis=1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(_np(PixelNorm()(torch.from_numpy(z))), expected, atol=TOL)
