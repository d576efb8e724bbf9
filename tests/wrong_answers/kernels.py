"""Plausible wrong answers to lesson 9's kernel exercise (:mod:`tinysae.exercises.kernels`).

``sigmoid_and_rho_hat(Z2) -> (H, rho_hat)``: for float64 ``Z2 (m, k)``, ``H (m, k)`` the sigmoid of
every entry and ``rho_hat (k,)`` each hidden unit's mean activation over the m samples, written as a
``numba.njit(parallel=True)`` kernel with a ``numba.prange`` loop. Both answers below are parallel
prange kernels (so they fail on their values, not on the last check), and neither has a race: each
``prange`` iteration writes entries of its own.
"""

from __future__ import annotations

import numba
import numpy as np

from . import WrongAnswer


@numba.njit(parallel=True)
def sigmoid_and_rho_hat_summed(Z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column by column in parallel, but ``rho_hat[j]`` is the column's sum: the division by m is missing."""
    m, k = Z2.shape
    H = np.empty_like(Z2)
    rho_hat = np.empty(k)
    for j in numba.prange(k):
        total = 0.0
        for i in range(m):
            h = 1 / (1 + np.exp(-Z2[i, j]))
            H[i, j] = h
            total += h
        rho_hat[j] = total
    return H, rho_hat


@numba.njit(parallel=True)
def sigmoid_and_rho_hat_over_units(Z2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row by row in parallel (each row its own sum, so no race), but the mean is taken along the
    row, over the k hidden units: one value per sample, ``(m,)``, instead of one per unit."""
    m, k = Z2.shape
    H = np.empty_like(Z2)
    rho_hat = np.empty(m)
    for i in numba.prange(m):
        total = 0.0
        for j in range(k):
            h = 1 / (1 + np.exp(-Z2[i, j]))
            H[i, j] = h
            total += h
        rho_hat[i] = total / k
    return H, rho_hat


WRONG_ANSWERS = [
    WrongAnswer(checker="check_rho_hat_kernel", title="rho_hat summed over the samples, not averaged",
                function=sigmoid_and_rho_hat_summed, mistake="summed"),
    WrongAnswer(checker="check_rho_hat_kernel", title="rows in parallel, each row averaged over the hidden "
                "units", function=sigmoid_and_rho_hat_over_units, mistake="over_units"),
]
