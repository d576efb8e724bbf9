r"""Checkers that search: hypothesis looks for the smallest input where a student's function is wrong.

An :class:`Exercise` is a list of :class:`Check` (a name and a hypothesis strategy drawing the
function's positional arguments), a reference, a ``judge`` saying what is wrong with a parsed
answer (``None`` when it is right) and a table of known mistakes. :func:`run_exercise` runs each
check with :func:`hypothesis.find` (derandomized, no database, so the feedback is reproducible):
the condition is "the student's answer is wrong, has the wrong shape, or raised", which hypothesis
shrinks to a smallest counterexample. The feedback shows that input, the expected output and the
student's, and names the known mistake whose output equals the student's on it, on the first
failing input found and on the exercise's fixed ``probes`` (generic inputs, so a coincidence on a
tiny input does not name a mistake). An answer of the wrong shape "could not run" when the
exercise's ``parse`` refuses it (an answer whose shapes are known, parsed by
:func:`tinysae.exercises.arrays.parse_arrays` with ``shapes``); the engine exercises accept any
shape and their ``judge`` reports a wrong one as a wrong answer, showing both. A wrong shape is
still named when :class:`Unusable` carries the value and a mistake has that shape (a sum returned
where one value per entry is asked). Where comparing outputs cannot decide, an exercise's ``classify``
recognises a mistake from the answer (a shape, an overflow), and its ``explain_error`` from an
exception the student's function raised (windows that run off an image's edge); both may run the
student's function on other inputs through the ``answer_on`` they are given.

It stops at the first check that fails; "all N checks passed" is printed only when every check
ran. ``NotImplementedError`` gives "not done yet". Under nbgrader (``NBGRADER_EXECUTION`` set)
a checker that did not pass raises :class:`~tinysae.exercises.feedback.ExerciseNotPassed` after
printing.

**Timeout.** Each call of the student's function is limited to ``timeout`` seconds: with
``signal.setitimer(ITIMER_REAL)`` in the main thread on POSIX (the Jupyter kernel runs cells
there); elsewhere (Windows, another thread) the call runs in a daemon thread that is abandoned,
still running, when the time is up. A Numba-compiled loop cannot be interrupted either way: the
alarm is only handled when the compiled code returns to Python.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import Flaky, NoSuchExample
from hypothesis.strategies import SearchStrategy

from tinysae.exercises.feedback import ExerciseNotPassed, Feedback, Mistake

__all__ = ["AnswerOn", "Check", "Exercise", "Unusable", "agree", "call_with_timeout", "matching_mistake",
           "relative_error_of", "run_exercise", "show_array"]

#: Default seconds allowed for one call of the student's function.
DEFAULT_TIMEOUT = 10.0
#: What the feedback says when the student's function was wrong on an input during the search and
#: right when called on it again.
UNSTEADY = ("your function gave a wrong answer on this input, and the right one when it was called on "
            "it again: its answers change from call to call (a race between threads, a random draw, or "
            "state kept from one call to the next)")
#: Default number of inputs hypothesis tries per check (before shrinking).
DEFAULT_EXAMPLES = 100

#: ``answer_on(args)``: the student's parsed answer on the input ``args`` (the value a wrong shape's
#: :class:`Unusable` carries), or None when the function raised, ran out of time or gave nothing usable.
AnswerOn = Callable[[tuple], Any]


class _Timeout(BaseException):
    """The student's call ran out of time (a BaseException, so ``except Exception`` in it cannot
    swallow it)."""


class Unusable(Exception):
    """The student's return value cannot be compared (None, not an array, a wrong shape).

    ``value``: the parsed value when there is one (a wrong shape), so that a known mistake of that
    shape can still be named; None otherwise."""

    def __init__(self, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.value = value


def call_with_timeout(function: Callable[..., Any], args: tuple, timeout: float | None) -> Any:
    """``function(*args)``, raising :class:`_Timeout` after ``timeout`` seconds (None: no limit)."""
    if not timeout:
        return function(*args)
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        def alarm(signum: int, frame: object) -> None:
            raise _Timeout()
        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return function(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function(*args)
        except BaseException as error:  # handed to the caller's thread
            box["error"] = error
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _Timeout()
    if "error" in box:
        raise box["error"]
    return box["value"]


def show_array(value: object) -> str:
    """A compact one-line picture of an array (precision 4) or of any other value."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=4, separator=", ", max_line_width=10_000)
        return " ".join(text.split()) + (f"  (shape {value.shape})" if value.ndim > 1 else "")
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return repr(value)


def relative_error_of(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / ||a + b||`` (0 when both are 0; inf on different shapes or a non-finite entry)."""
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return float("inf")
    difference, total = float(np.linalg.norm(a - b)), float(np.linalg.norm(a + b))
    if difference == 0.0:
        return 0.0
    return difference / total if total > 0 else float("inf")


def agree(a: np.ndarray, b: np.ndarray, tolerance: float = 1e-7, floor: float = 1e-12) -> bool:
    """Whether ``a`` and ``b`` have one shape, the same non-finite entries (nan where the other has
    nan, the same infinities) and finite entries within relative error ``tolerance``
    (:func:`relative_error_of`) or all within ``floor`` of each other (rounding around 0)."""
    if a.shape != b.shape:
        return False
    finite = np.isfinite(a)
    if not np.array_equal(finite, np.isfinite(b)):
        return False
    if not np.array_equal(a[~finite], b[~finite], equal_nan=True):
        return False
    x, y = a[finite], b[finite]
    return relative_error_of(x, y) <= tolerance or float(np.max(np.abs(x - y), initial=0.0)) <= floor


@dataclass(frozen=True)
class Check:
    """One property searched: its name and the strategy drawing the function's arguments."""

    name: str
    strategy: SearchStrategy


@dataclass(frozen=True)
class Exercise:
    """What a searching checker needs.

    ``reference(*args)`` is the expected answer, in the parsed form; ``parse(value, args)`` turns
    the student's return value into that form or raises :class:`Unusable`; ``judge(args, got,
    expected)`` returns what is wrong (a sentence) or None; ``describe(args)`` the lines showing an
    input; ``show(answer)`` the lines showing an answer; ``probes`` are fixed inputs on which a
    mistake named by its ``compute`` must also agree with the student's answer.

    ``classify(args, got, answer_on)`` recognises a mistake where comparing outputs cannot decide;
    it names it when it gives that mistake on the smallest failing input and on the first one
    found (else the mistakes' outputs are compared). ``explain_error(args, error, answer_on)``
    names the mistake behind an exception the student's function raised at the smallest failing
    input (None: the exception is shown without a hint). ``answer_on`` is :data:`AnswerOn`."""

    name: str
    checks: Sequence[Check]
    reference: Callable[..., Any]
    parse: Callable[[object, tuple], Any]
    judge: Callable[[tuple, Any, Any], str | None]
    describe: Callable[[tuple], list[str]]
    show: Callable[[Any], list[str]]
    mistakes: Sequence[Mistake]
    classify: Callable[[tuple, Any, AnswerOn], Mistake | None] | None = None
    explain_error: Callable[[tuple, BaseException, AnswerOn], Mistake | None] | None = None
    copy: Callable[[tuple], tuple] = lambda args: tuple(
        a.copy() if isinstance(a, np.ndarray) else a for a in args)
    probes: Sequence[tuple] = ()


@dataclass
class _Outcome:
    kind: str  # "ok", "wrong", "error", "timeout", "not done"
    message: str = ""
    got: Any = None
    error: BaseException | None = None  # what the student's function raised


def _student_line(error: BaseException, student: Callable) -> str:
    """``(line N: code)`` of the student's frame that raised, else of the last frame outside tinysae."""
    frames = traceback.extract_tb(error.__traceback__)
    code = getattr(student, "__code__", None) or getattr(getattr(student, "py_func", None), "__code__", None)
    own = [f for f in frames if code is not None and f.filename == code.co_filename]
    package = os.path.dirname(os.path.dirname(__file__))
    outside = [f for f in frames if not f.filename.startswith(package) and "hypothesis" not in f.filename]
    frame = (own or outside or frames or [None])[-1]
    if frame is None:
        return ""
    return f" (line {frame.lineno}" + (f": {frame.line.strip()})" if frame.line else ")")


def _evaluate(exercise: Exercise, student: Callable, args: tuple, timeout: float | None) -> _Outcome:
    given = exercise.copy(args)
    try:
        with np.errstate(all="ignore"):
            value = call_with_timeout(student, given, timeout)
    except _Timeout:
        return _Outcome("timeout", f"your function did not return within {timeout:g} s (an endless loop?)")
    except NotImplementedError:
        return _Outcome("not done")
    except Exception as error:  # the student's bug is reported, not raised
        text = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        raised = f"{type(error).__name__}: {text}" if text else type(error).__name__
        return _Outcome("error", f"your function raised {raised}{_student_line(error, student)}", error=error)
    changed = [i for i, (a, b) in enumerate(zip(given, args))
               if isinstance(a, np.ndarray) and not np.array_equal(a, b)]
    try:
        got = exercise.parse(value, args)
    except Unusable as problem:
        return _Outcome("error", str(problem), problem.value)
    if changed:
        return _Outcome("wrong", "your function changed one of its inputs in place: work on a copy", got)
    with np.errstate(all="ignore"):
        problem = exercise.judge(args, got, exercise.reference(*args))
    return _Outcome("wrong", problem, got) if problem else _Outcome("ok", got=got)


def _same(exercise: Exercise, args: tuple, got: Any, other: Any) -> bool:
    return exercise.judge(args, got, other) is None


def _parsed(exercise: Exercise, value: object, args: tuple) -> Any:
    """``exercise.parse(value, args)``, or the value an :class:`Unusable` carries (a wrong shape)."""
    try:
        return exercise.parse(value, args)
    except Unusable as problem:
        if problem.value is None:
            raise
        return problem.value


def matching_mistake(exercise: Exercise, args_list: Sequence[tuple], gots: Sequence[Any]) -> Mistake | None:
    """The first of ``exercise.mistakes`` whose output (``compute`` on a copy of the input, parsed)
    the judge finds equal to the student's parsed answer ``gots[i]`` on every input ``args_list[i]``."""
    for mistake in exercise.mistakes:
        if mistake.compute is None:
            continue
        try:
            with np.errstate(all="ignore"):
                if all(_same(exercise, args, got,
                             _parsed(exercise, mistake.compute(*exercise.copy(args)), args))
                       for args, got in zip(args_list, gots)):
                    return mistake
        except Exception:  # a mistake that cannot be computed on this input is not the one
            continue
    return None


def _mistake_of(exercise: Exercise, answer_on: AnswerOn, smallest: tuple, got: Any,
                first: tuple | None) -> Mistake | None:
    """The known mistake of the student's answer ``got`` on the smallest failing input: the one
    ``classify`` gives there and on the first failing input found (when that gave an answer), else
    the one whose output equals the student's answers there and on every probe (None when a probe
    gave no answer)."""
    inputs, gots = [smallest], [got]
    again = None if first is None or first is smallest else answer_on(first)
    if again is not None:
        inputs.append(first)
        gots.append(again)
    if exercise.classify is not None:
        found = [exercise.classify(args, answer, answer_on) for args, answer in zip(inputs, gots)]
        if found[0] is not None and all(mistake is found[0] for mistake in found):
            return found[0]
    for probe in exercise.probes:
        answer = answer_on(probe)
        if answer is None:
            return None
        inputs.append(probe)
        gots.append(answer)
    return matching_mistake(exercise, inputs, gots)


def _finish(feedback: Feedback, verbose: bool) -> Feedback:
    if verbose:
        print(feedback)
    if not feedback.passed and os.environ.get("NBGRADER_EXECUTION"):
        raise ExerciseNotPassed(str(feedback))
    return feedback


def run_exercise(exercise: Exercise, student: object, *, max_examples: int = DEFAULT_EXAMPLES,
                 timeout: float | None = DEFAULT_TIMEOUT, verbose: bool = True,
                 extra_checks: Sequence[tuple[str, Callable[[object], str | None]]] = ()) -> Feedback:
    """Search each check of ``exercise`` for an input where ``student`` is wrong; then run the
    ``extra_checks`` (a name and a function of the student's function returning what is wrong or
    None). Prints the feedback (when ``verbose``) and returns it."""
    name = exercise.name
    total = len(exercise.checks) + len(extra_checks)
    if not callable(student):
        return _finish(Feedback(name, False, [f"expected a function, got {type(student).__name__}: pass "
                                              "the function itself, without calling it"],
                                status="could not run", checks=total), verbose)
    options = settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
                       phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))

    def answer_on(args: tuple) -> Any:
        return _evaluate(exercise, student, args, timeout).got

    for number, check in enumerate(exercise.checks, start=1):
        state: dict[str, Any] = {}

        def fails(args: tuple, state: dict[str, Any] = state) -> bool:
            if "stop" in state:
                return False
            outcome = _evaluate(exercise, student, args, timeout)
            if outcome.kind in ("timeout", "not done"):
                state["stop"] = (outcome, args)
                return False
            if outcome.kind != "ok" and "first" not in state:
                state["first"] = args
            return outcome.kind != "ok"

        where = f"check {number} of {total} ({check.name})"
        try:
            smallest = find(check.strategy, fails, settings=options)
        except NoSuchExample:
            smallest = None
        except Flaky:  # an input that failed, then passed when hypothesis replayed it
            return _finish(Feedback(name, False, [f"{where} failed: {UNSTEADY}"], checks=total), verbose)
        if smallest is None and "stop" in state:
            outcome, args = state["stop"]
            if outcome.kind == "not done":
                hint = "the exercise is not done yet: replace `raise NotImplementedError()` with your code"
                return _finish(Feedback(name, False, hint=hint, status="not done", checks=total), verbose)
            lines = [f"{where} could not run: {outcome.message}", "on the input:",
                     *[f"  {line}" for line in exercise.describe(args)]]
            return _finish(Feedback(name, False, lines, status="could not run", checks=total), verbose)
        if smallest is None:
            continue
        outcome = _evaluate(exercise, student, smallest, timeout)
        lines = ["the smallest input found:", *[f"  {line}" for line in exercise.describe(smallest)]]
        if outcome.kind == "ok":  # wrong during the search, right when called again on the same input
            lines = [f"{where} failed: {UNSTEADY}", *lines]
            return _finish(Feedback(name, False, lines, checks=total), verbose)
        if outcome.got is not None:
            mistake = _mistake_of(exercise, answer_on, smallest, outcome.got, state.get("first"))
        elif outcome.error is not None and exercise.explain_error is not None:
            mistake = exercise.explain_error(smallest, outcome.error, answer_on)
        else:
            mistake = None
        named = {"hint": mistake.hint if mistake else None, "mistake": mistake.key if mistake else None}
        if outcome.kind in ("error", "timeout"):
            lines = [f"{where} could not run: {outcome.message}", *lines]
            return _finish(Feedback(name, False, lines, status="could not run", checks=total, **named),
                           verbose)
        lines = [f"{where} failed: {outcome.message}", *lines,
                 "expected:", *[f"  {line}" for line in exercise.show(exercise.reference(*smallest))],
                 "yours:", *[f"  {line}" for line in exercise.show(outcome.got)]]
        return _finish(Feedback(name, False, lines, checks=total, **named), verbose)
    for number, (check_name, extra) in enumerate(extra_checks, start=len(exercise.checks) + 1):
        problem = extra(student)
        if problem:
            line = f"check {number} of {total} ({check_name}) failed: {problem}"
            return _finish(Feedback(name, False, [line], checks=total), verbose)
    return _finish(Feedback(name, True, checks=total), verbose)
