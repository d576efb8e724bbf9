r"""L-BFGS with a strong-Wolfe line search, on one flat vector: the optimiser, and how it works.

Reference: J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006
(N&W below): chapter 7.2 (L-BFGS, Algorithms 7.4 and 7.5) and chapter 3.5 (the line search,
Algorithms 3.5 and 3.6, cubic interpolation eq. 3.59).

The problem. Minimise a smooth :math:`f:\mathbb{R}^p\to\mathbb{R}` given ``fun(x) -> (f(x),
g(x))``, with :math:`g=\nabla f`. Newton's method steps :math:`x_{k+1}=x_k-\alpha_k H_k g_k`
with :math:`H_k` the inverse Hessian; a quasi-Newton method builds :math:`H_k` from what it has
seen. After a step, the pair

.. math::  s_k = x_{k+1}-x_k, \qquad y_k = g_{k+1}-g_k, \qquad \rho_k = 1/(y_k^\top s_k)

says how the gradient changed along :math:`s_k`. BFGS updates
:math:`H_{k+1}=(I-\rho_k s_k y_k^\top)H_k(I-\rho_k y_k s_k^\top)+\rho_k s_k s_k^\top`, a
:math:`p\times p` matrix. **L-BFGS** never forms it: it keeps only the last ``m`` pairs (``m = 10``
here) and applies the update ``m`` times to :math:`H^0_k=\gamma_k I`,
:math:`\gamma_k = s_{k-1}^\top y_{k-1}/y_{k-1}^\top y_{k-1}`, implicitly. That is the
**two-loop recursion** (N&W Algorithm 7.4), which computes :math:`r=H_k g_k` in :math:`O(mp)`::

    q = g_k
    for i = k-1, k-2, ..., k-m:          # newest pair first
        a_i = rho_i * s_i . q
        q   = q - a_i * y_i
    r = gamma_k * q
    for i = k-m, ..., k-2, k-1:          # oldest pair first
        b   = rho_i * y_i . r
        r   = r + (a_i - b) * s_i
    direction p_k = -r

The pairs live in two preallocated ``(m, p)`` arrays used as a ring buffer, so an iteration
allocates a few vectors and loops over ``m``, never over ``p``.

The step. Along :math:`p_k` the line search looks at :math:`\phi(\alpha)=f(x_k+\alpha p_k)`,
:math:`\phi'(\alpha)=g(x_k+\alpha p_k)^\top p_k` (negative at 0: :math:`p_k` descends) and
accepts an :math:`\alpha` satisfying the **strong Wolfe conditions** (N&W eq. 3.7), with
:math:`0<c_1<c_2<1` (``c1 = 1e-4``, ``c2 = 0.9``):

.. math::
    \phi(\alpha) \le \phi(0) + c_1\,\alpha\,\phi'(0)   \quad\text{(sufficient decrease)}

    |\phi'(\alpha)| \le c_2\,|\phi'(0)|                 \quad\text{(curvature)}

The second makes :math:`y_k^\top s_k = \alpha(\phi'(\alpha)-\phi'(0)) > 0`, so every stored
pair keeps :math:`H_k` positive definite and the next direction descends. The first trial step
is :math:`\alpha = 1/\lVert g_0\rVert` on the first iteration (the direction is then
:math:`-g_0`, so the first step has length 1), and :math:`\alpha=1` after (the quasi-Newton step
is well scaled by :math:`\gamma_k`). Algorithm 3.5 doubles :math:`\alpha` until it brackets an
acceptable step; Algorithm 3.6 ("zoom") shrinks the bracket, each trial the minimiser of the
cubic that matches :math:`\phi` and :math:`\phi'` at both ends (eq. 3.59), kept at least a tenth
of the bracket away from its ends (bisection when the cubic has no minimiser). The last point
the line search evaluates is the accepted one, so ``fun``'s last call is always at the iterate
the callback receives.

Stopping, checked in this order after each accepted step (and the gradient test at ``x0`` too):
the callback returned True (``"callback"``); :math:`\max_i|g_i|\le` ``gtol`` (``"gtol"``); the
relative decrease :math:`(f_k-f_{k+1})/\max(|f_k|,|f_{k+1}|,1)\le` ``ftol`` (``"ftol"``, the test
scipy's L-BFGS-B uses); ``max_iter`` iterations (``"max_iter"``); ``maxfun`` evaluations
(``"maxfun"``). A line search that finds no acceptable step in ``max_linesearch`` evaluations
forgets the pairs and tries once more along :math:`-g_k`; if that fails too, the run stops
(``"line_search"``) at the last accepted iterate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: ``fun(x) -> (f, g)``: the objective and its gradient (shape of ``x``) at ``x``.
Objective = Callable[[np.ndarray], "tuple[float, np.ndarray]"]

#: scipy L-BFGS-B's default budget of function evaluations, :func:`minimize`'s too.
MAXFUN = 15000

#: Why :func:`minimize` stopped, and what each reason means.
REASONS = {
    "gtol": "the largest gradient component is within gtol",
    "ftol": "the relative decrease of f is within ftol",
    "max_iter": "the iteration budget is spent",
    "maxfun": "the function-evaluation budget is spent",
    "callback": "the callback returned True",
    "line_search": "no step satisfying the strong Wolfe conditions was found, even along -g",
}


@dataclass(frozen=True)
class Iterate:
    r"""One accepted step, what the callback receives: iteration ``k`` moved from
    :math:`x_{k-1}` to ``x`` with step ``alpha`` along a direction :math:`p`.

    ``f``, ``g`` are :math:`f, \nabla f` at ``x`` (``fun``'s last evaluation); ``f_prev`` is
    :math:`\phi(0)`, ``slope_prev`` :math:`\phi'(0)=g_{k-1}^\top p` and ``slope``
    :math:`\phi'(\alpha) = g^\top p`, so the strong Wolfe conditions read
    ``f <= f_prev + c1 * alpha * slope_prev`` and ``abs(slope) <= c2 * abs(slope_prev)``.
    ``n_fev`` counts the evaluations so far. ``x`` and ``g`` are the optimiser's own arrays:
    copy them to keep them.
    """

    iteration: int
    x: np.ndarray
    f: float
    g: np.ndarray
    alpha: float
    f_prev: float
    slope_prev: float
    slope: float
    n_fev: int


@dataclass(frozen=True)
class Result:
    """The outcome: the last accepted ``x`` with its ``f`` and ``g``, the iterations and
    evaluations used, the ``reason`` (a key of :data:`REASONS`) and its ``message``."""

    x: np.ndarray
    f: float
    g: np.ndarray
    n_iter: int
    n_fev: int
    reason: str
    message: str

    @property
    def converged(self) -> bool:
        """True when a tolerance (``gtol`` or ``ftol``) stopped the run."""
        return self.reason in ("gtol", "ftol")


class _History:
    """The last ``m`` curvature pairs :math:`(s_i, y_i, \\rho_i)` in ``(m, p)`` ring buffers."""

    def __init__(self, m: int, p: int, dtype: np.dtype) -> None:
        self.S = np.empty((m, p), dtype)
        self.Y = np.empty((m, p), dtype)
        self.rho = np.empty(m)
        self.alpha = np.empty(m)
        self.m, self.count, self.newest, self.gamma = m, 0, -1, 1.0

    def clear(self) -> None:
        self.count, self.newest, self.gamma = 0, -1, 1.0

    def push(self, s: np.ndarray, y: np.ndarray) -> None:
        """Store the pair, unless :math:`y^\\top s` is not safely positive (then H would lose
        positive definiteness; with strong Wolfe steps this happens only through rounding)."""
        sy, yy = float(s @ y), float(y @ y)
        if not sy > np.finfo(np.float64).eps * yy:
            return
        self.newest = (self.newest + 1) % self.m
        self.S[self.newest], self.Y[self.newest] = s, y
        self.rho[self.newest] = 1.0 / sy
        self.gamma = sy / yy
        self.count = min(self.count + 1, self.m)

    def direction(self, g: np.ndarray) -> np.ndarray:
        """:math:`-H_k g` by the two-loop recursion (N&W Algorithm 7.4)."""
        order = [(self.newest - j) % self.m for j in range(self.count)]  # newest first
        q = g.copy()
        for i in order:
            self.alpha[i] = self.rho[i] * float(self.S[i] @ q)
            q -= self.alpha[i] * self.Y[i]
        q *= self.gamma
        for i in reversed(order):
            b = self.rho[i] * float(self.Y[i] @ q)
            q += (self.alpha[i] - b) * self.S[i]
        return np.negative(q, out=q)


def _cubic_step(a: float, fa: float, da: float, b: float, fb: float, db: float) -> float:
    """The minimiser of the cubic through :math:`(a, f_a, f'_a)` and :math:`(b, f_b, f'_b)`
    (N&W eq. 3.59), kept within the middle 80 % of the interval; its midpoint when the cubic
    has no minimiser there or the numbers are not finite."""
    lo, hi = min(a, b), max(a, b)
    margin = 0.1 * (hi - lo)
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if math.isfinite(disc) and disc >= 0.0:
        d2 = math.copysign(math.sqrt(disc), b - a)
        denom = db - da + 2.0 * d2
        if denom != 0.0:
            t = b - (b - a) * (db + d2 - d1) / denom
            if math.isfinite(t) and lo + margin <= t <= hi - margin:
                return t
    return 0.5 * (a + b)


class _LineSearch:
    """:math:`\\phi(\\alpha) = f(x+\\alpha p)` and a strong-Wolfe step (N&W Algorithms 3.5, 3.6).

    Each evaluation keeps its point, value and gradient, so the accepted step's are at hand."""

    def __init__(self, fun: Objective, x: np.ndarray, p: np.ndarray, f0: float, slope0: float,
                 c1: float, c2: float, budget: int) -> None:
        self.fun, self.x0, self.p = fun, x, p
        self.f0, self.slope0, self.c1, self.c2 = f0, slope0, c1, c2
        self.budget, self.n_fev = budget, 0
        self.point: tuple[np.ndarray, float, np.ndarray, float] | None = None

    def phi(self, alpha: float) -> tuple[float, float]:
        """:math:`(\\phi(\\alpha), \\phi'(\\alpha))`, the point kept in ``self.point``."""
        x = self.x0 + alpha * self.p
        f, g = self.fun(x)
        f, g = float(f), np.asarray(g, dtype=x.dtype).reshape(x.shape)
        self.n_fev += 1
        slope = float(g @ self.p)
        self.point = (x, f, g, slope)
        return f, slope

    def armijo_fails(self, alpha: float, f: float) -> bool:
        return not f <= self.f0 + self.c1 * alpha * self.slope0  # also True for NaN

    def curvature_holds(self, slope: float) -> bool:
        return abs(slope) <= self.c2 * abs(self.slope0)

    def search(self, alpha: float) -> float | None:
        """An :math:`\\alpha` satisfying the strong Wolfe conditions, starting the search at
        ``alpha`` (Algorithm 3.5: grow until a bracket is found); None if the budget runs out."""
        a_prev, f_prev, d_prev = 0.0, self.f0, self.slope0
        first = True
        while self.n_fev < self.budget:
            f, d = self.phi(alpha)
            if self.armijo_fails(alpha, f) or (not first and f >= f_prev):
                return self.zoom(a_prev, f_prev, d_prev, alpha, f, d)
            if self.curvature_holds(d):
                return alpha
            if d >= 0.0:
                return self.zoom(alpha, f, d, a_prev, f_prev, d_prev)
            a_prev, f_prev, d_prev, first = alpha, f, d, False
            alpha *= 2.0
        return None

    def zoom(self, lo: float, f_lo: float, d_lo: float, hi: float, f_hi: float, d_hi: float) -> float | None:
        """Algorithm 3.6: ``lo`` satisfies sufficient decrease and has the lowest value seen, and
        :math:`\\phi'(lo)(hi-lo) < 0`; the bracket between them holds an acceptable step."""
        while self.n_fev < self.budget:
            if abs(hi - lo) * float(np.max(np.abs(self.p))) <= np.finfo(self.p.dtype).eps * (
                    1.0 + float(np.max(np.abs(self.x0)))):
                return None  # the bracket is below the resolution of x
            alpha = _cubic_step(lo, f_lo, d_lo, hi, f_hi, d_hi) if math.isfinite(f_hi) else 0.5 * (lo + hi)
            f, d = self.phi(alpha)
            if self.armijo_fails(alpha, f) or f >= f_lo:
                hi, f_hi, d_hi = alpha, f, d
            else:
                if self.curvature_holds(d):
                    return alpha
                if d * (hi - lo) >= 0.0:
                    hi, f_hi, d_hi = lo, f_lo, d_lo
                lo, f_lo, d_lo = alpha, f, d
        return None


def minimize(
    fun: Objective,
    x0: np.ndarray,
    *,
    m: int = 10,
    max_iter: int = 15000,
    gtol: float = 1e-5,
    ftol: float = 2.220446049250313e-09,
    maxfun: int = MAXFUN,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_linesearch: int = 20,
    callback: Callable[[Iterate], bool | None] | None = None,
) -> Result:
    """Minimise ``fun`` from ``x0`` (a flat float64 or float32 vector ``(p,)``) with L-BFGS.

    ``fun(x) -> (f, g)`` with ``g`` of shape ``(p,)``; the arithmetic runs in ``x0``'s dtype.
    ``m`` pairs are kept; ``gtol``, ``ftol``, ``maxfun`` (defaults: scipy's L-BFGS-B's) and
    ``max_iter`` stop the run as the module docstring says, and so does ``callback(iterate)``
    returning True (:class:`Iterate`, after every accepted step). The result holds the last
    accepted iterate; ``KeyboardInterrupt`` and errors raised by ``fun`` propagate.
    """
    x = np.array(x0, copy=True)
    if x.ndim != 1 or x.dtype not in (np.float64, np.float32):
        raise ValueError(f"x0 must be a flat float64 or float32 vector, got shape {x.shape} dtype {x.dtype}")
    if m < 1 or max_iter < 0 or maxfun < 1 or max_linesearch < 1 or not 0.0 < c1 < c2 < 1.0:
        raise ValueError(f"need m >= 1, max_iter >= 0, maxfun >= 1, max_linesearch >= 1 and "
                         f"0 < c1 < c2 < 1; got m={m}, max_iter={max_iter}, maxfun={maxfun}, "
                         f"max_linesearch={max_linesearch}, c1={c1}, c2={c2}")
    f, g = fun(x)
    f, g = float(f), np.asarray(g, dtype=x.dtype).reshape(x.shape)
    n_fev, n_iter = 1, 0

    def done(reason: str) -> Result:
        return Result(x, f, g, n_iter, n_fev, reason, REASONS[reason])

    if float(np.max(np.abs(g), initial=0.0)) <= gtol:
        return done("gtol")
    if max_iter == 0:
        return done("max_iter")
    pairs = _History(m, x.size, x.dtype)
    while True:
        accepted = None
        for restart in (False, True):  # the quasi-Newton direction, then once more along -g
            if restart and pairs.count == 0:
                break
            if restart:
                pairs.clear()
            p = pairs.direction(g) if pairs.count else -g
            slope0 = float(g @ p)
            if not slope0 < 0.0:  # rounding made H indefinite: start again from -g
                pairs.clear()
                p = -g
                slope0 = float(g @ p)
            alpha0 = 1.0 if pairs.count else 1.0 / math.sqrt(-slope0)  # 1 / ||g|| when p = -g
            search = _LineSearch(fun, x, p, f, slope0, c1, c2, min(max_linesearch, maxfun - n_fev))
            alpha = search.search(alpha0)
            n_fev += search.n_fev
            if alpha is not None:
                accepted = (alpha, p, slope0, search.point)
                break
            if n_fev >= maxfun:
                return done("maxfun")
        if accepted is None:
            return done("line_search")
        alpha, p, slope0, (x_new, f_new, g_new, slope) = accepted
        pairs.push(x_new - x, g_new - g)
        f_prev = f
        x, f, g = x_new, f_new, g_new
        n_iter += 1
        if callback is not None and callback(Iterate(n_iter, x, f, g, alpha, f_prev, slope0, slope, n_fev)):
            return done("callback")
        if float(np.max(np.abs(g))) <= gtol:
            return done("gtol")
        if (f_prev - f) / max(abs(f_prev), abs(f), 1.0) <= ftol:
            return done("ftol")
        if n_iter >= max_iter:
            return done("max_iter")
        if n_fev >= maxfun:
            return done("maxfun")
