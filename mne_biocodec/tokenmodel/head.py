"""Classification heads that start from the pretrained token model (for fine-tuning).

- :class:`TokenModelHead`: the token model's pooled contextual states and one linear layer,
  the transformer fine-tuned with it (or frozen: a linear probe);
- :class:`TokenModelCovarianceHead`: the covariance head of
  :class:`~mne_biocodec.BioCodecClassifier` with the frozen token model's pooled states
  appended to its tangent vector.
"""

import functools
import hashlib

import torch
from torch import nn

from ..estimators.head import TokenCovarianceHead
from ..tokens.cache import ByteBoundedLRU
from .io import load_token_model

__all__ = ["TokenModelHead", "TokenModelCovarianceHead", "TokenModelFeatures",
           "check_token_codec", "FROZEN_FEATURE_CACHE_BYTES"]

#: Bytes of frozen token-model features kept in memory across heads (least recently used
#: epochs dropped first): the folds of a cross-validation and the clones of a search then
#: run the transformer once per epoch, not once per fold and training epoch.
FROZEN_FEATURE_CACHE_BYTES = 512 << 20

_POOLINGS = ("channels", "mean")


_CACHE = ByteBoundedLRU(sizeof=lambda row: row.numel() * row.element_size())


@functools.lru_cache(maxsize=4)
def _codec_codebooks(source):
    from ..codec import load_codec

    return load_codec(source, device="cpu").codebook_vectors()


def check_token_codec(model, codebooks):
    """Refuse code vectors from another codec than the one the token model read.

    A token model predicts the codes of one codec: the same code numbers from another codec
    (``biocodec-eeg-v2`` for a model pretrained on v1 tokens) mean other signals, and nothing
    downstream would notice.

    Parameters
    ----------
    model : TokenTransformer
        A loaded token model (its ``codec_info["source"]`` names its codec).
    codebooks : Tensor, shape [n_q, codebook_size, d] | None
        The code vectors of the codec the codes come from, as
        :class:`~mne_biocodec.BioCodecClassifier` hands them to its head; None skips the
        check, as does a model whose codec cannot be loaded here.

    Raises
    ------
    ValueError
        If the codebooks differ from the token model's codec's.
    """
    source = (getattr(model, "codec_info", None) or {}).get("source")
    if codebooks is None or not source:
        return
    try:
        expected = _codec_codebooks(str(source))
    except (ValueError, OSError):
        return
    given = torch.as_tensor(codebooks, dtype=torch.float32)
    expected = expected[: given.shape[0]]
    if given.shape != expected.shape or not torch.allclose(given, expected):
        raise ValueError(
            f"The token model reads the tokens of codec {source!r}, but the codes come from "
            f"a codec with other codebooks: pass codec={source!r} to the classifier (or "
            "tokenizer) that feeds it.")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}.")


class TokenModelFeatures(nn.Module):
    """Per-channel contextual states of codes ``[B, n_chans, n_q, n_frames]`` -> ``[B,
    n_chans, d_model]``: each channel's codes through the pretrained
    :class:`~mne_biocodec.tokenmodel.TokenTransformer` (nothing hidden), averaged over frames.

    Parameters
    ----------
    n_q, codebook_size : int
        Levels and codes per level of the codes given: they must be the token model's.
    pretrained : str | path-like, default="token-model-eeg"
        The token model (:func:`~mne_biocodec.tokenmodel.load_token_model`).
    freeze : bool, default=False
        Keep the token model fixed and in eval mode (no dropout). Its features are then a
        function of the codes alone and are computed once per epoch in the process
        (:data:`FROZEN_FEATURE_CACHE_BYTES`), whatever the number of folds and training
        epochs.
    n_layers : int | None, default=None
        Keep only the first ``n_layers`` transformer layers (then the model's final norm):
        cheaper, and lower layers may carry more general features. None keeps them all.
    codebooks : Tensor, shape [n_q, codebook_size, d] | None
        Code vectors of the codec the codes come from: refused unless they are the token
        model's codec's (:func:`check_token_codec`); None skips the check.
    """

    def __init__(self, n_q, codebook_size, pretrained="token-model-eeg", freeze=False,
                 n_layers=None, codebooks=None):
        super().__init__()
        self.token_model = load_token_model(pretrained, device="cpu")
        model = self.token_model
        check_token_codec(model, codebooks)
        if (n_q, codebook_size) != (model.n_q, model.codebook_size):
            raise ValueError(
                f"The token model reads {model.n_q} levels of {model.codebook_size} codes; "
                f"the codes have {n_q} of {codebook_size}. Tokenise with the model's codec "
                "and all its codebooks.")
        total = len(model.encoder.layers)
        if n_layers is not None:
            if (isinstance(n_layers, bool) or not isinstance(n_layers, int)
                    or not 1 <= n_layers <= total):
                raise ValueError(f"n_layers must be None or an int in [1, {total}] (the token "
                                 f"model's layers); got {n_layers!r}.")
            model.encoder.layers = model.encoder.layers[:n_layers]
            model.encoder.num_layers = n_layers
        self.n_layers = total if n_layers is None else n_layers
        self.freeze = bool(freeze)
        model.requires_grad_(not self.freeze)
        self.width = model.config["d_model"]
        self._digest, self._digest_state = None, None
        if self.freeze:
            model.eval()

    def train(self, mode=True):
        super().train(mode)
        if self.freeze:
            self.token_model.eval()  # no dropout: frozen features must be deterministic
        return self

    def states(self, codes):
        """Mean contextual states ``[B, n_chans, d_model]``, computed (no cache)."""
        batch, n_chans = codes.shape[:2]
        states = self.token_model.contextualize(codes.long().flatten(0, 1))
        return states.mean(dim=1).view(batch, n_chans, -1)

    def weights_digest(self):
        """Digest of the token model's weights and layers (the cache's key), recomputed only
        when a tensor was written to since (``load_state_dict``, a device move)."""
        tensors = self.token_model.state_dict()
        state = tuple((t._version, t.data_ptr()) for t in tensors.values())
        if state != self._digest_state:
            digest = hashlib.blake2b(str(self.n_layers).encode(), digest_size=16)
            for name, tensor in sorted(tensors.items()):
                digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
            self._digest, self._digest_state = digest.digest(), state
        return self._digest

    def forward(self, codes):
        if not self.freeze:
            return self.states(codes)
        rows = codes.detach().to("cpu", torch.int32).numpy()
        model_key = self.weights_digest()
        keys = [model_key + hashlib.blake2b(r.tobytes() + str(r.shape).encode(),
                                               digest_size=16).digest() for r in rows]
        found = [_CACHE.get(key) for key in keys]
        todo = [i for i, row in enumerate(found) if row is None]
        if todo:
            with torch.no_grad():
                fresh = self.states(codes[todo]).cpu()
            for i, row in zip(todo, fresh):
                found[i] = row.clone()
                _CACHE.put(keys[i], found[i], FROZEN_FEATURE_CACHE_BYTES)
        return torch.stack(found).to(codes.device)


class TokenModelHead(nn.Module):
    """Classify codes ``[B, n_chans, n_q, n_frames]`` from a token model's contextual states.

    Each channel's codes go through the pretrained
    :class:`~mne_biocodec.tokenmodel.TokenTransformer` (:class:`TokenModelFeatures`); its
    states are averaged over frames (and over channels with ``pooling="mean"``), the
    channels' standardised log scales appended (``use_scale``), and dropout and one linear
    layer give the class scores. The transformer is fine-tuned with the linear layer unless
    ``freeze``. Built by :class:`~mne_biocodec.BioCodecClassifier` with
    ``module=TokenModelHead`` (its data-dependent arguments are those below;
    ``d_model`` is not used; ``codebooks``, the codec's code vectors, must be those of the
    token model's codec, :func:`check_token_codec`).

    Parameters
    ----------
    n_chans, n_outputs : int
        Channels of the codes and classes to score.
    n_q, codebook_size : int, default=6, 256
        Levels and codes per level of the codes given: they must be the token model's.
    d_model : object
        Ignored (passed by the classifier to every head).
    codebooks : Tensor, shape [n_q, codebook_size, d] | None
        The classifier's codec's code vectors, checked against the token model's codec.
    use_scale : bool, default=False
        Append the standardised log scales ``[B, n_chans]`` to the features.
    pretrained : str | path-like, default="token-model-eeg"
        The token model (:func:`~mne_biocodec.tokenmodel.load_token_model`).
    freeze : bool, default=False
        Keep the token model's weights fixed (train the linear layer only: a linear probe,
        its features computed once per epoch, see :class:`TokenModelFeatures`).
    dropout : float, default=0.3
        Dropout on the features.
    n_layers : int | None, default=None
        Token-model layers used (the first ones; None: all).
    pooling : {"channels", "mean"}, default="channels"
        ``"channels"``: one state per channel, ``n_chans * d_model`` features (spatial
        information kept); ``"mean"``: the states averaged over channels, ``d_model``
        features whatever the montage (fewer weights to learn from few trials).
    """

    def __init__(self, n_chans, n_outputs, n_q=6, codebook_size=256, d_model=None,
                 codebooks=None, use_scale=False, pretrained="token-model-eeg", freeze=False,
                 dropout=0.3, n_layers=None, pooling="channels"):
        super().__init__()
        _check_choice("pooling", pooling, _POOLINGS)
        self.features = TokenModelFeatures(n_q, codebook_size, pretrained, freeze, n_layers,
                                           codebooks=codebooks)
        self.use_scale, self.pooling = bool(use_scale), pooling
        width = self.features.width
        n_features = ((width + int(self.use_scale)) * n_chans if pooling == "channels"
                      else width + n_chans * int(self.use_scale))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_features, n_outputs))

    @property
    def token_model(self):
        """The (fine-tuned) :class:`~mne_biocodec.tokenmodel.TokenTransformer`."""
        return self.features.token_model

    def forward(self, codes, log_scale=None):
        states = self.features(codes)
        if self.use_scale and log_scale is None:
            raise ValueError("this head was built with use_scale=True: pass log_scale "
                             "[batch, n_chans] too.")
        if self.pooling == "mean":
            parts = [states.mean(dim=1)]
            if self.use_scale:
                parts.append(log_scale.to(states.dtype))
            return self.classifier(torch.cat(parts, dim=1))
        if self.use_scale:
            states = torch.cat([states, log_scale.to(states.dtype)[..., None]], dim=-1)
        return self.classifier(states.flatten(1))


class TokenModelCovarianceHead(TokenCovarianceHead):
    """The covariance head with the frozen token model's states next to its tangent vector.

    :class:`~mne_biocodec.estimators.head.TokenCovarianceHead` (the default head of
    :class:`~mne_biocodec.BioCodecClassifier`: the tangent vector of the channels' token
    covariance and their log power) sees the channels' joint second-order statistics; the
    pretrained token model sees each channel's token sequence in context (waveform and
    rhythm). Here the frozen model's states, averaged over frames and channels
    (``pooling="mean"``: ``d_model`` features for any montage) or per channel, are
    standardised with the training epochs' mean and deviation (set with
    :meth:`set_reference`, as the tangent space's reference point), multiplied by
    ``token_weight`` and appended to the covariance head's features; dropout and one linear
    layer give the class scores. Nothing before the linear layer trains (the token model's
    features are computed once per epoch, see :class:`TokenModelFeatures`). Built by
    ``BioCodecClassifier(module=TokenModelCovarianceHead)``, which treats it as the
    covariance head (its learning rate, epochs and scale statistics).

    Parameters
    ----------
    n_chans, n_outputs, n_q, codebook_size, d_model, codebooks, use_scale, scale_mean, \
scale_std
        As for :class:`~mne_biocodec.estimators.head.TokenCovarianceHead`.
    pretrained : str | path-like, default="token-model-eeg"
        The token model (:func:`~mne_biocodec.tokenmodel.load_token_model`).
    n_layers : int | None, default=None
        Token-model layers used (the first ones; None: all).
    pooling : {"mean", "channels"}, default="mean"
        The token model's states averaged over channels (``d_model`` features) or kept per
        channel (``n_chans * d_model``).
    token_weight : float, default=0.03
        Factor on the standardised token-model features: the smaller, the less the linear
        layer leans on them (its steps and weight decay do not depend on the feature
        scale). Chosen on development data (``benchmarks/token_model_finetune.py --dev``):
        on the executed left/right fist runs of eegmmidb subjects 1-5 (5-fold), mean ROC
        AUC 71.6 with 0.03, 70.4 with 0.1, 69.4 with 0.3 and 69.6 with 1.0 (the covariance
        head alone: 72.8; the token model's states carry no motor-imagery information
        there); leave one subject out among eegmat's codec-training subjects, balanced
        accuracy 51.9, 51.4, 51.7 and 51.1 (alone: 50.3).
    **kwargs
        Other :class:`~mne_biocodec.estimators.head.TokenCovarianceHead` arguments
        (``n_codebooks``, ``shrinkage``, ``crop``, ``dropout``, ``log_power``).
    """

    def __init__(self, n_chans, n_outputs, n_q=6, codebook_size=256, d_model=16,
                 codebooks=None, use_scale=True, scale_mean=None, scale_std=None,
                 pretrained="token-model-eeg", n_layers=None, pooling="mean",
                 token_weight=0.03, **kwargs):
        super().__init__(n_chans, n_outputs, n_q=n_q, codebook_size=codebook_size,
                         d_model=d_model, codebooks=codebooks, use_scale=use_scale,
                         scale_mean=scale_mean, scale_std=scale_std, **kwargs)
        _check_choice("pooling", pooling, _POOLINGS)
        if not 0.0 < float(token_weight) < float("inf"):
            raise ValueError(f"token_weight must be a positive number; got {token_weight!r}.")
        self.token_features = TokenModelFeatures(n_q, codebook_size, pretrained, freeze=True,
                                                 n_layers=n_layers, codebooks=codebooks)
        self.pooling, self.token_weight = pooling, float(token_weight)
        width = self.token_features.width * (n_chans if pooling == "channels" else 1)
        self.register_buffer("token_mean", torch.zeros(width))
        self.register_buffer("token_std", torch.ones(width))
        linear = self.classifier[-1]
        self.classifier[-1] = nn.Linear(linear.in_features + width, n_outputs)

    def pooled_token_states(self, codes):
        """The token model's pooled states ``[B, d_model]`` or ``[B, n_chans * d_model]``,
        before standardisation."""
        states = self.token_features(codes)
        return states.mean(dim=1) if self.pooling == "mean" else states.flatten(1)

    @torch.no_grad()
    def set_reference(self, codes, log_scale=None, batch_size=64):
        """The covariance head's reference point (see :class:`~mne_biocodec.estimators.
        head.TokenCovarianceHead`) and the mean and deviation of the token-model features
        of the training ``codes``."""
        super().set_reference(codes, log_scale, batch_size)
        feats = torch.cat([self.pooled_token_states(codes[start:start + batch_size])
                           for start in range(0, len(codes), batch_size)])
        self.token_mean.copy_(feats.mean(dim=0))
        # a floor: a feature constant over few training epochs must not blow up
        self.token_std.copy_(feats.std(dim=0, unbiased=False).clamp(min=1e-3))
        return self

    def forward(self, codes, log_scale=None, recentring=None):
        features = self.features(codes, log_scale, recentring)
        tokens = (self.pooled_token_states(codes) - self.token_mean) / self.token_std
        features = torch.cat([features, self.token_weight * tokens.to(features.dtype)], dim=1)
        return self.classifier(features)
