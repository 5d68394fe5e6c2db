"""Codec training on real EEG: the loss falls, codebooks are used, runs resume."""

import json

import numpy as np
import pytest
import torch

from mne_biocodec import load_codec
from mne_biocodec.datasets import load_eegmmidb_raw, make_codec_segments
from mne_biocodec.training import latest_checkpoint, pretrain_codec, warmup_cosine_factor


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
