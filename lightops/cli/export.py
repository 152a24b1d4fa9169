"""``lightops export``: fuse a model and export it to ONNX (checked with onnxruntime) or to an ExecuTorch ``.pte``
with the XNNPACK delegate (checked with executorch.runtime; fp32, or int8 from ``lightops quantize``)."""
import argparse
import sys
from typing import Any, Dict, Optional, Sequence, Union

from lightops.checkpoint import resolve_model
from lightops.deploy.export import EXPORTERS, check_export_input, export_onnx
from lightops.deploy.fuse import SPC_FORMS
from lightops.validation import check_float

from ._args import parse_size

__all__ = ["add_arguments", "add_parser", "main", "resolve_format", "SUFFIXES"]

SUFFIXES = {"onnx": ".onnx", "executorch": ".pte"}
"""The file suffix of each export format: ``lightops predict`` and ``StreamingClassifier`` tell files by it."""


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``lightops export`` arguments to ``parser`` (a subcommand's parser)."""
    parser.add_argument("model", help="lightops model name (random weights) or checkpoint file "
                                      "({'model', 'model_kwargs', 'state_dict'})")
    parser.add_argument("--format", choices=list(SUFFIXES), default=None,
                        help="onnx, or executorch: a .pte with the XNNPACK delegate at a fixed input (batch 1, the "
                             "example's length) and its front end in OUT.json; fp32, or int8 from a lightops quantize "
                             "checkpoint (needs pip install 'lightops[edge]'). Default: from the suffix of --out "
                             "(.pte: executorch, else onnx); the suffix must match it")
    parser.add_argument("--out", required=True, help="output file, written atomically")
    parser.add_argument("--input", type=parse_size, default=None,
                        help="example log-mel input C,F,T (default: the checkpoint's, else 1,256,44); batch and T "
                             "are dynamic, F is fixed (a checkpoint's: its front end's n_mels)")
    parser.add_argument("--with-frontend", action="store_true",
                        help="include the log-mel front end: the graph takes a waveform (B, samples)")
    parser.add_argument("--static", action="store_true",
                        help="fix the time length to the example input's (batch stays dynamic): no shape arithmetic "
                             "in the graph, the fastest file for a fixed clip length")
    parser.add_argument("--opset", type=int, default=None,
                        help="ONNX opset (default: the exporter's); an exporter that cannot write it fails (the "
                             "dynamo exporter writes 18 and later; --exporter torchscript older ones; an int8 "
                             "checkpoint from lightops quantize exports with dynamo only: 18 and later)")
    parser.add_argument("--exporter", choices=EXPORTERS, default="auto",
                        help="torch.onnx exporter: dynamo, torchscript, or auto (dynamo, then torchscript)")
    parser.add_argument("--dtype", choices=["fp32", "fp16"], default="fp32",
                        help="fp16: weights stored in half precision (half the file), computed in float32 by "
                             "onnxruntime; checked against the float32 model within 1e-2")
    parser.add_argument("--spc", choices=SPC_FORMS, default="full",
                        help="SPC's inference form (lightops.deploy.fuse): full (full-width 1x1, the fastest measured "
                             "on CPU runtimes), grouped (a grouped 1x1) or partial (split, partial SC, concatenation); "
                             "the same logits (fp32 models)")
    parser.add_argument("--atol", type=float, default=1e-5, help="runtime vs PyTorch tolerance (1e-5)")
    parser.add_argument("--allow-portable", action="store_true",
                        help="executorch: write the program even when operators fall back to ExecuTorch's portable "
                             "kernels (refused by default: they are slow)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="allow full unpickling of a checkpoint holding more than tensors and numpy arrays")
    return parser


def resolve_format(fmt: Optional[str], out: str) -> str:
    """The export format: ``fmt``, or the one the suffix of ``out`` names (``.pte``: executorch, else onnx).

    Raises:
        ValueError: ``out`` does not end in the format's suffix (the file would not be recognised by
            ``lightops predict``).
    """
    fmt = fmt or ("executorch" if str(out).endswith(SUFFIXES["executorch"]) else "onnx")
    if not str(out).endswith(SUFFIXES[fmt]):
        name = {"onnx": "ONNX", "executorch": "ExecuTorch"}[fmt]
        raise ValueError(f"--out {out}: an {name} export must end in {SUFFIXES[fmt]} (lightops predict and "
                         f"StreamingClassifier tell exported files by their suffix)")
    return fmt


def main(args: Union[argparse.Namespace, Sequence[str], None] = None) -> int:
    """Run ``lightops export`` from parsed arguments (or an argv list); print the summary, return the exit code.

    Errors are printed as one line on stderr with exit code 2 (bad input) or 1 (export or check failed).
    """
    if not isinstance(args, argparse.Namespace):
        parser = add_arguments(argparse.ArgumentParser(prog="lightops export",
                                                              description="Export a fused model to ONNX."))
        args = parser.parse_args(args)
    try:
        args.format = resolve_format(args.format, args.out)
        check_float(args.atol, "--atol", minimum=0.0)
        if args.format == "executorch":
            result = _export_executorch(args)
        else:
            result = export_onnx(args.model, args.out, args.input, with_frontend=args.with_frontend, opset=args.opset,
                                 exporter=args.exporter, atol=args.atol, trusted=args.trust_checkpoint,
                                 static=args.static, dtype=args.dtype, fuse_kwargs=_fuse_kwargs(args))
    except (ValueError, OSError, TypeError) as e:
        print(f"lightops export: error: {e}", file=sys.stderr)
        return 2
    except (RuntimeError, ImportError) as e:
        print(f"lightops export: failed: {e}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def _export_executorch(args: argparse.Namespace) -> Any:
    if args.with_frontend or args.dtype != "fp32":
        raise ValueError("--format executorch takes the log-mel (its front end is in OUT.json) at the model's dtype "
                         "(int8 from lightops quantize): drop --with-frontend and --dtype")
    model = args.model
    if args.input is not None:
        model = resolve_model(args.model, trusted=args.trust_checkpoint)
        check_export_input(model, args.input, "export_executorch")
    from lightops.deploy.executorch import export_executorch

    return export_executorch(model, args.out, args.input, atol=args.atol, trusted=args.trust_checkpoint,
                             allow_portable=args.allow_portable, fuse_kwargs=_fuse_kwargs(args))


def _fuse_kwargs(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    """``fuse`` options beyond the exporter's defaults: SPC's form when not the default."""
    return None if args.spc == "full" else {"spc": args.spc}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``export`` to the subcommands."""
    p = add_arguments(sub.add_parser("export", help="fuse and export a model to ONNX or ExecuTorch (.pte), checked in "
                                                    "the runtime"))
    p.set_defaults(func=main)
    return p
