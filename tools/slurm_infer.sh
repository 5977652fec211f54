#!/usr/bin/env bash
# Inference on a Slurm cluster, one task per GPU, each task a fixed share of
# the inputs; rank 0 writes the one summary.csv:
#   GPUS=8 bash tools/slurm_infer.sh PARTITION JOB_NAME CONFIG CHECKPOINT INPUT... --out-dir DIR [infer.py options]
set -euo pipefail
if [ $# -lt 5 ]; then
    echo "usage: bash $0 PARTITION JOB_NAME CONFIG CHECKPOINT INPUT... --out-dir DIR [infer.py options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python}

PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$HERE/infer.py" "$CONFIG" "$CHECKPOINT" --launcher slurm "${@:5}"
