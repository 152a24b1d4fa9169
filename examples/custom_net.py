"""Build a custom DSSDN that mixes the three operators (SC, OSC, SPC), one per block.

The architecture is plain typed data: a ``DSSDNCfg`` holding a ``StemCfg`` and one ``BlockCfg`` per block.
This script builds such a net, prints its parameters and MACs (per block and in total), runs a forward
pass on a batch of random log-mel spectrograms, and round-trips the config through JSON.

    python examples/custom_net.py                       # default: a 10-s clip (1, 256, 431)
    python examples/custom_net.py --frames 44 --batch 1   # a 1-s clip
"""
from __future__ import annotations

import argparse
import json

import torch

import lightops
from lightops import BlockCfg, DSSDNCfg, StemCfg


def build_cfg(n_mels: int = 256) -> DSSDNCfg:
    """Five blocks: SC where channels are few, OSC where they are wide, SPC at the cheap deep end."""
    return DSSDNCfg(
        stem=StemCfg(kind="highlow", out_chs=24, ratio=0.5, stride=2),  # 3x3 conv on the low half, cheap high half
        blocks=(
            BlockCfg(out_chs=32, op="sc", time_pool=2),
            BlockCfg(out_chs=48, op="osc", time_pool=2, op_kwargs=(("orthogonal", "soft"),)),
            BlockCfg(out_chs=64, op="osc", time_pool=2, attn="cca"),
            BlockCfg(out_chs=64, op="spc", op_kwargs=(("ratio", 0.5),)),
            BlockCfg(out_chs=80, op="spc"),
        ),
        n_mels=n_mels,
    )


def main() -> None:
    """Parse the flags, build the net, report its cost, run it, round-trip its config."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mels", type=int, default=256, help="mel bins F of the input")
    parser.add_argument("--frames", type=int, default=431, help="frames T of the input (431: 10 s, 44: 1 s)")
    parser.add_argument("--batch", type=int, default=2, help="batch size of the forward pass")
    parser.add_argument("--classes", type=int, default=10, help="classifier outputs")
    args = parser.parse_args()

    cfg = build_cfg(args.mels)
    model = lightops.create_model("dssdn_small", cfg=cfg, num_classes=args.classes)  # or lightops.DSSDN(cfg)
    input_size = (1, args.mels, args.frames)  # (C, F, T)

    print(f"{'stage':<8} {'op':<4} {'output (C, F, T)':<20} {'params':>9} {'MACs':>13}")
    sizes = model.stage_sizes(input_size)  # stem output, then every block's
    print(f"{'stem':<8} {'-':<4} {str(sizes[0]):<20} {model.stem.params():>9,} {model.stem.macs(input_size):>13,}")
    for i, (blk, b, size_in, size_out) in enumerate(zip(model.blocks, cfg.blocks, sizes[:-1], sizes[1:])):
        params = lightops.ops.count_params(blk)
        print(f"{f'block {i + 1}':<8} {b.op:<4} {str(size_out):<20} {params:>9,} {blk.macs(size_in):>13,}")
    params = lightops.ops.count_params(model)
    macs = model.macs(input_size)
    print(f"total: {params:,} params, {macs:,} MACs ({macs / 1e6:.1f} M) on {input_size} at batch 1")

    model.eval()
    x = torch.randn(args.batch, *input_size)  # (B, 1, F, T) log-mel
    with torch.no_grad():
        logits = model(x)
        feats = model.forward_features(x)
    print(f"forward: {tuple(x.shape)} -> logits {tuple(logits.shape)}; features {tuple(feats.shape)}")
    print(f"OSC orthonormal penalty (add to the loss while training): {lightops.ortho_reg_loss(model):.4f}")

    text = json.dumps(cfg.to_dict(), indent=2)
    cfg2 = DSSDNCfg.from_dict(json.loads(text))
    assert cfg2 == cfg, "the JSON round trip changed the config"
    model2 = lightops.DSSDN(cfg2, num_classes=args.classes)
    model2.load_state_dict(model.state_dict())  # same architecture, so the weights fit
    with torch.no_grad():
        assert torch.equal(model2.eval()(x), logits)
    print(f"config -> JSON ({len(text)} chars) -> config: equal, and the rebuilt net gives the same logits")


if __name__ == "__main__":
    main()
