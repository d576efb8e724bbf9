r"""A ground truth for sparse autoencoders: data made of known features, and how well a
learned dictionary recovers them.

**The data** (:func:`make_sparse_features`). ``F`` true features, unit vectors in ``d``
dimensions (``F > d`` puts them in superposition), are combined sparsely and non-negatively:

.. math::

    X = C\,\Phi, \qquad C_{ij} = f_{ij}\, a_{ij}, \qquad \lVert \Phi_j \rVert = 1,

with ``Phi = features (F, d)``, ``C = codes (m, F)``, ``X (m, d)``. Each of the four parts is
drawn in this order from one seeded generator:

1. **features**: ``Phi_j = g_j / ||g_j||``, ``g_j ~ N(0, I_d)``: uniform on the unit sphere;
2. **firing** ``f_ij`` in {0, 1}: feature ``j`` fires on sample ``i`` with probability ``p_j``
   (``firing_probability``, one number or one per feature, e.g. :func:`power_law_probabilities`
   or :func:`exponential_probabilities`). Firing is thresholded Gaussians (a Gaussian copula,
   the "dichotomised Gaussian"): ``f_ij = [z_ij < Phi_N^{-1}(p_j)]`` with ``z_i ~ N(0, R)``,
   ``R`` a correlation matrix (unit diagonal) and ``Phi_N`` the standard normal CDF. Every
   ``z_ij`` is ``N(0, 1)``, so ``P(f_ij = 1) = p_j`` exactly, whatever ``R``; ``R`` only couples
   the features: two features whose ``z`` are positively correlated fire together more often
   than independent ones would. ``correlation`` sets ``R``:

   * a number ``rho`` in [0, 1]: one shared factor, ``z_ij = sqrt(rho) s_i + sqrt(1 - rho) e_ij``
     with ``s_i, e_ij ~ N(0, 1)``, so ``R = (1 - rho) I + rho 1 1^T`` (0: independent firing,
     as in Sharkey et al.'s uncorrelated setting);
   * a matrix ``R (F, F)``, symmetric positive semi-definite with unit diagonal:
     ``z_i = L e_i`` with ``L = V diag(sqrt(w))`` from ``R = V diag(w) V^T``;

3. **magnitudes** ``a_ij = |N(magnitude, magnitude_std^2)|``, the absolute value of a normal
   draw (a folded normal; every firing feature gets exactly ``magnitude`` when
   ``magnitude_std = 0``), drawn for every entry and kept where ``f_ij = 1``.

The construction follows Sharkey, Braun and Millidge, "Taking features out of superposition
with sparse autoencoders" (interim report, LessWrong / AI Alignment Forum, December 2022),
as their replication code (``replicate_toy_models.py`` in github.com/HoagyC/sparse_coding)
makes it: features uniform on the sphere, per-feature firing probabilities that decay with
the feature's index (``lambda^j``, ``lambda = 0.99``, rescaled to a mean of 5 active
features, with ``G = 512`` features in ``h = 256`` dimensions), correlations through the
normal CDF of correlated Gaussians, magnitudes uniform in [0, 1]. Two departures: their
correlated draw is one Gaussian per batch that rescales every sample's probabilities alike,
where here each sample draws its own ``z_i`` (so each feature keeps its exact marginal
``p_j`` and the correlation is between features within a sample); and the magnitudes are a
folded normal with a chosen mean and spread rather than U(0, 1).
(:func:`tinysae.datasets.make_sparse_sources` is the classic's simpler relative: exactly
``n_active`` features per sample, rescaled into [0, 1] for a sigmoid output.)

**The scores** (Sharkey et al. 2022). With ``components (K, d)`` the learned decoder
directions (any ``K``, any positive scale) and ``cos_jk`` the cosine between true feature
``j`` and learned row ``k``:

.. math::

    \mathrm{MMCS} = \frac{1}{F} \sum_{j=1}^{F} \max_k \cos_{jk}, \qquad
    \text{recovered}(t) = \frac{1}{F} \#\{\, j : \max_k \cos_{jk} > t \,\}.

The mean max cosine similarity is 1 when every true feature has a learned row pointing
exactly its way; :func:`recovered_fraction` counts the features recovered to within ``t``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import ndtri

from tinysae.validation import check_int, check_random_state, check_real, check_seed


class SyntheticData(NamedTuple):
    """Data with known features (module docstring): ``X = codes @ features``."""

    X: np.ndarray  #: ``(m, d)`` the samples
    features: np.ndarray  #: ``(F, d)`` the true features, unit rows
    codes: np.ndarray  #: ``(m, F)`` non-negative; nonzero exactly where a feature fires
    firing_probability: np.ndarray  #: ``(F,)`` each feature's probability ``p_j`` of firing


def power_law_probabilities(n_features: int, expected_l0: float, exponent: float = 1.0) -> np.ndarray:
    r"""Firing probabilities ``p_j = c (j + 1)^{-exponent}``, ``j = 0 .. F-1`` (Zipf's law; 0 is
    uniform), with ``c`` set so ``sum_j p_j = expected_l0``, the mean number of features firing
    per sample. Raises ValueError if that makes the first (most frequent) ``p_0 > 1``."""
    n_features = check_int("n_features", n_features)
    exponent = check_real("exponent", exponent, minimum=0)
    profile = np.arange(1, n_features + 1, dtype=np.float64) ** -exponent
    return _scaled_to_l0(profile, expected_l0)


def exponential_probabilities(n_features: int, expected_l0: float, decay: float = 0.99) -> np.ndarray:
    r"""Firing probabilities ``p_j = c\, \mathrm{decay}^j``, ``j = 0 .. F-1`` (Sharkey et al.
    2022's profile, ``decay = 0.99``), with ``c`` set so ``sum_j p_j = expected_l0``. Raises
    ValueError if that makes ``p_0 > 1``."""
    n_features = check_int("n_features", n_features)
    decay = check_real("decay", decay, minimum=0, strict=True)
    if decay > 1:
        raise ValueError(f"decay must be in (0, 1], got {decay:g}")
    profile = decay ** np.arange(n_features, dtype=np.float64)
    return _scaled_to_l0(profile, expected_l0)


def _scaled_to_l0(profile: np.ndarray, expected_l0: object) -> np.ndarray:
    """``profile (F,)`` scaled to sum to ``expected_l0``, checked to stay a probability."""
    expected_l0 = check_real("expected_l0", expected_l0, minimum=0, strict=True)
    probabilities = profile * (expected_l0 / profile.sum())
    if probabilities.max() > 1:
        raise ValueError(
            f"expected_l0={expected_l0:g} over {profile.size} features makes the most frequent "
            f"feature fire with probability {probabilities.max():.3g} > 1: lower expected_l0, "
            "flatten the profile or add features"
        )
    return probabilities


def make_sparse_features(
    n_samples: int,
    n_features: int,
    n_dims: int,
    *,
    firing_probability: float | np.ndarray = 0.05,
    magnitude: float = 1.0,
    magnitude_std: float = 0.0,
    correlation: float | np.ndarray = 0.0,
    random_state: int | np.random.Generator | None = 0,
) -> SyntheticData:
    """``n_samples`` sparse non-negative combinations of ``n_features`` known unit directions in
    ``n_dims`` dimensions (the construction is in the module docstring).

    Parameters
    ----------
    n_samples, n_features, n_dims:
        ``m``, ``F`` and ``d``, each ``>= 1``.
    firing_probability:
        ``p_j`` in [0, 1]: one number for every feature, or an array ``(F,)``
        (:func:`power_law_probabilities`, :func:`exponential_probabilities`).
    magnitude, magnitude_std:
        A firing feature's coefficient is ``|N(magnitude, magnitude_std^2)|``; ``magnitude > 0``,
        ``magnitude_std >= 0``.
    correlation:
        ``rho`` in [0, 1] (one shared factor) or a correlation matrix ``(F, F)``: the
        correlation of the Gaussians whose thresholds decide which features fire.
    random_state:
        An int ``>= 0`` (same int, same data), a ``numpy.random.Generator`` or None (fresh
        entropy). The features are the generator's first draws, so they depend only on
        ``(random_state, F, d)``, not on ``n_samples``. Seed the model you test with another
        int: ``default_rng(s).normal(size=(K, d))``, ``K >= F``, has the true features' directions
        as its first ``F`` rows when ``s`` is this ``random_state``.

    Returns a :class:`SyntheticData` ``(X, features, codes, firing_probability)``, float64.
    """
    n_samples = check_int("n_samples", n_samples)
    n_features = check_int("n_features", n_features)
    n_dims = check_int("n_dims", n_dims)
    p = _check_probabilities(firing_probability, n_features)
    magnitude = check_real("magnitude", magnitude, minimum=0, strict=True)
    magnitude_std = check_real("magnitude_std", magnitude_std, minimum=0)
    mixing = _correlation_factor(correlation, n_features)
    rng = check_seed(check_random_state(random_state))

    features = rng.standard_normal((n_features, n_dims))
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    fires = _latent_gaussians(rng, n_samples, n_features, mixing) < ndtri(p)
    magnitudes = np.abs(magnitude + magnitude_std * rng.standard_normal((n_samples, n_features)))
    codes = np.where(fires, magnitudes, 0.0)
    return SyntheticData(X=codes @ features, features=features, codes=codes, firing_probability=p)


def _check_probabilities(firing_probability: object, n_features: int) -> np.ndarray:
    """``firing_probability`` as an ``(F,)`` float64 array in [0, 1] (a number is repeated)."""
    p = np.asarray(firing_probability, dtype=np.float64)
    if p.ndim == 0:
        p = np.full(n_features, float(p))
    if p.shape != (n_features,):
        raise ValueError(
            f"firing_probability must be one number or an array of shape (n_features,) = "
            f"({n_features},), got shape {p.shape}"
        )
    if not np.all((p >= 0) & (p <= 1)):  # also refuses NaN
        raise ValueError(f"firing_probability must lie in [0, 1], got values from {p.min()} to {p.max()}")
    return p


def _correlation_factor(correlation: object, n_features: int) -> float | np.ndarray:
    """``rho`` (a float in [0, 1]) or ``L (F, F)`` with ``L L^T = R`` for a correlation matrix."""
    R = np.asarray(correlation, dtype=np.float64)
    if R.ndim == 0:
        rho = check_real("correlation", float(R), minimum=0)
        if rho > 1:
            raise ValueError(f"correlation must be in [0, 1] (or a correlation matrix), got {rho:g}")
        return rho
    if R.shape != (n_features, n_features) or not np.all(np.isfinite(R)):
        raise ValueError(
            f"a correlation matrix must be finite, of shape (n_features, n_features) = "
            f"({n_features}, {n_features}), got shape {R.shape}"
        )
    if not np.allclose(R, R.T, rtol=0, atol=1e-12) or not np.allclose(np.diag(R), 1.0, rtol=0, atol=1e-12):
        raise ValueError("a correlation matrix must be symmetric with ones on its diagonal")
    w, V = np.linalg.eigh(R)
    if w.min() < -1e-10 * n_features:
        raise ValueError(
            f"the correlation matrix is not positive semi-definite: its smallest eigenvalue is {w.min():.3g}"
        )
    return V * np.sqrt(np.clip(w, 0.0, None))


def _latent_gaussians(
    rng: np.random.Generator, n_samples: int, n_features: int, mixing: float | np.ndarray
) -> np.ndarray:
    """``Z (m, F)``, rows ``z_i ~ N(0, R)``: a shared factor for a float ``rho``, else ``E L^T``."""
    if isinstance(mixing, float):
        shared = rng.standard_normal((n_samples, 1))
        own = rng.standard_normal((n_samples, n_features))
        return np.sqrt(mixing) * shared + np.sqrt(1.0 - mixing) * own
    return rng.standard_normal((n_samples, n_features)) @ mixing.T


def max_cosine_similarity(components: object, features: object) -> np.ndarray:
    r"""``(F,)``: for each true feature ``features[j] (d,)``, the largest cosine
    :math:`\max_k \langle c_k, \phi_j\rangle / (\lVert c_k\rVert \lVert\phi_j\rVert)` over the
    rows of ``components (K, d)``. Rows of either may have any positive length; a zero row
    has no direction and is refused."""
    components = _check_directions("components", components)
    features = _check_directions("features", features)
    if components.shape[1] != features.shape[1]:
        raise ValueError(
            f"components have d={components.shape[1]} columns and features d={features.shape[1]}; "
            "both must be rows in the same space"
        )
    cosines = _unit_rows(features) @ _unit_rows(components).T  # (F, K)
    return np.clip(cosines.max(axis=1), -1.0, 1.0)


def mmcs(components: object, features: object) -> float:
    """Mean max cosine similarity (Sharkey et al. 2022): the mean over the true features of
    :func:`max_cosine_similarity`, in [-1, 1]; 1 when each is matched exactly."""
    return float(max_cosine_similarity(components, features).mean())


def recovered_fraction(components: object, features: object, threshold: float = 0.9) -> float:
    """The fraction of true features whose :func:`max_cosine_similarity` is above ``threshold``
    (strictly; ``threshold`` in [-1, 1])."""
    threshold = check_real("threshold", threshold, minimum=-1)
    if threshold > 1:
        raise ValueError(f"threshold must be in [-1, 1] (a cosine), got {threshold:g}")
    return float(np.mean(max_cosine_similarity(components, features) > threshold))


def _check_directions(name: str, rows: object) -> np.ndarray:
    """``rows`` as a float64 ``(n, d)`` array, ``n, d >= 1``, finite, with no zero row."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or 0 in rows.shape:
        raise ValueError(f"{name} must be 2-D (rows, d), at least one row and column, got shape {rows.shape}")
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{name} holds NaN or inf")
    zero = np.flatnonzero(~np.any(rows != 0, axis=1))
    if zero.size:
        raise ValueError(f"{name} row {zero[0]} is zero: it has no direction to compare")
    return rows


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    """Each (nonzero) row divided by its length; scaled by its largest entry first, so rows
    like 1e-200 or 1e200, whose squares under- or overflow, still normalise."""
    rows = rows / np.abs(rows).max(axis=1, keepdims=True)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
