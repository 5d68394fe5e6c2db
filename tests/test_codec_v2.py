"""Codec v2 training: versioned splits, warm starts, data-set balance, recipe checks."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mne_biocodec.codec import BioCodec, load_codec, save_codec
from mne_biocodec.datasets import CODEC_SPLITS, load_eegmmidb_raw
from mne_biocodec.datasets.splits import (CODEC_SPLIT_VERSIONS, SHIPPED_SPLIT_VERSION,
                                          iter_split_raws, list_split_recordings)
from mne_biocodec.training import pretrain_codec
from mne_biocodec.training.distributed import ShardedBatches
from mne_biocodec.training.recipe import (dataset_sample_weights, load_recipe,
                                          prepare_recipe_data, recipe_codec_config)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TINY = dict(n_filters=4, dimension=16, lstm=0, n_residual_layers=1, bins=32, codebook_dim=4,
            n_q=2, kmeans_iters=5)


def test_v1_split_is_kept_for_the_shipped_codec():
    # what reads CODEC_SPLITS (model card figures, MOABB notes) still means v1
    assert SHIPPED_SPLIT_VERSION == "v1" and CODEC_SPLITS is CODEC_SPLIT_VERSIONS["v1"]
    assert CODEC_SPLITS["eeg"]["heldout"]["eegmat"] == (6, 7, 8)
    assert CODEC_SPLITS["eeg"]["train"]["eegmat"] == (0, 1, 2, 3, 5)
    assert 2 not in CODEC_SPLITS["eeg"]["train"]["eegmmidb"][1]
    assert list_split_recordings("heldout") == list_split_recordings("heldout", version="v1")
    # the default codec is v1's; v2 ships by its explicit name and records its split
    from mne_biocodec.pretrained import pretrained_info

    assert pretrained_info("biocodec-eeg")["split_version"] == SHIPPED_SPLIT_VERSION
    assert pretrained_info("biocodec-eeg-v2")["split_version"] == "v2"


def test_v2_split_follows_data_md():
    v1, v2 = CODEC_SPLIT_VERSIONS["v1"]["eeg"], CODEC_SPLIT_VERSIONS["v2"]["eeg"]
    assert v2["train"]["eegmat"] == (0, 1, 2, 3, 5, 9, 10, 11, 12, 13, 14, 15)
    assert v2["heldout"]["eegmat"] == (6, 7, 8, 16, 17, 18, 19, 21, 22)
    assert v2["train"]["eegmmidb"][1] == (1, 2, 3, 5, 7, 9, 11, 13)
    train = set(list_split_recordings("train", version="v2"))
    heldout = set(list_split_recordings("heldout", version="v2"))
    assert not train & heldout
    # v1 never saw a v2 held-out recording, so both codecs are measured on v2's
    assert set(list_split_recordings("train", version="v1")) <= train
    assert set(list_split_recordings("heldout", version="v1")) <= heldout
    assert len(heldout) - len(list_split_recordings("heldout", version="v1")) == 12
    assert v1["heldout"]["kalunga"] == v2["heldout"]["kalunga"] == (3, 4)


def test_v2_split_files_are_present(data_root):
    names = [name for name, _ in iter_split_raws("heldout", "eeg", path=data_root,
                                                  datasets=["eegmat"], version="v2",
                                                  on_missing="raise")]
    assert names[-1] == "eegmat/Subject22_2" and len(names) == 18
    names = [name for name, _ in iter_split_raws("train", "eeg", path=data_root,
                                                  datasets=["eegmat"], version="v2",
                                                  on_missing="raise")]
    assert len(names) == 24 and "eegmat/Subject15_1" in names
    assert load_eegmmidb_raw(1, [2], path=data_root).n_times > 0


def test_missing_recording_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"eegmmidb/S004R03 of the v2 eeg heldout "
                       r"split is missing: .*S004R03\.edf"):
        next(iter_split_raws("heldout", "eeg", path=tmp_path, version="v2",
                             on_missing="raise"))
    with pytest.raises(ValueError, match=r"split version must be one of \['v1', 'v2'\].*"
                       r"got 'v3'"):
        list_split_recordings("train", version="v3")
    with pytest.raises(ValueError, match="on_missing must be 'warn' or 'raise'; got 'skip'"):
        next(iter_split_raws("train", path=tmp_path, on_missing="skip"))


def test_dataset_weights_set_the_shares():
    names = ["eegmmidb/S001R01", "kalunga/subject01", "bonn/Z001"]
    counts = [900, 20, 80]
    weights = dataset_sample_weights(names, counts, {"eegmmidb": 1, "kalunga": 1,
                                                     "bonn": 2})
    labels = np.repeat(["eegmmidb", "kalunga", "bonn"], counts)
    shares = {d: weights[labels == d].sum() for d in ("eegmmidb", "kalunga", "bonn")}
    np.testing.assert_allclose(list(shares.values()), [0.25, 0.25, 0.5])
    # a data set left out keeps its natural share
    partial = dataset_sample_weights(names, counts, {"kalunga": 1, "bonn": 1})
    np.testing.assert_allclose(partial[labels == "eegmmidb"].sum(), 0.9)
    np.testing.assert_allclose(partial[labels == "kalunga"].sum(), 0.05)
    with pytest.raises(ValueError, match=r"dataset_weights names \['dreams'\]"):
        dataset_sample_weights(names, counts, {"dreams": 1})
    batches = ShardedBatches(1000, 50, steps_per_epoch=40, seed=3, weights=weights)
    drawn = np.concatenate(list(batches.epoch(0)))
    assert len(drawn) == 2000 and abs(np.mean(labels[drawn] == "kalunga") - 0.25) < 0.04
    # seeded: the same epoch draws the same batches
    np.testing.assert_array_equal(drawn, np.concatenate(list(batches.epoch(0))))
    with pytest.raises(ValueError, match="weights must hold 1000 finite, non-negative"):
        ShardedBatches(1000, 50, weights=np.ones(10))


def test_warm_start_overrides_training_settings_only(tmp_path):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    segments = rng.standard_normal((32, 1, 240)).astype(np.float32)
    init = BioCodec(dict(TINY))
    init.train()
    with torch.no_grad():
        init(torch.from_numpy(segments[:16]))  # k-means initialises the codebooks
    init.eval()
    result = pretrain_codec(segments, None, tmp_path / "run", init=init,
                            config={"commitment_weight": 0.1, "name": "warm"}, max_epochs=1,
                            steps_per_epoch=1, batch_size=8, progress=False)
    assert result.codec.config["commitment_weight"] == 0.1
    assert result.codec.quantizer.layers[0].commitment_weight == 0.1
    # warm: the codebooks went on from init's instead of a new k-means
    np.testing.assert_allclose(result.codec.quantizer.layers[0]._codebook.embed.numpy(),
                               init.quantizer.layers[0]._codebook.embed.numpy(), atol=0.2)
    saved = load_codec(tmp_path / "run" / "codec.safetensors", device="cpu")
    assert saved.config["name"] == "warm"
    with pytest.raises(ValueError, match="init holds another architecture than config"):
        pretrain_codec(segments, None, tmp_path / "other", init=init, config={"n_q": 3},
                       max_epochs=1, steps_per_epoch=1, batch_size=8, progress=False)


def _write_recipe(tmp_path, **changes):
    recipe = json.loads((RECIPES / "biocodec-eeg-v2.json").read_text())
    recipe.update(changes)
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return path


def test_v2_recipe_keys_are_checked(tmp_path):
    recipe = load_recipe(RECIPES / "biocodec-eeg-v2.json")
    assert recipe["split_version"] == "v2" and recipe["init"] == "biocodec-eeg-v1"
    assert "split_version" not in load_recipe(RECIPES / "biocodec-eeg.json")  # v1 by default
    with pytest.raises(ValueError, match=r"recipe\.json: split version must be one of"):
        load_recipe(_write_recipe(tmp_path, split_version="v9"))
    with pytest.raises(ValueError, match="dataset_weights must be a non-empty JSON object"):
        load_recipe(_write_recipe(tmp_path, dataset_weights={"bonn": -1}))
    with pytest.raises(ValueError, match="init must be a shipped codec name"):
        load_recipe(_write_recipe(tmp_path, init=3))


def test_a_file_init_is_pinned_by_its_weights(tmp_path):
    codec = BioCodec(dict(TINY, name="tiny"))
    save_codec(codec, tmp_path / "init.safetensors")
    init = str(tmp_path / "init.safetensors")
    with pytest.raises(ValueError, match="must pin its weights with init_weights_sha256"):
        load_recipe(_write_recipe(tmp_path, init=init))
    with pytest.raises(ValueError, match="64 lower-case hex digits"):
        load_recipe(_write_recipe(tmp_path, init=init, init_weights_sha256="abc"))
    with pytest.raises(ValueError, match="with an init"):
        load_recipe(_write_recipe(tmp_path, init=None, init_weights_sha256="0" * 64))
    pinned = load_recipe(_write_recipe(tmp_path, init=init,
                                       init_weights_sha256=codec.weights_sha256()))
    config, warm = recipe_codec_config(pinned)
    assert warm.weights_sha256() == codec.weights_sha256() and config["name"] == "biocodec-eeg-v2"
    with torch.no_grad():  # the file changes under its name
        next(codec.parameters()).add_(1.0)
    save_codec(codec, tmp_path / "init.safetensors")
    with pytest.raises(ValueError, match="holds other weights than its init_weights_sha256"):
        recipe_codec_config(pinned)


def test_segment_cache_of_another_split_is_refused(tmp_path):
    recipe = load_recipe(RECIPES / "biocodec-eeg-v2.json")
    out = tmp_path / "run"
    out.mkdir()
    np.savez(out / "segments.npz", train=np.zeros((4, 1, 500), np.float32),
             valid=np.zeros((2, 1, 1250), np.float32))
    (out / "data.json").write_text(json.dumps({"split_version": "v1",
                                               "segment_seconds": 2.0}))
    with pytest.raises(ValueError, match="holds the 'v1' split, the recipe asks for 'v2'"):
        prepare_recipe_data(recipe, out)
    (out / "data.json").write_text(json.dumps({"split_version": "v2",
                                               "segment_seconds": 2.0}))
    train, valid, meta = prepare_recipe_data(recipe, out)
    assert train.shape == (4, 1, 500) and meta["split_version"] == "v2"


def test_v2_recipe_trains_warm_balanced_and_resumes(tmp_path, capsys):
    from mne_biocodec.training import train_from_recipe

    rng = np.random.default_rng(0)
    out = tmp_path / "run"
    out.mkdir()
    np.savez(out / "segments.npz", train=rng.standard_normal((8, 1, 500)).astype(np.float32),
             valid=rng.standard_normal((2, 1, 1250)).astype(np.float32))
    (out / "data.json").write_text(json.dumps({
        "split_version": "v2", "segment_seconds": 2.0, "train_channel_hours": 0.01,
        "train_recordings": ["eegmmidb/S001R01", "kalunga/subject01"],
        "train_segments_per_recording": [6, 2]}))
    path = _write_recipe(tmp_path, batch_size=2, steps_per_epoch=1, max_epochs=1,
                         valid_segments=2, warmup_steps=0,
                         dataset_weights={"eegmmidb": 1, "kalunga": 1})
    train_from_recipe(path, out=out)
    codec = load_codec(out / "codec.safetensors", device="cpu")
    shipped = load_codec("biocodec-eeg", device="cpu")
    assert codec.config["name"] == "biocodec-eeg-v2"
    assert {k: v for k, v in codec.config.items() if k != "name"} == {
        k: v for k, v in shipped.config.items() if k != "name"}
    manifest = json.loads((out / "checkpoints" / "epoch-0001" / "manifest.json").read_text())
    assert len(manifest["run"]["sample_weights_sha256"]) == 64
    train_from_recipe(path, out=out, max_epochs=2)  # the same command, one epoch more
    assert "Resuming from" in capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    assert [h["train_steps"] for h in history] == [1, 2]
    other = _write_recipe(tmp_path, batch_size=2, steps_per_epoch=1, max_epochs=3,
                          valid_segments=2, warmup_steps=0, dataset_weights={"kalunga": 3})
    with pytest.warns(RuntimeWarning, match="other settings.*sample_weights_sha256"):
        train_from_recipe(other, out=out)


def test_ship_codec_refuses_to_replace_a_shipped_name(tmp_path, monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("ship_codec", RECIPES / "ship_codec.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    monkeypatch.setattr(ship, "PRETRAINED", tmp_path / "pretrained")
    (tmp_path / "pretrained").mkdir()
    first, second = BioCodec(dict(TINY)), BioCodec(dict(TINY))
    with torch.no_grad():
        next(second.parameters()).add_(1.0)
    save_codec(first, tmp_path / "first.safetensors")
    save_codec(second, tmp_path / "second.safetensors")
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"train_steps": 7}))
    ship.main([str(tmp_path / "first.safetensors"), "--name", "tiny-v2", "--extra", str(extra)])
    registry = tmp_path / "pretrained" / "registry.json"
    before = json.loads(registry.read_text())["tiny-v2"]["sha256"]
    sidecar = json.loads((tmp_path / "pretrained" / "tiny-v2.json").read_text())
    assert sidecar["extra"] == {"train_steps": 7} and sidecar["config"]["name"] == "tiny-v2"
    with pytest.raises(SystemExit) as err:
        ship.main([str(tmp_path / "second.safetensors"), "--name", "tiny-v2"])
    assert err.value.code == 2 and "pass --replace" in capsys.readouterr().err
    assert json.loads(registry.read_text())["tiny-v2"]["sha256"] == before
    shipped = load_codec(tmp_path / "pretrained" / "tiny-v2.safetensors", device="cpu")
    assert shipped.weights_sha256() == first.weights_sha256()
    ship.main([str(tmp_path / "second.safetensors"), "--name", "tiny-v2", "--replace"])
    assert json.loads(registry.read_text())["tiny-v2"]["sha256"] != before
    shipped = load_codec(tmp_path / "pretrained" / "tiny-v2.safetensors", device="cpu")
    assert shipped.weights_sha256() == second.weights_sha256()
