"""The ``cuda`` backend on numba's CUDA simulator: it must agree with the numpy reference.

The simulator runs every CUDA thread as a Python thread, so these tests use tiny shapes and
small tiles (``tile=2..4``: many tiles and partial tiles for few threads); one test runs the
real-GPU tile size :data:`numba_cuda.TILE` on a shape spanning more than one tile.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import problems

from tinysae.autograd import relative_error
from tinysae.backends import BackendUnavailable, get_backend, is_available, numba_cuda, numpy_ref
from tinysae.backends.capabilities import UnsupportedModel
from tinysae.models import Batch, ClassicSAE
from tinysae.objective import Objective, init_params
from tinysae.params import Params

NAMES = ("W1", "b1", "W2", "b2")

pytestmark = [
    pytest.mark.skipif(
        not is_available("cuda"), reason="numba-cuda is not installed (pip install 'tinysae[cuda]')"
    ),
    pytest.mark.usefixtures("fast_thread_switching"),
]

DTYPES = {"float64": (np.float64, 1e-10), "float32": (np.float32, 1e-4)}


def assert_matches_reference(params: Params, X: np.ndarray, objective: Objective, dtype, tol, tile):
    """CUDA in ``dtype`` vs the float64 numpy reference on the same (rounded) inputs."""
    params, X = params.astype(dtype), X.astype(dtype)
    loss, grads = numba_cuda.loss_and_grad(params, X, objective, tile=tile)
    ref_loss, ref_grads = numpy_ref.loss_and_grad(params.astype(np.float64), X.astype(np.float64), objective)
    assert isinstance(loss, float)
    assert relative_error(loss, ref_loss) < tol, (loss, ref_loss)
    assert tuple(grads) == tuple(ref_grads) == NAMES
    for name in NAMES:
        got, want = grads[name], ref_grads[name]
        assert got.dtype == dtype and got.shape == want.shape, (name, got.dtype, got.shape)
        assert relative_error(got, want) < tol, (name, relative_error(got, want))


@settings(max_examples=15)
@given(
    problem=st.one_of(problems(max_m=7, max_n=7, max_k=5), problems(max_m=1, max_n=5, max_k=1)),
    dtype_name=st.sampled_from(sorted(DTYPES)),
    tile=st.sampled_from([2, 3, 4]),
)
def test_matches_numpy_reference(problem, dtype_name, tile):
    """Loss and all four gradients, every penalty/activation/output, m = 1 and k = 1 included."""
    params, X, objective = problem
    dtype, tol = DTYPES[dtype_name]
    assert_matches_reference(params, X, objective, dtype, tol, tile)


@pytest.mark.parametrize("dtype_name", sorted(DTYPES))
def test_real_tile_size_spanning_several_tiles(dtype_name):
    """The tile size a GPU uses, on m and n longer than one tile (and a partial last tile)."""
    tile = numba_cuda.TILE
    m, n, k = tile + 1, tile + 2, 3
    rng = np.random.default_rng(7)
    params = init_params(n, k, seed=rng)
    params = Params(W1=params.W1 * 2, b1=rng.normal(0, 0.5, k), W2=params.W2 * 2, b2=rng.normal(0, 0.5, n))
    X = rng.uniform(0, 1, size=(m, n))
    dtype, tol = DTYPES[dtype_name]
    assert_matches_reference(params, X, Objective(beta=3.0, rho=0.1, weight_decay=1e-3), dtype, tol, tile)


def test_registry_runs_cuda_on_the_simulator():
    """``backend="cuda"`` goes through the registry; the simulator is not a real GPU."""
    rng = np.random.default_rng(1)
    params, X = init_params(3, 2, seed=1), rng.uniform(0, 1, size=(2, 3))
    from tinysae.backends import loss_and_grad

    loss, grads = loss_and_grad(params, X, Objective(), backend="cuda")
    ref_loss, _ = numpy_ref.loss_and_grad(params, X, Objective())
    assert relative_error(loss, ref_loss) < 1e-10
    # the evaluation's terms, measured on the device, are the reference's (no sparsity for "none")
    for objective in (Objective(), Objective(penalty="l1"), Objective(penalty="none")):
        evaluation = numba_cuda.evaluate(ClassicSAE(3, 2, objective), params, Batch(X), tile=2)
        ref_terms = numpy_ref.terms(params, X, objective)
        assert list(evaluation.terms) == list(ClassicSAE(3, 2, objective).term_names())
        for name, value in evaluation.terms.items():
            assert relative_error(value, getattr(ref_terms, name)) < 1e-10, (objective.penalty, name)
        assert relative_error(evaluation.loss, ref_terms.loss) < 1e-10
        assert relative_error(evaluation.rho_hat, ref_terms.rho_hat) < 1e-10
    from numba import config

    assert numba_cuda.is_real_gpu() is (not config.ENABLE_CUDASIM)
    assert numba_cuda.auto_eligible() is numba_cuda.is_real_gpu()


# ---- one batch kept on the device across evaluations (what L-BFGS uses) -------------------------


class UploadCounter:
    """``numba.cuda`` with ``to_device`` recording every host array it sends up."""

    def __init__(self, cuda):
        self.cuda, self.sent = cuda, []

    def to_device(self, array, *args, **kwargs):
        self.sent.append(array)
        return self.cuda.to_device(array, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.cuda, name)


@settings(max_examples=8)
@given(problem=problems(max_m=5, max_n=4, max_k=3), data=st.data())
def test_bound_evaluation_matches_evaluate_and_uploads_X_once(problem, data):
    """``bind(model, batch)`` gives ``evaluate``'s loss, gradients, terms and rho_hat at every
    parameters it is called with, and uploads X once: later calls move only the parameters."""
    params, X, objective = problem
    model = ClassicSAE(X.shape[1], params.W1.shape[0], objective)
    counter = UploadCounter(numba_cuda._cuda())
    steps = data.draw(st.lists(st.floats(-0.5, 0.5), min_size=2, max_size=3), label="steps")
    direction = Params(**{name: np.cos(np.arange(params[name].size)).reshape(params[name].shape)
                          for name in NAMES})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(numba_cuda, "_cuda", lambda: counter)
        evaluate_at = numba_cuda.bind(model, Batch(X), tile=2)
        for step in steps:
            point = Params(**{name: params[name] + step * direction[name] for name in NAMES})
            got = evaluate_at(point)
            want = numba_cuda.evaluate(model, point, Batch(X), tile=2)
            assert got.loss == want.loss and got.terms == want.terms
            assert np.array_equal(got.rho_hat, want.rho_hat)
            for name in NAMES:
                assert np.array_equal(got.grads[name], want.grads[name]), name
    assert X.dtype == np.float64 and X.flags.c_contiguous  # so X itself is what goes up
    uploads_of_X = [array for array in counter.sent if array is X]
    # once for the whole bound run, then once per call of evaluate
    assert len(uploads_of_X) == 1 + len(steps)


def test_bound_evaluation_follows_the_dtype_of_the_parameters():
    """float32 parameters on float32 data compute in float32; float64 parameters on the same data
    in float64 (the common type, as ``evaluate``), each with its own copy of X on the device."""
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, size=(3, 4)).astype(np.float32)
    params = init_params(4, 2, seed=2)
    model = ClassicSAE(4, 2, Objective())
    evaluate_at = numba_cuda.bind(model, Batch(X), tile=2)
    for dtype in (np.float32, np.float64, np.float32):
        got = evaluate_at(params.astype(dtype))
        want = numba_cuda.evaluate(model, params.astype(dtype), Batch(X), tile=2)
        assert got.grads.W1.dtype == want.grads.W1.dtype == dtype
        assert got.loss == want.loss
        assert np.array_equal(got.grads.W1, want.grads.W1)


def test_bound_evaluation_refuses_separate_targets():
    X = np.full((2, 3), 0.5)
    with pytest.raises(UnsupportedModel, match="separate targets"):
        numba_cuda.bind(ClassicSAE(3, 2, Objective()), Batch(X, X.copy()))


# ---- minibatch Adam on the device ---------------------------------------------------------------


def numpy_adam(
    params, X, objective, *, learning_rate, epochs, batch_size, seed, beta1=0.9, beta2=0.999, eps=1e-8
):
    """The reference loop of the contract ``adam_device`` (and the CPU trainer) follows."""
    params = params.copy()
    moments = {name: np.zeros_like(p) for name, p in params.items()}
    velocities = {name: np.zeros_like(p) for name, p in params.items()}
    rng = np.random.default_rng(seed)
    m = X.shape[0]
    history, t = [], 0
    for _ in range(epochs):
        perm = rng.permutation(m)
        losses = []
        for i in range(0, m, batch_size):
            loss, grads = numpy_ref.loss_and_grad(params, X[perm[i : i + batch_size]], objective)
            losses.append(loss)
            t += 1
            for name, p in params.items():
                g, mom, vel = grads[name], moments[name], velocities[name]
                mom[:] = beta1 * mom + (1 - beta1) * g
                vel[:] = beta2 * vel + (1 - beta2) * g * g
                mhat = mom / (1 - beta1**t)
                vhat = vel / (1 - beta2**t)
                p -= learning_rate * mhat / (np.sqrt(vhat) + eps)
        history.append(float(np.mean(losses)))
    return params, history


@settings(max_examples=6)
@given(problem=problems(max_m=5, max_n=4, max_k=3), data=st.data())
def test_adam_device_matches_numpy_adam(problem, data):
    """Same seed, same minibatches, same steps: parameters and per-epoch losses to 1e-8."""
    params, X, objective = problem
    m = X.shape[0]
    batch_size = data.draw(st.integers(max(1, m // 2), m), label="batch_size")
    kwargs = dict(learning_rate=0.01, epochs=2, batch_size=batch_size, seed=data.draw(st.integers(0, 99)))
    got_params, got_history = numba_cuda.adam_device(params, X, objective, tile=4, **kwargs)
    want_params, want_history = numpy_adam(params, X, objective, **kwargs)
    assert len(got_history) == 2
    assert relative_error(got_history, want_history) < 1e-8
    assert tuple(got_params) == tuple(want_params) == NAMES
    for name in NAMES:
        assert relative_error(got_params[name], want_params[name]) < 1e-8


def test_adam_device_partial_last_batch_and_float32():
    """A batch size that leaves a smaller last minibatch, in float32."""
    rng = np.random.default_rng(3)
    params, X = init_params(4, 3, seed=3), rng.uniform(0, 1, size=(5, 4))
    objective = Objective(penalty="l1", activation="relu", output="identity", beta=0.5)
    kwargs = dict(learning_rate=0.05, epochs=2, batch_size=3, seed=11)
    got_params, got_history = numba_cuda.adam_device(
        params.astype(np.float32), X.astype(np.float32), objective, tile=2, **kwargs
    )
    params64, X64 = params.astype(np.float32).astype(np.float64), X.astype(np.float32).astype(np.float64)
    want_params, want_history = numpy_adam(params64, X64, objective, **kwargs)
    assert got_params.dtype == np.float32
    assert relative_error(got_history, want_history) < 1e-4
    assert relative_error(got_params.flatten(), want_params.flatten()) < 1e-4
    assert want_history[1] < want_history[0]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the simulator's numpy scalars overflow
def test_adam_device_refuses_to_return_nan():
    """A learning rate that overflows the parameters: a clear error, not NaN parameters."""
    params, X = init_params(3, 2, seed=0), np.full((2, 3), 0.5)
    kwargs = dict(learning_rate=1e300, epochs=1, batch_size=1, seed=0, tile=2)
    message = r"the objective became .* at Adam step 2 \(on the GPU\); lower learning_rate \(now 1e\+300\)"
    with pytest.raises(FloatingPointError, match=message):
        numba_cuda.adam_device(params, X, Objective(weight_decay=1.0), **kwargs)


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("batch_size", 0, ValueError),
        ("epochs", 1.5, TypeError),
        ("learning_rate", -0.1, ValueError),
        ("learning_rate", "fast", TypeError),
        ("beta1", 1.0, ValueError),
    ],
)
def test_adam_device_rejects_bad_settings(name, value, error):
    kwargs = dict(learning_rate=0.01, epochs=1, batch_size=2, seed=0)
    kwargs[name] = value
    params, X = init_params(3, 2), np.full((4, 3), 0.5)
    with pytest.raises(error, match=name):
        numba_cuda.adam_device(params, X, Objective(), **kwargs)


def test_bad_tile_is_refused():
    params, X = init_params(3, 2), np.full((4, 3), 0.5)
    with pytest.raises(ValueError, match="tile"):
        numba_cuda.loss_and_grad(params, X, Objective(), tile=64)


# ---- availability ------------------------------------------------------------------------------


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python process with extra environment variables ``env``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def test_missing_numba_cuda_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba_cuda", None)  # makes `import numba_cuda` fail
    with pytest.raises(BackendUnavailable, match=r'pip install "tinysae\[cuda\]"'):
        numba_cuda.check_available()
    with pytest.raises(BackendUnavailable, match="numba-cuda"):
        get_backend("cuda")
    assert not is_available("cuda")
    assert numba_cuda.is_real_gpu() is False


def test_no_gpu_says_so(monkeypatch):
    from numba import cuda

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    with pytest.raises(BackendUnavailable, match="no usable CUDA GPU"):
        numba_cuda.check_available()
    assert numba_cuda.is_real_gpu() is False


def test_gpu_without_compilers_says_what_to_install(monkeypatch):
    """A real GPU but no NVVM/NVRTC (no CUDA toolkit, numba-cuda without its cu12/cu13 extra)."""
    from numba import config

    monkeypatch.setattr(config, "ENABLE_CUDASIM", 0)
    monkeypatch.setattr(numba_cuda, "_compiler_problem", lambda: "DynamicLibNotFoundError: libnvrtc")
    with pytest.raises(BackendUnavailable, match=r"cannot compile kernels .*numba-cuda\[cu12\]"):
        numba_cuda.check_available()
    assert numba_cuda.is_real_gpu() is False


def test_compiler_probe_names_what_is_missing():
    """Outside the simulator the probe loads NVVM and NVRTC for real: None, or which failed."""
    result = run_python(
        """
        from tinysae.backends.numba_cuda import _compiler_problem
        print(_compiler_problem())
        """,
        NUMBA_ENABLE_CUDASIM="0",
    )
    assert result.returncode == 0, result.stderr
    problem = result.stdout.strip()
    assert problem == "None" or "nvrtc" in problem.lower() or "nvvm" in problem.lower(), problem


def test_everything_else_imports_without_numba_cuda():
    """With numba-cuda (and numba.cuda) hidden, tinysae and the CPU backends still work and
    ``backend="auto"`` falls back."""
    result = run_python(
        """
        import sys
        sys.modules["numba_cuda"] = None
        sys.modules["numba.cuda"] = None
        import numpy as np
        import tinysae
        from tinysae.backends import BackendUnavailable, get_backend, resolve_auto
        import tinysae.backends.numba_cuda
        params = tinysae.init_params(3, 2)
        loss, _ = tinysae.loss_and_grad(params, np.full((4, 3), 0.5), tinysae.Objective())
        assert np.isfinite(loss)
        assert resolve_auto() != "cuda"
        try:
            get_backend("cuda")
        except BackendUnavailable as err:
            print(err)
        """
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "tinysae[cuda]"' in result.stdout


def test_every_kernel_lowers_for_the_gpu_and_float32_kernels_never_use_float64():
    """numba's CUDA compiler types every kernel and lowers it to LLVM IR (NVVM's input) with no
    GPU and no CUDA libraries: this catches what the simulator, plain Python, accepts but the GPU
    compiler refuses. In the float32 kernels' IR (device functions included: ``sigmoid`` calls
    ``__nv_expf``) no ``double`` appears, so no literal or call silently computes in float64.

    Device functions ask the current GPU for its compute capability when a kernel that calls
    them is typed; with no GPU here the test answers (7, 5) for it.
    """
    result = run_python(
        """
        import re
        import types as pytypes
        from numba import types
        from numba.cuda import compiler, dispatcher
        dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(7, 5))
        from tinysae.backends._cuda_kernels import kernel_signatures, kernels
        for dtype in ("float32", "float64"):
            K = kernels(dtype, 16)
            for name, signature in kernel_signatures(dtype).items():
                result = compiler.compile_cuda(getattr(K, name).py_func, types.void, signature, cc=(7, 5))
                ir = result.library.get_llvm_str()
                assert re.search(r"define .*" + name, ir), (dtype, name)
                doubles = len(re.findall(r"\\bdouble\\b", ir))
                assert (doubles == 0) == (dtype == "float32"), (dtype, name, doubles)
                print(dtype, name, "ok")
        """,
        NUMBA_ENABLE_CUDASIM="0",
    )
    from tinysae.backends._cuda_kernels import kernel_signatures

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok") == 2 * len(kernel_signatures("float32")), result.stdout
    assert "float32 output_delta ok" in result.stdout


def test_every_kernel_compiles_to_ptx():
    """Outside the simulator, ``cuda.compile_ptx`` turns each kernel into PTX for real hardware.

    That needs numba-cuda's compiler libraries (NVRTC, NVVM: ``numba-cuda[cu12]`` or ``[cu13]``)
    and, for kernels that call device functions, this numba-cuda's compile_ptx also asks the CUDA
    driver for its compute capability; without them the test is skipped, saying which was missing.
    """
    result = run_python(
        """
        import sys
        from tinysae.backends._cuda_kernels import compile_all_to_ptx
        try:
            for dtype in ("float32", "float64"):
                ptx = compile_all_to_ptx(dtype, 16)
                assert all(".entry" in code for code in ptx.values()), dtype
        except Exception as err:
            text = f"{type(err).__name__}: {err}"
            if any(word in text for word in ("libnvrtc", "libnvvm", "NVVM", "driver", "Driver")):
                print(text.splitlines()[0])
                sys.exit(3)
            raise
        print(len(ptx), "kernels")
        """,
        NUMBA_ENABLE_CUDASIM="0",
    )
    if result.returncode == 3:
        pytest.skip(f"cannot compile PTX here: {result.stdout.strip()}")
    assert result.returncode == 0, result.stderr
    assert "10 kernels" in result.stdout


def test_simulated_shared_memory_survives_a_thread_switch_during_allocation(monkeypatch):
    """numba's simulator allocates a block's shared array without a lock; when threads switch
    inside the allocation, threads of one block get different arrays and sums come out wrong.
    Here every allocation sleeps, which forces that switch; with
    :mod:`tinysae.backends._cudasim`'s lock the column sums are still exact."""
    import time

    from numba.cuda.simulator import kernelapi

    from tinysae.backends import _cudasim
    from tinysae.backends._cuda_kernels import kernels

    tile = 3
    K = kernels("float64", tile)
    assert kernelapi.FakeCUDAShared.array.thread_safe

    def slow_empty(*args, **kwargs):
        time.sleep(0.002)
        return np.empty(*args, **kwargs)

    monkeypatch.setattr(_cudasim, "np", SimpleNamespace(empty=slow_empty))
    A = np.arange(1.0, 1.0 + tile * tile * 2).reshape(tile * tile, 2)
    out = np.zeros((1, 2))
    K.column_sums[(1, 1), (tile, tile)](A, out, 1.0, False)
    np.testing.assert_array_equal(out[0], A.sum(axis=0))
