"""The ``.bctok`` metadata schema: format constants, field names, and the validation of a
file's metadata against its tensors (the format itself is documented in
:mod:`mne_biocodec.tokens.files`).

Everything read from a token file goes through :func:`check_token_metadata` before anything
is allocated from it: every field's type and range, its agreement with the tensors, and
bounds that keep a small file from asking for a huge recording.
"""

import math
from datetime import date, datetime, timezone
from functools import lru_cache

import numpy as np

from ..codec import is_sha256
from ..preprocessing import SFREQ_RANGE

__all__ = ["check_token_metadata", "short_repr", "FORMAT_NAME", "FORMAT_VERSION",
           "READ_VERSIONS", "TOKEN_SUFFIX", "MAX_RATE_RATIO", "INFO_KEYS", "SUBJECT_KEYS",
           "SUBJECT_STRINGS", "DEVICE_KEYS", "FILE_REMEDY"]

#: Value of the ``format`` header entry of every token file.
FORMAT_NAME = "mne-biocodec-tokens"
#: Version written by this module.
FORMAT_VERSION = 2
#: Versions :func:`read_tokens` reads.
READ_VERSIONS = (1, 2)
#: Recommended suffix of token files.
TOKEN_SUFFIX = ".bctok"
#: Largest ratio of the recording's rate to the codec's: it bounds how many samples a
#: decoded file may hold per stored frame, so a small file cannot ask for a huge recording.
MAX_RATE_RATIO = 1e4

# Metadata keys a reader needs, per format version.
_REQUIRED_V1 = ("format", "format_version", "ch_names", "ch_types", "sfreq", "n_times",
                "codec_sfreq", "n_q", "codec")
_REQUIRED = {1: _REQUIRED_V1,
             2: _REQUIRED_V1 + ("bads", "meas_date", "n_frames", "first_samp", "chs", "dig",
                                "annotations", "info", "extra")}
_CODEC_KEYS = ("name", "modality", "sample_rate", "hop_length", "n_q", "codebook_size",
               "weights_sha256", "file_sha256", "source", "config")
_CHS_KEYS = ("unit", "unit_mul", "coil_type", "coord_frame", "loc")
_DIG_KEYS = ("kind", "ident", "coord_frame", "r")
_ANNOTATION_KEYS = ("onset", "duration", "description", "ch_names", "orig_time")
INFO_KEYS = ("subject_info", "experimenter", "description", "proj_name", "proj_id",
              "line_freq", "highpass", "lowpass", "custom_ref_applied", "device_info")
SUBJECT_STRINGS = ("his_id", "last_name", "first_name", "middle_name")
SUBJECT_KEYS = ("id", "birthday", "sex", "hand", "weight", "height") + SUBJECT_STRINGS
DEVICE_KEYS = ("type", "model", "serial", "site")
_INT32 = (-2 ** 31, 2 ** 31 - 1)
# n_times and first_samp stay exact in float64 (MNE's times) below this.
_MAX_SAMPLES = 2 ** 53
# Times (first sample, annotation onsets and durations) within about 31 years: MNE adds them
# to dates, which overflow past year 9999.
_MAX_SECONDS = 1e9
FILE_REMEDY = ("Re-encode the recording (`mne-biocodec encode`, "
                "mne_biocodec.tokens.encode_to_file) or restore the file from a copy.")


def short_repr(value):
    """``repr`` of a value read from a file, cut so that a hostile value cannot flood."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Checker:
    """Checks of metadata values: every error names the file (``where``) and the field."""

    def __init__(self, where, remedy):
        self.where = where
        self.remedy = remedy

    def fail(self, field, expected, value=None, *, got=None):
        got = short_repr(value) if got is None else got
        raise ValueError(f"{self.where}: {field} must be {expected}; got {got}. "
                         f"{self.remedy}")

    def integer(self, value, field, low, high):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(field, f"an integer in [{low}, {high}]", value)
        return value

    def number(self, value, field, low=-math.inf, high=math.inf, *, optional=False):
        if optional and value is None:
            return None
        if not (_is_number(value) and math.isfinite(value) and low <= value <= high):
            self.fail(field, f"a finite number in [{low:g}, {high:g}]"
                      + (" or null" if optional else ""), value)
        return float(value)

    def equal(self, value, field, expected, meaning):
        if isinstance(value, bool) or value != expected:
            self.fail(field, f"{expected!r} ({meaning})", value)
        return value

    def choice(self, value, field, allowed):
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            self.fail(field, f"one of {sorted(allowed)}", value)
        return value

    def string(self, value, field, *, optional=False):
        if not (isinstance(value, str) or (optional and value is None)):
            self.fail(field, "a string" + (" or null" if optional else ""), value)
        return value

    def array(self, value, field, n=None):
        if not isinstance(value, list) or (n is not None and len(value) != n):
            expected = "a list" if n is None else f"a list of {n} entries"
            got = (f"{len(value)} entries" if isinstance(value, list)
                   else type(value).__name__)
            self.fail(field, expected, got=got)
        return value

    def strings(self, value, field, n=None, *, unique=False):
        self.array(value, field, n)
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.fail(f"{field}[{i}]", "a non-empty string", item)
        if unique and len(set(value)) != len(value):
            repeated = sorted({v for v in value if value.count(v) > 1})
            self.fail(field, "unique names", got=f"{short_repr(repeated)} more than once")
        return value

    def mapping(self, value, field, required=(), allowed=None, *, optional=False):
        if optional and value is None:
            return None
        if not isinstance(value, dict):
            self.fail(field, "a JSON object" + (" or null" if optional else ""),
                      got=type(value).__name__)
        missing = [k for k in required if k not in value]
        if missing:
            self.fail(field, f"an object with the keys {list(required)}",
                      got=f"one without {missing}")
        if allowed is not None:
            unknown = sorted(set(value) - set(allowed))
            if unknown:
                self.fail(field, f"an object with keys among {list(allowed)}",
                          got=f"unknown keys {short_repr(unknown)}")
        return value

    def iso_datetime(self, value, field):
        """A tz-aware ISO 8601 text as a UTC datetime in FIF's range, or None."""
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            self.fail(field, "null or an ISO 8601 date and time with a time zone", value)
        parsed = parsed.astimezone(timezone.utc)
        # FIF stores dates as 32-bit seconds since 1970: MNE cannot save others.
        if not _INT32[0] <= parsed.timestamp() <= _INT32[1]:
            self.fail(field, "a date between 1901-12-14 and 2038-01-19 (what FIF files "
                             "hold)", value)
        return parsed

    def hex_digest(self, value, field):
        if not (value is None or is_sha256(value)):
            self.fail(field, "null or 64 lowercase hex digits", value)
        return value


@lru_cache(maxsize=None)
def _fiff_codes(*prefixes):
    from mne.io.constants import FIFF

    return frozenset(int(v) for k, v in FIFF.items() if k.startswith(prefixes))


def _coord_frames():
    return _fiff_codes("FIFFV_COORD_", "FIFFV_MNE_COORD_")


@lru_cache(maxsize=None)
def _known_channel_types():
    import mne

    return frozenset(mne.io.get_channel_type_constants())


def _codec_length_range(n_times, sfreq, codec_sfreq):
    """Lowest and highest length of ``n_times`` samples resampled to the codec rate.

    The encoder's polyphase resampler gives ``ceil(n_times * codec_sfreq / sfreq)``, MNE's
    (for rates with large ratio terms) may round instead; a relative margin of 1e-9 covers the
    rounding of the float product.
    """
    exact = n_times * codec_sfreq / sfreq
    return math.floor(exact * (1 - 1e-9)), math.ceil(exact * (1 + 1e-9))


def check_token_metadata(metadata, codes, center, scale, *, where="token metadata",
                         remedy=None):
    """Check token-file metadata against its tensors, before anything is allocated from it.

    Every field is checked for type, range and agreement with the tensors: channel names
    and types (among MNE's), sampling rates in
    :data:`~mne_biocodec.preprocessing.SFREQ_RANGE` and at most
    :data:`MAX_RATE_RATIO` apart, ``n_times`` consistent with the number of frames, the
    codec description, finite centres and positive finite scales, codes within the
    codebook, dates, and, for version 2, channel locations, digitisation points,
    annotations and the measurement information.

    Parameters
    ----------
    metadata : dict
        The metadata (see the module docstring).
    codes : ndarray, shape (n_chans, n_q, n_frames)
        Unsigned integer codes.
    center, scale : ndarray, shape (n_chans,)
        Per-channel centres and scales.
    where : str, default="token metadata"
        What errors name (the file when reading one).
    remedy : str | None
        How to fix the problem, appended to errors.

    Returns
    -------
    version : int
        The metadata's format version.

    Raises
    ------
    ValueError
        If a field is missing, of the wrong type, out of range or disagrees with the
        tensors; the message names ``where`` and the field.
    """
    check = _Checker(where, remedy or "Build the metadata with make_token_metadata.")
    if not isinstance(metadata, dict):
        check.fail("the metadata", "a JSON object", got=type(metadata).__name__)
    if metadata.get("format") != FORMAT_NAME:
        check.fail("format", repr(FORMAT_NAME), metadata.get("format"))
    version = check.choice(metadata.get("format_version"), "format_version",
                           set(READ_VERSIONS))
    missing = [k for k in _REQUIRED[version] if k not in metadata]
    if missing:
        check.fail("the metadata", f"an object with the keys {list(_REQUIRED[version])}",
                   got=f"one without {missing}")
    _check_arrays(check, codes, center, scale)
    n_chans, n_q, n_frames = codes.shape
    ch_names = check.strings(metadata["ch_names"], "ch_names", n_chans, unique=True)
    types = _known_channel_types()
    for i, kind in enumerate(check.strings(metadata["ch_types"], "ch_types", n_chans)):
        if kind not in types:
            check.fail(f"ch_types[{i}]", f"an MNE channel type ({', '.join(sorted(types))})",
                       kind)
    bads = check.strings(metadata.get("bads", []), "bads", unique=True)
    unknown = [b for b in bads if b not in ch_names]
    if unknown:
        check.fail("bads", "names among ch_names", unknown)
    sfreq = check.number(metadata["sfreq"], "sfreq", *SFREQ_RANGE)
    codec_sfreq = check.number(metadata["codec_sfreq"], "codec_sfreq", *SFREQ_RANGE)
    if sfreq / codec_sfreq > MAX_RATE_RATIO:
        check.fail("sfreq / codec_sfreq", f"at most {MAX_RATE_RATIO:g}",
                   got=f"{sfreq:g} / {codec_sfreq:g}")
    codec = _check_codec_entry(check, metadata["codec"], codec_sfreq)
    check.equal(metadata["n_q"], "n_q", n_q, "the codebooks of the codes")
    if n_q > codec["n_q"]:
        check.fail("codec.n_q", f"at least the {n_q} codebooks of the codes", codec["n_q"])
    if codes.size and int(codes.max()) >= codec["codebook_size"]:
        check.fail("codes", f"below codec.codebook_size ({codec['codebook_size']})",
                   got=f"a code of {int(codes.max())}")
    if "n_frames" in metadata:
        check.equal(metadata["n_frames"], "n_frames", n_frames, "the frames of the codes")
    n_times = check.integer(metadata["n_times"], "n_times", 1, _MAX_SAMPLES)
    low, high = _codec_length_range(n_times, sfreq, codec_sfreq)
    hop = codec["hop_length"]
    if not -(-low // hop) <= n_frames <= -(-high // hop):
        most = n_frames * hop * sfreq / codec_sfreq
        check.fail("n_times", f"the length of a recording that gives the {n_frames} frames "
                              f"of the codes ({hop} codec samples per frame at "
                              f"{codec_sfreq:g} Hz; at most {most:.0f} samples at "
                              f"{sfreq:g} Hz)", n_times)
    meas_date = check.iso_datetime(metadata.get("meas_date"), "meas_date")
    check.mapping(metadata.get("extra", {}), "extra")
    if version >= 2:
        first_samp = check.integer(metadata["first_samp"], "first_samp", 0, _MAX_SAMPLES)
        if first_samp / sfreq > _MAX_SECONDS:
            check.fail("first_samp / sfreq", f"at most {_MAX_SECONDS:g} s",
                       got=f"{first_samp / sfreq:g} s")
        _check_chs(check, metadata["chs"], n_chans)
        _check_dig(check, metadata["dig"])
        _check_annotations(check, metadata["annotations"], ch_names, meas_date)
        _check_info(check, metadata["info"])
    return version


def _check_arrays(check, codes, center, scale):
    if not (isinstance(codes, np.ndarray) and codes.ndim == 3
            and np.issubdtype(codes.dtype, np.unsignedinteger) and min(codes.shape) > 0):
        check.fail("codes", "a non-empty unsigned integer array (n_chans, n_q, n_frames)",
                   got=f"{getattr(codes, 'dtype', type(codes).__name__)} "
                       f"{getattr(codes, 'shape', '')}")
    n_chans = codes.shape[0]
    for name, values in (("center", center), ("scale", scale)):
        if not (isinstance(values, np.ndarray) and values.shape == (n_chans,)
                and np.issubdtype(values.dtype, np.floating)):
            check.fail(name, f"a float array of shape ({n_chans},), one value per channel",
                       got=f"{getattr(values, 'dtype', type(values).__name__)} "
                           f"{getattr(values, 'shape', '')}")
        if not np.isfinite(values).all():
            check.fail(name, "finite", got=f"{int((~np.isfinite(values)).sum())} non-finite "
                                           "values")
    if (scale <= 0).any():
        check.fail("scale", "positive (the robust scale of each channel)",
                   got=f"{float(scale.min())!r}")


def _check_codec_entry(check, codec, codec_sfreq):
    check.mapping(codec, "codec", required=_CODEC_KEYS)
    check.string(codec["name"], "codec.name", optional=True)
    check.string(codec["modality"], "codec.modality")
    rate = check.number(codec["sample_rate"], "codec.sample_rate", *SFREQ_RANGE)
    if rate != codec_sfreq:
        check.fail("codec.sample_rate", f"codec_sfreq ({codec_sfreq:g} Hz)", rate)
    check.integer(codec["hop_length"], "codec.hop_length", 1, 2 ** 20)
    check.integer(codec["n_q"], "codec.n_q", 1, 2 ** 10)
    # Codes are stored as uint8 or uint16.
    check.integer(codec["codebook_size"], "codec.codebook_size", 2, 2 ** 16)
    check.hex_digest(codec["weights_sha256"], "codec.weights_sha256")
    check.hex_digest(codec["file_sha256"], "codec.file_sha256")
    check.string(codec["source"], "codec.source", optional=True)
    check.mapping(codec["config"], "codec.config")
    return codec


def _check_position(check, values, field, n):
    for j, value in enumerate(check.array(values, field, n)):
        if value is not None:
            check.number(value, f"{field}[{j}]")


def _check_chs(check, chs, n_chans):
    if chs is None:
        return
    units, frames = _fiff_codes("FIFF_UNIT_"), _coord_frames()
    for i, ch in enumerate(check.array(chs, "chs", n_chans)):
        field = f"chs[{i}]"
        check.mapping(ch, field, required=_CHS_KEYS, allowed=_CHS_KEYS)
        check.choice(ch["unit"], f"{field}.unit", units)
        # FIF codes kept as the reader gave them (MNE does not restrict these either).
        check.integer(ch["unit_mul"], f"{field}.unit_mul", *_INT32)
        check.integer(ch["coil_type"], f"{field}.coil_type", *_INT32)
        check.choice(ch["coord_frame"], f"{field}.coord_frame", frames)
        _check_position(check, ch["loc"], f"{field}.loc", 12)


def _check_dig(check, dig):
    kinds, frames = _fiff_codes("FIFFV_POINT_"), _coord_frames()
    for i, point in enumerate(check.array(dig, "dig")):
        field = f"dig[{i}]"
        check.mapping(point, field, required=_DIG_KEYS, allowed=_DIG_KEYS)
        # FIFFV_POINT_* mixes kinds (1-5) and cardinal idents (1-4); kinds are 1-5.
        check.choice(point["kind"], f"{field}.kind", {k for k in kinds if 1 <= k <= 5})
        check.integer(point["ident"], f"{field}.ident", *_INT32)
        check.choice(point["coord_frame"], f"{field}.coord_frame", frames)
        _check_position(check, point["r"], f"{field}.r", 3)


def _check_annotations(check, annotations, ch_names, meas_date):
    check.mapping(annotations, "annotations", required=_ANNOTATION_KEYS,
                  allowed=_ANNOTATION_KEYS)
    n = len(check.array(annotations["onset"], "annotations.onset"))
    for key in ("duration", "description", "ch_names"):
        check.array(annotations[key], f"annotations.{key}", n)
    names = set(ch_names)
    for i in range(n):
        check.number(annotations["onset"][i], f"annotations.onset[{i}]", -_MAX_SECONDS,
                     _MAX_SECONDS)
        check.number(annotations["duration"][i], f"annotations.duration[{i}]", 0.0,
                     _MAX_SECONDS)
        check.string(annotations["description"][i], f"annotations.description[{i}]")
        for name in check.strings(annotations["ch_names"][i], f"annotations.ch_names[{i}]",
                                  unique=True):
            if name not in names:
                check.fail(f"annotations.ch_names[{i}]", "names among ch_names", name)
    orig_time = check.iso_datetime(annotations["orig_time"], "annotations.orig_time")
    if orig_time is not None and meas_date is None:
        # MNE refuses to place annotations with a date in a recording without one.
        check.fail("annotations.orig_time", "null when meas_date is null",
                   annotations["orig_time"])


def _check_info(check, info):
    check.mapping(info, "info", allowed=INFO_KEYS)
    for key in ("experimenter", "description", "proj_name"):
        check.string(info.get(key), f"info.{key}", optional=True)
    if info.get("proj_id") is not None:
        check.integer(info["proj_id"], "info.proj_id", *_INT32)
    check.number(info.get("line_freq"), "info.line_freq", 0.0, SFREQ_RANGE[1], optional=True)
    # Filters as the reader gave them: decode_to_raw clips them to what the decoded
    # signal can hold.
    for key in ("highpass", "lowpass"):
        check.number(info.get(key), f"info.{key}", 0.0, SFREQ_RANGE[1], optional=True)
    if info.get("custom_ref_applied") is not None:
        check.choice(info["custom_ref_applied"], "info.custom_ref_applied", {0, 1, 2})
    subject = check.mapping(info.get("subject_info"), "info.subject_info",
                            allowed=SUBJECT_KEYS, optional=True) or {}
    for key in SUBJECT_STRINGS:
        check.string(subject.get(key), f"info.subject_info.{key}", optional=True)
    # sex and hand are codes (FIFF: 0-2 and 1-3) that some readers set to 0 for unknown.
    for key in ("id", "sex", "hand"):
        if subject.get(key) is not None:
            check.integer(subject[key], f"info.subject_info.{key}", *_INT32)
    for key in ("weight", "height"):
        check.number(subject.get(key), f"info.subject_info.{key}", optional=True)
    birthday = subject.get("birthday")
    if birthday is not None:
        try:
            date.fromisoformat(birthday)
        except (TypeError, ValueError):
            check.fail("info.subject_info.birthday", "null or an ISO date (YYYY-MM-DD)",
                       birthday)
    device = check.mapping(info.get("device_info"), "info.device_info",
                           allowed=DEVICE_KEYS, optional=True) or {}
    for key in DEVICE_KEYS:
        check.string(device.get(key), f"info.device_info.{key}", optional=True)
