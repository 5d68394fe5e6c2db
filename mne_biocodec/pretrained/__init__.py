"""Codecs shipped inside the package, found with importlib.resources and checked by hash."""

import json
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
    """``(path, sha256)`` of a shipped codec, or None when ``name`` is not one."""
    entry = _registry().get(name)
    if entry is None:
        return None
    path = Path(str(resources.files(__name__).joinpath(entry["file"])))
    return path, entry["sha256"]
