"""Export a dictionary SAE to the files SAELens loads: ``sae_weights.safetensors`` and ``cfg.json``.

For whoever outgrows one machine: ``model.save_saelens(directory)`` writes a directory that
``sae_lens.SAE.load_from_disk(directory)`` reads (the layout of SAELens 6.18.0, checked against
its source: ``sae_lens/saes/sae.py``, ``topk_sae.py``, ``jumprelu_sae.py`` and
``loading/pretrained_sae_loaders.py``). The weights, in SAELens's names and its layout
(``x @ W_enc``, rows are latents in ``W_dec``):

=========  =================  ====================================
SAELens    shape              tinysae
=========  =================  ====================================
``W_enc``  ``(d_in, d_sae)``  ``W1^T``
``b_enc``  ``(d_sae,)``       ``b1``
``W_dec``  ``(d_sae, d_in)``  ``W2^T`` (``components_``)
``b_dec``  ``(d_in,)``        ``b2`` (subtracted from the input: ``apply_b_dec_to_input``)
=========  =================  ====================================

and ``cfg.json`` names the architecture: ``"standard"`` for :class:`tinysae.ReLUSAE` (ReLU of
the pre-activations), ``"topk"`` with ``k`` for :class:`tinysae.TopKSAE` (ReLU of each row's
``k`` largest), and ``"jumprelu"`` with a ``threshold (d_sae,)`` tensor for
:class:`tinysae.JumpReLUSAE` (``theta = exp(log_threshold)``) and for a BatchTopK
:class:`tinysae.TopKSAE`, which encodes one sample at a time by its ``threshold_`` (SAELens
turns its own BatchTopK SAEs into JumpReLU ones for inference in the same way). Every SAELens
encoder computes the same code as tinysae's ``transform``.

The file is written by ``safetensors.numpy`` (install ``tinysae[export]``): torch is not needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

#: The SAELens version whose loader the layout was checked against.
SAELENS_VERSION = "6.18.0"
WEIGHTS_FILE = "sae_weights.safetensors"
CONFIG_FILE = "cfg.json"


def saelens_tensors(model: Any) -> dict[str, np.ndarray]:
    """The fitted ``model``'s weights under SAELens's names, contiguous, in the parameters' dtype."""
    params = model.params_
    tensors = {"W_enc": params["W1"].T, "b_enc": params["b1"], "W_dec": params["W2"].T, "b_dec": params["b2"]}
    threshold = _threshold(model)
    if threshold is not None:
        tensors["threshold"] = threshold
    dtype = params["W1"].dtype
    return {name: np.ascontiguousarray(array, dtype=dtype) for name, array in tensors.items()}


def _threshold(model: Any) -> np.ndarray | None:
    """JumpReLU's thresholds ``(d_sae,)``: learned, or a BatchTopK model's one threshold repeated."""
    from tinysae.dictionary import JumpReLUSAE, TopKSAE

    if isinstance(model, JumpReLUSAE):
        return model.threshold_
    if isinstance(model, TopKSAE) and model.batch_topk:
        return np.full(model.params_["W1"].shape[0], model.threshold_)
    return None


def saelens_config(model: Any) -> dict[str, Any]:
    """The ``cfg.json`` of the fitted ``model``: SAELens's ``SAEConfig`` fields and the architecture's."""
    from tinysae import __version__
    from tinysae.dictionary import JumpReLUSAE, ReLUSAE, TopKSAE

    W1 = model.params_["W1"]
    config: dict[str, Any] = {
        "d_in": int(W1.shape[1]),
        "d_sae": int(W1.shape[0]),
        "dtype": str(W1.dtype),
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {"sae_lens_version": SAELENS_VERSION, "sae_lens_training_version": SAELENS_VERSION,
                     "exported_by": f"tinysae {__version__} ({type(model).__name__})"},
    }
    if isinstance(model, ReLUSAE):
        config["architecture"] = "standard"
    elif isinstance(model, TopKSAE) and not model.batch_topk:
        config.update(architecture="topk", k=int(model.k), rescale_acts_by_decoder_norm=False)
    elif isinstance(model, (TopKSAE, JumpReLUSAE)):
        config["architecture"] = "jumprelu"
    else:
        raise TypeError(f"save_saelens exports ReLUSAE, TopKSAE and JumpReLUSAE, not {type(model).__name__}")
    return config


def save_saelens(model: Any, directory: str | os.PathLike) -> Path:
    """Write the fitted ``model``'s ``sae_weights.safetensors`` and ``cfg.json`` under ``directory``
    (created if needed; existing files of those names are replaced); return the directory."""
    try:
        from safetensors.numpy import save_file
    except ImportError:
        raise ImportError("save_saelens writes safetensors files: pip install 'tinysae[export]'") from None
    config = saelens_config(model)  # TypeError for another estimator, before anything is written
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(saelens_tensors(model), str(directory / WEIGHTS_FILE))
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return directory
