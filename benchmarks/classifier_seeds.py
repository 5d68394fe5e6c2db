"""Seed spread of ``BioCodecClassifier()`` in MOABB's within-session evaluation.

PhysionetMI left vs right imagery, subjects 1-5, MOABB's ``WithinSessionEvaluation`` with the
folds of ``benchmarks/moabb_benchmark.py`` (seed 42); only the classifier's ``random_state``
changes (its initialisation, dropout and batch order). It tells how far a single seed's
score (the benchmark page's 72.4 ROC AUC, seed 42) is from what the estimator scores on
average, next to TS+LR's deterministic 72.8 on the same folds::

    python benchmarks/classifier_seeds.py --seeds 0 1 2 3 4 5 6 7 8 9 \
        --cache-dir /tmp/biocodec-token-cache --out benchmarks/results/moabb_classifier_seeds.json

About 50 s per seed at one thread once the token cache holds the epochs (the first seed
tokenises them: about 4 min more without a warm cache).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS = [1, 2, 3, 4, 5]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--cache-dir", default=None,
                        help="token cache folder: the epochs are tokenised once for all seeds")
    parser.add_argument("--out", default="benchmarks/results/moabb_classifier_seeds.json")
    args = parser.parse_args(argv)

    import mne
    import numpy as np
    import torch

    from mne_biocodec.codec import atomic_write
    from mne_biocodec.moabb import run_benchmark

    torch.set_num_threads(1)
    mne.set_log_level("error")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            t0 = time.time()
            result = run_benchmark("PhysionetMI", "LeftRightImagery", SUBJECTS, "within-session",
                                   pipelines=["BioCodecClassifier"],
                                   output_dir=Path(tmp) / f"seed{seed}",
                                   cache_dir=args.cache_dir,
                                   classifier_params={"random_state": seed},
                                   count_params=False, verbose=False)
            scores = result["scores"].sort_values("subject")["score"]
            run = runs[str(seed)] = {"roc_auc": float(scores.mean()),
                                     "per_subject": [round(float(s), 4) for s in scores],
                                     "seconds": round(time.time() - t0, 1)}
            print(f"seed {seed}: ROC AUC {100 * run['roc_auc']:.1f} ({run['seconds']:.0f} s)",
                  flush=True)
    means = np.array([r["roc_auc"] for r in runs.values()])
    summary = {"mean": float(means.mean()), "std": float(means.std(ddof=1)) if len(means) > 1
               else None, "min": float(means.min()), "max": float(means.max()),
               "n_seeds": len(means)}
    print(f"ROC AUC over {len(means)} seeds: {100 * summary['mean']:.1f} ± "
          f"{100 * (summary['std'] or 0):.1f} (min {100 * summary['min']:.1f}, "
          f"max {100 * summary['max']:.1f})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp_path:
        tmp_path.write_text(json.dumps({
            "protocol": "PhysionetMI LeftRightImagery, subjects 1-5, MOABB WithinSessionEvaluation "
                        "(folds seed 42); BioCodecClassifier() at its defaults, random_state varied",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "summary": summary, "seeds": runs},
            indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
