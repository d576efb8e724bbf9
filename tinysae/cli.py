"""The ``tinysae`` command.

``tinysae train`` runs UFLDL's sparse-autoencoder exercise by default (10000 random 8x8 patches
of whitened natural images, 64-25-64, rho 0.01, beta 3, weight decay 1e-4, 400 L-BFGS
iterations, random state 0), prints progress and a summary, and writes the filters to
``figures/filters.png``; ``--save MODEL.npz`` also saves the model. Its flags are named as
:class:`tinysae.SparseAutoencoder`'s parameters (``--n-hidden``, ``--max-iter``,
``--random-state``, ...); the older ``--hidden``, ``--iterations`` and ``--seed`` still work.

``tinysae encode MODEL.npz DATA.npy -o CODES.npy`` writes the saved model's hidden codes of the
data (``model.transform(X)``); ``tinysae reconstruct MODEL.npz DATA.npy -o OUT.npy`` writes its
reconstructions (``model.reconstruct(X)``). ``tinysae explain`` prints the step-by-step
derivation of the sparsity term's gradient. ``tinysae experiments [NAME ...] [--quick] [--out DIR]
[--data digits|mnist] [--mnist-dir DIR]`` runs the applications of :mod:`tinysae.experiments`
(it needs scikit-learn: ``tinysae[experiments]``). ``tinysae lessons --student OUT/ [--source DIR]``
writes the student version of every lesson notebook (:mod:`tinysae.lessons`). ``tinysae
--version`` prints the version.

:func:`main` takes ``argv`` (default ``sys.argv[1:]``) and returns the exit status:

* 0 on success (also when Ctrl-C stops a training run: the trainer keeps the best parameters
  seen so far, and the summary's stop reason says ``interrupted``);
* 2 for a user error: a bad flag value, a missing, unreadable or unsuitable data or model file,
  an output path that cannot be written, a training run that diverged, not enough memory. The
  message is one line on stderr, ``tinysae COMMAND: error: ...``, never a traceback (argparse's
  own errors too: they name the flag and point to ``--help`` instead of printing the usage);
* 130 after the one line ``tinysae COMMAND: interrupted (Ctrl-C)`` when Ctrl-C arrives outside a
  training run (while reading or writing files, say);
* 141, silently, when stdout is a pipe closed early (``tinysae explain | head``).

Files are written whole or not at all: each goes to a temporary file beside it, renamed into
place once complete, so an interrupted or failed write never leaves a truncated file behind.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

import tinysae
from tinysae import experiments
from tinysae.backends import BACKENDS, BackendUnavailable, get_backend, resolve
from tinysae.objective import ACTIVATIONS, OUTPUTS, Objective, check_data, init_params
from tinysae.terms import PENALTIES
from tinysae.train import SOLVERS

#: Exit status for Ctrl-C outside a training run (128 + SIGINT, the shells' convention).
EXIT_INTERRUPTED = 130
#: Exit status when stdout is a pipe that was closed early (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


class UsageError(Exception):
    """Bad data or arguments: reported in one line with exit status 2."""


def _one_line(message: object) -> str:
    """``message`` on one line, its control characters escaped (it may quote a damaged file)."""
    text = " ".join(str(message).split())
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors reported on one line (the flag and what is wrong with it).

    ``commands`` maps each subcommand's name to its parser (the top-level parser's only), so that
    an unknown flag is reported by the subcommand it was given to.
    """

    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see '{self.prog} --help')\n")


# ----------------------------------------------------------------------------- flag values
def _integer(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _real(minimum: float | None = None, *, strict: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite real number, ``>= minimum`` (``> minimum`` when ``strict``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum:g}, got {text}")
        return value

    return parse


def _flag_message(message: str) -> str:
    """An estimator message that starts with a parameter's name, starting with its flag instead."""
    for name in ("weight_decay", "rho", "beta"):
        if message.startswith(name + " "):
            return "--" + name.replace("_", "-") + message[len(name):]
    return message


# ----------------------------------------------------------------------------- the parser
def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tinysae",
        description="Sparse autoencoders from scratch: train one, use a saved one, or see its "
                    "gradient derived.",
    )
    parser.add_argument("--version", action="version", version=f"tinysae {tinysae.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.commands = commands.choices
    positive = _integer(1)

    tr = commands.add_parser(
        "train",
        help="train a sparse autoencoder (defaults: UFLDL's exercise)",
        description="Train a sparse autoencoder. The defaults are UFLDL's sparse-autoencoder exercise. "
                    "The flags are named as tinysae.SparseAutoencoder's parameters; the older names "
                    "(--hidden, --iterations, --seed) still work.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = tr.add_argument_group("data")
    data.add_argument("--dataset", default="images", metavar="{images,digits,PATH.npy}",
                      help="natural-image patches, the 8x8 digits, or a .npy file: (m, n) samples, "
                           "or (n_images, H, W) images to cut patches from")
    data.add_argument("--patches", type=positive, default=10000, metavar="M",
                      help="number of patches (images / 3-D .npy)")
    data.add_argument("--patch-size", type=positive, default=8, metavar="P", help="side of each square patch")
    model = tr.add_argument_group("model")
    model.add_argument("--n-hidden", "--hidden", dest="n_hidden", type=positive, default=25, metavar="K",
                       help="number of hidden units k")
    model.add_argument("--rho", type=_real(), default=0.01, help="target mean activation, in (0, 1)")
    model.add_argument("--beta", type=_real(0), default=3.0, help="weight of the sparsity penalty")
    model.add_argument("--weight-decay", type=_real(0), default=1e-4, metavar="LAMBDA",
                       help="weight decay lambda")
    model.add_argument("--penalty", choices=PENALTIES, default="kl", help="sparsity penalty")
    model.add_argument("--activation", choices=ACTIVATIONS, default="sigmoid", help="hidden nonlinearity f")
    model.add_argument("--output", choices=OUTPUTS, default="sigmoid",
                       help="output nonlinearity g (sigmoid: the data must lie in [0, 1])")
    opt = tr.add_argument_group("optimisation")
    opt.add_argument("--solver", choices=SOLVERS, default="lbfgs", help="full-batch L-BFGS or minibatch Adam")
    opt.add_argument("--max-iter", "--iterations", dest="max_iter", type=positive, default=400, metavar="N",
                     help="L-BFGS iterations or Adam epochs")
    opt.add_argument("--batch-size", type=positive, default=256, metavar="B", help="Adam minibatch size")
    opt.add_argument("--learning-rate", type=_real(0, strict=True), default=1e-3, metavar="RATE",
                     help="Adam step size")
    opt.add_argument("--backend", choices=["auto", *BACKENDS], default="auto",
                     help="how J and its gradient are computed (auto: the fastest available here)")
    opt.add_argument("--random-state", "--seed", dest="random_state", type=_integer(0), default=0,
                     metavar="SEED", help="seeds the patches, the weights and Adam")
    out = tr.add_argument_group("output")
    out.add_argument("--out", default="figures/filters.png", metavar="IMAGE",
                     help="where to write the filter image")
    out.add_argument("--save", metavar="MODEL.npz", help="also save the trained model")
    out.add_argument("--quiet", action="store_true", help="no progress display")
    tr.set_defaults(handler=_train)

    for name, what, method in (("encode", "hidden codes H", "transform"),
                               ("reconstruct", "reconstructions Xhat", "reconstruct")):
        use = commands.add_parser(
            name,
            help=f"write a saved model's {what} of a data file",
            description=f"Write the {what} of the rows of DATA.npy by a model saved with 'tinysae train "
                        f"--save' (the model's {method}(X)) to a .npy file.",
        )
        use.add_argument("model", metavar="MODEL.npz", help="a model saved by 'tinysae train --save'")
        use.add_argument("data", metavar="DATA.npy",
                         help="a 2-D array (m samples, n features), n the model's number of inputs")
        use.add_argument("-o", "--out", required=True, metavar="OUT.npy", help=f"where to write the {what}")
        use.set_defaults(handler=_use_model, method=method, what=what)

    ex = commands.add_parser(
        "explain",
        help="derive the gradient of the sparsity term step by step",
        description="Print the engine's step-by-step derivation of dJ/dZ2 for the KL sparsity term.",
    )
    ex.add_argument("--latex", action="store_true", help="print LaTeX instead of plain text")
    ex.add_argument("--random-state", "--seed", dest="random_state", type=_integer(0), default=0,
                    metavar="SEED", help="seed of the small example the numbers come from")
    ex.set_defaults(handler=_explain)

    exp = commands.add_parser(
        "experiments",
        help="run the applications against scikit-learn's baselines (tinysae[experiments])",
        description="Run the applications of tinysae.experiments (default: all), print each one's "
                    "table and write its figures and NAME.json under --out.",
    )
    experiments.add_arguments(exp)
    exp.set_defaults(handler=_experiments)

    sup = commands.add_parser(
        "superposition",
        help="train the ReLU, TopK and JumpReLU SAEs on data with known features; print their metrics",
        description="Train tinysae's ReLUSAE, TopKSAE (per sample and BatchTopK) and JumpReLUSAE on "
                    "synthetic data whose true features are known (tinysae.synthetic) and print the "
                    "metric table: L0, normalised MSE, explained variance, dead and dense latents, "
                    "MMCS and the fraction of features recovered.",
    )
    sup.add_argument("--quick", action="store_true", help="fewer samples and epochs: a smoke run")
    sup.set_defaults(handler=_superposition)

    les = commands.add_parser(
        "lessons",
        help="write the student version of every lesson notebook",
        description="Write the student version of every lesson in lessons/ (or --source DIR) into "
                    "OUT/: solutions replaced by 'raise NotImplementedError()', outputs cleared, the "
                    "solution-and-discussion cells dropped, nbgrader's cell metadata added.",
    )
    les.add_argument("--student", required=True, metavar="OUT/", help="the folder to write them into")
    les.add_argument("--source", metavar="DIR", help="the folder of lesson notebooks (default: the "
                                                     "lessons/ folder of tinysae's checkout)")
    les.set_defaults(handler=_lessons)
    return parser


# ----------------------------------------------------------------------------- files
def _unopenable(exc: OSError, label: str, kind: str) -> UsageError:
    """The one-line error for a file that cannot be opened: missing, a directory, or not allowed."""
    if isinstance(exc, FileNotFoundError):
        return UsageError(f"{label}: no such file")
    if isinstance(exc, IsADirectoryError):
        return UsageError(f"{label}: is a directory, not {kind}")
    return UsageError(f"{label}: permission denied")


def _load_array(path_text: str, label: str) -> np.ndarray:
    """The real array in the .npy file ``path_text``; ``label`` names it in the messages."""
    path = Path(path_text)
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
        if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):  # neither .npy nor .npz
            what = "it is empty" if not magic else "it does not begin with numpy's magic string \\x93NUMPY"
            raise UsageError(f"{label}: not a .npy file ({what})")
        X = np.load(path, allow_pickle=False)
    except UsageError:
        raise
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise _unopenable(exc, label, "a .npy file") from None
    except MemoryError:
        raise  # a file too large for this machine (or a header that claims so): main says so
    except Exception as exc:  # damaged bytes raise many types: ValueError, EOFError, TokenError, ...
        raise UsageError(f"{label}: not a readable .npy array ({exc})") from exc
    if not isinstance(X, np.ndarray):  # np.load opened an .npz archive
        X.close()
        raise UsageError(f"{label}: is an .npz archive, not a single .npy array")
    if X.dtype.kind not in "biuf":
        raise UsageError(f"{label}: expected real numbers, got dtype {X.dtype}")
    if X.dtype.kind != "f" or X.dtype.itemsize not in (4, 8):
        X = X.astype(np.float64)
    return X


def load_dataset(args: argparse.Namespace, objective: Objective) -> np.ndarray:
    """The data matrix ``X (m, n)`` that ``--dataset`` names, checked against ``objective``."""
    from tinysae import datasets

    try:
        if args.dataset == "images":
            images = datasets.load_natural_images()
            X = datasets.sample_patches(images, args.patch_size, args.patches, args.random_state)
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
    X = _load_array(args.dataset, f"--dataset {args.dataset}")
    if X.ndim == 3 and X.size:
        from tinysae import datasets

        if not np.all(np.isfinite(X)):
            raise UsageError(f"--dataset {args.dataset}: the images hold NaN or inf")
        try:
            return datasets.sample_patches(X, args.patch_size, args.patches, args.random_state)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--dataset {args.dataset}: {exc}") from exc
    if X.ndim != 2 or X.size == 0:
        raise UsageError(
            f"--dataset {args.dataset}: expected a 2-D array (m samples, n features) or 3-D images "
            f"(n_images, H, W), got shape {X.shape}"
        )
    return X


def _check_output(text: str, label: str, *, make_parents: bool = False) -> Path:
    """``text`` as a path that can be written (its directory exists, or can be made when
    ``make_parents``), else a UsageError; checked before any work so that none is lost."""
    path = Path(text)
    if not text:
        raise UsageError(f"{label}: the path is empty")
    if path.is_dir():
        raise UsageError(f"{label} {text}: is a directory")
    parent = path.parent
    if make_parents:
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    elif not parent.exists():
        raise UsageError(f"{label} {text}: the directory {parent} does not exist")
    if not parent.is_dir():
        raise UsageError(f"{label} {text}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{label} {text}: permission denied")
    return path


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _write_whole(path: Path, label: str, write: Callable[[str], None]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, then rename it to ``path``: a failed or
    interrupted write leaves ``path`` as it was. OSError becomes a UsageError naming ``label``."""
    target = Path(os.path.realpath(path))  # through a symlink, replace what it points to
    tmp = None
    try:
        # the temporary file keeps the suffix: matplotlib reads the image format from it
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.",
                                   suffix=f".part{target.suffix}")
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the permissions a plain open() would have given
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise UsageError(f"{label} {path}: cannot write the file ({exc.strerror or exc})") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _save_npy(path: Path, label: str, array: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a bare name
            np.save(f, array, allow_pickle=False)

    _write_whole(path, label, write)


# ----------------------------------------------------------------------------- commands
def _patch_shape(n: int) -> tuple[int, int]:
    side = int(round(np.sqrt(n)))
    return (side, side) if side * side == n else (1, n)


def _check_image_path(text: str) -> Path:
    from matplotlib.figure import Figure

    path = _check_output(text, "--out", make_parents=True)
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise UsageError(f"--out {text}: the image needs one of the extensions "
                         f"{', '.join('.' + f for f in sorted(formats))}")
    return path


def _train(args: argparse.Namespace) -> int:
    from tinysae.estimator import SparseAutoencoder
    from tinysae.metrics import edge_score
    from tinysae.viz import show_filters

    try:
        objective = Objective(rho=args.rho, beta=args.beta, weight_decay=args.weight_decay,
                              penalty=args.penalty, activation=args.activation, output=args.output)
    except (ValueError, TypeError) as exc:
        raise UsageError(_flag_message(str(exc))) from exc

    backend = resolve(args.backend)
    try:
        get_backend(backend)
    except (BackendUnavailable, ImportError) as exc:
        raise UsageError(f"--backend {backend}: {exc}") from exc
    image = _check_image_path(args.out)
    saved = None
    if args.save is not None:
        saved = _check_output(args.save, "--save")
        if saved.resolve() == image.resolve():
            raise UsageError(f"--save {args.save}: is also the --out image; give them different paths")
        if _same_file(saved, args.dataset):
            raise UsageError(f"--save {args.save}: is the --dataset file; it would be overwritten")
    X = load_dataset(args, objective)
    m, n = X.shape
    verbose = not args.quiet
    if verbose:
        print(f"tinysae train: {m} samples, {n}-{args.n_hidden}-{n}, {args.solver}, backend {backend}")
    model = SparseAutoencoder(
        n_hidden=args.n_hidden, rho=args.rho, beta=args.beta, weight_decay=args.weight_decay,
        penalty=args.penalty, activation=args.activation, output=args.output, solver=args.solver,
        max_iter=args.max_iter, batch_size=args.batch_size, learning_rate=args.learning_rate,
        backend=backend, random_state=args.random_state, verbose=verbose,
    )
    start = time.perf_counter()
    try:
        # The trainer checks every evaluation for NaN and inf and says where and why; numpy's
        # overflow warnings on the way there would only add lines to that one-line message.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            model.fit(X)
    except FloatingPointError as exc:
        if verbose and sys.stdout.isatty():
            print()  # end the progress line the message would otherwise continue
        raise UsageError(f"training stopped: {exc}") from exc
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
        initial = edge_score(init_params(n, args.n_hidden, model.seed_)["W1"], shape)  # where fit began
        print(f"  edge score        {trained.edge.mean():.3f} (initial weights {initial.edge.mean():.3f});"
              f" {trained.summary()}")
    print(f"  time              {seconds:.1f} s")
    title = f"{args.n_hidden} filters after {model.n_iter_} {args.solver} iterations"
    image.parent.mkdir(parents=True, exist_ok=True)
    _write_whole(image, "--out", lambda tmp: show_filters(model.W1_, shape, path=tmp, title=title))
    print(f"  filters           {args.out}")
    if saved is not None:
        _write_whole(saved, "--save", model.save)
        print(f"  model             {args.save}")
    return 0


def _load_model(path_text: str):  # -> SparseAutoencoder
    from tinysae.estimator import SparseAutoencoder

    label = f"MODEL {path_text}"
    hint = "MODEL must be a file saved by 'tinysae train --save'"
    try:
        with open(path_text, "rb") as f:
            magic = f.read(6)
        if not magic.startswith(b"PK") and magic != b"\x93NUMPY":  # neither .npz (a zip) nor .npy
            what = "it is empty" if not magic else "it is not an .npz (zip) archive"
            raise UsageError(f"{label}: not a tinysae model file ({what}); {hint}")
        return SparseAutoencoder.load(path_text)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise _unopenable(exc, label, "a model file") from None
    except ValueError as exc:  # not a model file, damaged, or another format version: load says which
        raise UsageError(f"{exc}; {hint}") from exc


def _use_model(args: argparse.Namespace) -> int:
    """``tinysae encode`` and ``tinysae reconstruct``: the saved model's ``args.method`` of the data."""
    out = _check_output(args.out, "-o")
    for name, given in (("MODEL", args.model), ("DATA", args.data)):
        if _same_file(out, given):
            raise UsageError(f"-o {args.out}: is the {name} file; it would be overwritten")
    model = _load_model(args.model)
    n, k = model.n_features_in_, model.model_.n_hidden
    X = _load_array(args.data, f"DATA {args.data}")
    try:
        X = check_data(X, None, n)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"DATA {args.data}: {exc}") from exc
    with warnings.catch_warnings():
        # a .npy array has no column names: a model fitted on a DataFrame need not say so
        warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
        result = getattr(model, args.method)(X)
    _save_npy(out, "-o", result)
    print(f"tinysae {args.command}: wrote {args.out}: the {args.what} of {args.data}, shape {result.shape}, "
          f"{result.dtype} (model {args.model}, {n}-{k}-{n})")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from tinysae.derivation import sparsity_derivation

    derivation = sparsity_derivation(seed=args.random_state)
    print(derivation.latex() if args.latex else str(derivation))
    return 0


def _experiments(args: argparse.Namespace) -> int:
    try:
        experiments.run_arguments(args)
    except experiments.UsageError as exc:
        raise UsageError(str(exc)) from exc
    return 0


def _superposition(args: argparse.Namespace) -> int:
    from tinysae import superposition

    return superposition.main(quick=args.quick)


def _lessons(args: argparse.Namespace) -> int:
    from tinysae import lessons

    try:
        written = lessons.write_student_versions(args.student, args.source)
    except lessons.LessonsNotFound as exc:
        raise UsageError(str(exc)) from exc
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot write the student versions into {args.student}: {exc}") from exc
    for path in written:
        print(f"wrote {path}")
    return 0


def _error(command: str, message: object) -> None:
    print(f"{command}: error: {_one_line(message)}", file=sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's final flush of a closed pipe raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (under pytest, say)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tinysae`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    command = "tinysae"
    try:
        parser = _build_parser()
        try:
            args, unknown = parser.parse_known_args(argv)
            if unknown:  # argparse's top-level parser would report them, as "tinysae: error: ..."
                command_parser = parser.commands.get(args.command, parser)
                command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        except SystemExit as exc:  # --help, --version, or a usage error argparse already reported
            return exc.code if isinstance(exc.code, int) else 2
        if args.command is None:
            parser.print_help()
            _error(command, f"no command given; choose one of {', '.join(parser.commands)}")
            return 2
        command = f"tinysae {args.command}"
        return args.handler(args)
    except UsageError as exc:
        _error(command, exc)
        return 2
    except MemoryError as exc:
        _error(command, f"not enough memory ({exc or 'MemoryError'}); ask for less data or a smaller model")
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
