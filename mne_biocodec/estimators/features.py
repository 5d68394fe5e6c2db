"""Fixed-length features from codec tokens, for any scikit-learn model."""

import numpy as np

from ..tokens import detokenize

__all__ = ["token_features", "token_feature_names", "token_coherence", "token_covariances",
           "token_band_power", "signal_band_power", "band_power_bands", "default_bands",
           "code_vector_streams", "auto_shrinkage", "FEATURE_KINDS", "BAND_POWER_BANDS",
           "EMG_BAND_POWER_BANDS"]

FEATURE_KINDS = ("spatial", "embedding", "histogram")
#: Frequency bands (Hz) of :func:`token_band_power`: delta split in two, theta, low alpha,
#: sigma (11-16 Hz, sleep spindles, which straddle the usual alpha and beta edges), beta,
#: low and high gamma; only those below the Nyquist frequency are used.
BAND_POWER_BANDS = ((0.5, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 11.0), (11.0, 16.0),
                    (16.0, 25.0), (25.0, 40.0), (40.0, 60.0), (60.0, 90.0))
#: The bands for EMG codecs: surface EMG holds its power between about 10 and 500 Hz, in
#: octaves up to 320 Hz here, then up to the Nyquist frequencies of 1 and 2 kHz (needle
#: EMG reaches higher).
EMG_BAND_POWER_BANDS = ((10.0, 20.0), (20.0, 40.0), (40.0, 80.0), (80.0, 160.0),
                        (160.0, 320.0), (320.0, 500.0), (500.0, 1000.0))


def auto_shrinkage(n_chans, n_frames):
    """Shrinkage ``n_chans / (n_chans + n_frames)`` of ``shrinkage="auto"``.

    A correlation matrix of ``n_chans`` streams estimated from ``n_frames`` frames is noisier
    the larger ``n_chans / n_frames`` (its eigenvalues spread as Marchenko and Pastur's law
    says): 64 channels over 2 s (42 frames) get 0.60, over 4 s 0.43; 19 channels over 4 s
    0.18; 8 channels over 2 s 0.16.
    """
    return float(n_chans) / (float(n_chans) + float(n_frames))


def _code_vectors(codes, codec):
    """The code vector of every token: ``(n_epochs, n_chans, n_q, n_frames, codebook_dim)``."""
    n_q = codes.shape[2]
    vectors = codec.codebook_vectors(n_q).cpu().numpy()  # (n_q, codebook_size, codebook_dim)
    return vectors[np.arange(n_q)[None, None, :, None], codes.astype(np.int64)]


def code_vector_streams(codes, codec):
    """The latent each channel's tokens stand for, in the codebooks' space.

    Parameters
    ----------
    codes : ndarray of int, shape (n_epochs, n_chans, n_q, n_frames)
        Tokens.
    codec : BioCodec
        The codec that produced them.

    Returns
    -------
    streams : ndarray of float32, shape (n_epochs, n_chans, n_frames, codebook_dim)
        Per frame, the sum over codebooks of the code vectors.

    See Also
    --------
    mne_biocodec.analysis.embedding_streams : The same from a TokenSet, with the codes checked
        against the codec.
    """
    return _code_vectors(np.asarray(codes), codec).sum(axis=2)


def _stream_correlation(codes, codec):
    """Channel-by-channel correlation ``(n_epochs, n_chans, n_chans)`` of the embedding streams.

    Exactly symmetric with a unit diagonal, also for a channel whose stream is constant (its
    correlations are 0): what the upper triangle holds is what ``"spatial"`` features are.
    """
    n_epochs, n_chans = codes.shape[:2]
    streams = code_vector_streams(codes, codec).reshape(n_epochs, n_chans, -1)
    streams = streams - streams.mean(axis=-1, keepdims=True)
    cov = np.einsum("ect,eft->ecf", streams, streams)
    norm = np.sqrt(np.einsum("ecc->ec", cov)) + 1e-12
    corr = cov / (norm[:, :, None] * norm[:, None, :])
    upper = np.triu_indices(n_chans, 1)
    corr[:, upper[1], upper[0]] = corr[:, upper[0], upper[1]]
    corr[:, np.arange(n_chans), np.arange(n_chans)] = 1.0
    return corr


def token_covariances(tokens, codec, n_levels=None, shrinkage=0.0, scale=True,
                      normalize=False):
    """Channel-by-channel covariance-like matrices of a :class:`~mne_biocodec.tokens.TokenSet`.

    The correlation ``R`` of the channels' code-vector streams (summed over the first
    ``n_levels`` codebooks), shrunk to ``(1 - shrinkage) R + shrinkage I``, with row and
    column ``i`` multiplied by channel ``i``'s robust scale when ``scale``.

    Parameters
    ----------
    tokens : TokenSet
        Tokens of ``n_epochs`` epochs.
    codec : BioCodec
        The codec that produced them (its codebooks embed the codes).
    n_levels : int | None, default=None
        Codebooks whose code vectors are summed into each channel's stream; all when None.
    shrinkage : float | "auto", default=0.0
        Weight of the identity, in [0, 1]: positive values keep the matrices well conditioned
        (64 channels' streams of a 2-s epoch hold few independent samples). ``"auto"``:
        :func:`auto_shrinkage` of the channels and frames.
    scale : bool, default=True
        Multiply row ``i`` and column ``i`` by channel ``i``'s robust scale (IQR in
        microvolts, what the epoch was divided by before encoding), as a covariance carries
        the channels' standard deviations: the matrices then hold the channels' power, which
        the amplitude-normalised tokens do not.
    normalize : bool, default=False
        Divide each matrix by its mean diagonal entry: the channels' relative power stays,
        the epoch's overall gain (electrode impedance, amplifier) goes.

    Returns
    -------
    matrices : ndarray of float64, shape (n_epochs, n_chans, n_chans)
        Symmetric positive semi-definite (definite when ``shrinkage > 0``).
    """
    codes = np.asarray(tokens.codes)
    if n_levels is not None:
        codes = codes[:, :, :n_levels]
    n_epochs, n_chans = codes.shape[:2]
    # float64: these matrices go to eigen-decompositions (pyRiemann works in float64)
    matrices = _stream_correlation(codes, codec).astype(np.float64)
    if isinstance(shrinkage, str):
        if shrinkage != "auto":
            raise ValueError(f"shrinkage must be 'auto' or a number in [0, 1]; got "
                             f"{shrinkage!r}.")
        shrinkage = auto_shrinkage(n_chans, codes.shape[-1])
    if shrinkage:
        matrices *= 1.0 - shrinkage
        matrices[:, np.arange(n_chans), np.arange(n_chans)] += shrinkage
    if scale:
        scales = np.asarray(tokens.scale, dtype=np.float64).reshape(n_epochs, n_chans)
        matrices *= scales[:, :, None] * scales[:, None, :]
    if normalize:
        matrices /= np.trace(matrices, axis1=1, axis2=2)[:, None, None] / n_chans
    return matrices


def token_coherence(tokens, codec, scale=True):
    """Channel-by-channel token coherence matrices of a :class:`~mne_biocodec.tokens.TokenSet`:
    :func:`token_covariances` over all codebooks, without shrinkage or normalisation.

    Parameters
    ----------
    tokens, codec : TokenSet, BioCodec
        The tokens of ``n_epochs`` epochs and the codec that produced them.
    scale : bool, default=True
        Multiply row ``i`` and column ``i`` by channel ``i``'s robust scale (see
        :func:`token_covariances`). False keeps the correlations.

    Returns
    -------
    matrices : ndarray of float64, shape (n_epochs, n_chans, n_chans)
        Symmetric positive semi-definite. Without ``scale``, the correlation over frames and
        embedding dimensions of the channels' summed code-vector streams (the
        codebook-embedding coherence of the BioCodec paper; unit diagonal, off-diagonal
        entries are the ``"spatial"`` features of :func:`token_features`); with it, the
        diagonal holds the squared scales.
    """
    return token_covariances(tokens, codec, scale=scale)


def default_bands(codec):
    """:data:`EMG_BAND_POWER_BANDS` for an EMG codec, :data:`BAND_POWER_BANDS` otherwise."""
    return EMG_BAND_POWER_BANDS if codec.modality == "emg" else BAND_POWER_BANDS


def band_power_bands(sfreq, codec_sfreq=None, bands=BAND_POWER_BANDS):
    """The bands of ``bands`` that lie below the Nyquist frequency of ``sfreq`` (and of the
    codec rate ``codec_sfreq``, which bounds what a decoded signal holds)."""
    nyquist = min(float(sfreq), float(codec_sfreq or sfreq)) / 2.0
    kept = tuple((float(lo), float(hi)) for lo, hi in bands if hi <= nyquist)
    if not kept:
        raise ValueError(f"No band lies below the Nyquist frequency ({nyquist:g} Hz) of "
                         f"{float(sfreq):g} Hz signals; bands: {bands}. Give lower bands.")
    return kept


def signal_band_power(X, sfreq, bands):
    """Log band power of signals, ``(n_epochs, n_chans * n_bands)``.

    Welch's method (windows of ``min(2 s, n_times, 512)`` samples, half overlap) gives the
    power spectral density, averaged within each band; a band narrower than the frequency
    resolution takes the nearest frequency bin.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times)
        Signals, in the unit the power is wanted in (squared, per hertz).
    sfreq : float
        Sampling rate in Hz.
    bands : sequence of (float, float)
        Frequency bands in Hz, ``[low, high)``, below the Nyquist frequency.

    Returns
    -------
    features : ndarray of float32, shape (n_epochs, n_chans * n_bands)
        ``log10`` of the mean power spectral density, channel by channel, band by band.
    """
    from scipy.signal import welch

    n_epochs, n_chans, n_times = np.shape(X)
    freqs, psd = welch(X, fs=sfreq, nperseg=int(min(2 * sfreq, n_times, 512)))
    power = []
    for lo, hi in bands:
        inside = (freqs >= lo) & (freqs < hi)
        if not inside.any():
            inside = np.arange(len(freqs)) == np.argmin(np.abs(freqs - (lo + hi) / 2))
        power.append(psd[..., inside].mean(axis=-1))
    # The floor keeps a flat (all-zero) channel finite.
    feats = np.log10(np.maximum(np.stack(power, axis=-1), 1e-12))
    return feats.reshape(n_epochs, n_chans * len(bands)).astype(np.float32)


def token_band_power(tokens, codec, bands=None, batch_size=None, cache=None):
    """Log band power of the signals the tokens decode to, ``(n_epochs, n_chans * n_bands)``.

    The codec's decoder renders the tokens as a signal at the input rate and scale (the
    tokens carry the spectrum: LaBraM's tokenizer is even trained to predict it from its
    codes); :func:`signal_band_power` reads its bands.

    Parameters
    ----------
    tokens : TokenSet
        Tokens of ``n_epochs`` epochs.
    codec : BioCodec
        The codec that produced them.
    bands : sequence of (float, float) | None, default=None
        Frequency bands in Hz, ``[low, high)``; those above the Nyquist frequency of the
        tokens' rate (or of the codec's, when lower) are dropped: see
        :func:`band_power_bands`. None: :data:`BAND_POWER_BANDS`, or
        :data:`EMG_BAND_POWER_BANDS` for an EMG codec.
    batch_size : int | None, default=None
        Channel-epochs per forward pass of the decoder.
    cache : bool | str | path-like | None, default=None
        False decodes every epoch; otherwise epochs decoded before in this process are not
        decoded again (see :func:`~mne_biocodec.tokens.detokenize`).

    Returns
    -------
    features : ndarray of float32, shape (n_epochs, n_chans * n_bands)
        ``log10`` of the mean power spectral density in microvolts squared per hertz,
        channel by channel, band by band.
    """
    sfreq = float(tokens.sfreq)
    bands = band_power_bands(sfreq, tokens.codec_sfreq,
                             default_bands(codec) if bands is None else bands)
    # units_scale=1: the tokens' centres and scales are in microvolts, so is the result
    signals = detokenize(tokens, codec, batch_size=batch_size, units_scale=1.0, cache=cache)
    return signal_band_power(signals, sfreq, bands)


def token_features(tokens, codec, kind="spatial", log_scale=True):
    """Features of shape ``(n_epochs, n_features)`` from a :class:`~mne_biocodec.tokens.TokenSet`.

    Parameters
    ----------
    tokens : TokenSet
        Tokens of ``n_epochs`` epochs.
    codec : BioCodec
        The codec that produced them (its codebooks embed the codes).
    kind : {"spatial", "embedding", "histogram"}, default="spatial"
        ``"spatial"``: for every pair of channels, the correlation over frames and embedding
        dimensions of their summed code-vector streams (the codebook-embedding coherence of
        the BioCodec paper), ``n_chans * (n_chans - 1) / 2`` values: the spatial structure
        that motor-imagery decoding relies on, which per-channel statistics miss (the same
        values as matrices: :func:`token_coherence`).
        ``"embedding"``: per channel and codebook, the mean and the standard deviation over
        frames of the code vectors (``2 * codebook_dim`` values). ``"histogram"``: per
        channel and codebook, the fraction of frames using each code.
    log_scale : bool, default=True
        Append, per channel, the log10 of the robust scale (IQR in microvolts) the epoch was
        divided by before encoding. The codec sees amplitude-normalised signals, so without it
        the features carry no absolute power (the quantity motor-imagery decoding relies on).

    Returns
    -------
    features : ndarray of float32, shape (n_epochs, n_features)
    """
    codes = np.asarray(tokens.codes)
    n_epochs, n_chans, n_q, n_frames = codes.shape
    if kind == "spatial":
        upper = np.triu_indices(n_chans, 1)
        feats = _stream_correlation(codes, codec)[:, upper[0], upper[1]]
    elif kind == "embedding":
        emb = _code_vectors(codes, codec)
        feats = np.concatenate([emb.mean(axis=3), emb.std(axis=3)], axis=-1)
    elif kind == "histogram":
        size = codec.codebook_size
        flat = codes.reshape(-1, n_frames).astype(np.int64)
        offsets = np.arange(len(flat))[:, None] * size
        counts = np.bincount((flat + offsets).ravel(), minlength=len(flat) * size)
        feats = counts.reshape(n_epochs, n_chans, n_q, size) / float(n_frames)
    else:
        raise ValueError(f"kind must be one of {FEATURE_KINDS}; got {kind!r}. For "
                         "channel-by-channel matrices use token_coherence.")
    feats = feats.reshape(n_epochs, -1)
    if log_scale:
        feats = np.concatenate([feats, np.log10(tokens.scale.reshape(n_epochs, n_chans))],
                               axis=1)
    return feats.astype(np.float32)


def token_feature_names(ch_names, n_q, codebook_dim, codebook_size, kind="spatial",
                        log_scale=True):
    """Names of the columns :func:`token_features` returns, in order.

    Returns
    -------
    names : ndarray of str
    """
    names = []
    if kind == "spatial":
        names += [f"{a}-{b}_coherence" for i, a in enumerate(ch_names)
                  for b in ch_names[i + 1:]]
    for ch in ch_names if kind != "spatial" else ():
        for q in range(n_q):
            if kind == "embedding":
                names += [f"{ch}_q{q}_{stat}{d}" for stat in ("mean", "std")
                          for d in range(codebook_dim)]
            else:
                names += [f"{ch}_q{q}_code{c}" for c in range(codebook_size)]
    if log_scale:
        names += [f"{ch}_log10_iqr" for ch in ch_names]
    return np.asarray(names, dtype=object)
