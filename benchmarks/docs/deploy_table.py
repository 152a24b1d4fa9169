"""Turn the JSON of ``bench_deploy.py`` into the deployment results table, with ratios to ``eager``.

Ratios are taken within one benchmark group (one model on one clip), so they come from one run. The table is
printed, and with ``--write FILE`` it replaces the block ``deploy-table`` of FILE (docs/deploy.md).

Usage::

    python -m benchmarks.docs.deploy_table deploy.json [--write docs/deploy.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from benchmarks.docs.blocks import write_block

BLOCK = "deploy-table"
VARIANT_ORDER = ("eager", "fused", "fused_cl", "ort_fp32", "ort_int8")
CLIP_ORDER = ("1s", "10s")


def rows_from_json(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One row per benchmark: model, clip, variant, median and min in ms, ratios to the group's eager median."""
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for b in data.get("benchmarks", []):
        if "variant" in b.get("extra_info", {}):
            groups.setdefault(b["group"], []).append(b)
    rows = []
    for members in groups.values():
        ref = next((b for b in members if b["extra_info"].get("reference")), None)
        for b in members:
            info, stats = b["extra_info"], b["stats"]
            rows.append(dict(model=info["model"], clip=info["clip"], variant=info["variant"], macs=info["macs"],
                             macs_counted=info.get("macs_counted"), params=info["params"],
                             median_ms=1e3 * stats["median"], min_ms=1e3 * stats["min"], rounds=stats["rounds"],
                             ratio=stats["median"] / ref["stats"]["median"] if ref else None,
                             ratio_min=stats["min"] / ref["stats"]["min"] if ref else None))

    def key(r: Dict[str, Any]) -> Any:
        clip = CLIP_ORDER.index(r["clip"]) if r["clip"] in CLIP_ORDER else len(CLIP_ORDER)
        var = VARIANT_ORDER.index(r["variant"]) if r["variant"] in VARIANT_ORDER else len(VARIANT_ORDER)
        return r["model"], clip, var

    return sorted(rows, key=key)


def _ratio(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:.2f}"


def markdown(data: Dict[str, Any]) -> str:
    """The Markdown table and a line on the machine, load and settings."""
    head = ["model", "clip", "variant", "median ms", "x eager (median)", "min ms", "x eager (min)", "MACs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]
    for r in rows_from_json(data):
        macs = f"{r['macs'] / 1e6:.1f} M"
        if r["macs_counted"] is not None and r["macs_counted"] != r["macs"]:
            macs += f" ({r['macs_counted'] / 1e6:.1f} M counted)"
        lines.append(f"| {r['model']} | {r['clip']} | {r['variant']} | {r['median_ms']:.2f} | {_ratio(r['ratio'])} | "
                     f"{r['min_ms']:.2f} | {_ratio(r['ratio_min'])} | {macs} |")
    info = data.get("machine_info", {}).get("lightops", {})
    load = info.get("load_start"), info.get("load_end")
    note = (f"\n{info.get('cpu_model', 'CPU')}, {info.get('threads', 1)} thread, batch 1, torch {info.get('torch')}, "
            f"malloc {info.get('malloc_mode')}; load average (1, 5, 15 min) at start "
            f"{_load(load[0])}, at end {_load(load[1])}; {info.get('start', '')} to {info.get('end', '')}.")
    return "\n".join(lines) + "\n" + note


def _load(values: Optional[Sequence[float]]) -> str:
    return "?" if not values else "/".join(f"{v:.2f}" for v in values)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.docs.deploy_table", description=__doc__.split("\n")[0])
    parser.add_argument("json", help="--benchmark-json output of benchmarks/bench_deploy.py")
    parser.add_argument("--write", default=None, help="Markdown file whose marked section is replaced")
    args = parser.parse_args(argv)
    table = markdown(json.loads(Path(args.json).read_text()))
    print(table)
    if args.write:
        write_block(args.write, BLOCK, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
