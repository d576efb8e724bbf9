r"""Numba kernels of the sparse-autoencoder objective (the classic's equations of docs/design.md, fused).

The kernels are ``@njit(cache=True)`` (the row-parallel ones ``parallel=True``); the small
helpers they call (:func:`sigmoid`, :func:`activate`, the ``*_rows`` bodies, the exp) are
``inline="always"``, inlined into each kernel by numba itself, because a cached helper is linked
as compiled code that LLVM cannot inline or vectorise through (measured: 13 ns instead of 1.2 ns
per sigmoid). Every kernel computes in the dtype of its array arguments: float32 in, float32
math out. Constants are typed from the inputs (``one = X.dtype.type(1)``, ``np.float32(...)``),
never bare float literals, because a float64 literal would silently promote a float32 kernel.

With ``NUMBA_DISABLE_JIT=1`` the decorators do nothing and every kernel runs as plain Python
(``prange`` becomes ``range``): step through them in a debugger, or measure coverage.

Three ways to use them (:mod:`tinysae.backends.numba_cpu` chooses by shape):

* **loops**: :func:`loss_and_grad_loops` does the whole evaluation in one serial call, row by
  row, with hand-written matrix products. Nothing is launched on other threads, so a tiny
  problem costs microseconds.
* **BLAS + fused passes**: the five matrix products go to numpy's BLAS; everything elementwise
  between them is one pass over memory per layer, done by :func:`hidden_forward`,
  :func:`output_delta` and :func:`hidden_delta` (or their ``*_serial`` twins), which also
  produce the column sums (``rho_hat``, ``db2``, ``db1``) on the way, one partial sum per
  chunk of rows.
* **thin layers**: :func:`thin_forward` and :func:`thin_backward` run the same row passes
  (``*_rows``) and small BLAS products (``np.dot``) block by block of rows on each thread
  (each thread's chunk of rows by :func:`thin_forward_chunk`, :func:`thin_backward_chunk`), so
  each block goes through every step while it is in cache.

The contractive model's extra term (:func:`contraction_pass`, :func:`contraction_pass_serial`)
is one more fused pass of the BLAS kind, run after any of the three.

Compilation. A kernel compiles on its first call, for the types of that call only (no
signature is given, nothing compiles at import), so a first evaluation compiles the kernels of
one route in one dtype; ``cache=True`` saves the machine code in numba's cache, from which a
later process loads it instead. Much of a compilation is LLVM's optimisation, and numba runs
it again on the code of a callee compiled in the same process in every library that links it
(numba 0.68's ``CPUCodeLibrary.finalize`` links the callees' modules in, then optimises the
whole); a ``prange`` loop's body is compiled as a function of its own at the bottom of such a
chain (the body, two wrappers, the kernel). The thin route's parallel kernels therefore keep
their loop's body to one call per chunk of rows of a serial kernel, and one array is added to
another by a loop (:func:`add_into`): numba's ``+=`` on arrays also compiles the text of its
broadcasting error. Measured with ``benchmarks/bench_coldstart.py`` at the UFLDL shape in
float64 on a 2-core machine shared with other work: the thin route's first compilation took
8.8-14.2 s with the work in the loops' bodies and ``+=`` (four runs), 3.6-5.1 s as it is (seven).

Every kernel uses ``error_model="numpy"``: a float division does not first test its divisor
for zero to raise ``ZeroDivisionError`` (none of these can divide by zero: ``1 + e^{-|z|} >= 1``,
``rho_hat`` is clipped into (0, 1), ``m >= 1``). The test is a branch in the innermost loop, and
without it LLVM vectorises the loops (measured: 13 ns -> 1.9 ns per element of ``D3``).

Every kernel also has ``fastmath={"contract"}``, the one fast-math flag that lets LLVM fuse a
multiplication and the addition after it into one fused multiply-add (``p * r + c`` in the
exp's polynomial, ``err * err`` summed), rounded once instead of twice: never less accurate, and
nothing is reordered (no other fast-math flag, so sums keep their order and ``inf``/``NaN``
their meaning). Measured on an AVX2 machine, the output layer's pass over 640 000 elements:
4.7-5.2 ms without it, 3.6-4.2 ms with it.

Codes for the choices of the :class:`~tinysae.objective.Objective` (numba compiles ints, not
strings): ``SIGMOID, RELU, IDENTITY`` for ``f`` and ``g``; ``KL, L1, NONE`` for the penalty.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

SIGMOID, RELU, IDENTITY = 0, 1, 2
KL, L1, NONE = 0, 1, 2


# ---------------------------------------------------------------------------------------------
# a vectorisable exp: numba's own np.exp is a call into libm, one element at a time
# ---------------------------------------------------------------------------------------------

if numba.config.DISABLE_JIT:

    def bits_as_float(bits):
        """The float whose IEEE-754 bit pattern is ``bits`` (int64 -> float64, int32 -> float32)."""
        return bits.view(np.float64 if isinstance(bits, np.int64) else np.float32)

    def float_as_bits(x):
        """The IEEE-754 bit pattern of ``x`` (float64 -> int64, float32 -> int32)."""
        return x.view(np.int32) if isinstance(x, np.float32) else np.float64(x).view(np.int64)

else:

    def _bitcast(source, target, llvm_type):
        """An intrinsic reinterpreting the bits of a ``source`` value as a ``target`` value."""

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], llvm_type)

        return target(source), codegen

    @intrinsic
    def bits_as_float(typingctx, bits):
        """The float whose IEEE-754 bit pattern is ``bits`` (int64 -> float64, int32 -> float32):
        one LLVM ``bitcast`` instruction, which the loop vectoriser handles."""
        if bits == types.int64:
            return _bitcast(types.int64, types.float64, ir.DoubleType())
        if bits == types.int32:
            return _bitcast(types.int32, types.float32, ir.FloatType())
        return None

    @intrinsic
    def float_as_bits(typingctx, x):
        """The IEEE-754 bit pattern of ``x`` (float64 -> int64, float32 -> int32): one ``bitcast``."""
        if x == types.float64:
            return _bitcast(types.float64, types.int64, ir.IntType(64))
        if x == types.float32:
            return _bitcast(types.float32, types.int32, ir.IntType(32))
        return None


#: :math:`1.5 \cdot 2^{52}`: adding it to a float64 of magnitude below :math:`2^{51}` rounds that
#: float to an integer, which then sits in the low bits of the sum's bit pattern.
SHIFT_F64 = 6755399441055744.0
#: :math:`1.5 \cdot 2^{23}`, the same for float32 (magnitudes below :math:`2^{22}`).
SHIFT_F32 = np.float32(12582912.0)


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def exp_nonpositive_f64(t):
    r""":math:`e^t` for float64 :math:`t \le 0`, as arithmetic the loop vectoriser can pack.

    Write :math:`e^t = 2^n e^r` with :math:`n = \mathrm{round}(t/\ln 2)` and
    :math:`r = t - n\ln 2 \in [-\ln 2/2, \ln 2/2]` (``ln 2`` split in a high and a low part so
    ``r`` is exact); :math:`e^r` is its Taylor polynomial to degree 13 (relative error below
    :math:`2\cdot 10^{-16}`) and :math:`2^n` is built from its bits, ``(n + 1023) << 52``.
    ``t`` is first raised to -709.1, where :math:`n = -1023` and the bits of :math:`2^n` are all
    zero: below about -709 (:math:`e^{-709} \approx 10^{-308}`) the result is exactly 0.

    ``n`` is rounded by adding :data:`SHIFT_F64` (``y = t/ln 2 + 1.5 * 2^52``, ``n = y - 1.5 * 2^52``),
    and its integer value read from ``y``'s bits (they are those of the shift, plus ``n``), not
    converted by ``int(n)``: AVX2 has no instruction converting four float64 to int64, and such a
    conversion is done one element at a time (measured on AVX2 with the output layer's pass,
    640 000 elements: 4.7-5.2 ms with ``floor`` and ``int``, 3.9-4.8 ms with the shift).
    """
    t = max(t, -709.1)
    y = t * 1.4426950408889634 + SHIFT_F64
    n = y - SHIFT_F64
    r = (t - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * bits_as_float((float_as_bits(y) - float_as_bits(SHIFT_F64) + 1023) << 52)


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def exp_nonpositive_f32(t):
    r""":math:`e^t` for float32 :math:`t \le 0`: :func:`exp_nonpositive_f64`'s method in float32
    (every constant typed ``np.float32``), Taylor degree 7, ``n`` rounded by :data:`SHIFT_F32`,
    ``2^n`` from ``(n + 127) << 23``, ``t`` raised to -88.1 (``n = -127``, so 0 below about -88)."""
    t = max(t, np.float32(-88.1))
    y = t * np.float32(1.4426950408889634) + SHIFT_F32
    n = y - SHIFT_F32
    r = (t - n * np.float32(0.693145751953125)) - n * np.float32(1.428606765330187e-06)
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + np.float32(0.5)
    p = p * r + np.float32(1.0)
    p = p * r + np.float32(1.0)
    # numba does integer arithmetic in int64: cast back so the bits are those of a float32
    return p * bits_as_float(np.int32((float_as_bits(y) - float_as_bits(SHIFT_F32) + 127) << 23))


def exp_nonpositive(t):
    """:math:`e^t` for :math:`t \\le 0` in the type of ``t``: :func:`exp_nonpositive_f32` or
    :func:`exp_nonpositive_f64` (chosen when numba compiles a caller, by the overload below)."""
    if isinstance(t, np.float32):
        return exp_nonpositive_f32(t)
    return exp_nonpositive_f64(t)


@overload(exp_nonpositive, inline="always")
def _exp_nonpositive_typed(t):
    if t == types.float32:
        return lambda t: exp_nonpositive_f32(t)
    if t == types.float64:
        return lambda t: exp_nonpositive_f64(t)
    return None


# ---------------------------------------------------------------------------------------------
# scalar helpers (inlined into the kernels by numba): the scalar formulas of the activation
# table tinysae.functions.ACTIVATIONS, where each nonlinearity is defined for the package
# ---------------------------------------------------------------------------------------------


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def sigmoid(z, one):
    r"""Overflow-free :math:`\sigma(z) = 1 / (1 + e^{-z})`.

    With :math:`e = e^{-|z|}`: for :math:`z \ge 0`, :math:`\sigma(z) = 1 / (1 + e)`; for
    :math:`z < 0` the equal :math:`e / (1 + e)`. The exponent is :math:`\le 0`, so ``exp`` never
    overflows and ``z = -800`` gives (nearly) 0, ``z = 800`` gives 1, never NaN. Branch-free
    (a select, not a jump), so loops calling it vectorise.
    """
    e = exp_nonpositive(-abs(z))
    s = one / (one + e)
    return s if z >= 0 else e * s


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def activate(z, code, one):
    """``f(z)`` for ``code`` SIGMOID (:func:`sigmoid`), RELU (``max(z, 0)``) or IDENTITY (``z``)."""
    if code == SIGMOID:
        return sigmoid(z, one)
    if code == RELU:
        return z if z > 0 else z - z
    return z


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def activate_grad(a, code, one):
    """``f'(z)`` written with ``a = f(z)``: ``a (1 - a)`` (sigmoid), ``[a > 0]`` (relu, since
    ``relu(z) > 0`` exactly when ``z > 0``), or 1 (identity)."""
    if code == SIGMOID:
        return a * (one - a)
    if code == RELU:
        return one if a > 0 else one - one
    return one


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def sparsity_terms(col_sum, m, rho, beta, penalty, lo, hi, ds):
    r"""The sparsity term of ``J`` and its per-unit gradient at ``H``, from column sums of H.

    ``col_sum (k,)`` is :math:`\sum_i H_{ij}`, so ``rho_hat = col_sum / m`` (``m`` is passed in
    the dtype of ``col_sum``, as are ``rho, beta, lo, hi``). Returns the term
    and writes ``ds (k,)``:

    * KL: :math:`\beta\sum_j \mathrm{KL}(\rho\Vert\hat\rho_j)` and
      ``ds = beta * s / m``, ``s = -rho / rho_hat + (1 - rho) / (1 - rho_hat)``;
    * L1: :math:`\frac{\beta}{m}\sum_{ij}|H_{ij}| = \frac{\beta}{m}\sum_j` ``col_sum[j]``
      (both activations are :math:`\ge 0`, so :math:`|H| = H`); ``ds = 0`` (the sign term
      ``beta * sign(H) / m`` depends on ``i`` and is added in the delta pass);
    * none: 0 and ``ds = 0``.

    ``rho_hat`` is clipped to ``[lo, hi]`` (``lo`` = sqrt of the dtype's smallest normal,
    ``hi = 1 - eps``) before the logarithms. Only a unit saturated on *every* sample reaches
    the clip (``rho_hat`` exactly 0 or 1), where the unclipped KL is infinite and ``s * f'``
    would be ``inf * 0 = NaN``; elsewhere the values equal the formulas exactly
    (the clip is :func:`tinysae.functions.clip_rho_hat`, inlined here).
    """
    one = col_sum.dtype.type(1)
    k = col_sum.shape[0]
    total = one - one
    for j in range(k):
        ds[j] = 0
    if penalty == KL:
        for j in range(k):
            rho_hat = min(max(col_sum[j] / m, lo), hi)
            total += rho * np.log(rho / rho_hat) + (one - rho) * np.log((one - rho) / (one - rho_hat))
            s = -rho / rho_hat + (one - rho) / (one - rho_hat)
            ds[j] = beta * s / m
        return beta * total
    if penalty == L1:
        for j in range(k):
            total += col_sum[j]
        return beta * total / m
    return total


# ---------------------------------------------------------------------------------------------
# BLAS + fused passes: the elementwise work between the five matrix products
# ---------------------------------------------------------------------------------------------


# Each pass is written once, for one chunk of rows (``*_rows``, inlined), and run by two
# drivers with the same arguments: ``prange`` over the chunks (large m) or a plain loop on the
# calling thread (small m, where launching threads costs more than the work).


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def hidden_forward_rows(Z2, b1, f, start, stop, col_sum):
    r"""Rows ``start:stop``: in place ``Z2 <- H = f(Z2 + b1)``; adds :math:`\sum_i H_{ij}` to
    ``col_sum[j]``."""
    one = Z2.dtype.type(1)
    k = Z2.shape[1]
    for i in range(start, stop):
        for j in range(k):
            h = activate(Z2[i, j] + b1[j], f, one)
            Z2[i, j] = h
            col_sum[j] += h


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def hidden_forward(Z2, b1, f, row_starts, col_sum_part):
    r"""In place ``Z2 <- H = f(Z2 + b1)`` and the column sums of ``H`` by chunk of rows.

    On entry ``Z2 (m, k)`` holds :math:`X W_1^T` (a BLAS product); on exit it holds ``H``.
    Chunk ``c`` owns rows ``row_starts[c] : row_starts[c + 1]`` and writes
    ``col_sum_part[c, j]`` :math:`= \sum_{i \in c} H_{ij}`, so
    ``rho_hat = col_sum_part.sum(axis=0) / m`` with no second pass over ``H``.
    """
    for c in prange(row_starts.shape[0] - 1):
        col_sum_part[c] = 0
        hidden_forward_rows(Z2, b1, f, row_starts[c], row_starts[c + 1], col_sum_part[c])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def hidden_forward_serial(Z2, b1, f, row_starts, col_sum_part):
    """:func:`hidden_forward` on the calling thread."""
    for c in range(row_starts.shape[0] - 1):
        col_sum_part[c] = 0
        hidden_forward_rows(Z2, b1, f, row_starts[c], row_starts[c + 1], col_sum_part[c])


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def output_delta_rows(Z3, b2, X, g, inv_m, start, stop, sq_err, db2):
    r"""Rows ``start:stop``: in place ``Z3 <- D3``; adds :math:`\sum_i (\hat X_{il} - X_{il})^2` to
    ``sq_err[l]`` and :math:`\sum_i D3_{il}` to ``db2[l]``."""
    one = Z3.dtype.type(1)
    n = Z3.shape[1]
    for i in range(start, stop):
        for j in range(n):
            Xhat = activate(Z3[i, j] + b2[j], g, one)
            err = Xhat - X[i, j]
            sq_err[j] += err * err
            D3 = err * activate_grad(Xhat, g, one) * inv_m
            Z3[i, j] = D3
            db2[j] += D3


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def output_delta(Z3, b2, X, g, inv_m, row_starts, sq_err_part, db2_part):
    r"""In place ``Z3 <- D3 = (Xhat - X) * g'(Z3) / m`` with ``Xhat = g(Z3 + b2)``.

    On entry ``Z3 (m, n)`` holds :math:`H W_2^T` (a BLAS product); on exit it holds ``D3``.
    Chunk ``c`` of rows writes ``sq_err_part[c, l]`` :math:`= \sum_{i \in c} (\hat X_{il} - X_{il})^2`
    (the reconstruction term is ``sq_err_part.sum() / (2 m)``) and
    ``db2_part[c, l]`` :math:`= \sum_{i \in c} D3_{il}` (``db2 = db2_part.sum(axis=0)``).
    ``inv_m`` is ``1 / m`` in the arrays' dtype. The squared errors are summed per column, not
    into one scalar: a single running float sum is a chain the compiler may not reorder, which
    would stop it from vectorising the loop over ``l``.
    """
    for c in prange(row_starts.shape[0] - 1):
        sq_err_part[c] = 0
        db2_part[c] = 0
        output_delta_rows(Z3, b2, X, g, inv_m, row_starts[c], row_starts[c + 1], sq_err_part[c], db2_part[c])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def output_delta_serial(Z3, b2, X, g, inv_m, row_starts, sq_err_part, db2_part):
    """:func:`output_delta` on the calling thread."""
    for c in range(row_starts.shape[0] - 1):
        sq_err_part[c] = 0
        db2_part[c] = 0
        output_delta_rows(Z3, b2, X, g, inv_m, row_starts[c], row_starts[c + 1], sq_err_part[c], db2_part[c])


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def hidden_delta_rows(D2, H, f, penalty, ds, l1_scale, start, stop, db1):
    r"""Rows ``start:stop``: in place ``D2 <- (D3 W2 + sparsity gradient) * f'(Z2)``; adds
    :math:`\sum_i D2_{ij}` to ``db1[j]``."""
    one = D2.dtype.type(1)
    k = D2.shape[1]
    for i in range(start, stop):
        for j in range(k):
            h = H[i, j]
            if penalty == L1:
                dH = D2[i, j] + l1_scale * np.sign(h)
            else:
                dH = D2[i, j] + ds[j]
            d2 = dH * activate_grad(h, f, one)
            D2[i, j] = d2
            db1[j] += d2


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def hidden_delta(D2, H, f, penalty, ds, l1_scale, row_starts, db1_part):
    r"""In place ``D2 <- (D3 W2 + sparsity gradient at H) * f'(Z2)``.

    On entry ``D2 (m, k)`` holds :math:`D_3 W_2` (a BLAS product); on exit it holds docs/design.md's
    ``D2``. The sparsity gradient at :math:`H_{ij}` is ``ds[j] = beta * s_j / m`` (KL, from
    :func:`sparsity_terms`), ``l1_scale * sign(H[i, j])`` with ``l1_scale = beta / m`` (L1), or 0.
    :math:`f'(Z_2)` is computed from ``H`` (:func:`activate_grad`). Chunk ``c`` of rows writes
    ``db1_part[c, j]`` :math:`= \sum_{i \in c} D2_{ij}` (``db1 = db1_part.sum(axis=0)``).
    """
    for c in prange(row_starts.shape[0] - 1):
        db1_part[c] = 0
        hidden_delta_rows(D2, H, f, penalty, ds, l1_scale, row_starts[c], row_starts[c + 1], db1_part[c])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def hidden_delta_serial(D2, H, f, penalty, ds, l1_scale, row_starts, db1_part):
    """:func:`hidden_delta` on the calling thread."""
    for c in range(row_starts.shape[0] - 1):
        db1_part[c] = 0
        hidden_delta_rows(D2, H, f, penalty, ds, l1_scale, row_starts[c], row_starts[c + 1], db1_part[c])


# ---------------------------------------------------------------------------------------------
# the contractive term: one more fused pass, between the products X W1^T and C2^T X
# ---------------------------------------------------------------------------------------------


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def contraction_rows(Z2, b1, cr, start, stop, d_sq, db1):
    r"""Rows ``start:stop``: in place ``Z2 <- C2 = D^2 (1 - 2H) * cr`` with ``H = sigmoid(Z2 + b1)``
    and ``D = H (1 - H)``; adds :math:`\sum_i D_{ij}^2` to ``d_sq[j]`` and :math:`\sum_i C2_{ij}`
    to ``db1[j]``."""
    one = Z2.dtype.type(1)
    two = one + one
    k = Z2.shape[1]
    for i in range(start, stop):
        for j in range(k):
            h = sigmoid(Z2[i, j] + b1[j], one)
            d = h * (one - h)
            d2 = d * d
            c2 = d2 * (one - two * h) * cr[j]
            Z2[i, j] = c2
            d_sq[j] += d2
            db1[j] += c2


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def contraction_pass(Z2, b1, cr, row_starts, d_sq_part, db1_part):
    r"""In place ``Z2 <- C2``, the contraction's gradient at ``Z2`` (:mod:`tinysae.backends.numpy_ref`)::

        H = sigmoid(Z2 + b1),  D = H (1 - H),  C2 = 2 lambda_c / m * D^2 (1 - 2H) r   (m, k)

    On entry ``Z2 (m, k)`` holds :math:`X W_1^T` (a BLAS product); on exit it holds ``C2``.
    ``cr (k,)`` is ``2 lambda_c / m * r``, ``r_j = ||W1_j||^2``. Chunk ``c`` of rows writes
    ``d_sq_part[c, j]`` :math:`= \sum_{i \in c} D_{ij}^2` (the term is
    :math:`\frac{\lambda_c}{m}\sum_j r_j \sum_i D_{ij}^2` and the direct path of ``dW1``
    needs the same sums) and ``db1_part[c, j]`` :math:`= \sum_{i \in c} C2_{ij}`.
    """
    for c in prange(row_starts.shape[0] - 1):
        d_sq_part[c] = 0
        db1_part[c] = 0
        contraction_rows(Z2, b1, cr, row_starts[c], row_starts[c + 1], d_sq_part[c], db1_part[c])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def contraction_pass_serial(Z2, b1, cr, row_starts, d_sq_part, db1_part):
    """:func:`contraction_pass` on the calling thread."""
    for c in range(row_starts.shape[0] - 1):
        d_sq_part[c] = 0
        db1_part[c] = 0
        contraction_rows(Z2, b1, cr, row_starts[c], row_starts[c + 1], d_sq_part[c], db1_part[c])


# ---------------------------------------------------------------------------------------------
# loops: one serial call for a whole (small) evaluation
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def loss_and_grad_loops(X, W1, b1, W2, b2, f, g, penalty, rho, beta, lam, lo, hi, H, dW1, db1, dW2, db2,
                        col_sum, terms):
    r"""The whole objective and its gradient in two serial passes over the rows of ``X (m, n)``.

    Pass 1, for each row ``i``: ``Z2[i] = W1 X[i] + b1``, ``H[i] = f(Z2[i])``; sum the columns
    of ``H`` for ``rho_hat``; then the sparsity term and ``ds`` (:func:`sparsity_terms`).

    Pass 2, for each row ``i`` (``x = X[i]``, ``h = H[i]``)::

        Z3 = W2 h + b2,  Xhat = g(Z3),  D3 = (Xhat - x) * g'(Z3) / m          (n,)
        D2 = (W2^T D3 + beta * s / m) * f'(Z2)                                   (k,)
        dW2 += D3 h^T,  db2 += D3,  dW1 += D2 x^T,  db1 += D2

    and at the end ``dW1 += lam W1``, ``dW2 += lam W2`` and the weight decay
    :math:`\frac{\lambda}{2}(\lVert W_1\rVert^2 + \lVert W_2\rVert^2)` in the loss. Writes
    ``H (m, k)``, the four gradients (arrays shaped like the parameters, overwritten), the
    column sums ``col_sum (k,)`` of ``H`` and ``terms (3,)``: the reconstruction, weight-decay
    and sparsity terms, each measured; returns ``J``, their sum. The scalars
    ``rho, beta, lam, lo, hi`` come in the arrays' dtype.
    """
    one = X.dtype.type(1)
    zero = one - one
    m, n = X.shape
    k = W1.shape[0]
    m_f = X.dtype.type(m)
    inv_m = one / m_f
    col_sum[:] = zero
    for i in range(m):
        for j in range(k):
            z2 = b1[j]
            for l in range(n):
                z2 += W1[j, l] * X[i, l]
            H[i, j] = activate(z2, f, one)
            col_sum[j] += H[i, j]
    ds = np.empty_like(b1)
    sparsity = sparsity_terms(col_sum, m_f, rho, beta, penalty, lo, hi, ds)
    l1_scale = beta * inv_m

    dW1[:, :] = zero
    db1[:] = zero
    dW2[:, :] = zero
    db2[:] = zero
    D3 = np.empty_like(b2)
    sq_err = zero
    for i in range(m):
        for l in range(n):
            z3 = b2[l]
            for j in range(k):
                z3 += W2[l, j] * H[i, j]
            Xhat = activate(z3, g, one)
            err = Xhat - X[i, l]
            sq_err += err * err
            D3[l] = err * activate_grad(Xhat, g, one) * inv_m
            db2[l] += D3[l]
            for j in range(k):
                dW2[l, j] += D3[l] * H[i, j]
        for j in range(k):
            h = H[i, j]
            dH = ds[j] + l1_scale * np.sign(h) if penalty == L1 else ds[j]
            for l in range(n):
                dH += D3[l] * W2[l, j]
            D2 = dH * activate_grad(h, f, one)
            db1[j] += D2
            for l in range(n):
                dW1[j, l] += D2 * X[i, l]

    decay = zero
    for j in range(k):
        for l in range(n):
            decay += W1[j, l] * W1[j, l] + W2[l, j] * W2[l, j]
            dW1[j, l] += lam * W1[j, l]
            dW2[l, j] += lam * W2[l, j]
    two = one + one
    terms[0] = sq_err * inv_m / two
    terms[1] = lam / two * decay
    terms[2] = sparsity
    return terms[0] + terms[1] + terms[2]


# ---------------------------------------------------------------------------------------------
# thin layers: blocks of rows, each block's products and passes while it is in cache
# ---------------------------------------------------------------------------------------------


@njit(inline="always", error_model="numpy", fastmath={"contract"})
def add_into(total, part):
    """``total += part`` for two arrays of one 2-D shape, as a loop (numba's own ``+=`` on
    arrays also compiles the message of its broadcasting error, seconds of compilation)."""
    for a in range(total.shape[0]):
        for b in range(total.shape[1]):
            total[a, b] += part[a, b]


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def thin_forward_chunk(X, W1, b1, W2, b2, f, g, inv_m, start_row, stop_row, block_rows, H, Z3, G, col_sum,
                       sq_err, db2, dW2, dW2_block):
    r""":func:`thin_forward` for one chunk of rows ``start_row : stop_row``, on the calling thread.

    Block by block of ``block_rows`` rows ``b``, four small BLAS products and two fused passes::

        H[b] = X[b] W1^T,  H[b] <- f(H[b] + b1)                        (hidden_forward_rows)
        Z3 = H[b] W2^T,    Z3 <- D3 = (g(Z3 + b2) - X[b]) * g'(Z3) / m  (output_delta_rows)
        dW2 += D3^T H[b],   G[b] = D3 W2

    Writes ``H[start_row:stop_row]`` and ``G[start_row:stop_row]`` (both ``(m, k)``), and the
    chunk's sums ``col_sum (k,)`` (of ``m rho_hat``), ``sq_err (n,)``, ``db2 (n,)`` and
    ``dW2 (n, k)``. ``Z3`` (at least ``block_rows`` rows of ``n``) and ``dW2_block (n, k)`` are
    scratch space for one block.
    """
    col_sum[:] = 0
    sq_err[:] = 0
    db2[:] = 0
    dW2[:] = 0
    for start in range(start_row, stop_row, block_rows):
        stop = min(start + block_rows, stop_row)
        Hb, Xb, Z3b = H[start:stop], X[start:stop], Z3[: stop - start]
        np.dot(Xb, W1.T, Hb)
        hidden_forward_rows(H, b1, f, start, stop, col_sum)
        np.dot(Hb, W2.T, Z3b)
        output_delta_rows(Z3b, b2, Xb, g, inv_m, 0, stop - start, sq_err, db2)
        np.dot(Z3b.T, Hb, dW2_block)
        add_into(dW2, dW2_block)
        np.dot(Z3b, W2, G[start:stop])


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def thin_forward(
    X, W1, b1, W2, b2, f, g, inv_m, row_starts, block_rows, H, D3, G, col_sum_part, sq_err_part,
    db2_part, dW2_part, dW2_block_part,
):  # fmt: skip
    r"""Pass 1 of the thin-layer route: everything that does not need ``rho_hat``.

    Chunk ``c`` of rows (``row_starts[c] : row_starts[c + 1]``, one per thread) runs through its
    rows ``block_rows`` at a time (:func:`thin_forward_chunk`); for the block's rows ``b``, four
    small BLAS products and two fused passes, all on data still in cache::

        H[b] = X[b] W1^T,  H[b] <- f(H[b] + b1)                        (hidden_forward_rows)
        Z3 = H[b] W2^T,    Z3 <- D3 = (g(Z3 + b2) - X[b]) * g'(Z3) / m  (output_delta_rows)
        dW2_part[c] += D3^T H[b],   G[b] = D3 W2

    Writes ``H (m, k)`` and ``G (m, k)`` :math:`= D_3 W_2`; chunk ``c`` writes its sums
    ``col_sum_part[c] (k,)`` (of ``m rho_hat``), ``sq_err_part[c] (n,)``, ``db2_part[c] (n,)``
    and ``dW2_part[c] (n, k)``. ``D3 (m, n)`` and ``dW2_block_part (chunks, n, k)`` are scratch
    space: every block of chunk ``c`` puts its ``Z3`` and ``D3`` in the chunk's first rows,
    which stay in cache, and its ``D3^T H[b]`` in ``dW2_block_part[c]`` (nothing is allocated
    per call: fresh memory costs page faults on every call).

    The chunk's work is a kernel of its own, called once per chunk, rather than the body of the
    ``prange`` loop, which numba would transform and optimise in each library of its chain
    (module docstring, "Compilation"; measured in float64: this kernel's first compilation took
    5.7-10.9 s with the work in the loop and ``dW2_part[c] +=`` in five runs, 2.0 s of the 5.7
    the error message; 2.4-3.0 s as it is in seven).
    """
    for c in prange(row_starts.shape[0] - 1):
        start, stop = row_starts[c], row_starts[c + 1]
        thin_forward_chunk(X, W1, b1, W2, b2, f, g, inv_m, start, stop, block_rows, H, D3[start:stop], G,
                           col_sum_part[c], sq_err_part[c], db2_part[c], dW2_part[c], dW2_block_part[c])


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def thin_backward_chunk(X, H, G, f, penalty, ds, l1_scale, start_row, stop_row, block_rows, db1, dW1,
                        dW1_block):
    r""":func:`thin_backward` for one chunk of rows ``start_row : stop_row``, on the calling thread::

        G[b] <- D2 = (G[b] + sparsity gradient at H[b]) * f'(Z2)        (hidden_delta_rows)
        dW1 += D2^T X[b]

    block by block of ``block_rows`` rows ``b``; writes the chunk's sums ``db1 (k,)`` and
    ``dW1 (k, n)``, with ``dW1_block (k, n)`` as scratch space for one block's product.
    """
    db1[:] = 0
    dW1[:] = 0
    for start in range(start_row, stop_row, block_rows):
        stop = min(start + block_rows, stop_row)
        hidden_delta_rows(G, H, f, penalty, ds, l1_scale, start, stop, db1)
        np.dot(G[start:stop].T, X[start:stop], dW1_block)
        add_into(dW1, dW1_block)


@njit(parallel=True, cache=True, error_model="numpy", fastmath={"contract"})
def thin_backward(X, H, G, f, penalty, ds, l1_scale, row_starts, block_rows, db1_part, dW1_part,
                  dW1_block_part):
    r"""Pass 2 of the thin-layer route, once ``ds`` (the sparsity gradient) is known.

    Block by block of each chunk of rows, as in :func:`thin_forward` (:func:`thin_backward_chunk`)::

        G[b] <- D2 = (G[b] + sparsity gradient at H[b]) * f'(Z2)        (hidden_delta_rows)
        dW1_part[c] += D2^T X[b]

    ``G (m, k)`` holds ``D3 W2`` on entry and ``D2`` on exit; chunk ``c`` writes
    ``db1_part[c] (k,)`` and ``dW1_part[c] (k, n)``; ``dW1_block_part (chunks, k, n)`` is scratch.
    """
    for c in prange(row_starts.shape[0] - 1):
        thin_backward_chunk(X, H, G, f, penalty, ds, l1_scale, row_starts[c], row_starts[c + 1], block_rows,
                            db1_part[c], dW1_part[c], dW1_block_part[c])
