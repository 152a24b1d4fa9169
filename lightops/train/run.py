"""A training run from a :class:`~lightops.train.TrainConfig`: set-up, resume, epochs, checkpoints, results.

``train(cfg)`` writes ``OUT/last.pt`` after every epoch (every key of :data:`lightops.checkpoint.CHECKPOINT_KEYS`),
and ``OUT/metrics.json``, ``OUT/curves.png``, ``OUT/confusion.png`` when the run is complete. Only rank 0 writes.

Reproducibility: the model is initialised from ``seed``; the data order of epoch ``e`` comes from a generator
seeded by ``(seed, e)`` (:class:`~lightops.train.distributed.ShardedBatchSampler`); augmentations draw from
generators seeded by ``(seed, e, micro-batch slot)``; the global generators are saved in every checkpoint and
restored by ``resume``. On CPU a resumed run ends with weights bit-identical to an uninterrupted one. Called from
Python, the run leaves the caller's thread count and global generators as they were
(:func:`~lightops.train.isolation.isolated_state`).
"""
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import timm
import torch
import torch.nn as nn
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch.utils.data import DataLoader, Dataset

from .._factory import architecture_of, build_model, known_models
from ..audio import FilterAugment, FreqDSU, FreqMixStyle, FrontEnd, LogMel
from ..checkpoint import read_checkpoint, save_checkpoint
from ..data import DeviceImpulseResponses, TimeRoll
from ..fileio import atomic_write_json, check_writable_dir
from .adversary import DeviceAdversary
from .config import RESUME_FREE, TrainConfig
from .data import CachedDataset, IndexedDataset, build_datasets, frontend_settings, norm_stats, preflight
from .distributed import (
    DistEnv,
    ShardedBatchSampler,
    all_gather_objects,
    barrier,
    cleanup_distributed,
    derive_seed,
    init_distributed,
    params_digest,
    sync_buffers,
    wrap_ddp,
)
from .engine import Engine
from .evaluation import CONFUSION_NAME, METRICS_NAME, evaluate, pct
from .isolation import get_rng_state, isolated_state, set_rng_state
from .losses import build_losses
from .metrics import model_complexity
from .plots import plot_confusion_matrix, plot_training_curves
from .teacher import check_teachers, compute_teacher_logits, load_teacher_logits, save_teacher_logits, teacher_table

__all__ = ["train", "check_model_name", "CHECKPOINT_NAME", "METRICS_NAME", "CURVES_NAME", "CONFUSION_NAME"]

CHECKPOINT_NAME = "last.pt"
CURVES_NAME = "curves.png"
TEACHER_LOGITS_NAME = "teacher_logits.pt"


def check_model_name(name: str) -> None:
    """Raise ``ValueError`` listing the known models unless ``name`` is a lightops or timm model."""
    if not isinstance(name, str) or not (name in known_models() or timm.is_model(name)):
        raise ValueError(f"unknown model {name!r}; expected one of {known_models()} or a timm model name "
                         f"(timm.list_models())")


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
    check_model_name(cfg.model)
    with isolated_state(cfg.threads):
        env = init_distributed(cfg.device)
        try:
            return _Run(cfg, env).fit()
        finally:
            cleanup_distributed(env)


def _log(env: DistEnv, cfg: TrainConfig, text: str) -> None:
    if env.is_main and not cfg.quiet:
        print(text, flush=True)


def _notice(env: DistEnv, text: str) -> None:
    """A one-line notice on stderr (rank 0, even with ``quiet``): something the run does that the user did not ask
    for in so many words."""
    if env.is_main:
        print(f"note: {text}", file=sys.stderr, flush=True)


def _epoch_line(r: Dict[str, Any], epochs: int) -> str:
    line = (f"epoch {r['epoch']}/{epochs}  lr {r['lr']:.2e}  train loss {r['train_loss']:.3f} acc "
            f"{r['train_accuracy']:.1%}  {r['train_seconds']:.1f} s")
    if r["eval_accuracy"] is not None:
        line += (f"  | eval loss {r['eval_loss']:.3f} acc {r['eval_accuracy']:.1%} (seen "
                 f"{pct(r['eval_seen_accuracy'])}, unseen {pct(r['eval_unseen_accuracy'])})")
    return line


def check_out(cfg: TrainConfig) -> Tuple[str, str]:
    """Check OUT is writable and agrees with --resume / --overwrite; returns (out, checkpoint path)."""
    ckpt_path = os.path.join(cfg.out, CHECKPOINT_NAME)
    if cfg.resume and cfg.overwrite:
        raise ValueError("--resume and --overwrite exclude each other")
    if cfg.resume and not os.path.isfile(ckpt_path):  # before OUT is made: a failed resume creates no folder
        raise FileNotFoundError(f"--resume: no checkpoint to resume from at {ckpt_path}")
    if not cfg.resume and not cfg.overwrite and os.path.exists(ckpt_path):
        raise FileExistsError(f"{cfg.out} already holds a run ({CHECKPOINT_NAME}); pass --resume to continue it or "
                              f"--overwrite to start over")
    out = check_writable_dir(cfg.out)
    return out, os.path.join(out, CHECKPOINT_NAME)


def check_resume(cfg: TrainConfig, saved: Dict[str, Any], world_size: int, path: str) -> None:
    """Raise ``ValueError`` if ``cfg`` computes something else than the run saved in ``path``.

    An option the saved run does not record is older than the run's lightops, so the run was trained with its
    default (each new option's default keeps the training of before): it counts as that default.
    """
    defaults = TrainConfig().to_dict()
    old_value = {k: saved.get(k, defaults.get(k)) for k in cfg.to_dict()}
    diff = {k: (old_value[k], v) for k, v in cfg.to_dict().items() if k not in RESUME_FREE and old_value[k] != v}
    if diff:
        text = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in diff.items())
        raise ValueError(f"--resume: options differ from the run in {path} ({text}); pass the same options or "
                         f"start a new run in another --out")
    old = saved.get("_world_size", 1) * saved.get("accum_steps", 1)
    if old != world_size * cfg.accum_steps:
        raise ValueError(f"--resume: the run in {path} used {old} micro-batches per step (processes x accum_steps), "
                         f"this one {world_size} x {cfg.accum_steps}; keep the product to keep the global batch")


def waveform_augmentations(cfg: TrainConfig) -> List[Any]:
    """The waveform augmentations ``cfg`` asks for, in order: device impulse responses, then time rolling."""
    augment: List[Any] = []
    if cfg.dir:
        augment.append(DeviceImpulseResponses(cfg.dir, p=cfg.dir_p, sample_rate=cfg.sample_rate))
    if cfg.roll:
        augment.append(TimeRoll(max_shift=int(round(cfg.roll_seconds * cfg.sample_rate))))
    return augment


def model_kwargs_for(cfg: TrainConfig, num_classes: int) -> Dict[str, Any]:
    """The model's keyword arguments: ``cfg.model_kwargs`` with the data's class count (checked, not overridden)."""
    kwargs = dict(cfg.model_kwargs)
    if kwargs.get("num_classes", num_classes) != num_classes:
        raise ValueError(f"model_kwargs num_classes={kwargs['num_classes']} but the data has {num_classes} classes")
    kwargs["num_classes"] = num_classes
    return kwargs


@dataclass
class _Data:
    """The data side of a run."""

    train_set: Dataset
    eval_set: Dataset
    num_samples: int
    workers: int
    classes: List[str]
    train_devices: List[str]


class _Run:
    """One call of :func:`train`: each method one step of the run, in the order :meth:`fit` calls them."""

    def __init__(self, cfg: TrainConfig, env: DistEnv) -> None:
        self.cfg, self.env = cfg, env
        self.t_start = time.perf_counter()
        self.show = env.is_main and not cfg.quiet and sys.stderr.isatty()

    def load_data(self) -> _Data:
        """Datasets, checked by reading a first clip of each, optionally cached in memory."""
        cfg = self.cfg
        train_set, eval_set = build_datasets(cfg)
        num_samples = preflight(train_set, "train")
        preflight(eval_set, "evaluate")
        self.waveform_augment = waveform_augmentations(cfg)  # a bad IR folder fails here, before OUT is made
        self.teacher_file = self.check_teacher(list(train_set.classes))
        self.out, self.ckpt_path = check_out(cfg)
        if cfg.cache:
            train_set, eval_set = CachedDataset(train_set, cfg.workers), CachedDataset(eval_set, cfg.workers)
        return _Data(train_set, eval_set, num_samples, 0 if cfg.cache else cfg.workers, list(train_set.classes),
                     sorted(set(getattr(train_set, "devices", ()))))

    def check_teacher(self, classes: List[str]) -> Optional[Dict[str, Any]]:
        """Check the teachers (or read the stored teacher logits) against the data, before anything is written."""
        cfg = self.cfg
        if cfg.teacher:
            check_teachers(cfg.teacher, classes, frontend_settings(cfg))
        elif cfg.teacher_logits:
            return load_teacher_logits(cfg.teacher_logits, classes, frontend_settings(cfg))
        return None

    def teacher_probs(self, data: _Data) -> Optional[torch.Tensor]:
        """The teacher's softened probabilities ``(N, K)`` for the training clips, computed once and stored next to
        the run (reused by ``resume``), or read from ``cfg.teacher_logits``; None without a teacher."""
        cfg, env = self.cfg, self.env
        table = self.teacher_file
        if cfg.teacher:
            path = os.path.join(self.out, TEACHER_LOGITS_NAME)
            if env.is_main and not (cfg.resume and os.path.isfile(path)):
                _log(env, cfg, f"computing teacher logits of {len(cfg.teacher)} teacher(s) on "
                               f"{len(data.train_set)} clips (once, stored in {path})")
                save_teacher_logits(compute_teacher_logits(cfg.teacher, data.train_set, device=env.device,
                                                           progress=self.show), path)
            barrier(env)
            table = load_teacher_logits(path, data.classes, frontend_settings(cfg))
        if table is None:
            return None
        names = [data.train_set.name_of(i) for i in range(len(data.train_set))]
        return teacher_table(table, names, cfg.kd_temperature)

    def build_model(self, data: _Data) -> nn.Module:
        """The model, initialised from the seed on every rank, shape-checked on one input; its params and MACs."""
        cfg, env = self.cfg, self.env
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        random.seed(cfg.seed)
        self.model_kwargs = model_kwargs_for(cfg, len(data.classes))
        model = build_model(cfg.model, **self.model_kwargs).to(env.device)
        if cfg.sync_bn and env.distributed:
            if env.device.type != "cuda":
                raise ValueError("--sync-bn needs CUDA: torch's SyncBatchNorm does not run on CPU tensors")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # before the optimizer sees the parameters
        frames = LogMel(sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                        n_mels=cfg.n_mels).output_frames(data.num_samples)
        self.input_size = (1, cfg.n_mels, frames)
        model.eval()
        with torch.no_grad():  # shape check before anything is written; eval mode draws no random numbers
            try:
                model(torch.zeros((1, *self.input_size), device=env.device))
            except ValueError as e:  # the model names the shape; say which options made it
                raise ValueError(f"{e} (the input of a {cfg.clip_length:g}-s clip at {cfg.sample_rate} Hz: "
                                 f"{cfg.n_mels} mel bins x {frames} frames of hop {cfg.hop_length}; change "
                                 f"--clip-seconds, --hop-length or --n-mels)") from None
        self.params, self.macs = model_complexity(model, self.input_size)
        return model

    def build_frontend(self, data: _Data, saved: Optional[Dict[str, Any]]) -> FrontEnd:
        """The front end: normalisation from the training clips (or the resumed run's), SpecAugment settings."""
        cfg = self.cfg
        if saved is not None:
            mean, std = saved["frontend"]["mean"], saved["frontend"]["std"]
        else:
            mean, std = norm_stats(data.train_set, cfg, self.env)
        freq_mask = (cfg.n_mels // 8 if cfg.freq_mask is None else cfg.freq_mask) if cfg.specaug else 0
        time_mask = (self.input_size[2] // 8 if cfg.time_mask is None else cfg.time_mask) if cfg.specaug else 0
        steps: List[nn.Module] = [FreqMixStyle(cfg.freq_mixstyle, cfg.freq_mixstyle_alpha)] if cfg.freq_mixstyle > 0 \
            else []
        if cfg.freq_dsu > 0:
            steps.append(FreqDSU(cfg.freq_dsu, cfg.freq_dsu_factor))
        if cfg.filter_augment > 0:  # gains in dB; the log-mel is normalised by std dB, so 1 / std input units per dB
            steps.append(FilterAugment(cfg.filter_augment, (-cfg.filter_augment_db, cfg.filter_augment_db),
                                       db_scale=1.0 / std))
        return FrontEnd(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, mean, std, freq_mask,
                        time_mask, steps=steps).to(self.env.device)

    def build_engine(self, model: nn.Module, frontend: FrontEnd, sampler: ShardedBatchSampler,
                     num_classes: int, teacher: Optional[torch.Tensor] = None,
                     train_devices: Sequence[str] = ()) -> Engine:
        """Optimizer, per-update schedule, loss components, and the engine that steps them."""
        cfg, env = self.cfg, self.env
        # the moving average copies the model before the adversary hooks into it
        ema = ModelEmaV3(model, decay=cfg.model_ema, use_warmup=True) if cfg.model_ema > 0 else None
        adversary = None
        if cfg.device_adversarial > 0:
            adversary = DeviceAdversary(model, train_devices, cfg.device_adversarial,
                                        torch.zeros((2, *self.input_size), device=env.device))
        optimizer = create_optimizer_v2(model, opt=cfg.opt, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if adversary is not None:  # its own group after the model's, before the scheduler reads the groups
            optimizer.add_param_group(dict(params=list(adversary.parameters()), weight_decay=0.0))
        warmup = min(cfg.warmup_epochs, cfg.epochs - 1)
        scheduler, _ = create_scheduler_v2(optimizer, sched=cfg.sched, num_epochs=cfg.epochs, warmup_epochs=warmup,
                                           warmup_lr=cfg.warmup_lr, min_lr=cfg.min_lr, step_on_epochs=False,
                                           updates_per_epoch=sampler.steps_per_epoch)
        use_scaler = cfg.amp and env.device.type == "cuda"
        losses = build_losses(model, mixup=cfg.mixup_alpha > 0, label_smoothing=cfg.label_smoothing,
                              ortho_alpha=cfg.ortho_alpha,
                              kd_temperature=cfg.kd_temperature if teacher is not None else None,
                              kd_weight=cfg.kd_weight)
        return Engine(model=wrap_ddp(model, env), raw_model=model, frontend=frontend, optimizer=optimizer,
                      scheduler=scheduler, losses=losses, env=env, num_classes=num_classes,
                      accum_steps=cfg.accum_steps, seed=cfg.seed, mixup_alpha=cfg.mixup_alpha,
                      label_smoothing=cfg.label_smoothing, amp=cfg.amp,
                      scaler=torch.amp.GradScaler("cuda", enabled=True) if use_scaler else None,
                      waveform_augment=self.waveform_augment,
                      teacher=(lambda index: teacher[index]) if teacher is not None else None,
                      ema=ema, adversary=adversary, total_steps=cfg.epochs * sampler.steps_per_epoch)

    def restore(self, engine: Engine, saved: Dict[str, Any]) -> Tuple[int, List[Dict[str, Any]]]:
        """Weights, optimizer, schedule, scaler and generator states of the resumed run; its epoch and history."""
        cfg = self.cfg
        engine.raw_model.load_state_dict(saved.get("train_state_dict") or saved["state_dict"])
        if engine.ema is not None:  # the average is the checkpoint's model; the trained weights are beside it
            engine.ema.module.load_state_dict(saved["state_dict"])
        if engine.adversary is not None:
            engine.adversary.load_state_dict(saved["device_adversary"])
        engine.optimizer.load_state_dict(saved["optimizer"])
        if saved["args"]["epochs"] == cfg.epochs:
            engine.scheduler.load_state_dict(saved["scheduler"])
        else:
            _notice(self.env, f"--resume with epochs={cfg.epochs} instead of {saved['args']['epochs']}: the "
                              f"learning-rate schedule is rebuilt for {cfg.epochs} epochs")
        if engine.scaler is not None and saved.get("scaler"):
            engine.scaler.load_state_dict(saved["scaler"])
        per_rank = saved.get("rng_per_rank") or [saved["rng"]]
        set_rng_state(per_rank[self.env.rank] if len(per_rank) == self.env.world_size else saved["rng"])
        return int(saved["epoch"]), list(saved.get("history", []))

    def clear_old_results(self) -> None:
        """Results of an earlier run in OUT no longer describe it."""
        if self.env.is_main:
            for name in ((METRICS_NAME, CURVES_NAME, CONFUSION_NAME) + (() if self.cfg.resume else (CHECKPOINT_NAME,))):
                if os.path.exists(os.path.join(self.out, name)):
                    os.remove(os.path.join(self.out, name))

    def save(self, engine: Engine, epoch: int, data: _Data, sampler: ShardedBatchSampler,
             history: List[Dict[str, Any]]) -> None:
        """The checkpoint of epoch ``epoch`` (every rank's generator states; rank 0 writes)."""
        cfg = self.cfg
        rng_per_rank = all_gather_objects(get_rng_state(), self.env)
        if not self.env.is_main:
            return
        next_order = torch.Generator().manual_seed(derive_seed(cfg.seed, epoch + 1))
        ckpt = dict(
            model=cfg.model, model_kwargs=self.model_kwargs, architecture=architecture_of(engine.raw_model),
            state_dict=engine.raw_model.state_dict(),
            optimizer=engine.optimizer.state_dict(), scheduler=engine.scheduler.state_dict(),
            scaler=engine.scaler.state_dict() if engine.scaler is not None else None, epoch=epoch + 1,
            global_step=(epoch + 1) * sampler.steps_per_epoch,
            rng=dict(rng_per_rank[0], data_order=dict(seed=cfg.seed, epoch=epoch + 1, state=next_order.get_state())),
            rng_per_rank=rng_per_rank, args=cfg.to_dict(), classes=data.classes, frontend=engine.frontend.config(),
            history=history, train_devices=data.train_devices, world_size=self.env.world_size,
            global_batch_size=sampler.global_batch_size, input_size=list(self.input_size), clip_seconds=cfg.clip_length,
            versions=dict(torch=torch.__version__, timm=timm.__version__))
        if engine.ema is not None:  # the model is the weights' average; the trained weights are kept for --resume
            ckpt.update(state_dict=engine.ema.module.state_dict(), train_state_dict=ckpt["state_dict"])
        if engine.adversary is not None:
            ckpt.update(device_adversary=engine.adversary.state_dict())
        save_checkpoint(ckpt, self.ckpt_path)

    def fit(self) -> Dict[str, Any]:
        """The whole run; see :func:`train`."""
        cfg, env = self.cfg, self.env
        data = self.load_data()
        saved = read_checkpoint(self.ckpt_path) if cfg.resume else None
        if saved is not None:
            check_resume(cfg, dict(saved["args"], _world_size=saved.get("world_size", 1)), env.world_size,
                         self.ckpt_path)
        model = self.build_model(data)
        frontend = self.build_frontend(data, saved)
        sampler = ShardedBatchSampler(len(data.train_set), cfg.batch_size, world_size=env.world_size,
                                      rank=env.rank, accum_steps=cfg.accum_steps, shuffle=True, seed=cfg.seed)
        teacher = self.teacher_probs(data)
        engine = self.build_engine(model, frontend, sampler, len(data.classes), teacher, data.train_devices)
        start_epoch, history = self.restore(engine, saved) if saved is not None else (0, [])
        del saved
        self.clear_old_results()
        loader_gen = torch.Generator()
        train_items = IndexedDataset(data.train_set) if teacher is not None else data.train_set
        loader = DataLoader(train_items, batch_sampler=sampler, num_workers=data.workers, generator=loader_gen)
        _log(env, cfg, f"train {cfg.model} ({self.params:,} params, {self.macs / 1e6:.1f} MMACs on "
                       f"{self.input_size}) on {len(data.train_set)} clips of {len(data.classes)} classes, evaluate on "
                       f"{len(data.eval_set)}; "
                       f"{env.world_size} process(es) x {cfg.accum_steps} micro-batch(es) x {cfg.batch_size} = "
                       f"global batch {sampler.global_batch_size}, {sampler.steps_per_epoch} steps/epoch on "
                       f"{env.device}")
        last_eval: Optional[Dict[str, Any]] = None
        end_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start_epoch + cfg.stop_after)
        for epoch in range(start_epoch, end_epoch):
            sampler.set_epoch(epoch)
            loader_gen.manual_seed(derive_seed(cfg.seed, epoch, env.rank, 1))
            record = engine.epoch(loader, epoch, sampler.steps_per_epoch, progress=self.show,
                                  desc=f"epoch {epoch + 1}/{cfg.epochs}")
            sync_buffers(model, env)  # evaluate and save rank 0's BatchNorm statistics
            if engine.ema is not None:
                sync_buffers(engine.ema.module, env)
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                last_eval = self.evaluate(engine, data, record)
            history.append(record)
            _log(env, cfg, _epoch_line(record, cfg.epochs))
            self.save(engine, epoch, data, sampler, history)
        if engine.adversary is not None:
            engine.adversary.close()
        return self.finish(engine, data, sampler, history, start_epoch, end_epoch, last_eval)

    def evaluate(self, engine: Engine, data: _Data, record: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Evaluate on the evaluate split; fill ``record``'s evaluation fields when given."""
        cfg = self.cfg
        t1 = time.perf_counter()
        result = evaluate(engine.eval_model, engine.frontend, data.eval_set, classes=data.classes,
                          seen_devices=data.train_devices, env=self.env,
                          batch_size=cfg.eval_batch_size or 2 * cfg.batch_size, workers=data.workers, amp=cfg.amp,
                          progress=self.show)
        if record is not None:
            record.update(eval_loss=result["log_loss"], eval_accuracy=result["accuracy"],
                          eval_seen_accuracy=result["seen"]["accuracy"],
                          eval_unseen_accuracy=result["unseen"]["accuracy"], eval_seconds=time.perf_counter() - t1)
        return result

    def finish(self, engine: Engine, data: _Data, sampler: ShardedBatchSampler, history: List[Dict[str, Any]],
               start_epoch: int, end_epoch: int, last_eval: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """The result dict; ``metrics.json`` and the figures when the run is complete."""
        cfg, env = self.cfg, self.env
        digests = all_gather_objects(params_digest(engine.raw_model), env)
        if len(set(digests)) != 1:
            _notice(self.env, f"the DDP replicas hold different weights at the end of training (parameter digests "
                              f"{digests}); metrics.json records replicas_identical false")
        epochs_done = end_epoch if history else start_epoch
        if epochs_done < cfg.epochs:
            return dict(complete=False, epochs_done=epochs_done, epochs=cfg.epochs, history=history,
                        replicas_identical=len(set(digests)) == 1, params_sha256=digests[0])
        if last_eval is None:  # resumed a finished run: evaluate the final weights again
            last_eval = self.evaluate(engine, data)
        train_secs = [h["train_seconds"] for h in history]
        result = dict(
            complete=True, model=cfg.model, model_kwargs=self.model_kwargs, params=self.params, macs=self.macs,
            input_size=list(self.input_size), classes=data.classes, epochs=cfg.epochs, **last_eval,
            data=dict(source=cfg.data, train_clips=len(data.train_set), eval_clips=len(data.eval_set),
                      clip_seconds=cfg.clip_length,
                      sample_rate=cfg.sample_rate, train_devices=data.train_devices),
            world_size=env.world_size, replicas_identical=len(set(digests)) == 1, params_sha256=digests[0],
            accum_steps=cfg.accum_steps, batch_size=cfg.batch_size, global_batch_size=sampler.global_batch_size,
            steps_per_epoch=sampler.steps_per_epoch, train_seconds_per_epoch=train_secs,
            mean_train_seconds_per_epoch=float(np.mean(train_secs)), wall_seconds=time.perf_counter() - self.t_start,
            history=history, frontend=engine.frontend.config(), args=cfg.to_dict(), device=str(env.device))
        if env.is_main:
            self.write_results(result, data)
        return result

    def write_results(self, result: Dict[str, Any], data: _Data) -> None:
        """``metrics.json``, the curves and the confusion matrix (rank 0)."""
        cfg, out = self.cfg, self.out
        atomic_write_json(result, os.path.join(out, METRICS_NAME))
        title = f"{cfg.model} on {'synthetic scenes' if cfg.synthetic else 'TAU 2020 Mobile'}"
        plot_training_curves(result["history"], os.path.join(out, CURVES_NAME), title=title)
        plot_confusion_matrix(result["confusion_matrix"], data.classes, os.path.join(out, CONFUSION_NAME),
                              title=f"{title}: accuracy {result['accuracy']:.1%}")
        _log(self.env, cfg, f"done: accuracy {result['accuracy']:.1%} (seen {pct(result['seen']['accuracy'])}, "
                            f"unseen {pct(result['unseen']['accuracy'])}), log loss {result['log_loss']:.3f}; wrote "
                            f"{out}/{{{CHECKPOINT_NAME}, {METRICS_NAME}, {CURVES_NAME}, {CONFUSION_NAME}}}")
