"""Argument checks shared by the whole package.

Each check returns the value in a plain Python type or raises an error that names the argument,
what it got, and what was expected: ``TypeError`` for the wrong kind of value, ``ValueError``
for the right kind out of range.
"""

from __future__ import annotations

import math

import numpy as np


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer ``>= minimum`` (``bool`` is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value: object, minimum: float | None = None, *, strict: bool = False) -> float:
    """``value`` as a finite ``float``, ``>= minimum`` (or ``> minimum`` when ``strict``) if given."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {value:g}")
    return value


def check_adam_settings(
    learning_rate: object, beta1: object, beta2: object, eps: object
) -> tuple[float, float, float, float]:
    """Adam's step size ``> 0``, moment decays in ``[0, 1)`` and ``eps >= 0``, as floats."""
    learning_rate = check_real("learning_rate", learning_rate, minimum=0, strict=True)
    betas = []
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        beta = check_real(name, beta, minimum=0)
        if beta >= 1:
            raise ValueError(f"{name} must be < 1, got {beta:g}")
        betas.append(beta)
    return learning_rate, betas[0], betas[1], check_real("eps", eps, minimum=0)


def check_seed(seed: object) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed ``>= 0`` (same seed, same draws), ``None``
    (fresh entropy) or a Generator (used as it is)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    return np.random.default_rng(check_int("seed", seed, minimum=0))


#: Seeds drawn for a fit from a Generator (or from fresh entropy) lie in ``[0, SEED_BOUND)``.
SEED_BOUND = 2**32


def check_random_state(value: object, name: str = "random_state") -> int | np.random.Generator | None:
    """``value`` if it is a random state an estimator accepts: ``None`` (fresh entropy), an int
    ``>= 0`` (returned as an ``int``) or a ``numpy.random.Generator`` (returned as it is)."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name} must be None, an int >= 0 or a numpy.random.Generator, "
            f"got {type(value).__name__} {value!r}"
        )
    return check_int(name, value, minimum=0)


def seed_from_random_state(value: object, name: str = "random_state") -> int:
    """The int seed of one run from a random state (see :func:`check_random_state`): an int is
    its own seed (same int, same run); a Generator gives one draw in ``[0, SEED_BOUND)`` (so
    each call with it draws afresh); ``None`` one such draw from fresh entropy."""
    value = check_random_state(value, name)
    if isinstance(value, int):
        return value
    return int(np.random.default_rng(value).integers(SEED_BOUND))
