"""What the tokens are: codebook usage, reconstruction per number of codebooks, rate-distortion
against a DCT coder, and the spatial coherence of the channels' code-embedding streams.

Every function returns numbers (arrays or small dataclasses with a ``summary()`` table);
:mod:`mne_biocodec.viz` draws them.
"""

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.stats import entropy, pearsonr, spearmanr

from .baselines import dct_codec_roundtrip
from .codec.metrics import reconstruction_metrics
from .estimators._input import resolve_input
from .estimators.features import code_vector_streams
from .tokens import TokenSet, auto_batch_size, decode, detokenize, encode, tokenize

__all__ = ["check_codes", "CodebookUsage", "codebook_usage", "codec_bits_per_sample",
           "Reconstruction", "reconstruct", "roundtrip_per_n_q", "RateDistortion",
           "rate_distortion", "embedding_streams", "token_similarity", "signal_connectivity",
           "SpatialCoherence", "spatial_coherence", "METRIC_LABELS"]

#: Display names of :func:`mne_biocodec.codec.metrics.reconstruction_metrics` keys.
METRIC_LABELS = {"pearson_r": "Pearson r", "si_sdr": "SI-SDR (dB)", "prd": "PRD (%)",
                 "nmse": "NMSE"}


def check_codes(tokens, name="codes"):
    """Integer codes ``(..., n_q, n_frames)`` from a TokenSet or an array, validated.

    Parameters
    ----------
    tokens : TokenSet | array-like of int, shape (..., n_q, n_frames)
        Codes, codebooks on axis -2.
    name : str, default="codes"
        Name used in error messages.

    Returns
    -------
    codes : ndarray of int, shape (..., n_q, n_frames)

    Raises
    ------
    ValueError
        If the codes are not integers, have fewer than 2 dimensions or are negative.
    """
    codes = np.asarray(tokens.codes if isinstance(tokens, TokenSet) else tokens)
    if codes.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array of codes (or a TokenSet); got "
                         f"dtype {codes.dtype}. Pass tokens.codes or tokenizer.transform(X).")
    if codes.ndim < 2:
        raise ValueError(f"{name} must have the codebooks on axis -2 and frames on axis -1, "
                         f"e.g. (n_epochs, n_chans, n_q, n_frames); got shape {codes.shape}.")
    if codes.size and codes.min() < 0:
        raise ValueError(f"{name} must be non-negative code indices; got minimum "
                         f"{codes.min()}.")
    return codes


def _check_4d(codes):
    if codes.ndim != 4:
        raise ValueError(f"codes must have shape (n_epochs, n_chans, n_q, n_frames); got "
                         f"shape {codes.shape}.")
    return codes


# -- codebook usage ---------------------------------------------------------------------------
@dataclass
class CodebookUsage:
    """How often each code of each codebook is used.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_q, n_codes)
        Occurrences of each code, per codebook.
    """

    counts: np.ndarray

    @property
    def n_q(self):
        """Number of codebooks."""
        return self.counts.shape[0]

    @property
    def n_codes(self):
        """Codes per codebook."""
        return self.counts.shape[1]

    @property
    def probabilities(self):
        """Relative frequency of each code, shape ``(n_q, n_codes)``."""
        return self.counts / np.maximum(self.counts.sum(axis=1, keepdims=True), 1)

    @property
    def entropy_bits(self):
        """Entropy of the code distribution in bits, shape ``(n_q,)`` (at most
        ``log2(n_codes)``: the bits a code actually carries)."""
        return entropy(self.counts, base=2, axis=1)

    @property
    def perplexity(self):
        """``2 ** entropy``: the number of equally used codes with the same entropy,
        shape ``(n_q,)``; ``n_codes`` for uniform usage."""
        return 2.0 ** self.entropy_bits

    @property
    def dead_codes(self):
        """Codes never used, per codebook, shape ``(n_q,)``."""
        return (self.counts == 0).sum(axis=1)

    @property
    def dead_fraction(self):
        """Fraction of codes never used, per codebook, shape ``(n_q,)``."""
        return self.dead_codes / self.n_codes

    @property
    def used_codes(self):
        """Codes used at least once, per codebook, shape ``(n_q,)``."""
        return self.n_codes - self.dead_codes

    def to_records(self):
        """One JSON-ready dict per codebook (``codebook``, ``entropy_bits``, ``perplexity``,
        ``dead_codes``, ``dead_fraction``, ``used_codes``, ``max_entropy_bits``)."""
        return [{"codebook": q, "entropy_bits": float(self.entropy_bits[q]),
                 "perplexity": float(self.perplexity[q]),
                 "dead_codes": int(self.dead_codes[q]),
                 "dead_fraction": float(self.dead_fraction[q]),
                 "used_codes": int(self.used_codes[q]),
                 "max_entropy_bits": math.log2(self.n_codes)} for q in range(self.n_q)]

    def summary(self):
        """A text table of entropy, perplexity and dead codes per codebook."""
        lines = [f"{int(self.counts[0].sum())} codes per codebook, {self.n_codes} entries "
                 f"(max entropy {math.log2(self.n_codes):.0f} bits)",
                 f"{'codebook':>8} {'entropy':>8} {'perplexity':>10} {'used':>5} "
                 f"{'dead':>5} {'dead %':>7}"]
        for rec in self.to_records():
            lines.append(f"{rec['codebook']:8d} {rec['entropy_bits']:8.2f} "
                         f"{rec['perplexity']:10.1f} {rec['used_codes']:5d} "
                         f"{rec['dead_codes']:5d} {100 * rec['dead_fraction']:7.1f}")
        return "\n".join(lines)


def codebook_usage(codes, n_codes=256):
    """Per-codebook code counts, entropy, perplexity and dead codes.

    Parameters
    ----------
    codes : ndarray of int, shape (..., n_q, n_frames) | TokenSet
        Codes with the codebooks on axis -2, e.g. ``(n_epochs, n_chans, n_q, n_frames)`` from
        ``BioCodecTokenizer(output="codes")`` or ``(n_segments, n_q, n_frames)`` from
        ``codec.encode``; all leading axes are pooled.
    n_codes : int, default=256
        Entries per codebook (``codec.codebook_size``).

    Returns
    -------
    usage : CodebookUsage
        ``counts`` ``(n_q, n_codes)`` plus ``entropy_bits``, ``perplexity``, ``dead_codes``,
        ``dead_fraction`` and ``used_codes`` per codebook.

    Examples
    --------
    >>> usage = codebook_usage(np.tile(np.arange(4), (2, 3, 1)), n_codes=4)
    >>> usage.perplexity
    array([4., 4., 4.])
    """
    codes = check_codes(codes)
    n_codes = int(n_codes)
    if n_codes < 1:
        raise ValueError(f"n_codes must be a positive integer; got {n_codes}.")
    if codes.size and codes.max() >= n_codes:
        raise ValueError(f"codes hold the value {codes.max()}, which does not fit a codebook "
                         f"of n_codes={n_codes} entries; pass n_codes=codec.codebook_size.")
    per_codebook = np.moveaxis(codes, -2, 0).reshape(codes.shape[-2], -1).astype(np.int64)
    counts = np.stack([np.bincount(row, minlength=n_codes) for row in per_codebook])
    return CodebookUsage(counts=counts)


# -- reconstruction ---------------------------------------------------------------------------
def codec_bits_per_sample(codec, n_q=None):
    """Bits per sample (at the codec rate) that ``n_q`` codebooks cost.

    ``frame_rate * n_q * log2(codebook_size) / sample_rate``: 4.0 for the EEG codec's six
    codebooks of 256 codes (1000 bit/s at 250 Hz).
    """
    n_q = codec.n_q if n_q is None else int(n_q)
    return codec.frame_rate * n_q * math.log2(codec.codebook_size) / codec.sample_rate


def _n_q_list(codec, n_q):
    if n_q is None:
        return list(range(1, codec.n_q + 1))
    values = sorted({int(k) for k in np.atleast_1d(n_q)})
    if not values or values[0] < 1 or values[-1] > codec.n_q:
        raise ValueError(f"n_q values must lie in 1..{codec.n_q}; got {list(np.atleast_1d(n_q))}.")
    return values


@dataclass
class Reconstruction:
    """Original signals and their reconstructions with several numbers of codebooks.

    Attributes
    ----------
    original : ndarray, shape (n_epochs, n_chans, n_times)
        The signals (2-D input gets a leading epoch axis).
    decoded : dict of int -> ndarray
        Reconstruction with the first ``n_q`` codebooks, same shape as ``original``.
    sfreq : float
        Sampling rate of both.
    ch_names : list of str | None
        Channel names.
    bits_per_sample : dict of int -> float
        What each ``n_q`` costs in bits per sample at the codec rate (empty if unknown).
    """

    original: np.ndarray
    decoded: dict
    sfreq: float
    ch_names: list = None
    bits_per_sample: dict = field(default_factory=dict)

    def __post_init__(self):
        self.original = np.asarray(self.original)
        if self.original.ndim == 2:
            self.original = self.original[None]
        self.decoded = {int(k): (np.asarray(v)[None] if np.ndim(v) == 2 else np.asarray(v))
                        for k, v in self.decoded.items()}
        for k, v in self.decoded.items():
            if v.shape != self.original.shape:
                raise ValueError(f"decoded[{k}] has shape {v.shape}; it must match original "
                                 f"{self.original.shape}.")
        if self.ch_names is None:
            self.ch_names = [str(i) for i in range(self.original.shape[1])]
        self._metrics = None

    @property
    def metrics(self):
        """``{n_q: {"pearson_r"|"si_sdr"|"prd"|"nmse": ndarray (n_epochs, n_chans)}}``, each
        value over the whole epoch (computed once)."""
        if self._metrics is None:
            # The metrics' eps terms assume unit-scale signals; in volts (sums of squares
            # ~1e-7) they would bias r and SI-SDR. All four metrics are invariant to a scale
            # common to both signals, so divide both by the original's standard deviation.
            std = self.original.std(axis=-1, keepdims=True)
            std = np.where(std > 0, std, 1.0)
            self._metrics = {k: reconstruction_metrics(self.original / std, v / std)
                             for k, v in sorted(self.decoded.items())}
        return self._metrics

    def summary(self):
        """A text table: per ``n_q``, mean and median of each metric over epochs and
        channels."""
        lines = [f"over {self.original.shape[0]} epoch(s) x {self.original.shape[1]} "
                 "channel(s); mean / median",
                 f"{'n_q':>4} {'bit/smp':>7} {'Pearson r':>13} {'SI-SDR (dB)':>13} "
                 f"{'PRD (%)':>13} {'NMSE':>13}"]
        for k, metrics in self.metrics.items():
            bits = self.bits_per_sample.get(k)
            cells = [f"{np.mean(metrics[m]):{spec}} / {np.median(metrics[m]):{spec}}"
                     for m, spec in (("pearson_r", ".3f"), ("si_sdr", ".2f"), ("prd", ".1f"),
                                     ("nmse", ".3f"))]
            lines.append(f"{k:4d} {'' if bits is None else f'{bits:.3f}':>7} "
                         + " ".join(f"{c:>13}" for c in cells))
        return "\n".join(lines)


def reconstruct(X, codec, sfreq=None, n_q=None, batch_size=None):
    """Encode signals once and decode them with the first ``n_q`` codebooks, for each ``n_q``.

    Residual VQ codes of the first ``k`` codebooks do not depend on the later ones, so the
    prefix of the full codes is what encoding with ``k`` codebooks gives.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs
        Signals in volts (with ``sfreq``), or epochs.
    codec : BioCodec
        The codec.
    sfreq : float | None
        Sampling rate of array input.
    n_q : int | list of int | None
        Numbers of codebooks to decode with (``1 .. codec.n_q`` when None).
    batch_size : int | None
        Channel-epochs per forward pass.

    Returns
    -------
    reconstruction : Reconstruction
        Original and decoded signals in volts at the input rate, with per-epoch, per-channel
        metrics in ``reconstruction.metrics``.
    """
    X, sfreq, ch_names = resolve_input(X, sfreq, modality=codec.modality)
    n_q_list = _n_q_list(codec, n_q)
    tokens = tokenize(X, sfreq, codec, n_q=max(n_q_list), batch_size=batch_size,
                      ch_names=ch_names)
    decoded = {k: detokenize(replace(tokens, codes=tokens.codes[:, :, :k]), codec,
                             batch_size=batch_size) for k in n_q_list}
    return Reconstruction(np.asarray(X), decoded, sfreq, ch_names,
                          {k: codec_bits_per_sample(codec, k) for k in n_q_list})


def roundtrip_per_n_q(codec, segments, n_q=None, batch_size=None):
    """Encode normalised single-channel segments once, decode them with each prefix of codes.

    Parameters
    ----------
    codec : BioCodec
        The codec (its own device; put in eval mode here).
    segments : ndarray, shape (n_segments, n_times)
        Segments at the codec rate, normalised as the codec expects (e.g. the rows of
        :func:`mne_biocodec.datasets.make_codec_segments`).
    n_q : int | list of int | None
        Numbers of codebooks (``1 .. codec.n_q`` when None).
    batch_size : int | None
        Segments per forward pass, encoding and decoding
        (:func:`~mne_biocodec.tokens.auto_batch_size` of the segment length when None).

    Returns
    -------
    reconstructions : dict of int -> ndarray of float32, shape (n_segments, n_times)
    codes : ndarray of int64, shape (n_segments, max(n_q), n_frames)
    timing : dict
        ``"encode_s"`` (float) and ``"decode_s"`` (dict ``n_q -> seconds``), transfers to
        and from the device included.
    """
    n_q_list = _n_q_list(codec, n_q)
    segments = np.asarray(segments)
    if segments.ndim != 2:
        raise ValueError(f"segments must have shape (n_segments, n_times); got shape "
                         f"{segments.shape}.")
    n_times = segments.shape[1]
    batch_size = batch_size or auto_batch_size(n_times)
    tic = time.perf_counter()
    codes, scale = encode(codec, segments, n_q=max(n_q_list), batch_size=batch_size,
                          return_scale=True)
    t_enc = time.perf_counter() - tic
    recon, t_dec = {}, {}
    for k in n_q_list:
        tic = time.perf_counter()
        out = decode(codec, codes[:, :k], batch_size=batch_size, scale=scale)
        recon[k] = np.ascontiguousarray(out[:, :n_times])
        t_dec[k] = time.perf_counter() - tic
    return recon, codes.astype(np.int64), {"encode_s": t_enc, "decode_s": t_dec}


# -- rate-distortion --------------------------------------------------------------------------
@dataclass
class RateDistortion:
    """Codec and DCT-coder fidelity against bits per sample.

    Attributes
    ----------
    codec : list of dict
        Per ``n_q``: ``"n_q"``, ``"bitrate_bps"``, ``"bits_per_sample"`` (at the codec
        rate), ``"bits_per_sample_segment"`` (what one segment's whole frames cost) and
        ``"metrics"`` (dict of per-segment arrays, see
        :func:`~mne_biocodec.codec.metrics.reconstruction_metrics`).
    dct : list of dict
        Per rate: ``"target_bits_per_sample"``, ``"bits_per_sample"`` (achieved),
        ``"bitrate_bps"``, ``"bits_per_sample_range"``, ``"zero_fraction"``, ``"metrics"``.
    codes : ndarray, shape (n_segments, max n_q, n_frames)
        The codec's codes (for :func:`codebook_usage`).
    timing : dict
        ``"encode_s"``, ``"decode_s"`` (per ``n_q``), ``"metrics_s"``, ``"dct_s"``.
    """

    codec: list
    dct: list
    codes: np.ndarray
    timing: dict

    def curve(self, metric="pearson_r", coder="codec", stat=np.mean):
        """``(bits_per_sample, values)`` of one coder: ``stat`` of ``metric`` over segments."""
        if coder not in ("codec", "dct"):
            raise ValueError(f"coder must be 'codec' or 'dct'; got {coder!r}.")
        if metric not in METRIC_LABELS:
            raise ValueError(f"metric must be one of {list(METRIC_LABELS)}; got {metric!r}.")
        entries = getattr(self, coder)
        return (np.array([e["bits_per_sample"] for e in entries]),
                np.array([stat(e["metrics"][metric]) for e in entries]))

    def summary(self):
        """A text table of the mean metrics per rate, codec then DCT coder."""
        lines = [f"{'coder':>10} {'bit/smp':>7} {'r':>6} {'SI-SDR':>7} {'PRD %':>7} "
                 f"{'NMSE':>6}"]
        for coder in ("codec", "dct"):
            for e in getattr(self, coder):
                name = f"n_q={e['n_q']}" if coder == "codec" else "DCT"
                m = {k: np.mean(v) for k, v in e["metrics"].items()}
                lines.append(f"{name:>10} {e['bits_per_sample']:7.3f} {m['pearson_r']:6.3f} "
                             f"{m['si_sdr']:7.2f} {m['prd']:7.1f} {m['nmse']:6.3f}")
        return "\n".join(lines)


def rate_distortion(segments, codec, n_q=None, dct_bits=(1.0, 2.0, 3.0, 4.0), dct_block=64,
                    dct_deadzone=0.0, dct_rate_control="segment", batch_size=None):
    """Fidelity of the codec per number of codebooks and of a DCT coder at equal rates.

    The codec's rate is what its fixed-length codes cost,
    ``frame_rate * n_q * log2(codebook_size)`` bit/s; the DCT coder
    (:func:`mne_biocodec.baselines.dct_codec_roundtrip`) runs at each of the codec's rates
    and at ``dct_bits``, its rate being an ideal-entropy-coder estimate (a generous baseline).

    Parameters
    ----------
    segments : ndarray, shape (n_segments, n_times) or (n_segments, 1, n_times)
        Normalised single-channel segments at the codec rate (e.g.
        :func:`mne_biocodec.datasets.make_codec_segments` of held-out recordings).
    codec : BioCodec
        The codec.
    n_q : int | list of int | None
        Numbers of codebooks (``1 .. codec.n_q`` when None).
    dct_bits : sequence of float, default=(1.0, 2.0, 3.0, 4.0)
        Extra DCT rates in bits per sample.
    dct_block, dct_deadzone, dct_rate_control
        ``block``, ``deadzone`` and ``rate_control`` of the DCT coder.
    batch_size : int | None
        Segments per codec forward pass.

    Returns
    -------
    result : RateDistortion
    """
    segments = np.asarray(segments)
    if segments.ndim == 3 and segments.shape[1] == 1:
        segments = segments[:, 0]
    if segments.ndim != 2 or not len(segments):
        raise ValueError(f"segments must have shape (n_segments, n_times) with at least one "
                         f"segment; got shape {segments.shape}.")
    recon, codes, timing = roundtrip_per_n_q(codec, segments, n_q, batch_size)
    n_times, n_frames = segments.shape[1], codes.shape[-1]
    bits_per_code = math.log2(codec.codebook_size)
    tic = time.perf_counter()
    codec_entries = []
    for k in recon:
        bits = codec_bits_per_sample(codec, k)
        codec_entries.append({
            "n_q": k, "bitrate_bps": bits * codec.sample_rate, "bits_per_sample": bits,
            "bits_per_sample_segment": n_frames * k * bits_per_code / n_times,
            "metrics": reconstruction_metrics(segments, recon[k])})
    del recon
    timing["metrics_s"] = time.perf_counter() - tic
    tic = time.perf_counter()
    targets = sorted({round(e["bits_per_sample"], 9) for e in codec_entries}
                     | {round(float(b), 9) for b in dct_bits})
    dct_entries = []
    for target in targets:
        rec, achieved, details = dct_codec_roundtrip(
            segments, target, block=dct_block, deadzone=dct_deadzone,
            rate_control=dct_rate_control, return_details=True)
        dct_entries.append({
            "target_bits_per_sample": target, "bits_per_sample": achieved,
            "bitrate_bps": achieved * codec.sample_rate,
            "bits_per_sample_range": [float(details["bits"].min()),
                                      float(details["bits"].max())],
            "zero_fraction": float(details["zero_fraction"].mean()),
            "metrics": reconstruction_metrics(segments, rec)})
    timing["dct_s"] = time.perf_counter() - tic
    return RateDistortion(codec_entries, dct_entries, codes, timing)


# -- spatial coherence ------------------------------------------------------------------------
def embedding_streams(tokens, codec):
    """The latent each channel's tokens stand for: summed code vectors per frame.

    Parameters
    ----------
    tokens : TokenSet | ndarray of int, shape (n_epochs, n_chans, n_q, n_frames)
        Codes.
    codec : BioCodec
        The codec whose codebooks embed them.

    Returns
    -------
    streams : ndarray, shape (n_epochs, n_chans, n_frames, codebook_dim)
        For each frame, the sum over the ``n_q`` codebooks of the codes' vectors (in the
        codebooks' own space, 16-d for the shipped codecs).
    """
    codes = _check_4d(check_codes(tokens))
    if codes.shape[2] > codec.n_q or (codes.size and codes.max() >= codec.codebook_size):
        raise ValueError(f"codes (n_q={codes.shape[2]}, max {codes.max()}) do not fit this "
                         f"codec ({codec.n_q} codebooks of {codec.codebook_size}); use the "
                         "codec that produced them.")
    return code_vector_streams(codes, codec)


_SIMILARITIES = ("correlation", "cosine")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {value!r}.")


def _symmetric(matrix):
    """Average with the transpose (rounding leaves tiny asymmetries) and put ones on the
    diagonal (a channel is identical to itself)."""
    matrix = (matrix + matrix.T) / 2
    np.fill_diagonal(matrix, 1.0)
    return matrix


def token_similarity(tokens, codec, metric="correlation"):
    """Channel x channel similarity of the code-embedding streams, averaged over epochs.

    Parameters
    ----------
    tokens : TokenSet | ndarray of int, shape (n_epochs, n_chans, n_q, n_frames)
        Codes.
    codec : BioCodec
        The codec that produced them.
    metric : {"correlation", "cosine"}, default="correlation"
        ``"correlation"``: Pearson correlation of two channels' streams over frames and
        embedding dimensions (the codebook-embedding coherence of the BioCodec paper, as
        ``BioCodecTokenizer(output="auto")`` computes per epoch). ``"cosine"``: the cosine
        similarity of the two channels' embedding vectors, averaged over frames.

    Returns
    -------
    similarity : ndarray, shape (n_chans, n_chans)
        Symmetric, ones on the diagonal.
    """
    _check_choice("metric", metric, _SIMILARITIES)
    streams = embedding_streams(tokens, codec).astype(np.float64)
    if metric == "correlation":
        n_epochs, n_chans = streams.shape[:2]
        sims = [np.corrcoef(s) for s in streams.reshape(n_epochs, n_chans, -1)]
    else:
        unit = streams / np.maximum(np.linalg.norm(streams, axis=-1, keepdims=True), 1e-12)
        sims = np.einsum("ectd,eftd->ecf", unit, unit) / streams.shape[2]
    return _symmetric(np.mean(sims, axis=0))


_CONNECTIVITY = ("coherence", "correlation")


def signal_connectivity(X, sfreq=None, method="coherence", fmin=1.0, fmax=40.0):
    """Classic channel x channel connectivity of the signals.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs
        Signals, with ``sfreq``, or epochs.
    sfreq : float | None
        Sampling rate of array input.
    method : {"coherence", "correlation"}, default="coherence"
        ``"coherence"``: magnitude-squared coherence
        ``|S_xy|^2 / (S_xx S_yy)`` from the cross-spectral density averaged over epochs
        (:func:`mne.time_frequency.csd_array_fourier`, Hann-tapered), averaged over the
        frequencies in ``[fmin, fmax]``. ``"correlation"``: Pearson correlation over time,
        averaged over epochs (band-pass the signals first to restrict it to a band).
    fmin, fmax : float, default=1.0, 40.0
        Band of the coherence in Hz.

    Returns
    -------
    connectivity : ndarray, shape (n_chans, n_chans)
        Symmetric, ones on the diagonal.
    """
    from mne.time_frequency import csd_array_fourier

    _check_choice("method", method, _CONNECTIVITY)
    X, sfreq, _ = resolve_input(X, sfreq)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise ValueError(f"X must have shape (n_epochs, n_chans, n_times); got {X.shape}.")
    if method == "correlation":
        conn = np.mean([np.corrcoef(epoch) for epoch in X], axis=0)
    else:
        if not 0 <= fmin < fmax:
            raise ValueError(f"need 0 <= fmin < fmax; got fmin={fmin}, fmax={fmax}.")
        csd = csd_array_fourier(X, sfreq, fmin=fmin, fmax=fmax, verbose=False)
        coh = []
        for index in range(len(csd.frequencies)):
            spectrum = csd.get_data(index=index)
            power = np.real(np.diag(spectrum))
            coh.append(np.abs(spectrum) ** 2 / np.outer(power, power))
        conn = np.mean(coh, axis=0)
    return _symmetric(conn)


@dataclass
class SpatialCoherence:
    """Token-embedding similarity between channels next to classic signal connectivity.

    Attributes
    ----------
    token_similarity : ndarray, shape (n_chans, n_chans)
        See :func:`token_similarity`.
    signal_connectivity : ndarray, shape (n_chans, n_chans)
        See :func:`signal_connectivity`.
    ch_names : list of str
        Channel names.
    spearman_r, spearman_p, pearson_r, pearson_p : float
        Correlation (and p-value) between the upper triangles (channel pairs) of the two
        matrices. The p-values are nominal: pairs sharing a channel are not independent,
        so they overstate the evidence (use a permutation of channel labels for a test).
    metric, method : str
        The token similarity and the signal connectivity used.
    band : tuple of float
        ``(fmin, fmax)`` of the coherence.
    info : mne.Info | None
        The channels' info (positions for topomaps), when the input was ``mne.Epochs``.
    """

    token_similarity: np.ndarray
    signal_connectivity: np.ndarray
    ch_names: list
    spearman_r: float
    spearman_p: float
    pearson_r: float
    pearson_p: float
    metric: str
    method: str
    band: tuple
    info: object = None

    def summary(self):
        """One line per statistic."""
        band = f" {self.band[0]:g}-{self.band[1]:g} Hz" if self.method == "coherence" else ""
        upper = np.triu_indices(len(self.ch_names), 1)
        return (f"{len(self.ch_names)} channels, {len(upper[0])} pairs\n"
                f"token {self.metric}: mean {self.token_similarity[upper].mean():.3f}; "
                f"signal {self.method}{band}: mean {self.signal_connectivity[upper].mean():.3f}\n"
                f"agreement over pairs: Spearman rho {self.spearman_r:.3f} "
                f"(p={self.spearman_p:.2g}), Pearson r {self.pearson_r:.3f} "
                f"(p={self.pearson_p:.2g})")


def spatial_coherence(X, codec, sfreq=None, tokens=None, metric="correlation",
                      method="coherence", fmin=1.0, fmax=40.0, n_q=None, batch_size=None):
    """Do the channels' token streams carry the signals' spatial structure?

    Tokenises each channel independently, measures how similar the channels' code-embedding
    streams are (:func:`token_similarity`), measures classic connectivity on the signals
    (:func:`signal_connectivity`) and correlates the two over channel pairs. The codec never
    sees two channels together, so any agreement comes from the tokens themselves.

    Parameters
    ----------
    X : ndarray, shape (n_epochs, n_chans, n_times) | mne.Epochs
        Signals in volts, with ``sfreq``, or epochs (their info is kept for topomaps).
    codec : BioCodec
        The codec.
    sfreq : float | None
        Sampling rate of array input.
    tokens : TokenSet | ndarray | None
        Codes of ``X`` if already computed (skips encoding).
    metric : {"correlation", "cosine"}, default="correlation"
        Token similarity; see :func:`token_similarity`.
    method : {"coherence", "correlation"}, default="coherence"
        Signal connectivity; see :func:`signal_connectivity`.
    fmin, fmax : float, default=1.0, 40.0
        Band of the coherence in Hz.
    n_q : int | None
        Codebooks to encode with (all when None; ignored when ``tokens`` is given).
    batch_size : int | None
        Channel-epochs per forward pass.

    Returns
    -------
    result : SpatialCoherence
    """
    import mne

    info = None
    if isinstance(X, mne.BaseEpochs):
        info = X.info
    data, sfreq, ch_names = resolve_input(X, sfreq, modality=codec.modality)
    if ch_names is None:
        ch_names = [str(i) for i in range(np.shape(data)[1])]
    elif info is not None:
        info = mne.pick_info(info, [info.ch_names.index(c) for c in ch_names])
    if tokens is None:
        tokens = tokenize(data, sfreq, codec, n_q=n_q, batch_size=batch_size,
                          ch_names=ch_names)
    codes = _check_4d(check_codes(tokens, "tokens"))
    if codes.shape[:2] != np.shape(data)[:2]:
        raise ValueError(f"tokens hold {codes.shape[:2]} (epochs, channels) but X has "
                         f"{np.shape(data)[:2]}; pass the tokens of X.")
    sim = token_similarity(codes, codec, metric=metric)
    conn = signal_connectivity(data, sfreq, method=method, fmin=fmin, fmax=fmax)
    upper = np.triu_indices(len(sim), 1)
    if len(upper[0]) < 3:
        raise ValueError(f"need at least 3 channels to correlate channel pairs; got "
                         f"{len(sim)}.")
    rho, p_rho = spearmanr(sim[upper], conn[upper])
    r, p_r = pearsonr(sim[upper], conn[upper])
    return SpatialCoherence(sim, conn, list(ch_names), float(rho), float(p_rho), float(r),
                            float(p_r), metric, method, (float(fmin), float(fmax)), info)
