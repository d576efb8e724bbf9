"""The searching checker of the kernel exercise: a fused, parallel sigmoid and rho_hat in Numba.

``sigmoid_and_rho_hat(Z2) -> (H, rho_hat)``: ``Z2 (m, k)`` float64, ``H (m, k)`` the sigmoid of
every entry, ``rho_hat (k,)`` the mean activation of each hidden unit over the m samples, written
as a ``numba.njit(parallel=True)`` function with a ``numba.prange`` loop. The search runs on
float64 C-contiguous inputs only, so Numba compiles the kernel once (the first call, which may
take seconds, is allowed ``compile_timeout``). A compiled loop cannot be interrupted by the
timeout (:mod:`tinysae.exercises.search`).

Around the search, a race probe calls the kernel a few times on one large ``Z2``
(:data:`RACE_SHAPE`). A kernel whose ``prange`` iterations write the same entries (a race, such as
``rho_hat[j] += ...`` inside a loop over the rows) is often right on the search's tiny inputs, and
on many rows, where the threads overlap, wrong on most calls, by a different amount each time.
Before the search, answers that change from call to call are reported as a race (the search
could not shrink them to one input; a change it meets anyway is reported by
:func:`~tinysae.exercises.search.run_exercise` as answers that change from call to call); after
it, a wrong answer on the large ``Z2`` is. Best effort: a race shows only when threads run at the same time
(never with one thread, rarely on a saturated machine). The last check inspects the function itself:
a Numba dispatcher (``targetoptions``) compiled with ``parallel=True`` whose code uses ``prange``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit

from tinysae.exercises.arrays import judge_arrays, parse_arrays, show_arrays
from tinysae.exercises.feedback import TOLERANCE, Feedback, Mistake
from tinysae.exercises.search import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIMEOUT,
    Check,
    Exercise,
    _finish,
    _Timeout,
    call_with_timeout,
    run_exercise,
    show_array,
)

__all__ = ["RACE_SHAPE", "RHO_HAT_MISTAKES", "check_rho_hat_kernel"]

#: The race check's ``Z2 (m, k)``: enough rows that numba's threads work at the same time.
RACE_SHAPE = (10_000, 25)
#: The race check makes at least 3 calls and at most :data:`RACE_CALLS`, stopping after
#: :data:`RACE_SECONDS` (a race shows on most calls of a racy kernel, not on every one).
RACE_CALLS = 20
RACE_SECONDS = 0.5

_RACE_HINT = ("the iterations of a prange loop run at the same time on different threads, and when two "
              "of them write the same entry one write can erase the other (a race): each iteration "
              "must write only entries that no other iteration writes")


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
    parse=lambda value, args: parse_arrays(value, ("H", "rho_hat")),
    judge=judge_arrays(("H", "rho_hat")),
    describe=lambda args: [f"Z2 = {show_array(args[0])}"],
    show=show_arrays(("H", "rho_hat")),
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


def _race(kernel: Callable, timeout: float | None, against_reference: bool) -> str | None:
    """Call ``kernel`` a few times (:data:`RACE_CALLS`, :data:`RACE_SECONDS`) on one large ``Z2``
    (:data:`RACE_SHAPE`, entries uniform in [-6, 6]): what changed from one call to the next, or
    (``against_reference``) what is wrong, or None. A call that cannot run ends the probe: with None
    when it runs before the search (which then reports the error), reported when it runs after."""
    Z2 = np.random.default_rng(0).uniform(-6, 6, RACE_SHAPE)
    where = f"on a larger Z2, of shape {RACE_SHAPE} with entries drawn uniformly from [-6, 6]"
    expected, judge, began = _reference(Z2), judge_arrays(("H", "rho_hat")), time.perf_counter()
    first = None
    for call in range(1, RACE_CALLS + 1):
        try:
            got = parse_arrays(call_with_timeout(kernel, (Z2.copy(),), timeout), ("H", "rho_hat"))
        except _Timeout:
            return f"{where}, it did not finish within {timeout} s" if against_reference else None
        except Exception as error:  # Unusable, or an error raised inside the student's code
            problem = f"{where}, it could not run: {type(error).__name__}: {error}"
            return problem if against_reference else None
        first = got if first is None else first
        changed = [name for name, a, b in zip(("H", "rho_hat"), got, first)
                   if a.shape != b.shape or not np.allclose(a, b, rtol=TOLERANCE, atol=0, equal_nan=True)]
        if changed:
            return f"{where}, call {call} gave another {changed[0]} than call 1; {_RACE_HINT}"
        wrong = judge((Z2,), got, expected) if against_reference else None
        if wrong is not None:
            return f"{where}, call {call}: {wrong}; {_RACE_HINT}"
        if call >= 3 and time.perf_counter() - began > RACE_SECONDS:
            break
    return None


def check_rho_hat_kernel(sigmoid_and_rho_hat: Callable, verbose: bool = True, *,
                         max_examples: int = DEFAULT_EXAMPLES, timeout: float | None = DEFAULT_TIMEOUT,
                         compile_timeout: float = 120.0) -> Feedback:
    """Search for a float64 ``Z2 (m, k)`` where ``sigmoid_and_rho_hat(Z2) -> (H, rho_hat)`` is wrong,
    then look for a race on a large ``Z2`` and check that it is a Numba ``parallel=True`` kernel with
    a ``prange`` loop; print and return the feedback. The first call (Numba's compilation) is
    allowed ``compile_timeout`` seconds."""
    if callable(sigmoid_and_rho_hat):
        try:  # compile once, outside the per-call timeout; its errors are reported by the search
            call_with_timeout(sigmoid_and_rho_hat, (np.zeros((2, 2)),), compile_timeout)
        except BaseException as error:
            if isinstance(error, KeyboardInterrupt):
                raise
    extra_checks = [("the same answer on many rows, call after call", partial(_race, timeout=timeout,
                                                                                 against_reference=True)),
                    ("a Numba parallel kernel", _not_parallel)]
    total = len(_RHO_HAT.checks) + len(extra_checks)
    # A race makes the answers change from call to call, which the search cannot shrink to one
    # input: look for that first, on many rows, and report it as the values' check failing.
    changing = _race(sigmoid_and_rho_hat, timeout, False) if callable(sigmoid_and_rho_hat) else None
    if changing is None:  # run_exercise reports an answer that changes during the search itself
        return run_exercise(_RHO_HAT, sigmoid_and_rho_hat, max_examples=max_examples, timeout=timeout,
                            verbose=verbose, extra_checks=extra_checks)
    line = f"check 1 of {total} ({_RHO_HAT.checks[0].name}) failed: {changing}"
    return _finish(Feedback(_RHO_HAT.name, False, [line], checks=total), verbose)
