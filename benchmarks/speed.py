"""Encoding and decoding speed of the library's token path against a plain eager forward.

For batches of 5-s single-channel segments of real held-out EEG (eegmmidb subjects 4-5,
imagery runs, normalised as the codec expects) and each torch thread count, every repetition
times, back to back:

- ``eager``: ``codec.encode(x)`` / ``codec.decode(codes)`` of the whole batch under
  ``torch.no_grad()``, with the weight-norm parametrisation evaluated at every call: the
  reference implementation's way of running the model;
- ``default``: the library's exact path (:func:`mne_biocodec.tokens.encode` /
  :func:`~mne_biocodec.tokens.decode`: inference mode, batches of about 2**17 samples),
  which gives identical codes;
- ``folded``: the default path with the weight norm folded into plain weights once
  (``torch.nn.utils.parametrize.remove_parametrizations``), also exact: measured to decide
  whether folding pays off.

Throughputs are channel-seconds of signal per second of wall time (medians over repetitions);
the ratios are medians of the per-repetition ratios, which cancel most of the noise of a shared
machine. Also reported: FLOPs per channel-second (``FlopCounterMode``; the LSTM, which it does
not see, by formula), the float32 matmul peak of this machine measured in the same run and the
fraction of it each path reaches, peak memory per path (fresh processes, ``VmHWM``), and
approximate opt-in candidates (dynamic int8 LSTM, bfloat16 autocast) with their speed and
their token agreement with the exact path on held-out EEG (kept only at >= 99.9 %).

    python benchmarks/speed.py --threads 1 2 --batches 16 64 256 \
        --out benchmarks/results/speed.json
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SEGMENT_SECONDS = 5.0
# Held-out recordings (never seen by the shipped codec): imagery runs of subjects 4 and 5.
HELD_OUT = [(4, 4), (5, 4), (4, 8), (5, 8)]
AGREEMENT_FLOOR = 0.999


def _segments(codec, n_segments):
    """Normalised 5-s segments ``(n, n_times)`` at the codec rate from held-out eegmmidb."""
    from mne_biocodec.datasets import load_eegmmidb_raw
    from mne_biocodec.preprocessing import prepare_signals

    n_times = int(SEGMENT_SECONDS * codec.sample_rate)
    parts, total = [], 0
    for subject, run in HELD_OUT:
        raw = load_eegmmidb_raw(subject, [run])
        scaled = prepare_signals(raw.get_data(picks="eeg")[None], raw.info["sfreq"], codec)[0]
        n = scaled.shape[-1] // n_times
        part = scaled[0, :, : n * n_times].reshape(-1, n_times)
        parts.append(part)
        total += len(part)
        if total >= n_segments:
            break
    return np.concatenate(parts)[:n_segments]


def _lstm_flops_per_second(codec):
    """FLOPs of the encoder LSTM per second of signal (multiply-adds of its gates)."""
    lstm = codec.encoder.model[-3].lstm
    per_frame = sum(2 * 4 * lstm.hidden_size * (lstm.input_size if layer == 0
                                                 else lstm.hidden_size)
                    + 2 * 4 * lstm.hidden_size * lstm.hidden_size
                    for layer in range(lstm.num_layers))
    return per_frame * codec.frame_rate


def flops_per_channel_second(codec, x):
    """FLOPs per channel-second of encode and decode: counted convolutions and matmuls plus
    the LSTMs by formula (``FlopCounterMode`` does not count the fused CPU LSTM)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = _folded(codec)
    seconds = x.shape[0] * x.shape[-1] / codec.sample_rate
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            codes = model.encode(x)
        encode = counter.get_total_flops() / seconds
        counted = {str(k): v / seconds for k, v in counter.get_flop_counts()["Global"].items()}
        with FlopCounterMode(display=False) as counter:
            model.decode(codes)
        decode = counter.get_total_flops() / seconds
    lstm = _lstm_flops_per_second(codec)  # encoder and decoder LSTMs are the same size
    return {"encode": encode + lstm, "decode": decode + lstm, "encode_lstm": lstm,
            "encode_counted_by_op": counted}


def matmul_peak(threads, size=2048, repeats=10):
    """Float32 GFLOP/s of a large matmul at ``threads`` threads: the best of ``repeats`` (on a
    shared machine the best run is the closest to the usable peak)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / min(times) / 1e9


def _folded(codec):
    """A copy of ``codec`` with its weight-norm parametrisations folded into plain weights."""
    import copy

    from torch.nn.utils import parametrize

    folded = copy.deepcopy(codec).eval().requires_grad_(False)
    for module in folded.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return folded


def _paths(codec):
    """``{path: {op: callable(segments, codes)}}`` for the timed paths."""
    import torch

    from mne_biocodec.tokens import decode as decode_codes, encode as encode_segments

    folded = _folded(codec)

    def eager_encode(segs, _):
        with torch.no_grad():
            return codec.encode(torch.from_numpy(segs).unsqueeze(1))

    def eager_decode(_, codes):
        with torch.no_grad():
            return codec.decode(torch.from_numpy(codes.astype(np.int64)))

    return {
        "eager": {"encode": eager_encode, "decode": eager_decode,
                  "encode+decode": lambda s, c: eager_decode(None, eager_encode(s, None)
                                                             .numpy())},
        "default": {"encode": lambda s, c: encode_segments(codec, s),
                    "decode": lambda s, c: decode_codes(codec, c),
                    "encode+decode": lambda s, c: decode_codes(codec,
                                                               encode_segments(codec, s))},
        "folded": {"encode": lambda s, c: encode_segments(folded, s),
                   "decode": lambda s, c: decode_codes(folded, c)},
    }


def time_paths(codec, segments, codes, batches, threads, repeats):
    """Interleaved timings: for each repetition every path runs once, back to back."""
    import torch

    torch.set_num_threads(threads)
    paths = _paths(codec)
    rows = []
    for batch in batches:
        segs, cods = segments[:batch], codes[:batch]
        seconds = batch * segs.shape[-1] / codec.sample_rate
        for op in ("encode", "decode", "encode+decode"):
            names = [name for name in paths if op in paths[name]]
            for name in names:  # warm-up: oneDNN primitives, the folded twin
                paths[name][op](segs, cods)
            times = {name: [] for name in names}
            for _ in range(repeats):
                for name in names:
                    start = time.perf_counter()
                    paths[name][op](segs, cods)
                    times[name].append(time.perf_counter() - start)
            eager = np.array(times["eager"])
            for name in names:
                rows.append({
                    "threads": threads, "batch": batch, "op": op, "path": name,
                    "channel_seconds_per_s": seconds / float(np.median(times[name])),
                    "ratio_vs_eager": float(np.median(eager / np.array(times[name]))),
                    "times_s": [round(t, 4) for t in times[name]],
                })
    return rows


def _candidates(codec):
    """Approximate opt-in candidates: name -> codec-like object with ``encode``."""
    import torch
    from torch import nn

    int8 = _folded(codec)
    int8.encoder = torch.ao.quantization.quantize_dynamic(int8.encoder, {nn.LSTM},
                                                          dtype=torch.qint8)
    bf16 = _folded(codec)

    class _Autocast:
        def encode(self, x):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return bf16.encode(x)

    return {"int8_dynamic_lstm": int8, "bfloat16_autocast": _Autocast()}


def candidate_report(codec, segments, batch, threads, repeats, agreement_segments):
    """Speed (vs eager, interleaved) and token agreement of the approximate candidates."""
    import warnings

    import torch

    from mne_biocodec.tokens import encode as encode_segments

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        candidates = _candidates(codec)
    exact = encode_segments(codec, segments[:agreement_segments]).astype(np.int64)
    x = torch.from_numpy(segments[:batch]).unsqueeze(1)
    report = {}
    for name, model in candidates.items():
        with torch.inference_mode():
            codes = torch.cat([model.encode(torch.from_numpy(segments[i:i + 104]).unsqueeze(1))
                               for i in range(0, agreement_segments, 104)]).numpy()
            model.encode(x)
            ratios = []
            for _ in range(repeats):
                start = time.perf_counter()
                with torch.no_grad():
                    codec.encode(x)
                eager = time.perf_counter() - start
                start = time.perf_counter()
                model.encode(x)
                ratios.append(eager / (time.perf_counter() - start))
        agree = codes == exact
        report[name] = {
            "threads": threads, "batch": batch,
            "encode_ratio_vs_eager": float(np.median(ratios)),
            "token_agreement": float(agree.mean()),
            "token_agreement_per_codebook": [float(a) for a in agree.mean(axis=(0, 2))],
            "agreement_segments": int(agreement_segments),
            "kept": bool(agree.mean() >= AGREEMENT_FLOOR),
        }
    return report


def _child_memory(path, segments_file):
    """Peak RSS increase (MB) of one encode+decode of the saved segments along ``path``."""
    import torch

    from mne_biocodec import load_codec

    torch.set_num_threads(1)
    codec = load_codec("biocodec-eeg", device="cpu")
    segments = np.load(segments_file)
    batch = len(segments)
    fn = _paths(codec)[path]["encode+decode"]
    codes = np.zeros((batch, codec.n_q, codec.n_frames(segments.shape[-1])), np.uint8)
    before = _reset_peak_rss()
    fn(segments, codes)
    peak = _peak_rss()
    print(json.dumps({"path": path, "batch": batch, "peak_increase_mb": round(peak - before, 1)}))


def _status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise OSError(field)


def _reset_peak_rss():
    """Current RSS in MB, with the high-water mark reset to it where Linux allows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM
        return _status_mb("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_rss():
    try:
        return _status_mb("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(segments, batches):
    """Peak memory of encode+decode per path and batch, each in a fresh process (the segments
    are handed over in a file so that preparing them does not set the high-water mark)."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for batch in batches:
            segments_file = Path(folder) / f"segments{batch}.npy"
            np.save(segments_file, segments[:batch])
            for path in ("eager", "default"):
                out = subprocess.run([sys.executable, __file__, "--child-memory", path,
                                      str(segments_file)],
                                     check=True, stdout=subprocess.PIPE, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
    return rows


def _load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run(batches=(16, 64, 256), threads=(1, 2), repeats=5, agreement_segments=1024,
        memory=True, candidates=True, out=None):
    """Run the benchmark; returns the result dict and writes it to ``out`` when given."""
    import torch

    from mne_biocodec import load_codec

    codec = load_codec("biocodec-eeg", device="cpu")
    n_segments = max(max(batches), agreement_segments if candidates else 0)
    segments = _segments(codec, n_segments)
    from mne_biocodec.tokens import encode as encode_segments

    codes = encode_segments(codec, segments[:max(batches)])
    x = torch.from_numpy(segments[:8]).unsqueeze(1)
    flops = flops_per_channel_second(codec, x)
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "load_average_start": _load_average()},
        "segment_seconds": SEGMENT_SECONDS, "codec": codec.config["name"],
        "data": "eegmmidb held-out subjects 4-5, imagery runs, 64 channels",
        "flops_per_channel_second": flops, "peak_gflops": {}, "rows": [],
    }
    for n_threads in threads:
        peak = matmul_peak(n_threads)
        rows = time_paths(codec, segments, codes, batches, n_threads, repeats)
        peak = max(peak, matmul_peak(n_threads))  # before and after the timings
        result["peak_gflops"][str(n_threads)] = peak
        for row in rows:
            op_flops = (flops["encode"] + flops["decode"] if row["op"] == "encode+decode"
                        else flops[row["op"]])
            row["fraction_of_peak"] = row["channel_seconds_per_s"] * op_flops / (peak * 1e9)
        result["rows"] += rows
    if candidates:
        batch = 64 if 64 in batches else batches[0]
        result["candidates"] = candidate_report(codec, segments, batch, threads[0], repeats,
                                                min(agreement_segments, len(segments)))
    if memory:
        result["peak_memory_encode_decode"] = peak_memory(segments, batches)
    result["machine"]["load_average_end"] = _load_average()
    if out:
        from mne_biocodec.codec.io import atomic_write

        with atomic_write(out) as tmp:
            Path(tmp).write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(result):
    flops = result["flops_per_channel_second"]
    print(f"FLOPs per channel-second: encode {flops['encode'] / 1e6:.1f} M (LSTM "
          f"{flops['encode_lstm'] / 1e6:.1f} M), decode {flops['decode'] / 1e6:.1f} M; matmul "
          "peak " + ", ".join(f"{k} thread(s) {v:.1f} GFLOP/s"
                              for k, v in result["peak_gflops"].items()))
    print(f"{'threads':>7} {'batch':>5} {'op':>13} {'path':>9} {'ch-s/s':>8} {'vs eager':>9} "
          f"{'of peak':>8}")
    for row in result["rows"]:
        print(f"{row['threads']:>7} {row['batch']:>5} {row['op']:>13} {row['path']:>9} "
              f"{row['channel_seconds_per_s']:>8.0f} {row['ratio_vs_eager']:>8.2f}x "
              f"{100 * row['fraction_of_peak']:>7.1f}%")
    for name, cand in result.get("candidates", {}).items():
        print(f"candidate {name}: encode {cand['encode_ratio_vs_eager']:.2f}x eager, token "
              f"agreement {100 * cand['token_agreement']:.2f}% "
              f"({'kept' if cand['kept'] else 'rejected: below 99.9%'})")
    for row in result.get("peak_memory_encode_decode", []):
        print(f"peak memory encode+decode, batch {row['batch']:>3}, {row['path']:>7}: "
              f"+{row['peak_increase_mb']:.0f} MB")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--agreement-segments", type=int, default=1024)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-candidates", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "speed.json"))
    parser.add_argument("--child-memory", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_memory:
        return _child_memory(*args.child_memory)
    result = run(args.batches, args.threads, args.repeats, args.agreement_segments,
                 memory=not args.no_memory, candidates=not args.no_candidates, out=args.out)
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
