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

The contractive term (:class:`tinysae.models.ContractiveSAE`, sigmoid hidden units, weight
``lambda_c``) adds to ``J`` and to ``dW1, db1`` only::

    D  = H (1 - H)                       (m, k)   f'(Z2); the Jacobian dH_i/dx_i (k, n) is D_i[:, None] * W1
    r  = sum_l W1[:, l]^2                (k,)     ||W1_j||^2, each hidden unit's squared row norm
    C  = lambda_c / m * sum_ij D_ij^2 r_j         the contraction, (lambda_c / m) sum_i ||dH_i/dx_i||_F^2
    dC/dH = 2 lambda_c / m * D (1 - 2H) r  (m, k)   as dD/dH = 1 - 2H
    C2 = dC/dH * f'(Z2)                  (m, k)   dC/dZ2, the path through H:
       = 2 lambda_c / m * D^2 (1 - 2H) r
    dW1 += C2^T X  +  2 lambda_c / m * (sum_i D^2)[:, None] * W1     through Z2, and directly through r
    db1 += sum_i C2

The denoising model (:class:`tinysae.models.DenoisingSAE`) is the classic on corrupted inputs:
``X_tilde = model.corrupt(X, batch.rng())`` takes the place of ``X`` everywhere above but in
the error, which compares ``Xhat`` with the clean ``X`` (the targets ``T``).

The convolutional model (:class:`tinysae.models.ConvolutionalSAE`) is the classic with its two
matrix products replaced by a convolution and a transposed one (:mod:`tinysae.autograd.conv`,
stride ``s``, padding ``p``), on images ``X_images (m, C, H, W)``; every position of every map is
a hidden unit, so ``rho_hat = mean_n H`` is ``(K, H', W')`` and the terms are the classic's::

    Z2 = conv2d(X_images, W1) + b1                  (m, K, H', W')   H = f(Z2)
    Z3 = conv_transpose2d(H, W2) + b2               (m, C, H, W)     Xhat = g(Z3)
    D3 = (Xhat - X_images) * g'(Z3) / m             (m, C, H, W)
    dW2 = sum_{n,h,w} H[n, o, h, w] D3[n, c, s h + i - p, s w + j - p] + lambda W2   (K, C, k, k)
    db2 = sum over n, h, w of D3                    (C,)
    D2 = (conv2d(D3, W2) + sparsity gradient at H) * f'(Z2)                        (m, K, H', W')
    dW1 = sum_{n,h,w} D2[n, o, h, w] X_images[n, c, s h + i - p, s w + j - p] + lambda W1
    db1 = sum over n, h, w of D2                    (K,)

(``n`` a sample, ``o`` a filter, ``(i, j)`` a tap, indices outside the image left out.)

The decoder's input gradient is a conv2d (the transpose's adjoint) and its weight gradient
contracts ``H`` with the windows of ``D3``: that is ``conv2d_weight_grad(H, D3)``, the roles of
the upstream gradient and the input swapped. The sparsity gradient is the classic's
(:func:`sparsity_grad_H`), per map position.

This is the teaching text of the classic model (:class:`tinysae.models.ClassicSAE`, whose
forward pass on the engine it must equal) and of those three variants; as a backend it
implements the four with the penalties ``"kl"``, ``"l1"`` and ``"none"`` (:func:`supports`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinysae.autograd import conv
from tinysae.backends.capabilities import Evaluation, classic_objective, classic_support
from tinysae.functions import activation, clip_rho_hat
from tinysae.models import Batch, ClassicSAE, ContractiveSAE, ConvolutionalSAE, DenoisingSAE, Model
from tinysae.objective import Objective
from tinysae.params import Params


class Forward(NamedTuple):
    """The forward pass's named intermediates (the names of docs/design.md; for the
    convolutional model, maps and images)."""

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


# ---- the contractive term ----------------------------------------------------------------------
def contraction_term(H: np.ndarray, W1: np.ndarray, weight: float) -> float:
    r""":math:`C = \frac{\lambda_c}{m}\sum_{ij} D_{ij}^2 r_j` with ``D = H (1 - H) (m, k)`` and
    ``r = ||W1_j||^2 (k,)``, for sigmoid activations ``H (m, k)`` and ``weight`` :math:`\lambda_c`."""
    D = H * (1 - H)
    r = np.sum(W1**2, axis=1)
    return float(weight / H.shape[0] * np.sum(D**2 * r))


def contraction_grads(X: np.ndarray, H: np.ndarray, W1: np.ndarray,
                      weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The contraction's additions ``(dW1 (k, n), db1 (k,))`` by the equations above, for the
    inputs ``X (m, n)`` the encoder saw and its sigmoid activations ``H (m, k)``."""
    m = X.shape[0]
    D = H * (1 - H)
    r = np.sum(W1**2, axis=1)
    C2 = 2 * weight / m * D**2 * (1 - 2 * H) * r  # dC/dZ2 = dC/dH * f'(Z2)
    dW1 = C2.T @ X + 2 * weight / m * np.sum(D**2, axis=0)[:, None] * W1
    return dW1, C2.sum(axis=0)


# ---- the convolutional model -------------------------------------------------------------------
def conv_pairs(model: ConvolutionalSAE) -> tuple[conv.Pair, conv.Pair, conv.Pair]:
    """The model's ``(kernel, stride, padding)`` as the pairs of :mod:`tinysae.autograd.conv`."""
    return ((model.kernel_size,) * 2, (model.stride,) * 2, (model.padding,) * 2)


def conv_forward(model: ConvolutionalSAE, params: Params, X_images: np.ndarray) -> Forward:
    """``Z2, H (m, K, H', W')``, ``rho_hat (K, H', W')``, ``Z3, Xhat (m, C, H, W)`` for images
    ``X_images (m, C, H, W)``."""
    _, stride, padding = conv_pairs(model)
    objective = model.objective
    Z2 = conv.conv2d_forward(X_images, params.W1, stride, padding) + params.b1[:, None, None]
    H = activation(objective.activation).value(Z2)
    rho_hat = H.mean(axis=0)
    Z3 = conv.conv_transpose2d_forward(H, params.W2, stride, padding, model.output_padding) \
        + params.b2[:, None, None]
    Xhat = activation(objective.output).value(Z3)
    return Forward(Z2, H, rho_hat, Z3, Xhat)


def conv_backward(model: ConvolutionalSAE, params: Params, X_images: np.ndarray, fwd: Forward,
                  T_images: np.ndarray) -> Params:
    """``dW1, db1, dW2, db2`` by the convolutional model's backward equations above, from its
    forward pass ``fwd`` on ``X_images`` against the targets ``T_images`` (both ``(m, C, H, W)``)."""
    kernel, stride, padding = conv_pairs(model)
    objective = model.objective
    m = X_images.shape[0]
    lam = objective.weight_decay
    f, g = activation(objective.activation), activation(objective.output)
    D3 = (fwd.Xhat - T_images) * g.derivative(fwd.Z3, fwd.Xhat) / m
    dW2 = conv.conv2d_weight_grad(fwd.H, D3, kernel, stride, padding) + lam * params.W2
    db2 = D3.sum(axis=(0, 2, 3))
    dH = conv.conv2d_forward(D3, params.W2, stride, padding)  # the transpose's input gradient
    D2 = (dH + sparsity_grad_H(fwd, objective, m)) * f.derivative(fwd.Z2, fwd.H)
    dW1 = conv.conv2d_weight_grad(D2, X_images, kernel, stride, padding) + lam * params.W1
    db1 = D2.sum(axis=(0, 2, 3))
    return Params(W1=dW1, b1=db1, W2=dW2, b2=db2)


def conv_evaluate(model: ConvolutionalSAE, params: Params, X: np.ndarray, T: np.ndarray | None) -> Evaluation:
    """The convolutional model's loss, gradient and terms for flat inputs ``X (m, C H W)`` and
    targets ``T`` (None: ``X``), by :func:`conv_forward`, the classic's :func:`terms` and
    :func:`conv_backward`."""
    X_images = X.reshape(X.shape[0], *model.image_shape)
    T_images = X_images if T is None else T.reshape(X_images.shape)
    fwd = conv_forward(model, params, X_images)
    t = terms(params, X_images, model.objective, fwd, T_images)
    measured = {"reconstruction": t.reconstruction, "weight_decay": t.weight_decay, "sparsity": t.sparsity}
    values = {name: measured[name] for name in model.term_names()}
    grads = conv_backward(model, params, X_images, fwd, T_images)
    return Evaluation(sum(values.values()), grads, values, fwd.rho_hat)


# ---- as a backend ------------------------------------------------------------------------------
#: The models this backend implements (by exact type: a subclass may have other terms).
MODELS = (ClassicSAE, ContractiveSAE, DenoisingSAE, ConvolutionalSAE)


def supports(model: Model) -> str | None:
    """None when this backend implements ``model``, else why not."""
    return classic_support(model, "numpy", MODELS)


def encoder_inputs(model: Model, batch: Batch) -> tuple[np.ndarray, np.ndarray | None]:
    """``(X, T)``: what the encoder sees and the targets (None: ``X`` itself). A denoising model
    encodes ``X_tilde = model.corrupt(inputs, batch.rng())`` and reconstructs the clean inputs
    (or the batch's own targets); the others encode the inputs."""
    if isinstance(model, DenoisingSAE):
        T = batch.inputs if batch.targets is None else batch.targets
        return model.corrupt(batch.inputs, batch.rng()), T
    return batch.inputs, batch.targets


def evaluate(model: Model, params: Params, batch: Batch) -> Evaluation:
    """The model's loss, gradient and terms on ``batch`` (inputs trusted): the classic's
    equations on :func:`encoder_inputs`, plus the contraction for a contractive model; the
    convolutional model's by :func:`conv_evaluate`."""
    X, T = encoder_inputs(model, batch)
    if isinstance(model, ConvolutionalSAE):
        return conv_evaluate(model, params, X, T)
    objective = classic_objective(model)
    fwd = forward(params, X, objective)
    t = terms(params, X, objective, fwd, T)
    measured = {"reconstruction": t.reconstruction, "weight_decay": t.weight_decay, "sparsity": t.sparsity}
    grads = backward(params, X, objective, fwd, T)
    if isinstance(model, ContractiveSAE):
        measured["contraction"] = contraction_term(fwd.H, params.W1, model.contraction)
        dW1, db1 = contraction_grads(X, fwd.H, params.W1, model.contraction)
        grads = Params(W1=grads.W1 + dW1, b1=grads.b1 + db1, W2=grads.W2, b2=grads.b2)
    values = {name: measured[name] for name in model.term_names()}
    return Evaluation(sum(values.values()), grads, values, fwd.rho_hat)
