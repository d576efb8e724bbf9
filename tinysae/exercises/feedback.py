r"""The feedback machinery shared by every exercise checker.

A checker calls the student's function on several :class:`Case` inputs, compares each result
``y`` with the reference ``y_hat`` by the relative error
:math:`\lVert y - \hat y\rVert / \lVert y + \hat y\rVert` (it passes when that is at most
:data:`TOLERANCE`), and returns a :class:`Feedback`. A wrong answer that equals (within
:data:`MATCH_TOLERANCE`) the output of a known :class:`Mistake` on the same input gets that
mistake's hint. :func:`_check_function` does all of this for an exercise whose answer is one
array (any shape). :class:`Feedback`, :class:`Mistake` and :class:`ExerciseNotPassed` are also
those of the searching checkers (:mod:`tinysae.exercises.search`).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinysae.autograd.gradcheck import relative_error

__all__ = ["FAIL_MARK", "MATCH_TOLERANCE", "NOT_DONE_MARK", "PASS_MARK", "TOLERANCE", "Case",
           "ExerciseNotPassed", "Feedback", "Mistake"]

PASS_MARK = "✔"
FAIL_MARK = "✘"
NOT_DONE_MARK = "…"
#: Largest relative error ``||yours - expected|| / ||yours + expected||`` that passes.
TOLERANCE = 1e-7
#: A wrong answer "is" a known mistake when it equals that mistake's output this closely.
MATCH_TOLERANCE = 1e-6


# ----------------------------------------------------------------------------- the result


@dataclass
class Feedback:
    """The verdict of one checker.

    ``passed`` is True when every case matched the reference; ``details`` are the lines
    explaining what went wrong (empty on success); ``hint`` names a likely cause; ``mistake``
    is the key of the known mistake the answer matched (or None); ``errors`` maps each output
    checked to its worst relative error over the cases tried.
    """

    exercise: str
    passed: bool
    details: list[str] = field(default_factory=list)
    hint: str | None = None
    mistake: str | None = None
    errors: dict[str, float] = field(default_factory=dict)
    status: str = ""
    checks: int = 0

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "passed" if self.passed else "failed"

    def __str__(self) -> str:
        if self.checks and self.passed:
            return f"{PASS_MARK} {self.exercise}: all {self.checks} checks passed"
        if self.status == "not done":
            return (f"{NOT_DONE_MARK} {self.exercise}: not done yet (your function raises "
                    "NotImplementedError: replace that line with your code)")
        if self.passed:
            worst = max(self.errors.values(), default=0.0)
            return (f"{PASS_MARK} {self.exercise}: correct on every case "
                    f"(worst relative error {worst:.1e}, tolerance {TOLERANCE:.0e})")
        lines = [f"{FAIL_MARK} {self.exercise}: not yet"]
        lines += [f"  {line}" for line in self.details]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Feedback(exercise={self.exercise!r}, passed={self.passed}, mistake={self.mistake!r})"


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: its key, the hint shown when it matches, and how to compute it
    from the same arguments as the exercise (``None`` where a shared function computes it)."""

    key: str
    hint: str
    compute: Callable[..., Any] | None = None


@dataclass
class Case:
    """One input to try: the positional ``args``, their ``names`` and a short description."""

    args: tuple
    names: tuple[str, ...]
    description: str


class ExerciseNotPassed(AssertionError):
    """Raised by a checker that did not pass while nbgrader grades (``NBGRADER_EXECUTION`` set)."""


# ----------------------------------------------------------------------------- shared helpers


def _report(feedback: Feedback, verbose: bool) -> Feedback:
    if verbose:
        print(feedback)
    return feedback


def _describe_exception(error: Exception, student: Callable) -> tuple[str, str | None]:
    """A message naming the exception and the line of the student's code that raised it,
    and a hint for ``NotImplementedError`` (an exercise not done yet)."""
    frames = traceback.extract_tb(error.__traceback__)
    code = getattr(student, "__code__", None)
    own = [frame for frame in frames if code is not None and frame.filename == code.co_filename]
    frame = own[-1] if own else frames[-1]
    where = f"line {frame.lineno}" + (f": {frame.line.strip()}" if frame.line else "")
    raised = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    message = f"your function raised {raised} ({where})"
    hint = None
    if isinstance(error, NotImplementedError):
        hint = "the exercise is not done yet: replace `raise NotImplementedError()` with your code"
    return message, hint


def _call(student: Callable, args: tuple) -> tuple[Any, tuple[str, str | None] | None]:
    """``(student(*args), None)``, or ``(None, (message, hint))`` if the student's code raised."""
    try:
        with np.errstate(all="ignore"):
            return student(*args), None
    except Exception as error:  # a bug in the student's code is reported, not raised
        return None, _describe_exception(error, student)


def _as_array(value: object, what: str) -> tuple[np.ndarray | None, str | None]:
    """``value`` as a float64 array, or ``(None, message)`` saying why it is not one."""
    if value is None:
        return None, f"{what} is None: did you forget `return`?"
    try:
        return np.asarray(value, dtype=np.float64), None
    except (TypeError, ValueError) as error:
        return None, f"{what} is not an array of numbers (got {type(value).__name__}: {error})"


def _close(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and relative_error(a, b) <= tolerance


def _compare(name: str, got: np.ndarray, expected: np.ndarray) -> tuple[float, list[str]]:
    """The relative error of ``got`` against ``expected`` (inf on a wrong shape or NaN), and the
    lines describing what is wrong (empty when it is within :data:`TOLERANCE`)."""
    if got.shape != expected.shape:
        lines = [f"{name} has shape {got.shape}, expected {expected.shape}"]
        if expected.ndim == 2 and _close(got, expected.T, TOLERANCE):
            lines.append(f"the values of {name} are right but transposed: it should have shape "
                         f"{expected.shape} (e.g. dW1 = D2^T X has W1's shape (k, n))")
        elif got.size == expected.size and _close(got.reshape(expected.shape), expected, TOLERANCE):
            lines.append(f"the values of {name} are right; reshape it to {expected.shape}")
        return float("inf"), lines
    bad = ~np.isfinite(got)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        return float("inf"), [f"{name} contains {got[index]} at index {list(index)} "
                              f"(expected {expected[index]:.6g}): a log or division of a bad value?"]
    error = relative_error(got, expected)
    if error <= TOLERANCE:
        return error, []
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(got - expected))), got.shape))
    at = f" [{', '.join(map(str, index))}]" if index else ""
    return error, [
        f"{name}: relative error ||yours - expected|| / ||yours + expected|| = {error:.2e} "
        f"(needs <= {TOLERANCE:.0e})",
        f"worst entry{at}: yours {got[index]:.8g}, expected {expected[index]:.8g}",
    ]


def _compare_outputs(outputs: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                     worst: dict[str, float]) -> tuple[list[str], list[str]]:
    """Compare each named output with its expected value (in ``expected``'s order), raising
    ``worst[name]`` to the largest relative error seen. Returns the feedback lines (a pass or a
    fail mark per output, a failure's details indented below it) and the names that failed."""
    lines, wrong = [], []
    for name in expected:
        error, problems = _compare(name, outputs[name], expected[name])
        worst[name] = max(worst[name], error)
        if problems:
            wrong.append(name)
            lines.append(f"{FAIL_MARK} {problems[0]}")
            lines += [f"    {line}" for line in problems[1:]]
        else:
            lines.append(f"{PASS_MARK} {name} (relative error {error:.1e})")
    return lines, wrong


def _matching_mistake(got: np.ndarray, expected: np.ndarray,
                      variants: Sequence[tuple[Mistake, object]]) -> Mistake | None:
    """The first known mistake whose output equals ``got`` (and differs from ``expected``)."""
    for mistake, value in variants:
        wrong = np.asarray(value, dtype=np.float64)
        differs = wrong.shape != expected.shape or relative_error(wrong, expected) > TOLERANCE
        if differs and _close(got, wrong, MATCH_TOLERANCE):
            return mistake
    return None


def _mistake_matching_all(outputs: dict[str, np.ndarray], names: Sequence[str], mistakes: Sequence[Mistake],
                          args: tuple) -> Mistake | None:
    """The first of ``mistakes`` whose outputs (``mistake.compute(*args)``, one per name of
    ``names``) all equal the student's ``outputs``: a checker of several outputs names a mistake
    only when every output matches it."""
    with np.errstate(all="ignore"):
        for mistake in mistakes:
            variant = dict(zip(names, mistake.compute(*args)))
            if all(_close(outputs[name], variant[name], MATCH_TOLERANCE) for name in names):
                return mistake
    return None


def _changed_inputs(case: Case, before: list[object]) -> list[str]:
    """Names of the array arguments the student's function changed in place."""
    changed = []
    for name, now, then in zip(case.names, case.args, before):
        if isinstance(now, np.ndarray) and not np.allclose(now, then, rtol=1e-12, atol=1e-12):
            changed.append(name)
    return changed


def _copy_args(args: tuple) -> list[object]:
    return [arg.copy() if isinstance(arg, np.ndarray) else arg for arg in args]


def _not_a_function(exercise: str, student: object) -> Feedback:
    """What a checker says when it is given something other than a function (e.g. a call's result)."""
    return Feedback(exercise, False, [f"expected a function, got {type(student).__name__}"],
                    hint="pass the function itself, without calling it: "
                         "check(my_function), not check(my_function())")


def _changed_in_place(exercise: str, where: str, changed: list[str], hint: str) -> Feedback:
    """What a checker says when the student's function modified the inputs ``changed`` in place."""
    what = f"your function changed its input {', '.join(changed)} in place"
    return Feedback(exercise, False, [where, what], hint=hint)


def _run_case(exercise: str, student: Callable, case: Case,
              where: str) -> tuple[Any, list[str], Feedback | None]:
    """Call ``student`` on ``case.args``: ``(value, the inputs it changed in place, None)``, or
    ``(None, [], failure)`` when it raised (the failure names ``where`` and the exception)."""
    before = _copy_args(case.args)
    value, raised = _call(student, case.args)
    if raised is not None:
        message, hint = raised
        return None, [], Feedback(exercise, False, [where, message], hint=hint)
    return value, _changed_inputs(case, before), None


def _check_function(exercise: str, student: object, cases: list[Case],
                    reference: Callable[..., np.ndarray], mistakes: list[Mistake],
                    verbose: bool) -> Feedback:
    """Run ``student`` on every case against ``reference``; stop at the first wrong case."""
    if not callable(student):
        return _report(_not_a_function(exercise, student), verbose)
    worst = 0.0
    for number, case in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)}: {case.description}"
        value, changed, failure = _run_case(exercise, student, case, where)
        if failure is not None:
            return _report(failure, verbose)
        if changed:
            return _report(_changed_in_place(exercise, where, changed,
                                             "work on a copy (x = x.copy()) or put each entry back"), verbose)
        got, problem = _as_array(value, "your result")
        if problem is not None:
            return _report(Feedback(exercise, False, [where, problem]), verbose)
        expected = reference(*case.args)
        error, lines = _compare("your result", got, expected)
        if lines:
            with np.errstate(all="ignore"):
                variants = [(mistake, mistake.compute(*case.args)) for mistake in mistakes]
            mistake = _matching_mistake(got, expected, variants)
            return _report(Feedback(exercise, False, [where, *lines],
                                    hint=mistake.hint if mistake else None,
                                    mistake=mistake.key if mistake else None,
                                    errors={"result": error}), verbose)
        worst = max(worst, error)
    return _report(Feedback(exercise, True, errors={"result": worst}), verbose)
