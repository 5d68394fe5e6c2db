"""On-disk cache of codec tokens, keyed by the exact codec input and the codec weights.

A thin layer over the engine's :func:`~mne_biocodec.tokens.engine.encode`: items found in
the cache are read back, the others are encoded by the engine and stored.

Tokenising is the slow step of every token pipeline, and cross-validation, grid searches and
MOABB evaluations tokenise the same epochs again and again. The cache stores the codes of each
item (an epoch: all its channels) under a SHA-256 of

- the normalised float32 signals the encoder sees (bytes, shape, the codec rate),
- the codec weights (:func:`mne_biocodec.tokens.codec_sha256`, so a fine-tuned or other
  codec never reuses them),
- the number of codebooks, the precision and the device type of the encoder pass (GPU kernels
  round differently from CPU ones),

so an entry is reused only when the codec would produce exactly these codes again.

In memory
---------
Codes of recent items also stay in a bounded in-process cache (least recently used first
out), under the same keys: clones of an estimator, the folds of a cross-validation and the
candidates of a grid search share it without any folder. Its size is
``$MNE_BIOCODEC_MEMORY_CACHE`` MiB (default 256: about 8,000 epochs of 64 channels x 4 s);
0 turns it off. ``cache=False`` bypasses it (every item is encoded);
:func:`clear_memory_cache` empties it. Entries are read-only copies, never handed out.
The same cache holds the decoder output of recently decoded items
(:func:`cached_decode_batches`, under keys of their own), so token pipelines that read decoded
signals decode each epoch once too; decoded signals are never written to disk.

On disk
-------
``cache=None`` (the default everywhere) uses the folder named by the environment variable
``MNE_BIOCODEC_CACHE`` when it is set, and no cache otherwise: nothing is written to disk
unless asked. ``cache=True`` uses ``MNE_BIOCODEC_CACHE`` or else
``$XDG_CACHE_HOME/mne-biocodec`` (``~/.cache/mne-biocodec``); ``cache=False`` disables it even
when the variable is set; a path uses that folder.

Layout and safety
-----------------
``<folder>/codes-v2/<key[:2]>/<key>.codes``: one file per item, about 630 bytes per channel
for a 5-s epoch. A file is a 32-byte SHA-256 of (the key, then the payload) followed by the
payload, the uint8 codes ``(n_chans, n_q, n_frames)`` in ``.npy`` format (read with
``allow_pickle=False``).

- Every entry is written to a temporary file in the same folder and moved into place with
  :func:`os.replace`, so concurrent writers (processes, threads, joblib workers) never leave
  a partial file and readers see either nothing or a whole entry.
- Every read is checked: an entry whose checksum, format, shape or dtype is wrong (a flipped
  bit, the empty or truncated file a power loss leaves, garbage, a file copied under another
  key) is a miss; its item is encoded again and the entry rewritten. A bad entry therefore
  never reaches the caller and never needs deleting by hand.
- A folder that cannot be written (read-only, full, or a path through a regular file) turns
  the cache off for the entries that could not be stored, with one ``RuntimeWarning`` per
  folder and process that names it and the reason; the codes are returned all the same.

Entries of older layouts (``codes-v1``) are never read; delete those folders to reclaim their
space. Nothing is ever evicted: delete the folder to reclaim the space.
"""

import hashlib
import io
import os
import threading
import warnings
import weakref
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from ..codec.files import atomic_write
from .engine import auto_batch_size, codec_sha256, codes_dtype, decode, encode

__all__ = ["resolve_cache", "cache_key", "decoded_key", "cached_encode",
           "cached_decode_batches", "clear_memory_cache", "memory_cache_info", "ByteBoundedLRU",
           "CACHE_ENV", "MEMORY_CACHE_ENV", "CACHE_VERSION"]

#: Environment variable naming the cache folder.
CACHE_ENV = "MNE_BIOCODEC_CACHE"
#: Environment variable giving the in-memory cache's size in MiB (0: off).
MEMORY_CACHE_ENV = "MNE_BIOCODEC_MEMORY_CACHE"
DEFAULT_MEMORY_MIB = 256
#: Part of every key and of the folder layout; bumped when the entry format changes.
CACHE_VERSION = "codes-v2"

# codec -> (fingerprint of its weights, codec_sha256): hashing 12 MB of weights per call would
# cost more than a cache hit.
_DIGESTS = weakref.WeakKeyDictionary()
# Folders already reported unusable in this process: one warning each, not one per entry.
_WARNED_FOLDERS = set()
_CHECKSUM_BYTES = 32


class ByteBoundedLRU:
    """Least-recently-used values by key, bounded in bytes; safe across threads.

    The in-process token cache holds codes in one, :class:`mne_biocodec.tokenmodel.
    TokenModelFeatures` frozen token-model states in another.

    Parameters
    ----------
    sizeof : callable
        Bytes a value takes (default: its ``nbytes``, as numpy arrays have).
    """

    def __init__(self, sizeof=lambda value: value.nbytes):
        self.sizeof = sizeof
        self._entries = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        """The value stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key, value, budget):
        """Store ``value``, then drop the least recently used until ``budget`` bytes hold
        (a value larger than the budget is not stored)."""
        size = self.sizeof(value)
        if size > budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= self.sizeof(old)
            self._entries[key] = value
            self._bytes += size
            while self._bytes > budget:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= self.sizeof(dropped)

    def clear(self):
        """Drop every value and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def info(self):
        """``entries``, ``bytes``, ``hits`` and ``misses``."""
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes, "hits": self.hits,
                    "misses": self.misses}


def _memory_budget():
    """Bytes of the in-process token cache, from ``$MNE_BIOCODEC_MEMORY_CACHE`` (MiB)."""
    value = os.environ.get(MEMORY_CACHE_ENV, "").strip()
    if not value:
        return DEFAULT_MEMORY_MIB * 2 ** 20
    try:
        mib = float(value)
    except ValueError:
        raise ValueError(f"{MEMORY_CACHE_ENV} must be a size in MiB (0 turns the in-memory "
                         f"token cache off); got {value!r}.") from None
    return max(0, int(mib * 2 ** 20))


def _remember(key, codes, budget):
    # an own read-only copy: the caller's array may change later, and every reader shares it
    codes = np.array(codes)
    codes.setflags(write=False)
    _MEMORY.put(key, codes, budget)


_MEMORY = ByteBoundedLRU()


def clear_memory_cache():
    """Empty the in-process token cache (and reset its counters)."""
    _MEMORY.clear()


def memory_cache_info():
    """State of the in-process token cache.

    Returns
    -------
    info : dict
        ``entries`` (items' codes and decoder outputs alike), ``bytes`` held, ``hits`` and
        ``misses`` since the last :func:`clear_memory_cache`, and ``budget_bytes`` (from
        ``$MNE_BIOCODEC_MEMORY_CACHE``).
    """
    return dict(_MEMORY.info(), budget_bytes=_memory_budget())


def resolve_cache(cache=None):
    """The cache folder that ``cache`` designates, or None for no cache.

    Parameters
    ----------
    cache : bool | str | path-like | None
        None: ``$MNE_BIOCODEC_CACHE`` when set, else no cache. True: ``$MNE_BIOCODEC_CACHE``
        or ``$XDG_CACHE_HOME/mne-biocodec`` (``~/.cache/mne-biocodec``). False: no cache.
        A path: that folder (created when first written).

    Returns
    -------
    folder : Path | None
        The cache folder, or None when caching is off.
    """
    if cache is False:
        return None
    if cache is None or cache is True:
        env = os.environ.get(CACHE_ENV)
        if env:
            return Path(env).expanduser()
        if cache is None:
            return None
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "mne-biocodec"
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache).expanduser()
    raise ValueError(f"cache must be None, True, False or a folder path; got "
                     f"{type(cache).__name__} {cache!r}.")


def _weights_fingerprint(codec):
    """A cheap value that changes whenever the codec's weights, buffers or device change.

    In-place updates (optimizer steps, ``load_state_dict``) bump a tensor's version counter
    and re-assignments change its storage; inference tensors cannot change in place.
    """
    return (str(codec.device),) + tuple(
        (key, tensor.data_ptr(), 0 if tensor.is_inference() else tensor._version,
         tensor.dtype)
        for key, tensor in codec.state_dict(keep_vars=True).items())


def _codec_digest(codec):
    fingerprint = _weights_fingerprint(codec)
    cached = _DIGESTS.get(codec)
    if cached is None or cached[0] != fingerprint:
        cached = (fingerprint, codec_sha256(codec))
        _DIGESTS[codec] = cached
    return cached[1]


def cache_key(signals, codec_digest, sfreq, n_q, precision="float32", device_type="cpu"):
    """SHA-256 key of one item's codes.

    Parameters
    ----------
    signals : ndarray of float32, shape (..., n_times)
        The normalised signals the encoder sees, at the codec rate.
    codec_digest : str
        :func:`mne_biocodec.tokens.codec_sha256` of the codec.
    sfreq : float
        The codec rate in Hz.
    n_q : int
        Codebooks.
    precision : str, default="float32"
        Precision of the encoder pass.
    device_type : str, default="cpu"
        Device type of the encoder pass (``"cpu"``, ``"cuda"``, ...).

    Returns
    -------
    key : str
        64 hex digits.
    """
    signals = np.ascontiguousarray(signals, dtype=np.float32)
    digest = hashlib.sha256()
    digest.update(f"{CACHE_VERSION}|{codec_digest}|{float(sfreq)!r}|{int(n_q)}|{precision}|"
                  f"{device_type}|float32|{signals.shape}|".encode())
    digest.update(signals.tobytes())
    return digest.hexdigest()


def _entry(folder, key):
    return folder / CACHE_VERSION / key[:2] / f"{key}.codes"


def _checksum(key, payload):
    return hashlib.sha256(key.encode() + payload).digest()


def _read(path, key, shape, dtype):
    """The codes stored at ``path`` for ``key``, or None when absent or not intact."""
    # An entry is the checksum, a .npy header (well under 4 kB) and the codes: a larger file
    # is not one, and is not read whole.
    limit = _CHECKSUM_BYTES + 4096 + int(np.prod(shape)) * np.dtype(dtype).itemsize
    try:
        with open(path, "rb") as fid:
            data = fid.read(limit + 1)
    except OSError:  # missing, or an unreadable folder
        return None
    stored, payload = data[:_CHECKSUM_BYTES], data[_CHECKSUM_BYTES:]
    if not _CHECKSUM_BYTES < len(data) <= limit or stored != _checksum(key, payload):
        return None
    try:
        codes = np.load(io.BytesIO(payload), allow_pickle=False)
    except (OSError, ValueError, EOFError):  # only a colliding checksum gets here
        return None
    return codes if codes.shape == shape and codes.dtype == dtype else None


def _write(path, key, codes):
    buffer = io.BytesIO()
    np.save(buffer, codes, allow_pickle=False)
    payload = buffer.getvalue()
    with atomic_write(path) as tmp:
        tmp.write_bytes(_checksum(key, payload) + payload)


def _store(folder, entries):
    """Write ``(path, key, codes)`` entries; an unusable folder warns once and stops."""
    for path, key, codes in entries:
        try:
            _write(path, key, codes)
        except OSError as err:
            # Read-only, full, or a path through a file: every other entry would fail alike.
            if str(folder) not in _WARNED_FOLDERS:
                _WARNED_FOLDERS.add(str(folder))
                warnings.warn(
                    f"The token cache folder {str(folder)!r} cannot be written "
                    f"({type(err).__name__}: {err}); tokens are encoded without caching "
                    f"there. Pass cache=False, another folder, or set {CACHE_ENV} to a "
                    "writable folder.", RuntimeWarning, stacklevel=3)
            return


def cached_encode(codec, signals, *, n_q=None, cache=True, batch_size=None, device=None,
                  return_hits=False, progress=False):
    """Codes of normalised signals, read from the cache where present, else encoded and stored.

    Parameters
    ----------
    codec : BioCodec
        The codec.
    signals : ndarray, shape (n_items, ..., n_times)
        Normalised signals at the codec rate (e.g.
        :func:`mne_biocodec.preprocessing.prepare_signals` output
        ``(n_epochs, n_chans, n_times)``); each item along the first axis (an epoch) is one
        cache entry.
    n_q : int | None
        Codebooks (all when None).
    cache : bool | str | path-like | None, default=True
        Where the on-disk cache lives (see :func:`resolve_cache`); the in-memory cache is
        used too unless ``cache=False``, which makes this
        :func:`mne_biocodec.tokens.engine.encode`.
    batch_size : int | None
        Segments per forward pass for the items not in the cache.
    device : str | None
        Where to run the codec.
    return_hits : bool, default=False
        Also return how many items came from the cache.
    progress : bool, default=False
        Show a progress bar over the segments encoded.

    Returns
    -------
    codes : ndarray, shape (n_items, ..., n_q, n_frames)
        The codes (uint8 for codebooks of at most 256 entries), equal to encoding ``signals``.
    n_hits : int
        Items read from either cache (only with ``return_hits=True``).

    Examples
    --------
    >>> scaled, center, scale = prepare_signals(X, sfreq, codec)  # doctest: +SKIP
    >>> codes = cached_encode(codec, scaled, cache="~/.cache/mne-biocodec")  # doctest: +SKIP
    """
    signals = np.asarray(signals, dtype=np.float32)
    if signals.ndim < 2:
        raise ValueError(f"signals must have shape (n_items, ..., n_times); got "
                         f"{signals.shape}.")
    n_q = codec.n_q if n_q is None else int(n_q)
    inner, n_times = signals.shape[1:-1], signals.shape[-1]
    shape = inner + (n_q, codec.n_frames(n_times))
    dtype = np.dtype(codes_dtype(codec.codebook_size))
    folder = resolve_cache(cache)
    budget = 0 if cache is False else _memory_budget()
    if folder is None and not budget:
        codes = encode(codec, signals.reshape(-1, n_times), n_q=n_q, batch_size=batch_size,
                       device=device, progress=progress)
        codes = codes.reshape(len(signals), *shape)
        return (codes, 0) if return_hits else codes
    digest = _codec_digest(codec)
    device_type = (torch.device(device) if device is not None else codec.device).type
    keys = [cache_key(item, digest, codec.sample_rate, n_q, device_type=device_type)
            for item in signals]
    paths = [_entry(folder, key) if folder is not None else None for key in keys]
    codes = np.empty((len(signals),) + shape, dtype=dtype)
    missing = []
    for i, (path, key) in enumerate(zip(paths, keys)):
        found = _MEMORY.get(key) if budget else None
        if found is None and path is not None:
            found = _read(path, key, shape, dtype)
            if found is not None and budget:
                _remember(key, found, budget)
        if found is None or found.shape != shape or found.dtype != dtype:
            missing.append(i)
        else:
            codes[i] = found
    if missing:
        fresh = encode(codec, signals[missing].reshape(-1, n_times), n_q=n_q,
                       batch_size=batch_size, device=device, progress=progress)
        fresh = fresh.reshape(len(missing), *shape)
        codes[missing] = fresh
        if budget:
            for i in missing:
                _remember(keys[i], codes[i], budget)
        if folder is not None:
            _store(folder, [(paths[i], keys[i], codes[i]) for i in missing])
    n_hits = len(signals) - len(missing)
    return (codes, n_hits) if return_hits else codes


def decoded_key(codes, codec_digest, device_type="cpu"):
    """SHA-256 key of one item's decoder output in the in-process cache.

    Parameters
    ----------
    codes : ndarray of int, shape (..., n_q, n_frames)
        The item's codes.
    codec_digest : str
        :func:`mne_biocodec.tokens.codec_sha256` of the codec.
    device_type : str, default="cpu"
        Device type of the decoder pass (GPU kernels round differently from CPU ones).

    Returns
    -------
    key : str
        64 hex digits, never equal to a :func:`cache_key` (the two hash different prefixes).
    """
    codes = np.ascontiguousarray(codes)
    digest = hashlib.sha256()
    digest.update(f"decoded-v1|{codec_digest}|{device_type}|{codes.dtype.str}|"
                  f"{codes.shape}|".encode())
    digest.update(codes.tobytes())
    return digest.hexdigest()


def cached_decode_batches(codec, codes, *, cache=None, batch_size=None, device=None,
                          progress=False):
    """Decode items of codes batch by batch, reusing the decoder output of items decoded
    before in this process.

    The token pipelines that read decoded signals (``BioCodecTokenizer(output="decoded")``,
    ``output="bandpower"``, :func:`~mne_biocodec.estimators.token_band_power`) decode the
    same epochs in every fold of a cross-validation and every clone of a grid search; the
    decoder output of each item stays in the in-process cache (the one that holds codes,
    ``$MNE_BIOCODEC_MEMORY_CACHE``, under keys of its own), so each is decoded once.
    Decoded signals are never written to disk: they take about eight times the space of
    their codes and are exactly recomputable from them.

    Parameters
    ----------
    codec : BioCodec
        The codec that made the codes.
    codes : ndarray of int, shape (n_items, ..., n_q, n_frames)
        Codes; an item (an epoch: all its channels) is one cache entry.
    cache : bool | str | path-like | None, default=None
        False decodes every item and leaves the in-memory cache alone (as
        :func:`cached_encode` does); any other value uses it.
    batch_size : int | None
        Segments (channel-epochs) per forward pass (:func:`~mne_biocodec.tokens.engine.
        auto_batch_size` of the decoded length when None); items are taken in groups of
        about that many segments, so the decoded signals of a group are all that exist at
        once outside the cache.
    device : str | torch.device | None
        Where to run the codec.
    progress : bool, default=False
        Show a progress bar over the segments decoded.

    Yields
    ------
    sl : slice
        The items of this group.
    signals : ndarray of float32, shape (n_group, ..., n_frames * hop_length)
        Their decoder output at the codec rate, in normalised units: equal to
        :func:`~mne_biocodec.tokens.engine.decode` of their codes.
    """
    codes = np.asarray(codes)
    if codes.ndim < 3:
        raise ValueError(f"codes must have shape (n_items, ..., n_q, n_frames); got "
                         f"{codes.shape}.")
    inner, (n_q, n_frames) = codes.shape[1:-2], codes.shape[-2:]
    n_per_item = int(np.prod(inner, dtype=np.int64))
    n_times = n_frames * codec.hop_length
    batch_size = int(batch_size or auto_batch_size(n_times))
    per_group = max(1, batch_size // max(n_per_item, 1))
    budget = 0 if cache is False else _memory_budget()
    digest = _codec_digest(codec) if budget else None
    device_type = (torch.device(device) if device is not None else codec.device).type
    for start in range(0, len(codes), per_group):
        sl = slice(start, min(start + per_group, len(codes)))
        group = codes[sl]
        keys = ([decoded_key(item, digest, device_type) for item in group] if budget
                else [None] * len(group))
        out = np.empty((len(group),) + inner + (n_times,), dtype=np.float32)
        missing = []
        for i, key in enumerate(keys):
            found = _MEMORY.get(key) if budget else None
            if found is None or found.shape != out.shape[1:]:
                missing.append(i)
            else:
                out[i] = found
        if missing:
            fresh = decode(codec, group[missing].reshape(-1, n_q, n_frames),
                           batch_size=batch_size, device=device, progress=progress)
            out[missing] = fresh.reshape((len(missing),) + out.shape[1:])
            if budget:
                for i in missing:
                    _remember(keys[i], out[i], budget)
        yield sl, out
