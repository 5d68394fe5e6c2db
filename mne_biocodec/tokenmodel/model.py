"""TokenTransformer: masked code modelling over BioCodec token streams (torch modules).

A channel's tokens are a sequence of frames, each frame ``n_q`` codes of a residual vector
quantizer (RVQ): level 0 the coarse code, each further level a refinement of the residual the
levels before it left. The model reads one channel's sequence at a time, so it takes any
montage and any number of channels (as the codec does), and predicts hidden codes of every
level from the visible ones.

Masking (what the model learns to predict, :func:`sample_mask`)
----------------------------------------------------------------
- **Spans of whole frames** (all levels hidden), about 45 % of the frames in spans of 1-8
  frames. At 20.8 frames/s the codes of neighbouring frames are strongly dependent: hidden
  single frames alone are mostly recovered by interpolation from their neighbours (as for
  speech, where HuBERT and wav2vec 2.0 mask spans), so spans of up to 0.4 s make the model
  carry the rhythm and waveform across gaps.
- **Deeper levels of single frames** (about 15 % of the remaining frames): levels ``k..n_q-1``
  hidden, ``k`` drawn from 1..n_q-1, the levels below ``k`` visible. This is the RVQ structure:
  a refinement code is predicted from the coarser codes of the same frame, which is what
  frame-by-frame generation (:func:`mne_biocodec.tokenmodel.forecast`) and the chain of
  levels rely on.

The loss is the cross-entropy of the hidden codes, averaged per level and then over levels, so
that the deep levels (hidden more often) do not outweigh the coarse ones.

Frame positions
---------------
A frame's input is the sum of its code embeddings plus a sinusoidal position encoding scaled by
``position_scale``. Unscaled, the encoding has norm ``sqrt(d_model / 2)`` (8.0 at d_model 128)
while the summed code embeddings of a frame start near 0.5 and grow to about 1.3 when trained;
after the pre-norm layers' LayerNorm the codes were then a small perturbation of the position.
The default 0.125 gives the encoding norm 1.0 at d_model 128, the scale of the codes: the
frames stay distinguishable by position without the position dominating. Measured with the
same corpus and 2,000 steps (``recipes/token-model-v2.json``), it changes held-out perplexity
by -1.8 % to +2.0 % (level 0: -0.6 % to -1.8 %), not enough to beat the previous-frame bigram
at level 0 where the first model (``position_scale`` 1.0) lost to it. Files saved before the
key existed load with 1.0 (:func:`~mne_biocodec.tokenmodel.load_token_model`).

Neighbour logits
----------------
Both models above (``position_scale`` 1.0 and 0.125) mostly used a window's overall code
statistics: shuffling the visible frames in time barely changed their held-out level-0
perplexity (eegmat 216.7 -> 217.6), although the isolated scoring schedule shows them both
neighbours of a hidden frame, and the previous-frame bigram predicted level 0 better on three
held-out data sets. With ``neighbour_logits`` the model adds to each level's logits two learnt
tables read at the codes of the same level in the previous and the next frame, where those are
visible (a hidden or absent neighbour reads the table's [MASK] row): the transition statistics
an n-gram holds, as direct connections beside the network (the "maximum entropy" features of
Mikolov et al., 2011), so the transformer is left to learn what the neighbours do not say. The
tables start at zero (the model starts as without them) and add ``2 n_q (codebook_size + 1)
codebook_size`` parameters (0.79 M for 6 x 256 codes). Files saved before the key existed load
without them.

Scoring (:func:`token_log_likelihood`) uses a fixed schedule instead of random masks: the frames
are cut into blocks of ``span`` frames, and ``n_groups`` passes each hide every
``n_groups``-th block, so every frame is scored exactly once, deterministically.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..estimators.head import sinusoidal_encoding

__all__ = ["TokenTransformer", "TOKEN_MODEL_CONFIG", "LEGACY_CONFIG", "MAX_TOKEN_MODEL_PARAMS",
           "check_token_model_config", "sample_mask", "schedule_masks", "masked_loss",
           "token_log_likelihood", "pooled_states", "token_model_size"]

#: Default architecture: about 2.0 M parameters (7.9 MB of float32 weights) for the shipped
#: EEG codec's 6 codebooks of 256 codes, 0.79 M of them the neighbour tables.
#: ``position_scale`` multiplies the sinusoidal frame position encoding (see the module
#: notes: 0.125 makes its norm 1.0 at d_model 128); ``neighbour_logits`` adds the tables.
TOKEN_MODEL_CONFIG = {
    "n_q": 6, "codebook_size": 256, "d_model": 128, "n_layers": 4, "n_heads": 4,
    "dim_feedforward": 512, "dropout": 0.1, "max_frames": 512,
    "span_ratio": 0.45, "span_min": 1, "span_max": 8, "depth_ratio": 0.15,
    "position_scale": 0.125, "neighbour_logits": True,
}
#: Values of the keys added after the first models were saved, as those models were trained:
#: a file whose config lacks a key loads with this value, not the newer default.
LEGACY_CONFIG = {"position_scale": 1.0, "neighbour_logits": False}
#: Largest model a config may describe (20 MB of float32 weights): a file's config is checked
#: against it before anything is allocated.
MAX_TOKEN_MODEL_PARAMS = 5_000_000

_INT_RANGES = {"n_q": (1, 32), "codebook_size": (2, 65536), "d_model": (8, 2048),
               "n_layers": (1, 48), "n_heads": (1, 64), "dim_feedforward": (8, 16384),
               "max_frames": (2, 100_000), "span_min": (1, 10_000), "span_max": (1, 10_000)}
_FLOAT_RANGES = {"dropout": (0.0, 0.9), "span_ratio": (0.0, 0.95), "depth_ratio": (0.0, 1.0),
                 "position_scale": (0.0, 10.0)}
_BOOL_KEYS = ("neighbour_logits",)


def token_model_size(config):
    """Parameters of a :class:`TokenTransformer` of ``config`` (computed, nothing built)."""
    n_q, k, d = config["n_q"], config["codebook_size"], config["d_model"]
    ff, layers = config["dim_feedforward"], config["n_layers"]
    per_layer = 4 * d * d + 4 * d + 2 * d * ff + ff + d + 4 * d
    neighbours = 2 * n_q * (k + 1) * k if config.get("neighbour_logits") else 0
    return (n_q * (k + 1) * d + layers * per_layer + 2 * d + n_q * k * d + n_q * k
            + neighbours)


def check_token_model_config(config):
    """Validate a token-model config; return it completed with the defaults.

    Parameters
    ----------
    config : dict
        Keys of :data:`TOKEN_MODEL_CONFIG` (missing ones take their defaults).

    Returns
    -------
    config : dict
        A new dict with every key.

    Raises
    ------
    TypeError
        If ``config`` is not a dict.
    ValueError
        If a key is unknown, a value has the wrong type or range, ``d_model`` is not a
        multiple of ``n_heads``, ``span_min > span_max``, or the model would exceed
        :data:`MAX_TOKEN_MODEL_PARAMS` parameters.
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict of token-model settings; got "
                        f"{type(config).__name__}.")
    unknown = sorted(set(config) - set(TOKEN_MODEL_CONFIG))
    if unknown:
        raise ValueError(f"config has unknown keys {unknown[:10]}; the keys are "
                         f"{sorted(TOKEN_MODEL_CONFIG)}.")
    full = dict(TOKEN_MODEL_CONFIG, **config)
    for key, (low, high) in _INT_RANGES.items():
        value = full[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"config[{key!r}] must be an int in [{low}, {high}]; got "
                             f"{value!r:.80}.")
    for key, (low, high) in _FLOAT_RANGES.items():
        value = full[key]
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not low <= value <= high):
            raise ValueError(f"config[{key!r}] must be a number in [{low}, {high}]; got "
                             f"{value!r:.80}.")
        full[key] = float(value)
    for key in _BOOL_KEYS:
        if not isinstance(full[key], bool):
            raise ValueError(f"config[{key!r}] must be true or false; got {full[key]!r:.80}.")
    if full["d_model"] % full["n_heads"]:
        raise ValueError(f"config['d_model'] ({full['d_model']}) must be a multiple of "
                         f"config['n_heads'] ({full['n_heads']}).")
    if full["span_min"] > full["span_max"]:
        raise ValueError(f"config['span_min'] ({full['span_min']}) must not exceed "
                         f"config['span_max'] ({full['span_max']}).")
    size = token_model_size(full)
    if size > MAX_TOKEN_MODEL_PARAMS:
        raise ValueError(f"config describes a model of {size:,} parameters; at most "
                         f"{MAX_TOKEN_MODEL_PARAMS:,} are allowed (20 MB of weights). Lower "
                         "d_model, n_layers, dim_feedforward or codebook_size.")
    return full


class TokenTransformer(nn.Module):
    """A bidirectional transformer over one channel's token frames, one head per level.

    A frame's input vector is the sum of its ``n_q`` code embeddings (one table per level,
    each with an extra [MASK] row standing for a hidden code of that level) plus a sinusoidal
    frame-position encoding times ``config["position_scale"]`` (norm ``position_scale *
    sqrt(d_model / 2)``); pre-norm transformer layers mix the frames; a linear head per
    level gives the logits of that level's code, plus, with ``config["neighbour_logits"]``,
    two learnt tables read at the visible codes of the same level in the previous and the
    next frame (:meth:`neighbour_logits`).

    Parameters
    ----------
    config : dict | None
        Architecture and masking settings (:data:`TOKEN_MODEL_CONFIG`, checked by
        :func:`check_token_model_config`); None takes the defaults.

    Attributes
    ----------
    config : dict
        The complete, checked config.
    mask_index : int
        Index of the [MASK] row in every level's table (``codebook_size``).
    """

    def __init__(self, config=None):
        super().__init__()
        self.config = check_token_model_config({} if config is None else config)
        c = self.config
        self.n_q, self.codebook_size = c["n_q"], c["codebook_size"]
        self.mask_index = self.codebook_size
        self.embedding = nn.Embedding(self.n_q * (self.codebook_size + 1), c["d_model"])
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.register_buffer("offsets", torch.arange(self.n_q) * (self.codebook_size + 1),
                             persistent=False)
        positions = sinusoidal_encoding(c["max_frames"], c["d_model"])
        self.register_buffer("positions", positions * c["position_scale"], persistent=False)
        layer = nn.TransformerEncoderLayer(
            c["d_model"], c["n_heads"], c["dim_feedforward"], c["dropout"],
            activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c["n_layers"], enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c["d_model"])
        self.heads = nn.Linear(c["d_model"], self.n_q * self.codebook_size)
        if c["neighbour_logits"]:
            rows = self.n_q * (self.codebook_size + 1)
            self.previous = nn.Embedding(rows, self.codebook_size)
            self.following = nn.Embedding(rows, self.codebook_size)
            nn.init.zeros_(self.previous.weight)
            nn.init.zeros_(self.following.weight)

    @property
    def device(self):
        return self.embedding.weight.device

    def _check_codes(self, codes, mask):
        if codes.ndim != 3 or codes.shape[1] != self.n_q:
            raise ValueError(f"codes must have shape [batch, {self.n_q}, n_frames] (n_q "
                             f"levels); got {tuple(codes.shape)}.")
        if codes.shape[2] > self.config["max_frames"]:
            raise ValueError(f"codes hold {codes.shape[2]} frames; this model takes at most "
                             f"max_frames={self.config['max_frames']}. Score shorter windows.")
        if mask is not None and mask.shape != codes.shape:
            raise ValueError(f"mask must have the shape of codes {tuple(codes.shape)}; got "
                             f"{tuple(mask.shape)}.")

    def embed(self, codes, mask=None):
        """Frame vectors ``[batch, n_frames, d_model]`` of codes ``[batch, n_q, n_frames]``
        with the codes where ``mask`` (bool, same shape) is True replaced by [MASK]."""
        self._check_codes(codes, mask)
        codes = codes.long()
        if mask is not None:
            codes = codes.masked_fill(mask, self.mask_index)
        index = codes.transpose(1, 2) + self.offsets  # [B, T, n_q] rows of the one table
        return self.embedding(index).sum(dim=2) + self.positions[: codes.shape[2]]

    def contextualize(self, codes, mask=None):
        """Contextual frame states ``[batch, n_frames, d_model]`` (after the final norm)."""
        return self.norm(self.encoder(self.embed(codes, mask)))

    def logits(self, states):
        """Code logits ``[batch, n_q, n_frames, codebook_size]`` from frame states."""
        batch, n_frames, _ = states.shape
        out = self.heads(states).view(batch, n_frames, self.n_q, self.codebook_size)
        return out.transpose(1, 2)

    def neighbour_logits(self, codes, mask=None):
        """The two table terms ``[batch, n_q, n_frames, codebook_size]`` read at the previous
        and the next frames' visible codes of each level (an empty tuple without
        ``neighbour_logits``)."""
        if not self.config["neighbour_logits"]:
            return ()
        codes = codes.long()
        if mask is not None:
            codes = codes.masked_fill(mask, self.mask_index)
        absent = torch.full_like(codes[:, :, :1], self.mask_index)
        offsets = self.offsets[None, :, None]
        before = torch.cat([absent, codes[:, :, :-1]], dim=2) + offsets
        after = torch.cat([codes[:, :, 1:], absent], dim=2) + offsets
        return self.previous(before), self.following(after)

    def forward(self, codes, mask=None):
        """Logits ``[batch, n_q, n_frames, codebook_size]`` of codes ``[batch, n_q,
        n_frames]`` (integers) with the positions where ``mask`` is True hidden."""
        logits = self.logits(self.contextualize(codes, mask))
        return sum(self.neighbour_logits(codes, mask), logits)


def sample_mask(n_sequences, n_q, n_frames, config, generator=None, device=None):
    """A random training mask: spans of whole frames plus deeper levels of single frames.

    Parameters
    ----------
    n_sequences, n_q, n_frames : int
        Shape of the codes to mask.
    config : dict
        ``span_ratio``, ``span_min``, ``span_max`` and ``depth_ratio`` (a model's config).
    generator : torch.Generator | None
        Source of randomness (torch's global generator when None).
    device : torch.device | None
        Where to build the mask.

    Returns
    -------
    mask : BoolTensor, shape [n_sequences, n_q, n_frames]
        True where a code is hidden. At least one code of every sequence is hidden.
    """
    def uniform(*shape):
        return torch.rand(shape, generator=generator, device=device)

    lo, hi = config["span_min"], config["span_max"]
    mean_length = (lo + hi) / 2
    # a start probability that hides about span_ratio of the frames once spans overlap
    p_start = 1.0 - (1.0 - config["span_ratio"]) ** (1.0 / mean_length)
    starts = uniform(n_sequences, n_frames) < p_start
    lengths = lo + (uniform(n_sequences, n_frames) * (hi - lo + 1)).long().clamp(max=hi - lo)
    frames = torch.arange(n_frames, device=device)
    ends = torch.where(starts, frames + lengths, torch.zeros_like(lengths))
    # a frame is in a span when some start at or before it reaches past it
    spans = ends.cummax(dim=1).values > frames
    deep = (~spans) & (uniform(n_sequences, n_frames) < config["depth_ratio"])
    first_hidden = 1 + (uniform(n_sequences, n_frames) * max(n_q - 1, 1)).long()
    levels = torch.arange(n_q, device=device)[None, :, None]
    mask = spans[:, None, :] | (deep[:, None, :] & (levels >= first_hidden[:, None, :]))
    empty = ~mask.flatten(1).any(dim=1)
    if bool(empty.any()):
        # a sequence with nothing hidden has no loss: hide one random frame of it
        pick = (uniform(n_sequences) * n_frames).long()
        mask[empty, :, pick[empty]] = True
    return mask


def schedule_masks(n_q, n_frames, span=4, n_groups=2, device=None):
    """The fixed scoring schedule: ``n_groups`` masks that each hide whole frames.

    Frames are cut into blocks of ``span`` frames; mask ``g`` hides the blocks whose index is
    ``g`` modulo ``n_groups``, so every frame is hidden by exactly one mask.

    Returns
    -------
    masks : BoolTensor, shape [n_groups, n_q, n_frames]
    """
    if isinstance(span, bool) or not isinstance(span, int) or span < 1:
        raise ValueError(f"span must be a positive int (frames per hidden block); got "
                         f"{span!r}.")
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or n_groups < 1:
        raise ValueError(f"n_groups must be a positive int (scoring passes); got "
                         f"{n_groups!r}.")
    group = (torch.arange(n_frames, device=device) // span) % n_groups
    masks = group[None, :] == torch.arange(n_groups, device=device)[:, None]
    return masks[:, None, :].expand(n_groups, n_q, n_frames)


def masked_loss(logits, codes, mask):
    """Cross-entropy of the hidden codes, averaged per level, then over the levels present.

    Parameters
    ----------
    logits : Tensor, shape [batch, n_q, n_frames, codebook_size]
    codes : Tensor, shape [batch, n_q, n_frames]
    mask : BoolTensor, shape [batch, n_q, n_frames]

    Returns
    -------
    loss : Tensor
        Scalar.
    per_level : Tensor, shape [n_q]
        The mean cross-entropy of each level (NaN for a level with nothing hidden).
    """
    nll = F.cross_entropy(logits.flatten(0, 2), codes.long().flatten(), reduction="none")
    nll = nll.view(codes.shape)
    weights = mask.to(nll.dtype)
    counts = weights.sum(dim=(0, 2))
    per_level = (nll * weights).sum(dim=(0, 2)) / counts.clamp(min=1)
    present = counts > 0
    loss = per_level[present].mean()
    return loss, torch.where(present, per_level, torch.full_like(per_level, float("nan")))


def _batches(model, codes, batch_size):
    """``(rows, codes)`` per batch of sequences, as int64 on the model's device (eval mode)."""
    model.eval()
    codes = torch.as_tensor(codes)
    for start in range(0, len(codes), batch_size):
        chunk = codes[start:start + batch_size]
        yield slice(start, start + len(chunk)), chunk.to(model.device).long()


@torch.no_grad()
def token_log_likelihood(model, codes, span=4, n_groups=2, batch_size=256):
    """Log-probability of every code under the fixed masking schedule (deterministic).

    Parameters
    ----------
    model : TokenTransformer
        The model (put in eval mode here).
    codes : Tensor | ndarray, shape [n_sequences, n_q, n_frames]
        Integer codes.
    span, n_groups : int
        The schedule (:func:`schedule_masks`): each code is scored in the pass that hides the
        block of ``span`` frames it lies in, with its neighbours outside the block visible.
    batch_size : int, default=256
        Sequences per forward pass.

    Returns
    -------
    log_prob : Tensor of float32, shape [n_sequences, n_q, n_frames]
        Natural log-probability of each code (on the CPU).
    predicted : Tensor of int64, shape [n_sequences, n_q, n_frames]
        The most probable code at each position.
    """
    shape = tuple(np.shape(codes))
    masks = schedule_masks(model.n_q, shape[-1], span, n_groups, device=model.device)
    log_prob = torch.empty(shape, dtype=torch.float32)
    predicted = torch.empty(shape, dtype=torch.int64)
    for rows, chunk in _batches(model, codes, batch_size):
        for mask in masks:
            batch_mask = mask.expand_as(chunk)
            logp = model(chunk, batch_mask).log_softmax(dim=-1)
            picked = logp.gather(-1, chunk[..., None])[..., 0]
            hidden = mask[0]
            log_prob[rows][:, :, hidden.cpu()] = picked[:, :, hidden].float().cpu()
            predicted[rows][:, :, hidden.cpu()] = logp.argmax(dim=-1)[:, :, hidden].cpu()
    return log_prob, predicted


@torch.no_grad()
def pooled_states(model, codes, batch_size=256):
    """Mean over frames of the contextual states of codes ``[n_sequences, n_q, n_frames]``,
    nothing hidden: ``[n_sequences, d_model]`` float32 on the CPU (eval mode; arguments as
    for :func:`token_log_likelihood`)."""
    out = torch.empty(len(codes), model.config["d_model"], dtype=torch.float32)
    for rows, chunk in _batches(model, codes, batch_size):
        out[rows] = model.contextualize(chunk).mean(dim=1).float().cpu()
    return out
