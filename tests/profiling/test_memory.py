"""Parameter memory and measured peak activation memory, checked against hand-computed live sets."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import lightops
from lightops.profiling import (
    DCASE_MAX_PARAM_BYTES,
    ActivationTracker,
    param_memory,
    peak_activation_memory,
    profile,
)

FQ, TM = 8, 10


def act_bytes(chs, fq=FQ, tm=TM):
    return 4 * chs * fq * tm  # fp32


def test_param_memory_per_precision():
    sc = lightops.SC(64, 64)
    n = 64 * 64 + 6 * 64
    pm = param_memory(sc)
    assert (pm.params, pm.fp32_bytes, pm.fp16_bytes, pm.int8_bytes) == (n, 4 * n, 2 * n, n)
    assert pm.fits_dcase and pm.to_dict()["fits_dcase"]


def test_param_memory_counts_frozen_and_shared_once_not_buffers():
    shared = nn.Conv2d(4, 4, 1, bias=False)
    model = nn.Sequential(shared, nn.BatchNorm2d(4), shared)
    model[1].weight.requires_grad_(False)
    assert param_memory(model).params == 16 + 8  # BN running stats are buffers


def test_dcase_limit_is_128k_int8_params():
    assert DCASE_MAX_PARAM_BYTES == 128_000
    assert param_memory(nn.Linear(1000, 128, bias=False)).fits_dcase
    assert not param_memory(nn.Linear(1000, 128, bias=True)).fits_dcase


def test_chain_of_convs_hand_computed():
    """nn.Sequential frees a layer's input once the next layer has returned: x + max(y1 + y2, y2 + y3)."""
    c0, c1, c2, c3 = 3, 5, 7, 4
    chain = nn.Sequential(nn.Conv2d(c0, c1, 3, padding=1, bias=False), nn.ReLU(inplace=True),
                          nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.Conv2d(c2, c3, 3, padding=1, bias=False))
    live = [act_bytes(c1), act_bytes(c1) + act_bytes(c2), act_bytes(c2) + act_bytes(c3)]
    assert peak_activation_memory(chain, (c0, FQ, TM)) == act_bytes(c0) + max(live)


def test_out_of_place_activation_is_a_new_tensor():
    """ReLU(inplace=False) allocates; inplace=True reuses the storage and is not counted twice."""
    c0, c1, c2 = 2, 6, 3

    def chain(inplace):
        return nn.Sequential(nn.Conv2d(c0, c1, 1, bias=False), nn.ReLU(inplace=inplace),
                             nn.Conv2d(c1, c2, 1, bias=False))

    x, y1, y2 = act_bytes(c0), act_bytes(c1), act_bytes(c2)
    assert peak_activation_memory(chain(True), (c0, FQ, TM)) == x + y1 + y2
    assert peak_activation_memory(chain(False), (c0, FQ, TM)) == x + max(y1 + y1, y1 + y2)


def test_strided_chain():
    chain = nn.Sequential(nn.Conv2d(2, 8, 3, stride=2, padding=1, bias=False),
                          nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False))
    y1, y2 = act_bytes(8, 4, 5), act_bytes(16, 2, 3)
    assert peak_activation_memory(chain, (2, FQ, TM)) == act_bytes(2) + y1 + y2


def test_sc_keeps_its_pointwise_output_alive():
    """SC: dw(pw(x)); inside DepthwisePair, conv_t(conv_f(y1)) holds y1 and y2 while y3 is written."""
    cin, cout = 4, 8
    assert peak_activation_memory(lightops.SC(cin, cout), (cin, FQ, TM)) == act_bytes(cin) + 3 * act_bytes(cout)


class WeightView(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 3))

    def forward(self, x):
        return F.conv2d(x, self.weight[:, :, None, None])  # a view of a parameter: not an activation


@pytest.mark.parametrize("module,expected", [
    (nn.Identity(), act_bytes(3)),  # the input alone
    (nn.Flatten(), act_bytes(3)),  # a view: no new storage
    (WeightView(), act_bytes(3) + act_bytes(6)),
])
def test_views_and_parameters_not_counted(module, expected):
    assert peak_activation_memory(module, (3, FQ, TM)) == expected


def test_meta_device_and_batch():
    osc = lightops.OSC(8, 8, orthogonal="exact", norm_layer="batchnorm2d", act_layer="relu")
    cpu = peak_activation_memory(osc, (8, FQ, TM))
    assert peak_activation_memory(osc, (8, FQ, TM), device="meta") == cpu
    assert peak_activation_memory(osc, (8, FQ, TM), batch_size=2) == 2 * cpu
    assert next(osc.parameters()).device.type == "cpu"


def test_tracker_direct_use():
    tracker = ActivationTracker()
    x = torch.randn(1, 2, 4, 4)
    tracker.track(x)
    with torch.no_grad(), tracker:
        y = x * 2
        z = y + 1
        del y
        w = z.sum()
    assert tracker.peak_bytes == 3 * x.numel() * 4 and tracker.num_ops == 3
    assert tracker.current_bytes == 2 * x.numel() * 4 + w.untyped_storage().nbytes()
    assert tracker.peak_op.startswith("aten.add")


def test_profile_reports_memory():
    sc = lightops.SC(4, 8)
    p = profile(sc, (4, FQ, TM))
    assert p.peak_activation_bytes == peak_activation_memory(sc, (4, FQ, TM))
    assert p.param_memory == param_memory(sc)
    assert profile(sc, (4, FQ, TM), memory=False).peak_activation_bytes is None
