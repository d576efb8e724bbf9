r"""The numerical-gradient exercise: ``numerical_gradient(J, theta, eps)``.

The answer must be the central differences
:math:`n_i = (J(\theta + \varepsilon e_i) - J(\theta - \varepsilon e_i)) / 2\varepsilon` for every
entry ``i`` of ``theta`` (any shape; the result has ``theta``'s shape). It is compared with the
exact gradients of three smooth functions; :func:`_finite_difference` recomputes the differences
with each known mistake (forward differences, a wrong divisor, ``theta`` not restored, ...) so a
wrong answer can be named.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinysae.exercises.feedback import (
    Case,
    Feedback,
    Mistake,
    _as_array,
    _compare,
    _matching_mistake,
    _not_a_function,
    _report,
    _run_case,
)

__all__ = ["GRADIENT_EPS", "GRADIENT_MISTAKES", "check_gradient_checker"]

#: The step ``check_gradient_checker`` passes to the student's numerical gradient.
GRADIENT_EPS = 1e-5


def _finite_difference(fun: Callable[[np.ndarray], float], theta: np.ndarray, eps: float,
                       mistake: str | None = None) -> np.ndarray:
    r"""Central differences :math:`(f(\theta + \varepsilon e_i) - f(\theta - \varepsilon e_i)) / 2\varepsilon`
    over every entry of ``theta``, or one known ``mistake`` made on purpose."""
    x = np.array(theta, dtype=np.float64)
    grad = np.zeros_like(x)
    if mistake == "all_at_once":
        return np.full_like(x, (fun(x + eps) - fun(x - eps)) / (2 * eps))
    if mistake == "rows_only":
        for i in range(x.shape[0]):
            x[i] += eps
            plus = fun(x)
            x[i] -= 2 * eps
            minus = fun(x)
            x[i] += eps
            grad[i] = (plus - minus) / (2 * eps)
        return grad
    center = fun(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = fun(x)
        x[index] = saved - eps
        minus = fun(x)
        if mistake != "not_restored":
            x[index] = saved
        if mistake == "forward":
            grad[index] = (plus - center) / eps
        elif mistake == "backward":
            grad[index] = (center - minus) / eps
        elif mistake == "over_eps":
            grad[index] = (plus - minus) / eps
        elif mistake == "no_division":
            grad[index] = plus - minus
        else:
            grad[index] = (plus - minus) / (2 * eps)
    return grad


GRADIENT_MISTAKES = [
    Mistake("forward", "that is the forward difference (J(theta + eps e_i) - J(theta)) / eps, whose "
            "error is O(eps); use central differences (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps), "
            "whose error is O(eps^2)"),
    Mistake("backward", "that is the backward difference (J(theta) - J(theta - eps e_i)) / eps, whose "
            "error is O(eps); use central differences (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)"),
    Mistake("over_eps", "divide by 2 * eps: theta + eps e_i and theta - eps e_i are 2 eps apart"),
    Mistake("no_division", "divide the difference J(theta + eps e_i) - J(theta - eps e_i) by 2 * eps"),
    Mistake("not_restored", "put theta[i] back after perturbing it: each entry must be perturbed "
            "from the original theta, with every other entry unchanged"),
    Mistake("all_at_once", "perturb one entry at a time: theta + eps e_i changes entry i only "
            "(e_i is the i-th basis vector), not every entry"),
    Mistake("rows_only", "for a matrix theta, `for i in range(len(theta))` walks over rows; visit every "
            "entry with `for index in np.ndindex(theta.shape)`"),
]


def _gradient_cases() -> list[tuple[Callable[[np.ndarray], float], np.ndarray, np.ndarray, str]]:
    """``(fun, theta, exact gradient, description)`` for smooth test functions whose gradients
    are known in closed form: a vector, a matrix, and a coupled function."""
    rng = np.random.default_rng(6)
    c, A = rng.normal(size=6), rng.normal(size=(6, 6))
    A = A @ A.T / 6
    B = rng.uniform(0.5, 1.5, size=(3, 4))
    theta1, theta2, theta3 = rng.normal(size=6), rng.normal(size=(3, 4)), rng.normal(size=5)
    return [
        (lambda t: float(np.sum(c * np.sin(t)) + 0.5 * t @ A @ t), theta1, c * np.cos(theta1) + A @ theta1,
         "J(theta) = sum(c * sin(theta)) + theta^T A theta / 2, theta of shape (6,)"),
        (lambda t: float(np.sum(np.exp(0.5 * t)) + np.sum(B * t**2)), theta2,
         0.5 * np.exp(0.5 * theta2) + 2 * B * theta2,
         "J(theta) = sum(exp(theta / 2)) + sum(B * theta^2), theta a (3, 4) matrix"),
        (lambda t: float(np.log(1 + np.sum(t**2))), theta3, 2 * theta3 / (1 + np.sum(theta3**2)),
         "J(theta) = log(1 + ||theta||^2), theta of shape (5,)"),
    ]


def _shape_guard(fun: Callable[[np.ndarray], float], shape: tuple[int, ...]) -> Callable[[np.ndarray], float]:
    """``fun``, refusing (with a clear message) an argument whose shape is not ``shape``."""
    def guarded(theta: np.ndarray) -> float:
        theta = np.asarray(theta)
        if theta.shape != shape:
            raise ValueError(f"J was called with an array of shape {theta.shape}, but theta has shape "
                             f"{shape}: perturb a copy of theta itself")
        return fun(theta)
    return guarded


def check_gradient_checker(student_numerical_gradient: Callable[..., np.ndarray],
                           verbose: bool = True) -> Feedback:
    r"""Check ``student_numerical_gradient(J, theta, eps)``, which must return the central
    differences

    .. math:: n_i = \frac{J(\theta + \varepsilon e_i) - J(\theta - \varepsilon e_i)}{2\varepsilon}

    for every entry ``i`` of ``theta`` (any shape; the result has ``theta``'s shape). It is
    called with ``eps = 1e-5`` on three smooth functions whose exact gradients are known, and
    passes when its relative error against them is at most :data:`TOLERANCE` (central
    differences score about 1e-10 here; forward differences about 1e-5).
    """
    exercise = "numerical_gradient"
    if not callable(student_numerical_gradient):
        return _report(_not_a_function(exercise, student_numerical_gradient), verbose)
    worst = 0.0
    cases = _gradient_cases()
    for number, (fun, theta, exact, description) in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)}: {description}"
        fun = _shape_guard(fun, theta.shape)
        case = Case((fun, theta.copy(), GRADIENT_EPS), ("J", "theta", "eps"), description)
        value, changed, failure = _run_case(exercise, student_numerical_gradient, case, where)
        if failure is not None:
            return _report(failure, verbose)
        if changed:
            return _report(Feedback(exercise, False, [where, "your function left theta changed"],
                                    hint=GRADIENT_MISTAKES[4].hint + " (or work on a copy of theta)",
                                    mistake="not_restored"), verbose)
        got, problem = _as_array(value, "your gradient")
        if problem is not None:
            return _report(Feedback(exercise, False, [where, problem]), verbose)
        error, lines = _compare("your gradient", got, exact)
        if lines:
            variants = [(mistake, _finite_difference(fun, theta, GRADIENT_EPS, mistake.key))
                        for mistake in GRADIENT_MISTAKES if mistake.key != "rows_only" or theta.ndim > 1]
            mistake = _matching_mistake(got, exact, variants)
            return _report(Feedback(exercise, False, [where, *lines], hint=mistake.hint if mistake else None,
                                    mistake=mistake.key if mistake else None,
                                    errors={"gradient": error}), verbose)
        worst = max(worst, error)
    return _report(Feedback(exercise, True, errors={"gradient": worst}), verbose)
