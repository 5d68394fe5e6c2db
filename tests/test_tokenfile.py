"""Token files and the Raw <-> tokens bridge, on 10 s of the shipped held-out recording."""

import numpy as np
import pytest
import torch

from mne_biocodec import BioCodec, TokenSet, detokenize, save_codec, tokenize
from mne_biocodec.codec import EEG_CONFIG, EMG_CONFIG, file_sha256
from mne_biocodec.tokens import (FORMAT_NAME, FORMAT_VERSION, codec_sha256, decode_to_raw,
                                 encode_raw, encode_to_file, make_token_metadata,
                                 metadata_annotations, read_tokens, write_tokens)
from tokenfile_crafting import read_parts, write_token_file, write_version_1

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
    header, meta, tensors = read_parts(token_file)
    future = write_token_file(tmp_path / "future.bctok", meta, tensors, version="99")
    with pytest.raises(ValueError, match="token format version 99; this mne-biocodec"):
        read_tokens(future)
    # Damaged: channel names and codes disagree (with a checksum that matches the change).
    damaged = write_token_file(tmp_path / "damaged.bctok",
                               dict(meta, ch_names=meta["ch_names"][:3]), tensors)
    with pytest.raises(ValueError, match=r"damaged.bctok is a damaged token file: ch_names "
                                         r"must be a list of 64 entries; got 3 entries"):
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


def test_write_given_metadata(sample_raw, encoded, parity_codec, tmp_path):
    meta = make_token_metadata(encoded, parity_codec, raw=sample_raw)
    path = write_tokens(tmp_path / "m.bctok", encoded, parity_codec, metadata=meta)
    tokens, read = read_tokens(path)
    assert read == meta
    np.testing.assert_array_equal(tokens.codes, encoded.codes)
    with pytest.raises(ValueError, match="Pass metadata or bads, extra, not both"):
        write_tokens(tmp_path / "x.bctok", encoded, parity_codec, bads=[], extra={},
                     metadata=meta)
    with pytest.raises(ValueError, match="metadata must be version-2 token metadata"):
        write_tokens(tmp_path / "x.bctok", encoded, parity_codec,
                     metadata=dict(meta, format_version=1))
    with pytest.raises(ValueError, match=r"metadata \(sfreq, n_times, codec_sfreq\) = "
                                         r"\(160.0, 1599, 250.0\) does not describe"):
        write_tokens(tmp_path / "x.bctok", encoded, parity_codec,
                     metadata=dict(meta, n_times=1599))
    assert not (tmp_path / "x.bctok").exists()


def test_encode_to_file_records_the_codec_file(sample_raw, parity_codec, parity_dir,
                                               tmp_path):
    # Without codec_file / codec_source, the codec's own weights file and source are kept.
    raw = sample_raw.copy().pick(sample_raw.ch_names[:2]).crop(0, 2)
    _, meta = encode_to_file(raw, tmp_path / "c.bctok", parity_codec)
    assert parity_codec.weights_file == parity_dir / "weights.safetensors"
    assert meta["codec"]["file_sha256"] == file_sha256(parity_codec.weights_file)
    assert meta["codec"]["source"] == str(parity_codec.source)


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


# -- version 2: the recording's metadata, integrity, validation ------------------------------
def _montage_name():
    import mne

    # standard_1005 is deprecated in recent MNE for its colin27 twin.
    builtin = mne.channels.get_builtin_montages()
    return "colin27_1005" if "colin27_1005" in builtin else "standard_1005"


@pytest.fixture(scope="module")
def fif_recording(tmp_path_factory):
    """30 s of S004R04 from 2 s in (first_samp 320) with a montage, two bad channels, a
    channel-specific annotation and measurement information, saved as FIF and re-read."""
    import datetime

    import mne
    from mne.datasets import eegbci

    from mne_biocodec.data import sample_path

    raw = mne.io.read_raw(sample_path(), preload=True, verbose="error")
    eegbci.standardize(raw)
    raw.set_montage(_montage_name(), verbose="error")
    raw.crop(2.0, 32.0, include_tmax=False)
    raw.info["bads"] = ["C3", "Cz"]
    raw.info["experimenter"] = "H. Berger"
    raw.info["description"] = "motor imagery, run 4"
    raw.info["line_freq"] = 60.0
    raw.info["proj_name"] = "eegmmidb"
    raw.info["subject_info"] = {"his_id": "S004", "sex": 2, "hand": 1, "weight": 61.5,
                                "birthday": datetime.date(1980, 5, 17)}
    raw.annotations.append(12.5, 0.5, "artifact", ch_names=[["C3"]])
    raw.annotations.append(14.0, 1.0, "elsewhere", ch_names=[["O1"]])
    path = tmp_path_factory.mktemp("fif") / "S004R04_montage_raw.fif"
    raw.save(path, verbose="error")
    return mne.io.read_raw_fif(path, preload=True, verbose="error")


FIF_PICKS = ["FC3", "C3", "Cz", "C4", "CP3", "CPz"]


def _assert_same_recording(decoded, original, picks):
    """The decoded recording has every piece of metadata the original had (for picks)."""
    assert decoded.ch_names == picks
    assert decoded.get_channel_types() == original.get_channel_types(picks=picks)
    assert decoded.info["sfreq"] == original.info["sfreq"]
    assert (decoded.first_samp, decoded.n_times) == (original.first_samp, original.n_times)
    assert decoded.info["bads"] == [b for b in original.info["bads"] if b in picks]
    assert decoded.info["meas_date"] == original.info["meas_date"]
    for new, old in zip(decoded.info["chs"], [original.info["chs"][original.ch_names.index(n)]
                                              for n in picks]):
        for key in ("unit", "unit_mul", "coil_type", "coord_frame", "kind"):
            assert int(new[key]) == int(old[key]), key
        np.testing.assert_array_equal(new["loc"], old["loc"])
    assert len(decoded.info["dig"] or []) == len(original.info["dig"] or [])
    for new, old in zip(decoded.info["dig"] or [], original.info["dig"] or []):
        assert new == old  # kind, ident, frame and position
    for key in ("experimenter", "description", "line_freq", "proj_name", "highpass",
                "lowpass", "custom_ref_applied"):
        assert decoded.info[key] == original.info[key], key
    assert dict(decoded.info["subject_info"] or {}) == dict(original.info["subject_info"] or {})
    ours, theirs = decoded.annotations, original.annotations
    keep = [i for i, chans in enumerate(theirs.ch_names)
            if not chans or set(chans) & set(picks)]
    assert ours.orig_time == theirs.orig_time
    np.testing.assert_allclose(ours.onset, theirs.onset[keep], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(ours.duration, theirs.duration[keep])
    assert list(ours.description) == list(theirs.description[keep])
    assert [tuple(c) for c in ours.ch_names] == [tuple(theirs.ch_names[i]) for i in keep]


def test_edf_round_trip_keeps_the_recording(sample_raw, token_file, parity_codec, parity_dir,
                                            tmp_path):
    path = tmp_path / "edf.bctok"
    tokens, meta = encode_to_file(sample_raw, path, parity_codec,
                                  picks=sample_raw.ch_names[:4] + ["T9.."])
    picks = tokens.ch_names
    assert meta["format_version"] == 2 and len(meta["annotations"]["onset"]) == 3
    tokens, meta = read_tokens(path)
    decoded = decode_to_raw(tokens, meta, parity_codec)
    _assert_same_recording(decoded, sample_raw, picks)
    assert list(decoded.annotations.description) == ["T0", "T1", "T0"]
    assert decoded.info["subject_info"]["his_id"] == "X"
    annotations = metadata_annotations(meta)
    np.testing.assert_array_equal(annotations.onset, sample_raw.annotations.onset)
    assert annotations.orig_time == sample_raw.annotations.orig_time
    # The signals are those of decode_to_raw without metadata (same codes, same decoder).
    plain = detokenize(tokens, parity_codec)[0]
    np.testing.assert_allclose(decoded.get_data(), plain, rtol=1e-5, atol=1e-10)


def test_fif_round_trip_keeps_montage_bads_and_first_samp(fif_recording, parity_codec,
                                                          tmp_path):
    import mne

    raw = fif_recording
    assert raw.first_samp == 320 and raw.info["dig"] and raw.info["meas_date"]
    path = tmp_path / "fif.bctok"
    encode_to_file(raw, path, parity_codec, picks=FIF_PICKS)
    tokens, meta = read_tokens(path)
    assert meta["bads"] == ["C3", "Cz"] and meta["first_samp"] == 320
    assert meta["info"]["subject_info"]["birthday"] == "1980-05-17"
    # "elsewhere" marks O1 only, which was not encoded.
    assert "elsewhere" not in meta["annotations"]["description"]
    decoded = decode_to_raw(tokens, meta, parity_codec)
    _assert_same_recording(decoded, raw, FIF_PICKS)
    assert decoded.info["subject_info"]["birthday"].isoformat() == "1980-05-17"
    positions = decoded.get_montage().get_positions()["ch_pos"]
    expected = raw.get_montage().get_positions()["ch_pos"]
    for name in FIF_PICKS:
        np.testing.assert_array_equal(positions[name], expected[name])
    # Events (samples counted from the acquisition start) land on the same samples.
    ours = mne.events_from_annotations(decoded, verbose="error")[0]
    theirs = mne.events_from_annotations(raw.copy().pick(FIF_PICKS), verbose="error")[0]
    np.testing.assert_array_equal(ours, theirs)
    # The decoded recording saves and reads back as FIF with all of it.
    saved = tmp_path / "decoded_raw.fif"
    decoded.save(saved, verbose="error")
    _assert_same_recording(mne.io.read_raw_fif(saved, verbose="error"), raw, FIF_PICKS)


def test_annotations_without_meas_date(sample_raw, parity_codec, tmp_path):
    import mne

    raw = sample_raw.copy().pick(["C3..", "C4.."]).crop(2.0, None)
    raw.set_meas_date(None)
    raw.set_annotations(mne.Annotations([1.0, 4.5], [0.5, 0.0], ["a", "b"]))
    assert raw.annotations.orig_time is None and raw.first_samp == 320
    encode_to_file(raw, tmp_path / "x.bctok", parity_codec)
    tokens, meta = read_tokens(tmp_path / "x.bctok")
    assert meta["meas_date"] is None and meta["annotations"]["orig_time"] is None
    decoded = decode_to_raw(tokens, meta, parity_codec)
    _assert_same_recording(decoded, raw, raw.ch_names)
    np.testing.assert_array_equal(mne.events_from_annotations(decoded, verbose="error")[0],
                                  mne.events_from_annotations(raw, verbose="error")[0])


def test_checksum_detects_changes(token_file, tmp_path):
    data = bytearray(token_file.read_bytes())
    for position, name in ((len(data) - 100, "payload"), (len(data) // 2, "codes")):
        flipped = bytearray(data)
        flipped[position] ^= 0x10
        path = tmp_path / f"{name}.bctok"
        path.write_bytes(bytes(flipped))
        with pytest.raises(ValueError, match=rf"{name}.bctok is damaged: checksum mismatch"):
            read_tokens(path)
    _, meta, tensors = read_parts(token_file)
    edited = write_token_file(tmp_path / "edited.bctok", dict(meta, sfreq=320.0), tensors,
                              checksum="stale")
    with pytest.raises(ValueError, match="edited.bctok is damaged: checksum mismatch"):
        read_tokens(edited)
    truncated = tmp_path / "truncated.bctok"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ValueError, match="truncated.bctok is not an mne-biocodec token file "
                                         r"\(.bctok\) or is damaged \(e.g. truncated\)"):
        read_tokens(truncated)


@pytest.mark.parametrize("field, value, message", [
    ("n_times", 30_000_000, r"n_times must be the length of a recording that gives the 209 "
                            r"frames .*at most 1605 samples at 160 Hz\); got 30000000"),
    ("n_times", 1600.5, r"n_times must be an integer in \[1, "),
    ("sfreq", 0.0, r"sfreq must be a finite number in \[1, 1e\+06\]; got 0.0"),
    ("sfreq", 0.5, r"sfreq must be a finite number in \[1, 1e\+06\]; got 0.5"),
    ("sfreq", True, r"sfreq must be a finite number .*got True"),
    ("codec", None, r"codec must be a JSON object; got NoneType"),
    ("ch_types", ["eeg"] * 63 + ["brainwaves"], r"ch_types\[63\] must be an MNE channel type"),
    ("meas_date", 1234, r"meas_date must be null or an ISO 8601 date"),
])
def test_invalid_fields_are_refused(token_file, tmp_path, field, value, message):
    _, meta, tensors = read_parts(token_file)
    path = write_token_file(tmp_path / "bad.bctok", dict(meta, **{field: value}), tensors)
    with pytest.raises(ValueError, match=rf"bad.bctok is a damaged token file: {message}"):
        read_tokens(path)


def test_invalid_tensors_are_refused(token_file, tmp_path):
    _, meta, tensors = read_parts(token_file)
    scale = tensors["scale"].copy()
    scale[3] = np.nan
    path = write_token_file(tmp_path / "nan.bctok", meta, dict(tensors, scale=scale))
    with pytest.raises(ValueError, match="nan.bctok is a damaged token file: scale must be "
                                         "finite; got 1 non-finite values"):
        read_tokens(path)
    codes = tensors["codes"][:, :, :100]
    path = write_token_file(tmp_path / "short.bctok", meta, dict(tensors, codes=codes))
    with pytest.raises(ValueError, match=r"short.bctok is a damaged token file: n_frames must "
                                         r"be 100 \(the frames of the codes\); got 209"):
        read_tokens(path)


def test_version_1_still_reads(token_file, sample_raw, parity_codec, tmp_path):
    old = write_version_1(tmp_path / "v1.bctok", token_file)
    with pytest.warns(RuntimeWarning, match="v1.bctok is a version-1 token file: it has no "
                                            "checksum .* keeps no annotations"):
        tokens, meta = read_tokens(old)
    assert meta["format_version"] == 1 and "annotations" not in meta
    new_tokens, _ = read_tokens(token_file)
    np.testing.assert_array_equal(tokens.codes, new_tokens.codes)
    sub = TokenSet(tokens.codes[:, :2], tokens.center[:, :2], tokens.scale[:, :2],
                   tokens.sfreq, tokens.n_times, tokens.codec_sfreq, tokens.ch_names[:2])
    sub_meta = dict(meta, ch_names=meta["ch_names"][:2], ch_types=meta["ch_types"][:2],
                    bads=[])
    raw = decode_to_raw(sub, sub_meta, parity_codec)
    assert raw.ch_names == sample_raw.ch_names[:2] and len(raw.annotations) == 0
    assert raw.info["meas_date"] == sample_raw.info["meas_date"]


def test_metadata_must_match_tokens(encoded, sample_raw, parity_codec):
    meta = make_token_metadata(encoded, parity_codec, raw=sample_raw)
    assert meta["bads"] == ["T9.."] and len(meta["chs"]) == 64
    with pytest.raises(ValueError, match="Pass raw or bads, not both"):
        make_token_metadata(encoded, parity_codec, raw=sample_raw, bads=[])
    with pytest.raises(ValueError, match=r"raw \(1440 samples at 160 Hz\) is not the "
                                         r"recording of these tokens \(1600 samples"):
        make_token_metadata(encoded, parity_codec, raw=sample_raw.copy().crop(0, 9.0,
                                                                             include_tmax=False))
    with pytest.raises(ValueError, match=r"metadata \(sfreq, n_times, codec_sfreq\) = "
                                         r"\(160.0, 1601, 250.0\) does not describe"):
        decode_to_raw(encoded, dict(meta, n_times=1601), parity_codec)
    with pytest.raises(ValueError, match=r"metadata: chs must be a list of 64 entries; got "
                                         r"2 entries"):
        decode_to_raw(encoded, dict(meta, chs=meta["chs"][:2]), parity_codec)
    with pytest.raises(ValueError, match="extra must be a dict JSON can hold"):
        make_token_metadata(encoded, parity_codec, extra={"x": float("nan")})
