r"""The autograd backend: any model's objective, differentiated by the engine.

Nothing of a model is written here: :meth:`tinysae.models.Model.graph` builds the objective's
graph from the model's forward pass and terms, ``J.backward()`` runs the engine's reverse pass,
and the terms are read off their own nodes (and :func:`tinysae.autograd.explain` can show how
each gradient arose, node by node). This is the backend that computes every model.

Only the parameters' gradients are returned, so the batch's data are marked as constants
(:func:`mark_constants`) before the reverse pass, and the reverse pass keeps the leaves'
gradients only (``backward(inner_grads=False)``): the engine then computes no ``dJ/dX`` (at the
UFLDL shape a ``(10000, 25) @ (25, 64)`` product that nothing reads), and frees each inner
gradient once its VJP has run, so that the next one reuses its memory.
"""

from __future__ import annotations

import numpy as np

from tinysae.autograd import Tensor
from tinysae.backends.capabilities import Evaluation
from tinysae.models import Batch, ClassicSAE, Graph, Model
from tinysae.objective import Objective
from tinysae.params import Params


def supports(model: Model) -> str | None:
    """The engine computes every model."""
    return None


def evaluate(model: Model, params: Params, batch: Batch) -> Evaluation:
    """``J``, its gradient and its terms by the engine's reverse pass over ``model.graph``."""
    graph = model.graph(params, batch)
    mark_constants(graph)
    graph.J.backward(inner_grads=False)
    H = graph.nodes.get("H")
    rho_hat = None if H is None else H.data.mean(axis=0)
    return Evaluation(float(graph.J.data), graph.grads(), graph.terms(), rho_hat)


def mark_constants(graph: Graph) -> None:
    """Mark the graph's data as constants (``requires_grad = False``): every named leaf that is
    not a parameter, i.e. the inputs ``X``, the targets ``T`` and the data a model draws or
    derives (a denoising model's ``X_tilde``, a VAE's ``eps``). The parameters' gradients are
    unchanged; the constants get none."""
    params = set(graph.param_names)
    for name, node in graph.nodes.items():
        if node.op is None and name not in params:
            node.requires_grad = False


def build_graph(params: Params, X: np.ndarray, objective: Objective) -> dict[str, Tensor]:
    """The classic objective's named nodes on ``X`` (for the lessons and ``tinysae explain``):
    ``X`` (also under ``T``), ``W1, b1, W2, b2, Z2, H, Z3, Xhat``, the terms and ``J``; with the
    KL penalty also ``rho_hat`` and ``KL``."""
    n_hidden, n_visible = params["W1"].shape
    return ClassicSAE(n_visible, n_hidden, objective).graph(params, Batch(X)).nodes
