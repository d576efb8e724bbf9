r"""How much do learned filters look like localised, oriented edge detectors?

Each row of ``W1 (k, n)`` is a filter: an ``h x w`` patch with ``n = h w`` pixels. Trained on
natural-image patches, a sparse autoencoder's filters become Gabor-like edge detectors (the
classic UFLDL result); at the random initialisation they are white noise. Two numbers in
[0, 1] tell the two apart, per filter:

**Orientation selectivity.** With the filter's mean removed, take its 2-D power spectrum
:math:`P(f) = |\mathcal{F}w(f)|^2` (zero-padded to ``pad x pad`` for a smoother spectrum) and
the orientation :math:`\theta(f) = \operatorname{atan2}(f_y, f_x)` of each frequency. Orientation
is an axis, so angles are doubled (:math:`\theta` and :math:`\theta + \pi` are the same edge):

.. math::

    \mathrm{OSI} = \frac{\left|\sum_f P(f)\, e^{2 i \theta(f)}\right|}{\sum_f P(f)}

1 when all the energy lies along one orientation (a straight edge or grating), near 0 when it
is spread over all orientations (noise, blobs).

**Spatial localisation.** The fraction of the filter's energy :math:`\sum w^2` inside its
strongest ``window x window`` neighbourhood (default 4 x 4, a quarter of an 8 x 8 patch):
``window**2 / n`` plus a little for white noise, near 1 for a filter confined to one spot.

:func:`edge_score` is their product, high only for filters that are both oriented and local.

Two measures of what the variants learn sit beside them: :func:`psnr`, how close a denoised
image is to the clean one, and :func:`jacobian_norm`, how much an encoder's code moves when its
input moves (what a contractive autoencoder keeps small), measured by finite differences.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class FilterScores(NamedTuple):
    """Per-filter measures (each of shape ``(k,)``) and their means."""

    orientation: np.ndarray
    localisation: np.ndarray
    edge: np.ndarray

    def summary(self) -> str:
        """``orientation 0.61  localisation 0.72  edge 0.45`` (means over filters)."""
        return (
            f"orientation {self.orientation.mean():.3f}  localisation {self.localisation.mean():.3f}  "
            f"edge {self.edge.mean():.3f}"
        )


def as_filters(W1: object, patch_shape: tuple[int, int] | None = None) -> np.ndarray:
    """``W1 (k, n)`` as a stack of images ``(k, h, w)``; square patches unless ``patch_shape``."""
    W1 = np.asarray(W1, dtype=np.float64)
    if W1.ndim != 2 or W1.shape[0] == 0:
        raise ValueError(f"W1 must be 2-D (k filters, n pixels) with k >= 1, got shape {W1.shape}")
    k, n = W1.shape
    if patch_shape is None:
        side = int(round(np.sqrt(n)))
        if side * side != n:
            raise ValueError(f"W1 has n={n} pixels per filter, not a square; pass patch_shape=(h, w)")
        patch_shape = (side, side)
    h, w = patch_shape
    if h * w != n:
        raise ValueError(f"patch_shape={patch_shape} holds {h * w} pixels but W1 has n={n} columns")
    if not np.all(np.isfinite(W1)):
        raise ValueError("W1 holds NaN or inf")
    return W1.reshape(k, h, w)


def orientation_selectivity(
    W1: object, patch_shape: tuple[int, int] | None = None, pad: int = 32
) -> np.ndarray:
    r"""Per filter, :math:`|\sum_f P(f) e^{2i\theta(f)}| / \sum_f P(f)` in [0, 1] (module docstring)."""
    filters = as_filters(W1, patch_shape)
    k, h, w = filters.shape
    pad = max(pad, h, w)
    centred = filters - filters.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(centred, s=(pad, pad))) ** 2  # (k, pad, pad)
    fy = np.fft.fftfreq(pad)[:, None]
    fx = np.fft.fftfreq(pad)[None, :]
    doubled = np.exp(2j * np.arctan2(fy, fx))  # e^{2 i theta(f)}, (pad, pad); DC has angle 0
    doubled[0, 0] = 0.0  # the DC term carries no orientation (and is ~0 after centring)
    total = power.sum(axis=(1, 2))
    resultant = np.abs((power * doubled).sum(axis=(1, 2)))
    return np.divide(resultant, total, out=np.zeros(k), where=total > 0)


def spatial_localisation(
    W1: object, patch_shape: tuple[int, int] | None = None, window: int = 4
) -> np.ndarray:
    """Per filter, the largest fraction of :math:`\\sum w^2` inside any ``window x window`` square."""
    filters = as_filters(W1, patch_shape)
    k, h, w = filters.shape
    wy, wx = min(window, h), min(window, w)
    energy = filters**2
    # Summed-area table: the energy of every window in four lookups.
    table = np.zeros((k, h + 1, w + 1))
    table[:, 1:, 1:] = energy.cumsum(axis=1).cumsum(axis=2)
    windows = table[:, wy:, wx:] - table[:, :-wy, wx:] - table[:, wy:, :-wx] + table[:, :-wy, :-wx]
    total = energy.sum(axis=(1, 2))
    best = windows.reshape(k, -1).max(axis=1)
    return np.divide(best, total, out=np.zeros(k), where=total > 0)


def edge_score(W1: object, patch_shape: tuple[int, int] | None = None) -> FilterScores:
    """Orientation selectivity, spatial localisation and their product, per filter."""
    orientation = orientation_selectivity(W1, patch_shape)
    localisation = spatial_localisation(W1, patch_shape)
    return FilterScores(orientation, localisation, orientation * localisation)


def psnr(estimate: object, clean: object, peak: float = 1.0) -> float:
    r"""Peak signal-to-noise ratio in dB, :math:`10\log_{10}(\mathrm{peak}^2 / \mathrm{MSE})`, of
    ``estimate`` against ``clean`` (same shape; images in [0, ``peak``])."""
    estimate, clean = np.asarray(estimate, dtype=np.float64), np.asarray(clean, dtype=np.float64)
    if estimate.shape != clean.shape:
        raise ValueError(f"psnr: estimate has shape {estimate.shape}, clean {clean.shape}; they must match")
    return float(10 * np.log10(peak**2 / np.mean((estimate - clean) ** 2)))


def jacobian_norm(transform: Callable[[np.ndarray], np.ndarray], X: object, h: float = 1e-5) -> float:
    r"""The mean over the rows ``x`` of ``X (m, n)`` of :math:`\lVert \partial\,
    \mathrm{transform}(x) / \partial x\rVert_F^2`, each column of the Jacobian by central
    differences, :math:`(\mathrm{transform}(x + h e_i) - \mathrm{transform}(x - h e_i)) / 2h`
    (``2 n`` calls' worth of rows, made as two calls)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"jacobian_norm: X must be 2-D (m, n), got shape {X.shape}")
    m, n = X.shape
    steps = np.eye(n) * h
    plus = (X[:, None, :] + steps[None]).reshape(-1, n)
    minus = (X[:, None, :] - steps[None]).reshape(-1, n)
    J = (np.asarray(transform(plus)) - np.asarray(transform(minus))).reshape(m, n, -1) / (2 * h)
    return float(np.mean(np.sum(J**2, axis=(1, 2))))
