"""Other EEG recordings: SSVEP exoskeleton (Kalunga2016), Bonn epilepsy, PhysioNet eegmat.

References
----------
Kalunga E. et al., "Online SSVEP-based BCI using Riemannian geometry", Neurocomputing 191,
2016. Andrzejak R. G. et al., "Indications of nonlinear deterministic and finite dimensional
structures in time series of brain electrical activity", Phys. Rev. E 64, 061907, 2001.
Zyma I. et al., "Electroencephalograms during mental arithmetic task performance", Data 4(1),
2019 (PhysioNet eegmat).
"""

import contextlib
import os

import numpy as np

from ._montage import set_template_montage
from ._paths import require_file, get_data_path

__all__ = ["load_kalunga_raw", "load_bonn", "load_eegmat_raw", "BONN_SFREQ", "BONN_SETS"]

# Runs per Kalunga2016 subject, as hard-coded in MOABB's Kalunga2016.data_path; needed to
# know which files to check before MOABB is allowed near them.
_KALUNGA_RUNS = dict(enumerate([2] * 6 + [3] + [2] * 2 + [4, 2, 5], start=1))

#: Sampling rate of every Bonn segment, in Hz.
BONN_SFREQ = 173.61
#: Bonn folders (sets A-E of the paper are Z, O, N, F, S) and what they hold.
BONN_SETS = {
    "Z": "healthy, surface EEG, eyes open (set A)",
    "O": "healthy, surface EEG, eyes closed (set B)",
    "N": "interictal, intracranial, hippocampal formation of the opposite hemisphere (set C)",
    "F": "interictal, intracranial, epileptogenic zone (set D)",
    "S": "ictal (seizure), intracranial (set E)",
}
_BONN_ALIASES = dict(zip("ABCDE", "ZONFS"))


@contextlib.contextmanager
def _temporary_env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _natural_key(key):
    return (0, int(key), "") if str(key).isdigit() else (1, 0, str(key))


def load_kalunga_raw(subject, path=None):
    """Load all runs of one Kalunga2016 (SSVEP exoskeleton) subject through MOABB, offline.

    Parameters
    ----------
    subject : int
        Subject number (1-12; the shared data hold subjects 1-4).
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`. The files are expected in
        ``MNE-ssvepexo-data/zenodo/2392979/subjectNN_runR_raw.fif``.

    Returns
    -------
    raw : mne.io.Raw
        The runs of all sessions, concatenated in session then run order: 8 EEG channels
        (Oz, O1, O2, PO3, POz, PO7, PO8, PO4) and the stim channel ``"STI 014"``, 256 Hz.

    Raises
    ------
    FileNotFoundError
        If a run file is missing; the message names the file.

    Notes
    -----
    MOABB's ``get_data`` returns ``{subject: {session: {run: Raw}}}`` (here one session,
    ``"0"``, with runs ``"0"``, ``"1"``, ...). ``MOABB_DOWNLOAD_PROVIDER`` is set to
    ``"upstream"`` unless already set, because MOABB 1.7 otherwise first tries a mirror for
    minutes. The EEG amplitudes are as MOABB delivers them: about 5 mV standard deviation
    in 1-40 Hz, roughly 1000 times typical scalp EEG, so the stored values are probably
    microvolts scaled as millivolts; scale-free processing (robust scaling) is unaffected.
    """
    import mne

    subject = int(subject)
    if subject not in _KALUNGA_RUNS:
        raise ValueError(f"Kalunga2016 has subjects 1-12; got {subject}.")
    root = get_data_path(path)
    folder = root / "MNE-ssvepexo-data" / "zenodo" / "2392979"
    for run in range(1, _KALUNGA_RUNS[subject] + 1):
        require_file(folder / f"subject{subject:02d}_run{run}_raw.fif",
                      f"Kalunga2016 subject {subject} run {run}")
    os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")
    from moabb.datasets import Kalunga2016

    # MOABB's get_data has no path argument: it reads MNE_DATASETS_SSVEPEXO_PATH. Setting it
    # only for this call also stops MOABB from writing MNE_DATA into the user's MNE config.
    with _temporary_env(MNE_DATASETS_SSVEPEXO_PATH=str(root)):
        data = Kalunga2016().get_data(subjects=[subject])[subject]
    raws = [data[ses][run] for ses in sorted(data, key=_natural_key)
            for run in sorted(data[ses], key=_natural_key)]
    return mne.concatenate_raws(raws) if len(raws) > 1 else raws[0]


def _bonn_file(root, set_name, number):
    folder = root / "bonn-eeg" / set_name
    for ext in ("txt", "TXT"):  # set N ships with upper-case extensions
        fname = folder / f"{set_name}{number:03d}.{ext}"
        if fname.is_file():
            return fname
    return require_file(folder / f"{set_name}{number:03d}.txt",
                         f"Bonn set {set_name} file {number:03d}")


def load_bonn(set_name, file_numbers=None, path=None, return_array=False):
    """Load Bonn epilepsy EEG segments (one channel, 4097 samples, 173.61 Hz, 23.6 s).

    Parameters
    ----------
    set_name : {"Z", "O", "N", "F", "S"}
        Folder name; the paper's set letters ``"A"``-``"E"`` are accepted too
        (see :data:`BONN_SETS`).
    file_numbers : int | list of int | None
        File numbers 1-100 (``Z001.txt`` is 1). None loads all 100.
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`.
    return_array : bool, default=False
        If False, return one :class:`mne.io.RawArray` per file. If True, return the array
        of all files and the sampling rate.

    Returns
    -------
    raws : list of mne.io.RawArray
        If ``return_array`` is False: one single-channel ``"eeg"`` RawArray per file, in
        volts, channel name ``"EEG"``, with the file name in ``raw.info["description"]``.
    X, sfreq : ndarray, shape (n_files, 1, 4097), and float
        If ``return_array`` is True: the data in volts and :data:`BONN_SFREQ`.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message names the file.

    Notes
    -----
    The files hold integers (12-bit A/D values; sets F and S saturate at 2047). Their unit is
    not stated in the distribution; like most users of the data set we read them as
    microvolts, which gives plausible amplitudes (Z within about +-300 uV).
    """
    import mne

    set_name = _BONN_ALIASES.get(str(set_name).upper(), str(set_name).upper())
    if set_name not in BONN_SETS:
        raise ValueError(f"Unknown Bonn set {set_name!r}; choose one of {list(BONN_SETS)}.")
    if file_numbers is None:
        file_numbers = range(1, 101)
    elif np.ndim(file_numbers) == 0:
        file_numbers = [file_numbers]
    root = get_data_path(path)
    fnames = [_bonn_file(root, set_name, int(n)) for n in file_numbers]
    data = [np.loadtxt(f, dtype=np.float64)[np.newaxis] * 1e-6 for f in fnames]
    if return_array:
        return np.stack(data) if data else np.empty((0, 1, 4097)), BONN_SFREQ
    raws = []
    for fname, x in zip(fnames, data):
        info = mne.create_info(["EEG"], BONN_SFREQ, "eeg")
        raw = mne.io.RawArray(x, info, verbose=False)
        raw.info["description"] = f"Bonn epilepsy EEG, set {set_name}, file {fname.name}"
        raws.append(raw)
    return raws


_EEGMAT_SESSIONS = {"rest": 1, "arithmetic": 2}


def load_eegmat_raw(subject, session, path=None):
    """Load one PhysioNet eegmat recording (rest or mental arithmetic), EDF, 500 Hz.

    Parameters
    ----------
    subject : int
        Subject number (0-35; the shared data hold 0-3 and 5-8).
    session : {1, 2, "rest", "arithmetic"}
        1 = 3 minutes of rest before the task, 2 = serial subtraction (first 60 s).
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`. The files are expected in
        ``physionet-eegmat/SubjectNN_S.edf``.

    Returns
    -------
    raw : mne.io.Raw
        Preloaded, 500 Hz, 21 channels: 19 ``"eeg"`` (10-20 names without the ``"EEG "``
        prefix, ``standard_1020`` montage, named ``colin27_1020`` in MNE >= 1.13),
        ``"A2-A1"`` as ``"misc"`` and ``"ECG"`` as ``"ecg"``.

    Raises
    ------
    FileNotFoundError
        If the file is missing; the message names the file.

    Notes
    -----
    MNE reads every channel of these EDFs as EEG. ``A2-A1`` is the potential between the two
    ear-lobe reference electrodes, not a scalp site, so it is typed ``"misc"`` to keep it out
    of ``picks="eeg"`` (codec segments, spatial filters, montages).
    """
    import mne

    session = _EEGMAT_SESSIONS.get(session, session)
    if session not in (1, 2):
        raise ValueError(f"session must be 1/'rest' or 2/'arithmetic'; got {session!r}.")
    root = get_data_path(path)
    fname = require_file(root / "physionet-eegmat" / f"Subject{int(subject):02d}_{session}.edf",
                          f"eegmat subject {int(subject):02d} session {session}")
    raw = mne.io.read_raw_edf(fname, preload=True, verbose=False)
    raw.rename_channels(lambda name: name.split(" ", 1)[-1])  # "EEG Fp1" -> "Fp1"
    # The V -> NA unit change of A2-A1 is intended; the samples stay in volts.
    raw.set_channel_types({"ECG": "ecg", "A2-A1": "misc"}, on_unit_change="ignore")
    set_template_montage(raw, "1020")
    return raw
