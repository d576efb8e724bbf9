"""Dead latents of a TopK SAE without and with AuxK, from a start where most latents die.

Run as ``python benchmarks/auxk_dead.py``. The data are ``tinysae superposition``'s (128 known
features in 64 dimensions, firing probability 0.02; :mod:`tinysae.superposition`), the
dictionary 4x larger (512 latents, k = 4), and the start is bad on purpose: every decoder
column is one random direction plus a little noise (the encoder, as always, ``0.1 W2^T``), so
most latents are never among a sample's 4 largest and get no gradient from the reconstruction.
The same model is trained by :func:`tinysae.dictionary_train.train_dictionary` (20 Adam epochs
of 256, a latent dead after one epoch without firing) with ``aux_k = 0`` (no AuxK), and with
``aux_k = 32`` at the default ``aux_coefficient = 1/32`` and at 1. Printed: the fraction of
latents dead on the held-out samples and at the end of training, and the MMCS.
"""

from __future__ import annotations

import time

import numpy as np

from tinysae import Params, Tensor, superposition
from tinysae.dictionary_train import geometric_median, train_dictionary, unit_norm_columns
from tinysae.metrics import dead_fraction
from tinysae.models.dictionary import ENCODER_SCALE, TopKModel
from tinysae.synthetic import mmcs

N_LATENTS, K, AUX_K = 512, 4, 32
SETTINGS = (("no AuxK", 0, 0.0), ("AuxK, aux_coefficient 1/32", AUX_K, 1 / 32),
            ("AuxK, aux_coefficient 1", AUX_K, 1.0))


def bad_start(X: np.ndarray, seed: int = 0) -> Params:
    """Every decoder column near one random direction; ``W1 = 0.1 W2^T``; ``b2`` the geometric median."""
    rng = np.random.default_rng(seed)
    n = X.shape[1]
    W2 = unit_norm_columns(rng.normal(size=(n, 1)) + 0.04 * rng.normal(size=(n, N_LATENTS)))
    return Params({"W1": ENCODER_SCALE * W2.T, "b1": np.zeros(N_LATENTS), "W2": W2,
                   "b2": geometric_median(X)})


def main() -> None:
    data, n_train = superposition.make_data()
    X, X_test = data.X[:n_train], data.X[n_train:]
    print(f"{N_LATENTS} latents, k = {K}, a bad start; {n_train} training samples, 20 epochs")
    for label, aux_k, coefficient in SETTINGS:
        model = TopKModel(X.shape[1], N_LATENTS, K, aux_k=aux_k, aux_coefficient=coefficient)
        start = time.perf_counter()
        result, dead = train_dictionary(model, bad_start(X), X, epochs=20, batch_size=256, learning_rate=1e-3,
                                        warmup_steps=50, dead_after=n_train)
        seconds = time.perf_counter() - start
        leaves = {name: Tensor(array) for name, array in result.params.items()}
        H = model.encode(leaves, Tensor(X_test))["H"].data
        found = mmcs(result.params["W2"].T, data.features)
        print(f"{label:28s} dead on held-out samples {dead_fraction(H):.3f}, at the end of training "
              f"{dead.mask().mean():.3f}; MMCS {found:.4f}; {seconds:.1f} s")


if __name__ == "__main__":
    main()
