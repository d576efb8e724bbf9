"""The convolutional autoencoder's held-out reconstruction error, beside dense models of a
similar number of parameters.

Run as ``python benchmarks/conv_results.py [--quick] [--json results.json]`` from the repository
root. Two data sets:

* **natural**: 32x32 crops of the bundled natural images (``tinysae.sample_patches``, UFLDL's
  normalisation to [0.1, 0.9]), 1000 for training and 500 held out (another seed);
* **digits**: the 8x8 digits (``tinysae.load_digits``), split by
  ``train_test_split(test_size=0.3, random_state=0, stratify=y)``.

For each: the squared reconstruction error per held-out image (the sum over its pixels), the
number of parameters, the size of the code and the seconds of the fit, for

* the mean training image (no parameters learned but the mean);
* ``ConvolutionalAutoencoder`` (the natural-image settings are the estimator's defaults);
* PCA and a dense ``SparseAutoencoder`` (KL, the classic's defaults but ``n_hidden``) with about
  as many parameters as the convolutional model, and a dense one with many more.

The convolutional model's code is larger than its input (4 or 8 maps' worth of positions per
pixel); the dense models of its size in parameters have a code of one or two numbers: the
comparison is at equal *parameters*, which is what weight sharing buys. ``--quick`` shortens
every fit (a smoke run: its numbers are not the results).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from variants_digits import show, timed

import tinysae


def squared_error(reconstruct: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> float:
    """The mean over images of each image's summed squared reconstruction error."""
    difference = reconstruct(X) - X
    return float(np.mean(np.sum(difference.reshape(len(X), -1) ** 2, axis=1)))


def n_params(model: Any) -> int:
    return int(sum(array.size for array in model.params_.values()))


def compare(name: str, images_train: np.ndarray, images_test: np.ndarray, conv: Callable[[], Any],
            dense_sizes: tuple[int, ...], quick: bool) -> list[dict]:
    """The rows of one data set: the mean image, the convolutional model, PCA and dense models."""
    flat_train = images_train.reshape(len(images_train), -1)
    flat_test = images_test.reshape(len(images_test), -1)
    n = flat_train.shape[1]
    mean = flat_train.mean(axis=0)
    rows = [{"data": name, "method": "mean training image", "error": squared_error(lambda X: 0 * X + mean,
             flat_test), "params": n, "code": 0, "seconds": 0.0}]
    model, seconds = timed(lambda: conv().fit(images_train))
    k = model.kernel_size
    rows.append({"data": name, "method": f"ConvolutionalAutoencoder {model.n_filters}x{k}x{k}",
                 "error": squared_error(model.reconstruct, images_test), "params": n_params(model),
                 "code": model.model_.n_hidden, "seconds": seconds})
    conv_params = rows[-1]["params"]
    components = max(1, round((conv_params - n) / n))
    pca, seconds = timed(lambda: PCA(components).fit(flat_train))
    rows.append({"data": name, "method": f"PCA ({components} components)",
                 "error": squared_error(lambda X: pca.inverse_transform(pca.transform(X)), flat_test),
                 "params": components * n + n, "code": components, "seconds": seconds})
    for k in dense_sizes:
        dense, seconds = timed(lambda k=k: tinysae.SparseAutoencoder(
            n_hidden=k, max_iter=20 if quick else 400, random_state=0).fit(flat_train))
        rows.append({"data": name, "method": f"SparseAutoencoder {n}-{k}-{n}",
                     "error": squared_error(dense.reconstruct, flat_test), "params": n_params(dense),
                     "code": k, "seconds": seconds})
    return rows


def natural(quick: bool) -> list[dict]:
    images = tinysae.load_natural_images()
    train = tinysae.sample_patches(images, 32, 1000, seed=0).reshape(-1, 1, 32, 32)
    test = tinysae.sample_patches(images, 32, 500, seed=1).reshape(-1, 1, 32, 32)
    epochs = {"max_iter": 2} if quick else {}
    return compare("natural 32x32", train, test,
                   lambda: tinysae.ConvolutionalAutoencoder(random_state=0, **epochs), (1, 25), quick)


def digits(quick: bool) -> list[dict]:
    X, y = tinysae.load_digits()
    train, test = train_test_split(X, test_size=0.3, random_state=0, stratify=y)
    epochs = {"max_iter": 2} if quick else {}
    return compare("digits 8x8", train.reshape(-1, 1, 8, 8), test.reshape(-1, 1, 8, 8),
                   lambda: tinysae.ConvolutionalAutoencoder(n_filters=8, kernel_size=3, stride=1, padding=1,
                                                            random_state=0, **epochs), (1, 25), quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short fits: a smoke run, not the results")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--only", nargs="+", choices=("natural", "digits"))
    args = parser.parse_args(argv)
    experiments = {"natural": natural, "digits": digits}
    results = {}
    for name in args.only or experiments:
        results[name] = experiments[name](args.quick)
        show(name, results[name])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
