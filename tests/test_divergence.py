"""Divergence and NaN are always caught: every solver, every backend, with a message that says
where it happened, which term (or gradient, or parameter) went non-finite, and what to change."""

from __future__ import annotations

import numpy as np
import pytest

from tinysae import Objective, Params, SparseAutoencoder, adam, init_params, lbfgs, load_digits
from tinysae.train import _check_params

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow is the point here

DIGITS = load_digits()[0][:200]


@pytest.mark.parametrize("backend", ["numpy", "numba", "autograd"])
@pytest.mark.parametrize("learning_rate", [1e12, 1e300])
def test_adam_with_a_huge_step_raises_and_names_the_step_and_the_setting(backend, learning_rate) -> None:
    model = SparseAutoencoder(n_hidden=8, solver="adam", learning_rate=learning_rate, max_iter=20,
                              backend=backend, verbose=False)
    with pytest.raises(FloatingPointError) as error:
        model.fit(DIGITS)
    message = str(error.value)
    assert f"lower learning_rate (now {learning_rate:g})" in message
    assert "Adam step" in message or "Adam epoch" in message
    assert not hasattr(model, "params_")  # nothing half-fitted is left behind


def test_adam_checks_the_last_step_of_a_run() -> None:
    """One epoch of one step: the only check after that step is the end-of-run one."""
    X = np.full((4, 3), 0.5)
    with pytest.raises(FloatingPointError, match=r"after Adam epoch 1 \(step 1\)"):
        adam(init_params(3, 2, seed=0), X, Objective(weight_decay=1.0), learning_rate=1e300, epochs=1,
             batch_size=4, backend="numpy", verbose=False)


def test_adam_names_the_term_that_overflowed() -> None:
    X = np.full((4, 3), 0.5)
    message = (r"the objective became inf on all the data after Adam epoch 1 \(step 1\) "
               r"\(the weight_decay term is inf\); lower learning_rate \(now 1e\+308\)")
    with pytest.raises(FloatingPointError, match=message):
        adam(init_params(3, 2, seed=0), X, Objective(penalty="none"), learning_rate=1e308, epochs=2,
             batch_size=4, backend="numpy", verbose=False)


def test_a_parameter_that_is_not_finite_is_named() -> None:
    params = init_params(3, 2, seed=0)
    params = Params({**params, "b2": np.array([0.0, np.inf, 0.0])})
    with pytest.raises(FloatingPointError, match=r"the parameter b2 became NaN or inf after Adam epoch 3"):
        _check_params(params, "after Adam epoch 3", "lower learning_rate")


def test_a_finite_but_exploding_run_is_caught_as_divergence() -> None:
    model = SparseAutoencoder(n_hidden=8, solver="adam", learning_rate=1e12, max_iter=20, backend="numpy",
                              verbose=False)
    message = (r"Adam diverged: the objective grew from 27.29 at the start to .* after Adam epoch 1 "
               r"\(step 1\), most of it in the weight_decay term .*; lower learning_rate \(now 1e\+12\)")
    with pytest.raises(FloatingPointError, match=message):
        model.fit(DIGITS)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lbfgs_checks_every_evaluation_and_names_the_term(backend) -> None:
    X = np.full((5, 4), 1e200)  # its squared error overflows at the first evaluation
    objective = Objective(penalty="none", output="identity")
    message = (r"the objective became inf at L-BFGS iteration 1 \(the reconstruction term is inf\); the data "
               r"or the parameters saturate the objective: rescale X")
    with pytest.raises(FloatingPointError, match=message):
        lbfgs(init_params(4, 2, seed=0), X, objective, max_iter=5, backend=backend, verbose=False)


def test_lbfgs_from_a_saturating_init_reports_the_engine_s_infinite_kl() -> None:
    """Weights so large that a hidden unit is 1 on every sample: the engine does not clip
    rho_hat, so the KL is infinite and its backward pass says where."""
    params = init_params(64, 4, seed=0)
    params = params.unflatten(params.flatten() * 1e4)
    message = (r"at L-BFGS iteration 1: the gradient became inf in the backward pass of op 'mul' at node "
               r"'sparsity' .*; the data or the parameters saturate the objective")
    with pytest.raises(FloatingPointError, match=message):
        lbfgs(params, DIGITS, Objective(), max_iter=5, backend="autograd", verbose=False)


@pytest.mark.usefixtures("fast_thread_switching")
def test_adam_on_the_cuda_device_path_raises_too() -> None:
    pytest.importorskip("numba_cuda", reason="the cuda backend needs numba-cuda (the dev extra installs it)")
    X = np.full((2, 3), 0.5)
    with pytest.raises(FloatingPointError, match=r"\(on the GPU\); lower learning_rate \(now 1e\+300\)"):
        adam(init_params(3, 2, seed=0), X, Objective(weight_decay=1.0), learning_rate=1e300, epochs=1,
             batch_size=1, backend="cuda", verbose=False)
