"""Token-model config keys added after the first model: ``position_scale`` and
``neighbour_logits`` are checked, new models take the new defaults, and files saved before the
keys existed load as they were trained (unscaled positions, no neighbour tables).

Fast: tiny untrained models, saved and loaded from a temporary folder.
"""

import json
import math
from pathlib import Path

import pytest
import torch

from mne_biocodec.estimators.head import sinusoidal_encoding
from mne_biocodec.pretrained import list_pretrained
from mne_biocodec.tokenmodel import (TOKEN_MODEL_CONFIG, TokenTransformer,
                                     check_token_model_config, load_token_model,
                                     save_token_model)
from mne_biocodec.tokenmodel.model import token_model_size
from mne_biocodec.tokenmodel.pretrain import load_token_recipe

TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "dim_feedforward": 32, "max_frames": 64}
LEGACY = dict(TINY, position_scale=1.0, neighbour_logits=False)
RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def unscaled_logits(model, codes):
    """Logits with the position encoding added unscaled, built from the model's parts: the
    forward pass of every token model saved before ``position_scale`` existed."""
    index = codes.long().transpose(1, 2) + model.offsets
    frames = model.embedding(index).sum(dim=2)
    frames = frames + sinusoidal_encoding(model.config["max_frames"],
                                          model.config["d_model"])[: codes.shape[2]]
    return model.logits(model.norm(model.encoder(frames)))


def legacy_file(tmp_path, model):
    """``model`` saved, then its sidecar config stripped of the later keys (the weights'
    SHA-256 is unchanged, so the file loads like one saved before the keys existed)."""
    path = save_token_model(model, tmp_path / "legacy")
    sidecar = json.loads(path.with_suffix(".json").read_text())
    del sidecar["config"]["position_scale"], sidecar["config"]["neighbour_logits"]
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


@pytest.mark.parametrize("value", [-0.1, 10.5, float("nan"), float("inf"), True, "0.1", None])
def test_position_scale_checked(value):
    with pytest.raises(ValueError,
                       match=r"config\['position_scale'\] must be a number in \[0.0, 10.0\]"):
        check_token_model_config({"position_scale": value})


@pytest.mark.parametrize("value", [0, 0.0, 1, 10.0])
def test_position_scale_bounds_accepted(value):
    config = check_token_model_config({"position_scale": value})
    assert config["position_scale"] == float(value)
    assert isinstance(config["position_scale"], float)


def test_new_config_uses_the_new_default():
    assert TOKEN_MODEL_CONFIG["position_scale"] == 0.125
    model = TokenTransformer(TINY)
    assert model.config["position_scale"] == 0.125
    # the encoding's norm per frame: position_scale * sqrt(d_model / 2)
    norms = model.positions.norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, 0.125 * math.sqrt(16 / 2)))
    # the default model: norm 1.0 at d_model 128, the scale of a frame's summed code embeddings
    assert float(TokenTransformer().positions.norm(dim=1).max()) == pytest.approx(1.0)


def test_embed_scales_the_position_encoding():
    torch.manual_seed(0)
    codes = torch.randint(0, 256, (2, 6, 20))
    scaled = TokenTransformer(dict(TINY, position_scale=0.5))
    plain = TokenTransformer(dict(TINY, position_scale=0.0))
    plain.load_state_dict(scaled.state_dict())
    encoding = sinusoidal_encoding(20, 16)
    torch.testing.assert_close(scaled.embed(codes) - plain.embed(codes),
                               0.5 * encoding.expand(2, 20, 16))


def test_legacy_sidecar_loads_unscaled_and_bit_identical(tmp_path):
    torch.manual_seed(0)
    model = TokenTransformer(LEGACY).eval()
    loaded = load_token_model(legacy_file(tmp_path, model), device="cpu")
    assert loaded.config["position_scale"] == 1.0
    assert loaded.config["neighbour_logits"] is False and not hasattr(loaded, "previous")
    codes = torch.randint(0, 256, (3, 6, 40))
    with torch.no_grad():
        assert torch.equal(loaded(codes), unscaled_logits(model.eval(), codes))


def test_saved_scale_round_trips(tmp_path):
    model = TokenTransformer(dict(TINY, position_scale=0.25))
    path = save_token_model(model, tmp_path / "scaled")
    assert json.loads(path.with_suffix(".json").read_text())["config"]["position_scale"] == 0.25
    assert load_token_model(path, device="cpu").config["position_scale"] == 0.25


def test_invalid_saved_scale_refused(tmp_path):
    path = save_token_model(TokenTransformer(TINY), tmp_path / "bad")
    sidecar = json.loads(path.with_suffix(".json").read_text())
    sidecar["config"]["position_scale"] = 11.0
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match=r"Invalid config in .*bad\.json: "
                                         r"config\['position_scale'\] must be a number"):
        load_token_model(path, device="cpu")


@pytest.mark.skipif("token-model-eeg-v1" not in list_pretrained(kind="token-model"),
                    reason="token-model-eeg-v1 is not shipped in this checkout")
def test_first_shipped_model_keeps_its_unscaled_encoding():
    model = load_token_model("token-model-eeg-v1", device="cpu")
    assert model.config["position_scale"] == 1.0 and model.config["neighbour_logits"] is False
    torch.manual_seed(0)
    codes = torch.randint(0, 256, (2, 6, 83))
    with torch.no_grad():
        assert torch.equal(model(codes), unscaled_logits(model, codes))


@pytest.mark.parametrize("recipe, changes", [
    ("token-model-v2-position.json", {"position_scale": 0.125}),
    ("token-model-v2.json", {"position_scale": 0.125, "neighbour_logits": True})])
def test_v2_recipes_change_only_their_keys(recipe, changes):
    old = load_token_recipe(RECIPES / "token-model.json")
    new = load_token_recipe(RECIPES / recipe)
    assert new["codec"] == "biocodec-eeg-v1"
    assert old["config"]["position_scale"] == 1.0 and not old["config"]["neighbour_logits"]
    assert new["config"] == dict(old["config"], **changes)
    # 20 epochs: the 2,000 steps (and learning-rate schedule) the first model was trained for
    assert new["max_epochs"] == 20
    same = set(old) - {"name", "codec", "config", "max_epochs", "notes"}
    assert {k: new[k] for k in same} == {k: old[k] for k in same}


@pytest.mark.parametrize("value", [1, 0, "true", None])
def test_neighbour_logits_checked(value):
    with pytest.raises(ValueError, match=r"config\['neighbour_logits'\] must be true or false"):
        check_token_model_config({"neighbour_logits": value})


def test_neighbour_tables_start_at_zero_and_add_their_size():
    torch.manual_seed(0)
    with_tables = TokenTransformer(dict(TINY, neighbour_logits=True)).eval()
    without = TokenTransformer(dict(TINY, neighbour_logits=False)).eval()
    without.load_state_dict(with_tables.state_dict(), strict=False)
    codes = torch.randint(0, 256, (2, 6, 30))
    with torch.no_grad():
        assert torch.equal(with_tables(codes), without(codes))
    extra = sum(p.numel() for p in with_tables.parameters()) - sum(
        p.numel() for p in without.parameters())
    assert extra == 2 * 6 * 257 * 256 == token_model_size(with_tables.config) - \
        token_model_size(without.config)


def test_neighbour_tables_read_the_visible_neighbours_only():
    model = TokenTransformer(dict(TINY, neighbour_logits=True)).eval()
    level, before, after, code = 2, 5, 9, 7
    with torch.no_grad():
        model.previous.weight[level * 257 + before, code] = 10.0
        model.following.weight[level * 257 + after, code] = 3.0
    codes = torch.randint(0, 256, (1, 6, 12))
    codes[0, level, 3], codes[0, level, 5] = before, after
    hidden = torch.zeros_like(codes, dtype=torch.bool)
    hidden[:, :, 4] = True  # frame 4 hidden, its neighbours 3 and 5 visible
    with torch.no_grad():
        terms = model.neighbour_logits(codes, hidden)
        assert float(sum(terms)[0, level, 4, code]) == 13.0  # both neighbours' rows read
        # the previous frame hidden too: it reads the [MASK] row, which is zero
        hidden[:, :, 3] = True
        assert float(sum(model.neighbour_logits(codes, hidden))[0, level, 4, code]) == 3.0
    # the first frame has no previous neighbour: the [MASK] row again
    assert float(terms[0][0, level, 0].abs().sum()) == 0.0


@pytest.mark.parametrize("claim, message", [
    (True, "missing following.weight; missing previous.weight"),
    (None, "unexpected following.weight; unexpected previous.weight")])
def test_sidecar_must_match_the_neighbour_tables(tmp_path, claim, message):
    """A sidecar that claims tables the weights lack, or drops the key of weights that have
    them (loading them as a legacy file without tables), is refused before any tensor is
    read."""
    model = TokenTransformer(dict(TINY, neighbour_logits=claim is None))
    path = save_token_model(model, tmp_path / "model")
    sidecar = json.loads(path.with_suffix(".json").read_text())
    if claim is None:
        del sidecar["config"]["neighbour_logits"]
    else:
        sidecar["config"]["neighbour_logits"] = claim
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match=rf"do not match the config in its sidecar \({message}\)"):
        load_token_model(path, device="cpu")
