"""Offline loaders for the recordings used to train and evaluate the codecs.

Every loader reads files from an MNE_DATA-style root (:func:`get_data_path`) and raises
:class:`FileNotFoundError` naming the missing file; nothing is ever downloaded.
:func:`make_codec_segments` turns a recording into codec training segments, and
:data:`CODEC_SPLITS` fixes which recordings train the shipped codecs and which are held out.
"""

from ._paths import get_data_path
from .dreams import DREAMS_STAGE_LABELS, load_dreams_hypnogram, load_dreams_raw
from .eegmmidb import EEGMMIDB_TASKS, load_eegmmidb_epochs, load_eegmmidb_raw
from .emg import PHYSIONET_EMG_RECORDS, UCI_GESTURES, load_physionet_emg_raw, load_uci_emg_raw
from .others import BONN_SETS, BONN_SFREQ, load_bonn, load_eegmat_raw, load_kalunga_raw
from .segments import make_codec_segments
from .splits import (CODEC_SPLIT_VERSIONS, CODEC_SPLITS, LATEST_SPLIT_VERSION,
                     SHIPPED_SPLIT_VERSION, iter_split_raws, list_split_recordings)

__all__ = [
    "get_data_path",
    "load_eegmmidb_raw",
    "load_eegmmidb_epochs",
    "load_kalunga_raw",
    "load_bonn",
    "load_dreams_raw",
    "load_dreams_hypnogram",
    "load_eegmat_raw",
    "load_uci_emg_raw",
    "load_physionet_emg_raw",
    "make_codec_segments",
    "CODEC_SPLITS",
    "CODEC_SPLIT_VERSIONS",
    "SHIPPED_SPLIT_VERSION",
    "LATEST_SPLIT_VERSION",
    "list_split_recordings",
    "iter_split_raws",
    "EEGMMIDB_TASKS",
    "BONN_SETS",
    "BONN_SFREQ",
    "DREAMS_STAGE_LABELS",
    "UCI_GESTURES",
    "PHYSIONET_EMG_RECORDS",
]
