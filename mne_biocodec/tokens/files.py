"""Token files: the ``.bctok`` format, its metadata, and how files are checked, written, read.

Encoding a recording into a token file and decoding one back into an MNE ``Raw`` is
:mod:`mne_biocodec.tokens.recording`'s job (:func:`~mne_biocodec.tokens.encode_to_file`,
:func:`~mne_biocodec.tokens.decode_to_raw`).

File format (``.bctok``, version 2)
-----------------------------------
A token file is a plain `safetensors <https://huggingface.co/docs/safetensors>`_ file (no
pickles; any safetensors reader opens it). The recommended suffix is ``.bctok``;
:func:`read_tokens` recognises a token file by its header, not by its name.

Tensors:

=========  =====================================  ==========================================
name       dtype, shape                           content
=========  =====================================  ==========================================
codes      uint8, (n_chans, n_q, n_frames)        codes, codebook 0 first (uint16 for
                                                  codebooks of more than 256 entries)
center     float64, (n_chans,)                    per-channel median subtracted before
                                                  encoding, in microvolts
scale      float64, (n_chans,)                    per-channel ``IQR + 1e-6`` the signal was
                                                  divided by, in microvolts
=========  =====================================  ==========================================

Header metadata (safetensors ``__metadata__``, string to string):

- ``format``: ``"mne-biocodec-tokens"``;
- ``format_version``: ``"2"``;
- ``metadata``: a JSON object (ASCII, keys sorted, no NaN) with

  - ``format``, ``format_version`` (int): as above;
  - ``mne_biocodec_version``: version of the writer;
  - ``ch_names``, ``ch_types`` (lists of n_chans str; types among MNE's channel types),
    ``bads`` (list of str among ``ch_names``);
  - ``sfreq`` (float, Hz) and ``n_times`` (int): rate and length of the original recording;
  - ``first_samp`` (int): the recording's ``raw.first_samp`` (its first sample counted from
    the start of the acquisition; annotation onsets depend on it);
  - ``meas_date``: ISO 8601 measurement date in UTC, or null;
  - ``codec_sfreq`` (float, Hz), ``n_q`` (int, codebooks stored), ``n_frames`` (int);
  - ``units``: ``{"center": "uV", "scale": "uV"}``;
  - ``codec``: ``name``, ``modality``, ``sample_rate``, ``hop_length``, ``n_q`` (codebooks
    of the codec), ``codebook_size``, ``weights_sha256`` (see
    :func:`~mne_biocodec.tokens.codec_sha256`: the
    SHA-256 of the codec's state dict, identical however the weights were stored, used to
    refuse decoding with another codec), ``file_sha256`` (SHA-256 of the codec weights file
    when known, else null; for shipped codecs it equals the registry's), ``source`` (the
    shipped name or path given when encoding, else null) and ``config`` (the full codec
    config);
  - ``chs``: per channel ``unit``, ``unit_mul``, ``coil_type``, ``coord_frame`` (FIFF
    integer codes) and ``loc`` (12 numbers, null for NaN), as in ``raw.info["chs"]``; or
    null (MNE's defaults for the channel types);
  - ``dig``: the digitisation points (``raw.info["dig"]``: montage, fiducials, head shape),
    each ``kind``, ``ident``, ``coord_frame`` (FIFF codes) and ``r`` (3 numbers, metres);
  - ``annotations``: ``onset``, ``duration`` (seconds), ``description``, ``ch_names``
    (per annotation, the channels it applies to, empty for all) and ``orig_time`` (ISO
    8601 or null), as ``raw.annotations`` holds them (onsets from ``orig_time``, or from
    the start of the acquisition, i.e. sample 0 rather than ``first_samp``, without);
  - ``info``: ``subject_info`` (birthday as an ISO date), ``experimenter``,
    ``description``, ``proj_name``, ``proj_id``, ``line_freq``, ``highpass``, ``lowpass``,
    ``custom_ref_applied`` and ``device_info`` of ``raw.info`` (null when unset);
  - ``extra``: free JSON object (the CLI stores the recording's file name there).

- ``sha256``: SHA-256 (hex) of the byte string ``b"mne-biocodec-tokens\\0"`` + the
  ``metadata`` entry (UTF-8) followed, for each tensor in name order, by ``b"\\0"`` +
  ``"<name>|<dtype>|<shape>|"`` (e.g. ``"codes|uint8|(64, 6, 209)|"``, dtype as numpy
  names it, shape as a Python tuple) + the tensor's little-endian C-order bytes.

A reader must reject a file whose ``format`` differs, a ``format_version`` it does not know,
a ``sha256`` that does not match, and metadata that does not agree with the tensors
(:func:`read_tokens` checks every field, see
:func:`~mne_biocodec.tokens.schema.check_token_metadata`). Version-1 files
(the same without ``sha256``, ``first_samp``, ``chs``, ``dig``, ``annotations`` and
``info``) are still read, with a warning. The signal is rebuilt as
``resample(decode(codes) * scale + center, codec_sfreq -> sfreq)[:n_times]`` in microvolts
(see :func:`mne_biocodec.detokenize`); ``n_frames`` is therefore
``ceil(n_codec / hop_length)`` with ``n_codec = ceil(n_times * codec_sfreq / sfreq)`` the
length of the recording at the codec rate.
"""

import hashlib
import json
import math
import warnings
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np

from .._version import __version__
from ..codec.files import atomic_write, file_sha256
from .engine import TokenSet, check_codec, codec_sha256, codes_dtype
from .schema import (DEVICE_KEYS, FILE_REMEDY, FORMAT_NAME, FORMAT_VERSION, INFO_KEYS,
                     READ_VERSIONS, SUBJECT_KEYS, SUBJECT_STRINGS,
                     TOKEN_SUFFIX, check_token_metadata, short_repr)

__all__ = ["write_tokens", "read_tokens", "make_token_metadata", "raw_metadata",
           "check_recording_tokens", "metadata_annotations"]



# -- validation helpers ---------------------------------------------------------------------
def _recording_arrays(tokens):
    """``codes (n_chans, n_q, n_frames)``, ``center``, ``scale`` ``(n_chans,)`` of a TokenSet."""
    if not isinstance(tokens, TokenSet):
        raise TypeError(
            f"tokens must be a TokenSet; got {type(tokens).__name__}. Make one with "
            "encode_raw(raw, codec) or mne_biocodec.tokenize."
        )
    codes = np.asarray(tokens.codes)
    if codes.ndim == 4:
        if codes.shape[0] != 1:
            raise ValueError(
                f"A token file holds one recording, i.e. tokens with one epoch; got "
                f"{codes.shape[0]} epochs (codes shape {codes.shape}). Tokenise the "
                "continuous recording (encode_raw(raw, codec)) or write one file per epoch."
            )
        codes = codes[0]
    if codes.ndim != 3:
        raise ValueError(
            f"tokens.codes must have shape (1, n_chans, n_q, n_frames); got {codes.shape}."
        )
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"tokens.codes must be integers; got dtype {codes.dtype}.")
    n_chans = codes.shape[0]
    center = np.asarray(tokens.center, dtype=np.float64).reshape(-1)
    scale = np.asarray(tokens.scale, dtype=np.float64).reshape(-1)
    if center.shape != (n_chans,) or scale.shape != (n_chans,):
        raise ValueError(
            f"tokens.center and tokens.scale must hold one value per channel ({n_chans}); "
            f"got {center.size} and {scale.size} values."
        )
    return codes, center, scale


def _check_tokens_codec(codes, tokens_codec_sfreq, codec):
    if float(tokens_codec_sfreq) != codec.sample_rate:
        raise ValueError(
            f"The tokens were made at a codec rate of {float(tokens_codec_sfreq):g} Hz but "
            f"this codec runs at {codec.sample_rate:g} Hz. Use the codec that made them."
        )
    n_q = codes.shape[-2]
    if not 1 <= n_q <= codec.n_q:
        raise ValueError(
            f"The tokens have {n_q} codebooks but the codec has {codec.n_q}. Use the codec "
            "that made them."
        )
    if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= codec.codebook_size):
        raise ValueError(
            f"The codes lie in [{int(codes.min())}, {int(codes.max())}] but the codec has "
            f"{codec.codebook_size} codes per codebook. Use the codec that made them."
        )


def check_recording_tokens(tokens, codec, metadata=None, *, where="metadata", remedy=None):
    """Check one recording's tokens against a codec and their metadata; return the tensors.

    Parameters
    ----------
    tokens : TokenSet
        Tokens of one recording (codes of shape ``(1, n_chans, n_q, n_frames)``).
    codec : BioCodec
        The codec they are for: same rate, at least their codebooks, codes in range.
    metadata : dict | None
        Their metadata (:func:`make_token_metadata`, :func:`read_tokens`), checked with
        :func:`~mne_biocodec.tokens.schema.check_token_metadata` and against the tokens'
        rates and length.
    where, remedy : str
        What errors about the metadata name, and how they say to fix it.

    Returns
    -------
    codes : ndarray, shape (n_chans, n_q, n_frames)
        The codes as a file stores them (the smallest unsigned dtype of the codebook).
    center, scale : ndarray of float64, shape (n_chans,)

    Raises
    ------
    TypeError
        If ``tokens`` is not a TokenSet or ``codec`` not a BioCodec.
    ValueError
        If the tokens hold more than one epoch, cannot come from ``codec``, or disagree with
        ``metadata``.
    """
    codec = check_codec(codec)
    codes, center, scale = _recording_arrays(tokens)
    _check_tokens_codec(codes, tokens.codec_sfreq, codec)
    codes = np.ascontiguousarray(codes, dtype=codes_dtype(codec.codebook_size))
    if metadata is not None:
        remedy = remedy or "Pass the metadata read_tokens returned with these tokens."
        check_token_metadata(metadata, codes, center, scale, where=where, remedy=remedy)
        ours = (float(tokens.sfreq), int(tokens.n_times), float(tokens.codec_sfreq))
        theirs = (metadata["sfreq"], metadata["n_times"], metadata["codec_sfreq"])
        if ours != theirs:
            raise ValueError(
                f"{where} (sfreq, n_times, codec_sfreq) = {theirs} does not describe these "
                f"tokens {ours}. {remedy}")
    return codes, center, scale


def _meas_date_text(meas_date):
    """ISO 8601 text in UTC (MNE's convention for ``meas_date``), or None."""
    if meas_date is None:
        return None
    if isinstance(meas_date, tuple):  # (seconds, microseconds), MNE's old convention
        meas_date = datetime.fromtimestamp(meas_date[0] + meas_date[1] / 1e6, timezone.utc)
    if not isinstance(meas_date, datetime):
        raise TypeError(
            f"meas_date must be a datetime or None; got {type(meas_date).__name__}. Pass "
            "raw.info['meas_date']."
        )
    if meas_date.tzinfo is None:
        meas_date = meas_date.replace(tzinfo=timezone.utc)
    return meas_date.astimezone(timezone.utc).isoformat()


# -- what a token file keeps of a recording --------------------------------------------------
def _json_float(value):
    """A float for JSON; None for NaN and infinities (MNE marks unknown positions with NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _scalar(value):
    """A Python scalar from a scalar or a one-element array (FIF readers give either)."""
    return np.asarray(value).reshape(-1)[0].item()


def _subject_info_json(subject_info):
    out = {}
    for key in SUBJECT_KEYS:
        value = (subject_info or {}).get(key)
        if value is None:
            continue
        if key == "birthday":
            if isinstance(value, tuple):  # (year, month, day) from older MNE
                value = date(*(int(v) for v in value))
            elif isinstance(value, datetime):
                value = value.date()
            value = value.isoformat() if isinstance(value, date) else None
        elif key in ("weight", "height"):
            value = _json_float(_scalar(value))
        elif key in SUBJECT_STRINGS:
            value = str(value)
        else:
            value = int(_scalar(value))
        if value is not None:
            out[key] = value
    return out or None


def _info_json(info):
    """The measurement information a token file keeps (``info`` entry), JSON-safe."""
    out = dict.fromkeys(INFO_KEYS)
    for key in ("experimenter", "description", "proj_name"):
        if isinstance(info.get(key), str):
            out[key] = info[key]
    if info.get("proj_id") is not None:
        out["proj_id"] = int(_scalar(info["proj_id"]))
    for key in ("line_freq", "highpass", "lowpass"):
        if info.get(key) is not None:
            out[key] = _json_float(_scalar(info[key]))
    out["custom_ref_applied"] = int(info.get("custom_ref_applied") or 0)
    out["subject_info"] = _subject_info_json(info.get("subject_info"))
    device = {key: str(value) for key, value in (info.get("device_info") or {}).items()
              if key in DEVICE_KEYS and value is not None}
    out["device_info"] = device or None
    return out


def _annotations_json(annotations, names):
    """``raw.annotations`` as JSON, for the channels in ``names`` only."""
    keep = [i for i, chans in enumerate(annotations.ch_names)
            if not len(chans) or any(c in names for c in chans)]
    return {
        "onset": [float(annotations.onset[i]) for i in keep],
        "duration": [float(annotations.duration[i]) for i in keep],
        "description": [str(annotations.description[i]) for i in keep],
        # An annotation of picked and unpicked channels keeps the picked ones.
        "ch_names": [list(dict.fromkeys(c for c in annotations.ch_names[i] if c in names))
                     for i in keep],
        "orig_time": _meas_date_text(annotations.orig_time),
    }


_EMPTY_ANNOTATIONS = {"onset": [], "duration": [], "description": [], "ch_names": [],
                      "orig_time": None}


def raw_metadata(raw, picks=None):
    """What a token file keeps of a recording besides its signals, as JSON-safe values.

    Parameters
    ----------
    raw : mne.io.Raw
        The recording (need not be preloaded).
    picks : list of str | None
        Names of the channels described (all when None). Bad channels are kept among
        them; annotations that apply only to other channels are left out.

    Returns
    -------
    metadata : dict
        ``ch_names``, ``ch_types``, ``bads``, ``meas_date`` (ISO 8601 in UTC or None),
        ``first_samp``, ``chs`` (units, unit multipliers, coil types, coordinate frames and
        locations of the channels), ``dig`` (digitisation points: montage, fiducials, head
        shape), ``annotations`` and ``info`` (subject, experimenter, description, project,
        line frequency, filters, reference, device); see the module docstring.

    See Also
    --------
    make_token_metadata : Uses it when given ``raw``.
    mne_biocodec.tokens.decode_to_raw : Restores it on the decoded recording.
    """
    import mne

    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(f"raw must be an mne.io.Raw; got {type(raw).__name__}.")
    position = {name: i for i, name in enumerate(raw.ch_names)}
    names = list(raw.ch_names) if picks is None else list(picks)
    missing = [name for name in names if name not in position]
    if missing:
        raise ValueError(f"channels {short_repr(missing)} are not in the recording (its channels "
                         f"start with {raw.ch_names[:3]}); pass names of its channels.")
    index = [position[name] for name in names]
    info = raw.info
    chs = [{"unit": int(ch["unit"]), "unit_mul": int(ch["unit_mul"]),
            "coil_type": int(ch["coil_type"]), "coord_frame": int(ch["coord_frame"]),
            "loc": [_json_float(v) for v in ch["loc"]]}
           for ch in (info["chs"][i] for i in index)]
    dig = [{"kind": int(p["kind"]), "ident": int(p["ident"]),
            "coord_frame": int(p["coord_frame"]), "r": [_json_float(v) for v in p["r"]]}
           for p in (info["dig"] or [])]
    picked = set(names)
    return {
        "ch_names": names,
        "ch_types": raw.get_channel_types(picks=index) if index else [],
        "bads": [b for b in info["bads"] if b in picked],
        "meas_date": _meas_date_text(info["meas_date"]),
        "first_samp": int(raw.first_samp),
        "chs": chs,
        "dig": dig,
        "annotations": _annotations_json(raw.annotations, picked),
        "info": _info_json(info),
    }


def metadata_annotations(metadata):
    """The annotations of a token file's metadata, as ``mne.Annotations``.

    Parameters
    ----------
    metadata : dict
        From :func:`read_tokens` or :func:`make_token_metadata` (version-1 metadata has no
        annotations: the result is then empty).

    Returns
    -------
    annotations : mne.Annotations
        The annotations as ``raw.set_annotations`` takes them for the decoded recording:
        with an ``orig_time`` (the measurement date), onsets in seconds from it; without,
        from the recording's first sample (MNE's convention; the file stores onsets from
        the start of the acquisition, as ``raw.annotations`` holds them).
    """
    import mne

    entry = metadata.get("annotations") or _EMPTY_ANNOTATIONS
    orig_time = entry.get("orig_time")
    onset = np.asarray(entry["onset"], dtype=float)
    if orig_time is None:
        onset = onset - metadata.get("first_samp", 0) / float(metadata["sfreq"])
    return mne.Annotations(
        onset=onset,
        duration=np.asarray(entry["duration"], dtype=float),
        description=list(entry["description"]),
        orig_time=None if orig_time is None else datetime.fromisoformat(orig_time),
        ch_names=[list(names) for names in entry["ch_names"]])


# -- metadata and file I/O ------------------------------------------------------------------
def make_token_metadata(tokens, codec, ch_names=None, ch_types=None, *, meas_date=None,
                        bads=None, codec_file=None, codec_source=None, extra=None, raw=None):
    """Metadata of a token file (what :func:`write_tokens` stores, :func:`read_tokens` returns).

    Useful on its own to decode in-memory tokens with :func:`~mne_biocodec.tokens.decode_to_raw`.

    Parameters
    ----------
    tokens : TokenSet
        Tokens of one recording (codes of shape ``(1, n_chans, n_q, n_frames)``).
    codec : BioCodec
        The codec that made them.
    ch_names : list of str | None
        Channel names (``tokens.ch_names`` when None).
    ch_types : list of str | None
        MNE channel types (the codec's modality for every channel when None).
    meas_date : datetime | None
        Measurement date (``raw.info['meas_date']``).
    bads : list of str | None
        Bad channels among ``ch_names``.
    codec_file : path-like | None
        The codec's weights file, hashed into ``codec.file_sha256``.
    codec_source : str | None
        How the codec was named when loaded (shipped name or path), a hint for decoding.
    extra : dict | None
        JSON-serialisable information stored under ``extra``.
    raw : mne.io.Raw | None
        The recording the tokens were made from: its channel types, bad channels,
        measurement date, channel locations, montage, annotations and measurement
        information are kept (see :func:`raw_metadata`); ``ch_types``, ``meas_date`` and
        ``bads`` must then be None.

    Returns
    -------
    metadata : dict
        See the module docstring for the keys.

    Raises
    ------
    ValueError
        If the arguments do not agree with the tokens or give invalid values
        (:func:`check_token_metadata`).
    """
    codes, center, scale = check_recording_tokens(tokens, codec)
    n_chans = codes.shape[0]
    ch_names = tokens.ch_names if ch_names is None else ch_names
    if ch_names is None:
        raise ValueError(
            "ch_names is required when tokens.ch_names is None; pass the names of the "
            f"{n_chans} channels."
        )
    ch_names = list(ch_names)
    modality = codec.modality
    if raw is not None:
        given = [name for name, value in (("ch_types", ch_types), ("meas_date", meas_date),
                                          ("bads", bads)) if value is not None]
        if given:
            raise ValueError(f"Pass raw or {' and '.join(given)}, not both: with raw they "
                             "are read from the recording.")
        if (float(raw.info["sfreq"]), raw.n_times) != (float(tokens.sfreq),
                                                       int(tokens.n_times)):
            raise ValueError(
                f"raw ({raw.n_times} samples at {raw.info['sfreq']:g} Hz) is not the "
                f"recording of these tokens ({tokens.n_times} samples at "
                f"{tokens.sfreq:g} Hz); pass the Raw they were encoded from.")
        recording = raw_metadata(raw, picks=ch_names)
        ch_types = recording["ch_types"]
    else:
        recording = {"bads": [] if bads is None else list(bads),
                     "meas_date": _meas_date_text(meas_date), "first_samp": 0, "chs": None,
                     "dig": [], "annotations": _EMPTY_ANNOTATIONS,
                     "info": dict.fromkeys(INFO_KEYS)}
        ch_types = [modality] * n_chans if ch_types is None else list(ch_types)
    for name, values in (("ch_names", ch_names), ("ch_types", ch_types)):
        if len(values) != n_chans or not all(isinstance(v, str) for v in values):
            raise ValueError(
                f"{name} must be {n_chans} strings, one per channel of the tokens; got "
                f"{len(values)} values."
            )
    if len(set(ch_names)) != n_chans:
        raise ValueError("ch_names must be unique; rename the duplicated channels.")
    unknown = [b for b in recording["bads"] if b not in ch_names]
    if unknown:
        raise ValueError(f"bads {unknown} are not among the channels of the tokens.")
    try:
        extra = json.loads(json.dumps(dict(extra or {}), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(f"extra must be a dict JSON can hold (str keys; str, finite "
                         f"numbers, lists, dicts, None); {err}.") from None
    config = dict(codec.config)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "mne_biocodec_version": __version__,
        "ch_names": ch_names,
        "ch_types": ch_types,
        "sfreq": float(tokens.sfreq),
        "n_times": int(tokens.n_times),
        "codec_sfreq": float(tokens.codec_sfreq),
        "n_q": int(codes.shape[1]),
        "n_frames": int(codes.shape[2]),
        "units": {"center": "uV", "scale": "uV"},
        "codec": {
            "name": config.get("name"),
            "modality": modality,
            "sample_rate": float(codec.sample_rate),
            "hop_length": int(codec.hop_length),
            "n_q": int(codec.n_q),
            "codebook_size": int(codec.codebook_size),
            "weights_sha256": codec_sha256(codec),
            "file_sha256": None if codec_file is None else file_sha256(codec_file),
            "source": None if codec_source is None else str(codec_source),
            "config": config,
        },
        "extra": extra,
        **{key: recording[key] for key in ("bads", "meas_date", "first_samp", "chs", "dig",
                                           "annotations", "info")},
    }
    check_token_metadata(metadata, codes, center, scale,
                         remedy="Check the arguments of make_token_metadata / write_tokens.")
    return metadata


def _canonical_json(metadata):
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def _payload_sha256(metadata_text, tensors):
    """The ``sha256`` header entry: see the module docstring."""
    digest = hashlib.sha256(FORMAT_NAME.encode() + b"\0")
    digest.update(metadata_text.encode("utf-8"))
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        digest.update(b"\0" + f"{name}|{array.dtype.name}|{tuple(array.shape)}|".encode())
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        digest.update(little.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def _write_file(path, metadata, codes, center, scale):
    from safetensors.numpy import save_file

    tensors = {"codes": codes, "center": np.ascontiguousarray(center, dtype=np.float64),
               "scale": np.ascontiguousarray(scale, dtype=np.float64)}
    text = _canonical_json(metadata)
    header = {"format": FORMAT_NAME, "format_version": str(metadata["format_version"]),
              "metadata": text, "sha256": _payload_sha256(text, tensors)}
    path = Path(path)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def write_tokens(path, tokens, codec, ch_names=None, ch_types=None, *, meas_date=None,
                 bads=None, codec_file=None, codec_source=None, extra=None, raw=None,
                 metadata=None):
    """Write one recording's tokens to a token file (atomically).

    Parameters
    ----------
    path : path-like
        Output file (``.bctok`` recommended; the name is used as given).
    tokens : TokenSet
        Tokens of one recording, e.g. from :func:`~mne_biocodec.tokens.encode_raw`.
    codec : BioCodec
        The codec that made them (its weights are hashed into the file).
    ch_names, ch_types, meas_date, bads, codec_file, codec_source, extra, raw
        See :func:`make_token_metadata`. Pass ``raw`` to keep the recording's annotations,
        montage and measurement information (or use
        :func:`~mne_biocodec.tokens.encode_to_file`).
    metadata : dict | None
        Metadata :func:`make_token_metadata` made for these tokens, written as it is (after
        checking it against them) instead of being made here; the arguments above must
        then be None.

    Returns
    -------
    path : Path
        The file written.

    See Also
    --------
    read_tokens : The inverse.
    mne_biocodec.tokens.encode_to_file : Encode a recording and write its token file in one
        call.
    """
    if metadata is None:
        metadata = make_token_metadata(
            tokens, codec, ch_names, ch_types, meas_date=meas_date, bads=bads,
            codec_file=codec_file, codec_source=codec_source, extra=extra, raw=raw)
    else:
        given = [name for name, value in (
            ("ch_names", ch_names), ("ch_types", ch_types), ("meas_date", meas_date),
            ("bads", bads), ("codec_file", codec_file), ("codec_source", codec_source),
            ("extra", extra), ("raw", raw)) if value is not None]
        if given:
            raise ValueError(f"Pass metadata or {', '.join(given)}, not both: the metadata "
                             "already holds them.")
        if not isinstance(metadata, dict) or metadata.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"metadata must be version-{FORMAT_VERSION} token metadata from "
                             "make_token_metadata; make it for these tokens.")
    codes, center, scale = check_recording_tokens(
        tokens, codec, metadata,
        remedy="Make the metadata with make_token_metadata for these tokens.")
    return _write_file(path, metadata, codes, center, scale)


def _header_version(header, path):
    text = header.get("format_version")
    try:
        version = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{path} has an invalid token format version {short_repr(text)}; "
                         f"{FILE_REMEDY}") from None
    if version not in READ_VERSIONS:
        raise ValueError(
            f"{path} uses token format version {version}; this mne-biocodec "
            f"({__version__}) reads versions {READ_VERSIONS[0]} to {READ_VERSIONS[-1]}. "
            "Upgrade mne-biocodec to read it."
        )
    return version


def read_tokens(path):
    """Read a token file, checking its checksum and every metadata field.

    Parameters
    ----------
    path : path-like
        A file written by :func:`write_tokens` or
        :func:`~mne_biocodec.tokens.encode_to_file`.

    Returns
    -------
    tokens : TokenSet
        Codes of shape ``(1, n_chans, n_q, n_frames)``, ``center`` and ``scale`` of shape
        ``(1, n_chans, 1)``, and the original ``sfreq``, ``n_times`` and channel names.
    metadata : dict
        The file's metadata (see the module docstring), annotations, channel locations,
        montage and measurement information included
        (:func:`metadata_annotations` turns its annotations into ``mne.Annotations``).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a token file, has an unsupported format version, is damaged
        (checksum mismatch, truncated) or holds metadata that is invalid or disagrees with
        its tensors; the message names the file and the field.

    Warns
    -----
    RuntimeWarning
        For version-1 files, which have no checksum and keep no annotations, channel
        locations, montage or measurement information.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Token file {str(path)!r} does not exist.")
    versions = {str(v) for v in READ_VERSIONS}
    tensors = {}
    try:
        with safe_open(str(path), framework="np") as fid:
            header = dict(fid.metadata() or {})
            # Tensors are read only from files that claim a known version; their size is
            # bounded by the file's (safetensors checks the offsets against it).
            if header.get("format") == FORMAT_NAME and header.get("format_version") in versions:
                tensors = {key: fid.get_tensor(key) for key in fid.keys()}
    except (SafetensorError, TypeError, ValueError, OverflowError) as err:
        raise ValueError(
            f"{path} is not an mne-biocodec token file ({TOKEN_SUFFIX}) or is damaged "
            f"(e.g. truncated): safetensors cannot read it ({short_repr(str(err))}). "
            f"{FILE_REMEDY}") from None
    if header.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not an mne-biocodec token file ({TOKEN_SUFFIX}); write "
                         "one with `mne-biocodec encode` or mne_biocodec.tokens."
                         "encode_to_file.")
    version = _header_version(header, path)
    missing = sorted({"codes", "center", "scale"} - set(tensors))
    text = header.get("metadata")
    if missing or not isinstance(text, str) or (version >= 2 and "sha256" not in header):
        lacks = missing or (["metadata"] if not isinstance(text, str) else ["sha256"])
        raise ValueError(f"{path} is a damaged token file: it lacks {lacks}. {FILE_REMEDY}")
    if version >= 2:
        actual = _payload_sha256(text, tensors)
        if actual != header["sha256"]:
            raise ValueError(
                f"{path} is damaged: checksum mismatch (its metadata and tensors hash to "
                f"sha256 {actual[:12]}..., the header records {short_repr(header['sha256'])}). "
                f"The file changed after it was written. {FILE_REMEDY}")
    try:
        metadata = json.loads(text)
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path} is a damaged token file: its metadata is not valid JSON "
                         f"({short_repr(str(err))}). {FILE_REMEDY}") from None
    codes, center, scale = tensors["codes"], tensors["center"], tensors["scale"]
    meta_version = check_token_metadata(
        metadata, codes, center, scale, where=f"{path} is a damaged token file",
        remedy=FILE_REMEDY)
    if meta_version != version:
        raise ValueError(f"{path} is a damaged token file: its header's format_version is "
                         f"{version}, its metadata's {meta_version}. {FILE_REMEDY}")
    if version < FORMAT_VERSION:
        warnings.warn(
            f"{path} is a version-{version} token file: it has no checksum (damage cannot "
            "be detected) and keeps no annotations, channel locations, montage, first "
            "sample or subject and measurement information. Re-encode the recording "
            f"(`mne-biocodec encode`) to get a version-{FORMAT_VERSION} file.",
            RuntimeWarning, stacklevel=2)
    tokens = TokenSet(codes=codes[None], center=center[None, :, None],
                      scale=scale[None, :, None], sfreq=float(metadata["sfreq"]),
                      n_times=int(metadata["n_times"]),
                      codec_sfreq=float(metadata["codec_sfreq"]),
                      ch_names=list(metadata["ch_names"]))
    return tokens, metadata
