"""Atomic, verified, pickle-free checkpoints for codec training, and resuming from them.

skorch's ``Checkpoint`` writes its files one after another in place, so an interruption can
leave new parameters beside an old optimizer state, and its optimizer files are pickles. Here
every epoch is written to a hidden staging folder (weights and optimizer state as safetensors,
history as JSON, and ``manifest.json`` with the size and SHA-256 of each of them), flushed to
disk, renamed into place, and only then published by atomically rewriting a ``LATEST`` pointer.

Resuming trusts none of it: :func:`resume_point` scans the ``epoch-*`` folders newest first and
takes the first whose files match its manifest (``LATEST`` is only compared with the choice),
warns about every damaged checkpoint it passes over, and refuses, naming the folder, rather
than train over checkpoints it did not resume: when none of them is intact, when the newest
intact one is of another run (another codec config or training data), or when asked not to
resume. A refused run leaves every file as it was.
"""

import json
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from skorch.history import History

from ..codec import atomic_write, file_sha256, is_sha256

__all__ = ["ResumePoint", "save_optimizer_state", "load_optimizer_state", "latest_checkpoint",
           "resume_point", "verify_checkpoint", "checkpoint_folders", "write_checkpoint",
           "read_checkpoint", "MANIFEST_NAME", "CHECKPOINT_FORMAT", "RUN_IDENTITY"]

#: File of a checkpoint folder listing its other files with their sizes and SHA-256.
MANIFEST_NAME = "manifest.json"
#: ``format`` of the manifests this module writes.
CHECKPOINT_FORMAT = "mne-biocodec-checkpoint-1"
# Files every checkpoint holds (a BioCodec's also has module.json).
_REQUIRED_FILES = ("module.safetensors", "optimizer.safetensors", "history.json")
_EPOCH_FOLDER = re.compile(r"epoch-(\d+)")
# Keys of ``run_info`` that make a run: another codec or other training data is another run.
# The other settings (learning rate, batch size, seed, ...) may change when resuming, with a
# warning, as max_epochs may.
RUN_IDENTITY = ("config", "train_segments")


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
    """Load what :func:`save_optimizer_state` wrote into ``optimizer``; restore torch's RNG.

    Raises
    ------
    ValueError
        If the file cannot be read or does not hold a state of this optimizer.
    """
    try:
        with safe_open(str(path), framework="pt") as fid:
            metadata = fid.metadata() or {}
        tensors = load_file(str(path))
        rng_state = tensors.pop("__rng_state__", None)
        state = {}
        for key, value in (list(tensors.items())
                           + list(json.loads(metadata["scalars"]).items())):
            pid, name = key.split(".", 1)
            state.setdefault(int(pid), {})[name] = (
                value.to(device) if isinstance(value, torch.Tensor) and name != "step"
                else value)
        optimizer.load_state_dict({"state": state,
                                   "param_groups": json.loads(metadata["param_groups"])})
        if rng_state is not None:
            torch.set_rng_state(rng_state)
    except (SafetensorError, OSError, KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"Optimizer state {path} cannot be loaded "
                         f"({type(err).__name__}: {err}); it is damaged or of another "
                         "model.") from None


def checkpoint_folders(dirname):
    """The ``epoch-<n>`` folders in ``dirname``, oldest first (by epoch number).

    Staging folders (``.epoch-<n>.partial``) and anything else are not checkpoints.

    Returns
    -------
    folders : list of Path
    """
    root = Path(dirname)
    if not root.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in root.iterdir()
             if (match := _EPOCH_FOLDER.fullmatch(path.name)) and path.is_dir()]
    return [path for _, path in sorted(found)]


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is missing.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not readable JSON ({type(err).__name__}: {err}); it "
                         "was truncated or damaged.") from None


def _read_manifest(path):
    """The manifest at ``path``, its structure checked (it names the files to hash)."""
    manifest = _read_json(path)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (not isinstance(manifest, dict) or manifest.get("format") != CHECKPOINT_FORMAT
            or not isinstance(files, dict) or not isinstance(manifest.get("epochs"), int)
            or not isinstance(manifest.get("run"), (dict, type(None)))):
        raise ValueError(f"{path} is not a checkpoint manifest of format {CHECKPOINT_FORMAT!r}"
                         " (a JSON object with 'files', 'epochs' and 'run').")
    for name, entry in files.items():
        # Names are plain file names of this folder: a manifest cannot point elsewhere.
        if (Path(name).name != name or name in (".", "..") or not isinstance(entry, dict)
                or not isinstance(entry.get("size"), int)
                or not is_sha256(entry.get("sha256"))):
            raise ValueError(f"{path} lists {name!r} with {entry!r}; expected a file name "
                             "with its 'size' and 64-hex-digit 'sha256'.")
    missing = [name for name in _REQUIRED_FILES if name not in files]
    if missing:
        raise ValueError(f"{path} does not list {missing}; it is not a complete checkpoint.")
    return manifest


def _check_safetensors(path):
    """Config stored in a safetensors file's metadata (or None), after checking it parses."""
    try:
        # safe_open checks that the header parses and that the data covers every tensor.
        with safe_open(str(path), framework="pt") as fid:
            metadata = fid.metadata() or {}
    except FileNotFoundError:
        raise ValueError(f"{path} is missing.") from None
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors file ({err}); it was "
                         "truncated or damaged.") from None
    try:
        config = json.loads(metadata["config"]) if "config" in metadata else None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} holds a codec config that is not JSON ({err}).") from None
    return config if isinstance(config, dict) else None


def verify_checkpoint(folder):
    """Check that a checkpoint folder is intact, without loading it.

    A folder with a manifest is intact when every file it lists has the recorded size and
    SHA-256 and the history holds the recorded number of epochs. Folders written before
    manifests existed are checked by parsing their files.

    Parameters
    ----------
    folder : path-like
        A folder written by :func:`write_checkpoint`.

    Returns
    -------
    epochs : int
        Epochs trained when it was written.
    run : dict | None
        The run it belongs to (``run_info`` of :func:`write_checkpoint`; for older folders
        only the codec ``config``), or None when unknown.

    Raises
    ------
    ValueError
        If a file is missing, truncated or changed; the message names it.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    if manifest_path.is_file():
        manifest = _read_manifest(manifest_path)
        for name, entry in manifest["files"].items():
            path = folder / name
            try:
                size = path.stat().st_size
                digest = file_sha256(path) if size == entry["size"] else None
            except FileNotFoundError:
                raise ValueError(f"{path} is missing (listed in {manifest_path}).") from None
            except OSError as err:
                raise ValueError(f"{path} cannot be read ({err}).") from None
            if digest != entry["sha256"]:
                raise ValueError(f"{path} does not match its SHA-256 in {manifest_path} "
                                 f"({size} bytes; {entry['size']} were written): it was "
                                 "truncated or changed after it was written.")
        epochs, run = manifest["epochs"], manifest["run"]
    else:
        config = _check_safetensors(folder / "module.safetensors")
        _check_safetensors(folder / "optimizer.safetensors")
        epochs, run = None, None if config is None else {"config": config}
    history = _read_json(folder / "history.json")
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history) \
            or epochs not in (None, len(history)):
        raise ValueError(f"{folder / 'history.json'} must hold one JSON object per epoch "
                         f"({epochs} epochs); it does not.")
    return len(history), run


def _normalised(value):
    # JSON round trip: tuples and lists, ints and floats compare as they were stored.
    return json.loads(json.dumps(value, sort_keys=True))


def _differences(saved, current):
    """``key: saved -> current`` for the settings that both record and that differ."""
    saved, current = _normalised(saved), _normalised(current)
    found = []
    for key in sorted(set(saved) & set(current)):
        if isinstance(saved[key], dict) and isinstance(current[key], dict):
            found += [f"{key}.{d}" for d in _differences(saved[key], current[key])]
        elif saved[key] != current[key]:
            found.append(f"{key}: {saved[key]!r} in the checkpoint, {current[key]!r} now")
    return found


class ResumePoint(NamedTuple):
    """Where a run resumes: the checkpoint folder (None: a fresh start) and its epochs."""

    folder: object
    epochs: int


def resume_point(dirname, resume=True, run_info=None, warn=True):
    """The newest intact checkpoint to resume from, or a fresh start; refuse anything else.

    Parameters
    ----------
    dirname : path-like
        Folder of the checkpoints.
    resume : bool, default=True
        False: start afresh, which is refused when ``dirname`` holds checkpoints.
    run_info : dict | None
        Settings of the run about to train (as given to :func:`write_checkpoint`). A
        checkpoint recording another ``config`` or ``train_segments`` shape
        (:data:`RUN_IDENTITY`) is of another run; other changed settings are warned about.
    warn : bool, default=True
        Emit a ``RuntimeWarning`` for each damaged checkpoint passed over, for a ``LATEST``
        pointer that disagrees with the choice, and for changed settings.

    Returns
    -------
    point : ResumePoint
        ``folder`` (None for a fresh start) and ``epochs`` already trained.

    Raises
    ------
    ValueError
        If ``dirname`` holds checkpoints and ``resume`` is False, none of them is intact,
        or the newest intact one is of another run. Nothing is modified.
    """
    root = Path(dirname)
    folders = checkpoint_folders(root)
    fresh = ("Nothing was changed; pass a new output folder (output_dir, or --out on the "
             f"command line) or delete {str(root)!r} to start a new run")
    if not folders:
        return ResumePoint(None, 0)
    if not resume:
        raise ValueError(f"{root} holds checkpoints of an earlier run "
                         f"({', '.join(p.name for p in folders)}) and resume is off, so they "
                         f"would be overwritten. {fresh}, or resume it.")
    damaged = []
    for folder in reversed(folders):
        try:
            epochs, run = verify_checkpoint(folder)
        except ValueError as err:
            damaged.append(f"{folder.name} is damaged: {err}")
            continue
        saved, current = run or {}, run_info or {}
        other_run = _differences({k: saved[k] for k in RUN_IDENTITY if k in saved}, current)
        if other_run:
            raise ValueError(f"The newest intact checkpoint {folder} is of another run "
                             f"({'; '.join(other_run)}). {fresh}, or pass the codec config "
                             "and data it was trained with to resume it.")
        changed = _differences({k: v for k, v in saved.items() if k not in RUN_IDENTITY},
                               current)
        break
    else:
        raise ValueError(f"No checkpoint in {root} is intact, so the run cannot resume: "
                         f"{' '.join(damaged)} {fresh}.")
    notes = [f"{text} Resuming from {folder.name}, the newest intact checkpoint."
             for text in damaged]
    if changed:
        notes.append(f"resuming {folder.name} with other settings than it was trained with "
                     f"({'; '.join(changed)}): the run will not match an uninterrupted one.")
    try:
        # Only compared with the choice, so whatever it holds is read as (short) text.
        named = (root / "LATEST").read_bytes()[:200].decode("utf-8", "replace").strip()
    except OSError:
        named = None
    if named is None:
        notes.append(f"LATEST is missing; resuming from {folder.name}, the newest intact "
                     "checkpoint.")
    elif named != folder.name and not damaged:
        notes.append(f"LATEST names {named!r}, which is not the newest intact checkpoint; "
                     f"resuming from {folder.name}.")
    if warn:
        for note in notes:
            warnings.warn(f"Checkpoints in {root}: {note}", RuntimeWarning, stacklevel=2)
    return ResumePoint(folder, epochs)


def latest_checkpoint(dirname):
    """Folder of the newest intact checkpoint in ``dirname``, or None.

    The ``epoch-*`` folders are checked newest first (see :func:`verify_checkpoint`); the
    ``LATEST`` pointer is not trusted.
    """
    for folder in reversed(checkpoint_folders(dirname)):
        try:
            verify_checkpoint(folder)
        except ValueError:
            continue
        return folder
    return None


def _fsync(path):
    """Flush a file or folder to disk, so that a power loss cannot undo a rename after it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_checkpoint(dirname, name, module, optimizer, history, keep=2, run_info=None):
    """Write a checkpoint folder ``dirname/name`` and publish it as the latest.

    The files and their manifest are written to a hidden staging folder, flushed to disk and
    renamed into place before the ``LATEST`` pointer is rewritten atomically, so a reader
    never sees a partial checkpoint and a damaged one is detected
    (:func:`verify_checkpoint`).

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
        Checkpoints kept on disk: older ones (by epoch) are deleted.
    run_info : dict | None
        JSON-serialisable settings of the run, stored in the manifest so that a resume with
        other settings is refused (see :func:`resume_point`).

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
    files = sorted(staging.iterdir())
    manifest = {"format": CHECKPOINT_FORMAT, "name": name, "epochs": len(history),
                "files": {p.name: {"size": p.stat().st_size, "sha256": file_sha256(p)}
                          for p in files},
                "run": None if run_info is None else _normalised(run_info)}
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    for path in files + [staging / MANIFEST_NAME, staging]:
        _fsync(path)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    _fsync(root)
    with atomic_write(root / "LATEST") as tmp:
        tmp.write_text(name)
    _fsync(root)
    # Only checkpoints up to this one count: a damaged newer one that the run resumed past
    # is replaced when training reaches its epoch.
    done = checkpoint_folders(root)
    done = done[:done.index(folder) + 1]
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def read_checkpoint(folder, module, optimizer, device="cpu"):
    """Load a checkpoint written by :func:`write_checkpoint` into ``module`` and ``optimizer``.

    Returns
    -------
    history : skorch.history.History
        The history saved with it.

    Raises
    ------
    ValueError
        If a file cannot be read or holds another model; the message names it.
    """
    folder = Path(folder)
    path = folder / "module.safetensors"
    try:
        state = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as err:
        raise ValueError(f"{path} cannot be read ({err}); it is damaged.") from None
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path} holds another model than this run trains "
                         f"({str(err).splitlines()[-1].strip()}); the checkpoint is of "
                         f"another run. Pass a new output folder or delete {folder.parent}."
                         ) from None
    load_optimizer_state(optimizer, folder / "optimizer.safetensors", device)
    path = folder / "history.json"
    history = _read_json(path)
    if not isinstance(history, list):
        raise ValueError(f"{path} must hold a JSON list of epochs; got "
                         f"{type(history).__name__}.")
    return History(history)
