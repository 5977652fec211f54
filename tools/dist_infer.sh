#!/usr/bin/env bash
# Inference on many images or scenes with several processes (torchrun):
#   bash tools/dist_infer.sh CONFIG CHECKPOINT NPROC INPUT... --out-dir DIR [infer.py options]
# Each process takes a fixed share of the inputs (every NPROC-th, in the
# order infer.py lists them) on its own GPU (NCCL), or on the CPU with gloo
# where there is no CUDA; rank 0 writes the one summary.csv at the end. The
# output files are those of a single-process run. NNODES, NODE_RANK,
# MASTER_ADDR and PORT set up several nodes.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: bash $0 CONFIG CHECKPOINT NPROC INPUT... --out-dir DIR [infer.py options]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python}

PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$HERE/infer.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
