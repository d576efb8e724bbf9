"""Searching checkers for the engine's exercises: one op's VJP, the topological order, unbroadcast.

* :func:`check_matmul_vjp`: ``matmul_vjp(g, A, B) -> (dA, dB)`` for ``C = A @ B``, ``A (m, n)``,
  ``B (n, k)``, ``g = dJ/dC (m, k)``; ``dA (m, n)``, ``dB (n, k)``.
* :func:`check_topological_order`: ``topological_order(root) -> list`` of every
  :class:`tinysae.autograd.Tensor` that ``root`` depends on, each once, each after its ``.parents``.
* :func:`check_unbroadcast`: ``unbroadcast(grad, shape)`` of exactly ``shape``, the gradient with
  respect to an input of ``shape`` that numpy broadcast up to ``grad.shape``.

The inputs are small integer-valued arrays (so the counterexamples print compactly), with
m = 1, k = 1, zeros, shared nodes, a node used twice by one op, and axes of length 1. The answers
made of arrays are parsed (of any shape: the judge reports a wrong one), judged and shown by
:mod:`tinysae.exercises.arrays`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from tinysae.autograd import Tensor
from tinysae.autograd.ops import unbroadcast as _engine_unbroadcast
from tinysae.autograd.tensor import topological_order as _engine_order
from tinysae.exercises.arrays import integer_arrays, judge_arrays, parse_arrays, show_arrays
from tinysae.exercises.feedback import Feedback, Mistake
from tinysae.exercises.search import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIMEOUT,
    AnswerOn,
    Check,
    Exercise,
    Unusable,
    run_exercise,
    show_array,
)

__all__ = ["MATMUL_MISTAKES", "TOPOLOGICAL_MISTAKES", "UNBROADCAST_MISTAKES", "check_matmul_vjp",
           "check_topological_order", "check_unbroadcast"]

#: ``tinysae/exercises/kernels.py`` imports the array helpers under these names from here.


def _array(shape: tuple[int, ...]) -> st.SearchStrategy:
    return integer_arrays(shape, -3, 3)


# ----------------------------------------------------------------------------- matmul


@st.composite
def _matmul_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, n, k = (draw(st.integers(1, 4)) for _ in range(3))
    return draw(_array((m, k))), draw(_array((m, n))), draw(_array((n, k)))


def _matmul_reference(g: np.ndarray, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return g @ B.T, A.T @ g


MATMUL_MISTAKES = [
    Mistake("ignores_g", "the upstream gradient g is left out: each gradient must carry what J "
            "says about every entry of C", lambda g, A, B: (np.ones_like(g) @ B.T, A.T @ np.ones_like(g))),
    Mistake("swapped", "the two gradients are returned in the opposite order",
            lambda g, A, B: (A.T @ g, g @ B.T)),
    Mistake("dB_transposed", "dB comes out transposed: each gradient has the shape of its own input",
            lambda g, A, B: (g @ B.T, g.T @ A)),
    Mistake("averaged", "the gradients are divided by the number of rows: nothing is averaged in a "
            "matrix product, every row's contribution adds up",
            lambda g, A, B: (g @ B.T / g.shape[0], A.T @ g / g.shape[0])),
]

_MATMUL = Exercise(
    name="matmul_vjp",
    checks=[Check("dA and dB on small matrices", _matmul_inputs())],
    reference=_matmul_reference,
    parse=lambda value, args: parse_arrays(value, ("dA", "dB")),
    judge=judge_arrays(("dA", "dB")),
    describe=show_arrays(("g", "A", "B")),
    show=show_arrays(("dA", "dB")),
    mistakes=MATMUL_MISTAKES,
)


def check_matmul_vjp(matmul_vjp: Callable, verbose: bool = True, *, max_examples: int = DEFAULT_EXAMPLES,
                     timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for ``g (m, k)``, ``A (m, n)``, ``B (n, k)`` where ``matmul_vjp(g, A, B) -> (dA, dB)``
    differs from the gradients of ``J`` with respect to ``A`` and ``B`` for ``C = A @ B`` and
    ``dJ/dC = g``; print and return the feedback."""
    return run_exercise(_MATMUL, matmul_vjp, max_examples=max_examples, timeout=timeout, verbose=verbose)


# ----------------------------------------------------------------------------- topological order


@st.composite
def _graphs(draw: st.DrawFn) -> tuple[Tensor]:
    """A random expression graph of scalar tensors named a, b, c, ...: 1 to 3 leaves and 1 to 5 ops,
    each op reading one or two earlier nodes (possibly the same one twice); its root is the last."""
    letters = iter("abcdefghij")
    nodes = [Tensor(float(i + 1), name=next(letters)) for i in range(draw(st.integers(1, 3)))]
    for _ in range(draw(st.integers(1, 5))):
        first = nodes[draw(st.integers(0, len(nodes) - 1))]
        if draw(st.booleans()):
            node = first.exp() if draw(st.booleans()) else -first
        else:
            second = nodes[draw(st.integers(0, len(nodes) - 1))]
            node = first + second if draw(st.booleans()) else first * second
        nodes.append(node.named(next(letters)))
    return (nodes[-1],)


def _describe_graph(args: tuple) -> list[str]:
    order = _engine_order(args[0])
    symbols = {"add": "{} + {}", "mul": "{} * {}", "neg": "-{}", "exp": "exp({})"}
    leaves = [t.name for t in order if not t.parents]
    lines = [f"leaves: {', '.join(leaves)}"]
    lines += [f"{t.name} = " + symbols.get(t.op, t.op + "({})").format(*(p.name for p in t.parents))
              for t in order if t.parents]
    return [*lines, f"root = {args[0].name}"]


def _parse_order(value: object, args: tuple) -> list:
    if value is None:
        raise Unusable("your function returned None: did you forget `return`?")
    try:
        items = list(value)
    except TypeError:
        raise Unusable(f"return a list of tensors; got {type(value).__name__}") from None
    if not all(isinstance(item, Tensor) for item in items):
        raise Unusable("return a list of the Tensor objects themselves (not their names or values)")
    return items


def _judge_order(args: tuple, got: list, expected: list) -> str | None:
    wanted = {id(t): t for t in expected}
    seen: set[int] = set()
    for node in got:
        if id(node) in seen:
            return f"node {node.name} is listed twice"
        if id(node) not in wanted:
            return f"node {node.name} is not one the root depends on"
        missing = [p.name for p in node.parents if id(p) not in seen]
        if missing:
            return f"node {node.name} comes before its parent {missing[0]}"
        seen.add(id(node))
    absent = [t.name for t in expected if id(t) not in seen]
    return f"node {absent[0]} is missing" if absent else None


def _unique(order: list[Tensor]) -> list[Tensor]:
    return list({id(t): t for t in order}.values())


def _order_with_repeats(root: Tensor) -> list[Tensor]:
    """Depth first without remembering the nodes already visited."""
    order: list[Tensor] = []
    def visit(node: Tensor) -> None:
        for parent in node.parents:
            visit(parent)
        order.append(node)
    visit(root)
    return order


TOPOLOGICAL_MISTAKES = [
    Mistake("repeats", "a node reached along two paths is listed more than once: remember which "
            "nodes you have already visited", _order_with_repeats),
    Mistake("reversed", "the order is reversed: the root comes first, but every node must come "
            "after its parents", lambda root: _engine_order(root)[::-1]),
    Mistake("no_leaves", "the leaves (the tensors with no parents) are missing",
            lambda root: [t for t in _engine_order(root) if t.parents]),
    Mistake("no_root", "the root itself is missing", lambda root: _engine_order(root)[:-1]),
]


def _classify_order(args: tuple, got: list, answer_on: AnswerOn) -> Mistake | None:
    """The mistake of the order ``got`` of ``args = (root,)``, read from the nodes it lists
    (``answer_on`` is not needed: one answer shows it)."""
    expected = _engine_order(args[0])
    ids = [id(t) for t in got]
    if len(ids) > len(set(ids)) and _judge_order(args, _unique(got), expected) is None:
        return TOPOLOGICAL_MISTAKES[0]
    if len(got) > 1 and _judge_order(args, got[::-1], expected) is None:
        return TOPOLOGICAL_MISTAKES[1]
    inner = [t for t in expected if t.parents]
    if set(ids) == {id(t) for t in inner} and len(inner) < len(expected):
        return TOPOLOGICAL_MISTAKES[2]
    if set(ids) == {id(t) for t in expected[:-1]}:
        return TOPOLOGICAL_MISTAKES[3]
    return None


_TOPOLOGICAL = Exercise(
    name="topological_order",
    checks=[Check("graphs with shared nodes", _graphs())],
    reference=_engine_order,
    parse=_parse_order,
    judge=_judge_order,
    describe=_describe_graph,
    show=lambda order: ["[" + ", ".join(t.name for t in order) + "]"],
    mistakes=TOPOLOGICAL_MISTAKES,
    classify=_classify_order,
    copy=lambda args: args,
)


def check_topological_order(topological_order: Callable, verbose: bool = True, *,
                            max_examples: int = DEFAULT_EXAMPLES,
                            timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for an expression graph where ``topological_order(root)`` does not list every tensor
    ``root`` depends on exactly once, each after all of its ``.parents``; print and return the
    feedback (the expected line is one valid order; any valid order passes)."""
    return run_exercise(_TOPOLOGICAL, topological_order, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)


# ----------------------------------------------------------------------------- unbroadcast


@st.composite
def _unbroadcast_inputs(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, ...]]:
    shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    leading = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    grown = tuple(draw(st.integers(1, 3)) if size == 1 else size for size in shape)
    return draw(_array(leading + grown)), shape


def _leading_only(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    return grad


def _first_copy(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    grad = grad[(0,) * (grad.ndim - len(shape))]
    return grad[tuple(slice(0, 1) if size == 1 else slice(None) for size in shape)]


UNBROADCAST_MISTAKES = [
    Mistake("leading_only", "the axes where the input had length 1 were not summed: numpy copies an "
            "input along those too", _leading_only),
    Mistake("mean", "the copies' gradients are averaged instead of added up",
            lambda grad, shape: _engine_unbroadcast(grad, shape) * np.prod(shape) / grad.size),
    Mistake("first_copy", "only one copy's gradient is kept: every copy contributes", _first_copy),
]

def _with_shape(a: np.ndarray) -> str:
    """``a`` shown with its shape, even a 0-D or 1-D one (the shape is what unbroadcast is about)."""
    return show_array(a) if a.ndim > 1 else f"{show_array(a)}  (shape {a.shape})"


_UNBROADCAST = Exercise(
    name="unbroadcast",
    checks=[Check("new leading axes and axes of length 1", _unbroadcast_inputs())],
    reference=lambda grad, shape: (_engine_unbroadcast(grad, shape),),
    parse=lambda value, args: parse_arrays(value, ("result",)),
    judge=judge_arrays(("your result",)),
    describe=lambda args: [f"grad = {show_array(args[0])}", f"shape = {args[1]}"],
    show=lambda answer: [_with_shape(answer[0])],
    mistakes=UNBROADCAST_MISTAKES,
)


def check_unbroadcast(unbroadcast: Callable, verbose: bool = True, *, max_examples: int = DEFAULT_EXAMPLES,
                      timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    """Search for a ``grad`` and a ``shape`` numpy broadcasts to ``grad.shape`` where
    ``unbroadcast(grad, shape)`` is not the gradient with respect to the input of ``shape`` (of
    exactly that shape); print and return the feedback."""
    return run_exercise(_UNBROADCAST, unbroadcast, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)
