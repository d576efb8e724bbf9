"""The ``tinysae`` command.

``tinysae train`` runs UFLDL's sparse-autoencoder exercise by default (10000 random 8x8 patches
of whitened natural images, 64-25-64, rho 0.01, beta 3, weight decay 1e-4, 400 L-BFGS
iterations, seed 0), prints progress and a summary, and writes the filters to
``figures/filters.png``. ``tinysae explain`` prints the step-by-step derivation of the sparsity
term's gradient. ``tinysae --version`` prints the version.

:func:`main` takes ``argv`` (default ``sys.argv[1:]``) and returns the exit status: 0 on
success, 2 for bad arguments or unusable data (with a one-line message, no traceback).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import tinysae
from tinysae.backends import BACKENDS, BackendUnavailable, get_backend, resolve
from tinysae.objective import ACTIVATIONS, OUTPUTS, Objective, check_data, init_params
from tinysae.terms import PENALTIES
from tinysae.train import SOLVERS


class UsageError(Exception):
    """Bad data or arguments: reported in one line with exit status 2."""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinysae",
        description="Sparse autoencoders from scratch: train one, or see its gradient derived.",
    )
    parser.add_argument("--version", action="version", version=f"tinysae {tinysae.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    tr = commands.add_parser(
        "train",
        help="train a sparse autoencoder (defaults: UFLDL's exercise)",
        description="Train a sparse autoencoder. The defaults are UFLDL's sparse-autoencoder exercise.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = tr.add_argument_group("data")
    data.add_argument("--dataset", default="images", metavar="{images,digits,PATH.npy}",
                      help="natural-image patches, the 8x8 digits, or a .npy file: (m, n) samples, "
                           "or (n_images, H, W) images to cut patches from")
    data.add_argument("--patches", type=int, default=10000, help="number of patches (images / 3-D .npy)")
    data.add_argument("--patch-size", type=int, default=8, help="side of each square patch")
    model = tr.add_argument_group("model")
    model.add_argument("--hidden", type=int, default=25, help="number of hidden units k")
    model.add_argument("--rho", type=float, default=0.01, help="target mean activation")
    model.add_argument("--beta", type=float, default=3.0, help="weight of the sparsity penalty")
    model.add_argument("--weight-decay", type=float, default=1e-4, help="weight decay lambda")
    model.add_argument("--penalty", choices=PENALTIES, default="kl")
    model.add_argument("--activation", choices=ACTIVATIONS, default="sigmoid")
    model.add_argument("--output", choices=OUTPUTS, default="sigmoid")
    opt = tr.add_argument_group("optimisation")
    opt.add_argument("--solver", choices=SOLVERS, default="lbfgs")
    opt.add_argument("--iterations", type=int, default=400, help="L-BFGS iterations or Adam epochs")
    opt.add_argument("--batch-size", type=int, default=256, help="Adam minibatch size")
    opt.add_argument("--learning-rate", type=float, default=1e-3, help="Adam step size")
    opt.add_argument("--backend", choices=["auto", *BACKENDS], default="auto")
    opt.add_argument("--seed", type=int, default=0, help="seeds the patches, the weights and Adam")
    out = tr.add_argument_group("output")
    out.add_argument("--out", default="figures/filters.png", help="where to write the filter image")
    out.add_argument("--save", metavar="MODEL.npz", help="also save the trained model")
    out.add_argument("--quiet", action="store_true", help="no progress display")
    tr.set_defaults(handler=_train)

    ex = commands.add_parser(
        "explain",
        help="derive the gradient of the sparsity term step by step",
        description="Print the engine's step-by-step derivation of dJ/dZ2 for the KL sparsity term.",
    )
    ex.add_argument("--latex", action="store_true", help="print LaTeX instead of plain text")
    ex.add_argument("--seed", type=int, default=0, help="seed of the small example the numbers come from")
    ex.set_defaults(handler=_explain)
    return parser


def load_dataset(args: argparse.Namespace, objective: Objective) -> np.ndarray:
    """The data matrix ``X (m, n)`` that ``--dataset`` names, checked against ``objective``."""
    from tinysae import datasets

    try:
        if args.dataset == "images":
            images = datasets.load_natural_images()
            X = datasets.sample_patches(images, args.patch_size, args.patches, args.seed)
        elif args.dataset == "digits":
            X = datasets.load_digits()[0]
        else:
            X = _load_user_array(args)
        return check_data(X, objective)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--dataset {args.dataset}: {exc}") from exc


def _load_user_array(args: argparse.Namespace) -> np.ndarray:
    path = Path(args.dataset)
    if path.suffix != ".npy":
        raise UsageError(f"--dataset must be 'images', 'digits' or a .npy file, got {args.dataset!r}")
    try:
        X = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise UsageError(f"--dataset {args.dataset}: no such file") from exc
    except (OSError, ValueError, EOFError) as exc:
        raise UsageError(f"--dataset {args.dataset}: not a readable .npy array ({exc})") from exc
    if X.dtype.kind not in "biuf":
        raise UsageError(f"--dataset {args.dataset}: expected real numbers, got dtype {X.dtype}")
    if X.ndim == 3 and X.size:
        from tinysae import datasets

        if not np.all(np.isfinite(X)):
            raise UsageError(f"--dataset {args.dataset}: the images hold NaN or inf")
        try:
            return datasets.sample_patches(X, args.patch_size, args.patches, args.seed)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--dataset {args.dataset}: {exc}") from exc
    if X.ndim != 2 or X.size == 0:
        raise UsageError(
            f"--dataset {args.dataset}: expected a 2-D array (m samples, n features) or 3-D images "
            f"(n_images, H, W), got shape {X.shape}"
        )
    return X


def _patch_shape(n: int) -> tuple[int, int]:
    side = int(round(np.sqrt(n)))
    return (side, side) if side * side == n else (1, n)


def _train(args: argparse.Namespace) -> int:
    from tinysae.estimator import SparseAutoencoder
    from tinysae.metrics import edge_score
    from tinysae.viz import show_filters

    try:
        objective = Objective(rho=args.rho, beta=args.beta, weight_decay=args.weight_decay,
                              penalty=args.penalty, activation=args.activation, output=args.output)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    for name in ("hidden", "iterations", "batch_size", "patches", "patch_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.learning_rate > 0:
        raise UsageError(f"--learning-rate must be > 0, got {args.learning_rate}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")

    backend = resolve(args.backend)
    try:
        get_backend(backend)
    except (BackendUnavailable, ImportError) as exc:
        raise UsageError(f"--backend {backend}: {exc}") from exc
    X = load_dataset(args, objective)
    m, n = X.shape
    verbose = not args.quiet
    if verbose:
        print(f"tinysae train: {m} samples, {n}-{args.hidden}-{n}, {args.solver}, backend {backend}")
    model = SparseAutoencoder(
        n_hidden=args.hidden, rho=args.rho, beta=args.beta, weight_decay=args.weight_decay,
        penalty=args.penalty, activation=args.activation, output=args.output, solver=args.solver,
        max_iter=args.iterations, batch_size=args.batch_size, learning_rate=args.learning_rate,
        backend=backend, seed=args.seed, verbose=verbose,
    )
    start = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - start

    shape = _patch_shape(n)
    h = model.history_
    print("summary")
    print(f"  stop reason       {model.stop_reason_} after {model.n_iter_} iterations ({backend})")
    final = f"{h.loss[-1]:.6g}" if h.loss else "(no iteration completed)"
    print(f"  final loss        {final}")
    for name, values in h.terms.items():
        print(f"  {name.replace('_', ' '):<17} {values[-1]:.6g}")
    if h.rho_hat_mean:
        print(f"  mean rho_hat      {h.rho_hat_mean[-1]:.4g}  (target {args.rho:g})")
    if shape[0] > 1:
        trained = edge_score(model.W1_, shape)
        initial = edge_score(init_params(n, args.hidden, seed=args.seed)["W1"], shape)
        print(f"  edge score        {trained.edge.mean():.3f} (initial weights {initial.edge.mean():.3f});"
              f" {trained.summary()}")
    print(f"  time              {seconds:.1f} s")
    try:
        show_filters(model.W1_, shape, path=args.out,
                     title=f"{args.hidden} filters after {model.n_iter_} {args.solver} iterations")
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot write the image ({exc})") from exc
    print(f"  filters           {args.out}")
    if args.save:
        try:
            model.save(args.save)
        except OSError as exc:
            raise UsageError(f"--save {args.save}: cannot write the model ({exc})") from exc
        print(f"  model             {args.save}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from tinysae.derivation import sparsity_derivation

    derivation = sparsity_derivation(seed=args.seed)
    print(derivation.latex() if args.latex else str(derivation))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tinysae`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already reported
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except UsageError as exc:
        print(f"tinysae {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
