r"""Training: full-batch L-BFGS (through scipy) and minibatch Adam, with progress and history.

Both solvers minimise the objective ``J(W1, b1, W2, b2)`` of :mod:`tinysae.objective` on data
``X (m, n)``, starting from given :class:`~tinysae.objective.Params`, computing ``(J, grads)``
with any backend of :mod:`tinysae.backends`. Both

* validate ``X`` once (:func:`tinysae.objective.check_data`), then call the backend directly;
* record a :class:`History` (loss, its terms and the mean of ``rho_hat`` per iteration/epoch);
* print a one-line progress display unless ``verbose=False``;
* stop cleanly on ``KeyboardInterrupt`` (Ctrl-C), returning the best parameters seen so far;
* return a :class:`TrainResult` (params, history, n_iter, stop_reason, elapsed, backend).

L-BFGS (``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``) works on one flat vector
``theta = [W1.ravel(), b1, W2.ravel(), b2]`` (:meth:`Params.flatten`), in float64.

Adam follows this exact contract (the CUDA device-resident path reproduces it)::

    rng = np.random.default_rng(seed)
    t = 0
    for epoch in range(epochs):
        perm = rng.permutation(m)
        for i in range(0, m, batch_size):
            batch = perm[i:i + batch_size]
            t += 1
            loss, g = loss_and_grad(params, X[batch])
            for each parameter p with gradient g:
                mom = beta1 * mom + (1 - beta1) * g
                vel = beta2 * vel + (1 - beta2) * g * g
                mhat = mom / (1 - beta1**t)
                vhat = vel / (1 - beta2**t)
                p -= learning_rate * mhat / (sqrt(vhat) + eps)
        history: the epoch's mean minibatch loss
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TextIO

import numpy as np
import scipy.optimize

from tinysae.backends import check_objective, check_params, get_backend, resolve
from tinysae.backends.numpy_ref import Terms, activate, sparsity_term, terms, weight_decay_term
from tinysae.objective import Objective, Params, check_data
from tinysae.validation import check_adam_settings, check_int

SOLVERS = ("lbfgs", "adam")

#: A callback receives ``(iteration, params, history)`` after each L-BFGS iteration or Adam
#: epoch; returning ``True`` stops training (stop reason ``"callback"``).
Callback = Callable[[int, Params, "History"], "bool | None"]


@dataclass
class History:
    r"""What happened during training, one entry per L-BFGS iteration or Adam epoch.

    ``loss[i]`` belongs to ``iteration[i]``. The terms of the objective are measured on the full
    data ``X`` and belong to ``terms_iteration``:
    ``reconstruction`` :math:`\frac{1}{2m}\sum_i\lVert\hat x_i - x_i\rVert^2`,
    ``weight_decay`` :math:`\frac{\lambda}{2}(\lVert W_1\rVert^2+\lVert W_2\rVert^2)`,
    ``sparsity`` (e.g. :math:`\beta\sum_j\mathrm{KL}(\rho\Vert\hat\rho_j)`) and
    ``rho_hat_mean`` :math:`\frac1k\sum_j\hat\rho_j`.

    For L-BFGS ``loss`` is the full-batch ``J`` (``= reconstruction + weight_decay + sparsity``).
    For Adam ``loss`` is the epoch's mean minibatch loss (what the optimiser saw, the number the
    CUDA device path returns) and the terms are measured at the end of the epoch. On the CUDA
    device path the epochs run on the GPU, so the terms are measured once, at the end.
    """

    iteration: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    terms_iteration: list[int] = field(default_factory=list)
    reconstruction: list[float] = field(default_factory=list)
    weight_decay: list[float] = field(default_factory=list)
    sparsity: list[float] = field(default_factory=list)
    rho_hat_mean: list[float] = field(default_factory=list)

    def record_loss(self, iteration: int, loss: float) -> None:
        """Append the loss of ``iteration``."""
        self.iteration.append(int(iteration))
        self.loss.append(float(loss))

    def record_terms(
        self, iteration: int, params: Params, X: np.ndarray, objective: Objective, loss: float | None = None
    ) -> float:
        """Measure the terms of ``J`` at ``params`` on ``X`` for ``iteration``; return the full ``J``.

        ``loss``, when the backend has just computed ``J`` at these very ``params``, saves most of
        the work: see :func:`split_loss`. Otherwise :func:`tinysae.backends.numpy_ref.terms` runs
        a whole forward pass.
        """
        t = terms(params, X, objective) if loss is None else split_loss(params, X, objective, loss)
        self.terms_iteration.append(int(iteration))
        self.reconstruction.append(t.reconstruction)
        self.weight_decay.append(t.weight_decay)
        self.sparsity.append(t.sparsity)
        self.rho_hat_mean.append(float(np.mean(t.rho_hat)))
        return t.loss

    def __len__(self) -> int:
        return len(self.loss)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Every field as a numpy array (for saving with ``np.savez``)."""
        return {name: np.asarray(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> History:
        """Inverse of :meth:`as_arrays`."""
        history = cls()
        for name in cls.__dataclass_fields__:
            kind = int if name in ("iteration", "terms_iteration") else float
            setattr(history, name, [kind(v) for v in np.asarray(arrays[name]).ravel()])
        return history


def split_loss(params: Params, X: np.ndarray, objective: Objective, loss: float) -> Terms:
    r"""The terms of a known ``J`` at ``params``, running only the encoder.

    .. math::

        \text{weight decay} = \tfrac{\lambda}{2}(\lVert W_1\rVert^2 + \lVert W_2\rVert^2), \qquad
        H = f(X W_1^\top + b_1), \quad \hat\rho = \tfrac1m \textstyle\sum_i H_{i,:}

    give the weight decay and the sparsity term (KL of :math:`\hat\rho`, or
    :math:`\frac{\beta}{m}\sum|H|`), and the reconstruction term is what is left:
    ``loss - weight_decay - sparsity``, or 0 where rounding makes that difference negative
    (a squared error never is). The decoder (``Z3``, ``Xhat``), about two thirds of a
    forward pass, is skipped: with a fast backend computing ``J``, a full numpy forward pass per
    iteration would cost more than the optimisation itself.
    """
    W1, b1 = params.W1, params.b1
    H = activate(X @ W1.T + b1, objective.activation)
    rho_hat = H.mean(axis=0)
    decay = weight_decay_term(params, objective)
    sparsity = sparsity_term(H, rho_hat, objective)
    reconstruction = max(0.0, float(loss) - decay - sparsity)
    return Terms(float(loss), reconstruction, decay, sparsity, rho_hat)


@dataclass
class TrainResult:
    """The outcome of a training run.

    ``stop_reason`` is one of ``"converged"`` (the solver's tolerance was met), ``"max_iter"``
    (the iteration / epoch budget was spent), ``"interrupted"`` (Ctrl-C: ``params`` are the best
    seen), ``"callback"`` (the callback returned True) or ``"scipy: <message>"`` (L-BFGS stopped
    for another reason, e.g. a failed line search). ``elapsed`` is in seconds.
    """

    params: Params
    history: History
    n_iter: int
    stop_reason: str
    elapsed: float
    backend: str


class Progress:
    """A one-line progress display: ``iter  12  loss 0.0123456  elapsed 1.2 s``.

    On a terminal the line is rewritten in place (``\\r``); otherwise (a log file, a pipe, a test
    capturing output) a plain line is written every ``every`` iterations. Nothing is written
    when ``verbose`` is False.
    """

    def __init__(self, verbose: bool, every: int, label: str = "iter", stream: TextIO | None = None):
        self.verbose = verbose
        self.every = max(1, int(every))
        self.label = label
        self.stream = sys.stdout if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty()) if isatty is not None else False
        self._open_line = False

    def line(self, iteration: int, loss: float, elapsed: float) -> str:
        """The text shown for ``iteration``."""
        return f"{self.label} {iteration:5d}  loss {loss:.7g}  elapsed {elapsed:.1f} s"

    def update(self, iteration: int, loss: float, elapsed: float, force: bool = False) -> None:
        """Show ``iteration``: always on a terminal, every ``every`` iterations (or if ``force``)
        otherwise."""
        if not self.verbose:
            return
        if self.tty:
            self.stream.write("\r" + self.line(iteration, loss, elapsed) + "\033[K")
            self._open_line = True
        elif force or iteration % self.every == 0:
            self.stream.write(self.line(iteration, loss, elapsed) + "\n")
        self.stream.flush()

    def close(self, message: str | None = None) -> None:
        """End the display (a newline on a terminal) and print ``message`` if given."""
        if not self.verbose:
            return
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()


def _resolve_backend(backend: str) -> tuple[str, ModuleType]:
    """The backend's name ("auto" resolved) and its module."""
    name = resolve(backend)
    return name, get_backend(name)


def lbfgs(
    params: Params,
    X: np.ndarray,
    objective: Objective,
    *,
    max_iter: int = 400,
    backend: str = "auto",
    verbose: bool = True,
    print_every: int = 10,
    terms_every: int = 10,
    callback: Callback | None = None,
    stream: TextIO | None = None,
) -> TrainResult:
    """Minimise ``J`` over all of ``X (m, n)`` with L-BFGS, starting at ``params``.

    ``scipy.optimize.minimize(fun, theta0, method="L-BFGS-B", jac=True,
    options={"maxiter": max_iter})`` with ``fun(theta) = (J, flatten(grads))``; everything is
    float64. ``history`` gets the full-batch ``J`` of every L-BFGS iteration, and its terms at
    iteration 1, every ``terms_every`` iterations and the last. The terms cost a numpy encoder
    pass (:func:`split_loss`) whose BLAS threads compete with a fast backend's for the cores:
    measured at the UFLDL shape on 2 cores, every iteration made a numba run 2.9x slower. On
    Ctrl-C the result holds the lowest-``J`` parameters of every evaluation so far.
    """
    check_objective(objective)
    params = check_params(params)
    X = check_data(X, objective, params.n_visible).astype(np.float64, copy=False)
    max_iter = check_int("max_iter", max_iter)
    terms_every = check_int("terms_every", terms_every)
    name, module = _resolve_backend(backend)
    n, k = params.n_visible, params.n_hidden

    history = History()
    progress = Progress(verbose, print_every, "iter", stream)
    best = {"loss": np.inf, "theta": params.flatten().astype(np.float64)}
    state = {"n_iter": 0, "stopped_by_callback": False, "theta": None}
    start = time.perf_counter()

    last = {"theta": None, "loss": None}  # the latest evaluation, reused by the history

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grads = module.loss_and_grad(Params.unflatten(theta, n, k), X, objective)
        if not np.isfinite(loss):
            raise FloatingPointError(f"the objective became {loss}; check the data and the hyper-parameters")
        if loss < best["loss"]:
            best["loss"], best["theta"] = float(loss), theta.copy()
        last["theta"], last["loss"] = theta.copy(), float(loss)
        return float(loss), grads.flatten().astype(np.float64)

    def on_iteration(theta: np.ndarray) -> None:
        state["n_iter"] += 1
        it = state["n_iter"]
        state["theta"] = theta.copy()
        current = Params.unflatten(theta, n, k)
        known = last["loss"] if np.array_equal(theta, last["theta"]) else None  # L-BFGS-B: usually
        if known is None or it == 1 or it % terms_every == 0:
            loss = history.record_terms(it, current, X, objective, loss=known)
        else:
            loss = known
        history.record_loss(it, loss)
        progress.update(it, loss, time.perf_counter() - start, force=it == max_iter)
        if callback is not None and callback(it, current, history):
            state["stopped_by_callback"] = True
            raise StopIteration  # scipy >= 1.11 ends the run cleanly on StopIteration

    theta0 = params.flatten().astype(np.float64)
    try:
        res = scipy.optimize.minimize(
            fun, theta0, method="L-BFGS-B", jac=True, callback=on_iteration, options={"maxiter": max_iter}
        )
    except KeyboardInterrupt:
        theta, reason = best["theta"], "interrupted"
    else:
        theta = res.x
        if state["stopped_by_callback"]:
            reason = "callback"
        elif res.status == 0:
            reason = "converged"
        elif res.status == 1 and state["n_iter"] >= max_iter:
            reason = "max_iter"
        else:
            reason = f"scipy: {res.message}"
    if history.iteration and history.terms_iteration[-1] != history.iteration[-1]:
        history.record_terms(history.iteration[-1], Params.unflatten(state["theta"], n, k), X, objective,
                             loss=history.loss[-1])
    elapsed = time.perf_counter() - start
    result = TrainResult(Params.unflatten(theta, n, k), history, state["n_iter"], reason, elapsed, name)
    progress.close(_summary_line(result) if verbose else None)
    return result


def adam(
    params: Params,
    X: np.ndarray,
    objective: Objective,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    backend: str = "auto",
    verbose: bool = True,
    print_every: int = 1,
    callback: Callback | None = None,
    stream: TextIO | None = None,
) -> TrainResult:
    """Minimise ``J`` with minibatch Adam (the contract in this module's docstring).

    Parameters keep the dtype of ``X`` (float32 is fine here). ``history`` gets one entry per
    epoch. When ``backend`` resolves to ``"cuda"`` and that backend offers ``adam_device``, the
    whole loop runs on the GPU (same contract, same numbers up to rounding); the callback is
    then not called and Ctrl-C returns the initial parameters. On Ctrl-C in the host loop the
    result holds whichever has the lowest full-data ``J``: the initial parameters, those at the
    end of each epoch, or those after the last completed step.
    """
    check_objective(objective)
    params = check_params(params)
    X = check_data(X, objective, params.n_visible)
    epochs = check_int("epochs", epochs)
    batch_size = check_int("batch_size", batch_size)
    learning_rate, beta1, beta2, eps = check_adam_settings(learning_rate, beta1, beta2, eps)
    name, module = _resolve_backend(backend)
    params = params.astype(X.dtype)

    start = time.perf_counter()
    if name == "cuda" and hasattr(module, "adam_device"):
        return _adam_on_device(module, params, X, objective, epochs, batch_size, learning_rate, seed,
                               beta1, beta2, eps, verbose, stream, start)

    history = History()
    progress = Progress(verbose, print_every, "epoch", stream)
    m = X.shape[0]
    rng = np.random.default_rng(seed)
    mom = [np.zeros_like(a) for a in params.arrays()]
    vel = [np.zeros_like(a) for a in params.arrays()]
    current = params
    best_loss, best = terms(params, X, objective).loss, params
    t = 0
    reason = "max_iter"
    try:
        for epoch in range(1, epochs + 1):
            perm = rng.permutation(m)
            batch_losses = []
            for i in range(0, m, batch_size):
                batch = perm[i : i + batch_size]
                t += 1
                loss, grads = module.loss_and_grad(current, X[batch], objective)
                if not np.isfinite(loss):
                    raise FloatingPointError(f"the loss became {loss} at step {t}; lower the learning rate")
                batch_losses.append(float(loss))
                updated = []
                for j, (p, g) in enumerate(zip(current.arrays(), grads.arrays())):
                    mom[j] = beta1 * mom[j] + (1 - beta1) * g
                    vel[j] = beta2 * vel[j] + (1 - beta2) * g * g
                    mhat = mom[j] / (1 - beta1**t)
                    vhat = vel[j] / (1 - beta2**t)
                    updated.append((p - learning_rate * mhat / (np.sqrt(vhat) + eps)).astype(X.dtype))
                current = Params(*updated)  # one assignment: Ctrl-C never leaves a half-updated step
            history.record_loss(epoch, float(np.mean(batch_losses)))
            full_loss = history.record_terms(epoch, current, X, objective)
            if full_loss < best_loss:
                best_loss, best = full_loss, current
            progress.update(epoch, history.loss[-1], time.perf_counter() - start, force=epoch == epochs)
            if callback is not None and callback(epoch, current, history):
                reason = "callback"
                break
        final = current
    except KeyboardInterrupt:
        reason = "interrupted"
        final = current if terms(current, X, objective).loss < best_loss else best
    elapsed = time.perf_counter() - start
    result = TrainResult(final, history, len(history), reason, elapsed, name)
    progress.close(_summary_line(result) if verbose else None)
    return result


def _adam_on_device(module, params, X, objective, epochs, batch_size, learning_rate, seed,
                    beta1, beta2, eps, verbose, stream, start) -> TrainResult:
    """Adam on the GPU via the CUDA backend's ``adam_device`` (same contract as the host loop)."""
    history = History()
    progress = Progress(verbose, 1, "epoch", stream)
    try:
        final, losses = module.adam_device(
            params, X, objective, learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
            seed=seed, beta1=beta1, beta2=beta2, eps=eps,
        )
        reason = "max_iter"
    except KeyboardInterrupt:
        final, losses, reason = params, [], "interrupted"
    for epoch, loss in enumerate(losses, start=1):
        history.record_loss(epoch, loss)
    history.record_terms(len(losses), final, X, objective)
    elapsed = time.perf_counter() - start
    if losses:
        progress.update(len(losses), losses[-1], elapsed, force=True)
    result = TrainResult(final, history, len(losses), reason, elapsed, "cuda")
    progress.close(_summary_line(result) if verbose else None)
    return result


def train(
    params: Params, X: np.ndarray, objective: Objective, *, solver: str = "lbfgs", **options: object
) -> TrainResult:
    """Dispatch to :func:`lbfgs` or :func:`adam` (``solver``), passing ``options`` through."""
    if solver == "lbfgs":
        return lbfgs(params, X, objective, **options)
    if solver == "adam":
        return adam(params, X, objective, **options)
    raise ValueError(f"solver={solver!r} is not one of {', '.join(map(repr, SOLVERS))}")


def _summary_line(result: TrainResult) -> str:
    h = result.history
    loss = f"loss {h.loss[-1]:.7g}" if h.loss else "no iteration completed"
    rho = f"  mean rho_hat {h.rho_hat_mean[-1]:.4g}" if h.rho_hat_mean else ""
    return (
        f"stopped ({result.stop_reason}) after {result.n_iter} iterations: {loss}{rho}  "
        f"[{result.backend}, {result.elapsed:.1f} s]"
    )
