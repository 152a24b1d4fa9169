"""Checking a model against a complexity budget (:mod:`lightops.budgets`) and fitting its width to one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import torch.nn as nn

from .._factory import create_model
from ..budgets import BUDGETS, DCASE_MAX_MACS, DCASE_MAX_PARAMS, Budget
from ..ops.base import count_params

__all__ = ["Budget", "BudgetCheck", "BUDGETS", "DCASE_MAX_PARAMS", "DCASE_MAX_MACS", "check_budget", "fit_budget",
           "FitResult"]

@dataclass(frozen=True)
class BudgetCheck:
    """The verdict of :func:`check_budget`."""

    params: int
    macs: int
    budget: Budget

    @property
    def ok(self) -> bool:
        """Both within budget."""
        return self.params <= self.budget.max_params and self.macs <= self.budget.max_macs

    def __str__(self) -> str:
        b = self.budget
        verdict = "WITHIN BUDGET" if self.ok else "OVER BUDGET"
        return (f"{verdict}: {self.params:,} / {b.max_params:,} params ({100 * self.params / b.max_params:.1f} %), "
                f"{self.macs:,} / {b.max_macs:,} MACs on {b.input_size} ({100 * self.macs / b.max_macs:.1f} %)")


def check_budget(model: nn.Module, budget: Budget) -> BudgetCheck:
    """Count ``model``'s params and MACs (its ``macs`` formula) on the budget's input."""
    return BudgetCheck(count_params(model), int(model.macs(budget.input_size)), budget)


@dataclass(frozen=True)
class FitResult:
    """The widest model found by :func:`fit_budget`."""

    width: float
    model: nn.Module
    check: BudgetCheck


def fit_budget(name: str, max_params: Optional[int] = None, max_macs: Optional[int] = None,
               input_size: Optional[Tuple[int, int, int]] = None, *, lo: float = 0.05, hi: float = 8.0,
               rel_tol: float = 1e-3, **model_kwargs: Any) -> FitResult:
    """The largest ``width`` multiplier of model ``name`` within ``max_params`` and ``max_macs`` on ``input_size``.

    Bisection on ``width`` (params and MACs grow with it); channels round to multiples of 4, so the result is
    the right end of the last fitting step, to ``rel_tol``. Defaults: the DCASE limits on a 1-s clip.

    Raises:
        ValueError: when even ``width = lo`` does not fit.
    """
    budget = Budget(max_params if max_params is not None else DCASE_MAX_PARAMS,
                    max_macs if max_macs is not None else DCASE_MAX_MACS,
                    tuple(input_size) if input_size is not None else (1, 256, 44), "fit_budget")

    def build(width: float) -> Tuple[nn.Module, BudgetCheck]:
        model = create_model(name, width=width, **model_kwargs)
        return model, check_budget(model, budget)

    model, check = build(lo)
    if not check.ok:
        raise ValueError(f"fit_budget: {name} does not fit even at width={lo}: {check}")
    best = (lo, model, check)
    while hi / lo > 1 + rel_tol:
        mid = (lo * hi) ** 0.5
        model, check = build(mid)
        if check.ok:
            lo, best = mid, (mid, model, check)
        else:
            hi = mid
    return FitResult(*best)
