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


@pytest.fixture(scope="session")
def load_script():
    """``load_script("benchmarks/speed.py")``: a script of the repository (benchmarks/,
    recipes/: not a package) imported from its path, to test its functions."""
    import importlib.util

    def load(relative):
        path = REPO_ROOT / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


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


# Central channels carry motor imagery; 21 of them keep the tokenisation in tests fast.
MI_CHANNELS = ["FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "C5", "C3", "C1", "Cz", "C2",
               "C4", "C6", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6"]


@pytest.fixture(scope="session")
def mi_epochs(data_root):
    """Imagined left vs right fist of eegmmidb subject 2 (runs 4, 8, 12: never seen by the
    shipped codec, which trained on executed and baseline runs only), 45 epochs of 0-4 s,
    21 central channels, 160 Hz, band-passed 8-30 Hz (the mu/beta band MOABB's imagery
    paradigms keep)."""
    from mne_biocodec.datasets import load_eegmmidb_epochs

    epochs = load_eegmmidb_epochs(2, task="left_right", tmin=0.0, tmax=4.0, l_freq=8.0,
                                  h_freq=30.0, path=data_root)
    return epochs.pick(MI_CHANNELS)


@pytest.fixture(scope="session")
def default_codec():
    """The shipped default EEG codec."""
    from mne_biocodec import load_codec

    return load_codec("biocodec-eeg", device="cpu")
