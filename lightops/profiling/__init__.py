"""Profiling: MACs and parameters per module, parameter and activation memory, latency, allocator settings.

``profile(model, (1, 256, 44))`` gives a :class:`Profile` (printable, exportable to JSON); ``latency`` times a
forward pass; ``configure_malloc`` sets glibc's malloc thresholds at run time; ``check_budget``/``fit_budget``
(:mod:`lightops.profiling.budget`) hold a model to the DESIGN.md and DCASE budgets; ``frequency_receptive_fields``
measures the mel bins each layer sees. What is counted and how the
figures compare with other counters is written in docs/profiling.md.
"""
from .budget import BUDGETS, DCASE_MAX_MACS, DCASE_MAX_PARAMS, Budget, BudgetCheck, FitResult, check_budget, fit_budget
from .counting import ZERO_MAC_TYPES, complexity, layer_macs, profile
from .latency import AllocatorInfo, LatencyResult, MallocConfig, allocator_info, configure_malloc, latency
from .memory import DCASE_MAX_PARAM_BYTES, ActivationTracker, ParamMemory, param_memory, peak_activation_memory
from .receptive_field import frequency_receptive_fields
from .records import ModuleRecord, Profile, TypeRecord
from .table import format_bytes, format_count

__all__ = [
    "profile", "complexity", "Profile", "ModuleRecord", "TypeRecord", "layer_macs", "ZERO_MAC_TYPES",
    "param_memory", "ParamMemory", "peak_activation_memory", "ActivationTracker", "DCASE_MAX_PARAM_BYTES",
    "latency", "LatencyResult", "AllocatorInfo", "allocator_info", "MallocConfig", "configure_malloc",
    "format_count", "format_bytes", "frequency_receptive_fields",
    "Budget", "BudgetCheck", "BUDGETS", "DCASE_MAX_PARAMS", "DCASE_MAX_MACS", "check_budget", "fit_budget", "FitResult",
]
