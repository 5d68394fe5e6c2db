"""Which recordings train the shipped codecs and which are held out to evaluate them.

The codec is unsupervised, but its fidelity must be measured on subjects it never saw and
decoding on trials it never saw; so the split is fixed here, once, and every training and
evaluation script reads it from :data:`CODEC_SPLITS` instead of restating it.
"""

import warnings

from .dreams import load_dreams_raw
from .eegmmidb import load_eegmmidb_raw
from .emg import load_physionet_emg_raw, load_uci_emg_raw
from .others import load_bonn, load_eegmat_raw, load_kalunga_raw

__all__ = ["CODEC_SPLITS", "list_split_recordings", "iter_split_raws"]

#: ``CODEC_SPLITS[modality][split][dataset]``, modality ``"eeg"`` or ``"emg"``, split
#: ``"train"`` or ``"heldout"``. Entries per dataset:
#:
#: - ``"eegmmidb"``: ``{subject: (runs, ...)}``. Training uses only the eyes-open baseline
#:   (R01) and executed-movement runs (R03, R05, R07, R09, R11, R13) of subjects 1-3, never
#:   the imagery runs, so that imagery decoding is never run on trials the codec saw; the
#:   runs listed are those present in the shared data. Subjects 4-5 are held out entirely.
#: - ``"kalunga"``: Kalunga2016 subjects (all runs of each).
#: - ``"bonn"``: ``{set: (file numbers, ...)}``: files 1-80 train, 81-100 are held out.
#: - ``"dreams"``: DREAMS excerpt numbers.
#: - ``"eegmat"``: eegmat subjects (both sessions, rest and arithmetic).
#: - ``"uci_emg"``: UCI gestures subjects (both series); ``"physionet_emg"``: emgdb records.
#:
#: Source: ``shared/DATA.md``, "Which data trains the shipped codec, which evaluates it".
#: Treat it as read-only.
CODEC_SPLITS = {
    "eeg": {
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
    },
    "emg": {
        "train": {
            "uci_emg": (1, 3),
        },
        "heldout": {
            "uci_emg": (4,),
            "physionet_emg": ("emg_healthy", "emg_myopathy", "emg_neuropathy"),
        },
    },
}


def _check(split, modality):
    if modality not in CODEC_SPLITS:
        raise ValueError(f"modality must be one of {list(CODEC_SPLITS)}; got {modality!r}.")
    if split not in CODEC_SPLITS[modality]:
        raise ValueError(
            f"split must be one of {list(CODEC_SPLITS[modality])}; got {split!r}.")
    return CODEC_SPLITS[modality][split]


def _recordings(split, modality, path):
    """Yield ``(name, loader)`` pairs, loaders called lazily so listing costs nothing."""
    spec = _check(split, modality)
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


def list_split_recordings(split="train", modality="eeg"):
    """Names of the recordings of a split, without loading anything.

    Parameters
    ----------
    split : {"train", "heldout"}
        Which side of the split.
    modality : {"eeg", "emg"}
        Which codec.

    Returns
    -------
    names : list of str
        ``"<dataset>/<recording>"``, e.g. ``"eegmmidb/S001R01"``, ``"bonn/Z001"``, the same
        names :func:`iter_split_raws` yields.
    """
    return [name for name, _ in _recordings(split, modality, None)]


def iter_split_raws(split="train", modality="eeg", path=None, datasets=None):
    """Load, one at a time, every recording of a codec split.

    Parameters
    ----------
    split : {"train", "heldout"}
        Which side of :data:`CODEC_SPLITS`.
    modality : {"eeg", "emg"}
        Which codec.
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`.
    datasets : list of str | None
        Restrict to these datasets (keys of :data:`CODEC_SPLITS`, e.g. ``["bonn"]``).

    Yields
    ------
    name : str
        ``"<dataset>/<recording>"`` as in :func:`list_split_recordings`.
    raw : mne.io.BaseRaw
        The recording (EEG recordings also hold non-EEG channels, e.g. stim or ECG; use
        ``picks`` in :func:`make_codec_segments`). Each Bonn file is one 23.6-s RawArray.

    Warns
    -----
    UserWarning
        For each recording whose files are missing; it is skipped, so a partial copy of the
        data still works.
    """
    for name, load in _recordings(split, modality, path):
        if datasets is not None and name.split("/", 1)[0] not in datasets:
            continue
        try:
            raw = load()
        except FileNotFoundError as err:
            warnings.warn(f"Skipping {name}: {err}", stacklevel=2)
            continue
        yield name, raw
