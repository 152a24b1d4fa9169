"""What the int8 program of a model stores and how ExecuTorch runs it, for each float form PT2E quantizes.

For each ``--forms`` entry (:data:`lightops.deploy.pt2e.FORMS`): PTQ with random calibration (parameter memory needs no
training), the values and bytes the program stores (``QuantizedModel.int8_param_bytes``: int8 values at 1 byte, float
ones at 4; scales and zero points not counted), and the operators XNNPACK's delegate takes when the program is
lowered to ExecuTorch. Writes the table to the docs block ``int8-forms`` (docs/deploy.md). ::

    python -m benchmarks.int8_forms                       # dssdn_small at its pretrained input size
    python -m benchmarks.int8_forms --model dssdn_tiny --no-docs
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import torch

from benchmarks.docs.blocks import add_block_arguments, publish

__all__ = ["rows", "markdown", "main"]

ROOT = Path(__file__).resolve().parents[1]


def rows(name: str, forms: Sequence[str]) -> List[dict]:
    """One dict per form: ``form``, ``values``, ``bytes``, ``delegation`` (its text), ``portable`` (count)."""
    import lightops
    from lightops.checkpoint import LoadedModel
    from lightops.deploy.executorch import export_executorch
    from lightops.deploy.pt2e import quantize_ptq

    model = lightops.create_model(name).eval()
    size = tuple(model.pretrained_cfg["input_size"])
    calibration = [torch.randn(4, *size, generator=torch.Generator().manual_seed(0))]
    out = []
    for form in forms:
        q = quantize_ptq(LoadedModel(model, name=name), calibration, size, form=form)
        nbytes, count = q.int8_param_bytes()
        with tempfile.TemporaryDirectory() as tmp:
            result = export_executorch(LoadedModel(q, name=name), Path(tmp) / "q.pte", checks=16)
        d = result.delegation
        out.append(dict(form=form, values=count, bytes=nbytes, portable=d.portable_ops,
                        delegation=f"{d.delegated_ops} operators in {d.delegates} delegate(s), {d.portable_ops} "
                                   "portable"))
    return out


def markdown(name: str, size: Sequence[int], params: int, table: Sequence[dict], command: str) -> str:
    """The docs block."""
    lines = [f"{name} at {tuple(size)} ({params:,} float parameters), PTQ. Command: `{command}`.", "",
             "| form | values | bytes | ExecuTorch (XNNPACK) |", "|---|---:|---:|---|"]
    lines += [f"| {r['form']} | {r['values']:,} | {r['bytes']:,} | {r['delegation']} |" for r in table]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Measure, print, and write the docs block."""
    import lightops
    from lightops.deploy.pt2e import FORMS

    p = argparse.ArgumentParser(prog="python -m benchmarks.int8_forms", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="dssdn_small")
    p.add_argument("--forms", nargs="+", default=list(FORMS), choices=list(FORMS))
    add_block_arguments(p, ROOT / "docs" / "deploy.md", "int8-forms")
    args = p.parse_args(argv)
    model = lightops.create_model(args.model)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    text = markdown(args.model, model.pretrained_cfg["input_size"], sum(q.numel() for q in model.parameters()),
                    rows(args.model, args.forms), " ".join(["python -m benchmarks.int8_forms", *argv_list]))
    publish(args, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
