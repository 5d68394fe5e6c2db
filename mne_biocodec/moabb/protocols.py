"""Two protocols beyond MOABB's evaluations: the BioCodec paper's cross-subject folds and a
low-resource learning curve.

- :func:`run_cross_subject`: subjects split into folds (:class:`~sklearn.model_selection.
  GroupKFold`), every pipeline trained on the other folds' subjects and scored on the held-out
  ones with balanced accuracy, Cohen's kappa and weighted F1 (and ROC AUC for two classes),
  as the paper reports its PhysioNet-MI results.
- :func:`run_low_resource`: within each subject, scores against the number of training
  trials per class, with MOABB's :class:`~moabb.evaluations.splitters.LearningCurveSplitter`
  (a fixed stratified test set per permutation, nested training subsets): the same splits
  for every pipeline.

Pipelines that start with a :class:`~mne_biocodec.BioCodecTokenizer` are tokenised once per
epoch and only their head is refitted per split: the tokenizer learns nothing, and tokens of
an epoch depend on that epoch only.
"""

import time

import numpy as np

from ._common import (chance_level, codec_note, group_pipelines, load_data, make_logger,
                      metric_for, metric_label, resolve_run, result_stem, run_config)
from .pipelines import count_trainable_parameters
from .report import markdown_table, plot_learning_curve, plot_scores, summarize, write_report

__all__ = ["run_cross_subject", "run_low_resource", "score_predictions", "LOW_RESOURCE_PIPELINES"]

#: Pipelines of the low-resource curve by default.
LOW_RESOURCE_PIPELINES = ("BioCodec+LR", "BioCodec+TS+LR", "BioCodecClassifier", "TS+LR")


def score_predictions(estimator, X, y):
    """Balanced accuracy, Cohen's kappa, weighted F1 and (two classes) ROC AUC.

    Parameters
    ----------
    estimator : fitted classifier
    X : array-like | mne.Epochs
        Test inputs.
    y : array-like
        True labels.

    Returns
    -------
    scores : dict of str -> float
        ``balanced_accuracy``, ``cohen_kappa``, ``f1_weighted`` and, with two classes,
        ``roc_auc`` (from ``decision_function`` or ``predict_proba``).
    """
    from sklearn.metrics import (balanced_accuracy_score, cohen_kappa_score, f1_score,
                                 get_scorer)

    y = np.asarray(y)
    pred = np.asarray(estimator.predict(X))
    scores = {"balanced_accuracy": balanced_accuracy_score(y, pred),
              "cohen_kappa": cohen_kappa_score(y, pred),
              "f1_weighted": f1_score(y, pred, average="weighted")}
    if len(np.unique(y)) == 2:
        scores["roc_auc"] = get_scorer("roc_auc")(estimator, X, y)
    return {k: float(v) for k, v in scores.items()}


class _Inputs:
    """Inputs per pipeline: shared token features for tokenizer-first pipelines."""

    def __init__(self, data, log):
        self.data = data  # kind -> (X, y, meta)
        self._tokens = {}
        self.log = log

    def for_pipeline(self, pipe, kind):
        """``(X, estimator)``: precomputed features and the head, or the data and ``pipe``."""
        from sklearn.base import clone
        from sklearn.pipeline import Pipeline

        from ..estimators import BioCodecTokenizer

        X = self.data[kind][0]
        first = pipe.steps[0][1] if isinstance(pipe, Pipeline) else None
        if not isinstance(first, BioCodecTokenizer) or len(pipe.steps) < 2:
            return X, pipe
        tokenizer = clone(first).fit(X)
        key = (kind, repr(tokenizer.codec), tokenizer.n_q_, tokenizer.sfreq_)
        if key not in self._tokens:
            t0 = time.time()
            self._tokens[key] = tokenizer.encode(X)
            self.log(f"  tokenised {len(X)} epochs once ({time.time() - t0:.0f} s)")
        return tokenizer.transform_tokens(self._tokens[key]), pipe[1:]


def _index(X, idx):
    return X[idx] if not hasattr(X, "get_data") else X[np.asarray(idx)]


def _prepare(dataset, paradigm, subjects, pipelines, cache_dir, classifier_params,
             random_state, log, n_classes=None, events=None):
    """The run (see ``group_pipelines``) and all subjects' data per pipeline input."""
    ds, par = resolve_run(dataset, paradigm, subjects, n_classes=n_classes, events=events)
    sfreq, pipes, class_names, groups = group_pipelines(
        pipelines, ds, par, cache_dir=cache_dir, classifier_params=classifier_params,
        random_state=random_state, log=log)
    data = {}
    for kind in groups:
        X, y, meta = load_data(par, ds, ds.subject_list, kind)
        data[kind] = (X, np.asarray(y), meta.reset_index(drop=True))
    ys = [d[1] for d in data.values()]
    if any(len(v) != len(ys[0]) or np.any(v != ys[0]) for v in ys[1:]):
        raise RuntimeError("the paradigms of the different pipeline inputs returned different "
                           "trials; run those pipelines separately.")
    return ds, par, sfreq, pipes, class_names, groups, data


def run_cross_subject(dataset="PhysionetMI", paradigm="LeftRightImagery", subjects=None,
                      pipelines=None, n_splits=5, output_dir="benchmark-results",
                      cache_dir=None, *, n_classes=None, events=None, classifier_params=None,
                      random_state=42, verbose=True):
    """Cross-subject decoding in subject folds, scored as the BioCodec paper reports it.

    Parameters
    ----------
    dataset, paradigm, subjects
        As in :func:`~mne_biocodec.moabb.run_benchmark` (paradigm defaults of MOABB).
    pipelines : list of str | dict | None
        Names from :func:`~mne_biocodec.moabb.make_pipelines` (all when None) or pipelines.
    n_splits : int, default=5
        Subject folds (at most the number of subjects; with as many folds as subjects this is
        leave-one-subject-out).
    output_dir : path-like
        Where ``<stem>_scores.csv``/``.json``/``.md``/``.png`` go (stem
        ``<dataset>_<paradigm>_cross-subject-folds``).
    cache_dir : path-like | None
        Token cache of the BioCodec estimators.
    n_classes, events
        Class selection (see :func:`~mne_biocodec.moabb.resolve_paradigm`).
    classifier_params : dict | None
        Extra :class:`~mne_biocodec.BioCodecClassifier` arguments.
    random_state : int, default=42
        Seed of the classifier.
    verbose : bool, default=True
        Print one line per fold and pipeline.

    Returns
    -------
    result : dict
        ``"scores"`` (one row per fold and pipeline: ``balanced_accuracy``, ``cohen_kappa``,
        ``f1_weighted``, ``roc_auc`` for two classes, ``test_subjects``), ``"summary"``
        (per pipeline and metric), ``"table"``, ``"paths"``, ``"config"``.
    """
    import pandas as pd
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold

    log = make_logger(verbose)
    ds, par, sfreq, pipes, class_names, groups, data = _prepare(
        dataset, paradigm, subjects, pipelines, cache_dir, classifier_params, random_state, log,
        n_classes, events)
    subjects_all = next(iter(data.values()))[2]["subject"].to_numpy()
    n_subjects = len(np.unique(subjects_all))
    if n_subjects < 2:
        raise ValueError(f"cross-subject folds need at least 2 subjects; got {ds.subject_list}.")
    n_splits = min(int(n_splits), n_subjects)
    folds = list(GroupKFold(n_splits=n_splits).split(subjects_all, groups=subjects_all))
    log(f"{ds.code} {type(par).__name__} cross-subject: {n_splits} subject folds over "
        f"subjects {ds.subject_list}, classes {class_names}")
    inputs = _Inputs(data, log)
    rows, n_params = [], {}
    t_start = time.time()
    for kind, group in groups.items():
        y = data[kind][1]
        for name, pipe in group.items():
            X, est = inputs.for_pipeline(pipe, kind)
            for fold, (train, test) in enumerate(folds):
                t0 = time.time()
                fitted = clone(est).fit(_index(X, train), y[train])
                fit_time = time.time() - t0
                scores = score_predictions(fitted, _index(X, test), y[test])
                n_params[name] = count_trainable_parameters(fitted)
                test_subjects = sorted(set(subjects_all[test].tolist()))
                rows.append({"pipeline": name, "fold": fold,
                             "subject": "+".join(map(str, test_subjects)),
                             "test_subjects": test_subjects, "n_train": len(train),
                             "n_test": len(test), "fit_time": fit_time, **scores})
                log(f"fold {fold} (test subjects {test_subjects}) {name}: " + ", ".join(
                    f"{k} {v:.3f}" for k, v in scores.items())
                    + f" ({fit_time:.0f} s, total {time.time() - t_start:.0f} s)")
    scores = pd.DataFrame(rows)
    metrics = [m for m in ("balanced_accuracy", "cohen_kappa", "f1_weighted", "roc_auc")
               if m in scores]
    summary = pd.concat({m: summarize(scores, value=m, n_params=n_params) for m in metrics},
                        names=["metric"]).reorder_levels([1, 0])
    stem = result_stem(ds, par, "cross-subject-folds", len(class_names))
    title = f"{stem}: {n_splits} subject folds"
    table = "\n".join(
        markdown_table(summary.xs(m, level="metric").sort_values("mean", ascending=False),
                       metric_label(m), title=f"{title} — {metric_label(m)}", count="n folds")
        for m in metrics)
    table += f"\nOurs: {ds.code} subjects {ds.subject_list}; mean ± std over folds. " \
        f"{codec_note(ds)}\n"
    config = run_config(ds, par, "cross-subject-folds", sfreq, class_names, cache_dir,
                        {"n_splits": n_splits, "folds": [sorted(set(subjects_all[t].tolist()))
                                                         for _, t in folds],
                         "classifier_params": classifier_params or {},
                         "pipelines": {n: repr(p) for n, p in pipes.items()},
                         "wall_time_s": round(time.time() - t_start, 1)})
    fig = plot_scores(scores, "balanced accuracy (per test fold)", value="balanced_accuracy",
                      chance=1.0 / len(class_names), title=title)
    paths = write_report(output_dir, stem, scores, summary, config, table, fig)
    log(table)
    return {"scores": scores, "summary": summary, "table": table, "paths": paths,
            "config": config}


def run_low_resource(dataset="PhysionetMI", paradigm="LeftRightImagery", subjects=None,
                     pipelines=LOW_RESOURCE_PIPELINES, n_per_class=(5, 10, 15), n_perms=10,
                     test_size=0.2, output_dir="benchmark-results", cache_dir=None, *,
                     n_classes=None, events=None, classifier_params=None, random_state=42,
                     verbose=True):
    """Within-subject scores against the number of training trials per class.

    For every subject (and session), MOABB's :class:`~moabb.evaluations.splitters.
    LearningCurveSplitter` draws ``n_perms`` stratified test sets (``test_size`` of the
    trials); within each, the training sets are the first ``n`` trials per class of the same
    shuffled remainder, for each ``n`` in ``n_per_class``. Every pipeline sees the same splits.

    Parameters
    ----------
    dataset, paradigm, subjects
        As in :func:`~mne_biocodec.moabb.run_benchmark`.
    pipelines : list of str | dict
        Pipelines (default: the BioCodec ones and TS+LR).
    n_per_class : sequence of int, default=(5, 10, 15)
        Training trials per class, increasing. Each must fit in the training part of the
        smallest class (45 two-class trials, 20 % test: at most 18).
    n_perms : int, default=10
        Repetitions (test sets) per subject.
    test_size : float, default=0.2
        Fraction of the trials held out for testing.
    output_dir : path-like
        Where ``<stem>_scores.csv``/``.json``/``.md``/``.png`` go (stem
        ``<dataset>_<paradigm>_low-resource``).
    cache_dir, n_classes, events, classifier_params, random_state, verbose
        As in :func:`run_cross_subject`.

    Returns
    -------
    result : dict
        ``"scores"`` (one row per subject, session, permutation, size and pipeline: the
        paradigm's metric as ``score`` plus ``balanced_accuracy``, and ``test_trials``, the
        test trials' indices within the subject-session), ``"summary"`` (mean ± std
        over subjects of the per-subject mean, per pipeline and size), ``"table"``,
        ``"paths"``, ``"config"``.
    """
    import pandas as pd
    from moabb.evaluations.splitters import LearningCurveSplitter
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    log = make_logger(verbose)
    sizes = [int(n) for n in n_per_class]
    if not sizes or any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
        raise ValueError(f"n_per_class must be positive and increasing; got {n_per_class}.")
    ds, par, sfreq, pipes, class_names, groups, data = _prepare(
        dataset, paradigm, subjects, pipelines, cache_dir, classifier_params, random_state, log,
        n_classes, events)
    scoring, metric = metric_for(par)
    scorer = get_scorer(scoring)
    meta = next(iter(data.values()))[2]
    y_all = next(iter(data.values()))[1]
    inputs = _Inputs(data, log)
    heads = {name: inputs.for_pipeline(pipe, kind)
             for kind, group in groups.items() for name, pipe in group.items()}
    log(f"{ds.code} {type(par).__name__} low-resource: {sizes} trials per class, {n_perms} "
        f"permutations, test {test_size:.0%}, subjects {ds.subject_list}")
    rows = []
    t_start = time.time()
    for (subject, session), block in meta.groupby(["subject", "session"], sort=True):
        idx = block.index.to_numpy()
        y = y_all[idx]
        smallest = min(np.unique(y, return_counts=True)[1])
        room = smallest - int(np.ceil(test_size * smallest))
        if sizes[-1] > room:
            raise ValueError(
                f"subject {subject} session {session}: {sizes[-1]} training trials per class do "
                f"not fit (smallest class {smallest}, {test_size:.0%} held out leaves about "
                f"{room}). Lower n_per_class or test_size.")
        splitter = LearningCurveSplitter({"policy": "per_class", "value": np.asarray(sizes)},
                                         n_perms=n_perms, test_size=test_size,
                                         random_state=random_state)
        splits = [(splitter.get_metadata()["permutation"], train, test)
                  for train, test in splitter.split(idx, y)]
        for name, (X, est) in heads.items():
            t0 = time.time()
            for perm, train, test in splits:
                n = len(train) // len(class_names)
                fitted = clone(est).fit(_index(X, idx[train]), y[train])
                X_test = _index(X, idx[test])
                rows.append({"pipeline": name, "subject": subject, "session": session,
                             "permutation": perm, "n_per_class": n, "n_train": len(train),
                             "n_test": len(test),
                             "test_trials": " ".join(map(str, sorted(test.tolist()))),
                             "score": float(scorer(fitted, X_test, y[test])),
                             **{k: v for k, v in score_predictions(fitted, X_test, y[test]).items()
                                if k == "balanced_accuracy"}})
            curve = pd.DataFrame(rows[-len(splits):]).groupby("n_per_class")["score"].mean()
            log(f"subject {subject} {name}: {metric} " + ", ".join(
                f"{n}/class {v:.3f}" for n, v in curve.items())
                + f" ({time.time() - t0:.0f} s, total {time.time() - t_start:.0f} s)")
    scores = pd.DataFrame(rows)
    per_subject = scores.groupby(["pipeline", "n_per_class", "subject"], as_index=False)[
        ["score", "balanced_accuracy"]].mean()
    summary = summarize(per_subject, group=["pipeline", "n_per_class"])
    summary = summary.sort_index()
    stem = result_stem(ds, par, "low-resource", len(class_names))
    table = markdown_table(summary, metric, title=f"{stem}: {metric} vs training trials per "
                           "class", notes=[
                               f"Ours: {ds.code} subjects {ds.subject_list}; per subject the mean "
                               f"over {n_perms} permutations (test {test_size:.0%} of the trials),"
                               " then mean ± std over subjects. " + codec_note(ds)])
    config = run_config(ds, par, "low-resource", sfreq, class_names, cache_dir,
                        {"n_per_class": sizes, "n_perms": n_perms, "test_size": test_size,
                         "metric": scoring, "classifier_params": classifier_params or {},
                         "pipelines": {n: repr(p) for n, p in pipes.items()},
                         "wall_time_s": round(time.time() - t_start, 1)})
    fig = plot_learning_curve(per_subject, metric, chance=chance_level(scoring, len(class_names)),
                              title=f"{stem}")
    paths = write_report(output_dir, stem, scores, summary, config, table, fig)
    log(table)
    return {"scores": scores, "summary": summary, "table": table, "paths": paths,
            "config": config}
