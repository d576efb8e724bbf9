r"""Gradient checks of any backend: UFLDL's gradient-checking exercise in one call.

:func:`check_gradient` flattens a backend's analytic gradient with :meth:`Params.flatten` and
compares it with central differences of the loss over the same vector ``theta`` (for the
classic ``[W1.ravel(), b1, W2.ravel(), b2]``):

.. math::

    n_i = \frac{J(\theta + \varepsilon e_i) - J(\theta - \varepsilon e_i)}{2\varepsilon}, \qquad
    \frac{\lVert a - n\rVert}{\lVert a + n\rVert} \lesssim 10^{-8} \text{ for a correct gradient (float64)}.

It costs ``2 len(theta)`` loss evaluations, so use a small problem. ``objective`` is an
:class:`~tinysae.objective.Objective` (the classic, with the shapes of ``params``) or any model.
"""

from __future__ import annotations

import numpy as np

from tinysae.autograd.gradcheck import GradcheckReport, compare_gradients, numerical_gradient
from tinysae.backends import classic_model, evaluate
from tinysae.models import Batch, Model
from tinysae.objective import Objective
from tinysae.params import Params


def check_gradient(params: Params, X: np.ndarray, objective: Objective | Model, backend: str = "numpy",
                   eps: float = 1e-6, targets: np.ndarray | None = None, seed: int = 0) -> GradcheckReport:
    """Compare ``backend``'s gradient of the objective at ``params`` with central differences.

    Returns a :class:`~tinysae.autograd.gradcheck.GradcheckReport` whose worst entry is named
    by parameter (e.g. ``W1[2, 0]``). Parameters are checked in float64; every evaluation sees
    the same batch (``X``, ``targets``, ``seed``), so a stochastic model's loss stays fixed.
    """
    if not isinstance(params, Params):
        raise TypeError(f"params must be a tinysae.Params, got {type(params).__name__}")
    model = classic_model(params, objective) if isinstance(objective, Objective) else objective
    params = params.astype(np.float64)
    batch = Batch(np.asarray(X), None if targets is None else np.asarray(targets), seed)
    grads = evaluate(model, params, batch, backend).grads

    def loss_at(theta: np.ndarray) -> float:
        return evaluate(model, params.unflatten(theta), batch, backend).loss

    numeric = params.unflatten(numerical_gradient(loss_at, params.flatten(), eps))
    analytic = grads.astype(np.float64)
    return compare_gradients(list(analytic.values()), list(numeric.values()), list(params))
