"""int8 PyTorch models with torchao's PT2E flow: post-training quantization (calibration) or quantization-aware
training, then conversion; the result is a :class:`QuantizedModel` a checkpoint can hold.

The model quantized is the deployed form (:func:`float_form`): fused (norms folded into the convolutions), at a fixed
input ``(C, F, T)`` (DSSDN's multi-scale pooling as constant weights), ceil-mode pools rewritten for XNNPACK
(:func:`~lightops.deploy.executorch.exact_pools`); its input is the normalised log-mel, as a training checkpoint's
model takes it. ``torch.export`` captures it with a dynamic batch axis, ``prepare_pt2e`` (or ``prepare_qat_pt2e``)
inserts observers as the backend's quantizer asks (XNNPACK: ``get_symmetric_quantization_config(is_per_channel=True)``,
int8 weights per output channel, int8 activations per tensor; x86: the X86 inductor quantizer's default), and
``convert_pt2e`` turns the observed ranges into quantize/dequantize pairs around int8 weights. A converted model whose
observers never saw data would quantize with their initial ranges: :func:`convert` refuses it
(:func:`uncalibrated_observers`).

The converted model is re-exported and stored with ``torch.export.save`` (bytes in the checkpoint's ``quantized``
key, :func:`QuantizedModel.to_checkpoint`); ``lightops eval``, ``predict``, ``complexity`` and ``export --format
executorch`` load it through :func:`lightops.checkpoint.load_model`.

Needs the ``edge`` extra (``pip install 'lightops[edge]'``).
"""
import dataclasses
import io
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import LoadedModel
from .executorch import exact_pools, require_executorch

__all__ = ["BACKENDS", "QuantizedModel", "float_form", "prepare", "calibrate", "convert", "quantize_ptq",
           "quantize_qat", "uncalibrated_observers", "freeze_batch_norm", "int8_param_bytes", "top1_agreement"]

BACKENDS = ("xnnpack", "x86")
_MAX_BATCH = 1 << 16


def _quantizer(backend: str, qat: bool) -> Any:
    if backend == "xnnpack":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=qat))
    if backend == "x86":
        from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer,
            get_default_x86_inductor_quantization_config,
        )

        return X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config(is_qat=qat))
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def float_form(loaded: LoadedModel, input_size: Sequence[int]) -> nn.Module:
    """The fused, fixed-input float module that is quantized (input: the normalised log-mel ``(B, C, F, T)``)."""
    from .module import deploy_module

    bare = dataclasses.replace(loaded, frontend=None)  # no InputNorm: the front end normalises, as in training
    net = deploy_module(bare, export_size=tuple(int(v) for v in input_size), fixed_length=True)
    exact_pools(net)
    return net


def _capture(net: nn.Module, input_size: Sequence[int]) -> Any:
    """``torch.export`` of ``net`` with a dynamic batch (the graph module PT2E annotates)."""
    batch = torch.export.Dim("batch", min=1, max=_MAX_BATCH)
    return torch.export.export(net, (torch.zeros(2, *input_size),), dynamic_shapes=({0: batch},))


def prepare(net: nn.Module, input_size: Sequence[int], *, backend: str = "xnnpack", qat: bool = False) -> Any:
    """Capture ``net`` and insert the backend quantizer's observers (``prepare_pt2e``) or fake quantizers
    (``prepare_qat_pt2e``)."""
    require_executorch()
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    gm = _capture(net, input_size).module()
    return (prepare_qat_pt2e if qat else prepare_pt2e)(gm, _quantizer(backend, qat))


def calibrate(prepared: Any, batches: Iterable[torch.Tensor]) -> int:
    """Run the observed model on each batch (no gradients); returns the clips seen."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(prepared)
    seen = 0
    with torch.no_grad():
        for x in batches:
            prepared(x)
            seen += int(x.shape[0])
    return seen


def uncalibrated_observers(prepared: Any) -> List[str]:
    """Names of the observers (or fake quantizers) of a prepared model that never saw a value."""
    from torchao.quantization.pt2e import ObserverBase

    bad = []
    for name, mod in prepared.named_modules():
        obs = getattr(mod, "activation_post_process", mod)
        low = getattr(obs, "min_val", None)
        if isinstance(obs, ObserverBase) and isinstance(low, torch.Tensor) and (
                low.numel() == 0 or not torch.isfinite(low).all()):
            bad.append(name)
    return bad


def freeze_batch_norm(prepared: Any) -> int:
    """Stop updating batch-norm statistics in a QAT graph (training-mode batch norms use their running stats);
    returns the batch norms frozen (0 for a fused model: its norms are folded into the convolutions)."""
    frozen = 0
    for node in prepared.graph.nodes:
        if node.target == torch.ops.aten._native_batch_norm_legit.default:
            args = list(node.args)
            args[5] = False  # (input, weight, bias, running_mean, running_var, training, momentum, eps)
            node.args = tuple(args)
            frozen += 1
    if frozen:
        prepared.recompile()
    return frozen


def convert(prepared: Any, input_size: Sequence[int]) -> Any:
    """``convert_pt2e`` and re-export with a dynamic batch: the int8 ``ExportedProgram``.

    Raises:
        ValueError: some observers never saw data (calibrate first): their ranges are the initial ones.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    bad = uncalibrated_observers(prepared)
    if bad:
        raise ValueError(f"{len(bad)} observer(s) never saw data ({bad[:3]}...): calibrate the prepared model on "
                         f"training clips before converting, or its int8 ranges are the observers' initial ones")
    converted = convert_pt2e(prepared)
    return _capture(converted, input_size)


class QuantizedModel(nn.Module):
    """An int8 model from :func:`quantize_ptq` or :func:`quantize_qat`: the converted PT2E program, run in eager
    PyTorch (quantize/dequantize around int8 weights), with the float model it came from.

    Args:
        program: the converted ``ExportedProgram`` (dynamic batch, fixed ``(C, F, T)``).
        float_model: the float model (kept for comparisons and its attributes).
        input_size: ``(C, F, T)`` the program takes.
        info: how it was made (``method``, ``backend``, ``calibration_clips``, ``qat_epochs``, ...).

    Shape:
        ``(B, C, F, T)`` normalised log-mel -> ``(B, num_classes)`` logits.
    """

    def __init__(self, program: Any, float_model: nn.Module, input_size: Sequence[int],
                 info: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        self.program = program
        self.quantized = program.module()
        self.float_model = float_model
        self.input_size = tuple(int(v) for v in input_size)
        self.info = dict(info or {})
        self.num_classes = getattr(float_model, "num_classes", None)
        self.in_chans = self.input_size[0]
        self.pretrained_cfg = getattr(float_model, "pretrained_cfg", {})

    def train(self, mode: bool = True) -> "QuantizedModel":
        """Inference only: the mode flag is kept, the exported graph is left as it is."""
        self.training = bool(mode)
        self.float_model.train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the int8 model."""
        if tuple(x.shape[1:]) != self.input_size:
            raise ValueError(f"the int8 model takes inputs (B, {', '.join(map(str, self.input_size))}), got "
                             f"{tuple(x.shape)}: it was quantized at a fixed clip length")
        return self.quantized(x)

    def int8_param_bytes(self) -> Tuple[int, int]:
        """``(bytes, count)`` of the weights and biases the program uses (:func:`int8_param_bytes`)."""
        return int8_param_bytes(self)

    def module_for(self, input_size: Sequence[int]) -> nn.Module:
        """The converted graph module, for an input of ``input_size`` (its own)."""
        if tuple(int(v) for v in input_size) != self.input_size:
            raise ValueError(f"the int8 model takes (C, F, T) = {self.input_size}, not {tuple(input_size)}")
        return self.quantized

    def to_checkpoint(self) -> Dict[str, Any]:
        """The checkpoint's ``quantized`` value: the program's ``torch.export.save`` bytes and how it was made."""
        buf = io.BytesIO()
        torch.export.save(self.program, buf)
        return {"program": buf.getvalue(), "input_size": list(self.input_size), **self.info}

    @classmethod
    def from_checkpoint(cls, value: Dict[str, Any], float_model: nn.Module, source: str = "") -> "QuantizedModel":
        """Rebuild from a checkpoint's ``quantized`` value (:meth:`to_checkpoint`).

        Raises:
            ValueError: the value holds no loadable program.
        """
        require_executorch()
        import torchao.quantization.pt2e  # noqa: F401  registers the quantized_decomposed operators

        try:
            program = torch.export.load(io.BytesIO(value["program"]))
        except Exception as e:  # torch.export's deserialiser raises many kinds
            raise ValueError(f"checkpoint {source!r}: its 'quantized' program cannot be loaded ({e})") from e
        info = {k: v for k, v in value.items() if k not in ("program", "input_size")}
        return cls(program, float_model, value["input_size"], info)


def _make(prepared: Any, float_model: nn.Module, size: Sequence[int], info: Dict[str, Any]) -> QuantizedModel:
    return QuantizedModel(convert(prepared, size), float_model, size, info)


def quantize_ptq(loaded: LoadedModel, batches: Iterable[torch.Tensor], input_size: Sequence[int], *,
                 backend: str = "xnnpack") -> QuantizedModel:
    """Post-training int8: observe ``batches`` (normalised log-mel ``(B, C, F, T)``), convert.

    Raises:
        ValueError: no batch given (nothing calibrated), or a bad backend.
    """
    prepared = prepare(float_form(loaded, input_size), input_size, backend=backend)
    seen = calibrate(prepared, batches)
    return _make(prepared, loaded.model, input_size, {"method": "ptq", "backend": backend, "calibration_clips": seen,
                                                      "qat_epochs": 0})


def quantize_qat(loaded: LoadedModel, epochs: Callable[[], Iterable[Tuple[torch.Tensor, torch.Tensor]]],
                 input_size: Sequence[int], *, num_epochs: int, lr: float = 1e-4, freeze_bn_epochs: int = 1,
                 backend: str = "xnnpack", log: Callable[[str], None] = lambda s: None) -> QuantizedModel:
    """Quantization-aware fine-tuning: fake-quantized training for ``num_epochs``, batch-norm statistics frozen for
    the last ``freeze_bn_epochs``, observers disabled at the end, then convert.

    Args:
        loaded: the float model.
        epochs: returns one epoch's ``(normalised log-mel (B, C, F, T), labels (B,))`` batches per call.
        input_size: ``(C, F, T)``.
        num_epochs: epochs of fine-tuning (>= 1).
        lr: Adam learning rate.
        freeze_bn_epochs: last epochs with batch-norm statistics frozen.
        backend: ``"xnnpack"`` or ``"x86"``.
        log: receives one line per epoch.
    """
    from torchao.quantization.pt2e import disable_observer, move_exported_model_to_train

    if num_epochs < 1:
        raise ValueError(f"quantize_qat: num_epochs must be >= 1, got {num_epochs}")
    prepared = prepare(float_form(loaded, input_size), input_size, backend=backend, qat=True)
    opt = torch.optim.Adam(prepared.parameters(), lr=lr)
    frozen = 0
    for epoch in range(num_epochs):
        move_exported_model_to_train(prepared)
        if epoch == num_epochs - freeze_bn_epochs:
            frozen = freeze_batch_norm(prepared)
        total, clips = 0.0, 0
        for x, y in epochs():
            loss = F.cross_entropy(prepared(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, clips = total + loss.item() * len(y), clips + len(y)
        log(f"qat epoch {epoch + 1}/{num_epochs}: loss {total / max(clips, 1):.4f} over {clips} clips")
    prepared.apply(disable_observer)
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(prepared)
    return _make(prepared, loaded.model, input_size, {"method": "qat", "backend": backend, "qat_epochs": num_epochs,
                                                      "batch_norms_frozen": frozen})


def int8_param_bytes(model: QuantizedModel) -> Tuple[int, int]:
    """``(bytes, count)`` of the weights and biases the int8 program uses, at the dtype they are stored in (int8
    weights 1 byte each, float biases 4), the organisers' way; scales and zero points (arguments of the
    quantize/dequantize operators) are not parameters and are not counted."""
    program = model.program
    sig = program.graph_signature
    names = {**sig.inputs_to_parameters, **sig.inputs_to_buffers, **sig.inputs_to_lifted_tensor_constants}
    total = count = 0
    for node in program.graph.nodes:
        if node.op != "placeholder" or node.name not in names or not node.users:
            continue
        qparam = all("quantized_decomposed" in str(u.target) and u.args and u.args[0] is not node for u in node.users)
        tensor = program.state_dict.get(names[node.name], program.constants.get(names[node.name]))
        if qparam or not isinstance(tensor, torch.Tensor) or tensor.dim() == 0:
            continue
        total, count = total + tensor.numel() * tensor.element_size(), count + tensor.numel()
    return total, count


def top1_agreement(reference: torch.Tensor, other: torch.Tensor) -> Tuple[float, float]:
    """Top-1 agreement and largest softmax probability difference of two logit tensors ``(B, K)``."""
    agree = float((reference.argmax(-1) == other.argmax(-1)).float().mean())
    return agree, float((reference.softmax(-1) - other.softmax(-1)).abs().max())
