"""Ship a pretrained token model into ``mne_biocodec/pretrained`` if it beats the unigram.

Reads the run's model (checked as any token model is), refuses to ship unless
``benchmarks/results/token_model.json`` (``benchmarks/token_model.py``) measured this very
model with a lower perplexity than the unigram baseline at every codebook level on the
held-out recordings (``--force`` ships anyway), then writes
``mne_biocodec/pretrained/token-model-eeg.{safetensors,json}`` and adds its entry (file,
SHA-256, ``kind: token-model``) to ``registry.json``; the entries of the codecs are left as
they are. ``--alias`` points more registry names at the same file (the default name at a new
version, as for the codecs).

Usage::

    python recipes/ship_token_model.py runs/token-model-eeg
    python recipes/ship_token_model.py runs/token-model-eeg-v2 --name token-model-eeg-v2 \
        --alias token-model-eeg
"""

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "mne_biocodec" / "pretrained"
RESULTS = ROOT / "benchmarks" / "results" / "token_model.json"


def beats_unigram(results, schedule="isolated"):
    """Whether the model's perplexity is below the unigram's at every level, overall and
    on every held-out data set."""
    rows = [results["all"], *results["datasets"].values()]
    return all(row[f"model_{schedule}_beats_unigram"] for row in rows)


def main(argv=None):
    from mne_biocodec.codec import atomic_write, file_sha256
    from mne_biocodec.tokenmodel import load_token_model, save_token_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder of mne-biocodec pretrain-token-model")
    parser.add_argument("--name", default="token-model-eeg")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--alias", nargs="*", default=[],
                        help="more registry names for the same file")
    parser.add_argument("--force", action="store_true",
                        help="ship even if the benchmark does not show it beats the unigram")
    args = parser.parse_args(argv)
    source = Path(args.run) / "token-model.safetensors"
    model = load_token_model(source, device="cpu")
    results = json.loads(Path(args.results).read_text())
    measured = Path(results["model"]).resolve() == source.resolve()
    ok = measured and beats_unigram(results)
    if not ok and not args.force:
        raise SystemExit(f"not shipped: {args.results} "
                         + ("does not show the model beating the unigram at every level"
                            if measured else f"measured {results['model']}, not {source}"))
    summary = {"heldout_perplexity": {
        k: results["all"][k]["perplexity"] for k in ("unigram", "bigram", "model_isolated",
                                                     "model_span")}}
    target = save_token_model(model, PRETRAINED / f"{args.name}.safetensors",
                              model.codec_info, dict(model.training_info, benchmark=summary))
    registry_path = PRETRAINED / "registry.json"
    registry = json.loads(registry_path.read_text())
    registry[args.name] = {"file": target.name, "sha256": file_sha256(target),
                           "kind": "token-model", "modality": model.codec_info.get("modality"),
                           "codec": model.codec_info.get("source")}
    for alias in args.alias:
        registry[alias] = dict(registry[args.name])
    with atomic_write(registry_path) as tmp:
        tmp.write_text(json.dumps(registry, indent=2, sort_keys=True) + "\n")
    print(json.dumps(registry[args.name], indent=2))


if __name__ == "__main__":
    main()
