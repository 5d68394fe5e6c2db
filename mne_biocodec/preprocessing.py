"""Signal preparation: everything between a recording and what the codec sees, and back.

The codec sees one channel at a time, at its own sampling rate, robustly scaled:
per channel, in microvolts, ``(x - median) / (IQR + 1e-6)``, clamped to ``[-10, 10]``.
That is what the reference implementation does to its training corpus, so every path that
feeds the codec (training segments, the estimators, token files, streaming) goes through the
functions here:

- validation: :func:`check_signal_array`, :func:`check_sfreq`, :func:`check_resample_size`;
- resampling with one polyphase filter (:func:`resample`), also chunk by chunk with the same
  result (:func:`resample_chunks`);
- robust scaling (:func:`robust_scale`, :func:`scale_signals`), with exact whole-signal
  statistics computed chunk by chunk for long recordings (:func:`robust_statistics`);
- the whole chain and its inverse (:func:`prepare_signals`, :func:`restore_signals`).

Which channels of a recording are encoded is decided in :mod:`mne_biocodec.channels`.
"""

import math
from fractions import Fraction
from numbers import Real

import numpy as np
from scipy.stats import iqr

__all__ = ["robust_scale", "robust_unscale", "scale_signals", "robust_statistics", "resample",
           "resample_chunks", "polyphase_factors", "polyphase_resample", "prepare_signals",
           "restore_signals", "order_statistics", "check_signal_array", "check_sfreq",
           "check_resample_size", "IQR_EPS", "CLAMP", "SFREQ_RANGE", "VOLTS_TO_MICROVOLTS"]

#: Added to the inter-quartile range before dividing (as in the reference code). It assumes
#: microvolts: in volts it would be ~10 % of a typical EEG IQR.
IQR_EPS = 1e-6
#: The reference implementation clamps normalised segments to this absolute value.
CLAMP = 10.0
#: Sampling rates accepted, in Hz, by the estimators, the token paths and the token files
#: (recording and codec rates). Biosignals are recorded between a few Hz and some tens of
#: kHz; a rate outside this range is a unit mistake (kHz, or a sampling period in seconds),
#: and below 1 Hz resampling to a 250 Hz codec multiplies the data more than 250 times.
SFREQ_RANGE = (1.0, 1e6)
#: Factor from volts (MNE's and MOABB's unit) to microvolts (the unit the scaling assumes).
VOLTS_TO_MICROVOLTS = 1e6
#: Resampling may make a float64 array of up to this many bytes, or up to
#: ``MAX_RESAMPLE_GROWTH`` times the input, whichever is larger: it bounds the blow-up of an
#: absurd rate ratio (0.001 Hz -> 250 Hz asked for tens of GiB) without refusing large inputs at
#: ordinary rates, which are already in memory.
MAX_RESAMPLED_BYTES = 4 * 2 ** 30
MAX_RESAMPLE_GROWTH = 8


def _describe(value):
    """A short description of ``value`` for error messages (never a whole array)."""
    if np.ndim(value) > 0:
        return f"{type(value).__name__} of shape {np.shape(value)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_sfreq(sfreq, name="sfreq"):
    """Validate a sampling rate and return it as a float.

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    name : str, default="sfreq"
        Name used in error messages.

    Returns
    -------
    sfreq : float

    Raises
    ------
    TypeError
        If ``sfreq`` is not a real number (booleans included: ``True`` is not 1 Hz).
    ValueError
        If it is not finite, not positive, or outside ``SFREQ_RANGE`` (1 Hz to 1 MHz).
    """
    if isinstance(sfreq, (bool, np.bool_)) or not isinstance(sfreq, Real):
        raise TypeError(
            f"{name} must be a sampling rate in Hz (a real number); got "
            f"{_describe(sfreq)} of type {type(sfreq).__name__}."
        )
    value = float(sfreq)
    low, high = SFREQ_RANGE
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite sampling rate in Hz; got {sfreq!r}.")
    if not low <= value <= high:
        raise ValueError(
            f"{name}={value:g} Hz is outside the supported range {low:g} to {high:g} Hz. "
            "Give the sampling rate in Hz (not kHz, nor the sampling period)."
        )
    return value


def _gib(n_bytes):
    return f"{n_bytes / 2 ** 30:.3g} GiB"


def check_resample_size(shape, sfreq, target_sfreq, name="X"):
    """Refuse a resampling whose float64 result would not reasonably fit in memory.

    Parameters
    ----------
    shape : tuple of int
        Shape of the signals, time last.
    sfreq, target_sfreq : float
        Current and wanted sampling rates in Hz.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    out_shape : tuple of int
        Shape of the resampled signals.

    Raises
    ------
    ValueError
        If the result would exceed ``MAX_RESAMPLED_BYTES`` (4 GiB) and
        ``MAX_RESAMPLE_GROWTH`` (8) times the input, both in float64.
    """
    shape = tuple(int(n) for n in shape)
    n_out = math.ceil(shape[-1] * float(target_sfreq) / float(sfreq)) if shape else 0
    out_shape = shape[:-1] + (n_out,)
    # Python integers: the products of absurd shapes overflow int64.
    in_bytes, out_bytes = 8 * math.prod(shape), 8 * math.prod(out_shape)
    bound = max(MAX_RESAMPLED_BYTES, MAX_RESAMPLE_GROWTH * in_bytes)
    if out_bytes > bound:
        raise ValueError(
            f"Resampling {name} of shape {shape} ({_gib(in_bytes)} in float64) from "
            f"{float(sfreq):g} Hz to {float(target_sfreq):g} Hz would make an array of shape "
            f"{out_shape} ({_gib(out_bytes)}), above the {_gib(bound)} bound. Check sfreq "
            "(in Hz), or pass fewer or shorter epochs per call."
        )
    return out_shape


def robust_scale(data, clamp=CLAMP, axis=-1):
    """Scale signals by their median and inter-quartile range, then clamp.

    Parameters
    ----------
    data : ndarray, shape (..., n_times)
        Signals in microvolts.
    clamp : float | None, default=10.0
        Absolute value the scaled signal is clipped to; ``None`` disables clipping.
    axis : int, default=-1
        Time axis over which median and IQR are computed.

    Returns
    -------
    scaled : ndarray of float32, same shape as ``data``
        The scaled (and clamped) signals.
    center : ndarray, shape (...) with ``axis`` kept as length 1
        The medians, needed to undo the scaling.
    scale : ndarray, same shape as ``center``
        ``IQR + 1e-6``, needed to undo the scaling.

    See Also
    --------
    robust_unscale : The inverse (up to the clamp).
    """
    data = np.asarray(data, dtype=np.float64)
    center = np.median(data, axis=axis, keepdims=True)
    scale = iqr(data, axis=axis, keepdims=True) + IQR_EPS
    return scale_signals(data, center, scale, clamp), center, scale


def scale_signals(data, center, scale, clamp=CLAMP):
    """``(data - center) / scale`` clamped to ``[-clamp, clamp]``, as float32.

    The one place where signals are normalised for the codec: :func:`robust_scale` applies
    it with the statistics of the signals themselves, streaming with the statistics of the
    whole recording (:func:`robust_statistics`).

    Parameters
    ----------
    data : ndarray, shape (..., n_times)
        Signals in microvolts (float64).
    center, scale : ndarray
        Medians and ``IQR + 1e-6``, broadcastable to ``data``.
    clamp : float | None, default=10.0
        Absolute value the scaled signal is clipped to; ``None`` disables clipping.

    Returns
    -------
    scaled : ndarray of float32, same shape as ``data``
    """
    scaled = (data - center) / scale
    if clamp is not None:
        scaled = np.clip(scaled, -clamp, clamp)
    return scaled.astype(np.float32)


def robust_unscale(scaled, center, scale):
    """Undo :func:`robust_scale` (clamped samples stay clamped).

    Parameters
    ----------
    scaled : ndarray, shape (..., n_times)
        Scaled signals.
    center, scale : ndarray
        The ``center`` and ``scale`` returned by :func:`robust_scale`, broadcastable to
        ``scaled``.

    Returns
    -------
    data : ndarray of float64
        Signals in the units they had before scaling.
    """
    return np.asarray(scaled, dtype=np.float64) * scale + center


#: Largest up/down factor of the exact polyphase path (larger ones design very long filters).
_MAX_POLYPHASE_FACTOR = 4096


def polyphase_factors(sfreq, target_sfreq):
    """Integer ``(up, down)`` with ``up / down == target_sfreq / sfreq`` for polyphase filtering.

    Parameters
    ----------
    sfreq, target_sfreq : float
        Current and wanted sampling rates in Hz.

    Returns
    -------
    up, down : int
        Coprime factors (``(1, 1)`` when the rates are equal).

    Raises
    ------
    ValueError
        If the ratio is not a fraction with terms up to 4096 (e.g. 173.61 Hz -> 250 Hz).
    """
    ratio = Fraction(float(target_sfreq) / float(sfreq)).limit_denominator(
        _MAX_POLYPHASE_FACTOR)
    up, down = ratio.numerator, ratio.denominator
    if (up > _MAX_POLYPHASE_FACTOR
            or abs(up / down - float(target_sfreq) / float(sfreq)) > 1e-12 * up / down):
        raise ValueError(
            f"Cannot resample {float(sfreq):g} Hz to {float(target_sfreq):g} Hz chunk by "
            f"chunk: the ratio is not a fraction with terms up to {_MAX_POLYPHASE_FACTOR}. "
            "Resample the recording first (raw.resample(...)) or encode it whole "
            "(chunk_seconds=None)."
        )
    return up, down


def polyphase_resample(x, up, down):
    """Resample the last axis by ``up / down`` with the package's polyphase filter.

    Parameters
    ----------
    x : ndarray, shape (..., n_times)
        Signals.
    up, down : int
        Factors (see :func:`polyphase_factors`).

    Returns
    -------
    resampled : ndarray, shape (..., ceil(n_times * up / down))
        ``scipy.signal.resample_poly(x, up, down, axis=-1, window=("kaiser", 5.0),
        padtype="reflect")``.
    """
    from scipy.signal import resample_poly

    # scipy's reflect padding of a one-sample signal dies of SIGFPE (scipy 1.17); the reflection
    # of one sample is that sample repeated, which is what edge padding does.
    padtype = "reflect" if np.shape(x)[-1] > 1 else "edge"
    return resample_poly(x, up, down, axis=-1, window=("kaiser", 5.0), padtype=padtype)


def resample(data, sfreq, target_sfreq):
    """Resample the last axis from ``sfreq`` to ``target_sfreq`` with a polyphase filter.

    The filter is :func:`scipy.signal.resample_poly`'s with a Kaiser window (beta 5) and
    reflect padding, as ``mne.filter.resample(..., method="polyphase")`` applies; rates whose
    ratio has terms above 4096 (e.g. 173.61 Hz) use MNE's polyphase method directly. Unlike
    MNE's FFT method with automatic padding, it does not shift the signal by a fraction of a
    sample when going down in rate (250 -> 160 Hz moved a 60 Hz sine to r 0.38), and it can
    be applied chunk by chunk (:func:`resample_chunks`).

    Parameters
    ----------
    data : ndarray, shape (..., n_times)
        Signals.
    sfreq : float
        Current sampling rate in Hz.
    target_sfreq : float
        Wanted sampling rate in Hz.

    Returns
    -------
    resampled : ndarray, shape (..., ceil(n_times * target_sfreq / sfreq))
        The resampled signals (``data`` itself when the rates are equal).

    Raises
    ------
    ValueError
        If the resampled signals would take too much memory (:func:`check_resample_size`).
    """
    if float(sfreq) == float(target_sfreq):
        return data
    check_resample_size(np.shape(data), sfreq, target_sfreq, name="data")
    data = np.asarray(data, dtype=np.float64)
    try:
        up, down = polyphase_factors(sfreq, target_sfreq)
    except ValueError:
        import mne

        # MNE resamples to round(n_times * ratio) samples with a filter designed from that
        # length ratio; its design fails when the ratio is 1 (a few samples at a rate close
        # to the target), where resampling changes nothing, or 0.
        n_out = round(np.shape(data)[-1] * float(target_sfreq) / float(sfreq))
        if n_out in (0, np.shape(data)[-1]):
            return data[..., :n_out]
        if np.shape(data)[-1] == 1:
            # a single sample is a constant; MNE's filter design divides by zero on it, a
            # floating point exception that kills the interpreter (found by fuzzing)
            return np.repeat(data, n_out, axis=-1)
        return mne.filter.resample(data, up=float(target_sfreq), down=float(sfreq),
                                   method="polyphase", verbose="error")
    return polyphase_resample(data, up, down)


def check_signal_array(X, name="X", ndim=3, min_times=1, allow_empty=True):
    """Validate a floating array of signals and return it as a float ndarray.

    Parameters
    ----------
    X : array-like
        The signals.
    name : str, default="X"
        Name used in error messages.
    ndim : int, default=3
        Required number of dimensions.
    min_times : int, default=1
        Minimum length of the last (time) axis.
    allow_empty : bool, default=True
        Accept arrays with no epochs or no channels (a zero-length axis before the time
        axis).

    Returns
    -------
    X : ndarray
        The validated array: float32 and float64 kept, half precision converted to float32
        (float16 cannot even hold the factor to microvolts) and integers to float64.

    Raises
    ------
    ValueError
        If the array is not real-valued numeric (e.g. complex, boolean, object or ragged),
        the number of dimensions is wrong, an axis is empty (``allow_empty=False``), the
        array holds NaN or inf, or the signals are shorter than ``min_times`` samples.
    """
    try:
        X = np.asarray(X)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise ValueError(
            f"{name} must be a numeric array; could not convert {type(X).__name__} to one "
            f"({err})."
        ) from err
    axes = {2: ("n_chans", "n_times"), 3: ("n_epochs", "n_chans", "n_times")}.get(ndim)
    layout = f"({', '.join(axes)})" if axes else f"{ndim}-D"
    if X.dtype.kind not in "fiu":
        raise ValueError(
            f"{name} must hold real floating-point samples; got dtype {X.dtype}. "
            f"Convert it with {name}.astype(np.float32)."
        )
    if X.ndim != ndim:
        hint = (" Pass epochs.get_data() or the Epochs object." if ndim == 3 else "")
        raise ValueError(
            f"{name} must be a {ndim}-D array {layout}; got shape {X.shape}.{hint}"
        )
    if not allow_empty and 0 in X.shape[:-1]:
        axis = X.shape[:-1].index(0)
        what = axes[axis] if axes else f"axis {axis}"
        raise ValueError(
            f"{name} is empty: {what} is 0 (shape {X.shape}). At least one epoch and one "
            "channel are needed."
        )
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    elif X.dtype.itemsize < 4:
        X = X.astype(np.float32)
    if not np.all(np.isfinite(X)):
        n_bad = int(np.size(X) - np.isfinite(X).sum())
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite values. Interpolate or drop the bad "
            "samples/channels (e.g. raw.interpolate_bads(), epochs.drop_bad()) first."
        )
    if X.shape[-1] < min_times:
        raise ValueError(
            f"{name} has {X.shape[-1]} samples per channel but at least {min_times} are "
            "needed for one token frame. Use longer epochs (increase tmax - tmin)."
        )
    return X


# -- the whole chain and its inverse --------------------------------------------------------
def prepare_signals(X, sfreq, codec, units_scale=VOLTS_TO_MICROVOLTS):
    """What the codec encoder sees: microvolts, codec rate, robust scaling per channel.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times)
        Signals in volts.
    sfreq : float
        Sampling rate of ``X`` in Hz.
    codec : BioCodec
        The codec (its rate and frame length).
    units_scale : float, default=1e6
        Factor to microvolts.

    Returns
    -------
    scaled : ndarray of float32, shape (n_epochs, n_chans, n_codec_times)
    center, scale : ndarray, shape (n_epochs, n_chans, 1)
        Medians and ``IQR + 1e-6`` in microvolts.

    Raises
    ------
    TypeError, ValueError
        If ``X`` is not a finite 3-D numeric array long enough for one token frame, if
        ``sfreq`` is not a sampling rate in Hz (:func:`check_sfreq`), or if resampling would
        take too much memory.

    See Also
    --------
    restore_signals : The inverse (after decoding).
    """
    sfreq = check_sfreq(sfreq)
    min_times = int(np.ceil(codec.hop_length * sfreq / codec.sample_rate))
    X = check_signal_array(X, "X", ndim=3, min_times=min_times)
    check_resample_size(X.shape, sfreq, codec.sample_rate, name="X")
    # check_signal_array made half precision float32: in float16 the factor 1e6 is inf
    data = resample(X * units_scale, sfreq, codec.sample_rate)
    return robust_scale(data)


def restore_signals(decoded, center, scale, codec_sfreq, sfreq, n_times,
                    units_scale=VOLTS_TO_MICROVOLTS):
    """Undo :func:`prepare_signals` on decoded signals: unscale, resample back, fit the length.

    Parameters
    ----------
    decoded : ndarray, shape (..., n_decoded)
        Decoder output at the codec rate (``n_frames * hop_length`` samples).
    center, scale : ndarray, shape (..., 1)
        The statistics :func:`prepare_signals` returned for these signals.
    codec_sfreq, sfreq : float
        The codec's rate and the rate of the original signals, in Hz.
    n_times : int
        Samples of the original signals.
    units_scale : float, default=1e6
        Factor from the signal unit to microvolts.

    Returns
    -------
    signals : ndarray of float64, shape (..., n_times)
        In the original unit (volts by default), rate and length (the last samples repeated
        when resampling comes up short).
    """
    n_codec = int(round(n_times * codec_sfreq / sfreq))
    signals = robust_unscale(decoded[..., :n_codec], center, scale)
    signals = resample(signals, codec_sfreq, sfreq)[..., :n_times]
    if signals.shape[-1] < n_times:
        signals = np.pad(signals, [(0, 0)] * (signals.ndim - 1)
                         + [(0, n_times - signals.shape[-1])], mode="edge")
    return signals / units_scale


# -- chunk by chunk, as in one piece ----------------------------------------------------------
def resample_chunks(read, n_times, up, down, chunk_times):
    """Polyphase-resample a long signal chunk by chunk, exactly as in one piece.

    Parameters
    ----------
    read : callable
        ``read(start, stop)`` returns input samples ``[start, stop)`` as
        ``(n_chans, stop - start)``.
    n_times : int
        Input length.
    up, down : int
        Resampling factors (see :func:`polyphase_factors`).
    chunk_times : int
        Output samples per chunk.

    Yields
    ------
    start : int
        Index of the chunk's first output sample.
    chunk : ndarray, shape (n_chans, n)
        Output samples ``[start, start + n)`` of :func:`polyphase_resample` of the whole
        signal.
    """
    n_out = -(-n_times * up // down)
    if up == down == 1:
        for start in range(0, n_out, chunk_times):
            yield start, read(start, min(start + chunk_times, n_out))
        return
    # An output sample depends on inputs within (half filter + padding) / up of its position;
    # scipy's filter has 20 * max(up, down) + 1 taps plus < 2 * down zeros of padding.
    margin = -(-(10 * max(up, down) + 2 * down) // up) + 4
    for start in range(0, n_out, chunk_times):
        stop = min(start + chunk_times, n_out)
        # Segments start on a multiple of `down` input samples so that their output grid is
        # the whole signal's, shifted by an integer.
        first = max(0, (start * down // up - margin) // down * down)
        last = min(n_times, -(-stop * down // up) + margin)
        offset = first * up // down
        out = polyphase_resample(read(first, last), up, down)
        yield start, out[:, start - offset: stop - offset]


# Histogram bits per refinement pass and the bucket size below which values are gathered.
_HIST_BITS = 12
_GATHER_MAX = 1 << 14


def _sortable_keys(x):
    """uint64 keys ordered like the float64 values ``x`` (finite)."""
    bits = np.ascontiguousarray(x, dtype=np.float64).view(np.uint64)
    return np.where(bits >> np.uint64(63), ~bits, bits | np.uint64(1 << 63))


def _key_value(key):
    key = np.uint64(key)
    bits = key ^ np.uint64(1 << 63) if key >> np.uint64(63) else ~key
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def _linear_quantile_ranks(n, p):
    """Ranks and weight of ``scipy.stats.quantile(x, p, method="linear")`` (its arithmetic)."""
    p = np.float64(p)
    jg = p * n + (1 - p)
    jp1 = jg // 1
    j = jp1 - 1
    g = jg % 1
    if j < 0:
        g = np.float64(0.0)
    return int(min(max(j, 0), n - 1)), int(min(max(jp1, 0), n - 1)), g


def order_statistics(chunks, n_chans, n_times, ranks):
    """Exact values at ``ranks`` (sorted positions) of every channel, in a few passes.

    Each pass histograms the next 12 bits of the order-preserving 64-bit keys of the values
    inside the bucket known to hold a wanted rank; once a bucket holds few values they are
    gathered and sorted. Memory: one histogram per (channel, bucket) and the small buckets.

    Parameters
    ----------
    chunks : callable
        Returns a fresh iterator of ``(start, chunk)`` with finite chunks ``(n_chans, n)``
        covering the signal (called once per pass).
    n_chans, n_times : int
        Channels and total samples per channel.
    ranks : list of int
        Positions in each channel's sorted values.

    Returns
    -------
    values : ndarray of float64, shape (n_chans, len(ranks))
    """
    # One search per channel and rank: [prefix, prefix bits, rank within the bucket, count].
    searches = [[[0, 0, r, n_times] for r in ranks] for _ in range(n_chans)]
    values = np.full((n_chans, len(ranks)), np.nan)
    while np.isnan(values).any():
        groups = {}  # (channel, prefix, bits) -> gather (True) or histogram
        for c in range(n_chans):
            for i, (prefix, bits, _, count) in enumerate(searches[c]):
                if not np.isnan(values[c, i]):
                    continue
                if bits == 64:  # the bucket holds one value
                    values[c, i] = _key_value(prefix)
                    continue
                groups[(c, prefix, bits)] = count <= _GATHER_MAX
        if not groups:
            break
        found = {g: ([] if gather else np.zeros(1 << min(_HIST_BITS, 64 - g[2]), np.int64))
                 for g, gather in groups.items()}
        for _, chunk in chunks():
            keys = _sortable_keys(chunk)
            for (c, prefix, bits), gather in groups.items():
                sel = keys[c]
                if bits:
                    sel = sel[(sel >> np.uint64(64 - bits)) == np.uint64(prefix)]
                if gather:
                    found[(c, prefix, bits)].append(sel)
                    continue
                width = min(_HIST_BITS, 64 - bits)
                digit = (sel >> np.uint64(64 - bits - width)) & np.uint64((1 << width) - 1)
                found[(c, prefix, bits)] += np.bincount(digit.astype(np.intp),
                                                        minlength=1 << width)
        for c in range(n_chans):
            for i, search in enumerate(searches[c]):
                prefix, bits, rank, _ = search
                key = (c, prefix, bits)
                if key not in groups:
                    continue
                if groups[key]:
                    bucket = np.sort(np.concatenate(found[key]))
                    values[c, i] = _key_value(bucket[rank])
                    continue
                cumulative = np.cumsum(found[key])
                digit = int(np.searchsorted(cumulative, rank, side="right"))
                below = int(cumulative[digit - 1]) if digit else 0
                width = min(_HIST_BITS, 64 - bits)
                search[:] = [(prefix << width) | digit, bits + width, rank - below,
                             int(found[key][digit])]
    return values


def robust_statistics(chunks, n_chans, n_times):
    """Per-channel median and ``IQR + 1e-6`` over chunks, equal to :func:`robust_scale`'s.

    Parameters
    ----------
    chunks : callable
        Returns a fresh iterator of ``(start, chunk)`` with chunks ``(n_chans, n)`` covering
        the signal (called once per pass, usually three times).
    n_chans, n_times : int
        Channels and total samples per channel.

    Returns
    -------
    center, scale : ndarray of float64, shape (n_chans,)
        ``np.median`` and ``scipy.stats.iqr + 1e-6`` of each channel, to the last bit.
    """
    half = n_times // 2
    median_ranks = [half - 1, half] if n_times % 2 == 0 else [half]
    quartiles = [_linear_quantile_ranks(n_times, p) for p in (0.25, 0.75)]
    ranks = sorted(set(median_ranks) | {r for q in quartiles for r in q[:2]})
    values = order_statistics(chunks, n_chans, n_times, ranks)
    at = {r: values[:, i] for i, r in enumerate(ranks)}
    # np.median is the mean of the middle one or two values.
    center = np.array([np.mean(np.array([at[r][c] for r in median_ranks]))
                       for c in range(n_chans)])
    low, high = ((1 - g) * at[j] + g * at[jp1] for j, jp1, g in quartiles)
    return center, (high - low) + IQR_EPS
