"""Resampling to and from the codec rate keeps signals in place."""

import numpy as np
import pytest

from mne_biocodec.preprocessing import resample


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
