"""The codec computes what the reference BioCodec implementation computes."""

import json

import numpy as np
import pytest
import torch

from mne_biocodec import load_codec
from mne_biocodec.codec import CodecLoss, reconstruction_metrics

ATOL = RTOL = 1e-5  # the fixture README's suggested tolerance (10x the observed noise)


@torch.no_grad()
def test_codes_match_reference_exactly(parity_codec, parity_input, parity_dir):
    codes = parity_codec.encode(parity_input)
    expected = np.load(parity_dir / "codes.npy")
    assert codes.dtype == torch.int64
    assert codes.shape == (16, 6, 105)
    np.testing.assert_array_equal(codes.numpy(), expected)


@torch.no_grad()
@pytest.mark.parametrize("name", ["recon", "latent", "quantized", "forward"])
def test_floats_match_reference(parity_codec, parity_input, parity_dir, name):
    codes = torch.from_numpy(np.load(parity_dir / "codes.npy"))
    outputs = {
        "recon": lambda: parity_codec.decode(parity_codec.encode(parity_input)),
        "latent": lambda: parity_codec.encoder(parity_input),
        "quantized": lambda: parity_codec.quantizer.decode(codes),
        "forward": lambda: parity_codec(parity_input)[0],
    }
    got = outputs[name]().numpy()
    expected = np.load(parity_dir / f"{name}.npy")
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=RTOL)


@torch.no_grad()
def test_random_codes_decode_like_reference(parity_codec, parity_dir):
    codes = torch.from_numpy(np.load(parity_dir / "random_codes.npy"))
    got = parity_codec.decode(codes).numpy()
    np.testing.assert_allclose(got, np.load(parity_dir / "random_codes_decoded.npy"),
                               atol=ATOL, rtol=RTOL)


@torch.no_grad()
def test_rms_normalised_variant(parity_dir, parity_input):
    codec = load_codec(parity_dir / "weights.safetensors", device="cpu",
                       config={"normalize": True})
    codes, scale = codec.encode_with_scale(parity_input)
    np.testing.assert_array_equal(codes.numpy(), np.load(parity_dir / "codes_rmsnorm.npy"))
    np.testing.assert_allclose(scale.numpy(), np.load(parity_dir / "scales_rmsnorm.npy"),
                               atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(codec.decode(codes, scale).numpy(),
                               np.load(parity_dir / "recon_rmsnorm.npy"), atol=ATOL, rtol=RTOL)


@torch.no_grad()
def test_loss_and_metrics_match_reference(parity_dir, parity_input):
    expected = json.loads((parity_dir / "config.json").read_text())[
        "eval_total_loss_input_vs_forward"]
    forward = torch.from_numpy(np.load(parity_dir / "forward.npy"))
    parts = CodecLoss()(parity_input, forward)
    assert float(parts["l_t"]) == pytest.approx(expected["l_t"], rel=1e-5)
    assert float(parts["l_f"]) == pytest.approx(expected["l_f"], rel=1e-5)
    metrics = reconstruction_metrics(parity_input, forward)
    assert metrics["pearson_r"].mean() == pytest.approx(expected["corr"], abs=1e-5)
    assert metrics["si_sdr"].mean() == pytest.approx(expected["sdr"], abs=1e-3)


@torch.no_grad()
def test_encoding_independent_of_batch(parity_codec, parity_input):
    together = parity_codec.encode(parity_input)
    alone = torch.cat([parity_codec.encode(parity_input[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(alone, together[:4], rtol=0, atol=0)


def test_parameter_count_matches_reference(parity_codec, parity_dir):
    expected = json.loads((parity_dir / "config.json").read_text())["n_trainable_parameters"]
    assert sum(p.numel() for p in parity_codec.parameters() if p.requires_grad) == expected
