"""The one checkpoint format: its keys, writing (atomic), reading (safe by default), and the model it describes.

A checkpoint is a dict saved with ``torch.save``; :data:`CHECKPOINT_KEYS` is the table of its keys and what each
holds (``lightops train`` writes all of them; :data:`REQUIRED_KEYS` are what any checkpoint needs).
:func:`save_checkpoint` writes through :func:`lightops.fileio.atomic_save` and refuses keys outside the table.
:func:`read_checkpoint` loads with ``torch.load(weights_only=True)`` (tensors and plain data, numpy arrays allowed
for RNG states); ``trusted=True`` falls back to full unpickling for files you trust. :func:`load_model` rebuilds
the network (:func:`lightops._factory.build_model`) and returns it as a :class:`LoadedModel` with its front-end
settings; train, eval, export and predict all go through these functions.
"""
import copy
import math
import numbers
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ._factory import architecture_kwargs, build_frontend, build_model, known_models
from .audio import FrontEnd
from .fileio import PathLike, atomic_save
from .validation import first_line

__all__ = ["FORMAT_VERSION", "CHECKPOINT_KEYS", "DEVICE_KEYS", "QUANTIZED_KEYS", "EMA_KEYS", "ADVERSARY_KEYS",
           "REQUIRED_KEYS", "save_checkpoint", "read_checkpoint", "load_torch_file", "LoadedModel", "load_model",
           "resolve_model", "check_classes", "DEFAULT_INPUT_SIZE"]

FORMAT_VERSION = 1
"""Version of the checkpoint layout; bumped when a key changes meaning."""

CHECKPOINT_KEYS: Dict[str, str] = {
    # the model: what load_model reads
    "format_version": "FORMAT_VERSION (added by save_checkpoint; files without it are read as version 1)",
    "model": "the model's name: a lightops model, a reference model, or any timm model",
    "model_kwargs": "keyword arguments of build_model as plain values (a DSSDNCfg as to_dict()); default {}",
    "architecture": "the network as built (a DSSDN's DSSDNCfg.to_dict(), lightops._factory.architecture_of), absent "
                    "for other models: load_model rebuilds it whatever the name's registered default is by then",
    "state_dict": "the weights (module. prefixes from DistributedDataParallel are stripped on load)",
    "frontend": "FrontEnd.config(): log-mel settings and input normalisation",
    "classes": "class names in the order of the model's outputs",
    "input_size": "[C, F, T] of one training input",
    "clip_seconds": "seconds of one training clip (TrainConfig.clip_length)",
    # the run: what `lightops train --resume` and `lightops eval` read
    "args": "TrainConfig.to_dict() of the run",
    "epoch": "epochs done",
    "global_step": "optimizer steps done",
    "optimizer": "the optimizer's state_dict",
    "scheduler": "the learning-rate scheduler's state_dict",
    "scaler": "the CUDA loss scaler's state_dict, or None",
    "rng": "rank 0's generator states (torch, numpy, random) and the next epoch's data order",
    "rng_per_rank": "every rank's generator states, in rank order",
    "history": "one record per epoch: losses, accuracies, learning rate, seconds",
    "train_devices": "recording devices of the training split (the seen devices)",
    "world_size": "processes of the run",
    "global_batch_size": "clips per optimizer step over all processes",
    "versions": "torch and timm versions that wrote the file",
}
"""The keys of a checkpoint and what each holds; every key is optional except :data:`REQUIRED_KEYS`."""

DEVICE_KEYS: Dict[str, str] = {
    "device_models": "{device id: state_dict} of device copies of the model: fine-tuned, one per training device "
                     "(lightops finetune --per-device), or with batch-norm statistics from a device's unlabeled "
                     "recordings (lightops adapt); the general model is state_dict; other devices use it",
}
"""Keys ``lightops finetune --per-device`` and ``lightops adapt`` add to a training checkpoint's (``lightops train``
writes none)."""

QUANTIZED_KEYS: Dict[str, str] = {
    "quantized": "an int8 model from lightops quantize: torch.export.save bytes of the converted PT2E program, its "
                 "input_size and how it was made (lightops.deploy.pt2e.QuantizedModel.to_checkpoint); load_model "
                 "returns it as the model, the float weights stay in state_dict",
}
"""Keys ``lightops quantize`` adds to a training checkpoint's."""

EMA_KEYS: Dict[str, str] = {
    "train_state_dict": "the trained weights, what --resume continues; state_dict is then their moving average, the "
                        "model that was evaluated",
}
"""Keys ``lightops train --model-ema DECAY`` adds (``state_dict`` is the weights' moving average)."""

ADVERSARY_KEYS: Dict[str, str] = {
    "device_adversary": "the device classifier of device-adversarial training (its state_dict), what --resume "
                        "continues; not part of the model",
}
"""Keys ``lightops train --device-adversarial W`` adds."""

REQUIRED_KEYS = ("model", "state_dict")
"""Keys every checkpoint must hold (``model_kwargs`` defaults to ``{}``)."""

DEFAULT_INPUT_SIZE = (1, 256, 44)  # (C, F, T): a 1-s clip of the default front end


def save_checkpoint(ckpt: Dict[str, Any], path: PathLike) -> None:
    """Write ``ckpt`` atomically (``format_version`` added when missing).

    Raises:
        ValueError: ``ckpt`` lacks a key of :data:`REQUIRED_KEYS` or holds one that is not in :data:`CHECKPOINT_KEYS`.
    """
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"save_checkpoint: the checkpoint dict lacks keys {missing}")
    unknown = sorted(k for k in ckpt if not any(k in keys for keys in (CHECKPOINT_KEYS, DEVICE_KEYS, QUANTIZED_KEYS,
                                                                         EMA_KEYS, ADVERSARY_KEYS)))
    if unknown:
        raise ValueError(f"save_checkpoint: keys {unknown} are not in the checkpoint format; expected keys of "
                         f"lightops.checkpoint.CHECKPOINT_KEYS {list(CHECKPOINT_KEYS)}")
    atomic_save({"format_version": FORMAT_VERSION, **ckpt}, path)


def _safe_globals() -> List[Any]:
    """Plain-data classes a training checkpoint holds besides tensors (numpy RNG states, ``torch.__version__``)."""
    import numpy as np
    from torch.torch_version import TorchVersion

    core = getattr(np, "_core", None) or np.core
    extra = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")] if hasattr(np, "dtypes") else []
    return [np.ndarray, np.dtype, core.multiarray._reconstruct, TorchVersion, *extra]


def _not_torch_file(path: str) -> Optional[str]:
    """Why ``path`` cannot be a ``torch.save`` file at all (None where it may be one): torch.save writes a zip archive
    (a legacy file: a pickle, first byte 0x80). A zip whose end is missing is a file cut short (a copy or download
    that stopped), which ``torch.load`` reports as a missing record deep in its reader."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        return "the file is empty"
    if zipfile.is_zipfile(path) or head[:1] == b"\x80":
        return None
    if head == b"PK\x03\x04":
        return "the file is a zip archive whose end is missing: a file cut short (an interrupted copy or " \
               "download); copy it again"
    return f"the file is not a PyTorch file (torch.save writes a zip archive; this one starts with {head!r})"


def load_torch_file(path: PathLike, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU for the other files lightops writes with ``torch.save``
    (teacher logits, QAT state), every failure one ``ValueError`` naming ``what`` and the file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: empty, not a ``torch.save`` file, cut short, or not loadable with ``weights_only=True``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path!r}")
    why = _not_torch_file(path)
    if why is None:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle, zip and unpickler errors all mean the same to the user
            why = first_line(e)
    raise ValueError(f"cannot read {what} {path!r}: {why}")


def read_checkpoint(path: PathLike, *, trusted: bool = False,
                    map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint dict and check its format.

    Args:
        path: the file.
        trusted: fall back to full unpickling (``weights_only=False``) when the file holds objects other than
            tensors and plain data; only for files you trust.
        map_location: where to put the tensors.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, not a dict with the :data:`REQUIRED_KEYS`, a newer ``format_version``, a
            ``clip_seconds`` (or ``args["clip_seconds"]``) that is not a positive number, or holding objects that
            need ``trusted=True`` (the message names them).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r} does not exist (or is not a file)")
    not_torch = _not_torch_file(path)
    if not_torch is not None:
        raise ValueError(f"cannot read checkpoint {path!r}: {not_torch}")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # pickle, zip and unpickler errors all mean the same to the user
        if not trusted:
            try:
                allowed = {f"{g.__module__}.{g.__qualname__}" for g in _safe_globals()}
                unsafe = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path) if g not in allowed]
                why = f"it holds objects other than tensors and plain data: {unsafe}" if unsafe else first_line(e)
            except Exception:  # not a zip checkpoint at all
                why = first_line(e)
            raise ValueError(f"cannot read checkpoint {path!r} with torch.load(weights_only=True): {why}; "
                             f"if you trust the file, pass trusted=True (--trust-checkpoint)") from e
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as e2:
            raise ValueError(f"cannot read checkpoint {path!r}: {first_line(e2)}") from e2
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path!r} is not a lightops checkpoint: expected a dict with keys {list(REQUIRED_KEYS)} "
                         f"(model_kwargs optional), got {found}")
    version = ckpt.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"checkpoint {path!r} has format_version {version!r}; this lightops reads up to "
                         f"{FORMAT_VERSION}: upgrade lightops")
    _check_clip_seconds(ckpt, path)
    return ckpt


def _check_clip_seconds(ckpt: Dict[str, Any], source: str) -> None:
    """Refuse a clip length (``clip_seconds``, or the run's ``args["clip_seconds"]``) that is not a positive finite
    number: windows of it would be empty or negative. None (not recorded) is fine."""
    args = ckpt.get("args") if isinstance(ckpt.get("args"), dict) else {}
    for key, value in (("clip_seconds", ckpt.get("clip_seconds")), ("args['clip_seconds']", args.get("clip_seconds"))):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"checkpoint {source!r} has {key} {value!r}: expected a positive number of seconds "
                             f"(the training clip length); the file is damaged or was edited")


@dataclass
class LoadedModel:
    """A model ready for inference and what its input expects.

    Attributes:
        model: the network, eval mode.
        frontend: the log-mel settings it was trained with (a checkpoint's ``frontend``: sample_rate, n_fft,
            hop_length, n_mels, mean, std), or None (the model's ``pretrained_cfg`` defaults, no normalisation).
        input_size: ``(C, F, T)`` it was trained on, when known.
        source: where it came from (model name or checkpoint path).
        classes: class names in output order, when known.
        name: the model's registered name, when known.
        clip_seconds: length of the training clips, when known (a training checkpoint's options).
        device_models: ``{device id: network}`` of a ``finetune --per-device`` checkpoint (empty otherwise); other
            devices use ``model``.
    """

    model: nn.Module
    frontend: Optional[Dict[str, Any]] = None
    input_size: Optional[Tuple[int, int, int]] = None
    source: str = ""
    classes: Optional[List[str]] = field(default=None)
    name: Optional[str] = None
    clip_seconds: Optional[float] = None
    device_models: Dict[str, nn.Module] = field(default_factory=dict)

    @property
    def norm(self) -> Tuple[float, float]:
        """``(mean, std)`` of the input normalisation in dB (``(0, 1)``: none)."""
        fe = self.frontend or {}
        return float(fe.get("mean", 0.0)), float(fe.get("std", 1.0))

    def front_end(self, **overrides: Any) -> FrontEnd:
        """The waveform-to-input :class:`~lightops.audio.FrontEnd` of this model (:func:`build_frontend`)."""
        return build_frontend(self.frontend, self.model, **overrides)

    def default_input_size(self) -> Tuple[int, int, int]:
        """The checkpoint's ``input_size``, else ``(in_chans, n_mels, 44)`` (a 1-s clip of the front end)."""
        if self.input_size:
            return self.input_size
        n_mels = (self.frontend or {}).get("n_mels") or (getattr(self.model, "pretrained_cfg", {}) or {}).get(
            "n_mels", DEFAULT_INPUT_SIZE[1])
        return getattr(self.model, "in_chans", 1), int(n_mels), DEFAULT_INPUT_SIZE[2]

    def clip_samples(self) -> int:
        """Samples of one model input: the training clip length, else what gives ``default_input_size()``'s frames."""
        fe = self.front_end()
        if self.clip_seconds:
            return int(round(self.clip_seconds * fe.logmel.sample_rate))
        return max(1, (self.default_input_size()[2] - 1) * fe.logmel.hop_length)  # centred frames: 1 + N // hop


def _clip_seconds(ckpt: Dict[str, Any], source: str) -> Optional[float]:
    """The training clip length a ``lightops train`` checkpoint records (None for other files), checked."""
    _check_clip_seconds(ckpt, source)
    value = ckpt.get("clip_seconds")
    return float(value) if value is not None else None


def _strip_ddp(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _state_dict_problem(e: RuntimeError, limit: int = 400) -> str:
    """What ``load_state_dict`` found wrong, on one line: its missing and unexpected keys and size mismatches (torch
    puts them after a header line that names none), shortened to ``limit`` characters."""
    lines = [line.strip() for line in str(e).strip().splitlines()[1:] if line.strip()]
    text = "; ".join(lines) or first_line(e)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def load_model(checkpoint: Union[PathLike, Dict[str, Any]], *, trusted: bool = False,
               source: Optional[str] = None) -> LoadedModel:
    """Rebuild the model a checkpoint describes, load its weights, and return it with its front-end settings.

    Args:
        checkpoint: a checkpoint path, or a dict already read by :func:`read_checkpoint`.
        trusted: see :func:`read_checkpoint`.
        source: how errors name the checkpoint (default: its path, or ``<dict>`` for a dict).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this format, an unknown model name, weights that do not fit, or a
            ``clip_seconds`` that is not a positive number.
    """
    source = source or ("<dict>" if isinstance(checkpoint, dict) else os.fspath(checkpoint))
    ckpt = checkpoint if isinstance(checkpoint, dict) else read_checkpoint(checkpoint, trusted=trusted)
    name, kwargs = ckpt["model"], dict(ckpt.get("model_kwargs") or {})
    try:
        model = build_model(name, **architecture_kwargs(kwargs, ckpt.get("architecture")))
    except ValueError as e:
        raise ValueError(f"checkpoint {source!r}: {e}") from e
    try:
        model.load_state_dict(_strip_ddp(ckpt["state_dict"]), strict=True)
    except RuntimeError as e:
        raise ValueError(f"checkpoint {source!r}: state_dict does not fit {name} with model_kwargs={kwargs}: "
                         f"{_state_dict_problem(e)}") from e
    devices = {}
    for device, state in (ckpt.get("device_models") or {}).items():
        devices[str(device)] = copy.deepcopy(model)
        try:
            devices[str(device)].load_state_dict(_strip_ddp(state), strict=True)
        except RuntimeError as e:
            raise ValueError(f"checkpoint {source!r}: device model {device!r} does not fit {name}: "
                             f"{_state_dict_problem(e)}") from e
    if ckpt.get("quantized"):  # lightops quantize: the int8 program runs, the float model stays inside it
        from .deploy.pt2e import QuantizedModel

        model = QuantizedModel.from_checkpoint(ckpt["quantized"], model, source)
    size = ckpt.get("input_size")
    frontend = ckpt.get("frontend") if isinstance(ckpt.get("frontend"), dict) else None
    classes = list(ckpt["classes"]) if ckpt.get("classes") else None
    return LoadedModel(model.eval(), frontend, tuple(int(v) for v in size) if size else None, source, classes, name,
                       _clip_seconds(ckpt, source), {d: m.eval() for d, m in devices.items()})


def resolve_model(model_or_name: Union[nn.Module, PathLike, LoadedModel], *, trusted: bool = False) -> LoadedModel:
    """A :class:`LoadedModel` from a module, a checkpoint path or a model name (random weights).

    Raises:
        FileNotFoundError: a path-like argument (with a folder part or a ``.pt``/``.pth``/``.ckpt`` suffix)
            that does not exist.
        ValueError: neither an existing file nor a known model name.
    """
    if isinstance(model_or_name, LoadedModel):
        return model_or_name
    if isinstance(model_or_name, nn.Module):
        return LoadedModel(model_or_name.eval(), source=type(model_or_name).__name__)
    if not isinstance(model_or_name, (str, os.PathLike)):
        raise TypeError(f"expected an nn.Module, a checkpoint path or a model name, got {type(model_or_name).__name__}")
    text = os.fspath(model_or_name)
    if os.path.isfile(text):
        return load_model(text, trusted=trusted)
    if text in known_models():
        return LoadedModel(build_model(text).eval(), source=text, name=text)
    if os.sep in text or text.endswith((".pt", ".pth", ".ckpt", ".bin")):
        raise FileNotFoundError(f"checkpoint {text!r} does not exist")
    raise ValueError(f"unknown model {text!r}: not a checkpoint file and not one of {known_models()}")


def check_classes(expected: Sequence[str], found: Sequence[str], what: str) -> None:
    """Raise ``ValueError`` naming both class lists unless they are equal (same names, same order)."""
    if list(expected) != list(found):
        raise ValueError(f"{what}: classes differ: expected {list(expected)}, got {list(found)}")
