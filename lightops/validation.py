"""Argument and input validation shared by operators, blocks, models, profiling and deployment.

User mistakes must surface as a ``ValueError``/``TypeError`` that names the argument and the expected value,
not as a traceback from deep inside ``torch.nn.functional``. ``check_input`` runs inside ``forward`` and is
registered with ``torch.fx.wrap`` so symbolic tracing records it as one opaque call instead of tracing into
its shape branches; callers must reach it as ``validation.check_input`` (module attribute) for that to work.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch

IntOrPair = Union[int, Tuple[int, int], Sequence[int]]


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its class name when the message is empty): what a one-line error
    quotes of a library's multi-line one."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def to_pair(value: IntOrPair, name: str) -> Tuple[int, int]:
    """Return ``(frequency, time)`` from an int or a 2-sequence of positive ints, naming ``name`` on error."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair of ints (frequency, time), got {value!r}")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints (frequency, time), got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be >= 1 on both axes (frequency, time), got {value!r}")
    return pair


def check_int(value: object, name: str, *, minimum: Optional[int] = None, maximum: Optional[int] = None,
              optional: bool = False) -> Optional[int]:
    """Check that ``value`` is an int (not a bool) in ``[minimum, maximum]`` and return it.

    Args:
        value: the value to check.
        name: the argument's name, used in the error.
        minimum: smallest accepted value (None: no lower bound).
        maximum: largest accepted value (None: no upper bound).
        optional: accept ``None`` (and return it).

    Raises:
        TypeError: not an int (bools are refused: ``True`` is not a count).
        ValueError: outside the range.
    """
    if value is None and optional:
        return None
    rng = _range_text(minimum, maximum, "int")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be {rng}{' or None' if optional else ''}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {rng}, got {value}")
    return value


def check_float(value: object, name: str, *, minimum: Optional[float] = None, maximum: Optional[float] = None,
                open_min: bool = False, open_max: bool = False, optional: bool = False) -> Optional[float]:
    """Check that ``value`` is a finite real number (int or float, not a bool) in a range and return it as float.

    Args:
        value: the value to check.
        name: the argument's name, used in the error.
        minimum: lower bound (None: none).
        maximum: upper bound (None: none).
        open_min: exclude ``minimum`` itself (``value > minimum``).
        open_max: exclude ``maximum`` itself (``value < maximum``).
        optional: accept ``None`` (and return it).

    Raises:
        TypeError: not a real number.
        ValueError: NaN, infinite or outside the range.
    """
    if value is None and optional:
        return None
    lo = "(" if open_min else "["
    hi = ")" if open_max else "]"
    rng = (f"a number in {lo}{'-inf' if minimum is None else minimum}, {'inf' if maximum is None else maximum}{hi}"
           if minimum is not None or maximum is not None else "a finite number")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {rng}{' or None' if optional else ''}, got {value!r}")
    v = float(value)
    bad = not math.isfinite(v)
    if minimum is not None:
        bad = bad or (v <= minimum if open_min else v < minimum)
    if maximum is not None:
        bad = bad or (v >= maximum if open_max else v > maximum)
    if bad:
        raise ValueError(f"{name} must be {rng}, got {value}")
    return v


def _range_text(minimum: Optional[int], maximum: Optional[int], kind: str) -> str:
    if minimum is not None and maximum is not None:
        return f"an {kind} in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"an {kind} >= {minimum}"
    if maximum is not None:
        return f"an {kind} <= {maximum}"
    return f"an {kind}"


def check_channels(value: int, name: str) -> int:
    """Check that a channel count is a positive int."""
    return check_int(value, name, minimum=1)


def check_ratio(value: float, name: str) -> float:
    """Check that a ratio lies in (0, 1]."""
    return check_float(value, name, minimum=0.0, maximum=1.0, open_min=True)


def check_input_size(input_size: Sequence[int], name: str, in_chs: Optional[int] = None, *, ndim: Optional[int] = 3,
                     min_size: Optional[Sequence[int]] = None) -> Tuple[int, ...]:
    """Validate an input size such as ``(C, F, T)`` (batch excluded) and return it as a tuple of ints.

    Args:
        input_size: the size to check.
        name: who asks (named in the error).
        in_chs: the channel count ``C`` must equal, if given.
        ndim: the number of entries required (None: any non-empty size, e.g. ``(N,)`` for a linear layer).
        min_size: smallest accepted value of each entry (e.g. a model's ``(in_chans, min_bins, min_frames)``).

    Raises:
        ValueError: wrong length, entries that are not positive ints, wrong channel count, or smaller than
            ``min_size``.
    """
    what = "(C, F, T)" if ndim == 3 else "a size such as (C, F, T)"
    if not isinstance(input_size, (tuple, list, torch.Size)) or len(input_size) == 0 or (
            ndim is not None and len(input_size) != ndim):
        raise ValueError(f"{name}: input_size must be {what}, got {input_size!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in input_size):
        raise ValueError(f"{name}: input_size must hold ints {what}, got {input_size!r}")
    size = tuple(int(v) for v in input_size)
    if min(size) < 1:
        raise ValueError(f"{name}: input_size {what} must be positive, got {size}")
    if in_chs is not None and size[0] != in_chs:
        raise ValueError(f"{name}: input_size has C={size[0]} channels, expected in_chs={in_chs}")
    if min_size is not None and any(v < m for v, m in zip(size, min_size)):
        need = (f"F >= {min_size[1]} mel bins and T >= {min_size[2]} frames" if len(size) == 3 else
                f"at least {tuple(min_size)}")
        raise ValueError(f"{name}: input_size {what} = {size} is too small for this model: it needs {need}")
    return size


def check_model_input_size(model: object, input_size: Sequence[int], name: str) -> Tuple[int, ...]:
    """:func:`check_input_size` against a model's ``in_chans``, ``min_bins`` and ``min_frames`` (when it has them).

    Raises:
        ValueError: not ``(C, F, T)``, the wrong channel count, or smaller than the model accepts.
    """
    return check_input_size(input_size, name, getattr(model, "in_chans", None),
                            min_size=(1, getattr(model, "min_bins", 1), getattr(model, "min_frames", 1)))


def conv_out_len(length: int, stride: int) -> int:
    """Output length of a 'same'-padded convolution (odd kernel, padding = dilation * (k - 1) / 2)."""
    return (length - 1) // stride + 1


@torch.jit.unused
def _autocast_enabled(x: torch.Tensor) -> bool:
    """Whether autocast is on for ``x``'s device (eager and export only: TorchScript cannot ask)."""
    return torch.is_autocast_enabled(x.device.type)


@torch.fx.wrap
def check_dtype(x: torch.Tensor, weight: torch.Tensor, name: str) -> None:
    """Raise ``ValueError`` unless ``x`` is floating point and of ``weight``'s dtype (any floating dtype under
    autocast, which casts for itself). Torch's own message for a float64 input (``expected scalar type Double but
    found Float``, from deep inside the first convolution) names neither the input nor the fix; a float64 tensor is
    what ``torch.from_numpy`` gives for NumPy's default arrays."""
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point input (a log-mel map), got dtype {x.dtype}")
    if x.dtype != weight.dtype and (torch.jit.is_scripting() or not _autocast_enabled(x)):
        raise ValueError(f"{name}: the input is {x.dtype} but the model's weights are {weight.dtype}; convert the "
                         f"input (x.to({weight.dtype})) or the model (model.to({x.dtype}))")


@torch.fx.wrap
def check_input(x: torch.Tensor, in_chs: int, name: str) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(B, in_chs, F, T)`` with non-empty F and T (``TypeError`` for what is
    not a tensor)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor input (B, C, F, T) with C={in_chs}, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name}: expected a 4-D input (B, C, F, T) with C={in_chs}, got shape {list(x.shape)}")
    if x.shape[1] != in_chs:
        raise ValueError(f"{name}: expected C={in_chs} input channels in (B, C, F, T), got shape {list(x.shape)}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name}: expected F >= 1 and T >= 1 in (B, C, F, T), got shape {list(x.shape)}")
