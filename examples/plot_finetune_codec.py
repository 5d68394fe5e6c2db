"""
===============================================
Fine-tune the shipped codec on your recordings
===============================================

A shipped codec reconstructs best what resembles its training data. When your recordings
differ, a few dozen optimiser steps of fine-tuning from the shipped weights already help,
and :func:`mne_biocodec.training.pretrain_codec` does it with resumable, pickle-free
checkpoints.

Here "your recordings" are the three needle-EMG records of the PhysioNet EMG database
(healthy, myopathy, neuropathy; 4 kHz). The shipped ``biocodec-emg`` codec was trained on
surface EMG from an armband delivering ~200 Hz, so it has never seen the sharp motor-unit
potentials of needle EMG. We fine-tune it on the first 70 % of each record and measure the
fidelity on the last 30 %, which training never sees.
"""
# Authors: mne-biocodec developers
# License: BSD-3-Clause

# %%
import os
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from mne_biocodec import load_codec
from mne_biocodec.codec import reconstruction_metrics
from mne_biocodec.datasets import (PHYSIONET_EMG_RECORDS, load_physionet_emg_raw,
                                   make_codec_segments)
from mne_biocodec.training import pretrain_codec

os.environ.setdefault("MNE_DATA", os.path.join("..", "..", "shared", "data"))

# %%
# Training and held-out segments
# ------------------------------
# :func:`~mne_biocodec.datasets.make_codec_segments` applies the codec's preprocessing to
# a recording (resample to the codec rate, 1 kHz here, with the resampler encoding uses;
# robust scaling per channel) and cuts single-channel segments ``(n_segments, 1,
# n_times)``: 0.5 s for training, 1 s for the held-out evaluation.
codec_sfreq = 1000.0
train, heldout = [], []
for record in PHYSIONET_EMG_RECORDS:
    raw = load_physionet_emg_raw(record)
    cut = 0.7 * raw.times[-1]
    train.append(make_codec_segments(raw.copy().crop(0, cut), sfreq=codec_sfreq,
                                     segment_seconds=0.5, picks="emg"))
    heldout.append(make_codec_segments(raw.copy().crop(cut, None), sfreq=codec_sfreq,
                                       segment_seconds=1.0, picks="emg"))
    print(f"{record}: {raw.times[-1]:.1f} s at {raw.info['sfreq']:.0f} Hz")
train, heldout = np.concatenate(train), np.concatenate(heldout)
print("training segments", train.shape, "held-out segments", heldout.shape)


def fidelity(codec):
    """Mean Pearson r and SI-SDR of the held-out segments, and the reconstructions."""
    with torch.no_grad():
        decoded = codec.decode(codec.encode(torch.from_numpy(heldout))).numpy()
    metrics = reconstruction_metrics(heldout, decoded)
    return metrics["pearson_r"].mean(), metrics["si_sdr"].mean(), decoded


shipped = load_codec("biocodec-emg")
r_before, sdr_before, decoded_before = fidelity(shipped)
print(f"shipped codec on held-out needle EMG: r {r_before:.3f}, SI-SDR {sdr_before:.1f} dB")

# %%
# Fine-tune
# ---------
# ``init="biocodec-emg"`` starts from the shipped weights (and takes its configuration).
# Three epochs of 20 steps of 16 segments, a short warm-up, and the held-out segments as the
# validation set, scored after every epoch. Everything goes to ``output_dir``: a checkpoint
# per epoch (model and optimiser state in safetensors, the history as JSON), then the final
# ``codec.safetensors``. On a GPU the same call uses it.
workdir = Path(tempfile.mkdtemp(prefix="biocodec-finetune-"))
start = time.perf_counter()
result = pretrain_codec(train, heldout, workdir, init="biocodec-emg", max_epochs=3,
                        steps_per_epoch=20, batch_size=16, lr=1e-3, warmup_steps=5,
                        progress=False, seed=0)
print(f"fine-tuning took {time.perf_counter() - start:.0f} s")
for epoch in result.history:
    print(f"epoch {epoch['epoch']}: train loss {epoch['train_loss']:.3f}, "
          f"held-out r {epoch['valid_r']:.3f}, SI-SDR {epoch['valid_si_sdr']:.1f} dB")
print(sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*") if p.is_file()))

# %%
# Resume
# ------
# Running the same call again resumes from the newest checkpoint in ``output_dir`` and
# trains only the epochs that are missing: after an interruption it carries on; here all
# three are done, so it only loads the final state.
start = time.perf_counter()
pretrain_codec(train, heldout, workdir, init="biocodec-emg", max_epochs=3,
               steps_per_epoch=20, batch_size=16, lr=1e-3, warmup_steps=5,
               progress=False, seed=0)
print(f"rerun took {time.perf_counter() - start:.1f} s")

# %%
# Before and after
# ----------------
# The fine-tuned codec is a file like the shipped one: load it by path and use it anywhere
# a codec is taken (``BioCodecTokenizer(codec=...)``, ``mne-biocodec encode --codec ...``).
tuned = load_codec(workdir / "codec.safetensors")
r_after, sdr_after, decoded_after = fidelity(tuned)
print(f"held-out needle EMG: r {r_before:.3f} -> {r_after:.3f}, "
      f"SI-SDR {sdr_before:.1f} -> {sdr_after:.1f} dB")

seg, n = 0, 200  # the first 200 ms of the first held-out segment
t_ms = np.arange(n) / codec_sfreq * 1e3
fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(t_ms, heldout[seg, 0, :n], color="k", lw=1.2, label="held-out signal")
ax.plot(t_ms, decoded_before[seg, 0, :n], lw=1, label=f"shipped codec (r {r_before:.2f})")
ax.plot(t_ms, decoded_after[seg, 0, :n], lw=1, label=f"fine-tuned (r {r_after:.2f})")
ax.set(xlabel="time (ms)", ylabel="robust-scaled amplitude")
ax.legend(fontsize=8, loc="upper right")
ax.set_title("Needle EMG, held-out last 30 % of the record")
fig.tight_layout()

# %%
# A few dozen steps move the codec a long way on data it had never seen, but not all the
# way: the codec's 1-kHz rate limits what it can keep of needle EMG (recorded at 4 kHz),
# and real use would train for longer on more recordings (see ``mne-biocodec pretrain`` and
# the recipes). On EEG that resembles the shipped codec's training data the shipped codec
# is already close to its best, and a short fine-tune changes little.

shutil.rmtree(workdir)  # this tutorial's temporary folder
