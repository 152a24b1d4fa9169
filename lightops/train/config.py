"""The training configuration: every option a run depends on, defined once, validated on construction.

Each field of :class:`TrainConfig` carries its help text (``field(metadata=...)``, written by :func:`option`);
``lightops train`` generates its options from the fields (:func:`lightops.cli._args.add_config_arguments`), so a
new field is a new command-line option. Defaults that depend on other options (the clip length, the synthetic
split sizes) are resolved here, by :attr:`TrainConfig.clip_length` and :meth:`TrainConfig.synthetic_clips`. A run
stores its config in its checkpoint and ``metrics.json`` (``to_dict``), so it can be resumed or repeated from its
files alone.
"""
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Callable, Dict, Optional, Tuple

from ..data import TRAIN_FRACTIONS
from ..models import DSSDNCfg
from ..validation import check_float, check_int

__all__ = ["TrainConfig", "RESUME_FREE", "RECIPES", "recipe_config", "option", "SYNTHETIC", "default_clip_seconds",
           "SYNTHETIC_CLIP_SECONDS", "TAU_CLIP_SECONDS", "SYNTHETIC_TRAIN_CLIPS"]

SYNTHETIC = "synthetic"
"""The ``data`` value of the embedded synthetic scenes (any other value is a TAU 2020 Mobile folder)."""
SYNTHETIC_CLIP_SECONDS = 1.0  # synthetic scenes: 1-s clips (the DCASE 2024/2025 Task 1 length)
TAU_CLIP_SECONDS = 10.0  # TAU Urban Acoustic Scenes 2020 Mobile: its 10-s recordings
SYNTHETIC_TRAIN_CLIPS = 1000  # synthetic training clips when num_clips is not given

RECIPES: Dict[str, Dict[str, Any]] = {
    "default": {},
    # The DCASE 2025 Task 1 baseline's recipe: Freq-MixStyle (p 0.4, alpha 0.3), a time roll of at most 0.1 s,
    # frequency masks only (no time masks) and no mixup. Device impulse responses stay off unless given (--dir FOLDER
    # of measured responses, or simulated): the simulated bank resembles the simulated devices it is judged on, and
    # stacked on mixup and MixStyle it cost 4-7 points at the training lengths users run (docs/training.md).
    # Distillation is on when teachers are given.
    "dcase": dict(freq_mixstyle=0.4, freq_mixstyle_alpha=0.3, roll=True, mixup_alpha=0.0, time_mask=0),
}
"""Named presets of :class:`TrainConfig` options; options given explicitly win over the preset."""

# Options that may differ between a run and its --resume: they change where and how fast, not what is computed
# (epochs is allowed too, with a warning: it changes the learning-rate schedule from the resumed epoch on).
RESUME_FREE = frozenset({"out", "epochs", "stop_after", "workers", "quiet", "resume", "overwrite", "threads",
                         "eval_batch_size", "eval_every", "device", "accum_steps", "cache"})


def option(default: Any = MISSING, help: str = "", *, factory: Optional[Callable[[], Any]] = None,
           **cli: Any) -> Any:
    """A dataclass field with its help text and, where the name or type is not enough, its command-line form.

    Args:
        default: the default value (or give ``factory``).
        help: what the option does; the command line appends the default.
        factory: ``default_factory`` for mutable defaults.
        cli: command-line details read by :func:`lightops.cli._args.add_config_arguments`: ``flag`` (the option
            name when not ``--field-name``), ``choices``, ``metavar``, ``group`` (a section of the help).
    """
    meta = dict(help=help, **cli)
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def default_clip_seconds(data: str) -> float:
    """The clip length when none is given: 1 s for synthetic scenes, 10 s for a TAU 2020 Mobile folder."""
    return SYNTHETIC_CLIP_SECONDS if data == SYNTHETIC else TAU_CLIP_SECONDS


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; ``lightops train`` builds one from its options.

    Each field's help text is its ``metadata["help"]`` (:func:`option`); ``lightops train --help`` shows them with
    their defaults.
    """

    model: str = option("dssdn_small", "model: a lightops model, a reference model such as dcase2020_baseline, or "
                                       "any timm model name")
    model_kwargs: Dict[str, Any] = option(factory=dict, help="JSON object of extra model arguments, e.g. "
                                                             "'{\"width\": 0.5}'")
    data: str = option(SYNTHETIC, f"'{SYNTHETIC}' or the folder of a TAU Urban Acoustic Scenes 2020 Mobile download")
    out: str = option("runs/train", "output folder: last.pt, metrics.json, curves.png, confusion.png")
    epochs: int = option(10, "total epochs of the run (the learning-rate schedule spans them)")
    stop_after: Optional[int] = option(None, "train at most this many epochs in this call, then stop (resume later)")
    batch_size: int = option(32, "clips per micro-batch on each process; global batch = this x processes x "
                                 "accum_steps")
    accum_steps: int = option(1, "micro-batches accumulated per optimizer step")
    opt: str = option("adamw", "timm optimizer name")
    lr: float = option(2e-3, "peak learning rate")
    weight_decay: float = option(0.01, "decoupled weight decay (timm skips biases and norm parameters)")
    sched: str = option("cosine", "timm scheduler name, stepped per update")
    warmup_epochs: int = option(1, "linear warm-up epochs (capped at epochs - 1)")
    warmup_lr: float = option(1e-5, "learning rate at the start of the warm-up")
    min_lr: float = option(1e-5, "final learning rate of the cosine")
    seed: int = option(0, "seed of initialisation, data order and augmentation")
    mixup_alpha: float = option(0.3, "Beta(alpha, alpha) of mixup; 0 disables mixup", flag="--mixup")
    label_smoothing: float = option(0.0, "label smoothing of the targets")
    specaug: bool = option(True, "SpecAugment frequency and time masking in training")
    freq_mask: Optional[int] = option(None, "widest frequency mask in mel bins (default n_mels // 8)")
    time_mask: Optional[int] = option(None, "widest time mask in frames (default frames // 8)")
    ortho_alpha: float = option(0.1, "weight of OSC's orthonormal penalty (added when the model has soft OSC)")
    sample_rate: int = option(44100, "Hz, of the waveforms and the front end")
    n_fft: int = option(4096, "front end FFT size")
    hop_length: int = option(1024, "front end hop in samples")
    n_mels: int = option(256, "mel bins of the model input")
    clip_seconds: Optional[float] = option(None, f"clip length in seconds (default {SYNTHETIC_CLIP_SECONDS:g} s "
                                                 f"for synthetic scenes, {TAU_CLIP_SECONDS:g} s for a TAU folder)")
    num_clips: Optional[int] = option(None, f"synthetic training clips (default {SYNTHETIC_TRAIN_CLIPS})")
    num_eval_clips: Optional[int] = option(None, "synthetic evaluation clips (default half of num_clips)")
    data_seed: int = option(0, "seed of the synthetic data set and of the training subset")
    synthetic_devices: str = option("tau", "device family of the synthetic scenes: 'tau' (responses + compression) or "
                                    "'eq' (equalisation, codec band limit, clipping, coloured noise)",
                                    choices=("tau", "eq"))
    fold: int = option(1, "TAU cross-validation fold")
    resample: bool = option(False, "resample TAU files at another rate instead of failing")
    norm_clips: int = option(64, "training clips whose log-mel mean and std normalise the input")
    cache: bool = option(False, "read every clip once (with `workers` processes) and keep them in memory")
    workers: int = option(0, "DataLoader worker processes")
    amp: bool = option(False, "mixed precision (bfloat16 on CPU, float16 with loss scaling on CUDA)")
    sync_bn: bool = option(False, "under DDP on CUDA, BatchNorm statistics over the global batch (SyncBatchNorm)")
    device: Optional[str] = option(None, "cpu or cuda (default: cuda when available)")
    eval_every: int = option(1, "evaluate every this many epochs (and always after the last)")
    eval_batch_size: Optional[int] = option(None, "clips per evaluation batch (default 2 x batch_size)")
    threads: Optional[int] = option(None, "torch intra-op threads, applied by the command line (default: torch's)")
    quiet: bool = option(False, "no progress bars or per-epoch lines")
    resume: bool = option(False, "continue the run in out from its last.pt")
    overwrite: bool = option(False, "start over in an out folder that already holds a run")
    recipe: str = option("default", "the preset of the recipe options (RECIPES); options given explicitly win",
                         choices=tuple(RECIPES), group="recipe")
    freq_mixstyle: float = option(0.0, "probability of Freq-MixStyle per batch (0: off)", metavar="P",
                                  group="recipe")
    freq_mixstyle_alpha: float = option(0.3, "Beta(alpha, alpha) of Freq-MixStyle's mixing weights", metavar="A",
                                        group="recipe")
    freq_dsu: float = option(0.0, "probability per batch of Freq-DSU: each clip's per-bin statistics drawn from the "
                                  "batch's own spread of them (lightops.audio.FreqDSU; 0: off)", metavar="P",
                             group="recipe")
    freq_dsu_factor: float = option(1.0, "scale of Freq-DSU's drawn deviations against the batch's spread",
                                    metavar="K", group="recipe")
    filter_augment: float = option(0.0, "probability per clip of FilterAugment: a random piecewise-linear frequency "
                                        "response of up to +-filter_augment_db dB added to the log-mel "
                                        "(lightops.audio.FilterAugment; 0: off)", metavar="P", group="recipe")
    filter_augment_db: float = option(6.0, "largest gain of FilterAugment's responses, dB either way", metavar="DB",
                                      group="recipe")
    dir: Optional[str] = option(None, "device impulse responses: 'simulated' or a folder of IR audio files; "
                                      "off unless given", metavar="SOURCE", group="recipe")
    dir_p: float = option(0.6, "probability per clip of a device response", metavar="P", group="recipe")
    roll: bool = option(False, "random circular time shift of each training waveform", group="recipe")
    roll_seconds: float = option(0.1, "largest shift of the time roll, seconds either way (the DCASE 2025 baseline's)",
                                 metavar="S", group="recipe")
    train_fraction: float = option(1.0, "DCASE 2024 data-efficient subset of the training split, stratified by "
                                        "class and device", choices=TRAIN_FRACTIONS, group="recipe")
    teacher: Tuple[str, ...] = option((), "checkpoints of teacher models (an ensemble: mean of their logits)",
                                      metavar="CKPT", group="recipe")
    teacher_logits: Optional[str] = option(None, "a file of stored teacher logits (lightops logits) instead of "
                                                 "teacher", metavar="FILE", group="recipe")
    kd_temperature: float = option(2.0, "softmax temperature of distillation", group="recipe")
    kd_weight: float = option(0.02, "weight of the label loss under distillation (the KD term gets 1 - kd_weight)",
                              group="recipe")
    device_adversarial: float = option(0.0, "weight of device-adversarial training: a device classifier on the model's "
                                            "pooled features whose gradient reaches the model reversed, ramped up "
                                            "over the run (DANN; lightops.train.adversary; 0: off)", metavar="W",
                                       group="recipe")
    model_ema: float = option(0.0, "decay of an exponential moving average of the weights (timm's ModelEmaV3, its "
                                   "decay warmed up over the first updates); the average is what is evaluated and "
                                   "saved as the model (0: off)", metavar="DECAY", group="recipe")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "accum_steps", "sample_rate", "n_fft", "hop_length", "n_mels", "fold",
                     "norm_clips", "eval_every"):
            check_int(getattr(self, name), name, minimum=1)
        for name in ("stop_after", "num_clips", "num_eval_clips", "eval_batch_size", "threads"):
            check_int(getattr(self, name), name, minimum=1, optional=True)
        for name in ("warmup_epochs", "workers", "seed", "data_seed"):
            check_int(getattr(self, name), name, minimum=0)
        for name in ("freq_mask", "time_mask"):
            check_int(getattr(self, name), name, minimum=0, optional=True)
        check_float(self.lr, "lr", minimum=0.0, open_min=True)
        for name in ("weight_decay", "mixup_alpha", "ortho_alpha", "warmup_lr", "min_lr", "device_adversarial"):
            check_float(getattr(self, name), name, minimum=0.0)
        check_float(self.label_smoothing, "label_smoothing", minimum=0.0, maximum=1.0, open_max=True)
        check_float(self.clip_seconds, "clip_seconds", minimum=0.0, open_min=True, optional=True)
        check_float(self.roll_seconds, "roll_seconds", minimum=0.0)
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"model_kwargs must be a dict, got {type(self.model_kwargs).__name__}")
        if isinstance(self.model_kwargs.get("cfg"), DSSDNCfg):  # JSON-ready, for checkpoints and metrics.json
            object.__setattr__(self, "model_kwargs", dict(self.model_kwargs, cfg=self.model_kwargs["cfg"].to_dict()))
        if not isinstance(self.data, str) or not self.data:
            raise ValueError(f"data must be {SYNTHETIC!r} or a folder path, got {self.data!r}")
        self._check_recipe()

    def _check_recipe(self) -> None:
        """Validate the device-robustness and distillation options."""
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {list(RECIPES)}, got {self.recipe!r}")
        for name in ("freq_mixstyle", "dir_p", "kd_weight", "filter_augment", "freq_dsu"):
            check_float(getattr(self, name), name, minimum=0.0, maximum=1.0)
        for name in ("freq_mixstyle_alpha", "kd_temperature", "filter_augment_db", "freq_dsu_factor"):
            check_float(getattr(self, name), name, minimum=0.0, open_min=True)
        check_float(self.model_ema, "model_ema", minimum=0.0, maximum=1.0, open_max=True)
        if self.train_fraction not in TRAIN_FRACTIONS:
            raise ValueError(f"train_fraction must be one of {list(TRAIN_FRACTIONS)} (DCASE 2024 subsets), got "
                             f"{self.train_fraction!r}")
        if isinstance(self.teacher, str):
            object.__setattr__(self, "teacher", (self.teacher,))
        object.__setattr__(self, "teacher", tuple(self.teacher))
        if self.teacher and self.teacher_logits:
            raise ValueError("give teacher checkpoints or a teacher_logits file, not both")

    @property
    def synthetic(self) -> bool:
        """Whether the run uses the embedded synthetic scenes (else a TAU 2020 Mobile folder)."""
        return self.data == SYNTHETIC

    @property
    def clip_length(self) -> float:
        """Seconds of one clip: ``clip_seconds``, else :func:`default_clip_seconds` of ``data``."""
        return self.clip_seconds or default_clip_seconds(self.data)

    def synthetic_clips(self) -> Tuple[int, int]:
        """``(training, evaluation)`` clips of the synthetic split: ``num_clips`` (default
        :data:`SYNTHETIC_TRAIN_CLIPS`) and ``num_eval_clips`` (default half of the training clips)."""
        n_train = self.num_clips or SYNTHETIC_TRAIN_CLIPS
        return n_train, self.num_eval_clips or max(n_train // 2, 1)

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
