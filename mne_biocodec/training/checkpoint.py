"""Atomic, pickle-free checkpoints for skorch training, and resuming from them.

skorch's ``Checkpoint`` writes its files one after another in place, so an interruption can
leave new parameters beside an old optimizer state, and its optimizer files are pickles. Here
every epoch is written to a fresh folder (weights and optimizer state as safetensors, history as
JSON) and only then published by atomically rewriting a ``LATEST`` pointer.
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from skorch.callbacks import Callback
from skorch.history import History

from ..codec.io import atomic_write

__all__ = ["ResumableCheckpoint", "save_optimizer_state", "load_optimizer_state",
           "latest_checkpoint", "write_checkpoint", "read_checkpoint"]


def save_optimizer_state(optimizer, path):
    """Write an optimizer's state dict as safetensors (tensors) + metadata (the rest)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, pstate in state["state"].items():
        for name, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    tensors["__rng_state__"] = torch.get_rng_state()
    metadata = {"param_groups": json.dumps(state["param_groups"]),
                "scalars": json.dumps(scalars)}
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_optimizer_state(optimizer, path, device="cpu"):
    """Load what :func:`save_optimizer_state` wrote into ``optimizer``; restore torch's RNG."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fid:
        metadata = fid.metadata()
    tensors = load_file(str(path))
    rng_state = tensors.pop("__rng_state__", None)
    state = {}
    for key, value in list(tensors.items()) + list(json.loads(metadata["scalars"]).items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = (
            value.to(device) if isinstance(value, torch.Tensor) and name != "step" else value)
    optimizer.load_state_dict({"state": state,
                               "param_groups": json.loads(metadata["param_groups"])})
    if rng_state is not None:
        torch.set_rng_state(rng_state)


def latest_checkpoint(dirname):
    """Folder of the newest complete checkpoint in ``dirname``, or None."""
    pointer = Path(dirname) / "LATEST"
    if not pointer.is_file():
        return None
    folder = Path(dirname) / pointer.read_text().strip()
    return folder if folder.is_dir() else None


def write_checkpoint(dirname, name, module, optimizer, history, keep=2):
    """Write a checkpoint folder ``dirname/name`` and publish it as the latest.

    The files are written to a hidden staging folder that is renamed into place before the
    ``LATEST`` pointer is rewritten atomically, so a reader never sees a partial checkpoint.

    Parameters
    ----------
    dirname : path-like
        Folder of the checkpoints.
    name : str
        Name of this checkpoint (e.g. ``"epoch-0003"``).
    module : torch.nn.Module
        Saved to ``module.safetensors`` (a :class:`~mne_biocodec.codec.BioCodec` with its
        config, via :func:`~mne_biocodec.codec.save_codec`).
    optimizer : torch.optim.Optimizer
        Saved to ``optimizer.safetensors`` with torch's RNG state.
    history : skorch.history.History
        Saved to ``history.json``.
    keep : int, default=2
        Complete checkpoints kept on disk.

    Returns
    -------
    folder : Path
        The published checkpoint.
    """
    from ..codec import BioCodec, save_codec

    root = Path(dirname)
    folder = root / name
    staging = root / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if isinstance(module, BioCodec):
        save_codec(module, staging / "module.safetensors")
    else:
        save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()},
                  str(staging / "module.safetensors"))
    save_optimizer_state(optimizer, staging / "optimizer.safetensors")
    history.to_file(str(staging / "history.json"))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    with atomic_write(root / "LATEST") as tmp:
        tmp.write_text(name)
    done = sorted(p for p in root.glob("epoch-*") if p.is_dir())
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def read_checkpoint(folder, module, optimizer, device="cpu"):
    """Load a checkpoint written by :func:`write_checkpoint` into ``module`` and ``optimizer``.

    Returns
    -------
    history : skorch.history.History
        The history saved with it.
    """
    folder = Path(folder)
    module.load_state_dict(load_file(str(folder / "module.safetensors"), device=str(device)))
    load_optimizer_state(optimizer, folder / "optimizer.safetensors", device)
    return History.from_file(str(folder / "history.json"))


class ResumableCheckpoint(Callback):
    """Save the module, optimizer and history at epoch ends; resume from them at fit start.

    Parameters
    ----------
    dirname : path-like
        Folder of the checkpoints (``epoch-0001/``, ..., and the ``LATEST`` pointer).
    every : int, default=1
        Save every ``every`` epochs (and always after the last one).
    keep : int, default=2
        Complete checkpoints kept on disk.
    resume : bool, default=True
        Load the latest checkpoint (if any) when training begins.

    Notes
    -----
    The module must provide ``state_dict``; its weights go to ``module.safetensors`` and, for
    a :class:`~mne_biocodec.codec.BioCodec`, the codec config to ``module.json`` via
    :func:`~mne_biocodec.codec.save_codec`, so any checkpoint loads with
    :func:`~mne_biocodec.load_codec`.
    """

    def __init__(self, dirname, every=1, keep=2, resume=True):
        self.dirname = dirname
        self.every = every
        self.keep = keep
        self.resume = resume

    def on_train_begin(self, net, **kwargs):
        self.loaded_from_ = None
        folder = latest_checkpoint(self.dirname) if self.resume else None
        if folder is None or len(net.history):
            return
        net.history = read_checkpoint(folder, net.module_, net.optimizer_, net.device)
        self.loaded_from_ = folder

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.every and epoch != net.max_epochs:
            return
        self.save(net)

    def save(self, net):
        """Write a checkpoint of ``net`` now and publish it."""
        write_checkpoint(self.dirname, f"epoch-{len(net.history):04d}", net.module_,
                         net.optimizer_, net.history, keep=self.keep)
