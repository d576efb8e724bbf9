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

The helpers :func:`parse_arrays`, :func:`judge_arrays`, :func:`show_arrays` and
:class:`ProbedMistakes` are shared with :mod:`tinysae.exercises.vae` and
:mod:`tinysae.exercises.conv`. A known mistake is named from the student's answer at the
counterexample and on a few fixed inputs, where the known mistakes all differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit, log_softmax, softmax

from tinysae.autograd.ops import OPS
from tinysae.backends import numpy_ref
from tinysae.exercises.feedback import Feedback, Mistake
from tinysae.exercises.search import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIMEOUT,
    Check,
    Exercise,
    Unusable,
    call_with_timeout,
    run_exercise,
    show_array,
)

__all__ = [
    "CONTRACTION_MISTAKES",
    "CONTRACTION_OUTPUTS",
    "LOG_SOFTMAX_MISTAKES",
    "OVERFLOW_HINT",
    "ProbedMistakes",
    "check_contraction_grads",
    "check_log_softmax_vjp",
    "judge_arrays",
    "parse_arrays",
    "show_arrays",
]

#: Largest relative difference per entry that still counts as equal (plus an absolute 1e-10).
TOLERANCE = 1e-7

# ----------------------------------------------------------------------------- shared helpers


def integer_arrays(shape: tuple[int, ...], low: int = -2, high: int = 2) -> st.SearchStrategy:
    """Float arrays of ``shape`` holding integers from ``low`` to ``high`` (they shrink to 0)."""
    return hnp.arrays(np.float64, shape, elements=st.integers(low, high).map(float))


def parse_arrays(value: object, names: Sequence[str], shapes: Sequence[tuple[int, ...]],
                 allowed: Callable[[int, tuple[int, ...]], bool] = lambda index, shape: False,
                 ) -> tuple[np.ndarray, ...]:
    """The student's ``value`` as one float array per name of ``names`` (one array when there is
    one name), each of its shape in ``shapes``; raises :class:`Unusable` saying what is wrong.
    ``allowed(index, shape)`` lets through a wrong shape that a known mistake has."""
    if value is None:
        raise Unusable(f"your function returned None: did you forget `return {', '.join(names)}`?")
    if len(names) > 1 and (not isinstance(value, (tuple, list)) or len(value) != len(names)):
        got = type(value).__name__ + (f" of {len(value)}" if isinstance(value, (tuple, list)) else "")
        raise Unusable(f"return {len(names)} values ({', '.join(names)}); got a {got}")
    arrays = []
    for index, (name, raw, shape) in enumerate(zip(names, value if len(names) > 1 else (value,), shapes)):
        if raw is None:
            raise Unusable(f"{name} is None: did you forget to compute it?")
        try:
            array = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise Unusable(f"{name} is not an array of numbers ({type(raw).__name__}: {error})") from None
        if array.shape != shape and not allowed(index, array.shape):
            raise Unusable(f"{name} has shape {array.shape}, expected {shape}")
        arrays.append(array)
    return tuple(arrays)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and bool(
        np.allclose(a, b, rtol=TOLERANCE, atol=1e-10))


def judge_arrays(names: Sequence[str]) -> Callable[[tuple, tuple, tuple], str | None]:
    """A judge saying which of the outputs ``names`` are wrong (and which are right), or None."""
    def judge(args: tuple, got: tuple, expected: tuple) -> str | None:
        shapes = [f"{n} has shape {a.shape}, expected {b.shape}"
                  for n, a, b in zip(names, got, expected) if a.shape != b.shape]
        if shapes:
            return shapes[0]
        bad = [n for n, a in zip(names, got) if not np.all(np.isfinite(a))]
        if bad:
            return f"{bad[0]} contains nan or inf"
        wrong = [n for n, a, b in zip(names, got, expected) if not _close(a, b)]
        if not wrong:
            return None
        right = [n for n in names if n not in wrong]
        verb = "is" if len(wrong) == 1 else "are"
        also = f" ({' and '.join(right)} {'is' if len(right) == 1 else 'are'} right)" if right else ""
        return f"{' and '.join(wrong)} {verb} wrong{also}"
    return judge


def show_arrays(names: Sequence[str]) -> Callable[[Sequence[object]], list[str]]:
    """Lines ``name = value``, one per name, for an answer or an input."""
    return lambda values: [f"{name} = {show_array(value)}" for name, value in zip(names, values)]


class ProbedMistakes:
    """The known mistake a student's answer is: the first whose output equals it at the
    counterexample and also equals the student's answers on each of the fixed ``probes`` (those
    computed once, when first needed; a probe where the student's function gave no usable answer
    is skipped). Generic probes keep a coincidence on a tiny input (a forgotten factor of two and
    a forgotten mean over two samples look alike) from naming the wrong mistake.

    ``parse`` and ``judge`` are the exercise's; a mistake without ``compute`` is never matched
    by value. An instance is the ``classify`` of one :class:`~tinysae.exercises.search.Exercise`
    for one student's function."""

    def __init__(self, student: Callable, mistakes: Sequence[Mistake], parse: Callable[[object, tuple], Any],
                 judge: Callable[[tuple, Any, Any], str | None], probes: Sequence[tuple],
                 timeout: float | None) -> None:
        self.student, self.mistakes, self.parse, self.judge = student, mistakes, parse, judge
        self.probes, self.timeout = probes, timeout
        self._answers: dict[int, Any] = {}

    def answer_on(self, args: tuple) -> Any:
        """The student's parsed answer on ``args``, or None when it raised, ran out of time or
        returned something unusable."""
        try:
            with np.errstate(all="ignore"):
                given = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
                return self.parse(call_with_timeout(self.student, given, self.timeout), args)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # raised, timed out or unusable: this input says nothing
            return None

    def answer(self, index: int) -> Any:
        """The student's parsed answer on probe ``index`` (computed once), or None."""
        if index not in self._answers:
            self._answers[index] = self.answer_on(self.probes[index])
        return self._answers[index]

    def matches(self, mistake: Mistake, args: tuple, got: Any) -> bool:
        """Whether ``mistake``'s output on ``args`` equals the parsed answer ``got``."""
        if mistake.compute is None:
            return False
        try:
            with np.errstate(all="ignore"):
                copies = tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)
                return self.judge(args, got, self.parse(mistake.compute(*copies), args)) is None
        except Exception:  # a mistake that cannot be computed on this input is not the one
            return False

    def __call__(self, args: tuple, got: Any) -> Mistake | None:
        candidates = [mistake for mistake in self.mistakes if self.matches(mistake, args, got)]
        for index, probe in enumerate(self.probes):
            answer = self.answer(index) if candidates else None
            if answer is not None:
                candidates = [mistake for mistake in candidates if self.matches(mistake, probe, answer)]
        return candidates[0] if candidates else None


def run_probed(exercise: Exercise, student: object, probes: Sequence[tuple], *, max_examples: int,
               timeout: float | None, verbose: bool,
               classify: Callable[[ProbedMistakes], Callable[[tuple, Any], Mistake | None]] = lambda p: p,
               ) -> Feedback:
    """:func:`run_exercise` on ``exercise`` with its mistakes named by :class:`ProbedMistakes`
    over ``probes`` (wrapped by ``classify`` where an exercise recognises more)."""
    if callable(student):
        probed = ProbedMistakes(student, exercise.mistakes, exercise.parse, exercise.judge, probes, timeout)
        exercise = dataclasses.replace(exercise, classify=classify(probed))
    return run_exercise(exercise, student, max_examples=max_examples, timeout=timeout, verbose=verbose)


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
    return run_probed(_CONTRACTION, student_contraction_grads, _contraction_probes(),
                      max_examples=max_examples, timeout=timeout, verbose=verbose)


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


def _overflow_or(probed: ProbedMistakes) -> Callable[[tuple, Any], Mistake | None]:
    """``probed``, after the overflow: an answer that is right once each row's scores are shifted
    so that their maximum is 0, on scores that are large, fails from overflow."""
    def classify(args: tuple, got: Any) -> Mistake | None:
        g, Z = args
        if np.max(np.abs(Z)) > 100:
            shifted = (g, Z - Z.max(axis=1, keepdims=True))
            answer = probed.answer_on(shifted)
            if answer is not None and probed.judge(shifted, answer, (_log_softmax_vjp(*shifted),)) is None:
                return OVERFLOW
        return probed(args, got)
    return classify


_LOG_SOFTMAX = Exercise(
    name="log_softmax_vjp",
    checks=[Check("moderate scores, m and C from 1", _log_softmax_inputs(large=False)),
            Check("scores near plus or minus 1000", _log_softmax_inputs(large=True))],
    reference=lambda g, Z: (_log_softmax_vjp(g, Z),),
    parse=_parse_dZ,
    judge=judge_arrays(("dZ",)),
    describe=show_arrays(("g", "Z")),
    show=show_arrays(("dZ",)),
    mistakes=LOG_SOFTMAX_MISTAKES,
)


def check_log_softmax_vjp(student_vjp: Callable[[np.ndarray, np.ndarray], np.ndarray], verbose: bool = True,
                          *, max_examples: int = DEFAULT_EXAMPLES,
                          timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for scores ``Z (m, C)`` and an upstream gradient ``g (m, C)`` of the row-wise
    log-softmax of ``Z`` where ``student_vjp(g, Z) -> dZ (m, C)`` differs from the gradient with
    respect to the scores (the engine's ``log_softmax`` VJP), first on moderate scores, then on
    scores near plus or minus 1000 (:data:`OVERFLOW_HINT`); print and return the feedback."""
    return run_probed(_LOG_SOFTMAX, student_vjp, _log_softmax_probes(), max_examples=max_examples,
                      timeout=timeout, verbose=verbose, classify=_overflow_or)
