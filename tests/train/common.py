"""Tiny settings shared by the training tests: 0.5-s clips at 16 kHz, 64 mel bins, DSSDN-Small at width 0.25."""
from typing import Any, Dict, List

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
