"""Signal preparation shared by training, the estimators and the CLI.

The codec sees one channel at a time, at its own sampling rate, robustly scaled:
per channel, in microvolts, ``(x - median) / (IQR + 1e-6)``, clamped to ``[-10, 10]``.
That is what the reference implementation does to its training corpus, so every path that
feeds the codec goes through :func:`robust_scale`.
"""

from fractions import Fraction

import numpy as np
from scipy.stats import iqr

__all__ = ["robust_scale", "robust_unscale", "resample", "polyphase_factors", "check_signal_array"]

#: Added to the inter-quartile range before dividing (as in the reference code). It assumes
#: microvolts: in volts it would be ~10 % of a typical EEG IQR.
IQR_EPS = 1e-6
#: The reference implementation clamps normalised segments to this absolute value.
CLAMP = 10.0


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
    scaled = (data - center) / scale
    if clamp is not None:
        scaled = np.clip(scaled, -clamp, clamp)
    return scaled.astype(np.float32), center, scale


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


def _resample_poly(x, up, down):
    from scipy.signal import resample_poly

    return resample_poly(x, up, down, axis=-1, window=("kaiser", 5.0), padtype="reflect")


def resample(data, sfreq, target_sfreq):
    """Resample the last axis from ``sfreq`` to ``target_sfreq`` with a polyphase filter.

    The filter is :func:`scipy.signal.resample_poly`'s with a Kaiser window (beta 5) and
    reflect padding, as ``mne.filter.resample(..., method="polyphase")`` applies; rates whose
    ratio has terms above 4096 (e.g. 173.61 Hz) use MNE's polyphase method directly. Unlike
    MNE's FFT method with automatic padding, it does not shift the signal by a fraction of a
    sample when going down in rate (250 -> 160 Hz moved a 60 Hz sine to r 0.38), and it can
    be applied chunk by chunk (:func:`mne_biocodec.streaming.resample_chunks`).

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
    """
    if float(sfreq) == float(target_sfreq):
        return data
    data = np.asarray(data, dtype=np.float64)
    try:
        up, down = polyphase_factors(sfreq, target_sfreq)
    except ValueError:
        import mne

        return mne.filter.resample(data, up=float(target_sfreq), down=float(sfreq),
                                   method="polyphase", verbose="error")
    return _resample_poly(data, up, down)


def check_signal_array(X, name="X", ndim=3, min_times=1):
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

    Returns
    -------
    X : ndarray
        The validated array (float dtype kept, integers converted to float64).

    Raises
    ------
    ValueError
        If the array is not real-valued numeric (e.g. complex, boolean or object), the
        number of dimensions is wrong, the array holds NaN or inf, or the signals are
        shorter than ``min_times`` samples.
    """
    X = np.asarray(X)
    layouts = {2: "(n_chans, n_times)", 3: "(n_epochs, n_chans, n_times)"}
    layout = layouts.get(ndim, f"{ndim}-D")
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
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
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
