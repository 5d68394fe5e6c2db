"""Recordings to tokens and token files, and back.

- :func:`encode_raw`: an ``mne.io.Raw`` to tokens, whole (:func:`~mne_biocodec.tokenize`) or,
  for long recordings, chunk by chunk in bounded memory (:func:`stream_tokenize`), with the
  same codes;
- :func:`encode_to_file`: the same, written with the recording's metadata to a token file
  (the one writer of ``.bctok`` files that the CLI and the corpus tools use);
- :func:`decode_to_raw`: tokens and their metadata back to an ``mne.io.RawArray`` with the
  recording's channels, annotations, montage and measurement information.

Channels are picked by :func:`mne_biocodec.channels.codec_picks` with bad channels kept: a
token file archives the whole recording, its bad channels marked.

Streaming (:func:`stream_tokenize`) gives the codes of the whole-recording path while
holding only one chunk of the recording at a time:

1. **Resampling** to the codec rate uses the same polyphase filter as the whole-recording
   path (:func:`mne_biocodec.preprocessing.resample`), chunk by chunk with margins so that
   the chunks join into exactly the whole-signal result
   (:func:`~mne_biocodec.preprocessing.resample_chunks`).
2. **Robust statistics**: the median and inter-quartile range of each channel over the
   whole recording are found exactly, by a few histogram passes over the chunks
   (:func:`~mne_biocodec.preprocessing.robust_statistics`); they equal
   :func:`~mne_biocodec.preprocessing.robust_scale`'s. Pass ``center`` and ``scale`` to skip
   these passes.
3. **Encoding** runs the engine's :func:`~mne_biocodec.tokens.engine.encode_stream`, which
   carries the convolution context and the LSTM state across chunks.
"""

import math
from contextlib import nullcontext
from datetime import date, datetime, timezone

import numpy as np

from ..channels import codec_picks
from ..preprocessing import (VOLTS_TO_MICROVOLTS, check_sfreq, check_signal_array,
                             polyphase_factors, resample_chunks, robust_statistics,
                             scale_signals)
from .arrays import detokenize, tokenize
from .engine import TokenSet, auto_batch_size, check_codec, codec_sha256, encode_stream
from .files import check_recording_tokens, make_token_metadata, metadata_annotations, \
    write_tokens

__all__ = ["encode_raw", "encode_to_file", "decode_to_raw", "stream_tokenize",
           "DEFAULT_CHUNK_SECONDS", "STREAM_ABOVE_SECONDS"]

#: Seconds of signal per chunk when streaming and not told: a 64-channel chunk is ~8 MB of
#: float64.
DEFAULT_CHUNK_SECONDS = 60.0
#: Recordings longer than this (in seconds) are encoded chunk by chunk when
#: ``chunk_seconds="auto"``.
STREAM_ABOVE_SECONDS = 600.0


# -- streaming ------------------------------------------------------------------------------
class _Source:
    """Uniform chunk reads from an ``mne.io.Raw`` or a ``(n_chans, n_times)`` array."""

    def __init__(self, source, sfreq, picks, units_scale, modality):
        import mne

        self.units_scale = units_scale
        if isinstance(source, mne.io.BaseRaw):
            self.raw, self.array = source, None
            self.picks = codec_picks(source.info, modality, picks, exclude=())
            self.sfreq = check_sfreq(source.info["sfreq"], "raw.info['sfreq']")
            self.n_times = source.n_times
            self.ch_names = [source.ch_names[i] for i in self.picks]
        else:
            if sfreq is None:
                raise ValueError("sfreq is required for array input; pass the sampling rate "
                                 "in Hz, e.g. sfreq=160.0.")
            self.raw, self.array = None, check_signal_array(source, "X", ndim=2)
            if picks is not None:
                self.array = self.array[np.atleast_1d(picks)]
            self.sfreq = check_sfreq(sfreq)
            self.n_times = self.array.shape[1]
            self.ch_names = None
        self.n_chans = len(self.picks) if self.raw is not None else self.array.shape[0]

    def read(self, start, stop):
        """Samples ``[start, stop)`` of every picked channel, in microvolts (float64)."""
        if self.raw is not None:
            data = self.raw.get_data(picks=self.picks, start=start, stop=stop)
        else:
            data = self.array[:, start:stop]
        if not np.all(np.isfinite(data)):
            raise ValueError(
                f"The recording contains NaN or infinite values between samples {start} and "
                f"{stop}. Interpolate or drop the bad samples/channels first."
            )
        return np.asarray(data, dtype=np.float64) * self.units_scale


def stream_tokenize(source, codec, *, sfreq=None, picks=None, n_q=None,
                    chunk_seconds=DEFAULT_CHUNK_SECONDS, center=None, scale=None,
                    batch_size=None, device=None, progress=False,
                    units_scale=VOLTS_TO_MICROVOLTS):
    """Tokenise one long recording chunk by chunk, with memory bounded by the chunk length.

    Parameters
    ----------
    source : mne.io.Raw | ndarray, shape (n_chans, n_times)
        The recording (a Raw need not be preloaded: chunks are read with
        ``raw.get_data(start=..., stop=...)``), in volts.
    codec : BioCodec
        The codec (causal, without per-segment RMS normalisation, as the shipped codecs).
    sfreq : float | None
        Sampling rate of array input in Hz (taken from a Raw).
    picks : str | list | None
        Channels of a Raw: names, types or indices (every channel of the codec's signal
        family, bad ones included, when None, as in :func:`encode_raw`); indices into an
        array.
    n_q : int | None
        Codebooks to keep (all when None).
    chunk_seconds : float, default=60.0
        Seconds of signal per chunk; the codes do not depend on it.
    center, scale : array-like, shape (n_chans,) | None
        Per-channel median and ``IQR + 1e-6`` in microvolts at the codec rate. When None they
        are computed exactly over the whole recording first (a few reading passes).
    batch_size : int | None
        Channels per codec forward pass (sized for speed from the chunk length when None).
    device : str | None
        Where to run the codec (the codec's device when None).
    progress : bool, default=False
        Show a progress bar over chunks.
    units_scale : float, default=1e6
        Factor from the signal unit to microvolts.

    Returns
    -------
    tokens : TokenSet
        Codes ``(1, n_chans, n_q, n_frames)`` with ``n_frames = ceil(n_codec_times / hop)``,
        center and scale ``(1, n_chans, 1)``, the input rate and length, channel names.

    Notes
    -----
    The codes equal ``encode(codec, robust_scale(x)[0])`` where ``x`` is the whole
    recording in microvolts, resampled to the codec rate by
    :func:`~mne_biocodec.preprocessing.resample` when its rate differs; see the module
    docstring.
    """
    from tqdm.auto import tqdm

    if not (isinstance(chunk_seconds, (int, float)) and chunk_seconds > 0):
        raise ValueError(f"chunk_seconds must be a positive number of seconds; got "
                         f"{chunk_seconds!r}.")
    src = _Source(source, sfreq, picks, units_scale, codec.modality)
    up, down = polyphase_factors(src.sfreq, codec.sample_rate)
    n_codec = -(-src.n_times * up // down)
    if n_codec < codec.hop_length:
        raise ValueError(
            f"The recording has {src.n_times} samples; one token frame needs "
            f"{codec.hop_length} at {codec.sample_rate:g} Hz. Use a longer recording."
        )
    chunk = max(1, int(round(chunk_seconds * codec.sample_rate)))  # codec-rate samples

    def chunks():
        return resample_chunks(src.read, src.n_times, up, down, chunk)

    if (center is None) != (scale is None):
        raise ValueError("Pass both center and scale, or neither.")
    if center is None:
        center, scale = robust_statistics(chunks, src.n_chans, n_codec)
    center = np.asarray(center, dtype=np.float64).reshape(-1)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    if center.shape != (src.n_chans,) or scale.shape != (src.n_chans,):
        raise ValueError(f"center and scale must hold one value per channel "
                         f"({src.n_chans}); got {center.size} and {scale.size}.")

    def scaled_chunks():
        with tqdm(total=math.ceil(n_codec / chunk), desc="encode", unit="chunk",
                  disable=not progress, leave=False) as bar:
            for _, data in chunks():
                yield scale_signals(data, center[:, None], scale[:, None])
                bar.update()

    codes = encode_stream(codec, scaled_chunks(), src.n_chans, n_codec, n_q=n_q,
                          batch_size=batch_size or auto_batch_size(chunk), device=device)
    return TokenSet(codes=codes[None], center=center[None, :, None],
                    scale=scale[None, :, None], sfreq=src.sfreq, n_times=int(src.n_times),
                    codec_sfreq=codec.sample_rate, ch_names=src.ch_names)


# -- Raw -> tokens --------------------------------------------------------------------------
def _streaming_chunk(chunk_seconds, duration):
    """Chunk length for :func:`encode_raw`, or None to encode the recording whole."""
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
        The codec; its :attr:`~mne_biocodec.BioCodec.modality` decides which channel types it
        accepts (:func:`mne_biocodec.channels.codec_picks`).
    n_q : int | None
        Codebooks to keep (all when None).
    picks : str | list of str | list of int | None
        Channel names, channel types or indices. None picks every channel of the codec's
        signal family (bad channels included, other types left out).
    batch_size : int | None
        Channels per codec forward pass; None chooses one for speed from the length.
    device : str | None
        Where to run the codec.
    progress : bool, default=False
        Show a progress bar over channels (over chunks when streaming).
    chunk_seconds : float | "auto" | None, default="auto"
        Encode chunk by chunk (:func:`stream_tokenize`), so that the memory used does not
        grow with the recording length: chunks of this many seconds; ``"auto"`` streams
        60-s chunks for recordings longer than 10 minutes (:data:`STREAM_ABOVE_SECONDS`);
        ``None`` or 0 encodes the whole recording at once. Both ways give identical codes
        (the same polyphase resampling and whole-recording robust statistics;
        ``tests/test_streaming.py`` checks it). A Raw that is not preloaded is then read
        chunk by chunk.

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

    codec = check_codec(codec)
    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(
            f"raw must be an mne.io.Raw; got {type(raw).__name__}. For arrays use "
            "mne_biocodec.tokenize(X, sfreq, codec)."
        )
    if n_q is not None and not (isinstance(n_q, (int, np.integer)) and 1 <= n_q <= codec.n_q):
        raise ValueError(f"n_q must be an integer in [1, {codec.n_q}] (the codec's "
                         f"codebooks); got {n_q!r}.")
    idx = codec_picks(raw.info, codec.modality, picks, exclude=())
    sfreq = float(raw.info["sfreq"])
    chunk = _streaming_chunk(chunk_seconds, raw.n_times / sfreq)
    if chunk is not None:
        return stream_tokenize(raw, codec, picks=idx, n_q=n_q, chunk_seconds=chunk,
                               batch_size=batch_size, device=device, progress=progress)
    data = raw.get_data(picks=idx)
    n_codec = int(round(data.shape[-1] * codec.sample_rate / sfreq))
    batch_size = auto_batch_size(n_codec) if batch_size is None else int(batch_size)
    return tokenize(data[None], sfreq, codec, n_q=n_q, batch_size=batch_size, device=device,
                    ch_names=[raw.ch_names[i] for i in idx], progress=progress)


def encode_to_file(raw, path, codec, *, n_q=None, picks=None, batch_size=None, device=None,
                   progress=False, chunk_seconds="auto", codec_file=None, codec_source=None,
                   extra=None):
    """Tokenise a recording into a token file that keeps its metadata.

    :func:`encode_raw` followed by :func:`~mne_biocodec.tokens.write_tokens` with ``raw``:
    besides the codes the file keeps the channel names, types, units and locations, the bad
    channels, the montage and digitisation points, the annotations, the measurement date,
    the first sample and the measurement information (subject, experimenter, line
    frequency, filters, ...), which :func:`decode_to_raw` restores.

    Parameters
    ----------
    raw : mne.io.Raw
        The recording (read chunk by chunk when not preloaded and streaming).
    path : path-like
        Token file to write (``.bctok`` recommended), atomically.
    codec : BioCodec
        The codec.
    n_q, picks, batch_size, device, progress, chunk_seconds
        See :func:`encode_raw`.
    codec_file, codec_source
        The codec's weights file and how it was named when loaded (see
        :func:`~mne_biocodec.tokens.make_token_metadata`); the codec's own
        :attr:`~mne_biocodec.BioCodec.weights_file` and :attr:`~mne_biocodec.BioCodec.source`
        when None.
    extra : dict | None
        See :func:`~mne_biocodec.tokens.make_token_metadata`.

    Returns
    -------
    tokens : TokenSet
        The tokens written, codes of shape ``(1, n_chans, n_q, n_frames)``.
    metadata : dict
        The metadata written (what :func:`~mne_biocodec.tokens.read_tokens` returns).

    See Also
    --------
    mne_biocodec.tokens.read_tokens, decode_to_raw : The way back.
    """
    codec = check_codec(codec)
    tokens = encode_raw(raw, codec, n_q=n_q, picks=picks, batch_size=batch_size,
                        device=device, progress=progress, chunk_seconds=chunk_seconds)
    metadata = make_token_metadata(
        tokens, codec, raw=raw, extra=extra,
        codec_file=codec.weights_file if codec_file is None else codec_file,
        codec_source=codec.source if codec_source is None else codec_source)
    write_tokens(path, tokens, codec, metadata=metadata)
    return tokens, metadata


# -- tokens -> Raw --------------------------------------------------------------------------
def _unlocked(info):
    """Context in which ``info`` takes the fields MNE gives no public setter for.

    ``dig``, ``highpass``, ``lowpass`` and ``custom_ref_applied`` are set only by MNE's
    readers and methods that change the data; a decoded recording restores those of the
    original, as MNE's readers do, inside ``Info._unlock``.
    """
    unlock = getattr(info, "_unlock", None)
    return unlock() if unlock is not None else nullcontext()


def _dig_point_class():
    import mne

    # MNE does not export its DigPoint class; the points of any montage are DigPoints.
    montage = mne.channels.make_dig_montage(nasion=(0.0, 0.0, 0.0), coord_frame="head")
    return type(montage.dig[0])


def _position(values):
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _restore_recording(raw, metadata):
    """Give a decoded ``raw`` what ``metadata`` kept of the original recording."""
    for ch, entry in zip(raw.info["chs"], metadata.get("chs") or []):
        for key in ("unit", "unit_mul", "coil_type", "coord_frame"):
            ch[key] = entry[key]
        ch["loc"] = _position(entry["loc"])
    info = metadata.get("info") or {}
    # The decoded signal holds nothing above the codec's Nyquist frequency either.
    nyquist = min(float(metadata["sfreq"]), float(metadata["codec_sfreq"])) / 2
    lowpass = nyquist if info.get("lowpass") is None else min(info["lowpass"], nyquist)
    point = _dig_point_class() if metadata.get("dig") else None
    with _unlocked(raw.info):
        raw.info["dig"] = [point(kind=p["kind"], ident=p["ident"],
                                 coord_frame=p["coord_frame"], r=_position(p["r"]))
                           for p in metadata.get("dig") or []] or None
        raw.info["lowpass"] = lowpass
        raw.info["highpass"] = min(info.get("highpass") or 0.0, lowpass)
        raw.info["custom_ref_applied"] = int(info.get("custom_ref_applied") or 0)
    for key in ("experimenter", "description", "proj_name", "proj_id", "line_freq"):
        if info.get(key) is not None:
            raw.info[key] = info[key]
    if info.get("subject_info"):
        subject = dict(info["subject_info"])
        if subject.get("birthday") is not None:
            subject["birthday"] = date.fromisoformat(subject["birthday"])
        raw.info["subject_info"] = subject
    if info.get("device_info"):
        raw.info["device_info"] = dict(info["device_info"])
    if metadata.get("meas_date"):
        raw.set_meas_date(datetime.fromisoformat(metadata["meas_date"])
                          .astimezone(timezone.utc))
    annotations = metadata_annotations(metadata)
    if len(annotations):
        # Annotations outside the data (possible only in an edited file) are dropped.
        raw.set_annotations(annotations, emit_warning=False)
    raw.info["bads"] = list(metadata.get("bads", []))


def decode_to_raw(tokens, metadata, codec, *, allow_mismatch=False, batch_size=None,
                  progress=False):
    """Decode a recording's tokens into an MNE ``RawArray``.

    Parameters
    ----------
    tokens : TokenSet
        Tokens of one recording (from :func:`~mne_biocodec.tokens.read_tokens` or
        :func:`encode_raw`).
    metadata : dict
        Their metadata (from :func:`~mne_biocodec.tokens.read_tokens` or
        :func:`~mne_biocodec.tokens.make_token_metadata`); it is checked against the tokens
        (:func:`~mne_biocodec.tokens.check_token_metadata`) before anything is allocated.
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
        Signals in volts with the original channel names, types, bad channels, sampling
        rate, length and measurement date and, from version-2 metadata, the original first
        sample, annotations, channel units and locations, montage (digitisation points)
        and measurement information. ``info['lowpass']`` is at most half the codec's rate.

    Raises
    ------
    ValueError
        "mismatched codecs" when the codec's weights differ from those recorded, or when the
        tokens cannot come from this codec (rate, codebooks); invalid metadata or metadata
        that does not belong to the tokens.
    """
    import mne

    codes, center, scale = check_recording_tokens(tokens, codec, metadata)
    recorded = metadata["codec"]
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
    n_chans = codes.shape[0]
    n_codec = codes.shape[-1] * codec.hop_length
    batch_size = auto_batch_size(n_codec) if batch_size is None else int(batch_size)
    whole = TokenSet(codes=codes[None], center=center.reshape(1, n_chans, 1),
                     scale=scale.reshape(1, n_chans, 1), sfreq=tokens.sfreq,
                     n_times=tokens.n_times, codec_sfreq=tokens.codec_sfreq)
    data = detokenize(whole, codec, batch_size=batch_size, progress=progress)[0]
    info = mne.create_info(list(metadata["ch_names"]), float(metadata["sfreq"]),
                           list(metadata["ch_types"]), verbose="error")
    raw = mne.io.RawArray(data, info, first_samp=int(metadata.get("first_samp", 0)),
                          verbose="error")
    _restore_recording(raw, metadata)
    return raw
