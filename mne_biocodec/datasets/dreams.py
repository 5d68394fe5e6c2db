"""DREAMS sleep spindles database: 30-min excerpts, one central EEG channel, expert hypnograms.

Devuyst S., Dutoit T., Stenuit P., Kerkhofs M., "Automatic sleep spindles detection -
overview and development of a standard proposal assessment method", IEEE EMBC 2011.
Licence: non-commercial, no derivatives; read the files in place, never copy them into
the package.
"""

import numpy as np

from ._paths import require_file, get_data_path

__all__ = ["load_dreams_raw", "load_dreams_hypnogram", "DREAMS_STAGE_LABELS"]

#: R&K codes of the hypnogram files -> labels. The labels are those of MNE's Sleep-EDF
#: reader, so code written for :func:`mne.datasets.sleep_physionet` works unchanged.
DREAMS_STAGE_LABELS = {
    5: "Sleep stage W",
    4: "Sleep stage R",
    3: "Sleep stage 1",
    2: "Sleep stage 2",
    1: "Sleep stage 3",
    0: "Sleep stage 4",
    -1: "Movement time",
    -2: "Sleep stage ?",
    -3: "Sleep stage ?",
}
#: Every excerpt lasts 30 minutes; the text files do not state the sampling rate, so it is
#: the number of samples divided by this duration (100, 50, 200, 200 Hz for 1, 3, 4, 7).
_EXCERPT_SECONDS = 1800.0
_STAGE_SECONDS = 5.0


def _folder(path):
    return get_data_path(path) / "sleep" / "dreams-spindles"


def _read_bracketed_text(fname):
    """Return (header, values) of a DREAMS text file whose first line is ``[name]``."""
    with open(fname) as fid:
        header = fid.readline().strip().strip("[]")
        values = np.loadtxt(fid, dtype=np.float64, ndmin=1)
    return header, values


def load_dreams_hypnogram(excerpt, path=None, return_codes=False):
    """Expert sleep stages of one DREAMS excerpt, one per 5 s (360 values).

    Parameters
    ----------
    excerpt : int
        Excerpt number (1-8; the shared data hold 1, 3, 4 and 7).
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`.
    return_codes : bool, default=False
        If True, return the R&K integer codes of the file instead of labels.

    Returns
    -------
    stages : ndarray of str, shape (360,)
        Labels from :data:`DREAMS_STAGE_LABELS` (``"Sleep stage W"``, ``"Sleep stage 2"``,
        ...); element ``i`` covers seconds ``[5 i, 5 i + 5)``. Integer codes (5 = wake,
        4 = REM, 3-0 = S1-S4, -1 = movement, -2/-3 = unknown) if ``return_codes``.

    Raises
    ------
    FileNotFoundError
        If the hypnogram file is missing; the message names the file.
    """
    fname = require_file(_folder(path) / f"Hypnogram_excerpt{int(excerpt)}.txt",
                          f"DREAMS excerpt {int(excerpt)} hypnogram")
    _, codes = _read_bracketed_text(fname)
    codes = codes.astype(int)
    if return_codes:
        return codes
    return np.array([DREAMS_STAGE_LABELS[c] for c in codes])


def load_dreams_raw(excerpt, path=None, annotate=True):
    """Load the central EEG channel of one DREAMS excerpt (30 min) as a RawArray.

    Parameters
    ----------
    excerpt : int
        Excerpt number (1-8; the shared data hold 1, 3, 4 and 7).
    path : str | pathlib.Path | None
        MNE_DATA-style root; see :func:`get_data_path`. The files are expected in
        ``sleep/dreams-spindles/excerptN.txt``.
    annotate : bool, default=True
        If True, add one annotation per 5-s hypnogram epoch (labels of
        :data:`DREAMS_STAGE_LABELS`) and one ``"spindle"`` annotation per spindle marked by
        expert 1 (``Visual_scoring1_excerptN.txt``), where those files exist.

    Returns
    -------
    raw : mne.io.RawArray
        One ``"eeg"`` channel in volts (``C3-A1`` or ``CZ-A1``), at 100, 50, 200 or 200 Hz
        for excerpts 1, 3, 4, 7.

    Raises
    ------
    FileNotFoundError
        If the EEG text file is missing; the message names the file.

    Notes
    -----
    The text files are in microvolts with the channel name on the first line and no
    sampling rate; the rate is the number of samples divided by 1800 s.
    """
    import mne

    excerpt = int(excerpt)
    folder = _folder(path)
    fname = require_file(folder / f"excerpt{excerpt}.txt", f"DREAMS excerpt {excerpt} EEG")
    ch_name, data = _read_bracketed_text(fname)
    sfreq = data.size / _EXCERPT_SECONDS
    info = mne.create_info([ch_name], sfreq, "eeg")
    raw = mne.io.RawArray(data[np.newaxis] * 1e-6, info, verbose=False)
    raw.info["description"] = f"DREAMS sleep spindles database, excerpt {excerpt}"
    if not annotate:
        return raw
    onsets, durations, descriptions = [], [], []
    if (folder / f"Hypnogram_excerpt{excerpt}.txt").is_file():
        stages = load_dreams_hypnogram(excerpt, path=folder.parents[1])
        onsets += list(np.arange(stages.size) * _STAGE_SECONDS)
        durations += [_STAGE_SECONDS] * stages.size
        descriptions += list(stages)
    spindle_file = folder / f"Visual_scoring1_excerpt{excerpt}.txt"
    if spindle_file.is_file():
        _, marks = _read_bracketed_text(spindle_file)
        marks = marks.reshape(-1, 2)
        onsets += list(marks[:, 0])
        durations += list(marks[:, 1])
        descriptions += ["spindle"] * len(marks)
    if onsets:
        raw.set_annotations(mne.Annotations(onsets, durations, descriptions))
    return raw
