r"""Training the dictionary SAEs (:mod:`tinysae.models.dictionary`): Adam with the field's tricks.

The loop is :func:`tinysae.train.adam`'s contract (the same shuffles, the same update, a
:class:`~tinysae.train.History` per epoch), with what SAELens and dictionary_learning do around
each step ``t = 1, 2, ...``:

* **learning-rate warm-up**: the step size is ``learning_rate * min(1, t / warmup_steps)``;
* **sparsity warm-up**: the sparsity coefficient (L1 or L0) is scaled by
  ``min(1, t / sparsity_warmup_steps)``, so that the first steps learn to reconstruct before the
  penalty shrinks every code to 0 (Anthropic's April 2024 update; Conerly et al.);
* **unit-norm decoder**: before the update, each column ``w_j`` of ``W2`` loses the component of
  its gradient along itself, ``g_j <- g_j - (g_j . w_j) w_j`` (a step along ``w_j`` only changes
  its norm); after the update, each column is divided by its norm again. Adam's moments see the
  projected gradient;
* **dead latents** (TopK's AuxK): a latent is dead once it has not fired on any of the last
  ``dead_after`` training samples; the count runs over the samples seen, batch by batch, and
  each step's model (:meth:`~tinysae.models.dictionary.DictionaryModel.at_step`) gets the mask.

:func:`geometric_median` (Weiszfeld's algorithm) gives the decoder bias its first value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import numpy as np

from tinysae.backends.capabilities import Evaluation, bind
from tinysae.models import Batch
from tinysae.models.dictionary import DictionaryModel
from tinysae.params import Params
from tinysae.train import (
    AdamMoments,
    History,
    Progress,
    TrainResult,
    _adam_advice,
    _check_params,
    _evaluate,
    _in_fit_threads,
    _setup,
    step_seed,
)
from tinysae.validation import check_adam_settings, check_int


def geometric_median(X: np.ndarray, max_iter: int = 100, tol: float = 1e-7) -> np.ndarray:
    r"""The point ``y (n,)`` minimising :math:`\sum_i \lVert x_i - y\rVert` over the rows of
    ``X (m, n)``, by Weiszfeld's algorithm: start at the mean, then repeat
    :math:`y \leftarrow \sum_i w_i x_i / \sum_i w_i` with
    :math:`w_i = 1 / \max(\lVert x_i - y\rVert, 10^{-12})` until ``y`` moves less than
    ``tol`` times its scale. Unlike the mean it is not pulled far by a few outlying rows: the
    usual start of an SAE's decoder bias (Bricken et al. 2023, "Towards Monosemanticity")."""
    X = np.asarray(X, dtype=np.float64)
    y = X.mean(axis=0)
    for _ in range(max_iter):
        weights = 1.0 / np.maximum(np.linalg.norm(X - y, axis=1), 1e-12)
        moved = weights @ X / weights.sum()
        done = np.linalg.norm(moved - y) <= tol * max(1.0, np.linalg.norm(y))
        y = moved
        if done:
            break
    return y


def remove_parallel_component(W2: np.ndarray, grad: np.ndarray) -> np.ndarray:
    r"""``grad (n, F)`` minus, column by column, its part along the unit column ``W2[:, j]``:
    :math:`g_j - (g_j \cdot w_j)\, w_j`. What is left is tangent to the unit sphere at ``w_j``."""
    return grad - np.sum(grad * W2, axis=0, keepdims=True) * W2


def unit_norm_columns(W2: np.ndarray) -> np.ndarray:
    """``W2`` with each column divided by its norm (a zero column is left at 0)."""
    norms = np.linalg.norm(W2, axis=0, keepdims=True)
    return W2 / np.where(norms > 0, norms, 1.0)


def warmup(step: int, steps: int) -> float:
    """The warm-up factor of ``step`` (1-based): ``min(1, step / steps)``, 1 when ``steps`` is 0."""
    return 1.0 if steps == 0 else min(1.0, step / steps)


class DeadLatents:
    """How many training samples each of ``F`` latents has gone without firing.

    ``update(fired, m)`` after a batch of ``m`` samples: 0 for the latents that fired, ``+ m``
    for the others; ``mask()`` is True for the latents silent on the last ``dead_after`` samples
    or more (never, when ``dead_after`` is None).
    """

    def __init__(self, n_latents: int, dead_after: int | None) -> None:
        self.dead_after = None if dead_after is None else check_int("dead_after", dead_after)
        self.samples_since_fired = np.zeros(n_latents, dtype=np.int64)

    def update(self, fired: np.ndarray, m: int) -> None:
        self.samples_since_fired = np.where(fired, 0, self.samples_since_fired + m)

    def mask(self) -> np.ndarray:
        if self.dead_after is None:
            return np.zeros(self.samples_since_fired.shape, dtype=bool)
        return self.samples_since_fired >= self.dead_after


def _full_terms(model: DictionaryModel, evaluation: Evaluation) -> Evaluation:
    """``evaluation`` with every term the model can have, 0 for one this evaluation lacked (AuxK
    while no latent is dead), so that every epoch of a history has the same terms."""
    names = model.possible_term_names()
    return evaluation._replace(terms={name: evaluation.terms.get(name, 0.0) for name in names})


@_in_fit_threads
def train_dictionary(
    model: DictionaryModel,
    params: Params,
    X: np.ndarray,
    *,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    warmup_steps: int = 0,
    sparsity_warmup_steps: int = 0,
    dead_after: int | None = None,
    seed: int = 0,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    backend: str = "auto",
    verbose: bool = False,
    stream: TextIO | None = None,
    callback: Callable[[int, Params, History], bool | None] | None = None,
) -> tuple[TrainResult, DeadLatents]:
    """Minimise ``model``'s objective on ``X (m, n)`` from ``params`` (module docstring); return
    the :class:`~tinysae.train.TrainResult` and the dead-latent counts at the end.

    The history holds one entry per epoch: the mean minibatch loss, and the terms measured on all
    of ``X`` at full sparsity with the dead latents of that moment. Ctrl-C returns the parameters
    after the last completed step.
    """
    if not isinstance(model, DictionaryModel):
        raise TypeError(f"train_dictionary trains a model of tinysae.models.dictionary, "
                        f"got {type(model).__name__}")
    epochs, batch_size = check_int("epochs", epochs), check_int("batch_size", batch_size)
    warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
    sparsity_warmup_steps = check_int("sparsity_warmup_steps", sparsity_warmup_steps, minimum=0)
    learning_rate, beta1, beta2, eps = check_adam_settings(learning_rate, beta1, beta2, eps)
    seed = check_int("seed", seed, minimum=0)
    model, params, data, name, module = _setup(params, X, model, None, backend)
    X = data.inputs
    params = params.astype(X.dtype)
    advice = _adam_advice(learning_rate)
    dead = DeadLatents(model.n_latents, dead_after)

    start = time.perf_counter()
    history = History()
    progress = Progress(verbose, 1, "epoch", stream)
    m = X.shape[0]
    rng = np.random.default_rng(seed)
    moments = AdamMoments(params, beta1, beta2, eps)
    current = Params({**params, "W2": unit_norm_columns(params["W2"])})
    t = 0
    reason = "max_iter"
    try:
        for epoch in range(1, epochs + 1):
            perm = rng.permutation(m)
            batch_losses = []
            for i in range(0, m, batch_size):
                rows = perm[i : i + batch_size]
                t += 1
                step_model = model.at_step(warmup(t, sparsity_warmup_steps), dead.mask())
                batch = Batch(X[rows], None, step_seed(seed, t))
                evaluation = _evaluate(bind(module, step_model, batch), current, f"at Adam step {t}", advice)
                batch_losses.append(float(evaluation.loss))
                dead.update(evaluation.rho_hat > 0, len(rows))
                grads = {**evaluation.grads, "W2": remove_parallel_component(current["W2"],
                                                                             evaluation.grads["W2"])}
                stepped = moments.step(current, grads, learning_rate * warmup(t, warmup_steps), t)
                current = Params({**stepped, "W2": unit_norm_columns(stepped["W2"])})  # one assignment
            history.record_loss(epoch, float(np.mean(batch_losses)))
            where = f"after Adam epoch {epoch} (step {t})"
            _check_params(current, where, advice)
            full_model = model.at_step(1.0, dead.mask())
            full = _evaluate(bind(module, full_model, data), current, f"on all the data {where}", advice)
            history.record_terms(epoch, _full_terms(model, full))
            progress.update(epoch, history.loss[-1], time.perf_counter() - start, force=epoch == epochs)
            if callback is not None and callback(epoch, current, history):
                reason = "callback"
                break
    except KeyboardInterrupt:
        reason = "interrupted"
    elapsed = time.perf_counter() - start
    result = TrainResult(current, history, len(history), reason, elapsed, name)
    summary = f"stopped ({reason}) after {len(history)} epochs [{name}, {elapsed:.1f} s]"
    progress.close(summary if verbose else None)
    return result, dead
