"""PhysioNet EEG Motor Movement/Imagery (EEGMMI, ``eegmmidb``): 64 EEG channels, 160 Hz, EDF.

Schalk G. et al., "BCI2000: a general-purpose brain-computer interface (BCI) system",
IEEE TBME 51(6), 2004; Goldberger A. et al., PhysioNet, Circulation 101(23), 2000.
"""

from pathlib import Path

import numpy as np

from ._montage import set_template_montage
from ._paths import require_file, get_data_path

__all__ = ["load_eegmmidb_raw", "load_eegmmidb_epochs", "EEGMMIDB_TASKS", "edf_path"]

#: Imagery tasks: run number -> annotation renaming. The same T1/T2 codes mean different
#: movements in different runs, so the renaming must happen per run, before concatenation.
EEGMMIDB_TASKS = {
    "left_right": {4: {"T1": "left_hand", "T2": "right_hand"},
                   8: {"T1": "left_hand", "T2": "right_hand"},
                   12: {"T1": "left_hand", "T2": "right_hand"}},
    "hands_feet": {6: {"T1": "hands", "T2": "feet"},
                   10: {"T1": "hands", "T2": "feet"},
                   14: {"T1": "hands", "T2": "feet"}},
}
EEGMMIDB_TASKS["four_class"] = {**EEGMMIDB_TASKS["left_right"], **EEGMMIDB_TASKS["hands_feet"]}

# Same integer codes as MOABB's PhysionetMI, so results can be compared with MOABB's.
_EVENT_CODES = {"left_hand": 2, "right_hand": 3, "hands": 4, "feet": 5}


def edf_path(root, subject, run):
    return (Path(root) / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0"
            / f"S{subject:03d}" / f"S{subject:03d}R{run:02d}.edf")


def _read_runs(subject, runs, root, standardize, renames=None):
    import mne
    from mne.datasets import eegbci

    for run in runs:
        hint = f"EEGMMI subject {subject} run {run}"
        if renames is not None and run in EEGMMIDB_TASKS["hands_feet"]:
            hint += " (hands/feet imagery: only subject 1 has these runs in the shared data)"
        require_file(edf_path(root, subject, run), hint)
    # Files are known to exist, so load_data only resolves paths (no pooch download).
    paths = eegbci.load_data(subject, list(runs), path=str(root), update_path=False,
                             verbose=False)
    raws = []
    for run, fname in zip(runs, paths):
        raw = mne.io.read_raw_edf(fname, preload=True, verbose=False)
        if renames is not None:
            mapping = {k: v for k, v in renames[run].items()
                       if k in set(raw.annotations.description)}
            raw.annotations.rename(mapping)
        raws.append(raw)
    raw = mne.concatenate_raws(raws) if len(raws) > 1 else raws[0]
    if standardize:
        eegbci.standardize(raw)
        # The standardized names are 10-05 labels; positions allow topomaps and spatial
        # filters downstream.
        set_template_montage(raw, "1005")
    return raw


def load_eegmmidb_raw(subject, runs, path=None, standardize=True):
    """Load and concatenate EEGMMI runs of one subject, from local files only.

    Parameters
    ----------
    subject : int
        Subject number (1-109; the shared data hold subjects 1-5).
    runs : int | list of int
        Run numbers (1-14). Runs are concatenated in the given order.
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`.
    standardize : bool, default=True
        If True, rename channels with :func:`mne.datasets.eegbci.standardize` (``"C3.."``
        -> ``"C3"``) and set the ``standard_1005`` montage (named ``colin27_1005`` in
        MNE >= 1.13). If False, keep the EDF names and set no montage (this is what the
        BioCodec parity fixture used).

    Returns
    -------
    raw : mne.io.Raw
        Preloaded raw data (EEG in volts, 160 Hz) with the T0/T1/T2 annotations of the EDF.

    Raises
    ------
    FileNotFoundError
        If a run file is missing; the message names the file.
    """
    runs = [int(r) for r in np.atleast_1d(runs)]
    root = get_data_path(path)
    return _read_runs(int(subject), runs, root, standardize)


def load_eegmmidb_epochs(subject, task="left_right", tmin=0.0, tmax=4.0, l_freq=None,
                         h_freq=None, path=None):
    """Epoch the motor-imagery trials of one EEGMMI subject.

    Parameters
    ----------
    subject : int
        Subject number.
    task : {"left_right", "hands_feet", "four_class"}
        ``"left_right"``: imagined left vs right fist (runs 4, 8, 12);
        ``"hands_feet"``: imagined both fists vs both feet (runs 6, 10, 14);
        ``"four_class"``: all four (runs 4, 6, 8, 10, 12, 14). In the shared data only
        subject 1 has runs 6, 10 and 14.
    tmin, tmax : float
        Epoch window in seconds relative to the cue onset.
    l_freq, h_freq : float | None
        If either is not None, band-pass the continuous EEG with :meth:`mne.io.Raw.filter`
        before epoching.
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`.

    Returns
    -------
    epochs : mne.Epochs
        Preloaded epochs of the EEG channels only, no baseline correction, with
        ``event_id`` among ``{"left_hand": 2, "right_hand": 3, "hands": 4, "feet": 5}``
        (MOABB's PhysionetMI codes).

    Raises
    ------
    ValueError
        If ``task`` is unknown.
    FileNotFoundError
        If a run of the task is missing; the message names the file.
    """
    import mne

    if task not in EEGMMIDB_TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(EEGMMIDB_TASKS)}.")
    renames = EEGMMIDB_TASKS[task]
    runs = sorted(renames)
    raw = _read_runs(int(subject), runs, get_data_path(path), True, renames=renames)
    if l_freq is not None or h_freq is not None:
        raw.filter(l_freq, h_freq, picks="eeg", verbose=False)
    labels = sorted({v for m in renames.values() for v in m.values()},
                    key=_EVENT_CODES.get)
    event_id = {name: _EVENT_CODES[name] for name in labels}
    events, _ = mne.events_from_annotations(raw, event_id=event_id, verbose=False)
    return mne.Epochs(raw, events, event_id=event_id, tmin=tmin, tmax=tmax, baseline=None,
                      picks="eeg", preload=True, verbose=False)
