r"""Gradient checking: an analytic gradient against central finite differences.

.. math::

    n_i = \frac{f(x + \varepsilon e_i) - f(x - \varepsilon e_i)}{2\varepsilon}, \qquad
    \text{relative error} = \frac{\lVert a - n \rVert}{\lVert a + n \rVert}
    \quad (0 \text{ when both are } 0).

Central differences are exact for quadratics and err by :math:`O(\varepsilon^2)` otherwise, so in
float64 with :math:`\varepsilon = 10^{-6}` a correct gradient typically scores 1e-9 or better
and a wrong one 1e-2 or worse. Three pieces: :func:`numerical_gradient` (for any scalar numpy
function), :func:`compare_gradients` (builds the :class:`GradcheckReport`) and
:func:`gradcheck` (for a function of engine Tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tinysae.autograd.tensor import Tensor


def numerical_gradient(fun: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar function ``fun`` at ``x`` (any shape), in float64."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = float(fun(x))
        x[index] = saved - eps
        minus = float(fun(x))
        x[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@dataclass
class GradcheckReport:
    """The verdict of a gradient check: the relative error and the worst entry."""

    relative_error: float
    worst_input: str
    worst_index: tuple[int, ...]
    worst_analytic: float
    worst_numeric: float
    analytic: list[np.ndarray]
    numeric: list[np.ndarray]

    def __str__(self) -> str:
        where = f"{self.worst_input}[{', '.join(map(str, self.worst_index))}]"
        return (
            f"gradient check: relative error ||a - n|| / ||a + n|| = {self.relative_error:.3e}\n"
            f"  worst entry {where}: analytic {self.worst_analytic:.10g}, numeric {self.worst_numeric:.10g} "
            f"(difference {abs(self.worst_analytic - self.worst_numeric):.3e})"
        )


def relative_error(a: np.ndarray, n: np.ndarray) -> float:
    """``||a - n|| / ||a + n||``, defined as 0 when both are 0."""
    a, n = np.ravel(np.asarray(a, np.float64)), np.ravel(np.asarray(n, np.float64))
    denominator = np.linalg.norm(a + n)
    numerator = np.linalg.norm(a - n)
    if denominator == 0:
        return 0.0 if numerator == 0 else float("inf")
    return float(numerator / denominator)


def compare_gradients(analytic: np.ndarray | Sequence[np.ndarray], numeric: np.ndarray | Sequence[np.ndarray],
                      names: Sequence[str] | None = None) -> GradcheckReport:
    """A :class:`GradcheckReport` for one gradient array or a list of them (one per input)."""
    analytic = [np.asarray(analytic, np.float64)] if isinstance(analytic, np.ndarray) else [
        np.asarray(a, np.float64) for a in analytic]
    numeric = [np.asarray(numeric, np.float64)] if isinstance(numeric, np.ndarray) else [
        np.asarray(n, np.float64) for n in numeric]
    names = [f"input{i}" for i in range(len(analytic))] if names is None else list(names)
    if len(analytic) != len(numeric) or len(names) != len(analytic):
        raise ValueError(f"compare_gradients: {len(analytic)} analytic, {len(numeric)} numeric gradients "
                         f"and {len(names)} names; expected the same number of each")
    for name, a, n in zip(names, analytic, numeric):
        if a.shape != n.shape:
            raise ValueError(f"compare_gradients: {name} has analytic shape {a.shape} but numeric {n.shape}")
    flat_a = np.concatenate([a.ravel() for a in analytic])
    flat_n = np.concatenate([n.ravel() for n in numeric])
    worst = (-1.0, 0, ())
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        if a.size:
            index = np.unravel_index(int(np.argmax(np.abs(a - n))), a.shape)
            if abs(a[index] - n[index]) > worst[0]:
                worst = (abs(a[index] - n[index]), i, tuple(int(j) for j in index))
    _, which, index = worst
    return GradcheckReport(
        relative_error(flat_a, flat_n),
        names[which],
        index,
        float(analytic[which][index]) if analytic[which].size else 0.0,
        float(numeric[which][index]) if numeric[which].size else 0.0,
        analytic,
        numeric,
    )


def gradcheck(f: Callable[..., Tensor], inputs: np.ndarray | Sequence[np.ndarray], eps: float = 1e-6,
              names: Sequence[str] | None = None) -> GradcheckReport:
    """Check the engine's gradient of ``f`` (Tensors -> one-entry Tensor) at ``inputs`` (arrays).

    Runs ``f`` once on float64 Tensors and calls ``backward()``, then perturbs each entry of
    each input by ``+-eps``; returns the :class:`GradcheckReport`.
    """
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    arrays = [np.array(x, dtype=np.float64) for x in arrays]
    tensors = [Tensor(x.copy(), name=f"input{i}") for i, x in enumerate(arrays)]
    out = f(*tensors)
    if not isinstance(out, Tensor) or out.size != 1:
        raise ValueError(f"gradcheck: f must return a one-entry Tensor, got {out!r}")
    out.backward()
    analytic = [t.grad if t.grad is not None else np.zeros_like(t.data) for t in tensors]

    def value_at(i: int) -> Callable[[np.ndarray], float]:
        def fun(x: np.ndarray) -> float:
            args = [Tensor(x if j == i else arrays[j]) for j in range(len(arrays))]
            return float(f(*args).data)
        return fun

    numeric = [numerical_gradient(value_at(i), arrays[i], eps) for i in range(len(arrays))]
    return compare_gradients(analytic, numeric, names)
