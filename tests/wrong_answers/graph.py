"""Plausible wrong answers to lesson 0's engine exercises (:mod:`tinysae.exercises.graph`).

Two per checker: ``matmul_vjp(g, A, B) -> (dA, dB)`` for ``C = A @ B``; ``topological_order(root)``,
every tensor ``root`` depends on, each once and after its ``.parents``; ``unbroadcast(grad, shape)``,
the gradient summed back to the shape of an input numpy broadcast up to ``grad.shape``.
"""

from __future__ import annotations

import numpy as np

from . import WrongAnswer


def matmul_vjp_dB_transposed(g: np.ndarray, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dB = g^T A`` (k, n): the product of the right factors in the wrong order, B's shape transposed."""
    return g @ B.T, g.T @ A


def matmul_vjp_without_g(g: np.ndarray, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradients of ``sum(A @ B)``: the local derivatives alone, as if every entry of ``g`` were 1."""
    ones = np.ones((A.shape[0], B.shape[1]))
    return ones @ B.T, A.T @ ones


def topological_order_preorder(root: object) -> list:
    """Depth first with a visited set, but each node appended *before* its parents are visited."""
    order, visited = [], set()

    def visit(node: object) -> None:
        if id(node) in visited:
            return
        visited.add(id(node))
        order.append(node)
        for parent in node.parents:
            visit(parent)

    visit(root)
    return order


def topological_order_without_visited(root: object) -> list:
    """Depth first, parents first, but without remembering the nodes already listed."""
    order = []

    def visit(node: object) -> None:
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


def unbroadcast_leading_axes_only(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums away the extra leading axes and stops: the axes where the input had length 1 stay."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    return grad


def unbroadcast_averaged(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Averages the copies (``mean`` where ``sum`` is needed) over the leading and the length-1 axes."""
    while grad.ndim > len(shape):
        grad = grad.mean(axis=0)
    for axis, size in enumerate(shape):
        if size == 1:
            grad = grad.mean(axis=axis, keepdims=True)
    return grad


WRONG_ANSWERS = [
    WrongAnswer(checker="check_matmul_vjp", title="dB transposed: g^T A instead of A^T g",
                function=matmul_vjp_dB_transposed, mistake="dB_transposed"),
    WrongAnswer(checker="check_matmul_vjp", title="the upstream gradient g left out",
                function=matmul_vjp_without_g, mistake="ignores_g"),
    WrongAnswer(checker="check_topological_order", title="a depth-first search that appends a node before "
                "its parents", function=topological_order_preorder, mistake="reversed"),
    WrongAnswer(checker="check_topological_order", title="a depth-first search without a visited set",
                function=topological_order_without_visited, mistake="repeats"),
    WrongAnswer(checker="check_unbroadcast", title="only the new leading axes summed",
                function=unbroadcast_leading_axes_only, mistake="leading_only"),
    WrongAnswer(checker="check_unbroadcast", title="the copies averaged instead of summed",
                function=unbroadcast_averaged, mistake="mean"),
]
