"""Copy a trained codec into ``mne_biocodec/pretrained`` and record its SHA-256.

Usage::

    python recipes/ship_codec.py runs/biocodec-eeg/codec.safetensors --name biocodec-eeg-v2 \
        --summary summary.json --alias biocodec-eeg

``--alias`` points more registry names at the same file: the default name at a new version.
``recipes/candidate_checkout.sh`` uses it to measure a candidate as the default in a scratch
checkout. A name already in the registry is refused unless ``--replace`` is given (its old
weights stay in git history; token files and caches key on the weights' digest, so theirs stay
tied to the old weights). ``--extra`` records provenance (e.g. the run and step of a training
checkpoint, whose weights file carries none) in the weights' metadata.
"""

import argparse
import json
from pathlib import Path

PRETRAINED = Path(__file__).resolve().parents[1] / "mne_biocodec" / "pretrained"


def main(argv=None):
    from mne_biocodec.codec import atomic_write, file_sha256, load_codec, save_codec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("codec")
    parser.add_argument("--name", required=True)
    parser.add_argument("--summary", default=None,
                        help="JSON file merged into the registry entry (training figures)")
    parser.add_argument("--alias", nargs="*", default=[],
                        help="more registry names for the same file")
    parser.add_argument("--extra", default=None,
                        help="JSON file of provenance stored in the weights' metadata")
    parser.add_argument("--replace", action="store_true",
                        help="allow replacing the weights of a name already shipped")
    args = parser.parse_args(argv)
    registry_path = PRETRAINED / "registry.json"
    registry = json.loads(registry_path.read_text()) if registry_path.is_file() else {}
    if args.name in registry and not args.replace:
        parser.error(f"{args.name!r} is already shipped ({registry[args.name]['file']}); "
                     "pass --replace to ship other weights under that name, or pick a new one.")
    codec = load_codec(args.codec, device="cpu")
    codec.config["name"] = args.name
    extra = (json.loads(Path(args.extra).read_text()) if args.extra else _extra(args.codec))
    target = save_codec(codec, PRETRAINED / f"{args.name}.safetensors", extra_metadata=extra)
    entry = {"file": target.name, "sha256": file_sha256(target),
             "modality": codec.config["modality"],
             "sample_rate": codec.config["sample_rate"]}
    if args.summary:
        entry.update(json.loads(Path(args.summary).read_text()))
    registry[args.name] = entry
    for alias in args.alias:
        registry[alias] = dict(entry)
    with atomic_write(registry_path) as tmp:
        tmp.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")
    print(json.dumps(entry, indent=2))


def _extra(source):
    from safetensors import safe_open

    from mne_biocodec import load_codec

    path = load_codec(source, device="cpu").weights_file
    with safe_open(str(path), framework="pt") as fid:
        meta = fid.metadata() or {}
    return json.loads(meta["extra"]) if "extra" in meta else None


if __name__ == "__main__":
    main()
