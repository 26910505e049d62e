# shellcheck shell=bash
# Helpers of the key management tests (keys.sh, keys_crash.sh), which run
# the lamina CLI on a store in a temp dir and need neither root nor FUSE.
# Same contract as lib.sh: exit 0 pass, 1 fail, 77 skip.
set -u
LM_NAME=$(basename "$0" .sh)
PY=${PYTHON3:-python3}
LM_FAILS=0
lm_log() { printf '[%s] %s\n' "$LM_NAME" "$*"; }
lm_fail() {
	LM_FAILS=$((LM_FAILS + 1))
	printf '[%s] FAIL: %s\n' "$LM_NAME" "$*"
}
lm_die() {
	printf '[%s] FATAL: %s\n' "$LM_NAME" "$*"
	exit 1
}
lm_check() {
	if [ "$2" != "$3" ]; then
		lm_fail "$1: expected '$2', got '$3'"
		return 1
	fi
	return 0
}
lm_finish() {
	if [ "$LM_FAILS" -ne 0 ]; then
		lm_log "$LM_FAILS check(s) failed"
		exit 1
	fi
	lm_log "all checks passed"
	exit 0
}
