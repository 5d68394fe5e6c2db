"""The token engine: normalised signals -> codes -> signals, in batches, on a device.

Every path that runs the codec on data (the estimators, token files, streaming, the cache,
the analysis tools, the CLI) goes through the functions here, so batching, device placement
and dtypes live in one place:

- :func:`encode`: normalised single-channel segments ``(n_segments, n_times)`` at the codec
  rate -> codes ``(n_segments, n_q, n_frames)``;
- :func:`encode_stream`: the same for segments given chunk by chunk (long recordings), with
  one stateful :class:`~mne_biocodec.codec.streaming.StreamingEncoder` per batch of
  segments;
- :func:`decode` / :func:`decode_batches`: codes -> decoder output at the codec rate.

Preparing the signals (microvolts, resampling, robust scaling) is
:mod:`mne_biocodec.preprocessing`'s job; :class:`TokenSet` holds the codes with what is
needed to undo it.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from ..codec import BioCodec
from ..codec.streaming import StreamingEncoder

__all__ = ["TokenSet", "encode", "encode_stream", "decode", "decode_batches",
           "auto_batch_size", "codes_dtype", "codec_sha256", "check_codec"]

# Signal samples per codec forward pass when the batch size is automatic: on CPU the encoder
# is memory-bound and ~2**17 samples per batch runs 2-4x faster than large batches.
_SAMPLES_PER_BATCH = 2 ** 17


def auto_batch_size(n_codec_times):
    """Segments per forward pass for segments of ``n_codec_times`` samples (1..256)."""
    return int(max(1, min(256, _SAMPLES_PER_BATCH // max(1, n_codec_times))))


def codes_dtype(codebook_size):
    """Smallest unsigned integer dtype that holds codes below ``codebook_size``."""
    return np.uint8 if codebook_size <= 256 else (np.uint16 if codebook_size <= 65536
                                                  else np.int64)


def check_codec(codec):
    """Return ``codec`` if it is a :class:`~mne_biocodec.BioCodec`, else raise TypeError."""
    if not isinstance(codec, BioCodec):
        raise TypeError(
            f"codec must be a BioCodec; got {type(codec).__name__}. Load one with "
            "mne_biocodec.load_codec('biocodec-eeg') or load_codec('<file>.safetensors')."
        )
    return codec


def codec_sha256(codec):
    """SHA-256 of a codec's weights, independent of how they were stored.

    The function form of :meth:`BioCodec.weights_sha256 <mne_biocodec.BioCodec.weights_sha256>`.

    Parameters
    ----------
    codec : BioCodec
        The codec.

    Returns
    -------
    sha256 : str
        64 hex digits.
    """
    return codec.weights_sha256()


@dataclass
class TokenSet:
    """Codes plus what is needed to turn them back into signals.

    Attributes
    ----------
    codes : ndarray, shape (n_epochs, n_chans, n_q, n_frames)
        Integer codes (uint8 for codebooks of at most 256 entries), codebook 0 first.
    center : ndarray, shape (n_epochs, n_chans, 1)
        Medians subtracted before encoding, in microvolts.
    scale : ndarray, shape (n_epochs, n_chans, 1)
        ``IQR + 1e-6`` the signals were divided by, in microvolts.
    sfreq : float
        Sampling rate of the input signals.
    n_times : int
        Samples per epoch of the input signals.
    codec_sfreq : float
        The codec's sampling rate.
    ch_names : list of str | None
        Channel names.
    """

    codes: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    sfreq: float
    n_times: int
    codec_sfreq: float
    ch_names: list = field(default=None)


# -- the batch step: the one place that slices, converts and moves data -----------------------
def _ready(codec, device):
    """Put ``codec`` in eval mode on ``device`` (its own when None); return the device."""
    codec.eval()
    device = torch.device(device) if device is not None else codec.device
    if codec.device != device:
        codec.to(device)
    return device


def _batches(array, batch_size, device, dtype):
    """``(slice, tensor)`` per batch of rows of ``array``, as ``dtype`` on ``device``."""
    for start in range(0, len(array), batch_size):
        sl = slice(start, min(start + batch_size, len(array)))
        yield sl, torch.as_tensor(np.ascontiguousarray(array[sl]), dtype=dtype, device=device)


def _progress(total, desc, progress):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="ch", disable=not progress, leave=False)


# -- encoding -------------------------------------------------------------------------------
@torch.inference_mode()
def encode(codec, segments, n_q=None, *, batch_size=None, device=None, return_scale=False,
           progress=False):
    """Encode normalised single-channel segments in batches.

    Parameters
    ----------
    codec : BioCodec
        The codec (put in eval mode here).
    segments : ndarray, shape (n_segments, n_times)
        Normalised signals at the codec rate
        (:func:`~mne_biocodec.preprocessing.prepare_signals`).
    n_q : int | None
        Codebooks to use (all when None).
    batch_size : int | None
        Segments per forward pass (:func:`auto_batch_size` when None). Encoding in eval mode
        is per segment, so the codes do not depend on it.
    device : str | torch.device | None
        Where to run (the codec's device when None; the codec is moved there).
    return_scale : bool, default=False
        Also return the per-segment RMS scales of a codec with ``config["normalize"]``.
    progress : bool, default=False
        Show a progress bar over segments.

    Returns
    -------
    codes : ndarray, shape (n_segments, n_q, n_frames)
        Integer codes (:func:`codes_dtype`).
    scale : ndarray of float32, shape (n_segments, 1) | None
        Only with ``return_scale``: the scales :func:`decode` needs, None without
        normalisation.
    """
    device = _ready(codec, device)
    n_q = codec.n_q if n_q is None else n_q
    n_frames = codec.n_frames(segments.shape[-1])
    batch_size = batch_size or auto_batch_size(segments.shape[-1])
    out = np.empty((len(segments), n_q, n_frames), dtype=codes_dtype(codec.codebook_size))
    scales = np.empty((len(segments), 1), dtype=np.float32) if codec.config["normalize"] \
        else None
    with _progress(len(segments), "encode", progress) as bar:
        for sl, x in _batches(segments, batch_size, device, torch.float32):
            codes, scale = codec.encode_with_scale(x.unsqueeze(1), n_q=n_q)
            out[sl] = codes.cpu().numpy()
            if scales is not None:
                scales[sl] = scale.cpu().numpy()
            bar.update(sl.stop - sl.start)
    return (out, scales) if return_scale else out


@torch.inference_mode()
def encode_stream(codec, chunks, n_segments, n_times, n_q=None, *, batch_size=None,
                  device=None):
    """Encode normalised segments given chunk by chunk, as :func:`encode` of the whole.

    Parameters
    ----------
    codec : BioCodec
        The codec (causal, without per-segment RMS normalisation, as the shipped codecs).
    chunks : iterable of ndarray, shape (n_segments, n)
        Consecutive chunks of the normalised segments at the codec rate, covering
        ``n_times`` samples in all.
    n_segments, n_times : int
        Segments and total samples per segment.
    n_q : int | None
        Codebooks to use (all when None).
    batch_size : int | None
        Segments per stateful encoder and forward pass (sized from ``n_times`` when None).
    device : str | torch.device | None
        Where to run (the codec's device when None).

    Returns
    -------
    codes : ndarray, shape (n_segments, n_q, ceil(n_times / hop_length))
        Equal to ``encode(codec, np.concatenate(chunks, axis=-1))``.
    """
    device = _ready(codec, device)
    n_q = codec.n_q if n_q is None else n_q
    batch_size = int(batch_size or auto_batch_size(n_times))
    n_groups = -(-n_segments // batch_size)
    encoders = [StreamingEncoder(codec, n_q=n_q) for _ in range(n_groups)]
    codes = np.empty((n_segments, n_q, codec.n_frames(n_times)),
                     dtype=codes_dtype(codec.codebook_size))
    written = [0] * n_groups

    def store(g, sl, new):
        codes[sl, :, written[g]:written[g] + new.shape[-1]] = new.cpu().numpy()
        written[g] += new.shape[-1]

    for chunk in chunks:
        for g, (sl, x) in enumerate(_batches(chunk, batch_size, device, torch.float32)):
            store(g, sl, encoders[g].push(x.unsqueeze(1)))
    for g, encoder in enumerate(encoders):
        store(g, slice(g * batch_size, min((g + 1) * batch_size, n_segments)),
              encoder.flush())
    return codes


# -- decoding -------------------------------------------------------------------------------
@torch.inference_mode()
def decode_batches(codec, codes, *, batch_size=None, device=None, scale=None, progress=False):
    """Decode codes batch by batch: yields ``(slice, signals)`` as the batches are done.

    Parameters
    ----------
    codec : BioCodec
        The codec that made the codes (put in eval mode here).
    codes : ndarray, shape (n_segments, n_q, n_frames)
        Integer codes.
    batch_size : int | None
        Segments per forward pass (:func:`auto_batch_size` of the decoded length when None).
    device : str | torch.device | None
        Where to run (the codec's device when None).
    scale : ndarray, shape (n_segments, 1) | None
        Per-segment scales from ``encode(..., return_scale=True)`` (RMS normalisation only).
    progress : bool, default=False
        Show a progress bar over segments.

    Yields
    ------
    sl : slice
        The segments of this batch.
    signals : ndarray of float32, shape (n_batch, n_frames * hop_length)
        Their decoder output at the codec rate, in normalised units.
    """
    device = _ready(codec, device)
    batch_size = batch_size or auto_batch_size(codes.shape[-1] * codec.hop_length)
    with _progress(len(codes), "decode", progress) as bar:
        for sl, c in _batches(codes, batch_size, device, torch.int64):
            s = None if scale is None else torch.as_tensor(scale[sl], device=device)
            yield sl, codec.decode(c, s)[:, 0].cpu().numpy()
            bar.update(sl.stop - sl.start)


def decode(codec, codes, *, batch_size=None, device=None, scale=None, progress=False):
    """Decode codes ``(n_segments, n_q, n_frames)`` into ``(n_segments, n_frames * hop)``.

    Parameters are those of :func:`decode_batches`; returns the float32 decoder output of
    every segment at the codec rate.
    """
    out = np.empty((len(codes), codes.shape[-1] * codec.hop_length), dtype=np.float32)
    for sl, signals in decode_batches(codec, codes, batch_size=batch_size, device=device,
                                      scale=scale, progress=progress):
        out[sl] = signals
    return out
