"""
=========================================================
Benchmark BioCodec pipelines with MOABB, offline
=========================================================

We evaluate BioCodec token pipelines next to MOABB's classic CSP+LDA and tangent-space
pipelines with MOABB's own within-session evaluation (5-fold cross-validation, ROC AUC),
on imagined left vs right fist movements of PhysioNet EEG Motor Movement/Imagery subjects 4
and 5. Both subjects are held out from the shipped codec's training entirely. Nothing is
downloaded: :class:`~mne_biocodec.moabb.OfflinePhysionetMI` reads the EDF files under
``MNE_DATA`` and skips runs that are not there.

Then a low-resource curve on subjects 1-5: how the scores grow with the number of training
trials per class, on the same random splits for every pipeline.

The full benchmark (subjects 1-5, 64 channels, BioCodecClassifier, Kalunga2016 SSVEP, subject
folds) is ``benchmarks/moabb_benchmark.py``; its results are in the documentation's
benchmark page.
"""
# Authors: mne-biocodec developers
# License: BSD-3-Clause

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import mne
from moabb.paradigms import LeftRightImagery

from mne_biocodec.moabb import (OfflinePhysionetMI, make_pipelines, run_benchmark,
                                run_low_resource)
from mne_biocodec.moabb.report import plot_learning_curve, plot_scores

mne.set_log_level("error")
os.environ.setdefault("MNE_DATA", os.path.join("..", "..", "shared", "data"))
os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")

# %%
# The data, as MOABB serves it
# ----------------------------
# MOABB's left/right imagery paradigm with its defaults (8-32 Hz band-pass, 0-3 s after the
# cue, no resampling), restricted to 8 sensorimotor channels to keep this example short
# (tokenising is most of its run time).
channels = ["FC3", "FC4", "C3", "Cz", "C4", "CP3", "CPz", "CP4"]
paradigm = LeftRightImagery(channels=channels)
dataset = OfflinePhysionetMI()
print("subjects on disk:", dataset.subject_list)
X, y, meta = paradigm.get_data(dataset, subjects=[4])
print(X.shape, "(epochs, channels, samples at 160 Hz)")
print(meta.assign(label=y).groupby("label").size().to_dict())

# %%
# The pipelines
# -------------
# :func:`~mne_biocodec.moabb.make_pipelines` builds the BioCodec pipelines and MOABB's
# references the way MOABB's pipeline files build them. ``BioCodec+LR`` standardises the
# spatial coherence of the channels' token embeddings and their log amplitude scales and
# fits a logistic regression; ``BioCodec+TS+LR`` takes the same coherences as
# channel-by-channel matrices (the tokenizer's ``output="coherence"``), scaled by the
# channels' relative amplitude, and classifies them in the tangent space, as MOABB's TS+LR
# does with signal covariances.
pipelines = make_pipelines("LeftRightImagery", sfreq=160.0,
                           names=["BioCodec+LR", "BioCodec+TS+LR", "TS+LR", "CSP+LDA"])
for name, pipe in pipelines.items():
    print(f"{name:12s}", " -> ".join(type(step).__name__ for _, step in pipe.steps))

# %%
# MOABB within-session evaluation
# -------------------------------
# :func:`~mne_biocodec.moabb.run_benchmark` runs the evaluation subject by subject, prints
# the scores, counts each pipeline's trainable parameters and writes the per-subject scores
# (CSV), a JSON, a markdown table and a plot. Pass ``cache_dir=`` to keep the tokens between
# runs.
out = tempfile.mkdtemp(prefix="biocodec-moabb-")
result = run_benchmark("PhysionetMI", paradigm, subjects=[4, 5], pipelines=pipelines,
                       evaluation="within-session", output_dir=out)

fig, ax = plt.subplots(figsize=(7, 2.8), layout="constrained")
plot_scores(result["scores"], "ROC AUC (5-fold, within session)", chance=0.5,
            title="PhysionetMI subjects 4-5, left vs right imagery", ax=ax)

# %%
# Fewer training trials
# ---------------------
# Every pipeline is trained on 5, 10 and 15 trials per class and tested on the same held-out
# 20 % of the trials, for 10 random draws per subject (MOABB's ``LearningCurveSplitter``),
# on subjects 1-5 (the codec saw baseline and executed-movement runs of subjects 1-3, never
# their imagery runs). The tokenizer learns nothing, so each epoch is tokenised once and
# only the heads are refit: this part takes seconds.
low = run_low_resource("PhysionetMI", paradigm, subjects=[1, 2, 3, 4, 5],
                       pipelines=["BioCodec+LR", "BioCodec+TS+LR", "TS+LR"],
                       n_per_class=(5, 10, 15), n_perms=10, output_dir=out, verbose=False)
print(low["table"])
per_subject = low["scores"].groupby(["pipeline", "n_per_class", "subject"],
                                    as_index=False)["score"].mean()
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
plot_learning_curve(per_subject, "ROC AUC", chance=0.5, ax=ax)
plt.show()
