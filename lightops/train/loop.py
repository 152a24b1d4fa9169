"""Training and evaluation of scene classifiers on raw waveforms: ``lightops train`` and ``lightops eval``.

One optimizer step::

    waveforms (B, N) --LogMel--> (B, 1, n_mels, T) --(x - mean) / std--> --mixup--> --SpecAugment--> model
    loss = cross-entropy (soft targets under mixup) + ortho_reg_loss(model, alpha)   (models with soft OSC)

The log-mel front end runs inside the step, on the batch; mixup and SpecAugment run in training only. The
optimizer and learning-rate schedule come from timm's factories (``create_optimizer_v2``,
``create_scheduler_v2``, stepped per update). Each epoch ends with an evaluation on the ``evaluate`` split and
an atomic checkpoint ``OUT/last.pt``; the finished run writes ``OUT/metrics.json``, ``OUT/curves.png`` and
``OUT/confusion.png``. Only rank 0 writes files.

Reproducibility: the model is initialised from ``seed``; the data order of epoch ``e`` comes from a generator
seeded by ``(seed, e)`` (:class:`~lightops.train.distributed.ShardedBatchSampler`); mixup and SpecAugment draw
from generators seeded by ``(seed, e, micro-batch slot)``; the global torch, numpy and python generators are
saved in every checkpoint and restored by ``--resume``. On CPU a resumed run ends with weights bit-identical to
an uninterrupted one.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import timm
import torch
import torch.nn as nn
from timm.loss import SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from .._factory import create_model, is_lightops_model, list_models
from ..data import AudioFileError, SyntheticScenes, TAUUrbanAcousticScenes2020Mobile
from ..models import DSSDNCfg
from ..ops import OrthoSeparableConv2d, ortho_reg_loss
from ..audio import LogMel, SpecAugment, mixup
BASELINES: dict = {}  # the reference CNN is registered in timm now (lightops.models.baselines)
from .checkpoint import (
    FORMAT_VERSION,
    atomic_save,
    atomic_write_json,
    check_writable_dir,
    get_rng_state,
    load_checkpoint,
    set_rng_state,
)
from .distributed import (
    DistEnv,
    ShardedBatchSampler,
    all_gather_objects,
    broadcast_object,
    cleanup_distributed,
    derive_seed,
    init_distributed,
    params_digest,
    sync_buffers,
    unwrap_model,
    wrap_ddp,
)
from .metrics import classification_metrics, model_complexity
from .plots import plot_confusion_matrix, plot_training_curves

__all__ = ["TrainConfig", "FrontEnd", "known_models", "build_model", "build_datasets", "train", "evaluate",
           "evaluate_checkpoint", "add_train_parser", "add_eval_parser", "train_main", "eval_main"]

CHECKPOINT_NAME = "last.pt"
METRICS_NAME = "metrics.json"
CURVES_NAME = "curves.png"
CONFUSION_NAME = "confusion.png"

# Options that may differ between a run and its --resume: they change where and how fast, not what is computed
# (epochs is allowed too, with a warning: it changes the learning-rate schedule from the resumed epoch on).
_RESUME_FREE = frozenset({"out", "epochs", "stop_after", "workers", "quiet", "resume", "overwrite", "threads",
                          "eval_batch_size", "eval_every", "device", "accum_steps", "cache"})


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; ``lightops train`` builds one from its options."""

    model: str = "dssdn_small"  # lightops model, "dcase2020_baseline", or any timm model name
    model_kwargs: Dict[str, Any] = field(default_factory=dict)  # extra model arguments, e.g. {"width": 0.5}
    data: str = "synthetic"  # "synthetic" or the folder of a TAU Urban Acoustic Scenes 2020 Mobile download
    out: str = "runs/train"  # output folder: last.pt, metrics.json, curves.png, confusion.png
    epochs: int = 10  # total epochs of the run (the learning-rate schedule spans them)
    stop_after: Optional[int] = None  # train at most this many epochs in this call, then stop (resume later)
    batch_size: int = 32  # clips per micro-batch on each process; global batch = this x processes x accum_steps
    accum_steps: int = 1  # micro-batches accumulated per optimizer step
    opt: str = "adamw"  # timm optimizer name
    lr: float = 2e-3  # peak learning rate
    weight_decay: float = 0.01  # decoupled weight decay (timm skips biases and norm parameters)
    sched: str = "cosine"  # timm scheduler name, stepped per update
    warmup_epochs: int = 1  # linear warm-up epochs (capped at epochs - 1)
    warmup_lr: float = 1e-5  # learning rate at the start of the warm-up
    min_lr: float = 1e-5  # final learning rate of the cosine
    seed: int = 0  # seed of initialisation, data order and augmentation
    mixup_alpha: float = 0.3  # Beta(alpha, alpha) of mixup; 0 disables mixup
    label_smoothing: float = 0.0  # label smoothing of the targets
    specaug: bool = True  # SpecAugment frequency and time masking in training
    freq_mask: Optional[int] = None  # widest frequency mask in mel bins (None: n_mels // 8)
    time_mask: Optional[int] = None  # widest time mask in frames (None: frames // 8)
    ortho_alpha: float = 0.1  # weight of OSC's orthonormal penalty (added when the model has soft OSC)
    sample_rate: int = 44100  # Hz, of the waveforms and the front end
    n_fft: int = 4096  # front end FFT size
    hop_length: int = 1024  # front end hop in samples
    n_mels: int = 256  # mel bins of the model input
    clip_seconds: Optional[float] = None  # clip length (None: 1 s synthetic, 10 s TAU)
    num_clips: Optional[int] = None  # synthetic training clips (None: 1000)
    num_eval_clips: Optional[int] = None  # synthetic evaluation clips (None: half of num_clips)
    data_seed: int = 0  # seed of the synthetic data set
    fold: int = 1  # TAU cross-validation fold
    resample: bool = False  # resample TAU files at another rate instead of failing
    norm_clips: int = 64  # training clips whose log-mel mean and std normalise the input
    cache: bool = False  # read every clip once (with `workers` processes) and keep them in memory
    workers: int = 0  # DataLoader worker processes
    amp: bool = False  # mixed precision (bfloat16 on CPU, float16 with loss scaling on CUDA)
    sync_bn: bool = False  # under DDP on CUDA, BatchNorm statistics over the global batch (SyncBatchNorm)
    device: Optional[str] = None  # "cpu" or "cuda" (None: CUDA when available)
    eval_every: int = 1  # evaluate every this many epochs (and always after the last)
    eval_batch_size: Optional[int] = None  # clips per evaluation batch (None: 2 x batch_size)
    threads: Optional[int] = None  # torch intra-op threads (None: torch's default)
    quiet: bool = False  # no progress bars or per-epoch lines
    resume: bool = False  # continue from OUT/last.pt
    overwrite: bool = False  # start over in an OUT that already holds a run

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "accum_steps", "sample_rate", "n_fft", "hop_length", "n_mels", "fold",
                    "norm_clips", "eval_every")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        optional_positive = ("stop_after", "num_clips", "num_eval_clips", "eval_batch_size", "threads")
        for name in optional_positive:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        for name in ("warmup_epochs", "workers", "seed", "data_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        for name in ("freq_mask", "time_mask"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an int >= 0 or None, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        for name in ("weight_decay", "mixup_alpha", "ortho_alpha", "warmup_lr", "min_lr"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.clip_seconds is not None and not self.clip_seconds > 0:
            raise ValueError(f"clip_seconds must be > 0, got {self.clip_seconds!r}")
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"model_kwargs must be a dict, got {type(self.model_kwargs).__name__}")
        if isinstance(self.model_kwargs.get("cfg"), DSSDNCfg):  # JSON-ready, for checkpoints and metrics.json
            object.__setattr__(self, "model_kwargs", dict(self.model_kwargs, cfg=self.model_kwargs["cfg"].to_dict()))
        if not isinstance(self.data, str) or not self.data:
            raise ValueError(f"data must be 'synthetic' or a folder path, got {self.data!r}")

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# ---- models ------------------------------------------------------------------------------------------------
def known_models() -> List[str]:
    """Names :func:`build_model` knows besides timm's: the lightops models and the baselines."""
    return list_models() + sorted(BASELINES)


def _check_model_name(name: str) -> None:
    if not isinstance(name, str) or not (is_lightops_model(name) or name in BASELINES or timm.is_model(name)):
        raise ValueError(f"unknown model {name!r}; expected one of {known_models()} or a timm model name "
                         f"(timm.list_models())")


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name: a lightops model, a baseline of :mod:`lightops.train.baselines`, or a timm model.

    timm models other than lightops' get ``in_chans=1`` unless given (the log-mel has one channel). A DSSDN
    ``cfg`` may be given as the dict of ``DSSDNCfg.to_dict()`` (as checkpoints store it), so
    ``build_model(ckpt["model"], **ckpt["model_kwargs"])`` rebuilds any checkpoint's network.

    Raises:
        ValueError: unknown name (the message lists the known ones) or arguments the model does not take.
    """
    _check_model_name(name)
    try:
        if is_lightops_model(name):
            if isinstance(kwargs.get("cfg"), dict):  # a DSSDNCfg stored as JSON in a checkpoint's model_kwargs
                kwargs = dict(kwargs, cfg=DSSDNCfg.from_dict(kwargs["cfg"]))
            return create_model(name, **kwargs)
        if name in BASELINES:
            return BASELINES[name](**kwargs)
        return timm.create_model(name, **{"in_chans": 1, **kwargs})
    except TypeError as e:
        raise ValueError(f"model {name!r} rejected its arguments {kwargs}: {e}") from e


def _model_kwargs(cfg: TrainConfig, num_classes: int) -> Dict[str, Any]:
    kwargs = dict(cfg.model_kwargs)
    if kwargs.get("num_classes", num_classes) != num_classes:
        raise ValueError(f"model_kwargs num_classes={kwargs['num_classes']} but the data has {num_classes} classes")
    kwargs["num_classes"] = num_classes
    if not is_lightops_model(cfg.model) and cfg.model not in BASELINES:
        kwargs.setdefault("in_chans", 1)
    return kwargs


def _has_soft_osc(model: nn.Module) -> bool:
    return any(isinstance(m, OrthoSeparableConv2d) and m.orthogonal == "soft" for m in model.modules())


# ---- front end ---------------------------------------------------------------------------------------------
class FrontEnd(nn.Module):
    """Waveform to normalised log-mel, ``(LogMel(x) - mean) / std``, with SpecAugment in training mode.

    Args:
        sample_rate: rate of the waveforms, Hz.
        n_fft: FFT size.
        hop_length: hop in samples.
        n_mels: mel bins.
        mean: mean of the training log-mel in dB.
        std: its standard deviation in dB.
        freq_mask: widest SpecAugment frequency mask in bins (0: none).
        time_mask: widest SpecAugment time mask in frames (0: none).

    Shape:
        ``(B, N) -> (B, 1, n_mels, T)``.
    """

    def __init__(self, sample_rate: int = 44100, n_fft: int = 4096, hop_length: int = 1024, n_mels: int = 256,
                 mean: float = 0.0, std: float = 1.0, freq_mask: int = 0, time_mask: int = 0) -> None:
        super().__init__()
        if not std > 0:
            raise ValueError(f"FrontEnd: std must be > 0, got {std!r}")
        self.logmel = LogMel(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
        self.mean, self.std = float(mean), float(std)
        self.specaug = SpecAugment(freq_mask, time_mask) if freq_mask or time_mask else None

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` waveform -> ``(B, 1, n_mels, T)`` normalised log-mel (no augmentation)."""
        return (self.logmel(waveform) - self.mean) / self.std

    def augment(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """SpecAugment ``x`` ``(B, 1, F, T)`` in training mode, drawing from ``generator``; identity otherwise."""
        if self.specaug is None or not self.training:
            return x
        self.specaug.generator = generator
        try:
            return self.specaug(x)
        finally:
            self.specaug.generator = None

    def config(self) -> Dict[str, Any]:
        """JSON-ready settings; ``FrontEnd.from_config`` rebuilds an equal module (checkpoint key ``frontend``)."""
        m = self.logmel
        return dict(sample_rate=m.sample_rate, n_fft=m.n_fft, hop_length=m.hop_length, n_mels=m.n_mels,
                    log="power_db", mean=self.mean, std=self.std,
                    freq_mask=self.specaug.freq_mask if self.specaug else 0,
                    time_mask=self.specaug.time_mask if self.specaug else 0)

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> FrontEnd:
        """Build from :meth:`config`'s dict."""
        keys = ("sample_rate", "n_fft", "hop_length", "n_mels", "mean", "std", "freq_mask", "time_mask")
        return cls(**{k: cfg[k] for k in keys if k in cfg})


def _norm_stats(dataset: Dataset, cfg: TrainConfig, env: DistEnv) -> Tuple[float, float]:
    """Mean and std (dB) of the log-mel over ``norm_clips`` evenly spaced training clips (rank 0, broadcast)."""
    stats = None
    if env.is_main:
        n = len(dataset)
        idx = np.unique(np.linspace(0, n - 1, min(cfg.norm_clips, n)).round().astype(int))
        mel = LogMel(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels)
        total, total_sq, count = 0.0, 0.0, 0
        with torch.no_grad():
            for start in range(0, len(idx), 16):
                wave = torch.stack([dataset[int(i)][0] for i in idx[start:start + 16]])
                x = mel(wave).double()
                total, total_sq, count = total + float(x.sum()), total_sq + float((x * x).sum()), count + x.numel()
        mean = total / count
        std = math.sqrt(max(total_sq / count - mean * mean, 1e-12))
        stats = (mean, std)
    return broadcast_object(stats, env)


# ---- data --------------------------------------------------------------------------------------------------
def build_datasets(cfg: TrainConfig) -> Tuple[Dataset, Dataset]:
    """The training and evaluation sets ``cfg.data`` names: synthetic scenes, or a TAU 2020 Mobile folder.

    Raises:
        FileNotFoundError: ``cfg.data`` is neither ``"synthetic"`` nor an existing folder, or a TAU file is missing.
        ValueError: an empty split or bad metadata.
    """
    if cfg.data == "synthetic":
        seconds = cfg.clip_seconds or 1.0
        n_train = cfg.num_clips or 1000
        n_eval = cfg.num_eval_clips or max(n_train // 2, 1)
        kw = dict(clip_seconds=seconds, sample_rate=cfg.sample_rate, seed=cfg.data_seed)
        return SyntheticScenes("train", num_clips=n_train, **kw), SyntheticScenes("evaluate", num_clips=n_eval, **kw)
    if not os.path.isdir(cfg.data):
        raise FileNotFoundError(f"data folder not found: {cfg.data!r}; expected 'synthetic' or the folder of a TAU "
                                f"Urban Acoustic Scenes 2020 Mobile download (with evaluation_setup/ and audio/)")
    kw = dict(fold=cfg.fold, clip_seconds=cfg.clip_seconds or 10.0, sample_rate=cfg.sample_rate,
              resample=cfg.resample)
    return (TAUUrbanAcousticScenes2020Mobile(cfg.data, "train", **kw),
            TAUUrbanAcousticScenes2020Mobile(cfg.data, "evaluate", **kw))


class _Cached(Dataset):
    """All items of ``dataset`` read once, with ``workers`` processes, and kept in memory."""

    def __init__(self, dataset: Dataset, workers: int = 0) -> None:
        self.classes = dataset.classes
        self.devices = getattr(dataset, "devices", ())
        loader = DataLoader(dataset, batch_size=32, num_workers=workers, collate_fn=list)
        self._items = [item for batch in loader for item in batch]

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> Any:
        return self._items[index]


def _preflight(dataset: Dataset, split: str) -> int:
    """Read the first clip (catches unreadable files and wrong sample rates before anything is written)."""
    if len(dataset) == 0:
        raise ValueError(f"the {split} split is empty")
    waveform = dataset[0][0]
    if waveform.dim() != 1 or waveform.numel() == 0:
        raise ValueError(f"the {split} split gives waveforms of shape {list(waveform.shape)}; expected (samples,)")
    return waveform.numel()


# ---- evaluation --------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, frontend: FrontEnd, dataset: Dataset, *, classes: Sequence[str],
             seen_devices: Optional[Sequence[str]] = None, env: Optional[DistEnv] = None, batch_size: int = 64,
             workers: int = 0, amp: bool = False, progress: bool = False) -> Dict[str, Any]:
    """Evaluate ``model`` on ``dataset``: the dict of :func:`~lightops.train.metrics.classification_metrics`.

    Under DDP every rank evaluates the items ``rank::world_size`` and the results are gathered, so every rank
    returns the same dict. The model and front end are put in eval mode.

    Args:
        model: the classifier (a DDP wrapper is unwrapped).
        frontend: waveform-to-log-mel module.
        dataset: items ``(waveform, label, device)``.
        classes: class names.
        seen_devices: devices of the training data (the others are reported as unseen).
        env: distributed environment (None: single process on the model's device).
        batch_size: clips per batch.
        workers: DataLoader worker processes.
        amp: autocast the model (bfloat16 on CPU, float16 on CUDA).
        progress: show a progress bar.
    """
    model = unwrap_model(model)
    device = next(model.parameters()).device
    env = env or DistEnv(device=device)
    model.eval()
    frontend.eval().to(device)
    indices = list(range(env.rank, len(dataset), env.world_size))
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False, num_workers=workers)
    logits, labels, devices = [], [], []
    for waveform, label, dev in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        with _autocast(device, amp):
            out = model(frontend(waveform.to(device)))
        logits.append(out.float().cpu())
        labels.append(label)
        devices.extend(dev)
    local = (indices, torch.cat(logits) if logits else torch.zeros(0, len(classes)),
             torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long), devices)
    parts = all_gather_objects(local, env)
    order = np.argsort(np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts]), kind="stable")
    all_logits = torch.cat([p[1] for p in parts])[order]
    all_labels = torch.cat([p[2] for p in parts])[order]
    all_devices = [d for p in parts for d in p[3]]
    all_devices = [all_devices[i] for i in order]
    return classification_metrics(all_logits, all_labels, all_devices, classes, seen_devices)


def _autocast(device: torch.device, enabled: bool):
    if not enabled:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)


# ---- training ----------------------------------------------------------------------------------------------
def _log(env: DistEnv, cfg: TrainConfig, text: str) -> None:
    if env.is_main and not cfg.quiet:
        print(text, flush=True)


def _check_out(cfg: TrainConfig, env: DistEnv) -> Tuple[str, str]:
    """Check OUT is writable and agrees with --resume / --overwrite; returns (out, checkpoint path)."""
    out = check_writable_dir(cfg.out)
    ckpt_path = os.path.join(out, CHECKPOINT_NAME)
    if cfg.resume and cfg.overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    if cfg.resume and not os.path.isfile(ckpt_path):
        raise FileNotFoundError(f"--resume: no checkpoint to resume from at {ckpt_path}")
    if not cfg.resume and not cfg.overwrite and os.path.exists(ckpt_path):
        raise FileExistsError(f"{out} already holds a run ({CHECKPOINT_NAME}); pass --resume to continue it or "
                              f"--overwrite to start over")
    return out, ckpt_path


def _check_resume(cfg: TrainConfig, saved: Dict[str, Any], world_size: int, path: str) -> None:
    diff = {k: (saved.get(k), v) for k, v in cfg.to_dict().items() if k not in _RESUME_FREE and saved.get(k) != v}
    if diff:
        text = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in diff.items())
        raise ValueError(f"--resume: options differ from the run in {path} ({text}); pass the same options or "
                         f"start a new run in another --out")
    old = saved.get("_world_size", 1) * saved.get("accum_steps", 1)
    if old != world_size * cfg.accum_steps:
        raise ValueError(f"--resume: the run in {path} used {old} micro-batches per step (processes x accum_steps), "
                         f"this one {world_size} x {cfg.accum_steps}; keep the product to keep the global batch")


def train(cfg: TrainConfig) -> Dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.data``; write ``last.pt`` every epoch and ``metrics.json`` at the end.

    Runs as one process, or as one rank of a ``torchrun`` job (the environment decides, see
    :func:`~lightops.train.distributed.init_distributed`).

    Returns:
        The content of ``metrics.json`` (``complete: True``) when the run reached ``cfg.epochs``; otherwise
        (``stop_after``) a dict with ``complete: False``, ``epochs_done`` and ``history``.

    Raises:
        ValueError: bad options, unknown model, empty split, options that differ from the resumed run.
        FileNotFoundError: missing data folder, file or checkpoint to resume.
        FileExistsError: ``cfg.out`` holds a run and neither ``resume`` nor ``overwrite`` is set.
        OSError: ``cfg.out`` cannot be written.
        lightops.data.AudioFileError: an unreadable audio file or one at another sample rate.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"train: expected a TrainConfig, got {type(cfg).__name__}")
    _check_model_name(cfg.model)
    env = init_distributed(cfg.device)
    try:
        return _train(cfg, env)
    finally:
        cleanup_distributed(env)


def _train(cfg: TrainConfig, env: DistEnv) -> Dict[str, Any]:
    t_start = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train_set, eval_set = build_datasets(cfg)
    num_samples = _preflight(train_set, "train")
    _preflight(eval_set, "evaluate")
    out, ckpt_path = _check_out(cfg, env)
    if cfg.cache:
        train_set, eval_set = _Cached(train_set, cfg.workers), _Cached(eval_set, cfg.workers)
    workers = 0 if cfg.cache else cfg.workers
    classes = list(train_set.classes)
    train_devices = sorted(set(getattr(train_set, "devices", ())))
    saved = load_checkpoint(ckpt_path) if cfg.resume else None
    if saved is not None:
        _check_resume(cfg, dict(saved["args"], _world_size=saved.get("world_size", 1)), env.world_size, ckpt_path)

    # Model, initialised from the seed on every rank (DDP broadcasts rank 0's weights anyway).
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    random.seed(cfg.seed)
    model_kwargs = _model_kwargs(cfg, len(classes))
    model = build_model(cfg.model, **model_kwargs).to(env.device)
    if cfg.sync_bn and env.distributed:
        if env.device.type != "cuda":
            raise ValueError("--sync-bn needs CUDA: torch's SyncBatchNorm does not run on CPU tensors")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # before the optimizer sees the parameters
    frames = LogMel(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                    n_mels=cfg.n_mels).output_frames(num_samples)
    input_size = (1, cfg.n_mels, frames)
    model.eval()
    with torch.no_grad():  # shape check before anything is written; eval mode draws no random numbers
        model(torch.zeros((1, *input_size), device=env.device))
    params, macs = model_complexity(model, input_size)

    if saved is not None:
        mean, std = saved["frontend"]["mean"], saved["frontend"]["std"]
    else:
        mean, std = _norm_stats(train_set, cfg, env)
    freq_mask = (cfg.n_mels // 8 if cfg.freq_mask is None else cfg.freq_mask) if cfg.specaug else 0
    time_mask = (frames // 8 if cfg.time_mask is None else cfg.time_mask) if cfg.specaug else 0
    frontend = FrontEnd(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, mean, std, freq_mask,
                        time_mask).to(env.device)

    sampler = ShardedBatchSampler(len(train_set), cfg.batch_size, world_size=env.world_size, rank=env.rank,
                                  accum_steps=cfg.accum_steps, shuffle=True, seed=cfg.seed)
    steps = sampler.steps_per_epoch
    optimizer = create_optimizer_v2(model, opt=cfg.opt, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = min(cfg.warmup_epochs, cfg.epochs - 1)
    scheduler, _ = create_scheduler_v2(optimizer, sched=cfg.sched, num_epochs=cfg.epochs, warmup_epochs=warmup,
                                       warmup_lr=cfg.warmup_lr, min_lr=cfg.min_lr, step_on_epochs=False,
                                       updates_per_epoch=steps)
    use_scaler = cfg.amp and env.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler) if use_scaler else None
    history: List[Dict[str, Any]] = []
    start_epoch = 0
    if saved is not None:
        model.load_state_dict(saved["state_dict"])
        optimizer.load_state_dict(saved["optimizer"])
        if saved["args"]["epochs"] == cfg.epochs:
            scheduler.load_state_dict(saved["scheduler"])
        else:
            warnings.warn(f"--resume with epochs={cfg.epochs} instead of {saved['args']['epochs']}: the learning-rate "
                          f"schedule is rebuilt for {cfg.epochs} epochs", stacklevel=2)
        if scaler is not None and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        start_epoch = int(saved["epoch"])
        history = list(saved.get("history", []))
        per_rank = saved.get("rng_per_rank") or [saved["rng"]]
        set_rng_state(per_rank[env.rank] if len(per_rank) == env.world_size else saved["rng"])
        del saved
    if env.is_main:  # results of an earlier run in OUT no longer describe it
        for name in ((METRICS_NAME, CURVES_NAME, CONFUSION_NAME) + (() if cfg.resume else (CHECKPOINT_NAME,))):
            if os.path.exists(os.path.join(out, name)):
                os.remove(os.path.join(out, name))

    ddp_model = wrap_ddp(model, env)
    soft_osc = _has_soft_osc(model)
    loss_fn = SoftTargetCrossEntropy() if cfg.mixup_alpha > 0 else nn.CrossEntropyLoss(
        label_smoothing=cfg.label_smoothing)
    loader_gen = torch.Generator()
    loader = DataLoader(train_set, batch_sampler=sampler, num_workers=workers, generator=loader_gen)
    eval_bs = cfg.eval_batch_size or 2 * cfg.batch_size
    show = env.is_main and not cfg.quiet and sys.stderr.isatty()
    num_classes = len(classes)
    _log(env, cfg, f"train {cfg.model} ({params:,} params, {macs / 1e6:.1f} MMACs on {input_size}) on "
                   f"{len(train_set)} clips, evaluate on {len(eval_set)}; {env.world_size} process(es) x "
                   f"{cfg.accum_steps} micro-batch(es) x {cfg.batch_size} = global batch {sampler.global_batch_size}, "
                   f"{steps} steps/epoch on {env.device}")

    last_eval: Optional[Dict[str, Any]] = None
    end_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start_epoch + cfg.stop_after)
    for epoch in range(start_epoch, end_epoch):
        sampler.set_epoch(epoch)
        loader_gen.manual_seed(derive_seed(cfg.seed, epoch, env.rank, 1))
        aug_gens = [torch.Generator().manual_seed(derive_seed(cfg.seed, epoch, env.rank * cfg.accum_steps + k, 2))
                    for k in range(cfg.accum_steps)]
        ddp_model.train()
        frontend.train()
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss_sum, correct, count = 0.0, 0, 0
        batches = iter(loader)
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=not show)
        for step in bar:
            optimizer.zero_grad(set_to_none=True)
            for k in range(cfg.accum_steps):
                waveform, label, _ = next(batches)
                waveform, label = waveform.to(env.device), label.to(env.device)
                with torch.no_grad():
                    x = frontend(waveform)  # (B, 1, n_mels, T)
                if cfg.mixup_alpha > 0:
                    x, target = mixup(x, label, cfg.mixup_alpha, num_classes=num_classes,
                                      label_smoothing=cfg.label_smoothing, generator=aug_gens[k])
                    hard = target.argmax(dim=1)
                else:
                    target = hard = label
                x = frontend.augment(x, aug_gens[k])
                sync = env.distributed and k < cfg.accum_steps - 1
                with ddp_model.no_sync() if sync else nullcontext():
                    with _autocast(env.device, cfg.amp):
                        logits = ddp_model(x)
                    loss = loss_fn(logits.float(), target)
                    total = loss + ortho_reg_loss(model, cfg.ortho_alpha) if soft_osc else loss
                    total = total / cfg.accum_steps
                    (scaler.scale(total) if scaler is not None else total).backward()
                n = label.shape[0]
                loss_sum += float(loss.detach()) * n
                correct += int((logits.detach().argmax(dim=1) == hard).sum())
                count += n
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            scheduler.step_update(num_updates=epoch * steps + step + 1)
            if show:
                bar.set_postfix(loss=f"{loss_sum / count:.3f}", acc=f"{correct / count:.3f}")
        bar.close()
        scheduler.step(epoch + 1)
        train_seconds = time.perf_counter() - t0
        sums = np.sum([p for p in all_gather_objects((loss_sum, correct, count), env)], axis=0)
        record: Dict[str, Any] = dict(epoch=epoch + 1, lr=lr, steps=steps, train_loss=float(sums[0] / sums[2]),
                                      train_accuracy=float(sums[1] / sums[2]), train_seconds=train_seconds,
                                      eval_loss=None, eval_accuracy=None, eval_seen_accuracy=None,
                                      eval_unseen_accuracy=None, eval_seconds=None)
        sync_buffers(model, env)  # evaluate and save rank 0's BatchNorm statistics
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            t1 = time.perf_counter()
            last_eval = evaluate(ddp_model, frontend, eval_set, classes=classes, seen_devices=train_devices, env=env,
                                 batch_size=eval_bs, workers=workers, amp=cfg.amp, progress=show)
            record.update(eval_loss=last_eval["log_loss"], eval_accuracy=last_eval["accuracy"],
                          eval_seen_accuracy=last_eval["seen"]["accuracy"],
                          eval_unseen_accuracy=last_eval["unseen"]["accuracy"],
                          eval_seconds=time.perf_counter() - t1)
        history.append(record)
        _log(env, cfg, _epoch_line(record, cfg.epochs))
        rng_per_rank = all_gather_objects(get_rng_state(), env)
        if env.is_main:
            next_order = torch.Generator().manual_seed(derive_seed(cfg.seed, epoch + 1))
            ckpt = dict(
                format_version=FORMAT_VERSION, model=cfg.model, model_kwargs=model_kwargs,
                state_dict=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                scaler=scaler.state_dict() if scaler is not None else None, epoch=epoch + 1,
                global_step=(epoch + 1) * steps,
                rng=dict(rng_per_rank[0],
                         data_order=dict(seed=cfg.seed, epoch=epoch + 1, state=next_order.get_state())),
                rng_per_rank=rng_per_rank, args=cfg.to_dict(), classes=classes, frontend=frontend.config(),
                history=history, train_devices=train_devices, world_size=env.world_size,
                global_batch_size=sampler.global_batch_size, input_size=list(input_size),
                versions=dict(torch=torch.__version__, timm=timm.__version__))
            atomic_save(ckpt, ckpt_path)

    digests = all_gather_objects(params_digest(model), env)
    if len(set(digests)) != 1:
        warnings.warn(f"DDP replicas hold different weights at the end of training: {digests}", stacklevel=2)
    epochs_done = end_epoch if history else start_epoch
    if epochs_done < cfg.epochs:
        return dict(complete=False, epochs_done=epochs_done, epochs=cfg.epochs, history=history,
                    replicas_identical=len(set(digests)) == 1, params_sha256=digests[0])
    if last_eval is None:  # resumed a finished run: evaluate the final weights again
        last_eval = evaluate(ddp_model, frontend, eval_set, classes=classes, seen_devices=train_devices, env=env,
                             batch_size=eval_bs, workers=workers, amp=cfg.amp, progress=show)
    train_secs = [h["train_seconds"] for h in history]
    result = dict(
        complete=True, model=cfg.model, model_kwargs=model_kwargs, params=params, macs=macs,
        input_size=list(input_size), classes=classes, epochs=cfg.epochs, **last_eval,
        data=dict(source=cfg.data, train_clips=len(train_set), eval_clips=len(eval_set),
                  clip_seconds=cfg.clip_seconds or (1.0 if cfg.data == "synthetic" else 10.0),
                  sample_rate=cfg.sample_rate, train_devices=train_devices),
        world_size=env.world_size, replicas_identical=len(set(digests)) == 1, params_sha256=digests[0],
        accum_steps=cfg.accum_steps, batch_size=cfg.batch_size, global_batch_size=sampler.global_batch_size,
        steps_per_epoch=steps,
        train_seconds_per_epoch=train_secs, mean_train_seconds_per_epoch=float(np.mean(train_secs)),
        wall_seconds=time.perf_counter() - t_start, history=history, frontend=frontend.config(), args=cfg.to_dict(),
        device=str(env.device))
    if env.is_main:
        atomic_write_json(result, os.path.join(out, METRICS_NAME))
        title = f"{cfg.model} on {'synthetic scenes' if cfg.data == 'synthetic' else 'TAU 2020 Mobile'}"
        plot_training_curves(history, os.path.join(out, CURVES_NAME), title=title)
        plot_confusion_matrix(result["confusion_matrix"], classes, os.path.join(out, CONFUSION_NAME),
                              title=f"{title}: accuracy {result['accuracy']:.1%}")
        _log(env, cfg, f"done: accuracy {result['accuracy']:.1%} (seen {_pct(result['seen']['accuracy'])}, unseen "
                       f"{_pct(result['unseen']['accuracy'])}), log loss {result['log_loss']:.3f}; wrote {out}/"
                       f"{{{CHECKPOINT_NAME}, {METRICS_NAME}, {CURVES_NAME}, {CONFUSION_NAME}}}")
    return result


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _epoch_line(r: Dict[str, Any], epochs: int) -> str:
    line = (f"epoch {r['epoch']}/{epochs}  lr {r['lr']:.2e}  train loss {r['train_loss']:.3f} acc "
            f"{r['train_accuracy']:.1%}  {r['train_seconds']:.1f} s")
    if r["eval_accuracy"] is not None:
        line += (f"  | eval loss {r['eval_loss']:.3f} acc {r['eval_accuracy']:.1%} (seen "
                 f"{_pct(r['eval_seen_accuracy'])}, unseen {_pct(r['eval_unseen_accuracy'])})")
    return line


# ---- evaluation of a checkpoint ----------------------------------------------------------------------------
def evaluate_checkpoint(checkpoint: str, data: str = "synthetic", out: Optional[str] = None, *,
                        batch_size: int = 64, workers: int = 0, num_clips: Optional[int] = None,
                        device: Optional[str] = None, threads: Optional[int] = None,
                        quiet: bool = True) -> Dict[str, Any]:
    """Evaluate a training checkpoint on the ``evaluate`` split of ``data``; write ``metrics.json`` and a PNG.

    The front end, clip length and synthetic-data settings are those the checkpoint was trained with.

    Args:
        checkpoint: path of a ``last.pt``.
        data: ``"synthetic"`` or a TAU 2020 Mobile folder.
        out: output folder (None: ``eval/`` next to the checkpoint).
        batch_size: clips per batch.
        workers: DataLoader worker processes.
        num_clips: synthetic evaluation clips (None: as in training).
        device: ``"cpu"`` or ``"cuda"`` (None: CUDA when available).
        threads: torch intra-op threads (None: torch's default).
        quiet: no progress bar and summary line.

    Returns:
        The content of the written ``metrics.json``.
    """
    ckpt = load_checkpoint(checkpoint)
    if threads:
        torch.set_num_threads(threads)
    env = init_distributed(device)
    try:
        saved_args = ckpt.get("args", {})
        args = TrainConfig.from_dict(dict(saved_args, data=data, resume=False,
                                          num_eval_clips=num_clips or saved_args.get("num_eval_clips")))
        _, eval_set = build_datasets(args)
        _preflight(eval_set, "evaluate")
        out = check_writable_dir(out or os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "eval"))
        classes = list(ckpt.get("classes") or eval_set.classes)
        if list(eval_set.classes) != classes:
            raise ValueError(f"the data's classes {list(eval_set.classes)} differ from the checkpoint's {classes}")
        model = build_model(ckpt["model"], **ckpt["model_kwargs"])
        model.load_state_dict(ckpt["state_dict"])
        model.to(env.device)
        frontend = FrontEnd.from_config(ckpt["frontend"]).to(env.device)
        t0 = time.perf_counter()
        metrics = evaluate(model, frontend, eval_set, classes=classes, seen_devices=ckpt.get("train_devices"),
                           env=env, batch_size=batch_size, workers=workers,
                           progress=env.is_main and not quiet and sys.stderr.isatty())
        result = dict(checkpoint=os.path.abspath(checkpoint), model=ckpt["model"], model_kwargs=ckpt["model_kwargs"],
                      epoch=ckpt.get("epoch"), classes=classes, **metrics,
                      data=dict(source=data, eval_clips=len(eval_set), train_devices=ckpt.get("train_devices")),
                      eval_seconds=time.perf_counter() - t0)
        if env.is_main:
            atomic_write_json(result, os.path.join(out, METRICS_NAME))
            plot_confusion_matrix(metrics["confusion_matrix"], classes, os.path.join(out, CONFUSION_NAME),
                                  title=f"{ckpt['model']}: accuracy {metrics['accuracy']:.1%}")
            if not quiet:
                print(f"{ckpt['model']} epoch {ckpt.get('epoch')}: accuracy {metrics['accuracy']:.1%} (seen "
                      f"{_pct(metrics['seen']['accuracy'])}, unseen {_pct(metrics['unseen']['accuracy'])}), log loss "
                      f"{metrics['log_loss']:.3f}; wrote {out}/{METRICS_NAME}", flush=True)
        return result
    finally:
        cleanup_distributed(env)


# ---- command line ------------------------------------------------------------------------------------------
def _json_dict(text: str) -> Dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"width\": 0.5}}', got {text!r}: {e}") \
            from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"width\": 0.5}}', got {text!r}")
    return value


def _add_train_args(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    a = p.add_argument
    a("--model", default=d.model, help=f"model name: {', '.join(known_models())} or a timm model "
                                       f"(default {d.model})")
    a("--model-kwargs", type=_json_dict, default={}, help='JSON object of model arguments, e.g. \'{"width": 0.5}\'')
    a("--width", type=float, default=None, help="channel multiplier (shorthand for model kwarg width)")
    a("--data", default=d.data, help="'synthetic' or a TAU Urban Acoustic Scenes 2020 Mobile folder")
    a("--out", default=d.out, help=f"output folder (default {d.out})")
    a("--epochs", type=int, default=d.epochs, help=f"total epochs (default {d.epochs})")
    a("--stop-after", type=int, default=None, help="stop after this many epochs in this call (resume later)")
    a("--batch-size", type=int, default=d.batch_size, help=f"clips per process and micro-batch (default "
                                                           f"{d.batch_size})")
    a("--accum-steps", type=int, default=d.accum_steps, help="micro-batches per optimizer step (default 1)")
    a("--opt", default=d.opt, help=f"timm optimizer (default {d.opt})")
    a("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    a("--weight-decay", type=float, default=d.weight_decay, help=f"weight decay (default {d.weight_decay})")
    a("--sched", default=d.sched, help=f"timm scheduler (default {d.sched})")
    a("--warmup-epochs", type=int, default=d.warmup_epochs, help=f"warm-up epochs (default {d.warmup_epochs})")
    a("--min-lr", type=float, default=d.min_lr, help=f"final learning rate (default {d.min_lr})")
    a("--seed", type=int, default=d.seed, help=f"seed of initialisation, data order, augmentation (default {d.seed})")
    a("--mixup", dest="mixup_alpha", type=float, default=d.mixup_alpha,
      help=f"mixup Beta alpha, 0 disables (default {d.mixup_alpha})")
    a("--label-smoothing", type=float, default=d.label_smoothing, help="label smoothing (default 0)")
    a("--no-specaug", dest="specaug", action="store_false", help="disable SpecAugment")
    a("--freq-mask", type=int, default=None, help="widest frequency mask in mel bins (default n_mels // 8)")
    a("--time-mask", type=int, default=None, help="widest time mask in frames (default frames // 8)")
    a("--ortho-alpha", type=float, default=d.ortho_alpha, help=f"OSC orthonormal penalty weight (default "
                                                               f"{d.ortho_alpha})")
    a("--sample-rate", type=int, default=d.sample_rate, help=f"Hz (default {d.sample_rate})")
    a("--n-fft", type=int, default=d.n_fft, help=f"FFT size (default {d.n_fft})")
    a("--hop-length", type=int, default=d.hop_length, help=f"hop in samples (default {d.hop_length})")
    a("--n-mels", type=int, default=d.n_mels, help=f"mel bins (default {d.n_mels})")
    a("--clip-seconds", type=float, default=None, help="clip length (default 1 s synthetic, 10 s TAU)")
    a("--num-clips", type=int, default=None, help="synthetic training clips (default 1000)")
    a("--num-eval-clips", type=int, default=None, help="synthetic evaluation clips (default num-clips / 2)")
    a("--data-seed", type=int, default=d.data_seed, help="seed of the synthetic data (default 0)")
    a("--fold", type=int, default=d.fold, help="TAU fold (default 1)")
    a("--norm-clips", type=int, default=d.norm_clips, help=f"training clips whose log-mel mean and std normalise "
                                                           f"the input (default {d.norm_clips})")
    a("--resample", action="store_true", help="resample TAU files at another rate instead of failing")
    a("--workers", type=int, default=d.workers, help="DataLoader workers (default 0)")
    a("--cache", action="store_true", help="read every clip once (with --workers processes) and keep them in memory")
    a("--amp", action="store_true", help="mixed precision (bfloat16 on CPU, float16 on CUDA)")
    a("--sync-bn", action="store_true", help="under torchrun on CUDA: BatchNorm over the global batch")
    a("--device", default=None, help="cpu or cuda (default: cuda when available)")
    a("--eval-every", type=int, default=d.eval_every, help="evaluate every N epochs (default 1)")
    a("--threads", type=int, default=None, help="torch intra-op threads")
    a("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    a("--resume", action="store_true", help="continue the run in --out from its last.pt")
    a("--overwrite", action="store_true", help="start over in an --out that already holds a run")


def _config_from_args(ns: argparse.Namespace) -> TrainConfig:
    kw = {f.name: getattr(ns, f.name) for f in fields(TrainConfig) if hasattr(ns, f.name)}
    model_kwargs = dict(ns.model_kwargs)
    if ns.width is not None:
        model_kwargs["width"] = ns.width
    kw["model_kwargs"] = model_kwargs
    return TrainConfig(**kw)


_USER_ERRORS = (ValueError, TypeError, OSError, AudioFileError)


def _cmd_train(ns: argparse.Namespace) -> int:
    try:
        result = train(_config_from_args(ns))
    except _USER_ERRORS as e:
        raise SystemExit(f"lightops train: {e}") from e
    return 0 if result.get("complete") or ns.stop_after else 1


def _cmd_eval(ns: argparse.Namespace) -> int:
    try:
        evaluate_checkpoint(ns.checkpoint, ns.data, ns.out, batch_size=ns.batch_size, workers=ns.workers,
                            num_clips=ns.num_clips, device=ns.device, threads=ns.threads, quiet=ns.quiet)
    except _USER_ERRORS as e:
        raise SystemExit(f"lightops eval: {e}") from e
    return 0


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a last.pt written by lightops train")
    p.add_argument("--data", default="synthetic", help="'synthetic' or a TAU 2020 Mobile folder (evaluate split)")
    p.add_argument("--out", default=None, help="output folder (default: eval/ next to the checkpoint)")
    p.add_argument("--batch-size", type=int, default=64, help="clips per batch (default 64)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    p.add_argument("--num-clips", type=int, default=None, help="synthetic evaluation clips (default: as trained)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line")


def add_train_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``train`` command to an ``argparse`` sub-parser set; it runs with ``args.func(args)``."""
    p = sub.add_parser("train", help="train a model on synthetic scenes or TAU 2020 Mobile (torchrun for DDP)")
    _add_train_args(p)
    p.set_defaults(func=_cmd_train)
    return p


def add_eval_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``eval`` command to an ``argparse`` sub-parser set; it runs with ``args.func(args)``."""
    p = sub.add_parser("eval", help="evaluate a training checkpoint on the evaluate split")
    _add_eval_args(p)
    p.set_defaults(func=_cmd_eval)
    return p


def train_main(argv: Optional[Sequence[str]] = None) -> int:
    """``lightops train`` as a function: parse ``argv`` and train. Errors exit with a message naming them."""
    p = argparse.ArgumentParser(prog="lightops train", description="Train a scene classifier.")
    _add_train_args(p)
    return _cmd_train(p.parse_args(argv))


def eval_main(argv: Optional[Sequence[str]] = None) -> int:
    """``lightops eval`` as a function: parse ``argv`` and evaluate a checkpoint."""
    p = argparse.ArgumentParser(prog="lightops eval", description="Evaluate a training checkpoint.")
    _add_eval_args(p)
    return _cmd_eval(p.parse_args(argv))
