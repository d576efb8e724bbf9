r"""Automatic feedback for the lessons' exercises.

Each ``check_*`` function calls a student's implementation on several random inputs, compares
what it returns with tinysae's reference, prints feedback and returns a :class:`Feedback`
(``.passed``, ``.hint``, ``.mistake``, ``.errors``). The feedback says

* which output (or which gradient: ``loss``, ``dW1``, ``db1``, ``dW2``, ``db2``) is wrong, on
  which input, with the relative error
  :math:`\lVert y - \hat y\rVert / \lVert y + \hat y\rVert` (tolerance :data:`TOLERANCE`)
  and the worst entry;
* a wrong shape (and whether the values are right once transposed or reshaped), ``None``
  returned (a missing ``return``), NaN or inf, an input changed in place;
* an exception raised inside the student's code, with its line, instead of crashing;
* a **hint** when the answer matches a known mistake. Every exercise has a table of wrong
  variants (forgetting the :math:`1/m` of :math:`\beta s/m`, swapping :math:`\rho` and
  :math:`\hat\rho`, forward differences, ...); each is computed on the same input, and the one
  the student's output equals names the hint.

The exercises (what the student writes, and the reference it is compared with):

* :func:`check_sigmoid`: ``sigmoid(Z)``, any shape; :math:`1/(1+e^{-Z})`.
* :func:`check_kl_divergence`: ``kl_divergence(rho, rho_hat)``, shape ``(k,)``;
  :math:`\mathrm{KL}(\rho\Vert\hat\rho_j)`.
* :func:`check_kl_gradient`: ``kl_gradient(rho, rho_hat)``, shape ``(k,)``;
  ``s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)``.
* :func:`check_sparsity_delta`: ``sparsity_delta(rho, rho_hat, beta, m)``, shape ``(k,)``;
  ``beta * s / m``.
* :func:`check_backprop`: ``loss_and_grad(params, X, objective)``; DESIGN.md's backward
  equations (the numpy reference backend).
* :func:`check_gradient_checker`: ``numerical_gradient(J, theta, eps)``; central differences.

:func:`strip_solutions` writes the student version of a lesson notebook: every block between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes ``raise NotImplementedError()``
(nbgrader's convention, so nbgrader can be used instead).
"""

from __future__ import annotations

import argparse
import json
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from tinysae.autograd.gradcheck import relative_error
from tinysae.backends import numpy_ref
from tinysae.objective import Objective, Params, init_params

__all__ = [
    "FAIL_MARK",
    "PASS_MARK",
    "TOLERANCE",
    "Feedback",
    "check_backprop",
    "check_gradient_checker",
    "check_kl_divergence",
    "check_kl_gradient",
    "check_sigmoid",
    "check_sparsity_delta",
    "strip_solutions",
]

PASS_MARK = "✔"
FAIL_MARK = "✘"
#: Largest relative error ``||yours - expected|| / ||yours + expected||`` that passes.
TOLERANCE = 1e-7
#: A wrong answer "is" a known mistake when it equals that mistake's output this closely.
MATCH_TOLERANCE = 1e-6
#: The step ``check_gradient_checker`` passes to the student's numerical gradient.
GRADIENT_EPS = 1e-5


# ----------------------------------------------------------------------------- the result


@dataclass
class Feedback:
    """The verdict of one checker.

    ``passed`` is True when every case matched the reference; ``details`` are the lines
    explaining what went wrong (empty on success); ``hint`` names a likely cause; ``mistake``
    is the key of the known mistake the answer matched (or None); ``errors`` maps each output
    checked to its worst relative error over the cases tried.
    """

    exercise: str
    passed: bool
    details: list[str] = field(default_factory=list)
    hint: str | None = None
    mistake: str | None = None
    errors: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.passed:
            worst = max(self.errors.values(), default=0.0)
            return (f"{PASS_MARK} {self.exercise}: correct on every case "
                    f"(worst relative error {worst:.1e}, tolerance {TOLERANCE:.0e})")
        lines = [f"{FAIL_MARK} {self.exercise}: not yet"]
        lines += [f"  {line}" for line in self.details]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Feedback(exercise={self.exercise!r}, passed={self.passed}, mistake={self.mistake!r})"


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: its key, the hint shown when it matches, and how to compute it
    from the same arguments as the exercise (``None`` where a shared function computes it)."""

    key: str
    hint: str
    compute: Callable[..., Any] | None = None


@dataclass
class Case:
    """One input to try: the positional ``args``, their ``names`` and a short description."""

    args: tuple
    names: tuple[str, ...]
    description: str


# ----------------------------------------------------------------------------- shared helpers


def _report(feedback: Feedback, verbose: bool) -> Feedback:
    if verbose:
        print(feedback)
    return feedback


def _describe_exception(error: Exception, student: Callable) -> tuple[str, str | None]:
    """A message naming the exception and the line of the student's code that raised it,
    and a hint for ``NotImplementedError`` (an exercise not done yet)."""
    frames = traceback.extract_tb(error.__traceback__)
    code = getattr(student, "__code__", None)
    own = [frame for frame in frames if code is not None and frame.filename == code.co_filename]
    frame = own[-1] if own else frames[-1]
    where = f"line {frame.lineno}" + (f": {frame.line.strip()}" if frame.line else "")
    raised = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    message = f"your function raised {raised} ({where})"
    hint = None
    if isinstance(error, NotImplementedError):
        hint = "the exercise is not done yet: replace `raise NotImplementedError()` with your code"
    return message, hint


def _call(student: Callable, args: tuple) -> tuple[Any, tuple[str, str | None] | None]:
    """``(student(*args), None)``, or ``(None, (message, hint))`` if the student's code raised."""
    try:
        with np.errstate(all="ignore"):
            return student(*args), None
    except Exception as error:  # a bug in the student's code is reported, not raised
        return None, _describe_exception(error, student)


def _as_array(value: object, what: str) -> tuple[np.ndarray | None, str | None]:
    """``value`` as a float64 array, or ``(None, message)`` saying why it is not one."""
    if value is None:
        return None, f"{what} is None: did you forget `return`?"
    try:
        return np.asarray(value, dtype=np.float64), None
    except (TypeError, ValueError) as error:
        return None, f"{what} is not an array of numbers (got {type(value).__name__}: {error})"


def _close(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and relative_error(a, b) <= tolerance


def _compare(name: str, got: np.ndarray, expected: np.ndarray) -> tuple[float, list[str]]:
    """The relative error of ``got`` against ``expected`` (inf on a wrong shape or NaN), and the
    lines describing what is wrong (empty when it is within :data:`TOLERANCE`)."""
    if got.shape != expected.shape:
        lines = [f"{name} has shape {got.shape}, expected {expected.shape}"]
        if expected.ndim == 2 and _close(got, expected.T, TOLERANCE):
            lines.append(f"the values of {name} are right but transposed: it should have shape "
                         f"{expected.shape} (e.g. dW1 = D2^T X has W1's shape (k, n))")
        elif got.size == expected.size and _close(got.reshape(expected.shape), expected, TOLERANCE):
            lines.append(f"the values of {name} are right; reshape it to {expected.shape}")
        return float("inf"), lines
    bad = ~np.isfinite(got)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        return float("inf"), [f"{name} contains {got[index]} at index {list(index)} "
                              f"(expected {expected[index]:.6g}): a log or division of a bad value?"]
    error = relative_error(got, expected)
    if error <= TOLERANCE:
        return error, []
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(got - expected))), got.shape))
    at = f" [{', '.join(map(str, index))}]" if index else ""
    return error, [
        f"{name}: relative error ||yours - expected|| / ||yours + expected|| = {error:.2e} "
        f"(needs <= {TOLERANCE:.0e})",
        f"worst entry{at}: yours {got[index]:.8g}, expected {expected[index]:.8g}",
    ]


def _matching_mistake(got: np.ndarray, expected: np.ndarray,
                      variants: Sequence[tuple[Mistake, object]]) -> Mistake | None:
    """The first known mistake whose output equals ``got`` (and differs from ``expected``)."""
    for mistake, value in variants:
        wrong = np.asarray(value, dtype=np.float64)
        differs = wrong.shape != expected.shape or relative_error(wrong, expected) > TOLERANCE
        if differs and _close(got, wrong, MATCH_TOLERANCE):
            return mistake
    return None


def _changed_inputs(case: Case, before: list[object]) -> list[str]:
    """Names of the array arguments the student's function changed in place."""
    changed = []
    for name, now, then in zip(case.names, case.args, before):
        if isinstance(now, np.ndarray) and not np.allclose(now, then, rtol=1e-12, atol=1e-12):
            changed.append(name)
    return changed


def _copy_args(args: tuple) -> list[object]:
    return [arg.copy() if isinstance(arg, np.ndarray) else arg for arg in args]


def _check_function(exercise: str, student: object, cases: list[Case],
                    reference: Callable[..., np.ndarray], mistakes: list[Mistake],
                    verbose: bool) -> Feedback:
    """Run ``student`` on every case against ``reference``; stop at the first wrong case."""
    if not callable(student):
        return _report(Feedback(exercise, False, [f"expected a function, got {type(student).__name__}"],
                                hint="pass the function itself, without calling it: "
                                     "check(my_function), not check(my_function())"), verbose)
    worst = 0.0
    for number, case in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)}: {case.description}"
        before = _copy_args(case.args)
        value, raised = _call(student, case.args)
        if raised is not None:
            message, hint = raised
            return _report(Feedback(exercise, False, [where, message], hint=hint), verbose)
        changed = _changed_inputs(case, before)
        if changed:
            return _report(Feedback(exercise, False, [where, f"your function changed its input "
                                    f"{', '.join(changed)} in place"],
                                    hint="work on a copy (x = x.copy()) or put each entry back"), verbose)
        got, problem = _as_array(value, "your result")
        if problem is not None:
            return _report(Feedback(exercise, False, [where, problem]), verbose)
        expected = reference(*case.args)
        error, lines = _compare("your result", got, expected)
        if lines:
            with np.errstate(all="ignore"):
                variants = [(mistake, mistake.compute(*case.args)) for mistake in mistakes]
            mistake = _matching_mistake(got, expected, variants)
            return _report(Feedback(exercise, False, [where, *lines],
                                    hint=mistake.hint if mistake else None,
                                    mistake=mistake.key if mistake else None,
                                    errors={"result": error}), verbose)
        worst = max(worst, error)
    return _report(Feedback(exercise, True, errors={"result": worst}), verbose)


def _rho_hat_cases(with_beta_m: bool, seed: int) -> list[Case]:
    """Random ``rho`` and ``rho_hat (k,)`` (and ``beta``, ``m``) for the sparsity exercises."""
    rng = np.random.default_rng(seed)
    cases = []
    for rho, k, beta, m in ((0.05, 7, 3.0, 10), (0.01, 4, 0.5, 25), (0.2, 9, 2.0, 3), (0.1, 1, 5.0, 7)):
        rho_hat = rng.uniform(0.005, 0.995, size=k)
        if with_beta_m:
            cases.append(Case((rho, rho_hat, beta, m), ("rho", "rho_hat", "beta", "m"),
                              f"rho = {rho}, rho_hat of shape ({k},), beta = {beta}, m = {m}"))
        else:
            cases.append(Case((rho, rho_hat), ("rho", "rho_hat"), f"rho = {rho}, rho_hat of shape ({k},)"))
    return cases


# ----------------------------------------------------------------------------- sigmoid


SIGMOID_MISTAKES = [
    Mistake("sign", "the exponent's sign: sigmoid(z) = 1 / (1 + exp(-z)), which is 0.5 at 0 and -> 1 "
            "as z -> +inf", lambda Z: 1 / (1 + np.exp(Z))),
    Mistake("no_reciprocal", "you returned 1 + exp(-z); the sigmoid is its reciprocal 1 / (1 + exp(-z))",
            lambda Z: 1 + np.exp(-Z)),
    Mistake("derivative", "you returned the derivative sigmoid(z) (1 - sigmoid(z)), not sigmoid(z)",
            lambda Z: expit(Z) * (1 - expit(Z))),
    Mistake("tanh", "you returned tanh(z), which lies in (-1, 1); the sigmoid lies in (0, 1): "
            "sigmoid(z) = (1 + tanh(z / 2)) / 2", np.tanh),
]


def check_sigmoid(student_sigmoid: Callable[[np.ndarray], np.ndarray], verbose: bool = True) -> Feedback:
    r"""Check ``student_sigmoid(Z)`` against :math:`\sigma(Z) = 1 / (1 + e^{-Z})`, elementwise, for
    ``Z`` of shapes ``(5,)``, ``(m, k)`` and with large ``|Z|`` (up to 30)."""
    rng = np.random.default_rng(1)
    cases = [
        Case((rng.normal(0, 2, size=5),), ("Z",), "Z of shape (5,)"),
        Case((rng.normal(0, 3, size=(4, 3)),), ("Z",), "Z of shape (4, 3), an (m, k) matrix like Z2"),
        Case((np.array([-30.0, -5.0, 0.0, 5.0, 30.0]),), ("Z",), "Z = [-30, -5, 0, 5, 30]"),
    ]
    return _check_function("sigmoid", student_sigmoid, cases, expit, SIGMOID_MISTAKES, verbose)


# ----------------------------------------------------------------------------- KL divergence


def _kl(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    return numpy_ref.kl_divergence(rho, rho_hat)


KL_MISTAKES = [
    Mistake("swapped", "you computed KL(rho_hat || rho); the penalty is KL(rho || rho_hat) = "
            "rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat))",
            lambda rho, r: _kl(r, np.full_like(r, rho))),
    Mistake("first_term_only", "only rho log(rho / rho_hat) is there: the Bernoulli KL has a second "
            "term, (1 - rho) log((1 - rho) / (1 - rho_hat))",
            lambda rho, r: rho * np.log(rho / r)),
    Mistake("negated", "the sign is flipped: it is log(rho / rho_hat), not log(rho_hat / rho) "
            "(a KL divergence is >= 0)", lambda rho, r: -_kl(rho, r)),
    Mistake("log10", "use the natural logarithm np.log, not np.log10",
            lambda rho, r: _kl(rho, r) / np.log(10)),
    Mistake("log2", "use the natural logarithm np.log, not np.log2",
            lambda rho, r: _kl(rho, r) / np.log(2)),
    Mistake("summed", "return one value per hidden unit, shape (k,); the sum over j comes later, in "
            "beta * sum_j KL(rho || rho_hat_j)", lambda rho, r: np.sum(_kl(rho, r))),
]


def check_kl_divergence(student_kl: Callable[[float, np.ndarray], np.ndarray],
                        verbose: bool = True) -> Feedback:
    r"""Check ``student_kl(rho, rho_hat)`` against the elementwise

    .. math:: \mathrm{KL}(\rho\Vert\hat\rho_j) = \rho\log\frac{\rho}{\hat\rho_j}
              + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j},

    ``rho`` a float in (0, 1), ``rho_hat (k,)`` in (0, 1); the result has shape ``(k,)``."""
    return _check_function("kl_divergence", student_kl, _rho_hat_cases(False, seed=2), _kl,
                           KL_MISTAKES, verbose)


# ----------------------------------------------------------------------------- s and beta s / m


def _s(rho: float, rho_hat: np.ndarray) -> np.ndarray:
    return -rho / rho_hat + (1 - rho) / (1 - rho_hat)


S_MISTAKES = [
    Mistake("s_negated", "the sign is flipped: d/dr [rho log(rho / r)] = -rho / r and "
            "d/dr [(1 - rho) log((1 - rho) / (1 - r))] = +(1 - rho) / (1 - r)",
            lambda rho, r: -_s(rho, r)),
    Mistake("s_first_term_only", "you differentiated only rho log(rho / rho_hat); the second term "
            "(1 - rho) log((1 - rho) / (1 - rho_hat)) adds +(1 - rho) / (1 - rho_hat)",
            lambda rho, r: -rho / r),
    Mistake("s_inner_derivative", "the chain rule through 1 - rho_hat: d(1 - rho_hat)/d rho_hat = -1, "
            "which makes the second term +(1 - rho) / (1 - rho_hat)",
            lambda rho, r: -rho / r - (1 - rho) / (1 - r)),
    Mistake("s_swapped", "that is the derivative of KL(rho_hat || rho); in KL(rho || rho_hat), rho_hat "
            "appears only inside the logs: s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)",
            lambda rho, r: np.log(r / rho) - np.log((1 - r) / (1 - rho))),
    Mistake("s_is_kl", "you returned KL(rho || rho_hat) itself; s is its derivative with respect "
            "to rho_hat", _kl),
]


def check_kl_gradient(student_s: Callable[[float, np.ndarray], np.ndarray], verbose: bool = True) -> Feedback:
    r"""Check ``student_s(rho, rho_hat)`` against DESIGN.md's

    .. math:: s_j = \frac{\partial\,\mathrm{KL}(\rho\Vert\hat\rho_j)}{\partial\hat\rho_j}
              = -\frac{\rho}{\hat\rho_j} + \frac{1-\rho}{1-\hat\rho_j}, \qquad s \text{ of shape } (k,).
    """
    return _check_function("kl_gradient (s)", student_s, _rho_hat_cases(False, seed=3), _s,
                           S_MISTAKES, verbose)


def _scaled(mistake: Mistake) -> Mistake:
    """A mistake in ``s`` carried into ``beta * s / m``."""
    return Mistake(mistake.key, f"in s: {mistake.hint}",
                   lambda rho, r, beta, m: beta * mistake.compute(rho, r) / m)


DELTA_MISTAKES = [
    Mistake("no_1_over_m", "did you forget the 1/m in beta * s / m? rho_hat_j = (1/m) sum_i H[i, j], "
            "so d rho_hat_j / d H[i, j] = 1/m", lambda rho, r, beta, m: beta * _s(rho, r)),
    Mistake("no_beta", "did you forget beta? the sparsity term is beta * sum_j KL, so its gradient "
            "carries the factor beta", lambda rho, r, beta, m: _s(rho, r) / m),
    Mistake("s_only", "you returned s; the sparsity term's gradient at H is beta * s / m (beta from "
            "beta * sum_j KL, 1/m from rho_hat = mean over the m samples)",
            lambda rho, r, beta, m: _s(rho, r)),
    Mistake("times_m", "divide by m, don't multiply: d rho_hat_j / d H[i, j] = 1/m",
            lambda rho, r, beta, m: beta * _s(rho, r) * m),
    *[_scaled(mistake) for mistake in S_MISTAKES],
]


def check_sparsity_delta(student_delta: Callable[[float, np.ndarray, float, int], np.ndarray],
                         verbose: bool = True) -> Feedback:
    r"""Check ``student_delta(rho, rho_hat, beta, m)`` against the sparsity term's gradient at
    each row of ``H``:

    .. math:: \frac{\partial}{\partial H_{ij}} \beta\sum_l \mathrm{KL}(\rho\Vert\hat\rho_l)
              = \beta\, s_j \frac{\partial\hat\rho_j}{\partial H_{ij}} = \frac{\beta\, s_j}{m},

    shape ``(k,)`` (the same for every sample ``i``; numpy broadcasts it over the rows of D2)."""
    return _check_function("sparsity_delta (beta * s / m)", student_delta, _rho_hat_cases(True, seed=4),
                           lambda rho, r, beta, m: beta * _s(rho, r) / m, DELTA_MISTAKES, verbose)


# ----------------------------------------------------------------------------- backprop

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
    """DESIGN.md's forward and backward pass (sigmoid f and g, KL penalty), with one known
    ``mistake`` made on purpose (``None``: no mistake, the reference). Returns the five outputs."""
    W1, b1, W2, b2 = params.arrays()
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
        params = Params(start.W1 * 2, rng.normal(0, 0.5, k), start.W2 * 2, rng.normal(0, 0.5, n))
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
        arrays = list(grads.arrays())
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
        return _report(Feedback(exercise, False, [f"expected a function, got "
                                f"{type(student_loss_and_grad).__name__}"]), verbose)
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
        expected = dict(zip(BACKPROP_OUTPUTS, [np.asarray(loss), *grads.arrays()]))
        lines, wrong = [], []
        for name in BACKPROP_OUTPUTS:
            error, problems = _compare(name, outputs[name], expected[name])
            worst[name] = max(worst[name], error)
            if problems:
                wrong.append(name)
                lines.append(f"{FAIL_MARK} {problems[0]}")
                lines += [f"    {line}" for line in problems[1:]]
            else:
                lines.append(f"{PASS_MARK} {name} (relative error {error:.1e})")
        if wrong:
            hint, mistakes = _backprop_hint(params, X, objective, outputs, expected, wrong)
            return _report(Feedback(exercise, False, [where, *lines], hint=hint, mistake=mistakes,
                                    errors=worst), verbose)
    return _report(Feedback(exercise, True, errors=worst), verbose)


# ----------------------------------------------------------------------------- numerical gradient


def _finite_difference(fun: Callable[[np.ndarray], float], theta: np.ndarray, eps: float,
                       mistake: str | None = None) -> np.ndarray:
    r"""Central differences :math:`(f(\theta + \varepsilon e_i) - f(\theta - \varepsilon e_i)) / 2\varepsilon`
    over every entry of ``theta``, or one known ``mistake`` made on purpose."""
    x = np.array(theta, dtype=np.float64)
    grad = np.zeros_like(x)
    if mistake == "all_at_once":
        return np.full_like(x, (fun(x + eps) - fun(x - eps)) / (2 * eps))
    if mistake == "rows_only":
        for i in range(x.shape[0]):
            x[i] += eps
            plus = fun(x)
            x[i] -= 2 * eps
            minus = fun(x)
            x[i] += eps
            grad[i] = (plus - minus) / (2 * eps)
        return grad
    center = fun(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = fun(x)
        x[index] = saved - eps
        minus = fun(x)
        if mistake != "not_restored":
            x[index] = saved
        if mistake == "forward":
            grad[index] = (plus - center) / eps
        elif mistake == "backward":
            grad[index] = (center - minus) / eps
        elif mistake == "over_eps":
            grad[index] = (plus - minus) / eps
        elif mistake == "no_division":
            grad[index] = plus - minus
        else:
            grad[index] = (plus - minus) / (2 * eps)
    return grad


GRADIENT_MISTAKES = [
    Mistake("forward", "that is the forward difference (J(theta + eps e_i) - J(theta)) / eps, whose "
            "error is O(eps); use central differences (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps), "
            "whose error is O(eps^2)"),
    Mistake("backward", "that is the backward difference (J(theta) - J(theta - eps e_i)) / eps, whose "
            "error is O(eps); use central differences (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps)"),
    Mistake("over_eps", "divide by 2 * eps: theta + eps e_i and theta - eps e_i are 2 eps apart"),
    Mistake("no_division", "divide the difference J(theta + eps e_i) - J(theta - eps e_i) by 2 * eps"),
    Mistake("not_restored", "put theta[i] back after perturbing it: each entry must be perturbed "
            "from the original theta, with every other entry unchanged"),
    Mistake("all_at_once", "perturb one entry at a time: theta + eps e_i changes entry i only "
            "(e_i is the i-th basis vector), not every entry"),
    Mistake("rows_only", "for a matrix theta, `for i in range(len(theta))` walks over rows; visit every "
            "entry with `for index in np.ndindex(theta.shape)`"),
]


def _gradient_cases() -> list[tuple[Callable[[np.ndarray], float], np.ndarray, np.ndarray, str]]:
    """``(fun, theta, exact gradient, description)`` for smooth test functions whose gradients
    are known in closed form: a vector, a matrix, and a coupled function."""
    rng = np.random.default_rng(6)
    c, A = rng.normal(size=6), rng.normal(size=(6, 6))
    A = A @ A.T / 6
    B = rng.uniform(0.5, 1.5, size=(3, 4))
    theta1, theta2, theta3 = rng.normal(size=6), rng.normal(size=(3, 4)), rng.normal(size=5)
    return [
        (lambda t: float(np.sum(c * np.sin(t)) + 0.5 * t @ A @ t), theta1, c * np.cos(theta1) + A @ theta1,
         "J(theta) = sum(c * sin(theta)) + theta^T A theta / 2, theta of shape (6,)"),
        (lambda t: float(np.sum(np.exp(0.5 * t)) + np.sum(B * t**2)), theta2,
         0.5 * np.exp(0.5 * theta2) + 2 * B * theta2,
         "J(theta) = sum(exp(theta / 2)) + sum(B * theta^2), theta a (3, 4) matrix"),
        (lambda t: float(np.log(1 + np.sum(t**2))), theta3, 2 * theta3 / (1 + np.sum(theta3**2)),
         "J(theta) = log(1 + ||theta||^2), theta of shape (5,)"),
    ]


def _shape_guard(fun: Callable[[np.ndarray], float], shape: tuple[int, ...]) -> Callable[[np.ndarray], float]:
    """``fun``, refusing (with a clear message) an argument whose shape is not ``shape``."""
    def guarded(theta: np.ndarray) -> float:
        theta = np.asarray(theta)
        if theta.shape != shape:
            raise ValueError(f"J was called with an array of shape {theta.shape}, but theta has shape "
                             f"{shape}: perturb a copy of theta itself")
        return fun(theta)
    return guarded


def check_gradient_checker(student_numerical_gradient: Callable[..., np.ndarray],
                           verbose: bool = True) -> Feedback:
    r"""Check ``student_numerical_gradient(J, theta, eps)``, which must return the central
    differences

    .. math:: n_i = \frac{J(\theta + \varepsilon e_i) - J(\theta - \varepsilon e_i)}{2\varepsilon}

    for every entry ``i`` of ``theta`` (any shape; the result has ``theta``'s shape). It is
    called with ``eps = 1e-5`` on three smooth functions whose exact gradients are known, and
    passes when its relative error against them is at most :data:`TOLERANCE` (central
    differences score about 1e-10 here; forward differences about 1e-5).
    """
    exercise = "numerical_gradient"
    if not callable(student_numerical_gradient):
        return _report(Feedback(exercise, False, [f"expected a function, got "
                                f"{type(student_numerical_gradient).__name__}"]), verbose)
    worst = 0.0
    cases = _gradient_cases()
    for number, (fun, theta, exact, description) in enumerate(cases, start=1):
        where = f"case {number} of {len(cases)}: {description}"
        fun = _shape_guard(fun, theta.shape)
        case = Case((fun, theta.copy(), GRADIENT_EPS), ("J", "theta", "eps"), description)
        before = _copy_args(case.args)
        value, raised = _call(student_numerical_gradient, case.args)
        if raised is not None:
            message, hint = raised
            return _report(Feedback(exercise, False, [where, message], hint=hint), verbose)
        changed = _changed_inputs(case, before)
        if changed:
            return _report(Feedback(exercise, False, [where, "your function left theta changed"],
                                    hint=GRADIENT_MISTAKES[4].hint + " (or work on a copy of theta)",
                                    mistake="not_restored"), verbose)
        got, problem = _as_array(value, "your gradient")
        if problem is not None:
            return _report(Feedback(exercise, False, [where, problem]), verbose)
        error, lines = _compare("your gradient", got, exact)
        if lines:
            variants = [(mistake, _finite_difference(fun, theta, GRADIENT_EPS, mistake.key))
                        for mistake in GRADIENT_MISTAKES if mistake.key != "rows_only" or theta.ndim > 1]
            mistake = _matching_mistake(got, exact, variants)
            return _report(Feedback(exercise, False, [where, *lines], hint=mistake.hint if mistake else None,
                                    mistake=mistake.key if mistake else None,
                                    errors={"gradient": error}), verbose)
        worst = max(worst, error)
    return _report(Feedback(exercise, True, errors={"gradient": worst}), verbose)


# ----------------------------------------------------------------------------- student versions

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"


def _strip_source(text: str, where: str) -> tuple[str, int]:
    """One cell's source with each solution block replaced by ``raise NotImplementedError()`` at
    the block's indentation, and the number of blocks replaced."""
    out, blocks, indent = [], 0, None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped == SOLUTION_BEGIN:
            if indent is not None:
                raise ValueError(f"{where}, line {number}: {SOLUTION_BEGIN} inside another solution block")
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif stripped == SOLUTION_END:
            if indent is None:
                raise ValueError(f"{where}, line {number}: {SOLUTION_END} without {SOLUTION_BEGIN}")
            indent, blocks = None, blocks + 1
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ValueError(f"{where}: {SOLUTION_BEGIN} without {SOLUTION_END}")
    return "\n".join(out), blocks


def strip_solutions(source: str | Path, destination: str | Path) -> int:
    """Write the student version of the lesson notebook ``source`` to ``destination``.

    In every code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become
    ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the same indentation (nbgrader's
    convention); outputs are cleared. Returns the number of solution blocks replaced; unbalanced
    markers raise ``ValueError`` naming the cell.
    """
    notebook = json.loads(Path(source).read_text(encoding="utf-8"))
    total = 0
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        text, blocks = _strip_source(text, f"{source}, cell {number}")
        cell["source"] = text.splitlines(keepends=True)
        cell["outputs"] = []
        cell["execution_count"] = None
        total += blocks
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    Path(destination).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return total


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tinysae.exercises SOURCE.ipynb DESTINATION.ipynb``: write the student version."""
    parser = argparse.ArgumentParser(prog="python -m tinysae.exercises",
                                     description="Write the student version of a lesson notebook.")
    parser.add_argument("source", help="a lesson notebook with ### BEGIN/END SOLUTION blocks")
    parser.add_argument("destination", help="where to write the student version")
    args = parser.parse_args(argv)
    blocks = strip_solutions(args.source, args.destination)
    print(f"wrote {args.destination}: {blocks} solution block(s) replaced by NotImplementedError")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
