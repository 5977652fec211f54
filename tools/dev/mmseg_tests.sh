#!/usr/bin/env bash
# Run MMSegmentation's own test suite with the mmseg-sia plugin imported, and
# without it, on the installed stack (mmcv-lite or full mmcv), and print both
# counts. Not part of CI: about 20 minutes on 2 cores.
#
#   bash tools/dev/mmseg_tests.sh [WORKDIR] [extra pytest arguments...]
#
# The tests come from mmsegmentation's source distribution of the installed
# version, fetched with pip. Results: WORKDIR/with_plugin.txt and
# WORKDIR/without_plugin.txt (pytest's summaries) and the two lines printed
# at the end.
set -euo pipefail
WORKDIR=${1:-${TMPDIR:-/tmp}/mmseg-tests}
shift || true
PYTHON=${PYTHON:-python}
VERSION=$("$PYTHON" -c 'import mmseg; print(mmseg.__version__)')
mkdir -p "$WORKDIR"
cd "$WORKDIR"
if [ ! -d "mmsegmentation-$VERSION/tests" ]; then
    "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: \
        "mmsegmentation==$VERSION" -d .
    tar xzf "mmsegmentation-$VERSION.tar.gz"
fi
cd "mmsegmentation-$VERSION"
# Run the tests against the installed mmseg, not the copy in the sdist.
rm -rf mmseg
# Several tests read mmseg's configs from ./configs, which the source
# distribution leaves out: use the copy installed with mmseg.
if [ ! -e configs ]; then
    ln -s "$("$PYTHON" -c 'import mmseg, os; print(os.path.join(os.path.dirname(mmseg.__file__), ".mim", "configs"))')" configs
fi
run() {
    # pytest exits 1 when tests fail: that is the measurement, not an error.
    "$PYTHON" -m pytest tests -q -p no:cacheprovider -o addopts= \
        --continue-on-collection-errors "$@" 2>&1 | tail -n 40 || true
}
PLUGIN=$("$PYTHON" -c 'import importlib.util as u; print(int(u.find_spec("xdist") is not None))')
PAR=()
if [ "$PLUGIN" = 1 ]; then PAR=(-n "${NPROC:-2}"); fi
echo "mmsegmentation $VERSION tests with mmseg_sia imported ..." >&2
run -p mmseg_sia "${PAR[@]}" "$@" > "$WORKDIR/with_plugin.txt"
echo "... and without it" >&2
run "${PAR[@]}" "$@" > "$WORKDIR/without_plugin.txt"
echo "with mmseg_sia:    $(grep -E '(passed|failed|error)' "$WORKDIR/with_plugin.txt" | tail -n 1)"
echo "without mmseg_sia: $(grep -E '(passed|failed|error)' "$WORKDIR/without_plugin.txt" | tail -n 1)"
