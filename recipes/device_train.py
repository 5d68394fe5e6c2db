"""Train codec variants side by side on an accelerator lent for minutes, and bring them back.

The ``device`` tool of this project lends a GPU machine for a few minutes, over a copy of the
working tree of at most 64 MiB and with at most 8 files of 16 MiB coming back. This script
fits a recipe's training into that::

    # here: pack a random subset of the v2 segment cache into .devdata (gitignored)
    python recipes/device_train.py pack recipes/biocodec-eeg-v2-device.json \
        runs/biocodec-eeg-v2 .devdata
    # there: train every variant of the plan at once, for a wall-clock budget
    python recipes/device_train.py run recipes/biocodec-eeg-v2-device.json .devdata \
        --work /tmp/v2 --results "$OUT" --seconds 420
    # here: rebuild the returned checkpoints as run folders (resumable with "run"), and
    # write the chosen one as a codec file
    python recipes/device_train.py unpack-results RESULTS runs/biocodec-eeg-v2-device
    python recipes/device_train.py export runs/biocodec-eeg-v2-device/warm \
        runs/biocodec-eeg-v2-device/warm/codec.safetensors

The segments travel as 10-bit integers with a per-segment scale (quantisation noise 51 dB
below the signal at the first percentile, far under the codec's 15-20 dB reconstruction
error), first differences compressed with LZMA, with their SHA-256. A fixed part of them
(``selection_segments``) never trains and picks the variant; the held-out recordings'
segments only draw the curves. Every variant trains in its own process (the codec is small:
one process cannot fill the GPU) for the same number of seconds, its epoch count set from its
measured step time so that its cosine schedule ends inside the budget.
"""

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from mne_biocodec.codec import file_sha256

RECIPES = Path(__file__).resolve().parent
PACK_NPZ, PACK_JSON = "segments.npz", "segments.json"
#: Parts of at most this size come back from the device (its limit is 16 MiB a file).
PART_BYTES = 15 * 2 ** 20


def read_plan(path):
    """The device plan (JSON) and the base recipe it refers to."""
    from mne_biocodec.training.recipe import load_recipe

    plan = json.loads(Path(path).read_text())
    if not isinstance(plan, dict) or not isinstance(plan.get("variants"), dict) \
            or not plan["variants"]:
        raise ValueError(f"{path}: a device plan is a JSON object with a non-empty "
                         "'variants' object (see recipes/biocodec-eeg-v2-device.json).")
    base = load_recipe(Path(path).parent / plan["base"])
    return plan, base


def variant_recipe(plan, base, name):
    """The full recipe (dict) of one variant: base, then the plan's keys, then the variant's."""
    recipe = dict(base)
    for key in ("batch_size", "steps_per_epoch", "warmup_steps", "final_lr_ratio"):
        if key in plan:
            recipe[key] = plan[key]
    overrides = dict(plan["variants"][name])
    codec_config = dict(recipe.get("codec_config", {}), **overrides.pop("codec_config", {}))
    recipe.update(overrides, codec_config=dict(codec_config, name=f"biocodec-eeg-v2-{name}"),
                  name=f"{base['name']}-{name}")
    return recipe


def _quantise(segments, bits):
    x = segments[:, 0].astype(np.float64)
    peak = np.abs(x).max(axis=1)
    scale = np.where(peak > 0, peak, 1.0) / (2 ** (bits - 1) - 1)
    q = np.round(x / scale[:, None]).astype(np.int16)
    return scale.astype(np.float32), np.diff(q, axis=1, prepend=0).astype(np.int16)


def pack(plan_path, run_dir, out_dir, seed=0):
    """Write a random subset of a run's segment cache that fits the plan's ``budget_mb``."""
    from mne_biocodec.codec.io import atomic_write
    from mne_biocodec.training.recipe import prepare_recipe_data

    plan, base = read_plan(plan_path)
    train, valid, meta = prepare_recipe_data(base, run_dir)
    bits, budget = int(plan["quantization_bits"]), float(plan["budget_mb"]) * 1e6
    rng = np.random.default_rng(seed)
    probe = rng.choice(len(train), size=min(2000, len(train)), replace=False)
    per_segment = len(lzma.compress(_quantise(train[probe], bits)[1].tobytes())) / len(probe)
    n = min(len(train), int(0.97 * (budget - valid.nbytes) / per_segment))
    while True:
        index = np.sort(rng.permutation(len(train))[:n])
        scale, delta = _quantise(train[index], bits)
        blob = lzma.compress(delta.tobytes(), preset=6)
        if len(blob) + valid.nbytes + scale.nbytes + index.nbytes <= budget or n < 100:
            break
        n = int(n * 0.97)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(out_dir / PACK_NPZ) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, scale=scale, delta=np.frombuffer(blob, np.uint8), index=index,
                     valid=valid)
    info = {"n_segments": int(n), "n_times": int(train.shape[-1]), "bits": bits,
            "source_segments": int(len(train)), "seed": seed,
            "source_train_channel_hours": meta["train_channel_hours"],
            "train_channel_hours": meta["train_channel_hours"] * n / len(train),
            "split_version": meta["split_version"], "sha256": file_sha256(out_dir / PACK_NPZ)}
    with atomic_write(out_dir / PACK_JSON) as tmp:
        tmp.write_text(json.dumps(info, indent=2))
    print(json.dumps(info, indent=2))
    return info


def unpack(folder):
    """The packed training and held-out segments, after checking them.

    Returns
    -------
    train : ndarray of float32, shape (n_segments, 1, n_times)
    valid : ndarray of float32, shape (n_valid, 1, n_valid_times)
    info : dict
    """
    folder = Path(folder)
    info = json.loads((folder / PACK_JSON).read_text())
    if file_sha256(folder / PACK_NPZ) != info.get("sha256"):
        raise ValueError(f"{folder / PACK_NPZ} does not hash to the SHA-256 of "
                         f"{folder / PACK_JSON}: it is damaged or of another pack; pack again.")
    n, n_times = int(info["n_segments"]), int(info["n_times"])
    with np.load(folder / PACK_NPZ, allow_pickle=False) as data:
        scale, blob, valid = data["scale"], data["delta"].tobytes(), data["valid"]
    # max_length bounds the memory a damaged or hostile stream can claim.
    stream = lzma.LZMADecompressor()
    raw = stream.decompress(blob, max_length=n * n_times * 2)
    if len(raw) != n * n_times * 2 or not stream.eof or scale.shape != (n,) \
            or valid.ndim != 3 or valid.dtype != np.float32:
        raise ValueError(f"{folder}: the pack holds other shapes than {PACK_JSON} states.")
    q = np.cumsum(np.frombuffer(raw, np.int16).reshape(n, n_times), axis=1, dtype=np.int32)
    train = (q * scale[:, None].astype(np.float64)).astype(np.float32)[:, None]
    return train, valid, info


def split_selection(train, n_selection, seed=0):
    """Training segments and the ``n_selection`` kept out of training to pick a variant."""
    order = np.random.default_rng(seed + 1).permutation(len(train))
    keep = np.sort(order[n_selection:])
    return train[keep], train[np.sort(order[:n_selection])]


def level_scores(codec, segments, device, batch=512, levels=None):
    """Mean SI-SDR (dB) and Pearson r with ``levels`` codebooks (default: 1..n_q)."""
    import torch

    from mne_biocodec.codec.metrics import pearson_r, si_sdr

    codec.eval()
    out = {}
    with torch.no_grad():
        for k in levels or range(1, codec.config["n_q"] + 1):
            sdr, r = [], []
            for start in range(0, len(segments), batch):
                x = torch.from_numpy(segments[start:start + batch]).to(device)
                y = codec(x, n_q=k)[0]
                sdr.append(si_sdr(x, y).cpu())
                r.append(pearson_r(x, y).cpu())
            out[k] = {"si_sdr": float(torch.cat(sdr).mean()), "r": float(torch.cat(r).mean())}
    return out


def train_one(plan_path, pack_dir, work, name, deadline):
    """Train one variant until about ``deadline`` (a ``time.time()`` value)."""
    import torch

    from mne_biocodec.codec import default_device
    from mne_biocodec.training import TrainingRecipe, pretrain_codec
    from mne_biocodec.training.recipe import recipe_codec_config
    from mne_biocodec.training.settings import RECIPE_DATA_KEYS

    plan, base = read_plan(plan_path)
    recipe = variant_recipe(plan, base, name)
    train, valid, info = unpack(pack_dir)
    fit, selection = split_selection(train, int(plan["selection_segments"]))
    device = default_device(None)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    config, init = recipe_codec_config(recipe)
    fields = TrainingRecipe.from_dict(recipe, ignore=RECIPE_DATA_KEYS).replace(n_threads=1)
    out = Path(work) / name
    # Two short epochs in a fresh scratch folder: the second one's duration is the step
    # time, without start-up costs (CUDA context, cuDNN's search). Fresh on every call: a
    # resumed run may be on another machine (a CPU after a GPU), and a kept probe folder
    # would resume instead of measuring.
    probe_steps = 30
    with tempfile.TemporaryDirectory(prefix=f"{name}-probe-") as scratch:
        probe = pretrain_codec(fit, None, Path(scratch) / "probe", recipe=fields,
                               config=config, init=init, device=device, progress=False,
                               max_epochs=2, steps_per_epoch=probe_steps, warmup_steps=1)
        step_seconds = float(probe.history[-1, "dur"]) / probe_steps
        t0 = time.time()
        level_scores(probe.codec, valid, device, levels=(config["n_q"],))
        valid_seconds = time.time() - t0
    # The final scores take 2 x n_q passes over the held-out and selection segments; 10%
    # more for checkpoints.
    left = deadline - time.time() - 2 * config["n_q"] * valid_seconds * (
        1 + len(selection) / len(valid))
    epoch_seconds = 1.1 * (step_seconds * fields.steps_per_epoch + valid_seconds)
    # A resumed run (the same command again, on the same work folder) trains on from the
    # epochs its newest checkpoint holds, for the time this call has: its cosine schedule
    # is stretched to the new total, so the learning rate rises again (a warm restart).
    newest = _newest_checkpoint(out)
    done = json.loads((newest / "manifest.json").read_text())["epochs"] if newest else 0
    max_epochs = done + max(1, int(left / epoch_seconds))
    print(f"[{name}] {step_seconds * 1e3:.1f} ms/step, {valid_seconds:.1f} s per held-out "
          f"pass: {max_epochs} epochs of {fields.steps_per_epoch} steps in {left:.0f} s",
          flush=True)
    recipe["max_epochs"] = max_epochs
    result = pretrain_codec(
        fit, valid, out, recipe=fields.replace(max_epochs=max_epochs), config=config,
        init=init, device=device,
        extra_metadata={"recipe": recipe["name"], "pack": info,
                        "step_seconds": step_seconds, "device": str(device)})
    scores = {"variant": name, "recipe": recipe, "step_seconds": step_seconds,
              "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
              "train_segments": len(fit), "selection_segments": len(selection),
              "selection": level_scores(result.codec, selection, device),
              "heldout_valid": level_scores(result.codec, valid, device)}
    (out / "scores.json").write_text(json.dumps(scores, indent=2))
    print(f"[{name}] selection SI-SDR {scores['selection'][config['n_q']]['si_sdr']:.2f} "
          f"dB, held-out {scores['heldout_valid'][config['n_q']]['si_sdr']:.2f} dB",
          flush=True)


def _newest_checkpoint(run):
    latest = run / "checkpoints" / "LATEST"
    return run / "checkpoints" / latest.read_text().strip() if latest.is_file() else None


def run(plan_path, pack_dir, work, results, seconds, grace=45):
    """Train every variant at once for ``seconds``, then copy the results for transfer."""
    plan, _ = read_plan(plan_path)
    work, results = Path(work), Path(results)
    work.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    deadline = time.time() + seconds
    procs = {name: subprocess.Popen(
        [sys.executable, __file__, "train-one", str(plan_path), str(pack_dir), str(work),
         name, str(deadline)], env=dict(os.environ, OMP_NUM_THREADS="1"))
        for name in plan["variants"]}
    for name, proc in procs.items():
        try:
            proc.wait(timeout=max(1.0, deadline + grace - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            print(f"[{name}] stopped at the deadline; its last checkpoint comes back",
                  flush=True)
    scores = {}
    for name in plan["variants"]:
        path = work / name / "scores.json"
        scores[name] = json.loads(path.read_text()) if path.is_file() else None
    # scores.json has string keys: the number of codebooks, the deepest scored last.
    ranked = sorted((s["selection"][max(s["selection"], key=int)]["si_sdr"], name)
                    for name, s in scores.items() if s)
    winner = ranked[-1][1] if ranked else None
    summary = {"winner": winner, "seconds": seconds, "scores": scores}
    (results / "summary.json").write_text(json.dumps(summary, indent=2))
    with tarfile.open(results / "meta.tar", "w") as tar:
        for name in plan["variants"]:
            folder = _newest_checkpoint(work / name)
            if folder is None:
                continue
            for file in ("manifest.json", "module.json", "history.json"):
                tar.add(folder / file, arcname=f"{name}/{folder.name}/{file}")
            shutil.copy(folder / "module.safetensors", results / f"{name}.module.safetensors")
            if name == winner:
                blob = (folder / "optimizer.safetensors").read_bytes()
                for i in range(0, len(blob), PART_BYTES):
                    (results / f"{name}.optimizer.part{i // PART_BYTES}").write_bytes(
                        blob[i:i + PART_BYTES])
    print(json.dumps({"winner": winner, "ranked": ranked}), flush=True)


def unpack_results(results, out):
    """Rebuild the returned checkpoints as run folders ``out/<variant>/checkpoints/...``."""
    results, out = Path(results), Path(out)
    with tarfile.open(results / "meta.tar") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        for member in members:
            parts = Path(member.name).parts
            if len(parts) != 3 or ".." in parts or member.name.startswith("/"):
                raise ValueError(f"meta.tar holds an unexpected path {member.name!r}.")
            name, checkpoint, file = parts
            target = out / name / "checkpoints" / checkpoint
            target.mkdir(parents=True, exist_ok=True)
            (target / file).write_bytes(tar.extractfile(member).read())
            (out / name / "checkpoints" / "LATEST").write_text(checkpoint)
            module = results / f"{name}.module.safetensors"
            if module.is_file():
                shutil.copy(module, target / "module.safetensors")
            optimizer = sorted(results.glob(f"{name}.optimizer.part*"),
                               key=lambda p: int(p.suffix[5:]))
            if optimizer:
                (target / "optimizer.safetensors").write_bytes(
                    b"".join(p.read_bytes() for p in optimizer))
    print(f"run folders under {out}")


def export_codec(run_dir, target):
    """Write the newest checkpoint's weights of a run folder as a codec file.

    The checkpoint may lack its optimiser state (the variants that lost come back without
    it); its weights must hash to the SHA-256 its manifest records.
    """
    from safetensors.torch import load_file

    from mne_biocodec.codec import BioCodec, save_codec

    folder = _newest_checkpoint(Path(run_dir))
    if folder is None:
        raise ValueError(f"{run_dir} holds no checkpoint to export.")
    manifest = json.loads((folder / "manifest.json").read_text())
    if file_sha256(folder / "module.safetensors") != \
            manifest["files"]["module.safetensors"]["sha256"]:
        raise ValueError(f"{folder / 'module.safetensors'} does not hash to the SHA-256 of "
                         "its manifest: it is damaged.")
    codec = BioCodec(manifest["run"]["config"])
    codec.load_state_dict(load_file(str(folder / "module.safetensors")))
    codec.eval()
    history = json.loads((folder / "history.json").read_text())
    save_codec(codec, target, extra_metadata={
        "checkpoint": folder.name, "train_steps": int(history[-1]["train_steps"])})
    print(f"{folder} -> {target}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("plan"), p.add_argument("run_dir"), p.add_argument("out_dir")
    p = sub.add_parser("run")
    p.add_argument("plan"), p.add_argument("pack_dir")
    p.add_argument("--work", required=True), p.add_argument("--results", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p = sub.add_parser("train-one")
    for arg in ("plan", "pack_dir", "work", "name"):
        p.add_argument(arg)
    p.add_argument("deadline", type=float)
    p = sub.add_parser("unpack-results")
    p.add_argument("results"), p.add_argument("out")
    p = sub.add_parser("export")
    p.add_argument("run_dir"), p.add_argument("target")
    args = parser.parse_args(argv)
    if args.command == "pack":
        pack(args.plan, args.run_dir, args.out_dir)
    elif args.command == "run":
        run(args.plan, args.pack_dir, args.work, args.results, args.seconds)
    elif args.command == "train-one":
        train_one(args.plan, args.pack_dir, args.work, args.name, args.deadline)
    elif args.command == "export":
        export_codec(args.run_dir, args.target)
    else:
        unpack_results(args.results, args.out)


if __name__ == "__main__":
    main()
