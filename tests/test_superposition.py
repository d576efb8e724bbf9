"""``tinysae superposition --quick``: every dictionary SAE trained on the synthetic data, one table.

The quick run is a smoke run: what is checked is the table's shape and that each number is the
metric it names, recomputed here from a model fitted the same way, not how good the numbers are.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from tinysae import cli, metrics, superposition
from tinysae.synthetic import make_sparse_features, mmcs


@pytest.fixture(scope="module")
def quick_run() -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["superposition", "--quick"]) == 0
    return printed.getvalue()


def test_the_table_has_every_model_and_metric(quick_run):
    lines = quick_run.splitlines()
    described = f"{superposition.N_FEATURES} true features in {superposition.N_DIMS} dimensions"
    assert lines[0].startswith(described)
    assert "--quick: a smoke run" in lines[0]
    assert lines[1].split()[:2] == ["model", "L0"] and lines[1].rstrip().endswith("fit, s")
    names = [line[: line.index("  ")] for line in lines[2:]]
    assert names == ["true features", *superposition.MODELS]
    for line in lines[3:]:
        values = [float(cell) for cell in line[len(line) - 15 * len(superposition.COLUMNS):].split()]
        assert len(values) == len(superposition.COLUMNS) and all(np.isfinite(values))


def test_a_row_is_the_metrics_of_the_model():
    n_train, n_test, _ = superposition.BUDGETS[True]
    data, n_fit = superposition.make_data(quick=True)
    assert n_fit == n_train and data.X.shape == (n_train + n_test, superposition.N_DIMS)
    expected = make_sparse_features(n_train + n_test, superposition.N_FEATURES, superposition.N_DIMS,
                                    firing_probability=superposition.FIRING_PROBABILITY, magnitude=1.0,
                                    magnitude_std=0.2, random_state=superposition.DATA_SEED)
    np.testing.assert_array_equal(data.X, expected.X)
    model = superposition.make_model("TopKSAE", quick=True).fit(data.X[:n_train])
    X_test = data.X[n_train:]
    row = superposition.measure("TopKSAE", model, X_test, data.features, seconds=1.0)
    H = model.transform(X_test)
    assert row.values["L0"] == pytest.approx(np.count_nonzero(H, axis=1).mean())
    assert row.values["NMSE"] == pytest.approx(metrics.normalized_mse(X_test, model.inverse_transform(H)))
    assert row.values["MMCS"] == pytest.approx(mmcs(model.components_, data.features))
    assert row.values["explained var."] == pytest.approx(1 - row.values["NMSE"])
