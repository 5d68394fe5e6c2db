"""Reading codec weights: safetensors plus a JSON config, never pickles.

Nothing in a codec file is trusted before it is checked, in an order that keeps a hostile or
damaged file cheap to refuse: the SHA-256 recorded beside the file, then the config (types,
ranges and model size, :func:`mne_biocodec.codec.check_codec_config`), then the tensor
names, shapes and dtypes in the safetensors header against the model the config describes,
and only then the tensors themselves, which must be finite.
"""

import json
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from .files import atomic_write, file_sha256, is_sha256, save_codec
from .model import BioCodec, EEG_CONFIG, default_device

__all__ = ["save_codec", "load_codec", "convert_checkpoint", "read_codec_config", "file_sha256",
           "atomic_write"]

# Prefixes that other writers add to the reference key names: ``torch.compile`` wraps the
# model in ``_orig_mod``, DDP in ``module``.
_STRIPPED_PREFIXES = ("_orig_mod.", "module.")
_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
# The sidecar holds the config, the digest and the training summary (tens of kB).
_MAX_JSON_BYTES = 16 << 20
_READ_ERRORS = (SafetensorError, OSError, UnicodeDecodeError, json.JSONDecodeError)


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


def _unreadable(path, err):
    return ValueError(
        f"Could not read codec weights from {path}: {err}. The file must be a safetensors "
        "file written by mne_biocodec.save_codec or the reference code (convert a reference "
        ".pt checkpoint with mne_biocodec.codec.convert_checkpoint)."
    )


def _read_json_object(path):
    """The JSON object in ``path``; anything else is refused, naming the file."""
    try:
        if path.stat().st_size > _MAX_JSON_BYTES:
            raise ValueError(f"the file is larger than {_MAX_JSON_BYTES >> 20} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; absurd nesting recurses.
    except (ValueError, OSError, RecursionError) as err:
        raise ValueError(
            f"Could not read the codec JSON file {path}: {err}. It must be the JSON file "
            "save_codec writes beside the weights (or the reference code's config.json); "
            "restore it, or delete it if it does not belong to the weights."
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"The codec JSON file {path} must hold a JSON object; got a "
            f"{type(data).__name__}. Restore it, or delete it if it does not belong to the "
            "weights."
        )
    return data


def _verify_digest(path, shipped_sha):
    """Refuse ``path`` when it does not hash to the SHA-256 recorded for it.

    Digests come from the package registry (shipped codecs) and from the ``"sha256"`` that
    :func:`save_codec` records in the JSON file beside the weights.
    """
    sidecar = path.with_suffix(".json")
    recorded = _read_json_object(sidecar).get("sha256") if sidecar.is_file() else None
    if recorded is not None and not (isinstance(recorded, str)
                                     and is_sha256(recorded.lower())):
        raise ValueError(
            f"{sidecar} records sha256 {str(recorded)[:80]!r}; expected 64 hexadecimal "
            "characters. Save the codec again with mne_biocodec.codec.save_codec."
        )
    if shipped_sha is None and recorded is None:
        return
    actual = file_sha256(path)
    if shipped_sha is not None and actual != shipped_sha:
        raise ValueError(
            f"Shipped codec {path.name} is corrupt: SHA-256 {actual[:12]}... does not "
            f"match the recorded {shipped_sha[:12]}.... Reinstall mne-biocodec."
        )
    if recorded is not None and actual != recorded.lower():
        raise ValueError(
            f"Codec file {path} does not match the SHA-256 recorded in {sidecar.name}: it "
            f"hashes to {actual[:12]}..., the record says {recorded[:12]}.... The weights "
            "changed after save_codec wrote them (damage or an edit): restore the file, or, "
            f"if the change is intended, save the codec again with save_codec (which "
            f"rewrites {sidecar.name})."
        )


def _read_header(path):
    """``(metadata, shapes, dtypes)`` of a safetensors file, without reading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as fid:
            metadata = fid.metadata() or {}
            shapes, dtypes = {}, {}
            for key in fid.keys():
                view = fid.get_slice(key)
                shapes[key] = tuple(int(n) for n in view.get_shape())
                dtypes[key] = view.get_dtype()
    except _READ_ERRORS as err:
        raise _unreadable(path, err) from None
    return metadata, shapes, dtypes


def _find_config(path, metadata):
    """``(config, origin)`` of a codec file, ``(None, None)`` when it has no config."""
    if "config" in metadata:
        origin = f"the config in the metadata of {path.name}"
        try:
            config = json.loads(metadata["config"])
        except (ValueError, RecursionError) as err:
            raise ValueError(
                f"The config in the metadata of {path} is not valid JSON ({err}). Save the "
                "codec again with mne_biocodec.codec.save_codec."
            ) from None
        if not isinstance(config, dict):
            raise ValueError(
                f"The config in the metadata of {path} must be a JSON object of codec "
                f"settings; got a {type(config).__name__}. Save the codec again with "
                "mne_biocodec.codec.save_codec."
            )
        return config, origin
    for candidate in (path.with_suffix(".json"), path.parent / "config.json"):
        if candidate.is_file():
            data = _read_json_object(candidate)
            origin = f"the config in {candidate}"
            if "config" not in data:
                return _config_from_reference_json(data, candidate), origin
            if not isinstance(data["config"], dict):
                raise ValueError(
                    f"'config' in {candidate} must be a JSON object of codec settings; got "
                    f"a {type(data['config']).__name__}. Restore the file or save the codec "
                    "again with save_codec."
                )
            return data["config"], origin
    return None, None


def read_codec_config(path):
    """Config of a codec file: its safetensors metadata, else a JSON file beside it.

    The config is returned as found; :func:`load_codec` validates it
    (:func:`mne_biocodec.codec.check_codec_config`) before building anything.

    Parameters
    ----------
    path : path-like
        A ``.safetensors`` file.

    Returns
    -------
    config : dict | None
        The config, or None when neither source has one (reference checkpoints).

    Raises
    ------
    ValueError
        If the file is not a safetensors file, or the config found is not a JSON object.
    """
    path = Path(path)
    return _find_config(path, _read_header(path)[0])[0]


def _modality_from_ratios(ratios):
    """The modality of a reference checkpoint, which does not record it: the EMG codec is
    the one that downsamples by 3 x 3 x 2 (18 samples per frame at 1 kHz)."""
    return "emg" if list(ratios or ()) == [3, 3, 2] else "eeg"


def _config_from_reference_json(data, source):
    """Map the reference fixture's ``config.json`` (constructor arguments) to our keys."""
    if "SEANetEncoder" not in data:
        return data
    sections = {name: data.get(name, {}) for name in
                ("SEANetEncoder", "ResidualVectorQuantizer", "BioCodecModel")}
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise ValueError(
                f"{name!r} in {source} must be a JSON object of constructor arguments; got "
                f"a {type(section).__name__}. Restore the reference config.json."
            )
    enc, rvq = sections["SEANetEncoder"], sections["ResidualVectorQuantizer"]
    model = sections["BioCodecModel"]
    config = {k: enc[k] for k in ("dimension", "n_filters", "n_residual_layers", "ratios",
                                  "kernel_size", "last_kernel_size", "residual_kernel_size",
                                  "dilation_base", "causal", "norm", "pad_mode",
                                  "true_skip", "compress", "lstm") if k in enc}
    config.update({k: rvq[k] for k in ("n_q", "bins", "codebook_dim", "decay", "epsilon",
                                       "kmeans_init", "kmeans_iters",
                                       "threshold_ema_dead_code", "commitment_weight")
                   if k in rvq})
    config.update({k: model[k] for k in ("sample_rate", "normalize", "name") if k in model})
    config["modality"] = _modality_from_ratios(config.get("ratios"))
    return config


def _infer_config(shapes, source):
    """Guess the architecture of a config-less checkpoint from its tensor shapes."""
    config = dict(EEG_CONFIG)
    layers = {k.split(".")[3] for k in shapes
              if k.startswith("quantizer.vq.layers.") and k.count(".") >= 4}
    if layers:
        config["n_q"] = len(layers)
        embed = shapes.get("quantizer.vq.layers.0._codebook.embed")
        if embed is None or len(embed) != 2:
            raise ValueError(
                f"{source} has no config and its quantizer tensors lack a 2-D "
                f"'quantizer.vq.layers.0._codebook.embed' (found shape {embed}), so its "
                "codebooks cannot be inferred. Put the codec config in a JSON file beside it."
            )
        config["bins"], config["codebook_dim"] = embed
    # Downsampling convolutions are the top-level encoder convs with even kernels (2 x stride).
    strides = {}
    for key, shape in shapes.items():
        parts = key.split(".")
        if (len(parts) > 4 and parts[:2] == ["encoder", "model"] and parts[3] == "conv"
                and re.fullmatch(r"[0-9]{1,6}", parts[2]) and key.endswith("original1")
                and len(shape) == 3 and shape[-1] % 2 == 0):
            strides[int(parts[2])] = shape[-1] // 2
    strides = [strides[i] for i in sorted(strides)]
    if strides:
        config["ratios"] = list(reversed(strides))
        config["modality"] = _modality_from_ratios(config["ratios"])
        config["sample_rate"] = 1000 if config["modality"] == "emg" else 250
    return config


def _clean_keys(tensors, source):
    """``tensors`` with the wrapper prefixes stripped from their names."""
    cleaned = {}
    for key, value in tensors.items():
        name = key
        for prefix in _STRIPPED_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
        if name in cleaned:
            raise ValueError(
                f"{source} holds two tensors named {name!r} once the wrapper prefixes "
                f"{list(_STRIPPED_PREFIXES)} are removed. Keep one copy of the weights."
            )
        cleaned[name] = value
    return cleaned


def _some(names, describe=str, limit=5):
    shown = "; ".join(describe(name) for name in names[:limit])
    return shown + (f"; and {len(names) - limit} more" if len(names) > limit else "")


def _build_checked(config, source, origin):
    try:
        return BioCodec(config)
    except ValueError as err:
        raise ValueError(f"Invalid codec config for {source} ({origin}): {err}") from None


def _check_tensors(shapes, not_float, codec, source, origin):
    """Refuse tensors whose names, shapes or dtypes are not the model's, naming them all."""
    expected = {k: tuple(v.shape) for k, v in codec.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = sorted(k for k in set(expected) & set(shapes) if shapes[k] != expected[k])
    details = []
    if missing:
        details.append(f"{len(missing)} missing: {_some(missing)}.")
    if unexpected:
        details.append(f"{len(unexpected)} unexpected: {_some(unexpected)}.")
    if wrong:
        def describe(k):
            return f"{k}: found {shapes[k]}, expected {expected[k]}"

        details.append(f"{len(wrong)} with the wrong shape: {_some(wrong, describe)}.")
    if details:
        raise ValueError(
            f"The tensors in {source} do not match the codec config ({origin}). "
            + " ".join(details) + " Check that the config belongs to these weights."
        )
    if not_float:
        raise ValueError(
            f"{source} holds {len(not_float)} tensor(s) that are not floating point "
            f"({_some(sorted(not_float))}); codec weights are float. Convert them or "
            "restore the file."
        )


def _unfilled_codebooks(tensors):
    """Names of the codebook buffers that k-means has not filled yet.

    A codebook waiting for k-means (``inited`` 0) starts from uninitialised memory, so a
    codec saved before training may hold anything there; the first training batch
    overwrites it.
    """
    unfilled = set()
    for name, flag in tensors.items():
        if name.endswith("._codebook.inited") and flag.numel() == 1 and float(flag) == 0.0:
            stem = name[: -len("inited")]
            unfilled.update(stem + part for part in ("embed", "embed_avg", "cluster_size"))
    return unfilled


def _check_finite(tensors, source):
    skipped = _unfilled_codebooks(tensors)
    # A NaN or an infinity makes the sum non-finite; the sum is 4x faster than an
    # element-wise test, which only confirms the rare non-finite sums (overflow included).
    bad = sorted(k for k, v in tensors.items() if k not in skipped
                 and not bool(torch.isfinite(v.sum()))
                 and not bool(torch.isfinite(v).all()))
    if bad:
        raise ValueError(
            f"{source} holds NaN or infinite values in {len(bad)} tensor(s): {_some(bad)}. "
            "The weights are damaged (e.g. a diverged training run); use an earlier "
            "checkpoint or retrain."
        )


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
        The codec, with :attr:`~BioCodec.weights_file` and :attr:`~BioCodec.source` set.

    Raises
    ------
    FileNotFoundError
        If ``source`` is neither a file, a folder nor a shipped name.
    ValueError
        If the file does not hash to the SHA-256 recorded for it (in the package registry
        or in the ``<file>.json`` that :func:`save_codec` writes), is not a safetensors
        file, its config is invalid (:func:`mne_biocodec.codec.check_codec_config`), its
        tensor names, shapes or dtypes do not match that config, or a tensor holds NaN or
        infinite values. Each check runs before anything it guards is allocated.
    """
    if config is not None and not isinstance(config, dict):
        raise TypeError(
            f"config must be a dict of codec settings overriding the file's, or None; got "
            f"{type(config).__name__}."
        )
    path, shipped_sha = _resolve_file(source)
    _verify_digest(path, shipped_sha)
    metadata, shapes, dtypes = _read_header(path)
    names = _clean_keys({key: key for key in shapes}, path)  # clean name -> name in file
    shapes = {name: shapes[key] for name, key in names.items()}
    file_config, origin = _find_config(path, metadata)
    if file_config is None:
        file_config = _infer_config(shapes, path)
        origin = f"inferred from the tensor shapes of {path.name}"
    if config:
        origin += " and the config passed to load_codec"
    codec = _build_checked({**file_config, **(config or {})}, path, origin)
    _check_tensors(shapes, [name for name, key in names.items()
                            if dtypes[key] not in _FLOAT_DTYPES], codec, path, origin)
    try:
        with safe_open(str(path), framework="pt") as fid:
            state_dict = {name: fid.get_tensor(key) for name, key in names.items()}
    except _READ_ERRORS as err:
        raise _unreadable(path, err) from None
    _check_finite(state_dict, path)
    codec.load_state_dict(state_dict)
    codec.weights_file, codec.source = path, source
    codec.to(default_device(device))
    if eval:
        codec.eval()
    return codec


def convert_checkpoint(checkpoint, output):
    """Convert a reference-implementation ``.pt`` checkpoint to a safetensors codec file.

    The reference trainer pickles a dict whose ``model_state_dict`` holds the weights under
    ``_orig_mod.``-prefixed keys. It is read with ``torch.load(weights_only=True)``, whose
    restricted unpickler builds tensors and plain containers only and never runs code from
    the file. The architecture is inferred from the tensor shapes and checked as
    :func:`load_codec` checks a file.

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

    Raises
    ------
    ValueError
        If the checkpoint is not a weights-only state dict of dense tensors, or its tensor
        names, shapes or dtypes do not describe a valid codec, or it holds NaN or infinite
        values.
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
            isinstance(k, str) and isinstance(v, torch.Tensor) and v.layout == torch.strided
            for k, v in state_dict.items()):
        raise ValueError(
            f"{checkpoint} holds no state dict of dense tensors (a dict of str names to "
            "tensors, alone or under 'model_state_dict')."
        )
    state_dict = _clean_keys(state_dict, checkpoint)
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    origin = f"inferred from the tensor shapes of {Path(checkpoint).name}"
    codec = _build_checked(_infer_config(shapes, checkpoint), checkpoint, origin)
    _check_tensors(shapes, [k for k, v in state_dict.items() if not v.is_floating_point()],
                   codec, checkpoint, origin)
    _check_finite(state_dict, checkpoint)
    codec.load_state_dict(state_dict)
    return save_codec(codec, output)
