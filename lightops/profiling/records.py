"""The records a profiling pass produces: one per module, one per module type, and the :class:`Profile` that
holds them with the totals, printable as a table and exportable to JSON."""
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .memory import ParamMemory
from .table import format_bytes, format_count, format_shape, render_table

__all__ = ["ModuleRecord", "TypeRecord", "Profile"]


@dataclass
class ModuleRecord:
    """One module that ran during the profiled forward pass.

    Attributes:
        name: qualified name (``"blocks.0.refine.1"``; ``""`` for the profiled module itself).
        type: class name.
        depth: nesting depth (0 for the profiled module).
        calls: times it ran in the pass (a reused module runs several times).
        input_shape: shape of its first input tensor at its first call, batch included.
        output_shape: shape of its output at its first call (a list of shapes for tuple outputs).
        params: trainable parameters of the module and its submodules, each tensor once.
        macs: MACs of all its calls (see ``source``).
        source: ``"formula"``, ``"layer"``, ``"zero"``, ``"counter"``, ``"submodules"`` or ``"uncounted"``.
        counter_macs: FlopCounterMode FLOPs / 2 measured over its calls (for comparison).
        leaf: whether it ran no submodule of its own.
        frontier: whether the row is one of those whose ``share_macs`` add up to the total (top-most modules
            with a formula, leaves outside them, and containers that run matrix products themselves).
        share_macs: what the row adds to the total in that flat view (0 below a formula module).
    """

    name: str
    type: str
    depth: int
    calls: int
    input_shape: Optional[List[int]]
    output_shape: Any
    params: int
    macs: int
    source: str
    counter_macs: int
    leaf: bool = True
    frontier: bool = False
    share_macs: int = 0


@dataclass
class TypeRecord:
    """MACs and parameters aggregated over the instances of one module type.

    Instances nested in another instance of the same type are not counted twice. Types nest (a DSSDB holds
    operators, an operator holds ``Conv2d``), so the shares of different types add up to more than 100 %.

    Attributes:
        type: class name.
        count: instances (outermost ones of this type).
        calls: calls of those instances.
        params: trainable parameters of those instances, each tensor once.
        macs: MACs of those instances.
        share: ``macs`` over the total MACs (0 when the total is 0).
    """

    type: str
    count: int
    calls: int
    params: int
    macs: int
    share: float


@dataclass
class Profile:
    """Per-module MACs, parameters and shapes of one forward pass, their totals, and memory.

    ``str(profile)`` or :meth:`table` prints it; :meth:`to_dict`/:meth:`to_json` export it.

    Attributes:
        model: class name of the profiled module.
        input_size: ``(C, F, T)`` (batch excluded).
        batch_size: batch of the pass; MACs and activation memory are for this batch.
        device: where the pass ran.
        output_shape: shape of the module's output.
        total_macs: MACs of the pass (the module's own formula when it has one).
        total_params: trainable parameters, each tensor once.
        counter_macs: FlopCounterMode FLOPs / 2 over the whole pass, for comparison.
        param_memory: parameter bytes at FP32/FP16/INT8 (:func:`lightops.profiling.param_memory`).
        peak_activation_bytes: peak live activation bytes (:func:`lightops.profiling.peak_activation_memory`),
            ``None`` when not measured.
        records: one :class:`ModuleRecord` per module that ran, in call order.
        by_type: one :class:`TypeRecord` per module type, most MACs first.
        warnings: the messages also issued with ``warnings.warn``.
    """

    model: str
    input_size: Tuple[int, ...]
    batch_size: int
    device: str
    output_shape: Any
    total_macs: int
    total_params: int
    counter_macs: int
    param_memory: ParamMemory
    peak_activation_bytes: Optional[int]
    records: List[ModuleRecord] = field(default_factory=list)
    by_type: List[TypeRecord] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def rows(self, depth: Optional[int] = None) -> List[ModuleRecord]:
        """Rows to show: the flat view (``depth=None``: rows whose ``share_macs`` add up to the total), or every
        module down to ``depth`` (0: the profiled module only)."""
        if depth is None:
            return [r for r in self.records if r.frontier]
        return [r for r in self.records if r.depth <= depth]

    def table(self, depth: Optional[int] = None, by_type: bool = True) -> str:
        """Printable report: module rows, the per-type summary and the totals.

        Args:
            depth: ``None`` for the flat view whose MACs add up to the total (a module with a ``macs`` formula is
                one row); an int for the whole tree down to that depth, indented, each row with its inclusive
                MACs.
            by_type: include the per-type summary.

        Returns:
            The report as one string.
        """
        total = self.total_macs
        flat = depth is None
        head = f"{self.model} on input {format_shape([self.batch_size, *self.input_size])}, device {self.device}"
        rows = []
        for r in self.rows(depth):
            macs = r.share_macs if flat else r.macs
            name = r.name or "(root)"
            if not flat:
                name = "  " * r.depth + (r.name.rsplit(".", 1)[-1] if r.name else "(root)")
            unit = r.leaf or (r.source == "formula" and r.depth > 0)
            src = "own ops" if flat and not unit else r.source
            rows.append([name, r.type, format_shape(r.output_shape), f"{r.params:,}", f"{macs:,}",
                         _pct(macs, total), src + (f" x{r.calls}" if r.calls > 1 else "")])
        parts = [head, "", render_table(["module", "type", "output", "params", "MACs", "%MACs", "source"], rows,
                                        "llrrrrl")]
        if by_type and self.by_type:
            trows = [[t.type, t.count, f"{t.params:,}", f"{t.macs:,}", _pct(t.macs, total)] for t in self.by_type]
            parts += ["", "by type (nested types share MACs, so shares add to more than 100 %)",
                      render_table(["type", "count", "params", "MACs", "%MACs"], trows)]
        pm = self.param_memory
        totals = [
            ["output shape", format_shape(self.output_shape)],
            ["params (trainable)", f"{self.total_params:,} ({format_count(self.total_params)})"
                                   if self.total_params >= 1000 else f"{self.total_params}"],
            ["MACs", f"{total:,} ({_macs_str(total)}) at batch {self.batch_size}"],
            ["FlopCounterMode / 2", f"{self.counter_macs:,}"],
            ["param memory", f"{format_bytes(pm.fp32_bytes)} at fp32, {format_bytes(pm.fp16_bytes)} at fp16, "
                             f"{format_bytes(pm.int8_bytes)} at int8 (DCASE 2025: 128 kB at the dtype the parameters "
                             f"hold; lightops complexity)"],
        ]
        if self.peak_activation_bytes is not None:
            totals.append(["peak activations", f"{format_bytes(self.peak_activation_bytes)} "
                                               f"({self.peak_activation_bytes:,} B) at batch {self.batch_size}"])
        parts += ["", render_table(["total", ""], totals, "ll")]
        if self.warnings:
            parts += ["", "warnings:"] + [f"  {w}" for w in self.warnings]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready) with every field."""
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["param_memory"] = self.param_memory.to_dict()
        return d

    def to_json(self, indent: Optional[int] = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)


def _macs_str(n: int) -> str:
    s = format_count(n)
    return s + "MACs" if s[-1].isalpha() else s + " MACs"


def _pct(part: int, total: int) -> str:
    return f"{100.0 * part / total:.1f}" if total else "-"
