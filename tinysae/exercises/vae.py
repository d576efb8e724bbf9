r"""The searching checker of the variational autoencoders' lesson (lesson 7): the KL term and its
gradients, with its table of known mistakes.

:func:`check_gaussian_kl` checks ``gaussian_kl(mu, logvar) -> (kl, dmu, dlogvar)``: for the
encoder's means ``mu (m, d)`` and log-variances ``logvar (m, d)``, the mean over the m samples of
the KL divergence of the diagonal Gaussian with those means and log-variances from the standard
normal prior (a number, :class:`tinysae.terms.GaussianKL`), and its gradients with respect to
``mu`` and ``logvar`` (each ``(m, d)``), compared with the engine's value and gradients.

It is run by :func:`tinysae.exercises.search.run_exercise`: hypothesis searches small
integer-valued means and log-variances, first with every log-variance 0 (the prior's own
variance), then any, with m = 1 and d = 1 allowed and zeros, and shrinks a failing input to the
smallest it finds. Known mistakes that coincide on a tiny input are told apart on fixed inputs
(the exercise's ``probes``); the answer is parsed and judged by :mod:`tinysae.exercises.arrays`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from tinysae.autograd import Tensor
from tinysae.exercises.arrays import integer_arrays, judge_arrays, parse_arrays, show_arrays
from tinysae.exercises.feedback import Feedback, Mistake
from tinysae.exercises.search import DEFAULT_EXAMPLES, DEFAULT_TIMEOUT, Check, Exercise, run_exercise
from tinysae.terms import GaussianKL

__all__ = ["GAUSSIAN_KL_MISTAKES", "GAUSSIAN_KL_OUTPUTS", "check_gaussian_kl"]

#: The three outputs of ``gaussian_kl``, in order.
GAUSSIAN_KL_OUTPUTS = ("kl", "dmu", "dlogvar")


def _gaussian_kl(mu: np.ndarray, logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference: :class:`tinysae.terms.GaussianKL` on the engine, its value and its gradients."""
    nodes = {"mu": Tensor(mu, name="mu"), "logvar": Tensor(logvar, name="logvar")}
    kl = GaussianKL()(nodes)
    kl.backward()
    return np.asarray(kl.data, dtype=np.float64), nodes["mu"].grad, nodes["logvar"].grad


def _kl_variant(mu: np.ndarray, logvar: np.ndarray,
                mistake: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(kl, dmu, dlogvar)`` in numpy, with one known ``mistake`` made on purpose (``None``: the
    right answer): the value as the mistake writes it, and the gradients of that value (or of the
    right one, for the mistakes made in the gradients only)."""
    m = mu.shape[0]
    half = 1.0 if mistake == "no_half" else 0.5
    scale = {"no_mean": 1.0, "mean_over_dims": 1 / (m * mu.shape[1])}.get(mistake, 1 / m)
    if mistake == "no_exp":  # logvar written where the variance belongs
        variance, dvariance = logvar, np.ones_like(logvar)
    elif mistake == "std_for_var":  # the standard deviation in the variance's place
        variance, dvariance = np.exp(logvar / 2), np.exp(logvar / 2) / 2
    elif mistake == "logvar_as_log_std":  # logvar read as the log of the standard deviation
        variance, dvariance = np.exp(2 * logvar), 2 * np.exp(2 * logvar)
    else:
        variance, dvariance = np.exp(logvar), np.exp(logvar)
    log_variance, dlog = (2 * logvar, 2.0) if mistake == "logvar_as_log_std" else (logvar, 1.0)
    sign = -1.0 if mistake == "plus_logvar" else 1.0
    constant = 0.0 if mistake == "no_minus_one" else 1.0
    kl = half * scale * np.sum(mu**2 + variance - constant - sign * log_variance)
    dmu = half * scale * 2 * mu
    dlogvar = half * scale * (dvariance - sign * dlog)
    if mistake == "gradients_not_averaged":
        dmu, dlogvar = dmu * m, dlogvar * m
    elif mistake == "dlogvar_no_half":
        dlogvar = 2 * dlogvar
    elif mistake == "dlogvar_wrt_variance":  # the gradient with respect to the variance, no chain rule
        dlogvar = scale * 0.5 * (1 - np.exp(-logvar))
    return np.asarray(kl), dmu, dlogvar


def _kl_mistake(key: str, hint: str) -> Mistake:
    return Mistake(key, hint, lambda mu, logvar: _kl_variant(mu, logvar, key))


GAUSSIAN_KL_MISTAKES = [
    _kl_mistake(
        "no_half", "all three outputs are twice the right ones: the KL of one coordinate carries a "
        "factor of one half in front"),
    _kl_mistake(
        "no_mean", "the term is a mean over the samples, not their sum: the value and both gradients "
        "are divided by the number of samples"),
    _kl_mistake(
        "mean_over_dims", "the KL of a diagonal Gaussian is a sum over its d coordinates (they are "
        "independent), not a mean; only the samples are averaged"),
    _kl_mistake(
        "no_exp", "logvar is the logarithm of the variance, not the variance: where the KL needs the "
        "variance, exponentiate logvar (written as it is, the variance and the log-variance cancel "
        "and dlogvar comes out zero)"),
    _kl_mistake(
        "std_for_var", "that uses the standard deviation where the KL needs the variance, its "
        "square"),
    _kl_mistake(
        "logvar_as_log_std", "logvar is the logarithm of the variance, not of the standard deviation: "
        "read that way, both the variance and its logarithm come out doubled"),
    _kl_mistake(
        "plus_logvar", "a sign: the log-variance enters the KL with a minus (it comes from the "
        "entropy of q, which the KL subtracts), so dlogvar is zero where the variance is one"),
    _kl_mistake(
        "no_minus_one", "the value misses a constant of each coordinate (the gradients are right: a "
        "constant has none): the KL must be zero when q is the prior itself, means 0 and "
        "log-variances 0"),
    _kl_mistake(
        "gradients_not_averaged", "the value is right but the gradients miss the mean over the "
        "samples: each sample's mu reaches the mean only through its own share of it"),
    _kl_mistake(
        "dlogvar_no_half", "dlogvar is twice the right one: the factor of one half in front of each "
        "coordinate's KL stays in its derivative"),
    _kl_mistake(
        "dlogvar_wrt_variance", "that is the gradient with respect to the variance; the exercise asks "
        "for the gradient with respect to the log-variance, so the chain rule through the exponential "
        "that turns logvar into the variance multiplies it by the variance"),
]


@st.composite
def _kl_inputs(draw: st.DrawFn, prior_variance: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, logvar)`` of shape ``(m, d)``, m and d from 1 to 3: small integers, and with
    ``prior_variance`` every log-variance 0."""
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    logvar = np.zeros(shape) if prior_variance else draw(integer_arrays(shape))
    return draw(integer_arrays(shape)), logvar


def _kl_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three fixed problems with distinct m and d (never 1 or 2), where the known mistakes all
    differ from each other."""
    rng = np.random.default_rng(10)
    return [(rng.normal(0, 1.5, size=(m, d)), rng.uniform(-2, 2, size=(m, d)))
            for m, d in ((6, 3), (9, 4), (4, 5))]


def _parse_kl(value: object, args: tuple) -> tuple[np.ndarray, ...]:
    return parse_arrays(value, GAUSSIAN_KL_OUTPUTS, ((), args[0].shape, args[0].shape))


_GAUSSIAN_KL = Exercise(
    name="gaussian_kl",
    checks=[Check("log-variances 0", _kl_inputs(prior_variance=True)),
            Check("any log-variances", _kl_inputs(prior_variance=False))],
    reference=_gaussian_kl,
    parse=_parse_kl,
    judge=judge_arrays(GAUSSIAN_KL_OUTPUTS),
    describe=show_arrays(("mu", "logvar")),
    show=show_arrays(GAUSSIAN_KL_OUTPUTS),
    mistakes=GAUSSIAN_KL_MISTAKES,
    probes=_kl_probes(),
)


def check_gaussian_kl(
    student_gaussian_kl: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    verbose: bool = True, *, max_examples: int = DEFAULT_EXAMPLES, timeout: float | None = DEFAULT_TIMEOUT,
) -> Feedback:
    """Search for ``mu (m, d)`` and ``logvar (m, d)`` where ``student_gaussian_kl(mu, logvar) ->
    (kl, dmu, dlogvar)`` differs from the engine's :class:`tinysae.terms.GaussianKL` (a number)
    and its gradients with respect to ``mu`` and ``logvar`` (each ``(m, d)``); print and return
    the feedback, naming a known mistake (:data:`GAUSSIAN_KL_MISTAKES`)."""
    return run_exercise(_GAUSSIAN_KL, student_gaussian_kl, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)
