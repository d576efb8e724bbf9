"""Milliseconds per evaluation of the objective and its gradient, backend by backend.

Run as ``python benchmarks/bench_backends.py`` (``--quick`` for a smoke run with one timed
repeat, ``--plot`` to write ``figures/bench.png``, ``--layers`` to time the numba backend
under two numba threading layers). For three shapes ``(m, n, k)``:

* ``UFLDL``  (10000, 64, 25): the classic exercise (8x8 patches, 25 hidden units);
* ``MNIST``  (10000, 784, 196): 28x28 digits, 196 hidden units;
* ``large``  (4096, 512, 4096): an overcomplete dictionary, dominated by matrix products;

and for float64 and float32, it times each backend of :data:`BACKENDS` (the registry's numpy,
numba and, on the small shape only, autograd; PyTorch CPU when installed, as a yardstick, never
a dependency) and prints:

* ms per evaluation: the minimum over the timed calls after one warm-up call (the warm-up
  also compiles Numba kernels or loads them from the cache); fast cells are called more often,
  up to about a second each, so that bursts of other work on a shared machine drop out;
* the fraction of the machine's matmul roofline that numba reaches: one evaluation needs
  ``10 m n k`` flops (five matrix products of ``2 m n k`` flops each: ``X W1^T``, ``H W2^T``,
  ``D3^T H``, ``D3 W2``, ``D2^T X``), and the roofline is the GFLOP/s of a large numpy
  matmul timed in the same run (the best of one measurement before each shape);
* the speed-up of numba over numpy and over PyTorch.

A tinysae backend is timed through its ``evaluate(model, params, batch)`` (the call training
makes each iteration: loss, gradients and terms), on the classic model
:class:`tinysae.ClassicSAE` and one :class:`tinysae.Batch` of all the data.

To add a backend, add one ``(name, factory)`` row to :data:`BACKENDS`: ``factory(params, X,
objective)`` returns a zero-argument callable that evaluates loss and gradient once, or raises
:class:`Unavailable` with a note to print.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from subset import add_subset_option, chosen  # benchmarks/subset.py

from tinysae import Batch, ClassicSAE, Objective, Params, init_params
from tinysae.backends import get_backend

SHAPES: list[tuple[str, tuple[int, int, int]]] = [
    ("UFLDL", (10000, 64, 25)),
    ("MNIST", (10000, 784, 196)),
    ("large", (4096, 512, 4096)),
]
DTYPES = (np.float64, np.float32)
#: Backends too slow for anything but the small shape.
SMALL_SHAPE_ONLY = {"autograd"}


class Unavailable(Exception):
    """A backend that cannot run here; the message says why."""


Evaluate = Callable[[], object]
Factory = Callable[[Params, np.ndarray, Objective], Evaluate]


def registry_backend(name: str) -> Factory:
    """A factory for tinysae backend ``name``: its ``evaluate(model, params, batch)`` on the
    classic model of ``params``' shapes (called directly: no input validation timed)."""

    def factory(params: Params, X: np.ndarray, objective: Objective) -> Evaluate:
        n_hidden, n_visible = params["W1"].shape
        model, batch = ClassicSAE(n_visible, n_hidden, objective), Batch(X)
        try:
            module = get_backend(name, model)
        except Exception as error:  # ImportError, BackendUnavailable, anything a missing piece raises
            raise Unavailable(f"{name}: {type(error).__name__}: {error}") from error
        return lambda: module.evaluate(model, params, batch)

    return factory


def torch_backend(params: Params, X: np.ndarray, objective: Objective) -> Evaluate:
    """The same objective in PyTorch CPU, differentiated by ``torch.autograd``."""
    try:
        import torch
    except ImportError as error:
        raise Unavailable("torch: not installed (pip install torch to compare)") from error
    f = {"sigmoid": torch.sigmoid, "relu": torch.relu}[objective.activation]
    g = {"sigmoid": torch.sigmoid, "identity": lambda z: z}[objective.output]
    Xt = torch.from_numpy(X)
    arrays = [torch.from_numpy(params[name]) for name in ("W1", "b1", "W2", "b2")]
    m, rho, beta, lam = X.shape[0], objective.rho, objective.beta, objective.weight_decay

    def evaluate() -> tuple[float, list]:
        W1, b1, W2, b2 = (a.detach().requires_grad_(True) for a in arrays)
        H = f(torch.addmm(b1, Xt, W1.T))  # Z2 = X W1^T + b1
        Xhat = g(torch.addmm(b2, H, W2.T))  # Z3 = H W2^T + b2
        loss = ((Xhat - Xt) ** 2).sum() / (2 * m) + lam / 2 * ((W1 * W1).sum() + (W2 * W2).sum())
        if objective.penalty == "kl":
            rho_hat = H.mean(dim=0)
            loss = (
                loss
                + beta
                * (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
            )
        elif objective.penalty == "l1":
            loss = loss + beta * H.abs().sum() / m
        loss.backward()
        return float(loss.detach()), [W1.grad, b1.grad, W2.grad, b2.grad]

    return evaluate


#: (name, factory): one row per backend. The CUDA backend adds its row here.
BACKENDS: list[tuple[str, Factory]] = [
    ("numpy", registry_backend("numpy")),
    ("autograd", registry_backend("autograd")),
    ("numba", registry_backend("numba")),
    ("torch", torch_backend),
]


def time_ms(evaluate: Evaluate, repeats: int, budget_s: float = 0.0) -> float:
    """The fastest of at least ``repeats`` timed calls after one warm-up call, in milliseconds.

    Fast calls are repeated more, up to ``budget_s`` seconds in all (at most 200 calls): on a
    machine shared with other work the minimum of many short calls is what the code costs. The
    number of calls is set from the first timed call, not from the warm-up, which may include
    compiling or loading kernels (about a second) and would leave a fast cell ``repeats`` calls.
    """
    evaluate()  # warm-up
    start = time.perf_counter()
    evaluate()
    best = time.perf_counter() - start
    calls = max(repeats, min(200, int(budget_s / max(best, 1e-6)))) - 1
    for _ in range(calls):
        start = time.perf_counter()
        evaluate()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def matmul_gflops(dtype: type, size: int = 2048, repeats: int = 5) -> float:
    """The machine's matmul roofline: GFLOP/s of a ``size``-cube numpy matmul (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    A, B = rng.random((size, size)).astype(dtype), rng.random((size, size)).astype(dtype)
    seconds = time_ms(lambda: A @ B, repeats) / 1e3
    return 2 * size**3 / seconds / 1e9


def problem(shape: tuple[int, int, int], dtype: type) -> tuple[Params, np.ndarray]:
    """UFLDL-initialised parameters and data in [0, 1] of the given shape and dtype."""
    m, n, k = shape
    rng = np.random.default_rng(0)
    return init_params(n, k, seed=rng).astype(dtype), rng.uniform(0, 1, (m, n)).astype(dtype)


def load() -> str:
    """The 1-minute load average (other work on the machine makes timings noisy)."""
    return f"{os.getloadavg()[0]:.2f}"


def describe_machine() -> list[str]:
    """Lines naming the BLAS, the threads and the environment the timings depend on."""
    import numba

    lines = [f"python {sys.version.split()[0]}, numpy {np.__version__}, numba {numba.__version__}"]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(
                f"BLAS pool: {pool.get('internal_api')} {pool.get('version')}, kernel "
                f"{pool.get('architecture')}, {pool.get('num_threads')} threads "
                f"({Path(pool['filepath']).name})"
            )
    except ImportError:
        lines.append("threadpoolctl not installed: BLAS kernel unknown")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "NUMBA_THREADING_LAYER"):
        lines.append(f"{var}={os.environ.get(var, '(unset)')}")
    try:
        import torch

        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        lines.append("torch not installed")
    return lines


def run(repeats: int, shapes: list[tuple[str, tuple[int, int, int]]], budget_s: float) -> dict:
    """Time every backend on each shape and dtype; return the times, roofline and notes.

    The roofline is re-measured before each shape and the best value kept, so a burst of
    other work on the machine during one measurement does not inflate the fractions.
    """
    objective = Objective()
    roofline = {dtype: 0.0 for dtype in DTYPES}
    times: dict[tuple[str, str, type], float] = {}
    notes: dict[str, str] = {}
    for shape_name, shape in shapes:
        for dtype in DTYPES:
            roofline[dtype] = max(roofline[dtype], matmul_gflops(dtype))
        for dtype in DTYPES:
            params, X = problem(shape, dtype)
            for name, factory in BACKENDS:
                if name in notes or (name in SMALL_SHAPE_ONLY and shape_name != "UFLDL"):
                    continue
                try:
                    evaluate = factory(params, X, objective)
                except Unavailable as error:
                    notes[name] = str(error)
                    continue
                times[shape_name, name, dtype] = time_ms(evaluate, repeats, budget_s)
    return {"roofline": roofline, "times": times, "notes": notes, "shapes": shapes}


def speedup(times: dict, shape_name: str, fast: str, slow: str, dtype: type) -> str:
    """``slow / fast`` as ``"3.41x"``, or ``"-"`` when either was not timed."""
    a, b = times.get((shape_name, fast, dtype)), times.get((shape_name, slow, dtype))
    return "-" if a is None or b is None else f"{b / a:.2f}x"


def table(results: dict) -> str:
    """The results as a text table: one block per shape, float64 and float32 columns."""
    times, roofline = results["times"], results["roofline"]
    header = f"{'shape (m, n, k)':<24} {'':<22}" + "".join(f"{np.dtype(d).name:>12}" for d in DTYPES)
    lines = [header, "-" * len(header)]
    for shape_name, shape in results["shapes"]:
        label = f"{shape_name} {shape}"
        flops = 10 * np.prod(shape, dtype=np.float64)
        for name, _ in BACKENDS:
            cells = [times.get((shape_name, name, d)) for d in DTYPES]
            if all(c is None for c in cells):
                continue
            row = "".join(f"{'-' if c is None else f'{c:.1f}':>12}" for c in cells)
            lines.append(f"{label:<24} {name + ' ms':<22}{row}")
            label = ""
        cells = []
        for d in DTYPES:
            t = times.get((shape_name, "numba", d))
            cells.append("-" if t is None else f"{100 * flops / (t / 1e3) / (roofline[d] * 1e9):.0f}%")
        lines.append(f"{'':<24} {'numba % of roofline':<22}" + "".join(f"{c:>12}" for c in cells))
        for other in ("numpy", "torch"):
            cells = [speedup(times, shape_name, "numba", other, d) for d in DTYPES]
            lines.append(f"{'':<24} {'numba vs ' + other:<22}" + "".join(f"{c:>12}" for c in cells))
        lines.append("")
    lines.append(
        "matmul roofline (GFLOP/s, best 2048^3 numpy matmul of the run): "
        + ", ".join(f"{np.dtype(d).name} {roofline[d]:.1f}" for d in DTYPES)
    )
    lines.append(
        "ms = fastest of the timed calls after a warm-up (at least --repeats calls, more for fast "
        "cells, up to ~1 s each); one evaluation = loss + 4 gradients"
    )
    for note in results["notes"].values():
        lines.append(f"skipped {note}")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    """Bar chart of ms per evaluation (log scale), one panel per dtype."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, shapes = results["times"], results["shapes"]
    names = [name for name, _ in BACKENDS if any(key[1] == name for key in times)]
    fig, axes = plt.subplots(1, len(DTYPES), figsize=(11, 4), sharey=True)
    width = 0.8 / len(names)
    for ax, dtype in zip(axes, DTYPES):
        for i, name in enumerate(names):
            xs = [s for s, (shape_name, _) in enumerate(shapes) if (shape_name, name, dtype) in times]
            ys = [times[shapes[s][0], name, dtype] for s in xs]
            ax.bar([x + i * width for x in xs], ys, width, label=name)
        ax.set_xticks([s + 0.4 - width / 2 for s in range(len(shapes))])
        ax.set_xticklabels([f"{name}\n{shape}" for name, shape in shapes])
        ax.set_yscale("log")
        ax.set_title(f"{np.dtype(dtype).name}: ms per loss + gradient (lower is better)")
    axes[0].set_ylabel("ms")
    axes[0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: Run in a fresh interpreter by :func:`compare_threading_layers`: start numba's threads with
#: the layer named in argv[1] (unless it is the backend's own choice), then time the backend.
LAYER_PROBE = """
import sys, time, warnings
import numba, numpy as np
if sys.argv[1] != "workqueue":
    numba.config.THREADING_LAYER = sys.argv[1]
    @numba.njit(parallel=True)
    def start_threads(x):
        for i in numba.prange(x.shape[0]):
            x[i] += 1
    start_threads(np.ones(8))
warnings.simplefilter("ignore")  # the backend warns that it did not get its layer: expected here
from tinysae import Objective, init_params
from tinysae.backends import numba_cpu
m, n, k = 10000, 64, 25
params, X = init_params(n, k, seed=0), np.random.default_rng(0).uniform(0, 1, (m, n))
numba_cpu.loss_and_grad(params, X, Objective())
best = float("inf")
for _ in range(60):
    start = time.perf_counter()
    numba_cpu.loss_and_grad(params, X, Objective())
    best = min(best, time.perf_counter() - start)
print(numba_cpu.threading_layer(), f"{best * 1e3:.1f}")
"""


def compare_threading_layers() -> list[str]:
    """ms per float64 evaluation at the UFLDL shape under numba's ``workqueue`` layer (the one
    the backend chooses) and under ``omp``, each in a fresh process."""
    import subprocess

    lines = []
    for layer in ("workqueue", "omp"):
        result = subprocess.run(
            [sys.executable, "-c", LAYER_PROBE, layer], capture_output=True, text=True, timeout=600
        )
        if result.returncode != 0:
            lines.append(f"threading layer {layer}: could not run ({result.stderr.strip().splitlines()[-1]})")
            continue
        running, ms = result.stdout.split()
        lines.append(f"threading layer {running:<10} UFLDL float64 numba: {ms} ms")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed call per cell (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per cell (default 5)")
    parser.add_argument("--plot", action="store_true", help="write figures/bench.png")
    parser.add_argument(
        "--layers",
        action="store_true",
        help="also time the numba backend under the workqueue and omp threading layers",
    )
    known = dict(SHAPES)
    add_subset_option(parser, "--shapes", list(known))
    args = parser.parse_args(argv)
    wanted = chosen(parser, "--shapes", args.shapes, list(known))
    shapes = [(name, known[name]) for name in wanted]
    repeats = 1 if args.quick else args.repeats
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")
    print(f"load average at start: {load()}")
    results = run(repeats, shapes, budget_s=0.0 if args.quick else 1.0)
    for line in describe_machine():
        print(line)
    from tinysae.backends import numba_cpu

    print(
        f"numba threading layer: {numba_cpu.threading_layer()}, threads: {numba_cpu.numba.get_num_threads()}"
    )
    print(f"load average at end: {load()}\n")
    print(table(results))
    if args.layers:
        print()
        for line in compare_threading_layers():
            print(line)
    if args.plot:
        path = Path(__file__).resolve().parent.parent / "figures" / "bench.png"
        plot(results, path)
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
