"""Ready scikit-learn pipelines for MOABB: BioCodec ones and MOABB's classic references.

The reference pipelines are built as MOABB's own pipeline files build them
(``pipelines/CSP.yml``, ``TSLR.yml``, ``TSLR-SSVEP.yml``, ``CCA-SSVEP.yml`` in the MOABB
repository), so that their scores can be set next to the published MOABB benchmark.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = ["make_pipelines", "pipeline_config", "pipeline_input", "count_trainable_parameters",
           "CoherenceMatrices", "PARADIGM_FAMILIES", "CODEC_SFREQ", "DECODED_PIPELINES"]

#: Sampling rate the MOABB pipeline files assume (the EEG codec's): MOABB hands pipelines
#: bare arrays, so run them with the paradigm resampled to it (``resample=250``).
CODEC_SFREQ = 250.0

#: Pipelines that run a classic pipeline on the signals the tokens decode to: returned by
#: :func:`make_pipelines` only when named.
DECODED_PIPELINES = ("BioCodec-Decoded+TS+LR", "BioCodec-Decoded-Ext+TS+LR")

#: Paradigm family -> the MOABB paradigm class names it covers.
PARADIGM_FAMILIES = {
    "imagery": ("LeftRightImagery", "MotorImagery", "FilterBankLeftRightImagery",
                "FilterBankMotorImagery"),
    "ssvep": ("SSVEP", "FilterBankSSVEP"),
}


class CoherenceMatrices(TransformerMixin, BaseEstimator):
    """Regularise BioCodec's token coherence matrices for Riemannian tools.

    :class:`~mne_biocodec.BioCodecTokenizer` with ``output="coherence"`` returns, per epoch,
    the correlation matrix of the channels' code-embedding streams, with ``log_scale=True``
    (the default) scaled by the channels' robust scales as a covariance is by the standard
    deviations. This transformer shrinks each matrix toward its diagonal, so that it is
    positive definite, and optionally removes the epoch's overall amplitude, so that
    Riemannian tools (:class:`pyriemann.tangentspace.TangentSpace`) can follow, as they follow
    signal covariances in MOABB's tangent-space pipelines.

    Parameters
    ----------
    normalize : bool, default=False
        Divide each matrix by its mean diagonal (trace / n_chans): with scaled matrices, the
        channels' relative power stays and the epoch's overall amplitude goes.
    shrinkage : float, default=0.01
        Weight of the diagonal mixed into each matrix, ``(1 - s) C + s diag(C)`` (for a
        correlation, ``(1 - s) R + s I``): a correlation of token streams can be
        rank-deficient for short epochs.

    Attributes
    ----------
    n_chans_ : int
        Channels (the matrices' size) seen in ``fit``.
    n_features_in_ : int
        Same as ``n_chans_`` (the input is 3-D).

    See Also
    --------
    mne_biocodec.estimators.features.token_coherence : The matrices, from tokens.
    """

    def __init__(self, normalize=False, shrinkage=0.01):
        self.normalize = normalize
        self.shrinkage = shrinkage

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags

    def _check_matrices(self, X, n_chans=None):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[1] != X.shape[2] or X.shape[1] < 1:
            raise ValueError(
                f"X must be token coherence matrices (n_epochs, n_chans, n_chans); got shape "
                f"{X.shape}. Use BioCodecTokenizer(output='coherence') before this step.")
        if n_chans is not None and X.shape[1] != n_chans:
            raise ValueError(f"X must have shape (n_epochs, {n_chans}, {n_chans}) as in fit; "
                             f"got {X.shape}. Tokenise the channels seen in fit.")
        if not np.isfinite(X).all() or (np.diagonal(X, axis1=1, axis2=2) <= 0).any():
            raise ValueError("X must hold finite matrices with a positive diagonal, as token "
                             "coherence matrices have; got non-finite values or a non-positive "
                             "diagonal entry. Pass BioCodecTokenizer(output='coherence')'s "
                             "output.")
        return X

    def fit(self, X, y=None):
        """Record the matrices' size.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_chans, n_chans)
            Token coherence matrices.
        y : None
            Ignored.

        Returns
        -------
        self : CoherenceMatrices
        """
        if not 0.0 <= float(self.shrinkage) < 1.0:
            raise ValueError(f"shrinkage must be in [0, 1); got {self.shrinkage}.")
        self.n_chans_ = self._check_matrices(X).shape[1]
        self.n_features_in_ = self.n_chans_
        return self

    def transform(self, X):
        """Shrunk (and normalised) matrices.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_chans, n_chans)
            Token coherence matrices.

        Returns
        -------
        matrices : ndarray of float64, shape (n_epochs, n_chans, n_chans)
            Symmetric positive definite for token coherence matrices (positive
            semi-definite) and ``shrinkage > 0``.
        """
        check_is_fitted(self, "n_chans_")
        X = self._check_matrices(X, self.n_chans_)
        diag = np.arange(self.n_chans_)
        mats = (1.0 - self.shrinkage) * X
        mats[:, diag, diag] += self.shrinkage * X[:, diag, diag]
        if self.normalize:
            mats /= np.trace(mats, axis1=1, axis2=2)[:, None, None] / self.n_chans_
        return mats


def _tokenizer(codec, sfreq, cache_dir, **params):
    from ..estimators import BioCodecTokenizer

    tokenizer = BioCodecTokenizer(codec=codec, sfreq=sfreq, **params)
    return _with_cache(tokenizer, cache_dir)


def _with_cache(estimator, cache_dir):
    """Set the token cache on estimators that take one (``cache=``), else leave them."""
    if cache_dir is not None and "cache" in estimator.get_params(deep=False):
        estimator.set_params(cache=str(cache_dir))
    return estimator


def _biocodec_pipelines(family, sfreq, codec, cache_dir, classifier_params, random_state):
    from moabb.pipelines.features import ExtendedSSVEPSignal
    from moabb.pipelines.utils import FilterBank
    from pyriemann.estimation import Covariances
    from pyriemann.tangentspace import TangentSpace

    from ..estimators import BioCodecClassifier

    pipes = {
        # Spatial token coherence + log channel scales (band power), as MOABB's TS+LR but
        # on tokens; C=1 as MOABB's logistic regressions.
        "BioCodec+LR": Pipeline([
            ("tokens", _tokenizer(codec, sfreq, cache_dir, output="spatial")),
            ("scale", StandardScaler()),
            ("lr", LogisticRegression(C=1.0, max_iter=1000)),
        ]),
        # Token coherence scaled by the channels' relative power, in the tangent space,
        # MOABB's TS+LR head.
        "BioCodec+TS+LR": Pipeline([
            ("tokens", _tokenizer(codec, sfreq, cache_dir, output="coherence")),
            ("coherence", CoherenceMatrices(normalize=True)),
            ("ts", TangentSpace(metric="riemann")),
            ("lr", LogisticRegression(C=1.0)),
        ]),
        # MOABB's TS+LR on the signals the tokens decode to: what storing the epochs as
        # tokens costs the classic pipeline (not a reading of the codes themselves).
        "BioCodec-Decoded+TS+LR": Pipeline([
            ("tokens", _tokenizer(codec, sfreq, cache_dir, output="decoded")),
            ("cov", Covariances("oas")),
            ("ts", TangentSpace(metric="riemann")),
            ("lr", LogisticRegression(C=1.0)),
        ]),
    }
    if family == "ssvep":
        # SSVEP lives in narrow bands around the stimulation frequencies (13-21 Hz, above the
        # codec's 10.4 Hz frame Nyquist rate): tokens of each FilterBankSSVEP band, as MOABB's
        # SSVEP_TS+LR uses the bands.
        pipes["BioCodec-FB+LR"] = Pipeline([
            ("tokens", FilterBank(_tokenizer(codec, sfreq, cache_dir, output="spatial"))),
            ("scale", StandardScaler()),
            ("lr", LogisticRegression(C=1.0, max_iter=1000)),
        ])
        # MOABB's SSVEP_TS+LR with token coherence in place of the signal covariance: the
        # bands stacked as extra channels, so the tangent space sees cross-band coherence too.
        pipes["BioCodec-Ext+TS+LR"] = Pipeline([
            ("extend", ExtendedSSVEPSignal()),
            ("tokens", _tokenizer(codec, sfreq, cache_dir, output="coherence")),
            ("coherence", CoherenceMatrices(normalize=True)),
            ("ts", TangentSpace(metric="riemann")),
            ("lr", LogisticRegression(C=1.0)),
        ])
        # MOABB's SSVEP_TS+LR on the decoded tokens of the stacked bands.
        pipes["BioCodec-Decoded-Ext+TS+LR"] = Pipeline([
            ("extend", ExtendedSSVEPSignal()),
            ("tokens", _tokenizer(codec, sfreq, cache_dir, output="decoded")),
            ("cov", Covariances("oas")),
            ("ts", TangentSpace(metric="riemann")),
            ("lr", LogisticRegression(C=1.0)),
        ])
    # The classifier's own defaults (its head sets what max_epochs=None means): MOABB scores
    # the estimator a user gets, not a shortened one.
    params = {"random_state": random_state, **(classifier_params or {})}
    clf = BioCodecClassifier(codec=codec, sfreq=sfreq, **params)
    pipes["BioCodecClassifier"] = Pipeline([("clf", _with_cache(clf, cache_dir))])
    return pipes


def _reference_pipelines(family):
    from moabb.pipelines.classification import SSVEP_CCA
    from moabb.pipelines.features import ExtendedSSVEPSignal
    from pyriemann.estimation import Covariances
    from pyriemann.spatialfilters import CSP
    from pyriemann.tangentspace import TangentSpace
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    if family == "imagery":
        return {
            # MOABB pipelines/CSP.yml
            "CSP+LDA": Pipeline([("cov", Covariances("oas")), ("csp", CSP(nfilter=6)),
                                 ("lda", LinearDiscriminantAnalysis(solver="svd"))]),
            # MOABB pipelines/TSLR.yml
            "TS+LR": Pipeline([("cov", Covariances("oas")),
                               ("ts", TangentSpace(metric="riemann")),
                               ("lr", LogisticRegression(C=1.0))]),
        }
    return {
        # MOABB pipelines/TSLR-SSVEP.yml (FilterBankSSVEP input)
        "SSVEP_TS+LR": Pipeline([("extend", ExtendedSSVEPSignal()),
                                 ("cov", Covariances("oas")),
                                 ("ts", TangentSpace(metric="riemann")),
                                 ("lr", LogisticRegression(C=1.0))]),
        # MOABB pipelines/CCA-SSVEP.yml (mne.Epochs input; stimulus-frequency classes only)
        "SSVEP_CCA": Pipeline([("cca", SSVEP_CCA(n_harmonics=3))]),
        # Plain tangent space on the band-passed signals, the imagery reference.
        "TS+LR": Pipeline([("cov", Covariances("oas")),
                           ("ts", TangentSpace(metric="riemann")),
                           ("lr", LogisticRegression(C=1.0))]),
    }


def make_pipelines(paradigm="imagery", sfreq=None, *, codec="biocodec-eeg", cache_dir=None,
                   names=None, classifier_params=None, random_state=42):
    """BioCodec and classic reference pipelines for a MOABB paradigm.

    Parameters
    ----------
    paradigm : str, default="imagery"
        ``"imagery"`` or ``"ssvep"``, or a MOABB paradigm class name (``"LeftRightImagery"``,
        ``"MotorImagery"``, ``"SSVEP"``, ``"FilterBankSSVEP"``...).
    sfreq : float | None, default=None
        Sampling rate of the arrays the BioCodec estimators will see (the dataset's rate, or
        the paradigm's ``resample``). Required for array input (MOABB's default); None works
        only with ``mne.Epochs`` input.
    codec : str | path-like | BioCodec, default="biocodec-eeg"
        The codec of the BioCodec pipelines.
    cache_dir : str | path-like | None, default=None
        Token cache folder (:mod:`mne_biocodec.tokens.cache`), passed as ``cache=`` to the
        BioCodec estimators (tokenising is most of their cost: the in-process cache shares
        the tokens between folds, a folder keeps them for later runs); None leaves them to
        ``$MNE_BIOCODEC_CACHE``.
    names : list of str | None, default=None
        Pipelines to return; None: all but the ``Decoded`` ones (:data:`DECODED_PIPELINES`),
        which run only when named: they decode every epoch (once per process, through the
        in-process cache), a pass that costs about as much as tokenising.
    classifier_params : dict | None, default=None
        Extra :class:`~mne_biocodec.BioCodecClassifier` arguments (e.g. ``max_epochs``).
    random_state : int | None, default=42
        Seed of :class:`~mne_biocodec.BioCodecClassifier`.

    Returns
    -------
    pipelines : dict of str -> sklearn.pipeline.Pipeline
        For imagery: ``"BioCodec+LR"`` (spatial token coherence + log channel scales,
        standardised, L2 logistic regression), ``"BioCodec+TS+LR"`` (token coherence matrices
        scaled by the channels' relative power, tangent space, logistic regression),
        ``"BioCodec-Decoded+TS+LR"`` (only when named: MOABB's TS+LR on the signals the
        tokens decode to, ``output="decoded"``: what storing the epochs as tokens costs the
        classic pipeline),
        ``"BioCodecClassifier"`` (its default covariance head),
        ``"CSP+LDA"`` and ``"TS+LR"`` (MOABB's CSP.yml and TSLR.yml). For SSVEP, the same
        BioCodec pipelines plus ``"BioCodec-FB+LR"`` (``"BioCodec+LR"`` features of each band
        of ``FilterBankSSVEP`` input), ``"BioCodec-Ext+TS+LR"`` (``"SSVEP_TS+LR"`` with token
        coherence in place of the covariance: the bands stacked as channels by
        :class:`~moabb.pipelines.features.ExtendedSSVEPSignal`, tokenised, coherence matrices,
        tangent space, logistic regression; ``FilterBankSSVEP`` input),
        ``"BioCodec-Decoded-Ext+TS+LR"`` (only when named: ``"SSVEP_TS+LR"`` on the decoded
        tokens of the stacked bands),
        ``"SSVEP_TS+LR"`` (MOABB's TSLR-SSVEP.yml: needs ``FilterBankSSVEP`` input),
        ``"SSVEP_CCA"`` (CCA-SSVEP.yml: needs ``mne.Epochs`` and stimulus-frequency labels)
        and ``"TS+LR"``. :func:`pipeline_input` tells which input each one takes.

    Examples
    --------
    >>> pipes = make_pipelines("LeftRightImagery", sfreq=160.0)  # doctest: +SKIP
    >>> sorted(pipes)  # doctest: +SKIP
    ['BioCodec+LR', 'BioCodec+TS+LR', 'BioCodecClassifier', 'CSP+LDA', 'TS+LR']
    """
    family = _family(paradigm)
    pipes = {**_biocodec_pipelines(family, sfreq, codec, cache_dir, classifier_params,
                                   random_state),
             **_reference_pipelines(family)}
    if names is None:
        # The decoded-signal pipelines decode every epoch (on eegmat, 283 s for the first
        # fold against 5 s for all of TS+LR), a diagnostic to ask for by name.
        return {n: p for n, p in pipes.items() if n not in DECODED_PIPELINES}
    unknown = [n for n in names if n not in pipes]
    if unknown:
        raise ValueError(f"unknown pipeline names {unknown} for paradigm {paradigm!r}; "
                         f"choose among {sorted(pipes)}.")
    return {n: pipes[n] for n in names}


def pipeline_config(name, paradigms, sfreq=CODEC_SFREQ):
    """A MOABB pipeline-file entry ``{"name", "paradigms", "pipeline"}`` for a BioCodec pipeline.

    The files of :data:`~mne_biocodec.moabb.PIPELINES_DIR` call this to define ``PIPELINE``,
    the variable :func:`moabb.pipelines.utils.parse_pipelines_from_directory` reads from ``.py``
    files (YAML files cannot build skorch estimators with their optimisers and callbacks).

    Parameters
    ----------
    name : str
        A :func:`make_pipelines` name.
    paradigms : list of str
        MOABB paradigm class names the pipeline is run on.
    sfreq : float, default=CODEC_SFREQ
        Sampling rate of the arrays MOABB will pass: set the paradigm's ``resample`` to it.

    Returns
    -------
    config : dict
    """
    return {"name": name, "paradigms": list(paradigms),
            "pipeline": make_pipelines(paradigms[0], sfreq, names=[name])[name]}


def _family(paradigm):
    key = str(paradigm)
    if key.lower() in PARADIGM_FAMILIES:
        return key.lower()
    for family, classes in PARADIGM_FAMILIES.items():
        if key in classes:
            return family
    known = sorted(PARADIGM_FAMILIES) + [c for cs in PARADIGM_FAMILIES.values() for c in cs]
    raise ValueError(f"paradigm must be one of {known}; got {paradigm!r}.")


def pipeline_input(pipeline):
    """What a pipeline takes: ``"array"``, ``"filterbank"`` or ``"epochs"``.

    ``"filterbank"``: 4-D filter-bank arrays (MOABB's ``FilterBankSSVEP`` paradigm,
    pipelines with :class:`moabb.pipelines.features.ExtendedSSVEPSignal` or
    :class:`moabb.pipelines.utils.FilterBank`);
    ``"epochs"``: :class:`mne.Epochs` (MOABB's ``return_epochs=True``; SSVEP_CCA);
    ``"array"``: 3-D arrays ``(n_epochs, n_chans, n_times)``, everything else.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline | estimator

    Returns
    -------
    kind : str
    """
    from moabb.pipelines.classification import SSVEP_CCA
    from moabb.pipelines.features import ExtendedSSVEPSignal
    from moabb.pipelines.utils import FilterBank

    steps = [s for _, s in pipeline.steps] if isinstance(pipeline, Pipeline) else [pipeline]
    if any(isinstance(s, (ExtendedSSVEPSignal, FilterBank)) for s in steps):
        return "filterbank"
    if any(isinstance(s, SSVEP_CCA) for s in steps):
        return "epochs"
    return "array"


# Learned arrays of fitted scikit-learn/pyRiemann steps (the codec itself is frozen).
_LEARNED = ("coef_", "intercept_", "dual_coef_", "filters_")


def count_trainable_parameters(pipeline):
    """Parameters a fitted pipeline learned from its training data.

    Counts the linear models' ``coef_``, ``intercept_`` (and ``dual_coef_`` of SVMs), the
    spatial filters of CSP (``filters_``) and, for :class:`~mne_biocodec.BioCodecClassifier`,
    its ``n_trainable_params_`` (the head). The frozen codec and non-parametric steps
    (covariance estimation, scaling statistics, the tangent-space reference point) are not
    counted, as in the BioCodec paper's parameter counts.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline | estimator
        A fitted pipeline.

    Returns
    -------
    n_params : int
    """
    steps = [s for _, s in pipeline.steps] if isinstance(pipeline, Pipeline) else [pipeline]
    total = 0
    for step in steps:
        inner = getattr(step, "best_estimator_", step)  # grid searches
        n = getattr(inner, "n_trainable_params_", None)
        if isinstance(n, Integral):
            total += int(n)
            continue
        for attr in _LEARNED:
            value = getattr(inner, attr, None)
            if value is not None and hasattr(value, "shape"):
                total += int(np.size(value))
    return total
