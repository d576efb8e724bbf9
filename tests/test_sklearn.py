"""scikit-learn's own estimator checks, over every tinysae estimator, and the fallback without it.

``parametrize_with_checks`` runs scikit-learn's API and behaviour checks (input validation,
``n_features_in_``, fit idempotence, pickling, clone, dtype handling, ...) on each estimator in
:data:`ESTIMATORS`; a new estimator is checked by adding an instance there. The instances use
``output="identity"`` (the variational one ``decoder="gaussian"``) because the checks' data
include negative values and values above 1, which a sigmoid output cannot reconstruct (and
``fit`` refuses: that is a property of the model, not a defect), and few iterations so that the
checks take seconds. One check is expected to fail (:func:`expected_failures`: the stacked
classifier's ``-1`` labels mark unlabelled rows); scikit-learn itself skips the
checks that need a package that is not installed (pandas, polars) or ``SCIPY_ARRAY_API=1`` set
before scipy is imported: the latter runs below in a subprocess that sets it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", minversion="1.6")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from tinysae.dictionary import JumpReLUSAE, ReLUSAE, TopKSAE  # noqa: E402
from tinysae.estimator import SKLEARN_BASES, NotFittedError, SparseAutoencoder  # noqa: E402
from tinysae.stacked import DeepAutoencoder, StackedAutoencoder  # noqa: E402
from tinysae.vae import VariationalAutoencoder  # noqa: E402
from tinysae.variants import ContractiveAutoencoder, DenoisingAutoencoder  # noqa: E402

#: One instance per estimator (and per solver: Adam keeps float32, L-BFGS trains in float64).
ESTIMATORS = [
    SparseAutoencoder(n_hidden=3, output="identity", max_iter=5, backend="numpy"),
    SparseAutoencoder(n_hidden=3, activation="relu", output="identity", penalty="l1", solver="adam",
                      max_iter=3, batch_size=16, backend="numpy"),
    DenoisingAutoencoder(n_hidden=3, output="identity", max_iter=3, batch_size=16),
    ContractiveAutoencoder(n_hidden=3, output="identity", max_iter=5),
    StackedAutoencoder(hidden=(6, 4), output="identity", pretrain_iter=5, max_iter=30),
    DeepAutoencoder(hidden=(4,), n_components=2, output="identity", pretrain_iter=3, max_iter=5),
    VariationalAutoencoder(hidden=(4,), decoder="gaussian", max_iter=3, batch_size=16, n_elbo_samples=3),
    ReLUSAE(n_latents=6, max_iter=2, batch_size=16, warmup_steps=2, l1_warmup_steps=2),
    TopKSAE(n_latents=6, k=2, max_iter=2, batch_size=16, warmup_steps=2),
    TopKSAE(n_latents=6, k=2, batch_topk=True, max_iter=2, batch_size=16, warmup_steps=2),
    JumpReLUSAE(n_latents=6, max_iter=2, batch_size=16, warmup_steps=2, l0_warmup_steps=2),
]


def expected_failures(estimator) -> dict[str, str]:
    """check -> why it fails: ``check_classifiers_classes`` fits labels ``[-1, 1]`` as two classes,
    but to ``StackedAutoencoder`` (as to scikit-learn's semi-supervised classifiers, which the
    check exempts by name) ``-1`` marks an unlabelled row, leaving one class."""
    if isinstance(estimator, StackedAutoencoder):
        return {"check_classifiers_classes": "label -1 marks an unlabelled row (semi-supervised convention)"}
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_estimators_derive_from_scikit_learns_bases():
    from sklearn.base import BaseEstimator, TransformerMixin
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    assert SKLEARN_BASES
    assert all(isinstance(est, (BaseEstimator, TransformerMixin)) for est in ESTIMATORS)
    for base in (SklearnNotFittedError, ValueError, AttributeError):
        assert issubclass(NotFittedError, base)


ARRAY_API_CHECK = """
from sklearn.utils.estimator_checks import check_array_api_input
from tinysae import (ContractiveAutoencoder, DeepAutoencoder, DenoisingAutoencoder, JumpReLUSAE, ReLUSAE,
                     SparseAutoencoder, StackedAutoencoder, TopKSAE, VariationalAutoencoder)

for estimator in {estimators}:
    check_array_api_input(type(estimator).__name__, estimator, array_namespace="numpy",
                          expect_only_array_outputs=False)
print("ok")
"""


def test_array_api_dispatch_with_numpy_inputs_changes_nothing():
    """scikit-learn's ``check_array_api_input`` for estimators without array API support (its
    parametrized run above skips it unless SCIPY_ARRAY_API=1 was set before scipy was imported)."""
    code = ARRAY_API_CHECK.format(estimators=repr(ESTIMATORS).replace("\n", " "))
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# ---------------------------------------------------------------------------------- without scikit-learn
WITHOUT_SKLEARN = textwrap.dedent("""
    import sys

    class NoSklearn:  # an import of sklearn or any of its modules fails, as if it were not installed
        def find_spec(self, name, path=None, target=None):
            if name == "sklearn" or name.startswith("sklearn."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoSklearn())
    import numpy as np
    import tinysae
    from tinysae.estimator import SKLEARN_BASES, NotFittedError, SparseAutoencoder

    assert not SKLEARN_BASES and "sklearn" not in sys.modules
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    X = np.random.default_rng(0).uniform(0.1, 0.9, size=(40, 6))
    est = SparseAutoencoder(n_hidden=3, rho=0.1, max_iter=4, backend="numpy")
    assert repr(est) == "SparseAutoencoder(n_hidden=3, rho=0.1, max_iter=4, backend='numpy')", repr(est)
    assert est.get_params()["n_hidden"] == 3 and est.set_params(n_hidden=2) is est and est.n_hidden == 2
    try:
        est.set_params(n_hiden=3)
    except ValueError as exc:
        assert "invalid parameter 'n_hiden'" in str(exc)
    else:
        raise AssertionError("set_params accepted an unknown name")
    try:
        est.transform(X)
    except NotFittedError as exc:
        assert "not fitted" in str(exc)
    else:
        raise AssertionError("transform before fit did not raise")
    H = est.fit_transform(X)
    assert H.shape == (40, 2) and np.array_equal(H, est.transform(X))
    assert list(est.get_feature_names_out()) == ["sparseautoencoder0", "sparseautoencoder1"]
    again = SparseAutoencoder(**est.get_params()).fit(X)
    assert np.array_equal(again.W1_, est.W1_)
    est.save(sys.argv[1])
    back = SparseAutoencoder.load(sys.argv[1])
    assert np.array_equal(back.transform(X), H) and back.get_params() == est.get_params()
    y = np.arange(40) % 2
    stack = tinysae.StackedAutoencoder(hidden=(4, 3), pretrain_iter=3, max_iter=5).fit(X, y)
    assert stack.predict(X).shape == (40,) and 0.0 <= stack.score(X, y) <= 1.0
    assert repr(stack) == "StackedAutoencoder(hidden=(4, 3), pretrain_iter=3, max_iter=5)", repr(stack)
    deep = tinysae.DeepAutoencoder(hidden=(4,), pretrain_iter=3, max_iter=5).fit(X)
    assert deep.transform(X).shape == (40, 2) and "sklearn" not in sys.modules
    print("ok")
""")


def test_the_estimators_work_without_scikit_learn(tmp_path):
    done = subprocess.run([sys.executable, "-c", WITHOUT_SKLEARN, str(tmp_path / "m.npz")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_random_state_is_what_scikit_learn_sets():
    from sklearn.base import clone
    from sklearn.utils.estimator_checks import set_random_state

    est = clone(ESTIMATORS[0])
    set_random_state(est, 7)
    assert est.random_state == 7
    X = np.random.default_rng(1).normal(size=(30, 4))
    np.testing.assert_array_equal(clone(est).fit(X).transform(X), clone(est).fit(X).transform(X))


#: Checks for transformers that ``parametrize_with_checks`` does not run (scikit-learn runs them on
#: its own estimators only): feature names out, ``set_output``, DataFrame column names. Those
#: needing pandas or polars are skipped by scikit-learn when it is not installed.
EXTRA_CHECKS = [
    "check_transformer_get_feature_names_out",
    "check_get_feature_names_out_error",
    "check_set_output_transform",
    "check_transformer_get_feature_names_out_pandas",
    "check_dataframe_column_names_consistency",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
    "check_set_output_transform_polars",
    "check_global_set_output_transform_polars",
]


@pytest.mark.parametrize("check", EXTRA_CHECKS)
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_scikit_learn_transformer_checks(estimator, check):
    from sklearn.utils import estimator_checks

    getattr(estimator_checks, check)(type(estimator).__name__, estimator)
