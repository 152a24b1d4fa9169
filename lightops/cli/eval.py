"""``lightops eval``: evaluate a training checkpoint, or an ensemble of them, on the evaluate split."""
import argparse
import os
import tempfile
from typing import Any, Dict, Optional

import torch

from lightops.checkpoint import read_checkpoint, save_checkpoint
from lightops.deploy.submission import state_at_dtype
from lightops.fileio import atomic_write_json
from lightops.train import TrainConfig, evaluate_checkpoint
from lightops.train.evaluation import default_eval_dir
from lightops.train.finetune import evaluate_finetuned

from ._args import add_config_arguments, check_out_folder, removed_if_empty_on_failure, subcommand
from .train import USER_ERRORS

__all__ = ["add_arguments", "check_eval_args", "add_parser", "main"]


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops eval`` options to ``p``: its own, and ``data``, ``workers``, ``device``, ``threads`` and
    ``quiet`` as :class:`~lightops.train.TrainConfig` defines them (the evaluate split of ``--data`` is used)."""
    p.add_argument("checkpoint", nargs="+",
                   help="a last.pt written by lightops train, or by lightops finetune --per-device (then each clip "
                        "goes through its device's model, others through the general one, and both evaluations are "
                        "reported); several last.pt files of lightops train: their ensemble (mean logits, as --teacher "
                        "A B C teaches), which needs --out")
    p.add_argument("--out", default=None, help="output folder (default: eval/ next to the checkpoint)")
    p.add_argument("--batch-size", type=int, default=64, help="clips per batch (default 64)")
    p.add_argument("--num-clips", type=int, default=None, help="synthetic evaluation clips (default: as trained)")
    p.add_argument("--dtype", choices=["fp32", "fp16"], default="fp32",
                   help="fp16: evaluate the weights rounded to half precision (as lightops package --dtype fp16 and "
                        "export --dtype fp16 store them; float32 compute) beside the float32 ones, and report the "
                        "accuracy change")
    return add_config_arguments(p, TrainConfig, ("data", "workers", "device", "threads", "quiet"))


def _evaluate(ns: argparse.Namespace, checkpoint: Any, out: Optional[str], quiet: bool) -> Dict[str, Any]:
    """``checkpoint``: one path, or a list of several (an ensemble; evaluate_checkpoint checks its members)."""
    # lightops finetune --per-device: both evaluations
    if isinstance(checkpoint, str) and read_checkpoint(checkpoint).get("device_models"):
        return evaluate_finetuned(checkpoint, ns.data, out, batch_size=ns.batch_size, num_clips=ns.num_clips,
                                  quiet=quiet)
    return evaluate_checkpoint(checkpoint, ns.data, out, batch_size=ns.batch_size, workers=ns.workers,
                               num_clips=ns.num_clips, device=ns.device, quiet=quiet)


def _evaluate_fp16(ns: argparse.Namespace) -> Dict[str, Any]:
    """The float32 evaluation and that of the weights rounded to float16; OUT's metrics.json is the fp16 one, with
    the float32 accuracy and the change."""
    ckpt = read_checkpoint(ns.checkpoint)
    ckpt["state_dict"] = state_at_dtype(state_at_dtype(ckpt["state_dict"], "fp16"), "fp32")
    if ckpt.get("device_models"):
        ckpt["device_models"] = {d: state_at_dtype(state_at_dtype(v, "fp16"), "fp32")
                                 for d, v in ckpt["device_models"].items()}
    out = ns.out or default_eval_dir(ns.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = _evaluate(ns, ns.checkpoint, os.path.join(tmp, "fp32"), True)
        save_checkpoint(ckpt, os.path.join(tmp, "fp16.pt"))
        fp16 = _evaluate(ns, os.path.join(tmp, "fp16.pt"), out, True)
    change = 100 * (fp16["accuracy"] - fp32["accuracy"])
    fp16 = dict(fp16, checkpoint=os.path.abspath(ns.checkpoint), dtype="fp16", accuracy_fp32=fp32["accuracy"],
                accuracy_change_points=change)
    atomic_write_json(fp16, os.path.join(out, "metrics.json"))
    if not ns.quiet:
        print(f"accuracy fp32 {fp32['accuracy']:.2%} -> fp16 weights {fp16['accuracy']:.2%} ({change:+.2f} points); "
              f"wrote {out}/metrics.json")
    return fp16


def check_eval_args(ns: argparse.Namespace) -> None:
    """Refuse, before any work, a ``--num-clips`` or ``--batch-size`` below 1 and an ``--out`` that is the folder of a
    checkpoint evaluated (the run's ``metrics.json``, its training history, would be replaced)."""
    for option, value in (("--num-clips", ns.num_clips), ("--batch-size", ns.batch_size)):
        if value is not None and value < 1:
            raise ValueError(f"{option} must be at least 1, got {value}")
    if ns.out:
        for path in ns.checkpoint:
            if os.path.isfile(path) and os.path.realpath(os.path.dirname(os.path.abspath(path))) == os.path.realpath(
                    ns.out):
                raise ValueError(f"--out {ns.out} is the folder of the checkpoint {path}: its metrics.json would be "
                                 f"replaced; give another folder (default: eval/ next to the checkpoint)")


def _out_folder(ns: argparse.Namespace) -> Optional[str]:
    """The folder the evaluation writes: ``--out``, else ``eval/`` next to the one checkpoint (None for an ensemble
    without ``--out``, which is refused)."""
    if ns.out or len(ns.checkpoint) > 1:
        return ns.out
    return default_eval_dir(ns.checkpoint[0])


def _run(ns: argparse.Namespace) -> int:
    try:
        check_eval_args(ns)
        check_out_folder(ns.out)
        if ns.threads:
            torch.set_num_threads(ns.threads)
        with removed_if_empty_on_failure(_out_folder(ns)):
            # one path, or the list of an ensemble's
            ns.checkpoint = ns.checkpoint[0] if len(ns.checkpoint) == 1 else ns.checkpoint
            if ns.dtype == "fp16":
                if isinstance(ns.checkpoint, list):
                    raise ValueError("--dtype fp16 evaluates one checkpoint, not an ensemble")
                _evaluate_fp16(ns)
            else:
                _evaluate(ns, ns.checkpoint, ns.out, ns.quiet)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops eval: {e}") from e
    return 0


add_parser, main = subcommand("eval", "evaluate a training checkpoint on the evaluate split",
                               "Evaluate a training checkpoint.", add_arguments, _run)
