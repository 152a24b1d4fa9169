"""The module a deployment runs: [front end or input normalisation] followed by the fused model."""
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn

from ..checkpoint import LoadedModel
from .fuse import fuse

__all__ = ["InputNorm", "deploy_module"]


class InputNorm(nn.Module):
    """``(x - mean) / std``: the input normalisation a model was trained with, kept in the deployed graph.

    Args:
        mean: mean of the training log-mel in dB.
        std: its standard deviation in dB.
    """

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        if not std > 0:
            raise ValueError(f"InputNorm: std must be > 0, got {std!r}")
        self.mean, self.std = float(mean), float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same shape as ``x``."""
        return (x - self.mean) / self.std


def deploy_module(loaded: LoadedModel, *, with_frontend: bool = False, n_mels: Optional[int] = None,
                  fused: bool = True, fuse_kwargs: Optional[Dict[str, Any]] = None,
                  export_size: Optional[Tuple[int, int, int]] = None, fixed_length: bool = False) -> nn.Module:
    """The module to deploy, in eval mode: [waveform front end | input normalisation], the (fused) model.

    Args:
        loaded: from :func:`lightops.checkpoint.resolve_model`.
        with_frontend: start from the waveform ``(B, samples)``: the checkpoint's
            :class:`~lightops.audio.FrontEnd` (log-mel and normalisation) comes first.
        n_mels: mel bins of the front end (default: the checkpoint's, else the model's ``pretrained_cfg``).
        fused: apply :func:`lightops.deploy.fuse` to the model.
        fuse_kwargs: its options.
        export_size: the log-mel ``(C, F, T)`` of an export: a fused model with an ``export_form(input_size,
            fixed_length)`` method becomes that form (DSSDN: :class:`~lightops.models.dssdn_deploy.DeployDSSDN`
            for these ``(C, F)``, its multi-scale pooling as constant frequency weights).
        fixed_length: with ``export_size``, for that ``T`` only (constant time weights too).
    """
    kwargs = {"time_pool": False, **(fuse_kwargs or {})}  # its parity branch would fix the time length
    net = fuse(loaded.model, **kwargs) if fused else loaded.model
    if fused and export_size is not None and callable(getattr(net, "export_form", None)):
        net = net.export_form(tuple(export_size), fixed_length=fixed_length)
    if with_frontend:
        overrides = {"n_mels": int(n_mels)} if n_mels else {}
        return nn.Sequential(loaded.front_end(**overrides), net).eval()
    mean, std = loaded.norm
    if (mean, std) != (0.0, 1.0):
        net = nn.Sequential(InputNorm(mean, std), net)
    return net.eval()
