"""DCT transform-coder baseline and the fidelity benchmark that compares it with the codec."""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mne_biocodec.baselines import (dct_codec_roundtrip, dequantize, empirical_entropy,
                                    quantize)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sinusoids(rng):
    """Eight 5-s segments at 250 Hz: three sinusoids each plus a little noise."""
    t = np.arange(1250) / 250.0
    freqs = rng.uniform(1.0, 40.0, size=(8, 3, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(8, 3, 1))
    amps = np.array([1.0, 0.5, 0.25])[None, :, None]
    x = (amps * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1)
    return x + 0.05 * rng.standard_normal(x.shape)


def _snr_db(x, y):
    return 10 * np.log10(np.sum(x ** 2) / np.sum((x - y) ** 2))


def test_empirical_entropy_known_values():
    assert empirical_entropy([3, 3, 3, 3]) == 0.0
    assert empirical_entropy([0, 1, 2, 3]) == pytest.approx(2.0)
    assert empirical_entropy([0, 0, 0, 1]) == pytest.approx(
        -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    rows = empirical_entropy(np.array([[0, 0, 1, 1], [5, 6, 7, 8]]), axis=-1)
    np.testing.assert_allclose(rows, [1.0, 2.0])
    cols = empirical_entropy(np.array([[0, 5], [0, 6], [1, 7], [1, 8]]), axis=0)
    np.testing.assert_allclose(cols, [1.0, 2.0])
    assert empirical_entropy(np.array([1.0, 2.0])) == pytest.approx(1.0)


def test_empirical_entropy_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        empirical_entropy([])
    with pytest.raises(ValueError, match="must be integers"):
        empirical_entropy([0.5, 1.0])


def test_quantizer_deadzone_widens_zero_bin():
    c = np.array([-1.6, -0.6, -0.4, 0.0, 0.4, 0.6, 1.4, 1.6])
    np.testing.assert_array_equal(quantize(c, 1.0), [-2, -1, 0, 0, 0, 1, 1, 2])
    q = quantize(c, 1.0, deadzone=0.25)  # zero bin |c| < 0.75
    np.testing.assert_array_equal(q, [-1, 0, 0, 0, 0, 0, 1, 1])
    np.testing.assert_allclose(dequantize(q, 1.0, deadzone=0.25),
                               [-1.25, 0, 0, 0, 0, 0, 1.25, 1.25])


@pytest.mark.parametrize("rate_control", ["segment", "global"])
@pytest.mark.parametrize("bits", [0.5, 1.0, 2.0, 4.0])
def test_dct_codec_meets_target_rate(sinusoids, bits, rate_control):
    rec, achieved, details = dct_codec_roundtrip(sinusoids, bits, rate_control=rate_control,
                                                 return_details=True)
    assert rec.shape == sinusoids.shape
    assert abs(achieved - bits) < 0.1
    if rate_control == "segment":
        np.testing.assert_allclose(details["bits"], bits, atol=0.1)
    else:
        assert np.ptp(details["step"]) == 0  # one step for all segments


def test_dct_codec_more_bits_higher_snr(sinusoids):
    snrs = []
    for bits in (0.5, 1.0, 2.0, 3.0, 4.0, 6.0):
        rec, _ = dct_codec_roundtrip(sinusoids, bits, block=50)
        snrs.append(_snr_db(sinusoids, rec))
    assert np.all(np.diff(snrs) > 0), snrs
    assert snrs[-1] > 30  # 6 bit/sample of a smooth signal is nearly transparent


def test_dct_codec_blocks_and_deadzone(sinusoids):
    # a partial last block (1250 = 19 * 64 + 34) still gives one coefficient per sample, and
    # a very fine step reconstructs the signal almost exactly
    rec, achieved = dct_codec_roundtrip(sinusoids, 9.0, block=64)
    assert achieved > 8.5
    np.testing.assert_allclose(rec, sinusoids, atol=1e-2)
    _, _, plain = dct_codec_roundtrip(sinusoids, 1.0, return_details=True)
    _, achieved_dz, dead = dct_codec_roundtrip(sinusoids, 1.0, deadzone=0.3,
                                               return_details=True)
    assert abs(achieved_dz - 1.0) < 0.1
    # at equal entropy a deadzone quantiser zeroes more coefficients (with a finer step)
    assert dead["zero_fraction"].mean() > plain["zero_fraction"].mean()
    assert np.all(dead["step"] < plain["step"])
    # silent segments cost nothing and come back silent
    rec0, bits0 = dct_codec_roundtrip(np.zeros((2, 100)), 2.0)
    assert bits0 == 0.0 and not rec0.any()


@pytest.mark.parametrize("kwargs, match", [
    ({"x": np.zeros(100)}, "2-D"),
    ({"x": np.zeros((0, 100))}, "at least one segment"),
    ({"x": np.full((2, 100), np.nan)}, "NaN or infinite"),
    ({"bits_per_sample": 0.0}, "bits_per_sample must be a positive"),
    ({"bits_per_sample": float("inf")}, "bits_per_sample must be a positive"),
    ({"block": 0}, "block must be a positive integer"),
    ({"block": 8.5}, "block must be a positive integer"),
    ({"deadzone": 0.7}, r"deadzone must be a number in \[0, 0.5\]"),
    ({"rate_control": "frame"}, "rate_control must be"),
])
def test_dct_codec_rejects_bad_input(kwargs, match):
    args = {"x": np.ones((2, 100)), "bits_per_sample": 2.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        dct_codec_roundtrip(**args)


def _load_fidelity_module():
    spec = importlib.util.spec_from_file_location(
        "fidelity_benchmark", REPO_ROOT / "benchmarks" / "fidelity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_fidelity_benchmark_runs(parity_dir, data_root, tmp_path):
    import torch

    fidelity = _load_fidelity_module()
    out, plot = tmp_path / "fidelity.json", tmp_path / "fidelity.png"
    threads = torch.get_num_threads()
    returned = fidelity.main([
        "--codec", str(parity_dir / "weights.safetensors"), "--out", str(out),
        "--plot", str(plot), "--max-segments", "40", "--datasets", "bonn,dreams",
        "--n-q", "1,6", "--dct-bits", "1", "--threads", str(threads), "--device", "cpu",
        "--quiet"])
    assert torch.get_num_threads() == threads
    assert plot.stat().st_size > 1000
    results = json.loads(out.read_text())
    assert results["codec_results"] == json.loads(json.dumps(returned["codec_results"]))
    assert {"codec", "data", "codec_results", "dct", "codebook_usage", "timing"} <= set(results)
    assert len(results["codec"]["sha256"]) == 64
    assert results["data"]["n_segments"]["all"] == 40
    assert set(results["data"]["n_segments"]) == {"all", "bonn", "dreams"}
    assert [e["n_q"] for e in results["codec_results"]] == [1, 6]
    full = results["codec_results"][-1]
    assert full["bitrate_bps"] == pytest.approx(1000.0, rel=1e-3)
    assert full["bits_per_sample"] == pytest.approx(4.0, rel=1e-3)
    for entry in results["codec_results"]:
        for group in ("all", "bonn", "dreams"):
            m = entry["metrics"][group]
            assert -1.0 <= m["pearson_r"]["mean"] <= 1.0
            assert m["prd"]["mean"] >= 0 and m["nmse"]["mean"] >= 0
            assert math.isfinite(m["si_sdr"]["median"])
    # the DCT runs at the codec's rates (2/3 and 4 bit/sample) and at 1 bit/sample
    dct = results["dct"]["results"]
    assert [round(e["target_bits_per_sample"], 3) for e in dct] == [0.667, 1.0, 4.0]
    for e in dct:
        assert abs(e["bits_per_sample"] - e["target_bits_per_sample"]) < 0.1
    # a DCT coder at 4 bit/sample is close to transparent on robust-scaled EEG
    assert dct[-1]["metrics"]["all"]["pearson_r"]["mean"] > 0.99
    usage = results["codebook_usage"]
    assert usage["n_q"] == 6 and len(usage["codebooks"]) == 6
    for u in usage["codebooks"]:
        assert 0 <= u["entropy_bits"] <= 8
        assert u["perplexity"] == pytest.approx(2 ** u["entropy_bits"])
        assert u["dead_codes"] + u["used_codes"] == 256
    assert results["timing"]["total_s"] > 0
