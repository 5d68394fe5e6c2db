"""Cut continuous recordings into the single-channel segments the codec is trained on.

The steps are those of the official ``ch2file.py`` for TUH EEG: microvolts, resample the
whole recording, robust-scale each channel over the whole recording, then cut
non-overlapping segments from sample 0. The resampling is inference's
(:func:`mne_biocodec.preprocessing.resample`), so that the codec is trained on the signal
path it serves.
"""

import numpy as np

from ..preprocessing import CLAMP, resample, robust_scale

__all__ = ["make_codec_segments"]

# Voltage signal types the codecs take. MNE's own "data" pick leaves EMG out (and takes MEG,
# which is in tesla, not volts), so "data" is redefined here.
_CODEC_DATA_TYPES = ("eeg", "seeg", "ecog", "dbs", "emg")


def _piece_bounds(raw):
    """Sample ranges between the "EDGE boundary" annotations of concatenated raws."""
    ann = raw.annotations
    onsets = ann.onset[ann.description == "EDGE boundary"]
    cuts = raw.time_as_index(onsets, use_rounding=True, origin=ann.orig_time)
    cuts = np.unique(np.clip(cuts, 0, raw.n_times))
    edges = np.r_[0, cuts[(cuts > 0) & (cuts < raw.n_times)], raw.n_times]
    return list(zip(edges[:-1], edges[1:]))


def _scaled_piece(data, sfreq, target_sfreq, clamp):
    """Resample and robust-scale a recording's microvolts ``(n_chans, n_times)``."""
    return robust_scale(resample(data, sfreq, target_sfreq), clamp=clamp)[0]


def make_codec_segments(raw, sfreq=250.0, segment_seconds=5.0, picks="eeg", clamp=CLAMP,
                        return_meta=False, split_at_boundaries=True):
    """Turn a continuous recording into robust-scaled single-channel codec segments.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording. It is not modified.
    sfreq : float, default=250.0
        Rate the whole recording is resampled to (the codec's rate).
    segment_seconds : float, default=5.0
        Segment length; ``round(segment_seconds * sfreq)`` samples.
    picks : str | list | slice | None, default="eeg"
        Channels, as for :meth:`mne.io.Raw.pick`: e.g. ``"eeg"``, ``"emg"``, names or
        indices. ``"data"`` (or ``"all"``) means all channels of the voltage signal types
        EEG, sEEG, ECoG, DBS and EMG; unlike MNE's ``"data"`` it includes EMG, and it skips
        stim, misc, ECG/EOG and MEG channels. Channels marked bad are dropped.
    clamp : float | None, default=10.0
        Absolute value the scaled samples are clipped to; None disables clipping.
    return_meta : bool, default=False
        If True, also return where each row comes from.
    split_at_boundaries : bool, default=True
        If True and ``raw`` was concatenated (it has ``"EDGE boundary"`` annotations), each
        concatenated part is processed as a recording of its own, as the runs of the parity
        fixture were. If False the boundaries are ignored.

    Returns
    -------
    segments : ndarray of float32, shape (n_channels * n_segments, 1, n_times)
        Channel-major: all segments of the first picked channel (part after part), then of
        the second, ... A recording shorter than one segment gives zero rows.
    meta : dict of ndarray
        Only if ``return_meta``: per row, ``"ch_name"`` (str), ``"channel_index"`` (index
        among the picked channels), ``"piece"`` (index of the concatenated part, 0 if none),
        ``"segment_index"`` and ``"start_sample"`` (at ``sfreq``, both within the part).

    Notes
    -----
    The data of the picked channels in microvolts (``get_data(units="uV")``) are resampled
    to ``sfreq`` with :func:`mne_biocodec.preprocessing.resample`, the polyphase resampler
    that encoding uses (:func:`mne_biocodec.tokens.prepare_signals`), then scaled per
    channel over the whole resampled recording, ``(x - median) / (IQR + 1e-6)`` clipped to
    ``clamp`` (:func:`mne_biocodec.preprocessing.robust_scale`), and cut into
    non-overlapping segments from sample 0, the incomplete tail dropped. Microvolts matter:
    in volts the 1e-6 added to the IQR would be about 10 % of a typical EEG IQR. The
    scaling uses the whole recording, tail included, so it does not depend on
    ``segment_seconds``.

    The BioCodec parity fixture and the shipped codecs were made with MNE's FFT resampling
    (``raw.resample(sfreq)``) instead. The two filters differ near the Nyquist frequency of
    the lower rate and at the ends of the recording, so the segments differ slightly (on
    eegmmidb, 160 to 250 Hz: correlation above 0.999, RMS difference 0.4-4 % of the
    segment's).

    Splitting at boundaries matters because the signal jumps there: the resampling filter
    would ring across the step and segments would straddle two runs.
    """
    if isinstance(picks, str) and picks in ("data", "all", "all data channels"):
        present = set(raw.get_channel_types())
        picks = [kind for kind in _CODEC_DATA_TYPES if kind in present]
        if not picks:
            raise ValueError(f"No channel of types {_CODEC_DATA_TYPES} in this recording.")
    # Picking before resampling is only for speed: resampling is per channel.
    raw = raw.copy().pick(picks, exclude="bads")
    if len(raw.ch_names) == 0:
        raise ValueError(f"picks={picks!r} selects no (good) channel of this recording.")
    seg_len = int(round(segment_seconds * sfreq))
    if seg_len < 1:
        raise ValueError(f"segment_seconds * sfreq must be at least 1 sample; got {seg_len}.")
    bounds = _piece_bounds(raw) if split_at_boundaries else [(0, raw.n_times)]
    n_ch = len(raw.ch_names)
    data = raw.get_data(units="uV")
    blocks, piece_of, index_in_piece = [], [], []
    for piece, (start, stop) in enumerate(bounds):
        scaled = _scaled_piece(data[:, start:stop], raw.info["sfreq"], sfreq, clamp)
        n_seg = scaled.shape[1] // seg_len
        blocks.append(scaled[:, :n_seg * seg_len].reshape(n_ch, n_seg, seg_len))
        piece_of += [piece] * n_seg
        index_in_piece += list(range(n_seg))
    stacked = np.concatenate(blocks, axis=1)  # (n_ch, n_segments, seg_len)
    n_seg = stacked.shape[1]
    segments = np.ascontiguousarray(stacked.reshape(n_ch * n_seg, 1, seg_len),
                                    dtype=np.float32)
    if not return_meta:
        return segments
    channel_index = np.repeat(np.arange(n_ch), n_seg)
    segment_index = np.tile(np.asarray(index_in_piece, dtype=int), n_ch)
    meta = {
        "ch_name": np.asarray(raw.ch_names, dtype=object)[channel_index].astype(str),
        "channel_index": channel_index,
        "piece": np.tile(np.asarray(piece_of, dtype=int), n_ch),
        "segment_index": segment_index,
        "start_sample": segment_index * seg_len,
    }
    return segments, meta
