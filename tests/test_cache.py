"""Token cache: hits skip the codec and return identical codes; concurrent writers are safe;
bad entries and unusable folders never reach the caller."""

import errno
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

import mne_biocodec.tokens.cache as cache_mod
from mne_biocodec import BioCodecClassifier, BioCodecTokenizer, load_codec, tokenize
from mne_biocodec.tokens.cache import (CACHE_ENV, CACHE_VERSION, MEMORY_CACHE_ENV, cache_key,
                                       cached_encode, clear_memory_cache, memory_cache_info,
                                       resolve_cache)
from mne_biocodec.codec import EEG_CONFIG, BioCodec


@pytest.fixture(autouse=True)
def disk_only(monkeypatch):
    """The on-disk tests see the disk alone: the in-memory cache would answer first."""
    clear_memory_cache()
    monkeypatch.setenv(MEMORY_CACHE_ENV, "0")
    yield
    clear_memory_cache()


def _count_calls(monkeypatch, name):
    """Segments passed to the cache module's engine function ``name``, call by call."""
    calls = []
    real = getattr(cache_mod, name)

    def counting(codec, segments, **kwargs):
        calls.append(len(segments))
        return real(codec, segments, **kwargs)

    monkeypatch.setattr(cache_mod, name, counting)
    return calls


@pytest.fixture
def count_encodes(monkeypatch):
    """Counts the segments the codec encodes behind the cache."""
    return _count_calls(monkeypatch, "encode")


def test_tokenizer_second_transform_hits_cache(mi_epochs, tmp_path, count_encodes):
    epochs = mi_epochs[:8]
    tok = BioCodecTokenizer(output="codes", cache=tmp_path).fit(epochs)
    first = tok.transform(epochs)
    assert count_encodes == [8 * 21]
    again = clone(tok).fit(epochs).transform(epochs)  # a fresh estimator, same folder
    assert count_encodes == [8 * 21]  # no codec call
    np.testing.assert_array_equal(again, first)
    # Overlapping epochs (another fold): only the new ones are encoded.
    tokens = tok.encode(mi_epochs[4:12])
    assert count_encodes == [8 * 21, 4 * 21]
    np.testing.assert_array_equal(tokens.codes[:4], first[4:])
    # Identical to tokenising without a cache.
    uncached = BioCodecTokenizer(output="codes", cache=False).fit(epochs).transform(epochs)
    np.testing.assert_array_equal(uncached, first)
    assert len(list(tmp_path.rglob("*.codes"))) == 12


def test_classifier_shares_the_tokenizers_cache(mi_epochs, tmp_path, count_encodes):
    epochs = mi_epochs[:8]
    BioCodecTokenizer(output="codes", cache=tmp_path).fit(epochs).transform(epochs)
    assert count_encodes == [8 * 21]
    clf = BioCodecClassifier(cache=tmp_path, max_epochs=1, random_state=0)
    clf.fit(epochs, np.arange(8) % 2)
    assert clf.tokenizer_.cache == tmp_path
    assert count_encodes == [8 * 21]  # the classifier read the tokens back


def test_keys_follow_signals_codec_and_codebooks(default_codec, mi_epochs, tmp_path,
                                                 count_encodes):
    X = mi_epochs[:2].get_data()
    full = tokenize(X, 160.0, default_codec, cache=tmp_path)
    fewer = tokenize(X, 160.0, default_codec, n_q=2, cache=tmp_path)
    assert count_encodes == [42, 42]  # n_q is part of the key
    np.testing.assert_array_equal(fewer.codes, full.codes[:, :, :2])
    other = load_codec("biocodec-eeg", device="cpu")
    with __import__("torch").no_grad():
        other.decoder.model[0].conv.conv.parametrizations.weight.original0.mul_(1.01)
    tokenize(X, 160.0, other, cache=tmp_path)  # decoder weights differ: another codec
    assert count_encodes == [42, 42, 42]
    tokenize(X, 160.0, other, cache=tmp_path)
    assert count_encodes == [42, 42, 42]
    digest = "0" * 64
    signal = np.zeros((2, 100), np.float32)
    keys = {cache_key(signal, digest, 250.0, 6), cache_key(signal, digest, 250.0, 5),
            cache_key(signal, "1" * 64, 250.0, 6), cache_key(signal[:, :99], digest, 250.0, 6),
            cache_key(signal + np.float32(1e-7), digest, 250.0, 6),
            cache_key(signal, digest, 250.0, 6, device_type="cuda")}
    assert len(keys) == 6


def test_damaged_entry_is_a_miss(default_codec, mi_epochs, tmp_path, count_encodes):
    scaled = BioCodecTokenizer(output="codes").fit(mi_epochs[:1]).prepare(mi_epochs[:1])
    codes = cached_encode(default_codec, scaled, cache=tmp_path)
    (entry,) = tmp_path.rglob("*.codes")
    entry.write_bytes(b"not a numpy file")
    again, hits = cached_encode(default_codec, scaled, cache=tmp_path, return_hits=True)
    assert hits == 0 and count_encodes == [21, 21]
    np.testing.assert_array_equal(again, codes)
    assert cached_encode(default_codec, scaled, cache=tmp_path, return_hits=True)[1] == 1


_WRITER = """
import sys, numpy as np
from pathlib import Path
from mne_biocodec.tokens import cache
codes = np.arange(6 * 105, dtype=np.uint8).reshape(6, 105)
print("ready", flush=True)
for _ in range(300):
    cache._write(Path(sys.argv[1]), "ab" * 32, codes)
"""


def test_concurrent_writers_same_key(tmp_path):
    key = "ab" * 32
    path = cache_mod._entry(tmp_path, key)
    codes = np.arange(6 * 105, dtype=np.uint8).reshape(6, 105)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "ready"  # the threads start as the process writes
    seen, failures = [], []

    def write():
        for _ in range(300):
            cache_mod._write(path, key, codes)

    def read():
        while proc.poll() is None or any(t.is_alive() for t in writers):
            if path.exists():
                found = cache_mod._read(path, key, codes.shape, codes.dtype)
                (seen if found is not None and np.array_equal(found, codes)
                 else failures).append(1)

    writers = [threading.Thread(target=write) for _ in range(2)]
    reader = threading.Thread(target=read)
    for thread in writers + [reader]:
        thread.start()
    for thread in writers + [reader]:
        thread.join()
    assert proc.wait() == 0
    proc.stdout.close()
    assert not failures and seen  # readers only ever saw whole entries
    np.testing.assert_array_equal(cache_mod._read(path, key, codes.shape, codes.dtype), codes)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_resolve_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache(None) is None and resolve_cache(False) is None
    assert resolve_cache(True) == tmp_path / "xdg" / "mne-biocodec"
    assert resolve_cache(tmp_path / "here") == tmp_path / "here"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert resolve_cache(None) == resolve_cache(True) == tmp_path / "env"
    assert resolve_cache(False) is None
    with pytest.raises(ValueError, match="cache must be None, True, False or a folder"):
        resolve_cache(3)
    with pytest.raises(ValueError, match="cache"):
        BioCodecTokenizer(cache=3).fit(np.zeros((2, 2, 400)), None)


# A tiny random codec (same architecture, 2 x 32 codes) keeps the fault tests fast.
TINY = dict(EEG_CONFIG, n_filters=4, dimension=16, lstm=0, n_residual_layers=1, bins=32,
            codebook_dim=4, n_q=2)


@pytest.fixture(scope="module")
def tiny_codec():
    torch.manual_seed(0)
    return BioCodec(TINY).eval()


@pytest.fixture
def signals():
    """Three items of 4 channels x 1 s at the codec rate."""
    return np.random.default_rng(0).standard_normal((3, 4, 250)).astype(np.float32)


def _flip_last_bit(data):
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize("damage", [
    pytest.param(_flip_last_bit, id="bit-flip-in-codes"),
    pytest.param(lambda data: bytes([data[0] ^ 0x80]) + data[1:], id="bit-flip-in-checksum"),
    pytest.param(lambda data: b"", id="zero-length"),
    pytest.param(lambda data: data[:40], id="truncated"),
    pytest.param(lambda data: b"garbage" * 50, id="garbage"),
    pytest.param(lambda data: data + b"\0" * 10_000, id="oversized"),
])
def test_bad_entry_is_a_miss_and_rewritten(tiny_codec, signals, tmp_path, count_encodes,
                                           damage):
    reference = cached_encode(tiny_codec, signals, cache=tmp_path)
    entry = cache_mod._entry(tmp_path, cache_key(signals[1], cache_mod._codec_digest(
        tiny_codec), tiny_codec.sample_rate, tiny_codec.n_q))
    intact = entry.read_bytes()
    entry.write_bytes(damage(intact))
    codes, hits = cached_encode(tiny_codec, signals, cache=tmp_path, return_hits=True)
    np.testing.assert_array_equal(codes, reference)  # never the damaged codes
    assert hits == 2 and count_encodes == [12, 4]  # only the bad item was encoded again
    assert entry.read_bytes() == intact  # and its entry rewritten
    assert cached_encode(tiny_codec, signals, cache=tmp_path, return_hits=True)[1] == 3


def test_entry_under_another_key_is_a_miss(tiny_codec, signals, tmp_path, count_encodes):
    reference = cached_encode(tiny_codec, signals, cache=tmp_path)
    first, second = sorted(tmp_path.rglob("*.codes"))[:2]
    second.write_bytes(first.read_bytes())  # a whole, valid entry, but of another item
    codes, hits = cached_encode(tiny_codec, signals, cache=tmp_path, return_hits=True)
    np.testing.assert_array_equal(codes, reference)
    assert hits == 2 and count_encodes == [12, 4]


def _a_file(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    return tmp_path / "file"


def _under_a_file(tmp_path, monkeypatch):
    return _a_file(tmp_path, monkeypatch) / "cache"


def _full_disk(tmp_path, monkeypatch):
    def no_space(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod.Path, "write_bytes", no_space)
    return tmp_path / "cache"


def _read_only(tmp_path, monkeypatch):
    # root ignores file modes, so the refusal a read-only folder gives is simulated.
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refused)
    return tmp_path / "cache"


@pytest.mark.parametrize("make_folder, reason", [
    (_a_file, "NotADirectoryError"),
    (_under_a_file, "NotADirectoryError"),
    (_read_only, "PermissionError"),
    (_full_disk, "No space left on device"),
], ids=["folder-is-a-file", "folder-under-a-file", "read-only", "disk-full"])
def test_unusable_folder_warns_once_and_encodes(tiny_codec, signals, tmp_path, monkeypatch,
                                                make_folder, reason):
    monkeypatch.setattr(cache_mod, "_WARNED_FOLDERS", set())
    folder = make_folder(tmp_path, monkeypatch)
    reference = cached_encode(tiny_codec, signals, cache=False)
    match = rf"cache folder '{re.escape(str(folder))}' cannot be written \(.*{reason}"
    with pytest.warns(RuntimeWarning, match=match) as record:
        codes = cached_encode(tiny_codec, signals, cache=folder)
    assert len(record) == 1  # one warning, not one per entry
    np.testing.assert_array_equal(codes, reference)
    # Later calls (here a whole tokenisation) give the right codes without warning again.
    again, hits = cached_encode(tiny_codec, signals, cache=folder, return_hits=True)
    np.testing.assert_array_equal(again, reference)
    assert hits == 0
    X = signals[:, :2] * 1e-5
    tokens = tokenize(X, 250.0, tiny_codec, cache=folder)
    np.testing.assert_array_equal(tokens.codes, tokenize(X, 250.0, tiny_codec, cache=False).codes)
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary file left behind


def test_old_layout_is_ignored(tiny_codec, signals, tmp_path, count_encodes):
    old = tmp_path / "codes-v1" / "ab" / ("ab" * 32 + ".npy")
    old.parent.mkdir(parents=True)
    old.write_bytes(b"an entry of the old layout")
    cached_encode(tiny_codec, signals, cache=tmp_path)
    assert CACHE_VERSION == "codes-v2" and count_encodes == [12]
    assert {p.parent.parent.name for p in tmp_path.rglob("*.codes")} == {CACHE_VERSION}


# -- in memory -------------------------------------------------------------------------------
@pytest.fixture
def in_memory(monkeypatch):
    monkeypatch.setenv(MEMORY_CACHE_ENV, "64")
    monkeypatch.delenv(CACHE_ENV, raising=False)


def _served_to_a_clone(tok, epochs, calls):
    """Transform ``epochs``, then with a clone in reverse order: the codec is called once,
    for every channel-epoch, and both give the same values."""
    first = tok.fit(epochs).transform(epochs)
    assert calls == [len(epochs) * len(epochs.ch_names)]
    again = clone(tok).fit(epochs).transform(epochs[::-1])
    assert calls == [len(epochs) * len(epochs.ch_names)]  # no second codec call
    np.testing.assert_array_equal(again, first[::-1])
    return first, again


def test_memory_cache_serves_clones_without_a_folder(mi_epochs, in_memory, count_encodes):
    epochs = mi_epochs[:6]
    tok = BioCodecTokenizer(output="codes")
    first, again = _served_to_a_clone(tok, epochs, count_encodes)
    first[:] = 0  # the caller's array is its own: the cache is not poisoned
    np.testing.assert_array_equal(tok.transform(epochs), again[::-1])
    info = memory_cache_info()
    assert info["entries"] == 6 and info["hits"] == 12 and info["misses"] == 6
    # cache=False bypasses it: encoded again, same codes
    fresh = BioCodecTokenizer(output="codes", cache=False).fit(epochs).transform(epochs)
    assert count_encodes == [6 * 21, 6 * 21]
    np.testing.assert_array_equal(fresh, again[::-1])


def test_design_card_cross_validation_tokenises_each_epoch_once(mi_epochs, in_memory,
                                                                 count_encodes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline

    epochs = mi_epochs[:20]
    y = epochs.events[:, 2]
    pipe = Pipeline([("tokenizer", BioCodecTokenizer()), ("lr", LogisticRegression())])
    scores = cross_val_score(pipe, epochs, y, cv=StratifiedKFold(4))
    assert scores.shape == (4,) and np.all(np.isfinite(scores))
    assert sum(count_encodes) == 20 * 21  # every channel-epoch encoded exactly once


def test_memory_cache_is_bounded_and_can_be_off(tiny_codec, signals, monkeypatch,
                                                count_encodes):
    codes = cached_encode(tiny_codec, signals, cache=None)  # 3 items
    per_item = codes[0].nbytes
    monkeypatch.setenv(MEMORY_CACHE_ENV, str(2.5 * per_item / 2 ** 20))
    cached_encode(tiny_codec, signals, cache=None)
    info = memory_cache_info()
    assert info["entries"] == 2 and info["bytes"] == 2 * per_item  # least recent dropped
    assert cached_encode(tiny_codec, signals[1:], cache=None, return_hits=True)[1] == 2
    clear_memory_cache()
    monkeypatch.setenv(MEMORY_CACHE_ENV, "0")
    cached_encode(tiny_codec, signals, cache=None)
    assert memory_cache_info()["entries"] == 0
    monkeypatch.setenv(MEMORY_CACHE_ENV, "lots")
    with pytest.raises(ValueError, match=f"{MEMORY_CACHE_ENV} must be a size in MiB"):
        cached_encode(tiny_codec, signals, cache=None)


@pytest.fixture
def count_decodes(monkeypatch):
    """Counts the segments the codec decodes behind the in-memory cache."""
    return _count_calls(monkeypatch, "decode")


def test_decoded_signals_are_decoded_once(mi_epochs, in_memory, count_decodes):
    """Token band power and output="decoded" decode each epoch once across folds and clones,
    with the result of an uncached decode; cache=False decodes again."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline

    epochs = mi_epochs[:12].copy().pick(mi_epochs.ch_names[:2])
    first, _ = _served_to_a_clone(BioCodecTokenizer(output="decoded"), epochs, count_decodes)
    info = memory_cache_info()
    assert info["entries"] == 2 * 12  # codes and decoder output, under keys of their own
    uncached = BioCodecTokenizer(output="decoded", cache=False).fit(epochs).transform(epochs)
    assert count_decodes == [12 * 2, 12 * 2]
    np.testing.assert_allclose(uncached, first, rtol=0, atol=1e-12)

    clear_memory_cache()
    count_decodes.clear()
    y = epochs.events[:, 2]
    pipe = Pipeline([("tokenizer", BioCodecTokenizer(output="bandpower")),
                     ("lr", LogisticRegression())])
    scores = cross_val_score(pipe, epochs, y, cv=StratifiedKFold(3))
    assert np.all(np.isfinite(scores))
    assert sum(count_decodes) == 12 * 2  # every channel-epoch decoded exactly once
