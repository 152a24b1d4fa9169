"""Scene labels for recordings: a checkpoint (PyTorch) or an exported ONNX file (onnxruntime), windowed audio,
and DCASE's submission format.

A recording is cut into windows of the model's clip length (``window``, default: the training clip) every ``hop``
seconds, starting at 0; when windows leave a tail, one more window is aligned to the end of the recording, so every
sample is seen. A recording shorter than one window is padded with zeros at the end (as the training loaders do).
A file's probabilities are the mean over its windows; ``per_window`` keeps one row per window with its onset.

The CSV is DCASE's format: tab-separated ``filename``, ``scene_label``, then one probability column per class, in
the model's class order (``filename``, ``onset``, ... per window). ``filename`` is the path relative to the parent of
a folder given (``audio/airport-lisbon-1000-40000-a.wav`` for ``TAU-.../audio``), or the name of a file given
directly.
"""
import csv
import os
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from ..audio import FrontEnd
from ..checkpoint import LoadedModel, load_model
from ..data import AudioFileError, NonFiniteError, check_finite, fit_length, read_audio
from ..fileio import PathLike, atomic_write
from ..validation import check_int, first_line
from .device_ids import device_index, device_of

__all__ = ["Predictor", "Prediction", "NonFiniteError", "window_starts", "positive_samples", "find_audio",
           "predict_files", "write_predictions", "check_finite", "AUDIO_EXTENSIONS"]
# NonFiniteError and check_finite belong to the data layer (read_audio raises the error for a file); __all__ names the
# same objects here, where prediction's callers import them from.

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")


def positive_samples(seconds: Optional[float], name: str, sample_rate: int) -> Optional[int]:
    """Samples of a duration in seconds (None stays None); ``ValueError`` naming ``name`` unless >= 1 sample."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not np.isfinite(seconds):
        raise ValueError(f"{name} must be a positive duration in seconds, got {seconds!r}")
    n = int(round(seconds * sample_rate))
    if n < 1:
        raise ValueError(f"{name} must be a positive duration in seconds (at least one sample at {sample_rate} Hz), "
                         f"got {seconds!r}")
    return n


def window_starts(num_samples: int, window: int, hop: int) -> List[int]:
    """Onsets (in samples) of the windows of a recording: every ``hop`` while a whole window fits, then one
    window aligned to the end if a tail is left; ``[0]`` for a recording shorter than one window."""
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, hop))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return starts


class Predictor:
    """Class probabilities of windows of audio, from a checkpoint or an ONNX file.

    Args:
        run: maps a batch of windows ``(B, samples)`` to logits ``(B, K)`` (numpy or tensor).
        classes: class names in output order.
        sample_rate: rate the model expects, Hz.
        clip_samples: samples of one model input (the default window).
        source: where the model came from.
        device_runs: ``{device id: run}`` of device-specific models (a ``finetune --per-device`` checkpoint);
            windows of other devices, or of no known device, go through ``run`` (the general model).
    """

    def __init__(self, run: Callable[[torch.Tensor], object], classes: Sequence[str], sample_rate: int,
                 clip_samples: int, source: str = "",
                 device_runs: Optional[Mapping[str, Callable[[torch.Tensor], object]]] = None) -> None:
        self._run = run
        self._device_runs = dict(device_runs or {})
        self.classes = list(classes)
        self.sample_rate = int(sample_rate)
        self.clip_samples = int(clip_samples)
        self.source = source

    @classmethod
    def from_path(cls, path: Union[PathLike, LoadedModel], *, trusted: bool = False, threads: int = 1
                  ) -> "Predictor":
        """A predictor for a ``lightops train`` checkpoint, an ``.onnx`` or ``.pte`` file from ``lightops export``,
        or a :class:`~lightops.checkpoint.LoadedModel`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not a checkpoint, or an ONNX file without lightops' metadata.
        """
        if isinstance(path, LoadedModel):
            return cls._from_loaded(path)
        path = os.fspath(path)
        if path.endswith(".onnx"):
            return cls._from_onnx(path, threads)
        if path.endswith(".pte"):
            return cls._from_pte(path)
        return cls._from_loaded(load_model(path, trusted=trusted))

    @classmethod
    def _from_pte(cls, path: str) -> "Predictor":
        """An ExecuTorch program from ``lightops export --format executorch``: its input is fixed ``(1, C, F, T)``,
        so windows go through it one at a time (log-mel in dB; the program normalises)."""
        from .executorch import load_pte, read_pte_metadata

        method = load_pte(path)
        meta = read_pte_metadata(path)
        frontend = FrontEnd.from_config(meta["lightops.frontend"]).eval()
        shape = tuple(meta["lightops.executorch"]["input_shape"][1:])

        def run(waves: torch.Tensor) -> torch.Tensor:
            with torch.inference_mode():
                x = frontend.logmel(waves)
            if tuple(x.shape[1:]) != shape:
                raise ValueError(f"{path} takes log-mel inputs {list(shape)} (a fixed window of "
                                 f"{meta['lightops.clip_samples']} samples), got {list(x.shape[1:])}")
            return torch.cat([method.execute([x[i:i + 1].contiguous()])[0] for i in range(x.shape[0])])

        classes = meta["lightops.classes"] or [str(i) for i in range(meta["lightops.executorch"]["num_classes"])]
        return cls(run, classes, frontend.logmel.sample_rate, meta["lightops.clip_samples"], path)

    @classmethod
    def _from_loaded(cls, loaded: LoadedModel) -> "Predictor":
        frontend, model = loaded.front_end(), loaded.model.eval()
        num_classes = getattr(model, "num_classes", None)
        classes = loaded.classes or [str(i) for i in range(num_classes or 0)]

        def runner(net: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
            def run(waves: torch.Tensor) -> torch.Tensor:
                with torch.inference_mode():
                    return net(frontend(waves))
            return run

        devices = {d: runner(m.eval()) for d, m in loaded.device_models.items()}
        return cls(runner(model), classes, frontend.logmel.sample_rate, loaded.clip_samples(), loaded.source,
                   devices)

    @property
    def devices(self) -> List[str]:
        """Device ids with a device-specific model (sorted); other devices use the general model."""
        return sorted(self._device_runs)

    @classmethod
    def _from_onnx(cls, path: str, threads: int) -> "Predictor":
        from .onnx_runtime import ort_session, read_metadata

        if not os.path.isfile(path):
            raise FileNotFoundError(f"ONNX file not found: {path}")
        try:
            session = ort_session(path, threads)
        except ImportError:
            raise
        except Exception as e:  # onnxruntime raises its own classes (InvalidProtobuf, InvalidArgument, Fail, ...)
            why = first_line(e).split(" : ")[-1].split("failed:")[-1]
            raise ValueError(f"{path} is not an ONNX model onnxruntime can load ({why})") from None
        meta = read_metadata(session)
        missing = [k for k in ("lightops.frontend", "lightops.input", "lightops.clip_samples") if meta[k] is None]
        if missing:
            raise ValueError(f"{path} carries no lightops metadata {missing}: export it with `lightops export` "
                             f"(lightops >= 0.1) so that its front end and classes are known")
        frontend = FrontEnd.from_config(meta["lightops.frontend"]).eval()
        name = session.get_inputs()[0].name
        waveform_input = meta["lightops.input"] == "waveform"
        min_frames = meta.get("lightops.min_frames")

        def run(waves: torch.Tensor) -> np.ndarray:
            frames = frontend.logmel.output_frames(waves.shape[-1])
            if min_frames and frames < min_frames:  # the graph has no input checks: it would return numbers
                raise ValueError(f"{path} classifies at least {min_frames} log-mel frames (its model's fewest), got "
                                 f"{frames}")
            if waveform_input:
                x = waves
            else:  # the graph takes the log-mel in dB and normalises inside
                with torch.inference_mode():
                    x = frontend.logmel(waves)
            return session.run(None, {name: np.ascontiguousarray(x.numpy(), dtype=np.float32)})[0]

        out = session.get_outputs()[0].shape[-1]
        classes = meta["lightops.classes"] or [str(i) for i in range(out if isinstance(out, int) else 0)]
        return cls(run, classes, frontend.logmel.sample_rate, meta["lightops.clip_samples"], path)

    def probabilities(self, windows: torch.Tensor, device: Optional[str] = None) -> np.ndarray:
        """Softmax probabilities ``(B, K)`` of windows ``(B, samples)`` recorded by ``device`` (its model when it has
        one, else the general model)."""
        logits = torch.as_tensor(self._device_runs.get(device or "", self._run)(windows.float())).float()
        if logits.shape[-1] != len(self.classes):
            raise ValueError(f"the model gives {logits.shape[-1]} outputs but {len(self.classes)} class names are "
                             f"known ({self.source})")
        probs = torch.softmax(logits, dim=-1).numpy()
        if not np.isfinite(probs).all():  # finite but huge samples can overflow the log-mel power
            raise NonFiniteError(f"the model gives non-finite outputs for {int((~np.isfinite(probs)).any(-1).sum())} "
                                 f"of {len(probs)} window(s) (audio too loud to classify?)")
        return probs

    def check_window(self, window: int) -> None:
        """Check, on one silent window, that the model classifies windows of ``window`` samples.

        Raises:
            ValueError: the window is too short (or too long) for the model, naming the window in seconds and the
                model's clip length.
        """
        if window == self.clip_samples:
            return
        try:
            self.probabilities(torch.zeros(1, window))
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"the model cannot classify windows of {window / self.sample_rate:g} s ({window} "
                             f"samples; it was trained on {self.clip_samples / self.sample_rate:g}-s clips): "
                             f"{first_line(e)}") from None

    def predict_waveform(self, waveform: np.ndarray, *, window: Optional[int] = None, hop: Optional[int] = None,
                         batch_size: int = 32, device: Optional[str] = None) -> Tuple[List[int], np.ndarray]:
        """Onsets (samples) and probabilities ``(W, K)`` of the windows of one recording ``(samples,)``.

        Args:
            waveform: mono samples at :attr:`sample_rate`.
            window: window length in samples (None: the model's clip).
            hop: hop between windows in samples (None: the window).
            batch_size: windows per model call.
            device: the recording device (its model when it has one, else the general model).

        Raises:
            ValueError: ``window``, ``hop`` or ``batch_size`` below 1, or ``waveform`` not 1-D or empty.
            NonFiniteError: the waveform holds NaN or inf (or the model's outputs are not finite).
        """
        window = self.clip_samples if window is None else check_int(window, "window", minimum=1)
        hop = window if hop is None else check_int(hop, "hop", minimum=1)
        check_int(batch_size, "batch_size", minimum=1)
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.ndim != 1 or waveform.shape[0] == 0:
            raise ValueError(f"waveform must be 1-D mono samples, got shape {tuple(waveform.shape)}")
        check_finite(waveform, "the waveform")
        starts = window_starts(waveform.shape[0], window, hop)
        probs = []
        for i in range(0, len(starts), batch_size):
            batch = np.stack([fit_length(waveform[s:s + window], window) for s in starts[i:i + batch_size]])
            probs.append(self.probabilities(torch.from_numpy(batch), device))
        return starts, np.concatenate(probs)


@dataclass
class Prediction:
    """The prediction of one recording (or one window of it)."""

    filename: str
    probabilities: np.ndarray  # (K,)
    onset: Optional[float] = None  # seconds, per-window rows only
    model: str = "general"  # the device model used, or "general"


def find_audio(paths: Sequence[PathLike], *, unique_names: bool = True) -> List[Tuple[str, str]]:
    """``(path, filename as written in the CSV)`` of every audio file given or found (recursively) in a folder.

    A file given twice, or given and also found in a folder given, is listed once. ``unique_names=False`` accepts
    two files of one name (for a use that writes no CSV).

    Raises:
        FileNotFoundError: a path does not exist (before any file is read).
        ValueError: a folder holds no audio file (``AUDIO_EXTENSIONS``), or two different files would be written
            under the same name.
    """
    missing = [os.fspath(p) for p in paths if not os.path.exists(os.fspath(p))]
    if missing:
        raise FileNotFoundError(f"audio file or folder not found: {', '.join(missing)}")
    found = _find_audio(paths)
    unique: Dict[str, Tuple[str, str]] = {}
    by_name: Dict[str, str] = {}
    for path, name in found:
        key = os.path.realpath(path)
        if key in unique:
            continue
        if name in by_name and unique_names:
            raise ValueError(f"two different files would have the same filename {name!r} in the CSV: "
                             f"{by_name[name]} and {path}; give their folders instead (names are relative to a "
                             f"folder's parent)")
        unique[key], by_name[name] = (path, name), path
    return list(unique.values())


def _find_audio(paths: Sequence[PathLike]) -> List[Tuple[str, str]]:
    found = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            before = len(found)
            base = os.path.dirname(os.path.abspath(p))
            for root, _, files in sorted(os.walk(p)):
                for name in sorted(files):
                    if name.lower().endswith(AUDIO_EXTENSIONS):
                        full = os.path.join(root, name)
                        found.append((full, os.path.relpath(os.path.abspath(full), base).replace(os.sep, "/")))
            if len(found) == before:
                raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) in folder {p}")
        else:
            found.append((p, os.path.basename(p)))
    return found


def predict_files(predictor: Predictor, paths: Sequence[PathLike], *, window: Optional[float] = None,
                  hop: Optional[float] = None, per_window: bool = False, resample: bool = False,
                  batch_size: int = 32, progress: bool = False, device_ids: Optional[Mapping[str, str]] = None
                  ) -> Tuple[List[Prediction], Dict[str, str]]:
    """Predict every audio file of ``paths``; files that fail are collected with their reason.

    Args:
        predictor: the model.
        paths: files and folders.
        window: window length in seconds (None: the model's clip).
        hop: hop between windows in seconds (None: the window).
        per_window: one prediction per window instead of the mean per file.
        resample: resample files at another rate instead of failing them.
        batch_size: windows per model call.
        progress: show a progress bar on stderr.
        device_ids: ``{filename: device id}`` (:func:`~lightops.deploy.device_ids.read_device_ids`): a file whose
            device has a device-specific model goes through it; files without an id, or with an id no model has,
            go through the general model.

    Returns:
        The predictions, and ``{filename: reason}`` for the files that could not be predicted (unreadable, or
        holding non-finite samples).

    Raises:
        ValueError: ``window``, ``hop`` or ``batch_size`` not positive, or a folder without audio files.
    """
    sr = predictor.sample_rate
    win = positive_samples(window, "window", sr)
    hop_n = positive_samples(hop, "hop", sr)
    check_int(batch_size, "batch_size", minimum=1)
    if win is not None:
        predictor.check_window(win)
    predictions: List[Prediction] = []
    errors: Dict[str, str] = {}
    index = device_index(device_ids or {})
    for path, name in tqdm(find_audio(paths), desc="predict", disable=not progress):
        device = device_of(name, index)
        model = device if device in predictor.devices else "general"
        try:
            x = read_audio(path, sr, resample_audio=resample)  # NonFiniteError for NaN or inf samples
            starts, probs = predictor.predict_waveform(x, window=win, hop=hop_n, batch_size=batch_size, device=device)
        except (AudioFileError, FileNotFoundError, ImportError, NonFiniteError) as e:
            errors[name] = str(e)
            continue
        if per_window:
            predictions += [Prediction(name, p, s / sr, model) for s, p in zip(starts, probs)]
        else:
            predictions.append(Prediction(name, probs.mean(axis=0), model=model))
    return predictions, errors


def _rows(predictions: Sequence[Prediction], classes: Sequence[str]) -> Iterator[List[str]]:
    for p in predictions:
        head = [p.filename] + ([f"{p.onset:.3f}"] if p.onset is not None else [])
        yield head + [classes[int(np.argmax(p.probabilities))]] + [f"{v:.6f}" for v in p.probabilities]


def write_predictions(predictions: Sequence[Prediction], classes: Sequence[str], out: PathLike, *,
                      per_window: bool = False) -> None:
    """Write DCASE's tab-separated submission file atomically (header, one row per file or window)."""
    header = ["filename"] + (["onset"] if per_window else []) + ["scene_label"] + list(classes)
    with atomic_write(out, "w") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(_rows(predictions, classes))
