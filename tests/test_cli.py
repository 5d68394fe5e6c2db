"""The ``mne-biocodec`` command line, called through ``main([...])`` on real recordings.

The codec is the parity fixture's (``--codec <path>``), so the tests do not depend on the
shipped codec; ``--device cpu`` keeps the codes comparable with the CPU fixture codec.
"""

import re

import mne
import numpy as np
import pytest

from mne_biocodec import BioCodec, save_codec
from mne_biocodec.cli import main
from mne_biocodec.codec import EEG_CONFIG
from mne_biocodec.tokens import codec_sha256, decode_to_raw, encode_raw, read_tokens

SECONDS = 10.0


@pytest.fixture(scope="module")
def weights(parity_dir):
    return str(parity_dir / "weights.safetensors")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """The first 10 s of the shipped sample, saved as FIF (64 EEG channels, 160 Hz)."""
    from mne_biocodec.data import sample_path

    raw = mne.io.read_raw(sample_path(), preload=True, verbose="error")
    raw.crop(0, SECONDS, include_tmax=False)
    path = tmp_path_factory.mktemp("rec") / "S004R04_raw.fif"
    raw.save(path, verbose="error")
    return path


@pytest.fixture(scope="module")
def cli_tokens(recording, weights, tmp_path_factory):
    """Token file written by ``mne-biocodec encode`` and the summary it printed."""
    out = tmp_path_factory.mktemp("tok") / "rec.bctok"
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["encode", str(recording), "-o", str(out), "--codec", weights,
                     "--device", "cpu"]) == 0
    return out, stdout.getvalue()


def _user_error(capsys, argv):
    """Run ``argv``, expect exit status 2 without traceback, return stderr."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_encode(cli_tokens, recording, parity_codec, weights):
    out, printed = cli_tokens
    assert re.search(r"64 channels, 10\.0 s at 160 Hz -> 6 x 209 frames", printed)
    assert "; 3 annotations kept" in printed
    ratio = float(re.search(r"([\d.]+)x smaller than 16-bit raw", printed).group(1))
    size = out.stat().st_size
    assert ratio == pytest.approx(64 * 1600 * 2 / size, abs=0.01)
    assert 2.0 < ratio < 2.6  # 1000 bit/s of codes vs 2560 bit/s of 16-bit samples
    tokens, meta = read_tokens(out)
    raw = mne.io.read_raw_fif(recording, preload=True, verbose="error")
    expected = encode_raw(raw, parity_codec)
    np.testing.assert_array_equal(tokens.codes, expected.codes)
    np.testing.assert_allclose(tokens.scale, expected.scale)
    assert meta["ch_names"] == raw.ch_names
    assert meta["codec"]["source"] == weights
    assert meta["codec"]["weights_sha256"] == codec_sha256(parity_codec)
    assert meta["meas_date"] == raw.info["meas_date"].isoformat()
    assert meta["extra"]["recording"] == "S004R04_raw.fif"


def test_decode_fif(cli_tokens, recording, parity_codec, tmp_path, capsys):
    tokens_path, _ = cli_tokens
    out = tmp_path / "decoded_raw.fif"
    # No --codec: the codec recorded in the file (here its path) is used.
    assert main(["decode", str(tokens_path), "-o", str(out), "--device", "cpu"]) == 0
    assert f"64 channels, 10.0 s at 160 Hz -> {out}" in capsys.readouterr().out
    original = mne.io.read_raw_fif(recording, verbose="error")
    decoded = mne.io.read_raw_fif(out, preload=True, verbose="error")
    assert decoded.ch_names == original.ch_names
    assert decoded.info["sfreq"] == original.info["sfreq"] == 160.0
    assert decoded.n_times == original.n_times == 1600
    assert decoded.info["meas_date"] == original.info["meas_date"]
    tokens, meta = read_tokens(tokens_path)
    expected = decode_to_raw(tokens, meta, parity_codec).get_data()
    np.testing.assert_allclose(decoded.get_data(), expected, rtol=1e-5, atol=1e-10)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_decode_edf(cli_tokens, weights, parity_codec, tmp_path, capsys):
    tokens_path, _ = cli_tokens
    out = tmp_path / "decoded.edf"
    assert main(["decode", str(tokens_path), "-o", str(out), "--codec", weights,
                 "--device", "cpu"]) == 0
    assert "(EDF," in capsys.readouterr().out
    decoded = mne.io.read_raw_edf(out, preload=True, verbose="error")
    tokens, meta = read_tokens(tokens_path)
    assert decoded.ch_names == meta["ch_names"]
    assert decoded.info["sfreq"] == 160.0
    assert decoded.n_times == 1600
    expected = decode_to_raw(tokens, meta, parity_codec).get_data()
    # EDF stores 16-bit integers over each channel's physical range.
    step = (expected.max() - expected.min()) / 2 ** 15
    assert np.abs(decoded.get_data() - expected).max() < step


def test_missing_and_unreadable_inputs(tmp_path, capsys, weights, cli_tokens):
    err = _user_error(capsys, ["encode", str(tmp_path / "nope.edf"), "--codec", weights])
    assert "nope.edf' does not exist" in err
    text = tmp_path / "notes.txt"
    text.write_text("this is not a recording\n")
    err = _user_error(capsys, ["encode", str(text), "-o", str(tmp_path / "x.bctok"),
                               "--codec", weights])
    assert "could not read" in err and "mne.io.read_raw" in err
    fake = tmp_path / "fake.edf"
    fake.write_text("this is not an EDF file either\n" * 20)
    err = _user_error(capsys, ["encode", str(fake), "--codec", weights])
    assert f"could not read {fake}" in err
    err = _user_error(capsys, ["decode", str(text), "-o", str(tmp_path / "out_raw.fif"),
                               "--codec", weights])
    assert "is not an mne-biocodec token file" in err
    err = _user_error(capsys, ["decode", str(tmp_path / "none.bctok"), "--codec", weights])
    assert "does not exist" in err
    err = _user_error(capsys, ["encode", str(fake), "--codec", str(tmp_path / "no.safetensors")])
    assert "could not read" in err  # the recording is checked first
    err = _user_error(capsys, ["decode", str(cli_tokens[0]), "-o", str(tmp_path / "out.txt")])
    assert "cannot tell the output format" in err
    assert not list(tmp_path.glob("*.bctok")) and not list(tmp_path.glob("out*"))


def test_mismatched_codec(cli_tokens, tmp_path, capsys):
    import torch

    torch.manual_seed(0)
    other = save_codec(BioCodec(EEG_CONFIG).eval(), tmp_path / "other")
    out = tmp_path / "decoded_raw.fif"
    err = _user_error(capsys, ["decode", str(cli_tokens[0]), "-o", str(out),
                               "--codec", str(other)])
    assert "mismatched codecs" in err and "my_biocodec" in err and "--allow-mismatch" in err
    assert not out.exists()


def test_bad_channel_types(recording, weights, tmp_path, capsys):
    raw = mne.io.read_raw_fif(recording, preload=True, verbose="error").crop(0, 2)
    raw.pick(raw.ch_names[:3]).set_channel_types({raw.ch_names[0]: "eog"}, verbose="error")
    path = tmp_path / "mixed_raw.fif"
    raw.save(path, verbose="error")
    err = _user_error(capsys, ["encode", str(path), "--codec", weights, "--picks",
                               *raw.ch_names])
    assert "Unsupported channel types for this EEG codec: Fc5. (eog)" in err
    assert "set_channel_types" in err
    raw.set_channel_types({name: "misc" for name in raw.ch_names}, verbose="error")
    raw.save(path, overwrite=True, verbose="error")
    err = _user_error(capsys, ["encode", str(path), "--codec", weights])
    assert "no EEG channels" in err and "'misc'" in err


def test_info(weights, parity_codec, capsys):
    assert main(["info", "--codec", weights]) == 0
    out = capsys.readouterr().out
    for key in ("python:", "numpy:", "torch:", "mne:", "scikit-learn:", "skorch:", "moabb:",
                "device:", "threads:", "shipped codecs:"):
        assert key in out
    assert re.search(r"device:\s+(cpu|cuda)", out)
    assert codec_sha256(parity_codec) in out
    assert "6 x 256 codes (1000 bit/s per channel)" in out


def test_demo(weights, tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert main(["demo", "--codec", weights, "--out", str(out_dir), "--seconds", "10",
                 "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert out.splitlines()[0] == f"mne-biocodec demo: writing to {out_dir}"
    assert "64 EEG channels, 10.0 s at 160 Hz, 3 annotations" in out
    assert "1000 bit/s per channel" in out
    r_mean = float(re.search(r"Pearson r\s+(-?[\d.]+)", out).group(1))
    assert -1.0 <= r_mean <= 1.0
    assert re.search(r"SI-SDR dB\s+-?[\d.]+", out) and re.search(r"NMSE\s+[\d.]+", out)
    tokens, meta = read_tokens(out_dir / "S004R04.bctok")
    assert tokens.codes.shape == (1, 64, 6, 209)
    assert meta["extra"]["recording"] == "S004R04.edf"
    assert len(meta["annotations"]["onset"]) == 3
    png = out_dir / "S004R04_decoded.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # It ends with the files it wrote; stderr (not a terminal here) tells each stage.
    assert out.splitlines()[-2:] == [
        f"  {out_dir / 'S004R04.bctok'}  (token file; decode it with `mne-biocodec decode "
        f"{out_dir / 'S004R04.bctok'}`)", f"  {png}  (plot)"]
    stages = [line.split("] ")[1].split(" ")[0] for line in captured.err.splitlines()]
    assert stages == ["reading", "encoding", "reading", "computing", "plotting"]
    assert "encoding 64 EEG channels" in captured.err
    assert sorted(p.name for p in out_dir.iterdir()) == ["S004R04.bctok",
                                                         "S004R04_decoded.png"]


def test_demo_default_folder_is_ignored_by_git():
    from pathlib import Path

    from mne_biocodec.cli import build_parser

    assert build_parser().parse_args(["demo"]).out == "biocodec-demo"
    gitignore = Path(__file__).resolve().parents[1] / ".gitignore"
    assert "biocodec-demo/" in gitignore.read_text().splitlines()


def test_pretrain_bad_recipe(tmp_path, capsys):
    err = _user_error(capsys, ["pretrain", str(tmp_path / "none.json"), "--out",
                               str(tmp_path / "run")])
    assert "none.json' does not exist" in err
    recipe = tmp_path / "recipe.json"
    recipe.write_text('{"name": "x", "modality": "eeg"}')
    err = _user_error(capsys, ["pretrain", str(recipe), "--out", str(tmp_path / "run")])
    assert "lacks the keys" in err and "segment_seconds" in err
    assert not (tmp_path / "run").exists()


def test_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_annotations_round_trip_through_the_cli(weights, tmp_path, capsys):
    """The full sample (30 annotations) encoded and decoded by the CLI, to FIF and EDF."""
    from mne_biocodec.data import sample_path

    tokens = tmp_path / "S004R04.bctok"
    assert main(["encode", str(sample_path()), "-o", str(tokens), "--codec", weights,
                 "--picks", "C3..", "C4..", "--device", "cpu"]) == 0
    assert "; 30 annotations kept; 62 channels not picked" in capsys.readouterr().out
    original = mne.io.read_raw(sample_path(), verbose="error")
    for name in ("decoded_raw.fif", "decoded.edf"):
        assert main(["decode", str(tokens), "-o", str(tmp_path / name), "--device",
                     "cpu"]) == 0
        decoded = mne.io.read_raw(tmp_path / name, verbose="error")
        assert decoded.ch_names == ["C3..", "C4.."]
        assert len(decoded.annotations) == 30
        assert list(decoded.annotations.description) == list(original.annotations.description)
        np.testing.assert_allclose(decoded.annotations.onset, original.annotations.onset,
                                   atol=1e-3)
        assert decoded.info["meas_date"] == original.info["meas_date"]


def test_damaged_token_files(cli_tokens, weights, tmp_path, capsys):
    from tokenfile_crafting import read_parts, write_token_file

    source = cli_tokens[0]
    flipped = bytearray(source.read_bytes())
    flipped[-50] ^= 0x01
    damaged = tmp_path / "flipped.bctok"
    damaged.write_bytes(bytes(flipped))
    out = tmp_path / "out_raw.fif"
    err = _user_error(capsys, ["decode", str(damaged), "-o", str(out), "--codec", weights])
    assert "flipped.bctok is damaged: checksum mismatch" in err and "Re-encode" in err
    # A consistent checksum but an absurd length: refused before anything is allocated.
    _, meta, tensors = read_parts(source)
    huge = write_token_file(tmp_path / "huge.bctok", dict(meta, n_times=30_000_000), tensors)
    err = _user_error(capsys, ["decode", str(huge), "-o", str(out), "--codec", weights])
    assert re.search(r"huge.bctok is a damaged token file: n_times must be the length of a "
                     r"recording that gives the 209 frames.*got 30000000", err)
    for field, value in (("sfreq", 0.0), ("codec", None)):
        bad = write_token_file(tmp_path / "bad.bctok", dict(meta, **{field: value}), tensors)
        err = _user_error(capsys, ["decode", str(bad), "-o", str(out), "--codec", weights])
        assert f"bad.bctok is a damaged token file: {field} must be" in err
    truncated = tmp_path / "truncated.bctok"
    truncated.write_bytes(source.read_bytes()[:1000])
    err = _user_error(capsys, ["decode", str(truncated), "-o", str(out)])
    assert "truncated.bctok is not an mne-biocodec token file (.bctok) or is damaged" in err
    err = _user_error(capsys, ["decode", str(tmp_path / "gone.bctok"), "-o", str(out)])
    assert "gone.bctok' does not exist" in err
    assert not out.exists()


def test_version_1_file_decodes_with_a_warning(cli_tokens, weights, tmp_path, capsys):
    import warnings

    from tokenfile_crafting import write_version_1

    old = write_version_1(tmp_path / "old.bctok", cli_tokens[0])
    out = tmp_path / "old_raw.fif"
    with warnings.catch_warnings():
        warnings.simplefilter("always", RuntimeWarning)
        assert main(["decode", str(old), "-o", str(out), "--codec", weights,
                     "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {old} is a version-1 token file: it has no checksum")
    assert mne.io.read_raw_fif(out, verbose="error").n_times == 1600


def test_unexpected_errors_print_one_line(cli_tokens, tmp_path, capsys, monkeypatch):
    import mne_biocodec.tokens

    def broken(path):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(mne_biocodec.tokens, "read_tokens", broken)
    argv = ["decode", str(cli_tokens[0]), "-o", str(tmp_path / "x_raw.fif")]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: RuntimeError: something inside broke\n")
    assert "MNE_BIOCODEC_DEBUG=1" in err and "Traceback" not in err
    monkeypatch.setenv("MNE_BIOCODEC_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something inside broke"):
        main(argv)
