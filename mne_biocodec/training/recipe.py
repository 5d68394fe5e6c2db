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

__all__ = ["build_segments", "load_recipe", "train_from_recipe", "dataset_sample_weights",
           "prepare_recipe_data", "recipe_codec_config",
           "REQUIRED_RECIPE_KEYS", "DEFAULT_RECIPE_SPLIT"]

#: Keys every recipe must define (``codec_config``, ``notes``, ``checkpoint_every`` and
#: ``n_threads`` are optional): a recipe fixes every setting that shapes the training.
REQUIRED_RECIPE_KEYS = ("name", "modality", "segment_seconds", "valid_segments",
                        "batch_size", "lr", "time_weight", "freq_weight", "warmup_steps",
                        "final_lr_ratio", "steps_per_epoch", "max_epochs", "seed")


#: Split version of a recipe that names none: recipes written before the split had
#: versions (``recipes/biocodec-eeg.json``) were trained on the v1 split.
DEFAULT_RECIPE_SPLIT = "v1"


def build_segments(split, modality, segment_seconds, sfreq, version=None,
                   return_counts=False):
    """Codec segments of every recording of a split of ``CODEC_SPLIT_VERSIONS``.

    Every recording the split lists must be present: a missing one raises
    ``FileNotFoundError`` naming it, since leaving it out would change what is trained or
    measured.

    Parameters
    ----------
    split : {"train", "heldout"}
    modality : {"eeg", "emg"}
    segment_seconds : float
    sfreq : float
        Codec rate.
    version : {"v1", "v2"} | None
        Split version (None: the shipped codecs').
    return_counts : bool, default=False
        Also return the number of segments of each recording.

    Returns
    -------
    segments : ndarray, shape (n_segments, 1, n_times)
    names : list of str
        Recordings that gave segments.
    seconds : float
        Signal duration covered, in channel-seconds.
    counts : list of int
        Only if ``return_counts``: segments per recording of ``names``, in order.
    """
    from ..datasets import make_codec_segments
    from ..datasets.splits import iter_split_raws

    picks = "emg" if modality == "emg" else "eeg"
    parts, names, counts, seconds = [], [], [], 0.0
    for name, raw in iter_split_raws(split, modality, version=version, on_missing="raise"):
        segs = make_codec_segments(raw, sfreq=sfreq, segment_seconds=segment_seconds,
                                   picks=picks)
        if len(segs):
            parts.append(segs)
            names.append(name)
            counts.append(len(segs))
            seconds += segs.shape[0] * segment_seconds
    if return_counts:
        return np.concatenate(parts), names, seconds, counts
    return np.concatenate(parts), names, seconds


def dataset_sample_weights(names, counts, dataset_weights):
    """Per-segment sampling weights that give each data set a chosen share of the batches.

    Parameters
    ----------
    names : list of str
        Recordings, ``"<dataset>/<recording>"``, as :func:`build_segments` returns them.
    counts : list of int
        Segments of each recording (the segments are in this order).
    dataset_weights : dict of str to float
        Share of each data set (normalised to sum to 1); a data set it does not name keeps
        its natural share (its fraction of the segments).

    Returns
    -------
    weights : ndarray of float64, shape (sum(counts),)
        Segment ``i`` of data set ``d`` gets ``share[d] / n_segments[d]``.

    Raises
    ------
    ValueError
        If a named data set has no segment.
    """
    labels = np.repeat([name.split("/", 1)[0] for name in names], counts)
    total = len(labels)
    sizes = {d: int(np.sum(labels == d)) for d in np.unique(labels)}
    absent = sorted(set(dataset_weights) - set(sizes))
    if absent:
        raise ValueError(f"dataset_weights names {absent}, which have no training segment; "
                         f"the data sets are {sorted(sizes)}.")
    natural = {d: n / total for d, n in sizes.items()}
    named_mass = sum(natural[d] for d in dataset_weights)
    raw_total = sum(dataset_weights.values())
    # The named data sets share the mass they have naturally, in the ratios asked for; the
    # others keep theirs, so naming every data set sets all the shares.
    share = dict(natural)
    for d, w in dataset_weights.items():
        share[d] = named_mass * w / raw_total
    weights = np.empty(total)
    for d, n in sizes.items():
        weights[labels == d] = share[d] / n
    return weights / weights.sum()


def _check_dataset_weights(value, path):
    if value is None:
        return
    ok = isinstance(value, dict) and value and all(
        isinstance(k, str) and not isinstance(v, bool) and isinstance(v, (int, float))
        and np.isfinite(v) and v > 0 for k, v in value.items())
    if not ok:
        raise ValueError(f"Recipe {path}: dataset_weights must be a non-empty JSON object of "
                         f"data set names to positive numbers (e.g. {{\"eegmmidb\": 1, "
                         f"\"kalunga\": 1}}); got {value!r}.")


def load_recipe(path):
    """Read and check a recipe JSON file.

    A recipe holds the data keys (:data:`~mne_biocodec.training.settings.RECIPE_DATA_KEYS`:
    ``name``, ``modality``, ``codec_config``, ``segment_seconds``, ``valid_segments``,
    free-text ``notes``, and optionally ``split_version`` (``"v1"`` when absent, see
    :data:`~mne_biocodec.datasets.splits.CODEC_SPLIT_VERSIONS`), ``init`` (a codec to
    warm-start from, e.g. ``"biocodec-eeg-v1"``), ``init_weights_sha256`` (the init's
    :meth:`~mne_biocodec.BioCodec.weights_sha256`, checked before training; required for an
    init that is a file rather than a shipped name, whose file digest the registry checks)
    and ``dataset_weights`` (the share of the
    batches each data set gets, see :func:`dataset_sample_weights`)) and the fields of
    :class:`~mne_biocodec.training.TrainingRecipe`.

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
    from ..datasets.splits import check_split_version

    try:
        check_split_version(recipe.get("split_version", DEFAULT_RECIPE_SPLIT))
    except ValueError as err:
        raise ValueError(f"Recipe {path}: {err}") from None
    init = recipe.get("init")
    if init is not None and (not isinstance(init, str) or not init):
        raise ValueError(f"Recipe {path}: init must be a shipped codec name or a codec file "
                         f"to warm-start from, or null; got {init!r}.")
    from ..codec import is_sha256

    digest = recipe.get("init_weights_sha256")
    if digest is not None and (init is None or not is_sha256(digest)):
        raise ValueError(f"Recipe {path}: init_weights_sha256 must be the 64 lower-case hex "
                         f"digits of the init codec's weights_sha256(), with an init; got "
                         f"{digest!r}.")
    if init is not None and digest is None:
        from ..pretrained import resolve_pretrained

        if resolve_pretrained(init) is None:
            raise ValueError(f"Recipe {path}: init {init!r} is not a shipped codec name, so "
                             "the recipe must pin its weights with init_weights_sha256 (the "
                             "codec's weights_sha256()): a file can change under its name.")
    _check_dataset_weights(recipe.get("dataset_weights"), path)
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
    version = recipe.get("split_version", DEFAULT_RECIPE_SPLIT)
    if cache.is_file():
        return _read_cache(cache, out / "data.json", recipe, version, sfreq)
    t0 = time.time()
    train, train_names, train_seconds, train_counts = build_segments(
        "train", recipe["modality"], recipe["segment_seconds"], sfreq, version=version,
        return_counts=True)
    heldout, heldout_names, _ = build_segments("heldout", recipe["modality"], 5.0, sfreq,
                                               version=version)
    rng = np.random.default_rng(recipe["seed"])
    pick = rng.choice(len(heldout), size=min(recipe["valid_segments"], len(heldout)),
                      replace=False)
    valid = heldout[np.sort(pick)]
    meta = {"split_version": version, "train_recordings": train_names,
            "train_segments_per_recording": train_counts,
            "heldout_recordings": heldout_names,
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


def _read_cache(cache, meta_path, recipe, version, sfreq):
    """The segment cache of an output folder, checked against the recipe before use."""
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(cache, allow_pickle=False) as data:
            train, valid = data["train"], data["valid"]
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"The segment cache {cache} (with {meta_path}) cannot be read "
                         f"({type(err).__name__}: {err}); delete both to rebuild them."
                         ) from None
    n_times = int(round(recipe["segment_seconds"] * sfreq))
    counts = meta.get("train_segments_per_recording") if isinstance(meta, dict) else None
    problems = []
    if not isinstance(meta, dict):
        problems.append("data.json is not a JSON object")
    else:
        if meta.get("split_version", DEFAULT_RECIPE_SPLIT) != version:
            problems.append(f"it holds the {meta.get('split_version')!r} split, the recipe "
                            f"asks for {version!r}")
        # Caches written before data.json recorded these keys are checked by shape only.
        if meta.get("segment_seconds", recipe["segment_seconds"]) != recipe["segment_seconds"]:
            problems.append(f"its segments last {meta.get('segment_seconds')!r} s, the recipe "
                            f"asks for {recipe['segment_seconds']!r} s")
        if counts is not None and sum(counts) != len(train):
            problems.append(f"data.json counts {sum(counts)} training segments, the cache "
                            f"holds {len(train)}")
    for name, array in (("train", train), ("valid", valid)):
        if array.ndim != 3 or array.shape[1] != 1 or array.dtype != np.float32 or (
                name == "train" and array.shape[2] != n_times):
            problems.append(f"its {name} array has shape {array.shape} and dtype "
                            f"{array.dtype}, not (n, 1, n_times) float32")
    if problems:
        raise ValueError(f"The segment cache {cache} does not match the recipe "
                         f"({'; '.join(problems)}). Delete {cache} and {meta_path} to "
                         "rebuild it, or pass another output folder.")
    return train, valid, meta


def recipe_codec_config(recipe):
    """The codec config a recipe trains, and the codec it warm-starts from (or None)."""
    from ..codec import EEG_CONFIG, EMG_CONFIG, load_codec

    base = EMG_CONFIG if recipe["modality"] == "emg" else EEG_CONFIG
    init = recipe.get("init")
    if init is not None:
        # A warm start keeps the init codec's architecture; the recipe's codec_config
        # overrides its training settings only (see pretrain_codec).
        source, init = init, load_codec(init, "cpu")
        expected = recipe.get("init_weights_sha256")
        if expected is not None and init.weights_sha256() != expected:
            raise ValueError(f"The recipe's init {source!r} holds other weights than its "
                             f"init_weights_sha256 pins ({init.weights_sha256()[:12]}... "
                             f"against {expected[:12]}...): restore that file or pin the "
                             "weights it should start from.")
        base = init.config
    return dict(base, **recipe.get("codec_config", {})), init


def prepare_recipe_data(recipe, out):
    """The training and held-out validation segments of a recipe, cached in ``out``.

    The first call builds them from the recipe's split (every recording must be present)
    and writes ``segments.npz`` and ``data.json`` to ``out``; later calls read and check
    that cache.

    Parameters
    ----------
    recipe : dict
        A recipe as :func:`load_recipe` returns it.
    out : path-like
        The run's output folder (created if needed).

    Returns
    -------
    train : ndarray of float32, shape (n_train, 1, n_times)
    valid : ndarray of float32, shape (n_valid, 1, n_valid_times)
        ``valid_segments`` held-out 5-s segments drawn with the recipe's seed.
    meta : dict
        ``split_version``, ``train_recordings``, ``train_segments_per_recording``,
        ``heldout_recordings``, ``train_channel_hours``, ...

    Raises
    ------
    FileNotFoundError
        If a recording of the split is missing.
    ValueError
        If the cache in ``out`` does not match the recipe.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = _default_data_root()
    if root is not None:
        os.environ.setdefault("MNE_DATA", str(root))
    import mne

    mne.set_log_level("error")
    config, _ = recipe_codec_config(recipe)
    return _prepare_data(recipe, out, config["sample_rate"])


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

    from ..codec.io import atomic_write
    from .distributed import process_group
    from .pretrain import pretrain_codec

    mne.set_log_level("error")
    out = Path(out or f"runs/{recipe['name']}")
    out.mkdir(parents=True, exist_ok=True)
    config, init = recipe_codec_config(recipe)
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
        weights = None
        if recipe.get("dataset_weights"):
            counts = meta.get("train_segments_per_recording")
            if counts is None:
                raise ValueError(f"The segment cache in {out} predates dataset_weights (its "
                                 "data.json has no train_segments_per_recording); delete "
                                 f"{out / 'segments.npz'} and {out / 'data.json'} to rebuild "
                                 "it.")
            weights = dataset_sample_weights(meta["train_recordings"], counts,
                                             recipe["dataset_weights"])
        t0 = time.time()
        result = pretrain_codec(
            train, valid, out, recipe=training, config=config, init=init,
            sample_weights=weights,
            extra_metadata={"recipe": recipe, "train_recordings": meta["train_recordings"],
                            "train_channel_hours": meta["train_channel_hours"],
                            "split_version": meta.get("split_version",
                                                      DEFAULT_RECIPE_SPLIT)})
    if rank != 0:
        return out
    curve = [{"epoch": i + 1, "steps": h.get("train_steps"), "train_loss": h["train_loss"],
              "valid_r": h.get("valid_r"), "valid_si_sdr": h.get("valid_si_sdr"),
              "dur": h.get("dur")} for i, h in enumerate(result.history)]
    with atomic_write(out / "curve.json") as tmp:
        tmp.write_text(json.dumps(curve, indent=2))
    print(json.dumps(curve[-1]), f"{time.time() - t0:.0f} s", flush=True)
    return out
