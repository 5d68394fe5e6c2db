"""Hostile-input probe: what the library does with bad input, damaged files and faults.

Each case feeds one bad input or fault to a public entry point and classifies the outcome:

``clean``
    a clear error (an exception of the expected type whose message names the problem), or a
    correct result;
``silent_wrong``
    a result that is wrong, with no error;
``crash``
    an error of an unexpected type, or one whose message does not name the problem (e.g.
    "not enough values to unpack");
``bomb``
    the case ran past its time limit or its memory limit (each group runs in its own process
    under ``RLIMIT_AS``);
``data_loss``
    work on disk was overwritten or lost.

Run it against any checkout (``PYTHONPATH=<checkout>``) to compare versions::

    python benchmarks/hostile_probe.py --out benchmarks/results/hostile_probe.json
    PYTHONPATH=/tmp/old python benchmarks/hostile_probe.py --out /tmp/before.json

The token-file bit flips count one case per flipped bit (a seeded sample of payload and
header bits). The probe needs the real data of ``MNE_DATA`` only for the training cases.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

OUTCOMES = ("clean", "silent_wrong", "crash", "bomb", "data_loss")
MEMORY_LIMIT = 6 * 2 ** 30
TIME_LIMIT = 120


# -- outcome helpers ------------------------------------------------------------------------
class Outcome(Exception):
    """Raised by a case to report its outcome explicitly."""

    def __init__(self, outcome, detail=""):
        super().__init__(detail)
        self.outcome, self.detail = outcome, detail


def expect_error(fn, types=(ValueError, TypeError), pattern=".", ok=None):
    """Run ``fn``: a matching error is clean; no error is silent_wrong unless ``ok(result)``."""
    try:
        result = fn()
    except Outcome:
        raise
    except MemoryError as err:
        return "bomb", f"MemoryError: {str(err)[:160]}"
    except types as err:
        if re.search(pattern, str(err), re.IGNORECASE | re.DOTALL):
            return "clean", f"{type(err).__name__}: {str(err)[:160]}"
        return "crash", f"unclear {type(err).__name__}: {str(err)[:160]}"
    except Exception as err:  # noqa: BLE001 - classifying is the point
        if "can't allocate memory" in str(err):
            return "bomb", f"{type(err).__name__}: {str(err)[:160]}"
        return "crash", f"{type(err).__name__}: {str(err)[:160]}"
    if ok is not None and ok(result):
        return "clean", "correct result"
    return "silent_wrong", "no error"


def cli(*argv, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    env.pop("MNE_BIOCODEC_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "mne_biocodec.cli", *argv],
                          capture_output=True, text=True, env=env, timeout=TIME_LIMIT)


def cli_outcome(proc, pattern="."):
    if proc.returncode == 0:
        return "silent_wrong", "exit 0"
    if "Traceback" in proc.stderr:
        return "crash", "traceback: " + proc.stderr.strip().splitlines()[-1][:160]
    if re.search(r"^error: ", proc.stderr, re.MULTILINE) and re.search(pattern, proc.stderr,
                                                                       re.IGNORECASE):
        return "clean", proc.stderr.strip()[:160]
    return "crash", "unclear: " + proc.stderr.strip()[:160]


# -- shared material ------------------------------------------------------------------------
def _api(name):
    """A public function by name, wherever this version of the package keeps it (the probe
    runs against old checkouts too: recording-level functions moved from ``tokenfile`` to
    ``tokens``)."""
    import importlib

    for module in ("mne_biocodec", "mne_biocodec.tokens", "mne_biocodec.tokenfile"):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if found is not None:
            return found
    raise ImportError(f"mne_biocodec has no public {name!r}")


def _codec():
    from mne_biocodec import load_codec

    return load_codec("biocodec-eeg", device="cpu")


def _sample_raw(seconds=20.0, n_chans=8):
    import mne

    from mne_biocodec.data import sample_path

    raw = mne.io.read_raw_edf(sample_path(), preload=True, verbose="error")
    raw.crop(0, seconds, include_tmax=False)
    return raw.pick(raw.ch_names[:n_chans])


def _sample_epochs(n_chans=8):
    import mne

    from mne_biocodec.data import sample_path

    raw = mne.io.read_raw_edf(sample_path(), preload=True, verbose="error")
    raw.pick(raw.ch_names[:n_chans])
    events, _ = mne.events_from_annotations(raw, verbose="error")
    epochs = mne.Epochs(raw, events, tmin=0.0, tmax=2.0, baseline=None, preload=True,
                        verbose="error")
    return epochs[:12]


def _token_file(folder):
    encode_raw, write_tokens = _api("encode_raw"), _api("write_tokens")
    codec = _codec()
    raw = _sample_raw(seconds=6.0, n_chans=3)
    tokens = encode_raw(raw, codec)
    path = Path(folder) / "rec.bctok"
    write_tokens(path, tokens, codec, tokens.ch_names, meas_date=raw.info["meas_date"])
    return path, codec


# -- groups of cases ------------------------------------------------------------------------
def group_channels():
    import numpy as np

    from mne_biocodec import BioCodecTokenizer

    epochs = _sample_epochs()
    tok = BioCodecTokenizer(output="codes").fit(epochs)
    ref = tok.transform(epochs)
    names = epochs.ch_names
    out = {}
    reordered = epochs.copy().reorder_channels(names[::-1])
    out["channels/reordered"] = expect_error(
        lambda: tok.transform(reordered), pattern="channel|order",
        ok=lambda r: np.array_equal(r, ref))
    renamed = epochs.copy().rename_channels({names[0]: "XX1"})
    out["channels/renamed"] = expect_error(lambda: tok.transform(renamed),
                                           pattern=r"XX1|channel")
    bad = epochs.copy()
    bad.info["bads"] = [names[1]]
    out["channels/new_bad_same_count"] = expect_error(
        lambda: tok.transform(bad), pattern=r"bad|channel",
        ok=lambda r: np.array_equal(r, ref))
    return out


def group_estimator_inputs():
    import numpy as np

    from mne_biocodec import BioCodecClassifier, BioCodecTokenizer

    epochs = _sample_epochs(n_chans=4)
    X = epochs.get_data()
    y = epochs.events[:, 2]
    tok = BioCodecTokenizer(sfreq=160.0).fit(X)
    out = {}
    shape_msg = r"3-D|n_epochs, n_chans, n_times"
    out["input/float16"] = expect_error(lambda: tok.transform(X.astype(np.float16)),
                                        ok=lambda r: np.all(np.isfinite(r)))
    out["input/1d"] = expect_error(lambda: tok.transform(X[0, 0]), pattern=shape_msg)
    out["input/2d"] = expect_error(lambda: tok.transform(X[0]), pattern=shape_msg)
    out["input/4d"] = expect_error(lambda: tok.transform(X[None]), pattern=shape_msg)
    out["input/empty_transform"] = expect_error(lambda: tok.transform(X[:0]),
                                                pattern=r"epoch|empty|0")
    out["input/fit_0_epochs"] = expect_error(
        lambda: BioCodecTokenizer(sfreq=160.0).fit(X[:0]), pattern=r"epoch|empty|0")
    out["input/fit_0_channels"] = expect_error(
        lambda: BioCodecTokenizer(sfreq=160.0).fit(X[:, :0]), pattern=r"chan|empty|0")
    out["input/sfreq_true"] = expect_error(
        lambda: BioCodecTokenizer(sfreq=True).fit(X), pattern=r"sfreq")
    out["input/sfreq_tiny"] = expect_error(
        lambda: BioCodecTokenizer(sfreq=1e-3).fit(X), pattern=r"sfreq|memory|large")
    y_nan = y.astype(float)
    y_nan[0] = np.nan
    out["input/nan_labels"] = expect_error(
        lambda: BioCodecClassifier(sfreq=160.0, max_epochs=1, random_state=0).fit(X, y_nan),
        pattern=r"nan|label|y ")
    clf = BioCodecClassifier(sfreq=160.0, max_epochs=1, random_state=0).fit(X, y)
    out["input/predict_2d"] = expect_error(lambda: clf.predict(X[0]), pattern=shape_msg)
    out["input/predict_empty"] = expect_error(lambda: clf.predict(X[:0]),
                                              pattern=r"epoch|empty|0")

    def sklearn_check():
        from sklearn.utils.estimator_checks import check_do_not_raise_errors_in_init_or_set_params

        check_do_not_raise_errors_in_init_or_set_params("clf", BioCodecClassifier())
        return True
    out["sklearn/init_or_set_params"] = expect_error(sklearn_check, types=(),
                                                     ok=lambda r: r is True)
    return out


def group_recenter():
    """Per-group re-centring of BioCodecClassifier: bad groups and metadata."""
    import numpy as np
    import pandas as pd

    from mne_biocodec import BioCodecClassifier

    epochs = _sample_epochs(n_chans=4)
    X, y = epochs.get_data(), epochs.events[:, 2]
    n = len(y)
    groups = np.repeat([0, 1], n // 2)

    def clf(**kwargs):
        return BioCodecClassifier(sfreq=160.0, max_epochs=1, random_state=0, **kwargs)

    out = {}
    with_nan = groups.astype(float)
    with_nan[-1] = np.nan
    out["recenter/nan_group"] = expect_error(lambda: clf().fit(X, y, groups=with_nan),
                                             pattern=r"missing values.*NaN")
    with_none = groups.astype(object)
    with_none[0] = None
    out["recenter/none_group"] = expect_error(lambda: clf().fit(X, y, groups=with_none),
                                              pattern=r"missing values.*None")
    out["recenter/short_groups"] = expect_error(lambda: clf().fit(X, y, groups=groups[:3]),
                                                pattern=r"groups has 3 entries")
    out["recenter/array_input"] = expect_error(lambda: clf(recenter="subject").fit(X, y),
                                               pattern=r"metadata")
    labelled = epochs.copy()
    labelled.metadata = pd.DataFrame({"session": groups})
    out["recenter/missing_column"] = expect_error(
        lambda: clf(recenter="subject").fit(labelled, y), pattern=r"subject")
    out["recenter/not_a_name"] = expect_error(lambda: clf(recenter=3).fit(labelled, y),
                                              pattern=r"recenter")
    fitted = clf().fit(X, y, groups=groups)
    out["recenter/predict_without_groups"] = expect_error(lambda: fitted.predict(X),
                                                          pattern=r"pass groups")
    return out


def group_tokenfile_metadata():
    import json as _json

    import numpy as np
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open

    read_tokens, decode_to_raw = _api("read_tokens"), _api("decode_to_raw")

    # The format's checksum, computed from its documentation, not with the library's code.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from tokenfile_crafting import payload_sha256

    folder = Path(tempfile.mkdtemp())
    path, codec = _token_file(folder)
    with safe_open(str(path), framework="np") as fid:
        header = dict(fid.metadata())
    tensors = load_file(str(path))
    original = _json.loads(header["metadata"])
    max_bytes = 50 * 2 ** 20

    def mutate(name, change, tensor_change=None):
        # A file whose checksum matches its (wrong) content, as a buggy writer would leave:
        # what the field validation, not the checksum, must refuse.
        meta = _json.loads(header["metadata"])
        change(meta)
        text = _json.dumps(meta, sort_keys=True)
        arrays = {k: v.copy() for k, v in tensors.items()}
        if tensor_change:
            tensor_change(arrays)
        new = dict(header, metadata=text)
        if "sha256" in header:
            new["sha256"] = payload_sha256(text, arrays)
        target = folder / f"{name}.bctok"
        save_file(arrays, str(target), metadata=new)
        return target

    def decode(target):
        tokens, meta = read_tokens(target)
        raw = decode_to_raw(tokens, meta, codec)
        data = raw.get_data()
        if data.nbytes > max_bytes or not np.all(np.isfinite(data)):
            raise Outcome("silent_wrong", f"decoded {data.shape} finite={np.isfinite(data).all()}")
        return raw

    def setter(key, value):
        return lambda m: m.__setitem__(key, value)

    cases = {
        "n_times_3e7": setter("n_times", 30_000_000),
        "n_times_0": setter("n_times", 0),
        "n_times_negative": setter("n_times", -5),
        "n_times_fractional": setter("n_times", 960.5),
        "n_times_inconsistent": setter("n_times", original["n_times"] // 3),
        "sfreq_0": setter("sfreq", 0),
        "sfreq_1e-9": setter("sfreq", 1e-9),
        "sfreq_nan": setter("sfreq", float("nan")),
        "codec_null": setter("codec", None),
        "ch_types_unknown": setter("ch_types", ["banana"] * len(original["ch_names"])),
        "meas_date_number": setter("meas_date", 12345),
        "ch_names_duplicated": setter("ch_names", ["A"] * len(original["ch_names"])),
        "bads_unknown": setter("bads", ["nope"]),
    }
    out = {}
    for name, change in cases.items():
        target = mutate(name, change)
        try:
            out[f"tokenfile/meta/{name}"] = expect_error(
                lambda: decode(target), pattern=r"rec|" + re.escape(target.name) + "|damaged")
        except Outcome as o:
            out[f"tokenfile/meta/{name}"] = (o.outcome, o.detail)
    for field, value in (("center", np.nan), ("center", np.inf), ("scale", 0.0),
                         ("scale", -1.0), ("scale", np.nan)):
        def change_tensor(arrays, field=field, value=value):
            arrays[field][0] = value
        target = mutate(f"{field}_{value}", lambda m: None, change_tensor)
        key = f"tokenfile/tensor/{field}={value}"
        try:
            out[key] = expect_error(lambda: decode(target), pattern=r"damaged|checksum|" + field)
        except Outcome as o:
            out[key] = (o.outcome, o.detail)
    proc = cli("decode", str(mutate("cli_n_times", setter("n_times", 30_000_000))), "-o",
               str(folder / "big_raw.fif"))
    size = (folder / "big_raw.fif").stat().st_size if (folder / "big_raw.fif").exists() else 0
    out["cli/decode_n_times_3e7"] = (("silent_wrong", f"wrote {size:,} bytes") if size
                                     else cli_outcome(proc))
    return out


def group_tokenfile_bitflips(n_payload=150, n_header=150):
    import numpy as np

    from mne_biocodec import read_tokens

    folder = Path(tempfile.mkdtemp())
    path, _ = _token_file(folder)
    blob = bytearray(path.read_bytes())
    header_len = 8 + int.from_bytes(blob[:8], "little")
    ref_tokens, ref_meta = read_tokens(path)
    rng = np.random.default_rng(0)
    positions = ([("header", int(p)) for p in rng.integers(8, header_len, n_header)]
                 + [("payload", int(p)) for p in rng.integers(header_len, len(blob), n_payload)])
    out = {}
    for i, (part, pos) in enumerate(positions):
        bit = int(rng.integers(8))
        flipped = bytearray(blob)
        flipped[pos] ^= 1 << bit
        target = folder / "flip.bctok"
        target.write_bytes(bytes(flipped))
        try:
            tokens, meta = read_tokens(target)
        except (ValueError, OSError) as err:
            out[f"bitflip/{part}/{i}"] = ("clean", str(err)[:80])
            continue
        except Exception as err:  # noqa: BLE001
            out[f"bitflip/{part}/{i}"] = ("crash", f"{type(err).__name__}: {str(err)[:80]}")
            continue
        same = (np.array_equal(tokens.codes, ref_tokens.codes)
                and np.array_equal(tokens.center, ref_tokens.center)
                and np.array_equal(tokens.scale, ref_tokens.scale)
                and {k: v for k, v in meta.items()} == ref_meta)
        out[f"bitflip/{part}/{i}"] = ("clean", "identical") if same else ("silent_wrong",
                                                                           "read, differs")
    return out


def group_codec_files():
    import json as _json

    import torch

    from mne_biocodec import load_codec, save_codec
    from mne_biocodec.codec.io import convert_checkpoint

    folder = Path(tempfile.mkdtemp())
    codec = _codec()
    out = {}
    path = save_codec(codec, folder / "ok.safetensors")
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0x10
    tampered = folder / "tampered.safetensors"
    tampered.write_bytes(bytes(blob))
    (folder / "tampered.json").write_text((folder / "ok.json").read_text())
    out["codec/digest_mismatch"] = expect_error(lambda: load_codec(tampered),
                                                pattern=r"sha|digest|checksum")
    nan_codec = _codec()
    with torch.no_grad():
        next(nan_codec.parameters()).view(-1)[0] = float("nan")
    nan_path = save_codec(nan_codec, folder / "nan.safetensors")
    out["codec/nan_weight"] = expect_error(lambda: load_codec(nan_path),
                                           pattern=r"nan|finite")
    for key, value in (("sample_rate", 0), ("n_q", -1)):
        config = dict(codec.config, **{key: value})
        target = folder / f"{key}.safetensors"
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in codec.state_dict().items()}, str(target),
                  metadata={"format": "mne-biocodec", "config": _json.dumps(config)})
        out[f"codec/config_{key}={value}"] = expect_error(lambda: load_codec(target),
                                                          pattern=key)
    wrong = {k: v for k, v in codec.state_dict().items()}
    first = next(iter(wrong))
    wrong[first] = torch.zeros(3, 3)
    torch.save({"model_state_dict": wrong}, folder / "wrong.pt")
    out["codec/convert_wrong_shape"] = expect_error(
        lambda: convert_checkpoint(folder / "wrong.pt", folder / "conv.safetensors"),
        pattern=r"shape")
    return out


def _bomb_file(key, value):
    import json as _json

    from safetensors.torch import save_file
    import torch

    from mne_biocodec.codec import EEG_CONFIG

    folder = Path(tempfile.mkdtemp())
    target = folder / "bomb.safetensors"
    save_file({"x": torch.zeros(1)}, str(target),
              metadata={"format": "mne-biocodec",
                        "config": _json.dumps(dict(EEG_CONFIG, **{key: value}))})
    return target


def group_bomb_n_filters():
    from mne_biocodec import load_codec

    return {"bomb/codec_n_filters_4096": expect_error(
        lambda: load_codec(_bomb_file("n_filters", 4096)), pattern=r"n_filters|parameter")}


def group_bomb_n_q():
    from mne_biocodec import load_codec

    return {"bomb/codec_n_q_100000": expect_error(
        lambda: load_codec(_bomb_file("n_q", 100000)), pattern=r"n_q")}


def group_bomb_sfreq():
    from mne_biocodec import BioCodecTokenizer

    X = _sample_epochs(n_chans=2).get_data()
    return {"bomb/tokenizer_sfreq_1e-3": expect_error(
        lambda: BioCodecTokenizer(sfreq=1e-3).fit_transform(X),
        pattern=r"sfreq|memory|large")}


def group_cache():
    import warnings

    import numpy as np

    from mne_biocodec import BioCodecTokenizer

    X = _sample_epochs(n_chans=2).get_data()[:3]
    out = {}
    folder = Path(tempfile.mkdtemp()) / "cache"
    ref = BioCodecTokenizer(sfreq=160.0, output="codes", cache=False).fit_transform(X)

    def run(cache):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return BioCodecTokenizer(sfreq=160.0, output="codes", cache=cache).fit_transform(X)
    run(folder)
    entries = sorted(p for p in folder.rglob("*") if p.is_file())
    entry = entries[0]
    blob = bytearray(entry.read_bytes())
    blob[-3] ^= 0x01
    entry.write_bytes(bytes(blob))
    out["cache/bit_flip"] = expect_error(lambda: run(folder), ok=lambda r: np.array_equal(r, ref))
    entries[1].write_bytes(b"")
    out["cache/zero_length"] = expect_error(lambda: run(folder),
                                            ok=lambda r: np.array_equal(r, ref))
    out["cache/zero_length_again"] = expect_error(lambda: run(folder),
                                                  ok=lambda r: np.array_equal(r, ref))
    not_dir = Path(tempfile.mkdtemp()) / "file"
    not_dir.write_text("x")
    out["cache/folder_is_a_file"] = expect_error(lambda: run(not_dir),
                                                 ok=lambda r: np.array_equal(r, ref))
    out["cache/folder_under_a_file"] = expect_error(lambda: run(not_dir / "sub"),
                                                    ok=lambda r: np.array_equal(r, ref))
    return out


def group_resume():
    import hashlib

    from mne_biocodec.datasets import load_eegmmidb_raw, make_codec_segments
    from mne_biocodec.training import pretrain_codec

    segments = make_codec_segments(load_eegmmidb_raw(1, [3]), segment_seconds=1.0)[:64]
    kwargs = dict(steps_per_epoch=2, batch_size=8, progress=False, seed=0)
    out = {}

    def digest(folder):
        # content and write time: a deterministic restart rewrites identical bytes
        return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                             p.stat().st_mtime_ns)
                for p in sorted(folder.rglob("epoch-*/*")) if p.is_file()}

    def trained_run():
        run = Path(tempfile.mkdtemp()) / "run"
        pretrain_codec(segments, None, run, max_epochs=2, **kwargs)
        return run

    def check(run, name, damage, pattern, protected="epoch-0002"):
        # ``protected``: an intact epoch that a correct resume starts from and never rewrites.
        # The second call uses another seed, so a restart from scratch shows in epoch 1's loss.
        first_loss = json.loads((run / "history.json").read_text())[0]["train_loss"]
        damage(run)
        before = digest(run)
        try:
            net = pretrain_codec(segments, None, run, max_epochs=3,
                                 **dict(kwargs, seed=1))
        except (ValueError, RuntimeError, FileNotFoundError) as err:
            kept = digest(run) == before
            out[name] = (("clean", str(err)[:120]) if kept and re.search(pattern, str(err), re.I)
                         else ("data_loss" if not kept else "crash", str(err)[:120]))
            return
        except Exception as err:  # noqa: BLE001
            out[name] = ("crash", f"{type(err).__name__}: {str(err)[:120]}")
            return
        after = digest(run)
        lost = [k for k in before if protected and protected in k and after.get(k) != before[k]]
        restarted = len(net.history) != 3 or net.history[0, "train_loss"] != first_loss
        if lost or restarted:
            out[name] = ("data_loss", f"rewrote {lost}" if lost else "restarted from epoch 1")
        else:
            out[name] = ("clean", "resumed")

    ckpt = "checkpoints"
    check(trained_run(), "resume/latest_missing",
          lambda r: (r / ckpt / "LATEST").unlink(), r"checkpoint")
    check(trained_run(), "resume/latest_points_to_missing",
          lambda r: (r / ckpt / "LATEST").write_text("epoch-0009"), r"checkpoint")

    def truncate_module(run):
        files = sorted((run / ckpt).rglob("module.safetensors"))
        files[-1].write_bytes(files[-1].read_bytes()[:100])
    check(trained_run(), "resume/latest_module_truncated", truncate_module, r"checkpoint",
          protected=None)

    def truncate_history(run):
        files = sorted((run / ckpt).rglob("history.json"))
        files[-1].write_bytes(files[-1].read_bytes()[:10])
    check(trained_run(), "resume/history_truncated", truncate_history, r"history",
          protected=None)
    return out


def group_cli_errors():
    folder = Path(tempfile.mkdtemp())
    out = {}
    garbage = folder / "garbage.bctok"
    garbage.write_bytes(b"\x00" * 100)
    out["cli/decode_garbage"] = cli_outcome(cli("decode", str(garbage), "-o",
                                                str(folder / "x_raw.fif")))
    out["cli/decode_missing"] = cli_outcome(cli("decode", str(folder / "none.bctok"), "-o",
                                                str(folder / "x_raw.fif")), r"exist")
    out["cli/encode_missing"] = cli_outcome(cli("encode", str(folder / "none.edf")), r"exist")
    out["cli/encode_bad_codec"] = cli_outcome(cli("encode", str(folder / "none.edf"),
                                                  "--codec", str(garbage)))
    bad_recipe = folder / "recipe.json"
    bad_recipe.write_text("{not json")
    out["cli/pretrain_bad_json"] = cli_outcome(cli("pretrain", str(bad_recipe), "--out",
                                                   str(folder / "run")))
    return out


GROUPS = {name[len("group_"):]: fn for name, fn in globals().items()
          if name.startswith("group_")}


# -- driver ---------------------------------------------------------------------------------
def _run_group_in_child(name, memory_limit):
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    try:
        result = GROUPS[name]()
    except MemoryError:
        result = {f"group/{name}": ("bomb", "MemoryError")}
    except Exception as err:  # noqa: BLE001
        result = {f"group/{name}": ("crash", f"{type(err).__name__}: {err}"[:200] + "\n"
                                    + traceback.format_exc()[-600:])}
    print("PROBE-RESULT " + json.dumps(result))


def run_group(name, memory_limit=MEMORY_LIMIT, time_limit=TIME_LIMIT):
    t0 = time.time()
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", name,
                               "--memory", str(memory_limit)],
                              capture_output=True, text=True, timeout=time_limit)
    except subprocess.TimeoutExpired:
        return {f"{name}": ("bomb", f"over {time_limit} s")}, time.time() - t0
    for line in proc.stdout.splitlines():
        if line.startswith("PROBE-RESULT "):
            return json.loads(line[len("PROBE-RESULT "):]), time.time() - t0
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
    kind = "bomb" if proc.returncode in (-9, 137) or "MemoryError" in proc.stderr else "crash"
    return {f"{name}": (kind, f"exit {proc.returncode}: {tail[0][:160]}")}, time.time() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="JSON file for the per-case outcomes")
    parser.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory", type=int, default=MEMORY_LIMIT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run_group_in_child(args.child, args.memory)
        return 0
    import mne_biocodec

    cases, seconds = {}, {}
    for name in args.groups:
        result, seconds[name] = run_group(name)
        cases.update(result)
        counts = {o: sum(v[0] == o for v in result.values()) for o in OUTCOMES}
        print(f"{name:<22} {seconds[name]:6.1f} s  {counts}", flush=True)
    totals = {o: sum(v[0] == o for v in cases.values()) for o in OUTCOMES}
    print(f"{len(cases)} cases: {totals}")
    for key, (outcome, detail) in sorted(cases.items()):
        if outcome != "clean":
            print(f"  {outcome:<12} {key}: {detail.splitlines()[0] if detail else ''}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(
            {"mne_biocodec": str(Path(mne_biocodec.__file__).parent),
             "version": mne_biocodec.__version__, "totals": totals, "n_cases": len(cases),
             "seconds": seconds, "cases": {k: list(v) for k, v in sorted(cases.items())}},
            indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
