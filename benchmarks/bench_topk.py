"""Milliseconds per TopK SAE step (loss + 4 gradients): sparse Numba kernels against a dense PyTorch CPU SAE.

Run as ``python benchmarks/bench_topk.py [--quick] [--auxk]`` from the repository root
(``--quick``: the smaller dictionary in float32 only, one timed call per cell, a smoke run;
``--auxk``: every step with the AuxK term, timed whole only). At ``m = 4096`` samples of
``n = 512`` features, ``k = 32``, dictionaries of ``F = 4096`` and ``16384`` latents, in float32
and float64, it times

* **ours**: :func:`tinysae.backends._numba_topk.topk_loss_and_grad`, whole, and its phases one
  by one with the module's public functions: the encoder product ``Z2 = (X - b2) W1^T`` (numpy's
  BLAS), the selection (:func:`topk_rows`, which adds ``b1``), the sparse decode and the loss
  (:func:`sparse_decode`, ``D3``), and the sparse backward pass (:func:`sparse_backward`,
  ``db2``);
* **torch**: the usual dense TopK SAE, ``torch.topk`` on the dense pre-activations, the kept
  values scattered into a dense ``(m, F)`` ``H``, a dense decoder product, and autograd's
  backward pass; its phases timed inside one step (PyTorch CPU runs each op before returning),
  whose total is its whole step.

Both run with 2 threads: threadpoolctl holds numpy's BLAS to 2, ``torch.set_num_threads(2)``,
``numba.set_num_threads(2)`` (numba's threads started as the numba backend starts them, the
``workqueue`` layer). A cell is the fastest of its timed calls after a warm-up, which also
compiles the kernels or loads them from numba's cache; a phase is the fastest of that phase
over the timed instrumented steps. The ratio is torch's ms over ours (above 1: ours is faster).

From the same weights and data, the run also checks that both give the same loss and
gradients (relative error ``||a - b|| / ||a + b||`` below 1e-5 in float32, 1e-10 in float64).
The two compute ``Z2`` by different BLAS libraries, so where two of a row's pre-activations are
closer than their rounding errors the two may keep different latents at the k-th place: the
rows where the kept sets differ are counted and printed, and the comparison is made again on the
other rows (rows are independent: each row's selection is its own). PyTorch is a yardstick
here, never a dependency of tinysae: without it the script stops and says so.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from bench_backends import describe_machine, load, time_ms
from threadpoolctl import threadpool_limits

from tinysae.autograd import relative_error
from tinysae.backends import _numba_topk as topk
from tinysae.backends import numba_cpu

M, N, K = 4096, 512, 32
DICTIONARIES = (4096, 16384)
DTYPES = (np.float32, np.float64)
THREADS = 2
#: AuxK's settings (Gao et al. 2024: aux_k = 512 at their sizes, coefficient 1/32): a quarter of
#: the latents dead.
AUX_K, AUX_COEFFICIENT, DEAD_FRACTION = 256, 1 / 32, 0.25
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}
PHASES = ("encode matmul", "selection", "decode + loss", "backward")
GRADS = ("W1", "b1", "W2", "b2")


@dataclass(frozen=True)
class Problem:
    """Weights and data of one cell: ``W_dec (F, n)`` unit-norm rows (``W2 = W_dec.T``), the
    encoder initialised to the decoder's transpose as in Gao et al., ``b1 = 0``, ``b2`` the
    data's mean; ``dead`` a mask of dead latents (AuxK) or None."""

    W1: np.ndarray
    b1: np.ndarray
    W_dec: np.ndarray
    b2: np.ndarray
    X: np.ndarray
    dead: np.ndarray | None

    @property
    def aux(self) -> tuple:
        """``(dead, aux_k, aux_coefficient)`` for :func:`topk_loss_and_grad`."""
        return (self.dead, AUX_K, AUX_COEFFICIENT) if self.dead is not None else (None, 0, 0.0)

    def rows(self, keep: np.ndarray) -> Problem:
        """The same weights on the rows ``keep`` of the data."""
        return Problem(self.W1, self.b1, self.W_dec, self.b2, np.ascontiguousarray(self.X[keep]), self.dead)


def problem(F: int, dtype: type, auxk: bool) -> Problem:
    rng = np.random.default_rng(0)
    W_dec = rng.normal(size=(F, N))
    W_dec /= np.linalg.norm(W_dec, axis=1, keepdims=True)
    X = rng.normal(size=(M, N)) + rng.normal(size=N)
    dead = rng.random(F) < DEAD_FRACTION if auxk else None
    return Problem(np.ascontiguousarray(W_dec).astype(dtype), np.zeros(F, dtype), W_dec.astype(dtype),
                   X.mean(axis=0).astype(dtype), X.astype(dtype), dead)


def import_torch():
    """PyTorch, or exit with a message: it is the yardstick of this benchmark only."""
    try:
        import torch
    except ImportError:
        sys.exit("bench_topk.py compares the Numba kernels with PyTorch CPU, which is not installed: "
                 "pip install torch (a yardstick only, not a dependency of tinysae)")
    return torch


Step = tuple[float, dict[str, np.ndarray]]


def ours_total(p: Problem) -> Step:
    """One step by :func:`topk_loss_and_grad`."""
    return topk.topk_loss_and_grad(p.W1, p.b1, p.W_dec.T, p.b2, p.X, K, *p.aux)


def ours_kept(p: Problem) -> list[np.ndarray]:
    """The latents :func:`topk_loss_and_grad` keeps: ``idx`` (and AuxK's, without its padding)."""
    Z2 = (p.X - p.b2) @ p.W1.T
    kept = [topk.topk_rows(Z2, K, p.b1)[0]]
    if p.dead is not None:
        kept.append(topk.topk_rows_masked(Z2, AUX_K, p.dead, p.b1)[0][:, : min(AUX_K, int(p.dead.sum()))])
    return kept


def ours_phases(p: Problem, marks: list[float]) -> Step:
    """The step without AuxK phase by phase with the module's public functions, appending a time
    stamp after each phase to ``marks``."""
    marks.append(time.perf_counter())
    Xc = p.X - p.b2
    Z2 = Xc @ p.W1.T
    marks.append(time.perf_counter())
    idx, val = topk.topk_rows(Z2, K, p.b1)
    marks.append(time.perf_counter())
    residual = topk.sparse_decode(idx, val, p.W_dec, p.b2) - p.X
    J = float(np.square(residual).sum()) / (2 * M)
    D3 = residual / p.X.dtype.type(p.X.shape[0])
    marks.append(time.perf_counter())
    _, dW_dec, dW1, db1 = topk.sparse_backward(D3, Xc, idx, val, p.W_dec)
    db2 = D3.sum(axis=0) - db1 @ p.W1
    marks.append(time.perf_counter())
    return J, {"W1": dW1, "b1": db1, "W2": dW_dec.T, "b2": db2}


def torch_step(torch, p: Problem, marks: list[float], kept: list | None = None) -> Step:
    """The dense TopK SAE in PyTorch: ``torch.topk``, a dense ``H``, ``loss.backward()``; the
    kept latents (main and AuxK) appended to ``kept`` when given."""
    X = torch.from_numpy(p.X)
    W1, b1, W_dec, b2 = (torch.from_numpy(a).requires_grad_(True) for a in (p.W1, p.b1, p.W_dec, p.b2))
    m = X.shape[0]
    marks.append(time.perf_counter())
    Xc = X - b2
    Z2 = torch.addmm(b1, Xc, W1.T)
    marks.append(time.perf_counter())
    values, indices = torch.topk(Z2, K, dim=1)
    H = torch.zeros_like(Z2).scatter(1, indices, torch.relu(values))
    marks.append(time.perf_counter())
    Xhat = H @ W_dec + b2
    loss = ((Xhat - X) ** 2).sum() / (2 * m)
    if p.dead is not None:
        dead = torch.from_numpy(p.dead)
        Z_dead = Z2.masked_fill(~dead, float("-inf"))
        aux_values, aux_indices = torch.topk(Z_dead, min(AUX_K, int(p.dead.sum())), dim=1)
        H_aux = torch.zeros_like(Z2).scatter(1, aux_indices, torch.relu(aux_values))
        indices = (indices, aux_indices)
        E = (X - Xhat).detach()
        loss = loss + AUX_COEFFICIENT * ((E - H_aux @ W_dec) ** 2).sum() / (2 * m)
    marks.append(time.perf_counter())
    loss.backward()
    marks.append(time.perf_counter())
    grads = {"W1": W1.grad.numpy(), "b1": b1.grad.numpy(), "W2": W_dec.grad.numpy().T, "b2": b2.grad.numpy()}
    if kept is not None:
        kept.extend(i.numpy() for i in (indices if isinstance(indices, tuple) else (indices,)))
    return float(loss.detach()), grads


def best_phases(step: Callable[[list[float]], Step], repeats: int) -> dict[str, float]:
    """ms of each phase (and ``"total"``, the instrumented step's), the fastest over ``repeats``
    steps after a warm-up."""
    step([])
    best = {name: float("inf") for name in (*PHASES, "total")}
    for _ in range(repeats):
        marks: list[float] = []
        step(marks)
        for name, start, stop in zip(PHASES, marks, marks[1:]):
            best[name] = min(best[name], 1e3 * (stop - start))
        best["total"] = min(best["total"], 1e3 * (marks[-1] - marks[0]))
    return best


def kept_sets_differ(ours: list[np.ndarray], theirs: list[np.ndarray]) -> np.ndarray:
    """``(m,)`` bool: the rows where the two kept different sets of latents (main or AuxK)."""
    differ = np.zeros(M, bool)
    for a, b in zip(ours, theirs, strict=True):
        differ |= (np.sort(a, axis=1) != np.sort(b, axis=1)).any(axis=1)
    return differ


def compare(torch, p: Problem, dtype: type) -> str:
    """Both implementations from ``p``: the rows whose kept sets differ, and the worst relative
    error of the loss and gradients on the other rows (all rows when none differ)."""
    theirs: list[np.ndarray] = []
    J, grads = ours_total(p)
    J_torch, torch_grads = torch_step(torch, p, [], theirs)
    differ = kept_sets_differ(ours_kept(p), theirs)
    if differ.any():
        same = p.rows(~differ)
        J, grads = ours_total(same)
        J_torch, torch_grads = torch_step(torch, same, [])
    errors = {"J": relative_error(J, J_torch)}
    errors |= {name: relative_error(grads[name], torch_grads[name]) for name in GRADS}
    worst = max(errors, key=errors.get)
    verdict = "same" if errors[worst] < TOLERANCE[dtype] else "DIFFERENT"
    n_differ = int(differ.sum())
    return (f"{verdict}: worst relative error {errors[worst]:.1e} ({worst}; tolerance {TOLERANCE[dtype]:.0e})"
            f" on {M - n_differ} of {M} rows ({n_differ} rows kept other latents at the k-th place)")


def run_cell(torch, F: int, dtype: type, auxk: bool,
             repeats: int) -> tuple[dict | None, dict, float, float, str]:
    """Phase times (ours: None with AuxK, which the phases leave out), whole-step times, check."""
    p = problem(F, dtype, auxk)
    ours = None if auxk else best_phases(lambda marks: ours_phases(p, marks), repeats)
    theirs = best_phases(lambda marks: torch_step(torch, p, marks), repeats)
    total = time_ms(lambda: ours_total(p), repeats)
    return ours, theirs, total, theirs["total"], compare(torch, p, dtype)


def print_cell(label: str, ours: dict | None, theirs: dict, total: float, torch_total: float,
               check: str) -> None:
    """One block: a row per phase (without AuxK), the whole step, the check."""
    print(f"{label:<52}{'ours ms':>12}{'torch ms':>12}{'torch/ours':>12}")
    for name in (*PHASES, "total") if ours is not None else ():
        row = "forward + backward, phase by phase" if name == "total" else name
        print(f"  {row:<50}{ours[name]:>12.1f}{theirs[name]:>12.1f}{theirs[name] / ours[name]:>11.2f}x")
    print(f"  {'forward + backward (whole step)':<50}{total:>12.1f}{torch_total:>12.1f}"
          f"{torch_total / total:>11.2f}x")
    print(f"  check: {check}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="F = 4096, float32, one timed call (smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per cell (default 3)")
    parser.add_argument("--auxk", action="store_true",
                        help=f"add AuxK (aux_k = {AUX_K}, coefficient {AUX_COEFFICIENT:g}, "
                             f"{DEAD_FRACTION:.0%} of the latents dead)")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    if repeats < 1:
        parser.error(f"--repeats must be >= 1, got {repeats}")
    dictionaries, dtypes = (DICTIONARIES[:1], DTYPES[:1]) if args.quick else (DICTIONARIES, DTYPES)
    torch = import_torch()
    numba_cpu._start_threads()
    numba.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    print(f"load average at start: {load()}")
    with threadpool_limits(limits=THREADS, user_api="blas"):
        cells = [(F, dtype, run_cell(torch, F, dtype, args.auxk, repeats))
                 for dtype in dtypes for F in dictionaries]
        machine = describe_machine()
    for line in machine:
        print(line)
    print(f"numba threading layer: {numba_cpu.threading_layer()}, numba threads: {numba.get_num_threads()}, "
          f"torch threads: {torch.get_num_threads()}")
    print(f"load average at end: {load()}\n")
    for F, dtype, cell in cells:
        aux = f", AuxK aux_k={AUX_K}" if args.auxk else ""
        print_cell(f"m={M} n={N} F={F} k={K} {np.dtype(dtype).name}{aux}", *cell)
    print("ms = fastest of the timed calls after a warm-up; torch/ours = torch's ms / ours, same run "
          "(above 1: ours is faster); a step = loss + 4 gradients")


if __name__ == "__main__":
    main()
