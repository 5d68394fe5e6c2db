"""Peak memory of encoding a long recording: streaming (chunk by chunk) vs whole.

Builds recordings of the requested lengths by concatenating real eegmmidb runs (subjects 1-5,
160 Hz, read lazily from the EDF files), encodes each in a fresh process with
``encode_raw(..., chunk_seconds=60)`` and ``chunk_seconds=None`` and records the process's peak
resident memory (``ru_maxrss``) before and after encoding and the wall time. Streaming is also
run with glibc's mmap threshold fixed (``MALLOC_MMAP_THRESHOLD_``), which separates what the
encoder holds from heap fragmentation. (The recording is at 160 Hz, so streaming resamples
with a polyphase filter and the whole path with FFT: only the code shapes are comparable.)

    python benchmarks/streaming_memory.py --minutes 10 60 --channels 4 \
        --out benchmarks/results/streaming_memory.json
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
_FIXED_MMAP_THRESHOLD = 131072  # glibc's initial value, kept fixed


def _long_recording(minutes, n_channels):
    """Real EEG runs of eegmmidb subjects 1-5, concatenated (not preloaded), cropped."""
    import mne

    from mne_biocodec.datasets import get_data_path

    folder = Path(get_data_path()) / "MNE-eegbci-data" / "files" / "eegmmidb" / "1.0.0"
    raws, total = [], 0.0
    for path in sorted(folder.glob("S00[1-5]/S00[1-5]R[0-9][0-9].edf")):
        raw = mne.io.read_raw_edf(path, preload=False, verbose="error")
        raws.append(raw.pick(list(range(n_channels))))
        total += raw.times[-1]
        if total >= minutes * 60:
            break
    if total < minutes * 60:
        raise RuntimeError(f"only {total / 60:.1f} min of eegmmidb runs found")
    raw = mne.concatenate_raws(raws, verbose="error")
    return raw.crop(0, minutes * 60, include_tmax=False)


def _child(minutes, method, n_channels):
    import torch

    from mne_biocodec import load_codec
    from mne_biocodec.tokens import encode_raw

    torch.set_num_threads(int(os.environ.get("MNE_BIOCODEC_THREADS", "1")))
    codec = load_codec("biocodec-eeg", device="cpu")
    raw = _long_recording(minutes, n_channels)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    tokens = encode_raw(raw, codec, chunk_seconds=60.0 if method == "streaming" else None)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"minutes": minutes, "method": method, "n_channels": n_channels,
                      "n_times": int(raw.n_times),
                      "codes_shape": [int(n) for n in tokens.codes.shape],
                      "peak_rss_before_mb": round(before, 1), "peak_rss_mb": round(peak, 1),
                      "encode_peak_increase_mb": round(peak - before, 1),
                      "wall_s": round(seconds, 1),
                      "channel_seconds_per_s": round(n_channels * minutes * 60 / seconds, 1)}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--methods", nargs="+", default=["streaming", "whole"])
    parser.add_argument("--out", default=str(RESULTS / "streaming_memory.json"))
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(float(args.child[0]), args.child[1], args.channels)
    rows = []
    # glibc raises its mmap threshold after large frees, so freed chunk buffers can stay in
    # the heap as fragmentation; a fixed threshold shows what the encoder itself holds.
    variants = [(method, None) for method in args.methods]
    if "streaming" in args.methods:
        variants.append(("streaming", _FIXED_MMAP_THRESHOLD))
    for minutes in args.minutes:
        for method, threshold in variants:
            env = dict(os.environ)
            if threshold:
                env["MALLOC_MMAP_THRESHOLD_"] = str(threshold)
            out = subprocess.run([sys.executable, __file__, "--channels", str(args.channels),
                                  "--child", str(minutes), method], env=env,
                                 check=True, stdout=subprocess.PIPE, text=True).stdout
            rows.append(dict(json.loads(out.strip().splitlines()[-1]),
                             malloc_mmap_threshold=threshold))
            print(rows[-1], flush=True)
    from mne_biocodec.codec.io import atomic_write

    result = {"threads": int(os.environ.get("MNE_BIOCODEC_THREADS", "1")), "rows": rows,
              "note": "peak RSS of a fresh process per row; codec and raw opened before "
                      "'peak_rss_before_mb'"}
    with atomic_write(args.out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'minutes':>8} {'method':>10} {'mmap thr.':>10} {'peak RSS MB':>12} "
          f"{'increase MB':>12} {'wall s':>8}")
    for row in rows:
        print(f"{row['minutes']:>8g} {row['method']:>10} "
              f"{str(row['malloc_mmap_threshold'] or 'glibc'):>10} {row['peak_rss_mb']:>12.1f} "
              f"{row['encode_peak_increase_mb']:>12.1f} {row['wall_s']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
