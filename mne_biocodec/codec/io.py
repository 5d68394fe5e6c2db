"""Reading and writing codec weights: safetensors plus a JSON config, never pickles."""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .model import BioCodec, EEG_CONFIG, default_device

__all__ = ["save_codec", "load_codec", "convert_checkpoint", "read_codec_config", "file_sha256", "atomic_write"]

# Prefixes that other writers add to the reference key names: ``torch.compile`` wraps the
# model in ``_orig_mod``, DDP in ``module``.
_STRIPPED_PREFIXES = ("_orig_mod.", "module.")


def file_sha256(path, chunk_size=1 << 20):
    """Hex SHA-256 of a file."""
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
        The codec.
    path : path-like
        Output file; ``.safetensors`` is appended when missing.
    extra_metadata : dict | None
        JSON-serialisable information stored beside the config (e.g. training recipe).

    Returns
    -------
    path : Path
        The safetensors file written. Both files are written atomically.
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
    sidecar = {"config": codec.config, "sha256": file_sha256(path),
               **({"extra": extra_metadata} if extra_metadata else {})}
    with atomic_write(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2, sort_keys=True))
    return path


def _resolve_file(source):
    from ..pretrained import resolve_pretrained

    path = Path(source)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise FileNotFoundError(
                f"Folder {path} must hold exactly one .safetensors codec file; found "
                f"{len(files)}. Pass the file itself."
            )
        return files[0], None
    if path.is_file():
        return path, None
    shipped = resolve_pretrained(str(source))
    if shipped is not None:
        return shipped
    raise FileNotFoundError(
        f"No codec file, folder or shipped model named {str(source)!r}. Pass a "
        ".safetensors file, a folder holding one, or one of mne_biocodec.list_pretrained()."
    )


def read_codec_config(path):
    """Config of a codec file: its safetensors metadata, else a JSON file beside it.

    Parameters
    ----------
    path : path-like
        A ``.safetensors`` file.

    Returns
    -------
    config : dict | None
        The config, or None when neither source has one (reference checkpoints).
    """
    from safetensors import safe_open

    path = Path(path)
    with safe_open(str(path), framework="pt") as fid:
        metadata = fid.metadata() or {}
    if "config" in metadata:
        return json.loads(metadata["config"])
    for candidate in (path.with_suffix(".json"), path.parent / "config.json"):
        if candidate.is_file():
            data = json.loads(candidate.read_text())
            if isinstance(data.get("config"), dict):
                return data["config"]
            return _config_from_reference_json(data)
    return None


def _config_from_reference_json(data):
    """Map the reference fixture's ``config.json`` (constructor arguments) to our keys."""
    if "SEANetEncoder" not in data:
        return data
    enc, rvq = data["SEANetEncoder"], data.get("ResidualVectorQuantizer", {})
    model = data.get("BioCodecModel", {})
    config = {k: enc[k] for k in ("dimension", "n_filters", "n_residual_layers", "ratios",
                                  "kernel_size", "last_kernel_size", "residual_kernel_size",
                                  "dilation_base", "causal", "norm", "pad_mode",
                                  "true_skip", "compress", "lstm") if k in enc}
    config.update({k: rvq[k] for k in ("n_q", "bins", "codebook_dim", "decay", "epsilon",
                                       "kmeans_init", "kmeans_iters",
                                       "threshold_ema_dead_code", "commitment_weight")
                   if k in rvq})
    if "sample_rate" in model:
        config["sample_rate"] = model["sample_rate"]
    if "normalize" in model:
        config["normalize"] = model["normalize"]
    if "name" in model:
        config["name"] = model["name"]
    config["modality"] = "emg" if list(config.get("ratios", [])) == [3, 3, 2] else "eeg"
    return config


def _infer_config(state_dict):
    """Guess the architecture of a config-less checkpoint from its tensor shapes."""
    config = dict(EEG_CONFIG)
    n_q = len({k.split(".")[3] for k in state_dict if k.startswith("quantizer.vq.layers.")})
    if n_q:
        config["n_q"] = n_q
        embed = state_dict["quantizer.vq.layers.0._codebook.embed"]
        config["bins"], config["codebook_dim"] = map(int, embed.shape)
    # Downsampling convolutions are the top-level encoder convs with even kernels (2 x stride).
    strides = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[:2] == ["encoder", "model"] and parts[3] == "conv" and \
                key.endswith("original1") and int(value.shape[-1]) % 2 == 0:
            strides[int(parts[2])] = int(value.shape[-1]) // 2
    strides = [strides[i] for i in sorted(strides)]
    if strides:
        config["ratios"] = list(reversed(strides))
        config["modality"] = "emg" if config["ratios"] == [3, 3, 2] else "eeg"
        config["sample_rate"] = 1000 if config["modality"] == "emg" else 250
    return config


def _clean_keys(state_dict):
    cleaned = {}
    for key, value in state_dict.items():
        for prefix in _STRIPPED_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        cleaned[key] = value
    return cleaned


def load_codec(source="biocodec-eeg", device=None, eval=True, config=None):
    """Load a codec from a file, a folder or the name of a shipped model.

    Parameters
    ----------
    source : str | path-like, default="biocodec-eeg"
        A ``.safetensors`` file (config in its metadata, in ``<file>.json`` or in a
        ``config.json`` beside it; reference-implementation checkpoints, whose keys this
        package shares, load as well, their architecture inferred from the tensor shapes when
        there is no config), a folder holding one such file, or the name of a shipped model
        (see :func:`mne_biocodec.list_pretrained`).
    device : str | torch.device | None
        Where to put the codec; ``"cuda"`` when available, else ``"cpu"``.
    eval : bool, default=True
        Put the codec in eval mode (deterministic encoding).
    config : dict | None
        Config overriding the one found with the weights (e.g. ``{"normalize": True}``).

    Returns
    -------
    codec : BioCodec
        The codec. Shipped models are checked against their recorded SHA-256.

    Raises
    ------
    FileNotFoundError
        If ``source`` is neither a file, a folder nor a shipped name.
    ValueError
        If the file is not a valid safetensors file or its tensors do not match its config.
    """
    path, expected_sha = _resolve_file(source)
    if expected_sha is not None:
        actual = file_sha256(path)
        if actual != expected_sha:
            raise ValueError(
                f"Shipped codec {path.name} is corrupt: SHA-256 {actual[:12]}... does not "
                f"match the recorded {expected_sha[:12]}.... Reinstall mne-biocodec."
            )
    try:
        state_dict = _clean_keys(load_file(str(path)))
        file_config = read_codec_config(path)
    except (SafetensorError, OSError, json.JSONDecodeError) as err:
        raise ValueError(
            f"Could not read codec weights from {path}: {err}. The file must be a "
            "safetensors file written by mne_biocodec.save_codec or the reference code "
            "(convert a reference .pt checkpoint with mne_biocodec.codec.convert_checkpoint)."
        ) from None
    full_config = dict(file_config or _infer_config(state_dict))
    full_config.update(config or {})
    codec = BioCodec(full_config)
    expected = codec.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state_dict)
                   if tuple(expected[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            details.append(f"{len(wrong)} with the wrong shape (e.g. {k}: file "
                           f"{tuple(state_dict[k].shape)}, config {tuple(expected[k].shape)})")
        raise ValueError(
            f"The tensors in {path} do not match its codec config: " + "; ".join(details)
            + ". Check that the JSON config belongs to these weights."
        )
    codec.load_state_dict(state_dict)
    codec.to(default_device(device))
    if eval:
        codec.eval()
    return codec


def convert_checkpoint(checkpoint, output):
    """Convert a reference-implementation ``.pt`` checkpoint to a safetensors codec file.

    The reference trainer pickles a dict whose ``model_state_dict`` holds the weights under
    ``_orig_mod.``-prefixed keys. It is read with ``torch.load(weights_only=True)``, whose
    restricted unpickler builds tensors and plain containers only and never runs code from
    the file.

    Parameters
    ----------
    checkpoint : path-like
        The ``.pt`` file.
    output : path-like
        The ``.safetensors`` file to write (with its JSON config beside it).

    Returns
    -------
    path : Path
        The file written.
    """
    try:
        data = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    except Exception as err:  # the unpickler raises many types for foreign content
        raise ValueError(
            f"{checkpoint} is not a weights-only torch checkpoint ({type(err).__name__}: "
            f"{err}). Only tensors and plain containers are accepted."
        ) from None
    state_dict = data.get("model_state_dict", data) if isinstance(data, dict) else None
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{checkpoint} holds no state dict of tensors.")
    state_dict = _clean_keys(state_dict)
    codec = BioCodec(_infer_config(state_dict))
    codec.load_state_dict(state_dict)
    return save_codec(codec, output)
