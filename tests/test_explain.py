"""``explain`` and the ``tinysae explain`` demo: paths, sums, numbers and rendering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinysae.autograd import OPS, Derivation, Tensor, explain
from tinysae.autograd.explain import latex_name
from tinysae.backends import autograd_backend
from tinysae.derivation import SparsityDerivation, sparsity_derivation
from tinysae.objective import Objective


def _close(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a + b), 1e-300))


@pytest.fixture(scope="module")
def demo() -> SparsityDerivation:
    return sparsity_derivation()


def test_sparsity_gradient_has_a_reconstruction_and_a_sparsity_path_meeting_at_H(demo) -> None:
    paths = demo.derivation.paths
    assert all(p.nodes[0] == "J" and p.nodes[-1] == "Z2" for p in paths)
    reconstruction = [p for p in paths if "Z3" in p.nodes]
    sparsity = [p for p in paths if "rho_hat" in p.nodes]
    assert len(reconstruction) == 1 and len(sparsity) == 2  # the KL's two logs both reach rho_hat
    assert len(paths) == 3
    assert reconstruction[0].nodes[-5:] == ["Xhat", "Z3", "H @ W2.T", "H", "Z2"]
    assert all(p.nodes[-3:] == ["rho_hat", "H", "Z2"] for p in sparsity)
    at_H = next(m for m in demo.derivation.meetings if m.node == "H")
    assert sorted(step.child for step in at_H.branches) == ["H @ W2.T", "rho_hat"]
    assert {p.label.split(",")[0] for p in paths} == {"reconstruction", "sparsity"}


def test_final_gradient_is_the_engines_grad_and_the_sum_of_the_paths(demo) -> None:
    d = demo.derivation
    assert _close(d.gradient, demo.engine_grad) < 1e-14
    assert _close(sum(p.gradient for p in d.paths), demo.engine_grad) < 1e-14
    at_H = next(m for m in d.meetings if m.node == "H")
    assert _close(sum(step.grad for step in at_H.branches), at_H.total) < 1e-15


def test_steps_are_generated_from_the_op_definitions(demo) -> None:
    for path in demo.derivation.paths:
        assert len(path.steps) == len(path.nodes) - 1
        for step, child, node in zip(path.steps, path.nodes, path.nodes[1:]):
            assert (step.child, step.node) == (child, node)
            assert step.op in OPS
    last = demo.derivation.paths[0].steps[-1]
    assert (last.op, last.derivative) == ("sigmoid", "sigmoid(Z2) * (1 - sigmoid(Z2))")
    assert last.derivative_latex == r"\sigma(Z_{2})\,(1-\sigma(Z_{2}))"
    mean_step = next(s for s in demo.derivation.paths[1].steps if s.op == "mean")
    assert mean_step.derivative == f"g / N copied along axis 0 (N = {demo.m})"
    assert mean_step.upstream.shape == (demo.k,) and mean_step.grad.shape == (demo.m, demo.k)


@settings(max_examples=15)
@given(m=st.integers(1, 8), n=st.integers(1, 6), k=st.integers(1, 5), seed=st.integers(0, 10**6),
       rho=st.floats(0.01, 0.5), beta=st.floats(0.0, 5.0), output=st.sampled_from(["sigmoid", "identity"]))
def test_demo_matches_the_closed_form(m, n, k, seed, rho, beta, output) -> None:
    result = sparsity_derivation(m, n, k, seed, Objective(rho=rho, beta=beta, output=output))
    assert result.relative_error < 1e-12
    assert result.reconstruction_error < 1e-12
    assert result.sparsity_error < 1e-12 or beta == 0.0


def test_demo_renders_as_text_and_latex(demo) -> None:
    text = str(demo)
    for expected in ("path 1 (reconstruction)", "path 2 (sparsity", "paths meet at H",
                     "dJ/dH  = D3 W2 + beta * s / m", "= D2", "engine vs closed form: relative error"):
        assert expected in text
    latex = demo.latex()
    assert latex.startswith("\\begin{aligned}") and latex.endswith("\\end{aligned}")
    assert latex.count("{") == latex.count("}")
    assert r"\hat{\rho}" in latex and r"\frac{\beta}{m}" in latex
    assert demo._repr_latex_().startswith("$$")
    assert str(demo) == str(sparsity_derivation())  # same seed, same text


def test_demo_refuses_non_kl_objectives() -> None:
    with pytest.raises(ValueError, match="penalty='kl'"):
        sparsity_derivation(objective=Objective(penalty="l1"))
    with pytest.raises(ValueError, match="m must be >= 1"):
        sparsity_derivation(m=0)


@settings(max_examples=25)
@given(x=st.lists(st.floats(-2, 2), min_size=1, max_size=4), seed=st.integers(0, 1000))
def test_explain_of_a_small_graph_counts_paths_and_matches_backward(x, seed) -> None:
    w = np.random.default_rng(seed).normal(size=len(x))
    t = Tensor(np.array(x), name="x")
    h = (t * t).named("h")  # two edges from x to h
    y = (h.sigmoid() * w + h * t).sum().named("y")  # h reached twice, x once more directly
    d = explain(y, t)
    y.backward()
    assert isinstance(d, Derivation)
    assert len(d.paths) == 2 * 2 + 1
    assert _close(d.gradient, t.grad) < 1e-14
    assert _close(sum(p.gradient for p in d.paths), t.grad) < 1e-13
    assert {m.node for m in d.meetings} == {"x", "h"}
    text, latex = str(d), d.latex()
    assert "path 5" in text and "paths meet at h" in text and latex.count("{") == latex.count("}")


def test_explain_errors() -> None:
    x, other = Tensor(np.ones(3), name="x"), Tensor(np.ones(3), name="other")
    y = x.exp().sum()
    with pytest.raises(ValueError, match="not part of the graph"):
        explain(y, other)
    with pytest.raises(ValueError, match="shape"):
        explain(x.exp(), x)
    chain = x
    for _ in range(8):
        chain = chain * chain
    with pytest.raises(ValueError, match="max_paths"):
        explain(chain.sum(), x)


def test_node_names_automatic_and_given() -> None:
    x = Tensor(np.ones(2), name="W1")
    y = x.sigmoid()
    assert y.name.startswith("sigmoid_") and y.auto_named
    assert explain(y.sum(), x).paths[0].nodes == ["sum_1", "sigmoid_1", "W1"]
    assert y.named("H") is y and y.name == "H"
    nodes = autograd_backend.build_graph(*_tiny_problem())
    assert {"X", "W1", "b1", "Z2", "H", "rho_hat", "W2", "b2", "Z3", "Xhat", "J"} <= set(nodes)
    # every node is named by its key; the targets T, when they are the inputs, are X itself
    assert all(node.name == name or (name == "T" and node is nodes["X"]) for name, node in nodes.items())


def _tiny_problem():
    from tinysae.objective import init_params

    rng = np.random.default_rng(0)
    return init_params(3, 2, seed=0), rng.uniform(size=(4, 3)), Objective()


@pytest.mark.parametrize("name, expected", [
    ("W1", "W_{1}"), ("rho_hat", r"\hat{\rho}"), ("Xhat", r"\hat{X}"), ("W2.T", r"W_{2}^{\top}"),
    ("Xhat - X", r"\hat{X} - X"), ("KL", r"\mathrm{KL}"), ("0.05", "0.05"),
    ("weight_decay", r"\mathrm{weight\_decay}"),
])
def test_latex_names(name: str, expected: str) -> None:
    assert latex_name(name) == expected
