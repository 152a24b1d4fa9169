"""``python -m benchmarks.docs``: rewrite or check the cheap blocks, re-measure a timed one, list them all."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from benchmarks.common import ROOT
from benchmarks.docs.blocks import write_block
from benchmarks.docs.registry import BLOCKS, cheap_blocks, render, stale, timed_blocks


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Rewrite (or ``--check``) the cheap blocks; ``--timed NAME`` re-measures a timed block; ``--list``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.docs", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--check", action="store_true", help="check the cheap blocks, write nothing; exit 1 if stale")
    p.add_argument("--only", nargs="+", choices=sorted(cheap_blocks()), default=None, help="these cheap blocks only")
    p.add_argument("--timed", nargs="+", choices=sorted(timed_blocks()), default=None,
                   help="re-measure these timed blocks")
    p.add_argument("--list", action="store_true", help="list every block: page, kind, command")
    args = p.parse_args(argv)
    if args.list:
        for name, block in BLOCKS.items():
            print(f"{name:<22} {block.page:<40} {block.kind:<8} {block.command}")
        return 0
    if args.timed:
        for name in args.timed:
            block = BLOCKS[name]
            text = block.measure(block.command)
            write_block(ROOT / block.page, name, text)
            print(f"{block.page}: {name}\n{text}\n", flush=True)
        return 0
    failed = 0
    for name in args.only or list(cheap_blocks()):
        if args.check:
            problem = stale(name)
            failed += problem is not None
            print(problem or f"{name}: current", flush=True)
        else:
            fresh = render(name)
            if stale(name, fresh) is None:  # a tolerant block's rounding residues moved: no rewrite, no diff
                print(f"{BLOCKS[name].page}: {name} current, left as it is", flush=True)
                continue
            write_block(ROOT / BLOCKS[name].page, name, fresh)
            print(f"{BLOCKS[name].page}: {name} written", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
