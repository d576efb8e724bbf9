"""Hypothesis strategies shared by the whole test suite."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinysae.objective import Objective, init_params
from tinysae.params import Params

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def objectives(draw: st.DrawFn) -> Objective:
    """Any valid Objective: every penalty, activation and output, with moderate weights."""
    penalty = draw(st.sampled_from(["kl", "l1", "none"]))
    activation = "sigmoid" if penalty == "kl" else draw(st.sampled_from(["sigmoid", "relu"]))
    return Objective(
        rho=draw(st.floats(0.01, 0.5)),
        beta=draw(st.floats(0.0, 5.0)),
        # 0 or at least 1e-6: a decay like 1e-95 makes gradients that float32 flushes to 0
        # (a dead relu unit's whole gradient is lambda W1), which no float32 kernel can match
        weight_decay=draw(st.one_of(st.just(0.0), st.floats(1e-6, 1e-2))),
        penalty=penalty,
        activation=activation,
        output=draw(st.sampled_from(["sigmoid", "identity"])),
    )


@st.composite
def problems(
    draw: st.DrawFn, max_m: int = 12, max_n: int = 9, max_k: int = 7, objective: Objective | None = None
) -> tuple[Params, np.ndarray, Objective]:
    """``(params, X, objective)``: a random small problem, shapes from 1 up, data in [0, 1]
    (valid for either output), parameters scaled up from UFLDL's init so activations vary."""
    m = draw(st.integers(1, max_m))
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(1, max_k))
    objective = draw(objectives()) if objective is None else objective
    rng = np.random.default_rng(draw(seeds))
    params = init_params(n, k, seed=rng)
    scale = draw(st.floats(0.5, 3.0))
    params = Params(W1=params.W1 * scale, b1=rng.normal(0, 0.5, k),
                    W2=params.W2 * scale, b2=rng.normal(0, 0.5, n))
    X = rng.uniform(0.0, 1.0, size=(m, n))
    return params, X, objective
