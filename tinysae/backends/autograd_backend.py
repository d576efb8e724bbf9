r"""The autograd backend: the objective built from :mod:`tinysae.autograd` tensors.

Only the forward pass is written here, with DESIGN.md's names; the engine derives the gradient
(and :func:`tinysae.autograd.explain` can show how, node by node)::

    Z2 = X W1^T + b1            H = f(Z2)             rho_hat = mean_i H
    Z3 = H W2^T + b2            Xhat = g(Z3)
    J  = reconstruction + weight_decay + sparsity
       = 1/(2m) sum (Xhat - X)^2 + lambda/2 (sum W1^2 + sum W2^2) + beta sum_j KL(rho || rho_hat_j)

The KL divergence :math:`\rho\log\frac{\rho}{\hat\rho} + (1-\rho)\log\frac{1-\rho}{1-\hat\rho}` is
composed from primitives (div, log, mul, sub, add); L1 is :math:`\frac{\beta}{m}\sum|H|`. The
definitions are those of :mod:`tinysae.backends.numpy_ref`, except that ``rho_hat`` is not
clipped (:func:`~tinysae.backends.numpy_ref.clip_rho_hat`): a unit saturated on every sample
makes the KL infinite here, and the engine's backward pass says so
(:class:`~tinysae.autograd.NonFiniteGradientError`) instead of hiding it.
"""

from __future__ import annotations

import numpy as np

from tinysae.autograd import Tensor
from tinysae.objective import Objective, Params


def _nonlinearity(Z: Tensor, name: str) -> Tensor:
    """``sigmoid(Z)``, ``relu(Z)`` or ``Z`` (identity)."""
    if name == "sigmoid":
        return Z.sigmoid()
    if name == "relu":
        return Z.relu()
    return Z


def kl_divergence(rho: float, rho_hat: Tensor) -> Tensor:
    r"""Elementwise :math:`\mathrm{KL}(\rho\Vert\hat\rho)`, composed from primitives, shape (k,)."""
    first = (rho / rho_hat).named("rho/rho_hat")
    second = ((1.0 - rho) / (1.0 - rho_hat).named("1 - rho_hat")).named("(1-rho)/(1-rho_hat)")
    return (rho * first.log() + (1.0 - rho) * second.log()).named("KL")


def build_graph(params: Params, X: np.ndarray, objective: Objective) -> dict[str, Tensor]:
    """The objective's graph; returns its named nodes.

    Keys: ``X, W1, b1, W2, b2, Z2, H, rho_hat, Z3, Xhat`` (DESIGN.md's names), the terms
    ``reconstruction, weight_decay, sparsity`` (and ``KL``, shape (k,), for the KL penalty) and
    ``J``, the scalar objective. ``J.backward()`` fills ``.grad`` of every node.
    """
    m = X.shape[0]
    nodes = {"X": Tensor(X, name="X")}
    for name, array in zip(("W1", "b1", "W2", "b2"), params.arrays()):
        nodes[name] = Tensor(array, name=name)
    X_, W1, b1, W2, b2 = (nodes[name] for name in ("X", "W1", "b1", "W2", "b2"))

    Z2 = ((X_ @ W1.T.named("W1.T")).named("X @ W1.T") + b1).named("Z2")
    H = _nonlinearity(Z2, objective.activation).named("H")
    rho_hat = H.mean(axis=0).named("rho_hat")
    Z3 = ((H @ W2.T.named("W2.T")).named("H @ W2.T") + b2).named("Z3")
    Xhat = _nonlinearity(Z3, objective.output).named("Xhat")
    nodes.update(Z2=Z2, H=H, rho_hat=rho_hat, Z3=Z3, Xhat=Xhat)

    error = (Xhat - X_).named("Xhat - X")
    nodes["reconstruction"] = (error.square().sum() / (2 * m)).named("reconstruction")
    decay = objective.weight_decay / 2 * (W1.square().sum() + W2.square().sum())
    nodes["weight_decay"] = decay.named("weight_decay")
    if objective.penalty == "kl":
        nodes["KL"] = kl_divergence(objective.rho, rho_hat)
        sparsity = objective.beta * nodes["KL"].sum()
    elif objective.penalty == "l1":
        sparsity = objective.beta / m * H.abs().sum()
    else:
        sparsity = Tensor(np.zeros((), dtype=H.dtype))
    nodes["sparsity"] = sparsity.named("sparsity")
    nodes["J"] = (nodes["reconstruction"] + nodes["weight_decay"] + nodes["sparsity"]).named("J")
    return nodes


def loss_and_grad(params: Params, X: np.ndarray, objective: Objective) -> tuple[float, Params]:
    """``(J, grads)``: the engine's reverse pass over :func:`build_graph`."""
    nodes = build_graph(params, X, objective)
    nodes["J"].backward()
    grads = Params(*(nodes[name].grad for name in ("W1", "b1", "W2", "b2")))
    return float(nodes["J"].data), grads
