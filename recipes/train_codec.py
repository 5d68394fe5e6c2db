"""Train a codec from a recipe (JSON) on the training split of ``CODEC_SPLITS``.

Usage::

    python recipes/train_codec.py recipes/biocodec-eeg.json --out runs/biocodec-eeg

The run is resumable: rerunning the same command continues from the last checkpoint. It never
reads the held-out recordings for training; a fixed random subset of their segments is scored
after every epoch to draw the held-out fidelity curve (it is not used to pick a checkpoint: the
last one is shipped).
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def build_segments(split, modality, segment_seconds, sfreq):
    from mne_biocodec.datasets import iter_split_raws, make_codec_segments

    picks = "emg" if modality == "emg" else "eeg"
    parts, names, seconds = [], [], 0.0
    for name, raw in iter_split_raws(split, modality):
        segs = make_codec_segments(raw, sfreq=sfreq, segment_seconds=segment_seconds,
                                   picks=picks)
        if len(segs):
            parts.append(segs)
            names.append(name)
            seconds += segs.shape[0] * segment_seconds
    return np.concatenate(parts), names, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--out", default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("MNE_DATA", str(Path(__file__).resolve().parents[1].parent
                                          / "shared" / "data"))
    import mne
    import torch

    from mne_biocodec.codec import EEG_CONFIG, EMG_CONFIG
    from mne_biocodec.training import pretrain_codec

    mne.set_log_level("error")
    recipe = json.loads(Path(args.recipe).read_text())
    if args.max_epochs:
        recipe["max_epochs"] = args.max_epochs
    out = Path(args.out or f"runs/{recipe['name']}")
    out.mkdir(parents=True, exist_ok=True)
    base = EMG_CONFIG if recipe["modality"] == "emg" else EEG_CONFIG
    config = dict(base, **recipe.get("codec_config", {}))
    sfreq = config["sample_rate"]
    torch.set_num_threads(recipe.get("n_threads", 2))

    cache = out / "segments.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        train, valid = data["train"], data["valid"]
        meta = json.loads((out / "data.json").read_text())
    else:
        t0 = time.time()
        train, train_names, train_seconds = build_segments(
            "train", recipe["modality"], recipe["segment_seconds"], sfreq)
        heldout, heldout_names, _ = build_segments("heldout", recipe["modality"], 5.0, sfreq)
        rng = np.random.default_rng(recipe["seed"])
        pick = rng.choice(len(heldout), size=min(recipe["valid_segments"], len(heldout)),
                          replace=False)
        valid = heldout[np.sort(pick)]
        meta = {"train_recordings": train_names, "heldout_recordings": heldout_names,
                "train_channel_hours": train_seconds / 3600,
                "n_train_segments": int(len(train)), "n_valid_segments": int(len(valid)),
                "segment_seconds": recipe["segment_seconds"],
                "prepare_seconds": time.time() - t0}
        np.savez(cache, train=train, valid=valid)
        (out / "data.json").write_text(json.dumps(meta, indent=2))
    print(f"{len(train)} training segments ({meta['train_channel_hours']:.1f} channel-hours), "
          f"{len(valid)} held-out validation segments", flush=True)
    t0 = time.time()
    net = pretrain_codec(
        train, valid, out, config=config, max_epochs=recipe["max_epochs"],
        steps_per_epoch=recipe["steps_per_epoch"], batch_size=recipe["batch_size"],
        lr=recipe["lr"], time_weight=recipe["time_weight"],
        freq_weight=recipe["freq_weight"], warmup_steps=recipe["warmup_steps"],
        final_lr_ratio=recipe["final_lr_ratio"], seed=recipe["seed"],
        n_threads=recipe.get("n_threads"),
        extra_metadata={"recipe": recipe, "train_recordings": meta["train_recordings"],
                        "train_channel_hours": meta["train_channel_hours"]})
    curve = [{"epoch": i + 1, "steps": h.get("train_steps"), "train_loss": h["train_loss"],
              "valid_r": h.get("valid_r"), "valid_si_sdr": h.get("valid_si_sdr"),
              "dur": h.get("dur")} for i, h in enumerate(net.history)]
    (out / "curve.json").write_text(json.dumps(curve, indent=2))
    print(json.dumps(curve[-1]), f"{time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
