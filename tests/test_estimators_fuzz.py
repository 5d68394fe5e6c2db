"""Property-based tests: whatever the estimators are given, they refuse it with a
ValueError/TypeError naming the parameter, or accept it and return the documented shape.

The hypothesis loops exercise the validation only (fit records the layout and runs no codec
forward pass; ``prepare_signals`` resamples and scales without encoding); a handful of real
transforms run outside them.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mne_biocodec import BioCodecTokenizer
from mne_biocodec.estimators.features import band_power_bands
from mne_biocodec.estimators._input import match_channels
from mne_biocodec.preprocessing import (MAX_RESAMPLE_GROWTH, MAX_RESAMPLED_BYTES,
                                        SFREQ_RANGE, check_resample_size, check_sfreq,
                                        check_signal_array, prepare_signals)

FUZZ = settings(max_examples=100, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

DTYPES = st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int32, np.uint16,
                          np.bool_, np.complex64])
SFREQS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.5, max_value=5000.0),
    st.integers(min_value=-10, max_value=10 ** 7),
    st.booleans(), st.none(), st.text(max_size=4),
    hnp.arrays(np.float64, st.integers(0, 3)),
)


def _in_range(value):
    return SFREQ_RANGE[0] <= value <= SFREQ_RANGE[1]


@st.composite
def signal_arrays(draw, max_side=5):
    """Arrays of any dtype, 1 to 5 dimensions, sides 0 to ``max_side``, maybe NaN or inf."""
    dtype = draw(DTYPES)
    # half of the shapes 3-D, so that valid input is drawn often
    shape = draw(st.one_of(
        hnp.array_shapes(min_dims=3, max_dims=3, min_side=0, max_side=max_side),
        hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=max_side)))
    X = np.ones(shape, dtype=dtype)
    if X.size and X.dtype.kind == "f" and draw(st.booleans()):
        X.flat[draw(st.integers(0, X.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
    return X


def _valid_signals(X, min_times=1):
    return (X.dtype.kind in "fiu" and X.ndim == 3 and 0 not in X.shape[:2]
            and X.shape[2] >= min_times and bool(np.all(np.isfinite(X))))


@FUZZ
@given(sfreq=SFREQS)
def test_check_sfreq(sfreq):
    try:
        value = check_sfreq(sfreq)
    except (TypeError, ValueError) as err:
        assert "sfreq" in str(err)
        valid = (not isinstance(sfreq, (bool, np.bool_)) and isinstance(sfreq, (int, float))
                 and _in_range(sfreq))
        assert not valid
    else:
        assert not isinstance(sfreq, bool) and value == float(sfreq) and _in_range(value)


@FUZZ
@given(X=signal_arrays())
def test_check_signal_array(X):
    try:
        out = check_signal_array(X, "X", ndim=3, allow_empty=False)
    except ValueError as err:
        assert str(err).startswith("X ")
        assert not _valid_signals(X)
    else:
        assert _valid_signals(X)
        assert out.shape == X.shape and out.dtype in (np.float32, np.float64)
        assert out.dtype == (np.float64 if X.dtype.kind in "iu" or X.dtype == np.float64
                             else np.float32)


@FUZZ
@given(n_in=st.integers(0, 10 ** 7), lead=st.integers(0, 10 ** 4),
       sfreq=st.floats(1.0, 1e6), target=st.floats(1.0, 1e6))
def test_check_resample_size(n_in, lead, sfreq, target):
    shape = (lead, n_in)
    out_bytes = 8 * lead * math.ceil(n_in * target / sfreq)
    bound = max(MAX_RESAMPLED_BYTES, MAX_RESAMPLE_GROWTH * 8 * lead * n_in)
    try:
        out_shape = check_resample_size(shape, sfreq, target, name="X")
    except ValueError as err:
        assert f"Resampling X of shape {shape}" in str(err) and out_bytes > bound
    else:
        assert out_shape == (lead, math.ceil(n_in * target / sfreq)) and out_bytes <= bound


@FUZZ
@given(X=signal_arrays(), sfreq=SFREQS)
def test_tokenizer_fit_validates(X, sfreq, default_codec):
    tok = BioCodecTokenizer(codec=default_codec, sfreq=sfreq)
    try:
        tok.fit(X)
    except (TypeError, ValueError) as err:
        message = str(err)
        valid = (_valid_signals(X) and isinstance(sfreq, (int, float))
                 and not isinstance(sfreq, bool) and _in_range(sfreq))
        if valid and "needed for one token frame" in message:
            # the default "tangent" output tokenises in fit: too short for one frame
            min_times = math.ceil(default_codec.hop_length * sfreq / default_codec.sample_rate)
            assert X.shape[1] > 1 and X.shape[-1] < min_times
        else:
            assert "sfreq" in message or message.startswith("X ")
            assert not valid
    else:
        assert _valid_signals(X) and tok.sfreq_ == float(sfreq)
        assert tok.n_chans_ == tok.n_features_in_ == X.shape[1]
        assert tok.output_ == ("tangent" if X.shape[1] > 1 else "bandpower")


@FUZZ
@given(n_epochs=st.integers(1, 3), n_chans=st.integers(1, 3), n_times=st.integers(1, 400),
       sfreq=st.one_of(st.sampled_from([1.0, 100.0, 160.0, 250.0, 256.0, 1000.0]),
                       st.floats(1.0, 2000.0)))
def test_prepare_signals_shape(n_epochs, n_chans, n_times, sfreq, default_codec):
    X = np.random.default_rng(n_times).standard_normal((n_epochs, n_chans, n_times)) * 1e-5
    min_times = math.ceil(default_codec.hop_length * sfreq / default_codec.sample_rate)
    try:
        scaled, center, scale = prepare_signals(X, sfreq, default_codec)
    except ValueError as err:
        assert "needed for one token frame" in str(err) and n_times < min_times
    else:
        assert n_times >= min_times
        n_codec = math.ceil(n_times * default_codec.sample_rate / sfreq)
        # MNE's polyphase path (rates whose ratio has large terms) may round the length
        assert abs(scaled.shape[-1] - n_codec) <= 1
        assert scaled.shape[:2] == center.shape[:2] == scale.shape[:2] == (n_epochs, n_chans)
        assert scaled.dtype == np.float32 and np.all(np.abs(scaled) <= 10.0)


@FUZZ
@given(names=st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=6, unique=True),
       data=st.data())
def test_match_channels(names, data):
    given_names = data.draw(st.permutations(names))
    if data.draw(st.booleans()):
        given_names = given_names[:-1] + [given_names[-1] + "_x"]
    try:
        order = match_channels(given_names, names)
    except ValueError as err:
        assert "do not match the" in str(err) and set(given_names) != set(names)
    else:
        assert [given_names[i] for i in order] == names


# -- a handful of real transforms ------------------------------------------------------------
@pytest.mark.parametrize("dtype, shape, sfreq, output", [
    (np.float64, (2, 3, 160), 160.0, "codes"),
    (np.float32, (1, 1, 100), 250.0, "auto"),
    (np.float16, (2, 2, 321), 160.0, "spatial"),
    (np.float32, (3, 3, 400), 160.0, "auto"),
    (np.int16, (1, 2, 512), 256.0, "embedding"),
    (np.float64, (1, 2, 40), 173.61, "histogram"),
])
def test_transform_shapes(dtype, shape, sfreq, output, default_codec, rng):
    X = rng.standard_normal(shape) * (1e-5 if np.dtype(dtype).kind == "f" else 100)
    tok = BioCodecTokenizer(codec=default_codec, sfreq=sfreq, output=output, n_q=2)
    Xt = tok.fit_transform(X.astype(dtype))
    n_epochs, n_chans, n_times = shape
    n_frames = default_codec.n_frames(math.ceil(n_times * default_codec.sample_rate / sfreq))
    per_channel = {"embedding": 2 * 2 * default_codec.config["codebook_dim"],
                   "histogram": 2 * default_codec.codebook_size}
    expected = {
        "codes": (n_epochs, n_chans, 2, n_frames),
        "spatial": (n_epochs, n_chans * (n_chans - 1) // 2 + n_chans),
        "tangent": (n_epochs, n_chans * (n_chans + 1) // 2),
        "bandpower": (n_epochs, n_chans * len(band_power_bands(sfreq, default_codec.sample_rate))),
    }.get(tok.output_, (n_epochs, n_chans * (per_channel.get(tok.output_, 0) + 1)))
    assert Xt.shape == expected
    assert np.all(np.isfinite(Xt))
    if tok.output_ != "codes":
        assert len(tok.get_feature_names_out()) == Xt.shape[1]


def test_one_sample_at_an_irrational_rate_does_not_crash():
    # before: MNE's polyphase design raised SIGFPE (the interpreter died) for one sample at a
    # rate whose ratio to 250 Hz has no small fraction
    from mne_biocodec.preprocessing import resample

    out = resample(np.full((2, 1, 1), 3.0), 64.72651449465297, 250.0)
    assert out.shape == (2, 1, 4) and np.all(out == 3.0)
