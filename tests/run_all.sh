#!/bin/sh
# The whole test suite, exactly as CI runs it (.ci/run calls this):
#   0. installs what it needs when missing (scripts/install-missing: as
#      root through apt-get, else it names the packages and stops);
#   1. release build (-O3 portable, OpenMP, warnings as errors) and every
#      test;
#   2. the installed library, as a user builds against it: the release build
#      installed into build-test/prefix, every installed header compiled on
#      its own, examples/xor.c and examples/cvae.c built with nothing but
#      `pkg-config --cflags --libs tinyad` and run; three tests;
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build and every test
#      again, with leak checking and three times the timeouts; any report
#      fails the run;
#   4. when clang and libFuzzer are installed (installed here when missing,
#      as root): the libFuzzer harnesses in tests/fuzz, each run for
#      TINYAD_FUZZ_SECONDS (default 60; 0 skips the pass) under ASan +
#      UBSan; each harness counts as one test. (Passes 1 and 3 already
#      replay the seed corpus and the regressions.)
# The real-data tests read MNIST from $TINYAD_DATA, else from a directory
# named shared/data/mnist beside the repository; without it they are
# skipped (said at the end) and everything else still runs.
# Build directories: build-test/, build-san/ and build-fuzz/ (reused when
# present); the fuzzers grow their corpus in build-fuzz/corpus-NAME and put
# any crashing input in build-fuzz/artifacts/.
set -eu
cd "$(dirname "$0")/.."
# Open MPI: the multi-process tests of nn/dist.h (tests/test_dist.c)
./scripts/install-missing gcc meson ninja-build pkg-config zlib1g-dev openmpi-bin libopenmpi-dev
jobs=$(nproc 2>/dev/null || echo 2)

run_pass() { # name, build dir, meson setup options...
    name=$1 dir=$2
    shift 2
    if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
    else meson setup "$dir" "$@" >/dev/null; fi
    ninja -C "$dir" -j "$jobs"
    set +e
    meson test -C "$dir" --print-errorlogs --num-processes "$jobs" \
        --timeout-multiplier "$timeout_multiplier" >"$dir/test-output.txt" 2>&1
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

# One test's result: counted, and said; on failure the end of its log too.
count_result() { # exit status, log, lines of it to show, ok line, failure line
    if [ "$1" -eq 0 ]; then
        passed=$((passed + 1))
        echo "$4"
    else
        failed=$((failed + 1))
        tail -n "$3" "$2"
        echo "$5"
    fi
}

passed=0 failed=0 timeout_multiplier=1
run_pass release build-test --buildtype=release --werror --prefix="$PWD/build-test/prefix"

# Pass 2: the installed library. Each check is one test; its output goes to
# build-test/installed-NAME.log.
installed_check() { # name, command...
    name=$1 log=build-test/installed-$1.log
    shift
    st=0
    "$@" >"$log" 2>&1 || st=$?
    count_result "$st" "$log" 20 "installed $name: ok" "installed $name: FAILED (log: $log)"
}
installed_headers() { # every installed header compiles alone, warning-free
    for h in $(cd build-test/prefix/include/tinyad && find . -name '*.h' | sort); do
        echo "#include \"${h#./}\"" | cc -std=c17 -Wall -Wextra -Werror -fsyntax-only -x c - \
            $(pkg-config --cflags tinyad) || { echo "installed header ${h#./} does not compile"; return 1; }
    done
}
installed_example() { # NAME [VAR=VALUE...]: examples/NAME.c built against the installed library, run
    ex=$1
    shift
    cc -o "build-test/installed-$ex" "examples/$ex.c" $(pkg-config --cflags --libs tinyad) &&
        echo "built: cc examples/$ex.c $(pkg-config --cflags --libs tinyad)" &&
        env "$@" "build-test/installed-$ex"
}
rm -rf build-test/prefix
meson install -C build-test --quiet >build-test/installed-install.log 2>&1 ||
    { cat build-test/installed-install.log; exit 1; }
PKG_CONFIG_PATH=$(dirname "$(find build-test/prefix -name tinyad.pc)")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
installed_check headers installed_headers
installed_check xor installed_example xor
# cvae reads MNIST where the tests do, else synthesizes digits
installed_check cvae installed_example cvae TINYAD_DATA="${TINYAD_DATA:-../shared/data/mnist}"
echo "== installed library: pkg-config --cflags --libs tinyad = $(pkg-config --cflags --libs tinyad)"

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
# The sanitized tests run 2-3 times slower than the release ones their 300 s
# timeouts were set for (test_ae on the real MNIST: 107 s in the release
# pass, 515-661 s sanitized on a loaded 2-core machine), so they get three
# times as long.
timeout_multiplier=3
run_pass sanitizers build-san --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false
timeout_multiplier=1

# Pass 4. Harnesses: tests/fuzz/fuzz_NAME.c. Each runs from the checked-in
# seeds and regressions plus its own working corpus; up to $jobs at a time.
fuzz_seconds=${TINYAD_FUZZ_SECONDS:-60}
[ "$fuzz_seconds" -eq 0 ] || ./scripts/install-missing clang libclang-rt-14-dev ||
    echo "(without them the fuzz pass is skipped)"
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
    count_result "$st" "$log" 40 "fuzz_$h: ok, ${runs:-? runs}, $cov" \
        "fuzz_$h: FAILED (exit $st); input in build-fuzz/artifacts/$h-*, log $log"
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
mnist=${TINYAD_DATA:-../shared/data/mnist}
if [ -e "$mnist/train-images-idx3-ubyte.gz" ] || [ -e "$mnist/train-images-idx3-ubyte" ]; then
    echo "== real-data tests: MNIST from $mnist"
else
    echo "== real-data tests: skipped, no MNIST in $mnist (set TINYAD_DATA to a directory"
    echo "   holding the four MNIST IDX files to run them); everything else ran"
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
