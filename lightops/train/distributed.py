"""Distributed data-parallel set-up and the batch sampler that makes a run independent of how it is split.

``torchrun --nproc_per_node N`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`init_distributed` reads them and joins the process group (NCCL on GPU, gloo on CPU).
Without them it returns a single-process environment and starts nothing.

:class:`ShardedBatchSampler` defines each optimizer step's **global batch** first, then cuts it into
``world_size * accum_steps`` strided micro-batches: rank ``r`` takes micro-batch slots ``r * A .. r * A + A - 1``
of every step. Two runs with the same product ``world_size * accum_steps`` and the same per-micro-batch size
therefore see the same micro-batches at every step, whatever the split between processes and gradient
accumulation, which is what lets one process with ``accum_steps = N`` reproduce an ``N``-process run (BatchNorm
statistics included, since they are computed per micro-batch in both).
"""
from __future__ import annotations

import datetime
import math
import os
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Union

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.utils.data import Sampler

from ..validation import check_int

__all__ = ["DistEnv", "init_distributed", "cleanup_distributed", "all_gather_objects", "broadcast_object",
           "barrier", "wrap_ddp", "unwrap_model", "sync_buffers", "params_digest", "ShardedBatchSampler", "derive_seed"]


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a (possibly single-process) run."""

    rank: int = 0  # global rank
    world_size: int = 1  # number of processes
    local_rank: int = 0  # rank on this machine (selects the GPU)
    device: torch.device = torch.device("cpu")  # device of this process
    backend: Optional[str] = None  # "nccl" | "gloo" when a process group is running
    owns_group: bool = False  # whether init_distributed created the process group (and cleanup destroys it)

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an int, got {value!r}") from None


def init_distributed(device: Optional[Union[str, torch.device]] = None, timeout_s: float = 1800.0) -> DistEnv:
    """Join the process group that ``torchrun`` describes in the environment, or run as one process.

    Args:
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available). Under ``torchrun`` with CUDA, rank ``r``
            uses GPU ``LOCAL_RANK``.
        timeout_s: timeout of collective operations.

    Returns:
        The :class:`DistEnv` of this process.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but CUDA is not available")
        index = device.index if device.index is not None else local_rank % torch.cuda.device_count()
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    if world_size <= 1:
        return DistEnv(device=device)
    if dist.is_initialized():
        return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, device, dist.get_backend(), False)
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs: dict = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(backend, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout_s), **kwargs)
    return DistEnv(rank, world_size, local_rank, device, backend, True)


def cleanup_distributed(env: DistEnv) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    """Wait for every rank (no-op in a single process)."""
    if env.distributed:
        dist.barrier()


def all_gather_objects(obj: Any, env: DistEnv) -> List[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank; ``[obj]`` in a single process."""
    if not env.distributed:
        return [obj]
    out: List[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, env: DistEnv, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (``obj`` itself in a single process)."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap_ddp(model: nn.Module, env: DistEnv) -> nn.Module:
    """Wrap ``model`` (already on ``env.device``) in ``DistributedDataParallel``; unchanged in one process.

    BatchNorm layers stay as they are (per-rank statistics; rank 0's running statistics are broadcast before
    each forward, DDP's default). ``SyncBatchNorm`` needs a GPU backend and is not applied here.
    """
    if not env.distributed:
        return model
    device_ids = [env.device.index] if env.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (``model`` itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def sync_buffers(model: nn.Module, env: DistEnv, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank (no-op in one process).

    Under DDP each rank updates its running statistics with its own batch after rank 0's were broadcast at the
    start of the forward pass, so they differ slightly after training; evaluation uses rank 0's, the ones the
    checkpoint holds.
    """
    if env.distributed:
        for buf in unwrap_model(model).buffers():
            dist.broadcast(buf.data, src=src)


def params_digest(model: nn.Module) -> str:
    """SHA-256 of the parameters' bytes, in ``named_parameters`` order (equal digests: identical weights)."""
    import hashlib

    h = hashlib.sha256()
    for name, p in unwrap_model(model).named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def derive_seed(*values: int) -> int:
    """A 63-bit seed mixed from ints (e.g. ``seed, epoch, slot``) with numpy's ``SeedSequence``."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1, dtype=np.uint64)[0]) >> 1


class ShardedBatchSampler(Sampler[List[int]]):
    """Micro-batches of this rank, cut from global batches that do not depend on the world size.

    Each epoch draws one permutation of ``range(num_items)`` from a generator seeded by ``(seed, epoch)``
    (identity order when ``shuffle`` is False), pads it by wrapping around so that the last global batch
    divides into ``world_size * accum_steps`` equal parts, and cuts it into global batches of
    ``G = batch_size * world_size * accum_steps`` items. Micro-batch slot ``s`` of a global batch ``g`` is
    ``g[s::world_size * accum_steps]``; rank ``r`` yields slots ``r * accum_steps + k`` for ``k`` in
    ``range(accum_steps)``, step after step.

    Args:
        num_items: length of the data set.
        batch_size: items per micro-batch (the per-rank batch of one forward pass).
        world_size: number of processes.
        rank: this process's rank.
        accum_steps: micro-batches per optimizer step on each rank.
        shuffle: draw a new permutation every epoch.
        seed: seed of the permutations.
    """

    def __init__(self, num_items: int, batch_size: int, *, world_size: int = 1, rank: int = 0, accum_steps: int = 1,
                 shuffle: bool = True, seed: int = 0) -> None:
        for name, value in (("num_items", num_items), ("batch_size", batch_size), ("world_size", world_size),
                            ("accum_steps", accum_steps)):
            check_int(value, f"ShardedBatchSampler: {name}", minimum=1)
        check_int(rank, "ShardedBatchSampler: rank", minimum=0, maximum=world_size - 1)
        self.num_items = num_items
        self.batch_size = batch_size
        self.world_size = world_size
        self.rank = rank
        self.accum_steps = accum_steps
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    @property
    def global_batch_size(self) -> int:
        """Items per optimizer step over all ranks and micro-batches."""
        return self.batch_size * self.world_size * self.accum_steps

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch."""
        return math.ceil(self.num_items / self.global_batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of epoch ``epoch`` (call before iterating, on every rank)."""
        self.epoch = epoch

    def global_order(self) -> torch.Tensor:
        """This epoch's item order, padded: ``(steps_per_epoch * G)`` at most, same on every rank."""
        if self.shuffle:
            g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
            order = torch.randperm(self.num_items, generator=g)
        else:
            order = torch.arange(self.num_items)
        parts = self.world_size * self.accum_steps
        padded = math.ceil(self.num_items / parts) * parts
        if padded > self.num_items:  # wrap around, as DistributedSampler does
            order = torch.cat([order, order.repeat(math.ceil(padded / self.num_items))[: padded - self.num_items]])
        return order

    def __iter__(self) -> Iterator[List[int]]:
        order = self.global_order()
        parts = self.world_size * self.accum_steps
        for step in range(self.steps_per_epoch):
            block = order[step * self.global_batch_size:(step + 1) * self.global_batch_size]
            for k in range(self.accum_steps):
                yield block[self.rank * self.accum_steps + k::parts].tolist()

    def __len__(self) -> int:
        return self.steps_per_epoch * self.accum_steps
