"""Distributed training: the sampler's global batches, and a 2-process DDP run against one process.

One process reproduces a 2-process run when it accumulates gradients over the same two micro-batches per step
(``accum_steps=2``): the sampler gives both runs the same micro-batches, and BatchNorm normalises each
micro-batch on its own in both. A model without BatchNorm (GroupNorm) also matches one process that takes the
whole global batch at once.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lightops
from lightops.checkpoint import read_checkpoint
from lightops.models import model_cfgs
from lightops.train import ShardedBatchSampler, TrainConfig, train
from tests.train.common import TINY, TINY_ARGS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("num_items", [16, 13, 3])
def test_global_batches_do_not_depend_on_the_split(num_items):
    ddp = [ShardedBatchSampler(num_items, 2, world_size=2, rank=r, seed=5) for r in range(2)]
    accum = ShardedBatchSampler(num_items, 2, accum_steps=2, seed=5)
    for epoch in (0, 1):
        for s in ddp + [accum]:
            s.set_epoch(epoch)
        ranks = [list(s) for s in ddp]
        micro = list(accum)
        assert len(micro) == 2 * len(ranks[0]) == 2 * accum.steps_per_epoch
        for step in range(accum.steps_per_epoch):
            assert [ranks[0][step], ranks[1][step]] == micro[2 * step:2 * step + 2]
        order = accum.global_order()
        assert sorted(set(order.tolist())) == list(range(num_items))  # every item, padding by wrap-around
        assert sorted(i for b in micro for i in b) == sorted(order.tolist())
    fresh = ShardedBatchSampler(num_items, 2, seed=5)
    assert fresh.global_order().tolist() == fresh.global_order().tolist()  # deterministic
    epoch0 = fresh.global_order().tolist()
    fresh.set_epoch(1)
    assert fresh.global_order().tolist() != epoch0 or num_items < 4  # a new order every epoch
    with pytest.raises(ValueError, match="rank"):
        ShardedBatchSampler(8, 2, world_size=2, rank=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Joins the process group once and runs `lightops train` (train_main) for each argument list, so that one
# torchrun launch (whose start-up dominates the time) serves both comparisons.
RUNNER = """
import json, sys
import torch.distributed as dist
from lightops.cli.train import main as train_main
dist.init_process_group("gloo")
for argv in json.loads(sys.argv[1]):
    train_main(argv)
dist.destroy_process_group()
"""


def _torchrun(tmp_path, runs):
    (tmp_path / "runner.py").write_text(RUNNER)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(tmp_path / "runner.py"), json.dumps(runs)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _state(path):
    return read_checkpoint(path)["state_dict"]


@pytest.mark.slow
def test_ddp_two_processes_equal_one(tmp_path):
    """2 processes x 8 clips, 2 steps: (a) replicas agree; (b) equal one process on the same global batches."""
    # (1) BatchNorm model with mixup and SpecAugment vs one process accumulating the same 2 micro-batches per step.
    # (2) GroupNorm model without augmentation vs one process taking the global batch of 16 at once.
    gn = {"width": 0.25, "cfg": model_cfgs["dssdn_small"].to_dict() | {"norm_layer": "groupnorm1"}}
    argv = TINY_ARGS + ["--num-clips", "32", "--epochs", "1"]
    no_aug = ["--mixup", "0", "--no-specaug"]
    # (3) as (1) with device-adversarial training: its classifier sits outside DDP and averages its own gradients.
    _torchrun(tmp_path, [argv + ["--out", str(tmp_path / "ddp_bn")],
                         argv + no_aug + ["--model-kwargs", json.dumps(gn), "--out", str(tmp_path / "ddp_gn")],
                         argv + ["--device-adversarial", "1", "--out", str(tmp_path / "ddp_adv")]])
    common = dict(TINY, num_clips=32, epochs=1)
    one_bn = train(TrainConfig(out=str(tmp_path / "one_bn"), accum_steps=2, **common))
    train(TrainConfig(out=str(tmp_path / "one_adv"), accum_steps=2, device_adversarial=1.0, **common))
    train(TrainConfig(out=str(tmp_path / "one_gn"), **dict(common, model_kwargs=gn, mixup_alpha=0.0, specaug=False,
                                                            batch_size=16)))

    m = json.loads((tmp_path / "ddp_bn" / "metrics.json").read_text())
    assert m["world_size"] == 2 and m["global_batch_size"] == 16 and m["steps_per_epoch"] == 2
    assert m["replicas_identical"]  # (a) the SHA-256 of every rank's parameters agree
    assert one_bn["global_batch_size"] == 16 and one_bn["steps_per_epoch"] == 2
    # (b) BatchNorm: parameters match; running statistics differ by design (DDP keeps rank 0's, one process
    # updates them once per micro-batch).
    ddp, one = _state(tmp_path / "ddp_bn" / "last.pt"), _state(tmp_path / "one_bn" / "last.pt")
    params = [n for n, _ in lightops.create_model("dssdn_small", width=0.25).named_parameters()]
    for n in params:
        torch.testing.assert_close(ddp[n], one[n], rtol=1e-5, atol=1e-6, msg=n)
    assert json.loads((tmp_path / "ddp_adv" / "metrics.json").read_text())["replicas_identical"]
    ddp, one = read_checkpoint(tmp_path / "ddp_adv" / "last.pt"), read_checkpoint(tmp_path / "one_adv" / "last.pt")
    for n in params:
        torch.testing.assert_close(ddp["state_dict"][n], one["state_dict"][n], rtol=1e-5, atol=1e-6, msg=n)
    for n, t in one["device_adversary"].items():
        torch.testing.assert_close(ddp["device_adversary"][n], t, rtol=1e-5, atol=1e-6, msg=n)
    # (b) GroupNorm: the whole state matches a plain global batch of 16.
    ddp, one = _state(tmp_path / "ddp_gn" / "last.pt"), _state(tmp_path / "one_gn" / "last.pt")
    assert not any("running_mean" in n for n in ddp)
    for n, t in ddp.items():
        torch.testing.assert_close(t, one[n], rtol=1e-4, atol=1e-6, msg=n)
