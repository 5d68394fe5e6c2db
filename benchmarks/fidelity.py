"""Reconstruction fidelity of a BioCodec on held-out EEG, against a DCT coder at equal rate.

For ``n_q = 1 .. 6`` codebooks the codec spends ``frame_rate * n_q * log2(codebook_size)``
bit/s per channel (1000 bit/s = 4 bit/sample at 250 Hz for all six). Each held-out 5-s
segment (``CODEC_SPLITS["eeg"]["heldout"]``, robust-scaled as the codec sees it) is encoded,
decoded with the first ``n_q`` codebooks and compared with the original: Pearson r, SI-SDR,
PRD, NMSE (mean / std / median, overall and per data set). A blockwise DCT coder
(:func:`mne_biocodec.baselines.dct_codec_roundtrip`) is run at the same bits per sample,
and at extra rates given by ``--dct-bits``; its rate is an ideal-entropy-coder estimate, so
it is a generous baseline. Codebook usage at the full ``n_q`` (perplexity, dead codes,
entropy) is reported too.

Usage::

    python benchmarks/fidelity.py --codec biocodec-eeg \\
        --out benchmarks/results/fidelity_eeg.json \\
        --plot benchmarks/results/fidelity_eeg.png [--max-segments 2000] [--threads 2]

The JSON is written atomically; the run takes a few minutes on two CPU cores for 2000
segments (loading the held-out recordings takes ~10 s, the DCT coder ~1-2 s per rate).
"""

import argparse
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import mne_biocodec
from mne_biocodec.analysis import codebook_usage, rate_distortion
from mne_biocodec.codec import atomic_write, file_sha256, load_codec
from mne_biocodec.datasets import (CODEC_SPLIT_VERSIONS, CODEC_SPLITS, SHIPPED_SPLIT_VERSION,
                                   iter_split_raws, make_codec_segments)
from mne_biocodec.pretrained import resolve_pretrained

METRICS = ("pearson_r", "si_sdr", "prd", "nmse")
# Held-out data sets (EEG: eegmmidb, kalunga, bonn, dreams, eegmat; EMG: uci_emg, physionet_emg)
DATASETS = tuple(CODEC_SPLITS["eeg"]["heldout"]) + tuple(CODEC_SPLITS["emg"]["heldout"])
SFREQ = 250.0
SEGMENT_SECONDS = 5.0


def _int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers; got {text!r}")
    return values


def _float_list(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers; got {text!r}")
    return values


def _str_list(text):
    return [v.strip() for v in text.split(",") if v.strip()]


def build_parser():
    parser = argparse.ArgumentParser(
        description="Reconstruction fidelity of a codec on held-out EEG vs a DCT coder.")
    parser.add_argument("--codec", default="biocodec-eeg",
                        help="shipped codec name, .safetensors file or folder holding one")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fidelity_eeg.json"),
                        help="JSON file to write (atomically)")
    parser.add_argument("--plot", type=Path, default=None,
                        help="rate-distortion figure to write (PNG/PDF/SVG by extension)")
    parser.add_argument("--max-segments", type=int, default=2000,
                        help="5-s segments in total, drawn per recording (0: all)")
    parser.add_argument("--allocation", choices=("proportional", "balanced"),
                        default="proportional",
                        help="proportional: each recording contributes in proportion to its "
                             "segments (data-set shares as in the held-out set); balanced: "
                             "equal shares per data set, proportional within each")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsampling")
    parser.add_argument("--n-q", type=_int_list, default=None,
                        help="comma-separated numbers of codebooks (default: 1..codec n_q)")
    parser.add_argument("--datasets", type=_str_list, default=None,
                        help=f"comma-separated subset of {','.join(DATASETS)} (default: all)")
    parser.add_argument("--data-path", default=None, help="MNE_DATA-style root")
    parser.add_argument("--split-version", choices=sorted(CODEC_SPLIT_VERSIONS), default=None,
                        help="held-out split of CODEC_SPLIT_VERSIONS (default: the shipped "
                             "codecs')")
    parser.add_argument("--dct-bits", type=_float_list, default=[1.0, 2.0, 3.0, 4.0],
                        help="extra bits/sample at which to run the DCT coder, besides the "
                             "codec's rates ('' for none)")
    parser.add_argument("--dct-block", type=int, default=64, help="DCT block in samples")
    parser.add_argument("--dct-deadzone", type=float, default=0.0,
                        help="extra zero-bin half-width of the DCT quantiser, in steps")
    parser.add_argument("--dct-rate-control", choices=("segment", "global"), default="segment",
                        help="one quantiser step per segment, or one for the whole set")
    parser.add_argument("--batch-size", type=int, default=128, help="segments per forward pass")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if any)")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    return parser


# -- data -----------------------------------------------------------------------------------
def load_heldout_segments(datasets=None, path=None, modality="eeg", sfreq=SFREQ,
                          version=None):
    """All held-out 5-s segments of a modality ("eeg" or "emg"), per recording.

    Returns
    -------
    recordings : list of (name, segments)
        ``segments`` float32 ``(n, n_times)``; recordings without a full segment are left out.
    """
    recordings = []
    picks = "emg" if modality == "emg" else "eeg"
    for name, raw in iter_split_raws("heldout", modality, path=path, datasets=datasets,
                                     version=version):
        segments = make_codec_segments(raw, sfreq=sfreq, segment_seconds=SEGMENT_SECONDS,
                                       picks=picks)
        if len(segments):
            recordings.append((name, segments[:, 0]))
    return recordings


def _largest_remainder(weights, total, rng):
    """Integer quotas summing to ``total``, proportional to ``weights`` (random ties)."""
    weights = np.asarray(weights, dtype=float)
    exact = weights * total / weights.sum()
    quotas = np.floor(exact).astype(int)
    left = total - quotas.sum()
    if left > 0:
        order = np.lexsort((rng.random(len(exact)), -(exact - quotas)))
        quotas[order[:left]] += 1
    return quotas


def _dataset_shares(available, total, allocation, rng):
    """Segments per data set: proportional to its size, or equal (water-filling)."""
    names = sorted(available)
    if allocation == "proportional":
        return dict(zip(names, _largest_remainder([available[d] for d in names], total, rng)))
    share, remaining, open_sets = {}, total, list(names)
    while open_sets:
        each = remaining / len(open_sets)
        small = [d for d in open_sets if available[d] <= each]
        if not small:
            share.update(zip(open_sets, _largest_remainder(np.ones(len(open_sets)),
                                                           remaining, rng)))
            break
        for d in small:
            share[d] = available[d]
            remaining -= available[d]
            open_sets.remove(d)
    return share


def subsample(recordings, max_segments, seed=0, allocation="proportional"):
    """Draw ``max_segments`` segments in total, per recording, with a seeded generator.

    Each data set gets a share of ``max_segments`` (``"proportional"``: as many as its share
    of all segments; ``"balanced"``: equal shares, a data set with fewer segments giving its
    rest to the others), split among its recordings in proportion to their segments (largest
    remainders, ties broken at random); the segments of a recording are drawn at random
    without replacement and kept in time order.

    Returns
    -------
    segments : ndarray, shape (n, n_times)
    labels : ndarray of str
        Data set of each segment (``"eegmmidb"``, ``"bonn"``, ...).
    sources : ndarray of str
        Recording of each segment.
    """
    rng = np.random.default_rng(seed)
    counts = np.array([len(s) for _, s in recordings])
    labels = [name.split("/", 1)[0] for name, _ in recordings]
    if not max_segments or max_segments >= counts.sum():
        quotas = counts
    else:
        # Shares per data set first, then per recording within each data set, so that a
        # data set of many short recordings (Bonn) is not starved by the rounding.
        available = {}
        for label, count in zip(labels, counts):
            available[label] = available.get(label, 0) + int(count)
        shares = _dataset_shares(available, max_segments, allocation, rng)
        quotas = np.zeros(len(counts), dtype=int)
        for label, share in shares.items():
            idx = [i for i, lab in enumerate(labels) if lab == label]
            quotas[idx] = _largest_remainder(counts[idx], int(share), rng)
    chosen, seg_labels, sources = [], [], []
    for (name, segments), label, quota in zip(recordings, labels, quotas):
        if quota == 0:
            continue
        idx = np.sort(rng.choice(len(segments), int(quota), replace=False))
        chosen.append(segments[idx])
        seg_labels += [label] * int(quota)
        sources += [name] * int(quota)
    return np.concatenate(chosen), np.asarray(seg_labels), np.asarray(sources)


# -- statistics -----------------------------------------------------------------------------
def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else None


def summarize(metrics, labels):
    """``{"all"|dataset: {metric: {"mean", "std", "median"}, "n": int}}``."""
    groups = {"all": np.ones(len(labels), dtype=bool)}
    groups.update({d: labels == d for d in DATASETS if np.any(labels == d)})
    out = {}
    for group, mask in groups.items():
        entry = {"n": int(mask.sum())}
        for name in METRICS:
            values = np.asarray(metrics[name])[mask]
            entry[name] = {"mean": _finite(np.mean(values)), "std": _finite(np.std(values)),
                           "median": _finite(np.median(values))}
        out[group] = entry
    return out


# -- codec ----------------------------------------------------------------------------------
def resolve_codec_file(source):
    """The ``.safetensors`` file behind a codec name, file or folder."""
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) == 1:
            return files[0]
    shipped = resolve_pretrained(str(source))
    if shipped is not None:
        return Path(shipped[0])
    return None


# -- report ---------------------------------------------------------------------------------
def _fmt(value, spec):
    return "   n/a" if value is None else format(value, spec)


def format_report(results):
    """Readable tables of a results dict."""
    lines = []
    c, d = results["codec"], results["data"]
    lines.append(f"Codec {c['name']} ({c['file']}, sha256 {c['sha256'][:12]}...)")
    lines.append(f"Held-out EEG: {d['n_segments']['all']} segments of "
                 f"{d['segment_seconds']:g} s from {d['n_recordings']} recordings ("
                 + ", ".join(f"{k} {v}" for k, v in d["n_segments"].items() if k != "all")
                 + ")")
    dct_by_rate = {round(e["target_bits_per_sample"], 6): e for e in results["dct"]["results"]}
    head = (f"{'':>5} {'bit/s':>6} {'b/smp':>6} | {'r mean':>7} {'r std':>6} {'r med':>6} "
            f"{'SI-SDR':>7} {'PRD %':>7} {'NMSE':>7} | {'DCT r':>6} {'SI-SDR':>7} "
            f"{'PRD %':>7} {'NMSE':>7}")
    lines += ["", "Codec vs DCT at the same bits/sample (means over all segments; SI-SDR dB)",
              head, "-" * len(head)]
    for entry in results["codec_results"]:
        m = entry["metrics"]["all"]
        dct = dct_by_rate.get(round(entry["bits_per_sample"], 6))
        dm = dct["metrics"]["all"] if dct else None
        row = (f"n_q={entry['n_q']} {entry['bitrate_bps']:6.0f} {entry['bits_per_sample']:6.3f} | "
               f"{_fmt(m['pearson_r']['mean'], '7.3f')} {_fmt(m['pearson_r']['std'], '6.3f')} "
               f"{_fmt(m['pearson_r']['median'], '6.3f')} {_fmt(m['si_sdr']['mean'], '7.2f')} "
               f"{_fmt(m['prd']['mean'], '7.1f')} {_fmt(m['nmse']['mean'], '7.3f')} | ")
        if dm:
            row += (f"{_fmt(dm['pearson_r']['mean'], '6.3f')} {_fmt(dm['si_sdr']['mean'], '7.2f')} "
                    f"{_fmt(dm['prd']['mean'], '7.1f')} {_fmt(dm['nmse']['mean'], '7.3f')}")
        lines.append(row)
    lines += ["", "DCT coder (block %d, deadzone %g, rate per %s; ideal-entropy rate)"
              % (results["dct"]["block"], results["dct"]["deadzone"],
                 results["dct"]["rate_control"]),
              f"{'target':>7} {'achieved':>8} | {'r mean':>7} {'r med':>6} {'SI-SDR':>7} "
              f"{'PRD %':>7} {'NMSE':>7}"]
    for entry in results["dct"]["results"]:
        m = entry["metrics"]["all"]
        lines.append(f"{entry['target_bits_per_sample']:7.3f} {entry['bits_per_sample']:8.3f} | "
                     f"{_fmt(m['pearson_r']['mean'], '7.3f')} "
                     f"{_fmt(m['pearson_r']['median'], '6.3f')} "
                     f"{_fmt(m['si_sdr']['mean'], '7.2f')} {_fmt(m['prd']['mean'], '7.1f')} "
                     f"{_fmt(m['nmse']['mean'], '7.3f')}")
    groups = [g for g in results["codec_results"][0]["metrics"] if g != "all"]
    if groups:
        lines += ["", "Per data set: mean Pearson r / mean SI-SDR (dB), codec | DCT at same rate"]
        lines.append(f"{'':>5} " + " ".join(f"{g:>22}" for g in groups))
        for entry in results["codec_results"]:
            dct = dct_by_rate.get(round(entry["bits_per_sample"], 6))
            cells = []
            for g in groups:
                m = entry["metrics"][g]
                cell = f"{_fmt(m['pearson_r']['mean'], '.2f')}/{_fmt(m['si_sdr']['mean'], '.1f')}"
                if dct:
                    dm = dct["metrics"][g]
                    cell += (f" | {_fmt(dm['pearson_r']['mean'], '.2f')}/"
                             f"{_fmt(dm['si_sdr']['mean'], '.1f')}")
                cells.append(f"{cell:>22}")
            lines.append(f"n_q={entry['n_q']} " + " ".join(cells))
    usage = results["codebook_usage"]
    lines += ["", f"Codebook usage at n_q={usage['n_q']} ({usage['n_codes_per_codebook']} codes "
                  f"per codebook, {usage['codebook_size']} entries)",
              f"{'codebook':>8} {'entropy':>8} {'perplexity':>10} {'used':>5} {'dead':>5}"]
    for u in usage["codebooks"]:
        lines.append(f"{u['codebook']:8d} {u['entropy_bits']:8.2f} {u['perplexity']:10.1f} "
                     f"{u['used_codes']:5d} {u['dead_codes']:5d}")
    t = results["timing"]
    lines += ["", f"Timing: load {t['load_s']:.1f} s, encode {t['encode_s']:.1f} s, decode "
                  f"{sum(t['decode_s'].values()):.1f} s, DCT {t['dct_s']:.1f} s, metrics "
                  f"{t['metrics_s']:.1f} s, total {t['total_s']:.1f} s ({t['threads']} "
                  f"thread(s), {t['device']})"]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------
def main(argv=None):
    """Run the benchmark; returns the results dict that is also written as JSON."""
    args = build_parser().parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    if args.threads < 1:
        raise SystemExit("--threads must be at least 1")
    if args.datasets is not None:
        unknown = sorted(set(args.datasets) - set(DATASETS))
        if unknown:
            raise SystemExit(f"unknown data set(s) {unknown}; choose from {list(DATASETS)}")
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()

    codec = load_codec(args.codec, device=args.device)
    codec_file = resolve_codec_file(args.codec)
    n_q_list = sorted(set(args.n_q)) if args.n_q else list(range(1, codec.n_q + 1))
    if min(n_q_list) < 1 or max(n_q_list) > codec.n_q:
        raise SystemExit(f"--n-q values must lie in 1..{codec.n_q}; got {n_q_list}")
    bits_per_code = math.log2(codec.codebook_size)

    tic = time.perf_counter()
    modality = codec.config.get("modality", "eeg")
    sfreq = codec.sample_rate
    recordings = load_heldout_segments(args.datasets, args.data_path, modality, sfreq,
                                       version=args.split_version)
    if not recordings:
        raise SystemExit("no held-out recording found; check MNE_DATA / --data-path")
    available = {}
    for name, segs in recordings:
        key = name.split("/", 1)[0]
        available[key] = available.get(key, 0) + len(segs)
    n_recordings = len(recordings)
    segments, labels, sources = subsample(recordings, args.max_segments, args.seed,
                                          args.allocation)
    del recordings
    t_load = time.perf_counter() - tic
    n_times = segments.shape[1]
    say(f"{len(segments)} segments loaded in {t_load:.1f} s; running the codec ...")

    rd = rate_distortion(segments, codec, n_q=n_q_list, dct_bits=args.dct_bits,
                         dct_block=args.dct_block, dct_deadzone=args.dct_deadzone,
                         dct_rate_control=args.dct_rate_control, batch_size=args.batch_size)
    codes, codec_timing = rd.codes, rd.timing
    codec_results = [dict(e, metrics=summarize(e["metrics"], labels)) for e in rd.codec]
    dct_results = [dict(e, metrics=summarize(e["metrics"], labels)) for e in rd.dct]

    n_full = max(n_q_list)
    results = {
        "benchmark": "fidelity",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": ["benchmarks/fidelity.py"] + list(argv if argv is not None else sys.argv[1:]),
        "versions": {"mne_biocodec": mne_biocodec.__version__, "torch": torch.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "codec": {
            "source": str(args.codec), "name": codec.config.get("name", str(args.codec)),
            "file": str(codec_file) if codec_file else None,
            "sha256": file_sha256(codec_file) if codec_file else None,
            "sample_rate": codec.sample_rate, "frame_rate": codec.frame_rate,
            "hop_length": codec.hop_length, "n_q": codec.n_q,
            "codebook_size": codec.codebook_size, "bits_per_code": bits_per_code,
            "normalize": bool(codec.config.get("normalize", False))},
        "data": {
            "split": "heldout", "split_version": args.split_version or SHIPPED_SPLIT_VERSION,
            "modality": modality, "sfreq": sfreq,
            "segment_seconds": SEGMENT_SECONDS, "n_times": n_times,
            "datasets": sorted(available), "n_recordings": n_recordings,
            "n_recordings_sampled": len(set(sources.tolist())),
            "n_segments_available": available,
            "n_segments": {"all": int(len(labels)),
                           **{d: int((labels == d).sum()) for d in DATASETS
                              if np.any(labels == d)}},
            "max_segments": args.max_segments, "allocation": args.allocation,
            "seed": args.seed},
        "codec_results": codec_results,
        "dct": {"block": args.dct_block, "deadzone": args.dct_deadzone,
                "rate_control": args.dct_rate_control,
                "rate_estimate": "zeroth-order empirical entropy of the quantised DCT "
                                 "coefficients (ideal entropy coder, side information "
                                 "ignored): a generous baseline",
                "results": dct_results},
        "codebook_usage": {"n_q": n_full, "codebook_size": codec.codebook_size,
                           "n_codes_per_codebook": int(codes.shape[0] * codes.shape[2]),
                           "codebooks": codebook_usage(codes,
                                                       codec.codebook_size).to_records()},
        "timing": {
            "load_s": t_load, "encode_s": codec_timing["encode_s"],
            "decode_s": {str(k): v for k, v in codec_timing["decode_s"].items()},
            "metrics_s": codec_timing["metrics_s"], "dct_s": codec_timing["dct_s"],
            "encode_channel_seconds_per_s": len(segments) * SEGMENT_SECONDS
            / max(codec_timing["encode_s"], 1e-9),
            "total_s": None, "threads": args.threads, "device": str(codec.device)},
    }
    results["timing"]["total_s"] = time.perf_counter() - t_start
    say(format_report(results))
    with atomic_write(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    say(f"\nwrote {args.out}")
    if args.plot is not None:
        import matplotlib.pyplot as plt

        from mne_biocodec.viz import plot_rate_distortion

        fig = plot_rate_distortion(rd, label=results["codec"]["name"], title=(
            f"Held-out EEG, {len(segments)} segments of {SEGMENT_SECONDS:g} s"))
        with atomic_write(args.plot) as tmp:
            fig.savefig(tmp, format=args.plot.suffix.lstrip(".") or "png", dpi=120)
        plt.close(fig)
        say(f"wrote {args.plot}")
    return results


if __name__ == "__main__":
    main()
