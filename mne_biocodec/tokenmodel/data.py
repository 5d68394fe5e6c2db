"""Token sequences for the token model: recordings -> fixed windows -> one sequence per channel.

Every window is tokenised as the estimators tokenise epochs (:func:`mne_biocodec.tokens.
tokenize`: per-window robust scaling, the codec's resampling), so the model is pretrained on
the token distribution it later scores. A corpus is saved as safetensors (codes as uint8,
the recording of each sequence as int32) with its provenance in the metadata, never pickled.
"""

import json
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..channels import codec_picks
from ..codec import atomic_write
from ..tokens import tokenize

__all__ = ["recording_windows", "recording_sequences", "build_token_corpus",
           "save_token_corpus", "load_token_corpus", "window_frames"]


def window_frames(codec, window_seconds):
    """Frames kept per window: the whole frames ``window_seconds`` holds at the codec's
    frame rate (windows of recordings at other rates can give one frame more)."""
    return int(np.floor(window_seconds * codec.frame_rate + 1e-6))


def recording_windows(raw, window_seconds, modality="eeg", step_seconds=None):
    """Cut a recording's channels of ``modality`` into windows.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording (its data in volts; bad channels are left out).
    window_seconds : float
        Window length.
    modality : {"eeg", "emg"}, default="eeg"
        Which channels (:func:`mne_biocodec.channels.codec_picks`).
    step_seconds : float | None
        Distance between window starts; None: ``window_seconds`` (no overlap).

    Returns
    -------
    X : ndarray, shape (n_windows, n_chans, n_times)
        Windows in volts (empty when the recording is shorter than one window).
    starts : ndarray of float, shape (n_windows,)
        Start of each window in seconds from the first sample.
    """
    sfreq = raw.info["sfreq"]
    n_times = int(round(window_seconds * sfreq))
    step = n_times if step_seconds is None else max(1, int(round(step_seconds * sfreq)))
    data = raw.get_data(picks=codec_picks(raw.info, modality))
    starts = np.arange(0, data.shape[1] - n_times + 1, step)
    X = np.stack([data[:, s:s + n_times] for s in starts]) if len(starts) else np.empty(
        (0, data.shape[0], n_times))
    return X, starts / sfreq


def recording_sequences(raw, codec, window_seconds=4.0, max_sequences=None, seed=0,
                        name="", device=None):
    """Token sequences ``(n_sequences, n_q, n_frames)`` of a recording's windows.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording.
    codec : BioCodec
        The codec.
    window_seconds : float, default=4.0
        Window length; every sequence is cropped to :func:`window_frames` frames.
    max_sequences : int | None
        At most this many sequences (channels x windows): whole windows drawn at random
        (seeded by ``seed`` and ``name``, so a recording gives the same windows whatever
        the order the corpus is built in).
    seed : int, default=0
        Seed of the draw.
    name : str, default=""
        The recording's name (part of the seed).
    device : str | None
        Where the codec runs.

    Returns
    -------
    codes : ndarray of uint8, shape (n_sequences, n_q, n_frames)
    """
    X, _ = recording_windows(raw, window_seconds, codec.modality)
    n_frames = window_frames(codec, window_seconds)
    if len(X) == 0:
        return np.empty((0, codec.n_q, n_frames), dtype=np.uint8)
    if max_sequences is not None and len(X) * X.shape[1] > max_sequences:
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        keep = max(1, max_sequences // X.shape[1])
        X = X[np.sort(rng.choice(len(X), keep, replace=False))]
    tokens = tokenize(X, raw.info["sfreq"], codec, device=device, cache=False)
    codes = np.asarray(tokens.codes)[..., :n_frames]
    return np.ascontiguousarray(codes.reshape(-1, *codes.shape[2:]))


def build_token_corpus(codec, recordings, window_seconds=4.0, max_sequences=None, seed=0,
                       device=None, progress=False):
    """Token sequences of many recordings, with the recording each comes from.

    Parameters
    ----------
    codec : BioCodec
        The codec.
    recordings : iterable of (str, mne.io.BaseRaw)
        Named recordings, e.g. :func:`mne_biocodec.datasets.iter_split_raws`.
    window_seconds, max_sequences, seed, device
        As in :func:`recording_sequences` (``max_sequences`` per recording).
    progress : bool, default=False
        Print one line per recording.

    Returns
    -------
    codes : ndarray of uint8, shape (n_sequences, n_q, n_frames)
    recording : ndarray of int32, shape (n_sequences,)
        Index into ``names`` of each sequence's recording.
    names : list of str
        Recordings that gave sequences.
    """
    parts, index, names = [], [], []
    for name, raw in recordings:
        codes = recording_sequences(raw, codec, window_seconds, max_sequences, seed, name,
                                    device)
        if len(codes):
            parts.append(codes)
            index.append(np.full(len(codes), len(names), dtype=np.int32))
            names.append(name)
        if progress:
            print(f"tokens of {name}: {len(codes)} sequences", flush=True)
    if not parts:
        raise ValueError("No recording gave a token window: check the data folder "
                         "($MNE_DATA) and the window length.")
    return np.concatenate(parts), np.concatenate(index), names


def save_token_corpus(path, codes, recording, names, info=None):
    """Write a corpus (safetensors, atomically) with its names and ``info`` in metadata."""
    tensors = {"codes": torch.from_numpy(np.ascontiguousarray(codes, dtype=np.uint8)),
               "recording": torch.from_numpy(np.ascontiguousarray(recording, dtype=np.int32))}
    metadata = {"names": json.dumps(list(names)), "info": json.dumps(info or {},
                                                                     sort_keys=True)}
    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def load_token_corpus(path):
    """Read what :func:`save_token_corpus` wrote, checking its structure.

    Returns
    -------
    codes : ndarray of uint8, shape (n_sequences, n_q, n_frames)
    recording : ndarray of int32, shape (n_sequences,)
    names : list of str
    info : dict

    Raises
    ------
    ValueError
        If the file is not such a corpus (damaged, or another file).
    """
    try:
        with safe_open(str(path), framework="pt") as fid:
            metadata = fid.metadata() or {}
            if sorted(fid.keys()) != ["codes", "recording"]:
                raise ValueError(f"tensors {sorted(fid.keys())[:5]}")
            codes, recording = fid.get_tensor("codes"), fid.get_tensor("recording")
        names, info = json.loads(metadata["names"]), json.loads(metadata["info"])
    except (SafetensorError, OSError, KeyError, ValueError, RecursionError) as err:
        raise ValueError(f"{path} is not a token corpus written by save_token_corpus ({err}); "
                         "delete it to rebuild it.") from None
    if (codes.dtype != torch.uint8 or codes.ndim != 3 or recording.dtype != torch.int32
            or recording.shape != codes.shape[:1] or not isinstance(names, list)
            or not isinstance(info, dict)
            or (len(recording) and not 0 <= int(recording.min()) <= int(recording.max())
                < len(names))):
        raise ValueError(f"{path} holds an inconsistent token corpus (codes {codes.dtype} "
                         f"{tuple(codes.shape)}, recording {tuple(recording.shape)}, "
                         f"{len(names) if isinstance(names, list) else '?'} names); delete it "
                         "to rebuild it.")
    return codes.numpy(), recording.numpy(), names, info
