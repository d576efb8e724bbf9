"""The public ``loss_and_grad``'s quick check of ``X`` (tinysae.backends.check_classic_data).

One reduction decides most arrays: the largest bit pattern read as unsigned integers for a
sigmoid output, the sum otherwise. Whatever it decides, the result must be that of the full
check (tinysae.objective.check_data and the model's check_inputs): the same array back, or the
same error with the same message. The arrays drawn mix ordinary values with every value the
bit trick must not let through (NaN, infinities, negatives, values just above 1) and the ones
it hands to the full check (-0.0, subnormals, huge finite values whose sum overflows).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tinysae.backends import check_classic_data
from tinysae.models import ClassicSAE
from tinysae.objective import Objective, check_data

SPECIAL = [0.0, -0.0, 1.0, 0.5, np.nextafter(1.0, 2.0), np.nextafter(0.0, -1.0), -1.0, 2.0, np.nan, -np.nan,
           np.inf, -np.inf, 5e-324, 1e-40, 3e38, -3e38, 1.7e308]


def full_check(model: ClassicSAE, X: np.ndarray) -> np.ndarray:
    """The reference: check_batch's two steps."""
    X = check_data(X)
    model.check_inputs(X)
    return X


def outcome(check, model: ClassicSAE, X: np.ndarray):
    """``("ok", array)`` or ``("error", type, message)``."""
    try:
        return "ok", check(model, X)
    except (ValueError, TypeError) as exc:
        return "error", type(exc), str(exc)


@st.composite
def data(draw: st.DrawFn) -> np.ndarray:
    """A small 2-D float32 or float64 array, C- or F-ordered, of values in [0, 1] and special ones."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 5)))
    with np.errstate(over="ignore"):
        specials = list(np.array(SPECIAL).astype(dtype))  # 1.7e308 is an infinity in float32
    values = st.one_of(st.floats(0.0, 1.0, width=np.finfo(dtype).bits), st.sampled_from(specials))
    X = draw(arrays(dtype, shape, elements=values))
    return np.asfortranarray(X) if draw(st.booleans()) else X


@given(X=data(), output=st.sampled_from(["sigmoid", "identity"]))
def test_the_quick_check_decides_as_the_full_check(X: np.ndarray, output: str) -> None:
    model = ClassicSAE(X.shape[1], 3, Objective(output=output))
    quick, full = outcome(check_classic_data, model, X), outcome(full_check, model, X)
    assert quick[0] == full[0]
    if quick[0] == "ok":
        assert quick[1].dtype == full[1].dtype
        np.testing.assert_array_equal(quick[1], full[1])
    else:
        assert quick[1:] == full[1:]


@given(X=arrays(np.float64, st.tuples(st.integers(1, 6), st.just(4)), elements=st.floats(0.0, 1.0)),
       output=st.sampled_from(["sigmoid", "identity"]))
def test_valid_data_is_returned_as_it_is(X: np.ndarray, output: str) -> None:
    """Finite data in [0, 1] passes the quick check: the very array comes back, not a copy."""
    assert check_classic_data(ClassicSAE(4, 3, Objective(output=output)), X) is X

