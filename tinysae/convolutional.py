r"""``ConvolutionalAutoencoder``: sparse feature maps of images, as a scikit-learn-style estimator.

The model is :class:`tinysae.models.ConvolutionalSAE`: ``K`` filters ``W1 (K, C, k, k)``
convolved over ``(C, H, W)`` images give the feature maps ``H (m, K, H', W')``; a transposed
convolution with ``W2`` paints them back into ``Xhat``. Images go in and come out in PyTorch's
layout ``(N, C, H, W)``:

* :meth:`~ConvolutionalAutoencoder.fit` takes ``X_images (N, C, H, W)``;
* :meth:`~ConvolutionalAutoencoder.transform` gives the maps ``(N, K, H', W')``;
* :meth:`~ConvolutionalAutoencoder.inverse_transform` maps back to images ``(N, C, H, W)``;
* :meth:`~ConvolutionalAutoencoder.reconstruct` does both;
* ``score_samples`` and ``score`` are the base's (minus the squared reconstruction error).

The first-layer filters are ``filters_`` (``W1_``), one ``(C, k, k)`` picture per map.
"""

from __future__ import annotations

import numpy as np

from tinysae.estimator import SparseAutoencoder, _as_matrix, _fitted_param
from tinysae.models import ConvolutionalSAE
from tinysae.terms import Penalty
from tinysae.validation import check_int


def _as_images(X: object, name: str) -> np.ndarray:
    """``X`` as a finite float array ``(N, C, H, W)`` (float32 and float64 kept), else a clear error."""
    array = np.asarray(X)
    if array.ndim != 4:
        hint = (f"; for one-channel images of shape {array.shape} add the channel axis: {name}[:, None]"
                if array.ndim == 3 else "")
        raise ValueError(f"{name} must be 4-D images (N, C, H, W), got shape {array.shape}{hint}")
    if array.dtype.kind in "biuf" and not np.all(np.isfinite(array)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{name} must be finite (no NaN or inf), but {name}{list(index)} = {array[index]}")
    if 0 in array.shape:
        raise ValueError(f"{name} has shape {array.shape}; every axis needs at least one entry")
    return _as_matrix(array.reshape(array.shape[0], -1), name).reshape(array.shape)


class ConvolutionalAutoencoder(SparseAutoencoder):
    """A convolutional sparse autoencoder of images ``(N, C, H, W)``.

    Parameters
    ----------
    n_filters:
        ``K``, the number of filters (feature maps).
    kernel_size:
        ``k``: each filter is ``k x k`` pixels over every channel.
    stride, padding:
        Of the encoder's convolution (and the decoder's transpose): the maps are
        ``H' = floor((H + 2 padding - k) / stride) + 1`` on a side. The defaults (8x8 filters,
        stride 2, padding 3) halve each side.
    rho, beta, weight_decay, penalty, activation, output:
        The classic's objective (:class:`tinysae.objective.Objective`) with every map position as
        a hidden unit: ``"kl"`` holds each unit's mean activation near ``rho``; ``"l1"`` is
        :math:`\\frac{\\beta}{m}\\sum|H|`. With ``output="sigmoid"`` (the default) the images must
        lie in [0, 1], like :func:`tinysae.sample_patches`'s.
    solver, max_iter, batch_size, learning_rate, backend, random_state, verbose:
        Training, as for :class:`~tinysae.estimator.SparseAutoencoder`; Adam (the default) keeps
        the memory of a step to one minibatch.

    Attributes
    ----------
    params_, W1_ (= filters_), b1_, W2_, b2_:
        The fitted parameters: ``W1 (K, C, k, k)``, ``b1 (K,)``, ``W2 (K, C, k, k)``, ``b2 (C,)``.
    image_shape_:
        ``(C, H, W)`` of the images ``fit`` saw; ``n_features_in_`` is ``C H W``.
    model_, objective_, history_, n_iter_, stop_reason_, seed_:
        As for :class:`~tinysae.estimator.SparseAutoencoder`.
    """

    def __init__(
        self,
        n_filters: int = 16,
        kernel_size: int = 8,
        stride: int = 2,
        padding: int = 3,
        rho: float = 0.05,
        beta: float = 0.05,
        weight_decay: float = 1e-4,
        penalty: str | Penalty = "kl",
        activation: str = "sigmoid",
        output: str = "sigmoid",
        solver: str = "adam",
        max_iter: int = 30,
        batch_size: int = 16,
        learning_rate: float = 1e-2,
        backend: str = "auto",
        random_state: int | np.random.Generator | None = 0,
        verbose: bool = False,
    ) -> None:
        self.n_filters = n_filters
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.rho = rho
        self.beta = beta
        self.weight_decay = weight_decay
        self.penalty = penalty
        self.activation = activation
        self.output = output
        self.solver = solver
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- the model and its data
    def _build_model(self, n_features: int) -> ConvolutionalSAE:
        image_shape = self.image_shape_
        if int(np.prod(image_shape)) != n_features:
            raise ValueError(f"images of shape {image_shape} do not flatten to {n_features} features")
        return ConvolutionalSAE(image_shape, check_int("n_filters", self.n_filters),
                                check_int("kernel_size", self.kernel_size), check_int("stride", self.stride),
                                check_int("padding", self.padding, minimum=0), self._objective())

    def _fit_data(self, X: object) -> tuple[np.ndarray, None]:
        images = _as_images(X, "X")
        self.image_shape_ = tuple(int(size) for size in images.shape[1:])
        return images.reshape(images.shape[0], -1), None

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        return {"image_shape": np.array(self.image_shape_)}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        self.image_shape_ = tuple(int(size) for size in arrays["image_shape"])

    def _check_input(self, X: object) -> np.ndarray:
        """Images ``(N, C, H, W)`` of the fitted shape, flattened to the model's ``(N, C H W)``."""
        self._check_fitted()
        images = _as_images(X, "X")
        if images.shape[1:] != self.image_shape_:
            raise ValueError(f"X holds images of shape {images.shape[1:]}, but {type(self).__name__} was "
                             f"fitted on images of shape {self.image_shape_}")
        return images.reshape(images.shape[0], -1)

    def _images(self, flat: np.ndarray) -> np.ndarray:
        return flat.reshape(flat.shape[0], *self.image_shape_)

    # ----------------------------------------------------------------- using a fitted model
    def transform(self, X: object) -> np.ndarray:
        """The feature maps ``H (N, K, H', W')`` of images ``X (N, C, H, W)``."""
        return super().transform(X)

    def inverse_transform(self, H: object) -> np.ndarray:
        """Decode feature maps ``H (N, K, H', W')`` into images ``Xhat (N, C, H, W)``."""
        self._check_fitted()
        maps_shape = (self.model_.n_filters, *self.model_.map_shape)
        maps = _as_images(H, "H")
        if maps.shape[1:] != maps_shape:
            raise ValueError(f"H holds maps of shape {maps.shape[1:]}, but this model's are {maps_shape}")
        return self._images(self._decode(maps))

    def reconstruct(self, X: object) -> np.ndarray:
        """``inverse_transform(transform(X))``: the reconstructions ``(N, C, H, W)``."""
        return self._images(super().reconstruct(X))

    filters_ = _fitted_param("W1", "The learned filters ``(K, C, k, k)`` (the encoder's ``W1``).")
