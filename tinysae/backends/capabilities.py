"""What a backend returns, and which models the hand-written backends implement.

Every backend module defines ``supports(model) -> str | None`` (None: it implements ``model``;
otherwise a sentence saying why not) and ``evaluate(model, params, batch) -> Evaluation``. The
engine (``autograd``) supports every model. The numpy reference and the Numba and CUDA kernels
implement one model, the classic sparse autoencoder, with the penalties named by strings;
:func:`classic_support` says so for all three.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinysae.models import Model
from tinysae.models.classic import ClassicSAE
from tinysae.objective import Objective
from tinysae.params import Params


class Evaluation(NamedTuple):
    """One evaluation of a model's objective on a batch.

    ``loss`` is ``J``; ``grads`` has the parameters' names; ``terms`` maps each term's name to
    its value, each measured (``loss`` is their sum); ``rho_hat (k,)`` is the mean activation of
    each hidden unit on the batch, or None for a model without one hidden code.
    """

    loss: float
    grads: Params
    terms: dict[str, float]
    rho_hat: np.ndarray | None


class UnsupportedModel(ValueError):
    """A backend was asked for a model (or a term) it does not implement; the message names the
    backends that do."""


def classic_support(model: Model, backend: str) -> str | None:
    """None when ``model`` is the classic sparse autoencoder with the ``"kl"``, ``"l1"`` or
    ``"none"`` penalty (what the hand-written backends implement), else why ``backend`` can't."""
    if type(model) is not ClassicSAE:
        return (f'backend="{backend}" implements only the classic sparse autoencoder '
                f"(tinysae.models.ClassicSAE), not {type(model).__name__}")
    penalty = model.objective.penalty
    if not isinstance(penalty, str):
        return (f'backend="{backend}" implements the penalties "kl", "l1" and "none", not the '
                f"penalty {type(penalty).__name__}")
    return None


def classic_objective(model: Model) -> Objective:
    """The :class:`~tinysae.objective.Objective` of a model :func:`classic_support` accepts."""
    assert isinstance(model, ClassicSAE)
    return model.objective
