"""
=====================================================
Tokenise motor imagery and classify it in a Pipeline
=====================================================

We turn imagined left- versus right-fist movements (PhysioNet EEG Motor Movement/Imagery,
subject 2, runs 4, 8 and 12) into BioCodec tokens with the codec shipped in the package, look
at what the tokens are, and classify them with scikit-learn, next to the classic CSP+LDA and
tangent-space pipelines on the same epochs and folds.

The shipped codec never saw imagery runs: it was trained on baseline and executed-movement
runs of subjects 1-3 and on other data sets (see the model card).
"""
# Authors: mne-biocodec developers
# License: BSD-3-Clause

# %%
import os

import matplotlib.pyplot as plt
import mne
import numpy as np
from mne.decoding import CSP
from pyriemann.estimation import Covariances
from pyriemann.tangentspace import TangentSpace
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline

from mne_biocodec import BioCodecClassifier, BioCodecTokenizer
from mne_biocodec.datasets import load_eegmmidb_epochs

mne.set_log_level("error")
os.environ.setdefault("MNE_DATA", os.path.join("..", "..", "shared", "data"))

# %%
# Load imagery epochs (0-4 s after the cue), band-passed to the mu/beta band as MOABB's
# imagery paradigms do, keeping 21 sensorimotor channels.
channels = ["FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "C5", "C3", "C1", "Cz", "C2",
            "C4", "C6", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6"]
epochs = load_eegmmidb_epochs(2, task="left_right", l_freq=8.0, h_freq=30.0).pick(channels)
X = epochs.get_data()
labels = {v: k for k, v in epochs.event_id.items()}
y = np.array([labels[code] for code in epochs.events[:, 2]])
print(epochs)

# %%
# What the tokens are
# -------------------
# Each channel becomes 6 streams (one per codebook) of integers in 0..255 at 20.8 frames per
# second: 4 s at 160 Hz -> 1000 samples at 250 Hz -> 84 frames.
tokenizer = BioCodecTokenizer(output="codes").fit(epochs)
codes = tokenizer.transform(epochs)
print("codes", codes.shape, codes.dtype)

fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
for ax, ch in zip(axes, ["C3", "C4"]):
    idx = epochs.ch_names.index(ch)
    ax.imshow(codes[0, idx], aspect="auto", interpolation="nearest", cmap="viridis")
    ax.set(ylabel=f"{ch}\ncodebook", yticks=range(6))
axes[-1].set_xlabel("token frame (48 ms)")
fig.suptitle("Tokens of the first epoch")
fig.tight_layout()

# %%
# Decoded tokens
# --------------
# ``encode`` keeps the per-channel scales, so the tokens decode back to volts.
tokens = tokenizer.encode(X[:1])
decoded = tokenizer.inverse_transform(tokens)
times = epochs.times
fig, ax = plt.subplots(figsize=(8, 3))
c3 = epochs.ch_names.index("C3")
ax.plot(times, 1e6 * X[0, c3], label="original", lw=1)
ax.plot(times, 1e6 * decoded[0, c3], label="decoded from tokens", lw=1)
ax.set(xlabel="time (s)", ylabel="C3 (µV)", xlim=(0, 2))
ax.legend()
r = np.corrcoef(X[0, c3], decoded[0, c3])[0, 1]
print(f"Pearson r on C3: {r:.2f}")

# %%
# Classify: tokens vs classic pipelines on the same folds
# --------------------------------------------------------
# First the design card's pipeline, exactly as written: the tokenizer, then scikit-learn's
# ``LogisticRegression`` at its defaults, fitted on the ``Epochs`` themselves (channel names
# and rate travel with them through the folds). The tokenizer's default output
# (``"tangent"``) is, per epoch, a covariance-like matrix of the channels' codebook-1 token
# embeddings and amplitude scales, mapped to the tangent space at a reference learnt in
# ``fit``: numbers of order one that a linear model takes as they are.
# :class:`~mne_biocodec.BioCodecClassifier` with its default head (``head="covariance"``:
# the tangent space of the channels' token correlations and their log amplitudes, then one
# linear layer, ~0.5 k parameters at 21 channels) is built to learn from a few dozen trials;
# ``head="paper"`` (the paper's ~53 k-parameter transformer) needs far more data. Each epoch
# is tokenised once: the tokens stay in an in-memory cache that every fold, clone and
# pipeline of this process shares.
cv = StratifiedKFold(5, shuffle=True, random_state=42)
sfreq = epochs.info["sfreq"]
pipelines = {
    "design card: tokenizer + LR": Pipeline([("tokenizer", BioCodecTokenizer()),
                                             ("lr", LogisticRegression())]),
    "BioCodecClassifier": BioCodecClassifier(random_state=0),
    "CSP + LDA": make_pipeline(CSP(n_components=6, reg="oas"), LinearDiscriminantAnalysis()),
    "TS + LR": make_pipeline(Covariances("oas"), TangentSpace(), LogisticRegression(C=1.0)),
}
# the token pipelines take the Epochs, the classic ones the arrays
inputs = {name: epochs if name in ("design card: tokenizer + LR", "BioCodecClassifier") else X
          for name in pipelines}
scores = {name: cross_val_score(pipe, inputs[name], y, cv=cv)
          for name, pipe in pipelines.items()}
for name, s in scores.items():
    print(f"{name:22s} accuracy {s.mean():.3f} +- {s.std():.3f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(scores), [s.mean() for s in scores.values()],
        xerr=[s.std() for s in scores.values()], color="C0")
ax.axvline(0.5, color="k", ls="--", lw=1, label="chance")
ax.set(xlabel="5-fold accuracy", xlim=(0, 1))
ax.legend(loc="lower right")
fig.tight_layout()
