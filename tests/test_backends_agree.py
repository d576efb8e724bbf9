"""One table of backends, checked against the numpy reference on the same problems.

Each backend also has its own file with deeper checks (routes, dtypes, the simulator's tiles);
this table is where a new backend is added first.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import problems

import tinysae
from tinysae import Objective, Params
from tinysae.autograd import NonFiniteGradientError, relative_error

#: (backend, problem-size limits (m, n, k), examples): the CUDA simulator is slow, so tiny.
BACKENDS = [
    ("autograd", (12, 9, 7), 25),
    ("numba", (12, 9, 7), 25),
    ("cuda", (5, 4, 3), 4),
]


def assert_agree(params: Params, X: np.ndarray, objective: Objective, backend: str, tol: float) -> None:
    loss_ref, grads_ref = tinysae.loss_and_grad(params, X, objective, backend="numpy")
    loss, grads = tinysae.loss_and_grad(params, X, objective, backend=backend)
    assert relative_error(np.array([loss]), np.array([loss_ref])) < tol
    assert tuple(grads) == tuple(grads_ref) == ("W1", "b1", "W2", "b2")
    for name in grads_ref:
        assert relative_error(grads[name], grads_ref[name]) < tol, name


@pytest.mark.usefixtures("fast_thread_switching")
@pytest.mark.parametrize(("backend", "limits", "examples"), BACKENDS)
def test_backend_equals_reference(backend: str, limits: tuple[int, int, int], examples: int) -> None:
    @settings(max_examples=examples)
    @given(problems(*limits))
    def check(problem: tuple) -> None:
        assert_agree(*problem, backend=backend, tol=1e-10)

    check()


@pytest.mark.usefixtures("fast_thread_switching")
@pytest.mark.parametrize("backend", ["numba", "cuda"])
def test_unit_saturated_on_every_sample_stays_finite(backend: str) -> None:
    """A hidden unit off on every row has rho_hat = 0 exactly; every backend clips it alike."""
    params = tinysae.init_params(4, 3, seed=1)
    params.W1[0] = -400.0  # Z2[:, 0] is about -400 or less: sigmoid underflows to 0
    X = np.random.default_rng(0).uniform(0.5, 1.0, size=(5, 4))
    objective = Objective(rho=0.05, beta=3.0)
    loss, grads = tinysae.loss_and_grad(params, X, objective, backend=backend)
    assert np.isfinite(loss) and all(np.all(np.isfinite(a)) for a in grads.values())
    assert_agree(params, X, objective, backend, tol=1e-10)


def test_autograd_reports_a_unit_saturated_on_every_sample() -> None:
    """The teaching engine does not clip rho_hat: the infinite KL is reported, not hidden."""
    params = tinysae.init_params(4, 3, seed=1)
    params.W1[0] = -400.0
    X = np.random.default_rng(0).uniform(0.5, 1.0, size=(5, 4))
    objective = Objective(rho=0.05, beta=3.0)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteGradientError, match="at node 'sparsity'"):
        tinysae.loss_and_grad(params, X, objective, backend="autograd")


#: (backend, data shape (m, n), hidden units): the CUDA simulator gets a tiny problem.
TRAINING_RUNS = [
    ("autograd", (200, 16), 6),
    ("numba", (200, 16), 6),
    ("numba", (2000, 64), 25),  # large enough for numba's thin-layer route
    ("cuda", (6, 4), 3),
]


@pytest.mark.usefixtures("fast_thread_switching")
@pytest.mark.parametrize(("backend", "shape", "k"), TRAINING_RUNS)
def test_short_training_runs_agree_across_backends(
    backend: str, shape: tuple[int, int], k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 L-BFGS iterations from the same seed end at the same parameters as the reference."""
    if backend == "cuda":  # 2x2-thread tiles: the simulator runs 64x fewer threads than 16x16
        from tinysae.backends import numba_cuda

        monkeypatch.setattr(numba_cuda, "evaluate", partial(numba_cuda.evaluate, tile=2))
        monkeypatch.setattr(numba_cuda, "bind", partial(numba_cuda.bind, tile=2))  # what lbfgs uses
    X = np.random.default_rng(3).uniform(0.05, 0.95, size=shape)
    start = tinysae.init_params(shape[1], k, seed=0)
    objective = Objective(rho=0.05, beta=3.0, weight_decay=1e-4)
    runs = [tinysae.lbfgs(start, X, objective, max_iter=20, backend=name, verbose=False)
            for name in ("numpy", backend)]
    assert runs[0].n_iter == runs[1].n_iter == 20
    assert relative_error(runs[1].params.flatten(), runs[0].params.flatten()) < 1e-8
