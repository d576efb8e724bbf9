"""The checker of lesson 6 (tinysae.exercises.conv): right answers pass, every known mistake is
named by its hint, the feedback never shows the reference's code or formula, and the variants the
mistakes are built on agree with the engine's conv2d gradient."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import seeds

from tinysae.autograd import Tensor, conv2d, numerical_gradient
from tinysae.autograd import conv as engine_conv
from tinysae.exercises import (
    CONV_WEIGHT_GRAD_MISTAKES,
    FAIL_MARK,
    PASS_MARK,
    Feedback,
    check_conv2d_weight_grad,
)
from tinysae.exercises import conv as conv_exercise

HINTS = {mistake.key: mistake.hint for mistake in CONV_WEIGHT_GRAD_MISTAKES}

# ----------------------------------------------------------------------------- student solutions
# Written the way a student would, not by calling tinysae.


def student_by_offsets(g, x, kernel_size, stride, padding):
    """One kernel offset (i, j) at a time: the pixels it met at every output position."""
    kh, kw = kernel_size
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rows, columns = g.shape[2:]
    dW = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for i in range(kh):
        for j in range(kw):
            seen = xp[:, :, i : i + stride * rows : stride, j : j + stride * columns : stride]
            dW[:, :, i, j] = np.einsum("nohw,nchw->oc", g, seen)
    return dW


def student_by_positions(g, x, kernel_size, stride, padding):
    """One output position (h, w) at a time: g there times the window the forward pass read."""
    kh, kw = kernel_size
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dW = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for h in range(g.shape[2]):
        for w in range(g.shape[3]):
            window = xp[:, :, h * stride : h * stride + kh, w * stride : w * stride + kw]
            dW += np.einsum("no,ncij->ocij", g[:, :, h, w], window)
    return dW


def engine(g, x, kernel_size, stride, padding):
    return engine_conv.conv2d_weight_grad(g, x, kernel_size, (stride, stride), (padding, padding))


@pytest.mark.parametrize("solution", [student_by_offsets, student_by_positions, engine],
                         ids=lambda f: f.__name__)
def test_correct_solutions_pass_and_say_so(solution, capsys) -> None:
    feedback = check_conv2d_weight_grad(solution)
    assert isinstance(feedback, Feedback)
    assert feedback.passed and feedback.hint is None and feedback.mistake is None
    assert feedback.errors["dW"] < 1e-12
    printed = capsys.readouterr().out
    assert printed.startswith(PASS_MARK) and FAIL_MARK not in printed


def test_the_cases_cover_what_the_brief_asks_for() -> None:
    cases = conv_exercise._conv_cases()
    kernels = [case.args[2] for case in cases]
    assert any(case.args[1].shape[0] == 1 for case in cases)                  # a batch of one
    assert (1, 1) in kernels and any(kh != kw for kh, kw in kernels)          # 1x1, non-square
    assert {case.args[3] for case in cases} == {1, 2} and {case.args[4] for case in cases} == {0, 1}
    assert any(case.args[1].shape[2] % 2 for case in cases)                   # odd sizes
    first, last = cases[0].args, cases[-1].args
    assert first[0].shape[1] != first[1].shape[1] and last[0].shape[1] == last[1].shape[1]
    assert first[3] == 1 and first[4] == 0                                    # plain first


# ----------------------------------------------------------------------------- known mistakes
# Each written as a student would make it.


def ignores_padding(g, x, kernel_size, stride, padding):  # loops only where x's own windows fit
    kh, kw = kernel_size
    dW = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for h in range((x.shape[2] - kh) // stride + 1):
        for w in range((x.shape[3] - kw) // stride + 1):
            window = x[:, :, h * stride : h * stride + kh, w * stride : w * stride + kw]
            dW += np.einsum("no,ncij->ocij", g[:, :, h, w], window)
    return dW


def ignores_padding_and_runs_off_the_edge(g, x, kernel_size, stride, padding):
    kh, kw = kernel_size
    dW = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for h in range(g.shape[2]):
        for w in range(g.shape[3]):
            window = x[:, :, h * stride : h * stride + kh, w * stride : w * stride + kw]
            dW += np.einsum("no,ncij->ocij", g[:, :, h, w], window)   # too small near the border
    return dW


def ignores_stride(g, x, kernel_size, stride, padding):
    kh, kw = kernel_size
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dW = np.zeros((g.shape[1], x.shape[1], kh, kw))
    for h in range(g.shape[2]):
        for w in range(g.shape[3]):
            dW += np.einsum("no,ncij->ocij", g[:, :, h, w], xp[:, :, h : h + kh, w : w + kw])
    return dW


def flips_the_kernel(g, x, kernel_size, stride, padding):  # a true convolution
    kh, kw = kernel_size
    dW = student_by_offsets(g, x, kernel_size, stride, padding)
    flipped = np.zeros_like(dW)
    for i in range(kh):
        for j in range(kw):
            flipped[:, :, kh - 1 - i, kw - 1 - j] = dW[:, :, i, j]
    return flipped


def averages_the_batch(g, x, kernel_size, stride, padding):
    return student_by_positions(g, x, kernel_size, stride, padding) / x.shape[0]


def swaps_the_channel_axes(g, x, kernel_size, stride, padding):
    kh, kw = kernel_size
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dW = np.zeros((x.shape[1], g.shape[1], kh, kw))
    for h in range(g.shape[2]):
        for w in range(g.shape[3]):
            window = xp[:, :, h * stride : h * stride + kh, w * stride : w * stride + kw]
            dW += np.einsum("no,ncij->coij", g[:, :, h, w], window)
    return dW


def returns_the_input_gradient(g, x, kernel_size, stride, padding):  # g sent back to the pixels
    kh, kw = kernel_size
    dx = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * padding, x.shape[3] + 2 * padding))
    for h in range(g.shape[2]):
        for w in range(g.shape[3]):
            dx[:, :, h * stride : h * stride + kh, w * stride : w * stride + kw] += \
                g[:, :, h, w].sum(axis=1)[:, None, None, None]
    return dx[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]]


MISTAKES = [
    (ignores_padding, "padding_ignored"),
    (ignores_padding_and_runs_off_the_edge, "padding_ignored"),
    (ignores_stride, "stride_ignored"),
    (flips_the_kernel, "kernel_flipped"),
    (averages_the_batch, "batch_mean"),
    (swaps_the_channel_axes, "axes_swapped"),
    (returns_the_input_gradient, "input_gradient"),
]


@pytest.mark.parametrize(("student", "key"), MISTAKES, ids=[f.__name__ for f, _ in MISTAKES])
def test_each_known_mistake_is_caught_and_named_by_its_hint(student, key, capsys) -> None:
    feedback = check_conv2d_weight_grad(student)
    printed = capsys.readouterr().out
    assert not feedback.passed and feedback.mistake == key and feedback.hint == HINTS[key]
    assert printed.startswith(FAIL_MARK) and f"hint: {HINTS[key]}" in printed


def test_every_mistake_of_the_table_is_tried_by_a_student_function() -> None:
    assert {key for _, key in MISTAKES} == set(HINTS)
    assert len(HINTS) == len(CONV_WEIGHT_GRAD_MISTAKES)  # distinct keys


@pytest.mark.parametrize("mistake", [m for m in CONV_WEIGHT_GRAD_MISTAKES if m.compute is not None],
                         ids=lambda m: m.key)
def test_each_table_variant_gets_its_own_hint(mistake) -> None:
    feedback = check_conv2d_weight_grad(mistake.compute, verbose=False)
    assert not feedback.passed and feedback.mistake == mistake.key and feedback.hint == mistake.hint


def test_mistakes_fail_where_they_first_matter() -> None:
    where = {key: check_conv2d_weight_grad(student, verbose=False).details[0]
             for student, key in MISTAKES}
    assert where["padding_ignored"].startswith("case 4 of 6") and "padding = 1" in where["padding_ignored"]
    assert where["stride_ignored"].startswith("case 3 of 6") and "stride = 2" in where["stride_ignored"]
    assert where["kernel_flipped"].startswith("case 1 of 6")


def test_swapped_axes_and_the_input_gradient_show_as_wrong_shapes() -> None:
    feedback = check_conv2d_weight_grad(swaps_the_channel_axes, verbose=False)
    assert f"{FAIL_MARK} dW has shape (3, 2, 3, 3), expected (2, 3, 3, 3)" in feedback.details
    feedback = check_conv2d_weight_grad(returns_the_input_gradient, verbose=False)
    assert f"{FAIL_MARK} dW has shape (2, 3, 6, 7), expected (2, 3, 3, 3)" in feedback.details


def test_swapped_axes_with_as_many_inputs_as_outputs_are_named_by_their_values() -> None:
    case = conv_exercise._conv_cases()[-1]          # C_in == C_out: the shapes agree
    got = swaps_the_channel_axes(*case.args)
    expected = conv_exercise._reference(*case.args)
    assert got.shape == expected.shape and not np.allclose(got, expected)
    assert conv_exercise._known_mistake(case, got, expected).key == "axes_swapped"


def test_an_unknown_error_gets_no_hint_and_the_worst_entry() -> None:
    feedback = check_conv2d_weight_grad(lambda *args: student_by_offsets(*args) * 1.01, verbose=False)
    assert not feedback.passed and feedback.mistake is None and feedback.hint is None
    assert any("worst entry" in line for line in feedback.details)


def test_an_exception_before_any_padding_gets_no_padding_hint() -> None:
    def refuses_strides(g, x, kernel_size, stride, padding):
        if stride > 1:
            raise ValueError("no strides")
        return student_by_offsets(g, x, kernel_size, stride, padding)

    feedback = check_conv2d_weight_grad(refuses_strides, verbose=False)
    assert not feedback.passed and feedback.mistake is None and feedback.hint is None
    assert any("ValueError: no strides" in line for line in feedback.details)


def test_inputs_changed_in_place_are_reported() -> None:
    def pads_in_place(g, x, kernel_size, stride, padding):
        x[...] = 0.0
        return student_by_offsets(g, x, kernel_size, stride, padding)

    feedback = check_conv2d_weight_grad(pads_in_place, verbose=False)
    assert not feedback.passed and any("changed its input x in place" in line for line in feedback.details)


# ----------------------------------------------------------------------------- no answer given away


def _code_lines(function) -> list[str]:
    source = inspect.getsource(function).split('"""')[-1]  # the body, after the docstring
    return [line.strip() for line in source.splitlines() if len(line.strip()) > 12]


def test_the_feedback_never_prints_the_references_code_or_formula(capsys) -> None:
    students = [student for student, _ in MISTAKES] + [lambda *args: None,
                                                       lambda *args: student_by_offsets(*args) + 1.0]
    for student in students:
        check_conv2d_weight_grad(student)
    # (the line of the student's own code that raised is quoted, and it is the student's)
    printed = "\n".join(line for line in capsys.readouterr().out.splitlines()
                        if "your function raised" not in line)
    assert printed.count(FAIL_MARK) >= len(students)
    code = _code_lines(engine_conv.conv2d_weight_grad) + _code_lines(engine_conv.windows)
    code += _code_lines(conv_exercise._weight_grad_variant)
    assert code and not [line for line in code if line in printed]
    for formula in ("tensordot", "einsum", "np.pad", "sliding_window", "windows(", "contract(",
                    "sum over n, h, w", "s h + i", "sh+i", "[n, o, h, w]", "X_pad", "x_pad"):
        assert formula not in printed, formula


# ----------------------------------------------------------------------------- the variants used


@st.composite
def conv_problems(draw: st.DrawFn) -> tuple:
    """``(g, x, kernel_size, stride, padding)``: batches and channels from 1, 1x1 up to 4x3
    kernels, strides 1 to 3, paddings below the kernel's smaller side."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, min(kernel) - 1))
    height = draw(st.integers(max(1, kernel[0] - 2 * padding), 7))
    width = draw(st.integers(max(1, kernel[1] - 2 * padding), 7))
    n, c_in, c_out = (draw(st.integers(1, 3)) for _ in range(3))
    rng = np.random.default_rng(draw(seeds))
    x = rng.normal(size=(n, c_in, height, width))
    out = engine_conv.conv2d_size((height, width), kernel, (stride, stride), (padding, padding))
    return rng.normal(size=(n, c_out, *out)), x, kernel, stride, padding


@settings(max_examples=40, deadline=None)
@given(conv_problems())
def test_the_variant_without_mistake_is_the_engines_weight_gradient(problem) -> None:
    g, x, kernel, stride, padding = problem
    expected = engine(*problem)
    np.testing.assert_allclose(conv_exercise._weight_grad_variant(*problem), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(student_by_positions(*problem), expected, rtol=1e-12, atol=1e-12)

    w = np.random.default_rng(0).normal(size=(g.shape[1], x.shape[1], *kernel))

    def J(weights):
        return float(np.sum(g * conv2d(Tensor(x), Tensor(weights), stride=stride, padding=padding).data))

    np.testing.assert_allclose(expected, numerical_gradient(J, w, 1e-6), rtol=1e-6, atol=1e-8)
