"""int8 PyTorch models with torchao's PT2E flow: post-training quantization (calibration) or quantization-aware
training, then conversion; the result is a :class:`QuantizedModel` a checkpoint can hold.

The model quantized is the deployed form (:func:`float_form`): fused (norms folded into the convolutions), at a fixed
input ``(C, F, T)`` (DSSDN's multi-scale pooling as constant weights), ceil-mode pools rewritten for XNNPACK
(:func:`~lightops.deploy.executorch.exact_pools`) and average pools as the depthwise convolutions they equal
(:func:`~lightops.deploy.executorch.pools_as_convs`: int8 kernels in XNNPACK and ONNX Runtime, where an int8 pool is
slow or not delegated); its input is the normalised log-mel, as a training checkpoint's model takes it.
``torch.export`` captures it with a dynamic batch axis, ``prepare_pt2e`` (or ``prepare_qat_pt2e``)
inserts observers as the backend's quantizer asks (XNNPACK: ``get_symmetric_quantization_config(is_per_channel=True)``,
int8 weights per output channel, int8 activations per tensor; x86: the X86 inductor quantizer's default; in QAT the
activations are observed by a histogram as in PTQ, :func:`_histogram_activations`), and
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
import operator
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import LoadedModel, load_torch_file
from ..fileio import atomic_save
from .executorch import exact_pools, pools_as_convs, require_executorch

__all__ = ["BACKENDS", "FORMS", "QAT_OBSERVERS", "QAT_OBSERVE_EVERY", "QAT_STATE_NAME", "QuantizedModel",
           "activation_observer", "float_form", "prepare", "delegable_glue", "calibrate", "convert", "quantize_ptq",
           "quantize_qat", "uncalibrated_observers", "freeze_batch_norm", "int8_param_bytes", "top1_agreement",
           "is_quantized", "int8_module", "float_agreement"]

BACKENDS = ("xnnpack", "x86")
FORMS = ("memory", "speed")
QAT_OBSERVERS = ("histogram", "minmax")
_MAX_BATCH = 1 << 16


QAT_OBSERVE_EVERY = 8
"""QAT's histogram observers see the first batch and one in this many
(:class:`~lightops.deploy.fake_quantize.SubsampledFakeQuantize`)."""


def _histogram_activations(config: Any, every: int = QAT_OBSERVE_EVERY) -> Any:
    """``config`` with its activations' fake quantizers observing through a histogram (the observer of the backend's
    post-training config) instead of the QAT config's moving-average min/max; weights keep the config's per-channel
    min/max fake quantizers.

    Why: a moving-average min/max range follows every batch's extremes; the histogram observer chooses the range over
    all values seen, for the least quantization error, so QAT starts from the ranges PTQ calibrates. Measured with
    XNNPACK on dssdn_small (synthetic ``tau``/``eq``, 3 seeds, 2 QAT epochs at the rate training ended at): QAT's change
    against fp32 went from -1.36 points to -0.31 (``tau``) and +0.62 (``eq``) (docs/deploy.md, ``--qat-observer``). The
    observer sees one batch in :data:`QAT_OBSERVE_EVERY` (its range search on every batch made a QAT step 4.9 times as
    long as min/max, one in eight 1.5 times: ``python -m benchmarks.qat_step``). The X86 quantizer's QAT configuration
    has the same min/max fake quantizers and is given the same observer (not measured there)."""
    from torchao.quantization.pt2e.observer import HistogramObserver

    from .fake_quantize import SubsampledFakeQuantize

    # eps as in XNNPACK's own activation spec: the smallest scale it allows
    make = SubsampledFakeQuantize.with_args(observer=HistogramObserver, every=every, eps=2 ** -12)
    act = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=make)
    out = None if config.output_activation is None else act
    return dataclasses.replace(config, input_activation=act, output_activation=out)


def _quantizer(backend: str, qat: bool, qat_observer: str = "histogram", every: int = QAT_OBSERVE_EVERY) -> Any:
    if qat_observer not in QAT_OBSERVERS:
        raise ValueError(f"qat_observer must be one of {QAT_OBSERVERS}, got {qat_observer!r}")
    if backend == "xnnpack":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        quantizer, config = XNNPACKQuantizer(), get_symmetric_quantization_config(is_per_channel=True, is_qat=qat)
    elif backend == "x86":
        from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer,
            get_default_x86_inductor_quantization_config,
        )

        quantizer, config = X86InductorQuantizer(), get_default_x86_inductor_quantization_config(is_qat=qat)
    else:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if qat and qat_observer == "histogram":
        config = _histogram_activations(config, every)
    return quantizer.set_global(config)


def activation_observer(backend: str, qat: bool, qat_observer: str = "histogram") -> str:
    """The class name of the observer that sets the activations' int8 ranges in ``backend``'s PTQ (``qat=False``) or
    QAT flow (``qat_observer``: ``"histogram"``, the default, or ``"minmax"``, the backend's own QAT configuration),
    recorded in a quantized model's ``info`` so that a result of another flow is not taken for this one's."""
    make = _quantizer(backend, qat, qat_observer).global_config.input_activation.observer_or_fake_quant_ctr
    module = make()
    name = type(getattr(module, "activation_post_process", module)).__name__
    every = getattr(module, "every", 1)
    return name if every == 1 else f"{name}, 1 batch in {every}"


def _memory_form(loaded: LoadedModel, size: Tuple[int, ...]) -> nn.Module:
    """The fused model with the trained model's own weights: norms folded, every other layer in its inference form
    except SPC (its split, partial SC and concatenation kept), the depthwise ``3x1``/``1x3`` pairs (6 weights per
    channel, not a merged 3x3's 9), ECA (its ``k``-tap 1-D convolution, not :class:`ChannelGate`'s ``C x C``) and a
    Haar split's high path (a plain 1x1 after the pair differences, not a ``(2, 1)`` convolution of twice its size)."""
    from ..blocks import ECA, DeployDSSDB
    from ..ops import DepthwisePair, SeparablePartialConv2d
    from .fuse import fuse, to_inference_form

    net = fuse(loaded.model, deploy_blocks=False, merge_depthwise=False, time_pool=False)
    net = to_inference_form(net, keep=lambda m: isinstance(m, (SeparablePartialConv2d, DepthwisePair, ECA)))
    for m in net.modules():
        if isinstance(m, DeployDSSDB):
            m.unfold_haar()
    if callable(getattr(net, "export_form", None)):
        net = net.export_form(size, fixed_length=True)
    return net.eval()


def float_form(loaded: LoadedModel, input_size: Sequence[int], form: str = "memory", *,
               pool_convs: Optional[bool] = None) -> nn.Module:
    """The fused, fixed-input float module that is quantized (input: the normalised log-mel ``(B, C, F, T)``).

    Args:
        loaded: the float model.
        input_size: ``(C, F, T)``.
        form: ``"memory"``: the trained model's own weights (SPC partial, depthwise pairs and ECA as trained), the
            fewest int8 parameters (DCASE's parameter memory); ``"speed"``: the deployment form of
            :func:`~lightops.deploy.module.deploy_module` (SPC at full width, merged 3x3 kernels, ECA as a 1x1 gate),
            more parameters and a shorter chain of convolutions, its average pools as depthwise convolutions
            (:func:`~lightops.deploy.executorch.pools_as_convs`; the memory form only its zero-padded ones).
        pool_convs: every average pool as a depthwise convolution (True) or only the zero-padded ones, which no
            int8 delegate takes (False); None: the form's choice.

    Raises:
        ValueError: an unknown ``form``.
    """
    from .module import deploy_module

    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    size = tuple(int(v) for v in input_size)
    bare = dataclasses.replace(loaded, frontend=None)  # no InputNorm: the front end normalises, as in training
    if form == "memory":
        net = _memory_form(bare, size)
    else:
        net = deploy_module(bare, export_size=size, fixed_length=True)
    exact_pools(net)
    # int8 average pools are slow (ONNX Runtime) or fp32 between conversions (XNNPACK); padded ones are not
    # delegated at all. The memory form keeps its unpadded pools: no weights beyond the trained model's.
    pools_as_convs(net, size, padded_only=form == "memory" if pool_convs is None else not pool_convs)
    return net


def _capture(net: nn.Module, input_size: Sequence[int]) -> Any:
    """``torch.export`` of ``net`` with a dynamic batch (the graph module PT2E annotates)."""
    batch = torch.export.Dim("batch", min=1, max=_MAX_BATCH)
    return torch.export.export(net, (torch.zeros(2, *input_size),), dynamic_shapes=({0: batch},))


def delegable_glue(gm: torch.fx.GraphModule) -> int:
    """Exact rewrites of a captured graph into operators XNNPACK's int8 delegate takes, in place; returns how many.

    - ``split_with_sizes`` on the channels (SPC's split, kept in the ``"memory"`` form) -> one ``slice`` per piece;
    - ``expand_as`` feeding a multiplication (ECA's gate) -> the unexpanded tensor (``mul`` broadcasts);
    - ``addcmul(a, b, c)`` with value 1 (the folded norm of SPC's passed-through channels) -> ``a + b * c`` (the
      decomposed ``addcmul`` leaves a scalar constant that ExecuTorch copies in a portable kernel);
    - ``relu_(x)`` whose input has no other user -> ``relu(x)`` (the x86 quantizer's conv-relu patterns match the
      out-of-place operator only).
    """
    aten = torch.ops.aten
    done = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        if node.target == aten.split_with_sizes.default and all(u.target is operator.getitem for u in node.users):
            x, sizes = node.args[0], [int(v) for v in node.args[1]]
            dim = int(node.args[2]) if len(node.args) > 2 else int(node.kwargs.get("dim", 0))
            starts = [sum(sizes[:i]) for i in range(len(sizes))]
            for user in list(node.users):
                i = int(user.args[1])
                with gm.graph.inserting_before(user):
                    piece = gm.graph.call_function(aten.slice.Tensor, (x, dim, starts[i], starts[i] + sizes[i]))
                piece.meta = dict(user.meta)
                user.replace_all_uses_with(piece)
                gm.graph.erase_node(user)
            gm.graph.erase_node(node)
        elif node.target == aten.expand_as.default and all(u.target == aten.mul.Tensor for u in node.users):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
        elif node.target == aten.relu_.default and len(node.args[0].users) == 1:
            node.target = aten.relu.default
        elif node.target == aten.addcmul.default and node.kwargs.get("value", 1) == 1 and len(node.args) == 3:
            a, b, c = node.args
            with gm.graph.inserting_before(node):
                prod = gm.graph.call_function(aten.mul.Tensor, (b, c))
                total = gm.graph.call_function(aten.add.Tensor, (a, prod))
            total.meta = dict(node.meta)
            node.replace_all_uses_with(total)
            gm.graph.erase_node(node)
        else:
            continue
        done += 1
    if done:
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return done


def _one_source_per_call(gm: torch.fx.GraphModule) -> None:
    """Give every ReLU call its own source partition (metadata only). Without a ``source_fn_stack``, torch groups the
    nodes by their innermost module, so a module called at several places (DSSDB's one ``act``) is one partition with
    several outputs, which the x86 quantizer's conv-activation patterns refuse."""
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in (torch.ops.aten.relu.default, torch.ops.aten.relu_.default):
            node.meta["source_fn_stack"] = [(node.name, nn.ReLU)]


def prepare(net: nn.Module, input_size: Sequence[int], *, backend: str = "xnnpack", qat: bool = False,
            qat_observer: str = "histogram", observe_every: int = QAT_OBSERVE_EVERY) -> Any:
    """Capture ``net`` and insert the backend quantizer's observers (``prepare_pt2e``) or fake quantizers
    (``prepare_qat_pt2e``; ``qat_observer`` as :func:`quantize_qat`, ``observe_every``: the histogram observers see
    one batch in this many)."""
    require_executorch()
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    gm = _capture(net, input_size).module()
    delegable_glue(gm)
    if backend == "x86":
        _one_source_per_call(gm)
    return (prepare_qat_pt2e if qat else prepare_pt2e)(gm, _quantizer(backend, qat, qat_observer, observe_every))


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
                 backend: str = "xnnpack", form: str = "memory", pool_convs: Optional[bool] = None) -> QuantizedModel:
    """Post-training int8: observe ``batches`` (normalised log-mel ``(B, C, F, T)``), convert; ``form`` and
    ``pool_convs`` as :func:`float_form`.

    Raises:
        ValueError: no batch given (nothing calibrated), a bad backend or form.
    """
    prepared = prepare(float_form(loaded, input_size, form, pool_convs=pool_convs), input_size, backend=backend)
    seen = calibrate(prepared, batches)
    return _make(prepared, loaded.model, input_size, {"method": "ptq", "backend": backend, "form": form,
                                                      "calibration_clips": seen, "qat_epochs": 0,
                                                      "activation_observer": activation_observer(backend, False)})


QAT_STATE_NAME = "qat_state.pt"


def _read_qat_state(path: str, options: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The QAT state in ``path`` (None when there is none).

    Raises:
        ValueError: it is unreadable, or was written with other options.
    """
    if not os.path.isfile(path):
        return None
    try:
        state = load_torch_file(path, "QAT state")
    except ValueError as e:
        raise ValueError(f"{e}; delete it to start the fine-tuning over") from e
    if not isinstance(state, dict):
        raise ValueError(f"QAT state {path!r} is not a dict; delete it to start the fine-tuning over")
    saved = state.get("options", {})
    diff = {k: (saved.get(k), v) for k, v in options.items() if saved.get(k) != v}
    if diff:
        text = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in diff.items())
        raise ValueError(f"QAT state {path!r}: options differ from the fine-tuning saved there ({text}); pass the same "
                         f"options, or another --out, or delete it to start over")
    return state


def quantize_qat(loaded: LoadedModel, epochs: Callable[[int], Iterable[Tuple[torch.Tensor, torch.Tensor]]],
                 input_size: Sequence[int], *, num_epochs: int, lr: float = 1e-5, freeze_bn_epochs: int = 1,
                 backend: str = "xnnpack", form: str = "memory", qat_observer: str = "histogram",
                 log: Callable[[str], None] = lambda s: None, state_path: Optional[str] = None,
                 stop_after: Optional[int] = None,
                 options: Optional[Dict[str, Any]] = None) -> Optional[QuantizedModel]:
    """Quantization-aware fine-tuning: fake-quantized training for ``num_epochs``, batch-norm statistics frozen for
    the last ``freeze_bn_epochs``, observers disabled at the end, then convert.

    With ``state_path`` the fine-tuning is resumable, as ``lightops train`` is: after every epoch the state is written
    there atomically, and a call that finds one continues from it. A converted ``ExportedProgram`` cannot be trained
    further, so the state is what the next epoch needs: the ``state_dict`` of the prepared ``GraphModule`` (weights,
    and the fake quantizers' observed ranges, scales and enable flags), the Adam state, the epoch, the loss history
    and the torch generator. ``prepare`` rebuilds the same graph from the same float model (the same names), the
    state is loaded into it, and a resumed run ends with the same int8 program as an uninterrupted one (CPU,
    ``epochs(e)`` returning the same batches).

    Args:
        loaded: the float model.
        epochs: ``epochs(e)`` returns epoch ``e``'s ``(normalised log-mel (B, C, F, T), labels (B,))`` batches.
        input_size: ``(C, F, T)``.
        num_epochs: epochs of fine-tuning (>= 1).
        lr: Adam learning rate (default: ``lightops train``'s final one, ``min_lr``; fine-tuning continues the
            schedule, as ``lightops quantize`` does with the checkpoint's own).
        freeze_bn_epochs: last epochs with batch-norm statistics frozen.
        backend: ``"xnnpack"`` or ``"x86"``.
        form: as :func:`float_form`.
        qat_observer: what sets the activations' ranges: ``"histogram"`` (the observer of the backend's PTQ
            configuration, :func:`_histogram_activations`) or ``"minmax"`` (the backend's QAT configuration as it is).
        log: receives one line per epoch.
        state_path: the resumable state's file (None: not saved).
        stop_after: train at most this many epochs in this call (None: to ``num_epochs``).
        options: what the state must have been written with to be resumed (a mismatch is an error); the
            fine-tuning's own arguments are always compared.

    Returns:
        The int8 model; None when ``stop_after`` stopped before ``num_epochs`` (the state is in ``state_path``).

    Raises:
        ValueError: ``num_epochs < 1``, ``stop_after < 1``, or a state written with other options.
    """
    from torchao.quantization.pt2e import disable_observer, move_exported_model_to_eval, move_exported_model_to_train

    if num_epochs < 1:
        raise ValueError(f"quantize_qat: num_epochs must be >= 1, got {num_epochs}")
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"quantize_qat: stop_after must be >= 1 or None, got {stop_after}")
    options = {**(options or {}), "num_epochs": num_epochs, "lr": lr, "freeze_bn_epochs": freeze_bn_epochs,
               "backend": backend, "form": form, "input_size": [int(v) for v in input_size],
               "activation_observer": activation_observer(backend, True, qat_observer)}
    saved = _read_qat_state(state_path, options) if state_path else None
    prepared = prepare(float_form(loaded, input_size, form), input_size, backend=backend, qat=True,
                       qat_observer=qat_observer)
    opt = torch.optim.Adam(prepared.parameters(), lr=lr)
    start, history, frozen = 0, [], 0
    if saved is not None:
        start, history = int(saved["epoch"]), list(saved["history"])
        if start > num_epochs - freeze_bn_epochs:  # the loop below freezes at the threshold epoch itself
            frozen = freeze_batch_norm(prepared)
        prepared.load_state_dict(saved["prepared"])
        opt.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        log(f"qat: resumed from {state_path} after epoch {start}/{num_epochs}")
    end = num_epochs if stop_after is None else min(num_epochs, start + stop_after)
    for epoch in range(start, end):
        move_exported_model_to_train(prepared)
        if epoch == num_epochs - freeze_bn_epochs:
            frozen = freeze_batch_norm(prepared)
        total, clips = 0.0, 0
        for x, y in epochs(epoch):
            loss = F.cross_entropy(prepared(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, clips = total + loss.item() * len(y), clips + len(y)
        history.append(total / max(clips, 1))
        log(f"qat epoch {epoch + 1}/{num_epochs}: loss {history[-1]:.4f} over {clips} clips")
        if state_path:
            atomic_save({"epoch": epoch + 1, "options": options, "prepared": prepared.state_dict(),
                         "optimizer": opt.state_dict(), "rng": torch.get_rng_state(), "history": history},
                        state_path)
    if end < num_epochs:
        return None
    prepared.apply(disable_observer)
    move_exported_model_to_eval(prepared)
    return _make(prepared, loaded.model, input_size, {"method": "qat", "backend": backend, "form": form,
                                                      "qat_epochs": num_epochs, "lr": lr, "batch_norms_frozen": frozen,
                                                      "activation_observer": options["activation_observer"],
                                                      "qat_losses": history})


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


def is_quantized(model: nn.Module) -> bool:
    """An int8 model from ``lightops quantize`` (a :class:`QuantizedModel`, or one like it)."""
    return callable(getattr(model, "module_for", None)) and hasattr(model, "program")


def int8_module(loaded: LoadedModel, input_size: Sequence[int]) -> nn.Module:
    """The converted graph of ``loaded``'s int8 model taking the log-mel in dB, as a runtime file does: the
    checkpoint's normalisation first, in float."""
    from .module import InputNorm

    net = loaded.model.module_for(input_size)
    return nn.Sequential(InputNorm(*loaded.norm), net) if loaded.norm != (0.0, 1.0) else net


def float_agreement(loaded: LoadedModel, inputs: Sequence[torch.Tensor], outputs: torch.Tensor
                    ) -> Tuple[float, float]:
    """Top-1 agreement and largest probability difference of an int8 model's ``outputs`` (a runtime's) with its
    float model's on the same ``inputs`` (log-mel in dB; the checkpoint's normalisation applied)."""
    from .module import deploy_module

    reference = deploy_module(dataclasses.replace(loaded, model=loaded.model.float_model), fused=False)
    with torch.no_grad():
        ref = torch.cat([reference(x) for x in inputs])
    return top1_agreement(ref, outputs)


def top1_agreement(reference: torch.Tensor, other: torch.Tensor) -> Tuple[float, float]:
    """Top-1 agreement and largest softmax probability difference of two logit tensors ``(B, K)``."""
    agree = float((reference.argmax(-1) == other.argmax(-1)).float().mean())
    return agree, float((reference.softmax(-1) - other.softmax(-1)).abs().max())
