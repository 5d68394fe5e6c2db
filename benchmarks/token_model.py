"""Token model vs n-gram baselines on held-out recordings (issue 17), and Bonn anomalies.

Masked-token accuracy and perplexity per codebook level of the token model, on the held-out
recordings of ``CODEC_SPLIT_VERSIONS[<version>]["eeg"]["heldout"]`` (eegmmidb subjects 4-5,
Kalunga2016 subjects 3-4, eegmat held-out subjects, DREAMS excerpts 4 and 7, Bonn files
081-100), against

- ``unigram``: each level's code frequencies in the training corpus (add-0.5 smoothing);
- ``bigram``: the code of the previous frame at the same level, ``p(c_t | c_{t-1})``, with
  Dirichlet smoothing toward the unigram (its weight chosen on a tenth of the training
  corpus); the first frame of a window falls back to the unigram.

The model is scored with two fixed masking schedules
(:func:`mne_biocodec.tokenmodel.model.schedule_masks`): ``isolated`` hides every other frame
alone (its neighbours visible, the previous frame included, as for the bigram), ``span`` hides
blocks of 4 frames in two passes (the ``score_samples`` schedule: 0.16 s gaps, so the model
predicts without the previous frame in most positions, which the bigram always has).

Every method is scored on the same windows (4 s, one sequence per channel). With ``--bonn``,
also the unsupervised seizure benchmark: fit on non-seizure Bonn files Z, O, N, F 001-080,
score files 081-100 of every set, ROC AUC of S vs the rest, next to line length, variance
and an isolation forest on band powers.

Usage::

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/token_model.py \
        --model runs/token-model-eeg-v2/token-model.safetensors \
        --train-corpus runs/token-model-eeg/corpus-train.safetensors --bonn

Writes ``benchmarks/results/token_model.json`` (resumable: the held-out corpus is cached in
``--cache``).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mne_biocodec import load_codec
from mne_biocodec.codec import atomic_write
from mne_biocodec.datasets.splits import iter_split_raws
from mne_biocodec.tokenmodel import load_token_model, token_log_likelihood
from mne_biocodec.tokenmodel.data import (build_token_corpus, load_token_corpus,
                                          save_token_corpus)

RESULTS = Path(__file__).parent / "results" / "token_model.json"
#: The shipped model's run and the corpora the benchmarks read (``runs/`` is not in git).
MODEL_RUN = "runs/token-model-eeg-v2/token-model.safetensors"
TRAIN_CORPUS = "runs/token-model-eeg/corpus-train.safetensors"
HELDOUT_CORPUS = "runs/token-model-eeg-heldout/corpus-heldout.safetensors"
SCHEDULES = {"isolated": (1, 2), "span": (4, 2)}
DATASETS = ("eegmmidb", "kalunga", "eegmat", "dreams", "bonn")


# -- n-gram baselines ---------------------------------------------------------------------------
def unigram(train, k, alpha=0.5):
    """``[n_q, K]`` log-probabilities of each level's codes."""
    n_q = train.shape[1]
    counts = np.stack([np.bincount(train[:, q].ravel(), minlength=k) for q in range(n_q)])
    counts = counts + alpha
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def bigram_counts(train, k):
    """``[n_q, K, K]`` counts of (previous code, code) per level."""
    n_q = train.shape[1]
    out = np.zeros((n_q, k, k))
    for q in range(n_q):
        prev, cur = train[:, q, :-1].ravel(), train[:, q, 1:].ravel()
        np.add.at(out[q], (prev, cur), 1)
    return out


def bigram(counts, uni_logp, strength):
    """``[n_q, K, K]`` log p(code | previous code), Dirichlet-smoothed toward the unigram."""
    prior = np.exp(uni_logp)[:, None, :]
    return np.log((counts + strength * prior) / (counts.sum(axis=2, keepdims=True) + strength))


def bigram_log_likelihood(codes, uni_logp, bi_logp):
    """Log-probability ``(n, n_q, T)`` of every code under the bigram (the first frame of a
    window under the unigram)."""
    codes = np.asarray(codes).astype(np.int64)
    return np.stack([np.concatenate([uni_logp[q][codes[:, q, :1]],
                                     bi_logp[q][codes[:, q, :-1], codes[:, q, 1:]]], axis=1)
                     for q in range(codes.shape[1])], axis=1)


def ngram_scores(codes, uni_logp, bi_logp):
    """Per level ``(accuracy, mean nll)`` of the unigram and bigram on codes ``(n, n_q, T)``."""
    n_q = codes.shape[1]
    out = {"unigram": {"accuracy": [], "nll": []}, "bigram": {"accuracy": [], "nll": []}}
    bigram_logp = bigram_log_likelihood(codes, uni_logp, bi_logp)
    for q in range(n_q):
        c = codes[:, q].astype(np.int64)
        out["unigram"]["nll"].append(float(-uni_logp[q][c].mean()))
        out["unigram"]["accuracy"].append(float((c == uni_logp[q].argmax()).mean()))
        logp = bigram_logp[:, q]
        best = np.concatenate([np.full((len(c), 1), uni_logp[q].argmax()),
                               bi_logp[q].argmax(axis=1)[c[:, :-1]]], axis=1)
        out["bigram"]["nll"].append(float(-logp.mean()))
        out["bigram"]["accuracy"].append(float((best == c).mean()))
    for scores in out.values():
        scores["perplexity"] = [float(np.exp(v)) for v in scores["nll"]]
    return out


def fit_bigram(train, k, uni_logp):
    """Bigram with the smoothing strength that scores best on a tenth of ``train``."""
    rng = np.random.default_rng(0)
    tune = rng.random(len(train)) < 0.1
    counts = bigram_counts(train[~tune], k)
    best = None
    for strength in (1.0, 10.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0):
        nll = np.mean(ngram_scores(train[tune], uni_logp, bigram(counts, uni_logp,
                                                                 strength))["bigram"]["nll"])
        if best is None or nll < best[0]:
            best = (nll, strength)
    return bigram(bigram_counts(train, k), uni_logp, best[1]), best[1]


# -- held-out corpus ---------------------------------------------------------------------------
def heldout_corpus(codec, cache, version, max_sequences, window):
    if cache.is_file():
        codes, recording, names, _ = load_token_corpus(cache)
        return codes, recording, names
    raws = iter_split_raws("heldout", "eeg", version=version)
    codes, recording, names = build_token_corpus(codec, raws, window, max_sequences, seed=1,
                                                 progress=True)
    save_token_corpus(cache, codes, recording, names,
                      {"split": "heldout", "version": version, "window_seconds": window,
                       "max_sequences_per_recording": max_sequences})
    return codes, recording, names


def model_scores(model, codes):
    """Per schedule, the log-probability and the prediction of every code."""
    out = {}
    for name, (span, n_groups) in SCHEDULES.items():
        t0 = time.perf_counter()
        log_prob, predicted = token_log_likelihood(model, codes, span, n_groups)
        out[name] = (log_prob.numpy(), predicted.numpy())
        print(f"model, {name} schedule: {len(codes)} sequences "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return out


def compare(codes, scored, rows, uni_logp, bi_logp):
    """Per level accuracy, nll and perplexity of every method on ``codes[rows]``."""
    codes = codes[rows]
    row = ngram_scores(codes, uni_logp, bi_logp)
    for name, (log_prob, predicted) in scored.items():
        nll = -log_prob[rows].astype(np.float64).mean(axis=(0, 2))
        row[f"model_{name}"] = {
            "accuracy": (predicted[rows] == codes).mean(axis=(0, 2)).tolist(),
            "nll": nll.tolist(), "perplexity": np.exp(nll).tolist()}
        ppl = np.exp(nll)
        row[f"model_{name}_beats_unigram"] = bool((ppl < row["unigram"]["perplexity"]).all())
        row[f"model_{name}_beats_bigram"] = bool((ppl < row["bigram"]["perplexity"]).all())
    row["n_sequences"] = int(len(codes))
    return row


# -- Bonn anomalies ------------------------------------------------------------------------------
def bonn_windows(sets, numbers, seconds=4.0):
    """Consecutive windows ``(n, 1, n_times)`` of Bonn files, their file and seizure label.

    Parameters
    ----------
    sets : str
        Bonn set letters, e.g. ``"ZONF"``.
    numbers : iterable of int
        File numbers (1-100) of every set.
    seconds : float
        Window length.

    Returns
    -------
    X : ndarray, shape (n_windows, 1, n_times)
    files : ndarray of str, shape (n_windows,)
        ``"<set><number>"`` of each window.
    labels : ndarray of int, shape (n_windows,)
        1 for set S (seizure), else 0.
    """
    from mne_biocodec.datasets import BONN_SFREQ, load_bonn

    X, file_id, labels = [], [], []
    n = int(round(seconds * BONN_SFREQ))
    numbers = list(numbers)
    for s in sets:
        data, _ = load_bonn(s, numbers, return_array=True)
        for number, row in zip(numbers, data[:, 0]):
            for start in range(0, len(row) - n + 1, n):
                X.append(row[None, start:start + n])
                file_id.append(f"{s}{number:03d}")
                labels.append(int(s == "S"))
    return np.stack(X), np.array(file_id), np.array(labels)


def bonn_band_powers(X):
    """Log band powers ``(n, 5)`` (delta to low gamma, Welch) of windows ``(n, 1, n_times)``."""
    from scipy.signal import welch

    from mne_biocodec.datasets import BONN_SFREQ

    f, p = welch(X[:, 0], fs=BONN_SFREQ, nperseg=256)
    bands = [(0.5, 4), (4, 8), (8, 13), (13, 30), (30, 60)]
    return np.log(np.stack([p[:, (f >= lo) & (f < hi)].mean(axis=1) for lo, hi in bands],
                           axis=1))


def classic_detectors(X_fit, X_test, seed=0):
    """Anomaly scores (higher: more anomalous) of the classic unsupervised detectors."""
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(random_state=seed).fit(bonn_band_powers(X_fit))
    return {"line_length": np.abs(np.diff(X_test[:, 0], axis=-1)).mean(axis=-1),
            "variance": X_test[:, 0].var(axis=-1),
            "isolation_forest_band_powers": -forest.score_samples(bonn_band_powers(X_test))}


def auroc_table(window_scores, files, labels):
    """ROC AUC of S vs the rest per window and per file (window scores averaged)."""
    from sklearn.metrics import roc_auc_score

    unique = np.unique(files)
    file_labels = np.array([labels[files == f][0] for f in unique])
    out = {"auroc_windows": {}, "auroc_files": {}}
    for name, score in window_scores.items():
        out["auroc_windows"][name] = float(roc_auc_score(labels, score))
        per_file = np.array([score[files == f].mean() for f in unique])
        out["auroc_files"][name] = float(roc_auc_score(file_labels, per_file))
    return out


def bonn_benchmark(model_path, max_epochs, seed):
    import mne

    from mne_biocodec.datasets import BONN_SFREQ
    from mne_biocodec.tokenmodel import BioCodecTokenModel

    mne.set_log_level("error")
    X_fit, _, _ = bonn_windows("ZONF", range(1, 81))
    X_test, files, labels = bonn_windows("ZONFS", range(81, 101))
    t0 = time.perf_counter()
    est = BioCodecTokenModel(pretrained=str(model_path), sfreq=BONN_SFREQ,
                             max_epochs=max_epochs, random_state=seed, device="cpu")
    est.fit(X_fit)
    fit_seconds = time.perf_counter() - t0
    pretrained_only = BioCodecTokenModel(pretrained=str(model_path), sfreq=BONN_SFREQ,
                                         max_epochs=0, device="cpu").fit(X_fit)
    window_scores = {
        "token_model_finetuned": -est.score_samples(X_test),
        "token_model_pretrained": -pretrained_only.score_samples(X_test),
        **classic_detectors(X_fit, X_test, seed),
    }
    out = {"n_fit_windows": int(len(X_fit)), "n_test_windows": int(len(X_test)),
           "fit_seconds": fit_seconds, "fit_max_epochs": max_epochs}
    out.update(auroc_table(window_scores, files, labels))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=MODEL_RUN)
    parser.add_argument("--train-corpus", default=TRAIN_CORPUS)
    parser.add_argument("--cache", default=HELDOUT_CORPUS)
    parser.add_argument("--version", default="v2")
    parser.add_argument("--max-sequences", type=int, default=320)
    parser.add_argument("--bonn", action="store_true")
    parser.add_argument("--bonn-epochs", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_token_model(args.model, device="cpu")
    window = model.training_info.get("recipe", {}).get("window_seconds", 4.0)
    codec = load_codec(model.codec_info.get("source", "biocodec-eeg"), device="cpu")
    train, _, _, _ = load_token_corpus(args.train_corpus)
    k = model.codebook_size
    uni_logp = unigram(train, k)
    bi_logp, strength = fit_bigram(train, k, uni_logp)
    codes, recording, names = heldout_corpus(codec, Path(args.cache), args.version,
                                             args.max_sequences, window)
    dataset_of = np.array([names[i].split("/")[0] for i in recording])
    results = {"model": str(args.model), "model_training": model.training_info.get("training"),
               "n_parameters": int(sum(p.numel() for p in model.parameters())),
               "schedules": {k: {"span": s, "n_groups": g} for k, (s, g) in SCHEDULES.items()},
               "bigram_smoothing": strength, "split_version": args.version,
               "window_seconds": window, "heldout_recordings": names, "datasets": {}}
    scored = model_scores(model, codes)
    for dataset in DATASETS:
        rows = dataset_of == dataset
        if rows.any():
            results["datasets"][dataset] = compare(codes, scored, rows, uni_logp, bi_logp)
            results["datasets"][dataset]["n_recordings"] = int(len(np.unique(recording[rows])))
    results["all"] = compare(codes, scored, np.ones(len(codes), dtype=bool), uni_logp,
                             bi_logp)
    if args.bonn:
        results["bonn_anomaly"] = bonn_benchmark(args.model, args.bonn_epochs, 0)
    with atomic_write(args.out) as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    for dataset, row in list(results["datasets"].items()) + [("all", results["all"])]:
        print(dataset, "ppl per level  unigram",
              np.round(row["unigram"]["perplexity"], 1), " bigram",
              np.round(row["bigram"]["perplexity"], 1), " model isolated",
              np.round(row["model_isolated"]["perplexity"], 1), " model span",
              np.round(row["model_span"]["perplexity"], 1))
    if args.bonn:
        print("bonn AUROC (files)", results["bonn_anomaly"]["auroc_files"])


if __name__ == "__main__":
    main()
