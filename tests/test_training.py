"""Codec training on real EEG: the loss falls, codebooks are used, runs resume; recipes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mne_biocodec import load_codec
from mne_biocodec.datasets import load_eegmmidb_raw, make_codec_segments
from mne_biocodec.training import (TrainingRecipe, latest_checkpoint, pretrain_codec,
                                   warmup_cosine_factor)
from mne_biocodec.training.recipe import load_recipe

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
TINY = dict(n_filters=4, dimension=16, lstm=0, n_residual_layers=1, bins=32, codebook_dim=4,
            n_q=2, kmeans_iters=5)


@pytest.fixture(scope="module")
def real_segments(data_root):
    """1-s segments of a training-split recording (S001R03) and a held-out one (S004R03)."""
    train = make_codec_segments(load_eegmmidb_raw(1, [3], path=data_root), segment_seconds=1.0)
    valid = make_codec_segments(load_eegmmidb_raw(4, [3], path=data_root), segment_seconds=1.0)
    rng = np.random.default_rng(0)
    return train[rng.choice(len(train), 512, replace=False)], valid[:64]


def test_training_reduces_loss_and_uses_codebooks(real_segments, tmp_path):
    train, valid = real_segments
    net = pretrain_codec(train, valid, tmp_path / "run", max_epochs=4, steps_per_epoch=6,
                         batch_size=16, lr=2e-3, warmup_steps=2, progress=False, seed=0)
    assert net.module_ is net.codec and not net.codec.training
    losses = net.history[:, "train_loss"]
    print("train loss per epoch", losses, "valid", net.history[:, "valid_loss"])
    assert losses[-1] < 0.85 * losses[0], losses
    assert net.history[-1, "valid_loss"] < net.history[0, "valid_loss"]
    codec = load_codec(tmp_path / "run" / "codec.safetensors", device="cpu")
    with torch.no_grad():
        codes = codec.encode(torch.from_numpy(valid))
    distinct = [len(torch.unique(codes[:, q])) for q in range(codec.n_q)]
    assert min(distinct) > 1, distinct
    # the schedule advanced one step per batch
    assert net.history[-1, "train_steps"] == 24


def test_resume_continues_without_losing_epochs(real_segments, tmp_path):
    train, valid = real_segments
    run = tmp_path / "run"
    kwargs = dict(steps_per_epoch=3, batch_size=8, progress=False, seed=1)
    first = pretrain_codec(train, valid, run, max_epochs=2, **kwargs)
    assert latest_checkpoint(run / "checkpoints").name == "epoch-0002"
    # "interrupt" after 2 epochs, then ask for 3: only the third is trained
    resumed = pretrain_codec(train, valid, run, max_epochs=3, **kwargs)
    assert len(resumed.history) == 3
    np.testing.assert_allclose(resumed.history[:2, "train_loss"],
                               first.history[:, "train_loss"])
    assert resumed.history[-1, "train_steps"] == 9
    assert json.loads((run / "history.json").read_text())[-1]["epoch"] == 3
    assert not list(run.rglob("*.partial")) and not list(run.rglob(".tmp-*"))


def test_warmup_cosine_schedule():
    assert warmup_cosine_factor(0, 100, 10) == pytest.approx(5e-4)
    assert warmup_cosine_factor(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine_factor(100, 100, 10, final_ratio=0.0) == pytest.approx(0.0)
    assert warmup_cosine_factor(55, 100, 10, final_ratio=0.0) == pytest.approx(0.5)


def test_bad_training_segments(tmp_path):
    with pytest.raises(ValueError, match="single-channel segments"):
        pretrain_codec(np.zeros((4, 2, 250), np.float32), output_dir=tmp_path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        pretrain_codec(np.full((4, 1, 250), np.nan, np.float32), output_dir=tmp_path)


def test_bad_training_settings(tmp_path):
    segments = np.zeros((8, 1, 250), np.float32)
    with pytest.raises(TypeError, match=r"unexpected keyword arguments: \['learning_rate'\] "
                                        r"are not training settings; the settings are \["):
        pretrain_codec(segments, output_dir=tmp_path, learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"TrainingRecipe lr must be a finite number > 0.0; "
                                         r"got -0.001"):
        pretrain_codec(segments, output_dir=tmp_path, lr=-1e-3)
    with pytest.raises(ValueError, match=r"8 segments are fewer than one batch of 32; pass "
                                         r"steps_per_epoch or a smaller batch"):
        pretrain_codec(segments, output_dir=tmp_path, config=TINY, progress=False)
    with pytest.raises(ValueError, match="train_segments holds no segment"):
        pretrain_codec(segments[:0], output_dir=tmp_path)
    with pytest.raises(TypeError, match="recipe must be a TrainingRecipe, a dict of its "
                                        "fields or a JSON file; got int"):
        pretrain_codec(segments, output_dir=tmp_path, recipe=3)
    assert not list(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize("field, value, error", [
    ("max_epochs", 0, r"max_epochs must be an integer >= 1; got 0"),
    ("steps_per_epoch", 2.5, r"steps_per_epoch must be None or an integer >= 1; got 2.5"),
    ("batch_size", True, r"batch_size must be an integer >= 1; got True"),
    ("time_weight", float("nan"), r"time_weight must be a finite number >= 0.0; got nan"),
    ("final_lr_ratio", 2.0, r"final_lr_ratio must be a finite number >= 0.0 and <= 1.0"),
    ("seed", -1, r"seed must be an integer >= 0; got -1"),
    ("n_threads", "2", r"n_threads must be None or an integer >= 1; got '2'"),
])
def test_training_recipe_checks_its_fields(field, value, error):
    with pytest.raises(ValueError, match=error):
        TrainingRecipe(**{field: value})
    assert getattr(TrainingRecipe(), field) != value


def test_training_recipe_round_trips_and_reads_recipe_files(tmp_path):
    recipe = TrainingRecipe(max_epochs=3, steps_per_epoch=7, lr=5e-4, n_threads=1)
    assert TrainingRecipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    assert recipe.replace(seed=4).seed == 4 and recipe.seed == 0
    assert set(recipe.run_settings()) < set(TrainingRecipe.field_names())
    # a shipped recipe file: its data keys are skipped, its training keys taken
    shipped = TrainingRecipe.from_json(RECIPES / "biocodec-eeg.json")
    assert (shipped.batch_size, shipped.steps_per_epoch, shipped.warmup_steps) == (64, 500, 250)
    assert load_recipe(RECIPES / "biocodec-emg.json")["segment_seconds"] == 1.0
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(dict(json.loads((RECIPES / "biocodec-eeg.json").read_text()),
                                    learning_rate=1e-3)))
    with pytest.raises(ValueError, match=r"Unknown training settings \['learning_rate'\]"):
        TrainingRecipe.from_json(path)
    with pytest.raises(ValueError, match=r"typo.json: Unknown training settings"):
        load_recipe(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"must hold a JSON object; got list"):
        TrainingRecipe.from_json(path)


def test_recipe_json_and_keyword_overrides_train_alike(tmp_path):
    """``recipe=`` (a file or a dataclass) and keyword overrides are one set of settings."""
    segments = np.random.default_rng(0).standard_normal((16, 1, 250)).astype(np.float32)
    settings = dict(max_epochs=1, steps_per_epoch=2, batch_size=8, warmup_steps=1,
                    n_threads=1)
    (tmp_path / "training.json").write_text(json.dumps(dict(settings, lr=0.5)))
    by_file = pretrain_codec(segments, None, tmp_path / "a", recipe=tmp_path / "training.json",
                             config=TINY, progress=False, lr=2e-3)
    by_keywords = pretrain_codec(segments, None, tmp_path / "b", config=TINY, progress=False,
                                 lr=2e-3, **settings)
    assert by_file.recipe == by_keywords.recipe == TrainingRecipe(lr=2e-3, **settings)
    assert by_file.history[:, "train_loss"] == by_keywords.history[:, "train_loss"]
