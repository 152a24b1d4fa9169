"""Register your own operator and use it inside a DSSDB and a whole DSSDN.

The operator here is BSConv-U with a full 3x3 depthwise kernel (pointwise 1x1, then depthwise 3x3), a
natural baseline for SC, which splits that kernel into 3x1 and 1x3. It subclasses
``lightops.ops.SeparableOpBase``, which supplies validation, ``output_size``, the optional norm and
activation and ``params()``; the subclass implements ``_forward``, ``_conv_params`` and ``macs``, and here also
``inference_form`` (its deployed form: the two convolutions as a ``ConvChain``, which ``lightops.deploy.fuse`` uses).
The script checks the ``macs`` formula against ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2)
on the operator, on a DSSDB built from it and on ``create_model("dssdn_small", op="my_op")``.

    python examples/custom_operator.py
    python examples/custom_operator.py --mels 64 --frames 32
"""
from __future__ import annotations

import argparse
from typing import Tuple, Union

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

import lightops
from lightops.deploy import fuse
from lightops.ops import ConvChain, SeparableOpBase, count_params
from lightops.ops.base import LayerType
from lightops.profiling import fit_budget


@lightops.register_op("my_op")
class PointwiseDepthwise3x3(SeparableOpBase):
    """Pointwise 1x1 ``Cin -> Cout``, then depthwise 3x3 with stride ``(s_f, s_t)``.

    Shape:
        ``(B, Cin, F, T) -> (B, Cout, F', T')``, ``F' = (F - 1) // s_f + 1``, ``T' = (T - 1) // s_t + 1``.

    Params: ``Cin * Cout + 9 * Cout`` (+ ``Cout`` with bias).
    MACs: ``Cin * Cout * F * T + 9 * Cout * F' * T'``.
    """

    def __init__(self, in_chs: int, out_chs: int, *, stride: Union[int, Tuple[int, int]] = 1,
                 dilation: Union[int, Tuple[int, int]] = 1, bias: bool = False, norm_layer: LayerType = None,
                 act_layer: LayerType = None) -> None:
        super().__init__(in_chs, out_chs, stride=stride, dilation=dilation, norm_layer=norm_layer,
                         act_layer=act_layer)  # validates, sets self.in_chs/out_chs/stride/dilation/norm/act
        self.pw = nn.Conv2d(self.in_chs, self.out_chs, 1, bias=False)
        self.dw = nn.Conv2d(self.out_chs, self.out_chs, 3, stride=self.stride, padding=self.dilation,
                            dilation=self.dilation, groups=self.out_chs, bias=bias)

    def _conv_params(self) -> int:
        """Parameters of the convolutions (the base class adds the norm's)."""
        return self.in_chs * self.out_chs + 9 * self.out_chs + (self.out_chs if self.dw.bias is not None else 0)

    def macs(self, input_size: Tuple[int, int, int]) -> int:
        """``Cin * Cout * F * T + 9 * Cout * F' * T'`` for an input ``(Cin, F, T)``."""
        _, f_out, t_out = self.output_size(input_size)  # also checks input_size against in_chs
        _, f, t = input_size
        return self.in_chs * self.out_chs * f * t + 9 * self.out_chs * f_out * t_out

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.pw(x))  # (B, Cin, F, T) -> (B, Cout, F, T) -> (B, Cout, F', T')

    def inference_form(self) -> nn.Module:
        """Deployed form: the convolutions and the activation alone, once ``fold_norm`` folded the norm into ``dw``."""
        if not isinstance(self.norm, nn.Identity):
            return self
        return ConvChain(self.pw, self.dw, self.act)


def counted_macs(module: nn.Module, input_size: Tuple[int, int, int]) -> int:
    """MACs of one forward pass at batch 1 as measured by ``FlopCounterMode`` (FLOPs / 2)."""
    module.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(torch.randn(1, *input_size))
    return counter.get_total_flops() // 2


def report(label: str, module: nn.Module, input_size: Tuple[int, int, int]) -> None:
    """Print formula vs counter MACs and params of ``module``; fail if the MACs differ."""
    formula, counted = module.macs(input_size), counted_macs(module, input_size)
    print(f"{label:<42} params {count_params(module):>9,}   MACs formula {formula:>12,}   counter {counted:>12,}")
    assert formula == counted, f"{label}: macs() says {formula:,}, FlopCounterMode measures {counted:,}"


def main() -> None:
    """Build the operator, a block and a model from it; compare their MACs with the counter."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mels", type=int, default=256, help="mel bins F of the model input")
    parser.add_argument("--frames", type=int, default=44, help="frames T of the model input (44: a 1-s clip)")
    args = parser.parse_args()

    print("registered operators:", lightops.list_ops())
    op = lightops.create_op("my_op", 32, 48, stride=(2, 1))
    x = torch.randn(2, 32, 64, 40)
    print(f"my_op: {tuple(x.shape)} -> {tuple(op(x).shape)}; params() = {op.params()} = counted {count_params(op)}")
    assert op.params() == count_params(op)
    report("operator my_op 32 -> 48, stride (2, 1)", op, (32, 64, 40))

    block = lightops.DSSDB(32, 32, op="my_op", time_pool=2)  # every refine/distill operator is my_op
    report("DSSDB(32, 32, op='my_op')", block, (32, 64, 40))
    deployed = fuse(block)  # norms folded, every layer in its inference form: my_op as its ConvChain
    with torch.no_grad():
        assert torch.allclose(deployed(x), block.eval()(x), atol=1e-4)
    report("DSSDB(32, 32, op='my_op'), deployed", deployed, (32, 64, 40))

    input_size = (1, args.mels, args.frames)
    model = lightops.create_model("dssdn_small", op="my_op")  # every block of DSSDN-Small now uses my_op
    report(f"dssdn_small(op='my_op') on {input_size}", model, input_size)
    reference = lightops.create_model("dssdn_small")
    print(f"{'dssdn_small (SPC) for comparison':<42} params {count_params(reference):>9,}   "
          f"MACs {reference.macs(input_size):>12,}")
    with torch.no_grad():
        logits = model.eval()(torch.randn(2, *input_size))
    print(f"forward: (2, {', '.join(map(str, input_size))}) -> {tuple(logits.shape)}")

    # my_op costs more than SPC; the widest DSSDN-Small with my_op inside the DCASE limits (128K params,
    # 30 MMACs on a 1-s clip): extra keyword arguments of fit_budget go to create_model.
    fit = fit_budget("dssdn_small", op="my_op")
    print(f"fit_budget('dssdn_small', op='my_op'): width {fit.width:.3f} -> {fit.check}")


if __name__ == "__main__":
    main()
