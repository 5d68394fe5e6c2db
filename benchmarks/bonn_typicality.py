"""Typicality statistics of the token model as unsupervised seizure detectors (Bonn, issue 17).

``benchmarks/token_model.py --bonn`` scores Bonn windows by their mean token log-likelihood:
ROC AUC 0.40 for seizure (S) vs the rest, far below variance or band powers (0.98-1.00).
Seizure windows are *more* predictable than the background, and the tokens are amplitude
normalised. This script measures whether statistics of the model in the manner of DoSE
(Morningstar et al., 2021: a density fitted on a generative model's summary statistics of the
training data) close the gap:

- ``ll_low``: mean token log-likelihood, low side (what ``score_samples`` gives);
- ``ll_two_sided``: distance of that mean from its median on the fitted windows;
- ``amplitude``: the tokenizer's per-window scale (IQR), distance of its log from the median;
- ``levels_amplitude_gaussian``: Ledoit-Wolf Gaussian (Mahalanobis distance) on the 6
  per-level mean log-likelihoods plus the log scale;
- ``mean_amplitude_gaussian``: the same on (mean log-likelihood, log scale);
- ``levels_amplitude_gmm4``: a 4-component Gaussian mixture on the standardised per-level
  statistics plus the log scale (Bonn's non-seizure data come from four sets);
- ``embedding_amplitude_lof``: local outlier factor (20 neighbours) on the pooled contextual
  embeddings (8 principal components) plus the log scale;
- ``likelihood_ratio_bigram``: the model's mean log-likelihood minus that of a bigram of the
  codes fitted on the non-seizure windows (Ren et al., 2019: the background model takes out
  what makes simple inputs likely under any model);

next to line length, variance and an isolation forest on band powers, on the same windows.
Every detector is fitted on non-seizure windows only. Two splits: ``dev`` (fit Z, O, N, F
001-060, score every set 061-080) chose nothing but is reported first; ``test`` is the
protocol of ``token_model.py`` (fit 001-080, score 081-100).

Usage::

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/bonn_typicality.py

Writes ``benchmarks/results/bonn_typicality.json``.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from token_model import (auroc_table, bigram_log_likelihood, bonn_windows,  # noqa: E402
                         classic_detectors, fit_bigram, unigram)

RESULTS = Path(__file__).parent / "results" / "bonn_typicality.json"
SPLITS = {"dev": (range(1, 61), range(61, 81)), "test": (range(1, 81), range(81, 101))}


def model_statistics(est, X):
    """Per-level mean log-likelihood ``(n, n_q)``, log scale ``(n,)``, pooled embedding
    ``(n, d_model)``, codes ``(n, n_q, n_frames)`` and the log-probability of every code of
    single-channel windows ``(n, 1, n_times)``."""
    from mne_biocodec.tokenmodel import token_log_likelihood

    tokens = est.tokenizer_.encode(X)
    codes = np.asarray(tokens.codes)[:, 0]
    log_prob, _ = token_log_likelihood(est.model_, codes, est.score_span, est.score_groups,
                                       est.batch_size)
    levels = log_prob.double().mean(dim=2).numpy()
    return (levels, np.log(np.asarray(tokens.scale).reshape(-1)), est.transform(tokens),
            codes, log_prob.double().numpy())


def token_detectors(stats_fit, stats_test, codebook_size, seed=0):
    """Anomaly scores (higher: more anomalous) of the token-model statistics."""
    from sklearn.covariance import LedoitWolf
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.preprocessing import StandardScaler

    (lf, sf, ef, codes_f, _), (lt, st, et, codes_t, logp_t) = stats_fit, stats_test
    mean_f, mean_t = lf.mean(axis=1), lt.mean(axis=1)
    out = {"ll_low": -mean_t,
           "ll_two_sided": np.abs(mean_t - np.median(mean_f)),
           "amplitude": np.abs(st - np.median(sf))}
    for name, fit, test in (("levels_amplitude_gaussian", np.c_[lf, sf], np.c_[lt, st]),
                            ("mean_amplitude_gaussian", np.c_[mean_f, sf],
                             np.c_[mean_t, st])):
        out[name] = LedoitWolf().fit(fit).mahalanobis(test)
    scaler = StandardScaler().fit(np.c_[lf, sf])
    gmm = GaussianMixture(4, random_state=seed).fit(scaler.transform(np.c_[lf, sf]))
    out["levels_amplitude_gmm4"] = -gmm.score_samples(scaler.transform(np.c_[lt, st]))
    pca = PCA(8, random_state=seed).fit(ef)
    fit, test = np.c_[pca.transform(ef), sf], np.c_[pca.transform(et), st]
    scaler = StandardScaler().fit(fit)
    lof = LocalOutlierFactor(20, novelty=True).fit(scaler.transform(fit))
    out["embedding_amplitude_lof"] = -lof.score_samples(scaler.transform(test))
    uni = unigram(codes_f, codebook_size)
    bi, _ = fit_bigram(codes_f, codebook_size, uni)
    out["likelihood_ratio_bigram"] = -(logp_t - bigram_log_likelihood(codes_t, uni, bi)).mean(
        axis=(1, 2))
    return out


def main():
    import mne

    from mne_biocodec.datasets import BONN_SFREQ
    from mne_biocodec.tokenmodel import BioCodecTokenModel

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="token-model-eeg",
                        help="shipped name or file of the token model")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    mne.set_log_level("error")
    torch.set_num_threads(1)
    results = {"model": args.model, "command": " ".join(sys.argv), "splits": {}}
    for split, (fit_numbers, test_numbers) in SPLITS.items():
        t0 = time.perf_counter()
        X_fit, _, _ = bonn_windows("ZONF", fit_numbers)
        X_test, files, labels = bonn_windows("ZONFS", test_numbers)
        est = BioCodecTokenModel(pretrained=args.model, sfreq=BONN_SFREQ, max_epochs=0,
                                 device="cpu").fit(X_fit)
        scores = {**token_detectors(model_statistics(est, X_fit),
                                    model_statistics(est, X_test), est.model_.codebook_size),
                  **classic_detectors(X_fit, X_test)}
        row = {"fit_files": f"ZONF {min(fit_numbers):03d}-{max(fit_numbers):03d}",
               "test_files": f"ZONFS {min(test_numbers):03d}-{max(test_numbers):03d}",
               "n_fit_windows": int(len(X_fit)), "n_test_windows": int(len(X_test)),
               **auroc_table(scores, files, labels),
               "seconds": time.perf_counter() - t0}
        results["splits"][split] = row
        print(split, f"({row['seconds']:.0f} s)")
        for name, value in row["auroc_windows"].items():
            print(f"  {name:32s} windows {value:.4f}  files {row['auroc_files'][name]:.4f}")
    from mne_biocodec.codec import atomic_write

    with atomic_write(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
