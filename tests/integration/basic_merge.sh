#!/bin/bash
# basic_merge: lookup and readdir over two lowers and an upper.
#   - the topmost copy of a name wins (upper over l1 over l2), for files,
#     symlinks and directory metadata; directories merge; duplicates show once
#   - `.` and `..` resolve to the right directories, also at the root
#   - a 5,000-entry directory spread over three layers, read by `ls -f` and
#     by python's scandir, lists every name exactly once
#   - contents read back, and `stat` fields (type, mode, owner, size, nlink,
#     mtime, rdev) match kernel overlayfs over identical copies
#   - the same layers without upper/workdir give a read-only merge (EROFS)
#
# fuse-overlayfs 1.10 fails: ". and .. at the root" (readdir of the mount
# root has no `..` entry; kernel overlayfs lists it).
. "$(dirname "$0")/lib.sh"

S=$T/src
mkdir -p "$S"/l1/d/sub "$S"/l2/d/sub "$S"/upper/d "$S"/l2/only2dir/x "$S"/l1/big "$S"/l2/big "$S"/upper/big

# Same name in every layer: upper wins.
echo upper-a >"$S"/upper/d/a
echo l1-a >"$S"/l1/d/a
echo l2-a >"$S"/l2/d/a
# l1 over l2 only.
printf 'l1-b\n' >"$S"/l1/d/b
printf 'l2-b-longer\n' >"$S"/l2/d/b
chmod 0600 "$S"/l2/d/b
chmod 0640 "$S"/l1/d/b
chown 7:8 "$S"/l1/d/b
# One layer each.
echo only-upper >"$S"/upper/d/u_only
echo only-l1 >"$S"/l1/d/l1_only
echo only-l2 >"$S"/l2/d/l2_only
echo deep >"$S"/l2/d/sub/deep
echo sub1 >"$S"/l1/d/sub/s1
# A name that is a file below and a directory above, and the reverse.
echo file >"$S"/l2/d/kind1
mkdir "$S"/l1/d/kind1 && echo in >"$S"/l1/d/kind1/in
mkdir "$S"/l2/d/kind2 && echo hidden >"$S"/l2/d/kind2/hidden
echo file-now >"$S"/l1/d/kind2
# Symlinks, special files, odd modes and owners.
ln -s ../d/a "$S"/l1/d/link_a
ln -s target-l2 "$S"/l2/d/link_x
ln -s target-l1 "$S"/l1/d/link_x
mkfifo "$S"/l2/d/fifo
mknod "$S"/l2/d/null c 1 3
mknod "$S"/l2/d/blk b 7 200
install -m 4755 /dev/null "$S"/l2/d/setuid
chown 1234:5678 "$S"/l2/d/l2_only
mkdir -m 0700 "$S"/l2/d/private
chmod 0751 "$S"/l1/d
chown 3:4 "$S"/l1/d/sub
printf 'spaced\n' >"$S/l1/d/name with spaces"
printf 'nl\n' >"$S/l2/d/$(printf 'tab\tname')"
# Directory mtimes differ per layer so the winner is visible.
touch -d '2001-01-01 00:00:00' "$S"/l2/d "$S"/l2/d/sub
touch -d '2002-02-02 00:00:00' "$S"/l1/d/sub
touch -d '2003-03-03 00:00:00' "$S"/upper/d

# 5,000 entries: 0..4999, spread over upper, l1 and l2 with overlaps
# (each name lives in one to three layers).
"$PY" - "$S" <<'EOF'
import os, sys
s = sys.argv[1]
for i in range(5000):
    name = 'entry-%05d' % i
    layers = []
    if i % 3 == 0: layers.append('l2')
    if i % 3 == 1 or i % 37 == 0: layers.append('l1')
    if i % 3 == 2 or i % 41 == 0: layers.append('upper')
    for l in layers:
        with open(os.path.join(s, l, 'big', name), 'w') as f:
            f.write('%s %s\n' % (l, name))
EOF

# check_big MOUNT LABEL LAYERS... — big/ must list the union of LAYERS' big/.
check_big() {
	local m=$1 what=$2 n l want
	shift 2
	want=$(for l in "$@"; do ls -A "$FS/$l/big"; done | LC_ALL=C sort -u)
	n=$(cd "$m/big" && lm_t 60 ls -f | LC_ALL=C sort | uniq -d | wc -l)
	lm_check "$what: repeated names in ls -f of big/" 0 "$n"
	n=$(cd "$m/big" && lm_t 60 ls -f | wc -l)
	lm_check "$what: ls -f entries in big/ (names + . + ..)" $(($(echo "$want" | wc -l) + 2)) "$n"
	(cd "$m/big" && lm_t 60 ls -f | grep -v '^\.\.\?$' | LC_ALL=C sort) >"$T/big.got"
	echo "$want" >"$T/big.want"
	if ! cmp -s "$T/big.want" "$T/big.got"; then
		lm_fail "$what: ls -f of big/ does not list exactly the names of $* (- want, + got):"
		diff "$T/big.want" "$T/big.got" | head -n 10
	fi
	# A second reader with a different buffer size and d_type use.
	n=$(lm_py 'import os,sys
names=[e.name for e in os.scandir(sys.argv[1])]
print(len(names), len(set(names)))' "$m/big")
	l=$(echo "$want" | wc -l)
	lm_check "$what: scandir of big/ (count, distinct)" "$l $l" "$n"
}

check_basics() {
	local m=$1 what=$2
	lm_check "$what: upper wins" upper-a "$(cat "$m/d/a")"
	lm_check "$what: l1 over l2" l1-b "$(cat "$m/d/b")"
	lm_check "$what: l2-only file" only-l2 "$(cat "$m/d/l2_only")"
	lm_check "$what: file in dir merged from l2" deep "$(cat "$m/d/sub/deep")"
	lm_check "$what: file in dir merged from l1" sub1 "$(cat "$m/d/sub/s1")"
	lm_check "$what: dir above a file" in "$(cat "$m/d/kind1/in")"
	lm_check "$what: file above a dir" file-now "$(cat "$m/d/kind2")"
	lm_check "$what: symlink from the top layer" target-l1 "$(readlink "$m/d/link_x")"
	lm_check "$what: symlink resolves through the merge" upper-a "$(cat "$m/d/link_a")"
	lm_check "$what: stat of l1 over l2" "regular file 640 7 8 5 1" \
		"$(stat -c '%F %a %u %g %s %h' "$m/d/b")"
	lm_check "$what: setuid mode" 4755 "$(stat -c '%a' "$m/d/setuid")"
	lm_check "$what: char device" "character special file 1 3" "$(stat -c '%F %t %T' "$m/d/null")"
	lm_check "$what: block device" "block special file 7 c8" "$(stat -c '%F %t %T' "$m/d/blk")"
	lm_check "$what: fifo" fifo "$(stat -c '%F' "$m/d/fifo")"
	# Names listed once, `.` and `..` once each.
	local dups
	dups=$(cd "$m/d" && ls -fa | LC_ALL=C sort | uniq -d)
	lm_check "$what: duplicate names in d/" "" "$dups"
	# shellcheck disable=SC2010 # readdir itself is under test
	lm_check "$what: . and .. in d/" "2" "$(cd "$m/d" && ls -fa | grep -c '^\.\.\?$')"
	# shellcheck disable=SC2010
	lm_check "$what: . and .. at the root" "2" "$(cd "$m" && ls -fa | grep -c '^\.\.\?$')"
	# . and .. are the directories they should be.
	lm_check "$what: d/. is d" "$(stat -c %i "$m/d")" "$(stat -c %i "$m/d/.")"
	lm_check "$what: d/sub/.. is d" "$(stat -c %i "$m/d")" "$(stat -c %i "$m/d/sub/..")"
	lm_check "$what: d/.. is the root" "$(stat -c %i "$m")" "$(stat -c %i "$m/d/..")"
	lm_check "$what: pwd -P after cd d/sub/.." "$m/d" "$(cd "$m/d/sub/.." && pwd -P)"
	# Distinct files have distinct inode numbers, one st_dev for the mount.
	dups=$(find "$m" -xdev -printf '%i\n' | sort | uniq -d | head -n 3)
	lm_check "$what: repeated st_ino among distinct files" "" "$dups"
	lm_check "$what: st_dev values in the mount" 1 \
		"$(find "$m" -printf '%D\n' | sort -u | wc -l)"
	check_big "$m" "$what" upper l1 l2
}

# Everything stat shows except inode and ctime/atime, for every entry.  The
# nlink of a merged directory is left out: the kernel reports 1 ("unknown",
# which find(1) understands) where a daemon may count subdirectories.
STAT_ALL='find . -path ./big -prune -o -print0 | LC_ALL=C sort -z |
	xargs -0 stat -c "%n|%F|%a|%u|%g|%s|%t:%T|%Y"
	find . -path ./big -prune -o ! -type d -printf "%p nlink=%n\n" | LC_ALL=C sort'

lm_log "read-write merge: upper + l1 + l2"
lm_pair_mount l1:l2 upper
check_basics "$FSM" laminafs
check_basics "$KOM" kernel
lm_both "stat of every entry" "$STAT_ALL"
lm_both "ls -la --time-style=+%s of d/" 'ls -la --time-style=+%s d | sed 1d | awk "/^d/ { \$2 = \"-\" } {print \$1, \$2, \$3, \$4, \$5, \$6, \$7}"'
lm_both "content of every file" 'find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum'
lm_compare_merged "rw merge"
lm_pair_umount

lm_log "read-only merge: l1 + l2, no upper"
lm_pair_mount l1:l2
lm_check "ro: l1 over l2" l1-a "$(cat "$FSM/d/a")"
lm_both "ro: stat of every entry" "$STAT_ALL"
lm_both "ro: writes fail" 'touch d/new; echo x >> d/a; mkdir d/nd; rm d/b; true'
check_big "$FSM" "laminafs ro" l1 l2
lm_compare_merged "ro merge"

lm_log "read-only merge of a single lower"
lm_umount "$FSM"
lm_mount "$T/fs/single" "lowerdir=$FS/l2" || lm_die "single-lower mount failed"
lm_check "single lower: content" l2-a "$(cat "$T/fs/single/d/a")"
lm_check "single lower: readdir of d/" "$(cd "$FS/l2/d" && ls -a | LC_ALL=C sort)" \
	"$(cd "$T/fs/single/d" && ls -a | LC_ALL=C sort)"

lm_finish
