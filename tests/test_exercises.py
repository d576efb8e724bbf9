"""tinysae.exercises: right answers pass, every known mistake is named, student bugs are reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from scipy.special import expit
from strategies import problems

from tinysae import exercises
from tinysae.autograd import numerical_gradient
from tinysae.backends import numpy_ref
from tinysae.exercises import (
    BACKPROP_MISTAKES,
    DELTA_MISTAKES,
    FAIL_MARK,
    GRADIENT_MISTAKES,
    KL_MISTAKES,
    PASS_MARK,
    S_MISTAKES,
    SIGMOID_MISTAKES,
    Feedback,
    backprop,
    check_backprop,
    check_gradient_checker,
    check_kl_divergence,
    check_kl_gradient,
    check_sigmoid,
    check_sparsity_delta,
    gradient,
    solutions,
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
#: Every checker tinysae.exercises exports (lessons 4 and 5's too, whose right answers are in
#: tests/test_exercises_variants.py): the student-bug tests below run on each.
CHECKERS = [getattr(exercises, name) for name in exercises.__all__ if name.startswith("check_")]


@pytest.mark.parametrize(("checker", "solution"), CORRECT, ids=lambda x: getattr(x, "__name__", ""))
def test_correct_solutions_pass_and_say_so(checker, solution, capsys) -> None:
    feedback = checker(solution)
    assert isinstance(feedback, Feedback)
    assert feedback.passed and feedback.hint is None and feedback.mistake is None
    assert max(feedback.errors.values()) < 1e-9
    printed = capsys.readouterr().out
    assert printed.startswith(PASS_MARK) and FAIL_MARK not in printed


def test_backprop_accepts_params_tuple_or_dict_for_grads() -> None:
    def as_params(params, X, objective):
        loss, g = student_loss_and_grad(params, X, objective)
        return loss, Params(W1=g["dW1"], b1=g["db1"], W2=g["dW2"], b2=g["db2"])

    def as_tuple(params, X, objective):
        loss, g = student_loss_and_grad(params, X, objective)
        return np.array([loss]), (g["dW1"], g["db1"], g["dW2"], g["db2"])

    assert check_backprop(as_params, verbose=False).passed
    assert check_backprop(as_tuple, verbose=False).passed


# ----------------------------------------------------------------------------- known mistakes


def _single(mistakes):
    return pytest.mark.parametrize("mistake", mistakes, ids=[m.key for m in mistakes])


SINGLE_FUNCTION_MISTAKES = [
    pytest.param(checker, mistake, id=f"{checker.__name__}-{mistake.key}")
    for checker, mistakes in (
        (check_sigmoid, SIGMOID_MISTAKES),
        (check_kl_divergence, KL_MISTAKES),
        (check_kl_gradient, S_MISTAKES),
        (check_sparsity_delta, DELTA_MISTAKES),
    )
    for mistake in mistakes
]


@pytest.mark.parametrize(("checker", "mistake"), SINGLE_FUNCTION_MISTAKES)
def test_each_known_mistake_gets_its_hint(checker, mistake) -> None:
    feedback = checker(mistake.compute, verbose=False)
    assert not feedback.passed and feedback.mistake == mistake.key and feedback.hint == mistake.hint


def test_forgetting_one_over_m_names_it_in_plain_words(capsys) -> None:
    def forgot_m(rho, rho_hat, beta, m):
        return beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))

    feedback = check_sparsity_delta(forgot_m)
    assert feedback.mistake == "no_1_over_m"
    printed = capsys.readouterr().out
    assert printed.startswith(FAIL_MARK) and "did you forget the 1/m in beta * s / m?" in printed
    assert "relative error" in printed and "worst entry" in printed


def test_summing_the_kl_is_a_shape_mismatch_with_its_hint() -> None:
    feedback = check_kl_divergence(lambda rho, r: np.sum(student_kl(rho, r)), verbose=False)
    assert feedback.mistake == "summed"
    assert any("has shape ()" in line and "expected (7,)" in line for line in feedback.details)


@_single(BACKPROP_MISTAKES)
def test_each_backprop_mistake_gets_its_hint_on_the_outputs_it_breaks(mistake) -> None:
    def buggy(params, X, objective):
        out = backprop._backprop_variant(params, X, objective, mistake.key)
        return float(out["loss"]), Params(W1=out["dW1"], b1=out["db1"], W2=out["dW2"], b2=out["db2"])

    feedback = check_backprop(buggy, verbose=False)
    assert not feedback.passed and feedback.mistake == mistake.key
    assert mistake.hint in feedback.hint
    right = backprop._backprop_variant(*backprop._backprop_cases()[0][:3])
    wrong = backprop._backprop_variant(*backprop._backprop_cases()[0][:3], mistake.key)
    for name in backprop.BACKPROP_OUTPUTS:  # the feedback marks exactly the outputs that differ
        differs = not np.allclose(right[name], wrong[name], rtol=1e-9, atol=0)
        mark = FAIL_MARK if differs else PASS_MARK
        assert any(line.startswith(f"{mark} {name}") for line in feedback.details)


def test_backprop_feedback_is_per_parameter(capsys) -> None:
    def forgot_decay_in_dW1_only(params, X, objective):
        loss, g = student_loss_and_grad(params, X, objective)
        g["dW1"] = g["dW1"] - objective.weight_decay * params.W1
        return loss, g

    feedback = check_backprop(forgot_decay_in_dW1_only)
    printed = capsys.readouterr().out
    assert f"{FAIL_MARK} dW1" in printed
    for name in ("loss", "db1", "dW2", "db2"):
        assert f"{PASS_MARK} {name}" in printed
    assert feedback.mistake == "no_decay_gradient" and "(dW1)" in feedback.hint


def test_two_mistakes_at_once_are_localised() -> None:
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
    assert not feedback.passed and feedback.mistake is None
    assert "dW2 and db2 are right" in feedback.hint


@_single(GRADIENT_MISTAKES)
def test_each_numerical_gradient_mistake_gets_its_hint(mistake) -> None:
    def buggy(J, theta, eps):
        return gradient._finite_difference(J, theta, eps, mistake.key)

    feedback = check_gradient_checker(buggy, verbose=False)
    assert not feedback.passed and feedback.mistake == mistake.key and feedback.hint == mistake.hint


def test_a_checker_that_forgets_to_restore_theta_in_place_is_caught() -> None:
    def not_restored(J, theta, eps):
        grad = np.zeros_like(theta)
        for index in np.ndindex(theta.shape):
            theta[index] += eps
            plus = J(theta)
            theta[index] -= 2 * eps
            grad[index] = (plus - J(theta)) / (2 * eps)
        return grad

    feedback = check_gradient_checker(not_restored, verbose=False)
    assert feedback.mistake == "not_restored" and "put theta[i] back" in feedback.hint


def test_flattening_theta_before_calling_J_is_explained() -> None:
    def flattens(J, theta, eps):
        return student_numerical_gradient(J, theta.ravel().copy(), eps)

    feedback = check_gradient_checker(flattens, verbose=False)
    assert not feedback.passed
    assert any("J was called with an array of shape (12,)" in line for line in feedback.details)


# ----------------------------------------------------------------------------- student bugs


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_exceptions_in_student_code_are_reported_with_their_line(checker, capsys) -> None:
    def broken(*args):
        values = list(args)
        return values[10]  # IndexError

    feedback = checker(broken)
    assert not feedback.passed
    message = " ".join(feedback.details)
    assert "IndexError" in message and "return values[10]" in message
    assert FAIL_MARK in capsys.readouterr().out


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_not_implemented_yet_gets_its_own_hint(checker) -> None:
    def stub(*args):
        raise NotImplementedError()

    feedback = checker(stub, verbose=False)
    assert not feedback.passed and "not done yet" in feedback.hint


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_a_missing_return_is_named(checker) -> None:
    feedback = checker(lambda *args: None, verbose=False)
    assert not feedback.passed and any("forget `return" in line for line in feedback.details)


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda c: c.__name__)
def test_passing_something_not_callable_is_explained(checker) -> None:
    feedback = checker(3.0, verbose=False)
    assert not feedback.passed and "expected a function, got float" in feedback.details[0]


def test_transposed_gradient_is_a_shape_mismatch_that_says_transpose() -> None:
    def transposed(params, X, objective):
        loss, g = student_loss_and_grad(params, X, objective)
        g["dW1"] = g["dW1"].T
        return loss, g

    feedback = check_backprop(transposed, verbose=False)
    text = "\n".join(feedback.details)
    assert "dW1 has shape (5, 3), expected (3, 5)" in text and "right but transposed" in text


def test_wrong_shapes_are_reported() -> None:
    feedback = check_sigmoid(lambda Z: student_sigmoid(Z).ravel(), verbose=False)
    text = "\n".join(feedback.details)
    assert "has shape (12,), expected (4, 3)" in text and "reshape it to (4, 3)" in text
    feedback = check_kl_divergence(lambda rho, r: student_kl(rho, r)[:-1], verbose=False)
    assert any("shape (6,), expected (7,)" in line for line in feedback.details)
    feedback = check_backprop(lambda p, X, o: (1.0, "grads"), verbose=False)
    assert "grads must be a tinysae.Params" in feedback.details[1]
    feedback = check_backprop(lambda p, X, o: 1.0, verbose=False)
    assert "return a pair (loss, grads)" in feedback.details[1]


def test_nan_and_changed_inputs_are_reported() -> None:
    feedback = check_kl_divergence(lambda rho, r: student_kl(rho, r - 1), verbose=False)
    assert any("contains nan" in line for line in feedback.details)

    def in_place(Z):
        Z *= -1.0
        return 1 / (1 + np.exp(Z))

    feedback = check_sigmoid(in_place, verbose=False)
    assert any("changed its input Z in place" in line for line in feedback.details)


def test_feedback_repr_is_one_line_and_str_has_the_details() -> None:
    feedback = check_sparsity_delta(DELTA_MISTAKES[0].compute, verbose=False)
    assert repr(feedback) == ("Feedback(exercise='sparsity_delta (beta * s / m)', passed=False, "
                              "mistake='no_1_over_m')")
    assert str(feedback).splitlines()[0] == f"{FAIL_MARK} sparsity_delta (beta * s / m): not yet"
    assert "hint: did you forget the 1/m" in str(feedback)


# ----------------------------------------------------------------------------- the references used


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
    markdown = "# Lesson\n### BEGIN SOLUTION stays in markdown"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": markdown}]
    for source in sources:
        cells.append({"cell_type": "code", "metadata": {}, "execution_count": 3,
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
