"""Corpus tokenisation on a 2-worker Dask cluster, on real recordings (cropped copies)."""

import json
import os
import warnings

import mne
import numpy as np
import pytest

from mne_biocodec.cli import main
from mne_biocodec.corpus import (encode_corpus, find_recordings, make_local_cluster,
                                 read_manifest)
from mne_biocodec.tokens import decode_to_raw, encode_raw, read_tokens

EEGMMIDB = "MNE-eegbci-data/files/eegmmidb/1.0.0"
KALUNGA = "MNE-ssvepexo-data/zenodo/2392979"


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory, data_root):
    """Three held-out recordings cropped to a few seconds (FIF copies) and a truncated EDF."""
    root = tmp_path_factory.mktemp("corpus")
    for subject in (4, 5):
        raw = mne.io.read_raw_edf(data_root / EEGMMIDB / f"S00{subject}/S00{subject}R04.edf",
                                  preload=True, verbose="error").crop(0, 5)
        (root / "eegmmidb").mkdir(exist_ok=True)
        raw.save(root / "eegmmidb" / f"S00{subject}R04_raw.fif", verbose="error")
    raw = mne.io.read_raw_fif(data_root / KALUNGA / "subject03_run1_raw.fif", preload=True,
                              verbose="error").crop(0, 20)
    (root / "kalunga").mkdir()
    raw.save(root / "kalunga" / "subject03_run1_raw.fif", verbose="error")
    (root / "broken").mkdir()
    edf = (data_root / EEGMMIDB / "S005/S005R08.edf").read_bytes()
    (root / "broken" / "S005R08.edf").write_bytes(edf[:3000])  # header cut short
    return root


@pytest.fixture(scope="module")
def client(data_root):
    """A local cluster of 2 single-threaded worker processes."""
    from dask.distributed import Client

    with pytest.MonkeyPatch.context() as mp:
        # MOABB reads Kalunga2016 from here (workers inherit the environment).
        mp.setenv("MNE_DATASETS_SSVEPEXO_PATH", str(data_root))
        with make_local_cluster(2) as cluster, Client(cluster) as dask_client:
            yield dask_client


def _same_codes(store, output, raw, codec, **kwargs):
    tokens, metadata = read_tokens(store / output)
    expected = encode_raw(raw, codec, **kwargs)
    np.testing.assert_array_equal(tokens.codes, expected.codes)
    assert tokens.ch_names == expected.ch_names
    return metadata


def test_corpus_equals_single_process_and_resumes(corpus_dir, client, default_codec,
                                                  tmp_path):
    store = tmp_path / "store"
    summary = encode_corpus(corpus_dir, store, scheduler=client, progress=False)
    print(summary)
    assert sorted(summary.encoded) == ["eegmmidb/S004R04_raw.fif", "eegmmidb/S005R04_raw.fif",
                                       "kalunga/subject03_run1_raw.fif"]
    assert list(summary.failed) == ["broken/S005R08.edf"]
    assert "Error" in summary.failed["broken/S005R08.edf"]
    assert summary.channel_seconds == pytest.approx(2 * 64 * 5 + 8 * 20, rel=0.01)

    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["codec"]["name"] == "biocodec-eeg"
    entries = manifest["recordings"]
    assert entries["broken/S005R08.edf"]["status"] == "failed"
    assert entries["broken/S005R08.edf"]["error"] == summary.failed["broken/S005R08.edf"]
    for key in summary.encoded:
        entry = entries[key]
        assert entry["status"] == "done" and entry["error"] is None
        raw = mne.io.read_raw_fif(corpus_dir / key, preload=True, verbose="error")
        metadata = _same_codes(store, entry["output"], raw, default_codec)
        assert entry["n_channels"] == len(metadata["ch_names"])
        assert entry["duration"] == pytest.approx(raw.n_times / raw.info["sfreq"])
        assert metadata["extra"]["corpus_key"] == key
        # The token files keep the recordings' annotations and measurement information.
        assert metadata["format_version"] == 2
        assert metadata["annotations"]["description"] == list(raw.annotations.description)
        assert metadata["meas_date"] == raw.info["meas_date"].isoformat()
        assert len(metadata["chs"]) == len(metadata["ch_names"])
    assert len(read_tokens(store / "eegmmidb/S004R04_raw.bctok")[1]["annotations"]
               ["onset"]) == 2
    assert entries["kalunga/subject03_run1_raw.fif"]["n_channels"] == 8  # stim left out

    # A rerun keeps the finished token files and tries the failed recording again.
    mtimes = {p: p.stat().st_mtime_ns for p in store.rglob("*.bctok")}
    again = encode_corpus(corpus_dir, store, scheduler=client, progress=False)
    assert sorted(again.skipped) == sorted(summary.encoded)
    assert again.encoded == [] and list(again.failed) == ["broken/S005R08.edf"]
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*.bctok")} == mtimes
    assert not list(store.rglob(".tmp-*"))


def test_cli_encode_corpus_on_a_scheduler(corpus_dir, client, tmp_path, capsys):
    store = tmp_path / "tokens"
    address = client.scheduler.address
    assert main(["encode-corpus", str(corpus_dir / "kalunga"), "-o", str(store),
                 "--scheduler", address]) == 0
    assert "1 encoded" in capsys.readouterr().out
    assert (store / "subject03_run1_raw.bctok").is_file()
    # failures give status 1 and are listed
    assert main(["encode-corpus", str(corpus_dir / "broken"), "-o", str(store),
                 "--scheduler", address, "--retries", "0"]) == 1
    assert "FAILED S005R08.edf" in capsys.readouterr().out
    assert read_manifest(store)["recordings"]["subject03_run1_raw.fif"]["status"] == "done"


def test_moabb_dataset_one_task_per_run(client, default_codec, tmp_path, data_root):
    store = tmp_path / "moabb"
    summary = encode_corpus("Kalunga2016", store, subjects=["3"], picks=["Oz"],
                            scheduler=client, progress=False)
    assert sorted(summary.encoded) == ["Kalunga2016/sub-3/ses-0/run-0",
                                       "Kalunga2016/sub-3/ses-0/run-1"]
    assert not summary.failed
    raw = mne.io.read_raw_fif(data_root / KALUNGA / "subject03_run2_raw.fif", preload=True,
                              verbose="error")
    _same_codes(store, "Kalunga2016/sub-3/ses-0/run-1.bctok", raw, default_codec,
                picks=["Oz"])
    # The runs are listed once: a rerun needs no cluster at all.
    again = encode_corpus("Kalunga2016", store, subjects=[3], picks=["Oz"],
                          scheduler="tcp://127.0.0.1:1", progress=False)
    assert len(again.skipped) == 2 and not again.encoded


def test_bids_root(corpus_dir, client, default_codec, tmp_path):
    from mne_bids import BIDSPath, read_raw_bids, write_raw_bids

    raw = mne.io.read_raw_fif(corpus_dir / "eegmmidb" / "S004R04_raw.fif", preload=True,
                              verbose="error").crop(0, 4)
    bids_path = BIDSPath(subject="04", task="imagery", run=4, datatype="eeg",
                         root=tmp_path / "bids")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MNE-BIDS warns about what a cropped copy lacks
        write_raw_bids(raw, bids_path, allow_preload=True, format="BrainVision",
                       verbose="error")
        expected = read_raw_bids(bids_path, verbose="error").load_data()
    kind, found = find_recordings(tmp_path / "bids")
    assert kind == "bids"
    assert [r["key"] for r in found] == [
        bids_path.fpath.relative_to(tmp_path / "bids").as_posix()]
    assert found[0]["key"].endswith("_eeg.vhdr")
    summary = encode_corpus(tmp_path / "bids", tmp_path / "store", scheduler=client,
                            progress=False)
    assert summary.encoded == [found[0]["key"]], summary
    _same_codes(tmp_path / "store", found[0]["output"], expected, default_codec)
    # What MNE-BIDS reads (subject, line frequency, annotations) comes back on decoding.
    decoded = decode_to_raw(*read_tokens(tmp_path / "store" / found[0]["output"]),
                            default_codec)
    assert decoded.info["line_freq"] == expected.info["line_freq"]
    assert dict(decoded.info["subject_info"]) == dict(expected.info["subject_info"])
    assert list(decoded.annotations.description) == list(expected.annotations.description)
    np.testing.assert_allclose(decoded.annotations.onset, expected.annotations.onset)


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        encode_corpus(tmp_path / "missing", tmp_path / "store")
    with pytest.raises(ValueError, match="did you mean Kalunga2016"):
        encode_corpus("Kalunga2061", tmp_path / "store")
    with pytest.raises(ValueError, match="n_workers must be an integer >= 1"):
        encode_corpus(tmp_path, tmp_path / "store", n_workers=0)
    (tmp_path / "store2").mkdir()
    (tmp_path / "store2" / "manifest.json").write_text("{}")
    with pytest.raises(ValueError, match="not an mne-biocodec corpus manifest"):
        encode_corpus(tmp_path, tmp_path / "store2")
    assert os.listdir(tmp_path / "store2") == ["manifest.json"]
