"""StreamingClassifier refuses chunks it cannot classify and leaves the stream as it was; a property test feeds
it arbitrary arrays (shape, dtype, values)."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lightops.deploy.predict import NonFiniteError, Predictor
from lightops.deploy.streaming import StreamingClassifier

WINDOW = 0.25  # 4000 samples at 16 kHz: the shortest window the tiny model takes (16 frames at hop 256)


@pytest.fixture(scope="module")
def predictor(trained_tau_run):
    return Predictor.from_path(trained_tau_run[1])


def _primed(predictor) -> StreamingClassifier:
    """A stream one sample short of its first window, so that any further sample reaches the model."""
    stream = StreamingClassifier(predictor, window=WINDOW, hop=WINDOW / 2)
    assert stream.push(np.zeros(stream.window - 1, dtype=np.float32)) == []
    return stream


@pytest.mark.parametrize("chunk,error,match", [
    (np.zeros((2, 100), dtype=np.float32), ValueError, "1-D"),
    (np.zeros((100, 1), dtype=np.float32), ValueError, "1-D"),
    (np.float32(0.5), ValueError, "1-D"),
    (np.zeros(0, dtype=np.float32), ValueError, "empty"),
    (np.array(["a", "b"]), TypeError, "dtype"),
    (np.ones(10, dtype=bool), TypeError, "dtype"),
    (np.ones(10, dtype=np.complex64), TypeError, "dtype"),
    (np.array([None, 1.0], dtype=object), TypeError, "dtype"),
    ([[1.0], [2.0, 3.0]], ValueError, "1-D"),
    (np.array([0.0, np.nan, 0.0], dtype=np.float32), NonFiniteError, "non-finite"),
    (np.array([np.inf], dtype=np.float64), NonFiniteError, "non-finite"),
    (np.array([1e300], dtype=np.float64), NonFiniteError, "non-finite"),  # inf as float32
    (np.full(10, 1e30, dtype=np.float32), NonFiniteError, "non-finite outputs"),  # overflows the log-mel power
])
def test_bad_chunks_raise_and_leave_the_stream_unchanged(predictor, chunk, error, match):
    stream = _primed(predictor)
    before = (stream.buffered, stream._seen, stream._next)
    with pytest.raises(error, match=match):
        stream.push(chunk)
    assert (stream.buffered, stream._seen, stream._next) == before
    (onset, probs), = stream.push(np.zeros(1, dtype=np.float32))  # the stream goes on where it was
    assert onset == 0.0 and np.isfinite(probs).all()


def test_tensor_and_list_chunks_are_accepted(predictor):
    stream = _primed(predictor)
    assert len(stream.push(torch.zeros(3, requires_grad=True))) == 1
    assert stream.push([0.0, 0, 1]) == []


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"window": -1.0}, {"hop": 0}, {"hop": -0.1}])
def test_window_and_hop_must_be_positive(predictor, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        StreamingClassifier(predictor, **kwargs)


_dtypes = st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(),
                    hnp.boolean_dtypes(), hnp.complex_number_dtypes())
_arrays = _dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)))
_chunks = st.one_of(_arrays, st.lists(st.floats(), max_size=8), st.lists(st.text(max_size=3), max_size=3),
                    st.none(), st.integers())


@given(chunks=st.lists(_chunks, min_size=1, max_size=3))
def test_any_chunk_gives_finite_probabilities_or_a_clear_error(predictor, chunks):
    stream = _primed(predictor)
    for chunk in chunks:
        try:
            out = stream.push(chunk)
        except (ValueError, TypeError):
            continue
        for onset, probs in out:
            assert np.isfinite(onset) and probs.shape == (10,)
            assert np.isfinite(probs).all() and abs(float(probs.sum()) - 1.0) < 1e-4
    for _, probs in stream.flush():
        assert np.isfinite(probs).all()
