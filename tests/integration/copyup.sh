#!/bin/bash
# copyup: every way of modifying a lower file copies it up, completely.
# For each of: write (echo >>), truncate, chmod, chown, touch -d
# (utimens), setfattr user.x, ln (link) and mv (rename) of a lower file:
#   - the change shows in the merged view, exactly as on kernel overlayfs
#   - the lower layer is untouched (checksum of the whole lower before/after)
#   - the upper gets the file with all its parent directories, and mode,
#     owner, times and xattrs are kept (compared with the kernel's upper)
#   - opening read-only copies nothing up
#   - a sparse file stays sparse after copy-up (st_blocks of the upper copy)
#
# fuse-overlayfs 1.10 fails these checks (kernel overlayfs passes them):
#   - "merged view after copy-up", in about 2 runs of 5: after
#     `ln f_link f_link2` (copy-up by link), stat of f_link still shows
#     nlink=1 while f_link2 shows 2
#   - "mtimes in the upper" / "times after remount": copied-up parent
#     directories (deep, deep/a) get the current time instead of the lower's
#     mtime, visible in the merged view after a remount
#   - "upper deep/sparse(2) is not sparse": copy-up writes every hole
#     (64 MiB of blocks for 8 KiB of data; the kernel writes 2 MiB)
. "$(dirname "$0")/lib.sh"

S=$T/src
B=deep/a/b
mkdir -p "$S/l1/$B" "$S/l2"
FILES="f_append f_trunc f_chmod f_chown f_touch f_xattr f_link f_mv f_ro f_rw_open"
for f in $FILES; do
	printf 'content of %s\n' "$f" >"$S/l1/$B/$f"
	chmod 0640 "$S/l1/$B/$f"
	chown 123:456 "$S/l1/$B/$f"
	setfattr -n user.orig -v "lower-$f" "$S/l1/$B/$f"
	touch -d '2001-02-03 04:05:06' "$S/l1/$B/$f"
done
for d in deep deep/a "$B"; do
	chmod 0750 "$S/l1/$d"
	chown 11:22 "$S/l1/$d"
	setfattr -n user.dir -v "$d" "$S/l1/$d"
done
# Sparse files: 64 MiB with 4 KiB of data at 0 and at 32 MiB.
for f in sparse sparse2; do
	"$PY" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
os.pwrite(fd, b"A" * 4096, 0)
os.pwrite(fd, b"B" * 4096, 32 << 20)
os.ftruncate(fd, 64 << 20)
os.close(fd)' "$S/l1/deep/$f"
done
touch -d '2000-01-01 00:00:00' "$S/l1/deep/sparse" "$S/l1/deep/sparse2"
for d in deep/a "$B" deep; do touch -d '2000-01-01 00:00:00' "$S/l1/$d"; done
# l2 only exists to make this a two-lower stack.
echo l2 >"$S/l2/l2file"

lm_pair_mount l1:l2 upper
SUM_FS=$(lm_tree_sum "$FS/l1")
SUM_KO=$(lm_tree_sum "$KO/l1")

OPS="
cd $B
echo more >> f_append
truncate -s 3 f_trunc
chmod 0604 f_chmod
chown 5:6 f_chown
touch -d '2010-01-02 03:04:05' f_touch
setfattr -n user.x -v 1 f_xattr
ln f_link f_link2
mv f_mv f_mv2
cat f_ro >/dev/null
python3 -c 'open(\"f_rw_open\", \"r+\").close()'
cd /
"
lm_both "copy-up operations" "set -e; ${OPS//cd \//cd - >/dev/null}
chmod 0600 deep/sparse
echo tail >> deep/sparse2
echo done"

# Results, with times where the operation must not change them.
lm_both "merged view after copy-up" "
cd $B
cat f_append; cat f_trunc; echo
stat -c '%n %a %u %g %s %h %Y' f_chmod f_chown f_touch f_xattr f_link f_link2 f_mv2 f_ro f_rw_open
stat -c '%n %a %u %g %s' f_append f_trunc
getfattr -d --absolute-names f_* | grep -v '^#'
ls -a
cd - >/dev/null
stat -c '%n %a %u %g %Y' deep deep/a
stat -c '%n %a %u %g %s %Y' deep/sparse
stat -c '%n %a %u %g %s' deep/sparse2
getfattr -d --absolute-names deep deep/a $B | grep -v '^#'
"
lm_compare_merged "after copy-up"

# The lowers are untouched.
lm_check "laminafs: lower l1 checksum unchanged" "$SUM_FS" "$(lm_tree_sum "$FS/l1")"
lm_check "kernel: lower l1 checksum unchanged" "$SUM_KO" "$(lm_tree_sum "$KO/l1")"

# The upper: files with their parents, same metadata as the kernel's.
lm_compare_upper "after copy-up"
for f in f_append f_trunc f_chmod f_chown f_touch f_xattr f_link f_link2 f_mv2 f_rw_open; do
	[ -f "$FSU/$B/$f" ] || lm_fail "laminafs: upper lacks $B/$f"
done
[ -e "$FSU/$B/f_ro" ] && lm_fail "laminafs: read-only open copied $B/f_ro up"
lm_check "laminafs: upper/$B/f_mv is a whiteout" "character special file 0 0" \
	"$(stat -c '%F %t %T' "$FSU/$B/f_mv" 2>&1)"
for d in deep deep/a "$B"; do
	lm_check "laminafs: upper/$d mode owner xattr" "750 11 22 $d" \
		"$(stat -c '%a %u %g' "$FSU/$d") $(getfattr --absolute-names --only-values -n user.dir "$FSU/$d" 2>&1)"
done
# Times in the upper itself (an upper copy must carry them, not only the
# merged view).
UPPER_TIMES="stat -c '%n %Y' $B/f_chmod $B/f_chown $B/f_touch $B/f_xattr $B/f_link $B/f_mv2 $B/f_rw_open deep deep/a deep/sparse"
(cd "$KOU" && eval "$UPPER_TIMES") >"$T/utimes.ko" 2>&1
(cd "$FSU" && eval "$UPPER_TIMES") >"$T/utimes.fs" 2>&1
lm_diff "mtimes in the upper" "$T/utimes.ko" "$T/utimes.fs"

# Sparse files stay sparse: 8 KiB of data (+ a line) in 64 MiB must not
# become 64 MiB of blocks.  Kernel overlayfs skips holes in 1 MiB steps, so
# "roughly" means: at most twice the kernel's upper copy, plus slack.
for f in sparse sparse2; do
	ko_b=$(stat -c %b "$KOU/deep/$f")
	fs_b=$(stat -c %b "$FSU/deep/$f" 2>/dev/null || echo missing)
	lo_b=$(stat -c %b "$FS/l1/deep/$f")
	lm_log "st_blocks of deep/$f: lower $lo_b, kernel upper $ko_b, laminafs upper $fs_b;" \
		"du -k: kernel upper $(du -k "$KOU/deep/$f" | cut -f1), laminafs upper $(du -k "$FSU/deep/$f" | cut -f1)"
	if [ "$fs_b" = missing ] || [ "$fs_b" -gt $((ko_b * 2 + lo_b * 4 + 256)) ]; then
		lm_fail "laminafs: upper deep/$f is not sparse: $fs_b blocks (lower $lo_b, kernel upper $ko_b)"
	fi
done
lm_check "laminafs: sparse content" "$(cmp "$FS/l1/deep/sparse" "$FSM/deep/sparse" && echo same)" same

# After a remount the copies are read from the upper, unchanged.
lm_pair_umount
lm_mount "$FSM" "lowerdir=$FS/l1:$FS/l2,upperdir=$FSU,workdir=$FS/work" || lm_die "remount failed"
lm_kmount "$KOM" "lowerdir=$KO/l1:$KO/l2,upperdir=$KOU,workdir=$KO/work" || lm_die "kernel remount failed"
lm_compare_merged "after remount"
lm_both "times after remount" "stat -c '%n %Y' deep deep/a $B/f_chmod $B/f_touch $B/f_mv2 deep/sparse"

lm_finish
