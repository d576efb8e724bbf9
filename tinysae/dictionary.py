r"""The SAEs of the superposition setting as estimators: ReLUSAE, TopKSAE, JumpReLUSAE.

Each wraps one model of :mod:`tinysae.models.dictionary` (the math and the names are there) in
scikit-learn's conventions, like the other estimators (:class:`tinysae.AutoencoderEstimator`),
and trains it by :func:`tinysae.dictionary_train.train_dictionary`: Adam with learning-rate
warm-up, sparsity warm-up, a unit-norm decoder and, for TopK, dead-latent tracking. Common to all:

* ``fit(X)`` starts the decoder bias ``b2`` at the geometric median of up to
  :data:`MEDIAN_SAMPLE` training rows, the decoder's columns at random unit directions and the
  encoder at their transpose;
* ``components_ (n_latents, n_features)``: the unit-norm dictionary, ``W2^T`` (decoder rows in
  SAELens's words, ``W_dec``);
* ``transform(X)`` the codes ``H (m, n_latents)``, ``inverse_transform(H)`` the reconstruction
  ``H W2^T + b2``, ``score_samples(X)`` minus each sample's squared reconstruction error;
* ``save(path)`` / ``load(path)`` (tinysae's ``.npz``), and ``save_saelens(directory)``, the
  files SAELens loads (:mod:`tinysae.saelens`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tinysae.backends import BACKENDS
from tinysae.dictionary_train import geometric_median, train_dictionary
from tinysae.estimator import AutoencoderEstimator, _as_matrix, _column_names
from tinysae.models.dictionary import JumpReLUModel, ReLUModel, TopKModel
from tinysae.params import Params
from tinysae.validation import check_int, check_random_state, check_real, seed_from_random_state

#: How many training rows (drawn at random) the geometric median of ``b2``'s start is taken over.
MEDIAN_SAMPLE = 4096

_COMMON_DOC = """
    max_iter:
        Adam epochs.
    batch_size, learning_rate:
        Adam's minibatch size and step size.
    warmup_steps:
        Steps over which the step size rises linearly from 0 to ``learning_rate``.
    backend:
        ``"auto"``, ``"autograd"`` (the engine, every model) or another backend that implements
        the model (``"numba"`` for :class:`TopKSAE` without ``batch_topk``).
    random_state:
        Seeds the initial weights, the median's sample and Adam's shuffling (an int, a Generator
        or None, as for :class:`tinysae.SparseAutoencoder`).
    verbose:
        Print a progress line per epoch (off by default).
"""


class DictionarySAE(AutoencoderEstimator):
    """The common part of the three estimators (module docstring); subclasses define ``__init__``
    (their hyper-parameters) and ``_build_model``."""

    def __sklearn_tags__(self) -> Any:
        tags = super(AutoencoderEstimator, self).__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ----------------------------------------------------------------- what subclasses define
    def _sparsity_warmup_steps(self) -> int:
        return 0

    def _dead_after(self, n_samples: int) -> int | None:
        """After how many silent training samples a latent is dead (None: never), for ``n_samples``."""
        return None

    def _after_fit(self, X: np.ndarray) -> None:
        """What a subclass learns from the data once training ended (BatchTopK's threshold)."""

    # ----------------------------------------------------------------- validation and fitting
    def _check_training_settings(self) -> None:
        check_int("n_latents", self.n_latents)
        for name in ("max_iter", "batch_size"):
            check_int(name, getattr(self, name))
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        check_real("learning_rate", self.learning_rate, minimum=0, strict=True)
        if self.backend != "auto" and self.backend not in BACKENDS:
            allowed = ", ".join(map(repr, ["auto", *BACKENDS]))
            raise ValueError(f"backend={self.backend!r} is not one of {allowed}")
        check_random_state(self.random_state)

    def fit(self, X: object, y: object = None) -> DictionarySAE:
        """Learn the dictionary from ``X (m, n)`` (``y`` is ignored); return ``self``."""
        hyperparameters = self.get_params(deep=False)
        self._check_training_settings()
        names = _column_names(X)
        X = _as_matrix(X, "X")
        model = self._build_model(X.shape[1])
        model.check_inputs(X)
        seed = seed_from_random_state(self.random_state)
        params = model.init_params(seed=seed)
        rng = np.random.default_rng(seed)
        sample = X[rng.permutation(len(X))[:MEDIAN_SAMPLE]]
        params = Params({**params, "b2": geometric_median(sample)})
        result, self.dead_latents_ = train_dictionary(
            model, params, X, epochs=int(self.max_iter), batch_size=int(self.batch_size),
            learning_rate=float(self.learning_rate), warmup_steps=int(self.warmup_steps),
            sparsity_warmup_steps=self._sparsity_warmup_steps(), dead_after=self._dead_after(len(X)),
            seed=seed, backend=self.backend, verbose=bool(self.verbose))
        self._set_fitted(model, result.params, X.shape[1], result.history, result.stop_reason,
                         seed=seed, feature_names=names, hyperparameters=hyperparameters)
        self._after_fit(X)
        return self

    # ----------------------------------------------------------------- the fitted dictionary
    @property
    def components_(self) -> np.ndarray:
        """The dictionary ``(n_latents, n_features)``: row ``j`` is latent ``j``'s unit decoder
        direction (``W2[:, j]``)."""
        self._check_fitted()
        return self.params_["W2"].T

    def save_saelens(self, directory: str | os.PathLike) -> Path:
        """Write ``sae_weights.safetensors`` and ``cfg.json`` under ``directory`` in the layout
        SAELens loads (:func:`tinysae.saelens.save_saelens`); return the directory."""
        from tinysae.saelens import save_saelens

        self._check_fitted()
        return save_saelens(self, directory)


class ReLUSAE(DictionarySAE):
    __doc__ = """A ReLU sparse autoencoder with a unit-norm decoder and an L1 penalty weighted by the
    decoder norms (:class:`tinysae.models.dictionary.ReLUModel`).

    Parameters
    ----------
    n_latents:
        ``F``, the dictionary's size.
    l1_coefficient:
        :math:`\\lambda` of :math:`\\frac{\\lambda}{m}\\sum_{ij} H_{ij}\\lVert W_2[:, j]\\rVert`, against
        the reconstruction :math:`\\frac{1}{2m}\\sum_i\\lVert\\hat x_i - x_i\\rVert^2`.
    l1_warmup_steps:
        Steps over which the coefficient rises linearly from 0 to ``l1_coefficient``.""" + _COMMON_DOC

    def __init__(self, n_latents: int = 512, l1_coefficient: float = 0.1, l1_warmup_steps: int = 100,
                 max_iter: int = 20, batch_size: int = 256, learning_rate: float = 1e-3,
                 warmup_steps: int = 50, backend: str = "auto",
                 random_state: int | np.random.Generator | None = 0, verbose: bool = False) -> None:
        self.n_latents = n_latents
        self.l1_coefficient = l1_coefficient
        self.l1_warmup_steps = l1_warmup_steps
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def _check_training_settings(self) -> None:
        super()._check_training_settings()
        check_int("l1_warmup_steps", self.l1_warmup_steps, minimum=0)

    def _sparsity_warmup_steps(self) -> int:
        return int(self.l1_warmup_steps)

    def _build_model(self, n_features: int) -> ReLUModel:
        return ReLUModel(n_features, check_int("n_latents", self.n_latents), self.l1_coefficient)


class TopKSAE(DictionarySAE):
    __doc__ = """A TopK sparse autoencoder (Gao et al. 2024) with the AuxK loss and, optionally, BatchTopK
    (:class:`tinysae.models.dictionary.TopKModel`).

    Parameters
    ----------
    n_latents, k:
        ``F``, the dictionary's size, and how many latents each sample keeps (the L0).
    aux_k:
        How many dead latents the AuxK loss uses per sample (default: ``min(n_latents,
        n_features // 2)``, Gao et al.'s ``d_model / 2``); 0 turns AuxK off.
    aux_coefficient:
        The AuxK loss's weight :math:`\\alpha` (Gao et al.'s 1/32).
    dead_after:
        A latent is dead once it has not fired on this many training samples in a row (default:
        ``min(m, 10 000 000)`` for ``m`` training samples: a whole epoch, and Gao et al.'s 10M
        tokens at most).
    batch_topk:
        Keep the batch's ``batch_size * k`` largest pre-activations instead of ``k`` per row
        (Bussmann et al. 2024). After training, ``threshold_`` is the mean over the training
        batches of the smallest kept activation, and ``transform`` keeps what exceeds it, one
        sample at a time.""" + _COMMON_DOC

    def __init__(self, n_latents: int = 512, k: int = 32, aux_k: int | None = None,
                 aux_coefficient: float = 1 / 32, dead_after: int | None = None, batch_topk: bool = False,
                 max_iter: int = 20, batch_size: int = 256, learning_rate: float = 1e-3,
                 warmup_steps: int = 50, backend: str = "auto",
                 random_state: int | np.random.Generator | None = 0, verbose: bool = False) -> None:
        self.n_latents = n_latents
        self.k = k
        self.aux_k = aux_k
        self.aux_coefficient = aux_coefficient
        self.dead_after = dead_after
        self.batch_topk = batch_topk
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def _check_training_settings(self) -> None:
        super()._check_training_settings()
        check_int("k", self.k)
        if self.aux_k is not None:
            check_int("aux_k", self.aux_k, minimum=0)
        if self.dead_after is not None:
            check_int("dead_after", self.dead_after)
        if not isinstance(self.batch_topk, (bool, np.bool_)):
            raise TypeError(f"batch_topk must be True or False, got {self.batch_topk!r}")

    def fit(self, X: object, y: object = None) -> TopKSAE:
        self.__dict__.pop("threshold_", None)
        return super().fit(X, y)

    def _dead_after(self, n_samples: int) -> int:
        if self.dead_after is not None:
            return int(self.dead_after)
        return min(n_samples, 10_000_000)

    def _build_model(self, n_features: int) -> TopKModel:
        F = check_int("n_latents", self.n_latents)
        aux_k = min(F, max(1, n_features // 2)) if self.aux_k is None else self.aux_k
        return TopKModel(n_features, F, self.k, aux_k, self.aux_coefficient, bool(self.batch_topk),
                         threshold=getattr(self, "threshold_", None))

    def _after_fit(self, X: np.ndarray) -> None:
        if not self.batch_topk:
            return
        smallest = []
        for start in range(0, len(X), int(self.batch_size)):
            H = self._encode(X[start : start + int(self.batch_size)])
            if np.any(H > 0):
                smallest.append(H[H > 0].min())
        self.threshold_ = float(np.mean(smallest)) if smallest else 0.0
        self.model_ = self._build_model(self.n_features_in_)

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {} if not hasattr(self, "threshold_") else {"threshold": np.array(self.threshold_)}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        if "threshold" in arrays:
            self.threshold_ = float(arrays["threshold"])


class JumpReLUSAE(DictionarySAE):
    __doc__ = """A JumpReLU sparse autoencoder (Rajamanoharan et al. 2024): a learned threshold per latent,
    an L0 penalty, both trained through straight-through pseudo-derivatives
    (:class:`tinysae.models.dictionary.JumpReLUModel`; ``tinysae.explain`` shows them).

    Parameters
    ----------
    n_latents:
        ``F``, the dictionary's size.
    l0_coefficient:
        :math:`\\lambda` of :math:`\\frac{\\lambda}{m}\\sum_{ij}\\mathbb{1}[Z_{2,ij} > \\theta_j]`.
    l0_warmup_steps:
        Steps over which the coefficient rises linearly from 0 to ``l0_coefficient``.
    bandwidth:
        :math:`\\varepsilon`, the width of the pseudo-derivative's rectangle kernel, in the units of
        the pre-activations. The paper uses 0.001 on activations it rescales; on data whose
        features have magnitudes near 1 (``tinysae superposition``'s) 0.001 trains nothing in
        20 epochs (measured: the thresholds stay put and every latent fires), 0.1 finds them.
    initial_threshold:
        Every :math:`\\theta_j` at the start, in the same units.
    learning_rate:
        3e-3 by default, not the others' 1e-3: the thresholds move by Adam steps in
        ``log_threshold``, and at 1e-3 they had not reached the data's scale in 20 epochs
        (measured on ``tinysae superposition``'s data).""" + _COMMON_DOC

    def __init__(self, n_latents: int = 512, l0_coefficient: float = 0.1, l0_warmup_steps: int = 100,
                 bandwidth: float = 0.1, initial_threshold: float = 0.1, max_iter: int = 20,
                 batch_size: int = 256, learning_rate: float = 3e-3, warmup_steps: int = 50,
                 backend: str = "auto", random_state: int | np.random.Generator | None = 0,
                 verbose: bool = False) -> None:
        self.n_latents = n_latents
        self.l0_coefficient = l0_coefficient
        self.l0_warmup_steps = l0_warmup_steps
        self.bandwidth = bandwidth
        self.initial_threshold = initial_threshold
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def _check_training_settings(self) -> None:
        super()._check_training_settings()
        check_int("l0_warmup_steps", self.l0_warmup_steps, minimum=0)

    def _sparsity_warmup_steps(self) -> int:
        return int(self.l0_warmup_steps)

    def _build_model(self, n_features: int) -> JumpReLUModel:
        return JumpReLUModel(n_features, check_int("n_latents", self.n_latents), self.l0_coefficient,
                             self.bandwidth, self.initial_threshold)

    @property
    def threshold_(self) -> np.ndarray:
        """The learned thresholds ``theta (n_latents,)``, ``exp(log_threshold)``."""
        self._check_fitted()
        return np.exp(self.params_["log_threshold"])


__all__ = ["DictionarySAE", "JumpReLUSAE", "ReLUSAE", "TopKSAE"]
