r"""The estimators: one base class for every model, and ``SparseAutoencoder``, the classic.

:class:`AutoencoderEstimator` follows scikit-learn's conventions without importing
scikit-learn: hyper-parameters are stored unchanged by ``__init__`` and checked by ``fit``;
``get_params`` / ``set_params``; ``fit`` returns ``self``; what is learned ends with an
underscore (``params_``, ``model_``, ``history_``, ``n_features_in_``, ``n_iter_``,
``stop_reason_``), and only those are used after fitting. So ``sklearn.base.clone`` and
``sklearn.pipeline.Pipeline`` accept it. A subclass names its model's hyper-parameters in its
``__init__`` and builds the model in ``_build_model``; training (L-BFGS or Adam, any backend
that implements the model), encoding, decoding, scoring and saving come from the base, through
the model's own forward pass on the engine.

:class:`SparseAutoencoder` is the classic (:class:`tinysae.models.ClassicSAE`):

* :meth:`~AutoencoderEstimator.transform`: :math:`H = f(X W_1^\top + b_1)`, shape ``(m, k)``;
* :meth:`~AutoencoderEstimator.inverse_transform`: :math:`\hat X = g(H W_2^\top + b_2)`, ``(m, n)``;
* :meth:`~AutoencoderEstimator.score`: :math:`-\frac{1}{2m}\sum_i \lVert \hat x_i - x_i\rVert^2`,
  minus the reconstruction term of ``J`` (higher is better, as scikit-learn expects);
* :meth:`~AutoencoderEstimator.save` / :meth:`~AutoencoderEstimator.load`: a ``.npz`` file;
* the fitted ``W1_ (k, n)``, ``b1_ (k,)``, ``W2_ (n, k)``, ``b2_ (n,)`` and ``objective_``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from tinysae.autograd import Tensor
from tinysae.backends import BACKENDS
from tinysae.models import Model
from tinysae.models.classic import ClassicSAE
from tinysae.objective import Objective, check_data
from tinysae.params import Params
from tinysae.terms import Penalty
from tinysae.train import SOLVERS, History, train
from tinysae.validation import check_int, check_real

#: Version of the ``.npz`` layout written by :meth:`AutoencoderEstimator.save` (version 1 kept the
#: classic's three terms under fixed names; it is still read).
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)


class NotFittedError(ValueError, AttributeError):
    """The estimator was used before ``fit`` (like scikit-learn's)."""


class AutoencoderEstimator:
    """Base class of tinysae's estimators: a model built by ``_build_model``, trained by ``fit``.

    Subclasses list every hyper-parameter as an ``__init__`` argument stored unchanged
    (scikit-learn's rule), including the training settings ``solver, max_iter, batch_size,
    learning_rate, backend, seed, verbose`` that this base reads, and define
    ``_build_model(n_features) -> Model``. The model's ``encode(params, X)`` and
    ``decode(params, H)`` (engine tensors in, named nodes out, with ``"H"`` and ``"Xhat"``)
    give :meth:`transform` and :meth:`inverse_transform`; its ``n_hidden`` is the code's width.
    """

    # ----------------------------------------------------------------- scikit-learn protocol
    @classmethod
    def _param_names(cls) -> list[str]:
        code = cls.__init__.__code__
        return list(code.co_varnames[1 : code.co_argcount])

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters, by name (``deep`` is accepted for scikit-learn; nothing is nested)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> AutoencoderEstimator:
        """Set hyper-parameters by name; unknown names raise ValueError. Returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k]]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    # ----------------------------------------------------------------- to be defined by subclasses
    def _build_model(self, n_features: int) -> Model:
        raise NotImplementedError(f"{type(self).__name__} must define _build_model(n_features)")

    # ----------------------------------------------------------------- validation
    def _check_training_settings(self) -> None:
        """The training hyper-parameters, checked at fit (scikit-learn's convention)."""
        for name in ("max_iter", "batch_size"):
            check_int(name, getattr(self, name))
        check_real("learning_rate", self.learning_rate, minimum=0, strict=True)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver={self.solver!r} is not one of {', '.join(map(repr, SOLVERS))}")
        if self.backend != "auto" and self.backend not in BACKENDS:
            allowed = ", ".join(map(repr, ["auto", *BACKENDS]))
            raise ValueError(f"backend={self.backend!r} is not one of {allowed}")
        check_int("seed", self.seed, minimum=0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _check_input(self, X: object) -> np.ndarray:
        """``X (m, n_features_in_)``, real and finite. Values are not range-checked here: a sigmoid
        output limits what can be *learned*, not what can be encoded."""
        self._check_fitted()
        return check_data(X, None, self.n_features_in_)

    def _leaves(self) -> dict[str, Tensor]:
        return {name: Tensor(array, name=name) for name, array in self.params_.items()}

    # ----------------------------------------------------------------- fitting
    def fit(self, X: object, y: object = None) -> AutoencoderEstimator:
        """Learn ``params_`` from ``X (m, n)`` (``y`` is ignored). Returns ``self``.

        Starts from the model's initialisation (``seed``) and runs ``solver`` for ``max_iter``
        iterations (L-BFGS) or epochs (Adam). ``model_`` is the model it trained, ``history_``
        the run's :class:`tinysae.train.History`, ``n_iter_`` its length, ``stop_reason_`` why
        it ended.
        """
        self._check_training_settings()
        X = check_data(X)
        model = self._build_model(X.shape[1])
        model.check_inputs(X)
        params = model.init_params(seed=int(self.seed))
        if self.solver == "lbfgs":
            options: dict[str, Any] = {"max_iter": int(self.max_iter)}
        else:
            options = {
                "epochs": int(self.max_iter),
                "batch_size": int(self.batch_size),
                "learning_rate": float(self.learning_rate),
            }
        result = train(
            params, X, model, solver=self.solver, backend=self.backend, verbose=bool(self.verbose),
            seed=int(self.seed), **options,
        )
        self._set_fitted(model, result.params, X.shape[1], result.history, result.stop_reason)
        return self

    def _set_fitted(self, model: Model, params: Params, n_features: int, history: History,
                    stop_reason: str) -> None:
        self.model_ = model
        self.params_ = params
        self.n_features_in_ = n_features
        self.history_ = history
        self.n_iter_ = len(history)
        self.stop_reason_ = stop_reason

    # ----------------------------------------------------------------- using a fitted model
    def transform(self, X: object) -> np.ndarray:
        """The hidden code ``H`` of ``X``, by the model's encoder."""
        X = self._check_input(X)
        return self.model_.encode(self._leaves(), Tensor(X, name="X"))["H"].data

    def fit_transform(self, X: object, y: object = None) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X, y).transform(X)

    def inverse_transform(self, H: object) -> np.ndarray:
        """Decode hidden codes ``H (m, n_hidden)`` into reconstructions ``Xhat (m, n)``."""
        self._check_fitted()
        H = np.asarray(H)
        k = self.model_.n_hidden
        if H.dtype.kind not in "biuf" or H.ndim != 2 or H.shape[1] != k:
            raise ValueError(f"H must be a real 2-D array (m, n_hidden={k}), got shape {H.shape}, {H.dtype}")
        if not np.all(np.isfinite(H)):
            raise ValueError("H must be finite")
        return self.model_.decode(self._leaves(), Tensor(H, name="H"))["Xhat"].data

    def reconstruct(self, X: object) -> np.ndarray:
        """``inverse_transform(transform(X))``: the autoencoder's output ``Xhat (m, n)``."""
        return self.inverse_transform(self.transform(X))

    def score_samples(self, X: object) -> np.ndarray:
        r"""Minus each sample's squared reconstruction error, :math:`-\lVert \hat x_i - x_i\rVert^2`,
        shape ``(m,)`` (higher means more normal, as in scikit-learn)."""
        X = self._check_input(X)
        return -np.sum((self.reconstruct(X) - X) ** 2, axis=1)

    def score(self, X: object, y: object = None) -> float:
        r"""Minus the mean reconstruction error, :math:`-\frac{1}{2m}\sum_i\lVert\hat x_i - x_i\rVert^2`."""
        return float(np.mean(self.score_samples(X)) / 2)

    # ----------------------------------------------------------------- persistence
    def _format_name(self) -> str:
        return f"tinysae.{type(self).__name__}"

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` (a ``.npz``): format name and version, the
        hyper-parameters as a JSON string, the parameters by name and the training history."""
        self._check_fitted()
        custom = [name for name, value in self.get_params().items() if isinstance(value, Penalty)]
        if custom:
            raise ValueError(
                f"{type(self).__name__}.save cannot store the penalty {self.get_params()[custom[0]]!r}: a "
                "model file holds data only, never code. Save the parameters yourself (model.params_)."
            )
        arrays = {
            "format": np.array(self._format_name()),
            "format_version": np.array(FORMAT_VERSION),
            "hyperparameters": np.array(json.dumps(self.get_params())),
            "param_names": np.array(list(self.params_)),
            "n_features_in": np.array(self.n_features_in_),
            "stop_reason": np.array(self.stop_reason_),
        }
        arrays.update({f"param_{name}": array for name, array in self.params_.items()})
        arrays.update({f"history_{k}": v for k, v in self.history_.as_arrays().items()})
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AutoencoderEstimator:
        """Read a model written by :meth:`save`. A file that is not one (corrupted, truncated,
        another program's, another format version) raises ValueError saying why."""
        where = repr(os.fspath(path))
        # Damaged bytes make the zip and .npy readers raise many types (BadZipFile, OSError,
        # EOFError, ValueError, NotImplementedError for a garbled zip version, ...): all of them
        # mean "not a readable model file". A missing file stays a FileNotFoundError.
        try:
            loaded = np.load(path, allow_pickle=False)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except Exception as exc:
            raise ValueError(f"{where} is not a readable tinysae model file (.npz): {exc}") from exc
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"{where} is a single numpy array, not a tinysae model file (.npz)")
        try:
            with loaded:
                arrays = {key: loaded[key] for key in loaded.files}
        except Exception as exc:
            raise ValueError(f"{where} is a damaged .npz file: {exc}") from exc
        format_name = f"tinysae.{cls.__name__}"
        if "format" not in arrays or str(arrays["format"]) != format_name:
            raise ValueError(f"{where} is not a tinysae model file (no format={format_name!r} entry)")
        version = arrays.get("format_version")
        readable = version is not None and version.shape == () and version.dtype.kind in "iu"
        if not readable or int(version) not in _READABLE_VERSIONS:
            raise ValueError(f"{where} has format version {version}; this tinysae reads {FORMAT_VERSION}")
        try:
            hyper = json.loads(str(arrays["hyperparameters"]))
            model = cls().set_params(**hyper)
            model._check_training_settings()
            if int(version) == 1:
                names = ["W1", "b1", "W2", "b2"]
                params = Params({name: arrays[name] for name in names})
                for term in ("reconstruction", "weight_decay", "sparsity"):
                    arrays[f"history_term_{term}"] = arrays.pop(f"history_{term}")
            else:
                names = [str(name) for name in arrays["param_names"]]
                params = Params({name: arrays[f"param_{name}"] for name in names})
            history = History.from_arrays({k.removeprefix("history_"): v for k, v in arrays.items()
                                           if k.startswith("history_")})
            stop_reason = str(arrays["stop_reason"])
            n_features = int(arrays["n_features_in"]) if "n_features_in" in arrays else params["W1"].shape[1]
            built = model._build_model(n_features)
            built.check_params(params)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where} is a damaged or inconsistent tinysae model file: {exc}") from exc
        model._set_fitted(built, params, n_features, history, stop_reason)
        return model


def _fitted_param(name: str, doc: str) -> property:
    """A read-only attribute ``<name>_`` holding the fitted parameter ``params_[name]``."""

    def get(self: AutoencoderEstimator) -> np.ndarray:
        self._check_fitted()
        return self.params_[name]

    return property(get, doc=doc)


class SparseAutoencoder(AutoencoderEstimator):
    """A ``n -> n_hidden -> n`` sparse autoencoder trained on ``X (m, n)``.

    Parameters
    ----------
    n_hidden:
        ``k``, the number of hidden units.
    rho, beta, weight_decay, penalty, activation, output:
        The objective's settings (see :class:`tinysae.objective.Objective`); ``penalty`` may be
        ``"kl"``, ``"l1"``, ``"none"`` (a plain autoencoder) or a :class:`tinysae.Penalty` of
        your own (which only ``backend="autograd"`` computes, and ``save`` refuses).
    solver:
        ``"lbfgs"`` (full batch, scipy) or ``"adam"`` (minibatches).
    max_iter:
        L-BFGS iterations, or Adam epochs.
    batch_size, learning_rate:
        Adam's minibatch size and step size (ignored by L-BFGS).
    backend:
        ``"auto"``, ``"numpy"``, ``"autograd"``, ``"numba"`` or ``"cuda"``.
    seed:
        Seeds the initial weights and Adam's shuffling: same seed, same model.
    verbose:
        Print a progress line during :meth:`fit`.
    """

    def __init__(
        self,
        n_hidden: int = 25,
        rho: float = 0.01,
        beta: float = 3.0,
        weight_decay: float = 1e-4,
        penalty: str | Penalty = "kl",
        activation: str = "sigmoid",
        output: str = "sigmoid",
        solver: str = "lbfgs",
        max_iter: int = 400,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        backend: str = "auto",
        seed: int = 0,
        verbose: bool = True,
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
        self.seed = seed
        self.verbose = verbose

    def _objective(self) -> Objective:
        return Objective(
            rho=self.rho,
            beta=self.beta,
            weight_decay=self.weight_decay,
            penalty=self.penalty,
            activation=self.activation,
            output=self.output,
        )

    def _build_model(self, n_features: int) -> ClassicSAE:
        return ClassicSAE(n_features, check_int("n_hidden", self.n_hidden), self._objective())

    @property
    def objective_(self) -> Objective:
        """The :class:`~tinysae.objective.Objective` the fit minimised."""
        self._check_fitted()
        return self.model_.objective

    W1_ = _fitted_param("W1", "Fitted encoder weights ``(n_hidden, n_features)``.")
    b1_ = _fitted_param("b1", "Fitted encoder biases ``(n_hidden,)``.")
    W2_ = _fitted_param("W2", "Fitted decoder weights ``(n_features, n_hidden)``.")
    b2_ = _fitted_param("b2", "Fitted decoder biases ``(n_features,)``.")
