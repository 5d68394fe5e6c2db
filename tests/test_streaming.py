"""Streaming encoding: chunk by chunk, the codes of the whole-signal pass, on real EEG."""

import mne
import numpy as np
import pytest
import torch

from mne_biocodec import BioCodec, tokenize
from mne_biocodec.codec.streaming import StreamingEncoder
from mne_biocodec.data import sample_path
from mne_biocodec.preprocessing import (order_statistics, polyphase_factors, polyphase_resample,
                                        resample_chunks, robust_scale, robust_statistics)
from mne_biocodec.tokens import (encode, encode_raw, encode_stream, prepare_signals,
                                 stream_tokenize)

# Six channels spread over the head keep the tests fast.
PICKS = ["Fz", "C3", "Cz", "C4", "Pz", "Oz"]


@pytest.fixture(scope="module")
def sample_raw():
    """The shipped held-out recording (eegmmidb S004R04, 160 Hz, 123 s), not preloaded."""
    raw = mne.io.read_raw_edf(sample_path(), preload=False, verbose="error")
    mne.datasets.eegbci.standardize(raw)
    return raw


@pytest.fixture(scope="module")
def codec_rate_signals(sample_raw, default_codec):
    """Normalised signals at 250 Hz, as the codec sees them [6, 1, 30750]."""
    scaled, _, _ = prepare_signals(sample_raw.get_data(picks=PICKS)[None], 160.0,
                                   default_codec)
    return torch.from_numpy(scaled[0]).unsqueeze(1)


def _stream(codec, x, sizes):
    stream, out, start, i = StreamingEncoder(codec), [], 0, 0
    while start < x.shape[-1]:
        size = sizes[i % len(sizes)]
        out.append(stream.push(x[..., start:start + size]))
        start, i = start + size, i + 1
    out.append(stream.flush())
    return torch.cat(out, dim=-1)


@pytest.mark.parametrize("sizes", [[5], [37], [1001], [12 * 250], [1, 250, 13, 4000]])
def test_streaming_encoder_equals_whole_pass(default_codec, codec_rate_signals, sizes):
    # Tiny chunks on 20 s, larger ones on the whole recording; none is a multiple of the
    # 12-sample hop except 12 * 250.
    x = codec_rate_signals[:2, :, :2400] if max(sizes) < 100 else codec_rate_signals[:3]
    with torch.inference_mode():
        whole = default_codec.encode(x)
    codes = _stream(default_codec, x, sizes)
    assert codes.shape == whole.shape == (x.shape[0], 6, -(-x.shape[-1] // 12))
    assert torch.equal(codes, whole)


def test_streaming_encoder_codes_arrive_with_bounded_lag(default_codec, codec_rate_signals):
    stream = StreamingEncoder(default_codec, n_q=2)
    x = codec_rate_signals[:1]
    n_frames = [stream.push(x[..., i:i + 1200]).shape[-1] for i in range(0, 12000, 1200)]
    # 100 frames per 1200 samples once the receptive field is filled.
    assert n_frames[0] >= 90 and all(n == 100 for n in n_frames[2:])
    assert stream.push(x[..., :0]).shape == (1, 2, 0)


def test_resample_chunks_equal_whole_polyphase(sample_raw):
    x = sample_raw.get_data(picks=PICKS[:3]) * 1e6
    up, down = polyphase_factors(160.0, 250.0)
    assert (up, down) == (25, 16)
    whole = polyphase_resample(x, up, down)
    assert whole.shape[-1] == 30750
    for size in (7, 999, 40000):
        n_in = 800 if size < 100 else x.shape[1]  # output chunks of 7 samples on 5 s
        parts = [c for _, c in resample_chunks(lambda a, b: x[:, a:b], n_in, up, down, size)]
        expected = whole if n_in == x.shape[1] else polyphase_resample(x[:, :n_in], up, down)
        assert np.array_equal(np.concatenate(parts, axis=1), expected)


def test_order_statistics_exact_with_ties_and_signs(rng):
    # A unit property on tiny arrays: ties, both zeros, negatives, odd length.
    values = np.concatenate([np.round(rng.normal(0, 3, 20001), 1), [0.0, -0.0, 1e300, -5e-300]])
    x = np.stack([values, -values[::-1]])
    ranks = [0, 1, 7777, 10002, x.shape[1] - 1]

    def chunks():
        return ((s, x[:, s:s + 3001]) for s in range(0, x.shape[1], 3001))

    got = order_statistics(chunks, 2, x.shape[1], ranks)
    np.testing.assert_array_equal(got, np.sort(x, axis=1)[:, ranks])
    for n in (x.shape[1], x.shape[1] - 1):  # even and odd lengths
        center, scale = robust_statistics(chunks if n == x.shape[1] else
                                          (lambda: ((0, x[:, :n]),)), 2, n)
        _, center0, scale0 = robust_scale(x[:, :n])
        np.testing.assert_array_equal(center, center0[:, 0])
        np.testing.assert_array_equal(scale, scale0[:, 0])


def test_stream_tokenize_equals_whole_signal_pipeline(sample_raw, default_codec):
    # The whole-signal reference: microvolts -> the same polyphase resampling of the whole
    # recording -> robust scaling over the whole recording -> codec.
    x = sample_raw.get_data(picks=PICKS) * 1e6
    scaled, center, scale = robust_scale(polyphase_resample(x, 25, 16))
    whole = encode(default_codec, scaled)
    # 7.3 s = 1825 samples at 250 Hz: not a multiple of the 12-sample hop.
    tokens = stream_tokenize(sample_raw, default_codec, picks=PICKS, chunk_seconds=7.3)
    assert tokens.codes.shape == (1, 6, 6, 2563)
    np.testing.assert_array_equal(tokens.codes[0], whole)
    np.testing.assert_array_equal(tokens.center, center[None])
    np.testing.assert_array_equal(tokens.scale, scale[None])
    assert tokens.ch_names == PICKS and tokens.n_times == sample_raw.n_times
    # Given statistics skip the passes; fewer codebooks are the first ones.
    given = stream_tokenize(x / 1e6, default_codec, sfreq=160.0, n_q=2, chunk_seconds=50,
                            center=center[:, 0], scale=scale[:, 0])
    np.testing.assert_array_equal(given.codes[0], whole[:, :2])


def test_stream_at_codec_rate_equals_tokenize_and_encode_raw(sample_raw, default_codec):
    raw = sample_raw.copy().pick(PICKS[:4]).crop(0, 60).load_data()
    raw.resample(250.0, verbose="error")
    expected = tokenize(raw.get_data()[None], 250.0, default_codec)
    streamed = encode_raw(raw, default_codec, chunk_seconds=11.11)
    np.testing.assert_array_equal(streamed.codes, expected.codes)
    np.testing.assert_array_equal(streamed.scale, expected.scale)
    whole = encode_raw(raw, default_codec, chunk_seconds=None)
    np.testing.assert_array_equal(whole.codes, expected.codes)


def test_stream_at_recording_rate_equals_tokenize_and_encode_raw(sample_raw, default_codec):
    # 160 Hz: the epoch path and streaming resample with the same polyphase filter.
    raw = sample_raw.copy().pick(PICKS[:4]).crop(0, 60).load_data()
    expected = tokenize(raw.get_data()[None], 160.0, default_codec)
    streamed = encode_raw(raw, default_codec, chunk_seconds=9.1)
    np.testing.assert_array_equal(streamed.codes, expected.codes)
    np.testing.assert_array_equal(encode_raw(raw, default_codec, chunk_seconds=None).codes,
                                  expected.codes)


def test_engine_stream_equals_engine_encode(default_codec, codec_rate_signals):
    # The engine's two encoders agree for any chunking and a batch that does not divide the
    # segments (groups of 4 and 2 stateful encoders).
    x = codec_rate_signals[:, 0, :3000].numpy()
    whole = encode(default_codec, x, n_q=3, batch_size=4)
    bounds = [0, 7, 1000, 1013, 2500, 3000]
    chunks = (x[:, a:b] for a, b in zip(bounds[:-1], bounds[1:]))
    streamed = encode_stream(default_codec, chunks, 6, 3000, n_q=3, batch_size=4)
    assert streamed.shape == (6, 3, 250) and streamed.dtype == np.uint8
    np.testing.assert_array_equal(streamed, whole)


def test_streaming_errors(default_codec, codec_rate_signals):
    with pytest.raises(ValueError, match="normalize=True"):
        StreamingEncoder(BioCodec({"normalize": True}))
    stream = StreamingEncoder(default_codec)
    stream.push(codec_rate_signals[:1, :, :5])
    with pytest.raises(ValueError, match="one token frame needs 12"):
        stream.flush()
    with pytest.raises(ValueError, match="not a fraction"):
        polyphase_factors(173.61, 250.0)
    with pytest.raises(ValueError, match="chunk_seconds must be a positive"):
        stream_tokenize(np.zeros((1, 1000)), default_codec, sfreq=250.0, chunk_seconds=0)
    with pytest.raises(ValueError, match="sfreq is required"):
        stream_tokenize(np.zeros((1, 1000)), default_codec)
    with pytest.raises(ValueError, match="chunk_seconds must be 'auto'"):
        encode_raw(mne.io.RawArray(np.zeros((1, 1000)), mne.create_info(1, 250.0, "eeg"),
                                   verbose="error"), default_codec, chunk_seconds="always")


def test_cli_encode_chunk_seconds(tmp_path, default_codec):
    from mne_biocodec.cli import main
    from mne_biocodec.tokens import read_tokens

    names = ["C3..", "Cz..", "C4.."]
    out = tmp_path / "rec.bctok"
    assert main(["encode", str(sample_path()), "-o", str(out), "--picks", *names,
                 "--chunk-seconds", "45.5"]) == 0
    tokens, _ = read_tokens(out)
    raw = mne.io.read_raw_edf(sample_path(), preload=False, verbose="error")
    expected = stream_tokenize(raw, default_codec, picks=names, chunk_seconds=1000)
    np.testing.assert_array_equal(tokens.codes, expected.codes)
    with pytest.raises(SystemExit):
        main(["encode", str(sample_path()), "--chunk-seconds", "-3"])
