"""The searching checkers of lessons 4 and 5 (tinysae.exercises.variants): right answers pass every
check, every known mistake and every plausible wrong answer is named at a shrunk counterexample,
student bugs are reported, the searches reach the edge cases, and the references the mistakes are
built on agree with tinysae's own gradients."""

from __future__ import annotations

import numpy as np
import pytest
from exercise_helpers import REACH, assert_named, assert_passes, assert_wrong_answer_named
from hypothesis import find, given, settings
from hypothesis import strategies as st
from scipy.special import expit
from strategies import problems, seeds
from wrong_answers.variants import WRONG_ANSWERS

from tinysae.autograd import Tensor, numerical_gradient
from tinysae.backends import numpy_ref
from tinysae.exercises import (
    CONTRACTION_MISTAKES,
    FAIL_MARK,
    LOG_SOFTMAX_MISTAKES,
    OVERFLOW_HINT,
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


CORRECT = [
    (check_contraction_grads, student_contraction_grads, 2),
    (check_contraction_grads, numpy_ref.contraction_grads, 2),
    (check_contraction_grads, lambda *args: list(student_contraction_grads(*args)), 2),
    (check_log_softmax_vjp, student_log_softmax_vjp, 2),
]
CHECKERS = [check_contraction_grads, check_log_softmax_vjp]


@pytest.mark.parametrize(("checker", "solution", "checks"), CORRECT, ids=["contraction", "numpy_ref",
                                                                          "contraction_list", "log_softmax"])
def test_correct_solutions_pass_every_check_and_say_so(checker, solution, checks, capsys) -> None:
    feedback = checker(solution)
    assert_passes(feedback, capsys.readouterr().out, checker.__name__.removeprefix("check_"), checks)


# ----------------------------------------------------------------------------- known mistakes


MISTAKES = [
    pytest.param(checker, mistake, id=f"{checker.__name__}-{mistake.key}")
    for checker, mistakes in ((check_contraction_grads, CONTRACTION_MISTAKES),
                              (check_log_softmax_vjp, LOG_SOFTMAX_MISTAKES))
    for mistake in mistakes
]


@pytest.mark.parametrize(("checker", "mistake"), MISTAKES)
def test_each_known_mistake_is_named_at_a_shrunk_counterexample(checker, mistake) -> None:
    feedback = checker(mistake.compute, verbose=False)
    assert_named(feedback, mistake.key, mistake.hint)


@pytest.mark.parametrize("mistakes", [CONTRACTION_MISTAKES, LOG_SOFTMAX_MISTAKES],
                         ids=["contraction", "log_softmax"])
def test_the_mistake_tables_have_distinct_keys(mistakes) -> None:
    keys = [mistake.key for mistake in mistakes]
    assert len(set(keys)) == len(keys) and "overflow" not in keys


@pytest.mark.parametrize("answer", WRONG_ANSWERS, ids=lambda a: a.title)
def test_each_plausible_wrong_answer_fails_and_is_named(answer) -> None:
    assert_wrong_answer_named(answer)


def test_a_forgotten_direct_path_shows_the_smallest_problem_and_which_output_is_wrong(capsys) -> None:
    feedback = check_contraction_grads(CONTRACTION_MISTAKES[0].compute)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"{FAIL_MARK} contraction_grads: not yet"
    assert printed[1] == "  check 1 of 2 (one sample) failed: dW1 is wrong (db1 is right)"
    assert "    X = [[0.]]  (shape (1, 1))" in printed and "    weight = 1" in printed
    assert feedback.details[-1].startswith("  db1 = ")


def test_a_mistake_in_the_mean_fails_only_with_several_samples() -> None:
    feedback = check_contraction_grads(CONTRACTION_MISTAKES[-3].compute, verbose=False)  # m_twice
    assert feedback.details[0].startswith("check 2 of 2 (several samples) failed")


@pytest.mark.parametrize("factor", [0.3, 1.5, 2.0, -1.0, 1.001])  # (a checker cannot run inside @given)
def test_a_rescaled_answer_fails_and_is_no_known_mistake(factor) -> None:
    def rescaled(*args):
        return tuple(factor * a for a in numpy_ref.contraction_grads(*args))

    feedback = check_contraction_grads(rescaled, verbose=False, max_examples=30)
    assert not feedback.passed and feedback.status == "failed" and feedback.mistake is None


def test_halving_both_gradients_is_the_forgotten_factor_of_two() -> None:
    def halved(*args):
        return tuple(0.5 * a for a in numpy_ref.contraction_grads(*args))

    assert check_contraction_grads(halved, verbose=False).mistake == "no_factor_2"


# ----------------------------------------------------------------------------- overflow


def test_the_naive_softmax_overflows_and_is_told_about_the_shift(capsys) -> None:
    feedback = check_log_softmax_vjp(WRONG_ANSWERS[2].function)
    printed = capsys.readouterr().out
    assert feedback.mistake == "overflow" and feedback.hint == OVERFLOW_HINT
    assert feedback.details[0] == ("check 2 of 2 (scores near plus or minus 1000) failed: "
                                   "dZ contains nan or inf")
    assert "1000." in printed and "largest score is zero" in printed


def test_a_naive_log_sum_exp_gets_the_overflow_hint_not_a_table_hint() -> None:
    def naive_log(g, Z):  # the log of an overflowed sum is inf, so dZ comes out as g near 1000
        L = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
        return g - np.exp(L) * g.sum(axis=1, keepdims=True)

    feedback = check_log_softmax_vjp(naive_log, verbose=False)
    assert feedback.mistake == "overflow" and feedback.hint == OVERFLOW_HINT


def test_an_exception_on_large_scores_could_not_run_and_is_not_called_overflow() -> None:
    def refuses_large(g, Z):
        if np.abs(Z).max() > 100:
            raise ValueError("scores too large")
        return student_log_softmax_vjp(g, Z)

    feedback = check_log_softmax_vjp(refuses_large, verbose=False)
    assert feedback.status == "could not run" and feedback.mistake is None
    assert "ValueError: scores too large" in feedback.details[0] and "check 2 of 2" in feedback.details[0]


# ----------------------------------------------------------------------------- student bugs


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_not_implemented_is_not_done_yet(checker) -> None:
    def stub(*args):
        raise NotImplementedError()

    feedback = checker(stub, verbose=False)
    assert not feedback.passed and feedback.status == "not done" and "not done yet" in feedback.hint


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_an_exception_could_not_run_and_quotes_the_students_line(checker) -> None:
    def broken(*args):
        raise ValueError("shapes do not fit")

    feedback = checker(broken, verbose=False)
    assert not feedback.passed and feedback.status == "could not run" and feedback.mistake is None
    assert 'ValueError: shapes do not fit (line' in feedback.details[0]
    assert 'raise ValueError("shapes do not fit")' in feedback.details[0]


@pytest.mark.parametrize(("checker", "wrong_shape", "message"), [
    (check_contraction_grads, lambda *args: (student_contraction_grads(*args)[0],
                                             student_contraction_grads(*args)[1][:, None]),
     "db1 has shape (1, 1), expected (1,)"),
    (check_contraction_grads, lambda *args: student_contraction_grads(*args)[0],
     "return 2 values (dW1, db1); got a ndarray"),
    (check_log_softmax_vjp, lambda g, Z: student_log_softmax_vjp(g, Z).sum(axis=1),
     "dZ has shape (1,), expected"),
], ids=["column_bias", "one_output", "row_sums"])
def test_a_wrong_shape_could_not_run(checker, wrong_shape, message) -> None:
    feedback = checker(wrong_shape, verbose=False)
    assert not feedback.passed and feedback.status == "could not run"
    assert message in feedback.details[0]


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_an_input_changed_in_place_is_reported(checker) -> None:
    def in_place(*args):
        args[0][...] = 1.0
        return student_contraction_grads(*args) if len(args) == 4 else student_log_softmax_vjp(*args)

    feedback = checker(in_place, verbose=False)
    assert not feedback.passed and "changed one of its inputs in place" in feedback.details[0]


# ----------------------------------------------------------------------------- the searches


@pytest.mark.parametrize(("check", "condition"), [
    (variants._CONTRACTION.checks[0], lambda a: a[0].shape[0] == 1 and a[2].shape == (1, 1) and a[3] == 0.0),
    (variants._CONTRACTION.checks[1], lambda a: a[0].shape[0] == 4 and np.all(a[1] == 0.5)),
    (variants._CONTRACTION.checks[1], lambda a: not a[0].any() and a[3] == 3.0),
    (variants._LOG_SOFTMAX.checks[0], lambda a: a[1].shape == (1, 1)),
    (variants._LOG_SOFTMAX.checks[0], lambda a: a[1].shape[0] > 1 and a[1].shape[1] > 1 and not a[0].any()),
    (variants._LOG_SOFTMAX.checks[1], lambda a: a[1].min() < -990 and a[1].max() > 990),
], ids=["m1_k1_n1_weight0", "m4_half", "zeros_weight3", "one_class", "zero_g", "both_signs_large"])
def test_the_searches_reach_the_edge_cases(check, condition) -> None:
    """Each check's strategy draws its edge case (derandomized, as the checkers search)."""
    assert condition(find(check.strategy, condition, settings=REACH))


def test_every_large_score_is_near_1000() -> None:
    g, Z = find(variants._LOG_SOFTMAX.checks[1].strategy, lambda a: a[1].size >= 4, settings=REACH)
    assert np.all(np.abs(np.abs(Z) - 1000) <= 3)


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


def _flat(value) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in (value if isinstance(value, tuple) else (value,))])


@pytest.mark.parametrize(("mistakes", "probes"), [
    (CONTRACTION_MISTAKES, variants._contraction_probes()),
    (LOG_SOFTMAX_MISTAKES, variants._log_softmax_probes()),
], ids=["contraction", "log_softmax"])
def test_the_probes_tell_every_pair_of_known_mistakes_apart(mistakes, probes) -> None:
    outputs = [np.concatenate([_flat(mistake.compute(*probe)) for probe in probes]) for mistake in mistakes]
    for i in range(len(outputs)):
        for j in range(i):
            assert not np.allclose(outputs[i], outputs[j], rtol=1e-6), (mistakes[i].key, mistakes[j].key)
