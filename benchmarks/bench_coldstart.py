"""The Numba backend's cold start: import, compilation and the first evaluation, kernel by kernel.

Run as ``python benchmarks/bench_coldstart.py`` (``--no-cli`` to leave out the ``tinysae train``
run, ``--dtype float32`` for one dtype only). For each dtype it starts a fresh Python process
with an empty temporary ``NUMBA_CACHE_DIR`` (the **cold** run: nothing compiled yet), then
another with the cache that run left (the **warm** run: a first call after the kernels were
compiled once, as after the first use of an install), and each process times, at the UFLDL
shape (m = 10000, n = 64, k = 25, sigmoid, KL):

* ``import tinysae`` (which imports no numba);
* ``import tinysae.backends.numba_cpu`` (numba, llvmlite and the kernel modules);
* the first ``tinysae.loss_and_grad(params, X, objective, backend="numba")``: compilation
  (cold) or loading from the cache (warm), plus one evaluation;
* the median of 10 later calls (the warm evaluation itself);

and the process's CPU time for the imports and the first call (compilation is single-threaded:
other work on a shared machine inflates it less than the wall-clock time).

**Which kernels compiled, and how long each took.** Numba 0.68 announces every compilation as
a ``"numba:compile"`` event (:mod:`numba.core.event`): ``Dispatcher.compile`` triggers it
around ``self._compiler.compile(args, return_type)`` only, i.e. after a cache miss and before
the result is saved to the cache; its data holds the dispatcher and the argument types. The
child installs a :class:`numba.core.event.Listener` (a subclass: ``install_listener`` checks)
for that kind and records each compilation's start, end and the compilation it is nested in: a
kernel's callees that are dispatchers of their own (tinysae's serial kernels, numba's library
code such as ``np.dot``) compile inside its typing. The table gives, per tinysae kernel, the
inclusive time, the time of the numba library code compiled for it and the self time (the
inclusive time less every nested compilation). Loading from the cache triggers no event; the warm run lists
instead each dispatcher's cache hits (``Dispatcher._cache_hits``, a counter by signature).
After the call, ``Dispatcher.signatures`` of every kernel in the kernel modules says which were
compiled or loaded at all.

Last, ``tinysae train --max-iter 1 --backend numba`` (the CLI's UFLDL run, one L-BFGS
iteration, data loading and the filter image included) is timed as a whole process, cold and
warm, in float64.

The machine may be shared: the times are noisy; run it twice.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

M, N, K = 10_000, 64, 25
LATER_CALLS = 10


def _child(dtype_name: str) -> None:
    """In a fresh process: time the imports, the first call and later calls; print one JSON line."""
    start, cpu = time.perf_counter(), time.process_time()
    import tinysae

    import_tinysae = time.perf_counter() - start
    start = time.perf_counter()
    from tinysae.backends import numba_cpu  # noqa: F401  (numba, llvmlite, the kernel modules)

    import_backend = time.perf_counter() - start
    import_cpu = time.process_time() - cpu

    import numpy as np
    from numba.core import event

    events: list[dict] = []
    listener = _compile_listener(events)
    dtype = np.dtype(dtype_name)
    params = tinysae.init_params(N, K, 0)
    params = tinysae.Params({name: value.astype(dtype) for name, value in params.items()})
    X = np.random.default_rng(0).random((M, N)).astype(dtype)
    objective = tinysae.Objective()
    with event.install_listener("numba:compile", listener):
        start, cpu = time.perf_counter(), time.process_time()
        tinysae.loss_and_grad(params, X, objective, backend="numba")
        first_call, first_call_cpu = time.perf_counter() - start, time.process_time() - cpu
    later = []
    for _ in range(LATER_CALLS):
        start = time.perf_counter()
        tinysae.loss_and_grad(params, X, objective, backend="numba")
        later.append(time.perf_counter() - start)
    print(json.dumps({
        "import_tinysae": import_tinysae, "import_backend": import_backend, "first_call": first_call,
        "cpu": import_cpu + first_call_cpu,
        "later_median": statistics.median(later), "compiles": _self_times(events), "kernels": _kernels(),
    }))


def _compile_listener(events: list[dict]):  # -> numba.core.event.Listener
    """A listener of ``"numba:compile"`` events appending one record per compilation to ``events``,
    in the order they start: its name, arguments, start and end, and ``parent``, the index of the
    compilation it is nested in (None at the top). Defined here, once numba is imported: the
    parent process never imports it."""
    from numba.core import event

    class CompileListener(event.Listener):
        def __init__(self) -> None:
            self.open: list[dict] = []

        def on_start(self, ev: event.Event) -> None:
            dispatcher = ev.data["dispatcher"]
            record = {"name": f"{dispatcher.py_func.__module__}.{dispatcher.__name__}",
                      "args": ", ".join(map(str, ev.data["args"])), "start": time.perf_counter(),
                      "parent": self.open[-1]["index"] if self.open else None, "index": len(events)}
            events.append(record)
            self.open.append(record)

        def on_end(self, ev: event.Event) -> None:
            self.open.pop()["end"] = time.perf_counter()

    return CompileListener()


def _self_times(events: list[dict]) -> list[dict]:
    """One row per compilation of a tinysae kernel: its inclusive time, its self time (less every
    compilation nested in it) and ``library``, the time of the numba library code (``np.dot``,
    ``min``, ...) compiled for it; ``depth`` is how many tinysae kernels it is nested in."""
    inclusive = [record["end"] - record["start"] for record in events]
    ours = [record["name"].startswith("tinysae.") for record in events]
    rows = {}
    for record in events:
        i, parent = record["index"], record["parent"]
        if ours[i]:
            depth = 0 if parent is None else rows[_owner(events, ours, parent)]["depth"] + 1
            module, name = record["name"].rsplit(".", 2)[-2:]
            rows[i] = {"name": f"{module}.{name}", "args": record["args"], "depth": depth,
                       "inclusive": inclusive[i], "self": inclusive[i], "library": 0.0}
        if parent is not None:
            rows_parent = rows.get(parent)
            if rows_parent is not None:
                rows_parent["self"] -= inclusive[i]
                if not ours[i]:
                    rows_parent["library"] += inclusive[i]
    return list(rows.values())


def _owner(events: list[dict], ours: list[bool], index: int) -> int:
    """The index of the tinysae kernel compilation that compilation ``index`` is, or is nested in."""
    while not ours[index]:
        index = events[index]["parent"]
    return index


def _kernels() -> list[dict]:
    """Every dispatcher of the kernel modules imported now, with its signatures and cache hits."""
    from numba.core.registry import CPUDispatcher

    rows = []
    for module_name in ("_numba_kernels", "_numba_conv", "_numba_topk"):
        module = sys.modules.get(f"tinysae.backends.{module_name}")
        if module is None:
            continue
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module.__name__:
                rows.append({"name": f"{module_name}.{name}", "signatures": len(value.signatures),
                             "cache_hits": sum(value._cache_hits.values())})
    return rows


def _run_child(dtype_name: str, cache_dir: str) -> tuple[dict, float]:
    """One child process with ``NUMBA_CACHE_DIR=cache_dir``: its report and its wall time."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    start = time.perf_counter()
    child = subprocess.run([sys.executable, __file__, "--child", dtype_name], env=env, capture_output=True,
                           text=True)
    if child.returncode != 0:
        raise RuntimeError(f"the {dtype_name} child process failed:\n{child.stderr}")
    return json.loads(child.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def _run_cli(cache_dir: str, workdir: str) -> float:
    """Wall time of ``tinysae train --max-iter 1 --backend numba`` in a fresh process."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    command = [sys.executable, "-m", "tinysae.cli", "train", "--max-iter", "1", "--backend", "numba",
               "--quiet", "--out", os.path.join(workdir, "filters.png")]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=workdir)
    return time.perf_counter() - start


def _print_run(label: str, report: dict, wall: float) -> None:
    total = report["import_tinysae"] + report["import_backend"] + report["first_call"]
    print(f"  {label}: import tinysae {report['import_tinysae']:.2f} s, import numba backend "
          f"{report['import_backend']:.2f} s, first call {report['first_call']:.2f} s "
          f"(import + first call {total:.2f} s, CPU time {report['cpu']:.2f} s; process {wall:.2f} s); "
          f"later calls {1e3 * report['later_median']:.2f} ms (median of {LATER_CALLS})")


def _print_compiles(report: dict) -> None:
    """The table of compilations of tinysae's kernels, nested ones indented."""
    compiles = report["compiles"]
    if not compiles:
        print("    no compilation (all from the cache)")
        return
    print(f"    {'compiled':<38} {'self s':>7} {'numba lib s':>11} {'incl. s':>8}  arguments")
    for row in compiles:
        name = "  " * row["depth"] + row["name"]
        args = row["args"] if len(row["args"]) <= 50 else row["args"][:47] + "..."
        print(f"    {name:<38} {row['self']:7.2f} {row['library']:11.2f} {row['inclusive']:8.2f}  ({args})")
    top = sum(row["inclusive"] for row in compiles if row["depth"] == 0)
    print(f"    {'total':<38} {'':7} {'':11} {top:8.2f}")


def _print_cache(report: dict) -> None:
    used = [row for row in report["kernels"] if row["signatures"]]
    print("    loaded: " + ", ".join(f"{row['name']} ({row['cache_hits']} from cache)" for row in used))
    unused = len(report["kernels"]) - len(used)
    print(f"    {unused} other kernels of the imported modules: not compiled, not loaded")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", choices=["float64", "float32"], action="append")
    parser.add_argument("--no-cli", action="store_true", help="do not time the tinysae train run")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child)
        return
    print(f"Numba backend cold start, UFLDL shape m={M}, n={N}, k={K} (noisy on a shared machine)")
    for dtype_name in args.dtype or ["float64", "float32"]:
        with tempfile.TemporaryDirectory(prefix="tinysae-numba-cache-") as cache_dir:
            print(f"{dtype_name}")
            cold, wall = _run_child(dtype_name, cache_dir)
            _print_run("cold (empty cache)", cold, wall)
            _print_compiles(cold)
            warm, wall = _run_child(dtype_name, cache_dir)
            _print_run("warm (cache filled)", warm, wall)
            _print_cache(warm)
    if not args.no_cli:
        with tempfile.TemporaryDirectory(prefix="tinysae-numba-cache-") as cache_dir:
            cold = _run_cli(cache_dir, cache_dir)
            warm = _run_cli(cache_dir, cache_dir)
        print(f"tinysae train --max-iter 1 --backend numba (whole process, float64): cold {cold:.2f} s, "
              f"warm {warm:.2f} s")


if __name__ == "__main__":
    main()
