"""The data every experiment runs on: a training part and a held-out part, with labels.

* ``digits`` (the default): scikit-learn's 8x8 digits scaled to [0, 1]
  (:func:`tinysae.load_digits`, ``X / 16``), split by
  ``train_test_split(test_size=0.3, random_state=0, stratify=y)``: 1257 training and 540
  held-out images, the split of ``benchmarks/variants_digits.py`` and ``tinysae.figures``;
* ``mnist``: the MNIST database's own training and test files, read by
  :func:`tinysae.load_mnist` from a directory the user downloaded them to (60000 and 10000
  28x28 images); an experiment may fit on a stated random subsample (:meth:`Split.subsample`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

#: The values of ``--data``.
DATASETS = ("digits", "mnist")


@dataclass(frozen=True)
class Split:
    """Training images ``X_train (m, n)`` with labels ``y_train (m,)``, held-out ones
    ``X_test``, ``y_test``, each image ``image_shape`` (``h w = n``), and the data set's name."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, int]

    def subsample(self, n_train: int, n_test: int, seed: int = 0) -> Split:
        """At most ``n_train`` training and ``n_test`` held-out images, drawn at random without
        replacement (``numpy.random.default_rng(seed)``), in their original order."""
        rng = np.random.default_rng(seed)
        train = np.sort(rng.permutation(len(self.y_train))[:n_train])
        test = np.sort(rng.permutation(len(self.y_test))[:n_test])
        return Split(self.name, self.X_train[train], self.y_train[train], self.X_test[test],
                     self.y_test[test], self.image_shape)

    def describe(self) -> str:
        """One line: the data set and the size of each part."""
        return (f"{self.name}: {len(self.y_train)} training and {len(self.y_test)} held-out "
                f"{self.image_shape[0]}x{self.image_shape[1]} images")


def load_split(data: str, mnist_dir: str | os.PathLike | None = None) -> Split:
    """The :class:`Split` of ``data`` (one of :data:`DATASETS`); ``mnist`` reads ``mnist_dir``.

    Raises ``ValueError`` for another name or ``mnist`` without a directory, and what
    :func:`tinysae.load_mnist` raises for a directory without readable MNIST files.
    """
    if data == "digits":
        from sklearn.model_selection import train_test_split

        from tinysae.datasets import load_digits

        X, y = load_digits()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
        return Split("digits", X_train, y_train, X_test, y_test, (8, 8))
    if data == "mnist":
        if mnist_dir is None:
            raise ValueError("--data mnist needs --mnist-dir DIR, the directory holding the MNIST "
                             "database's four IDX files")
        from tinysae.datasets import load_mnist

        return Split("mnist", *load_mnist(mnist_dir), (28, 28))
    raise ValueError(f"--data must be one of {', '.join(DATASETS)}, got {data!r}")
