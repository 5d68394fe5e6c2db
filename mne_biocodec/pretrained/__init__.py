"""Codecs shipped inside the package, found with importlib.resources and checked by hash."""

import json
import re
from importlib import resources
from pathlib import Path

__all__ = ["list_pretrained", "resolve_pretrained", "pretrained_info"]


def _registry():
    registry = resources.files(__name__).joinpath("registry.json")
    if not registry.is_file():
        return {}
    return json.loads(registry.read_text())


def list_pretrained():
    """Names of the codecs shipped with the package.

    Returns
    -------
    names : list of str
    """
    return sorted(_registry())


def pretrained_info(name):
    """Registry entry of a shipped codec (file, sha256, training summary).

    Parameters
    ----------
    name : str
        A name from :func:`list_pretrained`.

    Returns
    -------
    info : dict
    """
    registry = _registry()
    if name not in registry:
        raise ValueError(f"Unknown shipped codec {name!r}; available: {list_pretrained()}.")
    return dict(registry[name])


def resolve_pretrained(name):
    """``(path, sha256)`` of a shipped codec, or None when ``name`` is not one.

    Parameters
    ----------
    name : str
        A name from :func:`list_pretrained` (any other string gives None).

    Returns
    -------
    resolved : tuple of (Path, str) | None
        The weights file inside the package and its recorded SHA-256.

    Raises
    ------
    ValueError
        If the registry entry does not name a plain file beside the registry and a 64-digit
        hexadecimal SHA-256 (a damaged installation).
    """
    entry = _registry().get(name)
    if entry is None:
        return None
    file, sha256 = (entry.get("file"), entry.get("sha256")) if isinstance(entry, dict) else (
        None, None)
    # The file must sit beside the registry: a name with a folder in it could point the
    # loader anywhere.
    if (not isinstance(file, str) or Path(file).name != file or file in ("", ".", "..")
            or not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", sha256)):
        raise ValueError(
            f"The registry entry of shipped codec {name!r} must give a plain 'file' name and "
            f"a 64-digit lowercase hex 'sha256'; got {entry!r:.200}. Reinstall mne-biocodec."
        )
    return Path(str(resources.files(__name__).joinpath(file))), sha256
