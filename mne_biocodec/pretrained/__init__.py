"""Codecs and token models shipped inside the package, found with importlib.resources and
checked by hash.

Each registry entry has a ``kind``: ``"codec"`` (the default, for entries without one) or
``"token-model"``; a name is resolved only as the kind its caller loads, so a token model is
never handed to the codec loader or the other way round.
"""

import json
import re
from importlib import resources
from pathlib import Path

__all__ = ["list_pretrained", "resolve_pretrained", "pretrained_info", "KINDS"]

#: Kinds of shipped weights.
KINDS = ("codec", "token-model")


def _registry():
    registry = resources.files(__name__).joinpath("registry.json")
    if not registry.is_file():
        return {}
    return json.loads(registry.read_text())


def _kind(entry):
    return entry.get("kind", "codec") if isinstance(entry, dict) else "codec"


def _check_kind(kind):
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None; got {kind!r}.")


def list_pretrained(kind="codec"):
    """Names of the codecs (or token models) shipped with the package.

    Parameters
    ----------
    kind : {"codec", "token-model"} | None, default="codec"
        Which shipped weights to list; None lists all.

    Returns
    -------
    names : list of str
    """
    _check_kind(kind)
    return sorted(name for name, entry in _registry().items()
                  if kind is None or _kind(entry) == kind)


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
        raise ValueError(f"Unknown shipped codec or token model {name!r}; available: "
                         f"{list_pretrained(kind=None)}.")
    return dict(registry[name])


def resolve_pretrained(name, kind="codec"):
    """``(path, sha256)`` of a shipped codec (or token model), or None when ``name`` is not one.

    Parameters
    ----------
    name : str
        A name from :func:`list_pretrained` (any other string gives None).
    kind : {"codec", "token-model"}, default="codec"
        What the caller loads.

    Returns
    -------
    resolved : tuple of (Path, str) | None
        The weights file inside the package and its recorded SHA-256.

    Raises
    ------
    ValueError
        If ``name`` is shipped weights of another kind (e.g. a token model given to the codec
        loader), or the registry entry does not name a plain file beside the registry and a
        64-digit hexadecimal SHA-256 (a damaged installation).
    """
    _check_kind(kind)
    entry = _registry().get(name)
    if entry is None:
        return None
    if _kind(entry) != kind:
        loader = {"codec": "mne_biocodec.load_codec",
                  "token-model": "mne_biocodec.load_token_model"}.get(_kind(entry), "?")
        raise ValueError(f"{name!r} is a shipped {_kind(entry)}, not a {kind}; load it with "
                         f"{loader}({name!r}).")
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
