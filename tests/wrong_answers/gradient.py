"""Plausible wrong answers to lesson 2's numerical gradient (:mod:`tinysae.exercises.gradient`)."""

from __future__ import annotations

import numpy as np

from wrong_answers import WrongAnswer


def forward_differences(J, theta, eps):
    grad = np.zeros_like(theta)
    base = J(theta)
    for index in np.ndindex(theta.shape):
        moved = theta.copy()
        moved[index] += eps
        grad[index] = (J(moved) - base) / eps
    return grad


def loop_over_the_first_axis(J, theta, eps):
    grad = np.zeros_like(theta)
    for i in range(len(theta)):
        plus, minus = theta.copy(), theta.copy()
        plus[i] += eps
        minus[i] -= eps
        grad[i] = (J(plus) - J(minus)) / (2 * eps)
    return grad


WRONG_ANSWERS = [
    WrongAnswer("check_gradient_checker", "forward differences", forward_differences, "forward"),
    WrongAnswer("check_gradient_checker", "for i in range(len(theta)): whole rows of a matrix moved at once",
                loop_over_the_first_axis, "rows_only"),
]
