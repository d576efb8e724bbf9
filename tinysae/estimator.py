r"""``SparseAutoencoder``: the classic sparse autoencoder as a scikit-learn-style estimator.

It follows scikit-learn's conventions without importing scikit-learn: hyper-parameters are
stored unchanged by ``__init__`` and checked by :meth:`~SparseAutoencoder.fit`;
``get_params`` / ``set_params``; ``fit`` returns ``self``; what is learned ends with an
underscore (``W1_ (k, n)``, ``b1_ (k,)``, ``W2_ (n, k)``, ``b2_ (n,)``, ``history_``,
``n_features_in_``, ``objective_``, ``n_iter_``, ``stop_reason_``), and only those are used
after fitting (changing a hyper-parameter affects the next fit). So ``sklearn.base.clone``
and ``sklearn.pipeline.Pipeline`` accept it.

* :meth:`~SparseAutoencoder.transform`: :math:`H = f(X W_1^\top + b_1)`, shape ``(m, k)``;
* :meth:`~SparseAutoencoder.inverse_transform`: :math:`\hat X = g(H W_2^\top + b_2)`, ``(m, n)``;
* :meth:`~SparseAutoencoder.score`: :math:`-\frac{1}{2m}\sum_i \lVert \hat x_i - x_i\rVert^2`, minus
  the reconstruction term of ``J`` (higher is better, as scikit-learn expects);
* :meth:`~SparseAutoencoder.save` / :meth:`~SparseAutoencoder.load`: a ``.npz`` file.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from tinysae.backends import BACKENDS
from tinysae.backends.numpy_ref import activate
from tinysae.objective import Objective, Params, check_data, init_params
from tinysae.train import SOLVERS, History, train
from tinysae.validation import check_int, check_real

#: Version of the ``.npz`` layout written by :meth:`SparseAutoencoder.save`.
FORMAT_VERSION = 1
_FORMAT_NAME = "tinysae.SparseAutoencoder"
_PARAM_KEYS = ("W1", "b1", "W2", "b2")
#: check_data with this objective checks shape and finiteness but not the value range.
_ANY_RANGE = Objective(penalty="none", output="identity")


class NotFittedError(ValueError, AttributeError):
    """The estimator was used before :meth:`SparseAutoencoder.fit` (like scikit-learn's)."""


class SparseAutoencoder:
    """A ``n -> n_hidden -> n`` sparse autoencoder trained on ``X (m, n)``.

    Parameters
    ----------
    n_hidden:
        ``k``, the number of hidden units.
    rho, beta, weight_decay, penalty, activation, output:
        The objective's settings (see :class:`tinysae.objective.Objective`).
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
        penalty: str = "kl",
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

    # ----------------------------------------------------------------- scikit-learn protocol
    @classmethod
    def _param_names(cls) -> list[str]:
        code = cls.__init__.__code__
        return list(code.co_varnames[1 : code.co_argcount])

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters, by name (``deep`` is accepted for scikit-learn; nothing is nested)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> SparseAutoencoder:
        """Set hyper-parameters by name; unknown names raise ValueError. Returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for SparseAutoencoder; "
                    f"valid parameters are {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = type(self)().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k]]
        return f"SparseAutoencoder({', '.join(changed)})"

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "W1_")

    # ----------------------------------------------------------------- validation
    def _objective(self) -> Objective:
        return Objective(
            rho=self.rho,
            beta=self.beta,
            weight_decay=self.weight_decay,
            penalty=self.penalty,
            activation=self.activation,
            output=self.output,
        )

    def _check_hyperparameters(self) -> Objective:
        """Every hyper-parameter, checked at fit (scikit-learn's convention); the Objective."""
        for name in ("n_hidden", "max_iter", "batch_size"):
            check_int(name, getattr(self, name))
        check_real("learning_rate", self.learning_rate, minimum=0, strict=True)
        if self.solver not in SOLVERS:
            raise ValueError(f"solver={self.solver!r} is not one of {', '.join(map(repr, SOLVERS))}")
        if self.backend != "auto" and self.backend not in BACKENDS:
            allowed = ", ".join(map(repr, ["auto", *BACKENDS]))
            raise ValueError(f"backend={self.backend!r} is not one of {allowed}")
        check_int("seed", self.seed, minimum=0)
        return self._objective()

    def _check_fitted(self) -> None:
        if not hasattr(self, "W1_"):
            raise NotFittedError(
                "This SparseAutoencoder instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _check_input(self, X: object) -> np.ndarray:
        """``X (m, n_features_in_)``, real and finite. Values are not range-checked here: a sigmoid
        output limits what can be *learned*, not what can be encoded."""
        self._check_fitted()
        return check_data(X, _ANY_RANGE, self.n_features_in_)

    @property
    def params_(self) -> Params:
        """The fitted ``W1_, b1_, W2_, b2_`` as a :class:`tinysae.objective.Params`."""
        self._check_fitted()
        return Params(self.W1_, self.b1_, self.W2_, self.b2_)

    # ----------------------------------------------------------------- fitting
    def fit(self, X: object, y: object = None) -> SparseAutoencoder:
        """Learn ``W1_, b1_, W2_, b2_`` from ``X (m, n)`` (``y`` is ignored). Returns ``self``.

        Starts from UFLDL's initialisation (``seed``) and runs ``solver`` for ``max_iter``
        iterations (L-BFGS) or epochs (Adam). ``objective_`` is the
        :class:`~tinysae.objective.Objective` it minimised, ``history_`` the run's
        :class:`tinysae.train.History`, ``n_iter_`` its length, ``stop_reason_`` why it ended.
        """
        objective = self._check_hyperparameters()
        X = check_data(X, objective)
        n = X.shape[1]
        params = init_params(n, int(self.n_hidden), seed=int(self.seed))
        if self.solver == "lbfgs":
            options: dict[str, Any] = {"max_iter": int(self.max_iter)}
        else:
            options = {
                "epochs": int(self.max_iter),
                "batch_size": int(self.batch_size),
                "learning_rate": float(self.learning_rate),
                "seed": int(self.seed),
            }
        result = train(
            params, X, objective, solver=self.solver, backend=self.backend, verbose=bool(self.verbose),
            **options,
        )
        self.W1_, self.b1_, self.W2_, self.b2_ = result.params.arrays()
        self.n_features_in_ = n
        self.objective_ = objective
        self.history_ = result.history
        self.n_iter_ = result.n_iter
        self.stop_reason_ = result.stop_reason
        return self

    # ----------------------------------------------------------------- using a fitted model
    def transform(self, X: object) -> np.ndarray:
        """Hidden activations ``H = f(X W1^T + b1)``, shape ``(m, n_hidden)``."""
        X = self._check_input(X)
        return activate(X @ self.W1_.T + self.b1_, self.objective_.activation)

    def fit_transform(self, X: object, y: object = None) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X, y).transform(X)

    def inverse_transform(self, H: object) -> np.ndarray:
        """Decode hidden activations ``H (m, n_hidden)``: ``Xhat = g(H W2^T + b2)``, shape ``(m, n)``."""
        self._check_fitted()
        H = np.asarray(H)
        k = self.W1_.shape[0]
        if H.dtype.kind not in "biuf" or H.ndim != 2 or H.shape[1] != k:
            raise ValueError(f"H must be a real 2-D array (m, n_hidden={k}), got shape {H.shape}, {H.dtype}")
        if not np.all(np.isfinite(H)):
            raise ValueError("H must be finite")
        return activate(H @ self.W2_.T + self.b2_, self.objective_.output)

    def reconstruct(self, X: object) -> np.ndarray:
        """``inverse_transform(transform(X))``: the autoencoder's output ``Xhat (m, n)``."""
        return self.inverse_transform(self.transform(X))

    def score(self, X: object, y: object = None) -> float:
        r"""Minus the mean reconstruction error, :math:`-\frac{1}{2m}\sum_i\lVert\hat x_i - x_i\rVert^2`."""
        X = self._check_input(X)
        Xhat = self.reconstruct(X)
        return -float(np.sum((Xhat - X) ** 2) / (2 * X.shape[0]))

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` (a ``.npz``): format name and version, the
        hyper-parameters as a JSON string, ``W1, b1, W2, b2`` and the training history."""
        self._check_fitted()
        arrays = {
            "format": np.array(_FORMAT_NAME),
            "format_version": np.array(FORMAT_VERSION),
            "hyperparameters": np.array(json.dumps(self.get_params())),
            "W1": self.W1_,
            "b1": self.b1_,
            "W2": self.W2_,
            "b2": self.b2_,
            "stop_reason": np.array(self.stop_reason_),
        }
        arrays.update({f"history_{k}": v for k, v in self.history_.as_arrays().items()})
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SparseAutoencoder:
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
        if "format" not in arrays or str(arrays["format"]) != _FORMAT_NAME:
            raise ValueError(f"{where} is not a tinysae model file (no format={_FORMAT_NAME!r} entry)")
        version = arrays.get("format_version")
        readable = version is not None and version.shape == () and version.dtype.kind in "iu"
        if not readable or version != FORMAT_VERSION:
            raise ValueError(f"{where} has format version {version}; this tinysae reads {FORMAT_VERSION}")
        try:
            hyper = json.loads(str(arrays["hyperparameters"]))
            model = cls().set_params(**hyper)
            objective = model._check_hyperparameters()
            params = Params(*(arrays[key] for key in _PARAM_KEYS))
            history = History.from_arrays({k: arrays[f"history_{k}"] for k in History.__dataclass_fields__})
            stop_reason = str(arrays["stop_reason"])
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where} is a damaged tinysae model file: {exc}") from exc
        if params.n_hidden != model.n_hidden:
            raise ValueError(
                f"{where} is inconsistent: W1 has {params.n_hidden} rows, n_hidden={model.n_hidden}"
            )
        model.W1_, model.b1_, model.W2_, model.b2_ = params.arrays()
        model.n_features_in_ = params.n_visible
        model.objective_ = objective
        model.history_ = history
        model.n_iter_ = len(history)
        model.stop_reason_ = stop_reason
        return model
