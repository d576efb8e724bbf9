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

**The superposition setting's SAE metrics** (codes ``H (m, F)``: ``m`` samples, ``F``
latents; inputs ``X`` and reconstructions ``Xhat (m, d)``): :func:`l0`, the mean number of
latents firing (nonzero) per sample; :func:`normalized_mse`, the squared error over that of
predicting each column's mean (Gao et al. 2024), and :func:`explained_variance`, ``1 -
normalized_mse`` (SAELens); :func:`latent_density`, the fraction of samples each latent
fires on, and from it :func:`dead_fraction` (latents that never fire in the ``m`` samples
given) and :func:`dense_fraction` (latents firing on more than 10% of them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from tinysae.validation import check_real


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


# --- The superposition setting's SAE metrics: codes H (m, F), inputs X and reconstructions Xhat (m, d) ---

#: The density above which a latent counts as dense: firing on more than 10% of samples, the cut-off
#: for "high-frequency" latents (Sun, Engels and Tegmark, "High Frequency Latents Are Features, Not
#: Bugs", ICLR 2025 SLLM workshop: "occur on greater than 10% of tokens", after Rajamanoharan et al.
#: 2024's JumpReLU SAEs, arXiv:2407.14435).
DENSE_THRESHOLD = 0.1


def _check_matrix(name: str, A: object) -> np.ndarray:
    """``A`` as a float64 ``(rows, columns)`` array, both ``>= 1``, real and finite."""
    A = np.asarray(A)
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {A.dtype}")
    if A.ndim != 2 or 0 in A.shape:
        raise ValueError(f"{name} must be 2-D (samples, columns) and non-empty, got shape {A.shape}")
    A = A.astype(np.float64)
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} holds NaN or inf")
    return A


def l0(H: object) -> float:
    r"""The mean number of latents that fire per sample: :math:`\frac{1}{m} \sum_i \#\{j : H_{ij}
    \neq 0\}` for codes ``H (m, F)``. (SAELens counts ``H > 0``: the same for the non-negative
    codes of ReLU, TopK and JumpReLU SAEs.)"""
    H = _check_matrix("H", H)
    return float(np.count_nonzero(H, axis=1).mean())


def normalized_mse(X: object, Xhat: object) -> float:
    r"""OpenAI's normalized MSE: the reconstruction's squared error over that of predicting every
    sample by the mean sample,

    .. math::

        \mathrm{NMSE} = \frac{\sum_{ij} (\hat X_{ij} - X_{ij})^2}{\sum_{ij} (X_{ij} - \bar x_j)^2},
        \qquad \bar x_j = \frac{1}{m} \sum_i X_{ij},

    for ``X, Xhat (m, d)``: 0 for a perfect reconstruction, 1 for the mean predictor. Gao et al.
    2024, "Scaling and evaluating sparse autoencoders" (arXiv:2406.04093), report every MSE
    divided by the error of always predicting the mean activation; their code
    (github.com/openai/sparse_autoencoder, ``sparse_autoencoder/kernels.py``, ``normalized_mse``,
    commit 4965b94 of 2024-06-30) computes ``mse(recon, xs) / mse(xs.mean(dim=0) broadcast, xs)``,
    both means over all ``m d`` entries, which is this ratio. The mean is that of the ``X`` given.
    Raises ValueError when every row of ``X`` is the same (the denominator is 0).
    """
    X = _check_matrix("X", X)
    Xhat = _check_matrix("Xhat", Xhat)
    if X.shape != Xhat.shape:
        raise ValueError(f"X has shape {X.shape} and Xhat {Xhat.shape}; they must match")
    baseline = np.sum((X - X.mean(axis=0)) ** 2)
    if baseline == 0:
        raise ValueError(
            "X has no variance (every row is the same): the mean predictor is exact and the "
            "normalized MSE is undefined"
        )
    return float(np.sum((Xhat - X) ** 2) / baseline)


def explained_variance(X: object, Xhat: object) -> float:
    r"""SAELens's explained variance, ``1 - normalized_mse(X, Xhat)``: the same quantity as
    :func:`normalized_mse`, one minus it (provided under both names because both are looked for),

    .. math::

        \mathrm{EV} = 1 - \frac{\frac{1}{m}\sum_i \lVert \hat x_i - x_i \rVert^2}
                               {\frac{1}{m}\sum_i \lVert x_i - \bar x \rVert^2},

    1 for a perfect reconstruction, 0 for the mean predictor, negative for worse. This is the
    "conventional" definition SAELens adopted in PR #443 (April 2025), as
    ``sae_lens/training/sae_trainer.py`` computes it in SAELens 6.18.0 (github.com/jbloomAus/SAELens,
    now decoderesearch/SAELens): ``1 - per_token_l2_loss.mean() / total_variance.mean()`` with
    ``total_variance = (sae_in - sae_in.mean(0)).pow(2).sum(-1)``. Not SAELens's
    ``explained_variance_legacy``, the mean over samples of per-sample ratios. (In 6.18.0,
    ``sae_lens/evals.py`` subtracts from :math:`\frac{1}{m}\sum_i \lVert x_i\rVert^2` the square
    of the mean of all :math:`X_{ij}^2` instead of :math:`\lVert \bar x\rVert^2`; measured here,
    that gives 0.73 instead of 0 for the mean predictor of 4096 samples of 16-D N(3, I) data.
    SAELens issue #659, fixed by PR #665.)
    """
    return 1.0 - normalized_mse(X, Xhat)


def latent_density(H: object) -> np.ndarray:
    r"""``(F,)``: the fraction of the ``m`` samples on which each latent fires,
    :math:`\frac{1}{m} \#\{i : H_{ij} \neq 0\}`, in [0, 1] (SAELens's ``feature_density``)."""
    H = _check_matrix("H", H)
    return np.count_nonzero(H, axis=0) / H.shape[0]


def dead_fraction(H: object) -> float:
    """The fraction of latents that never fire on the samples given: dead in N samples, N =
    ``len(H)``. A latent that fires once in a million samples looks dead in ten thousand."""
    return float(np.mean(latent_density(H) == 0))


def dense_fraction(H: object, threshold: float = DENSE_THRESHOLD) -> float:
    """The fraction of latents firing on more than ``threshold`` of the samples (strictly;
    default :data:`DENSE_THRESHOLD` = 0.1, the field's cut-off for dense latents)."""
    threshold = check_real("threshold", threshold, minimum=0)
    if threshold >= 1:
        raise ValueError(f"threshold must be a fraction in [0, 1), got {threshold:g}")
    return float(np.mean(latent_density(H) > threshold))
