"""The engine's speed cuts keep its answers: the sigmoid against scipy's ``expit``, constants
(``requires_grad=False``) that get no gradient while every other gradient stays the same bit for
bit, per-input VJPs that skip a constant's, leaf gradients that share no memory with anything
else, ``inner_grads=False``, and the finiteness check made once per leaf."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from scipy.special import expit
from strategies import problems

from tinysae.autograd import OPS, NonFiniteGradientError, Tensor, where
from tinysae.autograd.ops import stable_sigmoid
from tinysae.autograd.tensor import topological_order
from tinysae.backends import autograd_backend
from tinysae.models import Batch, ClassicSAE, Graph
from tinysae.objective import Objective
from tinysae.params import Params

DTYPES = (np.float64, np.float32)


def any_floats(dtype: type) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``dtype`` over the whole float range: subnormals, +-1000, the largest finite
    values and +-inf (NaN excluded: it maps to NaN)."""
    width = np.finfo(dtype).bits
    return arrays(dtype, array_shapes(max_dims=2, max_side=6),
                  elements=st.floats(allow_nan=False, allow_infinity=True, width=width))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=150)
@given(data=st.data())
def test_sigmoid_equals_expit_to_rounding_over_the_float_range(dtype: type, data: st.DataObject) -> None:
    x = data.draw(any_floats(dtype))
    with np.errstate(all="raise"):  # no overflow, underflow or invalid warning escapes
        s = stable_sigmoid(x)
    finfo = np.finfo(dtype)
    assert s.dtype == dtype and s.shape == x.shape and not np.shares_memory(s, x)
    assert np.all((s >= 0) & (s <= 1))
    # a few units in the last place; below the smallest normal number, an absolute tiny
    np.testing.assert_allclose(s, expit(x), rtol=4 * finfo.eps, atol=finfo.tiny)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_at_the_edges(dtype: type) -> None:
    """+-1000, and either side of -log(max), where exp(-x) overflows (709.78 in float64, 88.72
    in float32)."""
    edge = float(np.log(np.finfo(dtype).max))
    x = np.array([-1000.0, 1.0 - edge, -1.01 * edge, 0.0, 40.0, 1000.0], dtype=dtype)
    with np.errstate(all="raise"):
        s = stable_sigmoid(x)
    assert s[0] == 0.0 and s[2] == 0.0 and s[3] == 0.5 and s[-1] == 1.0
    assert 0.0 < s[1] < np.finfo(dtype).tiny  # about e^x: below the smallest normal number
    np.testing.assert_allclose(s, expit(x), rtol=4 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)
    assert stable_sigmoid(np.float64(0.0)) == 0.5 and stable_sigmoid(np.array([0, 1])).dtype == np.float64


def engine_grads(params: Params, X: np.ndarray, objective: Objective,
                 constants: bool) -> tuple[Graph, dict[str, np.ndarray]]:
    """``(graph, leaf grads)`` of the classic objective by the engine, its data marked as
    constants or left as variables."""
    n_hidden, n_visible = params["W1"].shape
    graph = ClassicSAE(n_visible, n_hidden, objective).graph(params, Batch(X))
    if constants:
        autograd_backend.mark_constants(graph)
    graph.J.backward()
    return graph, {name: graph[name].grad for name in params}


@settings(max_examples=40)
@given(problems())
def test_constants_get_no_gradient_and_the_others_are_unchanged(problem: tuple) -> None:
    params, X, objective = problem
    with np.errstate(all="ignore"):
        variable_graph, variable = engine_grads(params, X, objective, constants=False)
        constant_graph, constant = engine_grads(params, X, objective, constants=True)
    assert variable_graph["X"].grad is not None and constant_graph["X"].grad is None
    assert not constant_graph["X"].requires_grad
    for name in params:
        np.testing.assert_array_equal(constant[name], variable[name])


@settings(max_examples=40)
@given(a=arrays(np.float64, (3, 4), elements=st.floats(-3, 3)),
       b=arrays(np.float64, (4, 2), elements=st.floats(-3, 3)))
def test_a_constant_input_of_an_op_gets_no_vjp(a: np.ndarray, b: np.ndarray) -> None:
    """``A @ B`` with ``A`` constant: the matmul's VJP for ``A`` is never called; ``B``'s gradient
    is the one it has when ``A`` is a variable."""
    calls: list[int] = []
    op = OPS["matmul"]

    def counted(index: int) -> Callable[..., np.ndarray]:
        def vjp(g: np.ndarray, out: np.ndarray, x: tuple, k: dict) -> np.ndarray:
            calls.append(index)
            return op.input_vjps[index](g, out, x, k)

        return vjp

    counting = tuple(counted(index) for index in range(2))
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(OPS, "matmul", dataclasses.replace(op, input_vjps=counting))
        A, B = Tensor(a, name="A", requires_grad=False), Tensor(b, name="B")
        ((A @ B).sigmoid() * (A @ B)).sum().backward()
    assert A.grad is None and 0 not in calls and 1 in calls
    A2, B2 = Tensor(a, name="A"), Tensor(b, name="B")
    ((A2 @ B2).sigmoid() * (A2 @ B2)).sum().backward()
    np.testing.assert_array_equal(B.grad, B2.grad)


@settings(max_examples=40)
@given(x=arrays(np.float64, (3, 2), elements=st.floats(-2, 2)), seed=arrays(np.float64, (3, 2),
       elements=st.floats(-2, 2)))
def test_leaf_gradients_share_memory_with_nothing(x: np.ndarray, seed: np.ndarray) -> None:
    """Leaves fed by ops that pass ``g`` on (``add``), view it (a transpose) or broadcast it
    (``sum``, ``mean``) still get arrays of their own, writeable, and the caller's seed stays
    theirs."""
    a, b, w = Tensor(x, name="a"), Tensor(x.copy(), name="b"), Tensor(x.T.copy(), name="w")
    c = Tensor(x.copy(), name="c")
    s = (a + b).named("s")
    y = (s + w.T + c.mean(axis=0) + c.sum()).named("y")
    given_seed = seed.copy()
    y.backward(given_seed)
    nodes = topological_order(y)
    for leaf in (a, b, w, c):
        assert leaf.grad.flags.writeable and leaf.grad.base is None
        others = [n.grad for n in nodes if n is not leaf and n.grad is not None] + [n.data for n in nodes]
        assert not any(np.shares_memory(leaf.grad, other) for other in others + [given_seed])
    given_seed[...] = 7.0
    np.testing.assert_array_equal(y.grad, seed)
    np.testing.assert_array_equal(a.grad, seed)
    np.testing.assert_array_equal(w.grad, seed.T)
    np.testing.assert_allclose(c.grad, np.broadcast_to(seed.sum(axis=0) / 3 + seed.sum(), (3, 2)),
                               rtol=1e-14, atol=1e-14)


@settings(max_examples=30)
@given(problems())
def test_inner_grads_false_fills_the_leaves_alike_and_no_inner_node(problem: tuple) -> None:
    params, X, objective = problem
    n_hidden, n_visible = params["W1"].shape
    model = ClassicSAE(n_visible, n_hidden, objective)
    with np.errstate(all="ignore"):
        full, lean = model.graph(params, Batch(X)), model.graph(params, Batch(X))
        full.J.backward()
        lean.J.backward(inner_grads=False)
    for name in params:
        np.testing.assert_array_equal(lean[name].grad, full[name].grad)
    assert all(node.grad is None for node in topological_order(lean.J) if node.op is not None)
    assert full["Z2"].grad is not None


def test_repeated_backward_accumulates_with_in_place_sums() -> None:
    """A leaf reached along two paths (its gradient summed in place) accumulates over calls."""
    x = Tensor(np.array([0.5, -1.0]), name="x")
    y = (x.sigmoid() * x + x.square()).sum()
    y.backward()
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-15)


def test_an_inf_is_located_once_a_leaf_receives_it() -> None:
    """The leaf's gradient is checked; the pass is rerun to name the op where the inf arose
    (the constant ``w``, which would have received ``log(0) = -inf``, gets no gradient)."""
    x = Tensor(np.array([0.0, 1.0]), name="x")
    w = Tensor(np.array([2.0, 3.0]), name="w", requires_grad=False)
    with np.errstate(divide="ignore"):
        y = (x.log().named("log_x") * w).sum()
    with pytest.raises(NonFiniteGradientError, match="op 'log' at node 'log_x'.*flowing to its input 'x'"):
        y.backward()
    assert w.grad is None


def test_an_inf_that_reaches_no_leaf_raises_nothing() -> None:
    """The square root's derivative is infinite at the entry that a ``where`` below it masks
    out: the gradient of ``x`` is finite, so the pass stands."""
    x = Tensor(np.array([0.0, 4.0]), name="x")
    zero = Tensor(np.zeros(2), name="zero", requires_grad=False)
    y = (where(np.array([False, True]), x, zero) ** 0.5).sum()
    with np.errstate(divide="ignore"):
        y.backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.25])


def test_a_sum_of_finite_gradients_that_overflows_is_named() -> None:
    """Each path sends ``x`` a gradient of 1e308; their sum is inf."""
    x = Tensor(np.array([1e-300]), name="x")
    y = (x * 1e308 + x * 1e308).sum()
    with np.errstate(over="ignore"), pytest.raises(NonFiniteGradientError, match="'x' became inf"):
        y.backward()
