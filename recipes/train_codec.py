"""Train a codec from a recipe (JSON) on the training split of ``CODEC_SPLITS``.

Usage::

    python recipes/train_codec.py recipes/biocodec-eeg.json --out runs/biocodec-eeg

(the same as ``mne-biocodec pretrain recipes/biocodec-eeg.json --out runs/biocodec-eeg``; the
logic lives in :mod:`mne_biocodec.training.recipe`).

The run is resumable: rerunning the same command continues from the last checkpoint. It never
reads the held-out recordings for training; a fixed random subset of their segments is scored
after every epoch to draw the held-out fidelity curve (it is not used to pick a checkpoint: the
last one is shipped).
"""

import argparse

from mne_biocodec.training.recipe import train_from_recipe


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--out", default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    args = parser.parse_args(argv)
    train_from_recipe(args.recipe, out=args.out, max_epochs=args.max_epochs)


if __name__ == "__main__":
    main()
