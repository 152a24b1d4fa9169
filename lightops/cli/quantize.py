"""``lightops quantize``: an int8 checkpoint from a trained one with torchao's PT2E flow (PTQ, and QAT on request).

``lightops quantize RUN/last.pt --data synthetic --out DIR`` calibrates on training clips and writes
``DIR/ptq.pt``; with ``--qat-epochs N`` it also fine-tunes with fake quantization (batch-norm statistics frozen for
the last epoch, observers disabled at the end) and writes ``DIR/qat.pt``. Both are checkpoints ``lightops eval``,
``predict``, ``complexity`` and ``export --format executorch`` accept. The accuracies of fp32, PTQ and QAT on the
evaluate split are printed in one table and written to ``DIR/quantize.json``. The options are generated from
:class:`QuantizeConfig`.

QAT is resumable like ``lightops train``: after every epoch ``DIR/qat_state.pt`` is written atomically
(:func:`lightops.deploy.pt2e.quantize_qat`); ``--stop-after K`` stops after ``K`` epochs of this call, and running
the command again with the same options continues from the state (other options are refused, naming the difference).

``--form memory`` (default) quantizes the model's own weights (SPC partial, depthwise pairs and ECA as trained): the
int8 parameter memory DCASE counts; ``--form speed`` the full-width deployment form (more parameters). Both lower to
one XNNPACK delegate (docs/deploy.md).
"""
import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Subset

from lightops.audio import FrontEnd
from lightops.checkpoint import load_model, read_checkpoint, save_checkpoint
from lightops.fileio import atomic_write_json, check_writable_dir
from lightops.train import TrainConfig
from lightops.train.config import option
from lightops.train.data import build_datasets, preflight
from lightops.train.evaluation import evaluate

from ._args import add_config_arguments, check_out_folder, given_options, removed_if_empty_on_failure, subcommand
from .train import USER_ERRORS

__all__ = ["QuantizeConfig", "qat_lr", "quantize_checkpoint", "add_arguments", "add_parser", "main"]

_DROPPED = ("optimizer", "scheduler", "scaler", "rng", "rng_per_rank", "device_models")  # not for an int8 file
# Options that may differ between a QAT run and its resumption: they change where and how much, not what is computed
_RESUME_FREE = ("out", "stop_after", "quiet")


@dataclass
class QuantizeConfig:
    """Options of ``lightops quantize`` (one field per command-line option)."""

    checkpoint: str = option("", "a last.pt from lightops train")
    out: str = option("", "output folder: ptq.pt, qat.pt (with --qat-epochs), quantize.json")
    data: Optional[str] = option(None, "'synthetic' or a TAU 2020 Mobile folder (default: the checkpoint's)")
    backend: str = option("xnnpack", "quantizer: xnnpack (int8 per-channel weights, ExecuTorch) or x86",
                          choices=("xnnpack", "x86"))
    form: str = option("memory", "model quantized: memory (the model's own weights, SPC partial: DCASE's parameter "
                                 "memory) or speed (SPC at full width, merged kernels: more parameters)",
                       choices=("memory", "speed"))
    calibration_clips: int = option(128, "training clips observed for post-training quantization")
    qat_epochs: int = option(0, "epochs of quantization-aware fine-tuning (0: PTQ only)")
    stop_after: Optional[int] = option(None, "fine-tune at most this many QAT epochs in this call, then stop (run "
                                             "again with the same options to resume)")
    qat_observer: str = option("histogram", "what sets QAT's activation ranges: histogram (as PTQ) or minmax (the "
                                            "backend's QAT configuration: moving-average min/max)",
                               choices=("histogram", "minmax"))
    lr: Optional[float] = option(None, "QAT learning rate (Adam; default: the rate the training ended at, its "
                                       "--min-lr)")
    batch_size: int = option(16, "clips per batch")
    num_clips: Optional[int] = option(None, "synthetic evaluation clips (default: as trained)")
    seed: int = option(0, "seed of the QAT data order")
    quiet: bool = option(False, "no per-epoch lines")


def _datasets(cfg: QuantizeConfig, ckpt: Dict[str, Any]) -> Tuple[Any, Any]:
    saved = ckpt.get("args") or {}
    if not saved:
        raise ValueError(f"{cfg.checkpoint} holds no training options ('args'): quantize a checkpoint written by "
                         f"lightops train")
    args = TrainConfig.from_dict(dict(saved, data=cfg.data or saved.get("data"), resume=False,
                                      num_eval_clips=cfg.num_clips or saved.get("num_eval_clips")))
    train_set, eval_set = build_datasets(args)
    preflight(train_set, "train")
    preflight(eval_set, "evaluate")
    return train_set, eval_set


def _batches(dataset: Any, frontend: FrontEnd, batch_size: int, *, limit: Optional[int] = None,
             seed: Optional[int] = None) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """Normalised log-mel batches ``(B, C, F, T)`` and labels of ``dataset`` (its first ``limit`` clips, or all
    shuffled with ``seed``)."""
    subset = Subset(dataset, range(min(limit, len(dataset)))) if limit else dataset
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    loader = DataLoader(subset, batch_size=batch_size, shuffle=gen is not None, generator=gen)
    for wave, label, _ in loader:
        with torch.no_grad():  # not around the yield: the caller may train
            x = frontend(wave)
        yield x, label


def qat_lr(cfg: QuantizeConfig, ckpt: Dict[str, Any]) -> float:
    """QAT's learning rate: ``--lr``, else the rate the checkpoint's training ended at (its ``min_lr``, the end of the
    cosine), so that fine-tuning continues the schedule instead of restarting it. On the 15-epoch synthetic runs of
    docs/deploy.md (``python -m benchmarks.compare_int8``, 3 seeds), 2 QAT epochs at 1e-4 moved dssdn_large by -2.2
    and +2.0 points on two seeds; at the end rate (1e-5) every seed of both models stayed within 1.5 points."""
    if cfg.lr is not None:
        return float(cfg.lr)
    return float((ckpt.get("args") or {}).get("min_lr") or TrainConfig.min_lr)


def _accuracy(model: torch.nn.Module, frontend: FrontEnd, eval_set: Any, ckpt: Dict[str, Any],
              batch: int) -> Dict[str, float]:
    """Accuracy on the evaluate split, and on its seen and unseen devices where the checkpoint names them."""
    with torch.no_grad():
        m = evaluate(model, frontend, eval_set, classes=list(ckpt.get("classes") or eval_set.classes),
                     seen_devices=ckpt.get("train_devices"), batch_size=batch)
    row = {"accuracy": float(m["accuracy"])}
    for part in ("seen", "unseen"):
        if (m.get(part) or {}).get("num_clips"):
            row[f"{part}_accuracy"] = float(m[part]["accuracy"])
    return row


def quantize_checkpoint(cfg: QuantizeConfig) -> Dict[str, Any]:
    """Quantize ``cfg.checkpoint`` (PTQ, and QAT when ``qat_epochs``), evaluate fp32 and int8, write the checkpoints
    and ``quantize.json``; returns its content. A run that fails removes the output folder it created while that is
    still empty.

    Raises:
        ValueError: an int8 checkpoint given, bad options (``out`` a file), or data that does not fit the
            checkpoint.
    """
    for flag, value, least in (("--calibration-clips", cfg.calibration_clips, 1), ("--batch-size", cfg.batch_size, 1),
                               ("--qat-epochs", cfg.qat_epochs, 0)):
        if value < least:
            raise ValueError(f"{flag} must be >= {least}, got {value}")
    if cfg.lr is not None and not cfg.lr > 0:
        raise ValueError(f"--lr must be > 0, got {cfg.lr}")
    if cfg.stop_after is not None and cfg.stop_after < 1:
        raise ValueError(f"--stop-after must be >= 1, got {cfg.stop_after}")
    check_out_folder(cfg.out)
    with removed_if_empty_on_failure(cfg.out):
        return _quantize(cfg)


def _quantize(cfg: QuantizeConfig) -> Dict[str, Any]:
    """:func:`quantize_checkpoint` after its option checks."""
    from lightops.deploy.pt2e import QAT_STATE_NAME, int8_param_bytes, quantize_ptq, quantize_qat

    ckpt = read_checkpoint(cfg.checkpoint)
    if ckpt.get("quantized"):
        raise ValueError(f"{cfg.checkpoint} is already an int8 checkpoint (lightops quantize); give the float one")
    out = check_writable_dir(cfg.out)
    loaded = load_model(ckpt)
    size = loaded.default_input_size()
    frontend = FrontEnd.from_config(ckpt["frontend"]).eval()
    train_set, eval_set = _datasets(cfg, ckpt)
    log = (lambda s: None) if cfg.quiet else (lambda s: print(s, file=sys.stderr))
    rows = {"fp32": _accuracy(loaded.model, frontend, eval_set, ckpt, cfg.batch_size)}
    models = {"ptq": quantize_ptq(loaded, (x for x, _ in _batches(train_set, frontend, cfg.batch_size,
                                                                   limit=cfg.calibration_clips)), size,
                                  backend=cfg.backend, form=cfg.form)}
    qat_done = None
    if cfg.qat_epochs:
        options = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RESUME_FREE}
        options["checkpoint"] = os.path.abspath(cfg.checkpoint)
        qat = quantize_qat(
            loaded, lambda e: _batches(train_set, frontend, cfg.batch_size, seed=cfg.seed + e), size,
            num_epochs=cfg.qat_epochs, lr=qat_lr(cfg, ckpt), backend=cfg.backend, form=cfg.form,
            qat_observer=cfg.qat_observer, log=log, state_path=os.path.join(out, QAT_STATE_NAME),
            stop_after=cfg.stop_after, options=options)
        if qat is None:
            qat_done = torch.load(os.path.join(out, QAT_STATE_NAME), map_location="cpu", weights_only=True)["epoch"]
            log(f"qat: stopped after epoch {qat_done}/{cfg.qat_epochs} (--stop-after); run again with the same "
                f"options to resume")
        else:
            models["qat"] = qat
    base = {k: v for k, v in ckpt.items() if k not in _DROPPED and k != "format_version"}
    for name, qmodel in models.items():
        path = os.path.join(out, f"{name}.pt")
        save_checkpoint({**base, "quantized": qmodel.to_checkpoint()}, path)
        param_bytes, params = int8_param_bytes(qmodel)
        rows[name] = {**_accuracy(qmodel, frontend, eval_set, ckpt, cfg.batch_size), "checkpoint": path,
                      "param_bytes": param_bytes, "params": params, **qmodel.info}
    for row in rows.values():
        row["change_points"] = 100 * (row["accuracy"] - rows["fp32"]["accuracy"])
        if "unseen_accuracy" in row and "unseen_accuracy" in rows["fp32"]:
            row["unseen_change_points"] = 100 * (row["unseen_accuracy"] - rows["fp32"]["unseen_accuracy"])
    result = {"checkpoint": os.path.abspath(cfg.checkpoint), "input_size": list(size), "eval_clips": len(eval_set),
              "results": rows, "complete": qat_done is None}
    if qat_done is not None:
        result["qat_epochs_done"] = int(qat_done)
    atomic_write_json(result, os.path.join(out, "quantize.json"))
    return result


def table(result: Dict[str, Any]) -> str:
    """The accuracy table of :func:`quantize_checkpoint`'s result."""
    lines = [f"{'model':<6} {'accuracy':>9} {'change':>8} {'seen':>8} {'unseen':>8} {'change':>8}  file", "-" * 64]

    def pct(row: Dict[str, Any], key: str) -> str:
        return f"{row[key]:>8.2%}" if key in row else f"{'-':>8}"

    for name, row in result["results"].items():
        unseen = f"{row['unseen_change_points']:>+7.2f}p" if "unseen_change_points" in row else f"{'-':>8}"
        lines.append(f"{name:<6} {row['accuracy']:>9.2%} {row['change_points']:>+7.2f}p {pct(row, 'seen_accuracy')} "
                     f"{pct(row, 'unseen_accuracy')} {unseen}  {row.get('checkpoint', '')}")
    return "\n".join(lines + [f"(evaluate split, {result['eval_clips']} clips)"])


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops quantize`` options to ``p`` (the checkpoint, then one option per :class:`QuantizeConfig`
    field)."""
    p.add_argument("checkpoint", help="a last.pt from lightops train")
    p.add_argument("--out", required=True, help="output folder: ptq.pt, qat.pt (with --qat-epochs), quantize.json")
    names = [f.name for f in dataclasses.fields(QuantizeConfig) if f.name not in ("checkpoint", "out")]
    return add_config_arguments(p, QuantizeConfig, names)


def _run(ns: argparse.Namespace) -> int:
    try:
        names = [f.name for f in dataclasses.fields(QuantizeConfig) if f.name not in ("checkpoint", "out")]
        cfg = QuantizeConfig(checkpoint=ns.checkpoint, out=ns.out, **given_options(ns, QuantizeConfig, names))
        result = quantize_checkpoint(cfg)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops quantize: {e}") from e
    except ImportError as e:
        raise SystemExit(f"lightops quantize: {e}") from e
    print(table(result))
    return 0


add_parser, main = subcommand("quantize", "int8 checkpoint with torchao's PT2E flow (PTQ, or QAT with --qat-epochs)",
                              "Quantize a trained model to int8 (PTQ and QAT).", add_arguments, _run)
