r"""Dimensionality reduction: each image squeezed through a code of ``c`` numbers, and how much of it
comes back.

For each code size ``c`` in :data:`CODE_SIZES`, every method is fit on the training images
``X_train (m, n)``, encodes each held-out image ``x`` to a code of ``c`` numbers, decodes it to
:math:`\hat x`, and is measured by the held-out squared error per image (lower is better):
:math:`\frac{1}{m'} \sum_i \sum_j (\hat x_{ij} - x_{ij})^2`, the sum over the ``n`` pixels, the mean
over the ``m'`` held-out images (Hinton & Salakhutdinov's measure). The methods:

* ``PCA`` (baseline): :math:`\hat x = \mu + V_c^T V_c (x - \mu)`, the projection on the first
  ``c`` principal components ``V_c (c, n)`` of the training images (mean ``mu``): the best linear
  code of size ``c``;
* ``SparseAutoencoder``: ``SparseAutoencoder(n_hidden=c, penalty="none", random_state=0)``
  (:data:`SAE`): ``c`` sigmoid units, a sigmoid output, weight decay ``1e-4`` and 400 L-BFGS
  iterations (its defaults), no sparsity penalty: a code of ``c <= 32`` units is already the
  bottleneck, and asking its units to be rarely active leaves fewer of them to reconstruct with
  (measured once each on the digits: ``rho=0.1, beta=0.1`` gave 0.77 and 0.44 at codes 16 and 32,
  no penalty 0.62 and 0.22). With linear units and no weight decay it would learn PCA's subspace
  (measured: within 0.005 of PCA's error at every code size), so the sigmoid units are what it
  adds;
* ``DeepAutoencoder``: ``DeepAutoencoder(n_components=c, pretrain_iter=100, max_iter=300,
  random_state=0)`` (:data:`DEEP`): its default layers ``n -> 48 -> 24 -> c`` (sigmoid, then a
  linear code) and back, greedy pre-training, then fine-tuning on the reconstruction error.
  Fewer iterations than the defaults (200 per layer and 1000), so that the five fits stay within
  the time budget: measured once each on the digits (a shared 2-core machine), the defaults gave
  1.95, 1.30, 0.77, 0.42 and 0.36 at codes 2 to 32 in 25 to 37 s per code size; these settings
  1.93, 1.39, 0.84, 0.54 and 0.49 in 8 to 12 s. Its 24-unit layer sits below the code, so at code
  32 the network's narrowest layer is 24 units wide, not 32.

Each row is one (method, code size); its seconds the fit and the scoring under the BLAS thread
limit of tinysae's fits (:func:`tinysae.threads.fit_threads`); a ``mean`` row per method gives
the mean error over the code sizes, on which :func:`format_table` compares the methods (with
the number of code sizes each wins), and the notes name every code size where a method loses to
PCA. ``reduction_codes.png`` shows the held-out images' 2-D codes (code size 2), coloured by
class, of PCA and of the deep autoencoder side by side; ``reduction_error.png`` the error per
code size of every method (log scale).

The literature: Hinton & Salakhutdinov 2006 (Science 313:504), MNIST with a code of 30: squared
error per image 3.00 for their deep autoencoder (784-1000-500-250-30, RBM pre-training), 13.87
for PCA, PCA's error 4.6 times the deep one's; the notes give our ratio at code 32.

``--quick`` fits for a few iterations only (20 L-BFGS for the SparseAutoencoder, 10 pre-training
per layer and 10 fine-tuning for the deep one): a smoke run, whose numbers are not the results.
With ``--data mnist`` the methods are fit on a random subsample of :data:`MNIST_SUBSAMPLE`
training images and measured on as many held-out ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinysae.experiments.data import Split
from tinysae.experiments.results import Result, row, summary_rows, timed
from tinysae.threads import fit_threads

#: The code sizes, one setting each.
CODE_SIZES = (2, 4, 8, 16, 32)
#: The SparseAutoencoder's and the DeepAutoencoder's settings (full run), and the quick ones.
SAE = {"penalty": "none"}
DEEP = {"pretrain_iter": 100, "max_iter": 300}
QUICK_SAE = {"max_iter": 20}
QUICK_DEEP = {"pretrain_iter": 10, "max_iter": 10}
#: With ``--data mnist``: (training, held-out) images drawn at random (seed 0), full run and quick.
MNIST_SUBSAMPLE = {False: (1000, 500), True: (200, 100)}
METRIC = "squared error per image"
BASELINES = ("PCA",)
#: Hinton & Salakhutdinov 2006 on MNIST, code size 30: squared error per image, deep autoencoder and PCA.
HINTON_DEEP, HINTON_PCA = 3.00, 13.87


def squared_error_per_image(X: np.ndarray, Xhat: np.ndarray) -> float:
    """``mean_i sum_j (Xhat_ij - X_ij)^2`` of images ``X, Xhat (m, n)``: the squared error of each
    image summed over its pixels, averaged over the images."""
    return float(np.mean(np.sum((Xhat - X) ** 2, axis=1)))


class PCACode:
    """PCA as an autoencoder: ``transform`` gives the first ``n_components`` principal components'
    coordinates ``(m, c)``, ``reconstruct`` the projection ``mu + V_c^T V_c (x - mu)``."""

    def __init__(self, n_components: int) -> None:
        self.n_components = n_components

    def fit(self, X: np.ndarray) -> PCACode:
        from sklearn.decomposition import PCA

        self.pca_ = PCA(n_components=self.n_components).fit(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return self.pca_.transform(X)

    def reconstruct(self, X: np.ndarray) -> np.ndarray:
        return self.pca_.inverse_transform(self.pca_.transform(X))


def _methods(code_size: int, quick: bool) -> dict[str, object]:
    """name -> an unfitted method with a code of ``code_size``: ``fit(X)``, ``transform(X)``,
    ``reconstruct(X)``."""
    from tinysae import DeepAutoencoder, SparseAutoencoder

    sae = {**SAE, **QUICK_SAE} if quick else SAE
    deep = {**DEEP, **QUICK_DEEP} if quick else DEEP
    return {
        "PCA": PCACode(code_size),
        "SparseAutoencoder": SparseAutoencoder(n_hidden=code_size, random_state=0, **sae),
        "DeepAutoencoder": DeepAutoencoder(n_components=code_size, random_state=0, **deep),
    }


def _losses_to_pca(rows: list[dict]) -> list[str]:
    """For each method but PCA, one line: the code sizes where its error is above PCA's."""
    pca = {r["setting"]: r["value"] for r in rows if r["method"] == "PCA"}
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m != "PCA"]
    lines = []
    for method in methods:
        worse = [r["setting"] for r in rows if r["method"] == method and r["value"] > pca[r["setting"]]]
        lines.append(f"{method} loses to PCA at: {', '.join(worse)}" if worse else
                     f"{method} beats PCA at every code size")
    return lines


def _narrowest_layer() -> list[str]:
    """A line for the code sizes wider than the DeepAutoencoder's narrowest hidden layer, whose
    bottleneck is then that layer, not the code (none when there are none)."""
    from tinysae import DeepAutoencoder

    narrowest = min(DeepAutoencoder().hidden)
    wider = [f"code {c}" for c in CODE_SIZES if c > narrowest]
    return [f"the DeepAutoencoder's narrowest hidden layer has {narrowest} units, so at {', '.join(wider)} "
            "its bottleneck is that layer, narrower than the code"] if wider else []


def _anchor(rows: list[dict]) -> str:
    """Hinton & Salakhutdinov's PCA / deep ratio at code 30 against ours at the largest code size."""
    c = f"code {CODE_SIZES[-1]}"
    value = {r["method"]: r["value"] for r in rows if r["setting"] == c}
    deep, pca = value["DeepAutoencoder"], value["PCA"]
    return (f"the literature: Hinton & Salakhutdinov 2006 (Science 313:504), MNIST, code 30: squared error "
            f"per image {HINTON_DEEP:.2f} for the deep autoencoder, {HINTON_PCA:.2f} for PCA (PCA / deep = "
            f"{HINTON_PCA / HINTON_DEEP:.1f}); here at {c}: {deep:.3f} and {pca:.3f} (PCA / deep = "
            f"{pca / deep:.2f})")


def reduction(split: Split, quick: bool, out: Path) -> Result:
    """Fit every method at every code size of :data:`CODE_SIZES`; return the held-out squared
    error per image of each and their means, and write ``out/reduction_codes.png`` (the 2-D codes
    of PCA and the deep autoencoder) and ``out/reduction_error.png`` (the error per code size)."""
    from tinysae.viz import plot_codes, plot_grouped_bars

    if split.name == "mnist":
        split = split.subsample(*MNIST_SUBSAMPLE[quick])
    rows, codes_2d = [], []
    for code_size in CODE_SIZES:
        for name, method in _methods(code_size, quick).items():
            with fit_threads():
                Xhat, seconds = timed(lambda m=method: m.fit(split.X_train).reconstruct(split.X_test))
            error = squared_error_per_image(split.X_test, Xhat)
            rows.append(row(name, f"code {code_size}", METRIC, error, seconds))
            if code_size == 2 and name in ("PCA", "DeepAutoencoder"):
                codes_2d.append((f"{name} (error {error:.3f})", method.transform(split.X_test)))
    codes_path, error_path = out / "reduction_codes.png", out / "reduction_error.png"
    plot_codes(codes_2d, split.y_test, title=f"2-D codes of the {len(split.y_test)} held-out {split.name} "
                                             "images, fit on the training images", path=codes_path)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    plot_grouped_bars({m: [r["value"] for r in rows if r["method"] == m] for m in methods},
                      [f"code {c}" for c in CODE_SIZES], ylabel=f"held-out {METRIC}", log=True,
                      title=f"reconstruction through a code of c numbers, {split.name}", path=error_path)
    budget = ("quick: 20 L-BFGS iterations for the SparseAutoencoder, 10 pre-training per layer and 10 "
              "fine-tuning for the DeepAutoencoder (a smoke run, not the results)" if quick else
              "SparseAutoencoder(n_hidden=c, penalty='none', random_state=0): 400 L-BFGS iterations; "
              "DeepAutoencoder(n_components=c, pretrain_iter=100, max_iter=300, random_state=0): layers "
              f"{split.X_train.shape[1]}-48-24-c, fewer iterations than its defaults (200, 1000) for the "
              "time budget")
    notes = [split.describe() + "; each method fit on the training images at each code size c, measured on "
             "the held-out images: the squared error of each image summed over its pixels, averaged over the "
             "images",
             budget, *_losses_to_pca(rows), *_narrowest_layer(), _anchor(rows),
             f"the 2-D codes: {codes_path}; the error per code size: {error_path}"]
    return Result("reduction", "reconstruction through a code of c numbers, the held-out squared error",
                  METRIC, higher_is_better=False, rows=rows + summary_rows(rows), baselines=BASELINES,
                  figures=[codes_path, error_path], notes=notes)
