"""mmsold.core: argument checks, data validation and the magnitude guard of issue 12 (defect 4)."""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mmsold.core import MAGNITUDE_MARGIN, as_generator, check_magnitude, validate_data


@given(st.floats(-300, 300), st.integers(1, 6), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_check_magnitude_refuses_exactly_when_squares_overflow(log10_scale, d, seed):
    X = np.random.default_rng(seed).uniform(-1, 1, size=(5, d)) * 10.0 ** log10_scale
    m = float(np.abs(X).max())
    # independent criterion, in logarithms: d m^2 MARGIN > largest float64
    excess = (math.log10(d) + 2 * math.log10(m) + math.log10(MAGNITUDE_MARGIN)
              - math.log10(np.finfo(np.float64).max)) if m > 0 else -1.0
    assume(abs(excess) > 1e-9)                  # not within rounding of the boundary
    overflows = excess > 0
    if overflows:
        with pytest.raises(ValueError, match="overflow") as e:
            check_magnitude(X)
        assert "Rescale" in str(e.value)
    else:
        assert check_magnitude(X) is X


def test_check_magnitude_names_the_column():
    X = np.c_[np.ones(4), np.arange(4.0), np.full(4, -3e200)]
    with pytest.raises(ValueError, match=r"values up to 3e\+200 \(column 2\)"):
        check_magnitude(X, "X")


def test_validate_data_basics():
    assert validate_data([[1, 2], [3, 4]]).dtype == np.float64
    assert validate_data(np.ones((3, 2), np.float32), dtype=None).dtype == np.float32
    with pytest.raises(ValueError, match="non-finite"):
        validate_data([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(ValueError, match="2D"):
        validate_data(np.ones(3))
    with pytest.raises(ValueError, match="complex"):
        validate_data(np.ones((2, 2), complex))
    with pytest.raises(ValueError, match="need at least 2"):
        validate_data([[1.0, 2.0]])


def test_as_generator_accepts_legacy_random_state():
    a = as_generator(np.random.RandomState(3)).random(3)
    b = as_generator(np.random.RandomState(3)).random(3)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError):
        as_generator(-1)
