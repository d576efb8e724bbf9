"""Milliseconds per evaluation of the classic objective: the autograd engine against the numpy reference.

Run as ``python benchmarks/bench_engine.py`` (``--quick`` for a smoke run with three timed calls,
``--profile`` to add a cProfile of the engine at the first shape). For two shapes ``(m, n, k)``
in float64, with the default :class:`tinysae.Objective` (sigmoid units, the KL penalty):

* ``UFLDL``  (10000, 64, 25): the classic exercise (8x8 patches, 25 hidden units);
* ``digits`` (1797, 64, 200): the size of scikit-learn's 8x8 digits, 200 hidden units;

on UFLDL-initialised parameters and data drawn uniformly from [0, 1], it prints:

* ms per call of the public ``tinysae.loss_and_grad(params, X, objective, backend=...)`` for
  ``"autograd"`` and ``"numpy"``, and their ratio (autograd / numpy);
* the phases of one evaluation: for the engine, building the forward graph
  (``model.graph(params, batch)``), the reverse pass (``J.backward(inner_grads=False)``) and
  reading off the gradients and terms; for the reference, its forward pass with the terms and
  its backward equations.

Every figure is the median (and the minimum) over the timed calls, made in a row after one
warm-up call, as training makes them (calling the two backends in turn would also time the
memory allocator handing each one back the other's freed pages). The BLAS threads
(``OPENBLAS_NUM_THREADS``) are printed: on a loaded machine one thread gives steadier figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from collections.abc import Callable

import numpy as np
from subset import add_subset_option, chosen  # benchmarks/subset.py

from tinysae import Batch, ClassicSAE, Objective, Params
from tinysae.backends import autograd_backend, loss_and_grad, numpy_ref

SHAPES: list[tuple[str, tuple[int, int, int]]] = [
    ("UFLDL", (10000, 64, 25)),
    ("digits", (1797, 64, 200)),
]
#: The two backends compared, in the order they are called within a repeat.
BACKENDS = ("autograd", "numpy")

Phases = Callable[[], dict[str, float]]


def problem(shape: tuple[int, int, int]) -> tuple[ClassicSAE, Params, np.ndarray]:
    """The classic model of ``shape``, its UFLDL-initialised parameters (seed 0) and float64
    data ``X (m, n)`` uniform in [0, 1]."""
    m, n, k = shape
    model = ClassicSAE(n, k, Objective())
    X = np.random.default_rng(0).uniform(0.0, 1.0, (m, n))
    return model, model.init_params(0), X


def engine_phases(model: ClassicSAE, params: Params, X: np.ndarray) -> Phases:
    """One evaluation by the engine, as :func:`tinysae.backends.autograd_backend.evaluate` makes it,
    returning the seconds of each phase."""
    batch = Batch(X)

    def phases() -> dict[str, float]:
        t0 = time.perf_counter()
        graph = model.graph(params, batch)
        autograd_backend.mark_constants(graph)
        t1 = time.perf_counter()
        graph.J.backward(inner_grads=False)
        t2 = time.perf_counter()
        graph.grads(), graph.terms()
        t3 = time.perf_counter()
        return {"forward graph": t1 - t0, "backward": t2 - t1, "read off": t3 - t2}

    return phases


def reference_phases(model: ClassicSAE, params: Params, X: np.ndarray) -> Phases:
    """One evaluation by the numpy reference's equations, returning the seconds of each phase."""
    objective = model.objective

    def phases() -> dict[str, float]:
        t0 = time.perf_counter()
        fwd = numpy_ref.forward(params, X, objective)
        numpy_ref.terms(params, X, objective, fwd)
        t1 = time.perf_counter()
        numpy_ref.backward(params, X, objective, fwd)
        t2 = time.perf_counter()
        return {"forward + terms": t1 - t0, "backward": t2 - t1}

    return phases


def public_call(model: ClassicSAE, params: Params, X: np.ndarray, backend: str) -> Phases:
    """One call of the public ``loss_and_grad`` on ``backend``, returning its seconds."""

    def call() -> dict[str, float]:
        start = time.perf_counter()
        loss_and_grad(params, X, model.objective, backend=backend)
        return {"loss_and_grad": time.perf_counter() - start}

    return call


def time_ms(runs: dict[str, Phases], repeats: int) -> dict[str, dict[str, tuple[float, float]]]:
    """``(median, minimum)`` milliseconds of every phase of every run: each run is called once to
    warm up, then ``repeats`` times in a row (as training calls it), the runs one after another."""
    result = {}
    for name, run in runs.items():
        run()
        seconds: dict[str, list[float]] = {}
        for _ in range(repeats):
            for phase, value in run().items():
                seconds.setdefault(phase, []).append(value)
        result[name] = {phase: (1e3 * float(np.median(values)), 1e3 * min(values))
                        for phase, values in seconds.items()}
    return result


def measure(shape: tuple[int, int, int], repeats: int) -> dict[str, dict[str, tuple[float, float]]]:
    """The median and minimum ms of the public call on both backends and of each phase, at ``shape``."""
    model, params, X = problem(shape)
    runs = {backend: public_call(model, params, X, backend) for backend in BACKENDS}
    runs["autograd phases"] = engine_phases(model, params, X)
    runs["numpy phases"] = reference_phases(model, params, X)
    return time_ms(runs, repeats)


def table(results: dict[str, dict[str, dict[str, tuple[float, float]]]], repeats: int) -> str:
    """The results as a text table: per shape, the public calls, their ratio and the phases."""
    lines = [f"{'shape (m, n, k)':<26} {'':<34} {'median ms':>10} {'min ms':>10}", "-" * 83]
    for shape_name, shape in SHAPES:
        if shape_name not in results:
            continue
        result, label = results[shape_name], f"{shape_name} {shape}"
        for backend in BACKENDS:
            median, least = result[backend]["loss_and_grad"]
            lines.append(f"{label:<26} {backend + ' loss_and_grad':<34} {median:>10.2f} {least:>10.2f}")
            label = ""
        engine, reference = result["autograd"]["loss_and_grad"], result["numpy"]["loss_and_grad"]
        ratios = [a / b for a, b in zip(engine, reference)]
        lines.append(f"{'':<26} {'ratio autograd / numpy':<34} {ratios[0]:>9.2f}x {ratios[1]:>9.2f}x")
        for backend in BACKENDS:
            for phase, (median, least) in result[f"{backend} phases"].items():
                lines.append(f"{'':<26} {f'  {backend}: {phase}':<34} {median:>10.2f} {least:>10.2f}")
        lines.append("")
    lines.append(f"median and minimum of {repeats} timed calls in a row after a warm-up; "
                 "float64, Objective() defaults")
    return "\n".join(lines)


def profile(shape: tuple[int, int, int], calls: int, top: int = 20) -> str:
    """cProfile of ``calls`` engine evaluations at ``shape``: the ``top`` functions by own time."""
    model, params, X = problem(shape)
    run = public_call(model, params, X, "autograd")
    run()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        run()
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    heading = f"cProfile of {calls} autograd loss_and_grad calls at {shape} (times for all calls):"
    return f"{heading}\n{stream.getvalue()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three timed calls per cell (a smoke run)")
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per cell (default 15)")
    parser.add_argument("--profile", action="store_true", help="also profile the engine at the first shape")
    known = dict(SHAPES)
    add_subset_option(parser, "--shapes", list(known))
    args = parser.parse_args(argv)
    wanted = chosen(parser, "--shapes", args.shapes, list(known))
    repeats = 3 if args.quick else args.repeats
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}")
    results = {name: measure(known[name], repeats) for name in wanted}
    print(f"load average at end: {os.getloadavg()[0]:.2f}\n")
    print(table(results, repeats))
    if args.profile:
        print()
        print(profile(known[wanted[0]], calls=repeats))


if __name__ == "__main__":
    main()
