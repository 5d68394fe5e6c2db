"""Measure a candidate EEG codec as issue 16 ships one: one resumable command.

    python recipes/evaluate_candidate.py CODEC_FILE TAG [--rows ROW ...] [--no-decoding]
        [--threads N]

1. ``CODEC_FILE`` (a checkpoint's ``module.safetensors``: training keeps only its newest
   checkpoints) and its JSON are copied to ``runs/candidates/TAG/``;
2. ``benchmarks/fidelity.py`` on the v2 held-out split, into
   ``benchmarks/results/fidelity_eeg_TAG.json``, and issue 16's fidelity targets: mean Pearson
   r >= 0.95 on every held-out data set, overall SI-SDR >= 15 dB, >= 1 dB per added codebook;
3. ``benchmarks/decoding.py`` with the candidate as the default codec (a
   ``recipes/candidate_checkout.sh`` checkout of this commit in ``runs/candidates/TAG/checkout``)
   on the EEG rows, into ``benchmarks/results/decoding_codec_TAG.json``, with ``--resume``;
4. its ``--compare`` against the shipped codec's ``benchmarks/results/decoding.json``: the
   strict reading of issue 16's rule, no token pipeline worse by more than its standard
   error; the table and its verdict go to ``runs/candidates/TAG/compare.md``.

A session may end at any time: run the same command again and it goes on where it stopped (a
finished fidelity file is kept, decoding resumes unit by unit, in the same checkout). A TAG
that already holds another codec is refused, never overwritten. Run it at low priority beside
training, e.g. ``nice -n 10``; it uses one thread (about 6 min of fidelity and an hour of
decoding on one core), or ``--threads N`` when the machine is free: beside another busy
process, torch's threads wait on each other and the run gets slower, not faster.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mne_biocodec.codec import file_sha256, load_codec

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EEG_ROWS = ("mi_lr", "mi_card", "mi_lr_lowres", "mi_4class", "eegmat", "ssvep4", "ssvep3",
            "dreams_spindles", "bonn_s_vs_z", "bonn_s_vs_nf")
MIN_R, MIN_SI_SDR, MIN_GAIN = 0.95, 15.0, 1.0


def stage_codec(codec_file, folder):
    """``codec_file`` and its JSON copied into ``folder`` (atomically); the copy's path. A
    folder that holds another codec is an error."""
    codec_file = Path(codec_file)
    sidecar = codec_file.with_suffix(".json")
    if not codec_file.is_file() or not sidecar.is_file():
        raise SystemExit(f"{codec_file} and {sidecar} are needed (a checkpoint's "
                         "module.safetensors and module.json)")
    staged = folder / "codec.safetensors"
    if staged.exists():
        if file_sha256(staged) != file_sha256(codec_file):
            raise SystemExit(f"{folder} already holds another codec ({staged}); pick a new TAG "
                             "(nothing there is overwritten)")
        return staged
    folder.mkdir(parents=True, exist_ok=True)
    for source, target in ((sidecar, staged.with_suffix(".json")), (codec_file, staged)):
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    return staged


def fidelity_verdict(result):
    """Issue 16's fidelity targets read from a ``benchmarks/fidelity.py`` result:
    ``(lines, met)``."""
    by_q = {e["n_q"]: e["metrics"] for e in result["codec_results"]}
    full = by_q[max(by_q)]
    lines, met = [], True
    for name, metrics in full.items():
        r, si_sdr = metrics["pearson_r"]["mean"], metrics["si_sdr"]["mean"]
        ok = name == "all" or r >= MIN_R
        met &= ok
        lines.append(f"  {name:<9} r {r:.3f}  SI-SDR {si_sdr:6.2f} dB"
                     + ("" if ok else f"  (r below {MIN_R})"))
    si_sdr = full["all"]["si_sdr"]["mean"]
    met &= si_sdr >= MIN_SI_SDR
    levels = sorted(by_q)
    gains = [by_q[q]["all"]["si_sdr"]["mean"] - by_q[p]["all"]["si_sdr"]["mean"]
             for p, q in zip(levels, levels[1:])]
    met &= all(g >= MIN_GAIN for g in gains)
    lines.append(f"  overall SI-SDR {si_sdr:.2f} dB (target {MIN_SI_SDR:g}); gain per added "
                 f"codebook {', '.join(f'{g:+.2f}' for g in gains)} dB (target {MIN_GAIN:+g})")
    return lines, met


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("codec_file", help="the candidate's module.safetensors")
    parser.add_argument("tag", help="name of its results (e.g. v2_qdrop_v1init_cpu10000)")
    parser.add_argument("--rows", nargs="+", choices=EEG_ROWS, default=list(EEG_ROWS),
                        help="decoding rows (default: every EEG row)")
    parser.add_argument("--no-decoding", action="store_true", help="fidelity only")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of the fidelity and decoding runs (default: 1)")
    args = parser.parse_args(argv)
    if not args.tag.replace("_", "").replace("-", "").isalnum():
        parser.error(f"TAG names files: letters, digits, '_' and '-' only; got {args.tag!r}")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1; got {args.threads}")
    folder = ROOT / "runs" / "candidates" / args.tag
    codec = stage_codec(args.codec_file, folder)
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MNE_BIOCODEC_THREADS": threads,
           "MOABB_DOWNLOAD_PROVIDER": "upstream"}
    env.setdefault("MNE_DATA", str((ROOT / ".." / "shared" / "data").resolve()))

    fidelity = RESULTS / f"fidelity_eeg_{args.tag}.json"
    if not fidelity.is_file():
        subprocess.run([sys.executable, "benchmarks/fidelity.py", "--codec", str(codec),
                        "--split-version", "v2", "--threads", threads, "--quiet",
                        "--out", str(fidelity)], cwd=ROOT, env=env, check=True)
    lines, met = fidelity_verdict(json.loads(fidelity.read_text()))
    print(f"fidelity ({fidelity.relative_to(ROOT)}): issue 16's targets "
          f"{'met' if met else 'missed'}", *lines, sep="\n")
    if args.no_decoding:
        return 0

    checkout = folder / "checkout"
    if not checkout.is_dir():
        subprocess.run(["bash", "recipes/candidate_checkout.sh", str(codec), str(checkout)],
                       cwd=ROOT, env=env, check=True)
    # A checkout left half-made by an interrupted run would measure the shipped codec instead.
    probe = ("from mne_biocodec import load_codec; "
             "print(load_codec('biocodec-eeg', device='cpu').weights_sha256())")
    digests = [load_codec(codec, device="cpu").weights_sha256(),
               subprocess.run([sys.executable, "-c", probe], cwd=checkout, check=True,
                              env={**env, "PYTHONPATH": str(checkout)}, capture_output=True,
                              text=True).stdout.strip()]
    if digests[0] != digests[1]:
        raise SystemExit(f"biocodec-eeg in {checkout} is not the candidate (weights "
                         f"{digests[1][:12]}, candidate {digests[0][:12]}): remove it with "
                         f"git worktree remove --force {checkout} and run again")
    decoding = RESULTS / f"decoding_codec_{args.tag}.json"
    subprocess.run([sys.executable, "benchmarks/decoding.py", "--resume", "--only", *args.rows,
                    "--threads", threads, "--out", str(decoding),
                    "--page", str(folder / "decoding.rst")],
                   cwd=checkout, env={**env, "PYTHONPATH": str(checkout)}, check=True)
    table = subprocess.run([sys.executable, "benchmarks/decoding.py", "--out", str(decoding),
                            "--compare", str(RESULTS / "decoding.json")], cwd=ROOT, env=env,
                           check=True, capture_output=True, text=True).stdout
    (folder / "compare.md").write_text(table)
    print(f"decoding ({decoding.relative_to(ROOT)}) against the shipped codec's:", table,
          sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
