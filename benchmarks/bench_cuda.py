"""``backend="cuda"`` against the same objective in PyTorch on the same GPU, per evaluation.

For each shape ``(m, n, k)`` and dtype it times one evaluation of ``J`` and its four gradients:

* ``tinysae host``: :func:`tinysae.backends.numba_cuda.evaluate` on the classic model
  (:class:`tinysae.ClassicSAE`), host arrays in and out: loss, gradients and terms (what
  ``backend="cuda"`` costs per L-BFGS iteration or through :func:`tinysae.evaluate`, less the
  input validation);
* ``tinysae device``: the same kernels with data and parameters already on the GPU and only the
  loss copied back (what each step of :func:`~tinysae.backends.numba_cuda.adam_device` costs);
* ``torch host`` / ``torch device``: the objective written with torch tensors and differentiated
  by ``torch.autograd``, with the same two conventions.

It prints milliseconds (median of ``repeats``) and the ratios tinysae / torch, and checks that
both agree (relative error of the loss and the gradients). Run it on a machine with a CUDA GPU,
PyTorch and numba-cuda: ``python benchmarks/bench_cuda.py``. Without them it exits saying what
is missing.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from tinysae import Batch, ClassicSAE, Objective, Params, init_params

SHAPES = ((10000, 64, 25), (10000, 784, 196), (4096, 512, 4096))
DTYPES = ("float32", "float64")
#: The classic's parameters, in the order ``torch_loss`` takes them.
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denominator = np.linalg.norm(a + b)
    return 0.0 if denominator == 0 else float(np.linalg.norm(a - b) / denominator)


def _median_ms(fn: Callable[[], object], synchronize: Callable[[], None], repeats: int) -> float:
    """Median wall time of ``fn()`` in milliseconds, the GPU synchronised after each call."""
    fn()  # warm-up: compiles kernels, fills caches
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def torch_loss(torch, W1, b1, W2, b2, X, objective: Objective):
    """docs/design.md's objective with torch tensors (rows are samples), for ``torch.autograd``."""
    m = X.shape[0]
    Z2 = X @ W1.T + b1
    H = torch.sigmoid(Z2) if objective.activation == "sigmoid" else torch.relu(Z2)
    rho_hat = H.mean(dim=0)
    Z3 = H @ W2.T + b2
    Xhat = torch.sigmoid(Z3) if objective.output == "sigmoid" else Z3
    J = ((Xhat - X) ** 2).sum() / (2 * m)
    J = J + objective.weight_decay / 2 * ((W1**2).sum() + (W2**2).sum())
    rho = objective.rho
    if objective.penalty == "kl":
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        J = J + objective.beta * kl.sum()
    elif objective.penalty == "l1":
        J = J + objective.beta * H.abs().sum() / m
    return J


def _problem(m: int, n: int, k: int, dtype: str, seed: int = 0) -> tuple[Params, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = init_params(n, k, seed=rng).astype(dtype)
    X = rng.uniform(0.0, 1.0, size=(m, n)).astype(dtype)
    return params, X


def bench_one(m: int, n: int, k: int, dtype: str, objective: Objective, repeats: int) -> dict[str, float]:
    """Times (ms) of the four variants and the agreement of tinysae with torch, for one case."""
    import torch
    from numba import cuda

    from tinysae.backends import numba_cuda
    from tinysae.backends.numba_cuda import TILE, _DeviceParams, _kernels, _Workspace

    params, X = _problem(m, n, k, dtype)
    model, batch = ClassicSAE(n, k, objective), Batch(X)
    device = torch.device("cuda")

    # tinysae, host arrays in and out (the backend's evaluate, as training calls it)
    def tinysae_host():
        return numba_cuda.evaluate(model, params, batch)

    # tinysae, everything already on the device (the adam_device inner step)
    workspace = _Workspace(cuda, _kernels(np.dtype(dtype), TILE), m, n, k)
    P = _DeviceParams.upload(cuda, params, np.dtype(dtype))
    X_d = cuda.to_device(X)
    out = cuda.device_array(1, np.dtype(dtype))

    def tinysae_device():
        workspace.evaluate(P, X_d, objective, out, 0)
        return out.copy_to_host()[0]

    # torch
    def torch_host():
        tensors = [torch.from_numpy(params[name]).to(device).requires_grad_() for name in PARAM_NAMES]
        J = torch_loss(torch, *tensors, torch.from_numpy(X).to(device), objective)
        J.backward()
        return J.item(), [t.grad.cpu().numpy() for t in tensors]

    leaves = [torch.from_numpy(params[name]).to(device).requires_grad_() for name in PARAM_NAMES]
    X_t = torch.from_numpy(X).to(device)

    def torch_device():
        for leaf in leaves:
            leaf.grad = None
        J = torch_loss(torch, *leaves, X_t, objective)
        J.backward()
        return J.item()

    times = {
        "tinysae host": _median_ms(tinysae_host, cuda.synchronize, repeats),
        "tinysae device": _median_ms(tinysae_device, cuda.synchronize, repeats),
        "torch host": _median_ms(torch_host, torch.cuda.synchronize, repeats),
        "torch device": _median_ms(torch_device, torch.cuda.synchronize, repeats),
    }
    evaluation = tinysae_host()
    torch_J, torch_grads = torch_host()
    times["loss rel err"] = _rel_err(evaluation.loss, torch_J)
    errors = [_rel_err(evaluation.grads[name], grad) for name, grad in zip(PARAM_NAMES, torch_grads)]
    times["grad rel err"] = max(errors)
    return times


def why_unavailable() -> str | None:
    """None when this benchmark can run here, else a message saying what is missing."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return "NUMBA_ENABLE_CUDASIM is set: the CUDA simulator is far too slow to benchmark; unset it"
    from tinysae.backends import BackendUnavailable, numba_cuda

    try:
        numba_cuda.check_available()
    except BackendUnavailable as err:
        return f"tinysae's cuda backend cannot run here: {err}"
    if not numba_cuda.is_real_gpu():
        return "no real CUDA GPU found (numba.cuda runs on the simulator only)"
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed: pip install torch (a CUDA build)"
    if not torch.cuda.is_available():
        return "PyTorch cannot see a CUDA GPU (torch.cuda.is_available() is False)"
    return None


def bench_cuda(
    shapes: tuple[tuple[int, int, int], ...] = SHAPES,
    dtypes: tuple[str, ...] = DTYPES,
    objective: Objective | None = None,
    repeats: int = 10,
) -> list[dict[str, object]]:
    """Time every ``(m, n, k)`` in ``shapes`` and dtype in ``dtypes``; print a table, return rows.

    Raises ``RuntimeError`` (saying what is missing) when no GPU, numba-cuda or torch is here.
    """
    reason = why_unavailable()
    if reason is not None:
        raise RuntimeError(reason)
    import torch

    objective = Objective() if objective is None else objective
    print(f"device: {torch.cuda.get_device_name()}; objective: {objective}")
    print(f"torch float32 matmuls allow TF32: {torch.backends.cuda.matmul.allow_tf32}")
    header = (
        f"{'m':>6} {'n':>5} {'k':>5} {'dtype':>8} | {'tinysae host':>12} {'torch host':>10} {'ratio':>6} | "
        f"{'tinysae dev':>11} {'torch dev':>9} {'ratio':>6} | {'loss err':>8} {'grad err':>8}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for m, n, k in shapes:
        for dtype in dtypes:
            t = bench_one(m, n, k, dtype, objective, repeats)
            host_ratio = t["tinysae host"] / t["torch host"]
            device_ratio = t["tinysae device"] / t["torch device"]
            print(
                f"{m:>6} {n:>5} {k:>5} {dtype:>8} | {t['tinysae host']:>9.2f} ms {t['torch host']:>7.2f} ms "
                f"{host_ratio:>6.2f} | {t['tinysae device']:>8.2f} ms {t['torch device']:>6.2f} ms "
                f"{device_ratio:>6.2f} | {t['loss rel err']:>8.1e} {t['grad rel err']:>8.1e}"
            )
            rows.append({"m": m, "n": n, "k": k, "dtype": dtype, **t})
    print("ratio = tinysae time / torch time (below 1: tinysae is faster)")
    return rows


def main() -> int:
    reason = why_unavailable()
    if reason is not None:
        print(f"bench_cuda: cannot run: {reason}", file=sys.stderr)
        return 1
    bench_cuda()
    return 0


if __name__ == "__main__":
    sys.exit(main())
