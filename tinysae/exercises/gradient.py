r"""The searching checker of the numerical-gradient exercise: ``numerical_gradient(J, theta, eps)``.

The answer is the central-difference estimate of the gradient of the scalar function ``J`` at
``theta``: for every entry of ``theta`` (any shape), the slope of ``J`` between the two points
where that entry alone is moved by ``eps`` down and up. It has ``theta``'s shape.

The search (:mod:`tinysae.exercises.search`) draws ``J`` from a few smooth functions (separable
ones and ones that couple the entries, so that an entry left perturbed shows), ``theta`` with
one to three axes of one to three entries each, small integer values (zeros included), and
passes ``eps =`` :data:`GRADIENT_EPS`. The expected answer is the same estimate computed by
:func:`_finite_difference`, which also makes each known mistake on purpose (forward
differences, a wrong divisor, ``theta`` not restored, ...) so a wrong answer can be named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinysae.exercises.arrays import array_answer, judge_array
from tinysae.exercises.feedback import Feedback, Mistake
from tinysae.exercises.search import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIMEOUT,
    Check,
    Exercise,
    run_exercise,
    show_array,
)

__all__ = ["GRADIENT_EPS", "GRADIENT_MISTAKES", "check_gradient_checker"]

#: The step ``check_gradient_checker`` passes to the student's numerical gradient.
GRADIENT_EPS = 1e-5


def _finite_difference(fun: Callable[[np.ndarray], float], theta: np.ndarray, eps: float,
                       mistake: str | None = None) -> np.ndarray:
    """The central-difference estimate of ``fun``'s gradient at ``theta`` (computed on a copy), or
    one known ``mistake`` made on purpose (``None``: no mistake)."""
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


def _named(key: str, hint: str) -> Mistake:
    return Mistake(key, hint, lambda J, theta, eps: _finite_difference(J, theta, eps, key))


GRADIENT_MISTAKES = [
    _named("forward", "that is the forward difference, which moves the entry one way only: its error "
           "shrinks only as fast as eps does; move the entry both ways, down and up, and take the "
           "slope between those two points"),
    _named("backward", "that is the backward difference, which moves the entry one way only: its error "
           "shrinks only as fast as eps does; move the entry both ways, down and up, and take the "
           "slope between those two points"),
    _named("over_eps", "your estimates are twice too large: the two points where the entry is moved "
           "down and up lie two steps of eps apart"),
    _named("no_division", "you returned the change in J without dividing it by the distance between "
           "the two points: a slope is a change in J per change in theta"),
    _named("not_restored", "an entry stays moved after its turn: put each entry back before moving "
           "the next, so that every estimate starts from the original theta (or work on a copy)"),
    _named("all_at_once", "every entry was moved at once: move one entry at a time, the others kept "
           "where they are, to get the slope along that entry alone"),
    _named("rows_only", "for a matrix theta your loop visits whole rows, moving a row at once: visit "
           "every entry, whatever the number of axes"),
]


# ----------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class _Function:
    """A scalar function of ``theta`` that names itself and refuses an argument of another shape
    than the ``theta`` it is checked at (a student who flattened or reshaped it)."""

    text: str
    value: Callable[[np.ndarray], float]
    shape: tuple[int, ...]

    def __call__(self, theta: np.ndarray) -> float:
        theta = np.asarray(theta)
        if theta.shape != self.shape:
            raise ValueError(f"J was called with an array of shape {theta.shape}, but theta has shape "
                             f"{self.shape}: perturb a copy of theta itself")
        return float(self.value(theta))

    def __repr__(self) -> str:
        return f"J(theta) = {self.text}"


#: The functions drawn: separable ones first (each entry's slope its own), then coupled ones.
FUNCTIONS = [
    ("sum(theta ** 2)", lambda t: np.sum(t**2)),
    ("sum(theta ** 3)", lambda t: np.sum(t**3)),
    ("sum(exp(theta / 2))", lambda t: np.sum(np.exp(t / 2))),
    ("sum(theta) ** 2", lambda t: np.sum(t) ** 2),
    ("log(1 + sum(theta ** 2))", lambda t: np.log(1 + np.sum(t**2))),
]


@st.composite
def _inputs(draw: st.DrawFn) -> tuple[_Function, np.ndarray, float]:
    theta = draw(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
                            elements=st.integers(-2, 2).map(float)))
    text, value = draw(st.sampled_from(FUNCTIONS))
    return _Function(text, value, theta.shape), theta, GRADIENT_EPS


def _probe() -> tuple[_Function, np.ndarray, float]:
    """A generic input (a coupled function, a 2 x 3 theta) on which every known mistake gives its
    own answer."""
    theta = np.array([[0.3, -1.2, 0.8], [1.5, -0.4, 0.1]])
    text, value = FUNCTIONS[-1]
    return _Function(text, value, theta.shape), theta, GRADIENT_EPS


_GRADIENT = Exercise(
    name="numerical_gradient",
    checks=[Check("smooth functions, theta of 1 to 3 axes", _inputs())],
    reference=_finite_difference,
    parse=lambda value, args: array_answer(value, args[1].shape),
    judge=judge_array,
    describe=lambda args: [repr(args[0]), f"theta = {show_array(args[1])}", f"eps = {args[2]:g}"],
    show=lambda answer: [show_array(answer)],
    mistakes=GRADIENT_MISTAKES,
    probes=[_probe()],
)


def check_gradient_checker(student_numerical_gradient: Callable[..., np.ndarray], verbose: bool = True, *,
                           max_examples: int = DEFAULT_EXAMPLES,
                           timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for a smooth ``J`` and a ``theta`` (one to three axes) where
    ``student_numerical_gradient(J, theta, eps)``, called with ``eps =`` :data:`GRADIENT_EPS`, is
    not the central-difference estimate of ``J``'s gradient at ``theta`` (of ``theta``'s shape);
    print and return the feedback."""
    return run_exercise(_GRADIENT, student_numerical_gradient, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)
