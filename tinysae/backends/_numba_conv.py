r"""Numba kernels of the 2-D convolution and its transpose: :mod:`tinysae.autograd.conv` by loops.

Same names, arguments and layout as the engine's numpy functions (PyTorch's layout: ``x (N,
C_in, H, W)``, ``w (C_out, C_in, kH, kW)``, ``stride`` ``s`` and ``padding`` ``p`` pairs
``(rows, columns)``), so a student reads the engine op, this module and the kernels' tests side
by side. Where the engine builds the windows of a padded copy and does one matrix product
(im2col), these are the definitions as direct loops::

    conv2d_forward      Y[n, o, h, w]  = sum_{c,i,j} W[o, c, i, j] X[n, c, s h + i - p, s w + j - p]
    conv2d_input_grad   dX[n, c, y, x] = sum of G[n, o, h, w] W[o, c, i, j] over s h + i - p = y,
                                                                               s w + j - p = x
    conv2d_weight_grad  dW[o, c, i, j] = sum_{n,h,w} G[n, o, h, w] X[n, c, s h + i - p, s w + j - p]

with every index outside the image left out of the sums: the padding's zeros are never stored,
each loop over taps starts and stops where ``s h + i - p`` is inside the image (:func:`inside`).
The transposed convolution needs no kernel of its own (the engine's module docstring says why):
its forward pass is :func:`conv2d_input_grad`, its input gradient a :func:`conv2d_forward` and
its weight gradient a :func:`conv2d_weight_grad`, with the roles of the arrays swapped
(:func:`conv_transpose2d_forward`, :func:`conv_transpose2d_input_grad`,
:func:`conv_transpose2d_weight_grad`).

Work goes output pixel by output pixel, and the innermost loop runs along a contiguous axis of
a small copy made first: the forward pass and the weight gradient along the ``C_out`` channels
of one tap (``w`` and one image of ``g`` channels last, :func:`channels_last`,
:func:`image_channels_last`), the input gradient along the ``kH kW`` taps of one filter
(:func:`taps_last`). The image rows themselves are short (8 to 32 pixels in the lessons) and,
with a stride, read with gaps; measured at the lessons' sizes on a 2-core machine, loops along
them ran 2 to 5 times slower. Each kernel runs ``prange`` over tasks that write disjoint
entries: the forward pass over the ``N H_out`` output rows; the input gradient over the
``(n, c)`` input planes (the thread owning a plane makes every addition to it, so its scatter
``+=`` never races; gathering input pixel by input pixel instead measured 2 times slower at the
32x32 crops); the weight gradient over at most :data:`BATCH_CHUNKS` chunks of images, each with
its own partial sum, added at the end.

Arithmetic is in the arrays' dtype (``x`` and ``w`` of one dtype): every buffer is allocated in
it and there is no float literal, so float32 stays float32. ``error_model="numpy"`` and
``cache=True`` as in :mod:`tinysae.backends._numba_kernels`; with ``NUMBA_DISABLE_JIT=1`` the
kernels run as plain Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinysae.autograd.conv import conv_transpose2d_size

Pair = tuple[int, int]


#: The weight gradient sums over the batch in at most this many chunks of images, each chunk on
#: one thread with its own partial sum (a constant: ``numba.get_num_threads()`` inside a cached
#: kernel would defeat the cache).
BATCH_CHUNKS = 32


@njit(inline="always", error_model="numpy")
def inside(position, padding, size, kernel):
    """The taps ``lo <= i < hi`` of a ``kernel``-wide window starting at ``position - padding``
    whose input index ``position - padding + i`` lies in ``[0, size)``: the padding, never stored."""
    return max(0, padding - position), min(kernel, size + padding - position)


@njit(inline="always", error_model="numpy")
def channels_last(w):
    """``w (C_out, C_in, kH, kW)`` copied to ``(C_in, kH, kW, C_out)``: each tap's ``C_out``
    weights side by side, the contiguous inner loop of :func:`conv2d_forward`."""
    c_out, c_in, kh, kw = w.shape
    wt = np.empty((c_in, kh, kw, c_out), dtype=w.dtype)
    for o in range(c_out):
        for c in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    wt[c, i, j, o] = w[o, c, i, j]
    return wt


@njit(inline="always", error_model="numpy")
def taps_last(w):
    """``w (C_out, C_in, kH, kW)`` copied to ``(C_in, C_out, kH kW)``: each filter's taps in one
    contiguous row, the inner loop of :func:`conv2d_input_grad`."""
    c_out, c_in, kh, kw = w.shape
    wf = np.empty((c_in, c_out, kh * kw), dtype=w.dtype)
    for o in range(c_out):
        for c in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    wf[c, o, i * kw + j] = w[o, c, i, j]
    return wf


@njit(inline="always", error_model="numpy")
def image_channels_last(g, n, gt):
    """``gt (H_out, W_out, C_out)`` <- image ``n`` of ``g (N, C_out, H_out, W_out)``, channels last."""
    _, c_out, rows, cols = g.shape
    for o in range(c_out):
        for h in range(rows):
            for q in range(cols):
                gt[h, q, o] = g[n, o, h, q]


@njit(parallel=True, cache=True, error_model="numpy")
def conv2d_forward(x, w, stride, padding):
    r"""``Y (N, C_out, H_out, W_out)`` :math:`= \sum_{c,i,j} W_{o,c,i,j} X_{n,c,\,sh+i-p,\,sw+j-p}`
    for ``x (N, C_in, H, W)`` and ``w (C_out, C_in, kH, kW)``, with
    :math:`H_{\mathrm{out}} = \lfloor (H + 2p - k_H)/s \rfloor + 1`.

    ``prange`` over the ``N H_out`` output rows. For each output pixel ``(h, w)``, every tap
    inside the image adds ``X[n, c, s h + i - p, s w + j - p]`` times the tap's ``C_out`` weights
    (``wt[c, i, j, :]``, contiguous) to the pixel's ``C_out`` sums ``acc``.
    """
    n_batch, c_in, height, width = x.shape
    c_out, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    rows, cols = (height + 2 * ph - kh) // sh + 1, (width + 2 * pw - kw) // sw + 1
    wt = channels_last(w)
    y = np.empty((n_batch, c_out, rows, cols), dtype=x.dtype)
    for task in prange(n_batch * rows):
        n, h = task // rows, task % rows
        acc = np.empty(c_out, dtype=x.dtype)
        i_lo, i_hi = inside(sh * h, ph, height, kh)
        for q in range(cols):
            j_lo, j_hi = inside(sw * q, pw, width, kw)
            acc[:] = 0
            for c in range(c_in):
                for i in range(i_lo, i_hi):
                    for j in range(j_lo, j_hi):
                        pixel = x[n, c, sh * h + i - ph, sw * q + j - pw]
                        for o in range(c_out):
                            acc[o] += pixel * wt[c, i, j, o]
            for o in range(c_out):
                y[n, o, h, q] = acc[o]
    return y


@njit(parallel=True, cache=True, error_model="numpy")
def conv2d_input_grad(g, w, size, stride, padding):
    r"""``dX (N, C_in, *size)`` for the upstream ``g (N, C_out, H_out, W_out)`` of
    :func:`conv2d_forward`: :math:`dX_{n,c,y,x} = \sum G_{n,o,h,w} W_{o,c,i,j}` over the output
    pixels ``(h, w)`` and taps ``(i, j)`` with ``s h + i - p = y`` and ``s w + j - p = x``.

    The engine's ``contract`` and ``scatter``, one output pixel at a time: the pixel's column
    ``col[i kW + j]`` :math:`= \sum_o G_{n,o,h,w} W_{o,c,i,j}` (``wf[c, o, :]``, the filter's
    taps, contiguous), then each tap inside the image added to the input entry it was read
    from. ``prange`` over the ``N C_in`` input planes: the thread owning plane ``(n, c)`` makes
    every addition to it, so no two threads write one entry.
    """
    n_batch, c_out, rows, cols = g.shape
    _, c_in, kh, kw = w.shape
    (height, width), (sh, sw), (ph, pw) = size, stride, padding
    wf = taps_last(w)
    dx = np.zeros((n_batch, c_in, height, width), dtype=g.dtype)
    for task in prange(n_batch * c_in):
        n, c = task // c_in, task % c_in
        col = np.empty(kh * kw, dtype=g.dtype)
        for h in range(rows):
            i_lo, i_hi = inside(sh * h, ph, height, kh)
            for q in range(cols):
                j_lo, j_hi = inside(sw * q, pw, width, kw)
                col[:] = 0
                for o in range(c_out):
                    upstream = g[n, o, h, q]
                    for t in range(kh * kw):
                        col[t] += upstream * wf[c, o, t]
                for i in range(i_lo, i_hi):
                    for j in range(j_lo, j_hi):
                        dx[n, c, sh * h + i - ph, sw * q + j - pw] += col[i * kw + j]
    return dx


@njit(parallel=True, cache=True, error_model="numpy")
def conv2d_weight_grad(g, x, kernel, stride, padding):
    r"""``dW (C_out, C_in, kH, kW)`` :math:`= \sum_{n,h,w} G_{n,o,h,w} X_{n,c,\,sh+i-p,\,sw+j-p}`
    for the upstream ``g (N, C_out, H_out, W_out)`` and the input ``x (N, C_in, H, W)``.

    ``prange`` over at most :data:`BATCH_CHUNKS` chunks of images, each summing into its own
    ``partial (C_in, kH, kW, C_out)``. For each output pixel ``(h, w)``, every tap inside the
    image adds ``X[n, c, s h + i - p, s w + j - p]`` times the pixel's upstream gradients
    ``G[n, :, h, w]`` (``gt``, contiguous) to the tap's ``C_out`` sums; the chunks' partial sums
    are added at the end.
    """
    n_batch, c_out, rows, cols = g.shape
    _, c_in, height, width = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    chunks = min(n_batch, BATCH_CHUNKS)
    partial = np.empty((chunks, c_in, kh, kw, c_out), dtype=g.dtype)
    for chunk in prange(chunks):
        gt = np.empty((rows, cols, c_out), dtype=g.dtype)
        acc = partial[chunk]
        acc[:] = 0
        for n in range(chunk * n_batch // chunks, (chunk + 1) * n_batch // chunks):
            image_channels_last(g, n, gt)
            for h in range(rows):
                i_lo, i_hi = inside(sh * h, ph, height, kh)
                for q in range(cols):
                    j_lo, j_hi = inside(sw * q, pw, width, kw)
                    for c in range(c_in):
                        for i in range(i_lo, i_hi):
                            for j in range(j_lo, j_hi):
                                pixel = x[n, c, sh * h + i - ph, sw * q + j - pw]
                                for o in range(c_out):
                                    acc[c, i, j, o] += pixel * gt[h, q, o]
    dw = np.empty((c_out, c_in, kh, kw), dtype=g.dtype)
    for o in prange(c_out):
        for c in range(c_in):
            for i in range(kh):
                for j in range(kw):
                    total = partial[0, c, i, j, o]
                    for chunk in range(1, chunks):
                        total += partial[chunk, c, i, j, o]
                    dw[o, c, i, j] = total
    return dw


# ---- the transposed convolution: the same three kernels, the roles swapped ------------------------
def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair,
                             output_padding: Pair) -> np.ndarray:
    """``Y (N, C_out, H_out, W_out)`` of ``conv_transpose2d`` for ``x (N, C_in, H, W)`` and
    ``w (C_in, C_out, kH, kW)``, :math:`H_{out} = (H - 1) s - 2p + k_H + output\\_padding`: the
    input gradient of a conv2d whose output is ``x`` and whose input has ``Y``'s size (``w``'s
    layout is that conv2d's ``(C_out, C_in, ...)``), :func:`conv2d_input_grad`."""
    size = conv_transpose2d_size(x.shape[2:], w.shape[2:], stride, padding, output_padding)
    return conv2d_input_grad(x, w, size, stride, padding)


def conv_transpose2d_input_grad(g: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> np.ndarray:
    """``dX (N, C_in, H, W)`` of ``conv_transpose2d`` for its upstream ``g (N, C_out, H_out,
    W_out)``: the conv2d of ``g`` with ``w`` (the adjoint of the adjoint), :func:`conv2d_forward`.
    ``output_padding`` is not needed: ``floor((H_out + 2p - k) / s) + 1 = H`` for any
    ``output_padding < s``."""
    return conv2d_forward(g, w, stride, padding)


def conv_transpose2d_weight_grad(g: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair,
                                 padding: Pair) -> np.ndarray:
    """``dW (C_in, C_out, kH, kW)`` of ``conv_transpose2d`` for its upstream ``g (N, C_out, H_out,
    W_out)`` and its input ``x (N, C_in, H, W)``: :math:`\\sum_{n,h,w} X_{n,c,h,w}
    G_{n,o,\\,sh+i-p,\\,sw+j-p}`, the conv2d weight gradient with ``x`` as the upstream gradient
    and ``g`` as the input, :func:`conv2d_weight_grad`."""
    return conv2d_weight_grad(x, g, kernel, stride, padding)
