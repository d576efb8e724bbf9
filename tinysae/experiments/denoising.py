"""Denoising: held-out images with Gaussian noise, and how close each method brings them back.

For each noise level :math:`\\sigma` in :data:`SIGMAS`, every held-out image ``x`` (pixels in
[0, 1]) is corrupted to :math:`\\tilde x = \\mathrm{clip}(x + \\sigma\\varepsilon, 0, 1)`,
:math:`\\varepsilon \\sim N(0, I)` drawn from ``numpy.random.default_rng(TEST_NOISE_SEED)`` (the
same draw scaled by each :math:`\\sigma`), and each method's estimate :math:`\\hat x` of the clean
image is measured by the PSNR (:func:`tinysae.metrics.psnr`, peak 1, in dB, higher is better):
:math:`10 \\log_{10}(1 / \\mathrm{MSE})`, the MSE over every pixel of every held-out image.
The methods:

* ``noisy input`` (baseline): :math:`\\hat x = \\tilde x`, no fit;
* ``PCA`` (baseline): :math:`\\hat x = \\mathrm{clip}(\\mu + V_c^T V_c (\\tilde x - \\mu), 0, 1)`, the
  projection on the first ``c`` principal components ``V_c (c, n)`` of the clean training images
  (mean ``mu``), ``c`` the one of 1 to ``min(m, n)`` with the best PSNR on the *training* images
  with the same noise level (drawn from :data:`TRAIN_NOISE_SEED`): chosen without the held-out
  images;
* ``plain autoencoder`` (baseline): ``SparseAutoencoder(n_hidden=128, penalty="none",
  random_state=0)`` (400 L-BFGS iterations), the denoising autoencoder's network without the
  denoising criterion: fit once on the clean training images, fed the noisy ones; its fit's
  seconds are shared equally among the noise levels;
* ``DenoisingAutoencoder``: ``DenoisingAutoencoder(noise_level=sigma, random_state=0)``, its
  defaults (128 sigmoid units, KL sparsity, 200 Adam epochs of 64 images, fresh noise in every
  minibatch), fit on the training images once per noise level; :math:`\\hat x` its
  ``reconstruct``.

Each row is one (method, noise level), its seconds the fit and the scoring (every fit under the
BLAS thread limit of tinysae's fits, :func:`tinysae.threads.fit_threads`); a ``mean`` row per
method gives the mean PSNR over the noise levels. ``denoising_grid.png`` shows the first
held-out image of each of the first :data:`SHOWN` classes: clean, then noisy and denoised by each
method at every noise level.
The settings and seeds are those of ``benchmarks/variants_digits.py``'s denoising part (which
tries only even numbers of PCA components); the runs are deterministic.

``--quick`` fits for a few iterations only (20 L-BFGS, 10 Adam epochs): a smoke run, whose
numbers are not the results. With ``--data mnist`` the methods are fit on a random subsample of
:data:`MNIST_SUBSAMPLE`: 300 training images, and measured on 300 held-out ones. With 784 pixels
that takes longer than the digits: measured twice on random-pixel files of MNIST's format (a
shared 2-core machine), 87 s and 68 s.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinysae.experiments.data import Split
from tinysae.experiments.results import Result, row, summary_rows, timed
from tinysae.metrics import psnr
from tinysae.threads import fit_threads

#: The standard deviations of the Gaussian noise, one setting each.
SIGMAS = (0.1, 0.2, 0.3)
#: The seed of the noise on the held-out images, and of the noise on the training images that
#: chooses PCA's number of components.
TEST_NOISE_SEED = 0
TRAIN_NOISE_SEED = 1
#: The hidden units of both autoencoders.
N_HIDDEN = 128
#: With ``--data mnist``: (training, held-out) images drawn at random (seed 0), full run and quick.
MNIST_SUBSAMPLE = {False: (300, 300), True: (100, 100)}
METRIC = "PSNR, dB"
BASELINES = ("noisy input", "PCA", "plain autoencoder")
#: The figure shows the first held-out image of each of the first ``SHOWN`` classes.
SHOWN = 6
#: The short names of the methods in the figure's row labels.
SHORT = {"noisy input": "noisy", "PCA": "PCA", "plain autoencoder": "plain AE", "DenoisingAutoencoder": "DAE"}


def add_noise(X: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """``clip(X + sigma * eps, 0, 1)`` with ``eps (m, n) ~ N(0, 1)`` from ``default_rng(seed)``."""
    eps = np.random.default_rng(seed).standard_normal(X.shape)
    return np.clip(X + sigma * eps, 0.0, 1.0)


class PCADenoiser:
    """PCA as a denoiser: ``denoise`` projects on the first ``n_components_`` principal components
    of the clean images ``fit`` saw, the number that denoises them best at noise level ``sigma``
    (noise from ``default_rng(seed)``), and clips to [0, 1]."""

    def __init__(self, sigma: float, seed: int) -> None:
        self.sigma = sigma
        self.seed = seed

    def fit(self, X: np.ndarray) -> PCADenoiser:
        from sklearn.decomposition import PCA

        self.pca_ = PCA(svd_solver="full").fit(X)
        scores = self.psnr_by_components(add_noise(X, self.sigma, self.seed), X)
        self.n_components_ = int(np.argmax(scores)) + 1
        return self

    def psnr_by_components(self, noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
        """``(C,)``: entry ``c - 1`` is the PSNR against ``clean`` of ``noisy`` projected on the
        first ``c`` components, for every ``c`` the fit found. The projections are built one
        component at a time: ``rebuilt_c = rebuilt_{c-1} + codes[:, c-1] V[c-1]``."""
        V, mean = self.pca_.components_, self.pca_.mean_
        codes = (noisy - mean) @ V.T  # (m, C)
        rebuilt = np.tile(mean, (noisy.shape[0], 1))
        scores = np.empty(len(V))
        for c in range(len(V)):
            rebuilt += np.outer(codes[:, c], V[c])
            scores[c] = psnr(np.clip(rebuilt, 0.0, 1.0), clean)
        return scores

    def denoise(self, X: np.ndarray) -> np.ndarray:
        """``clip(mu + V_c^T V_c (X - mu), 0, 1)`` for ``X (m, n)``, ``c = n_components_``."""
        V, mean = self.pca_.components_[: self.n_components_], self.pca_.mean_
        return np.clip(mean + (X - mean) @ V.T @ V, 0.0, 1.0)


def _fit_plain(X: np.ndarray, quick: bool) -> tuple[object, float]:
    """The plain autoencoder fit on the clean images ``X``, and the seconds its fit took."""
    from tinysae import SparseAutoencoder

    plain = SparseAutoencoder(n_hidden=N_HIDDEN, penalty="none", max_iter=20 if quick else 400,
                              random_state=0)
    with fit_threads():
        return timed(lambda: plain.fit(X))


def _estimates(split: Split, sigma: float, plain: object, plain_seconds: float,
               quick: bool) -> tuple[dict[str, tuple[np.ndarray, float]], int]:
    """Method -> (its estimate of the clean held-out images from their noisy copy at ``sigma``,
    the seconds of its fit and denoising), and the number of components PCA chose."""
    from tinysae import DenoisingAutoencoder

    noisy, seconds = timed(lambda: add_noise(split.X_test, sigma, TEST_NOISE_SEED))
    estimates = {"noisy input": (noisy, seconds)}
    pca = PCADenoiser(sigma, TRAIN_NOISE_SEED)
    dae = DenoisingAutoencoder(n_hidden=N_HIDDEN, noise_level=sigma, max_iter=10 if quick else 200,
                               random_state=0)
    with fit_threads():  # every method under the BLAS limit of tinysae's fits, for fair times
        estimates["PCA"] = timed(lambda: pca.fit(split.X_train).denoise(noisy))
        rebuilt, seconds = timed(lambda: plain.reconstruct(noisy))
        estimates["plain autoencoder"] = (rebuilt, seconds + plain_seconds / len(SIGMAS))
        estimates["DenoisingAutoencoder"] = timed(lambda: dae.fit(split.X_train).reconstruct(noisy))
    return estimates, pca.n_components_


def denoising(split: Split, quick: bool, out: Path) -> Result:
    """Denoise the held-out images at each of :data:`SIGMAS`; return the PSNR of every method per
    noise level and their means, and write ``out/denoising_grid.png``."""
    from tinysae.viz import show_image_rows

    if split.name == "mnist":
        split = split.subsample(*MNIST_SUBSAMPLE[quick])
    if len(split.X_train) < 2 or len(split.X_test) < 1:
        raise ValueError(f"denoising needs two training images or more and one held-out image; "
                         f"{split.describe()}")
    plain, plain_seconds = _fit_plain(split.X_train, quick)
    shown = np.unique(split.y_test, return_index=True)[1][:SHOWN]  # the first image of each class
    rows, grid, components = [], [("clean", split.X_test[shown])], []
    for sigma in SIGMAS:
        estimates, chosen = _estimates(split, sigma, plain, plain_seconds, quick)
        components.append(chosen)
        for name, (estimate, seconds) in estimates.items():
            value = psnr(estimate, split.X_test)
            rows.append(row(name, f"sigma {sigma}", METRIC, value, seconds))
            grid.append((f"{SHORT[name]}, σ {sigma}: {value:.2f} dB", estimate[shown]))
    path = out / "denoising_grid.png"
    show_image_rows(grid, split.image_shape, path=path,
                    title=f"held-out {split.name}: clean, noisy, denoised\n(PSNR over all "
                          f"{len(split.X_test)} held-out images)")
    notes = [split.describe() + "; Gaussian noise sigma * N(0, 1) on every held-out image (seed "
             f"{TEST_NOISE_SEED}), clipped to [0, 1]; PSNR (peak 1) of each estimate against the clean "
             "images",
             _budget(quick),
             f"PCA: the number of components with the best PSNR on the training images with the same noise "
             f"(seed {TRAIN_NOISE_SEED}), of 1 to {min(split.X_train.shape)}: "
             + ", ".join(f"{c} at sigma {s}" for c, s in zip(components, SIGMAS)),
             *_losses(rows),
             "the denoising criterion was proposed for learning features (Vincent et al. 2008, ICML, "
             "'Extracting and composing robust features with denoising autoencoders'; Vincent et al. 2010, "
             "JMLR 11:3371), not as a state-of-the-art image denoiser; Xie et al. 2012 (NIPS, 'Image "
             "denoising and inpainting with deep neural networks') denoised natural images with stacked "
             "sparse denoising autoencoders, with results comparable to K-SVD",
             f"clean, noisy and denoised held-out images: {path}"]
    return Result("denoising", "Gaussian noise on the held-out images, the PSNR of each denoiser", METRIC,
                  higher_is_better=True, rows=rows + summary_rows(rows), baselines=BASELINES,
                  figures=[path], notes=notes)


def _budget(quick: bool) -> str:
    """The note that states each method's budget."""
    if quick:
        return ("quick: 20 L-BFGS iterations for the plain autoencoder, 10 Adam epochs for each "
                "denoising autoencoder (a smoke run, not the results)")
    return (f"plain autoencoder: SparseAutoencoder(n_hidden={N_HIDDEN}, penalty='none', random_state=0), "
            "400 L-BFGS iterations, one fit shared by the three noise levels; DenoisingAutoencoder"
            "(noise_level=sigma, random_state=0), its defaults: 128 units, KL sparsity (rho 0.05, beta 0.1), "
            "200 Adam epochs of 64 images, one fit per noise level; PCA: one fit on the clean training "
            "images per noise level and the choice of its components; noisy input: no fit")


def _losses(rows: list[dict]) -> list[str]:
    """A note for each noise level where the denoising autoencoder is worse than a baseline, naming
    them and their PSNR."""
    notes = []
    for setting in dict.fromkeys(r["setting"] for r in rows):
        value = {r["method"]: r["value"] for r in rows if r["setting"] == setting}
        worse = [f"{name} ({value[name]:.2f})" for name in BASELINES
                 if value[name] > value["DenoisingAutoencoder"]]
        if worse:
            notes.append(f"at {setting} the DenoisingAutoencoder ({value['DenoisingAutoencoder']:.2f}) "
                         f"loses to {', '.join(worse)}")
    return notes
