"""Training resume under damaged checkpoint folders: it resumes from the newest intact
checkpoint (and says so) or refuses, and never trains over checkpoints it did not resume."""

import json
import re
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mne_biocodec.cli import main
from mne_biocodec.training import pretrain_codec
from mne_biocodec.training.checkpoint import (MANIFEST_NAME, checkpoint_folders,
                                              latest_checkpoint, resume_point,
                                              verify_checkpoint)

# A tiny codec and 4 epochs of 2 steps: a whole run takes seconds, a resumed epoch less.
TINY = dict(n_filters=4, dimension=16, lstm=0, n_residual_layers=1, bins=32, codebook_dim=4,
            n_q=2, kmeans_iters=5)
TRAINING = dict(config=TINY, max_epochs=4, steps_per_epoch=2, batch_size=8, lr=2e-3,
                warmup_steps=1, seed=0, n_threads=1, progress=False)


@pytest.fixture(scope="module")
def segments():
    return np.random.default_rng(0).standard_normal((32, 1, 250)).astype(np.float32)


@pytest.fixture(scope="module")
def finished(segments, tmp_path_factory):
    """Folder of an uninterrupted 4-epoch run: checkpoints 3 and 4 kept."""
    out = tmp_path_factory.mktemp("finished") / "run"
    pretrain_codec(segments, None, out, **TRAINING)
    assert [p.name for p in checkpoint_folders(out / "checkpoints")] == [
        "epoch-0003", "epoch-0004"]
    return out


@pytest.fixture
def run(finished, segments, tmp_path):
    """A copy of the finished run to damage, and a function that resumes it."""
    reference = finished
    out = tmp_path / "run"
    shutil.copytree(reference, out)

    def resume(train=None, **kwargs):
        data = segments[:16] if train == "fewer" else segments
        return pretrain_codec(data, None, out, **dict(TRAINING, **kwargs))

    return out, reference, resume


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _truncate(path):
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _assert_same_training(out, reference):
    """The resumed run ends exactly where the uninterrupted one did."""
    trained, expected = (load_file(str(folder / "codec.safetensors"))
                         for folder in (out, reference))
    for key, value in expected.items():
        assert torch.equal(trained[key], value), key
    losses = [[e["train_loss"] for e in json.loads((folder / "history.json").read_text())]
              for folder in (out, reference)]
    assert losses[0] == losses[1] and len(losses[0]) == 4


def _lose_epoch_4(checkpoints):
    """The state a kill between epoch 4's checkpoint and its publication would leave."""
    shutil.rmtree(checkpoints / "epoch-0004")


@pytest.mark.parametrize("damage, warning", [
    (lambda c: (_lose_epoch_4(c), (c / "LATEST").unlink()), "LATEST is missing; resuming "
     "from epoch-0003"),
    (lambda c: (_lose_epoch_4(c), (c / "LATEST").write_text("epoch-0007")),
     "LATEST names 'epoch-0007', which is not the newest intact checkpoint; resuming from "
     "epoch-0003"),
    (lambda c: _truncate(c / "epoch-0004" / "module.safetensors"),
     r"epoch-0004 is damaged: .*epoch-0004/module.safetensors does not match its SHA-256.*"
     "Resuming from epoch-0003"),
    (lambda c: _truncate(c / "epoch-0004" / "history.json"),
     r"epoch-0004 is damaged: .*epoch-0004/history.json does not match its SHA-256.*"
     "Resuming from epoch-0003"),
    (lambda c: _truncate(c / "epoch-0004" / "optimizer.safetensors"),
     r"epoch-0004/optimizer.safetensors does not match"),
    (lambda c: (c / "epoch-0004" / MANIFEST_NAME).write_text("{"),
     r"epoch-0004/manifest.json is not readable JSON"),
], ids=["LATEST-deleted", "LATEST-names-missing-epoch", "module-truncated",
        "history-truncated", "optimizer-truncated", "manifest-truncated"])
def test_resumes_from_newest_intact_checkpoint(run, damage, warning):
    out, reference, resume = run
    damage(out / "checkpoints")
    kept = _files(out / "checkpoints" / "epoch-0003")
    with pytest.warns(RuntimeWarning, match=warning):
        resume()
    _assert_same_training(out, reference)  # epoch 4 trained again, bit for bit
    assert _files(out / "checkpoints" / "epoch-0003") == kept  # resumed from, untouched
    assert (out / "checkpoints" / "LATEST").read_text() == "epoch-0004"
    assert verify_checkpoint(out / "checkpoints" / "epoch-0004")[0] == 4  # rewritten whole


def test_resume_names_its_checkpoint(run, capsys):
    out, reference, resume = run
    _lose_epoch_4(out / "checkpoints")
    (out / "checkpoints" / "LATEST").write_text("epoch-0003")
    resume(progress=True)
    printed = capsys.readouterr().out
    assert re.search(r"Resuming from \S+epoch-0003 \(3 epochs trained\)", printed), printed
    _assert_same_training(out, reference)


def test_checkpoints_without_manifest_still_resume(run):
    """Folders written before manifests existed are checked by parsing their files."""
    out, reference, resume = run
    for folder in checkpoint_folders(out / "checkpoints"):
        (folder / MANIFEST_NAME).unlink()
    _truncate(out / "checkpoints" / "epoch-0004" / "module.safetensors")
    with pytest.warns(RuntimeWarning, match=r"epoch-0004/module.safetensors is not a "
                                            "readable safetensors file"):
        resume()
    _assert_same_training(out, reference)


def test_resume_with_other_settings_warns(run):
    out, _, resume = run
    _lose_epoch_4(out / "checkpoints")
    (out / "checkpoints" / "LATEST").write_text("epoch-0003")
    kept = _files(out / "checkpoints" / "epoch-0003")
    with pytest.warns(RuntimeWarning, match=r"resuming epoch-0003 with other settings than it "
                      r"was trained with \(lr: 0.002 in the checkpoint, 0.001 now; seed: 0 in "
                      r"the checkpoint, 1 now\)"):
        resume(lr=1e-3, seed=1)
    history = json.loads((out / "history.json").read_text())
    assert [e["epoch"] for e in history] == [1, 2, 3, 4] and history[-1]["train_steps"] == 8
    assert _files(out / "checkpoints" / "epoch-0003") == kept


def _damage_all(checkpoints):
    for folder in checkpoint_folders(checkpoints):
        _truncate(folder / "history.json")


def _strip_manifests_and_damage(checkpoints):
    for folder in checkpoint_folders(checkpoints):
        (folder / MANIFEST_NAME).unlink()
        _truncate(folder / "history.json")


@pytest.mark.parametrize("damage, kwargs, error", [
    (_damage_all, {}, r"No checkpoint in \S+checkpoints is intact, so the run cannot resume: "
     r"epoch-0004 is damaged: \S+epoch-0004/history.json does not match .* epoch-0003 is "
     r"damaged: \S+epoch-0003/history.json .* Nothing was changed; pass a new output folder"),
    (_strip_manifests_and_damage, {}, r"epoch-0004/history.json is not readable JSON"),
    (None, {"config": dict(TINY, n_filters=8)}, r"epoch-0004 is of another run "
     r"\(config.n_filters: 4 in the checkpoint, 8 now\). Nothing was changed"),
    (None, {"train": "fewer"}, r"another run \(train_segments: \[32, 1, 250\] in the "
     r"checkpoint, \[16, 1, 250\] now\)"),
    (lambda c: [(f / MANIFEST_NAME).unlink() for f in checkpoint_folders(c)],
     {"config": dict(TINY, bins=64)}, r"another run \(config.bins: 32 in the checkpoint"),
    (None, {"resume": False}, r"holds checkpoints of an earlier run \(epoch-0003, "
     r"epoch-0004\) and resume is off"),
], ids=["none-intact", "none-intact-without-manifests", "other-config", "other-data",
        "other-config-without-manifests", "resume-off"])
def test_refuses_checkpoints_it_cannot_resume(run, damage, kwargs, error):
    out, _, resume = run
    if damage is not None:
        damage(out / "checkpoints")
    before = _files(out)
    with pytest.raises(ValueError, match=error):
        resume(**kwargs)
    assert _files(out) == before  # every file byte-identical, nothing added


def test_interrupted_first_checkpoint_starts_afresh(segments, tmp_path):
    """A kill while the first checkpoint was staged leaves no checkpoint: a fresh start."""
    checkpoints = tmp_path / "run" / "checkpoints"
    (checkpoints / ".epoch-0001.partial").mkdir(parents=True)
    (checkpoints / ".epoch-0001.partial" / "module.safetensors").write_bytes(b"")
    assert resume_point(checkpoints).folder is None and latest_checkpoint(checkpoints) is None
    pretrain_codec(segments, None, tmp_path / "run", **dict(TRAINING, max_epochs=1))
    assert sorted(p.name for p in checkpoints.iterdir()) == ["LATEST", "epoch-0001"]


def test_manifest_cannot_point_outside_its_folder(run):
    out, _, _ = run
    folder = out / "checkpoints" / "epoch-0004"
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    manifest["files"]["../../codec.safetensors"] = manifest["files"]["history.json"]
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"manifest.json lists '../../codec.safetensors' .* "
                                         "expected a file name"):
        verify_checkpoint(folder)
    assert latest_checkpoint(out / "checkpoints").name == "epoch-0003"


def test_cli_pretrain_refuses_another_runs_folder(segments, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    np.savez(out / "segments.npz", train=segments, valid=segments[:8])  # the segment cache
    (out / "data.json").write_text(json.dumps({"train_recordings": ["synthetic"],
                                               "train_channel_hours": 0.01}))
    recipe = {"name": "tiny", "modality": "eeg", "codec_config": TINY, "segment_seconds": 1.0,
              "valid_segments": 8, "batch_size": 8, "lr": 2e-3, "time_weight": 1.0,
              "freq_weight": 1.0, "warmup_steps": 1, "final_lr_ratio": 0.01,
              "steps_per_epoch": 1, "max_epochs": 1, "seed": 0, "n_threads": 1}
    (tmp_path / "tiny.json").write_text(json.dumps(recipe))
    (tmp_path / "other.json").write_text(json.dumps(
        dict(recipe, codec_config=dict(TINY, n_filters=8))))
    assert main(["pretrain", str(tmp_path / "tiny.json"), "--out", str(out)]) == 0
    before = _files(out / "checkpoints")
    capsys.readouterr()
    with pytest.raises(SystemExit, match="2"):
        main(["pretrain", str(tmp_path / "other.json"), "--out", str(out)])
    err = capsys.readouterr().err
    assert re.search(r"error: The newest intact checkpoint \S+epoch-0001 is of another run "
                     r"\(config.n_filters: 4 in the checkpoint, 8 now\)\. .*--out", err), err
    assert _files(out / "checkpoints") == before
