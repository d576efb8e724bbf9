"""``tinysae superposition``: the dictionary SAEs trained on data whose true features are known.

The data (:func:`tinysae.synthetic.make_sparse_features`): :data:`N_FEATURES` unit directions in
:data:`N_DIMS` dimensions, each firing independently with probability :data:`FIRING_PROBABILITY`
(about 2.6 features per sample) with a magnitude of 1 +- 0.2: more features than dimensions, so
they are in superposition and no basis of the space holds them. Each model has
:data:`N_LATENTS` latents, twice the true features, and the metric table says how well it found
them (:mod:`tinysae.metrics`, :mod:`tinysae.synthetic`): L0, normalised MSE, explained
variance, dead and dense latents on held-out samples, the mean max cosine similarity (MMCS)
between the learned dictionary and the true features, and the fraction of true features
recovered with a cosine above 0.9. A good SAE has an L0 near the truth's, a small NMSE and an
MMCS near 1.

``--quick`` trains on fewer samples for fewer epochs (a smoke run: its numbers are not results).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinysae import metrics
from tinysae.synthetic import SyntheticData, make_sparse_features, mmcs, recovered_fraction

N_FEATURES = 128
N_DIMS = 64
FIRING_PROBABILITY = 0.02
N_LATENTS = 256
#: The data's seed: not the models' (0), whose first draws would otherwise be the features' own.
DATA_SEED = 2026
#: (training samples, held-out samples, epochs), for a full run and for --quick; a full run
#: trains each model with its constructor's defaults (20 Adam epochs), --quick for 3 epochs.
BUDGETS = {False: (16384, 4096, None), True: (2048, 1024, 3)}
#: Each model's settings beyond ``n_latents`` and ``random_state=0``: its defaults otherwise.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "ReLUSAE": ("ReLUSAE", {}),
    "TopKSAE": ("TopKSAE", {"k": 4}),
    "TopKSAE (BatchTopK)": ("TopKSAE", {"k": 4, "batch_topk": True}),
    "JumpReLUSAE": ("JumpReLUSAE", {}),
}
COLUMNS = ("L0", "NMSE", "explained var.", "dead", "dense", "MMCS", "recovered", "fit, s")


@dataclass
class Row:
    """One model's measurements on the held-out samples, and its fit time."""

    name: str
    values: dict[str, float]


def measure(name: str, estimator: Any, X_test: np.ndarray, features: np.ndarray, seconds: float) -> Row:
    """The metric table's row of a fitted ``estimator`` on held-out samples ``X_test``."""
    H = estimator.transform(X_test)
    Xhat = estimator.inverse_transform(H)
    return Row(name, {
        "L0": metrics.l0(H),
        "NMSE": metrics.normalized_mse(X_test, Xhat),
        "explained var.": metrics.explained_variance(X_test, Xhat),
        "dead": metrics.dead_fraction(H),
        "dense": metrics.dense_fraction(H),
        "MMCS": mmcs(estimator.components_, features),
        "recovered": recovered_fraction(estimator.components_, features),
        "fit, s": seconds,
    })


def make_data(quick: bool = False) -> tuple[SyntheticData, int]:
    """The synthetic data of a run (training samples first) and the number of training samples."""
    n_train, n_test, _ = BUDGETS[quick]
    data = make_sparse_features(n_train + n_test, N_FEATURES, N_DIMS, firing_probability=FIRING_PROBABILITY,
                                magnitude=1.0, magnitude_std=0.2, random_state=DATA_SEED)
    return data, n_train


def make_model(name: str, quick: bool = False) -> Any:
    """The unfitted estimator :data:`MODELS` calls ``name``, with the epochs of the budget."""
    import tinysae

    cls, settings = MODELS[name]
    epochs = BUDGETS[quick][2]
    budget = {} if epochs is None else {"max_iter": epochs}
    return getattr(tinysae, cls)(n_latents=N_LATENTS, random_state=0, **budget, **settings)


def run(quick: bool = False) -> tuple[list[Row], str]:
    """Train every model of :data:`MODELS` on one synthetic data set (each by the fastest backend
    that implements it); return the rows and a line describing the data."""
    data, n_train = make_data(quick)
    X_train, X_test = data.X[:n_train], data.X[n_train:]
    epochs = BUDGETS[quick][2] or make_model(next(iter(MODELS))).max_iter
    true_l0 = metrics.l0(data.codes[n_train:])
    rows = [Row("true features", {"L0": true_l0, "NMSE": 0.0, "explained var.": 1.0, "MMCS": 1.0,
                                  "recovered": 1.0})]
    for name in MODELS:
        estimator = make_model(name, quick)
        start = time.perf_counter()
        estimator.fit(X_train)
        rows.append(measure(name, estimator, X_test, data.features, time.perf_counter() - start))
    described = (f"{N_FEATURES} true features in {N_DIMS} dimensions, each firing with probability "
                 f"{FIRING_PROBABILITY} (L0 {true_l0:.2f} on the held-out samples); {N_LATENTS} latents; "
                 f"{n_train} training and {len(X_test)} held-out samples, {epochs} Adam epochs"
                 + (" (--quick: a smoke run, not results)" if quick else ""))
    return rows, described


def format_rows(rows: list[Row]) -> str:
    """The rows as a plain-text table, one line per model, ``-`` where a value does not apply."""
    width = max(len(row.name) for row in rows) + 2
    lines = ["model".ljust(width) + "".join(column.rjust(15) for column in COLUMNS)]
    for row in rows:
        cells = [f"{row.values[c]:.4g}" if c in row.values else "-" for c in COLUMNS]
        lines.append(row.name.ljust(width) + "".join(cell.rjust(15) for cell in cells))
    return "\n".join(lines)


def main(quick: bool = False) -> int:
    """Print the data's description and the metric table; return 0."""
    rows, described = run(quick)
    print(described)
    print(format_rows(rows))
    return 0
