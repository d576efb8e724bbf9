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
from tinysae.models import ClassicSAE
from tinysae.objective import Objective, init_params
from tinysae.params import Params

NAMES = ("W1", "b1", "W2", "b2")


def full_loss(params: Params, X: np.ndarray, objective: Objective) -> float:
    return numpy_ref.terms(params, X, objective).loss


def small_problem(m: int = 40, n: int = 9, k: int = 4, seed: int = 0) -> tuple[Params, np.ndarray, Objective]:
    rng = np.random.default_rng(seed)
    return init_params(n, k, seed=seed), rng.uniform(0.1, 0.9, size=(m, n)), Objective(rho=0.1)


def hand_written_adam(params, X, objective, epochs, batch_size, lr, seed):
    """The Adam contract of the issue, written out independently of tinysae.train."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    p = {name: params[name].copy() for name in NAMES}
    mom = {name: np.zeros_like(a) for name, a in p.items()}
    vel = {name: np.zeros_like(a) for name, a in p.items()}
    rng = np.random.default_rng(seed)
    t = 0
    epoch_losses = []
    for _ in range(epochs):
        perm = rng.permutation(X.shape[0])
        losses = []
        for i in range(0, X.shape[0], batch_size):
            t += 1
            loss, g = numpy_ref.loss_and_grad(Params(p), X[perm[i : i + batch_size]], objective)
            losses.append(loss)
            for j in NAMES:
                gj = g[j]
                mom[j] = b1 * mom[j] + (1 - b1) * gj
                vel[j] = b2 * vel[j] + (1 - b2) * gj * gj
                mhat = mom[j] / (1 - b1**t)
                vhat = vel[j] / (1 - b2**t)
                p[j] = p[j] - lr * mhat / (np.sqrt(vhat) + eps)
        epoch_losses.append(np.mean(losses))
    return Params(p), epoch_losses


def term_names(objective: Objective) -> tuple[str, ...]:
    """The classic's terms for ``objective``: no sparsity term for penalty="none"."""
    return ClassicSAE(1, 1, objective).term_names()


def sum_of_terms(history: train.History) -> np.ndarray:
    """Each recorded evaluation's terms, added up."""
    return np.sum([history.terms[name] for name in history.terms], axis=0)


# ---------------------------------------------------------------------------------- L-BFGS
@settings(max_examples=15)
@given(problems(max_m=10, max_n=6, max_k=4), st.integers(1, 12))
def test_lbfgs_decreases_loss_and_records_history(problem, max_iter):
    params, X, objective = problem
    start = full_loss(params, X, objective)
    result = train.lbfgs(params, X, objective, max_iter=max_iter, backend="numpy", verbose=False)
    h = result.history
    assert result.n_iter == len(h) <= max_iter
    assert (result.stop_reason in ("converged", "max_iter")
            or result.stop_reason.startswith("line search failed: "))
    assert full_loss(result.params, X, objective) <= start + 1e-12 * max(1.0, abs(start))
    # one entry per iteration (terms at every one), full-batch J equal to the sum of its terms
    assert h.iteration == list(range(1, result.n_iter + 1)) == h.terms_iteration
    if result.n_iter:
        assert tuple(h.terms) == term_names(objective)
    for values in (h.loss, *h.terms.values(), h.rho_hat_mean):
        assert len(values) == result.n_iter
    if result.n_iter:  # the last recorded terms are the reference's, measured anew at the result
        reference = numpy_ref.terms(result.params, X, objective)
        for name, values in h.terms.items():
            assert values[-1] == pytest.approx(getattr(reference, name), rel=1e-12, abs=1e-15), name
    assert np.all(np.diff(h.loss) <= 1e-12 * np.maximum(1.0, np.abs(h.loss[1:])))  # L-BFGS is monotone
    if h.loss:
        assert h.loss[-1] == pytest.approx(full_loss(result.params, X, objective), rel=1e-12)


@settings(max_examples=30)
@given(problems(), st.sampled_from(["numpy", "autograd", "numba"]))
def test_history_terms_match_the_reference_terms(problem, backend):
    """The terms L-BFGS records at each iteration are the reference's terms at that iterate."""
    params, X, objective = problem
    iterates = []

    def keep(iteration, current, history):
        iterates.append(current)

    result = train.lbfgs(params, X, objective, max_iter=3, backend=backend, verbose=False, callback=keep)
    h = result.history
    assert len(iterates) == result.n_iter == len(h.terms_iteration)
    for i, current in enumerate(iterates):
        reference = numpy_ref.terms(current, X, objective)
        # the reference itself: the same numbers; another backend: its own rounding, relative to
        # J for a term that is a small difference of logarithms (KL with rho_hat near rho)
        if backend == "numpy":
            tol = dict(rel=1e-12, abs=1e-300)
        else:
            tol = dict(rel=1e-10, abs=1e-12 * reference.loss)
        assert h.loss[i] == pytest.approx(reference.loss, **tol)
        assert h.rho_hat_mean[i] == pytest.approx(np.mean(reference.rho_hat), rel=1e-12, abs=1e-300)
        for name in term_names(objective):
            assert h.terms[name][i] == pytest.approx(getattr(reference, name), **tol), name
        assert h.terms["reconstruction"][i] >= 0


@pytest.mark.parametrize("backend", ["numpy", "autograd", "numba"])
def test_history_never_reports_a_negative_reconstruction(backend):
    """A perfect fit leaves a reconstruction term of 0; the history measures it (no
    subtraction J - decay - sparsity whose rounding could give -4e-16, which ``tinysae train``
    used to print)."""
    params = init_params(3, 2, seed=0)
    params = Params({**params, "W2": np.zeros((3, 2))})  # Xhat = 0 = X: D3 = 0, W2 and b2 stay 0
    X = np.zeros((5, 3))
    objective = Objective(rho=0.1, output="identity")
    result = train.lbfgs(params, X, objective, max_iter=5, backend=backend, verbose=False)
    h = result.history
    assert result.n_iter >= 1
    assert h.terms["reconstruction"] == [0.0] * result.n_iter
    np.testing.assert_allclose(h.loss, np.add(h.terms["weight_decay"], h.terms["sparsity"]), rtol=1e-12)


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
    assert tuple(result.params) == NAMES
    for name in NAMES:
        np.testing.assert_allclose(result.params[name], expected[name], rtol=1e-12, atol=1e-14)
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
    assert tuple(a.params) == tuple(b.params) == NAMES
    assert all(np.array_equal(a.params[name], b.params[name]) for name in NAMES)
    assert a.history.loss == b.history.loss
    assert not np.array_equal(a.params.W1, c.params.W1)  # another seed, another shuffle


def test_adam_keeps_float32():
    params, X, objective = small_problem()
    result = train.adam(params, X.astype(np.float32), objective, epochs=2, batch_size=16,
                        backend="numpy", verbose=False)
    assert all(a.dtype == np.float32 for a in result.params.values())


def test_adam_uses_the_device_path_when_cuda_offers_one(monkeypatch):
    params, X, objective = small_problem()
    calls = {}

    class FakeCuda:
        evaluate = staticmethod(numpy_ref.evaluate)  # the terms at the end

        @staticmethod
        def adam_device(p, data, obj, *, learning_rate, epochs, batch_size, seed, beta1, beta2, eps):
            calls.update(learning_rate=learning_rate, epochs=epochs, batch_size=batch_size, seed=seed)
            return hand_written_adam(p, data, obj, epochs, batch_size, learning_rate, seed)

    real_resolve, real_get_backend = train.resolve, train.get_backend

    def resolve(name, model=None):
        return "cuda" if name == "cuda" else real_resolve(name, model)

    def get_backend(name, model=None):
        return FakeCuda if name == "cuda" else real_get_backend(name, model)

    monkeypatch.setattr(train, "resolve", resolve)
    monkeypatch.setattr(train, "get_backend", get_backend)
    result = train.adam(params, X, objective, epochs=3, batch_size=16, learning_rate=0.01, seed=7,
                        backend="cuda", verbose=False)
    assert calls == dict(learning_rate=0.01, epochs=3, batch_size=16, seed=7)
    host = train.adam(params, X, objective, epochs=3, batch_size=16, learning_rate=0.01, seed=7,
                      backend="numpy", verbose=False)
    np.testing.assert_allclose(result.history.loss, host.history.loss, rtol=1e-12)
    np.testing.assert_allclose(result.params.W1, host.params.W1, rtol=1e-12)
    assert result.backend == "cuda" and result.history.terms_iteration == [3]
    reference = numpy_ref.terms(result.params, X, objective)
    assert result.history.terms == {name: [getattr(reference, name)] for name in term_names(objective)}


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
    real = numpy_ref.evaluate
    losses = []

    def interrupting(model, p, batch):
        if len(losses) == 8:
            raise KeyboardInterrupt
        evaluation = real(model, p, batch)
        losses.append(evaluation.loss)
        return evaluation

    monkeypatch.setattr(numpy_ref, "evaluate", interrupting)
    result = train.lbfgs(params, X, objective, max_iter=100, backend="numpy", verbose=False)
    assert result.stop_reason == "interrupted"
    assert full_loss(result.params, X, objective) == pytest.approx(min(losses), rel=1e-12)
    assert min(losses) < losses[0]


def test_keyboard_interrupt_during_adam_keeps_the_best_params(monkeypatch):
    params, X, objective = small_problem(m=64)
    real = numpy_ref.evaluate
    steps = []

    def interrupting(model, p, batch):
        if batch.inputs.shape[0] < X.shape[0]:  # a minibatch step, not a full-data evaluation
            steps.append(1)
            if len(steps) == 11:  # in the middle of epoch 3 (4 steps per epoch)
                raise KeyboardInterrupt
        return real(model, p, batch)

    monkeypatch.setattr(numpy_ref, "evaluate", interrupting)
    result = train.adam(params, X, objective, epochs=10, batch_size=16, learning_rate=0.05,
                        backend="numpy", verbose=False)
    assert result.stop_reason == "interrupted" and result.n_iter == 2
    # the best of: the start, the end of each completed epoch, the last completed step
    h = result.history
    assert h.terms_iteration == [1, 2]
    epoch_ends = sum_of_terms(h)
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
    assert tuple(device.params) == tuple(host.params) == NAMES
    for name in NAMES:
        np.testing.assert_allclose(device.params[name], host.params[name], rtol=1e-10, atol=1e-12)


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


def test_lbfgs_records_the_terms_at_every_iteration_and_at_the_end():
    params, X, objective = small_problem()
    with pytest.raises(TypeError, match="terms_every"):  # the option is gone: terms come with every J
        train.lbfgs(params, X, objective, max_iter=25, backend="numpy", verbose=False, terms_every=10)
    result = train.lbfgs(params, X, objective, max_iter=25, backend="numpy", verbose=False)
    h = result.history
    assert result.n_iter == 25 and h.iteration == list(range(1, 26))
    assert h.terms_iteration == list(range(1, 26))
    assert tuple(h.terms) == ("reconstruction", "weight_decay", "sparsity")
    reference = numpy_ref.terms(result.params, X, objective)  # measured anew at the last iterate
    for name, values in h.terms.items():
        assert values[-1] == pytest.approx(getattr(reference, name), rel=1e-12), name
    decay, sparsity = h.terms["weight_decay"][-1], h.terms["sparsity"][-1]
    assert h.terms["reconstruction"][-1] == pytest.approx(
        full_loss(result.params, X, objective) - decay - sparsity, rel=1e-9
    )


def test_history_as_arrays_round_trip_keeps_each_term():
    params, X, _ = small_problem()
    for objective, names in [(Objective(rho=0.1), ("reconstruction", "weight_decay", "sparsity")),
                             (Objective(penalty="none"), ("reconstruction", "weight_decay"))]:
        h = train.lbfgs(params, X, objective, max_iter=4, backend="numpy", verbose=False).history
        assert tuple(h.terms) == names
        arrays = h.as_arrays()
        fields = {"iteration", "loss", "terms_iteration", "rho_hat_mean"}
        assert set(arrays) == fields | {f"term_{name}" for name in names}
        back = train.History.from_arrays(arrays)
        assert back == h


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the parameters overflow on purpose
def test_training_stops_with_a_clear_error_when_the_objective_is_not_finite():
    params, X = init_params(3, 2, seed=0), np.full((2, 3), 0.5)
    objective = Objective(weight_decay=1.0)
    message = (r"the objective became inf at Adam step 2 \(the weight_decay term is inf\); "
               r"lower learning_rate \(now 1e\+300\)")
    with pytest.raises(FloatingPointError, match=message):
        train.adam(params, X, objective, learning_rate=1e300, epochs=1, batch_size=1, backend="numpy",
                   verbose=False)
