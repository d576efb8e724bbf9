"""tinysae: sparse autoencoders from scratch, explained and fast.

The public API, by layer (each layer knows only the ones above it):

* the engine: :class:`Tensor`, :func:`explain`, :func:`gradcheck` (:mod:`tinysae.autograd`);
* the objective: :class:`Objective`, :class:`Params`, :func:`init_params`;
* its backends: :func:`loss_and_grad`, :func:`available_backends`, :func:`check_gradient`;
* the sparsity-gradient derivation: :func:`sparsity_derivation`;
* data: :func:`load_natural_images`, :func:`sample_patches`, :func:`load_digits`;
* training: :func:`lbfgs`, :func:`adam` and the estimator :class:`SparseAutoencoder`.
"""

from tinysae.autograd import Tensor, explain, gradcheck
from tinysae.backends import available_backends, loss_and_grad
from tinysae.checks import check_gradient
from tinysae.datasets import load_digits, load_natural_images, make_sparse_sources, sample_patches
from tinysae.derivation import sparsity_derivation
from tinysae.estimator import NotFittedError, SparseAutoencoder
from tinysae.objective import Objective, Params, init_params
from tinysae.train import History, TrainResult, adam, lbfgs

__version__ = "0.1.0"

__all__ = [
    "History",
    "NotFittedError",
    "Objective",
    "Params",
    "SparseAutoencoder",
    "Tensor",
    "TrainResult",
    "__version__",
    "adam",
    "available_backends",
    "check_gradient",
    "explain",
    "gradcheck",
    "init_params",
    "lbfgs",
    "load_digits",
    "load_natural_images",
    "loss_and_grad",
    "make_sparse_sources",
    "sample_patches",
    "sparsity_derivation",
]
