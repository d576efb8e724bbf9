r"""The sparse autoencoders of the superposition setting: an overcomplete dictionary of unit directions.

Trained on a network's activations, these SAEs look for the directions ("features") that the
network packs into fewer dimensions than it has features (Elhage et al. 2022, "Toy models of
superposition"). They keep the classic's names (``docs/design.md``); the decoder bias ``b2`` is
also subtracted from the input, and the decoder's columns are the dictionary::

    W1 (F, n), b1 (F,)    W2 (n, F) with unit-norm columns, b2 (n,)
    Xc   = X - b2                          (m, n)    the input, centred by the decoder bias
    Z2   = Xc W1^T + b1                    (m, F)    the pre-activations
    H    = act(Z2)                         (m, F)    the code: ReLU, TopK or JumpReLU, >= 0
    Xhat = H W2^T + b2                     (m, n)    the reconstruction
    J    = 1/(2m) sum ||Xhat - X||^2  +  the model's sparsity (or auxiliary) term

* :class:`ReLUModel`: ``H = relu(Z2)``, sparsity by :class:`~tinysae.terms.DecoderNormL1`;
* :class:`TopKModel`: ``H = relu(Z2)`` on the ``k`` largest pre-activations of each row (or,
  with ``batch_topk``, the ``m k`` largest of the batch; Bussmann et al. 2024), 0 elsewhere; no
  sparsity term, since ``k`` fixes the L0; :class:`~tinysae.terms.AuxK` trains the dead latents;
* :class:`JumpReLUModel`: ``H = Z2 [Z2 > theta]`` with a learned threshold per latent,
  ``theta = exp(log_threshold)``, sparsity by :class:`~tinysae.terms.L0`; the engine's
  ``jumprelu`` and ``step`` carry the straight-through pseudo-derivative in ``theta``.

The decoder's unit norm is a constraint that the training loop keeps
(:mod:`tinysae.dictionary_train`), not a term. :meth:`DictionaryModel.at_step` gives the model
of one training step: the sparsity coefficient scaled by its warm-up, and TopK's dead latents.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np

from tinysae.autograd import Tensor, jumprelu, mask
from tinysae.models.base import Batch, Model
from tinysae.params import Params, ParamSpec, zeros
from tinysae.terms import L0, AuxK, DecoderNormL1, SquaredError, Term
from tinysae.validation import check_int, check_real

#: The encoder's start, as a multiple of the decoder's transpose (:meth:`DictionaryModel.init_params`).
ENCODER_SCALE = 0.1


def unit_columns(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The init rule of a dictionary ``W2 (n, F)``: each column a uniformly random unit direction
    (a standard normal vector divided by its norm)."""
    W = rng.standard_normal(shape)
    return W / np.linalg.norm(W, axis=0, keepdims=True)


def topk_mask(Z: np.ndarray, k: int) -> np.ndarray:
    """``keep (m, F)``: True at the ``k`` largest entries of each row of ``Z``, found by a partial
    selection (``numpy.argpartition``, O(F) per row). Between tied values at the k-th place the
    choice is arbitrary, as it is in ``torch.topk``; ``k = 0`` keeps nothing."""
    keep = np.zeros(Z.shape, dtype=bool)
    if k > 0:
        chosen = np.argpartition(-Z, k - 1, axis=1)[:, :k]
        np.put_along_axis(keep, chosen, True, axis=1)
    return keep


def batch_topk_mask(Z: np.ndarray, k: int) -> np.ndarray:
    """``keep (m, F)``: True at the ``m k`` largest entries of the whole batch ``Z`` (BatchTopK:
    ``k`` latents per sample on average), by a partial selection over the flattened batch."""
    count = Z.shape[0] * k
    keep = np.zeros(Z.size, dtype=bool)
    keep[np.argpartition(-Z, count - 1, axis=None)[:count]] = True
    return keep.reshape(Z.shape)


class DictionaryModel(Model):
    """The common part: parameters, the centred encoder and the linear decoder (module docstring).

    ``n_hidden`` is ``n_latents`` (the name the estimators' ``inverse_transform`` reads).
    """

    def __init__(self, n_features: int, n_latents: int) -> None:
        self.n_features = check_int("n_features", n_features)
        self.n_latents = self.n_hidden = check_int("n_latents", n_latents)

    def param_specs(self) -> tuple[ParamSpec, ...]:
        n, F = self.n_features, self.n_latents
        return (ParamSpec("W1", (F, n), zeros), ParamSpec("b1", (F,), zeros),
                ParamSpec("W2", (n, F), unit_columns), ParamSpec("b2", (n,), zeros))

    def init_params(self, seed: int | np.random.Generator | None = 0) -> Params:
        """Fresh parameters: random unit decoder columns, the encoder their transpose scaled by
        :data:`ENCODER_SCALE` (``W1 = 0.1 W2^T``: Gao et al. 2024's tied start, at the small
        scale of Conerly et al. 2024's decoder norms of 0.1, so that the first codes are small
        and the first reconstruction is not a sum of many full-size directions), zero biases."""
        params = super().init_params(seed)
        return Params({**params, "W1": ENCODER_SCALE * params["W2"].T})

    def check_inputs(self, X: np.ndarray) -> None:
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} columns but the model has n_features={self.n_features}")

    def at_step(self, sparsity_scale: float = 1.0, dead: np.ndarray | None = None) -> DictionaryModel:
        """This model for one training step: the sparsity coefficient times ``sparsity_scale``
        (its warm-up, in [0, 1]); ``dead`` is used by :class:`TopKModel` only."""
        scale = check_real("sparsity_scale", sparsity_scale, minimum=0)
        stepped = copy.copy(self)
        if hasattr(self, "coefficient"):
            stepped.coefficient = self.coefficient * scale
        return stepped

    def possible_term_names(self) -> tuple[str, ...]:
        """Every term this model's steps may have (a history records each, 0 when absent)."""
        return self.term_names()

    # ---- the forward pass, written once -----------------------------------------------------------
    def pre_activations(self, params: Mapping[str, Tensor], X: Tensor) -> dict[str, Tensor]:
        """``Xc = X - b2`` and ``Z2 = Xc W1^T + b1``."""
        W1, b1, b2 = params["W1"], params["b1"], params["b2"]
        Xc = (X - b2).named(f"{X.name} - b2")
        Z2 = ((Xc @ W1.T.named("W1.T")).named(f"({X.name} - b2) @ W1.T") + b1).named("Z2")
        return {"Xc": Xc, "Z2": Z2}

    def activate(self, params: Mapping[str, Tensor], Z2: Tensor) -> dict[str, Tensor]:
        """The code ``H`` from the pre-activations (and what else the activation names)."""
        raise NotImplementedError(f"{type(self).__name__} must define activate(params, Z2)")

    def encode(self, params: Mapping[str, Tensor], X: Tensor) -> dict[str, Tensor]:
        """``Xc``, ``Z2`` and the code ``H (m, F)``."""
        nodes = self.pre_activations(params, X)
        nodes.update(self.activate(params, nodes["Z2"]))
        return nodes

    def decode(self, params: Mapping[str, Tensor], H: Tensor) -> dict[str, Tensor]:
        """``Xhat = H W2^T + b2 (m, n)``: a sum of ``H``'s dictionary columns, plus the bias."""
        W2, b2 = params["W2"], params["b2"]
        return {"Xhat": ((H @ W2.T.named("W2.T")).named(f"{H.name} @ W2.T") + b2).named("Xhat")}

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        nodes = self.encode(params, X)
        nodes.update(self.decode(params, nodes["H"]))
        return nodes


class ReLUModel(DictionaryModel):
    """``H = relu(Z2)``; ``J = 1/(2m) sum ||Xhat - X||^2 + coefficient/m sum_ij H_ij ||W2_j||``."""

    def __init__(self, n_features: int, n_latents: int, coefficient: float = 5.0) -> None:
        super().__init__(n_features, n_latents)
        self.coefficient = check_real("coefficient", coefficient, minimum=0)

    def __repr__(self) -> str:
        return (f"ReLUModel(n_features={self.n_features}, n_latents={self.n_latents}, "
                f"coefficient={self.coefficient!r})")

    def activate(self, params: Mapping[str, Tensor], Z2: Tensor) -> dict[str, Tensor]:
        return {"H": Z2.relu().named("H")}

    def terms(self) -> tuple[Term, ...]:
        return (SquaredError(), DecoderNormL1(self.coefficient))


class TopKModel(DictionaryModel):
    """``H = relu(Z2)`` on each row's ``k`` largest pre-activations (``batch_topk``: the batch's
    ``m k`` largest), 0 elsewhere; ``J = 1/(2m) sum ||Xhat - X||^2`` plus, while some latents
    are ``dead``, ``AuxK(aux_coefficient)`` on their top ``aux_k``.

    The selection is data, not a node: the gradient flows to the selected entries only, as
    through a ReLU's positive part (:func:`tinysae.autograd.mask`). With ``threshold`` set (a
    float), the code is instead ``relu(Z2) [Z2 > threshold]``: how a BatchTopK SAE encodes one
    sample at a time after training (Bussmann et al. 2024).
    """

    def __init__(self, n_features: int, n_latents: int, k: int, aux_k: int = 0,
                 aux_coefficient: float = 1 / 32, batch_topk: bool = False,
                 threshold: float | None = None) -> None:
        super().__init__(n_features, n_latents)
        self.k = check_int("k", k)
        if self.k > self.n_latents:
            raise ValueError(f"k={self.k} must not exceed n_latents={self.n_latents}")
        self.aux_k = check_int("aux_k", aux_k, minimum=0)
        self.aux_coefficient = check_real("aux_coefficient", aux_coefficient, minimum=0)
        self.batch_topk = bool(batch_topk)
        self.threshold = None if threshold is None else check_real("threshold", threshold)
        self.dead = np.zeros(self.n_latents, dtype=bool)

    def __repr__(self) -> str:
        return (f"TopKModel(n_features={self.n_features}, n_latents={self.n_latents}, k={self.k}, "
                f"aux_k={self.aux_k}, aux_coefficient={self.aux_coefficient!r}, "
                f"batch_topk={self.batch_topk}, threshold={self.threshold!r})")

    def at_step(self, sparsity_scale: float = 1.0, dead: np.ndarray | None = None) -> TopKModel:
        """This model with the dead latents ``dead (F,)`` (bool) of the current step."""
        stepped = super().at_step(sparsity_scale)
        if dead is not None:
            dead = np.asarray(dead)
            if dead.shape != (self.n_latents,) or dead.dtype != np.bool_:
                raise ValueError(f"dead must be a boolean array of shape ({self.n_latents},), "
                                 f"got {dead.dtype} {dead.shape}")
            stepped.dead = dead.copy()
        return stepped

    def keep(self, Z2: np.ndarray) -> np.ndarray:
        """Which entries of ``Z2 (m, F)`` the code keeps (the class docstring)."""
        if self.threshold is not None:
            return Z2 > self.threshold
        return batch_topk_mask(Z2, self.k) if self.batch_topk else topk_mask(Z2, self.k)

    def activate(self, params: Mapping[str, Tensor], Z2: Tensor) -> dict[str, Tensor]:
        relu = Z2.relu().named("relu(Z2)")
        return {"relu(Z2)": relu, "H": mask(relu, self.keep(Z2.data)).named("H")}

    def auxiliary(self, params: Mapping[str, Tensor], nodes: Mapping[str, Tensor],
                  T: Tensor) -> dict[str, Tensor]:
        """AuxK's nodes: ``H_aux`` (the top ``aux_k`` of the dead latents' pre-activations, after
        ReLU), the residual ``E = T - Xhat`` as a constant, and ``Ehat = H_aux W2^T``."""
        Z2 = nodes["Z2"]
        aux_k = min(self.aux_k, int(self.dead.sum()))
        dead_only = np.where(self.dead, Z2.data, -np.inf)
        H_aux = mask(nodes["relu(Z2)"], topk_mask(dead_only, aux_k) & self.dead).named("H_aux")
        E = Tensor(T.data - nodes["Xhat"].data, name="E")
        Ehat = (H_aux @ params["W2"].T.named("W2.T")).named("Ehat")
        return {"H_aux": H_aux, "E": E, "Ehat": Ehat}

    def uses_auxk(self) -> bool:
        """Whether this step's objective has the AuxK term: some latent dead, and ``aux_k > 0``."""
        return self.aux_k > 0 and self.aux_coefficient > 0 and bool(self.dead.any())

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        nodes = super().forward(params, X, batch)
        if self.uses_auxk():
            T = X if batch.targets is None else Tensor(batch.targets, name="T")
            nodes.update(self.auxiliary(params, nodes, T))
        return nodes

    def possible_term_names(self) -> tuple[str, ...]:
        auxk = self.aux_k > 0 and self.aux_coefficient > 0
        return ("reconstruction", "auxk") if auxk else ("reconstruction",)

    def terms(self) -> tuple[Term, ...]:
        if self.uses_auxk():
            return (SquaredError(), AuxK(self.aux_coefficient))
        return (SquaredError(),)


class JumpReLUModel(DictionaryModel):
    """``theta = exp(log_threshold)``, ``H = jumprelu(Z2; theta) = Z2 [Z2 > theta]``;
    ``J = 1/(2m) sum ||Xhat - X||^2 + coefficient/m sum_ij [Z2_ij > theta_j]``, trained through
    the straight-through pseudo-derivative of ``bandwidth`` (Rajamanoharan et al. 2024)."""

    def __init__(self, n_features: int, n_latents: int, coefficient: float = 0.1,
                 bandwidth: float = 0.001, initial_threshold: float = 0.001) -> None:
        super().__init__(n_features, n_latents)
        self.coefficient = check_real("coefficient", coefficient, minimum=0)
        self.bandwidth = check_real("bandwidth", bandwidth, minimum=0, strict=True)
        self.initial_threshold = check_real("initial_threshold", initial_threshold, minimum=0, strict=True)

    def __repr__(self) -> str:
        return (f"JumpReLUModel(n_features={self.n_features}, n_latents={self.n_latents}, "
                f"coefficient={self.coefficient!r}, bandwidth={self.bandwidth!r}, "
                f"initial_threshold={self.initial_threshold!r})")

    def param_specs(self) -> tuple[ParamSpec, ...]:
        start = np.log(self.initial_threshold)
        return (*super().param_specs(),
                ParamSpec("log_threshold", (self.n_latents,), lambda rng, shape: np.full(shape, start)))

    def activate(self, params: Mapping[str, Tensor], Z2: Tensor) -> dict[str, Tensor]:
        theta = params["log_threshold"].exp().named("theta")
        return {"theta": theta, "H": jumprelu(Z2, theta, self.bandwidth).named("H")}

    def terms(self) -> tuple[Term, ...]:
        return (SquaredError(), L0(self.coefficient, self.bandwidth))
