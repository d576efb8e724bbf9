r"""Checkers for the exercises of the variants' lessons: the contractive penalty's gradient
(lesson 4) and the log-softmax's vector-Jacobian product (lesson 5), each with its table of
known mistakes.

**The contraction** (:class:`tinysae.terms.Contraction`). For inputs ``X (m, n)``, encoder
weights ``W1 (k, n)`` and sigmoid activations ``H = sigmoid(X W1^T + b1) (m, k)``, with
``D = H (1 - H) (m, k)`` and the row norms ``r_j = ||W1_j||^2 (k,)``,

.. math:: C = \frac{\lambda_c}{m}\sum_{i,j} D_{ij}^2\, r_j .

``contraction_grads(X, H, W1, weight) -> (dW1 (k, n), db1 (k,))`` returns
:math:`\partial C/\partial W_1` and :math:`\partial C/\partial b_1`: the penalty's own share of
the gradient, compared with :func:`tinysae.backends.numpy_ref.contraction_grads`. ``W1`` reaches
``C`` twice, through ``H`` (so ``Z2``) and directly through ``r``; ``b1`` only through ``H``.

**The log-softmax.** For scores ``Z (m, C)``, ``L = log_softmax(Z)`` row by row,
:math:`L_{ic} = Z_{ic} - \log\sum_{c'} e^{Z_{ic'}}`, and an upstream gradient
``g = dJ/dL (m, C)``, ``log_softmax_vjp(g, Z) -> dZ (m, C)`` returns
:math:`(\partial J/\partial Z)_{ic'} = \sum_c g_{ic}\,\partial L_{ic}/\partial Z_{ic'}`, compared
with the ``log_softmax`` op's own VJP (:mod:`tinysae.autograd.ops`). Its last case has scores
near 1000, where a softmax computed without the max-shift overflows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit, log_softmax, softmax

from tinysae.autograd.ops import OPS
from tinysae.backends import numpy_ref
from tinysae.exercises.feedback import (
    Case,
    Feedback,
    Mistake,
    _as_array,
    _changed_in_place,
    _check_function,
    _compare_outputs,
    _mistake_matching_all,
    _not_a_function,
    _report,
    _run_case,
)

__all__ = [
    "CONTRACTION_MISTAKES",
    "CONTRACTION_OUTPUTS",
    "LOG_SOFTMAX_MISTAKES",
    "OVERFLOW_HINT",
    "check_contraction_grads",
    "check_log_softmax_vjp",
]

# ----------------------------------------------------------------------------- the contraction

#: The two outputs of ``contraction_grads``, in order.
CONTRACTION_OUTPUTS = ("dW1", "db1")


def _contraction_variant(X: np.ndarray, H: np.ndarray, W1: np.ndarray, weight: float,
                         mistake: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""``(dC/dW1, dC/db1)`` by the chain rule, with one known ``mistake`` made on purpose
    (``None``: the reference's equations).

    The path through ``H``: :math:`\partial C/\partial D = 2\lambda_c D r / m`, times
    :math:`dD/dH = 1 - 2H`, times :math:`dH/dZ_2 = H(1 - H) = D`, gives ``C2 = dC/dZ2 (m, k)``;
    then ``C2^T X`` and ``sum_i C2``. The direct path: :math:`\partial C/\partial r_j =
    \lambda_c \sum_i D_{ij}^2 / m`, times :math:`\partial r_j/\partial W_1[j, l] = 2 W_1[j, l]`.
    """
    m = X.shape[0]
    D = H * (1 - H)
    r = np.sum(W1**2, axis=1)
    scale = {"no_weight": 1 / m, "no_1_over_m": weight, "m_twice": weight / m**2}.get(mistake, weight / m)
    two_h = 1.0 if mistake in ("no_factor_2", "no_2_through_H") else 2.0
    two_w = 1.0 if mistake in ("no_factor_2", "no_2_direct") else 2.0
    slope = {"no_1_minus_2H": 1.0, "2H_minus_1": 2 * H - 1, "1_minus_H": 1 - H}.get(mistake, 1 - 2 * H)
    dH_dZ2 = 1.0 if mistake == "no_sigmoid_derivative" else D
    C2 = two_h * scale * D * slope * r * dH_dZ2
    through_H = C2.T @ X
    squares = D if mistake == "direct_uses_D" else D**2
    direct = two_w * scale * np.sum(squares, axis=0)[:, None] * W1
    if mistake == "no_direct_path":
        return through_H, C2.sum(axis=0)
    if mistake == "direct_path_only":
        return direct, np.zeros(W1.shape[0])
    return through_H + direct, C2.sum(axis=0)


def _contraction_mistake(key: str, hint: str) -> Mistake:
    return Mistake(key, hint, lambda X, H, W1, weight: _contraction_variant(X, H, W1, weight, key))


CONTRACTION_MISTAKES = [
    _contraction_mistake(
        "no_direct_path", "W1 reaches C twice: through H = sigmoid(X W1^T + b1), and directly "
        "through the row norms r_j = ||W1_j||^2; dW1 is missing the second path (db1 is right: b1 is "
        "not in r)"),
    _contraction_mistake(
        "direct_path_only", "W1 also reaches C through H = sigmoid(X W1^T + b1), and so does b1: "
        "dW1 has only the path through the row norms r_j = ||W1_j||^2, and db1 is not zero"),
    _contraction_mistake(
        "no_factor_2", "both paths lose a factor 2: d(D^2)/dD = 2 D on the path through H, and "
        "d||W1_j||^2 / dW1[j, l] = 2 W1[j, l] on the direct one"),
    _contraction_mistake(
        "no_2_through_H", "the path through H lost a factor 2: C has D_ij^2, and d(D^2)/dD = 2 D"),
    _contraction_mistake(
        "no_2_direct", "the direct path lost a factor 2: d||W1_j||^2 / dW1[j, l] = 2 W1[j, l]"),
    _contraction_mistake(
        "no_1_minus_2H", "D = H (1 - H) depends on H: dD/dH = 1 - 2H, a factor the path through H "
        "must carry"),
    _contraction_mistake(
        "2H_minus_1", "the sign of dD/dH: d/dH [H (1 - H)] = d/dH [H - H^2] = 1 - 2H, not 2H - 1"),
    _contraction_mistake(
        "1_minus_H", "dD/dH is not 1 - H: D = H (1 - H) = H - H^2, so dD/dH = 1 - 2H (the product "
        "rule: (1 - H) + H (-1))"),
    _contraction_mistake(
        "no_sigmoid_derivative", "from H back to Z2 = X W1^T + b1 the path goes through the sigmoid: "
        "dH/dZ2 = H (1 - H) multiplies dC/dH before C2^T X and sum_i C2"),
    _contraction_mistake(
        "direct_uses_D", "the direct path's dC/dr_j = (lambda_c / m) sum_i D_ij^2: C holds D squared "
        "(the Jacobian's rows are D_ij W1[j, :])"),
    _contraction_mistake(
        "m_twice", "you divided by m twice: C carries one 1/m, in front of the sum over samples (the "
        "sum over i that makes C2^T X and sum_i C2 adds up the samples, it is not another mean)"),
    _contraction_mistake(
        "no_1_over_m", "did you forget the 1/m? C = (lambda_c / m) sum_ij D_ij^2 r_j is a mean over "
        "the m samples"),
    _contraction_mistake(
        "no_weight", "did you forget the weight lambda_c? C = (lambda_c / m) sum_ij D_ij^2 r_j, so "
        "both gradients carry it"),
]


def _contraction_cases() -> list[tuple[tuple[np.ndarray, np.ndarray, np.ndarray, float], str]]:
    """Three problems with distinct m, n, k (a transpose shows), weights far from 1, 2, m and 1/m
    (so a forgotten factor shows as itself), and biases spreading H over (0, 1)."""
    rng = np.random.default_rng(7)
    cases = []
    for m, n, k, weight in ((6, 5, 3, 0.3), (9, 4, 7, 1.7), (4, 8, 2, 3.5)):
        X = rng.uniform(0.0, 1.0, size=(m, n))
        W1 = rng.normal(0.0, 0.8, size=(k, n))
        b1 = rng.normal(0.0, 1.0, size=k)
        H = expit(X @ W1.T + b1)
        cases.append(((X, H, W1, weight), f"X of shape ({m}, {n}), k = {k} hidden units, "
                                          f"weight lambda_c = {weight}"))
    return cases


def _parse_pair(value: object) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """The student's ``(dW1, db1)`` by name, or a message saying what is wrong."""
    if value is None:
        return None, "your function returned None: did you forget `return dW1, db1`?"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None, f"return a pair (dW1, db1); got {type(value).__name__}"
    outputs = {}
    for name, raw in zip(CONTRACTION_OUTPUTS, value):
        array, problem = _as_array(raw, name)
        if problem is not None:
            return None, problem
        outputs[name] = array
    return outputs, None


def _contraction_hint(args: tuple, outputs: dict[str, np.ndarray],
                      wrong: list[str]) -> tuple[str, str | None]:
    """The hint and the key of the known mistake whose two outputs both equal the student's;
    with none, a hint localising the error from which outputs are wrong."""
    mistake = _mistake_matching_all(outputs, CONTRACTION_OUTPUTS, CONTRACTION_MISTAKES, args)
    if mistake is not None:
        return mistake.hint, mistake.key
    if wrong == ["dW1"]:
        return ("db1 is right, so C2 = dC/dZ2 is right: look at dW1 = C2^T X plus the direct path "
                "through the row norms r_j = ||W1_j||^2"), None
    return ("start from the path through H: dC/dH, then dH/dZ2 = H (1 - H) gives C2 = dC/dZ2 (m, k), "
            "and db1 = sum_i C2"), None


def check_contraction_grads(
    student_contraction_grads: Callable[[np.ndarray, np.ndarray, np.ndarray, float],
                                        tuple[np.ndarray, np.ndarray]],
    verbose: bool = True,
) -> Feedback:
    r"""Check ``student_contraction_grads(X, H, W1, weight) -> (dW1, db1)`` against
    :func:`tinysae.backends.numpy_ref.contraction_grads`, output by output, on three random
    problems.

    ``X (m, n)`` are the inputs, ``W1 (k, n)`` the encoder weights, ``H (m, k)`` the sigmoid
    activations :math:`\sigma(X W_1^\top + b_1)` and ``weight`` :math:`\lambda_c`; the answer is
    the gradient of :math:`C = \frac{\lambda_c}{m}\sum_{ij} (H_{ij}(1 - H_{ij}))^2 \lVert W_{1,j}\rVert^2`
    with respect to ``W1`` (shape ``(k, n)``) and ``b1`` (shape ``(k,)``): the penalty's own
    contribution, without the reconstruction's or weight decay's. A known mistake is named
    when both outputs equal that mistake's.
    """
    exercise = "contraction_grads"
    if not callable(student_contraction_grads):
        return _report(_not_a_function(exercise, student_contraction_grads), verbose)
    worst = dict.fromkeys(CONTRACTION_OUTPUTS, 0.0)
    cases = _contraction_cases()
    for number, (args, description) in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)}: {description}"
        case = Case(args, ("X", "H", "W1", "weight"), description)
        value, changed, failure = _run_case(exercise, student_contraction_grads, case, where)
        if failure is not None:
            return _report(failure, verbose)
        if changed:
            return _report(_changed_in_place(exercise, where, changed,
                                             "work on copies; never modify X, H or W1"), verbose)
        outputs, problem = _parse_pair(value)
        if problem is not None:
            return _report(Feedback(exercise, False, [where, problem]), verbose)
        expected = dict(zip(CONTRACTION_OUTPUTS, numpy_ref.contraction_grads(*args)))
        lines, wrong = _compare_outputs(outputs, expected, worst)
        if wrong:
            hint, mistake = _contraction_hint(args, outputs, wrong)
            return _report(Feedback(exercise, False, [where, *lines], hint=hint, mistake=mistake,
                                    errors=worst), verbose)
    return _report(Feedback(exercise, True, errors=worst), verbose)


# ----------------------------------------------------------------------------- the log-softmax


def _log_softmax_vjp(g: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """The engine's own VJP of ``log_softmax`` along the classes (axis 1)."""
    out = OPS["log_softmax"].forward(Z, axis=1)
    return OPS["log_softmax"].vjp(g, out, (Z,), {"axis": 1})[0]


def _row_sums(g: np.ndarray) -> np.ndarray:
    return np.sum(g, axis=1, keepdims=True)


LOG_SOFTMAX_MISTAKES = [
    Mistake("no_softmax_term", "you returned g unchanged: every L_ic depends on every score of its "
            "row through log sum_c' exp(Z_ic'), and that term sends gradient back too",
            lambda g, Z: g.copy()),
    Mistake("column_sums", "sum g along each row (axis=1, over the classes of one sample), not "
            "along each column: sample i's scores only reach sample i's outputs",
            lambda g, Z: g - softmax(Z, axis=1) * np.sum(g, axis=0, keepdims=True)),
    Mistake("sum_all", "sum g along each row (axis=1, keepdims=True), not over the whole matrix: "
            "sample i's scores only reach sample i's outputs",
            lambda g, Z: g - softmax(Z, axis=1) * np.sum(g)),
    Mistake("diagonal_only", "that treats the Jacobian as diagonal (each L_ic depending on Z_ic "
            "only); L_ic depends on every score of row i, so dZ_ic' sums over all the outputs c",
            lambda g, Z: g - softmax(Z, axis=1) * g),
    Mistake("jacobian_times_g", "that is the Jacobian times g (J g), summing over the scores; the "
            "VJP is g^T J, summing over the outputs: dZ_ic' = sum_c g_ic dL_ic / dZ_ic'",
            lambda g, Z: g - np.sum(softmax(Z, axis=1) * g, axis=1, keepdims=True)),
    Mistake("log_p_for_p", "the derivative of log sum_c' exp(Z_c') is the softmax P = exp(L), not "
            "the log-softmax L itself", lambda g, Z: g - log_softmax(Z, axis=1) * _row_sums(g)),
    Mistake("scores_for_p", "the derivative of log sum_c' exp(Z_c') is the softmax P = exp(L), not "
            "the scores Z", lambda g, Z: g - Z * _row_sums(g)),
    Mistake("negated", "the sign is flipped: L_ic = Z_ic - log sum_c' exp(Z_ic'), so the identity "
            "part (from Z_ic) comes with +, the log-sum-exp part with -",
            lambda g, Z: softmax(Z, axis=1) * _row_sums(g) - g),
    Mistake("softmax_vjp", "that is the VJP of the softmax P, not of its logarithm L = log P "
            "(the log's derivative 1/P cancels a factor P)",
            lambda g, Z: softmax(Z, axis=1) * (g - np.sum(g * softmax(Z, axis=1), axis=1, keepdims=True))),
    Mistake("returns_softmax", "you returned the softmax P itself; the VJP combines the upstream "
            "gradient g with the Jacobian dL/dZ (with g = 1 in every column it would be 1 - C P)",
            lambda g, Z: softmax(Z, axis=1)),
]

#: The hint when the answer is right on moderate scores and wrong on scores near 1000.
OVERFLOW_HINT = ("right on moderate scores, wrong near 1000: exp(1000) overflows to inf. Compute P "
                 "as exp(log_softmax(Z)) with each row's max subtracted first (softmax(Z - max_c Z) "
                 "= softmax(Z)), so that exp only sees values <= 0")


def _log_softmax_cases() -> list[Case]:
    """Scores of three shapes (m != C, so a transpose or a column sum shows) with upstream
    gradients that do not sum to zero, and last, scores near 1000."""
    rng = np.random.default_rng(8)
    cases = []
    for m, C, spread in ((5, 3, 2.0), (4, 6, 5.0), (7, 2, 1.0)):
        Z, g = rng.normal(0, spread, size=(m, C)), rng.normal(0, 1, size=(m, C))
        cases.append(Case((g, Z), ("g", "Z"), f"g and Z of shape ({m}, {C})"))
    Z = 1000.0 + rng.normal(0, 3, size=(3, 4))
    cases.append(Case((rng.normal(0, 1, size=(3, 4)), Z), ("g", "Z"),
                      "g and Z of shape (3, 4), scores near 1000"))
    return cases


def check_log_softmax_vjp(student_vjp: Callable[[np.ndarray, np.ndarray], np.ndarray],
                          verbose: bool = True) -> Feedback:
    r"""Check ``student_vjp(g, Z) -> dZ`` for the row-wise log-softmax
    :math:`L_{ic} = Z_{ic} - \log\sum_{c'} e^{Z_{ic'}}`: with scores ``Z (m, C)`` and the
    upstream gradient ``g = dJ/dL (m, C)``, the answer is ``dZ = dJ/dZ (m, C)``,

    .. math:: (\partial J/\partial Z)_{ic'} = \sum_c g_{ic}\,\frac{\partial L_{ic}}{\partial Z_{ic'}},

    compared with the engine's ``log_softmax`` VJP on three moderate cases and then on scores
    near 1000 (where a softmax without the max-shift overflows: :data:`OVERFLOW_HINT`).
    """
    cases = _log_softmax_cases()
    feedback = _check_function("log_softmax_vjp", student_vjp, cases, _log_softmax_vjp,
                               LOG_SOFTMAX_MISTAKES, verbose=False)
    wrong_values = "result" in feedback.errors  # a wrong answer, not an exception or a non-array
    if not feedback.passed and wrong_values and feedback.details[0].startswith(f"case {len(cases)} of"):
        feedback.hint, feedback.mistake = OVERFLOW_HINT, "overflow"
    return _report(feedback, verbose)
