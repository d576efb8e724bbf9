"""Anomaly detection: one digit class held out in turn, found by how badly a model of the others fits it.

For each class ``c`` present in both parts of the split: every detector is fit on the training
images of the other classes (the normal ones), scores every held-out image with
``score_samples`` (higher means more normal, as in scikit-learn), and is measured by the ROC
AUC (``sklearn.metrics.roc_auc_score``) of minus that score for telling the held-out images of
class ``c`` (the anomalies) from the held-out images of the others. An AUC of 0.5 is chance, 1 a
perfect ranking. The detectors:

* ``SparseAutoencoder``: ``SparseAutoencoder(n_hidden=32, random_state=0)`` with its defaults
  (KL sparsity, 400 L-BFGS iterations); its score is minus each image's squared reconstruction
  error;
* ``VariationalAutoencoder``: ``VariationalAutoencoder(n_latent=8, max_iter=40,
  random_state=0)``; its score is each image's ELBO (100 draws). 40 Adam epochs, not the default
  150, so that the ten fits stay within the time budget (3 to 4 s each on the digits, fit and
  scoring, on a shared 2-core machine);
  ``n_latent=8`` because it gives the held-out digits a better ELBO than 2 (the estimator's
  docstring);
* ``PCA`` (baseline): minus the squared error of the projection on the fewest principal
  components that explain 90 % of the normal training images' variance (chosen on the training
  images only; the note says how many);
* ``IsolationForest`` (baseline): ``IsolationForest(random_state=0)``, its ``score_samples``.

Each row is one (detector, held-out class), its seconds the fit and the scoring (every detector
under the BLAS thread limit of tinysae's fits, :func:`tinysae.threads.fit_threads`); a ``mean`` row
per detector gives the mean AUC over the held-out classes. ``anomaly_roc.png`` shows the ROC
curves for held-out class :data:`ROC_CLASS`.

``--quick`` fits for a few iterations only (20 L-BFGS, 2 Adam epochs with 10 ELBO draws, 20
trees): a smoke run, whose numbers are not the results. With ``--data mnist`` the detectors are
fit on a random subsample of :data:`MNIST_SUBSAMPLE`: 200 training images, and score 250
held-out ones. With 784 pixels even that takes longer than the digits: measured once each on
random-pixel files of MNIST's format (a shared 2-core machine), 85 s, and 154 s at 500 and 500.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinysae.experiments.data import Split
from tinysae.experiments.results import Result, row, summary_rows, timed
from tinysae.threads import fit_threads

#: The held-out class whose ROC curves ``anomaly_roc.png`` shows.
ROC_CLASS = 0
#: With ``--data mnist``: (training, held-out) images drawn at random (seed 0), full run and quick.
MNIST_SUBSAMPLE = {False: (200, 250), True: (100, 100)}
#: The explained variance that chooses PCA's number of components.
PCA_VARIANCE = 0.9
METRIC = "ROC AUC"
BASELINES = ("PCA", "IsolationForest")


def _detectors(quick: bool) -> dict[str, object]:
    """name -> an unfitted detector with ``fit(X)`` and ``score_samples(X)`` (higher: more normal)."""
    from sklearn.ensemble import IsolationForest

    from tinysae import SparseAutoencoder, VariationalAutoencoder

    sae, vae, forest = {"n_hidden": 32}, {"n_latent": 8, "max_iter": 40}, {}
    if quick:
        sae["max_iter"], forest["n_estimators"] = 20, 20
        vae.update(max_iter=2, n_elbo_samples=10)
    return {
        "SparseAutoencoder": SparseAutoencoder(random_state=0, **sae),
        "VariationalAutoencoder": VariationalAutoencoder(random_state=0, **vae),
        "PCA": PCAReconstruction(PCA_VARIANCE),
        "IsolationForest": IsolationForest(random_state=0, **forest),
    }


class PCAReconstruction:
    """PCA as a detector: ``score_samples`` is minus each sample's squared error of projection
    on the fewest components that explain ``variance`` of the training data's variance."""

    def __init__(self, variance: float) -> None:
        self.variance = variance

    def fit(self, X: np.ndarray) -> PCAReconstruction:
        from sklearn.decomposition import PCA

        self.pca_ = PCA(n_components=self.variance, svd_solver="full").fit(X)
        return self

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        rebuilt = self.pca_.inverse_transform(self.pca_.transform(X))
        return -np.sum((rebuilt - X) ** 2, axis=1)


def anomaly(split: Split, quick: bool, out: Path) -> Result:
    """Hold each class out in turn; return the ROC AUC of every detector per held-out class and
    their means, and write ``out/anomaly_roc.png`` (the ROC curves for :data:`ROC_CLASS`)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from tinysae.viz import plot_roc_curves

    if split.name == "mnist":
        split = split.subsample(*MNIST_SUBSAMPLE[quick])
    classes = np.intersect1d(split.y_train, split.y_test)
    if len(np.unique(split.y_train)) < 2 or len(np.unique(split.y_test)) < 2 or not classes.size:
        raise ValueError(f"anomaly needs two classes or more in each part of the split and one in both; "
                         f"{split.describe()} with classes {np.unique(split.y_train).tolist()} and "
                         f"{np.unique(split.y_test).tolist()}")
    rows, curves, components = [], [], []
    for held_out in classes:
        normal = split.X_train[split.y_train != held_out]
        is_anomaly = split.y_test == held_out
        for name, detector in _detectors(quick).items():
            with fit_threads():  # every detector under the BLAS limit of tinysae's fits, for fair times
                scores, seconds = timed(lambda d=detector, X=normal: d.fit(X).score_samples(split.X_test))
            auc = roc_auc_score(is_anomaly, -scores)
            rows.append(row(name, f"held-out {held_out}", METRIC, auc, seconds))
            if name == "PCA":
                components.append(detector.pca_.n_components_)
            if held_out == ROC_CLASS:
                fpr, tpr, _ = roc_curve(is_anomaly, -scores)
                curves.append((f"{name} (AUC {auc:.3f})", fpr, tpr))
    figures = []
    if curves:
        path = out / "anomaly_roc.png"
        plot_roc_curves(curves, title=f"held-out class {ROC_CLASS} as the anomaly, {split.name}: "
                                      f"{int(np.sum(split.y_test == ROC_CLASS))} anomalies among "
                                      f"{len(split.y_test)} held-out images", path=path)
        figures.append(path)
    budget = ("quick: 20 L-BFGS iterations, 2 Adam epochs with 10 ELBO draws, 20 trees (a smoke run, "
              "not the results)" if quick else
              "SparseAutoencoder(n_hidden=32, random_state=0), its defaults: 400 L-BFGS iterations; "
              "VariationalAutoencoder(n_latent=8, max_iter=40, random_state=0): 40 Adam epochs, scored "
              "by the ELBO with 100 draws; IsolationForest(random_state=0): 100 trees")
    notes = [split.describe() + "; each detector fit on the training images of the other classes, "
             "scored on every held-out image; the anomalies are the held-out class's images",
             budget,
             f"PCA: the fewest components explaining {PCA_VARIANCE:.0%} of the training variance: "
             f"{min(components)} to {max(components)}",
             f"the ROC curves of held-out class {ROC_CLASS}: {', '.join(str(p) for p in figures) or 'none'}"]
    return Result("anomaly", "each class held out in turn, the ROC AUC of score_samples", METRIC,
                  higher_is_better=True, rows=rows + summary_rows(rows), baselines=BASELINES,
                  figures=figures, notes=notes)
