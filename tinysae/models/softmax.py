r"""Softmax regression: the classifier a stacked autoencoder puts on its top code.

For inputs ``H (m, d)`` and ``C`` classes, with the labels one-hot in the targets ``T (m, C)``::

    Z_softmax = H W^T + b                     (m, C)     W (C, d), b (C,)
    log_P     = log_softmax(Z_softmax)        (m, C)     row-wise, max-shifted
    J = -1/m sum_i sum_c T_ic log_P_ic  +  lambda/2 ||W||^2

The gradient at the scores is ``(P - T) / m`` with ``P = exp(log_P)``, which ``explain`` derives
from the ``log_softmax`` op's definition (:mod:`tinysae.autograd.ops`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tinysae.autograd import Tensor
from tinysae.models.base import Batch, Model
from tinysae.params import ParamSpec, uniform, zeros
from tinysae.terms import CrossEntropy, Term, WeightDecay
from tinysae.validation import check_int, check_real


def softmax_layer(H: Tensor, W: Tensor, b: Tensor) -> dict[str, Tensor]:
    """``Z_softmax = H W^T + b`` and ``log_P = log_softmax(Z_softmax)`` along the classes."""
    product = (H @ W.T.named(f"{W.name}.T")).named(f"{H.name} @ {W.name}.T")
    Z = (product + b).named("Z_softmax")
    return {"Z_softmax": Z, "log_P": Z.log_softmax(axis=1).named("log_P")}


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``T (m, C)``: row ``i`` is 1 at column ``labels[i]`` (ints in ``[0, C)``), 0 elsewhere."""
    T = np.zeros((labels.shape[0], n_classes))
    T[np.arange(labels.shape[0]), labels] = 1.0
    return T


def check_one_hot(T: np.ndarray, m: int, n_classes: int) -> None:
    """ValueError unless ``T`` is ``(m, n_classes)`` with one 1 per row and 0 elsewhere."""
    if T.shape != (m, n_classes):
        raise ValueError(f"the targets must be the labels one-hot, shape {(m, n_classes)}; "
                         f"got shape {T.shape}")
    if not (np.all((T == 0) | (T == 1)) and np.all(T.sum(axis=1) == 1)):
        raise ValueError("the targets must be the labels one-hot: each row one 1, the rest 0")


class SoftmaxRegression(Model):
    """A ``d -> C`` softmax classifier with weight decay ``weight_decay`` on ``W``; the batch's
    targets are the one-hot labels (:func:`one_hot`)."""

    def __init__(self, n_inputs: int, n_classes: int, weight_decay: float = 1e-4) -> None:
        self.n_inputs = check_int("n_inputs", n_inputs)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)
        self.weight_decay = check_real("weight_decay", weight_decay, minimum=0)

    def __repr__(self) -> str:
        return (f"SoftmaxRegression(n_inputs={self.n_inputs}, n_classes={self.n_classes}, "
                f"weight_decay={self.weight_decay!r})")

    def param_specs(self) -> tuple[ParamSpec, ...]:
        r = uniform(math.sqrt(6.0 / (self.n_inputs + self.n_classes + 1)))
        return (ParamSpec("W", (self.n_classes, self.n_inputs), r), ParamSpec("b", (self.n_classes,), zeros))

    def terms(self) -> tuple[Term, ...]:
        return (CrossEntropy(), WeightDecay(self.weight_decay, ("W",)))

    def check_inputs(self, X: np.ndarray) -> None:
        if X.shape[1] != self.n_inputs:
            raise ValueError(f"X has {X.shape[1]} columns but the model has n_inputs={self.n_inputs}")

    def check_targets(self, T: np.ndarray, X: np.ndarray) -> None:
        check_one_hot(T, X.shape[0], self.n_classes)

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        return softmax_layer(X, params["W"], params["b"])
