"""Tests of tinysae.datasets: the bundled files, patch normalisation, digits, synthetic sources."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import seeds

from tinysae.datasets import (
    load_digits,
    load_natural_images,
    make_sparse_sources,
    natural_image_names,
    sample_patches,
)

IMAGES = load_natural_images()


def small_images(seed: int, n_images: int = 2, H: int = 12, W: int = 15) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_images, H, W))


def band_power_ratio(image: np.ndarray) -> float:
    """Mean spectral power at 0.01-0.03 cycles/pixel over that at 0.06-0.12 cycles/pixel."""
    power = np.abs(np.fft.fft2(image)) ** 2
    f = np.hypot(np.fft.fftfreq(image.shape[0])[:, None], np.fft.fftfreq(image.shape[1])[None, :])
    low = power[(f >= 0.01) & (f < 0.03)].mean()
    mid = power[(f >= 0.06) & (f < 0.12)].mean()
    return float(low / mid)


# ---------------------------------------------------------------- natural images


def test_natural_images_shape_dtype_and_statistics() -> None:
    assert IMAGES.shape == (10, 256, 256)
    assert IMAGES.dtype == np.float64
    assert np.all(np.isfinite(IMAGES))
    np.testing.assert_allclose(IMAGES.mean(axis=(1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(IMAGES.var(axis=(1, 2)), 0.1, rtol=1e-5)
    assert len(natural_image_names()) == 10


def test_load_natural_images_returns_a_fresh_array() -> None:
    images = load_natural_images()
    images[0, 0, 0] = 1e6
    assert load_natural_images()[0, 0, 0] == IMAGES[0, 0, 0]


def test_natural_images_are_whitened() -> None:
    # A natural photograph's power falls like 1/f^2: low/mid band ratio ~ (0.09 / 0.02)^2 ~ 20,
    # measured 5 to 95 on the raw photographs. Whitening by R(f) = f exp(-(f/f0)^4) flattens it.
    ratios = np.array([band_power_ratio(image) for image in IMAGES])
    assert 0.25 < np.exp(np.mean(np.log(ratios))) < 4.0
    assert np.all(ratios < 8.0)

    # The same measure on synthetic 1/f noise (an unwhitened "natural" spectrum) is far above 4.
    rng = np.random.default_rng(0)
    f = np.hypot(np.fft.fftfreq(256)[:, None], np.fft.fftfreq(256)[None, :])
    amplitude = np.divide(1.0, f, out=np.zeros_like(f), where=f > 0)
    pink = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(256, 256))) * amplitude))
    assert band_power_ratio(pink) > 10.0


# ---------------------------------------------------------------- sample_patches


def pre_rescale(X: np.ndarray) -> np.ndarray:
    """Undo step 4 of sample_patches: [0.1, 0.9] back to [-1, 1]."""
    return (X - 0.1) / 0.4 - 1.0


@settings(max_examples=50)
@given(seed=seeds, patch_size=st.integers(1, 12), n=st.integers(1, 300))
def test_patches_shape_range_and_determinism(seed: int, patch_size: int, n: int) -> None:
    images = small_images(seed % 1000)
    X = sample_patches(images, patch_size=patch_size, n=n, seed=seed)
    assert X.shape == (n, patch_size**2)
    assert X.dtype == np.float64
    assert X.min() >= 0.1 - 1e-12 and X.max() <= 0.9 + 1e-12
    np.testing.assert_array_equal(X, sample_patches(images, patch_size=patch_size, n=n, seed=seed))
    np.testing.assert_array_equal(
        X, sample_patches(images, patch_size=patch_size, n=n, seed=np.random.default_rng(seed))
    )


@settings(max_examples=50)
@given(seed=seeds, patch_size=st.integers(2, 8), n=st.integers(2, 200))
def test_patches_follow_ufldl_normalisation(seed: int, patch_size: int, n: int) -> None:
    images = small_images(seed % 1000)
    X = sample_patches(images, patch_size=patch_size, n=n, seed=seed)
    Y = pre_rescale(X)  # in [-1, 1], = clip(centred patch, +-3 sigma) / (3 sigma)
    assert Y.min() >= -1.0 - 1e-9 and Y.max() <= 1.0 + 1e-9

    # Recompute from the same draws: the patches are centred, then clipped at 3 global sigmas.
    rng = np.random.default_rng(seed)
    which = rng.integers(0, images.shape[0], size=n)
    top = rng.integers(0, images.shape[1] - patch_size + 1, size=n)
    left = rng.integers(0, images.shape[2] - patch_size + 1, size=n)
    raw = np.stack(
        [images[i, t : t + patch_size, s : s + patch_size].ravel() for i, t, s in zip(which, top, left)]
    )
    centred = raw - raw.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(centred.mean(axis=1), 0.0, atol=1e-12)
    three_sigma = 3.0 * centred.std()
    np.testing.assert_allclose(Y, np.clip(centred / three_sigma, -1.0, 1.0), atol=1e-12)

    # Unclipped patches keep a zero mean after normalisation (clipping may shift the others).
    unclipped = np.all(np.abs(centred) < three_sigma, axis=1)
    np.testing.assert_allclose(Y[unclipped].mean(axis=1), 0.0, atol=1e-9)


def test_patches_of_the_bundled_images() -> None:
    X = sample_patches(IMAGES, patch_size=8, n=10000, seed=0)
    assert X.shape == (10000, 64)
    assert 0.1 <= X.min() and X.max() <= 0.9
    # Centred and divided by 3 sigma, so the values sit around 0.5 and rarely clip.
    assert abs(X.mean() - 0.5) < 0.01
    clipped = np.mean((X == 0.1) | (X == 0.9))
    assert 0.0 < clipped < 0.05
    assert not np.array_equal(X, sample_patches(IMAGES, patch_size=8, n=10000, seed=1))


def test_flat_images_give_mid_grey_patches() -> None:
    X = sample_patches(np.full((1, 5, 5), 3.0), patch_size=2, n=4, seed=0)
    np.testing.assert_array_equal(X, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"patch_size": 13}, ValueError, "patch_size=13 is larger"),
        ({"patch_size": 0}, ValueError, "patch_size must be >= 1"),
        ({"patch_size": 2.5}, TypeError, "patch_size must be an integer"),
        ({"n": 0}, ValueError, "n must be >= 1"),
        ({"n": True}, TypeError, "n must be an integer"),
        ({"seed": "zero"}, TypeError, "seed must be an int"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
    ],
)
def test_sample_patches_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        sample_patches(small_images(0), **kwargs)


@pytest.mark.parametrize(
    ("images", "error", "match"),
    [
        (np.zeros((12, 15)), ValueError, r"3-D \(n_images, H, W\), got shape \(12, 15\)"),
        (np.zeros((1, 2, 12, 15)), ValueError, "3-D"),
        (np.zeros((0, 12, 15)), ValueError, "must not be empty"),
        (np.full((1, 12, 15), np.nan), ValueError, "finite"),
        (np.full((1, 12, 15), "a"), TypeError, "real numbers"),
    ],
)
def test_sample_patches_rejects_bad_images(images: np.ndarray, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        sample_patches(images, patch_size=2, n=3)


# ---------------------------------------------------------------- digits


def test_digits() -> None:
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.unique(X * 16), np.arange(17))
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    assert np.all(np.bincount(y) > 170)  # roughly balanced: 174 to 183 per class


# ---------------------------------------------------------------- synthetic sparse sources


@settings(max_examples=50)
@given(
    seed=seeds,
    n_samples=st.integers(1, 60),
    n_visible=st.integers(1, 20),
    n_sources=st.integers(1, 12),
    data=st.data(),
)
def test_sparse_sources_ground_truth(
    seed: int, n_samples: int, n_visible: int, n_sources: int, data: st.DataObject
) -> None:
    n_active = data.draw(st.integers(1, n_sources))
    out = make_sparse_sources(n_samples, n_visible, n_sources, n_active, seed=seed)
    assert out.X.shape == (n_samples, n_visible)
    assert out.D.shape == (n_sources, n_visible)
    assert out.S.shape == (n_samples, n_sources)
    assert out.X.min() >= 0.0 and out.X.max() <= 1.0
    np.testing.assert_allclose(np.linalg.norm(out.D, axis=1), 1.0)
    np.testing.assert_array_equal(np.count_nonzero(out.S, axis=1), n_active)
    active = out.S[out.S != 0]
    assert active.min() >= 0.5 and active.max() <= 1.5
    np.testing.assert_allclose(out.X, out.offset + out.scale * out.S @ out.D, atol=1e-12)
    again = make_sparse_sources(n_samples, n_visible, n_sources, n_active, seed=seed)
    np.testing.assert_array_equal(out.X, again.X)


def test_sparse_sources_reach_the_range_ends() -> None:
    X = make_sparse_sources(200, 16, 8, 2, seed=3).X
    assert np.isclose(X.min(), 0.0) or np.isclose(X.max(), 1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_active": 5, "n_sources": 4}, ValueError, "n_active=5 must be <= n_sources=4"),
        ({"n_samples": 0}, ValueError, "n_samples must be >= 1"),
        ({"n_visible": 3.0}, TypeError, "n_visible must be an integer"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ],
)
def test_sparse_sources_reject_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_sparse_sources(**kwargs)
