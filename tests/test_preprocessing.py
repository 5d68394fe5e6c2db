"""Resampling to and from the codec rate keeps signals in place; inputs are checked first."""

import numpy as np
import pytest

from mne_biocodec.preprocessing import (SFREQ_RANGE, check_resample_size, check_sfreq,
                                        check_signal_array, resample)


@pytest.mark.parametrize("sfreq", [160.0, 173.61, 256.0, 500.0])
@pytest.mark.parametrize("freq", [10.0, 60.0])
def test_resample_round_trip_has_no_shift(sfreq, freq):
    # MNE's FFT method with npad="auto" moved a 60 Hz sine by a fraction of a sample on the
    # way 250 -> 160 Hz (round-trip r 0.38); the polyphase filter must not.
    t = np.arange(int(4 * sfreq)) / sfreq
    x = np.sin(2 * np.pi * freq * t + 0.3)
    up = resample(x, sfreq, 250.0)
    assert abs(up.shape[-1] - len(x) * 250.0 / sfreq) <= 1
    back = resample(up, 250.0, sfreq)[: len(x)]
    core = slice(50, -50)
    assert np.corrcoef(x[core], back[core])[0, 1] > 0.999
    assert np.abs(x[core] - back[core]).max() < 0.02
    assert resample(x, sfreq, sfreq) is x


@pytest.mark.parametrize("sfreq, error, match", [
    (True, TypeError, "rate must be a sampling rate in Hz .*got True of type bool"),
    (np.bool_(False), TypeError, "of type bool"),
    (None, TypeError, "got None of type NoneType"),
    (np.zeros(3), TypeError, r"got ndarray of shape \(3,\)"),
    (0, ValueError, "rate must be a positive, finite sampling rate in Hz; got 0"),
    (np.inf, ValueError, "positive, finite"),
    (0.999, ValueError, r"rate=0.999 Hz is outside the supported range 1 to 1e\+06 Hz"),
    (1.5e6, ValueError, "outside the supported range"),
])
def test_check_sfreq_refuses(sfreq, error, match):
    with pytest.raises(error, match=match):
        check_sfreq(sfreq, name="rate")


def test_check_sfreq_accepts_numbers():
    assert check_sfreq(np.float32(160.0)) == 160.0 and type(check_sfreq(160)) is float
    assert check_sfreq(SFREQ_RANGE[0]) == 1.0 and check_sfreq(SFREQ_RANGE[1]) == 1e6


def test_check_resample_size_bounds_the_result():
    # 8 epochs x 4 channels x 2 s at 0.001 Hz -> 250 Hz: the 22 GiB request of issue 18
    with pytest.raises(ValueError, match=r"Resampling X of shape \(8, 4, 321\) \(7.65e-05 GiB "
                                         r"in float64\) from 0.001 Hz to 250 Hz would make an "
                                         r"array of shape \(8, 4, 80250000\) \(19.1 GiB\), "
                                         r"above the 4 GiB bound"):
        check_resample_size((8, 4, 321), 1e-3, 250.0)
    assert check_resample_size((8, 4, 321), 160.0, 250.0) == (8, 4, 502)
    # large inputs at ordinary ratios pass: the bound grows with the input (8 times)
    assert check_resample_size((1000, 64, 10 ** 5), 160.0, 1000.0) == (1000, 64, 625000)
    with pytest.raises(ValueError, match=r"\(477 GiB\), above the 381 GiB bound"):
        check_resample_size((1000, 64, 10 ** 5), 100.0, 1000.0)
    with pytest.raises(ValueError, match=r"Resampling data of shape \(2, 10000000\)"):
        resample(np.zeros((2, 10 ** 7), dtype=np.float32), 1.0, 250.0)


def test_check_signal_array_dtypes_and_empty_axes():
    half = np.full((1, 2, 8), 1e-4, dtype=np.float16)
    out = check_signal_array(half)
    assert out.dtype == np.float32 and np.all(np.isfinite(out * 1e6))
    assert check_signal_array(np.ones((1, 2, 8), dtype=np.int16)).dtype == np.float64
    assert check_signal_array(np.ones((0, 2, 8))).shape == (0, 2, 8)  # allowed by default
    with pytest.raises(ValueError, match=r"sig is empty: n_chans is 0 \(shape \(1, 0, 8\)\)"):
        check_signal_array(np.ones((1, 0, 8)), "sig", allow_empty=False)
    with pytest.raises(ValueError, match=r"sig is empty: n_chans is 0 \(shape \(0, 8\)\)"):
        check_signal_array(np.ones((0, 8)), "sig", ndim=2, allow_empty=False)
    with pytest.raises(ValueError, match="sig must be a numeric array; could not convert list"):
        check_signal_array([[[0.0, 1.0]], [[0.0]]], "sig")
    with pytest.raises(ValueError, match="sig must hold real floating-point samples; got "
                                         "dtype complex64"):
        check_signal_array(np.ones((1, 1, 4), dtype=np.complex64), "sig")


def test_resample_of_very_short_signals():
    # scipy's reflect padding of one sample killed the process (SIGFPE): 1 sample at 10 Hz
    # is long enough for one token frame at 250 Hz
    one = resample(np.full((2, 1), 3.0), 10.0, 250.0)
    assert one.shape == (2, 25) and np.allclose(one, 3.0, atol=0.05)
    # MNE's path (ratio with terms above 4096) failed to design its filter when the lengths
    # match ("Invalid cutoff frequency"): nothing is resampled then
    x = np.arange(13.0)
    np.testing.assert_array_equal(resample(x, 250.0001, 250.0), x)
    assert resample(x, 173.61, 250.0).shape == (19,)
