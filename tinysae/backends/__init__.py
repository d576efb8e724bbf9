"""Backends: one objective, computed several ways, each returning ``(loss, grads)``.

A backend is a module with ``loss_and_grad(params, X, objective) -> (float, Params)`` that
trusts its inputs (validation happens once, here). The registry maps a name to the module's
import path, so a backend is imported only when first asked for and a missing optional
dependency (numba-cuda, a GPU) only matters to whoever asks for that backend.

=========  ==============================================  =======================
name       module                                          needs
=========  ==============================================  =======================
numpy      :mod:`tinysae.backends.numpy_ref`               numpy (the reference)
autograd   :mod:`tinysae.backends.autograd_backend`        tinysae's own engine
numba      :mod:`tinysae.backends.numba_cpu`               numba
cuda       :mod:`tinysae.backends.numba_cuda`              numba-cuda and a GPU
=========  ==============================================  =======================
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from tinysae.objective import Objective, Params, check_data

BACKENDS: dict[str, str] = {
    "numpy": "tinysae.backends.numpy_ref",
    "autograd": "tinysae.backends.autograd_backend",
    "numba": "tinysae.backends.numba_cpu",
    "cuda": "tinysae.backends.numba_cuda",
}

#: ``backend="auto"`` takes the first of these that is available.
AUTO_ORDER = ("cuda", "numba", "numpy")


class BackendUnavailable(RuntimeError):
    """Raised when a backend's optional dependency (or device) is missing."""


def get_backend(name: str) -> ModuleType:
    """The module implementing backend ``name`` ("auto" resolves to the fastest available).

    Raises ``ValueError`` for an unknown name and :class:`BackendUnavailable` (saying what to
    install) when the backend cannot run here.
    """
    if name == "auto":
        return get_backend(resolve_auto())
    if name not in BACKENDS:
        raise ValueError(f"backend={name!r} is not one of {', '.join(map(repr, ['auto', *BACKENDS]))}")
    module = importlib.import_module(BACKENDS[name])
    check = getattr(module, "check_available", None)
    if check is not None:
        check()
    return module


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
    eligible = getattr(importlib.import_module(BACKENDS[name]), "auto_eligible", None)
    return eligible is None or bool(eligible())


def resolve_auto() -> str:
    """The name ``backend="auto"`` stands for here: the first available and eligible backend of
    :data:`AUTO_ORDER`."""
    for name in AUTO_ORDER:
        if is_available(name) and _auto_eligible(name):
            return name
    return "numpy"


def resolve(name: str) -> str:
    """The backend ``name`` stands for: ``"auto"`` resolved by :func:`resolve_auto`, others as given."""
    return resolve_auto() if name == "auto" else name


def check_objective(objective: object) -> Objective:
    """``objective`` if it is an :class:`Objective`, else a TypeError."""
    if not isinstance(objective, Objective):
        raise TypeError(f"objective must be a tinysae.Objective, got {type(objective).__name__}")
    return objective


def check_params(params: object) -> Params:
    """``params`` if it is a :class:`Params` whose arrays are finite, else a clear error."""
    if not isinstance(params, Params):
        raise TypeError(f"params must be a tinysae.Params, got {type(params).__name__}")
    for name, array in zip(("W1", "b1", "W2", "b2"), params.arrays()):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"params.{name} holds NaN or inf")
    return params


def loss_and_grad(
    params: Params, X: np.ndarray, objective: Objective, backend: str = "numpy"
) -> tuple[float, Params]:
    """The objective ``J`` at ``params`` on data ``X (m, n)`` and its gradient, as ``(J, grads)``.

    ``grads`` is a :class:`Params` holding ``dW1, db1, dW2, db2``. ``backend`` is one of
    ``"numpy"`` (reference), ``"autograd"``, ``"numba"``, ``"cuda"`` or ``"auto"``.
    """
    check_objective(objective)
    params = check_params(params)
    X = check_data(X, objective, params.n_visible)
    return get_backend(backend).loss_and_grad(params, X, objective)
