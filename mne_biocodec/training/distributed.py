"""Data-parallel codec pretraining with PyTorch DistributedDataParallel (``torchrun``).

Run a recipe on several processes (CPU: gloo; GPUs: NCCL, one process per GPU)::

    torchrun --nproc_per_node 8 -m mne_biocodec.cli pretrain RECIPE --distributed

The recipe's ``batch_size`` is the *global* batch: every step each of the ``world_size``
processes takes its contiguous slice of the same global batch (drawn from one seeded
permutation per epoch), gradients are averaged by DDP, and the codebooks, which learn by EMA
rather than by gradients, stay identical through :attr:`CosineCodebook.sync_fn`: k-means runs
on the gathered batch (rank 0's result is broadcast), EMA counts and sums are summed over
processes, and dead codes are replaced by rank 0's samples of the gathered batch. Up to
floating-point rounding a run on N processes therefore takes the same steps as one process
with the same global batch. Rank 0 alone writes checkpoints and the final codec.
"""

import math
import os
import time

import torch
import torch.distributed as dist
from skorch.history import History

from ..codec import BioCodec, CodecLoss
from ..codec.metrics import pearson_r, si_sdr
from ..codec.quantization import CosineCodebook
from .checkpoint import read_checkpoint, write_checkpoint
from .net import ADAM_BETAS, LOGGED_PARTS
from .pretrain import finish_run, loss_windows, prepare_run
from .schedule import warmup_cosine_factor

__all__ = ["pretrain_codec_distributed", "init_distributed", "codebook_sync",
           "attach_codebook_sync", "ShardedBatches"]


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
    """

    def __init__(self, n_samples, batch_size, steps_per_epoch=None, rank=0, world_size=1,
                 seed=0):
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

    def __len__(self):
        return self.steps_per_epoch

    def epoch(self, epoch):
        """Index arrays of this process's batches in epoch ``epoch``."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        n_needed = self.steps_per_epoch * self.batch_size
        n_perms = math.ceil(n_needed / self.n_samples)
        order = torch.cat([torch.randperm(self.n_samples, generator=generator)
                           for _ in range(n_perms)])[:n_needed].numpy()
        local = self.batch_size // self.world_size
        for step in range(self.steps_per_epoch):
            start = step * self.batch_size + self.rank * local
            yield order[start:start + local]


def _wrap_ddp(codec, device):
    """DDP without per-step buffer broadcasts: the sync hook keeps the codebooks equal."""
    import inspect

    ddp = torch.nn.parallel.DistributedDataParallel
    # torch >= 2.13 renames the option (and deprecates the old name).
    name = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters
            else "broadcast_buffers")
    return ddp(codec, device_ids=[device.index] if device.type == "cuda" else None,
               **{name: False})


def _mean_over_processes(values, world_size):
    """All-reduce mean of a 1-D tensor of statistics (identity without a process group)."""
    if world_size > 1:
        dist.all_reduce(values)
        values /= world_size
    return values


@torch.no_grad()
def _validate(model, criterion, segments, batch_size, rank, world_size, device):
    """Loss parts, Pearson r and SI-SDR over the held-out segments, shared by the processes."""
    model.eval()
    mine = segments[rank::world_size]
    # sums of loss, l_t, l_f, l_w (times segments), r, SI-SDR, and the count
    totals = torch.zeros(7, dtype=torch.float64, device=device)
    for start in range(0, len(mine), batch_size):
        x = torch.from_numpy(mine[start:start + batch_size]).to(device)
        reconstruction, penalty, _ = model(x)
        parts = criterion(x, reconstruction, penalty)
        n = x.shape[0]
        totals += torch.stack([parts["loss"] * n, parts["l_t"] * n, parts["l_f"] * n,
                               parts["l_w"] * n, pearson_r(x, reconstruction).sum(),
                               si_sdr(x, reconstruction).sum(), torch.tensor(float(n))]
                              ).to(totals)
    if world_size > 1:
        dist.all_reduce(totals)
    model.train()
    count = max(float(totals[6]), 1.0)
    names = ("valid_loss",) + tuple(f"valid_{p}" for p in LOGGED_PARTS) + (
        "valid_r", "valid_si_sdr")
    return dict(zip(names, (float(v) / count for v in totals[:6])))


def pretrain_codec_distributed(train_segments, valid_segments=None,
                               output_dir="biocodec-run", *, config=None, init=None,
                               max_epochs=10, steps_per_epoch=None, batch_size=32, lr=1e-3,
                               time_weight=1.0, freq_weight=1.0, warmup_steps=50,
                               final_lr_ratio=0.01, device=None, seed=0, resume=True,
                               progress=True, n_threads=None, checkpoint_every=1,
                               extra_metadata=None):
    """Train a codec data-parallel over the processes of a ``torchrun`` launch.

    Takes the arguments of :func:`~mne_biocodec.training.pretrain_codec`, and writes the same
    files (checkpoints that either function resumes, ``codec.safetensors``,
    ``history.json`` with the same keys). Launched without ``torchrun`` it trains in this
    one process with the same loop.

    Parameters
    ----------
    train_segments, valid_segments, output_dir, config, init, max_epochs, steps_per_epoch, \
lr, time_weight, freq_weight, warmup_steps, final_lr_ratio, seed, resume, n_threads, \
checkpoint_every, extra_metadata
        As for :func:`~mne_biocodec.training.pretrain_codec`. Every process must pass the
        same segments; ``output_dir`` must be a folder they all see.
    batch_size : int, default=32
        The global batch (a multiple of the number of processes), so that a run gives the
        same steps on any number of processes.
    device : str | None
        Ignored under ``torchrun`` (each process takes its GPU, or the CPU); else as for
        :func:`~mne_biocodec.training.pretrain_codec`.
    progress : bool, default=True
        Print one line per epoch (rank 0).

    Returns
    -------
    codec : BioCodec
        The trained codec (in eval mode), identical on every process.
    history : skorch.history.History
        Per epoch: ``train_loss``, ``train_l_t``, ``train_l_f``, ``train_l_w`` (means over
        the global batches), ``valid_*`` as for ``pretrain_codec``, ``train_steps``, ``lr``,
        ``dur``; per batch the same training values.

    Raises
    ------
    ValueError
        As for :func:`~mne_biocodec.training.pretrain_codec`, when ``output_dir`` holds
        checkpoints the run cannot resume from (on every process, before any training).
    """
    rank, world_size, dist_device = init_distributed()
    run = prepare_run(train_segments, valid_segments, output_dir, config=config, init=init,
                      device=device if world_size == 1 else dist_device, seed=seed,
                      resume=resume, n_threads=n_threads,
                      settings=dict(batch_size=batch_size, steps_per_epoch=steps_per_epoch,
                                    lr=lr, time_weight=time_weight, freq_weight=freq_weight,
                                    warmup_steps=warmup_steps, final_lr_ratio=final_lr_ratio),
                      progress=progress, main_process=rank == 0)
    codec = BioCodec(run.config).to(run.device)
    if run.init_codec is not None:
        codec.load_state_dict(run.init_codec.state_dict())
    optimizer = torch.optim.Adam(codec.parameters(), lr=lr, betas=ADAM_BETAS)
    criterion = CodecLoss(time_weight=time_weight, freq_weight=freq_weight,
                          windows=loss_windows(run.config))
    history = History()
    if run.resume_from is not None:
        history = read_checkpoint(run.resume_from, codec, optimizer, run.device)
    model = codec
    if world_size > 1:
        attach_codebook_sync(codec)
        model = _wrap_ddp(codec, run.device)
    batches = ShardedBatches(len(run.train_segments), batch_size, steps_per_epoch, rank,
                             world_size, seed)
    total_steps = max_epochs * len(batches)
    step = int(history[-1, "train_steps"]) if len(history) else 0
    model.train()
    try:
        for epoch in range(run.start_epoch, max_epochs):
            t0 = time.perf_counter()
            history.new_epoch()
            history.record("epoch", epoch + 1)
            sums = torch.zeros(len(LOGGED_PARTS) + 1, dtype=torch.float64)
            for idx in batches.epoch(epoch):
                factor = warmup_cosine_factor(step, total_steps, warmup_steps, final_lr_ratio)
                for group in optimizer.param_groups:
                    group["lr"] = lr * factor
                x = torch.from_numpy(run.train_segments[idx]).to(run.device)
                reconstruction, penalty, _ = model(x)
                parts = criterion(x, reconstruction, penalty)
                optimizer.zero_grad(set_to_none=True)
                parts["loss"].backward()
                optimizer.step()
                step += 1
                values = _mean_over_processes(torch.stack(
                    [parts[k].detach() for k in ("loss",) + LOGGED_PARTS]).double().cpu(),
                    world_size)
                sums += values
                history.new_batch()
                for key, value in zip(("loss",) + LOGGED_PARTS, values.tolist()):
                    history.record_batch(f"train_{key}", value)
            for key, value in zip(("loss",) + LOGGED_PARTS, (sums / len(batches)).tolist()):
                history.record(f"train_{key}", value)
            if run.valid_segments is not None:
                for key, value in _validate(codec, criterion, run.valid_segments, batch_size,
                                            rank, world_size, run.device).items():
                    history.record(key, value)
            history.record("train_steps", step)
            history.record("lr", optimizer.param_groups[0]["lr"])
            history.record("dur", time.perf_counter() - t0)
            if rank == 0 and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == max_epochs):
                write_checkpoint(run.checkpoint_dir, f"epoch-{epoch + 1:04d}", codec,
                                 optimizer, history, run_info=run.run_info)
            if rank == 0 and progress:
                row = history[-1]
                print(f"epoch {epoch + 1}/{max_epochs} step {step}: train_loss "
                      f"{row['train_loss']:.4f}"
                      + (f", valid_r {row['valid_r']:.3f}, valid_si_sdr "
                         f"{row['valid_si_sdr']:.2f} dB" if "valid_r" in row else "")
                      + f" ({row['dur']:.1f} s, {world_size} processes)", flush=True)
        if rank == 0:
            finish_run(run.output_dir, codec, history, extra_metadata)
        if world_size > 1:
            dist.barrier()
    finally:
        attach_codebook_sync(codec, None)
    codec.eval()
    return codec, history

