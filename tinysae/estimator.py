r"""The estimators: one base class for every model, and ``SparseAutoencoder``, the classic.

:class:`AutoencoderEstimator` is a scikit-learn transformer. When scikit-learn is installed it
derives from ``sklearn.base.TransformerMixin`` and ``BaseEstimator`` (so ``get_params``,
``set_params``, the repr, ``clone``, ``set_output``, tags and pipelines are scikit-learn's own,
and ``sklearn.utils.estimator_checks`` passes, see ``tests/test_sklearn.py``); without it (the
core package does not need it) a small fallback keeps ``get_params`` / ``set_params`` and the
repr. Either way it follows scikit-learn's conventions: hyper-parameters are stored unchanged
by ``__init__`` and checked by ``fit``; ``fit`` returns ``self``; what is learned ends with an
underscore (``params_``, ``model_``, ``history_``, ``n_features_in_``, ``feature_names_in_``
when fit on a DataFrame with string column names, ``n_iter_``, ``stop_reason_``, ``seed_``),
and only those are used after fitting; ``random_state`` (an int, a ``numpy.random.Generator``
or None) seeds a fit: same int, same model. A subclass names its model's hyper-parameters in
its ``__init__`` and builds the model in ``_build_model``; training (L-BFGS or Adam, any backend
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
import math
import os
import sys
import warnings
from typing import Any

import numpy as np

from tinysae.autograd import Tensor
from tinysae.backends import BACKENDS
from tinysae.models import Model
from tinysae.models.classic import ClassicSAE
from tinysae.objective import Objective
from tinysae.params import Params
from tinysae.terms import Penalty
from tinysae.train import SOLVERS, History, train
from tinysae.validation import check_int, check_random_state, check_real, seed_from_random_state

#: Version of the ``.npz`` layout written by :meth:`AutoencoderEstimator.save`. Version 1 kept
#: the classic's three terms under fixed names; version 2 stored the parameters by name and
#: ``n_features_in``; version 3 names the seed hyper-parameter ``random_state`` (``seed`` before)
#: and adds the writer's ``tinysae_version``, the fit's ``seed`` and ``feature_names_in``. All
#: three are read; a newer version is refused with a message saying so.
FORMAT_VERSION = 3
_READABLE_VERSIONS = (1, 2, 3)


class _FallbackBaseEstimator:
    """``get_params`` / ``set_params`` / repr when scikit-learn is not installed (what its
    ``BaseEstimator`` gives otherwise)."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        code = cls.__init__.__code__
        return list(code.co_varnames[1 : code.co_argcount])

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters, by name (``deep`` is accepted for scikit-learn; nothing is nested)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> _FallbackBaseEstimator:
        """Set hyper-parameters by name; unknown names raise ValueError. Returns ``self``."""
        valid = self._get_param_names()
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
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, defaults[k])]
        return f"{type(self).__name__}({', '.join(changed)})"


class _FallbackTransformerMixin:
    """Stands for ``sklearn.base.TransformerMixin`` (``fit_transform`` is the estimators' own)."""


try:  # scikit-learn is optional (the dev extra): its base classes when it is there
    from sklearn.base import BaseEstimator as _BaseEstimator
    from sklearn.base import TransformerMixin as _TransformerMixin
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
except ImportError:
    _BaseEstimator = _FallbackBaseEstimator  # type: ignore[misc, assignment]
    _TransformerMixin = _FallbackTransformerMixin  # type: ignore[misc, assignment]
    _NOT_FITTED_BASES: tuple[type, ...] = (ValueError, AttributeError)
else:
    _NOT_FITTED_BASES = (_SklearnNotFittedError, ValueError, AttributeError)

#: Whether the estimators derive from scikit-learn's ``TransformerMixin`` and ``BaseEstimator``.
SKLEARN_BASES = _BaseEstimator is not _FallbackBaseEstimator


class NotFittedError(*_NOT_FITTED_BASES):
    """The estimator was used before ``fit``: a ``ValueError`` and an ``AttributeError``, and
    ``sklearn.exceptions.NotFittedError`` when scikit-learn is installed."""


def _same(a: object, b: object) -> bool:
    """Whether two hyper-parameter values are the same (a Generator is only ever itself)."""
    if a is b:
        return True
    if isinstance(a, np.random.Generator) or isinstance(b, np.random.Generator):
        return False
    try:
        return bool(a == b)
    except Exception:  # an object whose == is not a truth value
        return False


def _plain(value: object) -> object:
    """A hyper-parameter as a plain JSON value (numpy scalars become Python's), or TypeError."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        return float(value)
    if isinstance(value, (tuple, list)):  # e.g. a stack's hidden sizes; read back as a tuple
        return [_plain(item) for item in value]
    raise TypeError(type(value).__name__)


def _column_names(X: object) -> np.ndarray | None:
    """The column names of a DataFrame-like ``X`` (pandas, polars) when all are strings (the rule
    of scikit-learn's ``feature_names_in_``), as an object array; else None."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    names = list(columns)
    if not names or not all(isinstance(name, str) for name in names):
        return None
    return np.asarray(names, dtype=object)


def _is_scipy_sparse(X: object) -> bool:
    """Whether ``X`` is a scipy sparse matrix or array, without importing ``scipy.sparse``, which
    took 0.26 s of ``tinysae train``'s start on a 2-core machine (``python -X importtime``): no
    such object exists until it is imported."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(X)


def _as_matrix(X: object, name: str) -> np.ndarray:
    """``X`` as a dense, 2-D, finite float array with at least one row and one column: float32
    and float64 are kept, other real dtypes (bool, ints, other floats, an object array of numbers)
    become float64. Anything else raises TypeError or ValueError saying what was wrong."""
    if _is_scipy_sparse(X):
        raise TypeError(
            f"{name} is a scipy sparse {type(X).__name__}; the estimators need dense data: "
            f"pass {name}.toarray()"
        )
    try:
        array = np.asarray(X)
    except (TypeError, ValueError) as exc:  # e.g. ragged nested lists
        raise ValueError(f"{name} cannot be read as an array of numbers: {exc}") from exc
    if array.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {array.dtype}; it must be real")
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold real numbers, but its object array holds other values: "
                            f"{exc}") from exc
    elif array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        got = "a scalar" if array.ndim == 0 else f"a {array.ndim}-D array of shape {array.shape}"
        hint = (f". Reshape your data with {name}.reshape(-1, 1) if it has a single feature or "
                f"{name}.reshape(1, -1) if it is a single sample" if array.ndim == 1 else "")
        raise ValueError(f"{name} must be 2-D (m samples, n features), got {got}{hint}")
    for axis, what in ((0, "sample"), (1, "feature")):
        if array.shape[axis] == 0:
            raise ValueError(
                f"{name} has 0 {what}(s) (shape={array.shape}) while a minimum of 1 is required."
            )
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        i, j = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} must be finite (no NaN or inf), but {name}[{i}, {j}] = {array[i, j]}")
    return array


class AutoencoderEstimator(_TransformerMixin, _BaseEstimator):
    """Base class of tinysae's estimators: a model built by ``_build_model``, trained by ``fit``.

    Subclasses list every hyper-parameter as an ``__init__`` argument stored unchanged
    (scikit-learn's rule), including the training settings ``solver, max_iter, batch_size,
    learning_rate, backend, random_state, verbose`` that this base reads, and define
    ``_build_model(n_features) -> Model``. The model's ``encode(params, X)`` and
    ``decode(params, H)`` (engine tensors in, named nodes out, with ``"H"`` and ``"Xhat"``)
    give :meth:`transform` and :meth:`inverse_transform`; its ``n_hidden`` is the code's width.

    Inputs may be anything ``numpy.asarray`` reads as a real 2-D array (a DataFrame too: with
    string column names they become ``feature_names_in_``, and later inputs must have the same);
    float32 and float64 are kept, other real dtypes become float64; sparse, complex, non-finite
    or empty data raise a ValueError or TypeError saying what is wrong.
    """

    # ----------------------------------------------------------------- scikit-learn protocol
    def __sklearn_tags__(self) -> Any:  # a sklearn.utils.Tags
        """scikit-learn's tags (read by scikit-learn only): a transformer of dense, finite data
        that needs fitting; its codes keep float64 input's dtype, and float32's with Adam, which
        trains in the data's dtype (L-BFGS trains in float64)."""
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = (
            ["float64", "float32"] if self.solver == "adam" else ["float64"]
        )
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of :meth:`transform`'s columns, the hidden units: ``"<class name>0"``,
        ``"<class name>1"``, ... in lower case (``sparseautoencoder0``, as scikit-learn's
        ``ClassNamePrefixFeaturesOutMixin`` names them). ``input_features``, if given, must have
        ``n_features_in_`` names, equal to ``feature_names_in_`` when the fit saw names."""
        self._check_fitted()
        if input_features is not None:
            given = np.asarray(input_features, dtype=object)
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and not np.array_equal(fitted, given):
                raise ValueError(
                    f"input_features is not equal to feature_names_in_: got {given.tolist()}, "
                    f"the fit saw {fitted.tolist()}"
                )
            if given.ndim != 1 or len(given) != self.n_features_in_:
                raise ValueError(
                    f"input_features should have length equal to number of features "
                    f"({self.n_features_in_}), got {given.tolist()!r}"
                )
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.model_.n_hidden)], dtype=object)

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
        check_random_state(self.random_state)

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                "arguments before using this estimator."
            )

    def _check_feature_names(self, names: np.ndarray | None) -> None:
        """Compare an input's column names with the fit's (scikit-learn's messages)."""
        fitted = getattr(self, "feature_names_in_", None)
        cls = type(self).__name__
        if names is None and fitted is None:
            return
        if fitted is None:
            warnings.warn(f"X has feature names, but {cls} was fitted without feature names",
                          UserWarning, stacklevel=4)
            return
        if names is None:
            warnings.warn(f"X does not have valid feature names, but {cls} was fitted with feature names",
                          UserWarning, stacklevel=4)
            return
        if len(names) == len(fitted) and np.array_equal(names, fitted):
            return

        def listed(items: list[str]) -> str:
            return "".join(f"- {item}\n" for item in items[:5]) + ("- ...\n" if len(items) > 5 else "")

        message = "The feature names should match those that were passed during fit.\n"
        unexpected = sorted(set(names) - set(fitted))
        missing = sorted(set(fitted) - set(names))
        if unexpected:
            message += "Feature names unseen at fit time:\n" + listed(unexpected)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + listed(missing)
        if not unexpected and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)

    def _check_input(self, X: object) -> np.ndarray:
        """``X (m, n_features_in_)``, real and finite, for a fitted model. Values are not
        range-checked here: a sigmoid output limits what can be *learned*, not what can be encoded."""
        self._check_fitted()
        self._check_feature_names(_column_names(X))
        X = _as_matrix(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )
        return X

    def _leaves(self) -> dict[str, Tensor]:
        return {name: Tensor(array, name=name) for name, array in self.params_.items()}

    # ----------------------------------------------------------------- fitting
    def fit(self, X: object, y: object = None) -> AutoencoderEstimator:
        """Learn ``params_`` from ``X (m, n)`` (``y`` is ignored). Returns ``self``.

        Starts from the model's initialisation and runs ``solver`` for ``max_iter`` iterations
        (L-BFGS) or epochs (Adam). Both draw from ``seed_``: ``random_state`` itself when it is
        an int (same int, same model), else one draw from it (a Generator) or from fresh entropy
        (None), made once per fit. ``model_`` is the model it trained, ``history_`` the run's
        :class:`tinysae.train.History`, ``n_iter_`` its length, ``stop_reason_`` why it ended.
        """
        hyperparameters = self.get_params(deep=False)
        self._check_training_settings()
        X, names = self._fit_data(X)
        model = self._build_model(X.shape[1])
        model.check_inputs(X)
        seed = seed_from_random_state(self.random_state)
        params = model.init_params(seed=seed)
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
            seed=seed, **options,
        )
        self._set_fitted(model, result.params, X.shape[1], result.history, result.stop_reason,
                         seed=seed, feature_names=names, hyperparameters=hyperparameters)
        return self

    def _fit_data(self, X: object) -> tuple[np.ndarray, np.ndarray | None]:
        """The training data as the model's matrix ``(m, n)``, and its column names (or None)."""
        return _as_matrix(X, "X"), _column_names(X)

    def _set_fitted(self, model: Model, params: Params, n_features: int, history: History,
                    stop_reason: str, *, seed: int, feature_names: np.ndarray | None,
                    hyperparameters: dict[str, Any]) -> None:
        self.model_ = model
        self.params_ = params
        self.n_features_in_ = n_features
        if feature_names is None:
            self.__dict__.pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = feature_names
        self.history_ = history
        self.n_iter_ = len(history)
        self.stop_reason_ = stop_reason
        self.seed_ = seed
        self._fit_hyperparameters = hyperparameters  # what save writes, and checks are unchanged

    # ----------------------------------------------------------------- using a fitted model
    def _encode(self, X: np.ndarray) -> np.ndarray:
        return self.model_.encode(self._leaves(), Tensor(X, name="X"))["H"].data

    def _decode(self, H: np.ndarray) -> np.ndarray:
        return self.model_.decode(self._leaves(), Tensor(H, name="H"))["Xhat"].data

    def transform(self, X: object) -> np.ndarray:
        """The hidden code ``H (m, n_hidden)`` of ``X (m, n_features_in_)``, by the model's encoder."""
        return self._encode(self._check_input(X))

    def fit_transform(self, X: object, y: object = None) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X, y).transform(X)

    def inverse_transform(self, H: object) -> np.ndarray:
        """Decode hidden codes ``H (m, n_hidden)`` into reconstructions ``Xhat (m, n)``."""
        self._check_fitted()
        H = _as_matrix(H, "H")
        k = self.model_.n_hidden
        if H.shape[1] != k:
            raise ValueError(
                f"H has {H.shape[1]} columns, but {type(self).__name__}'s code has n_hidden={k} columns"
            )
        return self._decode(H)

    def reconstruct(self, X: object) -> np.ndarray:
        """``inverse_transform(transform(X))``: the autoencoder's output ``Xhat (m, n)``."""
        return self._decode(self._encode(self._check_input(X)))

    def score_samples(self, X: object) -> np.ndarray:
        r"""Minus each sample's squared reconstruction error, :math:`-\lVert \hat x_i - x_i\rVert^2`,
        shape ``(m,)`` (higher means more normal, as in scikit-learn)."""
        X = self._check_input(X)
        return -np.sum((self._decode(self._encode(X)) - X) ** 2, axis=1)

    def score(self, X: object, y: object = None) -> float:
        r"""Minus the mean reconstruction error, :math:`-\frac{1}{2m}\sum_i\lVert\hat x_i - x_i\rVert^2`."""
        return float(np.mean(self.score_samples(X)) / 2)

    # ----------------------------------------------------------------- persistence
    def _format_name(self) -> str:
        return f"tinysae.{type(self).__name__}"

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """What a subclass learns beyond the parameters (a classifier's ``classes_``), for :meth:`save`."""
        return {}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        """Read back what :meth:`_extra_arrays` wrote, before :meth:`load` builds the model."""

    def _hyperparameters_to_save(self) -> dict[str, object]:
        """The hyper-parameters as plain JSON values, or ValueError saying why they cannot be."""
        cls = type(self).__name__
        current = self.get_params(deep=False)
        for name, value in current.items():
            if isinstance(value, Penalty):
                raise ValueError(
                    f"{cls}.save cannot store the {name} {value!r}: a model file holds data only, never "
                    "code. Save the parameters yourself (model.params_)."
                )
        fitted = getattr(self, "_fit_hyperparameters", current)
        changed = [name for name, value in current.items() if not _same(value, fitted.get(name))]
        # the int seed this fit drew is an exact description of its random_state
        if changed == ["random_state"] and _same(current["random_state"], self.seed_) \
                and not isinstance(fitted["random_state"], (int, np.integer)):
            changed = []
        if changed:
            diffs = ", ".join(f"{name}={fitted.get(name)!r} at fit, {current[name]!r} now"
                              for name in changed)
            raise ValueError(
                f"{cls}.save: the hyper-parameters changed since fit ({diffs}); the file would describe a "
                "model that was not trained with them. Fit again, or set them back, before saving."
            )
        if isinstance(current["random_state"], np.random.Generator):
            raise ValueError(
                f"{cls}.save cannot store random_state={current['random_state']!r}: a Generator's state "
                f"is not a plain JSON value. This fit drew the seed {self.seed_} from it, which reproduces "
                f"this model: call model.set_params(random_state=model.seed_) (no refit needed), then save."
            )
        plain = {}
        for name, value in current.items():
            try:
                plain[name] = _plain(value)
            except TypeError:
                raise ValueError(
                    f"{cls}.save cannot store the hyper-parameter {name}={value!r}: a model file holds "
                    "plain JSON values only (None, bool, int, finite float, str)"
                ) from None
        return plain

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` (a ``.npz``): the format name and version, the
        writing tinysae's version, the hyper-parameters as a JSON string, the parameters by name,
        the training history and stop reason, the fit's ``seed_`` and ``feature_names_in_``.
        :meth:`load` gives back an equal estimator (parameters bit for bit, so equal outputs).

        The hyper-parameters are stored as plain JSON: numpy ints, floats and bools become
        Python's. ``save`` refuses, with a ValueError saying why,

        * a custom :class:`~tinysae.Penalty` hyper-parameter: it is code, and a model file holds
          data only (loading never executes anything from the file);
        * hyper-parameters changed by ``set_params`` since the fit: the file would describe a
          model that was not trained with them;
        * a ``numpy.random.Generator`` ``random_state``: its state is not a JSON value, and what
          it would draw next is not what this fit drew. ``set_params(random_state=model.seed_)``
          (the int seed the fit drew from it, which reproduces this model) makes it savable.
        """
        from tinysae import __version__

        self._check_fitted()
        hyperparameters = self._hyperparameters_to_save()
        arrays = {
            "format": np.array(self._format_name()),
            "format_version": np.array(FORMAT_VERSION),
            "tinysae_version": np.array(__version__),
            "hyperparameters": np.array(json.dumps(hyperparameters, allow_nan=False)),
            "param_names": np.array(list(self.params_)),
            "n_features_in": np.array(self.n_features_in_),
            "stop_reason": np.array(self.stop_reason_),
            "seed": np.array(str(self.seed_)),  # a string: any int >= 0, without an object array
        }
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in"] = np.array([str(name) for name in self.feature_names_in_])
        arrays.update(self._extra_arrays())
        arrays.update({f"param_{name}": array for name, array in self.params_.items()})
        arrays.update({f"history_{k}": v for k, v in self.history_.as_arrays().items()})
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AutoencoderEstimator:
        """Read a model written by :meth:`save` (format versions 1 to :data:`FORMAT_VERSION`;
        the ``seed`` hyper-parameter of versions 1 and 2 becomes ``random_state``). Nothing in the
        file is executed (``numpy.load(allow_pickle=False)``, JSON hyper-parameters). A file that
        is not one (corrupted, truncated, another program's, a newer format version) raises
        ValueError saying why."""
        from tinysae import __version__

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
        reads = f"this tinysae ({__version__}) reads format versions 1 to {FORMAT_VERSION}"
        version = arrays.get("format_version")
        if version is None or version.shape != () or version.dtype.kind not in "iu":
            raise ValueError(f"{where} has no readable format version ({version!r}); {reads}")
        version = int(version)
        if version > FORMAT_VERSION:
            writer = arrays.get("tinysae_version")
            known = writer is not None and writer.shape == () and writer.dtype.kind == "U"
            by = f"tinysae {writer}" if known else "a newer tinysae"
            raise ValueError(
                f"{where} has format version {version} (written by {by}), newer than {reads}: "
                "upgrade tinysae to load it"
            )
        if version not in _READABLE_VERSIONS:
            raise ValueError(f"{where} has format version {version}; {reads}")
        try:
            hyper = json.loads(str(arrays["hyperparameters"]))
            if not isinstance(hyper, dict):
                raise ValueError(f"the hyper-parameters are {type(hyper).__name__}, not a JSON object")
            if version < 3 and "seed" in hyper:
                hyper["random_state"] = hyper.pop("seed")
            hyper = {key: tuple(value) if isinstance(value, list) else value for key, value in hyper.items()}
            model = cls().set_params(**hyper)
            model._check_training_settings()
            if version == 1:
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
            if version >= 3:
                seed = check_int("seed", int(str(arrays["seed"])), minimum=0)
            else:
                seed = check_int("seed", model.random_state, minimum=0)
            feature_names = None
            if "feature_names_in" in arrays:
                feature_names = np.asarray([str(name) for name in arrays["feature_names_in"]], dtype=object)
                if feature_names.shape != (n_features,):
                    raise ValueError(f"{len(feature_names)} feature names for {n_features} features")
            model._restore_extra(arrays)
            built = model._build_model(n_features)
            built.check_params(params)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where} is a damaged or inconsistent tinysae model file: {exc}") from exc
        model._set_fitted(built, params, n_features, history, stop_reason, seed=seed,
                          feature_names=feature_names, hyperparameters=model.get_params(deep=False))
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
        ``"lbfgs"`` (full batch, tinysae.lbfgs) or ``"adam"`` (minibatches).
    max_iter:
        L-BFGS iterations, or Adam epochs.
    batch_size, learning_rate:
        Adam's minibatch size and step size (ignored by L-BFGS).
    backend:
        ``"auto"``, ``"numpy"``, ``"autograd"``, ``"numba"`` or ``"cuda"``.
    random_state:
        Seeds the initial weights and Adam's shuffling: an int ``>= 0`` (same int, same model),
        a ``numpy.random.Generator`` (each fit draws its seed from it) or None (fresh entropy).
        ``seed_`` is the int seed a fit used.
    verbose:
        Print a progress line during :meth:`fit` (off by default).

    Attributes
    ----------
    params_, W1_, b1_, W2_, b2_:
        The fitted parameters (:class:`tinysae.Params`, and each array by name).
    model_, objective_:
        The :class:`tinysae.ClassicSAE` trained, and its :class:`tinysae.Objective`.
    n_features_in_:
        ``n``, the number of columns of the data ``fit`` saw.
    feature_names_in_:
        The column names of the data, when ``fit`` saw a DataFrame with string column names.
    history_, n_iter_, stop_reason_:
        The run's :class:`tinysae.History`, its length, and why it ended.
    seed_:
        The int seed of the fit (``random_state``, or the seed drawn from it).
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
        random_state: int | np.random.Generator | None = 0,
        verbose: bool = False,
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
        self.random_state = random_state
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
