"""The variants' measured results on the digits, asserted at a safe margin with shortened fits.

``benchmarks/variants_digits.py`` measures the full fits (the numbers in the README); these
tests rerun each comparison with a smaller budget on the same split
(``train_test_split(test_size=0.3, random_state=0, stratify=y)``) and assert the direction with
room to spare, so that a change that breaks a variant fails here. Each fit takes seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import tinysae  # noqa: E402
from tinysae.metrics import jacobian_norm, psnr  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = tinysae.load_digits()
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def test_denoising_beats_the_noisy_input_and_pca(digits):
    X_train, X_test, _, _ = digits
    sigma = 0.3
    noisy = np.clip(X_test + sigma * np.random.default_rng(0).standard_normal(X_test.shape), 0, 1)
    pca = PCA(18).fit(X_train)  # the best number of components at this noise (benchmark: 18)
    pca_psnr = psnr(np.clip(pca.inverse_transform(pca.transform(noisy)), 0, 1), X_test)
    dae = tinysae.DenoisingAutoencoder(noise_level=sigma, max_iter=100, random_state=0).fit(X_train)
    dae_psnr = psnr(dae.reconstruct(noisy), X_test)
    assert dae_psnr > pca_psnr + 0.5, (dae_psnr, pca_psnr)
    assert dae_psnr > psnr(noisy, X_test) + 3.0


def test_contractive_encoder_has_a_much_smaller_jacobian(digits):
    X_train, X_test, _, _ = digits
    plain = tinysae.SparseAutoencoder(n_hidden=64, penalty="none", max_iter=100, random_state=0).fit(X_train)
    contractive = tinysae.ContractiveAutoencoder(max_iter=100, random_state=0).fit(X_train)
    plain_norm = jacobian_norm(plain.transform, X_test)
    contractive_norm = jacobian_norm(contractive.transform, X_test)
    assert contractive_norm < 0.2 * plain_norm, (contractive_norm, plain_norm)
    # the closed form the penalty uses is the Jacobian's norm: the finite differences agree with it
    H = contractive.transform(X_test)
    closed_form = np.mean(np.sum((H * (1 - H)) ** 2 * np.sum(contractive.W1_**2, axis=1), axis=1))
    assert contractive_norm == pytest.approx(closed_form, rel=1e-5)


def test_stacked_fine_tuning_beats_logistic_regression(digits):
    X_train, X_test, y_train, y_test = digits
    settings = {"pretrain_iter": 100, "max_iter": 150, "random_state": 0}
    before = tinysae.StackedAutoencoder(fine_tune=False, **settings).fit(X_train, y_train)
    after = tinysae.StackedAutoencoder(**settings).fit(X_train, y_train)
    logistic = LogisticRegression(max_iter=3000).fit(X_train, y_train).score(X_test, y_test)
    assert after.score(X_test, y_test) >= logistic
    assert after.score(X_test, y_test) > before.score(X_test, y_test)
    assert np.array_equal(after.pretrained_params_["W1"], before.params_["W1"])  # same pre-training


def test_deep_autoencoder_beats_pca_at_code_size_two(digits):
    X_train, X_test, _, _ = digits
    deep = tinysae.DeepAutoencoder(n_components=2, pretrain_iter=100, max_iter=300, random_state=0)
    deep.fit(X_train)
    pca = PCA(2).fit(X_train)
    deep_error = np.mean((deep.reconstruct(X_test) - X_test) ** 2)
    pca_error = np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)
    assert deep_error < 0.7 * pca_error, (deep_error, pca_error)
    assert deep.transform(X_test).shape == (X_test.shape[0], 2)
