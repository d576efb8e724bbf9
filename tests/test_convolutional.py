"""The convolutional sparse autoencoder: its model's gradient, the classic as its one-pixel-map
case, and the estimator's image-in, image-out API."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import seeds

import tinysae
from tinysae import ConvolutionalAutoencoder, Objective, Params
from tinysae.models import Batch, ClassicSAE, ConvolutionalSAE


@st.composite
def conv_problems(draw: st.DrawFn) -> tuple[ConvolutionalSAE, Params, np.ndarray]:
    """A small model of every kind (penalty, activations, stride, padding, channels), its
    parameters scaled up so that activations vary, and data in [0, 1]."""
    channels, side = draw(st.integers(1, 2)), draw(st.integers(3, 6))
    kernel = draw(st.integers(1, 3))
    padding, stride = draw(st.integers(0, kernel - 1)), draw(st.integers(1, 2))
    penalty = draw(st.sampled_from(["kl", "l1", "none"]))
    activation = "sigmoid" if penalty == "kl" else draw(st.sampled_from(["sigmoid", "relu"]))
    objective = Objective(rho=draw(st.floats(0.05, 0.5)), beta=draw(st.floats(0.0, 2.0)),
                          weight_decay=draw(st.sampled_from([0.0, 1e-3])), penalty=penalty,
                          activation=activation, output=draw(st.sampled_from(["sigmoid", "identity"])))
    filters = draw(st.integers(1, 3))
    model = ConvolutionalSAE((channels, side, side), filters, kernel, stride, padding, objective)
    rng = np.random.default_rng(draw(seeds))
    params = model.init_params(rng).map(lambda a: 3 * a + 0.1 * rng.normal(size=a.shape))
    return model, params, rng.uniform(0.05, 0.95, size=(draw(st.integers(1, 4)), model.n_features))


@settings(max_examples=25)
@given(problem=conv_problems())
def test_gradient_equals_central_differences(problem) -> None:
    model, params, X = problem
    report = tinysae.check_gradient(params, X, model, backend="autograd")
    assert report.relative_error < 1e-7, str(report)


@settings(max_examples=20)
@given(channels=st.integers(1, 2), side=st.integers(1, 5), k=st.integers(1, 4), m=st.integers(1, 5),
       penalty=st.sampled_from(["kl", "l1", "none"]), seed=seeds)
def test_a_filter_the_size_of_the_image_is_the_classic(channels, side, k, m, penalty, seed) -> None:
    """With a kernel as large as the image (no stride, no padding) each map is one pixel, and
    the model is the classic with ``W1 = filters flattened`` and ``W2 = their transpose``."""
    objective = Objective(rho=0.2, beta=0.7, weight_decay=1e-3, penalty=penalty)
    conv = ConvolutionalSAE((channels, side, side), k, side, objective=objective)
    classic = ClassicSAE(conv.n_features, k, objective)
    rng = np.random.default_rng(seed)
    params = conv.init_params(rng)
    flat = Params({"W1": params["W1"].reshape(k, -1), "b1": params["b1"],
                   "W2": params["W2"].reshape(k, -1).T, "b2": np.repeat(params["b2"], side * side)})
    X = rng.uniform(0.05, 0.95, size=(m, conv.n_features))
    ours = tinysae.evaluate(conv, params, Batch(X), backend="autograd")
    theirs = tinysae.evaluate(classic, flat, Batch(X), backend="autograd")
    assert ours.loss == pytest.approx(theirs.loss, rel=1e-12)
    assert ours.terms == pytest.approx(theirs.terms, rel=1e-12, abs=1e-15)
    close = {"rtol": 1e-10, "atol": 1e-14}
    np.testing.assert_allclose(ours.grads["W1"].reshape(k, -1), theirs.grads["W1"], **close)
    np.testing.assert_allclose(ours.grads["b1"], theirs.grads["b1"], **close)
    np.testing.assert_allclose(ours.grads["W2"].reshape(k, -1).T, theirs.grads["W2"], **close)
    # one bias per channel is the classic's per-pixel biases tied together: their gradients add
    per_channel = theirs.grads["b2"].reshape(channels, -1).sum(axis=1)
    np.testing.assert_allclose(ours.grads["b2"], per_channel, **close)


def test_the_maps_have_pytorch_sizes_and_the_output_the_input_size() -> None:
    for side, k, s, p in [(32, 8, 2, 3), (8, 3, 1, 1), (8, 5, 2, 2), (7, 3, 2, 0), (9, 4, 3, 1)]:
        model = ConvolutionalSAE((1, side, side), 2, k, s, p)
        maps = (side + 2 * p - k) // s + 1
        assert model.map_shape == (maps, maps)
        graph = model.graph(model.init_params(0), Batch(np.full((2, side * side), 0.5)))
        assert graph["H"].shape == (2, 2, maps, maps)
        assert graph["Xhat"].shape == (2, side * side)
        assert model.n_hidden == 2 * maps * maps


@pytest.mark.parametrize("kwargs, message", [
    ({"image_shape": (1, 8)}, "image_shape must be"),
    ({"kernel_size": 3, "padding": 3}, "padding=3 must be smaller than kernel_size=3"),
    ({"kernel_size": 11, "padding": 1}, "larger than the padded image"),
    ({"n_filters": 0}, "n_filters"),
])
def test_bad_model_settings(kwargs, message) -> None:
    settings_ = {"image_shape": (1, 8, 8), "n_filters": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        ConvolutionalSAE(**settings_)


# ---- the estimator ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    X, _ = tinysae.load_digits()
    return X[:120].reshape(-1, 1, 8, 8)


@pytest.fixture(scope="module")
def fitted(digits) -> ConvolutionalAutoencoder:
    return ConvolutionalAutoencoder(n_filters=4, kernel_size=3, stride=1, padding=1, max_iter=3,
                                    batch_size=32).fit(digits[:100])


def test_images_in_maps_and_images_out(fitted, digits) -> None:
    held_out = digits[100:]
    assert fitted.image_shape_ == (1, 8, 8)
    assert fitted.n_features_in_ == 64
    assert fitted.filters_.shape == (4, 1, 3, 3)
    maps = fitted.transform(held_out)
    assert maps.shape == (20, 4, 8, 8)
    assert fitted.inverse_transform(maps).shape == (20, 1, 8, 8)
    np.testing.assert_array_equal(fitted.reconstruct(held_out), fitted.inverse_transform(maps))
    errors = np.sum((fitted.reconstruct(held_out) - held_out) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(fitted.score_samples(held_out), -errors)
    assert fitted.score(held_out) == pytest.approx(-errors.mean() / 2)


def test_same_random_state_same_model(fitted, digits) -> None:
    again = ConvolutionalAutoencoder(n_filters=4, kernel_size=3, stride=1, padding=1, max_iter=3,
                                     batch_size=32).fit(digits[:100])
    np.testing.assert_array_equal(again.filters_, fitted.filters_)


def test_save_and_load(fitted, digits, tmp_path) -> None:
    fitted.save(tmp_path / "cae.npz")
    loaded = ConvolutionalAutoencoder.load(tmp_path / "cae.npz")
    assert loaded.image_shape_ == fitted.image_shape_
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.transform(digits[100:]), fitted.transform(digits[100:]))


@pytest.mark.parametrize("X, message", [
    (np.zeros((5, 64)), r"must be 4-D images \(N, C, H, W\), got shape \(5, 64\)"),
    (np.zeros((5, 8, 8)), r"add the channel axis: X\[:, None\]"),
    (np.zeros((5, 1, 7, 8)), r"fitted on images of shape \(1, 8, 8\)"),
    (np.full((2, 1, 8, 8), np.nan), r"X\[0, 0, 0, 0\] = nan"),
])
def test_bad_images_raise_clear_errors(fitted, X, message) -> None:
    with pytest.raises(ValueError, match=message):
        fitted.transform(X)


def test_bad_maps_raise_a_clear_error(fitted) -> None:
    with pytest.raises(ValueError, match=r"this model's are \(4, 8, 8\)"):
        fitted.inverse_transform(np.zeros((2, 3, 8, 8)))


def test_a_sigmoid_output_needs_images_in_0_1(digits) -> None:
    with pytest.raises(ValueError, match="output='sigmoid' reconstructs values in"):
        ConvolutionalAutoencoder(max_iter=1).fit(digits * 2)
