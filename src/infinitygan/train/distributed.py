"""Data-parallel training across processes (torchrun; gloo on CPU, nccl on CUDA).

Semantics: ``--batch`` is the **global** batch. Each of the W ranks renders and discriminates
``batch / W`` samples per step (in rounds of ``batch_gpu``), every loss is scaled by its share of
the global batch, and gradients are summed over ranks with one ``all_reduce`` per optimiser step
before the (identical) optimiser updates. This is exactly the gradient averaging of
``DistributedDataParallel``; it is done explicitly (as StyleGAN3 does) because an InfinityGAN step
calls the generator's sub-networks separately, takes double-backward gradients (R1, path length)
and freezes each network in turn, none of which the DDP wrapper's forward hooks support.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Position of this process: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the torchrun environment variables describe more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device_type: str, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group described by torchrun's environment (no-op for one process).

    Args:
        device_type: "cpu" (gloo backend) or "cuda" (nccl; each rank uses GPU ``LOCAL_RANK``).

    Returns:
        This process's DistInfo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
        logger.info("joined process group: rank %d of %d (%s)", rank, world, backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank)


def shutdown_distributed(barrier: bool = False) -> None:
    """Leave the process group; with ``barrier``, first wait until every rank got here.

    The barrier is for a normal exit: rank 0 writes the final snapshot after the others are
    done, and a gloo rank that tears its group down while a peer is still connected can abort
    ("terminate called without an active exception"). After an error no barrier is tried (the
    other ranks may never arrive).
    """
    if dist.is_available() and dist.is_initialized():
        if barrier:
            dist.barrier()
        dist.destroy_process_group()


def broadcast_module(module: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.enabled:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def all_reduce_gradients(params: list[nn.Parameter], info: DistInfo) -> None:
    """Sum the gradients of ``params`` over all ranks (one flat all_reduce).

    Parameters whose ``grad`` is None on this rank are skipped; every rank computes the same
    losses, so the set of parameters with gradients is the same everywhere.
    """
    if not info.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def all_reduce_sum(tensor: Tensor, info: DistInfo) -> Tensor:
    """Sum ``tensor`` over ranks in place (no-op for one process) and return it."""
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: Tensor, info: DistInfo) -> Tensor:
    """Element-wise maximum over ranks in place."""
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def module_checksum(modules: list[nn.Module]) -> Tensor:
    """A float64 fingerprint [2] of the parameters (position-weighted sum, sum of squares)."""
    total = torch.zeros(2, dtype=torch.float64)
    for module in modules:
        for i, p in enumerate(module.parameters()):
            x = p.detach().double().cpu().flatten()
            total[0] += (x * (1.0 + (i % 7))).sum()
            total[1] += x.pow(2).sum()
    return total


def check_in_sync(modules: list[nn.Module], info: DistInfo, device: torch.device) -> float:
    """Verify that every rank holds the same parameters; returns the largest checksum deviation.

    Raises:
        RuntimeError: when the ranks disagree (a bug; the run must not go on silently).
    """
    if not info.enabled:
        return 0.0
    local = module_checksum(modules).to(device)
    gathered = [torch.zeros_like(local) for _ in range(info.world_size)]
    dist.all_gather(gathered, local)
    stacked = torch.stack(gathered).cpu()
    deviation = float((stacked - stacked[0]).abs().max())
    if deviation != 0.0:
        raise RuntimeError(
            f"ranks are out of sync: parameter checksums {stacked.tolist()} differ "
            f"(max deviation {deviation})"
        )
    return deviation


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
