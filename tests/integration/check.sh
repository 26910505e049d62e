# shellcheck shell=bash
# The checking vocabulary of every integration test script (lib.sh for the
# mount tests, keys_lib.sh for the key tools): log, record a failed check and
# go on, stop, skip, and end with 0 pass, 1 fail, 77 skip.

set -u

LM_NAME=$(basename "$0" .sh)
PY=${PYTHON3:-python3}
LM_FAILS=0

lm_log() { printf '[%s] %s\n' "$LM_NAME" "$*"; }

# Record a failed check and go on: a test reports every difference it sees.
lm_fail() {
	LM_FAILS=$((LM_FAILS + 1))
	printf '[%s] FAIL: %s\n' "$LM_NAME" "$*"
}

# Stop the test now (a precondition or setup step failed).
lm_die() {
	printf '[%s] FATAL: %s\n' "$LM_NAME" "$*"
	exit 1
}

lm_skip() {
	printf '\n[%s] *** SKIPPED: %s ***\n\n' "$LM_NAME" "$*" >&2
	printf '[%s] *** SKIPPED: %s ***\n' "$LM_NAME" "$*"
	exit 77
}

# End of a test: 0 when every check passed.
lm_finish() {
	if [ "$LM_FAILS" -ne 0 ]; then
		lm_log "$LM_FAILS check(s) failed"
		exit 1
	fi
	lm_log "all checks passed"
	exit 0
}

# lm_tmpdir — make the test's temp dir, $T, removed when the script exits.
lm_tmpdir() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/lamina-it.$LM_NAME.XXXXXX") || lm_die "mktemp failed"
	trap 'rm -rf "$T"' EXIT
}

# lm_mkkey FILE — a tenant key file: 32 random bytes, mode 0600.
lm_mkkey() { head -c 32 /dev/urandom >"$1"; chmod 600 "$1"; }

# lm_mkpass FILE TEXT — a passphrase file: TEXT and a newline, mode 0600.
lm_mkpass() { printf '%s\n' "$2" >"$1"; chmod 600 "$1"; }

# lm_check DESC EXPECTED ACTUAL
# lm_ok LABEL CMD... — run CMD; fail with LABEL when it does not succeed.
lm_ok() {
	local label=$1
	shift
	if ! "$@"; then
		lm_fail "$label (failed: $*)"
		return 1
	fi
	return 0
}

# lm_expect_fail DESC EXIT_CODE PATTERN CMD... — fails with EXIT_CODE, prints
# exactly one line matching PATTERN on stderr.
lm_expect_fail() {
	local desc=$1 want=$2 pat=$3 rc lines
	shift 3
	"$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	lm_check "$desc: exit status" "$want" "$rc"
	lines=$(wc -l <"$T/err")
	lm_check "$desc: lines on stderr ($(head -c 300 "$T/err"))" 1 "$lines"
	grep -Eq -- "$pat" "$T/err" || lm_fail "$desc: stderr '$(cat "$T/err")' does not match '$pat'"
	lm_log "$desc: $(cat "$T/err")"
}

lm_check() {
	if [ "$2" != "$3" ]; then
		lm_fail "$1: expected '$2', got '$3'"
		return 1
	fi
	return 0
}
