"""tinysae.experiments: the quick anomaly run through both entry points (``python -m
tinysae.experiments`` and ``tinysae experiments``), the files and numbers it writes, the same
numbers twice, the table's verdicts, ``--data mnist`` on small IDX files written here, and the
user errors. The quick run's numbers are a smoke test, not results: nothing here asserts a value
of an AUC beyond its range, or a time."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinysae import cli, experiments
from tinysae.experiments.results import ROW_KEYS, Result, format_table, row, summary_rows

METHODS = ["SparseAutoencoder", "VariationalAutoencoder", "PCA", "IsolationForest"]
SETTINGS = [f"held-out {c}" for c in range(10)] + ["mean"]


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """The quick anomaly experiment, run once by each entry point: name -> (its --out, its stdout)."""
    module_out = tmp_path_factory.mktemp("module")
    done = subprocess.run([sys.executable, "-m", "tinysae.experiments", "anomaly", "--quick", "--out",
                           str(module_out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    cli_out = tmp_path_factory.mktemp("cli")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["experiments", "anomaly", "--quick", "--out", str(cli_out)]) == 0
    return {"module": (module_out, done.stdout), "cli": (cli_out, printed.getvalue())}


def _json(out: Path) -> dict:
    return json.loads((out / "anomaly.json").read_text())


@pytest.mark.parametrize("entry", ["module", "cli"])
def test_the_quick_run_writes_the_json_and_the_png(quick_runs, entry):
    out, printed = quick_runs[entry]
    assert sorted(p.name for p in out.iterdir()) == ["anomaly.json", "anomaly_roc.png"]
    assert (out / "anomaly_roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = _json(out)
    assert result["name"] == "anomaly" and result["data"] == "digits" and result["quick"] is True
    assert result["metric"] == "ROC AUC" and result["higher_is_better"] is True
    assert result["baselines"] == ["PCA", "IsolationForest"] and result["figures"] == ["anomaly_roc.png"]
    assert result["seconds"] > 0
    assert printed.startswith("## anomaly: ")
    assert f"wrote {out / 'anomaly_roc.png'}, {out / 'anomaly.json'}" in printed
    for setting in SETTINGS:
        assert f"\n{setting} " in printed
    assert "\nSparseAutoencoder: mean " in printed and "\nVariationalAutoencoder: mean " in printed


def test_every_row_has_an_auc_in_0_1_and_seconds(quick_runs):
    rows = _json(quick_runs["module"][0])["rows"]
    assert [(r["method"], r["setting"]) for r in rows] == (
        [(m, s) for s in SETTINGS[:-1] for m in METHODS] + [(m, "mean") for m in METHODS])
    for r in rows:
        assert tuple(r) == ROW_KEYS and r["metric"] == "ROC AUC"
        assert 0.0 <= r["value"] <= 1.0
        assert math.isfinite(r["seconds"]) and r["seconds"] >= 0.0
    for method in METHODS:
        classes = [r for r in rows if r["method"] == method and r["setting"] != "mean"]
        mean = next(r for r in rows if r["method"] == method and r["setting"] == "mean")
        assert mean["value"] == pytest.approx(np.mean([r["value"] for r in classes]))
        assert mean["seconds"] == pytest.approx(sum(r["seconds"] for r in classes))


def test_the_two_runs_give_the_same_aucs(quick_runs):
    values = [[r["value"] for r in _json(out)["rows"]] for out, _ in quick_runs.values()]
    assert values[0] == values[1]


def test_the_table_says_where_a_method_loses_to_a_baseline():
    rows = [row("AE", "a", "AUC", 0.9, 1.0), row("PCA", "a", "AUC", 0.8, 0.5),
            row("AE", "b", "AUC", 0.6, 1.0), row("PCA", "b", "AUC", 0.95, 0.5)]
    result = Result("toy", "a toy", "AUC", True, rows + summary_rows(rows), baselines=("PCA",))
    table = format_table(result)
    assert ("\nAE: mean 0.75, loses to a baseline on the mean: worse than PCA (0.875; better on 1 of 2 "
            "settings)") in table
    assert [line.split()[-1] for line in table.splitlines()[3:6]] == ["AE", "PCA", "PCA"]  # the best
    assert "\nseconds " in table and table.splitlines()[6].split()[1:] == ["2.0", "1.0"]
    lower = Result("toy", "a toy", "error", False, rows + summary_rows(rows), baselines=("PCA",))
    assert "AE: mean 0.75, beats the baselines on the mean: better than PCA" in format_table(lower)


def _idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as an IDX file: ``00 00 08 ndim``, the sizes as big-endian uint32, the bytes."""
    path.write_bytes(bytes([0, 0, 8, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
                     + array.astype(np.uint8).tobytes())


def test_data_mnist_reads_the_idx_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for prefix, per_class in (("train", 4), ("t10k", 2)):
        labels = np.repeat(np.arange(10), per_class)
        images = rng.integers(0, 256, size=(labels.size, 28, 28))
        _idx(mnist / f"{prefix}-images-idx3-ubyte", images)
        _idx(mnist / f"{prefix}-labels-idx1-ubyte", labels)
    out = tmp_path / "out"
    assert experiments.main(["anomaly", "--quick", "--data", "mnist", "--mnist-dir", str(mnist),
                             "--out", str(out)]) == 0
    result = _json(out)
    assert result["data"] == "mnist" and (out / "anomaly_roc.png").exists()
    assert result["notes"][0].startswith("mnist: 40 training and 20 held-out 28x28 images")
    assert all(0.0 <= r["value"] <= 1.0 for r in result["rows"]) and len(result["rows"]) == 44
    assert "## anomaly: " in capsys.readouterr().out


ERRORS = [
    (["nope"], "unknown experiment 'nope'; choose from " + ", ".join(experiments.EXPERIMENTS)),
    (["--data", "mnist"], "--data mnist needs --mnist-dir DIR"),
    (["--data", "mnist", "--mnist-dir", "missing"], "load_mnist looked in missing (no such directory)"),
    (["--data", "fashion"], "argument --data: invalid choice: 'fashion'"),
]


@pytest.mark.parametrize(("argv", "message"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
@pytest.mark.parametrize("entry", ["module", "cli"])
def test_user_errors_exit_2_with_one_line(argv, message, entry, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if entry == "cli":
        status, prefix = cli.main(["experiments", *argv]), "tinysae experiments: error: "
    else:
        status, prefix = experiments.main(argv), "python -m tinysae.experiments: error: "
    err = capsys.readouterr().err
    assert status == 2 and message in err
    if entry == "cli" or "invalid choice" not in message:  # argparse's own: after the usage
        assert err.startswith(prefix) and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing written, not even ./figures


def test_without_scikit_learn_it_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn raises ImportError
    assert experiments.main(["--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == ("python -m tinysae.experiments: error: the experiments need "
                                       "scikit-learn: pip install 'tinysae[experiments]'\n")
    assert cli.main(["experiments", "--out", str(tmp_path / "out")]) == 2
    assert "pip install 'tinysae[experiments]'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
