"""The variant models and their new pieces: ``log_softmax``, the corruptions, the denoising,
deep and softmax models, the cross-entropy and contraction terms.

Gradients are the engine's (``evaluate(..., backend="autograd")``) against central differences
in float64, relative error ``||a - n|| / ||a + n|| < 1e-7``, on hypothesis-drawn shapes and
settings. Central differences divide by the step actually taken (``(x + eps) - (x - eps)`` in
floating point), so that inputs of magnitude 1e3 are differenced exactly. The model
``ContractiveSAE`` is covered by ``tests/test_contractive.py``; here only its term.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes
from scipy.special import expit, logsumexp, softmax
from strategies import problems, seeds

import tinysae
from tinysae import (
    Batch,
    ClassicSAE,
    Contraction,
    CrossEntropy,
    DeepSAE,
    DenoisingSAE,
    Objective,
    Params,
    SoftmaxRegression,
    Tensor,
    evaluate,
    explain,
)
from tinysae.autograd import OPS, log_softmax
from tinysae.corruption import CORRUPTIONS, check_corruption, corrupt
from tinysae.models.deep import assemble
from tinysae.models.softmax import check_one_hot, one_hot

TOLERANCE = 1e-7

#: The worst relative error each gradient check has seen in this session (for reports).
WORST: dict[str, float] = {}


def rel_error(a: np.ndarray | float, b: np.ndarray | float) -> float:
    """``||a - b|| / ||a + b||`` over all entries (0 when both are 0)."""
    a, b = np.ravel(np.asarray(a, np.float64)), np.ravel(np.asarray(b, np.float64))
    denominator = float(np.linalg.norm(a + b))
    numerator = float(np.linalg.norm(a - b))
    if denominator == 0:
        return 0.0 if numerator == 0 else float("inf")
    return numerator / denominator


def resolution(n_entries: int, value_scale: float, eps: float) -> float:
    """What central differences can resolve, as a norm: each evaluation of ``f`` rounds by about
    ``eps_machine * value_scale`` (the magnitude of what it sums; a log-sum-exp adds 1), so each
    difference quotient errs by that over ``eps``. Only a gradient far below it (a softmax
    saturated on the right class: gradient 1e-5 or 1e-261, loss rounding to 0) needs it."""
    return 10.0 * np.sqrt(n_entries) * np.finfo(np.float64).eps * (1.0 + value_scale) / eps


def assert_gradient(check: str, analytic: np.ndarray, numeric: np.ndarray, floor: float) -> None:
    """Relative error below :data:`TOLERANCE`, unless the whole difference is below ``floor``
    (:func:`resolution`); the relative error of every resolvable gradient is recorded."""
    analytic, numeric = np.ravel(analytic), np.ravel(numeric)
    error = rel_error(analytic, numeric)
    if np.linalg.norm(analytic + numeric) > 1e3 * floor:
        WORST[check] = max(WORST.get(check, 0.0), error)
    assert error < TOLERANCE or np.linalg.norm(analytic - numeric) <= floor, (
        f"{check}: relative error {error:.3e}, difference {np.linalg.norm(analytic - numeric):.3e}")


def central_differences(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``df/dx`` by central differences, each divided by the step actually taken."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        up, f_up = x[index], float(f(x))
        x[index] = saved - eps
        down, f_down = x[index], float(f(x))
        x[index] = saved
        grad[index] = (f_up - f_down) / (up - down)
    return grad


def check_objective_gradient(check: str, model: tinysae.Model, params: Params, batch: Batch) -> None:
    """The engine's gradient of the full objective against central differences."""
    engine = evaluate(model, params, batch, backend="autograd")
    assert list(engine.grads) == list(params)
    assert engine.loss == pytest.approx(sum(engine.terms.values()), rel=1e-12, abs=1e-300)

    def loss_at(theta: np.ndarray) -> float:
        return evaluate(model, params.unflatten(theta), batch, backend="autograd").loss

    numeric = central_differences(loss_at, params.flatten())
    assert_gradient(check, engine.grads.flatten(), numeric, resolution(numeric.size, abs(engine.loss), 1e-6))


def scaled_params(model: tinysae.Model, rng: np.random.Generator, scale: float) -> Params:
    """The model's initial parameters with the weights scaled by ``scale`` and random biases, so
    that the activations leave their linear range."""
    params = model.init_params(seed=rng)
    return Params({name: (array * scale if array.ndim == 2 else rng.normal(0.0, 0.5, array.shape))
                   for name, array in params.items()})


# ================================================================================ log_softmax
@st.composite
def log_softmax_inputs(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray, float]:
    """``(x, axis, w, spread)``: values ``offset + spread * N(0, 1)`` with offsets and spreads
    up to 1e3 (where ``exp`` overflows), a random axis and upstream weights ``w``."""
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    spread = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e3]))
    offset = draw(st.sampled_from([0.0, 1e3, -1e3, 750.0]))
    rng = np.random.default_rng(draw(seeds))
    x = offset + spread * rng.standard_normal(shape)
    return x, axis, rng.normal(size=shape), spread


@settings(max_examples=80)
@given(log_softmax_inputs())
def test_log_softmax_gradient_equals_central_differences(case) -> None:
    x, axis, w, spread = case
    t = Tensor(x.copy(), name="x")
    (t.log_softmax(axis) * w).sum().backward()

    def f(values: np.ndarray) -> float:
        return float((Tensor(values).log_softmax(axis) * w).sum().data)

    # log_softmax's entries have magnitude ~spread, so f's rounding grows with it; a larger step
    # keeps that rounding below the tolerance (its third derivative stays O(|w|)).
    eps = 1e-6 * max(1.0, np.sqrt(spread))
    numeric = central_differences(f, x, eps=eps)
    scale = float(np.sum(np.abs(w * Tensor(x).log_softmax(axis).data)))
    assert_gradient("log_softmax", t.grad, numeric, resolution(x.size, scale, eps))
    closed_form = w - softmax(x, axis=axis) * w.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(t.grad, closed_form, rtol=1e-10, atol=1e-12)


@settings(max_examples=60)
@given(log_softmax_inputs())
def test_log_softmax_forward_is_x_minus_logsumexp_and_finite(case) -> None:
    x, axis, _, _ = case
    out = Tensor(x).log_softmax(axis)
    expected = x - logsumexp(x, axis=axis, keepdims=True)
    assert out.shape == x.shape and out.dtype == np.float64
    assert np.all(np.isfinite(out.data)) and np.all(out.data <= 0)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(x).max()))
    np.testing.assert_allclose(np.exp(out.data).sum(axis=axis), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(log_softmax(x, axis).data, out.data)  # the function is the method


def test_log_softmax_is_finite_where_the_naive_formula_overflows() -> None:
    x = np.array([[1e3, 0.0, -1e3], [1e5, 1e5, 1e5], [-1e5, -1e5 + 1.0, -1e5], [710.0, 709.0, 708.0]])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        naive = np.log(np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))
    assert not np.all(np.isfinite(naive))  # the formula log_softmax replaces
    out = Tensor(x).log_softmax()
    assert np.all(np.isfinite(out.data))
    np.testing.assert_allclose(out.data, x - logsumexp(x, axis=1, keepdims=True), rtol=1e-13, atol=1e-9)
    np.testing.assert_allclose(out.data[1], np.full(3, -np.log(3.0)), rtol=1e-14)
    t = Tensor(x.copy())
    t.log_softmax().sum().backward()  # d/dx sum_c log P_c = 1 - C softmax(x)
    assert np.all(np.isfinite(t.grad))
    np.testing.assert_allclose(t.grad, 1.0 - 3.0 * softmax(x, axis=1), atol=1e-13)


def test_log_softmax_axis_errors() -> None:
    x = Tensor(np.zeros((2, 3)))
    for axis in (1.5, True, None, (0, 1)):
        with pytest.raises(TypeError, match="one integer axis"):
            x.log_softmax(axis)
    with pytest.raises(ValueError, match="out of range"):
        x.log_softmax(2)
    with pytest.raises(ValueError, match="out of range"):
        Tensor(np.float64(1.0)).log_softmax()
    assert x.log_softmax(np.int64(-2)).shape == (2, 3)


@settings(max_examples=40)
@given(log_softmax_inputs())
def test_log_softmax_derivative_text_is_what_its_vjp_computes(case) -> None:
    """The op's text, ``g - softmax(x) * (g summed along axis)``, read with scipy's softmax,
    is the VJP (``test_derivative_text`` covers the elementwise ops only)."""
    x, axis, g, _ = case
    op = OPS["log_softmax"]
    assert not op.elementwise and op.arity == 1
    assert op.text == ("<g> - softmax(<x>) * (<g> summed along <axis>)",)
    axis = axis % x.ndim
    out = op.forward(x, axis=axis)
    (vjp,) = op.vjp(g, out, (x,), {"axis": axis})
    meaning = g - softmax(x, axis=axis) * g.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(vjp, meaning, rtol=1e-10, atol=1e-12)


@settings(max_examples=15)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(2, 4), seeds)
def test_explain_derives_the_softmax_regression_score_gradient(m, d, C, seed) -> None:
    """``explain`` through ``log_softmax``: dJ/dZ_softmax is ``(P - T) / m``, the steps are the
    op's definition filled with node names, and it renders as text and LaTeX."""
    rng = np.random.default_rng(seed)
    model = SoftmaxRegression(d, C, weight_decay=0.01)
    params = scaled_params(model, rng, 2.0)
    H, T = rng.uniform(size=(m, d)), one_hot(rng.integers(0, C, m), C)
    graph = model.graph(params, Batch(H, T))
    derivation = explain(graph.J, graph["Z_softmax"])
    P = softmax(graph["Z_softmax"].data, axis=1)
    np.testing.assert_allclose(derivation.gradient, (P - T) / m, rtol=1e-10, atol=1e-14)
    (path,) = derivation.paths
    assert path.nodes[-2:] == ["log_P", "Z_softmax"]
    step = path.steps[-1]
    assert (step.op, step.child, step.node) == ("log_softmax", "log_P", "Z_softmax")
    assert step.derivative == "g - softmax(Z_softmax) * (g summed along axis 1)"
    assert r"\operatorname{softmax}(\mathrm{Z\_softmax})" in step.derivative_latex
    text, latex = str(derivation), derivation.latex()
    assert "log_softmax (log_P)" in text
    assert latex.count("{") == latex.count("}") and "axis 1" in latex
    at_W = explain(graph.J, graph["W"])
    graph.J.backward()
    np.testing.assert_allclose(at_W.gradient, (P - T).T @ H / m + 0.01 * params["W"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(at_W.gradient, graph["W"].grad, rtol=1e-13, atol=1e-15)


# ================================================================================ gradient checks
@st.composite
def denoising_problems(draw: st.DrawFn) -> tuple[DenoisingSAE, Params, Batch]:
    """A small DenoisingSAE problem: every corruption and objective, a batch seed, and half the
    time targets of the batch's own."""
    params, X, objective = draw(problems(max_m=8, max_n=6, max_k=5))
    corruption = draw(st.sampled_from(CORRUPTIONS))
    level = draw(st.floats(0.0, 0.6 if corruption == "gaussian" else 1.0))
    model = DenoisingSAE(X.shape[1], params["W1"].shape[0], objective, corruption, level)
    rng = np.random.default_rng(draw(seeds))
    T = rng.uniform(size=X.shape) if draw(st.booleans()) else None
    return model, params, Batch(X, T, draw(seeds))


@settings(max_examples=30)
@given(denoising_problems())
def test_denoising_gradient_equals_central_differences(problem) -> None:
    model, params, batch = problem
    first = evaluate(model, params, batch, backend="autograd")
    assert evaluate(model, params, batch, backend="autograd").loss == first.loss  # J is fixed by the seed
    check_objective_gradient(f"DenoisingSAE {model.corruption}", model, params, batch)


@st.composite
def deep_problems(draw: st.DrawFn, fine_tune: str) -> tuple[DeepSAE, Params, Batch]:
    """A DeepSAE of 1 to 3 encoder layers (widths 1 to 4), identity or sigmoid code, either
    output; one-hot targets for classification; a reconstruction model with a softmax head half
    the time (parameters the objective does not reach)."""
    n_layers = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, 4)) for _ in range(n_layers + 1))
    output = draw(st.sampled_from(["sigmoid", "identity"]))
    if fine_tune == "classification":
        n_classes = draw(st.integers(2, 4))
    else:
        n_classes = draw(st.sampled_from([None, 3]))
    model = DeepSAE(sizes, code_activation=draw(st.sampled_from(["identity", "sigmoid"])), output=output,
                    weight_decay=draw(st.floats(0.0, 1e-2)), n_classes=n_classes, fine_tune=fine_tune)
    rng = np.random.default_rng(draw(seeds))
    params = scaled_params(model, rng, draw(st.floats(0.5, 3.0)))
    m = draw(st.integers(1, 6))
    X = rng.uniform(size=(m, sizes[0]))
    if output == "identity":
        X = 3 * X - 1
    T = one_hot(rng.integers(0, n_classes, m), n_classes) if fine_tune == "classification" else None
    return model, params, Batch(X, T)


@pytest.mark.parametrize("fine_tune", ["reconstruction", "classification"])
@settings(max_examples=25)
@given(data=st.data())
def test_deep_gradient_equals_central_differences(fine_tune, data) -> None:
    model, params, batch = data.draw(deep_problems(fine_tune))
    assert model.term_names() == ("cross_entropy" if fine_tune == "classification" else "reconstruction",
                                  "weight_decay")
    check_objective_gradient(f"DeepSAE {fine_tune}", model, params, batch)


@st.composite
def softmax_problems(draw: st.DrawFn) -> tuple[SoftmaxRegression, Params, Batch]:
    d, C, m = draw(st.integers(1, 6)), draw(st.integers(2, 5)), draw(st.integers(1, 8))
    model = SoftmaxRegression(d, C, weight_decay=draw(st.floats(0.0, 1e-2)))
    rng = np.random.default_rng(draw(seeds))
    params = scaled_params(model, rng, draw(st.floats(0.1, 10.0)))
    H = rng.uniform(-1.0, 2.0, size=(m, d))
    return model, params, Batch(H, one_hot(rng.integers(0, C, m), C))


@settings(max_examples=40)
@given(softmax_problems())
def test_softmax_regression_gradient_equals_central_differences(problem) -> None:
    model, params, batch = problem
    check_objective_gradient("SoftmaxRegression", model, params, batch)
    value = evaluate(model, params, batch, backend="autograd")
    Z = batch.inputs @ params["W"].T + params["b"]
    labels = batch.targets.argmax(axis=1)
    cross_entropy = np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(labels)), labels])
    # the log-softmax cancels scores of size |Z|: its rounding is about |Z| * 2e-16
    assert value.terms["cross_entropy"] == pytest.approx(cross_entropy, rel=1e-12,
                                                         abs=1e-14 * max(1.0, np.abs(Z).max()))
    assert value.terms["weight_decay"] == pytest.approx(model.weight_decay / 2 * np.sum(params["W"] ** 2))
    assert value.rho_hat is None


@settings(max_examples=40)
@given(st.integers(1, 6), st.integers(2, 5), st.sampled_from([1.0, 10.0, 300.0]), st.booleans(), seeds)
def test_cross_entropy_term_value_and_gradient(m, C, scale, soft, seed) -> None:
    """``CrossEntropy`` on its own: ``-1/m sum T log P``, with one-hot or soft targets, against
    scipy and central differences; for one-hot targets the score gradient is ``(P - T) / m``."""
    rng = np.random.default_rng(seed)
    Z0 = scale * rng.standard_normal((m, C))
    T = rng.dirichlet(np.ones(C), size=m) if soft else one_hot(rng.integers(0, C, m), C)
    term = CrossEntropy()
    assert term.name == "cross_entropy"

    def value(Z: Tensor) -> Tensor:
        return term({"log_P": Z.log_softmax(axis=1), "T": Tensor(T, name="T")})

    Z = Tensor(Z0.copy(), name="Z")
    J = value(Z)
    expected = -np.sum(T * (Z0 - logsumexp(Z0, axis=1, keepdims=True))) / m
    # z_c - logsumexp(z) cancels scores of size `scale`: its rounding is about scale * 2e-16
    assert float(J.data) == pytest.approx(expected, rel=1e-12, abs=1e-14 * scale)
    J.backward()
    eps = 1e-6 * max(1.0, np.sqrt(scale))
    numeric = central_differences(lambda z: float(value(Tensor(z)).data), Z0, eps=eps)
    assert_gradient("CrossEntropy", Z.grad, numeric, resolution(Z0.size, float(J.data), eps))
    P = softmax(Z0, axis=1)
    np.testing.assert_allclose(Z.grad, (P * T.sum(axis=1, keepdims=True) - T) / m, rtol=1e-9, atol=1e-15)


@settings(max_examples=40)
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 4), st.floats(0.0, 3.0), st.floats(0.5, 3.0),
       seeds)
def test_contraction_term_is_the_jacobian_norm_and_its_gradient_is_right(m, n, k, weight, scale,
                                                                         seed) -> None:
    """``Contraction(weight)`` on a sigmoid encoder equals ``weight/m sum_i ||dH_i/dx_i||_F^2``
    with the Jacobian taken by central differences of the encoder, and its engine gradient in
    ``W1`` and ``b1`` (through ``H`` and directly) equals central differences."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(m, n))
    W1, b1 = scale * rng.standard_normal((k, n)), rng.normal(0.0, 0.5, k)
    term = Contraction(weight)
    assert term.name == "contraction"

    def value(W: Tensor, b: Tensor) -> Tensor:
        H = (Tensor(X) @ W.T + b).sigmoid()
        return term({"H": H, "W1": W})

    jacobian_norms = 0.0
    for x in X:
        J_f = np.stack([central_differences(lambda v, j=j: expit(W1 @ v + b1)[j], x) for j in range(k)])
        jacobian_norms += np.sum(J_f**2)
    W, b = Tensor(W1.copy(), name="W1"), Tensor(b1.copy(), name="b1")
    total = value(W, b)
    assert float(total.data) == pytest.approx(weight * jacobian_norms / m, rel=1e-7, abs=1e-300)
    total.backward()
    numeric_W = central_differences(lambda w: float(value(Tensor(w), Tensor(b1)).data), W1)
    numeric_b = central_differences(lambda v: float(value(Tensor(W1), Tensor(v)).data), b1)
    assert_gradient("Contraction", np.concatenate([W.grad.ravel(), b.grad.ravel()]),
                    np.concatenate([numeric_W.ravel(), numeric_b.ravel()]),
                    resolution(W1.size + b1.size, float(total.data), 1e-6))


def test_contraction_refuses_a_negative_weight() -> None:
    with pytest.raises(ValueError, match="contraction must be >= 0"):
        Contraction(-1.0)
    with pytest.raises(TypeError, match="contraction must be a real number"):
        Contraction("0.1")


# ================================================================================ corruption semantics
@settings(max_examples=20)
@given(problems(max_m=8, max_n=6, max_k=5), st.sampled_from(CORRUPTIONS), seeds)
def test_denoising_without_noise_is_the_classic(problem, corruption, seed) -> None:
    params, X, objective = problem
    denoising = DenoisingSAE(X.shape[1], params["W1"].shape[0], objective, corruption, 0.0)
    classic = ClassicSAE(X.shape[1], params["W1"].shape[0], objective)
    got = evaluate(denoising, params, Batch(X, seed=seed), backend="autograd")
    expected = evaluate(classic, params, Batch(X, seed=seed), backend="autograd")
    assert got.loss == expected.loss and got.terms == expected.terms
    for name in params:
        np.testing.assert_array_equal(got.grads[name], expected.grads[name])
    np.testing.assert_array_equal(denoising.graph(params, Batch(X, seed=seed))["X_tilde"].data, X)


@settings(max_examples=20)
@given(st.sampled_from(CORRUPTIONS), seeds, seeds)
def test_the_batch_seed_fixes_the_corruption(corruption, seed, other) -> None:
    X = np.random.default_rng(0).uniform(0.1, 0.9, size=(20, 10))
    model = DenoisingSAE(10, 4, Objective(), corruption, 0.3)
    params = model.init_params(seed=0)

    def tilde(s: int | None) -> np.ndarray:
        return model.graph(params, Batch(X, seed=s))["X_tilde"].data

    np.testing.assert_array_equal(tilde(seed), tilde(seed))
    assert evaluate(model, params, Batch(X, seed=seed), backend="autograd").loss == \
        evaluate(model, params, Batch(X, seed=seed), backend="autograd").loss
    if other != seed:
        assert not np.array_equal(tilde(seed), tilde(other))
    np.testing.assert_array_equal(tilde(None), tilde(None))  # no seed: still one fixed draw


@pytest.mark.parametrize("level", [0.1, 0.5, 2.0])
def test_gaussian_noise_is_clipped_to_the_sigmoid_outputs_range(level) -> None:
    X = np.random.default_rng(1).uniform(size=(400, 50))
    rng_seed = 7
    clipped = DenoisingSAE(50, 3, Objective(output="sigmoid"), "gaussian", level).corrupt(
        X, np.random.default_rng(rng_seed))
    free = DenoisingSAE(50, 3, Objective(output="identity"), "gaussian", level).corrupt(
        X, np.random.default_rng(rng_seed))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    assert free.min() < 0.0 and free.max() > 1.0
    np.testing.assert_array_equal(clipped, np.clip(free, 0.0, 1.0))
    assert np.std(free - X) == pytest.approx(level, rel=0.03)  # sigma = noise_level
    assert abs(np.mean(free - X)) < 5 * level / np.sqrt(X.size)


@pytest.mark.parametrize("level", [0.0, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_masking_zeroes_about_level_of_the_entries(level, dtype) -> None:
    X = np.random.default_rng(2).uniform(0.1, 1.0, size=(200, 50)).astype(dtype)
    X_tilde = corrupt(X, "masking", level, np.random.default_rng(3))
    assert X_tilde.dtype == dtype and X_tilde.shape == X.shape
    zeroed = X_tilde == 0
    assert abs(zeroed.mean() - level) <= 4 * np.sqrt(level * (1 - level) / X.size) + 1e-12
    np.testing.assert_array_equal(X_tilde[~zeroed], X[~zeroed])  # the others are untouched


@pytest.mark.parametrize("level", [0.0, 0.3, 1.0])
def test_salt_and_pepper_sets_level_of_the_entries_to_the_ends_of_the_range(level) -> None:
    X = np.random.default_rng(4).uniform(0.1, 0.9, size=(200, 50))
    for clip, (low, high) in ((None, (0.0, 1.0)), ((-1.0, 2.0), (-1.0, 2.0))):
        X_tilde = corrupt(X, "salt_pepper", level, np.random.default_rng(5), clip)
        hit = X_tilde != X
        assert abs(hit.mean() - level) <= 4 * np.sqrt(level * (1 - level) / X.size) + 1e-12
        assert set(np.unique(X_tilde[hit])) <= {low, high}
        if level > 0:
            assert np.mean(X_tilde[hit] == high) == pytest.approx(0.5, abs=0.05)
    # the model uses [0, 1] for either output
    for output in ("sigmoid", "identity"):
        X_tilde = DenoisingSAE(50, 3, Objective(output=output), "salt_pepper", 0.3).corrupt(
            X, np.random.default_rng(6))
        assert set(np.unique(X_tilde[X_tilde != X])) == {0.0, 1.0}


def test_check_corruption_errors_name_the_setting() -> None:
    assert check_corruption("gaussian", 1.5) == 1.5  # sigma may exceed 1
    assert check_corruption("masking", 1) == 1.0 and isinstance(check_corruption("masking", 1), float)
    with pytest.raises(ValueError, match="corruption='bogus' is not one of 'gaussian', 'masking', 'salt_pep"):
        check_corruption("bogus", 0.1)
    for corruption in CORRUPTIONS:
        with pytest.raises(ValueError, match="noise_level must be >= 0"):
            check_corruption(corruption, -0.1)
        with pytest.raises(ValueError, match="noise_level must be finite"):
            check_corruption(corruption, float("nan"))
        with pytest.raises(TypeError, match="noise_level must be a real number"):
            check_corruption(corruption, "0.1")
    for corruption in ("masking", "salt_pepper"):
        with pytest.raises(ValueError, match=rf"entries {corruption} corrupts: it must lie in \[0, 1\]"):
            check_corruption(corruption, 1.5)
    with pytest.raises(ValueError, match="corruption="):
        DenoisingSAE(4, 2, corruption="Gaussian")
    with pytest.raises(ValueError, match="noise_level"):
        DenoisingSAE(4, 2, corruption="masking", noise_level=2.0)
    with pytest.raises(ValueError, match="noise_level"):
        corrupt(np.ones((2, 2)), "masking", -1.0, np.random.default_rng(0))


# ================================================================================ deep and softmax semantics
@settings(max_examples=20)
@given(problems(max_m=8, max_n=6, max_k=5), seeds)
def test_a_one_layer_deep_model_is_the_classic(problem, seed) -> None:
    params, X, objective = problem
    n, k = X.shape[1], params["W1"].shape[0]
    classic = ClassicSAE(n, k, Objective(weight_decay=objective.weight_decay, penalty="none",
                                         activation=objective.activation, output=objective.output))
    deep = DeepSAE((n, k), code_activation=objective.activation, output=objective.output,
                   weight_decay=objective.weight_decay)
    assert [(s.name, s.shape) for s in deep.param_specs()] == \
        [(s.name, s.shape) for s in classic.param_specs()]
    for name, array in deep.init_params(seed).items():
        np.testing.assert_array_equal(array, classic.init_params(seed)[name])
    got = evaluate(deep, params, Batch(X), backend="autograd")
    expected = evaluate(classic, params, Batch(X), backend="autograd")
    assert got.terms == expected.terms and got.loss == expected.loss
    for name in params:
        np.testing.assert_array_equal(got.grads[name], expected.grads[name])


@settings(max_examples=20)
@given(st.integers(1, 3), st.integers(2, 4), seeds)
def test_classification_fine_tuning_leaves_the_decoder_alone(n_layers, n_classes, seed) -> None:
    rng = np.random.default_rng(seed)
    sizes = tuple(int(s) for s in rng.integers(2, 5, n_layers + 1))
    model = DeepSAE(sizes, n_classes=n_classes, fine_tune="classification", weight_decay=1e-3)
    params = scaled_params(model, rng, 2.0)
    X = rng.uniform(size=(5, sizes[0]))
    T = one_hot(np.arange(5) % n_classes, n_classes)
    graph = model.graph(params, Batch(X, T))
    graph.J.backward()
    grads = graph.grads()
    assert list(grads) == list(params)
    evaluation = evaluate(model, params, Batch(X, T), backend="autograd")
    for layer in range(1, 2 * n_layers + 1):
        for name in (f"W{layer}", f"b{layer}"):
            reached = np.any(grads[name] != 0)
            assert reached == (layer <= n_layers), name  # the encoder is reached, the decoder is not
            np.testing.assert_array_equal(evaluation.grads[name], grads[name])
    assert np.any(grads["W_softmax"] != 0) and np.any(grads["b_softmax"] != 0)
    assert "Xhat" not in graph.nodes


def test_assemble_puts_each_layers_encoder_and_decoder_in_place() -> None:
    rng = np.random.default_rng(0)
    sizes = (6, 5, 4, 3)
    objectives = [Objective(penalty="none", activation="identity" if layer == 3 else "sigmoid",
                            output="identity" if layer == 1 else "sigmoid") for layer in (1, 2, 3)]
    classics = [ClassicSAE(sizes[i], sizes[i + 1], objectives[i]) for i in range(3)]
    layers = [scaled_params(sae, rng, 2.0) for sae in classics]
    head = Params(W=rng.normal(size=(2, 3)), b=rng.normal(size=2))
    params = assemble(layers, head)
    L = len(layers)
    for layer in range(1, L + 1):
        source, mirror = layers[layer - 1], 2 * L + 1 - layer
        assert params[f"W{layer}"] is source["W1"] and params[f"b{layer}"] is source["b1"]
        assert params[f"W{mirror}"] is source["W2"] and params[f"b{mirror}"] is source["b2"]
    assert params["W_softmax"] is head["W"] and params["b_softmax"] is head["b"]
    model = DeepSAE(sizes, code_activation="identity", output="identity", n_classes=2)
    assert model.check_params(params) is params  # names, shapes and order of param_specs
    assert list(assemble(layers)) == [f"{w}{layer}" for layer in range(1, 2 * L + 1) for w in "Wb"]
    # the unrolled network is the stack: encoders bottom to top, then decoders top to bottom
    X = rng.uniform(size=(7, 6))
    graph = model.graph(params, Batch(X))
    code = X
    for sae, layer_params in zip(classics, layers):
        code = sae.encode({k: Tensor(v) for k, v in layer_params.items()}, Tensor(code))["H"].data
    np.testing.assert_allclose(graph["H"].data, code, rtol=1e-13, atol=1e-15)
    Xhat = code
    for sae, layer_params in zip(classics[::-1], layers[::-1]):
        Xhat = sae.decode({k: Tensor(v) for k, v in layer_params.items()}, Tensor(Xhat))["Xhat"].data
    np.testing.assert_allclose(graph["Xhat"].data, Xhat, rtol=1e-13, atol=1e-15)


def test_targets_are_checked_for_each_model() -> None:
    X = np.random.default_rng(0).uniform(size=(4, 3))
    softmax_model = SoftmaxRegression(3, 3)
    deep_classifier = DeepSAE((3, 2), n_classes=3, fine_tune="classification")
    good = one_hot(np.array([0, 1, 2, 1]), 3)
    np.testing.assert_array_equal(good, np.eye(3)[[0, 1, 2, 1]])
    bad_targets = [
        (good[:3], r"shape \(4, 3\); got shape \(3, 3\)"),
        (good[:, :2], r"shape \(4, 3\); got shape \(4, 2\)"),
        (good + np.eye(4, 3), "each row one 1, the rest 0"),
        (good * 0.5, "each row one 1, the rest 0"),
        (np.full((4, 3), 1 / 3), "each row one 1, the rest 0"),
        (np.zeros((4, 3)), "each row one 1, the rest 0"),
    ]
    for model in (softmax_model, deep_classifier):
        params = model.init_params(seed=0)
        assert np.isfinite(evaluate(model, params, Batch(X, good), backend="autograd").loss)
        for T, message in bad_targets:
            with pytest.raises(ValueError, match=message):
                evaluate(model, params, Batch(X, T), backend="autograd")
            with pytest.raises(ValueError, match="one-hot"):
                model.check_targets(T, X)
    with pytest.raises(ValueError, match="one-hot"):
        check_one_hot(good, 5, 3)
    deep = DeepSAE((3, 2))
    with pytest.raises(ValueError, match=r"the targets have shape \(4, 2\), the inputs \(4, 3\)"):
        deep.check_targets(np.zeros((4, 2)), X)
    with pytest.raises(ValueError, match="output='sigmoid'"):
        deep.check_targets(X + 1.0, X)
    deep.check_targets(X, X)


def test_model_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="sizes must be a sequence"):
        DeepSAE((3,))
    with pytest.raises(ValueError, match="sizes must be a sequence"):
        DeepSAE("34")
    with pytest.raises(ValueError, match=r"sizes\[1\] must be >= 1"):
        DeepSAE((3, 0))
    with pytest.raises(ValueError, match="fine_tune='yes' is not one of"):
        DeepSAE((3, 2), fine_tune="yes")
    with pytest.raises(ValueError, match="needs n_classes"):
        DeepSAE((3, 2), fine_tune="classification")
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        DeepSAE((3, 2), n_classes=1)
    with pytest.raises(ValueError, match="activation 'softplus'"):
        DeepSAE((3, 2), code_activation="softplus")
    with pytest.raises(ValueError, match="n_classes must be >= 2"):
        SoftmaxRegression(3, 1)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        SoftmaxRegression(3, 2, weight_decay=-1.0)
    with pytest.raises(ValueError, match="X has 4 columns but the model has n_inputs=3"):
        evaluate(SoftmaxRegression(3, 2), SoftmaxRegression(3, 2).init_params(), Batch(np.ones((2, 4)),
                 one_hot(np.array([0, 1]), 2)), backend="autograd")
    with pytest.raises(ValueError, match=r"X has 4 columns but the model has sizes\[0\]=3"):
        DeepSAE((3, 2)).check_inputs(np.ones((2, 4)))
    DeepSAE((3, 2), n_classes=2, fine_tune="classification").check_inputs(np.full((2, 3), 5.0))  # no range
