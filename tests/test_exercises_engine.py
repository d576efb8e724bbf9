"""The searching checkers of the engine's exercises (``check_matmul_vjp``, ``check_topological_order``,
``check_unbroadcast``) and of the kernel exercise (``check_rho_hat_kernel``), and through them the
search every checker runs on (:mod:`tinysae.exercises.search`), tested through the public API only:
the checkers, the :class:`~tinysae.exercises.Feedback` they return and print, the mistake tables and
:class:`~tinysae.exercises.ExerciseNotPassed`.

Right answers pass; every known mistake is named at a shrunk counterexample, and no mistake is
right on a generic input; "not done", a student's exception, ``None`` returned, an answer of the
wrong kind, a non-callable and an endless loop are reported, and a wrong shape fails showing both
shapes; a bug on one edge (a length-1 axis of a matrix, an entry 0) is found and shrunk to it;
nbgrader raises; the kernel checker tells a serial, a prange-less or a plain Python kernel from a
parallel one; answers that change from call to call (in the kernel's race probe, on hypothesis's
replay, on the checker's rerun) are said to. Those answers are made to change deterministically: by
a counter, a record of the inputs already seen, or whether hypothesis is on the call stack.
"""

from __future__ import annotations

import ast
import faulthandler
import itertools
import os
import re
import traceback
from collections.abc import Callable

import hypothesis
import numba
import numpy as np
import pytest
from exercise_helpers import assert_named, assert_passes
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit
from strategies import seeds

from tinysae.autograd import Tensor, topological_order, unbroadcast
from tinysae.exercises import (
    FAIL_MARK,
    MATMUL_MISTAKES,
    NOT_DONE_MARK,
    RHO_HAT_MISTAKES,
    TOPOLOGICAL_MISTAKES,
    UNBROADCAST_MISTAKES,
    ExerciseNotPassed,
    Feedback,
    Mistake,
    check_matmul_vjp,
    check_rho_hat_kernel,
    check_topological_order,
    check_unbroadcast,
)

# ----------------------------------------------------------------------------- student solutions
# Written the way a student would, not by calling tinysae.


def student_matmul_vjp(g: np.ndarray, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``C = A @ B``, ``g = dJ/dC (m, k)``: ``dA = g B^T (m, n)``, ``dB = A^T g (n, k)``."""
    return g @ B.T, A.T @ g


def student_topological_order(root: Tensor) -> list[Tensor]:
    """Depth first with a visited set, each node appended after its parents."""
    order: list[Tensor] = []
    visited: set[int] = set()

    def visit(node: Tensor) -> None:
        if id(node) in visited:
            return
        visited.add(id(node))
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


def student_unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over its new leading axes, then over the axes where ``shape`` has length 1."""
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    return grad.sum(axis=tuple(axis for axis, size in enumerate(shape) if size == 1), keepdims=True)


@numba.njit(parallel=True)
def student_kernel(Z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Z2 (m, k)``: ``H (m, k)`` the sigmoid of every entry and ``rho_hat (k,)`` each column's mean
    of ``H``, one column per ``prange`` iteration (no two iterations write the same entry)."""
    m, k = Z2.shape
    H = np.empty_like(Z2)
    rho_hat = np.empty(k)
    for j in numba.prange(k):
        total = 0.0
        for i in range(m):
            H[i, j] = 1.0 / (1.0 + np.exp(-Z2[i, j]))
            total += H[i, j]
        rho_hat[j] = total / m
    return H, rho_hat


#: The same right kernel compiled without ``parallel=True``: its prange runs as a plain range.
serial_kernel = numba.njit(student_kernel.py_func)


@numba.njit(parallel=True)
def kernel_without_prange(Z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right, and compiled with ``parallel=True``, but whole-array expressions with no prange loop."""
    H = 1.0 / (1.0 + np.exp(-Z2))
    return H, H.sum(axis=0) / Z2.shape[0]


#: (checker, a right answer, its mistake table, its number of checks, the exercise's name).
EXERCISES = [
    (check_matmul_vjp, student_matmul_vjp, MATMUL_MISTAKES, 1, "matmul_vjp"),
    (check_topological_order, student_topological_order, TOPOLOGICAL_MISTAKES, 1, "topological_order"),
    (check_unbroadcast, student_unbroadcast, UNBROADCAST_MISTAKES, 1, "unbroadcast"),
    (check_rho_hat_kernel, student_kernel, RHO_HAT_MISTAKES, 3, "sigmoid_and_rho_hat"),
]
CHECKERS = [checker for checker, *_ in EXERCISES]
_checkers = pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)


def _exercise_of(checker: Callable) -> tuple:
    return next(exercise for exercise in EXERCISES if exercise[0] is checker)


# ----------------------------------------------------------------------------- right answers

CORRECT = [
    *[pytest.param(checker, solution, checks, name, id=name)
      for checker, solution, _, checks, name in EXERCISES],
    pytest.param(check_topological_order, topological_order, 1, "topological_order", id="engine_order"),
    pytest.param(check_unbroadcast, unbroadcast, 1, "unbroadcast", id="engine_unbroadcast"),
    pytest.param(check_matmul_vjp, lambda g, A, B: [(g @ B.T).tolist(), A.T @ g], 1, "matmul_vjp",
                 id="matmul_as_list"),
]


@pytest.mark.parametrize(("checker", "solution", "checks", "name"), CORRECT)
def test_the_right_answer_passes_every_check_and_says_so(checker, solution, checks, name, capsys) -> None:
    assert_passes(checker(solution), capsys.readouterr().out, name, checks)


# ----------------------------------------------------------------------------- known mistakes

KNOWN_MISTAKES = [pytest.param(checker, mistake, id=f"{name}-{mistake.key}")
                  for checker, _, table, _, name in EXERCISES for mistake in table]


@pytest.mark.parametrize(("checker", "mistake"), KNOWN_MISTAKES)
def test_each_known_mistake_is_named_at_the_smallest_input_found(checker, mistake: Mistake, capsys) -> None:
    feedback = checker(mistake.compute)
    assert_named(feedback, mistake.key, mistake.hint)
    printed = capsys.readouterr().out
    assert printed == f"{feedback}\n" and f"  hint: {mistake.hint}" in printed
    assert printed.startswith(f"{FAIL_MARK} ") and len(feedback.details) <= 20


TABLES = [MATMUL_MISTAKES, TOPOLOGICAL_MISTAKES, UNBROADCAST_MISTAKES, RHO_HAT_MISTAKES]


@pytest.mark.parametrize("table", TABLES, ids=["matmul", "topological", "unbroadcast", "rho_hat"])
def test_each_table_has_distinct_keys_and_hints(table: list[Mistake]) -> None:
    assert len({mistake.key for mistake in table}) == len(table)
    assert len({mistake.hint for mistake in table}) == len(table)
    assert all(callable(mistake.compute) for mistake in table)


def _differ(answer: tuple, expected: tuple) -> bool:
    """Whether two answers made of arrays differ: in their number, a shape or a value (beyond 1e-6)."""
    return len(answer) != len(expected) or any(
        np.shape(a) != np.shape(b) or not np.allclose(a, b, rtol=1e-6, atol=0)
        for a, b in zip(answer, expected))


@st.composite
def generic_matmul_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``g (m, k)``, ``A (m, n)``, ``B (n, k)`` of standard normal entries, every dimension at least 2
    (at m = 1 averaging over the rows changes nothing)."""
    m, n, k = (draw(st.integers(2, 4)) for _ in range(3))
    rng = np.random.default_rng(draw(seeds))
    return rng.standard_normal((m, k)), rng.standard_normal((m, n)), rng.standard_normal((n, k))


@settings(max_examples=50)
@given(generic_matmul_inputs())
def test_no_matmul_mistake_is_right_on_a_generic_input(inputs) -> None:
    expected = student_matmul_vjp(*inputs)
    for mistake in MATMUL_MISTAKES:
        assert _differ(mistake.compute(*inputs), expected), mistake.key


@st.composite
def broadcasts(draw: st.DrawFn, max_dims: int = 3,
               copied: bool = False) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(grad, shape)``: a ``shape`` of at most ``max_dims`` axes and a ``grad`` of the shape numpy
    broadcasts it up to (new leading axes, axes of length 1 grown), standard normal entries. With
    ``copied``, ``shape`` has an axis of length 1 that ``grad`` copies at least twice."""
    shape = draw(st.lists(st.integers(1, 3), min_size=int(copied), max_size=max_dims))
    if copied:
        shape[draw(st.integers(0, len(shape) - 1))] = 1
    low = 2 if copied else 1
    grown = tuple(draw(st.integers(low, 3)) if size == 1 else size for size in shape)
    leading = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    grad = np.random.default_rng(draw(seeds)).standard_normal(leading + grown)
    return grad, tuple(shape)


@settings(max_examples=50)
@given(broadcasts(copied=True))
def test_no_unbroadcast_mistake_is_right_on_a_generic_input(pair) -> None:
    grad, shape = pair
    expected = unbroadcast(grad, shape)
    np.testing.assert_allclose(student_unbroadcast(grad, shape), expected, rtol=1e-12, atol=1e-12)
    for mistake in UNBROADCAST_MISTAKES:
        assert _differ((mistake.compute(grad.copy(), shape),), (expected,)), mistake.key


@settings(max_examples=50)
@given(st.integers(2, 6), st.integers(1, 5), seeds)
def test_no_rho_hat_mistake_is_right_on_a_generic_input(m, k, seed) -> None:
    Z2 = np.random.default_rng(seed).uniform(-6, 6, (m, k))
    expected = (expit(Z2), expit(Z2).mean(axis=0))
    assert not _differ(student_kernel(Z2), expected)
    for mistake in RHO_HAT_MISTAKES:
        assert _differ(mistake.compute(Z2.copy()), expected), mistake.key


@st.composite
def shared_graphs(draw: st.DrawFn) -> Tensor:
    """The root of a random graph of scalar tensors: 1 to 3 leaves, 0 to 4 sums and products of
    earlier nodes, then ``root = x * x`` of the last node ``x``, so that ``x`` and every node it
    depends on is reached along two paths."""
    nodes = [Tensor(float(i + 1), name=f"leaf{i}") for i in range(draw(st.integers(1, 3)))]
    for number in range(draw(st.integers(0, 4))):
        first, second = draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))
        nodes.append((first + second if draw(st.booleans()) else first * second).named(f"node{number}"))
    return (nodes[-1] * nodes[-1]).named("root")


def _ancestors(root: Tensor) -> set[int]:
    """The ids of every tensor ``root`` depends on, ``root`` included."""
    found: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in found:
            found.add(id(node))
            stack.extend(node.parents)
    return found


def is_topological_order(order: list[Tensor], root: Tensor) -> bool:
    """Whether ``order`` lists every tensor ``root`` depends on, each once, each after its parents."""
    position = {id(node): index for index, node in enumerate(order)}
    return (len(position) == len(order) and set(position) == _ancestors(root)
            and all(position[id(parent)] < position[id(node)] for node in order for parent in node.parents))


@settings(max_examples=50)
@given(shared_graphs())
def test_the_engines_and_the_students_orders_are_topological(root) -> None:
    assert is_topological_order(topological_order(root), root)
    assert is_topological_order(student_topological_order(root), root)


@pytest.mark.parametrize("mistake", TOPOLOGICAL_MISTAKES, ids=lambda m: m.key)
@settings(max_examples=50)
@given(root=shared_graphs())
def test_no_topological_mistake_is_a_topological_order(mistake: Mistake, root) -> None:
    assert not is_topological_order(mistake.compute(root), root)


# ----------------------------------------------------------------------------- student bugs


@_checkers
def test_not_implemented_yet_is_not_done_with_no_traceback(checker, capsys) -> None:
    def stub(*args):
        raise NotImplementedError()

    feedback = checker(stub)
    assert not feedback.passed and feedback.status == "not done" and "not done yet" in feedback.hint
    out, err = capsys.readouterr()
    assert out.startswith(f"{NOT_DONE_MARK} ") and "not done yet" in out
    assert "Traceback" not in out + err


@_checkers
def test_an_exception_in_student_code_could_not_run_and_quotes_its_line(checker, capsys) -> None:
    def broken(*args):
        values = list(args)
        return values[10]

    feedback = checker(broken)
    assert not feedback.passed and feedback.status == "could not run"
    line = broken.__code__.co_firstlineno + 2
    assert feedback.details[0].endswith(f"could not run: your function raised IndexError: list index out of "
                                        f"range (line {line}: return values[10])"), feedback.details
    assert "the smallest input found:" in feedback.details
    assert capsys.readouterr().out.startswith(f"{FAIL_MARK} ")


@_checkers
def test_a_missing_return_could_not_run(checker) -> None:
    feedback = checker(lambda *args: None, verbose=False)
    assert feedback.status == "could not run"
    assert "returned None: did you forget `return" in feedback.details[0]


UNUSABLE = [
    (check_matmul_vjp, lambda g, A, B: (g @ B.T,), "return 2 values (dA, dB); got a tuple of 1"),
    (check_topological_order, lambda root: [t.name for t in topological_order(root)],
     "return a list of the Tensor objects themselves"),
    (check_topological_order, lambda root: 3.0, "return a list of tensors; got float"),
    (check_unbroadcast, lambda grad, shape: "summed", "result is not an array of numbers"),
    (check_rho_hat_kernel, lambda Z2: expit(Z2), "return 2 values (H, rho_hat); got a ndarray"),
]


@pytest.mark.parametrize(("checker", "function", "message"), UNUSABLE)
def test_an_answer_that_cannot_be_compared_could_not_run(checker, function, message) -> None:
    feedback = checker(function, verbose=False)
    assert feedback.status == "could not run" and message in feedback.details[0], feedback.details


WRONG_SHAPES = [
    (check_matmul_vjp, lambda g, A, B: (g @ B.T, (A.T @ g).ravel()), "dB has shape (1,), expected (1, 1)"),
    (check_unbroadcast, lambda grad, shape: grad, "your result has shape (1,), expected ()"),
    (check_rho_hat_kernel, lambda Z2: (expit(Z2), expit(Z2).mean(axis=0, keepdims=True)),
     "rho_hat has shape (1, 1), expected (1,)"),
]


@pytest.mark.parametrize(("checker", "function", "message"), WRONG_SHAPES)
def test_a_wrong_shape_fails_showing_both_shapes(checker, function, message) -> None:
    """These checkers let any shape through to the judge (a known mistake may have another shape),
    which reports it as the answer's failure, with the expected and the student's answer shown."""
    feedback = checker(function, verbose=False)
    assert feedback.status == "failed"
    assert feedback.details[0].endswith(f"failed: {message}"), feedback.details
    assert {"the smallest input found:", "expected:", "yours:"} <= set(feedback.details)


@_checkers
def test_passing_the_result_of_calling_the_function_is_explained(checker) -> None:
    solution = _exercise_of(checker)[1]
    root = (Tensor(2.0, name="a") * Tensor(3.0, name="b")).named("c")
    args = {check_matmul_vjp: (np.ones((2, 3)), np.ones((2, 4)), np.ones((4, 3))),
            check_topological_order: (root,), check_unbroadcast: (np.ones((2, 3)), (3,)),
            check_rho_hat_kernel: (np.zeros((2, 2)),)}[checker]
    result = solution(*args)
    feedback = checker(result, verbose=False)
    assert feedback.status == "could not run" and not feedback.passed
    assert feedback.details == [f"expected a function, got {type(result).__name__}: pass the function "
                                "itself, without calling it"]


#: Seconds after which a hung test ends the test process (far beyond what any checker here takes).
HANG_GUARD_S = 120


@pytest.fixture
def hang_guard():
    """Ends the test process, dumping every thread's traceback, if the test runs past
    :data:`HANG_GUARD_S`: a checker that never returns shows as a crash, not as a stalled suite."""
    faulthandler.dump_traceback_later(HANG_GUARD_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@_checkers
def test_an_endless_loop_is_stopped_by_the_timeout(checker, hang_guard) -> None:
    def endless(*args):
        while True:
            pass

    # A kernel's first call (its compilation) has its own, longer limit: made short here too.
    options = {"compile_timeout": 0.5} if checker is check_rho_hat_kernel else {}
    feedback = checker(endless, verbose=False, timeout=0.5, **options)
    assert feedback.status == "could not run" and not feedback.passed
    assert feedback.details[0].endswith("could not run: your function did not return within 0.5 s "
                                        "(an endless loop?)"), feedback.details
    assert feedback.details[1] == "on the input:"


# ----------------------------------------------------------------------------- edge-case bugs


def unbroadcast_vectors_only(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums the new leading axes, and the axes of length 1 only for a number or a vector (a bias):
    an input with two or more axes keeps its copies along its axes of length 1."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    if len(shape) <= 1:
        grad = grad.sum(axis=tuple(axis for axis, size in enumerate(shape) if size == 1), keepdims=True)
    return grad


@given(broadcasts(max_dims=1))
def test_the_vectors_only_bug_is_right_on_every_input_of_at_most_one_axis(pair) -> None:
    grad, shape = pair
    np.testing.assert_allclose(unbroadcast_vectors_only(grad, shape), unbroadcast(grad, shape),
                               rtol=1e-12, atol=1e-12)


def _shape_shown(line: str) -> tuple[int, ...]:
    """The shape printed at the end of a line ``name = [...]  (shape (2, 1))``."""
    return ast.literal_eval(re.search(r"\(shape (\([\d, ]*\))\)$", line).group(1))


def test_a_bug_only_on_a_length_1_axis_of_a_matrix_is_shrunk_to_one(capsys) -> None:
    feedback = check_unbroadcast(unbroadcast_vectors_only)
    assert feedback.status == "failed" and feedback.details[1] == "the smallest input found:"
    grad_line, shape_line = feedback.details[2:4]
    assert grad_line.startswith("  grad = ") and shape_line.startswith("  shape = ")
    shape, grad_shape = ast.literal_eval(shape_line.removeprefix("  shape = ")), _shape_shown(grad_line)
    aligned = grad_shape[len(grad_shape) - len(shape):]
    assert len(shape) == 2 and any(size == 1 and copies > 1 for size, copies in zip(shape, aligned))
    assert int(np.prod(grad_shape)) == 2, feedback.details  # the smallest: one axis copied twice
    assert shape_line in capsys.readouterr().out


def kernel_forgetting_zero(Z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stable sigmoid, one branch per sign, that forgets ``Z2 == 0`` (a pure Python function: it
    fails the values' check before the check that it is a Numba kernel)."""
    positive = 1.0 / (1.0 + np.exp(-np.where(Z2 > 0, Z2, 0.0)))
    negative = np.exp(np.where(Z2 < 0, Z2, 0.0)) / (1.0 + np.exp(np.where(Z2 < 0, Z2, 0.0)))
    H = np.where(Z2 > 0, positive, np.where(Z2 < 0, negative, 0.0))
    return H, H.mean(axis=0)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5),
                  elements=st.floats(-6, 6).filter(bool)))
def test_the_zero_bug_is_right_on_every_nonzero_entry(Z2) -> None:
    H, rho_hat = kernel_forgetting_zero(Z2)
    np.testing.assert_allclose(H, expit(Z2), rtol=1e-12)
    np.testing.assert_allclose(rho_hat, expit(Z2).mean(axis=0), rtol=1e-12)


def test_a_bug_only_at_zero_is_found_and_shrunk_to_a_zero(capsys) -> None:
    feedback = check_rho_hat_kernel(kernel_forgetting_zero)
    assert feedback.status == "failed" and feedback.mistake is None
    assert feedback.details == ["check 1 of 3 (H and rho_hat on float64 Z2) failed: H and rho_hat are wrong",
                                "the smallest input found:", "  Z2 = [[0.]]  (shape (1, 1))",
                                "expected:", "  H = [[0.5]]  (shape (1, 1))", "  rho_hat = [0.5]",
                                "yours:", "  H = [[0.]]  (shape (1, 1))", "  rho_hat = [0.]"]
    assert "Z2 = [[0.]]" in capsys.readouterr().out


# ----------------------------------------------------------------------------- nbgrader


@_checkers
def test_under_nbgrader_a_check_that_fails_raises_after_printing(checker, monkeypatch, capsys) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    mistake = _exercise_of(checker)[2][0]
    with pytest.raises(ExerciseNotPassed) as raised:
        checker(mistake.compute)
    assert capsys.readouterr().out == f"{raised.value}\n"
    assert str(raised.value).startswith(f"{FAIL_MARK} ") and mistake.hint in str(raised.value)


@_checkers
def test_under_nbgrader_a_check_that_passes_does_not_raise(checker, monkeypatch) -> None:
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert checker(_exercise_of(checker)[1], verbose=False).passed


# ----------------------------------------------------------------------------- the kernel itself

NOT_A_PARALLEL_KERNEL = [
    pytest.param(serial_kernel, "it is compiled without parallel=True, so prange runs as a plain range",
                 id="serial"),
    pytest.param(kernel_without_prange, "it has no numba.prange loop: nothing runs in parallel",
                 id="no_prange"),
    pytest.param(student_kernel.py_func, "it is not compiled by Numba: decorate it with "
                 "@numba.njit(parallel=True) (or NUMBA_DISABLE_JIT is set)", id="plain_python"),
]


@pytest.mark.parametrize(("kernel", "message"), NOT_A_PARALLEL_KERNEL)
def test_a_right_answer_that_is_not_a_parallel_kernel_fails_the_last_check(kernel, message) -> None:
    feedback = check_rho_hat_kernel(kernel, verbose=False)
    assert feedback.status == "failed" and feedback.mistake is None
    assert feedback.details == [f"check 3 of 3 (a Numba parallel kernel) failed: {message}"]


def test_a_kernel_whose_answer_changes_on_every_call_is_reported_as_a_race() -> None:
    calls = itertools.count()

    def drifting(Z2):
        H = 1.0 / (1.0 + np.exp(-Z2))
        return H, H.mean(axis=0) + 1e-3 * next(calls)

    feedback = check_rho_hat_kernel(drifting, verbose=False)
    assert feedback.status == "failed" and feedback.mistake is None and len(feedback.details) == 1
    line = feedback.details[0]
    assert line.startswith("check 1 of 3 (H and rho_hat on float64 Z2) failed: on a larger Z2, of shape ")
    assert "call 2 gave another rho_hat than call 1" in line and "(a race)" in line


# ----------------------------------------------------------------------------- answers that change

#: How each exercise's right answer is spoiled into a wrong one.
SPOIL = {
    check_matmul_vjp: lambda answer: (answer[0] + 1.0, answer[1]),
    check_topological_order: lambda answer: answer[::-1],
    check_unbroadcast: lambda answer: answer + 1.0,
    check_rho_hat_kernel: lambda answer: (answer[0], answer[1] + 1.0),
}


def _key(args: tuple) -> str:
    """What tells one input from another across calls: the arrays' values and the shapes, a graph's
    nodes and ops in order."""
    return repr([[(node.name, node.op) for node in topological_order(arg)] if isinstance(arg, Tensor) else arg
                 for arg in args])


def wrong_the_first_time(checker: Callable) -> Callable:
    """The exercise's right answer, spoiled the first time each small input (fewer than 1000 array
    entries) is seen: hypothesis's replay of its smallest failing input then passes."""
    solution, seen = _exercise_of(checker)[1], set()

    def student(*args):
        answer = solution(*args)
        if sum(np.size(arg) for arg in args if isinstance(arg, np.ndarray)) >= 1000 or _key(args) in seen:
            return answer
        seen.add(_key(args))
        return SPOIL[checker](answer)
    return student


@_checkers
def test_an_input_whose_answer_changes_on_the_replay_is_reported_not_raised(checker) -> None:
    """Hypothesis's ``Flaky`` (a failing input that passed when replayed) is reported as answers that
    change from call to call, by every checker; it used to escape the graph checkers as
    ``hypothesis.errors.FlakyFailure``."""
    feedback = checker(wrong_the_first_time(checker), verbose=False)
    assert isinstance(feedback, Feedback) and feedback.status == "failed" and feedback.mistake is None
    assert "change from call to call" in feedback.details[0], feedback.details


HYPOTHESIS_DIR = os.path.dirname(hypothesis.__file__) + os.sep


def _inside_the_search() -> bool:
    """Whether hypothesis is on the call stack (the checker's search is calling)."""
    return any(frame.f_code.co_filename.startswith(HYPOTHESIS_DIR) for frame, _ in traceback.walk_stack(None))


def wrong_inside_the_search(checker: Callable) -> Callable:
    """The exercise's right answer, spoiled on every call from inside hypothesis: a deterministic
    stand-in for a race that shows while the search runs and not on the checker's rerun of the
    smallest failing input (nor in the kernel checker's race probe)."""
    solution = _exercise_of(checker)[1]

    def student(*args):
        answer = solution(*args)
        return SPOIL[checker](answer) if _inside_the_search() else answer
    return student


@_checkers
def test_a_failing_input_that_passes_on_the_rerun_says_why(checker) -> None:
    """When the checker's rerun of the smallest failing input passes, the feedback says the answers
    change from call to call and names no mistake (it used to say "failed:" with no reason, show the
    same expected and yours, and name a mistake that matched the right answer on that input)."""
    feedback = checker(wrong_inside_the_search(checker), verbose=False)
    assert feedback.status == "failed" and not feedback.passed
    assert not feedback.details[0].endswith("failed: "), feedback.details
    assert "change from call to call" in feedback.details[0], feedback.details
    assert feedback.mistake is None and feedback.hint is None, feedback.mistake


def test_each_line_of_an_unbroadcast_answer_shows_its_shape_once() -> None:
    """BUG (graph.py, the unbroadcast exercise's ``show``): a result of two or more axes is shown
    with its shape twice, "[[0.]]  (shape (1, 1))  (shape (1, 1))"."""
    feedback = check_unbroadcast(unbroadcast_vectors_only, verbose=False)
    shown = feedback.details[feedback.details.index("expected:"):]
    assert any("(shape" in line for line in shown)
    assert all(line.count("(shape") <= 1 for line in shown), shown
