r"""The classic sparse-autoencoder objective, written once as data.

An :class:`Objective` holds the settings of

.. math::

    J(W_1, b_1, W_2, b_2) = \frac{1}{2m}\sum_i \lVert \hat x_i - x_i \rVert^2
        + \frac{\lambda}{2}\left(\lVert W_1\rVert^2 + \lVert W_2\rVert^2\right)
        + \beta \sum_j \mathrm{KL}(\rho \,\Vert\, \hat\rho_j)

(or an L1 penalty, or none); :class:`Params` holds ``W1 (k, n)``, ``b1 (k,)``, ``W2 (n, k)``,
``b2 (n,)``. Nothing here knows how the objective is computed: the backends in
:mod:`tinysae.backends` do that, each from the same names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from tinysae.validation import check_int, check_real, check_seed

PENALTIES = ("kl", "l1", "none")
ACTIVATIONS = ("sigmoid", "relu")
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
        ``"l1"``: :math:`\frac{\beta}{m}\sum_{i,j} |H_{ij}|`; ``"none"``: no sparsity term.
    activation:
        Hidden nonlinearity ``f``: ``"sigmoid"`` (the seed's) or ``"relu"``.
    output:
        Output nonlinearity ``g``: ``"sigmoid"`` (data must lie in [0, 1]) or ``"identity"``.

    The KL penalty needs :math:`\hat\rho_j \in (0, 1)`, which only a sigmoid hidden layer
    guarantees, so ``penalty="kl"`` with ``activation="relu"`` is refused.
    """

    rho: float = 0.01
    beta: float = 3.0
    weight_decay: float = 1e-4
    penalty: str = "kl"
    activation: str = "sigmoid"
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        _check_choice("penalty", self.penalty, PENALTIES)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("output", self.output, OUTPUTS)
        rho = check_real("rho", self.rho)
        beta = check_real("beta", self.beta, minimum=0)
        weight_decay = check_real("weight_decay", self.weight_decay, minimum=0)
        if self.penalty == "kl" and not 0.0 < rho < 1.0:
            raise ValueError(f"rho must lie in (0, 1) for the KL penalty, got {rho}")
        if self.penalty == "kl" and self.activation != "sigmoid":
            raise ValueError(
                f"penalty='kl' needs activation='sigmoid' (rho_hat must stay in (0, 1)), "
                f"got activation={self.activation!r}; use penalty='l1' with relu"
            )
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "beta", beta)
        object.__setattr__(self, "weight_decay", weight_decay)


@dataclass
class Params:
    """The four parameter arrays of the classic sparse autoencoder.

    ``W1 (k, n)`` and ``b1 (k,)`` encode, ``W2 (n, k)`` and ``b2 (n,)`` decode, for ``n``
    visible and ``k`` hidden units. :meth:`flatten` and :meth:`unflatten` turn them into one
    vector ``theta = [W1.ravel(), b1, W2.ravel(), b2]`` for optimisers such as L-BFGS.
    """

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                dtype = f" of {value.dtype}" if hasattr(value, "dtype") else ""
                raise TypeError(
                    f"Params.{f.name} must be a float numpy array, got {type(value).__name__}{dtype}"
                )
        k, n = self.W1.shape if self.W1.ndim == 2 else (None, None)
        expected = {"W1": (k, n), "b1": (k,), "W2": (n, k), "b2": (n,)}
        if k is None or any(getattr(self, name).shape != shape for name, shape in expected.items()):
            got = ", ".join(f"{name} {getattr(self, name).shape}" for name in expected)
            raise ValueError(f"Params shapes must be W1 (k, n), b1 (k,), W2 (n, k), b2 (n,); got {got}")

    @property
    def n_visible(self) -> int:
        """``n``, the number of visible units."""
        return self.W1.shape[1]

    @property
    def n_hidden(self) -> int:
        """``k``, the number of hidden units."""
        return self.W1.shape[0]

    @property
    def dtype(self) -> np.dtype:
        """The floating type of the parameters (the widest of the four)."""
        return np.result_type(self.W1, self.b1, self.W2, self.b2)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(W1, b1, W2, b2)``."""
        return self.W1, self.b1, self.W2, self.b2

    def flatten(self) -> np.ndarray:
        """One vector ``theta`` of length ``2 k n + k + n``: W1, b1, W2, b2 in that order."""
        return np.concatenate([a.ravel() for a in self.arrays()])

    @classmethod
    def unflatten(cls, theta: np.ndarray, n_visible: int, n_hidden: int) -> Params:
        """Inverse of :meth:`flatten` for ``n_visible`` visible and ``n_hidden`` hidden units."""
        theta = np.asarray(theta)
        n, k = n_visible, n_hidden
        size = 2 * k * n + k + n
        if theta.ndim != 1 or theta.size != size:
            raise ValueError(
                f"theta must be a vector of length 2*k*n + k + n = {size} for n={n}, k={k}, "
                f"got shape {theta.shape}"
            )
        W1, b1, W2, b2 = np.split(theta, [k * n, k * n + k, 2 * k * n + k])
        return cls(W1.reshape(k, n), b1, W2.reshape(n, k), b2)

    def copy(self) -> Params:
        """A deep copy."""
        return Params(*(a.copy() for a in self.arrays()))

    def astype(self, dtype: np.dtype | type) -> Params:
        """The same parameters as ``dtype`` (a copy)."""
        return Params(*(a.astype(dtype) for a in self.arrays()))


def init_params(n_visible: int, n_hidden: int, seed: int | np.random.Generator | None = 0) -> Params:
    r"""UFLDL's initialisation: weights uniform in :math:`[-r, r]`, :math:`r = \sqrt{6/(n + k + 1)}`;
    zero biases. Same ``seed``, same parameters.
    """
    n = check_int("n_visible", n_visible)
    k = check_int("n_hidden", n_hidden)
    rng = check_seed(seed)
    r = math.sqrt(6.0 / (n + k + 1))
    W1 = rng.uniform(-r, r, size=(k, n))
    W2 = rng.uniform(-r, r, size=(n, k))
    return Params(W1, np.zeros(k), W2, np.zeros(n))


def check_data(X: object, objective: Objective, n_visible: int | None = None) -> np.ndarray:
    """Validate a data matrix ``X (m, n)`` for ``objective`` and return it as a float array.

    X must be 2-D, real, finite, with ``n_visible`` columns when given; for a sigmoid output its
    values must lie in [0, 1] (the sigmoid cannot reach anything else).
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
    if objective.output == "sigmoid":
        lo, hi = float(X.min()), float(X.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"output='sigmoid' reconstructs values in [0, 1], but X spans [{lo:.4g}, {hi:.4g}]; "
                "rescale X or use output='identity'"
            )
    return X
