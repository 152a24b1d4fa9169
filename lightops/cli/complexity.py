"""``lightops complexity``: a model or checkpoint counted as the DCASE Task 1 organisers count it, per device model."""
import argparse
import os
from typing import Any, Dict, List, Tuple

import torch.nn as nn

from lightops.checkpoint import LoadedModel, resolve_model
from lightops.fileio import atomic_write_json, check_output_path, same_file
from lightops.profiling.dcase import DTYPES, RULES, dcase_report

from ._args import parse_size, subcommand

__all__ = ["add_arguments", "add_parser", "main", "submission_models", "report_lines"]

_INT8_NOTE = ("int8: 1 byte per parameter counted, as the organisers' table counts int8 parameters; this is a count "
              "of the stated dtype, not of an int8 PyTorch model")


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops complexity`` options to ``p``."""
    p.add_argument("model", help="a model name (random weights), a last.pt from lightops train, or a finetune "
                                 "checkpoint (every device model is counted)")
    p.add_argument("--dtype", choices=DTYPES, default=None,
                   help="count a copy cast to this dtype (fp16: .half(); int8: 1 byte per parameter, a count of the "
                        "stated dtype); default: the dtype the parameters hold")
    p.add_argument("--rules", choices=sorted(RULES), default="dcase2025",
                   help="dcase2025: 30M MACs and 128,000 B of parameters per device model; dcase2024: 30M MACs and "
                        "128,000 parameters (default dcase2025)")
    p.add_argument("--input", type=parse_size, default=None, metavar="C,F,T",
                   help="model input (default: the checkpoint's input_size, else the model's)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the counts and verdicts as JSON")
    p.add_argument("--trust-checkpoint", action="store_true", help="allow full unpickling of a checkpoint")
    return p


def submission_models(loaded: LoadedModel) -> Dict[str, nn.Module]:
    """``{"general": model, device: model, ...}``: the models a submission runs (device models of a finetune
    checkpoint, in device order)."""
    return {"general": loaded.model, **dict(sorted(loaded.device_models.items()))}


def report_lines(report: Dict[str, Any]) -> List[str]:
    """The text of a :func:`~lightops.profiling.dcase.dcase_report`: one line per model and the verdict."""
    held = (f"at {report['dtype']}" if report["dtype"] in DTYPES else "by the dtype each parameter holds")
    lines = [f"{report['source']}: {report['rules']} counting (torchinfo MACs on a float32 copy at "
             f"(1, {', '.join(map(str, report['input_size']))}); parameter bytes {held})"]
    for name, r in report["models"].items():
        limit = (f"{r['param_bytes']:,} / {r['max_param_bytes']:,} B at {r['dtype']}" if r["max_param_bytes"]
                 else f"{r['params']:,} / {r['max_params']:,} params")
        lines.append(f"  {name:<8} {r['macs']:>12,} / {r['max_macs']:,} MACs  {r['params']:>9,} params  {limit}  "
                     f"{'passes' if r['ok'] else 'FAILS'}")
    if report["dtype"] == "int8":
        lines.append(f"  note: {_INT8_NOTE}")
    n = len(report["models"])
    lines.append(f"{'PASSES' if report['ok'] else 'FAILS'} {report['rules']}: "
                 f"{sum(r['ok'] for r in report['models'].values())} of {n} model(s) within the limits")
    return lines


def _check_json(path: str, model: str) -> None:
    """Refuse a ``--json`` path whose folder is missing, that is a folder, or that is the input checkpoint."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"--json {path} is a folder: give a file name such as "
                                f"{os.path.join(path, 'complexity.json')}")
    check_output_path(path)
    if os.path.isfile(model) and os.path.exists(path) and same_file(path, model):
        raise ValueError(f"--json {path} is the checkpoint {model} being counted: give another file name")


def _count(loaded: LoadedModel, size: Tuple[int, ...], args: argparse.Namespace) -> Dict[str, Any]:
    """The report at ``size``; a forward pass that fails there is reported as a bad input size, not torchinfo's."""
    try:
        return dcase_report(submission_models(loaded), size, args.dtype, args.rules, source=args.model)
    except RuntimeError as e:
        cause = e.__cause__ or e
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise ValueError(f"input size (C,F,T) = {','.join(map(str, size))} does not fit the model: {reason}") \
            from None


def _run(args: argparse.Namespace) -> int:
    try:
        if args.json:
            _check_json(args.json, args.model)
        loaded = resolve_model(args.model, trusted=args.trust_checkpoint)
        cfg = getattr(loaded.model, "pretrained_cfg", None) or {}
        size = tuple(args.input or loaded.input_size or cfg.get("input_size") or loaded.default_input_size())
        report = _count(loaded, size, args)
    except (ValueError, TypeError, OSError) as e:
        raise SystemExit(f"lightops complexity: {e}") from None
    if args.dtype == "int8":
        report["note"] = _INT8_NOTE
    print("\n".join(report_lines(report)))
    if args.json:
        atomic_write_json(report, args.json)
    return 0 if report["ok"] else 1


add_parser, main = subcommand("complexity", "MACs and parameter memory as the DCASE organisers count them, per "
                                            "device model, with the verdict",
                              "Count a model's complexity by the DCASE Task 1 rules.", add_arguments, _run)

