#!/usr/bin/env bash
# Runs the whole test suite: installs what is missing, builds with -Werror
# and runs every test, then builds with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs them again.
#   ./test.sh            both passes
#   ./test.sh --quick    the plain build only
#
# Where the kernel offers FUSE over io_uring, the first pass runs with
# requests on /dev/fuse (fuse.enable_uring=N) and the sanitizer pass with
# them on io_uring queues (=Y); the setting is restored afterwards.
set -euo pipefail
cd "$(dirname "$0")"

scripts/deps.sh
# /dev/fuse needs the fuse module on a fresh machine.
[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true

URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_SAVED=$(cat "$URING_PARAM" 2>/dev/null || true)
restore_uring() {
	[ -z "$URING_SAVED" ] || echo "$URING_SAVED" >"$URING_PARAM" 2>/dev/null || true
}
trap restore_uring EXIT
# transport Y|N — choose how the kernel sends laminafs its requests.
transport() {
	if [ -w "$URING_PARAM" ]; then
		echo "$1" >"$URING_PARAM"
		echo "== FUSE requests over $([ "$1" = Y ] && echo 'io_uring queues' || echo '/dev/fuse')"
	else
		echo "== FUSE requests over /dev/fuse (this kernel has no FUSE over io_uring)"
	fi
}

transport N
scripts/build.sh build
(cd build && ctest --output-on-failure -j1)

if [ "${1:-}" != "--quick" ]; then
	transport Y
	scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DLAMINA_SANITIZE=ON
	(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j1)
fi
