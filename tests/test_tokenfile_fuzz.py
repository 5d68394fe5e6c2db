"""Property-based tests of token-file reading: whatever the bytes, :func:`read_tokens` either
refuses the file with a ValueError that names it, or returns exactly what was written.

The files are crafted by hand (``tokenfile_crafting``) with 3 channels, 2 codebooks and 5
frames, so that an example takes about a millisecond; no codec runs inside these loops except
in the decoding test, which decodes 5 frames of 3 channels.
"""

import json
import math
from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mne.io.constants import FIFF

from mne_biocodec.tokens import (FORMAT_NAME, codec_sha256, decode_to_raw,
                                 metadata_annotations, read_tokens)
from tokenfile_crafting import read_parts, write_token_file

# n_times samples at SFREQ are ceil(n_times * 2.5) codec samples, i.e. 5 frames of HOP
# for n_times in 20..24.
N_CHANS, N_Q, N_FRAMES, HOP = 3, 2, 5, 12
SFREQ, CODEC_SFREQ = 100.0, 250.0
VALID_N_TIMES = (20, 21, 22, 23, 24)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

FINITE = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=12)
NAME = st.text(min_size=1, max_size=8)
INT32 = st.integers(-2 ** 31, 2 ** 31 - 1)
DATES = st.datetimes(min_value=datetime(1902, 1, 1), max_value=datetime(2037, 12, 31),
                     timezones=st.just(timezone.utc)).map(datetime.isoformat)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | FINITE | TEXT,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


def _codes(prefix):
    return sorted({int(v) for k, v in FIFF.items() if k.startswith(prefix)})


FRAMES = _codes("FIFFV_COORD_") + _codes("FIFFV_MNE_COORD_")


def base_metadata(codebook_size=16, codec_n_q=4, weights_sha256=None):
    return {
        "format": FORMAT_NAME, "format_version": 2, "mne_biocodec_version": "fuzz",
        "ch_names": ["C3", "Cz", "C4"], "ch_types": ["eeg"] * N_CHANS, "bads": [],
        "sfreq": SFREQ, "n_times": 22, "first_samp": 0, "meas_date": None,
        "codec_sfreq": CODEC_SFREQ, "n_q": N_Q, "n_frames": N_FRAMES,
        "units": {"center": "uV", "scale": "uV"},
        "codec": {"name": "tiny", "modality": "eeg", "sample_rate": CODEC_SFREQ,
                  "hop_length": HOP, "n_q": codec_n_q, "codebook_size": codebook_size,
                  "weights_sha256": weights_sha256, "file_sha256": None, "source": None,
                  "config": {}},
        "chs": None, "dig": [],
        "annotations": {"onset": [], "duration": [], "description": [], "ch_names": [],
                        "orig_time": None},
        "info": {"subject_info": None, "experimenter": None, "description": None,
                 "proj_name": None, "proj_id": None, "line_freq": None, "highpass": None,
                 "lowpass": None, "custom_ref_applied": 0, "device_info": None},
        "extra": {},
    }


def base_tensors():
    codes = (np.arange(N_CHANS * N_Q * N_FRAMES) % 16).astype(np.uint8)
    return {"codes": codes.reshape(N_CHANS, N_Q, N_FRAMES),
            "center": np.array([1.5, -2.0, 0.25]), "scale": np.array([3.0, 4.0, 0.5])}


def _position(n):
    return st.lists(st.none() | FINITE, min_size=n, max_size=n)


@st.composite
def valid_metadata(draw, **base):
    """Random metadata that agrees with :func:`base_tensors`."""
    meta = base_metadata(**base)
    names = draw(st.lists(NAME, min_size=N_CHANS, max_size=N_CHANS, unique=True))
    meas_date = draw(st.none() | DATES)
    n = draw(st.integers(0, 4))
    meta.update(
        ch_names=names,
        ch_types=draw(st.lists(st.sampled_from(["eeg", "emg", "eog", "ecg", "misc", "stim"]),
                               min_size=N_CHANS, max_size=N_CHANS)),
        bads=draw(st.lists(st.sampled_from(names), unique=True)),
        n_times=draw(st.sampled_from(VALID_N_TIMES)),
        first_samp=draw(st.integers(0, 10 ** 11)),
        meas_date=meas_date,
        chs=draw(st.none() | st.lists(st.fixed_dictionaries({
            "unit": st.sampled_from(_codes("FIFF_UNIT_")),
            "unit_mul": INT32, "coil_type": INT32,
            "coord_frame": st.sampled_from(FRAMES), "loc": _position(12)}),
            min_size=N_CHANS, max_size=N_CHANS)),
        dig=draw(st.lists(st.fixed_dictionaries({
            "kind": st.integers(1, 5), "ident": INT32,
            "coord_frame": st.sampled_from(FRAMES), "r": _position(3)}),
            max_size=3)),
        annotations={
            "onset": draw(st.lists(st.floats(-1e9, 1e9), min_size=n, max_size=n)),
            "duration": draw(st.lists(st.floats(0, 1e6), min_size=n, max_size=n)),
            "description": draw(st.lists(TEXT, min_size=n, max_size=n)),
            "ch_names": draw(st.lists(st.lists(st.sampled_from(names), unique=True),
                                      min_size=n, max_size=n)),
            "orig_time": meas_date if meas_date and draw(st.booleans()) else None},
        info={
            "subject_info": draw(st.none() | st.fixed_dictionaries({}, optional={
                "id": INT32, "his_id": TEXT, "last_name": TEXT, "first_name": TEXT,
                "sex": INT32, "hand": INT32,
                "weight": FINITE, "height": FINITE,
                "birthday": st.dates().map(lambda d: d.isoformat())})),
            "experimenter": draw(st.none() | TEXT), "description": draw(st.none() | TEXT),
            "proj_name": draw(st.none() | TEXT), "proj_id": draw(st.none() | INT32),
            "line_freq": draw(st.none() | st.sampled_from([50.0, 60.0])),
            # Any filter (even above Nyquist): decoding clips them.
            "highpass": draw(st.none() | st.floats(0, 1e6)),
            "lowpass": draw(st.none() | st.floats(0, 1e6)),
            "custom_ref_applied": draw(st.sampled_from([0, 1, 2])),
            "device_info": draw(st.none() | st.fixed_dictionaries({}, optional={
                "type": TEXT, "model": TEXT, "serial": TEXT, "site": TEXT}))},
        extra=draw(st.dictionaries(TEXT, JSON, max_size=3)),
    )
    return meta


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def base_file(folder):
    return write_token_file(folder / "base.bctok", base_metadata(), base_tensors())


def _same(tokens, metadata, expected_metadata, tensors):
    np.testing.assert_array_equal(tokens.codes[0], tensors["codes"])
    np.testing.assert_array_equal(tokens.center[0, :, 0], tensors["center"])
    np.testing.assert_array_equal(tokens.scale[0, :, 0], tensors["scale"])
    assert metadata == expected_metadata


def _refused_or_same(path, expected_metadata, tensors):
    """Read ``path``: a ValueError that names it, or exactly the expected content."""
    try:
        tokens, metadata = read_tokens(path)
    except ValueError as err:
        assert str(path) in str(err)
        return False
    _same(tokens, metadata, expected_metadata, tensors)
    return True


@settings(max_examples=80, **SETTINGS)
@given(meta=valid_metadata())
def test_valid_metadata_round_trips(folder, meta):
    path = write_token_file(folder / "valid.bctok", meta, base_tensors())
    tokens, metadata = read_tokens(path)
    _same(tokens, metadata, meta, base_tensors())
    annotations = metadata_annotations(metadata)
    assert len(annotations) == len(meta["annotations"]["onset"])
    # mne.Annotations sorts by onset.
    assert (sorted(map(tuple, annotations.ch_names))
            == sorted(map(tuple, meta["annotations"]["ch_names"])))


@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_truncated_files_are_refused(folder, base_file, data):
    content = base_file.read_bytes()
    cut = data.draw(st.integers(0, len(content) - 1))
    path = folder / "truncated.bctok"
    path.write_bytes(content[:cut])
    with pytest.raises(ValueError) as err:
        read_tokens(path)
    assert str(path) in str(err.value)


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_bit_flips_are_refused_or_harmless(folder, base_file, data):
    content = bytearray(base_file.read_bytes())
    position = data.draw(st.integers(0, len(content) - 1))
    content[position] ^= 1 << data.draw(st.integers(0, 7))
    path = folder / "flipped.bctok"
    path.write_bytes(bytes(content))
    _refused_or_same(path, base_metadata(), base_tensors())


NAN, INF = math.nan, math.inf
# (path in the metadata, invalid value[, other top-level values that make it invalid])
INVALID = [
    (("n_times",), 0), (("n_times",), -22), (("n_times",), 22.5), (("n_times",), 22.0),
    (("n_times",), 30_000_000), (("n_times",), 3e7), (("n_times",), 2 ** 70),
    (("n_times",), True), (("n_times",), "22"), (("n_times",), None), (("n_times",), 19),
    (("n_times",), 25),
    (("sfreq",), 0), (("sfreq",), 1e-9), (("sfreq",), NAN), (("sfreq",), INF),
    (("sfreq",), -100.0), (("sfreq",), True), (("sfreq",), "100"), (("sfreq",), 1e7),
    (("codec_sfreq",), 0.0), (("codec_sfreq",), NAN), (("codec_sfreq",), 0.001),
    (("codec",), None), (("codec",), {}), (("codec",), []),
    (("codec", "hop_length"), 0), (("codec", "hop_length"), 1.5),
    (("codec", "sample_rate"), 100.0), (("codec", "codebook_size"), 1),
    (("codec", "codebook_size"), 8), (("codec", "codebook_size"), 2 ** 20),
    (("codec", "n_q"), 1), (("codec", "weights_sha256"), "abc"),
    (("codec", "config"), None),
    (("ch_types",), ["eeg", "brainwaves", "eeg"]), (("ch_types",), ["eeg", "eeg"]),
    (("ch_types",), None), (("ch_names",), ["a", "a", "b"]), (("ch_names",), ["a", 1, "b"]),
    (("ch_names",), ["a", "", "b"]), (("ch_names",), "abc"), (("bads",), ["nope"]),
    (("bads",), "C3"), (("meas_date",), 12345), (("meas_date",), "yesterday"),
    (("meas_date",), "2020-01-01T00:00:00"), (("meas_date",), "2100-01-01T00:00:00+00:00"),
    (("first_samp",), -1), (("first_samp",), 0.5), (("first_samp",), None),
    (("first_samp",), 2 ** 53),
    (("chs",), []), (("chs",), "x"),
    (("chs",), [{"unit": 107, "unit_mul": 0, "coil_type": 1, "coord_frame": 4,
                 "loc": [0.0] * 11}] * 3),
    (("chs",), [{"unit": 99999, "unit_mul": 0, "coil_type": 1, "coord_frame": 4,
                 "loc": [0.0] * 12}] * 3),
    (("chs",), [{"unit": 107, "unit_mul": 0, "coil_type": 1, "coord_frame": 4,
                 "loc": [NAN] * 12}] * 3),
    (("chs",), [{"unit": 107, "unit_mul": 0, "coil_type": 1, "coord_frame": 77,
                 "loc": [0.0] * 12}] * 3),
    (("chs",), [{"unit": 107, "unit_mul": 0.5, "coil_type": 1, "coord_frame": 4,
                 "loc": [0.0] * 12}] * 3),
    (("dig",), [{"kind": 99, "ident": 1, "coord_frame": 4, "r": [0.0, 0.0, 0.0]}]),
    (("dig",), [{"kind": 3, "ident": 1, "coord_frame": 4, "r": [0.0, INF, 0.0]}]),
    (("dig",), None),
    (("annotations",), None),
    (("annotations",), {"onset": [NAN], "duration": [0.0], "description": ["x"],
                        "ch_names": [[]], "orig_time": None}),
    (("annotations",), {"onset": [1.0], "duration": [-1.0], "description": ["x"],
                        "ch_names": [[]], "orig_time": None}),
    (("annotations",), {"onset": [1e300], "duration": [0.0], "description": ["x"],
                        "ch_names": [[]], "orig_time": None}),
    (("annotations",), {"onset": [1.0, 2.0], "duration": [0.0], "description": ["x"],
                        "ch_names": [[]], "orig_time": None}),
    (("annotations",), {"onset": [1.0], "duration": [0.0], "description": ["x"],
                        "ch_names": [["O1"]], "orig_time": None}),
    # A date for the annotations but none for the recording.
    (("annotations", "orig_time"), "2020-01-01T00:00:00+00:00", {"meas_date": None}),
    (("info",), None), (("info",), {"nope": 1}), (("info", "line_freq"), -50.0),
    (("info", "highpass"), NAN), (("info", "lowpass"), -1.0), (("info", "proj_id"), "x"),
    (("info", "subject_info"), {"birthday": "x"}), (("info", "subject_info"), {"nope": 1}),
    (("info", "subject_info"), {"weight": INF}), (("info", "device_info"), {"type": 3}),
    (("info", "subject_info"), {"hand": 2 ** 40}), (("info", "subject_info"), {"sex": "F"}),
    (("format_version",), 3), (("format_version",), 1), (("format",), "other"),
    (("n_q",), 5), (("n_frames",), 6), (("extra",), []),
]


def _set(metadata, path, value):
    target = metadata
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@settings(max_examples=120, **SETTINGS)
@given(meta=valid_metadata(), mutation=st.sampled_from(INVALID))
def test_invalid_metadata_is_refused(folder, meta, mutation):
    path, value, *also = mutation
    _set(meta, path, value)
    meta.update(*also)
    bad = write_token_file(folder / "invalid.bctok", meta, base_tensors())
    with pytest.raises(ValueError) as err:
        read_tokens(bad)
    assert str(bad) in str(err.value)
    # The message names the field (the first key of its path).
    assert path[0] in str(err.value)


def _paths(value, prefix=()):
    """Every path into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, prefix + (i,))


@settings(max_examples=120, **SETTINGS)
@given(meta=valid_metadata(), data=st.data())
def test_random_metadata_changes_are_refused_or_kept(folder, meta, data):
    path = data.draw(st.sampled_from([p for p in _paths(meta) if p]))
    if data.draw(st.booleans()) and isinstance(path[-1], str):
        target = meta
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    else:
        _set(meta, path, data.draw(JSON))
    changed = write_token_file(folder / "changed.bctok", meta, base_tensors())
    _refused_or_same(changed, json.loads(json.dumps(meta)), base_tensors())


TENSOR_CHANGES = [
    ("scale", lambda t: np.array([3.0, NAN, 0.5])), ("scale", lambda t: np.array([3.0, 0.0, 1])),
    ("scale", lambda t: np.array([-3.0, 1.0, 1.0])), ("scale", lambda t: np.full(3, INF)),
    ("scale", lambda t: np.ones(2)), ("scale", lambda t: np.ones((3, 1))),
    ("center", lambda t: np.array([NAN, 0.0, 0.0])), ("center", lambda t: np.ones(4)),
    ("center", lambda t: np.ones(3, dtype=np.int64)),
    ("codes", lambda t: np.full_like(t, 200)), ("codes", lambda t: t.astype(np.int16)),
    ("codes", lambda t: t.astype(np.float32)), ("codes", lambda t: t[:, :, :4]),
    ("codes", lambda t: t[:2]), ("codes", lambda t: t[:, :1]), ("codes", lambda t: t[0]),
]


@settings(max_examples=40, **SETTINGS)
@given(meta=valid_metadata(), change=st.sampled_from(TENSOR_CHANGES))
def test_invalid_tensors_are_refused(folder, meta, change):
    name, function = change
    tensors = base_tensors()
    tensors[name] = function(tensors[name])
    bad = write_token_file(folder / "tensors.bctok", meta, tensors)
    with pytest.raises(ValueError) as err:
        read_tokens(bad)
    assert str(bad) in str(err.value)


@settings(max_examples=30, **SETTINGS)
@given(meta=valid_metadata(), data=st.data())
def test_stale_checksum_is_refused(folder, meta, data):
    """A file edited without updating its checksum is refused as damaged."""
    from safetensors.numpy import save_file

    base = write_token_file(folder / "stale.bctok", meta, base_tensors())
    header, _, tensors = read_parts(base)
    meta["mne_biocodec_version"] = data.draw(TEXT.filter(lambda t: t != "fuzz"))
    # The old digest with new metadata: what an editor that ignores the digest leaves.
    save_file(tensors, str(base), metadata=dict(header, metadata=json.dumps(meta)))
    with pytest.raises(ValueError, match="is damaged: checksum mismatch") as err:
        read_tokens(base)
    assert str(base) in str(err.value)


@settings(max_examples=20, **SETTINGS)
@given(data=st.data())
def test_valid_files_decode(folder, parity_codec, data):
    """Whatever passes the checks decodes: MNE takes every restored field."""
    meta = data.draw(valid_metadata(codebook_size=parity_codec.codebook_size,
                                    codec_n_q=parity_codec.n_q,
                                    weights_sha256=_parity_sha(parity_codec)))
    path = write_token_file(folder / "decode.bctok", meta, base_tensors())
    tokens, metadata = read_tokens(path)
    raw = decode_to_raw(tokens, metadata, parity_codec)
    assert raw.ch_names == meta["ch_names"] and raw.info["bads"] == meta["bads"]
    assert raw.get_data().shape == (N_CHANS, meta["n_times"])
    assert raw.first_samp == meta["first_samp"]
    assert raw.info["meas_date"] == (None if meta["meas_date"] is None
                                     else datetime.fromisoformat(meta["meas_date"]))
    assert len(raw.annotations) <= len(meta["annotations"]["onset"])


_SHA = {}


def _parity_sha(codec):
    if id(codec) not in _SHA:
        _SHA[id(codec)] = codec_sha256(codec)
    return _SHA[id(codec)]
