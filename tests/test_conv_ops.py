"""The engine's convolutions: PyTorch's layout and sizes, against direct loops and central
differences, over hypothesis-drawn shapes, strides, paddings, kernels and channel counts."""

from __future__ import annotations

import numpy as np
import pytest
from conv_cases import ConvSetting, conv2d_reference, conv_settings, conv_transpose2d_reference
from hypothesis import given, settings
from strategies import seeds

import tinysae
from tinysae.autograd import Tensor, conv2d, conv_transpose2d, gradcheck

TOLERANCE = 1e-7


def _arrays(setting: ConvSetting, seed: int, transpose: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w_shape = setting.transpose_w_shape if transpose else setting.conv_w_shape
    return rng.normal(size=setting.x_shape), rng.normal(size=w_shape), rng.normal(size=setting.c_out)


def _conv(setting: ConvSetting, x: object, w: object, b: object = None) -> Tensor:
    return conv2d(x, w, b, stride=setting.stride, padding=setting.padding)


def _transpose(setting: ConvSetting, x: object, w: object, b: object = None) -> Tensor:
    return conv_transpose2d(x, w, b, stride=setting.stride, padding=setting.padding,
                            output_padding=setting.output_padding)


@settings(max_examples=40)
@given(setting=conv_settings(), seed=seeds)
def test_conv2d_equals_direct_loops(setting: ConvSetting, seed: int) -> None:
    x, w, b = _arrays(setting, seed, transpose=False)
    expected = conv2d_reference(x, w, setting.stride, setting.padding) + b[None, :, None, None]
    out = _conv(setting, x, w, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=40)
@given(setting=conv_settings(), seed=seeds)
def test_conv_transpose2d_equals_direct_loops(setting: ConvSetting, seed: int) -> None:
    x, w, b = _arrays(setting, seed, transpose=True)
    expected = conv_transpose2d_reference(x, w, setting.stride, setting.padding, setting.output_padding)
    out = _transpose(setting, x, w, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected + b[None, :, None, None], rtol=1e-12, atol=1e-12)


@settings(max_examples=25)
@given(setting=conv_settings(max_side=5), seed=seeds)
def test_conv2d_gradients_match_central_differences(setting: ConvSetting, seed: int) -> None:
    x, w, b = _arrays(setting, seed, transpose=False)
    weights = np.random.default_rng(seed + 1).normal(size=_conv(setting, x, w).shape)
    report = gradcheck(lambda xt, wt, bt: (_conv(setting, xt, wt, bt) * weights).sum(), [x, w, b])
    assert report.relative_error < TOLERANCE, str(report)


@settings(max_examples=25)
@given(setting=conv_settings(max_side=5), seed=seeds)
def test_conv_transpose2d_gradients_match_central_differences(setting: ConvSetting, seed: int) -> None:
    x, w, b = _arrays(setting, seed, transpose=True)
    weights = np.random.default_rng(seed + 1).normal(size=_transpose(setting, x, w).shape)
    report = gradcheck(lambda xt, wt, bt: (_transpose(setting, xt, wt, bt) * weights).sum(), [x, w, b])
    assert report.relative_error < TOLERANCE, str(report)


@settings(max_examples=25)
@given(setting=conv_settings(), seed=seeds)
def test_the_transpose_is_the_adjoint(setting: ConvSetting, seed: int) -> None:
    """``<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>`` whenever the transpose maps ``y``
    back to ``x``'s size: the transpose is conv2d's input gradient."""
    x, w, _ = _arrays(setting, seed, transpose=False)
    y = np.random.default_rng(seed + 2).normal(size=_conv(setting, x, w).shape)
    extra = tuple(setting.x_shape[2 + a] - (y.shape[2 + a] - 1) * setting.stride[a]
                  + 2 * setting.padding[a] - setting.kernel[a] for a in (0, 1))
    back = conv_transpose2d(y, w, stride=setting.stride, padding=setting.padding, output_padding=extra)
    assert back.shape == x.shape
    left = float(np.sum(_conv(setting, x, w).data * y))
    assert left == pytest.approx(float(np.sum(x * back.data)), rel=1e-10, abs=1e-10)


def test_float32_stays_float32() -> None:
    x = np.ones((1, 2, 5, 5), dtype=np.float32)
    w = np.ones((3, 2, 3, 3), dtype=np.float32)
    assert conv2d(x, w, stride=2).dtype == np.float32
    assert conv_transpose2d(x, np.ones((2, 3, 3, 3), dtype=np.float32), stride=2).dtype == np.float32


def test_pytorch_sizes() -> None:
    x = np.zeros((2, 1, 32, 32))
    assert conv2d(x, np.zeros((16, 1, 8, 8)), stride=2, padding=3).shape == (2, 16, 16, 16)
    maps = np.zeros((2, 16, 16, 16))
    assert conv_transpose2d(maps, np.zeros((16, 1, 8, 8)), stride=2, padding=3).shape == (2, 1, 32, 32)
    assert conv_transpose2d(maps, np.zeros((16, 1, 3, 3)), stride=2, padding=1, output_padding=1).shape \
        == (2, 1, 32, 32)
    assert conv2d(np.zeros((1, 1, 7, 6)), np.zeros((1, 1, 3, 2)), stride=(2, 3), padding=(1, 0)).shape \
        == (1, 1, 4, 2)


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d(np.zeros((1, 2, 5, 5)), np.zeros((3, 1, 3, 3))), "expects C_in = 1"),
    (lambda: conv2d(np.zeros((2, 5, 5)), np.zeros((3, 2, 3, 3))), "x must be 4-D"),
    (lambda: conv2d(np.zeros((1, 1, 5, 5)), np.zeros((3, 3, 3))), "w must be 4-D"),
    (lambda: conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3))), "larger than the padded input"),
    (lambda: conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=0), "stride must be >= 1"),
    (lambda: conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=-1), "padding must be >= 0"),
    (lambda: conv2d(np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), b=np.zeros(3)),
     r"b must have shape \(2,\)"),
    (lambda: conv_transpose2d(np.zeros((1, 2, 5, 5)), np.zeros((3, 1, 3, 3))), "expects C_in = 3"),
    (lambda: conv_transpose2d(np.zeros((1, 1, 1, 1)), np.zeros((1, 1, 2, 2)), padding=1), "is empty"),
    (lambda: conv_transpose2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), stride=2, output_padding=2),
     "smaller than the stride"),
])
def test_bad_arguments_raise_clear_errors(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("stride", [1.5, True, (1, 2, 3), "2"])
def test_stride_must_be_ints(stride) -> None:
    with pytest.raises(TypeError, match="stride must be an int or a pair of ints"):
        conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=stride)


def test_explain_walks_a_conv_net() -> None:
    """The input gradient of a conv2d is a transposed convolution, and of a transpose a conv2d:
    ``explain`` says so, from the ops' own derivative text."""
    rng = np.random.default_rng(0)
    X = Tensor(rng.uniform(size=(2, 1, 6, 6)), name="X")
    W1 = Tensor(rng.normal(size=(3, 1, 3, 3)), name="W1")
    W2 = Tensor(rng.normal(size=(3, 1, 3, 3)), name="W2")
    H = conv2d(X, W1, stride=2, padding=1).sigmoid().named("H")
    Xhat = conv_transpose2d(H, W2, stride=2, padding=1, output_padding=1).named("Xhat")
    J = ((Xhat - X).square().sum() / 2).named("J")
    derivation = tinysae.explain(J, W1)
    text = str(derivation)
    assert "conv2d(g, W2, stride=2, padding=1)" in text  # back through the decoder's transpose
    assert "X[n, c, s h + i, s w + j]" in text            # the encoder's weight gradient
    J.backward()
    np.testing.assert_allclose(derivation.gradient, W1.grad, rtol=1e-12)
