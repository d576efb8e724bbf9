r"""The reference backend: DESIGN.md's hand-derived equations, line by line, in numpy.

Forward (rows are samples)::

    Z2 = X W1^T + b1          (m, k)       H    = f(Z2)
    rho_hat = mean_i H        (k,)
    Z3 = H W2^T + b2          (m, n)       Xhat = g(Z3)

Backward::

    D3 = (Xhat - X) * g'(Z3) / m                            (m, n)
    s  = -rho / rho_hat + (1 - rho) / (1 - rho_hat)         (k,)    dKL/drho_hat
    D2 = (D3 W2 + beta * s / m) * f'(Z2)                    (m, k)
    dW2 = D3^T H + lambda W2      db2 = sum_i D3
    dW1 = D2^T X + lambda W1      db1 = sum_i D2

For the L1 penalty :math:`\frac{\beta}{m}\sum_{ij}|H_{ij}|` the sparsity gradient at H is
``beta * sign(H) / m`` in place of ``beta * s / m``; for ``"none"`` it is zero.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit

from tinysae.objective import Objective, Params


class Forward(NamedTuple):
    """The forward pass's named intermediates (DESIGN.md's names)."""

    Z2: np.ndarray
    H: np.ndarray
    rho_hat: np.ndarray
    Z3: np.ndarray
    Xhat: np.ndarray


class Terms(NamedTuple):
    """The objective split into its parts: ``loss = reconstruction + weight_decay + sparsity``."""

    loss: float
    reconstruction: float
    weight_decay: float
    sparsity: float
    rho_hat: np.ndarray


def activate(Z: np.ndarray, name: str) -> np.ndarray:
    """``sigmoid(Z) = 1 / (1 + exp(-Z))`` (overflow-free), ``relu(Z) = max(Z, 0)`` or ``Z``."""
    if name == "sigmoid":
        return expit(Z)
    if name == "relu":
        return np.maximum(Z, 0)
    return Z


def activate_grad(Z: np.ndarray, A: np.ndarray, name: str) -> np.ndarray:
    """The derivative at ``Z`` given ``A = activate(Z)``: ``A (1 - A)``, ``[Z > 0]`` or 1."""
    if name == "sigmoid":
        return A * (1 - A)
    if name == "relu":
        return (Z > 0).astype(Z.dtype)
    return np.ones_like(Z)


def forward(params: Params, X: np.ndarray, objective: Objective) -> Forward:
    """``Z2, H, rho_hat, Z3, Xhat`` for data ``X (m, n)``."""
    W1, b1, W2, b2 = params.arrays()
    Z2 = X @ W1.T + b1
    H = activate(Z2, objective.activation)
    rho_hat = H.mean(axis=0)
    Z3 = H @ W2.T + b2
    Xhat = activate(Z3, objective.output)
    return Forward(Z2, H, rho_hat, Z3, Xhat)


def kl_divergence(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    r"""Elementwise KL divergence between Bernoulli rates.

    .. math:: \mathrm{KL}(\rho\Vert\hat\rho) = \rho\log\frac{\rho}{\hat\rho}
              + (1-\rho)\log\frac{1-\rho}{1-\hat\rho}
    """
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


def clip_rho_hat(rho_hat: np.ndarray) -> np.ndarray:
    """``rho_hat`` clipped to ``[sqrt(tiny), 1 - epsneg]`` of its dtype before the logarithms.

    Only a unit saturated on *every* sample reaches the clip (``rho_hat`` exactly 0 or 1), where
    the KL term is infinite and ``s * f'(Z2)`` would be ``inf * 0 = NaN``; elsewhere the values
    equal DESIGN.md's formulas exactly. Every fast backend clips the same way.
    """
    finfo = np.finfo(rho_hat.dtype)
    return np.clip(rho_hat, np.sqrt(finfo.tiny), 1 - finfo.epsneg)


def weight_decay_term(params: Params, objective: Objective) -> float:
    r""":math:`\frac{\lambda}{2}(\lVert W_1\rVert^2 + \lVert W_2\rVert^2)`."""
    return float(objective.weight_decay / 2 * (np.sum(params.W1**2) + np.sum(params.W2**2)))


def sparsity_term(H: np.ndarray, rho_hat: np.ndarray, objective: Objective) -> float:
    r""":math:`\beta\sum_j \mathrm{KL}(\rho\Vert\hat\rho_j)` (KL), :math:`\frac{\beta}{m}\sum_{ij}|H_{ij}|`
    (L1) or 0, for hidden activations ``H (m, k)`` and their column means ``rho_hat (k,)``."""
    if objective.penalty == "kl":
        return float(objective.beta * np.sum(kl_divergence(objective.rho, clip_rho_hat(rho_hat))))
    if objective.penalty == "l1":
        return float(objective.beta * np.sum(np.abs(H)) / H.shape[0])
    return 0.0


def terms(params: Params, X: np.ndarray, objective: Objective, fwd: Forward | None = None) -> Terms:
    """The loss and its three parts (``fwd`` reuses a forward pass already computed)."""
    fwd = forward(params, X, objective) if fwd is None else fwd
    reconstruction = float(np.sum((fwd.Xhat - X) ** 2) / (2 * X.shape[0]))
    decay = weight_decay_term(params, objective)
    sparsity = sparsity_term(fwd.H, fwd.rho_hat, objective)
    return Terms(reconstruction + decay + sparsity, reconstruction, decay, sparsity, fwd.rho_hat)


def sparsity_grad_H(fwd: Forward, objective: Objective, m: int) -> np.ndarray | float:
    """The sparsity term's gradient at H: ``beta * s / m`` (KL, shape (k,)), ``beta * sign(H) / m``
    (L1, shape (m, k)), or 0."""
    if objective.penalty == "kl":
        rho, rho_hat = objective.rho, clip_rho_hat(fwd.rho_hat)
        s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
        return objective.beta * s / m
    if objective.penalty == "l1":
        return objective.beta * np.sign(fwd.H) / m
    return 0.0


def loss_and_grad(params: Params, X: np.ndarray, objective: Objective) -> tuple[float, Params]:
    """``(J, grads)`` by DESIGN.md's backward equations."""
    W1, b1, W2, b2 = params.arrays()
    m = X.shape[0]
    lam = objective.weight_decay
    fwd = forward(params, X, objective)
    D3 = (fwd.Xhat - X) * activate_grad(fwd.Z3, fwd.Xhat, objective.output) / m
    D2 = (D3 @ W2 + sparsity_grad_H(fwd, objective, m)) * activate_grad(fwd.Z2, fwd.H, objective.activation)
    dW2 = D3.T @ fwd.H + lam * W2
    db2 = D3.sum(axis=0)
    dW1 = D2.T @ X + lam * W1
    db1 = D2.sum(axis=0)
    return terms(params, X, objective, fwd).loss, Params(dW1, db1, dW2, db2)
