"""The four variant estimators: DenoisingAutoencoder, ContractiveAutoencoder, StackedAutoencoder
and DeepAutoencoder, with scikit-learn's conventions, persistence, clear errors, and the BLAS
thread limit of a fit (:mod:`tinysae.threads`).

Everything trains on 90 rows of the digits for a few iterations, so the file takes seconds.
scikit-learn's own estimator checks run on all four in ``tests/test_sklearn.py``; here are the
conventions on real data (clone, pipelines, grid search, persistence) and what is particular to
each variant.
"""

from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest
from scipy.special import expit
from threadpoolctl import threadpool_info, threadpool_limits

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import DataConversionWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

import tinysae  # noqa: E402
from tinysae import (  # noqa: E402
    ContractiveAutoencoder,
    DeepAutoencoder,
    DenoisingAutoencoder,
    NotFittedError,
    StackedAutoencoder,
)
from tinysae.models import DenoisingSAE  # noqa: E402
from tinysae.threads import ENV_VARIABLE, blas_limit, fit_threads, usable_cores  # noqa: E402

_DIGITS, _LABELS = tinysae.load_digits()
X, Y = _DIGITS[:90], _LABELS[:90]
X_NEW = _DIGITS[100:110]  # rows the fits never saw
NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])

#: Small, fast settings of each estimator.
SETTINGS = {
    DenoisingAutoencoder: dict(n_hidden=8, max_iter=3, batch_size=32, backend="numpy"),
    ContractiveAutoencoder: dict(n_hidden=8, max_iter=10, backend="numpy"),
    StackedAutoencoder: dict(hidden=(12, 6), pretrain_iter=8, max_iter=8),
    DeepAutoencoder: dict(hidden=(12,), n_components=3, pretrain_iter=8, max_iter=8),
}
CLASSES = list(SETTINGS)
#: The width of each estimator's code, from its settings.
CODE_WIDTH = {DenoisingAutoencoder: 8, ContractiveAutoencoder: 8, StackedAutoencoder: 6, DeepAutoencoder: 3}


def make(cls: type, **changes) -> tinysae.AutoencoderEstimator:
    return cls(**{**SETTINGS[cls], **changes})


def fit(cls: type, **changes) -> tinysae.AutoencoderEstimator:
    return make(cls, **changes).fit(X, Y)


def same_params(a: tinysae.Params, b: tinysae.Params) -> bool:
    return list(a) == list(b) and all(np.array_equal(a[name], b[name]) for name in a)


@pytest.fixture(scope="module")
def fitted() -> dict[type, tinysae.AutoencoderEstimator]:
    return {cls: fit(cls) for cls in CLASSES}


ids = [cls.__name__ for cls in CLASSES]


# ================================================================================ outputs
@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_fit_transform_reconstruct_and_score_samples(cls, fitted) -> None:
    est = fitted[cls]
    width = CODE_WIDTH[cls]
    assert est.n_features_in_ == 64 and est.model_.n_hidden == width
    for data in (X, X_NEW):
        H, Xhat, scores = est.transform(data), est.reconstruct(data), est.score_samples(data)
        assert H.shape == (len(data), width) and Xhat.shape == data.shape and scores.shape == (len(data),)
        assert np.all(np.isfinite(H)) and np.all(np.isfinite(Xhat))
        np.testing.assert_allclose(scores, -np.sum((Xhat - data) ** 2, axis=1), rtol=1e-12)
        np.testing.assert_array_equal(est.inverse_transform(H), Xhat)
        np.testing.assert_array_equal(est.transform(data), H)  # deterministic
    assert list(est.get_feature_names_out()) == [f"{cls.__name__.lower()}{i}" for i in range(width)]
    if cls is not StackedAutoencoder:  # a transformer's score: minus the mean reconstruction term
        assert est.score(X) == pytest.approx(np.mean(est.score_samples(X)) / 2, rel=1e-12)
        np.testing.assert_array_equal(make(cls).fit_transform(X), est.transform(X))
    else:
        np.testing.assert_array_equal(make(cls).fit_transform(X, Y), est.transform(X))


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_the_same_random_state_gives_the_same_model(cls, fitted) -> None:
    est, again = fitted[cls], fit(cls)
    assert same_params(est.params_, again.params_)
    assert est.history_.loss == again.history_.loss and est.history_.terms == again.history_.terms
    assert est.seed_ == again.seed_ == 0
    other = fit(cls, random_state=1)
    assert not np.array_equal(other.params_["W1"], est.params_["W1"])
    if cls in (StackedAutoencoder, DeepAutoencoder):
        assert len(est.pretrain_histories_) == len(est.model_.sizes) - 1
        for a, b in zip(est.pretrain_histories_, again.pretrain_histories_):
            assert a.loss == b.loss


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_clone_get_params_and_set_params(cls, fitted) -> None:
    est = fitted[cls]
    copy = clone(est)
    assert type(copy) is cls and not hasattr(copy, "params_")
    assert copy.get_params() == est.get_params() == {**cls().get_params(), **SETTINGS[cls]}
    specific = {DenoisingAutoencoder: ("corruption", "noise_level"), ContractiveAutoencoder: ("contraction",),
                StackedAutoencoder: ("hidden", "pretrain_iter", "fine_tune", "fine_tune_weight_decay"),
                DeepAutoencoder: ("hidden", "n_components", "pretrain_iter", "fine_tune")}[cls]
    assert set(specific) <= set(est.get_params())
    assert copy.set_params(max_iter=2, random_state=5) is copy
    assert (copy.max_iter, copy.random_state, est.max_iter) == (2, 5, SETTINGS[cls]["max_iter"])
    with pytest.raises(ValueError, match="(?i)invalid parameter 'n_hiden'"):
        copy.set_params(n_hiden=3)
    reseeded = clone(est).set_params(random_state=3).fit(X, Y)
    assert not np.array_equal(reseeded.params_["W1"], est.params_["W1"])


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_pickle_round_trip(cls, fitted) -> None:
    est = fitted[cls]
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.transform(X_NEW), est.transform(X_NEW))
    np.testing.assert_array_equal(back.reconstruct(X_NEW), est.reconstruct(X_NEW))


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_in_a_pipeline(cls) -> None:
    if cls is StackedAutoencoder:
        pipe = Pipeline([("scale", MinMaxScaler(clip=True)), ("stack", make(cls))]).fit(X, Y)
        assert pipe.predict(X_NEW).shape == (10,)
        assert pipe.score(X, Y) == accuracy_score(Y, pipe.predict(X))
        assert pipe.predict_proba(X_NEW).shape == (10, 10)
    else:
        pipe = Pipeline([("scale", MinMaxScaler(clip=True)), ("ae", make(cls)),
                         ("clf", LogisticRegression(max_iter=200))]).fit(X, Y)
        assert pipe.predict(X_NEW).shape == (10,) and 0.0 <= pipe.score(X, Y) <= 1.0
        codes = Pipeline([("scale", MinMaxScaler(clip=True)), ("ae", make(cls))]).fit_transform(X)
        assert codes.shape == (90, CODE_WIDTH[cls])
        np.testing.assert_array_equal(codes, pipe[:-1].transform(X))


GRIDS = {
    DenoisingAutoencoder: {"noise_level": [0.1, 0.4]},
    ContractiveAutoencoder: {"contraction": [0.0, 0.5]},
    StackedAutoencoder: {"hidden": [(8,), (12, 6)]},
    DeepAutoencoder: {"n_components": [2, 3]},
}


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_grid_search(cls) -> None:
    (name, values), = GRIDS[cls].items()
    search = GridSearchCV(make(cls), GRIDS[cls], cv=2).fit(X, Y)
    assert [params[name] for params in search.cv_results_["params"]] == values
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_[name] in values
    best = search.best_estimator_
    assert getattr(best, name) == search.best_params_[name] and hasattr(best, "params_")
    assert search.score(X, Y) == best.score(X, Y)


# ================================================================================ persistence
@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_save_and_load_give_the_same_model(cls, fitted, tmp_path) -> None:
    est = fitted[cls]
    path = tmp_path / "model.npz"
    est.save(path)
    back = cls.load(path)
    assert type(back) is cls and back.get_params() == est.get_params()
    assert same_params(back.params_, est.params_)
    for attribute in ("n_features_in_", "seed_", "stop_reason_", "n_iter_"):
        assert getattr(back, attribute) == getattr(est, attribute)
    assert back.history_.loss == est.history_.loss and back.history_.terms == est.history_.terms
    for method in ("transform", "reconstruct", "score_samples"):
        np.testing.assert_array_equal(getattr(back, method)(X_NEW), getattr(est, method)(X_NEW))
    if cls in (StackedAutoencoder, DeepAutoencoder):
        assert isinstance(back.hidden, tuple) and back.hidden == est.hidden
    if cls is StackedAutoencoder:
        np.testing.assert_array_equal(back.classes_, est.classes_)
        np.testing.assert_array_equal(back.predict_proba(X_NEW), est.predict_proba(X_NEW))
    back.save(tmp_path / "again.npz")  # a loaded model saves again


@pytest.mark.parametrize("as_objects", [False, True], ids=["str", "object"])
def test_a_stacked_classifier_with_string_labels_saves_and_loads(as_objects, tmp_path) -> None:
    labels = NAMES[Y].astype(object) if as_objects else NAMES[Y]
    est = make(StackedAutoencoder, hidden=[12, 6]).fit(X, labels)  # a list: saved, read back as a tuple
    est.save(tmp_path / "m.npz")
    back = StackedAutoencoder.load(tmp_path / "m.npz")
    assert back.hidden == (12, 6) and isinstance(back.hidden, tuple)
    np.testing.assert_array_equal(back.classes_, sorted(NAMES))
    assert back.classes_.dtype == est.classes_.dtype
    np.testing.assert_array_equal(back.predict(X_NEW), est.predict(X_NEW))
    assert back.score(X, labels) == est.score(X, labels)


# ================================================================================ errors
BAD_HYPERPARAMETERS = [
    (DenoisingAutoencoder, dict(corruption="bogus"), ValueError, "corruption='bogus' is not one of"),
    (DenoisingAutoencoder, dict(noise_level=-1), ValueError, "noise_level must be >= 0"),
    (DenoisingAutoencoder, dict(corruption="masking", noise_level=1.5), ValueError, r"noise_level.*\[0, 1\]"),
    (DenoisingAutoencoder, dict(corruption="salt_pepper", noise_level=2), ValueError, r"level.*\[0, 1\]"),
    (DenoisingAutoencoder, dict(noise_level="a lot"), TypeError, "noise_level must be a real number"),
    (DenoisingAutoencoder, dict(n_hidden=0), ValueError, "n_hidden must be >= 1"),
    (ContractiveAutoencoder, dict(contraction=-1), ValueError, "contraction must be >= 0"),
    (ContractiveAutoencoder, dict(contraction=float("inf")), ValueError, "contraction must be finite"),
    (ContractiveAutoencoder, dict(solver="sgd"), ValueError, "solver='sgd'"),
    (StackedAutoencoder, dict(hidden=()), ValueError, "hidden must be a non-empty sequence"),
    (StackedAutoencoder, dict(hidden=(10, 0)), ValueError, r"hidden\[1\] must be >= 1"),
    (StackedAutoencoder, dict(hidden=12), ValueError, "hidden must be a non-empty sequence"),
    (StackedAutoencoder, dict(hidden=(10, 2.5)), TypeError, r"hidden\[1\] must be an integer"),
    (StackedAutoencoder, dict(fine_tune="yes"), TypeError, "fine_tune must be True or False"),
    (StackedAutoencoder, dict(pretrain_iter=0), ValueError, "pretrain_iter must be >= 1"),
    (StackedAutoencoder, dict(penalty="bogus"), ValueError, "penalty='bogus'"),
    (StackedAutoencoder, dict(fine_tune_weight_decay=-1.0), ValueError, "fine_tune_weight_decay must be >="),
    (DeepAutoencoder, dict(n_components=0), ValueError, "n_components must be >= 1"),
    (DeepAutoencoder, dict(hidden=(10, 0)), ValueError, r"hidden\[1\] must be >= 1"),
    (DeepAutoencoder, dict(hidden=()), ValueError, "hidden must be a non-empty sequence"),
    (DeepAutoencoder, dict(fine_tune="yes"), TypeError, "fine_tune must be True or False"),
    (DeepAutoencoder, dict(weight_decay=-1.0), ValueError, "weight_decay must be >= 0"),
]


@pytest.mark.parametrize(("cls", "changes", "error", "message"), BAD_HYPERPARAMETERS,
                         ids=[f"{c.__name__}-{next(iter(k))}={next(iter(k.values()))!r}"
                              for c, k, _, _ in BAD_HYPERPARAMETERS])
def test_bad_hyperparameters_are_reported_at_fit(cls, changes, error, message) -> None:
    est = make(cls, **changes)  # stored unchanged by __init__
    assert all(est.get_params()[name] is value for name, value in changes.items())
    with pytest.raises(error, match=message):
        est.fit(X, Y)
    assert not hasattr(est, "params_")


@pytest.mark.parametrize("cls", CLASSES, ids=ids)
def test_bad_data_is_reported(cls, fitted) -> None:
    with_nan = X.copy()
    with_nan[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"X must be finite \(no NaN or inf\), but X\[3, 5\] = nan"):
        make(cls).fit(with_nan, Y)
    with pytest.raises(ValueError, match=r"output='sigmoid' reconstructs values in \[0, 1\]"):
        make(cls).fit(X * 2.0, Y)
    est = fitted[cls]
    for method in ("transform", "reconstruct", "score_samples"):
        with pytest.raises(ValueError, match=f"X has 10 features, but {cls.__name__} is expecting 64"):
            getattr(est, method)(X[:, :10])
    with pytest.raises(ValueError, match="H has 2 columns"):
        est.inverse_transform(np.zeros((3, 2)))
    with pytest.raises(NotFittedError, match="not fitted"):
        make(cls).transform(X)


def test_a_stacked_classifier_checks_its_labels() -> None:
    cases = [
        (None, "requires y to be passed, but the target y is None"),
        (Y[:10], r"y must be 1-D with one label per row of X \(90\), got shape \(10,\)"),
        (np.stack([Y, Y], axis=1), r"got shape \(90, 2\)"),
        (np.full(90, 4), r"y holds one class \(4\); a classifier needs at least 2"),
        (np.where(np.arange(90) == 7, np.inf, Y.astype(float)), "y must be finite class labels"),
        (Y + 0.5, "Unknown label type: continuous"),
    ]
    for labels, message in cases:
        est = make(StackedAutoencoder)
        with pytest.raises(ValueError, match=message):
            est.fit(X, labels)
        assert not hasattr(est, "params_")
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed when a 1d array was"):
        column = make(StackedAutoencoder).fit(X, Y[:, None])
    assert same_params(column.params_, fit(StackedAutoencoder).params_)
    as_floats = make(StackedAutoencoder).fit(X, Y.astype(float))  # integral floats are labels
    np.testing.assert_array_equal(as_floats.classes_, np.arange(10.0))
    for method in ("predict", "predict_proba"):
        with pytest.raises(NotFittedError, match="not fitted"):
            getattr(make(StackedAutoencoder), method)(X)
    with pytest.raises(NotFittedError, match="not fitted"):
        make(StackedAutoencoder).score(X, Y)
    with pytest.raises(ValueError, match="score needs the labels y"):
        fit(StackedAutoencoder).score(X)


# ================================================================================ the stacked ones
def test_stacked_predictions_come_from_classes_and_score_is_accuracy() -> None:
    labels = NAMES[Y]
    est = make(StackedAutoencoder).fit(X, labels)
    np.testing.assert_array_equal(est.classes_, np.unique(labels))
    P = est.predict_proba(X_NEW)
    assert P.shape == (10, 10) and np.all(P >= 0)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    predicted = est.predict(X_NEW)
    assert set(predicted) <= set(NAMES)
    np.testing.assert_array_equal(predicted, est.classes_[np.argmax(P, axis=1)])
    assert est.score(X, labels) == accuracy_score(labels, est.predict(X)) == np.mean(est.predict(X) == labels)
    assert est.score(X, labels) > 0.5  # fine-tuning on 90 digits fits most of them
    # labels that sort as the ints do give the same one-hot targets, so the same model
    same_order = np.array([f"digit {i}" for i in range(10)])
    by_name, by_int = make(StackedAutoencoder).fit(X, same_order[Y]), fit(StackedAutoencoder)
    assert same_params(by_name.params_, by_int.params_)
    np.testing.assert_array_equal(by_name.predict(X_NEW), same_order[by_int.predict(X_NEW)])


@pytest.mark.parametrize("cls", [StackedAutoencoder, DeepAutoencoder], ids=["Stacked", "Deep"])
def test_fine_tune_false_keeps_the_pretrained_network(cls, fitted) -> None:
    frozen = fit(cls, fine_tune=False)
    assert same_params(frozen.params_, frozen.pretrained_params_)
    assert frozen.n_iter_ == 0 and frozen.stop_reason_ == "fine_tune=False"
    tuned = fitted[cls]
    assert same_params(tuned.pretrained_params_, frozen.pretrained_params_)  # the same pre-training
    assert not np.array_equal(tuned.params_["W1"], tuned.pretrained_params_["W1"])
    if cls is StackedAutoencoder:
        # classification fine-tuning does not reach the decoder: it stays as pre-training left it
        L = len(tuned.hidden)
        for layer in range(L + 1, 2 * L + 1):
            for name in (f"W{layer}", f"b{layer}"):
                np.testing.assert_array_equal(tuned.params_[name], tuned.pretrained_params_[name])


def test_deep_autoencoder_codes_are_n_components_wide_and_linear(fitted) -> None:
    est = fitted[DeepAutoencoder]
    assert est.model_.sizes == (64, 12, 3) and est.model_.code_activation == "identity"
    H = est.transform(X)
    assert H.shape == (90, 3)
    H1 = expit(X @ est.params_["W1"].T + est.params_["b1"])
    np.testing.assert_allclose(H, H1 @ est.params_["W2"].T + est.params_["b2"], rtol=1e-12, atol=1e-14)
    wide = fit(DeepAutoencoder, hidden=(10, 6), n_components=4)
    assert wide.transform(X_NEW).shape == (10, 4) and len(wide.pretrain_histories_) == 3


# ================================================================================ denoising
def test_denoising_transform_does_not_corrupt(fitted, monkeypatch) -> None:
    est = fitted[DenoisingAutoencoder]
    calls = []
    monkeypatch.setattr(DenoisingSAE, "corrupt", lambda self, X, rng: calls.append(1) or X)
    H = est.transform(X)
    est.reconstruct(X), est.score_samples(X)
    assert calls == []
    np.testing.assert_allclose(H, expit(X @ est.W1_.T + est.b1_), rtol=1e-13, atol=1e-15)


def spy_on_corruption(monkeypatch) -> list[tuple[int, int, int]]:
    """Record every corruption a fit draws: ``(rows, the generator's state, BLAS threads)``."""
    calls = []
    original = DenoisingSAE.corrupt

    def corrupt(self, X, rng):
        threads = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
        calls.append((X.shape[0], rng.bit_generator.state["state"]["state"], max(threads)))
        return original(self, X, rng)

    monkeypatch.setattr(DenoisingSAE, "corrupt", corrupt)
    return calls


def test_adam_draws_new_corruption_at_every_step_lbfgs_one_for_the_run(monkeypatch) -> None:
    calls = spy_on_corruption(monkeypatch)
    est = make(DenoisingAutoencoder, max_iter=4).fit(X)  # 4 epochs of minibatches 32, 32, 26
    steps = [state for rows, state, _ in calls if rows < 90]
    assert [rows for rows, _, _ in calls if rows < 90] == [32, 32, 26] * 4
    assert len(set(steps)) == len(steps) == 12  # a fresh corruption at each step
    full = {state for rows, state, _ in calls if rows == 90}  # the epochs' full-data objective
    assert len(full) == 1 and not full & set(steps)  # one fixed corruption: comparable epochs
    assert est.n_iter_ == 4

    calls.clear()
    est = make(DenoisingAutoencoder, solver="lbfgs", max_iter=5, random_state=3).fit(X)
    states = {state for _, state, _ in calls}
    assert len(calls) >= 5
    assert states == {np.random.default_rng(est.seed_).bit_generator.state["state"]["state"]}


def test_the_corruption_alone_changes_what_is_learned(fitted) -> None:
    """From the same initial parameters, a run's seed (its corruption) changes the result."""
    est = fitted[DenoisingAutoencoder]
    model = DenoisingSAE(64, 8, est.objective_, "masking", 0.5)
    start = model.init_params(seed=0)
    runs = [tinysae.lbfgs(start, X, model, max_iter=5, seed=seed, verbose=False) for seed in (0, 0, 1)]
    assert same_params(runs[0].params, runs[1].params)
    assert not np.array_equal(runs[0].params["W1"], runs[2].params["W1"])
    assert fit(DenoisingAutoencoder, random_state=1).history_.loss != est.history_.loss


# ================================================================================ BLAS threads
def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def pool_settings() -> dict[str, int]:
    """Each thread pool's thread count, by library file (a fit may load numba's, never change one)."""
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}


def assert_restored(before: dict[str, int]) -> None:
    after = pool_settings()
    assert {path: after.get(path) for path in before} == before


def test_a_fit_holds_blas_to_the_usable_cores_and_restores_the_pools(monkeypatch) -> None:
    monkeypatch.delenv(ENV_VARIABLE, raising=False)
    cores = usable_cores()
    with threadpool_limits(limits=cores + 1, user_api="blas"):  # a setting the fit must give back
        before = pool_settings()
        assert blas_threads() and set(blas_threads()) == {cores + 1}
        calls = spy_on_corruption(monkeypatch)
        make(DenoisingAutoencoder, max_iter=1).fit(X)
        make(DenoisingAutoencoder, solver="lbfgs", max_iter=2).fit(X)
        assert calls and {threads for _, _, threads in calls} == {cores}  # inside both solvers
        assert_restored(before)
        fit(StackedAutoencoder)
        assert_restored(before)
        with pytest.raises(ValueError):  # an error inside a fit restores them too
            with fit_threads():
                assert set(blas_threads()) == {cores}
                raise ValueError("inside a fit")
        assert_restored(before)


@pytest.mark.parametrize(("value", "limit"), [("keep", None), ("2", 2), (" 1 ", 1), ("4", 4)])
def test_the_environment_variable_sets_the_limit(monkeypatch, value, limit) -> None:
    monkeypatch.setenv(ENV_VARIABLE, value)
    assert blas_limit() == limit
    with threadpool_limits(limits=3, user_api="blas"):
        with fit_threads():
            assert set(blas_threads()) == {3 if limit is None else limit}
        assert set(blas_threads()) == {3}


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", "", "keep it"])
def test_bad_values_of_the_environment_variable_are_refused(monkeypatch, value) -> None:
    monkeypatch.setenv(ENV_VARIABLE, value)
    message = f"{ENV_VARIABLE} must be a positive integer or 'keep', got {value.strip()!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        blas_limit()
    with pytest.raises(ValueError, match=ENV_VARIABLE):
        make(ContractiveAutoencoder).fit(X)
    assert os.environ[ENV_VARIABLE] == value
