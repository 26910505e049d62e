#!/bin/bash
# cli: the command line, as people and tools call it.
#   - --version and --help exit 0 and print something
#   - mount.fuse3 finds a `laminafs` on PATH for type fuse.laminafs
#     (`mount.fuse3 overlay MNT -t fuse.laminafs -o ...`), which passes the
#     source first and adds rw/dev/suid to the options
#   - `mount -t fuse.laminafs -o lowerdir=... overlay MNT` works.  mount(8)
#     runs its helpers with a clean environment (no PATH: /bin/sh then
#     searches its default /usr/local/sbin:/usr/local/bin:/usr/sbin:...),
#     so a PATH entry cannot reach it; the check runs in a private mount
#     namespace where our bin dir is bind-mounted on /usr/local/sbin, which
#     leaves the host untouched
#   - an unknown option warns (on stderr) but mounts; empty `,,` items are
#     accepted; -o given twice is merged; a source argument before the
#     mountpoint is accepted
#   - missing lowerdir, upperdir without workdir, a lowerdir that does not
#     exist: non-zero exit, a message on stderr, nothing mounted
#
# fuse-overlayfs 1.10: passes every check here.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/l1" "$T/l2" "$T/upper" "$T/work" "$T/bin"
echo one >"$T/l1/a"
echo two >"$T/l2/b"
ln -s "$LAMINAFS" "$T/bin/laminafs"
RO="lowerdir=$T/l1:$T/l2"
RW="lowerdir=$T/l1:$T/l2,upperdir=$T/upper,workdir=$T/work"

for flag in --version --help; do
	out=$(lm_t 10 "$LAMINAFS" "$flag" </dev/null 2>&1)
	rc=$?
	lm_check "$flag exit status" 0 "$rc"
	[ -n "$out" ] || lm_fail "$flag printed nothing"
	lm_log "$flag: $(echo "$out" | head -n 1)"
done

# check_mounted MNT LABEL — mounted, merged content, then unmounted.
check_mounted() {
	if ! lm_is_fuse_mount "$1"; then
		lm_fail "$2: $1 is not mounted"
		return 1
	fi
	lm_check "$2: merged content" "one two" "$(cat "$1/a" "$1/b" 2>&1 | xargs)"
	lm_umount "$1"
}

lm_log "mount.fuse3 with laminafs on PATH"
M=$T/m1
mkdir -p "$M"
LM_MOUNTS+=("$M")
out=$(PATH="$T/bin:$PATH" lm_t 30 mount.fuse3 overlay "$M" -t fuse.laminafs -o "$RW" 2>&1 </dev/null)
lm_check "mount.fuse3 exit status" 0 "$?" || echo "$out"
check_mounted "$M" "mount.fuse3 -t fuse.laminafs"

lm_log "mount -t fuse.laminafs (private mount namespace)"
M=$T/m2
mkdir -p "$M"
out=$(lm_t 60 unshare --mount --propagation private bash -c '
	set -e
	mount --bind "$1" /usr/local/sbin
	mount -t fuse.laminafs -o "$2" overlay "$3"
	cat "$3/a" "$3/b" | xargs
	grep -F " $3 " /proc/self/mounts | cut -d" " -f3
	fusermount3 -u "$3"
	' mount-test "$T/bin" "$RO" "$M" 2>&1 </dev/null)
rc=$?
lm_check "mount -t fuse.laminafs in a private namespace" "0 one two fuse.laminafs" "$rc $(echo "$out" | grep -v 'unknown argument ignored' | xargs)"
# The daemon lived in that namespace; make sure it ended.
sleep 0.5
for p in $(lm_daemon_pids "$M"); do
	lm_fail "daemon $p of the namespaced mount still runs"
	kill "$p"
done

lm_log "option handling"
M=$T/m3
lm_mount "$M" "$RO,lamina_no_such_option=1" 2>"$T/err" ||
	lm_fail "an unknown option made the mount fail: $(cat "$T/err")"
[ -s "$T/err" ] || lm_fail "no warning on stderr for an unknown option"
lm_log "unknown option warning: $(grep -i -m1 'lamina_no_such_option' "$T/err" || head -n1 "$T/err")"
grep -q 'lamina_no_such_option' "$T/err" || lm_fail "the warning does not name the unknown option: $(cat "$T/err")"
check_mounted "$M" "unknown option"

lm_mount "$M" ",lowerdir=$T/l1:$T/l2,,upperdir=$T/upper,,workdir=$T/work," ||
	lm_fail "empty ,, items made the mount fail"
check_mounted "$M" "empty items"

LM_MOUNTS+=("$M")
lm_t 30 "$LAMINAFS" -o "lowerdir=$T/l1:$T/l2" -o "upperdir=$T/upper,workdir=$T/work" "$M" </dev/null ||
	lm_fail "-o given twice failed"
echo three >"$M/c" 2>/dev/null
lm_check "-o twice: upper in use" three "$(cat "$T/upper/c" 2>&1)"
check_mounted "$M" "-o twice"

LM_MOUNTS+=("$M")
lm_t 30 "$LAMINAFS" somesource "$M" -o "$RO" </dev/null || lm_fail "source argument before the mountpoint failed"
check_mounted "$M" "source argument"

# expect_refused LABEL OPTS — non-zero, a message, and nothing mounted.
expect_refused() {
	local rc
	mkdir -p "$T/m4"
	LM_MOUNTS+=("$T/m4")
	lm_t 30 "$LAMINAFS" -o "$2" "$T/m4" </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -ne 0 ] || lm_fail "$1: exit status 0"
	grep -v 'unknown argument ignored: lazytime' "$T/err" | grep -q . ||
		lm_fail "$1: no message on stderr"
	lm_log "$1: exit $rc: $(grep -v 'unknown argument ignored: lazytime' "$T/err" | head -n1)"
	if [ -n "$(lm_fstype_at "$T/m4")" ]; then
		lm_fail "$1: mounted anyway"
		lm_unmount_one "$T/m4"
	fi
}
expect_refused "missing lowerdir" "upperdir=$T/upper,workdir=$T/work"
expect_refused "upperdir without workdir" "lowerdir=$T/l1,upperdir=$T/upper"
expect_refused "lowerdir that does not exist" "lowerdir=$T/nonexistent:$T/l2"

lm_finish
