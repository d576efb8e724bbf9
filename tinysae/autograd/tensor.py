r"""``Tensor``: a numpy array that remembers how it was made, and reverse-mode differentiation.

A tensor made by an op keeps the op (an entry of :data:`tinysae.autograd.ops.OPS`), its
parents and the op's attributes. :meth:`Tensor.backward` visits the graph in reverse
topological order (computed without recursion, so a chain of 10,000 ops is fine) and applies
each op's vector-Jacobian product:

.. math::

    \bar{x} \mathrel{+}= \mathrm{vjp}_{\mathrm{op}}(\bar{y}) \quad\text{for every edge } x \to y,

summing over every path from the output to ``x``. :func:`apply` is the one place that records
history (minitorch's ``Function.apply``); :func:`input_grads` is the one place that runs a VJP,
un-broadcasts it and checks it is finite; :mod:`tinysae.autograd.explain` uses both, and
:func:`reverse_pass` sends the gradients back through it.

Repeated ``backward()`` calls **accumulate** into ``.grad`` (as in PyTorch); call
:meth:`Tensor.zero_grad` on the output to reset every ``.grad`` of its graph.

A tensor with ``requires_grad = False`` is a **constant** (the data ``X``, the targets ``T``):
``backward()`` computes no gradient for it, nor for a node all of whose inputs are constants,
and runs no VJP towards one (the rest of the graph's gradients are unchanged). A leaf's
``.grad`` is an array of its own, never shared with another node; an inner node's ``.grad`` is
the engine's array as it flowed back, which a neighbour may share (the inputs of an ``add``
receive the same array) or which may be a read-only broadcast view (what a ``sum`` sends
back): read it, do not write into it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tinysae.autograd.ops import OPS, reduced_count, unbroadcast

_ids = itertools.count()
Axis = int | tuple[int, ...] | None


class NonFiniteGradientError(FloatingPointError):
    """A gradient became NaN or inf during ``backward()``; the message names the op and node."""


def as_float_array(data: object) -> np.ndarray:
    """``data`` as a float64 array (float32 kept as float32; bools and ints become float64)."""
    array = np.asarray(data)
    if array.dtype.kind in "biu" or (array.dtype.kind == "f" and array.dtype not in (np.float32, np.float64)):
        return array.astype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError(f"Tensor data must hold real numbers (bool, int or float), got dtype {array.dtype}")
    return array


class Tensor:
    """A float array with a name, the op that made it, and ``.grad`` after ``backward()``.

    ``Tensor(data, name="W1")`` makes a leaf; ops make the others (auto-named after the op,
    e.g. ``sigmoid_12``, until :meth:`named` gives them a name such as ``"H"``;
    ``auto_named`` tells which, and :func:`~tinysae.autograd.explain` renumbers those).
    ``requires_grad=False`` makes a constant, which ``backward()`` leaves without a gradient.
    """

    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray + Tensor -> Tensor

    def __init__(self, data: object, name: str | None = None, requires_grad: bool = True) -> None:
        self.data = as_float_array(data.data if isinstance(data, Tensor) else data)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name if name is not None else f"t_{next(_ids)}"
        self.auto_named = name is None
        self.op: str | None = None
        self.parents: tuple[Tensor, ...] = ()
        self.attrs: dict[str, Any] = {}

    # ---- basics ------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def named(self, name: str) -> Tensor:
        """Give this tensor a name (used by :func:`~tinysae.autograd.explain`) and return it."""
        self.name = str(name)
        self.auto_named = False
        return self

    def __repr__(self) -> str:
        made = f", op={self.op}" if self.op else ""
        return f"Tensor(name={self.name!r}, shape={self.shape}, dtype={self.dtype}{made})"

    # ---- arithmetic: every operator is one op of the table -----------------------------------
    def _lift(self, other: object) -> Tensor:
        """``other`` as a Tensor; a Python number takes this tensor's dtype and its value as name."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (bool, int, float)):
            return Tensor(np.asarray(other, dtype=self.dtype), name=f"{other:g}")
        constant = Tensor(other)
        constant.name = f"const_{next(_ids)}"
        return constant

    def __add__(self, other: object) -> Tensor:
        return apply("add", self, self._lift(other))

    def __radd__(self, other: object) -> Tensor:
        return apply("add", self._lift(other), self)

    def __sub__(self, other: object) -> Tensor:
        return apply("sub", self, self._lift(other))

    def __rsub__(self, other: object) -> Tensor:
        return apply("sub", self._lift(other), self)

    def __mul__(self, other: object) -> Tensor:
        return apply("mul", self, self._lift(other))

    def __rmul__(self, other: object) -> Tensor:
        return apply("mul", self._lift(other), self)

    def __truediv__(self, other: object) -> Tensor:
        return apply("div", self, self._lift(other))

    def __rtruediv__(self, other: object) -> Tensor:
        return apply("div", self._lift(other), self)

    def __matmul__(self, other: object) -> Tensor:
        return apply("matmul", self, self._lift(other))

    def __rmatmul__(self, other: object) -> Tensor:
        return apply("matmul", self._lift(other), self)

    def __neg__(self) -> Tensor:
        return apply("neg", self)

    def __abs__(self) -> Tensor:
        return apply("abs", self)

    def __pow__(self, p: object) -> Tensor:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"Tensor ** p needs a real scalar exponent p, got {type(p).__name__}")
        return apply("pow", self, p=float(p))

    def __rpow__(self, base: object) -> Tensor:
        raise TypeError("scalar ** Tensor is not a primitive; write exp(log(base) * t) instead")

    @property
    def T(self) -> Tensor:
        """The transpose (all axes reversed)."""
        return apply("transpose", self)

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        """The same entries in a new shape (``t.reshape(2, 3)`` or ``t.reshape((2, 3))``)."""
        new_shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        return apply("reshape", self, shape=new_shape)

    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes when None)."""
        return apply("sum", self, axis=_normalize_axis(axis, self.ndim), keepdims=bool(keepdims))

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes when None)."""
        return apply("mean", self, axis=_normalize_axis(axis, self.ndim), keepdims=bool(keepdims))

    def exp(self) -> Tensor:
        return apply("exp", self)

    def log(self) -> Tensor:
        return apply("log", self)

    def sigmoid(self) -> Tensor:
        return apply("sigmoid", self)

    def softplus(self) -> Tensor:
        """``log(1 + exp(self))``, elementwise, computed without overflow."""
        return apply("softplus", self)

    def tanh(self) -> Tensor:
        return apply("tanh", self)

    def relu(self) -> Tensor:
        return apply("relu", self)

    def abs(self) -> Tensor:
        return apply("abs", self)

    def square(self) -> Tensor:
        return apply("square", self)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """``log(softmax(self))`` along ``axis`` (the last by default), max-shifted so that it
        never overflows."""
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"log_softmax(axis) takes one integer axis, got {axis!r}")
        return apply("log_softmax", self, axis=_normalize_axis(int(axis), self.ndim))

    # ---- differentiation -------------------------------------------------------------------
    def backward(self, grad: object = None, inner_grads: bool = True) -> None:
        """Accumulate ``d self / d node`` into ``node.grad`` for every node of the graph.

        ``grad`` is the seed (shape of ``self``); it may be left out only for a tensor with one
        entry, which is seeded with 1. Calls accumulate; see :meth:`zero_grad`. Only the nodes
        that :func:`needing_grad` finds get a gradient. ``inner_grads=False`` fills ``.grad`` of
        the leaves only (PyTorch's default), so that each inner node's gradient is freed as soon
        as its VJP has run.

        Each leaf's gradient is checked once: when it holds NaN or inf, the pass is run again
        with every VJP's output checked, and :class:`NonFiniteGradientError` names the op and
        node where a finite gradient first turned non-finite. (A NaN that reaches no leaf, such
        as one a ``where`` masks out, raises nothing.)
        """
        seed = self._seed(grad)
        order = topological_order(self)
        needed = needing_grad(order)
        for node, g, owned in reverse_pass(self, seed, order, needed):
            if node.op is None and not all_finite(g):
                for _ in reverse_pass(self, seed, order, needed, check=True):
                    pass  # raises at the VJP that made the first NaN or inf
                kind = "NaN" if np.isnan(g).any() else "inf"
                raise NonFiniteGradientError(
                    f"the gradient of {node.name!r} became {kind}: every gradient sent back to it is "
                    "finite, but their sum overflowed"
                )
            if node.op is not None and not inner_grads:
                continue
            if node.grad is not None:
                node.grad = node.grad + g
            else:  # a leaf's .grad is handed to the caller: an array of its own
                node.grad = g if node.op is not None or owned else np.array(g)

    def _seed(self, grad: object) -> np.ndarray:
        """The seed gradient of :meth:`backward`: ``grad`` checked and copied, or 1."""
        if grad is None:
            if self.size != 1:
                raise ValueError(
                    f"backward() on the non-scalar Tensor {self.name!r} of shape {self.shape} needs an "
                    f"explicit seed gradient: call .backward(grad) with an array of shape {self.shape}, "
                    "or reduce it to a scalar first (e.g. .sum())"
                )
            return np.ones(self.shape, dtype=self.dtype)
        # a copy: the root's .grad must not be the caller's array
        seed = as_float_array(np.array(grad.data if isinstance(grad, Tensor) else grad))
        if seed.shape != self.shape:
            raise ValueError(f"backward(grad): grad has shape {seed.shape}, expected {self.shape}")
        if not np.all(np.isfinite(seed)):
            raise ValueError("backward(grad): the seed gradient holds NaN or inf")
        return seed

    def zero_grad(self) -> None:
        """Set ``.grad = None`` on this tensor and every tensor it was computed from."""
        for node in topological_order(self):
            node.grad = None

    def local_derivative(self, index: int, latex: bool = False, g: str = "g",
                         namer: Callable[[str], str] = str) -> str:
        """The local derivative of this node w.r.t. its parent ``index``, from the op's definition,
        with the parents' names (passed through ``namer``) in place of the placeholders."""
        op = OPS[self.op]
        template = op.latex[index] if latex else op.text[index]
        return fill(template, self, namer, g)


def _normalize_axis(axis: Axis, ndim: int) -> Axis:
    """``axis`` with negative entries made positive; ValueError when out of range."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"axis={axis!r} is out of range for a tensor with {ndim} dimension(s)")
    axes = tuple(sorted(int(a) % ndim for a in axes))
    return axes[0] if isinstance(axis, (int, np.integer)) else axes


def _describe_axis(axis: Axis) -> str:
    if axis is None:
        return "all axes"
    return f"axis {axis}" if isinstance(axis, int) else f"axes {axis}"


def group(name: str) -> str:
    """Parenthesise a name that contains an operator or a space, so formulas stay unambiguous."""
    core = name.removesuffix("^{\\top}")  # a LaTeX transpose W_{2}^{\top} needs no parentheses
    return f"({name})" if any(c in core for c in " +-*/@^") else name


def fill(template: str, node: Tensor, namer: Callable[[str], str] = str, g: str = "g") -> str:
    """Fill an op's formula ``template`` with ``node``'s parents' names and attributes."""
    names = [group(namer(p.name)) for p in node.parents]
    slots = {"<x>": names[0]} if len(names) == 1 else {"<a>": names[0], "<b>": names[1]}
    slots.update({"<g>": g, "<out>": group(namer(node.name))})
    if "p" in node.attrs:
        slots["<p>"] = f"{node.attrs['p']:g}"
    for key in ("stride", "padding"):  # a convolution's, a pair of ints
        if key in node.attrs:
            rows, columns = node.attrs[key]
            slots[f"<{key}>"] = str(rows) if rows == columns else f"({rows}, {columns})"
    if "bandwidth" in node.attrs:  # a JumpReLU's pseudo-derivative
        slots["<eps>"] = f"{node.attrs['bandwidth']:g}"
    if "axis" in node.attrs:
        slots["<axis>"] = _describe_axis(node.attrs["axis"])
        slots["<N>"] = str(reduced_count(node.parents[0].shape, node.attrs["axis"]))
    for slot, value in slots.items():
        template = template.replace(slot, value)
    # A parent that is itself a transpose: (A^T)^T = A.
    return template.replace(r"^{\top}^{\top}", "").replace(".T^T", "")


def apply(op_name: str, *parents: Tensor, **attrs: Any) -> Tensor:
    """Run op ``op_name`` forward on ``parents`` and record the history: the one place that does."""
    op = OPS[op_name]
    data = op.forward(*(p.data for p in parents), **attrs)
    out = Tensor(data)
    out.name = f"{op_name}_{next(_ids)}"
    out.op, out.parents, out.attrs = op_name, parents, attrs
    return out


def reverse_pass(root: Tensor, seed: np.ndarray, order: list[Tensor], needed: set[int],
                 check: bool = False) -> Iterator[tuple[Tensor, np.ndarray, bool]]:
    """The reverse pass from ``root`` (seeded with ``seed``) over ``order`` (its topological order).

    Yields ``(node, g, owned)`` for every node in ``needed``, children before parents: ``g`` is
    the sum of what the node's children sent back, and ``owned`` whether ``g`` is an array no
    one else holds (:func:`fresh`). Then it sends ``g`` back through the node's VJP
    (:func:`input_grads`, which checks each gradient it makes when ``check``), to the parents in
    ``needed`` only, adding into a parent's owned gradient in place.
    """
    pending = {id(root): seed}
    owned = {id(root)}
    for node in reversed(order):
        g = pending.pop(id(node), None) if id(node) in needed else None
        if g is None:  # a constant, or a node whose gradient flows only through constants
            continue
        yield node, g, id(node) in owned
        wanted = tuple(id(parent) in needed for parent in node.parents)
        grads = input_grads(node, g, wanted, check)
        for parent, parent_grad in zip(node.parents, grads):
            if parent_grad is None:
                continue
            previous = pending.get(id(parent))
            made = fresh(parent_grad, node, g, grads)
            if previous is None:
                total = parent_grad
            elif id(parent) in owned:
                previous += parent_grad
                total, made = previous, True
            elif made:  # IEEE addition commutes: the same sum, added into the new array
                parent_grad += previous
                total = parent_grad
            else:
                total, made = previous + parent_grad, True
            pending[id(parent)] = total
            if made:
                owned.add(id(parent))


def needing_grad(order: list[Tensor]) -> set[int]:
    """The ids of the nodes of ``order`` (parents before children) that need a gradient: a leaf
    with ``requires_grad``, and a node with ``requires_grad`` one of whose inputs needs one."""
    needed: set[int] = set()
    for node in order:
        if node.requires_grad and (node.op is None or any(id(p) in needed for p in node.parents)):
            needed.add(id(node))
    return needed


def fresh(grad: np.ndarray, node: Tensor, g: np.ndarray, grads: list[np.ndarray | None]) -> bool:
    """Whether ``node``'s VJP made ``grad`` (one of its outputs ``grads`` for upstream ``g``) as a
    new array that nothing else holds: not ``g`` (which ``node`` holds), not a view (a
    transpose, a broadcast), not a node's data, and not sent to another input as well."""
    return (grad is not g and grad.base is None and grad.flags.writeable and grad is not node.data
            and all(grad is not p.data for p in node.parents) and sum(grad is other for other in grads) == 1)


def all_finite(array: np.ndarray) -> bool:
    """Whether every entry of ``array`` is finite; a broadcast view (a stride of 0, as a ``sum``
    sends back) is checked on the entries it repeats, each once."""
    if array.size == 0:
        return True
    distinct = array[tuple(0 if stride == 0 else slice(None) for stride in array.strides)]
    return bool(np.isfinite(distinct).all())


def input_grads(node: Tensor, g: np.ndarray, wanted: tuple[bool, ...] | None = None,
                check: bool = True) -> list[np.ndarray | None]:
    """The gradients ``node`` sends to each parent for upstream gradient ``g``: the op's VJP,
    un-broadcast to each parent's shape and cast to its dtype.

    ``wanted`` (one flag per parent; all when None) says which parents need a gradient; the
    others get None, and an op with one VJP per input (:attr:`~tinysae.autograd.ops.Op.input_vjps`)
    does not compute theirs. With ``check``, raises :class:`NonFiniteGradientError` naming the op
    and node where a finite ``g`` first turns into NaN or inf (``log`` at 0, ``div`` by 0, ...);
    a gradient that is ``g`` itself, passed on (by ``add``, or ``sub`` to its first input), is
    not checked again.
    """
    if node.op is None:
        return []
    op = OPS[node.op]
    arrays = tuple(p.data for p in node.parents)
    with np.errstate(all="ignore"):
        if wanted is None or all(wanted):
            raw = op.vjp(g, node.data, arrays, node.attrs)
        elif op.input_vjps:
            raw = [vjp(g, node.data, arrays, node.attrs) if want else None
                   for vjp, want in zip(op.input_vjps, wanted)]
        else:
            every = op.vjp(g, node.data, arrays, node.attrs)
            raw = [grad if want else None for grad, want in zip(every, wanted)]
    grads: list[np.ndarray | None] = []
    for index, (parent, parent_grad) in enumerate(zip(node.parents, raw)):
        if parent_grad is None:
            grads.append(None)
            continue
        parent_grad = unbroadcast(np.asarray(parent_grad), parent.shape).astype(parent.dtype, copy=False)
        if check and parent_grad is not g and not all_finite(parent_grad):
            kind = "NaN" if np.isnan(parent_grad).any() else "inf"
            raise NonFiniteGradientError(
                f"the gradient became {kind} in the backward pass of op '{node.op}' at node "
                f"{node.name!r} (= {fill(op.expr, node)}), flowing to its input {parent.name!r}: the "
                f"local derivative {node.local_derivative(index)} is not finite there "
                f"(input range [{parent.data.min():.3g}, {parent.data.max():.3g}])"
            )
        grads.append(parent_grad)
    return grads


def topological_order(root: Tensor) -> list[Tensor]:
    """Every node ``root`` depends on, parents before children, found without recursion."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node.parents if id(p) not in visited)
    return order


# ---- functions (the same ops, called as functions) --------------------------------------------
def _tensor(x: object) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def exp(x: object) -> Tensor:
    """:math:`e^x`, elementwise."""
    return _tensor(x).exp()


def log(x: object) -> Tensor:
    """Natural logarithm, elementwise."""
    return _tensor(x).log()


def sigmoid(x: object) -> Tensor:
    r""":math:`\sigma(x) = 1/(1+e^{-x})`, elementwise, overflow-free."""
    return _tensor(x).sigmoid()


def softplus(x: object) -> Tensor:
    r""":math:`\log(1 + e^x)`, elementwise, overflow-free; derivative :math:`\sigma(x)`."""
    return _tensor(x).softplus()


def tanh(x: object) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return _tensor(x).tanh()


def relu(x: object) -> Tensor:
    """``max(x, 0)``, elementwise; derivative ``[x > 0]`` (0 at the kink)."""
    return _tensor(x).relu()


def absolute(x: object) -> Tensor:
    """``|x|``, elementwise; derivative ``sign(x)`` (0 at the kink)."""
    return _tensor(x).abs()


def square(x: object) -> Tensor:
    """``x * x``, elementwise."""
    return _tensor(x).square()


def log_softmax(x: object, axis: int = -1) -> Tensor:
    r""":math:`x_c - \log\sum_{c'} e^{x_{c'}}` along ``axis``, computed without overflow."""
    return _tensor(x).log_softmax(axis)


def where(condition: object, a: object, b: object) -> Tensor:
    """``a`` where the boolean array ``condition`` holds, else ``b`` (all broadcast together).

    The gradient flows to ``a`` where ``condition`` holds and to ``b`` elsewhere. ``condition``
    is data, not a Tensor: it is not differentiated (this is how TopK keeps its winners).
    """
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
    if cond.dtype != np.bool_:
        raise TypeError(f"where(condition, a, b): condition must be a boolean array, got dtype {cond.dtype}")
    first = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return apply("where", first._lift(a), first._lift(b), mask=cond)


def _bandwidth(bandwidth: object) -> float:
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float, np.floating, np.integer)) \
            or not np.isfinite(bandwidth) or bandwidth <= 0:
        raise ValueError(f"bandwidth must be a positive finite number, got {bandwidth!r}")
    return float(bandwidth)


def jumprelu(z: object, theta: object, bandwidth: float) -> Tensor:
    r"""JumpReLU: :math:`z\,\mathbb{1}[z > \theta]`, elementwise (``theta`` broadcast, one threshold
    per column), the activation of a JumpReLU SAE (Rajamanoharan et al. 2024).

    Its derivative in ``z`` is ``[z > theta]``. In ``theta`` it is 0 almost everywhere (moving
    the threshold a little changes no output, until it crosses a ``z``), which would never train
    the threshold; the VJP uses instead the straight-through pseudo-derivative
    :math:`-\tfrac{\theta}{\varepsilon} K\!\left(\tfrac{z - \theta}{\varepsilon}\right)` with the
    rectangle kernel :math:`K(u) = \mathbb{1}[|u| < \tfrac12]` and ``bandwidth`` :math:`\varepsilon`.
    """
    z = _tensor(z)
    return apply("jumprelu", z, z._lift(theta), bandwidth=_bandwidth(bandwidth))


def step(z: object, theta: object, bandwidth: float) -> Tensor:
    r"""The Heaviside step :math:`\mathbb{1}[z > \theta]`, elementwise: summed, a JumpReLU SAE's L0.

    Its true derivative is 0 almost everywhere, in ``z`` and in ``theta``. The VJP sends 0 to
    ``z`` and to ``theta`` the pseudo-derivative
    :math:`-\tfrac{1}{\varepsilon} K\!\left(\tfrac{z - \theta}{\varepsilon}\right)`: for the
    rectangle kernel, summed over ``z``, it is the central difference of the count
    :math:`\#\{z > \theta\}` with step ``bandwidth`` (Rajamanoharan et al. 2024).
    """
    z = _tensor(z)
    return apply("step", z, z._lift(theta), bandwidth=_bandwidth(bandwidth))


def mask(x: Tensor, keep: object) -> Tensor:
    """``x`` where the boolean array ``keep`` holds, 0 elsewhere: ``where(keep, x, 0)``."""
    return where(keep, x, 0.0)
