"""The ``tinysae`` command: train (tiny configs), bad data files, explain, --version."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinysae
from tinysae.cli import main
from tinysae.estimator import SparseAutoencoder

TINY = ["train", "--patches", "300", "--iterations", "5", "--backend", "numpy"]


def test_train_writes_the_png_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "figs" / "filters.png"
    model = tmp_path / "model.npz"
    assert main([*TINY, "--out", str(out), "--save", str(model)]) == 0
    text = capsys.readouterr().out
    assert out.exists() and out.stat().st_size > 0
    assert text.startswith("tinysae train: 300 samples, 64-25-64, lbfgs, backend numpy\n")
    assert re.search(r"^iter +5  loss [0-9.]+  elapsed [0-9.]+ s$", text, re.M)
    for field in ("stop reason       max_iter after 5 iterations", "final loss", "reconstruction    ",
                  "weight decay      ", "sparsity          ", "mean rho_hat", "edge score", "time",
                  f"filters           {out}"):
        assert field in text
    loaded = SparseAutoencoder.load(model)
    assert loaded.W1_.shape == (25, 64) and loaded.n_iter_ == 5 and loaded.rho == 0.01


def test_quiet_train_prints_only_the_summary(tmp_path, capsys):
    assert main([*TINY, "--quiet", "--out", str(tmp_path / "f.png")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("summary\n") and not re.search("^iter ", text, re.M)


def test_train_with_adam_on_digits(tmp_path, capsys):
    argv = ["train", "--dataset", "digits", "--solver", "adam", "--iterations", "2", "--batch-size", "128",
            "--learning-rate", "0.01", "--hidden", "16", "--backend", "numpy",
            "--out", str(tmp_path / "d.png")]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "1797 samples, 64-16-64, adam" in text and "after 2 iterations" in text
    assert (tmp_path / "d.png").exists()


def test_train_on_user_files(tmp_path, capsys):
    samples = tmp_path / "samples.npy"
    np.save(samples, np.random.default_rng(0).uniform(0, 1, size=(40, 10)))  # 10 is not a square
    assert main(["train", "--dataset", str(samples), "--hidden", "3", "--iterations", "3", "--backend",
                 "numpy", "--out", str(tmp_path / "s.png")]) == 0
    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).normal(size=(2, 20, 20)))
    assert main(["train", "--dataset", str(images), "--patches", "100", "--patch-size", "4", "--hidden", "4",
                 "--iterations", "3", "--backend", "numpy", "--out", str(tmp_path / "i.png")]) == 0
    text = capsys.readouterr().out
    assert "40 samples, 10-3-10" in text and "100 samples, 16-4-16" in text


BAD_FILES = {
    "vector": (np.ones(10), "expected a 2-D array"),
    "4-D": (np.ones((2, 2, 2, 2)), "got shape (2, 2, 2, 2)"),
    "empty": (np.ones((0, 4)), "got shape (0, 4)"),
    "nan": (np.array([[0.5, np.nan], [0.1, 0.2]]), "finite"),
    "out of range": (np.array([[0.5, 2.0], [0.1, 0.2]]), "rescale X or use output='identity'"),
    "strings": (np.array([["a", "b"]]), "real numbers"),
    "objects": (np.array([{"a": 1}], dtype=object), "not a readable .npy"),
    "nan images": (np.full((2, 9, 9), np.nan), "NaN"),
    "small images": (np.ones((2, 4, 4)), "larger than the images"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_npy_files_exit_2_with_one_line(kind, tmp_path, capsys):
    array, message = BAD_FILES[kind]
    path = tmp_path / "data.npy"
    np.save(path, array, allow_pickle=True)
    argv = ["train", "--dataset", str(path), "--backend", "numpy", "--out", str(tmp_path / "f.png")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinysae train: error: --dataset ") and err.count("\n") == 1
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "nope.npy"], "no such file"),
        (["--dataset", "data.csv"], "must be 'images', 'digits' or a .npy file"),
        (["--rho", "2"], "rho must lie in (0, 1)"),
        (["--iterations", "0"], "--iterations must be >= 1"),
        (["--learning-rate", "-1"], "--learning-rate must be > 0"),
        (["--penalty", "kl", "--activation", "relu"], "needs activation='sigmoid'"),
        (["--patch-size", "300"], "larger than the images"),
    ],
)
def test_bad_options_exit_2(argv, message, tmp_path, capsys):
    assert main(["train", *argv, "--backend", "numpy", "--out", str(tmp_path / "f.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_argparse_errors_and_no_command_exit_2(capsys):
    assert main(["train", "--solver", "sgd"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main([]) == 2
    assert "train" in capsys.readouterr().out


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tinysae {tinysae.__version__}"


def test_explain_prints_the_derivation(capsys):
    from tinysae.derivation import sparsity_derivation

    assert main(["explain", "--seed", "3"]) == 0
    assert capsys.readouterr().out == str(sparsity_derivation(seed=3)) + "\n"
    assert main(["explain", "--latex"]) == 0
    assert capsys.readouterr().out == sparsity_derivation(seed=0).latex() + "\n"


def test_unwritable_outputs_exit_2_after_the_summary(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main([*TINY, "--quiet", "--out", str(blocker / "f.png")]) == 2
    captured = capsys.readouterr()
    assert "final loss" in captured.out and "--out " in captured.err and captured.err.count("\n") == 1
    assert main([*TINY, "--quiet", "--out", str(tmp_path / "f.png"), "--save", str(blocker / "m.npz")]) == 2
    assert "--save " in capsys.readouterr().err


def test_unavailable_backend_exits_2(monkeypatch, capsys):
    import tinysae.cli as cli
    from tinysae.backends import BackendUnavailable

    def unavailable(name):
        raise BackendUnavailable(f"{name} needs a GPU")

    monkeypatch.setattr(cli, "get_backend", unavailable)
    assert main([*TINY[:-2], "--backend", "cuda"]) == 2
    assert capsys.readouterr().err == "tinysae train: error: --backend cuda: cuda needs a GPU\n"
