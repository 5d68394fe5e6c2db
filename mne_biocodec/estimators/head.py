"""Light downstream heads over codec tokens (torch modules): the paper's transformer and a
spatial covariance head that learns from tens of trials."""

import hashlib
import math
import numbers

import torch
from torch import nn

from .features import auto_shrinkage

__all__ = ["TokenTransformerHead", "TokenCovarianceHead", "FineTunedCodecHead",
           "sinusoidal_encoding", "symmetric_function"]


def sinusoidal_encoding(n_positions, dim):
    """Sinusoidal position encoding ``(n_positions, dim)`` (Vaswani et al., 2017)."""
    position = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    enc = torch.zeros(n_positions, dim)
    enc[:, 0::2] = torch.sin(position * div)
    enc[:, 1::2] = torch.cos(position * div[: dim // 2])
    return enc


def symmetric_function(matrices, function):
    """Apply ``function`` to the eigenvalues of symmetric matrices ``[..., n, n]``."""
    eigvals, eigvecs = torch.linalg.eigh(matrices)
    return (eigvecs * function(eigvals).unsqueeze(-2)) @ eigvecs.transpose(-1, -2)


class TokenCovarianceHead(nn.Module):
    """Classify token sequences ``[B, n_chans, n_q, n_frames]`` from their spatial covariance.

    Each channel's tokens become its summed code-vector stream ``[n_frames, d_model]`` (the
    codec's codebooks, frozen); the channel-by-channel correlation of these streams, rescaled by
    the channels' robust scales (their band power, which the amplitude-normalised tokens do not
    carry), is the epoch's token covariance (:func:`~mne_biocodec.estimators.features.
    token_coherence`). It is normalised to unit mean variance, shrunk toward its diagonal,
    whitened by a reference matrix (the log-Euclidean mean of the training epochs', set with
    :meth:`set_reference`) and mapped to the tangent space (matrix logarithm, upper triangle,
    off-diagonal entries times sqrt(2)), the channels' standardised log scales are appended
    (``log_power``), and dropout and one linear layer give the class scores. Only the linear
    layer trains: ``(n_chans * (n_chans + 1) / 2 + n_chans) * n_outputs + n_outputs``
    parameters (4,290 for 64 channels and two classes).

    Re-centring (``forward``'s ``recentring`` ``[B, C, C]``): each epoch is whitened by its
    own matrix instead of the reference, its group's :meth:`group_whitening` (a subject's
    epochs then sit around the identity, whatever the subject; Zanini et al., 2018). The
    classifier's ``recenter`` builds these matrices.

    Parameters
    ----------
    n_chans : int
        Channels.
    n_outputs : int
        Classes.
    n_q : int, default=6
        Codebooks in the codes given.
    codebook_size : int, default=256
        Codes per codebook.
    d_model : int, default=16
        Code-vector size (the codec's codebook dimension).
    codebooks : Tensor, shape [n_q, codebook_size, d_model] | None
        The codec's code vectors; random when None.
    n_codebooks : int, default=2
        Codebooks summed into the streams: the first ``min(n_codebooks, n_q)``. Chosen on
        executed-movement runs of eegmmidb subjects 1-5: the coarse codebooks carry the
        spatial structure, the fine ones mostly quantisation noise (mean AUC 68.6 and 66.4
        with two and shrinkage 0.1, against 67.4 and 65.8 with six and shrinkage 0.01, in two
        seeded runs).
    use_scale : bool, default=True
        Rescale the correlations by the channels' robust scales (``log_scale`` in
        :meth:`forward`). False keeps the correlation matrices of the streams.
    scale_mean, scale_std : Tensor, shape [n_chans] | None
        Mean and deviation the classifier standardised the log10 scales with, to undo it
        (zeros and ones when None).
    shrinkage : float | "auto", default="auto"
        Weight of the diagonal in the shrunk matrix ``(1 - shrinkage) M + shrinkage diag(M)``.
        ``"auto"``: ``n_chans / (n_chans + n_frames)``
        (:func:`~mne_biocodec.estimators.features.auto_shrinkage`), more the more channels
        per frame: about 0.5 for 64 channels over 3 s, 0.18 for 19 channels over 4 s, 0.16
        for 8 channels over 2 s. A fixed 0.5 was chosen on 64-channel motor imagery
        (executed-movement runs of eegmmidb subjects 1-5: mean AUC 72.5 against 69.7 with
        0.1) and cost the few-channel tasks (eegmat across subjects, SSVEP, EMG) 1.9-5.2
        points in the decoding benchmark. "auto" was chosen on development data
        (``benchmarks/crosssub_defaults.py``): eegmat leave-one-subject-out among the
        codec-training subjects, balanced accuracy 53.9 against 50.3 (0.5) and 56.1 (0.1);
        executed-movement runs of eegmmidb subjects 1-5, mean AUC 72.0 against 72.8 and
        70.0. In ``benchmarks/decoding.py`` it then scored eegmat 62.7 (58.9 with 0.5),
        SSVEP 54.0 and 43.1 (51.3, 40.5), EMG across subjects 85.8 (82.5), and motor
        imagery as before (within session 71.6 against 71.8).
    crop : float, default=1.0
        Fraction of the frames each training epoch's covariance is estimated on, from a
        random window (a time-shift augmentation; 1.0: none). Evaluation always uses all
        frames. Off by default: on executed-movement runs of eegmmidb subjects 1-5, a random
        80 % window made no consistent difference (mean AUC 70.0 against 73.6 without, and
        71.0 against 70.0, in two seeded runs).
    dropout : float, default=0.5
        Dropout on the features.
    log_power : bool, default=True
        With ``use_scale``, append the standardised log scales ``[B, C]`` (each channel's
        absolute band power, which the normalised covariance no longer holds) to the tangent
        vector: ``n_chans`` more features and weights. It also gives single-channel data,
        whose tangent vector is empty of information, something to learn from.
    channel_statistics : bool | "auto", default="auto"
        Append, per channel and codebook (all ``n_q``), the mean and the standard deviation
        over frames of the code vectors (``2 * n_q * d_model`` values per channel, the
        tokenizer's ``output="embedding"``), standardised with the training epochs' mean and
        deviation (:meth:`set_reference`). They describe each channel's waveforms, where the
        covariance describes how channels move together. ``"auto"``: only for
        single-channel data, where the covariance carries nothing (a 1 x 1 matrix normalised
        to 1) and the head otherwise learns from the log power alone. With several channels
        the weights multiply: on Kalunga2016 SSVEP (8 channels, 4 classes, within session)
        ``True`` scored 34.6 against 54.0 (6,324 parameters against 180).
    """

    def __init__(self, n_chans, n_outputs, n_q=6, codebook_size=256, d_model=16,
                 codebooks=None, use_scale=True, scale_mean=None, scale_std=None,
                 n_codebooks=2, shrinkage="auto", crop=1.0, dropout=0.5, log_power=True,
                 channel_statistics="auto"):
        super().__init__()
        if not (isinstance(channel_statistics, bool)
                or isinstance(channel_statistics, str) and channel_statistics == "auto"):
            raise ValueError(f"channel_statistics must be True, False or 'auto'; got "
                             f"{channel_statistics!r}.")
        if not (isinstance(shrinkage, str) and shrinkage == "auto"
                or (isinstance(shrinkage, numbers.Real) and not isinstance(shrinkage, bool)
                    and 0.0 <= shrinkage < 1.0)):
            raise ValueError(f"shrinkage must be 'auto' or a number in [0, 1); got "
                             f"{shrinkage!r}.")
        if not 0.0 < float(crop) <= 1.0:
            raise ValueError(f"crop must be in (0, 1]; got {crop!r}.")
        if isinstance(n_codebooks, bool) or not isinstance(n_codebooks, int) or n_codebooks < 1:
            raise ValueError(f"n_codebooks must be a positive int; got {n_codebooks!r}.")
        # RVQ codes are greedy: the first codebooks of six are those a shorter encoding gives
        self.n_chans, self.n_q, self.use_scale = n_chans, min(n_q, n_codebooks), use_scale
        self.shrinkage = shrinkage if isinstance(shrinkage, str) else float(shrinkage)
        self.crop = float(crop)
        self.log_power = bool(log_power and use_scale)
        codebooks = (torch.randn(n_q, codebook_size, d_model) if codebooks is None
                     else torch.as_tensor(codebooks, dtype=torch.float32))
        self.register_buffer("codebooks", codebooks[: self.n_q].clone())
        self.channel_statistics = (n_chans == 1 if channel_statistics == "auto"
                                   else channel_statistics)
        n_statistics = 0
        if self.channel_statistics:
            # every level here: the deep ones carry the waveform's detail, not noise to avoid
            self.register_buffer("statistics_codebooks", codebooks[:n_q].clone())
            n_statistics = n_chans * 2 * codebooks[:n_q].shape[0] * codebooks.shape[-1]
            self.register_buffer("statistics_mean", torch.zeros(n_statistics))
            self.register_buffer("statistics_std", torch.ones(n_statistics))
        self.register_buffer("scale_mean", torch.zeros(n_chans) if scale_mean is None
                             else torch.as_tensor(scale_mean, dtype=torch.float32))
        self.register_buffer("scale_std", torch.ones(n_chans) if scale_std is None
                             else torch.as_tensor(scale_std, dtype=torch.float32))
        # P^{-1/2} of the reference point; identity until set_reference
        self.register_buffer("whitening", torch.eye(n_chans))
        upper = torch.triu_indices(n_chans, n_chans)
        self.register_buffer("upper", upper, persistent=False)
        weights = torch.where(upper[0] == upper[1], 1.0, math.sqrt(2.0))
        self.register_buffer("upper_weights", weights, persistent=False)
        n_features = upper.shape[1] + (n_chans if self.log_power else 0) + n_statistics
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, n_outputs))

    def embed(self, codes):
        """Summed code vectors ``[B, C, T, d_model]`` of codes ``[B, C, n_q, T]``."""
        codes = codes.long()[:, :, : self.n_q]
        levels = torch.arange(self.n_q, device=codes.device).view(1, 1, -1, 1)
        return self.codebooks[levels, codes].sum(dim=2)

    def covariances(self, codes, log_scale=None):
        """Normalised, shrunk token covariances ``[B, C, C]`` (float64)."""
        streams = self.embed(codes)
        n_frames = streams.shape[2]
        if self.training and self.crop < 1.0:
            length = max(2, int(round(self.crop * n_frames)))
            starts = torch.randint(0, n_frames - length + 1, (streams.shape[0],),
                                   device=streams.device)
            index = starts[:, None] + torch.arange(length, device=streams.device)
            streams = torch.stack([s[:, i] for s, i in zip(streams, index)])
        x = streams.flatten(2).double()
        x = x - x.mean(dim=-1, keepdim=True)
        cov = x @ x.transpose(1, 2)
        # correlation first: a channel whose stream is constant gets zero correlations
        norm = torch.sqrt(torch.diagonal(cov, dim1=1, dim2=2)) + 1e-12
        mats = cov / (norm[:, :, None] * norm[:, None, :])
        diag = torch.arange(self.n_chans, device=mats.device)
        mats[:, diag, diag] = 1.0
        if self.use_scale:
            if log_scale is None:
                raise ValueError("this head was built with use_scale=True: pass log_scale "
                                 "[batch, n_chans] too.")
            log10 = log_scale.double() * self.scale_std.double() + self.scale_mean.double()
            # relative scales: the trace normalisation below removes the common factor
            scales = 10.0 ** (log10 - log10.mean(dim=1, keepdim=True))
            mats = mats * scales[:, :, None] * scales[:, None, :]
        mats = mats / (torch.diagonal(mats, dim1=1, dim2=2).mean(dim=1)[:, None, None])
        weight = (auto_shrinkage(self.n_chans, n_frames) if self.shrinkage == "auto"
                  else self.shrinkage)
        shrunk = (1.0 - weight) * mats
        shrunk[:, diag, diag] += weight * mats[:, diag, diag]
        return shrunk

    @torch.no_grad()
    def group_whitening(self, codes, log_scale=None, batch_size=64):
        """``P^{-1/2}`` ``[C, C]`` of the log-Euclidean mean ``P`` of the covariances of
        ``codes`` ``[n_epochs, C, n_q, T]`` (eval mode, all frames): what
        :meth:`set_reference` sets for the whole training set, for one group of epochs
        (a subject's, for re-centring)."""
        mode = self.training
        self.eval()
        logs = torch.zeros(self.n_chans, self.n_chans, dtype=torch.float64,
                           device=self.whitening.device)
        for start in range(0, len(codes), batch_size):
            sl = slice(start, start + batch_size)
            part = None if log_scale is None else log_scale[sl]
            logs += symmetric_function(self.covariances(codes[sl], part), torch.log).sum(0)
        self.train(mode)
        return symmetric_function(logs / len(codes), lambda v: torch.exp(-v / 2))

    @torch.no_grad()
    def set_reference(self, codes, log_scale=None, batch_size=64):
        """Set the tangent space's reference point to the log-Euclidean mean of the
        covariances of ``codes`` ``[n_epochs, C, n_q, T]`` (with ``log_scale``
        ``[n_epochs, C]``), computed in eval mode over all frames."""
        self.whitening.copy_(self.group_whitening(codes, log_scale, batch_size))
        if self.channel_statistics:
            stats = torch.cat([self.code_statistics(codes[start:start + batch_size])
                               for start in range(0, len(codes), batch_size)])
            self.statistics_mean.copy_(stats.mean(dim=0))
            # a floor: a statistic constant over few training epochs must not blow up
            self.statistics_std.copy_(stats.std(dim=0, unbiased=False).clamp(min=1e-3))
        return self

    def code_statistics(self, codes):
        """Mean and deviation over frames of each channel's code vectors, per codebook,
        ``[B, n_chans * n_q * 2 * d_model]`` (not standardised)."""
        n_levels = self.statistics_codebooks.shape[0]
        codes = codes.long()[:, :, :n_levels]
        levels = torch.arange(n_levels, device=codes.device).view(1, 1, -1, 1)
        vectors = self.statistics_codebooks[levels, codes]  # [B, C, n_q, T, d]
        stats = torch.cat([vectors.mean(dim=3), vectors.std(dim=3, unbiased=False)], dim=-1)
        return stats.flatten(1)

    def _compute_tangent_vectors(self, codes, log_scale, recentring=None):
        with torch.no_grad():
            white = (self.whitening.double() if recentring is None
                     else recentring.to(self.whitening.device).double())
            mats = white @ self.covariances(codes, log_scale) @ white
            logm = symmetric_function(mats, torch.log)
            vectors = logm[:, self.upper[0], self.upper[1]] * self.upper_weights
        return vectors.float()

    def tangent_vectors(self, codes, log_scale=None, recentring=None):
        """Tangent vectors ``[B, C * (C + 1) / 2]`` of the token covariances at the
        reference point, or, with ``recentring`` ``[B, C, C]``, each epoch's covariance
        whitened by its own matrix (its group's :meth:`group_whitening`) and mapped at the
        identity."""
        # Nothing before the linear layer trains, so an epoch's vector only changes with the
        # buffers: it is computed once per epoch and buffer state and then reused, every
        # training epoch otherwise repeating the same eigendecompositions. Random crops
        # (training with crop < 1) are never reused.
        if self.training and self.crop < 1.0:
            return self._compute_tangent_vectors(codes, log_scale, recentring)
        state = tuple((buf._version, buf.data_ptr()) for buf in (
            self.whitening, self.codebooks, self.scale_mean, self.scale_std))
        if getattr(self, "_memo_state", None) != state or len(self._memo) > 100_000:
            self._memo, self._memo_state = {}, state
        codes_np = codes.detach().cpu().numpy()
        extras = [None if t is None else t.detach().cpu().numpy()
                  for t in (log_scale, recentring)]
        keys = [hashlib.blake2b(codes_np[i].tobytes() + b"".join(
            b"-" if t is None else t[i].tobytes() for t in extras), digest_size=16).digest()
            for i in range(len(codes_np))]
        missing = [i for i, key in enumerate(keys) if key not in self._memo]
        if missing:
            fresh = self._compute_tangent_vectors(
                codes[missing], None if log_scale is None else log_scale[missing],
                None if recentring is None else recentring[missing])
            for i, vector in zip(missing, fresh):
                self._memo[keys[i]] = vector
        return torch.stack([self._memo[key] for key in keys])

    def features(self, codes, log_scale=None, recentring=None):
        """What the linear layer reads ``[B, n_features]``: the tangent vector, then the log
        power when ``log_power``, then the standardised code statistics when
        ``channel_statistics``."""
        features = self.tangent_vectors(codes, log_scale, recentring)
        if self.log_power:
            # the trace normalisation keeps only relative power: add the absolute one
            features = torch.cat([features, log_scale.to(features.dtype)], dim=1)
        if self.channel_statistics:
            stats = (self.code_statistics(codes) - self.statistics_mean) / self.statistics_std
            features = torch.cat([features, stats.to(features.dtype)], dim=1)
        return features

    def forward(self, codes, log_scale=None, recentring=None):
        return self.classifier(self.features(codes, log_scale, recentring))


class TokenTransformerHead(nn.Module):
    """Classify token sequences ``[B, n_chans, n_q, n_frames]``.

    Per-codebook embeddings (initialised from the codec's codebooks) are summed over the
    codebooks used; one transformer layer runs over time within each channel (with a
    sinusoidal time encoding), one over channels within each frame (with a learned channel
    encoding); the result is averaged over time and an MLP maps the ``d_model * n_chans``
    vector to class scores.

    Parameters
    ----------
    n_chans : int
        Channels.
    n_outputs : int
        Classes.
    n_q : int, default=6
        Codebooks used.
    codebook_size : int, default=256
        Codes per codebook.
    d_model : int, default=16
        Embedding size (the codec's codebook dimension).
    n_heads : int, default=8
        Attention heads.
    dim_feedforward : int, default=64
        Feed-forward width of the transformer layers.
    hidden : int, default=64
        Hidden units of the MLP.
    dropout : float, default=0.2
        Dropout in the transformer layers and the MLP.
    codebooks : Tensor, shape [n_q, codebook_size, d_model] | None
        Initial embeddings (the codec's code vectors); random when None.
    max_frames : int, default=4096
        Longest sequence the time encoding covers.
    use_scale : bool, default=False
        Also feed each channel's (standardised) log robust scale to the MLP. The codec sees
        amplitude-normalised channels, so without it the head is blind to band power, which
        carries most of what motor imagery decoding needs (ERD/ERS). Not in the paper.
    attention_dropout : float, default=0.0
        Dropout on the attention weights. Zero lets PyTorch use its fused attention kernel,
        which trains about 3x faster on CPU (measured: 1.7 s vs 5.2 s per step of 29 epochs x
        21 channels x 84 frames); ``dropout`` still applies to the residual and feed-forward
        paths.
    """

    def __init__(self, n_chans, n_outputs, n_q=6, codebook_size=256, d_model=16, n_heads=8,
                 dim_feedforward=64, hidden=64, dropout=0.2, codebooks=None, max_frames=4096,
                 use_scale=False, attention_dropout=0.0):
        super().__init__()
        self.n_q = n_q
        self.use_scale = use_scale
        self.embeddings = nn.ModuleList(
            nn.Embedding(codebook_size, d_model) for _ in range(n_q))
        if codebooks is not None:
            codebooks = torch.as_tensor(codebooks, dtype=torch.float32)
            with torch.no_grad():
                for emb, init in zip(self.embeddings, codebooks):
                    emb.weight.copy_(init)
        self.register_buffer("time_encoding", sinusoidal_encoding(max_frames, d_model),
                             persistent=False)
        self.channel_encoding = nn.Parameter(torch.zeros(n_chans, d_model))
        nn.init.normal_(self.channel_encoding, std=0.02)
        layer = dict(d_model=d_model, nhead=n_heads, dim_feedforward=dim_feedforward,
                     dropout=dropout, batch_first=True)
        self.time_layer = nn.TransformerEncoderLayer(**layer)
        self.channel_layer = nn.TransformerEncoderLayer(**layer)
        for encoder_layer in (self.time_layer, self.channel_layer):
            encoder_layer.self_attn.dropout = attention_dropout
        n_features = (d_model + int(use_scale)) * n_chans
        self.mlp = nn.Sequential(
            nn.Flatten(), nn.Linear(n_features, hidden), nn.GELU(),
            nn.Dropout(dropout), nn.Linear(hidden, n_outputs))

    def embed(self, codes):
        """Summed code embeddings ``[B, C, T, d_model]`` of codes ``[B, C, n_q, T]``."""
        codes = codes.long()
        out = None
        for q in range(self.n_q):
            e = self.embeddings[q](codes[:, :, q])
            out = e if out is None else out + e
        return out

    def forward(self, codes, log_scale=None):
        return self.classify(self.embed(codes), log_scale)

    def classify(self, x, log_scale=None):
        """Class scores from summed code embeddings ``[B, C, T, d_model]`` (and, with
        ``use_scale``, the standardised log scales ``[B, C]``)."""
        batch, n_chans, n_frames, dim = x.shape
        x = x + self.time_encoding[:n_frames]
        x = self.time_layer(x.reshape(batch * n_chans, n_frames, dim))
        x = x.reshape(batch, n_chans, n_frames, dim).transpose(1, 2)
        x = x + self.channel_encoding
        x = self.channel_layer(x.reshape(batch * n_frames, n_chans, dim))
        x = x.reshape(batch, n_frames, n_chans, dim).mean(dim=1)
        if self.use_scale:
            if log_scale is None:
                raise ValueError("this head was built with use_scale=True: pass log_scale "
                                 "[batch, n_chans] too.")
            x = torch.cat([x, log_scale.to(x.dtype).unsqueeze(-1)], dim=-1)
        return self.mlp(x)


class FineTunedCodecHead(nn.Module):
    """The head on top of a trainable codec encoder (straight-through quantisation).

    The input is normalised signals ``[B, C, n_times]`` at the codec rate. Every channel goes
    through the codec encoder; each RVQ layer picks its code as in inference, and the summed
    code vectors reach the head with straight-through gradients
    (:meth:`~mne_biocodec.codec.ResidualVectorQuantizer.quantize_straight_through`), so the
    encoder and the quantizer projections learn from the classification loss. The codebooks
    themselves (EMA buffers) stay fixed, and the codec's layers are kept in eval mode.

    Parameters
    ----------
    codec : BioCodec
        The codec to fine-tune (its decoder is dropped).
    head : TokenTransformerHead
        The classification head (its embedding tables are not used).
    """

    def __init__(self, codec, head):
        super().__init__()
        self.encoder = codec.encoder
        self.quantizer = codec.quantizer
        self.head = head

    def train(self, mode=True):
        super().train(mode)
        # No EMA updates of the codebooks, no k-means: the codec's own layers stay in eval.
        self.encoder.eval()
        self.quantizer.eval()
        return self

    def forward(self, x, log_scale=None):
        batch, n_chans, n_times = x.shape
        latent = self.encoder(x.reshape(batch * n_chans, 1, n_times))
        summed, _ = self.quantizer.quantize_straight_through(latent, n_q=self.head.n_q)
        n_frames = summed.shape[1]
        return self.head.classify(summed.reshape(batch, n_chans, n_frames, -1), log_scale)
