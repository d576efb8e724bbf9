"""The model layer: every autoencoder is named parameters, a forward pass on the engine, and terms.

:class:`Model` is the base class (:mod:`tinysae.models.base`), :class:`Batch` what one
evaluation sees, :class:`Graph` the objective's graph on a batch. The models:

* :class:`ClassicSAE`, the classic sparse autoencoder (:mod:`tinysae.models.classic`);
* :class:`DenoisingSAE`, fed a corrupted input (:mod:`tinysae.models.denoising`);
* :class:`ContractiveSAE`, with the Jacobian penalty (:mod:`tinysae.models.contractive`);
* :class:`ConvolutionalSAE`, sparse feature maps by a convolution and a transposed one
  (:mod:`tinysae.models.convolutional`);
* :class:`DeepSAE`, stacked layers unrolled into an encoder and a decoder, fine-tuned on
  reconstruction or, with a softmax layer, on classification (:mod:`tinysae.models.deep`);
* :class:`SoftmaxRegression`, the classifier on a stack's code (:mod:`tinysae.models.softmax`);
* :class:`VAE`, the variational autoencoder: a Gaussian encoder, the reparameterisation, a
  Bernoulli or Gaussian decoder, minus the ELBO (:mod:`tinysae.models.vae`).

``docs/design.md`` says how to add a model.
"""

from tinysae.models.base import Batch, Graph, Model
from tinysae.models.classic import ClassicSAE
from tinysae.models.contractive import ContractiveSAE
from tinysae.models.convolutional import ConvolutionalSAE
from tinysae.models.deep import DeepSAE
from tinysae.models.denoising import DenoisingSAE
from tinysae.models.softmax import SoftmaxRegression
from tinysae.models.vae import VAE

__all__ = ["Batch", "ClassicSAE", "ContractiveSAE", "ConvolutionalSAE", "DeepSAE", "DenoisingSAE", "Graph",
           "Model", "SoftmaxRegression", "VAE"]
