"""Applications of the autoencoders, each measured against scikit-learn's baselines.

One module per application; each is a function ``experiment(split, quick, out) -> Result``
registered in :data:`EXPERIMENTS`. It fits its methods on ``split``'s training part
(:class:`~tinysae.experiments.data.Split`), measures them on the held-out part, writes its
figure under ``out`` and returns a :class:`~tinysae.experiments.results.Result`: rows of method
x setting, each with the metric and the seconds taken (:mod:`tinysae.experiments.results`).

* ``features`` (:mod:`tinysae.experiments.features`): self-taught learning, features learned
  without labels (PCA, a sparse autoencoder, a stacked one's pre-training), then the held-out
  accuracy of a classifier on 10 labels per class and on all labels, against the raw pixels;
* ``reduction`` (:mod:`tinysae.experiments.reduction`): the held-out squared error per image
  through a code of 2 to 32 numbers, of PCA, a sparse autoencoder and a deep autoencoder;
* ``denoising`` (:mod:`tinysae.experiments.denoising`): Gaussian noise on the held-out images,
  the PSNR of the noisy input, PCA, a plain autoencoder and the denoising autoencoder;
* ``anomaly`` (:mod:`tinysae.experiments.anomaly`): each digit class held out in turn, the ROC
  AUC of the autoencoder, the VAE, PCA and IsolationForest.

``tinysae experiments [NAME ...] [--quick] [--out DIR] [--data digits|mnist] [--mnist-dir DIR]``
and ``python -m tinysae.experiments`` (the same flags) run the named experiments (default: all),
print each one's table and write, under ``--out`` (default ``figures`` in the current
directory), its figures and ``NAME.json``: the :class:`Result` as JSON, with the data set and
whether the run was quick. One JSON per experiment, so that running one experiment leaves the
others' results as they were. ``--quick`` is a small budget, for the tests: its numbers are not
the results. scikit-learn provides the split, the baselines and the metrics: install
``tinysae[experiments]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import tinysae
from tinysae.experiments.anomaly import anomaly
from tinysae.experiments.data import DATASETS, Split, load_split
from tinysae.experiments.denoising import denoising
from tinysae.experiments.features import features
from tinysae.experiments.reduction import reduction
from tinysae.experiments.results import Result, format_table, timed

__all__ = ["EXPERIMENTS", "Result", "Split", "UsageError", "add_arguments", "main", "run", "run_arguments"]

#: name -> the application's function ``(split, quick, out) -> Result``.
EXPERIMENTS: dict[str, Callable[[Split, bool, Path], Result]] = {
    "features": features,
    "reduction": reduction,
    "denoising": denoising,
    "anomaly": anomaly,
}


class UsageError(Exception):
    """A bad experiment name, data set or directory, or scikit-learn missing: one line for the user."""


def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise UsageError("the experiments need scikit-learn: pip install 'tinysae[experiments]'") from None


def run(names: Sequence[str] | None = None, quick: bool = False, out: str | os.PathLike = "figures",
        data: str = "digits", mnist_dir: str | os.PathLike | None = None) -> dict[str, Result]:
    """Run the experiments ``names`` (default: all of :data:`EXPERIMENTS`) on ``data``, print
    each one's table and write its figures and ``NAME.json`` under ``out``; return name -> Result.

    Raises :class:`UsageError` for an unknown name, ``data`` not one of ``digits`` and
    ``mnist``, ``mnist`` without ``mnist_dir`` or with a directory that holds no readable MNIST
    files, and a missing scikit-learn.
    """
    names = list(names or EXPERIMENTS)
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        raise UsageError(f"unknown experiment {', '.join(map(repr, unknown))}; choose from "
                         f"{', '.join(EXPERIMENTS)}")
    _require_sklearn()
    try:
        split = load_split(data, mnist_dir)
    except (OSError, ValueError) as exc:
        raise UsageError(exc) from exc
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in names:
        result, seconds = timed(lambda name=name: EXPERIMENTS[name](split, quick, out))
        result.seconds = seconds
        path = out / f"{name}.json"
        path.write_text(json.dumps({"tinysae": tinysae.__version__, "data": data, "quick": quick,
                                    **result.to_json()}, indent=1) + "\n")
        print(format_table(result))
        print(f"wrote {', '.join(str(p) for p in [*result.figures, path])}\n", flush=True)
        results[name] = result
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiments' flags, on ``parser`` (``python -m tinysae.experiments``'s, or the
    ``tinysae experiments`` subcommand's)."""
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"the experiments to run (default: all of {', '.join(EXPERIMENTS)})")
    parser.add_argument("--quick", action="store_true", help="a small budget, for the tests: not the results")
    parser.add_argument("--out", default="figures", metavar="DIR",
                        help="where to write the figures and NAME.json (default: ./figures)")
    parser.add_argument("--data", choices=DATASETS, default="digits",
                        help="scikit-learn's 8x8 digits (default), or MNIST from --mnist-dir")
    parser.add_argument("--mnist-dir", metavar="DIR", help="the directory of MNIST's four IDX files")


def run_arguments(args: argparse.Namespace) -> dict[str, Result]:
    """:func:`run` with the flags :func:`add_arguments` parsed."""
    return run(args.names, quick=args.quick, out=args.out, data=args.data, mnist_dir=args.mnist_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the experiments with ``argv`` (default ``sys.argv[1:]``); return the exit status: 0,
    or 2 after one line on stderr for a user error."""
    parser = argparse.ArgumentParser(prog="python -m tinysae.experiments",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already reported
        return exc.code if isinstance(exc.code, int) else 2
    try:
        run_arguments(args)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0
