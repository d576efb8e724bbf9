"""Plausible wrong answers to lesson 1's sparsity exercises (:mod:`tinysae.exercises.sparsity`)."""

from __future__ import annotations

import numpy as np

from wrong_answers import WrongAnswer


def sigmoid_with_the_sign_flipped(Z):
    return 1.0 / (1.0 + np.exp(Z))


def sigmoid_as_a_ratio_of_exponentials(Z):
    return np.exp(Z) / (1.0 + np.exp(Z))


def kl_with_the_rates_swapped(rho, rho_hat):
    return rho_hat * np.log(rho_hat / rho) + (1 - rho_hat) * np.log((1 - rho_hat) / (1 - rho))


def kl_summed_over_the_units(rho, rho_hat):
    return np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


def s_without_the_inner_minus(rho, rho_hat):
    return -rho / rho_hat - (1 - rho) / (1 - rho_hat)


def s_with_the_sign_flipped(rho, rho_hat):
    return rho / rho_hat - (1 - rho) / (1 - rho_hat)


def delta_without_the_average(rho, rho_hat, beta, m):
    s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
    return beta * s


def delta_times_m(rho, rho_hat, beta, m):
    s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
    return beta * s * m


WRONG_ANSWERS = [
    WrongAnswer("check_sigmoid", "the exponent's sign flipped", sigmoid_with_the_sign_flipped, "sign"),
    WrongAnswer("check_sigmoid", "exp(Z) / (1 + exp(Z)), nan once exp overflows",
                sigmoid_as_a_ratio_of_exponentials, "overflow"),
    WrongAnswer("check_kl_divergence", "KL(rho_hat || rho) instead of KL(rho || rho_hat)",
                kl_with_the_rates_swapped, "swapped"),
    WrongAnswer("check_kl_divergence", "the divergences summed over the hidden units",
                kl_summed_over_the_units, "summed"),
    WrongAnswer("check_kl_gradient", "the chain rule's minus sign through 1 - rho_hat forgotten",
                s_without_the_inner_minus, "s_inner_derivative"),
    WrongAnswer("check_kl_gradient", "both terms' signs flipped", s_with_the_sign_flipped, "s_negated"),
    WrongAnswer("check_sparsity_delta", "beta * s, the 1/m of the mean rho_hat forgotten",
                delta_without_the_average, "no_1_over_m"),
    WrongAnswer("check_sparsity_delta", "multiplied by m instead of divided", delta_times_m, "times_m"),
]
