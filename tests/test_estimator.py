"""SparseAutoencoder: scikit-learn conventions, persistence, and clear errors."""

from __future__ import annotations

import inspect
import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinysae.backends import numpy_ref
from tinysae.estimator import FORMAT_VERSION, NotFittedError, SparseAutoencoder
from tinysae.objective import Objective
from tinysae.params import Params


def data(m: int = 60, n: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 0.9, size=(m, n))


def fitted(**kw) -> SparseAutoencoder:
    options = dict(n_hidden=5, rho=0.1, max_iter=15, backend="numpy", verbose=False)
    options.update(kw)
    return SparseAutoencoder(**options).fit(data())


@pytest.fixture(scope="module")
def model() -> SparseAutoencoder:
    return fitted()


# ---------------------------------------------------------------------------------- conventions
def test_init_stores_parameters_unchanged_and_get_params_returns_them():
    signature = inspect.signature(SparseAutoencoder.__init__)
    defaults = {name: p.default for name, p in signature.parameters.items() if name != "self"}
    assert SparseAutoencoder().get_params() == defaults
    assert defaults["solver"] == "lbfgs" and defaults["max_iter"] == 400 and defaults["n_hidden"] == 25
    weird = {"n_hidden": -3, "rho": "high", "solver": "sgd"}  # checked at fit, not here
    est = SparseAutoencoder(**weird)
    assert {k: est.get_params(deep=True)[k] for k in weird} == weird


def test_set_params_returns_self_and_rejects_unknown_names():
    est = SparseAutoencoder()
    assert est.set_params(n_hidden=7, rho=0.2) is est
    assert est.n_hidden == 7 and est.get_params()["rho"] == 0.2
    with pytest.raises(ValueError, match="invalid parameter 'n_hiden'"):
        est.set_params(n_hiden=3)


def test_repr_shows_the_changed_parameters():
    assert repr(SparseAutoencoder()) == "SparseAutoencoder()"
    est = SparseAutoencoder(n_hidden=7, solver="adam")
    assert repr(est) == "SparseAutoencoder(n_hidden=7, solver='adam')"


def test_fit_returns_self_and_sets_underscore_attributes(model):
    X = data()
    assert not hasattr(SparseAutoencoder(), "W1_")
    assert model.W1_.shape == (5, 16) and model.b1_.shape == (5,)
    assert model.W2_.shape == (16, 5) and model.b2_.shape == (16,)
    assert model.n_features_in_ == 16 and model.n_iter_ == len(model.history_) <= 15
    assert model.stop_reason_ in ("max_iter", "converged")
    H = model.transform(X)
    assert H.shape == (60, 5) and np.all((H > 0) & (H < 1))
    assert model.inverse_transform(H).shape == (60, 16)
    np.testing.assert_array_equal(model.reconstruct(X), model.inverse_transform(H))


def test_transform_and_score_are_the_reference_forward_pass(model):
    X = data(seed=1)
    objective = Objective(rho=0.1)
    fwd = numpy_ref.forward(model.params_, X, objective)
    np.testing.assert_allclose(model.transform(X), fwd.H, rtol=1e-14)
    np.testing.assert_allclose(model.inverse_transform(fwd.H), fwd.Xhat, rtol=1e-14)
    terms = numpy_ref.terms(model.params_, X, objective)
    assert model.score(X) == pytest.approx(-terms.reconstruction, rel=1e-12)
    assert model.score(X, y=np.zeros(len(X))) == model.score(X)
    # score_samples: minus each sample's squared error; score is half their mean
    np.testing.assert_allclose(model.score_samples(X), -np.sum((fwd.Xhat - X) ** 2, axis=1), rtol=1e-12)
    assert model.score(X) == pytest.approx(np.mean(model.score_samples(X)) / 2, rel=1e-12)


def test_fit_transform_equals_fit_then_transform():
    X = data()
    a = SparseAutoencoder(n_hidden=4, max_iter=5, backend="numpy", verbose=False)
    b = SparseAutoencoder(n_hidden=4, max_iter=5, backend="numpy", verbose=False)
    np.testing.assert_array_equal(a.fit_transform(X), b.fit(X).transform(X))


def test_adam_solver_uses_max_iter_as_epochs():
    est = fitted(solver="adam", max_iter=3, batch_size=16, learning_rate=0.01)
    assert est.n_iter_ == 3 and est.history_.iteration == [1, 2, 3]


def test_training_improves_the_score():
    X = data()
    short = SparseAutoencoder(n_hidden=5, rho=0.1, max_iter=1, backend="numpy", verbose=False).fit(X)
    long = SparseAutoencoder(n_hidden=5, rho=0.1, max_iter=60, backend="numpy", verbose=False).fit(X)
    assert long.score(X) > short.score(X)


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "method", ["transform", "inverse_transform", "score", "score_samples", "reconstruct", "save"]
)
def test_using_an_unfitted_model_raises_not_fitted(method, tmp_path):
    arg = tmp_path / "m.npz" if method == "save" else data()
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(SparseAutoencoder(), method)(arg)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


@pytest.mark.parametrize("attribute", ["W1_", "b1_", "W2_", "b2_", "objective_", "params_", "model_"])
def test_fitted_attributes_do_not_exist_before_fit(attribute):
    with pytest.raises(AttributeError):
        getattr(SparseAutoencoder(), attribute)
    assert not hasattr(SparseAutoencoder(), attribute)


@settings(max_examples=10)
@given(st.integers(1, 30).filter(lambda n: n != 16))
def test_wrong_number_of_features_is_reported(model, n):
    with pytest.raises(ValueError, match=f"{n} columns but the model has n_visible=16"):
        model.transform(data(m=3, n=n))
    with pytest.raises(ValueError, match="n_hidden=5"):
        model.inverse_transform(np.zeros((3, n if n != 5 else 4)))


def test_transform_accepts_values_outside_the_training_range(model):
    X = data() * 1.5 - 0.2  # e.g. test data a MinMaxScaler fitted elsewhere maps slightly out of [0, 1]
    assert np.all(np.isfinite(model.transform(X)))
    with pytest.raises(ValueError, match="finite"):
        model.transform(np.full((2, 16), np.nan))


BAD_HYPERPARAMETERS = [
    ({"n_hidden": 0}, "n_hidden"),
    ({"n_hidden": 2.5}, "n_hidden"),
    ({"max_iter": -1}, "max_iter"),
    ({"batch_size": 0}, "batch_size"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"learning_rate": float("nan")}, "learning_rate"),
    ({"solver": "sgd"}, "solver"),
    ({"backend": "tpu"}, "backend"),
    ({"seed": -1}, "seed"),
    ({"rho": 1.5}, "rho"),
    ({"beta": -1.0}, "beta"),
    ({"weight_decay": -1e-3}, "weight_decay"),
    ({"penalty": "l2"}, "penalty"),
    ({"activation": "tanh"}, "activation"),
    ({"output": "softmax"}, "output"),
    ({"penalty": "kl", "activation": "relu"}, "needs activation='sigmoid'"),
]


@pytest.mark.parametrize(("params", "message"), BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_are_reported_at_fit(params, message):
    est = SparseAutoencoder(**{"backend": "numpy", "verbose": False, **params})
    with pytest.raises((ValueError, TypeError), match=message):
        est.fit(data())


def test_bad_data_is_reported_at_fit():
    est = SparseAutoencoder(n_hidden=3, max_iter=2, backend="numpy", verbose=False)
    with pytest.raises(ValueError, match="rescale X"):
        est.fit(data() * 2)
    with pytest.raises(ValueError, match="2-D"):
        est.fit(np.zeros(5))
    assert not hasattr(est, "W1_")


# ---------------------------------------------------------------------------------- scikit-learn
def test_sklearn_clone_gives_an_unfitted_copy(model):
    base = pytest.importorskip("sklearn.base")
    copy = base.clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert not hasattr(copy, "W1_")


def test_sklearn_pipeline_on_digits():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from tinysae.datasets import load_digits

    X, y = load_digits()
    sae = SparseAutoencoder(n_hidden=36, rho=0.1, max_iter=30, backend="numpy", verbose=False)
    pipe = make_pipeline(MinMaxScaler(), sae, LogisticRegression(max_iter=1000))
    pipe.fit(X[:1200], y[:1200])
    assert pipe.named_steps["sparseautoencoder"].W1_.shape == (36, 64)
    assert pipe.score(X[1200:], y[1200:]) > 0.75  # chance is 0.1


# ---------------------------------------------------------------------------------- save / load
@settings(max_examples=5)
@given(st.sampled_from(["lbfgs", "adam"]), st.integers(1, 6), st.booleans())
def test_save_load_round_trip_is_exact(tmp_path_factory, solver, n_hidden, float32):
    X = data().astype(np.float32) if float32 else data()
    est = SparseAutoencoder(n_hidden=n_hidden, rho=0.2, solver=solver, max_iter=3, batch_size=16,
                            backend="numpy", verbose=False).fit(X)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    est.save(path)
    back = SparseAutoencoder.load(path)
    assert back.get_params() == est.get_params()
    for name in ("W1_", "b1_", "W2_", "b2_"):
        a, b = getattr(est, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(back.transform(X), est.transform(X))  # bit for bit
    assert back.history_ == est.history_ and back.stop_reason_ == est.stop_reason_
    assert back.n_features_in_ == est.n_features_in_ and back.n_iter_ == est.n_iter_


def test_saved_file_is_plain_npz_with_json_hyperparameters(model, tmp_path):
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        assert int(f["format_version"]) == FORMAT_VERSION == 2
        assert json.loads(str(f["hyperparameters"])) == model.get_params()
        assert [str(name) for name in f["param_names"]] == ["W1", "b1", "W2", "b2"]
        assert all(np.array_equal(f[f"param_{name}"], model.params_[name]) for name in model.params_)
        assert int(f["n_features_in"]) == 16


@settings(max_examples=25)
@given(st.data())
def test_corrupted_files_raise_value_error(model, tmp_path_factory, draw):
    path = tmp_path_factory.mktemp("bad") / "model.npz"
    model.save(path)
    raw = bytearray(path.read_bytes())
    how = draw.draw(st.sampled_from(["truncate", "flip"]))
    if how == "truncate":
        raw = raw[: draw.draw(st.integers(0, len(raw) - 1))]
    else:
        for position in draw.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8)):
            raw[position] ^= 0xFF
    path.write_bytes(bytes(raw))
    try:
        back = SparseAutoencoder.load(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:  # a flip that hit nothing checked (e.g. zip comment padding) must leave the model intact
        assert np.array_equal(back.W1_, model.W1_) and back.get_params() == model.get_params()


def _write_npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


FOREIGN = {
    "text file": lambda p: p.write_text("W1,b1\n1,2\n"),
    "empty file": lambda p: p.write_bytes(b""),
    "single .npy array": lambda p: np.save(open(p, "wb"), np.zeros((3, 3))),
    "zip of other things": lambda p: zipfile.ZipFile(p, "w").close(),
    "npz of another program": lambda p: _write_npz(p, weights=np.ones(3)),
    "pickled objects": lambda p: _write_npz(p, format=np.array([{"a": 1}], dtype=object)),
    "newer format version": lambda p: _write_npz(p, format=np.array("tinysae.SparseAutoencoder"),
                                                 format_version=np.array(FORMAT_VERSION + 1)),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_files_raise_value_error(kind, tmp_path):
    path = tmp_path / "model.npz"
    FOREIGN[kind](path)
    with pytest.raises(ValueError, match="model.npz"):
        SparseAutoencoder.load(path)


DAMAGES = {
    "missing W2": lambda a: {k: v for k, v in a.items() if k != "param_W2"},
    "W2 not named": lambda a: {**a, "param_names": np.array(["W1", "b1", "b2"])},
    "bad json": lambda a: {**a, "hyperparameters": np.array("{not json")},
    "unknown hyper-parameter": lambda a: {**a, "hyperparameters": np.array(json.dumps({"depth": 3}))},
    "wrong shapes": lambda a: {**a, "param_b1": np.zeros(99)},
    "n_hidden mismatch": lambda a: {**a, "hyperparameters": np.array(json.dumps({"n_hidden": 9}))},
    "history missing": lambda a: {k: v for k, v in a.items() if k != "history_loss"},
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_model_contents_raise_value_error(model, tmp_path, damage):
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    assert {f"param_{name}" for name in ("W1", "b1", "W2", "b2")} <= set(arrays)  # the layout damaged
    _write_npz(path, **DAMAGES[damage](arrays))
    with pytest.raises(ValueError, match=r"model\.npz' is a damaged or inconsistent tinysae model file"):
        SparseAutoencoder.load(path)


def test_format_version_1_files_still_load(model, tmp_path):
    """Version 1 stored W1, b1, W2, b2 under their own names, the terms as history_<term> and
    no n_features_in."""
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    old = {key: arrays[key] for key in ("format", "hyperparameters", "stop_reason")}
    old["format_version"] = np.array(1)
    old.update({name: arrays[f"param_{name}"] for name in ("W1", "b1", "W2", "b2")})
    for key in ("iteration", "loss", "terms_iteration", "rho_hat_mean"):
        old[f"history_{key}"] = arrays[f"history_{key}"]
    for term in ("reconstruction", "weight_decay", "sparsity"):
        old[f"history_{term}"] = arrays[f"history_term_{term}"]
    _write_npz(path, **old)
    back = SparseAutoencoder.load(path)
    assert back.get_params() == model.get_params() and back.n_features_in_ == 16
    assert all(np.array_equal(back.params_[name], model.params_[name]) for name in model.params_)
    assert back.history_ == model.history_ and back.stop_reason_ == model.stop_reason_
    np.testing.assert_array_equal(back.transform(data()), model.transform(data()))


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        SparseAutoencoder.load(tmp_path / "nope.npz")


def test_params_property_is_a_params(model):
    assert isinstance(model.params_, Params) and model.params_["W1"].shape == (5, 16)
    assert list(model.params_) == ["W1", "b1", "W2", "b2"]
    assert all(model.params_[name] is getattr(model, f"{name}_") for name in model.params_)
    assert model.objective_ == Objective(rho=0.1) and model.model_.objective is model.objective_


def test_changing_hyperparameters_after_fit_only_affects_the_next_fit():
    est = fitted()
    X = data()
    H = est.transform(X)
    est.set_params(activation="relu", rho=5.0, output="identity")  # invalid together: checked at fit
    np.testing.assert_array_equal(est.transform(X), H)
    with pytest.raises(ValueError, match="rho"):
        est.fit(X)
