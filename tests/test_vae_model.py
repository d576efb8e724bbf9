"""The variational autoencoder's model and terms: gradients, the ELBO, the KL and its two paths.

Gradients are the engine's (``check_gradient(..., backend="autograd")``) against central
differences in float64, relative error ``||a - n|| / ||a + n|| < 1e-7``, on hypothesis-drawn
shapes and settings; ``eps`` is drawn from the batch's seed, so every evaluation of a check sees
the same objective.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from scipy.stats import norm
from strategies import seeds

from tinysae import (
    VAE,
    Batch,
    BernoulliNLL,
    GaussianKL,
    GaussianNLL,
    Params,
    Tensor,
    check_gradient,
    explain,
)
from tinysae.models.vae import ACTIVATIONS, DECODERS

TOLERANCE = 1e-7


@st.composite
def vae_problems(draw: st.DrawFn) -> tuple[VAE, Params, np.ndarray, int]:
    """``(model, params, X, seed)``: a small VAE of any decoder and activation, its parameters
    moved away from the initialisation (random biases and decoder log-variances), data in [0, 1]
    for the Bernoulli decoder and any reals for the Gaussian one, and the batch's seed."""
    decoder = draw(st.sampled_from(DECODERS))
    activation = draw(st.sampled_from(sorted(ACTIVATIONS)))
    n, d = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    hidden = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    model = VAE(n, d, hidden, decoder=decoder, activation=activation)
    rng = np.random.default_rng(draw(seeds))
    params = Params({name: array + (rng.normal(0, 0.5, array.shape) if array.ndim == 1 else 0.0)
                     for name, array in model.init_params(rng).items()})
    m = draw(st.integers(1, 6))
    X = rng.uniform(0, 1, (m, n)) if decoder == "bernoulli" else rng.normal(0, 1, (m, n))
    return model, params, X, draw(seeds)


@settings(max_examples=15, deadline=None)
@given(vae_problems())
def test_the_engine_gradient_matches_central_differences(problem) -> None:
    model, params, X, seed = problem
    report = check_gradient(params, X, model, backend="autograd", seed=seed)
    assert report.relative_error < TOLERANCE, str(report)


def test_the_layers_are_numbered_as_the_deep_stack_with_the_code_layer_as_two_heads() -> None:
    model = VAE(64, 2, (128,))
    shapes = {spec.name: spec.shape for spec in model.param_specs()}
    assert shapes == {"W1": (128, 64), "b1": (128,), "W_mu": (2, 128), "b_mu": (2,), "W_logvar": (2, 128),
                      "b_logvar": (2,), "W3": (128, 2), "b3": (128,), "W4": (64, 128), "b4": (64,)}
    graph = model.graph(model.init_params(0), Batch(np.full((3, 64), 0.5), seed=1))
    for name in ("Z2", "H2", "mu", "logvar", "eps", "sigma", "z", "Z4", "H4", "Z5", "Xhat", "reconstruction",
                 "kl", "J"):
        assert graph[name].name == name
    assert model.logits == "Z5" and model.term_names() == ("reconstruction", "kl")
    gaussian = VAE(5, 3, (4, 2), decoder="gaussian")
    names = [spec.name for spec in gaussian.param_specs()]
    assert names == ["W1", "b1", "W2", "b2", "W_mu", "b_mu", "W_logvar", "b_logvar", "W4", "b4", "W5", "b5",
                     "W6", "b6", "logvar_x"]
    nodes = gaussian.graph(gaussian.init_params(0), Batch(np.zeros((2, 5)))).nodes
    assert "Z7" not in nodes and nodes["Xhat"].name == "Xhat"


@settings(max_examples=15, deadline=None)
@given(vae_problems())
def test_J_is_minus_the_elbo_estimate_at_the_batchs_draw(problem) -> None:
    model, params, X, seed = problem
    graph = model.graph(params, Batch(X, seed=seed))
    eps = graph["eps"].data
    np.testing.assert_array_equal(eps, np.random.default_rng(seed).standard_normal(eps.shape))
    np.testing.assert_array_equal(graph["z"].data, graph["mu"].data + np.exp(graph["logvar"].data / 2) * eps)
    leaves = {name: Tensor(array, name=name) for name, array in params.items()}
    elbo = model.elbo(leaves, Tensor(X, name="X"), [eps])
    assert elbo.shape == (X.shape[0],)
    np.testing.assert_allclose(-elbo.mean(), graph.J.data, rtol=1e-12, atol=1e-12)
    terms = graph.terms()
    np.testing.assert_allclose(terms["reconstruction"] + terms["kl"], graph.J.data, rtol=1e-14)
    again = model.graph(params, Batch(X, seed=seed))
    assert again.J.data == graph.J.data  # a deterministic function of (params, batch)


def test_the_gradient_reaches_mu_and_logvar_through_z_and_through_the_kl() -> None:
    model = VAE(6, 2, (5,), activation="tanh")
    X = np.random.default_rng(0).uniform(0, 1, (4, 6))
    graph = model.graph(model.init_params(0), Batch(X, seed=3))
    graph.J.backward()
    for wrt, via in (("mu", "mu^2"), ("logvar", "exp(logvar)")):
        derivation = explain(graph["J"], graph[wrt])
        through_z = [p for p in derivation.paths if "z" in p.nodes and "reconstruction" in p.nodes]
        through_kl = [p for p in derivation.paths if "kl" in p.nodes and "z" not in p.nodes]
        assert through_z and through_kl, str(derivation)
        assert any(via in path.nodes for path in through_kl)
        np.testing.assert_allclose(derivation.gradient, graph[wrt].grad, rtol=1e-14)
        assert f"paths meet at {wrt}" in str(derivation)
    logvar_paths = explain(graph["J"], graph["logvar"]).paths
    assert any("sigma" in path.nodes for path in logvar_paths)


# ----------------------------------------------------------------------------- the terms


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), seeds)
def test_the_bernoulli_nll_is_the_binary_cross_entropy(m, n, seed) -> None:
    rng = np.random.default_rng(seed)
    L, T = rng.normal(0, 3, (m, n)), rng.uniform(0, 1, (m, n))
    nodes = {"Z3": Tensor(L, name="Z3"), "T": Tensor(T, name="T")}
    p = expit(L)
    expected = -np.sum(T * np.log(p) + (1 - T) * np.log(1 - p), axis=1)
    np.testing.assert_allclose(BernoulliNLL().per_sample(nodes).data, expected, rtol=1e-10)
    value = BernoulliNLL()(nodes)
    value.backward()
    np.testing.assert_allclose(value.data, expected.mean(), rtol=1e-10)
    np.testing.assert_allclose(nodes["Z3"].grad, (p - T) / m, rtol=1e-10, atol=1e-15)


def test_the_bernoulli_nll_is_finite_for_saturated_logits() -> None:
    """exp(1000) overflows; softplus from the logits does not, and a confident right answer costs 0."""
    L = np.array([[1000.0, -1000.0, 1000.0, -1000.0]])
    T = np.array([[1.0, 0.0, 0.0, 1.0]])
    nodes = {"Z3": Tensor(L, name="Z3"), "T": Tensor(T, name="T")}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = BernoulliNLL()(nodes)
        value.backward()
    assert value.data == 2000.0  # the two wrong answers, 1000 nats each; the right ones 0
    np.testing.assert_array_equal(nodes["Z3"].grad, [[0.0, 0.0, 1.0, -1.0]])


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), seeds)
def test_the_gaussian_nll_is_minus_the_log_density(m, n, seed) -> None:
    rng = np.random.default_rng(seed)
    mean, T, v = rng.normal(0, 1, (m, n)), rng.normal(0, 1, (m, n)), rng.uniform(-3, 2, n)
    nodes = {"Xhat": Tensor(mean, name="Xhat"), "T": Tensor(T, name="T"),
             "logvar_x": Tensor(v, name="logvar_x")}
    expected = -np.sum(norm.logpdf(T, loc=mean, scale=np.exp(v / 2)), axis=1)
    np.testing.assert_allclose(GaussianNLL().per_sample(nodes).data, expected, rtol=1e-10)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), seeds)
def test_the_kl_term_is_the_closed_form_and_its_gradients(m, d, seed) -> None:
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(0, 1.5, (m, d)), rng.uniform(-3, 3, (m, d))
    nodes = {"mu": Tensor(mu, name="mu"), "logvar": Tensor(logvar, name="logvar")}
    kl = GaussianKL()(nodes)
    kl.backward()
    per_sample = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar, axis=1)
    np.testing.assert_allclose(kl.data, per_sample.mean(), rtol=1e-12)
    np.testing.assert_allclose(nodes["mu"].grad, mu / m, rtol=1e-12)
    np.testing.assert_allclose(nodes["logvar"].grad, 0.5 * (np.exp(logvar) - 1) / m, rtol=1e-12, atol=1e-15)
    zero = {"mu": Tensor(np.zeros((m, d))), "logvar": Tensor(np.zeros((m, d)))}
    assert GaussianKL()(zero).data == 0.0  # q equal to the prior


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), seeds)
def test_the_kl_term_equals_a_monte_carlo_estimate(m, d, seed) -> None:
    """KL(q || p) = E_q[log q(z) - log p(z)]: the mean over 100000 draws of z ~ q agrees with the
    closed form within 5 standard errors of that mean (per sample)."""
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(0, 1.5, (m, d)), rng.uniform(-2, 2, (m, d))
    closed = GaussianKL().per_sample({"mu": Tensor(mu), "logvar": Tensor(logvar)}).data
    sigma = np.exp(logvar / 2)
    z = mu + sigma * rng.standard_normal((100_000, m, d))
    log_ratio = np.sum(norm.logpdf(z, mu, sigma) - norm.logpdf(z), axis=2)  # (draws, m)
    error = np.std(log_ratio, axis=0) / np.sqrt(log_ratio.shape[0])
    estimate = log_ratio.mean(axis=0)
    assert np.all(np.abs(estimate - closed) < 5 * error + 1e-12), (estimate, closed)


# ----------------------------------------------------------------------------- the model's checks


def test_the_bernoulli_decoder_refuses_data_outside_0_1() -> None:
    model = VAE(3, 2)
    model.check_inputs(np.array([[0.0, 0.5, 1.0]]))
    message = r"decoder='bernoulli'.*\[0, 1\].*spans \[-0\.5, 2\].*decoder='gaussian'"
    with pytest.raises(ValueError, match=message):
        model.check_inputs(np.array([[-0.5, 0.5, 2.0]]))
    VAE(3, 2, decoder="gaussian").check_inputs(np.array([[-0.5, 0.5, 2.0]]))
    with pytest.raises(ValueError, match="X has 2 columns but the model has n_features=3"):
        model.check_inputs(np.zeros((1, 2)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"decoder": "poisson"}, "decoder='poisson' is not one of 'bernoulli', 'gaussian'"),
    ({"activation": "identity"}, "activation='identity' is not one of 'relu', 'tanh', 'sigmoid'"),
    ({"hidden": ()}, "hidden must be a non-empty sequence"),
    ({"hidden": (4, 0)}, r"hidden\[1\] must be >= 1"),
])
def test_bad_settings_are_named(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        VAE(3, 2, **kwargs)
