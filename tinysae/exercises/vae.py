r"""The checker for the exercise of the variational autoencoders' lesson (lesson 7): the KL term
and its gradient, with its table of known mistakes.

**The KL term** (:class:`tinysae.terms.GaussianKL`). For the encoder's means ``mu (m, d)`` and
log-variances ``logvar (m, d)``, :math:`q(z\mid x_i) = \mathcal N(\mu_i, \operatorname{diag}
e^{\mathrm{logvar}_i})`, the mean over the samples of its KL divergence from the prior
:math:`\mathcal N(0, I)` is

.. math:: \mathrm{KL} = \frac1m\sum_i \tfrac12\sum_j \big(\mu_{ij}^2 + e^{\mathrm{logvar}_{ij}}
          - 1 - \mathrm{logvar}_{ij}\big),

and ``gaussian_kl(mu, logvar) -> (kl, dmu, dlogvar)`` returns it (a number) and its gradients
:math:`\partial\mathrm{KL}/\partial\mu = \mu/m` and :math:`\partial\mathrm{KL}/\partial\,
\mathrm{logvar} = \frac12(e^{\mathrm{logvar}} - 1)/m` (each ``(m, d)``), compared with the
engine's value and gradients of :class:`~tinysae.terms.GaussianKL`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinysae.autograd import Tensor
from tinysae.exercises.feedback import (
    Case,
    Feedback,
    Mistake,
    _as_array,
    _changed_in_place,
    _compare_outputs,
    _mistake_matching_all,
    _not_a_function,
    _report,
    _run_case,
)
from tinysae.terms import GaussianKL

__all__ = ["GAUSSIAN_KL_MISTAKES", "GAUSSIAN_KL_OUTPUTS", "check_gaussian_kl"]

#: The three outputs of ``gaussian_kl``, in order.
GAUSSIAN_KL_OUTPUTS = ("kl", "dmu", "dlogvar")


def _gaussian_kl(mu: np.ndarray, logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference: :class:`tinysae.terms.GaussianKL` on the engine, its value and its gradients."""
    nodes = {"mu": Tensor(mu, name="mu"), "logvar": Tensor(logvar, name="logvar")}
    kl = GaussianKL()(nodes)
    kl.backward()
    return kl.data, nodes["mu"].grad, nodes["logvar"].grad


def _kl_variant(mu: np.ndarray, logvar: np.ndarray,
                mistake: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(kl, dmu, dlogvar)`` in numpy, with one known ``mistake`` made on purpose (``None``: the
    right formulas): the KL :math:`h\,s\sum_{ij}(\mu^2 + v - c - \ell)` with the factor ``h``,
    the scale ``s``, the variance ``v``, the constant ``c`` and the log-variance ``\ell`` as the
    mistake writes them, and the gradients of that expression (or of the right one, for the
    mistakes made in the gradients only)."""
    m = mu.shape[0]
    half = 1.0 if mistake == "no_half" else 0.5
    scale = {"no_mean": 1.0, "mean_over_dims": 1 / (m * mu.shape[1])}.get(mistake, 1 / m)
    if mistake == "no_exp":  # logvar written where the variance exp(logvar) belongs
        variance, dvariance = logvar, np.ones_like(logvar)
    elif mistake == "std_for_var":  # the standard deviation exp(logvar / 2) in its place
        variance, dvariance = np.exp(logvar / 2), np.exp(logvar / 2) / 2
    elif mistake == "logvar_as_log_std":  # logvar read as log sigma: variance exp(2 logvar), log 2 logvar
        variance, dvariance = np.exp(2 * logvar), 2 * np.exp(2 * logvar)
    else:
        variance, dvariance = np.exp(logvar), np.exp(logvar)
    log_variance, dlog = (2 * logvar, 2.0) if mistake == "logvar_as_log_std" else (logvar, 1.0)
    sign = -1.0 if mistake == "plus_logvar" else 1.0  # - 1 + logvar instead of - 1 - logvar
    constant = 0.0 if mistake == "no_minus_one" else 1.0
    kl = half * scale * np.sum(mu**2 + variance - constant - sign * log_variance)
    dmu = half * scale * 2 * mu
    dlogvar = half * scale * (dvariance - sign * dlog)
    if mistake == "gradients_not_averaged":
        dmu, dlogvar = dmu * m, dlogvar * m
    elif mistake == "dlogvar_no_half":
        dlogvar = 2 * dlogvar
    elif mistake == "dlogvar_wrt_variance":  # d/d(variance) = (1 - 1/variance) / 2, without the chain rule
        dlogvar = scale * 0.5 * (1 - np.exp(-logvar))
    return np.asarray(kl), dmu, dlogvar


def _kl_mistake(key: str, hint: str) -> Mistake:
    return Mistake(key, hint, lambda mu, logvar: _kl_variant(mu, logvar, key))


GAUSSIAN_KL_MISTAKES = [
    _kl_mistake(
        "no_half", "did you forget the 1/2? For one coordinate KL = (1/2)(mu^2 + sigma^2 - 1 - log "
        "sigma^2): all three outputs are twice the right ones"),
    _kl_mistake(
        "no_mean", "did you forget the mean over the samples? The term is (1/m) sum_i KL_i, so the "
        "value and both gradients carry a 1/m"),
    _kl_mistake(
        "mean_over_dims", "the KL of a diagonal Gaussian is a sum over the d coordinates (they are "
        "independent), not a mean; only the samples are averaged"),
    _kl_mistake(
        "no_exp", "logvar is the log of the variance: the variance is exp(logvar), so the term is "
        "mu^2 + exp(logvar) - 1 - logvar (with logvar itself in its place, the two cancel and "
        "dlogvar is 0)"),
    _kl_mistake(
        "std_for_var", "exp(logvar / 2) is the standard deviation sigma; the KL needs the variance "
        "sigma^2 = exp(logvar)"),
    _kl_mistake(
        "logvar_as_log_std", "logvar is log sigma^2, not log sigma: the variance is exp(logvar) and "
        "log sigma^2 is logvar itself"),
    _kl_mistake(
        "plus_logvar", "a sign: KL = (1/2)(mu^2 + exp(logvar) - 1 - logvar), minus logvar (from "
        "-log sigma^2, the entropy of q), so dlogvar = (exp(logvar) - 1) / (2m)"),
    _kl_mistake(
        "no_minus_one", "the value misses the -1 of each coordinate (the gradients are right: a "
        "constant has none); KL is 0 when mu = 0 and logvar = 0, q equal to the prior"),
    _kl_mistake(
        "gradients_not_averaged", "the value is right but the gradients miss the 1/m of the mean "
        "over the samples: each sample's mu_i reaches the mean only through its own KL_i / m"),
    _kl_mistake(
        "dlogvar_no_half", "dlogvar lost the 1/2: d/dlogvar [(1/2)(exp(logvar) - logvar)] = "
        "(exp(logvar) - 1) / 2, divided by m"),
    _kl_mistake(
        "dlogvar_wrt_variance", "that is the gradient with respect to the variance sigma^2, "
        "(1 - 1/sigma^2) / (2m); the chain rule through sigma^2 = exp(logvar) multiplies it by "
        "exp(logvar): (exp(logvar) - 1) / (2m)"),
]


def _kl_cases() -> list[Case]:
    """Three problems with distinct m and d (never 1 or 2, so a forgotten factor shows as itself),
    means on both sides of 0 and log-variances from -2 to 2."""
    rng = np.random.default_rng(10)
    cases = []
    for m, d in ((6, 3), (9, 4), (4, 5)):
        mu, logvar = rng.normal(0, 1.5, size=(m, d)), rng.uniform(-2, 2, size=(m, d))
        cases.append(Case((mu, logvar), ("mu", "logvar"), f"mu and logvar of shape ({m}, {d})"))
    return cases


def _parse_kl(value: object) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """The student's ``(kl, dmu, dlogvar)`` by name, or a message saying what is wrong."""
    if value is None:
        return None, "your function returned None: did you forget `return kl, dmu, dlogvar`?"
    if not isinstance(value, (tuple, list)):
        return None, f"return a triple (kl, dmu, dlogvar); got {type(value).__name__}"
    if len(value) != len(GAUSSIAN_KL_OUTPUTS):
        return None, f"return a triple (kl, dmu, dlogvar); got a {type(value).__name__} of {len(value)}"
    outputs = {}
    for name, raw in zip(GAUSSIAN_KL_OUTPUTS, value):
        array, problem = _as_array(raw, name)
        if problem is not None:
            return None, problem
        outputs[name] = array
    return outputs, None


def _kl_hint(args: tuple, outputs: dict[str, np.ndarray], wrong: list[str]) -> tuple[str, str | None]:
    """The hint and the key of the known mistake whose three outputs all equal the student's;
    with none, a hint from which outputs are wrong."""
    mistake = _mistake_matching_all(outputs, GAUSSIAN_KL_OUTPUTS, GAUSSIAN_KL_MISTAKES, args)
    if mistake is not None:
        return mistake.hint, mistake.key
    if wrong == ["kl"]:
        return ("the gradients are right, so look at the value: (1/m) sum_i (1/2) sum_j (mu^2 + "
                "exp(logvar) - 1 - logvar), one number"), None
    return ("differentiate one coordinate's (1/2)(mu^2 + exp(logvar) - 1 - logvar) with respect to "
            "mu and to logvar, then divide by m"), None


def check_gaussian_kl(
    student_gaussian_kl: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray, np.ndarray]],
    verbose: bool = True,
) -> Feedback:
    r"""Check ``student_gaussian_kl(mu, logvar) -> (kl, dmu, dlogvar)`` against the engine's
    :class:`tinysae.terms.GaussianKL` and its gradients, output by output, on three random problems.

    ``mu (m, d)`` and ``logvar (m, d)`` are the encoder's means and log-variances; the answer is
    the number :math:`\mathrm{KL} = \frac1m\sum_i\frac12\sum_j(\mu_{ij}^2 + e^{\mathrm{logvar}_{ij}}
    - 1 - \mathrm{logvar}_{ij})` and its gradients with respect to ``mu`` and ``logvar``, each
    of shape ``(m, d)``. A known mistake is named when all three outputs equal that mistake's.
    """
    exercise = "gaussian_kl"
    if not callable(student_gaussian_kl):
        return _report(_not_a_function(exercise, student_gaussian_kl), verbose)
    worst = dict.fromkeys(GAUSSIAN_KL_OUTPUTS, 0.0)
    cases = _kl_cases()
    for number, case in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)}: {case.description}"
        value, changed, failure = _run_case(exercise, student_gaussian_kl, case, where)
        if failure is not None:
            return _report(failure, verbose)
        if changed:
            return _report(_changed_in_place(exercise, where, changed,
                                             "work on copies; never modify mu or logvar"), verbose)
        outputs, problem = _parse_kl(value)
        if problem is not None:
            return _report(Feedback(exercise, False, [where, problem]), verbose)
        expected = dict(zip(GAUSSIAN_KL_OUTPUTS, _gaussian_kl(*case.args)))
        lines, wrong = _compare_outputs(outputs, expected, worst)
        if wrong:
            hint, mistake = _kl_hint(case.args, outputs, wrong)
            return _report(Feedback(exercise, False, [where, *lines], hint=hint, mistake=mistake,
                                    errors=worst), verbose)
    return _report(Feedback(exercise, True, errors=worst), verbose)
