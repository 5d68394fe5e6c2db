"""Train a codec from a recipe (JSON) on the training split of ``CODEC_SPLITS``.

Shared by ``recipes/train_codec.py`` and ``mne-biocodec pretrain``::

    mne-biocodec pretrain recipes/biocodec-eeg.json --out runs/biocodec-eeg

The run is resumable: rerunning the same command continues from the newest intact checkpoint
(passing over damaged ones with a warning), and an output folder holding checkpoints it
cannot resume (none intact, or another recipe's) is refused rather than overwritten. It never
reads the held-out recordings for training; a fixed random subset of their segments is scored
after every epoch to draw the held-out fidelity curve (it is not used to pick a checkpoint: the
last one is shipped).
"""

import json
import os
import time
from pathlib import Path

import numpy as np

from .settings import RECIPE_DATA_KEYS, TrainingRecipe, read_json_object

__all__ = ["build_segments", "load_recipe", "train_from_recipe", "REQUIRED_RECIPE_KEYS"]

#: Keys every recipe must define (``codec_config``, ``notes``, ``checkpoint_every`` and
#: ``n_threads`` are optional): a recipe fixes every setting that shapes the training.
REQUIRED_RECIPE_KEYS = ("name", "modality", "segment_seconds", "valid_segments",
                        "batch_size", "lr", "time_weight", "freq_weight", "warmup_steps",
                        "final_lr_ratio", "steps_per_epoch", "max_epochs", "seed")


def build_segments(split, modality, segment_seconds, sfreq):
    """Codec segments of every recording of a split of ``CODEC_SPLITS``.

    Returns
    -------
    segments : ndarray, shape (n_segments, 1, n_times)
    names : list of str
        Recordings that gave segments.
    seconds : float
        Signal duration covered, in channel-seconds.
    """
    from ..datasets import iter_split_raws, make_codec_segments

    picks = "emg" if modality == "emg" else "eeg"
    parts, names, seconds = [], [], 0.0
    for name, raw in iter_split_raws(split, modality):
        segs = make_codec_segments(raw, sfreq=sfreq, segment_seconds=segment_seconds,
                                   picks=picks)
        if len(segs):
            parts.append(segs)
            names.append(name)
            seconds += segs.shape[0] * segment_seconds
    return np.concatenate(parts), names, seconds


def load_recipe(path):
    """Read and check a recipe JSON file.

    A recipe holds the data keys (:data:`~mne_biocodec.training.settings.RECIPE_DATA_KEYS`:
    ``name``, ``modality``, ``codec_config``, ``segment_seconds``, ``valid_segments`` and
    free-text ``notes``) and the fields of :class:`~mne_biocodec.training.TrainingRecipe`.

    Returns
    -------
    recipe : dict
        The recipe as read (its training keys are checked by ``TrainingRecipe``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a JSON object, lacks required keys, has unknown keys, or a value is
        out of range.
    """
    recipe = read_json_object(path)
    missing = [k for k in REQUIRED_RECIPE_KEYS if k not in recipe]
    if missing:
        raise ValueError(f"Recipe {path} lacks the keys {missing}; see "
                         "recipes/biocodec-eeg.json for a complete recipe.")
    if recipe["modality"] not in ("eeg", "emg"):
        raise ValueError(f"Recipe modality must be 'eeg' or 'emg'; got "
                         f"{recipe['modality']!r}.")
    seconds = recipe["segment_seconds"]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"Recipe segment_seconds must be a positive number; got "
                         f"{seconds!r}.")
    n_valid = recipe["valid_segments"]
    if isinstance(n_valid, bool) or not isinstance(n_valid, int) or n_valid < 0:
        raise ValueError(f"Recipe valid_segments must be an integer >= 0; got {n_valid!r}.")
    if not isinstance(recipe.get("codec_config", {}), dict):
        raise ValueError(f"Recipe codec_config must be a JSON object of codec settings; got "
                         f"{type(recipe['codec_config']).__name__}.")
    try:
        TrainingRecipe.from_dict(recipe, ignore=RECIPE_DATA_KEYS)
    except ValueError as err:
        raise ValueError(f"Recipe {path}: {err}") from None
    return recipe


def _default_data_root():
    """``<repo>/../shared/data`` for a source checkout, when it exists."""
    candidate = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def _prepare_data(recipe, out, sfreq):
    """Training and held-out segments of a recipe, built once and cached in ``out``."""
    from ..codec.io import atomic_write

    cache = out / "segments.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return data["train"], data["valid"], json.loads((out / "data.json").read_text())
    t0 = time.time()
    train, train_names, train_seconds = build_segments(
        "train", recipe["modality"], recipe["segment_seconds"], sfreq)
    heldout, heldout_names, _ = build_segments("heldout", recipe["modality"], 5.0, sfreq)
    rng = np.random.default_rng(recipe["seed"])
    pick = rng.choice(len(heldout), size=min(recipe["valid_segments"], len(heldout)),
                      replace=False)
    valid = heldout[np.sort(pick)]
    meta = {"train_recordings": train_names, "heldout_recordings": heldout_names,
            "train_channel_hours": train_seconds / 3600,
            "n_train_segments": int(len(train)), "n_valid_segments": int(len(valid)),
            "segment_seconds": recipe["segment_seconds"],
            "prepare_seconds": time.time() - t0}
    # The cache is published after its description, so that a present cache is complete.
    with atomic_write(out / "data.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    with atomic_write(cache) as tmp:
        np.savez(tmp, train=train, valid=valid)
    return train, valid, meta


def train_from_recipe(recipe_path, out=None, max_epochs=None):
    """Train (or resume) the codec a recipe describes.

    Builds (or reads from ``out``) the recipe's segments and calls
    :func:`~mne_biocodec.training.pretrain_codec` with the recipe's training settings.
    Launched by ``torchrun`` it trains data-parallel; rank 0 then builds the segment cache
    while the others wait, and the recipe's ``batch_size`` is the global batch.

    Parameters
    ----------
    recipe_path : path-like
        The recipe JSON (see ``recipes/biocodec-eeg.json`` and :func:`load_recipe`).
    out : path-like | None
        Output folder (``runs/<recipe name>`` when None); receives the segment cache,
        checkpoints, the codec and ``curve.json``.
    max_epochs : int | None
        Overrides the recipe's ``max_epochs``.

    Returns
    -------
    out : Path
        The output folder.

    Raises
    ------
    ValueError
        If the recipe is invalid, or ``out`` holds checkpoints the run cannot resume from
        (see :func:`~mne_biocodec.training.pretrain_codec`).
    """
    recipe = load_recipe(recipe_path)
    if max_epochs:
        recipe["max_epochs"] = max_epochs
    training = TrainingRecipe.from_dict(recipe, ignore=RECIPE_DATA_KEYS)
    root = _default_data_root()
    if root is not None:
        os.environ.setdefault("MNE_DATA", str(root))
    import mne
    import torch
    import torch.distributed as dist

    from ..codec import EEG_CONFIG, EMG_CONFIG
    from ..codec.io import atomic_write
    from .distributed import process_group
    from .pretrain import pretrain_codec

    mne.set_log_level("error")
    out = Path(out or f"runs/{recipe['name']}")
    out.mkdir(parents=True, exist_ok=True)
    base = EMG_CONFIG if recipe["modality"] == "emg" else EEG_CONFIG
    config = dict(base, **recipe.get("codec_config", {}))
    sfreq = config["sample_rate"]
    torch.set_num_threads(training.n_threads or 2)

    with process_group() as (rank, world_size, _):
        if world_size > 1:
            if rank == 0:
                _prepare_data(recipe, out, sfreq)  # the others read the cache it writes
            dist.barrier()
        train, valid, meta = _prepare_data(recipe, out, sfreq)
        if rank == 0:
            print(f"{len(train)} training segments ({meta['train_channel_hours']:.1f} "
                  f"channel-hours), {len(valid)} held-out validation segments", flush=True)
        t0 = time.time()
        result = pretrain_codec(
            train, valid, out, recipe=training, config=config,
            extra_metadata={"recipe": recipe, "train_recordings": meta["train_recordings"],
                            "train_channel_hours": meta["train_channel_hours"]})
    if rank != 0:
        return out
    curve = [{"epoch": i + 1, "steps": h.get("train_steps"), "train_loss": h["train_loss"],
              "valid_r": h.get("valid_r"), "valid_si_sdr": h.get("valid_si_sdr"),
              "dur": h.get("dur")} for i, h in enumerate(result.history)]
    with atomic_write(out / "curve.json") as tmp:
        tmp.write_text(json.dumps(curve, indent=2))
    print(json.dumps(curve[-1]), f"{time.time() - t0:.0f} s", flush=True)
    return out
