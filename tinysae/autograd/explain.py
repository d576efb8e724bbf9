r"""``explain(output, wrt)``: the chain rule, step by step, generated from the ops' definitions.

The gradient of ``output`` with respect to any node ``wrt`` of its graph is a sum over paths:

.. math::

    \frac{\partial J}{\partial w} = \sum_{\text{paths } J = v_0 \to v_1 \to \dots \to v_L = w}
        \mathrm{vjp}_{v_{L-1}} \circ \dots \circ \mathrm{vjp}_{v_0}(1).

:func:`explain` lists every path, and along each one every step: the node receiving the
gradient, the op it flows back through, that op's local derivative (the ``text``/``latex`` of
its entry in :data:`~tinysae.autograd.ops.OPS`, filled with node names), and the upstream
gradient's shape and first entries, computed by the engine's own :func:`input_grads`. Where
paths meet, it shows the sum. The final gradient is the engine's ``wrt.grad``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tinysae.autograd.ops import OPS
from tinysae.autograd.tensor import Tensor, as_float_array, fill, group, input_grads, topological_order

_GREEK = {"alpha", "beta", "gamma", "delta", "lambda", "mu", "rho", "sigma", "theta", "epsilon"}


def latex_name(name: str) -> str:
    r"""A node name as LaTeX: ``W1`` -> ``W_{1}``, ``rho_hat`` -> ``\hat{\rho}``, ``Xhat`` ->
    ``\hat{X}``, ``W2.T`` -> ``W_{2}^{\top}``, anything else upright (``\mathrm{KL}``); a name
    with operators (``"Xhat - X"``, ``"H @ W2.T"``) is written token by token."""
    if any(c in name for c in " +-*/@") and not re.fullmatch(r"-?[0-9.eE+-]+", name):
        tokens = re.sub(r"[A-Za-z_][A-Za-z0-9_.]*|[0-9.]+", lambda t: latex_name(t.group()), name)
        return tokens.replace(" @ ", r"\,").replace("*", r"\cdot")
    if name.endswith(".T"):
        return latex_name(name[:-2]) + r"^{\top}"
    if name.endswith("_hat") or (name.endswith("hat") and len(name) > 3):
        return r"\hat{" + latex_name(name.removesuffix("hat").removesuffix("_")) + "}"
    if re.fullmatch(r"-?[0-9.eE+-]+", name):
        return name
    match = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if match:
        return f"{latex_name(match.group(1))}_{{{match.group(2)}}}"
    if name in _GREEK:
        return "\\" + name
    if len(name) == 1:
        return name
    return r"\mathrm{" + name.replace("_", r"\_").replace(" ", r"\ ") + "}"


def sample(array: np.ndarray, count: int = 3) -> str:
    """The first ``count`` entries of ``array``, e.g. ``[0.0123, -0.456, 0.789, ...]``."""
    flat = np.ravel(array)
    shown = ", ".join(f"{v:.4g}" for v in flat[:count])
    return f"[{shown}{', ...' if flat.size > count else ''}]"


@dataclass
class Step:
    """One chain-rule step of a path: ``dJ/d node`` from ``dJ/d child`` through ``child``'s op."""

    node: str
    child: str
    op: str
    derivative: str
    derivative_latex: str
    equation: str
    equation_latex: str
    upstream: np.ndarray
    grad: np.ndarray


@dataclass
class Path:
    """One path from the output to ``wrt``: its nodes and steps; ``gradient`` is its share."""

    nodes: list[str]
    steps: list[Step]
    gradient: np.ndarray
    label: str = ""


@dataclass
class Meeting:
    """A node where paths meet: its gradient is the sum of what each child sends back."""

    node: str
    branches: list[Step]  # one per child; ``step.grad`` is what that child sends back
    total: np.ndarray


@dataclass
class Derivation:
    """The chain rule from ``output`` to ``wrt`` along every path; prints as a table, renders as math."""

    output: str
    wrt: str
    paths: list[Path]
    meetings: list[Meeting]
    gradient: np.ndarray

    def d(self, node: str, latex: bool = False) -> str:
        """The symbol ``dJ/dnode`` (or its LaTeX fraction)."""
        if latex:
            return rf"\frac{{\partial {latex_name(self.output)}}}{{\partial {group(latex_name(node))}}}"
        return f"d{self.output}/d{group(node)}"

    def path_line(self, path: Path) -> str:
        return " <- ".join(group(n) for n in path.nodes)

    def __str__(self) -> str:
        lines = [f"{self.d(self.wrt)} by the chain rule: {len(self.paths)} path(s) from {self.output} "
                 f"to {self.wrt} (g = the gradient arriving from the step above; each path's share)"]
        for number, path in enumerate(self.paths, start=1):
            label = f" ({path.label})" if path.label else ""
            lines.append(f"path {number}{label}: {self.path_line(path)}")
            rows = [("step", "gradient at", "via op", "local derivative", "upstream shape",
                     "upstream sample")]
            for i, step in enumerate(path.steps, start=1):
                rows.append((str(i), step.node, f"{step.op} ({step.child})", step.derivative,
                             str(step.upstream.shape), sample(step.upstream)))
            widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
            for row in rows:
                lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
            lines.append(f"  path {number} adds to {self.d(self.wrt)}: shape {path.gradient.shape}, "
                         f"sample {sample(path.gradient)}")
        for meeting in self.meetings:
            parts = " + ".join(f"[{step.equation}]" for step in meeting.branches)
            lines.append(f"paths meet at {meeting.node}: {self.d(meeting.node)} = {parts}")
            lines.append(f"  = {sample(meeting.total)}, shape {meeting.total.shape}")
        lines.append(f"{self.d(self.wrt)}: shape {self.gradient.shape}, sample {sample(self.gradient)}")
        return "\n".join(lines)

    def latex(self) -> str:
        """The derivation as one LaTeX ``aligned`` block (one equation per step)."""
        return "\\begin{aligned}\n" + "\n".join(self.latex_rows()) + "\n\\end{aligned}"

    def latex_rows(self) -> list[str]:
        """The rows of :meth:`latex`, each ending in ``\\\\``, for callers that add their own."""
        rows = []
        for number, path in enumerate(self.paths, start=1):
            label = f" ({path.label})".replace("_", r"\_") if path.label else ""
            chain = r" \leftarrow ".join(group(latex_name(n)) for n in path.nodes)
            rows.append(rf"&\text{{path {number}{label}: }} {chain} \\")
            rows += [rf"{self.d(s.node, True)} &= {s.equation_latex} \\" for s in path.steps]
        for meeting in self.meetings:
            parts = " + ".join(rf"\left[{step.equation_latex}\right]" for step in meeting.branches)
            rows.append(rf"\text{{paths meet: }} {self.d(meeting.node, True)} &= {parts} \\")
        return rows

    def _repr_latex_(self) -> str:
        return f"$$\n{self.latex()}\n$$"


def _step(child: Tensor, index: int, upstream: np.ndarray, grad: np.ndarray, output: str) -> Step:
    """The step from ``child`` back to its parent ``index``, worded from the op's definition."""
    op = OPS[child.op]
    node = child.parents[index].name
    g_text = f"d{output}/d{group(child.name)}"
    g_latex = rf"\frac{{\partial {latex_name(output)}}}{{\partial {group(latex_name(child.name))}}}"
    text = child.local_derivative(index)
    tex = child.local_derivative(index, latex=True, namer=latex_name)
    if not op.elementwise:
        equation = fill(op.text[index], child, str, g_text)
        equation_latex = fill(op.latex[index], child, latex_name, g_latex)
    elif text in ("1", "-1"):
        equation, equation_latex = f"{text[:-1]}{g_text}", f"{text[:-1]}{g_latex}"
    else:
        equation, equation_latex = f"{g_text} * {text}", rf"{g_latex} \odot \left({tex}\right)"
    return Step(node, child.name, child.op, text, tex, equation, equation_latex, upstream, grad)


def explain(output: Tensor, wrt: Tensor, grad: object = None, max_paths: int = 64) -> Derivation:
    """The chain rule from ``output`` to ``wrt`` (any node of its graph) along every path.

    ``grad`` seeds ``output`` as in :meth:`Tensor.backward` (1 for a one-entry output).
    Automatically named nodes are renamed ``<op>_1, <op>_2, ...`` in topological order. Raises
    ValueError when ``wrt`` is not in ``output``'s graph, or when there are more than
    ``max_paths`` paths (explain a smaller piece of the graph instead).
    """
    if not isinstance(output, Tensor) or not isinstance(wrt, Tensor):
        raise TypeError(f"explain(output, wrt) takes two Tensors, got {type(output).__name__} "
                        f"and {type(wrt).__name__}")
    if grad is None and output.size != 1:
        raise ValueError(f"explain: output {output.name!r} has shape {output.shape}; pass grad= "
                         "(its seed gradient) or explain a scalar")
    seed = np.ones(output.shape, output.dtype) if grad is None else as_float_array(grad)
    order = topological_order(output)
    _renumber_auto_names(order)
    relevant = {id(wrt)}
    for node in order:
        if any(id(p) in relevant for p in node.parents):
            relevant.add(id(node))
    if id(output) not in relevant:
        raise ValueError(f"explain: {wrt.name!r} is not part of the graph that computes {output.name!r}")

    # Full gradients on the relevant subgraph, remembering what each child sends to each node.
    pending: dict[int, np.ndarray] = {id(output): seed}
    incoming: dict[int, list[Step]] = {}
    meetings = []
    for node in reversed(order):
        if id(node) not in relevant:
            continue
        g = pending.pop(id(node))
        if len(incoming.get(id(node), [])) > 1:
            meetings.append(Meeting(node.name, incoming[id(node)], g))
        if node is wrt:
            gradient = g
            continue
        for index, (parent, parent_grad) in enumerate(zip(node.parents, input_grads(node, g))):
            if id(parent) in relevant:
                previous = pending.get(id(parent))
                pending[id(parent)] = parent_grad if previous is None else previous + parent_grad
                incoming.setdefault(id(parent), []).append(_step(node, index, g, parent_grad, output.name))

    # Every path, found with an explicit stack; a path is a linked list of (child, index) edges.
    paths = []
    stack: list[tuple[Tensor, tuple | None]] = [(output, None)]
    while stack:
        node, link = stack.pop()
        if node is wrt:
            edges = []
            while link is not None:
                edges.append(link[0])
                link = link[1]
            paths.append(_walk(output, seed, edges[::-1]))
            if len(paths) > max_paths:
                raise ValueError(f"explain: more than max_paths={max_paths} paths from {output.name!r} "
                                 f"to {wrt.name!r}; explain a node closer to {wrt.name!r} or raise max_paths")
            continue
        for index in reversed(range(len(node.parents))):
            if id(node.parents[index]) in relevant:
                stack.append((node.parents[index], ((node, index), link)))
    return Derivation(output.name, wrt.name, paths, meetings, gradient)


def _renumber_auto_names(order: list[Tensor]) -> None:
    """Rename automatically named nodes ``<op>_<i>``, counting per op in topological order, so
    the same graph always reads the same (user-given names are kept)."""
    counts: dict[str, int] = {}
    for node in order:
        if node.auto_named:
            kind = node.op or node.name.rsplit("_", 1)[0]  # leaves: "t" or "const"
            counts[kind] = counts.get(kind, 0) + 1
            node.name = f"{kind}_{counts[kind]}"


def _walk(output: Tensor, seed: np.ndarray, edges: list[tuple[Tensor, int]]) -> Path:
    """One path's steps: the VJPs along ``edges`` applied to ``seed``."""
    g, steps, nodes = seed, [], [output.name]
    for child, index in edges:
        parent_grad = input_grads(child, g)[index]
        steps.append(_step(child, index, g, parent_grad, output.name))
        nodes.append(child.parents[index].name)
        g = parent_grad
    return Path(nodes, steps, g)
