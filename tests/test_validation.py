"""The shared argument checks: types, ranges, NaN and None handling, and errors that name the argument."""
import math

import pytest

from lightops.validation import check_float, check_int


@pytest.mark.parametrize("value, kwargs", [(3, dict(minimum=1)), (0, dict(minimum=0)), (5, dict(maximum=5)),
                                           (None, dict(optional=True))])
def test_check_int_accepts(value, kwargs):
    assert check_int(value, "n", **kwargs) == value


@pytest.mark.parametrize("value, kwargs, error", [(True, dict(minimum=1), TypeError), (1.5, {}, TypeError),
                                                  ("3", {}, TypeError), (None, {}, TypeError),
                                                  (0, dict(minimum=1), ValueError), (6, dict(maximum=5), ValueError)])
def test_check_int_refuses_and_names_the_argument(value, kwargs, error):
    with pytest.raises(error, match="batch_size"):
        check_int(value, "batch_size", **kwargs)


@pytest.mark.parametrize("value, kwargs", [(0.0, dict(minimum=0.0, maximum=1.0)), (1, dict(minimum=0, maximum=1)),
                                           (0.5, dict(minimum=0, open_min=True)), (None, dict(optional=True))])
def test_check_float_accepts(value, kwargs):
    out = check_float(value, "p", **kwargs)
    assert out is None if value is None else (isinstance(out, float) and out == value)


@pytest.mark.parametrize("value, kwargs, error", [
    (math.nan, {}, ValueError), (math.inf, {}, ValueError), (False, {}, TypeError), ("0.1", {}, TypeError),
    (0.0, dict(minimum=0.0, open_min=True), ValueError), (1.0, dict(maximum=1.0, open_max=True), ValueError),
    (-0.1, dict(minimum=0.0), ValueError), (1.1, dict(maximum=1.0), ValueError)])
def test_check_float_refuses_and_names_the_argument(value, kwargs, error):
    with pytest.raises(error, match="alpha"):
        check_float(value, "alpha", **kwargs)
