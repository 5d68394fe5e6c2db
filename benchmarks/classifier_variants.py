"""Which BioCodecClassifier head learns motor imagery from tens of trials? (issue 19)

Every head trains on the same tokens: each subject's epochs are tokenised once (through the
token cache, ``--cache-dir``) and the classifier is fitted on TokenSets, next to CSP+LDA and
TS+LR (``make_pipelines("LeftRightImagery", sfreq=160.)``) on the same epochs and folds
(5-fold stratified, shuffled, seed 42). eegmmidb left/right fist, 64 channels, 8-32 Hz,
0-4 s after the cue, 45 trials per subject, subjects 1-5:

- ``dev``: the *executed*-movement runs (R03, R07, R11), where the variants of the covariance
  head are compared and the default is chosen;
- ``test``: the *imagined* runs (R04, R08, R12), scored once with the chosen default
  (``--paper`` adds the paper's transformer head: minutes per fold);
- ``levels``: the executed runs again, the default head reading the first 1, 2, 3 or 6
  codebooks (``module__n_codebooks``): how a codec spreads the signal over its levels
  decides what the head sees. Run it in a ``recipes/candidate_checkout.sh`` checkout to score
  a candidate default codec on the same folds.

Metric: ROC AUC (%); fit seconds per fold (one torch thread by default, ``--threads``) and
trainable parameters are recorded too.

Usage::

    python benchmarks/classifier_variants.py [--parts dev test levels] [--paper] \
        [--cache-dir /tmp/c1_cache] [--threads 1] \
        [--out benchmarks/results/classifier_variants.json]
"""

import argparse
import os
import time

import numpy as np

os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")

SUBJECTS = [1, 2, 3, 4, 5]
#: executed (development) and imagined (test) left/right fist runs of eegmmidb
RUNS = {"dev": (3, 7, 11), "test": (4, 8, 12)}
BAND, WINDOW = (8.0, 32.0), (0.0, 4.0)


def load_epochs(subject, kind, path=None):
    """Left/right fist epochs of one subject: executed (``"dev"``) or imagined (``"test"``)."""
    import mne

    from mne_biocodec.datasets import load_eegmmidb_epochs, load_eegmmidb_raw

    path = path or os.environ.get("MNE_DATA")
    if kind == "test":
        return load_eegmmidb_epochs(subject, task="left_right", tmin=WINDOW[0], tmax=WINDOW[1],
                                    l_freq=BAND[0], h_freq=BAND[1], path=path)
    # the executed runs use the same T1/T2 codes; load_eegmmidb_epochs only reads imagery runs
    raw = load_eegmmidb_raw(subject, list(RUNS["dev"]), path=path)
    raw.annotations.rename({"T1": "left_hand", "T2": "right_hand"})
    raw.filter(*BAND, picks="eeg", verbose=False)
    event_id = {"left_hand": 2, "right_hand": 3}
    events, _ = mne.events_from_annotations(raw, event_id=event_id, verbose=False)
    return mne.Epochs(raw, events, event_id=event_id, tmin=WINDOW[0], tmax=WINDOW[1],
                      baseline=None, picks="eeg", preload=True, verbose=False)


def tokenize_epochs(epochs, cache_dir):
    """The TokenSet of ``epochs`` (tokenised once, through the on-disk cache), labels, signals."""
    from mne_biocodec import BioCodecTokenizer

    tokens = BioCodecTokenizer(output="codes", cache=cache_dir).fit(epochs).encode(epochs)
    inv = {v: k for k, v in epochs.event_id.items()}
    y = np.array([inv[c] for c in epochs.events[:, 2]])
    return tokens, y, epochs.get_data(copy=True)


def subset(tokens, index):
    """The epochs ``index`` of a TokenSet."""
    import dataclasses

    return dataclasses.replace(tokens, codes=tokens.codes[index], center=tokens.center[index],
                               scale=tokens.scale[index])


def folds(y, repeats=1):
    """MOABB's within-session folds (5-fold stratified, shuffled, seed 42), ``repeats`` times
    with seeds 42, 43, ..."""
    from sklearn.model_selection import StratifiedKFold

    return [split for r in range(repeats)
            for split in StratifiedKFold(5, shuffle=True, random_state=42 + r).split(y, y)]


def score_classifier(make, tokens, y, splits):
    """ROC AUC of ``make()`` per fold on the TokenSet, fit seconds per fold, parameters."""
    from sklearn.metrics import roc_auc_score

    aucs, times, n_params = [], [], None
    for train, test in splits:
        clf = make()
        t0 = time.perf_counter()
        clf.fit(subset(tokens, train), y[train])
        times.append(time.perf_counter() - t0)
        proba = clf.predict_proba(subset(tokens, test))[:, 1]
        aucs.append(roc_auc_score(y[test] == clf.classes_[1], proba))
        n_params = clf.n_trainable_params_
    return float(np.mean(aucs)), times, n_params


def score_pipeline(pipe, X, y, splits):
    """ROC AUC of a classic pipeline on the same folds, fit seconds per fold."""
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    aucs, times = [], []
    for train, test in splits:
        est = clone(pipe)
        t0 = time.perf_counter()
        est.fit(X[train], y[train])
        times.append(time.perf_counter() - t0)
        aucs.append(roc_auc_score(y[test] == est.classes_[1],
                                  est.predict_proba(X[test])[:, 1]))
    return float(np.mean(aucs)), times, None


#: Development variants: BioCodecClassifier arguments (heads trained on the same tokens).
DEV_VARIANTS = {
    "cov n_q=6 shrink=0.01 (A)": dict(module__n_codebooks=6, module__shrinkage=0.01,
                                      module__log_power=False, module__crop=0.8),
    "cov n_q=2 shrink=0.1 (B)": dict(module__n_codebooks=2, module__shrinkage=0.1,
                                     module__log_power=False, module__crop=0.8),
    "B + log power (F)": dict(module__n_codebooks=2, module__shrinkage=0.1,
                              module__crop=0.8),
    "F + inner validation split": dict(module__n_codebooks=2, module__shrinkage=0.1,
                                       module__crop=0.8, train_split="valid20"),
    "F without crop (the default)": dict(module__n_codebooks=2, module__shrinkage=0.1,
                                         module__crop=1.0),
}
#: The default head reading more or fewer codebooks (part "levels", executed runs).
LEVEL_VARIANTS = {f"default, n_codebooks={k}": dict(module__n_codebooks=k) for k in (1, 2, 3, 6)}
#: The default, scored on the test runs; "paper" is slow (minutes per fold): --paper.
TEST_VARIANTS = {"default (covariance head)": dict()}
PAPER = {"paper head": dict(head="paper")}


def _classic():
    from mne_biocodec.moabb import make_pipelines

    return make_pipelines("LeftRightImagery", sfreq=160.0, names=["CSP+LDA", "TS+LR"])


def run(kind, variants, cache_dir, subjects=SUBJECTS, seed=0, repeats=1):
    """AUC, fit seconds per fold and parameters of every pipeline, per subject."""
    from mne_biocodec import BioCodecClassifier

    table = {}
    for subject in subjects:
        t0 = time.time()
        tokens, y, X = tokenize_epochs(load_epochs(subject, kind), cache_dir)
        splits = folds(y, repeats)
        scores = {name: score_pipeline(pipe, X, y, splits) for name, pipe in _classic().items()}
        for name, params in variants.items():
            if params.get("train_split") == "valid20":
                from skorch.dataset import ValidSplit

                # the paper head's default: a stratified fifth held out, best epoch kept
                params = {**params, "train_split": ValidSplit(0.2, stratified=True,
                                                              random_state=seed)}

            def make(params=params):
                return BioCodecClassifier(random_state=seed, device="cpu", cache=cache_dir,
                                          **params)
            scores[name] = score_classifier(make, tokens, y, splits)
        for name, (auc, times, n_params) in scores.items():
            entry = table.setdefault(name, {"auc": [], "fit_s": [], "n_params": n_params})
            entry["auc"].append(round(100 * auc, 1))
            entry["fit_s"].append(round(float(np.mean(times)), 2))
        print(f"{kind} subject {subject} ({time.time() - t0:.0f} s): "
              + ", ".join(f"{n} {100 * s[0]:.1f}" for n, s in scores.items()), flush=True)
    for entry in table.values():
        entry["mean_auc"] = round(float(np.mean(entry["auc"])), 1)
        entry["mean_fit_s"] = round(float(np.mean(entry["fit_s"])), 2)
    return table


def print_table(title, table):
    print(f"\n{title}\n{'pipeline':32s} {'mean':>5s}  per subject (AUC %)   fit s/fold  params")
    for name, e in sorted(table.items(), key=lambda kv: -kv[1]["mean_auc"]):
        print(f"{name:32s} {e['mean_auc']:5.1f}  {e['auc']}  {e['mean_fit_s']:6.2f}  "
              f"{e['n_params']}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/classifier_variants.json")
    parser.add_argument("--parts", nargs="+", default=["dev", "test"],
                        choices=["dev", "test", "levels"])
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeats of the 5-fold split (seeds 42, 43, ...)")
    parser.add_argument("--paper", action="store_true",
                        help="also score head='paper' (minutes per fold)")
    parser.add_argument("--cache-dir", default="/tmp/c1_cache", help="token cache folder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import json
    from pathlib import Path

    import mne
    import torch

    from mne_biocodec import load_codec
    from mne_biocodec.codec import atomic_write

    torch.set_num_threads(args.threads)
    mne.set_log_level("error")
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    codec = load_codec("biocodec-eeg", device="cpu")  # the default, which the heads read
    results["setup"] = {
        "data": "eegmmidb left/right fist, 8-32 Hz, 0-4 s, 64 channels, 160 Hz; dev: "
                "executed runs 3/7/11, test: imagined runs 4/8/12",
        "folds": f"StratifiedKFold(5, shuffle=True, random_state=42 + r), r < {args.repeats}, "
                 "the same for every pipeline", "metric": "ROC AUC (%)",
        "torch_threads": args.threads, "classifier_seed": 0,
        "codec": {"name": codec.config.get("name"), "weights_sha256": codec.weights_sha256()}}
    for part in args.parts:
        variants = {"dev": DEV_VARIANTS, "levels": LEVEL_VARIANTS}.get(part, TEST_VARIANTS)
        variants = dict(variants, **(PAPER if args.paper else {}))
        t0 = time.time()
        table = run("test" if part == "test" else "dev", variants, args.cache_dir,
                    repeats=args.repeats)
        print_table(f"{part}: {'imagined' if part == 'test' else 'executed'} left/right", table)
        results[part] = {"table": table, "wall_time_s": round(time.time() - t0)}
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out) as tmp:
            tmp.write_text(json.dumps(results, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
