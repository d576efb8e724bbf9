"""Plausible wrong answers to lessons 4 and 5's exercises (:mod:`tinysae.exercises.variants`).

Two per checker: ``contraction_grads(X, H, W1, weight) -> (dW1, db1)``, the contractive penalty's
own gradient; ``log_softmax_vjp(g, Z) -> dZ``, the row-wise log-softmax's vector-Jacobian product.
"""

from __future__ import annotations

import numpy as np

from . import WrongAnswer


def contraction_through_H_only(X: np.ndarray, H: np.ndarray, W1: np.ndarray,
                               weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The chain rule through the activations only: W1's direct path through its row lengths is missing."""
    m = X.shape[0]
    slope = H * (1 - H)
    rows = np.sum(W1**2, axis=1)
    dZ2 = 2 * weight / m * slope * (1 - 2 * H) * rows * slope
    return dZ2.T @ X, dZ2.sum(axis=0)


def contraction_slope_derivative_one_minus_H(X: np.ndarray, H: np.ndarray, W1: np.ndarray,
                                             weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The slope H (1 - H) differentiated as if H were a constant in front: 1 - H instead of 1 - 2H."""
    m = X.shape[0]
    slope = H * (1 - H)
    rows = np.sum(W1**2, axis=1)
    dZ2 = 2 * weight / m * slope * (1 - H) * rows * slope
    dW1 = dZ2.T @ X + 2 * weight / m * np.sum(slope**2, axis=0)[:, None] * W1
    return dW1, dZ2.sum(axis=0)


def log_softmax_vjp_unshifted(g: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """The right formula with the softmax taken straight from exp(Z): it overflows near 1000."""
    P = np.exp(Z) / np.sum(np.exp(Z), axis=1, keepdims=True)
    return g - P * np.sum(g, axis=1, keepdims=True)


def log_softmax_vjp_summed_over_samples(g: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """The softmax shifted properly, but g summed down the columns (axis 0) instead of along each row."""
    shifted = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return g - P * g.sum(axis=0)


WRONG_ANSWERS = [
    WrongAnswer(checker="check_contraction_grads", title="only the path through the activations",
                function=contraction_through_H_only, mistake="no_direct_path"),
    WrongAnswer(checker="check_contraction_grads", title="the slope's derivative taken as 1 - H",
                function=contraction_slope_derivative_one_minus_H, mistake="1_minus_H"),
    WrongAnswer(checker="check_log_softmax_vjp", title="a softmax without the max-shift",
                function=log_softmax_vjp_unshifted, mistake="overflow"),
    WrongAnswer(checker="check_log_softmax_vjp", title="g summed over the samples instead of the classes",
                function=log_softmax_vjp_summed_over_samples, mistake="column_sums"),
]
