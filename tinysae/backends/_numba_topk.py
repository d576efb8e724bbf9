r"""Numba kernels of a TopK sparse autoencoder (Gao et al. 2024): sparse selection, decode and backward.

The model (``W1 (F, n)``, ``b1 (F,)``, ``W2 (n, F)`` whose columns are the dictionary
directions, ``b2 (n,)`` the decoder bias, also subtracted from the input)::

    Xc   = X - b2                          (m, n)
    Z2   = Xc W1^T + b1                    (m, F)   one dense BLAS product
    H    = relu(topk_k(Z2))                (m, F)   per row: the k largest Z2[i, :] kept, then max(., 0)
    Xhat = H W2^T + b2                     (m, n)
    J    = 1/(2m) sum ||Xhat - X||^2

and, optionally, AuxK: with ``dead (F,)`` a mask of dead latents,
``H_aux = relu(topk_{aux_k}(Z2 restricted to dead latents))``, ``E = X - Xhat`` (a constant: no
gradient flows through it) and ``J_aux = aux_coefficient / (2m) sum ||E - H_aux W2^T||^2``
(no term at all when no latent is dead).

**The sparse representation of H.** A row of ``H`` has at most ``k`` non-zeros, so it is kept
as ``idx (m, k) int64`` (latent indices) and ``val (m, k)`` (their values after the relu; a
selected latent with ``Z2 <= 0`` is kept with value 0): ``H[i, idx[i, j]] = val[i, j]``. The
kernels take the decoder as ``W_dec = W2^T``, contiguous ``(F, n)``: row ``f`` is latent ``f``'s
direction, so decoding a row reads ``k`` contiguous rows of ``W_dec``. With the sparse ``H``
every step after the encoder product costs ``m k n`` instead of the dense ``m F n``::

    Xhat[i]  = b2 + sum_j val[i, j] W_dec[idx[i, j]]                      sparse_decode
    D3       = dJ/dXhat = (Xhat - X) / m                                  (m, n)
    G[i, j]  = D3[i] . W_dec[idx[i, j]]          (dJ/dval)                latent_grads
    dZ[i, j] = G[i, j] [val[i, j] > 0]           (through the relu; the selection passes the
                                                  gradient to the selected entries only)
    dW_dec[f] = sum_{(i, j): idx[i, j] = f} val[i, j] D3[i]               scatter_grads
    dW1[f]    = sum_{(i, j): idx[i, j] = f} dZ[i, j] Xc[i]
    db1[f]    = sum_{(i, j): idx[i, j] = f} dZ[i, j]
    db2       = sum_i D3[i] - sum_i sum_j dZ[i, j] W1[idx[i, j]] = sum_i D3[i] - db1 W1

The last form of ``db2`` (the gradient through ``Xc = X - b2``) groups the pairs by latent:
``sum_{(i, j)} dZ[i, j] W1[idx[i, j]] = sum_f db1[f] W1[f]``, one ``(F,) x (F, n)`` product.

**Selection and ties.** :func:`topk_rows` keeps, per row, the ``k`` latents with the largest
``Z2[i, f]``; among equal values the **lower index wins**, and the ``k`` come ordered by
decreasing ``Z2`` (ties by increasing index). It is a partial selection, not a sort: a heap of
the ``k`` best so far (its root the worst of them), which a new value enters only if it beats
the root; ``O(F log k)`` per row at worst, ``O(F)`` comparisons plus few heap updates in
practice. The heap lives in the row's own outputs ``idx[i]``, ``val[i]``, and a heapsort orders
it at the end.

:func:`topk_rows_masked` selects among the *allowed* latents only (AuxK: the dead ones). If
fewer than ``k`` are allowed (say ``c``), the first ``c`` entries of each row are all of them,
ordered as above, and the remaining ``k - c`` entries are **padding**: the lowest-index latents
that are *not* allowed, with value 0. Every index is then a valid latent, no latent appears
twice in a row (so ``H[i, idx[i]] = val[i]`` is unambiguous), and padding adds nothing to any
sum: its ``val = 0`` gives ``val D3 = 0`` and ``dZ = 0``.

**The scatter without races.** ``dW_dec``, ``dW1`` and ``db1`` are sums over the ``(i, j)``
pairs grouped by latent. :func:`latent_order` lists the pairs latent by latent (a counting
sort: ``starts (F + 1,)`` and ``order (m k,)``, the flat positions ``p = i k + j`` of latent
``f``'s pairs in ``order[starts[f]:starts[f + 1]]``, a CSC-like layout of ``H``), and
:func:`scatter_grads` runs ``prange`` over the latents: the thread owning latent ``f`` makes
every addition to rows ``f`` of the outputs, so no two threads write one entry, with no atomics
and no per-thread ``(F, n)`` buffers.

Arithmetic is in the arrays' dtype (float32 or float64), with no float literal. The kernels are
``@njit(cache=True, error_model="numpy")``, the row and latent passes ``parallel=True``;
:func:`latent_grads` also lets LLVM reorder its dot products (``fastmath={"reassoc",
"contract"}``: a sum in another order, so it vectorises; no other fast-math assumption). With
``NUMBA_DISABLE_JIT=1`` they run as plain Python. The public functions check shapes and dtypes
(``ValueError``/``TypeError``); values must be finite (checked by the layer that calls them).
They run numba's threads as the numba backend starts them (the ``workqueue`` layer,
:mod:`tinysae.backends.numba_cpu`) and under its lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numba import njit, prange

FLOATS = (np.float32, np.float64)
#: :func:`select_rows`'s padding when every latent is a candidate: none.
NO_PADDING = np.empty(0, np.int64)


# ---------------------------------------------------------------------------------------------
# selection: a heap of the k best per row
# ---------------------------------------------------------------------------------------------


@njit(inline="always", error_model="numpy")
def worse(va, fa, vb, fb):
    """Whether entry ``(va, fa)`` (value, latent) ranks below ``(vb, fb)``: a smaller value, or
    an equal value and a higher index (the lower index wins ties)."""
    return va < vb or (va == vb and fa > fb)


@njit(inline="always", error_model="numpy")
def sift_up(vals, idxs, pos):
    """Move entry ``pos`` of the heap ``vals, idxs`` up while it ranks below its parent (the
    root ``0`` is the worst entry; parent of ``p`` is ``(p - 1) // 2``)."""
    while pos > 0:
        parent = (pos - 1) // 2
        if not worse(vals[pos], idxs[pos], vals[parent], idxs[parent]):
            return
        vals[pos], vals[parent] = vals[parent], vals[pos]
        idxs[pos], idxs[parent] = idxs[parent], idxs[pos]
        pos = parent


@njit(inline="always", error_model="numpy")
def sift_down(vals, idxs, size, pos):
    """Move entry ``pos`` of the heap ``vals[:size], idxs[:size]`` down while a child ranks
    below it (children of ``p``: ``2p + 1`` and ``2p + 2``)."""
    while True:
        child = 2 * pos + 1
        if child >= size:
            return
        right = child + 1
        if right < size and worse(vals[right], idxs[right], vals[child], idxs[child]):
            child = right
        if not worse(vals[child], idxs[child], vals[pos], idxs[pos]):
            return
        vals[pos], vals[child] = vals[child], vals[pos]
        idxs[pos], idxs[child] = idxs[child], idxs[pos]
        pos = child


@njit(inline="always", error_model="numpy")
def offer(vals, idxs, size, v, f):
    """Offer latent ``f`` with value ``v`` to the heap of the best ``len(vals)`` so far, which
    holds ``size`` entries; returns the new size. Latents are offered by increasing index, so
    ``f`` loses a tie with every entry already kept: it enters a full heap only if ``v`` is
    strictly above the root's value."""
    if size < vals.shape[0]:
        vals[size] = v
        idxs[size] = f
        sift_up(vals, idxs, size)
        return size + 1
    if v > vals[0]:
        vals[0] = v
        idxs[0] = f
        sift_down(vals, idxs, size, 0)
    return size


@njit(inline="always", error_model="numpy")
def sort_and_relu(vals, idxs, size):
    """Heapsort the heap ``vals[:size], idxs[:size]`` best first (the worst root is swapped to
    the end each time), then ``vals <- max(vals, 0)``."""
    for end in range(size - 1, 0, -1):
        vals[0], vals[end] = vals[end], vals[0]
        idxs[0], idxs[end] = idxs[end], idxs[0]
        sift_down(vals, idxs, end, 0)
    for j in range(size):
        if not vals[j] > 0:
            vals[j] = 0


@njit(parallel=True, cache=True, error_model="numpy")
def select_rows(Z2, b1, candidates, padding, idx, val):
    """``idx, val (m, k)`` <- per row ``i``, the ``s = k - len(padding)`` largest
    ``Z2[i, f] + b1[f]`` over the latents ``candidates (c,)`` (increasing; ``s = min(k, c)``),
    lower index first among ties, best first, values after the relu; entries ``s:`` get the
    latents ``padding`` with value 0. ``prange`` over rows.

    :func:`topk_rows` passes every latent (``candidates[t] = t``) and no padding; the row is then
    read directly, ``Z2[i, f]`` for ``f < F``, rather than through ``candidates`` (measured at
    ``F = 16384`` on one thread: 1.3 times faster). One kernel for both compiles in half the
    time of two."""
    m, F = Z2.shape
    s = idx.shape[1] - padding.shape[0]
    every = candidates.shape[0] == F
    for i in prange(m):
        vals, idxs = val[i, :s], idx[i, :s]
        size = 0
        if every:
            for f in range(F):
                size = offer(vals, idxs, size, Z2[i, f] + b1[f], f)
        else:
            for t in range(candidates.shape[0]):
                f = candidates[t]
                size = offer(vals, idxs, size, Z2[i, f] + b1[f], f)
        sort_and_relu(vals, idxs, size)
        for j in range(padding.shape[0]):
            idx[i, s + j] = padding[j]
            val[i, s + j] = 0


# ---------------------------------------------------------------------------------------------
# sparse decode and the sparse backward pass
# ---------------------------------------------------------------------------------------------


@njit(parallel=True, cache=True, error_model="numpy")
def decode_rows(idx, val, W_dec, b2, Xhat):
    """``Xhat (m, n)`` <- ``b2 + sum_j val[i, j] W_dec[idx[i, j]]`` row by row (``prange``)."""
    m, k = idx.shape
    n = W_dec.shape[1]
    for i in prange(m):
        for l in range(n):
            Xhat[i, l] = b2[l]
        for j in range(k):
            v = val[i, j]
            row = W_dec[idx[i, j]]
            for l in range(n):
                Xhat[i, l] += v * row[l]


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def latent_grads(D3, idx, val, W_dec, dZ):
    """``dZ (m, k)`` <- ``G[i, j] [val[i, j] > 0]`` with ``G[i, j] = D3[i] . W_dec[idx[i, j]]``
    (``dJ/dval``, then through the relu). ``prange`` over rows; a selected latent at value 0
    gets no gradient (its ``Z2 <= 0``: the relu's slope there is 0)."""
    m, k = idx.shape
    n = D3.shape[1]
    zero = D3.dtype.type(0)
    for i in prange(m):
        for j in range(k):
            if val[i, j] > 0:
                row = W_dec[idx[i, j]]
                g = zero
                for l in range(n):
                    g += D3[i, l] * row[l]
                dZ[i, j] = g
            else:
                dZ[i, j] = 0


@njit(cache=True, error_model="numpy")
def latent_order(idx, F):
    """The ``(i, j)`` pairs of ``idx (m, k)`` grouped by latent, by a counting sort:
    ``starts (F + 1,)`` and ``order (m k,)``, where ``order[starts[f]:starts[f + 1]]`` are the
    flat positions ``p = i k + j`` with ``idx[i, j] = f``, increasing. ``O(m k + F)``."""
    flat = idx.ravel()
    starts = np.zeros(F + 1, dtype=np.int64)
    for p in range(flat.shape[0]):
        starts[flat[p] + 1] += 1
    for f in range(F):
        starts[f + 1] += starts[f]
    fill = starts[:F].copy()
    order = np.empty(flat.shape[0], dtype=np.int64)
    for p in range(flat.shape[0]):
        f = flat[p]
        order[fill[f]] = p
        fill[f] += 1
    return starts, order


@njit(parallel=True, cache=True, error_model="numpy")
def scatter_grads(starts, order, val, D3, dZ, Xc, dW_dec, dW1, db1):
    """Add one term's sparse gradients, latent by latent (``prange`` over latents ``f``; the
    pairs of ``f`` from :func:`latent_order`)::

        dW_dec[f] += sum val[i, j] D3[i],   dW1[f] += sum dZ[i, j] Xc[i],   db1[f] += sum dZ[i, j]
    """
    k = val.shape[1]
    n = D3.shape[1]
    for f in prange(starts.shape[0] - 1):
        for t in range(starts[f], starts[f + 1]):
            i, j = order[t] // k, order[t] % k
            v, d = val[i, j], dZ[i, j]
            db1[f] += d
            for l in range(n):
                dW_dec[f, l] += v * D3[i, l]
                dW1[f, l] += d * Xc[i, l]


# ---------------------------------------------------------------------------------------------
# the public functions: checks, then the kernels
# ---------------------------------------------------------------------------------------------


@contextmanager
def _numba_threads() -> Iterator[None]:
    """numba's threads started as the numba backend starts them, and its lock held (the
    ``workqueue`` layer must not be entered from two threads at once)."""
    from tinysae.backends import numba_cpu

    numba_cpu._start_threads()
    with numba_cpu._LOCK:
        yield


def _float_dtype(name: str, array: np.ndarray) -> np.dtype:
    """``array``'s dtype, which must be float32 or float64."""
    if not isinstance(array, np.ndarray) or array.dtype.type not in FLOATS:
        raise TypeError(f"{name} must be a float32 or float64 numpy array, got "
                        f"{getattr(array, 'dtype', type(array).__name__)}")
    return array.dtype


def _check_arrays(dtype: np.dtype, shapes: dict[str, tuple[np.ndarray, tuple[int, ...]]]) -> None:
    """Each named array has the expected shape and ``dtype``."""
    for name, (array, shape) in shapes.items():
        if _float_dtype(name, array) != dtype:
            raise TypeError(f"{name} is {array.dtype}, but the other arrays are {dtype}: use one dtype")
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {array.shape}")


def _check_k(name: str, k: int, F: int) -> int:
    """``k`` as an int in ``[1, F]``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(k).__name__}")
    if not 1 <= k <= F:
        raise ValueError(f"{name} must be between 1 and the number of latents F = {F}, got {k}")
    return int(k)


def _check_selection(Z2: np.ndarray, k: int, b1: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``Z2`` (2-D, a float dtype) as a C-contiguous array, ``b1`` (zeros when None)."""
    dtype = _float_dtype("Z2", Z2)
    if Z2.ndim != 2:
        raise ValueError(f"Z2 must be 2-D (m, F), got shape {Z2.shape}")
    _check_k("k", k, Z2.shape[1])
    b1 = np.zeros(Z2.shape[1], dtype) if b1 is None else b1
    _check_arrays(dtype, {"b1": (b1, (Z2.shape[1],))})
    return np.ascontiguousarray(Z2), np.ascontiguousarray(b1)


def _check_sparse(idx: np.ndarray, val: np.ndarray, W_dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``idx (m, k)`` int64 of valid latents of ``W_dec (F, n)`` (C-contiguous) and ``val (m, k)``,
    returned C-contiguous."""
    dtype = _float_dtype("W_dec", W_dec)
    if W_dec.ndim != 2 or not W_dec.flags.c_contiguous:
        raise ValueError(f"W_dec must be a C-contiguous (F, n) array (W2.T copied), got shape {W_dec.shape}")
    if not isinstance(idx, np.ndarray) or idx.dtype != np.int64 or idx.ndim != 2:
        raise TypeError("idx must be a 2-D int64 array (m, k) of latent indices")
    _check_arrays(dtype, {"val": (val, idx.shape)})
    if idx.size and (idx.min() < 0 or idx.max() >= W_dec.shape[0]):
        raise ValueError(f"idx must hold latent indices in [0, {W_dec.shape[0]}), got "
                         f"[{idx.min()}, {idx.max()}]")
    return np.ascontiguousarray(idx), np.ascontiguousarray(val)


def topk_rows(Z2: np.ndarray, k: int, b1: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``idx (m, k) int64, val (m, k)``: per row, the ``k`` latents with the largest
    ``Z2[i, f]`` (``+ b1[f]`` when ``b1 (F,)`` is given: the encoder bias added on the way, which
    saves a pass over ``(m, F)``), best first, lower index first among equal values, and
    ``val = max(Z2[i, idx], 0)``."""
    Z2, b1 = _check_selection(Z2, k, b1)
    idx = np.empty((Z2.shape[0], k), np.int64)
    val = np.empty((Z2.shape[0], k), Z2.dtype)
    with _numba_threads():
        select_rows(Z2, b1, np.arange(Z2.shape[1]), NO_PADDING, idx, val)
    return idx, val


def topk_rows_masked(Z2: np.ndarray, k: int, allowed: np.ndarray,
                     b1: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk_rows` among the latents with ``allowed (F,) bool`` True only. With ``c < k``
    allowed latents, each row's first ``c`` entries are all of them (best first) and its last
    ``k - c`` are padding: the lowest-index latents not allowed, with value 0."""
    Z2, b1 = _check_selection(Z2, k, b1)
    candidates, padding = _candidates(allowed, k, Z2.shape[1])
    idx = np.empty((Z2.shape[0], k), np.int64)
    val = np.empty((Z2.shape[0], k), Z2.dtype)
    with _numba_threads():
        select_rows(Z2, b1, candidates, padding, idx, val)
    return idx, val


def _candidates(allowed: np.ndarray, k: int, F: int) -> tuple[np.ndarray, np.ndarray]:
    """The allowed latents (increasing) and the padding latents: the ``max(0, k - c)``
    lowest-index latents not allowed."""
    if not isinstance(allowed, np.ndarray) or allowed.dtype != np.bool_ or allowed.shape != (F,):
        raise TypeError(f"the mask of latents must be a bool numpy array of shape ({F},), got "
                        f"{getattr(allowed, 'dtype', type(allowed).__name__)} "
                        f"{getattr(allowed, 'shape', '')}")
    candidates = np.flatnonzero(allowed)
    padding = np.flatnonzero(~allowed)[: max(0, k - candidates.shape[0])]
    return candidates, padding


def sparse_decode(idx: np.ndarray, val: np.ndarray, W_dec: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """``Xhat (m, n)``: ``Xhat[i] = b2 + sum_j val[i, j] W_dec[idx[i, j]]`` for ``W_dec (F, n)``
    (``= W2^T``, C-contiguous) and ``b2 (n,)``; ``m k n`` multiply-adds."""
    idx, val = _check_sparse(idx, val, W_dec)
    _check_arrays(W_dec.dtype, {"b2": (b2, (W_dec.shape[1],))})
    Xhat = np.empty((idx.shape[0], W_dec.shape[1]), W_dec.dtype)
    with _numba_threads():
        decode_rows(idx, val, W_dec, b2, Xhat)
    return Xhat


def sparse_backward(D3: np.ndarray, Xc: np.ndarray, idx: np.ndarray, val: np.ndarray,
                    W_dec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``dZ (m, k), dW_dec (F, n), dW1 (F, n), db1 (F,)`` of one TopK term, given its upstream
    ``D3 = dJ/dXhat (m, n)`` and the encoder's input ``Xc (m, n)``: the module docstring's
    equations, ``m k n`` each (``dW2 = dW_dec^T``; the term's ``db2`` is
    ``sum_i D3[i] - db1 W1`` when its decode adds ``b2``, ``-db1 W1`` otherwise)."""
    idx, val = _check_sparse(idx, val, W_dec)
    m, n = idx.shape[0], W_dec.shape[1]
    _check_arrays(W_dec.dtype, {"D3": (D3, (m, n)), "Xc": (Xc, (m, n))})
    grads = _zero_grads(W_dec)
    with _numba_threads():
        dZ = _add_sparse_grads(np.ascontiguousarray(D3), np.ascontiguousarray(Xc), idx, val, W_dec, *grads)
    return (dZ, *grads)


def _zero_grads(W_dec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero ``dW_dec (F, n)``, ``dW1 (F, n)``, ``db1 (F,)`` in ``W_dec``'s dtype."""
    F, n = W_dec.shape
    return np.zeros((F, n), W_dec.dtype), np.zeros((F, n), W_dec.dtype), np.zeros(F, W_dec.dtype)


def _add_sparse_grads(D3: np.ndarray, Xc: np.ndarray, idx: np.ndarray, val: np.ndarray, W_dec: np.ndarray,
                      dW_dec: np.ndarray, dW1: np.ndarray, db1: np.ndarray) -> np.ndarray:
    """Add one term's ``dW_dec, dW1, db1`` to the given arrays (kernels only, no checks);
    return its ``dZ (m, k)``."""
    dZ = np.empty(idx.shape, D3.dtype)
    latent_grads(D3, idx, val, W_dec, dZ)
    starts, order = latent_order(idx, W_dec.shape[0])
    scatter_grads(starts, order, val, D3, dZ, Xc, dW_dec, dW1, db1)
    return dZ


def topk_loss_and_grad(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, k: int,
                       dead: np.ndarray | None = None, aux_k: int = 0,
                       aux_coefficient: float = 0.0) -> tuple[float, dict[str, np.ndarray]]:
    """``J`` (the sum of the terms) and its gradients: :func:`topk_terms_and_grad`'s."""
    terms, grads, _ = topk_terms_and_grad(W1, b1, W2, b2, X, k, dead, aux_k, aux_coefficient)
    return sum(terms.values()), grads


def topk_terms_and_grad(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, k: int,
                        dead: np.ndarray | None = None, aux_k: int = 0, aux_coefficient: float = 0.0
                        ) -> tuple[dict[str, float], dict[str, np.ndarray], np.ndarray]:
    """The terms ``{"reconstruction": J}`` (and ``"auxk": J_aux`` with AuxK), the gradients
    ``{"W1", "b1", "W2", "b2"}`` of their sum and ``rho_hat (F,)``, each latent's mean activation
    over the rows (``sum_i H[i, f] / m``, from the sparse ``H``), for the TopK SAE of the module
    docstring (``W1 (F, n)``, ``b1 (F,)``, ``W2 (n, F)``, ``b2 (n,)``, ``X (m, n)``, one float
    dtype), plus AuxK's ``J_aux`` when ``dead (F,) bool`` is given and ``aux_k > 0``.

    The encoder ``Xc W1^T`` is numpy's BLAS; ``b1`` is added during the selection
    (:func:`select_rows`), and every later step is sparse (``m k n``). AuxK decodes ``H_aux``
    without ``b2`` (:func:`decode_rows` with a zero bias) and, with ``D_aux = aux_coefficient
    (H_aux W2^T - E) / m``, adds its sparse gradients to ``W2`` (dead columns), ``W1``, ``b1``
    and (through ``Xc``) ``b2``. With no dead latent there is no AuxK term (``J_aux = 0``), as in
    :class:`tinysae.models.dictionary.TopKModel` (the formula would give ``H_aux = 0`` and the
    constant ``aux_coefficient ||E||^2 / (2m)``, with no gradient).

    The kernels need ``W_dec = W2^T`` C-contiguous: a ``W2`` stored as the transpose of a
    C-contiguous ``(F, n)`` array is used as is, any other is copied each call. ``dW2`` comes
    back in that layout (``dW_dec.T``).
    """
    dtype = _float_dtype("X", X)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be 2-D (m, n) with m >= 1 samples, got shape {X.shape}")
    m, n = X.shape
    _float_dtype("W1", W1)
    if W1.ndim != 2:
        raise ValueError(f"W1 must be 2-D (F, n), got shape {W1.shape}")
    F = W1.shape[0]
    _check_arrays(dtype, {"W1": (W1, (F, n)), "b1": (b1, (F,)), "W2": (W2, (n, F)), "b2": (b2, (n,))})
    k = _check_k("k", k, F)
    if aux_k and dead is None:
        raise ValueError(f"aux_k = {aux_k} asks for the AuxK term, which needs dead: the (F,) bool mask "
                         "of dead latents")
    use_aux = dead is not None and aux_k != 0
    if use_aux:
        aux_k = _check_k("aux_k", aux_k, F)
        candidates, padding = _candidates(dead, aux_k, F)
        use_aux = candidates.shape[0] > 0
    W_dec = np.ascontiguousarray(W2.T)
    W1, b1, b2, X = (np.ascontiguousarray(a) for a in (W1, b1, b2, X))
    with _numba_threads():
        Xc = X - b2
        Z2 = Xc @ W1.T
        idx, val = np.empty((m, k), np.int64), np.empty((m, k), dtype)
        select_rows(Z2, b1, np.arange(F), NO_PADDING, idx, val)
        Xhat = np.empty((m, n), dtype)
        decode_rows(idx, val, W_dec, b2, Xhat)
        residual = Xhat - X
        terms = {"reconstruction": float(np.square(residual).sum()) / (2 * m)}
        D3 = residual / dtype.type(m)
        dW_dec, dW1, db1 = _zero_grads(W_dec)
        _add_sparse_grads(D3, Xc, idx, val, W_dec, dW_dec, dW1, db1)
        db2 = D3.sum(axis=0)
        if use_aux:
            idx_aux, val_aux = np.empty((m, aux_k), np.int64), np.empty((m, aux_k), dtype)
            select_rows(Z2, b1, candidates, padding, idx_aux, val_aux)
            Xhat_aux = np.empty((m, n), dtype)
            decode_rows(idx_aux, val_aux, W_dec, np.zeros(n, dtype), Xhat_aux)
            aux_residual = Xhat_aux + residual  # H_aux W2^T - E, with E = X - Xhat = -residual
            terms["auxk"] = aux_coefficient * float(np.square(aux_residual).sum()) / (2 * m)
            D_aux = aux_residual * dtype.type(aux_coefficient / m)
            _add_sparse_grads(D_aux, Xc, idx_aux, val_aux, W_dec, dW_dec, dW1, db1)
        db2 -= db1 @ W1
    rho_hat = np.bincount(idx.ravel(), weights=val.ravel(), minlength=F) / m
    return terms, {"W1": dW1, "b1": db1, "W2": dW_dec.T, "b2": db2}, rho_hat
