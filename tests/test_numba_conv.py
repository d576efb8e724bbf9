"""The Numba convolution kernels equal the engine's numpy functions (relative error < 1e-10 in
float64, < 1e-5 in float32) over hypothesis-drawn shapes, strides, paddings, kernel sizes and
channel counts, stay in float32, and run as plain Python under ``NUMBA_DISABLE_JIT=1``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conv_cases import ConvSetting, conv_settings
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit
from strategies import seeds

from tinysae.autograd import Tensor, conv, conv_transpose2d, relative_error
from tinysae.backends import _numba_conv as kernels
from tinysae.backends import numba_cpu

#: Relative error allowed against the float64 engine, by the dtype the kernels compute in.
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}

#: A 1x1 kernel on an odd-sized batch of 1; a strided 1x1 kernel with output padding; the
#: lessons' 8x8 digits (3x3, padding 1) and 32x32 crops (8x8, stride 2, padding 3), batch 1.
EXAMPLES = [
    ConvSetting(1, 1, 1, 5, 7, (1, 1), (1, 1), (0, 0), (0, 0)),
    ConvSetting(2, 3, 2, 7, 5, (1, 1), (2, 3), (0, 0), (1, 2)),
    ConvSetting(1, 1, 16, 8, 8, (3, 3), (1, 1), (1, 1), (0, 0)),
    ConvSetting(1, 1, 16, 32, 32, (8, 8), (2, 2), (3, 3), (0, 0)),
]

dtypes = st.sampled_from([np.float64, np.float32])


@pytest.fixture(scope="module", autouse=True)
def backend_threads() -> None:
    """numba's threads start as the backend starts them (the workqueue layer), whichever test
    runs first in this process."""
    numba_cpu._start_threads()


def with_examples(test):
    """``test`` with :data:`EXAMPLES` as explicit hypothesis examples, in float64 and float32."""
    for setting in EXAMPLES:
        for dtype in (np.float64, np.float32):
            test = example(setting=setting, seed=0, dtype=dtype)(test)
    return test


def arrays(setting: ConvSetting, seed: int, dtype: type, transpose: bool) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``w`` (conv2d's layout, or the transpose's) of ``setting``, in ``dtype``."""
    rng = np.random.default_rng(seed)
    w_shape = setting.transpose_w_shape if transpose else setting.conv_w_shape
    return rng.normal(size=setting.x_shape).astype(dtype), rng.normal(size=w_shape).astype(dtype)


def upstream(shape: tuple[int, ...], seed: int, dtype: type) -> np.ndarray:
    return np.random.default_rng(seed + 1).normal(size=shape).astype(dtype)


def assert_close(got: np.ndarray, expected: np.ndarray, dtype: type) -> None:
    """``got`` has ``expected``'s shape, ``dtype``, and is within :data:`TOLERANCE` of it."""
    assert got.shape == expected.shape
    assert got.dtype == dtype
    assert relative_error(got, expected) < TOLERANCE[dtype]


@settings(max_examples=40)
@with_examples
@given(setting=conv_settings(), seed=seeds, dtype=dtypes)
def test_conv2d_kernels_equal_the_engine(setting: ConvSetting, seed: int, dtype: type) -> None:
    """conv2d_forward, conv2d_input_grad and conv2d_weight_grad against the engine's functions
    of the same names, computed in float64 on the same (``dtype``-rounded) arrays."""
    x, w = arrays(setting, seed, dtype, transpose=False)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    stride, padding, size, kernel = setting.stride, setting.padding, x.shape[2:], w.shape[2:]
    y = conv.conv2d_forward(x64, w64, stride, padding)
    assert_close(kernels.conv2d_forward(x, w, stride, padding), y, dtype)
    g = upstream(y.shape, seed, dtype)
    g64 = g.astype(np.float64)
    assert_close(kernels.conv2d_input_grad(g, w, size, stride, padding),
                 conv.conv2d_input_grad(g64, w64, size, stride, padding), dtype)
    assert_close(kernels.conv2d_weight_grad(g, x, kernel, stride, padding),
                 conv.conv2d_weight_grad(g64, x64, kernel, stride, padding), dtype)


@settings(max_examples=40)
@with_examples
@given(setting=conv_settings(), seed=seeds, dtype=dtypes)
def test_conv_transpose2d_kernels_equal_the_engine(setting: ConvSetting, seed: int, dtype: type) -> None:
    """The transpose's forward pass against the engine's, and its input and weight gradients
    against the engine's backward pass through its ``conv_transpose2d`` op."""
    x, w = arrays(setting, seed, dtype, transpose=True)
    stride, padding, extra = setting.stride, setting.padding, setting.output_padding
    xt, wt = Tensor(x.astype(np.float64)), Tensor(w.astype(np.float64))
    y = conv_transpose2d(xt, wt, stride=stride, padding=padding, output_padding=extra)
    assert_close(kernels.conv_transpose2d_forward(x, w, stride, padding, extra), y.data, dtype)
    g = upstream(y.shape, seed, dtype)
    (y * g.astype(np.float64)).sum().backward()
    assert_close(kernels.conv_transpose2d_input_grad(g, w, stride, padding), xt.grad, dtype)
    assert_close(kernels.conv_transpose2d_weight_grad(g, x, w.shape[2:], stride, padding), wt.grad, dtype)


CHUNKS = kernels.BATCH_CHUNKS


@settings(max_examples=10)
@given(n=st.sampled_from([1, 2, CHUNKS - 1, CHUNKS, 3 * CHUNKS + 5]), seed=seeds)
def test_weight_gradient_sums_every_chunk_of_images(n: int, seed: int) -> None:
    """Batches smaller than, equal to and larger than :data:`BATCH_CHUNKS` (uneven chunks)."""
    rng = np.random.default_rng(seed)
    x, g = rng.normal(size=(n, 2, 5, 4)), rng.normal(size=(n, 3, 3, 1))
    expected = conv.conv2d_weight_grad(g, x, (3, 3), (2, 2), (1, 0))
    assert relative_error(kernels.conv2d_weight_grad(g, x, (3, 3), (2, 2), (1, 0)), expected) < 1e-10


def test_float32_kernels_have_no_float64_variable() -> None:
    """No float64 literal or accumulator promotes a float32 kernel: every value numba infers
    for float32 arrays is float32. Compiled afresh without the cache (cached overloads keep no
    type annotations) and without ``parallel`` (the same types, a third of the compile time)."""
    x, w = np.ones((2, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32)
    g = np.ones((2, 3, 3, 3), np.float32)
    calls = [
        (kernels.conv2d_forward, (x, w, (2, 2), (1, 1))),
        (kernels.conv2d_input_grad, (g, w, (5, 5), (2, 2), (1, 1))),
        (kernels.conv2d_weight_grad, (g, x, (3, 3), (2, 2), (1, 1))),
    ]
    for kernel, args in calls:
        fresh = njit(error_model="numpy")(kernel.py_func)
        assert fresh(*args).dtype == np.float32
        (signature,) = fresh.signatures
        typemap = fresh.overloads[signature].type_annotation.typemap
        promoted = {str(name): str(t) for name, t in typemap.items()
                    if "float64" in str(t) and "const" not in str(name)}
        assert not promoted, (kernel.__name__, promoted)


COMPARE_WITHOUT_JIT = """
    import json
    import numpy as np
    from tinysae.autograd import conv, relative_error
    from tinysae.backends import _numba_conv as kernels

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 2, 7, 6)), rng.normal(size=(3, 2, 3, 2))
    stride, padding = (2, 1), (1, 1)
    y = conv.conv2d_forward(x, w, stride, padding)
    g = rng.normal(size=y.shape)
    errors = [
        relative_error(kernels.conv2d_forward(x, w, stride, padding), y),
        relative_error(kernels.conv2d_input_grad(g, w, (7, 6), stride, padding),
                       conv.conv2d_input_grad(g, w, (7, 6), stride, padding)),
        relative_error(kernels.conv2d_weight_grad(g, x, (3, 2), stride, padding),
                       conv.conv2d_weight_grad(g, x, (3, 2), stride, padding)),
    ]
    print(json.dumps({"worst": max(errors), "python": not hasattr(kernels.conv2d_forward, "signatures")}))
"""


def test_kernels_run_as_plain_python_with_jit_disabled() -> None:
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(COMPARE_WITHOUT_JIT)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["python"] and out["worst"] < 1e-12, out
