#!/bin/sh
# The whole test suite, exactly as CI runs it:
#   1. release build (-O3 portable, OpenMP) and every test;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer build and every test
#      again, with leak checking; any report fails the run;
#   3. when clang and libFuzzer are installed: the libFuzzer harnesses in
#      tests/fuzz, each run for TINYAD_FUZZ_SECONDS (default 60; 0 skips the
#      pass) under ASan + UBSan; each harness counts as one test. (Passes 1
#      and 2 already replay the seed corpus and the regressions.)
# Build directories: build-test/, build-san/ and build-fuzz/ (reused when
# present); the fuzzers grow their corpus in build-fuzz/corpus-NAME and put
# any crashing input in build-fuzz/artifacts/.
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

# Pass 3. Harnesses: tests/fuzz/fuzz_NAME.c. Each runs from the checked-in
# seeds and regressions plus its own working corpus; up to $jobs at a time.
fuzz_seconds=${TINYAD_FUZZ_SECONDS:-60}
fuzz_one() { # harness name; leaves build-fuzz/fuzz-NAME.log and its exit status in .status
    h=$1 d=build-fuzz
    set +e
    mkdir -p "$d/corpus-$h" "$d/artifacts"
    # a hard stop in case libFuzzer itself hangs
    timeout $((fuzz_seconds * 2 + 120)) "$d/tests/fuzz/fuzz_$h" -max_total_time="$fuzz_seconds" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$d/artifacts/$h-" "$d/corpus-$h" "tests/fuzz/corpus/$h" \
        $( [ -d "tests/fuzz/regressions/$h" ] && echo "tests/fuzz/regressions/$h" ) \
        >"$d/fuzz-$h.log" 2>&1
    echo $? >"$d/fuzz-$h.status"
}
fuzz_report() { # harness name
    h=$1 log=build-fuzz/fuzz-$1.log
    st=$(cat "build-fuzz/fuzz-$h.status" 2>/dev/null || echo 1)
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log")
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
    if [ "$st" -eq 0 ]; then
        passed=$((passed + 1))
        echo "fuzz_$h: ok, ${runs:-? runs}, $cov"
    else
        failed=$((failed + 1))
        tail -n 40 "$log"
        echo "fuzz_$h: FAILED (exit $st); input in build-fuzz/artifacts/$h-*, log $log"
    fi
}
if [ "$fuzz_seconds" -eq 0 ]; then
    echo "== fuzz: skipped (TINYAD_FUZZ_SECONDS=0)"
elif ! command -v clang >/dev/null 2>&1 ||
    ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }' |
        clang -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; then
    echo "== fuzz: skipped (needs clang with libFuzzer: apt-get install clang libclang-rt-14-dev)"
else
    if [ -d build-fuzz ]; then CC=clang meson setup --reconfigure build-fuzz -Dfuzz=true -Dopenmp=auto \
        --buildtype=debugoptimized >/dev/null
    else CC=clang meson setup build-fuzz -Dfuzz=true -Dopenmp=auto --buildtype=debugoptimized >/dev/null; fi
    harnesses=
    for src in tests/fuzz/fuzz_*.c; do
        h=${src#tests/fuzz/fuzz_}
        harnesses="$harnesses ${h%.c}"
    done
    ninja -C build-fuzz -j "$jobs" $(for h in $harnesses; do echo "tests/fuzz/fuzz_$h"; done)
    fuzz_ok=$passed fuzz_bad=$failed
    set -- $harnesses
    while [ $# -gt 0 ]; do # batches of $jobs harnesses in parallel
        batch=
        while [ $# -gt 0 ] && [ "$(echo $batch | wc -w)" -lt "$jobs" ]; do
            rm -f "build-fuzz/fuzz-$1.status"
            fuzz_one "$1" &
            batch="$batch $1"
            shift
        done
        wait
        for h in $batch; do fuzz_report "$h"; done
    done
    echo "== fuzz: $((passed - fuzz_ok)) ok, $((failed - fuzz_bad)) failed (${fuzz_seconds} s each)"
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
