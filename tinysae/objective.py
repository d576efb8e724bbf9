r"""The classic sparse-autoencoder objective's settings, and the data checks.

An :class:`Objective` holds the settings of

.. math::

    J(W_1, b_1, W_2, b_2) = \frac{1}{2m}\sum_i \lVert \hat x_i - x_i \rVert^2
        + \frac{\lambda}{2}\left(\lVert W_1\rVert^2 + \lVert W_2\rVert^2\right)
        + \beta \sum_j \mathrm{KL}(\rho \,\Vert\, \hat\rho_j)

(or an L1 penalty, a penalty of your own, or none). :meth:`Objective.terms` turns them into the
terms of :mod:`tinysae.terms`, and :class:`tinysae.models.ClassicSAE` puts those on its
parameters ``W1 (k, n)``, ``b1 (k,)``, ``W2 (n, k)``, ``b2 (n,)``. Nothing here knows how the
objective is computed: the backends in :mod:`tinysae.backends` do that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinysae.params import Params
from tinysae.terms import KL, L1, PENALTIES, Penalty, Sparsity, SquaredError, Term, WeightDecay
from tinysae.validation import check_real

ACTIVATIONS = ("sigmoid", "relu", "identity")
OUTPUTS = ("sigmoid", "identity")


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")


@dataclass(frozen=True)
class Objective:
    r"""Settings of the sparse-autoencoder objective.

    Parameters
    ----------
    rho:
        Target mean activation :math:`\rho` of each hidden unit (KL penalty), in (0, 1).
    beta:
        Weight :math:`\beta \ge 0` of the sparsity penalty.
    weight_decay:
        Weight :math:`\lambda \ge 0` of :math:`\frac{\lambda}{2}(\lVert W_1\rVert^2 + \lVert W_2\rVert^2)`.
    penalty:
        ``"kl"``: :math:`\beta\sum_j \mathrm{KL}(\rho\Vert\hat\rho_j)`;
        ``"l1"``: :math:`\frac{\beta}{m}\sum_{i,j} |H_{ij}|`; ``"none"``: no sparsity term; or a
        :class:`tinysae.Penalty` of your own, weighted by ``beta`` (the engine computes it).
    activation:
        Hidden nonlinearity ``f``: ``"sigmoid"`` (the seed's), ``"relu"`` or ``"identity"`` (a
        linear code, as in a deep autoencoder's bottleneck).
    output:
        Output nonlinearity ``g``: ``"sigmoid"`` (data must lie in [0, 1]) or ``"identity"``.

    The KL penalty needs :math:`\hat\rho_j \in (0, 1)`, which only a sigmoid hidden layer
    guarantees, so ``penalty="kl"`` with ``activation="relu"`` is refused.
    """

    rho: float = 0.01
    beta: float = 3.0
    weight_decay: float = 1e-4
    penalty: str | Penalty = "kl"
    activation: str = "sigmoid"
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        if not isinstance(self.penalty, Penalty):
            _check_choice("penalty", self.penalty, PENALTIES)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("output", self.output, OUTPUTS)
        object.__setattr__(self, "rho", check_real("rho", self.rho))
        object.__setattr__(self, "beta", check_real("beta", self.beta, minimum=0))
        object.__setattr__(self, "weight_decay", check_real("weight_decay", self.weight_decay, minimum=0))
        penalty = self.penalty_function()
        if penalty is not None:
            penalty.check_activation(self.activation)

    def penalty_function(self) -> Penalty | None:
        """The penalty as a :class:`~tinysae.terms.Penalty` (``KL(rho)`` for ``"kl"``, ``L1()``
        for ``"l1"``), or None for ``"none"``."""
        if isinstance(self.penalty, Penalty):
            return self.penalty
        return {"kl": KL(self.rho) if self.penalty == "kl" else None, "l1": L1(), "none": None}[self.penalty]

    def terms(self) -> tuple[Term, ...]:
        """``(SquaredError(), WeightDecay(lambda), Sparsity(penalty, beta))``; no sparsity term for
        ``penalty="none"``."""
        terms: list[Term] = [SquaredError(), WeightDecay(self.weight_decay)]
        penalty = self.penalty_function()
        if penalty is not None:
            terms.append(Sparsity(penalty, self.beta))
        return tuple(terms)

    def check_range(self, X: np.ndarray) -> None:
        """For a sigmoid output, ValueError unless ``X`` lies in [0, 1] (all the sigmoid can reach)."""
        check_output_range(self.output, X)


def check_output_range(output: str, X: np.ndarray) -> None:
    """For ``output="sigmoid"``, ValueError unless ``X`` lies in [0, 1] (all the sigmoid can reach)."""
    if output == "sigmoid":
        lo, hi = float(X.min()), float(X.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"output='sigmoid' reconstructs values in [0, 1], but X spans [{lo:.4g}, {hi:.4g}]; "
                "rescale X or use output='identity'"
            )


def init_params(n_visible: int, n_hidden: int, seed: int | np.random.Generator | None = 0) -> Params:
    r"""The classic's initial parameters (UFLDL's): weights uniform in :math:`[-r, r]`,
    :math:`r = \sqrt{6/(n + k + 1)}`; zero biases. Same ``seed``, same parameters."""
    from tinysae.models.classic import ClassicSAE

    return ClassicSAE(n_visible, n_hidden).init_params(seed)


def check_data(X: object, objective: Objective | None = None, n_visible: int | None = None) -> np.ndarray:
    """Validate a data matrix ``X (m, n)`` for ``objective`` and return it as a float array.

    X must be 2-D, real, finite, with ``n_visible`` columns when given; for a sigmoid output its
    values must lie in [0, 1] (the sigmoid cannot reach anything else; no range check without an
    ``objective``).
    """
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (m samples, n visible units), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows (m = 0)")
    if n_visible is not None and X.shape[1] != n_visible:
        raise ValueError(f"X has {X.shape[1]} columns but the model has n_visible={n_visible}")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"X must be finite; X[{bad[0]}, {bad[1]}] = {X[tuple(bad)]}")
    if objective is not None:
        objective.check_range(X)
    return X
