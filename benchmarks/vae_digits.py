"""The variational autoencoder on the digits: held-out ELBO per image against two yardsticks.

Run as ``python benchmarks/vae_digits.py [--quick] [--json results.json]``. The data are
scikit-learn's 8x8 digits scaled to [0, 1] (``tinysae.load_digits``: the pixels / 16), split by
``train_test_split(test_size=0.3, random_state=0, stratify=y)``: 1257 training and 540 held-out
images. Every model is fit on the training part and measured on the held-out part, in the same
run, and every fit is timed (wall clock, this machine):

* **independent pixels**: each pixel a Bernoulli with its training mean, clipped to
  ``[1e-3, 1 - 1e-3]`` (4 border pixels are 0 in every training image); its log-likelihood per
  image is exact, the baseline any latent variable model must beat;
* **tinysae**: ``VariationalAutoencoder(n_latent=d)`` with its defaults (64-128-d-128-64, relu,
  Bernoulli decoder, Adam: 150 epochs of 128 at 3e-3), d = 2 and 8; the held-out ELBO is
  ``score`` (100 draws of eps per image, the KL exact). Its fit includes the full-data evaluation
  Adam records after every epoch;
* **PyTorch** (when torch is installed; a yardstick, never a dependency of tinysae): the same
  network in ``torch.nn`` (PyTorch's default initialisation), in float64 as tinysae's, trained
  with ``torch.optim.Adam`` for the same epochs, batch size and learning rate on one thread
  (``torch.set_num_threads(1)``, as tinysae's fits hold BLAS to one thread), its held-out ELBO
  estimated with 100 draws too.

ELBOs are in nats per image (higher is better). ``--quick`` shortens every fit to 10 epochs (a
smoke run: its numbers are not the results). scikit-learn provides the split.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

import tinysae

LATENT_SIZES = (2, 8)
HIDDEN = 128
#: The clip of the independent-pixel baseline's probabilities.
CLIP = 1e-3
#: Draws of eps per held-out image for the PyTorch VAE's ELBO (tinysae's n_elbo_samples default).
N_DRAWS = 100


def timed(fit: Callable[[], Any]) -> tuple[Any, float]:
    """``fit()`` and the seconds it took."""
    start = time.perf_counter()
    result = fit()
    return result, time.perf_counter() - start


def independent_pixels(X_train: np.ndarray, X_test: np.ndarray) -> float:
    """The held-out log-likelihood per image of independent Bernoulli pixels with the training
    means, clipped to ``[CLIP, 1 - CLIP]``."""
    p = np.clip(X_train.mean(axis=0), CLIP, 1 - CLIP)
    return float(np.mean(np.sum(X_test * np.log(p) + (1 - X_test) * np.log(1 - p), axis=1)))


def torch_vae(X_train: np.ndarray, X_test: np.ndarray, d: int, settings: dict, seed: int = 0) -> float:
    """Train PyTorch's 64-128-d-128-64 VAE like tinysae's and return its held-out ELBO per image."""
    import torch
    from torch import nn
    from torch.nn import functional

    torch.manual_seed(seed)
    n = X_train.shape[1]
    encoder = nn.Sequential(nn.Linear(n, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * d)).double()
    decoder = nn.Sequential(nn.Linear(d, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, n)).double()

    def minus_elbo(x: torch.Tensor) -> torch.Tensor:
        """Per image: the binary cross-entropy from the logits at one draw, plus the exact KL."""
        mu, logvar = encoder(x).chunk(2, dim=1)
        z = mu + torch.exp(logvar / 2) * torch.randn_like(mu)
        reconstruction = functional.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").sum(1)
        return reconstruction + 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)

    optimiser = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=settings["learning_rate"])
    data = torch.from_numpy(X_train)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(settings["max_iter"]):
        for rows in torch.randperm(len(data), generator=generator).split(settings["batch_size"]):
            optimiser.zero_grad()
            loss = minus_elbo(data[rows]).mean()
            loss.backward()
            optimiser.step()
    with torch.no_grad():
        test = torch.from_numpy(X_test)
        return float(-torch.stack([minus_elbo(test) for _ in range(N_DRAWS)]).mean())


def results(X_train: np.ndarray, X_test: np.ndarray, quick: bool) -> list[dict]:
    shortened = {"max_iter": 10} if quick else {}
    settings = tinysae.VariationalAutoencoder(random_state=0, **shortened).get_params()
    training = {key: settings[key] for key in ("max_iter", "batch_size", "learning_rate")}
    rows = [{"n_latent": "-", "method": "independent pixels (Bernoulli, training means)",
             "elbo": independent_pixels(X_train, X_test), "seconds": 0.0}]
    try:
        import torch
    except ImportError:
        torch = None
    for d in LATENT_SIZES:
        model = tinysae.VariationalAutoencoder(**{**settings, "n_latent": d})
        vae, seconds = timed(lambda model=model: model.fit(X_train))
        rows.append({"n_latent": d, "method": "tinysae VariationalAutoencoder", "elbo": vae.score(X_test),
                     "seconds": seconds})
        if torch is not None:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                elbo, seconds = timed(lambda d=d: torch_vae(X_train, X_test, d, training))
            finally:
                torch.set_num_threads(threads)
            rows.append({"n_latent": d, "method": f"PyTorch {torch.__version__} VAE, same training",
                         "elbo": elbo, "seconds": seconds})
    return rows


def show(rows: list[dict]) -> None:
    """Print ``rows`` as a plain table."""
    print(f"{'n_latent':>8}  {'method':<48}  {'ELBO (nats)':>12}  {'fit (s)':>8}")
    for row in rows:
        print(f"{row['n_latent']!s:>8}  {row['method']:<48}  {row['elbo']:>12.3f}  {row['seconds']:>8.1f}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 epochs: a smoke run, not the results")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    X, y = tinysae.load_digits()
    X_train, X_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)[:2]
    rows = results(X_train, X_test, args.quick)
    show(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
