"""The engine's machinery: deep graphs, accumulation, dtypes, broadcasting and every error."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, broadcastable_shapes

from tinysae.autograd import NonFiniteGradientError, Tensor, gradcheck, relative_error, unbroadcast, where
from tinysae.autograd.tensor import topological_order

finite = st.floats(-3, 3, allow_nan=False)


def test_deep_chain_of_10000_ops_needs_no_recursion() -> None:
    limit = sys.getrecursionlimit()
    x = Tensor(1.5, name="x")
    y = x
    for _ in range(5000):
        y = (y * 1.0001) + 0.5
    y.backward()
    assert np.isclose(x.grad, 1.0001**5000, rtol=1e-12)
    assert len(topological_order(y)) > 10_000
    y.zero_grad()
    assert x.grad is None
    assert sys.getrecursionlimit() == limit


@settings(max_examples=30)
@given(x=st.lists(finite, min_size=1, max_size=5))
def test_gradients_add_over_every_path(x: list[float]) -> None:
    # y = x*x + sigmoid(x) * x: x reaches y along four paths.
    t = Tensor(np.array(x), name="x")
    (t * t + t.sigmoid() * t).sum().backward()
    s = 1 / (1 + np.exp(-np.array(x)))
    np.testing.assert_allclose(t.grad, 2 * np.array(x) + s + np.array(x) * s * (1 - s), rtol=1e-13)


def test_diamond_graph_sums_both_branches() -> None:
    x = Tensor(np.array([0.3, -1.2]), name="x")
    h = x.tanh().named("h")
    y = (h.exp() + h.square()).sum()
    y.backward()
    hv = np.tanh(x.data)
    np.testing.assert_allclose(h.grad, np.exp(hv) + 2 * hv, rtol=1e-14)
    np.testing.assert_allclose(x.grad, (np.exp(hv) + 2 * hv) * (1 - hv**2), rtol=1e-14)


def test_repeated_backward_accumulates_until_zero_grad() -> None:
    x = Tensor(np.array([1.0, 2.0]), name="x")
    y = (x * x).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad, 2 * (2 * x.data))
    y.zero_grad()
    y.backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data)


def test_backward_with_explicit_seed_on_non_scalar() -> None:
    x = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]))
    seed = np.array([[1.0, 0.0], [0.5, 2.0]])
    (x.square()).backward(seed)
    np.testing.assert_array_equal(x.grad, seed * 2 * x.data)


@settings(max_examples=30)
@given(shapes=array_shapes(min_dims=0, max_dims=3, max_side=4).flatmap(
    lambda s: st.tuples(st.just(s), broadcastable_shapes(s, min_dims=0, max_dims=3))))
def test_unbroadcast_is_the_adjoint_of_broadcasting(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    # <broadcast(v), g> == <v, unbroadcast(g)> for every v and g.
    out_shape, in_shape = shapes[0], shapes[1]
    full = np.broadcast_shapes(out_shape, in_shape)
    rng = np.random.default_rng(0)
    v, g = rng.normal(size=in_shape), rng.normal(size=full)
    reduced = unbroadcast(g, in_shape)
    assert reduced.shape == in_shape
    assert np.isclose(np.sum(np.broadcast_to(v, full) * g), np.sum(v * reduced), rtol=1e-12)


@settings(max_examples=20)
@given(shapes=st.tuples(array_shapes(min_dims=1, max_dims=2, max_side=3),
                        array_shapes(min_dims=1, max_dims=2, max_side=3)))
def test_broadcast_gradients_match_central_differences(shapes) -> None:
    a_shape = shapes[0]
    b_shape = tuple(1 if i % 2 else s for i, s in enumerate(a_shape))  # broadcastable to a
    rng = np.random.default_rng(1)
    report = gradcheck(lambda a, b: (a * b + b / (a.square() + 1)).sum(),
                       [rng.normal(size=a_shape), rng.normal(size=b_shape)])
    assert report.relative_error < 1e-7, str(report)


@given(a=st.lists(st.integers(-1000, 1000), min_size=1, max_size=6), scale=st.floats(0.01, 100))
def test_relative_error_is_ufldls_measure(a, scale) -> None:
    """``||a - n|| / ||a + n||``: 0 for equal inputs, symmetric, scale-free, infinite for opposite ones."""
    a = np.array(a) / 7.0
    n = a + 0.5
    assert relative_error(a, a) == 0.0
    assert relative_error(a, n) == relative_error(n, a)
    assert np.isclose(relative_error(scale * a, scale * n), relative_error(a, n), rtol=1e-12, atol=0)
    if np.any(a != 0):
        assert relative_error(a, -a) == float("inf")
        assert np.isclose(relative_error(a, 3 * a), 0.5)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_topological_order_puts_parents_first() -> None:
    x = Tensor(1.0)
    a, b = x.exp(), x.tanh()
    y = a * b + a
    order = topological_order(y)
    position = {id(node): i for i, node in enumerate(order)}
    for node in order:
        assert all(position[id(p)] < position[id(node)] for p in node.parents)


# ---- dtypes ---------------------------------------------------------------------------------
def test_float32_is_kept_and_ints_bools_become_float64() -> None:
    x = Tensor(np.ones((2, 3), dtype=np.float32), name="x")
    y = ((x * 2 + 1).sigmoid() / 3).sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.float64
    assert Tensor(np.array([True, False])).dtype == np.float64
    assert Tensor(3).dtype == np.float64
    assert Tensor([1.5, 2.5]).dtype == np.float64


def test_reflected_operators_with_numpy() -> None:
    t = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), name="t")
    results = [np.ones(2) + t, np.ones(2) - t, 2.0 * t, np.float64(1.0) / t, np.eye(2) @ t, -t, t**2]
    assert all(isinstance(r, Tensor) for r in results)
    np.testing.assert_array_equal((np.eye(2) @ t).data, t.data)
    np.testing.assert_array_equal((np.ones(2) - t).data, 1 - t.data)


# ---- errors ---------------------------------------------------------------------------------
@settings(max_examples=20)
@given(m=st.integers(1, 5), k=st.integers(1, 5), j=st.integers(1, 5), n=st.integers(1, 5))
def test_matmul_shape_error_names_both_shapes(m: int, k: int, j: int, n: int) -> None:
    if k == j:
        j = k + 1
    with pytest.raises(ValueError) as info:
        Tensor(np.ones((m, k))) @ Tensor(np.ones((j, n)))
    assert str((m, k)) in str(info.value) and str((j, n)) in str(info.value)


def test_non_scalar_backward_needs_a_seed() -> None:
    with pytest.raises(ValueError, match="non-scalar.*seed"):
        Tensor(np.ones((2, 3)), name="Z").sigmoid().backward()
    with pytest.raises(ValueError, match="shape"):
        Tensor(np.ones((2, 3))).sigmoid().backward(np.ones(3))


@pytest.mark.parametrize("bad", [np.array([object(), 1.0], dtype=object), np.array(["a", "b"]),
                                 np.array([1 + 2j])])
def test_non_numeric_data_is_a_type_error_naming_the_dtype(bad: np.ndarray) -> None:
    with pytest.raises(TypeError, match=str(bad.dtype)):
        Tensor(bad)


def test_other_bad_inputs() -> None:
    with pytest.raises(TypeError, match="exponent"):
        Tensor(2.0) ** Tensor(3.0)
    with pytest.raises(TypeError, match="boolean"):
        where(np.array([1, 0]), Tensor(np.ones(2)), 0.0)
    with pytest.raises(ValueError, match="axis"):
        Tensor(np.ones((2, 3))).sum(axis=2)


def test_log_at_zero_names_the_op_and_node() -> None:
    x = Tensor(np.array([0.0, 1.0]), name="x")
    with np.errstate(divide="ignore"):
        y = x.log().named("log_x")
    loss = y.sum()
    with pytest.raises(NonFiniteGradientError) as info:
        loss.backward()
    message = str(info.value)
    assert "'log'" in message and "log_x" in message and "1 / x" in message
    assert isinstance(info.value, FloatingPointError) and isinstance(info.value, ArithmeticError)


def test_division_by_zero_gradient_names_div() -> None:
    a, b = Tensor(np.array([1.0]), name="a"), Tensor(np.array([0.0]), name="b")
    with np.errstate(divide="ignore"):
        ratio = (a / b).named("ratio")
    with pytest.raises(NonFiniteGradientError, match="'div'.*ratio"):
        ratio.sum().backward()
