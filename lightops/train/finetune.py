"""Device-specific fine-tuning (DCASE 2025 Task 1): one copy of a trained model per training device.

``finetune(FinetuneConfig(checkpoint="runs/general/last.pt", out="runs/devices"))`` reads the general model of a
``lightops train`` run, fine-tunes one copy of it on the training clips of each training device (the same front end,
loss and augmentations as the run, a new learning-rate schedule over ``epochs``), and writes ``OUT/last.pt``: the
general model as the run left it (``state_dict``) and the device models (``device_models``, see
:data:`lightops.checkpoint.DEVICE_KEYS`). Devices without a model (unseen ones) use the general model, at
prediction (:class:`lightops.deploy.Predictor`, ``lightops predict --device-ids``) and at evaluation
(:func:`evaluate_devices`: general vs device-specific, per device).

The checkpoint is rewritten (atomically) after each device, with ``OUT/finetune.json`` (the options and each
device's epochs); ``resume`` skips the devices already done. Each device starts from the general weights with
generators seeded by ``(seed, device)``, so a resumed run ends with the same weights as an uninterrupted one.
"""
import copy
import json
import os
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch.utils.data import DataLoader, Dataset

from ..audio import FrontEnd
from ..checkpoint import CHECKPOINT_KEYS, check_classes, load_model, read_checkpoint, save_checkpoint
from ..fileio import atomic_write_json, check_writable_dir
from ..validation import check_float, check_int
from .config import TrainConfig, option
from .data import DatasetView, build_datasets, preflight
from .distributed import DistEnv, ShardedBatchSampler, derive_seed
from .engine import Engine
from .evaluation import default_eval_dir, pct
from .isolation import isolated_state
from .losses import build_losses
from .metrics import classification_metrics, device_sort_key
from .run import waveform_augmentations

__all__ = ["FinetuneConfig", "finetune", "evaluate_devices", "evaluate_finetuned", "device_logits", "summary_line",
           "FINETUNE_STATE"]

FINETUNE_STATE = "finetune.json"
_MODEL_KEYS = ("model", "model_kwargs", "architecture", "state_dict", "frontend", "classes", "input_size",
               "clip_seconds", "args", "epoch", "global_step", "history", "train_devices", "world_size",
               "global_batch_size", "versions")
_RESUME_FREE = {"out", "resume", "overwrite", "stop_after", "threads", "quiet", "device"}


@dataclass(frozen=True)
class FinetuneConfig:
    """Options of ``lightops finetune --per-device``."""

    checkpoint: str = option(help="the general model: a last.pt from lightops train")
    out: str = option(help="output folder (last.pt with the device models, finetune.json, metrics.json)")
    data: Optional[str] = option(None, "data to fine-tune on: 'synthetic' or a TAU folder (default: the run's)")
    epochs: int = option(3, "fine-tuning epochs per device")
    lr: float = option(5e-4, "peak learning rate of the fine-tuning (cosine to min_lr, no warm-up)")
    batch_size: Optional[int] = option(None, "clips per batch (default: the run's)")
    devices: Tuple[str, ...] = option(help="devices to fine-tune (default: every training device)", factory=tuple)
    seed: int = option(0, "seed of the fine-tuning's data order and augmentation")
    stop_after: Optional[int] = option(None, "stop after fine-tuning this many more devices (resume later)")
    resume: bool = option(False, "continue a fine-tuning in OUT: devices already done are kept")
    overwrite: bool = option(False, "replace a fine-tuning already in OUT")
    device: Optional[str] = option(None, "cpu or cuda (default: CUDA when available)")
    threads: Optional[int] = option(None, "torch intra-op threads during the run")
    quiet: bool = option(False, "no progress lines")

    def __post_init__(self) -> None:
        check_int(self.epochs, "epochs", minimum=1)
        check_float(self.lr, "lr", minimum=0.0, open_min=True)
        check_int(self.batch_size, "batch_size", minimum=1, optional=True)
        check_int(self.stop_after, "stop_after", minimum=1, optional=True)
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite exclude each other")

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return dict(asdict(self), devices=list(self.devices))


@torch.no_grad()
def device_logits(model: nn.Module, frontend: FrontEnd, dataset: Dataset, batch_size: int = 64) -> torch.Tensor:
    """Logits ``(N, K)`` of every item of ``dataset`` (eval mode, one process, the model's device)."""
    device = next(model.parameters()).device
    model.eval()
    frontend.eval().to(device)
    out = [model(frontend(w.to(device))).float().cpu() for w, _, _ in DataLoader(dataset, batch_size=batch_size)]
    return torch.cat(out) if out else torch.zeros(0, 0)


def evaluate_devices(general: nn.Module, device_models: Dict[str, nn.Module], frontend: FrontEnd, dataset: Dataset,
                     *, classes: Sequence[str], seen_devices: Optional[Sequence[str]] = None,
                     batch_size: int = 64) -> Dict[str, Any]:
    """General vs device-specific evaluation: each clip through its device's model, else the general one.

    Returns:
        The device-specific metrics of :func:`~lightops.train.metrics.classification_metrics` (each clip through
        the model of its device), with ``general`` (the same metrics of the general model alone), ``comparison``
        (``{device: {"model", "num_clips", "seen", "general", "device_specific"}}``, accuracies) and ``gain``
        (device-specific minus general accuracy on the clips of devices with a model, ``known``, without one,
        ``unknown``, and ``all``).
    """
    logits = device_logits(general, frontend, dataset, batch_size)
    labels = torch.tensor([dataset.label_of(i) for i in range(len(dataset))])
    devices = [dataset.device_of(i) for i in range(len(dataset))]
    routed = logits.clone()
    for d, model in device_models.items():
        idx = [i for i, dev in enumerate(devices) if dev == d]
        if idx:
            routed[idx] = device_logits(model, frontend, DatasetView(dataset, idx), batch_size)
    base = classification_metrics(logits, labels, devices, classes, seen_devices)
    spec = classification_metrics(routed, labels, devices, classes, seen_devices)
    comparison = {d: dict(model=d if d in device_models else "general", num_clips=r["num_clips"], seen=r["seen"],
                          general=r["accuracy"], device_specific=spec["per_device"][d]["accuracy"])
                  for d, r in base["per_device"].items()}

    def gain(keep) -> Optional[float]:
        idx = [i for i, dev in enumerate(devices) if keep(dev)]
        if not idx:
            return None
        right = labels[idx]
        return float((routed[idx].argmax(1) == right).double().mean() - (logits[idx].argmax(1) == right).double()
                     .mean())

    return dict(spec, general=base, comparison=comparison,
                gain=dict(known=gain(lambda d: d in device_models), unknown=gain(lambda d: d not in device_models),
                          all=gain(lambda d: True)))


def _engine(model: nn.Module, frontend: FrontEnd, tcfg: TrainConfig, sampler: ShardedBatchSampler, epochs: int,
            num_classes: int, env: DistEnv, seed: int) -> Engine:
    """The training engine of one device's fine-tuning: the run's losses and augmentations, a new schedule."""
    optimizer = create_optimizer_v2(model, opt=tcfg.opt, lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    scheduler, _ = create_scheduler_v2(optimizer, sched=tcfg.sched, num_epochs=epochs, warmup_epochs=0,
                                       min_lr=tcfg.min_lr, step_on_epochs=False,
                                       updates_per_epoch=sampler.steps_per_epoch)
    losses = build_losses(model, mixup=tcfg.mixup_alpha > 0, label_smoothing=tcfg.label_smoothing,
                          ortho_alpha=tcfg.ortho_alpha, kd_temperature=None, kd_weight=tcfg.kd_weight)
    return Engine(model=model, raw_model=model, frontend=frontend, optimizer=optimizer, scheduler=scheduler,
                  losses=losses, env=env, num_classes=num_classes, seed=seed, mixup_alpha=tcfg.mixup_alpha,
                  label_smoothing=tcfg.label_smoothing, waveform_augment=waveform_augmentations(tcfg))


def _finetune_device(general: nn.Module, frontend: FrontEnd, view: Dataset, tcfg: TrainConfig, cfg: FinetuneConfig,
                     env: DistEnv, seed: int, num_classes: int) -> Tuple[nn.Module, List[Dict[str, Any]]]:
    """One device's copy of ``general``, fine-tuned on ``view`` for ``cfg.epochs``; with its epoch records."""
    model = copy.deepcopy(general).to(env.device)
    sampler = ShardedBatchSampler(len(view), min(tcfg.batch_size, len(view)), shuffle=True, seed=seed)
    engine = _engine(model, frontend, tcfg, sampler, cfg.epochs, num_classes, env, seed)
    gen = torch.Generator()
    loader = DataLoader(view, batch_sampler=sampler, generator=gen)
    history = []
    for epoch in range(cfg.epochs):
        sampler.set_epoch(epoch)
        gen.manual_seed(derive_seed(seed, epoch, 0, 1))
        history.append(engine.epoch(loader, epoch, sampler.steps_per_epoch))
    return model.eval(), history


def _check_out(cfg: FinetuneConfig) -> Tuple[str, Optional[Dict[str, Any]]]:
    """OUT (checked writable) and the state of the fine-tuning to resume there (None: a new one)."""
    out = check_writable_dir(cfg.out)
    path, state_path = os.path.join(out, "last.pt"), os.path.join(out, FINETUNE_STATE)
    exists = os.path.isfile(path)
    if cfg.resume and not (exists and os.path.isfile(state_path)):
        raise FileNotFoundError(f"--resume: no fine-tuning to resume in {out} (last.pt and {FINETUNE_STATE})")
    if exists and not (cfg.resume or cfg.overwrite):
        raise FileExistsError(f"{out} already holds a checkpoint (last.pt); pass --resume to continue the "
                              f"fine-tuning or --overwrite to start over")
    if not cfg.resume:
        return out, None
    with open(state_path, encoding="utf-8") as fh:
        state = json.load(fh)
    new = {k: v for k, v in cfg.to_dict().items() if k not in _RESUME_FREE}
    old = {k: v for k, v in state["options"].items() if k not in _RESUME_FREE}
    if new != old:
        diff = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in new.items() if old.get(k) != v)
        raise ValueError(f"--resume: options differ from the fine-tuning in {out} ({diff})")
    return out, state


def _setup(cfg: FinetuneConfig, ckpt: Dict[str, Any]) -> Tuple[TrainConfig, Dataset, Dataset, List[str]]:
    """The run's options adapted to the fine-tuning, its data sets, and the devices to fine-tune."""
    if ckpt.get("quantized"):
        raise ValueError(f"{cfg.checkpoint} holds an int8 model (lightops quantize), which cannot be trained: "
                         f"finetune the float checkpoint, then quantize")
    if ckpt.get("device_models"):
        raise ValueError(f"{cfg.checkpoint} already holds device models; give the general model's last.pt")
    if "args" not in ckpt or "frontend" not in ckpt:
        raise ValueError(f"{cfg.checkpoint} lacks the run's options (args, frontend): expected a lightops train "
                         f"checkpoint")
    args = dict(ckpt["args"], resume=False, overwrite=True, epochs=cfg.epochs, lr=cfg.lr, warmup_epochs=0,
                teacher=(), teacher_logits=None, stop_after=None, cache=False, workers=0)
    if cfg.data:
        args["data"] = cfg.data
    if cfg.batch_size:
        args["batch_size"] = cfg.batch_size
    tcfg = TrainConfig.from_dict({k: v for k, v in args.items() if k in {f.name for f in fields(TrainConfig)}})
    train_set, eval_set = build_datasets(tcfg)
    preflight(train_set, "train")
    check_classes(ckpt.get("classes") or train_set.classes, train_set.classes,
                  f"the data {tcfg.data!r} against the checkpoint {cfg.checkpoint!r}")
    present = set(train_set.devices)
    devices = sorted(cfg.devices or ckpt.get("train_devices") or present, key=device_sort_key)
    missing = [d for d in devices if d not in present]
    if missing:
        raise ValueError(f"devices {missing} have no training clips in {tcfg.data!r} (its devices: {sorted(present)})")
    return tcfg, train_set, eval_set, devices


def finetune(cfg: FinetuneConfig) -> Dict[str, Any]:
    """Fine-tune one copy of a trained model per training device; see the module docstring.

    Returns:
        ``metrics.json``'s content (:func:`evaluate_devices` plus the options) when every device is done, else
        ``{"complete": False, "devices_done": [...]}``.

    Raises:
        FileNotFoundError: no such checkpoint or data, or nothing to resume.
        FileExistsError: OUT holds a checkpoint and neither ``resume`` nor ``overwrite`` is set.
        ValueError: not a training checkpoint (an int8 one from lightops quantize included), other classes in the
            data, a device without clips, options that differ from the resumed fine-tuning.
    """
    ckpt = read_checkpoint(cfg.checkpoint)
    with isolated_state(cfg.threads):
        tcfg, train_set, eval_set, devices = _setup(cfg, ckpt)
        out, state = _check_out(cfg)
        env = DistEnv(device=torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")))
        loaded = load_model(ckpt)
        general, classes = loaded.model.to(env.device), list(loaded.classes or train_set.classes)
        frontend = FrontEnd.from_config(ckpt["frontend"]).to(env.device)
        done: Dict[str, nn.Module] = {}
        records: Dict[str, Any] = {}
        if state is not None:
            resumed = load_model(os.path.join(out, "last.pt"))
            done = {d: m.to(env.device) for d, m in resumed.device_models.items()}
            records = state["devices"]
        base = {k: ckpt[k] for k in _MODEL_KEYS if k in ckpt and k in CHECKPOINT_KEYS}
        todo = [d for d in devices if d not in done][:cfg.stop_after]
        for d in todo:
            idx = [i for i in range(len(train_set)) if train_set.device_of(i) == d]
            t0 = time.perf_counter()
            model, history = _finetune_device(general, frontend, DatasetView(train_set, idx), tcfg, cfg, env,
                                              derive_seed(cfg.seed, devices.index(d), 0, 3), len(classes))
            done[d] = model
            records[d] = dict(clips=len(idx), epochs=cfg.epochs, history=history, seconds=time.perf_counter() - t0)
            save_checkpoint(dict(base, device_models={k: m.state_dict() for k, m in done.items()}),
                            os.path.join(out, "last.pt"))
            atomic_write_json(dict(options=cfg.to_dict(), devices=records), os.path.join(out, FINETUNE_STATE))
            if not cfg.quiet:
                print(f"device {d}: fine-tuned on {len(idx)} clips, {cfg.epochs} epoch(s), train accuracy "
                      f"{history[-1]['train_accuracy']:.1%}", flush=True)
        if any(d not in done for d in devices):
            return dict(complete=False, devices_done=sorted(done, key=device_sort_key))
        result = evaluate_devices(general, done, frontend, eval_set, classes=classes,
                                  seen_devices=ckpt.get("train_devices"), batch_size=2 * tcfg.batch_size)
        result = dict(result, complete=True, checkpoint=os.path.abspath(cfg.checkpoint), devices=devices,
                      options=cfg.to_dict())
        atomic_write_json(result, os.path.join(out, "metrics.json"))
        if not cfg.quiet:
            print(summary_line(result), flush=True)
        return result


def evaluate_finetuned(checkpoint: str, data: Optional[str] = None, out: Optional[str] = None, *,
                       batch_size: int = 64, num_clips: Optional[int] = None, threads: Optional[int] = None,
                       quiet: bool = True) -> Dict[str, Any]:
    """``lightops eval`` of a checkpoint with device models: :func:`evaluate_devices` on the evaluate split of
    ``data`` (default: the run's), written to ``OUT/metrics.json`` (default ``eval/`` next to the checkpoint).

    Raises:
        ValueError: a checkpoint without device models or run options, other classes in the data.
    """
    ckpt = read_checkpoint(checkpoint)
    loaded = load_model(ckpt)
    if not loaded.device_models or "args" not in ckpt:
        raise ValueError(f"{checkpoint}: expected a checkpoint of lightops finetune --per-device (device_models, args)")
    with isolated_state(threads):
        saved = ckpt["args"]
        tcfg = TrainConfig.from_dict(dict(saved, data=data or saved["data"], resume=False,
                                          num_eval_clips=num_clips or saved.get("num_eval_clips")))
        _, eval_set = build_datasets(tcfg)
        preflight(eval_set, "evaluate")
        out = check_writable_dir(out or default_eval_dir(checkpoint))
        classes = list(loaded.classes or eval_set.classes)
        check_classes(classes, eval_set.classes, f"the data {tcfg.data!r} against the checkpoint {checkpoint!r}")
        frontend = FrontEnd.from_config(ckpt["frontend"])
        metrics = evaluate_devices(loaded.model, loaded.device_models, frontend, eval_set, classes=classes,
                                   seen_devices=ckpt.get("train_devices"), batch_size=batch_size)
    result = dict(metrics, checkpoint=os.path.abspath(checkpoint), model=ckpt["model"],
                  model_kwargs=ckpt.get("model_kwargs", {}), devices=sorted(loaded.device_models, key=device_sort_key),
                  data=dict(source=tcfg.data, eval_clips=len(eval_set), train_devices=ckpt.get("train_devices")))
    atomic_write_json(result, os.path.join(out, "metrics.json"))
    if not quiet:
        print(summary_line(result) + f"; wrote {out}/metrics.json", flush=True)
    return result


def summary_line(result: Dict[str, Any]) -> str:
    """One line: general vs device-specific accuracy, overall and on known and unknown devices."""
    gain = result["gain"]
    return (f"accuracy general {pct(result['general']['accuracy'])} -> device-specific {pct(result['accuracy'])}; "
            f"known devices "
            f"{_points(gain['known'])}, unknown devices {_points(gain['unknown'])} (points)")


def _points(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"
