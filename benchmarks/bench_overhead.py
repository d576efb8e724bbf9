"""What the public ``tinysae.loss_and_grad`` costs on top of the backend it calls.

Run as ``python benchmarks/bench_overhead.py`` (``--calls N`` timed rounds, default 50). At the
UFLDL shape (m = 10000, n = 64, k = 25, sigmoid, KL), in float64 and float32, it times four
callables:

* ``public numba``: ``tinysae.loss_and_grad(params, X, objective, backend="numba")``, which
  checks the objective, the parameters and ``X`` (:func:`tinysae.backends.check_classic_data`),
  looks the backend up and calls its ``evaluate``;
* ``direct numba``: :func:`tinysae.backends.numba_cpu.evaluate` on the same model, parameters and
  :class:`tinysae.Batch`, built once outside the timing (what the public call does, less its checks);
* ``public numpy`` and ``direct numpy``: the same two for the reference,
  :mod:`tinysae.backends.numpy_ref`.

Each backend is timed on its own: every callable is first called twice (compilation, the numba
backend's work buffers), then the timed rounds call the public and the direct call once each,
in turn first, so that a burst of other work on a shared machine slows both alike. The two
backends are not interleaved: OpenBLAS's threads, busy-waiting after the reference's matrix
products, would slow whichever numba call came next (tinysae/threads.py). It prints
milliseconds per call (median and minimum over the rounds) and the ratio public / direct of the
medians and of the minima. The times are wall-clock and noisy on a shared machine; run it twice.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import tinysae
from tinysae.backends import numba_cpu, numpy_ref
from tinysae.models import Batch, ClassicSAE

M, N, K = 10_000, 64, 25


def callables(dtype: np.dtype, backend: str) -> dict[str, Callable[[], object]]:
    """The public and the direct call of ``backend`` ("numba" or "numpy") at the UFLDL shape in
    ``dtype``, by name."""
    params = tinysae.init_params(N, K, 0)
    params = tinysae.Params({name: value.astype(dtype) for name, value in params.items()})
    X = np.random.default_rng(0).random((M, N)).astype(dtype)
    objective = tinysae.Objective()
    model, batch = ClassicSAE(N, K, objective), Batch(X)
    module = {"numba": numba_cpu, "numpy": numpy_ref}[backend]
    return {
        f"public {backend}": lambda: tinysae.loss_and_grad(params, X, objective, backend=backend),
        f"direct {backend}": lambda: module.evaluate(model, params, batch),
    }


def time_rounds(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each call in each of ``rounds`` rounds (each call once per round, in turn first),
    after two warm-up calls of each."""
    for call in calls.values():
        call()
        call()
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            calls[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def report(seconds: dict[str, list[float]]) -> None:
    """Print ms per call and the public / direct ratio, for one backend."""
    (public_name, public), (direct_name, direct) = seconds.items()
    for name, values in seconds.items():
        print(f"  {name:<14} {1e3 * statistics.median(values):10.3f} {1e3 * min(values):8.3f}")
    print(f"  {public_name} / {direct_name}: {statistics.median(public) / statistics.median(direct):.3f} "
          f"(medians), {min(public) / min(direct):.3f} (minima)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="timed rounds (each call once per round)")
    args = parser.parse_args(argv)
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    print("Public loss_and_grad against the backend's evaluate (wall-clock, noisy on a shared machine)")
    for dtype in (np.dtype(np.float64), np.dtype(np.float32)):
        print(f"{dtype.name}, m={M}, n={N}, k={K}, {args.calls} rounds")
        print(f"  {'call':<14} {'median ms':>10} {'min ms':>8}")
        for backend in ("numba", "numpy"):
            report(time_rounds(callables(dtype, backend), args.calls))

if __name__ == "__main__":
    main()
