"""Input handling shared by the estimators: arrays + sfreq, mne.Epochs, or lists of Epochs.

scikit-learn's model selection (``cross_val_score``, ``GridSearchCV``, ``learning_curve``)
indexes an ``mne.Epochs`` as a list, ``[epochs[i] for i in indices]``, because Epochs has no
``shape``: a list (or tuple) of Epochs with the same channels and rate is therefore taken as
the epochs it holds, in order.
"""

import numpy as np

from ..channels import codec_picks
from ..preprocessing import check_sfreq

__all__ = ["resolve_input", "is_epochs", "epochs_labels", "match_channels", "check_not_bool"]

_MODALITY_WORDS = {"eeg": "EEG (or sEEG/ECoG/DBS)", "emg": "EMG"}


def check_not_bool(**params):
    """Refuse booleans given for numeric parameters.

    scikit-learn's ``Interval`` constraints accept ``True`` as the number 1: ``sfreq=True``
    was read as 1 Hz.

    Raises
    ------
    TypeError
        Naming the first parameter given a boolean.
    """
    for name, value in params.items():
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a number, not a boolean; got {name}={value}.")


def is_epochs(X):
    """Whether ``X`` is an ``mne.Epochs`` or a non-empty list or tuple of them.

    Raises
    ------
    TypeError
        If ``X`` is a list or tuple mixing Epochs with other objects.
    """
    import mne

    if isinstance(X, mne.BaseEpochs):
        return True
    if not isinstance(X, (list, tuple)) or not any(isinstance(e, mne.BaseEpochs) for e in X):
        return False
    others = sorted({type(e).__name__ for e in X if not isinstance(e, mne.BaseEpochs)})
    if others:
        raise TypeError(
            f"X mixes mne.Epochs with {others}; pass one Epochs object, a list of Epochs, or "
            "one array of shape (n_epochs, n_chans, n_times)."
        )
    return True


def _items(X):
    import mne

    return [X] if isinstance(X, mne.BaseEpochs) else list(X)


def epochs_labels(X):
    """Event names of every epoch of an ``mne.Epochs`` (or a list of them), in order.

    Returns
    -------
    y : ndarray of str, shape (n_epochs,)
    """
    labels = []
    for epochs in _items(X):
        names = {code: name for name, code in epochs.event_id.items()}
        labels += [names[code] for code in epochs.events[:, 2]]
    return np.asarray(labels)


def match_channels(ch_names, fitted, bads=(), kind="EEG", name="X"):
    """Positions in ``ch_names`` of the ``fitted`` channel names, in the fitted order.

    Parameters
    ----------
    ch_names : list of str
        Channels available in the new input (of the codec's signal type).
    fitted : list of str
        Channels seen in ``fit``, in order.
    bads : list of str
        Channels of the new input marked bad: they may be absent from ``fitted`` but may not
        be in it.
    kind : str | None, default="EEG"
        Signal type named in the error message (None when ``ch_names`` are not picked by
        type).
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    order : list of int, length len(fitted)

    Raises
    ------
    ValueError
        Listing the fitted channels that are missing or marked bad, and the good channels
        that were not in ``fit``.
    """
    ch_names, bads = list(ch_names), set(bads)
    missing = [ch for ch in fitted if ch not in ch_names]
    unexpected = [ch for ch in ch_names if ch not in fitted and ch not in bads]
    now_bad = [ch for ch in fitted if ch in bads and ch in ch_names]
    problems = []
    if missing:
        problems.append(f"missing (absent, or not {kind} channels): {missing}" if kind
                        else f"missing: {missing}")
    if unexpected:
        problems.append(f"not seen in fit: {unexpected}")
    if now_bad:
        problems.append(f"marked bad now but used in fit: {now_bad}")
    if problems:
        fixes = ("pick and name the channels as in fit (epochs.pick(est.ch_names_))")
        if now_bad:
            fixes += (", interpolate the bad ones (epochs.interpolate_bads(reset_bads=True)) "
                      "or clear epochs.info['bads']")
        raise ValueError(
            f"The channels of {name} do not match the {len(fitted)} fitted channels: "
            f"{'; '.join(problems)}. To fix it, {fixes}, or refit the estimator."
        )
    return [ch_names.index(ch) for ch in fitted]


def _epochs_data(epochs, sfreq, modality, fitted):
    """Data (volts), rate and channel names of one ``mne.Epochs``."""
    info = epochs.info
    if sfreq is not None and not np.isclose(sfreq, info["sfreq"]):
        raise ValueError(
            f"sfreq={sfreq:g} does not match the epochs' sampling rate {info['sfreq']:g} Hz. "
            "Leave sfreq=None with Epochs input."
        )
    if fitted is None:
        # The codec's channels, bad ones left out (channels.codec_picks: the one rule).
        picks = codec_picks(info, modality, what="epochs")
    else:
        typed = [epochs.ch_names[i] for i in codec_picks(info, modality, exclude=(),
                                                            what="epochs")]
        order = match_channels(typed, fitted, bads=info["bads"],
                               kind=_MODALITY_WORDS.get(modality, modality.upper()))
        picks = [epochs.ch_names.index(typed[i]) for i in order]
    data = epochs.get_data(picks=picks)  # volts: MNE's SI unit
    return data, float(info["sfreq"]), [epochs.ch_names[i] for i in picks]


def resolve_input(X, sfreq, modality="eeg", ch_names=None):
    """Return ``(data in volts, sfreq, ch_names)`` from an array or Epochs.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs | list of mne.Epochs
        Signals in volts, or epochs (data read in volts, sfreq and channel names taken); a
        list of Epochs (what scikit-learn's cross-validation makes of one) must agree on
        channels and rate, and its epochs are stacked in order.
    sfreq : float | None
        Sampling rate of array input; must agree with the epochs' when both are given.
    modality : {"eeg", "emg"}, default="eeg"
        Channel types picked from epochs (:func:`mne_biocodec.channels.codec_picks`): EEG
        (and intracranial EEG) for an EEG codec, EMG for an EMG codec.
    ch_names : list of str | None
        Channels to take from Epochs, in this order (those seen in ``fit``): Epochs with the
        same channels in another order are reordered; missing, unexpected or newly bad
        channels are refused. None takes the good channels of the codec's signal type.
        Ignored for arrays.

    Returns
    -------
    data : ndarray, shape (n_epochs, n_chans, n_times)
        Arrays are returned as given (validate them with
        :func:`~mne_biocodec.preprocessing.check_signal_array`).
    sfreq : float
    ch_names : list of str | None
        None for arrays.
    """
    if sfreq is not None:
        sfreq = check_sfreq(sfreq)
    if is_epochs(X):
        parts = [_epochs_data(epochs, sfreq, modality, ch_names) for epochs in _items(X)]
        first_sfreq, first_names = parts[0][1:]
        for i, (_, other_sfreq, other_names) in enumerate(parts[1:], start=1):
            if other_sfreq != first_sfreq or other_names != first_names:
                raise ValueError(
                    f"X is a list of Epochs whose item {i} differs from item 0 (sampling rate "
                    f"{other_sfreq:g} vs {first_sfreq:g} Hz; channels "
                    f"{_differences(other_names, first_names)}). Pass Epochs with the same "
                    "channels and rate, e.g. mne.concatenate_epochs(...) after picking."
                )
        data = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
        return data, first_sfreq, first_names
    if sfreq is None:
        raise ValueError(
            "sfreq is required with array input: pass sfreq=<sampling rate in Hz> to the "
            "estimator, or pass an mne.Epochs object."
        )
    return X, sfreq, None


def _differences(names, reference):
    if names == reference:
        return "identical"
    if set(names) == set(reference):
        return "same names in another order"
    return (f"{sorted(set(reference) - set(names))} missing, "
            f"{sorted(set(names) - set(reference))} extra")
