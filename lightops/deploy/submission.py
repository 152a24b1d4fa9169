"""The model of a DCASE 2025 Task 1 submission package: a general model, one model per device, the front end.

:class:`SubmissionModel` is what a package's ``load_model()`` returns (:mod:`lightops.deploy.package` writes the
package). Its parameters are held at the package's dtype (float16 or float32), so that the organisers' counting
(:func:`lightops.profiling.dcase.dcase_complexity`) of ``model_for_device(d)`` gives the bytes the package ships.
It runs in half precision on CUDA; on the CPU each model runs as a float32 copy of the stored weights (float32
compute on float16-rounded weights). A file's logits are the log of the mean softmax over its windows, cut as
``lightops predict`` cuts them, so the labels equal ``lightops predict``'s.
"""
import copy
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

from ..audio import FrontEnd
from ..checkpoint import load_model, read_checkpoint
from ..data import fit_length, read_audio
from ..fileio import PathLike
from .predict import window_starts

__all__ = ["SubmissionModel", "state_at_dtype", "DTYPES"]

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


def state_at_dtype(state: Dict[str, torch.Tensor], dtype: str) -> Dict[str, torch.Tensor]:
    """A state dict with every floating-point tensor cast to ``dtype`` (``"fp16"`` or ``"fp32"``)."""
    target = DTYPES[dtype]
    return {k: v.to(target) if v.is_floating_point() else v for k, v in state.items()}


class SubmissionModel(nn.Module):
    """A general model and its device models at one dtype, with the front end and class names.

    Args:
        general: the model for devices without their own.
        device_models: ``{device id: model}``.
        frontend: waveform-to-log-mel module (float32).
        classes: class names in output order.
        clip_samples: samples of one model input (the window).
        input_size: ``(C, F, T)`` of one input.
    """

    def __init__(self, general: nn.Module, device_models: Dict[str, nn.Module], frontend: FrontEnd,
                 classes: Sequence[str], clip_samples: int, input_size: Sequence[int]) -> None:
        super().__init__()
        self.general = general.eval()
        self.device_models = nn.ModuleDict({d: m.eval() for d, m in device_models.items()})
        self.frontend = frontend.eval()
        self.classes = list(classes)
        self.clip_samples = int(clip_samples)
        self.input_size = tuple(int(v) for v in input_size)
        self._compute: Dict[str, nn.Module] = {}

    @classmethod
    def load(cls, path: PathLike) -> "SubmissionModel":
        """The model of a packaged checkpoint, its parameters at the dtype the file stores them in."""
        ckpt = read_checkpoint(path)
        loaded = load_model(ckpt)
        first = next(v for v in ckpt["state_dict"].values() if v.is_floating_point())
        cast = (lambda m: m.half()) if first.dtype == torch.float16 else (lambda m: m.float())
        size = loaded.input_size or loaded.default_input_size()
        return cls(cast(loaded.model), {d: cast(m) for d, m in loaded.device_models.items()}, loaded.front_end(),
                   loaded.classes or [str(i) for i in range(loaded.model.num_classes)], loaded.clip_samples(), size)

    @property
    def sample_rate(self) -> int:
        """Rate the model expects, Hz."""
        return self.frontend.logmel.sample_rate

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the parameters are held at."""
        return next(self.general.parameters()).dtype

    def model_for_device(self, device_id: Optional[str]) -> nn.Module:
        """The device's model, or the general one for an unknown device (or None)."""
        return self.device_models[device_id] if device_id in self.device_models else self.general

    def read(self, path: PathLike) -> torch.Tensor:
        """One file as float32 mono ``(samples,)`` at :attr:`sample_rate` (resampled if needed).

        Raises:
            lightops.data.AudioFileError: unreadable or empty.
            lightops.data.NonFiniteError: NaN or infinite samples (an ``AudioFileError`` and a ``ValueError``).
        """
        return torch.from_numpy(read_audio(path, self.sample_rate, resample_audio=True))

    def _runner(self, device_id: Optional[str], cuda: bool) -> nn.Module:
        key = f"{device_id if device_id in self.device_models else ''}|{cuda}"
        if key not in self._compute:
            model = self.model_for_device(device_id)
            self._compute[key] = model.cuda() if cuda else copy.deepcopy(model).float()
        return self._compute[key]

    @torch.inference_mode()
    def logits(self, waveforms: Sequence[torch.Tensor], device_ids: Sequence[Optional[str]], *, batch_size: int = 64,
               use_cuda: bool = True) -> List[torch.Tensor]:
        """One logit tensor ``(K,)`` per recording: the log of the mean softmax over its windows.

        Args:
            waveforms: recordings ``(samples,)`` at :attr:`sample_rate`.
            device_ids: one device id (or None) per recording.
            batch_size: windows per model call.
            use_cuda: run on CUDA when available (at the stored dtype); else the CPU (float32 compute).
        """
        if len(waveforms) != len(device_ids):
            raise ValueError(f"{len(waveforms)} recordings but {len(device_ids)} device ids")
        cuda = bool(use_cuda) and torch.cuda.is_available()
        frontend = self.frontend.cuda() if cuda else self.frontend.cpu()
        out = []
        for wave, device in zip(waveforms, device_ids):
            model, x = self._runner(device, cuda), np.asarray(wave, dtype=np.float32)
            starts = window_starts(x.shape[0], self.clip_samples, self.clip_samples)
            probs = []
            for i in range(0, len(starts), batch_size):
                batch = torch.from_numpy(np.stack([fit_length(x[s:s + self.clip_samples], self.clip_samples)
                                                   for s in starts[i:i + batch_size]]))
                mel = frontend(batch.cuda() if cuda else batch)
                logits = model(mel.to(next(model.parameters()).dtype)).float()
                probs.append(torch.softmax(logits, dim=-1).cpu())
            out.append(torch.log(torch.cat(probs).mean(dim=0)))
        return out
