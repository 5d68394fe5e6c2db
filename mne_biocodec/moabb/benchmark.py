"""Offline MOABB decoding benchmark: the BioCodec pipelines next to MOABB's classic ones.

The evaluations are MOABB's own (within-session 5-fold cross-validation, cross-session,
cross-subject), with the paradigms' default settings as in MOABB's published benchmark
(Chevallier et al., 2024): imagery band-passed 8-32 Hz, SSVEP 7-45 Hz, the dataset's trial
interval, no resampling; two-class imagery scored by ROC AUC, more classes by accuracy.
Nothing is downloaded: datasets are read from ``MNE_DATA`` (PhysionetMI through
:class:`~mne_biocodec.moabb.OfflinePhysionetMI`).
"""

import copy
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ._common import (METRIC_LABELS, chance_level, codec_note, codec_training_subjects,
                      companion_paradigm, dataset_sfreq, group_pipelines, load_data, make_logger,
                      metric_for, resolve_dataset, resolve_paradigm, resolve_run, result_stem,
                      run_config)
from .pipelines import count_trainable_parameters
from .report import markdown_table, plot_scores, summarize, write_report

__all__ = ["run_benchmark", "resolve_dataset", "resolve_paradigm", "dataset_sfreq",
           "codec_training_subjects", "codec_note", "EVALUATIONS", "METRIC_LABELS"]

#: Evaluation names -> MOABB evaluation classes.
EVALUATIONS = {"within-session": "WithinSessionEvaluation",
               "cross-session": "CrossSessionEvaluation",
               "cross-subject": "CrossSubjectEvaluation"}


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

    X, y, meta = load_data(paradigm, dataset, dataset.subject_list, "filterbank")
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


def _count_parameters(groups, paradigm, dataset, log):
    """Fit each pipeline once on the first subject's epochs and count what it learned."""
    from sklearn.base import clone

    counts = {}
    subject = dataset.subject_list[0]
    for kind, pipes in groups.items():
        X, y, _ = load_data(paradigm, dataset, [subject], kind)
        for name, pipe in pipes.items():
            t0 = time.time()
            counts[name] = count_trainable_parameters(clone(pipe).fit(X, y))
            log(f"  {name}: {counts[name]:,} trainable parameters (fit on subject {subject}, "
                f"{time.time() - t0:.1f} s)")
    return counts


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
    log = make_logger(verbose)
    ds, par = resolve_run(dataset, paradigm, subjects, n_classes=n_classes, events=events)
    if evaluation == "cross-session" and ds.n_sessions < 2:
        raise ValueError(f"cross-session evaluation needs at least 2 sessions; {ds.code} has "
                         f"{ds.n_sessions}. Use evaluation='within-session'.")
    if evaluation == "cross-subject" and len(ds.subject_list) < 2:
        raise ValueError("cross-subject evaluation needs at least 2 subjects; got "
                         f"{ds.subject_list}.")
    sfreq, pipes, class_names, groups = group_pipelines(
        pipelines, ds, par, cache_dir=cache_dir, classifier_params=classifier_params,
        random_state=random_state, log=log)
    if "filterbank" in groups and evaluation != "within-session":
        raise ValueError(
            f"filter-bank pipelines {sorted(groups['filterbank'])} run within session only: "
            "MOABB 1.7's evaluations pass them the first band of the filter bank alone. Leave "
            "them out of the pipelines for a cross-session or cross-subject evaluation.")
    scoring, metric = metric_for(par)
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
            ev = _make_evaluation(evaluation, companion_paradigm(par, kind, ds), ds_chunk, kind,
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
    config = run_config(ds, par, evaluation, sfreq, class_names, cache_dir,
                        {"metric": scoring, "random_state": random_state,
                         "classifier_params": classifier_params or {},
                         "pipelines": {n: repr(p) for n, p in pipes.items()},
                         "wall_time_s": round(time.time() - t_start, 1)})
    chance = chance_level(scoring, len(class_names))
    notes = [f"Ours: {ds.code}, subjects {ds.subject_list}, {type(par).__name__} "
             f"({len(class_names)} classes), MOABB {EVALUATIONS[evaluation]}; score per "
             "subject-session = mean over folds; mean ± std over subject-sessions."]
    note = codec_note(ds)
    if note:
        notes.append(note)
    title = f"{result_stem(ds, par, evaluation, len(class_names))}: {metric}"
    table = markdown_table(summary, metric, title=title, notes=notes)
    fig = plot_scores(scores, metric, chance=chance, title=title)
    paths = write_report(out, result_stem(ds, par, evaluation, len(class_names)), scores, summary,
                         config, table, fig)
    log(table)
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    return {"scores": scores, "summary": summary, "table": table, "paths": paths,
            "config": config}
