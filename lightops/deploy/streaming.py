"""Streaming inference: audio arrives in chunks of any length, windows are classified as soon as they are whole.

:class:`StreamingClassifier` keeps only the most recent ``window`` samples (the memory of one window), emits the
window starting at ``0, hop, 2 hop, ...`` as soon as its last sample has arrived, and on
:meth:`~StreamingClassifier.flush` the window aligned to the end of the stream when a tail is left (or the
zero-padded stream when it was shorter than one window): exactly the windows, and the probabilities, of
``lightops predict --per-window`` on the same recording.

A chunk must be a non-empty 1-D array of real numbers (floats or integers; booleans, complex numbers, strings and
objects are refused with ``TypeError``) whose samples are finite as float32. A chunk that fails these checks, or
whose windows the model cannot classify (non-finite outputs), raises ``ValueError``/``TypeError`` and leaves the
stream as it was before the call: the caller may skip it and push the next one.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..checkpoint import LoadedModel
from ..data import fit_length
from ..fileio import PathLike
from .predict import Predictor, check_finite, positive_samples

__all__ = ["StreamingClassifier"]


def _as_chunk(samples: object) -> np.ndarray:
    """A pushed chunk as float32 ``(n,)``, or ``TypeError``/``ValueError`` saying what was wrong with it."""
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    try:
        arr = np.asarray(samples)
    except (ValueError, TypeError) as e:  # ragged nested lists
        raise ValueError(f"StreamingClassifier.push: expected a 1-D array of samples, got {type(samples).__name__} "
                         f"({e})") from None
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iuf":
        raise TypeError(f"StreamingClassifier.push: expected real-valued samples (float or int), got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"StreamingClassifier.push: expected a 1-D chunk of mono samples (n,), got shape "
                         f"{tuple(arr.shape)}; mix channels down to mono first")
    if arr.shape[0] == 0:
        raise ValueError("StreamingClassifier.push: the chunk is empty; push at least one sample")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf and is refused just below
        chunk = arr.astype(np.float32)
    check_finite(chunk, "StreamingClassifier.push: the chunk")
    return chunk


class StreamingClassifier:
    """Classify a stream of audio window by window.

    Args:
        model: a checkpoint path, an ``.onnx`` path, a :class:`~lightops.checkpoint.LoadedModel` or a
            :class:`~lightops.deploy.predict.Predictor`.
        window: window length in seconds (None: the model's clip).
        hop: hop between windows in seconds (None: half the window).

    Example::

        stream = StreamingClassifier("runs/small/last.pt", window=1.0, hop=0.5)
        for chunk in microphone_chunks():          # float32 mono at stream.sample_rate
            for onset, probs in stream.push(chunk):
                print(onset, stream.classes[probs.argmax()])
        stream.flush()
    """

    def __init__(self, model: Union[PathLike, LoadedModel, Predictor], window: Optional[float] = 1.0,
                 hop: Optional[float] = 0.5) -> None:
        self.predictor = model if isinstance(model, Predictor) else Predictor.from_path(model)
        sr = self.predictor.sample_rate
        self.window = positive_samples(window, "StreamingClassifier: window", sr) or self.predictor.clip_samples
        self.hop = positive_samples(hop, "StreamingClassifier: hop", sr) or max(1, self.window // 2)
        self.predictor.check_window(self.window)
        self._buf = np.zeros(0, dtype=np.float32)  # the most recent samples, at most one window
        self._seen = 0  # samples received so far
        self._next = 0  # onset (in samples) of the next window to emit

    @property
    def sample_rate(self) -> int:
        """Rate the stream must have, Hz."""
        return self.predictor.sample_rate

    @property
    def classes(self) -> List[str]:
        """Class names in the order of the probabilities."""
        return self.predictor.classes

    @property
    def buffered(self) -> int:
        """Samples held (never more than one window between calls)."""
        return int(self._buf.shape[0])

    def _emit(self, starts: List[int], data: np.ndarray, offset: int) -> List[Tuple[float, np.ndarray]]:
        if not starts:
            return []
        batch = np.stack([fit_length(data[s - offset:s - offset + self.window], self.window) for s in starts])
        probs = self.predictor.probabilities(torch.from_numpy(batch))
        return [(s / self.sample_rate, p) for s, p in zip(starts, probs)]

    def push(self, samples: Union[np.ndarray, torch.Tensor, Sequence[float]]) -> List[Tuple[float, np.ndarray]]:
        """Add a chunk of samples ``(n,)``; return ``(onset seconds, probabilities (K,))`` of every window it
        completed.

        Raises:
            TypeError: the chunk is not an array of real numbers.
            ValueError: the chunk is not 1-D, is empty, holds NaN/inf
                (:class:`~lightops.data.NonFiniteError`), or completes a window the model gives
                non-finite outputs for; the stream is then left unchanged.
        """
        chunk = _as_chunk(samples)
        offset = self._seen - self._buf.shape[0]  # stream position of data[0]
        data = np.concatenate([self._buf, chunk])
        seen = self._seen + chunk.shape[0]
        starts = list(range(self._next, seen - self.window + 1, self.hop))
        out = self._emit(starts, data, offset)  # may raise: commit the new state only after it succeeded
        self._seen, self._next = seen, self._next + self.hop * len(starts)
        self._buf = data[-self.window:].copy()
        return out

    def flush(self) -> List[Tuple[float, np.ndarray]]:
        """End of stream: the window aligned to its end when a tail is left (the whole stream, zero-padded,
        when it was shorter than one window); then reset."""
        out: List[Tuple[float, np.ndarray]] = []
        if self._seen and (self._seen < self.window or self._next - self.hop + self.window < self._seen):
            start = max(0, self._seen - self.window)
            out = self._emit([start], self._buf, self._seen - self._buf.shape[0])
        self._buf, self._seen, self._next = np.zeros(0, dtype=np.float32), 0, 0
        return out
