r"""The searching checker of lesson 6's exercise, conv2d's weight gradient, with its table of known
mistakes.

:func:`check_conv2d_weight_grad` checks ``conv2d_weight_grad(g, x, kernel_size, stride, padding)
-> dW``: for images ``x (N, C_in, H, W)``, the upstream gradient ``g (N, C_out, H_out, W_out)`` of
``y = conv2d(x, w, stride=stride, padding=padding)`` (:mod:`tinysae.autograd.conv`, PyTorch's
layout), ``kernel_size = (kH, kW)`` and int ``stride`` and ``padding``, the gradient of the sum
of ``g`` times ``y`` with respect to the weights ``w``, of shape ``(C_out, C_in, kH, kW)``,
compared with the engine's own :func:`tinysae.autograd.conv.conv2d_weight_grad`.

It is run by :func:`tinysae.exercises.search.run_exercise` in three checks, so that an answer that
only goes wrong with a stride or with padding is told so: stride 1 without padding, then strides 2
and 3 without padding, then padding 1 or 2 with any stride. The inputs are small integer images
and gradients with batches and channels from 1, kernels from 1 x 1 to 3 x 3 (non-square too) and
sizes where the last rows or columns are never read; hypothesis shrinks a failing one to the
smallest it finds. Known mistakes that coincide on a tiny input are told apart on fixed inputs
(the exercise's ``probes``); the answer is parsed and judged by :mod:`tinysae.exercises.arrays`.
The input's gradient is recognised by its shape (``classify``), and windows read from the unpadded
image that run off its edge, raising on padded inputs, by the answer being right on the image padded
beforehand (``explain_error``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tinysae.autograd.conv import conv2d_size, conv2d_weight_grad
from tinysae.exercises.arrays import integer_arrays, judge_arrays, parse_arrays, show_arrays
from tinysae.exercises.feedback import Feedback, Mistake
from tinysae.exercises.search import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIMEOUT,
    AnswerOn,
    Check,
    Exercise,
    run_exercise,
)

__all__ = ["CONV_WEIGHT_GRAD_MISTAKES", "check_conv2d_weight_grad"]

#: The argument names of the exercise, in order.
ARGUMENTS = ("g", "x", "kernel_size", "stride", "padding")


def _weight_grad_variant(g: np.ndarray, x: np.ndarray, kernel_size: tuple[int, int], stride: int,
                         padding: int, mistake: str | None = None) -> np.ndarray:
    """``dW (C_out, C_in, kH, kW)`` one kernel offset at a time (not the engine's windows), with
    one known ``mistake`` made on purpose (``None``: the right answer)."""
    kh, kw = kernel_size
    s = 1 if mistake == "stride_ignored" else stride
    p = 0 if mistake == "padding_ignored" else padding
    rows, columns = g.shape[2:]
    if mistake == "padding_ignored":  # only the positions whose window fits in x itself
        rows = min(rows, (x.shape[2] - kh) // s + 1)
        columns = min(columns, (x.shape[3] - kw) // s + 1)
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dW = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for i in range(kh):
        for j in range(kw):
            seen = padded[:, :, i : i + s * (rows - 1) + 1 : s, j : j + s * (columns - 1) + 1 : s]
            dW[:, :, i, j] = np.einsum("nohw,nchw->oc", g[:, :, :rows, :columns], seen)
    if mistake == "kernel_flipped":
        dW = dW[:, :, ::-1, ::-1]
    elif mistake == "batch_mean":
        dW = dW / x.shape[0]
    elif mistake == "axes_swapped":
        dW = dW.transpose(1, 0, 2, 3)
    return dW


def _conv_mistake(key: str, hint: str) -> Mistake:
    return Mistake(key, hint, lambda g, x, kernel_size, stride, padding:
                   _weight_grad_variant(g, x, kernel_size, stride, padding, key))


#: The hint when the answer is shaped like ``x``: the input's gradient, not the weights'.
INPUT_GRADIENT_HINT = (
    "your result is shaped like the images x, not like the weights (on most inputs the two shapes "
    "differ): that is what the gradient with respect to the input looks like. The exercise asks for "
    "the gradient with respect to the weights: one entry per weight, so the weights' own shape, each "
    "entry adding up what that weight met over the whole batch and every output position")

CONV_WEIGHT_GRAD_MISTAKES = [
    _conv_mistake(
        "padding_ignored", "right without padding, wrong with it: conv2d surrounds each image with "
        "rows and columns of zeros before it reads its windows, and the positions of g count the "
        "windows of that padded image, so each entry of g belongs with a window of the padded image "
        "(a window of the image itself is shifted, and near the border it runs off the edge)"),
    _conv_mistake(
        "stride_ignored", "right with stride 1, wrong with a larger stride: with a stride, "
        "neighbouring output positions read windows that many pixels apart, not one, so each entry "
        "of g must meet the window the forward pass read at that position"),
    _conv_mistake(
        "kernel_flipped", "your kernel is flipped (upside down and left to right): that is a true "
        "convolution, but conv2d, like every deep-learning library's, is a cross-correlation: a "
        "weight meets the pixel at its own offset from the window's corner, and so does its "
        "gradient, with no flip anywhere"),
    _conv_mistake(
        "batch_mean", "you averaged over the batch: every image of the batch uses the same weights, "
        "and J adds up all of them, so the weight gradient adds up the images' contributions (a sum, "
        "not a mean)"),
    _conv_mistake(
        "axes_swapped", "the values are right but the input and output channels are exchanged: the "
        "gradient has the weights' own layout, output channel first, like w in conv2d"),
    Mistake("input_gradient", INPUT_GRADIENT_HINT),  # recognised by its shape (needs no w)
]
_PADDING_IGNORED, _INPUT_GRADIENT = CONV_WEIGHT_GRAD_MISTAKES[0], CONV_WEIGHT_GRAD_MISTAKES[-1]


@st.composite
def _conv_inputs(draw: st.DrawFn, strides: tuple[int, ...], paddings: tuple[int, ...]) -> tuple:
    """``(g, x, kernel_size, stride, padding)`` with the stride from ``strides`` and the padding
    from ``paddings``: batches and channels of 1 or 2, kernels from 1 x 1 to 3 x 3, images from the
    smallest the kernel fits in up to two pixels more, small integers in ``x`` and ``g``."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride, padding = draw(st.sampled_from(strides)), draw(st.sampled_from(paddings))
    size = tuple(draw(st.integers(max(1, k - 2 * padding), max(1, k - 2 * padding) + 2)) for k in kernel)
    n, c_in, c_out = (draw(st.integers(1, 2)) for _ in range(3))
    out = conv2d_size(size, kernel, (stride, stride), (padding, padding))
    g, x = draw(integer_arrays((n, c_out, *out))), draw(integer_arrays((n, c_in, *size)))
    return g, x, kernel, stride, padding


def _conv_probes() -> list[tuple]:
    """Fixed problems where the known mistakes all differ: no padding or stride first (with
    C_in != C_out and a batch of 3, so a swap or a mean shows), then stride 2 and padding 1 with
    non-square kernels."""
    rng = np.random.default_rng(10)
    probes = []
    for n, c_in, c_out, height, width, kernel, stride, padding in (
            (3, 3, 2, 6, 7, (3, 3), 1, 0), (2, 3, 2, 9, 7, (2, 3), 2, 1), (4, 2, 2, 8, 9, (3, 2), 2, 1)):
        out = conv2d_size((height, width), kernel, (stride, stride), (padding, padding))
        probes.append((rng.normal(size=(n, c_out, *out)), rng.normal(size=(n, c_in, height, width)),
                       kernel, stride, padding))
    return probes


def _reference(g: np.ndarray, x: np.ndarray, kernel_size: tuple[int, int], stride: int,
               padding: int) -> tuple[np.ndarray]:
    return (conv2d_weight_grad(g, x, kernel_size, (stride, stride), (padding, padding)),)


def _weight_shape(args: tuple) -> tuple[int, int, int, int]:
    g, x, kernel_size = args[:3]
    return (g.shape[1], x.shape[1], *kernel_size)


def _parse_dW(value: object, args: tuple) -> tuple[np.ndarray, ...]:
    """The student's ``dW`` of the weights' shape, or of one of the known mistakes' shapes (the
    images' shape, or the channels exchanged)."""
    c_out, c_in, kh, kw = expected = _weight_shape(args)
    known = (args[1].shape, (c_in, c_out, kh, kw))
    return parse_arrays(value, ("dW",), (expected,), allowed=lambda index, shape: shape in known)


_PROBES = _conv_probes()
_JUDGE_DW = judge_arrays(("dW",))


def _input_gradient(args: tuple, got: Any, answer_on: AnswerOn) -> Mistake | None:
    """The input's gradient, recognised by the images' shape: ``dW`` shaped like ``x`` at ``args``,
    where the weights have another shape, or (where the two shapes agree) also at the first
    probe, where they differ; None otherwise (the mistakes' outputs decide)."""
    if got[0].shape != args[1].shape:
        return None
    if got[0].shape != _weight_shape(args):
        return _INPUT_GRADIENT
    answer = answer_on(_PROBES[0])
    return _INPUT_GRADIENT if answer is not None and answer[0].shape == _PROBES[0][1].shape else None


def _unpadded_windows(args: tuple, error: BaseException, answer_on: AnswerOn) -> Mistake | None:
    """The mistake ``padding_ignored`` when the student's function raised
    ``error`` on ``args = (g, x, kernel_size, stride, padding)`` with padding, and is right on
    ``x`` padded with zeros beforehand and no padding: its windows read the unpadded image and
    run off its edge. None otherwise."""
    g, x, kernel_size, stride, padding = args
    if padding == 0:
        return None
    border = (padding, padding)
    padded = (g, np.pad(x, ((0, 0), (0, 0), border, border)), kernel_size, stride, 0)
    answer = answer_on(padded)
    right = answer is not None and _JUDGE_DW(padded, answer, _reference(*args)) is None
    return _PADDING_IGNORED if right else None


_CONV = Exercise(
    name="conv2d_weight_grad",
    checks=[Check("stride 1, no padding", _conv_inputs((1,), (0,))),
            Check("stride 2 or 3, no padding", _conv_inputs((2, 3), (0,))),
            Check("padding 1 or 2, any stride", _conv_inputs((1, 2, 3), (1, 2)))],
    reference=_reference,
    parse=_parse_dW,
    judge=_JUDGE_DW,
    describe=show_arrays(ARGUMENTS),
    show=show_arrays(("dW",)),
    mistakes=CONV_WEIGHT_GRAD_MISTAKES,
    classify=_input_gradient,
    explain_error=_unpadded_windows,
    probes=_PROBES,
)


def check_conv2d_weight_grad(
    student_weight_grad: Callable[[np.ndarray, np.ndarray, tuple[int, int], int, int], np.ndarray],
    verbose: bool = True, *, max_examples: int = DEFAULT_EXAMPLES, timeout: float | None = DEFAULT_TIMEOUT,
) -> Feedback:
    """Search for images ``x (N, C_in, H, W)``, an upstream gradient ``g (N, C_out, H_out, W_out)``,
    a kernel size, a stride and a padding where ``student_weight_grad(g, x, kernel_size, stride,
    padding) -> dW (C_out, C_in, kH, kW)`` differs from the gradient with respect to the weights
    (:func:`tinysae.autograd.conv.conv2d_weight_grad`); print and return the feedback, naming a
    known mistake (:data:`CONV_WEIGHT_GRAD_MISTAKES`)."""
    return run_exercise(_CONV, student_weight_grad, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)
