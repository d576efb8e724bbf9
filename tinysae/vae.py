r"""The variational autoencoder as an estimator: ``VariationalAutoencoder``.

:class:`VariationalAutoencoder` trains :class:`tinysae.models.VAE` (its docstring has the
network, the names and the objective) by minibatch Adam on minus the ELBO, and is a
scikit-learn transformer like the other estimators:

* :meth:`~VariationalAutoencoder.encode`: ``(mu, logvar)``, each ``(m, n_latent)``, the
  parameters of :math:`q(z\mid x) = \mathcal N(\mu, \operatorname{diag} e^{\mathrm{logvar}})`;
  :meth:`~VariationalAutoencoder.transform` is ``mu``;
* :meth:`~VariationalAutoencoder.decode` (= ``inverse_transform``): the decoder's mean
  :math:`\mathbb E[x\mid z]` for codes ``Z (m, n_latent)``: Bernoulli probabilities, or
  Gaussian means;
* :meth:`~VariationalAutoencoder.sample`: ``z ~ N(0, I)`` decoded (the means, not binary draws);
* :meth:`~VariationalAutoencoder.score_samples`: each sample's ELBO in nats, a lower bound on
  :math:`\log p(x_i)`; :meth:`~VariationalAutoencoder.score` its mean.
"""

from __future__ import annotations

import hashlib

import numpy as np

from tinysae.autograd import Tensor
from tinysae.estimator import AutoencoderEstimator, _as_matrix
from tinysae.models import VAE
from tinysae.models.vae import check_widths
from tinysae.threads import fit_threads
from tinysae.validation import check_int, check_seed

#: The seed that, with each row's values, draws the ``eps`` of :meth:`VariationalAutoencoder.score_samples`.
SCORE_SEED = 20140101


def score_noise(X: np.ndarray, n_samples: int, n_latent: int) -> list[np.ndarray]:
    """``n_samples`` draws of ``eps (m, n_latent)`` for the rows of ``X (m, n)``: row ``i``'s draws
    come from a generator seeded by :data:`SCORE_SEED` and a hash (BLAKE2b) of that row's float64
    values, so a row scores the same in any batch, in any order and on every call (scikit-learn
    checks that ``score_samples`` is invariant to subsets and to the order of the rows)."""
    eps = np.empty((n_samples, X.shape[0], n_latent))
    for i, row in enumerate(np.ascontiguousarray(X, dtype=np.float64)):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
        rng = np.random.default_rng([SCORE_SEED, int.from_bytes(digest, "little")])
        eps[:, i, :] = rng.standard_normal((n_samples, n_latent))
    return list(eps.astype(X.dtype, copy=False))


class VariationalAutoencoder(AutoencoderEstimator):
    """A variational autoencoder (Kingma & Welling 2014) on ``X (m, n)``: a Gaussian encoder,
    ``n_latent`` latent dimensions with the prior ``N(0, I)``, and a Bernoulli decoder (data in
    [0, 1]) or a Gaussian one, trained on minus the ELBO.

    Parameters
    ----------
    n_latent:
        ``d``, the dimension of ``z`` (2 to draw the latent space).
    hidden:
        The widths of the encoder's hidden layers, bottom to top; the decoder mirrors them.
    decoder:
        ``"bernoulli"`` (each feature the probability of a 1; ``X`` must lie in [0, 1]; the
        reconstruction term is the binary cross-entropy from the logits) or ``"gaussian"``
        (any real data; a mean per feature and a learned log-variance per feature).
    activation:
        The hidden layers' nonlinearity: ``"relu"``, ``"tanh"`` or ``"sigmoid"``.
    solver, max_iter, batch_size, learning_rate:
        Adam (``"adam"``) for ``max_iter`` epochs of minibatches of ``batch_size``, each step
        with its own draw of ``eps``; ``"lbfgs"`` minimises one fixed draw of ``eps`` per sample
        (the objective must be deterministic), for ``max_iter`` iterations. The defaults
        (150 epochs of 128 at ``3e-3``) were chosen on the digits (``benchmarks/vae_digits.py``,
        two runs on a shared 2-core machine): they fit the 1257 training digits in 12 to 19 s
        and give the 540 held-out ones a mean ELBO of -24.68 nats at ``n_latent=2`` and -24.26
        at ``n_latent=8``, where a PyTorch VAE of the same shape, trained the same way, gives
        -24.60 and -24.16, and independent Bernoulli pixels -27.18.
    n_elbo_samples:
        How many draws of ``eps`` per sample :meth:`score_samples` averages its reconstruction
        term over (the KL is exact). With 100, the mean ELBO of the 540 held-out digits moves by
        about 0.004 nats from one set of draws to another (standard deviation over 5 other
        seeds: 0.0038 at ``n_latent=2``, 0.0036 at 8); the estimate is unbiased for any number.
    backend:
        ``"auto"`` or ``"autograd"``: only the engine implements the model.
    random_state, verbose:
        As for :class:`tinysae.SparseAutoencoder`: the initial weights, the order of the
        minibatches and the draws of ``eps`` during training.

    Attributes
    ----------
    params_, model_, history_, n_iter_, stop_reason_, n_features_in_, seed_:
        As for the other estimators: the fitted :class:`tinysae.Params` (``W1, b1, W_mu, b_mu,
        W_logvar, b_logvar, W3, b3, W4, b4`` for ``hidden=(128,)``; ``logvar_x`` too for the
        Gaussian decoder), the :class:`tinysae.models.VAE`, and the run's history, whose terms
        are ``reconstruction`` and ``kl`` (their sum is minus the ELBO per sample).
    """

    def __init__(
        self,
        n_latent: int = 2,
        hidden: tuple[int, ...] = (128,),
        decoder: str = "bernoulli",
        activation: str = "relu",
        solver: str = "adam",
        max_iter: int = 150,
        batch_size: int = 128,
        learning_rate: float = 3e-3,
        n_elbo_samples: int = 100,
        backend: str = "auto",
        random_state: int | np.random.Generator | None = 0,
        verbose: bool = False,
    ) -> None:
        self.n_latent = n_latent
        self.hidden = hidden
        self.decoder = decoder
        self.activation = activation
        self.solver = solver
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_elbo_samples = n_elbo_samples
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def _check_training_settings(self) -> None:
        super()._check_training_settings()
        check_widths(self.hidden)
        check_int("n_latent", self.n_latent)
        check_int("n_elbo_samples", self.n_elbo_samples)

    def _build_model(self, n_features: int) -> VAE:
        return VAE(n_features, check_int("n_latent", self.n_latent), check_widths(self.hidden),
                   decoder=self.decoder, activation=self.activation)

    # ---- the encoder and the decoder ----------------------------------------------------------------
    def _encode(self, X: np.ndarray) -> np.ndarray:
        return self.model_.encode(self._leaves(), Tensor(X, name="X"))["mu"].data

    def _decode(self, Z: np.ndarray) -> np.ndarray:
        return self.model_.decode(self._leaves(), Tensor(Z, name="z"))["Xhat"].data

    def encode(self, X: object) -> tuple[np.ndarray, np.ndarray]:
        """``(mu, logvar)``, each ``(m, n_latent)``: the encoder's Gaussian
        :math:`q(z\\mid x_i) = \\mathcal N(\\mu_i, \\operatorname{diag} e^{\\mathrm{logvar}_i})`."""
        X = self._check_input(X)
        nodes = self.model_.encode(self._leaves(), Tensor(X, name="X"))
        return nodes["mu"].data, nodes["logvar"].data

    def transform(self, X: object) -> np.ndarray:
        """``mu (m, n_latent)``, the mean of each sample's code :math:`q(z\\mid x)`."""
        return super().transform(X)

    def inverse_transform(self, Z: object) -> np.ndarray:
        """The decoder's mean ``E[x | z] (m, n)`` for codes ``Z (m, n_latent)``: the Bernoulli
        probabilities :math:`\\sigma(\\text{logits})`, or the Gaussian means."""
        self._check_fitted()
        Z = _as_matrix(Z, "Z")
        if Z.shape[1] != self.model_.n_latent:
            raise ValueError(f"Z has {Z.shape[1]} columns, but {type(self).__name__}'s codes have "
                             f"n_latent={self.model_.n_latent} columns")
        return self._decode(Z)

    def decode(self, Z: object) -> np.ndarray:
        """:meth:`inverse_transform`: the decoder's mean for codes ``Z (m, n_latent)``."""
        return self.inverse_transform(Z)

    def sample(self, n: int = 1, seed: int | np.random.Generator | None = 0) -> np.ndarray:
        """``n`` samples from the model, ``(n, n_features_in_)``: ``z ~ N(0, I)`` drawn from
        ``seed`` (same seed, same samples) and decoded. Returns the decoder's *means* (Bernoulli
        probabilities, Gaussian means), not draws from ``p(x|z)``, as pictures of a VAE show."""
        self._check_fitted()
        Z = check_seed(seed).standard_normal((check_int("n", n), self.model_.n_latent))
        return self._decode(Z.astype(self.params_.dtype, copy=False))

    # ---- the ELBO -----------------------------------------------------------------------------------
    def score_samples(self, X: object) -> np.ndarray:
        r"""Each sample's ELBO, shape ``(m,)``, in nats (higher is better):

        .. math:: \mathrm{ELBO}_i = \frac1S\sum_{s=1}^{S} \log p(x_i\mid z_{is})
                  - \mathrm{KL}\big(q(z\mid x_i)\,\Vert\,\mathcal N(0, I)\big),
                  \qquad z_{is} = \mu_i + e^{\mathrm{logvar}_i / 2}\,\varepsilon_{is},

        a lower bound on :math:`\log p(x_i)`. The KL is exact (closed form); only the
        reconstruction is estimated, from :math:`S` = ``n_elbo_samples`` draws of
        :math:`\varepsilon_{is}` made from a fixed seed and row ``i``'s values
        (:func:`score_noise`): the same ``X`` gives the same numbers, and a row the same number
        in any batch.
        """
        X = self._check_input(X)
        eps = score_noise(X, check_int("n_elbo_samples", self.n_elbo_samples), self.model_.n_latent)
        with fit_threads():  # S passes of small products, like a fit's (tinysae.threads)
            return self.model_.elbo(self._leaves(), Tensor(X, name="X"), eps)

    def score(self, X: object, y: object = None) -> float:
        """The mean ELBO per sample in nats, :meth:`score_samples` averaged (``y`` is ignored)."""
        return float(np.mean(self.score_samples(X)))

