"""The one path from signals to tokens and back, used by the estimators and the CLI.

    signals (volts, any rate) -> microvolts -> resample to the codec rate (MNE)
        -> robust scaling per epoch and channel -> codec encoder + RVQ -> codes (uint8)

and ``codes -> decoder -> unscale -> resample back``. :class:`TokenSet` keeps everything
needed to invert the chain.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from .preprocessing import (check_resample_size, check_sfreq, check_signal_array, resample,
                            robust_scale, robust_unscale)

__all__ = ["TokenSet", "tokenize", "detokenize", "prepare_signals", "encode_segments",
           "decode_codes", "auto_batch_size",
           "codes_dtype"]

_VOLTS_TO_MICROVOLTS = 1e6
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


def _batches(n, batch_size):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


@torch.inference_mode()
def encode_segments(codec, segments, n_q=None, batch_size=None, device=None):
    """Encode single-channel segments in batches.

    Parameters
    ----------
    codec : BioCodec
        The codec (put in eval mode here).
    segments : ndarray, shape (n_segments, n_times)
        Normalised signals at the codec rate.
    n_q : int | None
        Codebooks to use (all when None).
    batch_size : int | None
        Segments per forward pass (:func:`auto_batch_size` when None). Encoding in eval mode
        is per-segment, so the codes do not depend on it.
    device : str | torch.device | None
        Where to run (the codec's device when None).

    Returns
    -------
    codes : ndarray, shape (n_segments, n_q, n_frames)
        Integer codes.
    """
    codec.eval()
    device = torch.device(device) if device is not None else codec.device
    if codec.device != device:
        codec.to(device)
    n_q = codec.n_q if n_q is None else n_q
    n_frames = codec.n_frames(segments.shape[-1])
    batch_size = batch_size or auto_batch_size(segments.shape[-1])
    out = np.empty((len(segments), n_q, n_frames), dtype=codes_dtype(codec.codebook_size))
    for sl in _batches(len(segments), batch_size):
        x = torch.as_tensor(np.ascontiguousarray(segments[sl]), dtype=torch.float32,
                            device=device).unsqueeze(1)
        out[sl] = codec.encode(x, n_q=n_q).cpu().numpy()
    return out


@torch.inference_mode()
def decode_codes(codec, codes, batch_size=None):
    """Decode codes ``(n_segments, n_q, n_frames)`` into ``(n_segments, n_frames * hop)``."""
    codec.eval()
    n_out = codes.shape[-1] * codec.hop_length
    batch_size = batch_size or auto_batch_size(n_out)
    out = np.empty((len(codes), n_out), dtype=np.float32)
    for sl in _batches(len(codes), batch_size):
        c = torch.as_tensor(np.asarray(codes[sl], dtype=np.int64), device=codec.device)
        out[sl] = codec.decode(c)[:, 0].cpu().numpy()
    return out


def prepare_signals(X, sfreq, codec, units_scale=_VOLTS_TO_MICROVOLTS):
    """What the codec encoder sees: microvolts, codec rate, robust scaling per channel.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times)
        Signals in volts.
    sfreq : float
        Sampling rate of ``X`` in Hz.
    codec : BioCodec
        The codec (its rate and frame length).
    units_scale : float, default=1e6
        Factor to microvolts.

    Returns
    -------
    scaled : ndarray of float32, shape (n_epochs, n_chans, n_codec_times)
    center, scale : ndarray, shape (n_epochs, n_chans, 1)
        Medians and ``IQR + 1e-6`` in microvolts.

    Raises
    ------
    TypeError, ValueError
        If ``X`` is not a finite 3-D numeric array long enough for one token frame, if
        ``sfreq`` is not a sampling rate in Hz (:func:`~mne_biocodec.preprocessing.check_sfreq`),
        or if resampling would take too much memory.
    """
    sfreq = check_sfreq(sfreq)
    min_times = int(np.ceil(codec.hop_length * sfreq / codec.sample_rate))
    X = check_signal_array(X, "X", ndim=3, min_times=min_times)
    check_resample_size(X.shape, sfreq, codec.sample_rate, name="X")
    # check_signal_array made half precision float32: in float16 the factor 1e6 is inf
    data = resample(X * units_scale, sfreq, codec.sample_rate)
    return robust_scale(data)


def tokenize(X, sfreq, codec, n_q=None, batch_size=None, device=None, ch_names=None,
             units_scale=_VOLTS_TO_MICROVOLTS, cache=None):
    """Turn epochs into codec tokens.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times)
        Signals in volts (MNE's and MOABB's unit).
    sfreq : float
        Sampling rate of ``X`` in Hz.
    codec : BioCodec
        The codec.
    n_q : int | None
        Codebooks to use (all when None).
    batch_size : int | None
        Channel-epochs per forward pass (:func:`auto_batch_size` when None).
    device : str | None
        Where to run the codec.
    ch_names : list of str | None
        Stored in the result.
    units_scale : float, default=1e6
        Factor to microvolts (the unit the robust scaling assumes).
    cache : bool | str | path-like | None
        Token cache folder (see :mod:`mne_biocodec.cache`): None uses
        ``$MNE_BIOCODEC_CACHE`` when set and no cache otherwise; epochs already in the cache
        are not encoded again.

    Returns
    -------
    tokens : TokenSet
    """
    from .cache import cached_encode

    codec_sfreq = codec.sample_rate
    scaled, center, scale = prepare_signals(X, sfreq, codec, units_scale)
    n_times = np.shape(X)[-1]  # X is a valid 3-D array once prepare_signals returned
    codes = cached_encode(codec, scaled, n_q=n_q, cache=cache, batch_size=batch_size,
                          device=device)
    return TokenSet(codes=codes,
                    center=center, scale=scale, sfreq=float(sfreq), n_times=n_times,
                    codec_sfreq=codec_sfreq, ch_names=ch_names)


def detokenize(tokens, codec, batch_size=None, units_scale=_VOLTS_TO_MICROVOLTS):
    """Decode a :class:`TokenSet` back to signals at its original rate, scale and length.

    Parameters
    ----------
    tokens : TokenSet
        What :func:`tokenize` returned.
    codec : BioCodec
        The codec that produced the tokens.
    batch_size : int | None
        Channel-epochs per forward pass (:func:`auto_batch_size` when None).
    units_scale : float, default=1e6
        Factor from the signal unit to microvolts.

    Returns
    -------
    X : ndarray, shape (n_epochs, n_chans, n_times)
        Decoded signals in the input unit (volts by default).
    """
    codes = np.asarray(tokens.codes)
    n_epochs, n_chans = codes.shape[:2]
    decoded = decode_codes(codec, codes.reshape(n_epochs * n_chans, *codes.shape[2:]),
                           batch_size=batch_size).reshape(n_epochs, n_chans, -1)
    n_codec = int(round(tokens.n_times * tokens.codec_sfreq / tokens.sfreq))
    signals = robust_unscale(decoded[..., :n_codec], tokens.center, tokens.scale)
    signals = resample(signals, tokens.codec_sfreq, tokens.sfreq)
    signals = signals[..., : tokens.n_times]
    if signals.shape[-1] < tokens.n_times:
        signals = np.pad(signals, [(0, 0)] * (signals.ndim - 1)
                         + [(0, tokens.n_times - signals.shape[-1])], mode="edge")
    return signals / units_scale
