"""Test-session set-up.

The CUDA backend is tested on numba's CUDA simulator unless a real GPU is asked for with
``NUMBA_ENABLE_CUDASIM=0``. The variable must be set before numba is first imported, which is
why it sits at the very top of this file.
"""

import os
import sys

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# deadline=None: the first call of a Numba kernel compiles it (seconds), which is not slowness.
settings.register_profile(
    "tinysae", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("tinysae")


@pytest.fixture
def fast_thread_switching():
    """The CUDA simulator's block manager busy-waits on its threads; switching threads every
    0.1 ms instead of every 5 ms makes simulated kernels 3-7 times faster."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(previous)
