"""BioCodecClassifier: a frozen codec's tokens plus a small trained head (a token-covariance
head by default, the paper's transformer head with ``head="paper"``)."""

import contextlib
import copy
import inspect

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EpochScoring, GradientNormClipping
from skorch.dataset import ValidSplit
from sklearn.metrics import balanced_accuracy_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ..codec import default_device
from ..tokens import TokenSet, prepare_signals
from ..training.schedule import WarmupCosine
from ._input import check_not_bool, epochs_labels, is_epochs, match_channels
from .head import FineTunedCodecHead, TokenCovarianceHead, TokenTransformerHead
from .tokenizer import BioCodecTokenizer

__all__ = ["BioCodecClassifier", "RestoreBestState"]

#: ``batch_size="auto"``: the paper's batch, and the smallest batch and fewest steps per epoch
#: allowed on small training splits.
AUTO_BATCH_MAX, AUTO_BATCH_MIN, AUTO_MIN_STEPS = 128, 8, 8

#: ``head`` names and their modules.
HEADS = {"covariance": TokenCovarianceHead, "paper": TokenTransformerHead}

#: What ``None`` means for these parameters, per head. The paper's recipe is the classifier's
#: former defaults; the covariance head's was chosen on executed-movement runs of eegmmidb
#: subjects 1-5 (benchmarks/classifier_variants.py): its one linear layer needs a larger step
#: and more epochs, and holding out a fifth of 45 trials for model selection cost 3.8 and 9.8
#: AUC points there in two seeded runs (9 validation trials select noise).
HEAD_DEFAULTS = {
    "paper": {"lr": 1e-3, "max_epochs": 20, "train_split": "valid"},
    "covariance": {"lr": 1e-2, "max_epochs": 60, "train_split": False},
}

#: Default device, resolved once: the constructor must store its arguments untouched.
DEFAULT_DEVICE = default_device().type


class RestoreBestState(Callback):
    """Keep the module weights of the best epoch in memory and restore them at train end.

    Parameters
    ----------
    monitor : str, default="valid_bacc"
        History key to maximise.
    """

    def __init__(self, monitor="valid_bacc"):
        self.monitor = monitor

    def on_train_begin(self, net, **kwargs):
        self.best_score_, self.best_state_, self.best_epoch_ = -np.inf, None, None

    def on_epoch_end(self, net, **kwargs):
        score = net.history[-1].get(self.monitor)
        if score is not None and score > self.best_score_:
            self.best_score_ = score
            self.best_epoch_ = len(net.history)
            self.best_state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)


def _balanced_accuracy(net, X, y):
    # y holds the encoded labels here, while net.predict returns the original ones.
    return balanced_accuracy_score(y, net.predict_proba(X).argmax(axis=1))


def _check_labels(y):
    """``y`` as a 1-D array without missing labels (NaN or None would become a class)."""
    y = column_or_1d(y, warn=True)
    if y.dtype.kind in "fc":
        missing = np.isnan(y)
    elif y.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, (float, np.floating)) and np.isnan(v))
                            for v in y], dtype=bool)
    else:
        missing = np.zeros(len(y), dtype=bool)
    if missing.any():
        raise ValueError(
            f"y holds {int(missing.sum())} missing labels (NaN or None), the first at index "
            f"{int(np.flatnonzero(missing)[0])}. Drop those epochs or give them a class."
        )
    return y


def _metadata_column(X, column):
    """``column`` of the metadata of an ``mne.Epochs`` or a list of them, in order."""
    import mne

    values = []
    for epochs in [X] if isinstance(X, mne.BaseEpochs) else X:
        metadata = epochs.metadata
        if metadata is None or column not in metadata.columns:
            have = [] if metadata is None else list(metadata.columns)
            raise ValueError(
                f"recenter={column!r} names a column of epochs.metadata, but the epochs' "
                f"metadata has columns {have}. Add it (epochs.metadata = "
                "pandas.DataFrame({...})) or pass groups=... instead.")
        values += list(metadata[column])
    return np.asarray(values)


def _default_callbacks(warmup):
    return [
        ("lr_schedule", WarmupCosine(warmup_steps=warmup, final_ratio=0.0)),
        ("grad_clip", GradientNormClipping(1.0)),
        ("valid_bacc", EpochScoring(_balanced_accuracy, lower_is_better=False,
                                    name="valid_bacc")),
        ("restore_best", RestoreBestState("valid_bacc")),
    ]


class BioCodecClassifier(NeuralNetClassifier):
    """Classify EEG/EMG epochs from frozen codec tokens with a small trained head.

    ``fit`` tokenises the epochs once with a frozen :class:`~mne_biocodec.BioCodec` and trains
    a head on the codes: class-weighted cross-entropy with label smoothing, AdamW (betas 0.5,
    0.9, weight decay 0.01), linear warm-up over 20 % of the steps then cosine decay, gradient
    clipping at 1.0. Two heads (``head``):

    - ``"covariance"`` (default): :class:`~mne_biocodec.estimators.head.TokenCovarianceHead`,
      the tangent vector of the channels' token covariance (the summed code-vector streams of
      the first two codebooks, rescaled by the channels' band power, shrunk toward its
      diagonal by ``n_chans / (n_chans + n_frames)``) and the channels' log
      power, then dropout and one linear layer (4,290 parameters for 64 channels and two
      classes). 60 epochs at learning rate 0.01 on all the training epochs. It learns from tens
      of trials: on imagined left/right fist of eegmmidb subjects 1-5 (64 channels, 0-4 s,
      8-32 Hz, 5-fold), mean ROC AUC 67.4 against CSP+LDA's 60.6 and TS+LR's 69.6 on the same
      folds, in about 4 s per fold on one CPU thread (``benchmarks/classifier_variants.py``).
      With one channel, where a covariance says nothing, the head also reads the channel's
      code statistics per codebook (``module__channel_statistics``; 390 parameters for two
      classes): DREAMS spindles across excerpts ROC AUC 86.1 (56.4 from the channel's
      power alone), Bonn seizures S vs N+F balanced accuracy 100.0 (91.2)
      (``benchmarks/decoding.py``).
    - ``"paper"``: the BioCodec paper's :class:`~mne_biocodec.estimators.TokenTransformerHead`
      (about 33-102 k parameters), 20 epochs at learning rate 0.001, the weights of the epoch
      with the best balanced accuracy on a held-out fifth kept: the classifier's behaviour
      before the covariance head (chance level on that benchmark, minutes per fold).

    Parameters
    ----------
    codec : str | path-like | BioCodec, default="biocodec-eeg"
        The codec (shipped name, file or object).
    n_q : int | None, default=None
        Codebooks tokenised (all when None). The paper's head uses them all; the covariance
        head sums the first two of them (``module__n_codebooks``).
    sfreq : float | None, default=None
        Sampling rate of array input in Hz (taken from ``mne.Epochs`` input).
    finetune_codec : bool, default=False
        Train the codec encoder and quantizer projections with the head (straight-through
        quantisation, codebooks fixed; see :class:`~mne_biocodec.estimators.head.
        FineTunedCodecHead`) instead of training the head on frozen tokens. Much slower: the
        encoder runs at every step.
    use_scale : bool, default=True
        Give the head each channel's log robust scale (standardised with the training set's
        mean and deviation) next to the tokens. The codec encodes amplitude-normalised
        channels, so the tokens alone carry no band power; motor imagery (ERD/ERS) lives
        largely there. ``False`` is the paper's head.
    cache : bool | str | path-like | None, default=None
        Token cache of the tokenizer (see :class:`BioCodecTokenizer`): with a folder, each
        epoch is tokenised once across the folds of a cross-validation and the fits of a
        search. None uses ``$MNE_BIOCODEC_CACHE`` when set.
    head : {"covariance", "paper"}, default="covariance"
        The head trained (see above); also sets what None means for ``lr``, ``max_epochs``
        and ``train_split``. ``module`` overrides the module, not those defaults.
    recenter : str | None, default=None
        Re-centre each group of epochs (a subject, a session) on its own mean: an
        ``epochs.metadata`` column naming each epoch's group (or pass ``groups`` to
        :meth:`fit` and :meth:`predict_proba`). Each group's token covariances are whitened
        by the inverse square root of their log-Euclidean mean, and its log channel scales
        centred, in ``fit`` and again, on the new group's own epochs, in ``predict`` (Zanini
        et al., 2018): transductive, so a group must be predicted as a whole (tens of
        epochs). For cross-subject use: a new subject's covariances then sit where the
        training subjects' did. Covariance head only. None: one reference point, the
        training epochs' mean. On eegmat (leave one subject out, 21 subjects) with
        ``module__n_codebooks=1, module__shrinkage=0.0`` (chosen on the 12 codec-training
        subjects): balanced accuracy 81.4 (72.9 with the default head settings), against
        63.0 without re-centring and 70.5 for TS+LR (86.2 for TS+LR re-centred alike); see
        ``benchmarks/crosssub_defaults.py``.
    module : type | torch.nn.Module | None, default=None
        A head of your own, built with the data-dependent arguments (``n_chans``,
        ``n_outputs``, ``n_q``, ``codebook_size``, ``d_model``, ``codebooks``,
        ``use_scale``) plus ``module__*``; None takes ``head``'s.
    lr : float | None, default=None
        Peak learning rate; None: 0.01 (covariance head) or 0.001 (paper's head).
    max_epochs : int | None, default=None
        Training epochs; None: 60 (covariance head) or 20 (paper's head). 200 epochs of the
        covariance head, measured on every row of ``benchmarks/decoding.py``, moved no row by
        more than about one standard error (SSVEP 3 classes +2.6, SE 2.5) and the rows by
        -0.1 points on average, at three times the cost
        (``benchmarks/results/classifier_epochs_test_rows.json``).
    batch_size : int | "auto", default="auto"
        Epochs per optimiser step. ``"auto"``: the paper's 128 once the training split holds
        1,024 epochs or more; below that, an eighth of the training split (at least 8), so
        that every epoch still makes at least eight steps. With the paper's fixed 128, a
        data set of a few dozen trials gets one step per epoch (20 in all) and the head
        learns nothing: measured on held-out Bonn segments (set Z vs S, 64 training windows,
        paper's head without scales), test balanced accuracy 0.50 at 128 against 0.91 at 16.
    warmup : float, default=0.2
        Fraction of the steps spent warming up.
    label_smoothing : float, default=0.1
        Cross-entropy label smoothing.
    class_weight : {"balanced"} | None, default="balanced"
        Class weights of the loss.
    random_state : int | None, default=None
        Seeds torch before the head is built and trained, and the validation split.
    train_split : callable | False | None, default=None
        skorch split. None: the covariance head trains on everything (on executed-movement
        runs, holding out a fifth of 45 trials to pick the best epoch cost 4-10 AUC points);
        the paper's head holds out a stratified 20 % (``ValidSplit(0.2)``, seeded by
        ``random_state``) and keeps its best epoch. ``False`` trains on everything without
        selection.
    device : str, default="cuda" if available else "cpu"
        Where the head (and the codec) run.
    **kwargs
        Other :class:`skorch.NeuralNetClassifier` arguments (``module__*``, ``optimizer__*``,
        ``callbacks``, ``verbose`` ...).

    Attributes
    ----------
    tokenizer_ : BioCodecTokenizer
        The fitted tokenizer (``output="codes"``).
    classes_ : ndarray
        The original labels, in the order of :meth:`predict_proba`'s columns.
    n_trainable_params_ : int
        Trainable parameters (the head's; with ``finetune_codec`` also the encoder's).
    recentred_ : bool
        Whether ``fit`` re-centred each group (``recenter`` or ``groups``); then
        :meth:`predict_proba` needs the groups of its epochs too.
    scale_mean_, scale_std_ : ndarray, shape (n_chans,)
        Mean and deviation of the training epochs' log10 channel scales (``use_scale``).
    ch_names_ : list of str | None
        Channels seen in ``fit`` (Epochs or TokenSet input): Epochs and TokenSets given to
        :meth:`predict` are reordered to them, and refused with a ValueError naming the
        channels that differ (see :class:`BioCodecTokenizer`).

    See Also
    --------
    BioCodecTokenizer : Token features for any scikit-learn model.
    """

    def __init__(self, codec="biocodec-eeg", n_q=None, sfreq=None, finetune_codec=False,
                 use_scale=True, cache=None, *, head="covariance", recenter=None,
                 module=None, criterion=torch.nn.CrossEntropyLoss,
                 optimizer=torch.optim.AdamW, lr=None, max_epochs=None, batch_size="auto",
                 warmup=0.2, label_smoothing=0.1, class_weight="balanced",
                 random_state=None, train_split=None, callbacks=None,
                 device=DEFAULT_DEVICE, verbose=0, **kwargs):
        kwargs.setdefault("optimizer__betas", (0.5, 0.9))
        kwargs.setdefault("optimizer__weight_decay", 1e-2)
        self.codec = codec
        self.n_q = n_q
        self.sfreq = sfreq
        self.finetune_codec = finetune_codec
        self.use_scale = use_scale
        self.cache = cache
        self.head = head
        self.recenter = recenter
        self.warmup = warmup
        self.label_smoothing = label_smoothing
        self.class_weight = class_weight
        self.random_state = random_state
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size,
                         train_split=train_split, callbacks=callbacks, device=device,
                         verbose=verbose, **kwargs)

    def set_params(self, **params):
        """Set parameters; a new ``callbacks`` list is only checked when ``fit`` runs.

        skorch initialises the callbacks as soon as ``callbacks`` is set, so an invalid value
        failed in ``set_params`` instead of ``fit`` (scikit-learn's
        ``check_do_not_raise_errors_in_init_or_set_params``); ``fit`` initialises them anyway.
        Parameters of a named callback (``callbacks__<name>__<param>``) keep skorch's path.
        """
        if "callbacks" in params and not any(key.startswith("callbacks__") for key in params):
            self.callbacks = params.pop("callbacks")
        return super().set_params(**params)

    def get_default_callbacks(self):
        # skorch's own valid_acc compares predict() (original labels) with encoded labels.
        inherited = [(name, cb) for name, cb in super().get_default_callbacks()
                     if name != "valid_acc"]
        return inherited + _default_callbacks(self.warmup)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # 3-D input: scikit-learn then skips its generic 2-D checks; tests/test_estimators.py
        # runs 3-D versions of those that apply.
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def train_batch_size(self, n_train):
        """Training batch size for a training split of ``n_train`` epochs."""
        if self.batch_size != "auto":
            return self.batch_size
        return int(min(AUTO_BATCH_MAX, max(AUTO_BATCH_MIN, n_train // AUTO_MIN_STEPS)))

    def get_iterator(self, dataset, training=False):
        if self.batch_size != "auto":
            return super().get_iterator(dataset, training=training)
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        kwargs.setdefault("batch_size", self.train_batch_size(len(dataset)) if training
                          else AUTO_BATCH_MAX)
        return getattr(self, prefix)(dataset, **kwargs)

    def head_default(self, name):
        """The value ``fit`` uses for parameter ``name``: its own, or ``head``'s default when
        None (see ``HEAD_DEFAULTS``)."""
        value = getattr(self, name)
        if value is not None:
            return value
        self.head_module()  # validates head
        return HEAD_DEFAULTS[self.head][name]

    @contextlib.contextmanager
    def _head_recipe(self):
        # skorch and the schedule read self.lr and self.max_epochs while training; the
        # parameters themselves stay as given (None), as scikit-learn requires.
        saved = self.lr, self.max_epochs
        self.lr, self.max_epochs = self.head_default("lr"), self.head_default("max_epochs")
        try:
            yield
        finally:
            self.lr, self.max_epochs = saved

    def _split(self):
        split = self.head_default("train_split")
        if split == "valid":
            return ValidSplit(0.2, stratified=True, random_state=self.random_state)
        return split or None

    def get_split_datasets(self, X, y=None, **fit_params):
        saved = self.train_split
        self.train_split = self._split()
        try:
            return super().get_split_datasets(X, y, **fit_params)
        finally:
            self.train_split = saved

    # -- data-dependent construction ----------------------------------------------------
    def head_module(self):
        """The module class (or instance) trained: ``module`` if given, else ``head``'s."""
        if not isinstance(self.head, str) or self.head not in HEADS:
            raise ValueError(f"head must be one of {sorted(HEADS)}; got {self.head!r}. "
                             "'covariance' learns from tens of trials, 'paper' is the "
                             "BioCodec paper's transformer head.")
        return HEADS[self.head] if self.module is None else self.module

    def initialize_module(self):
        kwargs = dict(self.module_data_kwargs_) if hasattr(self, "module_data_kwargs_") else {}
        kwargs.update(self.get_params_for("module"))
        head = self.initialized_instance(self.head_module(), kwargs)
        if self.finetune_codec:
            head = FineTunedCodecHead(copy.deepcopy(self.tokenizer_.codec_), head)
        self.module_ = head
        return self

    def initialize_criterion(self):
        kwargs = {"label_smoothing": self.label_smoothing}
        if getattr(self, "class_weights_", None) is not None:
            kwargs["weight"] = torch.as_tensor(self.class_weights_, dtype=torch.float32)
        kwargs.update(self.get_params_for("criterion"))
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def _tokenizer(self):
        return BioCodecTokenizer(codec=self.codec, n_q=self.n_q, output="codes",
                                 sfreq=self.sfreq, device=str(self.device), cache=self.cache)

    def _inputs(self, X, fitting=False):
        """What the module takes: codes (frozen codec) or normalised signals (fine-tuning),
        plus the standardised log scales with ``use_scale``.

        ``X`` may also be a :class:`~mne_biocodec.TokenSet` or, without ``use_scale``, a
        precomputed codes array ``(n_epochs, n_chans, n_q, n_frames)``.
        """
        # skorch's scoring callbacks call predict on its own datasets
        if isinstance(X, torch.utils.data.Dataset):
            return X
        if isinstance(X, np.ndarray) and X.ndim == 4 and X.dtype.kind == "u":
            if self.use_scale or self.finetune_codec:
                raise ValueError(
                    "precomputed codes carry no channel scales: pass the TokenSet from "
                    "tokenizer_.encode(X) (or the signals), or use use_scale=False.")
            return X[:, self._token_order(X, None)]
        if isinstance(X, TokenSet):
            if self.finetune_codec:
                raise ValueError("finetune_codec=True needs the signals, not tokens.")
            order = self._token_order(np.asarray(X.codes), X.ch_names)
            main, scale = np.asarray(X.codes)[:, order], np.asarray(X.scale)[:, order]
        elif self.finetune_codec:
            data, sfreq, _ = self.tokenizer_._resolve(X)
            main, _, scale = prepare_signals(data, sfreq, self.tokenizer_.codec_)
        else:
            tokens = self.tokenizer_.encode(X)
            main, scale = tokens.codes, tokens.scale
        if not self.use_scale:
            return main
        log_scale = np.log10(scale[..., 0]).astype(np.float32)
        if fitting:
            self.scale_mean_ = log_scale.mean(axis=0)
            self.scale_std_ = log_scale.std(axis=0) + 1e-3
        log_scale = (log_scale - self.scale_mean_) / self.scale_std_
        key = "x" if self.finetune_codec else "codes"
        return {key: main, "log_scale": log_scale.astype(np.float32)}

    def _token_order(self, codes, ch_names):
        """Channel order that maps precomputed codes onto the fitted channels (checked)."""
        tokenizer = self.tokenizer_
        if codes.ndim != 4 or len(codes) == 0 or codes.shape[2] < tokenizer.n_q_:
            raise ValueError(
                f"X must hold codes of shape (n_epochs, n_chans, n_q, n_frames) with at least "
                f"one epoch and {tokenizer.n_q_} codebooks; got shape {codes.shape}. Use "
                "tokenizer_.encode(X)."
            )
        if ch_names is not None and tokenizer.ch_names_ is not None:
            return match_channels(ch_names, tokenizer.ch_names_, kind=None)
        if codes.shape[1] != tokenizer.n_chans_:
            raise ValueError(
                f"X holds codes of {codes.shape[1]} channels but the classifier was fitted "
                f"with {tokenizer.n_chans_}. Encode the same channels as in fit."
            )
        return list(range(codes.shape[1]))

    def fit(self, X, y, groups=None, **fit_params):
        """Tokenise ``X`` once and train the head.

        Parameters
        ----------
        X : ndarray | mne.Epochs | list of mne.Epochs | TokenSet
            Signals in volts ``(n_epochs, n_chans, n_times)``, epochs, or the TokenSet of
            ``tokenizer_.encode`` (tokenised once, e.g. for a hyper-parameter search).
        y : array-like, shape (n_epochs,)
            Labels of any type (strings included), none missing (NaN, None). With Epochs
            input, None takes the event codes' names.
        groups : array-like, shape (n_epochs,) | None
            Each epoch's group (subject, session) for per-group re-centring (see
            ``recenter``); None reads them from ``epochs.metadata[recenter]`` when
            ``recenter`` is set, else no re-centring.
        **fit_params
            Passed to skorch.

        Returns
        -------
        self : BioCodecClassifier
        """
        if self.batch_size != "auto":
            check_not_bool(batch_size=self.batch_size)
            if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
                raise ValueError(
                    f"batch_size must be 'auto' or a positive int; got {self.batch_size!r}.")
        module = self.head_module()
        covariance_head = isinstance(module, type) and issubclass(module, TokenCovarianceHead)
        if self.finetune_codec and covariance_head:
            raise ValueError("finetune_codec=True trains the codec through the paper's "
                             "transformer head; got head='covariance'. Pass head='paper'.")
        if y is None and is_epochs(X):
            y = epochs_labels(X)
        if y is None:
            raise ValueError("y is required: pass the class label of every epoch.")
        y = _check_labels(y)
        self.label_encoder_ = LabelEncoder().fit(y)
        y_enc = self.label_encoder_.transform(y).astype(np.int64)
        if len(self.label_encoder_.classes_) < 2:
            raise ValueError(
                f"y holds a single class ({self.label_encoder_.classes_[0]!r}); at least two "
                "classes are needed to train a classifier."
            )
        if self.random_state is not None:
            torch.manual_seed(self.random_state)
        groups = self._groups(X, groups, len(y))
        if groups is not None and not covariance_head:
            raise ValueError(f"re-centring per group (recenter={self.recenter!r} or groups) "
                             f"needs the covariance head; got head={self.head!r} and module="
                             f"{self.module!r}. Use head='covariance', or drop the groups.")
        self.tokenizer_ = self._tokenizer().fit(X)
        self.ch_names_ = self.tokenizer_.ch_names_
        inputs = self._inputs(X, fitting=True)
        n_epochs, n_chans = (inputs["log_scale"] if isinstance(inputs, dict)
                             else inputs).shape[:2]
        if n_epochs != len(y):
            raise ValueError(
                f"y has {len(y)} labels but X holds {n_epochs} epochs; give one label per "
                "epoch."
            )
        codec = self.tokenizer_.codec_
        n_q = self.tokenizer_.n_q_
        codebooks = codec.codebook_vectors(n_q).cpu()
        self.module_data_kwargs_ = {
            "n_chans": n_chans, "n_outputs": len(self.label_encoder_.classes_),
            "n_q": n_q, "codebook_size": codec.codebook_size,
            "d_model": codebooks.shape[-1], "codebooks": codebooks,
            "use_scale": bool(self.use_scale),
        }
        if covariance_head and self.use_scale:
            # the head undoes the standardisation: it needs the channels' relative scales
            self.module_data_kwargs_.update(scale_mean=self.scale_mean_,
                                            scale_std=self.scale_std_)
        self.class_weights_ = (compute_class_weight(self.class_weight,
                                                    classes=np.unique(y_enc), y=y_enc)
                               if self.class_weight is not None else None)
        if self.random_state is not None:
            # again: loading a codec by name draws from torch's generator, and the head's
            # initial weights must not depend on how the codec was given
            torch.manual_seed(self.random_state)
        with self._head_recipe():
            if not self.warm_start or not self.initialized_:
                self.initialize()
                if hasattr(self.module_, "set_reference"):
                    # also with groups: a subclass may set more than the reference there
                    self._set_reference(inputs)
            self.recentred_ = groups is not None
            if self.recentred_:
                if "recentring" not in inspect.signature(self.module_.forward).parameters:
                    raise ValueError(
                        f"re-centring per group needs a head whose forward takes "
                        f"'recentring'; {type(self.module_).__name__}.forward does not. Use "
                        "the default head, or drop the groups.")
                inputs = self._recentred(inputs, groups)
            self.partial_fit(inputs, y_enc, **fit_params)
        self.n_trainable_params_ = sum(p.numel() for p in self.module_.parameters()
                                       if p.requires_grad)
        return self

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit`` with ``head``'s learning rate and epochs (prefer
        :meth:`fit`, which also tokenises)."""
        with self._head_recipe():
            return super().partial_fit(X, y, classes=classes, **fit_params)

    def _set_reference(self, inputs):
        # unsupervised, as a tangent space fitted in a pipeline: all the training epochs
        codes, log_scale = ((inputs["codes"], inputs["log_scale"])
                            if isinstance(inputs, dict) else (inputs, None))
        device = next(self.module_.buffers()).device
        self.module_.set_reference(
            torch.as_tensor(np.asarray(codes, dtype=np.int64), device=device),
            None if log_scale is None else torch.as_tensor(log_scale, device=device))

    @property
    def classes_(self):
        check_is_fitted(self, "label_encoder_")
        return self.label_encoder_.classes_

    def predict_proba(self, X, groups=None):
        """Class probabilities ``(n_epochs, n_classes)``, columns in :attr:`classes_` order.

        ``groups`` (or ``epochs.metadata[recenter]``) re-centres each group of ``X`` on its
        own mean, as in ``fit``: needed, and only accepted, when ``fit`` re-centred.
        """
        check_is_fitted(self, "label_encoder_")
        inputs = self._inputs(X)
        if isinstance(X, torch.utils.data.Dataset):  # skorch's own calls while training
            return super().predict_proba(inputs)
        groups = self._groups(X, groups, None)
        recentred = getattr(self, "recentred_", False)
        if recentred != (groups is not None):
            source = ("groups=..." if self.recenter is None else
                      f"groups=... (or Epochs with metadata column {self.recenter!r})")
            raise ValueError(
                f"this classifier was fitted with re-centring per group: pass {source} to "
                "predict too." if recentred
                else "groups were given but this classifier was fitted without re-centring; "
                "drop them, or refit with groups.")
        if recentred:
            inputs = self._recentred(inputs, groups)
        return super().predict_proba(inputs)

    def predict(self, X, groups=None):
        """Predicted labels (the original label values)."""
        check_is_fitted(self, "label_encoder_")
        return self.label_encoder_.inverse_transform(
            self.predict_proba(X, groups).argmax(axis=1))

    def decision_function(self, X, groups=None):
        """Log-probabilities; for two classes, the log-odds of ``classes_[1]``."""
        proba = np.clip(self.predict_proba(X, groups), 1e-12, 1.0)
        if proba.shape[1] == 2:
            return np.log(proba[:, 1]) - np.log(proba[:, 0])
        return np.log(proba)

    def score(self, X, y, groups=None):
        """Accuracy on ``(X, y)``."""
        return float(np.mean(self.predict(X, groups) == np.asarray(y)))

    # -- per-group re-centring -------------------------------------------------------------
    def _groups(self, X, groups, n_epochs):
        """Each epoch's group: ``groups``, else ``epochs.metadata[recenter]``, else None."""
        if self.recenter is not None and not isinstance(self.recenter, str):
            raise TypeError(f"recenter must be None or the name of an epochs.metadata "
                            f"column; got {type(self.recenter).__name__}.")
        if groups is None and self.recenter is not None:
            if not is_epochs(X):
                raise ValueError(
                    f"recenter={self.recenter!r} reads each epoch's group from "
                    f"epochs.metadata, but X is a {type(X).__name__}: pass mne.Epochs with "
                    "that metadata column, or the groups themselves (groups=...).")
            groups = _metadata_column(X, self.recenter)
        if groups is None:
            return None
        groups = column_or_1d(groups)
        if n_epochs is not None and len(groups) != n_epochs:
            raise ValueError(f"groups has {len(groups)} entries but there are {n_epochs} "
                             "epochs; give one group per epoch.")
        # A missing group would leave its epochs without a whitening matrix; labels of mixed
        # types (1 and "1") cannot be sorted by np.unique: number them in order of appearance.
        missing = [i for i, g in enumerate(groups.tolist())
                   if g is None or (isinstance(g, float) and g != g)]
        if missing:
            raise ValueError(f"groups has {len(missing)} missing values (NaN or None), the "
                             f"first at epoch {missing[0]}; give every epoch a group (its "
                             "subject or session).")
        index = {}
        return np.array([index.setdefault(g, len(index)) for g in groups.tolist()])

    def _recentred(self, inputs, groups):
        """``inputs`` with each group's log scales centred and its whitening matrix (the
        inverse square root of the group's mean token covariance) per epoch."""
        if not isinstance(inputs, dict):
            inputs = {"codes": inputs}
        codes, log_scale = inputs["codes"], inputs.get("log_scale")
        if len(groups) != len(codes):
            raise ValueError(f"groups has {len(groups)} entries but X holds {len(codes)} "
                             "epochs; give one group per epoch.")
        device = next(self.module_.buffers()).device
        codes_t = torch.as_tensor(np.asarray(codes, dtype=np.int64), device=device)
        if log_scale is not None:
            log_scale = log_scale.copy()
        n_chans = codes_t.shape[1]
        recentring = np.empty((len(codes), n_chans, n_chans), dtype=np.float32)
        for group in np.unique(groups):
            mask = groups == group
            part = None
            if log_scale is not None:
                # each subject's channel powers relative to their own mean
                log_scale[mask] -= log_scale[mask].mean(axis=0)
                part = torch.as_tensor(log_scale[mask], device=device)
            white = self.module_.group_whitening(codes_t[mask], part)
            recentring[mask] = white.float().cpu().numpy()
        out = dict(inputs, recentring=recentring)
        if log_scale is not None:
            out["log_scale"] = log_scale
        return out
