r"""One thread pool at a time: while a fit runs, no BLAS pool has more threads than there are cores.

numpy and scipy each load their own OpenBLAS, and each starts one thread per core it sees (in
a container, that can be the host's cores, not the ones the process may use). A fit alternates
between BLAS calls (numpy's in the forward and backward passes and in the L-BFGS two-loop
recursion's dot products) and numba's own threads in the Numba backend. Idle BLAS threads spin,
so two pools with a thread per core each, or a pool with more threads than usable cores, take
the cores from each other. When L-BFGS was scipy's L-BFGS-B, whose ``setulb`` used scipy's pool
while numpy's spun, a StackedAutoencoder on 1257 digits (50 pre-training and 50 fine-tuning
iterations, two runs each, 2-core machine) took 9.6 s and 8.4 s with the pools left as they
were and 3.7 s and 3.0 s with BLAS held to one thread, which was then the default.

The package's own L-BFGS (:mod:`tinysae.lbfgs`) uses numpy alone, and one thread is no longer
best. Measured on the same 2-core machine (two runs each, numba backend, 400 L-BFGS iterations):

* 64-200 on the 1797 digits: 3.30 s and 3.28 s with BLAS held to one thread, 2.33 s and 2.41 s
  with two (the cores), 2.52 s and 2.49 s with the pools kept;
* 64-25 on 10 000 patches (``tinysae train``): 2.09 s and 2.17 s, 2.13 s and 2.20 s, 1.93 s and
  2.18 s;

and the StackedAutoencoder above took 1.30 s and 0.78 s held to one thread, 1.03 s and 0.60 s
with the pools kept. So the limit is now the number of cores the process may use
(:func:`usable_cores`): as fast as the pools' defaults where they see the right cores, and no
oversubscription where they see more.

:func:`fit_threads` is what :func:`tinysae.train.lbfgs` and :func:`tinysae.train.adam` run
inside. It uses threadpoolctl (the well-kept library that finds every BLAS and OpenMP pool
loaded in the process) and restores every pool's setting when the fit ends, so nothing outside
a fit changes. ``TINYSAE_BLAS_THREADS=<n>`` (an int, or ``"keep"`` to leave the pools alone) sets
the limit instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController, threadpool_limits

#: The environment variable that overrides the BLAS limit during fits.
ENV_VARIABLE = "TINYSAE_BLAS_THREADS"


def usable_cores() -> int:
    """The number of cores this process may run on (its CPU affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def blas_limit() -> int | None:
    """The BLAS threads a fit may use: :func:`usable_cores`, or ``TINYSAE_BLAS_THREADS`` (None
    for ``"keep"``)."""
    value = os.environ.get(ENV_VARIABLE, str(usable_cores())).strip()
    if value == "keep":
        return None
    try:
        limit = int(value)
    except ValueError:
        raise ValueError(f"{ENV_VARIABLE} must be a positive integer or 'keep', got {value!r}") from None
    if limit < 1:
        raise ValueError(f"{ENV_VARIABLE} must be a positive integer or 'keep', got {value!r}")
    return limit


@contextmanager
def fit_threads() -> Iterator[None]:
    """Hold every BLAS pool to :func:`blas_limit` threads inside the ``with`` block, then restore them."""
    limit = blas_limit()
    if limit is None:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


_controller: ThreadpoolController | None = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Hold every BLAS pool to one thread inside the ``with`` block, then restore them.

    For kernels whose own threads call BLAS, each on a product too small to split (the Numba
    backend's thin-layer route, :mod:`tinysae.backends.numba_cpu`): an OpenBLAS allowed more
    threads ran those products slower. Measured on a 2-core machine, two numba threads each
    multiplying (163, 64) by (64, 25): 29-31 GFLOP/s in all with OpenBLAS allowed two threads,
    37-40 GFLOP/s held to one.

    The pools are found once, by one :class:`threadpoolctl.ThreadpoolController` kept for the
    process (building one costs about a millisecond, more than limiting its pools: tens of
    microseconds), after loading scipy's BLAS, which numba's ``np.dot`` calls.
    """
    global _controller
    if _controller is None:
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS of numba's np.dot: loaded before the search)

        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield
