r"""The classic sparse autoencoder of UFLDL, on the model layer.

Rows are samples; the names are those of ``docs/design.md``::

    W1 (k, n), b1 (k,)    W2 (n, k), b2 (n,)          U[-r, r] weights, r = sqrt(6 / (n + k + 1)); zero biases
    Z2 = X W1^T + b1      (m, k)                      H    = f(Z2)
    Z3 = H W2^T + b2      (m, n)                      Xhat = g(Z3)
    J  = 1/(2m) sum ||Xhat - X||^2  +  lambda/2 (||W1||^2 + ||W2||^2)  +  beta * penalty(H)

``f`` and ``g`` come from :data:`tinysae.functions.ACTIVATIONS`; the terms from
:meth:`tinysae.objective.Objective.terms`. The hand-derived backward pass of this model is
:mod:`tinysae.backends.numpy_ref`, and the Numba and CUDA backends implement it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tinysae.autograd import Tensor
from tinysae.functions import activation
from tinysae.models.base import Batch, Model
from tinysae.objective import Objective
from tinysae.params import ParamSpec, uniform, zeros
from tinysae.terms import Term
from tinysae.validation import check_int


class ClassicSAE(Model):
    """An ``n -> k -> n`` autoencoder with the terms of ``objective``
    (:class:`~tinysae.objective.Objective`: its penalty, activations and weights)."""

    def __init__(self, n_visible: int, n_hidden: int, objective: Objective | None = None) -> None:
        self.n_visible = check_int("n_visible", n_visible)
        self.n_hidden = check_int("n_hidden", n_hidden)
        if objective is None:
            objective = Objective()
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be a tinysae.Objective, got {type(objective).__name__}")
        self.objective = objective

    def __repr__(self) -> str:
        return (f"ClassicSAE(n_visible={self.n_visible}, n_hidden={self.n_hidden}, "
                f"objective={self.objective!r})")

    def param_specs(self) -> tuple[ParamSpec, ...]:
        n, k = self.n_visible, self.n_hidden
        r = uniform(math.sqrt(6.0 / (n + k + 1)))
        return (ParamSpec("W1", (k, n), r), ParamSpec("b1", (k,), zeros),
                ParamSpec("W2", (n, k), r), ParamSpec("b2", (n,), zeros))

    def terms(self) -> tuple[Term, ...]:
        return self.objective.terms()

    def check_inputs(self, X: np.ndarray) -> None:
        if X.shape[1] != self.n_visible:
            raise ValueError(f"X has {X.shape[1]} columns but the model has n_visible={self.n_visible}")
        self.objective.check_range(X)

    # ---- the forward pass, written once -----------------------------------------------------------
    def encode(self, params: Mapping[str, Tensor], X: Tensor) -> dict[str, Tensor]:
        """``Z2 = X W1^T + b1`` and ``H = f(Z2)``, both ``(m, k)``."""
        W1, b1 = params["W1"], params["b1"]
        Z2 = ((X @ W1.T.named("W1.T")).named(f"{X.name} @ W1.T") + b1).named("Z2")
        H = activation(self.objective.activation).tensor(Z2).named("H")
        return {"Z2": Z2, "H": H}

    def decode(self, params: Mapping[str, Tensor], H: Tensor) -> dict[str, Tensor]:
        """``Z3 = H W2^T + b2`` and ``Xhat = g(Z3)``, both ``(m, n)``."""
        W2, b2 = params["W2"], params["b2"]
        Z3 = ((H @ W2.T.named("W2.T")).named("H @ W2.T") + b2).named("Z3")
        Xhat = activation(self.objective.output).tensor(Z3).named("Xhat")
        return {"Z3": Z3, "Xhat": Xhat}

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        nodes = self.encode(params, X)
        nodes.update(self.decode(params, nodes["H"]))
        return nodes
