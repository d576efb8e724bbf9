"""Regenerate the repository's ``figures/`` from code: ``python -m tinysae.figures``.

Each figure is a function ``make(run, outdir) -> Path`` registered in :data:`FIGURES` with the
:func:`figure` decorator; a :class:`Run` holds a training run that several figures share, made
once and cached (the UFLDL default run: 10000 8x8 natural-image patches, 64-25-64, rho 0.01,
beta 3, weight decay 1e-4, 400 L-BFGS iterations, seed 0; a couple of minutes). To add a
figure, write one more decorated function.

``python -m tinysae.figures [--outdir figures] [--backend numpy] [--only NAME ...]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tinysae import viz
from tinysae.metrics import edge_score
from tinysae.objective import Objective, init_params
from tinysae.train import TrainResult, lbfgs


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
