"""How good are the token model's forecasts? Continuations of held-out EEG against baselines.

:func:`mne_biocodec.tokenmodel.forecast` continues a recording's tokens frame by frame. This
script measures the continuations on the held-out recordings of the token-model benchmark
(``benchmarks/token_model.py``'s held-out corpus: eegmmidb subjects 4-5, Kalunga2016 3-4,
eegmat's held-out subjects, DREAMS excerpts, Bonn 081-100), up to ``--per-dataset`` 4-s
single-channel windows per data set (seeded): the first 3 s of codes (62 frames) are the
context, the last second (21 frames, 1.01 s) the truth. Every method continues the same
contexts:

- ``model_sample``: the token model, sampled at temperature 1 (seed 0);
- ``model_greedy``: the token model, the most probable code each time;
- ``bigram_sample``: codes sampled from the previous-frame bigram of each level (fitted on
  the token model's training corpus, as in ``token_model.py``);
- ``unigram_sample``: codes drawn from each level's code frequencies;
- ``ar16``: an order-16 autoregressive model fitted to the context signal (Yule-Walker), run
  on with Gaussian innovations of its residual variance (the classic stochastic forecaster);
- ``persistence``: the context's last second repeated.

Code continuations are decoded with the codec together with their context (so the join has
no seam), and every method is compared with the codec's decoding of the true codes, in the
codec's normalised units (the corpus keeps codes, not the channels' scales). Metrics, per
window, then averaged:

- ``log_spectral_distance_db``: RMS over 2-60 Hz of the difference of the Welch log-spectra
  (dB) of the continuation and of the truth;
- ``band_power_error_db``: mean absolute difference of the log band powers (delta, theta,
  alpha, beta, low gamma) in dB;
- ``corr_100ms``: Pearson correlation with the truth over the first 100 ms (can the method
  follow the waveform at all);
- ``power_ratio_db``: mean of 10 log10(power of continuation / power of truth).

``truth_other_window`` pairs each truth with another window's truth from the same data set:
the spectral distance of a random real continuation.

Usage::

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/forecast_quality.py \
        [--model token-model-eeg] [--per-dataset 120]

Writes ``benchmarks/results/forecast_quality.json``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter, lfiltic, welch

sys.path.insert(0, str(Path(__file__).parent))
from token_model import (DATASETS, HELDOUT_CORPUS, TRAIN_CORPUS, fit_bigram,  # noqa: E402
                         unigram)

RESULTS = Path(__file__).parent / "results" / "forecast_quality.json"
CONTEXT_FRAMES, HORIZON_FRAMES = 62, 21
BANDS = {"delta": (1, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30),
         "gamma": (30, 60)}


def sample_ngram(context, uni_logp, bi_logp, n_frames, rng):
    """Continue codes ``(n, n_q, T)`` by ``n_frames`` frames sampled from the bigram of each
    level (``bi_logp`` None: from the unigram)."""
    out = [context]
    last = context[:, :, -1].astype(np.int64)
    for _ in range(n_frames):
        frame = np.empty_like(last)
        for q in range(last.shape[1]):
            logp = uni_logp[q][None].repeat(len(last), 0) if bi_logp is None \
                else bi_logp[q][last[:, q]]
            p = np.exp(logp - logp.max(axis=1, keepdims=True))
            cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
            frame[:, q] = np.minimum((cdf < rng.random((len(p), 1))).sum(axis=1),
                                     p.shape[1] - 1)
        out.append(frame[:, :, None].astype(context.dtype))
        last = frame
    return np.concatenate(out, axis=2)


def ar_forecast(context, n_samples, order, rng):
    """Continue each row of ``context`` (n, T) with a Yule-Walker AR(order) model run on
    with Gaussian innovations of its residual variance."""
    out = np.empty((len(context), n_samples))
    for i, x in enumerate(context):
        x = x - x.mean()
        r = np.correlate(x, x, "full")[len(x) - 1:len(x) + order] / len(x)
        if r[0] <= 0:
            out[i] = 0.0
            continue
        a = solve_toeplitz(r[:order], r[1:order + 1])
        sigma = np.sqrt(max(r[0] - a @ r[1:order + 1], 1e-12))
        # the all-pole filter 1 / (1 - sum a_k z^-k), started from the context's last samples
        denominator = np.r_[1.0, -a]
        state = lfiltic([1.0], denominator, x[-order:][::-1])
        out[i] = lfilter([1.0], denominator, sigma * rng.standard_normal(n_samples),
                         zi=state)[0]
    return out


def metrics(generated, truth, sfreq):
    """Per-window metrics of continuations ``(n, T)`` against the truth ``(n, T)``."""
    f, pg = welch(generated, fs=sfreq, nperseg=min(125, generated.shape[-1]), axis=-1)
    _, pt = welch(truth, fs=sfreq, nperseg=min(125, truth.shape[-1]), axis=-1)
    pg, pt = pg + 1e-20, pt + 1e-20
    keep = (f >= 2) & (f <= 60)
    lsd = np.sqrt(((10 * np.log10(pg / pt))[:, keep] ** 2).mean(axis=1))
    band_err = np.mean([np.abs(10 * np.log10(pg[:, (f >= lo) & (f < hi)].mean(axis=1)
                                             / pt[:, (f >= lo) & (f < hi)].mean(axis=1)))
                        for lo, hi in BANDS.values()], axis=0)
    n = int(round(0.1 * sfreq))
    g, t = generated[:, :n] - generated[:, :n].mean(1, keepdims=True), \
        truth[:, :n] - truth[:, :n].mean(1, keepdims=True)
    corr = (g * t).sum(1) / (np.sqrt((g ** 2).sum(1) * (t ** 2).sum(1)) + 1e-12)
    ratio = 10 * np.log10((generated ** 2).mean(1) / ((truth ** 2).mean(1) + 1e-20) + 1e-20)
    return {"log_spectral_distance_db": float(lsd.mean()),
            "band_power_error_db": float(band_err.mean()),
            "corr_100ms": float(corr.mean()), "power_ratio_db": float(ratio.mean())}


def main():
    from mne_biocodec import load_codec
    from mne_biocodec.codec import atomic_write
    from mne_biocodec.tokenmodel import forecast, load_token_model
    from mne_biocodec.tokenmodel.data import load_token_corpus
    from mne_biocodec.tokens import decode

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="token-model-eeg")
    parser.add_argument("--train-corpus", default=TRAIN_CORPUS)
    parser.add_argument("--heldout-corpus", default=HELDOUT_CORPUS)
    parser.add_argument("--per-dataset", type=int, default=120)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_token_model(args.model, device="cpu")
    codec = load_codec(model.codec_info.get("source", "biocodec-eeg"), device="cpu")
    sfreq = codec.sample_rate
    train, _, _, _ = load_token_corpus(args.train_corpus)
    uni_logp = unigram(train, model.codebook_size)
    bi_logp, _ = fit_bigram(train, model.codebook_size, uni_logp)
    codes, recording, names, _ = load_token_corpus(args.heldout_corpus)
    dataset_of = np.array([names[i].split("/")[0] for i in recording])
    hop = codec.hop_length
    n_context, n_total = CONTEXT_FRAMES * hop, (CONTEXT_FRAMES + HORIZON_FRAMES) * hop
    results = {"model": args.model, "command": " ".join(sys.argv),
               "context_seconds": n_context / sfreq,
               "horizon_seconds": (n_total - n_context) / sfreq, "datasets": {}}

    def decoded(c):
        return decode(codec, c)[:, :n_total].astype(np.float64)

    for dataset in DATASETS:
        rows = np.flatnonzero(dataset_of == dataset)
        if not len(rows):
            continue
        t0 = time.perf_counter()
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(rows, min(args.per_dataset, len(rows)), replace=False))
        window = codes[rows, :, :CONTEXT_FRAMES + HORIZON_FRAMES]
        context = window[:, :, :CONTEXT_FRAMES]
        truth_signal = decoded(window)
        truth = truth_signal[:, n_context:]
        continued = {
            "model_sample": forecast(model, context[:, None], HORIZON_FRAMES,
                                     temperature=1.0, random_state=0)[:, 0],
            "model_greedy": forecast(model, context[:, None], HORIZON_FRAMES,
                                     temperature=0.0)[:, 0],
            "bigram_sample": sample_ngram(context, uni_logp, bi_logp, HORIZON_FRAMES, rng),
            "unigram_sample": sample_ngram(context, uni_logp, None, HORIZON_FRAMES, rng),
        }
        generated = {name: decoded(c)[:, n_context:] for name, c in continued.items()}
        context_signal = truth_signal[:, :n_context]
        generated["ar16"] = ar_forecast(context_signal, n_total - n_context, 16, rng)
        generated["persistence"] = context_signal[:, -(n_total - n_context):]
        generated["truth_other_window"] = truth[np.roll(np.arange(len(truth)), 1)]
        row = {"n_windows": int(len(rows)),
               "n_recordings": int(len(np.unique(recording[rows])))}
        row.update({name: metrics(g, truth, sfreq) for name, g in generated.items()})
        row["seconds"] = time.perf_counter() - t0
        results["datasets"][dataset] = row
        print(f"{dataset} ({row['n_windows']} windows, {row['seconds']:.0f} s)", flush=True)
        for name in generated:
            m = row[name]
            print(f"  {name:20s} LSD {m['log_spectral_distance_db']:5.2f} dB  band "
                  f"{m['band_power_error_db']:5.2f} dB  r100ms {m['corr_100ms']:+.3f}  "
                  f"power {m['power_ratio_db']:+5.2f} dB", flush=True)
    with atomic_write(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
