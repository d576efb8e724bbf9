"""Objective, Params, init_params and the input checks of ``tinysae.loss_and_grad``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import problems, seeds

import tinysae
from tinysae import ClassicSAE, Objective, Params, init_params
from tinysae.backends import get_backend


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rho": 0.0}, "rho must lie in (0, 1)"),
        ({"rho": 1.0}, "rho must lie in (0, 1)"),
        ({"rho": float("nan")}, "rho must be finite"),
        ({"rho": "0.1"}, "rho must be a real number"),
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"weight_decay": -1e-3}, "weight_decay must be >= 0"),
        ({"penalty": "kld"}, "penalty='kld' is not one of 'kl', 'l1', 'none'"),
        ({"activation": "gelu"}, "activation='gelu' is not one of 'sigmoid', 'relu'"),
        ({"output": "softmax"}, "output='softmax' is not one of 'sigmoid', 'identity'"),
        ({"activation": "relu"}, "penalty='kl' needs activation='sigmoid'"),
    ],
)
def test_objective_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        Objective(**kwargs)
    assert message in str(info.value)


def test_objective_accepts_rho_outside_unit_interval_without_kl() -> None:
    assert Objective(rho=0.0, penalty="l1", activation="relu").rho == 0.0


@settings(max_examples=30)
@given(st.integers(1, 20), st.integers(1, 20), seeds)
def test_flatten_unflatten_round_trip(n: int, k: int, seed: int) -> None:
    params = init_params(n, k, seed=seed)
    theta = params.flatten()
    assert theta.shape == (2 * k * n + k + n,)
    back = params.unflatten(theta)
    assert list(back) == ["W1", "b1", "W2", "b2"]
    for name in params:
        np.testing.assert_array_equal(params[name], back[name])
    for a, b in zip(params.values(), ClassicSAE(n, k).unflatten(theta).values()):
        np.testing.assert_array_equal(a, b)


def test_unflatten_rejects_wrong_length() -> None:
    layout = r"length 17 \(W1 \(2, 3\), b1 \(2,\), W2 \(3, 2\), b2 \(3,\)\), got shape \(22,\)"
    with pytest.raises(ValueError, match=layout):
        init_params(3, 2).unflatten(np.zeros(22))
    with pytest.raises(ValueError, match=layout):
        ClassicSAE(3, 2).unflatten(np.zeros(22))


def test_params_checks_shapes_and_types() -> None:
    bad_shape = Params(W1=np.zeros((2, 3)), b1=np.zeros(2), W2=np.zeros((3, 3)), b2=np.zeros(3))
    with pytest.raises(ValueError, match=r"for this ClassicSAE; got W1 \(2, 3\), b1 \(2,\), W2 \(3, 3\)"):
        ClassicSAE(3, 2).check_params(bad_shape)
    with pytest.raises(ValueError, match=r"W2 \(3, 3\)"):
        tinysae.loss_and_grad(bad_shape, np.full((4, 3), 0.5), Objective())
    with pytest.raises(TypeError, match=r"Params\['b1'\] must be a float numpy array, got list"):
        Params(W1=np.zeros((2, 3)), b1=[0.0, 0.0], W2=np.zeros((3, 2)), b2=np.zeros(3))


@settings(max_examples=20)
@given(st.integers(1, 50), st.integers(1, 50), seeds)
def test_init_params_follows_ufldl(n: int, k: int, seed: int) -> None:
    params = init_params(n, k, seed=seed)
    r = math.sqrt(6.0 / (n + k + 1))
    assert params.W1.shape == (k, n) and params.W2.shape == (n, k)
    assert np.all(np.abs(params.W1) <= r) and np.all(np.abs(params.W2) <= r)
    assert not params.b1.any() and not params.b2.any()
    again = init_params(n, k, seed=seed)
    np.testing.assert_array_equal(params.W1, again.W1)


def test_init_params_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="n_hidden must be >= 1, got 0"):
        init_params(4, 0)


@settings(max_examples=25)
@given(problems())
def test_terms_add_up_to_the_loss(problem: tuple) -> None:
    from tinysae.backends.numpy_ref import terms

    params, X, objective = problem
    t = terms(params, X, objective)
    assert math.isclose(t.loss, t.reconstruction + t.weight_decay + t.sparsity, rel_tol=1e-12)
    loss, _ = tinysae.loss_and_grad(params, X, objective)
    assert math.isclose(loss, t.loss, rel_tol=1e-12)


def _small():
    return init_params(3, 2, seed=0), np.full((4, 3), 0.5), Objective()


@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        (np.zeros(3), ValueError, r"X must be 2-D .* got shape \(3,\)"),
        (np.zeros((4, 5)), ValueError, "X has 5 columns but the model has n_visible=3"),
        (np.zeros((0, 3)), ValueError, "X has no rows"),
        (np.array([[0.5, np.nan, 0.5]]), ValueError, r"X must be finite; X\[0, 1\] = nan"),
        (np.array([[0.5, 2.0, 0.5]]), ValueError, r"X spans \[0.5, 2\]; rescale X or use output='identity'"),
        (np.array([["a", "b", "c"]]), TypeError, "X must hold real numbers"),
    ],
)
def test_loss_and_grad_rejects_bad_data(X: np.ndarray, error: type, message: str) -> None:
    params, _, objective = _small()
    with pytest.raises(error, match=message):
        tinysae.loss_and_grad(params, X, objective)


def test_loss_and_grad_rejects_bad_arguments() -> None:
    params, X, objective = _small()
    with pytest.raises(TypeError, match="params must be a tinysae.Params, got dict"):
        tinysae.loss_and_grad({"W1": params.W1}, X, objective)
    with pytest.raises(TypeError, match="objective must be a tinysae.Objective"):
        tinysae.loss_and_grad(params, X, {"rho": 0.1})
    with pytest.raises(ValueError, match="backend='torch' is not one of 'auto', 'numpy'"):
        tinysae.loss_and_grad(params, X, objective, backend="torch")
    bad = params.copy()
    bad.W2[0, 0] = np.inf
    with pytest.raises(ValueError, match="params.W2 holds NaN or inf"):
        tinysae.loss_and_grad(bad, X, objective)


def test_identity_output_accepts_any_real_data() -> None:
    params, _, _ = _small()
    X = np.array([[-3.0, 0.0, 7.5]])
    loss, grads = tinysae.loss_and_grad(params, X, Objective(output="identity"))
    assert math.isfinite(loss) and grads.W1.shape == (2, 3)


def test_registry_resolves_numpy() -> None:
    assert get_backend("numpy").__name__ == "tinysae.backends.numpy_ref"
    assert "numpy" in tinysae.available_backends()
