r"""The engine's primitive operations, each defined once, as one entry of a table.

Every op holds four things side by side (HIPS-autograd's ``defvjp`` table, minitorch's
``Function`` classes):

* ``forward(*arrays, **attrs) -> array``: the value;
* ``vjp(g, out, arrays, attrs) -> grads``: the vector-Jacobian product, one gradient per input,
  given the upstream gradient ``g`` (shape of ``out``). A binary op may return a gradient of
  the *broadcast* shape: the engine passes every input's gradient through :func:`unbroadcast`.
  An op may also give one VJP per input (:attr:`Op.input_vjps`), so that the engine computes
  no gradient for an input that needs none (a constant);
* ``text`` / ``latex``: the local derivative for each input, as plain text and as LaTeX, with
  placeholders ``<x>`` (the input of a unary op), ``<a>``, ``<b>`` (the inputs of a binary op),
  ``<out>`` (the output), ``<g>`` (the upstream gradient) and ``<p>``, ``<axis>``, ``<N>``
  (attributes). :mod:`tinysae.autograd.explain` fills them with node names, so an explanation
  is generated from the very definitions the engine runs.

For an ``elementwise`` op the formula is :math:`\partial\,\mathrm{out} / \partial\,\mathrm{input}`
and the gradient is ``g * formula``; for the others (matmul, transpose, sum, mean, reshape) the
formula is the vector-Jacobian product itself and mentions ``<g>``.

The primitive set is small on purpose; the KL divergence, the losses and TopK are composed from
these in the layers above. ``log_softmax`` and ``softplus`` are the exceptions: composed from
``exp``, ``sum`` and ``log`` they overflow for large inputs, so each is a primitive computed
stably inside (the max-shift; ``logaddexp``). ``jumprelu`` and ``step`` (a JumpReLU SAE's
activation and its L0 count) are the one place where an op's VJP is *not* its derivative: their
derivative in the threshold is 0 almost everywhere, so they carry the straight-through
pseudo-derivative of Rajamanoharan et al. (2024), and their ``text`` says so, so that
``explain`` shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Arrays = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Op:
    """One primitive: its value, its vector-Jacobian product and its derivative as math."""

    name: str
    forward: Callable[..., np.ndarray]
    vjp: Callable[[np.ndarray, np.ndarray, Arrays, dict[str, Any]], Arrays]
    text: tuple[str, ...]
    latex: tuple[str, ...]
    elementwise: bool = True
    expr: str = ""
    input_vjps: tuple[Callable[[np.ndarray, np.ndarray, Arrays, dict[str, Any]], np.ndarray], ...] = ()

    @property
    def arity(self) -> int:
        """How many tensor inputs the op takes."""
        return len(self.text)


#: The registry: op name -> :class:`Op`.
OPS: dict[str, Op] = {}


def defop(name: str, forward: Callable[..., np.ndarray],
          vjp: Callable[..., Arrays] | tuple[Callable[..., np.ndarray], ...], text: tuple[str, ...],
          latex: tuple[str, ...], elementwise: bool = True, expr: str = "") -> Op:
    """Define op ``name`` once and register it in :data:`OPS`.

    ``vjp`` is one function returning every input's gradient, or a tuple of one function per
    input, each returning that input's gradient (kept as :attr:`Op.input_vjps`; :attr:`Op.vjp`
    then calls them all). Per-input VJPs let the engine skip an input that needs no gradient
    (a constant, such as the data ``X`` of ``X @ W1^T``).
    """
    input_vjps = vjp if isinstance(vjp, tuple) else ()
    joint = _joint(input_vjps) if input_vjps else vjp
    op = Op(name, forward, joint, text, latex, elementwise, expr, input_vjps)
    OPS[name] = op
    return op


def _joint(input_vjps: tuple[Callable[..., np.ndarray], ...]) -> Callable[..., Arrays]:
    """One VJP returning every input's gradient, from the per-input VJPs ``input_vjps``."""

    def vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
        return tuple(input_vjp(g, out, x, k) for input_vjp in input_vjps)

    return vjp


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the adjoint of numpy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of length 1; the
    gradient of a copy is the sum of the copies' gradients. Used for every input of every op.
    """
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    r""":math:`\sigma(x) = 1/(1+e^{-x})`, elementwise: a new array of the shape and float dtype of ``x``.

    Computed as written, in one fresh buffer: negate, ``exp``, add 1, reciprocal. Below
    :math:`x \approx -709.78` (float64; :math:`-88.72` in float32) :math:`e^{-x}` overflows to
    ``inf`` and the result is :math:`1/\infty = 0`, where the true value is below the smallest
    normal number (2.2e-308; 1.2e-38): that overflow is expected and silenced, as is the
    underflow of results below the smallest normal number, and no step can make a NaN. Above
    :math:`x \approx 37` (float64), :math:`1 + e^{-x}` rounds to 1 and the result is exactly 1.
    This is the formula of scipy's ``expit`` (``expit(-720.0)`` is 0.0 too), with numpy's
    vectorised ``exp``: the two agree to a few units in the last place
    (``tests/test_engine_speed_cuts.py``), and this is about 3x faster (measured once at
    (10000, 64) in float64 on a loaded machine: 1.2 ms against 3.6 ms).
    """
    x = np.asarray(x)
    out = np.negative(x, out=np.empty(x.shape, x.dtype if x.dtype.kind == "f" else np.float64))
    with np.errstate(over="ignore", under="ignore"):  # exp(-x) = inf, and results below tiny
        np.exp(out, out=out)
        out += 1
        return np.reciprocal(out, out=out)


def stable_softplus(x: np.ndarray) -> np.ndarray:
    r""":math:`\operatorname{softplus}(x) = \log(1 + e^{x})` without overflow, in the dtype of ``x``.

    Composed from ``exp`` and ``log`` it overflows to ``inf`` for :math:`x > 709.8` (float64)
    and rounds :math:`\log(1 + e^{x})` to 0 for :math:`x < -37`. ``np.logaddexp(0, x)`` computes
    :math:`\max(x, 0) + \log(1 + e^{-|x|})` (with ``log1p``), so ``exp`` only sees
    :math:`-|x|`: it is exactly ``x`` for large ``x`` and :math:`e^{x}` for very negative ``x``.
    Its derivative is :math:`\sigma(x)`.
    """
    return np.logaddexp(0, x)


# ---- elementwise binary ops (the engine un-broadcasts their gradients) ---------------------------
defop("add", lambda a, b: a + b, lambda g, out, x, k: (g, g),
      ("1", "1"), ("1", "1"), expr="<a> + <b>")
# The ops below whose inputs' gradients cost a full array each have one VJP per input, so that
# the engine computes none for a constant input (the targets of ``Xhat - T``, ...).
defop("sub", lambda a, b: a - b, (lambda g, out, x, k: g, lambda g, out, x, k: -g),
      ("1", "-1"), ("1", "-1"), expr="<a> - <b>")
defop("mul", lambda a, b: a * b, (lambda g, out, x, k: g * x[1], lambda g, out, x, k: g * x[0]),
      ("<b>", "<a>"), ("<b>", "<a>"), expr="<a> * <b>")
defop("div", lambda a, b: a / b, (lambda g, out, x, k: g / x[1], lambda g, out, x, k: -g * x[0] / x[1] ** 2),
      ("1 / <b>", "-<a> / <b>^2"), (r"\frac{1}{<b>}", r"-\frac{<a>}{<b>^{2}}"), expr="<a> / <b>")
defop("where", lambda a, b, mask: np.where(mask, a, b),
      (lambda g, out, x, k: np.where(k["mask"], g, 0.0), lambda g, out, x, k: np.where(k["mask"], 0.0, g)),
      ("[mask]", "[not mask]"), (r"\mathbb{1}[\text{mask}]", r"\mathbb{1}[\lnot\text{mask}]"),
      expr="where(mask, <a>, <b>)")


# ---- elementwise unary ops ----------------------------------------------------------------------
def _square_vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
    """``2 g x`` in one new array (``g x``, then doubled in place: the same bits as ``(2 g) x``)."""
    grad = g * x[0]
    grad *= 2
    return (grad,)


def _sigmoid_vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
    """``g * out * (1 - out)`` in one new array: ``1 - out``, then multiplied in place by ``out``
    and by ``g`` (``g`` has the shape of ``out``)."""
    grad = 1 - out
    grad *= out
    grad *= g
    return (grad,)


defop("neg", lambda x: -x, lambda g, out, x, k: (-g,), ("-1",), ("-1",), expr="-<x>")
defop("pow", lambda x, p: x**p, lambda g, out, x, k: (g * k["p"] * x[0] ** (k["p"] - 1),),
      ("<p> * <x>^(<p> - 1)",), (r"<p>\,<x>^{<p>-1}",), expr="<x>^<p>")
defop("square", lambda x: x * x, _square_vjp,
      ("2 * <x>",), (r"2\,<x>",), expr="<x>^2")
defop("exp", np.exp, lambda g, out, x, k: (g * out,),
      ("exp(<x>)",), (r"e^{<x>}",), expr="exp(<x>)")
defop("log", np.log, lambda g, out, x, k: (g / x[0],),
      ("1 / <x>",), (r"\frac{1}{<x>}",), expr="log(<x>)")
defop("sigmoid", stable_sigmoid, _sigmoid_vjp,
      ("sigmoid(<x>) * (1 - sigmoid(<x>))",), (r"\sigma(<x>)\,(1-\sigma(<x>))",), expr="sigmoid(<x>)")
defop("softplus", stable_softplus, lambda g, out, x, k: (g * stable_sigmoid(x[0]),),
      ("sigmoid(<x>)",), (r"\sigma(<x>)",), expr="softplus(<x>)")
defop("tanh", np.tanh, lambda g, out, x, k: (g * (1 - out * out),),
      ("1 - tanh(<x>)^2",), (r"1-\tanh^{2}(<x>)",), expr="tanh(<x>)")
defop("relu", lambda x: np.maximum(x, 0), lambda g, out, x, k: (g * (x[0] > 0),),
      ("[<x> > 0]",), (r"\mathbb{1}[<x> > 0]",), expr="relu(<x>)")
defop("abs", np.abs, lambda g, out, x, k: (g * np.sign(x[0]),),
      ("sign(<x>)",), (r"\operatorname{sign}(<x>)",), expr="|<x>|")


# ---- the jump of a JumpReLU SAE: a true derivative of 0, replaced by a pseudo-derivative ----------
def rectangle(u: np.ndarray) -> np.ndarray:
    r"""The rectangle kernel :math:`K(u) = \mathbb{1}[-\tfrac12 < u < \tfrac12]`, in the dtype of ``u``."""
    return (np.abs(u) < 0.5).astype(u.dtype)


def _jumprelu_vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
    """``g [z > theta]`` to ``z``; to ``theta`` the straight-through pseudo-derivative
    ``g * -(theta / eps) K((z - theta) / eps)`` (the true derivative is 0 almost everywhere)."""
    z, theta = x
    eps = k["bandwidth"]
    return g * (z > theta), g * (-(theta / eps) * rectangle((z - theta) / eps))


def _step_vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
    """Nothing to ``z`` (the true derivative, 0 almost everywhere); to ``theta`` the pseudo-derivative
    ``g * -(1 / eps) K((z - theta) / eps)``."""
    z, theta = x
    eps = k["bandwidth"]
    return np.zeros_like(g * z), g * (-(1 / eps) * rectangle((z - theta) / eps))


PSEUDO = "straight-through pseudo-derivative; the true derivative is 0 almost everywhere"
PSEUDO_LATEX = rf"_{{\text{{{PSEUDO}}}}}"
defop("jumprelu", lambda z, theta, bandwidth: z * (z > theta), _jumprelu_vjp,
      ("[<a> > <b>]", f"-(<b> / <eps>) * rect((<a> - <b>) / <eps>)  ({PSEUDO})"),
      (r"\mathbb{1}[<a> > <b>]",
       r"\underbrace{-\tfrac{<b>}{<eps>}\,K\!\left(\tfrac{<a> - <b>}{<eps>}\right)}" + PSEUDO_LATEX),
      expr="jumprelu(<a>; <b>)")
defop("step", lambda z, theta, bandwidth: (z > theta).astype(np.result_type(z, theta)), _step_vjp,
      ("0  (the true derivative, 0 almost everywhere: the step sends nothing to <a>)",
       f"-(1 / <eps>) * rect((<a> - <b>) / <eps>)  ({PSEUDO})"),
      (r"\underbrace{0}_{\text{the true derivative}}",
       r"\underbrace{-\tfrac{1}{<eps>}\,K\!\left(\tfrac{<a> - <b>}{<eps>}\right)}" + PSEUDO_LATEX),
      expr="step(<a> - <b>)")


# ---- structural ops: the formula is the vector-Jacobian product itself ----------------------------
def _matmul_forward(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim not in (1, 2) or b.ndim not in (1, 2):
        raise ValueError(f"matmul takes 1-D or 2-D operands, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[0]:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are incompatible: the left operand's last "
            f"dimension {a.shape[-1]} must equal the right operand's first dimension {b.shape[0]}"
        )
    return a @ b


def _as_matrices(g: np.ndarray, x: Arrays) -> Arrays:
    """``(A, B, G)`` of a matmul as 2-D arrays: a 1-D left operand viewed as a row ``(1, n)``, a
    1-D right operand as a column ``(n, 1)``, and ``g`` as ``G (rows of A, columns of B)``."""
    a, b = x
    a2 = a if a.ndim == 2 else a[None, :]
    b2 = b if b.ndim == 2 else b[:, None]
    return a2, b2, np.reshape(g, (a2.shape[0], b2.shape[1]))


def _matmul_vjp_a(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> np.ndarray:
    """``dA = G B^T``, in the shape of ``A``."""
    _, b2, g2 = _as_matrices(g, x)
    return (g2 @ b2.T).reshape(x[0].shape)


def _matmul_vjp_b(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> np.ndarray:
    """``dB = A^T G``, in the shape of ``B``."""
    a2, _, g2 = _as_matrices(g, x)
    return (a2.T @ g2).reshape(x[1].shape)


defop("matmul", _matmul_forward, (_matmul_vjp_a, _matmul_vjp_b), ("<g> @ <b>^T", "<a>^T @ <g>"),
      (r"<g>\,<b>^{\top}", r"<a>^{\top}\,<g>"), elementwise=False, expr="<a> @ <b>")
defop("transpose", np.transpose, lambda g, out, x, k: (np.transpose(g),),
      ("<g>^T",), (r"<g>^{\top}",), elementwise=False, expr="<x>^T")
defop("reshape", lambda x, shape: np.reshape(x, shape), lambda g, out, x, k: (np.reshape(g, x[0].shape),),
      ("<g> reshaped to the shape of <x>",), (r"\operatorname{reshape}(<g>)",),
      elementwise=False, expr="reshape(<x>)")


def _spread(g: np.ndarray, x: np.ndarray, axis: int | tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    """Copy ``g`` back along the reduced ``axis`` of ``x`` (the adjoint of a sum)."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, x.shape)


def reduced_count(shape: tuple[int, ...], axis: int | tuple[int, ...] | None) -> int:
    """How many entries a reduction over ``axis`` of an array of ``shape`` combines (the N of a mean)."""
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    axes = (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


defop("sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
      lambda g, out, x, k: (_spread(g, x[0], k["axis"], k["keepdims"]),),
      ("<g> copied along <axis>",), (r"<g>\ \text{copied along <axis>}",),
      elementwise=False, expr="sum_<axis> <x>")


def _mean_vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
    """``g / N`` copied back along the averaged axes (N entries were averaged), as a read-only
    broadcast view of ``g / N``, like the VJP of ``sum``."""
    return (_spread(g / reduced_count(x[0].shape, k["axis"]), x[0], k["axis"], k["keepdims"]),)


defop("mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims), _mean_vjp,
      ("<g> / N copied along <axis> (N = <N>)",), (r"\frac{1}{<N>}\,<g>\ \text{copied along <axis>}",),
      elementwise=False, expr="mean_<axis> <x>")


def log_softmax_forward(x: np.ndarray, axis: int) -> np.ndarray:
    r""":math:`\log\operatorname{softmax}(x)_c = x_c - \log\sum_{c'} e^{x_{c'}}` along ``axis``,
    computed as :math:`(x_c - M) - \log\sum_{c'} e^{x_{c'} - M}` with :math:`M = \max_{c'} x_{c'}`
    (the max-shifted log-sum-exp): ``exp`` then only sees values :math:`\le 0`, so nothing
    overflows, and the largest term of the sum is exactly 1, so the logarithm never sees 0."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _log_softmax_vjp(g: np.ndarray, out: np.ndarray, x: Arrays, k: dict[str, Any]) -> Arrays:
    """``g - softmax(x) * sum_axis g``: the Jacobian is ``I - 1 softmax(x)^T`` along ``axis``, and
    ``softmax(x) = exp(out)``."""
    return (g - np.exp(out) * np.sum(g, axis=k["axis"], keepdims=True),)


defop("log_softmax", log_softmax_forward, _log_softmax_vjp,
      ("<g> - softmax(<x>) * (<g> summed along <axis>)",),
      (r"<g> - \operatorname{softmax}(<x>) \odot \textstyle\sum_{\text{<axis>}} <g>",),
      elementwise=False, expr="log_softmax_<axis>(<x>)")
