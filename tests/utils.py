"""Helpers shared by the test modules."""
import torch
import torch.nn.utils.parametrize as parametrize
from torch.utils.flop_counter import FlopCounterMode


def flop_counter_macs(module: torch.nn.Module, x: torch.Tensor) -> int:
    """MACs of ``module(x)`` measured by torch's FlopCounterMode (FLOPs / 2).

    Parametrized weights (OSC exact mode) are evaluated once beforehand under ``parametrize.cached()``: the
    orthogonal map's own matmuls are a training-time cost, not inference multiply-accumulates.
    """
    with torch.no_grad(), parametrize.cached():
        for m in module.modules():
            if parametrize.is_parametrized(m):
                for name in m.parametrizations:
                    getattr(m, name)
        with FlopCounterMode(display=False) as counter:
            module(x)
    return counter.get_total_flops() // 2
