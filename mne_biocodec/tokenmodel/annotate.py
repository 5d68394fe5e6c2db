"""Mark the atypical stretches of a recording: token-model scores in sliding windows.

The model sees amplitude-normalised tokens, so what it can notice is the *shape* of the
signal. Artefacts measured on held-out EEG (a flat electrode, a step, line noise, a slow
swing, each on two of eight channels) make their windows *more* likely than the
recording's background, not less: simple waveforms are easy to predict. So by default a
window is annotated when its score lies far from the recording's median on either side
(``tail="both"``); ``tail="low"`` keeps only the improbable side.
"""

from dataclasses import dataclass

import mne
import numpy as np
from sklearn.base import clone

from ..channels import codec_picks
from .data import recording_windows

__all__ = ["annotate_unlikely", "WindowScores", "ROBUST_SIGMA", "TAILS"]

#: Which side of the recording's typical score is annotated.
TAILS = ("both", "low", "high")

#: Factor from the median absolute deviation to a normal distribution's standard deviation.
ROBUST_SIGMA = 1.4826


@dataclass
class WindowScores:
    """The scores behind :func:`annotate_unlikely`.

    Attributes
    ----------
    onset : ndarray, shape (n_windows,)
        Start of each window in seconds from the recording's first sample.
    duration : float
        Window length in seconds.
    score : ndarray, shape (n_windows,)
        Mean token log-likelihood of each window (over channels, levels and frames).
    channel_scores : ndarray, shape (n_windows, n_chans)
        The same per channel.
    ch_names : list of str
        The channels scored.
    threshold : float
        Windows scoring below it were annotated (``-inf`` with ``tail="high"``).
    unlikely : ndarray of bool, shape (n_windows,)
        The annotated windows: ``score < threshold`` or ``score > upper``.
    upper : float
        Windows scoring above it were annotated (``inf`` with ``tail="low"``).
    """

    onset: np.ndarray
    duration: float
    score: np.ndarray
    channel_scores: np.ndarray
    ch_names: list
    threshold: float
    unlikely: np.ndarray
    upper: float = np.inf


def _merge(starts, stops):
    """Union of intervals given sorted by start: ``(onsets, durations)``."""
    merged = []
    for start, stop in zip(starts, stops):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return [m[0] for m in merged], [m[1] - m[0] for m in merged]


def annotate_unlikely(raw, model, window=4.0, step=None, threshold=None, z_threshold=3.0,
                      description="BAD_unlikely", tail="both"):
    """Annotate the windows of a recording whose tokens the model finds atypical.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording (preloaded or not); its EEG channels (bad ones left out) are scored.
    model : BioCodecTokenModel
        The token model. Unfitted, a clone is fitted on the recording's windows first (with
        its own ``max_epochs``: 0 scores with the pretrained model as it is); fitted, its
        channel count and sampling rate must be the recording's.
    window : float, default=4.0
        Window length in seconds (the shipped model was pretrained on 4-s windows).
    step : float | None, default=None
        Seconds between window starts; None: ``window / 2``.
    threshold : float | None, default=None
        Log-likelihood below which a window is annotated (and only those: ``tail`` is then
        ignored). None: robust z-scores of the recording's own scores, bounds
        ``median -+ z_threshold * 1.4826 * MAD`` on the side(s) ``tail`` names.
    z_threshold : float, default=3.0
        Robust standard deviations from the median, when ``threshold`` is None.
    description : str, default="BAD_unlikely"
        Description of the annotations (``BAD_`` makes MNE's epoching reject them).
    tail : {"both", "low", "high"}, default="both"
        With ``threshold=None``: annotate windows far below the median score (improbable),
        far above it (unusually predictable: flat, stepped or sinusoidal channels), or both.

    Returns
    -------
    annotations : mne.Annotations
        One annotation per run of overlapping unlikely windows, synchronised with ``raw``
        (add them with ``raw.set_annotations(raw.annotations + annotations)``).
    scores : WindowScores
        Every window's score, the per-channel scores and the threshold used.

    Raises
    ------
    ValueError
        If the recording is shorter than one window, or a parameter is out of range.
    """
    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(f"raw must be an mne.io.Raw; got {type(raw).__name__}.")
    step = window / 2 if step is None else step
    for name, value in (("window", window), ("step", step), ("z_threshold", z_threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds; got {value!r}.")
    if threshold is not None and (isinstance(threshold, bool) or not np.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite log-likelihood or None; got "
                         f"{threshold!r}.")
    if tail not in TAILS:
        raise ValueError(f"tail must be one of {TAILS}; got {tail!r}.")
    X, onset = recording_windows(raw, window, "eeg", step)
    if len(X) == 0:
        raise ValueError(f"raw lasts {raw.times[-1]:.2f} s, shorter than one window of "
                         f"{window} s; pass a shorter window.")
    sfreq = raw.info["sfreq"]
    if not hasattr(model, "model_"):
        model = clone(model).set_params(sfreq=sfreq).fit(X)
    channel_scores = model.score_samples_channels(X)
    score = channel_scores.mean(axis=1)
    upper = np.inf
    if threshold is None:
        median = float(np.median(score))
        spread = z_threshold * ROBUST_SIGMA * float(np.median(np.abs(score - median)))
        threshold = median - spread if tail != "high" else -np.inf
        upper = median + spread if tail != "low" else np.inf
    unlikely = (score < threshold) | (score > upper)
    starts, durations = _merge(onset[unlikely], onset[unlikely] + window)
    meas_date = raw.info["meas_date"]
    # annotations with an orig_time count from it; the recording starts first_time later
    offset = raw.first_time if meas_date is not None else 0.0
    annotations = mne.Annotations(np.asarray(starts) + offset, durations,
                                  [description] * len(starts), orig_time=meas_date)
    ch_names = [raw.ch_names[i] for i in codec_picks(raw.info, "eeg")]
    return annotations, WindowScores(onset, float(window), score, channel_scores, ch_names,
                                     float(threshold), unlikely, float(upper))
