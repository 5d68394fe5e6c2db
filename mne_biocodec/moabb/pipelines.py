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

__all__ = ["make_pipelines", "pipeline_config", "pipeline_input", "count_trainable_parameters",
           "CoherenceMatrices", "PARADIGM_FAMILIES", "CODEC_SFREQ"]

#: Sampling rate the MOABB pipeline files assume (the EEG codec's): MOABB hands pipelines
#: bare arrays, so run them with the paradigm resampled to it (``resample=250``).
CODEC_SFREQ = 250.0

#: Paradigm family -> the MOABB paradigm class names it covers.
PARADIGM_FAMILIES = {
    "imagery": ("LeftRightImagery", "MotorImagery", "FilterBankLeftRightImagery",
                "FilterBankMotorImagery"),
    "ssvep": ("SSVEP", "FilterBankSSVEP"),
}


class CoherenceMatrices(TransformerMixin, BaseEstimator):
    """Rebuild channel-by-channel matrices from BioCodec's spatial token features.

    :class:`~mne_biocodec.BioCodecTokenizer` with ``output="spatial"`` returns, per epoch, the
    upper triangle of the correlation between the channels' code-embedding streams (and, with
    ``log_scale=True``, each channel's log10 robust scale). This transformer puts them back
    into symmetric positive-definite matrices ``(n_epochs, n_chans, n_chans)`` so that
    Riemannian tools (:class:`pyriemann.tangentspace.TangentSpace`) can follow, as they follow
    signal covariances in MOABB's tangent-space pipelines.

    Parameters
    ----------
    log_scale : bool, default=True
        Whether the features end with the channels' log scales, as the tokenizer's
        ``log_scale`` (the feature count alone cannot tell: ``n`` channels with scales give
        as many features as ``n + 1`` channels without).
    use_scale : bool, default=False
        Multiply rows and columns by the channels' robust scales (needs ``log_scale``),
        giving covariance-like matrices that carry band power; False keeps correlations.
    normalize : bool, default=False
        Divide each matrix by its mean diagonal (trace / n_chans): with ``use_scale``, the
        channels' relative power stays and the epoch's overall amplitude goes.
    shrinkage : float, default=0.01
        Weight of the identity mixed into each correlation, ``(1 - s) R + s I``: a
        correlation of token streams can be rank-deficient for short epochs.

    Attributes
    ----------
    n_chans_ : int
        Channels, found from the feature count in ``fit``.
    n_features_in_ : int
        Features per epoch seen in ``fit``.
    """

    def __init__(self, log_scale=True, use_scale=False, normalize=False, shrinkage=0.01):
        self.log_scale = log_scale
        self.use_scale = use_scale
        self.normalize = normalize
        self.shrinkage = shrinkage

    def fit(self, X, y=None):
        """Find the channel count from the feature count.

        Parameters
        ----------
        X : ndarray, shape (n_epochs, n_features)
            Spatial token features.
        y : None
            Ignored.

        Returns
        -------
        self : CoherenceMatrices
        """
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D spatial token features (n_epochs, n_features); "
                             f"got shape {X.shape}. Use BioCodecTokenizer(output='spatial').")
        if not 0.0 <= float(self.shrinkage) < 1.0:
            raise ValueError(f"shrinkage must be in [0, 1); got {self.shrinkage}.")
        if self.use_scale and not self.log_scale:
            raise ValueError("use_scale=True needs the log scales: make the features with "
                             "BioCodecTokenizer(output='spatial', log_scale=True) and set "
                             "log_scale=True.")
        # n (n - 1) / 2 coherences, plus n log scales: n (n + 1) / 2 features
        n_features = X.shape[1]
        n = int(round((np.sqrt(1 + 8 * n_features) + (-1 if self.log_scale else 1)) / 2))
        if n < 2 or n * (n - 1) // 2 + (n if self.log_scale else 0) != n_features:
            raise ValueError(
                f"{n_features} features are not the output of BioCodecTokenizer("
                f"output='spatial', log_scale={self.log_scale}): expected n (n - 1) / 2 "
                "coherences" + (" + n log scales" if self.log_scale else "")
                + " for n channels. Check log_scale.")
        self.n_features_in_ = n_features
        self.n_chans_ = n
        return self

    def transform(self, X):
        """SPD matrices ``(n_epochs, n_chans, n_chans)`` from spatial token features."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n_epochs, {self.n_features_in_}); got "
                             f"{X.shape}.")
        n = self.n_chans_
        upper = np.triu_indices(n, 1)
        mats = np.broadcast_to(np.eye(n), (len(X), n, n)).copy()
        mats[:, upper[0], upper[1]] = X[:, :len(upper[0])]
        mats[:, upper[1], upper[0]] = X[:, :len(upper[0])]
        mats = (1.0 - self.shrinkage) * mats + self.shrinkage * np.eye(n)
        if self.use_scale:
            scale = 10.0 ** X[:, len(upper[0]):]
            mats *= scale[:, :, None] * scale[:, None, :]
        if self.normalize:
            mats /= np.trace(mats, axis1=1, axis2=2)[:, None, None] / n
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
    from moabb.pipelines.utils import FilterBank
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
            ("tokens", _tokenizer(codec, sfreq, cache_dir, output="spatial")),
            ("coherence", CoherenceMatrices(use_scale=True, normalize=True)),
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
    params = {"max_epochs": 20, "random_state": random_state, **(classifier_params or {})}
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
        Token cache folder (:mod:`mne_biocodec.cache`), passed as ``cache=`` to the BioCodec
        estimators (tokenising is most of their cost, and cross-validation tokenises each
        epoch once per fold without it); None leaves them to ``$MNE_BIOCODEC_CACHE``.
    names : list of str | None, default=None
        Pipelines to return (all when None).
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
        ``"BioCodecClassifier"`` (the small transformer head),
        ``"CSP+LDA"`` and ``"TS+LR"`` (MOABB's CSP.yml and TSLR.yml). For SSVEP, the same
        BioCodec pipelines plus ``"BioCodec-FB+LR"`` (``"BioCodec+LR"`` features of each band
        of ``FilterBankSSVEP`` input),
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
        return pipes
    unknown = [n for n in names if n not in pipes]
    if unknown:
        raise ValueError(f"unknown pipeline names {unknown} for paradigm {paradigm!r}; "
                         f"choose among {sorted(pipes)}.")
    return {n: pipes[n] for n in names}


def pipeline_config(name, paradigms, sfreq=CODEC_SFREQ):
    """A MOABB pipeline-file entry ``{"name", "paradigms", "pipeline"}`` for a BioCodec pipeline.

    The files in ``mne_biocodec/moabb/pipelines/`` call this to define ``PIPELINE``, the
    variable :func:`moabb.pipelines.utils.parse_pipelines_from_directory` reads from ``.py``
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
