"""The TopK SAE kernels (:mod:`tinysae.backends._numba_topk`) equal the dense numpy reference of
``tests/topk_cases.py`` over hypothesis-drawn shapes, masks and values (relative error < 1e-10
in float64, < 1e-5 in float32; the selection exactly, ties included), their gradient equals
central differences of their own loss, they stay in float32, refuse bad input clearly, and run as
plain Python under ``NUMBA_DISABLE_JIT=1``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from numba import njit
from strategies import seeds
from topk_cases import (
    TopKCase,
    backward_reference,
    decode_reference,
    forward_reference,
    loss_and_grad_reference,
    loss_reference,
    topk_cases,
    topk_reference,
)

from tinysae.autograd import relative_error
from tinysae.backends import _numba_topk as topk
from tinysae.backends import numba_cpu

#: Relative error allowed against the float64 reference, by the dtype the kernels compute in.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}
dtypes = st.sampled_from([np.float64, np.float32])
coefficients = st.floats(1 / 32, 2.0)

#: k = F; k = 1; one sample; every latent dead; no latent dead (then no AuxK term).
EXAMPLES = [
    TopKCase(m=5, n=3, F=4, k=4, aux_k=2, dead=(True, False, True, False), seed=1, grid=False),
    TopKCase(m=6, n=4, F=7, k=1, aux_k=3, dead=(False,) * 3 + (True,) * 4, seed=2, grid=True),
    TopKCase(m=1, n=5, F=6, k=3, aux_k=2, dead=(True, False) * 3, seed=3, grid=False),
    TopKCase(m=7, n=3, F=5, k=2, aux_k=3, dead=(True,) * 5, seed=4, grid=False),
    TopKCase(m=7, n=3, F=5, k=2, aux_k=3, dead=(False,) * 5, seed=5, grid=True),
]


@pytest.fixture(scope="module", autouse=True)
def backend_threads() -> None:
    """numba's threads start as the backend starts them (the workqueue layer)."""
    numba_cpu._start_threads()


def with_examples(dtypes: tuple[type, ...] = (np.float64, np.float32), grid: dict | None = None, **fixed):
    """The test with :data:`EXAMPLES` as explicit examples in each of ``dtypes`` (with their
    ``grid`` set to ``grid[dtype]`` when given), and the other arguments as in ``fixed``."""
    def decorate(test):
        for case in EXAMPLES:
            for dtype in dtypes:
                drawn = case if grid is None else replace(case, grid=grid[dtype])
                test = example(case=drawn, dtype=dtype, **fixed)(test)
        return test
    return decorate


def assert_close(got: np.ndarray, expected: np.ndarray, dtype: type) -> None:
    assert got.shape == expected.shape
    assert got.dtype == dtype
    assert relative_error(got, expected) < TOLERANCE[dtype], relative_error(got, expected)


def pre_activations(case: TopKCase, dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Xc, Z2 = Xc W1^T`` (without ``b1``) and ``b1`` of the case, in ``dtype``."""
    W1, b1, _, b2, X = case.arrays(dtype)
    Xc = X - b2
    return Xc, Xc @ W1.T, b1


@settings(max_examples=60)
@with_examples(with_bias=True)
@given(case=topk_cases(), dtype=dtypes, with_bias=st.booleans())
def test_selection_equals_the_sorted_rows(case: TopKCase, dtype: type, with_bias: bool) -> None:
    """topk_rows and topk_rows_masked give exactly the reference's indices (decreasing value,
    the lower index first among ties, padding by the lowest-index disallowed latents) and values
    ``max(Z2 + b1, 0)``; grid cases have many ties and zeros."""
    _, Z2, b1 = pre_activations(case, dtype)
    Z2b = Z2 + b1 if with_bias else Z2
    bias = b1 if with_bias else None
    idx, val = topk.topk_rows(Z2, case.k, bias)
    expected_idx, expected_val = topk_reference(Z2b, case.k)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(val, expected_val)
    assert val.dtype == dtype
    allowed = np.array(case.dead, bool)
    idx, val = topk.topk_rows_masked(Z2, case.k, allowed, bias)
    expected_idx, expected_val = topk_reference(Z2b, case.k, allowed)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_array_equal(val, expected_val)
    assert all(len(set(row)) == case.k for row in idx.tolist())  # no latent twice in a row


@settings(max_examples=60)
@with_examples(grid={np.float64: False, np.float32: False}, masked=True)
@given(case=topk_cases(grid=False), dtype=dtypes, masked=st.booleans())
def test_sparse_decode_and_backward_equal_dense_products(case: TopKCase, dtype: type, masked: bool) -> None:
    """sparse_decode and sparse_backward (``dZ``, ``dW_dec``, ``dW1``, ``db1``) against dense
    products in float64 on the same (``dtype``-rounded) arrays, for a selection with relu zeros
    (and, masked, padding)."""
    _, _, W2, b2, X = case.arrays(dtype)
    Xc, Z2, b1 = pre_activations(case, dtype)
    W_dec = np.ascontiguousarray(W2.T)
    if masked:
        idx, val = topk.topk_rows_masked(Z2, case.k, np.array(case.dead, bool), b1)
    else:
        idx, val = topk.topk_rows(Z2, case.k, b1)
    D3 = np.random.default_rng(case.seed + 1).normal(size=X.shape).astype(dtype)
    as64 = [a.astype(np.float64) for a in (val, W_dec, b2, D3, Xc)]
    val64, W_dec64, b2_64, D3_64, Xc64 = as64
    assert_close(topk.sparse_decode(idx, val, W_dec, b2), decode_reference(idx, val64, W_dec64, b2_64), dtype)
    got = topk.sparse_backward(D3, Xc, idx, val, W_dec)
    for g, expected in zip(got, backward_reference(D3_64, Xc64, idx, val64, W_dec64)):
        assert_close(g, expected, dtype)


@settings(max_examples=60)
@with_examples(grid={np.float64: False, np.float32: True}, aux_coefficient=0.5)
@given(case=topk_cases(), dtype=dtypes, aux_coefficient=coefficients)
def test_loss_and_gradients_equal_the_dense_reference(case: TopKCase, dtype: type,
                                                      aux_coefficient: float) -> None:
    """topk_loss_and_grad's ``J`` and four gradients against the dense reference in float64,
    with and without AuxK. float32 cases use grid values, whose ``Z2`` is exact in both dtypes
    (so both select the same latents); float64 cases either."""
    assume(dtype == np.float64 or case.grid)
    W1, b1, W2, b2, X = case.arrays(dtype)
    J, grads = topk.topk_loss_and_grad(W1, b1, W2, b2, X, case.k, case.dead_mask, case.aux_k, aux_coefficient)
    J_ref, expected = loss_and_grad_reference(W1, b1, W2, b2, X, case.k, case.dead_mask, case.aux_k,
                                              aux_coefficient)
    assert relative_error(J, J_ref) < TOLERANCE[dtype]
    for name, shape in (("W1", W1.shape), ("b1", b1.shape), ("W2", W2.shape), ("b2", b2.shape)):
        assert grads[name].shape == shape
        assert_close(grads[name], expected[name], dtype)


@settings(max_examples=30)
@with_examples(aux_coefficient=0.5)
@given(case=topk_cases(aux=True), dtype=dtypes, aux_coefficient=coefficients)
def test_auxk_reaches_the_decoder_at_dead_latents_only(case: TopKCase, dtype: type,
                                                       aux_coefficient: float) -> None:
    """Adding AuxK changes ``dW2`` in dead columns only (padding adds exact zeros elsewhere);
    with no dead latent there is no AuxK term: ``J`` and every gradient are unchanged."""
    W1, b1, W2, b2, X = case.arrays(dtype)
    J0, plain = topk.topk_loss_and_grad(W1, b1, W2, b2, X, case.k)
    J, grads = topk.topk_loss_and_grad(W1, b1, W2, b2, X, case.k, case.dead_mask, case.aux_k, aux_coefficient)
    alive = ~case.dead_mask
    np.testing.assert_array_equal(grads["W2"][:, alive], plain["W2"][:, alive])
    if not case.dead_mask.any():
        for name in plain:
            np.testing.assert_array_equal(grads[name], plain[name])
        assert J == J0


@settings(max_examples=20)
@with_examples(dtypes=(np.float64,), grid={np.float64: False}, aux_coefficient=0.5)
@given(case=topk_cases(max_m=6, max_n=4, max_F=7, grid=False), dtype=st.just(np.float64),
       aux_coefficient=coefficients)
def test_gradient_equals_central_differences(case: TopKCase, dtype: type, aux_coefficient: float) -> None:
    """Each entry of the kernels' four gradients against ``(J(p + h) - J(p - h)) / 2h``
    (float64, ``h = 1e-6``), away from ties and relu kinks: every row's ``Z2`` values at least
    1e-3 apart and from 0, so no step of ``h`` changes a selection. Without AuxK, ``J`` is the
    kernels' own. With AuxK, ``E = X - Xhat`` must stay at its value at ``p`` (no gradient
    flows through it), which the kernels' ``J`` cannot do, so ``J`` is the reference's
    :func:`topk_cases.loss_reference` with ``E`` held (at ``p`` it equals the kernels' ``J``:
    :func:`test_loss_and_gradients_equal_the_dense_reference`)."""
    W1, b1, W2, b2, X = case.arrays(dtype)
    Z2 = (X - b2) @ W1.T + b1
    gaps = np.abs(Z2[:, :, None] - Z2[:, None, :]) + np.eye(case.F)
    assume(gaps.min() > 1e-3 and np.abs(Z2).min() > 1e-3)
    options = (case.k, case.dead_mask, case.aux_k, aux_coefficient)
    _, grads = topk.topk_loss_and_grad(W1, b1, W2, b2, X, *options)
    E = X - forward_reference(W1, b1, W2, b2, X, case.k)[-1]

    def loss(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray) -> float:
        if case.aux_k:
            return loss_reference(W1, b1, W2, b2, X, *options, E=E)
        return topk.topk_loss_and_grad(W1, b1, W2, b2, X, *options)[0]

    arrays = {"W1": W1.copy(), "b1": b1.copy(), "W2": np.ascontiguousarray(W2.T).T, "b2": b2.copy()}
    h = 1e-6
    for name, array in arrays.items():
        numeric = np.empty(array.shape)
        for position in np.ndindex(array.shape):
            saved = array[position]
            array[position] = saved + h
            up = loss(**arrays)
            array[position] = saved - h
            down = loss(**arrays)
            array[position] = saved
            numeric[position] = (up - down) / (2 * h)
        assert relative_error(grads[name], numeric) < 1e-6, (name, relative_error(grads[name], numeric))


@settings(max_examples=30)
@given(m=st.integers(1, 30), k=st.integers(1, 6), F=st.integers(1, 12), seed=seeds)
def test_latent_order_groups_the_pairs_by_latent(m: int, k: int, F: int, seed: int) -> None:
    """The counting sort lists every flat position once, latent ``f``'s positions in
    ``order[starts[f]:starts[f + 1]]``, increasing; indices may repeat within a row."""
    idx = np.random.default_rng(seed).integers(0, F, size=(m, k))
    starts, order = topk.latent_order(idx, F)
    assert starts[0] == 0 and starts[-1] == m * k
    np.testing.assert_array_equal(np.sort(order), np.arange(m * k))
    for f in range(F):
        positions = order[starts[f]:starts[f + 1]]
        np.testing.assert_array_equal(positions, np.flatnonzero(idx.ravel() == f))


def test_bad_input_is_refused_with_a_clear_error() -> None:
    rng = np.random.default_rng(0)
    W1, b1, W2 = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(3, 4))
    b2, X = rng.normal(size=3), rng.normal(size=(5, 3))
    with pytest.raises(ValueError, match="k must be between 1 and"):
        topk.topk_loss_and_grad(W1, b1, W2, b2, X, 5)
    with pytest.raises(ValueError, match="W2 must have shape"):
        topk.topk_loss_and_grad(W1, b1, W2.T, b2, X, 2)
    with pytest.raises(TypeError, match="use one dtype"):
        topk.topk_loss_and_grad(W1.astype(np.float32), b1, W2, b2, X, 2)
    with pytest.raises(TypeError, match="must be an int"):
        topk.topk_loss_and_grad(W1, b1, W2, b2, X, 2.0)
    with pytest.raises(ValueError, match="needs dead"):
        topk.topk_loss_and_grad(W1, b1, W2, b2, X, 2, aux_k=2)
    with pytest.raises(TypeError, match="bool numpy array of shape"):
        topk.topk_loss_and_grad(W1, b1, W2, b2, X, 2, dead=np.ones(3, bool), aux_k=2)
    with pytest.raises(TypeError, match="float32 or float64"):
        topk.topk_rows(np.ones((2, 3), np.int64), 1)
    idx, val = topk.topk_rows(X @ W1.T, 2)
    with pytest.raises(ValueError, match="latent indices in"):
        topk.sparse_decode(idx + 3, val, np.ascontiguousarray(W2.T), b2)
    with pytest.raises(ValueError, match="C-contiguous"):
        topk.sparse_decode(idx, val, W2.T, b2)


def test_float32_kernels_have_no_float64_variable() -> None:
    """No float64 literal or accumulator promotes a float32 kernel: every value numba infers
    for float32 arrays is float32. Compiled afresh without the cache and without ``parallel``."""
    rng = np.random.default_rng(0)
    Z2, b1 = rng.normal(size=(4, 6)).astype(np.float32), rng.normal(size=6).astype(np.float32)
    idx, val = np.empty((4, 2), np.int64), np.empty((4, 2), np.float32)
    W_dec, D3 = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    dW, dW1, db1 = np.zeros((6, 3), np.float32), np.zeros((6, 3), np.float32), np.zeros(6, np.float32)
    topk.select_rows(Z2, b1, np.arange(6), topk.NO_PADDING, idx, val)
    starts, order = topk.latent_order(idx, 6)
    calls = [
        (topk.select_rows, (Z2, b1, np.array([1, 4]), np.array([0]), np.empty((4, 3), np.int64),
                            np.empty((4, 3), np.float32))),
        (topk.decode_rows, (idx, val, W_dec, D3[0], np.empty((4, 3), np.float32))),
        (topk.latent_grads, (D3, idx, val, W_dec, np.empty((4, 2), np.float32))),
        (topk.scatter_grads, (starts, order, val, D3, val, D3, dW, dW1, db1)),
    ]
    for kernel, args in calls:
        fresh = njit(error_model="numpy")(kernel.py_func)
        fresh(*args)
        (signature,) = fresh.signatures
        typemap = fresh.overloads[signature].type_annotation.typemap
        promoted = {str(name): str(t) for name, t in typemap.items()
                    if "float64" in str(t) and "const" not in str(name)}
        assert not promoted, (kernel.__name__, promoted)


COMPARE_WITHOUT_JIT = """
    import json
    import sys
    import numpy as np
    sys.path.insert(0, "tests")
    from topk_cases import TopKCase, loss_and_grad_reference
    from tinysae.autograd import relative_error
    from tinysae.backends import _numba_topk as topk

    case = TopKCase(m=6, n=3, F=5, k=2, aux_k=2, dead=(True, False, True, True, False), seed=0, grid=False)
    W1, b1, W2, b2, X = case.arrays(np.float64)
    J, grads = topk.topk_loss_and_grad(W1, b1, W2, b2, X, 2, case.dead_mask, 2, 0.5)
    J_ref, expected = loss_and_grad_reference(W1, b1, W2, b2, X, 2, case.dead_mask, 2, 0.5)
    errors = [relative_error(J, J_ref)] + [relative_error(grads[name], expected[name]) for name in grads]
    print(json.dumps({"worst": max(errors), "python": not hasattr(topk.select_rows, "signatures")}))
"""


def test_kernels_run_as_plain_python_with_jit_disabled() -> None:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(COMPARE_WITHOUT_JIT)], env=env, cwd=root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["python"] and out["worst"] < 1e-12, out
