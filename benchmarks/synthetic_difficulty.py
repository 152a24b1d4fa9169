"""How hard is SyntheticScenes? A linear baseline on the time-averaged log-mel spectrum (and optionally a tiny CNN).

A multinomial logistic regression sees only the mean over time of the LogMel output (one 256-bin spectrum per
clip), so it can use spectral colour but not the time structure of events. The data set is meant to keep it
well above chance (10 %) and clearly below what a CNN on the full log-mel reaches.

    python -m benchmarks.synthetic_difficulty                 # logistic regression, default data set
    python -m benchmarks.synthetic_difficulty --cnn --json out.json

Prints train/evaluate accuracy, evaluate accuracy on seen and unseen devices, and the time to generate a clip.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Dict, List, Set, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from lightops.audio import LogMel
from lightops.data import SyntheticScenes


def features(ds: SyntheticScenes, mel: LogMel, batch: int = 64) -> Tuple[torch.Tensor, torch.Tensor, List[str]]:
    """Log-mel ``(N, 1, n_mels, T)``, labels ``(N,)`` and device ids of every clip of ``ds``."""
    specs, labels, devices = [], [], []
    with torch.no_grad():
        for start in range(0, len(ds), batch):
            clips = [ds[i] for i in range(start, min(start + batch, len(ds)))]
            specs.append(mel(torch.stack([c.waveform for c in clips])))  # (b, 1, F, T)
            labels += [c.label for c in clips]
            devices += [c.device for c in clips]
    return torch.cat(specs), torch.tensor(labels), devices


def logistic_regression(x_train: torch.Tensor, y_train: torch.Tensor, num_classes: int, weight_decay: float = 1e-3,
                        steps: int = 200) -> nn.Linear:
    """Multinomial logistic regression with an L2 penalty, fitted by full-batch L-BFGS on standardised inputs."""
    torch.manual_seed(0)
    model = nn.Linear(x_train.shape[1], num_classes)
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(model(x_train), y_train) + weight_decay * model.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return model


def linear_baseline(train: Tuple, evaluate: Tuple, num_classes: int, seen: Set[str],
                    weight_decay: float = 1e-2) -> Dict[str, float]:
    """Accuracies of a logistic regression on the mean-over-time log-mel spectrum."""
    x_tr, y_tr, _ = train
    x_ev, y_ev, dev_ev = evaluate
    f_tr, f_ev = x_tr.mean(dim=3).flatten(1), x_ev.mean(dim=3).flatten(1)  # (N, n_mels)
    mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-6
    f_tr, f_ev = (f_tr - mu) / sd, (f_ev - mu) / sd
    model = logistic_regression(f_tr, y_tr, num_classes, weight_decay)
    with torch.no_grad():
        return accuracies(model(f_tr).argmax(1), y_tr, model(f_ev).argmax(1), y_ev, dev_ev, seen)


def accuracies(p_tr: torch.Tensor, y_tr: torch.Tensor, p_ev: torch.Tensor, y_ev: torch.Tensor, dev_ev: List[str],
               seen: Set[str]) -> Dict[str, float]:
    """Train and evaluate accuracies in percent, the latter also split into seen and unseen devices."""
    is_seen = torch.tensor([d in seen for d in dev_ev])
    ok = (p_ev == y_ev).float()
    out = {"train": 100 * (p_tr == y_tr).float().mean().item(), "evaluate": 100 * ok.mean().item()}
    if is_seen.any():
        out["evaluate_seen"] = 100 * ok[is_seen].mean().item()
    if (~is_seen).any():
        out["evaluate_unseen"] = 100 * ok[~is_seen].mean().item()
    return out


class TinyCNN(nn.Module):
    """A small reference CNN (four conv-BN-ReLU stages, global pooling), only to show the data set is learnable."""

    def __init__(self, num_classes: int = 10, width: int = 24) -> None:
        super().__init__()
        chs = [1, width, width * 2, width * 4, width * 4]
        layers: List[nn.Module] = [nn.BatchNorm2d(1)]
        for i in range(4):
            layers += [nn.Conv2d(chs[i], chs[i + 1], 3, padding=1, bias=False), nn.BatchNorm2d(chs[i + 1]),
                       nn.ReLU(inplace=True), nn.MaxPool2d((2, 2) if i < 3 else (2, 1))]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(chs[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))  # (B, C, F, T) -> (B, C) -> (B, K)


def cnn_baseline(train: Tuple, evaluate: Tuple, num_classes: int, seen: Set[str], epochs: int = 20
                 ) -> Dict[str, float]:
    """Accuracies of :class:`TinyCNN` trained with AdamW on the full log-mel (mel axis pooled 4x for speed)."""
    torch.manual_seed(0)
    x_tr, y_tr, _ = train
    x_ev, y_ev, dev_ev = evaluate
    x_tr, x_ev = F.avg_pool2d(x_tr, (4, 1)), F.avg_pool2d(x_ev, (4, 1))  # (N, 1, 64, T)
    mu, sd = x_tr.mean(), x_tr.std()
    x_tr, x_ev = (x_tr - mu) / sd, (x_ev - mu) / sd
    model = TinyCNN(num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * ((len(x_tr) + 63) // 64))
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x_tr)).split(64):
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        p_tr = torch.cat([model(b).argmax(1) for b in x_tr.split(256)])
        p_ev = torch.cat([model(b).argmax(1) for b in x_ev.split(256)])
    return accuracies(p_tr, y_tr, p_ev, y_ev, dev_ev, seen)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.synthetic_difficulty", description=__doc__.split("\n")[0])
    parser.add_argument("--train-clips", type=int, default=2000)
    parser.add_argument("--eval-clips", type=int, default=1000)
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--class-overlap", type=float, default=None)
    parser.add_argument("--device-strength", type=float, default=None)
    parser.add_argument("--event-density", type=float, default=None)
    parser.add_argument("--snr-db", type=float, default=None)
    parser.add_argument("--cnn", action="store_true", help="also train the tiny reference CNN")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json", default=None, help="write the figures to this JSON file")
    args = parser.parse_args()

    knobs = {k: v for k, v in (("class_overlap", args.class_overlap), ("device_strength", args.device_strength),
                               ("event_density", args.event_density), ("snr_db", args.snr_db)) if v is not None}
    common = dict(clip_seconds=args.clip_seconds, sample_rate=args.sample_rate, seed=args.seed, **knobs)
    ds_tr = SyntheticScenes("train", num_clips=args.train_clips, **common)
    ds_ev = SyntheticScenes("evaluate", num_clips=args.eval_clips, **common)
    seen = set(ds_tr.devices)

    ds_tr.generate(0)
    n_timed = min(100, len(ds_tr))
    t0 = time.perf_counter()
    for i in range(n_timed):
        ds_tr.generate(i)
    gen_ms = 1000 * (time.perf_counter() - t0) / n_timed

    mel = LogMel(sample_rate=args.sample_rate)
    t0 = time.perf_counter()
    train, evaluate = features(ds_tr, mel), features(ds_ev, mel)
    feat_s = time.perf_counter() - t0
    result = {"config": {**common, "train_clips": args.train_clips, "eval_clips": args.eval_clips},
              "generate_ms_per_clip": gen_ms, "features_s": feat_s,
              "logistic_regression": linear_baseline(train, evaluate, ds_tr.num_classes, seen)}
    if args.cnn:
        t0 = time.perf_counter()
        result["tiny_cnn"] = cnn_baseline(train, evaluate, ds_tr.num_classes, seen, args.epochs)
        result["tiny_cnn"]["fit_s"] = time.perf_counter() - t0

    print(f"generate: {gen_ms:.2f} ms per {args.clip_seconds:g}-s clip at {args.sample_rate} Hz; "
          f"log-mel of {len(ds_tr) + len(ds_ev)} clips: {feat_s:.1f} s")
    for name in ("logistic_regression", "tiny_cnn"):
        if name in result:
            r = result[name]
            print(f"{name:>20}: train {r['train']:.1f} %, evaluate {r['evaluate']:.1f} % "
                  f"(seen devices {r.get('evaluate_seen', float('nan')):.1f} %, "
                  f"unseen {r.get('evaluate_unseen', float('nan')):.1f} %)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
