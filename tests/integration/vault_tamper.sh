#!/bin/bash
# vault_tamper: a volume's host files are changed while it is unmounted;
# after a remount every change is caught where it lies and nowhere else.
# One file (one directory) per case, each 7 blocks (6 full and a short
# last one); host files are found by their size.  The cases:
#   - flip     one bit flipped in block 2
#   - swap     blocks 1 and 3 of one file exchanged
#   - graft    block 2 of another file of the vault copied over block 2
#   - cp       a whole host file copied over another (cp A B)
#   - cut      the host file cut in the middle of block 3
#   - cutblk   the host file cut at the end of block 2 (its box is intact
#              but was sealed as not the last one)
#   - move     a host entry moved into another host directory (its sealed
#              name belongs to the first directory)
# For each: every 4 KiB block read on its own (its own open) gives EIO
# where the change is and the original bytes elsewhere (blocks past a cut
# read as end of file), both with read-ahead off (POSIX_FADV_RANDOM: the
# daemon is asked for that block alone) and on (the kernel asks for the
# following blocks in the same request, as for any program); `cat` stops
# with EIO after a prefix of the file; a new vault.integrity record is in
# `lamina audit show`; the donor files (graft, cp) and an untouched file
# read back right with no record.
#   - the audit record of a failure names the file by its plaintext path
#     (the operator needs it; docs/threat-model.md lists it among what
#     leaks by design), and nothing else in the store carries the vault's
#     names: the names of the "flip" case hold a marker that is found in
#     audit.log and nowhere else under the store
. "$(dirname "$0")/vault_lib.sh"
. "$(dirname "$0")/scan_markers.sh"

NAMEMARK=PHINAME7f3a9c1e5b
V=$T/vol
M=$T/mnt
R=$T/ref
mkdir -p "$R"
vt_tenant acme

CASES="flip swap graft graftsrc cp cpsrc cut cutblk move moveto ok"
# Each case's file: 6 full blocks and a last one of a size of its own.
declare -A SIZE DIR FILE
i=0
for c in $CASES; do
	i=$((i + 1))
	SIZE[$c]=$((6 * VT_BLK + 100 * i))
	DIR[$c]=d_$c FILE[$c]=f
	vt_mkdata "$R/$c" "${SIZE[$c]}" "case-$c"
done
DIR[flip]=dir-$NAMEMARK FILE[flip]=file-$NAMEMARK

vt_mount_volume "$M" "$V" acme || lm_die "cannot mount the volume"
for c in $CASES; do
	mkdir "$M/${DIR[$c]}" && cp "$R/$c" "$M/${DIR[$c]}/${FILE[$c]}" ||
		lm_die "cannot write case $c"
done
# A second file in the directory the "move" entry lands in.
cp "$R/ok" "$M/d_moveto/g" || lm_die "cannot write d_moveto/g"
lm_umount "$M"

# ---- tamper (unmounted) ----------------------------------------------------
declare -A HOST
for c in $CASES; do HOST[$c]=$(vt_host_file "$V" "${SIZE[$c]}"); done
# blk_op OP FILE ARGS — flip FILE I OFF | swap FILE I J | graft SRC I DST J
blk_op() {
	"$PY" - "$VT_HEAD" "$VT_BOX" "$@" <<'EOF' || lm_die "tampering ($*) failed"
import sys
head, box, op = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
a = sys.argv[4:]
def at(i): return head + int(i) * box
def rd(p, i):
    with open(p, 'rb') as f:
        f.seek(at(i)); return f.read(box)
def wr(p, i, b):
    with open(p, 'r+b') as f:
        f.seek(at(i)); f.write(b)
if op == 'flip':
    p, i, off = a[0], a[1], int(a[2])
    b = bytearray(rd(p, i)); b[off] ^= 0x10; wr(p, i, bytes(b))
elif op == 'swap':
    p, i, j = a
    bi, bj = rd(p, i), rd(p, j); wr(p, i, bj); wr(p, j, bi)
elif op == 'graft':
    wr(a[2], a[3], rd(a[0], a[1]))
EOF
}
blk_op flip "${HOST[flip]}" 2 1000
blk_op swap "${HOST[swap]}" 1 3
blk_op graft "${HOST[graftsrc]}" 2 "${HOST[graft]}" 2
cp "${HOST[cpsrc]}" "${HOST[cp]}" || lm_die "cp of the host file failed"
truncate -s $((VT_HEAD + 3 * VT_BOX + 2000)) "${HOST[cut]}" || lm_die "truncate failed"
truncate -s $((VT_HEAD + 3 * VT_BOX)) "${HOST[cutblk]}" || lm_die "truncate failed"
mv "${HOST[move]}" "$(dirname "${HOST[moveto]}")/" || lm_die "mv of the host entry failed"

# ---- read back --------------------------------------------------------------
vt_mount_volume "$M" "$V" acme || lm_die "cannot remount the volume"

# expect CASE EXPECTED-BLOCKS RECORDS — RECORDS: "new" (at least one new
# vault.integrity record) or "none".
expect() {
	local c=$1 want=$2 rec=$3 before after got f
	f=$M/${DIR[$c]}/${FILE[$c]}
	before=$(vt_integrity_count)
	got=$(vt_blocks "$f" "$R/$c" random)
	lm_check "$c: blocks read one by one, no read-ahead" "$want" "$got" && lm_log "$c: $got"
	got=$(vt_blocks "$f" "$R/$c")
	lm_check "$c: blocks read one by one, with read-ahead" "$want" "$got"
	after=$(vt_integrity_count)
	if [ "$rec" = new ]; then
		[ "$after" -gt "$before" ] ||
			lm_fail "$c: no new vault.integrity record in the audit log ($before before, $after after)"
	else
		lm_check "$c: vault.integrity records after reading it" "$before" "$after"
	fi
}
# expect_cat CASE — cat gives EIO after a prefix of the original (or
# nothing, when the open fails).
expect_cat() {
	local c=$1 f
	f=$M/${DIR[$c]}/${FILE[$c]}
	if lm_t 60 cat "$f" >"$T/cat.out" 2>"$T/cat.err"; then
		lm_fail "$c: cat of the whole file succeeded"
	fi
	grep -q 'Input/output error' "$T/cat.err" ||
		lm_fail "$c: cat did not fail with EIO: $(cat "$T/cat.err")"
	cmp -s "$T/cat.out" <(head -c "$(stat -c %s "$T/cat.out")" "$R/$c") ||
		lm_fail "$c: cat gave bytes that are not the file's before the failure"
}

OK7="0:ok 1:ok 2:ok 3:ok 4:ok 5:ok 6:ok"
expect ok "$OK7" none
expect flip "0:ok 1:ok 2:EIO 3:ok 4:ok 5:ok 6:ok" new
expect_cat flip
expect swap "0:ok 1:EIO 2:ok 3:EIO 4:ok 5:ok 6:ok" new
expect_cat swap
expect graft "0:ok 1:ok 2:EIO 3:ok 4:ok 5:ok 6:ok" new
expect graftsrc "$OK7" none
expect cp "open:EIO" new
expect_cat cp
expect cpsrc "$OK7" none
expect cut "0:ok 1:ok 2:ok 3:EIO 4:SHORT 5:SHORT 6:SHORT" new
expect_cat cut
expect cutblk "0:ok 1:ok 2:EIO 3:SHORT 4:SHORT 5:SHORT 6:SHORT" new
expect_cat cutblk

# The moved entry: its sealed name does not open in its new directory, so
# it is not listed there (nor anything in its place), and it is gone from
# the old one; the new directory's own files read right.
before=$(vt_integrity_count)
got=$(cd "$M/d_moveto" && ls -A 2>&1 | tr '\n' ' ')
lm_check "move: listing of the directory the entry was moved into" "f g " "$got"
after=$(vt_integrity_count)
[ "$after" -gt "$before" ] ||
	lm_fail "move: no new vault.integrity record after listing ($before before, $after after)"
got=$(cd "$M/d_move" && ls -A 2>&1 | tr '\n' ' ')
lm_check "move: listing of the directory the entry was moved from" "" "$got"
got=$(lm_py 'try_("stat", os.stat, sys.argv[1])' "$M/d_move/f")
lm_check "move: the moved file under its old name" "stat: ENOENT" "$got"
expect moveto "$OK7" none
got=$(vt_blocks "$M/d_moveto/g" "$R/ok")
lm_check "move: the other file of the directory" "$OK7" "$got"

# Nothing else changed: the whole tree lists as before, with the damaged
# files where they were.
got=$(cd "$M" && find . -path ./lamina.work -prune -o -print | LC_ALL=C sort | tr '\n' ' ')
want=$(for c in $CASES; do [ "$c" = move ] || printf './%s\n./%s/%s\n' "${DIR[$c]}" "${DIR[$c]}" "${FILE[$c]}"; done
	printf './d_move\n./d_moveto/g\n.\n')
want=$(printf '%s\n' "$want" | LC_ALL=C sort | tr '\n' ' ')
lm_check "tree after tampering" "$want" "$got"
lm_alive "$M" "after the tamper reads" || true
lm_umount "$M"

lm_log "integrity records: $(vt_integrity_count)"
"$LAMINA" --store "$VT_STORE" audit verify >"$T/out" 2>&1 ||
	lm_fail "audit verify after the integrity records: $(cat "$T/out")"

# The records name the damaged file by its plaintext path; nothing else in
# the store carries the vault's names.
"$LAMINA" --store "$VT_STORE" audit show | grep "vault.integrity" |
	grep -qF "${DIR[flip]}/${FILE[flip]}: block does not authenticate (block" ||
	lm_fail "no integrity record names ${DIR[flip]}/${FILE[flip]} and its block"
mkdir -p "$T/store-noaudit"
cp -a "$VT_STORE"/. "$T/store-noaudit"/ && rm -f "$T/store-noaudit/audit.log"
if ! scan_markers "$T/store-noaudit" "$NAMEMARK" >"$T/scan" 2>&1; then
	lm_fail "a name of the vault is in the store (outside its audit log):"
	sed 's/^/    /' "$T/scan"
fi

lm_finish
