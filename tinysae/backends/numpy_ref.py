r"""The reference backend: the classic's hand-derived equations (``docs/design.md``), line by line.

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
``beta * sign(H) / m`` in place of ``beta * s / m``; for ``"none"`` it is zero. With targets
``T`` other than ``X`` (a denoising batch) ``X`` becomes ``T`` in the error ``Xhat - X`` only.

This is the teaching text of the classic model (:class:`tinysae.models.ClassicSAE`, whose
forward pass on the engine it must equal); as a backend it implements that model with the
penalties ``"kl"``, ``"l1"`` and ``"none"`` (:func:`supports`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinysae.backends.capabilities import Evaluation, classic_objective, classic_support
from tinysae.functions import activation, clip_rho_hat
from tinysae.models import Batch, Model
from tinysae.objective import Objective
from tinysae.params import Params


class Forward(NamedTuple):
    """The forward pass's named intermediates (the names of docs/design.md)."""

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

    def as_dict(self, model: Model) -> dict[str, float]:
        """The terms ``model`` has (no ``sparsity`` without a penalty), by name."""
        return {name: getattr(self, name) for name in model.term_names()}


def forward(params: Params, X: np.ndarray, objective: Objective) -> Forward:
    """``Z2, H, rho_hat, Z3, Xhat`` for data ``X (m, n)``."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    Z2 = X @ W1.T + b1
    H = activation(objective.activation).value(Z2)
    rho_hat = H.mean(axis=0)
    Z3 = H @ W2.T + b2
    Xhat = activation(objective.output).value(Z3)
    return Forward(Z2, H, rho_hat, Z3, Xhat)


def kl_divergence(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    r"""Elementwise KL divergence between Bernoulli rates.

    .. math:: \mathrm{KL}(\rho\Vert\hat\rho) = \rho\log\frac{\rho}{\hat\rho}
              + (1-\rho)\log\frac{1-\rho}{1-\hat\rho}
    """
    return rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))


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


def terms(params: Params, X: np.ndarray, objective: Objective, fwd: Forward | None = None,
          T: np.ndarray | None = None) -> Terms:
    """The loss and its three parts (``fwd`` reuses a forward pass already computed; ``T``, the
    targets, default to ``X``)."""
    fwd = forward(params, X, objective) if fwd is None else fwd
    T = X if T is None else T
    reconstruction = float(np.sum((fwd.Xhat - T) ** 2) / (2 * X.shape[0]))
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


def backward(params: Params, X: np.ndarray, objective: Objective, fwd: Forward,
             T: np.ndarray | None = None) -> Params:
    """``dW1, db1, dW2, db2`` by the backward equations above, from a forward pass ``fwd``."""
    W1, W2 = params["W1"], params["W2"]
    m = X.shape[0]
    lam = objective.weight_decay
    f, g = activation(objective.activation), activation(objective.output)
    T = X if T is None else T
    D3 = (fwd.Xhat - T) * g.derivative(fwd.Z3, fwd.Xhat) / m
    D2 = (D3 @ W2 + sparsity_grad_H(fwd, objective, m)) * f.derivative(fwd.Z2, fwd.H)
    dW2 = D3.T @ fwd.H + lam * W2
    db2 = D3.sum(axis=0)
    dW1 = D2.T @ X + lam * W1
    db1 = D2.sum(axis=0)
    return Params(W1=dW1, b1=db1, W2=dW2, b2=db2)


def loss_and_grad(params: Params, X: np.ndarray, objective: Objective,
                  T: np.ndarray | None = None) -> tuple[float, Params]:
    """``(J, grads)`` by the backward equations (targets ``T`` default to ``X``)."""
    fwd = forward(params, X, objective)
    return terms(params, X, objective, fwd, T).loss, backward(params, X, objective, fwd, T)


# ---- as a backend ------------------------------------------------------------------------------
def supports(model: Model) -> str | None:
    """None when this backend implements ``model``, else why not."""
    return classic_support(model, "numpy")


def evaluate(model: Model, params: Params, batch: Batch) -> Evaluation:
    """The classic's loss, gradient and terms on ``batch`` (inputs trusted)."""
    objective = classic_objective(model)
    X, T = batch.inputs, batch.targets
    fwd = forward(params, X, objective)
    t = terms(params, X, objective, fwd, T)
    return Evaluation(t.loss, backward(params, X, objective, fwd, T), t.as_dict(model), fwd.rho_hat)
