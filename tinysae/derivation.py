r"""The demo behind ``tinysae explain``: the engine derives docs/design.md's sparsity gradient.

On a tiny random problem with the KL objective, :func:`sparsity_derivation` asks the engine to
explain :math:`\partial J / \partial Z_2`. Two kinds of path leave ``J`` and meet at ``H``:

* reconstruction: ``J <- reconstruction <- ... <- Xhat <- Z3 <- H W2^T <- H``, which brings
  :math:`D_3 W_2` with :math:`D_3 = (\hat X - X) \odot g'(Z_3) / m`;
* sparsity: ``J <- sparsity <- KL <- ... <- rho_hat <- H`` (two paths, one per log of the KL),
  which bring :math:`\beta s / m` with :math:`s = -\rho/\hat\rho + (1-\rho)/(1-\hat\rho)`;
  the :math:`1/m` is :math:`\partial \hat\rho_j / \partial H_{ij}`, the mean's local derivative.

At ``H`` they add, and one more step through :math:`f` gives the closed form

.. math::

    D_2 = \left(D_3 W_2 + \frac{\beta}{m} s\right) \odot f'(Z_2),

which :func:`sparsity_derivation` also computes by the numpy reference's equations and compares
with the engine's gradient. ``print(sparsity_derivation())`` is ``tinysae explain``;
``sparsity_derivation().latex()`` is ``tinysae explain --latex``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinysae.autograd import Derivation, explain, relative_error
from tinysae.autograd.explain import sample
from tinysae.backends import autograd_backend, numpy_ref
from tinysae.functions import activation
from tinysae.objective import Objective, init_params
from tinysae.params import Params
from tinysae.validation import check_int

DEFAULT_OBJECTIVE = Objective(rho=0.05, beta=3.0, weight_decay=1e-4)


@dataclass
class SparsityDerivation:
    """The engine's derivation of ``dJ/dZ2`` next to docs/design.md's closed form ``D2``.

    Arrays use docs/design.md's names and shapes: ``W2 (n, k)``, ``D3 (m, n)``, ``s (k,)``, ``D2 (m, k)``;
    ``reconstruction_at_H`` and ``sparsity_at_H`` (both ``(m, k)``) are what the two kinds of
    path bring to ``H`` in the engine; ``engine_grad (m, k)`` is ``Z2.grad`` after
    ``J.backward()``.
    """

    derivation: Derivation
    objective: Objective
    m: int
    n: int
    k: int
    seed: int
    W2: np.ndarray
    D3: np.ndarray
    s: np.ndarray
    D2: np.ndarray
    reconstruction_at_H: np.ndarray
    sparsity_at_H: np.ndarray
    engine_grad: np.ndarray

    @property
    def relative_error(self) -> float:
        """``||engine - D2|| / ||engine + D2||``: the engine's ``dJ/dZ2`` against the closed form."""
        return relative_error(self.engine_grad, self.D2)

    @property
    def reconstruction_error(self) -> float:
        """Relative error of the reconstruction paths' share at ``H`` against ``D3 W2``."""
        return relative_error(self.reconstruction_at_H, self.D3 @ self.W2)

    @property
    def sparsity_error(self) -> float:
        """Relative error of the sparsity paths' share at ``H`` against ``beta * s / m``."""
        expected = np.broadcast_to(self.objective.beta * self.s / self.m, self.sparsity_at_H.shape)
        return relative_error(self.sparsity_at_H, expected)

    def _summary(self) -> list[tuple[str, str, str]]:
        """(text, LaTeX left side, LaTeX right side) for the closing lines."""
        o = self.objective
        return [
            ("D3 = (Xhat - X) * g'(Z3) / m", "D_3", r"(\hat X - X) \odot g'(Z_3) / m"),
            ("s  = -rho / rho_hat + (1 - rho) / (1 - rho_hat)", "s",
             r"-\frac{\rho}{\hat\rho} + \frac{1-\rho}{1-\hat\rho}"),
            (f"at H:  dJ/dH  = D3 W2 + beta * s / m   (reconstruction path + sparsity paths; "
             f"beta = {o.beta:g}, m = {self.m})",
             r"\frac{\partial J}{\partial H}", r"D_3 W_2 + \frac{\beta}{m}\,s"),
            ("at Z2: dJ/dZ2 = dJ/dH * f'(Z2) = D2     (closed form of docs/design.md)",
             r"\frac{\partial J}{\partial Z_2}",
             r"\left(D_3 W_2 + \frac{\beta}{m}\,s\right) \odot f'(Z_2) = D_2"),
        ]

    def __str__(self) -> str:
        o = self.objective
        lines = [
            "tinysae explain: how the engine differentiates the sparse-autoencoder objective J at Z2",
            f"problem: m={self.m} samples, n={self.n} visible, k={self.k} hidden, seed={self.seed}; "
            f"rho={o.rho:g}, beta={o.beta:g}, lambda={o.weight_decay:g}, f={o.activation}, g={o.output}",
            "",
            str(self.derivation),
            "",
        ]
        lines += [text for text, _, _ in self._summary()]
        lines += [
            f"  reconstruction share at H vs D3 W2:      relative error {self.reconstruction_error:.1e}",
            f"  sparsity share at H vs beta * s / m:     relative error {self.sparsity_error:.1e}",
            f"  D2 (closed form, numpy reference):       {sample(self.D2, 4)}",
            f"  dJ/dZ2 (engine, Z2.grad):                {sample(self.engine_grad, 4)}",
            f"engine vs closed form: relative error {self.relative_error:.1e}",
        ]
        return "\n".join(lines)

    def latex(self) -> str:
        """The derivation and the closed form as one LaTeX ``aligned`` block."""
        rows = self.derivation.latex_rows()
        rows += [rf"{left} &= {right} \\" for _, left, right in self._summary()]
        rows.append(rf"&\text{{engine vs closed form: relative error }} {self.relative_error:.1e}")
        return "\\begin{aligned}\n" + "\n".join(rows) + "\n\\end{aligned}"

    def _repr_latex_(self) -> str:
        return f"$$\n{self.latex()}\n$$"


def _label(nodes: list[str]) -> str:
    if "Z3" in nodes:
        return "reconstruction"
    if "1 - rho_hat" in nodes:
        return "sparsity, through log((1-rho)/(1-rho_hat))"
    return "sparsity, through log(rho/rho_hat)"


def sparsity_derivation(m: int = 5, n: int = 4, k: int = 3, seed: int = 0,
                        objective: Objective = DEFAULT_OBJECTIVE) -> SparsityDerivation:
    """Explain ``dJ/dZ2`` on a random problem (``X (m, n)`` uniform in [0, 1], UFLDL's weights,
    small random biases) and compare it with docs/design.md's ``D2``. ``objective`` must use the KL
    penalty (which needs sigmoid hidden units)."""
    for name, value in (("m", m), ("n", n), ("k", k)):
        check_int(name, value)
    if not isinstance(objective, Objective) or objective.penalty != "kl":
        raise ValueError(f"sparsity_derivation needs an Objective with penalty='kl', got {objective!r}")
    rng = np.random.default_rng(seed)
    start = init_params(n, k, seed=rng)
    params = Params(W1=start.W1, b1=rng.normal(0, 0.5, k), W2=start.W2, b2=rng.normal(0, 0.5, n))
    X = rng.uniform(0.0, 1.0, size=(m, n))

    nodes = autograd_backend.build_graph(params, X, objective)
    derivation = explain(nodes["J"], nodes["Z2"])
    for path in derivation.paths:
        path.label = _label(path.nodes)
    nodes["J"].backward()
    at_H = next(meeting for meeting in derivation.meetings if meeting.node == "H")
    shares = {step.child: step.grad for step in at_H.branches}

    fwd = numpy_ref.forward(params, X, objective)
    D3 = (fwd.Xhat - X) * activation(objective.output).derivative(fwd.Z3, fwd.Xhat) / m
    s = -objective.rho / fwd.rho_hat + (1 - objective.rho) / (1 - fwd.rho_hat)
    D2 = (D3 @ params.W2 + numpy_ref.sparsity_grad_H(fwd, objective, m)) * activation(
        objective.activation).derivative(fwd.Z2, fwd.H)
    return SparsityDerivation(derivation, objective, m, n, k, seed, params.W2, D3, s, D2,
                              shares["H @ W2.T"], shares["rho_hat"], nodes["Z2"].grad)
