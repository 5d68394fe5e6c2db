"""Where the recordings live, and the file checks every loader makes before reading.

The loaders never download. MNE and MOABB fall back to the network when a file is missing
(and MOABB may first wait minutes on a mirror), which on an offline machine looks like a
hang rather than an error; so each loader checks its files first and names the missing one.
"""

import os
from pathlib import Path

__all__ = ["get_data_path", "require_file", "require_dir"]

_HOW_TO_FIX = (
    "Set the MNE_DATA environment variable (or mne.set_config('MNE_DATA', ...)) to the "
    "MNE_DATA-style folder that holds the recordings, or pass path=."
)


def get_data_path(path=None):
    """Return the MNE_DATA-style root folder that holds the recordings.

    Parameters
    ----------
    path : str | pathlib.Path | None
        The root to use. If None, the ``MNE_DATA`` environment variable is used, then
        the ``MNE_DATA`` key of the MNE configuration (:func:`mne.get_config`).

    Returns
    -------
    root : pathlib.Path
        The absolute, existing root folder.

    Raises
    ------
    FileNotFoundError
        If no root is configured, or the configured root is not an existing folder.

    Notes
    -----
    The expected layout below the root is that of MNE and MOABB downloads, e.g.
    ``MNE-eegbci-data/files/eegmmidb/1.0.0/S001/S001R01.edf``; nothing is ever downloaded.
    """
    source = "the path argument"
    if path is None:
        path, source = os.environ.get("MNE_DATA"), "the MNE_DATA environment variable"
    if path is None or str(path) == "":
        import mne

        path, source = mne.get_config("MNE_DATA"), "mne.get_config('MNE_DATA')"
    if path is None or str(path) == "":
        raise FileNotFoundError(
            "No data root found: path=None, the MNE_DATA environment variable is unset and "
            f"mne.get_config('MNE_DATA') is None. {_HOW_TO_FIX}"
        )
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(
            f"The data root {root} (from {source}) does not exist or is not a folder. "
            f"{_HOW_TO_FIX}"
        )
    return root


def require_file(fname, what):
    """Return ``fname`` as a Path if it is a file, else raise naming it.

    Parameters
    ----------
    fname : str | pathlib.Path
        The file that must exist.
    what : str
        Human description used in the message (e.g. "EEGMMI subject 4 run 6").

    Returns
    -------
    fname : pathlib.Path
    """
    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(
            f"Missing file for {what}: {fname} does not exist. mne_biocodec never downloads "
            f"data; put the file there (same layout as MNE/MOABB downloads) or point to "
            f"another root. {_HOW_TO_FIX}"
        )
    return fname


def require_dir(dname, what):
    """Return ``dname`` as a Path if it is a folder, else raise naming it."""
    dname = Path(dname)
    if not dname.is_dir():
        raise FileNotFoundError(
            f"Missing folder for {what}: {dname} does not exist. {_HOW_TO_FIX}"
        )
    return dname
