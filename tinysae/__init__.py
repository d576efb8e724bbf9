"""tinysae: sparse autoencoders from scratch, explained and fast.

The public API, by layer (each layer knows only the ones above it):

* the engine: :class:`Tensor`, :func:`explain`, :func:`gradcheck` (:mod:`tinysae.autograd`);
* the model layer: :class:`Params`, the terms (:class:`Term`, :class:`Penalty`, :class:`KL`,
  :class:`L1`, :class:`Contraction`, :class:`CrossEntropy`; the ELBO's :class:`SampleMean`
  terms :class:`BernoulliNLL`, :class:`GaussianNLL`, :class:`GaussianKL`), the models
  (:class:`Model`, :class:`Batch`, :class:`ClassicSAE`, :class:`DenoisingSAE`,
  :class:`ContractiveSAE`, :class:`DeepSAE`, :class:`ConvolutionalSAE`, :class:`SoftmaxRegression`,
  :class:`VAE`; the dictionary SAEs :class:`ReLUModel`, :class:`TopKModel`,
  :class:`JumpReLUModel` with their terms :class:`DecoderNormL1`, :class:`AuxK`, :class:`L0`) and
  the classic's settings :class:`Objective` with :func:`init_params`;
* the backends: :func:`evaluate` (any model), :func:`loss_and_grad` (the classic),
  :func:`available_backends`, :func:`check_gradient`;
* the sparsity-gradient derivation: :func:`sparsity_derivation`;
* data: :func:`load_natural_images`, :func:`sample_patches`, :func:`load_digits`, :func:`load_mnist`;
* training: :func:`lbfgs`, :func:`adam`, the estimators' base :class:`AutoencoderEstimator`,
  :class:`SparseAutoencoder` (the classic) and the seed's variants
  :class:`DenoisingAutoencoder`, :class:`ContractiveAutoencoder` (:mod:`tinysae.variants`),
  :class:`StackedAutoencoder` and :class:`DeepAutoencoder` (:mod:`tinysae.stacked`),
  :class:`ConvolutionalAutoencoder` (:mod:`tinysae.convolutional`) and
  :class:`VariationalAutoencoder` (:mod:`tinysae.vae`); the SAEs of the superposition setting
  :class:`ReLUSAE`, :class:`TopKSAE`, :class:`JumpReLUSAE` (:mod:`tinysae.dictionary`), with
  their metrics in :mod:`tinysae.metrics` and ground-truth data in :mod:`tinysae.synthetic`.

``docs/design.md`` in the repository describes the layers and how to add a model or a term.
"""

from tinysae.autograd import Tensor, explain, gradcheck
from tinysae.backends import available_backends, evaluate, loss_and_grad
from tinysae.checks import check_gradient
from tinysae.datasets import load_digits, load_mnist, load_natural_images, make_sparse_sources, sample_patches
from tinysae.derivation import sparsity_derivation
from tinysae.models import (
    VAE,
    Batch,
    ClassicSAE,
    ContractiveSAE,
    ConvolutionalSAE,
    DeepSAE,
    DenoisingSAE,
    Model,
    SoftmaxRegression,
)
from tinysae.models.dictionary import JumpReLUModel, ReLUModel, TopKModel
from tinysae.objective import Objective, init_params
from tinysae.params import Params
from tinysae.terms import (
    KL,
    L0,
    L1,
    AuxK,
    BernoulliNLL,
    Contraction,
    CrossEntropy,
    DecoderNormL1,
    GaussianKL,
    GaussianNLL,
    Penalty,
    SampleMean,
    Sparsity,
    SquaredError,
    Term,
    WeightDecay,
)
from tinysae.train import History, TrainResult, adam, lbfgs

__version__ = "0.1.0"

#: Imported on first use, by module: the estimators derive from scikit-learn's base classes when
#: it is installed, and importing those costs about a second that ``import tinysae`` need not pay.
_ESTIMATORS = {
    "AutoencoderEstimator": "estimator",
    "NotFittedError": "estimator",
    "SparseAutoencoder": "estimator",
    "DenoisingAutoencoder": "variants",
    "ContractiveAutoencoder": "variants",
    "StackedAutoencoder": "stacked",
    "DeepAutoencoder": "stacked",
    "ConvolutionalAutoencoder": "convolutional",
    "VariationalAutoencoder": "vae",
    "ReLUSAE": "dictionary",
    "TopKSAE": "dictionary",
    "JumpReLUSAE": "dictionary",
}


def __getattr__(name: str) -> object:
    if name in _ESTIMATORS:
        import importlib

        return getattr(importlib.import_module(f"tinysae.{_ESTIMATORS[name]}"), name)
    raise AttributeError(f"module 'tinysae' has no attribute {name!r}")

__all__ = [
    "KL",
    "L0",
    "L1",
    "VAE",
    "AuxK",
    "AutoencoderEstimator",
    "Batch",
    "BernoulliNLL",
    "ClassicSAE",
    "ContractiveAutoencoder",
    "ContractiveSAE",
    "Contraction",
    "ConvolutionalAutoencoder",
    "ConvolutionalSAE",
    "CrossEntropy",
    "DecoderNormL1",
    "DeepAutoencoder",
    "DeepSAE",
    "DenoisingAutoencoder",
    "DenoisingSAE",
    "GaussianKL",
    "GaussianNLL",
    "History",
    "JumpReLUModel",
    "JumpReLUSAE",
    "NotFittedError",
    "Model",
    "Objective",
    "Params",
    "Penalty",
    "ReLUModel",
    "ReLUSAE",
    "SampleMean",
    "SoftmaxRegression",
    "SparseAutoencoder",
    "StackedAutoencoder",
    "Sparsity",
    "SquaredError",
    "Tensor",
    "Term",
    "TopKModel",
    "TopKSAE",
    "TrainResult",
    "VariationalAutoencoder",
    "WeightDecay",
    "__version__",
    "adam",
    "available_backends",
    "check_gradient",
    "evaluate",
    "explain",
    "gradcheck",
    "init_params",
    "lbfgs",
    "load_digits",
    "load_mnist",
    "load_natural_images",
    "loss_and_grad",
    "make_sparse_sources",
    "sample_patches",
    "sparsity_derivation",
]
