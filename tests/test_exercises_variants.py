"""The checkers of lessons 4 and 5 (tinysae.exercises.variants): right answers pass, every known
mistake is named, student bugs are reported, and the references the mistakes are built on agree
with tinysae's own gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from strategies import problems, seeds

from tinysae.autograd import Tensor, numerical_gradient
from tinysae.backends import numpy_ref
from tinysae.exercises import (
    CONTRACTION_MISTAKES,
    CONTRACTION_OUTPUTS,
    FAIL_MARK,
    LOG_SOFTMAX_MISTAKES,
    OVERFLOW_HINT,
    PASS_MARK,
    Feedback,
    check_contraction_grads,
    check_log_softmax_vjp,
    variants,
)
from tinysae.models import Batch, ContractiveSAE
from tinysae.objective import Objective
from tinysae.params import Params

# ----------------------------------------------------------------------------- student solutions
# Written the way a student would, not by calling tinysae.


def student_contraction_grads(X, H, W1, weight):
    m = X.shape[0]
    D = H * (1 - H)
    r = np.sum(W1**2, axis=1)
    dC_dZ2 = 2 * weight / m * D * (1 - 2 * H) * r * D
    dW1 = dC_dZ2.T @ X + 2 * weight / m * np.sum(D**2, axis=0)[:, None] * W1
    return dW1, dC_dZ2.sum(axis=0)


def student_log_softmax_vjp(g, Z):
    shifted = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return g - P * g.sum(axis=1, keepdims=True)


def naive_log_softmax_vjp(g, Z):  # right, but exp(Z) overflows for large scores
    P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    return g - P * g.sum(axis=1, keepdims=True)


CORRECT = [
    (check_contraction_grads, student_contraction_grads),
    (check_contraction_grads, numpy_ref.contraction_grads),
    (check_log_softmax_vjp, student_log_softmax_vjp),
]
CHECKERS = [check_contraction_grads, check_log_softmax_vjp]


@pytest.mark.parametrize(("checker", "solution"), CORRECT, ids=lambda x: getattr(x, "__name__", ""))
def test_correct_solutions_pass_and_say_so(checker, solution, capsys) -> None:
    feedback = checker(solution)
    assert isinstance(feedback, Feedback)
    assert feedback.passed and feedback.hint is None and feedback.mistake is None
    assert max(feedback.errors.values()) < 1e-9
    printed = capsys.readouterr().out
    assert printed.startswith(PASS_MARK) and FAIL_MARK not in printed


def test_contraction_grads_accepts_a_list() -> None:
    feedback = check_contraction_grads(lambda *args: list(student_contraction_grads(*args)), verbose=False)
    assert feedback.passed


# ----------------------------------------------------------------------------- known mistakes


MISTAKES = [
    pytest.param(checker, mistake, id=f"{checker.__name__}-{mistake.key}")
    for checker, mistakes in ((check_contraction_grads, CONTRACTION_MISTAKES),
                              (check_log_softmax_vjp, LOG_SOFTMAX_MISTAKES))
    for mistake in mistakes
]


@pytest.mark.parametrize(("checker", "mistake"), MISTAKES)
def test_each_known_mistake_gets_its_hint(checker, mistake) -> None:
    feedback = checker(mistake.compute, verbose=False)
    assert not feedback.passed and feedback.mistake == mistake.key and feedback.hint == mistake.hint


@pytest.mark.parametrize("mistakes", [CONTRACTION_MISTAKES, LOG_SOFTMAX_MISTAKES],
                         ids=["contraction", "log_softmax"])
def test_the_mistake_tables_have_distinct_keys(mistakes) -> None:
    keys = [mistake.key for mistake in mistakes]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("mistake", CONTRACTION_MISTAKES, ids=[m.key for m in CONTRACTION_MISTAKES])
def test_contraction_feedback_marks_exactly_the_outputs_a_mistake_breaks(mistake) -> None:
    feedback = check_contraction_grads(mistake.compute, verbose=False)
    args, _ = variants._contraction_cases()[0]
    right = numpy_ref.contraction_grads(*args)
    wrong = mistake.compute(*args)
    for name, a, b in zip(CONTRACTION_OUTPUTS, right, wrong):
        mark = PASS_MARK if np.allclose(a, b, rtol=1e-9, atol=0) else FAIL_MARK
        assert any(line.startswith(f"{mark} {name}") for line in feedback.details), (name, feedback.details)


def test_forgetting_the_direct_path_is_named_in_plain_words(capsys) -> None:
    def through_H_only(X, H, W1, weight):
        m = X.shape[0]
        D = H * (1 - H)
        C2 = 2 * weight / m * D**2 * (1 - 2 * H) * np.sum(W1**2, axis=1)
        return C2.T @ X, C2.sum(axis=0)

    feedback = check_contraction_grads(through_H_only)
    printed = capsys.readouterr().out
    assert feedback.mistake == "no_direct_path"
    assert printed.startswith(FAIL_MARK) and "W1 reaches C twice" in printed
    assert f"{FAIL_MARK} dW1" in printed and f"{PASS_MARK} db1" in printed


def test_an_unknown_contraction_error_is_localised() -> None:
    def db1_right_dW1_off(X, H, W1, weight):
        dW1, db1 = student_contraction_grads(X, H, W1, weight)
        return dW1 + 0.1, db1

    feedback = check_contraction_grads(db1_right_dW1_off, verbose=False)
    assert not feedback.passed and feedback.mistake is None and "db1 is right" in feedback.hint

    def both_off(X, H, W1, weight):
        dW1, db1 = student_contraction_grads(X, H, W1, weight)
        return dW1 * 1.1, db1 + 1.0

    feedback = check_contraction_grads(both_off, verbose=False)
    assert not feedback.passed and feedback.mistake is None
    assert "start from the path through H" in feedback.hint


def test_the_naive_softmax_overflows_and_is_told_about_the_max_shift(capsys) -> None:
    feedback = check_log_softmax_vjp(naive_log_softmax_vjp)
    printed = capsys.readouterr().out
    assert not feedback.passed and feedback.mistake == "overflow" and feedback.hint == OVERFLOW_HINT
    assert "case 4 of 4" in feedback.details[0] and "scores near 1000" in feedback.details[0]
    assert "contains nan" in printed and "max subtracted" in printed


def test_a_naive_log_sum_exp_gets_the_overflow_hint_not_a_table_hint() -> None:
    def naive_log(g, Z):  # log(sum(exp(Z))) is inf near 1000, so P = exp(L) is 0 and dZ = g
        L = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        return g - np.exp(L) * g.sum(axis=1, keepdims=True)

    feedback = check_log_softmax_vjp(naive_log, verbose=False)
    assert feedback.mistake == "overflow" and feedback.hint == OVERFLOW_HINT


def test_an_exception_on_large_scores_is_reported_as_an_exception() -> None:
    def refuses_large(g, Z):
        if Z.max() > 100:
            raise ValueError("scores too large")
        return student_log_softmax_vjp(g, Z)

    feedback = check_log_softmax_vjp(refuses_large, verbose=False)
    assert not feedback.passed and feedback.mistake is None and feedback.hint is None
    assert any("ValueError: scores too large" in line for line in feedback.details)


# ----------------------------------------------------------------------------- student bugs
# (exceptions, stubs, a missing return and non-functions: tests/test_exercises.py, for every checker)


def test_contraction_wrong_shapes_are_reported() -> None:
    def transposed(X, H, W1, weight):
        dW1, db1 = student_contraction_grads(X, H, W1, weight)
        return dW1.T, db1

    feedback = check_contraction_grads(transposed, verbose=False)
    text = "\n".join(feedback.details)
    assert "dW1 has shape (5, 3), expected (3, 5)" in text and "right but transposed" in text
    assert f"{PASS_MARK} db1" in text

    def column_bias(X, H, W1, weight):
        dW1, db1 = student_contraction_grads(X, H, W1, weight)
        return dW1, db1[:, None]

    feedback = check_contraction_grads(column_bias, verbose=False)
    assert any("db1 has shape (3, 1), expected (3,)" in line for line in feedback.details)
    assert any("reshape it to (3,)" in line for line in feedback.details)

    feedback = check_contraction_grads(lambda *args: student_contraction_grads(*args)[0], verbose=False)
    assert "return a pair (dW1, db1); got ndarray" in feedback.details[1]
    feedback = check_contraction_grads(lambda X, H, W1, weight: (None, np.zeros(3)), verbose=False)
    assert "dW1 is None" in feedback.details[1]


def test_log_softmax_wrong_shapes_are_reported() -> None:
    feedback = check_log_softmax_vjp(lambda g, Z: student_log_softmax_vjp(g, Z).T, verbose=False)
    text = "\n".join(feedback.details)
    assert "has shape (3, 5), expected (5, 3)" in text and "right but transposed" in text
    feedback = check_log_softmax_vjp(lambda g, Z: student_log_softmax_vjp(g, Z).sum(axis=1), verbose=False)
    assert any("has shape (5,), expected (5, 3)" in line for line in feedback.details)


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_inputs_changed_in_place_are_reported(checker) -> None:
    def in_place(*args):
        args[0][...] = 0.0
        return None

    feedback = checker(in_place, verbose=False)
    assert not feedback.passed and any("changed its input" in line for line in feedback.details)


def test_nan_is_reported() -> None:
    feedback = check_log_softmax_vjp(lambda g, Z: np.log(Z), verbose=False)  # log of negative scores
    assert any("contains nan" in line for line in feedback.details)


# ----------------------------------------------------------------------------- the references used


@settings(max_examples=25)
@given(problems(objective=Objective(penalty="none", beta=0.0)), st.floats(0.0, 3.0))
def test_contraction_variant_without_mistake_is_the_reference_and_the_engine(problem, weight) -> None:
    params, X, objective = problem
    H = expit(X @ params.W1.T + params.b1)
    dW1, db1 = variants._contraction_variant(X, H, params.W1, weight)
    ref_dW1, ref_db1 = numpy_ref.contraction_grads(X, H, params.W1, weight)
    np.testing.assert_allclose(dW1, ref_dW1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(db1, ref_db1, rtol=1e-12, atol=1e-15)

    model = ContractiveSAE(X.shape[1], params.W1.shape[0], objective, contraction=weight)
    graph = model.graph(Params(params), Batch(X))
    graph["contraction"].backward()
    np.testing.assert_allclose(graph["W1"].grad, dW1, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(graph["b1"].grad, db1, rtol=1e-9, atol=1e-13)


@settings(max_examples=25)
@given(st.integers(1, 6), st.integers(1, 6), seeds)
def test_log_softmax_reference_is_the_vjp_of_the_engines_log_softmax(m, C, seed) -> None:
    rng = np.random.default_rng(seed)
    Z, g = rng.normal(0, 3, size=(m, C)), rng.normal(size=(m, C))

    def J(scores):
        return float(np.sum(g * Tensor(scores).log_softmax(axis=1).data))

    np.testing.assert_allclose(variants._log_softmax_vjp(g, Z), numerical_gradient(J, Z.copy(), 1e-6),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(student_log_softmax_vjp(g, Z), variants._log_softmax_vjp(g, Z),
                               rtol=1e-12, atol=1e-14)
