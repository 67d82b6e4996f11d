#!/usr/bin/env bash
# Build pavesync and run every test: once plain, once under AddressSanitizer
# + UndefinedBehaviorSanitizer, the integration tests once more under
# ThreadSanitizer, then the Debian package is built (from a clean copy of the
# tree) and checked, then each libFuzzer target for a bounded time. Ends with
# one line "N passed, N failed".
#
#   FUZZ_SECONDS   seconds per fuzz target (default 60; 0 skips fuzzing)
#   BUILD_ROOT     where the build directories go (default build-tests)
set -uo pipefail
cd "$(dirname "$0")/.."

root=${BUILD_ROOT:-build-tests}
fuzz_seconds=${FUZZ_SECONDS:-60}
passed=0
failed=0

count() { # count meson's results in a build dir
  local log=$1/meson-logs/testlog.json p f
  [ -f "$log" ] || { failed=$((failed + 1)); return; }
  p=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["result"] in ("OK","EXPECTEDFAIL")))' "$log")
  f=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["result"] not in ("OK","EXPECTEDFAIL","SKIP")))' "$log")
  passed=$((passed + p))
  failed=$((failed + f))
}

suite() { # name, meson options... (TEST_ARGS: which tests, default all)
  local dir=$root/$1; shift
  echo "== build $dir"
  if ! { meson setup --wipe "$dir" "$@" >/dev/null 2>&1 || meson setup "$dir" "$@"; } ||
     ! ninja -C "$dir"; then
    echo "build failed: $dir"
    failed=$((failed + 1))
    return
  fi
  echo "== test $dir"
  # shellcheck disable=SC2086
  meson test -C "$dir" --print-errorlogs --num-processes 2 ${TEST_ARGS:-}
  count "$dir"
}

suite plain -Dwerror=true -Dwarning_level=3
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  suite asan -Dwerror=true -Dwarning_level=3 -Db_sanitize=address,undefined -Db_lundef=false

# Accounts are planned and applied on threads: the integration suite runs
# once more under ThreadSanitizer.
TSAN_OPTIONS=halt_on_error=1 TEST_ARGS="--suite integration" \
  suite tsan -Dwerror=true -Dwarning_level=3 -Db_sanitize=thread -Db_lundef=false

# The Debian package: dpkg-buildpackage -us -uc -b on a clean copy of the
# tree in a temporary directory (its build runs the tests once more), then
# dpkg-deb -c and lintian. One step, counted once.
echo "== debian package"
if bash tests/ship/build-deb.sh "$root/deb"; then
  passed=$((passed + 1))
else
  echo "debian package failed (see $root/deb/dpkg-buildpackage.log)"
  failed=$((failed + 1))
fi

if [ "$fuzz_seconds" -gt 0 ] && command -v clang >/dev/null; then
  dir=$root/fuzz
  echo "== build $dir (clang, libFuzzer)"
  if { CC=clang meson setup --wipe "$dir" -Dfuzz=true -Db_sanitize=address,undefined \
         -Db_lundef=false >/dev/null 2>&1 ||
       CC=clang meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false; } &&
     ninja -C "$dir" tests/fuzz_config tests/fuzz_api_response; then
    for t in config api_response; do
      work=$(mktemp -d)
      cp -r "tests/fuzz/corpus/$t/." "$work/"
      echo "== fuzz $t for ${fuzz_seconds}s"
      if "$dir/tests/fuzz_$t" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
           -artifact_prefix="$dir/" "$work" 2>"$dir/fuzz_$t.log"; then
        tail -n 2 "$dir/fuzz_$t.log"
        passed=$((passed + 1))
      else
        tail -n 40 "$dir/fuzz_$t.log"
        echo "fuzz_$t found a problem (see $dir/fuzz_$t.log)"
        failed=$((failed + 1))
      fi
      rm -rf "$work"
    done
  else
    echo "fuzz build failed"
    failed=$((failed + 1))
  fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
