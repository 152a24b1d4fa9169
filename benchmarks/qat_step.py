"""Time of one QAT step (forward, backward, Adam) by how the activations' ranges are observed, as ratios against the
backend's own QAT configuration (moving-average min/max) measured in the same run.

Rows: ``minmax`` (``--qat-observer minmax``), ``histogram, every batch`` (torchao's ``FakeQuantize`` with the
histogram observer: the range search after each batch) and ``histogram, 1 batch in N`` (what ``lightops quantize``
does, :data:`lightops.deploy.pt2e.QAT_OBSERVE_EVERY`). Random weights and inputs (the time does not depend on them);
the variants run in turn, ``--rounds`` times, ``--steps`` steps each (a multiple of N, so each round holds the same
share of observed batches), after ``--warmup`` steps; the median of the rounds is reported. Writes the docs block
``qat-step`` (docs/deploy.md). ::

    python -m benchmarks.qat_step                            # dssdn_small, batch 16, one thread
    python -m benchmarks.qat_step --model dssdn_tiny --steps 8 --rounds 1 --no-docs
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from benchmarks.docs.blocks import add_block_arguments, publish

__all__ = ["variants", "measure", "markdown", "main"]

ROOT = Path(__file__).resolve().parents[1]


def variants(every: int) -> Dict[str, dict]:
    """Label -> keyword arguments of :func:`lightops.deploy.pt2e.prepare`."""
    return {"minmax": dict(qat_observer="minmax"),
            "histogram, every batch": dict(qat_observer="histogram", observe_every=1),
            f"histogram, 1 batch in {every}": dict(qat_observer="histogram", observe_every=every)}


def _step_fn(name: str, size: Sequence[int], batch: int, kwargs: dict) -> Callable[[], None]:
    from torchao.quantization.pt2e import move_exported_model_to_train

    import lightops
    from lightops.checkpoint import LoadedModel
    from lightops.deploy.pt2e import float_form, prepare

    torch.manual_seed(0)
    loaded = LoadedModel(lightops.create_model(name).eval(), name=name)
    prepared = prepare(float_form(loaded, size), size, qat=True, **kwargs)
    move_exported_model_to_train(prepared)
    opt = torch.optim.Adam(prepared.parameters(), lr=1e-5)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, *size, generator=gen), torch.randint(0, 10, (batch,), generator=gen)

    def step() -> None:
        loss = F.cross_entropy(prepared(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def measure(name: str, batch: int, steps: int, rounds: int, warmup: int, every: int) -> List[dict]:
    """One dict per variant: ``label``, ``ms`` (median over rounds of the mean step time), ``ratio`` (to minmax)."""
    import lightops

    size = tuple(lightops.create_model(name).pretrained_cfg["input_size"])
    fns = {label: _step_fn(name, size, batch, kw) for label, kw in variants(every).items()}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {label: [] for label in fns}
    for _ in range(rounds):
        for label, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            times[label].append((time.perf_counter() - t0) / steps)
    base = statistics.median(times["minmax"])
    return [dict(label=label, ms=1e3 * statistics.median(t), ratio=statistics.median(t) / base)
            for label, t in times.items()]


def markdown(name: str, batch: int, steps: int, rounds: int, table: Sequence[dict], command: str) -> str:
    """The docs block."""
    lines = [f"{name}, batch {batch}, {torch.get_num_threads()} thread(s); median of {rounds} round(s) of {steps} "
             f"steps per variant, the variants in turn ({platform.machine()}, torch {torch.__version__}). "
             f"Command: `{command}`.", "",
             "| activation ranges | ms per step | ratio to minmax |", "|---|---:|---:|"]
    lines += [f"| {r['label']} | {r['ms']:.0f} | {r['ratio']:.2f} |" for r in table]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Measure, print, and write the docs block."""
    from lightops.deploy.pt2e import QAT_OBSERVE_EVERY

    p = argparse.ArgumentParser(prog="python -m benchmarks.qat_step", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="dssdn_small")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=2 * QAT_OBSERVE_EVERY, help="steps per round and variant")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    add_block_arguments(p, ROOT / "docs" / "deploy.md", "qat-step")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    table = measure(args.model, args.batch_size, args.steps, args.rounds, args.warmup, QAT_OBSERVE_EVERY)
    command = " ".join(["python -m benchmarks.qat_step", *(sys.argv[1:] if argv is None else argv)])
    text = markdown(args.model, args.batch_size, args.steps, args.rounds, table, command)
    publish(args, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
