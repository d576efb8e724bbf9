"""ReLUSAE, TopKSAE and JumpReLUSAE as estimators: the common API, save/load, the SAELens export.

The export is read back with ``safetensors.numpy`` (no torch), and SAELens's own encoders are
written here from its source (SAELens 6.18.0: ``StandardSAE.encode``, ``TopKSAE.encode``,
``JumpReLUSAE.encode``, all on ``x - b_dec``) to check that each gives the code tinysae's
``transform`` gives. scikit-learn's API checks run in ``tests/test_sklearn.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import tinysae
from tinysae import JumpReLUSAE, ReLUSAE, TopKSAE
from tinysae.estimator import NotFittedError
from tinysae.synthetic import make_sparse_features

safetensors_numpy = pytest.importorskip("safetensors.numpy")


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return make_sparse_features(512, 24, 8, firing_probability=0.1, random_state=3).X


def _fitted(cls, X, **settings):
    return cls(n_latents=16, max_iter=3, batch_size=64, learning_rate=1e-2, random_state=0, **settings).fit(X)


MODELS = {
    "relu": (ReLUSAE, {"l1_coefficient": 0.2}),
    "topk": (TopKSAE, {"k": 3}),
    "batchtopk": (TopKSAE, {"k": 3, "batch_topk": True}),
    "jumprelu": (JumpReLUSAE, {"l0_coefficient": 0.05, "bandwidth": 0.05, "initial_threshold": 0.05}),
}


@pytest.fixture(scope="module")
def fitted(X) -> dict:
    return {name: _fitted(cls, X, **settings) for name, (cls, settings) in MODELS.items()}


@pytest.mark.parametrize("name", MODELS)
def test_the_common_api(fitted, X, name):
    model = fitted[name]
    assert model.components_.shape == (16, 8)
    np.testing.assert_allclose(np.linalg.norm(model.components_, axis=1), 1.0, atol=1e-12)
    H = model.transform(X)
    assert H.shape == (512, 16) and np.all(H >= 0)
    Xhat = model.inverse_transform(H)
    np.testing.assert_allclose(Xhat, H @ model.components_ + model.params_["b2"], atol=1e-12)
    np.testing.assert_allclose(model.score_samples(X), -np.sum((Xhat - X) ** 2, axis=1), atol=1e-12)
    assert model.n_iter_ == 3 and len(model.history_.loss) == 3


def test_topk_keeps_k_latents_per_sample(fitted, X):
    H = fitted["topk"].transform(X)
    assert np.all(np.count_nonzero(H, axis=1) <= 3)


def test_batch_topk_encodes_by_its_threshold(fitted, X):
    model = fitted["batchtopk"]
    assert model.threshold_ > 0
    Z2 = (X - model.params_["b2"]) @ model.params_["W1"].T + model.params_["b1"]
    np.testing.assert_allclose(model.transform(X), np.where(Z2 > model.threshold_, Z2, 0.0), atol=1e-12)
    one = model.transform(X[:1])  # one sample at a time: the same code as in a batch (up to BLAS rounding)
    np.testing.assert_allclose(one, model.transform(X)[:1], rtol=1e-12, atol=1e-14)


def test_jumprelu_thresholds(fitted, X):
    model = fitted["jumprelu"]
    theta = model.threshold_
    assert theta.shape == (16,) and np.all(theta > 0)
    Z2 = (X - model.params_["b2"]) @ model.params_["W1"].T + model.params_["b1"]
    np.testing.assert_allclose(model.transform(X), np.where(Z2 > theta, Z2, 0.0), atol=1e-12)


def test_the_decoder_bias_starts_at_the_geometric_median(X):
    model = ReLUSAE(n_latents=4, max_iter=1, learning_rate=1e-12, warmup_steps=0, random_state=0).fit(X)
    from tinysae.dictionary_train import geometric_median

    np.testing.assert_allclose(model.params_["b2"], geometric_median(X), atol=1e-9)


@pytest.mark.parametrize("name", MODELS)
def test_save_and_load(fitted, X, name, tmp_path):
    model = fitted[name]
    path = tmp_path / f"{name}.npz"
    model.save(path)
    loaded = type(model).load(path)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    assert loaded.get_params() == model.get_params()


def _saelens_encode(tensors: dict, cfg: dict, x: np.ndarray) -> np.ndarray:
    """SAELens 6.18.0's encoders, from its source, in numpy."""
    hidden_pre = (x - tensors["b_dec"]) @ tensors["W_enc"] + tensors["b_enc"]
    relu = np.maximum(hidden_pre, 0)
    if cfg["architecture"] == "standard":
        return relu
    if cfg["architecture"] == "jumprelu":
        return relu * (hidden_pre > tensors["threshold"])
    assert cfg["architecture"] == "topk"
    top = np.argsort(-hidden_pre, axis=1)[:, : cfg["k"]]
    H = np.zeros_like(hidden_pre)
    np.put_along_axis(H, top, np.take_along_axis(relu, top, axis=1), axis=1)
    return H


ARCHITECTURES = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu"}


@pytest.mark.parametrize("name", MODELS)
def test_saelens_export_round_trip(fitted, X, name, tmp_path):
    model = fitted[name]
    directory = model.save_saelens(tmp_path / name)
    assert sorted(p.name for p in directory.iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    tensors = safetensors_numpy.load_file(str(directory / "sae_weights.safetensors"))
    cfg = json.loads((directory / "cfg.json").read_text())
    assert cfg["architecture"] == ARCHITECTURES[name]
    assert (cfg["d_in"], cfg["d_sae"], cfg["dtype"]) == (8, 16, "float64")
    assert cfg["apply_b_dec_to_input"] is True and cfg["normalize_activations"] == "none"
    assert cfg["metadata"]["sae_lens_version"] == tinysae.saelens.SAELENS_VERSION
    expected = {"W_enc": (8, 16), "b_enc": (16,), "W_dec": (16, 8), "b_dec": (8,)}
    if cfg["architecture"] == "jumprelu":
        expected["threshold"] = (16,)
    if cfg["architecture"] == "topk":
        assert cfg["k"] == 3 and cfg["rescale_acts_by_decoder_norm"] is False
    assert {key: value.shape for key, value in tensors.items()} == expected
    np.testing.assert_array_equal(tensors["W_dec"], model.components_)
    H = _saelens_encode(tensors, cfg, X)
    np.testing.assert_allclose(H, model.transform(X), atol=1e-12)
    decoded = H @ tensors["W_dec"] + tensors["b_dec"]
    np.testing.assert_allclose(decoded, model.inverse_transform(H), atol=1e-12)


def test_errors():
    with pytest.raises(NotFittedError):
        TopKSAE().transform(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        ReLUSAE().save_saelens("anywhere")
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="k=9 must not exceed n_latents=4"):
        TopKSAE(n_latents=4, k=9).fit(X)
    with pytest.raises(TypeError, match="batch_topk must be True or False"):
        TopKSAE(batch_topk="yes").fit(X)
    with pytest.raises(ValueError, match="l0_warmup_steps"):
        JumpReLUSAE(l0_warmup_steps=-1).fit(X)
    model = TopKSAE(n_latents=4, k=2, max_iter=1).fit(X)
    with pytest.raises(ValueError, match="H has 3 columns"):
        model.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="save_saelens exports ReLUSAE, TopKSAE and JumpReLUSAE"):
        tinysae.saelens.save_saelens(tinysae.SparseAutoencoder(n_hidden=2, max_iter=1).fit(X / 10 + 0.5), "x")
