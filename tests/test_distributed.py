"""Data-parallel pretraining: 2 gloo processes (torchrun) take the steps of 1 process."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mne_biocodec import load_codec
from mne_biocodec.cli import main
from mne_biocodec.datasets import load_eegmmidb_raw, make_codec_segments
from mne_biocodec.training import pretrain_codec
from mne_biocodec.training.distributed import ShardedBatches

# A tiny codec (same architecture, fewer filters, no LSTM, 2 x 32 codes) keeps each process
# fast; 32 codes for 4 x 21 frames per process make dead codes, so their replacement is
# exercised too.
TINY = dict(n_filters=4, dimension=16, lstm=0, n_residual_layers=1, bins=32, codebook_dim=4,
            n_q=2, kmeans_iters=5)
TRAINING = dict(config=TINY, max_epochs=1, steps_per_epoch=3, batch_size=8, lr=2e-3,
                warmup_steps=1, seed=0, n_threads=1, progress=False)

# Run by torchrun in each process: train (the call joins and leaves the process group by
# itself), then save this rank's codec state.
WORKER = """
import json, os, sys
import numpy as np, torch.distributed as dist
from safetensors.torch import save_file
from mne_biocodec.training import pretrain_codec
kwargs = json.loads(sys.argv[1]); data = np.load(sys.argv[2]); out = sys.argv[3]
result = pretrain_codec(data["train"], data["valid"], out, **kwargs)
assert not dist.is_initialized() and result.history[-1, "train_steps"] == 3
save_file({k: v.contiguous() for k, v in result.codec.state_dict().items()},
          f"{out}/rank{os.environ['RANK']}.safetensors")
"""


@pytest.fixture(scope="module")
def segments(data_root):
    """1-s segments of a training-split recording (S001R03): 64 to train, 16 held out."""
    raw = load_eegmmidb_raw(1, [3], path=data_root).crop(0, 20)
    seg = make_codec_segments(raw, segment_seconds=1.0)
    pick = np.random.default_rng(0).choice(len(seg), 80, replace=False)
    return seg[pick[:64]], seg[pick[64:]]


def _batch_losses(history):
    return [b["train_loss"] for b in history[-1]["batches"]]


def test_two_gloo_processes_match_one_process(segments, tmp_path):
    train, valid = segments
    np.savez(tmp_path / "segments.npz", train=train, valid=valid)
    (tmp_path / "worker.py").write_text(WORKER)
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", str(tmp_path / "worker.py"), json.dumps(TRAINING),
         str(tmp_path / "segments.npz"), str(tmp_path / "ddp")],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]

    single_run = pretrain_codec(train, valid, tmp_path / "single", **TRAINING)
    codec, history = single_run.codec, single_run.history
    single = [b["train_loss"] for b in history[-1, "batches"]]
    ddp_history = json.loads((tmp_path / "ddp" / "history.json").read_text())
    print("1 process", single, "\n2 processes", _batch_losses(ddp_history))
    # Same global batches, averaged gradients and synced codebooks: the losses agree to
    # float rounding (measured ~1e-7 relative); rtol 1e-4 leaves room for BLAS differences.
    np.testing.assert_allclose(_batch_losses(ddp_history), single, rtol=1e-4)
    assert ddp_history[-1]["train_steps"] == 3
    assert ddp_history[-1]["valid_loss"] == pytest.approx(history[-1, "valid_loss"], rel=1e-4)

    rank0 = load_file(str(tmp_path / "ddp" / "rank0.safetensors"))
    rank1 = load_file(str(tmp_path / "ddp" / "rank1.safetensors"))
    for key in rank0:  # weights and codebook buffers identical on both processes
        assert torch.equal(rank0[key], rank1[key]), key
    reference = codec.state_dict()
    for layer in range(TINY["n_q"]):
        key = f"quantizer.vq.layers.{layer}._codebook.embed"
        torch.testing.assert_close(rank0[key], reference[key], rtol=1e-4, atol=1e-4)
    # Dead codes were replaced (revived codes restart at the threshold count 2, then decay).
    sizes = reference["quantizer.vq.layers.0._codebook.cluster_size"]
    assert torch.any((sizes > 1.9) & (sizes < 2.0))
    # Rank 0 wrote the final codec and a checkpoint; nothing half-written is left.
    published = load_codec(tmp_path / "ddp" / "codec.safetensors", device="cpu")
    for key, value in published.state_dict().items():
        assert torch.equal(value, rank0[key]), key
    assert (tmp_path / "ddp" / "checkpoints" / "LATEST").read_text() == "epoch-0001"
    assert not list((tmp_path / "ddp").rglob("*.partial"))


def test_sharded_batches_split_the_global_batch():
    whole = list(ShardedBatches(50, 8, steps_per_epoch=9, seed=3).epoch(2))
    ranks = [list(ShardedBatches(50, 8, 9, rank=r, world_size=4, seed=3).epoch(2))
             for r in range(4)]
    for step, batch in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([r[step] for r in ranks]), batch)
    # each epoch is a permutation (then the next one), so no segment repeats within 50
    assert len(set(np.concatenate(whole)[:50].tolist())) == 50
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        ShardedBatches(50, 6, world_size=4)


def test_cli_pretrain_distributed_resumes(segments, tmp_path, capsys):
    """``mne-biocodec pretrain`` outside torchrun trains in one process (``--distributed``
    is accepted and changes nothing)."""
    train, valid = segments
    out = tmp_path / "run"
    out.mkdir()
    np.savez(out / "segments.npz", train=train, valid=valid)  # the recipe's segment cache
    (out / "data.json").write_text(json.dumps({"train_recordings": ["S001R03"],
                                               "train_channel_hours": 0.1}))
    recipe = {"name": "tiny", "modality": "eeg", "codec_config": TINY,
              "segment_seconds": 1.0, "valid_segments": 16, "batch_size": 8, "lr": 2e-3,
              "time_weight": 1.0, "freq_weight": 1.0, "warmup_steps": 1,
              "final_lr_ratio": 0.01, "steps_per_epoch": 2, "max_epochs": 1, "seed": 0,
              "n_threads": 1}
    (tmp_path / "tiny.json").write_text(json.dumps(recipe))
    args = ["pretrain", str(tmp_path / "tiny.json"), "--out", str(out), "--distributed"]
    assert main(args) == 0
    assert main(args + ["--max-epochs", "2"]) == 0  # resumes: trains epoch 2 only
    curve = json.loads((out / "curve.json").read_text())
    assert [c["steps"] for c in curve] == [2, 4]
    assert "valid_r" in capsys.readouterr().out
