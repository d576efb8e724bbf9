r"""One thread pool at a time: the BLAS pools are held to one thread while a fit runs.

numpy and scipy each load their own OpenBLAS, and each starts one thread per core. A fit
alternates between BLAS calls (numpy's in the forward and backward passes and in the L-BFGS
two-loop recursion's dot products, scipy's wherever a scipy routine runs) and numba's own
threads in the Numba backend. Their idle threads spin, so on a small machine they take the cores
from each other. Measured on a 2-core machine (StackedAutoencoder on 1257 digits, 50
pre-training and 50 fine-tuning iterations, two runs each, when L-BFGS was still scipy's
L-BFGS-B): 9.6 s and 8.4 s with the pools left as they are (``TINYSAE_BLAS_THREADS=keep``),
3.7 s and 3.0 s with BLAS held to one thread. With the engine backend throughout, one run took
23.0 s as is, L-BFGS-B's ``setulb`` alone 22 ms per call; that is why the package now has its own
L-BFGS (:mod:`tinysae.lbfgs`), whose work per iteration is a few vector operations.

:func:`fit_threads` is what :func:`tinysae.train.lbfgs` and :func:`tinysae.train.adam` run
inside. It uses threadpoolctl (the well-kept library that finds every BLAS and OpenMP pool
loaded in the process) and restores every pool's setting when the fit ends, so nothing outside
a fit changes. ``TINYSAE_BLAS_THREADS=<n>`` (an int, or ``"keep"`` to leave the pools alone) sets
the limit for users who train wide layers, where BLAS threads pay.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

#: The environment variable that overrides the BLAS limit during fits.
ENV_VARIABLE = "TINYSAE_BLAS_THREADS"


def blas_limit() -> int | None:
    """The BLAS threads a fit may use: 1, or ``TINYSAE_BLAS_THREADS`` (None for ``"keep"``)."""
    value = os.environ.get(ENV_VARIABLE, "1").strip()
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
