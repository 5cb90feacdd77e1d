#!/bin/sh
# The whole test suite, exactly as CI runs it:
#   1. release build (-O3 portable, OpenMP) and every test;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build and every test
#      again, with leak checking; any report fails the run.
# Build directories: build-test/ and build-san/ (reused when present).
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

run_pass() { # name, build dir, meson setup options...
    name=$1 dir=$2
    shift 2
    if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
    else meson setup "$dir" "$@" >/dev/null; fi
    ninja -C "$dir" -j "$jobs"
    set +e
    meson test -C "$dir" --print-errorlogs --num-processes "$jobs" >"$dir/test-output.txt" 2>&1
    status=$?
    set -e
    cat "$dir/test-output.txt"
    ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$dir/test-output.txt")
    fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$dir/test-output.txt")
    timeout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$dir/test-output.txt")
    passed=$((passed + ${ok:-0}))
    failed=$((failed + ${fail:-0} + ${timeout:-0}))
    [ "$status" -eq 0 ] || [ "${fail:-0}" -gt 0 ] || failed=$((failed + 1))
    echo "== $name: ${ok:-0} ok, ${fail:-0} failed"
}

passed=0 failed=0
run_pass release build-test --buildtype=release
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
run_pass sanitizers build-san --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
