"""One channel rule for Raw, Epochs and token files (mne_biocodec.channels.codec_picks)."""

import mne
import numpy as np
import pytest

from mne_biocodec import BioCodecTokenizer, encode_raw
from mne_biocodec.channels import CODEC_CHANNEL_TYPES, codec_picks
from mne_biocodec.estimators._input import resolve_input

NAMES = ["Fz", "Cz", "LH1", "G1", "D1", "EMG1", "EOG1", "Pz"]
TYPES = ["eeg", "eeg", "seeg", "ecog", "dbs", "emg", "eog", "eeg"]


@pytest.fixture
def info():
    info = mne.create_info(NAMES, 250.0, TYPES)
    info["bads"] = ["Cz"]
    return info


def test_default_picks_the_codec_family_without_bads(info):
    assert CODEC_CHANNEL_TYPES["eeg"] == ("eeg", "seeg", "ecog", "dbs")
    assert codec_picks(info, "eeg") == [0, 2, 3, 4, 7]
    # Token files keep the bad channels.
    assert codec_picks(info, "eeg", exclude=()) == [0, 1, 2, 3, 4, 7]
    assert codec_picks(info, "emg") == [5]
    assert codec_picks(info, "eeg", exclude=["Fz"]) == [1, 2, 3, 4, 7]


def test_explicit_picks(info):
    # Named and indexed channels are kept even when bad; types follow `exclude`.
    assert codec_picks(info, "eeg", picks=["Cz", "LH1"]) == [1, 2]
    assert codec_picks(info, "eeg", picks="eeg") == [0, 7]
    assert codec_picks(info, "eeg", picks="eeg", exclude=()) == [0, 1, 7]
    assert codec_picks(info, "eeg", picks=[-1, 0, "Fz"]) == [7, 0]
    with pytest.raises(ValueError, match=r"Unsupported channel types for this EEG codec: "
                                         r"EOG1 \(eog\), EMG1 \(emg\)\. To fix, pick EEG "
                                         r"channels only .*raw\.set_channel_types"):
        codec_picks(info, "eeg", picks=["EOG1", "EMG1", "Fz"])
    with pytest.raises(ValueError, match="picks index 8 is out of range for 8 channels"):
        codec_picks(info, "eeg", picks=8)
    with pytest.raises(ValueError, match="picks entry 'nope' is neither a channel name nor "
                                         "a channel type of the epochs"):
        codec_picks(info, "eeg", picks="nope", what="epochs")


def test_no_channel_of_the_family(info):
    eog = mne.create_info(["EOG1", "EOG2"], 250.0, "eog")
    with pytest.raises(ValueError, match=r"Found no EMG channels for this EMG codec in the "
                                         r"epochs \(it takes EMG channels\); its channel types "
                                         r"are \['eog'\]\. .*epochs\.set_channel_types"):
        codec_picks(eog, "emg", what="epochs")
    only_bad = mne.create_info(["Fz"], 250.0, "eeg")
    only_bad["bads"] = ["Fz"]
    with pytest.raises(ValueError, match=r"no EEG channels .*bads excluded: \['Fz'\]"):
        codec_picks(only_bad, "eeg")
    with pytest.raises(ValueError, match=r"modality must be one of \['eeg', 'emg'\]; got 'ecg'"):
        codec_picks(info, "ecg")


def test_raw_and_epochs_follow_the_same_rule(info, default_codec):
    rng = np.random.default_rng(0)
    raw = mne.io.RawArray(rng.normal(0, 1e-5, (len(NAMES), 500)), info, verbose="error")
    tokens = encode_raw(raw, default_codec, chunk_seconds=None)
    # sEEG, ECoG and DBS channels are the EEG codec's in a Raw too; its bad channel is kept.
    assert tokens.ch_names == ["Fz", "Cz", "LH1", "G1", "D1", "Pz"]
    epochs = mne.EpochsArray(raw.get_data()[None], info, verbose="error")
    _, _, ch_names = resolve_input(epochs, None, default_codec.modality)
    assert ch_names == ["Fz", "LH1", "G1", "D1", "Pz"]
    tok = BioCodecTokenizer(codec=default_codec, output="codes").fit(epochs)
    assert tok.ch_names_ == ch_names
    np.testing.assert_array_equal(tok.transform(epochs)[0, 0], tokens.codes[0, 0])
