"""What a backend returns, and which models the hand-written backends implement.

Every backend module defines ``supports(model) -> str | None`` (None: it implements ``model``;
otherwise a sentence saying why not) and ``evaluate(model, params, batch) -> Evaluation``; a backend
that keeps state across evaluations of one batch (the CUDA backend keeps ``X`` and its buffers on
the GPU) also defines ``bind(model, batch)``, which :func:`bind` uses. The
engine (``autograd``) supports every model. The numpy reference and the Numba and CUDA kernels
implement the classic sparse autoencoder with the penalties named by strings, and some of its
variants (the numpy reference the contractive, the denoising and the convolutional ones, Numba
the contractive and the convolutional ones); :func:`classic_support` says so for all three.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

import numpy as np

from tinysae.models import Batch, Model
from tinysae.models.classic import ClassicSAE
from tinysae.models.contractive import ContractiveSAE
from tinysae.models.convolutional import ConvolutionalSAE
from tinysae.models.denoising import DenoisingSAE
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


def bind(module: ModuleType, model: Model, batch: Batch) -> Callable[[Params], Evaluation]:
    """The objective of ``model`` on the fixed ``batch``, as a function of the parameters alone.

    A solver that evaluates one batch many times (L-BFGS: every iteration and every line-search
    step) calls this once and then the function it returns. It is ``module.bind(model, batch)``
    when the backend defines one (so that it can keep the batch where it computes), else
    ``params -> module.evaluate(model, params, batch)``. ``batch`` must not change while the
    function is in use.
    """
    own = getattr(module, "bind", None)
    if own is not None:
        return own(model, batch)
    return lambda params: module.evaluate(model, params, batch)


class UnsupportedModel(ValueError):
    """A backend was asked for a model (or a term) it does not implement; the message names the
    backends that do."""


#: How an :class:`UnsupportedModel` message names each model a hand-written backend may implement.
MODEL_NAMES: dict[type[Model], str] = {
    ClassicSAE: "the classic sparse autoencoder (tinysae.models.ClassicSAE)",
    ContractiveSAE: "the contractive one (tinysae.models.ContractiveSAE)",
    DenoisingSAE: "the denoising one (tinysae.models.DenoisingSAE)",
    ConvolutionalSAE: "the convolutional one (tinysae.models.ConvolutionalSAE)",
}


def _listing(phrases: list[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return phrases[0] if len(phrases) == 1 else f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def classic_support(model: Model, backend: str,
                    models: tuple[type[Model], ...] = (ClassicSAE,)) -> str | None:
    """None when ``model`` is, by exact type, one of ``models`` (the classic and those of its
    variants that ``backend`` implements, each with the classic's objective) with the ``"kl"``,
    ``"l1"`` or ``"none"`` penalty, else why ``backend`` can't."""
    if type(model) not in models:
        implemented = _listing([MODEL_NAMES[cls] for cls in models])
        return f'backend="{backend}" implements only {implemented}, not {type(model).__name__}'
    penalty = model.objective.penalty
    if not isinstance(penalty, str):
        return (f'backend="{backend}" implements the penalties "kl", "l1" and "none", not the '
                f"penalty {type(penalty).__name__}")
    return None


def classic_objective(model: Model) -> Objective:
    """The :class:`~tinysae.objective.Objective` of a model :func:`classic_support` accepts."""
    assert isinstance(model, ClassicSAE)
    return model.objective
