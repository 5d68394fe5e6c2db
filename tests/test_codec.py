"""Unit properties of the codec: shapes, I/O round trips, bad input, quantizer training."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mne_biocodec import BioCodec, load_codec, save_codec
from mne_biocodec.codec import EMG_CONFIG, convert_checkpoint, file_sha256
from mne_biocodec.codec.quantization import ResidualVectorQuantizer


@pytest.mark.parametrize("n_times, n_frames", [(12, 1), (13, 2), (1250, 105), (5000, 417)])
def test_frame_count(parity_codec, n_times, n_frames):
    x = torch.zeros(2, 1, n_times).normal_(generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        codes = parity_codec.encode(x)
        decoded = parity_codec.decode(codes)
    assert codes.shape == (2, 6, n_frames) == (2, 6, parity_codec.n_frames(n_times))
    assert decoded.shape == (2, 1, n_frames * 12)


def test_emg_configuration_frame_rate():
    codec = BioCodec(EMG_CONFIG).eval()
    assert codec.hop_length == 18
    assert codec.frame_rate == pytest.approx(1000 / 18)
    with torch.no_grad():
        codes = codec.quantizer.encode(codec.encoder(torch.zeros(1, 1, 5000)))
    assert codes.shape == (1, 6, 278)


@torch.no_grad()
def test_fewer_codebooks_prefix(parity_codec, parity_input):
    full = parity_codec.encode(parity_input)
    for n_q in (1, 3):
        torch.testing.assert_close(parity_codec.encode(parity_input, n_q=n_q), full[:, :n_q])
        assert parity_codec.decode(full[:, :n_q]).shape == (16, 1, 1260)


def test_codebook_vectors_and_straight_through(parity_codec, parity_input):
    x = parity_input[:2]
    vectors = parity_codec.codebook_vectors()
    assert vectors.shape == (6, 256, 16) and vectors.device == parity_codec.device
    summed, codes = parity_codec.quantize_straight_through(x, n_q=4)
    assert summed.shape == (2, 105, 16)
    with torch.no_grad():
        assert torch.equal(codes, parity_codec.encode(x, n_q=4))
    expected = sum(vectors[q][codes[:, q]] for q in range(4))
    torch.testing.assert_close(summed.detach(), expected, rtol=0, atol=1e-5)
    # the downstream loss reaches the encoder's first convolution
    first = next(parity_codec.encoder.parameters())
    (grad,) = torch.autograd.grad(summed.square().sum(), first)
    assert grad.abs().sum() > 0


@torch.no_grad()
def test_save_load_round_trip(parity_codec, parity_input, tmp_path):
    path = parity_codec.save(tmp_path / "codec")
    assert path.name == "codec.safetensors" and path.with_suffix(".json").is_file()
    assert save_codec(parity_codec, tmp_path / "sub" / "again.safetensors").is_file()
    assert not list(tmp_path.glob(".tmp-*"))
    for source in (path, tmp_path):
        loaded = load_codec(source, device="cpu")
        assert loaded.config == parity_codec.config
        torch.testing.assert_close(loaded.encode(parity_input), parity_codec.encode(parity_input))


def test_reference_checkpoint_without_config(parity_dir, parity_input, tmp_path):
    # A bare reference state dict (no config anywhere) loads with an inferred architecture.
    from safetensors.torch import load_file

    bare = tmp_path / "bare.safetensors"
    save_file({f"_orig_mod.{k}": v for k, v in
               load_file(parity_dir / "weights.safetensors").items()}, bare)
    codec = load_codec(bare, device="cpu")
    np.testing.assert_array_equal(codec.encode(parity_input).numpy(),
                                  np.load(parity_dir / "codes.npy"))


def test_convert_reference_pt_checkpoint(parity_dir, parity_input, tmp_path):
    from safetensors.torch import load_file

    state = {f"_orig_mod.{k}": v for k, v in
             load_file(parity_dir / "weights.safetensors").items()}
    torch.save({"model_state_dict": state, "epoch": 3}, tmp_path / "ckpt.pt")
    out = convert_checkpoint(tmp_path / "ckpt.pt", tmp_path / "converted.safetensors")
    codec = load_codec(out, device="cpu")
    np.testing.assert_array_equal(codec.encode(parity_input).numpy(),
                                  np.load(parity_dir / "codes.npy"))


def test_checkpoint_not_matching_config(parity_codec, tmp_path):
    path = save_codec(parity_codec, tmp_path / "codec.safetensors")
    sidecar = tmp_path / "other.json"
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["config"]["n_filters"] = 16
    # a config in a sibling JSON is only read when the metadata has none: rewrite the file
    # (and record its new digest, which load_codec verifies first)
    from safetensors.torch import load_file
    bad = tmp_path / "other.safetensors"
    save_file(load_file(path), bad)
    meta["sha256"] = file_sha256(bad)
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"do not match the codec config \(the config in "
                       r".*other\.json\)\. 114 with the wrong shape: "
                       r"decoder\.model\.0\.conv\.conv\.bias: found \(256,\), "
                       r"expected \(128,\)"):
        load_codec(bad, device="cpu")


def test_corrupt_file(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x00\x01not a safetensors file")
    with pytest.raises(ValueError, match="Could not read codec weights"):
        load_codec(path)


def test_unknown_source():
    with pytest.raises(FileNotFoundError, match="No codec file, folder or shipped model"):
        load_codec("no-such-codec")


@pytest.mark.parametrize("x, match", [
    (torch.zeros(2, 1250), r"shape \[batch, 1, n_times\]"),
    (torch.zeros(2, 3, 1250), r"shape \[batch, 1, n_times\]"),
    (torch.zeros(2, 1, 1250, dtype=torch.int64), "floating-point"),
    (torch.full((1, 1, 100), float("nan")), "NaN or infinite"),
    (torch.zeros(1, 1, 11), "at least 12 samples"),
])
def test_bad_signals(parity_codec, x, match):
    with pytest.raises(ValueError, match=match):
        parity_codec.encode(x)


@pytest.mark.parametrize("codes, match", [
    (torch.zeros(1, 105, dtype=torch.long), "shape"),
    (torch.full((1, 6, 5), 256), r"\[0, 255\]"),
    (torch.zeros(1, 6, 5), "integer"),
])
def test_bad_codes(parity_codec, codes, match):
    with pytest.raises(ValueError, match=match):
        parity_codec.decode(codes)


def test_unknown_config_key():
    with pytest.raises(ValueError, match="Unknown codec config keys"):
        BioCodec({"n_codebooks": 4})


def test_quantizer_training_state_round_trips(rng):
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(dimension=32, n_q=3, bins=16, codebook_dim=8,
                                  kmeans_iters=5).train()
    x = torch.from_numpy(rng.standard_normal((4, 32, 50)).astype(np.float32))
    x.requires_grad_(True)
    result = rvq(x)
    assert float(rvq.layers[0]._codebook.inited) == 1.0
    # every layer's commitment loss reaches the input (the residual is built from a
    # detached quantized vector)
    grads = [torch.autograd.grad(rvq(x).penalty, x, retain_graph=True)[0]]
    assert grads[0].abs().sum() > 0
    assert result.codes.shape == (4, 3, 50)
    embed = rvq.codebook_vectors(1)[0]
    torch.testing.assert_close(embed.norm(dim=-1), torch.ones(16))
    clone = ResidualVectorQuantizer(dimension=32, n_q=3, bins=16, codebook_dim=8)
    clone.load_state_dict(rvq.state_dict())
    rvq.eval(), clone.eval()
    torch.testing.assert_close(clone.encode(x), rvq.encode(x))
    # in eval mode decode(encode(x)) is the quantized output
    torch.testing.assert_close(rvq.decode(rvq.encode(x)), rvq(x).quantized)
