"""SparseAutoencoder: scikit-learn conventions, persistence, and clear errors."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st

import tinysae
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
    with pytest.raises(ValueError, match="(?i)invalid parameter 'n_hiden'"):
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
    "method",
    ["transform", "inverse_transform", "score", "score_samples", "reconstruct", "save",
     "get_feature_names_out"],
)
def test_using_an_unfitted_model_raises_not_fitted(method, tmp_path):
    arg = {"save": tmp_path / "m.npz", "get_feature_names_out": None}.get(method, data())
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
    expected = f"X has {n} features, but SparseAutoencoder is expecting 16 features as input"
    with pytest.raises(ValueError, match=expected):
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
    ({"random_state": -1}, "random_state"),
    ({"random_state": "zero"}, "random_state must be None, an int >= 0 or a numpy.random.Generator"),
    ({"random_state": 1.5}, "random_state"),
    ({"random_state": np.random.RandomState(0)}, "random_state"),
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
#: Every estimator, for the tests that hold for all of them (a new one is added here).
ESTIMATORS = [SparseAutoencoder]


def assert_same_model(back, est, X) -> None:
    """``back`` is ``est`` again: hyper-parameters, fitted state and outputs, bit for bit."""
    assert type(back) is type(est) and back.get_params() == est.get_params()
    assert list(back.params_) == list(est.params_)
    for name in est.params_:
        a, b = est.params_[name], back.params_[name]
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(b, a)
    for method in ("transform", "reconstruct", "score_samples"):
        np.testing.assert_array_equal(getattr(back, method)(X), getattr(est, method)(X))
    np.testing.assert_array_equal(back.inverse_transform(est.transform(X)), est.reconstruct(X))
    assert back.score(X) == est.score(X)
    assert back.history_ == est.history_ and back.stop_reason_ == est.stop_reason_
    assert back.n_features_in_ == est.n_features_in_ and back.n_iter_ == est.n_iter_
    assert back.seed_ == est.seed_ and back.model_.term_names() == est.model_.term_names()
    assert hasattr(back, "feature_names_in_") == hasattr(est, "feature_names_in_")
    if hasattr(est, "feature_names_in_"):
        np.testing.assert_array_equal(back.feature_names_in_, est.feature_names_in_)
    np.testing.assert_array_equal(back.get_feature_names_out(), est.get_feature_names_out())


@pytest.mark.parametrize("estimator", ESTIMATORS)
@settings(max_examples=8, deadline=None)
@given(solver=st.sampled_from(["lbfgs", "adam"]), n_hidden=st.integers(1, 6), float32=st.booleans(),
       random_state=st.one_of(st.none(), st.integers(0, 2**64)),
       penalty=st.sampled_from(["kl", "l1", "none"]))
def test_save_load_round_trip_is_exact(tmp_path_factory, estimator, solver, n_hidden, float32, random_state,
                                       penalty):
    X = data().astype(np.float32) if float32 else data()
    est = estimator(n_hidden=n_hidden, rho=0.2, solver=solver, max_iter=3, batch_size=16, penalty=penalty,
                    random_state=random_state, backend="numpy").fit(X)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    est.save(path)
    assert_same_model(estimator.load(path), est, X)


def test_saved_file_is_plain_npz_with_json_hyperparameters(model, tmp_path):
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        assert int(f["format_version"]) == FORMAT_VERSION == 3
        assert str(f["tinysae_version"]) == tinysae.__version__
        assert json.loads(str(f["hyperparameters"])) == model.get_params()
        assert int(str(f["seed"])) == model.seed_ == 0 and "feature_names_in" not in f.files
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


def _saved_arrays(model, path) -> dict[str, np.ndarray]:
    model.save(path)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _old_hyperparameters(arrays) -> np.ndarray:
    """The hyper-parameters as versions 1 and 2 wrote them: ``seed``, not ``random_state``."""
    hyper = json.loads(str(arrays["hyperparameters"]))
    hyper["seed"] = hyper.pop("random_state")
    return np.array(json.dumps(hyper))


def _assert_same_fit(back, model):
    assert back.get_params() == model.get_params() and back.n_features_in_ == 16
    assert "seed" not in back.get_params() and back.random_state == back.seed_ == model.seed_
    assert all(np.array_equal(back.params_[name], model.params_[name]) for name in model.params_)
    assert back.history_ == model.history_ and back.stop_reason_ == model.stop_reason_
    np.testing.assert_array_equal(back.transform(data()), model.transform(data()))


def test_format_version_1_files_still_load(model, tmp_path):
    """Version 1 stored W1, b1, W2, b2 under their own names, the terms as history_<term>, no
    n_features_in, and the seed as the hyper-parameter ``seed``."""
    path = tmp_path / "model.npz"
    arrays = _saved_arrays(model, path)
    old = {key: arrays[key] for key in ("format", "stop_reason")}
    old["format_version"] = np.array(1)
    old["hyperparameters"] = _old_hyperparameters(arrays)
    old.update({name: arrays[f"param_{name}"] for name in ("W1", "b1", "W2", "b2")})
    for key in ("iteration", "loss", "terms_iteration", "rho_hat_mean"):
        old[f"history_{key}"] = arrays[f"history_{key}"]
    for term in ("reconstruction", "weight_decay", "sparsity"):
        old[f"history_{term}"] = arrays[f"history_term_{term}"]
    _write_npz(path, **old)
    _assert_same_fit(SparseAutoencoder.load(path), model)


def test_format_version_2_files_still_load(model, tmp_path):
    """Version 2: the parameters by name and n_features_in, the hyper-parameter ``seed``, no
    tinysae_version, seed or feature_names_in entries."""
    path = tmp_path / "model.npz"
    arrays = _saved_arrays(model, path)
    old = {k: v for k, v in arrays.items() if k not in ("tinysae_version", "seed")}
    old["format_version"] = np.array(2)
    old["hyperparameters"] = _old_hyperparameters(arrays)
    _write_npz(path, **old)
    _assert_same_fit(SparseAutoencoder.load(path), model)
    # in a version 3 file, "seed" is not a hyper-parameter
    _write_npz(path, **{**arrays, "hyperparameters": _old_hyperparameters(arrays)})
    with pytest.raises(ValueError, match="damaged or inconsistent.*'seed'"):
        SparseAutoencoder.load(path)


def test_a_newer_format_version_is_refused_saying_so(model, tmp_path):
    path = tmp_path / "model.npz"
    arrays = _saved_arrays(model, path)
    _write_npz(path, **{**arrays, "format_version": np.array(FORMAT_VERSION + 1),
                        "tinysae_version": np.array("9.0.0")})
    message = (f"has format version {FORMAT_VERSION + 1} (written by tinysae 9.0.0), newer than this "
               f"tinysae ({tinysae.__version__}) reads format versions 1 to {FORMAT_VERSION}: "
               "upgrade tinysae")
    with pytest.raises(ValueError, match=re.escape(message)):
        SparseAutoencoder.load(path)
    _write_npz(path, format=np.array("tinysae.SparseAutoencoder"),
               format_version=np.array(FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=r"\(written by a newer tinysae\), newer than this"):
        SparseAutoencoder.load(path)
    _write_npz(path, **{**arrays, "format_version": np.array(0)})
    with pytest.raises(ValueError, match="has format version 0; this tinysae"):
        SparseAutoencoder.load(path)


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


# ---------------------------------------------------------------------------------- quiet, random_state
def test_fit_is_quiet_by_default(capsys):
    assert SparseAutoencoder().verbose is False
    fitted(verbose=SparseAutoencoder().verbose)
    assert capsys.readouterr().out == ""
    fitted(verbose=True, max_iter=2)
    assert "loss" in capsys.readouterr().out


def test_seed_is_now_random_state():
    params = SparseAutoencoder().get_params()
    assert params["random_state"] == 0 and "seed" not in params
    with pytest.raises(TypeError):
        SparseAutoencoder(seed=0)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_same_int_random_state_same_model_another_int_another(solver):
    kw = dict(solver=solver, max_iter=3, batch_size=16, learning_rate=0.01)
    a, b = fitted(random_state=3, **kw), fitted(random_state=np.int64(3), **kw)
    c = fitted(random_state=4, **kw)
    assert a.seed_ == b.seed_ == 3 and c.seed_ == 4
    np.testing.assert_array_equal(a.W1_, b.W1_)
    np.testing.assert_array_equal(a.transform(data()), b.transform(data()))
    assert not np.array_equal(a.W1_, c.W1_)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_a_generator_random_state_gives_the_fit_one_drawn_seed(solver):
    kw = dict(solver=solver, max_iter=3, batch_size=16, learning_rate=0.01)
    rng = np.random.default_rng(11)
    est = fitted(random_state=rng, **kw)
    assert est.random_state is rng  # stored unchanged; the fit drew from it once
    expected = int(np.random.default_rng(11).integers(2**32))
    assert est.seed_ == expected
    # the drawn int reproduces the fit exactly, as does a Generator in the same state
    np.testing.assert_array_equal(fitted(random_state=est.seed_, **kw).W1_, est.W1_)
    np.testing.assert_array_equal(fitted(random_state=np.random.default_rng(11), **kw).W1_, est.W1_)
    # a second fit draws again, so it differs
    first = est.W1_
    est.fit(data())
    assert est.seed_ != expected and not np.array_equal(est.W1_, first)


def test_random_state_none_draws_fresh_seeds():
    a, b = fitted(random_state=None), fitted(random_state=None)
    assert 0 <= a.seed_ < 2**32 and a.seed_ != b.seed_ and not np.array_equal(a.W1_, b.W1_)
    np.testing.assert_array_equal(fitted(random_state=a.seed_).W1_, a.W1_)


# ---------------------------------------------------------------------------------- input validation
BAD_INPUTS = {
    "sparse matrix": (lambda X: scipy.sparse.csr_matrix(X), TypeError, "sparse csr_matrix.*toarray"),
    "sparse array": (lambda X: scipy.sparse.csr_array(X), TypeError, "sparse csr_array"),
    "complex": (lambda X: X + 1j, ValueError, "Complex data not supported: X has dtype complex128"),
    "object with a dict": (lambda X: np.array([[{"a": 1}] * X.shape[1]] * 2, dtype=object), TypeError,
                           "X must hold real numbers.*argument must be a string or a real number"),
    "strings": (lambda X: X.astype(str), TypeError, "X must hold real numbers, got dtype <U"),
    "1-D": (lambda X: X[0], ValueError, r"X must be 2-D .*shape \(16,\)\. Reshape your data"),
    "3-D": (lambda X: X[None], ValueError, r"X must be 2-D .*a 3-D array of shape \(1, 60, 16\)"),
    "scalar": (lambda X: 1.0, ValueError, "X must be 2-D .*got a scalar"),
    "no rows": (lambda X: X[:0], ValueError, r"X has 0 sample\(s\) \(shape=\(0, 16\)\) while a minimum of 1"),
    "no columns": (lambda X: X[:, :0], ValueError, r"X has 0 feature\(s\) \(shape=\(60, 0\)\) while a min"),
    "NaN": (lambda X: np.where(np.arange(16) == 3, np.nan, X), ValueError,
            r"X must be finite \(no NaN or inf\), but X\[0, 3\] = nan"),
    "inf": (lambda X: np.where(np.arange(16) == 5, -np.inf, X), ValueError, r"but X\[0, 5\] = -inf"),
    "ragged": (lambda X: [[0.5, 0.5], [0.5]], ValueError, "X cannot be read as an array of numbers"),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_inputs_are_reported_by_fit_and_transform(model, kind):
    make, error, message = BAD_INPUTS[kind]
    bad = make(data())
    with pytest.raises(error, match=message):
        SparseAutoencoder(n_hidden=3, max_iter=2, backend="numpy").fit(bad)
    for method in ("transform", "reconstruct", "score_samples", "score"):
        with pytest.raises(error, match=message):
            getattr(model, method)(bad)


def test_inverse_transform_checks_codes_the_same_way(model):
    with pytest.raises(ValueError, match=r"H must be finite \(no NaN or inf\)"):
        model.inverse_transform(np.full((2, 5), np.nan))
    with pytest.raises(TypeError, match="H is a scipy sparse"):
        model.inverse_transform(scipy.sparse.csr_matrix(np.ones((2, 5))))
    with pytest.raises(ValueError, match="H must be 2-D"):
        model.inverse_transform(np.ones(5))


def test_the_estimators_module_does_not_import_scipy_sparse():
    """Sparse input is refused without importing scipy.sparse, which ``tinysae train`` would
    otherwise pay for at start-up: in a fresh interpreter without scikit-learn (the core install;
    scikit-learn imports scipy.sparse itself), importing the estimators leaves it out."""
    code = ("import sys; sys.modules['sklearn'] = None  # as if not installed: import raises ImportError\n"
            "import tinysae.estimator; print(tinysae.estimator.SKLEARN_BASES, 'scipy.sparse' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


def test_dtypes_float32_and_float64_are_kept_others_become_float64():
    X = data()
    adam = dict(solver="adam", max_iter=2, batch_size=16)
    assert fitted(**adam).fit(X.astype(np.float32)).transform(X.astype(np.float32)).dtype == np.float32
    assert fitted(**adam).fit(X).transform(X).dtype == np.float64
    assert fitted().transform(X.astype(np.float32)).dtype == np.float64  # L-BFGS trains in float64
    ints = (X * 10).astype(np.int32)
    est = SparseAutoencoder(n_hidden=3, max_iter=2, output="identity", backend="numpy").fit(ints)
    np.testing.assert_array_equal(est.transform(ints), est.transform(ints.astype(np.float64)))
    np.testing.assert_array_equal(est.transform(ints.astype(object)), est.transform(ints.tolist()))
    assert est.transform(ints.astype(bool)).dtype == np.float64


# ---------------------------------------------------------------------------------- feature names
class Frame:
    """What the estimators read of a DataFrame (pandas, polars): ``columns`` and ``__array__``."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


NAMES = [f"px{i}" for i in range(16)]


def test_get_feature_names_out_names_the_hidden_units(model):
    expected = [f"sparseautoencoder{i}" for i in range(5)]
    out = model.get_feature_names_out()
    assert out.dtype == object and out.tolist() == expected
    assert model.get_feature_names_out([f"x{i}" for i in range(16)]).tolist() == expected
    with pytest.raises(ValueError, match=r"input_features should have length equal to number of features"):
        model.get_feature_names_out(["a", "b"])


def test_string_column_names_become_feature_names_in_and_are_checked(tmp_path):
    X = data()
    est = SparseAutoencoder(n_hidden=4, max_iter=3, backend="numpy").fit(Frame(X, NAMES))
    assert est.feature_names_in_.dtype == object and est.feature_names_in_.tolist() == NAMES
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same names: no warning
        H = est.transform(Frame(X, NAMES))
    plain = SparseAutoencoder(n_hidden=4, max_iter=3, backend="numpy").fit(X)
    np.testing.assert_array_equal(H, plain.transform(X))
    assert est.get_feature_names_out(NAMES).tolist() == [f"sparseautoencoder{i}" for i in range(4)]
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        est.get_feature_names_out([f"q{i}" for i in range(16)])
    with pytest.raises(ValueError, match="Feature names must be in the same order as they were in fit"):
        est.transform(Frame(X, NAMES[::-1]))
    with pytest.raises(ValueError, match="Feature names unseen at fit time:\n- other\n"):
        est.transform(Frame(X, NAMES[:-1] + ["other"]))
    with pytest.raises(ValueError, match="Feature names seen at fit time, yet now missing:\n- px9\n"):
        est.transform(Frame(X[:, :15], [n for n in NAMES if n != "px9"]))
    with pytest.warns(UserWarning, match="X does not have valid feature names, but SparseAutoencoder was"):
        est.transform(X)
    path = tmp_path / "m.npz"
    est.save(path)
    assert_same_model(SparseAutoencoder.load(path), est, Frame(X, NAMES))
    est.fit(X)  # a refit on an array forgets the names
    assert not hasattr(est, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but SparseAutoencoder was fitted without"):
        est.transform(Frame(X, NAMES))
    # names that are not all strings are no names (scikit-learn's rule)
    assert not hasattr(SparseAutoencoder(n_hidden=2, max_iter=2, backend="numpy").fit(Frame(X, range(16))),
                       "feature_names_in_")


# ---------------------------------------------------------------------------------- saving: what is refused
def test_numpy_scalar_hyperparameters_are_saved_as_plain_json(tmp_path):
    est = SparseAutoencoder(n_hidden=np.int64(3), rho=np.float64(0.1), beta=np.float32(0.5),
                            max_iter=np.int32(3), verbose=np.bool_(False), random_state=np.uint8(4),
                            backend=np.str_("numpy")).fit(data())
    path = tmp_path / "m.npz"
    est.save(path)
    with np.load(path, allow_pickle=False) as f:
        hyper = json.loads(str(f["hyperparameters"]))
    assert {name: type(hyper[name]) for name in ("n_hidden", "rho", "beta", "max_iter", "verbose",
                                                 "random_state", "backend")} == {
        "n_hidden": int, "rho": float, "beta": float, "max_iter": int, "verbose": bool, "random_state": int,
        "backend": str}
    back = SparseAutoencoder.load(path)
    assert back.n_hidden == 3 and type(back.n_hidden) is int and back.random_state == 4
    assert_same_model(back, est, data())


def test_a_generator_random_state_is_refused_at_save_with_the_way_out(tmp_path):
    est = fitted(random_state=np.random.default_rng(5))
    path = tmp_path / "m.npz"
    message = (r"SparseAutoencoder.save cannot store random_state=Generator\(PCG64\) at 0x[0-9A-Fa-f]+: "
               f"a Generator's state is not a plain JSON value. This fit drew the seed {est.seed_} from "
               r"it, which reproduces this model: call model.set_params\(random_state=model.seed_\) "
               r"\(no refit needed\), then save.")
    with pytest.raises(ValueError, match=message):
        est.save(path)
    assert not path.exists()
    est.set_params(random_state=est.seed_)
    est.save(path)
    back = SparseAutoencoder.load(path)
    assert back.random_state == est.seed_
    assert_same_model(back, est, data())
    np.testing.assert_array_equal(SparseAutoencoder(**back.get_params()).fit(data()).W1_, est.W1_)


def test_random_state_none_is_saved_as_null_with_the_fits_seed(tmp_path):
    est = fitted(random_state=None)
    path = tmp_path / "m.npz"
    est.save(path)
    with np.load(path, allow_pickle=False) as f:
        assert json.loads(str(f["hyperparameters"]))["random_state"] is None
        assert int(str(f["seed"])) == est.seed_
    assert_same_model(SparseAutoencoder.load(path), est, data())


def test_hyperparameters_changed_since_fit_are_refused_at_save(tmp_path):
    est = fitted()
    est.set_params(n_hidden=9, rho=0.3)
    changes = r"changed since fit \(n_hidden=5 at fit, 9 now, rho=0.1 at fit, 0.3 now\)"
    with pytest.raises(ValueError, match=changes):
        est.save(tmp_path / "m.npz")
    est.set_params(n_hidden=5, rho=0.1)  # set back: the file describes the fit again
    est.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"changed since fit \(random_state=0 at fit, 7 now\)"):
        est.set_params(random_state=7).save(tmp_path / "m.npz")


def test_a_custom_penalty_is_refused_at_save(tmp_path):
    class Square(tinysae.Penalty):
        def __call__(self, H):
            return H.square().sum() / H.shape[0]

    est = SparseAutoencoder(n_hidden=3, penalty=Square(), max_iter=2, backend="autograd").fit(data())
    with pytest.raises(ValueError, match="cannot store the penalty .*a model file holds data only, never"):
        est.save(tmp_path / "m.npz")


def test_loading_executes_nothing_from_the_file(model, tmp_path, monkeypatch):
    calls = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **kw: calls.append(kw) or real_load(*a, **kw))
    path = tmp_path / "m.npz"
    model.save(path)
    SparseAutoencoder.load(path)
    assert calls == [{"allow_pickle": False}]
