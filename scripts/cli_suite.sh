#!/bin/bash
# scripts/cli_suite.sh AUTOGLM SHARED [OUT] - the command-line tests (tests/cli/*.py) against a
# given autoglm binary, 6 at a time, outside CTest: for a machine that has the binary but not the
# build tree, such as the GPU machine (there the models run on the GPU unless AUTOGLM_DEVICE says
# otherwise). Writes OUT/summary.txt (one line per test: name, exit status, seconds) and
# OUT/logs.txt (the end of each test's output); exits 1 when a test failed.
set -u
exe=$(realpath "$1"); shared=$(realpath "$2"); out=${3:-/tmp/autoglm-cli-suite}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out/tmp"
export AUTOGLM_TEST_TMP="$out/tmp" AUTOGLM_GPU_POWER_LIMIT=${AUTOGLM_GPU_POWER_LIMIT:-keep}
ls "$root"/tests/cli/*.py | grep -v -E "gguf_edit|harness" | grep -E "${ONLY:-.}" |
    xargs -P 6 -I{} sh -c 'n=$(basename {} .py); s=$(date +%s); timeout 300 python3 {} "$0" "$1" > "$2/tmp/log_$n.txt" 2>&1; echo "$n rc=$? $(( $(date +%s) - s ))s"' "$exe" "$shared" "$out" |
    sort > "$out/summary.txt"
for f in "$out"/tmp/log_*.txt; do echo "=== $f"; tail -60 "$f"; done > "$out/logs.txt"
cat "$out/summary.txt"
! grep -qv " rc=0 " "$out/summary.txt"
