"""tinysae.synthetic: data made of known sparse features, and the MMCS / recovered-fraction
scores of a learned dictionary against them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal, norm
from strategies import seeds

from tinysae import synthetic

# A count ~ Binomial(n, p) is within SIGMAS standard deviations of n p but for a chance of ~2e-9.
SIGMAS = 6.0


def _within_binomial(count: np.ndarray, n: int, p: np.ndarray) -> bool:
    """Every ``count`` is within SIGMAS binomial standard deviations of ``n p`` (exact at p = 0 or 1)."""
    return bool(np.all(np.abs(count - n * p) <= SIGMAS * np.sqrt(n * p * (1 - p)) + 1e-9))


@settings(max_examples=40)
@given(seed=seeds, m=st.integers(1, 60), F=st.integers(1, 30), d=st.integers(1, 12),
       p=st.floats(0.0, 1.0), std=st.floats(0.0, 2.0), rho=st.floats(0.0, 1.0))
def test_data_is_a_non_negative_combination_of_unit_features_and_reproducible(seed, m, F, d, p, std, rho):
    kwargs = dict(firing_probability=p, magnitude_std=std, correlation=rho, random_state=seed)
    data = synthetic.make_sparse_features(m, F, d, **kwargs)
    assert data.X.shape == (m, d) and data.features.shape == (F, d) and data.codes.shape == (m, F)
    assert data.X.dtype == data.features.dtype == data.codes.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(data.features, axis=1), 1.0, rtol=1e-12)
    assert np.all(data.codes >= 0)
    np.testing.assert_allclose(data.X, data.codes @ data.features, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(data.firing_probability, np.full(F, p))
    again = synthetic.make_sparse_features(m, F, d, **kwargs)
    for a, b in zip(data, again):
        np.testing.assert_array_equal(a, b)
    more = synthetic.make_sparse_features(m + 7, F, d, **kwargs)  # the features come first
    np.testing.assert_array_equal(more.features, data.features)
    kwargs["random_state"] = np.random.default_rng(seed)
    from_generator = synthetic.make_sparse_features(m, F, d, **kwargs)
    np.testing.assert_array_equal(from_generator.X, data.X)


@settings(max_examples=25)
@given(seed=seeds, F=st.integers(1, 12), rho=st.sampled_from([0.0, 0.3, 0.9]), data=st.data())
def test_each_feature_fires_at_its_own_rate_within_a_binomial_tolerance(seed, F, rho, data):
    # rows are independent, so each column's count is Binomial(m, p_j) whatever the correlation
    p = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=F, max_size=F)))
    m = 4000
    out = synthetic.make_sparse_features(m, F, 3, firing_probability=p, correlation=rho, random_state=seed)
    fired = np.count_nonzero(out.codes, axis=0)
    assert _within_binomial(fired, m, p)
    assert np.all(fired[p == 0] == 0) and np.all(fired[p == 1] == m)


@settings(max_examples=15)
@given(seed=seeds, rho=st.floats(0.0, 1.0), p=st.lists(st.floats(0.02, 0.98), min_size=2, max_size=2))
def test_pairs_fire_together_as_the_dichotomised_gaussian_predicts(seed, rho, p):
    # P(both fire) = P(z_0 < Phi^-1(p_0), z_1 < Phi^-1(p_1)) for (z_0, z_1) ~ N(0, [[1, rho], [rho, 1]])
    m = 6000
    out = synthetic.make_sparse_features(m, 2, 2, firing_probability=np.array(p), correlation=rho,
                                         random_state=seed)
    both = np.count_nonzero(np.all(out.codes > 0, axis=1))
    R = np.array([[1.0, rho], [rho, 1.0]])
    joint = multivariate_normal(mean=np.zeros(2), cov=R, allow_singular=True).cdf(norm.ppf(p))
    joint = float(np.clip(joint, 0.0, min(p)))
    assert _within_binomial(np.array(both), m, np.array(joint))


def test_correlation_makes_firing_measurably_correlated():
    def firing_correlation(**kwargs):
        fired = synthetic.make_sparse_features(20000, 30, 8, firing_probability=0.1, random_state=1,
                                               **kwargs).codes > 0
        pairs = np.triu_indices(30, 1)
        return np.corrcoef(fired.T)[pairs]

    independent = firing_correlation(correlation=0.0)
    shared = firing_correlation(correlation=0.5)
    # measured -0.0001 and 0.245 (predicted 0 and 0.249)
    assert abs(independent.mean()) < 0.01 and shared.mean() > 0.2
    R = np.eye(30)
    R[0, 1] = R[1, 0] = -0.9  # one anti-correlated pair, the rest independent
    given_matrix = firing_correlation(correlation=R)
    assert given_matrix[0] < -0.08  # pair (0, 1): measured -0.110, predicted -0.111
    assert abs(given_matrix[1:].mean()) < 0.01


def test_magnitudes_are_the_stated_folded_normal():
    mu, sigma = 0.5, 1.0
    out = synthetic.make_sparse_features(4000, 20, 5, firing_probability=0.5, magnitude=mu,
                                         magnitude_std=sigma, random_state=2)
    values = out.codes[out.codes > 0]
    # E|N(mu, sigma^2)| = sigma sqrt(2/pi) exp(-mu^2 / 2 sigma^2) + mu (1 - 2 Phi(-mu/sigma))
    # and E a^2 = mu^2 + sigma^2 (folding does not change the square)
    folded_mean = (sigma * np.sqrt(2 / np.pi) * np.exp(-(mu**2) / (2 * sigma**2))
                   + mu * (1 - 2 * norm.cdf(-mu / sigma)))
    assert abs(values.mean() - folded_mean) < SIGMAS * values.std() / np.sqrt(values.size)
    assert abs(np.mean(values**2) - (mu**2 + sigma**2)) < SIGMAS * np.std(values**2) / np.sqrt(values.size)
    constant = synthetic.make_sparse_features(50, 6, 3, firing_probability=0.5, magnitude=2.5, random_state=2)
    assert np.all(constant.codes[constant.codes != 0] == 2.5)


@settings(max_examples=40)
@given(F=st.integers(1, 300), l0=st.floats(0.01, 1.0), exponent=st.floats(0.0, 2.0),
       decay=st.floats(0.5, 1.0))
def test_probability_profiles_sum_to_the_expected_l0_and_follow_their_law(F, l0, exponent, decay):
    power = synthetic.power_law_probabilities(F, l0, exponent)
    exponential = synthetic.exponential_probabilities(F, l0, decay)
    for p in (power, exponential):
        assert p.shape == (F,) and np.isclose(p.sum(), l0) and np.all((p > 0) & (p <= 1))
        assert np.all(np.diff(p) <= 1e-15)  # the first feature is the most frequent
    j = np.arange(F)
    np.testing.assert_allclose(power / power[0], (j + 1.0) ** -exponent, rtol=1e-12)
    np.testing.assert_allclose(exponential / exponential[0], decay**j, rtol=1e-9)


def test_sharkeys_setting_has_five_features_firing_on_average():
    p = synthetic.exponential_probabilities(512, 5.0, 0.99)
    out = synthetic.make_sparse_features(2000, 512, 256, firing_probability=p, random_state=0)
    n = out.codes.size
    assert abs(np.count_nonzero(out.codes) - 5.0 * 2000) < SIGMAS * np.sqrt(n * p.mean() * (1 - p.mean()))


@settings(max_examples=60)
@given(seed=seeds, F=st.integers(1, 20), d=st.integers(1, 10), data=st.data())
def test_mmcs_is_1_on_the_truth_and_blind_to_order_and_positive_scale(seed, F, d, data):
    rng = np.random.default_rng(seed)
    features = synthetic.make_sparse_features(1, F, d, random_state=seed).features
    assert np.isclose(synthetic.mmcs(features, features), 1.0, rtol=1e-12)
    assert synthetic.recovered_fraction(features, features, threshold=0.999) == 1.0
    K = data.draw(st.integers(1, 25))
    learned = rng.normal(size=(K, d))
    score = synthetic.mmcs(learned, features)
    assert -1.0 <= score <= 1.0
    scaled = learned[rng.permutation(K)] * np.exp(rng.uniform(-30, 30, size=(K, 1)))  # 1e-13 .. 1e13
    assert np.isclose(synthetic.mmcs(scaled, features), score, rtol=1e-12, atol=1e-12)
    extra = np.vstack([learned, rng.normal(size=(3, d))])  # more rows can only find closer matches
    assert synthetic.mmcs(extra, features) >= score - 1e-12
    brute = np.mean([max(f @ c / np.linalg.norm(c) for c in learned) for f in features])
    assert np.isclose(score, brute, rtol=1e-10, atol=1e-12)


def test_mmcs_and_recovered_fraction_on_known_geometry():
    features = np.eye(6)[:3]  # e_0, e_1, e_2 in 6 dimensions
    assert synthetic.mmcs(-features, features) == 0.0  # each -e_j is orthogonal to every e_k, k != j
    theta = np.array([0.1, 0.5, 1.2])  # e_j turned by theta_j towards e_{j+3}: cos(theta_j) with e_j, 0 else
    rotated = np.cos(theta)[:, None] * features + np.sin(theta)[:, None] * np.eye(6)[3:]
    assert np.isclose(synthetic.mmcs(rotated, features), np.cos(theta).mean())
    assert synthetic.recovered_fraction(rotated, features, 0.9) == 1 / 3  # cosines 0.995, 0.878, 0.362
    assert synthetic.recovered_fraction(rotated, features, 0.8) == 2 / 3
    assert synthetic.recovered_fraction(rotated[:1], features, 0.5) == 1 / 3  # one row, any number of rows


@settings(max_examples=40)
@given(seed=seeds, F=st.integers(1, 20), d=st.integers(1, 8), K=st.integers(1, 20),
       thresholds=st.lists(st.floats(-1.0, 1.0), min_size=2, max_size=2))
def test_recovered_fraction_falls_as_the_threshold_rises(seed, F, d, K, thresholds):
    rng = np.random.default_rng(seed)
    features, learned = rng.normal(size=(F, d)), rng.normal(size=(K, d))
    low, high = sorted(thresholds)
    assert synthetic.recovered_fraction(learned, features, high) <= synthetic.recovered_fraction(
        learned, features, low)
    assert synthetic.recovered_fraction(learned, features, 1.0) == 0.0  # no cosine is above 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "n_samples must be >= 1"),
        ({"n_dims": 2.0}, TypeError, "n_dims must be an integer"),
        ({"firing_probability": 1.5}, ValueError, r"must lie in \[0, 1\]"),
        ({"firing_probability": np.nan}, ValueError, r"must lie in \[0, 1\]"),
        ({"firing_probability": np.full(3, 0.1)}, ValueError, r"shape \(n_features,\) = \(4,\)"),
        ({"magnitude": 0.0}, ValueError, "magnitude must be > 0"),
        ({"magnitude_std": -1.0}, ValueError, "magnitude_std must be >= 0"),
        ({"correlation": 1.5}, ValueError, r"correlation must be in \[0, 1\]"),
        ({"correlation": -0.2}, ValueError, "correlation must be >= 0"),
        ({"correlation": np.eye(3)}, ValueError, r"shape \(n_features, n_features\) = \(4, 4\)"),
        ({"correlation": 2 * np.eye(4)}, ValueError, "ones on its diagonal"),
        ({"correlation": np.eye(4) + np.triu(np.ones((4, 4)), 1) * 0.1}, ValueError, "symmetric"),
        ({"correlation": 1.9 * np.eye(4) - 0.9}, ValueError, "positive semi-definite"),  # off-diagonal -0.9
        ({"random_state": 1.5}, TypeError, "random_state must be None, an int"),
        ({"random_state": -1}, ValueError, "random_state must be >= 0"),
    ],
)
def test_make_sparse_features_rejects_bad_arguments(kwargs, error, match):
    arguments = {"n_samples": 10, "n_features": 4, "n_dims": 3, **kwargs}
    with pytest.raises(error, match=match):
        synthetic.make_sparse_features(**arguments)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: synthetic.mmcs(np.ones((2, 3)), np.ones((2, 4))), "d=3 columns and features d=4"),
        (lambda: synthetic.mmcs(np.array([[1.0, 0.0], [0.0, 0.0]]), np.eye(2)), "components row 1 is zero"),
        (lambda: synthetic.mmcs(np.eye(2), np.zeros((1, 2))), "features row 0 is zero"),
        (lambda: synthetic.mmcs(np.ones(3), np.ones((1, 3))), "components must be 2-D"),
        (lambda: synthetic.mmcs(np.ones((0, 3)), np.ones((1, 3))), "components must be 2-D"),
        (lambda: synthetic.mmcs([[np.nan, 1.0]], [[1.0, 0.0]]), "components holds NaN"),
        (lambda: synthetic.recovered_fraction(np.eye(2), np.eye(2), 1.5), r"threshold must be in \[-1, 1\]"),
        (lambda: synthetic.power_law_probabilities(10, 5.0, 2.0), "fire with probability .* > 1"),
        (lambda: synthetic.exponential_probabilities(10, 0.5, 1.5), r"decay must be in \(0, 1\]"),
        (lambda: synthetic.exponential_probabilities(10, 0.0), "expected_l0 must be > 0"),
    ],
)
def test_scores_and_profiles_reject_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
