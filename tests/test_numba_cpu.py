"""The Numba CPU backend equals the numpy reference, in float64 and float32, on each of its
routes (serial loops; BLAS + fused passes on the calling thread; BLAS + fused passes in
parallel; the blocked thin-layer kernels; the shape-based dispatch), stays finite when units
saturate, runs as plain Python under ``NUMBA_DISABLE_JIT=1``, and picks its own threading layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from functools import partial

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from strategies import objectives, problems
from threadpoolctl import threadpool_info, threadpool_limits

from tinysae.backends import _numba_kernels as kernels
from tinysae.backends import evaluate, loss_and_grad, numba_cpu, numpy_ref
from tinysae.models import Batch, ClassicSAE
from tinysae.objective import Objective, init_params
from tinysae.params import Params

NAMES = ("W1", "b1", "W2", "b2")

PATHS = {
    "loops": numba_cpu.loss_and_grad_loops,
    "blas": partial(numba_cpu.loss_and_grad_blas, parallel=False),
    "parallel": partial(numba_cpu.loss_and_grad_blas, parallel=True),
    # blocks of 3 rows: several blocks per thread's chunk, and a partial last block
    "thin": partial(numba_cpu.loss_and_grad_thin, block_rows=3),
    "dispatch": numba_cpu.loss_and_grad,
}
#: Relative error allowed against the float64 reference, by the dtype the backend computes in.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


def rel_error(a: np.ndarray | float, b: np.ndarray | float, floor: float = 0.0) -> float:
    """``||a - b|| / max(||a + b||, floor)`` (0 when both are 0).

    ``floor`` is the dtype's smallest normal number when a float32 result is compared: a
    gradient of 1e-45 (weight decay 1e-45 on a dead unit) is below what float32 resolves.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = max(float(np.linalg.norm(a + b)), floor)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def errors(params: Params, X: np.ndarray, objective: Objective, path: str, dtype: type) -> dict[str, float]:
    """Relative errors of the backend in ``dtype`` against the float64 reference on the same
    (``dtype``-rounded) inputs, for the loss and each gradient."""
    params, X = params.astype(dtype), X.astype(dtype)
    loss, grads = PATHS[path](params, X, objective)
    ref_loss, ref_grads = numpy_ref.loss_and_grad(params.astype(np.float64), X.astype(np.float64), objective)
    assert tuple(grads) == tuple(ref_grads) == NAMES
    assert all(g.dtype == dtype for g in grads.values()), [g.dtype for g in grads.values()]
    assert all(grads[name].shape == ref_grads[name].shape for name in NAMES)
    floor = float(np.finfo(dtype).tiny)
    out = {"loss": rel_error(loss, ref_loss, floor)}
    out.update({f"d{name}": rel_error(grads[name], ref_grads[name], floor) for name in NAMES})
    return out


@settings(max_examples=60)
@given(
    problem=problems(), path=st.sampled_from(sorted(PATHS)), dtype=st.sampled_from([np.float64, np.float32])
)
def test_matches_numpy_reference(problem, path, dtype):
    params, X, objective = problem
    errs = errors(params, X, objective, path, dtype)
    assert max(errs.values()) < TOLERANCE[dtype], errs


@settings(max_examples=10)
@given(
    objective=objectives(),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**16),
    path=st.sampled_from(["parallel", "thin"]),
)
def test_parallel_paths_on_a_shape_with_uneven_chunks(objective, dtype, seed, path):
    """More rows than threads, odd sizes: each chunk of rows (and for the thin route, each
    block of a chunk, the last one partial) and its partial sums are used."""
    rng = np.random.default_rng(seed)
    m, n, k = 37, 11, 5
    params = init_params(n, k, seed=rng)
    params = Params(W1=params.W1 * 2, b1=rng.normal(0, 0.5, k), W2=params.W2 * 2, b2=rng.normal(0, 0.5, n))
    errs = errors(params, rng.uniform(0, 1, (m, n)), objective, path, dtype)
    assert max(errs.values()) < TOLERANCE[dtype], errs


@settings(max_examples=5)
@given(objective=objectives(), dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**16))
def test_thin_route_with_its_own_block_size(objective, dtype, seed):
    """The thin route with the block size it picks itself, on a shape with several blocks."""
    rng = np.random.default_rng(seed)
    m, n, k = 1500, 64, 25
    assert m > 2 * numba_cpu.thin_block_rows(n, k)
    params = init_params(n, k, seed=rng)
    params = Params(W1=params.W1 * 2, b1=rng.normal(0, 0.5, k), W2=params.W2 * 2, b2=rng.normal(0, 0.5, n))
    X = rng.uniform(0, 1, (m, n))
    params, X = params.astype(dtype), X.astype(dtype)
    loss, grads = numba_cpu.loss_and_grad_thin(params, X, objective)
    ref_loss, ref_grads = numpy_ref.loss_and_grad(params.astype(np.float64), X.astype(np.float64), objective)
    assert tuple(grads) == NAMES and all(g.dtype == dtype for g in grads.values())
    worst = max(rel_error(a, b) for a, b in zip((loss, *(grads[name] for name in NAMES)),
                                                (ref_loss, *(ref_grads[name] for name in NAMES))))
    assert worst < TOLERANCE[dtype]


def test_thin_route_rejects_an_empty_block():
    params, X = init_params(4, 3, seed=0), np.full((6, 4), 0.5)
    with pytest.raises(ValueError, match="block_rows"):
        numba_cpu.loss_and_grad_thin(params, X, Objective(), block_rows=0)


def test_dispatch_by_shape_and_through_the_registry():
    rng = np.random.default_rng(0)
    objective = Objective()
    shapes = {"loops": (3, 4, 2), "blas": (500, 30, 10), "thin": (3000, 30, 10)}
    assert {route: numba_cpu.choose_route(*shape) for route, shape in shapes.items()} == {
        route: route for route in shapes
    }
    assert numba_cpu.choose_route(10000, 64, 25) == "thin"  # UFLDL
    assert numba_cpu.choose_route(10000, 784, 196) == "blas"  # MNIST
    for m, n, k in shapes.values():
        params, X = init_params(n, k, seed=1), rng.uniform(0, 1, (m, n))
        loss, grads = loss_and_grad(params, X, objective, backend="numba")
        ref_loss, ref_grads = numpy_ref.loss_and_grad(params, X, objective)
        assert rel_error(loss, ref_loss) < 1e-12
        assert max(rel_error(grads[name], ref_grads[name]) for name in NAMES) < 1e-10
        # each route measures the terms itself; they are the reference's, and add up to J
        evaluation = evaluate(ClassicSAE(n, k, objective), params, Batch(X), backend="numba")
        ref_terms = numpy_ref.terms(params, X, objective)
        assert list(evaluation.terms) == ["reconstruction", "weight_decay", "sparsity"]
        for name, value in evaluation.terms.items():
            assert rel_error(value, getattr(ref_terms, name)) < 1e-12, name
        assert rel_error(evaluation.loss, sum(evaluation.terms.values())) < 1e-15
        assert rel_error(evaluation.rho_hat, ref_terms.rho_hat) < 1e-12


def test_reused_buffers_follow_the_shape():
    """The BLAS path keeps work buffers between calls; a new shape or dtype must not see stale ones."""
    rng = np.random.default_rng(1)
    objective = Objective(penalty="l1", activation="relu", output="identity")
    for m, n, k, dtype in [
        (20, 6, 4, np.float64),
        (9, 6, 4, np.float64),
        (9, 6, 4, np.float32),
        (20, 7, 3, np.float64),
    ]:
        params, X = init_params(n, k, seed=2), rng.uniform(0, 1, (m, n))
        for path in ("blas", "blas", "parallel", "parallel", "blas"):
            errs = errors(params, X, objective, path, dtype)
            assert max(errs.values()) < TOLERANCE[dtype], (m, n, k, dtype, path, errs)
    numba_cpu.clear_buffers()
    errs = errors(params, X, objective, "blas", np.float64)
    assert max(errs.values()) < 1e-10


def test_gradients_are_fresh_arrays():
    """Gradients returned by one call are not overwritten by the next (optimisers keep them)."""
    rng = np.random.default_rng(2)
    params, objective = init_params(8, 5, seed=3), Objective()
    X1, X2 = rng.uniform(0, 1, (30, 8)), rng.uniform(0, 1, (30, 8))
    for path in ("loops", "blas", "parallel", "thin"):
        _, g1 = PATHS[path](params, X1, objective)
        kept = g1.copy()
        PATHS[path](params, X2, objective)
        assert all(np.array_equal(g1[name], kept[name]) for name in NAMES)


def test_mixed_dtypes_compute_in_float64():
    params = init_params(6, 4, seed=0)
    X = np.random.default_rng(0).uniform(0, 1, (10, 6)).astype(np.float32)
    for path in ("loops", "blas", "parallel", "thin"):
        _, grads = PATHS[path](params, X, Objective())
        assert all(g.dtype == np.float64 for g in grads.values())
        _, grads = PATHS[path](params.astype(np.float32), X.astype(np.float64), Objective())
        assert all(g.dtype == np.float64 for g in grads.values())


def test_float32_kernels_have_no_float64_variable():
    """No float64 literal or accumulator promotes a float32 kernel: every variable numba infers
    in the float32 specialisations is float32 (or an int, bool, array of float32 ...)."""
    params = init_params(5, 3, seed=0).astype(np.float32)
    X = np.random.default_rng(0).uniform(0, 1, (4, 5)).astype(np.float32)
    for path in ("loops", "blas", "parallel", "thin"):
        PATHS[path](params, X, Objective())
    kernel_list = [
        (kernels.loss_and_grad_loops, False),
        (kernels.sparsity_terms, False),
        (kernels.exp_nonpositive_f32, False),
        (kernels.hidden_forward, True),
        (kernels.output_delta, True),
        (kernels.hidden_delta, True),
        (kernels.hidden_forward_serial, False),
        (kernels.output_delta_serial, False),
        (kernels.hidden_delta_serial, False),
        (kernels.thin_forward, True),
        (kernels.thin_backward, True),
    ]
    for kernel, parallel in kernel_list:
        if kernel is kernels.exp_nonpositive_f32:  # inlined into callers, never compiled alone
            signature = (numba.types.float32,)
        else:
            (signature,) = [s for s in kernel.signatures if "float32" in str(s)]
        assert "float64" not in str(signature), (kernel.__name__, signature)
        # Recompile without the cache: cached overloads do not keep numba's type annotations.
        fresh = njit(parallel=parallel)(kernel.py_func)
        fresh.compile(signature)
        typemap = fresh.overloads[signature].type_annotation.typemap
        # Literal constants (``$const`` temporaries) are float64 before ``np.float32(...)``
        # converts them at compile time; every computed value must be float32.
        promoted = {
            str(name): str(t)
            for name, t in typemap.items()
            if "float64" in str(t) and "const" not in str(name)
        }
        assert not promoted, (kernel.__name__, promoted)


def saturated_problem(objective: Objective, dtype: type, seed: int) -> tuple[Params, np.ndarray]:
    """Weights so large that |Z2| and (for sigmoid hidden units) |Z3| reach several hundred."""
    rng = np.random.default_rng(seed)
    m, n, k = 16, 6, 4
    X = rng.uniform(0, 1, (m, n))
    X[:, 0] = 1.0  # every row has a big enough entry to saturate Z2
    W1 = rng.choice([-1.0, 1.0], size=(k, n)) * 500.0
    W1[:, 0] = rng.choice([-1.0, 1.0], size=k) * 2000.0
    W2 = rng.choice([-1.0, 1.0], size=(n, k)) * 500.0
    params = Params(W1=W1, b1=rng.normal(0, 1, k), W2=W2, b2=rng.normal(0, 1, n))
    return params.astype(dtype), X.astype(dtype)


@settings(max_examples=30)
@given(
    objective=objectives(),
    dtype=st.sampled_from([np.float64, np.float32]),
    path=st.sampled_from(["loops", "blas", "parallel", "thin"]),
    seed=st.integers(0, 2**16),
)
def test_saturated_units_give_finite_results(objective, dtype, path, seed):
    params, X = saturated_problem(objective, dtype, seed)
    loss, grads = PATHS[path](params, X, objective)
    assert np.isfinite(loss)
    assert tuple(grads) == NAMES
    for name, g in grads.items():
        assert np.all(np.isfinite(g)), name
    # Where the reference is finite too, and (under KL) every rho_hat lies inside the clip range
    # of the dtype computed in (a unit active on 1 row in 1e30 has rho_hat ~1e-30: float64
    # keeps it, float32 clips it to 1e-19, another, finite, KL), agree.
    # Compared as one vector theta: a saturated unit's own gradient is ~e^-500, which float32
    # (and a float64 exp that stops at e^-709) rounds to 0, a relative error of 1 of nothing.
    params64, X64 = params.astype(np.float64), X.astype(np.float64)
    with np.errstate(all="ignore"):
        ref_loss, ref_grads = numpy_ref.loss_and_grad(params64, X64, objective)
        rho_hat = numpy_ref.forward(params64, X64, objective).rho_hat
    finfo = np.finfo(dtype)
    clipped = np.any((rho_hat < np.sqrt(finfo.tiny)) | (rho_hat > 1 - finfo.epsneg))
    if objective.penalty == "kl" and dtype == np.float32 and clipped:
        return
    if np.isfinite(ref_loss) and np.all(np.isfinite(ref_grads.flatten())):
        tol = TOLERANCE[dtype]
        assert rel_error(loss, ref_loss) < tol
        # Everything may vanish (all units saturated, no weight decay): the true gradient is
        # then ~1e-218, which float32 holds as 0; allow an absolute error of a few smallest floats.
        a, b = grads.flatten().astype(np.float64), ref_grads.flatten()
        assert np.linalg.norm(a - b) <= tol * np.linalg.norm(a + b) + 1e4 * np.finfo(dtype).tiny


def test_kl_with_a_unit_saturated_everywhere_is_finite():
    """rho_hat exactly 0 or 1 (reference: infinite KL, NaN gradient) is clipped to finite values."""
    m, n, k = 5, 3, 2
    X = np.full((m, n), 0.5)
    params = Params(W1=np.array([[-900.0] * n, [900.0] * n]), b1=np.zeros(k),
                    W2=np.ones((n, k)), b2=np.zeros(n))
    for path in ("loops", "blas", "parallel", "thin"):
        for dtype in (np.float64, np.float32):
            loss, grads = PATHS[path](params.astype(dtype), X.astype(dtype), Objective())
            assert np.isfinite(loss) and loss > 1.0  # a dead and a stuck unit: a large KL term
            assert all(np.all(np.isfinite(g)) for g in grads.values())


def run_python(code: str, env_extra: dict[str, str]) -> str:
    """Run ``code`` in a fresh interpreter with extra environment variables; return its stdout."""
    env = {**os.environ, **env_extra}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


COMPARE_ALL_OBJECTIVES = """
    import json
    import numpy as np
    from tinysae.backends import numba_cpu, numpy_ref
    from tinysae.objective import Objective, init_params
    from tinysae.params import Params

    def rel(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = np.linalg.norm(a + b)
        return 0.0 if d == 0 else float(np.linalg.norm(a - b) / d)

    def serial(*args):
        return numba_cpu.loss_and_grad_blas(*args, parallel=False)

    def parallel(*args):
        return numba_cpu.loss_and_grad_blas(*args, parallel=True)

    def thin(*args):
        return numba_cpu.loss_and_grad_thin(*args, block_rows=2)

    rng = np.random.default_rng(0)
    m, n, k = 5, 3, 2
    worst = 0.0
    for obj in [Objective(), Objective(penalty="l1", activation="relu", output="identity"),
                Objective(penalty="none", output="identity"), Objective(penalty="l1")]:
        p = init_params(n, k, seed=1)
        p = Params(W1=p.W1 * 3, b1=rng.normal(0, 0.5, k), W2=p.W2 * 3, b2=rng.normal(0, 0.5, n))
        X = rng.uniform(0, 1, (m, n))
        ref_loss, ref = numpy_ref.loss_and_grad(p, X, obj)
        for f in (numba_cpu.loss_and_grad_loops, serial, parallel, thin):
            loss, g = f(p, X, obj)
            assert list(g) == list(ref) == ["W1", "b1", "W2", "b2"]
            worst = max(worst, rel(loss, ref_loss), *(rel(g[name], ref[name]) for name in ref))
    print(json.dumps({"worst": worst, "layer": numba_cpu.threading_layer(),
                      "config_layer": numba_cpu.numba.config.THREADING_LAYER,
                      "jit_disabled": bool(numba_cpu.numba.config.DISABLE_JIT),
                      "kernel_is_python": not hasattr(numba_cpu.kernels.hidden_forward, "signatures")}))
"""


def test_kernels_run_as_plain_python_with_jit_disabled():
    out = json.loads(run_python(COMPARE_ALL_OBJECTIVES, {"NUMBA_DISABLE_JIT": "1"}))
    assert out["jit_disabled"] and out["kernel_is_python"]
    assert out["layer"] is None
    assert out["worst"] < 1e-12, out


@pytest.mark.parametrize("users_layer", ["omp", "tbb", "default"])
def test_backend_chooses_its_threading_layer_whatever_the_environment(users_layer):
    """A user's NUMBA_THREADING_LAYER does not decide: the backend asks for workqueue just
    before its first parallel kernel, numba.threading_layer() confirms it afterwards, and
    numba.config.THREADING_LAYER holds the user's value again (numba read it once, when it
    started its threads). "tbb" is not installed here: numba alone would fail to start."""
    out = json.loads(run_python(COMPARE_ALL_OBJECTIVES, {"NUMBA_THREADING_LAYER": users_layer}))
    assert out["layer"] == numba_cpu.PREFERRED_THREADING_LAYER == "workqueue"
    assert out["config_layer"] == users_layer
    assert out["worst"] < 1e-10, out


def other_layer() -> str:
    """A threading layer numba can start here other than workqueue (omp or tbb), or skip."""
    code = """
        import numba
        for layer in ("omp", "tbb"):
            numba.config.THREADING_LAYER = layer
            try:
                numba.get_num_threads()
            except ValueError:
                continue
            print(numba.threading_layer())
            break
    """
    layer = run_python(code, {}).strip()
    if not layer:
        pytest.skip("numba has no threading layer but workqueue here")
    return layer


@pytest.mark.parametrize("start", ["kernel", "get_num_threads"])
def test_warns_when_another_layer_already_runs(start):
    """numba's threads already started with another layer (by someone's parallel kernel, or by
    numba.get_num_threads()): the backend changes nothing, reports that layer and warns once."""
    layer = other_layer()
    code = f"""
        import warnings
        import numpy as np
        import numba

        @numba.njit(parallel=True)
        def double(x):
            for i in numba.prange(x.shape[0]):
                x[i] *= 2

        numba.config.THREADING_LAYER = "{layer}"
        if "{start}" == "kernel":
            double(np.ones(4))  # numba starts its threads with that layer
        else:
            numba.get_num_threads()
        first = numba.threading_layer()
        from tinysae.backends import numba_cpu
        from tinysae.objective import Objective, init_params

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                numba_cpu.loss_and_grad_blas(init_params(3, 2), np.full((4, 3), 0.5), Objective(),
                                             parallel=True)
                numba_cpu.loss_and_grad_thin(init_params(3, 2), np.full((4, 3), 0.5), Objective())
        messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        print(first, numba_cpu.threading_layer(), numba.config.THREADING_LAYER, len(messages),
              "workqueue" in messages[0] if messages else None)
    """
    first, reported, config_layer, n_warnings, names_workqueue = run_python(code, {}).split()
    assert first == reported == config_layer == layer
    assert int(n_warnings) == 1 and names_workqueue == "True"


def test_serial_routes_start_no_threads():
    """The loop kernel and the serial BLAS route never start numba's threads, so they leave
    the layer undecided (a later parallel kernel of anyone's can still choose)."""
    code = """
        import numpy as np
        from tinysae.backends import numba_cpu
        from tinysae.objective import Objective, init_params

        numba_cpu.loss_and_grad_loops(init_params(3, 2), np.full((4, 3), 0.5), Objective())
        numba_cpu.loss_and_grad_blas(init_params(3, 2), np.full((4, 3), 0.5), Objective(), parallel=False)
        numba_cpu.loss_and_grad(init_params(3, 2), np.full((4, 3), 0.5), Objective())  # loops route
        print(numba_cpu.threading_layer())
    """
    assert run_python(code, {}).strip() == "None"


def test_importing_tinysae_does_not_import_numba():
    out = run_python("import sys, tinysae; print('numba' in sys.modules)", {})
    assert out.strip() == "False"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_float32_matches_float64_on_a_realistic_problem(dtype):
    """UFLDL-like problem (patches in [0.1, 0.9], 64-25-64): float32 within 1e-4 of float64."""
    rng = np.random.default_rng(5)
    params = init_params(64, 25, seed=5)
    X = rng.uniform(0.1, 0.9, (2000, 64))
    errs = errors(params, X, Objective(), "dispatch", dtype)
    assert max(errs.values()) < TOLERANCE[dtype], errs


@settings(max_examples=50)
@given(t=st.floats(-700.0, 0.0))
def test_vectorisable_exp_float64_is_within_two_ulp(t):
    assert abs(kernels.exp_nonpositive_f64(t) - np.exp(t)) <= 2 * np.spacing(np.exp(t))


@settings(max_examples=50)
@given(t=st.floats(-87.0, 0.0, width=32))
def test_vectorisable_exp_float32_is_within_two_ulp(t):
    t = np.float32(t)
    value = kernels.exp_nonpositive_f32(t)  # float32 inside; numba hands back a Python float
    exact = np.exp(np.float64(t))
    assert abs(float(value) - exact) <= 2 * float(np.spacing(np.float32(exact)))


def test_vectorisable_exp_underflows_to_zero():
    assert kernels.exp_nonpositive_f64(-800.0) == 0.0
    assert kernels.exp_nonpositive_f32(np.float32(-100.0)) == 0.0
    assert kernels.exp_nonpositive_f64(0.0) == 1.0
    assert kernels.exp_nonpositive_f32(np.float32(0.0)) == 1.0


def test_concurrent_calls_from_two_python_threads():
    """workqueue aborts the process if two threads launch parallel kernels at once; the
    backend's lock serialises its calls, so threaded callers get correct results."""
    code = """
        import threading
        import numpy as np
        from tinysae.backends import numba_cpu, numpy_ref
        from tinysae.objective import Objective, init_params

        params, objective = init_params(16, 8, seed=0), Objective()
        X = np.random.default_rng(0).uniform(0, 1, (4000, 16))
        ref_loss, _ = numpy_ref.loss_and_grad(params, X, objective)
        losses = []

        def work():
            for _ in range(30):
                losses.append(numba_cpu.loss_and_grad_blas(params, X, objective, parallel=True)[0])

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(len(losses), max(abs(loss - ref_loss) / ref_loss for loss in losses))
    """
    count, worst = run_python(code, {}).split()
    assert int(count) == 60
    assert float(worst) < 1e-12


def blas_pools() -> dict[str, int]:
    """Each BLAS pool's thread count, by library file."""
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_thin_kernels_run_with_one_blas_thread_and_give_the_pools_back(monkeypatch):
    """The thin route's kernels call BLAS from numba's threads: while they run, every BLAS pool
    holds one thread (tinysae.threads.one_blas_thread); after the call (or an error in it), each
    pool has its thread count back."""
    params, X = init_params(64, 25, seed=1), np.random.default_rng(1).uniform(0.1, 0.9, (600, 64))
    numba_cpu.loss_and_grad_thin(params, X, Objective())  # loads the kernels and the BLAS they call
    seen = []
    for name in ("thin_forward", "thin_backward"):
        kernel = getattr(kernels, name)

        def spy(*args, kernel=kernel):
            seen.append(set(blas_pools().values()))
            return kernel(*args)

        monkeypatch.setattr(kernels, name, spy)
    with threadpool_limits(limits=3, user_api="blas"):
        before = blas_pools()
        assert set(before.values()) == {3}
        loss, grads = numba_cpu.loss_and_grad_thin(params, X, Objective())
        assert seen == [{1}, {1}]
        assert blas_pools() == before
        ref_loss, ref_grads = numpy_ref.loss_and_grad(params, X, Objective())
        worst = max(rel_error(a, b) for a, b in zip((loss, *(grads[name] for name in NAMES)),
                                                    (ref_loss, *(ref_grads[name] for name in NAMES))))
        assert worst < TOLERANCE[np.float64]

        monkeypatch.setattr(kernels, "thin_backward", lambda *args: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            numba_cpu.loss_and_grad_thin(params, X, Objective())
        assert blas_pools() == before
