"""The training configuration: every option a run depends on, validated on construction.

``lightops train`` builds a :class:`TrainConfig` from its options; :func:`lightops.train.train` takes one. A
finished run stores it in its checkpoint and ``metrics.json`` (``to_dict``), so a run can be resumed or repeated
from its files alone.
"""
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Optional, Tuple

from ..data import TRAIN_FRACTIONS
from ..models import DSSDNCfg

__all__ = ["TrainConfig", "RESUME_FREE", "RECIPES", "recipe_config"]

RECIPES: Dict[str, Dict[str, Any]] = {
    "default": {},
    # CP-JKU's DCASE 2023 Task 1 recipe and the DCASE 2024/2025 baselines: Freq-MixStyle (p 0.4, alpha 0.3),
    # device impulse responses (p 0.6; simulated responses unless a folder of measured ones is given), time rolling;
    # mixup and SpecAugment as in the default recipe. Distillation is on when teachers are given.
    "dcase": dict(freq_mixstyle=0.4, freq_mixstyle_alpha=0.3, dir="simulated", dir_p=0.6, roll=True),
}
"""Named presets of :class:`TrainConfig` options; options given explicitly win over the preset."""

# Options that may differ between a run and its --resume: they change where and how fast, not what is computed
# (epochs is allowed too, with a warning: it changes the learning-rate schedule from the resumed epoch on).
RESUME_FREE = frozenset({"out", "epochs", "stop_after", "workers", "quiet", "resume", "overwrite", "threads",
                         "eval_batch_size", "eval_every", "device", "accum_steps", "cache"})


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; ``lightops train`` builds one from its options."""

    model: str = "dssdn_small"  # lightops model, "dcase2020_baseline", or any timm model name
    model_kwargs: Dict[str, Any] = field(default_factory=dict)  # extra model arguments, e.g. {"width": 0.5}
    data: str = "synthetic"  # "synthetic" or the folder of a TAU Urban Acoustic Scenes 2020 Mobile download
    out: str = "runs/train"  # output folder: last.pt, metrics.json, curves.png, confusion.png
    epochs: int = 10  # total epochs of the run (the learning-rate schedule spans them)
    stop_after: Optional[int] = None  # train at most this many epochs in this call, then stop (resume later)
    batch_size: int = 32  # clips per micro-batch on each process; global batch = this x processes x accum_steps
    accum_steps: int = 1  # micro-batches accumulated per optimizer step
    opt: str = "adamw"  # timm optimizer name
    lr: float = 2e-3  # peak learning rate
    weight_decay: float = 0.01  # decoupled weight decay (timm skips biases and norm parameters)
    sched: str = "cosine"  # timm scheduler name, stepped per update
    warmup_epochs: int = 1  # linear warm-up epochs (capped at epochs - 1)
    warmup_lr: float = 1e-5  # learning rate at the start of the warm-up
    min_lr: float = 1e-5  # final learning rate of the cosine
    seed: int = 0  # seed of initialisation, data order and augmentation
    mixup_alpha: float = 0.3  # Beta(alpha, alpha) of mixup; 0 disables mixup
    label_smoothing: float = 0.0  # label smoothing of the targets
    specaug: bool = True  # SpecAugment frequency and time masking in training
    freq_mask: Optional[int] = None  # widest frequency mask in mel bins (None: n_mels // 8)
    time_mask: Optional[int] = None  # widest time mask in frames (None: frames // 8)
    ortho_alpha: float = 0.1  # weight of OSC's orthonormal penalty (added when the model has soft OSC)
    sample_rate: int = 44100  # Hz, of the waveforms and the front end
    n_fft: int = 4096  # front end FFT size
    hop_length: int = 1024  # front end hop in samples
    n_mels: int = 256  # mel bins of the model input
    clip_seconds: Optional[float] = None  # clip length (None: 1 s synthetic, 10 s TAU)
    num_clips: Optional[int] = None  # synthetic training clips (None: 1000)
    num_eval_clips: Optional[int] = None  # synthetic evaluation clips (None: half of num_clips)
    data_seed: int = 0  # seed of the synthetic data set
    fold: int = 1  # TAU cross-validation fold
    resample: bool = False  # resample TAU files at another rate instead of failing
    norm_clips: int = 64  # training clips whose log-mel mean and std normalise the input
    cache: bool = False  # read every clip once (with `workers` processes) and keep them in memory
    workers: int = 0  # DataLoader worker processes
    amp: bool = False  # mixed precision (bfloat16 on CPU, float16 with loss scaling on CUDA)
    sync_bn: bool = False  # under DDP on CUDA, BatchNorm statistics over the global batch (SyncBatchNorm)
    device: Optional[str] = None  # "cpu" or "cuda" (None: CUDA when available)
    eval_every: int = 1  # evaluate every this many epochs (and always after the last)
    eval_batch_size: Optional[int] = None  # clips per evaluation batch (None: 2 x batch_size)
    threads: Optional[int] = None  # torch intra-op threads, applied by the command line (None: torch's default)
    quiet: bool = False  # no progress bars or per-epoch lines
    resume: bool = False  # continue from OUT/last.pt
    overwrite: bool = False  # start over in an OUT that already holds a run
    recipe: str = "default"  # the preset the options came from (RECIPES); informational once resolved
    freq_mixstyle: float = 0.0  # probability of Freq-MixStyle per batch (0: off; dcase recipe: 0.4)
    freq_mixstyle_alpha: float = 0.3  # Beta(alpha, alpha) of Freq-MixStyle's mixing weights
    dir: Optional[str] = None  # device impulse responses: "simulated" or a folder of IR files (None: off)
    dir_p: float = 0.6  # probability per clip of a device response
    roll: bool = False  # random circular time shift of each training waveform
    train_fraction: float = 1.0  # DCASE 2024 data-efficient subset of the training split (stratified)
    teacher: Tuple[str, ...] = ()  # checkpoints of teacher models (an ensemble: mean of their logits)
    teacher_logits: Optional[str] = None  # a file of stored teacher logits (`lightops logits`) instead
    kd_temperature: float = 2.0  # softmax temperature of distillation
    kd_weight: float = 0.02  # weight of the label loss under distillation (the KD term gets 1 - kd_weight)

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "accum_steps", "sample_rate", "n_fft", "hop_length", "n_mels", "fold",
                    "norm_clips", "eval_every")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        optional_positive = ("stop_after", "num_clips", "num_eval_clips", "eval_batch_size", "threads")
        for name in optional_positive:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        for name in ("warmup_epochs", "workers", "seed", "data_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        for name in ("freq_mask", "time_mask"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an int >= 0 or None, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        for name in ("weight_decay", "mixup_alpha", "ortho_alpha", "warmup_lr", "min_lr"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.clip_seconds is not None and not self.clip_seconds > 0:
            raise ValueError(f"clip_seconds must be > 0, got {self.clip_seconds!r}")
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"model_kwargs must be a dict, got {type(self.model_kwargs).__name__}")
        if isinstance(self.model_kwargs.get("cfg"), DSSDNCfg):  # JSON-ready, for checkpoints and metrics.json
            object.__setattr__(self, "model_kwargs", dict(self.model_kwargs, cfg=self.model_kwargs["cfg"].to_dict()))
        if not isinstance(self.data, str) or not self.data:
            raise ValueError(f"data must be 'synthetic' or a folder path, got {self.data!r}")
        self._check_recipe()

    def _check_recipe(self) -> None:
        """Validate the device-robustness and distillation options."""
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {list(RECIPES)}, got {self.recipe!r}")
        for name in ("freq_mixstyle", "dir_p", "kd_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("freq_mixstyle_alpha", "kd_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.train_fraction not in TRAIN_FRACTIONS:
            raise ValueError(f"train_fraction must be one of {list(TRAIN_FRACTIONS)} (DCASE 2024 subsets), got "
                             f"{self.train_fraction!r}")
        if isinstance(self.teacher, str):
            object.__setattr__(self, "teacher", (self.teacher,))
        object.__setattr__(self, "teacher", tuple(self.teacher))
        if self.teacher and self.teacher_logits:
            raise ValueError("give teacher checkpoints or a teacher_logits file, not both")

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def recipe_config(recipe: str = "default", **options: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a preset of :data:`RECIPES` and options that override it.

    Example: ``recipe_config("dcase", model="dssdn_small", teacher=("runs/large/last.pt",))``.
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {list(RECIPES)}, got {recipe!r}")
    return TrainConfig(**{**RECIPES[recipe], **options, "recipe": recipe})
