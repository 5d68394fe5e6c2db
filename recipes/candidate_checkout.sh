#!/usr/bin/env bash
# A scratch checkout of HEAD in which ``biocodec-eeg`` (the default codec) names a candidate
# codec, to measure the candidate as the default (benchmarks/decoding.py,
# benchmarks/default_features.py, the tests) while this checkout keeps its default.
#
#   recipes/candidate_checkout.sh CODEC_FILE DIR [NAME]
#
# NAME (default biocodec-eeg-candidate) is the candidate's registry name there; SPLIT_VERSION
# (default v2) the codec-training split its registry entry records. Run the
# benchmarks in DIR with this checkout's environment and DIR first on the path, e.g.
#
#   cd DIR && PYTHONPATH=$PWD /path/to/.venv/bin/python benchmarks/decoding.py \
#       --out /tmp/decoding_candidate.json --page /tmp/decoding_candidate.rst
#
# Nothing is committed there; remove it with ``git worktree remove --force DIR``.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 CODEC_FILE DIR [NAME]" >&2; exit 2; }
CODEC=$(realpath "$1"); DIR=$(realpath -m "$2"); NAME=${3:-biocodec-eeg-candidate}
[ -f "$CODEC" ] || { echo "no codec file $CODEC" >&2; exit 2; }
[ ! -e "$DIR" ] || { echo "$DIR exists; pick a new folder (nothing there is overwritten)" >&2; exit 2; }
cd "$(dirname "$0")/.."
PY=${PYTHON:-$PWD/.venv/bin/python}
git worktree add --detach -q "$DIR" HEAD
cd "$DIR"
SUMMARY=$(mktemp --suffix .json)
trap 'rm -f "$SUMMARY"' EXIT
echo "{\"version\": \"candidate\", \"split_version\": \"${SPLIT_VERSION:-v2}\"}" > "$SUMMARY"
PYTHONPATH=$PWD "$PY" recipes/ship_codec.py "$CODEC" --name "$NAME" --alias biocodec-eeg \
    --summary "$SUMMARY" > /dev/null
PYTHONPATH=$PWD "$PY" -c "from mne_biocodec import load_codec
c = load_codec('biocodec-eeg', device='cpu')
print('biocodec-eeg in $DIR now loads', c.config.get('name'), c.weights_sha256()[:12])"
