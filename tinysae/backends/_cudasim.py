"""A fix for numba's CUDA simulator: shared arrays handed out safely to every thread of a block.

The simulator runs each thread of a block as a Python thread. ``cuda.shared.array(shape, dtype)``
must give every thread of the block the *same* array, and the simulator keeps one per source
line in a dict. Its ``FakeCUDAShared.array`` (numba-cuda 0.30.4) reads the dict, allocates on a
miss and then stores the new array, with no lock. When Python switches threads between the read
and the store, two threads of one block each allocate and keep their own array: a value one thread
writes to "shared memory" is never seen by the other, which reads uninitialised memory instead.
The kernels are right and the simulated result is wrong, now and then: one CI run got a loss of
1.31 where the reference gave 6.52, and the same inputs then gave 6.52 on every rerun.

:func:`make_shared_arrays_thread_safe` replaces that method with one that does the read, the
allocation and the store under a lock. It changes nothing else and nothing on a real GPU.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

_LOCK = threading.Lock()


def make_shared_arrays_thread_safe() -> None:
    """Patch the simulator's ``FakeCUDAShared.array`` (once; later calls do nothing).

    Call only under the simulator (``NUMBA_ENABLE_CUDASIM=1``). Dynamic shared memory
    (``shape == 0``) and the ``alignment`` error keep the simulator's own code.
    """
    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    simulator_array = kernelapi.FakeCUDAShared.array
    if getattr(simulator_array, "thread_safe", False):
        return

    def array(self, shape, dtype, alignment=None):
        if alignment is not None or (isinstance(shape, int) and shape == 0):
            return simulator_array(self, shape, dtype, alignment)
        # one array per calling source line, as the simulator does
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with _LOCK:
            shared = self._allocations.get(key)
            if shared is None:
                if isinstance(dtype, types.Type):
                    dtype = numpy_support.as_dtype(dtype)
                shared = np.empty(shape, dtype)
                self._allocations[key] = shared
        return shared

    array.thread_safe = True
    array.__doc__ = simulator_array.__doc__
    kernelapi.FakeCUDAShared.array = array
