"""UFLDL's gradient check, on the exercise's own setup.

The exercise checks its backprop on natural-image patches with a 64-25-64 network, rho = 0.01,
beta = 3, lambda = 1e-4, at the random initial weights, with its EPSILON = 1e-4 in the central
differences, and expects a relative error ``||a - n|| / ||a + n||`` of about 1e-9 or less. A
subset of the patches keeps the 2 * 3289 objective evaluations of the central differences quick.
"""

from __future__ import annotations

import pytest

from tinysae import Objective, check_gradient, init_params, load_natural_images, sample_patches


@pytest.mark.parametrize("backend", ["numpy", "autograd", "numba"])
def test_gradient_check_on_the_exercise_setup(backend: str) -> None:
    X = sample_patches(load_natural_images(), patch_size=8, n=100, seed=0)
    params = init_params(64, 25, seed=0)
    objective = Objective(rho=0.01, beta=3.0, weight_decay=1e-4)
    report = check_gradient(params, X, objective, backend=backend, eps=1e-4)
    print(f"{backend}: {report}")
    assert report.relative_error < 1e-9
