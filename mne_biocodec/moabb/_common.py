"""What the MOABB benchmark and the protocols share: a run's data set, paradigm and data.

Datasets and paradigms are resolved offline (no download), pipelines grouped by the input
they take and loaded once per group; the metric, the log and the record (configuration and
file stem) of a run are the same for :func:`~mne_biocodec.moabb.run_benchmark`,
:func:`~mne_biocodec.moabb.run_cross_subject` and :func:`~mne_biocodec.moabb.run_low_resource`.
"""

import copy
import os
import time

from .pipelines import make_pipelines, pipeline_input

__all__ = ["resolve_dataset", "resolve_paradigm", "dataset_sfreq", "codec_training_subjects",
           "codec_note", "METRIC_LABELS", "offline_environment", "resolve_run",
           "group_pipelines", "load_data",
           "companion_paradigm", "paradigm_classes", "metric_for", "metric_label",
           "chance_level", "is_number", "make_logger", "run_config", "result_stem"]

#: Scikit-learn scorer names -> labels used in tables and plots.
METRIC_LABELS = {"roc_auc": "ROC AUC", "accuracy": "accuracy",
                 "balanced_accuracy": "balanced accuracy", "cohen_kappa": "Cohen's kappa",
                 "f1_weighted": "weighted F1"}

# Dataset names that map to our offline classes (MOABB's would download missing runs).
_OFFLINE_DATASETS = {"PhysionetMI": "OfflinePhysionetMI",
                     "PhysionetMotorImagery": "OfflinePhysionetMI",
                     "OfflinePhysionetMI": "OfflinePhysionetMI"}
# MOABB dataset codes -> the CODEC_SPLITS key of the same recordings.
_SPLIT_KEYS = {"OfflinePhysionetMotorImagery": "eegmmidb", "PhysionetMotorImagery": "eegmmidb",
               "Kalunga2016": "kalunga"}


def offline_environment():
    """Point MOABB at upstream sources (no mirror wait) and check the data root."""
    from ..datasets import get_data_path

    os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")
    root = get_data_path()
    os.environ.setdefault("MNE_DATA", str(root))
    return root


def resolve_dataset(dataset, subjects=None):
    """A MOABB dataset instance from a name or an instance, restricted to ``subjects``.

    Parameters
    ----------
    dataset : str | moabb.datasets.base.BaseDataset
        ``"PhysionetMI"`` (read offline with :class:`~mne_biocodec.moabb.OfflinePhysionetMI`,
        which loads only the runs present), or any :mod:`moabb.datasets` class name
        (``"Kalunga2016"``, ``"BNCI2014_001"``...), or an instance.
    subjects : list of int | None
        Subjects to use (the dataset's ``subject_list`` when None).

    Returns
    -------
    dataset : moabb.datasets.base.BaseDataset
        A copy with ``subject_list`` set.
    """
    import moabb.datasets
    from moabb.datasets.base import BaseDataset

    from . import datasets as offline

    if isinstance(dataset, BaseDataset):
        ds = copy.copy(dataset)
    elif isinstance(dataset, str) and dataset in _OFFLINE_DATASETS:
        ds = getattr(offline, _OFFLINE_DATASETS[dataset])()
    elif isinstance(dataset, str) and isinstance(getattr(moabb.datasets, dataset, None), type):
        ds = getattr(moabb.datasets, dataset)()
    else:
        raise ValueError(f"dataset must be a MOABB dataset instance or a moabb.datasets class "
                         f"name such as 'PhysionetMI' or 'Kalunga2016'; got {dataset!r}.")
    if subjects is not None:
        subjects = [int(s) for s in subjects]
        missing = [s for s in subjects if s not in ds.subject_list]
        if missing:
            more = " ..." if len(ds.subject_list) > 20 else ""
            raise ValueError(f"subjects {missing} are not available in {ds.code}; available: "
                             f"{ds.subject_list[:20]}{more}.")
        ds.subject_list = subjects
    return ds


def resolve_paradigm(paradigm, dataset=None, n_classes=None, events=None):
    """A MOABB paradigm instance with its default (published-benchmark) settings.

    Parameters
    ----------
    paradigm : str | moabb.paradigms.base.BaseParadigm
        A :mod:`moabb.paradigms` class name (``"LeftRightImagery"``, ``"MotorImagery"``,
        ``"SSVEP"``...) or an instance (used as is).
    dataset : moabb.datasets.base.BaseDataset | None
        With ``n_classes`` and no ``events``, the classes are the dataset's first
        ``n_classes`` events (MOABB's ``MotorImagery`` would otherwise take them all).
    n_classes : int | None
        Number of classes (paradigms that take it).
    events : list of str | None
        Class names to use.

    Returns
    -------
    paradigm : moabb.paradigms.base.BaseParadigm
    """
    import moabb.paradigms
    from moabb.paradigms.base import BaseParadigm

    if isinstance(paradigm, BaseParadigm):
        return paradigm
    cls = getattr(moabb.paradigms, str(paradigm), None)
    if not isinstance(cls, type) or not issubclass(cls, BaseParadigm):
        raise ValueError(f"paradigm must be a moabb.paradigms class name such as "
                         f"'LeftRightImagery', 'MotorImagery' or 'SSVEP'; got {paradigm!r}.")
    if events is None and n_classes is not None and dataset is not None:
        events = list(dataset.event_id)[:n_classes]
    kwargs = {}
    if n_classes is not None:
        kwargs["n_classes"] = int(n_classes)
    if events is not None:
        kwargs["events"] = list(events)
    try:
        return cls(**kwargs)
    except TypeError:
        raise ValueError(f"{cls.__name__} takes neither n_classes nor events; leave them "
                         "unset.") from None


def dataset_sfreq(dataset, paradigm):
    """Sampling rate of the arrays a paradigm returns for a dataset (Hz).

    The paradigm's ``resample`` when set, else the rate of the first subject's first run.
    """
    if getattr(paradigm, "resample", None):
        return float(paradigm.resample)
    data = dataset.get_data(dataset.subject_list[:1])
    session = next(iter(next(iter(data.values())).values()))
    return float(next(iter(session.values())).info["sfreq"])


def codec_training_subjects(dataset):
    """Subjects of ``dataset`` whose recordings (some of them) trained the shipped EEG codec.

    For PhysioNet EEGMMI the codec saw only the baseline and executed-movement runs of
    subjects 1-3, never the imagery runs decoded here; for Kalunga2016 it saw all runs of
    subjects 1-2 (unsupervised: no labels). See :data:`mne_biocodec.datasets.CODEC_SPLITS`.

    Parameters
    ----------
    dataset : moabb.datasets.base.BaseDataset

    Returns
    -------
    subjects : set of int
    """
    from ..datasets import CODEC_SPLITS

    key = _SPLIT_KEYS.get(dataset.code)
    return set(CODEC_SPLITS["eeg"]["train"].get(key, ())) if key else set()


def codec_note(dataset):
    """A sentence on which of ``dataset``'s subjects the shipped codec saw ("" if none)."""
    seen = sorted(codec_training_subjects(dataset) & set(dataset.subject_list))
    if not seen:
        return ""
    what = {"eegmmidb": "their baseline and executed-movement runs, never the imagery runs "
                        "decoded here",
            "kalunga": "all their runs (unlabelled)"}.get(_SPLIT_KEYS.get(dataset.code), "")
    return (f"The shipped codec's unsupervised training used subjects {seen}"
            + (f" ({what})" if what else "") + "; the others are held out from it.")


def resolve_run(dataset, paradigm, subjects=None, n_classes=None, events=None):
    """The data set and paradigm of a run, offline, checked to fit each other.

    Parameters
    ----------
    dataset, subjects
        See :func:`resolve_dataset`.
    paradigm, n_classes, events
        See :func:`resolve_paradigm`.

    Returns
    -------
    dataset : moabb.datasets.base.BaseDataset
    paradigm : moabb.paradigms.base.BaseParadigm
    """
    offline_environment()
    ds = resolve_dataset(dataset, subjects)
    par = resolve_paradigm(paradigm, ds, n_classes=n_classes, events=events)
    if not par.is_valid(ds):
        raise ValueError(f"dataset {ds.code} is not valid for {type(par).__name__} (paradigm "
                         f"{ds.paradigm!r}, events {list(ds.event_id)}).")
    return ds, par


def group_pipelines(pipelines, dataset, paradigm, *, cache_dir=None, classifier_params=None,
                    random_state=42, log=print):
    """A run's pipelines, grouped by the input they take.

    Parameters
    ----------
    pipelines : list of str | dict of str -> estimator | None
        :func:`~mne_biocodec.moabb.make_pipelines` names (all when None) or pipelines.
    dataset : moabb.datasets.base.BaseDataset
    paradigm : moabb.paradigms.base.BaseParadigm
    cache_dir, classifier_params, random_state
        Passed to :func:`~mne_biocodec.moabb.make_pipelines`.
    log : callable
        Told which pipelines are skipped (see :func:`split_by_input`).

    Returns
    -------
    sfreq : float
        Sampling rate of the paradigm's arrays (what the BioCodec pipelines are built for).
    pipelines : dict of str -> estimator
    class_names : list of str
    groups : dict of str -> dict of str -> estimator
        ``{input kind: {name: pipeline}}`` (see :func:`split_by_input`).
    """
    sfreq = dataset_sfreq(dataset, paradigm)
    if isinstance(pipelines, dict):
        pipes = pipelines
    else:
        pipes = make_pipelines(type(paradigm).__name__, sfreq, cache_dir=cache_dir,
                               names=None if pipelines is None else list(pipelines),
                               classifier_params=classifier_params, random_state=random_state)
    classes = paradigm_classes(paradigm, dataset)
    return sfreq, pipes, classes, split_by_input(pipes, classes, log)


def load_data(paradigm, dataset, subjects, kind):
    """``(X, y, meta)`` of ``subjects`` as a pipeline of input ``kind`` takes them.

    ``kind`` is what :func:`~mne_biocodec.moabb.pipeline_input` tells: ``"array"``,
    ``"filterbank"`` (from :func:`companion_paradigm`) or ``"epochs"`` (``mne.Epochs``).
    """
    p = companion_paradigm(paradigm, kind, dataset)
    return p.get_data(dataset, subjects=list(subjects), return_epochs=kind == "epochs")


def companion_paradigm(paradigm, kind, dataset):
    """The paradigm whose data a pipeline of input ``kind`` takes (filter bank for SSVEP)."""
    if kind != "filterbank":
        return paradigm
    from moabb.paradigms import FilterBankSSVEP

    # The bands MOABB derives from the stimulation frequencies when filters=None, given
    # explicitly: MOABB 1.7's evaluations build their processing before deriving them and
    # then pass a single band.
    events = list(paradigm.used_events(dataset))
    filters = [[float(f) - 0.5, float(f) + 0.5] for f in events if is_number(f)]
    return FilterBankSSVEP(filters=filters, n_classes=paradigm.n_classes, events=events,
                           tmin=paradigm.tmin, tmax=paradigm.tmax, resample=paradigm.resample)


def split_by_input(pipelines, class_names, log):
    """``{kind: {name: pipeline}}``; CCA pipelines dropped when a class has no frequency."""
    groups = {}
    numeric = all(is_number(c) for c in class_names)
    for name, pipe in pipelines.items():
        kind = pipeline_input(pipe)
        if kind == "epochs" and not numeric:
            log(f"skipping {name}: it needs stimulus-frequency classes and the paradigm has "
                f"{class_names} (use n_classes without the rest class).")
            continue
        groups.setdefault(kind, {})[name] = pipe
    return groups


def is_number(text):
    """Whether a class name is a number (an SSVEP stimulation frequency)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def paradigm_classes(paradigm, dataset):
    """The class names a paradigm takes from a dataset, in MOABB's order."""
    return list(paradigm.used_events(dataset))


def metric_for(paradigm):
    """``(scorer name, label)`` of a paradigm's metric."""
    scoring = paradigm.scoring if isinstance(paradigm.scoring, str) else "score"
    return scoring, metric_label(scoring)


def metric_label(scoring):
    """The label of a scorer name in tables and plots."""
    return METRIC_LABELS.get(scoring, scoring)


def chance_level(scoring, n_classes):
    """Chance score of a metric (None when unknown)."""
    if scoring == "roc_auc":
        return 0.5
    return 1.0 / n_classes if n_classes else None


def make_logger(verbose):
    """A ``log(message)`` that prints when ``verbose``."""
    def log(message):
        if verbose:
            print(message, flush=True)
    return log


def run_config(dataset, paradigm, evaluation, sfreq, class_names, cache_dir, extra=None):
    """The record of a run (the report's ``config``): data, settings, versions, date."""
    import moabb
    import pyriemann

    from .._version import __version__

    config = {
        "dataset": dataset.code, "subjects": list(dataset.subject_list),
        "paradigm": type(paradigm).__name__, "classes": class_names,
        "paradigm_settings": {k: getattr(paradigm, k, None)
                              for k in ("filters", "tmin", "tmax", "resample", "baseline")},
        "dataset_interval": list(dataset.interval), "sfreq": sfreq, "evaluation": evaluation,
        "codec_training_subjects": sorted(codec_training_subjects(dataset)),
        "cache_dir": str(cache_dir) if cache_dir else None,
        "versions": {"mne_biocodec": __version__, "moabb": moabb.__version__,
                     "pyriemann": pyriemann.__version__},
        "threads": os.environ.get("OMP_NUM_THREADS"),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    config.update(extra or {})
    return config


def result_stem(dataset, paradigm, evaluation, n_classes):
    """File stem of a run's results: ``<dataset>_<paradigm>[-<n>class]_<evaluation>``."""
    name = "PhysionetMI" if dataset.code.endswith("PhysionetMotorImagery") else dataset.code
    suffix = f"-{n_classes}class" if n_classes and type(paradigm).__name__ != "LeftRightImagery" \
        else ""
    return f"{name}_{type(paradigm).__name__}{suffix}_{evaluation}"
