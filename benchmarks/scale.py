"""Scale-out benchmark: corpus tokenisation on Dask, data-parallel training steps.

Measures, on real held-out recordings (eegmmidb subjects 4-5, imagery runs, copied as FIF
and cropped to ``--seconds`` in a temporary folder):

- the in-process cost of tokenising (``encode_raw``, one torch thread), in channel-seconds
  of signal per second;
- ``encode_corpus`` on a local Dask cluster of 1 and 2 single-threaded workers: cluster
  start (workers import and load the codec), then the throughput of a warm cluster, in
  wall time and per CPU-second of the workers; and 1 worker again with Dask's default
  worker environment (``MALLOC_TRIM_THRESHOLD_=65536``, which ``make_local_cluster``
  leaves out);
- one training step of the full EEG codec on real 5-s segments, in one process and in two
  gloo processes (``torchrun``) sharing the same global batch;

and turns the measured per-channel-second and per-segment costs into estimates of the
cluster needed to tokenise the TUH EEG corpus and to pretrain with the paper's recipe.
Every figure is written to ``benchmarks/results/scale.json``; the machine it ran on and its
load average are recorded, since a shared machine slows every number down.

Run::

    python benchmarks/scale.py --out benchmarks/results/scale.json
"""

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EEGMMIDB = "MNE-eegbci-data/files/eegmmidb/1.0.0"

# TUH EEG corpus size: an assumption (TUEG v2: ~27,000 hours of clinical EEG; about 21
# channels of the 10-20 montage are kept per recording).
TUH_HOURS = 27_000
TUH_CHANNELS = 21
# The paper's pretraining recipe (Avramidis et al. 2025, arXiv:2510.09095): 20 epochs over 5 M single-channel 5-s
# segments in batches of 512, i.e. ~195 k steps.
PAPER_SEGMENTS = 5_000_000
PAPER_EPOCHS = 20
PAPER_BATCH = 512


def _data_root():
    root = os.environ.get("MNE_DATA")
    return Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"


def prepare_recordings(folder, subjects, runs, seconds):
    """FIF copies of eegmmidb recordings, cropped to ``seconds`` (0: whole)."""
    import mne

    paths = []
    for subject in subjects:
        for run in runs:
            src = _data_root() / EEGMMIDB / f"S{subject:03d}" / f"S{subject:03d}R{run:02d}.edf"
            raw = mne.io.read_raw_edf(src, preload=True, verbose="error")
            if seconds:
                raw.crop(0, min(seconds, raw.times[-1]), include_tmax=False)
            path = Path(folder) / f"S{subject:03d}R{run:02d}_raw.fif"
            raw.save(path, overwrite=True, verbose="error")
            paths.append(path)
    return paths


def _channel_seconds(paths):
    import mne

    total = 0.0
    for path in paths:
        raw = mne.io.read_raw_fif(path, verbose="error")
        total += len(mne.pick_types(raw.info, eeg=True)) * raw.n_times / raw.info["sfreq"]
    return total


def bench_in_process(paths):
    """Read + encode every recording in this process, one torch thread."""
    import mne
    import torch

    from mne_biocodec import load_codec
    from mne_biocodec.tokens import encode_raw

    torch.set_num_threads(1)
    codec = load_codec("biocodec-eeg", device="cpu")
    t0, cpu0 = time.perf_counter(), time.process_time()
    for path in paths:
        encode_raw(mne.io.read_raw_fif(path, preload=True, verbose="error"), codec)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    seconds = _channel_seconds(paths)
    return {"channel_seconds": float(seconds), "wall_s": wall, "cpu_s": cpu,
            "channel_seconds_per_s": float(seconds / wall),
            "channel_seconds_per_cpu_s": float(seconds / cpu)}


def _warm_worker():
    from mne_biocodec.corpus import worker_codec

    worker_codec("biocodec-eeg", None)
    return os.getpid()


def _dask_default_cluster(n_workers):
    """A local cluster with Dask's default worker environment (``MALLOC_TRIM_THRESHOLD_``)."""
    from dask.distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                        dashboard_address=":0", silence_logs=logging.CRITICAL)


def bench_dask(folder, n_workers, dask_defaults=False):
    """``encode_corpus`` on a fresh local cluster: start-up, then the warm throughput."""
    from dask.distributed import Client

    from mne_biocodec.corpus import encode_corpus, make_local_cluster

    t0 = time.perf_counter()
    make = _dask_default_cluster if dask_defaults else make_local_cluster
    with make(n_workers) as cluster, Client(cluster) as client:
        client.run(_warm_worker)
        start = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as store:
            summary = encode_corpus(folder, store, scheduler=client, progress=False)
    if summary.failed:
        raise RuntimeError(f"encode_corpus failed: {summary.failed}")
    return {"n_workers": n_workers, "cluster": "dask defaults" if dask_defaults else
            "mne_biocodec.corpus.make_local_cluster", "cluster_start_s": start,
            "n_recordings": len(summary.encoded),
            "channel_seconds": float(summary.channel_seconds),
            "wall_s": summary.wall_seconds, "channel_seconds_per_s": summary.throughput,
            "per_worker_channel_seconds_per_s": summary.throughput / n_workers,
            "worker_cpu_s": summary.cpu_seconds,
            "channel_seconds_per_cpu_s": summary.channel_seconds / summary.cpu_seconds}


# -- training steps -------------------------------------------------------------------------
def _training_segments(path):
    from mne_biocodec.datasets import load_eegmmidb_raw, make_codec_segments

    # eegmmidb S001R03 is in the codec's training split.
    segments = make_codec_segments(load_eegmmidb_raw(1, [3], path=_data_root()),
                                   segment_seconds=5.0)
    np.save(path, segments)
    return segments


def _timed_training(segments, batch_size, steps, out):
    """Wall and CPU seconds per step of the full EEG codec.

    The first epoch (k-means initialisation) is trained and checkpointed, then the second
    one is timed by resuming.
    """
    from mne_biocodec.training import pretrain_codec

    kwargs = dict(steps_per_epoch=steps, batch_size=batch_size, lr=1e-3, warmup_steps=1,
                  seed=0, n_threads=1, progress=False)
    pretrain_codec(segments, None, out, max_epochs=1, **kwargs)
    cpu0 = time.process_time()
    history = pretrain_codec(segments, None, out, max_epochs=2, **kwargs).history
    return history[-1, "dur"] / steps, (time.process_time() - cpu0) / steps


def bench_training(batch_size, steps):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "segments.npy"
        segments = _training_segments(path)
        one, one_cpu = _timed_training(segments, batch_size, steps, Path(tmp) / "one")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", __file__, "--ddp-worker", str(path),
               str(batch_size), str(steps), str(Path(tmp) / "two")]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode:
            raise RuntimeError(run.stderr[-2000:])
        two = json.loads(run.stdout.strip().splitlines()[-1])["step_s"]
    return {"model": "EEG_CONFIG (full BioCodec, 3.15 M parameters)",
            "segment_seconds": 5.0, "global_batch": batch_size, "timed_steps": steps,
            "torch_threads_per_process": 1,
            "one_process_step_s": one, "one_process_step_cpu_s": one_cpu,
            "two_processes_step_s": two, "speedup_two_processes": one / two,
            "one_process_cpu_s_per_segment": one_cpu / batch_size}


def _ddp_worker(path, batch_size, steps, out):
    # pretrain_codec joins torchrun's process group, and leaves it, by itself.
    step, _ = _timed_training(np.load(path), int(batch_size), int(steps), out)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps({"step_s": step}), flush=True)


# -- estimates ------------------------------------------------------------------------------
def estimates(per_core, seconds_per_segment):
    """Cluster sizes and times from the measured CPU costs (assumptions named in the result).

    ``per_core`` is channel-seconds tokenised per CPU-second of a single-threaded worker
    (reading, resampling, encoding and writing included), ``seconds_per_segment`` the CPU
    seconds of one training step per 5-s segment.
    """
    tuh_channel_seconds = TUH_HOURS * 3600 * TUH_CHANNELS
    core_hours = tuh_channel_seconds / per_core / 3600
    segments = PAPER_SEGMENTS * PAPER_EPOCHS
    train_core_hours = segments * seconds_per_segment / 3600
    return {
        "tuh_tokenisation": {
            "assumption": f"TUH EEG ~{TUH_HOURS:,} h x {TUH_CHANNELS} channels "
                          f"= {tuh_channel_seconds:.3g} channel-seconds",
            "channel_seconds_per_cpu_s": per_core,
            "cpu_core_hours": core_hours,
            "hours_by_single_thread_workers": {n: core_hours / n for n in (16, 64, 256)},
            "workers_for_24_h": int(np.ceil(core_hours / 24)),
            "note": "linear scaling over workers assumed: tasks are independent, and a "
                    "worker reads only ~0.26 MB/s of 16-bit 250-Hz EDF at this rate (256 "
                    "workers: ~66 MB/s from shared storage)",
        },
        "paper_pretraining": {
            "assumption": f"{PAPER_EPOCHS} epochs x {PAPER_SEGMENTS:,} segments of 5 s, batch "
                          f"{PAPER_BATCH} ({PAPER_SEGMENTS * PAPER_EPOCHS // PAPER_BATCH:,} "
                          "steps)",
            "cpu_seconds_per_segment_step": seconds_per_segment,
            "cpu_core_hours": train_core_hours,
            # ranks share the global batch of 512: compute per step = 512 / ranks segments
            "compute_hours_by_single_thread_ranks": {
                n: PAPER_SEGMENTS * PAPER_EPOCHS / PAPER_BATCH * (PAPER_BATCH / n)
                * seconds_per_segment / 3600 for n in (32, 64, 128)},
            "note": "CPU cost per segment measured here with one thread per process; compute "
                    "only: gradient all-reduce (3.15 M float32 = 12.6 MB per step) and "
                    "codebook gathers come on top (see training_step: speedup_two_processes "
                    "for what two gloo processes gained here); the paper trained on GPUs, "
                    "which this machine lacks",
        },
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[4, 5])
    parser.add_argument("--runs", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="crop each recording to this many seconds (0: whole)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/scale.json")
    parser.add_argument("--estimates-only", action="store_true",
                        help="recompute the estimates of --out from its measurements")
    args = parser.parse_args(argv)

    from mne_biocodec._version import __version__
    from mne_biocodec.codec.io import atomic_write

    if args.estimates_only:
        # Recompute the estimates of an existing result from its measurements.
        result = json.loads(Path(args.out).read_text())
        result["estimates"] = estimates(
            result["dask"][0]["channel_seconds_per_cpu_s"],
            result["training_step"]["one_process_cpu_s_per_segment"])
        with atomic_write(args.out) as tmp:
            tmp.write_text(json.dumps(result, indent=2))
        print(json.dumps(result["estimates"], indent=2))
        return
    result = {"benchmark": "scale", "mne_biocodec_version": __version__,
              "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                          "loadavg_start": os.getloadavg(),
                          "shared": "a shared 2-core VM: loadavg_start and loadavg_end "
                                    "record how busy it was around the run"},
              "recordings": {"data": "eegmmidb (held out from codec training)",
                             "subjects": args.subjects, "runs": args.runs,
                             "cropped_to_s": args.seconds}}
    with tempfile.TemporaryDirectory() as folder:
        paths = prepare_recordings(folder, args.subjects, args.runs, args.seconds)
        result["in_process"] = bench_in_process(paths)
        print("in process:", result["in_process"], flush=True)
        result["dask"] = []
        for n_workers in args.workers:
            result["dask"].append(bench_dask(folder, n_workers))
            print("dask:", result["dask"][-1], flush=True)
        # The same with Dask's default worker environment (MALLOC_TRIM_THRESHOLD_=65536).
        result["dask_default_environment"] = bench_dask(folder, args.workers[0], True)
        print("dask defaults:", result["dask_default_environment"], flush=True)
    result["training_step"] = bench_training(args.batch_size, args.steps)
    print("training:", result["training_step"], flush=True)
    base = result["dask"][0]
    result["scaling"] = {
        f"{d['n_workers']}_workers_vs_{base['n_workers']}": d["channel_seconds_per_s"]
        / base["channel_seconds_per_s"] for d in result["dask"][1:]}
    # CPU time, not wall time: on a shared machine the wall time depends on the other jobs.
    # The Dask workers' figure includes reading, resampling and writing: the per-core cost
    # a cluster pays.
    result["estimates"] = estimates(base["channel_seconds_per_cpu_s"],
                                    result["training_step"]["one_process_cpu_s_per_segment"])
    result["machine"]["loadavg_end"] = os.getloadavg()
    out = Path(args.out)
    with atomic_write(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["estimates"], indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ddp-worker":
        _ddp_worker(*sys.argv[2:6])
    else:
        main()
