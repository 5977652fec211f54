#!/usr/bin/env bash
# The GPU figure issue 11 still lacks, as one prepared run for a session
# lent a GPU (a few minutes on one H200, estimated; not run yet):
#   1. a whole tools/infer.py scene (the town of bench_geotiff_scene.py,
#      8,192^2, 4-band uint16 GeoTIFF) with the model on the GPU, without
#      writer processes and with four, against the model's forward passes;
#   2. the writer alone on the same kind of mask, per part (CPU s/MP).
# SIZES, DEVICE and KEEP override the defaults (e.g. DEVICE=cpu SIZES=600
# for a quick check that the script runs).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-8192}
device=${DEVICE:-cuda}
keep=${KEEP:-$(mktemp -d)}
for writers in 0 4; do
    # The scene and the trained model are made once, in $keep.
    python benchmarks/bench_geotiff_scene.py --sizes "$sizes" --repeats 1 \
        --start-runs 2 --device "$device" --writers "$writers" --keep "$keep"
done
python benchmarks/bench_scene_writer.py --sizes "$sizes" --writers 0,4
