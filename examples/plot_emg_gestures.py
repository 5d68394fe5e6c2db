"""
========================================================
Decode hand gestures from surface EMG with the EMG codec
========================================================

The UCI "EMG data for gestures" recordings (Lobov et al., 2018) hold 8 forearm channels of
a MYO armband while a person holds six gestures (rest, fist, wrist flexion and extension,
radial and ulnar deviation), each about 2 s, four times. We tokenise 1-s windows with the
shipped ``biocodec-emg`` codec and decode the gesture, next to the classic EMG features
(root mean square, mean absolute value and waveform length per channel) with the same
shrinkage LDA on the same folds.

The EMG codec was trained (without labels) on subjects 01 and 03; subject 04 is held out,
so the within-subject decoding below runs on a person the codec never saw.
"""
# Authors: mne-biocodec developers
# License: BSD-3-Clause

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mne_biocodec import BioCodecTokenizer
from mne_biocodec.datasets import load_uci_emg_raw

os.environ.setdefault("MNE_DATA", os.path.join("..", "..", "shared", "data"))

# %%
# Windows of every gesture hold
# -----------------------------
# ``load_uci_emg_raw`` puts the ~200 Hz armband stream on a uniform 200-Hz grid and
# annotates every hold. Each hold gives overlapping 1-s windows (0.25-s step); the
# repetition number (1-4: series 1 holds every gesture twice, then series 2 twice) lets us
# keep all windows of one hold on the same side of a split.
window, step = 1.0, 0.25


def gesture_windows(subject):
    X, gestures, repetition = [], [], []
    for series in (1, 2):
        raw = load_uci_emg_raw(subject, series=series)
        data, sfreq = raw.get_data(picks="emg"), raw.info["sfreq"]
        seen = {}
        for annot in raw.annotations:
            name = annot["description"]
            seen[name] = seen.get(name, 0) + 1
            for onset in np.arange(annot["onset"], annot["onset"] + annot["duration"]
                                   - window + 1e-9, step):
                start = int(round(onset * sfreq))
                X.append(data[:, start:start + int(window * sfreq)])
                gestures.append(name)
                repetition.append(2 * (series - 1) + seen[name])
    return np.stack(X), np.array(gestures), np.array(repetition), sfreq


subjects = [1, 3, 4]
windows = {s: gesture_windows(s) for s in subjects}
X, y, repetition, sfreq = windows[4]
print(f"subject 04: {X.shape[0]} windows of {X.shape[1]} channels x {X.shape[2]} samples")
print({str(g): int(n) for g, n in zip(*np.unique(y, return_counts=True))})

# %%
# Tokens of one window per gesture
# --------------------------------
# The EMG codec runs at 1 kHz (the tokenizer resamples), 18 samples per frame: 1 s gives 56
# frames of 6 codes per channel. Here are the first codebook's codes of every channel.
tokenizer = BioCodecTokenizer(codec="biocodec-emg", sfreq=sfreq, output="codes").fit(X[:1])
names = list(dict.fromkeys(y))
first = [np.flatnonzero((y == name) & (repetition == 1))[0] for name in names]
codes = tokenizer.transform(X[first])
fig, axes = plt.subplots(2, 3, figsize=(9, 4.5), sharex=True, sharey=True)
for ax, name, c in zip(axes.ravel(), names, codes):
    ax.imshow(c[:, 0], aspect="auto", interpolation="nearest", cmap="viridis")
    ax.set_title(name.replace("_", " "), fontsize=10)
for ax in axes[:, 0]:
    ax.set_ylabel("channel")
for ax in axes[-1]:
    ax.set_xlabel("frame (18 ms)")
fig.suptitle("Codebook 1 codes, subject 04")
fig.tight_layout()

# %%
# Features
# --------
# ``output="spatial"``: the correlation between every pair of channels' code-embedding
# streams plus each channel's log amplitude (36 numbers).
# The classic description: log RMS, log mean absolute value and log waveform length of each
# channel (24 numbers). These features learn nothing in ``fit``, so they are computed once.
tokens = BioCodecTokenizer(codec="biocodec-emg", sfreq=sfreq, output="spatial").fit(X[:1])


def classic_features(X):
    rms = np.sqrt(np.mean(X ** 2, axis=-1))
    mav = np.mean(np.abs(X), axis=-1)
    wl = np.sum(np.abs(np.diff(X, axis=-1)), axis=-1)
    return np.log(np.concatenate([rms, mav, wl], axis=1))


features = {
    "BioCodec tokens": {s: tokens.transform(windows[s][0]) for s in subjects},
    "RMS/MAV/WL": {s: classic_features(windows[s][0]) for s in subjects},
}


def lda():
    return make_pipeline(StandardScaler(),
                         LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"))


# %%
# Within subject 04: leave one repetition out
# -------------------------------------------
# Four folds; each tests on one repetition of every gesture after training on the other
# three.
cv_scores = {name: cross_val_score(lda(), feats[4], y, groups=repetition,
                                   cv=LeaveOneGroupOut(), scoring="balanced_accuracy")
             for name, feats in features.items()}
for name, s in cv_scores.items():
    print(f"subject 04, {name:16s} balanced accuracy {s.mean():.3f} +- {s.std():.3f} "
          f"(folds: {np.round(s, 2)})")

# %%
# Across subjects: train on 01 and 03, test on 04
# -----------------------------------------------
# A harder test: the armband sits differently on every forearm. (Subjects 01 and 03 are
# the EMG codec's training subjects; the labels were never used by the codec.)
cross_scores = {}
for name, feats in features.items():
    X_train = np.concatenate([feats[1], feats[3]])
    y_train = np.concatenate([windows[1][1], windows[3][1]])
    pred = lda().fit(X_train, y_train).predict(feats[4])
    cross_scores[name] = balanced_accuracy_score(y, pred)
    print(f"01+03 -> 04, {name:16s} balanced accuracy {cross_scores[name]:.3f}")

# %%
# Summary
# -------
# Chance is 1/6. Both descriptions decode the gestures of the held-out person well within
# subject; the hand-made amplitude features remain slightly better, and both lose accuracy
# across people.
fig, ax = plt.subplots(figsize=(6, 3))
labels = ["within 04\n(leave one repetition out)", "01+03 -> 04"]
for k, name in enumerate(features):
    ax.bar(np.arange(2) + (k - 0.5) * 0.38, [cv_scores[name].mean(), cross_scores[name]],
           0.38, label=name)
ax.axhline(1 / 6, color="k", ls="--", lw=1, label="chance")
ax.set_xticks(np.arange(2), labels)
ax.set(ylabel="balanced accuracy", ylim=(0, 1))
ax.legend(loc="lower left", fontsize=8)
fig.tight_layout()
