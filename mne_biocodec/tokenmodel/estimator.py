"""BioCodecTokenModel: the pretrained token model as a scikit-learn transformer."""

import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..codec import BioCodec, default_device
from ..estimators import BioCodecTokenizer
from ..tokens import TokenSet
from .io import load_token_model
from .model import TokenTransformer, pooled_states, token_log_likelihood
from .pretrain import make_net

__all__ = ["BioCodecTokenModel", "DEFAULT_CODEC"]

#: Codec of a model that does not record one (a model trained from scratch here).
DEFAULT_CODEC = "biocodec-eeg"


def split_frames(codes, window):
    """Consecutive pieces of codes ``(n, n_q, n_frames)`` as close to ``window`` frames as
    can be: ``round(n_frames / window)`` pieces (at least one) of equal length +- 1."""
    n_pieces = max(1, int(round(codes.shape[-1] / window)))
    return np.array_split(codes, n_pieces, axis=-1)


class BioCodecTokenModel(TransformerMixin, BaseEstimator):
    """Contextual embeddings and typicality scores of epochs from a pretrained token model.

    The epochs are tokenised by :class:`~mne_biocodec.BioCodecTokenizer` (the codec the
    model was pretrained on); each channel's tokens are one sequence for a
    :class:`~mne_biocodec.tokenmodel.TokenTransformer`, pretrained by masked code modelling
    (any montage, channels independent). ``fit`` continues that self-supervised training on
    the data given (no labels); ``transform`` gives pooled contextual embeddings;
    ``score_samples`` the mean log-likelihood of the tokens (how typical an epoch is).

    Parameters
    ----------
    pretrained : str | path-like | None, default="token-model-eeg"
        The model to start from: the shipped name, a file
        (:func:`~mne_biocodec.tokenmodel.load_token_model`), or None to start from random
        weights of ``config``.
    codec : str | path-like | BioCodec | None, default=None
        The codec; None takes the one the model records (the shipped EEG codec). A codec
        other than the model's is refused (its tokens mean something else).
    sfreq : float | None, default=None
        Sampling rate of array input in Hz (taken from ``mne.Epochs``).
    config : dict | None, default=None
        Architecture of a model trained from scratch (``pretrained=None``;
        :data:`~mne_biocodec.tokenmodel.TOKEN_MODEL_CONFIG`).
    max_epochs : int, default=1
        Passes over the data of self-supervised training in ``fit``; 0 only loads the model.
    lr : float, default=1e-4
        Peak learning rate of that training (warm-up over 10 % of the steps, cosine decay).
    batch_size : int, default=64
        Channel sequences per step (and per forward pass when scoring).
    pooling : {"mean", "channels"}, default="mean"
        ``transform``'s features: the contextual states averaged over frames and channels,
        ``(n_epochs, d_model)`` for any montage; or averaged over frames per channel,
        ``(n_epochs, n_chans * d_model)`` (spatial information kept).
    score_span : int, default=4
        Frames per hidden block of the fixed scoring schedule
        (:func:`~mne_biocodec.tokenmodel.model.schedule_masks`).
    score_groups : int, default=2
        Passes of that schedule (each hides one block in ``score_groups``).
    device : str | None, default=None
        ``"cuda"`` when available, else ``"cpu"``.
    cache : bool | str | path-like | None, default=None
        Token cache of the tokenizer (:class:`~mne_biocodec.BioCodecTokenizer`).
    random_state : int | None, default=None
        Seeds torch: the initial weights (``pretrained=None``) and the training masks and
        order.

    Attributes
    ----------
    tokenizer_ : BioCodecTokenizer
        The fitted tokenizer (``output="codes"``).
    model_ : TokenTransformer
        The model after ``fit``, in eval mode.
    window_frames_ : int
        Frames per sequence the model was trained on; epochs of more frames are cut into
        ``round(n_frames / window_frames_)`` consecutive pieces, scored and embedded piece by
        piece (the results weighted by the pieces' lengths).
    history_ : skorch.history.History | None
        The training history (None when ``max_epochs`` is 0).
    n_chans_ : int
        Channels seen in ``fit``.
    n_features_in_ : int
        Same as ``n_chans_`` (the input is 3-D).
    ch_names_ : list of str | None
        Channels seen in ``fit`` (Epochs input); Epochs given later are matched to them.
    sfreq_ : float
        Sampling rate seen in ``fit``.

    See Also
    --------
    mne_biocodec.tokenmodel.annotate_unlikely : Mark improbable stretches of a recording.
    mne_biocodec.tokenmodel.forecast : Continue token streams.

    Notes
    -----
    ``score_samples`` is a pseudo-log-likelihood: each code is scored from the model's
    prediction with its block of ``score_span`` frames hidden and the rest visible, with a
    fixed schedule, so that the scores are deterministic and do not depend on the batch.
    """

    _parameter_constraints = {
        "pretrained": [str, os.PathLike, None],
        "codec": [str, os.PathLike, BioCodec, None],
        "sfreq": [Interval(Real, 0, None, closed="neither"), None],
        "config": [dict, None],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"mean", "channels"})],
        "score_span": [Interval(Integral, 1, None, closed="left")],
        "score_groups": [Interval(Integral, 1, None, closed="left")],
        "device": [str, None],
        "cache": ["boolean", str, os.PathLike, None],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(self, pretrained="token-model-eeg", codec=None, sfreq=None, config=None,
                 max_epochs=1, lr=1e-4, batch_size=64, pooling="mean", score_span=4,
                 score_groups=2, device=None, cache=None, random_state=None):
        self.pretrained = pretrained
        self.codec = codec
        self.sfreq = sfreq
        self.config = config
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.pooling = pooling
        self.score_span = score_span
        self.score_groups = score_groups
        self.device = device
        self.cache = cache
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags

    # -- fitting ------------------------------------------------------------------------
    def _initial_model(self):
        if self.pretrained is None:
            return TokenTransformer(self.config)
        if self.config is not None:
            raise ValueError("config sets the architecture of a model trained from scratch; "
                             f"got config with pretrained={self.pretrained!r}. Pass "
                             "pretrained=None to train a new model, or leave config None.")
        return load_token_model(self.pretrained, device="cpu")

    def _check_codec(self, model):
        recorded = getattr(model, "codec_info", {}) or {}
        codec = self.tokenizer_.codec_
        expected = recorded.get("weights_sha256")
        if expected is not None and codec.weights_sha256() != expected:
            raise ValueError(
                f"The token model was pretrained on the tokens of codec "
                f"{recorded.get('source') or recorded.get('name')!r} (weights "
                f"{str(expected)[:12]}...), but codec "
                f"{codec.config.get('name')!r} holds other weights "
                f"({codec.weights_sha256()[:12]}...). "
                "Leave codec=None to use the model's codec.")
        if (codec.n_q, codec.codebook_size) != (model.n_q, model.codebook_size):
            raise ValueError(
                f"The token model reads {model.n_q} levels of {model.codebook_size} codes; "
                f"codec {codec.config.get('name')!r} makes {codec.n_q} of "
                f"{codec.codebook_size}. Use a "
                "codec with the model's codebooks, or pretrained=None with a matching config.")

    def fit(self, X, y=None):
        """Tokenise ``X`` and continue the model's self-supervised training on it.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs | list of mne.Epochs | \
TokenSet
            Signals in volts, epochs, or tokens of this codec.
        y : None
            Ignored (self-supervised).

        Returns
        -------
        self : BioCodecTokenModel
        """
        self._validate_params()
        if self.random_state is not None:
            torch.manual_seed(self.random_state)  # the initial weights of pretrained=None
        model = self._initial_model()
        recorded = getattr(model, "codec_info", {}) or {}
        codec = self.codec if self.codec is not None else recorded.get("source", DEFAULT_CODEC)
        self.tokenizer_ = BioCodecTokenizer(codec=codec, output="codes", sfreq=self.sfreq,
                                            device=self.device, cache=self.cache).fit(X)
        self._check_codec(model)
        self.n_chans_ = self.tokenizer_.n_chans_
        self.n_features_in_ = self.n_chans_
        self.ch_names_ = self.tokenizer_.ch_names_
        self.sfreq_ = self.tokenizer_.sfreq_
        trained = (getattr(model, "training_info", {}) or {}).get("window_frames")
        # without training, a model that records its window needs no codes here: scoring or
        # embedding X afterwards would tokenise it a second time
        sequences = self._sequences(X) if self.max_epochs > 0 or not trained else None
        self.window_frames_ = int(min(model.config["max_frames"],
                                      trained or sequences.shape[-1]))
        self.history_ = None
        device = default_device(self.device)
        if self.max_epochs > 0:
            if self.random_state is not None:
                # again: tokenising must not change the masks and order drawn
                torch.manual_seed(self.random_state)
            # pieces of one length, so that they stack (array_split makes the first longer)
            pieces = split_frames(sequences, self.window_frames_)
            pieces = np.concatenate([p for p in pieces if p.shape[-1] == pieces[0].shape[-1]])
            steps = self.max_epochs * -(-len(pieces) // self.batch_size)
            net = make_net(model.config, self.lr, self.batch_size, steps, 0.1, 0.05, 0.01,
                           device)
            net.set_params(max_epochs=self.max_epochs)
            net.initialize()
            net.module_.model.load_state_dict(model.state_dict())
            net.fit(pieces)
            model = net.module_.model
            self.history_ = net.history
        self.model_ = model.to(device).eval()
        return self

    # -- tokens -------------------------------------------------------------------------
    def _codes(self, X):
        """Codes ``(n_epochs, n_chans, n_q, n_frames)`` of signals, epochs or tokens."""
        if isinstance(X, TokenSet):
            return np.asarray(self.tokenizer_.transform_tokens(X))
        return np.asarray(self.tokenizer_.transform(X))

    def _sequences(self, X):
        codes = self._codes(X)
        return codes.reshape(-1, *codes.shape[2:])

    def _per_piece(self, X, function):
        """``function(sequences)`` on each piece of the epochs' sequences, as
        ``(n_epochs, n_chans, ...)`` arrays, one per piece, with the piece lengths."""
        check_is_fitted(self, "model_")
        codes = self._codes(X)
        n_epochs, n_chans = codes.shape[:2]
        sequences = codes.reshape(-1, *codes.shape[2:])
        out = []
        for piece in split_frames(sequences, self.window_frames_):
            result = function(piece)
            out.append((result.reshape(n_epochs, n_chans, *result.shape[1:]), piece.shape[-1]))
        return out

    def _log_likelihood(self, X):
        """Mean token log-likelihood per epoch and channel ``(n_epochs, n_chans)``."""
        def score(piece):
            log_prob, _ = token_log_likelihood(self.model_, piece, self.score_span,
                                               self.score_groups, self.batch_size)
            return log_prob.double().mean(dim=(1, 2)).numpy()

        pieces = self._per_piece(X, score)
        weights = np.array([n for _, n in pieces], dtype=float)
        return sum(s * w for (s, _), w in zip(pieces, weights)) / weights.sum()

    # -- outputs ------------------------------------------------------------------------
    def transform(self, X):
        """Pooled contextual embeddings.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs | list of mne.Epochs | \
TokenSet
            Signals in volts, epochs (the fitted channels), or tokens.

        Returns
        -------
        Xt : ndarray of float32
            ``(n_epochs, d_model)`` (``pooling="mean"``) or ``(n_epochs, n_chans *
            d_model)`` (``pooling="channels"``).
        """
        pieces = self._per_piece(X, lambda p: pooled_states(self.model_, p,
                                                            self.batch_size).numpy())
        weights = np.array([n for _, n in pieces], dtype=float)
        states = sum(s * w for (s, _), w in zip(pieces, weights)) / weights.sum()
        if self.pooling == "channels":
            return states.reshape(len(states), -1).astype(np.float32)
        return states.mean(axis=1).astype(np.float32)

    def score_samples(self, X):
        """Mean token log-likelihood of each epoch (higher: more typical).

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs | list of mne.Epochs | \
TokenSet
            Signals in volts, epochs, or tokens.

        Returns
        -------
        scores : ndarray of float64, shape (n_epochs,)
            Natural log-probability per code, averaged over channels, levels and frames.
        """
        return self._log_likelihood(X).mean(axis=1)

    def score_samples_channels(self, X):
        """Mean token log-likelihood of each channel of each epoch.

        Returns
        -------
        scores : ndarray of float64, shape (n_epochs, n_chans)
        """
        return self._log_likelihood(X)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` over the epochs (``y`` ignored)."""
        return float(np.mean(self.score_samples(X)))

    def get_feature_names_out(self, input_features=None):
        """Names of :meth:`transform`'s features (``embedding<i>``, or ``<channel>_
        embedding<i>`` with ``pooling="channels"``)."""
        check_is_fitted(self, "model_")
        dims = [f"embedding{i}" for i in range(self.model_.config["d_model"])]
        if self.pooling == "mean":
            return np.asarray(dims, dtype=object)
        names = input_features or self.ch_names_ or [f"ch{i}" for i in range(self.n_chans_)]
        if len(names) != self.n_chans_:
            raise ValueError(f"input_features has {len(names)} names; the model was fitted "
                             f"with {self.n_chans_} channels.")
        return np.asarray([f"{ch}_{d}" for ch in names for d in dims], dtype=object)
