r"""The denoising autoencoder (Vincent et al. 2008): the classic, fed a corrupted input.

The forward pass corrupts the clean batch ``X`` into ``X_tilde`` (:mod:`tinysae.corruption`),
encodes and decodes that, and the reconstruction term compares ``Xhat`` with the *clean* ``X``::

    X_tilde = corrupt(X)                  (m, n)   drawn from the batch's seed
    Z2 = X_tilde W1^T + b1,   H = f(Z2),   Z3 = H W2^T + b2,   Xhat = g(Z3)
    J  = 1/(2m) sum ||Xhat - X||^2  +  lambda/2 (||W1||^2 + ||W2||^2)  +  beta * penalty(H)

The corruption is a constant of the graph (nothing is differentiated through it) drawn from
``batch.rng()``, so ``J`` is a deterministic function of (params, batch): Adam gives each
minibatch its own seed, hence fresh corruption at every step; L-BFGS evaluates one fixed batch,
hence one corruption of each sample for the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tinysae.autograd import Tensor
from tinysae.corruption import check_corruption, corrupt
from tinysae.models.base import Batch
from tinysae.models.classic import ClassicSAE
from tinysae.objective import Objective


class DenoisingSAE(ClassicSAE):
    """The classic ``n -> k -> n`` autoencoder trained to undo ``corruption`` at ``noise_level``."""

    def __init__(self, n_visible: int, n_hidden: int, objective: Objective | None = None,
                 corruption: str = "gaussian", noise_level: float = 0.2) -> None:
        super().__init__(n_visible, n_hidden, objective)
        self.noise_level = check_corruption(corruption, noise_level)
        self.corruption = corruption

    def __repr__(self) -> str:
        return (f"DenoisingSAE(n_visible={self.n_visible}, n_hidden={self.n_hidden}, "
                f"objective={self.objective!r}, corruption={self.corruption!r}, "
                f"noise_level={self.noise_level!r})")

    def corrupt(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``X_tilde``: ``X`` corrupted; Gaussian noise is clipped to [0, 1] for a sigmoid output."""
        clip = (0.0, 1.0) if self.objective.output == "sigmoid" else None
        return corrupt(X, self.corruption, self.noise_level, rng, clip)

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        X_tilde = Tensor(self.corrupt(X.data, batch.rng()), name="X_tilde")
        nodes = {"X_tilde": X_tilde, **self.encode(params, X_tilde)}
        nodes.update(self.decode(params, nodes["H"]))
        return nodes
