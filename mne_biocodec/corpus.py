"""Tokenise a whole corpus on a Dask cluster: one task per recording, resumable.

:func:`encode_corpus` turns every recording of a source into a token file (``.bctok``, see
:mod:`mne_biocodec.tokens.files`) in a store folder. A source is

- a folder of recordings MNE reads (``.edf``, ``.bdf``, ``.fif``, ``.fif.gz``, ``.vhdr``,
  ``.set``, found recursively; the token files mirror the folder layout),
- a BIDS root (a folder holding ``dataset_description.json``, read with MNE-BIDS),
- or a MOABB dataset, by name (``"Kalunga2016"``) or as an instance; every run of every
  session of every subject is one recording.

Each recording is one task on a :mod:`dask.distributed` cluster (a local cluster of
single-threaded worker processes unless a scheduler is given); every worker loads the codec
once. Files are written atomically, and ``manifest.json`` in the store records, per
recording, where it came from, where its tokens are, its channels and duration, and whether
it succeeded (with the error when not). A rerun skips what is done with the same codec and
retries what failed, so an interrupted job continues where it stopped.
"""

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ._version import __version__
from .codec.io import atomic_write
from .tokens import TOKEN_SUFFIX, codec_sha256, encode_to_file

__all__ = ["encode_corpus", "find_recordings", "read_manifest", "make_local_cluster",
           "CorpusSummary", "MANIFEST_NAME", "RECORDING_SUFFIXES", "worker_codec"]

#: File name of the manifest in a token store.
MANIFEST_NAME = "manifest.json"
#: Recording files a folder source is searched for (BrainVision: the header file).
RECORDING_SUFFIXES = (".edf", ".bdf", ".fif", ".fif.gz", ".vhdr", ".set")
_MANIFEST_FORMAT = "mne-biocodec-corpus"
# The manifest is rewritten at most this often while tasks complete (and always at the end):
# rewriting it after every one of 10^5 recordings would cost more than the encoding.
_MANIFEST_INTERVAL_S = 10.0


@dataclass
class _Recording:
    """One task: ``key`` names it in the manifest, ``spec`` tells a worker how to read it."""

    key: str
    kind: str  # "file", "bids" or "moabb"
    source: str
    output: str  # relative to the store, POSIX
    spec: object
    size: int = 0


@dataclass
class CorpusSummary:
    """What :func:`encode_corpus` did.

    Attributes
    ----------
    store : Path
        The token store.
    manifest : Path
        Its manifest.
    n_recordings : int
        Recordings found in the source.
    encoded : list of str
        Recordings encoded by this call.
    skipped : list of str
        Recordings already done with the same codec, left as they were.
    failed : dict of str to str
        Recordings that failed (after the retries), with the error.
    channel_seconds : float
        Signal encoded by this call, in channel-seconds.
    cpu_seconds : float
        CPU time of the worker processes while they read, encoded and wrote those
        recordings (exact with single-threaded workers, which run one task at a time): a
        cost that, unlike wall time, does not grow when other jobs share the machine.
    wall_seconds : float
        Duration of the call.
    """

    store: Path
    manifest: Path
    n_recordings: int
    encoded: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: dict = field(default_factory=dict)
    channel_seconds: float = 0.0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def throughput(self):
        """Channel-seconds encoded per second of wall time."""
        return self.channel_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def __str__(self):
        lines = [f"{self.n_recordings} recordings: {len(self.encoded)} encoded, "
                 f"{len(self.skipped)} already done, {len(self.failed)} failed; "
                 f"{self.channel_seconds / 3600:.2f} channel-hours in {self.wall_seconds:.1f} s"
                 f" ({self.throughput:.0f} channel-seconds/s); manifest {self.manifest}"]
        lines += [f"  FAILED {key}: {error}" for key, error in sorted(self.failed.items())]
        return "\n".join(lines)


# -- finding recordings ---------------------------------------------------------------------
def _recording_suffix(path):
    name = path.name.lower()
    return next((s for s in RECORDING_SUFFIXES if name.endswith(s)), None)


def _is_split_part(path):
    """True for ``name-1.fif`` when ``name.fif`` exists: MNE reads it with the first part."""
    match = re.fullmatch(r"(.+)-\d+(\.fif(?:\.gz)?)", path.name)
    return bool(match) and (path.parent / (match[1] + match[2])).exists()


def _output_names(relative_paths):
    """Token file per recording: the recording's path with ``.bctok`` for its suffix.

    Recordings that would collide (``a.edf`` and ``a.fif``) keep their suffix in the name.
    """
    stems = [p.parent / p.name[: -len(_recording_suffix(p))] for p in relative_paths]
    taken = {}
    for stem in stems:
        taken[stem] = taken.get(stem, 0) + 1
    return [
        (stem.parent / (stem.name + TOKEN_SUFFIX) if taken[stem] == 1 else
         rel.parent / (rel.name.replace(".", "_") + TOKEN_SUFFIX)).as_posix()
        for rel, stem in zip(relative_paths, stems)
    ]


def _folder_recordings(root, store):
    root = Path(root)
    if root.is_file():
        files, root = [root], root.parent
    else:
        store = Path(store).resolve()
        files = sorted(
            p for p in root.rglob("*")
            if p.is_file() and _recording_suffix(p) and not _is_split_part(p)
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
            and store not in p.resolve().parents)
    relative = [p.relative_to(root) for p in files]
    return [_Recording(key=rel.as_posix(), kind="file", source=str(path), output=out,
                       spec=str(path), size=path.stat().st_size)
            for path, rel, out in zip(files, relative, _output_names(relative))]


def _bids_recordings(root, modality, subjects):
    from mne_bids import find_matching_paths

    root = Path(root)
    paths = find_matching_paths(
        root, subjects=None if subjects is None else [str(s) for s in subjects],
        datatypes=modality, suffixes=modality,
        extensions=[s for s in RECORDING_SUFFIXES if s != ".fif.gz"])
    recordings = []
    for bids_path in sorted(paths, key=lambda p: str(p.fpath)):
        rel = Path(bids_path.fpath).relative_to(root)
        recordings.append(_Recording(
            key=rel.as_posix(), kind="bids", source=str(bids_path.fpath),
            output=_output_names([rel])[0], spec=bids_path,
            size=Path(bids_path.fpath).stat().st_size))
    return recordings


def _moabb_dataset(source):
    """A MOABB dataset instance from an instance or a class name / dataset code."""
    os.environ.setdefault("MOABB_DOWNLOAD_PROVIDER", "upstream")
    from moabb.datasets.base import BaseDataset

    if isinstance(source, BaseDataset):
        return source
    from moabb.datasets.utils import dataset_list

    by_name = {cls.__name__: cls for cls in dataset_list}
    cls = by_name.get(source)
    if cls is None:
        import difflib

        close = difflib.get_close_matches(source, list(by_name), n=3)
        raise ValueError(
            f"source {source!r} is neither an existing file or folder nor a MOABB dataset "
            f"name{'; did you mean ' + ', '.join(close) + '?' if close else '.'} Pass a folder "
            "of recordings, a BIDS root or a dataset of moabb.datasets (e.g. 'Kalunga2016')."
        )
    return cls()


def _moabb_key(dataset, subject, session, run):
    return f"{type(dataset).__name__}/sub-{subject}/ses-{session}/run-{run}"


def _moabb_recordings(dataset, listings):
    recordings = []
    for subject, runs in listings.items():
        for session, run in runs:
            key = _moabb_key(dataset, subject, session, run)
            output = re.sub(r"[^\w./-]", "_", key) + TOKEN_SUFFIX
            recordings.append(_Recording(key=key, kind="moabb", source=key, output=output,
                                         spec=(dataset, subject, session, run)))
    return recordings


def find_recordings(source, store=None, *, modality="eeg", subjects=None):
    """The recordings :func:`encode_corpus` would encode, without reading them.

    Parameters
    ----------
    source : path-like | str | moabb.datasets.base.BaseDataset
        A recording file, a folder of recordings, a BIDS root or a MOABB dataset (instance or
        name).
    store : path-like | None
        The token store; recordings inside it are never sources.
    modality : {"eeg", "emg"}, default="eeg"
        BIDS data type searched in a BIDS root.
    subjects : list | None
        BIDS or MOABB subjects to keep (all when None).

    Returns
    -------
    kind : {"file", "bids", "moabb"}
        The kind of source.
    recordings : list of dict
        Per recording: ``key`` (its name in the manifest), ``source`` and ``output`` (token
        file relative to the store). For MOABB the runs are known only once a subject is
        loaded, so the list is empty and the subjects are returned instead.
    """
    kind, found = _discover(source, store, modality, subjects)
    if kind == "moabb":
        return kind, found[1]
    return kind, [{"key": r.key, "source": r.source, "output": r.output} for r in found]


def _discover(source, store, modality, subjects):
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    if path is not None and path.exists():
        if path.is_dir() and (path / "dataset_description.json").is_file():
            return "bids", _bids_recordings(path, modality, subjects)
        if path.is_file() and not _recording_suffix(path):
            raise ValueError(f"source {str(path)!r} is not a recording file "
                             f"({', '.join(RECORDING_SUFFIXES)}) nor a folder.")
        return "file", _folder_recordings(path, store or path)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and os.sep in source):
        raise FileNotFoundError(f"source {str(source)!r} does not exist.")
    dataset = _moabb_dataset(source)
    wanted = [int(s) if isinstance(s, str) and s.isdigit() else s
              for s in (dataset.subject_list if subjects is None else subjects)]
    unknown = [s for s in wanted if s not in dataset.subject_list]
    if unknown:
        raise ValueError(f"subjects {unknown} are not in {type(dataset).__name__}, whose "
                         f"subjects are {dataset.subject_list}.")
    return "moabb", (dataset, wanted)


# -- work done on the workers ---------------------------------------------------------------
# Per worker process: the codecs loaded (by source and device) and the last MOABB subject
# read, so that a worker loads a codec once and a subject's runs once when it gets several.
_WORKER_CODECS = {}
_MOABB_CACHE = {}


def worker_codec(codec_source, device):
    """The codec of a Dask worker process, loaded once per process and source.

    Parameters
    ----------
    codec_source : str | path-like
        A shipped codec's name or a codec file.
    device : str | None
        Where to run it.

    Returns
    -------
    codec : BioCodec
    """
    key = (str(codec_source), device)
    if key not in _WORKER_CODECS:
        import torch

        from .codec import load_codec

        # One thread per worker: the cluster parallelises over recordings, and more threads
        # per process would oversubscribe the cores.
        torch.set_num_threads(1)
        _WORKER_CODECS[key] = load_codec(codec_source, device=device)
    return _WORKER_CODECS[key]


def _moabb_subject(dataset, subject):
    key = (type(dataset).__name__, repr(vars(dataset)), subject)
    if key not in _MOABB_CACHE:
        _MOABB_CACHE.clear()
        _MOABB_CACHE[key] = dataset.get_data(subjects=[subject])[subject]
    return _MOABB_CACHE[key]


def _list_moabb_runs(dataset, subject):
    data = _moabb_subject(dataset, subject)
    return [(str(session), str(run)) for session in data for run in data[session]]


def _read_recording(recording):
    import mne

    if recording.kind == "file":
        return mne.io.read_raw(recording.spec, preload=True, verbose="error")
    if recording.kind == "bids":
        from mne_bids import read_raw_bids

        return read_raw_bids(recording.spec, verbose="error").load_data(verbose="error")
    dataset, subject, session, run = recording.spec
    data = _moabb_subject(dataset, subject)
    sessions = {str(k): v for k, v in data.items()}
    return {str(k): v for k, v in sessions[session].items()}[run]


def _encode_recording(recording, store, codec_source, n_q, picks, device):
    """Worker task: read, encode and write one recording; return its manifest entry."""
    codec = worker_codec(codec_source, device)
    t0, cpu0 = time.perf_counter(), time.process_time()
    raw = _read_recording(recording)
    # The token file keeps the recording's annotations, montage and measurement info too,
    # and the codec's weights file and source.
    tokens, _ = encode_to_file(
        raw, Path(store) / recording.output, codec, n_q=n_q, picks=picks, device=device,
        codec_source=str(codec_source),
        extra={"recording": recording.source, "corpus_key": recording.key})
    duration = raw.n_times / raw.info["sfreq"]
    return {"n_channels": len(tokens.ch_names), "duration": duration,
            "sfreq": float(raw.info["sfreq"]), "n_frames": int(tokens.codes.shape[-1]),
            "wall_seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0}


# -- manifest -------------------------------------------------------------------------------
def read_manifest(store):
    """The manifest of a token store (an empty one when there is none yet).

    Parameters
    ----------
    store : path-like
        The store folder.

    Returns
    -------
    manifest : dict
        ``format``, ``format_version``, ``mne_biocodec_version``, ``source``, ``codec``
        (``name``, ``source``, ``weights_sha256``), ``recordings`` (per key: ``source``,
        ``output``, ``status`` ``"done"`` or ``"failed"``, ``codec_sha256``,
        ``n_channels``, ``duration`` in seconds, ``sfreq``, ``n_frames``, ``error``,
        ``wall_seconds`` and ``cpu_seconds`` spent on it by its worker) and,
        for MOABB sources, ``listings`` (the runs of each subject already listed).
    """
    path = Path(store) / MANIFEST_NAME
    if not path.is_file():
        return {"format": _MANIFEST_FORMAT, "format_version": 1, "recordings": {}}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it to re-encode the "
                         "store from scratch.") from None
    if manifest.get("format") != _MANIFEST_FORMAT:
        raise ValueError(f"{path} is not an mne-biocodec corpus manifest; choose another "
                         "store folder.")
    return manifest


def _write_manifest(store, manifest):
    with atomic_write(Path(store) / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _is_done(entry, store, sha256):
    return (entry is not None and entry.get("status") == "done"
            and entry.get("codec_sha256") == sha256
            and (Path(store) / entry["output"]).is_file())


def _error_text(exc):
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"


# -- the cluster ----------------------------------------------------------------------------
def make_local_cluster(n_workers=None):
    """The local Dask cluster :func:`encode_corpus` starts: single-threaded worker processes.

    Parameters
    ----------
    n_workers : int | None
        Worker processes (the number of CPUs when None).

    Returns
    -------
    cluster : dask.distributed.LocalCluster
        Close it when done (or use it as a context manager).

    Notes
    -----
    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that they hand freed memory
    back to the system at once. Encoding allocates and frees large arrays for every
    recording; with that setting a worker took 6.3 s of system time instead of 1.2 s, and
    2.2 times the wall time, to encode one minute of 64-channel EEG (see
    ``doc/scale.rst``). These workers keep glibc's default instead; do the same for the
    workers of your own cluster (unset the Dask setting
    ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_``).
    """
    import logging

    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        # ":0": any free port for the dashboard (the default port may be taken).
        return LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                            processes=True, dashboard_address=":0",
                            silence_logs=logging.CRITICAL)


class _LazyClient:
    """A Dask client made on first use: a rerun with nothing left to do starts no cluster."""

    def __init__(self, scheduler, n_workers):
        self.scheduler = scheduler
        self.n_workers = n_workers
        self._client = None
        self._owned = []

    def get(self):
        if self._client is not None:
            return self._client
        from dask.distributed import Client

        if isinstance(self.scheduler, Client):
            self._client = self.scheduler
        elif self.scheduler is None:
            cluster = make_local_cluster(self.n_workers)
            self._client = Client(cluster)
            self._owned = [self._client, cluster]
        elif isinstance(self.scheduler, str):
            self._client = Client(self.scheduler)
            self._owned = [self._client]
        else:
            raise TypeError(f"scheduler must be None, a scheduler address or a "
                            f"dask.distributed.Client; got {type(self.scheduler).__name__}.")
        return self._client

    def close(self):
        for obj in self._owned:
            obj.close()
        self._owned = []


def _check_args(n_workers, retries, n_q):
    for name, value, low in (("n_workers", n_workers, 1), ("retries", retries, 0)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < low):
            raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    if n_q is not None and (not isinstance(n_q, int) or n_q < 1):
        raise ValueError(f"n_q must be a positive integer; got {n_q!r}.")


def encode_corpus(source, store, codec="biocodec-eeg", *, scheduler=None, n_workers=None,
                  n_q=None, picks=None, subjects=None, retries=1, device=None,
                  progress=True):
    """Tokenise every recording of a corpus into a token store, in parallel with Dask.

    Parameters
    ----------
    source : path-like | str | moabb.datasets.base.BaseDataset
        A folder of recordings (searched recursively for ``.edf``, ``.bdf``, ``.fif``,
        ``.fif.gz``, ``.vhdr``, ``.set``), one recording file, a BIDS root (a folder with
        ``dataset_description.json``) or a MOABB dataset (instance or class name such as
        ``"Kalunga2016"``; MOABB reads it from its usual folders, downloading it when it
        is not there).
    store : path-like
        Output folder: one token file per recording (for folders and BIDS roots the same
        relative path with ``.bctok`` as suffix; for MOABB
        ``<dataset>/sub-<subject>/ses-<session>/run-<run>.bctok``) and ``manifest.json``.
    codec : str | path-like, default="biocodec-eeg"
        Shipped codec name or codec file; every worker must be able to load it.
    scheduler : str | dask.distributed.Client | None
        Where to run: None starts a local cluster of ``n_workers`` single-threaded worker
        processes (closed at the end); a scheduler address (``"tcp://host:8786"``) or a
        client uses that cluster.
    n_workers : int | None
        Workers of the local cluster (the number of CPUs when None).
    n_q : int | None
        Codebooks to keep (all when None).
    picks : str | list | None
        Channels to encode in every recording (see :func:`mne_biocodec.tokens.encode_raw`);
        None takes every channel of the codec's modality.
    subjects : list | None
        BIDS or MOABB subjects to encode (all when None).
    retries : int, default=1
        Extra attempts of a failed recording (Dask ``retries``).
    device : str | None
        Where workers run the codec (``"cuda"`` when available).
    progress : bool, default=True
        Show a progress bar over recordings.

    Returns
    -------
    summary : CorpusSummary
        What was encoded, skipped and failed (with the errors), and the throughput.

    Notes
    -----
    A recording is skipped when the manifest marks it done with a codec of the same
    weights (:func:`mne_biocodec.tokens.codec_sha256`) and its token file exists; a
    different codec re-encodes everything. A recording that fails (unreadable file, no
    channel of the codec's type, ...) is retried ``retries`` times, then recorded as failed
    with its error; the other recordings go on. Each worker loads the codec once and runs
    torch with one thread.
    """
    from .codec import load_codec

    _check_args(n_workers, retries, n_q)
    t0 = time.perf_counter()
    store = Path(store)
    manifest = read_manifest(store)
    model = load_codec(codec, device="cpu")
    sha256 = codec_sha256(model)
    modality = model.modality
    kind, found = _discover(source, store, modality, subjects)
    manifest.update(mne_biocodec_version=__version__, source_kind=kind,
                    source=(str(source) if kind != "moabb" else type(found[0]).__name__),
                    codec={"name": model.config.get("name"), "source": str(codec),
                           "weights_sha256": sha256})
    entries = manifest["recordings"]
    store.mkdir(parents=True, exist_ok=True)
    client = _LazyClient(scheduler, n_workers)
    summary = CorpusSummary(store=store, manifest=store / MANIFEST_NAME, n_recordings=0)
    try:
        if kind == "moabb":
            found = _list_moabb(found, manifest, client, retries, summary)
        summary.n_recordings = len(found)
        done = {r.key for r in found if _is_done(entries.get(r.key), store, sha256)}
        summary.skipped = [r.key for r in found if r.key in done]
        todo = [r for r in found if r.key not in done]
        if todo:
            _run_tasks(client.get(), todo, store, codec, n_q, picks, device, retries,
                       sha256, manifest, summary, progress)
    finally:
        client.close()
        summary.wall_seconds = time.perf_counter() - t0
        _write_manifest(store, manifest)
    return summary


def _list_moabb(found, manifest, client, retries, summary):
    """Runs of every MOABB subject (listed on the cluster once, then kept in the manifest)."""
    dataset, subjects = found
    listings = manifest.setdefault("listings", {})
    name = type(dataset).__name__
    missing = [s for s in subjects if f"{name}/sub-{s}" not in listings]
    if missing:
        cl = client.get()
        futures = cl.map(_list_moabb_runs, [dataset] * len(missing), missing,
                         retries=retries, pure=False)
        for subject, future in zip(missing, futures):
            try:
                listings[f"{name}/sub-{subject}"] = [list(r) for r in future.result()]
            except Exception as exc:  # reported like a failed recording
                summary.failed[f"{name}/sub-{subject}"] = _error_text(exc)
    return _moabb_recordings(dataset, {s: listings[f"{name}/sub-{s}"] for s in subjects
                                       if f"{name}/sub-{s}" in listings})


def _run_tasks(client, todo, store, codec, n_q, picks, device, retries, sha256, manifest,
               summary, progress):
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    # Largest first, so that a long recording does not start last and hold up the end.
    todo = sorted(todo, key=lambda r: -r.size)
    futures = {client.submit(_encode_recording, r, str(store), str(codec), n_q, picks,
                             device, retries=retries, pure=False, key=f"encode-{i}-{r.key}"): r
               for i, r in enumerate(todo)}
    entries = manifest["recordings"]
    last_write = time.monotonic()
    for future in tqdm(as_completed(futures), total=len(futures), desc="encode-corpus",
                       unit="rec", disable=not progress):
        recording = futures.pop(future)
        entry = {"source": recording.source, "output": recording.output,
                 "codec_sha256": sha256, "error": None}
        try:
            entry.update(future.result(), status="done")
            summary.encoded.append(recording.key)
            summary.channel_seconds += entry["n_channels"] * entry["duration"]
            summary.cpu_seconds += entry["cpu_seconds"]
        except Exception as exc:  # any reader or codec error fails this recording only
            entry.update(status="failed", error=_error_text(exc))
            summary.failed[recording.key] = entry["error"]
        entries[recording.key] = entry
        future.release()
        if time.monotonic() - last_write > _MANIFEST_INTERVAL_S:
            _write_manifest(store, manifest)
            last_write = time.monotonic()
