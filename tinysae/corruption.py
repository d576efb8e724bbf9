r"""The corruptions of a denoising autoencoder: what it sees in place of a clean input ``X``.

Each draws from a ``numpy.random.Generator`` and returns a new array of the shape and dtype of
``X (m, n)``; ``level`` sets how much is destroyed:

==============  ======================================================================
name            the corrupted input :math:`\tilde X`
==============  ======================================================================
``gaussian``    :math:`X + \sigma \varepsilon`, :math:`\varepsilon \sim N(0, 1)`, ``level`` is
                :math:`\sigma`; clipped to ``clip`` (the sigmoid output's ``[0, 1]``) when given
``masking``     each entry set to 0 with probability ``level`` (Vincent et al. 2008)
``salt_pepper`` each entry, with probability ``level``, set to the low or the high end of
                ``clip`` (default ``[0, 1]``), each with probability 1/2
==============  ======================================================================
"""

from __future__ import annotations

import numpy as np

from tinysae.validation import check_real

#: The corruptions :func:`corrupt` knows, by name.
CORRUPTIONS = ("gaussian", "masking", "salt_pepper")


def check_corruption(corruption: object, noise_level: object) -> float:
    """``noise_level`` as a float after checking both settings, or a ValueError saying why: the
    masking and salt-and-pepper levels are fractions of entries, in [0, 1]."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f"corruption={corruption!r} is not one of {', '.join(map(repr, CORRUPTIONS))}")
    level = check_real("noise_level", noise_level, minimum=0)
    if corruption != "gaussian" and level > 1:
        raise ValueError(f"noise_level is the fraction of entries {corruption} corrupts: it must lie in "
                         f"[0, 1], got {level}")
    return level


def corrupt(X: np.ndarray, corruption: str, level: float, rng: np.random.Generator,
            clip: tuple[float, float] | None = None) -> np.ndarray:
    """``X`` corrupted by ``corruption`` at ``level`` (see the table above), drawn from ``rng``."""
    level = check_corruption(corruption, level)
    if corruption == "gaussian":
        noisy = X + level * rng.standard_normal(X.shape)
        return (noisy if clip is None else np.clip(noisy, *clip)).astype(X.dtype, copy=False)
    hit = rng.random(X.shape) < level
    if corruption == "masking":
        return np.where(hit, 0.0, X).astype(X.dtype, copy=False)
    low, high = (0.0, 1.0) if clip is None else clip
    salt = rng.random(X.shape) < 0.5
    return np.where(hit, np.where(salt, high, low), X).astype(X.dtype, copy=False)
