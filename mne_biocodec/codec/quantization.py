"""Residual vector quantizer with cosine-similarity codebooks (BioCodec's RVQ).

Names follow the vocabulary of EnCodec and vector-quantize-pytorch (``codebook_size``,
``codebook_dim``, ``kmeans_init``, ``kmeans_iters``, ``decay``, ``threshold_ema_dead_code``,
``commitment_weight``). Module and buffer names follow the reference implementation
(``vq.layers.{i}._codebook.embed``) so that its checkpoints load unchanged. Everything that is
learned without gradients (EMA counts and sums, the "initialised" flag) is a buffer, so a
``state_dict`` round-trips the quantizer exactly.
"""

import operator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CosineCodebook", "VectorQuantization", "ResidualVectorQuantizer", "QuantizedResult",
           "kmeans_cosine"]


def _l2norm(x, eps=1e-12):
    return F.normalize(x, p=2, dim=-1, eps=eps)


def _sample_vectors(samples, num, generator=None):
    n = samples.shape[0]
    if n >= num:
        idx = torch.randperm(n, generator=generator, device="cpu")[:num]
    else:
        idx = torch.randint(0, n, (num,), generator=generator, device="cpu")
    return samples[idx.to(samples.device)]


def kmeans_cosine(samples, num_clusters, num_iters=50, generator=None):
    """Spherical k-means: cluster L2-normalised vectors by cosine similarity.

    Parameters
    ----------
    samples : Tensor, shape [N, D]
        Vectors to cluster (normalised internally).
    num_clusters : int
        Number of centroids.
    num_iters : int, default=50
        Lloyd iterations.
    generator : torch.Generator | None
        Source of the random initial centroids (drawn on the CPU).

    Returns
    -------
    means : Tensor, shape [num_clusters, D]
        Unit-norm centroids (an empty cluster keeps its previous centroid).
    counts : Tensor, shape [num_clusters]
        Members per centroid after the last iteration.
    """
    samples = _l2norm(samples)
    means = _sample_vectors(samples, num_clusters, generator)
    counts = torch.zeros(num_clusters, device=samples.device, dtype=samples.dtype)
    for _ in range(num_iters):
        buckets = (samples @ means.t()).argmax(dim=-1)
        counts = torch.bincount(buckets, minlength=num_clusters).to(samples.dtype)
        sums = torch.zeros_like(means).index_add_(0, buckets, samples)
        new_means = _l2norm(sums / counts.clamp(min=1).unsqueeze(1))
        means = torch.where((counts == 0).unsqueeze(1), means, new_means)
    return means, counts


class CosineCodebook(nn.Module):
    """Codebook chosen by cosine similarity, learned by EMA, k-means-initialised.

    Parameters
    ----------
    dim : int
        Code vector dimension.
    codebook_size : int
        Number of codes.
    kmeans_init : bool, default=True
        Initialise the codes by spherical k-means on the first training batch.
    kmeans_iters : int, default=50
        k-means iterations.
    decay : float, default=0.99
        EMA decay of the counts and sums.
    epsilon : float, default=1e-5
        Laplace smoothing of the counts.
    threshold_ema_dead_code : float, default=2
        Codes whose EMA count falls below this are replaced by random batch vectors.

    Notes
    -----
    Buffers: ``inited`` [1], ``cluster_size`` [K], ``embed`` [K, D], ``embed_avg`` [K, D].
    Assignment normalises both the input and the codes; dequantisation returns the raw
    ``embed`` row (unit-norm after k-means and every EMA update, but not assumed to be).

    A hook for data-parallel training: :attr:`sync_fn`, when set, is called on tensors that
    must agree across processes (k-means batch, EMA statistics, dead-code replacements) and
    must return the reduced tensor.
    """

    def __init__(self, dim, codebook_size, kmeans_init=True, kmeans_iters=50, decay=0.99,
                 epsilon=1e-5, threshold_ema_dead_code=2):
        super().__init__()
        self.dim = dim
        self.codebook_size = codebook_size
        self.kmeans_iters = kmeans_iters
        self.decay = decay
        self.epsilon = epsilon
        self.threshold_ema_dead_code = threshold_ema_dead_code
        self.sync_fn = None
        self.generator = None
        # zeros, not torch.empty: an untrained codec saved before its k-means step must
        # hold defined (finite) values, or loading it would fail the finite-weights check
        embed = torch.zeros(codebook_size, dim) if kmeans_init else _l2norm(
            nn.init.kaiming_uniform_(torch.empty(codebook_size, dim)))
        self.register_buffer("inited", torch.tensor([not kmeans_init], dtype=torch.float32))
        self.register_buffer("cluster_size", torch.zeros(codebook_size))
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())

    @torch.no_grad()
    def _init_embed(self, flat):
        if self.inited.item():
            return
        if self.sync_fn is not None:
            flat = self.sync_fn("gather", flat)
        embed, counts = kmeans_cosine(flat, self.codebook_size, self.kmeans_iters,
                                      self.generator)
        if self.sync_fn is not None:
            # k-means starts from random rows: take rank 0's result so that processes whose
            # random generators differ still start from the same codebook.
            embed = self.sync_fn("broadcast", embed)
            counts = self.sync_fn("broadcast", counts)
        self.embed.copy_(embed)
        self.embed_avg.copy_(embed)
        self.cluster_size.copy_(counts)
        self.inited.fill_(1.0)

    @torch.no_grad()
    def _expire_codes(self, flat):
        if not self.threshold_ema_dead_code:
            return
        expired = self.cluster_size < self.threshold_ema_dead_code
        if not torch.any(expired):
            return
        if self.sync_fn is not None:
            flat = self.sync_fn("gather", flat)
        samples = _l2norm(_sample_vectors(flat, self.codebook_size, self.generator))
        if self.sync_fn is not None:
            samples = self.sync_fn("broadcast", samples)
        mask = expired.unsqueeze(1)
        self.embed.copy_(torch.where(mask, samples, self.embed))
        # Give revived codes a count at the threshold so that they get a chance to win
        # assignments before being declared dead again.
        self.cluster_size.copy_(torch.where(
            expired, torch.full_like(self.cluster_size, float(self.threshold_ema_dead_code)),
            self.cluster_size))
        self.embed_avg.copy_(torch.where(
            mask, samples * float(self.threshold_ema_dead_code), self.embed_avg))

    def quantize(self, flat):
        """Nearest codes by cosine similarity: ``[N, D]`` -> ``[N]`` (int64)."""
        return (_l2norm(flat) @ _l2norm(self.embed).t()).argmax(dim=-1)

    def dequantize(self, codes):
        """Code vectors for ``codes`` (any shape) -> ``[*codes.shape, D]``."""
        return F.embedding(codes, self.embed)

    def encode(self, x):
        """Codes for ``x`` ``[..., D]`` -> ``[...]``."""
        shape = x.shape[:-1]
        return self.quantize(x.reshape(-1, self.dim)).view(shape)

    def decode(self, codes):
        """Code vectors for ``codes`` ``[...]`` -> ``[..., D]``."""
        return self.dequantize(codes)

    def forward(self, x):
        """Quantize ``x`` ``[..., D]``; in training mode also update the codebook.

        Returns
        -------
        quantized : Tensor, shape [..., D]
        codes : Tensor, shape [...]
        """
        shape = x.shape[:-1]
        flat = x.reshape(-1, self.dim)
        if self.training:
            self._init_embed(flat.detach())
        codes = self.quantize(flat)
        quantized = self.dequantize(codes)
        if self.training:
            self._ema_update(flat.detach(), codes)
        return quantized.view(*shape, self.dim), codes.view(shape)

    @torch.no_grad()
    def _ema_update(self, flat, codes):
        self._expire_codes(flat)
        flat = _l2norm(flat)
        onehot = F.one_hot(codes, self.codebook_size).to(flat.dtype)
        counts = onehot.sum(0)
        sums = onehot.t() @ flat
        if self.sync_fn is not None:
            counts = self.sync_fn("sum", counts)
            sums = self.sync_fn("sum", sums)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = ((self.cluster_size + self.epsilon)
                    / (total + self.codebook_size * self.epsilon) * total)
        self.embed.copy_(_l2norm(self.embed_avg / smoothed.unsqueeze(1)))


class VectorQuantization(nn.Module):
    """One RVQ layer: project ``dim`` -> ``codebook_dim``, quantize, project back.

    Parameters
    ----------
    dim : int
        Input dimension.
    codebook_size : int
        Codes per codebook.
    codebook_dim : int | None
        Code dimension (projections are used when it differs from ``dim``).
    commitment_weight : float, default=0.25
        Weight of the commitment loss.
    **codebook_kwargs
        Passed to :class:`CosineCodebook`.
    """

    def __init__(self, dim, codebook_size, codebook_dim=None, commitment_weight=0.25,
                 **codebook_kwargs):
        super().__init__()
        codebook_dim = codebook_dim or dim
        projection = codebook_dim != dim
        self.project_in = nn.Linear(dim, codebook_dim) if projection else nn.Identity()
        self.project_out = nn.Linear(codebook_dim, dim) if projection else nn.Identity()
        self.commitment_weight = commitment_weight
        self._codebook = CosineCodebook(codebook_dim, codebook_size, **codebook_kwargs)

    def codebook_vectors(self):
        """The code vectors ``[codebook_size, codebook_dim]`` (detached, not copied)."""
        return self._codebook.embed.detach()

    def lookup(self, x):
        """Nearest codes of latents, leaving the codebook untouched (whatever the mode).

        Parameters
        ----------
        x : Tensor, shape [B, D, T]
            Latents (or residuals).

        Returns
        -------
        projected : Tensor, shape [B, T, codebook_dim]
            ``x`` in the codebook space (differentiable through ``project_in``).
        codes : Tensor of int64, shape [B, T]
            Nearest code by cosine similarity.
        vectors : Tensor, shape [B, T, codebook_dim]
            The code vectors of ``codes`` (no gradient: the codebook is a buffer).
        """
        projected = self.project_in(x.transpose(1, 2))
        codes = self._codebook.encode(projected)
        return projected, codes, self._codebook.decode(codes)

    def encode(self, x):
        """``[B, D, T]`` -> codes ``[B, T]``."""
        return self._codebook.encode(self.project_in(x.transpose(1, 2)))

    def project_vectors(self, vectors):
        """Code vectors ``[B, T, codebook_dim]`` -> latents ``[B, D, T]``."""
        return self.project_out(vectors).transpose(1, 2)

    def decode(self, codes):
        """codes ``[B, T]`` -> ``[B, D, T]``."""
        return self.project_vectors(self._codebook.decode(codes))

    def forward(self, x):
        """Quantize ``[B, D, T]``; returns ``(quantized [B, D, T], codes [B, T], loss)``.

        In training mode the quantized output carries straight-through gradients to ``x`` and
        ``loss`` is the weighted commitment loss; in eval mode ``loss`` is zero.
        """
        projected = self.project_in(x.transpose(1, 2))
        quantized, codes = self._codebook(projected)
        loss = projected.new_zeros(())
        if self.training:
            quantized = projected + (quantized - projected).detach()
            if self.commitment_weight > 0:
                loss = F.mse_loss(projected, quantized.detach()) * self.commitment_weight
        return self.project_vectors(quantized), codes, loss


@dataclass
class QuantizedResult:
    """What :meth:`ResidualVectorQuantizer.forward` returns.

    Attributes
    ----------
    quantized : Tensor, shape [B, D, T]
        Sum of the dequantized layers (straight-through in training).
    codes : Tensor, shape [B, n_q, T]
        Codes, codebook 0 first.
    penalty : Tensor
        Sum of the layers' commitment losses (zero in eval mode).
    """

    quantized: torch.Tensor
    codes: torch.Tensor
    penalty: torch.Tensor


class _ResidualVectorQuantization(nn.Module):
    """Container of the layers (``vq.layers``), kept for the reference key layout."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)


class ResidualVectorQuantizer(nn.Module):
    """Residual vector quantizer: ``n_q`` cosine codebooks applied to successive residuals.

    Parameters
    ----------
    dimension : int, default=128
        Latent dimension.
    n_q : int, default=6
        Number of codebooks.
    bins : int, default=256
        Codes per codebook.
    codebook_dim : int | None, default=16
        Dimension each layer projects to.
    decay : float, default=0.99
        EMA decay.
    epsilon : float, default=1e-5
        Laplace smoothing.
    kmeans_init : bool, default=True
        k-means initialisation on the first training batch.
    kmeans_iters : int, default=50
        k-means iterations.
    threshold_ema_dead_code : float, default=2
        Dead-code threshold on the EMA count.
    commitment_weight : float, default=0.25
        Commitment loss weight.
    quantizer_dropout : float, default=0.0
        Probability, per training batch, of using a random number of codebooks ``1..n_q``
        (as EnCodec does to train all bitrates at once); 0 trains with all codebooks.

    Notes
    -----
    The residual handed to the next layer subtracts a *detached* dequantized vector, so that
    every layer's commitment loss reaches the encoder (EnCodec subtracts the straight-through
    output, whose gradient cancels the residual's).
    """

    def __init__(self, dimension=128, n_q=6, bins=256, codebook_dim=16, decay=0.99,
                 epsilon=1e-5, kmeans_init=True, kmeans_iters=50, threshold_ema_dead_code=2,
                 commitment_weight=0.25, quantizer_dropout=0.0):
        super().__init__()
        self.dimension = dimension
        self.n_q = n_q
        self.bins = bins
        self.quantizer_dropout = quantizer_dropout
        self.vq = _ResidualVectorQuantization([
            VectorQuantization(dimension, bins, codebook_dim,
                               commitment_weight=commitment_weight, decay=decay,
                               epsilon=epsilon, kmeans_init=kmeans_init,
                               kmeans_iters=kmeans_iters,
                               threshold_ema_dead_code=threshold_ema_dead_code)
            for _ in range(n_q)
        ])

    @property
    def layers(self):
        return self.vq.layers

    def check_n_q(self, n_q):
        """Validate a number of codebooks; returns ``n_q`` as an int (all when None)."""
        if n_q is None:
            return self.n_q
        try:
            if isinstance(n_q, bool):
                raise TypeError
            n_q_int = operator.index(n_q)
        except TypeError:
            raise TypeError(
                f"n_q must be an integer in [1, {self.n_q}] or None (all codebooks); got "
                f"{n_q!r} of type {type(n_q).__name__}."
            ) from None
        if not 1 <= n_q_int <= self.n_q:
            raise ValueError(
                f"n_q must be an integer in [1, {self.n_q}] (this quantizer's codebooks) or "
                f"None for all of them; got {n_q_int}."
            )
        return n_q_int

    def _check_latent(self, x):
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[1] != self.dimension:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"x must be latents [batch, {self.dimension}, n_frames] (the encoder's "
                f"output); got {shape}. Encode signals with the codec's encoder first."
            )

    def codebook_vectors(self, n_q=None):
        """Code vectors of the first ``n_q`` codebooks, in the codebook space.

        Parameters
        ----------
        n_q : int | None
            Codebooks to return (all when None).

        Returns
        -------
        vectors : Tensor, shape [n_q, bins, codebook_dim]
            A detached copy of the codebooks' ``embed`` buffers, on their device; row ``k``
            of codebook ``q`` is the vector that code ``k`` of that codebook stands for.
        """
        n_q = self.check_n_q(n_q)
        return torch.stack([layer.codebook_vectors() for layer in self.layers[:n_q]])

    def _quantize_residuals(self, x, n_q, step):
        """The residual loop shared by every way of quantizing.

        ``step(layer, residual)`` returns ``(output, dequantized, codes, loss)``: what is
        summed over the layers, the layer's quantized latent ``[B, D, T]`` that the next
        residual subtracts, the codes ``[B, T]`` and the layer's loss (None for none).
        """
        self._check_latent(x)
        residual = x
        summed, all_codes, penalty = None, [], x.new_zeros(())
        for layer in self.layers[:n_q]:
            output, dequantized, codes, loss = step(layer, residual)
            residual = residual - dequantized.detach()
            summed = output if summed is None else summed + output
            all_codes.append(codes)
            if loss is not None:
                penalty = penalty + loss
        return QuantizedResult(summed, torch.stack(all_codes, dim=1), penalty)

    def forward(self, x, n_q=None):
        """Quantize latents ``[B, D, T]``.

        Parameters
        ----------
        x : Tensor, shape [B, D, T]
            Encoder output.
        n_q : int | None
            Codebooks to use (all when None).

        Returns
        -------
        result : QuantizedResult
        """
        n_q = self.check_n_q(n_q)
        if self.training and self.quantizer_dropout > 0:
            if torch.rand(()) < self.quantizer_dropout:
                n_q = int(torch.randint(1, n_q + 1, ()))
        return self._quantize_residuals(x, n_q, _layer_forward)

    def encode(self, x, n_q=None):
        """Codes of latents ``[B, D, T]`` -> ``[B, n_q, T]`` (int64).

        The codebooks are left untouched, in training mode too.
        """
        return self._quantize_residuals(x, self.check_n_q(n_q), _layer_lookup).codes

    def quantize_straight_through(self, x, n_q=None):
        """Quantize with straight-through gradients and fixed codebooks, in codebook space.

        Each layer picks its code as :meth:`encode` does (the codes are identical), in any
        mode and without updating the codebooks. The code vectors are summed over the layers
        in the codebook space (before ``project_out``), as the token embeddings of a
        downstream head are. The gradient of the sum reaches ``x`` and every layer's
        ``project_in``, as if each layer's code vector were its projected residual.

        Parameters
        ----------
        x : Tensor, shape [B, D, T]
            Encoder output.
        n_q : int | None
            Codebooks to use (all when None).

        Returns
        -------
        vectors : Tensor, shape [B, T, codebook_dim]
            Sum of the code vectors of the first ``n_q`` codebooks (straight-through).
        codes : Tensor of int64, shape [B, n_q, T]
            The codes picked, codebook 0 first.
        """
        result = self._quantize_residuals(x, self.check_n_q(n_q), _layer_straight_through)
        return result.quantized, result.codes

    def decode(self, codes):
        """Latents from codes ``[B, K, T]`` (``K <= n_q``) -> ``[B, D, T]``."""
        if codes.ndim != 3 or codes.shape[1] > self.n_q:
            raise ValueError(
                f"codes must be [batch, n_q <= {self.n_q}, n_frames]; got shape "
                f"{tuple(codes.shape)}."
            )
        out = None
        for k in range(codes.shape[1]):
            quantized = self.layers[k].decode(codes[:, k])
            out = quantized if out is None else out + quantized
        return out


def _layer_forward(layer, residual):
    # The module call: in training mode it updates the codebook and the output is
    # straight-through; the next residual subtracts that same (detached) output.
    quantized, codes, loss = layer(residual)
    return quantized, quantized, codes, loss


def _layer_lookup(layer, residual):
    _, codes, vectors = layer.lookup(residual)
    dequantized = layer.project_vectors(vectors)
    return dequantized, dequantized, codes, None


def _layer_straight_through(layer, residual):
    projected, codes, vectors = layer.lookup(residual)
    straight = projected + (vectors - projected).detach()
    return straight, layer.project_vectors(vectors), codes, None
