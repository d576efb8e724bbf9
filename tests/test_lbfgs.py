"""tinysae.lbfgs against scipy's L-BFGS-B on convex problems, the strong Wolfe conditions at every
accepted step, and the stop reasons.

Tolerances. Both solvers run to ``gtol = 1e-10`` with ``ftol = 0``. For a strongly convex f
with Hessian eigenvalues in ``[mu, L]``, ``f(x) - f* <= |g|^2 / (2 mu)`` and
``|x - x*| <= |g| / mu``; with ``|g|_2 <= sqrt(p) * gtol`` and ``mu >= 1e-3`` below, both
solvers are within ``p * 1e-20 / 2e-3 << 1e-8`` of f* and within ``sqrt(p) * 1e-7`` of x*, so
the two minima agree to 1e-8 relative and the argmins to ``2 sqrt(p) 1e-10 / mu`` (with slack
for the rounding floor of the gradient, ``1e-6`` absolute is used). A run may instead stop at
the rounding floor with a failed line search; the bounds then follow from the measured ``|g|``,
which the tests check is small.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

from tinysae.lbfgs import REASONS, minimize

TIGHT = {"gtol": 1e-10, "ftol": 0.0, "max_iter": 20000, "maxfun": 40000}


def _quadratic_system(p, log_cond, seed):
    """(A, b) of :func:`spd_quadratic` with the same arguments."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(p, p)))
    A = (Q * np.logspace(0, log_cond, p)) @ Q.T
    return (A + A.T) / 2, rng.normal(size=p)


def spd_quadratic(p: int, log_cond: float, seed: int):
    """f = x'Ax/2 - b'x with eigenvalues from 1 to 10**log_cond (so mu = 1); a start x0; mu."""
    A, b = _quadratic_system(p, log_cond, seed)
    x0 = np.random.default_rng(seed + 1).normal(size=p)
    return (lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b)), x0, 1.0


def logistic(p: int, m: int, seed: int):
    """Mean logistic loss of labels y in {-1, 1} plus (lam/2)|w|^2 with lam = 1e-2 (so mu = lam)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, p))
    y = np.where(rng.random(m) < 0.5, -1.0, 1.0)
    lam = 1e-2

    def fun(w):
        z = y * (A @ w)
        loss = np.mean(np.logaddexp(0.0, -z)) + 0.5 * lam * w @ w
        grad = A.T @ (-y * scipy.special.expit(-z)) / m + lam * w
        return loss, grad

    return fun, rng.normal(size=p), lam


def softplus_quartic(p: int, seed: int):
    """sum softplus(C x - d) + sum (x - c)^4 / 4 + 1e-3 |x|^2 / 2: strictly convex, mu >= 1e-3."""
    rng = np.random.default_rng(seed)
    C = rng.normal(size=(2 * p, p))
    d, c = rng.normal(size=2 * p), rng.normal(size=p)

    def fun(x):
        u = C @ x - d
        v = x - c
        loss = np.sum(np.logaddexp(0.0, u)) + np.sum(v**4) / 4 + 0.5e-3 * x @ x
        return loss, C.T @ scipy.special.expit(u) + v**3 + 1e-3 * x

    return fun, rng.normal(size=p), 1e-3


problems = st.one_of(
    st.builds(spd_quadratic, st.integers(1, 60), st.floats(0.0, 3.0), st.integers(0, 2**31 - 2)),
    st.builds(logistic, st.integers(1, 30), st.integers(5, 80), st.integers(0, 2**31 - 2)),
    st.builds(softplus_quartic, st.integers(1, 30), st.integers(0, 2**31 - 2)),
)


@settings(max_examples=40, deadline=None)
@given(problems)
def test_reaches_scipys_minimum(problem):
    fun, x0, mu = problem
    ours = minimize(fun, x0, **TIGHT)
    ref = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                  options={"gtol": 1e-10, "ftol": 0.0, "maxiter": 20000, "maxfun": 40000})
    assert ours.reason in ("gtol", "line_search", "ftol"), ours.message
    g_ours, g_ref = np.linalg.norm(ours.g), np.linalg.norm(ref.jac)
    assert g_ours <= 1e-6 * max(1.0, np.linalg.norm(fun(x0)[1]))  # the rounding floor, not an early stop
    assert abs(ours.f - ref.fun) <= 1e-8 * max(1.0, abs(ref.fun))
    assert abs(ours.f - ref.fun) <= (g_ours**2 + g_ref**2) / (2 * mu) + 1e-13 * max(1.0, abs(ref.fun))
    np.testing.assert_allclose(ours.x, ref.x, rtol=0, atol=max(1e-6, 2 * (g_ours + g_ref) / mu))


@settings(max_examples=30, deadline=None)
@given(problems, st.sampled_from([(1e-4, 0.9), (1e-3, 0.5), (0.1, 0.2)]))
def test_every_accepted_step_satisfies_the_strong_wolfe_conditions(problem, constants):
    fun, x0, _ = problem
    c1, c2 = constants
    steps = []
    result = minimize(fun, x0, c1=c1, c2=c2, max_iter=200, callback=steps.append)
    assert len(steps) == result.n_iter
    for k, step in enumerate(steps, start=1):
        assert step.iteration == k and step.alpha > 0 and step.slope_prev < 0
        assert step.f <= step.f_prev + c1 * step.alpha * step.slope_prev
        assert abs(step.slope) <= c2 * abs(step.slope_prev)
        f, g = fun(step.x)  # what the step reports is the objective at its point
        assert step.f == pytest.approx(f, rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(step.g, g, rtol=1e-12, atol=1e-14)


def test_the_callbacks_point_is_the_last_one_evaluated():
    fun, x0, _ = softplus_quartic(10, 3)
    evaluated = []

    def counted(x):
        evaluated.append(x)
        return fun(x)

    def check(step):
        assert step.x is evaluated[-1] and step.n_fev == len(evaluated)

    minimize(counted, x0, max_iter=30, callback=check)


def test_float32_runs_in_float32():
    fun, x0, _ = spd_quadratic(8, 1.0, 0)
    result = minimize(lambda x: fun(x.astype(np.float64)), x0.astype(np.float32), gtol=1e-4)
    assert result.x.dtype == np.float32 and result.g.dtype == np.float32
    assert result.converged


def test_stop_reasons():
    fun, x0, _ = spd_quadratic(20, 2.0, 1)
    assert minimize(fun, x0, max_iter=3).reason == "max_iter"
    assert minimize(fun, x0, max_iter=3).n_iter == 3
    assert minimize(fun, x0, max_iter=0).n_iter == 0
    by_callback = minimize(fun, x0, callback=lambda step: step.iteration == 2)
    assert (by_callback.reason, by_callback.n_iter) == ("callback", 2)
    few = minimize(fun, x0, maxfun=5)
    assert few.reason == "maxfun" and few.n_fev <= 5
    assert minimize(fun, x0).reason in ("gtol", "ftol")
    at_minimum = minimize(fun, np.linalg.lstsq(*_quadratic_system(20, 2.0, 1), rcond=None)[0])
    assert (at_minimum.reason, at_minimum.n_iter) == ("gtol", 0)
    loose = minimize(fun, x0, ftol=1e-1, gtol=0.0)  # a large ftol stops on the relative decrease
    assert loose.reason == "ftol"
    assert set(REASONS) == {"gtol", "ftol", "max_iter", "maxfun", "callback", "line_search"}


def test_a_wrong_gradient_ends_in_a_failed_line_search():
    """With g = -grad f the 'descent' direction climbs: no step satisfies sufficient decrease."""
    fun, x0, _ = spd_quadratic(5, 1.0, 2)
    result = minimize(lambda x: (fun(x)[0], -fun(x)[1]), x0)
    assert result.reason == "line_search" and result.n_iter == 0
    np.testing.assert_array_equal(result.x, x0)


def test_rejects_bad_input():
    fun, x0, _ = spd_quadratic(3, 1.0, 0)
    with pytest.raises(ValueError, match="flat float64 or float32"):
        minimize(fun, x0.reshape(3, 1))
    with pytest.raises(ValueError, match="0 < c1 < c2 < 1"):
        minimize(fun, x0, c1=0.9, c2=0.1)
