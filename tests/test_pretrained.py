"""The shipped codecs: load by name, hash check, fidelity on held-out real EEG."""

import json
import shutil

import mne
import numpy as np
import pytest
import torch

from mne_biocodec import list_pretrained, load_codec
from mne_biocodec.codec import reconstruction_metrics
from mne_biocodec.data import sample_path
from mne_biocodec.datasets import CODEC_SPLITS, make_codec_segments
from mne_biocodec.pretrained import pretrained_info, resolve_pretrained

# Floors just under what benchmarks/fidelity.py measured for the shipped codec on this
# held-out recording (see doc/model_card.rst); they catch a broken or swapped codec.
# Measured: mean r 0.989, SI-SDR 17.97 dB on these 256 segments of S004R04 (v1, the default;
# v2 on the first 256 segments: 0.991, 18.36 dB, v1 there 0.990, 17.98 dB).
FIDELITY_FLOORS = {"pearson_r": 0.97, "si_sdr": 16.0}


def test_shipped_codecs_listed_and_loadable():
    assert "biocodec-eeg" in list_pretrained()
    codec = load_codec("biocodec-eeg", device="cpu")
    assert codec.config["modality"] == "eeg" and codec.sample_rate == 250
    assert not codec.training
    info = pretrained_info("biocodec-eeg")
    assert len(info["sha256"]) == 64
    # the codec knows where it came from
    assert codec.modality == "eeg" and codec.source == "biocodec-eeg"
    assert codec.weights_file == resolve_pretrained("biocodec-eeg")[0]
    assert codec.weights_file.name == info["file"]


#: Weights digest of the first shipped EEG codec: token files and caches made with it name it.
V1_WEIGHTS_SHA256_PREFIX = "cd593ac97954"


def test_versions_by_name():
    """Each EEG codec version loads by its name; ``biocodec-eeg`` stays v1 (v2 missed the
    decoding benchmark's no-regression rule, see doc/model_card.rst)."""
    default, v1, v2 = (load_codec(n, device="cpu")
                       for n in ("biocodec-eeg", "biocodec-eeg-v1", "biocodec-eeg-v2"))
    assert default.weights_sha256() == v1.weights_sha256() != v2.weights_sha256()
    assert v1.weights_sha256().startswith(V1_WEIGHTS_SHA256_PREFIX)
    assert pretrained_info("biocodec-eeg")["version"] == "v1"
    assert pretrained_info("biocodec-eeg-v2")["version"] == "v2"
    assert {"biocodec-eeg", "biocodec-eeg-v1", "biocodec-eeg-v2"} <= set(list_pretrained())
    # the token model was pretrained on v1 tokens and names that version, not the default
    assert pretrained_info("token-model-eeg")["codec"] == "biocodec-eeg-v1"


def test_token_model_versions_by_name():
    """``token-model-eeg`` is version 2 (position encoding scaled, neighbour tables);
    ``token-model-eeg-v1`` keeps the first model, file and digest unchanged."""
    from mne_biocodec import load_token_model

    default, v1, v2 = (pretrained_info(n) for n in
                       ("token-model-eeg", "token-model-eeg-v1", "token-model-eeg-v2"))
    assert default == v2 and v1["file"] == "token-model-eeg-v1.safetensors"
    assert v1["sha256"].startswith("b7830884040b")  # the first shipped model
    assert v1["codec"] == v2["codec"] == "biocodec-eeg-v1"
    first = load_token_model("token-model-eeg-v1", device="cpu")
    assert (first.config["position_scale"], first.config["neighbour_logits"]) == (1.0, False)
    model = load_token_model("token-model-eeg", device="cpu")
    assert (model.config["position_scale"], model.config["neighbour_logits"]) == (0.125, True)


@pytest.mark.parametrize("entry", [
    {"file": "../../elsewhere.safetensors", "sha256": "0" * 64},
    {"file": "biocodec-eeg.safetensors", "sha256": "not-a-digest"},
    ["biocodec-eeg.safetensors"],
])
def test_damaged_registry_entry_is_refused(monkeypatch, entry):
    monkeypatch.setattr("mne_biocodec.pretrained._registry", lambda: {"biocodec-eeg": entry})
    with pytest.raises(ValueError, match="registry entry of shipped codec 'biocodec-eeg' must "
                       "give a plain 'file' name"):
        load_codec("biocodec-eeg")


def test_sample_recording_is_held_out():
    # S004R04 (subject 4) must never be in the codec's training split
    assert 4 not in CODEC_SPLITS["eeg"]["train"]["eegmmidb"]
    assert 4 in CODEC_SPLITS["eeg"]["heldout"]["eegmmidb"]
    assert sample_path().is_file()


def test_corrupt_shipped_codec_is_refused(tmp_path, monkeypatch):
    path, sha = resolve_pretrained("biocodec-eeg")
    broken = tmp_path / path.name
    shutil.copy(path, broken)
    with open(broken, "r+b") as fid:  # flip bytes inside the tensor data
        fid.seek(-64, 2)
        fid.write(b"\x00" * 16)
    monkeypatch.setattr("mne_biocodec.pretrained.resolve_pretrained",
                        lambda name: (broken, sha) if name == "biocodec-eeg" else None)
    with pytest.raises(ValueError, match="is corrupt"):
        load_codec("biocodec-eeg")


@torch.no_grad()
def test_shipped_codec_fidelity_on_heldout_recording():
    mne.set_log_level("error")
    raw = mne.io.read_raw_edf(sample_path(), preload=True)
    segments = make_codec_segments(raw, segment_seconds=5.0)
    rng = np.random.default_rng(0)
    segments = segments[rng.choice(len(segments), 256, replace=False)]
    codec = load_codec("biocodec-eeg", device="cpu")
    x = torch.from_numpy(segments)
    metrics = reconstruction_metrics(x, codec.decode(codec.encode(x)))
    means = {k: float(np.mean(v)) for k, v in metrics.items()}
    print(json.dumps(means))
    for name, floor in FIDELITY_FLOORS.items():
        assert means[name] >= floor, (name, means[name])


@torch.no_grad()
def test_shipped_emg_codec_on_heldout_subject(data_root):
    from mne_biocodec.datasets import load_uci_emg_raw

    codec = load_codec("biocodec-emg", device="cpu")
    assert codec.config["modality"] == "emg" and codec.hop_length == 18
    segments = make_codec_segments(load_uci_emg_raw(4, path=data_root), sfreq=1000.0,
                                   segment_seconds=5.0, picks="emg")[:64]
    x = torch.from_numpy(segments)
    metrics = reconstruction_metrics(x, codec.decode(codec.encode(x)))
    # benchmarks/fidelity.py measured r 0.997 (median) and SI-SDR 21.3 dB on UCI subject 04
    assert np.mean(metrics["pearson_r"]) >= 0.95
    assert np.mean(metrics["si_sdr"]) >= 15.0


def test_shipped_weights_of_another_kind_are_refused():
    from mne_biocodec import load_token_model
    from mne_biocodec.pretrained import KINDS

    assert "token-model-eeg" not in list_pretrained()  # codecs by default
    assert "token-model-eeg" in list_pretrained(kind="token-model")
    assert set(list_pretrained(kind=None)) == {n for k in KINDS for n in list_pretrained(kind=k)}
    with pytest.raises(ValueError, match=r"'token-model-eeg' is a shipped token-model, not a "
                                         r"codec; load it with mne_biocodec.load_token_model"):
        load_codec("token-model-eeg")
    with pytest.raises(ValueError, match=r"'biocodec-eeg' is a shipped codec, not a token-model"):
        load_token_model("biocodec-eeg")
    with pytest.raises(ValueError, match="kind must be one of"):
        list_pretrained(kind="codecs")
