"""Milliseconds per 2-D convolution pass: the Numba kernels against PyTorch CPU and the engine's im2col.

Run as ``python benchmarks/bench_conv.py [--quick] [--json results.json]`` from the repository
root (``--quick``: one timed call per cell, a smoke run; ``--json``: also write the results to
that file). At the lessons' sizes (:data:`CASES`, PyTorch's layout ``x (N, C, H, W)``,
``w (C_out, C, k, k)``): the 8x8 digits (64 and 1257 images, 16 filters 3x3 with padding 1 or
5x5 with padding 2) and the 32x32 natural-image crops (64 and 512 crops, 16 filters 8x8, stride
2, padding 3), in float64 and float32, it times

* **numba**: :mod:`tinysae.backends._numba_conv`'s ``conv2d_forward``, ``conv2d_input_grad``,
  ``conv2d_weight_grad``, and the three one after the other ("forward + backward");
* **torch**: ``torch.nn.functional.conv2d`` under ``torch.no_grad()`` ("forward"), and with
  ``x`` and ``w`` requiring gradients followed by ``y.backward(G)``, which computes both
  gradients ("forward + backward");
* **numpy**: the engine's functions of the same names (:mod:`tinysae.autograd.conv`: windows
  and one matrix product), forward and forward + backward;

and prints each speed-up of numba (the other's ms over numba's, from this same run) with the
thread counts (numba's, PyTorch's, the BLAS pool's). Then one evaluation (loss, the four
gradients and the terms) of :class:`tinysae.models.ConvolutionalSAE` at the crops' size
(:data:`MODEL_CASE`) by the ``autograd``, ``numpy`` and ``numba`` backends. A cell is the
fastest of its timed calls after a warm-up (:func:`bench_backends.time_ms`). PyTorch is a
yardstick here, never a dependency of tinysae: without it the script stops and says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from bench_backends import describe_machine, load, time_ms

from tinysae.autograd import conv as engine
from tinysae.backends import _numba_conv as kernels
from tinysae.backends import get_backend, numba_cpu
from tinysae.models import Batch, ConvolutionalSAE


@dataclass(frozen=True)
class Case:
    """One lesson's convolution: ``n`` images of ``channels x side x side``, ``filters`` filters
    of ``kernel x kernel``, ``stride`` and ``padding`` (the same on both axes)."""

    name: str
    n: int
    channels: int
    side: int
    filters: int
    kernel: int
    stride: int
    padding: int

    def label(self) -> str:
        return (f"{self.name} N={self.n} {self.filters}x{self.kernel}x{self.kernel} "
                f"s{self.stride} p{self.padding}")


CASES = [
    Case("digits", 64, 1, 8, 16, 3, 1, 1),
    Case("digits", 1257, 1, 8, 16, 3, 1, 1),
    Case("digits", 64, 1, 8, 16, 5, 1, 2),
    Case("digits", 1257, 1, 8, 16, 5, 1, 2),
    Case("crops", 64, 1, 32, 16, 8, 2, 3),
    Case("crops", 512, 1, 32, 16, 8, 2, 3),
]
DTYPES = (np.float64, np.float32)
#: The rows of each case's block: (backend, pass).
BOTH, MODEL = "forward + backward", "model evaluation"
ROWS = [("numba", "forward"), ("numba", "input grad"), ("numba", "weight grad"), ("numba", BOTH),
        ("torch", "forward"), ("torch", BOTH), ("numpy", "forward"), ("numpy", BOTH)]
#: The speed-ups printed under each block: numba against (backend, pass).
RATIOS = [("torch", "forward"), ("torch", BOTH), ("numpy", "forward"), ("numpy", BOTH)]

#: The convolutional model of the natural-image lesson, evaluated by each of :data:`MODEL_BACKENDS`.
MODEL_CASE = Case("crops", 64, 1, 32, 16, 8, 2, 3)
MODEL_BACKENDS = ("autograd", "numpy", "numba")

Call = Callable[[], object]


def import_torch():
    """PyTorch, or exit with a message: it is the yardstick of this benchmark only."""
    try:
        import torch
    except ImportError:
        sys.exit("bench_conv.py compares the Numba kernels with PyTorch CPU, which is not installed: "
                 "pip install torch (a yardstick only, not a dependency of tinysae)")
    return torch


def calls(case: Case, dtype: type, torch) -> dict[tuple[str, str], Call]:
    """The zero-argument call timed for each row of :data:`ROWS`, on one case's arrays."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (case.n, case.channels, case.side, case.side)).astype(dtype)
    w = rng.normal(0, 0.1, (case.filters, case.channels, case.kernel, case.kernel)).astype(dtype)
    stride, padding, kernel, size = (case.stride,) * 2, (case.padding,) * 2, w.shape[2:], x.shape[2:]
    g = rng.normal(size=engine.conv2d_forward(x, w, stride, padding).shape).astype(dtype)
    xt, wt, gt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(g)

    def numba_all() -> None:
        kernels.conv2d_forward(x, w, stride, padding)
        kernels.conv2d_input_grad(g, w, size, stride, padding)
        kernels.conv2d_weight_grad(g, x, kernel, stride, padding)

    def numpy_all() -> None:
        engine.conv2d_forward(x, w, stride, padding)
        engine.conv2d_input_grad(g, w, size, stride, padding)
        engine.conv2d_weight_grad(g, x, kernel, stride, padding)

    def torch_forward() -> None:
        with torch.no_grad():
            torch.nn.functional.conv2d(xt, wt, stride=stride, padding=padding)

    def torch_all() -> None:
        xg, wg = xt.detach().requires_grad_(True), wt.detach().requires_grad_(True)
        torch.nn.functional.conv2d(xg, wg, stride=stride, padding=padding).backward(gt)

    return {
        ("numba", "forward"): lambda: kernels.conv2d_forward(x, w, stride, padding),
        ("numba", "input grad"): lambda: kernels.conv2d_input_grad(g, w, size, stride, padding),
        ("numba", "weight grad"): lambda: kernels.conv2d_weight_grad(g, x, kernel, stride, padding),
        ("numba", BOTH): numba_all,
        ("torch", "forward"): torch_forward,
        ("torch", BOTH): torch_all,
        ("numpy", "forward"): lambda: engine.conv2d_forward(x, w, stride, padding),
        ("numpy", BOTH): numpy_all,
    }


def model_calls(case: Case, dtype: type) -> dict[str, Call]:
    """One evaluation of the :class:`ConvolutionalSAE` of ``case`` (the default objective) on
    ``case.n`` images, for each backend of :data:`MODEL_BACKENDS`."""
    model = ConvolutionalSAE((case.channels, case.side, case.side), case.filters, case.kernel, case.stride,
                             case.padding)
    params = model.init_params(0).astype(dtype)
    batch = Batch(np.random.default_rng(0).uniform(0, 1, (case.n, model.n_features)).astype(dtype))
    modules = {name: get_backend(name, model) for name in MODEL_BACKENDS}
    return {name: (lambda module=module: module.evaluate(model, params, batch))
            for name, module in modules.items()}


def run(cases: list[Case], repeats: int, budget_s: float, torch) -> dict[tuple[str, str, str, str], float]:
    """ms for every (case label, dtype name, backend, pass); the model's evaluations under the
    pass ``"model evaluation"``."""
    times = {}
    for case in cases:
        for dtype in DTYPES:
            for (backend, name), call in calls(case, dtype, torch).items():
                times[case.label(), np.dtype(dtype).name, backend, name] = time_ms(call, repeats, budget_s)
    for dtype in DTYPES:
        for backend, call in model_calls(MODEL_CASE, dtype).items():
            times[MODEL_CASE.label(), np.dtype(dtype).name, backend, MODEL] = time_ms(call, repeats, budget_s)
    return times


def table(times: dict, cases: list[Case]) -> str:
    """One block per case: a row per (backend, pass), a column per dtype, then the speed-ups."""
    names = [np.dtype(d).name for d in DTYPES]
    header = f"{'case':<30} {'':<34}" + "".join(f"{name:>10}" for name in names)
    lines = [header, "-" * len(header)]
    for case in cases:
        label = key = case.label()
        for backend, name in ROWS:
            row = "".join(f"{times[key, d, backend, name]:>10.2f}" for d in names)
            lines.append(f"{label:<30} {backend + ' ' + name + ' ms':<34}{row}")
            label = ""
        for backend, name in RATIOS:
            ratios = [times[key, d, backend, name] / times[key, d, "numba", name] for d in names]
            lines.append(f"{'':<30} {'numba vs ' + backend + ' ' + name:<34}"
                         + "".join(f"{ratio:>9.2f}x" for ratio in ratios))
        lines.append("")
    key = MODEL_CASE.label()
    labels = ["ConvolutionalSAE", key] + [""] * len(MODEL_BACKENDS)
    for label, backend in zip(labels, MODEL_BACKENDS):
        row = "".join(f"{times[key, d, backend, MODEL]:>10.2f}" for d in names)
        lines.append(f"{label:<30} {backend + ' evaluation ms':<34}{row}")
    for backend in MODEL_BACKENDS[:-1]:
        ratios = [times[key, d, backend, MODEL] / times[key, d, "numba", MODEL] for d in names]
        lines.append(f"{'':<30} {'numba vs ' + backend:<34}" + "".join(f"{ratio:>9.2f}x" for ratio in ratios))
    lines.append("")
    lines.append("ms = fastest of the timed calls after a warm-up; numba vs X = X's ms / numba's ms, "
                 "same run (above 1: numba is faster); an evaluation = loss + 4 gradients + terms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed call per cell (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per cell at least (default 5)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")
    torch = import_torch()
    threads = numba_cpu._start_threads()  # numba's threads, started as the backend starts them
    print(f"load average at start: {load()}")
    times = run(CASES, repeats, budget_s=0.0 if args.quick else 1.0, torch=torch)
    for line in describe_machine():
        print(line)
    print(f"numba threading layer: {numba_cpu.threading_layer()}, numba threads: {threads}, "
          f"torch threads: {torch.get_num_threads()}")
    print(f"load average at end: {load()}\n")
    print(table(times, CASES))
    if args.json:
        rows = [{"case": case, "dtype": dtype, "backend": backend, "pass": name, "ms": ms}
                for (case, dtype, backend, name), ms in times.items()]
        with open(args.json, "w") as f:
            json.dump({"numba_threads": threads, "torch_threads": torch.get_num_threads(), "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
