"""Training: L-BFGS decreases J, Adam follows its exact contract, Ctrl-C keeps the best params."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import problems, seeds

from tinysae import train
from tinysae.backends import is_available, numpy_ref
from tinysae.objective import Objective, Params, init_params


def full_loss(params: Params, X: np.ndarray, objective: Objective) -> float:
    return numpy_ref.terms(params, X, objective).loss


def small_problem(m: int = 40, n: int = 9, k: int = 4, seed: int = 0) -> tuple[Params, np.ndarray, Objective]:
    rng = np.random.default_rng(seed)
    return init_params(n, k, seed=seed), rng.uniform(0.1, 0.9, size=(m, n)), Objective(rho=0.1)


def hand_written_adam(params, X, objective, epochs, batch_size, lr, seed):
    """The Adam contract of the issue, written out independently of tinysae.train."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    p = [a.copy() for a in params.arrays()]
    mom = [np.zeros_like(a) for a in p]
    vel = [np.zeros_like(a) for a in p]
    rng = np.random.default_rng(seed)
    t = 0
    epoch_losses = []
    for _ in range(epochs):
        perm = rng.permutation(X.shape[0])
        losses = []
        for i in range(0, X.shape[0], batch_size):
            t += 1
            loss, g = numpy_ref.loss_and_grad(Params(*p), X[perm[i : i + batch_size]], objective)
            losses.append(loss)
            for j, gj in enumerate(g.arrays()):
                mom[j] = b1 * mom[j] + (1 - b1) * gj
                vel[j] = b2 * vel[j] + (1 - b2) * gj * gj
                mhat = mom[j] / (1 - b1**t)
                vhat = vel[j] / (1 - b2**t)
                p[j] = p[j] - lr * mhat / (np.sqrt(vhat) + eps)
        epoch_losses.append(np.mean(losses))
    return Params(*p), epoch_losses


# ---------------------------------------------------------------------------------- L-BFGS
@settings(max_examples=15)
@given(problems(max_m=10, max_n=6, max_k=4), st.integers(1, 12))
def test_lbfgs_decreases_loss_and_records_history(problem, max_iter):
    params, X, objective = problem
    start = full_loss(params, X, objective)
    result = train.lbfgs(params, X, objective, max_iter=max_iter, backend="numpy", verbose=False,
                         terms_every=1)
    h = result.history
    assert result.n_iter == len(h) <= max_iter
    assert result.stop_reason in ("converged", "max_iter") or result.stop_reason.startswith("scipy: ")
    assert full_loss(result.params, X, objective) <= start + 1e-12 * max(1.0, abs(start))
    # one entry per iteration, full-batch J equal to the sum of its terms
    assert h.iteration == list(range(1, result.n_iter + 1)) == h.terms_iteration
    for name in ("loss", "reconstruction", "weight_decay", "sparsity", "rho_hat_mean"):
        assert len(getattr(h, name)) == result.n_iter
    total = np.add(np.add(h.reconstruction, h.weight_decay), h.sparsity)
    np.testing.assert_allclose(h.loss, total, rtol=1e-12, atol=1e-15)
    assert np.all(np.diff(h.loss) <= 1e-12 * np.maximum(1.0, np.abs(h.loss[1:])))  # L-BFGS is monotone
    if h.loss:
        assert h.loss[-1] == pytest.approx(full_loss(result.params, X, objective), rel=1e-12)


@settings(max_examples=30)
@given(problems())
def test_split_loss_matches_the_reference_terms(problem):
    params, X, objective = problem
    reference = numpy_ref.terms(params, X, objective)
    split = train.split_loss(params, X, objective, reference.loss)
    assert split.loss == reference.loss
    np.testing.assert_allclose(split.rho_hat, reference.rho_hat, rtol=1e-14)
    for name in ("weight_decay", "sparsity"):
        assert getattr(split, name) == pytest.approx(getattr(reference, name), rel=1e-12, abs=1e-300)
    # by subtraction: exact up to the rounding of the larger loss
    tolerance = 1e-12 * reference.loss
    assert split.reconstruction == pytest.approx(reference.reconstruction, rel=1e-9, abs=tolerance)
    assert split.reconstruction >= 0


def test_split_loss_never_reports_a_negative_reconstruction():
    """A perfect fit leaves a reconstruction term of 0; the subtraction's rounding may not
    turn it into -4e-16 (which ``tinysae train`` used to print)."""
    params, X, objective = small_problem(m=5, n=3, k=2)
    reference = numpy_ref.terms(params, X, objective)
    exact_terms = reference.weight_decay + reference.sparsity
    below = np.nextafter(exact_terms, 0.0)  # a J that rounding left just under decay + sparsity
    assert train.split_loss(params, X, objective, below).reconstruction == 0.0


def test_lbfgs_reaches_rho_on_a_real_size_problem():
    params, X, objective = small_problem(m=200, n=16, k=6)
    result = train.lbfgs(params, X, objective, max_iter=200, backend="numpy", verbose=False)
    h = result.history
    assert h.loss[-1] < 0.5 * h.loss[0]
    assert h.rho_hat_mean[-1] == pytest.approx(objective.rho, rel=0.2)
    assert result.elapsed > 0 and result.backend == "numpy"


def test_lbfgs_stops_when_the_callback_says_so():
    params, X, objective = small_problem()
    seen = []

    def callback(iteration, current, history):
        seen.append((iteration, len(history)))
        return iteration == 3

    result = train.lbfgs(params, X, objective, max_iter=50, backend="numpy", verbose=False, callback=callback)
    assert result.stop_reason == "callback"
    assert result.n_iter == 3 and seen == [(1, 1), (2, 2), (3, 3)]


# ---------------------------------------------------------------------------------- Adam
@settings(max_examples=10)
@given(
    problems(max_m=12, max_n=5, max_k=4),
    st.integers(1, 3),
    st.integers(1, 7),
    st.sampled_from([1e-3, 1e-2, 0.1]),
    seeds,
)
def test_adam_follows_the_contract(problem, epochs, batch_size, lr, seed):
    params, X, objective = problem
    result = train.adam(
        params, X, objective, epochs=epochs, batch_size=batch_size, learning_rate=lr, seed=seed,
        backend="numpy", verbose=False,
    )
    expected, epoch_losses = hand_written_adam(params, X, objective, epochs, batch_size, lr, seed)
    for got, want in zip(result.params.arrays(), expected.arrays()):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.history.loss, epoch_losses, rtol=1e-12)
    assert result.n_iter == epochs and result.stop_reason == "max_iter"
    assert result.history.iteration == list(range(1, epochs + 1)) == result.history.terms_iteration


@settings(max_examples=5)
@given(seeds)
def test_adam_is_reproducible(seed):
    params, X, objective = small_problem(m=30)
    kw = dict(epochs=2, batch_size=8, learning_rate=1e-2, backend="numpy", verbose=False)
    a = train.adam(params, X, objective, seed=seed, **kw)
    b = train.adam(params, X, objective, seed=seed, **kw)
    c = train.adam(params, X, objective, seed=seed + 1, **kw)
    assert all(np.array_equal(x, y) for x, y in zip(a.params.arrays(), b.params.arrays()))
    assert a.history.loss == b.history.loss
    assert not np.array_equal(a.params.W1, c.params.W1)  # another seed, another shuffle


def test_adam_keeps_float32():
    params, X, objective = small_problem()
    result = train.adam(params, X.astype(np.float32), objective, epochs=2, batch_size=16,
                        backend="numpy", verbose=False)
    assert all(a.dtype == np.float32 for a in result.params.arrays())


def test_adam_uses_the_device_path_when_cuda_offers_one(monkeypatch):
    params, X, objective = small_problem()
    calls = {}

    class FakeCuda:
        @staticmethod
        def adam_device(p, data, obj, *, learning_rate, epochs, batch_size, seed, beta1, beta2, eps):
            calls.update(learning_rate=learning_rate, epochs=epochs, batch_size=batch_size, seed=seed)
            return hand_written_adam(p, data, obj, epochs, batch_size, learning_rate, seed)

    monkeypatch.setattr(train, "_resolve_backend", lambda backend: ("cuda", FakeCuda))
    result = train.adam(params, X, objective, epochs=3, batch_size=16, learning_rate=0.01, seed=7,
                        backend="cuda", verbose=False)
    assert calls == dict(learning_rate=0.01, epochs=3, batch_size=16, seed=7)
    host = train.adam(params, X, objective, epochs=3, batch_size=16, learning_rate=0.01, seed=7,
                      backend="numpy", verbose=False)
    np.testing.assert_allclose(result.history.loss, host.history.loss, rtol=1e-12)
    np.testing.assert_allclose(result.params.W1, host.params.W1, rtol=1e-12)
    assert result.backend == "cuda" and result.history.terms_iteration == [3]


# ---------------------------------------------------------------------------------- Ctrl-C
def test_keyboard_interrupt_from_the_callback_keeps_the_best_params():
    params, X, objective = small_problem()

    def callback(iteration, current, history):
        if iteration == 5:
            raise KeyboardInterrupt

    result = train.lbfgs(params, X, objective, max_iter=100, backend="numpy", verbose=False,
                         callback=callback)
    assert result.stop_reason == "interrupted" and result.n_iter == 5
    assert full_loss(result.params, X, objective) <= min(result.history.loss) + 1e-15


def test_keyboard_interrupt_inside_the_backend_keeps_the_best_params(monkeypatch):
    params, X, objective = small_problem()
    real = numpy_ref.loss_and_grad
    losses = []

    def interrupting(p, data, obj):
        if len(losses) == 8:
            raise KeyboardInterrupt
        loss, grads = real(p, data, obj)
        losses.append(loss)
        return loss, grads

    monkeypatch.setattr(numpy_ref, "loss_and_grad", interrupting)
    result = train.lbfgs(params, X, objective, max_iter=100, backend="numpy", verbose=False)
    assert result.stop_reason == "interrupted"
    assert full_loss(result.params, X, objective) == pytest.approx(min(losses), rel=1e-12)
    assert min(losses) < losses[0]


def test_keyboard_interrupt_during_adam_keeps_the_best_params(monkeypatch):
    params, X, objective = small_problem(m=64)
    real = numpy_ref.loss_and_grad
    calls = []

    def interrupting(p, data, obj):
        calls.append(1)
        if len(calls) == 11:  # in the middle of epoch 3 (4 steps per epoch)
            raise KeyboardInterrupt
        return real(p, data, obj)

    monkeypatch.setattr(numpy_ref, "loss_and_grad", interrupting)
    result = train.adam(params, X, objective, epochs=10, batch_size=16, learning_rate=0.05,
                        backend="numpy", verbose=False)
    assert result.stop_reason == "interrupted" and result.n_iter == 2
    # the best of: the start, the end of each completed epoch, the last completed step
    h = result.history
    epoch_ends = np.add(np.add(h.reconstruction, h.weight_decay), h.sparsity)
    assert full_loss(result.params, X, objective) <= min(full_loss(params, X, objective), *epoch_ends) + 1e-15


# ---------------------------------------------------------------------------------- progress
LINE = r"iter +{it}  loss [0-9.e+-]+  elapsed [0-9.]+ s"


def test_progress_prints_plain_lines_every_n_iterations(capsys):
    params, X, objective = small_problem()
    result = train.lbfgs(params, X, objective, max_iter=6, backend="numpy", print_every=2)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "\r" not in out
    assert [int(re.match(r"iter +(\d+)", line).group(1)) for line in lines[:-1]] == [2, 4, 6]
    for it, line in zip((2, 4, 6), lines):
        assert re.fullmatch(LINE.format(it=it), line)
    assert lines[-1].startswith(f"stopped ({result.stop_reason}) after 6 iterations: loss ")
    assert "mean rho_hat" in lines[-1] and "[numpy, " in lines[-1]


def test_progress_rewrites_one_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    params, X, objective = small_problem()
    train.lbfgs(params, X, objective, max_iter=4, backend="numpy", stream=stream)
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.count("\n") == 2  # end of the live line + the summary
    assert re.search(LINE.format(it=4), text)


def test_quiet_prints_nothing(capsys):
    params, X, objective = small_problem()
    train.adam(params, X, objective, epochs=2, backend="numpy", verbose=False)
    train.lbfgs(params, X, objective, max_iter=3, backend="numpy", verbose=False)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p, X, o: train.lbfgs(p, X, o, max_iter=0), "max_iter"),
        (lambda p, X, o: train.adam(p, X, o, epochs=0), "epochs"),
        (lambda p, X, o: train.adam(p, X, o, batch_size=-3), "batch_size"),
        (lambda p, X, o: train.adam(p, X, o, learning_rate=-1.0), "learning_rate"),
        (lambda p, X, o: train.train(p, X, o, solver="sgd"), "solver"),
        (lambda p, X, o: train.lbfgs(p, X[:, :3], o), "columns"),
        (lambda p, X, o: train.lbfgs(p, X + 1.0, o), "rescale"),
        (lambda p, X, o: train.lbfgs(p, X, o, backend="tpu"), "backend"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, message):
    params, X, objective = small_problem()
    with pytest.raises(ValueError, match=message):
        call(params, X, objective)


def test_objective_must_be_an_objective():
    params, X, _ = small_problem()
    with pytest.raises(TypeError, match="objective"):
        train.lbfgs(params, X, {"rho": 0.1})


@pytest.mark.usefixtures("fast_thread_switching")
def test_adam_on_the_cuda_backend_matches_the_host_loop():
    """The real device-resident path (on the CUDA simulator in the test session): same contract."""
    if not is_available("cuda"):
        pytest.skip("the cuda backend (numba-cuda) is not installed")
    params, X, objective = small_problem(m=5, n=3, k=2)
    kw = dict(epochs=2, batch_size=3, learning_rate=0.01, seed=3, verbose=False)
    device = train.adam(params, X, objective, backend="cuda", **kw)
    host = train.adam(params, X, objective, backend="numpy", **kw)
    assert device.backend == "cuda"
    np.testing.assert_allclose(device.history.loss, host.history.loss, rtol=1e-10)
    for a, b in zip(device.params.arrays(), host.params.arrays()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("setting", "value", "error", "message"),
    [
        ("learning_rate", 0.0, ValueError, "learning_rate must be > 0, got 0"),
        ("beta1", 1.0, ValueError, "beta1 must be < 1, got 1"),
        ("beta2", -0.5, ValueError, "beta2 must be >= 0, got -0.5"),
        ("eps", "tiny", TypeError, "eps must be a real number, got str 'tiny'"),
        ("epochs", 2.5, TypeError, "epochs must be an integer, got float 2.5"),
    ],
)
def test_adam_rejects_bad_settings(setting, value, error, message):
    params, X, objective = small_problem(m=4, n=3, k=2)
    with pytest.raises(error, match=message):
        train.adam(params, X, objective, backend="numpy", verbose=False, **{setting: value})


def test_lbfgs_records_the_terms_every_few_iterations_and_at_the_end():
    params, X, objective = small_problem()
    result = train.lbfgs(params, X, objective, max_iter=25, backend="numpy", verbose=False, terms_every=10)
    h = result.history
    assert result.n_iter == 25 and h.iteration == list(range(1, 26))
    assert h.terms_iteration == [1, 10, 20, 25]
    total = np.add(np.add(h.reconstruction, h.weight_decay), h.sparsity)
    np.testing.assert_allclose(total, [h.loss[i - 1] for i in h.terms_iteration], rtol=1e-12)
    assert h.reconstruction[-1] == pytest.approx(
        full_loss(result.params, X, objective) - h.weight_decay[-1] - h.sparsity[-1], rel=1e-9
    )
