r"""The model layer: a model is named parameters, a forward pass on the engine, and terms.

A :class:`Model` declares three things (the shape of minitorch's ``Module`` and PyTorch's
``nn.Module``, without their machinery):

* :meth:`Model.param_specs`: its parameters, as :class:`~tinysae.params.ParamSpec` rows
  (name, shape, init rule);
* :meth:`Model.forward`: its forward pass, written once on :mod:`tinysae.autograd` tensors,
  returning its named intermediates (``Z2, H, Z3, Xhat`` for the classic);
* :meth:`Model.terms`: its objective, a tuple of :class:`~tinysae.terms.Term`.

:meth:`Model.graph` puts them together on a :class:`Batch` into the objective's graph, whose
``J`` the engine differentiates and :func:`tinysae.explain` walks. Nothing here knows a backend:
:mod:`tinysae.backends` computes a model's ``(loss, grads)`` by the engine or, for the models a
hand-written backend declares, by faster code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tinysae.autograd import Tensor
from tinysae.autograd.tensor import topological_order
from tinysae.params import Params, ParamSpec, init_params
from tinysae.terms import Term
from tinysae.validation import check_seed


@dataclass(frozen=True)
class Batch:
    """What one evaluation of an objective sees: ``inputs (m, n)``, ``targets`` (the inputs
    unless given, e.g. the clean data of a denoising model) and the ``seed`` of any random draw
    a model or term makes (corruption, sampling), so that the loss is a deterministic function
    of (params, batch)."""

    inputs: np.ndarray
    targets: np.ndarray | None = None
    seed: int | None = None

    def rng(self) -> np.random.Generator:
        """A fresh generator from ``seed``: the same draws on every evaluation of this batch
        (seed 0 when ``seed`` is None: fresh entropy would make the loss random)."""
        return np.random.default_rng(0 if self.seed is None else self.seed)


@dataclass
class Graph:
    """The objective's graph on one batch.

    ``nodes`` maps every named tensor to its node: the parameters, ``X`` and ``T`` (the targets:
    ``X`` itself unless the batch has its own), the model's intermediates, every term by its name and
    ``J``, the scalar objective; also the nodes named inside a term (``rho_hat``, ``KL`` for
    the KL penalty). ``J.backward()`` fills ``.grad`` of all of them.
    """

    nodes: dict[str, Tensor]
    term_names: tuple[str, ...]
    param_names: tuple[str, ...] = field(default=())

    @property
    def J(self) -> Tensor:
        return self.nodes["J"]

    def __getitem__(self, name: str) -> Tensor:
        return self.nodes[name]

    def terms(self) -> dict[str, float]:
        """Each term's value, measured on this batch."""
        return {name: float(self.nodes[name].data) for name in self.term_names}

    def grads(self) -> Params:
        """``dJ/dparam`` for every parameter, after ``J.backward()``; zero for a parameter the
        objective does not reach (a stacked classifier's decoder)."""
        grads = {}
        for name in self.param_names:
            node = self.nodes[name]
            grads[name] = np.zeros_like(node.data) if node.grad is None else node.grad
        return Params(grads)


class Model:
    """Base class of every model; subclasses define :meth:`param_specs`, :meth:`forward` and
    :meth:`terms`, and may override :meth:`check_inputs`."""

    def param_specs(self) -> tuple[ParamSpec, ...]:
        raise NotImplementedError(f"{type(self).__name__} must define param_specs()")

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        """The named intermediates of the forward pass on inputs ``X`` (a Tensor)."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(params, X, batch)")

    def terms(self) -> tuple[Term, ...]:
        raise NotImplementedError(f"{type(self).__name__} must define terms()")

    def check_inputs(self, X: np.ndarray) -> None:
        """Raise ValueError when data ``X`` cannot be modelled (e.g. out of the output's range)."""

    def check_targets(self, T: np.ndarray, X: np.ndarray) -> None:
        """Raise ValueError when targets ``T`` cannot go with inputs ``X``. An autoencoder's
        targets are what it reconstructs: the shape of ``X``, and valid inputs themselves."""
        if T.shape != X.shape:
            raise ValueError(f"the targets have shape {T.shape}, the inputs {X.shape}; they must match")
        self.check_inputs(T)

    # ---- derived from the three above ------------------------------------------------------------
    def term_names(self) -> tuple[str, ...]:
        """The names of the terms, in order: the keys of a history's terms."""
        return tuple(term.name for term in self.terms())

    def init_params(self, seed: int | np.random.Generator | None = 0) -> Params:
        """Fresh parameters by each spec's init rule (same seed, same parameters)."""
        return init_params(self.param_specs(), check_seed(seed))

    def check_params(self, params: object) -> Params:
        """``params`` if it has exactly this model's names and shapes and is finite, else a clear error."""
        if not isinstance(params, Params):
            raise TypeError(f"params must be a tinysae.Params, got {type(params).__name__}")
        specs = self.param_specs()
        expected = {spec.name: tuple(spec.shape) for spec in specs}
        got = {name: tuple(a.shape) for name, a in params.items()}
        if list(got) != list(expected) or got != expected:
            def show(shapes: dict) -> str:
                return ", ".join(f"{name} {shape}" for name, shape in shapes.items())

            raise ValueError(
                f"params must be {show(expected)} for this {type(self).__name__}; got {show(got)}"
            )
        for name, array in params.items():
            if not np.all(np.isfinite(array)):
                raise ValueError(f"params.{name} holds NaN or inf")
        return params

    def unflatten(self, theta: np.ndarray) -> Params:
        """One vector ``theta`` cut into this model's parameters (inverse of ``Params.flatten``)."""
        layout = Params({spec.name: np.zeros(spec.shape) for spec in self.param_specs()})
        return layout.unflatten(theta)

    def graph(self, params: Params, batch: Batch) -> Graph:
        """The objective's graph: leaves for the parameters and the data, the forward pass, each
        term, and ``J = sum of the terms``."""
        leaves = {name: Tensor(array, name=name) for name, array in params.items()}
        X = Tensor(batch.inputs, name="X")
        T = X if batch.targets is None else Tensor(batch.targets, name="T")
        nodes: dict[str, Tensor] = {**leaves, "X": X, "T": T}
        nodes.update(self.forward(leaves, X, batch))
        term_values = []
        for term in self.terms():
            value = term(nodes).named(term.name)
            nodes[term.name] = value
            term_values.append(value)
        J = term_values[0]
        for value in term_values[1:]:
            J = J + value
        J = J.named("J") if len(term_values) > 1 else (J + 0.0).named("J")
        for node in topological_order(J):  # nodes a term named inside itself (rho_hat, KL, ...)
            if node.op is not None and not node.auto_named:
                nodes.setdefault(node.name, node)
        nodes["J"] = J
        return Graph(nodes, tuple(t.name for t in self.terms()), tuple(params))
