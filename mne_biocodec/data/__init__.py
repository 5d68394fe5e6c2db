"""Sample recording shipped with the package (see README.md beside this file)."""

from importlib import resources
from pathlib import Path

__all__ = ["sample_path"]


def sample_path():
    """Path of the shipped sample recording ``S004R04.edf`` (held-out eegmmidb subject 4).

    Returns
    -------
    path : Path
    """
    return Path(str(resources.files(__name__).joinpath("S004R04.edf")))
