"""The denoising experiment: the quick run's files, rows, summary and verdicts; the noisy input's
PSNR recomputed here from the same seeded noise; the same numbers from a second run; and PCA's
one-component-at-a-time projections against scikit-learn's ``PCA(c)``. The quick run's numbers are
a smoke test, not results: nothing here asserts a PSNR's value beyond what is recomputed, or a time."""

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
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from strategies import seeds

import tinysae
from tinysae import experiments
from tinysae.experiments.data import load_split
from tinysae.experiments.denoising import SIGMAS, TEST_NOISE_SEED, PCADenoiser, add_noise, denoising
from tinysae.experiments.results import ROW_KEYS

METHODS = ["noisy input", "PCA", "plain autoencoder", "DenoisingAutoencoder"]
BASELINES = ["noisy input", "PCA", "plain autoencoder"]
SETTINGS = ["sigma 0.1", "sigma 0.2", "sigma 0.3", "mean"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[Path, str, experiments.Result]:
    """The quick denoising experiment, run once: (its --out, what it printed, its Result)."""
    out = tmp_path_factory.mktemp("denoising")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = experiments.run(["denoising"], quick=True, out=out)
    return out, printed.getvalue(), results["denoising"]


def _rows(out: Path) -> list[dict]:
    return json.loads((out / "denoising.json").read_text())["rows"]


def test_the_quick_run_writes_the_json_and_the_png(quick_run):
    out, printed, _ = quick_run
    assert sorted(p.name for p in out.iterdir()) == ["denoising.json", "denoising_grid.png"]
    assert (out / "denoising_grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((out / "denoising.json").read_text())
    assert result["name"] == "denoising" and result["data"] == "digits" and result["quick"] is True
    assert result["metric"] == "PSNR, dB" and result["higher_is_better"] is True
    assert result["baselines"] == BASELINES and result["figures"] == ["denoising_grid.png"]
    assert result["seconds"] > 0
    assert printed.startswith("## denoising: ")
    assert f"wrote {out / 'denoising_grid.png'}, {out / 'denoising.json'}" in printed


def test_the_rows_are_every_method_at_every_setting_then_the_means(quick_run):
    rows = _rows(quick_run[0])
    assert [(r["method"], r["setting"]) for r in rows] == (
        [(m, s) for s in SETTINGS[:-1] for m in METHODS] + [(m, "mean") for m in METHODS])
    for r in rows:
        assert tuple(r) == ROW_KEYS and r["metric"] == "PSNR, dB"
        assert math.isfinite(r["value"])
        assert math.isfinite(r["seconds"]) and r["seconds"] >= 0.0
    for method in METHODS:
        levels = [r for r in rows if r["method"] == method and r["setting"] != "mean"]
        mean = next(r for r in rows if r["method"] == method and r["setting"] == "mean")
        assert mean["value"] == pytest.approx(np.mean([r["value"] for r in levels]))
        assert mean["seconds"] == pytest.approx(sum(r["seconds"] for r in levels))


def test_the_noisy_input_psnr_is_the_one_recomputed_here(quick_run):
    """The split, the noise and the PSNR, each written out again: 10 log10(1 / MSE)."""
    X, y = tinysae.load_digits()
    _, X_test, _, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    eps = np.random.default_rng(TEST_NOISE_SEED).standard_normal(X_test.shape)
    got = {r["setting"]: r["value"] for r in _rows(quick_run[0]) if r["method"] == "noisy input"}
    for sigma in SIGMAS:
        noisy = np.minimum(np.maximum(X_test + sigma * eps, 0.0), 1.0)
        expected = 10 * math.log10(1.0 / np.mean((noisy - X_test) ** 2))
        assert got[f"sigma {sigma}"] == pytest.approx(expected, rel=1e-12)


def test_the_table_and_the_notes_say_where_the_dae_loses(quick_run):
    _, printed, result = quick_run
    rows = _rows(quick_run[0])
    value = {(r["method"], r["setting"]): r["value"] for r in rows}
    for setting in SETTINGS:
        assert f"\n{setting} " in printed
    verdict = next(line for line in printed.splitlines() if line.startswith("DenoisingAutoencoder: mean "))
    for baseline in BASELINES:
        mean = value[(baseline, "mean")]
        word = "better than" if value[("DenoisingAutoencoder", "mean")] > mean else "worse than"
        assert f"{word} {baseline} ({mean:.4g};" in verdict
    verdicts = [line for line in printed.splitlines() if line.endswith(" settings)")]
    assert verdicts == [verdict]  # the baselines get none
    for setting in SETTINGS[:-1]:
        dae = value[("DenoisingAutoencoder", setting)]
        beaten_by = [b for b in BASELINES if value[(b, setting)] > dae]
        notes = [n for n in result.notes if n.startswith(f"at {setting} the DenoisingAutoencoder")]
        if beaten_by:
            assert notes == [f"at {setting} the DenoisingAutoencoder ({dae:.2f}) loses to "
                             + ", ".join(f"{b} ({value[(b, setting)]:.2f})" for b in beaten_by)]
        else:
            assert notes == []
    assert any("Vincent et al. 2008" in note and "Xie et al. 2012" in note for note in result.notes)


def test_a_second_run_gives_the_same_psnrs(quick_run, tmp_path):
    again = denoising(load_split("digits"), True, tmp_path)
    assert [r["value"] for r in again.rows] == [r["value"] for r in _rows(quick_run[0])]


@settings(max_examples=25, deadline=None)
@given(m=st.integers(2, 12), n=st.integers(1, 8), sigma=st.floats(0.05, 0.5), seed=seeds)
def test_pca_projections_match_scikit_learns_pca_of_each_size(m, n, sigma, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(m, n))
    noisy = rng.uniform(0.0, 1.0, size=(m, n))
    denoiser = PCADenoiser(sigma, seed=0).fit(X)
    scores = denoiser.psnr_by_components(noisy, X)
    assert len(scores) == min(m, n)
    for c in range(1, min(m, n) + 1):
        pca = PCA(c, svd_solver="full").fit(X)
        rebuilt = np.clip(pca.inverse_transform(pca.transform(noisy)), 0.0, 1.0)
        expected = 10 * np.log10(1.0 / np.mean((rebuilt - X) ** 2))
        assert scores[c - 1] == pytest.approx(expected, rel=1e-9)
    assert denoiser.n_components_ == 1 + np.argmax(denoiser.psnr_by_components(add_noise(X, sigma, 0), X))
    c = denoiser.n_components_
    pca = PCA(c, svd_solver="full").fit(X)
    np.testing.assert_allclose(denoiser.denoise(noisy), np.clip(pca.inverse_transform(pca.transform(noisy)),
                                                                0.0, 1.0), atol=1e-12)
