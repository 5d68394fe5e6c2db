"""The default token path gives the eager weight-norm codes exactly; the speed benchmark runs."""

import mne
import numpy as np
import pytest
import torch

from mne_biocodec.data import sample_path
from mne_biocodec.preprocessing import prepare_signals
from mne_biocodec.tokens import decode, encode

@pytest.fixture(scope="module")
def held_out_segments(default_codec):
    """24 normalised 5-s segments of the shipped held-out recording (eegmmidb S004R04)."""
    raw = mne.io.read_raw_edf(sample_path(), preload=True, verbose="error")
    scaled = prepare_signals(raw.get_data(picks=[8, 10, 12, 40])[None], 160.0,
                             default_codec)[0][0]
    return np.ascontiguousarray(scaled[:, : 6 * 1250].reshape(24, 1250))


def test_default_path_equals_eager_weight_norm_forward(default_codec, held_out_segments):
    x = torch.from_numpy(held_out_segments).unsqueeze(1)
    with torch.no_grad():  # the reference implementation's way: weight norm at every call
        eager_codes = default_codec.encode(x)
        eager_signal = default_codec.decode(eager_codes)
    codes = encode(default_codec, held_out_segments, batch_size=7)
    np.testing.assert_array_equal(codes, eager_codes.numpy())
    # Decoded signals: bit for bit in one batch; other batch sizes round differently (1 ulp).
    np.testing.assert_array_equal(decode(default_codec, codes, batch_size=24),
                                  eager_signal[:, 0].numpy())
    np.testing.assert_allclose(decode(default_codec, codes, batch_size=5),
                               eager_signal[:, 0].numpy(), rtol=0, atol=2e-6)


@pytest.fixture(scope="module")
def speed(load_script):
    """The benchmark module ``benchmarks/speed.py``."""
    return load_script("benchmarks/speed.py")


def test_folded_weight_norm_is_exact(default_codec, held_out_segments, speed):
    # Folding is an exact candidate of the benchmark (it was measured not to pay off).
    folded = speed._folded(default_codec)
    assert not any(hasattr(m, "parametrizations") for m in folded.modules())
    assert any(hasattr(m, "parametrizations") for m in default_codec.modules())
    codes = encode(default_codec, held_out_segments)
    np.testing.assert_array_equal(encode(folded, held_out_segments), codes)
    np.testing.assert_array_equal(decode(folded, codes),
                                  decode(default_codec, codes))


def test_speed_benchmark_runs(speed):
    result = speed.run(batches=(4,), threads=(1,), repeats=1, agreement_segments=8,
                       memory=False, candidates=True)
    flops = result["flops_per_channel_second"]
    # ~49 MFLOP of convolutions and ~44 of LSTM per channel-second: the reference EEG
    # encoder's layer sizes (BioCodec, arXiv:2510.09095) counted by the speed benchmark.
    assert 85e6 < flops["encode"] < 100e6 and 40e6 < flops["encode_lstm"] < 48e6
    rows = {(r["op"], r["path"]): r for r in result["rows"]}
    assert set(rows) >= {("encode", "eager"), ("encode", "default"), ("decode", "default"),
                         ("encode+decode", "default"), ("encode", "folded")}
    assert rows[("encode", "eager")]["ratio_vs_eager"] == 1.0
    assert all(r["channel_seconds_per_s"] > 0 and 0 < r["fraction_of_peak"] for r in rows.values())
    for candidate in result["candidates"].values():
        assert 0.5 < candidate["token_agreement"] <= 1.0
        assert candidate["kept"] == (candidate["token_agreement"] >= 0.999)
