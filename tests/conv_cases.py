"""Convolutions for the tests: direct-loop references and a hypothesis strategy of settings.

The references follow the definitions word for word (PyTorch's layout, its output sizes), one
output entry or one painted kernel at a time, and share no code with
:mod:`tinysae.autograd.conv` (which works by windows and one matrix product).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

Pair = tuple[int, int]


def conv2d_reference(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``Y[n, o, h, w] = sum_{c,i,j} W[o, c, i, j] X_pad[n, c, s h + i, s w + j]``, by loops."""
    n, _, height, width = x.shape
    c_out, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    rows = (height + 2 * padding[0] - kh) // stride[0] + 1
    columns = (width + 2 * padding[1] - kw) // stride[1] + 1
    y = np.zeros((n, c_out, rows, columns), dtype=x.dtype)
    for h in range(rows):
        for c in range(columns):
            patch = xp[:, :, h * stride[0] : h * stride[0] + kh, c * stride[1] : c * stride[1] + kw]
            y[:, :, h, c] = np.einsum("nkij,okij->no", patch, w)
    return y


def conv_transpose2d_reference(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair,
                               output_padding: Pair = (0, 0)) -> np.ndarray:
    """Every input pixel ``x[n, c, h, w]`` paints ``x[n, c, h, w] * W[c, :, :, :]`` at
    ``(s h, s w)`` of a canvas; ``padding`` rows and columns are cut from each border."""
    n, _, height, width = x.shape
    _, c_out, kh, kw = w.shape
    rows = (height - 1) * stride[0] - 2 * padding[0] + kh + output_padding[0]
    columns = (width - 1) * stride[1] - 2 * padding[1] + kw + output_padding[1]
    canvas = np.zeros((n, c_out, rows + 2 * padding[0], columns + 2 * padding[1]), dtype=x.dtype)
    for h in range(height):
        for c in range(width):
            painted = np.einsum("nk,koij->noij", x[:, :, h, c], w)
            canvas[:, :, h * stride[0] : h * stride[0] + kh, c * stride[1] : c * stride[1] + kw] += painted
    return canvas[:, :, padding[0] : padding[0] + rows, padding[1] : padding[1] + columns]


@dataclass(frozen=True)
class ConvSetting:
    """One convolution's shapes and settings: ``x (n, c_in, height, width)``, a ``kernel`` of
    ``c_out`` channels, ``stride``, ``padding`` and (for the transpose) ``output_padding``."""

    n: int
    c_in: int
    c_out: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c_in, self.height, self.width)

    @property
    def conv_w_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in, *self.kernel)

    @property
    def transpose_w_shape(self) -> tuple[int, int, int, int]:
        return (self.c_in, self.c_out, *self.kernel)


@st.composite
def conv_settings(draw: st.DrawFn, max_side: int = 7, max_channels: int = 3) -> ConvSetting:
    """Shapes and settings valid for both ops: batches from 1, 1x1 up to 4x4 kernels (odd and
    even, square or not), strides 1 to 3, paddings up to the kernel's size minus one, odd and
    even image sizes; ``output_padding`` below the stride."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = tuple(draw(st.integers(0, k - 1)) for k in kernel)
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = tuple(draw(st.integers(0, s - 1)) for s in stride)
    sides = []
    for a in (0, 1):
        # conv2d needs H + 2p >= k; the transpose needs (H - 1) s - 2p + k + output_padding >= 1
        short = 2 * padding[a] + 1 - kernel[a] - output_padding[a]
        smallest = max(1, kernel[a] - 2 * padding[a], 1 + -(-short // stride[a]))
        sides.append(draw(st.integers(smallest, max(smallest, max_side))))
    return ConvSetting(draw(st.integers(1, 3)), draw(st.integers(1, max_channels)),
                       draw(st.integers(1, max_channels)), sides[0], sides[1], kernel, stride,
                       padding, output_padding)
