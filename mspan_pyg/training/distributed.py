"""Process-group helpers for ``torchrun`` (DistributedDataParallel) and single-process runs.

The same entry point runs alone or under ``torchrun --nproc_per_node=N``: when torchrun's
``WORLD_SIZE`` is above 1 a process group is created (``nccl`` for CUDA, ``gloo`` on CPU).
Only rank 0 writes files; metrics are all-reduced as sums.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator, List

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from mspan_pyg.errors import ConfigError


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``"cpu"`` / ``"cuda"`` / ``"cuda:K"`` / ``None`` (cuda if available) -> a torch.device."""
    if device in (None, "", "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                "--device cuda was requested but CUDA is not available; use --device cpu"
            )
        if device == "cuda":
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device(device)
    if device != "cpu":
        raise ConfigError(f"unknown device {device!r}; expected cpu or cuda")
    return torch.device("cpu")


def init_distributed(device: str = "cpu") -> DistContext:
    """Joins torchrun's process group when ``WORLD_SIZE`` > 1; otherwise a one-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size > 1:
        if not dist.is_initialized():
            backend = "nccl" if dev.type == "cuda" else "gloo"
            if dev.type == "cuda":
                torch.cuda.set_device(dev)
            dist.init_process_group(backend=backend)
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum of ``tensor`` over all processes (a copy; the input is unchanged)."""
    if not ctx.distributed:
        return tensor.clone()
    # gloo/nccl want the tensor on the backend's device.
    t = tensor.detach().to(ctx.device if ctx.device.type == "cuda" else "cpu").clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.to(tensor.device)


def all_gather_objects(obj: Any, ctx: DistContext) -> List[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every process."""
    if not ctx.distributed:
        return [obj]
    out: List[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


class ShardSampler(Sampler[int]):
    """Evaluation sampler: process ``rank`` reads records ``rank, rank + W, rank + 2W, ...``.

    Unlike :class:`torch.utils.data.DistributedSampler` it never pads with duplicates, so
    every record is evaluated exactly once across processes (shards may differ by one).
    """

    def __init__(self, num_records: int, rank: int = 0, world_size: int = 1):
        self.num_records, self.rank, self.world_size = num_records, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_records, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_records, self.world_size))
