"""The engine's two ops whose VJP is not their derivative: ``jumprelu`` and ``step``.

Their derivative in ``z`` is checked against central differences (away from the jump); in the
threshold the true derivative is 0 almost everywhere and the VJP is the straight-through
pseudo-derivative (Rajamanoharan et al. 2024). What makes that pseudo-derivative right, for the
rectangle kernel, is checked as a property: summed over ``z``, the pseudo-derivative of the
step is exactly the central difference of the count ``#{z > theta}`` with step ``bandwidth``,
and the JumpReLU's is that of ``sum z [z > theta]`` up to the variation of ``z`` inside the
window. ``explain`` must say which derivative is true and which is replaced.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinysae.autograd import Tensor, explain, gradcheck, jumprelu, step

BANDWIDTHS = st.sampled_from([0.05, 0.1, 0.3, 1.0])


@st.composite
def jump_inputs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float]:
    """``z (m, F)``, ``theta (F,)`` and a bandwidth, with no ``z`` within 1e-3 of ``theta`` or of
    the window's edges ``theta +- bandwidth / 2`` (where a count is discontinuous)."""
    m, F = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    bandwidth = draw(BANDWIDTHS)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    theta = rng.uniform(0.1, 1.0, size=F)
    z = rng.uniform(-0.5, 2.0, size=(m, F))
    for edge in (theta, theta - bandwidth / 2, theta + bandwidth / 2):
        close = np.abs(z - edge) < 1e-3
        z = np.where(close, z + 3e-3, z)
    return z, theta, bandwidth


@settings(max_examples=30, deadline=None)
@given(jump_inputs())
def test_forward_values(inputs):
    z, theta, bandwidth = inputs
    np.testing.assert_array_equal(jumprelu(z, theta, bandwidth).data, np.where(z > theta, z, 0.0))
    np.testing.assert_array_equal(step(z, theta, bandwidth).data, (z > theta).astype(float))


@settings(max_examples=30, deadline=None)
@given(jump_inputs(), st.integers(0, 2**32 - 1))
def test_the_derivative_in_z_is_the_true_one(inputs, seed):
    z, theta, bandwidth = inputs
    weights = np.random.default_rng(seed).normal(size=z.shape)
    report = gradcheck(lambda t: (jumprelu(t, Tensor(theta), bandwidth) * weights).sum(), [z], eps=1e-6)
    assert report.relative_error < 1e-7, str(report)
    Z = Tensor(z)
    (step(Z, Tensor(theta), bandwidth) * weights).sum().backward()
    np.testing.assert_array_equal(Z.grad, np.zeros_like(z))  # the step is flat in z, off the jump


def _grad_theta(op, z: np.ndarray, theta: np.ndarray, bandwidth: float) -> np.ndarray:
    t = Tensor(theta)
    op(Tensor(z), t, bandwidth).sum().backward()
    return t.grad


@settings(max_examples=40, deadline=None)
@given(jump_inputs())
def test_the_step_pseudo_derivative_is_the_count_central_difference(inputs):
    z, theta, bandwidth = inputs
    def count(th: np.ndarray) -> np.ndarray:
        return (z > th).sum(axis=0).astype(float)

    central = (count(theta + bandwidth / 2) - count(theta - bandwidth / 2)) / bandwidth
    np.testing.assert_allclose(_grad_theta(step, z, theta, bandwidth), central, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(jump_inputs())
def test_the_jumprelu_pseudo_derivative_approximates_the_central_difference(inputs):
    z, theta, bandwidth = inputs

    def total(th: np.ndarray) -> np.ndarray:
        return np.where(z > th, z, 0.0).sum(axis=0)

    central = (total(theta + bandwidth / 2) - total(theta - bandwidth / 2)) / bandwidth
    in_window = (np.abs(z - theta) < bandwidth / 2).sum(axis=0)
    pseudo = _grad_theta(jumprelu, z, theta, bandwidth)
    # each z in the window contributes -z / eps to the difference and -theta / eps to the pseudo-derivative
    assert np.all(np.abs(pseudo - central) <= in_window * 0.5 + 1e-12)
    assert np.all(pseudo <= 0)


def test_the_true_derivative_in_theta_is_zero_but_the_vjp_is_not():
    z, theta = np.array([[0.52, 0.9]]), np.array([0.5, 0.5])
    eps = 1e-6  # finite differences see only the flat part
    numeric = (np.where(z > theta + eps, z, 0).sum() - np.where(z > theta - eps, z, 0).sum()) / (2 * eps)
    assert numeric == 0.0
    np.testing.assert_allclose(_grad_theta(jumprelu, z, theta, 0.1), [-5.0, 0.0])  # -(0.5 / 0.1), 0


def test_explain_names_the_pseudo_derivative_and_the_true_zero():
    Z2 = Tensor(np.array([[0.55, 1.2], [0.02, 0.3]]), name="Z2")
    theta = Tensor(np.array([0.5, 0.25]), name="theta")
    J = (jumprelu(Z2, theta, 0.1).named("H").sum() + step(Z2, theta, 0.1).sum().named("L0")).named("J")
    text = str(explain(J, theta))
    assert "-(theta / 0.1) * rect((Z2 - theta) / 0.1)" in text
    assert "-(1 / 0.1) * rect((Z2 - theta) / 0.1)" in text
    assert text.count("straight-through pseudo-derivative; the true derivative is 0 almost everywhere") >= 2
    to_z = str(explain(J, Z2))
    assert "[Z2 > theta]" in to_z and "the step sends nothing to Z2" in to_z
    assert "underbrace" in explain(J, theta).latex()


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf"), True, "0.1"])
def test_a_bad_bandwidth_is_refused(bad):
    with pytest.raises(ValueError, match="bandwidth must be a positive finite number"):
        jumprelu(np.ones(2), np.zeros(2), bad)
    with pytest.raises(ValueError, match="bandwidth must be a positive finite number"):
        step(np.ones(2), np.zeros(2), bad)
