"""The seed's dense variants measured on the digits, each beside the baselines it must beat.

Run as ``python benchmarks/variants_digits.py [--quick] [--seeds 3] [--json results.json]``.
The data are scikit-learn's 8x8 digits scaled to [0, 1] (``tinysae.load_digits``), split by
``train_test_split(test_size=0.3, random_state=0, stratify=y)``: 1257 training and 540 held-out
images. Every number is measured on the held-out part, every model fit on the training part,
every baseline in the same run, and every fit is timed (wall clock, this machine):

* **denoising**: PSNR (peak 1) of the reconstruction of held-out images with Gaussian noise
  sigma = 0.1, 0.2, 0.3 (clipped to [0, 1]), against the clean images, for the noisy input
  itself, PCA projection (its number of components chosen by the best PSNR on the *training*
  images with the same noise), a plain autoencoder of the same size (64-128-64,
  ``penalty="none"``) and ``DenoisingAutoencoder(noise_level=sigma)``;
* **contractive**: the mean squared Frobenius norm of d transform / d x on held-out images, by
  central finite differences on ``transform`` (not the closed form), and the reconstruction's
  mean squared error per pixel, for a plain autoencoder (64-64-64) and
  ``ContractiveAutoencoder()``;
* **stacked**: held-out accuracy of ``StackedAutoencoder()`` before and after fine-tuning,
  against logistic regression on the raw pixels and scikit-learn's ``MLPClassifier`` of the same
  shape (100, 50), over ``--seeds`` seeds;
* **deep**: mean squared error per pixel of ``DeepAutoencoder(n_components=c)`` against PCA
  with ``c`` components, for c = 2, 4, 8, 16.

``--quick`` shortens every fit (a smoke run: its numbers are not the results).
scikit-learn (the dev extra) provides the baselines and the split.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import tinysae
from tinysae.metrics import jacobian_norm, psnr
from tinysae.threads import fit_threads

SIGMAS = (0.1, 0.2, 0.3)
CODE_SIZES = (2, 4, 8, 16)


def timed(fit: Callable[[], Any]) -> tuple[Any, float]:
    """``fit()`` and the seconds it took."""
    start = time.perf_counter()
    result = fit()
    return result, time.perf_counter() - start


def add_noise(X: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """``X + sigma * N(0, 1)``, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    return np.clip(X + sigma * rng.standard_normal(X.shape), 0.0, 1.0)


def pca_denoiser(X_train: np.ndarray, sigma: float) -> tuple[PCA, int]:
    """PCA fit on the clean training images, with the number of components that denoises the
    training images best at ``sigma``."""
    noisy = add_noise(X_train, sigma, seed=1)
    best, best_psnr = None, -np.inf
    for components in range(2, X_train.shape[1] + 1, 2):
        pca = PCA(components).fit(X_train)
        score = psnr(project(pca, noisy), X_train)
        if score > best_psnr:
            best, best_psnr = pca, score
    return best, best.n_components_


def project(pca: PCA, X: np.ndarray) -> np.ndarray:
    """``X`` projected on ``pca``'s components and back, clipped to [0, 1]."""
    return np.clip(pca.inverse_transform(pca.transform(X)), 0.0, 1.0)


def mse(model: Any, X: np.ndarray) -> float:
    """Mean squared reconstruction error per pixel."""
    return float(np.mean((model.reconstruct(X) - X) ** 2))


def denoising(Xtr: np.ndarray, Xte: np.ndarray, quick: bool) -> list[dict]:
    epochs = 10 if quick else 200
    plain, plain_s = timed(lambda: tinysae.SparseAutoencoder(
        n_hidden=128, penalty="none", max_iter=20 if quick else 400, random_state=0).fit(Xtr))
    rows = []
    for sigma in SIGMAS:
        noisy = add_noise(Xte, sigma, seed=0)
        pca, components = pca_denoiser(Xtr, sigma)
        dae, dae_s = timed(lambda sigma=sigma: tinysae.DenoisingAutoencoder(
            noise_level=sigma, max_iter=epochs, random_state=0).fit(Xtr))
        rows += [
            {"sigma": sigma, "method": "noisy input", "psnr": psnr(noisy, Xte), "seconds": 0.0},
            {"sigma": sigma, "method": f"PCA ({components} components)",
             "psnr": psnr(project(pca, noisy), Xte), "seconds": 0.0},
            {"sigma": sigma, "method": "plain autoencoder 64-128-64",
             "psnr": psnr(plain.reconstruct(noisy), Xte), "seconds": plain_s},
            {"sigma": sigma, "method": "DenoisingAutoencoder", "psnr": psnr(dae.reconstruct(noisy), Xte),
             "seconds": dae_s},
        ]
    return rows


def contractive(Xtr: np.ndarray, Xte: np.ndarray, quick: bool) -> list[dict]:
    max_iter = 20 if quick else 400
    rows = []
    for name, make in (("plain autoencoder 64-64-64", lambda: tinysae.SparseAutoencoder(
                            n_hidden=64, penalty="none", max_iter=max_iter, random_state=0)),
                       ("ContractiveAutoencoder", lambda: tinysae.ContractiveAutoencoder(
                            max_iter=max_iter, random_state=0))):
        model, seconds = timed(lambda make=make: make().fit(Xtr))
        rows.append({"method": name, "jacobian_norm": jacobian_norm(model.transform, Xte),
                     "mse": mse(model, Xte), "seconds": seconds})
    return rows


def stacked(Xtr, Xte, ytr, yte, quick: bool, seeds: int) -> list[dict]:
    settings = {"pretrain_iter": 10, "max_iter": 10} if quick else {}
    rows = []
    logistic, seconds = timed(lambda: LogisticRegression(max_iter=5000).fit(Xtr, ytr))
    rows.append({"method": "logistic regression (raw pixels)", "seed": 0,
                 "accuracy": logistic.score(Xte, yte), "seconds": seconds})
    for seed in range(seeds):
        with fit_threads():  # the same thread limits as tinysae's fits, for a fair time
            mlp, seconds = timed(lambda seed=seed: MLPClassifier(
                (100, 50), max_iter=50 if quick else 2000, random_state=seed).fit(Xtr, ytr))
        rows.append({"method": "MLP 64-100-50-10 (scikit-learn)", "seed": seed,
                     "accuracy": mlp.score(Xte, yte), "seconds": seconds})
        for fine_tune in (False, True):
            model, seconds = timed(lambda seed=seed, fine_tune=fine_tune: tinysae.StackedAutoencoder(
                fine_tune=fine_tune, random_state=seed, **settings).fit(Xtr, ytr))
            label = "after fine-tuning" if fine_tune else "before fine-tuning"
            rows.append({"method": f"StackedAutoencoder, {label}", "seed": seed,
                         "accuracy": model.score(Xte, yte), "seconds": seconds})
    return rows


def deep(Xtr: np.ndarray, Xte: np.ndarray, quick: bool) -> list[dict]:
    settings = {"pretrain_iter": 10, "max_iter": 10} if quick else {}
    rows = []
    for c in CODE_SIZES:
        pca, seconds = timed(lambda c=c: PCA(c).fit(Xtr))
        error = float(np.mean((pca.inverse_transform(pca.transform(Xte)) - Xte) ** 2))
        rows.append({"code_size": c, "method": "PCA", "mse": error, "seconds": seconds})
        model, seconds = timed(lambda c=c: tinysae.DeepAutoencoder(n_components=c, random_state=0, **settings)
                               .fit(Xtr))
        rows.append({"code_size": c, "method": "DeepAutoencoder 64-48-24-c", "mse": mse(model, Xte),
                     "seconds": seconds})
    return rows


def show(title: str, rows: list[dict]) -> None:
    """Print ``rows`` as a plain table under ``title``."""
    print(f"\n## {title}")
    keys = list(rows[0])
    print("  ".join(f"{key:>12}" if key != "method" else f"{key:<34}" for key in keys))
    for row in rows:
        cells = []
        for key in keys:
            value = row[key]
            if key == "method":
                cells.append(f"{value:<34}")
            elif isinstance(value, float):
                cells.append(f"{value:>12.4g}")
            else:
                cells.append(f"{value!s:>12}")
        print("  ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short fits: a smoke run, not the results")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the stacked classifier and the MLP")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--only", nargs="+", choices=("denoising", "contractive", "stacked", "deep"))
    args = parser.parse_args(argv)
    X, y = tinysae.load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    experiments = {
        "denoising": lambda: denoising(Xtr, Xte, args.quick),
        "contractive": lambda: contractive(Xtr, Xte, args.quick),
        "stacked": lambda: stacked(Xtr, Xte, ytr, yte, args.quick, args.seeds),
        "deep": lambda: deep(Xtr, Xte, args.quick),
    }
    results = {}
    for name in args.only or experiments:
        results[name] = experiments[name]()
        show(name, results[name])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
