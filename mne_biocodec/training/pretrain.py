"""Pretraining and fine-tuning a codec on single-channel segments."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import ProgressBar
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch.utils.data import RandomSampler

from ..codec import EEG_CONFIG, default_device, load_codec, save_codec
from ..codec.losses import EEG_WINDOWS, EMG_WINDOWS
from ..codec.io import atomic_write
from .checkpoint import ResumableCheckpoint, resume_point
from .net import BioCodecNet
from .schedule import WarmupCosine

__all__ = ["pretrain_codec", "check_segments"]


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


def loss_windows(config):
    """STFT windows of the codec loss for a codec config (EEG or EMG)."""
    return EMG_WINDOWS if config.get("modality") == "emg" else EEG_WINDOWS


@dataclass
class _Run:
    train_segments: np.ndarray
    valid_segments: object
    output_dir: Path
    checkpoint_dir: Path
    config: dict
    init_codec: object
    start_epoch: int
    resume_from: object
    run_info: dict
    device: torch.device


def prepare_run(train_segments, valid_segments, output_dir, *, config=None, init=None,
                device=None, seed=0, resume=True, n_threads=None, settings=None,
                progress=True, main_process=True):
    """What every training run does first (single-process and data-parallel alike).

    Validates the segments, sets threads and seeds, resolves the codec config (from
    ``init`` when fine-tuning) and finds the checkpoint to resume from: the newest intact
    one of this run (:func:`~mne_biocodec.training.checkpoint.resume_point`), which it names
    when ``progress``.

    Parameters
    ----------
    settings : dict | None
        Training settings (batch size, learning rate, ...); with the codec config, the seed
        and the training data's shape they form the ``run_info`` stored in every checkpoint.
        Resuming with another config or data shape is refused, with other settings warned
        about.
    main_process : bool, default=True
        False on the other processes of a data-parallel run: they neither print nor warn.

    Returns
    -------
    run : object
        With ``train_segments``, ``valid_segments``, ``output_dir``, ``checkpoint_dir``,
        ``config``, ``init_codec`` (or None), ``start_epoch``, ``resume_from`` (the
        checkpoint folder, or None), ``run_info`` and ``device``.

    Raises
    ------
    ValueError
        If the output folder holds checkpoints this run cannot resume from (none intact,
        another run's, or ``resume=False``); nothing is overwritten.
    """
    train_segments = check_segments(train_segments, "train_segments")
    if valid_segments is not None:
        valid_segments = check_segments(valid_segments, "valid_segments")
    init_codec = None
    if init is not None:
        init_codec = init if isinstance(init, torch.nn.Module) else load_codec(init, "cpu")
        config = init_codec.config
    config = dict(EEG_CONFIG, **(config or {}))
    run_info = dict(settings or {}, config=config, seed=seed,
                    train_segments=list(train_segments.shape))
    output_dir = Path(output_dir)
    checkpoint_dir = output_dir / "checkpoints"
    point = resume_point(checkpoint_dir, resume, run_info, warn=main_process)
    if point.folder is not None and progress and main_process:
        print(f"Resuming from {point.folder} ({point.epochs} epochs trained).", flush=True)
    if n_threads is not None:
        torch.set_num_threads(int(n_threads))
    torch.manual_seed(seed)
    np.random.seed(seed)
    return _Run(train_segments, valid_segments, output_dir, checkpoint_dir, config,
                init_codec, point.epochs, point.folder, run_info, default_device(device))


def finish_run(output_dir, codec, history, extra_metadata=None):
    """Write the trained codec (``codec.safetensors`` + JSON) and ``history.json``."""
    codec.eval()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_codec(codec, output_dir / "codec.safetensors", extra_metadata=extra_metadata)
    with atomic_write(output_dir / "history.json") as tmp:
        history.to_file(str(tmp))


def pretrain_codec(train_segments, valid_segments=None, output_dir="biocodec-run", *,
                   config=None, init=None, max_epochs=10, steps_per_epoch=None,
                   batch_size=32, lr=1e-3, time_weight=1.0, freq_weight=1.0,
                   warmup_steps=50, final_lr_ratio=0.01, device=None, seed=0,
                   resume=True, progress=True, n_threads=None, checkpoint_every=1,
                   extra_metadata=None):
    """Train (or fine-tune) a codec, with checkpoints, resume and a held-out fidelity curve.

    Parameters
    ----------
    train_segments : ndarray, shape (n_segments, 1, n_times)
        Normalised single-channel segments at the codec rate (see
        :func:`mne_biocodec.datasets.make_codec_segments`).
    valid_segments : ndarray, shape (n_valid, 1, n_times) | None
        Held-out segments scored after every epoch (``valid_r``, ``valid_si_sdr``).
    output_dir : path-like, default="biocodec-run"
        Receives ``checkpoints/``, the final ``codec.safetensors`` (+ ``.json``) and
        ``history.json``.
    config : dict | None
        Codec config (defaults to the reference EEG codec); ignored when ``init`` is given.
    init : str | path-like | BioCodec | None
        Codec to fine-tune (a shipped name, a file, or a codec); None trains from scratch.
    max_epochs : int, default=10
        Epochs in total (a resumed run trains only the remaining ones).
    steps_per_epoch : int | None
        Optimiser steps per epoch, drawing segments at random; None makes one pass.
    batch_size : int, default=32
        Segments per step.
    lr : float, default=1e-3
        Peak learning rate of Adam (betas 0.5, 0.9). The reference uses 1e-4 over ~195 k GPU
        steps; on a CPU budget 1e-3 converges much faster (see the model card).
    time_weight, freq_weight : float, default=1.0
        Weights of the Huber and multi-scale STFT losses (the reference uses 0.2 and 1.0).
    warmup_steps : int, default=50
        Linear warm-up steps before the cosine decay.
    final_lr_ratio : float, default=0.01
        Learning rate at the end, relative to ``lr``.
    device : str | None
        ``"cuda"`` when available, else ``"cpu"``.
    seed : int, default=0
        Seeds torch (initialisation, k-means, sampling).
    resume : bool, default=True
        Continue from the newest intact checkpoint in ``output_dir`` if there is one (a
        damaged newer one is passed over with a ``RuntimeWarning``). False starts afresh and
        refuses an ``output_dir`` that already holds checkpoints.
    progress : bool, default=True
        Show tqdm progress bars (and which checkpoint the run resumes from).
    n_threads : int | None
        ``torch.set_num_threads`` for the run.
    checkpoint_every : int, default=1
        Epochs between checkpoints.
    extra_metadata : dict | None
        Stored with the final codec (e.g. which data it was trained on).

    Returns
    -------
    net : BioCodecNet
        The fitted net; ``net.module_`` is the trained codec, ``net.history`` the curves.

    Raises
    ------
    ValueError
        If ``output_dir`` holds checkpoints the run cannot resume from: none is intact,
        the newest intact one was trained with another codec config or on training data of
        another shape, or ``resume=False``. Nothing is overwritten: pass a new
        ``output_dir`` or delete the old one. (Resuming with other training settings, such
        as the learning rate or seed, gives a ``RuntimeWarning``; ``max_epochs`` may
        change freely.)
    """
    run = prepare_run(train_segments, valid_segments, output_dir, config=config, init=init,
                      device=device, seed=seed, resume=resume, n_threads=n_threads,
                      settings=dict(batch_size=batch_size, steps_per_epoch=steps_per_epoch,
                                    lr=lr, time_weight=time_weight, freq_weight=freq_weight,
                                    warmup_steps=warmup_steps, final_lr_ratio=final_lr_ratio),
                      progress=progress)
    train_segments, valid_segments = run.train_segments, run.valid_segments
    config, checkpoint_dir = run.config, run.checkpoint_dir

    n_steps = steps_per_epoch or int(np.ceil(len(train_segments) / batch_size))
    sampler_kwargs = {}
    if steps_per_epoch is not None:
        sampler_kwargs = {
            "iterator_train__sampler": RandomSampler(
                range(len(train_segments)), replacement=False,
                num_samples=steps_per_epoch * batch_size),
            "iterator_train__shuffle": False,
        }
    else:
        sampler_kwargs = {"iterator_train__shuffle": True}
    # The checkpoint comes first: it restores the history that the schedule reads its step
    # count from.
    callbacks = [
        ("checkpoint", ResumableCheckpoint(
            checkpoint_dir, every=checkpoint_every, run_info=run.run_info,
            resume=False if run.resume_from is None else run.resume_from)),
        ("lr_schedule", WarmupCosine(max_epochs * n_steps, warmup_steps, final_lr_ratio)),
    ]
    if progress:
        n_valid = 0 if valid_segments is None else int(np.ceil(len(valid_segments) / batch_size))
        callbacks.append(("progress", ProgressBar(batches_per_epoch=n_steps + n_valid)))
    net = BioCodecNet(
        module__config=config,
        criterion__time_weight=time_weight,
        criterion__freq_weight=freq_weight,
        criterion__windows=loss_windows(config),
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        iterator_train__drop_last=steps_per_epoch is None and len(train_segments) > batch_size,
        train_split=(predefined_split(Dataset(valid_segments))
                     if valid_segments is not None else None),
        callbacks=callbacks,
        device=str(run.device),
        verbose=1 if progress else 0,
        **sampler_kwargs,
    )
    net.initialize()
    if run.init_codec is not None:
        net.module_.load_state_dict(run.init_codec.state_dict())
    remaining = max_epochs - run.start_epoch
    if remaining > 0:
        net.partial_fit(train_segments, None, epochs=remaining)
    elif run.resume_from is not None:
        # Everything was trained already: load the final state without training.
        ckpt = dict(callbacks)["checkpoint"]
        ckpt.on_train_begin(net)
    finish_run(run.output_dir, net.module_, net.history, extra_metadata)
    return net
