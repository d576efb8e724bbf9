r"""``Params``: a model's parameters, an ordered mapping of names to arrays.

Like the parameter tree of PyTorch's ``nn.Module`` (``named_parameters()``), a :class:`Params`
knows only names and arrays, so optimisers, gradient checks and checkpoints need nothing else::

    params["W1"]            # or params.W1
    list(params)            # ['W1', 'b1', 'W2', 'b2'] for the classic, in the model's order
    theta = params.flatten()               # one vector, the arrays raveled in order
    params.unflatten(theta)                # the inverse, with the same names and shapes

Gradients are a :class:`Params` with the same names (``grads["W1"]`` is
:math:`\partial J / \partial W_1`). A model declares its parameters as :class:`ParamSpec` rows
(name, shape, init rule); :func:`init_params` turns a spec into arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

#: An init rule: ``init(rng, shape) -> array`` (float64).
Init = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def zeros(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The init rule of biases: all zeros (``rng`` is not used)."""
    return np.zeros(shape)


def uniform(r: float) -> Init:
    """The init rule ``U[-r, r]``, entry by entry."""

    def init(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.uniform(-r, r, size=shape)

    return init


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a model: its ``name``, its ``shape`` and its ``init`` rule."""

    name: str
    shape: tuple[int, ...]
    init: Init = zeros


def init_params(specs: Iterable[ParamSpec], rng: np.random.Generator) -> Params:
    """Arrays for ``specs``, drawn in the order given from ``rng`` (same seed, same arrays)."""
    return Params({spec.name: np.asarray(spec.init(rng, spec.shape), dtype=np.float64) for spec in specs})


class Params(Mapping):
    """An ordered mapping ``name -> float array``: a model's parameters, or their gradients.

    ``Params({"W1": W1, "b1": b1})`` or ``Params(W1=W1, b1=b1)``; the order given is the order
    of :meth:`flatten`. Entries are read as ``params["W1"]`` or ``params.W1``; the mapping is
    read-only (training builds new ``Params`` rather than changing one in place).
    """

    __slots__ = ("_arrays",)

    def __init__(self, arrays: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]] = (),
                 **named: np.ndarray) -> None:
        items = list(arrays.items() if isinstance(arrays, Mapping) else arrays) + list(named.items())
        checked: dict[str, np.ndarray] = {}
        for name, value in items:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"Params names must be identifiers, got {name!r}")
            if name in checked:
                raise ValueError(f"Params got the name {name!r} twice")
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                dtype = f" of {value.dtype}" if hasattr(value, "dtype") else ""
                raise TypeError(
                    f"Params[{name!r}] must be a float numpy array, got {type(value).__name__}{dtype}"
                )
            checked[name] = value
        object.__setattr__(self, "_arrays", checked)

    # ---- the mapping -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return object.__getattribute__(self, "_arrays")[name]
        except KeyError:
            names = ", ".join(self._arrays)
            raise AttributeError(f"Params has no parameter {name!r}; it has {names}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Params is read-only; build a new one, e.g. Params({**params, 'W1': W1})")

    def __reduce__(self) -> tuple:
        return (Params, (dict(self._arrays),))  # pickle and copy rebuild it through __init__

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name} {a.shape}" for name, a in self.items())
        return f"Params({shapes})"

    # ---- as one vector ---------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """The floating type of the parameters (the widest of them)."""
        return np.result_type(*self.values())

    @property
    def size(self) -> int:
        """How many numbers the parameters hold: the length of :meth:`flatten`."""
        return sum(a.size for a in self.values())

    def flatten(self) -> np.ndarray:
        """One vector ``theta``: every array raveled, in this mapping's order."""
        return np.concatenate([a.ravel() for a in self.values()])

    def unflatten(self, theta: np.ndarray) -> Params:
        """Inverse of :meth:`flatten`: ``theta`` cut into arrays with these names and shapes."""
        theta = np.asarray(theta)
        if theta.ndim != 1 or theta.size != self.size:
            layout = ", ".join(f"{name} {a.shape}" for name, a in self.items())
            raise ValueError(
                f"theta must be a vector of length {self.size} ({layout}), got shape {theta.shape}"
            )
        arrays, start = {}, 0
        for name, a in self.items():
            arrays[name] = theta[start : start + a.size].reshape(a.shape)
            start += a.size
        return Params(arrays)

    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> Params:
        """``fn`` applied to every array, names kept."""
        return Params({name: fn(a) for name, a in self.items()})

    def copy(self) -> Params:
        """A deep copy."""
        return self.map(np.copy)

    def astype(self, dtype: np.dtype | type) -> Params:
        """The same parameters as ``dtype`` (a copy)."""
        return self.map(lambda a: a.astype(dtype))
