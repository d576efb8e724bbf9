"""Plausible wrong answers to lesson 6's exercise (:mod:`tinysae.exercises.conv`).

Two for ``conv2d_weight_grad(g, x, kernel_size, stride, padding) -> dW (C_out, C_in, kH, kW)``,
the gradient of ``sum(g * conv2d(x, w, stride=stride, padding=padding))`` with respect to ``w``.
"""

from __future__ import annotations

import numpy as np

from . import WrongAnswer


def conv2d_weight_grad_windows_one_pixel_apart(g: np.ndarray, x: np.ndarray, kernel_size: tuple[int, int],
                                               stride: int, padding: int) -> np.ndarray:
    """Each output position's window taken at ``(h, w)`` of the padded image, not ``(stride h, stride w)``."""
    kh, kw = kernel_size
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    grad = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for h in range(g.shape[2]):
        for w in range(g.shape[3]):
            window = padded[:, :, h : h + kh, w : w + kw]
            grad += np.einsum("no,ncij->ocij", g[:, :, h, w], window)
    return grad


def conv2d_weight_grad_true_convolution(g: np.ndarray, x: np.ndarray, kernel_size: tuple[int, int],
                                        stride: int, padding: int) -> np.ndarray:
    """The textbook convolution: weight ``(i, j)`` meets the pixel at the mirrored offset."""
    kh, kw = kernel_size
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    grad = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for h in range(g.shape[2]):
        for w in range(g.shape[3]):
            window = padded[:, :, stride * h : stride * h + kh, stride * w : stride * w + kw]
            grad += np.einsum("no,ncij->ocij", g[:, :, h, w], window[:, :, ::-1, ::-1])
    return grad


WRONG_ANSWERS = [
    WrongAnswer(checker="check_conv2d_weight_grad", title="windows one pixel apart whatever the stride",
                function=conv2d_weight_grad_windows_one_pixel_apart, mistake="stride_ignored"),
    WrongAnswer(checker="check_conv2d_weight_grad", title="the kernel flipped (a true convolution)",
                function=conv2d_weight_grad_true_convolution, mistake="kernel_flipped"),
]
