"""Epochs (arrays) to tokens and back: signal preparation + the engine (+ the cache).

    signals (volts, any rate) -> microvolts -> resample to the codec rate (polyphase)
        -> robust scaling per epoch and channel -> codec encoder + RVQ -> codes (uint8)

and ``codes -> decoder -> unscale -> resample back``. :class:`~mne_biocodec.tokens.TokenSet`
keeps everything needed to invert the chain.
"""

import numpy as np

from ..preprocessing import VOLTS_TO_MICROVOLTS, prepare_signals, restore_signals
from .cache import cached_decode_batches, cached_encode
from .engine import TokenSet

__all__ = ["tokenize", "detokenize"]


def tokenize(X, sfreq, codec, n_q=None, batch_size=None, device=None, ch_names=None,
             units_scale=VOLTS_TO_MICROVOLTS, cache=None, progress=False):
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
        Channel-epochs per forward pass
        (:func:`~mne_biocodec.tokens.engine.auto_batch_size` when None).
    device : str | None
        Where to run the codec.
    ch_names : list of str | None
        Stored in the result.
    units_scale : float, default=1e6
        Factor to microvolts (the unit the robust scaling assumes).
    cache : bool | str | path-like | None
        Token cache folder (see :mod:`mne_biocodec.tokens.cache`): None uses
        ``$MNE_BIOCODEC_CACHE`` when set and no cache otherwise; epochs already in the cache
        are not encoded again.
    progress : bool, default=False
        Show a progress bar over the channel-epochs encoded.

    Returns
    -------
    tokens : TokenSet
    """
    scaled, center, scale = prepare_signals(X, sfreq, codec, units_scale)
    n_times = np.shape(X)[-1]  # X is a valid 3-D array once prepare_signals returned
    codes = cached_encode(codec, scaled, n_q=n_q, cache=cache, batch_size=batch_size,
                          device=device, progress=progress)
    return TokenSet(codes=codes, center=center, scale=scale, sfreq=float(sfreq),
                    n_times=n_times, codec_sfreq=codec.sample_rate, ch_names=ch_names)


def detokenize(tokens, codec, batch_size=None, units_scale=VOLTS_TO_MICROVOLTS,
               progress=False, cache=None):
    """Decode a :class:`~mne_biocodec.tokens.TokenSet` back to signals at its original rate,
    scale and length.

    Parameters
    ----------
    tokens : TokenSet
        What :func:`tokenize` returned.
    codec : BioCodec
        The codec that produced the tokens.
    batch_size : int | None
        Channel-epochs per forward pass
        (:func:`~mne_biocodec.tokens.engine.auto_batch_size` when None).
    units_scale : float, default=1e6
        Factor from the signal unit to microvolts.
    progress : bool, default=False
        Show a progress bar over the channel-epochs decoded.
    cache : bool | str | path-like | None, default=None
        False decodes every epoch; otherwise the decoder output of epochs decoded before in
        this process is reused (the in-memory cache,
        :func:`~mne_biocodec.tokens.cache.cached_decode_batches`; nothing goes to disk).

    Returns
    -------
    X : ndarray, shape (n_epochs, n_chans, n_times)
        Decoded signals in the input unit (volts by default).
    """
    codes = np.asarray(tokens.codes)
    n_epochs, n_chans = codes.shape[:2]
    center = np.broadcast_to(tokens.center, (n_epochs, n_chans, 1))
    scale = np.broadcast_to(tokens.scale, (n_epochs, n_chans, 1))
    n_times = int(tokens.n_times)
    out = np.empty((n_epochs, n_chans, n_times))
    # Group by group: the decoded signals at the codec rate never exist all at once.
    for sl, decoded in cached_decode_batches(codec, codes, cache=cache, batch_size=batch_size,
                                             progress=progress):
        out[sl] = restore_signals(decoded, center[sl], scale[sl], tokens.codec_sfreq,
                                  tokens.sfreq, n_times, units_scale)
    return out
