"""Fixed-length features from codec tokens, for any scikit-learn model."""

import numpy as np

__all__ = ["token_features", "token_feature_names", "FEATURE_KINDS"]

FEATURE_KINDS = ("spatial", "embedding", "histogram")


def _codebook_vectors(codec, n_q):
    """Code vectors ``(n_q, codebook_size, codebook_dim)`` of the first ``n_q`` codebooks."""
    return np.stack([layer._codebook.embed.detach().cpu().numpy()
                     for layer in codec.quantizer.layers[:n_q]])


def _embedding_streams(codes, codec):
    """Summed code vectors ``(n_epochs, n_chans, n_frames, codebook_dim)`` (the latent each
    channel's tokens stand for, in the codebooks' 16-d space)."""
    n_q = codes.shape[2]
    vectors = _codebook_vectors(codec, n_q)
    emb = vectors[np.arange(n_q)[None, None, :, None], codes.astype(np.int64)]
    return emb.sum(axis=2)


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
        that motor-imagery decoding relies on, which per-channel statistics miss.
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
        streams = _embedding_streams(codes, codec).reshape(n_epochs, n_chans, -1)
        streams = streams - streams.mean(axis=-1, keepdims=True)
        cov = np.einsum("ect,eft->ecf", streams, streams)
        norm = np.sqrt(np.einsum("ecc->ec", cov)) + 1e-12
        corr = cov / (norm[:, :, None] * norm[:, None, :])
        upper = np.triu_indices(n_chans, 1)
        feats = corr[:, upper[0], upper[1]]
    elif kind == "embedding":
        vectors = _codebook_vectors(codec, n_q)  # (n_q, K, D)
        emb = vectors[np.arange(n_q)[None, None, :, None], codes.astype(np.int64)]
        feats = np.concatenate([emb.mean(axis=3), emb.std(axis=3)], axis=-1)
    elif kind == "histogram":
        size = codec.codebook_size
        flat = codes.reshape(-1, n_frames).astype(np.int64)
        offsets = np.arange(len(flat))[:, None] * size
        counts = np.bincount((flat + offsets).ravel(), minlength=len(flat) * size)
        feats = counts.reshape(n_epochs, n_chans, n_q, size) / float(n_frames)
    else:
        raise ValueError(f"kind must be one of {FEATURE_KINDS}; got {kind!r}.")
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
