"""Parity of an exported model: onnxruntime's outputs against PyTorch's on the same inputs."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .onnx_runtime import ort_session

__all__ = ["ParityCheck", "onnx_parity"]


@dataclass(frozen=True)
class ParityCheck:
    """One onnxruntime run compared with PyTorch: the input shape, the largest absolute logit difference and the
    largest logit magnitude (PyTorch's)."""

    input_shape: Tuple[int, ...]
    max_abs_diff: float
    max_abs_logit: float = 0.0

    def within(self, atol: float) -> bool:
        """``max_abs_diff <= atol * max(1, max_abs_logit)``: float32 rounding grows with the logits' scale."""
        return self.max_abs_diff <= atol * max(1.0, self.max_abs_logit)


def onnx_parity(path: str, reference: nn.Module, inputs: Sequence[torch.Tensor], threads: int = 1,
                outputs: Optional[List[torch.Tensor]] = None) -> List[ParityCheck]:
    """Run the ONNX file with onnxruntime (CPU) on each input and compare with ``reference`` in PyTorch;
    ``outputs``, when given, receives onnxruntime's outputs (float tensors), one per input."""
    session = ort_session(path, threads)
    name = session.get_inputs()[0].name
    checks = []
    for x in inputs:
        with torch.inference_mode():
            ref = reference(x).float()
        got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        if got.shape != ref.shape:
            raise RuntimeError(f"onnxruntime returned shape {list(got.shape)} for input {list(x.shape)}, PyTorch "
                               f"{list(ref.shape)}")
        checks.append(ParityCheck(tuple(x.shape), float((got - ref).abs().max()), float(ref.abs().max())))
        if outputs is not None:
            outputs.append(got.float())
    return checks
