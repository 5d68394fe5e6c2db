"""
=================================
Token sequences as images
=================================

BioCodec turns each EEG channel into six parallel streams of integers (one per codebook,
256 possible codes) at 20.8 frames per second. Drawn as images, the codes of one epoch show
how tokens change over time and how they relate across channels. We tokenise imagined
left- and right-fist movements of a held-out subject (PhysioNet EEG Motor Movement/Imagery,
subject 4, runs 4, 8 and 12; the shipped codec never saw this subject) and look at the
codes of single epochs.
"""
# Authors: mne-biocodec developers
# License: BSD-3-Clause

# %%
import os

import matplotlib.pyplot as plt
import mne
import numpy as np

from mne_biocodec import load_codec, tokenize
from mne_biocodec.analysis import codebook_usage
from mne_biocodec.datasets import load_eegmmidb_epochs
from mne_biocodec.viz import plot_tokens

mne.set_log_level("error")
os.environ.setdefault("MNE_DATA", os.path.join("..", "..", "shared", "data"))
codec = load_codec("biocodec-eeg")

# %%
# Tokenise the imagery epochs
# ---------------------------
# 0-4 s after the cue, band-passed to 1-40 Hz, 21 sensorimotor channels: each channel of
# each epoch becomes 6 codebooks x 84 frames.
channels = ["FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "C5", "C3", "C1", "Cz", "C2",
            "C4", "C6", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6"]
epochs = load_eegmmidb_epochs(4, task="left_right", l_freq=1.0, h_freq=40.0).pick(channels)
tokens = tokenize(epochs.get_data(), epochs.info["sfreq"], codec, ch_names=epochs.ch_names)
codes = tokens.codes
print(epochs)
print("codes", codes.shape, codes.dtype)

# %%
# Channels x frames
# -----------------
# The first codebook of one left-hand and one right-hand epoch. Colours only tell codes
# apart (code numbers have no order); a vertical run of one colour is the same code on
# neighbouring channels at the same moment.
labels = epochs.events[:, 2]
for name in ("left_hand", "right_hand"):
    index = int(np.flatnonzero(labels == epochs.event_id[name])[0])
    fig = plot_tokens(tokens, epoch=index, codebook=0, frame_rate=codec.frame_rate)
    fig.axes[0].set_title(f"Codebook 0 of epoch {index} ({name.replace('_', ' ')} imagery)")

# %%
# Codebooks x frames
# ------------------
# One channel, all six codebooks: codebook 0 quantises the encoder's latent, each later one
# what the previous ones left over.
fig = plot_tokens(tokens, epoch=0, channel="C3", frame_rate=codec.frame_rate)

# %%
# What the images show, in numbers
# --------------------------------
# Tokens hardly ever repeat from one frame to the next: the codec spends its 48-ms frames
# on change. Neighbouring channels, however, often get the very same token in the same
# frame, far more often than two independent draws from the codebook's usage would
# (the sum of the squared code probabilities), and less so with distance and in later
# codebooks, which code finer detail. Here C3 and C1 share their codebook-0 token in about
# 31 % of the frames, some 60 times chance; C3 and C4, on opposite hemispheres, in 8 %.
repeat = (codes[..., 1:] == codes[..., :-1]).mean(axis=(0, 1, 3))
chance = (codebook_usage(codes).probabilities ** 2).sum(axis=1)
print("codebook            " + "".join(f"{q:>7}" for q in range(codec.n_q)))
print("repeat next frame   " + "".join(f"{v:7.3f}" for v in repeat))
print("chance same code    " + "".join(f"{v:7.3f}" for v in chance))
c3 = epochs.ch_names.index("C3")
for other in ("C1", "Cz", "C4"):
    same = (codes[:, c3] == codes[:, epochs.ch_names.index(other)]).mean(axis=(0, 2))
    print(f"same code C3-{other:<4}   " + "".join(f"{v:7.3f}" for v in same))

# %%
# On the scalp: how often each channel shares C3's codebook-0 token in the same frame.
same_as_c3 = (codes[:, :, 0] == codes[:, c3:c3 + 1, 0]).mean(axis=(0, 2))
same_as_c3[c3] = np.delete(same_as_c3, c3).max()  # C3 itself (always 1) marked instead
mask = np.arange(len(channels)) == c3
fig, ax = plt.subplots(figsize=(4, 3.6), layout="constrained")
im, _ = mne.viz.plot_topomap(same_as_c3, epochs.info, axes=ax, show=False, mask=mask,
                             mask_params=dict(markersize=10, markerfacecolor="w"),
                             vlim=(0, same_as_c3.max()))
fig.colorbar(im, ax=ax, label="same codebook-0 token as C3")
plt.show()
