r"""Automatic feedback for the lessons' exercises.

Each ``check_*`` function takes the student's function, searches for an input where it is wrong,
prints feedback and returns a :class:`Feedback` (``.passed``, ``.status``, ``.details``,
``.hint``, ``.mistake``). The search (:mod:`tinysae.exercises.search`) runs hypothesis over
small inputs that reach the edge cases (one sample, one hidden unit, zeros, rates close to 0 or
1, inputs large enough to overflow an exponential) and shrinks a failing one to the smallest it
can find. The feedback is

* "all N checks passed" when no input was found where the answer is wrong;
* otherwise the smallest counterexample, in a few lines: the input, the expected output and the
  student's, and which outputs are wrong;
* a **hint** naming the mistake by its nature ("the sparsity term is missing its average over
  samples") when the answer equals, on that input and on others, one of the exercise's known
  mistakes; a hint never gives the answer's formula or code;
* "could not run", with the line of the student's code that raised, an exception, a wrong shape,
  ``None`` returned (a missing ``return``) or an input changed in place; "not done yet" while the
  function still raises ``NotImplementedError``; a call that runs past its ``timeout``.

The exercises (what the student writes):

* :func:`check_sigmoid`: ``sigmoid(Z)``, the logistic sigmoid of every entry, any shape.
* :func:`check_kl_divergence`: ``kl_divergence(rho, rho_hat)``, the KL divergence from the
  target rate to each hidden unit's mean activation, shape ``(k,)``.
* :func:`check_kl_gradient`: ``kl_gradient(rho, rho_hat)``, ``s``, the derivative of each unit's
  divergence with respect to its mean activation, shape ``(k,)``.
* :func:`check_sparsity_delta`: ``sparsity_delta(rho, rho_hat, beta, m)``, the sparsity term's
  gradient with respect to one sample's hidden activations, shape ``(k,)``.
* :func:`check_backprop`: ``loss_and_grad(params, X, objective)``, the classic objective and its
  gradient with respect to every parameter (compared with the numpy reference backend).
* :func:`check_gradient_checker`: ``numerical_gradient(J, theta, eps)``, the central-difference
  estimate of a function's gradient, of ``theta``'s shape.
* :func:`check_matmul_vjp`: ``matmul_vjp(g, A, B) -> (dA, dB)``, a matrix product's
  vector-Jacobian product.
* :func:`check_topological_order`: ``topological_order(root)``, every tensor ``root`` depends on,
  each once, each after its parents.
* :func:`check_unbroadcast`: ``unbroadcast(grad, shape)``, a gradient summed back to the shape
  numpy broadcast up.
* :func:`check_rho_hat_kernel`: ``sigmoid_and_rho_hat(Z2) -> (H, rho_hat)``, a fused, parallel
  Numba kernel.
* :func:`check_contraction_grads`: ``contraction_grads(X, H, W1, weight) -> (dW1, db1)``, shapes
  ``(k, n)`` and ``(k,)``; the contractive penalty's own gradient.
* :func:`check_log_softmax_vjp`: ``log_softmax_vjp(g, Z) -> dZ``, shape ``(m, C)``; the
  ``log_softmax`` op's vector-Jacobian product along the rows.
* :func:`check_gaussian_kl`: ``gaussian_kl(mu, logvar) -> (kl, dmu, dlogvar)``, a number and two
  ``(m, d)`` arrays; the mean over samples of the KL divergence from the encoder's Gaussian to
  the standard normal, and its gradients.
* :func:`check_conv2d_weight_grad`: ``conv2d_weight_grad(g, x, kernel_size, stride, padding) -> dW``,
  shape ``(C_out, C_in, kH, kW)``; a convolution's gradient with respect to its kernel.

:func:`strip_solutions` writes the student version of a lesson notebook: every block between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes ``raise NotImplementedError()``
(nbgrader's convention, so nbgrader can be used instead); ``python -m tinysae.exercises SOURCE
DESTINATION`` runs it from the command line.

The package, one module per concern (everything public is re-exported here):

* :mod:`tinysae.exercises.search`: :class:`~tinysae.exercises.search.Exercise`,
  :class:`~tinysae.exercises.search.Check` and :func:`~tinysae.exercises.search.run_exercise`,
  the search behind the checkers;
* :mod:`tinysae.exercises.feedback`: :class:`Feedback`, :class:`Mistake`,
  :class:`ExerciseNotPassed`, the tolerances and marks;
* :mod:`tinysae.exercises.arrays`: parsing, judging and showing answers made of several named
  arrays, and the small-integer arrays the searches draw;
* :mod:`tinysae.exercises.sparsity`: the sigmoid, KL, ``s`` and sparsity-delta checkers and
  their mistake tables;
* :mod:`tinysae.exercises.backprop`: :func:`check_backprop` and its mistakes;
* :mod:`tinysae.exercises.graph`: the matmul VJP, topological order and unbroadcast checkers;
* :mod:`tinysae.exercises.kernels`: :func:`check_rho_hat_kernel` (a Numba kernel);
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
    NOT_DONE_MARK,
    PASS_MARK,
    TOLERANCE,
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
    "OVERFLOW_HINT",
    "PASS_MARK",
    "SIGMOID_MISTAKES",
    "SOLUTION_BEGIN",
    "SOLUTION_END",
    "S_MISTAKES",
    "TOLERANCE",
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
