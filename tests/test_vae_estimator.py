"""``VariationalAutoencoder``: encoding, decoding, sampling, the ELBO score, persistence, errors,
and the picture of a 2-D latent space (``tinysae.viz.plot_latent_space``).

The fits train on 150 rows of the digits for a few epochs, so the file takes seconds; one fit on
the digits' training split beats the independent-pixel baseline on the held-out split. scikit-learn's
own checks run on the estimator (Gaussian decoder) in ``tests/test_sklearn.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinysae
from tinysae import VariationalAutoencoder, viz
from tinysae.autograd import Tensor
from tinysae.vae import score_noise

_DIGITS, _LABELS = tinysae.load_digits()
X = _DIGITS[:150]
X_NEW = _DIGITS[200:220]  # rows the fits never saw
SETTINGS = dict(hidden=(16,), max_iter=4, batch_size=32, n_elbo_samples=5)


@pytest.fixture(scope="module")
def fitted() -> dict[str, VariationalAutoencoder]:
    return {"bernoulli": VariationalAutoencoder(n_latent=2, **SETTINGS).fit(X),
            "gaussian": VariationalAutoencoder(n_latent=3, decoder="gaussian", activation="tanh",
                                               **SETTINGS).fit(X)}


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_encode_transform_decode_and_reconstruct(fitted, decoder) -> None:
    vae = fitted[decoder]
    d = vae.n_latent
    mu, logvar = vae.encode(X_NEW)
    assert mu.shape == logvar.shape == (20, d)
    np.testing.assert_array_equal(vae.transform(X_NEW), mu)
    Xhat = vae.decode(mu)
    assert Xhat.shape == (20, 64)
    np.testing.assert_array_equal(vae.inverse_transform(mu), Xhat)
    np.testing.assert_array_equal(vae.reconstruct(X_NEW), Xhat)
    if decoder == "bernoulli":
        assert np.all((Xhat > 0) & (Xhat < 1))  # Bernoulli probabilities
    assert list(vae.get_feature_names_out()) == [f"variationalautoencoder{i}" for i in range(d)]
    assert list(vae.history_.terms) == ["reconstruction", "kl"] and vae.n_iter_ == 4
    with pytest.raises(ValueError, match=f"Z has {d + 1} columns, but VariationalAutoencoder's codes have "
                                         f"n_latent={d} columns"):
        vae.decode(np.zeros((2, d + 1)))


def test_sample_decodes_draws_from_the_prior(fitted) -> None:
    vae = fitted["bernoulli"]
    samples = vae.sample(6, seed=3)
    assert samples.shape == (6, 64) and np.all((samples > 0) & (samples < 1))
    np.testing.assert_array_equal(samples, vae.sample(6, seed=3))
    assert not np.array_equal(samples, vae.sample(6, seed=4))
    np.testing.assert_array_equal(samples, vae.decode(np.random.default_rng(3).standard_normal((6, 2))))


@pytest.mark.parametrize("decoder", ["bernoulli", "gaussian"])
def test_score_samples_is_the_elbo_with_the_stated_draws_and_the_same_on_every_call(fitted, decoder) -> None:
    vae = fitted[decoder]
    elbo = vae.score_samples(X_NEW)
    assert elbo.shape == (20,)
    np.testing.assert_array_equal(elbo, vae.score_samples(X_NEW))
    np.testing.assert_array_equal(elbo[5:12], vae.score_samples(X_NEW[5:12]))  # a row scores the same
    np.testing.assert_array_equal(elbo[::-1], vae.score_samples(X_NEW[::-1]))
    assert vae.score(X_NEW) == float(np.mean(elbo))
    leaves = {name: Tensor(array, name=name) for name, array in vae.params_.items()}
    eps = score_noise(X_NEW, vae.n_elbo_samples, vae.n_latent)
    assert len(eps) == 5 and eps[0].shape == (20, vae.n_latent)
    np.testing.assert_allclose(elbo, vae.model_.elbo(leaves, Tensor(X_NEW, name="X"), eps), rtol=1e-14)
    if decoder == "bernoulli":
        assert np.all(elbo < 0)  # a Bernoulli likelihood is at most 1, and the KL is >= 0


def test_the_kl_is_exact_and_the_estimate_converges_with_more_draws(fitted) -> None:
    vae = fitted["bernoulli"]
    mu, logvar = vae.encode(X_NEW)
    kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar, axis=1)
    many = vae.set_params(n_elbo_samples=400).score_samples(X_NEW)
    vae.set_params(n_elbo_samples=5)
    assert np.all(many <= -kl)  # the reconstruction's log-likelihood is <= 0 on [0, 1] data
    # each row's 5-draw estimate is within 6 standard errors of the 400-draw one
    recon = np.stack([vae.model_.elbo(vae._leaves(), Tensor(X_NEW, name="X"), [e]) for e in
                      score_noise(X_NEW, 400, 2)])
    spread = recon.std(axis=0)
    assert np.all(np.abs(vae.score_samples(X_NEW) - many) < 6 * spread / np.sqrt(5) + 1e-9)


def test_save_and_load_give_the_same_model(fitted, tmp_path) -> None:
    for vae in fitted.values():
        vae.save(tmp_path / "vae.npz")
        back = VariationalAutoencoder.load(tmp_path / "vae.npz")
        assert back.get_params() == vae.get_params() and back.hidden == (16,)
        assert list(back.params_) == list(vae.params_)
        for method in ("transform", "reconstruct", "score_samples"):
            np.testing.assert_array_equal(getattr(back, method)(X_NEW), getattr(vae, method)(X_NEW))
        np.testing.assert_array_equal(back.sample(4, seed=1), vae.sample(4, seed=1))
    assert "logvar_x" in back.params_  # the Gaussian decoder's log-variances, saved by name


def test_the_bernoulli_decoder_refuses_data_outside_0_1_and_the_gaussian_one_takes_it() -> None:
    with pytest.raises(ValueError, match=r"decoder='bernoulli'.*must lie in \[0, 1\].*X / 16"):
        VariationalAutoencoder(**SETTINGS).fit(X * 16)
    VariationalAutoencoder(decoder="gaussian", **SETTINGS).fit(X * 16 - 8)


@pytest.mark.parametrize(("changes", "error", "message"), [
    ({"n_latent": 0}, ValueError, "n_latent must be >= 1"),
    ({"n_elbo_samples": 0}, ValueError, "n_elbo_samples must be >= 1"),
    ({"hidden": 8}, ValueError, "hidden must be a non-empty sequence"),
    ({"decoder": "binomial"}, ValueError, "decoder='binomial' is not one of"),
    ({"backend": "numba"}, Exception, 'backend="numba" implements only'),
])
def test_bad_hyper_parameters_are_named_at_fit(changes, error, message) -> None:
    with pytest.raises(error, match=message):
        VariationalAutoencoder(**{**SETTINGS, **changes}).fit(X)


def test_not_fitted_is_said() -> None:
    for method in ("encode", "transform", "score_samples"):
        with pytest.raises(tinysae.NotFittedError, match="not fitted yet"):
            getattr(VariationalAutoencoder(), method)(X)
    with pytest.raises(tinysae.NotFittedError):
        VariationalAutoencoder().sample(3)


def test_a_short_fit_on_the_digits_beats_the_independent_pixel_baseline() -> None:
    """15 epochs (the default is 150) already give a held-out ELBO above the log-likelihood of
    independent pixels, each Bernoulli with its training mean (clipped to [1e-3, 1 - 1e-3])."""
    from sklearn.model_selection import train_test_split

    X_train, X_test = train_test_split(_DIGITS, test_size=0.3, random_state=0, stratify=_LABELS)[:2]
    p = np.clip(X_train.mean(axis=0), 1e-3, 1 - 1e-3)
    baseline = float(np.mean(np.sum(X_test * np.log(p) + (1 - X_test) * np.log(1 - p), axis=1)))
    vae = VariationalAutoencoder(n_latent=2, max_iter=15, n_elbo_samples=10).fit(X_train)
    assert vae.score(X_test) > baseline + 0.5, (vae.score(X_test), baseline)


# ----------------------------------------------------------------------------- the latent space's picture


def test_the_latent_grid_puts_each_point_of_the_plane_in_its_cell() -> None:
    values = np.linspace(-2.0, 2.0, 5)
    tiled = viz.latent_grid(lambda Z: Z, limits=(-2.0, 2.0), size=5, image_shape=(1, 2))  # "images" (z1, z2)
    assert tiled.shape == (5 * 2 - 1, 5 * 3 - 1)
    for r in range(5):
        for c in range(5):  # z1 grows to the right, z2 upwards; a gap of mid-gray between cells
            np.testing.assert_array_equal(tiled[2 * r, 3 * c : 3 * c + 2], [values[c], values[4 - r]])
    assert np.all(tiled[1::2] == 0.5) and np.all(tiled[:, 2::3] == 0.5)
    with pytest.raises(ValueError, match=r"decode must map Z \(25, 2\) to images \(25, 2\), got \(25, 3\)"):
        viz.latent_grid(lambda Z: np.zeros((25, 3)), size=5, image_shape=(1, 2))


def test_the_latent_space_is_drawn_and_saved(fitted, tmp_path) -> None:
    vae = fitted["bernoulli"]
    fig = viz.plot_latent_space(vae.transform(X), _LABELS[:150], vae.decode, size=6, path=tmp_path / "z.png")
    assert len(fig.axes) == 2 and (tmp_path / "z.png").stat().st_size > 0
    with pytest.raises(ValueError, match=r"codes must be \(m, 2\) with m = 150 labels, got \(150, 3\)"):
        viz.plot_latent_space(np.zeros((150, 3)), _LABELS[:150], vae.decode)
