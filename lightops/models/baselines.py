"""Reference CNN of the DCASE acoustic scene classification baselines, for comparisons with DSSDN.

The DCASE 2019 Task 1 and DCASE 2020 Task 1B baseline system (Heittola, Mesaros, Virtanen, "Acoustic scene
classification in DCASE 2020 Challenge: generalization across devices and low complexity solutions",
DCASE 2020 Workshop; https://github.com/toni-heittola/dcase2020_task1_baseline) is a three-layer CNN on a
40-band log-mel of a 10-s clip, ``(1, 40, 500)``::

    conv 7x7, 16 ch, BN, ReLU
    conv 7x7, 16 ch, BN, ReLU, max-pool 5x5, dropout 0.3
    conv 7x7, 32 ch, BN, ReLU, max-pool 4x100, dropout 0.3
    flatten, dense 100 + ReLU, dropout 0.3, dense 10 (softmax)

On its own input the second pooling leaves a ``2 x 1`` grid (40/5/4 bins, 500/5/100 frames). Here the second
pooling is an adaptive max-pool to that same ``2 x 1`` grid, so the network takes any log-mel size and equals
the original on ``(1, 40, 500)``. Convolutions use "same" padding, as the Keras original.

It is registered in timm's registry like every lightops model (``timm.create_model("dcase2020_baseline")``), as a
reference: ``lightops.list_models()`` lists the DSSDN family, ``lightops.list_models(baselines=True)`` adds it.
"""
from typing import Any, Dict

import torch
import torch.nn as nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .. import validation

__all__ = ["DCASEBaselineCNN", "dcase2020_baseline"]


def _conv_bn_relu(in_chs: int, out_chs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_chs, out_chs, 7, padding=3), nn.BatchNorm2d(out_chs), nn.ReLU(inplace=True))


class DCASEBaselineCNN(nn.Module):
    """The DCASE 2019/2020 Task 1 baseline CNN with its last pooling made adaptive.

    Args:
        num_classes: output classes.
        in_chans: input channels of the log-mel map.
        drop_rate: dropout after each pooling and after the hidden dense layer (0.3 in the baseline).
        hidden: width of the hidden dense layer.

    Shape:
        ``(B, in_chans, F, T) -> (B, num_classes)``, ``F, T >= 5``.
    """

    def __init__(self, num_classes: int = 10, in_chans: int = 1, drop_rate: float = 0.3, hidden: int = 100) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.features = nn.Sequential(
            _conv_bn_relu(in_chans, 16),
            _conv_bn_relu(16, 16),
            nn.MaxPool2d(5),  # (16, F/5, T/5)
            nn.Dropout(drop_rate),
            _conv_bn_relu(16, 32),
            nn.AdaptiveMaxPool2d((2, 1)),  # the baseline's 4x100 pooling leaves (32, 2, 1) on (1, 40, 500)
            nn.Dropout(drop_rate),
        )
        self.num_features = 32 * 2
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(self.num_features, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(drop_rate), nn.Linear(hidden, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, F, T) -> (B, 32, 2, 1)``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"DCASEBaselineCNN: expected a torch.Tensor log-mel input (B, {self.in_chans}, F, T), "
                            f"got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.in_chans or x.shape[2] < 5 or x.shape[3] < 5:
            raise ValueError(f"DCASEBaselineCNN: expected a log-mel input (B, {self.in_chans}, F >= 5, T >= 5), "
                             f"got shape {list(x.shape)}")
        validation.check_dtype(x, self.features[0][0].weight, "DCASEBaselineCNN")
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_chans, F, T) -> (B, num_classes)``."""
        return self.head(self.forward_features(x))


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    cfg = dict(url="", num_classes=10, input_size=(1, 40, 500), pool_size=None, crop_pct=1.0, interpolation="",
               mean=(0.0,), std=(1.0,), first_conv="features.0.0", classifier="head.4", license="apache-2.0",
               description="DCASE 2019/2020 Task 1 baseline CNN (reference model)")
    cfg.update(kwargs)
    return cfg


default_cfgs = generate_default_cfgs({"dcase2020_baseline": _cfg()})


@register_model
def dcase2020_baseline(pretrained: bool = False, **kwargs: Any) -> DCASEBaselineCNN:
    """The DCASE 2020 Task 1 baseline CNN (see :class:`DCASEBaselineCNN`); kwargs: ``drop_rate``, ``hidden``."""
    return build_model_with_cfg(DCASEBaselineCNN, "dcase2020_baseline", pretrained, **kwargs)
