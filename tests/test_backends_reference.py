"""The autograd backend against the numpy reference, and gradient checks of both."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from strategies import problems

from tinysae.autograd import relative_error
from tinysae.backends import autograd_backend, loss_and_grad, numpy_ref
from tinysae.checks import check_gradient
from tinysae.objective import Objective, init_params

NAMES = ("W1", "b1", "W2", "b2")


@settings(max_examples=60)
@given(problem=problems())
def test_engine_gradient_equals_numpy_reference(problem) -> None:
    params, X, objective = problem
    loss_ref, grads_ref = numpy_ref.loss_and_grad(params, X, objective)
    loss, grads = autograd_backend.loss_and_grad(params, X, objective)
    assert abs(loss - loss_ref) <= 1e-12 * max(1.0, abs(loss_ref))
    for name, a, b in zip(NAMES, grads.arrays(), grads_ref.arrays()):
        assert a.shape == b.shape and a.dtype == np.float64
        assert relative_error(a, b) < 1e-10, f"{name}: {relative_error(a, b):.2e} for {objective}"


@settings(max_examples=30)
@given(problem=problems())
def test_graph_terms_equal_reference_terms(problem) -> None:
    params, X, objective = problem
    nodes = autograd_backend.build_graph(params, X, objective)
    terms = numpy_ref.terms(params, X, objective)
    fwd = numpy_ref.forward(params, X, objective)
    for name in ("reconstruction", "weight_decay", "sparsity"):
        assert np.isclose(float(nodes[name].data), getattr(terms, name), rtol=1e-12, atol=1e-15)
    for name in ("Z2", "H", "rho_hat", "Z3", "Xhat"):
        np.testing.assert_allclose(nodes[name].data, getattr(fwd, name), rtol=1e-12, atol=1e-15)


def _away_from_relu_kink(params, X, objective) -> bool:
    """A finite-difference check is honest only where f is differentiable: for relu, no
    pre-activation Z2 may sit within 1e-4 of the kink (perturbations move it by ~1e-6)."""
    if objective.activation != "relu":
        return True
    return bool(np.min(np.abs(numpy_ref.forward(params, X, objective).Z2)) > 1e-4)


@pytest.mark.parametrize("backend", ["numpy", "autograd"])
@settings(max_examples=15)
@given(problem=problems(max_m=5, max_n=4, max_k=3))
def test_check_gradient_of_backend(backend: str, problem) -> None:
    params, X, objective = problem
    assume(_away_from_relu_kink(params, X, objective))
    report = check_gradient(params, X, objective, backend=backend)
    assert report.relative_error < 1e-8, str(report)


def test_check_gradient_catches_a_wrong_gradient(monkeypatch) -> None:
    params = init_params(3, 2, seed=0)
    X = np.random.default_rng(0).uniform(size=(4, 3))
    objective = Objective()
    good = numpy_ref.loss_and_grad

    def wrong(params, X, objective):
        loss, grads = good(params, X, objective)
        grads.b1 *= 1.01  # a 1% error in one block
        return loss, grads

    monkeypatch.setattr(numpy_ref, "loss_and_grad", wrong)
    report = check_gradient(params, X, objective, backend="numpy")
    assert report.relative_error > 1e-4 and report.worst_input == "b1"
    assert "b1[" in str(report)


def test_autograd_backend_is_registered() -> None:
    params = init_params(3, 2, seed=1)
    X = np.random.default_rng(1).uniform(size=(5, 3))
    loss, grads = loss_and_grad(params, X, Objective(), backend="autograd")
    loss_ref, grads_ref = loss_and_grad(params, X, Objective(), backend="numpy")
    assert np.isclose(loss, loss_ref, rtol=1e-13)
    assert relative_error(grads.flatten(), grads_ref.flatten()) < 1e-13
