"""Token-model files: safetensors weights plus a JSON sidecar with the config and SHA-256.

Loading never unpickles and trusts nothing before it is checked, cheapest check first: the
SHA-256 (the package registry's for a shipped model, and the sidecar's), the sidecar's format
and config (:func:`~mne_biocodec.tokenmodel.model.check_token_model_config`, which bounds the
model size), the tensor names, shapes and dtypes in the safetensors header against the model
the config describes, and only then the tensors, which must be finite. A sidecar config
without a key added later (a file saved before it existed) loads with the value it was trained
with (:data:`~mne_biocodec.tokenmodel.model.LEGACY_CONFIG`: ``position_scale`` 1.0, no
``neighbour_logits``).
"""

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..codec import atomic_write, default_device, file_sha256, is_sha256
from ..pretrained import resolve_pretrained
from ..training.settings import read_json_object
from .model import LEGACY_CONFIG, TokenTransformer

__all__ = ["save_token_model", "load_token_model", "TOKEN_MODEL_FORMAT"]

#: ``format`` of the sidecar JSON of a token model.
TOKEN_MODEL_FORMAT = "mne-biocodec-token-model-1"
# Sidecars hold the config, the codec's identity and a training summary: a few kB.
_MAX_SIDECAR_BYTES = 4 << 20
_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")


def save_token_model(model, path, codec_info=None, extra_metadata=None):
    """Save a token model as ``path`` (safetensors) and ``path`` with ``.json`` (sidecar).

    Parameters
    ----------
    model : TokenTransformer
        The model.
    path : path-like
        Output file; ``.safetensors`` is appended when missing.
    codec_info : dict | None
        The codec whose tokens the model reads (``name``, ``weights_sha256``, ...): the
        estimator refuses another codec.
    extra_metadata : dict | None
        JSON-serialisable training summary.

    Returns
    -------
    path : Path
        The weights written. Both files are written atomically; the sidecar records the
        SHA-256 of the weights, which :func:`load_token_model` verifies.
    """
    if not isinstance(model, TokenTransformer):
        raise TypeError(f"model must be a TokenTransformer; got {type(model).__name__}.")
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": TOKEN_MODEL_FORMAT})
        sidecar = {"format": TOKEN_MODEL_FORMAT, "config": model.config,
                   "sha256": file_sha256(tmp), "codec": codec_info or {},
                   "extra": extra_metadata or {}}
        with atomic_write(path.with_suffix(".json")) as tmp_json:
            tmp_json.write_text(json.dumps(sidecar, indent=2, sort_keys=True))
    return path


def _resolve(source):
    """``(weights file, registry SHA-256 or None)`` of a file or a shipped name."""
    if Path(source).is_file():
        return Path(source), None
    shipped = resolve_pretrained(str(source), kind="token-model")
    if shipped is None:
        raise FileNotFoundError(
            f"No token-model file or shipped model named {str(source)!r}. Pass a "
            ".safetensors file written by save_token_model, or 'token-model-eeg'.")
    return shipped


def _read_sidecar(path):
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise ValueError(f"Token model {path} has no sidecar {sidecar.name} beside it (the "
                         "config and SHA-256 save_token_model writes); restore it.")
    if sidecar.stat().st_size > _MAX_SIDECAR_BYTES:
        raise ValueError(f"{sidecar} is larger than {_MAX_SIDECAR_BYTES >> 20} MiB; a token "
                         "model's sidecar holds a few kB. Restore it.")
    try:
        data = read_json_object(sidecar, what="Token-model sidecar")
    except RecursionError:
        raise ValueError(f"Token-model sidecar {sidecar} nests too deeply to be a sidecar; "
                         "restore it.") from None
    if data.get("format") != TOKEN_MODEL_FORMAT:
        raise ValueError(f"{sidecar} has format {str(data.get('format'))[:80]!r}; expected "
                         f"{TOKEN_MODEL_FORMAT!r}. Is this a codec file? Load codecs with "
                         "mne_biocodec.load_codec.")
    sha = data.get("sha256")
    if not is_sha256(sha):
        raise ValueError(f"{sidecar} records sha256 {str(sha)[:80]!r}; expected 64 lowercase "
                         "hexadecimal characters. Save the model again.")
    for key in ("config", "codec", "extra"):
        if not isinstance(data.get(key, {}), dict):
            raise ValueError(f"{key!r} in {sidecar} must be a JSON object; got "
                             f"{type(data[key]).__name__}. Restore the file.")
    return data


def _check_header(path, model):
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    try:
        with safe_open(str(path), framework="pt") as fid:
            found = {k: (tuple(fid.get_slice(k).get_shape()), fid.get_slice(k).get_dtype())
                     for k in fid.keys()}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"Could not read token-model weights {path}: {err}. Restore the file "
                         "written by save_token_model.") from None
    problems = [f"missing {k}" for k in sorted(set(expected) - set(found))]
    problems += [f"unexpected {k}" for k in sorted(set(found) - set(expected))]
    problems += [f"{k}: shape {found[k][0]}, expected {expected[k]}"
                 for k in sorted(set(found) & set(expected)) if found[k][0] != expected[k]]
    problems += [f"{k}: dtype {found[k][1]}, expected float" for k in sorted(found)
                 if found[k][1] not in _FLOAT_DTYPES]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more"
                                          if len(problems) > 5 else "")
        raise ValueError(f"The tensors in {path} do not match the config in its sidecar "
                         f"({shown}). Check that the sidecar belongs to these weights.")


def load_token_model(source="token-model-eeg", device=None):
    """Load a token model from a file, a folder or the name of a shipped model.

    Parameters
    ----------
    source : str | path-like, default="token-model-eeg"
        A ``.safetensors`` file written by :func:`save_token_model` (its ``.json`` sidecar
        beside it), or a shipped name.
    device : str | torch.device | None
        Where to put the model; ``"cuda"`` when available, else ``"cpu"``.

    Returns
    -------
    model : TokenTransformer
        In eval mode, with ``weights_file``, ``source``, ``codec_info`` (the codec whose
        tokens it reads) and ``training_info`` (the sidecar's training summary) set. A
        sidecar config without a later key takes its
        :data:`~mne_biocodec.tokenmodel.model.LEGACY_CONFIG` value (``position_scale``
        1.0, ``neighbour_logits`` False), not the default for new models.

    Raises
    ------
    FileNotFoundError
        If ``source`` is neither a file nor a shipped name.
    ValueError
        If the weights do not hash to the recorded SHA-256 (registry or sidecar), the sidecar
        is missing, not a token-model sidecar or holds an invalid config, the tensors do not
        match the config, or a tensor holds NaN or infinite values. Each check runs before
        anything it guards is allocated; no code from the files is executed.
    """
    path, shipped_sha = _resolve(source)
    sidecar = _read_sidecar(path)
    actual = file_sha256(path)
    if shipped_sha is not None and actual != shipped_sha:
        raise ValueError(f"Shipped token model {path.name} is corrupt: SHA-256 "
                         f"{actual[:12]}... does not match the registry's "
                         f"{shipped_sha[:12]}.... Reinstall mne-biocodec.")
    if actual != sidecar["sha256"]:
        raise ValueError(f"Token model {path} does not match the SHA-256 recorded in "
                         f"{path.with_suffix('.json').name} (it hashes to {actual[:12]}..., "
                         f"the record says {sidecar['sha256'][:12]}...): the weights changed "
                         "after they were saved. Restore the file, or save the model again.")
    config = sidecar.get("config", {})
    if isinstance(config, dict):
        # Files saved before a key existed were trained without it (the position encoding
        # unscaled, no neighbour tables); the newer defaults would change their predictions.
        config = {**LEGACY_CONFIG, **config}
    try:
        model = TokenTransformer(config)
    except (TypeError, ValueError) as err:
        raise ValueError(f"Invalid config in {path.with_suffix('.json')}: {err}") from None
    _check_header(path, model)
    try:
        with safe_open(str(path), framework="pt") as fid:
            state = {k: fid.get_tensor(k) for k in fid.keys()}
    except (SafetensorError, OSError) as err:
        raise ValueError(f"Could not read token-model weights {path}: {err}.") from None
    bad = sorted(k for k, v in state.items() if not bool(torch.isfinite(v).all()))
    if bad:
        raise ValueError(f"{path} holds NaN or infinite values in {bad[:5]}; the weights are "
                         "damaged (e.g. a diverged run). Use an earlier checkpoint.")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.weights_file, model.source = path, source
    model.codec_info, model.training_info = sidecar.get("codec", {}), sidecar.get("extra", {})
    return model.to(default_device(device)).eval()
