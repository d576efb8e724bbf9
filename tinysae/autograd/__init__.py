"""tinysae's explaining reverse-mode autodiff engine.

``Tensor`` wraps a numpy array and records the op that made it; ``backward()`` applies each op's
vector-Jacobian product in reverse topological order; ``explain(output, wrt)`` prints the chain
rule step by step from the same op definitions (:data:`OPS`); ``gradcheck`` compares a gradient
with central finite differences. ``conv2d`` and ``conv_transpose2d`` (:mod:`tinysae.autograd.conv`)
take PyTorch's layout. It knows nothing of autoencoders.
"""

from tinysae.autograd.conv import conv2d, conv_transpose2d
from tinysae.autograd.explain import Derivation, explain
from tinysae.autograd.gradcheck import (
    GradcheckReport,
    compare_gradients,
    gradcheck,
    numerical_gradient,
    relative_error,
)
from tinysae.autograd.ops import OPS, Op, unbroadcast
from tinysae.autograd.tensor import (
    NonFiniteGradientError,
    Tensor,
    absolute,
    exp,
    jumprelu,
    log,
    log_softmax,
    mask,
    relu,
    sigmoid,
    softplus,
    square,
    step,
    tanh,
    topological_order,
    where,
)

__all__ = [
    "OPS",
    "Derivation",
    "GradcheckReport",
    "NonFiniteGradientError",
    "Op",
    "Tensor",
    "absolute",
    "compare_gradients",
    "conv2d",
    "conv_transpose2d",
    "exp",
    "explain",
    "gradcheck",
    "jumprelu",
    "log",
    "log_softmax",
    "mask",
    "numerical_gradient",
    "relative_error",
    "relu",
    "sigmoid",
    "softplus",
    "square",
    "step",
    "tanh",
    "topological_order",
    "unbroadcast",
    "where",
]
