r"""The ``numba.cuda`` kernels behind ``backend="cuda"``, one small kernel per job.

Read them beside :mod:`tinysae.backends.numpy_ref`; every line of docs/design.md has its kernel:

=================================  ========================================  ======================
docs/design.md                          kernel                                    launched on
=================================  ========================================  ======================
``Z2 = X W1^T``, ``Z3 = H W2^T``   :func:`matmul` (``trans_b=True``)          (m, k), (m, n)
``+ b1``, ``H = f(Z2)``            :func:`bias_activate`                      (m, k)
``rho_hat = mean_i H``             :func:`column_sums` (``scale = 1/m``)      (k,)
``+ b2``, ``Xhat = g(Z3)``, ``D3`` :func:`output_delta` (also ``(Xhat-X)^2``) (m, n)
``s``, ``KL(rho || rho_hat)``      :func:`sparsity_terms`                     (k,)
``D3 W2``                          :func:`matmul`                             (m, k)
``D2``                             :func:`hidden_delta`                       (m, k)
``D3^T H``, ``D2^T X``             :func:`matmul` (``trans_a=True``)          (n, k), (k, n)
``+ lambda W``                     :func:`add_scaled`                         (n, k), (k, n)
``db2``, ``db1``, loss sums        :func:`column_sums`                        (n,), (k,), (1,)
``J``                              :func:`assemble_loss` (one thread)         scalar
Adam                               :func:`gather_rows`, :func:`adam_step`     minibatch, parameters
=================================  ========================================  ======================

Shared memory needs its element type and shape when the kernel is compiled, so the kernels are
made by :func:`kernels` for one dtype (float32 or float64) and one tile width ``tile`` (each
block is ``tile x tile`` threads). Every literal is typed from the dtype (``ZERO``, ``ONE``), so a
float32 kernel never silently computes in float64.

Under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) these kernels run as plain Python,
each thread of a block a Python thread, so a student can put ``print`` or a debugger inside them
(:mod:`tinysae.backends._cudasim` fixes the simulator's one race that touches these kernels).
"""

from __future__ import annotations

import math
from functools import cache
from types import SimpleNamespace

import numba
import numpy as np
from numba import config, cuda

from tinysae.backends._cudasim import make_shared_arrays_thread_safe
from tinysae.functions import rho_hat_bounds

#: Codes of the nonlinearities ``f`` and ``g`` (kernels take ints, not strings).
SIGMOID, RELU, IDENTITY = 0, 1, 2
ACTIVATION_CODES = {"sigmoid": SIGMOID, "relu": RELU, "identity": IDENTITY}

#: Codes of the sparsity penalties.
KL, L1, NO_PENALTY = 0, 1, 2
PENALTY_CODES = {"kl": KL, "l1": L1, "none": NO_PENALTY}


@cache
def kernels(dtype_name: str, tile: int) -> SimpleNamespace:
    """All kernels for arrays of ``dtype_name`` ("float32" or "float64") and blocks of
    ``tile x tile`` threads, as attributes of a namespace (compiled lazily, once per process)."""
    if config.ENABLE_CUDASIM:
        make_shared_arrays_thread_safe()
    T = numba.from_dtype(np.dtype(dtype_name))
    ZERO = np.dtype(dtype_name).type(0.0)
    ONE = np.dtype(dtype_name).type(1.0)
    TWO = np.dtype(dtype_name).type(2.0)
    # rho_hat is clipped to the interval of tinysae.functions.clip_rho_hat
    lo, hi = rho_hat_bounds(dtype_name)
    RHO_LO, RHO_HI = np.dtype(dtype_name).type(lo), np.dtype(dtype_name).type(hi)

    # ---- scalar device functions: the formulas of tinysae.functions.ACTIVATIONS ---------------

    @cuda.jit(device=True)
    def sigmoid(z):
        r"""Stable :math:`\sigma(z) = 1/(1+e^{-z})`: ``exp`` only ever sees a value <= 0."""
        if z >= ZERO:
            return ONE / (ONE + math.exp(-z))
        e = math.exp(z)
        return e / (ONE + e)

    @cuda.jit(device=True)
    def activate(z, code):
        """``f(z)`` or ``g(z)``: sigmoid, relu ``max(z, 0)`` or identity."""
        if code == SIGMOID:
            return sigmoid(z)
        if code == RELU:
            return z if z > ZERO else ZERO
        return z

    @cuda.jit(device=True)
    def activate_grad(z, a, code):
        """The derivative at ``z`` given ``a = activate(z)``: ``a (1 - a)``, ``[z > 0]`` or 1."""
        if code == SIGMOID:
            return a * (ONE - a)
        if code == RELU:
            return ONE if z > ZERO else ZERO
        return ONE

    # ---- matrix multiply ---------------------------------------------------------------------

    @cuda.jit
    def matmul(A, B, C, trans_a, trans_b):
        r"""``C = op(A) op(B)`` with ``op(A) = A^T`` when ``trans_a`` (likewise B), tiled.

        Thread ``(tx, ty)`` of block ``(bx, by)`` owns ``C[row0 + ty, col0 + tx]`` with
        ``row0 = by*tile``, ``col0 = bx*tile``. The
        inner dimension is walked one tile at a time: the block copies a ``tile x tile`` piece of
        op(A) and of op(B) into shared memory (zeros past the edges, so a partial tile adds
        nothing), waits, and each thread adds ``tile`` products from the fast shared copies.
        """
        As = cuda.shared.array((tile, tile), T)  # As[r, c] = op(A)[row0 + r, start + c]
        Bs = cuda.shared.array((tile, tile), T)  # Bs[r, c] = op(B)[start + r, col0 + c]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row0 = cuda.blockIdx.y * tile
        col0 = cuda.blockIdx.x * tile
        rows, cols = C.shape
        inner = A.shape[0] if trans_a else A.shape[1]
        acc = ZERO
        for start in range(0, inner, tile):
            # Neighbouring threads (tx, tx + 1) read neighbouring entries of A's and B's rows,
            # so a transposed operand is read row-wise and stored transposed in shared memory.
            if trans_a:  # op(A)[i, p] = A[p, i]: thread (tx, ty) reads A[start + ty, row0 + tx]
                i, p = row0 + tx, start + ty
                As[tx, ty] = A[p, i] if i < rows and p < inner else ZERO
            else:  # thread (tx, ty) reads A[row0 + ty, start + tx]
                i, p = row0 + ty, start + tx
                As[ty, tx] = A[i, p] if i < rows and p < inner else ZERO
            if trans_b:  # op(B)[q, j] = B[j, q]: thread (tx, ty) reads B[col0 + ty, start + tx]
                q, j = start + tx, col0 + ty
                Bs[tx, ty] = B[j, q] if q < inner and j < cols else ZERO
            else:  # thread (tx, ty) reads B[start + ty, col0 + tx]
                q, j = start + ty, col0 + tx
                Bs[ty, tx] = B[q, j] if q < inner and j < cols else ZERO
            cuda.syncthreads()
            for r in range(tile):
                acc += As[ty, r] * Bs[r, tx]
            cuda.syncthreads()
        row, col = row0 + ty, col0 + tx
        if row < rows and col < cols:
            C[row, col] = acc

    # ---- fused elementwise kernels (one thread per entry, 2-D grid) --------------------------

    @cuda.jit
    def bias_activate(Z, b, A, code):
        """``Z += b`` (broadcast over rows), then ``A = f(Z)``: ``Z2, H`` from ``X W1^T``."""
        j, i = cuda.grid(2)
        if i < Z.shape[0] and j < Z.shape[1]:
            z = Z[i, j] + b[j]
            Z[i, j] = z
            A[i, j] = activate(z, code)

    @cuda.jit
    def output_delta(Z3, b2, X, code, m, D3, E):
        """``Z3 += b2``, ``Xhat = g(Z3)``, ``D3 = (Xhat - X) g'(Z3) / m``, ``E = (Xhat - X)^2``."""
        j, i = cuda.grid(2)
        if i < Z3.shape[0] and j < Z3.shape[1]:
            z = Z3[i, j] + b2[j]
            Z3[i, j] = z
            xhat = activate(z, code)
            r = xhat - X[i, j]
            D3[i, j] = r * activate_grad(z, xhat, code) / m
            E[i, j] = r * r

    @cuda.jit
    def sparsity_terms(rho_hat, rho, s, kl):
        r"""Per hidden unit j: ``s_j = -rho/rho_hat_j + (1-rho)/(1-rho_hat_j)`` and
        :math:`\mathrm{KL}(\rho\Vert\hat\rho_j)`, with ``rho_hat`` clipped into (0, 1)."""
        j = cuda.grid(1)
        if j < rho_hat.shape[0]:
            r = min(max(rho_hat[j], RHO_LO), RHO_HI)
            s[j] = -rho / r + (ONE - rho) / (ONE - r)
            kl[j] = rho * math.log(rho / r) + (ONE - rho) * math.log((ONE - rho) / (ONE - r))

    @cuda.jit
    def hidden_delta(G, Z2, H, s, penalty, beta, m, code):
        """In place, ``G = D3 W2`` becomes ``D2 = (D3 W2 + sparsity) * f'(Z2)``; the sparsity
        gradient at H is ``beta * s_j / m`` (KL), ``beta * sign(H_ij) / m`` (L1) or 0."""
        j, i = cuda.grid(2)
        if i < G.shape[0] and j < G.shape[1]:
            h = H[i, j]
            if penalty == KL:
                sparse = beta * s[j] / m
            elif penalty == L1:
                sign = ONE if h > ZERO else (-ONE if h < ZERO else ZERO)
                sparse = beta * sign / m
            else:
                sparse = ZERO
            G[i, j] = (G[i, j] + sparse) * activate_grad(Z2[i, j], h, code)

    @cuda.jit
    def add_scaled(C, lam, W):
        """``C += lambda W``: the weight-decay part of ``dW1`` and ``dW2``."""
        j, i = cuda.grid(2)
        if i < C.shape[0] and j < C.shape[1]:
            C[i, j] = C[i, j] + lam * W[i, j]

    # ---- reductions --------------------------------------------------------------------------

    @cuda.jit
    def column_sums(A, out, scale, square):
        """One pass of ``out[c, j] = scale * sum_i A[i, j]`` over the rows of chunk c.

        Block ``(bx, by)`` handles columns ``bx*tile ...`` and the ``tile*tile`` rows of chunk
        ``by``: each thread adds ``tile`` rows (a stride of ``tile`` apart), then thread row 0
        adds the ``tile`` partial sums held in shared memory. Entries are squared first when
        ``square``. Repeat on ``out`` until one chunk is left (see ``numba_cuda.column_sums``).
        """
        partial = cuda.shared.array((tile, tile), T)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        col = cuda.blockIdx.x * tile + tx
        first_row = cuda.blockIdx.y * tile * tile + ty
        acc = ZERO
        if col < A.shape[1]:
            for q in range(tile):
                i = first_row + q * tile
                if i < A.shape[0]:
                    a = A[i, col]
                    acc += a * a if square else a
        partial[ty, tx] = acc
        cuda.syncthreads()
        if ty == 0 and col < A.shape[1]:
            total = ZERO
            for q in range(tile):
                total += partial[q, tx]
            out[cuda.blockIdx.y, col] = total * scale

    @cuda.jit
    def assemble_loss(recon, w1_sq, w2_sq, kl_sum, rho_hat_sum, penalty, beta, lam, m, out, t, terms):
        r"""One thread writes ``out[t] = J``: ``recon / (2m) + lambda/2 (||W1||^2 + ||W2||^2)``
        plus ``beta sum_j KL_j`` (KL) or ``beta/m sum_ij |H_ij| = beta sum_j rho_hat_j`` (L1,
        because H >= 0 for sigmoid and relu), and ``terms (3,)``: the reconstruction, weight
        decay and sparsity terms. Each input is a 1-element array of a sum."""
        if cuda.grid(1) == 0:
            reconstruction = recon[0] / (TWO * m)
            decay = lam / TWO * (w1_sq[0] + w2_sq[0])
            if penalty == KL:
                sparsity = beta * kl_sum[0]
            elif penalty == L1:
                sparsity = beta * rho_hat_sum[0]
            else:
                sparsity = ZERO
            terms[0] = reconstruction
            terms[1] = decay
            terms[2] = sparsity
            out[t] = reconstruction + decay + sparsity

    # ---- minibatch Adam ----------------------------------------------------------------------

    @cuda.jit
    def gather_rows(X, index, start, Xb):
        """``Xb[i, :] = X[index[start + i], :]``: copy one minibatch's rows, on the device."""
        j, i = cuda.grid(2)
        if i < Xb.shape[0] and j < Xb.shape[1]:
            Xb[i, j] = X[index[start + i], j]

    @cuda.jit
    def adam_step(p, g, mom, vel, learning_rate, beta1, beta2, eps, correction1, correction2):
        r"""One Adam step on flat arrays, ``correction_i = 1 - beta_i^t``:

        .. math::
            m \leftarrow \beta_1 m + (1-\beta_1) g, \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2,
            \quad p \leftarrow p - \eta\, \frac{m / c_1}{\sqrt{v / c_2} + \epsilon}
        """
        i = cuda.grid(1)
        if i < p.shape[0]:
            grad = g[i]
            mom[i] = beta1 * mom[i] + (ONE - beta1) * grad
            vel[i] = beta2 * vel[i] + (ONE - beta2) * grad * grad
            mhat = mom[i] / correction1
            vhat = vel[i] / correction2
            p[i] = p[i] - learning_rate * mhat / (math.sqrt(vhat) + eps)

    return SimpleNamespace(
        matmul=matmul,
        bias_activate=bias_activate,
        output_delta=output_delta,
        sparsity_terms=sparsity_terms,
        hidden_delta=hidden_delta,
        add_scaled=add_scaled,
        column_sums=column_sums,
        assemble_loss=assemble_loss,
        gather_rows=gather_rows,
        adam_step=adam_step,
        dtype=np.dtype(dtype_name),
        tile=tile,
    )


def kernel_signatures(dtype_name: str) -> dict[str, tuple]:
    """The argument types each kernel is launched with (C-contiguous arrays of ``dtype_name``,
    int64 codes and indices, booleans), for compiling them ahead of time with
    ``numba.cuda.compile_ptx``."""
    T = numba.from_dtype(np.dtype(dtype_name))
    A1, A2 = T[::1], T[:, ::1]
    i64, flag = numba.int64, numba.boolean
    return {
        "matmul": (A2, A2, A2, flag, flag),
        "bias_activate": (A2, A1, A2, i64),
        "output_delta": (A2, A1, A2, i64, T, A2, A2),
        "sparsity_terms": (A1, T, A1, A1),
        "hidden_delta": (A2, A2, A2, A1, i64, T, T, i64),
        "add_scaled": (A2, T, A2),
        "column_sums": (A2, A2, T, flag),
        "assemble_loss": (A1, A1, A1, A1, A1, i64, T, T, T, A1, i64, A1),
        "gather_rows": (A2, numba.int64[::1], i64, A2),
        "adam_step": (A1, A1, A1, A1, T, T, T, T, T, T),
    }


def compile_all_to_ptx(dtype_name: str, tile: int) -> dict[str, str]:
    """PTX of every kernel for ``dtype_name`` and ``tile``, compiled without running anything.

    Needs numba-cuda's compiler libraries (NVVM, NVRTC: ``pip install "numba-cuda[cu12]"`` or
    ``[cu13]``) but no GPU; it checks that every kernel compiles for real hardware, which the
    simulator (plain Python) cannot.
    """
    namespace = kernels(dtype_name, tile)
    ptx = {}
    for name, signature in kernel_signatures(dtype_name).items():
        code, _ = cuda.compile_ptx(getattr(namespace, name).py_func, signature)
        ptx[name] = code
    return ptx
