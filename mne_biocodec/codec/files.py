"""Writing codec files, and the file helpers every writer of the package shares.

This module imports nothing from the rest of :mod:`mne_biocodec.codec`: the model saves itself
through it and :mod:`mne_biocodec.codec.io` reads what it writes, so neither has to import
the other.
"""

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from safetensors.torch import save_file

__all__ = ["save_codec", "file_sha256", "is_sha256", "atomic_write"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(value):
    """Whether ``value`` is a SHA-256 hex digest as this package writes them.

    Parameters
    ----------
    value : object
        Anything read from a file.

    Returns
    -------
    ok : bool
        True for a str of exactly 64 lower-case hexadecimal digits.
    """
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def file_sha256(path, chunk_size=1 << 20):
    """Hex SHA-256 of a file.

    Parameters
    ----------
    path : path-like
        The file.
    chunk_size : int, default=1048576
        Bytes read at a time.

    Returns
    -------
    digest : str
        64 lowercase hexadecimal characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fid:
        for chunk in iter(lambda: fid.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


class atomic_write:
    """Context manager giving a temporary path that replaces ``path`` only on success.

    Parameters
    ----------
    path : path-like
        Final file name.

    Examples
    --------
    >>> with atomic_write("codec.safetensors") as tmp:  # doctest: +SKIP
    ...     save_file(tensors, tmp)
    """

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The temporary name ends with the final name: MNE and the exporters choose the
        # format from it.
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + self.path.name,
                                   dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            # mkstemp (and safetensors) create 0600 files; publish with a normal file's mode.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def save_codec(codec, path, extra_metadata=None):
    """Save a codec as ``path`` (safetensors, config in its metadata) and ``path.json``.

    Parameters
    ----------
    codec : BioCodec
        The codec (anything with a ``config`` dict and a ``state_dict()``).
    path : path-like
        Output file; ``.safetensors`` is appended when missing.
    extra_metadata : dict | None
        JSON-serialisable information stored beside the config (e.g. training recipe).

    Returns
    -------
    path : Path
        The safetensors file written. Both files are written atomically; the JSON file
        records the SHA-256 of the weights, which :func:`mne_biocodec.codec.load_codec`
        verifies.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    tensors = {k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()}
    config_text = json.dumps(codec.config, sort_keys=True)
    metadata = {"format": "mne-biocodec", "config": config_text}
    if extra_metadata:
        metadata["extra"] = json.dumps(extra_metadata, sort_keys=True)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        sidecar = {"config": codec.config, "sha256": file_sha256(tmp),
                   **({"extra": extra_metadata} if extra_metadata else {})}
        # Both files are published back to back, so that a reader (or a crash) meets an
        # old digest beside new weights only in the instant between the two renames.
        with atomic_write(path.with_suffix(".json")) as tmp_json:
            tmp_json.write_text(json.dumps(sidecar, indent=2, sort_keys=True))
    return path
