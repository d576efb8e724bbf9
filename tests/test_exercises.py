"""tinysae.exercises' lesson 1 and 2 checkers, which search with hypothesis: right answers pass,
every known mistake is named by its nature, student bugs are reported, edge-case bugs are found and
shrunk to the edge case."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit
from strategies import problems
from wrong_answers import backprop as backprop_answers
from wrong_answers import gradient as gradient_answers
from wrong_answers import sparsity as sparsity_answers

from tinysae import exercises
from tinysae.autograd import numerical_gradient
from tinysae.backends import numpy_ref
from tinysae.exercises import (
    BACKPROP_MISTAKES,
    DELTA_MISTAKES,
    FAIL_MARK,
    GRADIENT_MISTAKES,
    KL_MISTAKES,
    NOT_DONE_MARK,
    PASS_MARK,
    S_MISTAKES,
    SIGMOID_MISTAKES,
    Feedback,
    arrays,
    backprop,
    check_backprop,
    check_gradient_checker,
    check_kl_divergence,
    check_kl_gradient,
    check_sigmoid,
    check_sparsity_delta,
    gradient,
    search,
    solutions,
    sparsity,
    strip_solutions,
)
from tinysae.objective import Objective
from tinysae.params import Params

# ----------------------------------------------------------------------------- student solutions
# Written the way a student would, not by calling tinysae.


def student_sigmoid(Z):
    return 1.0 / (1.0 + np.exp(-Z))


def student_kl(rho, rho_hat):
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def student_s(rho, rho_hat):
    return -rho / rho_hat + (1 - rho) / (1 - rho_hat)


def student_delta(rho, rho_hat, beta, m):
    return beta * student_s(rho, rho_hat) / m


def student_loss_and_grad(params, X, objective):
    W1, b1, W2, b2 = params.W1, params.b1, params.W2, params.b2
    m = X.shape[0]
    rho, beta, lam = objective.rho, objective.beta, objective.weight_decay
    H = student_sigmoid(X @ W1.T + b1)
    Xhat = student_sigmoid(H @ W2.T + b2)
    rho_hat = H.mean(axis=0)
    loss = (np.sum((Xhat - X) ** 2) / (2 * m) + lam / 2 * (np.sum(W1**2) + np.sum(W2**2))
            + beta * np.sum(student_kl(rho, rho_hat)))
    D3 = (Xhat - X) * Xhat * (1 - Xhat) / m
    D2 = (D3 @ W2 + student_delta(rho, rho_hat, beta, m)) * H * (1 - H)
    return loss, {"dW1": D2.T @ X + lam * W1, "db1": D2.sum(0), "dW2": D3.T @ H + lam * W2, "db2": D3.sum(0)}


def student_numerical_gradient(J, theta, eps):
    grad = np.zeros_like(theta)
    for index in np.ndindex(theta.shape):
        saved = theta[index]
        theta[index] = saved + eps
        plus = J(theta)
        theta[index] = saved - eps
        minus = J(theta)
        theta[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


CORRECT = [
    (check_sigmoid, student_sigmoid),
    (check_kl_divergence, student_kl),
    (check_kl_gradient, student_s),
    (check_sparsity_delta, student_delta),
    (check_backprop, student_loss_and_grad),
    (check_gradient_checker, student_numerical_gradient),
]
CHECKERS = [checker for checker, _ in CORRECT]
_ids = pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)


@pytest.mark.parametrize(("checker", "solution"), CORRECT, ids=lambda x: getattr(x, "__name__", ""))
def test_correct_solutions_pass_and_say_so(checker, solution, capsys) -> None:
    feedback = checker(solution)
    assert isinstance(feedback, Feedback)
    assert feedback.passed and feedback.status == "passed"
    assert feedback.hint is None and feedback.mistake is None and feedback.details == []
    printed = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"{PASS_MARK} .+: all {feedback.checks} checks passed", printed), printed


def test_backprop_accepts_params_tuple_or_dict_for_grads() -> None:
    def as_params(params, X, objective):
        loss, g = student_loss_and_grad(params, X, objective)
        return loss, Params(W1=g["dW1"], b1=g["db1"], W2=g["dW2"], b2=g["db2"])

    def as_tuple(params, X, objective):
        loss, g = student_loss_and_grad(params, X, objective)
        return np.array([loss]), (g["dW1"], g["db1"], g["dW2"], g["db2"])

    assert check_backprop(as_params, verbose=False).passed
    assert check_backprop(as_tuple, verbose=False).passed


def test_the_feedback_is_reproducible_and_max_examples_is_honoured() -> None:
    first = check_sparsity_delta(DELTA_MISTAKES[0].compute, verbose=False)
    again = check_sparsity_delta(DELTA_MISTAKES[0].compute, verbose=False)
    assert str(first) == str(again)
    assert check_sigmoid(student_sigmoid, verbose=False, max_examples=5, timeout=None).passed


# ----------------------------------------------------------------------------- known mistakes


def _buggy_backprop(key: str):
    def buggy(params, X, objective):
        out = backprop._backprop_variant(params, X, objective, key)
        return float(out["loss"]), Params(W1=out["dW1"], b1=out["db1"], W2=out["dW2"], b2=out["db2"])
    return buggy


KNOWN_MISTAKES = [
    pytest.param(checker, mistake, function, id=f"{checker.__name__}-{mistake.key}")
    for checker, table, as_function in (
        (check_sigmoid, SIGMOID_MISTAKES, None),
        (check_kl_divergence, KL_MISTAKES, None),
        (check_kl_gradient, S_MISTAKES, None),
        (check_sparsity_delta, DELTA_MISTAKES, None),
        (check_gradient_checker, GRADIENT_MISTAKES, None),
        (check_backprop, BACKPROP_MISTAKES, _buggy_backprop),
    )
    for mistake in table
    for function in [as_function(mistake.key) if as_function else mistake.compute]
]


@pytest.mark.parametrize(("checker", "mistake", "function"), KNOWN_MISTAKES)
def test_each_known_mistake_is_named_with_the_smallest_counterexample(checker, mistake, function) -> None:
    feedback = checker(function, verbose=False)
    assert not feedback.passed and feedback.mistake == mistake.key and feedback.hint == mistake.hint
    assert feedback.details[1] == "the smallest input found:"
    if feedback.status == "failed":  # a wrong shape "could not run", and has no expected output
        assert "expected:" in feedback.details and "yours:" in feedback.details
    assert len(feedback.details) <= 20


ALL_MISTAKES = [*SIGMOID_MISTAKES, *KL_MISTAKES, *S_MISTAKES, *DELTA_MISTAKES, *BACKPROP_MISTAKES,
                *GRADIENT_MISTAKES]
#: What would give a formula or code away: operators, calls, numpy.
FORMULA = re.compile(r"[=*/^+]|\bnp\.|\b(exp|log|log10|log2|sum|mean|tanh|sqrt)\(|\b1 - ")


@pytest.mark.parametrize("mistake", ALL_MISTAKES, ids=lambda m: m.key)
def test_hints_name_the_mistake_in_words_with_no_formula(mistake) -> None:
    assert not FORMULA.search(mistake.hint), mistake.hint


@pytest.mark.parametrize("module", [sparsity, backprop, gradient, exercises], ids=lambda m: m.__name__)
def test_the_docstrings_do_not_give_the_answers_formulas(module) -> None:
    """The module's docstring and its checkers' (the package's: its own only)."""
    checkers = [] if module is exercises else [name for name in module.__all__ if name.startswith("check_")]
    texts = [module.__doc__, *(getattr(module, name).__doc__ for name in checkers)]
    for text in texts:
        for formula in ("1/m", "/ m", "rho / rho_hat", "beta * s", "exp(-", "1 / (1 +", "log(rho",
                        "(1 - rho)", "2 eps", "2\\varepsilon"):
            assert formula not in text, (module.__name__, formula)


def test_a_mistake_with_overflowing_outputs_is_still_named() -> None:
    """The wrong sign's sigmoid at 1000 is 0 (exp overflows to inf): on the huge inputs it is still
    named, its infinities compared with the mistake's."""
    huge = dataclasses.replace(sparsity._SIGMOID, checks=sparsity._SIGMOID.checks[1:])
    for mistake in SIGMOID_MISTAKES:
        feedback = search.run_exercise(huge, mistake.compute, verbose=False)
        assert feedback.mistake == mistake.key


def test_two_mistakes_at_once_are_not_named_but_localised() -> None:
    def two_bugs(params, X, objective):  # no f'(Z2) and no 1/m in the sparsity term
        m, rho, beta = X.shape[0], objective.rho, objective.beta
        H = expit(X @ params.W1.T + params.b1)
        Xhat = expit(H @ params.W2.T + params.b2)
        loss, g = student_loss_and_grad(params, X, objective)
        D3 = (Xhat - X) * Xhat * (1 - Xhat) / m
        D2 = D3 @ params.W2 + beta * student_s(rho, H.mean(0))
        g["dW1"], g["db1"] = D2.T @ X + objective.weight_decay * params.W1, D2.sum(0)
        return loss, g

    feedback = check_backprop(two_bugs, verbose=False)
    assert feedback.status == "failed" and feedback.mistake is None and feedback.hint is None
    assert "the output layer's gradients are right" in feedback.details[0]


WRONG_ANSWERS = [*sparsity_answers.WRONG_ANSWERS, *backprop_answers.WRONG_ANSWERS,
                 *gradient_answers.WRONG_ANSWERS]


@pytest.mark.parametrize("answer", WRONG_ANSWERS, ids=lambda a: f"{a.checker}-{a.title}")
def test_each_plausible_wrong_answer_fails_and_is_named(answer) -> None:
    feedback = getattr(exercises, answer.checker)(answer.function, verbose=False)
    assert not feedback.passed and feedback.status in ("failed", "could not run")
    if answer.mistake is not None:
        assert feedback.mistake == answer.mistake


def test_two_wrong_answers_per_exercise() -> None:
    counts = {checker.__name__: 0 for checker in CHECKERS}
    for answer in WRONG_ANSWERS:
        counts[answer.checker] += 1
    assert set(counts.values()) == {2}


# ----------------------------------------------------------------------------- edge-case bugs


def sigmoid_forgetting_zero(Z):
    """A stable sigmoid, one branch per sign, that forgets Z == 0."""
    positive = 1.0 / (1.0 + np.exp(-np.where(Z > 0, Z, 0.0)))
    negative = np.exp(np.where(Z < 0, Z, 0.0)) / (1.0 + np.exp(np.where(Z < 0, Z, 0.0)))
    return np.where(Z > 0, positive, np.where(Z < 0, negative, 0.0))


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=st.floats(-50, 50).filter(bool)))
def test_the_zero_bug_is_right_on_every_nonzero_entry(Z) -> None:
    np.testing.assert_allclose(sigmoid_forgetting_zero(Z), expit(Z), rtol=1e-12)


def test_a_bug_only_at_zero_is_found_and_shrunk_to_a_zero(capsys) -> None:
    feedback = check_sigmoid(sigmoid_forgetting_zero)
    assert feedback.status == "failed" and feedback.mistake is None
    assert feedback.details[1:] == ["the smallest input found:", "  Z = [0.]", "expected:", "  [0.5]",
                                    "yours:", "  [0.]"]
    assert "Z = [0.]" in capsys.readouterr().out


def loss_and_grad_squeezing_H(params, X, objective):
    """Right for every m > 1; for m = 1, ``np.squeeze`` drops the sample axis and ``rho_hat``
    becomes the mean over the hidden units."""
    W1, b1, W2, b2 = params.W1, params.b1, params.W2, params.b2
    m = X.shape[0]
    rho, beta, lam = objective.rho, objective.beta, objective.weight_decay
    H = student_sigmoid(X @ W1.T + b1)
    rho_hat = np.squeeze(H).mean(axis=0)
    Xhat = student_sigmoid(H @ W2.T + b2)
    loss = (np.sum((Xhat - X) ** 2) / (2 * m) + lam / 2 * (np.sum(W1**2) + np.sum(W2**2))
            + beta * np.sum(student_kl(rho, rho_hat)))
    D3 = (Xhat - X) * Xhat * (1 - Xhat) / m
    D2 = (D3 @ W2 + student_delta(rho, rho_hat, beta, m)) * H * (1 - H)
    return loss, {"dW1": D2.T @ X + lam * W1, "db1": D2.sum(0), "dW2": D3.T @ H + lam * W2, "db2": D3.sum(0)}


@settings(max_examples=25)
@given(problems(max_m=6, max_n=4, max_k=4, objective=Objective(rho=0.1, beta=3.0, weight_decay=0.01)))
def test_the_squeeze_bug_is_right_for_every_m_above_1(problem) -> None:
    params, X, objective = problem
    X = np.vstack([X, X[::-1] / 2])  # m >= 2
    loss, grads = loss_and_grad_squeezing_H(params, X, objective)
    expected_loss, expected = numpy_ref.loss_and_grad(params, X, objective)
    assert loss == pytest.approx(expected_loss, rel=1e-10)
    for name in expected:
        np.testing.assert_allclose(grads[f"d{name}"], expected[name], rtol=1e-9, atol=1e-13)


def test_a_bug_only_at_m_1_is_found_and_shrunk_to_m_1(capsys) -> None:
    feedback = check_backprop(loss_and_grad_squeezing_H)
    assert not feedback.passed and feedback.status in ("failed", "could not run")
    assert feedback.details[1] == "the smallest input found:"
    assert feedback.details[2].startswith("  m = 1, "), feedback.details
    assert "m = 1, " in capsys.readouterr().out


# ----------------------------------------------------------------------------- student bugs


@_ids
def test_exceptions_in_student_code_could_not_run_with_their_line(checker, capsys) -> None:
    def broken(*args):
        values = list(args)
        return values[10]  # IndexError

    feedback = checker(broken)
    assert not feedback.passed and feedback.status == "could not run"
    assert "IndexError" in feedback.details[0] and "return values[10]" in feedback.details[0]
    assert FAIL_MARK in capsys.readouterr().out


@_ids
def test_not_implemented_yet_is_not_done(checker, capsys) -> None:
    def stub(*args):
        raise NotImplementedError()

    feedback = checker(stub)
    assert not feedback.passed and feedback.status == "not done" and "not done yet" in feedback.hint
    assert capsys.readouterr().out.startswith(f"{NOT_DONE_MARK} ")


@_ids
def test_a_missing_return_could_not_run(checker) -> None:
    feedback = checker(lambda *args: None, verbose=False)
    assert feedback.status == "could not run" and "forget `return" in feedback.details[0]


@_ids
def test_passing_something_not_callable_is_explained(checker) -> None:
    feedback = checker(3.0, verbose=False)
    assert feedback.status == "could not run" and "expected a function, got float" in feedback.details[0]


def _transposed_dW1(params, X, objective):
    loss, g = student_loss_and_grad(params, X, objective)
    g["dW1"] = g["dW1"].T
    return loss, g


WRONG_SHAPES = [
    (check_sigmoid, lambda Z: student_sigmoid(Z).ravel(), "your result has shape"),
    (check_kl_divergence, lambda rho, r: student_kl(rho, r)[:-1], "your result has shape (0,)"),
    (check_gradient_checker, lambda J, theta, eps: np.zeros(theta.size + 1), "your result has shape"),
    (check_backprop, _transposed_dW1, "(it is transposed)"),
    (check_backprop, lambda p, X, o: (1.0, "grads"), "grads must be a tinysae.Params"),
    (check_backprop, lambda p, X, o: 1.0, "return a pair (loss, grads)"),
]


@pytest.mark.parametrize(("checker", "function", "message"), WRONG_SHAPES)
def test_a_wrong_shape_could_not_run(checker, function, message) -> None:
    feedback = checker(function, verbose=False)
    assert feedback.status == "could not run" and message in feedback.details[0], feedback.details


def test_nan_and_changed_inputs_are_reported() -> None:
    feedback = check_kl_divergence(lambda rho, r: student_kl(rho, r - 1), verbose=False)
    assert feedback.status == "failed" and any("nan" in line for line in feedback.details)

    def in_place(Z):
        Z *= -1.0
        return 1 / (1 + np.exp(Z))

    feedback = check_sigmoid(in_place, verbose=False)
    assert "changed one of its inputs in place" in feedback.details[0]


def test_theta_left_changed_is_named_not_restored() -> None:
    def not_restored(J, theta, eps):
        grad = np.zeros_like(theta)
        for index in np.ndindex(theta.shape):
            theta[index] += eps
            plus = J(theta)
            theta[index] -= 2 * eps
            grad[index] = (plus - J(theta)) / (2 * eps)
        return grad

    feedback = check_gradient_checker(not_restored, verbose=False)
    assert feedback.mistake == "not_restored" and "changed one of its inputs" in feedback.details[0]


def test_flattening_theta_before_calling_J_is_explained() -> None:
    feedback = check_gradient_checker(lambda J, theta, eps: student_numerical_gradient(J, theta.ravel(), eps),
                                      verbose=False)
    assert feedback.status == "could not run" and "J was called with an array of shape" in feedback.details[0]


def test_a_call_that_runs_past_its_timeout_could_not_run() -> None:
    def endless(Z):
        while True:
            Z = Z + 0

    feedback = check_sigmoid(endless, verbose=False, timeout=0.2)
    assert feedback.status == "could not run" and "did not return within 0.2 s" in feedback.details[0]


@pytest.mark.parametrize("period", [2, 3])
def test_answers_that_change_from_call_to_call_are_said_to(period: int) -> None:
    """A sigmoid wrong on every ``period``-th call (as a racy kernel is, now and then): the search
    meets a wrong answer that is right when called again, and the feedback says its answers change
    between calls instead of showing an "expected" equal to "yours"."""
    calls = iter(range(10**6))

    def unsteady(Z):
        return expit(Z) + (next(calls) % period == 0)

    feedback = check_sigmoid(unsteady, verbose=False)
    assert feedback.status == "failed" and feedback.mistake is None
    assert "change from call to call" in feedback.details[0]
    assert "expected:" not in feedback.details


def test_feedback_repr_is_one_line_and_str_has_the_details() -> None:
    feedback = check_sparsity_delta(DELTA_MISTAKES[0].compute, verbose=False)
    assert repr(feedback) == "Feedback(exercise='sparsity_delta', passed=False, mistake='no_1_over_m')"
    text = str(feedback)
    assert text.splitlines()[0] == f"{FAIL_MARK} sparsity_delta: not yet"
    assert f"hint: {DELTA_MISTAKES[0].hint}" in text and "m = 2" in text


# ----------------------------------------------------------------------------- comparison, references


finite = st.floats(-1e6, 1e6)


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2),
                  elements=st.one_of(finite, st.sampled_from([np.nan, np.inf, -np.inf]))))
def test_agree_matches_an_array_to_itself_nan_and_infinities_included(a) -> None:
    assert search.agree(a, a.copy())
    assert not search.agree(a, a[..., None])


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=finite), st.floats(1e-5, 1.0))
def test_agree_tells_a_relative_change_from_rounding(a, change) -> None:
    scale = float(np.max(np.abs(a), initial=0.0))
    assert search.agree(a, a * (1 + 1e-12))
    if scale > 1e-6:
        assert not search.agree(a, a + change * scale)


OUTPUTS = ("dW1", "db1", "dW2")


@given(st.lists(hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=3), elements=st.integers(-3, 3)),
                min_size=3, max_size=3), st.lists(st.booleans(), min_size=3, max_size=3))
def test_judge_arrays_names_the_wrong_outputs_and_the_right_ones(expected, spoiled) -> None:
    got = [a + 1.0 if bad else a.copy() for a, bad in zip(expected, spoiled)]
    problem = arrays.judge_arrays(OUTPUTS)((), tuple(got), tuple(expected))
    wrong = [name for name, bad in zip(OUTPUTS, spoiled) if bad]
    right = [name for name, bad in zip(OUTPUTS, spoiled) if not bad]
    if not wrong:
        assert problem is None
    else:
        assert problem.startswith(f"{' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} wrong")
        assert (f"({' and '.join(right)} " in problem) == bool(right)


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=3), elements=st.integers(-3, 3)))
def test_parse_arrays_keeps_the_arrays_of_a_wrong_shape_unless_a_mistake_has_that_shape(a) -> None:
    parsed = arrays.parse_arrays([a, a.tolist()], ("x", "y"), (a.shape, a.shape))
    assert all(np.array_equal(p, a) and p.dtype == np.float64 for p in parsed)
    wrong = (*a.shape, 1)
    with pytest.raises(search.Unusable, match=r"y has shape .*, expected") as raised:
        arrays.parse_arrays((a, a), ("x", "y"), (a.shape, wrong))
    assert all(np.array_equal(p, a) for p in raised.value.value)
    allowed = arrays.parse_arrays((a, a), ("x", "y"), (a.shape, wrong), allowed=lambda i, shape: i == 1)
    assert allowed[1].shape == a.shape


@settings(max_examples=25)
@given(problems(objective=Objective(rho=0.1, beta=2.0, weight_decay=0.01)))
def test_backprop_variant_without_mistake_is_the_reference(problem) -> None:
    params, X, objective = problem
    loss, grads = numpy_ref.loss_and_grad(params, X, objective)
    out = backprop._backprop_variant(params, X, objective)
    assert out["loss"] == pytest.approx(loss, rel=1e-12)
    assert tuple(grads) == ("W1", "b1", "W2", "b2")
    for name, expected in grads.items():
        np.testing.assert_allclose(out[f"d{name}"], expected, rtol=1e-10, atol=1e-14)


@settings(max_examples=25)
@given(problems(max_m=4, max_n=3, max_k=3, objective=Objective(rho=0.1, beta=2.0, weight_decay=0.01)))
def test_finite_difference_without_mistake_is_tinysaes_numerical_gradient(problem) -> None:
    params, X, objective = problem

    def J(theta):
        return numpy_ref.terms(params.unflatten(theta), X, objective).loss

    theta = params.flatten()
    np.testing.assert_allclose(gradient._finite_difference(J, theta, 1e-5),
                               numerical_gradient(J, theta, 1e-5), rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- student versions


def _notebook(*sources: str) -> dict:
    """A valid nbformat 4.5 notebook (every cell has an id): a markdown cell, then one code cell
    per source, each with an output."""
    markdown = "# Lesson\n### BEGIN SOLUTION stays in markdown"
    cells = [{"cell_type": "markdown", "id": "cell-0", "metadata": {}, "source": markdown}]
    for number, source in enumerate(sources, start=1):
        cells.append({"cell_type": "code", "id": f"cell-{number}", "metadata": {}, "execution_count": 3,
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}],
                      "source": source.splitlines(keepends=True)})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_strip_solutions_replaces_each_block_at_its_indentation(tmp_path) -> None:
    source = tmp_path / "lesson.ipynb"
    source.write_text(json.dumps(_notebook(
        "def kl(rho, r):\n    \"\"\"doc\"\"\"\n    ### BEGIN SOLUTION\n    return rho * np.log(rho / r)\n"
        "    ### END SOLUTION",
        "check(kl)",
    )))
    blocks = strip_solutions(source, tmp_path / "student" / "lesson.ipynb")
    student = json.loads((tmp_path / "student" / "lesson.ipynb").read_text())
    assert blocks == 1
    code = [cell for cell in student["cells"] if cell["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == (
        "def kl(rho, r):\n    \"\"\"doc\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError()")
    assert "".join(code[1]["source"]) == "check(kl)"
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)
    assert student["cells"][0]["source"].endswith("stays in markdown")


@pytest.mark.parametrize("source", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_strip_solutions_refuses_unbalanced_markers(tmp_path, source) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(_notebook(source)))
    with pytest.raises(ValueError, match="cell 2"):
        strip_solutions(path, tmp_path / "out.ipynb")


def test_student_version_command_line(tmp_path, capsys) -> None:
    source = tmp_path / "lesson.ipynb"
    source.write_text(json.dumps(_notebook("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")))
    assert solutions.main([str(source), str(tmp_path / "out.ipynb")]) == 0
    assert "1 solution block(s)" in capsys.readouterr().out
