"""Defaults of the estimators that transfer across subjects (issue 19's measured gaps).

Two questions, answered on development data only, every variant on the same tokens and folds:

- ``classifier``: which :class:`~mne_biocodec.BioCodecClassifier` settings transfer across
  subjects (eegmat rest vs arithmetic, leave one subject out) without losing within-subject
  motor imagery? Development data: eegmat LOSO among the 12 subjects of the codec's (v2)
  training split (00-03, 05, 09-15), and the *executed*-movement runs of eegmmidb subjects
  1-5 (``benchmarks/classifier_variants.py``'s dev part, 5-fold seed 42).
- ``features``: which default ``"tangent"`` features of :class:`~mne_biocodec.
  BioCodecTokenizer` get ``LogisticRegression()`` closest to TS+LR? Development data: eegmmidb
  imagery subjects 2-5 with the issue protocol (64 ch, 8-32 Hz, 0.5-2.5 s, repeated
  stratified 5 x 4), executed runs of subjects 1-5 (same protocol), and the eegmat
  development LOSO. Subject 1's imagery runs are the test and are not used here.

Tokens come through the token cache (``--cache-dir``); results are appended to a JSON after
every (variant, data set) pair, so a run resumes where it stopped::

    OMP_NUM_THREADS=1 MNE_BIOCODEC_THREADS=1 nice -n 19 python benchmarks/crosssub_defaults.py \\
        --part classifier --out /tmp/crosssub.json [--data eegmat_dev exec_auc eegmat_all] \\
        [--variants default "shrinkage 0.5" ...]

``--part features --data imag_acc_test`` scores subject 1's imagery runs (the test).
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")

#: eegmat subjects of the codec's v2 training split: the development subjects.
EEGMAT_DEV = (0, 1, 2, 3, 5, 9, 10, 11, 12, 13, 14, 15)


def subset(tokens, index):
    """The epochs ``index`` of a TokenSet."""
    return dataclasses.replace(tokens, codes=tokens.codes[index], center=tokens.center[index],
                               scale=tokens.scale[index])


def eegmat_tokens(cache_dir, subjects=None):
    """Tokens, labels, subjects and signals (uV) of the decoding benchmark's eegmat windows."""
    from decoding import load_eegmat

    from mne_biocodec import BioCodecTokenizer

    task = load_eegmat("eegmat", 1)
    epochs = task.inputs["epochs"]
    tokens = BioCodecTokenizer(output="codes", cache=cache_dir).fit(epochs).encode(epochs)
    groups = np.zeros(len(task.y), dtype=int)
    for label, splits, _ in task.units:
        groups[splits[0][2]] = int(label)
    keep = np.flatnonzero(np.isin(groups, subjects)) if subjects is not None else \
        np.arange(len(groups))
    return (subset(tokens, keep), task.y[keep], groups[keep],
            task.inputs["array"][keep])


def mi_tokens(subject, kind, cache_dir, window=None):
    """Tokens, labels and signals of eegmmidb left/right fist: ``kind`` "dev" (executed) or
    "test" (imagined); ``window`` (tmin, tmax) crops the 0-4 s epochs."""
    from classifier_variants import load_epochs, tokenize_epochs

    epochs = load_epochs(subject, kind)
    if window is not None:
        epochs = epochs.crop(*window)
    return tokenize_epochs(epochs, cache_dir)


def loso(groups):
    return [(np.flatnonzero(groups != g), np.flatnonzero(groups == g))
            for g in np.unique(groups)]


def within(y, repeats=1):
    from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold

    if repeats == 1:
        return list(StratifiedKFold(5, shuffle=True, random_state=42).split(y, y))
    return list(RepeatedStratifiedKFold(n_splits=5, n_repeats=repeats,
                                        random_state=0).split(y, y))


def score(fit_predict, y, splits, metric):
    """Mean score over ``splits`` of ``fit_predict(train, test) -> P(classes_[1])``."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    out, aucs = [], []
    classes = np.unique(y)
    for train, test in splits:
        proba = fit_predict(train, test)
        truth = y[test] == classes[1]
        aucs.append(roc_auc_score(truth, proba))
        if metric == "roc_auc":
            out.append(aucs[-1])
        elif metric == "accuracy":
            out.append(np.mean((proba > 0.5) == truth))
        else:
            out.append(balanced_accuracy_score(truth, proba > 0.5))
    return float(np.mean(out)), [round(float(v), 4) for v in out], float(np.mean(aucs))


def classifier_runner(tokens, y, params, groups_kw=False, groups=None):
    from mne_biocodec import BioCodecClassifier

    def fit_predict(train, test):
        clf = BioCodecClassifier(random_state=0, device="cpu", **params)
        extra = {"groups": groups[train]} if groups_kw else {}
        clf.fit(subset(tokens, train), y[train], **extra)
        kw = {"groups": groups[test]} if groups_kw else {}
        proba = clf.predict_proba(subset(tokens, test), **kw) if kw else \
            clf.predict_proba(subset(tokens, test))
        return proba[:, list(clf.classes_).index(np.unique(y)[1])]
    return fit_predict


def pipeline_runner(make, X, y):
    from sklearn.base import clone

    def fit_predict(train, test):
        est = clone(make)
        est.fit(_take(X, train), y[train])
        return est.predict_proba(_take(X, test))[:, list(est.classes_).index(np.unique(y)[1])]
    return fit_predict


def _take(X, index):
    if dataclasses.is_dataclass(X):
        return subset(X, index)
    return X[index]


def load_json(path):
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def save_json(path, record):
    from mne_biocodec.codec import atomic_write

    with atomic_write(Path(path)) as tmp:
        tmp.write_text(json.dumps(record, indent=1))


def datasets(names, cache_dir):
    """name -> (tokens, y, signals, splits, metric), loaded lazily."""
    for name in names:
        if name == "eegmat_dev":
            tokens, y, groups, X = eegmat_tokens(cache_dir, EEGMAT_DEV)
            yield name, (tokens, y, X, loso(groups), "balanced_accuracy", groups)
        elif name == "eegmat_all":
            tokens, y, groups, X = eegmat_tokens(cache_dir)
            yield name, (tokens, y, X, loso(groups), "balanced_accuracy", groups)
        elif name.startswith("exec_auc"):  # classifier dev: executed runs, 0-4 s
            for s in range(1, 6):
                tokens, y, X = mi_tokens(s, "dev", cache_dir)
                yield f"{name}_s{s}", (tokens, y, X, within(y), "roc_auc", None)
        elif name.startswith("exec_acc"):  # features dev: executed runs, issue window
            for s in range(1, 6):
                tokens, y, X = mi_tokens(s, "dev", cache_dir, (0.5, 2.5))
                yield f"{name}_s{s}", (tokens, y, X, within(y, 4), "accuracy", None)
        elif name.startswith("imag_acc"):  # features dev: imagery S2-5, issue protocol
            subjects = [1] if name.endswith("test") else [2, 3, 4, 5]
            for s in subjects:
                tokens, y, X = mi_tokens(s, "test", cache_dir, (0.5, 2.5))
                yield f"{name}_s{s}", (tokens, y, X, within(y, 4), "accuracy", None)


class TokenTangent(TransformerMixin, BaseEstimator):
    """The tokenizer's ``"tangent"`` features with their recipe as parameters (a development
    stand-in for ``BioCodecTokenizer()``, on TokenSets): :func:`~mne_biocodec.estimators.
    features.token_covariances` mapped to the tangent space at the ``fit`` epochs' mean,
    optionally with each channel's log scale (centred on the ``fit`` epochs') appended."""

    def __init__(self, levels=1, shrinkage=0.5, normalize=True, log_power=False,
                 metric="riemann"):
        self.levels, self.shrinkage, self.normalize = levels, shrinkage, normalize
        self.log_power, self.metric = log_power, metric

    def _matrices(self, tokens):
        from mne_biocodec import load_codec
        from mne_biocodec.estimators.features import token_covariances

        return token_covariances(tokens, load_codec("biocodec-eeg"), n_levels=self.levels,
                                 shrinkage=self.shrinkage, normalize=self.normalize)

    def fit(self, tokens, y=None):
        from pyriemann.tangentspace import TangentSpace

        self.ts_ = TangentSpace(metric=self.metric).fit(self._matrices(tokens))
        self.log_mean_ = np.log10(np.asarray(tokens.scale)[..., 0]).mean(axis=0)
        return self

    def transform(self, tokens):
        out = self.ts_.transform(self._matrices(tokens))
        if self.log_power:
            out = np.concatenate([out, np.log10(np.asarray(tokens.scale)[..., 0])
                                  - self.log_mean_], axis=1)
        return out


def _tangent_lr(**params):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return "pipe", (make_pipeline(TokenTangent(**params), LogisticRegression()), "tokens")


def _reference(name, on="signals"):
    """One of :func:`mne_biocodec.moabb.make_pipelines`' imagery pipelines."""
    from mne_biocodec.moabb import make_pipelines

    return "pipe", (make_pipelines("imagery", names=[name])[name], on)


def variant_sets():
    """name -> {variant: ("clf", BioCodecClassifier arguments) or ("pipe", (estimator,
    "tokens" | "signals"))}; ``"_groups": True`` re-centres per subject."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mne_biocodec import BioCodecTokenizer

    q1 = {"module__n_codebooks": 1}
    return {
        "classifier": {
            "TS+LR": _reference("TS+LR"),
            "BioCodec+TS+LR": _reference("BioCodec+TS+LR", on="tokens"),
            "design card": ("pipe", (make_pipeline(BioCodecTokenizer(), LogisticRegression()),
                                     "tokens")),
            "default": ("clf", {}),
            **{f"shrinkage {v}": ("clf", {"module__shrinkage": v})
               for v in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)},
            "no log power": ("clf", {"module__log_power": False}),
            "weight decay 0.1": ("clf", {"optimizer__weight_decay": 0.1}),
            "weight decay 1": ("clf", {"optimizer__weight_decay": 1.0}),
            "lr 1e-3": ("clf", {"lr": 1e-3}),
            "20 epochs": ("clf", {"max_epochs": 20}),
            "200 epochs": ("clf", {"max_epochs": 200}),
            "no dropout": ("clf", {"module__dropout": 0.0}),
            "no dropout, 200 epochs": ("clf", {"module__dropout": 0.0, "max_epochs": 200}),
            "no scales": ("clf", {"use_scale": False}),
            "6 codebooks, shrinkage 0.1": ("clf", {"module__shrinkage": 0.1,
                                                   "module__n_codebooks": 6}),
            **{f"{k} codebooks": ("clf", {"module__n_codebooks": k}) for k in (3, 6)},
            **{f"1 codebook, shrinkage {v}": ("clf", {**q1, "module__shrinkage": v})
               for v in (0.0, 0.1, 0.5, "auto")},
            "re-centred": ("clf", {"_groups": True}),
            "re-centred, shrinkage 0.5": ("clf", {"_groups": True, "module__shrinkage": 0.5}),
            **{f"re-centred, 1 codebook, shrinkage {v}": (
                "clf", {"_groups": True, **q1, "module__shrinkage": v}) for v in (0.0, "auto")},
        },
        "features": {
            "TS+LR": _reference("TS+LR"),
            **{f"shrinkage {v}": _tangent_lr(shrinkage=v)
               for v in (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, "auto")},
            "2 codebooks": _tangent_lr(levels=2),
            "no trace normalisation": _tangent_lr(normalize=False),
            "+ log power": _tangent_lr(log_power=True),
            "shrinkage 0.3 + log power": _tangent_lr(shrinkage=0.3, log_power=True),
            "shrinkage auto + log power": _tangent_lr(shrinkage="auto", log_power=True),
            "log-Euclidean": _tangent_lr(metric="logeuclid"),
            "log-Euclidean, shrinkage auto": _tangent_lr(metric="logeuclid", shrinkage="auto"),
        },
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--part", choices=["classifier", "features"], required=True)
    parser.add_argument("--data", nargs="+", default=None,
                        choices=["eegmat_dev", "eegmat_all", "exec_auc", "exec_acc",
                                 "imag_acc", "imag_acc_test"],
                        help="default: eegmat_dev exec_auc (classifier), imag_acc exec_acc "
                             "eegmat_dev (features)")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="variant names of the part (default: all)")
    parser.add_argument("--cache-dir", default="/tmp/bc_cache_bench")
    args = parser.parse_args(argv)

    import mne
    import torch

    torch.set_num_threads(1)
    mne.set_log_level("error")
    os.environ["MNE_BIOCODEC_CACHE"] = args.cache_dir
    variants = variant_sets()[args.part]
    if args.variants:
        unknown = sorted(set(args.variants) - set(variants))
        if unknown:
            raise SystemExit(f"unknown variants {unknown}; choose among {sorted(variants)}")
        variants = {name: variants[name] for name in args.variants}
    data = args.data or (["eegmat_dev", "exec_auc"] if args.part == "classifier"
                         else ["imag_acc", "exec_acc", "eegmat_dev"])
    record = load_json(args.out)
    for name, (tokens, y, X, splits, metric, groups) in datasets(data, args.cache_dir):
        for vname, (kind, params) in variants.items():
            key = f"{vname} | {name}"
            if key in record:
                continue
            t0 = time.perf_counter()
            if kind == "clf":
                params = dict(params)
                run = classifier_runner(tokens, y, params, params.pop("_groups", False),
                                        groups)
            else:
                est, inp = params
                run = pipeline_runner(est, tokens if inp == "tokens" else X, y)
            try:
                mean, folds, auc = score(run, y, splits, metric)
            except ValueError as err:  # e.g. matrices that are not positive definite
                record[key] = {"error": f"{type(err).__name__}: {err}"}
                save_json(args.out, record)
                print(f"{key}: FAILED {err}", flush=True)
                continue
            record[key] = {"mean": round(mean, 4), "folds": folds, "metric": metric,
                           "auc": round(auc, 4), "seconds": round(time.perf_counter() - t0, 1)}
            save_json(args.out, record)
            print(f"[{time.strftime('%H:%M:%S')}] {key}: {metric} {mean:.3f} "
                  f"auc {auc:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
