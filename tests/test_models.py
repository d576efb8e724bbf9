"""The model layer: Params as a mapping, models declared once, batches, backend capabilities,
and terms that are measured, never derived."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import problems, seeds

from tinysae import Batch, ClassicSAE, Model, Objective, Params, SquaredError, evaluate, init_params, lbfgs
from tinysae.backends import UnsupportedModel, resolve, supporting
from tinysae.checks import check_gradient
from tinysae.params import ParamSpec, uniform

# ---- Params ----------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=4), seeds)
def test_params_flatten_and_unflatten_are_inverse_and_keep_names_and_order(shapes, seed) -> None:
    rng = np.random.default_rng(seed)
    params = Params({f"p{i}": rng.normal(size=shape) for i, shape in enumerate(shapes)})
    theta = params.flatten()
    assert theta.size == params.size == sum(a * b for a, b in shapes)
    back = params.unflatten(theta * 2)
    assert list(back) == list(params)
    for name in params:
        np.testing.assert_array_equal(back[name], 2 * params[name])


def test_params_is_a_read_only_ordered_mapping() -> None:
    W1, b1 = np.ones((2, 3)), np.zeros(2)
    params = Params(W1=W1, b1=b1)
    assert list(params.keys()) == ["W1", "b1"] and params["W1"] is W1 and params.b1 is b1
    assert dict(params.items()) == {"W1": W1, "b1": b1}
    with pytest.raises(AttributeError, match="read-only"):
        params.W1 = W1
    with pytest.raises(TypeError):
        params["W1"] = W1
    with pytest.raises(AttributeError, match="no parameter 'W3'; it has W1, b1"):
        _ = params.W3
    for twin in (copy.deepcopy(params), pickle.loads(pickle.dumps(params)), params.copy()):
        assert list(twin) == ["W1", "b1"] and np.array_equal(twin["W1"], W1) and twin["W1"] is not W1


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: Params(W1=np.ones(2, dtype=int)), TypeError, r"Params\['W1'\] must be a float numpy array"),
        (lambda: Params(W1=[1.0]), TypeError, "got list"),
        (lambda: Params({"not a name": np.ones(1)}), ValueError, "identifiers"),
        (lambda: Params([("a", np.ones(1)), ("a", np.ones(1))]), ValueError, "twice"),
        (lambda: Params(a=np.ones(3)).unflatten(np.ones(4)), ValueError, r"length 3 \(a \(3,\)\)"),
    ],
)
def test_params_errors_name_the_problem(build, error, message) -> None:
    with pytest.raises(error, match=message):
        build()


def test_a_model_checks_names_shapes_and_finiteness_of_params() -> None:
    model = ClassicSAE(4, 3)
    good = model.init_params(seed=1)
    assert model.check_params(good) is good
    with pytest.raises(ValueError, match=r"params must be W1 \(3, 4\), b1 \(3,\), W2 \(4, 3\), b2 \(4,\)"):
        model.check_params(Params({**good, "W1": np.ones((4, 3))}))
    with pytest.raises(ValueError, match="params must be W1"):
        model.check_params(Params(W1=good["W1"], W2=good["W2"], b1=good["b1"], b2=good["b2"]))  # order
    with pytest.raises(ValueError, match="params.b2 holds NaN or inf"):
        model.check_params(Params({**good, "b2": np.full(4, np.nan)}))
    with pytest.raises(TypeError, match="tinysae.Params"):
        model.check_params({"W1": good["W1"]})


def test_the_classic_initialises_as_ufldl_did() -> None:
    params = ClassicSAE(64, 25).init_params(seed=3)
    rng = np.random.default_rng(3)
    r = np.sqrt(6 / (64 + 25 + 1))
    np.testing.assert_array_equal(params["W1"], rng.uniform(-r, r, size=(25, 64)))
    np.testing.assert_array_equal(params["W2"], rng.uniform(-r, r, size=(64, 25)))
    assert not params["b1"].any() and not params["b2"].any()
    assert list(params) == ["W1", "b1", "W2", "b2"]


# ---- a model written outside the package -------------------------------------------------------


class TiedLinear(Model):
    """A linear autoencoder with tied weights: Xhat = (X W^T + c) W, W (k, n). Its optimum spans
    the top-k principal subspace of the (centred) data."""

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = n, k

    def param_specs(self):
        return (ParamSpec("W", (self.k, self.n), uniform(0.1)), ParamSpec("c", (self.k,)),
                ParamSpec("d", (self.n,)))

    def forward(self, params, X, batch):
        code = (X @ params["W"].T + params["c"]).named("H")
        return {"H": code, "Xhat": (code @ params["W"] + params["d"]).named("Xhat")}

    def terms(self):
        return (SquaredError(),)


def test_an_outside_model_trains_on_the_engine_to_the_pca_optimum() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)) @ np.diag([3.0, 2.0, 1.0, 0.3, 0.2, 0.1]) + 5.0
    model = TiedLinear(6, 2)
    assert resolve("auto", model) == "autograd" and supporting(model) == ["autograd"]
    result = lbfgs(model.init_params(seed=0), X, model, max_iter=500, verbose=False)
    centred = X - X.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    pca_error = np.sum(singular[2:] ** 2) / (2 * X.shape[0])
    assert result.history.terms["reconstruction"][-1] == pytest.approx(pca_error, rel=1e-4)
    message = (r'backend="numba" implements only the classic sparse autoencoder '
               r'\(tinysae.models.ClassicSAE\), the contractive one \(tinysae.models.ContractiveSAE\) and '
               r'the convolutional one \(tinysae.models.ConvolutionalSAE\), '
               'not TiedLinear; the backends that implement this model: "autograd"')
    with pytest.raises(UnsupportedModel, match=message):
        evaluate(model, result.params, Batch(X), backend="numba")
    report = check_gradient(model.init_params(seed=1), X[:7], model, backend="autograd")
    assert report.relative_error < 1e-7


# ---- batches: targets other than the inputs ------------------------------------------------------


@settings(max_examples=60)
@given(problems(), seeds)
def test_targets_enter_the_reconstruction_only_and_numpy_agrees_with_the_engine(problem, seed) -> None:
    params, X, objective = problem
    T = np.random.default_rng(seed).uniform(0.0, 1.0, size=X.shape)
    model = ClassicSAE(X.shape[1], params["W1"].shape[0], objective)
    engine = evaluate(model, params, Batch(X, T), backend="autograd")
    reference = evaluate(model, params, Batch(X, T), backend="numpy")
    assert reference.loss == pytest.approx(engine.loss, rel=1e-12, abs=1e-14)
    for name in params:
        np.testing.assert_allclose(reference.grads[name], engine.grads[name], rtol=1e-9, atol=1e-12)
    plain = evaluate(model, params, Batch(X), backend="numpy")
    for name in ("weight_decay", "sparsity"):  # the encoder, hence these terms, never sees T
        if name in plain.terms:
            assert reference.terms[name] == plain.terms[name]
    assert check_gradient(params, X, objective, backend="numpy", targets=T).relative_error < 1e-7


@pytest.mark.parametrize("backend", ["numba", "cuda"])
def test_the_kernels_refuse_separate_targets(backend: str) -> None:
    params, X = init_params(4, 2), np.full((3, 4), 0.5)
    with pytest.raises(UnsupportedModel, match=f'backend="{backend}" reconstructs the inputs themselves'):
        evaluate(ClassicSAE(4, 2), params, Batch(X, X + 0.1), backend=backend)


def test_a_batch_checks_its_targets() -> None:
    params, X = init_params(4, 2), np.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=r"targets have shape \(2, 4\), the inputs \(3, 4\)"):
        evaluate(ClassicSAE(4, 2), params, Batch(X, X[:2]), backend="numpy")
    with pytest.raises(ValueError, match="output='sigmoid' reconstructs values in"):
        evaluate(ClassicSAE(4, 2), params, Batch(X, X + 1.0), backend="numpy")


# ---- terms are measured, by every backend -------------------------------------------------------


@settings(max_examples=40)
@given(problems())
def test_every_backend_measures_each_term_as_the_engine_does(problem) -> None:
    params, X, objective = problem
    model = ClassicSAE(X.shape[1], params["W1"].shape[0], objective)
    oracle = model.graph(params, Batch(X))  # each term read off its own node of the graph
    expected = {name: float(oracle[name].data) for name in model.term_names()}
    for backend in ("numpy", "numba"):
        got = evaluate(model, params, Batch(X), backend=backend)
        assert list(got.terms) == list(expected)
        for name, value in expected.items():
            assert got.terms[name] == pytest.approx(value, rel=1e-10, abs=1e-12), (backend, name)
        np.testing.assert_allclose(got.rho_hat, oracle["H"].data.mean(axis=0), rtol=1e-12, atol=1e-15)


def test_a_history_records_the_terms_at_the_iterates_themselves() -> None:
    X = np.random.default_rng(0).uniform(0.0, 1.0, size=(300, 16))
    objective = Objective(rho=0.05, beta=3.0, weight_decay=1e-3)
    seen: list[Params] = []
    result = lbfgs(init_params(16, 5, seed=0), X, objective, max_iter=15, backend="numba", verbose=False,
                   callback=lambda it, params, history: seen.append(params.copy()))
    history = result.history
    assert history.terms_iteration == history.iteration == list(range(1, len(seen) + 1))
    model = ClassicSAE(16, 5, objective)
    for i, params in enumerate(seen):
        graph = model.graph(params, Batch(X))
        for name in model.term_names():
            assert history.terms[name][i] == pytest.approx(float(graph[name].data), rel=1e-10)
        assert history.loss[i] == pytest.approx(float(graph.J.data), rel=1e-12)


def test_no_sparsity_term_without_a_penalty() -> None:
    model = ClassicSAE(4, 2, Objective(penalty="none"))
    assert model.term_names() == ("reconstruction", "weight_decay")
    graph = model.graph(model.init_params(), Batch(np.full((3, 4), 0.5)))
    assert "sparsity" not in graph.nodes and set(graph.terms()) == {"reconstruction", "weight_decay"}


@pytest.mark.usefixtures("fast_thread_switching")
@settings(max_examples=5)
@given(problems(max_m=5, max_n=4, max_k=3))
def test_the_cuda_kernels_measure_each_term_as_the_engine_does(problem) -> None:
    pytest.importorskip("numba_cuda", reason="the cuda backend needs numba-cuda (the dev extra installs it)")
    from tinysae.backends import numba_cuda

    params, X, objective = problem
    model = ClassicSAE(X.shape[1], params["W1"].shape[0], objective)
    oracle = model.graph(params, Batch(X))
    got = numba_cuda.evaluate(model, params, Batch(X), tile=2)
    assert list(got.terms) == list(model.term_names())
    for name in model.term_names():
        assert got.terms[name] == pytest.approx(float(oracle[name].data), rel=1e-10, abs=1e-12), name
    np.testing.assert_allclose(got.rho_hat, oracle["H"].data.mean(axis=0), rtol=1e-12, atol=1e-15)
