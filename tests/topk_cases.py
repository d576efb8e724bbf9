"""The TopK sparse autoencoder for the tests: a dense numpy reference and a hypothesis strategy.

The reference is the math of :mod:`tinysae.backends._numba_topk`'s docstring written the
obvious way, with dense ``(m, F)`` arrays and no code shared with the kernels: the selection
sorts each row (``np.lexsort`` by decreasing value, then increasing index), ``H`` is a dense
matrix, and every gradient is a dense matrix product::

    Xc = X - b2,  Z2 = Xc W1^T + b1,  keep = the k best of each row,  H = relu(Z2) keep
    Xhat = H W2^T + b2,  D3 = (Xhat - X) / m,  dZ2 = (D3 W2) keep [Z2 > 0]
    dW2 = D3^T H,  dW1 = dZ2^T Xc,  db1 = sum_i dZ2,  db2 = sum_i D3 - sum_i dZ2 W1

and AuxK the same way on ``keep_aux`` (the ``aux_k`` best dead latents), without ``b2``, with
``E = X - Xhat`` a constant; no AuxK term when no latent is dead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from strategies import seeds


def ranked(row: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The allowed latents of one row of ``Z2``, best first: decreasing value, then increasing index."""
    latents = np.flatnonzero(allowed)
    order = np.lexsort((latents, -row[latents]))  # the last key is the primary one
    return latents[order]


def topk_reference(Z2: np.ndarray, k: int,
                   allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``idx, val (m, k)``: each row's ``k`` best allowed latents and ``max(Z2, 0)`` there; with
    fewer than ``k`` allowed, padded by the lowest-index latents not allowed, with value 0."""
    m, F = Z2.shape
    allowed = np.ones(F, bool) if allowed is None else allowed
    padding = np.flatnonzero(~allowed)
    idx = np.empty((m, k), np.int64)
    val = np.zeros((m, k), Z2.dtype)
    for i in range(m):
        best = ranked(Z2[i], allowed)[:k]
        idx[i, : len(best)] = best
        idx[i, len(best):] = padding[: k - len(best)]
        val[i, : len(best)] = np.maximum(Z2[i, best], 0)
    return idx, val


def dense(idx: np.ndarray, val: np.ndarray, F: int) -> np.ndarray:
    """The ``(m, F)`` matrix with ``val[i, j]`` added at ``(i, idx[i, j])``."""
    H = np.zeros((idx.shape[0], F), val.dtype)
    np.add.at(H, (np.arange(idx.shape[0])[:, None], idx), val)
    return H


def keep_mask(Z2: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """``(m, F)`` bool: True at each row's ``k`` best allowed latents (padding is not kept)."""
    allowed = np.ones(Z2.shape[1], bool) if allowed is None else allowed
    keep = np.zeros(Z2.shape, bool)
    for i in range(Z2.shape[0]):
        keep[i, ranked(Z2[i], allowed)[:k]] = True
    return keep


def decode_reference(idx: np.ndarray, val: np.ndarray, W_dec: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """``Xhat = H W_dec + b2`` with the dense ``H``."""
    return dense(idx, val, W_dec.shape[0]) @ W_dec + b2


def backward_reference(D3: np.ndarray, Xc: np.ndarray, idx: np.ndarray, val: np.ndarray,
                       W_dec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``dZ (m, k), dW_dec, dW1, db1`` by dense products: ``G = D3 W_dec^T`` at ``idx``."""
    F = W_dec.shape[0]
    G = np.take_along_axis(D3 @ W_dec.T, idx, axis=1)
    dZ = G * (val > 0)
    dZ_dense = dense(idx, dZ, F)
    return dZ, dense(idx, val, F).T @ D3, dZ_dense.T @ Xc, dZ_dense.sum(axis=0)


def forward_reference(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray,
                      k: int) -> tuple[np.ndarray, ...]:
    """``Xc, Z2, keep, H, Xhat`` in float64."""
    W1, b1, W2, b2, X = (np.asarray(a, np.float64) for a in (W1, b1, W2, b2, X))
    Xc = X - b2
    Z2 = Xc @ W1.T + b1
    keep = keep_mask(Z2, k)
    H = np.maximum(Z2, 0) * keep
    return Xc, Z2, keep, H, H @ W2.T + b2


def loss_reference(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray, k: int,
                   dead: np.ndarray | None = None, aux_k: int = 0, aux_coefficient: float = 0.0,
                   E: np.ndarray | None = None) -> float:
    """``J`` (+ ``J_aux`` when ``aux_k > 0`` and some latent is ``dead``), in float64. ``E`` replaces
    ``X - Xhat`` in ``J_aux`` when given: the constant that central differences must hold fixed
    (the gradient does not flow through it)."""
    _, Z2, _, _, Xhat = forward_reference(W1, b1, W2, b2, X, k)
    m = X.shape[0]
    J = np.sum((Xhat - X) ** 2) / (2 * m)
    if dead is not None and aux_k > 0 and dead.any():
        E = X - Xhat if E is None else E
        H_aux = np.maximum(Z2, 0) * keep_mask(Z2, aux_k, dead)
        J += aux_coefficient * np.sum((E - H_aux @ np.asarray(W2, np.float64).T) ** 2) / (2 * m)
    return float(J)


def loss_and_grad_reference(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, X: np.ndarray,
                            k: int, dead: np.ndarray | None = None, aux_k: int = 0,
                            aux_coefficient: float = 0.0) -> tuple[float, dict[str, np.ndarray]]:
    """``J`` (:func:`loss_reference`) and its gradients by the module docstring's equations,
    dense, in float64."""
    W1, W2, X = (np.asarray(a, np.float64) for a in (W1, W2, X))
    Xc, Z2, keep, H, Xhat = forward_reference(W1, b1, W2, b2, X, k)
    m = X.shape[0]
    D3 = (Xhat - X) / m
    dZ2 = (D3 @ W2) * keep * (Z2 > 0)
    grads = {"W1": dZ2.T @ Xc, "b1": dZ2.sum(axis=0), "W2": D3.T @ H,
             "b2": D3.sum(axis=0) - (dZ2 @ W1).sum(axis=0)}
    if dead is not None and aux_k > 0 and dead.any():
        keep_aux = keep_mask(Z2, aux_k, dead)
        H_aux = np.maximum(Z2, 0) * keep_aux
        D_aux = aux_coefficient * (H_aux @ W2.T - (X - Xhat)) / m
        dZ_aux = (D_aux @ W2) * keep_aux * (Z2 > 0)
        grads["W1"] += dZ_aux.T @ Xc
        grads["b1"] += dZ_aux.sum(axis=0)
        grads["W2"] += D_aux.T @ H_aux
        grads["b2"] -= (dZ_aux @ W1).sum(axis=0)
    return loss_reference(W1, b1, W2, b2, X, k, dead, aux_k, aux_coefficient), grads


@dataclass(frozen=True)
class TopKCase:
    """One problem: ``m`` samples of ``n`` features, ``F`` latents, ``k`` kept, AuxK's ``aux_k``
    (0: off) with ``dead`` the dead latents, arrays drawn from ``seed``; ``grid`` draws ``X``,
    ``W1``, ``b1``, ``b2`` from multiples of 1/4 in [-2, 2], so ``Z2`` is exact in float32 and
    float64 alike (the same selection, ties included)."""

    m: int
    n: int
    F: int
    k: int
    aux_k: int
    dead: tuple[bool, ...]
    seed: int
    grid: bool

    def arrays(self, dtype: type) -> tuple[np.ndarray, ...]:
        """``W1, b1, W2, b2, X`` in ``dtype``: ``W2``'s columns unit-norm, stored as the
        transpose of a C-contiguous ``(F, n)`` array (the kernels' layout)."""
        rng = np.random.default_rng(self.seed)

        def draw(*shape: int) -> np.ndarray:
            if self.grid:
                return rng.integers(-8, 9, size=shape) / 4
            return rng.normal(size=shape)

        W_dec = rng.normal(size=(self.F, self.n))
        W_dec /= np.linalg.norm(W_dec, axis=1, keepdims=True)
        W1, b1, b2, X = draw(self.F, self.n), draw(self.F), draw(self.n), draw(self.m, self.n)
        return tuple(a.astype(dtype) for a in (W1, b1)) + (W_dec.astype(dtype).T,) + tuple(
            a.astype(dtype) for a in (b2, X))

    @property
    def dead_mask(self) -> np.ndarray | None:
        return np.array(self.dead, bool) if self.aux_k else None


@st.composite
def topk_cases(draw: st.DrawFn, max_m: int = 9, max_n: int = 6, max_F: int = 10, aux: bool | None = None,
               grid: bool | None = None) -> TopKCase:
    """Shapes from 1 (``k`` from 1 to ``F``), AuxK on or off (``aux`` None: either), any set of
    dead latents (none, some, all), continuous or grid values (``grid`` None: either)."""
    F = draw(st.integers(1, max_F))
    use_aux = draw(st.booleans()) if aux is None else aux
    return TopKCase(
        m=draw(st.integers(1, max_m)),
        n=draw(st.integers(1, max_n)),
        F=F,
        k=draw(st.integers(1, F)),
        aux_k=draw(st.integers(1, F)) if use_aux else 0,
        dead=tuple(draw(st.lists(st.booleans(), min_size=F, max_size=F))),
        seed=draw(seeds),
        grid=draw(st.booleans()) if grid is None else grid,
    )
