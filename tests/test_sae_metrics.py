"""The superposition setting's SAE metrics (tinysae.metrics: l0, normalized_mse,
explained_variance, latent_density, dead_fraction, dense_fraction) and plot_latent_density."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from sklearn.metrics import r2_score
from strategies import seeds

from tinysae import metrics, viz


def _codes(rng: np.random.Generator, m: int, F: int, p: float) -> np.ndarray:
    """Codes ``(m, F)``: each entry nonzero (of either sign) with probability ``p``."""
    values = rng.normal(size=(m, F))
    return np.where(rng.random((m, F)) < p, values, 0.0)


def _data(rng: np.random.Generator, m: int, d: int) -> np.ndarray:
    """``X (m, d)`` with a nonzero mean and, for m >= 2, almost surely some variance."""
    return rng.normal(size=(m, d)) * rng.uniform(0.1, 3.0, size=d) + rng.normal(0, 5, size=d)


@settings(max_examples=60)
@given(seed=seeds, m=st.integers(1, 40), F=st.integers(1, 30), data=st.data())
def test_l0_counts_exactly_k_nonzeros_per_row(seed, m, F, data):
    k = data.draw(st.integers(0, F))
    rng = np.random.default_rng(seed)
    H = np.zeros((m, F))
    for row in H:
        where = rng.choice(F, size=k, replace=False)
        row[where] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(1e-3, 10.0, size=k)
    assert metrics.l0(H) == k


@settings(max_examples=60)
@given(seed=seeds, m=st.integers(1, 50), F=st.integers(1, 40), p=st.floats(0.0, 1.0))
def test_density_is_a_fraction_and_agrees_with_l0_and_the_dead_and_dense_counts(seed, m, F, p):
    H = _codes(np.random.default_rng(seed), m, F, p)
    density = metrics.latent_density(H)
    assert density.shape == (F,)
    assert np.all((density >= 0) & (density <= 1))
    np.testing.assert_array_equal(density, np.count_nonzero(H, axis=0) / m)  # c/m, c firings
    assert np.isclose(metrics.l0(H), density.sum())  # the mean count per row = the sum of the rates
    assert metrics.dead_fraction(H) == np.mean(density == 0)
    assert np.isclose(metrics.dense_fraction(H, 0.0), 1.0 - metrics.dead_fraction(H))  # fires = not dead


@settings(max_examples=40)
@given(seed=seeds, m=st.integers(1, 50), F=st.integers(1, 40), p=st.floats(0.0, 1.0),
       thresholds=st.lists(st.floats(0.0, 0.999), min_size=2, max_size=2))
def test_dense_fraction_falls_as_the_threshold_rises(seed, m, F, p, thresholds):
    H = _codes(np.random.default_rng(seed), m, F, p)
    low, high = sorted(thresholds)
    assert metrics.dense_fraction(H, high) <= metrics.dense_fraction(H, low)
    assert metrics.dense_fraction(H) == np.mean(metrics.latent_density(H) > 0.1)


def test_density_dead_and_dense_on_a_known_code():
    H = np.zeros((10, 4))
    H[:, 0] = 1.0  # fires on every sample
    H[:2, 1] = 0.5  # on 2 of 10: dense (0.2 > 0.1)
    H[0, 2] = 3.0  # on 1 of 10: exactly 0.1, not more, so not dense
    np.testing.assert_array_equal(metrics.latent_density(H), [1.0, 0.2, 0.1, 0.0])
    assert metrics.dead_fraction(H) == 0.25
    assert metrics.dense_fraction(H) == 0.5
    assert metrics.l0(H) == 1.3


@settings(max_examples=60)
@given(seed=seeds, m=st.integers(2, 40), d=st.integers(1, 12))
def test_normalized_mse_is_0_when_perfect_1_for_the_mean_and_explained_variance_is_one_minus_it(seed, m, d):
    rng = np.random.default_rng(seed)
    X = _data(rng, m, d)
    mean = np.broadcast_to(X.mean(axis=0), X.shape)
    assert metrics.normalized_mse(X, X) == 0.0
    assert metrics.explained_variance(X, X) == 1.0
    assert np.isclose(metrics.normalized_mse(X, mean), 1.0, rtol=1e-12)
    assert np.isclose(metrics.explained_variance(X, mean), 0.0, atol=1e-12)
    Xhat = X + rng.normal(size=X.shape)
    assert metrics.explained_variance(X, Xhat) == 1.0 - metrics.normalized_mse(X, Xhat)


@settings(max_examples=60)
@given(seed=seeds, m=st.integers(2, 40), d=st.integers(1, 12), noise=st.floats(0.0, 3.0))
def test_explained_variance_is_sklearns_variance_weighted_r2(seed, m, d, noise):
    # an independent implementation of 1 - sum SS_res / sum SS_tot over all columns
    rng = np.random.default_rng(seed)
    X = _data(rng, m, d)
    Xhat = X + noise * rng.normal(size=X.shape)
    expected = r2_score(X, Xhat, multioutput="variance_weighted")
    assert np.isclose(metrics.explained_variance(X, Xhat), expected, rtol=1e-10, atol=1e-12)


@settings(max_examples=60)
@given(seed=seeds, m=st.integers(2, 40), d=st.integers(1, 12), scale=st.floats(1e-3, 1e3),
       flip=st.booleans())
def test_normalized_mse_ignores_a_shared_shift_and_scale_and_the_mean_is_the_best_constant(
        seed, m, d, scale, flip):
    rng = np.random.default_rng(seed)
    X = _data(rng, m, d)
    Xhat = X + rng.normal(size=X.shape)
    shift = rng.normal(0, 10, size=d)
    c = -scale if flip else scale
    assert np.isclose(metrics.normalized_mse(c * X + shift, c * Xhat + shift),
                      metrics.normalized_mse(X, Xhat), rtol=1e-9)
    constant = np.broadcast_to(rng.normal(0, 5, size=d), X.shape)  # any constant prediction
    assert metrics.normalized_mse(X, constant) >= 1.0 - 1e-12


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: metrics.l0(np.ones(3)), ValueError, r"H must be 2-D .* got shape \(3,\)"),
        (lambda: metrics.l0(np.ones((2, 2, 2))), ValueError, "H must be 2-D"),
        (lambda: metrics.l0(np.ones((0, 3))), ValueError, "non-empty"),
        (lambda: metrics.latent_density(np.ones((3, 0))), ValueError, "non-empty"),
        (lambda: metrics.dead_fraction([[1.0, np.nan]]), ValueError, "H holds NaN or inf"),
        (lambda: metrics.l0([["a", "b"]]), TypeError, "H must be an array of real numbers"),
        (lambda: metrics.dense_fraction(np.ones((2, 2)), 1.0), ValueError, r"must be a fraction in \[0, 1\)"),
        (lambda: metrics.dense_fraction(np.ones((2, 2)), -0.1), ValueError, "threshold must be >= 0"),
        (lambda: metrics.dense_fraction(np.ones((2, 2)), "0.1"), TypeError, "threshold must be a real"),
        (lambda: metrics.normalized_mse(np.ones((3, 2)), np.ones((3, 3))), ValueError, "they must match"),
        (lambda: metrics.normalized_mse(np.ones((3, 2)), np.ones((3, 2))), ValueError, "X has no variance"),
        (lambda: metrics.explained_variance(np.eye(2)[:1], np.eye(2)[:1]), ValueError, "X has no variance"),
        (lambda: metrics.explained_variance(np.eye(2), [[np.inf, 0], [0, 1]]), ValueError, "Xhat holds NaN"),
        (lambda: metrics.normalized_mse(np.ones(4), np.ones(4)), ValueError, "X must be 2-D"),
    ],
)
def test_metrics_reject_bad_input_with_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _legend(fig: Figure) -> str:
    return " | ".join(text.get_text() for text in fig.axes[0].get_legend().get_texts())


def test_plot_latent_density_counts_the_dead_and_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    H = _codes(rng, 500, 40, 0.05)
    H[:, :7] = 0.0  # 7 dead latents
    path = tmp_path / "density.png"
    fig = viz.plot_latent_density(H, path=path)
    assert isinstance(fig, Figure)
    assert "33 latents that fire; 7 dead (17.5%) in 500 samples" in _legend(fig)
    bars = fig.axes[0].patches
    assert sum(bar.get_height() for bar in bars) == 33  # one count per latent that fires
    assert "40 latents over 500 samples" in fig.axes[0].get_title()
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_plot_latent_density_when_nothing_fires_or_everything_always_fires():
    fig = viz.plot_latent_density(np.zeros((20, 5)), title="untrained")
    assert "0 latents that fire; 5 dead (100.0%) in 20 samples" in _legend(fig)
    assert fig.axes[0].get_title() == "untrained"
    fig = viz.plot_latent_density(np.ones((1, 3)))  # one sample: the densities are all 1 = 10^0
    assert sum(bar.get_height() for bar in fig.axes[0].patches) == 3
    with pytest.raises(ValueError, match="H must be 2-D"):
        viz.plot_latent_density(np.ones(3))
