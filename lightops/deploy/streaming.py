"""Streaming inference: audio arrives in chunks of any length, windows are classified as soon as they are whole.

:class:`StreamingClassifier` keeps only the most recent ``window`` samples (the memory of one window), emits the
window starting at ``0, hop, 2 hop, ...`` as soon as its last sample has arrived, and on
:meth:`~StreamingClassifier.flush` the window aligned to the end of the stream when a tail is left (or the
zero-padded stream when it was shorter than one window): exactly the windows, and the probabilities, of
``lightops predict --per-window`` on the same recording.
"""
from typing import List, Optional, Tuple, Union

import numpy as np
import torch

from ..checkpoint import LoadedModel
from ..data import fit_length
from ..fileio import PathLike
from .predict import Predictor

__all__ = ["StreamingClassifier"]


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
        self.window = int(round(window * sr)) if window else self.predictor.clip_samples
        self.hop = int(round(hop * sr)) if hop else max(1, self.window // 2)
        if self.window < 1 or self.hop < 1:
            raise ValueError(f"StreamingClassifier: window and hop must be positive, got {window!r}, {hop!r}")
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

    def push(self, samples: Union[np.ndarray, torch.Tensor]) -> List[Tuple[float, np.ndarray]]:
        """Add a chunk of samples ``(n,)``; return ``(onset seconds, probabilities (K,))`` of every window it
        completed."""
        chunk = np.asarray(samples, dtype=np.float32).reshape(-1)
        offset = self._seen - self._buf.shape[0]  # stream position of data[0]
        data = np.concatenate([self._buf, chunk])
        self._seen += chunk.shape[0]
        starts = []
        while self._next + self.window <= self._seen:
            starts.append(self._next)
            self._next += self.hop
        out = self._emit(starts, data, offset)
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
