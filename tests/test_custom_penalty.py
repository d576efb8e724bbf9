"""The model layer's seam: a sparsity penalty defined outside the package, in a few lines.

``LogPenalty`` below is written here, in the test, exactly as a user would write it: engine
code for :math:`\\frac1m\\sum_{ij}\\log(1 + H_{ij}^2)` and nothing else. The engine
differentiates it, the estimator trains with it on the autograd backend, and the hand-written
backends refuse it by name.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import seeds

from tinysae import (
    Batch,
    ClassicSAE,
    Objective,
    Penalty,
    SparseAutoencoder,
    check_gradient,
    evaluate,
    init_params,
    load_digits,
    loss_and_grad,
)
from tinysae.backends import UnsupportedModel, resolve, supporting
from tinysae.functions import ACTIVATIONS


class LogPenalty(Penalty):
    """(1/m) sum_ij log(1 + H_ij^2)."""

    def __call__(self, H):
        return (1 + H.square()).log().sum() / H.shape[0]


@st.composite
def log_problems(draw: st.DrawFn):
    """A small problem whose objective carries the outside penalty, any activation and output."""
    m, n, k = draw(st.integers(1, 10)), draw(st.integers(1, 8)), draw(st.integers(1, 6))
    objective = Objective(
        penalty=LogPenalty(), beta=draw(st.floats(0.0, 5.0)), weight_decay=draw(st.floats(0.0, 1e-2)),
        activation=draw(st.sampled_from(["sigmoid", "relu"])),
        output=draw(st.sampled_from(["sigmoid", "identity"])),
    )
    rng = np.random.default_rng(draw(seeds))
    start = init_params(n, k, seed=rng)
    params = start.unflatten(start.flatten() * 2).map(lambda a: a + rng.normal(0, 0.3, a.shape))
    return params, rng.uniform(0.0, 1.0, size=(m, n)), objective


@settings(max_examples=60)
@given(log_problems())
def test_the_engine_gradient_of_an_outside_penalty_matches_central_differences(problem) -> None:
    params, X, objective = problem
    report = check_gradient(params, X, objective, backend="autograd")
    assert report.relative_error < 1e-7, str(report)


@settings(max_examples=30)
@given(log_problems())
def test_the_sparsity_term_is_the_penalty_weighted_by_beta(problem) -> None:
    params, X, objective = problem
    model = ClassicSAE(X.shape[1], params["W1"].shape[0], objective)
    terms = evaluate(model, params, Batch(X), backend="autograd").terms
    H = ACTIVATIONS[objective.activation].value(X @ params["W1"].T + params["b1"])
    expected = objective.beta * np.sum(np.log1p(H**2)) / X.shape[0]
    assert terms["sparsity"] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_the_estimator_trains_it_on_the_autograd_backend() -> None:
    X = load_digits()[0][:300]
    fits = {
        beta: SparseAutoencoder(n_hidden=16, penalty=LogPenalty(), beta=beta, activation="relu",
                                output="identity", backend="autograd", max_iter=60, verbose=False).fit(X)
        for beta in (0.0, 0.3)
    }
    penalised = fits[0.3]
    history = penalised.history_
    assert penalised.model_.term_names() == ("reconstruction", "weight_decay", "sparsity")
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert len(history.terms["sparsity"]) == len(history.loss)
    # the penalty acts: the codes are smaller, and more of them exactly zero, than without it
    codes = {beta: fit.transform(X) for beta, fit in fits.items()}
    assert np.mean(np.log1p(codes[0.3] ** 2)) < 0.5 * np.mean(np.log1p(codes[0.0] ** 2))
    assert np.mean(codes[0.3] == 0) > np.mean(codes[0.0] == 0)


@pytest.mark.parametrize("backend", ["numpy", "numba", "cuda"])
def test_the_hand_written_backends_refuse_it_and_name_the_one_that_computes_it(backend: str) -> None:
    X = load_digits()[0][:20]
    message = (f'backend="{backend}" implements the penalties "kl", "l1" and "none", not the penalty '
               'LogPenalty; the backends that implement this model: "autograd"')
    model = SparseAutoencoder(n_hidden=4, penalty=LogPenalty(), backend=backend, max_iter=2, verbose=False)
    with pytest.raises(UnsupportedModel) as error:
        model.fit(X)
    assert str(error.value) == message
    with pytest.raises(UnsupportedModel):
        loss_and_grad(init_params(64, 4), X, Objective(penalty=LogPenalty()), backend=backend)


def test_auto_picks_the_engine_for_an_outside_penalty_and_a_kernel_for_the_classic() -> None:
    outside = ClassicSAE(8, 3, Objective(penalty=LogPenalty()))
    assert supporting(outside) == ["autograd"]
    assert resolve("auto", outside) == "autograd"
    assert resolve("auto", ClassicSAE(8, 3)) in ("numba", "cuda")
