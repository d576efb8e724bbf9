"""Every op of the engine against central differences and numpy, driven by ONE table.

Each row names an op, how to call it on Tensors, the numpy reference, and the domain of each
input (kept away from the op's singularities: log near 0, relu/abs near their kink, division
by ~0). Shapes are drawn at random, including 1s, 0-d arrays and broadcast shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from conv_cases import conv2d_reference, conv_transpose2d_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes
from scipy.special import logsumexp

from tinysae.autograd import OPS, Tensor, conv2d, conv_transpose2d, gradcheck, mask, where
from tinysae.autograd.ops import stable_sigmoid

TOLERANCE = 1e-7

# Domains: how to turn uniform(0, 1) draws u (and random signs) into an input's values.
DOMAINS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "any": lambda u, sign: 4 * u - 2,                     # (-2, 2)
    "wide": lambda u, sign: 10 * u - 5,                   # (-5, 5): into sigmoid's tails, where
    # sigma' ~ 7e-3 still stands well above central differences' rounding floor (~1e-10 / sigma')
    "positive": lambda u, sign: 0.2 + 2.8 * u,            # (0.2, 3): log, fractional powers
    "nonzero": lambda u, sign: sign * (0.2 + 1.8 * u),    # |x| in (0.2, 2): div, relu, abs
}


@dataclass(frozen=True)
class Case:
    """One row: ``engine(*tensors, keep)`` against ``reference(*arrays, keep)``; ``keep`` is a
    random boolean array of the output's shape (used by where/mask only)."""

    name: str
    engine: Callable[..., Tensor]
    reference: Callable[..., np.ndarray]
    domains: tuple[str, ...]
    shapes: str = "elementwise"  # "elementwise" (broadcast), "matmul", "conv2d" or "conv_transpose2d"
    min_dims: int = 0


CASES = [
    Case("add", lambda a, b, keep: a + b, lambda a, b, keep: a + b, ("any", "any")),
    Case("sub", lambda a, b, keep: a - b, lambda a, b, keep: a - b, ("any", "any")),
    Case("mul", lambda a, b, keep: a * b, lambda a, b, keep: a * b, ("any", "any")),
    Case("div", lambda a, b, keep: a / b, lambda a, b, keep: a / b, ("any", "nonzero")),
    Case("where", lambda a, b, keep: where(keep, a, b), lambda a, b, keep: np.where(keep, a, b),
         ("any", "any")),
    Case("neg", lambda x, keep: -x, lambda x, keep: -x, ("any",)),
    Case("pow 3", lambda x, keep: x**3, lambda x, keep: x**3, ("any",)),
    Case("pow -1.5", lambda x, keep: x**-1.5, lambda x, keep: x**-1.5, ("positive",)),
    Case("square", lambda x, keep: x.square(), lambda x, keep: x * x, ("any",)),
    Case("exp", lambda x, keep: x.exp(), lambda x, keep: np.exp(x), ("any",)),
    Case("log", lambda x, keep: x.log(), lambda x, keep: np.log(x), ("positive",)),
    Case("sigmoid", lambda x, keep: x.sigmoid(), lambda x, keep: 1 / (1 + np.exp(-x)), ("wide",)),
    Case("softplus", lambda x, keep: x.softplus(), lambda x, keep: np.log1p(np.exp(x)), ("wide",)),
    Case("tanh", lambda x, keep: x.tanh(), lambda x, keep: np.tanh(x), ("any",)),
    Case("relu", lambda x, keep: x.relu(), lambda x, keep: np.maximum(x, 0), ("nonzero",)),
    Case("abs", lambda x, keep: x.abs(), lambda x, keep: np.abs(x), ("nonzero",)),
    Case("mask", lambda x, keep: mask(x, keep), lambda x, keep: np.where(keep, x, 0.0), ("any",)),
    Case("transpose", lambda x, keep: x.T, lambda x, keep: x.T, ("any",)),
    Case("reshape", lambda x, keep: x.reshape(x.shape[::-1]), lambda x, keep: x.reshape(x.shape[::-1]),
         ("any",)),
    Case("sum", lambda x, keep: x.sum(), lambda x, keep: x.sum(), ("any",)),
    Case("sum axis=0", lambda x, keep: x.sum(axis=0), lambda x, keep: x.sum(axis=0), ("any",), min_dims=1),
    Case("sum axis=-1 keepdims", lambda x, keep: x.sum(axis=-1, keepdims=True),
         lambda x, keep: x.sum(axis=-1, keepdims=True), ("any",), min_dims=1),
    Case("mean", lambda x, keep: x.mean(), lambda x, keep: x.mean(), ("any",)),
    Case("mean axis=0", lambda x, keep: x.mean(axis=0), lambda x, keep: x.mean(axis=0), ("any",), min_dims=1),
    Case("mean axes=(0, 1) keepdims", lambda x, keep: x.mean(axis=(0, 1), keepdims=True),
         lambda x, keep: x.mean(axis=(0, 1), keepdims=True), ("any",), min_dims=2),
    Case("matmul", lambda a, b, keep: a @ b, lambda a, b, keep: a @ b, ("any", "any"), shapes="matmul"),
    Case("log_softmax axis=-1", lambda x, keep: x.log_softmax(), lambda x, keep: x - logsumexp(x, axis=-1,
         keepdims=True), ("wide",), min_dims=1),
    Case("conv2d stride=2 padding=1", lambda x, w, keep: conv2d(x, w, stride=2, padding=1),
         lambda x, w, keep: conv2d_reference(x, w, (2, 2), (1, 1)), ("any", "any"), shapes="conv2d"),
    Case("conv_transpose2d stride=2 padding=1",
         lambda x, w, keep: conv_transpose2d(x, w, stride=2, padding=1),
         lambda x, w, keep: conv_transpose2d_reference(x, w, (2, 2), (1, 1)), ("any", "any"),
         shapes="conv_transpose2d"),
    Case("log_softmax axis=0", lambda x, keep: x.log_softmax(axis=0), lambda x, keep: x - logsumexp(x, axis=0,
         keepdims=True), ("wide",), min_dims=1),
]


@st.composite
def case_inputs(draw: st.DrawFn, case: Case) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """``(inputs, keep, weights)`` for ``case``: inputs in their domains, a boolean ``keep`` and
    random ``weights`` of the output's shape (the upstream gradient)."""
    if case.shapes == "matmul":
        rows, inner, cols = (draw(st.integers(1, 4)) for _ in range(3))
        left = draw(st.sampled_from([(rows, inner), (inner,)]))
        right = draw(st.sampled_from([(inner, cols), (inner,)]))
        shapes = [left, right]
    elif case.shapes in ("conv2d", "conv_transpose2d"):  # x (N, C_in, H, W) and a 2x2 to 3x3 kernel
        n, c_in, c_out = (draw(st.integers(1, 2)) for _ in range(3))
        kernel = draw(st.integers(2, 3))  # a transpose with padding 1 needs an input of 2 or more
        side = draw(st.integers(1 if case.shapes == "conv2d" else 2, 5))
        w_shape = (c_out, c_in, kernel, kernel) if case.shapes == "conv2d" else (c_in, c_out, kernel, kernel)
        shapes = [(n, c_in, side, side), w_shape]
    elif len(case.domains) == 2:
        drawn = draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
        shapes = list(drawn.input_shapes)
    else:
        shapes = [draw(array_shapes(min_dims=case.min_dims, max_dims=3, min_side=1, max_side=4))]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    inputs = [DOMAINS[domain](rng.uniform(size=shape), rng.choice([-1.0, 1.0], size=shape))
              for domain, shape in zip(case.domains, shapes)]
    if case.shapes == "elementwise":
        out_shape = np.broadcast_shapes(*shapes)
    else:
        out_shape = np.shape(case.reference(*inputs, None))
    keep = rng.uniform(size=out_shape) < 0.5
    return inputs, keep, rng.normal(size=np.shape(case.reference(*inputs, keep)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=15)
@given(data=st.data())
def test_vjp_matches_central_differences(case: Case, data: st.DataObject) -> None:
    inputs, keep, weights = data.draw(case_inputs(case))
    report = gradcheck(lambda *ts: (case.engine(*ts, keep) * weights).sum(), inputs)
    assert report.relative_error < TOLERANCE, str(report)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=10)
@given(data=st.data())
def test_forward_equals_numpy(case: Case, data: st.DataObject) -> None:
    inputs, keep, _ = data.draw(case_inputs(case))
    out = case.engine(*(Tensor(x) for x in inputs), keep)
    expected = case.reference(*inputs, keep)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-13, atol=1e-15)


#: The ops whose VJP is a pseudo-derivative, not the derivative: tests/test_jumprelu_ops.py checks them.
PSEUDO_DERIVATIVE_OPS = {"jumprelu", "step"}


def test_table_covers_every_op() -> None:
    tested = {case.name.split()[0] for case in CASES} | PSEUDO_DERIVATIVE_OPS
    assert set(OPS) <= tested, f"ops without a row: {set(OPS) - tested}"


# Steps of random compositions: each keeps values finite and away from singularities.
STEPS: list[tuple[str, Callable[[Tensor, Tensor, Tensor], Tensor]]] = [
    ("mul y", lambda c, x, y: c * y),
    ("add x", lambda c, x, y: c + x),
    ("sub y", lambda c, x, y: y - c),
    ("sigmoid", lambda c, x, y: c.sigmoid()),
    ("tanh", lambda c, x, y: c.tanh()),
    ("log(sigmoid + 0.5)", lambda c, x, y: (c.sigmoid() + 0.5).log()),
    ("div (y^2 + 1)", lambda c, x, y: c / (y.square() + 1.0)),
    ("exp(tanh)", lambda c, x, y: c.tanh().exp()),
    ("tanh^3", lambda c, x, y: c.tanh() ** 3),
    ("square", lambda c, x, y: c.square()),
    ("mean axis 0 keepdims * x", lambda c, x, y: c.mean(axis=0, keepdims=True) * x),
    ("(c @ c^T) @ c", lambda c, x, y: (c @ c.T) @ c / 4.0),
]


@settings(max_examples=40)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    y_is_row=st.booleans(),
    steps=st.lists(st.sampled_from(range(len(STEPS))), min_size=2, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_compositions_match_central_differences(shape, y_is_row, steps, seed) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=shape)
    y = rng.uniform(-1, 1, size=(1, shape[1]) if y_is_row else shape)
    weights = rng.normal(size=shape)

    def f(xt: Tensor, yt: Tensor) -> Tensor:
        current = xt
        for index in steps:
            current = STEPS[index][1](current, xt, yt)
        return (current * weights).sum()

    report = gradcheck(f, [x, y])
    # Central differences cannot resolve a gradient below their rounding floor
    # ~ 1e-16 |f| / eps per entry; a composition may (rarely) flatten the gradient that far
    # (e.g. a saturated sigmoid), so the relative test applies above that floor.
    analytic = np.concatenate([a.ravel() for a in report.analytic])
    numeric = np.concatenate([n.ravel() for n in report.numeric])
    floor = 1e-9 * max(1.0, abs(float(f(Tensor(x), Tensor(y)).data))) * np.sqrt(analytic.size)
    error = np.linalg.norm(analytic - numeric)
    assert report.relative_error < TOLERANCE or error < floor, f"{[STEPS[i][0] for i in steps]}\n{report}"


def test_sigmoid_is_stable_at_extremes() -> None:
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        values = stable_sigmoid(x)
    np.testing.assert_allclose(values, [0.0, 1.9287498479639178e-22, 0.5, 1.0, 1.0], rtol=1e-15)
    t = Tensor(x)
    t.sigmoid().sum().backward()
    assert np.all(np.isfinite(t.grad))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softplus_is_stable_at_extremes(dtype) -> None:
    """log(1 + e^x) composed overflows at x = 1000 (and is 0 at x = -50); the op is exactly x
    and 0 there, e^x in between, and its derivative sigma(x) is exactly 1 and 0."""
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype)
    t = Tensor(x)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        out = t.softplus()
        out.sum().backward()
    assert out.dtype == dtype and t.grad.dtype == dtype
    assert out.data[0] == 0.0 and out.data[-1] == 1000.0 and out.data[2] == np.log(dtype(2.0))
    np.testing.assert_allclose(out.data[1], np.exp(-50.0), rtol=1e-6)
    assert out.data[3] == 50.0
    np.testing.assert_array_equal(t.grad[[0, -1]], [0.0, 1.0])
    assert t.grad[2] == 0.5
