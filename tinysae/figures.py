"""Regenerate the repository's ``figures/`` from code: ``python -m tinysae.figures``.

Each figure is a function ``make(run, outdir) -> Path`` registered in :data:`FIGURES` with the
:func:`figure` decorator; a :class:`Run` holds a training run that several figures share, made
once and cached (the UFLDL default run: 10000 8x8 natural-image patches, 64-25-64, rho 0.01,
beta 3, weight decay 1e-4, 400 L-BFGS iterations, seed 0; a couple of minutes), and
:class:`Digits` the digits split and the variants fit on it (each estimator with its defaults,
``random_state=0``; ``benchmarks/variants_digits.py`` measures the same models), :class:`Crops`
the natural-image crops and the convolutional autoencoder (``benchmarks/conv_results.py``). To add a
figure, write one more decorated function.

``python -m tinysae.figures [--outdir figures] [--backend numpy] [--only NAME ...]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinysae import viz
from tinysae.metrics import edge_score, psnr
from tinysae.objective import Objective, init_params
from tinysae.train import TrainResult, lbfgs


@dataclass
class Digits:
    """The digits split of ``benchmarks/variants_digits.py`` (scikit-learn's
    ``train_test_split(test_size=0.3, random_state=0, stratify=y)``) and the variants fit on its
    training part, each fit on first use and kept."""

    _models: dict[str, object] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        from sklearn.model_selection import train_test_split

        from tinysae import datasets

        X, y = datasets.load_digits()
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            X, y, test_size=0.3, random_state=0, stratify=y)

    def model(self, name: str, make: Callable[[], object]) -> object:
        """The model called ``name``: ``make()`` fit on the training images (and labels) once."""
        if name not in self._models:
            self._models[name] = make().fit(self.X_train, self.y_train)
        return self._models[name]


@dataclass
class Crops:
    """The natural-image crops of ``benchmarks/conv_results.py`` (1000 32x32 crops for training,
    seed 0; 500 held out, seed 1) and ``ConvolutionalAutoencoder()`` fit on them with its defaults."""

    def __post_init__(self) -> None:
        from tinysae import ConvolutionalAutoencoder, datasets

        images = datasets.load_natural_images()
        self.train = datasets.sample_patches(images, 32, 1000, seed=0).reshape(-1, 1, 32, 32)
        self.test = datasets.sample_patches(images, 32, 500, seed=1).reshape(-1, 1, 32, 32)
        self.model = ConvolutionalAutoencoder(random_state=0).fit(self.train)


@dataclass
class Run:
    """The UFLDL default run, trained on first use and then shared by every figure."""

    backend: str = "numpy"
    n_patches: int = 10000
    patch_size: int = 8
    n_hidden: int = 25
    max_iter: int = 400
    seed: int = 0
    objective: Objective = field(default_factory=Objective)
    _result: TrainResult | None = field(default=None, repr=False)
    _digits: Digits | None = field(default=None, repr=False)
    _crops: Crops | None = field(default=None, repr=False)

    @property
    def crops(self) -> Crops:
        """The natural-image crops and the convolutional autoencoder fit on them (made on first access)."""
        if self._crops is None:
            self._crops = Crops()
        return self._crops

    @property
    def digits(self) -> Digits:
        """The digits split and its variants (made on first access)."""
        if self._digits is None:
            self._digits = Digits()
        return self._digits

    @property
    def result(self) -> TrainResult:
        """The trained result (training happens on first access)."""
        if self._result is None:
            from tinysae import datasets

            X = datasets.sample_patches(
                datasets.load_natural_images(), self.patch_size, self.n_patches, seed=self.seed
            )
            params = init_params(X.shape[1], self.n_hidden, seed=self.seed)
            self._result = lbfgs(params, X, self.objective, max_iter=self.max_iter, backend=self.backend)
            trained, initial = edge_score(self._result.params.W1), edge_score(params.W1)
            print(f"edge score: trained {trained.summary()}; initial {initial.summary()}")
        return self._result


FigureMaker = Callable[[Run, Path], Path]

#: name -> function writing that figure; filled by :func:`figure`.
FIGURES: dict[str, FigureMaker] = {}


def figure(name: str) -> Callable[[FigureMaker], FigureMaker]:
    """Register a figure-making function under ``name``."""

    def register(make: FigureMaker) -> FigureMaker:
        FIGURES[name] = make
        return make

    return register


@figure("filters")
def make_filters(run: Run, outdir: Path) -> Path:
    """``filters.png``: the 25 learned filters of the UFLDL default run."""
    path = outdir / "filters.png"
    result = run.result
    viz.show_filters(result.params.W1, path=path,
                     title=f"{run.n_hidden} filters after {result.n_iter} lbfgs iterations")
    return path


@figure("training_curves")
def make_training_curves(run: Run, outdir: Path) -> Path:
    """``training_curves.png``: loss, its terms and mean rho_hat against the iteration."""
    path = outdir / "training_curves.png"
    viz.plot_training_curves(run.result.history, rho=run.objective.rho, path=path)
    return path


@figure("rho_hat_hist")
def make_rho_hat_hist(run: Run, outdir: Path) -> Path:
    """``rho_hat_hist.png``: how active each hidden unit is on average, against rho."""
    from tinysae import datasets
    from tinysae.backends import evaluate
    from tinysae.models import Batch, ClassicSAE

    path = outdir / "rho_hat_hist.png"
    X = datasets.sample_patches(datasets.load_natural_images(), run.patch_size, run.n_patches, seed=run.seed)
    model = ClassicSAE(X.shape[1], run.n_hidden, run.objective)
    rho_hat = evaluate(model, run.result.params, Batch(X), backend=run.backend).rho_hat
    viz.plot_rho_hat(rho_hat, rho=run.objective.rho, path=path)
    return path


@figure("denoising")
def make_denoising(run: Run, outdir: Path) -> Path:
    """``denoising.png``: held-out digits, with Gaussian noise sigma = 0.3, denoised by PCA and
    by a denoising autoencoder trained at that noise level, each row with its PSNR."""
    from sklearn.decomposition import PCA

    from tinysae import DenoisingAutoencoder

    digits = run.digits
    sigma = 0.3
    dae = digits.model("denoising 0.3", lambda: DenoisingAutoencoder(noise_level=sigma, random_state=0))
    pca = PCA(18).fit(digits.X_train)  # the number of components that denoises sigma 0.3 best
    clean = digits.X_test[:10]
    noisy = np.clip(clean + sigma * np.random.default_rng(0).standard_normal(clean.shape), 0, 1)
    rows = [("clean", clean), ("noisy", noisy),
            ("PCA (18)", np.clip(pca.inverse_transform(pca.transform(noisy)), 0, 1)),
            ("denoising AE", dae.reconstruct(noisy))]
    labelled = [(label if label == "clean" else f"{label}\n{psnr(X, clean):.1f} dB", X) for label, X in rows]
    path = outdir / "denoising.png"
    viz.show_image_rows(labelled, (8, 8), title=f"held-out digits, Gaussian noise sigma = {sigma}", path=path)
    return path


@figure("masking_filters")
def make_masking_filters(run: Run, outdir: Path) -> Path:
    """``masking_filters.png``: Vincent et al.'s picture, the first layer's filters learned on the
    digits with 0 % and with 30 % of the inputs masked."""
    from tinysae import DenoisingAutoencoder

    panels = []
    for level in (0.0, 0.3):
        dae = run.digits.model(f"masking {level}", lambda level=level: DenoisingAutoencoder(
            corruption="masking", noise_level=level, random_state=0))
        panels.append((f"{level:.0%} masking", dae.W1_))
    path = outdir / "masking_filters.png"
    viz.compare_filters(panels, title="denoising autoencoder filters (128 hidden units, digits)", path=path)
    return path


@figure("stacked_filters")
def make_stacked_filters(run: Run, outdir: Path) -> Path:
    """``stacked_filters.png``: the fine-tuned stacked autoencoder's layers, as images: layer 1's
    filters (rows of ``W1``) and layer 2's seen through layer 1 (rows of ``W2 @ W1``)."""
    from tinysae import StackedAutoencoder

    stack = run.digits.model("stacked", lambda: StackedAutoencoder(random_state=0))
    W1, W2 = stack.params_["W1"], stack.params_["W2"]
    path = outdir / "stacked_filters.png"
    viz.compare_filters([("layer 1: W1 (100 units)", W1), ("layer 2: W2 @ W1 (50 units)", W2 @ W1)],
                        title="stacked autoencoder after fine-tuning", path=path)
    return path


@figure("deep_codes")
def make_deep_codes(run: Run, outdir: Path) -> Path:
    """``deep_codes.png``: the held-out digits' 2-D codes, PCA's beside the deep autoencoder's."""
    from sklearn.decomposition import PCA

    from tinysae import DeepAutoencoder

    digits = run.digits
    deep = digits.model("deep 2", lambda: DeepAutoencoder(n_components=2, random_state=0))
    pca = PCA(2).fit(digits.X_train)
    panels = [("PCA", pca.transform(digits.X_test)),
              ("deep autoencoder 64-48-24-2", deep.transform(digits.X_test))]
    path = outdir / "deep_codes.png"
    viz.plot_codes(panels, digits.y_test, title="2-D codes of the 540 held-out digits", path=path)
    return path


@figure("vae_latent")
def make_vae_latent(run: Run, outdir: Path) -> Path:
    """``vae_latent.png``: a variational autoencoder's 2-D latent space on the digits: the
    held-out digits' ``mu`` coloured by class, beside the decoder's means over the plane."""
    from tinysae import VariationalAutoencoder

    digits = run.digits
    vae = digits.model("vae 2", lambda: VariationalAutoencoder(n_latent=2, random_state=0))
    path = outdir / "vae_latent.png"
    viz.plot_latent_space(vae.transform(digits.X_test), digits.y_test, vae.decode,
                          title="VariationalAutoencoder(n_latent=2) on the digits: the 540 held-out "
                                "digits' codes mu, and decode(z)", path=path)
    return path


@figure("conv_filters")
def make_conv_filters(run: Run, outdir: Path) -> Path:
    """``conv_filters.png``: the convolutional autoencoder's 16 first-layer 8x8 filters on the
    natural-image crops, at the random start and learned."""
    model = run.crops.model
    start = model.model_.init_params(model.seed_)["W1"]
    k = len(start)
    panels = [("random start", start.reshape(k, -1)), ("learned", model.filters_.reshape(k, -1))]
    path = outdir / "conv_filters.png"
    viz.compare_filters(panels, (8, 8), title="ConvolutionalAutoencoder filters (32x32 natural-image crops)",
                        path=path)
    return path


@figure("conv_reconstructions")
def make_conv_reconstructions(run: Run, outdir: Path) -> Path:
    """``conv_reconstructions.png``: held-out 32x32 crops and their reconstructions, each with
    its squared error."""
    crops = run.crops
    clean = crops.test[:8].reshape(8, -1)
    rebuilt = crops.model.reconstruct(crops.test[:8]).reshape(8, -1)
    error = np.mean(np.sum((rebuilt - clean) ** 2, axis=1))
    rows = [("held-out crops", clean), (f"reconstructed\nerror {error:.2f}", rebuilt)]
    path = outdir / "conv_reconstructions.png"
    viz.show_image_rows(rows, (32, 32), title="ConvolutionalAutoencoder on held-out natural-image crops",
                        path=path)
    return path


@figure("latent_density")
def make_latent_density(run: Run, outdir: Path) -> Path:
    """``latent_density.png``: how often each latent of ``tinysae superposition``'s TopK SAE
    fires on the held-out synthetic samples (its settings and data: :mod:`tinysae.superposition`)."""
    from tinysae import superposition

    data, n_train = superposition.make_data()
    model = superposition.make_model("TopKSAE").fit(data.X[:n_train])
    H = model.transform(data.X[n_train:])
    path = outdir / "latent_density.png"
    title = (f"TopKSAE, {superposition.N_LATENTS} latents, k = 4, on {superposition.N_FEATURES} "
             "synthetic features (held out)")
    viz.plot_latent_density(H, title=title, path=path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Write every figure (or those named by ``--only``) to ``--outdir``; return 0."""
    parser = argparse.ArgumentParser(prog="python -m tinysae.figures", description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default="figures", help="directory to write the PNGs to")
    parser.add_argument("--backend", default="numpy", help="backend for the training run")
    parser.add_argument("--only", nargs="+", choices=sorted(FIGURES), help="make only these figures")
    args = parser.parse_args(argv)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    run = Run(backend=args.backend)
    for name in args.only or FIGURES:
        print(f"wrote {FIGURES[name](run, outdir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
