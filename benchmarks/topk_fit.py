"""Seconds for a whole TopKSAE fit: the sparse Numba kernels, the engine, and a dense PyTorch CPU loop.

Run as ``python benchmarks/topk_fit.py [--quick]`` from the repository root. What a user waits
for is the fit, not one kernel call (``benchmarks/bench_topk.py`` times those): on
``tinysae.synthetic`` data (:data:`M` samples of :data:`N` features from :data:`TRUE_FEATURES`
known directions) it times

* ``TopKSAE(n_latents=F, k=K, max_iter=EPOCHS, batch_size=BATCH).fit(X)`` in float32 with
  ``backend="numba"`` (the sparse kernels, what ``"auto"`` picks) and ``backend="autograd"``
  (the engine), each including the geometric median of ``b2``, the warm-ups, the unit-norm
  decoder and the per-epoch measurement on all of ``X`` (the numba kernels compiled or loaded
  from the cache by one untimed fit first);
* the usual PyTorch CPU TopK SAE trained the same way: dense pre-activations, ``torch.topk``,
  the kept values scattered into a dense ``(m, F)`` code, a dense decoder, autograd, the same
  Adam steps with the same warm-up, the gradient's component along each decoder column removed
  and the columns renormalised after each step (AuxK off for both: ``aux_k=0``).

Every fit runs with 2 threads (threadpoolctl for numpy's BLAS, ``torch.set_num_threads``,
numba's threads as the numba backend starts them). A tinysae fit holds BLAS to one thread
(:mod:`tinysae.threads`), which here leaves the encoder's product on one core: the numba fit is
timed a second time with ``TINYSAE_BLAS_THREADS=2``. PyTorch is a yardstick, never a dependency.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from tinysae import TopKSAE
from tinysae.synthetic import make_sparse_features
from tinysae.threads import ENV_VARIABLE

M, N, F, K, TRUE_FEATURES = 8192, 256, 2048, 16, 1024
EPOCHS, BATCH, LEARNING_RATE, WARMUP = 3, 512, 1e-3, 50
THREADS = 2


def tinysae_fit(X: np.ndarray, backend: str, epochs: int) -> float:
    """Seconds of one ``TopKSAE(...).fit(X)`` with ``backend``."""
    model = TopKSAE(n_latents=F, k=K, aux_k=0, max_iter=epochs, batch_size=BATCH, learning_rate=LEARNING_RATE,
                    warmup_steps=WARMUP, backend=backend, random_state=0)
    start = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - start


def torch_fit(torch, X: np.ndarray, epochs: int) -> float:
    """Seconds of the same training loop as a dense PyTorch TopK SAE."""
    torch.manual_seed(0)
    Xt = torch.from_numpy(X)
    W2 = torch.nn.functional.normalize(torch.randn(N, F), dim=0)
    W1 = (0.1 * W2.T).clone().requires_grad_()
    W2.requires_grad_()
    b1 = torch.zeros(F, requires_grad=True)
    b2 = Xt.median(dim=0).values.clone().requires_grad_()
    optimizer = torch.optim.Adam([W1, b1, W2, b2], lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / WARMUP))
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        for rows in torch.randperm(M, generator=generator).split(BATCH):
            x = Xt[rows]
            Z2 = (x - b2) @ W1.T + b1
            values, indices = Z2.topk(K, dim=1)
            H = torch.zeros_like(Z2).scatter(1, indices, values.relu())
            loss = ((H @ W2.T + b2 - x) ** 2).sum() / (2 * len(x))
            optimizer.zero_grad()
            loss.backward()
            with torch.no_grad():
                W2.grad -= (W2.grad * W2).sum(dim=0, keepdim=True) * W2
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                W2 /= W2.norm(dim=0, keepdim=True)
        with torch.no_grad():  # the per-epoch measurement on all of X, as tinysae's history does
            Z2 = (Xt - b2) @ W1.T + b1
            values, indices = Z2.topk(K, dim=1)
            H = torch.zeros_like(Z2).scatter(1, indices, values.relu())
            float(((H @ W2.T + b2 - Xt) ** 2).sum())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one epoch, the engine skipped: a smoke run")
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else EPOCHS
    X = make_sparse_features(M, TRUE_FEATURES, N, firing_probability=8 / TRUE_FEATURES, random_state=1).X
    X = X.astype(np.float32)
    print(f"TopKSAE fit: m={M}, n={N}, F={F}, k={K}, {epochs} Adam epochs of {BATCH}, float32, "
          f"{THREADS} threads")
    with threadpool_limits(limits=THREADS, user_api="blas"):
        import numba

        from tinysae.backends import numba_cpu

        numba_cpu._start_threads()  # the backend's threading layer, before numba's threads start
        numba.set_num_threads(THREADS)
        tinysae_fit(X[:BATCH], "numba", 1)  # compile the kernels (or load them from the cache)
        seconds = {"tinysae, backend='numba'": tinysae_fit(X, "numba", epochs)}
        os.environ[ENV_VARIABLE] = str(THREADS)  # BLAS may use 2 threads inside the fit too
        seconds[f"  the same, {ENV_VARIABLE}={THREADS}"] = tinysae_fit(X, "numba", epochs)
        del os.environ[ENV_VARIABLE]
        if not args.quick:
            seconds["tinysae, backend='autograd'"] = tinysae_fit(X, "autograd", epochs)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: pip install torch==2.13.0 (the local CPU build) for the yardstick")
    else:
        torch.set_num_threads(THREADS)
        seconds["PyTorch 2.13 CPU, dense TopK"] = torch_fit(torch, X, epochs)
    reference = seconds.get("PyTorch 2.13 CPU, dense TopK")
    for name, value in seconds.items():
        ratio = f"   PyTorch / this = {reference / value:.2f}" if reference else ""
        print(f"{name:32s} {value:7.2f} s{ratio}")


if __name__ == "__main__":
    main()
