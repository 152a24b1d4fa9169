"""``lightops finetune --per-device``: one fine-tuned copy of a trained model per training device (DCASE 2025).

The options are generated from the fields of :class:`~lightops.train.finetune.FinetuneConfig`.
"""
import argparse
import dataclasses

from lightops.train.finetune import FinetuneConfig, finetune

from ._args import add_config_arguments, given_options, subcommand
from .train import USER_ERRORS

__all__ = ["add_arguments", "add_parser", "main"]

_OWN = ("checkpoint", "out")


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops finetune`` options to ``p``: the checkpoint, ``--per-device``, ``--out`` and one option
    per other :class:`~lightops.train.finetune.FinetuneConfig` field."""
    p.add_argument("checkpoint", help="the general model: a last.pt from lightops train")
    p.add_argument("--per-device", action="store_true", required=True,
                   help="fine-tune one copy per training device (the only mode; required, so that the command "
                        "says what it does)")
    p.add_argument("--out", required=True, help="output folder (last.pt with the device models, finetune.json, "
                                                "metrics.json)")
    names = [f.name for f in dataclasses.fields(FinetuneConfig) if f.name not in _OWN]
    return add_config_arguments(p, FinetuneConfig, names)


def _run(ns: argparse.Namespace) -> int:
    try:
        names = [f.name for f in dataclasses.fields(FinetuneConfig) if f.name not in _OWN]
        cfg = FinetuneConfig(checkpoint=ns.checkpoint, out=ns.out, **given_options(ns, FinetuneConfig, names))
        result = finetune(cfg)
    except USER_ERRORS as e:
        raise SystemExit(f"lightops finetune: {e}") from e
    return 0 if result.get("complete") or cfg.stop_after else 1


add_parser, main = subcommand("finetune", "fine-tune one copy of a trained model per training device (DCASE 2025)",
                              "Fine-tune device-specific models.", add_arguments, _run)
