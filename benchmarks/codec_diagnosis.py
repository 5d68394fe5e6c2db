"""Where a codec's reconstruction error sits: per data set, per frequency band, per codebook.

On a seeded subsample of the held-out split (``CODEC_SPLIT_VERSIONS[version]["eeg"]
["heldout"]``, 5-s segments robust-scaled as the codec sees them, equal shares per data set)
it measures, per data set:

- Pearson r and SI-SDR (mean, median) at ``n_q = 1 .. 6`` and the SI-SDR each added level
  brings;
- the error spectrum at the full ``n_q``: Welch PSDs of the signal and of the error
  (``x - x_hat``), the error power relative to the signal power per band (delta 0.5-4,
  theta 4-8, alpha 8-13, beta 13-30, gamma 30-80, and above 80 Hz), and the share of the
  error power each band holds;
- what could explain a gap: the recording's native rate (content above its Nyquist
  frequency is absent after resampling to 250 Hz), the fidelity after low-passing the
  reconstruction at that Nyquist frequency (error the codec puts where the signal has none),
  the fraction of samples clamped at +-10 after robust scaling, the kurtosis of the scaled
  segments, and the signal's power above 30 Hz; and the rank correlation of each of these
  with the per-segment SI-SDR;

and per codebook level (all data sets pooled, and per data set): the fraction of the 256
codes used, perplexity, and the share of the latent energy each level removes (residual
energy before minus after, over the latent's energy).

Usage::

    python benchmarks/codec_diagnosis.py --codec biocodec-eeg \\
        --out benchmarks/results/codec_diagnosis_v1.json \\
        --plot benchmarks/results/codec_diagnosis_v1.png [--max-segments 2500] [--threads 1]

One core, 2,500 segments: ~5-8 min (loading ~1-2 min, the codec ~3 min). The JSON is
written atomically.
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
from scipy import signal as sps
from scipy import stats

import mne_biocodec
from mne_biocodec.analysis import codebook_usage
from mne_biocodec.codec import atomic_write, file_sha256, load_codec
from mne_biocodec.codec.metrics import pearson_r, si_sdr
from mne_biocodec.datasets import make_codec_segments
from mne_biocodec.datasets.splits import LATEST_SPLIT_VERSION, iter_split_raws
from mne_biocodec.preprocessing import CLAMP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fidelity import resolve_codec_file, subsample  # noqa: E402

SEGMENT_SECONDS = 5.0
#: Bands of the error spectrum, Hz (the last one is above 80 Hz, up to 125).
BANDS = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0),
         "beta": (13.0, 30.0), "gamma": (30.0, 80.0), "above_80": (80.0, 125.0)}
#: eegmat subjects held out in the v1 split too; the others are held out from v2 on.
EEGMAT_V1_HELDOUT = ("Subject06", "Subject07", "Subject08")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", default="biocodec-eeg",
                        help="shipped codec name, .safetensors file or folder holding one")
    parser.add_argument("--split-version", default=LATEST_SPLIT_VERSION,
                        help="held-out split to measure on (v2 contains v1's held-out set "
                             "and is unseen by v1)")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/codec_diagnosis_v1.json"))
    parser.add_argument("--plot", type=Path, default=None, help="figure (PNG/PDF/SVG)")
    parser.add_argument("--max-segments", type=int, default=2500,
                        help="5-s segments in total, equal shares per data set (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsampling")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    return parser


# -- data -------------------------------------------------------------------------------------
def load_heldout(version, sfreq):
    """Held-out 5-s segments per recording, and each recording's native rate.

    Returns
    -------
    recordings : list of (name, segments (n, n_times))
    native_sfreq : dict of name -> float
    """
    recordings, native = [], {}
    for name, raw in iter_split_raws("heldout", "eeg", version=version, on_missing="raise"):
        segments = make_codec_segments(raw, sfreq=sfreq, segment_seconds=SEGMENT_SECONDS,
                                       picks="eeg")
        if len(segments):
            recordings.append((name, segments[:, 0]))
            native[name] = float(raw.info["sfreq"])
    return recordings, native


# -- codec ------------------------------------------------------------------------------------
@torch.no_grad()
def run_codec(codec, segments, batch_size):
    """Codes, reconstructions per ``n_q`` and latent residual energies, batch by batch.

    Returns
    -------
    codes : ndarray of int64, shape (n, n_q, n_frames)
    recon : dict of int -> ndarray (n, n_times)
    residual : ndarray, shape (n, n_q + 1)
        Energy of the latent residual before the first level and after each level.
    """
    n_q, n_times = codec.n_q, segments.shape[1]
    codes, residual = [], []
    recon = {k: [] for k in range(1, n_q + 1)}
    for start in range(0, len(segments), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(segments[start:start + batch_size]))
        latent = codec.encoder(x[:, None].to(codec.device))
        left = latent
        energies = [left.pow(2).sum(dim=(1, 2))]
        level_codes, summed = [], None
        for k, layer in enumerate(codec.quantizer.layers, start=1):
            _, level, vectors = layer.lookup(left)
            dequantized = layer.project_vectors(vectors)
            left = left - dequantized
            energies.append(left.pow(2).sum(dim=(1, 2)))
            level_codes.append(level)
            summed = dequantized if summed is None else summed + dequantized
            recon[k].append(codec.decode_latent(summed)[:, 0, :n_times].cpu().numpy())
        codes.append(torch.stack(level_codes, dim=1).cpu().numpy())
        residual.append(torch.stack(energies, dim=1).cpu().numpy())
    return (np.concatenate(codes), {k: np.concatenate(v) for k, v in recon.items()},
            np.concatenate(residual).astype(np.float64))


# -- statistics -------------------------------------------------------------------------------
def _stat(values):
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(np.mean(values)), "median": float(np.median(values)),
            "std": float(np.std(values)), "p10": float(np.percentile(values, 10))}


def lowpass(x, cutoff, sfreq):
    """Zero-phase 8th-order Butterworth low-pass (the reconstruction's out-of-band part)."""
    sos = sps.butter(8, cutoff, btype="low", fs=sfreq, output="sos")
    return sps.sosfiltfilt(sos, x, axis=-1)


def band_table(freqs, psd_signal, psd_error, psd_recon):
    """Relative error power, share of the error and reconstructed power per band."""
    out = {}
    total_error = psd_error[(freqs >= 0.5)].sum()
    for band, (lo, hi) in BANDS.items():
        mask = (freqs >= lo) & (freqs < hi) if band != "above_80" else (freqs >= lo)
        sig, err = psd_signal[mask].sum(), psd_error[mask].sum()
        out[band] = {"relative_error_power": float(err / sig) if sig > 0 else None,
                     "relative_error_db": float(10 * np.log10(err / sig)) if sig > 0 else None,
                     "share_of_error": float(err / total_error),
                     "share_of_signal": float(sig / psd_signal[freqs >= 0.5].sum()),
                     # below 1: the codec drops the band's power rather than misplacing it
                     "reconstructed_power_ratio": float(psd_recon[mask].sum() / sig)
                     if sig > 0 else None}
    return out


def usage_table(codes, n_codes, residual):
    usage = codebook_usage(codes, n_codes)
    removed = (residual[:, :-1] - residual[:, 1:]).sum(0) / residual[:, 0].sum()
    records = []
    for rec, frac in zip(usage.to_records(), removed):
        records.append({"level": rec["codebook"] + 1,
                        "used_fraction": rec["used_codes"] / n_codes,
                        "perplexity": rec["perplexity"], "entropy_bits": rec["entropy_bits"],
                        "latent_energy_removed": float(frac)})
    return records


def diagnose(segments, labels, sources, native, recon, codes, residual, sfreq, n_codes):
    """The per-data-set tables (see the module docstring)."""
    n_q = max(recon)
    full = recon[n_q]
    freqs, psd_x = sps.welch(segments, fs=sfreq, nperseg=256, axis=-1)
    _, psd_e = sps.welch(segments - full, fs=sfreq, nperseg=256, axis=-1)
    _, psd_r = sps.welch(full, fs=sfreq, nperseg=256, axis=-1)
    line = np.zeros(len(freqs), dtype=bool)
    for mains in (50.0, 60.0):
        line |= np.abs(freqs - mains) <= 1.5
    line_share = psd_x[:, line].sum(1) / psd_x[:, freqs >= 0.5].sum(1)
    r = {k: pearson_r(segments, v) for k, v in recon.items()}
    sdr = {k: si_sdr(segments, v) for k, v in recon.items()}
    clamped = np.mean(np.abs(segments) >= CLAMP - 1e-4, axis=1)
    kurt = stats.kurtosis(segments, axis=1)
    high = psd_x[:, freqs >= 30].sum(1) / psd_x[:, freqs >= 0.5].sum(1)
    native_rate = np.array([native[s] for s in sources])
    nyquist = np.minimum(native_rate / 2, sfreq / 2)
    # Low-passing the reconstruction at the native Nyquist frequency removes what the codec
    # adds where the resampled signal holds nothing.
    filtered = full.copy()
    for rate in np.unique(nyquist):
        if rate < sfreq / 2 - 1:
            mask = nyquist == rate
            filtered[mask] = lowpass(full[mask], 0.95 * rate, sfreq)
    r_lp, sdr_lp = pearson_r(segments, filtered), si_sdr(segments, filtered)

    groups = {"all": np.ones(len(labels), dtype=bool)}
    groups.update({d: labels == d for d in sorted(set(labels.tolist()))})
    in_v1 = np.array([any(s.startswith(f"eegmat/{subj}") for subj in EEGMAT_V1_HELDOUT)
                      for s in sources])
    if np.any(labels == "eegmat"):
        groups["eegmat_v1_heldout"] = (labels == "eegmat") & in_v1
        groups["eegmat_new_heldout"] = (labels == "eegmat") & ~in_v1
    per_group = {}
    for group, mask in groups.items():
        if not mask.any():
            continue
        entry = {"n_segments": int(mask.sum()),
                 "n_recordings": int(len(set(sources[mask].tolist()))),
                 "native_sfreq": sorted({float(v) for v in native_rate[mask]}),
                 "per_n_q": [{"n_q": k, "pearson_r": _stat(r[k][mask]),
                              "si_sdr": _stat(sdr[k][mask])} for k in sorted(recon)],
                 "lowpassed_at_native_nyquist": {"pearson_r": _stat(r_lp[mask]),
                                                 "si_sdr": _stat(sdr_lp[mask])},
                 "bands": band_table(freqs, psd_x[mask].mean(0), psd_e[mask].mean(0),
                                     psd_r[mask].mean(0)),
                 "psd": {"signal": psd_x[mask].mean(0).tolist(),
                         "error": psd_e[mask].mean(0).tolist()},
                 "amplitude": {"clamped_fraction": _stat(clamped[mask]),
                               "segments_with_clamping": float(np.mean(clamped[mask] > 0)),
                               "kurtosis": _stat(kurt[mask]),
                               "scaled_rms": _stat(np.sqrt(np.mean(segments[mask] ** 2, 1))),
                               "power_above_30hz": _stat(high[mask]),
                               "line_noise_share": _stat(line_share[mask])},
                 "codebooks": usage_table(codes[mask], n_codes, residual[mask])}
        sd = [e["si_sdr"]["mean"] for e in entry["per_n_q"]]
        entry["si_sdr_gain_per_level"] = [None] + [float(b - a) for a, b in zip(sd, sd[1:])]
        if mask.sum() > 10:
            target = sdr[n_q][mask]
            entry["spearman_with_si_sdr"] = {
                # a constant feature (no clamping at all) has no rank correlation
                name: _finite(stats.spearmanr(values[mask], target).statistic)
                if np.ptp(values[mask]) > 0 else None
                for name, values in (("clamped_fraction", clamped), ("kurtosis", kurt),
                                     ("power_above_30hz", high),
                                     ("line_noise_share", line_share),
                                     ("scaled_rms", np.sqrt(np.mean(segments ** 2, 1))))}
        per_group[group] = entry
    tail = sdr[n_q] < 5.0
    tails = {d: {"n": int(np.sum(tail & (labels == d))),
                 "fraction_of_dataset": float(np.mean(tail[labels == d]))}
             for d in sorted(set(labels.tolist()))}
    return {"freqs": freqs.tolist(), "groups": per_group,
            "tail_si_sdr_below_5db": {"n": int(tail.sum()), "per_dataset": tails}}


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else None


# -- report -----------------------------------------------------------------------------------
def format_report(results):
    groups = results["diagnosis"]["groups"]
    n_q = results["codec"]["n_q"]
    lines = [f"Codec {results['codec']['name']} (sha256 {results['codec']['sha256'][:12]}...),"
             f" held-out split {results['data']['split_version']}, "
             f"{results['data']['n_segments']} segments of {SEGMENT_SECONDS:g} s"]
    lines += ["", f"{'group':>20} {'n':>5} {'rate':>7} | " + " ".join(
        f"{'nq' + str(k):>11}" for k in range(1, n_q + 1)) + " | r mean/med  | LP@Nyq SDR"]
    for g, e in groups.items():
        cells = " ".join(f"{p['pearson_r']['mean']:5.3f}/{p['si_sdr']['mean']:5.1f}"
                         for p in e["per_n_q"])
        last = e["per_n_q"][-1]
        rate = ",".join(f"{v:g}" for v in e["native_sfreq"])[:7]
        lines.append(f"{g:>20} {e['n_segments']:5d} {rate:>7} | {cells} | "
                     f"{last['pearson_r']['mean']:.3f}/{last['pearson_r']['median']:.3f} | "
                     f"{e['lowpassed_at_native_nyquist']['si_sdr']['mean']:6.1f}")
    lines += ["", "Relative error power per band, dB (share of the error %), n_q = "
              f"{n_q}", f"{'group':>20} " + " ".join(f"{b:>14}" for b in BANDS)]
    for g, e in groups.items():
        cells = [(e["bands"][b]["relative_error_db"], 100 * e["bands"][b]["share_of_error"])
                 for b in BANDS]
        lines.append(f"{g:>20} " + " ".join(f"{_db(db):>6} ({share:4.1f}%)"
                                           for db, share in cells))
    lines += ["", "Reconstructed / signal power per band"]
    for g, e in groups.items():
        lines.append(f"{g:>20} " + " ".join(
            f"{e['bands'][b]['reconstructed_power_ratio']:14.2f}" for b in BANDS))
    lines += ["", "Amplitude: clamped samples (mean %, segments with any %), kurtosis median, "
              "power above 30 Hz median %, Spearman(SI-SDR, hf power)"]
    for g, e in groups.items():
        a = e["amplitude"]
        sp = e.get("spearman_with_si_sdr", {}).get("power_above_30hz")
        lines.append(f"{g:>20} {100 * a['clamped_fraction']['mean']:7.3f} "
                     f"{100 * a['segments_with_clamping']:6.1f} {a['kurtosis']['median']:8.2f} "
                     f"{100 * a['power_above_30hz']['median']:7.2f} "
                     f"{sp if sp is None else round(sp, 2)} line "
                     f"{100 * a['line_noise_share']['median']:.2f}%")
    lines += ["", "Per codebook level (all): used %, perplexity, latent energy removed %"]
    for rec in groups["all"]["codebooks"]:
        lines.append(f"  level {rec['level']}: {100 * rec['used_fraction']:5.1f} "
                     f"{rec['perplexity']:7.1f} {100 * rec['latent_energy_removed']:6.2f}")
    return "\n".join(lines)


def _db(value):
    return "n/a" if value is None else f"{value:6.1f}"


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    diag = results["diagnosis"]
    freqs = np.asarray(diag["freqs"])
    names = [g for g in diag["groups"] if g not in ("all", "eegmat_v1_heldout",
                                                    "eegmat_new_heldout")]
    fig, axes = plt.subplots(2, max(len(names), 3), figsize=(3.2 * max(len(names), 3), 6.4))
    for ax, name in zip(axes[0], names):
        e = diag["groups"][name]
        ax.semilogy(freqs, e["psd"]["signal"], label="signal")
        ax.semilogy(freqs, e["psd"]["error"], label=f"error (n_q={results['codec']['n_q']})")
        ax.set_title(f"{name} ({'/'.join(f'{v:g}' for v in e['native_sfreq'])} Hz)",
                     fontsize=9)
        ax.set_xlabel("Hz")
        ax.axvline(min(e["native_sfreq"]) / 2, color="k", lw=0.5, ls=":")
    axes[0][0].set_ylabel("PSD (robust-scaled units^2/Hz)")
    axes[0][0].legend(fontsize=7)
    ax = axes[1][0]
    for name in names:
        e = diag["groups"][name]
        ax.plot([p["n_q"] for p in e["per_n_q"]], [p["si_sdr"]["mean"] for p in e["per_n_q"]],
                marker="o", label=name)
    ax.set_xlabel("n_q")
    ax.set_ylabel("mean SI-SDR (dB)")
    ax.legend(fontsize=7)
    ax = axes[1][1]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        vals = [diag["groups"][name]["bands"][b]["relative_error_db"] or np.nan for b in BANDS]
        ax.bar(np.arange(len(BANDS)) + i * width, vals, width, label=name)
    ax.set_xticks(np.arange(len(BANDS)) + 0.4, list(BANDS), fontsize=7, rotation=30)
    ax.set_ylabel("error / signal power (dB)")
    ax = axes[1][2]
    recs = diag["groups"]["all"]["codebooks"]
    ax.bar([r["level"] for r in recs], [100 * r["latent_energy_removed"] for r in recs])
    ax.set_xlabel("codebook level")
    ax.set_ylabel("latent energy removed (%)")
    for extra in axes[1][3:]:
        extra.axis("off")
    fig.suptitle(f"{results['codec']['name']}: held-out {results['data']['split_version']}, "
                 f"{results['data']['n_segments']} x {SEGMENT_SECONDS:g}-s segments",
                 fontsize=10)
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)


def main(argv=None):
    args = build_parser().parse_args(argv)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    codec = load_codec(args.codec, device="cpu")
    codec_file = resolve_codec_file(args.codec)
    sfreq = float(codec.sample_rate)
    recordings, native = load_heldout(args.split_version, sfreq)
    available = {}
    for name, segs in recordings:
        key = name.split("/", 1)[0]
        available[key] = available.get(key, 0) + len(segs)
    segments, labels, sources = subsample(recordings, args.max_segments, args.seed,
                                          "balanced")
    n_recordings = len(recordings)
    del recordings
    t_load = time.perf_counter() - t0
    say(f"{len(segments)} segments in {t_load:.0f} s; running the codec ...")
    tic = time.perf_counter()
    codes, recon, residual = run_codec(codec, segments, args.batch_size)
    t_codec = time.perf_counter() - tic
    diagnosis = diagnose(segments, labels, sources, native, recon, codes, residual, sfreq,
                         codec.codebook_size)
    results = {
        "benchmark": "codec_diagnosis",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": ["benchmarks/codec_diagnosis.py"] + list(
            argv if argv is not None else sys.argv[1:]),
        "versions": {"mne_biocodec": mne_biocodec.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "codec": {"source": str(args.codec), "name": codec.config.get("name"),
                  "file": str(codec_file) if codec_file else None,
                  "sha256": file_sha256(codec_file) if codec_file else "",
                  "n_q": codec.n_q, "codebook_size": codec.codebook_size,
                  "sample_rate": codec.sample_rate},
        "data": {"split_version": args.split_version, "split": "heldout",
                 "segment_seconds": SEGMENT_SECONDS, "n_segments": int(len(segments)),
                 "n_recordings": n_recordings,
                 "n_segments_available": available,
                 "n_segments_per_dataset": {d: int((labels == d).sum())
                                            for d in sorted(set(labels.tolist()))},
                 "max_segments": args.max_segments, "allocation": "balanced",
                 "seed": args.seed},
        "bands_hz": BANDS,
        "diagnosis": diagnosis,
        "timing": {"load_s": t_load, "codec_s": t_codec,
                   "total_s": time.perf_counter() - t0, "threads": args.threads},
    }
    say(format_report(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    say(f"wrote {args.out}")
    if args.plot is not None:
        plot(results, args.plot)
        say(f"wrote {args.plot}")
    return results


if __name__ == "__main__":
    main()
