r"""The contractive autoencoder (Rifai et al. 2011): the classic plus a penalty on the encoder's
Jacobian.

Rows are samples; the names are those of ``docs/design.md``::

    Z2 = X W1^T + b1,   H = sigmoid(Z2),   Z3 = H W2^T + b2,   Xhat = g(Z3)
    J  = 1/(2m) sum ||Xhat - X||^2  +  lambda/2 (||W1||^2 + ||W2||^2)  [+ beta * penalty(H)]
         + lambda_c / m * sum_i sum_j (H_ij (1 - H_ij))^2 * sum_l W1[j, l]^2

The last term (:class:`tinysae.terms.Contraction`) is :math:`\frac{\lambda_c}{m}\sum_i
\lVert \partial H_i / \partial x_i\rVert_F^2`: it makes the code insensitive to small moves of
the input, while the reconstruction keeps it sensitive along the data. Its hand-derived
gradient is in :mod:`tinysae.backends.numpy_ref` (``contraction_grads``), and the Numba backend
computes it with a kernel of its own.
"""

from __future__ import annotations

from tinysae.models.classic import ClassicSAE
from tinysae.objective import Objective
from tinysae.terms import Contraction, Term
from tinysae.validation import check_real


class ContractiveSAE(ClassicSAE):
    """The classic ``n -> k -> n`` autoencoder with the contractive penalty of weight ``contraction``
    (:math:`\\lambda_c`); its hidden layer must be a sigmoid (the closed form of the penalty)."""

    def __init__(self, n_visible: int, n_hidden: int, objective: Objective | None = None,
                 contraction: float = 0.1) -> None:
        super().__init__(n_visible, n_hidden, objective)
        if self.objective.activation != "sigmoid":
            raise ValueError(
                "the contractive penalty's closed form sum_j (H_j (1 - H_j))^2 ||W1_j||^2 needs "
                f"activation='sigmoid', got activation={self.objective.activation!r}"
            )
        self.contraction = check_real("contraction", contraction, minimum=0)

    def __repr__(self) -> str:
        return (f"ContractiveSAE(n_visible={self.n_visible}, n_hidden={self.n_hidden}, "
                f"objective={self.objective!r}, contraction={self.contraction!r})")

    def terms(self) -> tuple[Term, ...]:
        return (*self.objective.terms(), Contraction(self.contraction))
