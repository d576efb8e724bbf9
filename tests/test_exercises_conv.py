"""The searching checker of lesson 6 (tinysae.exercises.conv): right answers pass every check,
every known mistake and every plausible wrong answer is named at a shrunk counterexample, student
bugs are reported, the search reaches the edge cases, the feedback never shows the reference's
code or formula, and the variants the mistakes are built on agree with the engine's conv2d
gradient."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from exercise_helpers import REACH, assert_named, assert_passes, assert_wrong_answer_named
from hypothesis import find, given, settings
from hypothesis import strategies as st
from strategies import seeds
from wrong_answers.conv import WRONG_ANSWERS

from tinysae.autograd import Tensor, conv2d, numerical_gradient
from tinysae.autograd import conv as engine_conv
from tinysae.exercises import (
    CONV_WEIGHT_GRAD_MISTAKES,
    FAIL_MARK,
    check_conv2d_weight_grad,
    search,
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
def test_correct_solutions_pass_every_check_and_say_so(solution, capsys) -> None:
    feedback = check_conv2d_weight_grad(solution)
    assert_passes(feedback, capsys.readouterr().out, "conv2d_weight_grad", 3)


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
    (ignores_stride, "stride_ignored"),
    (flips_the_kernel, "kernel_flipped"),
    (averages_the_batch, "batch_mean"),
    (swaps_the_channel_axes, "axes_swapped"),
    (returns_the_input_gradient, "input_gradient"),
]


@pytest.mark.parametrize(("student", "key"), MISTAKES, ids=[f.__name__ for f, _ in MISTAKES])
def test_each_students_mistake_is_named_at_a_shrunk_counterexample(student, key, capsys) -> None:
    feedback = check_conv2d_weight_grad(student)
    printed = capsys.readouterr().out
    assert_named(feedback, key, HINTS[key])
    assert printed.startswith(FAIL_MARK) and f"hint: {HINTS[key]}" in printed


def test_every_mistake_of_the_table_is_tried_by_a_student_function() -> None:
    assert {key for _, key in MISTAKES} == set(HINTS)
    assert len(HINTS) == len(CONV_WEIGHT_GRAD_MISTAKES)  # distinct keys


@pytest.mark.parametrize("mistake", [m for m in CONV_WEIGHT_GRAD_MISTAKES if m.compute is not None],
                         ids=lambda m: m.key)
def test_each_table_variant_is_named(mistake) -> None:
    feedback = check_conv2d_weight_grad(mistake.compute, verbose=False)
    assert not feedback.passed and feedback.mistake == mistake.key and feedback.hint == mistake.hint


@pytest.mark.parametrize("answer", WRONG_ANSWERS, ids=lambda a: a.title)
def test_each_plausible_wrong_answer_fails_and_is_named(answer) -> None:
    assert_wrong_answer_named(answer)


def test_mistakes_fail_in_the_check_where_they_first_matter() -> None:
    where = {key: check_conv2d_weight_grad(student, verbose=False).details[0] for student, key in MISTAKES}
    assert where["padding_ignored"].startswith("check 3 of 3 (padding 1 or 2, any stride) failed")
    assert where["stride_ignored"].startswith("check 2 of 3 (stride 2 or 3, no padding) failed")
    assert where["kernel_flipped"].startswith("check 1 of 3 (stride 1, no padding) failed")


def test_the_smallest_counterexample_is_small_and_shows_the_stride(capsys) -> None:
    check_conv2d_weight_grad(ignores_stride)
    printed = capsys.readouterr().out.splitlines()
    assert "    stride = 2" in printed and "    padding = 0" in printed
    x = next(line for line in printed if line.startswith("    x = "))
    assert len(x) < 100 and "(shape (1, " in x


def test_swapped_axes_show_as_a_wrong_shape_that_is_still_named() -> None:
    feedback = check_conv2d_weight_grad(swaps_the_channel_axes, verbose=False)
    assert feedback.mistake == "axes_swapped" and "dW has shape" in feedback.details[0]


def answers_of(student):
    """``answer_on`` for ``student``: its parsed ``dW`` on an input."""
    return lambda args: conv_exercise._parse_dW(student(*args), args)


def test_swapped_axes_with_as_many_inputs_as_outputs_are_named_by_their_values() -> None:
    probe = conv_exercise._conv_probes()[-1]          # C_in == C_out: the shapes agree
    got = (swaps_the_channel_axes(*probe),)
    expected = conv_exercise._reference(*probe)
    assert got[0].shape == expected[0].shape and not np.allclose(got[0], expected[0])
    assert search.matching_mistake(conv_exercise._CONV, [probe], [got]).key == "axes_swapped"


def test_the_input_gradient_is_named_even_where_its_shape_is_the_weights() -> None:
    args = (np.ones((1, 1, 1, 1)), np.full((1, 1, 1, 1), 2.0), (1, 1), 1, 0)   # x shaped like w
    got = (returns_the_input_gradient(*args),)
    classify = conv_exercise._CONV.classify
    assert classify(args, got, answers_of(returns_the_input_gradient)).key == "input_gradient"
    assert classify(args, got, answers_of(flips_the_kernel)) is None  # the weights' shape at the probe


def test_an_unknown_error_gets_no_hint() -> None:
    feedback = check_conv2d_weight_grad(lambda *args: student_by_offsets(*args) * 1.01, verbose=False)
    assert not feedback.passed and feedback.status == "failed"
    assert feedback.mistake is None and feedback.hint is None


# ----------------------------------------------------------------------------- student bugs


def test_not_implemented_is_not_done_yet() -> None:
    def stub(g, x, kernel_size, stride, padding):
        raise NotImplementedError()

    feedback = check_conv2d_weight_grad(stub, verbose=False)
    assert not feedback.passed and feedback.status == "not done" and "not done yet" in feedback.hint


def test_an_exception_could_not_run_and_quotes_the_students_line() -> None:
    def refuses_strides(g, x, kernel_size, stride, padding):
        if stride > 1:
            raise ValueError("no strides")
        return student_by_offsets(g, x, kernel_size, stride, padding)

    feedback = check_conv2d_weight_grad(refuses_strides, verbose=False)
    assert feedback.status == "could not run" and feedback.mistake is None and feedback.hint is None
    assert feedback.details[0].startswith("check 2 of 3 (stride 2 or 3, no padding) could not run")
    assert 'ValueError: no strides (line' in feedback.details[0]
    assert 'raise ValueError("no strides")' in feedback.details[0]


def test_windows_that_run_off_the_unpadded_edge_could_not_run_and_get_the_padding_hint() -> None:
    feedback = check_conv2d_weight_grad(ignores_padding_and_runs_off_the_edge, verbose=False)
    assert feedback.status == "could not run"
    assert feedback.details[0].startswith("check 3 of 3 (padding 1 or 2, any stride) could not run")
    assert "ValueError" in feedback.details[0] and "  padding = 1" in feedback.details
    assert feedback.mistake == "padding_ignored" and feedback.hint == HINTS["padding_ignored"]


@pytest.mark.parametrize(("wrong_shape", "message"), [
    (lambda *args: student_by_offsets(*args)[None], "dW has shape (1, 1, 1, 1, 1), expected (1, 1, 1, 1)"),
    (lambda *args: student_by_offsets(*args).sum(axis=(2, 3)), "dW has shape (1, 1), expected (1, 1, 1, 1)"),
    (lambda *args: None, "your function returned None: did you forget `return dW`?"),
    (lambda *args: "dW", "dW is not an array of numbers"),
], ids=["extra_axis", "kernel_summed", "none", "text"])
def test_a_wrong_shape_could_not_run(wrong_shape, message) -> None:
    feedback = check_conv2d_weight_grad(wrong_shape, verbose=False)
    assert not feedback.passed and feedback.status == "could not run"
    assert message in feedback.details[0]


def test_inputs_changed_in_place_are_reported() -> None:
    def pads_in_place(g, x, kernel_size, stride, padding):
        x[...] = 0.0
        return student_by_offsets(g, x, kernel_size, stride, padding)

    feedback = check_conv2d_weight_grad(pads_in_place, verbose=False)
    assert not feedback.passed and "changed one of its inputs in place" in feedback.details[0]


# ----------------------------------------------------------------------------- the search


@pytest.mark.parametrize(("check", "condition"), [
    (0, lambda a: a[1].shape == (1, 1, 1, 1) and a[2] == (1, 1)),
    (0, lambda a: a[2] == (3, 2) and a[0].shape[2:] == (1, 1)),
    (1, lambda a: a[3] == 3 and a[2] == (1, 3)),
    (1, lambda a: a[3] == 2 and (a[1].shape[2] - a[2][0]) % 2 == 1),
    (2, lambda a: a[4] == 2 and a[2] == (1, 1) and a[3] == 3),
    (2, lambda a: a[1].shape[0] == 2 and a[1].shape[1] == 1 and a[0].shape[1] == 2),
], ids=["all_ones", "non_square", "stride_3", "unread_rows", "padding_2", "batch_and_channels"])
def test_the_search_reaches_the_edge_cases(check, condition) -> None:
    assert condition(find(conv_exercise._CONV.checks[check].strategy, condition, settings=REACH))


def test_each_check_keeps_its_own_stride_and_padding() -> None:
    for check, strides, paddings in ((0, {1}, {0}), (1, {2, 3}, {0}), (2, {1, 2, 3}, {1, 2})):
        strategy = conv_exercise._CONV.checks[check].strategy
        for stride in strides:
            for padding in paddings:
                found = find(strategy, lambda a, s=stride, p=padding: a[3] == s and a[4] == p, settings=REACH)
                assert (found[3], found[4]) == (stride, padding)


# ----------------------------------------------------------------------------- no answer given away


def _code_lines(function) -> list[str]:
    source = inspect.getsource(function).split('"""')[-1]  # the body, after the docstring
    return [line.strip() for line in source.splitlines() if len(line.strip()) > 12]


def test_the_feedback_never_prints_the_references_code_or_formula(capsys) -> None:
    students = [student for student, _ in MISTAKES] + [answer.function for answer in WRONG_ANSWERS]
    students += [lambda *args: None, lambda *args: student_by_offsets(*args) + 1.0]
    for student in students:
        check_conv2d_weight_grad(student)
    printed = capsys.readouterr().out
    assert printed.count(FAIL_MARK) == len(students)
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
