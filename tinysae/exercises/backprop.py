r"""The searching checker of the backpropagation exercise: ``loss_and_grad(params, X, objective)``.

The student returns ``(loss, grads)``: the classic objective's value (reconstruction, weight
decay and KL sparsity terms; sigmoid hidden and output units) and its gradient with respect to
each parameter, ``dW1 (k, n)``, ``db1 (k,)``, ``dW2 (n, k)``, ``db2 (n,)``, for
``params = (W1 (k, n), b1 (k,), W2 (n, k), b2 (n,))`` and ``X (m, n)`` in [0, 1]. The reference
is the numpy backend (:func:`tinysae.backends.numpy_ref.loss_and_grad`).

The search (:mod:`tinysae.exercises.search`) draws small problems, ``m``, ``n``, ``k`` from 1 (a
single sample, a single hidden unit), entries that are multiples of a half or a quarter (zeros
included), weights large enough to push ``rho_hat`` close to 0 or 1, and varying ``rho``,
``beta`` and ``lambda``. :func:`_backprop_variant` recomputes docs/design.md's forward and
backward pass with each known mistake made on purpose, so a wrong answer can be named; an
unnamed one is localised by which of the five outputs are wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from scipy.special import expit

from tinysae.backends import numpy_ref
from tinysae.exercises.feedback import Feedback, Mistake
from tinysae.exercises.search import (
    DEFAULT_EXAMPLES,
    DEFAULT_TIMEOUT,
    Check,
    Exercise,
    Unusable,
    agree,
    run_exercise,
    show_array,
)
from tinysae.exercises.sparsity import _kl, _s
from tinysae.objective import Objective
from tinysae.params import Params

__all__ = ["BACKPROP_MISTAKES", "BACKPROP_OUTPUTS", "check_backprop"]

BACKPROP_OUTPUTS = ("loss", "dW1", "db1", "dW2", "db2")
#: The parameter each gradient belongs to.
_PARAMETER = {"dW1": "W1", "db1": "b1", "dW2": "W2", "db2": "b2"}

BACKPROP_MISTAKES = [
    Mistake("sparsity_no_1_over_m", "the sparsity term is missing its average over samples: rho_hat is "
            "a mean over the m samples, so each sample's activations carry only their share of the "
            "penalty's gradient"),
    Mistake("sparsity_missing", "the hidden layer's delta has no sparsity term: the penalty depends on "
            "the activations through rho_hat, so it sends gradient back to them too"),
    Mistake("sparsity_negated", "the sparsity term enters the hidden layer's delta with the wrong sign"),
    Mistake("sparsity_outside_derivative", "the sparsity term is added after the hidden activation's "
            "derivative is applied: both parts of the gradient at the activations go through it"),
    Mistake("no_hidden_derivative", "the hidden layer's delta is missing the derivative of the hidden "
            "activation function"),
    Mistake("hidden_derivative_of_Z", "the hidden sigmoid's derivative is computed from the "
            "pre-activations Z2 where it takes the activations H"),
    Mistake("no_output_derivative", "the output layer's delta is missing the derivative of the output "
            "activation function"),
    Mistake("output_derivative_of_Z", "the output sigmoid's derivative is computed from the "
            "pre-activations Z3 where it takes the outputs Xhat"),
    Mistake("error_sign", "the reconstruction error has the wrong sign: it is the output minus the "
            "data, the direction in which the loss grows"),
    Mistake("d3_no_1_over_m", "the output layer's delta is missing its average over samples: the "
            "reconstruction term is a mean over the m samples"),
    Mistake("dW2_uses_Z2", "dW2 pairs the output delta with the pre-activations Z2; the second layer's "
            "input is the activations H"),
    Mistake("no_decay_gradient", "the weights' gradients are missing weight decay's contribution"),
    Mistake("decay_on_biases", "weight decay reaches the biases' gradients too; it penalises the "
            "weights W1 and W2 only"),
    Mistake("bias_mean", "the biases' gradients average the deltas over the samples; they add them up "
            "(the average is already inside the deltas)"),
    Mistake("loss_no_half", "the reconstruction term of the loss is twice too large: it is half the "
            "squared error, averaged over samples"),
    Mistake("loss_no_1_over_m", "the reconstruction term of the loss is missing its average over samples"),
    Mistake("loss_mean_over_entries", "the reconstruction term of the loss averages over every entry "
            "of X; it averages over the samples only, adding up each sample's n squared errors"),
    Mistake("loss_decay_no_half", "the weight decay term of the loss is twice too large: it carries a "
            "factor of one half"),
    Mistake("loss_no_decay", "the loss is missing the weight decay term"),
    Mistake("loss_no_beta", "the sparsity term of the loss is missing its weight beta"),
    Mistake("loss_no_sparsity", "the loss is missing the sparsity term"),
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
        sparsity = np.sum(_kl(rho, rho_hat))
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


def _as_answer(outputs: dict[str, np.ndarray]) -> tuple[float, Params]:
    """The five outputs as a student returns them: ``(loss, grads)``."""
    grads = Params({name: outputs[f"d{name}"] for name in _PARAMETER.values()})
    return float(outputs["loss"]), grads


def _with_compute(mistake: Mistake) -> Mistake:
    """``mistake``, answering ``(loss, grads)`` by :func:`_backprop_variant`."""
    def compute(params: Params, X: np.ndarray, objective: Objective) -> tuple[float, Params]:
        return _as_answer(_backprop_variant(params, X, objective, mistake.key))
    return Mistake(mistake.key, mistake.hint, compute)


# ----------------------------------------------------------------------------- the search

#: The objectives drawn: rho, beta (never 1, so a missing beta shows) and lambda (0 included).
_OBJECTIVES = [Objective(rho=rho, beta=beta, weight_decay=lam)
               for rho, beta, lam in ((0.1, 3.0, 0.1), (0.05, 0.5, 0.01), (0.2, 2.0, 0.0), (0.1, 0.5, 0.1))]


@st.composite
def _problems(draw: st.DrawFn) -> tuple[Params, np.ndarray, Objective]:
    """``(params, X, objective)``: ``m`` from 1 to 4, ``n`` and ``k`` from 1 to 3, weights and
    biases multiples of a half in [-3, 3], ``X`` multiples of a quarter in [0, 1]."""
    m, n, k = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))

    def array(shape: tuple[int, ...], values: st.SearchStrategy) -> np.ndarray:
        return np.array(draw(st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                        dtype=np.float64).reshape(shape)
    halves = st.integers(-6, 6).map(lambda v: v / 2)
    params = Params(W1=array((k, n), halves), b1=array((k,), halves),
                    W2=array((n, k), halves), b2=array((n,), halves))
    X = array((m, n), st.integers(0, 4).map(lambda v: v / 4))
    return params, X, draw(st.sampled_from(_OBJECTIVES))


def _probe() -> tuple[Params, np.ndarray, Objective]:
    """A generic problem (m = 3, n = 2, k = 3, nothing symmetric) on which every known mistake
    gives its own answer."""
    rng = np.random.default_rng(5)
    params = Params(W1=rng.normal(0, 1, (3, 2)), b1=rng.normal(0, 0.5, 3),
                    W2=rng.normal(0, 1, (2, 3)), b2=rng.normal(0, 0.5, 2))
    return params, rng.uniform(0, 1, (3, 2)), Objective(rho=0.1, beta=3.0, weight_decay=0.1)


def _reference(params: Params, X: np.ndarray, objective: Objective) -> dict[str, np.ndarray]:
    loss, grads = numpy_ref.loss_and_grad(params, X, objective)
    return {"loss": np.asarray(loss), **{f"d{name}": grads[name] for name in _PARAMETER.values()}}


def _grad_arrays(grads: object) -> list[object]:
    """The four gradients in the order dW1, db1, dW2, db2, from a :class:`Params`, a dict keyed
    ``dW1``... or ``W1``..., or a sequence of four."""
    if isinstance(grads, Params):
        return [grads[name] for name in _PARAMETER.values()]
    if isinstance(grads, dict):
        for names in (tuple(_PARAMETER), tuple(_PARAMETER.values())):
            if all(name in grads for name in names):
                return [grads[name] for name in names]
        raise Unusable(f"grads has keys {sorted(map(str, grads))}; expected dW1, db1, dW2, db2")
    if isinstance(grads, (tuple, list)) and len(grads) == 4:
        return list(grads)
    raise Unusable("grads must be a tinysae.Params, a dict with keys dW1, db1, dW2, db2, or the four "
                   f"arrays (dW1, db1, dW2, db2); got {type(grads).__name__}")


def _as_output(name: str, raw: object, shape: tuple[int, ...]) -> np.ndarray:
    if raw is None:
        raise Unusable(f"{name} is None: did you forget to return it?")
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise Unusable(f"{name} is not an array of numbers ({error})") from None
    if name == "loss":
        if array.size != 1:
            raise Unusable(f"the loss must be one number; got an array of shape {array.shape}")
        return array.reshape(())
    if array.shape != shape:
        transposed = " (it is transposed)" if array.shape == shape[::-1] else ""
        raise Unusable(f"{name} has shape {array.shape}{transposed}, expected {shape}, the shape of "
                       f"{_PARAMETER[name]}")
    return array


def _parse(value: object, args: tuple) -> dict[str, np.ndarray]:
    """The student's ``(loss, grads)`` as the five named outputs, each of its parameter's shape."""
    if value is None:
        raise Unusable("your function returned None: did you forget `return loss, grads`?")
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise Unusable(f"return a pair (loss, grads); got {type(value).__name__}")
    params = args[0]
    raws = [value[0], *_grad_arrays(value[1])]
    shapes = [(), *(params[name].shape for name in _PARAMETER.values())]
    return {name: _as_output(name, raw, shape) for name, raw, shape in zip(BACKPROP_OUTPUTS, raws, shapes)}


def _where_to_look(wrong: list[str]) -> str:
    """Where an error showing in the outputs ``wrong`` lies, in words."""
    grads = set(wrong) - {"loss"}
    if not grads:
        return "the gradients are right but the loss is not: look at its three terms"
    if grads <= {"dW1", "db1"}:
        return "the output layer's gradients are right, so its delta is: look at the hidden layer's"
    if grads <= {"db1", "db2"}:
        return "the weights' gradients are right: look at how the biases' gradients add up the deltas"
    if grads <= {"dW1", "dW2"}:
        return ("the biases' gradients are right, so the deltas are: look at what the weights' gradients "
                "add to them")
    return "the output layer's gradients are wrong: start from its delta, every gradient depends on it"


def _judge(args: tuple, got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> str | None:
    wrong = [name for name in BACKPROP_OUTPUTS if not agree(got[name], expected[name])]
    if not wrong:
        return None
    right = [name for name in BACKPROP_OUTPUTS if name not in wrong]
    verdict = f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} wrong"
    if right:
        verdict += f" ({', '.join(right)} right)"
    return f"{verdict}; {_where_to_look(wrong)}"


def _describe(args: tuple) -> list[str]:
    params, X, objective = args
    (m, n), k = X.shape, params["b1"].shape[0]
    return [f"m = {m}, n = {n}, k = {k}; rho = {objective.rho:g}, beta = {objective.beta:g}, "
            f"lambda = {objective.weight_decay:g}",
            f"X = {show_array(X)}",
            f"W1 = {show_array(params['W1'])}, b1 = {show_array(params['b1'])}",
            f"W2 = {show_array(params['W2'])}, b2 = {show_array(params['b2'])}"]


def _show(answer: dict[str, np.ndarray]) -> list[str]:
    return [f"{name} = {show_array(answer[name])}" for name in BACKPROP_OUTPUTS]


_BACKPROP = Exercise(
    name="loss_and_grad (backprop)",
    checks=[Check("small problems", _problems())],
    reference=_reference,
    parse=_parse,
    judge=_judge,
    describe=_describe,
    show=_show,
    mistakes=[_with_compute(mistake) for mistake in BACKPROP_MISTAKES],
    copy=lambda args: (args[0].copy(), args[1].copy(), args[2]),
    probes=[_probe()],
)


def check_backprop(student_loss_and_grad: Callable[[Params, np.ndarray, Objective], tuple],
                   verbose: bool = True, *, max_examples: int = DEFAULT_EXAMPLES,
                   timeout: float | None = DEFAULT_TIMEOUT) -> Feedback:
    r"""Search for a small problem where ``student_loss_and_grad(params, X, objective) -> (loss,
    grads)`` differs from the reference backend, output by output (``loss``, ``dW1``, ``db1``,
    ``dW2``, ``db2``); print and return the feedback.

    The objective is the classic one (sigmoid hidden and output units, KL penalty) with varying
    ``rho``, ``beta`` and ``lambda``; ``params`` is a :class:`~tinysae.params.Params`
    (``W1 (k, n)``, ``b1 (k,)``, ``W2 (n, k)``, ``b2 (n,)``), ``X (m, n)``; ``grads`` may be a
    :class:`Params`, a dict keyed ``dW1, db1, dW2, db2`` or those four arrays in that order.
    """
    return run_exercise(_BACKPROP, student_loss_and_grad, max_examples=max_examples, timeout=timeout,
                        verbose=verbose)

