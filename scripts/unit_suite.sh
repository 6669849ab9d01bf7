#!/bin/bash
# scripts/unit_suite.sh TESTS_DIR [OUT] - the C unit tests (every test_* executable in TESTS_DIR,
# such as a build's tests/ folder carried to the GPU machine), 4 at a time, outside CTest, each
# with its own AUTOGLM_TEST_TMP. The binaries keep the paths they were built with (the source's
# tests/data, the build's gen_synthetic and fuzz-seeds, the shared folder): run them where those
# paths exist, or set AUTOGLM_SHARED and AUTOGLM_TEST_DATA. On a machine with a GPU the models
# of most tests go there (device auto). Writes OUT/summary.txt (name, exit status, seconds) and
# OUT/logs.txt (the end of each failed test's output); exits 1 when a test failed.
set -u
dir=$(realpath "$1"); out=${2:-/tmp/autoglm-unit-suite}
mkdir -p "$out/tmp"
export AUTOGLM_GPU_POWER_LIMIT=${AUTOGLM_GPU_POWER_LIMIT:-keep}
ls "$dir" | grep -E '^test_[a-z0-9_]+$' | grep -E "${ONLY:-.}" |
    xargs -P 4 -I{} sh -c 'mkdir -p "$1/tmp/{}"; s=$(date +%s); AUTOGLM_TEST_TMP="$1/tmp/{}" timeout 600 "$0/{}" > "$1/tmp/{}.log" 2>&1; echo "{} rc=$? $(( $(date +%s) - s ))s"' "$dir" "$out" |
    sort > "$out/summary.txt"
for n in $(grep -v " rc=0 " "$out/summary.txt" | cut -d' ' -f1); do echo "=== $n"; tail -40 "$out/tmp/$n.log"; done > "$out/logs.txt"
cat "$out/summary.txt"
! grep -qv " rc=0 " "$out/summary.txt"
