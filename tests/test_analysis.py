"""Analysis numbers and figures: codebook usage, reconstruction per n_q, rate-distortion,
spatial coherence of token embeddings, token images."""

import math

import matplotlib
import numpy as np
import pytest

from mne_biocodec.analysis import (codebook_usage, codec_bits_per_sample, rate_distortion,
                                   reconstruct, signal_connectivity, spatial_coherence,
                                   token_similarity)
from mne_biocodec.tokens import detokenize, tokenize

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Spread over the scalp, so that the spatial structure spans near and far pairs.
SAMPLE_CHANNELS = ["Fp1", "Fz", "F4", "FC3", "C3", "Cz", "C4", "T8", "CP1", "P7", "Pz", "P4",
                   "O1", "Oz", "AF8", "TP7"]


@pytest.fixture(scope="module")
def sample_epochs():
    """20 s of the shipped held-out recording (eegmmidb S004R04), 16 channels with a 10-05
    montage, as four 5-s epochs."""
    import mne

    from mne_biocodec.data import sample_path
    from mne_biocodec.datasets._montage import set_template_montage

    raw = mne.io.read_raw_edf(sample_path(), preload=True, verbose=False)
    mne.datasets.eegbci.standardize(raw)
    set_template_montage(raw, "1005")
    raw.crop(0, 20, include_tmax=False).pick(SAMPLE_CHANNELS)
    return mne.make_fixed_length_epochs(raw, duration=5.0, preload=True, verbose=False)


@pytest.fixture(scope="module")
def sample_tokens(sample_epochs, default_codec):
    return tokenize(sample_epochs.get_data(), sample_epochs.info["sfreq"], default_codec,
                    ch_names=sample_epochs.ch_names)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- codebook usage ---------------------------------------------------------------------------
def test_codebook_usage_uniform_has_full_perplexity():
    codes = np.tile(np.arange(16, dtype=np.uint8), (3, 2, 4, 2))  # (3, 2, 4, 32)
    usage = codebook_usage(codes, n_codes=16)
    assert usage.counts.shape == (4, 16)
    np.testing.assert_allclose(usage.perplexity, 16.0)
    np.testing.assert_allclose(usage.entropy_bits, 4.0)
    np.testing.assert_array_equal(usage.dead_codes, 0)


def test_codebook_usage_counts_dead_codes():
    # Codebook 0 uses codes 0, 0, 0, 1 (of 8); codebook 1 uses only code 7.
    codes = np.array([[[0, 0, 0, 1], [7, 7, 7, 7]]])  # (1, n_q=2, 4 frames)
    usage = codebook_usage(codes, n_codes=8)
    np.testing.assert_array_equal(usage.counts[0], [3, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(usage.dead_codes, [6, 7])
    np.testing.assert_allclose(usage.dead_fraction, [0.75, 0.875])
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    np.testing.assert_allclose(usage.entropy_bits, [h, 0.0], atol=1e-12)
    np.testing.assert_allclose(usage.perplexity, [2 ** h, 1.0])
    records = usage.to_records()
    assert records[1] == {"codebook": 1, "entropy_bits": 0.0, "perplexity": 1.0,
                          "dead_codes": 7, "dead_fraction": 0.875, "used_codes": 1,
                          "max_entropy_bits": 3.0}
    assert "perplexity" in usage.summary()


def test_codebook_usage_rejects_bad_codes():
    with pytest.raises(ValueError, match="n_codes=4"):
        codebook_usage(np.array([[0, 5]]), n_codes=4)
    with pytest.raises(ValueError, match="integer array"):
        codebook_usage(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="axis -2"):
        codebook_usage(np.arange(3))


def test_codebook_usage_of_real_tokens(sample_tokens):
    usage = codebook_usage(sample_tokens)
    n_epochs, n_chans, n_q, n_frames = sample_tokens.codes.shape
    assert usage.counts.shape == (n_q, 256)
    np.testing.assert_array_equal(usage.counts.sum(axis=1), n_epochs * n_chans * n_frames)
    # 6,720 codes per codebook on real EEG: most of the 256 codes are in use.
    assert np.all(usage.perplexity > 100) and np.all(usage.perplexity <= 256)


# -- reconstruction and rate-distortion -------------------------------------------------------
def test_reconstruct_per_n_q(sample_epochs, sample_tokens, default_codec):
    epochs = sample_epochs.copy().pick(["C3", "Cz", "Oz"])
    rec = reconstruct(epochs, default_codec, n_q=[1, 2, 6])
    assert sorted(rec.decoded) == [1, 2, 6]
    assert rec.decoded[6].shape == rec.original.shape == (4, 3, 800)
    assert rec.bits_per_sample == pytest.approx({1: 2 / 3, 2: 4 / 3, 6: 4.0})
    # Decoding the first k codebooks is decoding what encoding with k codebooks gives.
    tokens2 = tokenize(epochs.get_data(), epochs.info["sfreq"], default_codec, n_q=2)
    np.testing.assert_allclose(rec.decoded[2], detokenize(tokens2, default_codec), atol=1e-9)
    r = {k: m["pearson_r"].mean() for k, m in rec.metrics.items()}
    assert rec.metrics[6]["si_sdr"].shape == (4, 3)
    assert r[1] < r[2] < r[6] and r[6] > 0.85
    assert "SI-SDR" in rec.summary()
    # Metrics do not depend on the unit (volts here, µV below).
    rec_uv = type(rec)(rec.original * 1e6, {6: rec.decoded[6] * 1e6}, rec.sfreq)
    np.testing.assert_allclose(rec_uv.metrics[6]["si_sdr"], rec.metrics[6]["si_sdr"],
                               rtol=1e-9)


def test_rate_distortion(default_codec):
    import mne

    from mne_biocodec.data import sample_path
    from mne_biocodec.datasets import make_codec_segments

    raw = mne.io.read_raw_edf(sample_path(), preload=True, verbose=False)
    raw.crop(0, 10, include_tmax=False).pick(raw.ch_names[:4])
    segments = make_codec_segments(raw)  # 4 channels x 2 segments of 5 s
    rd = rate_distortion(segments, default_codec, n_q=[1, 3, 6], dct_bits=[0.5])
    assert [e["n_q"] for e in rd.codec] == [1, 3, 6]
    assert [e["bits_per_sample"] for e in rd.codec] == pytest.approx([2 / 3, 2.0, 4.0])
    assert codec_bits_per_sample(default_codec) == pytest.approx(4.0)
    targets = [e["target_bits_per_sample"] for e in rd.dct]
    assert targets == pytest.approx([0.5, 2 / 3, 2.0, 4.0])
    assert rd.codes.shape == (8, 6, 105)
    bits, r = rd.curve("pearson_r")
    assert bits == pytest.approx([2 / 3, 2.0, 4.0]) and r[0] < r[-1]
    dct_bits, dct_r = rd.curve("pearson_r", "dct")
    assert np.all(np.diff(dct_r) > 0)
    assert "DCT" in rd.summary()
    with pytest.raises(ValueError, match="coder must be"):
        rd.curve(coder="mp3")


# -- spatial coherence ------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["correlation", "cosine"])
def test_token_similarity_is_symmetric_with_unit_diagonal(sample_tokens, default_codec,
                                                         metric):
    sim = token_similarity(sample_tokens, default_codec, metric=metric)
    n = len(SAMPLE_CHANNELS)
    assert sim.shape == (n, n)
    np.testing.assert_allclose(sim, sim.T)
    np.testing.assert_allclose(np.diag(sim), 1.0)
    off = sim[np.triu_indices(n, 1)]
    assert np.all(off < 1.0) and np.all(off > -1.0)


def test_token_similarity_matches_tokenizer_features(sample_tokens, default_codec):
    from mne_biocodec.estimators.features import token_features

    feats = token_features(sample_tokens, default_codec, kind="spatial", log_scale=False)
    sim = token_similarity(sample_tokens, default_codec)
    upper = np.triu_indices(len(SAMPLE_CHANNELS), 1)
    np.testing.assert_allclose(sim[upper], feats.mean(axis=0), atol=1e-5)


def test_signal_connectivity(sample_epochs):
    X = sample_epochs.get_data()
    coh = signal_connectivity(sample_epochs, method="coherence", fmin=8, fmax=13)
    np.testing.assert_allclose(coh, coh.T)
    np.testing.assert_allclose(np.diag(coh), 1.0)
    assert coh.min() >= 0 and coh.max() <= 1 + 1e-12
    corr = signal_connectivity(X[:1], sfreq=sample_epochs.info["sfreq"], method="correlation")
    np.testing.assert_allclose(corr, np.corrcoef(X[0]), atol=1e-12)
    with pytest.raises(ValueError, match="method must be"):
        signal_connectivity(X, sfreq=160.0, method="pli")
    with pytest.raises(ValueError, match="frequency window"):
        signal_connectivity(X, sfreq=160.0, fmin=100.0, fmax=200.0)


def test_spatial_coherence_agrees_with_signal_coherence(sample_epochs, sample_tokens,
                                                        default_codec):
    result = spatial_coherence(sample_epochs, default_codec, tokens=sample_tokens)
    assert result.ch_names == SAMPLE_CHANNELS
    assert result.info.ch_names == SAMPLE_CHANNELS
    # Channels encoded one at a time keep the spatial structure: on 120 pairs of this
    # recording the two matrices agree (rho ~0.7 measured; 0.75 with all 64 channels).
    assert result.spearman_r > 0.4
    assert "Spearman" in result.summary()
    with pytest.raises(ValueError, match="pass the tokens of X"):
        spatial_coherence(sample_epochs.copy().pick(SAMPLE_CHANNELS[:3]), default_codec,
                          tokens=sample_tokens)


# -- figures ----------------------------------------------------------------------------------
def _titled_axes(fig):
    return [ax for ax in fig.axes if ax.get_title()]


def test_plot_codebook_usage(sample_tokens):
    from mne_biocodec.viz import plot_codebook_usage

    fig = plot_codebook_usage(codebook_usage(sample_tokens))
    assert isinstance(fig, plt.Figure)
    assert len(_titled_axes(fig)) == 6
    assert "perplexity" in fig.axes[0].get_title()


def test_plot_reconstruction(sample_epochs, default_codec):
    from mne_biocodec.analysis import Reconstruction
    from mne_biocodec.viz import plot_reconstruction

    rec = reconstruct(sample_epochs.copy().pick(["C3", "Oz"]), default_codec, n_q=[1, 6])
    fig = plot_reconstruction(rec, n_q=[1, 6], epoch=1, duration=2.0, title="test")
    assert len(fig.axes) == 4  # 2 channels x 2 n_q
    assert fig.axes[3].get_title(loc="left").startswith("Oz, n_q=6")
    line = fig.axes[0].get_lines()[0]
    assert len(line.get_xdata()) == 320
    # Arrays without n_q information (as the CLI passes): one panel per default channel.
    rec2 = Reconstruction(rec.original[0], {6: rec.decoded[6][0]}, rec.sfreq, rec.ch_names)
    assert len(plot_reconstruction(rec2, scaling=1.0, unit="V").axes) == 2
    with pytest.raises(ValueError, match="not decoded"):
        plot_reconstruction(rec, n_q=3)
    with pytest.raises(ValueError, match="not found"):
        plot_reconstruction(rec, picks=["Cz"])


def test_plot_rate_distortion():
    from mne_biocodec.analysis import RateDistortion
    from mne_biocodec.viz import plot_rate_distortion

    def entry(bits, r):
        return {"bits_per_sample": bits, "metrics": {"pearson_r": np.full(3, r),
                                                     "si_sdr": np.full(3, 10 * r)}}

    rd = RateDistortion([dict(entry(b, r), n_q=k) for k, b, r in ((1, 0.7, 0.5), (2, 1.3, 0.7))],
                        [entry(1.0, 0.8), entry(2.0, 0.9)], np.zeros((1, 2, 3)), {})
    fig = plot_rate_distortion(rd)
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.5, 0.7])


def test_plot_spatial_coherence_and_topomaps(sample_epochs, sample_tokens, default_codec):
    from mne_biocodec.viz import plot_spatial_coherence, plot_spatial_topomaps

    result = spatial_coherence(sample_epochs, default_codec, tokens=sample_tokens,
                               method="correlation")
    fig = plot_spatial_coherence(result)
    assert len(_titled_axes(fig)) == 3  # two matrices and the scatter (plus colorbars)
    fig = plot_spatial_topomaps(result)
    assert len(_titled_axes(fig)) == 2
    fig = plot_spatial_topomaps(result, seed="C3")
    assert "to C3" in fig.axes[0].get_title()
    result.info = None
    with pytest.raises(ValueError, match="no channel positions"):
        plot_spatial_topomaps(result)
    fig = plot_spatial_topomaps(result, info=sample_epochs.info)
    assert len(_titled_axes(fig)) == 2


def test_plot_tokens(sample_tokens, default_codec):
    from mne_biocodec.viz import plot_tokens

    fig = plot_tokens(sample_tokens, epoch=2, codebook=1, frame_rate=default_codec.frame_rate)
    image = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(image, sample_tokens.codes[2, :, 1])
    fig = plot_tokens(sample_tokens.codes, channel=4)
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape == (6, 105)
    assert fig.axes[0].get_title() == "Tokens of epoch 0, channel 4"
    with pytest.raises(ValueError, match="codebook must lie"):
        plot_tokens(sample_tokens, codebook=6)
