"""BioCodecTokenizer: codec tokens as a scikit-learn transformer."""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..codec import BioCodec, load_codec
from ..preprocessing import check_sfreq, check_signal_array, prepare_signals
from ..tokens import TokenSet, detokenize, tokenize
from ._input import check_not_bool, is_epochs, resolve_input
from .features import (band_power_bands, default_bands, token_band_power, token_coherence,
                       token_covariances, token_feature_names, token_features)

__all__ = ["BioCodecTokenizer"]

OUTPUTS = ("auto", "tangent", "spatial", "embedding", "histogram", "bandpower", "coherence",
           "decoded", "codes")
# The "tangent" matrices: codebook 1 only, shrinkage 0.5, trace-normalised. Chosen on
# eegmmidb subjects 2-5 (subject 1 held out) among 50 token feature sets with
# LogisticRegression() at its defaults: benchmarks/default_features.py (deeper codebooks add
# detail that the spatial covariance does not need, and 64 channels' streams of a 2-s epoch
# are too short for less shrinkage). The classifier head's shrinkage="auto" (n_chans /
# (n_chans + n_frames)) was tried here too (benchmarks/crosssub_defaults.py): the same 62.2
# on imagery subjects 2-5 (repeated 5 x 4 folds) and 55.0 against 52.8 balanced accuracy on
# eegmat across the codec-training subjects, but 0.694 against 0.706 on the held-out
# subject 1 (tests/test_design_card.py), below the 0.70 the issue pins: not adopted.
TANGENT_LEVELS = 1
TANGENT_SHRINKAGE = 0.5


def _one_blas_thread():
    """BLAS on one thread: the tangent space is thousands of eigen-decompositions of
    channel-by-channel matrices, too small to gain from threads; with two OpenBLAS threads and
    another busy process on the machine they waited on each other, and the design card's
    20-fold cross-validation on 64 channels took over 240 s instead of 47 s (py-spy: 55 % of it
    in pyRiemann's eigh)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _load(codec, device):
    if isinstance(codec, BioCodec):
        return codec.eval()
    return load_codec(codec, device=device)


class BioCodecTokenizer(TransformerMixin, BaseEstimator):
    """Turn EEG/EMG epochs into neural-codec tokens or token features.

    Every channel of every epoch is resampled to the codec rate (polyphase filter), scaled
    by its median and inter-quartile range (in microvolts, clamped to +-10) and encoded
    independently by a frozen :class:`~mne_biocodec.BioCodec`.

    Parameters
    ----------
    codec : str | path-like | BioCodec, default="biocodec-eeg"
        A shipped codec name, a codec file/folder, or a codec object.
    n_q : int | None, default=None
        Codebooks used (the bitrate: 1000 bit/s per channel at 6 for EEG); all when None.
    output : {"auto", "tangent", "spatial", "embedding", "histogram", "bandpower", \
            "coherence", "decoded", "codes"}, default="auto"
        What :meth:`transform` returns. ``"auto"``: ``"tangent"`` for multichannel input,
        ``"bandpower"`` for single-channel input (where there is no spatial structure to
        use; with ``LogisticRegression()`` at its defaults it scores 97.5 ROC AUC on DREAMS
        spindles against 83.8 for ``"embedding"``, and 100 / 97.5 against 97.5 / 92.5
        balanced accuracy on Bonn seizures, S vs Z / S vs N+F: ``benchmarks/decoding.py``).
        ``"tangent"`` (2-D, ready for a linear model at its defaults): per epoch, a
        covariance-like matrix of the channels' codebook-1 code-vector streams (their
        correlation shrunk halfway to the identity, rows and columns scaled by the channels'
        robust scales when ``log_scale``, divided by its mean diagonal), mapped to the
        tangent space at the Riemannian mean of the matrices seen in ``fit`` (pyRiemann's
        ``TangentSpace``), ``n_chans (n_chans + 1) / 2`` values of order one; the only output
        that learns something in ``fit``. ``"spatial"`` (2-D): for each pair of channels the
        correlation of their code-vector streams (the paper's codebook-embedding coherence),
        plus each channel's log robust scale. ``"embedding"`` (2-D): per channel and codebook the
        mean and standard deviation over frames of the 16-d code vectors, plus each channel's
        log robust scale. ``"histogram"`` (2-D): per channel and codebook the fraction of
        frames using each code, plus the log scales. ``"bandpower"`` (2-D): per channel, the
        log10 power (microvolts squared per hertz) in each band of
        ``mne_biocodec.estimators.BAND_POWER_BANDS`` (``EMG_BAND_POWER_BANDS`` for an EMG
        codec) below the Nyquist frequency, of the signal the tokens decode to (the codec's
        decoder: what the tokens hold of the spectrum;
        :func:`~mne_biocodec.estimators.token_band_power`), ``log_scale`` aside (power is
        absolute already). ``"coherence"`` (3-D): the same
        correlations as ``"spatial"`` as symmetric matrices ``(n_epochs, n_chans, n_chans)``
        with a unit diagonal, rows and columns multiplied by the channels' robust scales
        when ``log_scale`` (covariance-like, for Riemannian tools: see
        :class:`~mne_biocodec.moabb.CoherenceMatrices`). ``"decoded"`` (3-D): the signals the
        tokens decode to, ``(n_epochs, n_chans, n_times)`` in volts at the input rate (as
        :meth:`inverse_transform` of :meth:`encode` gives them), for signal pipelines
        downstream: what a task loses when its data are stored as tokens.
        ``"codes"`` (4-D): the integer tokens
        ``(n_epochs, n_chans, n_q, n_frames)``, uint8 for codebooks of at most 256 entries.
    log_scale : bool, default=True
        Include each channel's log10 robust scale in the 2-D features, or its robust scale
        in the ``"coherence"`` matrices (the codec sees amplitude-normalised input, so this is
        where absolute power lives).
    sfreq : float | None, default=None
        Sampling rate of array input in Hz, between 1 Hz and 1 MHz (taken from ``mne.Epochs``
        input).
    batch_size : int | None, default=None
        Channel-epochs per forward pass (does not change the tokens); None sizes batches to
        about 131 k samples, which is fastest on CPU.
    device : str | None, default=None
        ``"cuda"`` when available, else ``"cpu"``.
    cache : bool | str | path-like | None, default=None
        On-disk token cache (:mod:`mne_biocodec.tokens.cache`): epochs seen before (same signals,
        same codec, same ``n_q``) are read back instead of encoded, e.g. across
        cross-validation folds or MOABB evaluations. None uses the folder in
        ``$MNE_BIOCODEC_CACHE`` when set and no cache otherwise; True uses
        ``$MNE_BIOCODEC_CACHE`` or ``~/.cache/mne-biocodec``; False disables it; a path uses
        that folder. Whatever the folder, the codes of recent epochs and, for the outputs
        that decode tokens (``"bandpower"``, ``"decoded"``, :meth:`inverse_transform`), their
        decoder output stay in a bounded in-process cache shared by clones and folds
        (``$MNE_BIOCODEC_MEMORY_CACHE`` MiB); False bypasses that too.
    bands : array-like of (float, float), shape (n_bands, 2) | None, default=None
        Frequency bands in Hz, ``[low, high)``, of ``output="bandpower"`` (ignored by the other
        outputs), e.g. ``[(8, 13), (13, 30)]``. Every band must lie below the Nyquist
        frequency of the input rate and of the codec's (``fit`` raises otherwise). None: the
        default bands of the codec's modality below that frequency
        (``mne_biocodec.estimators.BAND_POWER_BANDS`` or ``EMG_BAND_POWER_BANDS``).

    Attributes
    ----------
    codec_ : BioCodec
        The loaded codec.
    n_q_ : int
        Codebooks in use.
    n_chans_ : int
        Channels seen in ``fit``.
    output_ : str
        The output in use (``output`` with "auto" resolved).
    bands_ : tuple of (float, float)
        With ``output_ == "bandpower"`` only: the bands in use, in Hz.
    tangent_space_ : pyriemann.tangentspace.TangentSpace
        With ``output_ == "tangent"`` only: the tangent space at the reference point learnt in
        ``fit``.
    n_features_in_ : int
        Same as ``n_chans_`` (the estimator's input is 3-D).
    sfreq_ : float
        Sampling rate seen in ``fit``.
    ch_names_ : list of str | None
        Channel names seen in ``fit`` (Epochs or TokenSet input; None for arrays). Epochs
        given to :meth:`transform` (and the other methods) must hold these channels: in
        another order they are reordered to this one; missing or unexpected channels, or a
        fitted channel now marked bad, raise a ValueError naming them (a bad channel is not
        used silently). Arrays are checked for their channel count only.

    See Also
    --------
    mne_biocodec.tokens.tokenize : The function this transformer calls.
    BioCodecClassifier : A small transformer head trained on the tokens.

    Notes
    -----
    Tokens of an epoch depend on that epoch only: not on the batch size nor on the other
    epochs present. ``fit`` loads the codec and records the input layout; with the
    ``"tangent"`` output it also tokenises ``X`` and learns the reference point.

    Each epoch is encoded once per process: tokens are kept in a bounded in-memory cache
    (and, when asked, on disk: ``cache``) keyed by the exact codec input and the codec
    weights, which clones share, so cross-validation, grid searches and MOABB folds reuse
    them (see :mod:`mne_biocodec.tokens.cache`).

    ``mne.Epochs`` go through scikit-learn's model selection (``cross_val_score``,
    ``GridSearchCV``, ``learning_curve``): these index Epochs into a list of one-epoch
    Epochs, which every method accepts (same channels and rate in every item).

    References
    ----------
    .. [1] Avramidis et al. (2025). Neural Codecs as Biosignal Tokenizers. arXiv:2510.09095.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline  # doctest: +SKIP
    >>> from sklearn.linear_model import LogisticRegression  # doctest: +SKIP
    >>> clf = make_pipeline(BioCodecTokenizer(sfreq=160.), LogisticRegression())  # doctest: +SKIP
    >>> clf.fit(X, y).score(X_test, y_test)  # doctest: +SKIP
    """

    _parameter_constraints = {
        "codec": [str, object],
        "n_q": [Interval(Integral, 1, None, closed="left"), None],
        "output": [StrOptions(set(OUTPUTS))],
        "log_scale": ["boolean"],
        "sfreq": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str, None],
        "cache": ["boolean", str, os.PathLike, None],
        "bands": ["array-like", None],
    }

    def __init__(self, codec="biocodec-eeg", n_q=None, output="auto", log_scale=True,
                 sfreq=None, batch_size=None, device=None, cache=None, bands=None):
        self.codec = codec
        self.n_q = n_q
        self.output = output
        self.log_scale = log_scale
        self.sfreq = sfreq
        self.batch_size = batch_size
        self.device = device
        self.cache = cache
        self.bands = bands

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        tags.non_deterministic = False
        return tags

    def _validate(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}; got {self.output!r}.")
        check_not_bool(n_q=self.n_q, sfreq=self.sfreq, batch_size=self.batch_size)
        if self.sfreq is not None:
            check_sfreq(self.sfreq)  # its message gives the accepted range and unit
        self._validate_params()

    def fit(self, X, y=None):
        """Load the codec and record the input layout.

        Parameters
        ----------
        X : ndarray | mne.Epochs | list of mne.Epochs | TokenSet
            Signals in volts ``(n_epochs, n_chans, n_times)``, with at least one epoch and one
            channel; epochs; or tokens from :meth:`encode` (whose sampling rate and channel
            names are then used).
        y : None
            Ignored.

        Returns
        -------
        self : BioCodecTokenizer
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then transform ``X``, tokenising it once.

        Parameters
        ----------
        X : ndarray | mne.Epochs | list of mne.Epochs | TokenSet
            As :meth:`fit` takes.
        y : None
            Ignored.
        **fit_params : dict
            Ignored (accepted for pipelines).

        Returns
        -------
        Xt : ndarray
            As :meth:`transform` returns.
        """
        tokens = self._fit(X)
        if tokens is None:
            tokens = X if isinstance(X, TokenSet) else self.encode(X)
        return self.transform_tokens(tokens)

    def _fit(self, X):
        """Fit; return the tokens of ``X`` when fitting needed them, else None."""
        self._validate()
        self.codec_ = _load(self.codec, self.device)
        if self.n_q is not None and self.n_q > self.codec_.n_q:
            raise ValueError(
                f"n_q={self.n_q} exceeds the codec's {self.codec_.n_q} codebooks; choose "
                f"1..{self.codec_.n_q}."
            )
        self.n_q_ = self.n_q or self.codec_.n_q
        if isinstance(X, TokenSet):
            # tokens computed earlier (e.g. by encode): their layout is the input's
            sfreq, ch_names, n_chans = X.sfreq, X.ch_names, X.codes.shape[1]
        else:
            data, sfreq, ch_names = resolve_input(X, self.sfreq, self.codec_.modality)
            n_chans = check_signal_array(data, "X", ndim=3, allow_empty=False).shape[1]
        self.sfreq_ = sfreq
        self.n_chans_ = n_chans
        self.n_features_in_ = self.n_chans_
        self.ch_names_ = ch_names
        if self.output == "auto":
            self.output_ = "tangent" if self.n_chans_ > 1 else "bandpower"
        elif self.output in ("tangent", "spatial", "coherence") and self.n_chans_ < 2:
            raise ValueError(
                f"output={self.output!r} compares channels and needs at least 2; got 1 channel. "
                "Use output='bandpower' (or 'auto') or 'embedding' for single-channel data."
            )
        else:
            self.output_ = self.output
        if self.output_ == "bandpower":
            self.bands_ = self._resolve_bands()
        else:
            self.__dict__.pop("bands_", None)
        if self.output_ != "tangent":
            self.__dict__.pop("tangent_space_", None)  # a refit with another output
            return None
        from pyriemann.tangentspace import TangentSpace

        if isinstance(X, TokenSet):
            self._check_tokens(X)  # tokens from elsewhere; encode's own need no check
        tokens = X if isinstance(X, TokenSet) else self.encode(X)
        matrices = self._tangent_matrices(tokens)
        with _one_blas_thread():
            self.tangent_space_ = TangentSpace(metric="riemann").fit(matrices)
        return tokens

    def _resolve_bands(self):
        """The bands of the ``"bandpower"`` output: ``bands`` checked, or the defaults; those
        below the Nyquist frequency (:func:`band_power_bands`), where user bands may not end
        above it."""
        if self.bands is None:
            return band_power_bands(self.sfreq_, self.codec_.sample_rate,
                                    default_bands(self.codec_))
        bands = np.asarray(self.bands, dtype=float)
        if bands.ndim != 2 or bands.shape[1] != 2 or not len(bands):
            raise ValueError(f"bands must be a non-empty sequence of (low, high) pairs in Hz; "
                             f"got {self.bands!r}.")
        requested = [(lo, hi) for lo, hi in bands.tolist()]
        bad = [b for b in requested if not (np.all(np.isfinite(b)) and 0.0 <= b[0] < b[1])]
        if bad:
            raise ValueError(f"Each band must be (low, high) in Hz with 0 <= low < high; got "
                             f"{bad}.")
        kept = band_power_bands(self.sfreq_, self.codec_.sample_rate, requested)
        above = [b for b in requested if b not in kept]
        if above:
            nyquist = min(self.sfreq_, self.codec_.sample_rate) / 2.0
            raise ValueError(
                f"bands {above} reach above {nyquist:g} Hz, the Nyquist frequency of the "
                f"{self.sfreq_:g} Hz input and the {self.codec_.sample_rate:g} Hz codec: the "
                "decoded tokens hold nothing there. Give bands that end at or below it.")
        return kept

    def _tangent_matrices(self, tokens):
        return token_covariances(tokens, self.codec_, n_levels=TANGENT_LEVELS,
                                 shrinkage=TANGENT_SHRINKAGE, scale=self.log_scale,
                                 normalize=True)

    def _resolve(self, X):
        """Data, sfreq and channel names of ``X``, checked against what ``fit`` saw."""
        check_is_fitted(self, "codec_")
        epochs = is_epochs(X)
        # Arrays after a fit on Epochs: the fitted rate applies.
        sfreq = self.sfreq
        if sfreq is None and not epochs:
            sfreq = self.sfreq_
        # Epochs after a fit on Epochs: the fitted channels, in the fitted order.
        data, sfreq, ch_names = resolve_input(X, sfreq, self.codec_.modality,
                                              ch_names=self.ch_names_ if epochs else None)
        data = check_signal_array(data, "X", ndim=3, allow_empty=False)
        if not np.isclose(sfreq, self.sfreq_):
            raise ValueError(
                f"X is sampled at {sfreq} Hz but the tokenizer was fitted at {self.sfreq_} Hz. "
                "Resample the data or refit."
            )
        if data.shape[1] != self.n_chans_:
            raise ValueError(
                f"X has {data.shape[1]} channels but the tokenizer was fitted with "
                f"{self.n_chans_}. Pick the same channels as in fit."
            )
        return data, sfreq, ch_names

    def prepare(self, X):
        """The normalised signals the codec encoder would see (used for fine-tuning).

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs | list of mne.Epochs
            Signals in volts, or epochs (with the fitted channels: see ``ch_names_``).

        Returns
        -------
        signals : ndarray of float32, shape (n_epochs, n_chans, n_codec_times)
            Resampled to the codec rate and robustly scaled per epoch and channel.
        """
        data, sfreq, _ = self._resolve(X)
        return prepare_signals(data, sfreq, self.codec_)[0]

    def encode(self, X):
        """Tokenise epochs, keeping what :meth:`inverse_transform` needs.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs | list of mne.Epochs
            Signals in volts, or epochs (with the fitted channels: see ``ch_names_``).

        Returns
        -------
        tokens : TokenSet
            Codes ``(n_epochs, n_chans, n_q, n_frames)`` with the per-channel medians and
            scales and the sampling rates.
        """
        data, sfreq, ch_names = self._resolve(X)
        return tokenize(data, sfreq, self.codec_, n_q=self.n_q_, batch_size=self.batch_size,
                        device=self.device, ch_names=ch_names or self.ch_names_,
                        cache=self.cache)

    def transform(self, X):
        """Tokens or token features of ``X``.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs | list of mne.Epochs \
                | TokenSet
            Signals in volts, epochs (with the fitted channels: see ``ch_names_``), or
            tokens from :meth:`encode` (as :meth:`fit` takes them).

        Returns
        -------
        Xt : ndarray
            ``(n_epochs, n_chans (n_chans + 1) / 2)`` float64 tangent vectors for ``output``
            "tangent"; ``(n_epochs, n_features)`` float32 features for "spatial",
            "embedding", "histogram" or "bandpower"; ``(n_epochs, n_chans, n_chans)`` float64
            matrices for "coherence"; ``(n_epochs, n_chans, n_times)`` float64 signals in
            volts for "decoded"; ``(n_epochs, n_chans, n_q, n_frames)`` codes for "codes".
        """
        return self.transform_tokens(X if isinstance(X, TokenSet) else self.encode(X))

    def transform_tokens(self, tokens):
        """What :meth:`transform` returns, from tokens that :meth:`encode` returned.

        ``transform(X)`` is ``transform_tokens(encode(X))``: tokenise once, then derive
        several outputs, or the output of clones with another ``output`` or ``log_scale``.

        Parameters
        ----------
        tokens : TokenSet
            Tokens of this codec: ``n_chans_`` channels and ``n_q_`` codebooks.

        Returns
        -------
        Xt : ndarray
            As :meth:`transform` returns.
        """
        check_is_fitted(self, "codec_")
        self._check_tokens(tokens)
        if self.output_ == "codes":
            return tokens.codes
        if self.output_ == "tangent":
            matrices = self._tangent_matrices(tokens)
            with _one_blas_thread():
                return self.tangent_space_.transform(matrices)
        if self.output_ == "coherence":
            return token_coherence(tokens, self.codec_, scale=self.log_scale)
        if self.output_ == "bandpower":
            return token_band_power(tokens, self.codec_, bands=self.bands_,
                                    batch_size=self.batch_size, cache=self.cache)
        if self.output_ == "decoded":
            return self.inverse_transform(tokens)
        return token_features(tokens, self.codec_, kind=self.output_, log_scale=self.log_scale)

    def _check_tokens(self, tokens):
        if not isinstance(tokens, TokenSet):
            raise TypeError(f"tokens must be a TokenSet from encode(); got "
                            f"{type(tokens).__name__}. Use transform for signals.")
        codes = np.asarray(tokens.codes)
        if codes.ndim != 4 or codes.shape[1:3] != (self.n_chans_, self.n_q_):
            raise ValueError(
                f"tokens.codes must have shape (n_epochs, {self.n_chans_}, {self.n_q_}, "
                f"n_frames) (the fitted channels and n_q); got {codes.shape}. Encode with "
                "this tokenizer, or one with the same n_q, and the fitted channels.")
        if codes.size and (codes.min() < 0 or codes.max() >= self.codec_.codebook_size):
            raise ValueError(
                f"tokens.codes must lie in 0..{self.codec_.codebook_size - 1} (this codec's "
                f"codebooks); got {codes.min()}..{codes.max()}. Use the codec that produced "
                "them.")

    def inverse_transform(self, X):
        """Decode tokens back to signals at the input rate.

        Parameters
        ----------
        X : TokenSet | ndarray, shape (n_epochs, n_chans, n_q, n_frames)
            What :meth:`encode` returned (decoded in volts, at the input scale), or bare codes
            from ``transform`` with ``output="codes"`` (decoded in the codec's normalised
            units: bare codes do not carry the per-channel scales).

        Returns
        -------
        X_rec : ndarray, shape (n_epochs, n_chans, n_times)
            Decoded signals at ``sfreq_``.
        """
        check_is_fitted(self, "codec_")
        if isinstance(X, TokenSet):
            return detokenize(X, self.codec_, batch_size=self.batch_size, cache=self.cache)
        codes = np.asarray(X)
        if codes.ndim != 4 or codes.dtype.kind not in "iu":
            raise ValueError(
                "inverse_transform expects a TokenSet from encode() or integer codes of shape "
                f"(n_epochs, n_chans, n_q, n_frames); got {codes.dtype} array of shape "
                f"{codes.shape}. Use output='codes' or tokenizer.encode(X)."
            )
        n_epochs, n_chans, _, n_frames = codes.shape
        n_codec = n_frames * self.codec_.hop_length
        tokens = TokenSet(codes=codes, center=np.zeros((n_epochs, n_chans, 1)),
                          scale=np.ones((n_epochs, n_chans, 1)), sfreq=self.sfreq_,
                          n_times=int(round(n_codec * self.sfreq_ / self.codec_.sample_rate)),
                          codec_sfreq=self.codec_.sample_rate)
        return detokenize(tokens, self.codec_, batch_size=self.batch_size, units_scale=1.0,
                          cache=self.cache)

    def get_feature_names_out(self, input_features=None):
        """Names of the 2-D features (``output`` "tangent", "spatial", "embedding",
        "histogram" or "bandpower").

        Parameters
        ----------
        input_features : list of str | None
            Channel names; defaults to the fitted ones or ``ch0, ch1, ...``.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self, "codec_")
        if self.output_ in ("codes", "coherence", "decoded"):
            what = {"codes": "4-D tokens", "coherence": "3-D matrices",
                    "decoded": "3-D signals"}[self.output_]
            raise ValueError(
                f"output={self.output_!r} returns {what}, which have no feature names. Use "
                "output='tangent', 'spatial', 'embedding', 'histogram' or 'bandpower' for 2-D "
                "features."
            )
        ch_names = input_features or self.ch_names_ or [f"ch{i}" for i in range(self.n_chans_)]
        if len(ch_names) != self.n_chans_:
            raise ValueError(
                f"input_features has {len(ch_names)} names but the tokenizer was fitted with "
                f"{self.n_chans_} channels."
            )
        if self.output_ == "tangent":
            # pyRiemann's order: the upper triangle, diagonal included, row by row
            rows, cols = np.triu_indices(self.n_chans_)
            return np.asarray([f"{ch_names[i]}-{ch_names[j]}_tangent"
                               for i, j in zip(rows, cols)], dtype=object)
        if self.output_ == "bandpower":
            return np.asarray([f"{ch}_{lo:g}-{hi:g}Hz_log10_power" for ch in ch_names
                               for lo, hi in self.bands_], dtype=object)
        return token_feature_names(ch_names, self.n_q_, self.codec_.config["codebook_dim"],
                                   self.codec_.codebook_size, kind=self.output_,
                                   log_scale=self.log_scale)

    # The codec of a named or file source is reloaded instead of pickled (12 MB of weights
    # would otherwise travel with every clone sent to a worker).
    def __getstate__(self):
        state = self.__dict__.copy()
        if "codec_" in state and not isinstance(self.codec, BioCodec):
            state["codec_"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "codec_" in state and state["codec_"] is None:
            self.codec_ = _load(self.codec, self.device)
