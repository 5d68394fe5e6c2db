"""Copy a trained codec into ``mne_biocodec/pretrained`` and record its SHA-256.

Usage::

    python recipes/ship_codec.py runs/biocodec-eeg/codec.safetensors --name biocodec-eeg-v2 \
        --summary summary.json --alias biocodec-eeg

``--alias`` points more registry names at the same file: the default name at a new version.
``recipes/candidate_checkout.sh`` uses it to measure a candidate as the default in a scratch
checkout.
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
    args = parser.parse_args(argv)
    codec = load_codec(args.codec, device="cpu")
    codec.config["name"] = args.name
    target = save_codec(codec, PRETRAINED / f"{args.name}.safetensors",
                        extra_metadata=_extra(args.codec))
    registry_path = PRETRAINED / "registry.json"
    registry = json.loads(registry_path.read_text()) if registry_path.is_file() else {}
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
