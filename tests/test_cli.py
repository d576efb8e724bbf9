"""The ``tinysae`` command: train (tiny configs), encode and reconstruct with a saved model,
explain, --version, and every user error as one line on stderr with exit status 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import tinysae
import tinysae.cli as cli
from tinysae.cli import main
from tinysae.datasets import load_digits
from tinysae.estimator import SparseAutoencoder

TINY = ["train", "--patches", "300", "--max-iter", "5", "--backend", "numpy"]
#: The small model the encode / reconstruct tests use, trained on the digits.
TRAIN_MODEL = ["train", "--dataset", "digits", "--n-hidden", "4", "--max-iter", "3", "--backend", "numpy",
               "--quiet", "--save", "m.npz", "--out", "f.png"]


def one_error_line(err: str, command: str) -> str:
    """The single line of ``err``, checked: ``tinysae COMMAND: error: ...``, no traceback."""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith(f"{command}: error: ") and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------- train
def test_train_writes_the_png_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "figs" / "filters.png"
    model = tmp_path / "model.npz"
    assert main([*TINY, "--out", str(out), "--save", str(model)]) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert captured.err == ""
    assert out.exists() and out.stat().st_size > 0
    assert text.startswith("tinysae train: 300 samples, 64-25-64, lbfgs, backend numpy\n")
    assert re.search(r"^iter +5  loss [0-9.]+  elapsed [0-9.]+ s$", text, re.M)  # verbose=True, explicitly
    for field in ("stop reason       max_iter after 5 iterations", "final loss", "reconstruction    ",
                  "weight decay      ", "sparsity          ", "mean rho_hat", "edge score", "time",
                  f"filters           {out}", f"model             {model}"):
        assert field in text
    loaded = SparseAutoencoder.load(model)
    assert loaded.W1_.shape == (25, 64) and loaded.n_iter_ == 5 and loaded.rho == 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "model.npz"]  # no temporary files left
    assert [p.name for p in out.parent.iterdir()] == ["filters.png"]


def test_quiet_train_prints_only_the_summary(tmp_path, capsys):
    assert main([*TINY, "--quiet", "--out", str(tmp_path / "f.png")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("summary\n") and not re.search("^iter ", text, re.M)


def test_train_with_adam_on_digits(tmp_path, capsys):
    argv = ["train", "--dataset", "digits", "--solver", "adam", "--max-iter", "2", "--batch-size", "128",
            "--learning-rate", "0.01", "--n-hidden", "16", "--backend", "numpy",
            "--out", str(tmp_path / "d.png")]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "1797 samples, 64-16-64, adam" in text and "after 2 iterations" in text
    assert (tmp_path / "d.png").exists()


def test_train_on_user_files(tmp_path, capsys):
    samples = tmp_path / "samples.npy"
    np.save(samples, np.random.default_rng(0).uniform(0, 1, size=(40, 10)))  # 10 is not a square
    assert main(["train", "--dataset", str(samples), "--n-hidden", "3", "--max-iter", "3", "--backend",
                 "numpy", "--out", str(tmp_path / "s.png")]) == 0
    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).normal(size=(2, 20, 20)).astype(np.float16))
    assert main(["train", "--dataset", str(images), "--patches", "100", "--patch-size", "4", "--n-hidden",
                 "4", "--max-iter", "3", "--backend", "numpy", "--out", str(tmp_path / "i.png")]) == 0
    text = capsys.readouterr().out
    assert "40 samples, 10-3-10" in text and "100 samples, 16-4-16" in text


OLD_AND_NEW = [
    (["--hidden", "6"], ["--n-hidden", "6"]),
    (["--iterations", "4"], ["--max-iter", "4"]),
    (["--seed", "3"], ["--random-state", "3"]),
]


def test_old_flag_names_are_aliases_of_the_new_ones(tmp_path, capsys):
    parser = cli._build_parser()
    for old, new in OLD_AND_NEW:
        assert parser.parse_args(["train", *old]) == parser.parse_args(["train", *new])
    assert parser.parse_args(["explain", "--seed", "2"]) == parser.parse_args(
        ["explain", "--random-state", "2"])
    base = ["train", "--dataset", "digits", "--backend", "numpy", "--quiet", "--out", str(tmp_path / "f.png")]
    old = [arg for pair in OLD_AND_NEW for arg in pair[0]]
    new = [arg for pair in OLD_AND_NEW for arg in pair[1]]
    assert main([*base, *old, "--save", str(tmp_path / "old.npz")]) == 0
    assert main([*base, *new, "--save", str(tmp_path / "new.npz")]) == 0
    a, b = SparseAutoencoder.load(tmp_path / "old.npz"), SparseAutoencoder.load(tmp_path / "new.npz")
    assert a.get_params() == b.get_params()
    assert a.n_hidden == 6 and a.max_iter == 4 and a.random_state == 3 and a.n_iter_ == 4
    for name in a.params_:
        assert_array_equal(a.params_[name], b.params_[name])
    assert_array_equal(a.history_.loss, b.history_.loss)


def test_train_help_shows_the_estimator_names_first(capsys):
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for new, old, metavar in (("--n-hidden", "--hidden", "K"), ("--max-iter", "--iterations", "N"),
                              ("--random-state", "--seed", "SEED")):
        assert f"  {new} {metavar}, {old} {metavar}\n" in text
    for flag in ("--n-hidden", "--max-iter", "--random-state", "--weight-decay", "--learning-rate",
                 "--batch-size", "--penalty", "--activation", "--output", "--solver", "--backend", "--rho",
                 "--beta"):
        assert re.search(rf"^  {flag} ", text, re.M), flag
    assert "(default: 25)" in text and "(default: 400)" in text


def test_the_cli_passes_every_setting_to_the_estimator(tmp_path, monkeypatch, capsys):
    seen = {}

    def fit(self, X, y=None):
        seen.update(self.get_params())
        raise KeyboardInterrupt  # stop here: the settings are all this test wants

    monkeypatch.setattr(SparseAutoencoder, "fit", fit)
    argv = ["train", "--dataset", "digits", "--n-hidden", "7", "--rho", "0.2", "--beta", "0.5",
            "--weight-decay", "0.01", "--penalty", "l1", "--activation", "relu", "--output", "identity",
            "--solver", "adam", "--max-iter", "9", "--batch-size", "32", "--learning-rate", "0.05",
            "--backend", "numpy", "--random-state", "11", "--out", str(tmp_path / "f.png")]
    assert main(argv) == 130
    assert seen == {"n_hidden": 7, "rho": 0.2, "beta": 0.5, "weight_decay": 0.01, "penalty": "l1",
                    "activation": "relu", "output": "identity", "solver": "adam", "max_iter": 9,
                    "batch_size": 32, "learning_rate": 0.05, "backend": "numpy", "random_state": 11,
                    "verbose": True}
    main([*argv, "--quiet"])
    assert seen["verbose"] is False
    assert capsys.readouterr().err.splitlines()[-1] == "tinysae train: interrupted (Ctrl-C)"


# ----------------------------------------------------------------------------- encode, reconstruct
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A directory with a tiny saved model ``m.npz``, the digits as ``digits.npy`` and every kind
    of bad file the error rows below use."""
    d = tmp_path_factory.mktemp("cli")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        assert main(TRAIN_MODEL) == 0
    finally:
        os.chdir(cwd)
    (d / "f.png").unlink()
    digits = load_digits()[0]
    arrays = {
        "digits": digits,
        "vector": np.ones(10),
        "4d": np.ones((2, 2, 2, 2)),
        "empty": np.ones((0, 4)),
        "empty64": np.ones((0, 64)),
        "nan": np.array([[0.5, np.nan], [0.1, 0.2]]),
        "nan64": np.where(np.arange(64) == 5, np.nan, digits[:3]),
        "inf64": np.where(np.arange(64) == 7, -np.inf, digits[:3]),
        "range": np.array([[0.5, 2.0], [0.1, 0.2]]),
        "strings": np.array([["a", "b"]]),
        "complex64": digits[:3] + 1j,
        "images3d": digits.reshape(-1, 8, 8),
        "nanimages": np.full((2, 9, 9), np.nan),
        "smallimages": np.ones((2, 4, 4)),
        "wide": np.random.default_rng(0).uniform(size=(5, 10)),
    }
    for name, array in arrays.items():
        np.save(d / f"{name}.npy", array)
    np.save(d / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (d / "truncated.npy").write_bytes((d / "digits.npy").read_bytes()[:1000])
    (d / "text.npy").write_text("1,2,3\n4,5,6\n")
    (d / "blank.npy").write_bytes(b"")
    with open(d / "archive.npy", "wb") as f:  # an .npz archive under a .npy name
        np.savez(f, X=digits)
    (d / "damaged.npz").write_bytes((d / "m.npz").read_bytes()[:3000])
    garbled = bytearray((d / "m.npz").read_bytes())
    garbled[100:400] = bytes(300)
    (d / "garbled.npz").write_bytes(bytes(garbled))
    np.savez(d / "other.npz", W1=np.ones((4, 64)))
    with zipfile.ZipFile(d / "zip.npz", "w") as z:
        z.writestr("readme.txt", "not numpy")
    (d / "file").write_text("a plain file, not a directory")
    (d / "adir.npy").mkdir()
    return d


@pytest.fixture
def in_workdir(workdir, monkeypatch) -> Path:
    monkeypatch.chdir(workdir)
    return workdir


@pytest.mark.parametrize(("command", "method"), [("encode", "transform"), ("reconstruct", "reconstruct")])
def test_encode_and_reconstruct_match_the_estimator(command, method, workdir, tmp_path, capsys):
    out = tmp_path / "result.npy"
    argv = [command, str(workdir / "m.npz"), str(workdir / "digits.npy"), "-o", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    model = SparseAutoencoder.load(workdir / "m.npz")
    expected = getattr(model, method)(load_digits()[0])
    assert_array_equal(np.load(out), expected)
    what = {"encode": "the hidden codes H", "reconstruct": "the reconstructions Xhat"}[command]
    assert captured.out == (f"tinysae {command}: wrote {out}: {what} of {workdir / 'digits.npy'}, shape "
                            f"{expected.shape}, float64 (model {workdir / 'm.npz'}, 64-4-64)\n")
    assert captured.err == ""
    assert expected.shape == ((1797, 4) if command == "encode" else (1797, 64))
    # the file is the path given, even without the .npy suffix, and an existing one is replaced
    bare = tmp_path / "result"
    bare.write_text("old")
    assert main([command, str(workdir / "m.npz"), str(workdir / "digits.npy"), "--out", str(bare)]) == 0
    assert_array_equal(np.load(bare), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result", "result.npy"]


def test_encode_accepts_any_real_dtype_and_values_outside_the_unit_interval(workdir, tmp_path, capsys):
    """A sigmoid output limits what is learned, not what can be encoded (as the estimator says)."""
    X = (load_digits()[0][:10] * 16).astype(np.int16)
    np.save(tmp_path / "ints.npy", X)
    argv = ["encode", str(workdir / "m.npz"), str(tmp_path / "ints.npy"), "-o", str(tmp_path / "c.npy")]
    assert main(argv) == 0
    assert_array_equal(np.load(tmp_path / "c.npy"), SparseAutoencoder.load(workdir / "m.npz").transform(X))


class _Frame:
    """A DataFrame-like: named columns and an ``__array__``."""

    def __init__(self, X: np.ndarray) -> None:
        self.X, self.columns = X, [f"pixel{j}" for j in range(X.shape[1])]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.X if dtype is None else self.X.astype(dtype)


@pytest.mark.filterwarnings("error")
def test_encode_with_a_model_fitted_on_named_columns_says_nothing_of_them(workdir, tmp_path, capsys):
    X = load_digits()[0][:200]
    model = SparseAutoencoder(n_hidden=3, max_iter=2, backend="numpy", verbose=False).fit(_Frame(X))
    assert list(model.feature_names_in_[:2]) == ["pixel0", "pixel1"]
    model.save(tmp_path / "named.npz")
    assert main(["encode", str(tmp_path / "named.npz"), str(workdir / "digits.npy"), "-o",
                 str(tmp_path / "c.npy")]) == 0
    assert capsys.readouterr().err == ""
    assert np.load(tmp_path / "c.npy").shape == (1797, 3)


# ----------------------------------------------------------------------------- user errors
T = "tinysae train"
E = "tinysae encode"
R = "tinysae reconstruct"
#: (command line after "tinysae", run in ``workdir``; the prefix of the one line on stderr; a part
#: of the message). Each exits 2 and writes nothing.
ERRORS = [
    # train: flag values
    ("train --n-hidden -3", T, "argument --n-hidden/--hidden: must be >= 1, got -3"),
    ("train --hidden 0", T, "argument --n-hidden/--hidden: must be >= 1, got 0"),
    ("train --max-iter 0", T, "argument --max-iter/--iterations: must be >= 1, got 0"),
    ("train --iterations 2.5", T, "argument --max-iter/--iterations: expected an integer, got '2.5'"),
    ("train --batch-size 0", T, "argument --batch-size: must be >= 1"),
    ("train --patches -1", T, "argument --patches: must be >= 1"),
    ("train --patch-size 0", T, "argument --patch-size: must be >= 1"),
    ("train --random-state -1", T, "argument --random-state/--seed: must be >= 0, got -1"),
    ("train --seed x", T, "argument --random-state/--seed: expected an integer, got 'x'"),
    ("train --learning-rate -1", T, "argument --learning-rate: must be > 0, got -1"),
    ("train --learning-rate 0", T, "argument --learning-rate: must be > 0"),
    ("train --learning-rate nan", T, "argument --learning-rate: must be finite"),
    ("train --rho 2", T, "--rho must lie in (0, 1)"),
    ("train --rho 0", T, "--rho must lie in (0, 1)"),
    ("train --rho nan", T, "argument --rho: must be finite"),
    ("train --beta -1", T, "argument --beta: must be >= 0, got -1"),
    ("train --weight-decay inf", T, "argument --weight-decay: must be finite"),
    ("train --weight-decay abc", T, "argument --weight-decay: expected a number"),
    ("train --solver sgd", T, "argument --solver: invalid choice: 'sgd'"),
    ("train --backend gpu", T, "argument --backend: invalid choice: 'gpu'"),
    ("train --activation tanh", T, "argument --activation: invalid choice"),
    ("train --penalty kl --activation relu", T, "penalty='kl' needs activation='sigmoid'"),
    ("train --patch-size 300", T, "larger than the images"),
    ("train --dataset digits --solver adam --learning-rate 1e300 --max-iter 2 --backend numpy", T,
     "training stopped: "),
    ("train --no-such-flag", T, "unrecognized arguments: --no-such-flag"),
    ("train --n-hidden", T, "argument --n-hidden/--hidden: expected one argument"),
    ("frobnicate", "tinysae", "argument COMMAND: invalid choice: 'frobnicate'"),
    # train: data files
    ("train --dataset nope.npy", T, "--dataset nope.npy: no such file"),
    ("train --dataset data.csv", T, "must be 'images', 'digits' or a .npy file"),
    ("train --dataset adir.npy", T, "--dataset adir.npy: is a directory"),
    ("train --dataset vector.npy", T, "expected a 2-D array (m samples, n features) or 3-D images"),
    ("train --dataset 4d.npy", T, "got shape (2, 2, 2, 2)"),
    ("train --dataset empty.npy", T, "got shape (0, 4)"),
    ("train --dataset nan.npy", T, "--dataset nan.npy: X must be finite; X[0, 1] = nan"),
    ("train --dataset range.npy", T, "X spans [0.1, 2]; rescale X or use output='identity'"),
    ("train --dataset strings.npy", T, "expected real numbers, got dtype <U1"),
    ("train --dataset complex64.npy", T, "expected real numbers, got dtype complex128"),
    ("train --dataset objects.npy", T, "not a readable .npy array"),
    ("train --dataset truncated.npy", T, "not a readable .npy array"),
    ("train --dataset text.npy", T, "--dataset text.npy: not a .npy file (it does not begin with numpy's "
     "magic string \\x93NUMPY)"),
    ("train --dataset blank.npy", T, "--dataset blank.npy: not a .npy file (it is empty)"),
    ("train --dataset archive.npy", T, "is an .npz archive, not a single .npy array"),
    ("train --dataset nanimages.npy", T, "the images hold NaN or inf"),
    ("train --dataset smallimages.npy", T, "larger than the images"),
    # train: output paths
    ("train --out file/f.png", T, "--out file/f.png: file is not a directory"),
    ("train --out adir.npy", T, "--out adir.npy: is a directory"),
    ("train --out filters.xyz", T, "--out filters.xyz: the image needs one of the extensions"),
    ("train --save nodir/m.npz", T, "--save nodir/m.npz: the directory nodir does not exist"),
    ("train --save file/m.npz", T, "--save file/m.npz: file is not a directory"),
    ("train --out x.png --save x.png", T, "--save x.png: is also the --out image"),
    ("train --dataset digits.npy --save digits.npy", T, "--save digits.npy: is the --dataset file"),
]
for cmd, prefix in (("encode", E), ("reconstruct", R)):
    ERRORS += [
        # the model file
        (f"{cmd} nope.npz digits.npy -o c.npy", prefix, "MODEL nope.npz: no such file"),
        (f"{cmd} adir.npy digits.npy -o c.npy", prefix, "MODEL adir.npy: is a directory, not a model file"),
        (f"{cmd} digits.npy digits.npy -o c.npy", prefix,
         "'digits.npy' is a single numpy array, not a tinysae model file (.npz)"),
        (f"{cmd} damaged.npz digits.npy -o c.npy", prefix,
         "'damaged.npz' is not a readable tinysae model file"),
        (f"{cmd} garbled.npz digits.npy -o c.npy", prefix, "'garbled.npz' is "),
        (f"{cmd} text.npy digits.npy -o c.npy", prefix,
         "MODEL text.npy: not a tinysae model file (it is not an .npz (zip) archive); MODEL must be"),
        (f"{cmd} blank.npy digits.npy -o c.npy", prefix,
         "MODEL blank.npy: not a tinysae model file (it is empty)"),
        (f"{cmd} other.npz digits.npy -o c.npy", prefix,
         "'other.npz' is not a tinysae model file (no format="),
        (f"{cmd} zip.npz digits.npy -o c.npy", prefix, "'zip.npz' is not a tinysae model file"),
        # the data file
        (f"{cmd} m.npz nope.npy -o c.npy", prefix, "DATA nope.npy: no such file"),
        (f"{cmd} m.npz adir.npy -o c.npy", prefix, "DATA adir.npy: is a directory"),
        (f"{cmd} m.npz wide.npy -o c.npy", prefix,
         "DATA wide.npy: X has 10 columns but the model has n_visible=64"),
        (f"{cmd} m.npz vector.npy -o c.npy", prefix, "DATA vector.npy: X must be 2-D"),
        (f"{cmd} m.npz images3d.npy -o c.npy", prefix, "DATA images3d.npy: X must be 2-D"),
        (f"{cmd} m.npz empty64.npy -o c.npy", prefix, "DATA empty64.npy: X has no rows"),
        (f"{cmd} m.npz nan64.npy -o c.npy", prefix, "DATA nan64.npy: X must be finite; X[0, 5] = nan"),
        (f"{cmd} m.npz inf64.npy -o c.npy", prefix, "DATA inf64.npy: X must be finite; X[0, 7] = -inf"),
        (f"{cmd} m.npz strings.npy -o c.npy", prefix, "DATA strings.npy: expected real numbers"),
        (f"{cmd} m.npz complex64.npy -o c.npy", prefix, "DATA complex64.npy: expected real numbers"),
        (f"{cmd} m.npz objects.npy -o c.npy", prefix, "DATA objects.npy: not a readable .npy array"),
        (f"{cmd} m.npz truncated.npy -o c.npy", prefix, "DATA truncated.npy: not a readable .npy array"),
        (f"{cmd} m.npz text.npy -o c.npy", prefix, "DATA text.npy: not a .npy file"),
        (f"{cmd} m.npz archive.npy -o c.npy", prefix, "DATA archive.npy: is an .npz archive"),
        # the output path
        (f"{cmd} m.npz digits.npy -o nodir/c.npy", prefix,
         "-o nodir/c.npy: the directory nodir does not exist"),
        (f"{cmd} m.npz digits.npy -o file/c.npy", prefix, "-o file/c.npy: file is not a directory"),
        (f"{cmd} m.npz digits.npy -o adir.npy", prefix, "-o adir.npy: is a directory"),
        (f"{cmd} m.npz digits.npy -o m.npz", prefix, "-o m.npz: is the MODEL file; it would be overwritten"),
        (f"{cmd} m.npz digits.npy -o digits.npy", prefix, "-o digits.npy: is the DATA file"),
        # the command line
        (f"{cmd} m.npz digits.npy", prefix, "the following arguments are required: -o/--out"),
        (f"{cmd} m.npz -o c.npy", prefix, "the following arguments are required: DATA.npy"),
    ]


def _listing(directory: Path) -> dict[str, float]:
    return {str(p.relative_to(directory)): p.stat().st_mtime for p in directory.rglob("*")}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(("line", "prefix", "message"), ERRORS, ids=[row[0] for row in ERRORS])
def test_user_errors_exit_2_with_one_line(line, prefix, message, in_workdir, capsys):
    before = _listing(in_workdir)
    assert main(line.split()) == 2
    err = one_error_line(capsys.readouterr().err, prefix)
    assert message in err
    assert _listing(in_workdir) == before  # nothing written, nothing touched


def test_no_command_prints_the_help_and_one_error_line(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert "train" in captured.out and "encode" in captured.out
    assert one_error_line(captured.err, "tinysae") == (
        "tinysae: error: no command given; choose one of train, encode, reconstruct, explain, experiments, "
        "superposition, lessons")


def test_argparse_errors_are_one_line_pointing_to_help(capsys):
    assert main(["train", "--solver", "sgd"]) == 2
    assert capsys.readouterr().err == ("tinysae train: error: argument --solver: invalid choice: 'sgd' "
                                       "(choose from 'lbfgs', 'adam') (see 'tinysae train --help')\n")


@pytest.mark.parametrize(
    "line",
    ["train --n-hidden -3",
     "train --dataset digits --solver adam --learning-rate 1e300 --max-iter 2 --backend numpy",
     "encode garbled.npz digits.npy -o c.npy", "reconstruct m.npz wide.npy -o c.npy", "frobnicate"],
)
def test_the_real_command_prints_one_line_and_no_warning(line, workdir):
    """In a process of its own, where numpy's overflow warnings would reach stderr."""
    run = subprocess.run([sys.executable, "-m", "tinysae.cli", *line.split()], cwd=workdir,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    one_error_line(run.stderr, f"tinysae {line.split()[0]}" if line != "frobnicate" else "tinysae")


def test_a_failed_write_after_training_exits_2_after_the_summary(tmp_path, monkeypatch, capsys):
    def full_disk(self, path):
        with open(path, "wb") as f:
            f.write(b"PK half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SparseAutoencoder, "save", full_disk)
    saved = tmp_path / "m.npz"
    saved.write_bytes(b"the previous model")
    assert main([*TINY, "--quiet", "--out", str(tmp_path / "f.png"), "--save", str(saved)]) == 2
    captured = capsys.readouterr()
    assert "final loss" in captured.out and f"filters           {tmp_path / 'f.png'}" in captured.out
    assert one_error_line(captured.err, T) == (
        f"tinysae train: error: --save {saved}: cannot write the file (No space left on device)")
    assert saved.read_bytes() == b"the previous model"  # left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "m.npz"]


def test_unavailable_backend_exits_2(monkeypatch, capsys):
    from tinysae.backends import BackendUnavailable

    def unavailable(name):
        raise BackendUnavailable(f"{name} needs a GPU")

    monkeypatch.setattr(cli, "get_backend", unavailable)
    assert main([*TINY[:-2], "--backend", "cuda"]) == 2
    assert capsys.readouterr().err == "tinysae train: error: --backend cuda: cuda needs a GPU\n"


def test_out_of_memory_is_one_line(monkeypatch, capsys):
    def too_much(args, objective):
        raise MemoryError("Unable to allocate 7.28 TiB for an array with shape (1000000000000,)")

    monkeypatch.setattr(cli, "load_dataset", too_much)
    assert main(["train", "--patches", "1000000000000"]) == 2
    assert one_error_line(capsys.readouterr().err, T).startswith(
        "tinysae train: error: not enough memory (Unable to allocate 7.28 TiB")


# ----------------------------------------------------------------------------- Ctrl-C, pipes
def test_ctrl_c_while_loading_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(args, objective):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "load_dataset", interrupted)
    assert main(["train", "--backend", "numpy"]) == 130
    assert capsys.readouterr().err == "tinysae train: interrupted (Ctrl-C)\n"


def test_ctrl_c_while_writing_leaves_no_partial_file(workdir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "codes.npy"
    out.write_bytes(b"the previous codes")
    real_save = np.save

    def interrupted_save(f, array, **kwargs):
        real_save(f, array[:1], **kwargs)  # some bytes are written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", interrupted_save)
    assert main(["encode", str(workdir / "m.npz"), str(workdir / "digits.npy"), "-o", str(out)]) == 130
    assert capsys.readouterr().err == "tinysae encode: interrupted (Ctrl-C)\n"
    assert out.read_bytes() == b"the previous codes"
    assert [p.name for p in tmp_path.iterdir()] == ["codes.npy"]


def test_ctrl_c_during_training_keeps_the_best_parameters_and_exits_0(tmp_path, monkeypatch, capsys):
    import tinysae.train

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tinysae.train, "minimize", interrupt)
    assert main([*TINY, "--quiet", "--out", str(tmp_path / "f.png")]) == 0
    assert "stop reason       interrupted after 0 iterations" in capsys.readouterr().out


def test_a_closed_stdout_pipe_exits_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "tinysae.cli", "explain"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # like `tinysae explain | head -0`
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == cli.EXIT_BROKEN_PIPE and err == b""


# ----------------------------------------------------------------------------- explain, --version
def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tinysae {tinysae.__version__}"


def test_explain_prints_the_derivation(capsys):
    from tinysae.derivation import sparsity_derivation

    assert main(["explain", "--random-state", "3"]) == 0
    assert capsys.readouterr().out == str(sparsity_derivation(seed=3)) + "\n"
    assert main(["explain", "--seed", "3", "--latex"]) == 0
    assert capsys.readouterr().out == sparsity_derivation(seed=3).latex() + "\n"
    assert main(["explain", "--latex"]) == 0
    assert capsys.readouterr().out == sparsity_derivation(seed=0).latex() + "\n"


# ----------------------------------------------------------------------------- tinysae lessons
def _lesson(path: Path) -> None:
    import nbformat

    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    notebook = nbformat.v4.new_notebook(metadata=kernel)
    discussion = nbformat.v4.new_markdown_cell("<details><summary>Solution</summary></details>")
    discussion.metadata["tags"] = ["solution-discussion"]
    notebook.cells = [
        nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("check(f)"),
        discussion,
    ]
    nbformat.write(notebook, path)


def test_lessons_student_writes_every_lesson(tmp_path, capsys):
    import nbformat

    source = tmp_path / "lessons"
    source.mkdir()
    _lesson(source / "01_one.ipynb")
    _lesson(source / "02_two.ipynb")
    assert main(["lessons", "--student", str(tmp_path / "out"), "--source", str(source)]) == 0
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["01_one.ipynb", "02_two.ipynb"]
    student = nbformat.read(tmp_path / "out" / "01_one.ipynb", as_version=4)
    nbformat.validate(student)
    assert [cell.cell_type for cell in student.cells] == ["code", "code"]
    assert "raise NotImplementedError()" in student.cells[0].source
    assert "return x" not in student.cells[0].source
    assert student.cells[0].metadata["nbgrader"]["grade_id"] == "01-f"
    assert student.cells[1].metadata["nbgrader"]["grade"] is True
    assert "wrote" in capsys.readouterr().out


def test_lessons_without_notebooks_is_a_one_line_error(tmp_path, capsys):
    assert main(["lessons", "--student", str(tmp_path / "out"), "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinysae lessons: error: no lesson notebooks in") and err.count("\n") == 1


def test_lessons_refuses_to_overwrite_the_lessons(tmp_path, capsys):
    _lesson(tmp_path / "01_one.ipynb")
    assert main(["lessons", "--student", str(tmp_path), "--source", str(tmp_path)]) == 2
    assert "would overwrite them" in capsys.readouterr().err
