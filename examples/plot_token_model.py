"""
===========================================================
The token model: typicality, annotations and continuation
===========================================================

The shipped token model (``token-model-eeg``) learnt the statistics of BioCodec tokens by
masked code modelling on the codec-training recordings. Here it reads a recording it never
saw (PhysioNet EEG Motor Movement/Imagery, subject 4, run 4: the sample file shipped with
the package) and

1. scores every 4-s window by the log-likelihood of its tokens, and annotates the atypical
   ones as ``BAD_unlikely`` with :func:`~mne_biocodec.annotate_unlikely`: we add a slow
   300 µV swing (a movement or sweat artefact) to two channels for 8 s, to see the
   annotation appear;
2. continues a real epoch's tokens by 2 s with :func:`~mne_biocodec.tokenmodel.forecast_signal`
   and compares the spectra of the continuation and of what the recording did next.

This is a small model (1.7 M parameters, half an hour of CPU pretraining): the
:doc:`model page </token_model>` gives its held-out perplexities and where it falls short.
Its continuations are an illustration, not a forecaster: on held-out windows their spectra
are further from what came next than another window's (7-9 dB against 5 dB of log-spectral
distance on most data sets), while an AR(16) model of the context keeps the spectrum far
better (4-5 dB; ``benchmarks/forecast_quality.py``).
It sees amplitude-normalised tokens, so it is blind to amplitude (Bonn seizures are *not*
flagged), and artefacts make windows *more* predictable, not less: the annotation is
two-sided by default.
"""
# Authors: mne-biocodec developers
# License: BSD-3-Clause

# %%
from importlib import resources

import matplotlib.pyplot as plt
import mne
import numpy as np
from scipy.signal import welch

from mne_biocodec import BioCodecTokenModel, annotate_unlikely
from mne_biocodec.tokenmodel import forecast_signal

mne.set_log_level("error")

# %%
# A recording the codec and the token model never saw, 8 central channels.
fname = resources.files("mne_biocodec.data").joinpath("S004R04.edf")
raw = mne.io.read_raw_edf(str(fname), preload=True)
mne.datasets.eegbci.standardize(raw)
raw.pick(["FC3", "FC4", "C3", "Cz", "C4", "CP3", "CP4", "Pz"]).crop(0, 60)
print(raw)

# %%
# Typicality in sliding windows
# -----------------------------
# ``max_epochs=0`` uses the pretrained model as it is (``fit`` would go on pretraining on the
# recording's own windows). The threshold is a robust z-score of the recording's own scores.
model = BioCodecTokenModel(max_epochs=0, random_state=0)
annotations, scores = annotate_unlikely(raw, model, window=4.0, step=2.0)
print(f"{len(scores.score)} windows, threshold {scores.threshold:.3f} nats per code, "
      f"{int(scores.unlikely.sum())} unlikely")

# the same recording with a slow swing on C3 and C4 from 30 to 38 s
broken = raw.copy()
start, stop = broken.time_as_index([30.0, 38.0])
swing = 300e-6 * np.sin(2 * np.pi * 0.5 * np.arange(stop - start) / raw.info["sfreq"])
broken._data[[2, 4], start:stop] += swing
annotations_b, scores_b = annotate_unlikely(broken, model, window=4.0, step=2.0)
print("annotated on the damaged copy:",
      [(round(a["onset"], 1), round(a["duration"], 1)) for a in annotations_b])

fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(scores.onset + 2.0, scores.score, label="recording")
ax.plot(scores_b.onset + 2.0, scores_b.score, label="swing on C3, C4 at 30-38 s")
ax.axhline(scores_b.threshold, color="k", ls="--", lw=1, label="bounds (damaged copy)")
ax.axhline(scores_b.upper, color="k", ls="--", lw=1)
ax.axvspan(30, 38, color="C1", alpha=0.15)
ax.set(xlabel="window centre (s)", ylabel="log-likelihood (nats/code)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The annotations go onto the recording like any other; ``BAD_`` makes MNE's epoching
# reject the windows they cover.
broken.set_annotations(broken.annotations + annotations_b)
fig = broken.plot(start=24, duration=20, n_channels=8, show_scrollbars=False)

# %%
# Continuing a recording
# ----------------------
# The model fills the next 2 s frame by frame (each level from the coarser ones), then the
# codec decodes the tokens. We continue 4 s of every channel from 20 to 24 s and compare the
# continuation with what the recording did from 24 to 26 s.
sfreq = raw.info["sfreq"]
start = int(20 * sfreq)
known = raw.get_data()[None, :, start:start + int(4 * sfreq)]
future = raw.get_data()[:, start + int(4 * sfreq):start + int(6 * sfreq)]
fitted = BioCodecTokenModel(max_epochs=0, sfreq=sfreq, random_state=0).fit(known)
signals, n_known = forecast_signal(fitted, known, 2.0, temperature=1.0, random_state=0)
continuation = signals[0, :, n_known:n_known + future.shape[1]]

times = np.arange(signals.shape[-1]) / sfreq + 20.0
c3 = raw.ch_names.index("C3")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [2, 1]})
n_seen = known.shape[-1]
axes[0].plot(times[:n_seen], 1e6 * known[0, c3], lw=0.8, label="recording")
axes[0].plot(times[n_known:n_known + future.shape[1]], 1e6 * future[c3], lw=0.8, color="C0",
             alpha=0.5, label="recording (what came next)")
axes[0].plot(times[n_known:n_known + continuation.shape[1]], 1e6 * continuation[c3], lw=0.8,
             color="C3", label="token-model continuation")
axes[0].set(xlabel="time (s)", ylabel="C3 (µV)")
axes[0].legend(fontsize=7)
freqs, p_future = welch(future, fs=sfreq, nperseg=int(sfreq))
_, p_cont = welch(continuation, fs=sfreq, nperseg=int(sfreq))
axes[1].semilogy(freqs, p_future.mean(0), label="what came next")
axes[1].semilogy(freqs, p_cont.mean(0), label="continuation")
axes[1].set(xlabel="frequency (Hz)", ylabel="PSD (V²/Hz), mean of 8 channels", xlim=(0, 60))
axes[1].legend(fontsize=7)
fig.tight_layout()
band = (freqs >= 1) & (freqs <= 40)
print("log10 PSD difference, 1-40 Hz (continuation - recording):",
      np.round(np.log10(p_cont.mean(0)[band] / p_future.mean(0)[band]).mean(), 2))
