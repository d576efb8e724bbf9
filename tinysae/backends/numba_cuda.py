r"""The ``cuda`` backend: the classic's equations (``docs/design.md``) as ``numba.cuda`` kernels on a GPU.

Forward and backward are the reference's lines (:mod:`tinysae.backends.numpy_ref`), each a
kernel from :mod:`tinysae.backends._cuda_kernels`::

    Z2 = X W1^T + b1,  H = f(Z2)               matmul, bias_activate          (m, k)
    rho_hat = mean_i H                         column_sums                    (k,)
    Z3 = H W2^T + b2,  Xhat = g(Z3)            matmul, output_delta           (m, n)
    D3 = (Xhat - X) * g'(Z3) / m               output_delta                   (m, n)
    s  = -rho / rho_hat + (1 - rho) / (1 - rho_hat)    sparsity_terms         (k,)
    D2 = (D3 W2 + beta * s / m) * f'(Z2)       matmul, hidden_delta           (m, k)
    dW2 = D3^T H + lambda W2,  db2 = sum_i D3  matmul, add_scaled, column_sums
    dW1 = D2^T X + lambda W1,  db1 = sum_i D2  matmul, add_scaled, column_sums

Everything is computed in the inputs' dtype (float32 or float64). :func:`loss_and_grad` and
:func:`evaluate` copy host arrays in and out on every call. Two paths keep the data on the GPU:
:func:`bind` (what :func:`tinysae.train.lbfgs` uses, through
:func:`tinysae.backends.capabilities.bind`) uploads ``X`` and allocates the buffers once, so
that each later evaluation moves only the parameters up and the gradients down; and
:func:`adam_device` keeps the data, the parameters and Adam's moments on the GPU for a whole
minibatch training run.

numba-cuda and a GPU are optional: importing this module needs neither (``numba.cuda`` is
imported only when a kernel is first needed), and :func:`check_available` says what is
missing. Under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is first
imported) the kernels run as plain Python on the CPU, very slowly: that is how the tests run
them, and why ``backend="auto"`` should pick this backend only when :func:`is_real_gpu`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

import numpy as np

from tinysae.backends import BackendUnavailable, classic_model
from tinysae.backends.capabilities import Evaluation, UnsupportedModel, classic_objective, classic_support
from tinysae.models import Batch, Model
from tinysae.objective import Objective, check_data
from tinysae.params import Params
from tinysae.validation import check_adam_settings, check_int

#: Tile width: blocks of ``TILE x TILE`` threads, shared-memory tiles of ``TILE x TILE`` entries.
TILE = 16

_INSTALL_HINT = 'pip install "tinysae[cuda]" (it installs numba-cuda)'
_TOOLKIT_HINT = (
    'pip install "numba-cuda[cu12]" (CUDA 12 drivers) or "numba-cuda[cu13]" (CUDA 13 drivers), '
    "or install the CUDA toolkit"
)


def _compiler_problem() -> str | None:
    """None when numba-cuda can load its compilers (NVVM, NVRTC), else what went wrong.

    A GPU is not enough: numba-cuda compiles kernels with NVVM and NVRTC, which come from a CUDA
    toolkit or from numba-cuda's ``cu12``/``cu13`` extras.
    """
    try:
        from numba.cuda.cudadrv import nvrtc, nvvm
    except ImportError:  # another numba-cuda layout: the first compilation will say what is wrong
        return None
    try:
        if not nvvm.is_available():
            return "NVVM (libnvvm) cannot be loaded"
        nvrtc.get_supported_ccs()  # loads libnvrtc
    except Exception as err:  # the loaders raise several unrelated types
        return f"{type(err).__name__}: {str(err).splitlines()[0]}"
    return None


def _cuda() -> ModuleType:
    """``numba.cuda`` from the numba-cuda package, or :class:`BackendUnavailable` saying why not."""
    try:
        import numba_cuda  # noqa: F401  (numba's own old numba.cuda is deprecated; use this one)
    except ImportError as err:
        raise BackendUnavailable(
            f'backend="cuda" needs the numba-cuda package, which is not installed: {_INSTALL_HINT}. '
            'Without a GPU, use backend="numba" or backend="numpy".'
        ) from err
    from numba import config, cuda

    if not cuda.is_available():
        raise BackendUnavailable(
            'backend="cuda" found no usable CUDA GPU (numba.cuda.is_available() is False): check '
            "that an NVIDIA GPU and its driver are present (nvidia-smi works); otherwise use "
            'backend="numba" or backend="numpy". Tests can run these kernels on numba\'s CUDA '
            "simulator: NUMBA_ENABLE_CUDASIM=1."
        )
    if not config.ENABLE_CUDASIM:
        problem = _compiler_problem()
        if problem is not None:
            raise BackendUnavailable(
                f'backend="cuda" found a GPU but numba-cuda cannot compile kernels ({problem}): '
                f"{_TOOLKIT_HINT}."
            )
    return cuda


def check_available() -> None:
    """Raise :class:`~tinysae.backends.BackendUnavailable` (saying what to install) unless
    ``numba.cuda`` can run kernels here, on a GPU or on numba's CUDA simulator."""
    _cuda()


def is_real_gpu() -> bool:
    """Whether kernels would run on a real GPU (False without one, and under the simulator)."""
    try:
        _cuda()
    except BackendUnavailable:
        return False
    from numba import config

    return not config.ENABLE_CUDASIM


def auto_eligible() -> bool:
    """Whether ``backend="auto"`` may pick this backend: on a real GPU only, never on the
    simulator (which is for tests, thousands of times slower than the CPU backends)."""
    return is_real_gpu()


def _compute_dtype(params: Params, X: np.ndarray) -> np.dtype:
    """The dtype the kernels compute in: the common type of ``params`` and ``X``."""
    dtype = np.result_type(params.dtype, X.dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f'backend="cuda" computes in float32 or float64; params and X give {dtype}')
    return dtype


def _check_tile(tile: object) -> int:
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or not 1 <= tile <= 32:
        raise ValueError(f"tile must be an integer from 1 to 32 (tile*tile threads per block), got {tile!r}")
    return int(tile)


def _blocks(size: int, width: int) -> int:
    return max(1, math.ceil(size / width))


@dataclass
class _DeviceParams:
    """``W1, b1, W2, b2`` as device arrays."""

    W1: object
    b1: object
    W2: object
    b2: object

    @classmethod
    def upload(cls, cuda: ModuleType, params: Params, dtype: np.dtype) -> _DeviceParams:
        names = ("W1", "b1", "W2", "b2")
        return cls(*(cuda.to_device(np.ascontiguousarray(params[name], dtype)) for name in names))

    @classmethod
    def zeros_like(cls, cuda: ModuleType, params: _DeviceParams) -> _DeviceParams:
        return cls(*(cuda.to_device(np.zeros(a.shape, a.dtype)) for a in params.arrays()))

    def arrays(self) -> tuple:
        return self.W1, self.b1, self.W2, self.b2

    def flat(self) -> tuple:
        """1-D views of the four arrays (for the elementwise Adam kernel)."""
        return tuple(a.reshape(a.size) for a in self.arrays())

    def copy_from(self, params: Params, dtype: np.dtype) -> None:
        """Overwrite the four device arrays with ``params`` (same shapes), in ``dtype``."""
        for device, name in zip(self.arrays(), ("W1", "b1", "W2", "b2")):
            device.copy_to_device(np.ascontiguousarray(params[name], dtype))

    def download(self) -> Params:
        return Params(W1=self.W1.copy_to_host(), b1=self.b1.copy_to_host(), W2=self.W2.copy_to_host(),
                      b2=self.b2.copy_to_host())


class _Workspace:
    """The device buffers of one objective evaluation on ``m`` rows, and the launches that fill
    them: after :meth:`evaluate`, ``grads`` holds ``dW1, db1, dW2, db2`` and ``out[t]`` holds J."""

    def __init__(self, cuda: ModuleType, K: SimpleNamespace, m: int, n: int, k: int) -> None:
        dt = K.dtype
        self.cuda, self.K, self.tile = cuda, K, K.tile
        self.m, self.n, self.k = m, n, k
        self.X = cuda.device_array((m, n), dt)  # the minibatch, for adam_device
        self.Z2 = cuda.device_array((m, k), dt)
        self.H = cuda.device_array((m, k), dt)
        self.Z3 = cuda.device_array((m, n), dt)
        self.D3 = cuda.device_array((m, n), dt)
        self.E = cuda.device_array((m, n), dt)  # (Xhat - X)^2
        self.D2 = cuda.device_array((m, k), dt)  # first D3 W2, then D2 in place
        self.rho_hat = cuda.device_array((1, k), dt)
        self.s = cuda.device_array(k, dt)
        self.kl = cuda.device_array(k, dt)
        self.grads = _DeviceParams(
            cuda.device_array((k, n), dt), cuda.device_array((1, k), dt),
            cuda.device_array((n, k), dt), cuda.device_array((1, n), dt),
        )  # fmt: skip
        # 1-element sums: reconstruction, ||W1||^2, ||W2||^2, sum_j KL_j, sum_j rho_hat_j
        self.sums = {name: cuda.device_array((1, 1), dt) for name in ("E", "W1", "W2", "kl", "rho_hat")}
        self.terms = cuda.device_array(3, dt)  # reconstruction, weight decay, sparsity
        self._scratch: dict[tuple[int, int], object] = {}

    # -- launch helpers --------------------------------------------------------------------------

    def _grid2(self, rows: int, cols: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Blocks of ``tile x tile`` threads covering a (rows, cols) array; x runs along columns."""
        return (_blocks(cols, self.tile), _blocks(rows, self.tile)), (self.tile, self.tile)

    def _grid1(self, size: int) -> tuple[int, int]:
        threads = self.tile * self.tile
        return _blocks(size, threads), threads

    def _buffer(self, shape: tuple[int, int]) -> object:
        """A reusable scratch array (kernels on one stream run in order, so reuse is safe)."""
        if shape not in self._scratch:
            self._scratch[shape] = self.cuda.device_array(shape, self.K.dtype)
        return self._scratch[shape]

    def column_sums(self, A: object, out: object, scale: float = 1.0, square: bool = False) -> None:
        """``out[0, j] = scale * sum_i A[i, j]`` (of ``A[i, j]^2`` when ``square``), ``out`` (1, cols):
        each pass sums chunks of ``tile*tile`` rows, until one chunk is left."""
        T = self.K.dtype.type
        rows, cols = A.shape
        chunk = self.tile * self.tile
        while True:
            chunks = _blocks(rows, chunk)
            last = chunks == 1
            dst = out if last else self._buffer((chunks, cols))
            grid = (_blocks(cols, self.tile), chunks)
            self.K.column_sums[grid, (self.tile, self.tile)](A, dst, T(scale if last else 1.0), square)
            if last:
                return
            A, rows, square = dst, chunks, False

    def total(self, A: object, out: object, square: bool = False) -> None:
        """``out[0, 0] = sum_ij A[i, j]`` (or of squares): column sums, then their sum."""
        cols = A.shape[1]
        per_column = self._buffer((1, cols))
        self.column_sums(A, per_column, square=square)
        self.column_sums(per_column.reshape(cols, 1), out)

    # -- the objective ---------------------------------------------------------------------------

    def evaluate(self, P: _DeviceParams, X: object, objective: Objective, out: object, t: int) -> None:
        """J at ``P`` on data ``X (m, n)`` into ``out[t]``, its gradient into ``self.grads``."""
        from tinysae.backends._cuda_kernels import ACTIVATION_CODES, KL, PENALTY_CODES

        K, T = self.K, self.K.dtype.type
        m, n, k = self.m, self.n, self.k
        f = ACTIVATION_CODES[objective.activation]
        g = ACTIVATION_CODES[objective.output]
        penalty = PENALTY_CODES[objective.penalty]
        beta, lam, rho = T(objective.beta), T(objective.weight_decay), T(objective.rho)
        G = self.grads
        # forward
        K.matmul[self._grid2(m, k)](X, P.W1, self.Z2, False, True)  # Z2 = X W1^T
        K.bias_activate[self._grid2(m, k)](self.Z2, P.b1, self.H, f)  # Z2 += b1, H = f(Z2)
        self.column_sums(self.H, self.rho_hat, scale=1.0 / m)  # rho_hat = mean_i H
        rho_hat = self.rho_hat.reshape(k)
        K.matmul[self._grid2(m, n)](self.H, P.W2, self.Z3, False, True)  # Z3 = H W2^T
        # Z3 += b2, Xhat = g(Z3), D3 = (Xhat - X) g'(Z3) / m, E = (Xhat - X)^2
        K.output_delta[self._grid2(m, n)](self.Z3, P.b2, X, g, T(m), self.D3, self.E)
        if penalty == KL:
            K.sparsity_terms[self._grid1(k)](rho_hat, rho, self.s, self.kl)  # s, KL(rho || rho_hat)
        # backward
        K.matmul[self._grid2(m, k)](self.D3, P.W2, self.D2, False, False)  # D3 W2
        K.hidden_delta[self._grid2(m, k)](self.D2, self.Z2, self.H, self.s, penalty, beta, T(m), f)
        K.matmul[self._grid2(n, k)](self.D3, self.H, G.W2, True, False)  # dW2 = D3^T H
        K.add_scaled[self._grid2(n, k)](G.W2, lam, P.W2)  # ... + lambda W2
        K.matmul[self._grid2(k, n)](self.D2, X, G.W1, True, False)  # dW1 = D2^T X
        K.add_scaled[self._grid2(k, n)](G.W1, lam, P.W1)  # ... + lambda W1
        self.column_sums(self.D3, G.b2)  # db2 = sum_i D3
        self.column_sums(self.D2, G.b1)  # db1 = sum_i D2
        # loss
        sums = self.sums
        self.total(self.E, sums["E"])
        self.total(P.W1, sums["W1"], square=True)
        self.total(P.W2, sums["W2"], square=True)
        if penalty == KL:
            self.total(self.kl.reshape(1, k), sums["kl"])
        self.total(self.rho_hat, sums["rho_hat"])
        flat = {name: a.reshape(1) for name, a in sums.items()}
        K.assemble_loss[1, 1](
            flat["E"], flat["W1"], flat["W2"], flat["kl"], flat["rho_hat"], penalty, beta, lam, T(m), out, t,
            self.terms,
        )

    def download_grads(self) -> Params:
        G = self.grads
        return Params(W1=G.W1.copy_to_host(), b1=G.b1.copy_to_host()[0], W2=G.W2.copy_to_host(),
                      b2=G.b2.copy_to_host()[0])

    def download_terms(self) -> dict[str, float]:
        """The three terms of the last :meth:`evaluate`, as ``assemble_loss`` measured them."""
        reconstruction, decay, sparsity = (float(v) for v in self.terms.copy_to_host())
        return {"reconstruction": reconstruction, "weight_decay": decay, "sparsity": sparsity}


def _kernels(dtype: np.dtype, tile: int) -> SimpleNamespace:
    from tinysae.backends._cuda_kernels import kernels

    return kernels(np.dtype(dtype).name, _check_tile(tile))


def _evaluate(params: Params, X: np.ndarray, objective: Objective, tile: int) -> tuple[_Workspace, float]:
    """One evaluation on the GPU: its workspace (holding the gradients and sums) and J."""
    cuda = _cuda()
    dtype = _compute_dtype(params, X)
    K = _kernels(dtype, tile)
    (m, n), k = X.shape, params["W1"].shape[0]
    ws = _Workspace(cuda, K, m, n, k)
    P = _DeviceParams.upload(cuda, params, dtype)
    X_d = cuda.to_device(np.ascontiguousarray(X, dtype))
    out = cuda.device_array(1, dtype)
    ws.evaluate(P, X_d, objective, out, 0)
    return ws, float(out.copy_to_host()[0])


def loss_and_grad(
    params: Params, X: np.ndarray, objective: Objective, *, tile: int = TILE
) -> tuple[float, Params]:
    """``(J, grads)`` computed on the GPU; host arrays in and out (inputs already validated).

    ``tile`` is the block and shared-memory tile width (the tests use a small one on the
    simulator, where every thread is a Python call).
    """
    ws, loss = _evaluate(params, X, objective, tile)
    return loss, ws.download_grads()


# ---- as a backend ------------------------------------------------------------------------------
def supports(model: Model) -> str | None:
    """None when this backend implements ``model`` (the classic with kl, l1 or none), else why not."""
    return classic_support(model, "cuda")


def _check_batch(batch: Batch) -> None:
    if batch.targets is not None:
        raise UnsupportedModel('backend="cuda" reconstructs the inputs themselves; a batch with separate '
                               'targets needs backend="numpy" or backend="autograd"')


def _download_evaluation(model: Model, ws: _Workspace) -> Evaluation:
    """The :class:`Evaluation` of ``ws``'s last :meth:`_Workspace.evaluate`, copied to the host."""
    terms = ws.download_terms()
    loss = sum(terms[name] for name in model.term_names())
    rho_hat = ws.rho_hat.copy_to_host().reshape(-1)
    return Evaluation(loss, ws.download_grads(), {name: terms[name] for name in model.term_names()}, rho_hat)


def evaluate(model: Model, params: Params, batch: Batch, *, tile: int = TILE) -> Evaluation:
    """The classic's loss, gradient and terms on ``batch``, computed on the GPU. A batch with
    separate targets raises :class:`~tinysae.backends.capabilities.UnsupportedModel`."""
    _check_batch(batch)
    ws, _ = _evaluate(params, batch.inputs, classic_objective(model), tile)
    return _download_evaluation(model, ws)


@dataclass
class _Resident:
    """What stays on the GPU between evaluations of one batch in one dtype: the kernels, ``X``,
    the parameters' device arrays (overwritten at each call), the workspace and J's slot."""

    ws: _Workspace
    X: object
    P: _DeviceParams
    out: object


def bind(model: Model, batch: Batch, *, tile: int = TILE) -> Callable[[Params], Evaluation]:
    """``params -> evaluate(model, params, batch)``, with ``batch.inputs`` uploaded once.

    The first call in a dtype (float32 or float64, the common type of the parameters and ``X``, as
    in :func:`evaluate`) uploads ``X`` and allocates the workspace and the parameters' device
    arrays; every later call copies only ``W1, b1, W2, b2`` up and the gradients, the terms and
    ``rho_hat`` down (``k (n + 1) + n (k + 1)`` numbers each way, against ``m n`` for ``X``). The
    parameters are validated by the caller, as for :func:`evaluate`; ``batch`` must not change
    while the function is in use (:func:`tinysae.train.lbfgs` holds its own batch for the fit).
    """
    _check_batch(batch)
    objective = classic_objective(model)
    tile = _check_tile(tile)
    X = batch.inputs
    resident: dict[tuple[np.dtype, tuple[int, int]], _Resident] = {}

    def evaluate_at(params: Params) -> Evaluation:
        dtype = _compute_dtype(params, X)
        key = (dtype, params["W1"].shape)
        if key not in resident:
            cuda = _cuda()
            (m, n), k = X.shape, params["W1"].shape[0]
            resident[key] = _Resident(_Workspace(cuda, _kernels(dtype, tile), m, n, k),
                                      cuda.to_device(np.ascontiguousarray(X, dtype)),
                                      _DeviceParams.upload(cuda, params, dtype), cuda.device_array(1, dtype))
        else:
            resident[key].P.copy_from(params, dtype)
        state = resident[key]
        state.ws.evaluate(state.P, state.X, objective, state.out, 0)
        return _download_evaluation(model, state.ws)

    return evaluate_at


def adam_device(
    params: Params,
    X: np.ndarray,
    objective: Objective,
    *,
    learning_rate: float,
    epochs: int,
    batch_size: int,
    seed: int | np.random.Generator | None,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    tile: int = TILE,
) -> tuple[Params, list[float]]:
    r"""Minibatch Adam with data, parameters and moments resident on the GPU.

    The same loop as the CPU trainer, step for step: ``rng = np.random.default_rng(seed)``;
    each epoch draws ``perm = rng.permutation(m)`` (on the host, uploaded) and takes the
    minibatches ``perm[i:i+batch_size]`` in order (the last may be smaller). Step
    :math:`t = 1, 2, \dots` evaluates J and its gradient g on the minibatch (``m`` = its size)
    and, for each parameter p,

    .. math::
        m_p \leftarrow \beta_1 m_p + (1-\beta_1) g, \quad
        v_p \leftarrow \beta_2 v_p + (1-\beta_2) g^2, \quad
        p \leftarrow p - \eta \frac{m_p / (1-\beta_1^t)}{\sqrt{v_p / (1-\beta_2^t)} + \epsilon}.

    Only the permutation goes up per epoch; the minibatch losses stay on the device until the
    end. Returns the trained parameters and, per epoch, the mean of its minibatch losses; raises
    ``FloatingPointError`` naming the first step whose loss was not finite.
    """
    model = classic_model(params, objective)
    params = model.check_params(params)
    X = check_data(X, objective, model.n_visible)
    learning_rate, beta1, beta2, eps = check_adam_settings(learning_rate, beta1, beta2, eps)
    epochs = check_int("epochs", epochs)
    batch_size = check_int("batch_size", batch_size)

    cuda = _cuda()
    dtype = _compute_dtype(params, X)
    T = dtype.type
    K = _kernels(dtype, tile)
    (m, n), k = X.shape, model.n_hidden
    rng = np.random.default_rng(seed)
    steps_per_epoch = _blocks(m, batch_size)

    X_d = cuda.to_device(np.ascontiguousarray(X, dtype))  # the data goes up once
    P = _DeviceParams.upload(cuda, params, dtype)
    moments = _DeviceParams.zeros_like(cuda, P)
    velocities = _DeviceParams.zeros_like(cuda, P)
    losses = cuda.device_array(epochs * steps_per_epoch, dtype)
    hyper = (T(learning_rate), T(beta1), T(beta2), T(eps))
    workspaces: dict[int, _Workspace] = {}  # at most two minibatch sizes
    t = 0
    for _ in range(epochs):
        perm = cuda.to_device(rng.permutation(m))
        for start in range(0, m, batch_size):
            size = min(batch_size, m - start)
            if size not in workspaces:
                workspaces[size] = _Workspace(cuda, K, size, n, k)
            ws = workspaces[size]
            K.gather_rows[ws._grid2(size, n)](X_d, perm, start, ws.X)
            ws.evaluate(P, ws.X, objective, losses, t)
            t += 1
            c1, c2 = T(1.0 - beta1**t), T(1.0 - beta2**t)  # bias corrections 1 - beta^t
            for p, g, mom, vel in zip(P.flat(), ws.grads.flat(), moments.flat(), velocities.flat()):
                K.adam_step[ws._grid1(p.shape[0])](p, g, mom, vel, *hyper, c1, c2)
    per_step = losses.copy_to_host().astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(per_step))
    if bad.size:  # the CPU trainer stops at the same step (its message also names the term)
        step = int(bad[0])
        loss = per_step[step]
        raise FloatingPointError(f"the objective became {loss} at Adam step {step + 1} (on the GPU); "
                                 f"lower learning_rate (now {learning_rate:g})")
    return P.download(), [float(np.mean(row)) for row in per_step.reshape(epochs, steps_per_epoch)]
