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
* :func:`check_backprop`: ``loss_and_grad(params, X, objective)``; docs/design.md's backward
  equations (the numpy reference backend).
* :func:`check_gradient_checker`: ``numerical_gradient(J, theta, eps)``; central differences.
* :func:`check_contraction_grads`: ``contraction_grads(X, H, W1, weight) -> (dW1, db1)``, shapes
  ``(k, n)`` and ``(k,)``; the contractive penalty's own gradient
  (:func:`tinysae.backends.numpy_ref.contraction_grads`).
* :func:`check_log_softmax_vjp`: ``log_softmax_vjp(g, Z) -> dZ``, shape ``(m, C)``; the
  ``log_softmax`` op's vector-Jacobian product along the rows (:mod:`tinysae.autograd.ops`).
* :func:`check_gaussian_kl`: ``gaussian_kl(mu, logvar) -> (kl, dmu, dlogvar)``, a number and two
  ``(m, d)`` arrays; the mean over samples of KL(N(mu, diag exp(logvar)) || N(0, I)) and its
  gradients (:class:`tinysae.terms.GaussianKL`).
* :func:`check_conv2d_weight_grad`: ``conv2d_weight_grad(g, x, kernel_size, stride, padding) -> dW``,
  shape ``(C_out, C_in, kH, kW)``; the gradient of ``sum(g * conv2d(x, w))`` with respect to ``w``
  (:func:`tinysae.autograd.conv.conv2d_weight_grad`).

:func:`strip_solutions` writes the student version of a lesson notebook: every block between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes ``raise NotImplementedError()``
(nbgrader's convention, so nbgrader can be used instead); ``python -m tinysae.exercises SOURCE
DESTINATION`` runs it from the command line.

The package, one module per concern (everything public is re-exported here):

* :mod:`tinysae.exercises.feedback`: :class:`Feedback`, :class:`Mistake`, :class:`Case`, the
  tolerances and marks, and the helpers every checker shares (calling the student's code,
  comparing arrays, matching known mistakes);
* :mod:`tinysae.exercises.sparsity`: the sigmoid, KL, ``s`` and ``beta * s / m`` checkers and
  their mistake tables;
* :mod:`tinysae.exercises.backprop`: :func:`check_backprop`, its cases and its mistakes;
* :mod:`tinysae.exercises.gradient`: :func:`check_gradient_checker` and its mistakes;
* :mod:`tinysae.exercises.variants`: :func:`check_contraction_grads` (lesson 4) and
  :func:`check_log_softmax_vjp` (lesson 5), and their mistakes;
* :mod:`tinysae.exercises.vae`: :func:`check_gaussian_kl` (lesson 7) and its mistakes;
* :mod:`tinysae.exercises.conv`: :func:`check_conv2d_weight_grad` (lesson 6) and its mistakes;
* :mod:`tinysae.exercises.solutions`: :func:`strip_solutions` and the command line.
"""

from __future__ import annotations

from tinysae.exercises.backprop import BACKPROP_MISTAKES, BACKPROP_OUTPUTS, check_backprop
from tinysae.exercises.conv import CONV_WEIGHT_GRAD_MISTAKES, check_conv2d_weight_grad
from tinysae.exercises.feedback import (
    FAIL_MARK,
    MATCH_TOLERANCE,
    NOT_DONE_MARK,
    PASS_MARK,
    TOLERANCE,
    Case,
    ExerciseNotPassed,
    Feedback,
    Mistake,
)
from tinysae.exercises.gradient import GRADIENT_EPS, GRADIENT_MISTAKES, check_gradient_checker
from tinysae.exercises.graph import (
    MATMUL_MISTAKES,
    TOPOLOGICAL_MISTAKES,
    UNBROADCAST_MISTAKES,
    check_matmul_vjp,
    check_topological_order,
    check_unbroadcast,
)
from tinysae.exercises.kernels import RHO_HAT_MISTAKES, check_rho_hat_kernel
from tinysae.exercises.solutions import SOLUTION_BEGIN, SOLUTION_END, main, strip_solutions
from tinysae.exercises.sparsity import (
    DELTA_MISTAKES,
    KL_MISTAKES,
    S_MISTAKES,
    SIGMOID_MISTAKES,
    check_kl_divergence,
    check_kl_gradient,
    check_sigmoid,
    check_sparsity_delta,
)
from tinysae.exercises.vae import GAUSSIAN_KL_MISTAKES, GAUSSIAN_KL_OUTPUTS, check_gaussian_kl
from tinysae.exercises.variants import (
    CONTRACTION_MISTAKES,
    CONTRACTION_OUTPUTS,
    LOG_SOFTMAX_MISTAKES,
    OVERFLOW_HINT,
    check_contraction_grads,
    check_log_softmax_vjp,
)

__all__ = [
    "ExerciseNotPassed",
    "MATMUL_MISTAKES",
    "NOT_DONE_MARK",
    "RHO_HAT_MISTAKES",
    "TOPOLOGICAL_MISTAKES",
    "UNBROADCAST_MISTAKES",
    "check_matmul_vjp",
    "check_rho_hat_kernel",
    "check_topological_order",
    "check_unbroadcast",
    "BACKPROP_MISTAKES",
    "BACKPROP_OUTPUTS",
    "CONTRACTION_MISTAKES",
    "CONTRACTION_OUTPUTS",
    "CONV_WEIGHT_GRAD_MISTAKES",
    "DELTA_MISTAKES",
    "FAIL_MARK",
    "GAUSSIAN_KL_MISTAKES",
    "GAUSSIAN_KL_OUTPUTS",
    "GRADIENT_EPS",
    "GRADIENT_MISTAKES",
    "KL_MISTAKES",
    "LOG_SOFTMAX_MISTAKES",
    "MATCH_TOLERANCE",
    "OVERFLOW_HINT",
    "PASS_MARK",
    "SIGMOID_MISTAKES",
    "SOLUTION_BEGIN",
    "SOLUTION_END",
    "S_MISTAKES",
    "TOLERANCE",
    "Case",
    "Feedback",
    "Mistake",
    "check_backprop",
    "check_contraction_grads",
    "check_conv2d_weight_grad",
    "check_gaussian_kl",
    "check_gradient_checker",
    "check_kl_divergence",
    "check_kl_gradient",
    "check_log_softmax_vjp",
    "check_sigmoid",
    "check_sparsity_delta",
    "main",
    "strip_solutions",
]
