r"""The terms of an objective, each written once on the engine, its formula in its docstring.

A model's objective is a sum of named terms, :math:`J = \sum_t \mathrm{term}_t`. A
:class:`Term` is called with the graph's named nodes (the parameters, the inputs ``X``, the
targets ``T`` and whatever the model's forward pass named: ``Z2, H, Z3, Xhat`` for the classic)
and returns a scalar engine tensor. That one definition is what the engine differentiates, what
:func:`tinysae.explain` walks and what a training history records, term by term.

A sparsity *penalty* is a function of the hidden code ``H (m, k)`` alone; the
:class:`Sparsity` term weighs it by :math:`\beta`. To add a penalty, subclass :class:`Penalty`
(outside the package is fine)::

    class LogPenalty(tinysae.Penalty):
        '''(1/m) sum_ij log(1 + H_ij^2)'''
        def __call__(self, H):
            return (1 + H.square()).log().sum() / H.shape[0]

    tinysae.SparseAutoencoder(penalty=LogPenalty(), backend="autograd").fit(X)

The engine computes any penalty; the hand-written backends implement :class:`KL` and
:class:`L1` and refuse the others by name (:func:`tinysae.backends.supporting`).

The variational autoencoder's objective is minus the ELBO, two :class:`SampleMean` terms (each
the mean over the samples of a per-sample value, which the ELBO per sample reports): the
reconstruction, :class:`BernoulliNLL` (from the decoder's logits) or :class:`GaussianNLL`, and
:class:`GaussianKL`, :math:`\mathrm{KL}(q(z\mid x)\Vert\mathcal N(0, I))` in closed form.

The dictionary SAEs of the superposition setting (:mod:`tinysae.models.dictionary`) add
:class:`DecoderNormL1` (a ReLU SAE's L1, weighted by the decoder's column norms), :class:`AuxK`
(a TopK SAE's dead latents reconstructing the residual) and :class:`L0` (a JumpReLU SAE's count
of firing latents, trained through a pseudo-derivative).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from tinysae.autograd import Tensor, step
from tinysae.validation import check_real

Nodes = Mapping[str, Tensor]


class Term:
    """One named part of an objective: ``term(nodes) -> scalar Tensor``.

    Subclasses set :attr:`name` (the key under which the value is recorded) and define
    ``__call__``. A term that draws random numbers takes them from ``nodes``' batch seed, so
    the loss stays a deterministic function of (params, batch).
    """

    name: str = "term"

    def __call__(self, nodes: Nodes) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(nodes) -> Tensor")


@dataclass(frozen=True)
class SquaredError(Term):
    r"""The reconstruction error :math:`\frac{1}{2m}\sum_i \lVert \hat x_i - t_i \rVert^2`.

    ``Xhat (m, n)`` against the targets ``T (m, n)``, which are the inputs ``X`` unless the
    batch says otherwise (a denoising model's clean data).
    """

    name = "reconstruction"

    def __call__(self, nodes: Nodes) -> Tensor:
        Xhat, T = nodes["Xhat"], nodes["T"]
        error = (Xhat - T).named(f"Xhat - {T.name}")
        return error.square().sum() / (2 * Xhat.shape[0])


@dataclass(frozen=True)
class WeightDecay(Term):
    r"""Weight decay :math:`\frac{\lambda}{2}\sum_W \lVert W\rVert^2` over the weight matrices
    ``weights`` (the classic's ``W1`` and ``W2``; biases are not decayed)."""

    weight_decay: float
    weights: tuple[str, ...] = ("W1", "W2")
    name = "weight_decay"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight_decay", check_real("weight_decay", self.weight_decay, minimum=0))

    def __call__(self, nodes: Nodes) -> Tensor:
        total = nodes[self.weights[0]].square().sum()
        for name in self.weights[1:]:
            total = total + nodes[name].square().sum()
        return self.weight_decay / 2 * total


class Penalty:
    """A sparsity penalty: ``penalty(H) -> scalar Tensor`` for hidden activations ``H (m, k)``,
    before the weight :math:`\\beta` (which :class:`Sparsity` applies)."""

    def __call__(self, H: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(H) -> Tensor")

    def check_activation(self, activation: str) -> None:
        """Raise ValueError when the penalty cannot work with this hidden ``activation``."""


@dataclass(frozen=True)
class KL(Penalty):
    r"""The seed's penalty :math:`\sum_j \mathrm{KL}(\rho \Vert \hat\rho_j)`,
    :math:`\hat\rho = \frac1m\sum_i H_{i,:}`, with

    .. math:: \mathrm{KL}(\rho\Vert\hat\rho) = \rho\log\frac{\rho}{\hat\rho}
              + (1-\rho)\log\frac{1-\rho}{1-\hat\rho}

    composed from the engine's primitives (mean, div, log, mul, sub, add), so
    :func:`~tinysae.explain` shows its two paths, one per logarithm. ``rho_hat`` is not clipped
    here: a unit saturated on every sample makes the KL infinite, and the backward pass says
    so (:class:`~tinysae.autograd.NonFiniteGradientError`).
    """

    rho: float = 0.01

    def __post_init__(self) -> None:
        rho = check_real("rho", self.rho)
        if not 0.0 < rho < 1.0:
            raise ValueError(f"rho must lie in (0, 1) for the KL penalty, got {rho}")
        object.__setattr__(self, "rho", rho)

    def check_activation(self, activation: str) -> None:
        if activation != "sigmoid":
            raise ValueError(
                f"penalty='kl' needs activation='sigmoid' (rho_hat must stay in (0, 1)), "
                f"got activation={activation!r}; use penalty='l1' with relu"
            )

    def __call__(self, H: Tensor) -> Tensor:
        rho = self.rho
        rho_hat = H.mean(axis=0).named("rho_hat")
        first = (rho / rho_hat).named("rho/rho_hat")
        second = ((1.0 - rho) / (1.0 - rho_hat).named("1 - rho_hat")).named("(1-rho)/(1-rho_hat)")
        return (rho * first.log() + (1.0 - rho) * second.log()).named("KL").sum()


@dataclass(frozen=True)
class L1(Penalty):
    r"""The L1 penalty :math:`\frac1m\sum_{i,j} |H_{ij}|`."""

    def __call__(self, H: Tensor) -> Tensor:
        return H.abs().sum() / H.shape[0]


#: The penalties named by strings (``penalty="kl"``); ``"none"`` means no sparsity term.
PENALTIES = ("kl", "l1", "none")


@dataclass(frozen=True)
class Sparsity(Term):
    r"""The sparsity term :math:`\beta \cdot \mathrm{penalty}(H)` (e.g.
    :math:`\beta\sum_j\mathrm{KL}(\rho\Vert\hat\rho_j)`)."""

    penalty: Penalty
    beta: float
    name = "sparsity"

    def __post_init__(self) -> None:
        if not isinstance(self.penalty, Penalty):
            raise TypeError(f"penalty must be a tinysae.Penalty, got {type(self.penalty).__name__}")
        object.__setattr__(self, "beta", check_real("beta", self.beta, minimum=0))

    def __call__(self, nodes: Nodes) -> Tensor:
        return self.beta * self.penalty(nodes["H"])


@dataclass(frozen=True)
class Contraction(Term):
    r"""The contractive penalty of Rifai et al. (2011), :math:`\frac{\lambda_c}{m}\sum_i
    \lVert J_f(x_i)\rVert_F^2`, the mean squared Frobenius norm of the encoder's Jacobian
    :math:`J_f(x) = \partial H / \partial x`.

    For a sigmoid encoder :math:`H = \sigma(X W_1^\top + b_1)`, row :math:`j` of the Jacobian is
    :math:`H_j (1 - H_j) W_1[j, :]`, so

    .. math:: \lVert J_f(x_i)\rVert_F^2 = \sum_j \big(H_{ij}(1 - H_{ij})\big)^2 \sum_l W_1[j, l]^2 .

    Written on the engine from ``H (m, k)`` and ``W1 (k, n)``: :func:`~tinysae.explain` shows
    the gradient reaching ``W1`` twice, through ``H`` (and ``Z2``) and directly through the row
    norms ``||W1_j||^2``. The closed form holds for the sigmoid only (the model checks it).
    """

    weight: float
    name = "contraction"

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", check_real("contraction", self.weight, minimum=0))

    def __call__(self, nodes: Nodes) -> Tensor:
        H, W1 = nodes["H"], nodes["W1"]
        slope = (H * (1.0 - H).named("1 - H")).named("H(1-H)")  # dH/dZ2 of the sigmoid, (m, k)
        row_norms = W1.square().named("W1^2").sum(axis=1).named("||W1_j||^2")  # (k,)
        # (m, k): entry (i, j) is the squared norm of row j of the Jacobian at sample i
        jacobian_rows = (slope.square().named("H(1-H)^2") * row_norms).named("||J_f rows||^2")
        total = jacobian_rows.sum().named("sum ||J_f||^2")
        return (self.weight * total).named("lambda_c * sum ||J_f||^2") / H.shape[0]


@dataclass(frozen=True)
class CrossEntropy(Term):
    r"""The softmax classifier's loss :math:`-\frac1m\sum_i \log P_{i, y_i}
    = -\frac1m\sum_{i,c} T_{ic}\,\log P_{ic}`.

    ``log_P (m, C)`` is the model's ``log_softmax`` of its class scores; the targets ``T (m, C)``
    hold the labels one-hot (row ``i`` is 1 at column ``y_i``).
    """

    name = "cross_entropy"

    def __call__(self, nodes: Nodes) -> Tensor:
        log_P, T = nodes["log_P"], nodes["T"]
        return -(T * log_P).named("T * log_P").sum() / log_P.shape[0]


# ---- the variational autoencoder's terms: minus the ELBO, per sample, averaged ----------------------
#: :math:`\log 2\pi`, the Gaussian density's constant.
LOG_2PI = math.log(2.0 * math.pi)


class SampleMean(Term):
    r"""A term that is a mean over the samples, :math:`\frac1m\sum_i \ell_i`.

    :meth:`per_sample` gives ``ell (m,)``, one value per sample (what a model's per-sample score
    reports, e.g. the ELBO of each sample); calling the term gives its mean. Subclasses define
    :meth:`per_sample` only.
    """

    def per_sample(self, nodes: Nodes) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define per_sample(nodes) -> Tensor (m,)")

    def __call__(self, nodes: Nodes) -> Tensor:
        return self.per_sample(nodes).mean()


@dataclass(frozen=True)
class BernoulliNLL(SampleMean):
    r"""Minus the Bernoulli log-likelihood of the targets, in nats:
    :math:`\frac1m\sum_{ij}\big[\operatorname{softplus}(L_{ij}) - T_{ij} L_{ij}\big]`.

    A Bernoulli decoder with logits ``L (m, n)`` (the node named ``logits``: ``Z3``, the classic's
    output pre-activation, by default) gives feature ``j`` of sample ``i`` the probability
    :math:`p = \sigma(L_{ij})` of being 1, and targets ``T (m, n)`` in [0, 1] the log-likelihood

    .. math:: T\log\sigma(L) + (1 - T)\log(1 - \sigma(L)) = T L - \log(1 + e^{L}),

    because :math:`\log\sigma(L) = L - \log(1 + e^{L})` and :math:`\log(1 - \sigma(L)) = -\log(1 +
    e^{L})`. Written from the logits with the engine's ``softplus`` (:math:`\log(1 + e^{L})`, computed
    stably), it never takes the log of a probability rounded to 0 or 1; its gradient at the
    logits is :math:`(\sigma(L) - T)/m`. :meth:`per_sample` is the sum over the features,
    :math:`-\log p(t_i \mid \text{logits}_i)`.
    """

    logits: str = "Z3"
    name = "reconstruction"

    def per_sample(self, nodes: Nodes) -> Tensor:
        L, T = nodes[self.logits], nodes["T"]
        log_normaliser = L.softplus().named(f"softplus({L.name})")
        nll = (log_normaliser - (T * L).named(f"{T.name} * {L.name}")).named(
            f"softplus({L.name}) - {T.name} * {L.name}")
        return nll.sum(axis=1).named("reconstruction_i")


@dataclass(frozen=True)
class GaussianNLL(SampleMean):
    r"""Minus the Gaussian log-likelihood of the targets, in nats:

    .. math:: \frac1m\sum_{ij}\Big[\tfrac12\log 2\pi + \tfrac12 v_j
              + \tfrac12 (T_{ij} - \hat X_{ij})^2 e^{-v_j}\Big],

    the density of :math:`\mathcal N(\hat X_{ij}, e^{v_j})` at ``T``: the decoder's mean ``Xhat
    (m, n)`` (the node named ``mean``) and a learned log-variance ``v (n,)`` per feature (the
    parameter named ``log_variance``). With the constant :math:`\frac12\log 2\pi` it is a true
    negative log-likelihood (a density: it can be negative when the variance is small).
    :meth:`per_sample` is the sum over the features.
    """

    mean: str = "Xhat"
    log_variance: str = "logvar_x"
    name = "reconstruction"

    def per_sample(self, nodes: Nodes) -> Tensor:
        mean, T, v = nodes[self.mean], nodes["T"], nodes[self.log_variance]
        error = (mean - T).named(f"{mean.name} - {T.name}")
        precision = (-v).exp().named(f"exp(-{v.name})")
        scaled = (error.square() * precision).named(f"({mean.name} - {T.name})^2 * exp(-{v.name})")
        nll = (0.5 * ((LOG_2PI + v) + scaled)).named("gaussian_nll")
        return nll.sum(axis=1).named("reconstruction_i")


@dataclass(frozen=True)
class GaussianKL(SampleMean):
    r"""The KL divergence of the encoder's Gaussian from the prior, averaged over the samples:
    :math:`\frac1m\sum_i \mathrm{KL}\big(q(z\mid x_i)\,\Vert\,\mathcal N(0, I)\big)` with
    :math:`q(z\mid x_i) = \mathcal N(\mu_i, \operatorname{diag} e^{\mathrm{logvar}_i})`, from the
    nodes ``mu (m, d)`` and ``logvar (m, d)``, in closed form:

    .. math:: \frac1m\sum_i \tfrac12\sum_j \big(\mu_{ij}^2 + e^{\mathrm{logvar}_{ij}} - 1
              - \mathrm{logvar}_{ij}\big).

    Derivation: both Gaussians factorise over the ``d`` coordinates, so the KL is a sum over
    ``j``. For one coordinate, with :math:`q = \mathcal N(\mu, \sigma^2)` and :math:`p = \mathcal
    N(0, 1)`,

    .. math:: \mathrm{KL}(q\Vert p) = \mathbb E_q[\log q(z) - \log p(z)]
              = \mathbb E_q\Big[-\tfrac12\log\sigma^2 - \frac{(z-\mu)^2}{2\sigma^2} + \frac{z^2}{2}\Big]
              = -\tfrac12\log\sigma^2 - \tfrac12 + \tfrac12(\mu^2 + \sigma^2),

    using :math:`\mathbb E_q(z-\mu)^2 = \sigma^2` and :math:`\mathbb E_q z^2 = \mu^2 + \sigma^2`
    (the :math:`\log 2\pi` constants cancel); :math:`\sigma^2 = e^{\mathrm{logvar}}`. Exact, so no
    sampling: its gradients are :math:`\mu_{ij}/m` and :math:`\frac12(e^{\mathrm{logvar}_{ij}} -
    1)/m`. :meth:`per_sample` is ``KL_i``, shape ``(m,)``.
    """

    name = "kl"

    def per_sample(self, nodes: Nodes) -> Tensor:
        mu, logvar = nodes["mu"], nodes["logvar"]
        growing = (mu.square().named("mu^2") + logvar.exp().named("exp(logvar)")).named("mu^2 + exp(logvar)")
        inside = (growing - (1.0 + logvar).named("1 + logvar")).named("mu^2 + exp(logvar) - 1 - logvar")
        return (0.5 * inside).named("kl_ij").sum(axis=1).named("kl_i")


# ---- the terms of the dictionary SAEs (tinysae/models/dictionary.py) -------------------------------
@dataclass(frozen=True)
class DecoderNormL1(Term):
    r"""The L1 penalty of a ReLU SAE, each latent weighted by the norm of its decoder column
    (Anthropic's "Towards Monosemanticity" update, April 2024):

    .. math:: \frac{\lambda}{m}\sum_{i,j} H_{ij}\,\lVert W_2[:, j]\rVert_2

    with ``H (m, F) >= 0`` and the decoder ``W2 (n, F)``. The weighting makes the penalty blind
    to rescaling a latent (halving ``H[:, j]`` and doubling ``W2[:, j]``), which would otherwise
    shrink it for free; with unit-norm columns it is the plain L1 penalty.
    """

    coefficient: float
    name = "sparsity"

    def __post_init__(self) -> None:
        object.__setattr__(self, "coefficient", check_real("coefficient", self.coefficient, minimum=0))

    def __call__(self, nodes: Nodes) -> Tensor:
        H, W2 = nodes["H"], nodes["W2"]
        norms = (W2.square().sum(axis=0).named("||W2_j||^2") ** 0.5).named("||W2_j||")
        return self.coefficient / H.shape[0] * (H * norms).sum()


@dataclass(frozen=True)
class AuxK(Term):
    r"""The auxiliary loss of a TopK SAE (Gao et al. 2024, "Scaling and evaluating sparse
    autoencoders", section A.2): the dead latents' top ``aux_k`` reconstruct what the live ones
    missed,

    .. math:: \frac{\alpha}{2m}\sum_i \lVert E_i - \hat E_i \rVert^2, \qquad
              E = T - \hat X \ \text{(a constant)}, \qquad \hat E = H_{\mathrm{aux}} W_2^{\top},

    from the nodes ``E (m, n)`` (the residual, not differentiated) and ``Ehat (m, n)``, which
    :class:`~tinysae.models.dictionary.TopKModel` names. Its gradient reaches only the dead
    latents: their encoder rows and decoder columns, which the main loss never trains.
    """

    coefficient: float
    name = "auxk"

    def __post_init__(self) -> None:
        object.__setattr__(self, "coefficient", check_real("coefficient", self.coefficient, minimum=0))

    def __call__(self, nodes: Nodes) -> Tensor:
        E, Ehat = nodes["E"], nodes["Ehat"]
        error = (Ehat - E).named("Ehat - E")
        return self.coefficient / (2 * E.shape[0]) * error.square().sum()


@dataclass(frozen=True)
class L0(Term):
    r"""The L0 penalty of a JumpReLU SAE (Rajamanoharan et al. 2024, "Jumping ahead"): how many
    latents fire, per sample,

    .. math:: \frac{\lambda}{m}\sum_{i,j} \mathbb{1}[Z_2[i, j] > \theta_j],

    from the nodes ``Z2 (m, F)`` and ``theta (F,)``, by the engine's ``step`` op: its true
    derivative is 0 almost everywhere, and its VJP carries the pseudo-derivative in
    :math:`\theta` (:func:`tinysae.autograd.step`).
    """

    coefficient: float
    bandwidth: float
    name = "sparsity"

    def __post_init__(self) -> None:
        object.__setattr__(self, "coefficient", check_real("coefficient", self.coefficient, minimum=0))

    def __call__(self, nodes: Nodes) -> Tensor:
        Z2, theta = nodes["Z2"], nodes["theta"]
        fires = step(Z2, theta, self.bandwidth).named("[Z2 > theta]")
        return self.coefficient / Z2.shape[0] * fires.sum()
