"""Tokenise arbitrarily long recordings chunk by chunk, in bounded memory.

:func:`stream_tokenize` gives the codes of the whole-signal pipeline (microvolts -> codec rate
-> per-channel median/IQR scaling over the whole recording -> codec) while holding only one
chunk of the recording at a time:

1. **Resampling** (when the recording is not at the codec rate) uses a polyphase FIR filter:
   :func:`scipy.signal.resample_poly` with reflect padding and a Kaiser window (beta 5), which
   is what ``mne.filter.resample(..., method="polyphase")`` applies. Each chunk is resampled
   with a margin of input samples on both sides and the outputs that the margin influences
   are dropped, so the chunks join into exactly the whole-signal result
   (:func:`resample_chunks`). The whole-signal token path
   (:func:`mne_biocodec.tokenize`) resamples with MNE's FFT method instead, which cannot be
   split into chunks; for recordings at the codec rate both paths give identical codes, for
   others the finer codebooks differ (60 % of the codes agree on the shipped 160 Hz sample)
   at the same fidelity.
2. **Robust statistics**: the median and inter-quartile range of each channel over the whole
   recording are found exactly, by a few histogram passes over the chunks that narrow down
   the order statistics they need (:func:`robust_statistics`); they equal
   :func:`mne_biocodec.preprocessing.robust_scale`'s. Pass ``center`` and ``scale`` to skip
   these passes.
3. **Encoding** runs :class:`mne_biocodec.codec.streaming.StreamingEncoder`, which carries the
   convolution context and the LSTM state across chunks.
"""

import math

import numpy as np

from .codec.streaming import StreamingEncoder
from .preprocessing import CLAMP, IQR_EPS, _resample_poly, polyphase_factors
from .tokens import TokenSet, auto_batch_size, codes_dtype

__all__ = ["stream_tokenize", "resample_chunks", "robust_statistics", "polyphase_factors",
           "DEFAULT_CHUNK_SECONDS"]

#: Seconds of signal per chunk when not given: a 64-channel chunk is ~8 MB of float64.
DEFAULT_CHUNK_SECONDS = 60.0
_VOLTS_TO_MICROVOLTS = 1e6
# Largest up/down factor accepted: the filter has 20 * max(up, down) + 1 taps.
# Histogram bits per refinement pass and the bucket size below which values are gathered.
_HIST_BITS = 12
_GATHER_MAX = 1 << 14


# -- reading --------------------------------------------------------------------------------
class _Source:
    """Uniform chunk reads from an ``mne.io.Raw`` or a ``(n_chans, n_times)`` array."""

    def __init__(self, source, sfreq, picks, units_scale, modality):
        import mne

        self.units_scale = units_scale
        if isinstance(source, mne.io.BaseRaw):
            from .tokenfile import _pick_channels

            self.raw, self.array = source, None
            self.picks = _pick_channels(source, picks, modality)
            self.sfreq = float(source.info["sfreq"])
            self.n_times = source.n_times
            self.ch_names = [source.ch_names[i] for i in self.picks]
        else:
            from .preprocessing import check_signal_array

            if sfreq is None:
                raise ValueError("sfreq is required for array input; pass the sampling rate "
                                 "in Hz, e.g. sfreq=160.0.")
            self.raw, self.array = None, check_signal_array(source, "X", ndim=2)
            if picks is not None:
                self.array = self.array[np.atleast_1d(picks)]
            self.sfreq = float(sfreq)
            self.n_times = self.array.shape[1]
            self.ch_names = None
        self.n_chans = len(self.picks) if self.raw is not None else self.array.shape[0]

    def read(self, start, stop):
        """Samples ``[start, stop)`` of every picked channel, in microvolts (float64)."""
        if self.raw is not None:
            data = self.raw.get_data(picks=self.picks, start=start, stop=stop)
        else:
            data = self.array[:, start:stop]
        if not np.all(np.isfinite(data)):
            raise ValueError(
                f"The recording contains NaN or infinite values between samples {start} and "
                f"{stop}. Interpolate or drop the bad samples/channels first."
            )
        return np.asarray(data, dtype=np.float64) * self.units_scale


# -- resampling -----------------------------------------------------------------------------
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
        Output samples ``[start, start + n)`` of
        ``scipy.signal.resample_poly(x, up, down, axis=-1, window=("kaiser", 5.0),
        padtype="reflect")``.
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
        out = _resample_poly(read(first, last), up, down)
        yield start, out[:, start - offset: stop - offset]


# -- exact robust statistics ----------------------------------------------------------------
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


def _order_statistics(chunks, n_chans, n, ranks):
    """Exact values at ``ranks`` (sorted positions) of every channel, in a few passes.

    Each pass histograms the next 12 bits of the order-preserving 64-bit keys of the values
    inside the bucket known to hold a wanted rank; once a bucket holds few values they are
    gathered and sorted. Memory: one histogram per (channel, bucket) and the small buckets.
    """
    # One search per channel and rank: [prefix, prefix bits, rank within the bucket, count].
    searches = [[[0, 0, r, n] for r in ranks] for _ in range(n_chans)]
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
    """Per-channel median and ``IQR + 1e-6`` over chunks, equal to ``robust_scale``'s.

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
    values = _order_statistics(chunks, n_chans, n_times, ranks)
    at = {r: values[:, i] for i, r in enumerate(ranks)}
    # np.median is the mean of the middle one or two values.
    center = np.array([np.mean(np.array([at[r][c] for r in median_ranks]))
                       for c in range(n_chans)])
    low, high = ((1 - g) * at[j] + g * at[jp1] for j, jp1, g in quartiles)
    return center, (high - low) + IQR_EPS


# -- encoding -------------------------------------------------------------------------------
def stream_tokenize(source, codec, *, sfreq=None, picks=None, n_q=None,
                    chunk_seconds=DEFAULT_CHUNK_SECONDS, center=None, scale=None,
                    batch_size=None, device=None, progress=False,
                    units_scale=_VOLTS_TO_MICROVOLTS):
    """Tokenise one long recording chunk by chunk, with memory bounded by the chunk length.

    Parameters
    ----------
    source : mne.io.Raw | ndarray, shape (n_chans, n_times)
        The recording (a Raw need not be preloaded: chunks are read with
        ``raw.get_data(start=..., stop=...)``), in volts.
    codec : BioCodec
        The codec (causal, without per-segment RMS normalisation, as the shipped codecs).
    sfreq : float | None
        Sampling rate of array input in Hz (taken from a Raw).
    picks : str | list | None
        Channels of a Raw: names, types or indices (every channel of the codec's modality
        when None, as in :func:`mne_biocodec.tokenfile.encode_raw`); indices into an array.
    n_q : int | None
        Codebooks to keep (all when None).
    chunk_seconds : float, default=60.0
        Seconds of signal per chunk; the codes do not depend on it.
    center, scale : array-like, shape (n_chans,) | None
        Per-channel median and ``IQR + 1e-6`` in microvolts at the codec rate. When None they
        are computed exactly over the whole recording first (a few reading passes).
    batch_size : int | None
        Channels per codec forward pass (sized for speed from the chunk length when None).
    device : str | None
        Where to run the codec (the codec's device when None).
    progress : bool, default=False
        Show a progress bar over chunks.
    units_scale : float, default=1e6
        Factor from the signal unit to microvolts.

    Returns
    -------
    tokens : TokenSet
        Codes ``(1, n_chans, n_q, n_frames)`` with ``n_frames = ceil(n_codec_times / hop)``,
        center and scale ``(1, n_chans, 1)``, the input rate and length, channel names.

    Notes
    -----
    The codes equal ``encode_segments(codec, robust_scale(x)[0])`` where ``x`` is the whole
    recording in microvolts, resampled to the codec rate by ``scipy.signal.resample_poly``
    (reflect padding, Kaiser window beta 5) when its rate differs; see the module docstring.
    """
    import torch

    if not (isinstance(chunk_seconds, (int, float)) and chunk_seconds > 0):
        raise ValueError(f"chunk_seconds must be a positive number of seconds; got "
                         f"{chunk_seconds!r}.")
    src = _Source(source, sfreq, picks, units_scale, codec.config.get("modality", "eeg"))
    up, down = polyphase_factors(src.sfreq, codec.sample_rate)
    n_codec = -(-src.n_times * up // down)
    if n_codec < codec.hop_length:
        raise ValueError(
            f"The recording has {src.n_times} samples; one token frame needs "
            f"{codec.hop_length} at {codec.sample_rate:g} Hz. Use a longer recording."
        )
    chunk = max(1, int(round(chunk_seconds * codec.sample_rate)))  # codec-rate samples

    def chunks():
        return resample_chunks(src.read, src.n_times, up, down, chunk)

    if (center is None) != (scale is None):
        raise ValueError("Pass both center and scale, or neither.")
    if center is None:
        center, scale = robust_statistics(chunks, src.n_chans, n_codec)
    center = np.asarray(center, dtype=np.float64).reshape(-1)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    if center.shape != (src.n_chans,) or scale.shape != (src.n_chans,):
        raise ValueError(f"center and scale must hold one value per channel "
                         f"({src.n_chans}); got {center.size} and {scale.size}.")

    device = torch.device(device) if device is not None else codec.device
    codec.eval().to(device)
    n_q = codec.n_q if n_q is None else n_q
    batch_size = int(batch_size or auto_batch_size(chunk))
    groups = [slice(s, min(s + batch_size, src.n_chans))
              for s in range(0, src.n_chans, batch_size)]
    encoders = [StreamingEncoder(codec, n_q=n_q) for _ in groups]
    n_frames = codec.n_frames(n_codec)
    codes = np.empty((src.n_chans, n_q, n_frames), dtype=codes_dtype(codec.codebook_size))
    written = [0] * len(groups)

    def store(g, new):
        codes[groups[g], :, written[g]:written[g] + new.shape[-1]] = new.cpu().numpy()
        written[g] += new.shape[-1]

    from tqdm.auto import tqdm

    with tqdm(total=math.ceil(n_codec / chunk), desc="encode", unit="chunk",
              disable=not progress, leave=False) as bar:
        for _, data in chunks():
            scaled = np.clip((data - center[:, None]) / scale[:, None], -CLAMP, CLAMP)
            x = torch.as_tensor(scaled.astype(np.float32), device=device).unsqueeze(1)
            for g, sl in enumerate(groups):
                store(g, encoders[g].push(x[sl]))
            bar.update()
    for g, encoder in enumerate(encoders):
        store(g, encoder.flush())
    return TokenSet(codes=codes[None], center=center[None, :, None],
                    scale=scale[None, :, None], sfreq=src.sfreq, n_times=int(src.n_times),
                    codec_sfreq=codec.sample_rate, ch_names=src.ch_names)
