"""Which channels of a recording a codec encodes: one rule for Raw, Epochs and token files.

A codec is trained on one signal family and takes the channels of that family
(:data:`CODEC_CHANNEL_TYPES`): an EEG codec takes EEG and intracranial EEG (sEEG, ECoG, DBS)
channels, an EMG codec EMG channels. :func:`codec_picks` applies the rule to an
``mne.Info`` (of a Raw or of Epochs):

- without ``picks``, every channel of the family, bad channels excluded by default as in
  :func:`mne.pick_types`;
- with ``picks`` (names, types or indices), those channels, each of which must be of the
  family; channels picked by type follow ``exclude``, channels named or indexed are kept.

The estimators use the default (bad channels do not reach a classifier). Token files pass
``exclude=()``: a token file archives the whole recording, so its bad channels are encoded
and stored, marked bad in the file, and marked bad again in the decoded recording.
Arrays carry no channel types: their channels are picked by index only.
"""

import numpy as np

__all__ = ["codec_picks", "CODEC_CHANNEL_TYPES"]

#: MNE channel types each codec modality encodes.
CODEC_CHANNEL_TYPES = {"eeg": ("eeg", "seeg", "ecog", "dbs"), "emg": ("emg",)}
_TYPE_NAMES = {"eeg": "EEG", "seeg": "sEEG", "ecog": "ECoG", "dbs": "DBS", "emg": "EMG"}
_LIMIT = 5


def _family(modality):
    if modality not in CODEC_CHANNEL_TYPES:
        raise ValueError(f"modality must be one of {sorted(CODEC_CHANNEL_TYPES)}; got "
                         f"{modality!r}.")
    return CODEC_CHANNEL_TYPES[modality]


def _remedy(modality, what):
    owner = "raw" if what == "recording" else what
    return (f"set their type with {owner}.set_channel_types({{'<name>': {modality!r}}}) if "
            f"they record {modality.upper()}")


def codec_picks(info, modality, picks=None, exclude="bads", what="recording"):
    """Indices of the channels a codec of ``modality`` encodes.

    Parameters
    ----------
    info : mne.Info
        The channels (``raw.info`` or ``epochs.info``).
    modality : {"eeg", "emg"}
        The codec's signal family (``codec.modality``).
    picks : str | int | list of str or int | None
        Channel names, channel types or indices; None takes every channel of the family.
    exclude : "bads" | list of str, default="bads"
        Channels left out of the default and of channels picked by type: ``"bads"`` for
        ``info["bads"]``, ``()`` to keep bad channels (token files do).
    what : str, default="recording"
        What the channels belong to, for error messages (``"recording"``, ``"epochs"``).

    Returns
    -------
    picks : list of int
        Channel indices in the order of ``info`` (without ``picks``) or of ``picks``, without
        repetitions.

    Raises
    ------
    ValueError
        If no channel of the family is left, if a ``picks`` entry is neither a channel name,
        a channel type nor an index of ``info``, or if a picked channel is of another type
        (the message names the channels and how to fix them).
    """
    family = _family(modality)
    names, types = list(info.ch_names), list(info.get_channel_types())
    excluded = set(info["bads"] if isinstance(exclude, str) and exclude == "bads"
                   else exclude)
    label = modality.upper()
    takes = ", ".join(_TYPE_NAMES[t] for t in family)
    if picks is None:
        idx = [i for i, t in enumerate(types) if t in family and names[i] not in excluded]
        if not idx:
            bads = f"; bads excluded: {sorted(excluded)}" if excluded else ""
            raise ValueError(
                f"Found no {label} channels for this {label} codec in the {what} (it takes "
                f"{takes} channels); its channel types are {sorted(set(types))}{bads}. Use "
                f"a codec for one of these types, or {_remedy(modality, what)}.")
        return idx
    if isinstance(picks, (str, int, np.integer)):
        picks = [picks]
    idx = []
    for pick in picks:
        if isinstance(pick, (int, np.integer)) and not isinstance(pick, bool):
            if not -len(names) <= pick < len(names):
                raise ValueError(f"picks index {pick} is out of range for "
                                 f"{len(names)} channels.")
            idx.append(int(pick) % len(names))
        elif isinstance(pick, str) and pick in names:
            idx.append(names.index(pick))
        elif isinstance(pick, str) and pick in types:
            idx.extend(i for i, t in enumerate(types) if t == pick and names[i] not in excluded)
        else:
            raise ValueError(
                f"picks entry {pick!r} is neither a channel name nor a channel type of the "
                f"{what} (types: {sorted(set(types))}; names start with {names[:3]})."
            )
    idx = list(dict.fromkeys(idx))
    wrong = [f"{names[i]} ({types[i]})" for i in idx if types[i] not in family]
    if wrong:
        shown = ", ".join(wrong[:_LIMIT]) + (f" and {len(wrong) - _LIMIT} more"
                                            if len(wrong) > _LIMIT else "")
        raise ValueError(
            f"Unsupported channel types for this {label} codec: {shown}. To fix, pick "
            f"{label} channels only (picks={modality!r}), or {_remedy(modality, what)} "
            f"(CLI: --picks with {label} channel names).")
    return idx
