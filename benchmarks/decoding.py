"""Side-by-side decoding benchmark of issue 19 ("Tokens that decode"): every pipeline on the
same epochs and the same folds, per subject, with trainable parameters and wall time.

One command regenerates ``benchmarks/results/decoding.json`` and the page
``doc/decoding_benchmark.rst``::

    OMP_NUM_THREADS=1 MNE_BIOCODEC_THREADS=1 nice -n 19 python benchmarks/decoding.py \\
        --out benchmarks/results/decoding.json [--resume] [--only TASK ...] [--report-only]

Rows (tasks; ``--only`` takes these keys):

- ``mi_lr``: PhysionetMI (eegmmidb) imagined left vs right fist, subjects 1-5, MOABB's
  ``LeftRightImagery`` (8-32 Hz band-pass, 0-3 s after the cue, 160 Hz, 64 channels), read
  offline with :class:`mne_biocodec.moabb.OfflinePhysionetMI`; 5-fold stratified CV within
  each subject (shuffled, seed 42), ROC AUC;
- ``mi_card``: the issue's own protocol for the design card's target, eegmmidb subject 1
  imagined left vs right fist read with :func:`mne_biocodec.datasets.load_eegmmidb_epochs`
  (8-32 Hz band-pass of the continuous EEG, 0.5-2.5 s after the cue, 45 epochs x 64
  channels), 5-fold stratified CV repeated 4 times (seed 0, the folds of
  ``tests/test_design_card.py``), accuracy. Another protocol on the data of ``mi_lr``, so
  it is not a row of the summary;
- ``mi_lr_lowres``: the same epochs, 5, 10 and 15 training trials per class drawn at random
  (``--draws`` draws per subject and size), every other trial of the subject as test, ROC AUC;
- ``mi_4class``: the same paradigm with MOABB's ``MotorImagery`` (left fist, right fist, both
  fists, both feet), subject 1 (runs 4, 6, 8, 10, 12, 14), 5-fold CV, accuracy;
- ``eegmat``: PhysioNet eegmat rest vs mental arithmetic, 21 subjects, 19 EEG channels (A2-A1
  and ECG left out), 500 Hz, non-overlapping 4-s windows: the last 60 s of rest and the 60 s
  of arithmetic (15 + 15 windows per subject); leave one subject out, balanced accuracy;
- ``ssvep4`` / ``ssvep3``: Kalunga2016 subjects 1-4, MOABB's ``SSVEP`` (7-45 Hz, 0-2 s,
  256 Hz, 8 channels) with 4 classes (13, 17, 21 Hz, rest) and 3 classes (the stimulation
  frequencies only: the classes CCA can score), 5-fold CV within subject, accuracy;
- ``dreams_spindles``: DREAMS excerpts 1, 3, 4, 7, 2-s windows centred on expert 1's spindles
  against three times as many N2 windows away from any mark, resampled to 100 Hz (the
  excerpts are sampled at 100, 50, 200 and 200 Hz), leave one excerpt out, ROC AUC;
- ``bonn_s_vs_z`` / ``bonn_s_vs_nf``: Bonn seizure segments (23.6 s, one channel), trained on
  files 001-080 and scored on the held-out files 081-100, balanced accuracy;
- ``emg_within04`` / ``emg_cross``: UCI EMG gestures, 1-s windows (0.25-s step) of every hold,
  8 channels at 200 Hz: within subject 04 leaving one repetition out, and trained on subjects
  01 + 03, scored on 04; balanced accuracy.

Pipelines of every row: the design card's ``make_pipeline(BioCodecTokenizer(),
LogisticRegression())`` with scikit-learn defaults on ``mne.Epochs`` (so no ``sfreq``; the
EMG rows give ``codec="biocodec-emg"``, the only argument), the best existing token pipeline
(:func:`mne_biocodec.moabb.make_pipelines`' ``BioCodec+TS+LR``, or ``BioCodec-FB+LR`` and
``BioCodec-Ext+TS+LR`` for SSVEP, or the
gallery's for single-channel rows, with ``BioCodec band power+LR``: the gallery's band-power
pipeline on the signal the tokens decode to, ``output="bandpower"``), ``BioCodecClassifier()``
with its defaults on the same
Epochs, on the EEG rows ``BioCodecClassifier(module=TokenModelCovarianceHead)`` (the
classifier with the pretrained token model's frozen states, issue 17), and the classic
references of the row. On the imagery, eegmat and SSVEP rows,
``BioCodec-Decoded+TS+LR`` / ``BioCodec-Decoded-Ext+TS+LR`` run the row's classic TS+LR /
SSVEP_TS+LR on the signals the tokens decode to (``output="decoded"``): what storing the
epochs as tokens costs that pipeline (each epoch is decoded once: the decoder output stays
in the in-process cache across folds). Every fit is preceded by
``torch.manual_seed(0)``, so the classifier's run is reproducible without changing its
arguments.

Tokens: one token cache folder for the whole run (``--cache-dir``, default
``/tmp/bc_cache_bench``, exported as ``MNE_BIOCODEC_CACHE``). Before a row's pipelines are
timed, every epoch of the row is tokenised once (its time is ``tokenise_s``); the pipelines'
wall times (fit + predict of every fold) are then measured with that warm cache, so they do
not depend on which pipeline runs first.

``cost`` (the issue's "Each epoch tokenised once" measurement) runs in fresh processes with no
cache folder: eegmmidb subject 1 imagined left/right, 45 epochs x 64 channels x 4 s (0-4 s,
unfiltered): one tokenisation pass, ``cross_val_score`` (cv=5) of the design card's pipeline,
of CSP+LDA and of TS+LR, and one ``BioCodecClassifier()`` fit on the first fold.

The JSON is written atomically after every subject (or split) of every row; ``--resume``
keeps the scores already there and computes what is missing (subjects, or pipelines new to a
row). ``--report-only`` rewrites the page from the JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "decoding.json"
DEFAULT_PAGE = ROOT / "doc" / "decoding_benchmark.rst"
DEFAULT_CACHE = "/tmp/bc_cache_bench"

TASKS = ("mi_lr", "mi_card", "mi_lr_lowres", "mi_4class", "eegmat", "ssvep4", "ssvep3",
         "dreams_spindles", "bonn_s_vs_z", "bonn_s_vs_nf", "emg_within04", "emg_cross", "cost")
MI_SUBJECTS = [1, 2, 3, 4, 5]
SSVEP_SUBJECTS = [1, 2, 3, 4]
LOWRES_SIZES = (5, 10, 15)
#: Rows measured for a target of their own, not rows of the issue's table.
NOT_SUMMARY_ROWS = {"mi_card"}
SEED = 42
DESIGN = "BioCodecTokenizer()+LR"
#: eegmat's transductive rows: each subject's epochs re-centred on their own mean (Zanini et
#: al., 2018), the test subject's too (no labels), so they are compared with each other only.
RECENTRED_TOKEN = "BioCodecClassifier(recenter) [transductive]"
RECENTRED_CLASSIC = "TS+LR re-centred [transductive]"
CLASSIFIER = "BioCodecClassifier()"
#: Token pipelines whose features come from the signal the tokens decode to (the codec's
#: decoder), not from the codes' statistics; with the design card on rows whose default
#: output is "bandpower" (one channel), and mne_biocodec.moabb.DECODED_PIPELINES. The
#: summary also gives the best token pipeline without them.
DECODED = {"BioCodec band power+LR"}
#: The classifier with the pretrained token model's frozen states beside its covariance
#: features (issue 17's combined head; EEG rows, codec v1 tokens).
TOKEN_MODEL_CLASSIFIER = "BioCodecClassifier(+TokenModel)"
METRIC_LABELS = {"roc_auc": "ROC AUC", "accuracy": "accuracy",
                 "balanced_accuracy": "balanced accuracy"}


# ----------------------------------------------------------------------------- tasks

class Task:
    """One row of the benchmark: inputs, labels, units (subjects or splits) and pipelines.

    ``inputs`` maps an input kind (``"epochs"``, ``"array"``, ``"filterbank"``) to the data
    of every epoch; ``units`` is a list of ``(label, splits, codec_saw)`` where ``splits``
    lists ``(size, train_index, test_index)`` (``size`` is the number of training trials per
    class of the low-resource row, else None); ``pipelines`` maps a name to
    ``(pipeline, input kind, family)`` with family ``"token"`` or ``"classic"``.
    """

    def __init__(self, key, title, protocol, metric, inputs, y, units, pipelines, *,
                 metrics=None, token_inputs=(), notes=(), groups=None):
        self.key, self.title, self.protocol, self.metric = key, title, protocol, metric
        self.metrics = list(metrics or [metric])
        self.inputs, self.y, self.units, self.pipelines = inputs, np.asarray(y), units, pipelines
        self.token_inputs = list(token_inputs)  # (kind, codec, sfreq) tokenised up front
        self.notes, self.groups = list(notes), groups or {}


def _moabb_epochs(dataset, paradigm, subjects, n_classes=None):
    """MOABB paradigm epochs (volts), labels and metadata, offline."""
    from mne_biocodec.moabb import resolve_dataset, resolve_paradigm

    ds = resolve_dataset(dataset, subjects)
    par = resolve_paradigm(paradigm, ds, n_classes=n_classes)
    epochs, y, meta = par.get_data(ds, subjects=list(subjects), return_epochs=True)
    return ds, par, epochs, np.asarray(y), meta.reset_index(drop=True)


def _within_units(subject_of, y, saw, n_splits=5):
    """Stratified shuffled 5-fold CV inside each subject (seed 42): the units of a row."""
    from sklearn.model_selection import StratifiedKFold

    units = []
    for subject in sorted(set(subject_of.tolist())):
        idx = np.flatnonzero(subject_of == subject)
        cv = StratifiedKFold(n_splits, shuffle=True, random_state=SEED)
        splits = [(None, idx[tr], idx[te]) for tr, te in cv.split(idx, y[idx])]
        units.append((str(subject), splits, saw(subject)))
    return units


def _held_out_units(groups_of, saw):
    """Leave one group (subject, excerpt) out: the held-out group is the unit."""
    return [(str(g), [(None, np.flatnonzero(groups_of != g), np.flatnonzero(groups_of == g))],
             saw(g)) for g in sorted(set(groups_of.tolist()))]


def _token_model_classifier():
    """``BioCodecClassifier(module=TokenModelCovarianceHead)`` on Epochs, a token pipeline.

    It reads the tokens of the codec its token model was pretrained on (named in the
    registry), whichever codec ``biocodec-eeg`` names.
    """
    from mne_biocodec import BioCodecClassifier
    from mne_biocodec.pretrained import pretrained_info
    from mne_biocodec.tokenmodel import TokenModelCovarianceHead

    codec = pretrained_info("token-model-eeg")["codec"]
    return {TOKEN_MODEL_CLASSIFIER: (BioCodecClassifier(codec=codec,
                                                        module=TokenModelCovarianceHead),
                                     "epochs", "token")}


def _imagery_pipelines(codec="biocodec-eeg", classic=("CSP+LDA", "TS+LR"), decoded=False):
    """Design card, BioCodec+TS+LR, BioCodecClassifier() (Epochs) and MOABB's references;
    with ``decoded``, MOABB's TS+LR on the decoded tokens too (``BioCodec-Decoded+TS+LR``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mne_biocodec import BioCodecClassifier, BioCodecTokenizer
    from mne_biocodec.moabb import make_pipelines

    kwargs = {} if codec == "biocodec-eeg" else {"codec": codec}
    pipes = make_pipelines("imagery", codec=codec, names=["BioCodec+TS+LR", *classic] + (
        ["BioCodec-Decoded+TS+LR"] if decoded else []))
    return {DESIGN: (make_pipeline(BioCodecTokenizer(**kwargs), LogisticRegression()),
                     "epochs", "token"),
            "BioCodec+TS+LR": (pipes["BioCodec+TS+LR"], "epochs", "token"),
            **({"BioCodec-Decoded+TS+LR": (pipes["BioCodec-Decoded+TS+LR"], "epochs", "token")}
               if decoded else {}),
            CLASSIFIER: (BioCodecClassifier(**kwargs), "epochs", "token"),
            **(_token_model_classifier() if not kwargs else {}),  # EEG rows only
            **{name: (pipes[name], "array", "classic") for name in classic}}


def _codec_saw_eegmmidb(subject):
    from mne_biocodec.datasets import CODEC_SPLITS

    # the codec saw baseline/executed runs of subjects 1-3, never the imagery runs decoded here
    return subject in CODEC_SPLITS["eeg"]["train"]["eegmmidb"]


def load_mi(key, draws):
    ds, par, epochs, y, meta = _moabb_epochs("PhysionetMI", "LeftRightImagery", MI_SUBJECTS)
    subject_of = meta["subject"].to_numpy()
    inputs = {"epochs": epochs, "array": epochs.get_data(copy=True) * 1e6}  # MOABB's uV
    protocol = ("MOABB LeftRightImagery on OfflinePhysionetMI (runs 4, 8, 12): band-pass "
                "8-32 Hz (MOABB's IIR filter), 0-3 s after the cue, 160 Hz, 64 EEG channels, "
                f"{len(y)} epochs.")
    if key == "mi_lr":
        units = _within_units(subject_of, y, _codec_saw_eegmmidb)
        return Task(key, "PhysionetMI left vs right fist imagery, within session", protocol
                    + " 5-fold stratified CV per subject (shuffled, seed 42).", "roc_auc",
                    inputs, y, units, _imagery_pipelines(decoded=True),
                    metrics=["roc_auc", "accuracy"],
                    token_inputs=[("epochs", "biocodec-eeg", None)])
    units = []
    for subject in MI_SUBJECTS:
        idx = np.flatnonzero(subject_of == subject)
        splits = []
        for draw in range(draws):
            rng = np.random.default_rng(1000 * subject + draw)
            order = {c: rng.permutation(idx[y[idx] == c]) for c in sorted(set(y[idx]))}
            for n in LOWRES_SIZES:
                train = np.sort(np.concatenate([o[:n] for o in order.values()]))
                splits.append((n, train, np.setdiff1d(idx, train)))
        units.append((str(subject), splits, _codec_saw_eegmmidb(subject)))
    return Task(key, "PhysionetMI left vs right, low resource", protocol
                + f" Per subject {draws} random draws of 5, 10 and 15 training trials per "
                "class (nested within a draw); every other trial of the subject is the test "
                "set.", "roc_auc", inputs, y, units,
                _imagery_pipelines(decoded=True),
                token_inputs=[("epochs", "biocodec-eeg", None)])


def load_mi_card(key, draws):
    """Issue 19's protocol for the design card: subject 1, 8-32 Hz, 0.5-2.5 s, accuracy."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    from mne_biocodec.datasets import load_eegmmidb_epochs

    epochs = load_eegmmidb_epochs(1, task="left_right", tmin=0.5, tmax=2.5, l_freq=8.0,
                                  h_freq=32.0, path=os.environ["MNE_DATA"])
    y = epochs.events[:, 2]
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=4, random_state=0)
    splits = [(None, tr, te) for tr, te in cv.split(np.zeros(len(y)), y)]
    pipes = _imagery_pipelines(decoded=True)
    pipes.pop(TOKEN_MODEL_CLASSIFIER, None)  # the row is about the design card
    return Task(key, "eegmmidb subject 1 left vs right fist imagery, the design card's "
                "protocol", "eegmmidb subject 1, imagined left vs right fist (runs 4, 8, 12), "
                "read with load_eegmmidb_epochs: 8-32 Hz band-pass (MNE's FIR filter on the "
                "continuous EEG), 0.5-2.5 s after the cue, 160 Hz, 64 EEG channels, "
                f"{len(y)} epochs: the protocol issue 19 states the design card's target on. "
                "5-fold stratified CV repeated 4 times (seed 0), accuracy, with ROC AUC "
                "beside it. Not a row of the summary: the data of mi_lr under another "
                "protocol.", "accuracy", {"epochs": epochs,
                                          "array": epochs.get_data(copy=True) * 1e6},
                y, [("1", splits, _codec_saw_eegmmidb(1))], pipes,
                metrics=["accuracy", "roc_auc"],
                token_inputs=[("epochs", "biocodec-eeg", None)])


def load_mi4(key, draws):
    ds, par, epochs, y, meta = _moabb_epochs("PhysionetMI", "MotorImagery", [1], n_classes=4)
    inputs = {"epochs": epochs, "array": epochs.get_data(copy=True) * 1e6}
    units = _within_units(meta["subject"].to_numpy(), y, _codec_saw_eegmmidb)
    return Task(key, "PhysionetMI 4-class imagery (left fist, right fist, both fists, feet)",
                "MOABB MotorImagery(n_classes=4) on OfflinePhysionetMI, subject 1 (runs 4, 6, "
                "8, 10, 12, 14): 8-32 Hz, 0-3 s, 64 channels, "
                f"{len(y)} epochs ({', '.join(f'{c} {n}' for c, n in zip(*np.unique(y, return_counts=True)))}); "
                "5-fold stratified CV (shuffled, seed 42); the spread is over folds.",
                "accuracy", inputs, y, units, _imagery_pipelines(decoded=True),
                metrics=["accuracy", "balanced_accuracy"],
                token_inputs=[("epochs", "biocodec-eeg", None)])


def log_variance(X):
    """Log-variance of each channel over time, ``(n_epochs, n_chans)``."""
    return np.log(np.var(X, axis=-1))


class SubjectRecentredCovariances:
    """OAS covariances of Epochs, each subject's whitened by its own Riemannian mean.

    The classic counterpart of ``BioCodecClassifier(recenter="subject")``: stateless, so
    ``transform`` re-centres whatever subjects it is given (the test subject on its own
    epochs), reading the subjects from ``epochs.metadata[column]``.
    """

    def __init__(self, column="subject"):
        self.column = column

    def get_params(self, deep=True):
        return {"column": self.column}

    def set_params(self, **params):
        self.column = params.get("column", self.column)
        return self

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        from pyriemann.estimation import Covariances
        from pyriemann.geometry.base import invsqrtm
        from pyriemann.geometry.mean import mean_riemann

        mats = Covariances("oas").fit_transform(X.get_data())
        groups = X.metadata[self.column].to_numpy()
        for group in np.unique(groups):
            mask = groups == group
            white = invsqrtm(mean_riemann(mats[mask]))
            mats[mask] = white @ mats[mask] @ white
        return mats

    def fit_transform(self, X, y=None):
        return self.transform(X)


def load_eegmat(key, draws):
    import mne
    import pandas as pd
    from pyriemann.tangentspace import TangentSpace

    from mne_biocodec import BioCodecClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from mne_biocodec.datasets import CODEC_SPLITS, get_data_path, load_eegmat_raw
    from mne_biocodec.datasets.splits import CODEC_SPLIT_VERSIONS, SHIPPED_SPLIT_VERSION

    folder = get_data_path() / "physionet-eegmat"
    subjects = sorted(int(p.name[7:9]) for p in folder.glob("Subject??_1.edf"))
    windows, labels, subject_of, info = [], [], [], None
    for subject in subjects:
        for session, label in ((1, "rest"), (2, "arithmetic")):
            raw = load_eegmat_raw(subject, session).pick("eeg")
            if info is None:
                info = raw.info
            raw.reorder_channels(info["ch_names"])
            data, n = raw.get_data(), int(round(4.0 * raw.info["sfreq"]))
            count = min(15, data.shape[1] // n)
            # rest: the last 60 s, arithmetic: the first 60 s (what the file holds)
            starts = (data.shape[1] - n * np.arange(count, 0, -1) if session == 1
                      else n * np.arange(count))
            windows += [data[:, s:s + n] for s in starts]
            labels += [label] * count
            subject_of += [subject] * count
    y, subject_of = np.array(labels), np.array(subject_of)
    epochs = mne.EpochsArray(np.stack(windows), mne.create_info(info["ch_names"], info["sfreq"],
                                                                 "eeg"),
                             metadata=pd.DataFrame({"subject": subject_of}), verbose=False)
    seen = set(CODEC_SPLITS["eeg"]["train"]["eegmat"])
    train_v2 = set(CODEC_SPLIT_VERSIONS["v2"]["eeg"]["train"]["eegmat"])
    pipes = _imagery_pipelines(classic=("TS+LR",), decoded=True)
    pipes["log-variance+LR"] = (make_pipeline(FunctionTransformer(log_variance),
                                              StandardScaler(), LogisticRegression()),
                                "array", "classic")
    # The re-centred classifier's head settings were chosen on the codec-training subjects
    # (benchmarks/crosssub_defaults.py: 76.7 there).
    pipes[RECENTRED_TOKEN] = (BioCodecClassifier(recenter="subject", module__n_codebooks=1,
                                                 module__shrinkage=0.0),
                              "epochs", "token, transductive")
    pipes[RECENTRED_CLASSIC] = (make_pipeline(SubjectRecentredCovariances(), TangentSpace(),
                                              LogisticRegression()),
                                "epochs", "classic, transductive")
    groups = {"codec training split (00-03, 05, 09-15)": sorted(train_v2 & set(subjects)),
              "held out (06-08, 16-19, 21, 22)": sorted(set(subjects) - train_v2)}
    return Task(key, f"eegmat rest vs mental arithmetic, {len(subjects)} subjects, "
                "leave one subject out",
                "PhysioNet eegmat, 19 EEG channels (A2-A1 and ECG left out), 500 Hz as "
                "recorded; non-overlapping 4-s windows, the last 60 s of the rest file and the "
                "60 s of the arithmetic file (15 + 15 per subject, "
                f"{len(y)} windows); each subject scored by pipelines trained on the 20 others.",
                "balanced_accuracy", {"epochs": epochs, "array": epochs.get_data() * 1e6}, y,
                _held_out_units(subject_of, lambda s: s in seen), pipes,
                metrics=["balanced_accuracy", "roc_auc"],
                token_inputs=[("epochs", "biocodec-eeg", None)], groups=groups,
                notes=["The groups follow DATA.md's codec training split (v2); the default "
                       f"codec was trained on the {SHIPPED_SPLIT_VERSION} split, which has "
                       f"subjects {sorted(seen)} (the 'codec saw it' column).",
                       "The two [transductive] rows re-centre every subject's epochs on their "
                       "own mean, the left-out subject's too (from its unlabelled epochs): they "
                       "use more than the others at test time, so they are compared with each "
                       "other and left out of the best-token / best-classic summary."])


def load_ssvep(key, draws):
    from moabb.paradigms import FilterBankSSVEP
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from mne_biocodec import BioCodecClassifier, BioCodecTokenizer
    from mne_biocodec.datasets import CODEC_SPLITS
    from mne_biocodec.moabb import make_pipelines

    n_classes = 4 if key == "ssvep4" else 3
    ds, par, epochs, y, meta = _moabb_epochs("Kalunga2016", "SSVEP", SSVEP_SUBJECTS, n_classes)
    events = list(par.used_events(ds))
    bands = [[float(f) - 0.5, float(f) + 0.5] for f in events if f.replace(".", "").isdigit()]
    fb = FilterBankSSVEP(filters=bands, n_classes=n_classes, events=events)
    X_fb, y_fb, _ = fb.get_data(ds, subjects=SSVEP_SUBJECTS)
    if not np.array_equal(np.asarray(y_fb), y):
        raise RuntimeError("SSVEP and FilterBankSSVEP returned different trials.")
    sfreq = float(epochs.info["sfreq"])
    names = ["BioCodec-FB+LR", "BioCodec-Ext+TS+LR", "BioCodec-Decoded-Ext+TS+LR",
             "SSVEP_TS+LR"] + (
        ["SSVEP_CCA"] if n_classes == 3 else [])
    made = make_pipelines("SSVEP", sfreq=sfreq, names=names)
    pipes = {DESIGN: (make_pipeline(BioCodecTokenizer(), LogisticRegression()), "epochs",
                      "token"),
             "BioCodec-FB+LR": (made["BioCodec-FB+LR"], "filterbank", "token"),
             "BioCodec-Ext+TS+LR": (made["BioCodec-Ext+TS+LR"], "filterbank", "token"),
             "BioCodec-Decoded-Ext+TS+LR": (made["BioCodec-Decoded-Ext+TS+LR"], "filterbank",
                                            "token"),
             CLASSIFIER: (BioCodecClassifier(), "epochs", "token"),
             **_token_model_classifier(),
             "SSVEP_TS+LR": (made["SSVEP_TS+LR"], "filterbank", "classic")}
    if n_classes == 3:
        pipes["SSVEP_CCA"] = (made["SSVEP_CCA"], "epochs", "classic")
    saw = set(CODEC_SPLITS["eeg"]["train"]["kalunga"])
    units = _within_units(meta["subject"].to_numpy(), y, lambda s: s in saw)
    token_inputs = [("epochs", "biocodec-eeg", None)] + [
        (("filterbank", b), "biocodec-eeg", sfreq) for b in range(X_fb.shape[-1])]
    return Task(key, f"Kalunga2016 SSVEP, {n_classes} classes, within session",
                f"MOABB SSVEP(n_classes={n_classes}) on Kalunga2016 subjects 1-4: 7-45 Hz, "
                f"0-2 s, 256 Hz, 8 channels, {len(y)} epochs; FilterBankSSVEP bands "
                f"{bands} for the filter-bank pipelines; 5-fold stratified CV per subject "
                "(shuffled, seed 42).", "accuracy",
                {"epochs": epochs, "filterbank": X_fb * 1.0}, y, units, pipes,
                metrics=["accuracy"], token_inputs=token_inputs,
                notes=[] if n_classes == 3 else [
                    "SSVEP_CCA cannot score the rest class; it is in the 3-class row."])


def welch_band_power(X, sfreq, bands):
    """Log mean Welch power of every channel in every band, ``(n_epochs, n_chans * n_bands)``."""
    from scipy.signal import welch

    freqs, psd = welch(X, fs=sfreq, nperseg=int(min(2 * sfreq, X.shape[-1], 512)))
    power = [psd[..., (freqs >= lo) & (freqs < hi)].mean(axis=-1) for lo, hi in bands]
    return np.log(np.stack(power, axis=-1)).reshape(len(X), -1)


def _single_channel_pipelines(sfreq, bands):
    """Design card, the gallery's token and band-power pipelines, BioCodecClassifier()."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from mne_biocodec import BioCodecClassifier, BioCodecTokenizer

    def gallery_lr():
        return LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000)

    power = FunctionTransformer(welch_band_power, kw_args={"sfreq": sfreq, "bands": bands})
    return {DESIGN: (make_pipeline(BioCodecTokenizer(), LogisticRegression()), "epochs",
                     "token"),
            "BioCodec embedding+LR (gallery)": (make_pipeline(
                BioCodecTokenizer(output="embedding"), StandardScaler(), gallery_lr()),
                "epochs", "token"),
            # the gallery's band-power pipeline on the signal the tokens decode to
            "BioCodec band power+LR": (make_pipeline(
                BioCodecTokenizer(output="bandpower"), StandardScaler(), gallery_lr()),
                "epochs", "token"),
            CLASSIFIER: (BioCodecClassifier(), "epochs", "token"),
            **_token_model_classifier(),
            "band power+LR (gallery)": (make_pipeline(power, StandardScaler(), gallery_lr()),
                                        "array", "classic")}


DREAMS_BANDS = ((0.5, 2), (2, 4), (4, 8), (8, 11), (11, 16), (16, 25))
BONN_BANDS = ((0.5, 4), (4, 8), (8, 13), (13, 30), (30, 45), (45, 80))


def load_dreams(key, draws):
    import mne

    from mne_biocodec.datasets import CODEC_SPLITS, load_dreams_hypnogram, load_dreams_raw

    sfreq, rng = 100.0, np.random.default_rng(0)
    windows, labels, excerpt_of = [], [], []
    for excerpt in (1, 3, 4, 7):
        raw = load_dreams_raw(excerpt)
        stages = load_dreams_hypnogram(excerpt, return_codes=True)
        marks = np.array([(a["onset"], a["onset"] + a["duration"]) for a in raw.annotations
                          if a["description"] == "spindle"])
        data = raw.copy().resample(sfreq, verbose=False).get_data()[0]
        grid = np.arange(1.0, 1799.0, 0.5)  # candidate centres of 2-s negatives
        in_n2 = stages[(grid // 5).astype(int)] == 2
        clear = np.all((grid[:, None] + 1.5 < marks[None, :, 0])
                       | (grid[:, None] - 1.5 > marks[None, :, 1]), axis=1)
        negatives = rng.choice(grid[in_n2 & clear], size=3 * len(marks), replace=False)
        centres = np.r_[marks.mean(axis=1), negatives]
        starts = np.round((centres - 1.0) * sfreq).astype(int)
        windows += [data[s:s + int(2 * sfreq)][None] for s in starts]
        labels += [1] * len(marks) + [0] * len(negatives)
        excerpt_of += [excerpt] * len(centres)
    epochs = mne.EpochsArray(np.stack(windows), mne.create_info(["EEG"], sfreq, "eeg"),
                             verbose=False)
    y, excerpt_of = np.array(labels), np.array(excerpt_of)
    saw = set(CODEC_SPLITS["eeg"]["train"]["dreams"])
    return Task(key, "DREAMS sleep spindles, leave one excerpt out",
                "DREAMS excerpts 1, 3, 4, 7 (one central channel), resampled to 100 Hz; 2-s "
                "windows centred on expert 1's spindles and three times as many random N2 "
                "windows at least 0.5 s from any mark (seed 0); "
                f"{int(y.sum())} spindles, {int((y == 0).sum())} negatives.",
                "roc_auc", {"epochs": epochs, "array": epochs.get_data() * 1e6}, y,
                _held_out_units(excerpt_of, lambda e: e in saw),
                _single_channel_pipelines(sfreq, DREAMS_BANDS),
                metrics=["roc_auc", "balanced_accuracy"],
                token_inputs=[("epochs", "biocodec-eeg", None)])


def load_bonn_task(key, draws):
    import mne

    from mne_biocodec.datasets import BONN_SFREQ, load_bonn

    negatives = ["Z"] if key == "bonn_s_vs_z" else ["N", "F"]
    data = {name: load_bonn(name, return_array=True)[0] for name in ["S"] + negatives}
    X = np.concatenate(list(data.values()))
    y = np.concatenate([np.full(len(v), int(name == "S")) for name, v in data.items()])
    held_out = np.tile(np.arange(1, 101) > 80, len(data))
    epochs = mne.EpochsArray(X, mne.create_info(["EEG"], BONN_SFREQ, "eeg"), verbose=False)
    units = [("files 081-100", [(None, np.flatnonzero(~held_out), np.flatnonzero(held_out))],
              False)]
    return Task(key, f"Bonn seizure detection, S vs {'+'.join(negatives)}",
                "Bonn epilepsy EEG, one channel, 173.61 Hz, 23.6-s segments; trained on files "
                "001-080 of every set (which the codec also saw, unlabelled), scored on files "
                "081-100 (held out from the codec).", "balanced_accuracy",
                {"epochs": epochs, "array": X * 1e6}, y, units,
                _single_channel_pipelines(BONN_SFREQ, BONN_BANDS),
                metrics=["balanced_accuracy", "roc_auc"],
                token_inputs=[("epochs", "biocodec-eeg", None)],
                notes=["One split, so no spread; one segment moves the balanced accuracy by "
                       "2.5 (S vs Z) or 1.25-2.5 (S vs N+F) points."])


def emg_amplitude_features(X):
    """Log RMS, log mean absolute value and log waveform length of every channel."""
    rms = np.sqrt(np.mean(X ** 2, axis=-1))
    return np.log(np.concatenate([rms, np.abs(X).mean(axis=-1),
                                  np.abs(np.diff(X, axis=-1)).sum(axis=-1)], axis=1))


def load_emg(key, draws):
    import mne
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from mne_biocodec import BioCodecTokenizer
    from mne_biocodec.datasets import load_uci_emg_raw

    windows, labels, subject_of, repetition, info = [], [], [], [], None
    for subject in (1, 3, 4):
        for series in (1, 2):
            raw = load_uci_emg_raw(subject, series=series).pick("emg")
            info = info or raw.info
            data, sfreq = raw.get_data(), raw.info["sfreq"]
            holds = {}
            for annot in raw.annotations:
                holds[annot["description"]] = holds.get(annot["description"], 0) + 1
                onsets = np.arange(annot["onset"], annot["onset"] + annot["duration"] - 1.0
                                   + 1e-9, 0.25)
                for onset in onsets:
                    start = int(round(onset * sfreq))
                    windows.append(data[:, start:start + int(sfreq)])
                    labels.append(annot["description"])
                    subject_of.append(subject)
                    repetition.append(2 * (series - 1) + holds[annot["description"]])
    epochs = mne.EpochsArray(np.stack(windows), mne.create_info(info["ch_names"],
                                                                info["sfreq"], "emg"),
                             verbose=False)
    y, subject_of, repetition = np.array(labels), np.array(subject_of), np.array(repetition)
    pipes = _imagery_pipelines(codec="biocodec-emg", classic=())
    del pipes["BioCodec+TS+LR"]

    def lda():
        return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")

    pipes["BioCodec spatial+LDA (gallery)"] = (make_pipeline(
        BioCodecTokenizer(codec="biocodec-emg", output="spatial"), StandardScaler(), lda()),
        "epochs", "token")
    pipes["RMS/MAV/WL+LDA (gallery)"] = (make_pipeline(
        FunctionTransformer(emg_amplitude_features), StandardScaler(), lda()),
        "array", "classic")
    inputs = {"epochs": epochs, "array": epochs.get_data()}
    common = ("UCI EMG gestures (MYO armband, 8 channels, 200 Hz grid): 1-s windows every "
              "0.25 s inside every hold of the six gestures; the EMG codec (biocodec-emg) "
              "was trained, unlabelled, on subjects 01 and 03.")
    if key == "emg_within04":
        idx = np.flatnonzero(subject_of == 4)
        splits = [(None, idx[repetition[idx] != r], idx[repetition[idx] == r])
                  for r in sorted(set(repetition[idx].tolist()))]
        return Task(key, "UCI EMG gestures, subject 04, leave one repetition out",
                    common + f" Subject 04 ({len(idx)} windows), 4 folds, each testing one "
                    "repetition of every gesture; the spread is over folds.",
                    "balanced_accuracy", inputs, y, [("04", splits, False)], pipes,
                    token_inputs=[("epochs", "biocodec-emg", None)])
    train, test = np.flatnonzero(subject_of != 4), np.flatnonzero(subject_of == 4)
    return Task(key, "UCI EMG gestures, trained on 01 + 03, tested on 04",
                common + f" {len(train)} training windows (01, 03), {len(test)} test windows "
                "(04).", "balanced_accuracy", inputs, y, [("01+03 -> 04", [(None, train, test)],
                                                           False)],
                pipes, token_inputs=[("epochs", "biocodec-emg", None)])


LOADERS = {"mi_lr": load_mi, "mi_card": load_mi_card, "mi_lr_lowres": load_mi,
           "mi_4class": load_mi4, "eegmat": load_eegmat, "ssvep4": load_ssvep,
           "ssvep3": load_ssvep,
           "dreams_spindles": load_dreams, "bonn_s_vs_z": load_bonn_task,
           "bonn_s_vs_nf": load_bonn_task, "emg_within04": load_emg, "emg_cross": load_emg}


# ----------------------------------------------------------------------------- running

def _take(X, index):
    return X[np.asarray(index)]


def _input(task, kind):
    if isinstance(kind, tuple):  # one band of the filter bank
        return task.inputs[kind[0]][..., kind[1]]
    return task.inputs[kind]


def tokenise_once(task, log):
    """Tokenise every epoch of the row once through the cache; seconds spent."""
    from mne_biocodec import BioCodecTokenizer

    t0 = time.perf_counter()
    for kind, codec, sfreq in task.token_inputs:
        X = _input(task, kind)
        BioCodecTokenizer(codec=codec, sfreq=sfreq).fit(X).encode(X)
    seconds = time.perf_counter() - t0
    log(f"  {task.key}: tokenised every epoch once in {seconds:.1f} s")
    return seconds


def fit_and_score(pipe, X, y, train, test, metrics):
    """Fit a clone on ``train``; scores on ``test`` and seconds of fit + primary scoring."""
    import torch
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    from mne_biocodec.moabb import count_trainable_parameters

    torch.manual_seed(0)
    est = clone(pipe)
    X_train, X_test = _take(X, train), _take(X, test)
    t0 = time.perf_counter()
    est.fit(X_train, y[train])
    scores = {metrics[0]: float(get_scorer(metrics[0])(est, X_test, y[test]))}
    seconds = time.perf_counter() - t0
    for metric in metrics[1:]:
        scores[metric] = float(get_scorer(metric)(est, X_test, y[test]))
    return scores, seconds, count_trainable_parameters(est)


def run_task(task, entry, save, log, rerun=()):
    """Score every pipeline on every unit of ``task`` not yet in ``entry`` (a unit kept from
    a previous run gets the pipelines it lacks, and those named in ``rerun`` again); save
    per unit."""
    units = entry.setdefault("units", {})
    absent = sorted(set(rerun) - set(task.pipelines))
    if absent:  # a misspelt name would otherwise keep the old figures without a word
        log(f"  {task.key}: --rerun names no pipeline of this row: {absent}; its pipelines: "
            f"{sorted(task.pipelines)}")
    for label, splits, saw in task.units:
        kept = units.get(label, {}).get("pipelines", {})
        kept = {n: r for n, r in kept.items()
                if n in task.pipelines and "error" not in r and n not in rerun}
        if set(kept) >= set(task.pipelines):
            log(f"  {task.key} {label}: kept from the previous run")
            continue
        t_unit = time.time()
        result = {"codec_saw": saw, "n_train": [int(len(s[1])) for s in splits],
                  "n_test": [int(len(s[2])) for s in splits], "pipelines": dict(kept)}
        for name, (pipe, kind, family) in task.pipelines.items():
            if name in kept:
                continue
            X = _input(task, kind)
            folds, n_params = [], None
            try:
                for size, train, test in splits:
                    scores, seconds, n_params = fit_and_score(pipe, X, task.y, train, test,
                                                              task.metrics)
                    folds.append({"size": size, "seconds": round(seconds, 3), **scores})
            except Exception as err:  # a failing pipeline is reported, not hidden
                result["pipelines"][name] = {"error": f"{type(err).__name__}: {err}",
                                             "traceback": traceback.format_exc(limit=4)}
                log(f"  {task.key} {label} {name}: FAILED {type(err).__name__}: {err}")
                continue
            result["pipelines"][name] = {"folds": folds, "n_params": n_params}
            mean = np.mean([f[task.metric] for f in folds])
            log(f"  {task.key} {label} {name}: {task.metric} {mean:.3f} "
                f"({sum(f['seconds'] for f in folds):.1f} s)")
        units[label] = result
        save()
        log(f"  {task.key} {label} done in {time.time() - t_unit:.0f} s")


def _task_config(task):
    from mne_biocodec import BioCodecTokenizer

    kind, codec, sfreq = task.token_inputs[0]
    X = _input(task, kind)
    default = BioCodecTokenizer(codec=codec, sfreq=sfreq).fit(_take(X, [0]))
    return {"title": task.title, "protocol": task.protocol, "metric": task.metric,
            "metrics": task.metrics, "n_epochs": int(len(task.y)),
            "classes": sorted(map(str, set(task.y.tolist()))),
            "pipelines": {name: {"family": family, "input": str(kind), "repr": repr(pipe)}
                          for name, (pipe, kind, family) in task.pipelines.items()},
            "tokenizer_default_output": default.output_, "notes": task.notes,
            "groups": {k: [str(s) for s in v] for k, v in task.groups.items()}}


# ----------------------------------------------------------------------------- cost

def cost_worker(what):
    """One measurement of ``cost`` in this (fresh) process; prints one JSON line."""
    import mne
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    from mne_biocodec import BioCodecClassifier, BioCodecTokenizer
    from mne_biocodec.datasets import load_eegmmidb_epochs
    from mne_biocodec.moabb import make_pipelines

    mne.set_log_level("error")
    epochs = load_eegmmidb_epochs(1, task="left_right", tmin=0.0, tmax=4.0)
    inv = {v: k for k, v in epochs.event_id.items()}
    y = np.array([inv[c] for c in epochs.events[:, 2]])
    out = {"what": what, "shape": list(epochs.get_data().shape)}
    t0 = time.perf_counter()
    if what == "pass":
        BioCodecTokenizer().fit(epochs).encode(epochs)
        out["seconds"] = time.perf_counter() - t0
    elif what == "design_cv":
        scores = cross_val_score(make_pipeline(BioCodecTokenizer(), LogisticRegression()),
                                 epochs, y, cv=5)
        out.update(seconds=time.perf_counter() - t0, scores=scores.tolist())
    elif what == "classic_cv":
        X = epochs.get_data() * 1e6
        for name, pipe in make_pipelines("imagery", names=["CSP+LDA", "TS+LR"]).items():
            t0 = time.perf_counter()
            scores = cross_val_score(pipe, X, y, cv=5)
            out[name] = {"seconds": time.perf_counter() - t0, "scores": scores.tolist()}
    elif what == "classifier_fold":
        train, test = next(StratifiedKFold(5).split(y, y))  # cross_val_score's first fold
        import torch

        torch.manual_seed(0)
        clf = BioCodecClassifier().fit(epochs[train], y[train])
        out["seconds"] = time.perf_counter() - t0
        out["score"] = float(clf.score(epochs[test], y[test]))
        out["n_train"] = int(len(train))
    print("COST-RESULT " + json.dumps(out), flush=True)


def run_cost(log):
    """The cost measurements, each in a fresh process without a cache folder."""
    env = {k: v for k, v in os.environ.items() if k != "MNE_BIOCODEC_CACHE"}
    result = {"load_average_before": list(os.getloadavg())}
    for what in ("pass", "design_cv", "classic_cv", "classifier_fold"):
        t0 = time.time()
        proc = subprocess.run([sys.executable, __file__, "--cost-worker", what], env=env,
                              capture_output=True, text=True, cwd=ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("COST-RESULT ")]
        if proc.returncode or not lines:
            result[what] = {"error": (proc.stderr or proc.stdout)[-2000:]}
            log(f"  cost {what}: FAILED (exit {proc.returncode})")
            continue
        result[what] = json.loads(lines[-1][len("COST-RESULT "):])
        result[what]["process_seconds"] = round(time.time() - t0, 1)
        log(f"  cost {what}: {json.dumps(result[what])[:300]}")
    result["load_average_after"] = list(os.getloadavg())
    try:
        denominator = result["pass"]["seconds"] + result["classic_cv"]["TS+LR"]["seconds"]
        result["ratio"] = result["design_cv"]["seconds"] / denominator
    except KeyError:
        result["ratio"] = None
    return result


# ----------------------------------------------------------------------------- record

def _git_state():
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _meta(args):
    import moabb
    import pyriemann
    import sklearn
    import torch

    from mne_biocodec import __version__
    from mne_biocodec.codec import load_codec

    codecs = {name: load_codec(name).weights_sha256() for name in ("biocodec-eeg", "biocodec-emg")}
    return {"git": _git_state(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": "python benchmarks/decoding.py " + " ".join(sys.argv[1:]),
            "threads": args.threads, "cache_dir": args.cache_dir,
            "codec_weights_sha256": codecs, "cpu_count": os.cpu_count(),
            "versions": {"mne_biocodec": __version__, "torch": torch.__version__,
                         "sklearn": sklearn.__version__, "moabb": moabb.__version__,
                         "pyriemann": pyriemann.__version__}}


def load_record(path):
    """The JSON record at ``path``, validated enough to be extended (or a new one)."""
    path = Path(path)
    if not path.exists():
        return {"meta": {}, "tasks": {}}
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"--out {path} is not a readable JSON record ({err}); move it away "
                         "or choose another --out.") from None
    if not isinstance(record, dict) or not isinstance(record.get("tasks"), dict):
        raise ValueError(f"--out {path} holds no 'tasks' mapping; it is not a record of this "
                         "script. Move it away or choose another --out.")
    record.setdefault("meta", {})
    return record


def write_json(path, record):
    from mne_biocodec.codec import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1))


# ----------------------------------------------------------------------------- report

def _unit_means(entry, pipeline, metric, size=None):
    """{unit: mean over the unit's folds} for one pipeline (and low-resource size)."""
    means = {}
    for label, unit in entry.get("units", {}).items():
        res = unit["pipelines"].get(pipeline, {})
        values = [f[metric] for f in res.get("folds", []) if f.get("size") == size
                  and f.get(metric) is not None]
        if values:
            means[label] = float(np.mean(values))
    return means


def summarise(entry, pipeline, metric, size=None, units=None):
    """Mean, spread and standard error (over units, or over folds when there is one unit),
    and seconds."""
    means = _unit_means(entry, pipeline, metric, size)
    if units is not None:
        means = {u: v for u, v in means.items() if u in units}
    if not means:
        return None
    if len(means) > 1:
        values = list(means.values())
    else:
        unit = entry["units"][next(iter(means))]["pipelines"][pipeline]
        values = [f[metric] for f in unit["folds"] if f.get("size") == size]
    spread = float(np.std(values)) if len(values) > 1 else None
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    seconds = sum(f["seconds"] for u in entry["units"].values()
                  for f in u["pipelines"].get(pipeline, {}).get("folds", [])
                  if f.get("size") == size)
    params = [u["pipelines"][pipeline].get("n_params") for u in entry["units"].values()
              if "n_params" in u["pipelines"].get(pipeline, {})]
    return {"mean": float(np.mean(list(means.values()))), "std": spread, "se": se,
            "n": len(means),
            "seconds": seconds, "n_params": int(np.median(params)) if params else None}


def decoded_pipelines(entry):
    """Names of the row's token pipelines that read the decoded signal."""
    from mne_biocodec.moabb import DECODED_PIPELINES

    names = (DECODED | set(DECODED_PIPELINES)) & set(entry["config"]["pipelines"])
    if entry["config"].get("tokenizer_default_output") == "bandpower":
        names.add(DESIGN)
    return names


def best_of(entry, family, metric, size=None, exclude=()):
    """(name, summary) of the family's pipeline with the best mean, ``exclude`` aside."""
    found = [(name, summarise(entry, name, metric, size))
             for name, p in entry["config"]["pipelines"].items()
             if p["family"] == family and name not in exclude]
    found = [(n, s) for n, s in found if s is not None]
    return max(found, key=lambda ns: ns[1]["mean"]) if found else (None, None)


def _fmt(summary, scale=100.0):
    if summary is None:
        return "-"
    text = f"{summary['mean'] * scale:.1f}"
    return text + (f" ± {summary['std'] * scale:.1f}" if summary["std"] is not None else "")


def _rst_table(header, rows, title=None, widths=None):
    lines = [f".. list-table::{' ' + title if title else ''}", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header] + rows:
        # a lone "-" would open a bullet list inside the cell
        cells = ["n/a" if str(cell).strip() in ("", "-") else cell for cell in row]
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {cell}" for cell in cells[1:]]
    return "\n".join(lines) + "\n"


def _md_table(header, rows):
    return "\n".join(["| " + " | ".join(map(str, header)) + " |",
                      "|" + "---|" * len(header)]
                     + ["| " + " | ".join(map(str, r)) + " |" for r in rows]) + "\n"


def task_tables(key, entry, fmt_table):
    """Per-unit table(s) of a row: scores (x100), mean ± std, parameters, wall time."""
    config = entry["config"]
    metric = config["metric"]
    names = list(config["pipelines"])
    sizes = ([None] if key != "mi_lr_lowres" else list(LOWRES_SIZES))
    tables = []
    for size in sizes:
        header = ["subject / split", "codec saw it"] + names
        rows = []
        for label, unit in entry.get("units", {}).items():
            cells = []
            for name in names:
                res = unit["pipelines"].get(name, {})
                if "error" in res:
                    cells.append("failed")
                    continue
                vals = [f[metric] for f in res.get("folds", []) if f.get("size") == size]
                cells.append(f"{100 * np.mean(vals):.1f}" if vals else "-")
            rows.append([label, {True: "yes", False: "no"}.get(unit["codec_saw"], "-")] + cells)
        summaries = {n: summarise(entry, n, metric, size) for n in names}
        rows.append(["**mean ± std**", ""] + [_fmt(summaries[n]) for n in names])
        for group, members in config.get("groups", {}).items():
            rows.append([f"mean, {group}", ""] + [
                _fmt(summarise(entry, n, metric, size, units=set(members))) for n in names])
        rows.append(["trainable parameters", ""] + [
            f"{summaries[n]['n_params']:,}" if summaries[n] and summaries[n]["n_params"]
            is not None else "-" for n in names])
        rows.append(["wall time, s (fit + predict, all folds)", ""] + [
            f"{summaries[n]['seconds']:.1f}" if summaries[n] else "-" for n in names])
        title = f"{METRIC_LABELS[metric]} (%)" + (f", {size} training trials per class"
                                                  if size else "")
        tables.append((title, fmt_table(header, rows, title) if fmt_table is _rst_table
                       else f"**{title}**\n\n" + fmt_table(header, rows)))
    return tables


def summary_rows(record):
    """One row per task: best BioCodec, best classic, ratio, design card, classifier."""
    rows = []
    for key in TASKS:
        entry = record["tasks"].get(key)
        if (key in NOT_SUMMARY_ROWS or not entry or "config" not in entry
                or not entry.get("units")):
            continue
        metric = entry["config"]["metric"]
        for size in ([None] if key != "mi_lr_lowres" else list(LOWRES_SIZES)):
            token, t_sum = best_of(entry, "token", metric, size)
            classic, c_sum = best_of(entry, "classic", metric, size)
            if token is None or classic is None:
                continue
            codes_only, o_sum = best_of(entry, "token", metric, size,
                                        exclude=decoded_pipelines(entry))
            label = entry["config"]["title"] + (f" ({size}/class)" if size else "")
            rows.append({"key": key, "size": size, "label": label, "metric": metric,
                         "token": token, "token_mean": t_sum["mean"], "classic": classic,
                         "classic_mean": c_sum["mean"], "ratio": t_sum["mean"] / c_sum["mean"],
                         "codes_only": codes_only,
                         "codes_only_ratio": o_sum["mean"] / c_sum["mean"] if o_sum else None,
                         "design": (summarise(entry, DESIGN, metric, size) or {}).get("mean"),
                         "classifier": (summarise(entry, CLASSIFIER, metric, size)
                                        or {}).get("mean")})
    return rows


def _per_unit_lead(entry, size):
    """The row's best token pipeline and best classic one (by mean over units), and per unit
    the first's score minus the second's. The pair is chosen once for the row: the best
    pipeline of each family picked unit by unit would favour the family with more pipelines
    (a maximum of more noisy scores)."""
    metric = entry["config"]["metric"]
    token, _ = best_of(entry, "token", metric, size)
    classic, _ = best_of(entry, "classic", metric, size)
    if token is None or classic is None:
        return token, classic, {}
    ours, theirs = (_unit_means(entry, name, metric, size) for name in (token, classic))
    return token, classic, {u: ours[u] - theirs[u] for u in ours if u in theirs}


def _status(met, met_codes=None):
    """A target's status; ``met_codes``: the same target reading the codes alone (without the
    pipelines that read the decoded signal), given where the two readings can differ."""
    word = {True: "met", False: "**missed**", None: "-"}
    if met_codes is None:
        return word[met]
    return f"{word[met]} counting the decoder; {word[met_codes]} on the codes alone"


def targets(record):
    """Issue 19's targets: list of (target, measured, met[, met reading the codes alone])."""
    out = []
    tasks = record["tasks"]
    mi = tasks.get("mi_lr", {})
    out.extend(_design_card_targets(mi, "roc_auc", "mi_lr row, ROC AUC"))
    out.extend(_design_card_targets(mi, "accuracy", "mi_lr row, accuracy", within=False))
    out.extend(_design_card_targets(tasks.get("mi_card", {}), "accuracy",
                                    "the issue's protocol, 8-32 Hz, 0.5-2.5 s, 5-fold x 4, "
                                    "accuracy; mi_card row"))
    cost = record.get("cost", {})
    try:
        acc = np.mean(cost["design_cv"]["scores"])
        ts_acc = np.mean(cost["classic_cv"]["TS+LR"]["scores"])
        out.append(("Design card >= 0.95 x TS+LR, subject 1, 0-4 s unfiltered, "
                    "cross_val_score(cv=5) accuracy (cost run)",
                    f"{acc:.3f} vs TS+LR {ts_acc:.3f}: {acc / ts_acc:.3f} x",
                    acc >= 0.95 * ts_acc))
    except (KeyError, TypeError):
        pass
    if mi.get("units"):
        clf = summarise(mi, CLASSIFIER, "roc_auc")
        csp = summarise(mi, "CSP+LDA", "roc_auc")
        tslr = summarise(mi, "TS+LR", "roc_auc")
        if clf and csp and tslr:
            out.append(("BioCodecClassifier() within-session MI AUC >= CSP+LDA",
                        f"{_fmt(clf)} vs {_fmt(csp)}", clf["mean"] >= csp["mean"]))
            out.append(("(goal) BioCodecClassifier() within-session MI AUC >= TS+LR",
                        f"{_fmt(clf)} vs {_fmt(tslr)}", clf["mean"] >= tslr["mean"]))
    eeg = tasks.get("eegmat", {})
    if eeg.get("units"):
        clf = summarise(eeg, CLASSIFIER, "balanced_accuracy")
        tslr = summarise(eeg, "TS+LR", "balanced_accuracy")
        if clf and tslr:
            out.append(("BioCodecClassifier() cross-subject eegmat >= TS+LR",
                        f"{_fmt(clf)} vs {_fmt(tslr)}", clf["mean"] >= tslr["mean"]))
    rows = [r for r in summary_rows(record) if r["key"] != "mi_lr_lowres"]
    if rows:
        wins = sum(r["ratio"] >= 1.0 for r in rows)
        worst = min(rows, key=lambda r: r["ratio"])
        coded = [r for r in rows if r["codes_only_ratio"] is not None]
        wins_coded = sum(r["codes_only_ratio"] >= 1.0 for r in coded)
        worst_coded = min(coded, key=lambda r: r["codes_only_ratio"])
        out.append(("Best BioCodec >= best classic on at least half of the rows",
                    f"{wins} of {len(rows)} rows; without the decoder {wins_coded} of "
                    f"{len(coded)}", wins >= len(rows) / 2, wins_coded >= len(coded) / 2))
        out.append(("Best BioCodec never below 0.95 x best classic",
                    f"lowest {worst['ratio']:.3f} x ({worst['label']}); without the decoder "
                    f"{worst_coded['codes_only_ratio']:.3f} x ({worst_coded['label']})",
                    worst["ratio"] >= 0.95, worst_coded["codes_only_ratio"] >= 0.95))
    low = tasks.get("mi_lr_lowres", {})
    if low.get("units"):
        for size in (5, 10):
            token, classic, leads = _per_unit_lead(low, size)
            out.append((f"Low-resource lead on every subject at {size} trials per class",
                        f"{token} - {classic}: "
                        + ", ".join(f"S{u} {100 * v:+.1f}" for u, v in leads.items()),
                        bool(leads) and all(v > 0 for v in leads.values())))
    if cost.get("ratio") is not None:
        out.append(("5-fold CV of the design card <= 1.3 x (one tokenisation pass + TS+LR CV)",
                    f"{cost['design_cv']['seconds']:.1f} s vs {cost['pass']['seconds']:.1f} + "
                    f"{cost['classic_cv']['TS+LR']['seconds']:.1f} s: {cost['ratio']:.2f} x",
                    cost["ratio"] <= 1.3))
    if "seconds" in cost.get("classifier_fold", {}):
        sec = cost["classifier_fold"]["seconds"]
        out.append(("BioCodecClassifier() fits one fold of subject 1 in < 60 s",
                    f"{sec:.1f} s (one thread, fresh process, no cache folder)", sec < 60))
    return out


def _design_card_targets(entry, metric, row, within=True):
    """The design card on subject 1 of a row, in ``metric``: against TS+LR and, when
    ``within``, against the best token pipeline (reading the decoder or the codes alone)."""
    if not entry.get("units", {}).get("1"):
        return []
    pipelines = entry["config"]["pipelines"]
    s1 = {n: _unit_means(entry, n, metric).get("1") for n in pipelines}
    s1 = {n: v for n, v in s1.items() if v is not None}
    if DESIGN not in s1 or "TS+LR" not in s1:
        return []
    design, tslr = s1[DESIGN], s1["TS+LR"]
    out = [(f"Design card >= 0.95 x TS+LR, eegmmidb subject 1 left/right ({row})",
            f"{100 * design:.1f} vs TS+LR {100 * tslr:.1f}: {design / tslr:.3f} x",
            design >= 0.95 * tslr)]
    if not within:
        return out
    token = {n: v for n, v in s1.items() if pipelines[n]["family"] == "token"}
    codes = {n: v for n, v in token.items() if n not in decoded_pipelines(entry)}
    best, best_codes = max(token, key=token.get), max(codes, key=codes.get)
    measured = (f"{100 * design:.1f} vs {best} {100 * token[best]:.1f} (gap "
                f"{100 * (token[best] - design):.1f} points); reading the codes alone "
                f"{best_codes} {100 * codes[best_codes]:.1f}")
    if len(entry["units"]) > 1:
        means = {n: summarise(entry, n, metric) for n in token}
        means = {n: v["mean"] for n, v in means.items() if v is not None}
        measured += (f"; over subjects {', '.join(entry['units'])}: "
                     f"{100 * means.get(DESIGN, np.nan):.1f} vs {100 * max(means.values()):.1f}")
    out.append((f"Design card within 0.02 of the best token pipeline, subject 1 ({row})",
                measured, design >= token[best] - 0.02, design >= codes[best_codes] - 0.02))
    return out


def findings(record):
    """Plain sentences read off the numbers (no claim beyond them)."""
    rows = [r for r in summary_rows(record) if r["key"] != "mi_lr_lowres"]
    lines = []
    if rows:
        ahead = [r for r in rows if r["ratio"] >= 1.0]
        far = [r for r in rows if r["ratio"] < 0.95]
        lines.append(
            f"The best BioCodec pipeline is at or above the best classic one on {len(ahead)} of "
            f"{len(rows)} rows" + (": " + "; ".join(f"{r['label']} ({r['ratio']:.3f} x)"
                                                    for r in ahead) if ahead else "")
            + f". It is below 0.95 x the best classic one on {len(far)} rows"
            + (": " + "; ".join(f"{r['label']} ({r['ratio']:.3f} x)" for r in far)
               if far else "") + ".")
        coded = [r for r in rows if r["codes_only_ratio"] is not None]
        if any(r["codes_only"] != r["token"] for r in coded):
            lines.append(
                "Without the pipelines that read the decoded signal: at or above the best "
                f"classic one on {sum(r['codes_only_ratio'] >= 1.0 for r in coded)} of "
                f"{len(coded)} rows, below 0.95 x on "
                f"{sum(r['codes_only_ratio'] < 0.95 for r in coded)} (lowest "
                f"{min(r['codes_only_ratio'] for r in coded):.3f} x, "
                f"{min(coded, key=lambda r: r['codes_only_ratio'])['label']}).")
        design = [r for r in rows if r["design"] is not None]
        if design:
            lead = [r for r in design if r["design"] >= r["classic_mean"]]
            lines.append(
                f"The design card's pipeline (sklearn defaults) reaches the best classic "
                f"pipeline on {len(lead)} of {len(design)} rows; its ratio to the best classic "
                f"one ranges from {min(r['design'] / r['classic_mean'] for r in design):.3f} to "
                f"{max(r['design'] / r['classic_mean'] for r in design):.3f}.")
        clf = [r for r in rows if r["classifier"] is not None]
        if clf:
            best = [r for r in clf if r["classifier"] >= r["token_mean"]]
            lines.append(
                f"BioCodecClassifier() is the best token pipeline on {len(best)} of {len(clf)} "
                "rows" + (": " + "; ".join(r["label"] for r in best) if best else "") + ".")
    low = record["tasks"].get("mi_lr_lowres", {})
    if low.get("units") and "config" in low:
        for size in LOWRES_SIZES:
            token, classic, leads = _per_unit_lead(low, size)
            if leads:
                lines.append(
                    f"Low resource, {size} trials per class: the best token pipeline ({token}) "
                    f"leads the best classic one ({classic}) on "
                    f"{sum(v > 0 for v in leads.values())} of {len(leads)} subjects (mean lead "
                    f"{100 * np.mean(list(leads.values())):+.1f} points).")
    return lines


def cost_rows(cost):
    rows = []
    if "seconds" in cost.get("pass", {}):
        rows.append(["one tokenisation pass: BioCodecTokenizer().fit(epochs).encode(epochs)",
                     f"{cost['pass']['seconds']:.1f}", "-"])
    if "seconds" in cost.get("design_cv", {}):
        rows.append(["cross_val_score(make_pipeline(BioCodecTokenizer(), "
                     "LogisticRegression()), epochs, y, cv=5)",
                     f"{cost['design_cv']['seconds']:.1f}",
                     f"{np.mean(cost['design_cv']['scores']):.3f}"])
    for name in ("CSP+LDA", "TS+LR"):
        if name in cost.get("classic_cv", {}):
            rows.append([f"cross_val_score({name}, cv=5)",
                         f"{cost['classic_cv'][name]['seconds']:.1f}",
                         f"{np.mean(cost['classic_cv'][name]['scores']):.3f}"])
    if "seconds" in cost.get("classifier_fold", {}):
        rows.append([f"BioCodecClassifier().fit on fold 1 ({cost['classifier_fold']['n_train']}"
                     " epochs, tokenising included)",
                     f"{cost['classifier_fold']['seconds']:.1f}",
                     f"{cost['classifier_fold']['score']:.3f} (fold 1)"])
    for what in ("pass", "design_cv", "classic_cv", "classifier_fold"):
        if "error" in cost.get(what, {}):
            rows.append([f"{what}: failed", "-", cost[what]["error"].splitlines()[-1][:200]])
    return rows


def compare_records(base, record):
    """Token pipelines of ``record`` against the same pipelines of ``base`` (e.g. two codecs'
    runs of this script, same epochs and folds): per row, pipeline and low-resource size, the
    two scores, their difference and the base's standard error; ``worse`` marks a drop by
    more than that standard error (issue 16: "no task may get worse by more than its
    fold-to-fold standard error"). Each row and size ends with its best token pipeline on
    either side (the row's reading of that rule; the pipelines' rows are the strict one).
    Rows or pipelines missing from either side are skipped, and so is
    ``TOKEN_MODEL_CLASSIFIER``, which reads its token model's codec whatever the default.

    Returns
    -------
    rows : list of dict
        One per compared pipeline, row and size.
    skipped : list of (str, str)
        Rows present on both sides but scored on different splits (e.g. another ``--draws``),
        with the reason: their means are not comparable."""
    rows, skipped = [], []
    for key, entry in record["tasks"].items():
        ref = base["tasks"].get(key, {})
        if not entry.get("units") or not ref.get("units"):
            continue
        mismatch = _split_mismatch(ref, entry)
        if mismatch:
            skipped.append((key, mismatch))
            continue
        metric = entry["config"]["metric"]
        token = [n for n, p in entry["config"]["pipelines"].items()
                 if p["family"] == "token" and n != TOKEN_MODEL_CLASSIFIER]
        sizes = sorted({f.get("size") for u in entry["units"].values() for n in token
                        for f in u["pipelines"].get(n, {}).get("folds", [])},
                       key=lambda s: -1 if s is None else s)
        for size in sizes:
            scored = []
            for name in token:
                units = set(_unit_means(ref, name, metric, size)) & set(
                    _unit_means(entry, name, metric, size))
                new = summarise(entry, name, metric, size, units=units)
                old = summarise(ref, name, metric, size, units=units)
                if new is None or old is None:
                    continue
                scored.append({"key": key, "pipeline": name, "size": size, "metric": metric,
                               "base": old["mean"], "candidate": new["mean"],
                               "se": old["se"]})
            if not scored:
                continue
            best_base = max(scored, key=lambda r: r["base"])
            best_new = max(scored, key=lambda r: r["candidate"])
            scored.append({**best_base, "candidate": best_new["candidate"], "row_best": True,
                           "pipeline": f"best token pipeline ({best_base['pipeline']} -> "
                                       f"{best_new['pipeline']})"})
            for row in scored:
                row["diff"] = row["candidate"] - row["base"]
                row["worse"] = row["se"] is not None and row["diff"] < -row["se"]
            rows.extend(scored)
    return rows, skipped


def _split_mismatch(base_entry, entry):
    """Why two runs of a row did not score the same splits (training and test sizes of every
    split of every unit both scored), or None when they did."""
    for label in sorted(set(base_entry["units"]) & set(entry["units"])):
        sizes = [tuple(zip(u.get("n_train", []), u.get("n_test", [])))
                 for u in (base_entry["units"][label], entry["units"][label])]
        if sizes[0] != sizes[1]:
            return (f"unit {label} has {len(sizes[0])} splits in the base run and "
                    f"{len(sizes[1])} in the candidate, or splits of other sizes; rerun one "
                    "with the other's settings (e.g. --draws)")
    return None


def compare_verdict(rows, skipped=()):
    """The strict reading of issue 16's rule over :func:`compare_records`' output: no token
    pipeline (each row's best aside) worse by more than its standard error."""
    worse = [r for r in rows if r["worse"] and not r.get("row_best")]
    rows_worse = [r for r in rows if r["worse"] and r.get("row_best")]
    return ((f"would not ship: {len(worse)} token pipeline(s) worse by more than the base's "
             "standard error" if worse else "no token pipeline worse by more than the base's "
             "standard error") + f"; row by row (each row's best token pipeline): "
            f"{len(rows_worse)} worse" + (f"; {len(skipped)} row(s) not compared" if skipped
                                          else ""))


def compare_table(rows, skipped=(), fmt_table=_md_table):
    """:func:`compare_records`' rows as a table (percent), the rows it skipped, the verdict."""
    notes = "".join(f"\nnot compared: {key}: {why}" for key, why in skipped)
    notes += f"\nverdict: {compare_verdict(rows, skipped)}\n"
    return fmt_table(
        ["row", "pipeline", "base", "candidate", "difference (base SE)", "worse than SE"],
        [[r["key"] + (f", {r['size']} per class" if r["size"] is not None else ""),
          r["pipeline"], f"{100 * r['base']:.1f}", f"{100 * r['candidate']:.1f}",
          f"{100 * r['diff']:+.1f} ({'-' if r['se'] is None else round(100 * r['se'], 1)})",
          "**yes**" if r["worse"] else "no"] for r in rows]) + notes


def render_page(record, fmt_table=_rst_table):
    """The results page (reStructuredText, or markdown with ``_md_table``)."""
    rst = fmt_table is _rst_table
    meta, tasks = record.get("meta", {}), record["tasks"]

    def heading(text, char):
        return f"{text}\n{char * len(text)}\n" if rst else f"{'#' * ('=-~'.index(char) + 1)} {text}\n"

    parts = [heading("Decoding benchmark: tokens next to the classic pipelines", "="), (
        "Every pipeline of a row is scored on the same epochs and the same folds, per subject "
        "(or per held-out split), with the number of parameters it learnt from the data and "
        "its wall time (fit and predict of every fold, one CPU thread). Scores are percent. "
        "Regenerate with ``python benchmarks/decoding.py --out benchmarks/results/decoding.json"
        "`` (the page alone: ``--report-only``); the figures below are in "
        "``benchmarks/results/decoding.json``.\n")]
    parts.append(
        f"Run: git ``{meta.get('git')}``, {meta.get('date')}, {meta.get('threads')} thread(s), "
        f"codec weights ``{str(meta.get('codec_weights_sha256', {}).get('biocodec-eeg'))[:12]}``"
        f" (EEG) and ``{str(meta.get('codec_weights_sha256', {}).get('biocodec-emg'))[:12]}``"
        " (EMG). Pipelines: the design card's "
        "``make_pipeline(BioCodecTokenizer(), LogisticRegression())`` at scikit-learn defaults "
        "on ``mne.Epochs`` (``BioCodecTokenizer()+LR``); the best existing token pipeline of "
        "the family; ``BioCodecClassifier()`` at its defaults on the same Epochs; the classic "
        "references. Token wall times exclude the first tokenisation of every epoch (done once "
        "per row through the token cache, ``tokenise_s`` in the JSON and quoted under each "
        "table; epochs an earlier row already tokenised are read back from the cache); the "
        "cost of tokenising inside cross-validation from nothing is measured separately "
        "below. The machine's 2 cores were shared with other jobs during the run (load "
        "averages are quoted), so wall times are comparable within a row, not precise.\n")
    rows = summary_rows(record)
    if rows:
        parts.append(heading("Summary: best BioCodec pipeline against best classic pipeline",
                             "-"))
        parts.append(
            "Token pipelines read the tokens only, some through the codec's decoder: "
            "``output=\"bandpower\"`` (``BioCodec band power+LR``, and the design card on "
            "one-channel rows, where it is the default) takes band powers of the signal the "
            "tokens decode to, and the ``BioCodec-Decoded`` pipelines run MOABB's TS+LR (or "
            "SSVEP_TS+LR) on that signal (``output=\"decoded\"``): they measure what storing "
            "the epochs as tokens costs the classic pipeline. The column *without the "
            "decoder* gives the best token pipeline that reads the codes alone, and its "
            "ratio.\n")
        header = ["row", "metric", "best BioCodec", "best classic", "ratio",
                  "without the decoder (ratio)", "design card", "BioCodecClassifier()"]
        parts.append(fmt_table(header, [[
            r["label"], METRIC_LABELS[r["metric"]], f"{r['token']}: {100 * r['token_mean']:.1f}",
            f"{r['classic']}: {100 * r['classic_mean']:.1f}", f"{r['ratio']:.3f}",
            "same" if r["codes_only"] == r["token"] else
            f"{r['codes_only']} ({r['codes_only_ratio']:.3f})",
            "-" if r["design"] is None else f"{100 * r['design']:.1f}",
            "-" if r["classifier"] is None else f"{100 * r['classifier']:.1f}"]
            for r in rows]))
    lines = findings(record)
    if lines:
        parts.append(heading("What the numbers say", "-"))
        parts.append("\n".join(f"- {line}" for line in lines) + "\n")
    found = targets(record)
    if found:
        parts.append(heading("Targets of issue 19", "-"))
        parts.append(fmt_table(["target", "measured", "status"], [
            [t, m, _status(*ok)] for t, m, *ok in found]))
    cost = record.get("cost")
    if cost:
        parts.append(heading("Cost: each epoch tokenised once?", "-"))
        parts.append(
            "eegmmidb subject 1, imagined left/right fist, 45 epochs x 64 channels x 4 s "
            "(0-4 s, no filter), each measurement in a fresh Python process with no token "
            "cache folder, one thread; times after the imports and the data loading. "
            "Load averages (1, 5, 15 min) before / after: "
            + " / ".join(", ".join(f"{v:.1f}" for v in cost.get(k, []))
                         for k in ("load_average_before", "load_average_after"))
            + " (the machine's 2 cores are shared).\n")
        parts.append(fmt_table(["what", "seconds", "accuracy"], cost_rows(cost)))
        if cost.get("ratio") is not None:
            parts.append(f"Ratio of the design card's 5-fold CV to one pass plus TS+LR's CV: "
                         f"**{cost['ratio']:.2f} x** (target <= 1.3 x).\n")
    for key in TASKS:
        entry = tasks.get(key)
        if key == "cost" or not entry:
            continue
        config = entry.get("config", {})
        parts.append(heading(config.get("title", key) + f" (``{key}``)", "-"))
        if entry.get("status") == "unavailable":
            parts.append(f"Not run: the data could not be loaded offline ({entry['error']}).\n")
            continue
        parts.append(config.get("protocol", "") + f" Default tokenizer output here: "
                     f"``{config.get('tokenizer_default_output')}``. Tokenising every epoch "
                     f"once took {entry.get('tokenise_s', float('nan')):.0f} s; the 1-min "
                     f"load average of the shared 2-core machine was "
                     f"{entry.get('load_average_start', [float('nan')])[0]:.1f} at the start "
                     f"of the row and {entry.get('load_average_end', [float('nan')])[0]:.1f} "
                     "at its end.\n")
        for note in config.get("notes", []):
            parts.append(note + "\n")
        for _, table in task_tables(key, entry, fmt_table):
            parts.append(table)
        failed = {n: r["error"] for u in entry.get("units", {}).values()
                  for n, r in u["pipelines"].items() if "error" in r}
        for name, error in failed.items():
            parts.append(f"``{name}`` failed: {error.splitlines()[0][:300]}\n")
    return "\n".join(parts)


def write_page(record, path):
    from mne_biocodec.codec import atomic_write

    with atomic_write(Path(path)) as tmp:
        tmp.write_text(render_page(record))


# ----------------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--page", default=str(DEFAULT_PAGE))
    parser.add_argument("--only", nargs="+", choices=TASKS, default=None,
                        help="rows to compute (default: all); the others stay as in --out")
    parser.add_argument("--resume", action="store_true",
                        help="keep the subjects already in --out and compute the missing ones")
    parser.add_argument("--rerun", nargs="+", default=(), metavar="PIPELINE",
                        help="with --resume: compute these pipelines again on every unit "
                             "(e.g. after a change of their defaults)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the page from --out without computing")
    parser.add_argument("--compare", default=None, metavar="BASE_JSON",
                        help="compare --out's token pipelines with another run's (e.g. the "
                             "shipped codec's benchmarks/results/decoding.json) and exit")
    # 10, not 5: with 5 draws subject 1's lead at 5 trials per class read +5.0 AUC points,
    # with 10 (the same 5 and 5 more) -1.2; the row costs about 20 min on one core.
    parser.add_argument("--draws", type=int, default=10,
                        help="low-resource draws per subject and size (default: 10)")
    parser.add_argument("--max-units", type=int, default=None,
                        help="score only the first N subjects/splits of each row (debugging)")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cost-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")
    os.environ.setdefault("MNE_DATA", str((ROOT / ".." / "shared" / "data").resolve()))
    os.environ.setdefault("MNE_DATASETS_SSVEPEXO_PATH", os.environ["MNE_DATA"])
    import mne
    import torch

    mne.set_log_level("error")
    torch.set_num_threads(args.threads)
    if args.cost_worker:
        cost_worker(args.cost_worker)
        return 0
    record = load_record(args.out)
    if args.compare:
        for path in (args.compare, args.out):
            if not Path(path).is_file():
                parser.error(f"--compare reads two runs of this script; {path} is not a file")
        print(compare_table(*compare_records(load_record(args.compare), record)))
        return 0
    if args.report_only:
        write_page(record, args.page)
        print(render_page(record, _md_table))
        return 0
    os.environ["MNE_BIOCODEC_CACHE"] = args.cache_dir

    def log(message):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def save():
        write_json(args.out, record)

    record["meta"] = {**record.get("meta", {}), **_meta(args)}
    if "mi_lr_lowres" in (args.only or TASKS):  # else the row keeps the draws it was run with
        record["meta"]["lowres_draws"] = args.draws
    t_start = time.time()
    for key in args.only or TASKS:
        t_task = time.time()
        log(f"{key}: start")
        if key == "cost":
            record["cost"] = run_cost(log)
            save()
            continue
        previous = record["tasks"].get(key, {}) if args.resume else {}
        entry = {"units": previous.get("units", {}), **{k: v for k, v in previous.items()
                                                        if k in ("tokenise_s",)}}
        record["tasks"][key] = entry
        try:
            task = LOADERS[key](key, args.draws)
        except (FileNotFoundError, OSError, ValueError, RuntimeError) as err:
            entry.update(status="unavailable", error=f"{type(err).__name__}: {err}")
            log(f"{key}: data unavailable: {err}")
            save()
            continue
        if args.max_units:
            task.units = task.units[:args.max_units]
        entry["config"] = _task_config(task)
        entry.update(status="running", git=record["meta"]["git"], date=record["meta"]["date"],
                     load_average_start=list(os.getloadavg()))
        seconds = tokenise_once(task, log)
        entry.setdefault("tokenise_s", round(seconds, 1))
        save()
        run_task(task, entry, save, log, rerun=args.rerun)
        entry.update(status="done", wall_s=round(time.time() - t_task, 1),
                     load_average_end=list(os.getloadavg()))
        save()
        log(f"{key}: done in {time.time() - t_task:.0f} s (total {time.time() - t_start:.0f} s)")
    record["meta"]["wall_s_last_run"] = round(time.time() - t_start, 1)
    save()
    write_page(record, args.page)
    print(render_page(record, _md_table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
