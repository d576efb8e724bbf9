r"""The nonlinearities and the ``rho_hat`` clip, each defined once for the whole package.

An :class:`Activation` holds one nonlinearity three ways, side by side: its value on numpy
arrays, its derivative (written from ``Z`` and ``A = f(Z)``, as backprop has both at hand) and
its application to engine tensors. The numpy reference, the Numba and CUDA host code, the
estimators and the models all read this table; a kernel that inlines a scalar formula names
this module beside it.

=========  =============================  ===============================
name       f(Z)                           f'(Z), from A = f(Z)
=========  =============================  ===============================
sigmoid    1 / (1 + exp(-Z))              A (1 - A)
relu       max(Z, 0)                      [Z > 0]
identity   Z                              1
=========  =============================  ===============================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinysae.autograd import Tensor
from tinysae.autograd.ops import stable_sigmoid


@dataclass(frozen=True)
class Activation:
    """One nonlinearity: ``value(Z)``, ``derivative(Z, A)`` with ``A = value(Z)``, and ``tensor(Z)``
    on the engine (which differentiates it by its own op table)."""

    name: str
    value: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]
    tensor: Callable[[Tensor], Tensor]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", stable_sigmoid, lambda Z, A: A * (1 - A), Tensor.sigmoid),
    "relu": Activation("relu", lambda Z: np.maximum(Z, 0), lambda Z, A: (Z > 0).astype(Z.dtype), Tensor.relu),
    "identity": Activation("identity", lambda Z: Z, lambda Z, A: np.ones_like(Z), lambda Z: Z),
}


def activation(name: str) -> Activation:
    """The :class:`Activation` called ``name``, or a ValueError listing the choices."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation {name!r} is not one of {', '.join(map(repr, ACTIVATIONS))}")
    return ACTIVATIONS[name]


def rho_hat_bounds(dtype: np.dtype | type) -> tuple[float, float]:
    """``(sqrt(tiny), 1 - epsneg)`` of ``dtype``: the interval :func:`clip_rho_hat` clips to."""
    finfo = np.finfo(dtype)
    return float(np.sqrt(finfo.tiny)), float(1 - finfo.epsneg)


def clip_rho_hat(rho_hat: np.ndarray) -> np.ndarray:
    """``rho_hat`` clipped to ``[sqrt(tiny), 1 - epsneg]`` of its dtype before the logarithms.

    Only a unit saturated on *every* sample reaches the clip (``rho_hat`` exactly 0 or 1), where
    the KL term is infinite and ``s * f'(Z2)`` would be ``inf * 0 = NaN``; elsewhere the values
    equal the formulas exactly. The numpy reference and the Numba and CUDA backends clip this
    way; the engine does not, and reports the infinite KL instead.
    """
    lo, hi = rho_hat_bounds(rho_hat.dtype)
    return np.clip(rho_hat, lo, hi)
