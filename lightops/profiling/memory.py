"""Memory as embedded targets count it: parameter bytes per precision, and the peak of live activations.

Parameter memory follows DCASE 2022-2024 Task 1 (low-complexity acoustic scene classification): the limit is
128 kB of parameter memory, every parameter counted (zero-valued ones included), at the precision the model is
stored in. With INT8 weights (1 byte per parameter) that allows 128,000 parameters; at FP16, 64,000; at FP32,
32,000. ``kB`` is 1000 bytes here, as in the challenge baselines (``128_000``); reading it as 1024 would allow
2.4 % more. Buffers (BatchNorm running statistics) are not parameters: at deployment they fold into the
preceding convolution.

Activation memory is *measured*, not estimated: :class:`ActivationTracker` is a ``TorchDispatchMode`` that sees
every ATen operator of one forward pass, registers each new storage an operator returns, and learns through a
weak-reference callback the moment that storage is freed. Its peak is the largest number of bytes alive at once.
"""
from __future__ import annotations

import copy
import weakref
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from torch.utils._python_dispatch import TorchDispatchMode

from ..validation import check_input_size, check_int

__all__ = [
    "DCASE_MAX_PARAM_BYTES", "ParamMemory", "param_memory", "ActivationTracker", "peak_activation_memory",
]

DCASE_MAX_PARAM_BYTES = 128_000  # DCASE 2022-24 Task 1: 128 kB of parameters (budget.DCASE_MAX_PARAMS at INT8)

Device = Union[str, torch.device]


# ---- shared set-up for one inference pass (also used by counting and latency) -----------------------------

def check_batch_size(batch_size: int, caller: str) -> int:
    """Validate a batch size (a positive int)."""
    return check_int(batch_size, f"{caller}: batch_size", minimum=1)


def module_device(module: nn.Module) -> Optional[torch.device]:
    """Device of the module's first parameter or buffer (None for a module without tensors)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return None


def on_device(module: nn.Module, device: Device) -> nn.Module:
    """``module`` itself when it already lives on ``device`` (or holds no tensors), else a copy moved there.

    The caller's module is never moved: profiling on ``"meta"`` must not wipe its weights.
    """
    device = torch.device(device)
    current = module_device(module)
    if current is None or current == device or (current.type == device.type and device.index is None):
        return module
    return copy.deepcopy(module).to(device)


def make_input(module: nn.Module, input_size: Tuple[int, ...], batch_size: int, device: Device) -> torch.Tensor:
    """Random input ``(batch_size, *input_size)`` in the module's floating dtype (float32 if it has none)."""
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    return torch.randn(batch_size, *input_size, device=device, dtype=dtype)


@contextmanager
def inference_context(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode, no autograd, parametrized weights evaluated once and cached; training flags restored after.

    Parametrizations (``torch.nn.utils.parametrizations.orthogonal`` in OSC exact mode) are evaluated before
    the pass under ``parametrize.cached()``: their own matrix products are a training-time cost, and a deployed
    model stores the resulting weight as a plain tensor.
    """
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad(), parametrize.cached():
            for m in module.modules():
                if parametrize.is_parametrized(m):
                    for name in m.parametrizations:
                        getattr(m, name)
            yield module
    finally:
        for m, mode in modes:
            m.training = mode


# ---- parameter memory -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParamMemory:
    """Bytes needed to store a module's parameters at three precisions.

    Attributes:
        params: number of parameters (trainable or not, each shared tensor once).
        fp32_bytes: 4 bytes per parameter.
        fp16_bytes: 2 bytes per parameter.
        int8_bytes: 1 byte per parameter, the precision DCASE 2022-24 Task 1 counts.
    """

    params: int
    fp32_bytes: int
    fp16_bytes: int
    int8_bytes: int

    @property
    def fits_dcase(self) -> bool:
        """Whether the INT8 parameter memory is within DCASE 2022-24 Task 1's 128 kB (128,000 bytes)."""
        return self.int8_bytes <= DCASE_MAX_PARAM_BYTES

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready), with ``fits_dcase``."""
        return dict(asdict(self), fits_dcase=self.fits_dcase)


def param_memory(module: nn.Module) -> ParamMemory:
    """Parameter memory of ``module`` at FP32, FP16 and INT8.

    Every parameter counts, frozen ones too (they still have to be stored); a tensor shared by several
    submodules counts once. Buffers do not count (see the module docstring). Parametrized weights count by
    their stored ``original`` tensor.

    Args:
        module: any ``nn.Module``.

    Returns:
        A :class:`ParamMemory`; ``int8_bytes <= DCASE_MAX_PARAM_BYTES`` is the DCASE check.
    """
    n = sum(p.numel() for p in module.parameters())
    return ParamMemory(params=n, fp32_bytes=4 * n, fp16_bytes=2 * n, int8_bytes=n)


# ---- activation memory ------------------------------------------------------------------------------------

def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


class ActivationTracker(TorchDispatchMode):
    """Track the bytes of tensor storages alive during a pass, and their peak.

    Every ATen operator run inside the mode is seen once (at the level a ``TorchDispatchMode`` sees it, after
    autograd and composite decompositions). Each storage an operator returns that is new, i.e. not the
    storage of one of its inputs, is added with ``storage.nbytes()``: views, in-place results and ``out=``
    results share an existing storage and are not counted again, and views of weights (or of any tensor
    created before the pass) are never counted. Python keeps one storage object per storage for as long as the
    storage lives, so a ``weakref`` callback on it fires exactly when the memory is released; the live total
    drops at that moment. The peak is taken after each operator, with its inputs and outputs both alive.

    Not seen: scratch memory inside a kernel (a convolution's packed weights or im2col buffer, cuDNN
    workspaces) and allocator rounding.

    Example::

        tracker = ActivationTracker()
        tracker.track(x)            # the input is alive through the pass
        with torch.no_grad(), tracker:
            y = model(x)
        tracker.peak_bytes

    Attributes:
        current_bytes: bytes alive now among the tracked storages.
        peak_bytes: the largest ``current_bytes`` seen.
        peak_op: name of the operator after which the peak was reached.
        num_ops: operators seen.
    """

    def __init__(self) -> None:
        super().__init__()
        self._live: Dict[int, int] = {}  # id(storage) -> nbytes
        self._refs: Dict[int, weakref.ref] = {}
        self.current_bytes = 0
        self.peak_bytes = 0
        self.peak_op: Optional[str] = None
        self.num_ops = 0

    def track(self, tensor: torch.Tensor) -> None:
        """Count ``tensor``'s storage as alive (for tensors made outside the mode, such as the input)."""
        self._add(tensor.untyped_storage())
        self._update_peak("input")

    def _add(self, storage: torch.UntypedStorage) -> None:
        key = id(storage)
        nbytes = storage.nbytes()
        if key in self._live or nbytes == 0:
            return
        self._live[key] = nbytes
        self._refs[key] = weakref.ref(storage, lambda _ref, key=key: self._release(key))
        self.current_bytes += nbytes

    def _release(self, key: int) -> None:
        self._refs.pop(key, None)
        self.current_bytes -= self._live.pop(key, 0)

    def _update_peak(self, op: str) -> None:
        if self.current_bytes > self.peak_bytes:
            self.peak_bytes, self.peak_op = self.current_bytes, op

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.num_ops += 1
        inputs = {id(t.untyped_storage()) for t in _tensors((args, kwargs))}
        for t in _tensors(out):
            storage = t.untyped_storage()
            if id(storage) not in inputs:  # a new allocation never aliases an input
                self._add(storage)
        self._update_peak(str(func))
        return out


def peak_activation_memory(module: nn.Module, input_size: Sequence[int], *, batch_size: int = 1,
                           device: Device = "cpu") -> int:
    """Peak bytes of activations alive at once during one forward pass (eval mode, no autograd).

    Measured with :class:`ActivationTracker`: the input counts (it is alive throughout), parameters, buffers and
    cached parametrized weights do not. The figure is what ``torch.cuda.max_memory_allocated()`` would report
    for the same pass on a GPU after subtracting the memory allocated before it (weights) and adding back the
    input, up to the CUDA caching allocator's rounding of each block to 512 bytes and any kernel workspace
    (cuDNN), which sit below the operators and are not seen here. When a tensor is freed is decided by Python
    reference counting, exactly as in a real run: in ``nn.Sequential`` the input of a layer stays alive until
    the next layer returns, so a chain ``x -> y1 -> y2 -> y3`` peaks at ``x + max(y1 + y2, y2 + y3)``.

    Args:
        module: the model or operator.
        input_size: ``(C, F, T)`` for a module taking ``(B, C, F, T)``.
        batch_size: batch of the pass (1: the embedded, per-clip figure).
        device: where to run; ``"meta"`` works (storages have sizes but no data) and leaves ``module`` untouched.

    Returns:
        Peak live activation bytes, at the module's dtype (FP32: 4 bytes per element).
    """
    size = check_input_size(input_size, "peak_activation_memory", ndim=None)
    batch_size = check_batch_size(batch_size, "peak_activation_memory")
    work = on_device(module, device)
    x = make_input(work, size, batch_size, device)
    tracker = ActivationTracker()
    with inference_context(work):
        tracker.track(x)
        with tracker:
            work(x)
    return tracker.peak_bytes

