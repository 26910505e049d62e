#!/bin/bash
# uring: the request transport.
#   - with fuse.enable_uring=Y (set for the test, restored after) the daemon
#     serves requests from io_uring queues: its rings complete commands
#     (their CqHead moves) while files are created, written, read, renamed,
#     listed and removed, and every result matches what was written;
#   - a request the handlers answer late or in pieces (large reads and
#     writes, readdir of a big directory, xattrs, a failed lookup) comes
#     back whole through the ring;
#   - with -o uring=0 the daemon opens no ring and still works;
#   - unmounting ends a daemon with busy queues.
# The rest of the suite runs on whichever transport the host has; test.sh
# runs one pass with each.
. "$(dirname "$0")/lib.sh"

PARAM=/sys/module/fuse/parameters/enable_uring
[ -w "$PARAM" ] || lm_skip "this kernel has no FUSE over io_uring ($PARAM)"
SAVED=$(cat "$PARAM")
# Keeps the exit status for lm_cleanup.
restore_param() {
	local rc=$?
	echo "$SAVED" >"$PARAM" 2>/dev/null
	return $rc
}
trap 'restore_param; lm_cleanup' EXIT
echo Y >"$PARAM"

mkdir -p "$T/l1" "$T/upper" "$T/work"
head -c 3000000 /dev/urandom >"$T/l1/big"
echo lower >"$T/l1/small"
M=$T/mnt
OPTS="lowerdir=$T/l1,upperdir=$T/upper,workdir=$T/work"

# ring_completions PID — the daemon's io_uring rings' summed completion heads.
ring_completions() {
	local pid=$1 fd sum=0 v
	for fd in /proc/"$pid"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:[io_uring]" ] || continue
		v=$(awk '/^CqHead:/ { print $2 }' /proc/"$pid"/fdinfo/"${fd##*/}" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
ring_count() {
	local fd n=0
	for fd in /proc/"$1"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:[io_uring]" ] && n=$((n + 1))
	done
	echo "$n"
}

workload() {
	local m=$1 i
	cmp "$T/l1/big" "$m/big" || lm_fail "$2: lower file reads back wrong"
	mkdir "$m/d" || lm_fail "$2: mkdir"
	for i in $(seq 1 300); do echo "file $i" >"$m/d/f$i"; done
	head -c 5000000 /dev/urandom >"$T/w.src"
	cp "$T/w.src" "$m/d/large" && cmp "$T/w.src" "$m/d/large" || lm_fail "$2: 5 MB write/read"
	lm_check "$2: directory listing" 303 "$(ls -a "$m/d" | wc -l)"
	lm_check "$2: small file" "file 150" "$(cat "$m/d/f150")"
	setfattr -n user.k -v "$(printf 'v%.0s' $(seq 1 2000))" "$m/d/f1" || lm_fail "$2: setfattr"
	lm_check "$2: xattr length" 2000 "$(getfattr --absolute-names --only-values -n user.k "$m/d/f1" | wc -c)"
	mv "$m/d/f2" "$m/d/g2" || lm_fail "$2: rename"
	lm_check "$2: renamed" "file 2" "$(cat "$m/d/g2")"
	[ ! -e "$m/d/f2" ] || lm_fail "$2: old name still there"
	echo more >>"$m/small" || lm_fail "$2: append (copy-up)"
	lm_check "$2: copied-up content" "$(printf 'lower\nmore')" "$(cat "$m/small")"
	rm -r "$m/d" || lm_fail "$2: rm -r"
	[ ! -e "$m/d" ] || lm_fail "$2: removed directory still there"
}

lm_log "io_uring queues"
lm_mount "$M" "$OPTS" || lm_die "mount failed"
pid=$(lm_daemon_pids "$M" | head -n1)
[ "$(ring_count "$pid")" -gt 0 ] || lm_fail "no io_uring ring in the daemon although enable_uring=Y"
before=$(ring_completions "$pid")
workload "$M" uring
after=$(ring_completions "$pid")
lm_log "ring completions during the workload: $((after - before))"
# Several hundred requests were made; nearly all of them must have come
# through the rings.
[ $((after - before)) -ge 300 ] || lm_fail "only $((after - before)) ring completions for ~1000 requests: requests did not use io_uring"
lm_alive "$M" "after the workload"
# Busy queues at unmount: a reader keeps requests coming.
(while cat "$M/big" >/dev/null 2>&1; do :; done) &
reader=$!
sleep 0.5
lm_umount "$M"
kill "$reader" 2>/dev/null
wait "$reader" 2>/dev/null

lm_log "uring=0"
rm -rf "$T/upper" "$T/work"
mkdir -p "$T/upper" "$T/work"
lm_mount "$M" "$OPTS,uring=0" || lm_die "mount with uring=0 failed"
pid=$(lm_daemon_pids "$M" | head -n1)
lm_check "uring=0: rings" 0 "$(ring_count "$pid")"
workload "$M" "uring=0"
lm_umount "$M"

lm_finish
