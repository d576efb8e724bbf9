"""One table of backends, checked against the numpy reference on the same problems.

Each backend also has its own file with deeper checks (routes, dtypes, the simulator's tiles);
this table is where a new backend is added first.
"""

from __future__ import annotations

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
    for name, a, b in zip(("W1", "b1", "W2", "b2"), grads.arrays(), grads_ref.arrays()):
        assert relative_error(a, b) < tol, name


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
    assert np.isfinite(loss) and all(np.all(np.isfinite(a)) for a in grads.arrays())
    assert_agree(params, X, objective, backend, tol=1e-10)


def test_autograd_reports_a_unit_saturated_on_every_sample() -> None:
    """The teaching engine does not clip rho_hat: the infinite KL is reported, not hidden."""
    params = tinysae.init_params(4, 3, seed=1)
    params.W1[0] = -400.0
    X = np.random.default_rng(0).uniform(0.5, 1.0, size=(5, 4))
    objective = Objective(rho=0.05, beta=3.0)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteGradientError, match="at node 'sparsity'"):
        tinysae.loss_and_grad(params, X, objective, backend="autograd")
