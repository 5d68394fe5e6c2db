"""BioCodecClassifier with and without the pretrained token model (issue 17, "Fine-tuning").

The EEG rows of the decoding benchmark (``benchmarks/decoding.py``, issue 19) on the same
epochs and folds (its loaders), one token cache for the whole run (``--cache-dir``, the
decoding benchmark's by default, so nothing is re-encoded). Pipelines of every row:

- ``BioCodecClassifier()``: the defaults, without the token model (the baseline);
- ``+TokenModel (covariance)``: ``BioCodecClassifier(module=TokenModelCovarianceHead)``:
  the default covariance head with the frozen token model's states appended
  (:class:`mne_biocodec.tokenmodel.head.TokenModelCovarianceHead`);
- ``TokenModelHead fine-tuned``: ``BioCodecClassifier(module=TokenModelHead, ...)``, the
  transformer trained with the linear layer (:data:`FINETUNE`);
- ``TokenModelHead frozen``: the same head with ``freeze=True`` (a linear probe, at the
  covariance head's learning rate and epochs: nothing but a linear layer trains);
- ``BioCodecTokenModel()+LR``: ``make_pipeline(BioCodecTokenModel(max_epochs=0),
  LogisticRegression())``, the pooled embeddings of the shipped model as they are
  (``max_epochs=0``: the default's one self-supervised epoch per fold costs minutes).

Fine-tuning runs the transformer forward and backward at every step: on one CPU thread about
18 s per training epoch of one eegmmidb fold (36 epochs x 64 channels), so the fine-tuned
pipeline (and ``BioCodecTokenModel()+LR``, which embeds every epoch again in each fold) is
scored on a stated subset of each row's folds (:data:`SUBSETS`), next to the baseline on
the same folds. Every fit is preceded by ``torch.manual_seed(0)``.

Usage (resumable: the units already in ``--out`` are kept; the JSON is written atomically
after every unit)::

    OMP_NUM_THREADS=1 MNE_BIOCODEC_THREADS=1 nice -n 19 python \\
        benchmarks/token_model_finetune.py [--only TASK ...] [--draws 2]
    python benchmarks/token_model_finetune.py --report rst   # the table of doc/token_model.rst

``--dev [mi] [eegmat]`` instead compares the variants of the covariance-plus-token-model head
on the
development data (executed left/right fist runs R03/R07/R11 of eegmmidb subjects 1-5, never
the imagery runs scored here, with ``benchmarks/classifier_variants.py``'s loaders and folds;
and leave one subject out among eegmat's codec-training subjects, trained on those alone) and
writes ``benchmarks/results/token_model_finetune_dev.json``.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decoding import (DEFAULT_CACHE, LOADERS, fit_and_score, load_record,  # noqa: E402
                      tokenise_once, write_json)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "token_model_finetune.json"
DEFAULT_DEV_OUT = ROOT / "benchmarks" / "results" / "token_model_finetune_dev.json"
TASKS = ("mi_lr", "mi_lr_lowres", "mi_4class", "eegmat", "ssvep4", "dreams_spindles",
         "bonn_s_vs_z", "bonn_s_vs_nf")
BASELINE = "BioCodecClassifier()"
COMBINED = "+TokenModel (covariance)"
FINETUNED = "TokenModelHead fine-tuned"
FROZEN = "TokenModelHead frozen"
SKLEARN = "BioCodecTokenModel()+LR"
#: Arguments of the fine-tuned pipeline, sized for one CPU thread (not tuned): the first of
#: the model's four layers, states averaged over frames and channels with the channels' log
#: scales, the pretraining's peak learning rate, 5 epochs. At 2 layers and 10 epochs one
#: eegmmidb fold took 226 s on the shared machine (ROC AUC 0.35 on a development fold).
FINETUNE = dict(module__n_layers=1, module__pooling="mean", module__use_scale=True,
                lr=1e-3, max_epochs=5)
#: Splits scored per unit of the costly pipelines (rows not named: all), and their units
#: (rows not named: all). ``mi_lr_lowres``'s first three splits are the first draw at 5, 10
#: and 15 trials per class.
SUBSETS = {
    FINETUNED: {"splits": {"mi_lr": 1, "mi_lr_lowres": 3, "mi_4class": 1, "eegmat": 1,
                           "bonn_s_vs_z": 1, "bonn_s_vs_nf": 1},
                "units": {"eegmat": ["6"]}},
    SKLEARN: {"splits": {"mi_lr_lowres": 3}, "units": {"eegmat": ["6", "7", "8"]}},
}


def pipelines():
    """Name -> estimator (fitted on ``mne.Epochs``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mne_biocodec import BioCodecClassifier
    from mne_biocodec.tokenmodel import BioCodecTokenModel
    from mne_biocodec.tokenmodel.head import TokenModelCovarianceHead, TokenModelHead

    return {
        BASELINE: BioCodecClassifier(),
        COMBINED: BioCodecClassifier(module=TokenModelCovarianceHead),
        FINETUNED: BioCodecClassifier(module=TokenModelHead, **FINETUNE),
        FROZEN: BioCodecClassifier(module=TokenModelHead, module__freeze=True,
                                   **{k: v for k, v in FINETUNE.items()
                                      if k.startswith("module__")}),
        SKLEARN: make_pipeline(BioCodecTokenModel(max_epochs=0), LogisticRegression()),
    }


def fold_plan(key, name, label, n_splits):
    """Indices of the splits of unit ``label`` that pipeline ``name`` is scored on."""
    subset = SUBSETS.get(name, {})
    units = subset.get("units", {}).get(key)
    if units is not None and label not in units:
        return []
    return list(range(min(subset.get("splits", {}).get(key, n_splits), n_splits)))


def run(keys, out, draws, log, names=None):
    record = load_record(out)
    pipes = {n: p for n, p in pipelines().items() if names is None or n in names}
    # a resumed file keeps the pipelines and commands of the runs that wrote it before
    before = record.get("meta", {})
    command = "python benchmarks/token_model_finetune.py " + " ".join(sys.argv[1:])
    commands = before.get("commands", [before["command"]] if "command" in before else [])
    record["meta"] = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": command,
                      "commands": commands + [command],
                      "draws": draws, "finetune": {k: v for k, v in FINETUNE.items()},
                      "subsets": SUBSETS,
                      "pipelines": {**before.get("pipelines", {}),
                                    **{n: repr(p) for n, p in pipes.items()}}}
    for key in keys:
        t_task = time.time()
        task = LOADERS[key](key, draws)
        X = task.inputs["epochs"]
        entry = record["tasks"].setdefault(key, {"units": {}})
        entry.update(title=task.title, protocol=task.protocol, metric=task.metric,
                     metrics=task.metrics, groups={k: [str(s) for s in v]
                                                   for k, v in task.groups.items()})
        entry.setdefault("tokenise_s", round(tokenise_once(task, log), 1))
        write_json(out, record)
        for label, splits, saw in task.units:
            unit = entry["units"].setdefault(label, {"codec_saw": saw, "pipelines": {}})
            for name, pipe in pipes.items():
                plan = fold_plan(key, name, label, len(splits))
                if not plan or name in unit["pipelines"]:
                    continue
                folds, n_params = [], None
                for i in plan:
                    size, train, test = splits[i]
                    scores, seconds, n_params = fit_and_score(pipe, X, task.y, train, test,
                                                              task.metrics)
                    folds.append({"index": i, "size": size, "n_train": int(len(train)),
                                  "seconds": round(seconds, 2), **scores})
                unit["pipelines"][name] = {"folds": folds, "n_params": n_params}
                log(f"  {key} {label} {name}: {task.metric} "
                    f"{np.mean([f[task.metric] for f in folds]):.3f} over {len(folds)} "
                    f"fold(s), {sum(f['seconds'] for f in folds):.0f} s")
                write_json(out, record)
        entry["wall_s"] = round(time.time() - t_task, 1)
        write_json(out, record)
        log(f"{key}: done in {time.time() - t_task:.0f} s")
    return record


# ----------------------------------------------------------------------------- report

def paired(entry, name, size=None):
    """(pipeline mean, baseline mean on the same folds, n folds, n units, seconds per fold,
    parameters) over the units and folds ``name`` was scored on."""
    metric = entry["metric"]
    ours, base, secs, n_params, n_units = [], [], [], None, 0
    for unit in entry["units"].values():
        res = unit["pipelines"].get(name)
        ref = {f["index"]: f for f in unit["pipelines"].get(BASELINE, {}).get("folds", [])}
        if not res:
            continue
        folds = [f for f in res["folds"] if f.get("size") == size and f["index"] in ref]
        if not folds:
            continue
        n_units += 1
        n_params = res["n_params"]
        # the unit's mean first (as the decoding benchmark), then the mean over units
        ours.append(np.mean([f[metric] for f in folds]))
        base.append(np.mean([ref[f["index"]][metric] for f in folds]))
        secs += [f["seconds"] for f in folds]
    if not ours:
        return None
    return (float(np.mean(ours)), float(np.mean(base)), len(secs), n_units,
            float(np.mean(secs)), n_params)


def table_rows(record):
    """Header and rows: every pipeline's mean with its difference to the baseline on the same
    folds, folds scored, seconds per fold and trainable parameters."""
    names = [COMBINED, FINETUNED, FROZEN, SKLEARN]
    header = ["row", "metric", "trials/class", BASELINE + " (all folds)", *names]
    rows = []
    for key in TASKS:
        entry = record["tasks"].get(key)
        if not entry or not entry.get("units"):
            continue
        sizes = sorted({f.get("size") for u in entry["units"].values()
                        for r in u["pipelines"].values() for f in r["folds"]},
                       key=lambda s: -1 if s is None else s)
        for size in sizes:
            full = paired(entry, BASELINE, size)
            if full is None:
                continue
            cells = []
            for name in names:
                p = paired(entry, name, size)
                cells.append("not run" if p is None else
                             f"{100 * p[0]:.1f} vs {100 * p[1]:.1f} ({100 * (p[0] - p[1]):+.1f});"
                             f" {p[2]} folds, {p[4]:.1f} s, {p[5]:,} par.")
            rows.append([key, entry["metric"], "all" if size is None else str(size),
                         f"{100 * full[0]:.1f}; {full[2]} folds, {full[4]:.1f} s, "
                         f"{full[5]:,} par.", *cells])
    return header, rows


def report(record, fmt="md"):
    """The table as markdown (``fmt="md"``) or a reStructuredText list-table (``"rst"``)."""
    header, rows = table_rows(record)
    if fmt == "md":
        return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                         + ["| " + " | ".join(r) + " |" for r in rows])
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines += [f"   * - {row[0]}"] + [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- development

DEV_VARIANTS = {
    "baseline": {},
    "covariance + token model": {"module__token_weight": 1.0},
    "covariance + token model, weight 0.3": {"module__token_weight": 0.3},
    "covariance + token model, 2 layers, weight 0.3": {"module__token_weight": 0.3,
                                                       "module__n_layers": 2},
    "covariance + token model, weight 0.1": {"module__token_weight": 0.1},
    "covariance + token model, weight 0.03": {"module__token_weight": 0.03},
}


#: TokenCovarianceHead's shrinkage in the development runs.
DEV_SHRINKAGE = 0.5


def _dev_classifier(params):
    from mne_biocodec import BioCodecClassifier
    from mne_biocodec.tokenmodel.head import TokenModelCovarianceHead

    module = {"module": TokenModelCovarianceHead} if params else {}
    # the covariance head's shrinkage pinned to its default when the choice was made (HEAD
    # ef7784f), so that a later default does not change these development figures
    return BioCodecClassifier(random_state=0, device="cpu", module__shrinkage=DEV_SHRINKAGE,
                              **module, **params)


def develop(cache_dir, log, parts=("mi", "eegmat")):
    """Development scores of the head variants: mean ROC AUC on the executed runs of
    eegmmidb subjects 1-5 (5-fold), and balanced accuracy of leave one subject out among
    eegmat's codec-training subjects only (the row's held-out subjects neither trained nor
    scored)."""
    from classifier_variants import SUBJECTS, folds, load_epochs, score_classifier, \
        tokenize_epochs

    table = {}
    if "mi" in parts:
        for subject in SUBJECTS:
            tokens, y, _ = tokenize_epochs(load_epochs(subject, "dev"), cache_dir)
            for name, params in DEV_VARIANTS.items():
                auc = score_classifier(lambda p=params: _dev_classifier(p), tokens, y,
                                       folds(y))[0]
                table.setdefault(f"mi_executed {name}", []).append(round(100 * auc, 1))
                log(f"  dev MI subject {subject} {name}: {100 * auc:.1f}")
    if "eegmat" in parts:
        task = LOADERS["eegmat"]("eegmat", 0)
        seen = [str(s) for g, v in task.groups.items() if g.startswith("codec training")
                for s in v]
        units = [(label, splits[0]) for label, splits, _ in task.units if label in seen]
        dev = np.concatenate([test for _, (_, _, test) in units])
        tokenise_once(task, log)
        for label, (_, train, test) in units:
            train = np.intersect1d(train, dev)
            for name, params in DEV_VARIANTS.items():
                scores = fit_and_score(_dev_classifier(params), task.inputs["epochs"], task.y,
                                       train, test, ["balanced_accuracy"])[0]
                table.setdefault(f"eegmat_train_subjects {name}", []).append(
                    round(100 * scores["balanced_accuracy"], 1))
                log(f"  dev eegmat subject {label} {name}: "
                    f"{100 * scores['balanced_accuracy']:.1f}")
    return {name: {"scores": v, "mean": round(float(np.mean(v)), 1)}
            for name, v in table.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None,
                        help=f"JSON record (default {DEFAULT_OUT.name}, with --dev "
                             f"{DEFAULT_DEV_OUT.name})")
    parser.add_argument("--only", nargs="+", choices=TASKS, default=None)
    parser.add_argument("--pipelines", nargs="+", default=None,
                        help="names of the pipelines to score (default: all)")
    parser.add_argument("--draws", type=int, default=2,
                        help="low-resource draws per subject and size (default 2)")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", choices=["md", "rst"], default=None,
                        help="print the table of --out (markdown or reStructuredText)")
    parser.add_argument("--dev", nargs="*", choices=["mi", "eegmat"], default=None,
                        help="compare head variants on development data (default: both)")
    args = parser.parse_args(argv)

    os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")
    os.environ.setdefault("MNE_DATA", str((ROOT / ".." / "shared" / "data").resolve()))
    os.environ.setdefault("MNE_DATASETS_SSVEPEXO_PATH", os.environ["MNE_DATA"])
    os.environ["MNE_BIOCODEC_CACHE"] = args.cache_dir
    import mne
    import torch

    mne.set_log_level("error")
    torch.set_num_threads(args.threads)

    def log(message):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    if args.out is None:
        args.out = str(DEFAULT_DEV_OUT if args.dev is not None else DEFAULT_OUT)
    if args.report:
        print(report(load_record(args.out), args.report))
        return 0
    if args.dev is not None:
        table = develop(args.cache_dir, log, args.dev or ("mi", "eegmat"))
        record = load_record(args.out)
        record.setdefault("meta", {}).setdefault("dev", {}).update(table)
        write_json(args.out, record)
        print(json.dumps(table, indent=1))
        return 0
    record = run(args.only or TASKS, args.out, args.draws, log, args.pipelines)
    print(report(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
