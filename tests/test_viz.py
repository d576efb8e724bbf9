"""Figures: filter tiles (UFLDL's display_network), training curves, rho_hat histogram."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.image
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from tinysae import viz
from tinysae.objective import Objective, init_params
from tinysae.train import History, lbfgs


@settings(max_examples=40)
@given(st.integers(1, 40))
def test_grid_is_near_square_and_holds_every_filter(k):
    rows, cols = viz.grid_shape(k)
    assert rows * cols >= k and (rows - 1) * cols < k  # no empty row
    assert cols - 1 <= rows <= cols


@settings(max_examples=30)
@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_tiles_hold_each_filter_normalised_by_its_max_abs(k, h, w, seed):
    W1 = np.random.default_rng(seed).normal(size=(k, h * w))
    image = viz.tile_filters(W1, (h, w))
    rows, cols = viz.grid_shape(k)
    assert image.shape == (rows * (h + 1) + 1, cols * (w + 1) + 1)
    assert image.min() >= -1 and image.max() <= 1
    covered = np.zeros(image.shape, dtype=bool)
    for j in range(k):
        r, c = divmod(j, cols)
        top, left = 1 + r * (h + 1), 1 + c * (w + 1)
        tile = image[top : top + h, left : left + w]
        np.testing.assert_allclose(tile, W1[j].reshape(h, w) / np.abs(W1[j]).max(), rtol=1e-14)
        assert np.isclose(np.abs(tile).max(), 1.0)
        covered[top : top + h, left : left + w] = True
    assert np.all(image[~covered] == -1)  # 1-pixel black gaps and empty cells


def test_tile_filters_square_default_and_errors():
    assert viz.tile_filters(np.ones((25, 64))).shape == (5 * 9 + 1, 5 * 9 + 1)
    assert np.all(viz.tile_filters(np.zeros((1, 4)))[1:3, 1:3] == 0)  # a zero filter stays mid-gray
    with pytest.raises(ValueError, match="not a square"):
        viz.tile_filters(np.ones((3, 10)))
    with pytest.raises(ValueError, match="patch_shape"):
        viz.tile_filters(np.ones((3, 10)), (3, 3))
    with pytest.raises(ValueError, match="2-D"):
        viz.tile_filters(np.ones(16))
    with pytest.raises(ValueError, match="gap"):
        viz.tile_filters(np.ones((2, 4)), gap=-1)


def test_show_filters_returns_a_figure_and_writes_a_png(tmp_path):
    W1 = init_params(64, 25, seed=0).W1
    path = tmp_path / "sub" / "filters.png"
    fig = viz.show_filters(W1, title="initial weights", path=path)
    assert isinstance(fig, Figure) and path.exists()
    png = matplotlib.image.imread(path)
    height, width = png.shape[:2]
    assert width == 46 * 12 and height == 46 * 12 + 35  # 46 tile pixels at 12 screen pixels each
    assert fig.axes[0].images[0].get_cmap().name == "gray"
    gray = png[..., :3]
    assert np.allclose(gray[..., 0], gray[..., 1]) and np.allclose(gray[..., 1], gray[..., 2])


@pytest.fixture(scope="module")
def history() -> History:
    X = np.random.default_rng(0).uniform(0.1, 0.9, size=(50, 9))
    return lbfgs(init_params(9, 4, seed=0), X, Objective(rho=0.1), max_iter=20, backend="numpy",
                 verbose=False).history


def test_training_curves_render(history, tmp_path):
    path = tmp_path / "curves.png"
    fig = viz.plot_training_curves(history, rho=0.1, path=path)
    left, right = fig.axes
    assert left.get_yscale() == "log"
    labels = [line.get_label() for line in left.get_lines()]
    assert labels[:2] == ["loss J", "reconstruction"] and "sparsity" in labels
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), history.loss)
    np.testing.assert_array_equal(left.get_lines()[1].get_xdata(), history.terms_iteration)
    np.testing.assert_allclose(left.get_lines()[1].get_ydata(), history.terms["reconstruction"])
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), history.rho_hat_mean)
    assert path.exists() and matplotlib.image.imread(path).shape[:2] == (400, 1000)


def test_training_curves_reject_bad_history():
    with pytest.raises(ValueError, match="empty"):
        viz.plot_training_curves(History())
    with pytest.raises(TypeError, match="History"):
        viz.plot_training_curves({"loss": [1.0]})


@settings(max_examples=5)
@given(st.lists(st.floats(1e-4, 0.999), min_size=1, max_size=50))
def test_rho_hat_histogram_counts_every_unit(rho_hat):
    fig = viz.plot_rho_hat(rho_hat, rho=0.01)
    ax = fig.axes[0]
    assert sum(patch.get_height() for patch in ax.patches) == len(rho_hat)
    assert f"{len(rho_hat)} hidden units" in ax.get_title()
    assert math.isclose(ax.get_lines()[0].get_xdata()[0], 0.01)


def test_rho_hat_histogram_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="rho_hat"):
        viz.plot_rho_hat(np.ones((2, 2)))
    with pytest.raises(ValueError, match="rho_hat"):
        viz.plot_rho_hat([np.nan])
    viz.plot_rho_hat([0.01, 0.02], path=tmp_path / "h.png")
    assert (tmp_path / "h.png").exists()


def test_figures_display_inline_in_a_notebook():
    """In a Jupyter kernel, a returned Figure is shown as a PNG (and viz never forces Agg there)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np\nfrom tinysae import viz\nimport matplotlib\n"
                                  "print(matplotlib.get_backend())"),
        nbformat.v4.new_code_cell("viz.show_filters(np.random.default_rng(0).normal(size=(4, 16)))"),
    ]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert nb.cells[0].outputs[0]["text"].strip().lower() != "agg"
    assert "image/png" in nb.cells[1].outputs[0]["data"]
