"""The model layer: every autoencoder is named parameters, a forward pass on the engine, and terms.

:class:`Model` is the base class (:mod:`tinysae.models.base`), :class:`Batch` what one
evaluation sees, :class:`Graph` the objective's graph on a batch; :class:`ClassicSAE` is the
classic sparse autoencoder (:mod:`tinysae.models.classic`). ``docs/design.md`` says how to add
a model.
"""

from tinysae.models.base import Batch, Graph, Model
from tinysae.models.classic import ClassicSAE

__all__ = ["Batch", "ClassicSAE", "Graph", "Model"]
