#!/bin/bash
# fdlimit: a large image tree must not need a descriptor per inode.
# A lower holds 30,000 files (30 directories of 1,000); the daemon runs with
# `ulimit -n 2048`.  Through the mount:
#   - `find` lists exactly the lower's 30,000 files
#   - `stat` of every file succeeds (the kernel then holds 30,000 inodes)
#   - `cat` of every file succeeds and gives the lower's bytes, in order
#   - after copying 3,000 of them up (touch), all of it again
#   - 1,000 files held open at once by one process read back correctly
#   - no EMFILE/ENFILE anywhere, and the daemon stays up
# The daemon's peak descriptor count is printed for information.
#
# fuse-overlayfs 1.10: passes every check here.
. "$(dirname "$0")/lib.sh"

NDIR=30
PERDIR=1000
TOTAL=$((NDIR * PERDIR))
L=$T/l1
mkdir -p "$L" "$T/upper" "$T/work"
lm_log "creating $TOTAL files"
"$PY" - "$L" "$NDIR" "$PERDIR" <<'PYEOF'
import os, sys
root, nd, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(nd):
    dd = os.path.join(root, "d%02d" % d)
    os.mkdir(dd)
    for i in range(per):
        n = "f%02d_%04d" % (d, i)
        fd = os.open(os.path.join(dd, n), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, n.encode() + b"\n")
        os.close(fd)
PYEOF
WANT_SUM=$(cd "$L" && find . -type f | LC_ALL=C sort | xargs cat | sha256sum)

M=$T/mnt
LM_MOUNT_WRAP=(bash -c 'ulimit -n 2048 && exec "$@"' fdlimit-wrap)
lm_mount "$M" "lowerdir=$L,upperdir=$T/upper,workdir=$T/work" || lm_die "mount failed"
LM_MOUNT_WRAP=()
DPID=$(lm_daemon_pids "$M" | head -n 1)
[ -n "$DPID" ] || lm_die "no daemon process found for $M"
lm_check "daemon's open-file limit" 2048 \
	"$(awk '/^Max open files/ { print $4 }' "/proc/$DPID/limits")"

PEAK=0
sample_fds() {
	local n
	n=$(ls "/proc/$DPID/fd" 2>/dev/null | wc -l)
	[ "$n" -gt "$PEAK" ] && PEAK=$n
	return 0
}

walk_all() {
	local what=$1 n
	n=$(cd "$M" && lm_t 120 find . -type f 2>"$T/find.err" | wc -l)
	lm_check "$what: files found" "$TOTAL" "$n"
	[ -s "$T/find.err" ] && lm_fail "$what: find reported errors: $(head -n 3 "$T/find.err")"
	sample_fds
	n=$(cd "$M" && find . -type f -print0 | lm_t 120 xargs -0 stat -c '%s' 2>"$T/stat.err" | wc -l)
	lm_check "$what: files stat'ed" "$TOTAL" "$n"
	[ -s "$T/stat.err" ] && lm_fail "$what: stat errors: $(head -n 3 "$T/stat.err")"
	sample_fds
	n=$(cd "$M" && find . -type f | LC_ALL=C sort | lm_t 120 xargs cat 2>"$T/cat.err" | sha256sum)
	lm_check "$what: content of every file, in order" "$WANT_SUM" "$n"
	[ -s "$T/cat.err" ] && lm_fail "$what: cat errors: $(head -n 3 "$T/cat.err")"
	sample_fds
	lm_alive "$M" "$what" || lm_finish
}

lm_log "walking the mount"
walk_all "first walk"
lm_log "copying 3,000 files up"
(cd "$M" && find . -type f -name '*7' -print0 | lm_t 120 xargs -0 touch 2>"$T/touch.err") ||
	lm_fail "touch of 3,000 files failed: $(head -n 3 "$T/touch.err")"
lm_check "files copied up" 3000 "$(find "$T/upper" -type f | wc -l)"
walk_all "walk after copy-up"

lm_log "1,000 files open at once"
out=$(cd "$M" && lm_py '
import os, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
names = ["d%02d/f%02d_%04d" % (i % 30, i % 30, i) for i in range(1000)]
fds = [os.open(n, os.O_RDONLY) for n in names]
bad = [n for n, fd in zip(names, fds) if os.read(fd, 64) != os.path.basename(n).encode() + b"\n"]
for fd in fds:
    os.close(fd)
print("bad:", len(bad))' 2>&1)
sample_fds
lm_check "1,000 open files" "bad: 0" "$out"
lm_log "daemon's peak descriptor count seen: $PEAK (limit 2048)"
lm_pid_alive "$DPID" || lm_fail "the daemon (pid $DPID) is gone"

lm_finish
