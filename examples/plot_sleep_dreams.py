"""
===============================================================
Sleep spindles and sleep stages from tokens (DREAMS excerpts)
===============================================================

The DREAMS sleep spindles database (Devuyst et al., 2011) holds 30-minute excerpts of
whole-night recordings, one central EEG channel each, with an expert sleep stage every 5 s
and expert-marked spindles. We tokenise short windows of the four excerpts present
offline (1, 3, 4, 7) and ask two questions with a simple classifier, next to band powers
on the same windows and folds:

* does a 2-s window hold a spindle (expert 1's marks) or not (N2 sleep without a mark)?
* is a 5-s window stage N2 or another stage?

Every score is leave-one-excerpt-out: the classifier never sees the excerpt it is scored
on. The shipped codec was trained (without labels) on excerpts 1 and 3; excerpts 4 and 7
are new to it.

The DREAMS data are licensed for non-commercial use without derivatives: this example reads
the files where they are (``MNE_DATA``) and redistributes nothing. Cite Devuyst S., Dutoit
T., Stenuit P., Kerkhofs M., "Automatic sleep spindles detection - overview and development
of a standard proposal assessment method", IEEE EMBC 2011.
"""
# Authors: mne-biocodec developers
# License: BSD-3-Clause

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mne_biocodec import BioCodecTokenizer
from mne_biocodec.estimators import signal_band_power, token_band_power
from mne_biocodec.datasets import load_dreams_hypnogram, load_dreams_raw

os.environ.setdefault("MNE_DATA", os.path.join("..", "..", "shared", "data"))
rng = np.random.default_rng(0)

# %%
# Load the excerpts
# -----------------
# ``load_dreams_raw`` annotates every 5-s stage and every spindle of expert 1; the rates
# differ between excerpts (100, 50, 200 and 200 Hz), which the tokenizer handles by
# resampling every window to the codec's 250 Hz.
excerpts = [1, 3, 4, 7]
raws = {e: load_dreams_raw(e) for e in excerpts}
stages = {e: load_dreams_hypnogram(e, return_codes=True) for e in excerpts}  # 2 = N2
spindles = {e: [(a["onset"], a["duration"]) for a in raws[e].annotations
                if a["description"] == "spindle"] for e in excerpts}
for e in excerpts:
    print(f"excerpt {e}: {raws[e].ch_names[0]} at {raws[e].info['sfreq']:.0f} Hz, "
          f"{len(spindles[e])} spindles, {np.mean(stages[e] == 2):.0%} of 5-s epochs in N2")

# %%
# A spindle and its tokens
# ------------------------
# Ten seconds of excerpt 4 around its first marked spindle, and the codes of the six
# codebooks underneath (one frame every 48 ms).
e, (onset, duration) = 4, spindles[4][0]
sfreq = raws[e].info["sfreq"]
start = int((onset - 5) * sfreq)
segment = raws[e].get_data()[:, start:start + int(10 * sfreq)]
codes = BioCodecTokenizer(sfreq=sfreq, output="codes").fit_transform(segment[np.newaxis])
times = onset - 5 + np.arange(segment.shape[1]) / sfreq
fig, axes = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
axes[0].plot(times, 1e6 * segment[0], lw=0.6)
for o, d in spindles[e]:
    axes[0].axvspan(o, o + d, color="C1", alpha=0.3)
axes[0].set(ylabel="µV", title=f"Excerpt {e}: expert spindles shaded")
axes[1].imshow(codes[0, 0], aspect="auto", interpolation="nearest", cmap="viridis",
               extent=(times[0], times[-1], 5.5, -0.5))
axes[1].set(xlabel="time (s)", ylabel="codebook", xlim=(times[0], times[-1]))
fig.tight_layout()

# %%
# Spindle windows
# ---------------
# Positives are 2-s windows centred on each expert spindle; negatives are three times as
# many random 2-s N2 windows at least 0.5 s away from any mark. Three descriptions: from
# the tokens, the code-vector statistics (``output="embedding"``: per-codebook mean and
# spread of the code vectors, and the log amplitude) and the band power of the signal the
# tokens decode to (:func:`~mne_biocodec.estimators.token_band_power`, what the
# single-channel ``output="auto"`` returns; called here with the six bands below, as the
# excerpts' rates differ and the automatic bands depend on the rate); from the recording,
# the classic log Welch powers in the same six bands (sigma, 11-16 Hz, is where spindles
# live).
bands = {"slow": (0.5, 2), "delta": (2, 4), "theta": (4, 8), "alpha": (8, 11),
         "sigma": (11, 16), "beta": (16, 25)}  # excerpt 3 is sampled at 50 Hz


def band_power(windows, sfreq):
    # token_band_power's own reading of a spectrum, so that the two differ only by the tokens
    return signal_band_power(windows * 1e6, sfreq, list(bands.values()))


def cut(raw, centres, seconds):
    """Windows of ``seconds`` centred on ``centres`` (s): array (n, 1, n_times)."""
    n_times = int(round(seconds * raw.info["sfreq"]))
    starts = np.round((np.asarray(centres) - seconds / 2) * raw.info["sfreq"]).astype(int)
    data = raw.get_data()
    return np.stack([data[:, s:s + n_times] for s in starts])


NAMES = ("BioCodec embedding", "BioCodec band power", "band power")


def features(windows, sfreq):
    tokenizer = BioCodecTokenizer(sfreq=sfreq, output="embedding").fit(windows)
    tokens = tokenizer.encode(windows)  # tokenise once, describe twice
    return {"BioCodec embedding": tokenizer.transform_tokens(tokens),
            "BioCodec band power": token_band_power(tokens, tokenizer.codec_,
                                                    bands=list(bands.values())),
            "band power": band_power(windows, sfreq)}


spindle_data = {}
for e in excerpts:
    centres = np.array([o + d / 2 for o, d in spindles[e]])
    candidates = np.arange(1.0, 1799.0, 0.5)
    free = stages[e][(candidates // 5).astype(int)] == 2
    for o, d in spindles[e]:
        free &= (candidates + 1 < o - 0.5) | (candidates - 1 > o + d + 0.5)
    negatives = rng.choice(candidates[free], size=3 * len(centres), replace=False)
    windows = cut(raws[e], np.r_[centres, negatives], 2.0)
    labels = np.r_[np.ones(len(centres)), np.zeros(len(negatives))]
    spindle_data[e] = features(windows, raws[e].info["sfreq"]), labels

# %%
# Leave one excerpt out
# ---------------------
# The same class-balanced logistic regression for both descriptions, trained on three
# excerpts and scored on the fourth.


def leave_one_excerpt_out(data):
    scores = {}
    for name in data[excerpts[0]][0]:
        for test in excerpts:
            train = [e for e in excerpts if e != test]
            X_train = np.concatenate([data[e][0][name] for e in train])
            y_train = np.concatenate([data[e][1] for e in train])
            X_test, y_test = data[test][0][name], data[test][1]
            clf = make_pipeline(StandardScaler(), LogisticRegression(
                C=0.1, class_weight="balanced", max_iter=5000)).fit(X_train, y_train)
            scores[name, test] = (balanced_accuracy_score(y_test, clf.predict(X_test)),
                                  roc_auc_score(y_test, clf.decision_function(X_test)))
    return scores


def report(scores, title):
    print(title)
    print(f"{'excerpt':>8s} {'codec saw it':>13s} " + " ".join(
        f"{name + ' AUROC':>26s}" for name in NAMES))
    for e in excerpts:
        print(f"{e:8d} {'yes' if e in (1, 3) else 'no':>13s} " + " ".join(
            f"{scores[name, e][1]:26.3f}" for name in NAMES))
    for name in NAMES:
        mean = np.mean([scores[name, e] for e in excerpts], axis=0)
        print(f"  {name}: mean balanced accuracy {mean[0]:.3f}, mean AUROC {mean[1]:.3f}")


spindle_scores = leave_one_excerpt_out(spindle_data)
report(spindle_scores, "Spindle vs no spindle (2-s windows)")

# %%
# N2 versus the other stages
# --------------------------
# Every 5-s epoch of the hypnogram becomes one window; N2 is about 60 % of them. Wake,
# stage 1, deep sleep and REM form the other class (movement and unscored epochs are
# dropped).
stage_data = {}
for e in excerpts:
    keep = stages[e] >= 0
    centres = 2.5 + 5.0 * np.flatnonzero(keep)
    windows = cut(raws[e], centres, 5.0)
    stage_data[e] = features(windows, raws[e].info["sfreq"]), (stages[e][keep] == 2) * 1
stage_scores = leave_one_excerpt_out(stage_data)
report(stage_scores, "N2 vs other stages (5-s windows)")

# %%
# Summary
# -------
# Every description finds spindles in excerpts it was not trained on. A spindle is by
# definition a burst of sigma power, exactly the hand-made feature; the band power of the
# decoded tokens matches it (the tokens keep the spectrum at 1 kbit/s), while the
# code-vector statistics, which a linear model cannot turn into sigma power, trail. Telling
# N2 from the other stages across excerpts is much harder with one channel and 5-s windows
# (different people, channels and sampling rates per excerpt).
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
for ax, (title, scores) in zip(axes, [("spindle vs none", spindle_scores),
                                      ("N2 vs other stages", stage_scores)]):
    for k, name in enumerate(NAMES):
        ax.bar(np.arange(len(excerpts)) + (k - 1) * 0.27,
               [scores[name, e][1] for e in excerpts], 0.27, label=name)
    ax.axhline(0.5, color="k", ls="--", lw=1)
    ax.set_xticks(np.arange(len(excerpts)), [f"excerpt {e}" for e in excerpts])
    ax.set(title=title, ylim=(0, 1))
axes[0].set_ylabel("AUROC (left-out excerpt)")
axes[0].legend(loc="lower left")
fig.tight_layout()
