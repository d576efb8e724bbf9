r"""Answers made of arrays: drawing them, parsing them, judging them, showing them.

An exercise whose answer is a tuple of arrays (``(dW1, db1)``, ``(kl, dmu, dlogvar)``, ``dW``
alone) names its outputs once, e.g. ``("dW1", "db1")``, and builds its
:class:`~tinysae.exercises.search.Exercise` from these helpers:

* :func:`parse_arrays`: the student's return value as one float array per name, or
  :class:`~tinysae.exercises.search.Unusable` saying what is wrong (``None`` returned, the wrong
  number of values, not numbers, a wrong shape);
* :func:`judge_arrays`: which outputs are wrong and which are right, or ``None``;
* :func:`show_arrays`: one line ``name = value`` per array, for an input or an answer;
* :func:`integer_arrays`: the hypothesis strategy of small integer-valued float arrays that the
  searches draw (they print compactly and shrink to zeros).

An exercise whose answer is one unnamed array ("your result": the sigmoid, ``s``, a numerical
gradient) uses :func:`array_answer` and :func:`judge_array`, which says at which indices it is
wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinysae.exercises.feedback import TOLERANCE
from tinysae.exercises.search import Unusable, agree, show_array

__all__ = ["array_answer", "integer_arrays", "judge_array", "judge_arrays", "parse_arrays",
           "show_arrays"]


def integer_arrays(shape: tuple[int, ...], low: int = -2, high: int = 2) -> st.SearchStrategy:
    """Float64 arrays of ``shape`` holding integers from ``low`` to ``high`` (they shrink to 0)."""
    return hnp.arrays(np.float64, shape, elements=st.integers(low, high).map(float))


def _values(value: object, names: Sequence[str]) -> Sequence[object]:
    """The ``len(names)`` raw values of the student's return value (itself, for one name)."""
    if value is None:
        raise Unusable(f"your function returned None: did you forget `return {', '.join(names)}`?")
    if len(names) == 1:
        return (value,)
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        got = type(value).__name__ + (f" of {len(value)}" if isinstance(value, (tuple, list)) else "")
        raise Unusable(f"return {len(names)} values ({', '.join(names)}); got a {got}")
    return value


def _as_array(name: str, raw: object) -> np.ndarray:
    if raw is None:
        raise Unusable(f"{name} is None: did you forget to compute it?")
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise Unusable(f"{name} is not an array of numbers ({type(raw).__name__}: {error})") from None


def parse_arrays(value: object, names: Sequence[str], shapes: Sequence[tuple[int, ...]] | None = None,
                 allowed: Callable[[int, tuple[int, ...]], bool] = lambda index, shape: False,
                 ) -> tuple[np.ndarray, ...]:
    """The student's ``value`` as one float64 array per name of ``names`` (the value itself is the
    one array when there is one name), the ``i``-th of shape ``shapes[i]`` (``shapes`` None: any
    shapes).

    Raises :class:`~tinysae.exercises.search.Unusable` saying what is wrong. An array of another
    shape is let through when ``allowed(i, shape)`` (a known mistake's shape, which the judge then
    reports as a wrong answer); otherwise the ``Unusable`` carries the parsed arrays, so that a
    known mistake of that shape can still be named."""
    arrays = tuple(_as_array(name, raw) for name, raw in zip(names, _values(value, names)))
    for index, (name, array, shape) in enumerate(zip(names, arrays, shapes or ())):
        if array.shape != shape and not allowed(index, array.shape):
            raise Unusable(f"{name} has shape {array.shape}, expected {shape}", arrays)
    return arrays


def array_answer(value: object, shape: tuple[int, ...]) -> np.ndarray:
    """The student's ``value`` as a float64 array of ``shape``, else
    :class:`~tinysae.exercises.search.Unusable` saying why (carrying the array when only its shape
    is wrong, so a mistake of that shape can be named)."""
    if value is None:
        raise Unusable("your function returned None: did you forget `return`?")
    array = _as_array("your result", value)
    if array.shape != shape:
        raise Unusable(f"your result has shape {array.shape}, expected {shape}", array)
    return array


def judge_array(args: tuple, got: np.ndarray, expected: np.ndarray) -> str | None:
    """None when ``got`` agrees with ``expected`` (:func:`~tinysae.exercises.search.agree`), else
    the indices of the first three entries that differ ("wrong at indices [0], [2]"), or "your
    result is wrong" for a number or a wrong shape."""
    if agree(got, expected):
        return None
    if got.shape != expected.shape or got.ndim == 0:
        return "your result is wrong"
    with np.errstate(all="ignore"):
        bad = ~np.isclose(got, expected, rtol=TOLERANCE, atol=1e-12, equal_nan=True)
    where = [list(int(i) for i in index) for index in np.argwhere(bad)]
    if not where:
        return "your result is wrong"
    shown = ", ".join(str(index) for index in where[:3]) + (", ..." if len(where) > 3 else "")
    return f"wrong at {'index' if len(where) == 1 else 'indices'} {shown}"


def _listed(names: Sequence[str]) -> str:
    """The names joined by "and", then the verb that agrees with them: "kl and dmu are"."""
    return f"{' and '.join(names)} {'is' if len(names) == 1 else 'are'}"


def judge_arrays(names: Sequence[str]) -> Callable[[tuple, tuple, tuple], str | None]:
    """A judge ``judge(args, got, expected)`` of answers made of the arrays ``names``: None when
    every output of ``got`` agrees with ``expected`` (:func:`~tinysae.exercises.search.agree`,
    relative error at most :data:`TOLERANCE`), else the first wrong shape, the first output holding
    nan or inf, or which outputs are wrong and which are right ("dW1 is wrong (db1 is right)")."""
    def judge(args: tuple, got: tuple, expected: tuple) -> str | None:
        for name, a, b in zip(names, got, expected):
            if a.shape != b.shape:
                return f"{name} has shape {a.shape}, expected {b.shape}"
        for name, a in zip(names, got):
            if not np.all(np.isfinite(a)):
                return f"{name} contains nan or inf"
        wrong = [name for name, a, b in zip(names, got, expected) if not agree(a, b, TOLERANCE)]
        if not wrong:
            return None
        right = [name for name in names if name not in wrong]
        return f"{_listed(wrong)} wrong" + (f" ({_listed(right)} right)" if right else "")
    return judge


def show_arrays(names: Sequence[str]) -> Callable[[Sequence[object]], list[str]]:
    """``show(values)``: the lines ``name = value``, one per name, for an answer or an input."""
    return lambda values: [f"{name} = {show_array(value)}" for name, value in zip(names, values)]
