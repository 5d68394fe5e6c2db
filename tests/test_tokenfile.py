"""Token files and the Raw <-> tokens bridge, on 10 s of the shipped held-out recording."""

import json

import numpy as np
import pytest
import torch

from mne_biocodec import BioCodec, TokenSet, detokenize, save_codec, tokenize
from mne_biocodec.codec import EEG_CONFIG, EMG_CONFIG, file_sha256
from mne_biocodec.tokenfile import (FORMAT_NAME, FORMAT_VERSION, codec_sha256, decode_to_raw,
                                    encode_raw, make_token_metadata, read_tokens,
                                    write_tokens)

SECONDS = 10.0


@pytest.fixture(scope="module")
def sample_raw():
    """The first 10 s of S004R04.edf (64 EEG channels, 160 Hz)."""
    import mne

    from mne_biocodec.data import sample_path

    raw = mne.io.read_raw(sample_path(), preload=True, verbose="error")
    raw.crop(0, SECONDS, include_tmax=False)
    raw.info["bads"] = ["T9.."]
    return raw


@pytest.fixture(scope="module")
def encoded(sample_raw, parity_codec):
    return encode_raw(sample_raw, parity_codec)


@pytest.fixture(scope="module")
def token_file(tmp_path_factory, sample_raw, encoded, parity_codec, parity_dir):
    path = tmp_path_factory.mktemp("tokens") / "S004R04.bctok"
    write_tokens(path, encoded, parity_codec, encoded.ch_names,
                 sample_raw.get_channel_types(), meas_date=sample_raw.info["meas_date"],
                 bads=sample_raw.info["bads"], codec_file=parity_dir / "weights.safetensors",
                 extra={"recording": "S004R04.edf"})
    return path


def test_encode_raw_shapes_and_pipeline(sample_raw, encoded, parity_codec):
    n_frames = parity_codec.n_frames(int(SECONDS * 250))
    assert encoded.codes.shape == (1, 64, 6, n_frames) == (1, 64, 6, 209)
    assert encoded.codes.dtype == np.uint8
    assert encoded.ch_names == sample_raw.ch_names
    assert (encoded.sfreq, encoded.n_times, encoded.codec_sfreq) == (160.0, 1600, 250.0)
    # Chunking over channels (and a small batch) gives the codes of the one-shot pipeline.
    picks = sample_raw.ch_names[:5]
    chunked = encode_raw(sample_raw, parity_codec, picks=picks, batch_size=2)
    direct = tokenize(sample_raw.get_data(picks=picks)[None], 160.0, parity_codec)
    np.testing.assert_array_equal(chunked.codes, direct.codes)
    np.testing.assert_array_equal(chunked.codes, encoded.codes[:, :5])
    np.testing.assert_allclose(chunked.scale, encoded.scale[:, :5])
    fewer = encode_raw(sample_raw, parity_codec, n_q=2, picks=picks[:2])
    np.testing.assert_array_equal(fewer.codes, encoded.codes[:, :2, :2])


def test_write_read_round_trip(token_file, encoded, sample_raw, parity_codec, parity_dir):
    tokens, meta = read_tokens(token_file)
    np.testing.assert_array_equal(tokens.codes, encoded.codes)
    assert tokens.codes.dtype == np.uint8
    np.testing.assert_array_equal(tokens.center, encoded.center)
    np.testing.assert_array_equal(tokens.scale, encoded.scale)
    assert (tokens.sfreq, tokens.n_times, tokens.codec_sfreq) == (160.0, 1600, 250.0)
    assert tokens.ch_names == meta["ch_names"] == sample_raw.ch_names
    assert meta["format"] == FORMAT_NAME and meta["format_version"] == FORMAT_VERSION
    assert meta["ch_types"] == ["eeg"] * 64
    assert meta["bads"] == ["T9.."]
    assert meta["meas_date"] == sample_raw.info["meas_date"].isoformat()
    assert (meta["n_q"], meta["n_frames"]) == (6, 209)
    assert meta["codec"]["name"] == "my_biocodec"
    assert meta["codec"]["weights_sha256"] == codec_sha256(parity_codec)
    assert meta["codec"]["file_sha256"] == file_sha256(parity_dir / "weights.safetensors")
    assert meta["extra"] == {"recording": "S004R04.edf"}
    # A plain safetensors file: the raw layout is (n_chans, n_q, n_frames) + per-channel uV.
    from safetensors.numpy import load_file

    tensors = load_file(str(token_file))
    assert tensors["codes"].shape == (64, 6, 209)
    assert tensors["center"].shape == tensors["scale"].shape == (64,)
    assert tensors["center"].dtype == np.float64


def test_decode_to_raw(token_file, sample_raw, parity_codec):
    tokens, meta = read_tokens(token_file)
    raw = decode_to_raw(tokens, meta, parity_codec)
    assert raw.ch_names == sample_raw.ch_names
    assert raw.get_channel_types() == sample_raw.get_channel_types()
    assert raw.info["sfreq"] == sample_raw.info["sfreq"]
    assert raw.n_times == sample_raw.n_times
    assert raw.info["meas_date"] == sample_raw.info["meas_date"]
    assert raw.info["bads"] == ["T9.."]
    expected = detokenize(tokens, parity_codec)[0]
    # Float32 decoding in other batches: equal to ~1e-6 of the signal scale (~10 uV).
    np.testing.assert_allclose(raw.get_data(), expected, rtol=1e-5, atol=1e-10)


def test_codec_sha256(parity_codec, tmp_path):
    digest = codec_sha256(parity_codec)
    assert len(digest) == 64
    # Same weights saved elsewhere (other metadata, other file): same digest.
    from mne_biocodec import load_codec

    copy = load_codec(save_codec(parity_codec, tmp_path / "copy"), device="cpu")
    assert codec_sha256(copy) == digest
    with torch.no_grad():
        next(copy.parameters()).view(-1)[0] += 1e-3
    assert codec_sha256(copy) != digest


def test_mismatched_codec(token_file):
    tokens, meta = read_tokens(token_file)
    torch.manual_seed(0)
    other = BioCodec(EEG_CONFIG).eval()
    with pytest.raises(ValueError, match="mismatched codecs.*my_biocodec.*allow_mismatch"):
        decode_to_raw(tokens, meta, other)
    # Two channels are enough to show allow_mismatch decodes anyway.
    sub = TokenSet(tokens.codes[:, :2], tokens.center[:, :2], tokens.scale[:, :2],
                   tokens.sfreq, tokens.n_times, tokens.codec_sfreq, tokens.ch_names[:2])
    sub_meta = dict(meta, ch_names=meta["ch_names"][:2], ch_types=meta["ch_types"][:2], bads=[])
    raw = decode_to_raw(sub, sub_meta, other, allow_mismatch=True)
    assert raw.get_data().shape == (2, 1600)
    with pytest.raises(ValueError, match="codec rate of 250 Hz but this codec runs at 1000"):
        decode_to_raw(sub, sub_meta, BioCodec(EMG_CONFIG), allow_mismatch=True)


def test_read_rejects_other_files(tmp_path, parity_dir, token_file):
    text = tmp_path / "notes.bctok"
    text.write_text("not tokens at all")
    with pytest.raises(ValueError, match="is not an mne-biocodec token file"):
        read_tokens(text)
    with pytest.raises(ValueError, match="is not an mne-biocodec token file"):
        read_tokens(parity_dir / "weights.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_tokens(tmp_path / "missing.bctok")
    # A future version: same layout, format_version bumped.
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open

    with safe_open(str(token_file), framework="np") as fid:
        header = dict(fid.metadata())
    future = tmp_path / "future.bctok"
    save_file(load_file(str(token_file)), str(future),
              metadata=dict(header, format_version="99"))
    with pytest.raises(ValueError, match="token format version 99; this mne-biocodec"):
        read_tokens(future)
    # Damaged: channel names and codes disagree.
    meta = json.loads(header["metadata"])
    meta["ch_names"] = meta["ch_names"][:3]
    damaged = tmp_path / "damaged.bctok"
    save_file(load_file(str(token_file)), str(damaged),
              metadata=dict(header, metadata=json.dumps(meta)))
    with pytest.raises(ValueError, match="damaged token file.*3 channel names"):
        read_tokens(damaged)


def test_channel_type_errors(sample_raw, parity_codec):
    raw = sample_raw.copy().pick(sample_raw.ch_names[:4])
    raw.set_channel_types({raw.ch_names[0]: "eog", raw.ch_names[1]: "stim"}, verbose="error")
    with pytest.raises(ValueError, match=r"Unsupported channel types for this EEG codec: "
                                         r"Fc5\. \(eog\), Fc3\. \(stim\)\. To fix.*"
                                         r"set_channel_types"):
        encode_raw(raw, parity_codec, picks=raw.ch_names)
    # Without picks the other types are left out.
    tokens = encode_raw(raw, parity_codec)
    assert tokens.ch_names == raw.ch_names[2:]
    assert tokens.codes.shape[1] == 2
    with pytest.raises(ValueError, match=r"no EMG channels for this EMG codec.*\['eeg', "
                                         r"'eog', 'stim'\]"):
        encode_raw(raw, BioCodec(EMG_CONFIG))
    with pytest.raises(ValueError, match="picks entry 'nope' is neither"):
        encode_raw(raw, parity_codec, picks=["nope"])
    with pytest.raises(ValueError, match=r"n_q must be an integer in \[1, 6\]"):
        encode_raw(raw, parity_codec, n_q=7)
    with pytest.raises(TypeError, match="raw must be an mne.io.Raw"):
        encode_raw(raw.get_data(), parity_codec)


def test_write_rejects_epochs_and_bad_metadata(encoded, parity_codec, tmp_path):
    epochs = TokenSet(np.concatenate([encoded.codes] * 2), np.concatenate([encoded.center] * 2),
                      np.concatenate([encoded.scale] * 2), 160.0, 1600, 250.0,
                      encoded.ch_names)
    with pytest.raises(ValueError, match="holds one recording.*got 2 epochs"):
        write_tokens(tmp_path / "x.bctok", epochs, parity_codec)
    with pytest.raises(ValueError, match="ch_types must be 64 strings.*got 3"):
        make_token_metadata(encoded, parity_codec, ch_types=["eeg"] * 3)
    with pytest.raises(ValueError, match=r"bads \['X'\] are not among"):
        make_token_metadata(encoded, parity_codec, bads=["X"])
    assert not (tmp_path / "x.bctok").exists()
