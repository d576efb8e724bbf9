"""Seconds for whole fits: tinysae's L-BFGS and Adam on each backend, scipy, PyTorch and the CLI.

Run as ``python benchmarks/bench_fit.py`` from the repository root (``--quick`` for a smoke run
of a few iterations on smaller data, ``--plot PATH`` to write a bar figure of the fit times,
``--problems`` to run a subset). ``benchmarks/bench_backends.py`` times one evaluation of the
objective; what a user waits for is the fit. For three problems, all on the classic objective
with :class:`tinysae.Objective`'s defaults (rho 0.01, beta 3, weight decay 1e-4, KL penalty,
sigmoid hidden and output units: those of ``tinysae train``), in float64:

* ``UFLDL``  64-25-64 on 10000 random 8x8 patches of the whitened natural images
  (``sample_patches(load_natural_images(), 8, 10000, 0)``: what ``tinysae train`` fits);
* ``digits`` 64-200-64 on the 1797 8x8 digits (:func:`tinysae.datasets.load_digits`);
* ``MNIST-shaped`` 784-196-784 on 10000 samples drawn uniformly from [0, 1] (synthetic: MNIST's
  shape and range, not its images, which are not bundled; 1000 samples with ``--quick``);

each fit starting from the same initial weights (``init_params(n, k, seed=0)``, the CLI's), it
measures, for ``--iterations`` L-BFGS iterations (400, the CLI's default; 5 with ``--quick``):

* ``tinysae.train.lbfgs`` (the public trainer; :mod:`tinysae.lbfgs` inside) on the ``numba``,
  ``numpy`` and ``autograd`` backends: seconds, iterations, evaluations of the objective;
* one evaluation of each backend (its ``evaluate(model, params, batch)``, the call the trainer
  makes: loss, gradients and terms), the median of ``--repeats`` calls after 5 untimed ones, under
  :func:`tinysae.threads.fit_threads` as in a fit, and the ratios ``fit / (iterations x
  evaluation)`` and ``fit / (evaluations x evaluation)``: the second is 1 plus the optimiser's
  and the glue's share;
* ``scipy.optimize.minimize(method="L-BFGS-B")`` driving tinysae's numba
  :func:`tinysae.loss_and_grad` (the same tolerances and memory as :mod:`tinysae.lbfgs`, BLAS held
  to one thread as a tinysae fit holds it), its ratios taken with the numba evaluation's time:
  the baseline that shows the optimiser's own cost;
* ``torch.optim.LBFGS`` on the same objective written in torch (float64,
  ``line_search_fn="strong_wolfe"``, memory 10, ``tolerance_grad`` 1e-5 as ``gtol``,
  ``tolerance_change`` 2.2e-9, the absolute form of ``ftol``, an evaluation budget as large as
  tinysae's), with ``torch.set_num_threads`` the machine's cores;
* minibatch Adam with :func:`tinysae.train.adam`'s defaults (10 epochs, batch 256, learning rate
  1e-3; 1 epoch with ``--quick``) on the numba backend (its minibatch kernels loaded by an
  untimed evaluation first), and the same loop in torch
  (``torch.optim.Adam``, the same shuffles from ``numpy.random.default_rng(0)``, so both take
  the same steps). tinysae's loop also evaluates loss and gradients on all of ``X`` at the start
  and after each epoch (its history); the torch loop computes the full-data loss after each
  epoch, without gradients, as a user logging it would;
* what the matrix products alone cost (:func:`measure_floor`): the five products of one evaluation
  (``10 m n k`` flops) at the machine's matmul rate (a float64 1024 x 1024 square product by
  numpy's BLAS under :func:`tinysae.threads.fit_threads`), and those five products by numpy on
  the whole arrays; for the numba fit's evaluations, against the numba fit and a third of torch's
  LBFGS fit (what "3x faster than torch" asks for): no backend evaluates faster than its products;
* ``tinysae train`` with its defaults (``--max-iter`` the run's iterations, ``--out`` a
  temporary file), the wall time of the whole process, with numba's cache warm (one untimed
  ``--max-iter 1`` run first); on the UFLDL problem only, since those are its defaults.

Every final loss is the numpy reference's ``J`` at the fit's final parameters, one measure of
how far each fit got. Before the fits, tinysae's (numba and numpy) and torch's objective and
gradient are compared at the initial weights, and the gaps printed: they agree to rounding.

The fits run one after the other in one process; each is run once (a 400-iteration fit is long
enough that a warm-up evaluation, which also compiles or loads the Numba kernels, is the only
warm-up needed). The evaluations are counted by wrapping the backend's ``evaluate`` for the
duration of the fit (one Python call per evaluation, nothing else). PyTorch is a yardstick,
never a dependency: without it the torch rows are left out and a note says so.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
from subset import add_subset_option, chosen  # benchmarks/subset.py

import tinysae
from tinysae import Batch, ClassicSAE, Objective, Params, init_params
from tinysae.backends import get_backend
from tinysae.datasets import load_digits, load_natural_images, sample_patches
from tinysae.lbfgs import MAXFUN
from tinysae.threads import fit_threads
from tinysae.train import adam, lbfgs

#: The tinysae backends whose L-BFGS fit is timed, fastest first.
BACKENDS = ("numba", "numpy", "autograd")
#: tinysae.train.adam's defaults, which both Adam loops use.
ADAM_EPOCHS, ADAM_BATCH, ADAM_LEARNING_RATE = 10, 256, 1e-3
#: tinysae.lbfgs.minimize's (and scipy L-BFGS-B's) memory and tolerances.
MEMORY, GTOL, FTOL = 10, 1e-5, 2.220446049250313e-09
THREADS = os.cpu_count() or 1


@dataclass(frozen=True)
class Problem:
    """A data set and a hidden-layer size: ``data(quick)`` returns ``X (m, n)`` in [0, 1];
    ``cli_defaults`` when it is what ``tinysae train`` fits by default."""

    name: str
    n_hidden: int
    data: Callable[[bool], np.ndarray]
    source: str
    cli_defaults: bool = False


def ufldl_patches(quick: bool) -> np.ndarray:
    """``X (10000, 64)``: the patches ``tinysae train`` fits by default (seed 0), ``quick`` or not."""
    return sample_patches(load_natural_images(), 8, 10000, 0)


def digits(quick: bool) -> np.ndarray:
    """``X (1797, 64)``: the 8x8 digits in [0, 1], ``quick`` or not."""
    return load_digits()[0]


def mnist_shaped(quick: bool) -> np.ndarray:
    """``X (m, 784)`` uniform in [0, 1], ``m`` 10000 (1000 with ``quick``): MNIST's shape, synthetic."""
    return np.random.default_rng(0).uniform(0.0, 1.0, (1000 if quick else 10000, 784))


PROBLEMS = (
    Problem("UFLDL", 25, ufldl_patches, "whitened natural-image patches", cli_defaults=True),
    Problem("digits", 200, digits, "the 1797 digits"),
    Problem("MNIST-shaped", 196, mnist_shaped, "synthetic: uniform in [0, 1]"),
)


@dataclass
class Fit:
    """One timed fit: ``seconds``, ``n_iter`` iterations (Adam: epochs), ``n_fev`` evaluations
    (Adam: minibatch steps), the final ``params`` and their ``final_loss`` (None for the CLI),
    the seconds ``eval_s`` of one evaluation of the objective it drove (None for Adam and the
    CLI), and a ``note`` (why it stopped)."""

    name: str
    seconds: float
    n_iter: int
    n_fev: int
    params: Params | None = None
    eval_s: float | None = None
    final_loss: float | None = None
    note: str = ""


@dataclass
class ProblemResult:
    """Everything measured on one problem."""

    problem: Problem
    shape: tuple[int, int, int]
    iterations: int
    lbfgs: list[Fit] = field(default_factory=list)
    adam: list[Fit] = field(default_factory=list)
    cli: Fit | None = None
    agreement: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    floor: Floor | None = None


@dataclass(frozen=True)
class Floor:
    """What the matrix products alone cost: the machine's matmul rate (GFLOP/s of a large square
    product), the ``flops`` of one evaluation's five products (``10 m n k``) and the median
    seconds ``products_s`` of those five products by numpy on the whole arrays."""

    rate_gflops: float
    flops: int
    products_s: float

    @property
    def at_rate_s(self) -> float:
        """Seconds of one evaluation's products at the machine's matmul rate."""
        return self.flops / (self.rate_gflops * 1e9)


#: Untimed calls before an evaluation is timed: the first compiles or loads the Numba kernels,
#: and the first few of a process run slower than a fit's (fresh buffers, threads starting).
WARM_UP = 5


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """The median of ``repeats`` timed calls of ``call`` after :data:`WARM_UP` untimed ones, in
    seconds."""
    for _ in range(WARM_UP):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextmanager
def counting(module: ModuleType) -> Iterator[list[int]]:
    """Count the calls of ``module.evaluate`` inside the block: yields a one-item list that
    holds the count; the module's own function is put back on exit."""
    original, count = module.evaluate, [0]

    def evaluate(*args: object) -> object:
        count[0] += 1
        return original(*args)

    module.evaluate = evaluate
    try:
        yield count
    finally:
        module.evaluate = original


def reference_loss(params: Params, X: np.ndarray, objective: Objective) -> float:
    """``J`` at ``params`` by the numpy reference: the one judge of every fit's final loss."""
    return tinysae.loss_and_grad(params, X, objective, backend="numpy")[0]


def time_evaluation(backend: str, params: Params, X: np.ndarray, objective: Objective, repeats: int) -> float:
    """Median seconds of backend ``backend``'s ``evaluate(model, params, batch)`` on all of ``X``,
    under :func:`fit_threads` as in a fit (with the BLAS pools free, numpy's idle BLAS threads take
    the cores from numba's: on 2 cores a digits evaluation took 96 ms instead of 6 ms)."""
    model, batch = ClassicSAE(X.shape[1], params["W1"].shape[0], objective), Batch(X)
    module = get_backend(backend, model)
    with fit_threads():
        return median_seconds(lambda: module.evaluate(model, params, batch), repeats)


#: The side of the square float64 product that measures the machine's matmul rate.
RATE_SIDE = 1024


def matmul_rate(repeats: int) -> float:
    """GFLOP/s of a float64 ``(RATE_SIDE, RATE_SIDE)`` square product by numpy's BLAS under
    :func:`fit_threads` (the median of ``repeats``): the machine's matmul rate, about the best a
    dense product reaches here."""
    A = np.random.default_rng(0).standard_normal((RATE_SIDE, RATE_SIDE))
    with fit_threads():
        seconds = median_seconds(lambda: A @ A, repeats)
    return 2 * RATE_SIDE**3 / seconds / 1e9


def measure_floor(params: Params, X: np.ndarray, repeats: int) -> Floor:
    """The classic's five products of one evaluation (``X W1^T``, ``H W2^T``, ``D3^T H``,
    ``D3 W2``, ``D2^T X``: docs/design.md's backward pass), timed by numpy on whole arrays under
    :func:`fit_threads`, and the machine's matmul rate. No backend can evaluate the objective in
    less time than its products take; these two say how long that is here."""
    W1, W2 = params["W1"], params["W2"]
    H = X @ W1.T  # (m, k): stands for H and for D2, which have its shape
    D3 = H @ W2.T  # (m, n)

    def five_products() -> None:
        X @ W1.T, H @ W2.T, D3.T @ H, D3 @ W2, H.T @ X

    with fit_threads():
        products_s = median_seconds(five_products, repeats)
    (m, n), k = X.shape, W1.shape[0]
    return Floor(matmul_rate(repeats), 10 * m * n * k, products_s)


def fit_tinysae(backend: str, params: Params, X: np.ndarray, objective: Objective, iterations: int,
                eval_s: float) -> Fit:
    """``tinysae.train.lbfgs`` for ``iterations`` iterations on ``backend``, timed; ``eval_s`` is
    one evaluation's seconds (:func:`time_evaluation`)."""
    module = get_backend(backend, ClassicSAE(X.shape[1], params["W1"].shape[0], objective))
    with counting(module) as count:
        start = time.perf_counter()
        result = lbfgs(params, X, objective, max_iter=iterations, backend=backend, verbose=False)
        seconds = time.perf_counter() - start
    return Fit(f"tinysae {backend}", seconds, result.n_iter, count[0], result.params, eval_s,
               note=result.stop_reason)


def fit_scipy(params: Params, X: np.ndarray, objective: Objective, iterations: int, eval_s: float) -> Fit:
    """``scipy.optimize.minimize(method="L-BFGS-B")`` on tinysae's numba ``loss_and_grad``,
    with :mod:`tinysae.lbfgs`'s memory and tolerances, under :func:`fit_threads`, timed;
    ``eval_s`` is one numba evaluation's seconds."""
    from scipy.optimize import minimize

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grads = tinysae.loss_and_grad(params.unflatten(theta), X, objective, backend="numba")
        return loss, grads.flatten()

    options = {"maxiter": iterations, "maxcor": MEMORY, "gtol": GTOL, "ftol": FTOL, "maxfun": MAXFUN}
    with fit_threads():
        start = time.perf_counter()
        res = minimize(fun, params.flatten(), jac=True, method="L-BFGS-B", options=options)
        seconds = time.perf_counter() - start
    return Fit("scipy L-BFGS-B (numba)", seconds, int(res.nit), int(res.nfev), params.unflatten(res.x),
               eval_s, note=str(res.message))


def fit_tinysae_adam(params: Params, X: np.ndarray, objective: Objective, epochs: int) -> Fit:
    """``tinysae.train.adam`` with its defaults for ``epochs`` epochs on the numba backend, timed.

    A minibatch and the last, shorter one may take other Numba routes than all of ``X``
    (:func:`tinysae.backends.numba_cpu.choose_route`): one untimed evaluation of each loads
    their kernels first."""
    for rows in {ADAM_BATCH, X.shape[0] % ADAM_BATCH or ADAM_BATCH}:
        tinysae.loss_and_grad(params, X[:rows], objective, backend="numba")
    start = time.perf_counter()
    result = adam(params, X, objective, epochs=epochs, batch_size=ADAM_BATCH,
                  learning_rate=ADAM_LEARNING_RATE, backend="numba", verbose=False)
    seconds = time.perf_counter() - start
    steps = epochs * math.ceil(X.shape[0] / ADAM_BATCH)
    note = f"{result.stop_reason}; J and gradient on all of X at the start and after each epoch"
    return Fit("tinysae Adam (numba)", seconds, result.n_iter, steps, result.params, note=note)


# ----------------------------------------------------------------------------- torch, a yardstick
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def torch_loss(torch: ModuleType, objective: Objective) -> Callable[[list, object], object]:
    r"""The classic objective in torch: ``loss(tensors, X)`` with ``tensors = [W1, b1, W2, b2]``,

    .. math:: J = \frac{1}{2m}\lVert g(f(X W_1^\top + b_1) W_2^\top + b_2) - X\rVert^2
              + \frac{\lambda}{2}(\lVert W_1\rVert^2 + \lVert W_2\rVert^2)
              + \beta\sum_j \mathrm{KL}(\rho\Vert\hat\rho_j),

    ``f = g = sigmoid``, :math:`\hat\rho = \mathrm{mean}_i H`; ``X (m, n)`` a float64 tensor.
    """
    rho, beta, lam = objective.rho, objective.beta, objective.weight_decay

    def loss(tensors: list, X: object) -> object:
        W1, b1, W2, b2 = tensors
        H = torch.sigmoid(torch.addmm(b1, X, W1.T))  # H = f(Z2), Z2 = X W1^T + b1
        Xhat = torch.sigmoid(torch.addmm(b2, H, W2.T))  # Xhat = g(Z3), Z3 = H W2^T + b2
        rho_hat = H.mean(dim=0)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return (((Xhat - X) ** 2).sum() / (2 * X.shape[0]) + lam / 2 * ((W1 * W1).sum() + (W2 * W2).sum())
                + beta * kl.sum())

    return loss


def torch_leaves(torch: ModuleType, params: Params) -> list:
    """``[W1, b1, W2, b2]`` as float64 leaf tensors (copies) that require gradients."""
    return [torch.tensor(params[name], dtype=torch.float64, requires_grad=True) for name in PARAM_NAMES]


def as_params(tensors: list) -> Params:
    """Torch's ``[W1, b1, W2, b2]`` back as tinysae :class:`Params`."""
    return Params({name: t.detach().numpy().copy() for name, t in zip(PARAM_NAMES, tensors)})


def torch_agreement(torch: ModuleType, params: Params, X: np.ndarray, objective: Objective) -> list[str]:
    """Lines comparing ``J`` and its gradient at ``params``: tinysae's numba and numpy backends
    against the torch objective differentiated by ``torch.autograd``."""
    tensors = torch_leaves(torch, params)
    loss = torch_loss(torch, objective)(tensors, torch.from_numpy(X))
    loss.backward()
    lines = []
    for backend in ("numba", "numpy"):
        J, grads = tinysae.loss_and_grad(params, X, objective, backend=backend)
        gap = max(float(np.max(np.abs(grads[name] - t.grad.numpy())))
                  for name, t in zip(PARAM_NAMES, tensors))
        lines.append(f"at the initial weights: J {backend} {J:.15g}, torch {loss.item():.15g}, "
                     f"|dJ| {abs(J - loss.item()):.1e}, max |d grad| {gap:.1e}")
    return lines


def fit_torch_lbfgs(torch: ModuleType, params: Params, X: np.ndarray, objective: Objective,
                    iterations: int, repeats: int) -> Fit:
    """``torch.optim.LBFGS`` (strong Wolfe, memory 10) for ``iterations`` iterations, timed; its
    ``eval_s`` is the median of one closure call (forward and backward)."""
    loss_fn, Xt = torch_loss(torch, objective), torch.from_numpy(X)
    tensors = torch_leaves(torch, params)
    optimizer = torch.optim.LBFGS(tensors, lr=1, max_iter=iterations, max_eval=MAXFUN, tolerance_grad=GTOL,
                                  tolerance_change=FTOL, history_size=MEMORY, line_search_fn="strong_wolfe")
    count = [0]

    def closure() -> object:
        optimizer.zero_grad()
        loss = loss_fn(tensors, Xt)
        loss.backward()
        count[0] += 1
        return loss

    start = time.perf_counter()
    optimizer.step(closure)
    seconds = time.perf_counter() - start
    n_iter = int(optimizer.state_dict()["state"][0]["n_iter"])
    final = as_params(tensors)
    probe = torch_leaves(torch, params)
    eval_s = median_seconds(lambda: loss_fn(probe, Xt).backward(), repeats)
    stop = "max_iter" if n_iter >= iterations else "tolerance_grad or tolerance_change"
    return Fit("torch LBFGS", seconds, n_iter, count[0], final, eval_s, note=stop)


def fit_torch_adam(torch: ModuleType, params: Params, X: np.ndarray, objective: Objective,
                   epochs: int) -> Fit:
    """``torch.optim.Adam`` over the minibatches ``tinysae.train.adam`` takes (the shuffles of
    ``numpy.random.default_rng(0)``), the full-data loss after each epoch (the note: the last);
    timed."""
    loss_fn, Xt, m = torch_loss(torch, objective), torch.from_numpy(X), X.shape[0]
    tensors = torch_leaves(torch, params)
    optimizer = torch.optim.Adam(tensors, lr=ADAM_LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8)
    rng = np.random.default_rng(0)
    steps, losses = 0, []
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.from_numpy(rng.permutation(m))
        for i in range(0, m, ADAM_BATCH):
            optimizer.zero_grad()
            loss_fn(tensors, Xt[perm[i:i + ADAM_BATCH]]).backward()
            optimizer.step()
            steps += 1
        with torch.no_grad():
            losses.append(loss_fn(tensors, Xt).item())
    seconds = time.perf_counter() - start
    note = f"J on all of X after each epoch, no gradient (the last: {losses[-1]:.8g})"
    return Fit("torch Adam", seconds, epochs, steps, as_params(tensors), note=note)


# ----------------------------------------------------------------------------- the CLI
CLI = "from tinysae.cli import main; raise SystemExit(main())"  # what the tinysae console script runs


def run_cli(iterations: int, out: Path) -> tuple[float, str]:
    """Run ``tinysae train --max-iter ITERATIONS --out OUT`` in a fresh process; return its wall
    seconds and its output."""
    command = [sys.executable, "-c", CLI, "train", "--max-iter", str(iterations), "--out", str(out)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600, cwd=out.parent)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"tinysae train failed ({result.returncode}): {result.stderr.strip()}")
    return seconds, result.stdout


def fit_cli(iterations: int) -> Fit:
    """``tinysae train`` with its defaults: the whole process's wall time, after one untimed
    ``--max-iter 1`` run (numba's cache and the files warm); the note is the fit time it printed."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "filters.png"
        run_cli(1, out)
        seconds, stdout = run_cli(iterations, out)
    lines = stdout.splitlines()
    reported = next(line.split()[1] for line in lines if line.strip().startswith("time "))
    stop = next(" ".join(line.split()) for line in lines if line.strip().startswith("stop reason"))
    return Fit("tinysae train (CLI process)", seconds, iterations, 0, note=f"fit {reported} s; {stop}")


# ----------------------------------------------------------------------------- one problem
def import_torch() -> ModuleType | None:
    """torch with ``THREADS`` threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


def run_problem(problem: Problem, iterations: int, epochs: int, repeats: int, quick: bool) -> ProblemResult:
    """Every fit of ``problem`` from ``init_params(n, k, seed=0)``, with the final losses."""
    X = problem.data(quick)
    objective = Objective()
    m, n = X.shape
    params = init_params(n, problem.n_hidden, seed=0)
    result = ProblemResult(problem, (m, n, problem.n_hidden), iterations)
    torch = import_torch()
    if torch is None:
        result.notes.append("torch not installed: no torch rows (pip install torch to compare)")
    else:
        result.agreement = torch_agreement(torch, params, X, objective)
    result.floor = measure_floor(params, X, repeats)
    for backend in BACKENDS:
        eval_s = time_evaluation(backend, params, X, objective, repeats)
        result.lbfgs.append(fit_tinysae(backend, params, X, objective, iterations, eval_s))
    result.lbfgs.append(fit_scipy(params, X, objective, iterations, result.lbfgs[0].eval_s))
    result.adam.append(fit_tinysae_adam(params, X, objective, epochs))
    if torch is not None:
        result.lbfgs.append(fit_torch_lbfgs(torch, params, X, objective, iterations, repeats))
        result.adam.append(fit_torch_adam(torch, params, X, objective, epochs))
    for fit in result.lbfgs + result.adam:
        fit.final_loss = reference_loss(fit.params, X, objective)
    if problem.cli_defaults:
        result.cli = fit_cli(iterations)
    return result


# ----------------------------------------------------------------------------- output
def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``"1.23"``, or ``"-"`` when either is missing."""
    return "-" if a is None or b is None else f"{a / b:.2f}"


def table(result: ProblemResult) -> str:
    """One problem's times, counts, ratios and final losses as a text table."""
    m, n, k = result.shape
    lines = [f"{result.problem.name}: {n}-{k}-{n} on {m} samples ({result.problem.source}), "
             f"{result.iterations} L-BFGS iterations, float64"]
    lines += result.agreement
    header = (f"{'L-BFGS':<26}{'fit s':>9}{'iters':>7}{'evals':>7}{'eval ms':>10}"
              f"{'fit/(it*ev)':>13}{'fit/(fev*ev)':>14}{'final J':>14}  stop")
    lines += [header, "-" * len(header)]
    for fit in result.lbfgs:
        eval_ms = "-" if fit.eval_s is None else f"{fit.eval_s * 1e3:.2f}"
        per_iter = ratio(fit.seconds, None if fit.eval_s is None else fit.n_iter * fit.eval_s)
        per_fev = ratio(fit.seconds, None if fit.eval_s is None else fit.n_fev * fit.eval_s)
        lines.append(f"{fit.name:<26}{fit.seconds:>9.2f}{fit.n_iter:>7}{fit.n_fev:>7}{eval_ms:>10}"
                     f"{per_iter:>13}{per_fev:>14}{fit.final_loss:>14.8g}  {fit.note}")
    by_name = {fit.name: fit for fit in result.lbfgs + result.adam}
    seconds = {name: fit.seconds for name, fit in by_name.items()}
    if "torch LBFGS" in seconds:
        torch_s = seconds["torch LBFGS"]
        lines.append(f"tinysae numba / torch LBFGS: {ratio(seconds['tinysae numba'], torch_s)}  "
                     f"(scipy / torch: {ratio(seconds['scipy L-BFGS-B (numba)'], torch_s)})")
    if result.floor is not None:
        lines += floor_lines(result.floor, by_name["tinysae numba"], seconds.get("torch LBFGS"))
    header = f"{'Adam (batch 256, lr 1e-3)':<26}{'fit s':>9}{'epochs':>7}{'steps':>7}{'final J':>14}  notes"
    lines += ["", header, "-" * len(header)]
    for fit in result.adam:
        lines.append(f"{fit.name:<26}{fit.seconds:>9.2f}{fit.n_iter:>7}{fit.n_fev:>7}{fit.final_loss:>14.8g}"
                     f"  {fit.note}")
    if "torch Adam" in seconds:
        adam_ratio = ratio(seconds["tinysae Adam (numba)"], seconds["torch Adam"])
        lines.append(f"tinysae Adam / torch Adam: {adam_ratio}")
    if result.cli is not None:
        lines += ["", f"{result.cli.name:<26}{result.cli.seconds:>9.2f} s wall  ({result.cli.note})"]
    lines += result.notes
    return "\n".join(lines)


def floor_lines(floor: Floor, fit: Fit, torch_s: float | None) -> list[str]:
    """What the products alone cost, for one evaluation and for ``fit``'s evaluations, against
    the numba fit (and a third of torch's LBFGS fit, when there is one)."""
    evals = fit.n_fev
    lines = [
        f"products alone: one evaluation's five, {floor.flops / 1e6:.1f} MFLOP, take "
        f"{floor.at_rate_s * 1e3:.2f} ms at the machine's matmul rate ({floor.rate_gflops:.1f} GFLOP/s, "
        f"float64 {RATE_SIDE}^3) and {floor.products_s * 1e3:.2f} ms by numpy on the whole arrays",
        f"  for the numba fit's {evals} evaluations: {evals * floor.at_rate_s:.2f} s at that rate, "
        f"{evals * floor.products_s:.2f} s by numpy; the fit took {fit.seconds:.2f} s "
        f"({ratio(fit.seconds, evals * floor.at_rate_s)}x the first)",
    ]
    if torch_s is not None:
        lines.append(f"  3x faster than torch LBFGS means a fit of at most {torch_s / 3:.2f} s")
    return lines


def plot(results: list[ProblemResult], path: Path) -> None:
    """Bar chart of every fit's seconds (log scale), one group of bars per problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fits = [r.lbfgs + r.adam + ([r.cli] if r.cli else []) for r in results]
    names = list(dict.fromkeys(f.name for group in fits for f in group))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(12, 5.5))
    for i, name in enumerate(names):
        xs = [p for p, group in enumerate(fits) if any(f.name == name for f in group)]
        ys = [next(f.seconds for f in fits[p] if f.name == name) for p in xs]
        ax.bar([x + i * width for x in xs], ys, width, label=name)
    ax.set_xticks([p + 0.4 - width / 2 for p in range(len(results))])
    ax.set_xticklabels([f"{r.problem.name}\n{r.shape[1]}-{r.shape[2]}, m={r.shape[0]}" for r in results])
    ax.set_yscale("log")
    ax.set_ylabel("seconds")
    ax.set_title(f"seconds per fit (L-BFGS iterations: {results[0].iterations}, Adam epochs: "
                 f"{results[0].adam[0].n_iter}; lower is better)")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def describe_machine() -> list[str]:
    """The versions and threads the timings depend on."""
    import numba
    import scipy

    from tinysae.backends import resolve

    lines = [f"python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
             f"numba {numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads), {THREADS} cores, "
             f"tinysae backend auto = {resolve('auto')}"]
    torch = import_torch()
    lines.append("torch not installed" if torch is None else f"torch {torch.__version__}, "
                                                             f"{torch.get_num_threads()} threads")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="5 iterations, 1 Adam epoch, 3 timed evaluations, 1000 MNIST-shaped samples")
    parser.add_argument("--iterations", type=int, help="L-BFGS iterations (default 400; 5 with --quick)")
    parser.add_argument("--repeats", type=int, default=10,
                        help="timed evaluations per backend (default 10; 3 with --quick)")
    parser.add_argument("--plot", type=Path, metavar="PATH",
                        help="write a bar figure of the fit times to PATH")
    known = {p.name: p for p in PROBLEMS}
    add_subset_option(parser, "--problems", list(known))
    args = parser.parse_args(argv)
    wanted = chosen(parser, "--problems", args.problems, list(known))
    iterations = args.iterations if args.iterations is not None else (5 if args.quick else 400)
    repeats = 3 if args.quick else args.repeats
    if iterations < 1 or repeats < 1:
        parser.error(f"--iterations and --repeats must be >= 1, got {iterations} and {repeats}")
    epochs = 1 if args.quick else ADAM_EPOCHS
    for line in describe_machine():
        print(line)
    print(f"load average at start: {os.getloadavg()[0]:.2f}\n", flush=True)
    results = []
    for name in wanted:
        results.append(run_problem(known[name], iterations, epochs, repeats, args.quick))
        print(table(results[-1]) + "\n", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}; one run of each fit, eval ms the median of "
          f"{repeats} calls after {WARM_UP} untimed ones")
    if args.plot is not None:
        plot(results, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
