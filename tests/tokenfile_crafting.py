"""Token files built by hand from the format's description (``mne_biocodec.tokens.files``'s
docstring), not with its writer: crafted, damaged and version-1 files for the tests."""

import hashlib
import json

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

FORMAT = "mne-biocodec-tokens"


def payload_sha256(metadata_text, tensors):
    """The ``sha256`` header entry as the format documents it."""
    digest = hashlib.sha256(FORMAT.encode() + b"\0" + metadata_text.encode("utf-8"))
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        digest.update(b"\0" + f"{name}|{array.dtype.name}|{tuple(array.shape)}|".encode())
        digest.update(array.astype(array.dtype.newbyteorder("<")).tobytes())
    return digest.hexdigest()


def write_token_file(path, metadata, tensors, *, version="2", checksum=True):
    """Write ``metadata`` (any JSON, NaN allowed) and ``tensors`` as a token file.

    ``version`` is the header's ``format_version``; ``checksum=False`` leaves out ``sha256``
    (as version 1 does), ``checksum="stale"`` keeps a digest that does not match.
    """
    text = json.dumps(metadata, sort_keys=True)
    header = {"format": FORMAT, "format_version": str(version), "metadata": text}
    if checksum == "stale":
        header["sha256"] = "0" * 64
    elif checksum:
        header["sha256"] = payload_sha256(text, tensors)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path),
              metadata=header)
    return path


def read_parts(path):
    """``(header, metadata, tensors)`` of a token file, without mne_biocodec."""
    with safe_open(str(path), framework="np") as fid:
        header = dict(fid.metadata())
    return header, json.loads(header["metadata"]), load_file(str(path))


def write_version_1(path, source):
    """A version-1 file (no checksum, no v2 fields) with the content of token file ``source``."""
    _, metadata, tensors = read_parts(source)
    for key in ("first_samp", "chs", "dig", "annotations", "info"):
        metadata.pop(key)
    metadata["format_version"] = 1
    return write_token_file(path, metadata, tensors, version="1", checksum=False)
