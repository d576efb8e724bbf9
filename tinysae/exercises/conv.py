r"""The checker of lesson 6's exercise, conv2d's weight gradient, with its table of known mistakes.

**The exercise.** ``conv2d`` (:mod:`tinysae.autograd.conv`, PyTorch's layout) maps images
``x (N, C_in, H, W)`` and weights ``w (C_out, C_in, kH, kW)`` to ``y (N, C_out, H_out, W_out)``, a
cross-correlation over ``x`` padded with ``padding`` zeros on each side, read every ``stride``
pixels. For an upstream gradient ``g = dJ/dy`` of ``y``'s shape,
``conv2d_weight_grad(g, x, kernel_size, stride, padding) -> dW (C_out, C_in, kH, kW)`` returns
the gradient of :math:`J = \sum g \odot \mathrm{conv2d}(x, w)` with respect to ``w``;
``kernel_size`` is ``(kH, kW)``, ``stride`` and ``padding`` are ints. It is compared with the
engine's own :func:`tinysae.autograd.conv.conv2d_weight_grad`.

The cases start without padding or stride (so that an answer which only goes wrong with them is
told so) and include a batch of one image, a 1 x 1 kernel, stride 2, padding 1, odd sizes and
non-square kernels; ``C_in != C_out`` in the first (a swap of the two shows in the shape) and
``C_in == C_out`` in the last (it shows in the values).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinysae.autograd.conv import conv2d_weight_grad
from tinysae.exercises.feedback import (
    Case,
    Feedback,
    Mistake,
    _as_array,
    _changed_in_place,
    _compare_outputs,
    _matching_mistake,
    _not_a_function,
    _report,
    _run_case,
)

__all__ = ["CONV_WEIGHT_GRAD_MISTAKES", "check_conv2d_weight_grad"]

#: The argument names of the exercise, in order.
ARGUMENTS = ("g", "x", "kernel_size", "stride", "padding")


def _weight_grad_variant(g: np.ndarray, x: np.ndarray, kernel_size: tuple[int, int], stride: int,
                         padding: int, mistake: str | None = None) -> np.ndarray:
    """``dW (C_out, C_in, kH, kW)`` one kernel offset ``(i, j)`` at a time (not the engine's
    windows), with one known ``mistake`` made on purpose (``None``: the right answer)."""
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
    "your result has the shape of x: that is what the gradient with respect to the input x looks "
    "like (a transposed convolution of g). The exercise asks for the gradient with respect to the "
    "weights w: one entry per weight, so w's shape (C_out, C_in, kH, kW), each adding up what that "
    "weight touched over the whole batch and every output position")

CONV_WEIGHT_GRAD_MISTAKES = [
    _conv_mistake(
        "padding_ignored", "right without padding, wrong with it: conv2d surrounds each image with "
        "`padding` rows and columns of zeros before it reads its windows, and g's positions count the "
        "windows of that padded image, so each g entry belongs with a window of the padded x (a window "
        "of x itself is shifted, and near the border it runs off the edge)"),
    _conv_mistake(
        "stride_ignored", "right with stride 1, wrong with stride 2: with a stride, neighbouring output "
        "positions read windows `stride` pixels apart, not 1, so each g entry must meet the window the "
        "forward pass read at that position"),
    _conv_mistake(
        "kernel_flipped", "your kernel is flipped (upside down and left to right): that is a true "
        "convolution, but conv2d, like every deep-learning library's, is a cross-correlation: the "
        "weight at offset (i, j) meets the pixel at the same offset from its window's corner, and so "
        "does its gradient, with no flip anywhere"),
    _conv_mistake(
        "batch_mean", "you averaged over the batch: every image of the batch uses the same weights, "
        "and J is a sum over all of them, so the weight gradient adds up the images' contributions "
        "(a sum, not a mean)"),
    _conv_mistake(
        "axes_swapped", "the values are right but C_in and C_out are exchanged: the gradient has the "
        "weights' own layout, (C_out, C_in, kH, kW), output channel first, like w in conv2d"),
    Mistake("input_gradient", INPUT_GRADIENT_HINT),  # recognised by its shape (needs no w)
]


def _conv_cases() -> list[Case]:
    """Six problems: no padding or stride first, then a batch of one with a 1 x 1 kernel, stride 2,
    padding 1, and both with non-square kernels and odd sizes (``(H + 2p - k)`` not a multiple of
    the stride, so the last rows of the padded image are never read)."""
    rng = np.random.default_rng(10)
    settings = (  # N, C_in, C_out, H, W, kernel, stride, padding
        (2, 3, 2, 6, 7, (3, 3), 1, 0),
        (1, 2, 3, 5, 4, (1, 1), 1, 0),
        (3, 1, 2, 7, 7, (3, 3), 2, 0),
        (2, 2, 3, 6, 5, (3, 3), 1, 1),
        (2, 3, 2, 9, 7, (2, 3), 2, 1),
        (4, 2, 2, 8, 9, (3, 2), 2, 1),
    )
    cases = []
    for n, c_in, c_out, height, width, kernel, stride, padding in settings:
        x = rng.normal(size=(n, c_in, height, width))
        rows = (height + 2 * padding - kernel[0]) // stride + 1
        columns = (width + 2 * padding - kernel[1]) // stride + 1
        g = rng.normal(size=(n, c_out, rows, columns))
        description = (f"x of shape {x.shape}, g of shape {g.shape}, kernel_size = {kernel}, "
                       f"stride = {stride}, padding = {padding}")
        cases.append(Case((g, x, kernel, stride, padding), ARGUMENTS, description))
    return cases


def _reference(g: np.ndarray, x: np.ndarray, kernel_size: tuple[int, int], stride: int,
               padding: int) -> np.ndarray:
    return conv2d_weight_grad(g, x, kernel_size, (stride, stride), (padding, padding))


def _known_mistake(case: Case, got: np.ndarray, expected: np.ndarray) -> Mistake | None:
    """The known mistake the student's ``got`` equals on this case: one of the table's by value,
    or the input gradient by its shape (``x``'s)."""
    x = case.args[1]
    if got.shape == x.shape != expected.shape:
        return CONV_WEIGHT_GRAD_MISTAKES[-1]
    with np.errstate(all="ignore"):
        variants = [(mistake, mistake.compute(*case.args))
                    for mistake in CONV_WEIGHT_GRAD_MISTAKES if mistake.compute is not None]
    return _matching_mistake(got, expected, variants)


def check_conv2d_weight_grad(
    student_weight_grad: Callable[[np.ndarray, np.ndarray, tuple[int, int], int, int], np.ndarray],
    verbose: bool = True,
) -> Feedback:
    r"""Check ``student_weight_grad(g, x, kernel_size, stride, padding) -> dW`` against the engine's
    :func:`tinysae.autograd.conv.conv2d_weight_grad` on six problems.

    ``x (N, C_in, H, W)`` are the images, ``g (N, C_out, H_out, W_out)`` the upstream gradient of
    ``y = conv2d(x, w, stride=stride, padding=padding)``, ``kernel_size = (kH, kW)``; the answer is
    the gradient of :math:`\sum g \odot y` with respect to ``w``, of shape ``(C_out, C_in, kH, kW)``.
    A known mistake (:data:`CONV_WEIGHT_GRAD_MISTAKES`) is named when the answer equals it; an
    answer that is right without padding and raises on the first case with padding is told
    about the padding too.
    """
    exercise = "conv2d_weight_grad"
    if not callable(student_weight_grad):
        return _report(_not_a_function(exercise, student_weight_grad), verbose)
    worst = {"dW": 0.0}
    cases = _conv_cases()
    padded_yet = False
    for number, case in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)}: {case.description}"
        value, changed, failure = _run_case(exercise, student_weight_grad, case, where)
        padding = case.args[4]
        if failure is not None:
            if padding > 0 and not padded_yet and number > 1 and failure.hint is None:
                padding_mistake = CONV_WEIGHT_GRAD_MISTAKES[0]  # right so far, raises once padded
                failure.hint, failure.mistake = padding_mistake.hint, padding_mistake.key
            return _report(failure, verbose)
        padded_yet = padded_yet or padding > 0
        if changed:
            hint = "work on copies (np.pad makes one); never modify g or x"
            return _report(_changed_in_place(exercise, where, changed, hint), verbose)
        got, problem = _as_array(value, "dW")
        if problem is not None:
            return _report(Feedback(exercise, False, [where, problem]), verbose)
        expected = _reference(*case.args)
        lines, wrong = _compare_outputs({"dW": got}, {"dW": expected}, worst)
        if wrong:
            mistake = _known_mistake(case, got, expected)
            return _report(Feedback(exercise, False, [where, *lines],
                                    hint=mistake.hint if mistake else None,
                                    mistake=mistake.key if mistake else None, errors=worst), verbose)
    return _report(Feedback(exercise, True, errors=worst), verbose)
