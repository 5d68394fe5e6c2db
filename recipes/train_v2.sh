#!/usr/bin/env bash
# Train biocodec-eeg v2 in the background, or continue it: rerunning resumes from the newest
# intact checkpoint in runs/biocodec-eeg-v2 (gitignored and machine-local: it survives a
# session on the same machine, not a move to a new one unless the folder is copied there).
#
#   recipes/train_v2.sh           start or resume (returns at once), then print the progress
#   recipes/train_v2.sh --status  print the progress (steps, held-out r / SI-SDR, s/step)
#   recipes/train_v2.sh --stop    stop the run (it resumes from its last checkpoint later)
#
# Logs: $RUN/train.log and /tmp/logs/<run folder name>.log (both appended; V2_LOG overrides
# the second, which by default differs from run to run so that two runs never share a log).
# One CPU thread at nice 19; on a machine with a GPU the same command trains on it
# (pretrain_codec picks CUDA when available); copy runs/biocodec-eeg-v2/checkpoints back.
set -euo pipefail
cd "$(dirname "$0")/.."
# The defaults are the v2 run; the variables select another recipe and folder, e.g. the
# quantizer-dropout continuation of that run (recipes/biocodec-eeg-v2-qdrop.json):
#   V2_RUN=runs/biocodec-eeg-v2-qdrop V2_RECIPE=recipes/biocodec-eeg-v2-qdrop.json \
#     V2_LOG=/tmp/logs/codec_v2_qdrop.log recipes/train_v2.sh [--status|--stop]
RUN=${V2_RUN:-runs/biocodec-eeg-v2}
RECIPE=${V2_RECIPE:-recipes/biocodec-eeg-v2.json}
LOG=${V2_LOG:-/tmp/logs/$(basename "$RUN").log}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$RUN" /tmp/logs
export OMP_NUM_THREADS=1 MNE_BIOCODEC_THREADS=1 MOABB_DOWNLOAD_PROVIDER=upstream
export MNE_DATA=${MNE_DATA:-$(cd ../shared/data && pwd)}

running() { [ -f "$RUN/train.pid" ] && kill -0 "$(cat "$RUN/train.pid")" 2>/dev/null; }

case "${1:-}" in
  --status)
    running && echo "training is running (process group $(cat "$RUN/train.pid"))" \
      || echo "training is not running"
    exec "$PY" recipes/train_progress.py "$RUN" "$RECIPE" ;;
  --stop)
    if running; then kill -- "-$(cat "$RUN/train.pid")"; echo "stopped"; else echo "not running"; fi
    exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--status|--stop]" >&2; exit 2 ;;
esac

if running; then
  echo "already running (process group $(cat "$RUN/train.pid")); see $RUN/train.log"
else
  echo "=== $(date -u +%FT%TZ) start/resume on $(hostname)" | tee -a "$RUN/train.log" >> "$LOG"
  # Own session (setsid) so that --stop ends the pipeline and nothing else.
  setsid nohup nice -n 19 bash -c "'$PY' -u recipes/train_codec.py '$RECIPE' --out '$RUN' \
    2>&1 | tee -a '$RUN/train.log' >> '$LOG'" > /dev/null 2>&1 &
  echo $! > "$RUN/train.pid"
  echo "started (process group $!); logs: $RUN/train.log, $LOG"
fi
"$PY" recipes/train_progress.py "$RUN" "$RECIPE" || true
