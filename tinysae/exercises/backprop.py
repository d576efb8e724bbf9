r"""The backpropagation exercise: ``loss_and_grad(params, X, objective) -> (loss, grads)``.

The student's five outputs (``loss``, ``dW1 (k, n)``, ``db1 (k,)``, ``dW2 (n, k)``, ``db2 (n,)``)
are compared one by one with the numpy reference backend on three random problems
(``X (m, n)``, sigmoid hidden and output units, KL penalty). :func:`_backprop_variant` recomputes
docs/design.md's forward and backward pass with each known mistake made on purpose, so a wrong output
can be matched to the mistake that produces it; with no match, :func:`_where_to_look` localises
the error from which outputs are wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import expit

from tinysae.backends import numpy_ref
from tinysae.exercises.feedback import (
    Feedback,
    Mistake,
    _as_array,
    _call,
    _compare_outputs,
    _matching_mistake,
    _not_a_function,
    _report,
)
from tinysae.exercises.sparsity import _kl, _s
from tinysae.objective import Objective, init_params
from tinysae.params import Params

__all__ = ["BACKPROP_MISTAKES", "BACKPROP_OUTPUTS", "check_backprop"]

BACKPROP_OUTPUTS = ("loss", "dW1", "db1", "dW2", "db2")

BACKPROP_MISTAKES = [
    Mistake("sparsity_no_1_over_m", "did you forget the 1/m in beta * s / m? rho_hat is a mean over the "
            "m samples, so d rho_hat_j / d H[i, j] = 1/m"),
    Mistake("sparsity_missing", "D2 has no sparsity term: D2 = (D3 W2 + beta * s / m) * f'(Z2); the "
            "KL penalty also sends gradient to H through rho_hat"),
    Mistake("sparsity_negated", "the sparsity term's sign: s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)"),
    Mistake("sparsity_outside_derivative", "both terms of dJ/dH go through f'(Z2): "
            "D2 = (D3 W2 + beta * s / m) * f'(Z2), not D3 W2 * f'(Z2) + beta * s / m"),
    Mistake("no_hidden_derivative", "did you forget f'(Z2) = H * (1 - H) in D2?"),
    Mistake("hidden_derivative_of_Z", "f'(Z2) = H * (1 - H) uses the activation H = sigmoid(Z2), not Z2"),
    Mistake("no_output_derivative", "did you forget g'(Z3) = Xhat * (1 - Xhat) in D3?"),
    Mistake("output_derivative_of_Z", "g'(Z3) = Xhat * (1 - Xhat) uses the output Xhat = sigmoid(Z3), "
            "not Z3"),
    Mistake("error_sign", "the error is Xhat - X (the derivative of (Xhat - X)^2 / 2 with respect to "
            "Xhat), not X - Xhat"),
    Mistake("d3_no_1_over_m", "did you forget the 1/m in D3 = (Xhat - X) * g'(Z3) / m? the "
            "reconstruction term is 1/(2m) sum ||Xhat - X||^2"),
    Mistake("dW2_uses_Z2", "dW2 = D3^T H multiplies by the activations H = f(Z2), not by Z2"),
    Mistake("no_decay_gradient", "did you forget + lambda W in dW1 and dW2? weight decay "
            "lambda/2 ||W||^2 has gradient lambda W"),
    Mistake("decay_on_biases", "weight decay applies to W1 and W2 only: db1 = sum_i D2 and db2 = sum_i D3, "
            "with no lambda b"),
    Mistake("bias_mean", "db1 = sum_i D2 and db2 = sum_i D3 are sums over samples (the 1/m is already "
            "inside D3), not means"),
    Mistake("loss_no_half", "the reconstruction term is 1/(2m) sum ||Xhat - X||^2: "
            "did you forget the 1/2?"),
    Mistake("loss_no_1_over_m", "the reconstruction term is 1/(2m) sum ||Xhat - X||^2: "
            "did you forget the 1/m?"),
    Mistake("loss_mean_over_entries", "the reconstruction term averages over the m samples only: "
            "np.mean over the whole matrix divides by m n; use np.sum(...) / (2 m)"),
    Mistake("loss_decay_no_half", "weight decay is lambda/2 (||W1||^2 + ||W2||^2): did you forget the 1/2?"),
    Mistake("loss_no_decay", "the loss is missing weight decay lambda/2 (||W1||^2 + ||W2||^2)"),
    Mistake("loss_no_beta", "the sparsity term is beta * sum_j KL(rho || rho_hat_j): did you forget beta?"),
    Mistake("loss_no_sparsity", "the loss is missing the sparsity term beta * sum_j KL(rho || rho_hat_j)"),
]


def _backprop_variant(params: Params, X: np.ndarray, objective: Objective,
                      mistake: str | None = None) -> dict[str, np.ndarray]:
    """docs/design.md's forward and backward pass (sigmoid f and g, KL penalty), with one known
    ``mistake`` made on purpose (``None``: no mistake, the reference). Returns the five outputs."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    rho, beta, lam = objective.rho, objective.beta, objective.weight_decay

    Z2 = X @ W1.T + b1
    H = expit(Z2)
    rho_hat = H.mean(axis=0)
    Z3 = H @ W2.T + b2
    Xhat = expit(Z3)

    reconstruction = np.sum((Xhat - X) ** 2) / (2 * m)
    if mistake == "loss_no_half":
        reconstruction = np.sum((Xhat - X) ** 2) / m
    if mistake == "loss_no_1_over_m":
        reconstruction = np.sum((Xhat - X) ** 2) / 2
    if mistake == "loss_mean_over_entries":
        reconstruction = np.mean((Xhat - X) ** 2) / 2
    decay = lam / 2 * (np.sum(W1**2) + np.sum(W2**2))
    if mistake == "loss_decay_no_half":
        decay = 2 * decay
    if mistake == "loss_no_decay":
        decay = 0.0
    sparsity = beta * np.sum(_kl(rho, rho_hat))
    if mistake == "loss_no_beta":
        sparsity = sparsity / beta
    if mistake == "loss_no_sparsity":
        sparsity = 0.0
    loss = reconstruction + decay + sparsity

    error = X - Xhat if mistake == "error_sign" else Xhat - X
    g_prime = Xhat * (1 - Xhat)
    if mistake == "no_output_derivative":
        g_prime = 1.0
    if mistake == "output_derivative_of_Z":
        g_prime = Z3 * (1 - Z3)
    D3 = error * g_prime if mistake == "d3_no_1_over_m" else error * g_prime / m

    sparsity_at_H = beta * _s(rho, rho_hat) / m
    if mistake == "sparsity_no_1_over_m":
        sparsity_at_H = beta * _s(rho, rho_hat)
    if mistake == "sparsity_missing":
        sparsity_at_H = 0.0
    if mistake == "sparsity_negated":
        sparsity_at_H = -sparsity_at_H
    f_prime = H * (1 - H)
    if mistake == "no_hidden_derivative":
        f_prime = 1.0
    if mistake == "hidden_derivative_of_Z":
        f_prime = Z2 * (1 - Z2)
    D2 = (D3 @ W2 + sparsity_at_H) * f_prime
    if mistake == "sparsity_outside_derivative":
        D2 = (D3 @ W2) * f_prime + sparsity_at_H

    dW2 = D3.T @ (Z2 if mistake == "dW2_uses_Z2" else H) + lam * W2
    dW1 = D2.T @ X + lam * W1
    db2, db1 = D3.sum(axis=0), D2.sum(axis=0)
    if mistake == "no_decay_gradient":
        dW1, dW2 = dW1 - lam * W1, dW2 - lam * W2
    if mistake == "decay_on_biases":
        db1, db2 = db1 + lam * b1, db2 + lam * b2
    if mistake == "bias_mean":
        db1, db2 = db1 / m, db2 / m
    return {"loss": np.asarray(loss), "dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def _backprop_cases() -> list[tuple[Params, np.ndarray, Objective, str]]:
    """Three small problems with distinct m, n, k (a transpose shows), random biases, m > 1 and
    beta != 1 (so a missing 1/m or beta shows) and weight decay large enough to matter."""
    rng = np.random.default_rng(5)
    settings = [((6, 5, 3), Objective(rho=0.1, beta=3.0, weight_decay=1e-3)),
                ((9, 4, 7), Objective(rho=0.05, beta=0.5, weight_decay=0.1)),
                ((4, 8, 2), Objective(rho=0.2, beta=2.0, weight_decay=0.01))]
    cases = []
    for (m, n, k), objective in settings:
        start = init_params(n, k, seed=rng)
        params = Params(W1=start.W1 * 2, b1=rng.normal(0, 0.5, k), W2=start.W2 * 2, b2=rng.normal(0, 0.5, n))
        X = rng.uniform(0.0, 1.0, size=(m, n))
        description = (f"X of shape ({m}, {n}), k = {k} hidden units, rho = {objective.rho}, "
                       f"beta = {objective.beta}, lambda = {objective.weight_decay}")
        cases.append((params, X, objective, description))
    return cases


def _parse_backprop(value: object) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """The student's ``(loss, grads)`` as the five named outputs, or a message saying what is wrong.

    ``grads`` may be a :class:`Params`, a dict keyed ``dW1``... or ``W1``..., or four arrays in the
    order ``dW1, db1, dW2, db2``."""
    if value is None:
        return None, "your function returned None: did you forget `return loss, grads`?"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None, f"return a pair (loss, grads); got {type(value).__name__}"
    loss, grads = value
    if isinstance(grads, Params):
        arrays = [grads[name] for name in ("W1", "b1", "W2", "b2")]
    elif isinstance(grads, dict):
        keys = [name for name in ("dW1", "db1", "dW2", "db2") if name in grads]
        keys = keys if len(keys) == 4 else [name for name in ("W1", "b1", "W2", "b2") if name in grads]
        if len(keys) != 4:
            return None, f"grads has keys {sorted(grads)}; expected dW1, db1, dW2, db2"
        arrays = [grads[key] for key in keys]
    elif isinstance(grads, (tuple, list)) and len(grads) == 4:
        arrays = list(grads)
    else:
        return None, ("grads must be a tinysae.Params, a dict with keys dW1, db1, dW2, db2, or the "
                      f"four arrays (dW1, db1, dW2, db2); got {type(grads).__name__}")
    outputs = {}
    for name, raw in zip(BACKPROP_OUTPUTS, [loss, *arrays]):
        array, problem = _as_array(raw, name)
        if problem is not None:
            return None, problem
        outputs[name] = array.reshape(()) if name == "loss" and array.size == 1 else array
    return outputs, None


def _where_to_look(wrong: list[str]) -> str:
    """A hint localising an unrecognised error from which outputs are wrong."""
    grads = [name for name in wrong if name != "loss"]
    if not grads:
        return ("the gradients are right but the loss is not: check its three terms, 1/(2m) sum "
                "||Xhat - X||^2 + lambda/2 (||W1||^2 + ||W2||^2) + beta sum_j KL(rho || rho_hat_j)")
    if set(grads) <= {"dW1", "db1"}:
        return ("dW2 and db2 are right, so D3 is right: the error is in D2 = (D3 W2 + beta * s / m) * "
                "f'(Z2) or in dW1 = D2^T X + lambda W1, db1 = sum_i D2")
    if set(grads) <= {"db1", "db2"}:
        return "the weights' gradients are right: db = D.sum(axis=0), the sum of the deltas over samples"
    if set(grads) <= {"dW1", "dW2"}:
        return "the biases' gradients are right: look at what dW1 and dW2 add to D^T (input): + lambda W"
    return "start from D3 = (Xhat - X) * g'(Z3) / m: every gradient depends on it"


def _backprop_hint(params: Params, X: np.ndarray, objective: Objective, outputs: dict[str, np.ndarray],
                   expected: dict[str, np.ndarray], wrong: list[str]) -> tuple[str, str | None]:
    """The hint for the wrong outputs, and the keys of the known mistakes they match.

    Each wrong output is compared with the same output of every known mistake; each mistake
    found is listed once with the outputs it explains. With no match, the hint localises the
    error from which outputs are wrong (:func:`_where_to_look`)."""
    with np.errstate(all="ignore"):
        variants = {mistake.key: _backprop_variant(params, X, objective, mistake.key)
                    for mistake in BACKPROP_MISTAKES}
    explained: dict[str, list[str]] = {}
    for name in wrong:
        candidates = [(mistake, variants[mistake.key][name]) for mistake in BACKPROP_MISTAKES]
        mistake = _matching_mistake(outputs[name], expected[name], candidates)
        if mistake is not None:
            explained.setdefault(mistake.key, []).append(name)
    if not explained:
        return _where_to_look(wrong), None
    hints = {mistake.key: mistake.hint for mistake in BACKPROP_MISTAKES}
    text = "; ".join(f"({', '.join(names)}) {hints[key]}" for key, names in explained.items())
    return text, ", ".join(explained)


def check_backprop(student_loss_and_grad: Callable[[Params, np.ndarray, Objective], tuple],
                   verbose: bool = True) -> Feedback:
    r"""Check ``student_loss_and_grad(params, X, objective) -> (loss, grads)`` against the
    reference backend on three random problems, output by output (``loss``, ``dW1``, ``db1``,
    ``dW2``, ``db2``).

    The objective is the classic one (sigmoid hidden and output units, KL penalty) with varying
    ``rho``, ``beta`` and ``lambda``; ``params`` is a :class:`~tinysae.objective.Params`
    (``W1 (k, n)``, ``b1 (k,)``, ``W2 (n, k)``, ``b2 (n,)``), ``X (m, n)``; ``grads`` may be a
    :class:`Params`, a dict keyed ``dW1, db1, dW2, db2`` or those four arrays in that order.
    """
    exercise = "loss_and_grad (backprop)"
    if not callable(student_loss_and_grad):
        return _report(_not_a_function(exercise, student_loss_and_grad), verbose)
    worst = dict.fromkeys(BACKPROP_OUTPUTS, 0.0)
    cases = _backprop_cases()
    for number, (params, X, objective, description) in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)}: {description}"
        X_before = X.copy()
        value, raised = _call(student_loss_and_grad, (params.copy(), X, objective))
        if raised is not None:
            message, hint = raised
            return _report(Feedback(exercise, False, [where, message], hint=hint), verbose)
        if not np.array_equal(X, X_before):
            return _report(Feedback(exercise, False, [where, "your function changed X in place"],
                                    hint="compute on a copy; never modify the data"), verbose)
        outputs, problem = _parse_backprop(value)
        if problem is not None:
            return _report(Feedback(exercise, False, [where, problem]), verbose)
        loss, grads = numpy_ref.loss_and_grad(params, X, objective)
        expected = dict(zip(BACKPROP_OUTPUTS, [np.asarray(loss), *grads.values()]))
        lines, wrong = _compare_outputs(outputs, expected, worst)
        if wrong:
            hint, mistakes = _backprop_hint(params, X, objective, outputs, expected, wrong)
            return _report(Feedback(exercise, False, [where, *lines], hint=hint, mistake=mistakes,
                                    errors=worst), verbose)
    return _report(Feedback(exercise, True, errors=worst), verbose)
