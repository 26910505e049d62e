#!/bin/bash
# keys_crash: a crash at any step of `lamina tenant rotate` (and of
# `shred`) leaves a store that works. $LAMINA_FAULT_BIN is lamina built on
# the library with fault points: LAMINA_FAULT=N ends it with _exit(99) at
# its N-th fault point, as a crash would. For N = 1, 2, ... on a fresh copy
# of the same store, until a run completes without reaching fault N:
#   - after the crash every object opens, with the data key it had;
#   - a second (ordinary) rotate completes, every object still opens, and
#     exactly one key version is left active;
#   - the audit log verifies.
# Shred: after a crash at any point, a second shred completes and leaves
# nothing but the tombstone.
set -u
. "$(dirname "$0")/check.sh"

[ -x "${LAMINA:-}" ] || lm_die "LAMINA must name the lamina binary"
[ -x "${LAMINA_FAULT_BIN:-}" ] || lm_die "LAMINA_FAULT_BIN must name lamina_fault"
[ -x "${OBJTOOL:-}" ] || lm_die "OBJTOOL must name lm_objtool"
T=$(mktemp -d "${TMPDIR:-/tmp}/lamina-it.keys_crash.XXXXXX") || lm_die "mktemp failed"
trap 'rm -rf "$T"' EXIT
unset LAMINA_PASSPHRASE_FILE LAMINA_STORE LAMINA_FAULT

P=$T/pristine
head -c 32 /dev/urandom >"$T/k"; chmod 600 "$T/k"
head -c 32 /dev/urandom >"$T/k2"; chmod 600 "$T/k2"
"$LAMINA" --store "$P" tenant create acme --key-file "$T/k" >/dev/null || lm_die "create"
"$LAMINA" --store "$P" tenant create other --key-file "$T/k2" >/dev/null || lm_die "create other"
"$OBJTOOL" create "$P" acme "$T/k" 6 a || lm_die "objects"
"$OBJTOOL" create "$P" other "$T/k2" 2 o || lm_die "objects of other"
# One rotation first, so there is a retired version too.
"$LAMINA" --store "$P" tenant rotate acme --key-file "$T/k" >/dev/null || lm_die "first rotate"
want=$("$OBJTOOL" open "$P" acme "$T/k") || lm_die "open"
want_other=$("$OBJTOOL" open "$P" other "$T/k2") || lm_die "open other"

active_versions() {
	"$LAMINA" --store "$1" tenant show acme --json |
		"$PY" -c 'import json,sys; print(sum(v["state"]=="active" for v in json.load(sys.stdin)["key_versions"]))'
}

n=1
crashes=0
while :; do
	S=$T/s$n
	cp -a "$P" "$S"
	LAMINA_FAULT=$n "$LAMINA_FAULT_BIN" --store "$S" tenant rotate acme --key-file "$T/k" \
		>"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		lm_log "rotate: run $n reached no fault point: done after $crashes crash points"
		got=$("$OBJTOOL" open "$S" acme "$T/k")
		lm_check "rotate without a crash: objects" "$want" "$got"
		rm -rf "$S"
		break
	fi
	if [ "$rc" -ne 99 ]; then
		lm_fail "rotate, fault $n: exit $rc, not a crash: $(cat "$T/err")"
		break
	fi
	crashes=$((crashes + 1))
	where=$(sed -n 's/.*injected at //p' "$T/err")
	got=$("$OBJTOOL" open "$S" acme "$T/k" 2>&1)
	lm_check "crash $n ($where): acme's objects open with their keys" "$want" "$got"
	got=$("$OBJTOOL" open "$S" other "$T/k2" 2>&1)
	lm_check "crash $n ($where): other tenant untouched" "$want_other" "$got"
	"$LAMINA" --store "$S" tenant rotate acme --key-file "$T/k" >"$T/out" 2>&1 ||
		lm_fail "crash $n ($where): second rotate failed: $(cat "$T/out")"
	got=$("$OBJTOOL" open "$S" acme "$T/k" 2>&1)
	lm_check "crash $n ($where): objects after the second rotate" "$want" "$got"
	lm_check "crash $n ($where): active versions after the second rotate" 1 "$(active_versions "$S")"
	"$LAMINA" --store "$S" audit verify >/dev/null 2>"$T/err" ||
		lm_fail "crash $n ($where): audit verify: $(cat "$T/err")"
	# Shadows (.NAME.lmtmp) stay by design; each must hold no slot the
	# tenant can still open (only slots of retired versions).
	for f in "$S"/objects/.*.slots.lmtmp; do
		[ -e "$f" ] || continue
		b=${f##*/.}; b=${b%.slots.lmtmp}
		cp "$f" "$S/objects/shadow-$b.slots"
		"$OBJTOOL" open-one "$S" acme "$T/k" "shadow-$b" >/dev/null 2>&1 &&
			lm_fail "crash $n ($where): shadow of $b still opens"
		rm -f "$S/objects/shadow-$b.slots"
	done
	rm -rf "$S"
	n=$((n + 1))
	[ "$n" -le 200 ] || { lm_fail "rotate never completed"; break; }
done
# 1 new version + 6 temp files + sync + 6 renames + dir sync + retire (2) + done
[ "$crashes" -ge 17 ] || lm_fail "only $crashes fault points in rotate: fault injection not reached?"

n=1
while :; do
	S=$T/s$n
	cp -a "$P" "$S"
	LAMINA_FAULT=$n "$LAMINA_FAULT_BIN" --store "$S" tenant shred acme --yes >/dev/null 2>"$T/err"
	rc=$?
	[ "$rc" -eq 0 ] && { rm -rf "$S"; break; }
	[ "$rc" -eq 99 ] || { lm_fail "shred, fault $n: exit $rc: $(cat "$T/err")"; break; }
	where=$(sed -n 's/.*injected at //p' "$T/err")
	"$OBJTOOL" open-one "$S" acme "$T/k" a0 >/dev/null 2>&1
	rc=$?
	# Before the tombstone the tenant still works; after it, it is shredded.
	if [ -e "$S/keys/acme/shredded" ]; then
		lm_check "shred crash $n ($where): open after the tombstone" 5 "$rc"
	else
		lm_check "shred crash $n ($where): open before the tombstone" 0 "$rc"
	fi
	"$LAMINA" --store "$S" tenant shred acme --yes >/dev/null 2>"$T/err" ||
		lm_fail "shred crash $n ($where): second shred: $(cat "$T/err")"
	left=$(ls -A "$S/keys/acme" | grep -v '^shredded$')
	lm_check "shred crash $n ($where): files left" "" "$left"
	rm -rf "$S"
	n=$((n + 1))
	[ "$n" -le 50 ] || { lm_fail "shred never completed"; break; }
done
lm_log "shred: $((n - 1)) crash points checked"
lm_finish
