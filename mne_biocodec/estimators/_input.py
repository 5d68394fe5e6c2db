"""Input handling shared by the estimators: arrays + sfreq, or mne.Epochs."""

import numpy as np

__all__ = ["resolve_input"]


def resolve_input(X, sfreq, modality="eeg"):
    """Return ``(data in volts, sfreq, ch_names)`` from an array or an ``mne.Epochs``.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs
        Signals in volts, or epochs (data read in volts, sfreq and channel names taken).
    sfreq : float | None
        Sampling rate of array input; must agree with the epochs' when both are given.
    modality : {"eeg", "emg"}, default="eeg"
        Channel types picked from epochs: EEG (and intracranial EEG) for an EEG codec, EMG
        for an EMG codec.

    Returns
    -------
    data : ndarray, shape (n_epochs, n_chans, n_times)
    sfreq : float
    ch_names : list of str | None
    """
    import mne

    if isinstance(X, mne.BaseEpochs):
        if sfreq is not None and not np.isclose(float(sfreq), X.info["sfreq"]):
            raise ValueError(
                f"sfreq={sfreq} does not match the epochs' sampling rate "
                f"{X.info['sfreq']} Hz. Leave sfreq=None with Epochs input."
            )
        if modality == "emg":
            picks = mne.pick_types(X.info, eeg=False, emg=True, exclude="bads")
        else:
            picks = mne.pick_types(X.info, eeg=True, seeg=True, ecog=True, dbs=True,
                                   exclude="bads")
        if len(picks) == 0:
            types = sorted(set(X.get_channel_types()))
            wanted = "EMG" if modality == "emg" else "EEG (or sEEG/ECoG/DBS)"
            raise ValueError(
                f"The epochs hold no {wanted} channels for this {modality.upper()} codec "
                f"(channel types: {types}). Set the channel types with "
                "epochs.set_channel_types(), or use a codec for that signal type."
            )
        data = X.get_data(picks=picks)  # volts: MNE's SI unit
        ch_names = [X.ch_names[i] for i in picks]
        return data, float(X.info["sfreq"]), ch_names
    if sfreq is None:
        raise ValueError(
            "sfreq is required with array input: pass sfreq=<sampling rate in Hz> to the "
            "estimator, or pass an mne.Epochs object."
        )
    if not np.isscalar(sfreq) or not float(sfreq) > 0:
        raise ValueError(f"sfreq must be a positive number in Hz; got {sfreq!r}.")
    return X, float(sfreq), None
