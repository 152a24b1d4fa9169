"""Helpers shared by the test modules."""
import csv
import glob
import os

import torch
import torch.nn.utils.parametrize as parametrize
from torch.utils.flop_counter import FlopCounterMode

from lightops.ops import SeparableOpBase


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


class PointwiseOnlyOp(SeparableOpBase):
    """A user's operator as the tests need one: a 1x1 convolution only, no depthwise pair, no ``fold_norm()`` and no
    ``freq_kernel`` argument of its own."""

    def __init__(self, in_chs, out_chs, **kw):
        super().__init__(in_chs, out_chs, **kw)
        self.pw = torch.nn.Conv2d(in_chs, out_chs, 1, bias=False)

    def _forward(self, x):
        return self.pw(x)


# TAU Urban Acoustic Scenes 2020 3Class (DCASE 2020 Task 1B): the ten scenes grouped in three classes.
THREE_CLASS = {"airport": "indoor", "shopping_mall": "indoor", "metro_station": "indoor", "park": "outdoor",
               "public_square": "outdoor", "street_pedestrian": "outdoor", "street_traffic": "outdoor",
               "bus": "transportation", "metro": "transportation", "tram": "transportation"}


def relabel_scenes(root, mapping=THREE_CLASS) -> None:
    """Rewrite the ``scene_label`` column of a TAU-layout folder's ``meta.csv`` and fold lists through ``mapping``:
    another scene set in the same layout."""
    for path in [os.path.join(root, "meta.csv")] + glob.glob(os.path.join(root, "evaluation_setup", "*.csv")):
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            fields, rows = reader.fieldnames, list(reader)
        if "scene_label" not in fields:
            continue
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fields, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows({**row, "scene_label": mapping[row["scene_label"]]} for row in rows)
