"""Token files: one recording's codec tokens on disk, and the MNE ``Raw`` <-> tokens bridge.

File format (``.bctok``, version 1)
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
- ``format_version``: ``"1"``;
- ``metadata``: a JSON object with

  - ``format``, ``format_version`` (int): as above;
  - ``mne_biocodec_version``: version of the writer;
  - ``ch_names``, ``ch_types`` (lists of n_chans str), ``bads`` (list of str);
  - ``sfreq`` (float, Hz) and ``n_times`` (int): rate and length of the original recording;
  - ``meas_date``: ISO 8601 measurement date with time zone, or null;
  - ``codec_sfreq`` (float, Hz), ``n_q`` (int, codebooks stored), ``n_frames`` (int);
  - ``units``: ``{"center": "uV", "scale": "uV"}``;
  - ``codec``: ``name``, ``modality``, ``sample_rate``, ``hop_length``, ``n_q`` (codebooks
    of the codec), ``codebook_size``, ``weights_sha256`` (see :func:`codec_sha256`: the
    SHA-256 of the codec's state dict, identical however the weights were stored, used to
    refuse decoding with another codec), ``file_sha256`` (SHA-256 of the codec weights file
    when known, else null; for shipped codecs it equals the registry's), ``source`` (the
    shipped name or path given when encoding, else null) and ``config`` (the full codec
    config);
  - ``extra``: free JSON object (the CLI stores the recording's file name there).

A reader must reject a file whose ``format`` differs and a ``format_version`` it does not
know. The signal is rebuilt as ``resample(decode(codes) * scale + center, codec_sfreq ->
sfreq)[:n_times]`` in microvolts (see :func:`mne_biocodec.detokenize`).
"""

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ._version import __version__
from .codec.io import atomic_write, file_sha256
from .tokens import TokenSet, auto_batch_size, codes_dtype, detokenize, tokenize

__all__ = ["write_tokens", "read_tokens", "encode_raw", "decode_to_raw", "codec_sha256",
           "make_token_metadata", "FORMAT_NAME", "FORMAT_VERSION", "TOKEN_SUFFIX",
           "STREAM_ABOVE_SECONDS"]

#: Value of the ``format`` header entry of every token file.
FORMAT_NAME = "mne-biocodec-tokens"
#: Version written by this module (and the highest one it reads).
FORMAT_VERSION = 1
#: Recommended suffix of token files.
TOKEN_SUFFIX = ".bctok"

# Metadata keys a reader needs.
_REQUIRED_METADATA = ("ch_names", "ch_types", "sfreq", "n_times", "codec_sfreq", "n_q", "codec")


def codec_sha256(codec):
    """SHA-256 of a codec's weights, independent of how they were stored.

    The digest covers every entry of ``codec.state_dict()`` in key order: its name, dtype,
    shape and raw bytes. A codec loaded from a file and the same codec re-saved (with other
    metadata, under another name) have the same digest; codecs that differ in any weight or
    buffer do not.

    Parameters
    ----------
    codec : BioCodec
        The codec.

    Returns
    -------
    sha256 : str
        64 hex digits.
    """
    import torch

    digest = hashlib.sha256()
    state = codec.state_dict()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# -- validation helpers ---------------------------------------------------------------------
def _check_codec(codec):
    from .codec import BioCodec

    if not isinstance(codec, BioCodec):
        raise TypeError(
            f"codec must be a BioCodec; got {type(codec).__name__}. Load one with "
            "mne_biocodec.load_codec('biocodec-eeg') or load_codec('<file>.safetensors')."
        )
    return codec


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


def _meas_date_text(meas_date):
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
    return meas_date.isoformat()


# -- metadata and file I/O ------------------------------------------------------------------
def make_token_metadata(tokens, codec, ch_names=None, ch_types=None, *, meas_date=None,
                        bads=None, codec_file=None, codec_source=None, extra=None):
    """Metadata of a token file (what :func:`write_tokens` stores, :func:`read_tokens` returns).

    Useful on its own to decode in-memory tokens with :func:`decode_to_raw`.

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

    Returns
    -------
    metadata : dict
        See the module docstring for the keys.
    """
    codec = _check_codec(codec)
    codes, _, _ = _recording_arrays(tokens)
    _check_tokens_codec(codes, tokens.codec_sfreq, codec)
    n_chans = codes.shape[0]
    ch_names = tokens.ch_names if ch_names is None else ch_names
    if ch_names is None:
        raise ValueError(
            "ch_names is required when tokens.ch_names is None; pass the names of the "
            f"{n_chans} channels."
        )
    ch_names = list(ch_names)
    modality = codec.config.get("modality", "eeg")
    ch_types = [modality] * n_chans if ch_types is None else list(ch_types)
    for name, values in (("ch_names", ch_names), ("ch_types", ch_types)):
        if len(values) != n_chans or not all(isinstance(v, str) for v in values):
            raise ValueError(
                f"{name} must be {n_chans} strings, one per channel of the tokens; got "
                f"{len(values)} values."
            )
    if len(set(ch_names)) != n_chans:
        raise ValueError("ch_names must be unique; rename the duplicated channels.")
    bads = [] if bads is None else list(bads)
    unknown = [b for b in bads if b not in ch_names]
    if unknown:
        raise ValueError(f"bads {unknown} are not among the channels of the tokens.")
    if extra is not None:
        json.dumps(extra)  # fail early on values JSON cannot hold
    config = dict(codec.config)
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "mne_biocodec_version": __version__,
        "ch_names": ch_names,
        "ch_types": ch_types,
        "bads": bads,
        "sfreq": float(tokens.sfreq),
        "n_times": int(tokens.n_times),
        "meas_date": _meas_date_text(meas_date),
        "codec_sfreq": float(tokens.codec_sfreq),
        "n_q": int(codes.shape[1]),
        "n_frames": int(codes.shape[2]),
        "units": {"center": "uV", "scale": "uV"},
        "codec": {
            "name": config.get("name"),
            "modality": modality,
            "sample_rate": codec.sample_rate,
            "hop_length": int(codec.hop_length),
            "n_q": int(codec.n_q),
            "codebook_size": int(codec.codebook_size),
            "weights_sha256": codec_sha256(codec),
            "file_sha256": None if codec_file is None else file_sha256(codec_file),
            "source": None if codec_source is None else str(codec_source),
            "config": config,
        },
        "extra": dict(extra or {}),
    }


def write_tokens(path, tokens, codec, ch_names=None, ch_types=None, *, meas_date=None,
                 bads=None, codec_file=None, codec_source=None, extra=None):
    """Write one recording's tokens to a token file (atomically).

    Parameters
    ----------
    path : path-like
        Output file (``.bctok`` recommended; the name is used as given).
    tokens : TokenSet
        Tokens of one recording, e.g. from :func:`encode_raw`.
    codec : BioCodec
        The codec that made them (its weights are hashed into the file).
    ch_names, ch_types, meas_date, bads, codec_file, codec_source, extra
        See :func:`make_token_metadata`.

    Returns
    -------
    path : Path
        The file written.

    See Also
    --------
    read_tokens : The inverse.
    """
    from safetensors.numpy import save_file

    metadata = make_token_metadata(
        tokens, codec, ch_names, ch_types, meas_date=meas_date, bads=bads,
        codec_file=codec_file, codec_source=codec_source, extra=extra)
    codes, center, scale = _recording_arrays(tokens)
    tensors = {"codes": np.ascontiguousarray(codes, dtype=codes_dtype(codec.codebook_size)),
               "center": np.ascontiguousarray(center), "scale": np.ascontiguousarray(scale)}
    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION),
              "metadata": json.dumps(metadata, sort_keys=True)}
    path = Path(path)
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return path


def read_tokens(path):
    """Read a token file.

    Parameters
    ----------
    path : path-like
        A file written by :func:`write_tokens`.

    Returns
    -------
    tokens : TokenSet
        Codes of shape ``(1, n_chans, n_q, n_frames)``, ``center`` and ``scale`` of shape
        ``(1, n_chans, 1)``, and the original ``sfreq``, ``n_times`` and channel names.
    metadata : dict
        The file's metadata (see the module docstring).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a token file, has an unsupported format version or is damaged.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Token file {str(path)!r} does not exist.")
    not_tokens = (f"{path} is not an mne-biocodec token file ({TOKEN_SUFFIX}); write one "
                  "with `mne-biocodec encode` or mne_biocodec.tokenfile.write_tokens.")
    try:
        with safe_open(str(path), framework="np") as fid:
            header = fid.metadata() or {}
            keys = set(fid.keys())
            if header.get("format") != FORMAT_NAME:
                raise ValueError(not_tokens)
            try:
                version = int(header.get("format_version", ""))
            except ValueError:
                raise ValueError(f"{path} has an invalid token format version "
                                 f"{header.get('format_version')!r}.") from None
            if version > FORMAT_VERSION or version < 1:
                raise ValueError(
                    f"{path} uses token format version {version}; this mne-biocodec "
                    f"({__version__}) reads versions 1 to {FORMAT_VERSION}. Upgrade "
                    "mne-biocodec to read it."
                )
            missing = sorted({"codes", "center", "scale"} - keys)
            if missing or "metadata" not in header:
                raise ValueError(f"{path} is a damaged token file: it lacks "
                                 f"{missing or ['metadata']}.")
            codes, center, scale = (fid.get_tensor(k) for k in ("codes", "center", "scale"))
            metadata = json.loads(header["metadata"])
    except SafetensorError:
        raise ValueError(not_tokens) from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is a damaged token file: bad metadata JSON ({err}).") \
            from None
    missing = [k for k in _REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ValueError(f"{path} is a damaged token file: its metadata lacks {missing}.")
    n_chans = codes.shape[0] if codes.ndim == 3 else -1
    if (codes.ndim != 3 or not np.issubdtype(codes.dtype, np.unsignedinteger)
            or center.shape != (n_chans,) or scale.shape != (n_chans,)
            or len(metadata.get("ch_names", [])) != n_chans
            or len(metadata.get("ch_types", [])) != n_chans
            or metadata.get("n_q") != codes.shape[1]):
        raise ValueError(
            f"{path} is a damaged token file: codes {codes.shape} {codes.dtype}, center "
            f"{center.shape}, scale {scale.shape} and {len(metadata.get('ch_names', []))} "
            "channel names do not agree."
        )
    tokens = TokenSet(codes=codes[None], center=center[None, :, None],
                      scale=scale[None, :, None], sfreq=float(metadata["sfreq"]),
                      n_times=int(metadata["n_times"]),
                      codec_sfreq=float(metadata["codec_sfreq"]),
                      ch_names=list(metadata["ch_names"]))
    return tokens, metadata


# -- Raw <-> tokens -------------------------------------------------------------------------
def _pick_channels(raw, picks, modality):
    """Indices of the channels to encode; ValueError for types the codec cannot take."""
    names, types = list(raw.ch_names), list(raw.get_channel_types())
    label = modality.upper()
    fix = (f"pick {label} channels only (picks={modality!r}), or, if these channels do "
           f"record {label}, set their type with raw.set_channel_types"
           f"({{'<name>': {modality!r}}}) (CLI: --picks with {label} channel names).")
    if picks is None:
        idx = [i for i, t in enumerate(types) if t == modality]
        if not idx:
            found = sorted(set(types))
            raise ValueError(
                f"The recording has no {label} channels for this {label} codec; its channel "
                f"types are {found}. Use a codec for one of these types, or, if some "
                f"channels record {label}, set their type with raw.set_channel_types"
                f"({{'<name>': {modality!r}}})."
            )
        return idx
    if isinstance(picks, (str, int, np.integer)):
        picks = [picks]
    idx = []
    for pick in picks:
        if isinstance(pick, (int, np.integer)) and not isinstance(pick, bool):
            if not -len(names) <= pick < len(names):
                raise ValueError(f"picks index {pick} is out of range for "
                                 f"{len(names)} channels.")
            idx.append(int(pick) % len(names))
        elif isinstance(pick, str) and pick in names:
            idx.append(names.index(pick))
        elif isinstance(pick, str) and pick in types:
            idx.extend(i for i, t in enumerate(types) if t == pick)
        else:
            raise ValueError(
                f"picks entry {pick!r} is neither a channel name nor a channel type of the "
                f"recording (types: {sorted(set(types))}; names start with {names[:3]})."
            )
    idx = list(dict.fromkeys(idx))
    wrong = [f"{names[i]} ({types[i]})" for i in idx if types[i] != modality]
    if wrong:
        shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        raise ValueError(f"Unsupported channel types for this {label} codec: {shown}. "
                         f"To fix, {fix}")
    return idx


def _progress(total, desc, progress):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="ch", disable=not progress, leave=False)


#: Recordings longer than this (in seconds) are encoded chunk by chunk when
#: ``chunk_seconds="auto"``.
STREAM_ABOVE_SECONDS = 600.0


def _streaming_chunk(chunk_seconds, duration):
    """Chunk length for :func:`encode_raw`, or None to encode the recording whole."""
    from .streaming import DEFAULT_CHUNK_SECONDS

    if isinstance(chunk_seconds, str):
        if chunk_seconds != "auto":
            raise ValueError(f"chunk_seconds must be 'auto', None or a positive number of "
                             f"seconds; got {chunk_seconds!r}.")
        return DEFAULT_CHUNK_SECONDS if duration > STREAM_ABOVE_SECONDS else None
    if chunk_seconds is None or chunk_seconds == 0:
        return None
    if not (isinstance(chunk_seconds, (int, float, np.integer, np.floating))
            and chunk_seconds > 0):
        raise ValueError(f"chunk_seconds must be 'auto', None or a positive number of "
                         f"seconds; got {chunk_seconds!r}.")
    return float(chunk_seconds)


def encode_raw(raw, codec, n_q=None, picks=None, *, batch_size=None, device=None,
               progress=False, chunk_seconds="auto"):
    """Tokenise a continuous recording (one epoch spanning the whole recording).

    Parameters
    ----------
    raw : mne.io.Raw
        The recording (read from disk when not preloaded).
    codec : BioCodec
        The codec; ``codec.config['modality']`` (``"eeg"`` or ``"emg"``) decides which channel
        types it accepts.
    n_q : int | None
        Codebooks to keep (all when None).
    picks : str | list of str | list of int | None
        Channel names, channel types or indices. None picks every channel of the codec's
        modality (bad channels included, other types left out).
    batch_size : int | None
        Channels per codec forward pass; None chooses one for speed from the length.
    device : str | None
        Where to run the codec.
    progress : bool, default=False
        Show a progress bar over channels (over chunks when streaming).
    chunk_seconds : float | "auto" | None, default="auto"
        Encode chunk by chunk (:func:`mne_biocodec.streaming.stream_tokenize`), so that the
        memory used does not grow with the recording length: chunks of this many seconds;
        ``"auto"`` streams 60-s chunks for recordings longer than 10 minutes
        (:data:`STREAM_ABOVE_SECONDS`); ``None`` or 0 encodes the whole recording at once.
        Both ways give identical codes (the same polyphase resampling and whole-recording
        robust statistics; ``tests/test_streaming.py`` checks it). A Raw
        that is not preloaded is then read chunk by chunk.

    Returns
    -------
    tokens : TokenSet
        Codes of shape ``(1, n_chans, n_q, n_frames)`` with the picked channel names.

    Raises
    ------
    ValueError
        If the picked channels are not of the codec's type, or ``n_q`` is out of range.
    """
    import mne

    codec = _check_codec(codec)
    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(
            f"raw must be an mne.io.Raw; got {type(raw).__name__}. For arrays use "
            "mne_biocodec.tokenize(X, sfreq, codec)."
        )
    if n_q is not None and not (isinstance(n_q, (int, np.integer)) and 1 <= n_q <= codec.n_q):
        raise ValueError(f"n_q must be an integer in [1, {codec.n_q}] (the codec's "
                         f"codebooks); got {n_q!r}.")
    idx = _pick_channels(raw, picks, codec.config.get("modality", "eeg"))
    sfreq = float(raw.info["sfreq"])
    chunk = _streaming_chunk(chunk_seconds, raw.n_times / sfreq)
    if chunk is not None:
        from .streaming import stream_tokenize

        return stream_tokenize(raw, codec, picks=idx, n_q=n_q, chunk_seconds=chunk,
                               batch_size=batch_size, device=device, progress=progress)
    data = raw.get_data(picks=idx)
    n_codec = int(round(data.shape[-1] * codec.sample_rate / sfreq))
    batch_size = auto_batch_size(n_codec) if batch_size is None else int(batch_size)
    ch_names = [raw.ch_names[i] for i in idx]
    parts = []
    with _progress(len(idx), "encode", progress) as bar:
        for start in range(0, len(idx), batch_size):
            chunk = data[None, start:start + batch_size]
            parts.append(tokenize(chunk, sfreq, codec, n_q=n_q, batch_size=batch_size,
                                  device=device))
            bar.update(chunk.shape[1])
    return TokenSet(codes=np.concatenate([p.codes for p in parts], axis=1),
                    center=np.concatenate([p.center for p in parts], axis=1),
                    scale=np.concatenate([p.scale for p in parts], axis=1),
                    sfreq=sfreq, n_times=int(data.shape[-1]),
                    codec_sfreq=parts[0].codec_sfreq, ch_names=ch_names)


def decode_to_raw(tokens, metadata, codec, *, allow_mismatch=False, batch_size=None,
                  progress=False):
    """Decode a recording's tokens into an MNE ``RawArray``.

    Parameters
    ----------
    tokens : TokenSet
        Tokens of one recording (from :func:`read_tokens` or :func:`encode_raw`).
    metadata : dict
        Their metadata (from :func:`read_tokens` or :func:`make_token_metadata`).
    codec : BioCodec
        The codec that made the tokens.
    allow_mismatch : bool, default=False
        Decode even when ``codec`` is not the codec recorded in ``metadata`` (its weights
        differ); the signals are then meaningless except for experiments.
    batch_size : int | None
        Channels per codec forward pass; None chooses one for speed from the length.
    progress : bool, default=False
        Show a progress bar over channels.

    Returns
    -------
    raw : mne.io.RawArray
        Signals in volts with the original channel names, types, bad channels, sampling rate,
        length and measurement date.

    Raises
    ------
    ValueError
        "mismatched codecs" when the codec's weights differ from those recorded, or when the
        tokens cannot come from this codec (rate, codebooks).
    """
    import mne

    codec = _check_codec(codec)
    codes, _, _ = _recording_arrays(tokens)
    recorded = metadata.get("codec", {})
    expected_sha = recorded.get("weights_sha256")
    if not allow_mismatch and expected_sha is not None:
        actual_sha = codec_sha256(codec)
        if actual_sha != expected_sha:
            raise ValueError(
                f"mismatched codecs: the tokens were made with codec "
                f"{recorded.get('name')!r} (weights sha256 {expected_sha[:12]}...) but the "
                f"codec given is {codec.config.get('name')!r} (weights sha256 "
                f"{actual_sha[:12]}...). Decode with the codec that encoded them"
                + (f" ({recorded['source']})" if recorded.get("source") else "")
                + ", or pass allow_mismatch=True (CLI: --allow-mismatch) to decode anyway."
            )
    _check_tokens_codec(codes, tokens.codec_sfreq, codec)
    n_chans = codes.shape[0]
    n_codec = codes.shape[-1] * codec.hop_length
    batch_size = auto_batch_size(n_codec) if batch_size is None else int(batch_size)
    data = np.empty((n_chans, int(tokens.n_times)), dtype=np.float64)
    center = np.asarray(tokens.center).reshape(1, n_chans, 1)
    scale = np.asarray(tokens.scale).reshape(1, n_chans, 1)
    with _progress(n_chans, "decode", progress) as bar:
        for start in range(0, n_chans, batch_size):
            sl = slice(start, min(start + batch_size, n_chans))
            part = TokenSet(codes=codes[None, sl], center=center[:, sl], scale=scale[:, sl],
                            sfreq=tokens.sfreq, n_times=tokens.n_times,
                            codec_sfreq=tokens.codec_sfreq)
            data[sl] = detokenize(part, codec, batch_size=batch_size)[0]
            bar.update(sl.stop - sl.start)
    info = mne.create_info(list(metadata["ch_names"]), float(metadata["sfreq"]),
                           list(metadata["ch_types"]), verbose="error")
    raw = mne.io.RawArray(data, info, verbose="error")
    if metadata.get("meas_date"):
        raw.set_meas_date(datetime.fromisoformat(metadata["meas_date"]))
    raw.info["bads"] = [b for b in metadata.get("bads", []) if b in raw.ch_names]
    return raw
