"""Plausible wrong answers to lesson 7's exercise (:mod:`tinysae.exercises.vae`).

Two for ``gaussian_kl(mu, logvar) -> (kl, dmu, dlogvar)``: the mean over the samples of the KL
divergence of each sample's diagonal Gaussian from the standard normal, and its two gradients.
"""

from __future__ import annotations

import numpy as np

from . import WrongAnswer


def gaussian_kl_summed_over_samples(mu: np.ndarray,
                                    logvar: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The KL of every sample added up, never divided by the number of samples."""
    kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar)
    return kl, mu, 0.5 * (np.exp(logvar) - 1)


def gaussian_kl_gradient_in_the_variance(mu: np.ndarray,
                                         logvar: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """dlogvar differentiated with respect to the variance sigma^2 (no chain rule through exp)."""
    m = mu.shape[0]
    variance = np.exp(logvar)
    kl = 0.5 * np.sum(mu**2 + variance - 1 - np.log(variance)) / m
    return kl, mu / m, 0.5 * (1 - 1 / variance) / m


WRONG_ANSWERS = [
    WrongAnswer(checker="check_gaussian_kl", title="the samples' KL summed, not averaged",
                function=gaussian_kl_summed_over_samples, mistake="no_mean"),
    WrongAnswer(checker="check_gaussian_kl", title="dlogvar taken with respect to the variance",
                function=gaussian_kl_gradient_in_the_variance, mistake="dlogvar_wrt_variance"),
]
