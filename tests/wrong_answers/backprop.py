"""Plausible wrong answers to lesson 1's backpropagation (:mod:`tinysae.exercises.backprop`)."""

from __future__ import annotations

import numpy as np

from tinysae.params import Params
from wrong_answers import WrongAnswer


def _sigmoid(Z):
    return 1.0 / (1.0 + np.exp(-Z))


def _forward(params, X, objective):
    """What the student's two wrong answers share: the forward pass and the loss."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    rho, beta, lam = objective.rho, objective.beta, objective.weight_decay
    H = _sigmoid(X @ W1.T + b1)
    rho_hat = H.mean(axis=0)
    Xhat = _sigmoid(H @ W2.T + b2)
    kl = rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat))
    loss = np.sum((Xhat - X) ** 2) / (2 * m) + lam / 2 * (np.sum(W1**2) + np.sum(W2**2)) + beta * np.sum(kl)
    return H, rho_hat, Xhat, loss


def sparsity_term_without_the_average(params, X, objective):
    W1, W2 = params["W1"], params["W2"]
    m = X.shape[0]
    rho, beta, lam = objective.rho, objective.beta, objective.weight_decay
    H, rho_hat, Xhat, loss = _forward(params, X, objective)
    D3 = (Xhat - X) * Xhat * (1 - Xhat) / m
    s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
    D2 = (D3 @ W2 + beta * s) * H * (1 - H)
    return loss, Params(W1=D2.T @ X + lam * W1, b1=D2.sum(axis=0), W2=D3.T @ H + lam * W2, b2=D3.sum(axis=0))


def error_the_other_way_round(params, X, objective):
    W1, W2 = params["W1"], params["W2"]
    m = X.shape[0]
    rho, beta, lam = objective.rho, objective.beta, objective.weight_decay
    H, rho_hat, Xhat, loss = _forward(params, X, objective)
    D3 = (X - Xhat) * Xhat * (1 - Xhat) / m
    s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
    D2 = (D3 @ W2 + beta * s / m) * H * (1 - H)
    return loss, {"dW1": D2.T @ X + lam * W1, "db1": D2.sum(axis=0), "dW2": D3.T @ H + lam * W2,
                  "db2": D3.sum(axis=0)}


WRONG_ANSWERS = [
    WrongAnswer("check_backprop", "beta * s in D2, the 1/m of the mean rho_hat forgotten",
                sparsity_term_without_the_average, "sparsity_no_1_over_m"),
    WrongAnswer("check_backprop", "the error X - Xhat instead of Xhat - X", error_the_other_way_round,
                "error_sign"),
]
