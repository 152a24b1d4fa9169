"""Train the custom net of ``examples/custom_net.py`` on the generated synthetic scenes, then reload it.

Training goes through ``lightops.train.train`` with a ``TrainConfig``. The custom architecture (a ``DSSDNCfg``
mixing SC, OSC and SPC) travels as ``model_kwargs={"cfg": cfg}``: the run stores it as JSON in its checkpoint
and ``metrics.json``, so ``lightops.checkpoint.load_model`` (and ``lightops eval``, and ``lightops.deploy``) can
rebuild the net from the checkpoint alone. One epoch on ``lightops.data.SyntheticScenes`` (ten scene classes,
simulated devices, nothing to download): the log-mel front end, mixup and SpecAugment run inside the training
step, OSC's orthonormal penalty is added to the loss, and ``OUT/last.pt``, ``OUT/metrics.json`` and two PNG
figures are written. The script then rebuilds the net from the checkpoint and classifies a few clips.

    python examples/train_custom_net.py                                   # 1 epoch, 500 + 250 clips of 1 s
    python examples/train_custom_net.py --epochs 10 --clips 1000 --eval-clips 500 --threads 1
    python examples/train_custom_net.py --clips 16 --eval-clips 8         # a smoke test

Under ``torchrun --nproc_per_node 2 examples/train_custom_net.py`` the same call trains with two processes (DDP).
"""
from __future__ import annotations

import argparse
import os
from typing import Optional

import torch

import lightops
from lightops.checkpoint import load_model
from lightops.data import SyntheticScenes
from lightops.profiling import BUDGETS, check_budget
from lightops.train import TrainConfig, train

try:  # the architecture of examples/custom_net.py (this folder is on sys.path when the script runs)
    from custom_net import build_cfg
except ImportError:  # imported from elsewhere
    from examples.custom_net import build_cfg


def pct(x: Optional[float]) -> str:
    """``x`` as a percentage, ``n/a`` for None."""
    return "n/a" if x is None else f"{x:.1%}"


def main() -> None:
    """Train for ``--epochs`` on synthetic scenes, report accuracy, reload the checkpoint and predict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1, help="training epochs")
    parser.add_argument("--clips", type=int, default=500, help="synthetic training clips")
    parser.add_argument("--eval-clips", type=int, default=250, help="synthetic evaluation clips")
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length in seconds")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per batch")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW, cosine schedule)")
    parser.add_argument("--out", default=os.path.join("runs", "custom_dssdn"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of initialisation, data order, augmentation")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()

    main_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun, only rank 0 prints and reloads
    arch = build_cfg()
    if main_process:
        model = lightops.create_model("dssdn_small", cfg=arch)
        print(check_budget(model, BUDGETS["dssdn_small"]), "(DCASE Task 1 limits)")

    cfg = TrainConfig(
        model="dssdn_small",  # the registered name supplies the defaults (input size, front end) ...
        model_kwargs={"cfg": arch},  # ... and cfg replaces its architecture
        data="synthetic",  # or the folder of a TAU Urban Acoustic Scenes 2020 Mobile download
        out=args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        num_clips=args.clips,
        num_eval_clips=args.eval_clips,
        clip_seconds=args.seconds,
        seed=args.seed,
        threads=args.threads,
        overwrite=True,  # start over if OUT already holds a run (resume=True would continue it)
    )
    result = train(cfg)  # prints one line per epoch; returns the content of OUT/metrics.json
    if not main_process:
        return
    seen, unseen = (result[k]["accuracy"] for k in ("seen", "unseen"))  # None when no such clip was evaluated
    print(f"evaluate accuracy {result['accuracy']:.1%} (seen devices {pct(seen)}, unseen {pct(unseen)}) after "
          f"{args.epochs} epoch(s); chance is 10 %")

    # Rebuild the trained net from its checkpoint alone: the model by name, the front end from its settings.
    loaded = load_model(os.path.join(args.out, "last.pt"))  # the cfg comes back from its JSON form
    net, frontend = loaded.model, loaded.front_end()  # front end: waveform -> normalised log-mel, as in training
    clips = SyntheticScenes("evaluate", num_clips=4, clip_seconds=args.seconds)
    waveforms = torch.stack([clips[i].waveform for i in range(len(clips))])  # (B, samples)
    net.eval()
    frontend.eval()
    with torch.no_grad():
        pred = net(frontend(waveforms)).argmax(dim=1)  # (B, 1, 256, T) log-mel -> (B, 10) logits
    for i, p in enumerate(pred.tolist()):
        print(f"clip {i} ({clips[i].device}): true {clips.classes[clips[i].label]:<18} predicted {clips.classes[p]}")


if __name__ == "__main__":
    main()
