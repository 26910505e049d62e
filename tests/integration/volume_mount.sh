#!/bin/bash
# volume_mount: `lamina volume mount` and `umount` on a real laminafs mount
# ($LAMINA, and $LAMINAFS put first in PATH, where lamina looks for it).
#   - a volume mounts with its tenant's key file and with a passphrase file;
#     what is written reads back, and no plaintext reaches the volume's
#     directory
#   - inspect and ls show the mount; rm is refused while it is mounted
#   - rotation while mounted: the mount keeps working, inspect shows the
#     new slot version, and the volume mounts again afterwards
#   - umount by name and by mount point; the daemon ends
# Skips where laminafs does not take the vault options (tenant=, passfd=).
set -u
. "$(dirname "$0")/lib.sh"     # lm_init: root, /dev/fuse, $T, teardown

[ -n "${LAMINA:-}" ] && [ -x "$LAMINA" ] || lm_die "LAMINA must name the lamina binary"
"$LAMINAFS" --help 2>&1 | grep -q "passfd=" ||
	lm_skip "this laminafs does not take tenant=/passfd= (vault uppers)"
mkdir -p "$T/bin" && ln -s "$LAMINAFS" "$T/bin/laminafs"
export PATH=$T/bin:$PATH
unset LAMINA_PASSPHRASE_FILE LAMINA_STORE
S=$T/store M=$T/mnt
L() { lm_t 60 "$LAMINA" --store "$S" "$@"; }
mkdir -p "$M"
LM_MOUNTS+=("$M")

head -c 32 /dev/urandom >"$T/ka"; chmod 600 "$T/ka"
printf 'beta passphrase\n' >"$T/pb"; chmod 600 "$T/pb"
L tenant create acme --key-file "$T/ka" >/dev/null || lm_die "tenant acme"
L tenant create beta --passphrase-file "$T/pb" --kdf-cost interactive >/dev/null || lm_die "tenant beta"
L volume create data --tenant acme --key-file "$T/ka" >/dev/null || lm_die "create data"
L volume create notes --tenant beta --passphrase-file "$T/pb" >/dev/null || lm_die "create notes"

L volume mount data "$M" --key-file "$T/ka" >"$T/out" 2>&1 || lm_fail "mount data: $(cat "$T/out")"
lm_is_fuse_mount "$M" || lm_die "data is not mounted"
echo "patient 0042: findings" >"$M/report.txt" || lm_fail "write"
lm_check "read back" "patient 0042: findings" "$(cat "$M/report.txt")"
grep -rq "patient 0042" "$S/volumes/data" && lm_fail "plaintext in the volume's directory"
ls "$S/volumes/data" | grep -q report && lm_fail "a plaintext name in the volume's directory"
L volume inspect data | grep -q "^mounted: *$M$" || lm_fail "inspect: $(L volume inspect data)"
L volume ls --json | "$PY" -c '
import json, sys
assert {v["name"]: v["mounted"] for v in json.load(sys.stdin)} == {"data": True, "notes": False}
' || lm_fail "ls --json: mounted"
L volume rm data --force >"$T/out" 2>&1
lm_check "rm while mounted: exit" 1 $?
grep -q "is mounted at $M" "$T/out" || lm_fail "rm while mounted: $(cat "$T/out")"
L volume mount data "$T" --key-file "$T/ka" >"$T/out" 2>&1
lm_check "second mount: exit" 1 $?

L tenant rotate acme --key-file "$T/ka" >"$T/out" 2>&1 || lm_fail "rotate while mounted: $(cat "$T/out")"
lm_check "read after rotation" "patient 0042: findings" "$(cat "$M/report.txt")"
echo more >>"$M/report.txt" || lm_fail "write after rotation"
L volume inspect data | grep -q "^key slots: *v2 (active)$" || lm_fail "inspect after rotation"
L volume umount data >"$T/out" 2>&1 || lm_fail "umount by name: $(cat "$T/out")"
lm_wait_gone() { local n=50; while lm_is_fuse_mount "$M" && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done; }
lm_wait_gone
lm_is_fuse_mount "$M" && lm_fail "still mounted after umount"

L volume mount data "$M" --key-file "$T/ka" >"$T/out" 2>&1 || lm_fail "mount after rotation: $(cat "$T/out")"
lm_check "read after remount" "$(printf 'patient 0042: findings\nmore')" "$(cat "$M/report.txt")"
L volume umount "$M" >"$T/out" 2>&1 || lm_fail "umount by mount point: $(cat "$T/out")"
lm_wait_gone

L volume mount notes "$M" --passphrase-file "$T/pb" >"$T/out" 2>&1 || lm_fail "mount notes: $(cat "$T/out")"
echo note >"$M/n" && lm_check "passphrase volume" note "$(cat "$M/n")"
L volume umount notes >/dev/null 2>&1 || lm_fail "umount notes"
lm_wait_gone
L volume rm data --force >/dev/null 2>&1 || lm_fail "rm after umount"
lm_finish
