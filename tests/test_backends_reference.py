"""The autograd backend against the numpy reference, and gradient checks of both."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from strategies import problems

from tinysae.autograd import relative_error
from tinysae.backends import autograd_backend, loss_and_grad, numpy_ref
from tinysae.checks import check_gradient
from tinysae.models import Batch, ClassicSAE
from tinysae.objective import Objective, init_params
from tinysae.params import Params

NAMES = ("W1", "b1", "W2", "b2")


@settings(max_examples=60)
@given(problem=problems())
def test_engine_gradient_equals_numpy_reference(problem) -> None:
    params, X, objective = problem
    loss_ref, grads_ref = numpy_ref.loss_and_grad(params, X, objective)
    model = ClassicSAE(X.shape[1], params["W1"].shape[0], objective)
    loss, grads, _, _ = autograd_backend.evaluate(model, params, Batch(X))
    assert abs(loss - loss_ref) <= 1e-12 * max(1.0, abs(loss_ref))
    assert tuple(grads) == tuple(grads_ref) == NAMES
    for name in NAMES:
        a, b = grads[name], grads_ref[name]
        assert a.shape == b.shape and a.dtype == np.float64
        assert relative_error(a, b) < 1e-10, f"{name}: {relative_error(a, b):.2e} for {objective}"


@settings(max_examples=30)
@given(problem=problems())
def test_graph_terms_equal_reference_terms(problem) -> None:
    params, X, objective = problem
    nodes = autograd_backend.build_graph(params, X, objective)
    terms = numpy_ref.terms(params, X, objective)
    fwd = numpy_ref.forward(params, X, objective)
    # penalty="none" has no sparsity term at all (the reference's is 0 then)
    assert ("sparsity" in nodes) == (objective.penalty != "none")
    if objective.penalty == "none":
        assert terms.sparsity == 0.0
    for name in ("reconstruction", "weight_decay", "sparsity"):
        if name in nodes:
            assert np.isclose(float(nodes[name].data), getattr(terms, name), rtol=1e-12, atol=1e-15)
    # rho_hat is a node of the KL penalty only; every evaluation reports it
    assert ("rho_hat" in nodes) == (objective.penalty == "kl")
    for name in ("Z2", "H", "rho_hat", "Z3", "Xhat"):
        if name in nodes:
            np.testing.assert_allclose(nodes[name].data, getattr(fwd, name), rtol=1e-12, atol=1e-15)
    model = ClassicSAE(X.shape[1], params["W1"].shape[0], objective)
    evaluation = autograd_backend.evaluate(model, params, Batch(X))
    assert set(evaluation.terms) == set(model.term_names())
    for name, value in evaluation.terms.items():
        assert np.isclose(value, getattr(terms, name), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(evaluation.rho_hat, fwd.rho_hat, rtol=1e-12, atol=1e-15)


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
    good = numpy_ref.evaluate

    def wrong(model, params, batch):
        evaluation = good(model, params, batch)
        grads = evaluation.grads  # a 1% error in one block:
        return evaluation._replace(grads=Params({**grads, "b1": grads["b1"] * 1.01}))

    monkeypatch.setattr(numpy_ref, "evaluate", wrong)
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
