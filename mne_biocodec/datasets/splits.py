"""Which recordings train the shipped codecs and which are held out to evaluate them.

The codec is unsupervised, but its fidelity must be measured on subjects it never saw and
decoding on trials it never saw; so the split is fixed here, once, and every training and
evaluation script reads it from :data:`CODEC_SPLIT_VERSIONS` instead of restating it.

The split has versions because the data grew: a codec's figures mean something only on the
split it was trained and measured with. ``"v1"`` is the split of the shipped ``biocodec-eeg``
v1 (and ``biocodec-emg``); ``"v2"`` is ``shared/DATA.md``'s updated split (eegmmidb S001R02
and eegmat 09-15 train, eegmat 16-19, 21, 22 are held out). :data:`CODEC_SPLITS` is the
split of the codecs that ship (:data:`SHIPPED_SPLIT_VERSION`), so that what reads it (the
MOABB notes on which subjects the shipped codec saw, the fidelity benchmark, the tests of
the shipped codec) keeps its meaning until a codec trained on another split ships.
"""

import copy
import warnings

from .dreams import load_dreams_raw
from .eegmmidb import load_eegmmidb_raw
from .emg import load_physionet_emg_raw, load_uci_emg_raw
from .others import load_bonn, load_eegmat_raw, load_kalunga_raw

__all__ = ["CODEC_SPLITS", "CODEC_SPLIT_VERSIONS", "SHIPPED_SPLIT_VERSION",
           "LATEST_SPLIT_VERSION", "check_split_version", "list_split_recordings",
           "iter_split_raws"]

_EEG_V1 = {
    "train": {
        "eegmmidb": {1: (1, 3, 5, 7, 9, 11, 13), 2: (1, 3, 7, 11), 3: (3, 7, 11)},
        "kalunga": (1, 2),
        "bonn": {s: tuple(range(1, 81)) for s in "ZONFS"},
        "dreams": (1, 3),
        "eegmat": (0, 1, 2, 3, 5),
    },
    "heldout": {
        "eegmmidb": {4: (3, 4, 7, 8, 11, 12), 5: (3, 4, 7, 8, 11, 12)},
        "kalunga": (3, 4),
        "bonn": {s: tuple(range(81, 101)) for s in "ZONFS"},
        "dreams": (4, 7),
        "eegmat": (6, 7, 8),
    },
}
_EEG_V2 = copy.deepcopy(_EEG_V1)
# S001R02 (eyes-closed baseline) arrived after v1 was trained; it is a baseline run, so
# it trains the codec like R01.
_EEG_V2["train"]["eegmmidb"][1] = (1, 2, 3, 5, 7, 9, 11, 13)
_EEG_V2["train"]["eegmat"] = (0, 1, 2, 3, 5, 9, 10, 11, 12, 13, 14, 15)
_EEG_V2["heldout"]["eegmat"] = (6, 7, 8, 16, 17, 18, 19, 21, 22)
_EMG = {
    "train": {
        "uci_emg": (1, 3),
    },
    "heldout": {
        "uci_emg": (4,),
        "physionet_emg": ("emg_healthy", "emg_myopathy", "emg_neuropathy"),
    },
}

#: ``CODEC_SPLIT_VERSIONS[version][modality][split][dataset]``: version ``"v1"`` or
#: ``"v2"``, modality ``"eeg"`` or ``"emg"``, split ``"train"`` or ``"heldout"``. Entries
#: per dataset:
#:
#: - ``"eegmmidb"``: ``{subject: (runs, ...)}``. Training uses only the baselines (R01
#:   eyes open; from v2 also R02 eyes closed) and executed-movement runs (R03, R05, R07,
#:   R09, R11, R13) of subjects 1-3, never the imagery runs, so that imagery decoding is
#:   never run on trials the codec saw; the runs listed are those present in the shared
#:   data. Subjects 4-5 are held out entirely.
#: - ``"kalunga"``: Kalunga2016 subjects (all runs of each).
#: - ``"bonn"``: ``{set: (file numbers, ...)}``: files 1-80 train, 81-100 are held out.
#: - ``"dreams"``: DREAMS excerpt numbers.
#: - ``"eegmat"``: eegmat subjects (both sessions, rest and arithmetic). v1: 00-03, 05
#:   train, 06-08 held out; v2 adds 09-15 to training and 16-19, 21, 22 to the held-out set.
#: - ``"uci_emg"``: UCI gestures subjects (both series); ``"physionet_emg"``: emgdb records
#:   (the same in both versions).
#:
#: Every subject v1 trained on trains in v2 and every v1 held-out recording stays held out,
#: so v1 never saw any of v2's held-out recordings: both versions of the codec can be
#: measured on the v2 held-out set.
#:
#: Source: ``shared/DATA.md``, "Which data trains the shipped codec, which evaluates it".
#: Treat it as read-only.
CODEC_SPLIT_VERSIONS = {
    "v1": {"eeg": _EEG_V1, "emg": _EMG},
    "v2": {"eeg": _EEG_V2, "emg": copy.deepcopy(_EMG)},
}
#: The newest split (``shared/DATA.md``'s): what a new training recipe should name.
LATEST_SPLIT_VERSION = "v2"
#: The split the shipped codecs were trained and measured with.
SHIPPED_SPLIT_VERSION = "v1"
#: The split of the shipped codecs, ``CODEC_SPLIT_VERSIONS[SHIPPED_SPLIT_VERSION]``.
CODEC_SPLITS = CODEC_SPLIT_VERSIONS[SHIPPED_SPLIT_VERSION]


def check_split_version(version):
    """The split version to use: ``version``, or :data:`SHIPPED_SPLIT_VERSION` when None.

    Raises
    ------
    ValueError
        If ``version`` is not a key of :data:`CODEC_SPLIT_VERSIONS`.
    """
    if version is None:
        return SHIPPED_SPLIT_VERSION
    if not isinstance(version, str) or version not in CODEC_SPLIT_VERSIONS:
        raise ValueError(f"split version must be one of {list(CODEC_SPLIT_VERSIONS)} or None "
                         f"(the shipped codecs' {SHIPPED_SPLIT_VERSION!r}); got {version!r}.")
    return version


def _check(split, modality, version):
    splits = CODEC_SPLIT_VERSIONS[check_split_version(version)]
    if modality not in splits:
        raise ValueError(f"modality must be one of {list(splits)}; got {modality!r}.")
    if split not in splits[modality]:
        raise ValueError(
            f"split must be one of {list(splits[modality])}; got {split!r}.")
    return splits[modality][split]


def _recordings(split, modality, path, version):
    """Yield ``(name, loader)`` pairs, loaders called lazily so listing costs nothing."""
    spec = _check(split, modality, version)
    for subject, runs in spec.get("eegmmidb", {}).items():
        for run in runs:
            yield (f"eegmmidb/S{subject:03d}R{run:02d}",
                   lambda s=subject, r=run: load_eegmmidb_raw(s, [r], path=path))
    for subject in spec.get("kalunga", ()):
        yield (f"kalunga/subject{subject:02d}",
               lambda s=subject: load_kalunga_raw(s, path=path))
    for set_name, numbers in spec.get("bonn", {}).items():
        for number in numbers:
            yield (f"bonn/{set_name}{number:03d}",
                   lambda s=set_name, n=number: load_bonn(s, [n], path=path)[0])
    for excerpt in spec.get("dreams", ()):
        yield (f"dreams/excerpt{excerpt}", lambda e=excerpt: load_dreams_raw(e, path=path))
    for subject in spec.get("eegmat", ()):
        for session in (1, 2):
            yield (f"eegmat/Subject{subject:02d}_{session}",
                   lambda s=subject, k=session: load_eegmat_raw(s, k, path=path))
    for subject in spec.get("uci_emg", ()):
        yield (f"uci_emg/{subject:02d}", lambda s=subject: load_uci_emg_raw(s, path=path))
    for record in spec.get("physionet_emg", ()):
        yield (f"physionet_emg/{record}",
               lambda r=record: load_physionet_emg_raw(r, path=path))


def list_split_recordings(split="train", modality="eeg", version=None):
    """Names of the recordings of a split, without loading anything.

    Parameters
    ----------
    split : {"train", "heldout"}
        Which side of the split.
    modality : {"eeg", "emg"}
        Which codec.
    version : {"v1", "v2"} | None
        Split version (:data:`CODEC_SPLIT_VERSIONS`); None is the shipped codecs'
        (:data:`SHIPPED_SPLIT_VERSION`).

    Returns
    -------
    names : list of str
        ``"<dataset>/<recording>"``, e.g. ``"eegmmidb/S001R01"``, ``"bonn/Z001"``, the same
        names :func:`iter_split_raws` yields.
    """
    return [name for name, _ in _recordings(split, modality, None, version)]


def iter_split_raws(split="train", modality="eeg", path=None, datasets=None, version=None,
                    on_missing="warn"):
    """Load, one at a time, every recording of a codec split.

    Parameters
    ----------
    split : {"train", "heldout"}
        Which side of the split.
    modality : {"eeg", "emg"}
        Which codec.
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`.
    datasets : list of str | None
        Restrict to these datasets (keys of :data:`CODEC_SPLITS`, e.g. ``["bonn"]``).
    version : {"v1", "v2"} | None
        Split version (:data:`CODEC_SPLIT_VERSIONS`); None is the shipped codecs'
        (:data:`SHIPPED_SPLIT_VERSION`).
    on_missing : {"warn", "raise"}, default="warn"
        What a recording whose files are missing does: ``"warn"`` skips it with a warning
        (a partial copy of the data still works, e.g. for examples); ``"raise"`` stops with
        a ``FileNotFoundError`` naming the recording and the file, as training and the
        benchmarks need (a skipped recording would silently change what they measure).

    Yields
    ------
    name : str
        ``"<dataset>/<recording>"`` as in :func:`list_split_recordings`.
    raw : mne.io.BaseRaw
        The recording (EEG recordings also hold non-EEG channels, e.g. stim or ECG; use
        ``picks`` in :func:`make_codec_segments`). Each Bonn file is one 23.6-s RawArray.

    Raises
    ------
    FileNotFoundError
        With ``on_missing="raise"``, for the first recording whose files are missing.
    ValueError
        If ``split``, ``modality``, ``version`` or ``on_missing`` is not one of its values.

    Warns
    -----
    UserWarning
        With ``on_missing="warn"``, for each recording whose files are missing; it is
        skipped.
    """
    if on_missing not in ("warn", "raise"):
        raise ValueError(f"on_missing must be 'warn' or 'raise'; got {on_missing!r}.")
    recordings = list(_recordings(split, modality, path, version))  # checks the arguments
    for name, load in recordings:
        if datasets is not None and name.split("/", 1)[0] not in datasets:
            continue
        try:
            raw = load()
        except FileNotFoundError as err:
            if on_missing == "raise":
                raise FileNotFoundError(
                    f"Recording {name} of the {check_split_version(version)} {modality} "
                    f"{split} split is missing: {err}") from None
            warnings.warn(f"Skipping {name}: {err}", stacklevel=2)
            continue
        yield name, raw
