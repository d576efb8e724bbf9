"""The searching checker of the kernel exercise: a fused, parallel sigmoid and rho_hat in Numba.

``sigmoid_and_rho_hat(Z2) -> (H, rho_hat)``: ``Z2 (m, k)`` float64, ``H (m, k)`` the sigmoid of
every entry, ``rho_hat (k,)`` the mean activation of each hidden unit over the m samples, written
as a ``numba.njit(parallel=True)`` function with a ``numba.prange`` loop. The search runs on
float64 C-contiguous inputs only, so Numba compiles the kernel once (the first call, which may
take seconds, is allowed ``compile_timeout``). A compiled loop cannot be interrupted by the
timeout (:mod:`tinysae.exercises.search`). The last check inspects the function itself: a Numba
dispatcher (``targetoptions``) compiled with ``parallel=True`` whose code uses ``prange``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit

from tinysae.exercises.feedback import Feedback, Mistake
from tinysae.exercises.graph import _as_arrays, _judge_arrays, _show
from tinysae.exercises.search import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIMEOUT,
    Check,
    Exercise,
    call_with_timeout,
    run_exercise,
    show_array,
)

__all__ = ["RHO_HAT_MISTAKES", "check_rho_hat_kernel"]


@st.composite
def _z2(draw: st.DrawFn) -> tuple[np.ndarray]:
    shape = (draw(st.integers(1, 5)), draw(st.integers(1, 4)))
    elements = st.floats(-6, 6, allow_nan=False, allow_subnormal=False)
    return (np.ascontiguousarray(draw(hnp.arrays(np.float64, shape, elements=elements))),)


def _reference(Z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    H = expit(Z2)
    return H, H.mean(axis=0)


RHO_HAT_MISTAKES = [
    Mistake("summed", "rho_hat adds up the samples instead of averaging them",
            lambda Z2: (expit(Z2), expit(Z2).sum(axis=0))),
    Mistake("over_units", "rho_hat averages over the hidden units instead of over the samples",
            lambda Z2: (expit(Z2), expit(Z2).mean(axis=1))),
    Mistake("pre_activation", "rho_hat averages the inputs Z2 instead of the activations H",
            lambda Z2: (expit(Z2), Z2.mean(axis=0))),
    Mistake("mirrored", "the sigmoid is mirrored: it falls where it should rise",
            lambda Z2: (expit(-Z2), expit(-Z2).mean(axis=0))),
]

_RHO_HAT = Exercise(
    name="sigmoid_and_rho_hat",
    checks=[Check("H and rho_hat on float64 Z2", _z2())],
    reference=_reference,
    parse=lambda value, args: _as_arrays(value, ("H", "rho_hat")),
    judge=_judge_arrays(("H", "rho_hat")),
    describe=lambda args: [f"Z2 = {show_array(args[0])}"],
    show=_show(("H", "rho_hat")),
    mistakes=RHO_HAT_MISTAKES,
)


def _not_parallel(kernel: object) -> str | None:
    """What keeps ``kernel`` from being a Numba parallel kernel with a prange loop, or None."""
    options = getattr(kernel, "targetoptions", None)
    if options is None:
        return ("it is not compiled by Numba: decorate it with @numba.njit(parallel=True) "
                "(or NUMBA_DISABLE_JIT is set)")
    if not options.get("parallel"):
        return "it is compiled without parallel=True, so prange runs as a plain range"
    code = getattr(getattr(kernel, "py_func", None), "__code__", None)
    if code is None or "prange" not in code.co_names:
        return "it has no numba.prange loop: nothing runs in parallel"
    return None


def check_rho_hat_kernel(sigmoid_and_rho_hat: Callable, verbose: bool = True, *,
                         max_examples: int = DEFAULT_EXAMPLES, timeout: float | None = DEFAULT_TIMEOUT,
                         compile_timeout: float = 120.0) -> Feedback:
    """Search for a float64 ``Z2 (m, k)`` where ``sigmoid_and_rho_hat(Z2) -> (H, rho_hat)`` is wrong,
    then check that it is a Numba ``parallel=True`` kernel with a ``prange`` loop; print and return
    the feedback. The first call (Numba's compilation) is allowed ``compile_timeout`` seconds."""
    if callable(sigmoid_and_rho_hat):
        try:  # compile once, outside the per-call timeout; its errors are reported by the search
            call_with_timeout(sigmoid_and_rho_hat, (np.zeros((2, 2)),), compile_timeout)
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt):
                raise
    return run_exercise(_RHO_HAT, sigmoid_and_rho_hat, max_examples=max_examples, timeout=timeout,
                        verbose=verbose, extra_checks=[("a Numba parallel kernel", _not_parallel)])
