"""Tiny settings shared by the training tests: 0.5-s clips at 16 kHz, 64 mel bins, DSSDN-Small at width 0.25."""
from typing import Any, Dict, List, Sequence

SR = 16000
SECONDS = 0.5

# Keyword arguments of lightops.train.TrainConfig.
TINY: Dict[str, Any] = dict(model="dssdn_small", model_kwargs={"width": 0.25}, batch_size=8, num_clips=40,
                            num_eval_clips=20, sample_rate=SR, n_fft=1024, hop_length=256, n_mels=64,
                            clip_seconds=SECONDS, warmup_epochs=0, threads=1, quiet=True)

# The same as command-line options.
TINY_ARGS: List[str] = ["--model", "dssdn_small", "--width", "0.25", "--batch-size", "8", "--num-clips", "40",
                        "--num-eval-clips", "20", "--sample-rate", str(SR), "--n-fft", "1024", "--hop-length", "256",
                        "--n-mels", "64", "--clip-seconds", str(SECONDS), "--warmup-epochs", "0", "--threads", "1",
                        "--quiet"]


def assert_resumes_exactly(out: Any, kw: Dict[str, Any], full_ckpt: Dict[str, Any], keys: Sequence[str]
                           ) -> Dict[str, Any]:
    """Train ``kw`` in ``out`` for one epoch, resume it to the end, and assert that the checkpoint's ``keys`` (state
    dicts) equal those of the uninterrupted run's ``full_ckpt`` bit for bit; returns the resumed run's result."""
    import torch

    from lightops.checkpoint import read_checkpoint
    from lightops.train import TrainConfig, train

    train(TrainConfig(out=str(out), stop_after=1, **kw))
    resumed = train(TrainConfig(out=str(out), resume=True, **kw))
    part = read_checkpoint(f"{out}/last.pt")
    for key in keys:
        for name, tensor in full_ckpt[key].items():
            assert torch.equal(tensor, part[key][name]), (key, name)
    return resumed
