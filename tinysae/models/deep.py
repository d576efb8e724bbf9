r"""Deep autoencoders and stacked classifiers: sparse autoencoders stacked, then unrolled.

``sizes = (n, h_1, ..., h_L)`` gives an encoder ``n -> h_1 -> ... -> h_L`` and the mirrored
decoder ``h_L -> ... -> h_1 -> n``: ``2L`` dense layers, numbered as UFLDL numbers them (layer
``l`` maps ``H_l`` to ``H_{l+1}``, ``H_1 = X``), so the classic is the case ``L = 1``::

    Z_{l+1} = H_l W_l^T + b_l,   H_{l+1} = f_l(Z_{l+1})          l = 1, ..., 2L
    H = H_{L+1}  (the code, width h_L),    Xhat = H_{2L+1}

``f_l`` is ``activation`` inside, ``code_activation`` at the code (layer ``L``) and ``output``
at the last layer. Greedy pre-training (Hinton & Salakhutdinov 2006; UFLDL's stacked
autoencoder) trains layer ``l``'s sparse autoencoder on ``H_l``; its encoder becomes
``W_l, b_l`` and its decoder ``W_{2L+1-l}, b_{2L+1-l}`` (:func:`assemble`). Fine-tuning then
trains the whole stack on one of two objectives (``fine_tune``):

* ``"reconstruction"`` (the deep autoencoder): ``1/(2m) sum ||Xhat - X||^2 + lambda/2 sum_l ||W_l||^2``;
* ``"classification"`` (the stacked classifier): a softmax layer on the code,
  ``Z_softmax = H W_softmax^T + b_softmax``, ``log_P = log_softmax(Z_softmax)``, and
  ``-1/m sum_i log P[i, y_i] + lambda/2 (sum_{l <= L} ||W_l||^2 + ||W_softmax||^2)``.
  The decoder layers stay parameters of the model (they decode the code for ``reconstruct``)
  but this objective does not reach them: their gradient is zero and fine-tuning leaves them
  as pre-training made them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from tinysae.autograd import Tensor
from tinysae.functions import activation as activation_function
from tinysae.models.base import Batch, Model
from tinysae.models.softmax import check_one_hot, softmax_layer
from tinysae.objective import check_output_range
from tinysae.params import Params, ParamSpec, uniform, zeros
from tinysae.terms import CrossEntropy, SquaredError, Term, WeightDecay
from tinysae.validation import check_int, check_real

FINE_TUNE = ("reconstruction", "classification")


def check_sizes(sizes: object) -> tuple[int, ...]:
    """``sizes`` as a tuple of at least two positive ints, or a ValueError saying why."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"sizes must be a sequence (n, h_1, ..., h_L) of at least two ints, got {sizes!r}")
    return tuple(check_int(f"sizes[{i}]", size) for i, size in enumerate(sizes))


class DeepSAE(Model):
    """The unrolled stack of ``sizes = (n, h_1, ..., h_L)``, fine-tuned by ``fine_tune``."""

    def __init__(self, sizes: Sequence[int], *, activation: str = "sigmoid", code_activation: str = "sigmoid",
                 output: str = "sigmoid", weight_decay: float = 0.0, n_classes: int | None = None,
                 fine_tune: str = "reconstruction") -> None:
        self.sizes = check_sizes(sizes)
        for name in (activation, code_activation, output):
            activation_function(name)  # ValueError for an unknown name
        if fine_tune not in FINE_TUNE:
            raise ValueError(f"fine_tune={fine_tune!r} is not one of {', '.join(map(repr, FINE_TUNE))}")
        if fine_tune == "classification" and n_classes is None:
            raise ValueError("fine_tune='classification' needs n_classes")
        self.activation, self.code_activation, self.output = activation, code_activation, output
        self.weight_decay = check_real("weight_decay", weight_decay, minimum=0)
        self.n_classes = None if n_classes is None else check_int("n_classes", n_classes, minimum=2)
        self.fine_tune = fine_tune

    def __repr__(self) -> str:
        return (f"DeepSAE(sizes={self.sizes}, activation={self.activation!r}, "
                f"code_activation={self.code_activation!r}, output={self.output!r}, "
                f"weight_decay={self.weight_decay!r}, n_classes={self.n_classes!r}, "
                f"fine_tune={self.fine_tune!r})")

    # ---- shapes -----------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """``L``, the number of encoder layers (the network has ``2L`` dense layers)."""
        return len(self.sizes) - 1

    @property
    def n_hidden(self) -> int:
        """The code's width ``h_L``."""
        return self.sizes[-1]

    def widths(self) -> tuple[int, ...]:
        """``(n, h_1, ..., h_L, ..., h_1, n)``: the width of ``H_1, ..., H_{2L+1}``."""
        return self.sizes + self.sizes[-2::-1]

    def layer_activation(self, layer: int) -> str:
        """``f_l`` of layer ``l`` (1-based)."""
        L = self.n_layers
        if layer == L:
            return self.code_activation
        return self.output if layer == 2 * L else self.activation

    def param_specs(self) -> tuple[ParamSpec, ...]:
        widths = self.widths()
        specs = []
        for layer in range(1, 2 * self.n_layers + 1):
            n_in, n_out = widths[layer - 1], widths[layer]
            r = uniform(math.sqrt(6.0 / (n_in + n_out + 1)))
            specs += [ParamSpec(f"W{layer}", (n_out, n_in), r), ParamSpec(f"b{layer}", (n_out,), zeros)]
        if self.n_classes is not None:
            r = uniform(math.sqrt(6.0 / (self.n_hidden + self.n_classes + 1)))
            specs += [ParamSpec("W_softmax", (self.n_classes, self.n_hidden), r),
                      ParamSpec("b_softmax", (self.n_classes,), zeros)]
        return tuple(specs)

    def terms(self) -> tuple[Term, ...]:
        L = self.n_layers
        if self.fine_tune == "classification":
            weights = (*(f"W{layer}" for layer in range(1, L + 1)), "W_softmax")
            return (CrossEntropy(), WeightDecay(self.weight_decay, weights))
        weights = tuple(f"W{layer}" for layer in range(1, 2 * L + 1))
        return (SquaredError(), WeightDecay(self.weight_decay, weights))

    def check_inputs(self, X: np.ndarray) -> None:
        if X.shape[1] != self.sizes[0]:
            raise ValueError(f"X has {X.shape[1]} columns but the model has sizes[0]={self.sizes[0]}")
        if self.fine_tune == "reconstruction":
            check_output_range(self.output, X)

    def check_targets(self, T: np.ndarray, X: np.ndarray) -> None:
        if self.fine_tune == "reconstruction":
            super().check_targets(T, X)
        else:
            check_one_hot(T, X.shape[0], self.n_classes)

    # ---- the forward pass, written once -------------------------------------------------------------
    def _layer(self, params: Mapping[str, Tensor], layer: int, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """``Z_{l+1} = H_l W_l^T + b_l`` and ``H_{l+1} = f_l(Z_{l+1})`` for layer ``l``."""
        W, b = params[f"W{layer}"], params[f"b{layer}"]
        product = (inputs @ W.T.named(f"W{layer}.T")).named(f"{inputs.name} @ W{layer}.T")
        Z = (product + b).named(f"Z{layer + 1}")
        out = "Xhat" if layer == 2 * self.n_layers else f"H{layer + 1}"
        return Z, activation_function(self.layer_activation(layer)).tensor(Z).named(out)

    def encode(self, params: Mapping[str, Tensor], X: Tensor) -> dict[str, Tensor]:
        """Layers ``1..L``: ``Z_2, H_2, ..., Z_{L+1}, H_{L+1}``, and ``H``, the code ``H_{L+1}``."""
        nodes: dict[str, Tensor] = {}
        H = X
        for layer in range(1, self.n_layers + 1):
            Z, H = self._layer(params, layer, H)
            nodes[Z.name], nodes[H.name] = Z, H
        nodes["H"] = H
        return nodes

    def decode(self, params: Mapping[str, Tensor], H: Tensor) -> dict[str, Tensor]:
        """Layers ``L+1..2L``, from the code ``H`` to ``Xhat``."""
        nodes: dict[str, Tensor] = {}
        for layer in range(self.n_layers + 1, 2 * self.n_layers + 1):
            Z, H = self._layer(params, layer, H)
            nodes[Z.name], nodes[H.name] = Z, H
        return nodes

    def classify(self, params: Mapping[str, Tensor], H: Tensor) -> dict[str, Tensor]:
        """The softmax layer on the code: ``Z_softmax = H W_softmax^T + b_softmax`` and ``log_P``,
        both ``(m, C)`` (:func:`tinysae.models.softmax.softmax_layer`)."""
        return softmax_layer(H, params["W_softmax"], params["b_softmax"])

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        nodes = self.encode(params, X)
        if self.fine_tune == "classification":
            nodes.update(self.classify(params, nodes["H"]))
        else:
            nodes.update(self.decode(params, nodes["H"]))
        return nodes


def assemble(layers: Sequence[Params], head: Params | None = None) -> Params:
    """The stack's parameters from pre-trained layers: ``layers[l-1]`` is layer ``l``'s classic
    sparse autoencoder (``W1, b1, W2, b2``), whose encoder becomes ``W_l, b_l`` and whose decoder
    becomes ``W_{2L+1-l}, b_{2L+1-l}``; ``head`` (``W, b`` of a softmax classifier) becomes
    ``W_softmax, b_softmax``. The order is :meth:`DeepSAE.param_specs`'."""
    L = len(layers)
    arrays: dict[str, np.ndarray] = {}
    for layer in range(1, 2 * L + 1):
        if layer <= L:
            source, which = layers[layer - 1], "1"
        else:
            source, which = layers[2 * L - layer], "2"
        arrays[f"W{layer}"] = source[f"W{which}"]
        arrays[f"b{layer}"] = source[f"b{which}"]
    if head is not None:
        arrays["W_softmax"], arrays["b_softmax"] = head["W"], head["b"]
    return Params(arrays)
