r"""The variational autoencoder (Kingma & Welling 2014), on the model layer.

A Gaussian encoder :math:`q(z\mid x) = \mathcal N(\mu(x), \operatorname{diag} e^{\mathrm{logvar}(x)})`,
a prior :math:`p(z) = \mathcal N(0, I)` and a decoder :math:`p(x\mid z)`: Bernoulli (one
probability per feature, for data in [0, 1]) or Gaussian (a mean per feature and a learned
log-variance per feature). ``hidden = (h_1, ..., h_K)`` are the widths of the encoder's layers
(the decoder mirrors them), ``d`` is ``n_latent``, and the layers are numbered as
:class:`~tinysae.models.DeepSAE` numbers the stack ``(n, h_1, ..., h_K, d)`` (``L = K + 1``
layers each way), with the code layer ``L`` replaced by the two Gaussian heads::

    Z_{l+1} = H_l W_l^T + b_l,  H_{l+1} = f(Z_{l+1})      l = 1, ..., K;  H_1 = X
    mu      = H_L W_mu^T + b_mu                           (m, d)
    logvar  = H_L W_logvar^T + b_logvar                   (m, d)
    eps ~ N(0, I)                                         (m, d), from the batch's seed
    sigma   = exp(logvar / 2),  z = mu + sigma * eps      (m, d)  z stands where the code H_{L+1} stands
    Z_{l+1} = H_l W_l^T + b_l,  H_{l+1} = f(Z_{l+1})      l = L+1, ..., 2L-1;  H_{L+1} = z
    Z_{2L+1} = H_{2L} W_{2L}^T + b_{2L}                   (m, n): the Bernoulli decoder's logits,
    Xhat = sigmoid(Z_{2L+1}), its means;  the Gaussian decoder's means are Xhat = Z_{2L+1} itself

For ``hidden=(128,)``: ``W1 (128, n)``, the heads ``W_mu, W_logvar (d, 128)``, ``W3 (128, d)``,
``W4 (n, 128)``; nodes ``Z2, H2, mu, logvar, eps, sigma, z, Z4, H4, Z5, Xhat`` (the Gaussian
decoder has no ``Z5``: its last layer is linear and gives ``Xhat``). The Gaussian decoder adds
the parameter ``logvar_x (n,)``, the log-variance of each feature.

The objective is minus the evidence lower bound (ELBO), per sample
:math:`\mathrm{ELBO}_i = \mathbb E_{q(z\mid x_i)}\log p(x_i\mid z) - \mathrm{KL}(q(z\mid x_i)\Vert p(z))
\le \log p(x_i)`, averaged over the batch, as two terms:

* ``reconstruction``: :math:`-\frac1m\sum_i \log p(x_i\mid z_i)` at one draw :math:`z_i` each
  (:class:`~tinysae.terms.BernoulliNLL` from the logits, or :class:`~tinysae.terms.GaussianNLL`),
  an unbiased estimate of minus the expectation;
* ``kl``: :math:`\frac1m\sum_i \mathrm{KL}(q(z\mid x_i)\Vert\mathcal N(0, I))`, exact
  (:class:`~tinysae.terms.GaussianKL`, the closed form in its docstring).

So ``J = reconstruction + kl`` is minus the ELBO estimate, in nats per sample. ``eps`` is a data
leaf drawn from ``batch.rng()``: ``J`` is a deterministic function of (params, batch), which is
what gradient checks need, and Adam's steps each draw afresh (their own seeds). The
reparameterisation makes ``z`` a differentiable function of ``mu`` and ``logvar``, so the
gradient reaches them twice: through ``z`` (the reconstruction) and through the KL term;
:func:`tinysae.explain` on ``J`` and ``mu`` shows both paths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from tinysae.autograd import Tensor
from tinysae.models.base import Batch, Model
from tinysae.params import ParamSpec, uniform, zeros
from tinysae.terms import BernoulliNLL, GaussianKL, GaussianNLL, SampleMean
from tinysae.validation import check_int

DECODERS = ("bernoulli", "gaussian")

#: The hidden layers' nonlinearities, each an engine op.
ACTIVATIONS = {"relu": Tensor.relu, "tanh": Tensor.tanh, "sigmoid": Tensor.sigmoid}


def check_widths(hidden: object) -> tuple[int, ...]:
    """``hidden`` as a non-empty tuple of positive ints, or a ValueError / TypeError saying why."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or len(hidden) == 0:
        raise ValueError(f"hidden must be a non-empty sequence of layer widths, e.g. (128,); got {hidden!r}")
    return tuple(check_int(f"hidden[{i}]", width) for i, width in enumerate(hidden))


class VAE(Model):
    """A variational autoencoder ``n -> hidden -> (mu, logvar) (d) -> z -> reversed(hidden) -> n``."""

    def __init__(self, n_features: int, n_latent: int, hidden: Sequence[int] = (128,), *,
                 decoder: str = "bernoulli", activation: str = "relu") -> None:
        self.n_features = check_int("n_features", n_features)
        self.n_latent = check_int("n_latent", n_latent)
        self.hidden = check_widths(hidden)
        if decoder not in DECODERS:
            raise ValueError(f"decoder={decoder!r} is not one of {', '.join(map(repr, DECODERS))}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not one of {', '.join(map(repr, ACTIVATIONS))}")
        self.decoder, self.activation = decoder, activation

    def __repr__(self) -> str:
        return (f"VAE(n_features={self.n_features}, n_latent={self.n_latent}, hidden={self.hidden}, "
                f"decoder={self.decoder!r}, activation={self.activation!r})")

    # ---- shapes -----------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """``L = K + 1``: the encoder's layers, the Gaussian heads included (as many in the decoder)."""
        return len(self.hidden) + 1

    @property
    def n_hidden(self) -> int:
        """The code's width: ``d``, what :meth:`encode` gives as ``mu`` (the estimators' name)."""
        return self.n_latent

    @property
    def logits(self) -> str:
        """The name of the Bernoulli decoder's logits, its last pre-activation ``Z_{2L+1} (m, n)``."""
        return f"Z{2 * self.n_layers + 1}"

    def param_specs(self) -> tuple[ParamSpec, ...]:
        L = self.n_layers
        widths = (self.n_features, *self.hidden, self.n_latent, *self.hidden[::-1], self.n_features)
        specs = []
        for layer in range(1, 2 * L + 1):
            n_in, n_out = widths[layer - 1], widths[layer]
            r = uniform(math.sqrt(6.0 / (n_in + n_out + 1)))
            names = ("_mu", "_logvar") if layer == L else (str(layer),)
            for name in names:
                specs += [ParamSpec(f"W{name}", (n_out, n_in), r), ParamSpec(f"b{name}", (n_out,), zeros)]
        if self.decoder == "gaussian":
            specs.append(ParamSpec("logvar_x", (self.n_features,), zeros))
        return tuple(specs)

    def terms(self) -> tuple[SampleMean, SampleMean]:
        """``(reconstruction, kl)``: minus the ELBO is their sum."""
        reconstruction = BernoulliNLL(self.logits) if self.decoder == "bernoulli" else GaussianNLL()
        return reconstruction, GaussianKL()

    def check_inputs(self, X: np.ndarray) -> None:
        if X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} columns but the model has n_features={self.n_features}")
        if self.decoder == "bernoulli":
            lo, hi = float(X.min()), float(X.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"decoder='bernoulli' models each feature as the probability of a 1, so the data "
                    f"must lie in [0, 1], but X spans [{lo:.4g}, {hi:.4g}]; rescale X (e.g. the digits' "
                    "X / 16) or use decoder='gaussian'"
                )

    # ---- the forward pass, written once -------------------------------------------------------------
    def _dense(self, inputs: Tensor, W: Tensor, b: Tensor, out: str) -> Tensor:
        """``inputs W^T + b``, named ``out``."""
        product = (inputs @ W.T.named(f"{W.name}.T")).named(f"{inputs.name} @ {W.name}.T")
        return (product + b).named(out)

    def encode(self, params: Mapping[str, Tensor], X: Tensor) -> dict[str, Tensor]:
        """Layers ``1..K`` (``Z_2, H_2, ..., Z_L, H_L``), then the heads ``mu`` and ``logvar`` ``(m, d)``."""
        nodes: dict[str, Tensor] = {}
        H = X
        for layer in range(1, self.n_layers):
            Z = self._dense(H, params[f"W{layer}"], params[f"b{layer}"], f"Z{layer + 1}")
            H = ACTIVATIONS[self.activation](Z).named(f"H{layer + 1}")
            nodes[Z.name], nodes[H.name] = Z, H
        nodes["mu"] = self._dense(H, params["W_mu"], params["b_mu"], "mu")
        nodes["logvar"] = self._dense(H, params["W_logvar"], params["b_logvar"], "logvar")
        return nodes

    def reparameterise(self, mu: Tensor, logvar: Tensor, eps: Tensor) -> dict[str, Tensor]:
        """``sigma = exp(logvar / 2)`` and ``z = mu + sigma * eps``, ``(m, d)``: a draw from
        ``q(z|x)`` that is a differentiable function of ``mu`` and ``logvar``."""
        sigma = (0.5 * logvar).named("logvar / 2").exp().named("sigma")
        z = (mu + (sigma * eps).named("sigma * eps")).named("z")
        return {"sigma": sigma, "z": z}

    def decode(self, params: Mapping[str, Tensor], Z: Tensor) -> dict[str, Tensor]:
        """Layers ``L+1..2L`` from codes ``Z (m, d)``: ``Z_{L+2}, H_{L+2}, ..., H_{2L}`` and
        ``Xhat (m, n)``, the decoder's mean: the Bernoulli probabilities ``sigmoid(Z_{2L+1})``
        (with the logits ``Z_{2L+1}``), or the Gaussian means (the last layer is linear)."""
        nodes: dict[str, Tensor] = {}
        H = Z
        last = 2 * self.n_layers
        for layer in range(self.n_layers + 1, last):
            Z_next = self._dense(H, params[f"W{layer}"], params[f"b{layer}"], f"Z{layer + 1}")
            H = ACTIVATIONS[self.activation](Z_next).named(f"H{layer + 1}")
            nodes[Z_next.name], nodes[H.name] = Z_next, H
        W, b = params[f"W{last}"], params[f"b{last}"]
        if self.decoder == "gaussian":  # the last layer is linear: its outputs are the means
            nodes["Xhat"] = self._dense(H, W, b, "Xhat")
        else:
            logits = nodes[self.logits] = self._dense(H, W, b, self.logits)
            nodes["Xhat"] = logits.sigmoid().named("Xhat")
        return nodes

    def forward(self, params: Mapping[str, Tensor], X: Tensor, batch: Batch) -> dict[str, Tensor]:
        nodes = self.encode(params, X)
        mu = nodes["mu"]
        eps = Tensor(batch.rng().standard_normal(mu.shape).astype(mu.dtype, copy=False), name="eps")
        nodes["eps"] = eps
        nodes.update(self.reparameterise(mu, nodes["logvar"], eps))
        nodes.update(self.decode(params, nodes["z"]))
        return nodes

    def elbo(self, params: Mapping[str, Tensor], X: Tensor, eps: Sequence[np.ndarray]) -> np.ndarray:
        r"""Each sample's ELBO estimate, shape ``(m,)``, in nats: :math:`-\mathrm{KL}_i -
        \frac1S\sum_s \mathrm{reconstruction}_i(\varepsilon_s)` over the draws ``eps[s] (m, d)``.

        The KL is exact (closed form), so only the reconstruction is estimated; with one draw,
        the batch's ``eps``, the mean over the samples is ``-J``."""
        if len(eps) == 0:
            raise ValueError("elbo needs at least one draw of eps")
        reconstruction, kl = self.terms()
        nodes = {**params, "X": X, "T": X, **self.encode(params, X)}
        draws = []
        for draw in eps:
            drawn = {**nodes, **self.reparameterise(nodes["mu"], nodes["logvar"], Tensor(draw, name="eps"))}
            drawn.update(self.decode(params, drawn["z"]))
            draws.append(reconstruction.per_sample(drawn).data)
        return -(kl.per_sample(nodes).data + np.mean(draws, axis=0))
