r"""Training any model: full-batch L-BFGS (:mod:`tinysae.lbfgs`) and minibatch Adam, with history.

Both solvers minimise a model's objective (:mod:`tinysae.models`; an
:class:`~tinysae.objective.Objective` stands for the classic sparse autoencoder with the shapes
of the given parameters) on data ``X (m, n)``, starting from given
:class:`~tinysae.params.Params`, with any backend that implements the model
(:func:`tinysae.backends.get_backend`). Both

* validate the data once, then evaluate through the backend directly
  (:func:`~tinysae.backends.capabilities.bind`: the CUDA backend keeps the data on the GPU);
* record a :class:`History`: the loss, each term of the objective as the backend measured it,
  and the mean of ``rho_hat``;
* print a one-line progress display when ``verbose=True``;
* stop cleanly on ``KeyboardInterrupt`` (Ctrl-C), returning the best parameters seen so far;
* hold the BLAS thread pools to the usable cores while they run (:mod:`tinysae.threads`);
* return a :class:`TrainResult` (params, history, n_iter, stop_reason, elapsed, backend).

L-BFGS (:func:`tinysae.lbfgs.minimize`, the package's own) works on one flat vector
``theta`` (:meth:`Params.flatten`, the model's parameters in order), in float64. It evaluates a
fixed objective: one :class:`~tinysae.models.Batch` of all the data with seed ``seed``.

Adam follows this exact contract (the CUDA device-resident path reproduces it)::

    rng = np.random.default_rng(seed)
    t = 0
    for epoch in range(epochs):
        perm = rng.permutation(m)
        for i in range(0, m, batch_size):
            batch = perm[i:i + batch_size]
            t += 1
            loss, g = loss_and_grad(params, X[batch])     # the batch's seed: step_seed(seed, t)
            for each parameter p with gradient g:
                mom = beta1 * mom + (1 - beta1) * g
                vel = beta2 * vel + (1 - beta2) * g * g
                mhat = mom / (1 - beta1**t)
                vhat = vel / (1 - beta2**t)
                p -= learning_rate * mhat / (sqrt(vhat) + eps)
        history: the epoch's mean minibatch loss; the terms on all of X
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TextIO

import numpy as np

from tinysae.autograd import NonFiniteGradientError
from tinysae.backends import check_batch, classic_model, get_backend, resolve
from tinysae.backends.capabilities import Evaluation, bind
from tinysae.lbfgs import MAXFUN, Iterate, minimize
from tinysae.models import Batch, Model
from tinysae.objective import Objective
from tinysae.params import Params
from tinysae.threads import fit_threads
from tinysae.validation import check_adam_settings, check_int

SOLVERS = ("lbfgs", "adam")

#: A callback receives ``(iteration, params, history)`` after each L-BFGS iteration or Adam
#: epoch; returning ``True`` stops training (stop reason ``"callback"``).
Callback = Callable[[int, Params, "History"], "bool | None"]


@dataclass
class History:
    r"""What happened during training, one entry per L-BFGS iteration or Adam epoch.

    ``loss[i]`` belongs to ``iteration[i]``. ``terms`` maps each term of the objective (for the
    classic: ``reconstruction`` :math:`\frac{1}{2m}\sum_i\lVert\hat x_i - x_i\rVert^2`,
    ``weight_decay`` :math:`\frac{\lambda}{2}(\lVert W_1\rVert^2+\lVert W_2\rVert^2)` and
    ``sparsity``, e.g. :math:`\beta\sum_j\mathrm{KL}(\rho\Vert\hat\rho_j)`) to its values,
    each measured on the full data by the backend, never derived from the others; they and
    ``rho_hat_mean`` (:math:`\frac1k\sum_j\hat\rho_j`) belong to ``terms_iteration``.

    For L-BFGS ``loss`` is the full-batch ``J`` of every iteration, and the terms are measured
    at every iteration too (the evaluation that gave ``J`` gave them). For Adam ``loss`` is the
    epoch's mean minibatch loss (what the optimiser saw, the number the CUDA device path
    returns) and the terms are measured on all of ``X`` at the end of the epoch. On the CUDA
    device path the epochs run on the GPU, so the terms are measured once, at the end.
    """

    iteration: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    terms_iteration: list[int] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    rho_hat_mean: list[float] = field(default_factory=list)

    def record_loss(self, iteration: int, loss: float) -> None:
        """Append the loss of ``iteration``."""
        self.iteration.append(int(iteration))
        self.loss.append(float(loss))

    def record_terms(self, iteration: int, evaluation: Evaluation) -> None:
        """Append the terms (and the mean of ``rho_hat``) that ``evaluation`` measured."""
        self.terms_iteration.append(int(iteration))
        for name, value in evaluation.terms.items():
            self.terms.setdefault(name, []).append(float(value))
        if evaluation.rho_hat is not None:
            self.rho_hat_mean.append(float(np.mean(evaluation.rho_hat)))

    def __len__(self) -> int:
        return len(self.loss)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Every field as a numpy array, the terms as ``term_<name>`` (for saving with ``np.savez``)."""
        arrays = {name: np.asarray(getattr(self, name)) for name in ("iteration", "loss", "terms_iteration",
                                                                      "rho_hat_mean")}
        arrays.update({f"term_{name}": np.asarray(values) for name, values in self.terms.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> History:
        """Inverse of :meth:`as_arrays`."""
        history = cls()
        for name in ("iteration", "loss", "terms_iteration", "rho_hat_mean"):
            kind = int if name in ("iteration", "terms_iteration") else float
            setattr(history, name, [kind(v) for v in np.asarray(arrays[name]).ravel()])
        for key, values in arrays.items():
            if key.startswith("term_"):
                history.terms[key.removeprefix("term_")] = [float(v) for v in np.asarray(values).ravel()]
        return history


@dataclass
class TrainResult:
    """The outcome of a training run.

    ``stop_reason`` is one of ``"converged"`` (the solver's tolerance was met), ``"max_iter"``
    (the iteration / epoch budget was spent), ``"interrupted"`` (Ctrl-C: ``params`` are the best
    seen), ``"callback"`` (the callback returned True), or for L-BFGS a sentence saying why it
    stopped otherwise: ``"line search failed: ..."`` (no step satisfying the strong Wolfe
    conditions, even along the negative gradient) or ``"evaluation budget spent: ..."``.
    ``elapsed`` is in seconds.
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


def _as_model(params: object, model: Model | Objective) -> Model:
    """``model`` itself, or the classic with ``objective`` and the shapes of ``params``."""
    if isinstance(model, Objective):
        return classic_model(params, model)
    if not isinstance(model, Model):
        raise TypeError(
            f"objective must be a tinysae.Objective or a tinysae.models.Model, got {type(model).__name__}"
        )
    return model


def _setup(params: object, X: object, model: Model | Objective, targets: object,
           backend: str) -> tuple[Model, Params, Batch, str, ModuleType]:
    """The model, the checked parameters and data, and the backend's name and module."""
    model = _as_model(params, model)
    params = model.check_params(params)
    batch = check_batch(model, Batch(np.asarray(X), None if targets is None else np.asarray(targets)))
    name = resolve(backend, model)
    return model, params, batch, name, get_backend(name, model)


#: What a FloatingPointError from L-BFGS advises: it has no step size, so the data or the model is at fault.
LBFGS_ADVICE = ("the data or the parameters saturate the objective: rescale X, start from smaller "
                "weights, or lower beta / weight_decay")


def _adam_advice(learning_rate: float) -> str:
    return f"lower learning_rate (now {learning_rate:g})"


def _check_finite(evaluation: Evaluation, where: str, advice: str) -> None:
    """FloatingPointError when the loss, a term or a gradient of ``evaluation`` is NaN or inf; the
    message names ``where``, the first term (or gradient) at fault, and the ``advice``."""
    loss = evaluation.loss
    bad = [name for name, value in evaluation.terms.items() if not np.isfinite(value)]
    if bad or not np.isfinite(loss):
        term = f" (the {bad[0]} term is {evaluation.terms[bad[0]]})" if bad else ""
        raise FloatingPointError(f"the objective became {loss} {where}{term}; {advice}")
    for name, grad in evaluation.grads.items():
        if not np.all(np.isfinite(grad)):
            raise FloatingPointError(
                f"the gradient of {name} became NaN or inf {where} (the objective is {loss:.6g}); {advice}"
            )


#: Adam stops with a FloatingPointError when the full-data objective grows past this multiple of
#: its value at the initial parameters: no sensible run ends a million times worse than it began,
#: and a huge step size gets there long before anything overflows (measured on 200 digits,
#: 64-8-64, learning_rate=1e12: J went from 27 to 3.5e20 in 20 steps, every number finite).
DIVERGENCE_FACTOR = 1e6


def _check_growth(initial: Evaluation, evaluation: Evaluation, where: str, advice: str) -> None:
    """FloatingPointError when ``evaluation``'s objective exceeds ``DIVERGENCE_FACTOR`` times the
    ``initial`` one; the message names the term that grew the most."""
    if not evaluation.loss > DIVERGENCE_FACTOR * max(initial.loss, np.finfo(np.float64).tiny):
        return
    growth = {name: value - initial.terms.get(name, 0.0) for name, value in evaluation.terms.items()}
    term = max(growth, key=growth.get)
    raise FloatingPointError(
        f"Adam diverged: the objective grew from {initial.loss:.4g} at the start to {evaluation.loss:.4g} "
        f"{where}, most of it in the {term} term ({evaluation.terms[term]:.4g}); {advice}"
    )


def _evaluate(evaluate_at: Callable[[Params], Evaluation], params: Params, where: str,
              advice: str) -> Evaluation:
    """``evaluate_at(params)`` (a backend's objective on one batch, from
    :func:`~tinysae.backends.capabilities.bind`), checked by :func:`_check_finite`; the engine's
    own :class:`~tinysae.autograd.NonFiniteGradientError` (which names the op and node) is raised
    again with ``where`` and ``advice`` added."""
    try:
        evaluation = evaluate_at(params)
    except NonFiniteGradientError as error:
        raise NonFiniteGradientError(f"{where}: {error}; {advice}") from error
    _check_finite(evaluation, where, advice)
    return evaluation


def _check_params(params: Params, where: str, advice: str) -> None:
    """FloatingPointError naming the first parameter that holds NaN or inf."""
    for name, array in params.items():
        if not np.all(np.isfinite(array)):
            raise FloatingPointError(f"the parameter {name} became NaN or inf {where}; {advice}")


def _in_fit_threads(solver: Callable[..., TrainResult]) -> Callable[..., TrainResult]:
    """Run ``solver`` inside :func:`tinysae.threads.fit_threads` (BLAS held to the usable cores)."""

    @functools.wraps(solver)
    def run(*args: object, **kwargs: object) -> TrainResult:
        with fit_threads():
            return solver(*args, **kwargs)

    return run


#: The stop reason :func:`lbfgs` reports for each of :func:`tinysae.lbfgs.minimize`'s.
LBFGS_REASONS = {
    "gtol": "converged",
    "ftol": "converged",
    "max_iter": "max_iter",
    "callback": "callback",
    "line_search": "line search failed: no step satisfies the strong Wolfe conditions, even along -gradient",
    "maxfun": f"evaluation budget spent: {MAXFUN} evaluations of the objective",
}


@_in_fit_threads
def lbfgs(
    params: Params,
    X: np.ndarray,
    objective: Objective | Model,
    *,
    max_iter: int = 400,
    backend: str = "auto",
    targets: np.ndarray | None = None,
    seed: int = 0,
    verbose: bool = True,
    print_every: int = 10,
    callback: Callback | None = None,
    stream: TextIO | None = None,
) -> TrainResult:
    """Minimise the objective over all of ``X (m, n)`` with L-BFGS, starting at ``params``.

    ``objective`` is a model, or an :class:`~tinysae.objective.Objective` for the classic.
    :func:`tinysae.lbfgs.minimize(fun, theta0, max_iter=max_iter) <tinysae.lbfgs.minimize>`
    with ``fun(theta) = (J, flatten(grads))`` and its defaults (memory 10, strong Wolfe line
    search, scipy L-BFGS-B's ``gtol``, ``ftol`` and ``maxfun``); everything is float64. The
    objective is fixed: one batch of all of ``X`` (against ``targets`` when given), whose random
    draws, if the model makes any, come from ``seed``. ``history`` gets the full-batch ``J`` and
    every term at every iteration, from the evaluation that produced them (the line search's
    last evaluation is always at the accepted iterate). On Ctrl-C the result holds the
    lowest-``J`` parameters of every evaluation so far.
    """
    max_iter = check_int("max_iter", max_iter)
    model, params, batch, name, module = _setup(params, X, objective, targets, backend)
    layout = params.astype(np.float64)
    batch = Batch(batch.inputs.astype(np.float64, copy=False),
                  None if batch.targets is None else batch.targets.astype(np.float64, copy=False),
                  check_int("seed", seed, minimum=0))

    history = History()
    progress = Progress(verbose, print_every, "iter", stream)
    best = {"loss": np.inf, "theta": layout.flatten()}
    state = {"n_iter": 0}
    last: dict[str, Evaluation] = {}  # the latest evaluation: the accepted iterate's, for the history
    start = time.perf_counter()

    evaluate_at = bind(module, model, batch)  # the CUDA backend keeps X on the GPU for the fit

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        where = f"at L-BFGS iteration {state['n_iter'] + 1}"
        evaluation = _evaluate(evaluate_at, layout.unflatten(theta), where, LBFGS_ADVICE)
        if evaluation.loss < best["loss"]:
            best["loss"], best["theta"] = float(evaluation.loss), theta  # minimize never writes into theta
        last["evaluation"] = evaluation
        return float(evaluation.loss), evaluation.grads.flatten().astype(np.float64, copy=False)

    def on_iteration(iterate: Iterate) -> bool:
        it = state["n_iter"] = iterate.iteration
        evaluation = last["evaluation"]
        history.record_loss(it, evaluation.loss)
        history.record_terms(it, evaluation)
        progress.update(it, evaluation.loss, time.perf_counter() - start, force=it == max_iter)
        return callback is not None and bool(callback(it, layout.unflatten(iterate.x), history))

    try:
        res = minimize(fun, layout.flatten(), max_iter=max_iter, callback=on_iteration)
    except KeyboardInterrupt:
        theta, reason = best["theta"], "interrupted"
    else:
        theta = res.x
        reason = LBFGS_REASONS[res.reason]
    elapsed = time.perf_counter() - start
    result = TrainResult(layout.unflatten(theta), history, state["n_iter"], reason, elapsed, name)
    progress.close(_summary_line(result) if verbose else None)
    return result


class AdamMoments:
    """Adam's running moments of each parameter's gradient, and the update they make (the
    contract in this module's docstring)."""

    def __init__(self, params: Params, beta1: float, beta2: float, eps: float) -> None:
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.mom = {key: np.zeros_like(a) for key, a in params.items()}
        self.vel = {key: np.zeros_like(a) for key, a in params.items()}

    def step(self, params: Params, grads: Params | dict[str, np.ndarray], learning_rate: float,
             t: int) -> Params:
        """The parameters after Adam step ``t`` (1-based) with ``grads``, in their own dtype; a
        new :class:`Params` (one assignment: Ctrl-C never leaves a half-updated step)."""
        beta1, beta2 = self.beta1, self.beta2
        updated = {}
        for key, p in params.items():
            g = grads[key]
            self.mom[key] = beta1 * self.mom[key] + (1 - beta1) * g
            self.vel[key] = beta2 * self.vel[key] + (1 - beta2) * g * g
            mhat = self.mom[key] / (1 - beta1**t)
            vhat = self.vel[key] / (1 - beta2**t)
            updated[key] = (p - learning_rate * mhat / (np.sqrt(vhat) + self.eps)).astype(p.dtype)
        return Params(updated)


def step_seed(seed: int, step: int) -> int:
    """The seed of Adam's minibatch ``step`` in a run seeded ``seed``: every step draws its own
    random numbers (fresh corruption, fresh samples), reproducibly."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


@_in_fit_threads
def adam(
    params: Params,
    X: np.ndarray,
    objective: Objective | Model,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    backend: str = "auto",
    targets: np.ndarray | None = None,
    verbose: bool = True,
    print_every: int = 1,
    callback: Callback | None = None,
    stream: TextIO | None = None,
) -> TrainResult:
    """Minimise the objective with minibatch Adam (the contract in this module's docstring).

    Parameters keep the dtype of ``X`` (float32 is fine here). ``history`` gets one entry per
    epoch. When ``backend`` resolves to ``"cuda"`` and that backend offers ``adam_device``, the
    whole loop runs on the GPU (same contract, same numbers up to rounding); the callback is
    then not called and Ctrl-C returns the initial parameters. On Ctrl-C in the host loop the
    result holds whichever has the lowest full-data ``J``: the initial parameters, those at the
    end of each epoch, or those after the last completed step.

    A ``FloatingPointError`` stops the run when a minibatch's loss, a term or a gradient is NaN
    or inf, when a parameter is after an epoch, or when the full-data objective after an epoch
    exceeds :data:`DIVERGENCE_FACTOR` times its initial value; it names the step and the term.
    """
    epochs = check_int("epochs", epochs)
    batch_size = check_int("batch_size", batch_size)
    learning_rate, beta1, beta2, eps = check_adam_settings(learning_rate, beta1, beta2, eps)
    seed = check_int("seed", seed, minimum=0)
    model, params, data, name, module = _setup(params, X, objective, targets, backend)
    X, T = data.inputs, data.targets
    data = Batch(X, T, seed)  # the full-data evaluations draw (corruption, ...) from the run's seed
    params = params.astype(X.dtype)
    advice = _adam_advice(learning_rate)

    start = time.perf_counter()
    if name == "cuda" and hasattr(module, "adam_device") and T is None:
        return _adam_on_device(module, model, params, data, epochs, batch_size, learning_rate, seed,
                               beta1, beta2, eps, verbose, stream, start)

    history = History()
    progress = Progress(verbose, print_every, "epoch", stream)
    m = X.shape[0]
    rng = np.random.default_rng(seed)
    moments = AdamMoments(params, beta1, beta2, eps)
    current = params
    on_data = bind(module, model, data)
    initial = _evaluate(on_data, params, "at the initial parameters", LBFGS_ADVICE)
    best_loss, best = initial.loss, params
    t = 0
    reason = "max_iter"
    try:
        for epoch in range(1, epochs + 1):
            perm = rng.permutation(m)
            batch_losses = []
            for i in range(0, m, batch_size):
                rows = perm[i : i + batch_size]
                t += 1
                batch = Batch(X[rows], None if T is None else T[rows], step_seed(seed, t))
                evaluation = _evaluate(bind(module, model, batch), current, f"at Adam step {t}", advice)
                batch_losses.append(float(evaluation.loss))
                current = moments.step(current, evaluation.grads, learning_rate, t)
            history.record_loss(epoch, float(np.mean(batch_losses)))
            where = f"after Adam epoch {epoch} (step {t})"
            _check_params(current, where, advice)
            full = _evaluate(on_data, current, f"on all the data {where}", advice)
            _check_growth(initial, full, where, advice)
            history.record_terms(epoch, full)
            if full.loss < best_loss:
                best_loss, best = full.loss, current
            progress.update(epoch, history.loss[-1], time.perf_counter() - start, force=epoch == epochs)
            if callback is not None and callback(epoch, current, history):
                reason = "callback"
                break
        final = current
    except KeyboardInterrupt:
        reason = "interrupted"
        final = current if on_data(current).loss < best_loss else best
    elapsed = time.perf_counter() - start
    result = TrainResult(final, history, len(history), reason, elapsed, name)
    progress.close(_summary_line(result) if verbose else None)
    return result


def _adam_on_device(module, model, params, data, epochs, batch_size, learning_rate, seed,
                    beta1, beta2, eps, verbose, stream, start) -> TrainResult:
    """Adam on the GPU via the CUDA backend's ``adam_device`` (same contract as the host loop)."""
    history = History()
    progress = Progress(verbose, 1, "epoch", stream)
    try:
        final, losses = module.adam_device(
            params, data.inputs, model.objective, learning_rate=learning_rate, epochs=epochs,
            batch_size=batch_size, seed=seed, beta1=beta1, beta2=beta2, eps=eps,
        )
        reason = "max_iter"
    except KeyboardInterrupt:
        final, losses, reason = params, [], "interrupted"
    for epoch, loss in enumerate(losses, start=1):
        history.record_loss(epoch, loss)
    where, advice = f"after Adam epoch {len(losses)} (on the GPU)", _adam_advice(learning_rate)
    _check_params(final, where, advice)
    on_data = bind(module, model, data)
    full = _evaluate(on_data, final, f"on all the data {where}", advice)
    _check_growth(on_data(params), full, where, advice)
    history.record_terms(len(losses), full)
    elapsed = time.perf_counter() - start
    if losses:
        progress.update(len(losses), losses[-1], elapsed, force=True)
    result = TrainResult(final, history, len(losses), reason, elapsed, "cuda")
    progress.close(_summary_line(result) if verbose else None)
    return result


def train(
    params: Params, X: np.ndarray, objective: Objective | Model, *, solver: str = "lbfgs", **options: object
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
