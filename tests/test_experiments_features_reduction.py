"""The ``features`` and ``reduction`` experiments: one quick run of both through
:func:`tinysae.experiments.run`, the files it writes, the rows (methods x settings exactly), their
ranges and summary rows, the verdicts and the notes the table prints; and the pieces, on their
own: the label draws, the squared error per image, the grouped-bar figure.

The quick run's numbers are a smoke test, not results: nothing asserts how good a method is. What
is asserted holds whatever the iterations: ranges, PCA's error never growing with the code size
(nested projections), the raw-pixels baseline equal to the protocol recomputed here, and each note
agreeing with the rows it describes.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from strategies import seeds

pytest.importorskip("sklearn")

from sklearn.linear_model import LogisticRegression  # noqa: E402

from tinysae import experiments  # noqa: E402
from tinysae.experiments.data import Split, load_split  # noqa: E402
from tinysae.experiments.features import LABELS_PER_CLASS, N_DRAWS, features, label_draws  # noqa: E402
from tinysae.experiments.reduction import CODE_SIZES, squared_error_per_image  # noqa: E402
from tinysae.experiments.results import ROW_KEYS  # noqa: E402
from tinysae.threads import fit_threads  # noqa: E402
from tinysae.viz import plot_grouped_bars  # noqa: E402

FEATURE_METHODS = ["raw pixels", "PCA", "SparseAutoencoder", "StackedAutoencoder (fine-tuned)"]
FEATURE_SETTINGS = ["10 labels per class", "all labels"]
REDUCTION_METHODS = ["PCA", "SparseAutoencoder", "DeepAutoencoder"]
REDUCTION_SETTINGS = [f"code {c}" for c in CODE_SIZES]
FILES = ["features.json", "features.png", "reduction.json", "reduction_codes.png", "reduction_error.png"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> tuple[Path, str, dict]:
    """Both experiments, quick, run once: their --out, what they printed, name -> Result."""
    out = tmp_path_factory.mktemp("out")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = experiments.run(["features", "reduction"], quick=True, out=out)
    return out, printed.getvalue(), results


def _json(out: Path, name: str) -> dict:
    return json.loads((out / f"{name}.json").read_text())


def test_the_registry_lists_them_first():
    assert list(experiments.EXPERIMENTS)[:2] == ["features", "reduction"]
    assert list(experiments.EXPERIMENTS)[-1] == "anomaly"


def test_the_run_writes_the_jsons_and_the_pngs(quick):
    out, printed, _ = quick
    assert sorted(p.name for p in out.iterdir()) == FILES
    for name in FILES:
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name, figures, metric, higher, baselines in [
            ("features", ["features.png"], "accuracy", True, ["raw pixels", "PCA"]),
            ("reduction", ["reduction_codes.png", "reduction_error.png"], "squared error per image", False,
             ["PCA"])]:
        result = _json(out, name)
        assert result["name"] == name and result["data"] == "digits" and result["quick"] is True
        assert result["metric"] == metric and result["higher_is_better"] is higher
        assert result["baselines"] == baselines and result["figures"] == figures and result["seconds"] > 0
        assert f"## {name}: " in printed
        assert f"wrote {', '.join(str(out / f) for f in figures)}, {out / name}.json" in printed


@pytest.mark.parametrize(("name", "methods", "settings"), [
    ("features", FEATURE_METHODS, FEATURE_SETTINGS), ("reduction", REDUCTION_METHODS, REDUCTION_SETTINGS)])
def test_the_rows_are_methods_by_settings_with_a_mean_row(quick, name, methods, settings):
    rows = _json(quick[0], name)["rows"]
    others = [r for r in rows if r["setting"] != "mean"]
    if name == "features":  # one method at a time: its two budgets
        assert [(r["method"], r["setting"]) for r in others] == [(m, s) for m in methods for s in settings]
    else:  # one code size at a time: every method
        assert [(r["method"], r["setting"]) for r in others] == [(m, s) for s in settings for m in methods]
    assert [(r["method"], r["setting"]) for r in rows[len(others):]] == [(m, "mean") for m in methods]
    for r in rows:
        assert tuple(r) == ROW_KEYS and r["metric"] == _json(quick[0], name)["metric"]
        assert math.isfinite(r["seconds"]) and r["seconds"] >= 0.0
    for method in methods:
        mine = [r for r in others if r["method"] == method]
        mean = next(r for r in rows if r["method"] == method and r["setting"] == "mean")
        assert mean["value"] == pytest.approx(np.mean([r["value"] for r in mine]))
        assert mean["seconds"] == pytest.approx(sum(r["seconds"] for r in mine))


def test_accuracies_are_in_0_1_and_raw_pixels_are_the_protocol(quick):
    rows = _json(quick[0], "features")["rows"]
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    split = load_split("digits")
    assert len(split.y_train) == 1257 and len(split.y_test) == 540
    value = {(r["method"], r["setting"]): r["value"] for r in rows}

    def accuracy(rows: object) -> float:
        with fit_threads():  # the experiment's conditions
            model = LogisticRegression(max_iter=5000).fit(split.X_train[rows], split.y_train[rows])
        return model.score(split.X_test, split.y_test)

    assert value["raw pixels", "all labels"] == accuracy(slice(None))
    few = [accuracy(draw) for draw in label_draws(split.y_train, LABELS_PER_CLASS, N_DRAWS)]
    assert value["raw pixels", "10 labels per class"] == pytest.approx(np.mean(few), abs=1e-12)


def test_errors_are_in_range_and_pca_never_grows_with_the_code(quick):
    rows = _json(quick[0], "reduction")["rows"]
    for r in rows:
        assert 0.0 <= r["value"] and math.isfinite(r["value"])
        if r["method"] != "PCA":  # sigmoid outputs in [0, 1] of pixels in [0, 1]: at most 1 per pixel
            assert r["value"] <= 64.0
    pca = [r["value"] for r in rows if r["method"] == "PCA" and r["setting"] != "mean"]
    assert all(a >= b for a, b in zip(pca, pca[1:]))  # nested subspaces: each projection is closer


def test_the_table_prints_the_verdicts_and_notes_that_agree_with_the_rows(quick):
    out, printed, results = quick
    for method in ["SparseAutoencoder", "StackedAutoencoder (fine-tuned)", "DeepAutoencoder"]:
        assert f"\n{method}: mean " in printed
    assert "\nraw pixels: mean" not in printed and "\nPCA: mean" not in printed  # baselines get none
    for setting in FEATURE_SETTINGS + REDUCTION_SETTINGS + ["mean"]:
        assert f"\n{setting} " in printed
    reduction = results["reduction"]
    for method in ["SparseAutoencoder", "DeepAutoencoder"]:
        worse = [s for s in REDUCTION_SETTINGS if reduction.value(method, s) > reduction.value("PCA", s)]
        line = (f"{method} loses to PCA at: {', '.join(worse)}" if worse else
                f"{method} beats PCA at every code size")
        assert line in reduction.notes and f"\n- {line}\n" in printed
    anchor = next(n for n in reduction.notes if n.startswith("the literature"))
    ratio = reduction.value("PCA", "code 32") / reduction.value("DeepAutoencoder", "code 32")
    assert "3.00 for the deep autoencoder, 13.87 for PCA (PCA / deep = 4.6)" in anchor
    assert anchor.endswith(f"(PCA / deep = {ratio:.2f})")
    notes = results["features"].notes
    assert notes[0].startswith("digits: 1257 training and 540 held-out 8x8 images")
    assert any("98.3%" in n and "our data differ" in n for n in notes)
    assert any(n.startswith("PCA: the fewest components explaining 90% of the training variance: 21")
               for n in notes)
    assert sum(f"over the {N_DRAWS} draws: mean" in n for n in notes) == len(FEATURE_METHODS)


@settings(max_examples=30)
@given(per_class=st.integers(1, 6), n_draws=st.integers(1, 4),
       extra=st.lists(st.integers(0, 4), min_size=5, max_size=5), seed=seeds)
def test_each_draw_holds_per_class_distinct_rows_of_every_class(per_class, n_draws, extra, seed):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(5), [per_class + e for e in extra]))
    draws = label_draws(y, per_class, n_draws)
    assert len(draws) == n_draws
    for draw in draws:
        assert np.all(np.diff(draw) > 0)  # sorted, no row twice
        np.testing.assert_array_equal(np.bincount(y[draw], minlength=5), np.full(5, per_class))
    again = label_draws(y, per_class, n_draws)
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))  # seeded: the same draws again


def test_a_class_with_too_few_images_is_refused_before_any_fit(tmp_path):
    y = np.repeat(np.arange(3), [12, 12, 4])
    with pytest.raises(ValueError, match=r"10 training images of each class, but the classes \[2\] have"):
        label_draws(y, 10, 2)
    split = Split("digits", np.zeros((28, 64)), y, np.zeros((3, 64)), np.arange(3), (8, 8))
    with pytest.raises(ValueError, match="features needs 10 training images of each class"):
        features(split, True, tmp_path)
    assert list(tmp_path.iterdir()) == []


@given(m=st.integers(1, 6), n=st.integers(1, 9), seed=seeds)
def test_the_squared_error_per_image_is_n_times_the_mean_squared_error(m, n, seed):
    rng = np.random.default_rng(seed)
    X, Xhat = rng.uniform(size=(m, n)), rng.uniform(size=(m, n))
    assert squared_error_per_image(X, Xhat) == pytest.approx(n * np.mean((Xhat - X) ** 2), rel=1e-12)
    assert squared_error_per_image(X, X) == 0.0
    one_image = squared_error_per_image(X[:1], Xhat[:1])
    assert one_image == pytest.approx(np.sum((Xhat[0] - X[0]) ** 2), rel=1e-12)


def test_grouped_bars_draw_one_bar_per_method_and_group(tmp_path):
    values = {"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25, 4.0]}
    fig = plot_grouped_bars(values, ["x", "y", "z"], errors={"a": [0.1, 0.1, 0.1]}, log=True,
                            ylabel="error", path=tmp_path / "bars.png")
    assert isinstance(fig, Figure) and (tmp_path / "bars.png").exists()
    ax = fig.axes[0]
    heights = sorted(bar.get_height() for bar in ax.patches)
    assert heights == sorted(values["a"] + values["b"]) and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]
    with pytest.raises(ValueError, match=r"the values of 'b' must be \(3,\), one per group, got \(2,\)"):
        plot_grouped_bars({"a": [1, 2, 3], "b": [1, 2]}, ["x", "y", "z"])
    with pytest.raises(ValueError, match="at least one method"):
        plot_grouped_bars({}, ["x"])

