"""Codec training and fine-tuning: one loop, in one process or data-parallel under torchrun.

Each step takes a batch of single-channel segments, runs the codec, and minimises
:class:`~mne_biocodec.codec.CodecLoss` (Huber + multi-scale STFT + RVQ commitment) with Adam
under a warm-up + cosine schedule; the codebooks learn by EMA. Launched by ``torchrun`` the
same loop runs data-parallel (:mod:`mne_biocodec.training.distributed`): the processes share
each global batch, DDP averages the gradients and the codebooks stay identical, so N
processes take the steps of one. Every ``checkpoint_every`` epochs rank 0 writes a verified
checkpoint (:mod:`mne_biocodec.training.checkpoint`); a rerun resumes from the newest intact
one.
"""

import hashlib
import time
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from skorch.history import History

from ..codec import EEG_CONFIG, BioCodec, CodecLoss, default_device, load_codec, save_codec
from ..codec.io import atomic_write
from ..codec.losses import EEG_WINDOWS, EMG_WINDOWS
from ..codec.metrics import pearson_r, si_sdr
from .checkpoint import read_checkpoint, resume_point, write_checkpoint
from .distributed import (ShardedBatches, attach_codebook_sync, mean_over_processes,
                          process_group, wrap_ddp)
from .schedule import warmup_cosine_factor
from .settings import TrainingRecipe

__all__ = ["pretrain_codec", "check_segments", "TrainingResult", "LOGGED_PARTS",
           "ADAM_BETAS"]

#: Parts of the loss recorded per batch and per epoch, besides the total ``loss``.
LOGGED_PARTS = ("l_t", "l_f", "l_w")
#: Adam's betas in the reference recipe.
ADAM_BETAS = (0.5, 0.9)


def check_segments(segments, name="segments"):
    """Validate training segments ``(n_segments, 1, n_times)`` and return float32."""
    from ..preprocessing import check_signal_array

    segments = check_signal_array(segments, name=name, ndim=3)
    if segments.shape[1] != 1:
        raise ValueError(
            f"{name} must be single-channel segments (n_segments, 1, n_times); got shape "
            f"{segments.shape}. Build them with mne_biocodec.datasets.make_codec_segments."
        )
    return np.ascontiguousarray(segments, dtype=np.float32)


@dataclass
class TrainingResult:
    """What :func:`pretrain_codec` returns.

    Attributes
    ----------
    codec : BioCodec
        The trained codec, in eval mode (identical on every process).
    history : skorch.history.History
        Per epoch: ``epoch``, ``train_loss``, ``train_l_t``, ``train_l_f``, ``train_l_w``
        (means over the epoch's global batches), with held-out segments ``valid_loss``,
        ``valid_l_t``, ``valid_l_f``, ``valid_l_w``, ``valid_r`` and ``valid_si_sdr``,
        then ``train_steps`` (optimiser steps so far), ``lr`` and ``dur`` (seconds); under
        ``batches`` the training values of each step. Index it as skorch's:
        ``history[:, "train_loss"]``.
    recipe : TrainingRecipe
        The settings the run trained with.
    output_dir : Path
        The folder holding the checkpoints, ``codec.safetensors`` and ``history.json``.
    resumed_from : Path | None
        The checkpoint the run resumed from (None: it started afresh).
    """

    codec: BioCodec
    history: History
    recipe: TrainingRecipe
    output_dir: Path
    resumed_from: Path | None = None

    @property
    def module_(self):
        """The trained codec, under skorch's name for a fitted module."""
        return self.codec


def _as_recipe(recipe, overrides):
    """A :class:`TrainingRecipe` from a recipe, a dict or a JSON file, with ``overrides``."""
    if recipe is None:
        recipe = TrainingRecipe()
    elif isinstance(recipe, dict):
        recipe = TrainingRecipe.from_dict(recipe)
    elif isinstance(recipe, (str, PathLike)):
        recipe = TrainingRecipe.from_json(recipe)
    elif not isinstance(recipe, TrainingRecipe):
        raise TypeError(f"recipe must be a TrainingRecipe, a dict of its fields or a JSON "
                        f"file; got {type(recipe).__name__}.")
    try:
        return recipe.replace(**overrides)
    except TypeError as err:
        raise TypeError(f"pretrain_codec() got unexpected keyword arguments: {err}") from None


def _initial_codec(config, init):
    """The codec config and the codec to start from (None: initialised from the seed).

    With ``init``, ``config`` overrides the init codec's settings (training settings of the
    quantizer such as ``commitment_weight``, or its ``name``): a warm start continues the
    same weights under other training settings.
    """
    if init is None:
        return dict(EEG_CONFIG, **(config or {})), None
    codec = init if isinstance(init, torch.nn.Module) else load_codec(init, "cpu")
    return {**EEG_CONFIG, **codec.config, **(config or {})}, codec


def _load_init_weights(codec, init_codec):
    """Copy the weights of the codec to fine-tune; a codec of another shape is refused."""
    try:
        codec.load_state_dict(init_codec.state_dict())
    except RuntimeError as err:
        raise ValueError(
            f"init holds another architecture than config describes "
            f"({str(err).splitlines()[-1].strip()}); with init, config may only change "
            "settings that keep the weights' shapes (e.g. commitment_weight, "
            "quantizer_dropout, threshold_ema_dead_code, decay, name).") from None


class _Steps:
    """The optimiser steps and held-out scores of a run, in one process or data-parallel.

    ``codec`` trains through a DDP wrapper (with its codebooks synced) when ``world_size``
    > 1; :meth:`close` detaches the sync.
    """

    def __init__(self, codec, optimizer, criterion, batches, recipe, step, rank, world_size,
                 device):
        self.codec, self.optimizer, self.criterion = codec, optimizer, criterion
        self.batches, self.recipe, self.step = batches, recipe, step
        self.rank, self.world_size, self.device = rank, world_size, device
        self.total_steps = recipe.max_epochs * len(batches)
        self.model = codec
        if world_size > 1:
            attach_codebook_sync(codec)
            self.model = wrap_ddp(codec, device)
        self.model.train()

    def close(self):
        attach_codebook_sync(self.codec, None)

    def train_epoch(self, epoch, segments, history):
        """One epoch of steps; records the per-batch and the mean training losses."""
        recipe, optimizer = self.recipe, self.optimizer
        keys = ("loss",) + LOGGED_PARTS
        sums = torch.zeros(len(keys), dtype=torch.float64)
        for idx in self.batches.epoch(epoch):
            factor = warmup_cosine_factor(self.step, self.total_steps, recipe.warmup_steps,
                                          recipe.final_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = recipe.lr * factor
            x = torch.from_numpy(segments[idx]).to(self.device)
            reconstruction, penalty, _ = self.model(x)
            parts = self.criterion(x, reconstruction, penalty)
            optimizer.zero_grad(set_to_none=True)
            parts["loss"].backward()
            optimizer.step()
            self.step += 1
            values = mean_over_processes(
                torch.stack([parts[k].detach() for k in keys]).double().cpu(),
                self.world_size)
            sums += values
            history.new_batch()
            for key, value in zip(keys, values.tolist()):
                history.record_batch(f"train_{key}", value)
        for key, value in zip(keys, (sums / len(self.batches)).tolist()):
            history.record(f"train_{key}", value)

    @torch.no_grad()
    def validate(self, segments):
        """Loss parts, Pearson r and SI-SDR over held-out segments, shared by the processes."""
        self.codec.eval()
        mine = segments[self.rank::self.world_size]
        # sums of loss, l_t, l_f, l_w (times segments), r, SI-SDR, and the count
        totals = torch.zeros(7, dtype=torch.float64, device=self.device)
        for start in range(0, len(mine), self.recipe.batch_size):
            x = torch.from_numpy(mine[start:start + self.recipe.batch_size]).to(self.device)
            reconstruction, penalty, _ = self.codec(x)
            parts = self.criterion(x, reconstruction, penalty)
            n = x.shape[0]
            totals += torch.stack([parts["loss"] * n, parts["l_t"] * n, parts["l_f"] * n,
                                   parts["l_w"] * n, pearson_r(x, reconstruction).sum(),
                                   si_sdr(x, reconstruction).sum(),
                                   torch.tensor(float(n), device=x.device)]).to(totals)
        if self.world_size > 1:
            dist.all_reduce(totals)
        self.codec.train()
        count = max(float(totals[6]), 1.0)
        names = ("valid_loss",) + tuple(f"valid_{p}" for p in LOGGED_PARTS) + (
            "valid_r", "valid_si_sdr")
        return dict(zip(names, (float(v) / count for v in totals[:6])))


def _print_epoch(row, max_epochs, world_size):
    valid = (f", valid_r {row['valid_r']:.3f}, valid_si_sdr {row['valid_si_sdr']:.2f} dB"
             if "valid_r" in row else "")
    print(f"epoch {row['epoch']}/{max_epochs} step {row['train_steps']}: train_loss "
          f"{row['train_loss']:.4f}{valid} ({row['dur']:.1f} s, {world_size} "
          f"process{'es' if world_size > 1 else ''})",
          flush=True)


def _publish(output_dir, codec, history, extra_metadata):
    """Write the trained codec (``codec.safetensors`` + JSON) and ``history.json``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    save_codec(codec, output_dir / "codec.safetensors", extra_metadata=extra_metadata)
    with atomic_write(output_dir / "history.json") as tmp:
        history.to_file(str(tmp))


def pretrain_codec(train_segments, valid_segments=None, output_dir="biocodec-run", *,
                   recipe=None, config=None, init=None, device=None, resume=True,
                   progress=True, extra_metadata=None, sample_weights=None, **overrides):
    """Train (or fine-tune) a codec, with checkpoints, resume and a held-out fidelity curve.

    In one process, or data-parallel over the processes of a ``torchrun`` launch (see
    :mod:`mne_biocodec.training.distributed`), with the same steps either way.

    Parameters
    ----------
    train_segments : ndarray, shape (n_segments, 1, n_times)
        Normalised single-channel segments at the codec rate (see
        :func:`mne_biocodec.datasets.make_codec_segments`). Under ``torchrun`` every
        process passes the same segments.
    valid_segments : ndarray, shape (n_valid, 1, n_times) | None
        Held-out segments scored after every epoch (``valid_r``, ``valid_si_sdr``).
    output_dir : path-like, default="biocodec-run"
        Receives ``checkpoints/``, the final ``codec.safetensors`` (+ ``.json``) and
        ``history.json``; under ``torchrun``, a folder every process sees.
    recipe : TrainingRecipe | dict | path-like | None
        The training settings (schedule, batch, loss weights, seed, checkpoints): a
        :class:`TrainingRecipe`, a dict of its fields, or a JSON file (a recipe file's
        training keys); None takes the defaults.
    config : dict | None
        Codec config (defaults to the reference EEG codec). With ``init``, it overrides the
        init codec's config, which may only change settings that keep the weights' shapes
        (e.g. ``commitment_weight``, ``quantizer_dropout``, ``threshold_ema_dead_code``,
        ``decay``, ``name``).
    init : str | path-like | BioCodec | None
        Codec to fine-tune or warm-start from (a shipped name, a file, or a codec); None
        trains from scratch. A resumed run takes its weights from the checkpoint instead.
    device : str | None
        ``"cuda"`` when available, else ``"cpu"``. Ignored under ``torchrun``, where each
        process takes its GPU (``LOCAL_RANK``) or the CPU.
    resume : bool, default=True
        Continue from the newest intact checkpoint in ``output_dir`` if there is one (a
        damaged newer one is passed over with a ``RuntimeWarning``). False starts afresh and
        refuses an ``output_dir`` that already holds checkpoints.
    progress : bool, default=True
        Print one line per epoch, and which checkpoint the run resumes from (rank 0).
    extra_metadata : dict | None
        Stored with the final codec (e.g. which data it was trained on).
    sample_weights : array-like of float, shape (n_segments,) | None
        Sampling weight of each training segment (e.g. to balance data sets): each epoch
        draws its batches with replacement in proportion to them (see
        :class:`~mne_biocodec.training.distributed.ShardedBatches`). None draws seeded
        permutations. Stored in the checkpoints as a digest: resuming with other weights,
        or with none, gives a ``RuntimeWarning``.
    **overrides
        Fields of :class:`TrainingRecipe` replacing the recipe's (``max_epochs``,
        ``steps_per_epoch``, ``batch_size``, ``lr``, ``time_weight``, ``freq_weight``,
        ``warmup_steps``, ``final_lr_ratio``, ``seed``, ``checkpoint_every``,
        ``n_threads``).

    Returns
    -------
    result : TrainingResult
        ``result.codec`` (also ``result.module_``) is the trained codec, ``result.history``
        the curves (a :class:`skorch.history.History`).

    Raises
    ------
    TypeError
        If a keyword argument is not a training setting.
    ValueError
        If the segments are not finite single-channel segments, a setting is out of range,
        or ``output_dir`` holds checkpoints the run cannot resume from: none is intact, the
        newest intact one was trained with another codec config or on training data of
        another shape, or ``resume=False``. Nothing is overwritten: pass a new
        ``output_dir`` or delete the old one. (Resuming with other training settings, such
        as the learning rate or seed, gives a ``RuntimeWarning``; ``max_epochs`` may
        change freely.) On every process, before any training.

    See Also
    --------
    train_from_recipe : Builds the segments of a recipe file and calls this function.

    Notes
    -----
    Each epoch draws a permutation of the segments from a generator seeded with ``(seed,
    epoch)`` and cuts it into global batches of ``batch_size``
    (:class:`~mne_biocodec.training.distributed.ShardedBatches`). A run resumed from a
    checkpoint restores the codec, the optimiser, torch's RNG and the history, and
    continues the learning-rate schedule at its step count, so it ends bit for bit where an
    uninterrupted run would. Checkpoints written by earlier versions (the skorch
    ``BioCodecNet`` loop and ``pretrain_codec_distributed``) hold the same files and resume.
    """
    recipe = _as_recipe(recipe, overrides)
    train_segments = check_segments(train_segments, "train_segments")
    if len(train_segments) == 0:
        raise ValueError("train_segments holds no segment; pass at least one batch.")
    if valid_segments is not None:
        valid_segments = check_segments(valid_segments, "valid_segments")
    config, init_codec = _initial_codec(config, init)
    output_dir = Path(output_dir)
    checkpoint_dir = output_dir / "checkpoints"
    with process_group() as (rank, world_size, parallel_device):
        device = default_device(device) if world_size == 1 else parallel_device
        batches = ShardedBatches(len(train_segments), recipe.batch_size,
                                 recipe.steps_per_epoch, rank, world_size, recipe.seed,
                                 weights=sample_weights)
        run_info = dict(recipe.run_settings(), config=config, seed=recipe.seed,
                        train_segments=list(train_segments.shape))
        # A digest, not the weights: the manifest stays small and still tells a resume
        # with other weights (or none) apart.
        run_info["sample_weights_sha256"] = None if batches.weights is None else \
            hashlib.sha256(batches.weights.numpy().tobytes()).hexdigest()
        point = resume_point(checkpoint_dir, resume, run_info, warn=rank == 0)
        if point.folder is not None and progress and rank == 0:
            print(f"Resuming from {point.folder} ({point.epochs} epochs trained).",
                  flush=True)
        if recipe.n_threads is not None:
            torch.set_num_threads(recipe.n_threads)
        torch.manual_seed(recipe.seed)
        codec = BioCodec(config).to(device)
        if init_codec is not None:
            _load_init_weights(codec, init_codec)
        optimizer = torch.optim.Adam(codec.parameters(), lr=recipe.lr, betas=ADAM_BETAS)
        criterion = CodecLoss(time_weight=recipe.time_weight, freq_weight=recipe.freq_weight,
                              windows=EMG_WINDOWS if codec.modality == "emg" else EEG_WINDOWS)
        history = History()
        if point.folder is not None:
            history = read_checkpoint(point.folder, codec, optimizer, device)
        steps = _Steps(codec, optimizer, criterion, batches, recipe,
                       int(history[-1, "train_steps"]) if len(history) else 0, rank,
                       world_size, device)
        try:
            for epoch in range(point.epochs, recipe.max_epochs):
                t0 = time.perf_counter()
                history.new_epoch()
                history.record("epoch", epoch + 1)
                steps.train_epoch(epoch, train_segments, history)
                if valid_segments is not None:
                    for key, value in steps.validate(valid_segments).items():
                        history.record(key, value)
                history.record("train_steps", steps.step)
                history.record("lr", optimizer.param_groups[0]["lr"])
                history.record("dur", time.perf_counter() - t0)
                last = epoch + 1 == recipe.max_epochs
                if rank == 0 and ((epoch + 1) % recipe.checkpoint_every == 0 or last):
                    write_checkpoint(checkpoint_dir, f"epoch-{epoch + 1:04d}", codec,
                                     optimizer, history, run_info=run_info)
                if rank == 0 and progress:
                    _print_epoch(history[-1], recipe.max_epochs, world_size)
            codec.eval()
            if rank == 0:
                _publish(output_dir, codec, history, extra_metadata)
            if world_size > 1:
                dist.barrier()
        finally:
            steps.close()
    return TrainingResult(codec, history, recipe, output_dir, point.folder)
