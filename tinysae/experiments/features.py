r"""Feature learning (UFLDL's self-taught learning): features from every training image without its
label, then a classifier from a few labelled ones.

Each method learns a feature map :math:`x \mapsto f(x)` from all the training images
``X_train (m, n)``, their labels unseen, then a classifier is trained on the features of

* ``10 labels per class``: :data:`LABELS_PER_CLASS` training images of each class, drawn without
  replacement by ``numpy.random.default_rng(seed)`` for ``seed`` in ``range(N_DRAWS)``
  (:func:`label_draws`; :data:`N_DRAWS` draws, to reduce the variance of so small a training
  set): the row's value is the mean over the draws, the notes give their spread;
* ``all labels``: every training image with its label;

and measured by its accuracy on every held-out image (higher is better). The methods:

* ``raw pixels`` (baseline): :math:`f(x) = x`, the ``n`` pixels;
* ``PCA`` (baseline): :math:`f(x) = V_c (x - \mu)`, the first ``c`` principal components of the
  training images, ``c`` the fewest that explain :data:`PCA_VARIANCE` of their variance (chosen on
  the training images only; the note says how many);
* ``SparseAutoencoder``: :math:`f(x) = \sigma(W_1 x + b_1)`, the codes ``H`` of
  ``SparseAutoencoder(n_hidden=100, rho=0.1, beta=3, weight_decay=3e-4, random_state=0)`` (400
  L-BFGS iterations; :data:`SAE`): the first layer of :class:`~tinysae.StackedAutoencoder`'s
  defaults, UFLDL's exercise settings with the weight decay the stacked estimator's docstring
  explains (UFLDL's ``3e-3`` is too strong for 1257 digits);

  for these three, the classifier is ``sklearn.linear_model.LogisticRegression(max_iter=5000)``
  (multinomial, ``C=1``) on the features as they are;
* ``StackedAutoencoder (fine-tuned)``: ``StackedAutoencoder(hidden=(100, 50), pretrain_iter=100,
  max_iter=200, random_state=0)`` (:data:`STACKED`), fit on every training image with the label
  ``-1`` (unlabelled) on all but the labelled ones: its two layers are pre-trained on every image,
  its softmax and the fine-tuning of the whole stack use the labelled ones only. Half the
  default iterations (200 and 400), so that the six fits stay within the time budget: measured
  once each on the digits (a shared 2-core machine), the defaults gave the same accuracy with all
  labels (0.978) and 0.883 and 0.893 on the first two 10-label draws (0.885 and 0.894 with
  these), in 7.6 s per 10-label fit instead of 2.9 s.

Each row is one (method, label budget); its seconds the fits and the scoring under the BLAS
thread limit of tinysae's fits (:func:`tinysae.threads.fit_threads`), the learning of a feature
map (PCA, SparseAutoencoder) shared equally between the two budgets; StackedAutoencoder's fits
each pre-train again. A ``mean`` row per method gives the mean accuracy over the two budgets, on
which :func:`format_table` compares the methods (with the number of budgets each wins).
``features.png`` shows the held-out accuracies, grouped by label budget, with the
standard deviation over the draws.

The literature: UFLDL's self-taught learning exercise reports about 98.3 % on MNIST (features
from a sparse autoencoder of 196 units trained on the digits 5 to 9, softmax on the digits 0 to
4 with their labels), http://ufldl.stanford.edu/wiki/index.php/Exercise:Self-Taught_Learning.

``--quick`` fits for a few iterations only (20 L-BFGS for the SparseAutoencoder, 10 pre-training
and 10 fine-tuning for the stack): a smoke run, whose numbers are not the results. With ``--data
mnist`` the methods are fit on a random subsample of :data:`MNIST_SUBSAMPLE` training images and
measured on as many held-out ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinysae.experiments.data import Split
from tinysae.experiments.results import Result, row, summary_rows, timed
from tinysae.threads import fit_threads

#: The labelled training images per class of the small label budget, and its number of draws.
LABELS_PER_CLASS = 10
N_DRAWS = 5
#: The settings: the small label budget and all the training labels.
SETTINGS = (f"{LABELS_PER_CLASS} labels per class", "all labels")
#: The explained variance that chooses PCA's number of components.
PCA_VARIANCE = 0.9
#: The SparseAutoencoder's and the StackedAutoencoder's settings (full run), and the quick ones.
SAE = {"n_hidden": 100, "rho": 0.1, "beta": 3.0, "weight_decay": 3e-4}
STACKED = {"hidden": (100, 50), "pretrain_iter": 100, "max_iter": 200}
QUICK_SAE = {"max_iter": 20}
QUICK_STACKED = {"pretrain_iter": 10, "max_iter": 10}
#: With ``--data mnist``: (training, held-out) images drawn at random (seed 0), full run and quick.
MNIST_SUBSAMPLE = {False: (500, 500), True: (300, 100)}
METRIC = "accuracy"
BASELINES = ("raw pixels", "PCA")
STACKED_NAME = "StackedAutoencoder (fine-tuned)"
#: UFLDL's self-taught learning result on MNIST, the anchor of the notes.
UFLDL_ACCURACY = 0.983

#: A feature map ``f(X (m, n)) -> F (m, d)``, and what learns one from the training images.
FeatureMap = Callable[[np.ndarray], np.ndarray]
Learner = Callable[[np.ndarray], FeatureMap]


def label_draws(y: np.ndarray, per_class: int, n_draws: int) -> list[np.ndarray]:
    """``n_draws`` sorted index arrays into ``y (m,)``, draw ``seed`` holding ``per_class`` rows of
    every class of ``y``, drawn without replacement by ``numpy.random.default_rng(seed)``.

    Raises ``ValueError`` when a class has fewer than ``per_class`` rows.
    """
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < per_class:
        short = classes[counts < per_class].tolist()
        raise ValueError(f"features needs {per_class} training images of each class, but the classes "
                         f"{short} have fewer ({counts.min()} the fewest)")
    draws = []
    for seed in range(n_draws):
        rng = np.random.default_rng(seed)
        chosen = [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in classes]
        draws.append(np.sort(np.concatenate(chosen)))
    return draws


def _feature_maps(quick: bool) -> dict[str, Learner]:
    """method -> ``learn(X_train)``, which fits the method without labels and returns its
    feature map ``f(X (m, n)) -> F (m, d)``."""
    from sklearn.decomposition import PCA

    from tinysae import SparseAutoencoder

    def raw(X: np.ndarray) -> FeatureMap:
        return lambda Z: Z

    def pca(X: np.ndarray) -> FeatureMap:
        return PCA(n_components=PCA_VARIANCE, svd_solver="full").fit(X).transform

    def sae(X: np.ndarray) -> FeatureMap:
        settings = {**SAE, **QUICK_SAE} if quick else SAE
        return SparseAutoencoder(random_state=0, **settings).fit(X).transform

    return {"raw pixels": raw, "PCA": pca, "SparseAutoencoder": sae}


def _accuracy(F_train: np.ndarray, y_train: np.ndarray, F_test: np.ndarray, y_test: np.ndarray) -> float:
    """The held-out accuracy of ``LogisticRegression(max_iter=5000)`` trained on ``(F_train, y_train)``."""
    from sklearn.linear_model import LogisticRegression

    return float(LogisticRegression(max_iter=5000).fit(F_train, y_train).score(F_test, y_test))


def _features(learn: Learner, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """``f(X_train)`` and ``f(X_test)`` for the feature map ``learn(X_train)`` fits."""
    transform = learn(split.X_train)
    return transform(split.X_train), transform(split.X_test)


def _feature_rows(method: str, learn: Learner, split: Split,
                  draws: list[np.ndarray]) -> tuple[list[dict], list[float], int]:
    """The method's two rows (logistic regression on its features), its accuracies on each
    draw, and the width ``d`` of its features."""
    with fit_threads():
        (F_train, F_test), shared = timed(lambda: _features(learn, split))
    few, few_seconds = [], shared / 2
    for draw in draws:
        with fit_threads():
            accuracy, seconds = timed(lambda d=draw: _accuracy(F_train[d], split.y_train[d], F_test,
                                                               split.y_test))
        few.append(accuracy)
        few_seconds += seconds
    with fit_threads():
        everything, seconds = timed(lambda: _accuracy(F_train, split.y_train, F_test, split.y_test))
    rows = [row(method, SETTINGS[0], METRIC, np.mean(few), few_seconds),
            row(method, SETTINGS[1], METRIC, everything, shared / 2 + seconds)]
    return rows, few, F_train.shape[1]


def _stacked_rows(split: Split, draws: list[np.ndarray], quick: bool) -> tuple[list[dict], list[float]]:
    """The StackedAutoencoder's two rows and its accuracies on each draw: pre-trained on every
    training image, the softmax and fine-tuning on the labelled ones (the others labelled -1)."""
    from tinysae import StackedAutoencoder
    from tinysae.stacked import UNLABELLED

    settings = {**STACKED, **QUICK_STACKED} if quick else STACKED

    def accuracy(y: np.ndarray) -> float:
        model = StackedAutoencoder(random_state=0, **settings).fit(split.X_train, y)
        return float(model.score(split.X_test, split.y_test))

    few, few_seconds = [], 0.0
    for draw in draws:
        y = np.full(len(split.y_train), UNLABELLED, dtype=np.int64)
        y[draw] = split.y_train[draw]
        with fit_threads():
            value, seconds = timed(lambda y=y: accuracy(y))
        few.append(value)
        few_seconds += seconds
    with fit_threads():
        everything, seconds = timed(lambda: accuracy(split.y_train))
    return [row(STACKED_NAME, SETTINGS[0], METRIC, np.mean(few), few_seconds),
            row(STACKED_NAME, SETTINGS[1], METRIC, everything, seconds)], few


def _finding(rows: list[dict]) -> str:
    """One sentence: the SparseAutoencoder's features against the raw pixels with all labels, and why."""
    value = {(r["method"], r["setting"]): r["value"] for r in rows}
    sae, raw = value["SparseAutoencoder", SETTINGS[1]], value["raw pixels", SETTINGS[1]]
    if sae < raw:
        return (f"with all labels the SparseAutoencoder's features lose to the raw pixels ({sae:.4f} against "
                f"{raw:.4f}): a linear classifier on the pixels already separates these digits, and features "
                "learned without labels add nothing the labels do not teach it")
    return (f"with all labels the SparseAutoencoder's features beat the raw pixels ({sae:.4f} against "
            f"{raw:.4f}): logistic regression on {SAE['n_hidden']} sigmoid codes of the pixels is a "
            "one-hidden-layer network, more than a linear classifier on the pixels can express")


def _notes(split: Split, quick: bool, rows: list[dict], per_draw: dict[str, list[float]],
           n_components: int, figure: Path) -> list[str]:
    """The data and the protocol, each method's budget, PCA's components, the spread over the
    draws, the finding with all labels, the literature's anchor and the figure."""
    n_labelled = LABELS_PER_CLASS * len(np.unique(split.y_train))
    protocol = (f"; features learned on every training image without its label; the classifiers on "
                f"{n_labelled} labelled training images ({LABELS_PER_CLASS} per class, {N_DRAWS} draws, "
                f"seeds 0 to {N_DRAWS - 1}; the value is the mean) or on all {len(split.y_train)}; accuracy "
                "on every held-out image")
    if quick:
        budget = ("quick: 20 L-BFGS iterations for the SparseAutoencoder, 10 pre-training and 10 "
                  "fine-tuning for the stack (a smoke run, not the results)")
    else:
        budget = ("SparseAutoencoder(n_hidden=100, rho=0.1, beta=3, weight_decay=3e-4, random_state=0): 400 "
                  "L-BFGS iterations; StackedAutoencoder(hidden=(100, 50), pretrain_iter=100, max_iter=200, "
                  "random_state=0): half the default iterations, for the time budget; "
                  "LogisticRegression(max_iter=5000) on the raw pixels and on PCA's and the "
                  "SparseAutoencoder's features")
    spread = [f"{method}, {SETTINGS[0]} over the {N_DRAWS} draws: mean {np.mean(a):.4f}, "
              f"std {np.std(a):.4f}, from {min(a):.4f} to {max(a):.4f}" for method, a in per_draw.items()]
    anchor = (f"the literature: UFLDL's self-taught learning exercise reports about {UFLDL_ACCURACY:.1%} on "
              "MNIST (a sparse autoencoder's features learned on the digits 5 to 9, softmax on the labelled "
              f"digits 0 to 4); our data differ ({split.describe()})")
    return [split.describe() + protocol, budget,
            f"PCA: the fewest components explaining {PCA_VARIANCE:.0%} of the training variance: "
            f"{n_components}",
            *spread, _finding(rows), anchor, f"the accuracies by label budget: {figure}"]


def features(split: Split, quick: bool, out: Path) -> Result:
    """Learn features on every training image without labels; return the held-out accuracy of a
    classifier trained on :data:`LABELS_PER_CLASS` labelled images per class (mean over
    :data:`N_DRAWS` draws) and on all the labels, for each method; write ``out/features.png``."""
    from tinysae.viz import plot_grouped_bars

    if split.name == "mnist":
        split = split.subsample(*MNIST_SUBSAMPLE[quick])
    draws = label_draws(split.y_train, LABELS_PER_CLASS, N_DRAWS)
    rows, per_draw, widths = [], {}, {}
    for method, learn in _feature_maps(quick).items():
        mine, per_draw[method], widths[method] = _feature_rows(method, learn, split, draws)
        rows += mine
    mine, per_draw[STACKED_NAME] = _stacked_rows(split, draws, quick)
    rows += mine
    path = out / "features.png"
    values = {method: [r["value"] for r in rows if r["method"] == method] for method in per_draw}
    errors = {method: [np.std(a), 0.0] for method, a in per_draw.items()}
    lowest = min(min(v) - e[0] for v, e in zip(values.values(), errors.values()))
    plot_grouped_bars(values, list(SETTINGS), errors=errors, ylabel="held-out accuracy",
                      ylim=(max(0.0, np.floor(lowest * 20) / 20 - 0.05), 1.0),
                      title=f"self-taught learning, {split.name}: features from {len(split.y_train)} "
                            f"unlabelled training images\nerror bars: std over {N_DRAWS} label draws",
                      path=path)
    return Result("features", "self-taught learning: features without labels, a classifier on few or all "
                  "labels", METRIC, higher_is_better=True, rows=rows + summary_rows(rows),
                  baselines=BASELINES, figures=[path],
                  notes=_notes(split, quick, rows, per_draw, widths["PCA"], path))
