"""Rows of pytest-benchmark JSON (``benchmarks/bench_ops.py``, ``bench_models.py``) and their Markdown formatting,
for the benchmarks page (:mod:`benchmarks.docs.report`): reading, merging, ordering, grouping, formatting.
"""
from __future__ import annotations

import json
import math
import statistics
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = ["PEER_ORDER", "OP_ORDER", "MODE_ORDER", "MODEL_ORDER", "Row", "load", "rows_from", "merge", "best_of",
           "sort_key", "group_rows", "find_rows", "fmt_time", "fmt_count", "fmt_ratio", "para", "table",
           "group_table", "geomean", "span"]

PEER_ORDER = ("dwsep", "dense", "bsconv_u", "ghost", "pconv_pw")
OP_ORDER = ("sc", "osc", "osc_exact", "spc")
MODE_ORDER = ("eager", "eager_cl", "fused", "fused_merge_pw", "fused_cl", "frozen", "frozen_cl", "ofi", "mkldnn_off",
              "spcw_fused", "spcw_frozen_cl", "compiled")
MODEL_ORDER = ("mobilenetv3_small_050", "mobilenetv3_small_100", "dssdn_small", "dssdn_middle", "dssdn_large")


@dataclass
class Row:
    """One benchmark: its group, label, median time and the counts from ``extra_info``."""

    group: str
    label: str
    median_s: float
    params: int
    macs: int
    reference: bool
    info: Dict[str, Any] = field(default_factory=dict)
    ratio: Optional[float] = None  # median / the group reference's median
    min_s: float = math.nan  # fastest round: least disturbed by other processes on a shared machine
    ratio_min: Optional[float] = None  # min / the group reference's min

    @property
    def macs_per_s(self) -> float:
        """Nominal MACs per second."""
        return self.macs / self.median_s if self.median_s > 0 else 0.0

    @property
    def op_key(self) -> str:
        """Operator key with the OSC mode (``osc_exact``) for op rows."""
        op = self.info.get("op", "")
        return "osc_exact" if op == "osc" and "exact" in self.label.lower() else op


def load(path: str | Path) -> Dict[str, Any]:
    """Read a pytest-benchmark JSON file."""
    with open(path) as f:
        return json.load(f)


def rows_from(data: Dict[str, Any]) -> List[Row]:
    """Rows of every benchmark in ``data``, with ratios to each group's reference."""
    rows = []
    for b in data.get("benchmarks", []):
        info = dict(b.get("extra_info", {}))
        rows.append(Row(group=b.get("group") or info.get("group", "ungrouped"), label=info.pop("label", b["name"]),
                        median_s=float(b["stats"]["median"]), params=int(info.pop("params", 0)),
                        macs=int(info.pop("macs", 0)), reference=bool(info.pop("reference", False)), info=info,
                        min_s=float(b["stats"].get("min", math.nan))))
    refs: Dict[str, Row] = {}
    for r in rows:
        if r.reference and r.group not in refs:
            refs[r.group] = r
    for r in rows:
        ref = refs.get(r.group)
        if ref is not None and ref.median_s > 0:
            r.ratio = r.median_s / ref.median_s
            if ref.min_s > 0 and r.min_s == r.min_s:
                r.ratio_min = r.min_s / ref.min_s
    return rows


def _rank(seq: Sequence[str], value: str) -> int:
    return seq.index(value) if value in seq else len(seq)


def sort_key(row: Row) -> Tuple:
    """Reference first, then peers, lightops operators or models in a fixed order, eager before fused."""
    kind = row.info.get("kind", "")
    return (not row.reference, _rank(("peer", "op", "model", "study"), kind), _rank(PEER_ORDER, row.op_key),
            _rank(OP_ORDER, row.op_key), _rank(MODEL_ORDER, row.info.get("model", "")),
            _rank(MODE_ORDER, row.info.get("mode", "")), row.label)


def group_rows(rows: Iterable[Row]) -> Dict[str, List[Row]]:
    """Rows by group, each group sorted with :func:`sort_key`, groups in first-seen order."""
    groups: Dict[str, List[Row]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    return {g: sorted(rs, key=sort_key) for g, rs in groups.items()}


# ---- formatting ----------------------------------------------------------------------------------------------

def fmt_time(seconds: float) -> str:
    """``1.23 ms`` / ``45.6 us`` (an em dash for nan)."""
    if seconds != seconds:
        return "—"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_count(n: float) -> str:
    """``1.23 G`` / ``45.6 M`` / ``789 K`` / ``12``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            v = n / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{n:.0f}"


def fmt_ratio(r: Optional[float]) -> str:
    """``1.23x`` or an em dash."""
    return "—" if r is None else f"{r:.2f}x"


def para(text: str) -> str:
    """A prose paragraph wrapped at 120 characters (Markdown joins the lines again)."""
    return textwrap.fill(text, 120, break_long_words=False, break_on_hyphens=False)


def table(head: Sequence[str], body: Iterable[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; ``align`` holds ``l``/``r`` per column (default: first left, others right)."""
    align = align or "l" + "r" * (len(head) - 1)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def group_table(rows: Sequence[Row], peak: Optional[float], extra: Sequence[str] = ()) -> str:
    """Median, ratio to the group reference, params, MACs, MAC/s and % of peak for each row of a group."""
    head = ["", "median", "ratio", "min", "ratio of mins", "params", "MACs", "MAC/s", "% of peak", *extra]
    body = []
    for r in rows:
        name = f"**{r.label}** (ref.)" if r.reference else r.label
        pct = f"{100 * r.macs_per_s / peak:.1f}" if peak and r.macs else "—"
        macs, rate = (fmt_count(r.macs), fmt_count(r.macs_per_s)) if r.macs else ("—", "—")
        body.append([name, fmt_time(r.median_s), fmt_ratio(r.ratio), fmt_time(r.min_s), fmt_ratio(r.ratio_min),
                     f"{r.params:,}", macs, rate, pct,
                     *[_fmt_extra(r.info.get(k)) for k in extra]])
    return table(head, body)


def _fmt_extra(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def geomean(xs: Sequence[float]) -> float:
    """Geometric mean (nan for an empty sequence)."""
    xs = [x for x in xs if x and x > 0]
    return math.exp(statistics.fmean(math.log(x) for x in xs)) if xs else math.nan


def span(xs: Sequence[float]) -> str:
    """``"1.23x (range 1.01-1.50x, N shapes)"``: geometric mean and range of the ratios that are not nan."""
    xs = [x for x in xs if x == x]
    if not xs:
        return "—"
    return f"{geomean(xs):.2f}x (range {min(xs):.2f}–{max(xs):.2f}x, {len(xs)} shapes)"


def find_rows(rows: Iterable[Row], **match: Any) -> List[Row]:
    """The rows whose ``extra_info`` (``op``: the operator key) holds every ``key=value`` of ``match``."""
    out = []
    for r in rows:
        if all((r.op_key if k == "op" else r.info.get(k)) == v for k, v in match.items()):
            out.append(r)
    return out


def best_of(datas: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Repeated runs of the same benchmarks as one document keeping, per benchmark, the lowest median."""
    best: Dict[str, Dict[str, Any]] = {}
    for d in datas:
        for b in d.get("benchmarks", []):
            key = b.get("fullname") or b["name"]
            if key not in best or b["stats"]["median"] < best[key]["stats"]["median"]:
                best[key] = b
    out = dict(datas[0])
    out["benchmarks"] = list(best.values())
    return out


def merge(datas: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """One JSON document from several: the first one's machine info, every benchmark."""
    if not datas:
        raise ValueError("merge: no JSON documents")
    out = dict(datas[0])
    out["benchmarks"] = [b for d in datas for b in d.get("benchmarks", [])]
    return out
