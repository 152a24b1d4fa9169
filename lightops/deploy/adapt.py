"""A device model from unlabeled recordings of that device: batch-norm statistics re-estimated (AdaBN).

A recording device changes the distribution of a network's features (its response, its noise floor, its
compression); batch norm's running statistics are where a trained network stores the feature distribution it
expects. Re-estimating them on recordings of the target device, with every weight kept, is AdaBN (Li et al.,
"Revisiting Batch Normalization For Practical Domain Adaptation", 2016): no labels, no gradients, a few dozen clips.
It is what a user can do on the device a model is shipped to, with the device's own unlabeled recordings (never the
clips it is scored on: docs/models.md measures it with the evaluation clips of each device split in two halves, each
half adapting for the other; not in a DCASE submission, whose rules forbid statistics of the evaluation data). The
recordings must span the scenes the device will hear: statistics of one or two scenes cost 26 points there.

- :func:`adapt_batchnorm`: a copy of a model with its batch-norm statistics taken from given inputs;
- :func:`device_inputs`: the model inputs (log-mel windows of the training clip length) of audio files and folders;
- :func:`adapt_checkpoint`: ``lightops adapt``: a checkpoint whose ``device_models`` hold one adapted copy of the
  general model per device, which ``lightops eval`` (general against device-specific, per device), ``predict
  --device-ids``, ``complexity`` and ``package`` take like those of ``lightops finetune --per-device``.
"""
import copy
import os
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..audio import FrontEnd
from ..checkpoint import load_model, read_checkpoint, save_checkpoint
from ..data import read_audio
from ..fileio import PathLike, atomic_write_json, check_writable_dir, same_file
from ..validation import check_float, check_int
from .predict import find_audio, window_starts

__all__ = ["adapt_batchnorm", "device_inputs", "adapt_checkpoint", "ADAPT_STATE"]

ADAPT_STATE = "adapt.json"
DEFAULT_PRIOR = 30.0  # adapt_checkpoint's weight of the trained statistics, in clips (docs/models.md)
FEW_WINDOWS = 20  # below this many windows a device's statistics are warned about (docs/models.md: 10 vs 30 clips)
_DROPPED = ("optimizer", "scheduler", "scaler", "rng", "rng_per_rank")  # training state: not for a device model file


def _batchnorms(model: nn.Module) -> List[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def adapt_batchnorm(model: nn.Module, inputs: Iterable[torch.Tensor], *, prior: float = 0.0) -> nn.Module:
    """A copy of ``model`` whose batch-norm running statistics are those of ``inputs`` (AdaBN); weights unchanged.

    Every batch-norm layer's statistics are reset and re-estimated in one pass over ``inputs`` in training mode,
    without gradients: the average of the batches' statistics weighted by their sizes (each batch's momentum is its
    share of the clips seen so far), so how the inputs are batched changes the result only through the batch
    statistics themselves (one batch gives the exact mean and unbiased variance of the features). Every other layer
    runs in eval mode (dropout off). The copy is returned in eval mode on the model's device; ``model`` is not
    changed.

    With ``prior > 0`` the trained statistics count as ``prior`` clips beside the ``n`` given: each layer's mean and
    variance become ``(prior * trained + n * estimated) / (prior + n)`` (Schneider et al., "Improving robustness
    against common corruptions by covariate shift adaptation", NeurIPS 2020), which keeps a few clips' noise and a
    mild device's small shift from outweighing what training estimated on thousands.

    Args:
        model: a trained network with batch norm (not a fused or quantized one: their norms are folded).
        inputs: batches of model inputs ``(B, C, F, T)`` (log-mel, normalised as in training).
        prior: weight of the trained statistics, in clips (0: replaced by the inputs').

    Raises:
        ValueError: the model has no batch-norm layer, ``inputs`` holds no clip, or ``prior`` is negative.
    """
    prior = check_float(prior, "prior", minimum=0.0)
    adapted = copy.deepcopy(model).eval()
    norms = _batchnorms(adapted)
    if not norms:
        raise ValueError(f"{type(model).__name__} has no batch-norm layer, so it has no statistics to adapt (a fused "
                         f"or quantized model has its norms folded: adapt the trained checkpoint)")
    for bn in norms:
        if not bn.track_running_stats:
            raise ValueError(f"{type(model).__name__} has a batch-norm layer without running statistics "
                             f"(track_running_stats=False): it normalises every batch by itself, nothing to adapt")
        bn.reset_running_stats()
        bn.train()
    trained = [(src.running_mean.clone(), src.running_var.clone()) for src in _batchnorms(model)]
    device = next(adapted.parameters()).device
    clips = 0
    with torch.no_grad():
        for x in inputs:
            if x.shape[0] == 0:
                continue
            for bn in norms:  # running = (1 - m) running + m batch: a clip-weighted average of the batches
                bn.momentum = x.shape[0] / (clips + x.shape[0])
            adapted(x.to(device))
            clips += int(x.shape[0])
    if clips == 0:
        raise ValueError("no inputs to adapt the batch-norm statistics on (an empty list of batches)")
    w = prior / (prior + clips)
    for bn, (mean, var) in zip(norms, trained):
        bn.momentum = 0.1  # torch's default, for a later training of the copy
        if w > 0:
            bn.running_mean.mul_(1 - w).add_(mean.to(bn.running_mean), alpha=w)
            bn.running_var.mul_(1 - w).add_(var.to(bn.running_var), alpha=w)
    return adapted.eval()


def device_inputs(paths: Sequence[PathLike], frontend: FrontEnd, clip_samples: int, *, resample: bool = False,
                  max_windows: Optional[int] = None) -> torch.Tensor:
    """The model inputs ``(N, 1, F, T)`` of every audio file in ``paths`` (files and folders, searched recursively):
    each recording cut into windows of ``clip_samples`` as :func:`lightops.deploy.predict.window_starts` cuts it
    for prediction (no overlap), through ``frontend``.

    Args:
        paths: audio files and folders.
        frontend: the model's front end (log-mel and input normalisation).
        clip_samples: samples of one model input (the training clip).
        resample: resample files at another rate instead of failing.
        max_windows: keep at most this many windows (in file order).

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a folder without audio files, or no path at all.
        lightops.data.AudioFileError: an unreadable file, or one at another rate without ``resample`` (named).
        lightops.data.NonFiniteError: a file holding NaN or infinite samples (named; an ``AudioFileError`` too).
    """
    audio = _audio_files(paths, "")
    check_int(clip_samples, "clip_samples", minimum=1)
    if max_windows is not None:
        check_int(max_windows, "max_windows", minimum=1)
    return _inputs(audio, frontend, clip_samples, resample, max_windows)[0]


def _audio_files(paths: Sequence[PathLike], device: str) -> List[str]:
    """The audio files of ``paths`` (:func:`~lightops.deploy.predict.find_audio`, which names a missing path or a
    folder without audio), found before any file is read; a clear error for no paths."""
    if not paths:
        raise ValueError(f"device {device!r}: no audio files or folders given" if device else
                         "no audio files or folders given")
    return [path for path, _ in find_audio(paths, unique_names=False)]


def _inputs(audio: Sequence[str], frontend: FrontEnd, clip_samples: int, resample: bool,
            max_windows: Optional[int]) -> Tuple[torch.Tensor, int]:
    """:func:`device_inputs` of the files ``audio``, and the number of files its windows came from."""
    sr = frontend.logmel.sample_rate
    windows: List[np.ndarray] = []
    files = 0
    for path in audio:
        x = read_audio(path, sr, resample_audio=resample)  # NonFiniteError, naming the file, for NaN or inf samples
        x = np.pad(x, (0, max(0, clip_samples - x.shape[0])))
        windows += [x[s:s + clip_samples] for s in window_starts(x.shape[0], clip_samples, clip_samples)]
        files += 1
        if max_windows is not None and len(windows) >= max_windows:
            windows = windows[:max_windows]
            break
    frontend = frontend.eval()
    with torch.no_grad():
        return torch.cat([frontend(torch.from_numpy(np.stack(windows[i:i + 64])))
                          for i in range(0, len(windows), 64)]), files


def adapt_checkpoint(checkpoint: PathLike, recordings: Mapping[str, Sequence[PathLike]], out: PathLike, *,
                     resample: bool = False, max_windows: Optional[int] = None, batch_size: int = 256,
                     prior: float = DEFAULT_PRIOR, overwrite: bool = False, quiet: bool = True) -> Dict[str, Any]:
    """``lightops adapt``: one device model per device of ``recordings``, the general model with its batch-norm
    statistics re-estimated (:func:`adapt_batchnorm`) on that device's unlabeled recordings.

    Writes ``OUT/last.pt`` (atomically): the checkpoint with ``device_models[device]`` for each device given (device
    models it already had are kept, unless a device is given again) and ``OUT/adapt.json`` (per device: the files and
    windows used). The general model is unchanged.

    Args:
        checkpoint: a ``lightops train`` (or ``finetune --per-device``) checkpoint.
        recordings: ``{device id: audio files and folders of that device}``.
        out: output folder.
        resample: resample files at another rate instead of failing.
        max_windows: use at most this many windows per device.
        batch_size: windows per batch of the statistics pass.
        prior: weight of the trained statistics, in clips (:func:`adapt_batchnorm`; 0: the device's alone). The
            default, 30, is the setting that cost at most a point on every scene set of docs/models.md.
        overwrite: replace an ``OUT/last.pt`` that exists (never the input checkpoint itself).
        quiet: no per-device lines.

    Returns:
        The contents of ``adapt.json``.

    Raises:
        ValueError: no device, an empty device id, a checkpoint of a quantized model or without batch norm.
        FileExistsError: ``OUT/last.pt`` exists (without ``overwrite``), or is the input checkpoint.
        FileNotFoundError, AudioFileError, NonFiniteError: as :func:`device_inputs`, naming the file.
    """
    if not recordings:
        raise ValueError("no device given: adapt needs at least one device id with recordings of it")
    for device in recordings:
        if not isinstance(device, str) or not device.strip() or any(c.isspace() for c in device):
            raise ValueError(f"device ids must be non-empty words (as in TAU file names: a, b, s4), got {device!r}")
    audio = {device: _audio_files(list(paths), device) for device, paths in recordings.items()}
    check_int(batch_size, "batch_size", minimum=1)
    prior = check_float(prior, "prior", minimum=0.0)
    checkpoint = os.fspath(checkpoint)
    ckpt = read_checkpoint(checkpoint)
    if ckpt.get("quantized"):
        raise ValueError(f"{checkpoint} holds an int8 model (lightops quantize): its batch norms are folded; adapt the "
                         f"float checkpoint, then quantize")
    out = check_writable_dir(os.fspath(out))
    target = os.path.join(out, "last.pt")
    if os.path.exists(target):
        if same_file(target, checkpoint):
            raise FileExistsError(f"{target} is the checkpoint being adapted: give another --out folder (the "
                                  f"training run's file, its optimizer state included, is kept)")
        if not overwrite:
            raise FileExistsError(f"{target} exists: give another --out folder, or --overwrite to replace it")
    loaded = load_model(ckpt)
    frontend, clip = loaded.front_end(), loaded.clip_samples()
    device_models = dict(ckpt.get("device_models") or {})
    report: Dict[str, Any] = dict(checkpoint=os.path.abspath(checkpoint), clip_samples=clip, prior=prior, devices={})
    for device, paths in recordings.items():
        x, files = _inputs(audio[device], frontend, clip, resample, max_windows)
        model = adapt_batchnorm(loaded.model, (x[i:i + batch_size] for i in range(0, len(x), batch_size)),
                                prior=prior)
        device_models[device] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        report["devices"][device] = dict(paths=[os.fspath(p) for p in paths], files=files, windows=len(x))
        if not quiet:
            print(f"device {device}: batch-norm statistics from {len(x)} windows of {files} files", flush=True)
        if len(x) < FEW_WINDOWS:
            warnings.warn(f"device {device}: only {len(x)} windows; statistics from fewer than {FEW_WINDOWS} clips "
                          f"can cost accuracy (docs/models.md measured 10 against 30): give a few dozen recordings "
                          f"spanning the scenes the device hears", stacklevel=2)
    new = {k: v for k, v in ckpt.items() if k not in _DROPPED}
    new["device_models"] = device_models
    save_checkpoint(new, target)
    atomic_write_json(report, os.path.join(out, ADAPT_STATE))
    return report
