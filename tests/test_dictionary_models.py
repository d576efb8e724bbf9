"""The dictionary SAEs on the model layer (tinysae/models/dictionary.py) and their training loop.

Gradients are the engine's against central differences in float64 (relative error < 1e-7) on
hypothesis-drawn shapes, where the objective is differentiable: away from ReLU's kink, TopK's
change of winners and JumpReLU's jump (each draw keeps a margin, or is rejected). Where the VJP
is not a derivative (AuxK's constant residual, JumpReLU's threshold) it is compared with an
independent numpy formula: ``tests/topk_cases.py``'s dense reference for TopK and AuxK, the
pseudo-derivative written out for JumpReLU.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from topk_cases import loss_and_grad_reference, loss_reference

from tinysae import Batch, JumpReLUModel, Params, ReLUModel, TopKModel, check_gradient, evaluate
from tinysae.autograd.gradcheck import numerical_gradient, relative_error
from tinysae.dictionary_train import (
    DeadLatents,
    geometric_median,
    remove_parallel_component,
    train_dictionary,
    unit_norm_columns,
    warmup,
)
from tinysae.models.dictionary import batch_topk_mask, topk_mask

TOLERANCE = 1e-7


@st.composite
def problems(draw: st.DrawFn, max_latents: int = 6) -> tuple[Params, np.ndarray]:
    """Random ``params`` (unit decoder columns, small biases) and ``X (m, n)``, float64."""
    m, n, F = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, max_latents))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W2 = unit_norm_columns(rng.normal(size=(n, F)))
    params = Params({"W1": rng.normal(size=(F, n)), "b1": 0.3 * rng.normal(size=F), "W2": W2,
                     "b2": 0.3 * rng.normal(size=n)})
    return params, rng.normal(size=(m, n))


def pre_activations(params: Params, X: np.ndarray) -> np.ndarray:
    return (X - params["b2"]) @ params["W1"].T + params["b1"]


def margin_between_ranks(Z2: np.ndarray, k: int) -> float:
    """The smallest gap, over rows, between the k-th and (k+1)-th largest entries (inf if k = F)."""
    if k == Z2.shape[1]:
        return np.inf
    ordered = -np.sort(-Z2, axis=1)
    return float(np.min(ordered[:, k - 1] - ordered[:, k]))


@settings(max_examples=30, deadline=None)
@given(problems(), st.floats(0.0, 2.0))
def test_relu_model_gradient(problem, coefficient):
    params, X = problem
    assume(np.min(np.abs(pre_activations(params, X))) > 1e-3)
    report = check_gradient(params, X, ReLUModel(X.shape[1], params["W1"].shape[0], coefficient),
                            backend="autograd")
    assert report.relative_error < TOLERANCE, str(report)


def test_the_l1_is_weighted_by_the_decoder_norms():
    params = Params({"W1": np.eye(2), "b1": np.zeros(2), "W2": np.array([[3.0, 0.0], [0.0, 0.5]]),
                     "b2": np.zeros(2)})
    X = np.array([[1.0, 2.0], [0.5, -1.0]])
    terms = evaluate(ReLUModel(2, 2, coefficient=0.1), params, Batch(X), "autograd").terms
    H = np.maximum(X, 0)
    assert terms["sparsity"] == pytest.approx(0.1 / 2 * (H[:, 0].sum() * 3.0 + H[:, 1].sum() * 0.5))


@settings(max_examples=30, deadline=None)
@given(problems(), st.data())
def test_topk_model_gradient(problem, data):
    params, X = problem
    F = params["W1"].shape[0]
    k = data.draw(st.integers(1, F))
    Z2 = pre_activations(params, X)
    assume(margin_between_ranks(Z2, k) > 1e-3 and np.min(np.abs(Z2)) > 1e-3)
    report = check_gradient(params, X, TopKModel(X.shape[1], F, k), backend="autograd")
    assert report.relative_error < TOLERANCE, str(report)


@settings(max_examples=30, deadline=None)
@given(problems(), st.data())
def test_batch_topk_model_gradient(problem, data):
    params, X = problem
    F = params["W1"].shape[0]
    k = data.draw(st.integers(1, F))
    Z2 = pre_activations(params, X)
    flat = -np.sort(-Z2, axis=None)
    gap = np.inf if k * len(X) == Z2.size else flat[k * len(X) - 1] - flat[k * len(X)]
    assume(gap > 1e-3 and np.min(np.abs(Z2)) > 1e-3)
    report = check_gradient(params, X, TopKModel(X.shape[1], F, k, batch_topk=True), backend="autograd")
    assert report.relative_error < TOLERANCE, str(report)


@settings(max_examples=40, deadline=None)
@given(problems(), st.data())
def test_topk_and_auxk_equal_the_dense_reference(problem, data):
    params, X = problem
    F = params["W1"].shape[0]
    k = data.draw(st.integers(1, F))
    aux_k = data.draw(st.integers(0, F))
    dead = np.array(data.draw(st.lists(st.booleans(), min_size=F, max_size=F)))
    Z2 = pre_activations(params, X)
    assume(len(np.unique(Z2.round(9), axis=None)) == Z2.size)  # no ties: the selection is unique
    model = TopKModel(X.shape[1], F, k, aux_k=aux_k, aux_coefficient=0.25).at_step(dead=dead)
    evaluation = evaluate(model, params, Batch(X), "autograd")
    # no dead latent: no AuxK term (the reference would add the constant ||E||^2 instead)
    loss, grads = loss_and_grad_reference(*params.values(), X, k, dead if dead.any() else None, aux_k, 0.25)
    assert evaluation.loss == pytest.approx(loss, rel=1e-12, abs=1e-14)
    for name in params:
        assert relative_error(evaluation.grads[name], grads[name]) < 1e-12, name
    assert ("auxk" in evaluation.terms) == (aux_k > 0 and bool(dead.any()))


@settings(max_examples=30, deadline=None)
@given(problems(), st.data())
def test_auxk_gradient_holds_the_residual_constant(problem, data):
    """Central differences of J with the residual E frozen at its value: AuxK's gradient."""
    params, X = problem
    F = params["W1"].shape[0]
    k, aux_k = data.draw(st.integers(1, F)), data.draw(st.integers(1, F))
    dead = np.array(data.draw(st.lists(st.booleans(), min_size=F, max_size=F)))
    assume(dead.any())
    Z2 = pre_activations(params, X)
    assume(np.min(np.abs(Z2)) > 1e-3)
    for chosen in (k, min(aux_k, int(dead.sum()))):
        assume(margin_between_ranks(np.where(dead, Z2, -1e3) if chosen != k else Z2, chosen) > 1e-3)
    model = TopKModel(X.shape[1], F, k, aux_k=aux_k, aux_coefficient=0.5).at_step(dead=dead)
    batch = Batch(X)
    graph = model.graph(params, batch)
    E = graph["E"].data

    def loss_at(theta: np.ndarray) -> float:
        W1, b1, W2, b2 = params.unflatten(theta).values()
        return loss_reference(W1, b1, W2, b2, X, k, dead, aux_k, 0.5, E=E)

    numeric = numerical_gradient(loss_at, params.flatten(), 1e-6)
    analytic = evaluate(model, params, batch, "autograd").grads.flatten()
    assert relative_error(analytic, numeric) < TOLERANCE


@settings(max_examples=30, deadline=None)
@given(problems(), st.floats(0.0, 1.0), st.sampled_from([0.1, 0.5, 1.0]))
def test_jumprelu_model_gradient_and_pseudo_derivative(problem, coefficient, bandwidth):
    params, X = problem
    F = params["W1"].shape[0]
    rng = np.random.default_rng(0)
    theta = rng.uniform(0.05, 0.6, size=F)
    params = Params({**params, "log_threshold": np.log(theta)})
    model = JumpReLUModel(X.shape[1], F, coefficient, bandwidth)
    Z2 = pre_activations(params, X)
    assume(np.min(np.abs(Z2 - theta)) > 1e-3)
    evaluation = evaluate(model, params, Batch(X), "autograd")

    # W1, b1, W2, b2: the true derivative, by central differences (theta held where it is)
    weights = Params({name: params[name] for name in ("W1", "b1", "W2", "b2")})

    def loss_at(vector: np.ndarray) -> float:
        return evaluate(model, Params({**weights.unflatten(vector), "log_threshold": np.log(theta)}),
                        Batch(X), "autograd").loss

    numeric = numerical_gradient(loss_at, weights.flatten(), 1e-6)
    analytic = np.concatenate([evaluation.grads[name].ravel() for name in weights])
    assert relative_error(analytic, numeric) < TOLERANCE

    # log_threshold: the pseudo-derivative, written out (rectangle kernel K(u) = [|u| < 1/2])
    m = X.shape[0]
    H = Z2 * (Z2 > theta)
    D3 = (H @ params["W2"].T + params["b2"] - X) / m
    dH = D3 @ params["W2"]
    K = (np.abs((Z2 - theta) / bandwidth) < 0.5).astype(float)
    d_theta = np.sum(dH * -(theta / bandwidth) * K, axis=0) + coefficient / m * np.sum(-K / bandwidth, axis=0)
    np.testing.assert_allclose(evaluation.grads["log_threshold"], d_theta * theta, rtol=1e-10, atol=1e-14)


def test_topk_masks_keep_the_largest():
    Z = np.array([[0.1, 3.0, -1.0, 2.0], [5.0, 4.0, 3.0, -2.0]])
    np.testing.assert_array_equal(topk_mask(Z, 2), [[False, True, False, True], [True, True, False, False]])
    np.testing.assert_array_equal(batch_topk_mask(Z, 2),
                                  [[False, True, False, False], [True, True, True, False]])
    assert not topk_mask(Z, 0).any()


def test_at_step_scales_the_sparsity_and_sets_the_dead_latents():
    relu = ReLUModel(3, 4, coefficient=0.8)
    assert relu.at_step(0.25).coefficient == pytest.approx(0.2) and relu.coefficient == 0.8
    topk = TopKModel(3, 4, 2, aux_k=2)
    dead = np.array([True, False, False, True])
    stepped = topk.at_step(dead=dead)
    np.testing.assert_array_equal(stepped.dead, dead)
    assert not topk.dead.any()
    with pytest.raises(ValueError, match="dead must be a boolean array of shape"):
        topk.at_step(dead=np.ones(3, bool))
    with pytest.raises(ValueError, match="k=5 must not exceed n_latents=4"):
        TopKModel(3, 4, 5)


# ---- the training loop's pieces -------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(problems())
def test_the_projected_gradient_is_tangent_to_each_column(problem):
    params, _ = problem
    W2 = params["W2"]
    g = np.random.default_rng(1).normal(size=W2.shape)
    projected = remove_parallel_component(W2, g)
    np.testing.assert_allclose(np.sum(projected * W2, axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(remove_parallel_component(W2, projected), projected, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(unit_norm_columns(3.0 * W2 + 0.1), axis=0), 1.0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 4))
def test_the_geometric_median_minimises_the_sum_of_distances(seed, m, n):
    X = np.random.default_rng(seed).standard_cauchy(size=(m, n))
    y = geometric_median(X, max_iter=1000, tol=1e-12)

    def total(point: np.ndarray) -> float:
        return float(np.linalg.norm(X - point, axis=1).sum())

    moves = np.random.default_rng(seed + 1).normal(size=(20, n)) * 1e-3 * (1 + np.abs(y).max())
    assert all(total(y) <= total(y + move) + 1e-9 * total(y) for move in moves)


def test_the_geometric_median_resists_an_outlier():
    X = np.array([[0.0], [1.0], [2.0], [1000.0]] * 3)
    assert abs(geometric_median(X)[0] - 1.5) < 0.6 and X.mean() > 250


def test_warmup_and_dead_latents():
    assert [warmup(t, 4) for t in (1, 2, 4, 9)] == [0.25, 0.5, 1.0, 1.0] and warmup(3, 0) == 1.0
    dead = DeadLatents(3, dead_after=10)
    dead.update(np.array([True, False, False]), 6)
    dead.update(np.array([False, False, True]), 6)
    np.testing.assert_array_equal(dead.samples_since_fired, [6, 12, 0])
    np.testing.assert_array_equal(dead.mask(), [False, True, False])
    assert not DeadLatents(3, None).mask().any()


def _data(m: int = 64, n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(m, n))


@pytest.mark.parametrize("model", [ReLUModel(6, 8, 0.1), TopKModel(6, 8, 2, aux_k=3),
                                   JumpReLUModel(6, 8, 0.05, bandwidth=0.1, initial_threshold=0.1)],
                         ids=["relu", "topk", "jumprelu"])
def test_training_keeps_the_decoder_unit_norm_and_lowers_the_loss(model):
    X = _data()
    result, _ = train_dictionary(model, model.init_params(0), X, epochs=8, batch_size=16, learning_rate=1e-2)
    np.testing.assert_allclose(np.linalg.norm(result.params["W2"], axis=0), 1.0, atol=1e-12)
    reconstruction = result.history.terms["reconstruction"]
    assert reconstruction[-1] < reconstruction[0]
    assert len(result.history) == 8 and set(result.history.terms) == set(model.possible_term_names())


def test_the_learning_rate_warms_up():
    """Adam's first step moves each parameter by about the step size: a tenth of it with warm-up 10."""
    model, X = ReLUModel(6, 8, 0.1), _data()
    start = model.init_params(0)
    moved = []
    for steps in (0, 10):
        result, _ = train_dictionary(model, start, X, epochs=1, batch_size=64, learning_rate=1e-2,
                                     warmup_steps=steps)
        moved.append(np.abs(result.params["b1"] - start["b1"]))
    np.testing.assert_allclose(moved[1], moved[0] / 10, rtol=1e-6)


def test_the_sparsity_warms_up():
    """Step 1 of a run whose L1 warms up over 4 steps is step 1 of the model with a quarter of the
    coefficient, and not that of the full coefficient."""
    X = _data()
    start = ReLUModel(6, 8, 2.0).init_params(0)

    def one_step(model: ReLUModel, warmup_steps: int) -> Params:
        result, _ = train_dictionary(model, start, X, epochs=1, batch_size=64, learning_rate=1e-2,
                                     sparsity_warmup_steps=warmup_steps)
        return result.params

    warmed = one_step(ReLUModel(6, 8, 2.0), warmup_steps=4)
    quarter = one_step(ReLUModel(6, 8, 2.0 * warmup(1, 4)), warmup_steps=0)
    full = one_step(ReLUModel(6, 8, 2.0), warmup_steps=0)
    for name in start:
        np.testing.assert_array_equal(warmed[name], quarter[name])
    assert not np.allclose(warmed["b1"], full["b1"])


def test_auxk_trains_the_dead_latents():
    """With every latent but the k live ones dead, AuxK moves the dead decoder columns; without it,
    they never move (the main loss does not reach them)."""
    X = _data(m=32, n=4)
    columns = {}
    for aux_k in (0, 4):
        model = TopKModel(4, 8, 1, aux_k=aux_k, aux_coefficient=1.0)
        start = model.init_params(0)
        result, dead = train_dictionary(model, start, X, epochs=3, batch_size=32, learning_rate=1e-2,
                                        dead_after=1)
        never = dead.samples_since_fired == 3 * 32  # silent on every sample, from the start
        columns[aux_k] = (np.abs(result.params["W2"] - start["W2"])[:, never].max() if never.any() else None)
    assert columns[0] is not None and columns[0] < 1e-12  # only the renormalisation's rounding
    assert columns[4] is not None and columns[4] > 1e-3


@settings(max_examples=40, deadline=None)
@given(problems(max_latents=10), st.data(), st.sampled_from([np.float64, np.float32]))
def test_the_numba_backend_equals_the_engine_for_topk(problem, data, dtype):
    """The sparse kernels (tinysae/backends/_numba_topk.py) behind backend="numba": the same terms,
    gradients and rho_hat as the engine, with and without AuxK."""
    params, X = problem
    F = params["W1"].shape[0]
    k, aux_k = data.draw(st.integers(1, F)), data.draw(st.integers(0, F))
    dead = np.array(data.draw(st.lists(st.booleans(), min_size=F, max_size=F)))
    Z2 = pre_activations(params, X)
    assume(len(np.unique(Z2.astype(np.float32), axis=None)) == Z2.size)  # one selection in both dtypes
    assume(margin_between_ranks(Z2, k) > 1e-4)
    model = TopKModel(X.shape[1], F, k, aux_k=aux_k, aux_coefficient=0.3).at_step(dead=dead)
    params, X = params.astype(dtype), X.astype(dtype)
    engine = evaluate(model, params, Batch(X), "autograd")
    kernels = evaluate(model, params, Batch(X), "numba")
    tolerance = 1e-10 if dtype == np.float64 else 2e-5
    assert set(kernels.terms) == set(engine.terms)
    for name, value in engine.terms.items():
        assert kernels.terms[name] == pytest.approx(value, rel=tolerance, abs=tolerance)
    for name in params:
        assert kernels.grads[name].dtype == dtype
        assert relative_error(kernels.grads[name], engine.grads[name]) < tolerance, name
    np.testing.assert_allclose(kernels.rho_hat, engine.rho_hat, rtol=tolerance, atol=tolerance)


def test_the_numba_backend_refuses_batch_topk():
    from tinysae.backends import supporting

    assert "numba" in supporting(TopKModel(4, 8, 2))
    assert "numba" not in supporting(TopKModel(4, 8, 2, batch_topk=True))
    assert supporting(ReLUModel(4, 8)) == ["autograd"]
