"""``StackedAutoencoder.fit(X, y)`` with unlabelled rows (label -1, scikit-learn's semi-supervised
convention): pre-training learns from every row of ``X``, the softmax layer and fine-tuning from
the labelled rows only, and ``classes_`` holds the labelled rows' classes.

The properties, for random sets of unlabelled rows among 90 digits:

* the pre-trained layers are those of a fit where every row is labelled (pre-training never sees
  ``y``), and not those of a fit on the labelled rows alone (the unlabelled rows are used);
* the softmax layer is the softmax trained by L-BFGS on the pre-trained codes of the labelled
  rows, and the fine-tuned network is the pre-trained one trained on the labelled rows: the
  estimator's result is rebuilt from the public pieces (:func:`tinysae.lbfgs`,
  :func:`tinysae.train`, :class:`tinysae.SoftmaxRegression`) on those rows, to the last bit.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import seeds

import tinysae
from tinysae import SoftmaxRegression, StackedAutoencoder, Tensor
from tinysae.models.softmax import one_hot
from tinysae.train import lbfgs, step_seed, train
from tinysae.validation import seed_from_random_state

_DIGITS, _LABELS = tinysae.load_digits()
X, Y = _DIGITS[:90], _LABELS[:90]
#: Small settings: two layers (12, 6), a few iterations, so that a fit takes a fraction of a second.
SETTINGS = dict(hidden=(12, 6), pretrain_iter=8, max_iter=8)
#: The pre-trained layers' parameters (the softmax's are ``W_softmax``, ``b_softmax``).
LAYER_PARAMS = [f"{kind}{layer}" for layer in range(1, 5) for kind in ("W", "b")]


def make(**changes) -> StackedAutoencoder:
    return StackedAutoencoder(**{**SETTINGS, **changes})


@cache
def fully_labelled(random_state: int) -> StackedAutoencoder:
    """The fit on ``(X, Y)``, every row labelled."""
    return make(random_state=random_state).fit(X, Y)


@st.composite
def unlabelled_masks(draw: st.DrawFn) -> np.ndarray:
    """A boolean mask ``(90,)`` of unlabelled rows, none to most of them, leaving labelled rows
    of at least 2 classes."""
    rng = np.random.default_rng(draw(seeds))
    mask = rng.random(len(Y)) < draw(st.floats(0.0, 0.9))
    keep = rng.choice(np.flatnonzero(Y == 0)), rng.choice(np.flatnonzero(Y == 1))
    mask[list(keep)] = False  # two classes stay labelled
    return mask


def partly_labelled(mask: np.ndarray) -> np.ndarray:
    """``Y`` with -1 on the rows of ``mask``."""
    return np.where(mask, -1, Y)


def same(a: tinysae.Params, b: tinysae.Params, names: list[str]) -> bool:
    return all(np.array_equal(a[name], b[name]) for name in names)


@settings(max_examples=8)
@given(mask=unlabelled_masks(), random_state=st.integers(0, 2))
def test_pretraining_learns_from_every_row_whatever_its_label(mask, random_state):
    est = make(random_state=random_state).fit(X, partly_labelled(mask))
    assert same(est.pretrained_params_, fully_labelled(random_state).pretrained_params_, LAYER_PARAMS)
    if mask.sum() >= 1:  # the unlabelled rows take part: without them the layers differ
        alone = make(random_state=random_state).fit(X[~mask], Y[~mask])
        assert not same(est.pretrained_params_, alone.pretrained_params_, ["W1"])


@settings(max_examples=8)
@given(mask=unlabelled_masks(), random_state=st.integers(0, 2**16), fine_tune=st.booleans())
def test_the_softmax_and_fine_tuning_learn_from_the_labelled_rows_only(mask, random_state, fine_tune):
    y = partly_labelled(mask)
    est = make(random_state=random_state, fine_tune=fine_tune).fit(X, y)
    labelled = ~mask
    classes, encoded = np.unique(Y[labelled], return_inverse=True)
    np.testing.assert_array_equal(est.classes_, classes)
    assert -1 not in est.classes_ and set(est.predict(X)) <= set(classes)
    targets = one_hot(encoded, len(classes))
    # the softmax: L-BFGS on the pre-trained top codes of the labelled rows (of all rows, as in
    # pre-training, then the labelled ones kept: the same rounding)
    pretrained = est.pretrained_params_
    leaves = {name: Tensor(array, name=name) for name, array in pretrained.items()}
    codes = est.model_.encode(leaves, Tensor(X, name="X"))["H"].data[labelled]
    seed = seed_from_random_state(random_state)
    head = SoftmaxRegression(codes.shape[1], len(classes), est.fine_tune_weight_decay)
    softmax = lbfgs(head.init_params(step_seed(seed, 0)), codes, head, targets=targets,
                    max_iter=est.max_iter).params
    np.testing.assert_array_equal(pretrained["W_softmax"], softmax["W"])
    np.testing.assert_array_equal(pretrained["b_softmax"], softmax["b"])
    # fine-tuning: the pre-trained network trained on the labelled rows
    expected = train(pretrained, X[labelled], est.model_, targets=targets, seed=seed,
                     max_iter=est.max_iter).params if fine_tune else pretrained
    assert same(est.params_, expected, list(expected))


def test_minus_one_marks_unlabelled_float_and_object_labels_but_not_str():
    mask = np.arange(len(Y)) % 3 == 0
    as_floats = make().fit(X, partly_labelled(mask).astype(float))
    np.testing.assert_array_equal(as_floats.classes_, np.arange(10.0))
    names = np.array([f"digit {i}" for i in range(10)], dtype=object)[Y]
    names[mask] = -1  # object labels: str ones, and -1 for the unlabelled rows
    by_name = make().fit(X, names)
    assert list(by_name.classes_) == [f"digit {i}" for i in range(10)]
    as_ints = make().fit(X, partly_labelled(mask))
    assert same(by_name.params_, as_ints.params_, list(as_ints.params_))  # the same rows, the same order
    as_str = make().fit(X, np.where(mask, "-1", Y.astype(str)))  # numpy's str: "-1" is a class
    assert "-1" in as_str.classes_ and len(as_str.classes_) == 11


@pytest.mark.parametrize(("y", "message"), [
    (np.full(len(Y), -1), r"every label in y is -1 \(unlabelled\); the softmax layer and fine-tuning need"),
    (np.full(len(Y), -1.0), r"every label in y is -1 \(unlabelled\)"),
    (np.where(Y == 3, 3, -1), r"y holds one class \(3\); a classifier needs at least 2 among the labelled"),
    (np.where(Y < 5, -1, 1), r"y holds one class \(1\)"),  # labels -1 and 1: one class and unlabelled rows
], ids=["all -1", "all -1.0", "one class labelled", "-1 and 1"])
def test_no_labelled_rows_or_one_class_among_them_is_refused(y, message):
    est = make()
    with pytest.raises(ValueError, match=message):
        est.fit(X, y)
    assert not hasattr(est, "params_") and not hasattr(est, "classes_")
