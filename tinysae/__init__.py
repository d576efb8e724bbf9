"""tinysae: sparse autoencoders from scratch, explained and fast."""

from tinysae.backends import available_backends, loss_and_grad
from tinysae.objective import Objective, Params, init_params

__version__ = "0.1.0"

__all__ = [
    "Objective",
    "Params",
    "__version__",
    "available_backends",
    "init_params",
    "loss_and_grad",
]
