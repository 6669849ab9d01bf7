#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it:
#   1. the release build's unit and CLI tests (CTest),
#   2. the same tests built with AddressSanitizer + UBSan,
#   3. each libFuzzer target for a bounded time (12 s each, as many at once as there are cores, within
#      CI's 15 minutes; AUTOGLM_FUZZ_SECONDS overrides).
# Shared test data is read from $AUTOGLM_SHARED (default: ../shared beside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
export AUTOGLM_SHARED="${AUTOGLM_SHARED:-$(cd .. && pwd)/shared}"
jobs=$(nproc)

echo "== release build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== AddressSanitizer + UBSan build + tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUTOGLM_SANITIZE=ON -DAUTOGLM_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzzing (bounded)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUTOGLM_FUZZ=ON -DAUTOGLM_CUDA=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_all
python3 fuzz/make_seeds.py build-fuzz/seeds # the seeds that are model or tokenizer files
# fuzz_one TARGET: runs one libFuzzer target for the bounded time into build-fuzz/log-NAME; non-zero
# on a finding. The targets run $jobs at a time, one core each.
fuzz_one() {
  local target=$1 name corpus dict
  name=$(basename "$target")
  corpus="fuzz/corpus/${name#fuzz_}"
  dict="fuzz/${name#fuzz_}.dict" # libFuzzer dictionary, where the target has one
  mkdir -p "build-fuzz/corpus-$name"
  "$target" -max_total_time="${AUTOGLM_FUZZ_SECONDS:-12}" -max_len=65536 -timeout=10 \
    $( [ -f "$dict" ] && echo "-dict=$dict" ) \
    "build-fuzz/corpus-$name" $( [ -d "$corpus" ] && echo "$corpus" ) \
    $( [ -d "build-fuzz/seeds/${name#fuzz_}" ] && echo "build-fuzz/seeds/${name#fuzz_}" ) > "build-fuzz/log-$name" 2>&1 ||
    { local rc=$?; touch "build-fuzz/failed-$name"; return "$rc"; }
}
export -f fuzz_one
rm -f build-fuzz/log-fuzz_* build-fuzz/failed-fuzz_*
fuzz_status=0
find build-fuzz/fuzz -maxdepth 1 -name 'fuzz_*' -type f -perm -u+x | sort |
  xargs -P "$jobs" -I{} bash -c 'fuzz_one "$1"' _ {} || fuzz_status=$?
for log in build-fuzz/log-fuzz_*; do
  name=${log#build-fuzz/log-}
  echo "-- $name (${AUTOGLM_FUZZ_SECONDS:-12} s)"
  if [ -e "build-fuzz/failed-$name" ]; then tail -n 80 "$log"; else tail -n 3 "$log"; fi # a finding: its report
done
[ "$fuzz_status" -eq 0 ] || { echo "fuzzing found a failure (the reports above, build-fuzz/log-*)"; exit 1; }
echo "== all tests passed"
