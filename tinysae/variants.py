r"""The seed's one-layer variants as estimators: denoising and contractive autoencoders.

Both are the classic ``n -> k -> n`` network (:class:`~tinysae.estimator.SparseAutoencoder`'s
parameters ``W1_, b1_, W2_, b2_``, its ``transform``, ``reconstruct``, ``score_samples``,
``save`` and ``load``) trained on another objective:

* :class:`DenoisingAutoencoder` (:class:`tinysae.models.DenoisingSAE`): reconstruct the clean
  ``X`` from a corrupted copy;
* :class:`ContractiveAutoencoder` (:class:`tinysae.models.ContractiveSAE`): reconstruct ``X``
  while keeping the encoder's Jacobian small.

Encoding a fitted model never corrupts: ``transform(X)`` is ``f(X W1^T + b1)``.
"""

from __future__ import annotations

import numpy as np

from tinysae.estimator import SparseAutoencoder
from tinysae.models import ContractiveSAE, DenoisingSAE
from tinysae.objective import Objective
from tinysae.terms import Penalty
from tinysae.validation import check_int


class DenoisingAutoencoder(SparseAutoencoder):
    """A denoising autoencoder (Vincent et al. 2008): learns to map ``corrupt(x)`` back to ``x``.

    Parameters
    ----------
    n_hidden:
        ``k``, the number of hidden units.
    corruption:
        ``"gaussian"`` (add :math:`\\sigma\\varepsilon`, clipped to [0, 1] for a sigmoid output),
        ``"masking"`` (each input set to 0 with probability ``noise_level``) or ``"salt_pepper"``
        (each input, with probability ``noise_level``, set to 0 or 1); :mod:`tinysae.corruption`.
    noise_level:
        :math:`\\sigma` for ``"gaussian"``, else the fraction of inputs corrupted, in [0, 1].
    rho, beta, weight_decay, penalty, activation, output:
        The classic's objective (:class:`tinysae.objective.Objective`); the seed's KL sparsity
        penalty is the default.
    solver, max_iter, batch_size, learning_rate, backend, random_state, verbose:
        Training, as for :class:`~tinysae.estimator.SparseAutoencoder`. With ``"adam"`` (the
        default) every minibatch gets fresh corruption (its own seed); ``"lbfgs"`` needs a fixed
        objective, so it draws one corruption of each sample, from ``seed_``, for the whole run.
    """

    def __init__(
        self,
        n_hidden: int = 128,
        corruption: str = "gaussian",
        noise_level: float = 0.2,
        rho: float = 0.05,
        beta: float = 0.1,
        weight_decay: float = 1e-5,
        penalty: str | Penalty = "kl",
        activation: str = "sigmoid",
        output: str = "sigmoid",
        solver: str = "adam",
        max_iter: int = 200,
        batch_size: int = 64,
        learning_rate: float = 3e-3,
        backend: str = "auto",
        random_state: int | np.random.Generator | None = 0,
        verbose: bool = False,
    ) -> None:
        self.n_hidden = n_hidden
        self.rho = rho
        self.beta = beta
        self.weight_decay = weight_decay
        self.penalty = penalty
        self.activation = activation
        self.output = output
        self.solver = solver
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose
        self.corruption = corruption
        self.noise_level = noise_level

    def _build_model(self, n_features: int) -> DenoisingSAE:
        return DenoisingSAE(n_features, check_int("n_hidden", self.n_hidden), self._objective(),
                            corruption=self.corruption, noise_level=self.noise_level)


class ContractiveAutoencoder(SparseAutoencoder):
    """A contractive autoencoder (Rifai et al. 2011): the classic plus
    :math:`\\frac{\\lambda_c}{m}\\sum_i\\lVert\\partial H_i/\\partial x_i\\rVert_F^2`.

    Parameters
    ----------
    n_hidden:
        ``k``, the number of hidden units (sigmoid).
    contraction:
        :math:`\\lambda_c \\ge 0`, the weight of the Jacobian penalty (:class:`tinysae.terms.Contraction`).
    rho, beta, weight_decay, penalty, output:
        The classic's objective; no sparsity penalty by default (Rifai's model has none).
    solver, max_iter, batch_size, learning_rate, backend, random_state, verbose:
        Training, as for :class:`~tinysae.estimator.SparseAutoencoder`.
    """

    def __init__(
        self,
        n_hidden: int = 64,
        contraction: float = 0.1,
        rho: float = 0.05,
        beta: float = 0.0,
        weight_decay: float = 1e-4,
        penalty: str | Penalty = "none",
        output: str = "sigmoid",
        solver: str = "lbfgs",
        max_iter: int = 400,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        backend: str = "auto",
        random_state: int | np.random.Generator | None = 0,
        verbose: bool = False,
    ) -> None:
        self.n_hidden = n_hidden
        self.contraction = contraction
        self.rho = rho
        self.beta = beta
        self.weight_decay = weight_decay
        self.penalty = penalty
        self.output = output
        self.solver = solver
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def _objective(self) -> Objective:
        return Objective(rho=self.rho, beta=self.beta, weight_decay=self.weight_decay, penalty=self.penalty,
                         activation="sigmoid", output=self.output)

    def _build_model(self, n_features: int) -> ContractiveSAE:
        return ContractiveSAE(n_features, check_int("n_hidden", self.n_hidden), self._objective(),
                              contraction=self.contraction)
