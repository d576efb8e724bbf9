"""The numpy reference and the Numba backend of the convolutional model equal the engine (loss,
every gradient, every term, ``rho_hat``; relative error < 1e-10 in float64, float32 looser) on
hypothesis-drawn small problems: image sizes, channels, filters, kernel, stride, padding,
penalty, activation, output, batch size, targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import objectives, seeds

import tinysae
from tinysae import Objective, Params
from tinysae.autograd import relative_error
from tinysae.backends import UnsupportedModel, evaluate, get_backend, numba_cpu, resolve, supporting
from tinysae.models import Batch, ConvolutionalSAE

#: Relative error allowed against the float64 engine, by the dtype the backend computes in.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}


@st.composite
def conv_problems(draw: st.DrawFn, max_side: int = 8) -> tuple[ConvolutionalSAE, Params, Batch]:
    """A small :class:`ConvolutionalSAE` (1 or 2 channels, 1 to 4 filters, kernels 1 to 4,
    strides 1 to 3, paddings up to the kernel minus one, odd and even sides, batches from 1),
    parameters scaled up from its init so activations vary, data in [0, 1], and sometimes
    targets other than the inputs."""
    kernel = draw(st.integers(1, 4))
    padding = draw(st.integers(0, kernel - 1))
    smallest = max(1, kernel - 2 * padding)
    sides = st.integers(smallest, max_side)
    shape = (draw(st.integers(1, 2)), draw(sides), draw(sides))
    model = ConvolutionalSAE(shape, draw(st.integers(1, 4)), kernel, draw(st.integers(1, 3)), padding,
                             draw(objectives()))
    rng = np.random.default_rng(draw(seeds))
    start, scale = model.init_params(rng), draw(st.floats(0.5, 3.0))
    params = Params(W1=start.W1 * scale, b1=rng.normal(0, 0.5, start.b1.shape),
                    W2=start.W2 * scale, b2=rng.normal(0, 0.5, start.b2.shape))
    X = rng.uniform(0, 1, (draw(st.integers(1, 4)), model.n_features))
    T = rng.uniform(0, 1, X.shape) if draw(st.booleans()) else None
    return model, params, Batch(X, T)


def rel_error(a: np.ndarray | float, b: np.ndarray | float, dtype: type) -> float:
    """``||a - b|| / max(||a + b||, tiny)`` (0 when both are 0), ``tiny`` the smallest normal
    number of ``dtype`` when it is float32: a sparsity term of 1e-45 (``beta = 1e-45``) is below
    what float32 resolves."""
    floor = float(np.finfo(dtype).tiny) if dtype == np.float32 else 0.0
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denominator = max(float(np.linalg.norm(a + b)), floor)
    return 0.0 if denominator == 0 else float(np.linalg.norm(a - b) / denominator)


def cast(batch: Batch, dtype: type) -> Batch:
    """``batch`` with its inputs and targets in ``dtype``."""
    return Batch(batch.inputs.astype(dtype), None if batch.targets is None else batch.targets.astype(dtype))


def errors(model: ConvolutionalSAE, params: Params, batch: Batch, backend: str,
           dtype: type) -> dict[str, float]:
    """Relative errors of ``backend`` in ``dtype`` against the engine in float64 on the same
    (``dtype``-rounded) inputs: the loss, each gradient, each term and ``rho_hat``."""
    params, batch = params.astype(dtype), cast(batch, dtype)
    got = evaluate(model, params, batch, backend=backend)
    ref = evaluate(model, params.astype(np.float64), cast(batch, np.float64), backend="autograd")
    assert tuple(got.grads) == tuple(ref.grads) == ("W1", "b1", "W2", "b2")
    assert tuple(got.terms) == tuple(ref.terms) == model.term_names()
    assert all(got.grads[name].dtype == dtype and got.grads[name].shape == ref.grads[name].shape
               for name in ref.grads)
    assert got.rho_hat.shape == ref.rho_hat.shape == (model.n_filters, *model.map_shape)
    out = {"loss": rel_error(got.loss, ref.loss, dtype),
           "rho_hat": rel_error(got.rho_hat, ref.rho_hat, dtype)}
    out.update({f"d{name}": rel_error(got.grads[name], ref.grads[name], dtype) for name in ref.grads})
    out.update({name: rel_error(got.terms[name], ref.terms[name], dtype) for name in ref.terms})
    return out


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backend_equals_the_engine_in_float64(backend: str) -> None:
    @settings(max_examples=40)
    @given(conv_problems())
    def check(problem: tuple) -> None:
        errs = errors(*problem, backend=backend, dtype=np.float64)
        assert max(errs.values()) < TOLERANCE[np.float64], errs

    check()


@settings(max_examples=25)
@given(conv_problems())
def test_numba_in_float32_is_close_to_the_engine(problem: tuple) -> None:
    model, params, batch = problem
    errs = errors(model, params, batch, "numba", np.float32)
    assert max(errs.values()) < TOLERANCE[np.float32], errs


def test_lessons_crops_in_float32_match_float64() -> None:
    """The lesson's size (32x32 crops, 16 filters 8x8, stride 2, padding 3, 64 crops): the
    parallel passes and every kernel in float32, within 1e-4 of float64."""
    model = ConvolutionalSAE((1, 32, 32), 16, 8, stride=2, padding=3)
    params, X = model.init_params(0), np.random.default_rng(0).uniform(0, 1, (64, 1024))
    assert X.shape[0] * (model.n_features + model.n_hidden) >= numba_cpu.PARALLEL_ELEMENTS
    errs = errors(model, params, Batch(X), "numba", np.float32)
    assert max(errs.values()) < TOLERANCE[np.float32], errs


def test_auto_picks_numba_and_the_backends_say_which_implement_it() -> None:
    model = ConvolutionalSAE((1, 8, 8), 4, 3, padding=1)
    assert resolve("auto", model) == "numba"
    assert supporting(model) == ["numpy", "autograd", "numba"]


class TiedConvolutionalSAE(ConvolutionalSAE):
    """A subclass (it could have other terms): the hand-written backends refuse it by type."""


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_subclasses_and_custom_penalties_are_refused(backend: str) -> None:
    subclass = TiedConvolutionalSAE((1, 6, 6), 2, 3)
    with pytest.raises(UnsupportedModel, match="the convolutional one .*not TiedConvolutionalSAE"):
        get_backend(backend, subclass)

    class Squares(tinysae.Penalty):
        def __call__(self, H):
            return H.square().sum() / H.shape[0]

    custom = ConvolutionalSAE((1, 6, 6), 2, 3, objective=Objective(penalty=Squares()))
    with pytest.raises(UnsupportedModel, match="not the penalty Squares"):
        get_backend(backend, custom)


def test_short_lbfgs_runs_agree() -> None:
    """15 L-BFGS iterations from the same start end at the same parameters on every backend."""
    model = ConvolutionalSAE((1, 8, 8), 4, 3, padding=1, objective=Objective(rho=0.1, beta=0.5))
    X = np.random.default_rng(3).uniform(0.05, 0.95, (20, 64))
    start = model.init_params(0)
    runs = [tinysae.lbfgs(start, X, model, max_iter=15, backend=name, verbose=False)
            for name in ("autograd", "numpy", "numba")]
    assert runs[0].n_iter == runs[1].n_iter == runs[2].n_iter == 15
    for run in runs[1:]:
        assert relative_error(run.params.flatten(), runs[0].params.flatten()) < 1e-8
