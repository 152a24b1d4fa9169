"""The peer operators of the benchmarks: shapes, and params/MACs formulas against counted values."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from tests._peers import PEERS, REFERENCE_PEER, PartialConv3, create_peer, list_peers

CASES = [(8, 8, 12, 5), (16, 24, 7, 9), (24, 16, 4, 3), (6, 10, 5, 5)]  # (Cin, Cout, F, T)


def test_list_peers_reference_first():
    assert list_peers()[0] == REFERENCE_PEER
    assert set(list_peers()) == set(PEERS)


@pytest.mark.parametrize("name", sorted(PEERS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_peer_shape_params_macs(name, case):
    cin, cout, f, t = case
    module = create_peer(name, cin, cout)
    x = torch.randn(2, cin, f, t)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = module(x)
    assert y.shape == (2, cout, f, t)
    spec = PEERS[name]
    assert spec.params(cin, cout) == sum(p.numel() for p in module.parameters() if p.requires_grad)
    assert 2 * spec.macs(cin, cout, f, t) == counter.get_total_flops() // 2  # batch 2, FLOPs = 2 MACs


def test_partial_conv_paths_agree_and_pass_rest_through():
    torch.manual_seed(0)
    a = PartialConv3(12).eval()
    b = PartialConv3(12, forward_mode="slicing").eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 12, 6, 5)
    with torch.no_grad():
        ya, yb = a(x), b(x)
    torch.testing.assert_close(ya, yb)
    assert torch.equal(ya[:, a.part_chs:], x[:, a.part_chs:])
    assert a.part_chs == 3


def test_unknown_peer_names_the_known_ones():
    with pytest.raises(ValueError, match="dwsep"):
        create_peer("nope", 4, 4)
    with pytest.raises(ValueError, match="forward_mode"):
        PartialConv3(8, forward_mode="bad")
