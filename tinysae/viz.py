"""Pictures of a sparse autoencoder: its filters, its training curves, its hidden activity.

* :func:`tile_filters` / :func:`show_filters`: UFLDL's ``display_network``. Each row of
  ``W1 (k, n)`` is reshaped to an ``h x w`` patch, divided by its largest absolute value (so
  every filter spans [-1, 1] and mid-gray is 0), and the patches are tiled on a near-square
  grid with 1-pixel black gaps, shown in gray.
* :func:`plot_training_curves`: the loss and its terms against the iteration (log scale), and
  the mean of ``rho_hat``.
* :func:`plot_rho_hat`: a histogram of ``rho_hat (k,)``, the mean activation of each hidden
  unit, against the target ``rho``.
* :func:`compare_filters`: several filter banks side by side; :func:`show_image_rows`: rows
  of images (clean, noisy, denoised); :func:`plot_codes`: 2-D codes coloured by class;
  :func:`plot_latent_space`: a 2-D latent space, the codes beside the decoder's images over the
  plane (:func:`latent_grid`); :func:`plot_roc_curves`: detectors' ROC curves on one plot.
* :func:`plot_latent_density`: a histogram of log10 of each latent's firing density, the dead
  latents counted in the legend (the plot SAELens and Anthropic show).
* :func:`plot_grouped_bars`: one bar per method in each group of settings (accuracy per label
  budget, error per code size), with optional error bars and a log scale.

Every function returns a :class:`matplotlib.figure.Figure` (shown inline when it is a
notebook cell's value) and saves it when given ``path``. The figures are made without pyplot's
global state, so scripts and tests never accumulate open windows, and each is drawn on its own
Agg canvas (:class:`matplotlib.backends.backend_agg.FigureCanvasAgg`), which is all that
``savefig`` needs, display or no display. So this module never chooses matplotlib's backend:
importing it or drawing with it leaves ``matplotlib.get_backend()`` (and ``MPLBACKEND``) as
the user set them. Inside a notebook kernel, the first figure loads the kernel's own (inline)
backend, which registers how a returned Figure is displayed, without switching to another.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from tinysae.metrics import DENSE_THRESHOLD, as_filters, latent_density
from tinysae.validation import check_int

_notebook_display_ready = False


def _prepare_notebook_display() -> None:
    """In a notebook kernel, load the kernel's backend (inline) through pyplot once: importing
    it registers how IPython displays a Figure. The backend stays the one already selected;
    outside a kernel nothing is done."""
    global _notebook_display_ready
    if _notebook_display_ready or "ipykernel" not in sys.modules:
        return
    _notebook_display_ready = True
    try:
        importlib.import_module("matplotlib.pyplot").switch_backend(matplotlib.get_backend())
    except ImportError:  # a backend that cannot load here: figures still save, just not inline
        pass


def _figure(**kwargs: Any) -> Figure:
    """A new Figure drawn on its own Agg canvas (no pyplot, no global backend)."""
    _prepare_notebook_display()
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def grid_shape(k: int) -> tuple[int, int]:
    """``(rows, cols)`` of a near-square grid holding ``k`` tiles: ``cols = ceil(sqrt(k))``."""
    check_int("k", k)
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    return rows, cols


def tile_filters(W1: object, patch_shape: tuple[int, int] | None = None, gap: int = 1) -> np.ndarray:
    """The image of :func:`show_filters` as an array.

    Returns an array of shape ``(rows (h + gap) + gap, cols (w + gap) + gap)`` with
    ``(rows, cols) = grid_shape(k)``: filter ``j`` sits at grid cell ``(j // cols, j % cols)``,
    divided by its max absolute value (values in [-1, 1]); gaps and unused cells are -1 (black).
    Patches are square unless ``patch_shape=(h, w)`` is given.
    """
    filters = as_filters(W1, patch_shape)
    k, h, w = filters.shape
    check_int("gap", gap, minimum=0)
    rows, cols = grid_shape(k)
    image = -np.ones((rows * (h + gap) + gap, cols * (w + gap) + gap))
    scale = np.abs(filters).max(axis=(1, 2))
    for j in range(k):
        r, c = divmod(j, cols)
        top, left = gap + r * (h + gap), gap + c * (w + gap)
        image[top : top + h, left : left + w] = filters[j] / scale[j] if scale[j] > 0 else 0.0
    return image


def _save(fig: Figure, path: str | os.PathLike | None) -> None:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=fig.dpi)


def show_filters(
    W1: object,
    patch_shape: tuple[int, int] | None = None,
    *,
    title: str | None = None,
    path: str | os.PathLike | None = None,
    pixels_per_unit: int = 12,
) -> Figure:
    """UFLDL's ``display_network``: the filters ``W1 (k, n)`` tiled in gray (see :func:`tile_filters`).

    Returns the Figure; writes it to ``path`` (e.g. ``figures/filters.png``) when given.
    """
    image = tile_filters(W1, patch_shape)
    dpi = 100
    height, width = image.shape
    image_in = (width * pixels_per_unit / dpi, height * pixels_per_unit / dpi)  # (w, h) in inches
    title_in = 0.35 if title else 0.0
    fig = _figure(figsize=(image_in[0], image_in[1] + title_in), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, image_in[1] / (image_in[1] + title_in)))
    ax.imshow(image, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
    return fig


def plot_training_curves(history: object, *, rho: float | None = None,
                         path: str | os.PathLike | None = None) -> Figure:
    """Loss and terms against the iteration (left, log scale) and mean ``rho_hat`` (right).

    ``history`` is a :class:`tinysae.train.History` (or anything with its fields);
    ``rho``, when given, is drawn as the target of the mean activation.
    """
    for name in ("iteration", "loss", "terms_iteration", "terms", "rho_hat_mean"):
        if not hasattr(history, name):
            raise TypeError(f"history must be a tinysae.train.History, got {type(history).__name__} "
                            f"without .{name}")
    if len(history.loss) == 0:
        raise ValueError("history is empty: nothing to plot")
    fig = _figure(figsize=(10, 4), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(history.iteration, history.loss, label="loss J", color="black", lw=2)
    for name, color in (("reconstruction", "tab:blue"), ("sparsity", "tab:orange"),
                        ("weight_decay", "tab:green")):
        values = np.asarray(history.terms.get(name, []), dtype=float)
        if values.size and np.all(values > 0):
            left.plot(history.terms_iteration, values, label=name.replace("_", " "), color=color)
    left.set_yscale("log")
    left.set_xlabel("iteration")
    left.set_ylabel("value")
    left.set_title("objective and its terms")
    left.legend()
    right.plot(history.terms_iteration, history.rho_hat_mean, color="tab:purple", label="mean rho_hat")
    if rho is not None:
        right.axhline(rho, color="gray", ls="--", label=f"target rho = {rho:g}")
    right.set_yscale("log")
    right.set_xlabel("iteration")
    right.set_ylabel("mean activation")
    right.set_title("mean hidden activation")
    right.legend()
    _save(fig, path)
    return fig


def plot_rho_hat(rho_hat: object, *, rho: float | None = None, bins: int = 20,
                 path: str | os.PathLike | None = None) -> Figure:
    """Histogram of ``rho_hat (k,)``, each hidden unit's mean activation, with the target ``rho``."""
    rho_hat = np.asarray(rho_hat, dtype=np.float64)
    if rho_hat.ndim != 1 or rho_hat.size == 0 or not np.all(np.isfinite(rho_hat)):
        raise ValueError(f"rho_hat must be a non-empty finite 1-D array (k,), got shape {rho_hat.shape}")
    fig = _figure(figsize=(5, 3.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.hist(rho_hat, bins=bins, color="tab:blue", edgecolor="white")
    if rho is not None:
        ax.axvline(rho, color="black", ls="--", label=f"target rho = {rho:g}")
        ax.legend()
    ax.set_xlabel("rho_hat_j (mean activation of hidden unit j)")
    ax.set_ylabel("hidden units")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{rho_hat.size} hidden units, mean rho_hat = {rho_hat.mean():.4g}")
    _save(fig, path)
    return fig


def compare_filters(panels: list[tuple[str, object]], patch_shape: tuple[int, int] | None = None, *,
                    title: str | None = None, path: str | os.PathLike | None = None) -> Figure:
    """Several filter banks side by side: ``panels`` is a list of ``(label, W (k, n))``, each
    tiled as :func:`tile_filters` does (e.g. Vincent's picture: filters at 0 % and 30 % masking)."""
    if not panels:
        raise ValueError("compare_filters needs at least one (label, W) panel")
    fig = _figure(figsize=(3.2 * len(panels), 3.6), dpi=100, layout="constrained")
    for index, (label, W) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), index + 1)
        ax.imshow(tile_filters(W, patch_shape), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
    return fig


def show_image_rows(rows: list[tuple[str, object]], image_shape: tuple[int, int], *,
                    title: str | None = None, path: str | os.PathLike | None = None) -> Figure:
    """Rows of images: ``rows`` is a list of ``(label, X (m, h w))`` with the same ``m``, each
    row of ``X`` shown as an ``h x w`` image in gray on [0, 1] (clean, noisy, denoised, ...)."""
    if not rows:
        raise ValueError("show_image_rows needs at least one (label, X) row")
    images = [np.asarray(X, dtype=np.float64) for _, X in rows]
    m = images[0].shape[0]
    if any(X.ndim != 2 or X.shape[0] != m or X.shape[1] != image_shape[0] * image_shape[1] for X in images):
        raise ValueError(f"every row must be (m, {image_shape[0] * image_shape[1]}) with the same m = {m}")
    fig = _figure(figsize=(0.75 * m + 1.6, 0.8 * len(rows) + 0.4), dpi=100, layout="constrained")
    axes = fig.subplots(len(rows), m, squeeze=False)
    for r, ((label, _), X) in enumerate(zip(rows, images)):
        for c in range(m):
            ax = axes[r, c]
            ax.imshow(X[c].reshape(image_shape), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
    return fig


def plot_codes(panels: list[tuple[str, object]], labels: object, *, title: str | None = None,
               path: str | os.PathLike | None = None) -> Figure:
    """2-D codes side by side, coloured by class: ``panels`` is a list of ``(label, C (m, 2))``
    and ``labels (m,)`` the classes (e.g. PCA's and a deep autoencoder's codes of the digits)."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    fig = _figure(figsize=(4.2 * len(panels) + 0.8, 4.0), dpi=100, layout="constrained")
    colours = matplotlib.colormaps["tab10"]
    for index, (label, codes) in enumerate(panels):
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 2 or codes.shape != (labels.shape[0], 2):
            raise ValueError(f"the codes {label!r} must be (m, 2) with m = {labels.shape[0]}, "
                             f"got {codes.shape}")
        ax = fig.add_subplot(1, len(panels), index + 1)
        for i, cls in enumerate(classes):
            chosen = labels == cls
            ax.scatter(codes[chosen, 0], codes[chosen, 1], s=6, color=colours(i % 10), label=str(cls))
        ax.set_title(label, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside right center", markerscale=2,
               fontsize=8, title="class")
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
    return fig


def latent_grid(decode: Callable[[np.ndarray], object], limits: tuple[float, float] = (-3.0, 3.0),
                size: int = 15, image_shape: tuple[int, int] = (8, 8), gap: int = 1) -> np.ndarray:
    """The images a decoder makes over a 2-D latent plane, tiled: ``decode(Z)`` at the
    ``size x size`` points ``z = (z1, z2)`` of a regular grid on ``limits x limits`` (both ends
    included), ``z1`` growing to the right and ``z2`` upwards, each ``(h, w)`` image in its cell
    and ``gap`` pixels of mid-gray (0.5) between cells. Returns the array, values in [0, 1] for a
    decoder of probabilities."""
    size, gap = check_int("size", size, minimum=2), check_int("gap", gap, minimum=0)
    h, w = image_shape
    values = np.linspace(limits[0], limits[1], size)
    z1, z2 = np.meshgrid(values, values[::-1])  # row 0 is the top of the plane: the largest z2
    images = np.asarray(decode(np.column_stack([z1.ravel(), z2.ravel()])), dtype=np.float64)
    if images.shape != (size * size, h * w):
        raise ValueError(f"decode must map Z ({size * size}, 2) to images ({size * size}, {h * w}), "
                         f"got {images.shape}")
    tiled = np.full((size * (h + gap) - gap, size * (w + gap) - gap), 0.5)
    for index, image in enumerate(images):
        r, c = divmod(index, size)
        tiled[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image.reshape(h, w)
    return tiled


def plot_latent_space(codes: object, labels: object, decode: Callable[[np.ndarray], object], *,
                      limits: tuple[float, float] = (-3.0, 3.0), size: int = 15,
                      image_shape: tuple[int, int] = (8, 8), title: str | None = None,
                      path: str | os.PathLike | None = None) -> Figure:
    """A 2-D latent space, two views side by side on the same axes: the codes ``(m, 2)`` (e.g.
    a VAE's ``mu``) coloured by class ``labels (m,)``, and the decoder's images over the plane
    (:func:`latent_grid`, gray on [0, 1]), so each cluster sits under the images it decodes to."""
    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels)
    if codes.ndim != 2 or codes.shape != (labels.shape[0], 2):
        raise ValueError(f"codes must be (m, 2) with m = {labels.shape[0]} labels, got {codes.shape}")
    half = (limits[1] - limits[0]) / (check_int("size", size, minimum=2) - 1) / 2  # cells centred on the grid
    lo, hi = limits[0] - half, limits[1] + half
    fig = _figure(figsize=(10.4, 4.8), dpi=100, layout="constrained")
    scatter, grid = fig.subplots(1, 2)
    colours = matplotlib.colormaps["tab10"]
    for i, cls in enumerate(np.unique(labels)):
        chosen = labels == cls
        scatter.scatter(codes[chosen, 0], codes[chosen, 1], s=6, color=colours(i % 10), label=str(cls))
    scatter.set_xlim(lo, hi)
    scatter.set_ylim(lo, hi)
    scatter.set_aspect("equal")
    scatter.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), markerscale=2, fontsize=8, title="class")
    scatter.set_title("codes, coloured by class", fontsize=10)
    grid.imshow(latent_grid(decode, limits, size, image_shape), cmap="gray", vmin=0, vmax=1,
                extent=(lo, hi, lo, hi), interpolation="nearest")
    grid.set_title(f"decoded over a {size} x {size} grid of the plane", fontsize=10)
    for ax in (scatter, grid):
        ax.set_xlabel("z1")
        ax.set_ylabel("z2")
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
    return fig


def plot_roc_curves(curves: list[tuple[str, object, object]], *, title: str | None = None,
                    path: str | os.PathLike | None = None) -> Figure:
    """ROC curves on one plot: ``curves`` is a list of ``(label, fpr, tpr)``, the false- and
    true-positive rates of each detector as its threshold moves (``sklearn.metrics.roc_curve``),
    drawn with the diagonal of a detector that guesses."""
    if not curves:
        raise ValueError("plot_roc_curves needs at least one (label, fpr, tpr) curve")
    fig = _figure(figsize=(5.5, 5.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for label, fpr, tpr in curves:
        ax.plot(np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64), label=label, lw=1.5)
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="chance (AUC 0.5)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false-positive rate (normal images flagged)")
    ax.set_ylabel("true-positive rate (anomalies found)")
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    _save(fig, path)
    return fig


def plot_latent_density(H: object, *, title: str | None = None,
                        path: str | os.PathLike | None = None) -> Figure:
    """Histogram of ``log10`` of the firing density (:func:`tinysae.metrics.latent_density`) of
    each latent of codes ``H (m, F)`` that fires at least once; the legend counts the dead ones
    (never firing in these ``m`` samples), which a log scale cannot show. Dashed lines mark
    ``1/m``, the lowest density ``m`` samples can measure, and the dense cut-off 0.1."""
    density = latent_density(H)
    m, F = np.shape(H)
    alive = density[density > 0]
    n_dead = F - alive.size
    fig = _figure(figsize=(6, 3.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    label = f"{alive.size} latents that fire; {n_dead} dead ({n_dead / F:.1%}) in {m} samples"
    if alive.size:
        low = math.log10(1 / m)
        bins = np.linspace(min(low, -1.0), 0.0, 41)  # density 1 (log 0) falls in the last, closed bin
        ax.hist(np.log10(alive), bins=bins, color="tab:blue", edgecolor="white", label=label)
        ax.axvline(low, color="gray", ls=":", label=f"1 / m = 1 / {m}: the lowest density measurable")
    else:
        ax.plot([], [], " ", label=label)  # nothing fires: the legend still says so
    ax.axvline(math.log10(DENSE_THRESHOLD), color="black", ls="--", label=f"dense: > {DENSE_THRESHOLD:g}")
    ax.set_xlabel("log10(density): fraction of samples on which a latent fires")
    ax.set_ylabel("latents")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or f"latent density of {F} latents over {m} samples", fontsize=10)
    _save(fig, path)
    return fig


def plot_grouped_bars(values: dict[str, object], groups: list[str], *,
                      errors: dict[str, object] | None = None, ylabel: str = "", log: bool = False,
                      ylim: tuple[float, float] | None = None, title: str | None = None,
                      path: str | os.PathLike | None = None) -> Figure:
    """Grouped bars: ``values`` maps each method to its ``(G,)`` values, one per group of
    ``groups`` (e.g. accuracy per label budget, error per code size); each group holds one bar
    per method, in the order of ``values``, labelled with its value. ``errors`` (method ->
    ``(G,)``, optional) draws each bar's error bar (e.g. a standard deviation over draws);
    ``log`` puts the values on a log scale, ``ylim`` fixes the value axis."""
    if not values:
        raise ValueError("plot_grouped_bars needs at least one method's values")
    G = len(groups)
    for method, row in values.items():
        if np.shape(row) != (G,):
            raise ValueError(f"the values of {method!r} must be ({G},), one per group, got {np.shape(row)}")
    width = 0.8 / len(values)
    fig = _figure(figsize=(max(6.5, 0.45 * G * len(values) + 2.0), 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for index, (method, row) in enumerate(values.items()):
        x = np.arange(G) + (index - (len(values) - 1) / 2) * width
        spread = None if errors is None or method not in errors else np.asarray(errors[method], float)
        bars = ax.bar(x, np.asarray(row, dtype=np.float64), width, yerr=spread, capsize=3, label=method)
        ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
    ax.set_xticks(np.arange(G), groups)
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 0.1, 0.2, 0.5, 1, 2, 5, ...
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # not 5 x 10^-1
        ax.yaxis.set_minor_formatter(NullFormatter())
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    _save(fig, path)
    return fig
