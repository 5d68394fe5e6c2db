"""Offline MOABB decoding benchmark of the BioCodec pipelines against MOABB's classic ones.

Reproduces ``benchmarks/results/moabb/`` (quoted in ``doc/benchmark_results.rst``):

- ``within``: PhysionetMI left vs right imagery, subjects 1-5, MOABB within-session 5-fold CV
  (ROC AUC), every imagery pipeline;
- ``mi4``: PhysionetMI 4-class imagery (left fist, right fist, both fists, feet), subject 1
  (the only one holding the hands/feet runs here), within-session (accuracy);
- ``ssvep``: Kalunga2016 subjects 1-4, within-session, 4 classes (13/17/21 Hz and rest) and 3
  classes (stimulation frequencies only: the class set SSVEP_CCA can score);
- ``cross``: PhysionetMI left vs right, subjects 1-5 in 5 subject folds (leave one subject
  out), balanced accuracy / Cohen's kappa / weighted F1 (and ROC AUC);
- ``lowres``: PhysionetMI left vs right, subjects 1-5, ROC AUC against 5/10/15 training
  trials per class (``--n-perms`` permutations, the same splits for every pipeline).

Every part prints its progress and table and writes ``<stem>_scores.csv``, ``<stem>.json``,
``<stem>.md`` and ``<stem>.png`` (atomically); ``moabb_summary.json`` collects the settings,
summaries and tables of every part found in the output folder.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/moabb_benchmark.py --out benchmarks/results/moabb \\
        [--parts within mi4 ssvep cross lowres] [--max-epochs 20] [--cache-dir DIR]


At one thread on a shared 2-core machine the whole run takes a few hours; most of it is
tokenising, which ``--cache-dir`` cuts to once per epoch (MOABB's cross-validation would
otherwise tokenise each epoch once per fold and pipeline).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")

PARTS = ("within", "mi4", "ssvep", "cross", "lowres")
MI_SUBJECTS = [1, 2, 3, 4, 5]
SSVEP_SUBJECTS = [1, 2, 3, 4]


def _git_state():
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _write_summary(out, atomic_write):
    """``moabb_summary.json``: every part's settings, summary and table found in ``out``.

    Rebuilt from the parts' own JSON files each time, so parts run in separate processes
    (even at the same time) all end up in it.
    """
    parts = {}
    for path in sorted(out.glob("*.json")):
        if path.name == "moabb_summary.json":
            continue
        payload = json.loads(path.read_text())
        table = path.with_suffix(".md")
        parts[path.stem] = {"config": payload["config"], "summary": payload["summary"],
                            "table": table.read_text() if table.exists() else None}
    with atomic_write(out / "moabb_summary.json") as tmp:
        tmp.write_text(json.dumps({"git": _git_state(), "parts": parts}, indent=1,
                                  default=str))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/moabb")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="BioCodecClassifier training epochs (default: the classifier's "
                             "own, which its head sets)")
    parser.add_argument("--n-perms", type=int, default=10,
                        help="learning-curve permutations per subject (default: 10)")
    parser.add_argument("--lowres-pipelines", nargs="+", default=None,
                        help="pipelines of the learning curve (default: the BioCodec ones "
                             "and TS+LR)")
    parser.add_argument("--cache-dir", default=None,
                        help="token cache folder (mne_biocodec.tokens.cache): each epoch is then "
                             "tokenised once across folds, pipelines and parts")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import mne
    import torch

    from mne_biocodec.codec import atomic_write
    from mne_biocodec.moabb import run_benchmark, run_cross_subject, run_low_resource
    from mne_biocodec.moabb.protocols import LOW_RESOURCE_PIPELINES

    torch.set_num_threads(args.threads)
    mne.set_log_level("error")
    out = Path(args.out)
    common = {"output_dir": out, "cache_dir": args.cache_dir,
              "classifier_params": ({"max_epochs": args.max_epochs}
                                    if args.max_epochs is not None else None)}
    t0 = time.time()

    def record(key, result):
        _write_summary(out, atomic_write)
        print(f"[{time.time() - t0:.0f} s] {key} done", flush=True)

    # MOABB's HDF5 store kept in OUT/moabb-hdf5: an interrupted run resumes where it stopped
    moabb = {**common, "overwrite": False}
    if "within" in args.parts:
        record("within", run_benchmark("PhysionetMI", "LeftRightImagery", MI_SUBJECTS,
                                       "within-session", **moabb))
    if "mi4" in args.parts:
        record("mi4", run_benchmark("PhysionetMI", "MotorImagery", [1], "within-session",
                                    n_classes=4, **moabb))
    if "ssvep" in args.parts:
        record("ssvep4", run_benchmark("Kalunga2016", "SSVEP", SSVEP_SUBJECTS,
                                       "within-session", n_classes=4, **moabb))
        record("ssvep3", run_benchmark("Kalunga2016", "SSVEP", SSVEP_SUBJECTS,
                                       "within-session", n_classes=3, **moabb))
    if "cross" in args.parts:
        record("cross", run_cross_subject("PhysionetMI", "LeftRightImagery", MI_SUBJECTS,
                                          n_splits=5, **common))
    if "lowres" in args.parts:
        pipelines = args.lowres_pipelines or LOW_RESOURCE_PIPELINES
        record("lowres", run_low_resource("PhysionetMI", "LeftRightImagery", MI_SUBJECTS,
                                          pipelines=pipelines, n_per_class=(5, 10, 15),
                                          n_perms=args.n_perms, **common))
    print(f"all done in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
