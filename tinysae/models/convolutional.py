r"""The convolutional sparse autoencoder: the classic with its two matrix products replaced by a
convolution and a transposed convolution.

Rows are samples, each a flattened image of ``image_shape = (C, H, W)``; the names are those
of ``docs/design.md``, in PyTorch's layouts (:mod:`tinysae.autograd.conv`)::

    W1 (K, C, k, k), b1 (K,)     K filters of k x k pixels over C channels      (the encoder)
    W2 (K, C, k, k), b2 (C,)     conv_transpose2d's layout (C_in = K, C_out = C) (the decoder)

    X_images = X reshaped to (m, C, H, W)
    Z2   = conv2d(X_images, W1, b1, stride s, padding p)   (m, K, H', W')   H = f(Z2), the maps
    Z3   = conv_transpose2d(H, W2, b2, s, p)               (m, C, H, W)     Xhat = g(Z3), as (m, C H W)
    J    = 1/(2m) sum ||Xhat - X||^2  +  lambda/2 (||W1||^2 + ||W2||^2)  +  beta * penalty(H)

Every position of every map is a hidden unit, as in the classic: the KL penalty's
:math:`\hat\rho` is ``H.mean(axis=0)``, of shape ``(K, H', W')``, one target rate per unit, and
L1 is :math:`\frac1m\sum|H|`. What the convolution adds is *weight sharing*: the ``K`` filters
are the same at every position, so the model has ``2 K C k^2 + K + C`` parameters whatever the
image size. The decoder's ``output_padding`` is chosen so that ``Xhat`` has the input's size.

The terms are the classic's (:meth:`tinysae.objective.Objective.terms`), unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tinysae.autograd import Tensor, conv2d, conv_transpose2d
from tinysae.autograd.conv import conv2d_size
from tinysae.functions import activation
from tinysae.models.base import Batch, Model
from tinysae.objective import Objective
from tinysae.params import ParamSpec, uniform, zeros
from tinysae.terms import Term
from tinysae.validation import check_int


class ConvolutionalSAE(Model):
    """``K`` sparse feature maps of ``(C, H, W)`` images, by ``k x k`` filters with stride ``s`` and
    padding ``p``, decoded by a transposed convolution, with the terms of ``objective``."""

    def __init__(self, image_shape: tuple[int, int, int], n_filters: int, kernel_size: int,
                 stride: int = 1, padding: int = 0, objective: Objective | None = None) -> None:
        if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3:
            raise ValueError(f"image_shape must be (channels, height, width), got {image_shape!r}")
        self.image_shape = tuple(check_int(name, size) for name, size in
                                 zip(("channels", "height", "width"), image_shape))
        self.n_filters = check_int("n_filters", n_filters)
        self.kernel_size = check_int("kernel_size", kernel_size)
        self.stride = check_int("stride", stride)
        self.padding = check_int("padding", padding, minimum=0)
        if objective is None:
            objective = Objective()
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be a tinysae.Objective, got {type(objective).__name__}")
        self.objective = objective
        _, height, width = self.image_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        if p >= k:
            raise ValueError(f"padding={p} must be smaller than kernel_size={k}")
        if min(height, width) + 2 * p < k:
            padded = (height + 2 * p, width + 2 * p)
            raise ValueError(f"kernel_size={k} is larger than the padded image {padded}")
        self.map_shape = conv2d_size((height, width), (k, k), (s, s), (p, p))
        # conv_transpose2d gives (H' - 1) s - 2p + k; output_padding, (H + 2p - k) mod s, which is
        # always below the stride, makes up the rest of H
        self.output_padding = tuple(size - ((maps - 1) * s - 2 * p + k)
                                    for size, maps in zip((height, width), self.map_shape))

    def __repr__(self) -> str:
        return (f"ConvolutionalSAE(image_shape={self.image_shape}, n_filters={self.n_filters}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"objective={self.objective!r})")

    @property
    def n_features(self) -> int:
        """``C H W``, the length of one flattened image."""
        return int(np.prod(self.image_shape))

    @property
    def n_hidden(self) -> int:
        """``K H' W'``, the number of hidden units (map positions)."""
        return self.n_filters * self.map_shape[0] * self.map_shape[1]

    def param_specs(self) -> tuple[ParamSpec, ...]:
        """Weights uniform in :math:`[-r, r]` with the classic's :math:`r = \\sqrt{6/(n + k + 1)}`
        for a unit's fan-in ``n = C k^2`` and fan-out ``K k^2``; zero biases."""
        c, k, filters = self.image_shape[0], self.kernel_size, self.n_filters
        r = uniform(math.sqrt(6.0 / (c * k * k + filters * k * k + 1)))
        shape = (filters, c, k, k)
        return (ParamSpec("W1", shape, r), ParamSpec("b1", (filters,), zeros),
                ParamSpec("W2", shape, r), ParamSpec("b2", (c,), zeros))

    def terms(self) -> tuple[Term, ...]:
        return self.objective.terms()

    def check_inputs(self, X: np.ndarray) -> None:
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} columns but images of shape {self.image_shape} "
                             f"flatten to {self.n_features}")
        self.objective.check_range(X)

    # ---- the forward pass, written once -----------------------------------------------------------
    def encode(self, params: Mapping[str, Tensor], X: Tensor) -> dict[str, Tensor]:
        """``Z2 = conv2d(X_images, W1, b1)`` and the maps ``H = f(Z2)``, both ``(m, K, H', W')``."""
        images = X.reshape(X.shape[0], *self.image_shape).named("X_images")
        Z2 = conv2d(images, params["W1"], params["b1"], stride=self.stride, padding=self.padding).named("Z2")
        H = activation(self.objective.activation).tensor(Z2).named("H")
        return {"X_images": images, "Z2": Z2, "H": H}

    def decode(self, params: Mapping[str, Tensor], H: Tensor) -> dict[str, Tensor]:
        """``Z3 = conv_transpose2d(H, W2, b2)`` ``(m, C, H, W)`` and ``Xhat = g(Z3)``, flattened to
        ``(m, C H W)``."""
        Z3 = conv_transpose2d(H, params["W2"], params["b2"], stride=self.stride, padding=self.padding,
                              output_padding=self.output_padding).named("Z3")
        images = activation(self.objective.output).tensor(Z3).named("Xhat_images")
        Xhat = images.reshape(H.shape[0], self.n_features).named("Xhat")
        return {"Z3": Z3, "Xhat_images": images, "Xhat": Xhat}

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        nodes = self.encode(params, X)
        nodes.update(self.decode(params, nodes["H"]))
        return nodes
