"""Backends: one model's objective, computed several ways, each returning the same evaluation.

A backend is a module with two functions (:mod:`tinysae.backends.capabilities`):

* ``supports(model) -> str | None``: None when it implements ``model``, else why not;
* ``evaluate(model, params, batch) -> Evaluation``: ``(loss, grads, terms, rho_hat)``, trusting
  its inputs (validation happens once, here, in :func:`evaluate`).

The registry maps a name to the module's import path, so a backend is imported only when first
asked for and a missing optional dependency (numba-cuda, a GPU) only matters to whoever asks
for that backend.

========  ==========================================  ===============================  ====================
name      module                                      implements                       needs
========  ==========================================  ===============================  ====================
autograd  :mod:`tinysae.backends.autograd_backend`    every model                      tinysae's own engine
numpy     :mod:`tinysae.backends.numpy_ref`           the classic, contractive,        numpy (the reference)
                                                      denoising and convolutional
                                                      ones (kl, l1, none)
numba     :mod:`tinysae.backends.numba_cpu`           the classic, contractive and     numba
                                                      convolutional ones (kl, l1,
                                                      none)
cuda      :mod:`tinysae.backends.numba_cuda`          the classic (kl, l1, none)       numba-cuda and a GPU
========  ==========================================  ===============================  ====================

``backend="auto"`` takes the first of :data:`AUTO_ORDER` that is available here and implements
the model; asking a backend for a model it does not implement raises
:class:`~tinysae.backends.capabilities.UnsupportedModel`, naming the backends that do.
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType

import numpy as np

from tinysae.backends.capabilities import Evaluation, UnsupportedModel
from tinysae.models import Batch, ClassicSAE, Model
from tinysae.objective import Objective, check_data
from tinysae.params import Params

BACKENDS: dict[str, str] = {
    "numpy": "tinysae.backends.numpy_ref",
    "autograd": "tinysae.backends.autograd_backend",
    "numba": "tinysae.backends.numba_cpu",
    "cuda": "tinysae.backends.numba_cuda",
}

#: ``backend="auto"`` takes the first of these that is available and implements the model.
AUTO_ORDER = ("cuda", "numba", "numpy", "autograd")

__all__ = [
    "AUTO_ORDER", "BACKENDS", "BackendUnavailable", "Evaluation", "UnsupportedModel", "available_backends",
    "check_objective", "evaluate", "get_backend", "is_available", "loss_and_grad", "resolve", "supporting",
]


class BackendUnavailable(RuntimeError):
    """Raised when a backend's optional dependency (or device) is missing."""


def _check_name(name: object) -> None:
    if name != "auto" and name not in BACKENDS:
        raise ValueError(f"backend={name!r} is not one of {', '.join(map(repr, ['auto', *BACKENDS]))}")


#: The backend modules imported so far, by name: each public call looks its backend up here
#: instead of going through the import machinery again.
_MODULES: dict[str, ModuleType] = {}


def _module(name: str) -> ModuleType:
    module = _MODULES.get(name)
    if module is None:
        module = _MODULES[name] = importlib.import_module(BACKENDS[name])
    return module


def get_backend(name: str, model: Model | None = None) -> ModuleType:
    """The module implementing backend ``name`` ("auto": the fastest available for ``model``).

    Raises ``ValueError`` for an unknown name, :class:`BackendUnavailable` (saying what to
    install) when the backend cannot run here, and :class:`UnsupportedModel` when ``model`` is
    given and the backend does not implement it.
    """
    _check_name(name)
    if name == "auto":
        return get_backend(resolve_auto(model), model)
    module = _module(name)
    check = getattr(module, "check_available", None)
    if check is not None:
        check()
    if model is not None:
        reason = module.supports(model)
        if reason is not None:
            others = ", ".join(f'"{other}"' for other in supporting(model))
            raise UnsupportedModel(f"{reason}; the backends that implement this model: {others}")
    return module


def supporting(model: Model) -> list[str]:
    """The names of the registered backends that implement ``model`` (available here or not)."""
    names = []
    for name in BACKENDS:
        try:
            module = _module(name)
        except ImportError:
            continue
        if module.supports(model) is None:
            names.append(name)
    return names


def is_available(name: str) -> bool:
    """Whether ``get_backend(name)`` would succeed on this machine."""
    try:
        get_backend(name)
    except (BackendUnavailable, ImportError):
        return False
    return True


def available_backends() -> list[str]:
    """The names of the backends that can run here."""
    return [name for name in BACKENDS if is_available(name)]


def _auto_eligible(name: str) -> bool:
    """Whether ``"auto"`` may pick backend ``name``: a backend module may define
    ``auto_eligible() -> bool`` (the cuda backend says False on the CUDA simulator, which is
    for tests, not speed)."""
    eligible = getattr(_module(name), "auto_eligible", None)
    return eligible is None or bool(eligible())


def resolve_auto(model: Model | None = None) -> str:
    """The name ``backend="auto"`` stands for here: the first backend of :data:`AUTO_ORDER` that
    is available, eligible and (when ``model`` is given) implements ``model``."""
    for name in AUTO_ORDER:
        if not (is_available(name) and _auto_eligible(name)):
            continue
        if model is None or _module(name).supports(model) is None:
            return name
    return "autograd"


def resolve(name: str, model: Model | None = None) -> str:
    """The backend ``name`` stands for: ``"auto"`` resolved by :func:`resolve_auto`, others as given."""
    _check_name(name)
    return resolve_auto(model) if name == "auto" else name


def check_objective(objective: object) -> Objective:
    """``objective`` if it is an :class:`Objective`, else a TypeError."""
    if not isinstance(objective, Objective):
        raise TypeError(f"objective must be a tinysae.Objective, got {type(objective).__name__}")
    return objective


def check_batch(model: Model, batch: object) -> Batch:
    """``batch`` with its inputs (and targets) validated for ``model``: real, finite, 2-D, in range."""
    if not isinstance(batch, Batch):
        raise TypeError(f"batch must be a tinysae.models.Batch, got {type(batch).__name__}")
    X = check_data(batch.inputs)
    model.check_inputs(X)
    T = None
    if batch.targets is not None:
        T = check_data(batch.targets)
        model.check_targets(T, X)
    return Batch(X, T, batch.seed)


def evaluate(model: Model, params: Params, batch: Batch, backend: str = "auto") -> Evaluation:
    """``model``'s objective at ``params`` on ``batch``: ``(loss, grads, terms, rho_hat)``.

    ``backend`` is ``"auto"`` (the fastest that implements the model) or a name of
    :data:`BACKENDS`.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a tinysae.models.Model, got {type(model).__name__}")
    params = model.check_params(params)
    batch = check_batch(model, batch)
    return get_backend(backend, model).evaluate(model, params, batch)


def classic_model(params: Params, objective: Objective) -> ClassicSAE:
    """The :class:`~tinysae.models.ClassicSAE` whose parameters have the shapes of ``params``."""
    if not isinstance(params, Params):
        raise TypeError(f"params must be a tinysae.Params, got {type(params).__name__}")
    W1 = params.get("W1")
    if W1 is None or W1.ndim != 2:
        raise ValueError(f"params must hold W1 (k, n), b1 (k,), W2 (n, k), b2 (n,); got {params!r}")
    return ClassicSAE(W1.shape[1], W1.shape[0], objective)


#: The unsigned integer type of each float type's size, and the bits of 1.0 read as it.
_ONE_BITS = {
    np.dtype(np.float64): (np.uint64, 0x3FF0000000000000),
    np.dtype(np.float32): (np.uint32, 0x3F800000),
}


def _valid_at_a_glance(X: np.ndarray, sigmoid_output: bool) -> bool:
    r"""True when one reduction over the float32/float64 ``X`` shows it finite (and, for a
    sigmoid output, in [0, 1]); False when it may not be, to be decided by the full check.

    Sigmoid output: the largest bit pattern of ``X`` read as unsigned integers is at most that of
    1.0. An IEEE-754 float :math:`x \ge 0` has its sign bit clear and its bits order as the
    numbers do, so :math:`0 \le x \le 1` reads at most the bits of 1.0; a number with the sign
    bit set (:math:`x < 0`, or -0.0, which the full check then accepts), an infinity or a NaN
    (exponent bits all ones) reads more. Other outputs: ``X.sum()`` is finite; a NaN or an infinity
    makes the sum NaN or infinite (an overflowing sum of finite values is left to the full check).
    Measured at the UFLDL shape (10000 x 64) on a shared 2-core machine: 175 us in float64 and
    62 us in float32 for the sigmoid output's test, where ``X.min()`` and ``X.max()`` took 345
    and 118 us; the sum in float32 takes as long as those two (120 us).
    """
    if sigmoid_output:
        unsigned, one = _ONE_BITS[X.dtype]
        return int(X.view(unsigned).max()) <= one
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf, an overflow: no warning, a False
        return math.isfinite(float(X.sum()))


def check_classic_data(model: ClassicSAE, X: object) -> np.ndarray:
    """``X`` validated for the classic ``model``, as :func:`check_batch` does, at the cost of one
    reduction when ``X`` is already a 2-D float32/float64 array.

    When :func:`_valid_at_a_glance` says ``X`` is finite and in range, ``X`` is returned as it
    is (no boolean ``isfinite`` array, no second pass over ``X``). Anything else (another type,
    dtype or shape, or a failed test) goes through :func:`~tinysae.objective.check_data` and
    ``model.check_inputs``, which convert it or raise their error naming the first bad entry.
    """
    if (isinstance(X, np.ndarray) and X.dtype in _ONE_BITS and X.ndim == 2 and X.shape[0] > 0
            and X.shape[1] == model.n_visible and _valid_at_a_glance(X, model.objective.output == "sigmoid")):
        return X
    X = check_data(X)
    model.check_inputs(X)
    return X


def loss_and_grad(
    params: Params, X: np.ndarray, objective: Objective, backend: str = "numpy"
) -> tuple[float, Params]:
    """The classic objective ``J`` at ``params`` on data ``X (m, n)`` and its gradient, as ``(J, grads)``.

    ``grads`` is a :class:`Params` holding ``W1, b1, W2, b2`` (the gradient of each).
    ``backend`` is one of ``"numpy"`` (reference), ``"autograd"``, ``"numba"``, ``"cuda"`` or
    ``"auto"``. For other models, see :func:`evaluate`.

    ``X`` is checked as :func:`evaluate` checks it (2-D, real, finite, in the output's range),
    by :func:`check_classic_data`: the check costs one reduction over ``X`` per call.
    """
    check_objective(objective)
    model = classic_model(params, objective)
    params = model.check_params(params)
    X = check_classic_data(model, X)
    loss, grads, _, _ = get_backend(backend, model).evaluate(model, params, Batch(X))
    return loss, grads
