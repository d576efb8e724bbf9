"""The contractive and denoising models on the hand-written backends.

The engine's gradient of the contractive objective against central differences; the numpy
reference (the contraction's hand-derived gradient, the denoising model's corrupted inputs)
against the engine; Numba's contraction kernel against the reference, in float64 and float32,
serial and parallel; and which backends implement, and which ``"auto"`` picks for, each model.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from strategies import problems, seeds

from tinysae.backends import UnsupportedModel, evaluate, numba_cpu, numpy_ref, resolve, supporting
from tinysae.backends import _numba_kernels as kernels
from tinysae.checks import check_gradient
from tinysae.corruption import CORRUPTIONS
from tinysae.models import Batch, ClassicSAE, ContractiveSAE, DenoisingSAE
from tinysae.objective import Objective
from tinysae.params import Params

NAMES = ("W1", "b1", "W2", "b2")

#: Relative error allowed against the float64 reference, by the dtype Numba computes in.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


@st.composite
def sigmoid_objectives(draw: st.DrawFn) -> Objective:
    """An Objective with sigmoid hidden units (the contraction's closed form needs them): every
    penalty and output, moderate weights."""
    return Objective(
        rho=draw(st.floats(0.01, 0.5)),
        beta=draw(st.floats(0.0, 5.0)),
        weight_decay=draw(st.floats(0.0, 1e-2)),
        penalty=draw(st.sampled_from(["kl", "l1", "none"])),
        output=draw(st.sampled_from(["sigmoid", "identity"])),
    )


@st.composite
def contractive_problems(
    draw: st.DrawFn, max_m: int = 12, max_n: int = 9, max_k: int = 7
) -> tuple[ContractiveSAE, Params, np.ndarray]:
    """``(model, params, X)``: a small ContractiveSAE problem of any shape from 1 up; data in
    [0, 1] for a sigmoid output, stretched to [-1, 2] for an identity output."""
    params, X, objective = draw(problems(max_m, max_n, max_k, objective=draw(sigmoid_objectives())))
    if objective.output == "identity":
        X = 3 * X - 1
    contraction = draw(st.floats(0.0, 3.0))
    model = ContractiveSAE(X.shape[1], params["W1"].shape[0], objective, contraction=contraction)
    return model, params, X


@st.composite
def denoising_problems(draw: st.DrawFn) -> tuple[DenoisingSAE, Params, Batch]:
    """``(model, params, batch)``: a small DenoisingSAE problem, every corruption, a batch seed
    and, half the time, targets of the batch's own."""
    params, X, objective = draw(problems())
    corruption = draw(st.sampled_from(CORRUPTIONS))
    level = draw(st.floats(0.0, 0.5 if corruption == "gaussian" else 1.0))
    model = DenoisingSAE(X.shape[1], params["W1"].shape[0], objective, corruption, level)
    rng = np.random.default_rng(draw(seeds))
    T = rng.uniform(0.0, 1.0, size=X.shape) if draw(st.booleans()) else None
    return model, params, Batch(X, T, draw(seeds))


def rel_error(a: np.ndarray | float, b: np.ndarray | float, floor: float = 0.0) -> float:
    """``||a - b|| / max(||a + b||, floor)`` (0 when both are 0); ``floor``, a float32 result's
    smallest normal number, keeps a gradient below what float32 resolves from counting."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denominator = max(float(np.linalg.norm(a + b)), floor)
    return 0.0 if denominator == 0 else float(np.linalg.norm(a - b) / denominator)


def evaluation_errors(got, expected, floor: float = 0.0, term_floor: float = 0.0) -> dict[str, float]:
    """Relative errors of one evaluation against another: the loss, each term, each gradient.

    ``term_floor`` (the loss, for a float32 evaluation) is the least denominator of a term's
    error: a KL term near 0 is a difference of two logarithms, which float32 resolves only to
    about its epsilon times their size (measured: a KL of 1e-3 of the loss off by 2e-4 of itself).
    """
    assert list(got.terms) == list(expected.terms)
    assert tuple(got.grads) == tuple(expected.grads) == NAMES
    errors = {"loss": rel_error(got.loss, expected.loss, floor)}
    errors.update({name: rel_error(got.terms[name], value, max(floor, term_floor))
                   for name, value in expected.terms.items()})
    errors.update({f"d{name}": rel_error(got.grads[name], expected.grads[name], floor) for name in NAMES})
    return errors


# ---- the engine and the numpy reference ----------------------------------------------------------


@settings(max_examples=30)
@given(contractive_problems(max_m=8, max_n=6, max_k=5))
def test_engine_gradient_of_the_contractive_objective_equals_central_differences(problem) -> None:
    model, params, X = problem
    assert model.term_names()[-1] == "contraction"
    report = check_gradient(params, X, model, backend="autograd")
    assert report.relative_error < 1e-7, str(report)


@settings(max_examples=80)
@given(contractive_problems())
def test_numpy_reference_of_the_contractive_model_equals_the_engine(problem) -> None:
    model, params, X = problem
    reference = evaluate(model, params, Batch(X), backend="numpy")
    engine = evaluate(model, params, Batch(X), backend="autograd")
    assert list(reference.terms) == list(model.term_names())
    errors = evaluation_errors(reference, engine)
    assert max(errors.values()) < 1e-10, errors
    np.testing.assert_allclose(reference.rho_hat, engine.rho_hat, rtol=1e-12, atol=1e-15)


@settings(max_examples=60)
@given(denoising_problems())
def test_numpy_reference_of_the_denoising_model_equals_the_engine_on_the_same_seed(problem) -> None:
    model, params, batch = problem
    reference = evaluate(model, params, batch, backend="numpy")
    errors = evaluation_errors(reference, evaluate(model, params, batch, backend="autograd"))
    assert max(errors.values()) < 1e-10, errors
    again = evaluate(model, params, batch, backend="numpy")  # the seed fixes the corruption
    assert again.loss == reference.loss


@settings(max_examples=10)
@given(problems(), seeds)
def test_a_denoising_model_without_noise_is_the_classic(problem, seed) -> None:
    params, X, objective = problem
    model = DenoisingSAE(X.shape[1], params["W1"].shape[0], objective, "masking", 0.0)
    classic = ClassicSAE(X.shape[1], params["W1"].shape[0], objective)
    denoised, plain = (evaluate(m, params, Batch(X, seed=seed), backend="numpy") for m in (model, classic))
    assert denoised.loss == plain.loss
    for name in NAMES:
        np.testing.assert_array_equal(denoised.grads[name], plain.grads[name])


# ---- Numba's contraction kernel -------------------------------------------------------------------


@settings(max_examples=80)
@given(
    problem=contractive_problems(),
    dtype=st.sampled_from([np.float64, np.float32]),
    parallel=st.sampled_from([False, True, None]),
)
def test_numba_contraction_equals_the_numpy_reference(problem, dtype, parallel) -> None:
    model, params, X = problem
    params, X = params.astype(dtype), X.astype(dtype)
    value, dW1, db1 = numba_cpu.contraction(params, X, model.contraction, parallel)
    assert dW1.dtype == db1.dtype == dtype and dW1.shape == params["W1"].shape
    params64, X64 = params.astype(np.float64), X.astype(np.float64)
    H = numpy_ref.forward(params64, X64, model.objective).H
    ref_dW1, ref_db1 = numpy_ref.contraction_grads(X64, H, params64.W1, model.contraction)
    ref_value = numpy_ref.contraction_term(H, params64.W1, model.contraction)
    floor = float(np.finfo(dtype).tiny)
    errors = {"contraction": rel_error(value, ref_value, floor), "dW1": rel_error(dW1, ref_dW1, floor),
              "db1": rel_error(db1, ref_db1, floor)}
    assert max(errors.values()) < TOLERANCE[dtype], errors


@settings(max_examples=40)
@given(problem=contractive_problems(), dtype=st.sampled_from([np.float64, np.float32]))
def test_numba_backend_evaluates_the_contractive_model_as_the_numpy_reference(problem, dtype) -> None:
    model, params, X = problem
    params, X = params.astype(dtype), X.astype(dtype)
    got = evaluate(model, params, Batch(X), backend="numba")
    assert all(g.dtype == dtype for g in got.grads.values())
    expected = evaluate(model, params.astype(np.float64), Batch(X.astype(np.float64)), backend="numpy")
    term_floor = abs(expected.loss) if dtype == np.float32 else 0.0
    errors = evaluation_errors(got, expected, float(np.finfo(dtype).tiny), term_floor)
    assert max(errors.values()) < TOLERANCE[dtype], errors


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("m", "n", "k", "route"), [(40, 10, 8, "blas"), (300, 80, 60, "blas"),
                                                  (800, 80, 60, "blas"), (2000, 40, 30, "thin")])
def test_numba_backend_adds_the_contraction_to_every_route(m: int, n: int, k: int, route: str,
                                                           dtype: type) -> None:
    """The classic's routes other than the loops (those have the small problems above): BLAS with
    serial passes (the contraction's too), for a narrow and a wide layer; BLAS with parallel
    passes; thin layers."""
    assert numba_cpu.choose_route(m, n, k) == route
    model = ContractiveSAE(n, k, Objective(beta=0.5), contraction=0.4)
    rng = np.random.default_rng(m)
    params = model.init_params(seed=m)
    params = Params(W1=params.W1 * 3, b1=rng.normal(0, 0.5, k), W2=params.W2, b2=rng.normal(0, 0.5, n))
    X = rng.uniform(0, 1, (m, n))
    got = evaluate(model, params.astype(dtype), Batch(X.astype(dtype)), backend="numba")
    expected = evaluate(model, params.astype(dtype).astype(np.float64),
                        Batch(X.astype(dtype).astype(np.float64)), backend="numpy")
    term_floor = abs(expected.loss) if dtype == np.float32 else 0.0
    errors = evaluation_errors(got, expected, float(np.finfo(dtype).tiny), term_floor)
    assert max(errors.values()) < TOLERANCE[dtype], errors


def test_float32_contraction_kernels_have_no_float64_variable() -> None:
    """As for the classic's kernels: every value numba infers in the float32 specialisations of
    the contraction's passes is float32 (no float64 literal or accumulator promotes them)."""
    model = ContractiveSAE(5, 3)
    params = model.init_params(seed=0).astype(np.float32)
    X = np.random.default_rng(0).uniform(0, 1, (4, 5)).astype(np.float32)
    for parallel in (False, True):
        numba_cpu.contraction(params, X, 0.5, parallel)
    for kernel, parallel in ((kernels.contraction_pass, True), (kernels.contraction_pass_serial, False)):
        (signature,) = [s for s in kernel.signatures if "float32" in str(s)]
        assert "float64" not in str(signature), (kernel.__name__, signature)
        fresh = njit(parallel=parallel)(kernel.py_func)  # uncached: cached code keeps no types
        fresh.compile(signature)
        typemap = fresh.overloads[signature].type_annotation.typemap
        promoted = {str(name): str(t) for name, t in typemap.items()
                    if "float64" in str(t) and "const" not in str(name)}
        assert not promoted, (kernel.__name__, promoted)


# ---- which backend implements which model ---------------------------------------------------------


def test_auto_picks_numba_for_the_contractive_model_and_numpy_for_the_denoising_one() -> None:
    contractive, denoising = ContractiveSAE(6, 3), DenoisingSAE(6, 3)
    assert resolve("auto", contractive) == "numba"
    assert resolve("auto", denoising) == "numpy"
    assert supporting(contractive) == ["numpy", "autograd", "numba"]
    assert supporting(denoising) == ["numpy", "autograd"]


def test_the_refusals_name_what_each_backend_implements() -> None:
    params, X = ContractiveSAE(4, 2).init_params(), np.full((3, 4), 0.5)
    message = ('backend="numba" implements only the classic sparse autoencoder (tinysae.models.ClassicSAE), '
               'the contractive one (tinysae.models.ContractiveSAE) and the convolutional one '
               '(tinysae.models.ConvolutionalSAE), not DenoisingSAE; the backends that implement this model: '
               '"numpy", "autograd"')
    with pytest.raises(UnsupportedModel) as error:
        evaluate(DenoisingSAE(4, 2), params, Batch(X), backend="numba")
    assert str(error.value) == message
    cuda = r'backend="cuda" implements only the classic sparse autoencoder \(tinysae.models.ClassicSAE\), '
    with pytest.raises(UnsupportedModel, match=cuda + "not ContractiveSAE"):
        evaluate(ContractiveSAE(4, 2), params, Batch(X), backend="cuda")
    with pytest.raises(UnsupportedModel, match='backend="numba" reconstructs the inputs themselves'):
        evaluate(ContractiveSAE(4, 2), params, Batch(X, X + 0.1), backend="numba")
