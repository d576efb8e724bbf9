r"""Stacks of sparse autoencoders as estimators: UFLDL's stacked classifier and the deep autoencoder.

Both follow the same recipe (:mod:`tinysae.models.deep` has the network and its names):

1. **Greedy layer-wise pre-training.** Layer ``l``'s sparse autoencoder
   (:class:`tinysae.models.ClassicSAE`, trained by L-BFGS for ``pretrain_iter`` iterations) learns
   from the codes ``H_l`` of the layer below (``H_1 = X``); its codes ``H_{l+1}`` feed the next.
2. **The top.** :class:`StackedAutoencoder` trains a softmax classifier
   (:class:`tinysae.models.SoftmaxRegression`) on the top code; :class:`DeepAutoencoder` needs
   none.
3. **Fine-tuning** (``fine_tune=True``): the layers are unrolled into one network
   (:class:`tinysae.models.DeepSAE`) and trained end to end by backpropagation, on the
   classification loss (stacked) or on the reconstruction error (deep), for ``max_iter``
   iterations of ``solver``.

``pretrain_histories_`` holds each pre-training run's :class:`tinysae.History`, ``history_`` the
fine-tuning's; ``pretrained_params_`` the network before fine-tuning (the same as ``params_``
when ``fine_tune=False``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinysae.autograd import Tensor
from tinysae.backends import supporting
from tinysae.estimator import AutoencoderEstimator, _as_matrix, _column_names
from tinysae.models import ClassicSAE, DeepSAE, Model, SoftmaxRegression
from tinysae.models.deep import assemble
from tinysae.models.softmax import one_hot
from tinysae.objective import Objective
from tinysae.params import Params
from tinysae.terms import PENALTIES
from tinysae.train import History, lbfgs, step_seed, train
from tinysae.validation import check_int, check_real, seed_from_random_state

try:  # scikit-learn's classifier mixin when it is installed (accuracy score, classifier tags)
    from sklearn.base import ClassifierMixin as _ClassifierMixin
    from sklearn.exceptions import DataConversionWarning as _DataConversionWarning
except ImportError:
    _DataConversionWarning = UserWarning  # type: ignore[misc, assignment]

    class _ClassifierMixin:  # type: ignore[no-redef]
        """Stands for ``sklearn.base.ClassifierMixin`` (the estimator defines ``score`` itself)."""


#: The label of an unlabelled row in ``StackedAutoencoder.fit(X, y)`` (scikit-learn's semi-supervised
#: convention).
UNLABELLED = -1


def unlabelled_rows(labels: np.ndarray) -> np.ndarray:
    """The boolean mask ``(m,)`` of the labels ``(m,)`` equal to :data:`UNLABELLED`: numbers, or
    objects (a label -1 among str ones); str labels (numpy's str dtype) have none."""
    if labels.dtype.kind in "iuf":
        return labels == UNLABELLED
    if labels.dtype.kind == "O":
        return np.array([label == UNLABELLED for label in labels], dtype=bool)
    return np.zeros(labels.shape[0], dtype=bool)


def check_hidden(hidden: object) -> tuple[int, ...]:
    """``hidden`` as a non-empty tuple of positive ints, or a ValueError / TypeError saying why."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or len(hidden) == 0:
        raise ValueError(f"hidden must be a non-empty sequence of layer widths, e.g. (100, 50); "
                         f"got {hidden!r}")
    return tuple(check_int(f"hidden[{i}]", width) for i, width in enumerate(hidden))


class _LayerwiseEstimator(AutoencoderEstimator):
    """Pre-training, the top and fine-tuning; subclasses give the layer widths, the layers'
    settings, the top and the fine-tuning objective."""

    # ---- what a subclass defines -----------------------------------------------------------------
    def _layer_objective(self, layer: int, n_layers: int) -> Objective:
        """The objective of layer ``layer``'s (1-based) sparse autoencoder, of ``n_layers``."""
        raise NotImplementedError(f"{type(self).__name__} must define _layer_objective(layer, n_layers)")

    def _prepare_targets(self, X: np.ndarray, y: object) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The targets of the top and of fine-tuning from ``y`` (None: reconstruct ``X``), and
        the boolean mask ``(m,)`` of the rows of ``X`` they belong to (None: every row)."""
        return None, None

    def _train_head(self, codes: np.ndarray, targets: np.ndarray | None, seed: int) -> Params | None:
        """The top's parameters, trained on the top ``codes`` (None: no top)."""
        return None

    # ---- validation ------------------------------------------------------------------------------
    def _check_training_settings(self) -> None:
        super()._check_training_settings()
        check_hidden(self.hidden)
        check_int("pretrain_iter", self.pretrain_iter)
        check_real("weight_decay", self.weight_decay, minimum=0)
        check_real("fine_tune_weight_decay", self.fine_tune_weight_decay, minimum=0)
        if not isinstance(self.fine_tune, (bool, np.bool_)):
            raise TypeError(f"fine_tune must be True or False, got {self.fine_tune!r}")
        if self.penalty not in PENALTIES:
            raise ValueError(f"penalty={self.penalty!r} is not one of {', '.join(map(repr, PENALTIES))}")

    # ---- fitting ---------------------------------------------------------------------------------
    def _backend_for(self, model: Model) -> str:
        """``backend`` when it implements ``model``, else ``"auto"``: the layers' sparse
        autoencoders run on the backend asked for, and the softmax and the unrolled network,
        which only the engine implements, on the engine."""
        return self.backend if self.backend == "auto" or self.backend in supporting(model) else "auto"

    def _pretrain(self, X: np.ndarray, sizes: tuple[int, ...],
                  seed: int) -> tuple[list[Params], list[History], np.ndarray]:
        """Train each layer's sparse autoencoder (widths ``sizes``) on the codes of the one below:
        the layers' parameters, their histories, and the top code."""
        layers, histories, codes = [], [], X
        n_layers = len(sizes) - 1
        for layer in range(1, n_layers + 1):
            sae = ClassicSAE(sizes[layer - 1], sizes[layer], self._layer_objective(layer, n_layers))
            sae.check_inputs(codes)
            layer_seed = step_seed(seed, layer)
            result = lbfgs(sae.init_params(layer_seed), codes, sae, max_iter=int(self.pretrain_iter),
                           backend=self.backend, seed=layer_seed, verbose=bool(self.verbose))
            layers.append(result.params)
            histories.append(result.history)
            leaves = {name: Tensor(array, name=name) for name, array in result.params.items()}
            codes = sae.encode(leaves, Tensor(codes, name=f"H{layer}"))["H"].data
        return layers, histories, codes

    def _fit_stack(self, X: object, y: object = None) -> _LayerwiseEstimator:
        hyperparameters = self.get_params(deep=False)
        self._check_training_settings()
        names = _column_names(X)
        X = _as_matrix(X, "X")
        targets, labelled = self._prepare_targets(X, y)
        model = self._build_model(X.shape[1])
        model.check_inputs(X)
        seed = seed_from_random_state(self.random_state)
        layers, histories, codes = self._pretrain(X, model.sizes, seed)  # every row of X
        # the top and fine-tuning see only the rows that have targets
        X_top, codes_top = (X, codes) if labelled is None else (X[labelled], codes[labelled])
        params = assemble(layers, self._train_head(codes_top, targets, seed))
        self.pretrained_params_ = params
        self.pretrain_histories_ = histories
        if self.fine_tune:
            options: dict[str, Any] = {"max_iter": int(self.max_iter)} if self.solver == "lbfgs" else {
                "epochs": int(self.max_iter), "batch_size": int(self.batch_size),
                "learning_rate": float(self.learning_rate)}
            result = train(params, X_top, model, solver=self.solver, backend=self._backend_for(model),
                           targets=targets, seed=seed, verbose=bool(self.verbose), **options)
            params, history, reason = result.params, result.history, result.stop_reason
        else:
            history, reason = History(), "fine_tune=False"
        self._set_fitted(model, params, X.shape[1], history, reason, seed=seed, feature_names=names,
                         hyperparameters=hyperparameters)
        return self


class StackedAutoencoder(_ClassifierMixin, _LayerwiseEstimator):
    """UFLDL's stacked autoencoder classifier: pre-trained sparse layers, a softmax on top, and
    fine-tuning of the whole stack on the labels.

    **Unlabelled rows** (scikit-learn's semi-supervised convention, as in
    ``sklearn.semi_supervised``): a row of ``X`` whose label in ``y`` is ``-1`` is unlabelled.
    Pre-training learns from every row of ``X``; the softmax layer and fine-tuning train on the
    labelled rows only, so ``fit(X, y)`` with ``y = -1`` on some rows is self-taught learning:
    features from all the images, the classifier from the few labelled ones. ``classes_`` holds
    the labelled rows' classes (never ``-1``); ``fit`` raises ``ValueError`` when every row is
    unlabelled or the labelled rows hold fewer than 2 classes. Str labels have no unlabelled row.

    Parameters
    ----------
    hidden:
        The widths of the hidden layers, bottom to top, e.g. ``(100, 50)``.
    rho, beta, weight_decay, penalty:
        Each layer's sparse autoencoder (sigmoid units, sigmoid output). UFLDL's MNIST exercise
        uses ``rho = 0.1, beta = 3, lambda = 3e-3``; on the 1257 training digits that
        ``lambda`` shrinks the second layer to a constant code (held-out accuracy 10 % before
        fine-tuning), so the default is ``lambda = 3e-4``.
    output:
        The first layer's output nonlinearity when it reconstructs ``X``: ``"sigmoid"`` (data in
        [0, 1]) or ``"identity"`` (any real data); the layers above reconstruct sigmoid codes.
    pretrain_iter:
        L-BFGS iterations per layer.
    fine_tune:
        Fine-tune the whole stack (True) or keep the pre-trained layers and the softmax (False).
    fine_tune_weight_decay:
        :math:`\\lambda` of the softmax layer and of fine-tuning (UFLDL's ``1e-4``).
    solver, max_iter, batch_size, learning_rate, backend, random_state, verbose:
        The softmax layer is trained by L-BFGS for ``max_iter`` iterations; fine-tuning by
        ``solver`` for ``max_iter`` iterations (L-BFGS) or epochs (Adam). ``backend`` computes
        the layers' pre-training; the softmax layer and fine-tuning use it too when it
        implements them, else the engine (only ``"autograd"`` implements them today).

    Attributes
    ----------
    classes_:
        The labels seen by ``fit`` on its labelled rows, sorted; ``predict`` returns them.
    params_, pretrained_params_, model_, history_, pretrain_histories_, n_features_in_, seed_:
        As for the other estimators, plus the network before fine-tuning and each layer's
        pre-training history.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (100, 50),
        rho: float = 0.1,
        beta: float = 3.0,
        weight_decay: float = 3e-4,
        penalty: str = "kl",
        output: str = "sigmoid",
        pretrain_iter: int = 200,
        fine_tune: bool = True,
        fine_tune_weight_decay: float = 1e-4,
        solver: str = "lbfgs",
        max_iter: int = 400,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        backend: str = "auto",
        random_state: int | np.random.Generator | None = 0,
        verbose: bool = False,
    ) -> None:
        self.hidden = hidden
        self.rho = rho
        self.beta = beta
        self.weight_decay = weight_decay
        self.penalty = penalty
        self.output = output
        self.pretrain_iter = pretrain_iter
        self.fine_tune = fine_tune
        self.fine_tune_weight_decay = fine_tune_weight_decay
        self.solver = solver
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _layer_objective(self, layer: int, n_layers: int) -> Objective:
        return Objective(rho=self.rho, beta=self.beta, weight_decay=self.weight_decay, penalty=self.penalty,
                         output=self.output if layer == 1 else "sigmoid")

    def _build_model(self, n_features: int) -> DeepSAE:
        return DeepSAE((n_features, *check_hidden(self.hidden)), n_classes=len(self.classes_),
                       weight_decay=self.fine_tune_weight_decay, fine_tune="classification")

    def _prepare_targets(self, X: np.ndarray, y: object) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None: "
                             "fit(X, y) needs the labels")
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] == 1:  # scikit-learn's convention: warn and ravel
            warnings.warn("A column-vector y was passed when a 1d array was expected; y.ravel() is used",
                          _DataConversionWarning, stacklevel=4)
            labels = labels.ravel()
        if labels.ndim != 1 or labels.shape[0] != X.shape[0]:
            raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), "
                             f"got shape {labels.shape}")
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise ValueError("y must be finite class labels, but it holds NaN or inf")
        if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
            raise ValueError("Unknown label type: continuous. y holds non-integer numbers; a classifier "
                             "needs class labels")
        labelled = ~unlabelled_rows(labels)
        if not labelled.any():
            raise ValueError(f"every label in y is {UNLABELLED} (unlabelled); the softmax layer and "
                             "fine-tuning need labelled rows")
        classes, encoded = np.unique(labels[labelled], return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y holds one class ({classes.tolist()[0]!r}); a classifier needs at least 2 "
                             f"among the labelled rows (label {UNLABELLED} marks an unlabelled row)")
        self.classes_ = classes
        return one_hot(encoded.ravel(), len(classes)), labelled

    def _train_head(self, codes: np.ndarray, targets: np.ndarray, seed: int) -> Params:
        head = SoftmaxRegression(codes.shape[1], targets.shape[1], self.fine_tune_weight_decay)
        result = lbfgs(head.init_params(step_seed(seed, 0)), codes, head, targets=targets,
                       max_iter=int(self.max_iter), backend=self._backend_for(head),
                       verbose=bool(self.verbose))
        return result.params

    def fit(self, X: object, y: object = None) -> StackedAutoencoder:
        """Pre-train the layers on ``X (m, n)``, train the softmax on the top code with labels
        ``y (m,)``, then fine-tune (``fine_tune=True``); the softmax and fine-tuning use only the
        rows whose label is not ``-1`` (unlabelled). Returns ``self``."""
        return self._fit_stack(X, y)

    def fit_transform(self, X: object, y: object = None) -> np.ndarray:
        """``fit(X, y)`` then ``transform(X)``."""
        return self.fit(X, y).transform(X)

    def predict_proba(self, X: object) -> np.ndarray:
        """``P (m, C)``: the softmax's class probabilities for the top code of ``X``, columns in
        the order of ``classes_``."""
        X = self._check_input(X)
        leaves = self._leaves()
        code = self.model_.encode(leaves, Tensor(X, name="X"))["H"]
        return np.exp(self.model_.classify(leaves, code)["log_P"].data)

    def predict(self, X: object) -> np.ndarray:
        """The most probable class of each row of ``X``, from ``classes_``."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X: object, y: object = None) -> float:
        """The accuracy of :meth:`predict` on ``(X, y)``."""
        if y is None:
            raise ValueError(f"{type(self).__name__}.score needs the labels y: score(X, y)")
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        classes = np.asarray(self.classes_)
        if classes.dtype != object:
            return {"classes": classes}
        # labels from a list of str or a DataFrame: np.load(allow_pickle=False) refuses object
        # arrays, so they are stored as str (or numbers) and made object arrays again by load
        plain = np.asarray(classes.tolist())
        if plain.dtype == object or not all(a == b for a, b in zip(plain.tolist(), classes.tolist())):
            raise ValueError(f"{type(self).__name__}.save cannot store the labels {classes.tolist()!r}: a "
                             "model file holds str or number labels only")
        return {"classes": plain, "classes_are_objects": np.array(True)}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        classes = arrays["classes"]
        self.classes_ = classes.astype(object) if bool(arrays.get("classes_are_objects", False)) else classes


class DeepAutoencoder(_LayerwiseEstimator):
    """A deep autoencoder (Hinton & Salakhutdinov 2006): pre-trained sparse layers
    ``n -> hidden... -> n_components``, unrolled into an encoder and a mirrored decoder and
    fine-tuned on the reconstruction. :meth:`transform` gives the ``n_components``-wide code.

    Parameters
    ----------
    hidden:
        The widths of the hidden layers between the input and the code, e.g. ``(48, 24)``.
    n_components:
        The width of the code (the bottleneck), whose units are linear.
    rho, beta, weight_decay, penalty:
        The hidden layers' sparse autoencoders (sigmoid units); the code layer's autoencoder
        has linear units and no sparsity penalty.
    output:
        The network's output nonlinearity: ``"sigmoid"`` (data in [0, 1]) or ``"identity"``.
    pretrain_iter, fine_tune, fine_tune_weight_decay, solver, max_iter, batch_size,
    learning_rate, backend, random_state, verbose:
        As for :class:`StackedAutoencoder`; fine-tuning minimises the reconstruction error.
        On the 1257 training digits more than ``max_iter=1000`` L-BFGS iterations overfit
        (measured at code size 2 with ``beta=0.1, fine_tune_weight_decay=1e-5``: held-out error
        per pixel 0.032 after 1000 iterations, 0.036 after 2000).
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (48, 24),
        n_components: int = 2,
        rho: float = 0.1,
        beta: float = 0.5,
        weight_decay: float = 1e-4,
        penalty: str = "kl",
        output: str = "sigmoid",
        pretrain_iter: int = 200,
        fine_tune: bool = True,
        fine_tune_weight_decay: float = 1e-4,
        solver: str = "lbfgs",
        max_iter: int = 1000,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        backend: str = "auto",
        random_state: int | np.random.Generator | None = 0,
        verbose: bool = False,
    ) -> None:
        self.hidden = hidden
        self.n_components = n_components
        self.rho = rho
        self.beta = beta
        self.weight_decay = weight_decay
        self.penalty = penalty
        self.output = output
        self.pretrain_iter = pretrain_iter
        self.fine_tune = fine_tune
        self.fine_tune_weight_decay = fine_tune_weight_decay
        self.solver = solver
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def _check_training_settings(self) -> None:
        super()._check_training_settings()
        check_int("n_components", self.n_components)

    def _layer_objective(self, layer: int, n_layers: int) -> Objective:
        output = self.output if layer == 1 else "sigmoid"  # what layer l reconstructs: X, then codes
        if layer == n_layers:  # the code: linear units, no sparsity
            return Objective(weight_decay=self.weight_decay, penalty="none", activation="identity",
                             output=output)
        return Objective(rho=self.rho, beta=self.beta, weight_decay=self.weight_decay, penalty=self.penalty,
                         output=output)

    def _build_model(self, n_features: int) -> DeepSAE:
        sizes = (n_features, *check_hidden(self.hidden), check_int("n_components", self.n_components))
        return DeepSAE(sizes, code_activation="identity", output=self.output,
                       weight_decay=self.fine_tune_weight_decay)

    def fit(self, X: object, y: object = None) -> DeepAutoencoder:
        """Pre-train the layers on ``X (m, n)``, then fine-tune the unrolled network on the
        reconstruction (``fine_tune=True``); ``y`` is ignored. Returns ``self``."""
        return self._fit_stack(X, y)
