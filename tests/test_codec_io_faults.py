"""Codec files are checked before they are built: digests, configs, header shapes, values.

Every file here is crafted in ``tmp_path``; the codecs are tiny so that the set runs in
seconds.
"""

import copy
import json
import math

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mne_biocodec.codec import (EEG_CONFIG, EMG_CONFIG, MAX_CODEC_SIZE, BioCodec,
                                check_codec_config, codec_state_size, convert_checkpoint,
                                load_codec, read_codec_config, save_codec)

TINY = dict(n_filters=4, dimension=16, lstm=0, n_residual_layers=1, bins=32, codebook_dim=4,
            n_q=2, kmeans_init=False)


@pytest.fixture
def tiny_file(tmp_path):
    """A tiny codec saved by save_codec (weights, metadata config and digest sidecar)."""
    torch.manual_seed(0)
    return save_codec(BioCodec(TINY).eval(), tmp_path / "tiny")


def _rewrite(path, change, keep_sidecar=True):
    """Rewrite ``path`` with ``change(tensors)`` applied and the same metadata."""
    with safe_open(str(path), framework="pt") as fid:
        metadata = fid.metadata()
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, str(path), metadata=metadata)
    if not keep_sidecar:
        path.with_suffix(".json").unlink()
    return path


def _config_only_file(path, config, tensors=None):
    """A codec file of a few hundred bytes whose metadata holds ``config``."""
    tensors = tensors or {"decoder.model.0.conv.conv.bias": torch.zeros(1)}
    save_file(tensors, str(path), metadata={"format": "mne-biocodec",
                                            "config": json.dumps(config)})
    return path


# -- 1. the SHA-256 recorded by save_codec is verified -------------------------------------
def test_round_trip_verifies_digest_and_records_origin(tiny_file):
    codec = load_codec(tiny_file, device="cpu")
    recorded = json.loads(tiny_file.with_suffix(".json").read_text())["sha256"]
    assert len(recorded) == 64
    assert codec.weights_file == tiny_file and codec.source == tiny_file
    assert codec.modality == "eeg" and codec.config == check_codec_config(TINY)
    # pickling (deepcopy, sklearn.clone, joblib) keeps where the weights came from
    assert copy.deepcopy(codec).weights_file == tiny_file


def test_edited_weights_fail_the_recorded_digest(tiny_file):
    def bump(tensors):
        tensors["decoder.model.0.conv.conv.bias"] += 1.0

    _rewrite(tiny_file, bump)
    with pytest.raises(ValueError, match=r"tiny\.safetensors does not match the SHA-256 "
                       r"recorded in tiny\.json.*save the codec again with save_codec"):
        load_codec(tiny_file, device="cpu")
    # the fix the message gives: re-saving records the new digest
    edited = BioCodec(TINY)
    edited.load_state_dict(load_file(tiny_file))
    save_codec(edited, tiny_file)
    torch.testing.assert_close(load_codec(tiny_file, device="cpu").state_dict(),
                               edited.state_dict())


@pytest.mark.parametrize("sidecar, match", [
    ('{"sha256": "abc"}', "records sha256 'abc'; expected 64 hexadecimal"),
    ('{"sha256": 12}', "records sha256 '12'; expected 64 hexadecimal"),
    ("not json", r"Could not read the codec JSON file .*tiny\.json"),
    ("[1, 2]", r"tiny\.json must hold a JSON object; got a list"),
])
def test_malformed_sidecar_is_refused(tiny_file, sidecar, match):
    tiny_file.with_suffix(".json").write_text(sidecar)
    with pytest.raises(ValueError, match=match):
        load_codec(tiny_file, device="cpu")


# -- 2. non-finite weights are refused -------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_weight_is_refused(tiny_file, value):
    def poison(tensors):
        tensors["encoder.model.0.conv.conv.bias"][1] = value
        tensors["quantizer.vq.layers.1._codebook.embed"][0, 0] = value

    _rewrite(tiny_file, poison, keep_sidecar=False)
    with pytest.raises(ValueError, match=r"tiny\.safetensors holds NaN or infinite values in "
                       r"2 tensor\(s\): encoder\.model\.0\.conv\.conv\.bias; "
                       r"quantizer\.vq\.layers\.1\._codebook\.embed\."):
        load_codec(tiny_file, device="cpu")


def test_codebook_awaiting_kmeans_may_hold_anything(tmp_path):
    # An untrained codec keeps uninitialised memory in codebooks that k-means will fill.
    codec = BioCodec(dict(TINY, kmeans_init=True))
    codec.quantizer.layers[0]._codebook.embed.fill_(float("nan"))
    loaded = load_codec(save_codec(codec, tmp_path / "untrained"), device="cpu")
    assert float(loaded.quantizer.layers[0]._codebook.inited) == 0.0
    assert torch.isnan(loaded.quantizer.layers[0]._codebook.embed).all()


def test_large_finite_weights_are_kept(tiny_file):
    # the fast check sums each tensor: an overflowing sum alone must not refuse a file
    def huge(tensors):
        tensors["encoder.model.0.conv.conv.bias"][:] = 3e38

    codec = load_codec(_rewrite(tiny_file, huge, keep_sidecar=False), device="cpu")
    assert float(codec.state_dict()["encoder.model.0.conv.conv.bias"][0]) == pytest.approx(3e38)


# -- 3. configs are checked before anything is built ----------------------------------------
@pytest.mark.parametrize("change, match", [
    ({"n_filters": 4096}, r"config\['n_filters'\] must be an int in \[1, 1024\]; got 4096"),
    ({"n_q": 100000}, r"config\['n_q'\] must be an int in \[1, 64\]; got 100000"),
    ({"sample_rate": 0}, r"config\['sample_rate'\] must be a finite number in \(0, 1e\+06\]"),
    ({"sample_rate": float("nan")}, r"config\['sample_rate'\] must be a finite number"),
    ({"bins": 10 ** 9}, r"config\['bins'\] must be an int in \[2, 65536\]"),
    ({"ratios": []}, r"config\['ratios'\] must be a list of 1 to 8 ints in \[1, 64\]; got \[\]"),
    ({"ratios": "322"}, r"config\['ratios'\] must be a list"),
    ({"ratios": [64, 64, 64]}, r"product \(the hop length\) is at most 65536"),
    ({"lstm": True}, r"config\['lstm'\] must be an int in \[0, 8\]; got True \(bool\)"),
    ({"n_filters": "32"}, r"config\['n_filters'\] must be an int .*got '32' \(str\)"),
    ({"norm": "batch_norm"}, r"config\['norm'\] must be one of \['weight_norm', 'none', None\]"),
    ({"modality": "ecg"}, r"config\['modality'\] must be one of \['eeg', 'emg'\]"),
    ({"causal": 1}, r"config\['causal'\] must be true or false"),
    ({"decay": 1.5}, r"config\['decay'\] must be a finite number in \[0, 1\]"),
    ({"compress": 8}, r"config\['compress'\] \(8\) must not exceed config\['n_filters'\] \(4\)"),
    ({"dilation_base": 16, "n_residual_layers": 4},
     r"spans 8193 samples .* at most 4096 are allowed"),
    ({"n_filters": 1024, "ratios": [2, 2, 2, 2, 2]},
     r"describes a model of [\d,]+ values .* at most 100,000,000"),
    ({"n_codebooks": 4}, r"Unknown codec config keys \['n_codebooks'\]"),
])
def test_bad_config_in_file_is_refused_before_building(tmp_path, change, match):
    path = _config_only_file(tmp_path / "bomb.safetensors", dict(TINY, **change))
    assert path.stat().st_size < 1024  # a few hundred bytes must not cost gigabytes
    with pytest.raises(ValueError, match=r"Invalid codec config for .*bomb\.safetensors "
                       r"\(the config in the metadata of bomb\.safetensors\): .*" + match):
        load_codec(path, device="cpu")
    # the constructor applies the same check, whatever the entry point
    with pytest.raises(ValueError, match=match):
        BioCodec(dict(TINY, **change))


def test_config_passed_to_load_codec_is_checked(tiny_file):
    with pytest.raises(ValueError, match=r"and the config passed to load_codec\): "
                       r"config\['normalize'\] must be true or false; got 'yes'"):
        load_codec(tiny_file, device="cpu", config={"normalize": "yes"})
    with pytest.raises(TypeError, match="config must be a dict of codec settings .* got list"):
        load_codec(tiny_file, device="cpu", config=[("normalize", True)])


@pytest.mark.parametrize("config", [EEG_CONFIG, EMG_CONFIG])
def test_reference_configs_pass_unchanged(config):
    assert check_codec_config(config) == config
    assert codec_state_size(config) < MAX_CODEC_SIZE / 25


def test_check_codec_config_fills_defaults_and_copies():
    config = {"ratios": (3, 3, 2), "n_q": 4}
    checked = check_codec_config(config)
    assert checked == dict(EEG_CONFIG, ratios=[3, 3, 2], n_q=4)
    assert config == {"ratios": (3, 3, 2), "n_q": 4}  # the input is not modified
    with pytest.raises(TypeError, match="config must be a dict .* got str"):
        check_codec_config("biocodec-eeg")


@pytest.mark.parametrize("config", [
    {}, EMG_CONFIG, TINY,
    dict(TINY, true_skip=False, norm="none", codebook_dim=None, lstm=1),
    dict(TINY, codebook_dim=16, compress=2, ratios=[4, 5], n_residual_layers=3),
    dict(TINY, kernel_size=7, last_kernel_size=5, residual_kernel_size=1, dimension=33,
         n_filters=5, compress=3, ratios=[5, 1, 3, 2]),
])
def test_state_size_is_computed_exactly_without_building(config):
    built = BioCodec(config)
    assert codec_state_size(built.config) == sum(v.numel() for v in built.state_dict().values())


# -- 3b. header names, shapes and dtypes are compared before tensors are read ----------------
def test_header_mismatch_names_every_kind_of_tensor(tiny_file):
    def damage(tensors):
        del tensors["encoder.model.0.conv.conv.bias"]
        tensors["encoder.extra.weight"] = torch.zeros(2)
        tensors["decoder.model.0.conv.conv.bias"] = torch.zeros(3)

    _rewrite(tiny_file, damage, keep_sidecar=False)
    with pytest.raises(ValueError, match=(
            r"do not match the codec config \(the config in the metadata of tiny\.safetensors\)"
            r"\. 1 missing: encoder\.model\.0\.conv\.conv\.bias\. 1 unexpected: "
            r"encoder\.extra\.weight\. 1 with the wrong shape: decoder\.model\.0\.conv\.conv"
            r"\.bias: found \(3,\), expected \(32,\)\.")):
        load_codec(tiny_file, device="cpu")


def test_integer_weights_are_refused(tiny_file):
    def to_int(tensors):
        tensors["decoder.model.0.conv.conv.bias"] = torch.zeros(32, dtype=torch.int32)

    _rewrite(tiny_file, to_int, keep_sidecar=False)
    with pytest.raises(ValueError, match=r"holds 1 tensor\(s\) that are not floating point "
                       r"\(decoder\.model\.0\.conv\.conv\.bias\)"):
        load_codec(tiny_file, device="cpu")


def test_inferred_config_is_checked(tmp_path):
    # a config-less file whose tensors imply 65 codebooks: refused before anything is built
    path = tmp_path / "bare.safetensors"
    save_file({f"quantizer.vq.layers.{i}._codebook.embed": torch.zeros(2, 2)
               for i in range(65)}, str(path))
    with pytest.raises(ValueError, match=r"\(inferred from the tensor shapes of "
                       r"bare\.safetensors\): config\['n_q'\] must be an int in \[1, 64\]; "
                       r"got 65"):
        load_codec(path, device="cpu")
    save_file({"quantizer.vq.layers.0._codebook.embed": torch.zeros(4)}, str(path))
    with pytest.raises(ValueError, match=r"lack a 2-D 'quantizer\.vq\.layers\.0\._codebook"
                       r"\.embed' \(found shape \(4,\)\)"):
        load_codec(path, device="cpu")


def test_reference_config_json_is_checked(tmp_path):
    weights = tmp_path / "weights.safetensors"
    save_file({"decoder.model.0.conv.conv.bias": torch.zeros(1)}, str(weights))
    reference = {"SEANetEncoder": {"n_filters": 4096, "ratios": [3, 2, 2]},
                 "BioCodecModel": {"sample_rate": 250}}
    (tmp_path / "config.json").write_text(json.dumps(reference))
    assert read_codec_config(weights)["n_filters"] == 4096
    with pytest.raises(ValueError, match=r"\(the config in .*config\.json\): "
                       r"config\['n_filters'\] must be an int in \[1, 1024\]; got 4096"):
        load_codec(weights, device="cpu")
    (tmp_path / "config.json").write_text(json.dumps(dict(reference, SEANetEncoder=[1])))
    with pytest.raises(ValueError, match=r"'SEANetEncoder' in .*config\.json must be a JSON "
                       r"object of constructor arguments; got a list"):
        load_codec(weights, device="cpu")


@pytest.mark.parametrize("config_text, match", [
    ("[1, 2]", "must be a JSON object of codec settings; got a list"),
    ("{not json", "is not valid JSON"),
])
def test_malformed_metadata_config_is_refused(tmp_path, config_text, match):
    path = tmp_path / "odd.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"config": config_text})
    with pytest.raises(ValueError, match=r"The config in the metadata of .*odd\.safetensors "
                       + match):
        load_codec(path, device="cpu")


# -- 4. convert_checkpoint names the tensors it cannot use -----------------------------------
@pytest.fixture(scope="module")
def reference_state():
    torch.manual_seed(0)
    codec = BioCodec(dict(EEG_CONFIG, kmeans_init=False))
    return {f"_orig_mod.{k}": v for k, v in codec.state_dict().items()}


def test_convert_checkpoint_wrong_shape(reference_state, tmp_path):
    state = dict(reference_state)
    state["_orig_mod.decoder.model.0.conv.conv.bias"] = torch.zeros(1)
    torch.save({"model_state_dict": state}, tmp_path / "ckpt.pt")
    with pytest.raises(ValueError, match=r"ckpt\.pt do not match the codec config \(inferred "
                       r"from the tensor shapes of ckpt\.pt\)\. 1 with the wrong shape: "
                       r"decoder\.model\.0\.conv\.conv\.bias: found \(1,\), expected \(256,\)"):
        convert_checkpoint(tmp_path / "ckpt.pt", tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_convert_checkpoint_refuses_nan_and_converts_clean(reference_state, tmp_path):
    state = dict(reference_state)
    state["_orig_mod.encoder.model.0.conv.conv.bias"] = torch.full((32,), math.nan)
    torch.save(state, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=r"nan\.pt holds NaN or infinite values in 1 "
                       r"tensor\(s\): encoder\.model\.0\.conv\.conv\.bias"):
        convert_checkpoint(tmp_path / "nan.pt", tmp_path / "out.safetensors")
    torch.save(reference_state, tmp_path / "clean.pt")
    out = convert_checkpoint(tmp_path / "clean.pt", tmp_path / "out.safetensors")
    assert load_codec(out, device="cpu").config["ratios"] == [3, 2, 2]


def test_convert_checkpoint_refuses_non_tensor_values(tmp_path):
    torch.save({"model_state_dict": {"encoder.x": [1.0, 2.0]}}, tmp_path / "lists.pt")
    with pytest.raises(ValueError, match=r"lists\.pt holds no state dict of dense tensors"):
        convert_checkpoint(tmp_path / "lists.pt", tmp_path / "out.safetensors")
