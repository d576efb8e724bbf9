r"""Searching checkers for the sparsity exercises, each with its table of known mistakes.

With ``rho`` a float in (0, 1), the target activation, and ``rho_hat`` of shape ``(k,)`` in
(0, 1), each hidden unit's mean activation over the ``m`` samples:

* :func:`check_sigmoid`: ``sigmoid(Z)``, the logistic sigmoid of every entry of ``Z`` (any shape;
  the result has ``Z``'s shape);
* :func:`check_kl_divergence`: ``kl_divergence(rho, rho_hat)``, the KL divergence from the
  Bernoulli rate ``rho`` to each unit's rate ``rho_hat[j]``, shape ``(k,)``;
* :func:`check_kl_gradient`: ``kl_gradient(rho, rho_hat)``, ``s``: the derivative of each unit's
  divergence with respect to its own ``rho_hat[j]``, shape ``(k,)``;
* :func:`check_sparsity_delta`: ``sparsity_delta(rho, rho_hat, beta, m)``, the gradient of the
  sparsity term (the divergences summed over the units and weighted by ``beta``) with respect to
  one sample's activations ``H[i, :]``, shape ``(k,)`` (the same for every sample).

Each checker searches (:mod:`tinysae.exercises.search`) small inputs for one where the student's
answer is wrong: ``Z`` with zeros and entries as large as 1000 (where an exponential overflows),
``rho_hat`` on a grid reaching 1e-6 and 1 - 1e-6 and equal to ``rho`` (a divergence of 0), one
hidden unit, ``m = 1``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit

from tinysae.backends import numpy_ref
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

__all__ = [
    "DELTA_MISTAKES",
    "KL_MISTAKES",
    "SIGMOID_MISTAKES",
    "S_MISTAKES",
    "check_kl_divergence",
    "check_kl_gradient",
    "check_sigmoid",
    "check_sparsity_delta",
]

#: Target rates ``rho`` drawn (the first is what a shrunk counterexample shows).
RHOS = (0.1, 0.05, 0.2, 0.01, 0.5)
#: Unit rates ``rho_hat`` of the first search: a grid over (0, 1).
MODERATE_RATES = (0.5, 0.2, 0.8, 0.05, 0.3, 0.9, 0.01, 0.99)
#: Unit rates of the second search: close to 0 or to 1.
EXTREME_RATES = (1e-6, 1 - 1e-6, 1e-3, 1 - 1e-3)
#: Values of ``beta`` drawn (1 is left out: forgetting beta would not show).
BETAS = (3.0, 0.5, 0.0, 2.0)


def _show(answer: np.ndarray) -> list[str]:
    return [show_array(answer)]


def _exercise(name: str, checks: list[Check], reference: Callable[..., np.ndarray], shape_of: Callable,
              describe: Callable[[tuple], list[str]], mistakes: list[Mistake],
              probes: list[tuple]) -> Exercise:
    """An exercise whose answer is one array of shape ``shape_of(*args)``."""
    return Exercise(name=name, checks=checks, reference=reference,
                    parse=lambda value, args: array_answer(value, shape_of(*args)), judge=judge_array,
                    describe=describe, show=_show, mistakes=mistakes, probes=probes)


# ----------------------------------------------------------------------------- sigmoid


def _z_arrays(elements: st.SearchStrategy) -> st.SearchStrategy:
    return hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4), elements=elements)


_MODERATE_Z = st.integers(-4, 4).map(float) | st.floats(-8, 8).map(lambda z: round(z, 2))
_HUGE_Z = st.sampled_from([0.0, 1000.0, -1000.0, 30.0, -30.0, 100.0, -100.0, 1.0, -1.0])

SIGMOID_MISTAKES = [
    Mistake("sign", "the exponent's sign is flipped: your curve falls where the sigmoid rises (it "
            "should approach 1 for large positive inputs and 0 for large negative ones)",
            lambda Z: 1 / (1 + np.exp(Z))),
    Mistake("no_reciprocal", "you returned the denominator of the sigmoid, not the sigmoid: the "
            "sigmoid is one divided by it, and stays between 0 and 1", lambda Z: 1 + np.exp(-Z)),
    Mistake("derivative", "you returned the sigmoid's derivative instead of the sigmoid itself",
            lambda Z: expit(Z) * (1 - expit(Z))),
    Mistake("tanh", "you returned the hyperbolic tangent, which lies between -1 and 1; the sigmoid is "
            "a shifted and rescaled version of it, between 0 and 1", np.tanh),
    Mistake("overflow", "right on moderate inputs, but for large positive ones the exponential "
            "overflows to infinity and infinity divided by infinity gives nan: rearrange the "
            "expression so that no exponential of a large positive number is computed",
            lambda Z: np.exp(Z) / (1 + np.exp(Z))),
]

_SIGMOID = _exercise(
    "sigmoid",
    [Check("moderate inputs, any shape", _z_arrays(_MODERATE_Z).map(lambda Z: (Z,))),
     Check("huge inputs, where an exponential overflows", _z_arrays(_HUGE_Z).map(lambda Z: (Z,)))],
    expit, lambda Z: Z.shape, lambda args: [f"Z = {show_array(args[0])}"], SIGMOID_MISTAKES,
    [(np.array([-2.5, -0.5, 0.0, 1.5, 4.0]),)],
)


def check_sigmoid(student_sigmoid: Callable[[np.ndarray], np.ndarray], verbose: bool = True, *,
                  max_examples: int = DEFAULT_EXAMPLES, timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for a ``Z`` (1 or 2 axes, up to 4 entries each, moderate, then as large as 1000 in
    size) where ``student_sigmoid(Z)`` is not the logistic sigmoid of every entry, of ``Z``'s shape;
    print and return the feedback."""
    return run_exercise(_SIGMOID, student_sigmoid, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)


# ----------------------------------------------------------------------------- KL divergence


def _kl(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    return numpy_ref.kl_divergence(rho, rho_hat)


def _s(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    return -rho / rho_hat + (1 - rho) / (1 - rho_hat)


@st.composite
def _rates(draw: st.DrawFn, grid: tuple[float, ...], with_beta_m: bool = False) -> tuple:
    """``(rho, rho_hat)`` (and ``beta``, ``m``): ``rho_hat (k,)``, k from 1 to 4, entries from
    ``grid`` or equal to ``rho``."""
    rho = draw(st.sampled_from(RHOS))
    rho_hat = np.array(draw(st.lists(st.sampled_from((*grid, rho)), min_size=1, max_size=4)))
    if not with_beta_m:
        return rho, rho_hat
    return rho, rho_hat, draw(st.sampled_from(BETAS)), draw(st.integers(1, 6))


def _describe_rates(args: tuple) -> list[str]:
    line = f"rho = {args[0]:g}, rho_hat = {show_array(args[1])}"
    if len(args) > 2:
        line += f", beta = {args[2]:g}, m = {args[3]}"
    return [line]


def _rate_checks(with_beta_m: bool = False) -> list[Check]:
    return [Check("rho_hat on a grid over (0, 1)", _rates(MODERATE_RATES, with_beta_m)),
            Check("rho_hat close to 0 or 1", _rates(EXTREME_RATES, with_beta_m))]


_PROBE_RATES = (0.1, np.array([0.05, 0.3, 0.8]))

KL_MISTAKES = [
    Mistake("swapped", "rho and rho_hat play each other's part: the divergence is measured from the "
            "target rate rho to each unit's rate, and it is not symmetric",
            lambda rho, r: _kl(r, np.full_like(r, rho))),
    Mistake("first_term_only", "only the term for a unit being active is there: the divergence "
            "between two Bernoulli rates also has a term for the unit being inactive",
            lambda rho, r: rho * np.log(rho / r)),
    Mistake("negated", "the sign is flipped: a KL divergence is never negative",
            lambda rho, r: -_kl(rho, r)),
    Mistake("log10", "the logarithm is in base 10: the divergence uses the natural logarithm",
            lambda rho, r: _kl(rho, r) / np.log(10)),
    Mistake("log2", "the logarithm is in base 2: the divergence uses the natural logarithm",
            lambda rho, r: _kl(rho, r) / np.log(2)),
    Mistake("summed", "you added up the hidden units: return one divergence per hidden unit (the sum "
            "over units comes later, in the loss)", lambda rho, r: np.sum(_kl(rho, r))),
]

_KL = _exercise("kl_divergence", _rate_checks(), _kl, lambda rho, r: r.shape, _describe_rates,
                KL_MISTAKES, [_PROBE_RATES])


def check_kl_divergence(student_kl: Callable[[float, np.ndarray], np.ndarray], verbose: bool = True, *,
                        max_examples: int = DEFAULT_EXAMPLES,
                        timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for a ``rho`` and a ``rho_hat (k,)`` where ``student_kl(rho, rho_hat)`` is not the KL
    divergence from the Bernoulli rate ``rho`` to each ``rho_hat[j]``, shape ``(k,)``; print and
    return the feedback."""
    return run_exercise(_KL, student_kl, max_examples=max_examples, timeout=timeout, verbose=verbose)


# ----------------------------------------------------------------------------- s and the sparsity delta


S_MISTAKES = [
    Mistake("s_negated", "the sign is flipped: where a unit is less active than the target, raising "
            "its rate lowers the divergence, so s is negative there", lambda rho, r: -_s(rho, r)),
    Mistake("s_first_term_only", "only the term for a unit being active was differentiated: the term "
            "for the unit being inactive depends on rho_hat too", lambda rho, r: -rho / r),
    Mistake("s_inner_derivative", "the second term's derivative has the wrong sign: the chain rule "
            "through one minus rho_hat brings a minus sign", lambda rho, r: -rho / r - (1 - rho) / (1 - r)),
    Mistake("s_swapped", "that is the derivative of the divergence with rho and rho_hat swapped: "
            "differentiate the divergence from rho to rho_hat, with respect to rho_hat",
            lambda rho, r: np.log(r / rho) - np.log((1 - r) / (1 - rho))),
    Mistake("s_is_kl", "you returned the divergence itself: s is its derivative with respect to "
            "rho_hat", _kl),
]

_S = _exercise("kl_gradient (s)", _rate_checks(), _s, lambda rho, r: r.shape, _describe_rates,
               S_MISTAKES, [_PROBE_RATES])


def check_kl_gradient(student_s: Callable[[float, np.ndarray], np.ndarray], verbose: bool = True, *,
                      max_examples: int = DEFAULT_EXAMPLES,
                      timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for a ``rho`` and a ``rho_hat (k,)`` where ``student_s(rho, rho_hat)`` is not ``s``,
    the derivative of each unit's KL divergence (from ``rho``) with respect to its own
    ``rho_hat[j]``, shape ``(k,)`` (docs/design.md); print and return the feedback."""
    return run_exercise(_S, student_s, max_examples=max_examples, timeout=timeout, verbose=verbose)


def _scaled(mistake: Mistake) -> Mistake:
    """A mistake in ``s`` carried into the sparsity delta."""
    return Mistake(mistake.key, f"in s: {mistake.hint}",
                   lambda rho, r, beta, m: beta * mistake.compute(rho, r) / m)


def _delta(rho: float, rho_hat: np.ndarray, beta: float, m: int) -> np.ndarray:
    return beta * _s(rho, rho_hat) / m


DELTA_MISTAKES = [
    Mistake("no_1_over_m", "the sparsity term is missing its average over samples: rho_hat is a mean "
            "over the m samples, so each sample's activations carry only their share of its gradient",
            lambda rho, r, beta, m: beta * _s(rho, r)),
    Mistake("no_beta", "the weight beta is missing: the penalty is scaled by beta, so its gradient is "
            "too", lambda rho, r, beta, m: _s(rho, r) / m),
    Mistake("s_only", "you returned s itself: the gradient at one sample's activations also carries "
            "the weight beta and that sample's share in the mean rho_hat",
            lambda rho, r, beta, m: _s(rho, r)),
    Mistake("times_m", "the number of samples multiplies where it should divide: each sample carries "
            "a share of the mean rho_hat, which shrinks as m grows",
            lambda rho, r, beta, m: beta * _s(rho, r) * m),
    *[_scaled(mistake) for mistake in S_MISTAKES],
]

_DELTA = _exercise("sparsity_delta", _rate_checks(with_beta_m=True), _delta,
                   lambda rho, r, beta, m: r.shape, _describe_rates, DELTA_MISTAKES,
                   [(*_PROBE_RATES, 3.0, 4)])


def check_sparsity_delta(student_delta: Callable[[float, np.ndarray, float, int], np.ndarray],
                         verbose: bool = True, *, max_examples: int = DEFAULT_EXAMPLES,
                         timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for ``rho``, ``rho_hat (k,)``, ``beta`` and ``m`` where ``student_delta(rho, rho_hat,
    beta, m)`` is not the gradient of the sparsity term with respect to one sample's activations
    ``H[i, :]``, shape ``(k,)`` (the same for every sample; numpy broadcasts it over the rows of
    D2); print and return the feedback."""
    return run_exercise(_DELTA, student_delta, max_examples=max_examples, timeout=timeout, verbose=verbose)
