r"""Checkers for the sparsity exercises: the sigmoid, the KL penalty, its derivative ``s`` and
the sparsity term's gradient ``beta * s / m``, each with its table of known mistakes.

With ``rho`` a float in (0, 1) and ``rho_hat`` of shape ``(k,)`` in (0, 1):

* ``sigmoid(Z) = 1 / (1 + exp(-Z))``, elementwise, any shape;
* ``KL(rho || rho_hat_j) = rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))``,
  shape ``(k,)``;
* ``s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)``, shape ``(k,)``;
* ``beta * s / m``, shape ``(k,)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit

from tinysae.backends import numpy_ref
from tinysae.exercises.feedback import Case, Feedback, Mistake, _check_function

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


def _rho_hat_cases(with_beta_m: bool, seed: int) -> list[Case]:
    """Random ``rho`` and ``rho_hat (k,)`` (and ``beta``, ``m``) for the sparsity exercises."""
    rng = np.random.default_rng(seed)
    cases = []
    for rho, k, beta, m in ((0.05, 7, 3.0, 10), (0.01, 4, 0.5, 25), (0.2, 9, 2.0, 3), (0.1, 1, 5.0, 7)):
        rho_hat = rng.uniform(0.005, 0.995, size=k)
        if with_beta_m:
            cases.append(Case((rho, rho_hat, beta, m), ("rho", "rho_hat", "beta", "m"),
                              f"rho = {rho}, rho_hat of shape ({k},), beta = {beta}, m = {m}"))
        else:
            cases.append(Case((rho, rho_hat), ("rho", "rho_hat"), f"rho = {rho}, rho_hat of shape ({k},)"))
    return cases


# ----------------------------------------------------------------------------- sigmoid


SIGMOID_MISTAKES = [
    Mistake("sign", "the exponent's sign: sigmoid(z) = 1 / (1 + exp(-z)), which is 0.5 at 0 and -> 1 "
            "as z -> +inf", lambda Z: 1 / (1 + np.exp(Z))),
    Mistake("no_reciprocal", "you returned 1 + exp(-z); the sigmoid is its reciprocal 1 / (1 + exp(-z))",
            lambda Z: 1 + np.exp(-Z)),
    Mistake("derivative", "you returned the derivative sigmoid(z) (1 - sigmoid(z)), not sigmoid(z)",
            lambda Z: expit(Z) * (1 - expit(Z))),
    Mistake("tanh", "you returned tanh(z), which lies in (-1, 1); the sigmoid lies in (0, 1): "
            "sigmoid(z) = (1 + tanh(z / 2)) / 2", np.tanh),
]


def check_sigmoid(student_sigmoid: Callable[[np.ndarray], np.ndarray], verbose: bool = True) -> Feedback:
    r"""Check ``student_sigmoid(Z)`` against :math:`\sigma(Z) = 1 / (1 + e^{-Z})`, elementwise, for
    ``Z`` of shapes ``(5,)``, ``(m, k)`` and with large ``|Z|`` (up to 30)."""
    rng = np.random.default_rng(1)
    cases = [
        Case((rng.normal(0, 2, size=5),), ("Z",), "Z of shape (5,)"),
        Case((rng.normal(0, 3, size=(4, 3)),), ("Z",), "Z of shape (4, 3), an (m, k) matrix like Z2"),
        Case((np.array([-30.0, -5.0, 0.0, 5.0, 30.0]),), ("Z",), "Z = [-30, -5, 0, 5, 30]"),
    ]
    return _check_function("sigmoid", student_sigmoid, cases, expit, SIGMOID_MISTAKES, verbose)


# ----------------------------------------------------------------------------- KL divergence


def _kl(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    return numpy_ref.kl_divergence(rho, rho_hat)


KL_MISTAKES = [
    Mistake("swapped", "you computed KL(rho_hat || rho); the penalty is KL(rho || rho_hat) = "
            "rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat))",
            lambda rho, r: _kl(r, np.full_like(r, rho))),
    Mistake("first_term_only", "only rho log(rho / rho_hat) is there: the Bernoulli KL has a second "
            "term, (1 - rho) log((1 - rho) / (1 - rho_hat))",
            lambda rho, r: rho * np.log(rho / r)),
    Mistake("negated", "the sign is flipped: it is log(rho / rho_hat), not log(rho_hat / rho) "
            "(a KL divergence is >= 0)", lambda rho, r: -_kl(rho, r)),
    Mistake("log10", "use the natural logarithm np.log, not np.log10",
            lambda rho, r: _kl(rho, r) / np.log(10)),
    Mistake("log2", "use the natural logarithm np.log, not np.log2",
            lambda rho, r: _kl(rho, r) / np.log(2)),
    Mistake("summed", "return one value per hidden unit, shape (k,); the sum over j comes later, in "
            "beta * sum_j KL(rho || rho_hat_j)", lambda rho, r: np.sum(_kl(rho, r))),
]


def check_kl_divergence(student_kl: Callable[[float, np.ndarray], np.ndarray],
                        verbose: bool = True) -> Feedback:
    r"""Check ``student_kl(rho, rho_hat)`` against the elementwise

    .. math:: \mathrm{KL}(\rho\Vert\hat\rho_j) = \rho\log\frac{\rho}{\hat\rho_j}
              + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j},

    ``rho`` a float in (0, 1), ``rho_hat (k,)`` in (0, 1); the result has shape ``(k,)``."""
    return _check_function("kl_divergence", student_kl, _rho_hat_cases(False, seed=2), _kl,
                           KL_MISTAKES, verbose)


# ----------------------------------------------------------------------------- s and beta s / m


def _s(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    return -rho / rho_hat + (1 - rho) / (1 - rho_hat)


S_MISTAKES = [
    Mistake("s_negated", "the sign is flipped: d/dr [rho log(rho / r)] = -rho / r and "
            "d/dr [(1 - rho) log((1 - rho) / (1 - r))] = +(1 - rho) / (1 - r)",
            lambda rho, r: -_s(rho, r)),
    Mistake("s_first_term_only", "you differentiated only rho log(rho / rho_hat); the second term "
            "(1 - rho) log((1 - rho) / (1 - rho_hat)) adds +(1 - rho) / (1 - rho_hat)",
            lambda rho, r: -rho / r),
    Mistake("s_inner_derivative", "the chain rule through 1 - rho_hat: d(1 - rho_hat)/d rho_hat = -1, "
            "which makes the second term +(1 - rho) / (1 - rho_hat)",
            lambda rho, r: -rho / r - (1 - rho) / (1 - r)),
    Mistake("s_swapped", "that is the derivative of KL(rho_hat || rho); in KL(rho || rho_hat), rho_hat "
            "appears only inside the logs: s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)",
            lambda rho, r: np.log(r / rho) - np.log((1 - r) / (1 - rho))),
    Mistake("s_is_kl", "you returned KL(rho || rho_hat) itself; s is its derivative with respect "
            "to rho_hat", _kl),
]


def check_kl_gradient(student_s: Callable[[float, np.ndarray], np.ndarray], verbose: bool = True) -> Feedback:
    r"""Check ``student_s(rho, rho_hat)`` against docs/design.md's

    .. math:: s_j = \frac{\partial\,\mathrm{KL}(\rho\Vert\hat\rho_j)}{\partial\hat\rho_j}
              = -\frac{\rho}{\hat\rho_j} + \frac{1-\rho}{1-\hat\rho_j}, \qquad s \text{ of shape } (k,).
    """
    return _check_function("kl_gradient (s)", student_s, _rho_hat_cases(False, seed=3), _s,
                           S_MISTAKES, verbose)


def _scaled(mistake: Mistake) -> Mistake:
    """A mistake in ``s`` carried into ``beta * s / m``."""
    return Mistake(mistake.key, f"in s: {mistake.hint}",
                   lambda rho, r, beta, m: beta * mistake.compute(rho, r) / m)


DELTA_MISTAKES = [
    Mistake("no_1_over_m", "did you forget the 1/m in beta * s / m? rho_hat_j = (1/m) sum_i H[i, j], "
            "so d rho_hat_j / d H[i, j] = 1/m", lambda rho, r, beta, m: beta * _s(rho, r)),
    Mistake("no_beta", "did you forget beta? the sparsity term is beta * sum_j KL, so its gradient "
            "carries the factor beta", lambda rho, r, beta, m: _s(rho, r) / m),
    Mistake("s_only", "you returned s; the sparsity term's gradient at H is beta * s / m (beta from "
            "beta * sum_j KL, 1/m from rho_hat = mean over the m samples)",
            lambda rho, r, beta, m: _s(rho, r)),
    Mistake("times_m", "divide by m, don't multiply: d rho_hat_j / d H[i, j] = 1/m",
            lambda rho, r, beta, m: beta * _s(rho, r) * m),
    *[_scaled(mistake) for mistake in S_MISTAKES],
]


def check_sparsity_delta(student_delta: Callable[[float, np.ndarray, float, int], np.ndarray],
                         verbose: bool = True) -> Feedback:
    r"""Check ``student_delta(rho, rho_hat, beta, m)`` against the sparsity term's gradient at
    each row of ``H``:

    .. math:: \frac{\partial}{\partial H_{ij}} \beta\sum_l \mathrm{KL}(\rho\Vert\hat\rho_l)
              = \beta\, s_j \frac{\partial\hat\rho_j}{\partial H_{ij}} = \frac{\beta\, s_j}{m},

    shape ``(k,)`` (the same for every sample ``i``; numpy broadcasts it over the rows of D2)."""
    return _check_function("sparsity_delta (beta * s / m)", student_delta, _rho_hat_cases(True, seed=4),
                           lambda rho, r, beta, m: beta * _s(rho, r) / m, DELTA_MISTAKES, verbose)
