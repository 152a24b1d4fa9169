"""frequency_receptive_fields: the mel bins a layer's centre output bin sees, by the input gradient."""
import pytest
import torch
import torch.nn as nn

import lightops
from lightops.profiling import frequency_receptive_fields


def test_a_stack_of_known_kernels():
    """3x3 stride 2, then 5x1, then 1x3: 3 bins, 3 + 4 * 2 = 11, 11 (a time kernel adds nothing)."""
    net = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.Conv2d(2, 2, (5, 1), padding=(2, 0)),
                        nn.Conv2d(2, 2, (1, 3), padding=(0, 1)))
    net.train()
    assert frequency_receptive_fields(net, (1, 64, 8)) == {"0": 3, "1": 11, "2": 11}
    assert net.training  # the mode is restored


def test_the_baseline_and_dssdn_fields():
    """The DCASE 2025 baseline's last stage sees 71 bins (docs/models.md), DSSDN's last block the whole input unless
    ``freq_blocks`` bounds it; the measured figures equal the configuration's."""
    base = lightops.create_model("dcase2025_baseline")
    fields = frequency_receptive_fields(base, (1, 256, 44), layers=["stages.0", "stages.1", "stages.2"])
    assert fields == {"stages.0": 31, "stages.1": 55, "stages.2": 71}
    m = lightops.create_model("dssdn_small", freq_blocks=1, attn="none", input_norm="none")
    got = frequency_receptive_fields(m, layers=[f"blocks.{i}" for i in range(5)])
    assert tuple(got.values()) == m.cfg.frequency_receptive_fields() == (37, 41, 49, 65, 97)


def test_a_global_gate_reaches_every_bin():
    """ECA gates each channel by a global mean: with it, the last block of any DSSDN sees every input bin."""
    m = lightops.create_model("dssdn_small", freq_blocks=0, input_norm="none")
    assert frequency_receptive_fields(m, (1, 256, 44), layers=["blocks.4"]) == {"blocks.4": 256}


def test_bad_arguments_named():
    net = nn.Conv2d(1, 1, 3, padding=1)
    with pytest.raises(ValueError, match=r"unknown layers \['nope'\]"):
        frequency_receptive_fields(net, (1, 16, 4), layers=["nope"])
    with pytest.raises(ValueError, match="frequency_receptive_fields"):
        frequency_receptive_fields(net, (1, 0, 4))
    assert frequency_receptive_fields(torch.nn.Sequential(net), (1, 16, 4)) == {"0": 3}
