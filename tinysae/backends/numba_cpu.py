r"""The Numba CPU backend: the classic's equations (``docs/design.md``) as fused ``@njit`` kernels.

Same equations as :mod:`tinysae.backends.numpy_ref` (read them side by side)::

    Z2 = X W1^T + b1,   H = f(Z2),   rho_hat = mean_i H,   Z3 = H W2^T + b2,   Xhat = g(Z3)
    D3 = (Xhat - X) * g'(Z3) / m
    D2 = (D3 W2 + beta * s / m) * f'(Z2)
    dW2 = D3^T H + lambda W2,  db2 = sum_i D3,   dW1 = D2^T X + lambda W1,  db1 = sum_i D2

computed by one of three routes, chosen by the shape (:func:`choose_route`):

* tiny problems (``m n k <= SMALL_WORK``): :func:`loss_and_grad_loops`, one serial kernel with
  hand-written loops (no thread launch, no BLAS call: about 10 microseconds);
* thin layers (``n k <= THIN_WEIGHTS``, e.g. UFLDL's 64-25-64, with
  ``m (n + k) >= PARALLEL_ELEMENTS``): :func:`loss_and_grad_thin`. Each of numba's threads
  takes a chunk of rows and goes through it in blocks of a few hundred rows; for each block it
  does the products by small BLAS calls and the elementwise passes right after them, while the
  block is in cache, and sums its own ``dW2, db2, dW1, db1``. Two kernels: one before and one
  after ``rho_hat`` (which needs every row) is known. For thin layers the five whole-array
  products are far from the matmul roofline (measured at the UFLDL shape on a 2-core machine:
  5.2 ms in float64, a third of it, with every ``(m, n)`` array going through memory between
  products; 2.3 ms block by block in cache), and this route was 1.5-1.7x faster than the BLAS
  route;
* everything else: :func:`loss_and_grad_blas`, the five matrix products by numpy's BLAS
  (``X W1^T``, ``H W2^T``, ``D3^T H``, ``D3 W2``, ``D2^T X``) with one fused pass per layer
  between them, which applies the nonlinearity, forms the delta in place and sums columns
  (``rho_hat``, ``db2``, ``db1``) on the way. The passes run over chunks of rows on numba's
  threads when ``m (n + k) >= PARALLEL_ELEMENTS``, else on the calling thread. The three
  ``(m, k)``/``(m, n)`` work buffers are kept for the next call of the same shape. Wide layers
  (MNIST's 784-196) keep OpenBLAS's own threads busy on large products, which the thin route's
  small per-block products cannot match (measured: 2x slower at ``n k = 16384``).

The first evaluation in a process compiles the kernels of its route in its dtype, or loads
them from numba's cache (``cache=True``; :mod:`tinysae.backends._numba_kernels`, "Compilation"):
measured at the UFLDL shape in float64 with ``benchmarks/bench_coldstart.py`` on a 2-core
machine shared with other work, import and first call took 4.1-5.6 s (4.1-4.5 s of CPU time)
with an empty cache, 0.5-1.2 s with the cache filled.

The contractive model (:class:`tinysae.models.ContractiveSAE`) is the classic by any of these
routes, plus its contraction term by :func:`contraction`: ``X W1^T`` by BLAS, one fused pass
(:func:`~tinysae.backends._numba_kernels.contraction_pass`, over chunks of rows on numba's
threads by the same ``PARALLEL_ELEMENTS`` rule) that forms ``C2 = dC/dZ2`` in place and sums
``D^2`` and ``C2`` by column, then ``C2^T X`` by BLAS (the equations are
:mod:`tinysae.backends.numpy_ref`'s).

The convolutional model (:class:`tinysae.models.ConvolutionalSAE`) is the BLAS route with its
matrix products replaced by the convolution kernels of :mod:`tinysae.backends._numba_conv`
(:func:`convolutional`): the same three fused passes run on the maps and images seen as rows of
``K H' W'`` hidden units and ``C H W`` pixels, each bias repeated over its map or channel::

    Z2 = conv2d_forward(X_images, W1)           Z2 <- H = f(Z2 + b1), m rho_hat    hidden_forward
    Z3 = conv_transpose2d_forward(H, W2)        Z3 <- D3, squared errors, db2      output_delta
    dW2 = conv_transpose2d_weight_grad(D3, H)
    D2 = conv_transpose2d_input_grad(D3, W2)    D2 <- (D2 + sparsity) * f'(Z2)     hidden_delta
    dW1 = conv2d_weight_grad(D2, X_images)

It compares ``Xhat`` with the batch's targets when it has them.

Arithmetic is in the inputs' dtype: float32 ``X`` and parameters give float32 math and float32
gradients; float64 (or any mix involving float64, or another float type) computes in float64.

Threading. Numba's worker threads and OpenBLAS's threads spin against each other when a
computation alternates between parallel kernels and BLAS calls (a prototype took 24 ms instead
of 7.8 ms per evaluation at the UFLDL shape on a 2-core machine). This backend therefore
starts numba's threads with the ``workqueue`` threading layer, whose idle workers sleep, just
before its first parallel kernel runs (:func:`_start_threads`), provided no parallel numba code
has started numba's threads yet in this process; :func:`threading_layer` reports the layer that
actually runs (a :class:`RuntimeWarning` says so if another layer was already started).
Numba fixes the layer for the whole process when it starts its threads (numba 0.68:
``numba.np.ufunc.parallel._launch_threads`` reads ``numba.config.THREADING_LAYER`` once, then
never again), so ``numba.config.THREADING_LAYER`` is set only for that moment and then
restored to the user's value. Importing this module (or :mod:`tinysae`, which does not import
numba at all) changes no numba setting. ``workqueue`` must not be entered from two threads at
once, so calls into this backend are serialised by a lock.

The thin-layer route's kernels call BLAS from numba's threads, one small product at a time: while
they run, every BLAS pool is held to one thread (:func:`tinysae.threads.one_blas_thread`, scoped
to the call and given back after it). Two numba threads multiplying blocks of the UFLDL shape
reached 29-31 GFLOP/s in all with OpenBLAS allowed two threads, 37-40 GFLOP/s held to one.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

import numba
import numpy as np

from tinysae.backends import _numba_conv as conv
from tinysae.backends import _numba_kernels as kernels
from tinysae.backends.capabilities import Evaluation, UnsupportedModel, classic_objective, classic_support
from tinysae.backends.numpy_ref import conv_pairs
from tinysae.functions import rho_hat_bounds
from tinysae.models import Batch, ClassicSAE, ContractiveSAE, ConvolutionalSAE, Model
from tinysae.models.dictionary import TopKModel
from tinysae.objective import Objective
from tinysae.params import Params
from tinysae.threads import one_blas_thread

#: The threading layer this backend asks numba for (see the module docstring).
PREFERRED_THREADING_LAYER = "workqueue"


def _threads_started() -> bool:
    """Whether numba has already started its parallel worker threads in this process."""
    try:
        numba.threading_layer()
    except ValueError:
        return False
    return True


#: Problems with ``m * n * k`` up to this go to the serial loop kernel, larger ones to BLAS +
#: fused passes (measured crossover on a 2-core machine: about 4e3).
SMALL_WORK = 3_000

#: Layers with ``n k`` up to this (and enough rows to use the threads) take the thin-layer
#: route (measured at m = 10000 on a 2-core machine: 1.2-1.7x faster than the BLAS route for
#: n k = 1600-4096, about even at 8192, up to 2x slower at 16384, 4x at MNIST's 153664).
THIN_WEIGHTS = 4096

#: The BLAS path runs its elementwise passes on numba's threads when ``m (n + k)`` reaches
#: this, and on the calling thread below it (a thread launch costs tens of microseconds).
PARALLEL_ELEMENTS = 100_000

#: Multiply-adds per block product in the thin-layer route. The products run inside numba's
#: threads, and from about ``2^19`` multiply-adds on an OpenBLAS allowed several threads starts
#: threads of its own for one product, which then fight numba's (measured with 256-row blocks:
#: n k = 1960 ran at 3.4 ms, n k = 2048 at 6.0 ms; with blocks sized by this rule, 3.7 ms), so
#: blocks stay below that. The route now also holds BLAS to one thread while its kernels run
#: (:func:`tinysae.threads.one_blas_thread`); with that, at the UFLDL shape, blocks of 64 to 1024
#: rows took the same time within the noise (medians 10-14 ms, minima 8.7-9.8 ms, on a 2-core
#: machine on a day it ran about three times slower than for the other timings here: the numpy
#: reference took 36-42 ms per evaluation at that shape, not 12).
THIN_BLOCK_WORK = 2**18

_ACTIVATION_CODES = {"sigmoid": kernels.SIGMOID, "relu": kernels.RELU, "identity": kernels.IDENTITY}
_PENALTY_CODES = {"kl": kernels.KL, "l1": kernels.L1, "none": kernels.NONE}

_LOCK = threading.Lock()
_layer_checked = False


def threading_layer() -> str | None:
    """The numba threading layer running in this process, or None before numba's threads
    started (this backend starts them just before its first parallel kernel) or with
    ``NUMBA_DISABLE_JIT=1``, where nothing runs in parallel."""
    if numba.config.DISABLE_JIT or not _threads_started():
        return None
    return numba.threading_layer()


def _start_threads() -> int:
    """Start numba's threads with :data:`PREFERRED_THREADING_LAYER` (once per process) and
    return how many it runs; called by each parallel route before it asks for anything that
    starts them (``numba.get_num_threads()`` does, and so does a parallel kernel).

    The layer is asked for only for the moment numba starts its threads: the user's
    ``numba.config.THREADING_LAYER`` is restored right after, once the layer is fixed for the
    process. If numba's threads already run (another library's parallel kernel ran first),
    nothing is changed and a :class:`RuntimeWarning` says which layer runs instead.
    """
    global _layer_checked
    if not _layer_checked:
        with _LOCK:
            if not _layer_checked:
                if not _threads_started():
                    users_layer = numba.config.THREADING_LAYER
                    numba.config.THREADING_LAYER = PREFERRED_THREADING_LAYER
                    try:
                        numba.get_num_threads()  # starts the threads: the layer is now fixed
                    finally:
                        numba.config.THREADING_LAYER = users_layer
                _layer_checked = True
                _warn_if_not_preferred()
    return numba.get_num_threads()


def _warn_if_not_preferred() -> None:
    """Warn if numba's threads run another layer than the preferred one."""
    layer = threading_layer()
    if layer is not None and layer != PREFERRED_THREADING_LAYER:
        warnings.warn(
            f"numba's threading layer is {layer!r}, not {PREFERRED_THREADING_LAYER!r}: numba's "
            "threads were started (by a parallel numba kernel, or numba.get_num_threads()) before "
            "tinysae's numba backend first ran in parallel. Numba and BLAS threads may then "
            "contend (up to 3x slower); run tinysae's numba backend first or set "
            f"NUMBA_THREADING_LAYER={PREFERRED_THREADING_LAYER}.",
            RuntimeWarning,
            stacklevel=5,
        )


def compute_dtype(params: Params, X: np.ndarray) -> np.dtype:
    """float32 when ``X`` and all four parameters are float32, else float64."""
    dtype = np.result_type(X, *params.values())
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


class _Setup:
    """Inputs as C-contiguous arrays of one dtype, the objective as kernel codes and typed scalars."""

    def __init__(self, params: Params, X: np.ndarray, objective: Objective) -> None:
        dtype = compute_dtype(params, X)
        scalar = dtype.type
        lo, hi = rho_hat_bounds(dtype)  # the rho_hat clip of tinysae.functions.clip_rho_hat
        self.dtype = dtype
        self.X = np.ascontiguousarray(X, dtype=dtype)
        self.W1, self.b1, self.W2, self.b2 = (np.ascontiguousarray(params[name], dtype=dtype)
                                              for name in ("W1", "b1", "W2", "b2"))
        self.m, self.n = self.X.shape
        self.k = self.W1.shape[0]
        self.f = _ACTIVATION_CODES[objective.activation]
        self.g = _ACTIVATION_CODES[objective.output]
        self.penalty = _PENALTY_CODES[objective.penalty]
        self.rho = scalar(objective.rho)
        self.beta = scalar(objective.beta)
        self.lam = scalar(objective.weight_decay)
        self.lo = scalar(lo)
        self.hi = scalar(hi)


class _Result:
    """What one route returns: the three terms (each measured), the gradients and ``rho_hat``."""

    def __init__(self, reconstruction: float, weight_decay: float, sparsity: float, grads: Params,
                 rho_hat: np.ndarray) -> None:
        self.terms = {"reconstruction": float(reconstruction), "weight_decay": float(weight_decay),
                      "sparsity": float(sparsity)}
        self.grads = grads
        self.rho_hat = rho_hat

    @property
    def loss(self) -> float:
        return sum(self.terms.values())


def loss_and_grad_loops(params: Params, X: np.ndarray, objective: Objective) -> tuple[float, Params]:
    """``(J, grads)`` by one call of the serial loop kernel
    :func:`tinysae.backends._numba_kernels.loss_and_grad_loops`."""
    result = _loops(params, X, objective)
    return result.loss, result.grads


def _loops(params: Params, X: np.ndarray, objective: Objective) -> _Result:
    p = _Setup(params, X, objective)
    H = np.empty((p.m, p.k), dtype=p.dtype)
    dW1, db1, dW2, db2 = np.empty_like(p.W1), np.empty_like(p.b1), np.empty_like(p.W2), np.empty_like(p.b2)
    col_sum, terms = np.empty(p.k, p.dtype), np.empty(3, p.dtype)
    kernels.loss_and_grad_loops(
        p.X, p.W1, p.b1, p.W2, p.b2, p.f, p.g, p.penalty, p.rho, p.beta, p.lam, p.lo, p.hi, H,
        dW1, db1, dW2, db2, col_sum, terms,
    )  # fmt: skip
    return _Result(*terms, Params(W1=dW1, b1=db1, W2=dW2, b2=db2), col_sum / p.m)


@dataclass
class _Buffers:
    """Work arrays of the BLAS and thin-layer paths for one ``(m, n, k, dtype, chunks)``."""

    key: tuple
    H: np.ndarray  # (m, k): X W1^T, then H
    D3: np.ndarray  # (m, n): H W2^T, then D3
    D2: np.ndarray  # (m, k): D3 W2, then D2
    row_starts: np.ndarray  # (chunks + 1,) first row of each chunk
    col_sum_part: np.ndarray  # (chunks, k)
    sq_err_part: np.ndarray  # (chunks, n)
    db2_part: np.ndarray  # (chunks, n)
    db1_part: np.ndarray  # (chunks, k)
    ds: np.ndarray  # (k,)


_buffers: _Buffers | None = None


def _get_buffers(m: int, n: int, k: int, dtype: np.dtype, chunks: int) -> _Buffers:
    """The work arrays for this shape and number of row chunks: reused from the previous call
    when they match (first-touching hundreds of MB costs tens of ms), else freshly allocated."""
    global _buffers
    key = (m, n, k, dtype.str, chunks)
    if _buffers is None or _buffers.key != key:
        _buffers = None  # let the old arrays go before allocating new ones
        _buffers = _Buffers(
            key=key,
            H=np.empty((m, k), dtype),
            D3=np.empty((m, n), dtype),
            D2=np.empty((m, k), dtype),
            row_starts=np.linspace(0, m, chunks + 1).round().astype(np.int64),
            col_sum_part=np.empty((chunks, k), dtype),
            sq_err_part=np.empty((chunks, n), dtype),
            db2_part=np.empty((chunks, n), dtype),
            db1_part=np.empty((chunks, k), dtype),
            ds=np.empty(k, dtype),
        )
    return _buffers


def clear_buffers() -> None:
    """Free the work arrays kept from the last call of :func:`loss_and_grad_blas`."""
    global _buffers
    with _LOCK:
        _buffers = None


def loss_and_grad_blas(
    params: Params, X: np.ndarray, objective: Objective, parallel: bool | None = None
) -> tuple[float, Params]:
    """``(J, grads)`` by BLAS matrix products and the fused passes, in the reference's order.

    The passes run in parallel over chunks of rows (``parallel=True``) or on the calling thread
    (``False``: the same kernel bodies, no thread launch); by default in parallel when
    ``m (n + k) >= PARALLEL_ELEMENTS``.
    """
    result = _blas(params, X, objective, parallel)
    return result.loss, result.grads


def _passes(parallel: bool) -> tuple:
    """The three fused passes ``(hidden_forward, output_delta, hidden_delta)``: over chunks of
    rows on numba's threads (``parallel``) or their ``*_serial`` twins on the calling thread."""
    if parallel:
        return kernels.hidden_forward, kernels.output_delta, kernels.hidden_delta
    return kernels.hidden_forward_serial, kernels.output_delta_serial, kernels.hidden_delta_serial


def _blas(params: Params, X: np.ndarray, objective: Objective, parallel: bool | None) -> _Result:
    p = _Setup(params, X, objective)
    m, n, k = p.m, p.n, p.k
    if parallel is None:
        parallel = m * (n + k) >= PARALLEL_ELEMENTS
    chunks = max(1, min(m, _start_threads())) if parallel else 1
    hidden_forward, output_delta, hidden_delta = _passes(parallel)
    with _LOCK:
        b = _get_buffers(m, n, k, p.dtype, chunks)
        # forward
        H = np.matmul(p.X, p.W1.T, out=b.H)  # X W1^T
        hidden_forward(H, p.b1, p.f, b.row_starts, b.col_sum_part)  # H = f(Z2)
        col_sum = b.col_sum_part.sum(axis=0)  # m * rho_hat
        rho_hat = col_sum / m
        sparsity = kernels.sparsity_terms(
            col_sum, p.dtype.type(m), p.rho, p.beta, p.penalty, p.lo, p.hi, b.ds
        )
        D3 = np.matmul(H, p.W2.T, out=b.D3)  # H W2^T
        output_delta(D3, p.b2, p.X, p.g, p.dtype.type(1) / m, b.row_starts, b.sq_err_part, b.db2_part)
        # backward
        dW2 = D3.T @ H
        D2 = np.matmul(D3, p.W2, out=b.D2)  # D3 W2
        hidden_delta(D2, H, p.f, p.penalty, b.ds, p.beta / m, b.row_starts, b.db1_part)
        dW1 = D2.T @ p.X
        db2 = b.db2_part.sum(axis=0)
        db1 = b.db1_part.sum(axis=0)
        reconstruction = b.sq_err_part.sum() / (2 * m)
    return _finish(p, reconstruction, sparsity, dW1, db1, dW2, db2, rho_hat)


def _finish(p: _Setup, reconstruction: float, sparsity: float, dW1: np.ndarray, db1: np.ndarray,
            dW2: np.ndarray, db2: np.ndarray, rho_hat: np.ndarray) -> _Result:
    """Add the weight decay to the gradients (in place) and measure its term."""
    lam = p.lam
    decay = lam / 2 * (np.vdot(p.W1, p.W1) + np.vdot(p.W2, p.W2))
    if lam != 0:
        dW1 += lam * p.W1
        dW2 += lam * p.W2
    return _Result(reconstruction, decay, sparsity, Params(W1=dW1, b1=db1, W2=dW2, b2=db2), rho_hat)


def thin_block_rows(n: int, k: int) -> int:
    """Rows per block of the thin-layer kernels: as many as keep a block's products
    (``block_rows * n * k`` multiply-adds) within :data:`THIN_BLOCK_WORK`, between 16 and 256."""
    return int(min(256, max(16, THIN_BLOCK_WORK // (n * k))))


def loss_and_grad_thin(
    params: Params, X: np.ndarray, objective: Objective, block_rows: int | None = None
) -> tuple[float, Params]:
    """``(J, grads)`` by the two blocked kernels, each in parallel over chunks of rows.

    :func:`~tinysae.backends._numba_kernels.thin_forward` computes everything that does not
    need ``rho_hat`` (``H``, ``G = D3 W2``, ``dW2``, ``db2``, the squared error); then the
    sparsity terms; then :func:`~tinysae.backends._numba_kernels.thin_backward` forms ``D2`` and
    ``dW1, db1``. Each chunk of rows (one per thread) sums its own gradients; they are added here.
    Blocks have ``block_rows`` rows (default :func:`thin_block_rows`; tests use small blocks).
    """
    result = _thin(params, X, objective, block_rows)
    return result.loss, result.grads


def _thin(params: Params, X: np.ndarray, objective: Objective, block_rows: int | None) -> _Result:
    p = _Setup(params, X, objective)
    m, n, k, dtype = p.m, p.n, p.k, p.dtype
    chunks = max(1, min(m, _start_threads()))
    if block_rows is None:
        block_rows = thin_block_rows(n, k)
    if block_rows < 1:
        raise ValueError(f"block_rows must be a positive number of rows, got {block_rows}")
    dW2_part, dW1_part = np.empty((chunks, n, k), dtype), np.empty((chunks, k, n), dtype)
    dW2_block, dW1_block = np.empty((chunks, n, k), dtype), np.empty((chunks, k, n), dtype)
    with _LOCK, one_blas_thread():
        # The BLAS route's buffers, same roles: H; D2 holding G = D3 W2 and then D2; D3 here
        # only as scratch space for one block of rows per thread.
        b = _get_buffers(m, n, k, dtype, chunks)
        kernels.thin_forward(
            p.X, p.W1, p.b1, p.W2, p.b2, p.f, p.g, dtype.type(1) / m, b.row_starts, block_rows,
            b.H, b.D3, b.D2, b.col_sum_part, b.sq_err_part, b.db2_part, dW2_part, dW2_block,
        )  # fmt: skip
        col_sum = b.col_sum_part.sum(axis=0)  # m * rho_hat
        sparsity = kernels.sparsity_terms(col_sum, dtype.type(m), p.rho, p.beta, p.penalty, p.lo, p.hi, b.ds)
        kernels.thin_backward(
            p.X, b.H, b.D2, p.f, p.penalty, b.ds, p.beta / m, b.row_starts, block_rows, b.db1_part, dW1_part,
            dW1_block,
        )
        db1, db2 = b.db1_part.sum(axis=0), b.db2_part.sum(axis=0)
        reconstruction = b.sq_err_part.sum() / (2 * m)
    dW1, dW2 = dW1_part.sum(axis=0), dW2_part.sum(axis=0)
    return _finish(p, reconstruction, sparsity, dW1, db1, dW2, db2, col_sum / m)


def choose_route(m: int, n: int, k: int) -> str:
    """The route :func:`loss_and_grad` takes for ``X (m, n)`` and ``k`` hidden units:
    ``"loops"`` when ``m n k <= SMALL_WORK``; ``"thin"`` when ``n k <= THIN_WEIGHTS`` and
    ``m (n + k) >= PARALLEL_ELEMENTS``; else ``"blas"``."""
    if m * n * k <= SMALL_WORK:
        return "loops"
    if n * k <= THIN_WEIGHTS and m * (n + k) >= PARALLEL_ELEMENTS:
        return "thin"
    return "blas"


def _route(params: Params, X: np.ndarray, objective: Objective) -> _Result:
    m, n = X.shape
    route = choose_route(m, n, params["W1"].shape[0])
    if route == "loops":
        return _loops(params, X, objective)
    if route == "thin":
        return _thin(params, X, objective, None)
    return _blas(params, X, objective, None)


def loss_and_grad(params: Params, X: np.ndarray, objective: Objective) -> tuple[float, Params]:
    """``(J, grads)`` by the route :func:`choose_route` picks for the shape. Inputs are trusted
    (validated by :func:`tinysae.backends.loss_and_grad`)."""
    result = _route(params, X, objective)
    return result.loss, result.grads


def contraction(params: Params, X: np.ndarray, weight: float,
                parallel: bool | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    r"""The contractive term :math:`C = \frac{\lambda_c}{m}\sum_{ij} D_{ij}^2 r_j` of weight
    :math:`\lambda_c` and its additions ``(C, dW1 (k, n), db1 (k,))`` to the gradient, with
    :mod:`tinysae.backends.numpy_ref`'s names (``D = H (1 - H)``, ``r_j = ||W1_j||^2``)::

        Z2 = X W1^T                                        BLAS
        Z2 <- C2 = 2 lambda_c / m * D^2 (1 - 2H) r         contraction_pass, with sum_i D^2, sum_i C2
        dW1 = C2^T X + 2 lambda_c / m * (sum_i D^2)[:, None] * W1,   db1 = sum_i C2

    in :func:`compute_dtype`. The pass runs over chunks of rows on numba's threads
    (``parallel=True``) or on the calling thread (``False``); by default in parallel when
    ``m (n + k) >= PARALLEL_ELEMENTS``, as the BLAS route's passes.
    """
    dtype = compute_dtype(params, X)
    X = np.ascontiguousarray(X, dtype=dtype)
    W1, b1 = (np.ascontiguousarray(params[name], dtype=dtype) for name in ("W1", "b1"))
    (m, n), k = X.shape, W1.shape[0]
    if parallel is None:
        parallel = m * (n + k) >= PARALLEL_ELEMENTS
    chunks = max(1, min(m, _start_threads())) if parallel else 1
    contraction_pass = kernels.contraction_pass if parallel else kernels.contraction_pass_serial
    scale = dtype.type(weight) / dtype.type(m)  # lambda_c / m
    r = np.einsum("jl,jl->j", W1, W1)  # ||W1_j||^2, (k,)
    d_sq_part = np.empty((chunks, k), dtype)
    with _LOCK:
        b = _get_buffers(m, n, k, dtype, chunks)  # H holds Z2 and then C2 here
        C2 = np.matmul(X, W1.T, out=b.H)  # X W1^T
        contraction_pass(C2, b1, (scale + scale) * r, b.row_starts, d_sq_part, b.db1_part)
        d_sq = d_sq_part.sum(axis=0)  # sum_i D_ij^2, (k,)
        db1 = b.db1_part.sum(axis=0)
        dW1 = C2.T @ X + ((scale + scale) * d_sq)[:, None] * W1
    return float(scale * np.dot(d_sq, r)), dW1, db1


def convolutional(model: ConvolutionalSAE, params: Params, X: np.ndarray,
                  T: np.ndarray | None = None) -> _Result:
    """The convolutional model's terms, gradients and ``rho_hat (K, H', W')`` for flat inputs
    ``X (m, C H W)`` against the targets ``T`` (None: ``X``), by the convolution kernels and the
    fused passes (module docstring), in :func:`compute_dtype`. The passes run on numba's threads
    when ``m (C H W + K H' W') >= PARALLEL_ELEMENTS``, else on the calling thread; the
    convolution kernels always run on numba's threads."""
    p = _Setup(params, X, model.objective)
    m, n, dtype = p.m, p.n, p.dtype
    kernel, stride, padding = conv_pairs(model)
    units, pixels = model.n_hidden, n // model.image_shape[0]  # K H' W' and H W
    T = p.X if T is None else np.ascontiguousarray(T, dtype=dtype)
    threads = _start_threads()
    parallel = m * (n + units) >= PARALLEL_ELEMENTS
    chunks = max(1, min(m, threads)) if parallel else 1
    hidden_forward, output_delta, hidden_delta = _passes(parallel)
    row_starts = np.linspace(0, m, chunks + 1).round().astype(np.int64)
    col_sum_part, db1_part = np.empty((chunks, units), dtype), np.empty((chunks, units), dtype)
    sq_err_part, db2_part = np.empty((chunks, n), dtype), np.empty((chunks, n), dtype)
    ds = np.empty(units, dtype)
    X_images = p.X.reshape(m, *model.image_shape)
    with _LOCK:
        # forward
        Z2 = conv.conv2d_forward(X_images, p.W1, stride, padding)  # (m, K, H', W')
        hidden_forward(Z2.reshape(m, units), np.repeat(p.b1, units // model.n_filters), p.f, row_starts,
                       col_sum_part)  # Z2 <- H = f(Z2 + b1)
        H = Z2
        col_sum = col_sum_part.sum(axis=0)  # m * rho_hat
        sparsity = kernels.sparsity_terms(col_sum, dtype.type(m), p.rho, p.beta, p.penalty, p.lo, p.hi, ds)
        Z3 = conv.conv_transpose2d_forward(H, p.W2, stride, padding, model.output_padding)  # (m, C, H, W)
        output_delta(Z3.reshape(m, n), np.repeat(p.b2, pixels), T, p.g, dtype.type(1) / m, row_starts,
                     sq_err_part, db2_part)  # Z3 <- D3
        D3 = Z3
        # backward
        dW2 = conv.conv_transpose2d_weight_grad(D3, H, kernel, stride, padding)
        D2 = conv.conv_transpose2d_input_grad(D3, p.W2, stride, padding)  # (m, K, H', W'): conv2d(D3, W2)
        hidden_delta(D2.reshape(m, units), H.reshape(m, units), p.f, p.penalty, ds, p.beta / m, row_starts,
                     db1_part)  # D2 <- (D2 + sparsity gradient) * f'(Z2)
        dW1 = conv.conv2d_weight_grad(D2, X_images, kernel, stride, padding)
    db1 = db1_part.sum(axis=0).reshape(model.n_filters, -1).sum(axis=1)
    db2 = db2_part.sum(axis=0).reshape(model.image_shape[0], -1).sum(axis=1)
    reconstruction = sq_err_part.sum() / (2 * m)
    rho_hat = (col_sum / m).reshape(model.n_filters, *model.map_shape)
    return _finish(p, reconstruction, sparsity, dW1, db1, dW2, db2, rho_hat)


def topk(model: TopKModel, params: Params, X: np.ndarray) -> Evaluation:
    """The TopK SAE's terms (the reconstruction, and AuxK while latents are dead), gradients and
    ``rho_hat (F,)`` on ``X``, by the sparse kernels of :mod:`tinysae.backends._numba_topk`
    (one BLAS product for the encoder, everything after it ``m k n``), in :func:`compute_dtype`."""
    from tinysae.backends import _numba_topk

    dtype = compute_dtype(params, X)
    W1, b1, W2, b2 = (np.asarray(params[name], dtype=dtype) for name in ("W1", "b1", "W2", "b2"))
    X = np.asarray(X, dtype=dtype)
    if model.uses_auxk():
        aux = (model.dead, min(model.aux_k, model.n_latents), model.aux_coefficient)
    else:
        aux = (None, 0, 0.0)
    terms, grads, rho_hat = _numba_topk.topk_terms_and_grad(W1, b1, W2, b2, X, model.k, *aux)
    return Evaluation(sum(terms.values()), Params({name: grads[name] for name in params}), terms, rho_hat)


# ---- as a backend ------------------------------------------------------------------------------
#: The models this backend implements (by exact type: a subclass may have other terms).
MODELS = (ClassicSAE, ContractiveSAE, ConvolutionalSAE)


def supports(model: Model) -> str | None:
    """None when this backend implements ``model`` (the classic, the contractive or the
    convolutional model, with kl, l1 or none; the TopK SAE with a per-row selection), else why not."""
    if type(model) is TopKModel:
        if model.batch_topk or model.threshold is not None:
            return ('backend="numba" implements the TopK SAE with a per-row selection, not BatchTopK '
                    "(batch_topk=True) or a threshold")
        return None
    return classic_support(model, "numba", MODELS)


def evaluate(model: Model, params: Params, batch: Batch) -> Evaluation:
    """The classic's loss, gradient and terms on ``batch`` by :func:`choose_route`'s route, and
    for the contractive model the contraction's, by :func:`contraction`, added.

    The TopK SAE's is :func:`topk`'s. The classic's and TopK's kernels compare the reconstruction
    with the inputs themselves: a batch with separate targets raises
    :class:`~tinysae.backends.capabilities.UnsupportedModel`. The convolutional model's
    evaluation is :func:`convolutional`'s, with the batch's targets.
    """
    if isinstance(model, TopKModel) and batch.targets is None:
        return topk(model, params, batch.inputs)
    if isinstance(model, ConvolutionalSAE):
        result = convolutional(model, params, batch.inputs, batch.targets)
        terms = {name: result.terms[name] for name in model.term_names()}
        return Evaluation(sum(terms.values()), result.grads, terms, result.rho_hat)
    if batch.targets is not None:
        raise UnsupportedModel('backend="numba" reconstructs the inputs themselves; a batch with separate '
                               'targets needs backend="numpy" or backend="autograd"')
    objective = classic_objective(model)
    result = _route(params, batch.inputs, objective)
    grads = result.grads
    if isinstance(model, ContractiveSAE):
        result.terms["contraction"], dW1, db1 = contraction(params, batch.inputs, model.contraction)
        grads = Params(W1=grads.W1 + dW1, b1=grads.b1 + db1, W2=grads.W2, b2=grads.b2)
    terms = {name: result.terms[name] for name in model.term_names()}
    return Evaluation(sum(terms.values()), grads, terms, result.rho_hat)
