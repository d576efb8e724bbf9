r"""Searching checkers for the variants' lessons: the contractive penalty's gradient (lesson 4) and
the log-softmax's vector-Jacobian product (lesson 5), each with its table of known mistakes.

* :func:`check_contraction_grads`: ``contraction_grads(X, H, W1, weight) -> (dW1, db1)``, for the
  inputs ``X (m, n)``, their sigmoid activations ``H (m, k)``, the encoder's weights ``W1 (k, n)``
  and the penalty's weight: the gradient of the contractive penalty alone
  (:class:`tinysae.terms.Contraction`) with respect to ``W1`` (shape ``(k, n)``) and ``b1``
  (shape ``(k,)``).
* :func:`check_log_softmax_vjp`: ``log_softmax_vjp(g, Z) -> dZ``, for scores ``Z (m, C)`` and the
  upstream gradient ``g (m, C)`` of the row-wise log-softmax of ``Z``: the gradient with respect
  to the scores, shape ``(m, C)``.

Both are run by :func:`tinysae.exercises.search.run_exercise`: hypothesis searches small
integer-valued inputs (m = 1, one unit, one class, zeros, activations of one half) and shrinks a
failing one to the smallest it can find; the log-softmax's second check puts every row's scores
near plus or minus 1000, where a computation that is not protected against overflow breaks.

The answers are parsed, judged and shown by :mod:`tinysae.exercises.arrays`. A known mistake is
named from the student's answer at the counterexample and on a few fixed inputs (the exercises'
``probes``), where the known mistakes all differ; an answer that is right once each row's scores
are shifted, wrong on large scores, is recognised by the log-softmax's ``classify``
(:data:`OVERFLOW_HINT`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit, log_softmax, softmax

from tinysae.autograd.ops import OPS
from tinysae.backends import numpy_ref
from tinysae.exercises.arrays import integer_arrays, judge_arrays, parse_arrays, show_arrays
from tinysae.exercises.feedback import Feedback, Mistake
from tinysae.exercises.search import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIMEOUT,
    AnswerOn,
    Check,
    Exercise,
    run_exercise,
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
    """``(dW1, db1)`` by the chain rule along the path through the activations and the direct
    path through the squared row lengths of ``W1``, with one known ``mistake`` made on purpose
    (``None``: the reference's equations, :func:`tinysae.backends.numpy_ref.contraction_grads`)."""
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
        "no_direct_path", "W1 reaches the penalty along two kinds of paths: through the activations "
        "H, and directly through the squared lengths of its own rows. Your dW1 has only the first "
        "(db1 can still be right: the bias is not part of those lengths)"),
    _contraction_mistake(
        "direct_path_only", "W1 also reaches the penalty through the activations H, and b1 reaches it "
        "only that way: your dW1 has only the direct path through the rows' squared lengths, and db1 "
        "should not be zero"),
    _contraction_mistake(
        "no_factor_2", "both paths are short of the factor of two that differentiating a square "
        "brings: the penalty squares the sigmoid's slope, and each row's length enters squared too"),
    _contraction_mistake(
        "no_2_through_H", "the path through H is short of a factor of two: the penalty holds the "
        "sigmoid's slope squared, and differentiating that square brings a two"),
    _contraction_mistake(
        "no_2_direct", "the direct path is short of a factor of two: each row of W1 enters through "
        "its squared length, and differentiating that square brings a two"),
    _contraction_mistake(
        "no_1_minus_2H", "the sigmoid's slope D is itself a function of H: the path through H must "
        "carry the derivative of the slope with respect to H, which is missing"),
    _contraction_mistake(
        "2H_minus_1", "the derivative of the slope D with respect to H has the wrong sign: the slope "
        "is largest at H one half and falls on both sides, so its derivative is positive below one "
        "half"),
    _contraction_mistake(
        "1_minus_H", "the derivative of the slope D with respect to H is not right: D is a product of "
        "two factors that both depend on H, so the product rule gives two terms"),
    _contraction_mistake(
        "no_sigmoid_derivative", "from H back to the pre-activations Z2 the path goes through the "
        "sigmoid, so the gradient with respect to H must be multiplied by the sigmoid's own slope "
        "before it reaches W1 and b1"),
    _contraction_mistake(
        "direct_uses_D", "on the direct path, the penalty's sensitivity to a row's squared length "
        "adds up the sigmoid's slopes squared (the penalty holds them squared), not the slopes "
        "themselves"),
    _contraction_mistake(
        "m_twice", "the gradients are divided by the number of samples twice: the penalty is one "
        "mean over the samples, and adding up the samples' contributions is not another mean"),
    _contraction_mistake(
        "no_1_over_m", "the gradients miss the mean over the samples: the penalty averages over "
        "the m samples, so both gradients are divided by their number once"),
    _contraction_mistake(
        "no_weight", "the gradients miss the penalty's weight: it multiplies the whole penalty, so "
        "it multiplies both gradients"),
]


@st.composite
def _contraction_inputs(draw: st.DrawFn, samples: tuple[int, int]) -> tuple[np.ndarray, np.ndarray,
                                                                          np.ndarray, float]:
    """``(X (m, n), H (m, k), W1 (k, n), weight)`` with m in ``samples`` (the bounds), n and k from
    1 to 3: small integers in ``X`` and ``W1``, activations
    from a few values in (0, 1) (one half included, where the slope's derivative vanishes), and
    weights of 1, 2, one half, 0 and 3."""
    m, n, k = draw(st.integers(*samples)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H = draw(hnp.arrays(np.float64, (m, k), elements=st.sampled_from((0.5, 0.25, 0.75, 0.1, 0.9))))
    weight = draw(st.sampled_from((1.0, 2.0, 0.5, 0.0, 3.0)))
    return draw(integer_arrays((m, n))), H, draw(integer_arrays((k, n))), weight


def _contraction_probes() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """Three fixed problems with distinct m, n, k and weights far from 1, 2, m and 1/m, where the
    known mistakes all differ from each other."""
    rng = np.random.default_rng(7)
    probes = []
    for m, n, k, weight in ((6, 5, 3, 0.3), (9, 4, 7, 1.7), (4, 8, 2, 3.5)):
        X = rng.uniform(0.0, 1.0, size=(m, n))
        W1 = rng.normal(0.0, 0.8, size=(k, n))
        H = expit(X @ W1.T + rng.normal(0.0, 1.0, size=k))
        probes.append((X, H, W1, weight))
    return probes


def _parse_contraction(value: object, args: tuple) -> tuple[np.ndarray, ...]:
    k, n = args[2].shape
    return parse_arrays(value, CONTRACTION_OUTPUTS, ((k, n), (k,)))


_CONTRACTION = Exercise(
    name="contraction_grads",
    checks=[Check("one sample", _contraction_inputs((1, 1))),
            Check("several samples", _contraction_inputs((2, 4)))],
    reference=lambda X, H, W1, weight: numpy_ref.contraction_grads(X, H, W1, weight),
    parse=_parse_contraction,
    judge=judge_arrays(CONTRACTION_OUTPUTS),
    describe=show_arrays(("X", "H", "W1", "weight")),
    show=show_arrays(CONTRACTION_OUTPUTS),
    mistakes=CONTRACTION_MISTAKES,
    probes=_contraction_probes(),
)


def check_contraction_grads(
    student_contraction_grads: Callable[[np.ndarray, np.ndarray, np.ndarray, float],
                                        tuple[np.ndarray, np.ndarray]],
    verbose: bool = True, *, max_examples: int = DEFAULT_EXAMPLES, timeout: float | None = DEFAULT_TIMEOUT,
) -> Feedback:
    """Search for ``X (m, n)``, ``H (m, k)``, ``W1 (k, n)`` and a weight where
    ``student_contraction_grads(X, H, W1, weight) -> (dW1 (k, n), db1 (k,))`` differs from the
    gradient of the contractive penalty alone (:func:`tinysae.backends.numpy_ref.contraction_grads`);
    print and return the feedback, naming a known mistake (:data:`CONTRACTION_MISTAKES`)."""
    return run_exercise(_CONTRACTION, student_contraction_grads, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)


# ----------------------------------------------------------------------------- the log-softmax


def _log_softmax_vjp(g: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """The engine's own VJP of ``log_softmax`` along the classes (axis 1)."""
    out = OPS["log_softmax"].forward(Z, axis=1)
    return OPS["log_softmax"].vjp(g, out, (Z,), {"axis": 1})[0]


def _row_sums(g: np.ndarray) -> np.ndarray:
    return np.sum(g, axis=1, keepdims=True)


LOG_SOFTMAX_MISTAKES = [
    Mistake("no_softmax_term", "you returned g unchanged: every output of a row depends on every "
            "score of that row through the normalising term, and that term sends gradient back too",
            lambda g, Z: g.copy()),
    Mistake("column_sums", "the upstream gradient is added up over the samples (down each column) "
            "where it should be added up over the classes of one sample: sample i's scores only "
            "reach sample i's outputs",
            lambda g, Z: g - softmax(Z, axis=1) * np.sum(g, axis=0, keepdims=True)),
    Mistake("sum_all", "the upstream gradient is added up over the whole matrix where it should be "
            "added up over the classes of one sample: sample i's scores only reach sample i's outputs",
            lambda g, Z: g - softmax(Z, axis=1) * np.sum(g)),
    Mistake("diagonal_only", "that treats the Jacobian as diagonal, each output depending on its own "
            "score only; every output of a row depends on every score of the row, so each score's "
            "gradient gathers contributions from all the outputs of its row",
            lambda g, Z: g - softmax(Z, axis=1) * g),
    Mistake("jacobian_times_g", "that multiplies the Jacobian by g from the wrong side, gathering over "
            "the scores; the vector-Jacobian product gathers, for each score, over the outputs",
            lambda g, Z: g - np.sum(softmax(Z, axis=1) * g, axis=1, keepdims=True)),
    Mistake("log_p_for_p", "the derivative of the normalising term is the softmax probabilities, not "
            "the log-softmax itself", lambda g, Z: g - log_softmax(Z, axis=1) * _row_sums(g)),
    Mistake("scores_for_p", "the derivative of the normalising term is the softmax probabilities, not "
            "the scores", lambda g, Z: g - Z * _row_sums(g)),
    Mistake("negated", "the sign is flipped: the score itself enters the log-softmax with a plus, the "
            "normalising term with a minus", lambda g, Z: softmax(Z, axis=1) * _row_sums(g) - g),
    Mistake("softmax_vjp", "that is the vector-Jacobian product of the softmax, not of its logarithm "
            "(the logarithm's derivative cancels a factor of the probabilities)",
            lambda g, Z: softmax(Z, axis=1) * (g - np.sum(g * softmax(Z, axis=1), axis=1, keepdims=True))),
    Mistake("returns_softmax", "you returned the softmax probabilities themselves; the answer combines "
            "the upstream gradient g with the log-softmax's Jacobian", lambda g, Z: softmax(Z, axis=1)),
]

#: The hint when the answer is right once each row's scores are shifted down, wrong as given.
OVERFLOW_HINT = ("right on moderate scores, wrong on scores near plus or minus 1000: an exponential of "
                 "such a score overflows to inf or underflows to 0. Adding the same constant to every "
                 "score of a row changes nothing, so shift each row first so that its largest score is "
                 "zero, and only then take exponentials")
OVERFLOW = Mistake("overflow", OVERFLOW_HINT)


@st.composite
def _log_softmax_inputs(draw: st.DrawFn, large: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(g, Z)`` of shape ``(m, C)``, m from 1, one class allowed: small integers, and with
    ``large`` each row's scores moved by plus or minus 1000."""
    m, C = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    Z = draw(integer_arrays((m, C), -3, 3))
    if large:
        Z = Z + draw(hnp.arrays(np.float64, (m, 1), elements=st.sampled_from((1000.0, -1000.0))))
    return draw(integer_arrays((m, C))), Z


def _log_softmax_probes() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three fixed problems with m != C and upstream gradients whose rows and columns do not sum
    to zero, where the known mistakes all differ from each other."""
    rng = np.random.default_rng(8)
    return [(rng.normal(0, 1, size=(m, C)), rng.normal(0, spread, size=(m, C)))
            for m, C, spread in ((5, 3, 2.0), (4, 6, 5.0), (7, 2, 1.0))]


def _parse_dZ(value: object, args: tuple) -> tuple[np.ndarray, ...]:
    return parse_arrays(value, ("dZ",), (args[1].shape,))


_JUDGE_DZ = judge_arrays(("dZ",))


def _overflow(args: tuple, got: Any, answer_on: AnswerOn) -> Mistake | None:
    """:data:`OVERFLOW` when the scores ``Z`` of ``args = (g, Z)`` are large and the student's
    answer is right on ``(g, Z - max of each row)``, the same gradient with each row's largest score
    at 0; None otherwise (the mistakes' outputs decide)."""
    g, Z = args
    if np.max(np.abs(Z), initial=0.0) <= 100:
        return None
    shifted = (g, Z - Z.max(axis=1, keepdims=True))
    answer = answer_on(shifted)
    right = answer is not None and _JUDGE_DZ(shifted, answer, (_log_softmax_vjp(*shifted),)) is None
    return OVERFLOW if right else None


_LOG_SOFTMAX = Exercise(
    name="log_softmax_vjp",
    checks=[Check("moderate scores, m and C from 1", _log_softmax_inputs(large=False)),
            Check("scores near plus or minus 1000", _log_softmax_inputs(large=True))],
    reference=lambda g, Z: (_log_softmax_vjp(g, Z),),
    parse=_parse_dZ,
    judge=_JUDGE_DZ,
    describe=show_arrays(("g", "Z")),
    show=show_arrays(("dZ",)),
    mistakes=LOG_SOFTMAX_MISTAKES,
    classify=_overflow,
    probes=_log_softmax_probes(),
)


def check_log_softmax_vjp(student_vjp: Callable[[np.ndarray, np.ndarray], np.ndarray], verbose: bool = True,
                          *, max_examples: int = DEFAULT_EXAMPLES,
                          timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for scores ``Z (m, C)`` and an upstream gradient ``g (m, C)`` of the row-wise
    log-softmax of ``Z`` where ``student_vjp(g, Z) -> dZ (m, C)`` differs from the gradient with
    respect to the scores (the engine's ``log_softmax`` VJP), first on moderate scores, then on
    scores near plus or minus 1000 (:data:`OVERFLOW_HINT`); print and return the feedback."""
    return run_exercise(_LOG_SOFTMAX, student_vjp, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)
