#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds with -Werror
# and runs every test, then builds with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs them again.
#   ./test.sh            both passes
#   ./test.sh --quick    the plain build only
set -euo pipefail
cd "$(dirname "$0")"

scripts/deps.sh
# /dev/fuse needs the fuse module on a fresh machine.
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true

scripts/build.sh build
(cd build && ctest --output-on-failure -j1)

if [ "${1:-}" != "--quick" ]; then
  scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DLAMINA_SANITIZE=ON
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
     UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j1)
fi
