"""Data-parallel plumbing of codec training: process group, sharded batches, codebook sync.

:func:`~mne_biocodec.training.pretrain_codec` uses these to run data-parallel when
``torchrun`` launches it (CPU: gloo; GPUs: NCCL, one process per GPU)::

    torchrun --nproc_per_node 8 -m mne_biocodec.cli pretrain RECIPE

The recipe's ``batch_size`` is the *global* batch: every step each of the ``world_size``
processes takes its contiguous slice of the same global batch (drawn from one seeded
permutation per epoch), gradients are averaged by DDP, and the codebooks, which learn by EMA
rather than by gradients, stay identical through :attr:`CosineCodebook.sync_fn`: k-means runs
on the gathered batch (rank 0's result is broadcast), EMA counts and sums are summed over
processes, and dead codes are replaced by rank 0's samples of the gathered batch. Up to
floating-point rounding a run on N processes therefore takes the same steps as one process
with the same global batch.
"""

import math
import os
from contextlib import contextmanager

import torch
import torch.distributed as dist

from ..codec.quantization import CosineCodebook

__all__ = ["init_distributed", "process_group", "codebook_sync", "attach_codebook_sync", "ShardedBatches",
           "wrap_ddp", "mean_over_processes"]


def init_distributed(backend=None):
    """Join the process group ``torchrun`` describes (no-op when already joined or alone).

    Parameters
    ----------
    backend : str | None
        ``"nccl"`` when CUDA is available, else ``"gloo"``.

    Returns
    -------
    rank : int
    world_size : int
        1 (and no process group) when not launched by ``torchrun``.
    device : torch.device
        ``cuda:<LOCAL_RANK>`` on GPUs, else the CPU.
    """
    cuda = torch.cuda.is_available()
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    if not dist.is_initialized():
        return 0, 1, torch.device("cuda" if cuda else "cpu")
    device = torch.device(f"cuda:{torch.cuda.current_device()}") if cuda and \
        dist.get_backend() == "nccl" else torch.device("cpu")
    return dist.get_rank(), dist.get_world_size(), device


@contextmanager
def process_group(backend=None):
    """:func:`init_distributed` for a block: a group it joins is left at the end of the block.

    A group that was joined before (by the caller) stays joined.

    Yields
    ------
    rank, world_size, device
        As returned by :func:`init_distributed`.
    """
    joined_before = dist.is_available() and dist.is_initialized()
    rank, world_size, device = init_distributed(backend)
    try:
        yield rank, world_size, device
    finally:
        if not joined_before and dist.is_initialized():
            dist.destroy_process_group()


def codebook_sync(op, tensor):
    """The :attr:`CosineCodebook.sync_fn` of data-parallel training.

    Parameters
    ----------
    op : {"sum", "gather", "broadcast"}
        ``"sum"``: all-reduce sum (EMA counts and sums); ``"gather"``: concatenate every
        process's rows in rank order (the k-means and dead-code batch; every process must
        pass the same shape); ``"broadcast"``: rank 0's tensor.
    tensor : Tensor
        This process's value (not modified).

    Returns
    -------
    reduced : Tensor
        The same on every process.
    """
    tensor = tensor.contiguous()
    if op == "sum":
        out = tensor.clone()
        dist.all_reduce(out)
        return out
    if op == "gather":
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor)
        return torch.cat(parts)
    if op == "broadcast":
        out = tensor.clone()
        dist.broadcast(out, src=0)
        return out
    raise ValueError(f"op must be 'sum', 'gather' or 'broadcast'; got {op!r}.")


def attach_codebook_sync(model, sync_fn=codebook_sync):
    """Set ``sync_fn`` on every codebook of ``model`` (None detaches); returns their number."""
    codebooks = [m for m in model.modules() if isinstance(m, CosineCodebook)]
    for codebook in codebooks:
        codebook.sync_fn = sync_fn
    return len(codebooks)


class ShardedBatches:
    """Per-process batches of a global batch sequence, like ``DistributedSampler``.

    Epoch ``e`` draws a permutation of the segments from a generator seeded with
    ``(seed, e)`` (identical on every process) and cuts it into global batches of
    ``batch_size``, cycling through new permutations when ``steps_per_epoch`` asks for more;
    process ``rank`` takes rows ``[rank * b, (rank + 1) * b)`` of each, ``b = batch_size //
    world_size``. Concatenating the processes' batches in rank order gives the global batch,
    which is what makes k-means on the gathered batch match single-process training.

    Parameters
    ----------
    n_samples : int
        Segments in the training set.
    batch_size : int
        Global batch, a multiple of ``world_size``.
    steps_per_epoch : int | None
        Batches per epoch; None makes one pass (the incomplete last batch dropped).
    rank, world_size : int
        This process and the number of processes.
    seed : int, default=0
        Seed of the permutations.
    weights : array-like of float, shape (n_samples,) | None
        Sampling weights: each epoch then draws its ``steps_per_epoch * batch_size``
        segments with replacement, segment ``i`` with probability proportional to
        ``weights[i]`` (e.g. to balance data sets of different sizes), from the same seeded
        generator. None draws permutations as above.
    """

    def __init__(self, n_samples, batch_size, steps_per_epoch=None, rank=0, world_size=1,
                 seed=0, weights=None):
        if batch_size % world_size:
            raise ValueError(f"batch_size ({batch_size}) must be a multiple of the number "
                             f"of processes ({world_size}); it is the global batch.")
        if n_samples < batch_size and steps_per_epoch is None:
            raise ValueError(f"{n_samples} segments are fewer than one batch of "
                             f"{batch_size}; pass steps_per_epoch or a smaller batch.")
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch or n_samples // batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.weights = None
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float64).reshape(-1)
            if (len(weights) != n_samples or not torch.isfinite(weights).all()
                    or (weights < 0).any() or not weights.sum() > 0):
                raise ValueError(f"weights must hold {n_samples} finite, non-negative "
                                 f"sampling weights, one per segment, not all zero; got "
                                 f"{len(weights)} values in [{float(weights.min()):g}, "
                                 f"{float(weights.max()):g}].")
            self.weights = weights

    def __len__(self):
        return self.steps_per_epoch

    def epoch(self, epoch):
        """Index arrays of this process's batches in epoch ``epoch``."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        n_needed = self.steps_per_epoch * self.batch_size
        if self.weights is not None:
            order = torch.multinomial(self.weights, n_needed, replacement=True,
                                      generator=generator).numpy()
        else:
            n_perms = math.ceil(n_needed / self.n_samples)
            order = torch.cat([torch.randperm(self.n_samples, generator=generator)
                               for _ in range(n_perms)])[:n_needed].numpy()
        local = self.batch_size // self.world_size
        for step in range(self.steps_per_epoch):
            start = step * self.batch_size + self.rank * local
            yield order[start:start + local]


def wrap_ddp(codec, device):
    """DDP without per-step buffer broadcasts: the sync hook keeps the codebooks equal."""
    import inspect

    ddp = torch.nn.parallel.DistributedDataParallel
    # torch >= 2.13 renames the option (and deprecates the old name).
    name = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters
            else "broadcast_buffers")
    return ddp(codec, device_ids=[device.index] if device.type == "cuda" else None,
               **{name: False})


def mean_over_processes(values, world_size):
    """All-reduce mean of a 1-D tensor of statistics (identity without a process group)."""
    if world_size > 1:
        dist.all_reduce(values)
        values /= world_size
    return values
