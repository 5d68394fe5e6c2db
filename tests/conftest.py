"""Shared fixtures: the real data root, the parity fixture, seeded generators."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _data_root():
    env = os.environ.get("MNE_DATA")
    if env and Path(env).is_dir():
        return Path(env).resolve()
    return (REPO_ROOT / ".." / "shared" / "data").resolve()


DATA_ROOT = _data_root()
PARITY_DIR = DATA_ROOT.parent / "reference" / "biocodec_parity"

# Tests must never reach the network: MNE and MOABB read MNE_DATA.
os.environ["MNE_DATA"] = str(DATA_ROOT)
torch.set_num_threads(int(os.environ.get("MNE_BIOCODEC_THREADS", min(2, os.cpu_count() or 1))))


@pytest.fixture(scope="session")
def data_root():
    """The ``MNE_DATA`` root holding the real recordings (skips when absent)."""
    if not DATA_ROOT.is_dir():
        pytest.skip(f"real data not found at {DATA_ROOT}; set MNE_DATA")
    return DATA_ROOT


@pytest.fixture(scope="session")
def parity_dir():
    """Folder of the reference-implementation parity fixture."""
    if not PARITY_DIR.is_dir():
        pytest.skip(f"parity fixture not found at {PARITY_DIR}")
    return PARITY_DIR


@pytest.fixture
def rng():
    """A seeded numpy generator."""
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def parity_codec(parity_dir):
    """The reference codec of the parity fixture, in eval mode on the CPU."""
    from mne_biocodec import load_codec

    return load_codec(parity_dir / "weights.safetensors", device="cpu")


@pytest.fixture(scope="session")
def parity_input(parity_dir):
    """The fixture's 16 held-out, normalised 5-s segments [16, 1, 1250]."""
    return torch.from_numpy(np.load(parity_dir / "input.npy"))
