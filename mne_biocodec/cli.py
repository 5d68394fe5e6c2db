"""The ``mne-biocodec`` command line: encode, decode, info, demo, pretrain and
pretrain-token-model.

Examples
--------
::

    mne-biocodec demo                                   # the sample recording, end to end
    mne-biocodec encode rec.edf -o rec.bctok            # any file mne.io.read_raw reads
    mne-biocodec decode rec.bctok -o rec_decoded_raw.fif
    mne-biocodec decode rec.bctok -o rec_decoded.edf
    mne-biocodec info                                   # versions, device, shipped codecs
    mne-biocodec pretrain recipes/biocodec-eeg.json --out runs/biocodec-eeg
    mne-biocodec pretrain-token-model recipes/token-model.json --out runs/token-model-eeg
    mne-biocodec benchmark --dataset PhysionetMI --subjects 1 2 --out results  # MOABB, offline
    mne-biocodec encode-corpus recordings/ -o tokens/     # a whole corpus, on Dask

Every error prints one ``error: <message>`` line on stderr, never a traceback: errors the
user can fix (missing, unreadable or damaged files, channel types the codec does not take,
tokens decoded with another codec, a full disk) exit with status 2, unexpected ones (bugs)
print their type and exit with status 1. Set ``MNE_BIOCODEC_DEBUG=1`` to see the traceback
instead. Warnings print as ``warning: <message>``.
"""

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

from .codec.io import atomic_write

__all__ = ["main", "build_parser"]

_DEFAULT_CODEC = "biocodec-eeg"
_EXIT_USER_ERROR = 2
_EXIT_UNEXPECTED = 1


class CLIError(Exception):
    """An error the user caused and can fix; printed without a traceback."""


# Errors whose message says what to fix: printed as they are. OSError covers missing and
# unwritable files and a full disk.
_USER_ERRORS = (CLIError, ValueError, OSError)


# -- helpers --------------------------------------------------------------------------------
def _configure_threads(threads):
    import torch

    threads = threads or os.environ.get("MNE_BIOCODEC_THREADS")
    if threads:
        try:
            torch.set_num_threads(int(threads))
        except ValueError:
            raise CLIError(f"threads must be a positive integer; got {threads!r}.") from None


def _progress_enabled():
    return sys.stderr.isatty()


def _load_codec(source, device=None):
    """The codec of a shipped name, a file or a folder (``codec.weights_file`` says which
    file)."""
    from .codec import load_codec

    try:
        return load_codec(source, device=device)
    except FileNotFoundError as err:
        raise CLIError(str(err)) from None


def _read_recording(path, preload=True):
    import mne

    path = Path(path)
    if not path.exists():
        raise CLIError(f"recording {str(path)!r} does not exist.")
    if path.is_dir() and path.suffix.lower() not in (".ds", ".mff"):
        raise CLIError(f"recording {str(path)!r} is a folder; pass a recording file.")
    try:
        return mne.io.read_raw(path, preload=preload, verbose="error")
    except Exception as err:  # readers raise many types for foreign content
        detail = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise CLIError(
            f"could not read {path} as a recording ({type(err).__name__}"
            f"{': ' + detail if detail else ''}). "
            "Pass a file mne.io.read_raw reads (.fif, .edf, .bdf, .gdf, .vhdr, .set, ...)."
        ) from None


def _summary(tokens, metadata, path):
    """One-line summary of a token file: channels, duration, frames, size, compression."""
    n_chans, n_q, n_frames = (int(v) for v in tokens.codes.shape[1:])
    seconds = tokens.n_times / tokens.sfreq
    size = Path(path).stat().st_size
    raw16, raw32 = n_chans * tokens.n_times * 2, n_chans * tokens.n_times * 4
    return (f"{n_chans} channels, {seconds:.1f} s at {tokens.sfreq:g} Hz -> {n_q} x {n_frames} "
            f"frames per channel (codec {metadata['codec']['name']}, "
            f"{tokens.codec_sfreq:g} Hz); {path}: {size:,} bytes, {raw16 / size:.2f}x smaller "
            f"than 16-bit raw, {raw32 / size:.2f}x smaller than float32")


# -- encode / decode ------------------------------------------------------------------------
def _cmd_encode(args):
    from .tokens import TOKEN_SUFFIX, encode_to_file

    # Not preloaded: long recordings are then read chunk by chunk (--chunk-seconds).
    raw = _read_recording(args.recording, preload=False)
    codec = _load_codec(args.codec, device=args.device)
    out = Path(args.output) if args.output else Path(Path(args.recording).name.split(".")[0]
                                                     + TOKEN_SUFFIX)
    tokens, metadata = encode_to_file(
        raw, out, codec, n_q=args.n_q, picks=args.picks, device=args.device,
        progress=_progress_enabled(), chunk_seconds=args.chunk_seconds,
        extra={"recording": Path(args.recording).name})
    dropped = len(raw.ch_names) - len(tokens.ch_names)
    n_annotations = len(metadata["annotations"]["onset"])
    print(f"encoded {Path(args.recording).name}: {_summary(tokens, metadata, out)}"
          + (f"; {n_annotations} annotations kept" if n_annotations else "")
          + (f"; {dropped} channels {'not picked' if args.picks else 'of other types left out'}"
             if dropped else ""))
    return 0


def _chunk_seconds_arg(text):
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or seconds >= 0; got {text!r}")
    return value


def _output_format(path, fmt):
    name = Path(path).name.lower()
    inferred = "edf" if name.endswith(".edf") else (
        "fif" if name.endswith((".fif", ".fif.gz")) else None)
    if fmt is None and inferred is None:
        raise CLIError(f"cannot tell the output format from {Path(path).name!r}; name it "
                       "*.fif / *.edf or pass --format fif|edf.")
    if fmt is not None and inferred is not None and fmt != inferred:
        raise CLIError(f"--format {fmt} does not match the output name {Path(path).name!r}.")
    if fmt == "fif" and inferred is None:
        raise CLIError(f"FIF file names must end in .fif or .fif.gz; got "
                       f"{Path(path).name!r}.")
    return fmt or inferred


def _default_decode_codec(metadata):
    from .pretrained import list_pretrained

    recorded = metadata.get("codec", {})
    source = recorded.get("source")
    if source and (source in list_pretrained() or Path(source).exists()):
        return source
    if recorded.get("name") in list_pretrained():
        return recorded["name"]
    raise CLIError(
        f"the tokens were made with codec {recorded.get('name')!r}"
        + (f" from {source!r}" if source else "")
        + ", which is neither shipped nor found; pass it with --codec NAME_OR_PATH."
    )


def _write_raw(raw, out, fmt):
    import mne

    with atomic_write(out) as tmp:
        if fmt == "fif":
            raw.save(tmp, overwrite=True, verbose="error")
        else:
            mne.export.export_raw(tmp, raw, fmt="edf", overwrite=True, verbose="error")


def _cmd_decode(args):
    from .tokens import decode_to_raw, read_tokens

    if not Path(args.tokens).is_file():
        raise CLIError(f"token file {args.tokens!r} does not exist.")
    out = Path(args.output) if args.output else Path(
        Path(args.tokens).name.split(".")[0] + "_decoded_raw.fif")
    fmt = _output_format(out, args.format)
    tokens, metadata = read_tokens(args.tokens)
    codec = _load_codec(args.codec or _default_decode_codec(metadata), device=args.device)
    raw = decode_to_raw(tokens, metadata, codec, allow_mismatch=args.allow_mismatch,
                        progress=_progress_enabled())
    _write_raw(raw, out, fmt)
    print(f"decoded {Path(args.tokens).name}: {len(raw.ch_names)} channels, "
          f"{raw.n_times / raw.info['sfreq']:.1f} s at {raw.info['sfreq']:g} Hz -> {out} "
          f"({fmt.upper()}, {Path(out).stat().st_size:,} bytes)")
    return 0


# -- info -----------------------------------------------------------------------------------
_DISTRIBUTIONS = ("numpy", "scipy", "torch", "mne", "scikit-learn", "skorch", "moabb",
                  "pyriemann", "safetensors", "edfio", "matplotlib", "tqdm")


def _version(dist):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def sys_info(codec=None, file=None):
    """Print versions, device, threads and shipped codecs (paste it into bug reports).

    Parameters
    ----------
    codec : str | None
        Also describe this codec (shipped name, file or folder).
    file : file-like | None
        Where to print (``sys.stdout`` when None).
    """
    import torch

    from ._version import __version__
    from .codec.io import file_sha256
    from .pretrained import list_pretrained, pretrained_info, resolve_pretrained

    file = file or sys.stdout

    def line(key, value):
        print(f"{key + ':':<22}{value}", file=file)

    line("mne-biocodec", __version__)
    line("python", f"{platform.python_version()} ({sys.executable})")
    line("platform", platform.platform())
    for dist in _DISTRIBUTIONS:
        line(dist, _version(dist))
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} GPU)"
    else:
        device = "cpu (CUDA not available)"
    line("device", device)
    line("threads", f"torch {torch.get_num_threads()}, cpu_count {os.cpu_count()}, "
                    f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
                    f"MNE_BIOCODEC_THREADS={os.environ.get('MNE_BIOCODEC_THREADS', 'unset')}")
    names = list_pretrained()
    line("shipped codecs", len(names) if names else "none")
    for name in names:
        info = pretrained_info(name)
        path, expected = resolve_pretrained(name)
        if not path.is_file():
            state = "MISSING FILE"
        else:
            state = "ok" if file_sha256(path) == expected else "CORRUPT (sha256 differs)"
        print(f"  {name:<20}{info.get('modality', '?')} {info.get('sample_rate', '?')} Hz  "
              f"sha256 {expected}  {state}", file=file)
    models = list_pretrained(kind="token-model")
    line("shipped token models", len(models) if models else "none")
    for name in models:
        info = pretrained_info(name)
        path, expected = resolve_pretrained(name, kind="token-model")
        state = ("MISSING FILE" if not path.is_file() else
                 "ok" if file_sha256(path) == expected else "CORRUPT (sha256 differs)")
        print(f"  {name:<20}{info.get('modality', '?')} over {info.get('codec', '?')}  "
              f"sha256 {expected}  {state}", file=file)
    if codec is not None:
        from .tokens import codec_sha256

        model = _load_codec(codec, device="cpu")
        weights_file = model.weights_file
        cfg = model.config
        bits = model.n_q * (model.codebook_size - 1).bit_length() * model.frame_rate
        line("codec", f"{codec} ({weights_file})")
        line("  name / modality", f"{cfg.get('name')} / {model.modality}")
        line("  rate / hop", f"{model.sample_rate:g} Hz / {model.hop_length} samples "
                             f"({model.frame_rate:.2f} frames/s)")
        line("  codebooks", f"{model.n_q} x {model.codebook_size} codes "
                            f"({bits:.0f} bit/s per channel)")
        line("  file sha256", file_sha256(weights_file))
        line("  weights sha256", codec_sha256(model))


def _cmd_info(args):
    sys_info(codec=args.codec)
    return 0


# -- demo -----------------------------------------------------------------------------------
def _plot_channels(original, decoded, sfreq, ch_names, path, n_q, bits_per_sample, title=""):
    """Original vs decoded (``(n_chans, n_times)`` in µV) of a few channels over 5 s from
    10 s in, written as PNG; see :func:`mne_biocodec.viz.plot_reconstruction`."""
    import matplotlib.pyplot as plt

    from .analysis import Reconstruction
    from .viz import plot_reconstruction

    reconstruction = Reconstruction(original, {n_q: decoded}, sfreq, list(ch_names),
                                    {n_q: bits_per_sample})
    fig = plot_reconstruction(reconstruction, start=10.0, scaling=1.0, title=title)
    try:
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)
    return Path(path)


def _stage(text):
    """One line per stage on stderr, flushed: shows what a long command is doing also when
    its output goes to a file or a pipe, where there are no progress bars."""
    print(f"[mne-biocodec] {text}", file=sys.stderr, flush=True)


def _cmd_demo(args):
    import numpy as np

    from .channels import codec_picks
    from .codec.metrics import reconstruction_metrics
    from .data import sample_path
    from .tokens import decode_to_raw, encode_to_file, read_tokens

    t0 = time.time()
    if args.seconds is not None and not args.seconds > 0:
        raise CLIError(f"--seconds must be positive; got {args.seconds}.")
    out_dir = Path(args.out).absolute()
    print(f"mne-biocodec demo: writing to {out_dir}", flush=True)
    sample = sample_path()
    _stage(f"reading {sample.name}")
    raw = _read_recording(sample)
    if args.seconds:
        raw.crop(0, min(args.seconds, raw.times[-1]), include_tmax=False)
    codec = _load_codec(args.codec, device=args.device)
    stem = sample.stem
    token_path = out_dir / f"{stem}.bctok"
    progress = _progress_enabled()
    # The channels encode_to_file picks: the codec's signal family, bad ones kept.
    n_picked = len(codec_picks(raw.info, codec.modality, exclude=()))
    name = codec.config.get("name")

    _stage(f"encoding {n_picked} {codec.modality.upper()} channels with codec {name} and writing "
           f"the token file {token_path}")
    encode_to_file(raw, token_path, codec, device=args.device, progress=progress,
                   extra={"recording": sample.name})
    _stage(f"reading {token_path.name} back and decoding it")
    tokens, metadata = read_tokens(token_path)
    decoded = decode_to_raw(tokens, metadata, codec, progress=progress)

    _stage("computing the fidelity metrics")
    original = raw.get_data(picks=tokens.ch_names) * 1e6
    rebuilt = decoded.get_data() * 1e6
    metrics = reconstruction_metrics(original, rebuilt)
    n_chans, n_q, n_frames = tokens.codes.shape[1:]
    sfreq, seconds = raw.info["sfreq"], raw.n_times / raw.info["sfreq"]
    bits = n_q * (codec.codebook_size - 1).bit_length() * codec.frame_rate
    size = token_path.stat().st_size
    plot_file = out_dir / f"{stem}_decoded.png"
    _stage(f"plotting original vs decoded to {plot_file}")
    plot_path = _plot_channels(original, rebuilt, sfreq, tokens.ch_names, plot_file, n_q,
                               bits / codec.sample_rate,
                               title=f"{sample.name}: original vs decoded by {name} "
                                     f"({bits:.0f} bit/s per channel)")

    print(f"{sample.name} (eegmmidb subject 4, held out from codec training): {n_chans} "
          f"EEG channels, {seconds:.1f} s at {sfreq:g} Hz, "
          f"{len(decoded.annotations)} annotations (kept in the token file)")
    print(f"codec {name}{'' if args.codec == name else f' ({args.codec})'}: {n_q} codebooks x "
          f"{codec.codebook_size} codes at {codec.frame_rate:.2f} frames/s = {bits:.0f} bit/s "
          f"per channel (16-bit samples at {sfreq:g} Hz: {16 * sfreq:.0f} bit/s)")
    print(f"fidelity over {n_chans} channels (at {sfreq:g} Hz, full length):")
    print(f"  {'':<12}{'mean':>9}{'median':>9}")
    for key, label in (("pearson_r", "Pearson r"), ("si_sdr", "SI-SDR dB"),
                       ("prd", "PRD %"), ("nmse", "NMSE")):
        values = metrics[key]
        print(f"  {label:<12}{np.mean(values):>9.3f}{np.median(values):>9.3f}")
    print(f"token file: {size:,} bytes, {n_chans * raw.n_times * 2 / size:.2f}x smaller than "
          f"16-bit raw, {n_chans * raw.n_times * 4 / size:.2f}x smaller than float32")
    print(f"done in {time.time() - t0:.1f} s; files written:")
    print(f"  {token_path}  (token file; decode it with `mne-biocodec decode {token_path}`)")
    print(f"  {plot_path}  (plot)")
    return 0


# -- encode-corpus --------------------------------------------------------------------------
def _cmd_encode_corpus(args):
    from .corpus import encode_corpus

    summary = encode_corpus(args.source, args.output, codec=args.codec,
                            scheduler=args.scheduler, n_workers=args.n_workers, n_q=args.n_q,
                            picks=args.picks, subjects=args.subjects, retries=args.retries,
                            device=args.device, progress=_progress_enabled())
    print(summary)
    return 1 if summary.failed else 0


# -- pretrain -------------------------------------------------------------------------------
def _cmd_pretrain(args):
    from .training.recipe import train_from_recipe

    train_from_recipe(args.recipe, out=args.out, max_epochs=args.max_epochs)
    return 0


# -- pretrain-token-model -------------------------------------------------------------------
def _cmd_pretrain_token_model(args):
    from .tokenmodel import pretrain_from_recipe

    result = pretrain_from_recipe(args.recipe, out=args.out, max_epochs=args.max_epochs,
                                  device=args.device, progress=True)
    print(f"token model: {len(result.history)} epochs -> "
          f"{result.output_dir / 'token-model.safetensors'}")
    return 0


# -- benchmark ------------------------------------------------------------------------------
def _cmd_benchmark(args):
    from .moabb import run_benchmark, run_cross_subject, run_low_resource

    common = dict(dataset=args.dataset, paradigm=args.paradigm, subjects=args.subjects,
                  output_dir=args.out, cache_dir=args.cache_dir, n_classes=args.n_classes,
                  classifier_params=({"max_epochs": args.max_epochs}
                                     if args.max_epochs else None))
    if args.evaluation != "none":
        run_benchmark(evaluation=args.evaluation, pipelines=args.pipelines,
                      n_splits=args.n_splits, **common)
    if args.cross_subject:
        run_cross_subject(pipelines=args.pipelines, n_splits=args.n_splits or 5, **common)
    if args.low_resource:
        from .moabb.protocols import LOW_RESOURCE_PIPELINES

        run_low_resource(pipelines=args.pipelines or LOW_RESOURCE_PIPELINES,
                         n_per_class=args.n_per_class, n_perms=args.n_perms, **common)
    return 0


# -- parser ---------------------------------------------------------------------------------
def _add_encoding_options(parser):
    """The codec, bitrate, channel and device options every encoding command takes."""
    parser.add_argument("--codec", default=_DEFAULT_CODEC,
                        help=f"shipped codec name or .safetensors path (default: "
                             f"{_DEFAULT_CODEC})")
    parser.add_argument("--n-q", type=int, default=None, dest="n_q",
                        help="codebooks to keep (default: all)")
    parser.add_argument("--picks", nargs="+", default=None,
                        help="channel names or types (default: every channel of the codec's "
                             "modality)")
    parser.add_argument("--device", default=None,
                        help="cpu or cuda (default: cuda if present)")


def _command(sub, func, name, **kwargs):
    """A subcommand ``name`` that runs ``func(args)``."""
    parser = sub.add_parser(name, **kwargs)
    parser.set_defaults(func=func)
    return parser


def build_parser():
    """The argument parser of ``mne-biocodec`` (its subcommands and options)."""
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="mne-biocodec",
        description="Neural-codec tokens for EEG and EMG recordings.",
        epilog="Set MNE_BIOCODEC_DEBUG=1 to see tracebacks of errors.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: $MNE_BIOCODEC_THREADS or torch's).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    enc = _command(sub, _cmd_encode, "encode",
                   help="tokenise a recording into a token file (.bctok)",
                   description="Tokenise any recording mne.io.read_raw reads.")
    enc.add_argument("recording", help="recording file (.fif, .edf, .bdf, .vhdr, ...)")
    enc.add_argument("-o", "--output", default=None,
                     help="token file to write (default: <recording name>.bctok here)")
    _add_encoding_options(enc)
    enc.add_argument("--chunk-seconds", type=_chunk_seconds_arg, default="auto",
                     help="encode chunk by chunk in bounded memory, SECONDS per chunk; 0 "
                          "encodes the whole recording at once (default: auto, 60-s chunks "
                          "for recordings longer than 10 min)")

    dec = _command(sub, _cmd_decode, "decode",
                   help="decode a token file into a FIF or EDF recording",
                   description="Decode a token file into a recording.")
    dec.add_argument("tokens", help="token file (.bctok)")
    dec.add_argument("-o", "--output", default=None,
                     help="recording to write, *.fif or *.edf (default: "
                          "<tokens name>_decoded_raw.fif here)")
    dec.add_argument("--format", choices=("fif", "edf"), default=None,
                     help="output format (default: from the output name)")
    dec.add_argument("--codec", default=None,
                     help="codec name or path (default: the one recorded in the file)")
    dec.add_argument("--allow-mismatch", action="store_true",
                     help="decode even with a codec other than the one that encoded")
    dec.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")

    inf = _command(sub, _cmd_info, "info",
                   help="versions, device and shipped codecs (for bug reports)")
    inf.add_argument("--codec", default=None, help="also describe this codec")

    demo = _command(sub, _cmd_demo, "demo",
                    help="tokenise and decode the shipped sample recording",
                    description="Tokenise the shipped held-out EEG recording S004R04.edf, "
                                "decode it, print the fidelity, write the token file and a "
                                "plot.")
    demo.add_argument("--codec", default=_DEFAULT_CODEC,
                      help=f"codec name or path (default: {_DEFAULT_CODEC})")
    demo.add_argument("--out", default="biocodec-demo",
                      help="output folder for the token file and the plot (default: "
                           "./biocodec-demo, ignored by git in a checkout)")
    demo.add_argument("--seconds", type=float, default=None,
                      help="use only the first SECONDS of the recording (default: all)")
    demo.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")

    pre = _command(sub, _cmd_pretrain, "pretrain",
                   help="train a codec from a recipe (resumable)",
                   description="Train a codec from a recipe JSON; rerun to resume.")
    pre.add_argument("recipe", help="recipe JSON, e.g. recipes/biocodec-eeg.json")
    pre.add_argument("--out", default=None, help="output folder (default: runs/<name>)")
    pre.add_argument("--max-epochs", type=int, default=None,
                     help="override the recipe's max_epochs")
    # Kept so that older launch scripts still run: one training loop serves both cases.
    pre.add_argument("--distributed", action="store_true",
                     help="does nothing (kept for older scripts): training runs "
                          "data-parallel by itself when launched by torchrun "
                          "(--nproc_per_node N -m mne_biocodec.cli pretrain RECIPE), the "
                          "recipe's batch_size being the global batch")

    tok = _command(sub, _cmd_pretrain_token_model, "pretrain-token-model",
                   help="pretrain a token model from a recipe (resumable)",
                   description="Tokenise the codec-training split with the recipe's codec and "
                               "pretrain a token model by masked code modelling; rerun with "
                               "the same --out to resume.")
    tok.add_argument("recipe", help="recipe JSON, e.g. recipes/token-model.json")
    tok.add_argument("--out", default=None, help="run folder (default: runs/<name>)")
    tok.add_argument("--max-epochs", type=int, default=None, dest="max_epochs",
                     help="override the recipe's max_epochs")
    tok.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")

    cor = _command(
        sub, _cmd_encode_corpus, "encode-corpus",
        help="tokenise a folder, BIDS root or MOABB dataset on Dask",
        description="Tokenise every recording of a folder (recursively), a BIDS root or a "
                    "MOABB dataset into a store of token files, one Dask task per "
                    "recording; rerun to resume. Exits with status 1 when some recordings "
                    "failed (listed with their errors; see STORE/manifest.json).")
    cor.add_argument("source", help="folder of recordings, BIDS root or MOABB dataset name "
                                    "(e.g. Kalunga2016)")
    cor.add_argument("-o", "--output", required=True, help="store folder for the token files")
    _add_encoding_options(cor)
    cor.add_argument("--scheduler", default=None,
                     help="Dask scheduler address (default: a local cluster)")
    cor.add_argument("--n-workers", type=int, default=None, dest="n_workers",
                     help="workers of the local cluster (default: number of CPUs)")
    cor.add_argument("--subjects", nargs="+", default=None,
                     help="BIDS or MOABB subjects (default: all)")
    cor.add_argument("--retries", type=int, default=1,
                     help="extra attempts of a failed recording (default: 1)")

    ben = _command(
        sub, _cmd_benchmark, "benchmark",
        help="offline MOABB decoding benchmark (BioCodec vs classic pipelines)",
        description="Evaluate the BioCodec pipelines and MOABB's classic ones (CSP+LDA, "
                    "TS+LR, SSVEP_TS+LR, SSVEP_CCA) with a MOABB evaluation, offline, and "
                    "write per-subject scores (CSV), a JSON, a markdown table and a plot. "
                    "--cross-subject adds the BioCodec paper's subject folds, --low-resource "
                    "a learning curve in training trials per class.")
    ben.add_argument("--dataset", default="PhysionetMI",
                     help="MOABB dataset class name (default: PhysionetMI, read offline)")
    ben.add_argument("--paradigm", default="LeftRightImagery",
                     help="MOABB paradigm class name (default: LeftRightImagery)")
    ben.add_argument("--subjects", nargs="+", type=int, default=None,
                     help="subjects (default: all available)")
    ben.add_argument("--evaluation", default="within-session",
                     choices=("within-session", "cross-session", "cross-subject", "none"),
                     help="MOABB evaluation, or none to run only the options below "
                          "(default: within-session)")
    ben.add_argument("--pipelines", nargs="+", default=None,
                     help="pipeline names (default: all for the paradigm)")
    ben.add_argument("--n-classes", type=int, default=None, dest="n_classes",
                     help="classes (the dataset's first N events)")
    ben.add_argument("--n-splits", type=int, default=None, dest="n_splits",
                     help="folds (default: MOABB's; 5 subject folds with --cross-subject)")
    ben.add_argument("--max-epochs", type=int, default=None, dest="max_epochs",
                     help="training epochs of BioCodecClassifier (default: 20)")
    ben.add_argument("--cross-subject", action="store_true", dest="cross_subject",
                     help="also run subject folds scored by balanced accuracy, Cohen's kappa "
                          "and weighted F1")
    ben.add_argument("--low-resource", action="store_true", dest="low_resource",
                     help="also run the within-subject learning curve")
    ben.add_argument("--n-per-class", nargs="+", type=int, default=(5, 10, 15),
                     dest="n_per_class",
                     help="training trials per class of the learning curve (default: 5 10 15)")
    ben.add_argument("--n-perms", type=int, default=10, dest="n_perms",
                     help="repetitions of the learning curve per subject (default: 10)")
    ben.add_argument("--cache-dir", default=None, dest="cache_dir",
                     help="token cache folder of the BioCodec estimators")
    ben.add_argument("--out", default="benchmark-results",
                     help="output folder (default: ./benchmark-results)")
    return parser


def _debug():
    return os.environ.get("MNE_BIOCODEC_DEBUG", "") not in ("", "0")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one ``warning: ...`` line, like errors (no source line of the package)."""
    print(f"warning: {message}", file=sys.stderr)


def main(argv=None):
    """Run the ``mne-biocodec`` command line.

    Parameters
    ----------
    argv : list of str | None
        Arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    status : int
        0 on success (``encode-corpus``: 1 when some recordings failed). Errors exit after
        printing one ``error: <message>`` line on stderr, never a traceback (unless
        ``MNE_BIOCODEC_DEBUG=1``): status 2 for errors the user can fix (missing,
        unreadable or damaged files, bad arguments, mismatched codecs, full disk),
        1 for unexpected ones, 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            if not _debug():
                warnings.showwarning = _show_warning
            _configure_threads(args.threads)
            return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except _USER_ERRORS as err:
        if _debug():
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(_EXIT_USER_ERROR)
    except MemoryError:
        if _debug():
            raise
        print("error: out of memory. Process a shorter recording or fewer channels (--picks), "
              "or use a machine with more memory.", file=sys.stderr)
        sys.exit(_EXIT_USER_ERROR)
    except Exception as err:  # anything else is a bug: one line, not a traceback
        if _debug():
            raise
        print(f"error: {type(err).__name__}: {err}\n"
              "This is unexpected: rerun with MNE_BIOCODEC_DEBUG=1 to see the traceback and "
              "report it with the output of `mne-biocodec info`.", file=sys.stderr)
        sys.exit(_EXIT_UNEXPECTED)


if __name__ == "__main__":
    sys.exit(main())
