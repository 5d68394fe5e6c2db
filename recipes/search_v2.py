"""Compare candidate v2 training settings at equal compute, warm-started from biocodec-eeg v1.

Each variant continues the shipped v1 weights for the same number of steps at the same batch
size on the v2 training split (``recipes/biocodec-eeg-v2.json``'s segment cache, built on
first use), then ``benchmarks/codec_diagnosis.py`` scores it on the same seeded, balanced
subsample of the v2 held-out split (v1 itself is scored too, as the zero-step reference).
Results go to ``benchmarks/results/codec_v2_recipe_search.json`` after every variant; a
rerun skips the variants already scored and resumes a half-trained one from its checkpoint.

Usage::

    OMP_NUM_THREADS=1 nice -n 19 python recipes/search_v2.py \\
        [--steps 300] [--variants base,lr1e-3,...] [--max-segments 1000]

About 1.2-1.5 s per step at batch 64 on one core: 300 steps x 5 variants ~ 35-40 min.
"""

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "codec_v2_recipe_search.json"
RECIPE = ROOT / "recipes" / "biocodec-eeg-v2.json"

#: Variants: TrainingRecipe overrides (``train``), codec config overrides (``config``) and
#: data-set shares (``dataset_weights``), each against the same base.
BASE = {"batch_size": 64, "lr": 3e-4, "time_weight": 1.0, "freq_weight": 1.0,
        "final_lr_ratio": 0.01, "seed": 0}
VARIANTS = {
    "base": {"why": "v1's recipe continued on the v2 split at lr 3e-4"},
    "lr1e-4": {"train": {"lr": 1e-4},
               "why": "a gentler warm restart: v1 ended its cosine at lr 1e-5, and 300 steps "
                      "at 3e-4 from a fresh Adam state first lose fidelity ('base')"},
    "lr1e-3": {"train": {"lr": 1e-3}, "why": "v1's peak learning rate"},
    "time4": {"train": {"time_weight": 4.0},
              "why": "the error is broadband high-frequency content that the log-magnitude "
                     "STFT loss weighs little; a heavier time-domain (Huber) loss targets "
                     "the L2 error that SI-SDR and r measure"},
    "balanced": {"dataset_weights": {"eegmmidb": 1, "kalunga": 1, "bonn": 1, "dreams": 1,
                                     "eegmat": 1},
                 "why": "equal shares per data set (Kalunga is 4.5 % of the v2 training "
                        "segments)"},
    "qdrop": {"config": {"quantizer_dropout": 0.5},
              "why": "quantizer dropout trains every n_q, for the >= 1 dB per level target"},
    "hf_weighted": {"dataset_weights": {"eegmmidb": 2, "kalunga": 2, "bonn": 1,
                                        "dreams": 1, "eegmat": 1},
                    "train": {"time_weight": 4.0},
                    "why": "time4 with the two weak data sets over-sampled"},
}


def _load(path):
    if path.is_file():
        return json.loads(path.read_text())
    return None


def _save(results):
    from mne_biocodec.codec import atomic_write

    with atomic_write(RESULTS) as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")


def _score(codec, out_json, max_segments, threads):
    """Run the diagnosis on a codec and keep its headline figures."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "codec_diagnosis.py"), "--codec",
           str(codec), "--out", str(out_json), "--max-segments", str(max_segments),
           "--threads", str(threads), "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    diag = json.loads(out_json.read_text())["diagnosis"]["groups"]
    summary = {}
    for group, entry in diag.items():
        if group in ("eegmat_v1_heldout", "eegmat_new_heldout"):
            continue
        last = entry["per_n_q"][-1]
        summary[group] = {
            "r_mean": last["pearson_r"]["mean"], "r_median": last["pearson_r"]["median"],
            "si_sdr_mean": last["si_sdr"]["mean"],
            "si_sdr_per_n_q": [p["si_sdr"]["mean"] for p in entry["per_n_q"]],
            "gamma_rel_error_db": entry["bands"]["gamma"]["relative_error_db"]}
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--max-segments", type=int, default=1000)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "search-v2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {list(VARIANTS)}")

    import torch

    from mne_biocodec.training import TrainingRecipe, pretrain_codec
    from mne_biocodec.training.recipe import (dataset_sample_weights, load_recipe,
                                              prepare_recipe_data)

    torch.set_num_threads(args.threads)
    recipe = load_recipe(RECIPE)
    train, _, meta = prepare_recipe_data(recipe, ROOT / "runs" / recipe["name"])
    results = _load(RESULTS) or {
        "benchmark": "codec_v2_recipe_search",
        "command": (f"OMP_NUM_THREADS=1 nice -n 19 python recipes/search_v2.py --steps "
                    f"{args.steps} --max-segments {args.max_segments}"),
        "protocol": (f"warm start from biocodec-eeg v1; {args.steps} steps at batch "
                     f"{BASE['batch_size']} per variant on the v2 training split "
                     f"({len(train)} 2-s segments, {meta['train_channel_hours']:.1f} "
                     "channel-hours), 10 % linear warm-up then cosine to 1 %; scored by "
                     f"benchmarks/codec_diagnosis.py on {args.max_segments} 5-s segments of "
                     "the v2 held-out split (equal shares per data set, seed 0), n_q = 6"),
        "base_settings": BASE, "variants": {}}
    reference = args.runs / "v1_reference.json"
    args.runs.mkdir(parents=True, exist_ok=True)
    if "v1 (0 steps)" not in results["variants"]:
        results["variants"]["v1 (0 steps)"] = {
            "why": "the shipped codec, not trained further",
            "scores": _score("biocodec-eeg", reference, args.max_segments, args.threads)}
        _save(results)
    for name in names:
        if name in results["variants"]:
            continue
        spec = VARIANTS[name]
        settings = dict(BASE, **spec.get("train", {}))
        training = TrainingRecipe(
            max_epochs=3, steps_per_epoch=args.steps // 3,
            warmup_steps=args.steps // 10, n_threads=args.threads, **settings)
        weights = None
        if spec.get("dataset_weights"):
            weights = dataset_sample_weights(meta["train_recordings"],
                                             meta["train_segments_per_recording"],
                                             spec["dataset_weights"])
        out = args.runs / name
        t0 = time.time()
        pretrain_codec(train, None, out, recipe=training, init="biocodec-eeg-v1",
                       config=dict(spec.get("config", {}), name=f"search-{name}"),
                       sample_weights=weights, progress=True)
        seconds = time.time() - t0
        scores = _score(out / "codec.safetensors", out / "diagnosis.json",
                        args.max_segments, args.threads)
        results["variants"][name] = {
            "why": spec["why"], "train": settings, "config": spec.get("config", {}),
            "dataset_weights": spec.get("dataset_weights"), "steps": training.max_epochs
            * training.steps_per_epoch, "train_seconds": seconds,
            "seconds_per_step": seconds / (training.max_epochs * training.steps_per_epoch),
            "scores": scores,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}
        _save(results)
        all_ = scores["all"]
        print(f"{name}: r {all_['r_mean']:.4f} SI-SDR {all_['si_sdr_mean']:.2f} dB; "
              + ", ".join(f"{d} {s['r_mean']:.3f}/{s['si_sdr_mean']:.1f}"
                          for d, s in scores.items() if d != "all"), flush=True)
    return results


if __name__ == "__main__":
    main()
