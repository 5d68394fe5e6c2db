"""Offline MOABB decoding benchmark: the BioCodec pipelines next to MOABB's classic ones.

The evaluations are MOABB's own (within-session 5-fold cross-validation, cross-session,
cross-subject), with the paradigms' default settings as in MOABB's published benchmark
(Chevallier et al., 2024): imagery band-passed 8-32 Hz, SSVEP 7-45 Hz, the dataset's trial
interval, no resampling; two-class imagery scored by ROC AUC, more classes by accuracy.
Nothing is downloaded: datasets are read from ``MNE_DATA`` (PhysionetMI through
:class:`~mne_biocodec.moabb.OfflinePhysionetMI`).
"""

import copy
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


from .pipelines import count_trainable_parameters, make_pipelines, pipeline_input
from .report import markdown_table, plot_scores, summarize, write_report

__all__ = ["run_benchmark", "resolve_dataset", "resolve_paradigm", "dataset_sfreq",
           "codec_training_subjects", "codec_note", "EVALUATIONS", "METRIC_LABELS"]

#: Evaluation names -> MOABB evaluation classes.
EVALUATIONS = {"within-session": "WithinSessionEvaluation",
               "cross-session": "CrossSessionEvaluation",
               "cross-subject": "CrossSubjectEvaluation"}

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


def _offline_environment():
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
            raise ValueError(f"subjects {missing} are not available in {ds.code}; available: "
                             f"{ds.subject_list[:20]}{' ...' if len(ds.subject_list) > 20 else ''}.")
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


def _companion_paradigm(paradigm, kind, dataset):
    """The paradigm whose data a pipeline of input ``kind`` takes (filter bank for SSVEP)."""
    if kind != "filterbank":
        return paradigm
    from moabb.paradigms import FilterBankSSVEP

    # The bands MOABB derives from the stimulation frequencies when filters=None, given
    # explicitly: MOABB 1.7's evaluations build their processing before deriving them and
    # then pass a single band.
    events = list(paradigm.used_events(dataset))
    filters = [[float(f) - 0.5, float(f) + 0.5] for f in events if _is_number(f)]
    return FilterBankSSVEP(filters=filters, n_classes=paradigm.n_classes, events=events,
                           tmin=paradigm.tmin, tmax=paradigm.tmax, resample=paradigm.resample)


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


def _metric(paradigm):
    scoring = paradigm.scoring if isinstance(paradigm.scoring, str) else "score"
    return scoring, METRIC_LABELS.get(scoring, scoring)


def _chance(scoring, n_classes):
    if scoring == "roc_auc":
        return 0.5
    return 1.0 / n_classes if n_classes else None


def _class_names(paradigm, dataset):
    return list(paradigm.used_events(dataset))


def _split_by_input(pipelines, class_names, log):
    """``{kind: {name: pipeline}}``; CCA pipelines dropped when a class has no frequency."""
    groups = {}
    numeric = all(_is_number(c) for c in class_names)
    for name, pipe in pipelines.items():
        kind = pipeline_input(pipe)
        if kind == "epochs" and not numeric:
            log(f"skipping {name}: it needs stimulus-frequency classes and the paradigm has "
                f"{class_names} (use n_classes without the rest class).")
            continue
        groups.setdefault(kind, {})[name] = pipe
    return groups


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _make_evaluation(name, paradigm, dataset, kind, hdf5_path, overwrite, random_state,
                     n_jobs, n_splits):
    import moabb.evaluations

    cls = getattr(moabb.evaluations, EVALUATIONS[name])
    epochs = kind == "epochs"
    kwargs = dict(paradigm=paradigm, datasets=[dataset], random_state=random_state,
                  n_jobs=n_jobs, overwrite=overwrite, hdf5_path=str(hdf5_path),
                  return_epochs=epochs, mne_labels=epochs)
    if n_splits is not None:
        kwargs["n_splits"] = n_splits
    return cls(**kwargs)


def _moabb_process(evaluation, name, pipeline):
    """MOABB's results of one pipeline (a DataFrame, one row per subject and session)."""
    with warnings.catch_warnings():
        # MOABB's HDF5 results store trips an h5py deprecation (its code, not the user's:
        # nothing to act on).
        warnings.filterwarnings("ignore", message="Creating a dataset without passing data "
                                "or dtype")
        return evaluation.process({name: pipeline})


def _filterbank_within_session(name, pipeline, paradigm, dataset, scoring, n_splits,
                               random_state):
    """MOABB's within-session protocol for a filter-bank pipeline, run here.

    MOABB 1.7's evaluations keep only the first of a filter-bank paradigm's processing
    pipelines, so a ``FilterBankSSVEP`` pipeline would see one band instead of all of them.
    This applies the same protocol to the paradigm's full data: per subject and session,
    stratified k-fold (shuffled, seeded as MOABB seeds it), the paradigm's scorer, the mean
    over folds.
    """
    import pandas as pd
    from sklearn.model_selection import StratifiedKFold, cross_validate

    X, y, meta = _load(paradigm, dataset, dataset.subject_list, "filterbank")
    rows = []
    for (subject, session), block in meta.reset_index(drop=True).groupby(
            ["subject", "session"], sort=True):
        idx = block.index.to_numpy()
        cv = StratifiedKFold(n_splits or 5, shuffle=True, random_state=random_state)
        res = cross_validate(pipeline, X[idx], y[idx], cv=cv, scoring=scoring)
        rows.append({"dataset": dataset.code, "pipeline": name, "subject": subject,
                     "session": session, "score": float(np.mean(res["test_score"])),
                     "time": float(np.mean(res["fit_time"])), "samples": len(idx),
                     "channels": X.shape[1], "n_classes": len(np.unique(y[idx]))})
    return pd.DataFrame(rows)


def _load(paradigm, dataset, subjects, kind):
    """``(X, y)`` of ``subjects`` as a pipeline of input ``kind`` takes them."""
    p = _companion_paradigm(paradigm, kind, dataset)
    X, y, meta = p.get_data(dataset, subjects=list(subjects), return_epochs=kind == "epochs")
    return X, y, meta


def _count_parameters(groups, paradigm, dataset, log):
    """Fit each pipeline once on the first subject's epochs and count what it learned."""
    from sklearn.base import clone

    counts = {}
    subject = dataset.subject_list[0]
    for kind, pipes in groups.items():
        X, y, _ = _load(paradigm, dataset, [subject], kind)
        for name, pipe in pipes.items():
            t0 = time.time()
            counts[name] = count_trainable_parameters(clone(pipe).fit(X, y))
            log(f"  {name}: {counts[name]:,} trainable parameters (fit on subject {subject}, "
                f"{time.time() - t0:.1f} s)")
    return counts


def _printer(verbose):
    def log(message):
        if verbose:
            print(message, flush=True)
    return log


def _run_config(dataset, paradigm, evaluation, sfreq, class_names, cache_dir, extra=None):
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


def _stem(dataset, paradigm, evaluation, n_classes):
    name = "PhysionetMI" if dataset.code.endswith("PhysionetMotorImagery") else dataset.code
    suffix = f"-{n_classes}class" if n_classes and type(paradigm).__name__ != "LeftRightImagery" \
        else ""
    return f"{name}_{type(paradigm).__name__}{suffix}_{evaluation}"


def run_benchmark(dataset="PhysionetMI", paradigm="LeftRightImagery", subjects=None,
                  evaluation="within-session", pipelines=None, output_dir="benchmark-results",
                  cache_dir=None, *, n_classes=None, events=None, classifier_params=None,
                  n_splits=None, count_params=True, overwrite=True, random_state=42,
                  n_jobs=1, verbose=True):
    """Run a MOABB evaluation of the BioCodec and classic pipelines, offline, and report it.

    Parameters
    ----------
    dataset : str | moabb.datasets.base.BaseDataset, default="PhysionetMI"
        See :func:`resolve_dataset`.
    paradigm : str | moabb.paradigms.base.BaseParadigm, default="LeftRightImagery"
        See :func:`resolve_paradigm`; class names get MOABB's default settings.
    subjects : list of int | None
        Subjects (all of the dataset's when None).
    evaluation : {"within-session", "cross-session", "cross-subject"}
        MOABB's :class:`~moabb.evaluations.WithinSessionEvaluation` (5-fold CV per session),
        :class:`~moabb.evaluations.CrossSessionEvaluation` (needs several sessions) or
        :class:`~moabb.evaluations.CrossSubjectEvaluation` (leave one subject out).
    pipelines : list of str | dict of str -> estimator | None
        Names from :func:`~mne_biocodec.moabb.make_pipelines` (all when None) or
        ready pipelines.
    output_dir : path-like, default="benchmark-results"
        Where ``<stem>_scores.csv``, ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` go
        (stem: ``<dataset>_<paradigm>_<evaluation>``); with ``overwrite=False`` also MOABB's
        HDF5 results (``moabb-hdf5/``, what a rerun resumes from).
    cache_dir : path-like | None
        Token cache of the BioCodec estimators (see :func:`make_pipelines`).
    n_classes, events
        Class selection (see :func:`resolve_paradigm`).
    classifier_params : dict | None
        Extra :class:`~mne_biocodec.BioCodecClassifier` arguments (e.g. ``max_epochs``).
    n_splits : int | None
        Folds (MOABB's default when None: 5 within session, leave-one-out across).
    count_params : bool, default=True
        Fit every pipeline once on the first subject to count its trainable parameters.
    overwrite : bool, default=True
        Recompute everything, MOABB's HDF5 store kept in a temporary folder; False keeps it in
        ``output_dir/moabb-hdf5`` and skips what it already holds (resuming a run).
    random_state : int, default=42
        Seed of the folds and of :class:`~mne_biocodec.BioCodecClassifier`.
    n_jobs : int, default=1
        MOABB's parallel jobs.
    verbose : bool, default=True
        Print progress (one line per subject and pipeline).

    Returns
    -------
    result : dict
        ``"scores"`` (pandas.DataFrame, MOABB's rows plus ``codec_saw_subject``),
        ``"summary"`` (per pipeline: mean, std, n_subjects, n_params), ``"table"``
        (markdown), ``"paths"`` (files written) and ``"config"``.
    """
    import pandas as pd

    if evaluation not in EVALUATIONS:
        raise ValueError(f"evaluation must be one of {list(EVALUATIONS)}; got {evaluation!r}.")
    log = _printer(verbose)
    _offline_environment()
    ds = resolve_dataset(dataset, subjects)
    par = resolve_paradigm(paradigm, ds, n_classes=n_classes, events=events)
    if not par.is_valid(ds):
        raise ValueError(f"dataset {ds.code} is not valid for {type(par).__name__} (paradigm "
                         f"{ds.paradigm!r}, events {list(ds.event_id)}).")
    if evaluation == "cross-session" and ds.n_sessions < 2:
        raise ValueError(f"cross-session evaluation needs at least 2 sessions; {ds.code} has "
                         f"{ds.n_sessions}. Use evaluation='within-session'.")
    if evaluation == "cross-subject" and len(ds.subject_list) < 2:
        raise ValueError("cross-subject evaluation needs at least 2 subjects; got "
                         f"{ds.subject_list}.")
    sfreq = dataset_sfreq(ds, par)
    class_names = _class_names(par, ds)
    if isinstance(pipelines, dict):
        pipes = pipelines
    else:
        pipes = make_pipelines(type(par).__name__, sfreq, cache_dir=cache_dir, names=pipelines,
                               classifier_params=classifier_params, random_state=random_state)
    groups = _split_by_input(pipes, class_names, log)
    if "filterbank" in groups and evaluation != "within-session":
        raise ValueError(
            f"filter-bank pipelines {sorted(groups['filterbank'])} run within session only: "
            "MOABB 1.7's evaluations pass them the first band of the filter bank alone. Leave "
            "them out of the pipelines for a cross-session or cross-subject evaluation.")
    scoring, metric = _metric(par)
    out = Path(output_dir)
    # MOABB keeps results in HDF5; kept next to the outputs only to resume (overwrite=False).
    scratch = tempfile.TemporaryDirectory(prefix="moabb-") if overwrite else None
    hdf5 = Path(scratch.name) if scratch else out / "moabb-hdf5"
    log(f"{ds.code} {type(par).__name__} ({len(class_names)} classes: {class_names}), "
        f"{evaluation}, subjects {ds.subject_list}, {sfreq:g} Hz, metric {metric}")

    per_subject = evaluation != "cross-subject"
    chunks = [[s] for s in ds.subject_list] if per_subject else [ds.subject_list]
    rows = []
    t_start = time.time()
    for chunk in chunks:
        ds_chunk = copy.copy(ds)
        ds_chunk.subject_list = list(chunk)
        for kind, group in groups.items():
            ev = _make_evaluation(evaluation, _companion_paradigm(par, kind, ds), ds_chunk, kind,
                                  hdf5, overwrite, random_state, n_jobs, n_splits)
            for name, pipe in group.items():
                t0 = time.time()
                if kind == "filterbank":
                    res = _filterbank_within_session(name, pipe, par, ds_chunk, scoring,
                                                     n_splits, random_state)
                else:
                    res = _moabb_process(ev, name, pipe)
                # MOABB returns every stored result of the pipeline (earlier subjects too
                # when resuming from its HDF5 store): keep this chunk's.
                res = res[res["subject"].astype(int).isin(chunk)]
                rows.append(res)
                for _, r in res.iterrows():
                    log(f"subject {r['subject']} session {r['session']} {name}: {metric} "
                        f"{r['score']:.3f} ({time.time() - t0:.0f} s, total "
                        f"{time.time() - t_start:.0f} s)")
    if scratch is not None:
        scratch.cleanup()
    scores = pd.concat(rows, ignore_index=True)
    seen = codec_training_subjects(ds)
    scores["codec_saw_subject"] = scores["subject"].astype(int).isin(seen)
    scores["evaluation"] = evaluation
    keep = [c for c in ("dataset", "evaluation", "pipeline", "subject", "session", "score",
                        "time", "samples", "n_samples_test", "channels", "n_classes",
                        "codec_saw_subject") if c in scores]
    scores = scores[keep].sort_values(["pipeline", "subject", "session"]).reset_index(drop=True)

    n_params = None
    if count_params:
        log("counting trainable parameters:")
        n_params = _count_parameters(groups, par, ds, log)
    summary = summarize(scores, n_params=n_params)
    config = _run_config(ds, par, evaluation, sfreq, class_names, cache_dir,
                         {"metric": scoring, "random_state": random_state,
                          "classifier_params": classifier_params or {},
                          "pipelines": {n: repr(p) for n, p in pipes.items()},
                          "wall_time_s": round(time.time() - t_start, 1)})
    chance = _chance(scoring, len(class_names))
    notes = [f"Ours: {ds.code}, subjects {ds.subject_list}, {type(par).__name__} "
             f"({len(class_names)} classes), MOABB {EVALUATIONS[evaluation]}; score per "
             "subject-session = mean over folds; mean ± std over subject-sessions."]
    note = codec_note(ds)
    if note:
        notes.append(note)
    title = f"{_stem(ds, par, evaluation, len(class_names))}: {metric}"
    table = markdown_table(summary, metric, title=title, notes=notes)
    fig = plot_scores(scores, metric, chance=chance, title=title)
    paths = write_report(out, _stem(ds, par, evaluation, len(class_names)), scores, summary,
                         config, table, fig)
    log(table)
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    return {"scores": scores, "summary": summary, "table": table, "paths": paths,
            "config": config}
