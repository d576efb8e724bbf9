"""Trained on natural images, the filters become localised, oriented edge detectors.

The measure (tinysae.metrics): orientation selectivity from each filter's 2-D power spectrum,
spatial localisation as the energy in its strongest 4x4 window, and their product.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinysae import datasets, metrics
from tinysae.objective import Objective, init_params
from tinysae.train import lbfgs


def grating(angle: float, size: int = 8, frequency: float = 0.2) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return np.cos(2 * np.pi * frequency * (x * np.cos(angle) + y * np.sin(angle)))


# ---------------------------------------------------------------------------------- the measure
@settings(max_examples=20)
@given(st.floats(0, np.pi))
def test_a_grating_is_oriented_whatever_its_angle(angle):
    W1 = grating(angle).reshape(1, 64)
    assert metrics.orientation_selectivity(W1)[0] > 0.7  # 0.72-0.82 over all angles (window leakage)


@settings(max_examples=20)
@given(st.integers(1, 12), st.integers(2, 10), st.integers(0, 2**32 - 1), st.floats(0.01, 100))
def test_scores_lie_in_0_1_and_ignore_scale_and_sign(k, side, seed, scale):
    W1 = np.random.default_rng(seed).normal(size=(k, side * side))
    scores = metrics.edge_score(W1)
    for values in scores:
        assert values.shape == (k,) and np.all((values >= 0) & (values <= 1 + 1e-12))
    scaled = metrics.edge_score(-scale * W1)
    for a, b in zip(scores, scaled):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_localisation_extremes():
    single_pixel = np.zeros((1, 64))
    single_pixel[0, 27] = 3.0
    assert metrics.spatial_localisation(single_pixel)[0] == pytest.approx(1.0)
    flat = np.ones((1, 64))
    assert metrics.spatial_localisation(flat)[0] == pytest.approx(16 / 64)
    assert metrics.orientation_selectivity(flat)[0] == 0.0  # nothing but the mean: no orientation


def test_white_noise_scores_low():
    noise = np.random.default_rng(0).normal(size=(200, 64))
    scores = metrics.edge_score(noise)
    assert scores.orientation.mean() < 0.25 and scores.localisation.mean() < 0.45


def test_bad_filters_are_refused():
    with pytest.raises(ValueError, match="not a square"):
        metrics.edge_score(np.ones((2, 10)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.edge_score(np.full((2, 4), np.nan))


# ---------------------------------------------------------------------------------- the real thing
@pytest.fixture(scope="module")
def trained():
    """UFLDL's exercise on a smaller budget: 3000 patches, 150 L-BFGS iterations (a few seconds)."""
    X = datasets.sample_patches(datasets.load_natural_images(), patch_size=8, n=3000, seed=0)
    objective = Objective(rho=0.01, beta=3.0, weight_decay=1e-4)
    initial = init_params(64, 25, seed=0)
    result = lbfgs(initial, X, objective, max_iter=150, backend="numpy", verbose=False)
    return initial, result


def test_trained_filters_are_oriented_localised_edges(trained):
    initial, result = trained
    before = metrics.edge_score(initial.W1)
    after = metrics.edge_score(result.params.W1)
    # measured: orientation 0.13 -> 0.56, localisation 0.34 -> 0.47, edge 0.045 -> 0.26
    assert after.orientation.mean() > 3 * before.orientation.mean()
    assert after.orientation.mean() > 0.45
    assert after.localisation.mean() > before.localisation.mean() + 0.08
    assert after.edge.mean() > 4 * before.edge.mean()
    assert np.median(after.edge) > np.max(before.edge)  # most filters beat every random one


def test_mean_activation_ends_near_rho(trained):
    _, result = trained
    assert result.history.rho_hat_mean[-1] == pytest.approx(0.01, abs=0.003)
    assert result.history.loss[-1] < 0.1 * result.history.loss[0]
