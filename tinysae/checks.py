r"""Gradient checks of any backend: UFLDL's gradient-checking exercise in one call.

:func:`check_gradient` flattens a backend's analytic gradient with :meth:`Params.flatten` and
compares it with central differences of the loss over the same vector
``theta = [W1.ravel(), b1, W2.ravel(), b2]``:

.. math::

    n_i = \frac{J(\theta + \varepsilon e_i) - J(\theta - \varepsilon e_i)}{2\varepsilon}, \qquad
    \frac{\lVert a - n\rVert}{\lVert a + n\rVert} \lesssim 10^{-8} \text{ for a correct gradient (float64)}.

It costs ``2 (2kn + k + n)`` loss evaluations, so use a small problem.
"""

from __future__ import annotations

import numpy as np

from tinysae.autograd.gradcheck import GradcheckReport, compare_gradients, numerical_gradient
from tinysae.backends import loss_and_grad
from tinysae.objective import Objective, Params

PARAM_NAMES = ("W1", "b1", "W2", "b2")


def check_gradient(params: Params, X: np.ndarray, objective: Objective, backend: str = "numpy",
                   eps: float = 1e-6) -> GradcheckReport:
    """Compare ``backend``'s gradient of the objective at ``params`` with central differences.

    Returns a :class:`~tinysae.autograd.gradcheck.GradcheckReport` whose worst entry is named
    by parameter (e.g. ``W1[2, 0]``). Parameters are checked in float64.
    """
    if not isinstance(params, Params):
        raise TypeError(f"params must be a tinysae.Params, got {type(params).__name__}")
    params = params.astype(np.float64)
    n, k = params.n_visible, params.n_hidden
    _, grads = loss_and_grad(params, X, objective, backend=backend)

    def loss_at(theta: np.ndarray) -> float:
        return loss_and_grad(Params.unflatten(theta, n, k), X, objective, backend=backend)[0]

    numeric = Params.unflatten(numerical_gradient(loss_at, params.flatten(), eps), n, k)
    analytic = Params.unflatten(grads.flatten().astype(np.float64), n, k)
    return compare_gradients(list(analytic.arrays()), list(numeric.arrays()), PARAM_NAMES)
