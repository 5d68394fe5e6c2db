"""recipes/device_train.py: the segment pack that travels to a lent accelerator (round trip,
refusal of a damaged pack) and the variants' recipes."""

import json
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def device_train(load_script):
    return load_script("recipes/device_train.py")


@pytest.fixture
def run_dir(tmp_path):
    """A run folder whose segment cache matches the v2 recipe (2-s segments at 250 Hz)."""
    rng = np.random.default_rng(0)
    train = (rng.standard_normal((300, 1, 500)) * rng.uniform(0.1, 3.0, (300, 1, 1))
             ).astype(np.float32)
    valid = rng.standard_normal((8, 1, 1250)).astype(np.float32)
    folder = tmp_path / "run"
    folder.mkdir()
    np.savez(folder / "segments.npz", train=train, valid=valid)
    (folder / "data.json").write_text(json.dumps({
        "split_version": "v2", "segment_seconds": 2.0, "train_segments_per_recording": [300],
        "train_channel_hours": 300 * 2.0 / 3600}))
    return folder, train, valid


@pytest.fixture
def plan(tmp_path):
    plan = json.loads((REPO / "recipes" / "biocodec-eeg-v2-device.json").read_text())
    plan.update(base=str(REPO / "recipes" / "biocodec-eeg-v2.json"), budget_mb=0.25)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def test_pack_round_trip_and_damage(device_train, run_dir, plan, tmp_path):
    folder, train, valid = run_dir
    info = device_train.pack(plan, folder, tmp_path / "pack")
    assert (tmp_path / "pack" / "segments.npz").stat().st_size <= 0.25e6
    assert 100 <= info["n_segments"] < 300  # the budget cuts the subset
    packed, packed_valid, read = device_train.unpack(tmp_path / "pack")
    assert read == info and packed.shape == (info["n_segments"], 1, 500)
    np.testing.assert_array_equal(packed_valid, valid)  # the held-out segments travel exact
    with np.load(tmp_path / "pack" / "segments.npz") as data:
        source = train[data["index"]]
    # 10 bits with a per-segment scale: error within half a step of each segment's peak / 511
    step = np.abs(source).max(axis=-1, keepdims=True) / 511
    assert np.all(np.abs(packed - source) <= 0.5 * step + 1e-6)
    npz = tmp_path / "pack" / "segments.npz"
    blob = bytearray(npz.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    npz.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="does not hash to the SHA-256"):
        device_train.unpack(tmp_path / "pack")


def test_variant_recipes(device_train, plan):
    plan_dict, base = device_train.read_plan(plan)
    warm = device_train.variant_recipe(plan_dict, base, "warm")
    scratch = device_train.variant_recipe(plan_dict, base, "scratch-qdrop")
    assert warm["init"] == "biocodec-eeg-v1" and scratch["init"] is None
    assert warm["batch_size"] == 256 and warm["lr"] == 2e-4
    assert scratch["codec_config"]["quantizer_dropout"] == 0.5
    assert warm["codec_config"]["name"] == "biocodec-eeg-v2-warm"
    fit, selection = device_train.split_selection(np.arange(50)[:, None], 10)
    assert len(selection) == 10 and not set(fit[:, 0]) & set(selection[:, 0])


def test_train_one_resumes_and_measures_afresh(device_train, run_dir, plan, tmp_path,
                                               capsys):
    """The same command again continues the newest checkpoint; the step time is measured
    on every call (a resumed run may be on another machine)."""
    folder, _, _ = run_dir
    small = json.loads(plan.read_text())
    small.update(batch_size=4, steps_per_epoch=2, warmup_steps=1, selection_segments=8,
                 variants={"warm": {"lr": 2e-4}})
    plan.write_text(json.dumps(small))
    device_train.pack(plan, folder, tmp_path / "pack")
    work = tmp_path / "work"
    checkpoints = work / "warm" / "checkpoints"
    # a deadline already past: one epoch per call
    device_train.train_one(plan, tmp_path / "pack", work, "warm", 0.0)
    first = (checkpoints / "LATEST").read_text().strip()
    device_train.train_one(plan, tmp_path / "pack", work, "warm", 0.0)
    second = (checkpoints / "LATEST").read_text().strip()
    assert (first, second) == ("epoch-0001", "epoch-0002")
    manifest = json.loads((checkpoints / second / "manifest.json").read_text())
    assert manifest["epochs"] == 2
    history = json.loads((checkpoints / second / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    scores = json.loads((work / "warm" / "scores.json").read_text())
    assert scores["variant"] == "warm" and "6" in scores["selection"]
    assert sorted(p.name for p in work.iterdir()) == ["warm"]  # no probe folder kept
    assert capsys.readouterr().out.count("ms/step") == 2
