"""Tests of mne_biocodec.datasets on the real recordings of shared/data (skipped without them)."""

import json

import numpy as np
import pytest

from mne_biocodec import datasets as D


def test_codec_segments_take_the_inference_path(data_root):
    """Training segments are what encoding feeds the codec (polyphase resampling), and close
    to the parity fixture's, which were made with MNE's FFT resampling."""
    from mne_biocodec import load_codec
    from mne_biocodec.preprocessing import prepare_signals

    raw = D.load_eegmmidb_raw(1, [14], path=data_root, standardize=False)
    segments, rows = D.make_codec_segments(raw, picks="eeg", return_meta=True)
    n_seg = 25  # 125 s at 250 Hz in 5-s segments
    assert segments.shape == (64 * n_seg, 1, 1250) and segments.dtype == np.float32
    encoded, _, _ = prepare_signals(raw.get_data(picks="eeg")[np.newaxis], raw.info["sfreq"],
                                    load_codec("biocodec-eeg", device="cpu"))
    np.testing.assert_allclose(segments.reshape(64, -1), encoded[0], atol=1e-6, rtol=0)

    fixture = data_root.parent / "reference" / "biocodec_parity"
    if not (fixture / "input.npy").is_file():
        pytest.skip(f"parity fixture not found in {fixture}")
    expected = np.load(fixture / "input.npy")
    meta = json.loads((fixture / "input_meta.json").read_text())
    for seg in meta["segments"]:
        row = seg["channel_index"] * n_seg + seg["segment_index"]
        assert rows["ch_name"][row] == seg["channel"]
        assert rows["segment_index"][row] == seg["segment_index"]
        ours, theirs = segments[row, 0], expected[seg["row"], 0]
        # measured: r >= 0.9993, RMS difference 0.4-3.7 % of the fixture segment's
        assert np.corrcoef(ours, theirs)[0, 1] > 0.999
        assert np.sqrt(np.mean((ours - theirs) ** 2)) < 0.05 * theirs.std()


def test_codec_segments_picks_and_tail(data_root):
    raw = D.load_uci_emg_raw(1, path=data_root, series=1)
    segments, rows = D.make_codec_segments(raw, sfreq=200.0, segment_seconds=2.0,
                                           picks="emg", return_meta=True)
    n_seg = raw.n_times // 400  # same rate, so only the incomplete tail is dropped
    assert segments.shape == (8 * n_seg, 1, 400)
    assert list(rows["ch_name"][::n_seg]) == [f"EMG{k}" for k in range(1, 9)]
    assert np.abs(segments).max() <= 10.0
    # "all data channels" must skip the gesture stim channel
    all_data = D.make_codec_segments(raw, sfreq=200.0, segment_seconds=2.0, picks="all")
    np.testing.assert_array_equal(all_data, segments)


def test_eegmmidb_loaders(data_root):
    raw = D.load_eegmmidb_raw(4, 4, path=data_root)
    assert len(raw.ch_names) == 64 and raw.info["sfreq"] == 160.0
    assert "C3" in raw.ch_names and raw.get_montage() is not None
    epochs = D.load_eegmmidb_epochs(4, path=data_root)
    assert epochs.event_id == {"left_hand": 2, "right_hand": 3}
    assert epochs.get_data().shape == (45, 64, 641)
    with pytest.raises(FileNotFoundError, match=r"S002R06\.edf"):
        D.load_eegmmidb_epochs(2, task="hands_feet", path=data_root)


def test_other_eeg_loaders(data_root):
    raw = D.load_kalunga_raw(1, path=data_root)
    assert raw.get_channel_types().count("eeg") == 8 and raw.info["sfreq"] == 256.0
    raws = D.load_bonn("N", [1, 100], path=data_root)  # set N has upper-case .TXT
    assert len(raws) == 2 and raws[0].get_data().shape == (1, 4097)
    X, sfreq = D.load_bonn("E", 1, path=data_root, return_array=True)
    assert X.shape == (1, 1, 4097) and sfreq == 173.61 and np.abs(X).max() < 3e-3
    raw = D.load_dreams_raw(3, path=data_root)
    assert raw.get_data().shape == (1, 90000) and raw.info["sfreq"] == 50.0
    assert raw.ch_names == ["C3-A1"] and np.abs(raw.get_data()).max() < 1e-3  # volts
    stages = D.load_dreams_hypnogram(3, path=data_root)
    assert stages.shape == (360,) and (stages == "Sleep stage 2").sum() == 224
    raw = D.load_eegmat_raw(0, 1, path=data_root)
    types = raw.get_channel_types()
    assert len(types) == 21 and types.count("eeg") == 19 and raw.info["sfreq"] == 500.0
    assert raw.get_channel_types(["ECG", "A2-A1"]) == ["ecg", "misc"]


def test_emg_loaders(data_root):
    raw = D.load_uci_emg_raw(4, path=data_root, series=2)
    assert raw.get_channel_types() == ["emg"] * 8 + ["stim"] and raw.info["sfreq"] == 200.0
    assert 50 < raw.times[-1] < 70
    assert {"rest", "fist"} <= set(raw.annotations.description)
    raw = D.load_physionet_emg_raw("healthy", path=data_root)
    assert raw.get_data().shape == (1, 50860) and raw.info["sfreq"] == 4000.0
    # header: initial value -333 at 10000 adu/mV -> -33.3 uV
    assert raw.get_channel_types() == ["emg"]
    np.testing.assert_allclose(raw.get_data()[0, 0], -333 / 10000 * 1e-3)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNE_DATA"):
        D.get_data_path(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"S001R04\.edf"):
        D.load_eegmmidb_raw(1, [4], path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"subject03_run1_raw\.fif"):
        D.load_kalunga_raw(3, path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"Z007\.txt"):
        D.load_bonn("Z", 7, path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"excerpt4\.txt"):
        D.load_dreams_raw(4, path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"Subject06_2\.edf"):
        D.load_eegmat_raw(6, 2, path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"EMG_data_for_gestures-master/03"):
        D.load_uci_emg_raw(3, path=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"emg_myopathy\.hea"):
        D.load_physionet_emg_raw("emg_myopathy", path=tmp_path)
    with pytest.warns(UserWarning, match="Skipping") as record:
        assert list(D.iter_split_raws("heldout", "emg", path=tmp_path)) == []
    assert len(record) == 4 and "emg_healthy.hea" in str(record[1].message)


def test_splits_do_not_overlap():
    for modality in D.CODEC_SPLITS:
        train = D.list_split_recordings("train", modality)
        heldout = D.list_split_recordings("heldout", modality)
        assert train and heldout and not set(train) & set(heldout)
    eeg = D.CODEC_SPLITS["eeg"]
    # whole subjects are held out, not just recordings
    for dataset in ("eegmmidb", "kalunga", "dreams", "eegmat"):
        assert not set(eeg["train"][dataset]) & set(eeg["heldout"][dataset])
    # imagery runs never train the codec
    assert not {4, 6, 8, 10, 12, 14} & {r for runs in eeg["train"]["eegmmidb"].values()
                                         for r in runs}
    assert not (set(D.CODEC_SPLITS["emg"]["train"]["uci_emg"])
                & set(D.CODEC_SPLITS["emg"]["heldout"]["uci_emg"]))


def test_iter_split_raws_bonn_heldout(data_root):
    names = [name for name, raw in D.iter_split_raws("heldout", "eeg", path=data_root,
                                                      datasets=["bonn"])]
    assert len(names) == 100 and names[0] == "bonn/Z081" and names[-1] == "bonn/S100"


def test_codec_segments_split_concatenated_runs(data_root):
    runs = [D.load_eegmmidb_raw(4, run, path=data_root) for run in (3, 4)]
    both = D.load_eegmmidb_raw(4, [3, 4], path=data_root)
    segments, rows = D.make_codec_segments(both, picks=["C3", "Cz"], return_meta=True)
    alone = [D.make_codec_segments(raw, picks=["C3", "Cz"]) for raw in runs]
    n = [len(a) // 2 for a in alone]  # per run: all C3 rows, then all Cz rows
    expected = np.concatenate([alone[0][:n[0]], alone[1][:n[1]],
                               alone[0][n[0]:], alone[1][n[1]:]])
    np.testing.assert_array_equal(segments, expected)
    assert list(rows["piece"][:sum(n)]) == [0] * n[0] + [1] * n[1]
