r"""2-D convolution and its transpose: two ops of the table, in PyTorch's layout.

Layout (PyTorch's ``torch.nn.functional.conv2d`` / ``conv_transpose2d``):

* ``x`` is ``(N, C_in, H, W)``: a batch of ``N`` images with ``C_in`` channels;
* ``w`` is ``(C_out, C_in, kH, kW)`` for :func:`conv2d` and ``(C_in, C_out, kH, kW)`` for
  :func:`conv_transpose2d`;
* ``stride`` ``s`` and ``padding`` ``p`` are an int or a pair ``(rows, columns)``.

**conv2d** (a cross-correlation, as in every deep-learning library): with ``x`` padded by ``p``
zeros on each side,

.. math:: Y_{n,o,h,w} = \sum_{c,i,j} W_{o,c,i,j}\; X^{\mathrm{pad}}_{n,c,\,s h + i,\,s w + j},
          \qquad H_{\mathrm{out}} = \left\lfloor \frac{H + 2p - k_H}{s} \right\rfloor + 1 .

It is computed by *im2col*: the windows :math:`X^{\mathrm{pad}}_{n,c,\,sh+i,\,sw+j}` are viewed
as an array ``(N, C_in, H_out, W_out, kH, kW)`` (:func:`windows`) and contracted with ``W`` over
``(c, i, j)``, one matrix product.

Its two vector-Jacobian products, for an upstream gradient ``G (N, C_out, H_out, W_out)``:

* :math:`\partial/\partial W`: :math:`\sum_{n,h,w} G_{n,o,h,w}\,X^{\mathrm{pad}}_{n,c,\,sh+i,\,sw+j}`,
  the same windows contracted with ``G`` instead of ``W``;
* :math:`\partial/\partial X`: every output entry sends :math:`G_{n,o,h,w} W_{o,c,i,j}` back to
  the input entry it read, :math:`(sh+i, sw+j)`, summed (:func:`scatter`), then the padding is
  cut off. That map, from outputs back to inputs, is the **transposed convolution**.

**conv_transpose2d** is that adjoint map used as a layer (an "upsampling" convolution): each
input pixel paints a ``kH x kW`` copy of the kernel, scaled, at ``s`` times its position, and
``p`` rows and columns are cut from each border:

.. math:: H_{\mathrm{out}} = (H - 1)\,s - 2p + k_H + \mathrm{output\_padding}.

So the two ops are each other's adjoints: conv_transpose2d's forward pass is conv2d's input
gradient, and its input gradient is a conv2d. Both are written from the same three helpers,
:func:`windows`, :func:`scatter` and :func:`contract`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinysae.autograd.ops import Arrays, defop
from tinysae.autograd.tensor import Tensor, apply

Pair = tuple[int, int]


# ---- the three helpers ----------------------------------------------------------------------------
def windows(x: np.ndarray, kernel: Pair, stride: Pair, out: Pair) -> np.ndarray:
    """The ``kH x kW`` windows of a (padded) ``x (N, C, H, W)`` read by an output of size ``out``,
    as a view ``(N, C, H_out, W_out, kH, kW)``: entry ``[n, c, h, w, i, j]`` is
    ``x[n, c, s_h h + i, s_w w + j]``."""
    view = sliding_window_view(x, kernel, axis=(2, 3))
    return view[:, :, : stride[0] * (out[0] - 1) + 1 : stride[0], : stride[1] * (out[1] - 1) + 1 : stride[1]]


def contract(a: np.ndarray, b: np.ndarray, axes: tuple[tuple[int, ...], tuple[int, ...]]) -> np.ndarray:
    """``np.tensordot(a, b, axes)``: the one matrix product of each convolution (im2col)."""
    return np.tensordot(a, b, axes=axes)


def scatter(cols: np.ndarray, size: Pair, stride: Pair) -> np.ndarray:
    """The adjoint of :func:`windows`: ``cols (N, C, H_in, W_in, kH, kW)`` added into a zero
    canvas ``(N, C, *size)``, entry ``[n, c, h, w, i, j]`` at ``(s_h h + i, s_w w + j)``."""
    n, c, rows, columns, kh, kw = cols.shape
    canvas = np.zeros((n, c, *size), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            canvas[:, :, i : i + stride[0] * rows : stride[0], j : j + stride[1] * columns : stride[1]] \
                += cols[:, :, :, :, i, j]
    return canvas


def _pad(x: np.ndarray, padding: Pair) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))


def _crop(canvas: np.ndarray, padding: Pair, size: Pair) -> np.ndarray:
    return canvas[:, :, padding[0] : padding[0] + size[0], padding[1] : padding[1] + size[1]]


def conv2d_size(size: Pair, kernel: Pair, stride: Pair, padding: Pair) -> Pair:
    """PyTorch's output size of conv2d: ``floor((H + 2p - k) / s) + 1`` per axis."""
    rows, columns = ((size[a] + 2 * padding[a] - kernel[a]) // stride[a] + 1 for a in (0, 1))
    return rows, columns


def conv_transpose2d_size(size: Pair, kernel: Pair, stride: Pair, padding: Pair,
                          output_padding: Pair) -> Pair:
    """PyTorch's output size of conv_transpose2d: ``(H - 1) s - 2p + k + output_padding`` per axis."""
    rows, columns = ((size[a] - 1) * stride[a] - 2 * padding[a] + kernel[a] + output_padding[a]
                     for a in (0, 1))
    return rows, columns


# ---- conv2d -----------------------------------------------------------------------------------------
def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``Y (N, C_out, H_out, W_out)``: the windows of the padded ``x`` contracted with ``w``."""
    kernel = w.shape[2:]
    out = conv2d_size(x.shape[2:], kernel, stride, padding)
    cols = windows(_pad(x, padding), kernel, stride, out)        # (N, C_in, H_out, W_out, kH, kW)
    return contract(cols, w, ((1, 4, 5), (1, 2, 3))).transpose(0, 3, 1, 2)


def conv2d_input_grad(g: np.ndarray, w: np.ndarray, size: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    """``dX (N, C_in, *size)`` for upstream ``g (N, C_out, H_out, W_out)``: each ``g`` entry sent
    back through ``w`` to the window it read, summed, the padding cut off."""
    cols = contract(g, w, ((1,), (0,))).transpose(0, 3, 1, 2, 4, 5)  # (N, C_in, H_out, W_out, kH, kW)
    padded = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
    return _crop(scatter(cols, padded, stride), padding, size)


def conv2d_weight_grad(g: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    """``dW (C_out, C_in, kH, kW)``: the windows of the padded ``x`` contracted with ``g`` over
    the batch and the output positions."""
    cols = windows(_pad(x, padding), kernel, stride, g.shape[2:])
    return contract(g, cols, ((0, 2, 3), (0, 2, 3)))


def _conv2d_vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
    image, w = x
    return (conv2d_input_grad(g, w, image.shape[2:], k["stride"], k["padding"]),
            conv2d_weight_grad(g, image, w.shape[2:], k["stride"], k["padding"]))


defop("conv2d", conv2d_forward, _conv2d_vjp,
      ("conv_transpose2d(<g>, <b>, stride=<stride>, padding=<padding>)",
       "sum over n, h, w of <g>[n, o, h, w] * <a>[n, c, s h + i, s w + j] (padded; stride=<stride>)"),
      (r"\operatorname{conv\_transpose2d}(<g>, <b>)",
       r"\textstyle\sum_{n,h,w} \big(<g>\big)_{n,o,h,w}\, <a>_{n,c,\,sh+i,\,sw+j}"),
      elementwise=False, expr="conv2d(<a>, <b>)")


# ---- conv_transpose2d -------------------------------------------------------------------------------
def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair,
                             output_padding: Pair) -> np.ndarray:
    """``Y (N, C_out, H_out, W_out)``: every input pixel paints ``w`` scaled at ``s`` times its
    position on a canvas, whose ``p`` border rows and columns are cut off."""
    kernel = w.shape[2:]
    out = conv_transpose2d_size(x.shape[2:], kernel, stride, padding, output_padding)
    cols = contract(x, w, ((1,), (0,))).transpose(0, 3, 1, 2, 4, 5)  # (N, C_out, H, W, kH, kW)
    canvas = (out[0] + 2 * padding[0], out[1] + 2 * padding[1])
    return _crop(scatter(cols, canvas, stride), padding, out)


def _conv_transpose2d_vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
    """``dX`` is conv2d of ``g`` (padded back to the canvas) with ``w``; ``dW`` contracts ``x``
    with the canvas gradient's windows."""
    image, w = x
    cols = windows(_pad(g, k["padding"]), w.shape[2:], k["stride"], image.shape[2:])  # the canvas's windows
    dx = contract(cols, w, ((1, 4, 5), (1, 2, 3))).transpose(0, 3, 1, 2)  # (N, C_in, H, W)
    dw = contract(image, cols, ((0, 2, 3), (0, 2, 3)))                       # (C_in, C_out, kH, kW)
    return dx, dw


defop("conv_transpose2d", conv_transpose2d_forward, _conv_transpose2d_vjp,
      ("conv2d(<g>, <b>, stride=<stride>, padding=<padding>)",
       "sum over n, h, w of <a>[n, c, h, w] * <g>[n, o, s h + i, s w + j] (padded; stride=<stride>)"),
      (r"\operatorname{conv2d}(<g>, <b>)",
       r"\textstyle\sum_{n,h,w} <a>_{n,c,h,w}\, \big(<g>\big)_{n,o,\,sh+i,\,sw+j}"),
      elementwise=False, expr="conv_transpose2d(<a>, <b>)")


# ---- the functions, with their checks ----------------------------------------------------------------
def _pair(name: str, value: object, minimum: int) -> Pair:
    """``value`` (an int or a pair of ints, each ``>= minimum``) as a pair, else a clear error."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def _as_tensor(name: str, value: object, ndim: int) -> Tensor:
    tensor = value if isinstance(value, Tensor) else Tensor(value, name=name)
    if tensor.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tensor.shape}")
    return tensor


def _add_bias(y: Tensor, b: object, channels: int) -> Tensor:
    """``y + b`` with ``b (C_out,)`` added to every pixel of its channel."""
    bias = b if isinstance(b, Tensor) else Tensor(b, name="b")
    if bias.shape != (channels,):
        raise ValueError(f"b must have shape ({channels},), one bias per output channel, got {bias.shape}")
    return y + bias.reshape(1, channels, 1, 1)


def conv2d(x: object, w: object, b: object = None, stride: int | Pair = 1, padding: int | Pair = 0) -> Tensor:
    r"""2-D convolution (cross-correlation), PyTorch's ``conv2d``: ``x (N, C_in, H, W)``,
    ``w (C_out, C_in, kH, kW)``, optional bias ``b (C_out,)``; returns ``(N, C_out, H_out, W_out)``
    with :math:`H_{\mathrm{out}} = \lfloor (H + 2p - k_H)/s \rfloor + 1`. The formula and its
    gradients are in :mod:`tinysae.autograd.conv`."""
    x, w = _as_tensor("x", x, 4), _as_tensor("w", w, 4)
    stride, padding = _pair("stride", stride, 1), _pair("padding", padding, 0)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d: x has {x.shape[1]} channels but w (C_out, C_in, kH, kW) = {w.shape} "
                         f"expects C_in = {w.shape[1]}")
    kernel = w.shape[2:]
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(f"conv2d: the kernel {kernel} is larger than the padded input {padded}")
    y = apply("conv2d", x, w, stride=stride, padding=padding)
    return y if b is None else _add_bias(y, b, w.shape[0])


def conv_transpose2d(x: object, w: object, b: object = None, stride: int | Pair = 1, padding: int | Pair = 0,
                     output_padding: int | Pair = 0) -> Tensor:
    r"""Transposed 2-D convolution, PyTorch's ``conv_transpose2d``: ``x (N, C_in, H, W)``,
    ``w (C_in, C_out, kH, kW)``, optional ``b (C_out,)``; returns ``(N, C_out, H_out, W_out)`` with
    :math:`H_{\mathrm{out}} = (H-1)s - 2p + k_H + \mathrm{output\_padding}`
    (``output_padding < stride``). It is the adjoint of :func:`conv2d` (its input gradient)."""
    x, w = _as_tensor("x", x, 4), _as_tensor("w", w, 4)
    stride, padding = _pair("stride", stride, 1), _pair("padding", padding, 0)
    output_padding = _pair("output_padding", output_padding, 0)
    if any(output_padding[a] >= stride[a] for a in (0, 1)):
        raise ValueError(f"output_padding {output_padding} must be smaller than the stride {stride}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"conv_transpose2d: x has {x.shape[1]} channels but w (C_in, C_out, kH, kW) = "
                         f"{w.shape} expects C_in = {w.shape[0]}")
    out = conv_transpose2d_size(x.shape[2:], w.shape[2:], stride, padding, output_padding)
    if out[0] < 1 or out[1] < 1:
        raise ValueError(f"conv_transpose2d: the output size {out} is empty (padding {padding} too large)")
    y = apply("conv_transpose2d", x, w, stride=stride, padding=padding, output_padding=output_padding)
    return y if b is None else _add_bias(y, b, w.shape[1])
